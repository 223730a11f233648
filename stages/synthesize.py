"""Stage synthesize: write the embedded synthetic ScanNet (scans, frames, meta, ScanRefer, Sr3D)."""

import json

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import atomic_dir
from ws3dvg.engine.config import load_params, run_stage, setup_logging
from ws3dvg.synth.world import synthesize


def main(out_dir: str = artifacts.SYNTHETIC) -> None:
    log = setup_logging("synthesize")
    params = load_params()
    with atomic_dir(out_dir) as tmp:
        stats = synthesize(tmp, params["synth"], params["base"]["seed"], params["runtime"]["workers"])
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("wrote %s: %s", out_dir, stats)


if __name__ == "__main__":
    run_stage(main)
