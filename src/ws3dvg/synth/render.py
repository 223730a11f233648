"""RGB-D frames of a synthetic room: surface samples splatted through a z-buffer.

Cameras follow ScanNet's conventions: poses are camera-to-world in the *raw* mesh frame,
camera axes x right, y down, z forward; depth in uint16 millimetres; label images hold
ScanNet label ids (the `id` column of the label table).
"""

from __future__ import annotations

import math

import numpy as np


def intrinsic_matrix(width: int, height: int, hfov_deg: float = 70.0) -> np.ndarray:
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    k = np.eye(4)
    k[0, 0] = k[1, 1] = f
    k[0, 2], k[1, 2] = (width - 1) / 2, (height - 1) / 2
    return k


def sample_surface(vertices: np.ndarray, faces: np.ndarray, values: np.ndarray, spacing: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted random points on the triangles; each carries its triangle's first-vertex value."""
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    counts = np.maximum(1, np.ceil(area / spacing ** 2)).astype(np.int64)
    which = np.repeat(np.arange(len(faces)), counts)
    r1, r2 = rng.random(len(which)), rng.random(len(which))
    flip = r1 + r2 > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    t = tri[which]
    pts = t[:, 0] + r1[:, None] * (t[:, 1] - t[:, 0]) + r2[:, None] * (t[:, 2] - t[:, 0])
    return pts, values[faces[which, 0]]


def look_pose(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world 4x4 (x right, y down, z forward) looking from position at target."""
    fwd = target - position
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, fwd, position
    return pose


def render(points: np.ndarray, values: np.ndarray, pose: np.ndarray, intrinsic: np.ndarray,
           width: int, height: int, splat: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer render of coloured/labelled points -> (depth (H, W) metres, value image (H, W, C))."""
    cam = (points - pose[:3, 3]) @ pose[:3, :3]
    z = cam[:, 2]
    ok = z > 0.05
    cam, z, vals = cam[ok], z[ok], values[ok]
    u = np.floor(intrinsic[0, 0] * cam[:, 0] / z + intrinsic[0, 2] + 0.5).astype(np.int64)
    v = np.floor(intrinsic[1, 1] * cam[:, 1] / z + intrinsic[1, 2] + 0.5).astype(np.int64)
    du, dv = np.meshgrid(np.arange(splat), np.arange(splat), indexing="ij")
    u = (u[:, None] + du.ravel()).ravel()
    v = (v[:, None] + dv.ravel()).ravel()
    z = np.repeat(z, splat * splat)
    src = np.repeat(np.arange(len(vals)), splat * splat)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, z, src = u[inside], v[inside], z[inside], src[inside]
    pix = v * width + u
    # per pixel the nearest sample, the first in order among equally near ones: a min per pixel, then the first
    # sample at it (what a stable sort by pixel and depth picks, without sorting millions of samples)
    nearest = np.full(height * width, np.inf)
    np.minimum.at(nearest, pix, z)
    at_nearest = np.flatnonzero(z == nearest[pix])
    _, first = np.unique(pix[at_nearest], return_index=True)
    win = at_nearest[first]
    depth = np.zeros(height * width, np.float32)
    image = np.zeros((height * width,) + vals.shape[1:], vals.dtype)
    depth[pix[win]] = z[win]
    image[pix[win]] = vals[src[win]]
    return depth.reshape(height, width), image.reshape((height, width) + vals.shape[1:])


def camera_poses(room_w: float, room_d: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Cameras near the room centre at eye height, turning around, looking slightly down."""
    poses = []
    for i in range(n):
        yaw = 2 * math.pi * i / n + rng.uniform(-0.2, 0.2)
        pos = np.array([rng.uniform(-0.2, 0.2) * room_w, rng.uniform(-0.2, 0.2) * room_d, rng.uniform(1.3, 1.7)])
        target = pos + np.array([math.cos(yaw), math.sin(yaw), rng.uniform(-0.55, -0.3)])
        poses.append(look_pose(pos, target))
    return poses
