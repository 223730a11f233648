"""Stage preprocess: ScanNet scans -> aligned points, labels and boxes in one HDF5 file."""

from pathlib import Path

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, run_stage, setup_logging
from ws3dvg.scannet.io import read_split
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import preprocess_scenes


def main() -> None:
    log = setup_logging("preprocess")
    params = load_params()
    data, cfg = params["data"], params["preprocess"]
    splits = {s: read_split(Path(data["splits"]) / f"scannetv2_{s}.txt") for s in ("train", "val")}
    stats = preprocess_scenes(data["scans"], splits, LabelMap.read(data["label_map"]), data["preprocessed"],
                              workers=params["runtime"]["workers"], missing_axis_alignment=cfg["missing_axis_alignment"],
                              strict=cfg["strict"])
    write_json(artifacts.metrics("preprocess"), stats)
    log.info("wrote %s: %d scenes, %d points, %d instances, %d objects skipped", data["preprocessed"],
             stats["scenes"], stats["points"], stats["instances"], stats["skipped_objects"])


if __name__ == "__main__":
    run_stage(main)
