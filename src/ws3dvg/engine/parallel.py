"""Process pools for the data stages, whose workers run numpy: spawned, with one BLAS thread each.

A forked worker inherits OpenBLAS's thread pool sized for every core, so N workers ran N x cores BLAS threads.
On a 2-core machine, synthesize took 13.2 s for 8 scenes with 2 forked workers and 11.5 s with 1. Spawned
workers whose thread-count variables say 1 took 6.2 s. The thread count changes no byte: test_determinism
compares 1 and 2 workers.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes whose BLAS runs one thread; on exit pending work is cancelled.

    Workers start when work is submitted (spawned pools start them on demand), so submit inside the block: the
    variables are set for exactly as long as it lasts."""
    saved = {k: os.environ.get(k) for k in BLAS_THREADS}
    os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
