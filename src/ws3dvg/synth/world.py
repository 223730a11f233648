"""Write a synthetic ScanNet in the real formats: scans, frames, label table, splits, ScanRefer, Sr3D.

Same params and seed -> byte-identical files (every random draw comes from a generator seeded
with (seed, scene index); JSON and CSV are written with fixed key order).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..engine.parallel import process_pool
from ..ops.geometry import transform_points
from ..scannet.io import (
    Mesh,
    write_aggregation,
    write_depth,
    write_label_image,
    write_matrix,
    write_mesh,
    write_meta,
    write_segs,
)
from ..scannet.labels import LABEL_TABLE_COLUMNS
from . import grammar, word_vectors
from .render import camera_poses, intrinsic_matrix, render, sample_surface
from .scene import build_mesh, layout_room, random_axis_alignment

# Rows of ScanNet's real label table for the categories the generator uses:
# (id, raw_category, category, nyu40id, nyu40class)
LABEL_ROWS = [
    (1, "wall", "wall", 1, "wall"), (3, "floor", "floor", 2, "floor"), (2, "chair", "chair", 5, "chair"),
    (10, "office chair", "office chair", 5, "chair"), (23, "armchair", "armchair", 5, "chair"),
    (4, "table", "table", 7, "table"), (24, "coffee table", "coffee table", 7, "table"),
    (45, "dining table", "dining table", 7, "table"), (9, "desk", "desk", 14, "desk"), (11, "bed", "bed", 4, "bed"),
    (1313, "sofa", "sofa", 6, "sofa"), (6, "couch", "couch", 6, "sofa"), (7, "cabinet", "cabinet", 3, "cabinet"),
    (29, "kitchen cabinets", "kitchen cabinet", 3, "cabinet"), (75, "file cabinet", "file cabinet", 3, "cabinet"),
    (18, "bookshelf", "bookshelf", 10, "bookshelf"), (35, "counter", "counter", 12, "counter"),
    (159, "kitchen counter", "kitchen counter", 12, "counter"),
    (27, "refrigerator", "refrigerator", 24, "refrigerator"), (17, "toilet", "toilet", 33, "toilet"),
    (14, "sink", "sink", 34, "sink"), (42, "bathtub", "bathtub", 36, "bathtub"),
    (56, "trash can", "trash can", 39, "otherfurniture"), (5, "door", "door", 8, "door"),
    (16, "window", "window", 9, "window"), (15, "picture", "picture", 11, "picture"),
    (21, "curtain", "curtain", 16, "curtain"), (55, "shower curtain", "shower curtain", 28, "shower curtain"),
    (26, "box", "box", 29, "box"), (28, "lamp", "lamp", 35, "lamp"), (19, "monitor", "monitor", 40, "otherprop"),
]
OBJECT_COLUMNS = ["scene_id", "object_id", "name", "colour", "shape", "material", "scale"]
DESCRIPTION_COLUMNS = ["scene_id", "object_id", "ann_id", "decided_by", "attribute_only"]
SR3D_COLUMNS = ["scan_id", "target_id", "distractor_ids", "utterance", "stimulus_id", "coarse_reference_type",
                "reference_type", "instance_type", "anchors_types", "anchor_ids", "tokens"]


def label_table() -> pd.DataFrame:
    rows = []
    for i, (lid, raw, cat, nyu, nyucls) in enumerate(LABEL_ROWS):
        row = dict.fromkeys(LABEL_TABLE_COLUMNS, "")
        row.update(id=lid, raw_category=raw, category=cat, count=1000 - i, nyu40id=nyu, nyuClass=nyucls,
                   nyu40class=nyucls)
        rows.append(row)
    return pd.DataFrame(rows, columns=LABEL_TABLE_COLUMNS)


def scene_name(i: int) -> str:
    return f"scene{i:04d}_00"


def write_scene(root: Path, index: int, cfg: dict, seed: int, label_ids: dict[str, int]) -> dict:
    scene = scene_name(index)
    rng = np.random.default_rng([seed, index])
    room = layout_room(rng, cfg)
    mesh = build_mesh(room, rng, cfg["mesh_resolution"])
    align = random_axis_alignment(rng)
    to_raw = np.linalg.inv(align)

    d = root / "scans" / scene
    d.mkdir(parents=True)
    write_mesh(d / f"{scene}_vh_clean_2.ply", Mesh(transform_points(mesh.vertices, to_raw), mesh.colors, mesh.faces))
    write_segs(d / f"{scene}_vh_clean_2.0.010000.segs.json", scene, mesh.segments)
    owned: dict[int, list[int]] = {}
    for seg, obj in mesh.object_of_segment.items():
        owned.setdefault(obj, []).append(seg)
    write_aggregation(d / f"{scene}.aggregation.json", scene,
                      [{"object_id": o.object_id, "label": o.name, "segments": sorted(owned[o.object_id])}
                       for o in room.objects])
    w, h = cfg["image_size"]
    k = intrinsic_matrix(w, h)
    write_meta(d / f"{scene}.txt", align, {
        "colorHeight": str(h), "colorWidth": str(w), "depthHeight": str(h), "depthWidth": str(w),
        "fx_depth": f"{k[0, 0]:.6f}", "fy_depth": f"{k[1, 1]:.6f}", "mx_depth": f"{k[0, 2]:.6f}",
        "my_depth": f"{k[1, 2]:.6f}", "numColorFrames": str(cfg["frames_per_scene"]),
        "numDepthFrames": str(cfg["frames_per_scene"]), "sceneType": "Synthetic"})

    _write_frames(root / "frames" / scene, room, mesh, to_raw, k, w, h, cfg, rng, label_ids)
    rows, sr3d, stats = grammar.room_descriptions(room, rng, cfg)
    for r in rows:
        r["scene_id"] = scene
    for r in sr3d:
        r["scan_id"] = scene
        r["stimulus_id"] = r["stimulus_id"].format(scene=scene)
    objects = [{"scene_id": scene, "object_id": o.object_id, "name": o.name, "colour": o.color, "shape": o.shape,
                "material": o.material, "scale": round(o.scale, 4)} for o in room.objects if o.color]
    return {"scene": scene, "scanrefer": rows, "sr3d": sr3d, "stats": stats, "objects": objects,
            "n_vertices": int(len(mesh.vertices))}


def _write_frames(fdir: Path, room, mesh, to_raw, k, w, h, cfg, rng, label_ids) -> None:
    from PIL import Image

    for sub in ("color", "depth", "pose", "label", "intrinsic"):
        (fdir / sub).mkdir(parents=True)
    obj_label = np.array([label_ids[o.name] for o in room.objects], dtype=np.int64)
    seg_keys = np.array(sorted(mesh.object_of_segment), dtype=np.int64)
    seg_obj = np.array([mesh.object_of_segment[s] for s in seg_keys], dtype=np.int64)
    vert_obj = seg_obj[np.searchsorted(seg_keys, mesh.segments)]
    values = np.concatenate([mesh.colors.astype(np.int64), obj_label[vert_obj][:, None]], axis=1)
    spacing = 2.4 / w  # about one sample per pixel at 1.5 m
    pts, vals = sample_surface(mesh.vertices, mesh.faces, values, spacing, rng)
    write_matrix(fdir / "intrinsic" / "intrinsic_depth.txt", k)
    write_matrix(fdir / "intrinsic" / "intrinsic_color.txt", k)
    write_matrix(fdir / "intrinsic" / "extrinsic_depth.txt", np.eye(4))
    write_matrix(fdir / "intrinsic" / "extrinsic_color.txt", np.eye(4))
    for i, pose in enumerate(camera_poses(room.width, room.depth, cfg["frames_per_scene"], rng)):
        depth, img = render(pts, vals, pose, k, w, h)
        buf = io.BytesIO()
        Image.fromarray(img[..., :3].astype(np.uint8)).save(buf, format="JPEG", quality=92)
        (fdir / "color" / f"{i}.jpg").write_bytes(buf.getvalue())
        write_depth(fdir / "depth" / f"{i}.png", depth)
        write_label_image(fdir / "label" / f"{i}.png", img[..., 3])
        write_matrix(fdir / "pose" / f"{i}.txt", to_raw @ pose)


def _write_scene_job(args):
    return write_scene(*args)


def _map(job, jobs: list, workers: int, desc: str, unit: str, chunksize: int = 1) -> list:
    """[job(j) for j in jobs], by `workers` spawned processes when there are several of both, in order."""
    if workers > 1 and len(jobs) > 1:
        with process_pool(workers) as pool:
            return list(tqdm(pool.map(job, jobs, chunksize=chunksize), total=len(jobs), desc=desc, unit=unit))
    return [job(j) for j in tqdm(jobs, desc=desc, unit=unit)]


def synthesize(root: str | Path, cfg: dict, seed: int, workers: int = 1) -> dict:
    """Write the whole synthetic dataset under `root` (which should be empty)."""
    root = Path(root)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    table = label_table()
    table.to_csv(root / "meta" / "scannetv2-labels.combined.tsv", sep="\t", index=False, lineterminator="\n")
    label_ids = dict(zip(table["raw_category"], table["id"].astype(int)))

    n = cfg["n_scenes"]
    n_val = max(1, int(round(n * cfg["val_fraction"])))
    split_of = {scene_name(i): ("train" if i < n - n_val else "val") for i in range(n)}
    # scenes are independent (each has its own generator), so workers do not change a byte
    results = _map(_write_scene_job, [(root, i, cfg, seed, label_ids) for i in range(n)], workers, "synthesize",
                   "scene")

    for split in ("train", "val"):
        names = [s for s, sp in split_of.items() if sp == split]
        (root / "meta" / f"scannetv2_{split}.txt").write_text("\n".join(names) + "\n")
        rows = [{"scene_id": r["scene_id"], "object_id": str(r["object_id"]), "object_name": r["object_name"],
                 "ann_id": str(r["ann_id"]), "description": r["description"], "token": r["token"]}
                for res in results if split_of[res["scene"]] == split for r in res["scanrefer"]]
        (root / "scanrefer").mkdir(exist_ok=True)
        with open(root / "scanrefer" / f"ScanRefer_filtered_{split}.json", "w") as f:
            json.dump(rows, f, indent=1)
    if cfg.get("world", 1) >= 2:  # the generator's truth about objects and descriptions, for probes and diagnostics
        pd.DataFrame([o for res in results for o in res["objects"]], columns=OBJECT_COLUMNS).to_csv(
            root / "meta" / "synth_objects.csv", index=False, lineterminator="\n")
        pd.DataFrame([{"scene_id": res["scene"], **{k: r[k] for k in DESCRIPTION_COLUMNS[1:]}}
                      for res in results for r in res["scanrefer"]], columns=DESCRIPTION_COLUMNS).to_csv(
            root / "meta" / "synth_descriptions.csv", index=False, lineterminator="\n")
    vector_stats = _write_word_vectors(root, cfg, seed, workers) if cfg.get("word_vectors", {}).get("rooms") else {}
    (root / "referit3d").mkdir(exist_ok=True)
    sr3d = pd.DataFrame([r for res in results for r in res["sr3d"]], columns=SR3D_COLUMNS)
    sr3d.to_csv(root / "referit3d" / "sr3d.csv", index=False, lineterminator="\n")
    return {"scenes": n, "val_scenes": n_val,
            "descriptions": sum(len(r["scanrefer"]) for r in results),
            "sr3d_utterances": len(sr3d),
            "skipped_targets": sum(r["stats"]["skipped_targets"] for r in results),
            **({"attribute_only_share_of_multiple": sum(r["stats"]["attribute_only_rows"] for r in results)
                / max(1, sum(r["stats"]["multiple_rows"] for r in results))} if cfg.get("world", 1) >= 2 else {}),
            "mean_vertices": float(np.mean([r["n_vertices"] for r in results])), **vector_stats}


def _corpus_job(args):
    return word_vectors.corpus_room(*args)


def _write_word_vectors(root: Path, cfg: dict, seed: int, workers: int) -> dict:
    """glove/word_vectors.txt: the world's own GloVe, from the descriptions of `word_vectors.rooms` rooms that
    are not the dataset's (synth/word_vectors.py says why and how)."""
    wv = cfg["word_vectors"]
    rooms = _map(_corpus_job, [(cfg, seed, i) for i in range(wv["rooms"])], workers, "word vectors", "room",
                 chunksize=16)
    sentences = [s for room in rooms for s in room]
    words, counts = word_vectors.cooccurrence(sentences, wv["window"])
    (root / "glove").mkdir(exist_ok=True)
    word_vectors.write_glove_text(root / "glove" / "word_vectors.txt", words,
                                  word_vectors.ppmi_svd(counts, wv["dim"]))
    return {"word_vector_sentences": len(sentences), "word_vector_words": len(words)}
