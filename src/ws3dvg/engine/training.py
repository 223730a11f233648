"""Shared training plumbing: seeding, device and mixed precision, data loaders, checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import distributed
from .atomic import atomic_file


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(False)
    return torch.Generator().manual_seed(seed)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (no loss scaling needed); a no-op on CPU, which stays fp32 and deterministic.
    No cast cache: it would keep casts of one step's weights alive across CUDA-graph replays."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int, collate_fn, workers: int = 0,
                device: torch.device | None = None, drop_last: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                                       persistent_workers=workers > 0, **_loader_options(seed, collate_fn, workers, device))


def _loader_options(seed: int, collate_fn, workers: int, device: torch.device | None) -> dict:
    """What every loader here shares: its own generator (shuffling and worker seeds never draw from the global
    stream), pinned memory on CUDA, and a deep prefetch when workers load."""
    return {"generator": torch.Generator().manual_seed(seed), "collate_fn": collate_fn, "num_workers": workers,
            "pin_memory": device is not None and device.type == "cuda", "prefetch_factor": 4 if workers > 0 else None}


class EpochBatchSampler(torch.utils.data.Sampler):
    """The batches of epochs `epochs` (a range) as lists of (epoch, index) keys, for one DataLoader that spans them.

    Each epoch's order is the one a fresh `make_loader(..., shuffle=True, seed=seed + epoch)` draws: DataLoader
    first takes its workers' base seed from the generator, then RandomSampler a permutation from the same one. So
    the persistent loader trains on the batches that a loader built per epoch gives (tests/test_training.py pins
    this), a resumed run sees the batches an uninterrupted one sees, and the workers are started once instead of
    once per epoch and keep prefetching across epoch boundaries. The dataset reads the epoch from the key."""

    def __init__(self, n: int, batch_size: int, seed: int, epochs: range, shuffle: bool = True,
                 drop_last: bool = False, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.epochs = n, batch_size, seed, epochs
        self.shuffle, self.drop_last = shuffle, drop_last
        # under torchrun each global batch is cut into `world` equal parts, part `rank` for this process: the
        # ranks together train on exactly the batches one process would, whatever the number of ranks
        if world > 1 and (not drop_last or batch_size % world):
            raise ValueError(f"{world} ranks need a batch size divisible by {world} (got {batch_size}) and "
                             "whole batches only (drop_last)")
        self.rank, self.world = rank, world

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed + epoch)
        torch.empty((), dtype=torch.int64).random_(generator=g)  # DataLoader's draw of its workers' base seed
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self):
        for epoch in self.epochs:
            order = self.order(epoch)
            part = self.batch_size // self.world
            for b in range(self.steps_per_epoch):
                start = b * self.batch_size + self.rank * part
                stop = start + part if self.world > 1 else (b + 1) * self.batch_size
                yield [(epoch, i) for i in order[start:stop]]

    def __len__(self) -> int:
        return len(self.epochs) * self.steps_per_epoch


class EpochLoader:
    """One DataLoader over the training epochs `start..stop-1`; `epoch(e)` yields epoch e's batches, in turn.

    `dataset[(epoch, i)]` must give item i as that epoch sees it (its augmentation or regrouping)."""

    def __init__(self, dataset, batch_size: int, seed: int, epochs: range, collate_fn, workers: int = 0,
                 device: torch.device | None = None, drop_last: bool = False, shuffle: bool = True,
                 rank: int = 0, world: int = 1):
        self.sampler = EpochBatchSampler(len(dataset), batch_size, seed, epochs, shuffle, drop_last, rank, world)
        self.steps = self.sampler.steps_per_epoch
        self.next_epoch = epochs.start
        self._loader = torch.utils.data.DataLoader(dataset, batch_sampler=self.sampler,
                                                   **_loader_options(seed, collate_fn, workers, device))
        self._it = iter(self._loader) if len(epochs) else None

    def epoch(self, epoch: int, desc: str | None = None):
        """Epoch `epoch`'s batches (epochs in order); with `desc`, under a progress bar of that name."""
        if epoch != self.next_epoch:
            raise RuntimeError(f"epoch {epoch} asked for, the loader is at epoch {self.next_epoch}")
        self.next_epoch += 1
        batches = (next(self._it) for _ in range(self.steps))
        return tqdm(batches, total=self.steps, desc=desc, leave=False, unit="batch") if desc else batches


def epoch_key(key, current_epoch: int) -> tuple[int, int]:
    """A dataset key -> (epoch, index): EpochLoader passes (epoch, index), other loaders the bare index."""
    return (int(key[0]), int(key[1])) if isinstance(key, tuple) else (current_epoch, int(key))


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def input_fingerprint(paths) -> str:
    """Digest of the (path, size, mtime) of every file under `paths` (files or folders; missing ones count).

    Cheap even for real ScanNet, and any rewrite of an input (an upstream stage rerun, a
    `dvc checkout`) changes it."""
    h = hashlib.sha256()
    for root in sorted(str(p) for p in paths if p):
        root_path = Path(root)
        files = sorted(f for f in root_path.rglob("*") if f.is_file()) if root_path.is_dir() else [root_path]
        for f in files:
            st = f.stat() if f.exists() else None
            h.update(f"{f}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}\n".encode())
    return h.hexdigest()


def code_fingerprint() -> str:
    """Digest of the code that trains: every Python file of the ws3dvg package and the running script (a stage
    module under `python -m stages.X`). Contents, not dates: a checkout of the same code resumes."""
    import __main__

    package = Path(__file__).resolve().parents[1]
    files = sorted(package.rglob("*.py"))
    main = Path(getattr(__main__, "__file__", "") or "")
    h = hashlib.sha256()
    for f in files + ([main] if main.suffix == ".py" and main.is_file() else []):
        h.update(f"{f.relative_to(package) if f.is_relative_to(package) else f.name}\n".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class Checkpoint:
    """`last.pt` in a folder: model, optimiser, scheduler, epoch and RNG states; written atomically.

    The training config and fingerprints of the input files and of the code are stored with it; a
    checkpoint written under other params, from other inputs or by other code is not resumed from
    (when DVC reruns a stage because its data or its code changed, training must start afresh, not
    pick up the finished old run: a changed loss would otherwise never train).
    """

    def __init__(self, directory: str | Path, config: dict | None = None, inputs=(), every_s: float = 0.0):
        self.path = Path(directory) / "last.pt"
        self.config = {**(config or {}), "inputs": input_fingerprint(inputs), "code": code_fingerprint()}
        self.every_s, self.last_write = every_s, time.monotonic()

    def save(self, epoch: int, model, optimizer, scheduler=None, extra: dict | None = None, final: bool = False) -> None:
        """Write the state after `epoch`; with `every_s`, only when that long has passed since the last write, or
        when `final` (a resume then repeats at most `every_s` seconds of work; the detector's state is 170 MB)."""
        due = final or time.monotonic() - self.last_write >= self.every_s
        if distributed.context().enabled:  # every rank takes part (RNG states are gathered): rank 0's clock decides
            due = bool(distributed.broadcast_flag(due))
        if not due:
            return
        rng = _rng_state()
        ranks = distributed.gather_objects(rng)
        if distributed.context().is_main:
            state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None, **rng,
                     "extra": extra or {}, "config": self.config}
            if len(ranks) > 1:
                state["rank_rng"] = ranks  # each rank resumes its own random streams
            with atomic_file(self.path) as tmp:
                torch.save(state, tmp)
        self.last_write = time.monotonic()

    def load(self, model, optimizer, scheduler=None, device="cpu") -> tuple[int, dict]:
        """-> (next epoch, extra); (0, {}) when there is no checkpoint."""
        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location=device, weights_only=False)
        if state.get("config") != self.config:
            import logging

            logging.getLogger(__name__).info("%s was written under other params, from other inputs or by other code: "
                                             "starting afresh", self.path)
            return 0, {}
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:  # same params, but the code's model changed since: not resumable
            import logging

            logging.getLogger(__name__).info("%s does not fit the current model: starting afresh", self.path)
            return 0, {}
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        ctx = distributed.context()
        ranks = state.get("rank_rng")
        _set_rng_state(ranks[ctx.rank] if ranks and len(ranks) == ctx.world else state)
        return state["epoch"] + 1, state["extra"]


def _rng_state() -> dict:
    state = {"torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate()}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    # map_location moved every tensor to the device, the RNG states too: they must be CPU byte tensors
    torch.set_rng_state(state["torch_rng"].cpu())
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])


def save_weights(path: str | Path, model, config: dict, **extra) -> None:
    model = distributed.unwrap(model)
    with atomic_file(path) as tmp:
        torch.save({"model": model.state_dict(), "config": config, **extra}, tmp)


def load_weights(path: str | Path, device="cpu") -> dict:
    from .errors import DataError

    path = Path(path)
    if not path.exists():
        raise DataError(path, "model weights not found")
    return torch.load(path, map_location=device, weights_only=False)


def step_mode(name: str, device: torch.device) -> str:
    """`runtime.step`: auto -> a CUDA graph on CUDA, eager on the CPU (which stays bit-reproducible)."""
    if name not in ("auto", "eager", "graph"):
        raise ValueError(f"runtime.step must be auto, eager or graph, got {name!r}")
    if device.type != "cuda":
        return "eager"
    return "graph" if name == "auto" else name


class StepRunner:
    """One optimisation step (forward, loss, backward, optimiser) run eagerly or replayed as a CUDA graph.

    `loss_fn(batch) -> (loss, {term: tensor})` is everything from the batch tensors to the scalar loss. In graph
    mode the step is captured once per `key` (e.g. the epoch's loss schedule) on the first batch of the static
    shape, into static input buffers; a replay then reruns every kernel with no Python and no launches in between.
    A batch of another shape (the last, smaller one of an epoch) runs eagerly on the same parameters and optimiser.
    Capturing needs a few warm-up steps; the parameters, buffers and optimiser state are restored afterwards, so
    the run is the same as an eager one (up to the GPU's own nondeterminism).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, mode: str = "eager",
                 clip_norm: float | None = None):
        self.model, self.opt, self.mode, self.clip = model, optimizer, mode, clip_norm
        self.graphs: dict = {}
        self.pool = None
        self.captures = self.eager_steps = 0

    def _eager(self, batch, loss_fn):
        self.opt.zero_grad(set_to_none=True)
        loss, terms = loss_fn(batch)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()
        return {k: v.detach() for k, v in terms.items()}

    def _snapshot(self):
        params = [t.detach().clone() for t in self.model.state_dict().values()]
        state = {id(p): {k: v.clone() for k, v in s.items() if torch.is_tensor(v)} for p, s in self.opt.state.items()}
        return params, state

    @torch.no_grad()
    def _restore(self, snap) -> None:
        params, state = snap
        for t, saved in zip(self.model.state_dict().values(), params):
            t.copy_(saved)
        for p, s in self.opt.state.items():  # in place: the graph holds these tensors' addresses
            saved = state.get(id(p))
            for k, v in s.items():
                if torch.is_tensor(v):
                    v.copy_(saved[k]) if saved is not None else v.zero_()  # no state yet: Adam starts from zeros

    def _capture(self, batch, key, loss_fn) -> bool:
        """Capture the step for `key`; on any failure restore everything and go on with eager steps."""
        snap, rng, stream = self._snapshot(), torch.cuda.get_rng_state(), torch.cuda.current_stream()
        try:
            self._record(batch, key, loss_fn, snap)
        except Exception as exc:  # noqa: BLE001 - whatever the capture hit, eager steps still train correctly
            import logging

            logging.getLogger(__name__).warning("CUDA graph capture failed (%s): eager steps from here on", exc)
            # a capture that dies inside torch.cuda.graph's exit leaves its capture stream current and the CUDA
            # generator marked as capturing (every later random draw then fails with "Offset increment outside
            # graph capture"): put the stream back and give the generator a fresh state
            torch.cuda.set_stream(stream)
            generator = torch.cuda.default_generators[torch.cuda.current_device()]
            generator.graphsafe_set_state(torch.Generator(device="cuda").graphsafe_get_state())
            torch.cuda.synchronize()
            self._restore(snap)
            self.mode, self.graphs = "eager", {}
            return False
        finally:
            torch.cuda.set_rng_state(rng)  # the warm-up's draws never happened: replays continue the eager stream
        return True

    def _record(self, batch, key, loss_fn, snap):
        static = {k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._eager(static, loss_fn)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        # thread_local: the loader's pin-memory thread allocates pinned memory while we capture, which in the
        # default global mode invalidates the capture (seen on an H200 at ScanRefer's size, world 2's fused feature)
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            loss, terms = loss_fn(static)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.opt.step()
        self.pool = graph.pool()
        self._restore(snap)
        self.captures += 1
        shapes = {k: v.shape for k, v in static.items() if torch.is_tensor(v)}
        self.graphs[key] = (graph, static, {k: v.detach() for k, v in terms.items()}, shapes)

    def __call__(self, batch: dict, key, loss_fn) -> dict:
        """-> {term: device tensor}; read them before the next call (a replay overwrites them)."""
        if self.mode != "graph":
            return self._eager(batch, loss_fn)
        if key not in self.graphs and not self._capture(batch, key, loss_fn):
            return self._eager(batch, loss_fn)
        graph, static, terms, shapes = self.graphs[key]
        if any(torch.is_tensor(v) and v.shape != shapes[k] for k, v in batch.items()):
            self.eager_steps += 1
            return self._eager(batch, loss_fn)
        for k, v in batch.items():
            if torch.is_tensor(v):
                static[k].copy_(v, non_blocking=True)
        graph.replay()
        return terms


def scheduled_adamw(groups: list[dict], weight_decay: float, device: torch.device, mode: str):
    """AdamW for a step under a learning-rate schedule: fused on CUDA (one kernel for every parameter instead of a
    loop of small ones) when eager, `CapturableAdamW` in graph mode, torch's plain loop on the CPU (as it always
    was: the CPU's bytes do not change)."""
    if mode == "graph":
        return CapturableAdamW(groups, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, weight_decay=weight_decay, fused=device.type == "cuda")


class CapturableAdamW(torch.optim.Optimizer):
    """AdamW (torch's update, decoupled weight decay) that a CUDA graph can replay under a schedule: the learning
    rate and both betas are 0-d device tensors (`GraphHyperparams` puts them there) and every operation takes them
    as tensors, so a replay reads the values the scheduler last wrote. torch's own capturable AdamW turns a tensor
    beta1 into a host number (its lerp and pow take Python scalars), which a graph cannot capture, and OneCycleLR
    moves beta1 every step. One step counter per group: every parameter that has a gradient in one step has one in
    every step (true of a fixed model; those that never get one are skipped, as torch skips them)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            if not all(torch.is_tensor(v) for v in (lr, beta1, beta2)):
                raise TypeError("CapturableAdamW reads lr and betas as device tensors: wrap it in GraphHyperparams")
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if "step" not in group:
                group["step"] = torch.zeros((), device=params[0].device)
            for p in params:
                if not self.state[p]:
                    self.state[p] = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
            grads = [p.grad for p in params]
            m = [self.state[p]["exp_avg"] for p in params]
            v = [self.state[p]["exp_avg_sq"] for p in params]
            step = group["step"]
            step.add_(1)
            torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
            torch._foreach_mul_(m, beta1)
            torch._foreach_add_(m, torch._foreach_mul(grads, 1 - beta1))
            torch._foreach_mul_(v, beta2)
            torch._foreach_add_(v, torch._foreach_mul(torch._foreach_mul(grads, grads), 1 - beta2))
            # step_size = lr / (1 - beta1^t); denominator sqrt(v) / sqrt(1 - beta2^t) + eps, as torch computes them
            denom = torch._foreach_sqrt(v)
            torch._foreach_mul_(denom, torch.rsqrt(1 - beta2 ** step))
            torch._foreach_add_(denom, group["eps"])
            update = torch._foreach_div(m, denom)
            torch._foreach_mul_(update, lr / (1 - beta1 ** step))
            torch._foreach_sub_(params, update)


class GraphHyperparams:
    """The learning rate and Adam's beta1 of every parameter group kept in device tensors that a captured step
    reads, refilled in place from what the scheduler wrote (`apply` after every `scheduler.step()` and after a
    resume). torch's OneCycleLR fills a tensor learning rate in place but replaces `betas` by a tuple of floats
    every step; a CUDA graph would keep replaying the beta1 it was captured with. fill_ from a float or a 0-d
    device tensor is a kernel launch, not a host sync."""

    def __init__(self, optimizer: torch.optim.Optimizer, device: torch.device):
        self.opt = optimizer
        self.lr = [torch.zeros((), device=device) for _ in optimizer.param_groups]
        self.betas = [(torch.zeros((), device=device), torch.zeros((), device=device)) for _ in optimizer.param_groups]
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        for group, lr, (b1, b2) in zip(self.opt.param_groups, self.lr, self.betas):
            if group["lr"] is not lr:
                lr.fill_(group["lr"])
                group["lr"] = lr
            if group["betas"][0] is not b1:
                b1.fill_(group["betas"][0])
            if group["betas"][1] is not b2:
                b2.fill_(group["betas"][1])
            group["betas"] = (b1, b2)


def make_optimizer(params, lr: float, weight_decay: float, device: torch.device, mode: str):
    """AdamW; fused and capturable on CUDA (one kernel for every parameter, and safe inside a graph)."""
    cuda = device.type == "cuda"
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=cuda, capturable=cuda and mode == "graph")
