"""`teacher.departures.recon_word_mil`: after the first epochs each hidden keyword is also reconstructed from the
valid candidate that explains that word best."""

import math
from pathlib import Path

import pytest
import torch

from ws3dvg.grounding.losses import recon_word_mil_loss
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.models.grounding import reconstruction_score
from ws3dvg.text.vocab import KEYWORD

INF = float("inf")


def _logits_for(probs):
    """Log-probabilities as logits: probs (..., V) -> logits whose softmax is probs."""
    return torch.tensor(probs).log()


def test_each_word_takes_its_own_best_candidate_by_hand():
    # one sentence, 2 candidates, 3 positions (a kept word, two keywords), a vocabulary of 2 words
    # keyword 1 (word 0): candidate 0 gives it 0.9, candidate 1 0.2; keyword 2 (word 1): candidate 0 0.5, 1 0.6
    probs = [[[[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]],
              [[0.5, 0.5], [0.2, 0.8], [0.4, 0.6]]]]
    logits = _logits_for([probs])                     # (1, 1, 2, 3, 2)
    ids = torch.tensor([[[1, 0, 1]]])
    tokens = torch.tensor([[[0, KEYWORD, KEYWORD]]])
    recon = torch.tensor([[[1.0, 2.0]]])
    sm = torch.tensor([[True]])

    def tok(p_word, p_all):  # label smoothing 0.1 as reconstruction_score takes it
        return 0.9 * -math.log(p_word) - 0.1 * sum(math.log(q) for q in p_all) / len(p_all)

    want = (tok(0.9, [0.9, 0.1]) + tok(0.6, [0.4, 0.6])) / 2   # word 1 from candidate 0, word 2 from candidate 1
    assert float(recon_word_mil_loss(logits, ids, tokens, recon, sm)) == pytest.approx(want, rel=1e-5)
    # an invalid candidate is never the best: with candidate 1 invalid, both words come from candidate 0
    only0 = (tok(0.9, [0.9, 0.1]) + tok(0.5, [0.5, 0.5])) / 2
    got = recon_word_mil_loss(logits, ids, tokens, torch.tensor([[[1.0, INF]]]), sm)
    assert float(got) == pytest.approx(only0, rel=1e-5)
    # a padding sentence, or one without a valid candidate, counts nothing
    assert float(recon_word_mil_loss(logits, ids, tokens, recon, torch.tensor([[False]]))) == 0.0
    assert float(recon_word_mil_loss(logits, ids, tokens, torch.full((1, 1, 2), INF), sm)) == 0.0


def test_one_candidate_gives_the_keyword_part_of_the_reconstruction_score():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 1, 1, 4, 5, generator=g)
    ids = torch.randint(0, 5, (1, 1, 4), generator=g)
    tokens = torch.tensor([[[KEYWORD, KEYWORD, KEYWORD, KEYWORD]]])
    got = recon_word_mil_loss(logits, ids, tokens, torch.zeros(1, 1, 1), torch.tensor([[True]]))
    # reconstruction_score weighs keywords 0.7 (and the other words, none here, 0.3)
    want = reconstruction_score(logits.view(1, 4, 5), ids.view(1, 4), tokens.view(1, 4)) / 0.7
    assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_the_gradient_reaches_the_chosen_candidate_of_each_word_only():
    logits = _logits_for([[[[[0.9, 0.1]], [[0.2, 0.8]]]]]).requires_grad_(True)    # (1, 1, 2, 1, 2)
    recon_word_mil_loss(logits, torch.tensor([[[0]]]), torch.tensor([[[KEYWORD]]]), torch.zeros(1, 1, 2),
                        torch.tensor([[True]])).backward()
    assert logits.grad[0, 0, 0].abs().sum() > 0 and not logits.grad[0, 0, 1].any()


# the term only when switched on and after the first epochs, and its weight: tests/test_recon_contrast.py


def test_the_paper_recipe_and_params_leave_it_off():
    import yaml
    assert Recipe().recon_word_mil is False
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    assert params["teacher"]["departures"]["recon_word_mil"] is False
    assert Recipe.from_params(dict(params["teacher"], variant="paper")).recon_word_mil is False


def test_the_tiny_teacher_trains_with_it(tiny_grounding, tmp_path):
    """The real model's outputs carry what the term reads: two epochs, the term from the second on."""
    import numpy as np
    from conftest import TINY_GROUNDING

    from ws3dvg.grounding.teacher import train_teacher

    cfg = dict(TINY_GROUNDING, epochs=2, all_candidates_epochs=1,
               departures=dict(TINY_GROUNDING["departures"], recon_word_mil=True))
    history = train_teacher(cfg, Recipe.from_params(cfg), tiny_grounding, torch.device("cpu"), 5, str(tmp_path),
                            str(tmp_path / "live"))["history"]
    assert "train/recon_word" not in history[0]
    assert np.isfinite(history[1]["train/recon_word"]) and history[1]["train/recon_word"] > 0
