"""Record one variant of a `world_v2_scale_gpu.sh` run as `benchmarks/results/eval-gpu.json`: its eval table, the
params it ran with, its teacher's val metrics, and issue #20's targets judged on the table.

    python benchmarks/record_eval.py OUT NAME --device "one NVIDIA H100 80GB HBM3" --code SHA \
        --command "the run's command" --setting "what was run, in words" [--json benchmarks/results/eval-gpu.json]

OUT is the run's output folder: NAME.json (run_variants.py: settings, stage seconds, eval table, teacher metrics)
and NAME-params.yaml (the variant's params.yaml, which world_v2_scale_gpu.sh copies there). A target that needs the
fully supervised student reads "not measured" when the variant ran without it (distill.reference_full=false).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import yaml

from ws3dvg.engine.atomic import write_json

FULL_BAR, FINE_OVER_COARSE, WEAK_OVER_FULL = 0.75, 0.10, 0.75


def acc(table: dict, row: str, split: str) -> float | None:
    cell = table.get(row, {}).get(split)
    return None if cell is None else cell["acc@0.25"]


def targets(table: dict) -> dict[str, list]:
    """Issue #20's targets on an eval table (Acc@0.25): {target: [value(s), verdict]}, as eval-gpu.json keeps them
    (judged on the exact accuracies, shown to three decimals)."""
    r = lambda x: None if x is None else round(x, 3)  # noqa: E731
    verdict = lambda ok: "met" if ok else "missed"  # noqa: E731
    full = acc(table, "student_full_supervision", "overall")
    weak = acc(table, "student", "overall")
    fine, coarse = acc(table, "teacher_fine", "multiple"), acc(table, "coarse", "multiple")
    chance, weak_m = acc(table, "random_class", "multiple"), acc(table, "student", "multiple")
    out = {"1 full >= 0.75 overall": [r(full), "not measured" if full is None else verdict(full >= FULL_BAR)],
           "2a fine - coarse >= 0.10 on multiple": [r(fine - coarse), verdict(fine - coarse >= FINE_OVER_COARSE)],
           "2b coarse >= random of the class on multiple": [[r(coarse), r(chance)], verdict(coarse >= chance)],
           "3a weak >= fine on multiple": [r(weak_m - fine), verdict(weak_m >= fine)]}
    if full is None:
        out["3b weak >= 0.75 x full overall"] = [[r(weak), None], "not measured"]
    else:
        bar = WEAK_OVER_FULL * full
        out["3b weak >= 0.75 x full overall"] = [[r(weak), r(bar)], f"{verdict(weak >= bar)} ({weak / full:.3f}x)"]
    return out


def record(out_dir: Path, name: str, **meta) -> dict:
    """The eval-gpu.json of variant `name` of the run in `out_dir`, with `meta` (device, code, command, setting)."""
    run_file, params_file = out_dir / f"{name}.json", out_dir / f"{name}-params.yaml"
    for f in (run_file, params_file):
        if not f.exists():
            raise SystemExit(f"{f}: missing (the run's output folder holds NAME.json and NAME-params.yaml)")
    run = json.loads(run_file.read_text()).get(name)
    if run is None or "eval" not in run:
        raise SystemExit(f"{run_file}: no eval table for variant {name!r}")
    table = run["eval"]
    out = dict(table)
    out["params"] = yaml.safe_load(params_file.read_text())
    if "teacher" in run:
        out["teacher"] = run["teacher"]
    out["meta"] = {**meta, "date": meta.get("date") or datetime.date.today().isoformat(), "variant": name,
                   "settings": run.get("settings", {}), "stage_seconds": run.get("seconds", {}),
                   "issue_20_targets": targets(table)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("name")
    ap.add_argument("--device", required=True)
    ap.add_argument("--code", required=True, help="the commit the run's tree was")
    ap.add_argument("--command", required=True)
    ap.add_argument("--setting", required=True)
    ap.add_argument("--date")
    ap.add_argument("--json", default="benchmarks/results/eval-gpu.json")
    args = ap.parse_args()
    out = record(args.out_dir, args.name, device=args.device, code=args.code, command=args.command,
                 setting=args.setting, date=args.date)
    for target, (value, verdict) in out["meta"]["issue_20_targets"].items():
        print(f"{target:45s} {value}  {verdict}")
    write_json(args.json, out, indent=1)


if __name__ == "__main__":
    main()
