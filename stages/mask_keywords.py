"""Stage mask_keywords: annotations -> tokens, keyword masks, vocabulary, unique/multiple flags."""

import json
import time
from pathlib import Path

import pandas as pd

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import atomic_file, write_json
from ws3dvg.engine.config import load_params, run_stage, setup_logging
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import read_splits
from ws3dvg.text.annotations import build_table, read_referit3d, read_scanrefer, scene_classes_from_h5
from ws3dvg.text.masking import mask_table, write_masked
from ws3dvg.text.tagger import make_tagger


def main() -> None:
    log = setup_logging("mask_keywords")
    start = time.perf_counter()
    params = load_params()
    data, cfg = params["data"], params["language"]
    labels = LabelMap.read(data["label_map"])
    if cfg["dataset"] == "scanrefer":
        raw = pd.concat([read_scanrefer(Path(data["scanrefer"]) / f"ScanRefer_filtered_{s}.json", s)
                         for s in ("train", "val")], ignore_index=True)
    else:
        raw = read_referit3d(data["referit3d"], read_splits(data["preprocessed"]), cfg["referit3d_filter"])
    table, report = build_table(raw, scene_classes_from_h5(data["preprocessed"]), labels, strict=cfg["strict"])
    tagger = make_tagger(cfg["tagger"], labels.table["raw_category"], cfg["spacy_model"], cfg["keyword_fallback"],
                         cfg["keyword_adjectives"], cfg["keyword_comparisons"])
    arrays, vocab, stats = mask_table(table, tagger, cfg["min_count"], cfg["max_len"], cfg["sos_eos"])
    Path(artifacts.LANGUAGE).mkdir(parents=True, exist_ok=True)
    write_masked(artifacts.MASKED, arrays,
                 {"max_len": cfg["max_len"], "sos_eos": cfg["sos_eos"], "dataset": cfg["dataset"]})
    with atomic_file(Path(artifacts.LANGUAGE) / "vocab.json") as tmp:
        vocab.save(tmp)
    stats.update(report=report.summary())
    write_json(artifacts.metrics("language"), stats)  # no wall times in metrics: same inputs, same bytes
    log.info("%s (%.2f s)", json.dumps(stats), time.perf_counter() - start)


if __name__ == "__main__":
    run_stage(main)
