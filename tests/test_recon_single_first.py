"""`teacher.departures.recon_single_first`: after the first epochs the reconstruction term learns for a while only
from the sentences with exactly one valid candidate, then from the best half of every sentence."""

from pathlib import Path

import pytest
import torch

from ws3dvg.engine.errors import ParamsError
from ws3dvg.grounding.losses import recon_phase, single_candidate_rows, teacher_losses
from ws3dvg.grounding.recipe import Recipe

INF = float("inf")
ON = Recipe(class_candidates=True, staged_distillation=True, recon_valid_half=True, recon_single_first=True)
OFF = Recipe(class_candidates=True, staged_distillation=True, recon_valid_half=True)
CFG = {"use_reconstruction": True, "all_candidates_epochs": 2, "single_candidate_epochs": 3,
       "loss_weights": {"mil": 2.0, "lang_cls": 2.0, "recon": 1.0, "distill": 1.0}}


def test_the_phases_by_epoch():
    assert [recon_phase(e, CFG, ON) for e in range(7)] == ["all", "all", "single", "single", "single", "best", "best"]
    assert [recon_phase(e, CFG, OFF) for e in range(4)] == ["all", "all", "best", "best"]
    assert recon_phase(2, {k: v for k, v in CFG.items() if k != "single_candidate_epochs"}, ON) == "best"


def test_single_candidate_rows():
    recon = torch.tensor([[[1.0, INF, INF], [1.0, 2.0, INF], [INF, INF, INF], [INF, 3.0, INF]]])
    sm = torch.tensor([[True, True, True, False]])
    assert single_candidate_rows(recon, sm).tolist() == [[True, False, False, False]]


def _out_and_batch(recon):
    b, s, k = recon.shape
    g = torch.Generator().manual_seed(0)
    out = {"sentence": torch.randn(b, s, 8, generator=g), "matched": torch.randn(b, 4, 8, generator=g),
           "class_logits": torch.randn(b, s, 18, generator=g), "recon": recon}
    batch = {"sent_mask": torch.ones(b, s, dtype=torch.bool), "prop_mask": torch.ones(b, 4, dtype=torch.bool),
             "class18": torch.zeros(b, s, dtype=torch.long), "mask": torch.zeros(b, s, 5, dtype=torch.long)}
    return out, batch


def test_the_single_phase_averages_the_one_candidate_sentences_only():
    recon = torch.tensor([[[1.5, INF, INF],        # one valid candidate: kept
                           [0.2, 0.4, 0.9],        # three: left out in the single phase
                           [INF, 2.5, INF]]],      # one: kept
                         requires_grad=True)
    out, batch = _out_and_batch(recon)
    _, terms = teacher_losses(out, batch, CFG, 3, ON)
    assert float(terms["recon"].detach()) == pytest.approx((1.5 + 2.5) / 2)
    terms["recon"].backward()
    assert recon.grad[0, 0].tolist() == [0.5, 0.0, 0.0] and not recon.grad[0, 1].any()
    # the best phase, and the switch off: the best half of every sentence (one of three for the second)
    for epoch, recipe in ((5, ON), (3, OFF)):
        _, terms = teacher_losses(out, batch, CFG, epoch, recipe)
        assert float(terms["recon"].detach()) == pytest.approx((1.5 + 0.2 + 2.5) / 3)


def test_a_batch_without_such_a_sentence_gives_zero():
    out, batch = _out_and_batch(torch.tensor([[[0.2, 0.4, INF]]]))
    assert float(teacher_losses(out, batch, CFG, 2, ON)[1]["recon"]) == 0.0


def test_the_terms_of_the_best_half_wait_for_it():
    recipe = Recipe(**dict(ON.to_dict(), recon_contrast=True))
    out, batch = _out_and_batch(torch.tensor([[[1.5, INF, INF], [0.2, 0.4, 0.9]]]))
    assert "recon_contrast" not in teacher_losses(out, batch, CFG, 4, recipe)[1]
    assert "recon_contrast" in teacher_losses(out, batch, CFG, 5, recipe)[1]


def test_it_needs_class_candidates_and_is_off_in_the_paper_recipe_and_params():
    import yaml
    with pytest.raises(ParamsError, match="recon_single_first.*class_candidates"):
        Recipe(recon_single_first=True)
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    assert params["teacher"]["departures"]["recon_single_first"] is False
    assert Recipe.from_params(dict(params["teacher"], variant="paper")).recon_single_first is False


def test_the_tiny_teacher_trains_through_every_phase(tiny_grounding, tmp_path):
    import numpy as np
    from conftest import TINY_GROUNDING

    from ws3dvg.grounding.teacher import train_teacher

    # one candidate a sentence (topk 1), so the real model's outputs give the single phase rows to learn from
    cfg = dict(TINY_GROUNDING, epochs=2, all_candidates_epochs=0, single_candidate_epochs=1, topk=1,
               departures=dict(TINY_GROUNDING["departures"], recon_single_first=True, class_candidates=True))
    history = train_teacher(cfg, Recipe.from_params(cfg), tiny_grounding, torch.device("cpu"), 5, str(tmp_path),
                            str(tmp_path / "live"))["history"]
    assert [recon_phase(e, cfg, Recipe.from_params(cfg)) for e in range(2)] == ["single", "best"]
    assert all(np.isfinite(h["train/recon"]) and h["train/recon"] > 0 for h in history)
