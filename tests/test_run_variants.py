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


def test_a_teacher_from_an_earlier_call_is_checked_on_its_written_params(tmp_path):
    """world_v2_scale_gpu.sh runs one variant a call: the source ran before, in the same work folder."""
    import yaml

    work = tmp_path / "variants"
    source, mine = work / "a", work / "b"
    for root, departures in ((source, {"decoder_reads_scene": True}), (mine, {"decoder_reads_scene": True})):
        root.mkdir(parents=True)
        (root / "params.yaml").write_text(yaml.safe_dump({"teacher": {"departures": departures, "epochs": 20},
                                                          "distill": {"init_from_teacher": root.name == "a"}}))
    todo = [run_variants.parse("b: teacher_from=a; distill.init_from_teacher=false")]
    run_variants.check_teacher_reuse(todo, work)  # the source is there: no longer refused for its absence
    run_variants.check_reused_params(todo, {"b": mine}, work)  # only distill differs: allowed
    (mine / "params.yaml").write_text(yaml.safe_dump({"teacher": {"departures": {"decoder_reads_scene": False},
                                                                  "epochs": 20}}))
    with pytest.raises(SystemExit, match=r"teacher\.departures\.decoder_reads_scene"):
        run_variants.check_reused_params(todo, {"b": mine}, work)
    with pytest.raises(SystemExit, match="nor one run earlier in"):
        run_variants.check_teacher_reuse([run_variants.parse("c: teacher_from=z")], work)


def test_differences_name_nested_keys():
    a = {"departures": {"x": True, "y": False}, "epochs": 20, "only_a": 1}
    b = {"departures": {"x": True, "y": True}, "epochs": 20}
    assert run_variants.differences(a, b, "teacher") == ["teacher.departures.y", "teacher.only_a"]


@pytest.mark.parametrize("spec, says", [
    ("b: teacher_from=a; knowledge_with=c; cross_fit=2", "knowledge_with and cross_fit each write the knowledge"),
    ("b: teacher_from=a; simulate_share=0.5; cross_fit=2", "simulate_share and cross_fit each write the knowledge"),
    ("b: cross_fit=2", "cross_fit=2 needs teacher_from"),
    ("b: teacher_from=a; cross_fit=2; route_with=c", "cross_fit and route_with each write the knowledge"),
    ("b: route_with=c", "route_with=c needs teacher_from"),
])
def test_knowledge_writers_are_one_at_a_time_and_need_a_teacher(tmp_path, spec, says):
    name, sets = run_variants.parse(spec)
    with pytest.raises(SystemExit, match=says):
        run_variants.prepare(name, sets, tmp_path, tmp_path / "variants", [])


def test_a_cross_fit_variant_writes_its_own_knowledge_not_its_sources(tmp_path, monkeypatch):
    """cross_fit must not link the source's data/teacher: its knowledge would be taken as the variant's own (and
    the product written over the source's)."""
    work = tmp_path / "variants"
    (work / "own" / "data" / "teacher").mkdir(parents=True)
    (work / "own" / "data" / "teacher" / "knowledge.h5").write_bytes(b"")
    (work / "own" / "models" / "teacher").mkdir(parents=True)
    calls = []
    monkeypatch.setattr(run_variants, "self_train_knowledge", lambda *a: calls.append(a))
    name, sets = run_variants.parse("xf: teacher_from=own; cross_fit=2; distill.epochs=3")
    root = run_variants.prepare(name, sets, tmp_path, work, [])
    assert calls == [(work / "own", "2", root)]
    assert not (root / "data" / "teacher").exists() or not (root / "data" / "teacher").is_symlink()
    assert (root / "models" / "teacher").is_symlink()  # the source's weights, as for any teacher_from
    assert "epochs: 3" in (root / "params.yaml").read_text()


def test_a_routed_variant_writes_its_own_knowledge_from_both_teachers(tmp_path, monkeypatch):
    """route_with scores the source's candidates with the source's and the other variant's teachers, into a folder
    of the variant's own; the students start from the source's weights."""
    work = tmp_path / "variants"
    for v in ("sf", "sfs"):
        (work / v / "models" / "teacher").mkdir(parents=True)
    calls = []
    monkeypatch.setattr(run_variants, "route_knowledge", lambda *a: calls.append(a))
    name, sets = run_variants.parse("rt: teacher_from=sf; route_with=sfs; distill.epochs=3")
    root = run_variants.prepare(name, sets, tmp_path, work, [])
    assert calls == [(work / "sf", work / "sfs", root / "data" / "teacher")]
    assert not (root / "data" / "teacher").is_symlink()
    assert (root / "models" / "teacher").resolve() == (work / "sf" / "models" / "teacher").resolve()


def test_route_with_names_what_is_missing(tmp_path):
    work = tmp_path / "variants"
    (work / "sf" / "models" / "teacher").mkdir(parents=True)
    with pytest.raises(SystemExit, match="sfs/models/teacher/teacher.pt.*not written yet"):
        run_variants.route_knowledge(work / "sf", work / "sfs", tmp_path / "out")
