"""Triton kernel for furthest point sampling (CUDA only; imported lazily).

One program per cloud keeps the cloud and its running minimum distances in registers (the
whole cloud in one block), so each of the npoint steps is a fused distance update plus an
argmax, with no kernel launches in between. Same arithmetic order as the torch reference
(dx*dx + dy*dy + dz*dz, FMA contraction off) and first-index tie breaking, so indices match.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def available() -> bool:
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:
        return False
    return torch.cuda.is_available()


@functools.lru_cache(maxsize=1)
def _kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def fps_kernel(xyz_ptr, out_ptr, n, npoint, BLOCK: tl.constexpr):
        b = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        valid = offs < n
        base = xyz_ptr + b * n * 3
        x = tl.load(base + offs * 3 + 0, mask=valid, other=0.0)
        y = tl.load(base + offs * 3 + 1, mask=valid, other=0.0)
        z = tl.load(base + offs * 3 + 2, mask=valid, other=0.0)
        dist = tl.where(valid, 1e10, -1.0)
        far = 0
        for i in range(npoint):
            tl.store(out_ptr + b * npoint + i, far)
            cx = tl.load(base + far * 3 + 0)
            cy = tl.load(base + far * 3 + 1)
            cz = tl.load(base + far * 3 + 2)
            dx = x - cx
            dy = y - cy
            dz = z - cz
            d = dx * dx + dy * dy + dz * dz
            dist = tl.where(valid, tl.minimum(dist, d), -1.0)
            far = tl.argmax(dist, axis=0, tie_break_left=True)

    return fps_kernel


def furthest_point_sample(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    import triton

    b, n, _ = xyz.shape
    xyz = xyz.float().contiguous()
    out = torch.empty(b, npoint, dtype=torch.int32, device=xyz.device)
    block = triton.next_power_of_2(n)
    warps = 32 if block >= 16384 else 16 if block >= 4096 else 8
    _kernel()[(b,)](xyz, out, n, npoint, BLOCK=block, num_warps=warps, enable_fp_fusion=False)
    return out.long()
