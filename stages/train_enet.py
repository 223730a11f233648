"""Stage train_enet: ENet on the frames' label images (only where no released ENet weights are used)."""

from pathlib import Path

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import atomic_file, write_json
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.multiview.enet_training import train_enet
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import read_splits


def main() -> None:
    import torch

    log = setup_logging("train_enet")
    params = load_params()
    data = params["data"]
    device = resolve_device(params["base"]["device"])
    model, result = train_enet(params["enet"], data["frames"], read_splits(data["preprocessed"]),
                               LabelMap.read(data["label_map"]), device, params["base"]["seed"],
                               workers=params["runtime"]["loader_workers"])
    Path(artifacts.ENET).mkdir(parents=True, exist_ok=True)
    with atomic_file(artifacts.ENET_WEIGHTS) as tmp:
        torch.save(model.state_dict(), tmp)  # the released layout: a plain state dict
    write_json(artifacts.metrics("enet"), result)
    log.info("%s", result)


if __name__ == "__main__":
    run_stage(main)
