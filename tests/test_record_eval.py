"""benchmarks/record_eval.py: one variant of a GPU run recorded as eval-gpu.json, with issue #20's targets."""
import json
import sys

import pytest
import yaml
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from record_eval import record, targets  # noqa: E402


def _table(weak, full, fine, coarse, chance, weak_multiple):
    cell = lambda v: {"acc@0.25": v, "acc@0.5": v, "n": 10}  # noqa: E731
    rows = {"student": {"overall": cell(weak), "multiple": cell(weak_multiple)},
            "teacher_fine": {"multiple": cell(fine)}, "coarse": {"multiple": cell(coarse)},
            "random_class": {"multiple": cell(chance)}}
    if full is not None:
        rows["student_full_supervision"] = {"overall": cell(full)}
    return rows


def test_targets_by_hand():
    t = targets(_table(weak=0.70, full=0.90, fine=0.50, coarse=0.30, chance=0.25, weak_multiple=0.60))
    assert t["1 full >= 0.75 overall"] == [0.9, "met"]
    assert t["2a fine - coarse >= 0.10 on multiple"] == [0.2, "met"]
    assert t["2b coarse >= random of the class on multiple"] == [[0.3, 0.25], "met"]
    assert t["3a weak >= fine on multiple"] == [0.1, "met"]
    assert t["3b weak >= 0.75 x full overall"] == [[0.7, 0.675], "met (0.778x)"]


def test_targets_missed_and_judged_on_the_exact_values():
    # 0.75 x 0.9085 = 0.681375: 0.681 shown, and a weak student of 0.6813 misses it
    t = targets(_table(weak=0.6813, full=0.9085, fine=0.40, coarse=0.32, chance=0.33, weak_multiple=0.39))
    assert t["3b weak >= 0.75 x full overall"] == [[0.681, 0.681], "missed (0.750x)"]
    assert t["2a fine - coarse >= 0.10 on multiple"] == [0.08, "missed"]
    assert t["2b coarse >= random of the class on multiple"][1] == "missed"
    assert t["3a weak >= fine on multiple"] == [-0.01, "missed"]


def test_without_a_fully_supervised_student_its_targets_are_not_measured():
    t = targets(_table(weak=0.68, full=None, fine=0.56, coarse=0.24, chance=0.21, weak_multiple=0.60))
    assert t["1 full >= 0.75 overall"] == [None, "not measured"]
    assert t["3b weak >= 0.75 x full overall"] == [[0.68, None], "not measured"]
    assert t["3a weak >= fine on multiple"] == [0.04, "met"]


def test_the_recorded_run_gives_its_recorded_verdicts():
    recorded = json.loads((REPO / "benchmarks" / "results" / "eval-gpu.json").read_text())
    assert targets(recorded) == recorded["meta"]["issue_20_targets"]


def test_record_reads_the_run_folder(tmp_path):
    table = _table(weak=0.70, full=0.90, fine=0.50, coarse=0.30, chance=0.25, weak_multiple=0.60)
    run = {"anr": {"settings": {"teacher_from": "an"}, "seconds": {"distill": 400.0}, "eval": table,
                   "teacher": {"val": {"fine_acc@0.25": 0.6}}}}
    (tmp_path / "anr.json").write_text(json.dumps(run))
    (tmp_path / "anr-params.yaml").write_text(yaml.safe_dump({"base": {"seed": 3407}, "synth": {"world": 2}}))
    out = record(tmp_path, "anr", device="one H100", code="abc1234", command="cmd", setting="words", date=None)
    assert out["student"] == table["student"] and out["teacher"] == run["anr"]["teacher"]
    assert out["params"] == {"base": {"seed": 3407}, "synth": {"world": 2}}
    meta = out["meta"]
    assert meta["variant"] == "anr" and meta["code"] == "abc1234" and meta["stage_seconds"] == {"distill": 400.0}
    assert meta["settings"] == {"teacher_from": "an"} and len(meta["date"]) == 10
    assert meta["issue_20_targets"] == targets(table)


def test_record_names_what_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="anr-params.yaml: missing"):
        (tmp_path / "anr.json").write_text(json.dumps({"anr": {"eval": {}}}))
        record(tmp_path, "anr", device="d", code="c", command="c", setting="s")
    (tmp_path / "anr-params.yaml").write_text("base: {}\n")
    (tmp_path / "anr.json").write_text(json.dumps({"other": {}}))
    with pytest.raises(SystemExit, match="no eval table for variant 'anr'"):
        record(tmp_path, "anr", device="d", code="c", command="c", setting="s")
