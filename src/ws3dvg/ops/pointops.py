"""PointNet++ point-cloud ops in plain PyTorch, batched, CPU and GPU, no compiled extension.

Semantics follow the CUDA ops of PointNet++ (as used by VoteNet / GroupFree-3D):
- furthest_point_sample: starts at index 0; each step takes the point farthest from the chosen
  set (first index on ties).
- ball_query: for each query the first `nsample` point indices (in index order) within
  `radius`; missing slots repeat the first one found; 0 if none is found.
- three_nn / three_interpolate: inverse-distance interpolation from the 3 nearest known points.

On CUDA, FPS runs a Triton kernel when Triton is importable (it ships with the GPU build of
PyTorch): the sequential sampling loop then lives inside one kernel instead of 2 x npoint
launches. The torch loop stays the CPU path and the reference.
"""

from __future__ import annotations

import torch

_MAX_PAIRS = 1 << 26  # pairwise elements per chunk: bounds the memory of brute-force queries


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., n, 3), (..., m, 3) -> (..., n, m) squared distances, computed as dx*dx + dy*dy + dz*dz."""
    d = a.unsqueeze(-2) - b.unsqueeze(-3)
    return d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]


def furthest_point_sample_torch(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    """(B, N, 3) -> (B, npoint) int64. A loop over the samples (inherently sequential), vectorised over points."""
    b, n, _ = xyz.shape
    idx = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, n), 1e10, dtype=xyz.dtype, device=xyz.device)
    far = torch.zeros(b, dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    x, y, z = xyz.unbind(-1)
    for i in range(npoint):
        idx[:, i] = far
        c = xyz[rows, far]
        dx, dy, dz = x - c[:, 0:1], y - c[:, 1:2], z - c[:, 2:3]
        dist = torch.minimum(dist, dx * dx + dy * dy + dz * dz)
        far = dist.argmax(-1)
    return idx


def furthest_point_sample(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    if xyz.is_cuda:
        from . import pointops_triton

        if pointops_triton.available():
            return pointops_triton.furthest_point_sample(xyz, npoint)
    return furthest_point_sample_torch(xyz, npoint)


def ball_query(radius: float, nsample: int, xyz: torch.Tensor, new_xyz: torch.Tensor) -> torch.Tensor:
    """xyz (B, N, 3), new_xyz (B, M, 3) -> (B, M, nsample) int64."""
    b, n, _ = xyz.shape
    m = new_xyz.shape[1]
    out = torch.empty(b, m, nsample, dtype=torch.long, device=xyz.device)
    ar = torch.arange(n, device=xyz.device, dtype=torch.int32)
    chunk = max(1, _MAX_PAIRS // max(b * n, 1))
    k = min(nsample, n)
    for s in range(0, m, chunk):  # chunks of queries, only to bound memory
        d2 = _sq_dist(new_xyz[:, s:s + chunk], xyz)
        cand = torch.where(d2 < radius * radius, ar, n)  # index if inside, else n (sorts last)
        first = cand.topk(k, dim=-1, largest=False, sorted=True).values.long()
        if k < nsample:
            first = torch.cat([first, first.new_full(first.shape[:-1] + (nsample - k,), n)], -1)
        head = first[..., :1]
        head = torch.where(head == n, torch.zeros_like(head), head)
        out[:, s:s + chunk] = torch.where(first == n, head, first)
    return out


def group(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features (B, C, N), idx (B, M, K) -> (B, C, M, K)."""
    b, c, _ = features.shape
    _, m, k = idx.shape
    flat = idx.reshape(b, 1, m * k).expand(b, c, m * k)
    return features.gather(2, flat).reshape(b, c, m, k)


def gather_points(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features (B, C, N), idx (B, M) -> (B, C, M)."""
    return features.gather(2, idx.unsqueeze(1).expand(-1, features.shape[1], -1))


def three_nn(unknown: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """unknown (B, n, 3), known (B, m, 3) -> (distances (B, n, 3), indices (B, n, 3)), nearest first."""
    b, n, _ = unknown.shape
    chunk = max(1, _MAX_PAIRS // max(b * known.shape[1], 1))
    dists, idxs = [], []
    for s in range(0, n, chunk):
        d2, i = _sq_dist(unknown[:, s:s + chunk], known).topk(3, dim=-1, largest=False, sorted=True)
        dists.append(d2.clamp_min(0).sqrt())
        idxs.append(i)
    return torch.cat(dists, 1), torch.cat(idxs, 1)


def three_interpolate(features: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """features (B, C, m), idx/weight (B, n, 3) -> (B, C, n)."""
    b, c, _ = features.shape
    n = idx.shape[1]
    g = features.gather(2, idx.reshape(b, 1, n * 3).expand(b, c, n * 3)).reshape(b, c, n, 3)
    return (g * weight.unsqueeze(1)).sum(-1)


def inverse_distance_weights(dist: torch.Tensor) -> torch.Tensor:
    w = 1.0 / (dist + 1e-8)
    return w / w.sum(-1, keepdim=True)
