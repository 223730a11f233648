import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
REAL_LABEL_TABLE = REPO.parent / "shared" / "data" / "scannet-meta" / "scannetv2-labels.combined.tsv"

TINY_SYNTH = {
    "n_scenes": 3, "val_fraction": 0.34, "room_size": [5.0, 7.0], "objects_per_room": [7, 9],
    "multiple_classes_per_room": [2, 2], "copies_per_multiple_class": [2, 3], "small_items_per_room": [1, 2],
    "mesh_resolution": 0.15, "descriptions_per_object": 2, "relation_share": 0.7, "frames_per_scene": 2,
    "image_size": [40, 30],
}


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A 3-scene synthetic ScanNet shared by the tests that only read it."""
    from ws3dvg.synth.world import synthesize

    root = tmp_path_factory.mktemp("synth") / "synthetic"
    synthesize(root, TINY_SYNTH, seed=7)
    return root


@pytest.fixture(scope="session")
def tiny_h5(tiny_synth, tmp_path_factory) -> Path:
    from ws3dvg.scannet.io import read_split
    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.scannet.preprocess import preprocess_scenes

    splits = {s: read_split(tiny_synth / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    out = tmp_path_factory.mktemp("pre") / "scannet.h5"
    preprocess_scenes(tiny_synth / "scans", splits, LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv"),
                      out, workers=1)
    return out


def tiny_params(overrides: dict | None = None) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synth"].update(TINY_SYNTH)
    params["runtime"]["workers"] = 1
    for section, values in (overrides or {}).items():
        params[section].update(values)
    return params


def make_clone(dest: Path, params: dict) -> Path:
    """A throwaway git repo holding the project's tracked files (and this checkout's edits)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file() and not f.startswith(("data/", "models/", "metrics/")) and f != "dvc.lock":
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def reproduced_everything(tmp_path_factory) -> Path:
    """One `dvc repro` of every stage at the tiny size, shared: a test that changes it works on `copy_clone` of it.
    PYTHONHASHSEED is fixed so that the determinism test's reruns under other seeds are a real change."""
    import os

    from test_pipeline import _tiny_everything

    clone = make_clone(tmp_path_factory.mktemp("reproduced") / "repo", _tiny_everything())
    res = subprocess.run(["dvc", "repro"], cwd=clone, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONHASHSEED="1"))
    assert res.returncode == 0, f"dvc repro failed:\n{res.stdout}\n{res.stderr}"
    return clone


def copy_clone(src: Path, dest: Path) -> Path:
    """A copy of a clone, its git history, DVC cache and lock included (DVC rehashes it: its state is per path)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def run(cmd: list[str], cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


# the params.yaml teacher at a tiny size (hidden 32, K 4)
TINY_GROUNDING = dict(yaml.safe_load((REPO / "params.yaml").read_text())["teacher"], hidden=32, embedding_dim=16,
                      topk=4, all_candidates_epochs=1, lang_num_max=4, batch_size=2, epochs=2, lr=0.001,
                      eval_every=0, amp=False)


@pytest.fixture(scope="session")
def tiny_grounding(tiny_synth, tiny_h5, tmp_path_factory) -> dict:
    """Language table and a gt-mode proposal cache for the tiny synthetic set (untrained tiny detector)."""
    import pandas as pd
    import torch
    from test_detection import TINY_DETECTOR

    from ws3dvg.detection.cache import write_cache
    from ws3dvg.detection.data import SceneSet, feature_dim
    from ws3dvg.models.detector import build_detector
    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.scannet.preprocess import read_splits
    from ws3dvg.text.annotations import build_table, read_scanrefer, scene_classes_from_h5
    from ws3dvg.text.masking import mask_table, write_masked
    from ws3dvg.text.tagger import RuleTagger

    root = tmp_path_factory.mktemp("grounding")
    labels = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    raw = pd.concat([read_scanrefer(tiny_synth / "scanrefer" / f"ScanRefer_filtered_{s}.json", s) for s in ("train", "val")])
    table, _ = build_table(raw, scene_classes_from_h5(tiny_h5), labels)
    arrays, vocab, _ = mask_table(table, RuleTagger(labels.table["raw_category"]), 1, 30, True)
    (root / "language").mkdir()
    write_masked(root / "language" / "masked.h5", arrays, {"max_len": 30})
    vocab.save(root / "language" / "vocab.json")
    torch.manual_seed(0)
    model = build_detector(TINY_DETECTOR, feature_dim(TINY_DETECTOR["input_features"])).eval()
    for split, scenes in read_splits(tiny_h5).items():
        ds = SceneSet(tiny_h5, scenes, TINY_DETECTOR["num_points"], TINY_DETECTOR["input_features"])
        write_cache(model, ds, TINY_DETECTOR, "gt", str(root / f"{split}.h5"), torch.device("cpu"))
    return {"masked": str(root / "language" / "masked.h5"), "language_dir": str(root / "language"),
            "proposals_train": str(root / "train.h5"), "proposals_val": str(root / "val.h5"),
            "preprocessed": str(tiny_h5), "multiview": None, "root": root}


def no_dropout(model):
    """Every dropout of a grounding model off (modules and the decoder's functional dropout), in place."""
    import torch

    from ws3dvg.models.grounding import DecoderLayer

    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(m, DecoderLayer):
            m.dropout = 0.0
    return model
