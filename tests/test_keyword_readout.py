import sys

import numpy as np
import torch
from conftest import REPO, TINY_GROUNDING

sys.path.insert(0, str(REPO / "benchmarks"))
from keyword_readout import choice_by_words, collect, readout, word_kind  # noqa: E402


def test_readout_by_hand():
    # two hidden words, three candidates each; the target is candidate 0, then candidate 2
    nll = np.array([[0.5, 1.5, 2.5],
                    [1.0, 3.0, 2.0]])
    top1 = np.array([[True, False, False],
                     [True, True, False]])
    target = np.array([[True, False, False],
                       [False, False, True]])
    valid = np.array([[True, True, True],
                      [True, True, False]])  # the second word's target is not valid: never in the mean of others
    out = readout(nll, top1, target, valid | target)
    # margins: (1.5 + 2.5) / 2 - 0.5 = 1.5; (1.0 + 3.0) / 2 - 2.0 = 0.0 -> 0.75
    assert out["n"] == 2 and out["margin"] == 0.75
    assert out["top1_target"] == 0.5                       # word 1 yes, word 2 no
    assert out["top1_other"] == (0.0 + 1.0) / 2            # word 1: none of the others; word 2: both
    assert out["target_best"] == 0.5                       # word 1's target is lowest, word 2's (2.0) is not


def test_choice_by_words_by_hand():
    # three sentences, three candidates, three positions each
    nll = np.zeros((3, 3, 3))
    nll[0] = [[1.0, 3.0, 9.0],   # position 0 a noun, 1 an attribute word, 2 not hidden (never counts)
              [2.0, 1.0, 0.0],   # candidate 1, the target: keywords 1.5, attribute 1.0, noun 2.0
              [0.5, 2.0, 0.0]]   # keywords 1.25, attribute 2.0, noun 0.5
    nll[1, :, 0] = [0.0, 2.0, 1.0]   # one hidden noun; candidate 0 is not valid, the target is 2
    nll[2, :, 0] = [5.0, 1.0, 3.0]   # one hidden attribute word, no noun; the target is 1
    keyword = np.array([[True, True, False], [True, False, False], [True, False, False]])
    attribute = np.array([[False, True, False], [False, False, False], [True, False, False]])
    valid = np.array([[True, True, True], [False, True, True], [True, True, True]])
    out = choice_by_words(nll, keyword, attribute, valid, np.array([1, 2, 1]))
    assert out["keywords"].tolist() == [False, True, True]               # 1.25 < 1.5 picks candidate 2 in row 0
    assert out["attributes_or_keywords"].tolist() == [True, True, True]  # row 1 has no attribute: its keywords
    assert out["nouns"].tolist() == [False, True, False]                 # row 2 has no noun: the first valid one


def test_word_kinds_follow_the_tagger_lexicons():
    assert [word_kind(w) for w in ("red", "wooden", "round", "largest", "sink")] == \
        ["colour", "material", "shape", "size", "noun"]


def test_collect_on_a_tiny_teacher(tiny_grounding, tmp_path):
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import build_teacher, save_teacher

    recipe = Recipe.from_params(TINY_GROUNDING)
    ds = grounding_set(tiny_grounding, "val", TINY_GROUNDING, recipe)
    torch.manual_seed(0)
    model = build_teacher(TINY_GROUNDING, recipe, tiny_grounding["language_dir"], ds.feature_dim, 0)
    save_teacher(str(tmp_path / "teacher.pt"), model, TINY_GROUNDING, recipe)
    out = collect(str(tmp_path / "teacher.pt"), tiny_grounding, torch.device("cpu"), min_count=1)
    words = out.pop("words")
    by_words = out.pop("choice_by_words")
    assert out.pop("decoders") == "one"
    assert set(by_words) == {"keywords", "attributes_or_keywords", "nouns"}
    assert all(0 <= v <= 1 for v in by_words.values())
    assert words and all(word_kind(w) != "noun" for w in words)   # each attribute word on its own
    assert sum(row["n"] for row in words.values()) == sum(out[k]["n"] for k in out if k not in ("noun", "fine_choice"))
    choice = out.pop("fine_choice")
    assert choice["n"] > 0 and 0 <= choice["target_lowest"] <= 1
    assert out and sum(row["n"] for row in out.values()) > 0
    for row in out.values():
        assert 0 <= row["top1_target"] <= 1 and 0 <= row["target_best"] <= 1 and np.isfinite(row["margin"])


def test_an_anchor_decoder_teacher_is_read_word_by_word_from_the_decoder_that_scores_it(tiny_grounding, tmp_path):
    """anchor_decoder: attribute words from the first decoder, every other keyword (`noun`) from the second. So a
    change of the second decoder moves the noun readout and leaves every attribute kind as it was."""
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import build_teacher, save_teacher

    cfg = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], anchor_decoder=True))
    recipe = Recipe.from_params(cfg)
    ds = grounding_set(tiny_grounding, "val", cfg, recipe)
    torch.manual_seed(0)
    model = build_teacher(cfg, recipe, tiny_grounding["language_dir"], ds.feature_dim, 0)
    outs = []
    for step in range(2):
        if step:
            with torch.no_grad():
                for p in model.anchor_decoder.parameters():
                    p.add_(0.1 * torch.randn_like(p))
        save_teacher(str(tmp_path / "teacher.pt"), model, cfg, recipe)
        outs.append(collect(str(tmp_path / "teacher.pt"), tiny_grounding, torch.device("cpu"), min_count=1))
    before, after = outs
    assert before["decoders"] == after["decoders"] == "routed"
    attribute_kinds = [k for k in before if k in ("material", "colour", "shape", "size")]
    assert attribute_kinds and "noun" in before
    for kind in attribute_kinds:
        assert after[kind] == before[kind]
    assert after["words"] == before["words"]                 # attribute words only
    assert after["noun"]["margin"] != before["noun"]["margin"]
