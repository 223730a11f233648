"""dvc.yaml / params.yaml / Snakefile wiring, run for real in throwaway clones (tiny params)."""

import sys

import yaml
from conftest import REPO, copy_clone, make_clone, run, tiny_params

from ws3dvg.engine.workflow import load_stages


def test_snakefile_rules_come_from_dvc_yaml():
    stages = load_stages(REPO / "dvc.yaml")
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(spec)
    pre = stages["preprocess"]
    assert "data/synthetic" in pre["inputs"] and "data/synthetic/scans" in pre["deps"]
    assert "runtime" not in pre["params"] and "preprocess" in pre["params"]  # runtime knobs rerun nothing
    assert "${" not in pre["cmd"] + "".join(pre["deps"] + pre["outs"])


def test_stage_resources_from_params():
    from ws3dvg.engine.workflow import RESOURCE_DEFAULTS, stage_resources

    params = {"runtime": {"resources": {"default": {"threads": 2, "mem_mb": 8000},
                                        "train_detector": {"gpus": 1, "runtime": 1440}}}}
    assert stage_resources(params, "train_detector") == {"threads": 2, "mem_mb": 8000, "runtime": 1440, "gpus": 1}
    assert stage_resources(params, "preprocess") == dict(RESOURCE_DEFAULTS, threads=2, mem_mb=8000)
    assert stage_resources({}, "evaluate") == RESOURCE_DEFAULTS
    stages = load_stages(REPO / "dvc.yaml")
    assert stages["train_detector"]["resources"]["gpus"] == 1 and stages["synthesize"]["resources"]["gpus"] == 0


def test_slurm_profile_dry_run_shows_the_resources(tmp_path):
    """`snakemake -n --profile profiles/slurm`: one SLURM job per stage, sized by runtime.resources."""
    import pytest

    pytest.importorskip("snakemake_executor_plugin_slurm")
    clone = make_clone(tmp_path, tiny_params())
    out = run(["snakemake", "-n", "--profile", "profiles/slurm", "evaluate"], clone)
    res = yaml.safe_load((REPO / "params.yaml").read_text())["runtime"]["resources"]["train_detector"]
    block = out[out.index("rule train_detector:"):]
    line = next(x for x in block.splitlines() if "resources:" in x)
    assert f"runtime={res['runtime']}" in line and f"gpu={res['gpus']}" in line and f"mem_mb={res['mem_mb']}" in line


def test_dvc_repro_reruns_only_what_changed(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage 'synthesize'" in out and "Running stage 'preprocess'" in out
    assert (clone / "data" / "preprocessed" / "scannet.h5").exists()
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage" not in out
    # bytecode that importing the package leaves in src/ (its bytes hold the source's mtime and the Python version)
    # is no change: otherwise a checkout, a test run or another Python would rerun every stage
    for d in ("src/ws3dvg/engine", "src/ws3dvg/scannet"):
        (clone / d / "__pycache__").mkdir(exist_ok=True)
        (clone / d / "__pycache__" / "atomic.cpython-399.pyc").write_bytes(b"\x00bytecode")
    (clone / "src" / "ws3dvg.egg-info").mkdir(exist_ok=True)
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage" not in out
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["preprocess"]["missing_axis_alignment"] = "identity"
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage 'preprocess'" in out and "Running stage 'synthesize'" not in out


def test_snakemake_agrees(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    run(["snakemake", "--cores", "2", "preprocess"], clone)
    assert (clone / "data" / "preprocessed" / "scannet.h5").exists()
    assert "Nothing to be done" in run(["snakemake", "-n", "--cores", "2", "preprocess"], clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["preprocess"]["missing_axis_alignment"] = "identity"
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["snakemake", "-n", "--cores", "2", "preprocess"], clone)
    assert "rule preprocess:" in out and "rule synthesize:" not in out


def test_language_params_rerun_only_masking(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    run(["dvc", "repro", "mask_keywords"], clone)
    assert (clone / "metrics" / "language.json").exists()
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["language"]["max_len"] = 12
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro", "mask_keywords"], clone)
    assert "Running stage 'mask_keywords'" in out
    assert "Running stage 'synthesize'" not in out and "Running stage 'preprocess'" not in out


def _tiny_everything():
    from conftest import TINY_GROUNDING
    from test_detection import TINY_DETECTOR

    det = {k: v for k, v in TINY_DETECTOR.items()}
    det.update(epochs=2, eval_every=1)
    teacher = dict(TINY_GROUNDING, eval_every=1)
    distill = {k: teacher[k] for k in ("word_dropout", "lang_num_max", "batch_size", "epochs", "lr", "weight_decay",
                                       "amp")}
    distill.update(supervision="weak", reference_full=True, init_from_teacher=True, lang_cls_weight=1.0)
    return tiny_params({"detector": det, "teacher": teacher, "distill": distill, "evaluate": {"visualize": 1}})


def test_end_to_end_repro_metrics_diff_and_cli(tmp_path, reproduced_everything):
    import json
    import subprocess

    clone = copy_clone(reproduced_everything, tmp_path / "repo")  # after `dvc repro` of every stage
    table = json.loads((clone / "metrics" / "eval.json").read_text())
    for row in ("student", "student_full_supervision", "teacher_fine", "coarse", "random", "random_class",
                "upper_bound"):
        for subset in ("unique", "multiple", "overall"):
            assert set(table[row][subset]) >= {"acc@0.25", "acc@0.5"}, (row, subset)
    assert table["upper_bound"]["overall"]["acc@0.5"] == 1.0  # gt-mode proposals contain every target
    preds = json.loads((clone / "data" / "eval" / "predictions.json").read_text())
    assert preds and {"scene_id", "pred_box", "gt_box", "iou"} <= set(preds[0])
    assert list((clone / "data" / "eval" / "views").glob("*.ply")) and list((clone / "data" / "eval" / "views").glob("*.png"))
    for f in ("metrics/detector.json", "metrics/teacher.json", "metrics/teacher_train/plots/metrics/train/mil.tsv"):
        assert (clone / f).exists(), f
    import torch

    teacher = torch.load(clone / "models/teacher/teacher.pt", weights_only=False)["config"]
    student = torch.load(clone / "models/student/student.pt", weights_only=False)["config"]
    # the recipe travels in the checkpoints, the raw switches do not; the student's architecture is the teacher's
    assert student["recipe"] == teacher["recipe"] and "departures" not in teacher and "variant" not in student
    assert all(student[k] == teacher[k] for k in ("hidden", "embedding_dim", "word_vectors", "use_multiview"))
    run(["git", "add", "-A"], clone)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"], clone)

    lock = (clone / "dvc.lock").read_text()
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["distill"]["lr"] = 0.01
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], clone)
    assert "Running stage 'distill'" in out and "Running stage 'train_teacher'" not in out
    teacher_lock = lambda text: yaml.safe_load(text)["stages"]["train_teacher"]["outs"]  # noqa: E731
    assert teacher_lock((clone / "dvc.lock").read_text()) == teacher_lock(lock)
    diff = run(["dvc", "metrics", "diff", "--json"], clone)
    changed = json.loads(diff)
    # the student's side changed and the teacher's did not (on this tiny val set its accuracy may tie)
    assert any(f.startswith("metrics/distill_train") for f in changed), diff
    assert not any("teacher" in f for f in changed), diff

    scene = preds[0]["scene_id"]
    res = subprocess.run(["ws3dvg", "ground", "--scene", scene, "--text", "the chair next to the table",
                          "--out", str(tmp_path / "cli")], cwd=clone, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "box centre" in res.stdout and "(a " in res.stdout  # the chosen proposal's class is named
    from ws3dvg.scannet.io import read_mesh

    ply = next((tmp_path / "cli").glob("*.ply"))
    assert len(read_mesh(ply).faces) == 144  # one wireframe box: 12 bars x 12 triangles
    bad = subprocess.run(["ws3dvg", "ground", "--scene", "scene9999_00", "--text", "a chair"], cwd=clone,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown scene 'scene9999_00'" in bad.stderr
    # a bad params value: the stage prints the one line that matters, no traceback
    params["teacher"]["topk"] = 0
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    res = subprocess.run([sys.executable, "-m", "stages.train_teacher"], cwd=clone, capture_output=True, text=True)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("train_teacher: error: params.yaml: teacher.topk"), res.stderr
