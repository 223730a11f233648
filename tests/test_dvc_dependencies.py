"""dvc.yaml lists what each stage really reads: every file of its import closure and every params section.

A stage whose code imports a module that dvc.yaml does not list would keep a stale artifact when that
module changes; a params section read but not listed likewise. The closure is computed from the source
(every `import` and `from ... import`, at any depth, function-level ones included).
"""

import ast
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SRC = REPO / "src"
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
# Sections no stage lists on purpose: `data` holds paths, which reach DVC as `${data.*}` deps; `runtime`
# holds worker counts, step kind and checkpoint interval, which never change an artifact (tests prove it).
UNLISTED_SECTIONS = {"data", "runtime"}


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(path: Path) -> set[str]:
    """Dotted ws3dvg module names that one file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ""  # stage files import absolutely
    if path.is_relative_to(SRC):
        package = ".".join(path.relative_to(SRC).with_suffix("").parts)
        package = package[: -len(".__init__")] if path.name == "__init__.py" else package.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "ws3dvg"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "ws3dvg":
                continue
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names if _module_file(f"{mod}.{a.name}")}
    return out


def _has_code(path: Path) -> bool:
    """A package __init__ that only documents itself adds nothing to a closure."""
    tree = ast.parse(path.read_text())
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) and
               not (isinstance(n, ast.Assign) and n.targets[0].id == "__version__") for n in tree.body)


def import_closure(stage_file: Path) -> set[Path]:
    todo, seen = [stage_file], set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for mod in _imports(f):
            target = _module_file(mod)
            if target is not None:
                todo.append(target)
    return {f for f in seen - {stage_file} if f.name != "__init__.py" or _has_code(f)}


def params_read(stage_file: Path) -> set[str]:
    """`section` or `section.key` for every `params["section"]["key"]` / `params["section"]` in a stage."""
    out = set()
    for node in ast.walk(ast.parse(stage_file.read_text())):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "params"
                and isinstance(node.slice, ast.Constant)):
            out.add(node.slice.value)
    for node in ast.walk(ast.parse(stage_file.read_text())):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript)
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "params"
                and isinstance(node.slice, ast.Constant) and isinstance(node.value.slice, ast.Constant)):
            out.discard(node.value.slice.value)
            out.add(f"{node.value.slice.value}.{node.slice.value}")
    # a section kept whole in a variable (`cfg = params["teacher"]`) counts as the whole section
    for node in ast.walk(ast.parse(stage_file.read_text())):
        if isinstance(node, (ast.Assign,)) and isinstance(node.value, (ast.Subscript, ast.Tuple)):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for v in values:
                if (isinstance(v, ast.Subscript) and isinstance(v.value, ast.Name) and v.value.id == "params"
                        and isinstance(v.slice, ast.Constant)):
                    out = {p for p in out if not p.startswith(v.slice.value + ".")} | {v.slice.value}
    return out


def _listed(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(DVC))
def test_dvc_yaml_lists_the_import_closure(stage):
    spec = DVC[stage]
    stage_file = REPO / "stages" / f"{stage}.py"
    assert f"python -m stages.{stage}" in spec["cmd"] and _listed(stage_file, spec["deps"])
    missing = sorted(p.relative_to(REPO).as_posix() for p in import_closure(stage_file) if not _listed(p, spec["deps"]))
    assert not missing, f"dvc.yaml stage {stage} does not list {missing}"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_dvc_yaml_lists_the_params_read(stage):
    listed = set(DVC[stage].get("params", []))
    read = params_read(REPO / "stages" / f"{stage}.py")
    missing = sorted(p for p in read if p.split(".")[0] not in UNLISTED_SECTIONS
                     and p not in listed and p.split(".")[0] not in listed)
    assert not missing, f"dvc.yaml stage {stage} reads params {missing} without listing them"


def test_the_closure_finds_function_level_and_relative_imports():
    closure = {p.relative_to(SRC).as_posix() for p in import_closure(REPO / "stages" / "evaluate.py")}
    assert "ws3dvg/models/grounding.py" in closure       # through grounding/student.py's relative import
    assert "ws3dvg/text/annotations.py" in closure            # a function-level import in grounding/evaluation.py
    assert "params.schema.yaml" not in closure


def test_the_real_data_path_never_imports_the_synthetic_world():
    for stage in sorted(DVC):
        if stage == "synthesize":
            continue
        synth = [p for p in import_closure(REPO / "stages" / f"{stage}.py") if "ws3dvg/synth/" in p.as_posix()]
        assert not synth, f"stage {stage} imports {synth}"
    cli = {p.as_posix() for p in import_closure(SRC / "ws3dvg" / "cli.py")}
    assert not any("ws3dvg/synth/" in p for p in cli)


def test_dvc_yaml_names_the_artifact_paths_of_engine_artifacts():
    """Paths live in engine/artifacts.py for the code; dvc.yaml must name the same ones (it cannot import them)."""
    from ws3dvg.engine import artifacts

    declared = set()
    for spec in DVC.values():
        for key in ("outs", "deps", "metrics", "plots"):
            for entry in spec.get(key, []):
                declared.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    constants = {v for k, v in vars(artifacts).items() if k.isupper() and isinstance(v, str)}
    wanted = constants | {artifacts.proposals(s) for s in ("train", "val")} | {artifacts.student_weights()}
    wanted |= {artifacts.metrics(s) for s in ("language", "enet", "detector", "teacher", "eval", "preprocess")}
    wanted |= {artifacts.curves(s) + "/metrics.json" for s in ("detector", "teacher", "distill")}

    def named(path):  # a file inside a declared folder counts
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared)

    assert not sorted(p for p in wanted if not named(p))
    # and every stage's own outputs are among the artifacts (no stage writes where the code does not know)
    outs = {next(iter(e)) if isinstance(e, dict) else e for spec in DVC.values() for e in spec.get("outs", [])}
    code_paths = wanted | {"${data.preprocessed}", "${data.multiview}"}
    assert not sorted(o for o in outs if o not in code_paths)
