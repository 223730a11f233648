"""The masked language table: per split, encoded tokens, keyword masks and the flags evaluation needs.

HDF5 layout (`masked.h5`), one group per split (`train`, `val`):
  ids       (N, L) int32   vocabulary ids (L = max_len + 2 with sos/eos)
  mask      (N, L) int8    0 keep, 1 keyword, 2 padding
  length    (N,)   int64
  object_id (N,)   int64   ScanNet objectId of the target (evaluation only; training never reads it)
  class18   (N,)   int64   target class from object_name
  unique    (N,)   bool     n_same_class == 1
  n_same_class (N,) int64  the benchmark's same-class count (text/annotations.py: ScanRefer's annotated objects
                           of the target's class, ReferIt3D's target + distractors)
  hard, view_dep (N,) int8  ReferIt3D flags, -1 for ScanRefer
  scene_id, ann_id, object_name, description, stimulus_id (N,) str  (stimulus_id "" for ScanRefer)
attrs: max_len, sos_eos, dataset. The vocabulary is `vocab.json` beside it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..engine.atomic import atomic_file
from .audit import masker_report
from .vocab import KEYWORD, PADDING, Vocabulary, encode_batch

STR_FIELDS = ("scene_id", "ann_id", "object_name", "description", "stimulus_id")


def mask_table(table: pd.DataFrame, tagger, min_count: int, max_len: int, sos_eos: bool):
    """-> ({split: arrays}, vocabulary, stats). The vocabulary comes from the training split only."""
    keywords = [tagger.keywords(t) for t in table["tokens"]]
    train = table["split"] == "train"
    vocab = Vocabulary.build(table.loc[train, "tokens"], min_count)
    out, stats = {}, {"vocab_size": len(vocab)}
    for split in ("train", "val"):
        sel = np.flatnonzero((table["split"] == split).to_numpy())
        sub = table.iloc[sel]
        ids, mask, length = encode_batch(list(sub["tokens"]), [keywords[i] for i in sel], vocab, max_len, sos_eos)
        arrays = {"ids": ids, "mask": mask, "length": length,
                  "object_id": sub["object_id"].to_numpy(np.int64), "class18": sub["class18"].to_numpy(np.int64),
                  "unique": sub["unique"].to_numpy(bool), "n_same_class": sub["n_same_class"].to_numpy(np.int64),
                  "hard": sub["hard"].to_numpy(np.int8),
                  "view_dep": sub["view_dep"].to_numpy(np.int8)}
        for f in STR_FIELDS:
            arrays[f] = sub[f].astype(str).to_numpy()
        out[split] = arrays
        n_kw = (mask == KEYWORD).sum(1)
        real = (mask != PADDING).sum(1)
        stats[split] = {
            "descriptions": int(len(sel)),
            "with_keyword_share": float((n_kw > 0).mean()) if len(sel) else 0.0,
            "keywords_per_description": float(n_kw.mean()) if len(sel) else 0.0,
            "tokens_per_description": float(real.mean()) if len(sel) else 0.0,
            # anchor nouns after a preposition that the tagger marked (text/audit.py says how they are found)
            "anchor_marked_share": masker_report(list(sub["tokens"]), tagger)["anchor_marked_share"],
            "unk_share": float((ids == vocab.index["unk"]).sum() / max(real.sum(), 1)),
            "multiple_share": float((~arrays["unique"]).mean()) if len(sel) else 0.0,
            # chance that a uniformly random object of the target's class is the target, on "multiple"
            # (the benchmark's own: ScanRefer's annotated objects, ReferIt3D's target + distractors)
            "random_same_class_guess_multiple": float((1.0 / arrays["n_same_class"][~arrays["unique"]]).mean())
            if (~arrays["unique"]).any() else 0.0,
        }
    return out, vocab, stats


def write_masked(path: str | Path, arrays: dict[str, dict], attrs: dict) -> None:
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as h5:
        for k, v in attrs.items():
            h5.attrs[k] = v
        for split, arr in arrays.items():
            g = h5.create_group(split)
            for k, v in arr.items():
                if k in STR_FIELDS:
                    g.create_dataset(k, data=v.astype(str).tolist(), dtype=h5py.string_dtype())
                else:
                    g.create_dataset(k, data=v)


def read_masked(path: str | Path, split: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        g = h5[split]
        out = {k: g[k][()] for k in g}
    for f in STR_FIELDS:
        if f in out:  # stimulus_id is absent from files written before it was stored
            out[f] = np.array([s.decode() if isinstance(s, bytes) else s for s in out[f]])
    return out
