"""benchmarks/reader_ceiling.py: the best a reader of some kinds of fact can do on world v2, checked by hand."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml

from ws3dvg.synth.facts import Fact

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reader_ceiling", ROOT / "benchmarks" / "reader_ceiling.py")
reader_ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader_ceiling)


def test_ceiling_counts_the_members_every_read_fact_leaves():
    # a group of four; the target is member 0
    facts = [Fact("colour", "brown", (True, True, False, True)),
             Fact("material", "wooden", (True, False, False, True)),
             Fact("closest", "door", (True, False, False, False))]
    assert reader_ceiling.ceiling(facts, ()) == pytest.approx(1 / 4)              # random of the group
    assert reader_ceiling.ceiling(facts, ("colour",)) == pytest.approx(1 / 3)
    assert reader_ceiling.ceiling(facts, reader_ceiling.OWN) == pytest.approx(1 / 2)  # colour AND material
    assert reader_ceiling.ceiling(facts, ("closest",)) == 1.0


def _row(scene, object_id, name, decided_by, attribute_only, facts):
    return {"scene_id": scene, "object_id": object_id, "object_name": name, "decided_by": decided_by,
            "attribute_only": attribute_only, "facts": facts}


def test_table_splits_rows_as_evaluate_does():
    # room a: two chairs (one class, "multiple"); room b: a table and a coffee table, both of the class "table"
    # in the 18 classes, so ScanRefer counts the table row as "multiple" although no other table stands there
    two = [Fact("colour", "red", (True, True)), Fact("material", "metal", (True, False))]
    rows = [_row("a", 1, "chair", "material", True, two),
            _row("a", 2, "chair", "material", True, [Fact("colour", "red", (True, True)),
                                                     Fact("material", "wooden", (False, True))]),
            _row("b", 3, "table", "unique", False, [Fact("colour", "red", (True,))]),
            _row("b", 4, "coffee table", "unique", False, [Fact("colour", "red", (True,))])]
    out = reader_ceiling.table(rows)
    assert out["multiple_rows"] == 4
    r = out["readers"]
    assert r["class"]["multiple"] == pytest.approx(0.5)        # 1 / 2 objects of the class on every row
    assert r["colour"]["multiple"] == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    assert r["own"]["multiple"] == pytest.approx(1.0)
    assert r["own"]["attribute_only_rows"] == pytest.approx(1.0)
    assert r["colour"]["by_deciding_fact"]["material"] == [2, 0.5]


def test_every_generated_row_is_read_in_full_by_the_all_reader():
    cfg = yaml.safe_load((ROOT / "params.yaml").read_text())["synth"] | {"world": 2}
    rows = reader_ceiling.layout_rows(cfg, scenes=4, seed=5)
    out = reader_ceiling.table(rows)
    assert out["rows"] == len(rows) > 0
    r = out["readers"]
    assert r["all"]["overall"] == 1.0
    # more facts read, never a lower ceiling
    order = ["class", "colour", "own", "own+size", "own+size+place", "all"]
    overall = [r[k]["overall"] for k in order[1:]]
    assert overall == sorted(overall)
    assert all(0 < r[k]["multiple"] <= 1 for k in order)
    assert np.isfinite(out["attribute_only_share_of_multiple"])


def test_against_weights_the_ceilings_by_a_runs_rows():
    result = {"readers": {"class": {"by_deciding_fact": {"material": [9, 0.25], "closest": [9, 0.5]}},
                          "own": {"by_deciding_fact": {"material": [9, 1.0], "closest": [9, 0.5]}}}}
    facts = [{"decided_by": "material", "n": 30, "teacher_fine": 0.4, "random_class": 0.3},
             {"decided_by": "closest", "n": 10, "teacher_fine": 0.5, "random_class": 0.2},
             {"decided_by": "unique", "n": 60, "teacher_fine": 0.9, "random_class": 0.8},
             {"decided_by": "shape+between", "n": 0, "teacher_fine": 0.0, "random_class": 0.0}]
    out = reader_ceiling.against(result, facts)
    assert out["rows"] == 100 and out["attribute_rows"] == 30 and out["relation_rows"] == 10
    assert out["colour_rows"] == 0 and out["colour"] is None
    assert out["all"]["ceiling own"] == pytest.approx((30 * 1.0 + 10 * 0.5 + 60 * 1.0) / 100)
    assert out["all"]["ceiling class"] == pytest.approx((30 * 0.25 + 10 * 0.5 + 60 * 0.8) / 100)
    assert out["attribute"]["teacher_fine"] == pytest.approx(0.4)
    assert out["relation"]["ceiling own"] == pytest.approx(0.5)


def test_purity_is_the_share_of_the_left_candidates_that_carry_the_named_value():
    rows = [  # four chairs: two wooden (the target one of them), three red (the target one of them)
        {"facts": [Fact("material", "wooden", (True, True, False, False)),
                   Fact("colour", "red", (True, False, True, True))]},
        {"facts": [Fact("material", "metal", (True,))]},          # alone of its name: a clean lesson
        {"facts": [Fact("colour", "red", (True, True))]}]         # names no material
    nothing = reader_ceiling.purity(rows, "material", ())
    assert nothing["rows"] == 2 and nothing["alone_of_name"] == pytest.approx(0.5)
    assert nothing["purity"] == pytest.approx((2 / 4 + 1) / 2)
    assert reader_ceiling.purity(rows, "material", ("colour",))["purity"] == pytest.approx((1 / 3 + 1) / 2)
    assert reader_ceiling.purity(rows, "shape", ())["purity"] is None
