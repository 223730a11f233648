"""The synthetic world's own GloVe: word vectors learned from text alone, as GloVe is learned from web text.

The paper embeds words with GloVe, which users of real ScanRefer have. The synthetic world's words are real
English words, but its default learned an embedding table from the grounding data alone. On world 2's 400-word
language that table memorises: couch and sofa, big and sizable, near and close each get their own vector from
a few hundred sentences (benchmarks/RESULTS.md, "The world's word vectors"). Here the world writes vectors in
GloVe's text format from a *text-only* corpus: descriptions of rooms that are not the dataset's scenes (their
generators are seeded apart), counted as co-occurrences within a window and factorised (positive PMI, then a
truncated SVD, the classic count-based route to distributional vectors). No box, class or target enters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.atomic import atomic_file
from . import grammar
from .scene import layout_room

CORPUS_STREAM = 1_000_003  # corpus room i draws from default_rng([seed, CORPUS_STREAM, i]): never a scene's stream


def corpus_room(cfg: dict, seed: int, index: int) -> list[list[str]]:
    """The token lists of one corpus room's descriptions (the same grammar and settings as the scenes')."""
    rng = np.random.default_rng([seed, CORPUS_STREAM, index])
    rows = grammar.room_descriptions(layout_room(rng, cfg), rng, cfg)[0]
    return [r["token"] for r in rows]


def cooccurrence(sentences: list[list[str]], window: int) -> tuple[list[str], np.ndarray]:
    """-> sorted vocabulary, (V, V) symmetric counts of word pairs at most `window` apart within a sentence,
    each weighted 1 / distance (GloVe's weighting)."""
    words = sorted({w for s in sentences for w in s})
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index[w] for s in sentences for w in s], np.int64)
    sentence = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    v = len(words)
    counts = np.zeros(v * v)
    for k in range(1, window + 1):  # one vectorised pass per distance
        same = sentence[:-k] == sentence[k:]
        a, b = ids[:-k][same], ids[k:][same]
        counts += np.bincount(a * v + b, minlength=v * v) / k
    counts = counts.reshape(v, v)
    return words, counts + counts.T


def ppmi_svd(counts: np.ndarray, dim: int, context_power: float = 0.75, rms: float = 0.4) -> np.ndarray:
    """Positive PMI with smoothed context probabilities, truncated SVD -> (V, dim) (zero-padded where the
    vocabulary is smaller than `dim`). Every row has the norm rms * sqrt(dim) (about 7 at 300 d), the order of
    released GloVe vectors' norms: frozen unit vectors feed the GRU inputs of about 0.06 and it learned to name
    the target class for 0.48 of the training sentences where the learned table reached 0.89. Each column's sign
    is fixed (largest entry positive) so the vectors do not depend on the LAPACK build's sign choice."""
    total = counts.sum()
    p_word = counts.sum(1, keepdims=True) / total
    context = counts.sum(0, keepdims=True) ** context_power
    p_context = context / context.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(counts / total) - np.log(p_word) - np.log(p_context)
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi, full_matrices=False)
    k = min(dim, len(s))
    vectors = u[:, :k] * np.sqrt(s[:k])
    vectors *= np.sign(vectors[np.abs(vectors).argmax(0), np.arange(k)])
    vectors *= rms * np.sqrt(dim) / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    return np.pad(vectors, ((0, 0), (0, dim - k)))


def write_glove_text(path: str | Path, words: list[str], vectors: np.ndarray) -> None:
    """GloVe's text format: a word, then its numbers, space separated, one word a line."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf8") as f:
        for word, vec in zip(words, vectors):
            f.write(word + " " + " ".join(f"{x:.6f}" for x in vec) + "\n")
