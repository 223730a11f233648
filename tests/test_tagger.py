"""Keyword masking on hand-written ScanRefer-style sentences, keyword positions written out."""

import pytest

from ws3dvg.synth.describe import tokenize
from ws3dvg.synth.world import LABEL_ROWS
from ws3dvg.text.tagger import RuleTagger

from conftest import REAL_LABEL_TABLE

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


def test_positions_are_exact(tagger):
    tokens = tokenize("the chair between the bed and the coffee table.")
    #                  0   1     2       3   4   5   6   7      8    9
    assert tagger.keywords(tokens) == [4, 7, 8]


def test_spacy_backend_errors_clearly_without_spacy():
    pytest.importorskip("pytest")
    try:
        import spacy  # noqa: F401
    except ImportError:
        from ws3dvg.text.tagger import make_tagger

        with pytest.raises(RuntimeError, match="spaCy is not installed"):
            make_tagger("spacy", [])
