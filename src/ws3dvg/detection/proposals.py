"""The proposal cache format: written by `detection/cache.py`, read by grounding, evaluation and the CLI.

Layout of `<split>.h5`, one group per scene (P proposals; P = detector.num_proposal in
`detector` mode, the number of GT objects of the 18 classes in `gt` mode):
  center      (P, 3)    float32  box centre (aligned frame, metres)
  size        (P, 3)    float32  box size
  heading     (P,)      float32  0 (ScanNet boxes are axis-aligned)
  corners     (P, 8, 3) float32  ws3dvg.ops.geometry.box_corners order
  objectness  (P,)      float32  probability
  class_scores(P, 18)   float32  class probabilities (CLASSES18 order)
  class_logits(P, 18)   float32  the detector's class logits (gt mode: log of class_scores); the authors'
                                 coarse stage reads these
  features    (P, D)    float32  proposal feature (D = 288 for GroupFree-3D)
  seed_index  (P,)      int64    index into the preprocessed scene's points of the proposal's seed
  multiview   (P, 128)  float32  the ENet multiview feature at the seed point (when project_multiview ran)
  box_colour  (P, 3)    float32  mean colour (0..1) of the scene's points inside the box (not in `oracle` mode)
  gt_instance (P,)      int64    `gt` / `oracle` modes: the instance id (objectId + 1) each proposal is
attrs of the file: mode (gt | detector | oracle), feature_dim.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..engine.errors import DataError

# what grounding reads of a scene (the rest is for inspection and tests)
GROUNDING_FIELDS = ("center", "size", "corners", "objectness", "class_scores", "class_logits", "features",
                    "seed_index", "multiview", "box_colour")


def write_group(h5: h5py.File, scene: str, props: dict) -> None:
    g = h5.create_group(scene)
    for k in sorted(props):  # a fixed order: same inputs, same bytes
        g.create_dataset(k, data=props[k])


def read_proposals(path: str | Path, scenes: list[str], fields=None) -> dict[str, dict[str, np.ndarray]]:
    """{scene: {field: array}} for `scenes` (every field the file has, or those of `fields` it has)."""
    out = {}
    with h5py.File(path, "r") as h5:
        for s in scenes:
            if s not in h5:
                raise DataError(path, f"no proposals for scene {s!r} (rerun cache_detector?)")
            out[s] = {k: h5[s][k][()] for k in (fields or h5[s]) if k in h5[s]}
    return out


def cache_mode(path: str | Path) -> str:
    """gt, detector or oracle (files written before the attribute: gt)."""
    with h5py.File(path, "r") as h5:
        return str(h5.attrs.get("mode", "gt"))


def find_scene(paths, scene: str) -> Path | None:
    """The first existing cache file of `paths` that holds `scene`."""
    for path in map(Path, paths):
        if path.exists():
            with h5py.File(path, "r") as h5:
                if scene in h5:
                    return path
    return None
