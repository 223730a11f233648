"""Vocabulary built from the training split, and token -> id encoding with keyword masks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

PAD, UNK, SOS, EOS = "[pad]", "unk", "[sos]", "[eos]"  # "unk" as in ScanRefer's GloVe table
SPECIALS = [PAD, UNK, SOS, EOS]
KEEP, KEYWORD, PADDING = 0, 1, 2


class Vocabulary:
    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        assert self.words[:4] == SPECIALS

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        counts = Counter(t for s in sentences for t in s)
        words = sorted(w for w, c in counts.items() if c >= min_count and w not in SPECIALS)
        return cls(SPECIALS + words)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"words": self.words}, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        return cls(json.loads(Path(path).read_text())["words"])


def encode_batch(token_lists: Sequence[Sequence[str]], keyword_lists: Sequence[Sequence[int]], vocab: Vocabulary,
                 max_len: int, sos_eos: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids (N, L) int32, mask (N, L) int8 (0 keep, 1 keyword, 2 padding), length (N,).

    Tokens beyond max_len are cut (keywords there go with them); sos/eos, when on, wrap the
    kept tokens and count on top of max_len.
    """
    width = max_len + (2 if sos_eos else 0)
    n = len(token_lists)
    ids = np.zeros((n, width), np.int32)
    mask = np.full((n, width), PADDING, np.int8)
    length = np.zeros(n, np.int64)
    for i, (toks, kws) in enumerate(zip(token_lists, keyword_lists)):
        toks = list(toks)[:max_len]
        row = vocab.encode(toks)
        m = np.zeros(len(toks), np.int8)
        kw = np.asarray([k for k in kws if k < len(toks)], dtype=np.int64)
        m[kw] = KEYWORD
        if sos_eos:
            row = [vocab.index[SOS]] + row + [vocab.index[EOS]]
            m = np.r_[np.int8(KEEP), m, np.int8(KEEP)]
        ids[i, : len(row)] = row
        mask[i, : len(row)] = m
        length[i] = len(row)
    return ids, mask, length
