"""Grounding ablations side by side: train_teacher, distill and evaluate for several params variants at once,
on proposal caches built earlier (benchmarks/gpu_caches.sh), each variant in its own folder and process.

    python benchmarks/run_variants.py --data DIR --out results.json [--parallel 4] [--overlay benchmarks/params-gpu.yaml]
        "paper: teacher.variant=paper" "ours: " "oracle-paper: proposals=oracle; teacher.variant=paper" ...

DIR holds data/language, data/proposals (gt), data/proposals_oracle and boxes.h5 (what gpu_caches.sh packs), or
is a pipeline root that has run through cache_detector (then data/preprocessed/scannet.h5 gives the boxes, and
data/synthetic is linked too, for the world's word vectors).
A variant is `name: key=value; key=value` with dotted params keys (YAML values); `proposals=oracle` picks the
oracle cache; `teacher_from=OTHER` reuses variant OTHER's trained teacher (listed before it, run with --parallel 1,
or run by an earlier call in the same --work folder; its teacher settings must be OTHER's) and runs only distill
and evaluate, for variants that change nothing before the students. `knowledge_with=THIRD` (beside teacher_from)
distils from the product of the two teachers' cached knowledge (benchmarks/combine_knowledge.py), so THIRD must
have run already, in an earlier call. `simulate_share=Q` (beside teacher_from) distils from OTHER's knowledge with
a share Q of its teacher's wrong training rows set right (benchmarks/simulated_teacher.py): how closely the
student follows a better teacher. `cross_fit=F` (beside teacher_from) distils from the product of OTHER's teacher
and F held-out students trained with this variant's distill settings (benchmarks/cross_fit.py: self-training that
never scores a row with a student that learnt its label). `route_with=THIRD` (beside teacher_from) distils from
OTHER's candidates scored on their attribute words by OTHER's teacher and on the other hidden words by THIRD's
(benchmarks/route_knowledge.py), so THIRD must have run already. Writes one JSON: per variant its settings, stage wall
times, teacher metrics and the eval table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("train_teacher", "distill", "evaluate")


def parse(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.partition(":")
    sets = {}
    for item in filter(None, (x.strip() for x in rest.split(";"))):
        key, _, value = item.partition("=")
        sets[key.strip()] = value.strip()
    return name.strip(), sets


def check_teacher_reuse(todo: list[tuple[str, dict]], work: Path | None = None) -> None:
    """A `teacher_from` variant runs only distill and evaluate over its source's teacher.pt, and distill reads the
    recipe (teacher.departures) and the teacher's sizes from that checkpoint, never from params.yaml. A teacher.*
    setting that differs from its source's would be silently ignored, so it stops the run here. The source is a
    variant listed before it, or one an earlier call ran in `work` (world_v2_scale_gpu.sh runs one variant a call);
    the latter is checked on the written params by `check_reused_params`, once this call's are written."""
    sets_of, order = dict(todo), {name: i for i, (name, _) in enumerate(todo)}
    for name, sets in todo:
        source = sets.get("teacher_from")
        if source is None:
            continue
        if source not in order and work is not None and (work / source / "params.yaml").exists():
            continue
        if order.get(source, len(todo)) > order[name]:
            raise SystemExit(f"variant {name}: teacher_from={source} names no variant listed before it"
                             + (f", nor one run earlier in {work}" if work is not None else ""))
        differ = sorted(k for k, v in sets.items()
                        if k.startswith("teacher.") and sets_of[source].get(k) != v)
        differ += sorted(k for k, v in sets_of[source].items() if k.startswith("teacher.") and k not in sets)
        if differ:
            raise SystemExit(f"variant {name}: teacher_from={source} reuses {source}'s teacher.pt, whose saved recipe "
                             f"distill reads instead of params.yaml, so these teacher settings would be ignored: "
                             f"{', '.join(differ)}. Give {name} its own teacher (drop teacher_from).")


def differences(a: dict, b: dict, prefix: str) -> list[str]:
    """The dotted keys whose values differ between two nested params sections."""
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, f"{prefix}.{k}")
        elif x != y:
            out.append(f"{prefix}.{k}")
    return out


def check_reused_params(todo: list[tuple[str, dict]], roots: dict[str, Path], work: Path) -> None:
    """After `prepare`: each `teacher_from` variant's teacher section equals the one its source trained with."""
    import yaml

    for name, sets in todo:
        source = sets.get("teacher_from")
        if source is None:
            continue
        mine = yaml.safe_load((roots[name] / "params.yaml").read_text())["teacher"]
        theirs = yaml.safe_load((work / source / "params.yaml").read_text())["teacher"]
        differ = differences(mine, theirs, "teacher")
        if differ:
            raise SystemExit(f"variant {name}: teacher_from={source} reuses {source}'s teacher.pt, which trained with "
                             f"other teacher settings that distill would silently ignore: {', '.join(differ)}. "
                             f"Set them as {source} did, or give {name} its own teacher.")


def prepare(name: str, sets: dict, data: Path, work: Path, overlays: list[str]) -> Path:
    root = work / name
    (root / "data").mkdir(parents=True, exist_ok=True)
    cache = "proposals_oracle" if sets.pop("proposals", "gt") == "oracle" else "proposals"
    links = [("language", data / "data" / "language"), ("proposals", data / "data" / cache)]
    if (data / "data" / "synthetic").exists():  # a pipeline root: the world's word vectors live there
        links.append(("synthetic", data / "data" / "synthetic"))
    source, other = sets.pop("teacher_from", None), sets.pop("knowledge_with", None)
    share, folds, router = sets.pop("simulate_share", None), sets.pop("cross_fit", None), sets.pop("route_with", None)
    writers = [k for k, v in (("knowledge_with", other), ("simulate_share", share), ("cross_fit", folds),
                              ("route_with", router)) if v is not None]
    if len(writers) > 1:
        raise SystemExit(f"variant {name}: {' and '.join(writers)} each write the knowledge; give one")
    if folds is not None and source is None:
        raise SystemExit(f"variant {name}: cross_fit={folds} needs teacher_from (whose knowledge it starts from)")
    if other is not None:  # the product of two teachers' knowledge, in a folder of the variant's own
        if source is None:
            raise SystemExit(f"variant {name}: knowledge_with={other} needs teacher_from (whose weights the students "
                             "start from and whose candidates the product keeps)")
        combine_knowledge(work / source, work / other, root / "data" / "teacher")
    elif router is not None:  # attribute words from the source's teacher, the other words from router's
        if source is None:
            raise SystemExit(f"variant {name}: route_with={router} needs teacher_from (whose candidates are kept and "
                             "which reads the attribute words)")
        route_knowledge(work / source, work / router, root / "data" / "teacher")
    elif share is not None:  # a better teacher than the source's, simulated (benchmarks/simulated_teacher.py)
        if source is None:
            raise SystemExit(f"variant {name}: simulate_share={share} needs teacher_from (whose knowledge it lifts)")
        simulate_knowledge(work / source, share, root / "data" / "teacher")
    elif source is not None and folds is None:  # the teacher stage's outputs of an earlier variant (there once it
        # has run); cross_fit writes its own knowledge after params.yaml, into a folder of the variant's own
        links += [("teacher", work.resolve() / source / "data" / "teacher")]
    if source is not None:
        (root / "models").mkdir(exist_ok=True)
        if not (root / "models" / "teacher").exists():
            (root / "models" / "teacher").symlink_to(work.resolve() / source / "models" / "teacher")
    for link, target in links:
        if not (root / "data" / link).exists():
            (root / "data" / link).symlink_to(target.resolve())
    boxes = data / "boxes.h5" if (data / "boxes.h5").exists() else data / "data" / "preprocessed" / "scannet.h5"
    args = [sys.executable, str(REPO / "benchmarks" / "overlay_params.py"), *overlays,
            "--set", f"data.preprocessed={boxes.resolve()}", "--set", "evaluate.visualize=0"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    (root / "params.yaml").write_text(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    if folds is not None:  # after params.yaml: the held-out students train with this variant's distill settings
        self_train_knowledge(work / source, folds, root)
    return root


def combine_knowledge(source: Path, other: Path, out_dir: Path) -> None:
    """out_dir/knowledge.h5: the product of two earlier variants' teachers (benchmarks/combine_knowledge.py)."""
    files = [v / "data" / "teacher" / "knowledge.h5" for v in (source, other)]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"knowledge_with: {', '.join(missing)} not written yet; run that variant in an earlier call")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "combine_knowledge.py"), *map(str, files),
                    "--out", str(out_dir / "knowledge.h5")], check=True)


def script_env() -> dict:
    """The environment a benchmark script run by a variant needs: this tree's src/ importable, no progress bars."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
                TQDM_DISABLE="1")


def route_knowledge(source: Path, other: Path, out_dir: Path) -> None:
    """out_dir/knowledge.h5: the source's candidates, each scored on the attribute words by the source's teacher and
    on the other hidden words by `other`'s (benchmarks/route_knowledge.py, run in the source's folder, whose params
    name the data), with its report as out_dir/route.json."""
    files = [source / "models" / "teacher" / "teacher.pt", other / "models" / "teacher" / "teacher.pt",
             source / "data" / "teacher" / "knowledge.h5"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"route_with: {', '.join(missing)} not written yet; run that variant in an earlier call")
    out_dir.mkdir(parents=True, exist_ok=True)
    env = script_env()
    script = REPO / "benchmarks" / "route_knowledge.py"
    subprocess.run([sys.executable, str(script), *(str(f.resolve()) for f in files),
                    "--out", str((out_dir / "knowledge.h5").resolve()),
                    "--json", str((out_dir / "route.json").resolve())],
                   check=True, cwd=source, env=env)


def simulate_knowledge(source: Path, share: str, out_dir: Path) -> None:
    """out_dir/knowledge.h5: the source's knowledge with `share` of its teacher's wrong training rows set right
    (benchmarks/simulated_teacher.py, run in the source's folder, whose params name the data), and what it did."""
    know = source / "data" / "teacher" / "knowledge.h5"
    if not know.exists():
        raise SystemExit(f"simulate_share: {know} not written yet; run {source.name} first")
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "simulated_teacher.py"), str(know.resolve()),
                    str((out_dir / "knowledge.h5").resolve()), "--share", share,
                    "--json", str((out_dir / "simulated.json").resolve())], check=True, cwd=source)


def self_train_knowledge(source: Path, folds: str, root: Path) -> None:
    """root/data/teacher/knowledge.h5: the product of the source's teacher and held-out students
    (benchmarks/cross_fit.py, run in the variant's folder), the students and the report beside it."""
    know = source / "data" / "teacher" / "knowledge.h5"
    if not know.exists():
        raise SystemExit(f"cross_fit: {know} not written yet; run {source.name} first")
    out_dir = root / "data" / "teacher"  # rewritten on a rerun: its held-out students resume from their checkpoints
    out_dir.mkdir(parents=True, exist_ok=True)
    env = script_env()
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "cross_fit.py"), str(know.resolve()),
                    str(out_dir.resolve()), "--folds", folds], check=True, cwd=root, env=env)


def run_variant(root: Path, env: dict) -> subprocess.Popen:
    stages = STAGES[1:] if (root / "models" / "teacher").is_symlink() else STAGES
    script = " && ".join(f'echo "STAGE {s} start $(date +%s.%N)" && python -m stages.{s} && '
                         f'echo "STAGE {s} end $(date +%s.%N)"' for s in stages)
    log = open(root / "run.log", "w")
    return subprocess.Popen(["bash", "-c", script], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)


def collect(root: Path, sets: dict) -> dict:
    log = (root / "run.log").read_text()
    marks = {}
    for line in log.splitlines():
        if line.startswith("STAGE "):
            _, stage, what, t = line.split()
            marks.setdefault(stage, {})[what] = float(t)
    out = {"settings": sets, "seconds": {s: round(m["end"] - m["start"], 1) for s, m in marks.items() if "end" in m}}
    for name in ("eval", "teacher"):
        f = root / "metrics" / f"{name}.json"
        if f.exists():
            out[name] = json.loads(f.read_text())
    if "eval" not in out:
        out["log_tail"] = log[-3000:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("variants"))
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--overlay", action="append", default=None)
    args = ap.parse_args()
    overlays = [str(Path(o).resolve()) for o in (args.overlay or [REPO / "benchmarks" / "params-gpu.yaml"])]
    env = dict(script_env(), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env["PYTHONPATH"]])  # the stages run as modules of this tree
    todo = [parse(v) for v in args.variants]
    check_teacher_reuse(todo, args.work)
    roots = {name: prepare(name, dict(sets), args.data, args.work, overlays) for name, sets in todo}
    check_reused_params(todo, roots, args.work)
    running: dict[str, subprocess.Popen] = {}
    pending = [name for name, _ in todo]
    t0 = time.time()
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            running[name] = run_variant(roots[name], env)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                print(f"{time.time() - t0:7.1f} s  {name} finished (rc {proc.returncode})", flush=True)
                del running[name]
                done = {n: collect(roots[n], s) for n, s in todo if n not in running and n not in pending}
                args.out.write_text(json.dumps(done, indent=1))  # partial results survive an interrupted run
        time.sleep(2)
    results = {name: collect(roots[name], sets) for name, sets in todo}
    args.out.write_text(json.dumps(results, indent=1))
    for name, r in results.items():
        ev = r.get("eval", {})
        row = lambda k: ev.get(k, {}).get("multiple", {}).get("acc@0.25", float("nan"))  # noqa: E731
        print(f"{name:24s} multiple: student {row('student'):.3f} full {row('student_full_supervision'):.3f} "
              f"fine {row('teacher_fine'):.3f} coarse {row('coarse'):.3f} rand-class {row('random_class'):.3f} "
              f"| {r['seconds']}", flush=True)


if __name__ == "__main__":
    main()
