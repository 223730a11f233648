"""How well the keyword masker covers a set of descriptions, measured without its noun lexicon.

An *anchor slot* is the head of the noun phrase that follows a preposition: after the
preposition (the tagger's list, multi-word ones as a unit), determiners and numbers are
skipped, the phrase runs until a word that cannot be inside it (punctuation, a preposition, a
conjunction, a pronoun, a determiner, a verb form), and its last word is the head
("next to the large white *board*", "on the *left* of the *room*"). This is the standard
"last word of the chunk" rule: it knows closed word classes only, never which words are nouns,
so it can tell where the tagger's noun list falls short. It is a measurement, not a tagger: it
also calls "by the *way*" an anchor and misses nouns inside compound verbs.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .tagger import DETERMINERS, PREPOSITIONS, _by_first_word, _split

NUMBERS = {"one", "two", "three", "four", "five", "six", "first", "second", "third", "fourth", "last", "both",
           "all", "several", "few", "many", "any", "no", "my", "your", "our"}
PRONOUNS = {"it", "its", "them", "they", "you", "he", "she", "him", "me", "us", "itself", "this", "that", "these",
            "those", "which", "who", "whom", "whose", "where", "when", "what", "there", "here", "one", "ones",
            "other", "others", "each", "another"}
CONJUNCTIONS = {"and", "or", "but", "nor", "so", "while", "as", "than", "if", "because", "then", "also", "either"}
VERBS = {"is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "can", "could",
         "will", "would", "should", "may", "might", "must", "sits", "sit", "stands", "stand", "lies", "hangs",
         "located", "placed", "positioned", "situated", "mounted", "attached", "found", "seen", "see", "look",
         "looks", "faces", "face", "pushed", "tucked", "leaning", "leans", "closest", "nearest", "farthest",
         "select", "choose", "chose", "pick", "find", "click", "go", "use", "enter", "exit"}  # Nr3D's imperatives
ADVERBS = {"very", "just", "right", "directly", "slightly", "almost", "only", "too", "not", "also", "most", "more",
           "less", "immediately", "closer", "further", "farther", "away", "up", "down", "out", "off", "again", "next",
           "far"}


class AnchorSlots:
    def __init__(self, prepositions: Iterable[str] = PREPOSITIONS):
        self.preps = _by_first_word(_split(p) for p in prepositions)
        self.single = {p[0] for ps in self.preps.values() for p in ps if len(p) == 1}
        self.breaks = self.single | PRONOUNS | CONJUNCTIONS | VERBS | DETERMINERS | NUMBERS

    def _prep_at(self, tokens: Sequence[str], i: int) -> int:
        for p in self.preps.get(tokens[i], ()):
            if tuple(tokens[i:i + len(p)]) == p:
                return len(p)
        return 0

    def __call__(self, tokens: Sequence[str]) -> list[int]:
        """Positions of the anchor slots of one tokenised description."""
        slots, i = [], 0
        while i < len(tokens):
            n = self._prep_at(tokens, i)
            if not n:
                i += 1
                continue
            j = i + n
            while j < len(tokens) and (tokens[j] in DETERMINERS or tokens[j] in NUMBERS) and tokens[j] not in PRONOUNS:
                j += 1
            k = j
            while k < len(tokens) and tokens[k].isalpha() and tokens[k] not in self.breaks \
                    and not tokens[k].endswith("ing") and tokens[k] not in ADVERBS:
                k += 1
            if k > j:
                slots.append(k - 1)
            i = max(j, i + n)
        return slots


def masker_report(token_lists: Sequence[Sequence[str]], tagger) -> dict:
    """Share of descriptions with a keyword, keywords per description; anchor slots found and how many the tagger
    marked."""
    slots_of = AnchorSlots()
    with_kw = slots = marked = total = 0
    for tokens in token_lists:  # one description at a time: the tagger itself is per description
        kws = set(tagger.keywords(tokens))
        with_kw += bool(kws)
        total += len(kws)
        s = slots_of(tokens)
        slots += len(s)
        marked += sum(k in kws for k in s)
    n = len(token_lists)
    return {"descriptions": n, "with_keyword_share": with_kw / max(n, 1), "keywords_per_description": total / max(n, 1),
            "anchor_slots": slots,
            "anchor_marked": marked, "anchor_marked_share": marked / max(slots, 1)}
