import sys

import numpy as np
import pytest
import torch
from conftest import REPO, TINY_GROUNDING

sys.path.insert(0, str(REPO / "benchmarks"))
from route_knowledge import route  # noqa: E402

from ws3dvg.models.grounding import reconstruction_score, routed_score, token_nll  # noqa: E402
from ws3dvg.text.vocab import KEEP, KEYWORD, PADDING  # noqa: E402


def test_routed_score_by_hand():
    # one sentence, two candidates, four positions: a hidden attribute word, a hidden noun, a visible word, padding
    tokens = torch.tensor([[KEYWORD, KEYWORD, KEEP, PADDING]])
    attribute = torch.tensor([[True, False, False, False]])
    nll_a = torch.tensor([[[1.0, 9.0, 2.0, 50.0],
                           [3.0, 9.0, 4.0, 50.0]]])
    nll_b = torch.tensor([[[9.0, 5.0, 9.0, 50.0],
                           [9.0, 1.0, 9.0, 50.0]]])
    got = routed_score(nll_a, nll_b, tokens[:, None], attribute[:, None])
    # candidate 0: 0.7 * (1 + 5) / 2 + 0.3 * 2 = 2.7; candidate 1: 0.7 * (3 + 1) / 2 + 0.3 * 4 = 2.6
    torch.testing.assert_close(got, torch.tensor([[2.7, 2.6]]))


def test_routed_score_of_one_teacher_is_its_reconstruction_score():
    torch.manual_seed(0)
    n, k, length, vocab = 3, 4, 6, 11
    logits = torch.randn(n * k, length, vocab)
    ids = torch.randint(0, vocab, (n, length))
    tokens = torch.tensor([[KEYWORD, KEEP, KEYWORD, KEEP, PADDING, PADDING],
                           [KEEP, KEYWORD, KEEP, KEEP, KEEP, PADDING],
                           [KEYWORD, KEYWORD, KEYWORD, KEEP, KEEP, KEEP]])
    attribute = torch.rand(n, length) < 0.5   # which hidden words are attribute words cannot matter with one teacher
    rep = lambda t: t[:, None].expand(n, k, length).reshape(n * k, length)  # noqa: E731
    nll = token_nll(logits, rep(ids), 0.1).view(n, k, length)
    want = reconstruction_score(logits, rep(ids), rep(tokens)).view(n, k)
    torch.testing.assert_close(routed_score(nll, nll, tokens[:, None], attribute[:, None]), want)


def _teacher(paths, tmp_path, name, seed, **departures):
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import build_teacher, run_teacher, save_teacher

    cfg = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], **departures))
    recipe = Recipe.from_params(cfg)
    torch.manual_seed(seed)
    model = build_teacher(cfg, recipe, paths["language_dir"], grounding_set(paths, "val", cfg, recipe).feature_dim, 0)
    if model.scene is not None:  # as after training: the scene read's output projection no longer zero
        for attn in model.scene.attn:
            torch.nn.init.normal_(attn.out_proj.weight, std=0.1)
    save_teacher(str(tmp_path / f"{name}.pt"), model, cfg, recipe)
    knowledge = {s: run_teacher(model, grounding_set(paths, s, cfg, recipe), cfg, torch.device("cpu"))
                 for s in ("train", "val")}
    return str(tmp_path / f"{name}.pt"), knowledge


def test_route_keeps_the_first_teachers_candidates_and_with_itself_its_scores(tiny_grounding, tmp_path):
    from ws3dvg.grounding.teacher import read_knowledge, write_knowledge

    a, know_a = _teacher(tiny_grounding, tmp_path, "a", 0)
    b, _ = _teacher(tiny_grounding, tmp_path, "b", 1, decoder_reads_scene=True)
    write_knowledge(str(tmp_path / "a.h5"), know_a, TINY_GROUNDING)
    cpu = torch.device("cpu")
    # A routed with itself: every valid candidate keeps the score the teacher's own pass gave it
    report = route(a, a, str(tmp_path / "a.h5"), str(tmp_path / "aa.h5"), tiny_grounding, cpu)
    for split in ("train", "val"):
        own, same = read_knowledge(str(tmp_path / "a.h5"), split), read_knowledge(str(tmp_path / "aa.h5"), split)
        assert own["valid"].any()
        np.testing.assert_array_equal(same["valid"], own["valid"])
        np.testing.assert_allclose(same["recon_loss"][own["valid"]], own["recon_loss"][own["valid"]], rtol=1e-5)
        assert np.isinf(same["recon_loss"][~own["valid"]]).all()
        assert report[split]["pick_changed"] == 0.0
    # A's attribute words, B's other words: A's rows and candidates, other scores
    route(a, b, str(tmp_path / "a.h5"), str(tmp_path / "ab.h5"), tiny_grounding, cpu)
    for split in ("train", "val"):
        own, mixed = read_knowledge(str(tmp_path / "a.h5"), split), read_knowledge(str(tmp_path / "ab.h5"), split)
        for key in ("candidates", "valid", "coarse", "pred_class"):
            np.testing.assert_array_equal(mixed[key], own[key])
        assert np.isfinite(mixed["recon_loss"][own["valid"]]).all()
        assert not np.allclose(mixed["recon_loss"][own["valid"]], own["recon_loss"][own["valid"]])


def test_route_refuses_knowledge_of_other_data(tiny_grounding, tmp_path):
    from ws3dvg.grounding.teacher import write_knowledge

    a, know_a = _teacher(tiny_grounding, tmp_path, "a", 0)
    short = {s: {k: v[:-1] for k, v in d.items()} for s, d in know_a.items()}
    write_knowledge(str(tmp_path / "short.h5"), short, TINY_GROUNDING)
    with pytest.raises(SystemExit, match="rows"):
        route(a, a, str(tmp_path / "short.h5"), str(tmp_path / "out.h5"), tiny_grounding, torch.device("cpu"))
