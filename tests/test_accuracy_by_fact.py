"""benchmarks/accuracy_by_fact.py: accuracy per deciding fact, and the student's accuracy given another model's."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("accuracy_by_fact", ROOT / "benchmarks" / "accuracy_by_fact.py")
accuracy_by_fact = importlib.util.module_from_spec(spec)
spec.loader.exec_module(accuracy_by_fact)


def _rows(hits):
    """hits: (fact, student IoU, teacher IoU) per description -> (predictions, descriptions)."""
    preds = [{"scene_id": "scene0000_00", "object_id": i, "ann_id": "0", "iou": s,
              "iou_of": {"student": s, "teacher_fine": t}} for i, (_, s, t) in enumerate(hits)]
    desc = pd.DataFrame({"scene_id": "scene0000_00", "object_id": range(len(hits)), "ann_id": 0,
                         "decided_by": [f for f, _, _ in hits]})
    return preds, desc


def test_accuracy_per_fact_and_given_the_teacher():
    # material: teacher right on 2 rows (student right on 1 of them), wrong on 2 (student right on 1)
    # colour: teacher right on both, student on both
    preds, desc = _rows([("material", 1.0, 1.0), ("material", 0.0, 1.0), ("material", 0.6, 0.0),
                         ("material", 0.1, 0.2), ("colour", 1.0, 0.9), ("colour", 0.3, 0.5)])
    table = accuracy_by_fact.by_fact(preds, desc, given="teacher_fine")
    assert list(table.index) == ["material", "colour"]                 # most rows first
    m, c = table.loc["material"], table.loc["colour"]
    assert (m["n"], m["student"], m["teacher_fine"]) == (4, 0.5, 0.5)
    assert m["student|teacher_fine right"] == 0.5 and m["student|teacher_fine wrong"] == 0.5
    assert c["student|teacher_fine right"] == 1.0
    assert pd.isna(c["student|teacher_fine wrong"])                     # no such row: no accuracy


def test_given_a_model_the_predictions_lack():
    preds, desc = _rows([("material", 1.0, 1.0)])
    with pytest.raises(SystemExit, match="coarse"):
        accuracy_by_fact.by_fact(preds, desc, given="coarse")
    assert "student|" not in " ".join(accuracy_by_fact.by_fact(preds, desc).columns)


def test_examples_per_fact_most_common_first_with_each_models_pick():
    preds, desc = _rows([("material", 1.0, 1.0), ("material", 0.0, 1.0), ("material", 0.6, 0.0),
                         ("colour", 1.0, 0.9), ("colour", 0.3, 0.5), ("side", 0.0, 0.0)])
    for i, p in enumerate(preds):
        p["description"] = f"sentence {i}"
    got = accuracy_by_fact.examples(preds, desc, per_fact=2, facts=2)
    assert [e["decided_by"] for e in got] == ["material", "material", "colour", "colour"]  # no "side": 2 facts
    assert len({e["object_id"] for e in got[:2]}) == 2                      # two different material rows
    by_id = {e["object_id"]: e for e in got}
    assert by_id[3]["right"] == {"student": True, "teacher_fine": True}
    assert by_id[4]["right"] == {"student": True, "teacher_fine": True}      # 0.3 and 0.5 both >= 0.25
    assert by_id[3]["description"] == "sentence 3"
    assert got == accuracy_by_fact.examples(preds, desc, per_fact=2, facts=2)  # the same seed, the same draw
    one = accuracy_by_fact.examples(preds, desc, per_fact=5, facts=3)
    assert [e["decided_by"] for e in one].count("side") == 1                  # as many as there are
