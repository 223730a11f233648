"""ScanNet raw scan -> axis-aligned points, per-point labels and per-instance boxes (HDF5).

HDF5 layout (one file for all scenes; root attrs `splits` = JSON {split: [scene ids]}):
  /<scene>/points       (N, 9) float32  x, y, z (aligned, metres), r, g, b (0..255), nx, ny, nz
  /<scene>/instance     (N,)   int32    objectId + 1 (ScanRefer convention), 0 = unannotated
  /<scene>/semantic     (N,)   int16    nyu40 id, 0 = unannotated
  /<scene>/boxes        (M, 8) float32  cx, cy, cz, dx, dy, dz, nyu40 id, instance id
  /<scene>/box_class18  (M,)   int16    index into CLASSES18, -1 for wall / floor / ceiling
  /<scene>/box_label    (M,)   str      raw category of the instance
  attrs: axis_alignment (4x4)
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np
from tqdm import tqdm

from ..engine.atomic import atomic_file
from ..engine.errors import DataError
from ..engine.parallel import process_pool
from ..ops.geometry import instance_boxes, transform_points, vertex_normals
from .io import read_aggregation, read_axis_alignment, read_mesh, read_segs, scan_paths
from .labels import LabelMap, nyu40_to_class18

log = logging.getLogger(__name__)


def process_scene(scans_dir: str | Path, scene: str, label_map: LabelMap,
                  missing_axis_alignment: str = "error", strict: bool = False) -> dict[str, np.ndarray]:
    """One scan's arrays. An object whose label the table does not know (after `LabelMap.resolve`)
    is left unannotated and listed in `skipped` as "objectId <id> label <label>"; with `strict`
    it stops the scene instead. A malformed file always stops it, naming the file."""
    paths = scan_paths(scans_dir, scene)
    if not paths["dir"].is_dir():
        raise DataError(paths["dir"], "scan folder not found", scene)
    mesh = read_mesh(paths["mesh"], scene)
    segs = read_segs(paths["segs"], scene)
    if len(segs) != len(mesh.vertices):
        raise DataError(paths["segs"], f"has {len(segs)} segment indices but the mesh "
                                       f"{paths['mesh'].name} has {len(mesh.vertices)} vertices", scene)
    groups = read_aggregation(paths["aggregation"], scene)
    align = read_axis_alignment(paths["meta"], scene, missing_axis_alignment)

    # segment id -> instance id (objectId + 1), vectorised through a sorted lookup table
    known_segs = np.unique(segs)
    seg_to_inst = np.zeros(len(known_segs), dtype=np.int32)
    nyu40_of_inst, skipped = {}, []
    for i, g in enumerate(groups):  # loop over annotated objects (tens), not points
        raw = label_map.resolve(g["label"])
        if raw is None:
            problem = (f"segGroups[{i}] (objectId {g['object_id']}) label {g['label']!r} is not in the "
                       f"label table {label_map.source}")
            if strict:
                raise DataError(paths["aggregation"], problem, scene)
            skipped.append(f"objectId {g['object_id']} label {g['label']!r}")
            continue
        seg = np.asarray(g["segments"], dtype=np.int64)
        pos = np.searchsorted(known_segs, seg).clip(max=len(known_segs) - 1)
        absent = seg[known_segs[pos] != seg]
        if absent.size:
            raise DataError(paths["aggregation"], f"segGroups[{i}] ({g['label']}) refers to segment(s) "
                                                  f"{absent[:5].tolist()} absent from {paths['segs'].name}",
                            scene)
        seg_to_inst[pos] = g["object_id"] + 1
        nyu40_of_inst[g["object_id"] + 1] = (label_map.nyu40(raw), raw)
    instance = seg_to_inst[np.searchsorted(known_segs, segs)]

    xyz = transform_points(mesh.vertices, align)
    normals = vertex_normals(xyz, mesh.faces)
    inst_lut = np.zeros(max(nyu40_of_inst, default=0) + 1, dtype=np.int16)
    for inst, (nyu, _) in nyu40_of_inst.items():
        inst_lut[inst] = nyu
    semantic = inst_lut[instance]

    ids, boxes6 = instance_boxes(xyz, instance)
    nyu = inst_lut[ids].astype(np.float32)
    boxes = np.concatenate([boxes6, nyu[:, None], ids[:, None].astype(np.float32)], axis=1)
    points = np.concatenate([xyz, mesh.colors.astype(np.float32), normals], axis=1).astype(np.float32)
    return {
        "points": points,
        "instance": instance.astype(np.int32),
        "semantic": semantic.astype(np.int16),
        "boxes": boxes.astype(np.float32),
        "box_class18": nyu40_to_class18(nyu.astype(np.int64)).astype(np.int16),
        "box_label": np.array([nyu40_of_inst[int(i)][1] for i in ids], dtype=object),
        "axis_alignment": align,
        "skipped": skipped,
    }


def _work(args):
    scans_dir, scene, label_map, missing, strict = args
    return scene, process_scene(scans_dir, scene, label_map, missing, strict)


def preprocess_scenes(scans_dir: str | Path, splits: dict[str, list[str]], label_map: LabelMap,
                      out_path: str | Path, workers: int = 1, missing_axis_alignment: str = "error",
                      strict: bool = False) -> dict:
    """Process every scene of `splits` (in parallel) and write one HDF5 file atomically.

    -> stats: scenes, points, instances, and `skipped_objects` (count) with `skipped` ({scene: [reasons]})
    for objects left unannotated because their label is unknown."""
    scenes = [s for names in splits.values() for s in names]
    jobs = [(str(scans_dir), s, label_map, missing_axis_alignment, strict) for s in scenes]
    stats: dict = {"scenes": 0, "points": 0, "instances": 0, "skipped_objects": 0, "skipped": {}}
    with atomic_file(out_path) as tmp, h5py.File(tmp, "w") as h5, contextlib.ExitStack() as stack:
        h5.attrs["splits"] = json.dumps(splits)
        results: Iterable
        if workers > 1 and len(jobs) > 1:
            results = stack.enter_context(process_pool(workers)).map(_work, jobs, chunksize=1)
        else:
            results = map(_work, jobs)
        for scene, arrays in tqdm(results, total=len(jobs), desc="preprocess", unit="scene"):
            write_scene(h5, scene, arrays)
            stats["scenes"] += 1
            stats["points"] += len(arrays["points"])
            stats["instances"] += len(arrays["boxes"])
            if arrays["skipped"]:
                log.warning("scene %s: skipped %d object(s) with a label not in %s: %s", scene,
                            len(arrays["skipped"]), label_map.source, "; ".join(arrays["skipped"]))
                stats["skipped"][scene] = arrays["skipped"]
                stats["skipped_objects"] += len(arrays["skipped"])
    return stats


def write_scene(h5: h5py.File, scene: str, arrays: dict) -> None:
    g = h5.create_group(scene)
    for key in ("points", "instance", "semantic", "boxes", "box_class18"):
        g.create_dataset(key, data=arrays[key], compression="gzip", compression_opts=1)
    g.create_dataset("box_label", data=arrays["box_label"].astype(str).tolist(), dtype=h5py.string_dtype())
    g.attrs["axis_alignment"] = arrays["axis_alignment"]


def read_scene(path: str | Path, scene: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        if scene not in h5:
            raise DataError(path, f"scene {scene!r} was not preprocessed")
        g = h5[scene]
        out = {k: g[k][()] for k in ("points", "instance", "semantic", "boxes", "box_class18")}
        out["box_label"] = np.array([s.decode() if isinstance(s, bytes) else s for s in g["box_label"][()]])
        out["axis_alignment"] = g.attrs["axis_alignment"]
    return out


def read_splits(path: str | Path) -> dict[str, list[str]]:
    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["splits"])
