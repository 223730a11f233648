"""benchmarks/teacher_confidence.py: the fine pick's accuracy per quartile of the teacher's posterior of it."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("teacher_confidence", ROOT / "benchmarks" / "teacher_confidence.py")
teacher_confidence = importlib.util.module_from_spec(spec)
spec.loader.exec_module(teacher_confidence)


def test_accuracy_per_confidence_quartile_by_hand():
    # 8 sentences with two valid candidates (proposals 0 and 1) and one with a single valid candidate (left out).
    # With one hidden word the posterior of the pick is sigmoid(gap): gaps 0.1 ... 0.8 sort the rows by confidence.
    gaps = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.0])
    recon = np.stack([np.full(9, 1.0), 1.0 + gaps], 1)                    # candidate 0 always the pick
    candidates = np.tile([0, 1], (9, 1))
    valid = np.ones((9, 2), bool)
    valid[8, 1] = False
    words = np.ones(9, int)
    target = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0])                        # q1 wrong twice, q2 once, q3 q4 right
    table = teacher_confidence.confidence_table(candidates, recon, valid, words, target)
    row = table.loc["all"]
    assert row["n"] == 8 and row["accuracy"] == pytest.approx(5 / 8)
    # weighted by the posterior of the pick, sigmoid(gap): the right rows are those of gaps 0.3, 0.5, 0.6, 0.7, 0.8
    sig = 1 / (1 + np.exp(-gaps[:8]))
    assert row["weighted"] == pytest.approx(sig[[2, 4, 5, 6, 7]].sum() / sig.sum())
    assert [row[q] for q in ("q1", "q2", "q3", "q4")] == [0.0, 0.5, 1.0, 1.0]


def test_per_fact_rows_share_the_global_quartiles():
    recon = np.array([[0.0, 2.0], [0.0, 0.1], [0.0, 1.0], [0.0, 0.5]])
    candidates = np.tile([0, 1], (4, 1))
    valid = np.ones((4, 2), bool)
    table = teacher_confidence.confidence_table(candidates, recon, valid, np.ones(4, int), np.zeros(4, int),
                                                np.array(["material", "colour", "material", "colour"]))
    assert set(table.index) == {"material", "colour"}
    assert table.loc["material", "n"] == 2 and table.loc["material", "accuracy"] == 1.0
    assert np.isnan(table.loc["material", "q1"]) and table.loc["material", "q4"] == 1.0  # gap 2.0: most sure
