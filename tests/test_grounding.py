"""Teacher and student pieces against hand computations; weak-supervision invariance; resume."""

import dataclasses
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_GROUNDING

from ws3dvg.grounding.evaluation import accuracy_table
from ws3dvg.grounding.losses import (
    coarse_from_fine_loss,
    distillation_loss,
    hard_distillation_loss,
    language_loss,
    mil_nce,
    rank_rewards,
    reconstruction_loss,
)
from ws3dvg.models.grounding import (
    ReconstructionDecoder,
    coarse_weights,
    draw_word_dropout,
    masked_batch_norm,
    reconstruction_score,
    tensor2tensor_positions,
)

PAPER = dict(TINY_GROUNDING, variant="paper")


def test_coarse_weights_hand_case():
    # 3 proposals, detector logits over 3 classes; proposal 1 is not an object
    det = torch.tensor([[[0.1, 0.8, 0.1], [0.0, 1.0, 0.0], [0.7, 0.2, 0.1]]])
    lang = torch.tensor([[[0.0, 5.0, 0.0]]])  # the sentence predicts class 1
    batch = {"class_logits": det, "objectness": torch.tensor([[0.9, 0.2, 0.9]]),
             "prop_mask": torch.ones(1, 3, dtype=torch.bool)}
    sent, prop = torch.zeros(1, 1, 4), torch.zeros(1, 3, 4)
    w = coarse_weights(sent, prop, batch, lang, dict(PAPER, use_feature_term=False))
    assert torch.isinf(w[0, 0, 1]) and w[0, 0, 1] < 0  # the non-object is excluded after the sums
    soft = torch.softmax(torch.tensor([0.8, 1.0, 0.2]), 0)  # over every proposal, the non-object too
    expect = [soft[p] + F.cosine_similarity(det[0, p], lang[0, 0], dim=0) for p in (0, 2)]
    torch.testing.assert_close(w[0, 0, [0, 2]], torch.stack(expect))
    # the feature term: 0.5 * softmax of raw dot products (all zero -> 1/3 each)
    w2 = coarse_weights(sent, prop, batch, lang, PAPER)
    torch.testing.assert_close(w2[0, 0, [0, 2]], torch.stack(expect) + 0.5 / 3)


def test_reconstruction_score_two_word_vocabulary():
    # vocabulary {0, 1}; 3 positions: keyword, other word, padding; p = [1/4, 3/4] everywhere
    logits = torch.log(torch.tensor([[[1.0, 3.0]] * 3]))
    target = torch.tensor([[1, 0, 1]])
    tokens = torch.tensor([[1, 0, 2]])
    eps = 0.1
    tok = lambda p_t: -(1 - eps) * np.log(p_t) - eps * np.mean(np.log([0.25, 0.75]))  # noqa: E731
    got = reconstruction_score(logits, target, tokens)
    assert float(got[0]) == pytest.approx(0.7 * tok(0.75) + 0.3 * tok(0.25), rel=1e-6)
    # no keyword: that half is 0 (0 / (0 + 1e-7)), as in the authors' code
    got = reconstruction_score(logits, target, torch.tensor([[0, 0, 2]]))
    assert float(got[0]) == pytest.approx(0.3 * (tok(0.75) + tok(0.25)) / 2, rel=1e-6)


def test_batched_decoder_equals_per_candidate_loop():
    torch.manual_seed(0)
    dec = ReconstructionDecoder(vocab_size=11, hidden=16, layers=3, heads=8).eval()
    m, length = 6, 7
    words = torch.randn(m, length, 16)
    masked = torch.rand(m, length) < 0.4
    pad = torch.arange(length)[None] >= torch.tensor([7, 5, 3, 7, 6, 4])[:, None]
    cand = torch.randn(m, 16)
    batched = dec(words, masked, pad, cand)
    for i in range(m):
        single = dec(words[i:i + 1], masked[i:i + 1], pad[i:i + 1], cand[i:i + 1])
        n = int((~pad[i]).sum())
        torch.testing.assert_close(batched[i, :n], single[0, :n], atol=1e-5, rtol=1e-5)


def _tiny_teacher_and_batch(paths: dict, **departures):
    """A seeded tiny teacher in eval mode with these departures switched, and one training scene as its batch."""
    from ws3dvg.grounding.data import collate, grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import build_teacher

    cfg = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], **departures))
    recipe = Recipe.from_params(cfg)
    ds = grounding_set(paths, "train", cfg, recipe)
    torch.manual_seed(0)
    model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, 0).eval()
    return model, collate([ds[0]], {"sentences": cfg["lang_num_max"]})


def test_decoder_memory_of_one_row_is_the_candidate_vector():
    """A (M, H) candidate and the same as one memory row (M, 1, H) give the same logits: the authors' decoder is
    unchanged by the memory form `decoder_reads_own` uses."""
    torch.manual_seed(0)
    dec = ReconstructionDecoder(vocab_size=11, hidden=16, layers=3, heads=8).eval()
    words, masked = torch.randn(4, 5, 16), torch.rand(4, 5) < 0.4
    pad, cand = torch.zeros(4, 5, dtype=torch.bool), torch.randn(4, 16)
    torch.testing.assert_close(dec(words, masked, pad, cand), dec(words, masked, pad, cand[:, None]))


def test_given_candidates_are_scored_as_the_coarse_stage_would_score_them(tiny_grounding):
    """`draws["candidates"]` replaces the coarse top-K (benchmarks/oracle_decoder.py passes the target alone): each
    given candidate gets the reconstruction score the normal pass gives it in its own slot, the coarse weight
    read at it, and a padding sentence stays invalid."""
    model, batch = _tiny_teacher_and_batch(tiny_grounding, decoder_reads_own=True)
    with torch.no_grad():
        full = model(batch)
        given = full["candidates"].flip(-1)[..., :2]          # the two of lowest coarse weight, reversed
        part = model(batch, draws={"candidates": given})
    assert torch.equal(part["candidates"], given)
    torch.testing.assert_close(part["candidate_weights"], full["candidate_weights"].flip(-1)[..., :2])
    ok = part["candidate_valid"]
    assert torch.equal(ok, full["candidate_valid"].flip(-1)[..., :2])
    torch.testing.assert_close(part["recon"][ok], full["recon"].flip(-1)[..., :2][ok])
    assert not ok[~batch["sent_mask"]].any()


def test_decoder_reads_own_gives_the_decoder_the_candidates_own_feature(tiny_grounding):
    """With decoder_reads_own the reconstruction scores move when only a candidate's own feature changes while
    the relation encoder's output is held fixed; the paper's decoder reads the output alone, so its scores stay.
    The switch adds no parameter."""
    moved, sizes = {}, {}
    for own in (False, True):
        model, batch = _tiny_teacher_and_batch(tiny_grounding, decoder_reads_own=own)
        sizes[own] = sum(p.numel() for p in model.parameters())
        fixed = model.relation(batch["features"], batch["corners"], batch["prop_mask"])
        model.relation.forward = lambda *a, **k: fixed   # the relation output no longer depends on the features
        other = dict(batch, features=batch["features"] + 1.0)
        with torch.no_grad():
            a, b = model(batch)["recon"], model(other)["recon"]
        ok = torch.isfinite(a)
        moved[own] = float((a[ok] - b[ok]).abs().max())
    assert moved[False] == 0.0 and moved[True] > 1e-4
    assert sizes[True] == sizes[False]


def test_decoder_reads_scene_reconstructs_from_the_candidates_surroundings(tiny_grounding):
    """With decoder_reads_scene, once its read's output projection is no longer zero, a candidate's reconstruction
    score moves when another proposal's class or place changes while the relation encoder's output is held fixed;
    another proposal's feature alone moves nothing. With the projection at its start (0), and without the switch,
    nothing moves. The switch adds only the SceneReader, made after every other module: the rest of the teacher
    starts from the same weights."""
    moved, params = {}, {}
    for case in ("off", "closed", "open"):
        model, batch = _tiny_teacher_and_batch(tiny_grounding, decoder_reads_scene=case != "off")
        params[case] = {k: v.clone() for k, v in model.named_parameters()}
        fixed = model.relation(batch["features"], batch["corners"], batch["prop_mask"])
        model.relation.forward = lambda *a, **k: fixed   # the relation output no longer depends on its inputs
        with torch.no_grad():
            if case == "open":  # as after training: the read's output projection no longer zero
                for attn in model.scene.attn:
                    torch.nn.init.normal_(attn.out_proj.weight, std=0.1)
            base = model(batch)
            cand = base["candidates"][0, 0, 0]
            other = next(j for j in range(batch["prop_mask"].shape[1])
                         if bool(batch["prop_mask"][0, j]) and j != int(cand))
            features, corners = batch["features"].clone(), batch["corners"].clone()
            scores = batch["class_scores"].clone()
            features[0, other] += 1.0
            corners[0, other] += torch.tensor([1.5, -0.5, 0.0])
            scores[0, other] = scores[0, other].roll(1)
            got = {"feature": model(dict(batch, features=features))["recon"],
                   "class": model(dict(batch, class_scores=scores))["recon"],
                   "place": model(dict(batch, corners=corners))["recon"]}
        ok = torch.isfinite(base["recon"])
        moved[case] = {k: float((v[ok] - base["recon"][ok]).abs().max()) for k, v in got.items()}
    assert moved["off"] == moved["closed"] == {"feature": 0.0, "class": 0.0, "place": 0.0}
    assert moved["open"]["feature"] == 0.0 and moved["open"]["class"] > 1e-5 and moved["open"]["place"] > 1e-5
    extra = set(params["open"]) - set(params["off"])
    assert extra and all(k.startswith("scene.") for k in extra)
    for k, v in params["off"].items():
        torch.testing.assert_close(params["open"][k], v, rtol=0, atol=0)


def test_scene_reader_rows_by_hand():
    """SceneReader.rows: two proposals and a padding slot, seen from candidate 1; each row is what_j + where(pair(c, j))
    (here: the class scores and the distance and floor distance), the padding marked absent."""
    from ws3dvg.models.grounding import SceneReader

    reader = SceneReader(num_class=2, hidden=2, heads=1, layers=1)
    with torch.no_grad():
        reader.what.weight.copy_(torch.eye(2))
        reader.what.bias.zero_()
    del reader.where
    reader.where = lambda pair: pair[..., 3:5]
    scores = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])         # (B=1, P=3, C=2)
    centres = torch.tensor([[[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [9.0, 9.0, 9.0]]])
    corners = centres[:, :, None, :] + torch.tensor([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]).repeat(4, 1)
    rows, absent = reader.rows(scores, corners, torch.tensor([[True, True, False]]), torch.tensor([[[1]]]))
    assert rows.shape == (1, 1, 1, 3, 2)
    torch.testing.assert_close(rows[0, 0, 0, 0], torch.tensor([1.0 + 5.0, 0.0 + 5.0]))
    torch.testing.assert_close(rows[0, 0, 0, 1], torch.tensor([0.0, 1.0]))  # itself: offset 0
    assert absent[0, 0, 0].tolist() == [False, False, True]


def test_positions_as_tensor2tensor():
    pe = tensor2tensor_positions(5, 8, "cpu")
    assert torch.equal(pe[0], torch.zeros(8))  # position 0 is the padding index
    freq = torch.exp(torch.arange(4) * -(np.log(10000.0) / 3))
    torch.testing.assert_close(pe[3], torch.cat([torch.sin(3 * freq), torch.cos(3 * freq)]))


def test_rank_reward_loss_three_candidates():
    scores = torch.tensor([[[1.0, 2.0, 0.0, -1.0]]])
    cand = torch.tensor([[[1, 0, 3]]])
    recon = torch.tensor([[[0.5, 0.2, 0.9]]])  # best: candidate 0 (0.2), then 1 (0.5), then 3 (0.9)
    valid = torch.ones(1, 1, 3, dtype=torch.bool)
    logp = torch.log_softmax(scores[0, 0], 0)
    r = np.linspace(0.1, 1, 3) ** 2  # rewards by rank from the worst: [0.01, 0.3025, 1]
    expected = -(r[1] * logp[1] + r[2] * logp[0] + r[0] * logp[3]) / 3  # divided by the sentences (1) and K
    got = distillation_loss(scores, cand, recon, valid, torch.ones(1, 1, dtype=torch.bool))
    assert float(got) == pytest.approx(float(expected), rel=1e-6)
    torch.testing.assert_close(rank_rewards(3), torch.tensor(r, dtype=torch.float32))


def test_hard_distillation_takes_the_best_valid_candidate():
    scores = torch.tensor([[[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    cand = torch.tensor([[[1, 0, 3], [2, 3, 0], [0, 1, 2]]])
    # sentence 0: best valid is candidate 3 (0.9) since 0.2's slot is invalid; sentence 1: candidate 2 (0.1);
    # sentence 2: no valid candidate, counts nothing
    recon = torch.tensor([[[0.5, 0.2, 0.9], [0.1, 0.3, float("inf")], [0.1, 0.2, 0.3]]])
    valid = torch.tensor([[[False, False, True], [True, True, False], [False, False, False]]])
    sm = torch.ones(1, 3, dtype=torch.bool)
    ce0 = -torch.log_softmax(scores[0, 0], 0)[3]
    ce1 = -torch.log_softmax(scores[0, 1], 0)[2]
    got = hard_distillation_loss(scores, cand, recon, valid, sm)
    assert float(got) == pytest.approx(float(ce0 + ce1) / 2, rel=1e-6)
    # a padding sentence counts nothing either
    got = hard_distillation_loss(scores, cand, recon, valid, torch.tensor([[True, False, True]]))
    assert float(got) == pytest.approx(float(ce0), rel=1e-6)


def test_keep_rank_rewards_adds_the_cross_entropy_to_the_rank_rewards():
    """keep_rank_rewards: the student's loss is hard_distillation's cross-entropy plus the authors' rank-reward loss
    (hand case as above); without hard_distillation the rank rewards alone, whatever the switch."""
    from ws3dvg.grounding.losses import student_distillation
    from ws3dvg.grounding.recipe import Recipe

    scores = torch.tensor([[[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 0.0, 0.0]]])
    cand = torch.tensor([[[1, 0, 3], [2, 3, 0]]])
    recon = torch.tensor([[[float("inf"), 0.2, 0.9], [0.1, 0.3, float("inf")]]])   # invalid slots: inf, as the
    valid = torch.tensor([[[False, True, True], [True, True, False]]])                #   teacher writes them
    sm = torch.ones(1, 2, dtype=torch.bool)
    # hard: sentence 0's best valid is slot 1 (0.2 -> proposal 0), sentence 1's slot 0 (0.1 -> proposal 2)
    hard = (-torch.log_softmax(scores[0, 0], 0)[0] - torch.log_softmax(scores[0, 1], 0)[2]) / 2
    # rank rewards over K = 3, (linspace(0.1, 1, 3) ** 2 by rank from the worst): sentence 0 gives slot 2 (0.9)
    # 0.3025 and slot 1 (0.2) 1.0; sentence 1 gives slot 1 (0.3) 0.3025 and slot 0 (0.1) 1.0; / 2 sentences / K
    lp0, lp1 = torch.log_softmax(scores[0, 0], 0), torch.log_softmax(scores[0, 1], 0)
    soft = -(0.3025 * lp0[3] + 1.0 * lp0[0] + 0.3025 * lp1[3] + 1.0 * lp1[2]) / 2 / 3
    args = (scores, cand, recon, valid, sm)
    both = student_distillation(Recipe(hard_distillation=True, keep_rank_rewards=True))(*args)
    assert float(both) == pytest.approx(float(hard + soft), rel=1e-5)
    assert float(student_distillation(Recipe(hard_distillation=True))(*args)) == pytest.approx(float(hard), rel=1e-5)
    for keep in (False, True):
        alone = student_distillation(Recipe(keep_rank_rewards=keep))(*args)
        assert float(alone) == pytest.approx(float(soft), rel=1e-5)

def test_posterior_targets_spread_the_target_by_the_teachers_posterior():
    """distill.posterior_targets: cross-entropy toward softmax_k(-n r_k) over the valid candidates, n the hidden
    keywords. Sentence 0: slots 1 and 2 valid (0.2, 0.9), n = 2: weights e^-0.4 : e^-1.8 on proposals 0 and 3;
    sentence 1: slots 0 and 1 (0.1, 0.3), n = 0 counts as 1: e^-0.1 : e^-0.3 on proposals 2 and 3."""
    from ws3dvg.grounding.losses import posterior_distillation_loss, student_distillation
    from ws3dvg.grounding.recipe import Recipe

    scores = torch.tensor([[[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 0.0, 0.0]]])
    cand = torch.tensor([[[1, 0, 3], [2, 3, 0]]])
    recon = torch.tensor([[[float("inf"), 0.2, 0.9], [0.1, 0.3, float("inf")]]])
    valid = torch.tensor([[[False, True, True], [True, True, False]]])
    sm = torch.ones(1, 2, dtype=torch.bool)
    words = torch.tensor([[2, 0]])
    lp0, lp1 = torch.log_softmax(scores[0, 0], 0), torch.log_softmax(scores[0, 1], 0)
    w0 = torch.softmax(torch.tensor([-0.4, -1.8]), 0)
    w1 = torch.softmax(torch.tensor([-0.1, -0.3]), 0)
    want = -(w0[0] * lp0[0] + w0[1] * lp0[3] + w1[0] * lp1[2] + w1[1] * lp1[3]) / 2
    got = posterior_distillation_loss(scores, cand, recon, valid, sm, words)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    # a sharp posterior is the hard label: scaled 1000x, the loss is hard_distillation's
    sharp = posterior_distillation_loss(scores, cand, recon, valid, sm, words * 0 + 1000)
    hard = hard_distillation_loss(scores, cand, recon, valid, sm)
    assert float(sharp) == pytest.approx(float(hard), rel=1e-5)
    # a sentence without valid candidates or a padding one counts nothing
    padded = posterior_distillation_loss(scores, cand, recon, valid, torch.tensor([[True, False]]), words)
    assert float(padded) == pytest.approx(float(-(w0[0] * lp0[0] + w0[1] * lp0[3])), rel=1e-5)
    no_candidates = valid & torch.tensor([True, False])[None, :, None]
    got = posterior_distillation_loss(scores, cand, recon, no_candidates, sm, words)
    assert torch.isfinite(got) and float(got) == pytest.approx(float(padded), rel=1e-5)
    # the switch: in place of the hard label, beside the rank rewards as keep_rank_rewards keeps them
    args = (scores, cand, recon, valid, sm)
    plain = student_distillation(Recipe(hard_distillation=True))(*args)
    post = student_distillation(Recipe(hard_distillation=True), posterior=True)(*args, words=words)
    both = student_distillation(Recipe(hard_distillation=True, keep_rank_rewards=True), posterior=True)(*args, words=words)
    assert float(post) == pytest.approx(float(want), rel=1e-5) and float(plain) == pytest.approx(float(hard), rel=1e-5)
    rank = student_distillation(Recipe())(*args)
    assert float(both) == pytest.approx(float(want + rank), rel=1e-5)
    # the paper's recipe has no hard label to replace: the rank rewards alone
    assert float(student_distillation(Recipe(), posterior=True)(*args, words=words)) == pytest.approx(float(rank))



def test_coarse_from_fine_loss_hand_case():
    # 3 sentences x 2 candidates. Sentence 0: base (1, 3) + learned (0.5, 0), the fine stage chose candidate 1:
    # -log softmax(1.5, 3)[1] = log(1 + e^-1.5); sentence 1: one valid candidate, nothing to order; sentence 2:
    # base (0, 0), chose 0: log 2
    base = torch.tensor([[1.0, 3.0], [2.0, 0.0], [0.0, 0.0]])
    learned = torch.tensor([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    fine = torch.tensor([1, 0, 0])
    valid = torch.tensor([[True, True], [True, False], [True, True]])
    got = coarse_from_fine_loss(base, learned, fine, valid)
    assert got.item() == pytest.approx((np.log1p(np.exp(-1.5)) + np.log(2)) / 2, rel=1e-6)
    got.backward()
    assert learned.grad[1].abs().sum() == 0 and learned.grad[0].abs().sum() > 0


def test_coarse_from_fine_fits_after_training_and_changes_only_the_coarse_order(tiny_grounding, tmp_path):
    """With the departure the teacher trains exactly as without it (same weights), and the fitted term then moves
    only the coarse score: a proposal that is a candidate in both runs has the same reconstruction score (which
    proposals are candidates changes only where the predicted class has more than K)."""
    on = dict(TINY_GROUNDING, coarse_fit_epochs=5, coarse_fit_lr=0.05)
    off = dict(on, departures=dict(on["departures"], coarse_from_fine=False))
    model_on, know_on = _train(dict(tiny_grounding), tmp_path / "on", on)
    model_off, know_off = _train(dict(tiny_grounding), tmp_path / "off", off)
    state_on = model_on.state_dict()
    assert float(state_on.pop("coarse_head").abs().sum()) > 0
    for (ka, va), (kb, vb) in zip(state_on.items(), model_off.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    shared = 0
    for i in range(len(know_on["candidates"])):
        score = {int(c): r for c, r, v in zip(know_off["candidates"][i], know_off["recon_loss"][i], know_off["valid"][i]) if v}
        for c, r, v in zip(know_on["candidates"][i], know_on["recon_loss"][i], know_on["valid"][i]):
            if v and int(c) in score:
                assert r == pytest.approx(score[int(c)], rel=1e-5, abs=1e-6)
                shared += 1
    assert shared > len(know_on["candidates"])
    assert not np.array_equal(know_on["coarse"], know_off["coarse"])


def test_mil_nce_hand_case():
    # 2 scenes x 1 proposal x 2 sentence slots (scene 1's second slot is padding), hidden 1
    prop = torch.tensor([[[1.0]], [[2.0]]])
    sent = torch.tensor([[[1.0], [0.5]], [[-1.0], [7.0]]])
    sm = torch.tensor([[True, True], [True, False]])
    # x[i, j] = proposal of scene i . sentences of scene j (padding zeroed)
    x = {(0, 0): [1.0, 0.5], (0, 1): [-1.0, 0.0], (1, 0): [2.0, 1.0], (1, 1): [-2.0, 0.0]}
    lse = lambda v: float(np.log(np.sum(np.exp(v))))  # noqa: E731
    per = [lse(x[0, 0] + x[0, 1] + x[0, 0] + x[1, 0]) - lse(x[0, 0]),
           lse(x[1, 0] + x[1, 1] + x[0, 1] + x[1, 1]) - lse(x[1, 1])]
    got = mil_nce(sent, prop, torch.ones(2, 1, dtype=torch.bool), sm)
    assert float(got) == pytest.approx(np.mean(per), rel=1e-6)


def test_own_feature_match_scores_each_proposal_by_its_own_feature(tiny_grounding):
    """With own_feature_match the coarse stage's sentence-proposal term (and MIL-NCE's input) of a proposal does not
    move when another proposal of the scene changes; on the relation encoder's output (the paper) it does."""
    moved = {}
    for own in (False, True):
        model, batch = _tiny_teacher_and_batch(tiny_grounding, own_feature_match=own)
        other = dict(batch, features=batch["features"].clone())
        other["features"][:, 1:] += 1.0          # every proposal but the first changed
        with torch.no_grad():
            a, b = model(batch)["matched"][:, 0], model(other)["matched"][:, 0]
        moved[own] = float((a - b).abs().max())
    assert moved[True] == 0.0 and moved[False] > 1e-3


def test_language_loss_averages_scenes_then_sentences():
    logits = torch.zeros(2, 2, 3)
    logits[0, 0, 0] = 2.0
    target = torch.tensor([[0, 1], [2, 0]])
    sm = torch.tensor([[True, True], [True, False]])
    ce = lambda row, t: float(-torch.log_softmax(row, 0)[t])  # noqa: E731
    scene0 = (ce(logits[0, 0], 0) + ce(logits[0, 1], 1)) / 2
    expected = (scene0 + ce(logits[1, 0], 2)) / 2
    assert float(language_loss(logits, target, sm)) == pytest.approx(expected, rel=1e-6)


def test_reconstruction_schedule_all_then_best_half():
    recon = torch.tensor([[[1.0, 4.0, 2.0, 3.0], [9.0, 9.0, 9.0, 9.0]]])
    sm = torch.tensor([[True, False]])
    assert float(reconstruction_loss(recon, sm, True)) == pytest.approx(10 / 4)
    assert float(reconstruction_loss(recon, sm, False)) == pytest.approx(3 / 2)


def test_reconstruction_over_the_valid_candidates():
    inf = float("inf")
    recon = torch.tensor([[[1.0, 4.0, 2.0, 3.0, inf],        # 4 valid: all 2.5, best half (1, 2) 1.5
                           [5.0, inf, 3.0, inf, 7.0],        # 3 valid: all 5, best half (at least one) 3
                           [9.0, 9.0, 9.0, 9.0, 9.0],        # padding sentence
                           [inf, 6.0, inf, inf, inf]]])      # 1 valid: 6 either way
    sm = torch.tensor([[True, True, False, True]])
    assert float(reconstruction_loss(recon, sm, True, valid_half=True)) == pytest.approx((2.5 + 5 + 6) / 3)
    assert float(reconstruction_loss(recon, sm, False, valid_half=True)) == pytest.approx((1.5 + 3 + 6) / 3)
    # the authors' rule keeps the best K // 2 = 2 of 5, invalid ones counting 0: (1 + 2, 3 + 5, 6) / 3 / 2
    assert float(reconstruction_loss(recon, sm, False)) == pytest.approx(17 / 6)
    # where every candidate is valid, as the authors' always are, the two rules agree
    full = torch.rand(2, 3, 8)
    sm = torch.tensor([[True, True, False], [True, False, False]])
    for all_candidates in (True, False):
        assert float(reconstruction_loss(full, sm, all_candidates, valid_half=True)) == \
            pytest.approx(float(reconstruction_loss(full, sm, all_candidates)), rel=1e-6)


def test_reconstruction_marginalised_over_the_candidates():
    inf = float("inf")
    recon = torch.tensor([[[1.0, 2.0, inf],      # 2 hidden words: -log((e^-2 + e^-4) / 2) / 2
                           [0.5, inf, inf],      # 1 valid candidate: its own score
                           [inf, inf, inf]]])    # padding sentence, no candidate
    sm = torch.tensor([[True, True, False]])
    words = torch.tensor([[2, 1, 0]])
    first = -math.log((math.exp(-2) + math.exp(-4)) / 2) / 2
    r = recon.clone().requires_grad_(True)
    loss = reconstruction_loss(r, sm, False, marginal_words=words)
    assert float(loss.detach()) == pytest.approx((first + 0.5) / 2, rel=1e-6)
    loss.backward()
    # each candidate learns by its posterior softmax(-2 r): e^-2 / (e^-2 + e^-4) of the first sentence's half
    post = 1 / (1 + math.exp(-2))
    assert r.grad[0, 0].tolist() == pytest.approx([post / 2, (1 - post) / 2, 0.0], rel=1e-5)
    assert r.grad[0, 1].tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert not r.grad[0, 2].any()
    # equal scores: the marginal is the score itself; the first epochs keep the mean over all candidates
    same = torch.full((1, 1, 4), 3.0)
    assert float(reconstruction_loss(same, sm[:, :1], False, marginal_words=words[:, :1])) == pytest.approx(3.0)
    assert float(reconstruction_loss(recon, sm, True, valid_half=True, marginal_words=words)) == \
        pytest.approx(float(reconstruction_loss(recon, sm, True, valid_half=True)))


def test_word_dropout_draws_int_len_over_5_positions():
    torch.manual_seed(0)
    length = torch.tensor([4, 5, 12, 30])
    d = draw_word_dropout(length, 30)
    assert not d[0].any()                                    # int(4 / 5) = 0 draws
    assert d[1].sum() == 1 and d[2].sum() <= 2 and d[3].sum() <= 6
    assert not (d & (torch.arange(30)[None] >= length[:, None])).any()  # never past the sentence


def test_masked_batch_norm_skips_padding():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3).train()
    x = torch.randn(2, 3, 5)
    keep = torch.tensor([[True] * 5, [True, True, False, False, False]])
    got = masked_batch_norm(bn, x, keep)
    ref_bn = torch.nn.BatchNorm1d(3).train()
    packed = torch.cat([x[0].T, x[1, :, :2].T])[:, :, None]  # the 7 real entries
    ref = ref_bn(packed)
    torch.testing.assert_close(got[0].T, ref[:5, :, 0])
    torch.testing.assert_close(got[1, :, :2].T, ref[5:, :, 0])
    torch.testing.assert_close(bn.running_mean, ref_bn.running_mean)
    torch.testing.assert_close(bn.running_var, ref_bn.running_var)


def test_accuracy_aggregation():
    iou = np.array([0.6, 0.3, 0.1, 0.5, 0.24, 0.9])
    unique = np.array([1, 1, 0, 0, 0, 0], bool)
    t = accuracy_table(iou, unique, hard=np.array([0, 1, 1, 0, 1, 0]), view_dep=np.array([1, 0, 0, 0, 1, 1]))
    assert t["unique"] == {"acc@0.25": 1.0, "acc@0.5": 0.5, "n": 2}
    assert t["multiple"]["acc@0.25"] == pytest.approx(2 / 4) and t["multiple"]["acc@0.5"] == pytest.approx(2 / 4)
    assert t["overall"]["acc@0.25"] == pytest.approx(4 / 6) and t["overall"]["acc@0.5"] == pytest.approx(3 / 6)
    assert t["hard"]["acc@0.25"] == pytest.approx(1 / 3) and t["view_dep"]["acc@0.5"] == pytest.approx(2 / 3)
    assert "easy" not in accuracy_table(iou, unique)


def _train(paths, out_dir, cfg=None):
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import run_teacher, train_teacher

    cfg = dict(cfg or TINY_GROUNDING)
    recipe = Recipe.from_params(cfg)
    model = train_teacher(cfg, recipe, paths, torch.device("cpu"), 5, str(out_dir), str(out_dir / "live"))["model"]
    ds = grounding_set(paths, "train", cfg, recipe)
    return model, run_teacher(model, ds, cfg, torch.device("cpu"))


def _student_config(teacher_cfg=None, **distill):
    """What distill builds from its section and the saved teacher (architecture and recipe)."""
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import student_config

    teacher_cfg = teacher_cfg or TINY_GROUNDING
    saved = dict(teacher_cfg, recipe=Recipe.from_params(teacher_cfg).to_dict())
    section = dict({k: TINY_GROUNDING[k] for k in ("word_dropout", "lang_num_max", "batch_size", "epochs", "lr",
                                                    "weight_decay", "amp")}, reference_full=False,
                   init_from_teacher=False, lang_cls_weight=1.0)
    section.update(distill)
    return student_config(section, section.pop("supervision", "weak"), saved)


MATCH_OWN = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], own_feature_match=True))


@pytest.mark.parametrize("cfg", [TINY_GROUNDING, MATCH_OWN], ids=["default", "own_feature_match"])
def test_teacher_never_reads_the_target(tiny_grounding, tmp_path, cfg):
    """Every training sentence's object_id swapped for another object of the same class in its scene
    (or a random one): identical weights and knowledge."""
    paths = dict(tiny_grounding)
    model_a, know_a = _train(paths, tmp_path / "a", cfg)
    swapped = tmp_path / "masked_swapped.h5"
    shutil.copy(paths["masked"], swapped)
    rng = np.random.default_rng(0)
    with h5py.File(paths["preprocessed"], "r") as pre, h5py.File(swapped, "r+") as h5:
        g = h5["train"]
        obj, scenes, cls = g["object_id"][()], g["scene_id"][()].astype(str), g["class18"][()]
        new = obj.copy()
        for i, (s, o, c) in enumerate(zip(scenes, obj, cls)):
            boxes, bc = pre[s]["boxes"][()], pre[s]["box_class18"][()]
            same = [int(b[7]) - 1 for b, k in zip(boxes, bc) if k == c and int(b[7]) - 1 != o]
            new[i] = rng.choice(same) if same else int(rng.choice(boxes[:, 7])) - 1
        assert (new != obj).mean() > 0.5
        g["object_id"][...] = new
    paths_b = dict(paths, masked=str(swapped))
    model_b, know_b = _train(paths_b, tmp_path / "b", cfg)
    for (ka, va), (kb, vb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    for k in ("candidates", "recon_loss", "coarse"):
        np.testing.assert_array_equal(know_a[k], know_b[k])


def test_resume_gives_same_weights(tiny_grounding, tmp_path):
    paths = dict(tiny_grounding)
    straight, _ = _train(paths, tmp_path / "straight")
    _train(paths, tmp_path / "resumed", dict(TINY_GROUNDING, epochs=1))
    # a "killed" run resumed with the full epoch count: same config apart from epochs is a different
    # config, so write the checkpoint's config as the resumed run expects it
    ck = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    ck["config"]["teacher"]["epochs"] = TINY_GROUNDING["epochs"]
    torch.save(ck, tmp_path / "resumed" / "last.pt")
    resumed, _ = _train(paths, tmp_path / "resumed")
    for (ka, va), (_, vb) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(va, vb, atol=0, rtol=0, msg=ka)


@pytest.mark.parametrize("hard,posterior,class_prior", [(False, False, False), (True, False, False),
                                                       (True, True, True)])
def test_student_learns_from_knowledge(tiny_grounding, tmp_path, hard, posterior, class_prior):
    from ws3dvg.grounding.student import full_supervision_targets, train_student
    from ws3dvg.grounding.teacher import write_knowledge

    paths = dict(tiny_grounding)
    _, know = _train(paths, tmp_path / "t")
    write_knowledge(str(tmp_path / "knowledge.h5"), {"train": know}, TINY_GROUNDING)
    teacher = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], hard_distillation=hard))
    cfg = _student_config(teacher, epochs=1, posterior_targets=posterior, class_prior=class_prior)
    assert cfg["recipe"]["hard_distillation"] is hard and cfg["hidden"] == TINY_GROUNDING["hidden"]
    model = train_student(cfg, dict(paths, knowledge=str(tmp_path / "knowledge.h5")), torch.device("cpu"), 0,
                          str(tmp_path / "s"), str(tmp_path / "s_live"), None)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert (model.class_prior is not None) is class_prior
    if class_prior:  # the weight learned: it moved off its start
        assert float(model.class_prior.detach()) != 1.0
    full = full_supervision_targets(paths, "train")
    assert (full >= 0).mean() > 0.9  # gt-mode proposals: nearly every target has its proposal


def test_dataset_inputs_box_colour_and_multiview(tiny_grounding):
    from ws3dvg.engine.errors import DataError
    from ws3dvg.grounding.data import GroundingSet

    paths = tiny_grounding
    plain = GroundingSet(paths["masked"], "val", paths["proposals_val"], 4)
    coloured = GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, box_colour=True)
    assert coloured.feature_dim == plain.feature_dim + 3
    scene = next(iter(plain.proposals))
    f = coloured.proposals[scene]["features"]
    np.testing.assert_array_equal(f[:, :-3], plain.proposals[scene]["features"])
    assert ((f[:, -3:] >= 0) & (f[:, -3:] <= 1)).all()  # mean colours in 0..1
    with h5py.File(paths["proposals_val"], "r") as h5:
        assert "multiview" not in h5[scene]  # the tiny pipeline projects no multiview features
    with pytest.raises(DataError, match="no multiview feature"):
        GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, use_multiview=True)


def test_box_summary_appends_class_scores_size_and_centre(tiny_grounding):
    from ws3dvg.engine.errors import ParamsError
    from ws3dvg.grounding.data import GroundingSet
    from ws3dvg.grounding.recipe import Recipe

    paths = tiny_grounding
    plain = GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, box_colour=True)
    summary = GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, box_colour=True, box_summary=True)
    assert summary.feature_dim == plain.feature_dim + 18 + 3 + 3
    with h5py.File(paths["proposals_val"], "r") as h5:
        for scene, p in summary.proposals.items():
            f = p["features"]
            np.testing.assert_array_equal(f[:, :plain.feature_dim], plain.proposals[scene]["features"])
            np.testing.assert_array_equal(f[:, -24:-6], h5[scene]["class_scores"][()])
            np.testing.assert_array_equal(f[:, -6:-3], h5[scene]["size"][()])
            np.testing.assert_array_equal(f[:, -3:], h5[scene]["center"][()])
    only = GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, box_colour=True, box_summary=True,
                        summary_only=True)
    assert only.feature_dim == 3 + 18 + 3 + 3  # the oracle's layout: nothing of the detector's pooled feature
    for scene, p in only.proposals.items():
        np.testing.assert_array_equal(p["features"], summary.proposals[scene]["features"][:, -27:])
    with pytest.raises(ParamsError, match="summary_only"):
        GroundingSet(paths["masked"], "val", paths["proposals_val"], 4, summary_only=True)
    # the switch is ours: the paper variant never appends, and a student config carries its teacher's recipe
    teacher = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], box_summary=True))
    assert Recipe.from_params(teacher).proposal_inputs()["box_summary"] is True
    assert Recipe.from_params(dict(teacher, variant="paper")).proposal_inputs()["box_summary"] is False
    assert Recipe.from_dict(_student_config(teacher)["recipe"]).box_summary is True


def test_jointly_trained_head_is_the_weak_student(tiny_grounding, tmp_path):
    """The authors' schedule: the student head trains inside the teacher's step; `distill` only takes it (and
    its curve), while the full-supervision reference still trains."""
    from ws3dvg.grounding.student import train_student

    paths = dict(tiny_grounding)
    teacher, _ = _train(paths, tmp_path / "t", dict(TINY_GROUNDING, departures=dict(
        TINY_GROUNDING["departures"], staged_distillation=False)))
    assert teacher.match is not None
    state = teacher.state_dict()
    history = [{"train/distill": 0.5}, {"train/distill": 0.25}]
    joint = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], staged_distillation=False))
    cfg = _student_config(joint, init_from_teacher=True, epochs=1)
    student = train_student(cfg, paths, torch.device("cpu"), 0, str(tmp_path / "s"), str(tmp_path / "live"), state,
                            teacher_history=history)
    for k, v in student.state_dict().items():
        assert torch.equal(v, state[k]), k  # language, relation and match head: the teacher's, untouched
    curve = (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv")
    assert curve.exists() or (tmp_path / "live" / "metrics.json").exists()


def test_recipe_is_the_only_reader_of_the_switches():
    from ws3dvg.engine.errors import ParamsError
    from ws3dvg.grounding.recipe import Recipe

    ours = Recipe.from_params(TINY_GROUNDING)
    assert Recipe.from_params(PAPER) == Recipe() and Recipe().is_paper and Recipe().joint_student
    assert Recipe.from_dict(ours.to_dict()) == ours and not ours.is_paper
    assert Recipe.from_dict({}) == Recipe()  # a recipe saved before a switch existed: the paper's choice
    with pytest.raises(ParamsError, match="summary_only drops"):
        Recipe(summary_only=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.box_colour = False
    src = Path(__file__).resolve().parents[1] / "src" / "ws3dvg"
    readers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if '"departures"' in p.read_text() or '"variant"' in p.read_text())
    assert readers == ["grounding/recipe.py"], readers


def test_epoch_keys_give_that_epochs_grouping(tiny_grounding):
    """An EpochLoader asks for (epoch, index), in worker processes too: the item that set_epoch(epoch) then
    [index] gives, and the sentence grouping differs between epochs."""
    from ws3dvg.grounding.data import GroundingSet

    paths = tiny_grounding
    ds = GroundingSet(paths["masked"], "train", paths["proposals_train"], 2, shuffle_seed=7)
    ref = GroundingSet(paths["masked"], "train", paths["proposals_train"], 2, shuffle_seed=7)
    groups = {}
    for epoch in (0, 1, 2):
        ref.set_epoch(epoch)
        groups[epoch] = [tuple(ds[(epoch, i)]["sentence_index"]) for i in range(len(ds))]
        assert groups[epoch] == [tuple(ref[i]["sentence_index"]) for i in range(len(ref))]
    assert groups[0] != groups[1] or groups[1] != groups[2]


def test_topdown_png_names_classes_and_verdict(tmp_path):
    from ws3dvg.grounding.visualize import write_topdown_png

    pts = np.random.default_rng(0).random((500, 3)) * 4
    cols = np.full((500, 3), 128, np.uint8)
    boxes = np.array([[1, 1, 0.5, 0.6, 0.6, 1.0], [3, 3, 0.4, 1.0, 0.5, 0.8]], np.float32)
    write_topdown_png(tmp_path / "v.png", pts, cols, boxes, boxes[0], boxes[1], "the chair next to the table",
                      ["chair", "table"], "miss, IoU 0.00")
    from PIL import Image

    img = Image.open(tmp_path / "v.png")
    assert img.size == (640, 680) and img.format == "PNG"


def test_language_warmup_teaches_the_class_and_nothing_else(tiny_grounding):
    """The warm-up trains the language encoder alone to name each training sentence's class (object_name):
    afterwards it names it; the relation encoder and decoder are untouched; the paper's recipe has no warm-up."""
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import build_teacher, warm_up_language

    cfg = dict(TINY_GROUNDING, language_warmup_epochs=40, language_warmup_lr=0.01)
    recipe = Recipe.from_params(cfg)
    assert recipe.language_warmup and not Recipe.from_params(dict(cfg, variant="paper")).language_warmup
    ds = grounding_set(tiny_grounding, "train", cfg, recipe)
    torch.manual_seed(0)
    model = build_teacher(cfg, recipe, tiny_grounding["language_dir"], ds.feature_dim, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lang = ds.lang
    ids, length = torch.from_numpy(lang["ids"]).long(), torch.from_numpy(lang["length"]).long()

    def accuracy():
        model.language.eval()
        with torch.no_grad():
            return float((model.language(ids, length)["class_logits"].argmax(-1).numpy() == lang["class18"]).mean())

    majority = np.bincount(lang["class18"]).max() / len(lang["class18"])
    start = accuracy()
    warm_up_language(model.language, lang, cfg, torch.device("cpu"), 0)
    assert accuracy() >= 0.9 > start and accuracy() > majority + 0.2
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("language."))
    assert not torch.equal(before["language.lang_cls.0.weight"], after["language.lang_cls.0.weight"])
