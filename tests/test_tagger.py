"""Keyword masking on hand-written ScanRefer-style sentences, keyword positions written out."""

import pytest
from conftest import REAL_LABEL_TABLE

from ws3dvg.synth.world import LABEL_ROWS
from ws3dvg.text.tagger import RuleTagger, make_tagger
from ws3dvg.text.tokens import tokenize

CASES = [
    # sentence, expected keywords in order of position
    ("this is a brown chair. it is next to the table.", ["brown", "table"]),
    ("the red chair is closest to the window.", ["red", "window"]),
    ("there is a black office chair between the desk and the kitchen cabinets.",
     ["black", "desk", "kitchen", "cabinets"]),
    ("the small trash can is under the sink.", ["small", "sink"]),
    ("a tall wooden bookshelf against the wall.", ["tall", "wooden", "wall"]),
    ("the chair in front of the coffee table. it is gray.", ["coffee", "table"]),
    ("this is a white pillow on top of the bed.", ["white", "bed"]),
    ("it is the round table in the middle of the room.", ["round", "middle", "room"]),
    ("the chair is to the left of the desk. the chair is blue.", ["desk"]),
    ("a large brown couch facing the tv.", ["large", "brown", "tv"]),
    ("the lamp on the desk near the window.", ["desk", "window"]),
    ("this is a monitor. it sits on the desk, to the right of the keyboard.", ["desk", "keyboard"]),
    ("the cabinet farthest from the door. it is brown.", ["door"]),
    ("there are two chairs by the table. this one is closer to the door.", ["table", "door"]),
    ("the picture above the bed in the corner of the room.", ["bed", "corner", "room"]),
    ("a blue box under the dining table.", ["blue", "dining", "table"]),
    ("the short square table with chairs around it.", ["short", "square", "chairs"]),
    ("the armchair next to the light brown table.", ["light", "brown", "table"]),
    # size words and "without" that the first lexicon lacked (world 2 and real rows use them)
    ("the sizable cabinet against the wall.", ["sizable", "wall"]),
    ("a compact desk. it has a flat top.", ["compact"]),
    ("the shelf without books by the bed.", ["books", "bed"]),
]


@pytest.fixture(scope="module")
def tagger():
    names = [r[1] for r in LABEL_ROWS] + ["keyboard", "tv", "pillow"]  # real-table names the cases use
    if REAL_LABEL_TABLE.exists():
        import pandas as pd

        names = list(pd.read_csv(REAL_LABEL_TABLE, sep="\t")["raw_category"])
    return RuleTagger(names)


@pytest.mark.parametrize("sentence, expected", CASES)
def test_keywords(tagger, sentence, expected):
    tokens = tokenize(sentence)
    got = [tokens[i] for i in tagger.keywords(tokens)]
    assert got == expected, (sentence, got)


REAL_LANGUAGE_CASES = [
    # written for these tests in the manner of real ScanRefer / Nr3D rows (plurals, nouns outside the
    # 18 classes, directions, comparatives, no prepositional phrase at all)
    ("the lamp is between the shelves and the fridge.", ["shelves", "fridge"]),
    ("a black chair with black armrests. it is on the left of the television.", ["black", "black", "armrests",
                                                                                  "television"]),
    ("the bed is on the left. it is brown.", ["left"]),
    ("the box on top of the computer tables.", ["computer", "tables"]),
    ("this door is on the left of the scene. it is closed.", ["scene"]),
    ("select the lower oven", ["lower"]),
    ("this window is opaque. it is brown.", ["brown"]),          # fallback: a later sentence's adjective
    ("it is a loft bed that looks like a couch", ["couch"]),      # fallback: nouns after the target's
    ("the oddly shaped table", ["table"]),                        # fallback: the target's own name
]


@pytest.mark.parametrize("sentence, expected", REAL_LANGUAGE_CASES)
def test_keywords_on_real_style_language(tagger, sentence, expected):
    tokens = tokenize(sentence)
    assert [tokens[i] for i in tagger.keywords(tokens)] == expected


def test_fallback_off_is_the_authors_rule(tagger):
    strict = RuleTagger(list(tagger.noun_heads), fallback=False)
    assert strict.keywords(tokenize("this window is opaque. it is brown.")) == []


@pytest.mark.parametrize("plural, singular_", [("shelves", "shelf"), ("boxes", "box"), ("stories", "story"),
                                                ("chairs", "chair"), ("glass", "glass"), ("couches", "couch"),
                                                ("people", "person")])
def test_singular(plural, singular_):
    from ws3dvg.text.tagger import singular

    assert singular(plural) == singular_


def test_anchor_slots_measurement():
    from ws3dvg.text.audit import AnchorSlots, masker_report

    tokens = tokenize("the chair next to the large white board, on the left of the room. it is near you.")
    slots = AnchorSlots()(tokens)
    # "on the left of" is one preposition; "near you": a pronoun, no slot
    assert [tokens[i] for i in slots] == ["board", "room"]

    class Marks:
        def keywords(self, toks):
            return [toks.index("board")] if "board" in toks else []

    rep = masker_report([tokens, tokenize("a chair.")], Marks())
    assert rep == {"descriptions": 2, "with_keyword_share": 0.5, "keywords_per_description": 0.5, "anchor_slots": 2,
                   "anchor_marked": 1, "anchor_marked_share": 0.5}


def test_positions_are_exact(tagger):
    tokens = tokenize("the chair between the bed and the coffee table.")
    #                  0   1     2       3   4   5   6   7      8    9
    assert tagger.keywords(tokens) == [4, 7, 8]


def test_spacy_backend_errors_clearly_without_spacy():
    pytest.importorskip("pytest")
    try:
        import spacy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="spaCy is not installed"):
            make_tagger("spacy", [])


@pytest.mark.parametrize("sentence, first, every", [
    # the authors' rule hides the first sentence's attribute words; all_sentences also the later ones'
    ("this is the blue picture. it is a small one.", ["blue"], ["blue", "small"]),
    ("the bed is on the left. it is brown and wooden.", ["left"], ["left", "brown", "wooden"]),
    ("a black chair with black armrests. it is big.", ["black", "black", "armrests"],
     ["black", "black", "armrests", "big"]),
    ("the lamp next to the bed", ["bed"], ["bed"]),                 # one sentence: the same either way
])
def test_keyword_adjectives_of_every_sentence(tagger, sentence, first, every):
    tokens = tokenize(sentence)
    everywhere = RuleTagger(list(tagger.noun_heads), adjectives="all_sentences")
    assert [tokens[i] for i in tagger.keywords(tokens)] == first
    assert [tokens[i] for i in everywhere.keywords(tokens)] == every


def test_keyword_adjectives_must_be_a_known_scope():
    with pytest.raises(ValueError, match="keyword adjectives: 'some' is not one of"):
        RuleTagger(["chair"], adjectives="some")


@pytest.mark.parametrize("sentence, plain, compared", [
    # the authors' parser tags ordinals and words of distance JJ / JJS: hidden with the first sentence's adjectives
    ("the second chair from the door. it is red.", ["door"], ["second", "door"]),
    ("the red chair is closest to the window.", ["red", "window"], ["red", "closest", "window"]),
    # a later sentence's comparison stays, as its attributes do, under the authors' first-sentence scope
    ("this is a chair. it is the farthest one from the door.", ["door"], ["door"]),
])
def test_keyword_comparisons(tagger, sentence, plain, compared):
    tokens = tokenize(sentence)
    comparing = RuleTagger(list(tagger.noun_heads), comparisons=True)
    assert [tokens[i] for i in tagger.keywords(tokens)] == plain
    assert [tokens[i] for i in comparing.keywords(tokens)] == compared
    everywhere = RuleTagger(list(tagger.noun_heads), adjectives="all_sentences", comparisons=True)
    later = tokenize("this is a chair. it is the farthest one from the door.")
    assert [later[i] for i in everywhere.keywords(later)] == ["farthest", "door"]


def test_make_tagger_passes_comparisons_to_the_rules():
    assert "closest" in make_tagger("rules", ["chair"], comparisons=True).adjective_words
    assert "closest" not in make_tagger("rules", ["chair"]).adjective_words
