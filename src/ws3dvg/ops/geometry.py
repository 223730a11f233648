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


def _bev_corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 7) [cx, cy, cz, dx, dy, dz, heading] -> (N, 4, 2) footprint corners, counter-clockwise."""
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    local = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])[None] * boxes[:, None, 3:5]
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    return local @ rot.transpose(0, 2, 1) + boxes[:, None, :2]


def _clip(poly: np.ndarray, count: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Sutherland-Hodgman step for N polygons at once: keep the left side of edge a->b.

    poly (N, V, 2) with `count` valid vertices each -> (N, 2V, 2) and new counts.
    """
    n, v, _ = poly.shape
    idx = np.arange(v)
    nxt = np.where(idx[None] + 1 < count[:, None], idx[None] + 1, 0)
    p, q = poly, np.take_along_axis(poly, nxt[..., None], 1)
    e = (b - a)[:, None]
    side = lambda x: e[..., 0] * (x[..., 1] - a[:, None, 1]) - e[..., 1] * (x[..., 0] - a[:, None, 0])  # noqa: E731
    sp, sq = side(p), side(q)
    valid = idx[None] < count[:, None]
    t = sp / np.where(sp - sq == 0, 1, sp - sq)
    cross = p + t[..., None] * (q - p)
    # per edge p->q emit: p if inside; the crossing point if the edge crosses the line
    emit_p = valid & (sp >= 0)
    emit_x = valid & ((sp >= 0) != (sq >= 0))
    pts = np.stack([p, cross], 2).reshape(n, 2 * v, 2)
    keep = np.stack([emit_p, emit_x], 2).reshape(n, 2 * v)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept points first, in order
    return np.take_along_axis(pts, order[..., None], 1), keep.sum(1)


def oriented_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes rotated about z: (N, 7) x (N, 7) pairs -> (N,). Footprints are intersected by
    clipping one rectangle by the other's four edges, vectorised over the pairs."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    pa, pb = _bev_corners(a), _bev_corners(b)
    poly, count = pa, np.full(len(a), 4)
    for k in range(4):
        poly, count = _clip(poly, count, pb[:, k], pb[:, (k + 1) % 4])
    idx = np.arange(poly.shape[1])
    nxt = np.where(idx[None] + 1 < count[:, None], idx[None] + 1, 0)
    q = np.take_along_axis(poly, nxt[..., None], 1)
    valid = idx[None] < count[:, None]
    area = 0.5 * np.abs(np.where(valid, poly[..., 0] * q[..., 1] - q[..., 0] * poly[..., 1], 0).sum(1))
    zlo = np.maximum(a[:, 2] - a[:, 5] / 2, b[:, 2] - b[:, 5] / 2)
    zhi = np.minimum(a[:, 2] + a[:, 5] / 2, b[:, 2] + b[:, 5] / 2)
    inter = area * np.clip(zhi - zlo, 0, None)
    union = a[:, 3:6].prod(1) + b[:, 3:6].prod(1) - inter
    return inter / np.maximum(union, 1e-9)
