"""Stage project_multiview: ENet features of the frames projected onto every preprocessed point."""

import time

from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.models.enet import load_enet
from ws3dvg.multiview.projection import project_all
from ws3dvg.scannet.preprocess import read_splits


def main() -> None:
    log = setup_logging("project_multiview")
    params = load_params()
    cfg, data = params["multiview"], params["data"]
    device = resolve_device(params["base"]["device"])
    model = load_enet(cfg["enet_weights"], device)
    scenes = [s for names in read_splits(data["preprocessed"]).values() for s in names]
    t0 = time.perf_counter()
    stats = project_all(model, data["frames"], data["preprocessed"], scenes, cfg, data["multiview"], device)
    stats["seconds_per_scene"] = (time.perf_counter() - t0) / max(len(scenes), 1)
    log.info("wrote %s: %s", data["multiview"], stats)


if __name__ == "__main__":
    run_stage(main)
