"""Data parallelism under torchrun: which process this is, and the few collective operations training needs.

`torchrun --nproc_per_node N -m stages.train_detector` starts N processes with WORLD_SIZE, RANK and
LOCAL_RANK in the environment; a plain `python -m stages.train_detector` has none of them and is one
process with nothing distributed (every function here is then a no-op, so a single-process run is the
code it always was). NCCL on CUDA, gloo on the CPU.

Each global batch (the `batch_size` of params) is split into equal per-rank parts (`EpochBatchSampler`
with `rank`/`world`), the losses are normalised over the global batch (`all_sum`), and batch norm
statistics are computed over the global batch (`sync_batch_norm`): so N ranks take the step one process
takes on the whole batch (tests/test_distributed.py), up to the order of floating-point sums.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, curves, metrics and weights."""
        return self.rank == 0


def context() -> Context:
    """This process's place, from torchrun's environment (and the initialised process group, if any)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    return Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group when torchrun started several processes; each takes the GPU of its LOCAL_RANK.
    -> (context, the device this process trains on)."""
    ctx = context()
    if not ctx.enabled:
        return ctx, device
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ctx.rank, world_size=ctx.world)
    _stats_group()
    return ctx, device


_GROUPS: dict = {}


def _stats_group():
    """A process group of its own for batch-norm statistics. Their backward all-reduce runs inside autograd
    while DDP's reducer all-reduces gradient buckets on the default group; on one group the two streams of
    collectives interleave differently on different ranks and pair up wrongly (measured: gradients off by
    more than their size)."""
    if "stats" not in _GROUPS:
        _GROUPS["stats"] = dist.new_group()
    return _GROUPS["stats"]


def shutdown() -> None:
    if dist.is_initialized():
        _GROUPS.clear()
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of a tensor that needs no gradient (counts, logged terms); itself when alone."""
    if not dist.is_initialized():
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x


class _AllSum(torch.autograd.Function):
    """Sum over the ranks of `group`; the gradient of each rank's input is the sum of every rank's gradient."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        y = x.clone()
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_sum_autograd(x: torch.Tensor) -> torch.Tensor:
    """The sum over ranks, differentiable, on the statistics group (see `_stats_group`)."""
    if not dist.is_initialized():
        return x
    return _AllSum.apply(x, _stats_group())


class _AllGather(torch.autograd.Function):
    """Every rank's tensor concatenated along dim 0 in rank order (all ranks' shapes equal); the gradient of each
    rank's input is its slice of the sum of every rank's gradient."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group, ctx.rank, ctx.n = group, dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)  # gloo has no reduce_scatter: the whole sum, then this rank's slice
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n], None


def all_gather_autograd(x: torch.Tensor) -> torch.Tensor:
    """The global batch of a per-rank tensor (B_rank, ...) -> (world * B_rank, ...), differentiable, on the
    statistics group; itself when alone. Losses that contrast a rank's items with every other item of the
    global batch (MIL-NCE's negatives) read it."""
    if not dist.is_initialized():
        return x
    return _AllGather.apply(x, _stats_group())


def active() -> bool:
    """Whether this process is one of several ranks (a process group is up)."""
    return dist.is_initialized() and dist.get_world_size() > 1


def global_count(n: torch.Tensor) -> torch.Tensor:
    """A per-rank count (sentences, scenes) as the loss normaliser of the global batch: the sum over ranks divided by
    the number of ranks, so that DDP's mean of the ranks' gradients is the gradient of the whole batch's mean.
    Itself when alone."""
    if not active():
        return n
    return all_sum(n.float()) / dist.get_world_size()


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's flag on every rank (decisions taken on a clock, which ranks do not share)."""
    if not dist.is_initialized():
        return flag
    box = [flag]
    dist.broadcast_object_list(box, src=0)  # on NCCL through the device init() set for this rank
    return bool(box[0])


def gather_objects(obj) -> list:
    """Every rank's `obj`, in rank order (a one-element list when alone)."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm (any of 1d / 2d / 3d) whose training statistics are those of the global batch: each rank's sums
    and squared sums are added over ranks (differentiably) before normalising. nn.SyncBatchNorm does this on
    GPUs only; this one also runs on the CPU (gloo), where the tests prove the N-rank step equal to the one-rank
    step."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"batch norm needs (N, C, ...) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        n = all_sum(torch.tensor(float(x.numel() // x.shape[1]), device=x.device))
        stats = all_sum_autograd(torch.cat([x.sum(dims), (x * x).sum(dims)]).float())
        mean, sq = stats.split(x.shape[1])
        mean, var = mean / n, (sq / n - (mean / n) ** 2).clamp_min(0)
        with torch.no_grad():
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
            self.num_batches_tracked += 1
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape).to(x.dtype)) * torch.rsqrt(var.view(shape) + self.eps).to(x.dtype)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Batch norm over the global batch: nn.SyncBatchNorm on CUDA, GlobalBatchNorm on the CPU."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats).to(child.weight.device)
            # the same parameter and buffer objects: an optimiser built before still holds them
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            setattr(model, name, new)
        else:
            sync_batch_norm(child, device)
    return model


def wrap(model: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """The model as the training step calls it: DistributedDataParallel around it when there are several
    ranks (batch norm synchronised first), the model itself when alone."""
    if not ctx.enabled:
        return model
    model = sync_batch_norm(model, device)
    ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: some detector parameters are outside the loss's graph; without it DDP's first step
    # averaged gradients wrongly (cosine 0.3-0.8 to the true ones) instead of failing (tests/test_distributed.py)
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model

