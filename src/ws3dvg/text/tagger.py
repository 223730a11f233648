"""Keywords to reconstruct: anchor nouns inside prepositional phrases, and first-sentence adjectives (the authors'
rule; `language.keyword_adjectives: all_sentences` takes every sentence's).

The default tagger is rule-based and needs no model download: its nouns are ScanNet's raw
category names (from the label table, multi-word names such as "coffee table" included) plus a
few scene words, its adjectives an attribute lexicon (colours, sizes, materials, shapes; with `comparisons`
also ordinals and words of distance, which the authors' parser tags adjectives), and
its prepositions a list of single- and multi-word prepositions. spaCy is an optional backend.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

COLOURS = {"red", "blue", "green", "yellow", "white", "black", "brown", "gray", "grey", "orange", "purple", "pink",
           "beige", "tan", "silver", "golden", "gold", "dark", "light", "colorful", "wooden", "maroon", "navy",
           "teal", "cream", "ivory", "turquoise", "violet", "burgundy", "bright", "pale", "transparent", "clear"}
SIZES = {"large", "small", "big", "little", "tall", "short", "long", "wide", "narrow", "huge", "tiny", "low",
         "high", "thin", "thick", "largest", "smallest", "biggest", "tallest", "shortest", "medium",
         # comparatives and superlatives that single an object out ("the lower cabinet", "the larger of")
         "larger", "smaller", "bigger", "taller", "shorter", "longer", "wider", "narrower", "higher", "lower",
         "highest", "lowest", "longest", "widest", "upper", "elevated", "mini",
         "compact", "sizable", "sizeable", "skinny", "slim", "giant", "oversized", "massive", "petite", "bulky"}
MATERIALS = {"wood", "wooden", "metal", "metallic", "leather", "fabric", "plastic", "glass", "marble", "stone",
             "cloth", "padded", "cushioned", "upholstered", "steel", "striped", "checkered", "checked", "plaid",
             "tiled", "patterned", "plain"}
SHAPES = {"round", "square", "rectangular", "circular", "oval", "curved", "flat", "l-shaped", "cylindrical",
          "straight", "open", "closed", "shut", "empty", "full", "covered", "uncovered"}
ATTRIBUTES = COLOURS | SIZES | MATERIALS | SHAPES
# Words that compare the target with others of its kind. The authors' parser tags them adjectives (JJ, JJR, JJS) and
# hides them with the first sentence's other adjectives; `comparisons=True` does so here too.
COMPARISONS = {"first", "second", "third", "fourth", "fifth", "last", "closest", "nearest", "farthest", "furthest",
               "closer", "nearer", "farther", "further", "leftmost", "rightmost"}
# Multi-word prepositions first; matched longest first.
PREPOSITIONS = [
    "to the left of", "to the right of", "on the left of", "on the right of", "on the left side of",
    "on the right side of", "in front of", "on top of", "next to",
    "close to", "closest to", "nearest to", "near to", "far from", "farthest from", "furthest from", "away from",
    "closer to", "farther from", "closest", "nearest", "further from", "across from", "opposite to", "opposite of", "adjacent to", "left of", "right of", "in between", "out of",
    "on", "in", "under", "underneath", "beneath", "below", "above", "over", "near", "beside", "besides",
    "between", "by", "behind", "against", "at", "from", "of", "to", "with", "without", "inside", "across", "toward", "towards",
    "along", "around", "facing", "opposite", "beyond", "past", "among", "into", "onto", "atop",
]
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their", "two", "three",
               "one", "another", "other", "some", "each", "every"}
SCENE_NOUNS = {"room", "corner", "middle", "center", "centre", "side", "wall", "walls", "floor", "ceiling", "end",
               "edge", "entrance", "area", "row", "doorway", "hallway", "kitchen", "bathroom", "bedroom", "office"}
# Anchors that real descriptions name beyond the label table's object names: places and directions
# ("on the left", "at the top"), parts ("by its handle"), groups ("a stack of"), and common objects
# the table spells otherwise ("fridge", "tv stand" is there, "television" is not).
EXTRA_NOUNS = {
    "left", "right", "top", "bottom", "front", "back", "rear", "head", "foot", "far", "scene", "space", "spot",
    "ground", "surface", "level", "height", "position", "direction", "view", "viewer", "way", "line", "aisle",
    "entryway", "corridor", "garage", "hall", "closet", "stall", "booth", "cubicle", "section", "part", "piece",
    "unit", "set", "pair", "group", "stack", "pile", "bunch", "cluster", "row", "column", "handle", "lid", "leg",
    "arm", "armrest", "backrest", "seat", "cushion", "rim", "sill", "knob", "hinge", "drawer", "shelf", "panel",
    "pane", "frame", "base", "color", "colour", "shape", "size", "pattern", "design", "fridge", "television",
    "computer", "screen", "tub", "trashcan", "bookcase", "countertop", "vanity", "dryer", "washer", "recliner",
    "stand", "person", "man", "woman", "guy", "thing", "item", "object", "water", "light", "sunlight", "entrance",
    "cupboard", "settee", "painting", "poster", "artwork", "carton", "basin", "washbasin", "wastebasket", "bin",
    "drape", "display", "chaise", "book", "door", "doors", "border",
}
IRREGULAR_PLURALS = {"shelves": "shelf", "knives": "knife", "leaves": "leaf", "people": "person", "men": "man",
                     "women": "woman", "feet": "foot", "halves": "half"}
STOP = {".", ",", "and", "or", "is", "are", "it", "which", "that", "who", "there", "has", "have", "with"}


def _split(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z\-]+", text.lower()))


class RuleTagger:
    """Marks keyword positions in a token list. Vectorising is pointless here: sentences are short and
    tagging runs once per description in the masking stage."""

    def __init__(self, categories: Iterable[str], max_lookahead: int = 5, fallback: bool = True,
                 adjectives: str = "first_sentence", comparisons: bool = False):
        nouns: set[tuple[str, ...]] = set()
        for c in categories:
            words = _split(c)
            if words:
                nouns.add(words)
                nouns.add(words[:-1] + (_plural(words[-1]),))
        nouns |= {(n,) for n in SCENE_NOUNS | EXTRA_NOUNS}
        self.nouns = _by_first_word(nouns)
        self.noun_heads = {n[-1] for n in nouns}
        self.preps = _by_first_word(_split(p) for p in PREPOSITIONS)
        self.lookahead = max_lookahead
        self.fallback = fallback
        self.adjectives = _check_adjectives(adjectives)
        self.adjective_words = ATTRIBUTES | COMPARISONS if comparisons else ATTRIBUTES

    def _match(self, tokens: Sequence[str], i: int, phrases) -> int:
        """Length of the longest phrase of `phrases` (an index by first word) starting at i, else 0."""
        for p in phrases.get(tokens[i], ()) if i < len(tokens) else ():
            if tuple(tokens[i:i + len(p)]) == p:
                return len(p)
        return 0

    def _match_noun(self, tokens: Sequence[str], i: int) -> int:
        """Length of the noun (multi-word ones included) at i, its last word also in plural ("shelves")."""
        n = self._match(tokens, i, self.nouns)
        if n or i >= len(tokens):
            return n
        # the plural of the phrase's last word: "coffee tables" (same first word), "shelves" (one word)
        for p in self.nouns.get(tokens[i], ()) + self.nouns.get(singular(tokens[i]), ()):
            k = i + len(p) - 1
            if k < len(tokens) and tuple(tokens[i:k]) == p[:-1] and singular(tokens[k]) == p[-1]:
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
            if self._match_noun(tokens, k):
                break
            k += 1
        else:
            return None
        head = None
        while k < len(tokens):
            n = self._match_noun(tokens, k)
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
        end = adjective_end(tokens, self.adjectives)
        return {k for k in range(end) if tokens[k] in self.adjective_words}

    def keywords(self, tokens: Sequence[str]) -> list[int]:
        """Sorted keyword positions: PP anchor nouns anywhere, plus first-sentence adjectives (every sentence's
        with `adjectives="all_sentences"`).

        With `fallback` (the default), a description that has neither ("this window is opaque. it is
        brown.") gets the attributes of its later sentences, else the nouns after its first noun
        phrase (the target's), else that first noun ("the oddly shaped table"), so that the fine stage has something to reconstruct in (almost) every
        description; the authors' rule leaves such descriptions without keywords (`fallback=False`).
        """
        found = self.anchor_positions(tokens) | self.adjective_positions(tokens)
        if found or not self.fallback:
            return sorted(found)
        found = {k for k, t in enumerate(tokens) if t in ATTRIBUTES}
        if found:
            return sorted(found)
        nouns, k = [], 0
        while k < len(tokens):
            n = self._match_noun(tokens, k)
            nouns.append(range(k, k + n)) if n else None
            k += max(n, 1)
        return sorted(i for r in (nouns[1:] or nouns[:1]) for i in r)  # last resort: the target's own name


ADJECTIVE_SCOPES = ("first_sentence", "all_sentences")


def _check_adjectives(scope: str) -> str:
    if scope not in ADJECTIVE_SCOPES:
        raise ValueError(f"keyword adjectives: {scope!r} is not one of {ADJECTIVE_SCOPES}")
    return scope


def adjective_end(tokens: Sequence[str], scope: str) -> int:
    """Where the adjectives that become keywords end: the first full stop (the authors' rule), or the end."""
    if scope == "all_sentences" or "." not in tokens:
        return len(tokens)
    return tokens.index(".")


def _by_first_word(phrases) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word tuples indexed by their first word, longest first (ties by name, never set order)."""
    index: dict[str, list] = {}
    for p in sorted(set(phrases), key=lambda n: (-len(n), n)):
        index.setdefault(p[0], []).append(p)
    return {k: tuple(v) for k, v in index.items()}


def singular(word: str) -> str:
    """A plural noun's singular by English spelling rules ("shelves" -> "shelf", "boxes" -> "box",
    "stories" -> "story"); other words as they are. Only for matching, never written back."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes", "shes", "ches", "zes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


class SpacyTagger:
    """Optional backend: nouns whose syntactic head is a preposition, adjectives of the first sentence (or of
    every sentence)."""

    def __init__(self, model: str, adjectives: str = "first_sentence"):
        self.adjectives = _check_adjectives(adjectives)
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
        end = adjective_end(tokens, self.adjectives)
        out = set()
        for t in doc:
            if t.pos_ in ("NOUN", "PROPN") and (t.dep_ == "pobj" or (t.dep_ == "compound" and t.head.dep_ == "pobj")):
                out.add(t.i)
            if t.pos_ == "NOUN" and t.dep_ == "conj" and t.head.dep_ == "pobj":
                out.add(t.i)
            if t.pos_ == "ADJ" and t.i < end:
                out.add(t.i)
        return sorted(out)


def make_tagger(kind: str, categories: Iterable[str], spacy_model: str = "en_core_web_sm", fallback: bool = True,
                adjectives: str = "first_sentence", comparisons: bool = False):
    """`comparisons` concerns the rule tagger's lexicon; spaCy's part-of-speech tags call them adjectives anyway."""
    if kind == "rules":
        return RuleTagger(categories, fallback=fallback, adjectives=adjectives, comparisons=comparisons)
    if kind == "spacy":
        return SpacyTagger(spacy_model, adjectives)
    raise ValueError(f"language.tagger must be 'rules' or 'spacy', got {kind!r}")
