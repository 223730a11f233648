"""Triton kernels for furthest point sampling (CUDA only; imported lazily).

The cloud is split over S programs (CTAs) that each keep their slice of points and running
minimum distances in registers. Every step each program reduces its slice to one 64-bit key,
(float bits of the distance << 32) | (2^31 - 1 - index), so the largest key is the farthest
point with the first index on ties (torch.argmax's rule). It publishes the key in its own slot
for that step (an atomic exchange: the value is its own signal) and spins until all S slots of
the step are filled, then every program takes the same maximum. With S = 1 it is a plain
one-program loop. Arithmetic order matches the torch reference (dx*dx + dy*dy + dz*dz, FMA
contraction off), so the indices are identical.

All S x B programs must be resident at once (they wait on each other); S is capped so that
B x S stays within the GPU's multiprocessor count.
"""

from __future__ import annotations

import functools

import torch

LOW = (1 << 31) - 1


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
    def fps_kernel(xyz_ptr, out_ptr, slots_ptr, n, npoint, per_cta, S: tl.constexpr, BLOCK: tl.constexpr,
                   SBLOCK: tl.constexpr):
        b = tl.program_id(0)
        cta = tl.program_id(1)
        offs = cta * per_cta + tl.arange(0, BLOCK)
        valid = (tl.arange(0, BLOCK) < per_cta) & (offs < n)
        base = xyz_ptr + b * n * 3
        x = tl.load(base + offs * 3 + 0, mask=valid, other=0.0)
        y = tl.load(base + offs * 3 + 1, mask=valid, other=0.0)
        z = tl.load(base + offs * 3 + 2, mask=valid, other=0.0)
        dist = tl.full([BLOCK], 1e10, tl.float32)
        low = (2147483647 - offs).to(tl.int64)
        sidx = tl.arange(0, SBLOCK)
        far = 0
        for i in range(npoint):
            if cta == 0:
                tl.store(out_ptr + b * npoint + i, far)
            cx = tl.load(base + far * 3 + 0)
            cy = tl.load(base + far * 3 + 1)
            cz = tl.load(base + far * 3 + 2)
            dx = x - cx
            dy = y - cy
            dz = z - cz
            dist = tl.minimum(dist, dx * dx + dy * dy + dz * dz)
            key = (dist.to(tl.int32, bitcast=True).to(tl.int64) << 32) | low
            best = tl.max(tl.where(valid, key, 0), axis=0)
            if S > 1:
                step = slots_ptr + (b * npoint + i) * S
                tl.atomic_xchg(step + cta, best)
                keys = tl.load(step + sidx, mask=sidx < S, other=1, volatile=True)
                while tl.min(keys, axis=0) == 0:
                    keys = tl.load(step + sidx, mask=sidx < S, other=1, volatile=True)
                best = tl.max(keys, axis=0)
            far = (2147483647 - (best & 2147483647)).to(tl.int32)

    return fps_kernel


def split_count(b: int, n: int, target_per_cta: int = 4096) -> int:
    sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    return max(1, min(-(-n // target_per_cta), sms // max(b, 1)))


def furthest_point_sample(xyz: torch.Tensor, npoint: int, splits: int | None = None,
                          num_warps: int | None = None) -> torch.Tensor:
    import triton

    b, n, _ = xyz.shape
    if n >= LOW:
        raise ValueError("clouds of 2^31 - 1 points or more are not supported")
    xyz = xyz.float().contiguous()
    s = splits or split_count(b, n)
    per_cta = -(-n // s)
    block = triton.next_power_of_2(per_cta)
    out = torch.empty(b, npoint, dtype=torch.int32, device=xyz.device)
    slots = torch.zeros(b * npoint * s if s > 1 else 1, dtype=torch.int64, device=xyz.device)
    warps = num_warps or (8 if block >= 4096 else 4)
    _kernel()[(b, s)](xyz, out, slots, n, npoint, per_cta, S=s, BLOCK=block,
                      SBLOCK=triton.next_power_of_2(s), num_warps=warps, enable_fp_fusion=False)
    return out.long()
