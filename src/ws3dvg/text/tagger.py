"""Keywords to reconstruct: anchor nouns inside prepositional phrases, and first-sentence adjectives.

The default tagger is rule-based and needs no model download: its nouns are ScanNet's raw
category names (from the label table, multi-word names such as "coffee table" included) plus a
few scene words, its adjectives an attribute lexicon (colours, sizes, materials, shapes), and
its prepositions a list of single- and multi-word prepositions. spaCy is an optional backend.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

COLOURS = {"red", "blue", "green", "yellow", "white", "black", "brown", "gray", "grey", "orange", "purple", "pink",
           "beige", "tan", "silver", "golden", "gold", "dark", "light", "colorful", "wooden"}
SIZES = {"large", "small", "big", "little", "tall", "short", "long", "wide", "narrow", "huge", "tiny", "low",
         "high", "thin", "thick", "largest", "smallest", "biggest", "tallest", "shortest", "medium"}
MATERIALS = {"wood", "wooden", "metal", "metallic", "leather", "fabric", "plastic", "glass", "marble", "stone",
             "cloth", "padded", "cushioned", "upholstered"}
SHAPES = {"round", "square", "rectangular", "circular", "oval", "curved", "flat", "l-shaped", "cylindrical"}
ATTRIBUTES = COLOURS | SIZES | MATERIALS | SHAPES
# Multi-word prepositions first; matched longest first.
PREPOSITIONS = [
    "to the left of", "to the right of", "on the left of", "on the right of", "on the left side of",
    "on the right side of", "in front of", "on top of", "next to",
    "close to", "closest to", "nearest to", "near to", "far from", "farthest from", "furthest from", "away from",
    "closer to", "farther from", "further from", "across from", "opposite to", "opposite of", "adjacent to", "left of", "right of", "in between", "out of",
    "on", "in", "under", "underneath", "beneath", "below", "above", "over", "near", "beside", "besides",
    "between", "by", "behind", "against", "at", "from", "of", "to", "with", "inside", "across", "toward", "towards",
    "along", "around", "facing", "opposite", "beyond", "past", "among", "into", "onto", "atop",
]
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their", "two", "three",
               "one", "another", "other", "some", "each", "every"}
SCENE_NOUNS = {"room", "corner", "middle", "center", "centre", "side", "wall", "walls", "floor", "ceiling", "end",
               "edge", "entrance", "area", "row", "doorway", "hallway", "kitchen", "bathroom", "bedroom", "office"}
STOP = {".", ",", "and", "or", "is", "are", "it", "which", "that", "who", "there", "has", "have", "with"}


def _split(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z\-]+", text.lower()))


class RuleTagger:
    """Marks keyword positions in a token list. Vectorising is pointless here: sentences are short and
    tagging runs once per description in the masking stage."""

    def __init__(self, categories: Iterable[str], max_lookahead: int = 5):
        nouns: set[tuple[str, ...]] = set()
        for c in categories:
            words = _split(c)
            if words:
                nouns.add(words)
                nouns.add(words[:-1] + (_plural(words[-1]),))
        nouns |= {(n,) for n in SCENE_NOUNS}
        self.nouns = sorted(nouns, key=lambda n: (-len(n), n))  # longest first; ties by name, not set order
        self.noun_heads = {n[-1] for n in nouns}
        self.preps = sorted((_split(p) for p in PREPOSITIONS), key=lambda n: (-len(n), n))
        self.lookahead = max_lookahead

    def _match(self, tokens: Sequence[str], i: int, phrases) -> int:
        for p in phrases:
            if tuple(tokens[i:i + len(p)]) == p:
                return len(p)
        return 0

    def _noun_after(self, tokens: Sequence[str], j: int) -> tuple[int, int] | None:
        """The head of the noun phrase starting at j, as (start, end) of its last run of nouns.

        Determiners and modifiers before the first noun are skipped; after it the phrase goes on
        through attributes and nouns, so "the light brown table" ends on "table" and
        "the table lamp" covers both words.
        """
        k = j
        while k < min(len(tokens), j + self.lookahead):
            if tokens[k] in STOP or (k > j and self._match(tokens, k, self.preps) and tokens[k] not in self.noun_heads):
                return None
            if self._match(tokens, k, self.nouns):
                break
            k += 1
        else:
            return None
        head = None
        while k < len(tokens):
            n = self._match(tokens, k, self.nouns)
            if n:
                head = (head[0], k + n) if head and head[1] == k else (k, k + n)
                k += n
            elif tokens[k] in ATTRIBUTES:
                k += 1
            else:
                break
        return head

    def anchor_positions(self, tokens: Sequence[str]) -> set[int]:
        marked: set[int] = set()
        i = 0
        while i < len(tokens):
            p = self._match(tokens, i, self.preps)
            if not p:
                i += 1
                continue
            j = i + p
            while True:
                hit = self._noun_after(tokens, j)
                if hit is None:
                    break
                start, end = hit
                marked.update(range(start, end))
                # coordination: "between the bed and the table"
                if end < len(tokens) and tokens[end] in ("and", "or"):
                    j = end + 1
                    continue
                break
            i = j
        return marked

    def adjective_positions(self, tokens: Sequence[str]) -> set[int]:
        end = tokens.index(".") if "." in tokens else len(tokens)
        return {k for k in range(end) if tokens[k] in ATTRIBUTES}

    def keywords(self, tokens: Sequence[str]) -> list[int]:
        """Sorted keyword positions: PP anchor nouns anywhere, plus first-sentence adjectives."""
        return sorted(self.anchor_positions(tokens) | self.adjective_positions(tokens))


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


class SpacyTagger:
    """Optional backend: nouns whose syntactic head is a preposition, adjectives of the first sentence."""

    def __init__(self, model: str):
        try:
            import spacy
        except ImportError as exc:
            raise RuntimeError("language.tagger is 'spacy' but spaCy is not installed (pip install spacy, "
                               "or set language.tagger: rules)") from exc
        try:
            self.nlp = spacy.load(model, disable=["ner"])
        except OSError as exc:
            raise RuntimeError(f"spaCy model {model!r} is not installed (python -m spacy download {model}, "
                               "or set language.tagger: rules)") from exc

    def keywords(self, tokens: Sequence[str]) -> list[int]:
        from spacy.tokens import Doc

        doc = self.nlp(Doc(self.nlp.vocab, words=list(tokens)))
        end = tokens.index(".") if "." in tokens else len(tokens)
        out = set()
        for t in doc:
            if t.pos_ in ("NOUN", "PROPN") and (t.dep_ == "pobj" or (t.dep_ == "compound" and t.head.dep_ == "pobj")):
                out.add(t.i)
            if t.pos_ == "NOUN" and t.dep_ == "conj" and t.head.dep_ == "pobj":
                out.add(t.i)
            if t.pos_ == "ADJ" and t.i < end:
                out.add(t.i)
        return sorted(out)


def make_tagger(kind: str, categories: Iterable[str], spacy_model: str = "en_core_web_sm"):
    if kind == "rules":
        return RuleTagger(categories)
    if kind == "spacy":
        return SpacyTagger(spacy_model)
    raise ValueError(f"language.tagger must be 'rules' or 'spacy', got {kind!r}")
