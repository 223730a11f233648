"""benchmarks/simulated_teacher.py: a better teacher's knowledge made by swapping two scores, checked by hand."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("simulated_teacher", ROOT / "benchmarks" / "simulated_teacher.py")
simulated_teacher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(simulated_teacher)
INF = np.inf

# row 0: the choice is slot 0 (1.0), the target proposal 5 sits in slot 1: wrong, can be set right
# row 1: the choice (slot 0, proposal 1) is the target: right
# row 2: the target (proposal 9) is no candidate: wrong, left alone
# row 3: the choice is slot 1 (1.0), the target proposal 4 sits in slot 0: wrong, can be set right
KNOWLEDGE = {"candidates": np.array([[3, 5, 7], [1, 2, 0], [1, 2, 3], [4, 6, 8]]),
             "recon_loss": np.array([[1.0, 2.0, INF], [0.2, 0.4, INF], [1.0, 1.5, 2.0], [3.0, 1.0, 2.0]], np.float32),
             "valid": np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]], bool),
             "coarse": np.zeros((4, 3), np.float32), "pred_class": np.arange(4)}
TARGET = np.array([5, 1, 9, 4])


def test_choice_and_target_slot():
    choice, slot = simulated_teacher.choice_and_target_slot(KNOWLEDGE, TARGET)
    assert choice.tolist() == [0, 0, 0, 1]
    assert slot.tolist() == [1, 0, -1, 0]


def test_every_wrong_row_set_right_swaps_the_two_scores_only():
    out, swapped = simulated_teacher.lift(KNOWLEDGE, TARGET, 1.0, seed=0)
    assert swapped.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(out["recon_loss"], np.array(
        [[2.0, 1.0, INF], [0.2, 0.4, INF], [1.0, 1.5, 2.0], [1.0, 3.0, 2.0]], np.float32))
    for kept in ("candidates", "valid", "coarse", "pred_class"):
        np.testing.assert_array_equal(out[kept], KNOWLEDGE[kept])
    assert KNOWLEDGE["recon_loss"][0, 0] == 1.0  # the input is not changed in place


def test_share_zero_changes_nothing_and_a_share_draws_per_row():
    out, swapped = simulated_teacher.lift(KNOWLEDGE, TARGET, 0.0, seed=0)
    assert not swapped.any()
    np.testing.assert_array_equal(out["recon_loss"], KNOWLEDGE["recon_loss"])
    draw = np.random.default_rng(7).random(4) < 0.5
    _, swapped = simulated_teacher.lift(KNOWLEDGE, TARGET, 0.5, seed=7)
    assert swapped.tolist() == (draw & np.array([True, False, False, True])).tolist()


def test_accuracy_counts_rows_with_several_valid_candidates():
    before = simulated_teacher.accuracy(KNOWLEDGE, TARGET)
    assert before == {"rows": 4, "fine_right": 0.25, "target_a_candidate": 0.75}
    after = simulated_teacher.accuracy(simulated_teacher.lift(KNOWLEDGE, TARGET, 1.0, 0)[0], TARGET)
    assert after["fine_right"] == 0.75
    one = {**KNOWLEDGE, "valid": np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]], bool)}
    assert simulated_teacher.accuracy(one, TARGET)["rows"] == 3


def test_a_share_outside_zero_to_one_is_refused(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "simulated_teacher.py"), "k.h5",
                          str(tmp_path / "o.h5"), "--share", "1.5"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0 and "--share must lie in [0, 1]" in run.stderr


def _always_wrong_knowledge(paths: dict, path) -> dict:
    """A teacher's knowledge for the tiny pipeline whose fine choice is never the target: per row the target and
    another proposal, the other scored lower. Written to `path`; -> the knowledge."""
    from ws3dvg.grounding.student import full_supervision_targets
    from ws3dvg.grounding.teacher import write_knowledge

    know = {}
    for split in ("train", "val"):
        target = full_supervision_targets(paths, split)
        n = len(target)
        know[split] = {"candidates": np.stack([target, np.where(target == 0, 1, 0)], 1),
                       "recon_loss": np.tile([[2.0, 1.0]], (n, 1)), "valid": np.ones((n, 2), bool),
                       "coarse": np.zeros((n, 2), np.float32), "pred_class": np.zeros(n, np.int64)}
    write_knowledge(str(path), know, {"topk": 2})
    return know


def test_simulate_writes_the_lifted_training_rows_and_the_val_rows_as_they_were(tiny_grounding, tmp_path):
    """On the tiny pipeline: every training row's teacher picks another proposal than the target; share 1 sets
    each right by swapping the two scores, and the val split is copied."""
    from ws3dvg.grounding.student import full_supervision_targets
    from ws3dvg.grounding.teacher import read_knowledge

    know = _always_wrong_knowledge(tiny_grounding, tmp_path / "k.h5")
    report = simulated_teacher.simulate(str(tmp_path / "k.h5"), str(tmp_path / "o.h5"), 1.0, 0, tiny_grounding)
    known = int((full_supervision_targets(tiny_grounding, "train") >= 0).sum())
    assert report["rows_swapped"] == known > 0
    assert report["train_before"]["fine_right"] == 0.0
    assert report["train_after"]["fine_right"] == known / len(know["train"]["valid"])
    got = read_knowledge(str(tmp_path / "o.h5"), "train")
    right = full_supervision_targets(tiny_grounding, "train") >= 0
    assert got["recon_loss"][right].tolist() == [[1.0, 2.0]] * known
    np.testing.assert_array_equal(read_knowledge(str(tmp_path / "o.h5"), "val")["recon_loss"],
                                  know["val"]["recon_loss"])


def test_the_command_writes_its_report(tiny_grounding, tmp_path, monkeypatch):
    import json

    _always_wrong_knowledge(tiny_grounding, tmp_path / "k.h5")
    monkeypatch.setattr(simulated_teacher, "load_params", lambda: {"data": {"preprocessed": "unused"}})
    monkeypatch.setattr(simulated_teacher.artifacts, "grounding_paths", lambda *a: tiny_grounding)
    monkeypatch.setattr(sys, "argv", ["simulated_teacher.py", str(tmp_path / "k.h5"), str(tmp_path / "o.h5"),
                                      "--share", "1", "--json", str(tmp_path / "r.json")])
    simulated_teacher.main()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["share"] == 1.0 and report["rows_swapped"] > 0
    assert report["train_after"]["fine_right"] > report["train_before"]["fine_right"] == 0.0


def test_simulate_names_a_knowledge_file_of_another_length(tiny_grounding, tmp_path):
    from ws3dvg.grounding.teacher import write_knowledge

    one = {"candidates": np.zeros((1, 2), np.int64), "recon_loss": np.zeros((1, 2), np.float32),
           "valid": np.ones((1, 2), bool), "coarse": np.zeros((1, 2), np.float32), "pred_class": np.zeros(1, np.int64)}
    write_knowledge(str(tmp_path / "k.h5"), {"train": one, "val": one}, {"topk": 2})
    with pytest.raises(SystemExit, match="k.h5: 1 training rows"):
        simulated_teacher.simulate(str(tmp_path / "k.h5"), str(tmp_path / "o.h5"), 0.5, 0, tiny_grounding)


def test_run_variants_simulates_over_a_teacher_only(tmp_path):
    spec = importlib.util.spec_from_file_location("run_variants", ROOT / "benchmarks" / "run_variants.py")
    run_variants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_variants)
    data = tmp_path / "data"
    (data / "data").mkdir(parents=True)
    with pytest.raises(SystemExit, match="needs teacher_from"):
        run_variants.prepare("c", {"simulate_share": "0.5"}, data, tmp_path / "work", [])
    with pytest.raises(SystemExit, match="give one"):
        run_variants.prepare("c", {"teacher_from": "a", "knowledge_with": "b", "simulate_share": "0.5"}, data,
                             tmp_path / "work", [])
    with pytest.raises(SystemExit, match="not written yet"):
        run_variants.prepare("c", {"teacher_from": "a", "simulate_share": "0.5"}, data, tmp_path / "work", [])
