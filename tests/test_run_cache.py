"""benchmarks/run_cache.py: a run's upstream and teachers packed in pieces and restored in a fresh tree."""

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

spec = importlib.util.spec_from_file_location("run_cache", Path(__file__).parents[1] / "benchmarks" / "run_cache.py")
run_cache = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_cache)


def make_tree(root: Path) -> None:
    """What world_v2_scale_gpu.sh leaves: the upstream, a variant with its own teacher, one reusing it by links."""
    rng = np.random.default_rng(0)
    (root / "params.yaml").write_text(yaml.safe_dump({"data": {"preprocessed": "data/preprocessed/scannet.h5"}}))
    (root / "data" / "preprocessed").mkdir(parents=True)
    with h5py.File(root / "data" / "preprocessed" / "scannet.h5", "w") as h5:
        h5.attrs["version"] = 3
        for i, scene in enumerate(["scene0000_00", "scene0001_00"]):
            h5[f"{scene}/boxes"] = np.full((2 + i, 8), i, np.float32)
            h5[f"{scene}/box_class18"] = np.arange(2 + i)
            h5[f"{scene}/points"] = np.zeros((100, 9), np.float32)
    for rel, n in [("data/language/masked.h5", 5000), ("data/language/vocab.json", 40),
                   ("data/proposals/train.h5", 3000), ("data/proposals/val.h5", 1000),
                   ("data/synthetic/meta/synth_objects.csv", 60), ("data/synthetic/scans/big.ply", 9000)]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rng.bytes(n))  # random bytes: xz cannot shrink them, so there are several pieces
    own = root / "variants" / "own"
    for rel, n in [("models/teacher/teacher.pt", 700), ("models/teacher/last.pt", 800),
                   ("data/teacher/knowledge.h5", 900)]:
        (own / rel).parent.mkdir(parents=True, exist_ok=True)
        (own / rel).write_bytes(rng.bytes(n))
    (own / "params.yaml").write_text(yaml.safe_dump({"data": {"preprocessed": "/gone/scannet.h5"}, "teacher": {}}))
    (own / "data" / "language").symlink_to((root / "data" / "language").resolve())
    q = root / "variants" / "q"
    (q / "models").mkdir(parents=True)
    (q / "data").mkdir()
    (q / "models" / "teacher").symlink_to((own / "models" / "teacher").resolve())
    (q / "data" / "teacher").symlink_to((own / "data" / "teacher").resolve())
    (q / "params.yaml").write_text(yaml.safe_dump({"data": {"preprocessed": "/gone/scannet.h5"}}))


def test_pack_and_unpack_restore_the_files_in_pieces(tmp_path):
    src, out, fresh = tmp_path / "src", tmp_path / "pieces", tmp_path / "fresh"
    src.mkdir()
    make_tree(src)
    manifest = run_cache.pack(src, out, ["own", "q"], piece_mib=4096 / 2**20)
    assert len(manifest["pieces"]) >= 3 and all(p["bytes"] <= 4096 for p in manifest["pieces"])
    assert sorted(f.name for f in out.iterdir()) == sorted(["cache.json"] + [p["name"] for p in manifest["pieces"]])
    fresh.mkdir()
    run_cache.unpack(out, fresh)
    for rel in ["data/language/masked.h5", "data/language/vocab.json", "data/proposals/train.h5",
                "data/proposals/val.h5", "data/synthetic/meta/synth_objects.csv", "params.yaml",
                "variants/own/models/teacher/teacher.pt", "variants/own/data/teacher/knowledge.h5",
                "variants/q/models/teacher/teacher.pt", "variants/q/data/teacher/knowledge.h5"]:
        assert (fresh / rel).read_bytes() == (src / rel).read_bytes(), rel
    # what the grounding stages do not read stays behind: the scenes' points, the rest of the world's files, and
    # the teacher's resume checkpoint
    assert not (fresh / "data" / "preprocessed").exists() and not (fresh / "data" / "synthetic" / "scans").exists()
    assert not (fresh / "variants" / "own" / "models" / "teacher" / "last.pt").exists()
    with h5py.File(fresh / "boxes.h5", "r") as h5:
        assert sorted(h5) == ["scene0000_00", "scene0001_00"] and h5.attrs["version"] == 3
        assert h5["scene0001_00/boxes"].shape == (3, 8) and "points" not in h5["scene0001_00"]
        np.testing.assert_array_equal(h5["scene0001_00/box_class18"][()], np.arange(3))
    # each variant reads the boxes here and finds the data through its own links, as run_variants.py makes them
    for v in ("own", "q"):
        params = yaml.safe_load((fresh / "variants" / v / "params.yaml").read_text())
        assert params["data"]["preprocessed"] == str((fresh / "boxes.h5").resolve())
        assert (fresh / "variants" / v / "data" / "language").resolve() == (fresh / "data" / "language").resolve()
    assert (fresh / ".upstream_done").exists()


def test_pack_is_the_same_bytes_each_time(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    a = run_cache.pack(src, tmp_path / "a", ["own"], piece_mib=1.0)
    b = run_cache.pack(src, tmp_path / "b", ["own"], piece_mib=1.0)
    assert a == b and a["files"] == 10  # 7 upstream files (boxes.h5 written once) and own's 3


def test_a_damaged_or_missing_piece_is_named(tmp_path):
    src, out = tmp_path / "src", tmp_path / "pieces"
    src.mkdir()
    make_tree(src)
    manifest = run_cache.pack(src, out, ["own"], piece_mib=4096 / 2**20)
    piece = out / manifest["pieces"][1]["name"]
    data = bytearray(piece.read_bytes())
    data[10] ^= 0xFF
    piece.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match=f"{piece.name}: its sha256 differs"):
        run_cache.unpack(out, tmp_path)
    piece.unlink()
    with pytest.raises(SystemExit, match=f"{piece.name}: missing"):
        run_cache.unpack(out, tmp_path)
    with pytest.raises(SystemExit, match="cache.json: not readable"):
        run_cache.unpack(tmp_path / "nowhere", tmp_path)


def test_pack_names_what_the_tree_lacks(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(SystemExit, match="missing variants/seed1/params.yaml"):
        run_cache.pack(tmp_path, tmp_path / "out", ["own", "seed1"], piece_mib=1.0)


def test_unpack_gives_an_older_packs_params_the_keys_added_since(tmp_path, capsys):
    """A pack made before a param existed: its params (the upstream's and each variant's) gain the key with this
    tree's default, and keep every value they had; the schema would refuse them otherwise."""
    out = tmp_path / "pack"
    (tmp_path / "old").mkdir()
    make_tree(tmp_path / "old")
    run_cache.pack(tmp_path / "old", out, ["own"], piece_mib=1.0)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "params.yaml").write_text(yaml.safe_dump({
        "data": {"preprocessed": "x.h5", "scans": "data/synthetic/scans"},
        "teacher": {"epochs": 20, "departures": {"anchor_decoder": False}}}))
    run_cache.unpack(out, fresh)
    root = yaml.safe_load((fresh / "params.yaml").read_text())
    assert root["data"] == {"preprocessed": "data/preprocessed/scannet.h5", "scans": "data/synthetic/scans"}
    assert root["teacher"] == {"epochs": 20, "departures": {"anchor_decoder": False}}
    own = yaml.safe_load((fresh / "variants" / "own" / "params.yaml").read_text())
    assert own["teacher"] == {"epochs": 20, "departures": {"anchor_decoder": False}}   # the pack's {} gained both
    assert own["data"]["preprocessed"] == str((fresh / "boxes.h5").resolve())
    said = capsys.readouterr().out   # the highest key each params lacked: the root had no teacher section at all
    assert "data.scans" in said and "teacher.departures" in said and "teacher.epochs" in said
