"""`teacher.departures.recon_contrast`: after the first epochs the fine stage's choice must also explain its
sentence's hidden words better than the sentence's other valid candidates. (The check that an optional teacher
term comes only when switched on and after the first epochs, with its weight, covers `recon_word_mil` too.)"""

import math
from pathlib import Path

import pytest
import torch

from ws3dvg.grounding.losses import recon_contrast_loss, recon_word_mil_loss, teacher_losses
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.text.vocab import KEYWORD

INF = float("inf")


def test_value_and_gradient_by_hand():
    recon = torch.tensor([[[1.0, 2.0, INF],      # 2 hidden words: logits -2, -4; the choice is candidate 0
                           [0.5, INF, INF],      # 1 valid candidate: nothing to contrast, counts 0
                           [3.0, 1.0, 2.0]]])    # padding sentence: counts 0
    sm = torch.tensor([[True, True, False]])
    words = torch.tensor([[2, 1, 3]])
    r = recon.clone().requires_grad_(True)
    loss = recon_contrast_loss(r, sm, words)
    assert float(loss.detach()) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)  # -log softmax at the choice
    loss.backward()
    other = math.exp(-2) / (1 + math.exp(-2))    # the posterior of candidate 1
    # d/dr_k = -n (softmax_k - [k is the choice]): the choice's score is pushed down, the other's up
    assert r.grad[0, 0].tolist() == pytest.approx([2 * other, -2 * other, 0.0], rel=1e-5)
    assert not r.grad[0, 1:].any()


def test_the_choice_is_the_lowest_score_and_ties_of_equal_scores_give_log_k():
    recon = torch.tensor([[[2.0, 0.5, 1.0], [1.0, 1.0, 1.0]]])
    sm = torch.tensor([[True, True]])
    words = torch.tensor([[1, 4]])
    got = recon_contrast_loss(recon, sm, words)
    first = -torch.log_softmax(torch.tensor([-2.0, -0.5, -1.0]), 0)[1]
    assert float(got) == pytest.approx((float(first) + math.log(3)) / 2, rel=1e-6)


def _out_and_batch():
    g = torch.Generator().manual_seed(0)
    b, s, k, p, h, length, v = 2, 3, 4, 6, 8, 5, 7
    out = {"sentence": torch.randn(b, s, h, generator=g), "matched": torch.randn(b, p, h, generator=g),
           "class_logits": torch.randn(b, s, 18, generator=g),
           "recon": torch.rand(b, s, k, generator=g) + 1, "recon_logits": torch.randn(b, s, k, length, v, generator=g)}
    out["recon"][0, 0, 3] = INF
    mask = torch.zeros(b, s, length, dtype=torch.long)
    mask[..., :2] = KEYWORD
    batch = {"sent_mask": torch.ones(b, s, dtype=torch.bool), "prop_mask": torch.ones(b, p, dtype=torch.bool),
             "class18": torch.zeros(b, s, dtype=torch.long), "mask": mask,
             "ids": torch.randint(0, v, (b, s, length), generator=g)}
    return out, batch


# each optional teacher term: its switch, its name among the terms (and its weight's key), and its value
OPTIONAL_TERMS = {
    "recon_contrast": ("recon_contrast", lambda out, batch: recon_contrast_loss(out["recon"], batch["sent_mask"],
                                                                               torch.full((2, 3), 2))),
    "recon_word_mil": ("recon_word", lambda out, batch: recon_word_mil_loss(out["recon_logits"], batch["ids"],
                                                                           batch["mask"], out["recon"],
                                                                           batch["sent_mask"])),
}


@pytest.mark.parametrize("switch", sorted(OPTIONAL_TERMS))
def test_teacher_adds_the_term_after_the_first_epochs_only_when_switched_on(switch):
    term, value = OPTIONAL_TERMS[switch]
    out, batch = _out_and_batch()
    cfg = {"use_reconstruction": True, "all_candidates_epochs": 3, "loss_weights": {"mil": 2.0, "lang_cls": 2.0,
           "recon": 1.0, "distill": 1.0}}
    on = Recipe(staged_distillation=True, **{switch: True})
    off = Recipe(staged_distillation=True)
    total_on, terms_on = teacher_losses(out, batch, cfg, 5, on)
    total_off, terms_off = teacher_losses(out, batch, cfg, 5, off)
    assert term not in terms_off and term not in teacher_losses(out, batch, cfg, 1, on)[1]
    want = value(out, batch)
    assert float(terms_on[term]) == pytest.approx(float(want))
    assert float(total_on - total_off) == pytest.approx(float(want), rel=1e-5)          # weight 1 if absent
    half = dict(cfg, loss_weights=dict(cfg["loss_weights"], **{term: 0.5}))
    assert float(teacher_losses(out, batch, half, 5, on)[0] - total_off) == pytest.approx(0.5 * float(want), rel=1e-5)


def test_the_paper_recipe_and_params_leave_it_off():
    import yaml
    assert Recipe().recon_contrast is False
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    assert params["teacher"]["departures"]["recon_contrast"] is False
