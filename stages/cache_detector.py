"""Stage cache_detector: run the frozen detector once over every scene of every split."""

from pathlib import Path

from ws3dvg.detection.cache import write_cache
from ws3dvg.detection.data import input_dim
from ws3dvg.detection.train import model_set, scene_set
from ws3dvg.engine import artifacts
from ws3dvg.engine.config import load_params, resolve_device, run_stage, setup_logging
from ws3dvg.engine.errors import ParamsError
from ws3dvg.engine.training import load_weights
from ws3dvg.models.detector import build_detector
from ws3dvg.scannet.preprocess import read_splits


def main() -> None:
    log = setup_logging("cache_detector")
    params = load_params()
    cfg, data, mode = params["detector"], params["data"], params["proposals"]["mode"]
    device = resolve_device(params["base"]["device"])
    if mode == "detector" and cfg["model"] == "objects":
        raise ParamsError("params.yaml: proposals.mode: detector needs a detector that finds boxes (detector.model "
                          "groupfree or votenet); the object encoder (objects) encodes given ones (mode gt)")
    model = None
    if mode != "oracle":  # the oracle needs no detector
        model = build_detector(cfg, input_dim(cfg)).to(device)
        model.load_state_dict(load_weights(artifacts.DETECTOR_WEIGHTS, device)["model"])
        model.eval()
    mv = data["multiview"] if "multiview" in cfg["input_features"] else None
    # each proposal carries the multiview feature at its seed, so grounding never reads the per-point file
    mv_out = data["multiview"] if Path(data["multiview"]).exists() else None
    Path(artifacts.PROPOSALS).mkdir(parents=True, exist_ok=True)
    workers = params["runtime"]["workers"]  # processes that decompress the multiview tables
    for split, scenes in read_splits(data["preprocessed"]).items():
        # the oracle reads only the scenes' points and boxes
        ds = model_set(cfg, data["preprocessed"], scenes, False, 0, mv, workers) if model is not None else \
            scene_set(dict(cfg, input_features=[]), data["preprocessed"], scenes, False, 0, None)
        stats = write_cache(model, ds, cfg, mode, artifacts.proposals(split), device, mv_out, workers)
        log.info("%s: %s", split, stats)


if __name__ == "__main__":
    run_stage(main)
