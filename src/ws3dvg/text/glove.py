"""Word vectors as users have them: ScanRefer's `glove.p` (pickle: word -> 300-d vector) or the
text format of the GloVe releases (`glove.840B.300d.txt`: word then numbers, space separated)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..engine.errors import DataError
from .vocab import UNK, Vocabulary


def load_glove(path: str | Path, words: set[str] | None = None) -> dict[str, np.ndarray]:
    """Read a pickle or text GloVe file; with `words`, keep only those (the text files are huge)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "word-vector file not found")
    if path.suffix in (".p", ".pkl", ".pickle"):
        try:
            with open(path, "rb") as f:
                table = pickle.load(f)
        except Exception as exc:
            raise DataError(path, f"not a pickle of word -> vector ({exc})") from exc
        if not isinstance(table, dict):
            raise DataError(path, f"pickle holds a {type(table).__name__}, expected a dict of word -> vector")
        out = {w: np.asarray(v, dtype=np.float32) for w, v in table.items() if words is None or w in words or w == UNK}
    else:
        out = {}
        dim = None
        with open(path, encoding="utf8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    continue
                # words may contain spaces in the 840B release: the vector is the last `dim` fields
                dim = dim or len(parts) - 1
                word = " ".join(parts[:-dim])
                if words is not None and word not in words and word != UNK:
                    continue
                try:
                    out[word] = np.asarray(parts[-dim:], dtype=np.float32)
                except ValueError as exc:
                    raise DataError(path, f"line {lineno}: not a word followed by {dim} numbers") from exc
    dims = {v.shape for v in out.values()}
    if len(dims) > 1:
        raise DataError(path, f"vectors of different sizes {sorted(dims)}")
    return out


def embedding_matrix(vocab: Vocabulary, glove: dict[str, np.ndarray], seed: int = 0) -> tuple[np.ndarray, int]:
    """(len(vocab), dim) matrix: GloVe vector, else the `unk` vector (random if GloVe has none).

    Returns the matrix and the number of vocabulary words GloVe lacked.
    """
    dim = len(next(iter(glove.values())))
    unk = glove.get(UNK)
    if unk is None:
        unk = np.random.default_rng(seed).normal(0, 0.1, dim).astype(np.float32)
    mat = np.empty((len(vocab), dim), np.float32)
    missing = 0
    for i, w in enumerate(vocab.words):
        v = glove.get(w)
        if v is None:
            missing += 1 if i >= 4 else 0
            v = unk
        mat[i] = v
    mat[0] = 0.0  # padding
    return mat, missing
