"""Readers and writers for ScanNet v2's raw scan formats.

Per scene folder `scans/<id>/`:
  <id>_vh_clean_2.ply                  binary PLY mesh: vertex x,y,z,red,green,blue,alpha; faces
  <id>_vh_clean_2.0.010000.segs.json   {"segIndices": [segment id per vertex], ...}
  <id>.aggregation.json                {"segGroups": [{"objectId", "label", "segments"}, ...]}
                                       (or <id>_vh_clean.aggregation.json)
  <id>.txt                             meta; `axisAlignment = 16 floats` (row-major 4x4)
Frames (SensReader export): <id>/color/<i>.jpg, depth/<i>.png (uint16 mm), pose/<i>.txt
(camera-to-world 4x4, raw mesh frame), label/<i>.png (uint16 ScanNet label ids),
intrinsic/intrinsic_depth.txt (4x4).
Every reader raises DataError naming the scene, the file and the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.errors import DataError


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float32
    colors: np.ndarray    # (V, 3) uint8
    faces: np.ndarray     # (F, 3) int64


def scan_paths(scans_dir: str | Path, scene: str) -> dict[str, Path]:
    d = Path(scans_dir) / scene
    agg = d / f"{scene}.aggregation.json"
    if not agg.exists() and (d / f"{scene}_vh_clean.aggregation.json").exists():
        agg = d / f"{scene}_vh_clean.aggregation.json"
    return {
        "dir": d,
        "mesh": d / f"{scene}_vh_clean_2.ply",
        "segs": d / f"{scene}_vh_clean_2.0.010000.segs.json",
        "aggregation": agg,
        "meta": d / f"{scene}.txt",
    }


# ---------------------------------------------------------------- mesh (PLY)

def read_mesh(path: str | Path, scene: str | None = None) -> Mesh:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "mesh file not found", scene)
    try:
        ply = _read_ply(path)
        v = ply["vertex"].data
        xyz = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float32)
        rgb = np.stack([v["red"], v["green"], v["blue"]], axis=1).astype(np.uint8)
        faces = np.empty((0, 3), dtype=np.int64)
        if "face" in ply:
            fl = ply["face"].data["vertex_indices"]
            if fl.ndim == 2:  # read as triangles: already (F, 3)
                faces = fl.astype(np.int64)
            elif len(fl):     # one array per face (the general reader)
                faces = np.stack(fl).astype(np.int64)
    except DataError:
        raise
    except (KeyError, ValueError) as exc:
        raise DataError(path, f"PLY lacks vertex x,y,z,red,green,blue or faces ({exc})", scene) from exc
    except Exception as exc:  # plyfile raises PlyParseError / EOF-related errors on truncation
        raise DataError(path, f"unreadable or truncated PLY ({type(exc).__name__}: {exc})", scene) from exc
    if faces.size and (faces.min() < 0 or faces.max() >= len(xyz)):
        raise DataError(path, f"face index out of range (mesh has {len(xyz)} vertices)", scene)
    return Mesh(xyz, rgb, faces)


def _read_ply(path: Path):
    """ScanNet's faces are triangles: told so, plyfile maps the file and reads each element in one go (a real
    scan in milliseconds instead of 1.5 s). Other face sizes, or a damaged file, go through its general reader,
    which reads any PLY and says what is wrong with a bad one."""
    from plyfile import PlyData

    try:
        return PlyData.read(str(path), known_list_len={"face": {"vertex_indices": 3}})
    except Exception:
        return PlyData.read(str(path))


def write_mesh(path: str | Path, mesh: Mesh) -> None:
    """Binary little-endian PLY as ScanNet ships it (alpha channel included). plyfile writes the header; each
    element is written as one array, in the same bytes as plyfile's row-by-row writer (per face a uchar count of
    3, then three int32), which takes about a second for a scan of ScanNet's size."""
    from plyfile import PlyData, PlyElement, PlyListProperty

    n = len(mesh.vertices)
    vert = np.empty(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                              ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("alpha", "u1")])
    vert["x"], vert["y"], vert["z"] = mesh.vertices.T.astype(np.float32)
    vert["red"], vert["green"], vert["blue"] = mesh.colors.T
    vert["alpha"] = 255
    face = np.empty(len(mesh.faces), dtype=[("count", "u1"), ("vertex_indices", "<i4", (3,))])
    face["count"] = 3
    face["vertex_indices"] = mesh.faces.astype(np.int32)
    faces = PlyElement("face", [PlyListProperty("vertex_indices", "u1", "i4")], len(face))
    header = PlyData([PlyElement.describe(vert, "vertex"), faces], text=False, byte_order="<").header
    with open(path, "wb") as f:
        f.write(header.encode("ascii") + b"\n")
        f.write(vert.tobytes())
        f.write(face.tobytes())


# ---------------------------------------------------------------- segments and aggregation

def _read_json(path: Path, what: str, scene: str | None):
    if not path.exists():
        raise DataError(path, f"{what} file not found", scene)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc})", scene) from exc


def read_segs(path: str | Path, scene: str | None = None) -> np.ndarray:
    path = Path(path)
    data = _read_json(path, "segments", scene)
    if not isinstance(data, dict) or "segIndices" not in data:
        raise DataError(path, "no 'segIndices' list", scene)
    return np.asarray(data["segIndices"], dtype=np.int64)


def write_segs(path: str | Path, scene: str, seg_indices: np.ndarray) -> None:
    with open(path, "w") as f:
        json.dump({"params": {"kThresh": "0.0001", "segMinVerts": "20", "minPoints": "750",
                              "maxPoints": "5000", "thinThresh": "0.05", "flatThresh": "0.001",
                              "minLength": "0.02", "maxLength": "1"},
                   "sceneId": f"{scene}_vh_clean_2", "segIndices": [int(s) for s in seg_indices]}, f)


def read_aggregation(path: str | Path, scene: str | None = None) -> list[dict]:
    """-> list of {object_id, label, segments} in file order."""
    path = Path(path)
    data = _read_json(path, "aggregation", scene)
    groups = data.get("segGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise DataError(path, "no 'segGroups' list", scene)
    out = []
    for i, g in enumerate(groups):
        try:
            out.append({"object_id": int(g["objectId"]), "label": str(g["label"]),
                        "segments": [int(s) for s in g["segments"]]})
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(path, f"segGroups[{i}] lacks objectId/label/segments ({exc})", scene) from exc
    return out


def write_aggregation(path: str | Path, scene: str, groups: list[dict]) -> None:
    seg_groups = [{"id": g["object_id"], "objectId": g["object_id"], "segments": list(map(int, g["segments"])),
                   "label": g["label"]} for g in groups]
    with open(path, "w") as f:
        json.dump({"sceneId": f"scannet.{scene}", "appId": "Aggregator.v2",
                   "segGroups": seg_groups, "segmentsFile": f"scannet.{scene}_vh_clean_2.0.010000.segs.json"},
                  f)


# ---------------------------------------------------------------- meta (.txt)

def read_meta(path: str | Path, scene: str | None = None) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "meta file not found", scene)
    meta = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k.strip()] = v.strip()
    return meta


def read_axis_alignment(path: str | Path, scene: str | None = None, missing: str = "error") -> np.ndarray:
    """The 4x4 matrix that maps raw mesh coordinates to the axis-aligned frame."""
    path = Path(path)
    meta = read_meta(path, scene)
    if "axisAlignment" not in meta:
        if missing == "identity":
            return np.eye(4, dtype=np.float64)
        raise DataError(path, "no 'axisAlignment' line (set preprocess.missing_axis_alignment: "
                              "identity for scans that have none, e.g. ScanNet's test split)", scene)
    try:
        vals = np.array([float(x) for x in meta["axisAlignment"].split()], dtype=np.float64)
    except ValueError as exc:
        raise DataError(path, f"axisAlignment is not 16 numbers ({exc})", scene) from exc
    if vals.size != 16:
        raise DataError(path, f"axisAlignment has {vals.size} numbers, expected 16", scene)
    return vals.reshape(4, 4)


def write_meta(path: str | Path, axis_alignment: np.ndarray, extra: dict[str, str] | None = None) -> None:
    lines = [f"axisAlignment = {' '.join(f'{x:.9g}' for x in np.asarray(axis_alignment).reshape(-1))}"]
    for k, v in (extra or {}).items():
        lines.append(f"{k} = {v}")
    Path(path).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- frames

def read_matrix(path: str | Path, scene: str | None = None, what: str = "matrix") -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DataError(path, f"{what} file not found", scene)
    try:
        m = np.loadtxt(path, dtype=np.float64)
    except ValueError as exc:
        raise DataError(path, f"{what} is not numeric ({exc})", scene) from exc
    if m.shape != (4, 4):
        raise DataError(path, f"{what} has shape {m.shape}, expected 4x4", scene)
    return m


def write_matrix(path: str | Path, m: np.ndarray) -> None:
    np.savetxt(path, np.asarray(m, dtype=np.float64).reshape(4, 4), fmt="%.9f")


def read_depth(path: str | Path, scene: str | None = None) -> np.ndarray:
    """uint16 millimetres -> float32 metres."""
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise DataError(path, "depth image not found", scene)
    img = Image.open(path)
    arr = np.asarray(img)
    if arr.dtype not in (np.uint16, np.int32) or arr.ndim != 2:
        raise DataError(path, f"depth image must be single-channel 16-bit (mm), got mode {img.mode}", scene)
    return arr.astype(np.float32) / 1000.0


def write_depth(path: str | Path, depth_m: np.ndarray) -> None:
    from PIL import Image

    mm = np.clip(np.round(depth_m * 1000.0), 0, 65535).astype(np.uint16)
    Image.fromarray(mm).save(path)


def write_label_image(path: str | Path, label: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(label.astype(np.uint16)).save(path)


def read_label_image(path: str | Path, scene: str | None = None) -> np.ndarray:
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise DataError(path, "label image not found", scene)
    return np.asarray(Image.open(path)).astype(np.int64)


def read_split(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "split list not found")
    return [s.strip() for s in path.read_text().splitlines() if s.strip()]


def read_aligned_boxes(path: str | Path, scene: str | None = None) -> np.ndarray:
    """ScanRefer's released `<scene>_aligned_bbox.npy`: (M, 8) float rows [cx, cy, cz, dx, dy, dz,
    nyu40 id, objectId] in the axis-aligned frame, the same layout as our preprocessed `boxes`
    except that the last column is objectId (ours: objectId + 1)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "aligned box file not found", scene)
    try:
        boxes = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(path, f"not a numpy array file ({exc})", scene) from exc
    if boxes.ndim != 2 or boxes.shape[1] != 8:
        raise DataError(path, f"expected (M, 8) rows [cx, cy, cz, dx, dy, dz, nyu40id, objectId], got "
                              f"shape {boxes.shape}", scene)
    return boxes.astype(np.float32)
