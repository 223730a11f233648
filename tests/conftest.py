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
    from ws3dvg.labels import LabelMap
    from ws3dvg.preprocess import preprocess_scenes
    from ws3dvg.scannet_io import read_split

    splits = {s: read_split(tiny_synth / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    out = tmp_path_factory.mktemp("pre") / "scannet.h5"
    preprocess_scenes(tiny_synth / "scans", splits, LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv"),
                      out, workers=1)
    return out


def tiny_params(overrides: dict | None = None) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synth"].update(TINY_SYNTH)
    params["preprocess"]["workers"] = 1
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


def run(cmd: list[str], cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr
