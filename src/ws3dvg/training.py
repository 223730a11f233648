"""Shared training plumbing: seeding, device and mixed precision, data loaders, checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import random
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_file


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(False)
    return torch.Generator().manual_seed(seed)


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (no loss scaling needed); a no-op on CPU, which stays fp32 and deterministic."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int, collate_fn, workers: int = 0,
                device: torch.device | None = None, drop_last: bool = False) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=g, collate_fn=collate_fn,
        num_workers=workers, persistent_workers=workers > 0, pin_memory=device is not None and device.type == "cuda",
        drop_last=drop_last, prefetch_factor=4 if workers > 0 else None)


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


class Checkpoint:
    """`last.pt` in a folder: model, optimiser, scheduler, epoch and RNG states; written atomically.

    The training config and a fingerprint of the input files are stored with it; a checkpoint
    written under other params or from other inputs is not resumed from (when DVC reruns a stage
    because its data changed, training must start afresh, not pick up the finished old run).
    """

    def __init__(self, directory: str | Path, config: dict | None = None, inputs=()):
        self.path = Path(directory) / "last.pt"
        self.config = {**(config or {}), "inputs": input_fingerprint(inputs)}

    def save(self, epoch: int, model, optimizer, scheduler=None, extra: dict | None = None) -> None:
        state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict() if scheduler is not None else None,
                 "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
                 "extra": extra or {}, "config": self.config}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        with atomic_file(self.path) as tmp:
            torch.save(state, tmp)

    def load(self, model, optimizer, scheduler=None, device="cpu") -> tuple[int, dict]:
        """-> (next epoch, extra); (0, {}) when there is no checkpoint."""
        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location=device, weights_only=False)
        if state.get("config") != self.config:
            import logging

            logging.getLogger(__name__).info("%s was written under other params or from other inputs: starting afresh",
                                             self.path)
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
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return state["epoch"] + 1, state["extra"]


def save_weights(path: str | Path, model, config: dict) -> None:
    with atomic_file(path) as tmp:
        torch.save({"model": model.state_dict(), "config": config}, tmp)


def load_weights(path: str | Path, device="cpu") -> dict:
    from .errors import DataError

    path = Path(path)
    if not path.exists():
        raise DataError(path, "model weights not found")
    return torch.load(path, map_location=device, weights_only=False)
