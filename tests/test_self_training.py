"""Cross-fitted self-training (ws3dvg.grounding.self_training, distill.self_training_rounds): folds by scene,
held-out rows left out of the loss, the product checked by hand, off in the paper's recipe, and tiny end-to-end runs:
the distill stage with one round, in one process and under torchrun, and benchmarks/cross_fit.py with its report."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import yaml
from conftest import copy_clone

from ws3dvg.engine.errors import ParamsError
from ws3dvg.grounding import self_training as cross_fit

ROOT = Path(__file__).resolve().parents[1]
INF = np.inf


def test_folds_split_by_scene_and_follow_the_seed():
    scenes = np.array(["s2", "s0", "s1", "s0", "s3", "s2", "s1"])
    fold = cross_fit.scene_folds(scenes, 2, seed=0)
    for s in set(scenes):  # every row of a scene in one fold
        assert len(set(fold[scenes == s])) == 1
    assert sorted(np.bincount([fold[scenes == s][0] for s in sorted(set(scenes))])) == [2, 2]  # dealt out in turn
    np.testing.assert_array_equal(fold, cross_fit.scene_folds(scenes[::-1], 2, seed=0)[::-1])  # by scene, not row
    with pytest.raises(ParamsError, match="cannot make 5 folds"):
        cross_fit.scene_folds(scenes, 5, seed=0)
    with pytest.raises(ParamsError, match="at least 2"):
        cross_fit.scene_folds(scenes, 1, seed=0)


def test_rows_left_out_do_not_reach_the_distillation_loss():
    from ws3dvg.grounding.losses import student_distillation
    from ws3dvg.grounding.recipe import Recipe

    know = {"valid": np.array([[1, 1, 0], [1, 1, 1]], bool)}
    drop = cross_fit.without_rows(know, np.array([False, True]))["valid"]
    assert drop.tolist() == [[True, True, False], [False, False, False]]
    loss = student_distillation(Recipe.from_dict({"hard_distillation": True}), posterior=True, posterior_weight=0.5)
    cand = torch.tensor([[[0, 1, 2], [1, 2, 3]]])
    recon = torch.tensor([[[1.0, 2.0, INF], [0.5, 1.0, 2.0]]])
    valid, sm, words = torch.from_numpy(drop)[None], torch.ones(1, 2, dtype=torch.bool), torch.tensor([[2, 3]])
    scores = torch.randn(1, 2, 5)
    other = scores.clone()
    other[0, 1] = torch.randn(5) * 10  # what the student says of the dropped row changes nothing
    first = loss(scores, cand, recon, valid, sm, words=words)
    assert torch.allclose(first, loss(other, cand, recon, valid, sm, words=words))
    alone = loss(scores[:, :1], cand[:, :1], recon[:, :1], valid[:, :1], sm[:, :1], words=words[:, :1])
    assert torch.allclose(first, alone)


def test_candidate_log_posterior_is_over_the_valid_candidates_only():
    scores = torch.tensor([[0.0, 1.0, 2.0, 9.0]])
    cand = torch.tensor([[2, 0, 3]])
    valid = torch.tensor([[True, True, False]])
    out = cross_fit.candidate_log_posterior(scores, cand, valid)
    z = np.log(np.exp(2.0) + np.exp(0.0))
    np.testing.assert_allclose(out[0, :2].numpy(), [2.0 - z, 0.0 - z], rtol=1e-6)
    assert out[0, 2] == -INF
    none = cross_fit.candidate_log_posterior(scores, cand, torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isneginf(none).all()


def test_the_product_by_hand():
    know = {"candidates": np.array([[3, 5, 7], [1, 2, 0], [4, 6, 8]]),
            "recon_loss": np.array([[1.0, 1.2, INF], [0.2, 0.4, INF], [3.0, 1.0, 2.0]], np.float32),
            "valid": np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1]], bool)}
    log_q = np.array([[np.log(0.1), np.log(0.9), -INF], [-INF, -INF, -INF],
                      [np.log(0.5), np.log(0.25), np.log(0.25)]], np.float32)
    words = np.array([2, 1, 0])
    out = cross_fit.product(know, log_q, words, 1.0)["recon_loss"]
    # row 0, n = 2: 1.0 - ln(0.1) / 2 = 2.151, 1.2 - ln(0.9) / 2 = 1.253: the student turns the teacher's pick
    np.testing.assert_allclose(out[0, :2], [1.0 + np.log(10) / 2, 1.2 - np.log(0.9) / 2], rtol=1e-6)
    assert out[0, 2] == INF
    np.testing.assert_array_equal(out[1], know["recon_loss"][1])  # no student scored it: the teacher's
    np.testing.assert_allclose(out[2], [3.0 + np.log(2), 1.0 + np.log(4), 2.0 + np.log(4)], rtol=1e-6)  # n = 1
    same = cross_fit.product(know, log_q, words, 0.0)["recon_loss"]
    np.testing.assert_array_equal(same, know["recon_loss"])  # weight 0: the teacher alone
    # the posterior is the product of the teacher's and the student's: softmax(-n r') = p q / sum(p q)
    p = np.exp(-2 * know["recon_loss"][0, :2]) / np.exp(-2 * know["recon_loss"][0, :2]).sum()
    post = np.exp(-2 * out[0, :2]) / np.exp(-2 * out[0, :2]).sum()
    np.testing.assert_allclose(post, p * [0.1, 0.9] / (p * [0.1, 0.9]).sum(), rtol=1e-5)


def test_the_paper_recipe_and_the_joint_head_never_self_train():
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import student_config

    arch = {"hidden": 8, "embedding_dim": 4, "word_vectors": None, "use_multiview": False}
    cfg = {"self_training_rounds": 2, "self_training_folds": 2}
    paper = student_config(cfg, "weak", dict(arch, recipe=Recipe().to_dict()))
    assert not paper["self_training_rounds"]
    ours = student_config(cfg, "weak", dict(arch, recipe=Recipe(staged_distillation=True).to_dict()))
    assert ours["self_training_rounds"] == 2


ENV = {"PYTHONPATH": str(ROOT / "src"), "TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"}


def test_distill_with_a_round_of_self_training_end_to_end(tmp_path, reproduced_everything):
    from ws3dvg.grounding.teacher import read_knowledge

    clone = copy_clone(reproduced_everything, tmp_path / "repo")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["distill"].update(self_training_rounds=1, self_training_folds=2, reference_full=False)
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(ENV, PYTHONPATH=f"{clone}:{ROOT / 'src'}")
    res = subprocess.run([sys.executable, "-m", "stages.distill"], cwd=clone, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "self-training round 1/1" in res.stdout + res.stderr
    work = clone / "models" / "student" / "self_training"
    report = json.loads((work / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1] and report["folds"] == 2
    teacher = {s: read_knowledge(str(clone / "data" / "teacher" / "knowledge.h5"), s) for s in ("train", "val")}
    new = {s: read_knowledge(str(work / "round1" / "knowledge.h5"), s) for s in ("train", "val")}
    for k in teacher["val"]:
        np.testing.assert_array_equal(new["val"][k], teacher["val"][k])  # val as the teacher wrote it
    for k in ("candidates", "valid", "coarse", "pred_class"):
        np.testing.assert_array_equal(new["train"][k], teacher["train"][k])
    several = teacher["train"]["valid"].sum(1) >= 2
    assert not np.array_equal(new["train"]["recon_loss"][several], teacher["train"]["recon_loss"][several])
    assert (clone / "models" / "student" / "student.pt").exists()
    # rerun as it is: the held-out students and the round's knowledge are resumed, not rewritten
    dates = {p: p.stat().st_mtime_ns for p in sorted(work.rglob("*")) if p.name in ("knowledge.h5", "last.pt")}
    assert any(p.name == "last.pt" for p in dates)
    res = subprocess.run([sys.executable, "-m", "stages.distill"], cwd=clone, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert {p: p.stat().st_mtime_ns for p in dates} == dates
    # same params and seed in a new process: the same knowledge (on the CPU)
    first = new["train"]["recon_loss"]
    (clone / "models" / "student").rename(clone / "models" / "student_first")
    res = subprocess.run([sys.executable, "-m", "stages.distill"], cwd=clone, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    np.testing.assert_array_equal(read_knowledge(str(work / "round1" / "knowledge.h5"), "train")["recon_loss"], first)


def test_distill_with_self_training_under_torchrun(tmp_path, reproduced_everything):
    """Two gloo ranks run the distill stage with a round of self-training: each held-out student trains
    data-parallel, rank 0 alone writes the round's knowledge and report, and both ranks go on from that file."""
    from ws3dvg.grounding.teacher import read_knowledge

    clone = copy_clone(reproduced_everything, tmp_path / "repo")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["distill"].update(self_training_rounds=1, self_training_folds=2, reference_full=False, epochs=1)
    assert params["distill"]["batch_size"] % 2 == 0  # torchrun splits each global batch over the ranks
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(ENV, PYTHONPATH=f"{clone}:{ROOT / 'src'}", OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--standalone", "-m", "stages.distill"], cwd=clone, capture_output=True, text=True,
                         env=env, timeout=600)  # a rank waiting on a barrier the other never reaches would hang
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert out.count("self-training round 1/1") == 1  # rank 0 speaks for the run
    work = clone / "models" / "student" / "self_training"
    assert [r["round"] for r in json.loads((work / "report.json").read_text())["rounds"]] == [1]
    teacher = read_knowledge(str(clone / "data" / "teacher" / "knowledge.h5"), "train")
    new = read_knowledge(str(work / "round1" / "knowledge.h5"), "train")
    np.testing.assert_array_equal(new["valid"], teacher["valid"])
    several = teacher["valid"].sum(1) >= 2
    assert not np.array_equal(new["recon_loss"][several], teacher["recon_loss"][several])
    assert (clone / "models" / "student" / "student.pt").exists()


def test_cross_fit_benchmark_writes_knowledge_and_its_report(tmp_path, reproduced_everything):
    from ws3dvg.grounding.teacher import read_knowledge

    clone = copy_clone(reproduced_everything, tmp_path / "repo")
    out = clone / "xfit"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cross_fit.py"), "data/teacher/knowledge.h5",
                          str(out), "--folds", "2"], cwd=clone, capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((out / "cross_fit.json").read_text())
    assert len(report["per_fold"]) == 2 and set(report["train_rows"]) == {"teacher", "held_out_student", "product"}
    assert 0.0 <= report["train_rows"]["product"]["fine_right"] <= 1.0
    assert read_knowledge(str(out / "knowledge.h5"), "train")["recon_loss"].shape == \
        read_knowledge(str(clone / "data" / "teacher" / "knowledge.h5"), "train")["recon_loss"].shape
