"""Rigid transforms, normals and axis-aligned boxes, vectorised over points and boxes.

Boxes are (..., 6) arrays `[cx, cy, cz, dx, dy, dz]` (centre and full size), as in ScanRefer.
Functions accept numpy arrays; `box_iou` also accepts torch tensors.
"""

from __future__ import annotations

import numpy as np


def transform_points(xyz: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (N, 3) points."""
    m = np.asarray(matrix, dtype=np.float64)
    return (np.asarray(xyz, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit length; zero for isolated vertices)."""
    v = np.asarray(vertices, dtype=np.float64)
    if len(faces) == 0:
        return np.zeros_like(v, dtype=np.float32)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    n = np.zeros_like(v)
    idx = faces.reshape(-1)
    for axis in range(3):  # 3 bincounts, not a loop over faces
        n[:, axis] = np.bincount(idx, weights=np.repeat(fn[:, axis], 3), minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def instance_boxes(xyz: np.ndarray, instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box of every instance id > 0.

    Returns (ids (M,), boxes (M, 6) centre-size), ids ascending.
    """
    keep = instance > 0
    pts, ins = xyz[keep], instance[keep]
    if len(ins) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 6), np.float32)
    order = np.argsort(ins, kind="stable")
    pts, ins = pts[order], ins[order]
    starts = np.flatnonzero(np.r_[True, ins[1:] != ins[:-1]])
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    boxes = np.concatenate([(lo + hi) / 2, hi - lo], axis=1).astype(np.float32)
    return ins[starts].astype(np.int64), boxes


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 6) centre-size -> (..., 8, 3) corners; bottom face first, counter-clockwise."""
    boxes = np.asarray(boxes)
    signs = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                      [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64) / 2
    return boxes[..., None, :3] + signs * boxes[..., None, 3:6]


def box_iou(a, b):
    """IoU of axis-aligned centre-size boxes, broadcast over leading dims (numpy or torch)."""
    lo = _maximum(a[..., :3] - a[..., 3:6] / 2, b[..., :3] - b[..., 3:6] / 2)
    hi = _minimum(a[..., :3] + a[..., 3:6] / 2, b[..., :3] + b[..., 3:6] / 2)
    inter = (hi - lo).clip(min=0).prod(-1)
    union = a[..., 3:6].prod(-1) + b[..., 3:6].prod(-1) - inter
    return inter / union.clip(min=1e-9)


def _maximum(x, y):
    return np.maximum(x, y) if isinstance(x, np.ndarray) else x.maximum(y)


def _minimum(x, y):
    return np.minimum(x, y) if isinstance(x, np.ndarray) else x.minimum(y)
