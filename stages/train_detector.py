"""Stage train_detector: train the detector with box labels (or evaluate a pretrained one).

Several GPUs: `torchrun --nproc_per_node N -m stages.train_detector` (engine/distributed.py); each rank trains
on its part of every global batch of `detector.batch_size`, rank 0 alone writes.
"""


import logging

from ws3dvg.detection.checkpoints import load_pretrained
from ws3dvg.detection.data import input_dim
from ws3dvg.detection.train import evaluate_model, mean_sizes, model_set, save_detector, train_detector
from ws3dvg.engine import artifacts, distributed
from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.models.detector import build_detector
from ws3dvg.scannet.preprocess import read_splits


def main() -> None:
    log = setup_logging("train_detector")
    params = load_params()
    cfg, data = params["detector"], params["data"]
    ctx, device = distributed.init(resolve_device(params["base"]["device"]))
    if not ctx.is_main:  # rank 0 speaks for the run
        logging.getLogger().setLevel(logging.WARNING)
    splits = read_splits(data["preprocessed"])
    mv = data["multiview"] if "multiview" in cfg["input_features"] else None
    if cfg["pretrained"]:
        sizes = mean_sizes(cfg, data["preprocessed"], splits["train"])
        model = build_detector(cfg, input_dim(cfg), sizes).to(device)
        load_pretrained(model, cfg["pretrained"], cfg["model"])
        val_set = model_set(cfg, data["preprocessed"], splits["val"], False, 0, mv, params["runtime"]["workers"])
        result = evaluate_model(model, val_set, cfg, device)
    else:
        out = train_detector(cfg, data["preprocessed"], splits, artifacts.DETECTOR, artifacts.curves("detector"), device, params["base"]["seed"], mv,
                             params["runtime"]["loader_workers"], params["runtime"]["checkpoint_every_s"],
                             params["runtime"]["workers"], params["runtime"]["step"])
        model, result = out["model"], out["metrics"]
    if ctx.is_main:
        save_detector(artifacts.DETECTOR_WEIGHTS, model, cfg)
        write_json(artifacts.metrics("detector"), {k: v for k, v in result.items()})
        log.info("val mAP@0.25 %.3f  mAP@0.5 %.3f%s", result["mAP@0.25"], result["mAP@0.5"],
                 f"  class accuracy {result['accuracy']:.3f}" if "accuracy" in result else "")
    distributed.shutdown()


if __name__ == "__main__":
    run_stage(main)
