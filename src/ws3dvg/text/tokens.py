"""Tokens of a description: ScanRefer-style tokenising of raw text, and cleaning of given token lists."""

from __future__ import annotations

import re
from typing import Iterable


def tokenize(text: str) -> list[str]:
    """ScanRefer-style tokens: lowercase words, with . and , as tokens of their own."""
    return re.findall(r"[a-z]+|[.,]", text.lower())


def clean_tokens(tokens: Iterable) -> list[str]:
    """A given token list as the vocabulary should see it: lower case, surrounding space stripped, a
    token with inner whitespace split, and empty tokens dropped (real ScanRefer has a "  " token)."""
    return [part for t in tokens for part in str(t).lower().split()]
