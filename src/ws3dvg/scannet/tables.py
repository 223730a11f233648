"""Per-scene HDF5 datasets (one (N_scene, C) array per scene) read into one (sum N, C) table, decompressed by
several processes at once.

The multiview file holds 128 gzip-compressed float16 channels per point: for the GPU setting's 150 scenes about
2.7 GB (scaled from the 12-scene file's 213 MB), which one process decompresses at about 250 MB/s (h5py
serialises every call, so threads do not help).
Forked readers each take a share of the scenes and write their rows straight into one anonymous shared mapping,
so nothing is copied back; the table is the same, byte for byte, whatever the number of processes.
`iter_tables` reads a file scene window by scene window, for readers that go through the scenes once.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing as mp
from pathlib import Path

import h5py
import numpy as np

from ..engine.errors import DataError


def read_tables(path: str | Path, names: list[str], workers: int = 1, dtype=None,
                what: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """-> (table, starts): the datasets `names` of `path` stacked along their first axis (in `dtype`, default the
    file's), and the row where each begins, with the total row count last (len(names) + 1 entries)."""
    with h5py.File(path, "r") as h5:
        _check_names(h5, path, names, what)
        shapes = [h5[n].shape for n in names]
        dtype = np.dtype(dtype or (h5[names[0]].dtype if names else np.float32))
    row_shapes = {s[1:] for s in shapes}
    if len(row_shapes) > 1:
        raise DataError(path, f"{what} of different widths {sorted(row_shapes)}: each scene's must be (points, C)")
    row = row_shapes.pop() if shapes else ()
    starts = np.cumsum([0] + [s[0] for s in shapes]).astype(np.int64)
    count = int(starts[-1]) * math.prod(row)
    # an anonymous shared mapping: forked readers write into the parent's table, no copy back
    buf = mmap.mmap(-1, max(1, count * dtype.itemsize))
    table = np.frombuffer(buf, dtype, count=count).reshape(int(starts[-1]), *row)
    procs = max(1, min(workers, len(names)))
    if procs == 1:
        _fill(path, names, starts, table, range(len(names)))
        return table, starts
    ctx = mp.get_context("fork")  # the children need the mapping, and touch no CUDA
    readers = [ctx.Process(target=_fill, args=(path, names, starts, table, range(i, len(names), procs)), daemon=True)
               for i in range(procs)]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    failed = [r.exitcode for r in readers if r.exitcode != 0]
    if failed:
        raise DataError(path, f"{len(failed)} of {procs} reader processes failed (exit codes {failed}); "
                              f"see the traceback above")
    return table, starts


def iter_tables(path: str | Path, names: list[str], workers: int = 1, dtype=None, what: str = "features",
                budget_bytes: int = 1 << 30):
    """An iterator of (name, rows) in the order of `names`, read by `read_tables` a window of scenes at a time (at
    most `budget_bytes`, at least one scene): the whole of a large file (ScanRefer's float32 ENet features for all
    of ScanNet are tens of GB) never sits in memory at once. Every name is checked here, before the first read."""
    with h5py.File(path, "r") as h5:
        _check_names(h5, path, names, what)
        sizes = [h5[n].size * np.dtype(dtype or h5[n].dtype).itemsize for n in names]
    return _windows(path, names, sizes, workers, dtype, what, budget_bytes)


def _windows(path, names, sizes, workers, dtype, what, budget_bytes):
    i = 0
    while i < len(names):
        j, total = i + 1, sizes[i]
        while j < len(names) and total + sizes[j] <= budget_bytes:
            total += sizes[j]
            j += 1
        table, starts = read_tables(path, names[i:j], workers, dtype, what)
        for k in range(j - i):
            yield names[i + k], table[starts[k]:starts[k + 1]]
        i = j


def _check_names(h5, path, names, what) -> None:
    missing = [n for n in names if n not in h5]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(path, f"no {what} for {missing[:3]}{more}")


def _fill(path, names, starts, table, which) -> None:
    with h5py.File(path, "r") as h5:
        for i in which:
            ds, rows = h5[names[i]], np.s_[starts[i]:starts[i + 1]]
            if ds.shape[0] == 0:
                continue
            if ds.dtype == table.dtype:
                ds.read_direct(table, dest_sel=rows)
            else:
                table[rows] = ds[()]  # cast, e.g. a float32 file kept as float16
