"""benchmarks/run_variants.py refuses a reused teacher whose recipe settings the variant would change."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "run_variants", Path(__file__).resolve().parents[1] / "benchmarks" / "run_variants.py")
run_variants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_variants)


def test_a_reused_teacher_keeps_its_own_recipe():
    base = run_variants.parse("a: teacher.departures.recon_valid_half=true; distill.epochs=40")
    same = run_variants.parse("b: teacher_from=a; teacher.departures.recon_valid_half=true; distill.epochs=20")
    run_variants.check_teacher_reuse([base, same])  # only student settings differ: allowed


@pytest.mark.parametrize("spec", [
    "b: teacher_from=a; teacher.departures.recon_valid_half=true; teacher.departures.hard_distillation=false",
    "b: teacher_from=a",                                   # drops the source's teacher setting
])
def test_a_changed_teacher_setting_stops_the_run(spec):
    base = run_variants.parse("a: teacher.departures.recon_valid_half=true")
    with pytest.raises(SystemExit, match="teacher.departures"):
        run_variants.check_teacher_reuse([base, run_variants.parse(spec)])


def test_teacher_from_must_name_an_earlier_variant():
    with pytest.raises(SystemExit, match="names no variant listed before it"):
        run_variants.check_teacher_reuse([run_variants.parse("b: teacher_from=a"), run_variants.parse("a: ")])
