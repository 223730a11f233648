"""The student's class prior (`distill.class_prior`): log P(the proposal is of the sentence's class) added to the
match head's score with a learned weight that starts at 1."""

import math

import pytest
import torch

from ws3dvg.models.grounding import Student, same_class_log_prob


def test_same_class_log_prob_hand_case():
    # one scene, two sentences, three proposals, three classes. Sentence 0 is sure of class 0; sentence 1 splits
    # 3:1 between classes 1 and 2 (logits log 3, 0 and -inf). Proposal 0 is class 0, proposal 1 half class 1 and
    # half class 2, proposal 2 class 2.
    lang = torch.tensor([[[0.0, -1e9, -1e9], [-1e9, math.log(3.0), 0.0]]])
    det = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]])
    want = torch.tensor([[[0.0, math.log(1e-6), math.log(1e-6)],        # no mass: the floor
                          [math.log(1e-6), math.log(0.75 * 0.5 + 0.25 * 0.5), math.log(0.25)]]])
    torch.testing.assert_close(same_class_log_prob(lang, det), want, rtol=1e-5, atol=1e-5)


def _batch(b=1, s=2, p=4, length=5, c=18, seed=0):
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(b, p, 3, generator=g) * 4
    return {"ids": torch.randint(1, 20, (b, s, length), generator=g), "length": torch.full((b, s), length),
            "features": torch.randn(b, p, 12, generator=g),
            "corners": centre[:, :, None] + 0.2 * (torch.rand(b, p, 8, 3, generator=g) - 0.5),
            "prop_mask": torch.ones(b, p, dtype=torch.bool),
            "class_scores": torch.softmax(3 * torch.randn(b, p, c, generator=g), -1)}


@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_student_score_adds_the_weighted_log_prior(weight):
    cfg = {"hidden": 16, "embedding_dim": 8}
    torch.manual_seed(0)
    plain = Student(20, 12, cfg).eval()
    torch.manual_seed(0)
    prior = Student(20, 12, dict(cfg, class_prior=True)).eval()
    assert plain.class_prior is None and float(prior.class_prior.detach()) == 1.0  # it starts as the product of the two
    prior.load_state_dict(dict(plain.state_dict(), class_prior=torch.tensor(weight)))
    batch = _batch()
    with torch.no_grad():
        a, b = plain(batch), prior(batch)
    torch.testing.assert_close(b["scores"], a["scores"] + weight * same_class_log_prob(a["class_logits"],
                                                                                        batch["class_scores"]))
    # the language classifier learns from its own loss only: the prior passes no gradient into it
    prior.train()
    out = prior(batch)
    grad = torch.autograd.grad(out["scores"].logsumexp(-1).sum(), prior.language.lang_cls[0].weight,
                               allow_unused=True)[0]
    assert grad is None or float(grad.abs().max()) == 0.0


def test_the_paper_recipe_and_the_joint_head_leave_the_student_departures_off():
    """`teacher.variant: paper` is the authors' student too, and the teacher's jointly trained head (the authors' weak
    student) was trained without them: distill's class_prior and posterior_targets are off there, on elsewhere."""
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import student_config

    arch = {"hidden": 16, "embedding_dim": 8, "word_vectors": "", "use_multiview": False}
    ours = Recipe(staged_distillation=True, hard_distillation=True).to_dict()
    joint = Recipe(hard_distillation=True).to_dict()  # staged_distillation off: the head trains inside the teacher
    for switches in (("class_prior", "posterior_targets"), ("confidence_weighted",)):  # the last two: exclusive
        distill = dict.fromkeys(switches, True) | {"epochs": 1}
        for recipe, supervision, on in ((ours, "weak", True), (ours, "full", True), (Recipe().to_dict(), "weak", False),
                                        (Recipe().to_dict(), "full", False), (joint, "weak", False),
                                        (joint, "full", True)):
            cfg = student_config(distill, supervision, dict(arch, recipe=recipe))
            assert all(cfg[k] is on for k in switches), (recipe, supervision, switches)
            assert cfg["epochs"] == 1 and cfg["hidden"] == 16


def test_confidence_weighted_hard_distillation_by_hand():
    """distill.confidence_weighted: each sentence's cross-entropy toward the teacher's best candidate, weighted by
    the teacher's posterior of that candidate, over the weights' sum; off, the plain mean."""
    import math

    import torch

    from ws3dvg.engine.errors import ParamsError
    from ws3dvg.grounding.losses import hard_distillation_loss, student_distillation
    from ws3dvg.grounding.recipe import Recipe

    scores = torch.tensor([[[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]]])          # (B=1, S=2, P=3)
    candidates = torch.tensor([[[1, 2], [0, 1]]])                         # (1, 2, K=2)
    # sentence 0: candidate 1 best (0.2 < 0.7), 2 hidden words -> posterior of it 1 / (1 + e^-1)
    # sentence 1: only candidate 0 valid -> posterior 1
    recon = torch.tensor([[[0.7, 0.2], [0.5, float("inf")]]])
    valid = torch.tensor([[[True, True], [True, False]]])
    sent_mask = torch.tensor([[True, True]])
    words = torch.tensor([[2, 3]])
    ce0 = -torch.log_softmax(scores[0, 0], -1)[2].item()                   # best slot 1 -> proposal 2
    ce1 = -torch.log_softmax(scores[0, 1], -1)[0].item()
    w0 = 1 / (1 + math.exp(-2 * (0.7 - 0.2)))
    got = hard_distillation_loss(scores, candidates, recon, valid, sent_mask, words).item()
    assert abs(got - (w0 * ce0 + ce1) / (w0 + 1)) < 1e-6
    plain = hard_distillation_loss(scores, candidates, recon, valid, sent_mask).item()
    assert abs(plain - (ce0 + ce1) / 2) < 1e-6
    recipe = Recipe(staged_distillation=True, hard_distillation=True)
    loss = student_distillation(recipe, confidence=True)
    assert abs(loss(scores, candidates, recon, valid, sent_mask, words).item() - got) < 1e-6
    with pytest.raises(ParamsError, match="exclusive"):
        student_distillation(recipe, posterior=True, confidence=True)
    # the stage fails on it before training: student_config checks the distill section it is given
    from ws3dvg.grounding.student import student_config

    arch = {"hidden": 16, "embedding_dim": 8, "word_vectors": "", "use_multiview": False, "recipe": recipe.to_dict()}
    with pytest.raises(ParamsError, match="params.yaml: distill: posterior_targets and confidence_weighted"):
        student_config({"posterior_targets": True, "confidence_weighted": True}, "weak", arch)


def test_posterior_weight_mixes_the_posterior_and_the_best_candidate_by_hand():
    """distill.posterior_weight w: w x the posterior's cross-entropy + (1 - w) x the best candidate's; at 1 the
    posterior's term alone, bit for bit; outside [0, 1] an error naming the key."""
    import math

    import torch

    from ws3dvg.engine.errors import ParamsError
    from ws3dvg.grounding.losses import student_distillation
    from ws3dvg.grounding.recipe import Recipe

    scores = torch.tensor([[[0.0, 1.0, 2.0]]])                      # (B=1, S=1, P=3)
    candidates = torch.tensor([[[1, 2]]])
    recon = torch.tensor([[[0.7, 0.2]]])                            # slot 1 (proposal 2) best
    valid = torch.tensor([[[True, True]]])
    args = (scores, candidates, recon, valid, torch.tensor([[True]]), torch.tensor([[2]]))
    logq = torch.log_softmax(scores[0, 0], -1)
    p2 = 1 / (1 + math.exp(-2 * (0.7 - 0.2)))                       # the posterior of proposal 2 (2 hidden words)
    soft = -((1 - p2) * logq[1] + p2 * logq[2]).item()
    hard = -logq[2].item()
    recipe = Recipe(staged_distillation=True, hard_distillation=True)
    mixed = student_distillation(recipe, posterior=True, posterior_weight=0.25)(*args).item()
    assert mixed == pytest.approx(0.25 * soft + 0.75 * hard, abs=1e-6)
    alone = student_distillation(recipe, posterior=True)(*args)
    assert torch.equal(student_distillation(recipe, posterior=True, posterior_weight=1.0)(*args), alone)
    assert alone.item() == pytest.approx(soft, abs=1e-6)
    with pytest.raises(ParamsError, match="distill.posterior_weight"):
        student_distillation(recipe, posterior=True, posterior_weight=1.5)
