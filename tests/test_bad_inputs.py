"""Each malformed input gives an error naming scene, file and problem, and leaves no artifact."""

import json
import shutil

import pytest

from ws3dvg.engine.errors import DataError
from ws3dvg.scannet.io import read_split
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import preprocess_scenes

SCENE = "scene0001_00"


def _truncate_ply(d):
    p = d / f"{SCENE}_vh_clean_2.ply"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _segs_mismatch(d):
    p = d / f"{SCENE}_vh_clean_2.0.010000.segs.json"
    data = json.loads(p.read_text())
    data["segIndices"] = data["segIndices"][:-3]
    p.write_text(json.dumps(data))


def _absent_segment(d):
    p = d / f"{SCENE}.aggregation.json"
    data = json.loads(p.read_text())
    data["segGroups"][2]["segments"].append(999999999)
    p.write_text(json.dumps(data))


def _unknown_label(d):
    p = d / f"{SCENE}.aggregation.json"
    data = json.loads(p.read_text())
    data["segGroups"][3]["label"] = "flux capacitor"
    p.write_text(json.dumps(data))


def _no_axis_alignment(d):
    p = d / f"{SCENE}.txt"
    p.write_text("\n".join(l for l in p.read_text().splitlines() if not l.startswith("axisAlignment")) + "\n")


def _broken_json(d):
    p = d / f"{SCENE}.aggregation.json"
    p.write_text(p.read_text()[:100])


@pytest.mark.parametrize("breaker, file_part, problem", [
    (_truncate_ply, "_vh_clean_2.ply", "truncated"),
    (_segs_mismatch, "segs.json", "segment indices but the mesh"),
    (_absent_segment, "aggregation.json", "absent from"),
    (_unknown_label, "aggregation.json", "(objectId 3) label 'flux capacitor' is not in the label table"),
    (_no_axis_alignment, f"{SCENE}.txt", "axisAlignment"),
    (_broken_json, "aggregation.json", "malformed JSON"),
])
@pytest.mark.parametrize("workers", [1, 2])
def test_bad_input_clear_error_and_no_artifact(tiny_synth, tmp_path, breaker, file_part, problem, workers):
    root = tmp_path / "synthetic"
    shutil.copytree(tiny_synth / "scans", root / "scans")
    breaker(root / "scans" / SCENE)
    splits = {s: read_split(tiny_synth / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    out = tmp_path / "out" / "scannet.h5"
    out.parent.mkdir()
    out.write_bytes(b"last good artifact")
    with pytest.raises(DataError) as err:  # strict: an unknown label stops too (a bad file always does)
        preprocess_scenes(root / "scans", splits, labels, out, workers=workers, strict=True)
    msg = str(err.value)
    assert SCENE in msg and file_part in msg and problem in msg, msg
    assert out.read_bytes() == b"last good artifact"
    assert [p.name for p in out.parent.iterdir()] == ["scannet.h5"]  # no temporary left behind


@pytest.mark.parametrize("workers", [1, 2])
def test_unknown_label_skips_the_object_not_the_stage(tiny_synth, tmp_path, caplog, workers):
    root = tmp_path / "scans"
    shutil.copytree(tiny_synth / "scans", root)
    _unknown_label(root / SCENE)
    splits = {s: read_split(tiny_synth / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    with caplog.at_level("WARNING"):
        stats = preprocess_scenes(root, splits, labels, tmp_path / "o.h5", workers=workers)
    assert stats["scenes"] == 3 and stats["skipped_objects"] == 1
    assert stats["skipped"] == {SCENE: ["objectId 3 label 'flux capacitor'"]}
    assert f"scene {SCENE}: skipped 1 object(s)" in caplog.text and "flux capacitor" in caplog.text
    from ws3dvg.scannet.preprocess import read_scene

    scene = read_scene(tmp_path / "o.h5", SCENE)
    assert 4 not in scene["instance"] and 4 not in scene["boxes"][:, 7]  # objectId 3 = instance 4: unannotated


def test_label_spellings_resolve(tmp_path):
    p = tmp_path / "labels.tsv"
    p.write_text("id\traw_category\tnyu40id\n56\ttrash can\t39\n323\tdish rack\t40\n12\tcoatrack\t39\n"
                 "13\tcoat rack\t40\n")
    labels = LabelMap.read(p)
    assert labels.resolve("trash can") == "trash can"
    assert labels.resolve("trashcan") == labels.resolve("Trash_Can") == "trash can"
    assert labels.resolve("dishrack") == "dish rack"
    assert labels.resolve("coat rack") == "coat rack"  # an exact match wins over a shared spelling
    assert labels.resolve("coat-rack") == "coatrack"   # else the table's first row of that spelling
    assert labels.resolve("flux capacitor") is None
    assert labels.class18_of_name("trashcan") == labels.class18_of_name("flux") == 17  # ScanRefer: exact only
    v1 = tmp_path / "v1.tsv"  # ScanNet v1's table names the raw label column "category"
    v1.write_text("id\tcategory\tcount\tnyuId\tnyu40id\n12\ttrashcan\t688\t12\t39\n")
    assert LabelMap.read(v1).nyu40("trashcan") == 39


def test_missing_axis_alignment_identity_option(tiny_synth, tmp_path):
    root = tmp_path / "scans"
    shutil.copytree(tiny_synth / "scans" / SCENE, root / SCENE)
    _no_axis_alignment(root / SCENE)
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    stats = preprocess_scenes(root, {"train": [SCENE]}, labels, tmp_path / "o.h5", missing_axis_alignment="identity")
    assert stats["scenes"] == 1


def test_missing_scan_folder(tiny_synth, tmp_path):
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    with pytest.raises(DataError, match="scene0999_00.*scan folder not found"):
        preprocess_scenes(tiny_synth / "scans", {"train": ["scene0999_00"]}, labels, tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()


def test_bad_label_table(tmp_path):
    p = tmp_path / "labels.tsv"
    p.write_text("id\traw_category\tnyu40id\n1\twall\tone\n")
    with pytest.raises(DataError, match="labels.tsv: line 2: nyu40id 'one' is not an integer"):
        LabelMap.read(p)
    p.write_text("id\tname\n1\twall\n")
    with pytest.raises(DataError, match="lacks column"):
        LabelMap.read(p)


def _dvc_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text("data: {}\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  preprocess:\n    cmd: python -m stages.preprocess\n    outs: [data/preprocessed/scannet.h5]\n"
        "  synthesize:\n    cmd: python -m stages.synthesize\n    outs: [data/synthetic]\n")
    return tmp_path / "dvc.yaml"


def test_a_missing_input_names_the_file_and_the_stage_that_writes_it(tmp_path):
    from ws3dvg.engine.config import missing_input

    dvc_yaml = _dvc_yaml(tmp_path)
    # open() names the file in `filename`; h5py only in its message
    plain = FileNotFoundError(2, "No such file or directory", "data/preprocessed/scannet.h5")
    h5 = FileNotFoundError(2, "Unable to synchronously open file (unable to open file: name = "
                              "'data/synthetic/scans/scene0001_00/x.ply', errno = 2, flags = 0)")
    assert missing_input(plain, dvc_yaml) == ("data/preprocessed/scannet.h5: not found; stage 'preprocess' writes "
                                              "it (dvc repro preprocess, or python -m stages.preprocess first)")
    assert missing_input(h5, dvc_yaml).startswith(  # a file inside a stage's output folder
        "data/synthetic/scans/scene0001_00/x.ply: not found; stage 'synthesize' writes it")
    # a file no stage writes (the user's own data), or no dvc.yaml to ask: the path alone
    assert missing_input(FileNotFoundError(2, "gone", "/data/scannet/x.ply"), dvc_yaml) == "/data/scannet/x.ply: not found"
    assert missing_input(plain, tmp_path / "absent.yaml") == "data/preprocessed/scannet.h5: not found"
    assert missing_input(FileNotFoundError("no name at all")) == "no name at all"


def test_a_stage_with_a_missing_input_prints_one_line_and_exits_1(tmp_path, monkeypatch, capsys):
    from ws3dvg.engine.config import run_stage

    monkeypatch.chdir(_dvc_yaml(tmp_path).parent)
    monkeypatch.setattr("sys.argv", ["stages/mask_keywords.py"])

    def main():
        open("data/preprocessed/scannet.h5")

    with pytest.raises(SystemExit) as stop:
        run_stage(main)
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == ("mask_keywords: error: data/preprocessed/scannet.h5: not found; stage "
                                               "'preprocess' writes it (dvc repro preprocess, or python -m "
                                               "stages.preprocess first)")
    monkeypatch.setenv("WS3DVG_TRACEBACK", "1")  # the traceback on request
    with pytest.raises(FileNotFoundError):
        run_stage(main)
