import sys

import numpy as np
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from keyword_coverage import hidden_kinds, masked_hidden_words  # noqa: E402

from ws3dvg.text.tagger import RuleTagger  # noqa: E402
from ws3dvg.text.vocab import KEEP, KEYWORD, PADDING  # noqa: E402


def test_hidden_kinds_by_hand():
    out = hidden_kinds([["brown", "table"], ["window"], ["wooden", "round"], []])
    # 5 keywords, 3 of them attribute words; one description each: both, other only, attribute only, none
    assert out == {"descriptions": 4, "keywords": 5, "attribute_share": 3 / 5, "attribute_only": 0.25,
                   "other_only": 0.25, "both": 0.25, "none": 0.25}


def test_masked_hidden_words_reads_the_keywords_within_each_row():
    vocab = ["<pad>", "the", "brown", "chair", "table", "near"]
    masked = {"ids": np.array([[1, 2, 3, 5, 1, 4], [1, 4, 0, 0, 0, 0]]),
              "mask": np.array([[KEEP, KEYWORD, KEEP, KEEP, KEEP, KEYWORD],
                                [KEEP, KEYWORD, KEYWORD, PADDING, PADDING, PADDING]]),
              "length": np.array([6, 2])}   # row 2's third position is past its length: never counted
    assert masked_hidden_words(masked, vocab) == [["brown", "table"], ["table"]]


def test_the_real_rows_path_counts_what_the_tagger_hides():
    tagger = RuleTagger(["chair", "table", "window"], adjectives="all_sentences")
    tokens = "this is a brown wooden chair . it is next to the round table and near the window .".split()
    hidden = [tokens[i] for i in tagger.keywords(tokens)]
    assert hidden == ["brown", "wooden", "round", "table", "window"]   # the target's own noun is never hidden
    assert hidden_kinds([hidden])["attribute_share"] == 3 / 5
