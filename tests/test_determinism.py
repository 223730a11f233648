"""Same params, same bytes: every stage rerun in a new process, under another PYTHONHASHSEED and other
worker counts, reproduces its artifacts, so DVC finds nothing to rerun downstream."""

import hashlib
import json
import os
import shutil
import subprocess

import yaml
from conftest import copy_clone, make_clone, run
from test_pipeline import _tiny_everything

DATA_STAGES = ("synthesize", "preprocess", "mask_keywords", "project_multiview", "cache_detector", "evaluate")


def _run_env(cmd, cwd, hashseed):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED=str(hashseed)))
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_data_stages_byte_identical_across_processes(tmp_path):
    """synthesize / preprocess / mask_keywords twice, in new processes with other hash seeds and worker counts."""
    digests = []
    for hashseed, workers in ((1, 1), (2, 2)):
        params = _tiny_everything()
        params["runtime"]["workers"] = workers
        clone = make_clone(tmp_path / f"run{hashseed}", params)
        _run_env(["python", "-m", "stages.synthesize", "data/synthetic"], clone, hashseed)
        for stage in ("preprocess", "mask_keywords"):
            _run_env(["python", "-m", f"stages.{stage}"], clone, hashseed)
        digests.append({**_digest(clone / "data"), **_digest(clone / "metrics")})
    assert len(digests[0]) > 30
    assert digests[0] == digests[1], {k for k in digests[0] if digests[0][k] != digests[1].get(k)}


def test_forced_reruns_leave_dvc_status_clean(tmp_path, reproduced_everything):
    clone = copy_clone(reproduced_everything, tmp_path / "repo")  # `dvc repro` under PYTHONHASHSEED 1
    assert "up to date" in run(["dvc", "status"], clone)          # the copy is a whole DVC repo
    metrics = _digest(clone / "metrics")
    # runtime knobs are no stage's params: changing them reruns nothing
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["runtime"].update(workers=2, loader_workers=1, step="eager")
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "up to date" in run(["dvc", "status"], clone)
    for i, stage in enumerate(DATA_STAGES):
        out = _run_env(["dvc", "repro", "-f", "-s", stage], clone, 100 + i)
        assert f"Running stage '{stage}'" in out
        status = run(["dvc", "status"], clone)
        assert "up to date" in status, f"after rerunning {stage}:\n{status}"
    # a training stage from scratch in a new process: same weights, same knowledge, same metrics (CPU)
    shutil.rmtree(clone / "models" / "teacher")
    out = _run_env(["dvc", "repro", "-f", "-s", "train_teacher"], clone, 7)
    assert "Running stage 'train_teacher'" in out
    status = json.loads(run(["dvc", "status", "--json"], clone))
    assert status == {}, status
    assert _digest(clone / "metrics") == metrics
