"""Multiview features: ENet over a scene's RGB-D frames, projected onto its points, max-pooled.

A point takes a frame's feature where it projects inside the image, in front of the camera,
and the frame's depth there agrees with the point's depth within `depth_threshold` (so
occluded points get nothing); over frames the features are max-pooled, and points no frame
sees get zeros. Output: one HDF5 file, a (N_points, 128) float16 dataset per scene.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..engine.atomic import atomic_file
from ..engine.errors import DataError
from ..models.enet import ENet, normalize
from ..scannet.io import read_depth, read_matrix


def frame_ids(frames_dir: Path, scene: str, count: int) -> list[str]:
    color = frames_dir / "color"
    if not color.is_dir():
        raise DataError(color, "no color/ folder of frames", scene)
    ids = sorted((p.stem for p in color.glob("*.jpg")), key=lambda s: (len(s), s))
    if not ids:
        raise DataError(color, "no .jpg frames", scene)
    if count and len(ids) > count:
        ids = [ids[i] for i in np.linspace(0, len(ids) - 1, count).round().astype(int)]
    return ids


def load_frames(frames_dir: Path, scene: str, ids: list[str], image_size: tuple[int, int]):
    """-> images (F, 3, H, W) in [0, 1] at image_size, depths (F, h, w) metres, poses (F, 4, 4), intrinsic (4, 4)."""
    from PIL import Image

    intrinsic = read_matrix(frames_dir / "intrinsic" / "intrinsic_depth.txt", scene, "depth intrinsic")
    images, depths, poses = [], [], []
    for i in ids:
        pose_path = frames_dir / "pose" / f"{i}.txt"
        if not pose_path.exists():
            raise DataError(pose_path, f"frame {i} has no pose", scene)
        pose = read_matrix(pose_path, scene, "pose")
        if not np.isfinite(pose).all():
            continue  # ScanNet marks lost tracking with -inf poses: skip those frames
        depth = read_depth(frames_dir / "depth" / f"{i}.png", scene)
        h, w = depth.shape
        if not (0 < intrinsic[0, 2] < w and 0 < intrinsic[1, 2] < h):
            raise DataError(frames_dir / "depth" / f"{i}.png", f"depth image is {w}x{h} but the intrinsics' principal "
                                                                f"point is ({intrinsic[0, 2]:.1f}, {intrinsic[1, 2]:.1f})", scene)
        img = Image.open(frames_dir / "color" / f"{i}.jpg").convert("RGB").resize(tuple(image_size), Image.BILINEAR)
        images.append(np.asarray(img, np.float32) / 255.0)
        depths.append(depth)
        poses.append(pose)
    if not images:
        raise DataError(frames_dir, "no frame with a valid pose", scene)
    return (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2), torch.from_numpy(np.stack(depths)),
            torch.from_numpy(np.stack(poses)), intrinsic)


def project_features(points_raw: torch.Tensor, feats: torch.Tensor, depths: torch.Tensor, poses: torch.Tensor,
                     intrinsic: np.ndarray, depth_size: tuple[int, int], threshold: float) -> torch.Tensor:
    """Max-pool per-frame features onto points.

    points_raw (N, 3) in the raw mesh frame (the poses' frame); feats (F, C, h, w); depths (F, h, w)
    already at feature resolution; intrinsic for the depth images of size depth_size (w, h).
    -> (N, C), zeros where no frame sees the point.
    """
    n = points_raw.shape[0]
    f, c, h, w = feats.shape
    sx, sy = w / depth_size[0], h / depth_size[1]
    fx, fy = intrinsic[0, 0] * sx, intrinsic[1, 1] * sy
    cx, cy = (intrinsic[0, 2] + 0.5) * sx - 0.5, (intrinsic[1, 2] + 0.5) * sy - 0.5
    out = torch.full((n, c), float("-inf"), dtype=feats.dtype, device=feats.device)
    homog = torch.cat([points_raw, torch.ones(n, 1, device=points_raw.device, dtype=points_raw.dtype)], 1)
    for k in range(f):  # frames, each fully vectorised over points
        cam = homog @ torch.linalg.inv(poses[k]).T.to(homog.dtype)
        z = cam[:, 2]
        u = torch.round(fx * cam[:, 0] / z.clamp_min(1e-6) + cx).long()
        v = torch.round(fy * cam[:, 1] / z.clamp_min(1e-6) + cy).long()
        inside = (z > 0.05) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        uu, vv = u.clamp(0, w - 1), v.clamp(0, h - 1)
        d = depths[k][vv, uu]
        seen = inside & (d > 0) & ((d - z).abs() < threshold)
        fk = feats[k][:, vv, uu].T  # (N, C)
        out = torch.where(seen[:, None], torch.maximum(out, fk), out)
    return torch.where(torch.isinf(out), torch.zeros_like(out), out)


@torch.no_grad()
def scene_features(model: ENet, frames_dir: Path, scene: str, points_raw: np.ndarray, cfg: dict, device) -> np.ndarray:
    ids = frame_ids(frames_dir, scene, cfg["frames_per_scene"])
    images, depths, poses, intrinsic = load_frames(frames_dir, scene, ids, cfg["image_size"])
    feats = []
    for s in range(0, len(images), cfg["batch_size"]):
        x = normalize(images[s:s + cfg["batch_size"]].to(device))
        feats.append(model.features(x).float())
    feats = torch.cat(feats)
    h, w = feats.shape[-2:]
    depth_size = (depths.shape[2], depths.shape[1])
    small = F.interpolate(depths[:, None].to(device), size=(h, w), mode="nearest")[:, 0]
    out = project_features(torch.from_numpy(points_raw).to(device).double(), feats.double(), small.double(),
                           poses.to(device).double(), intrinsic, depth_size, cfg["depth_threshold"])
    return out.float().cpu().numpy()


def project_all(model: ENet, frames_root: str, preprocessed: str, scenes: list[str], cfg: dict, out_path: str,
                device) -> dict:
    from ..ops.geometry import transform_points
    from ..scannet.preprocess import read_scene

    model.eval()
    covered, total = 0, 0
    with atomic_file(out_path) as tmp, h5py.File(tmp, "w") as h5:
        for scene in tqdm(scenes, desc="project_multiview", unit="scene"):
            d = read_scene(preprocessed, scene)
            raw = transform_points(d["points"][:, :3], np.linalg.inv(d["axis_alignment"]))
            feats = scene_features(model, Path(frames_root) / scene, scene, raw, cfg, device)
            h5.create_dataset(scene, data=feats.astype(np.float16), compression="gzip", compression_opts=1)
            covered += int((np.abs(feats).sum(1) > 0).sum())
            total += len(feats)
    return {"scenes": len(scenes), "covered_share": covered / max(total, 1)}
