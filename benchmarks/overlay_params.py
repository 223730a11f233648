"""Print params.yaml with overlays merged in (nested keys replace, everything else stays), validated.

    python benchmarks/overlay_params.py benchmarks/params-gpu.yaml [more.yaml ...] [--set teacher.variant=paper ...] > params.yaml

Settings such as the GPU setting or an ablation are kept as small overlays, so they never go stale when
params.yaml grows a key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ws3dvg.engine.config import validate_params  # noqa: E402


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("overlays", nargs="*", type=Path)
    ap.add_argument("--base", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--set", action="append", default=[], help="dotted.key=yaml_value")
    args = ap.parse_args()
    params = yaml.safe_load(args.base.read_text())
    for path in args.overlays:
        params = merge(params, yaml.safe_load(path.read_text()) or {})
    for item in args.set:
        key, value = item.split("=", 1)
        over: dict = {}
        node = over
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value)
        params = merge(params, over)
    validate_params(params, "overlay")
    sys.stdout.write(yaml.safe_dump(params, sort_keys=False))


if __name__ == "__main__":
    main()
