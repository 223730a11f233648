"""teacher.departures.anchor_decoder: a second decoder, which also reads the candidate's surroundings, scores the hidden
words that are not attribute words (models.grounding.routed_score)."""
import pytest
import torch
from conftest import TINY_GROUNDING

from ws3dvg.engine.errors import ParamsError
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.text.tagger import ATTRIBUTES
from ws3dvg.text.vocab import KEYWORD


def _teacher(paths, **departures):
    from ws3dvg.grounding.data import collate, grounding_set
    from ws3dvg.grounding.teacher import build_teacher

    cfg = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], **departures))
    recipe = Recipe.from_params(cfg)
    ds = grounding_set(paths, "train", cfg, recipe)
    torch.manual_seed(0)
    model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, 0).eval()
    return model, collate([ds[i] for i in range(len(ds))], {"sentences": cfg["lang_num_max"]})


def test_with_a_copy_of_the_first_decoder_the_score_is_the_one_decoders(tiny_grounding):
    """Made after every other module, the switch leaves their initial weights alone; with the second decoder a copy
    of the first and its scene read at its start (output projection zero), every candidate scores as without it."""
    plain, batch = _teacher(tiny_grounding)
    routed, _ = _teacher(tiny_grounding, anchor_decoder=True)
    for name, p in plain.state_dict().items():
        torch.testing.assert_close(routed.state_dict()[name], p, rtol=0, atol=0)
    routed.anchor_decoder.load_state_dict(routed.decoder.state_dict())
    with torch.no_grad():
        a, b = plain(batch)["recon"], routed(batch)["recon"]
    ok = torch.isfinite(a)
    assert ok.any() and torch.equal(ok, torch.isfinite(b))
    torch.testing.assert_close(b[ok], a[ok])


def test_the_second_decoder_scores_only_the_words_that_are_not_attribute_words(tiny_grounding):
    model, batch = _teacher(tiny_grounding, anchor_decoder=True)
    with torch.no_grad():
        before = model(batch)["recon"]
        for p in model.anchor_decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
        after = model(batch)["recon"]
    hidden = batch["mask"] == KEYWORD                                                  # (B, S, L)
    attribute = model.attribute_words[batch["ids"].long()]
    other_words = (hidden & ~attribute).any(-1)[..., None].expand_as(before)           # per sentence, each candidate
    ok = torch.isfinite(before)
    moved = (after - before).abs() > 1e-6
    assert moved[ok & other_words].all()           # every candidate of a sentence that hides another word moves
    assert not moved[ok & ~other_words].any()      # a sentence that hides attribute words only keeps its scores
    assert (ok & ~other_words).any() or not (hidden & attribute).any()


def test_attribute_words_are_the_tagger_lexicons(tiny_grounding):
    from ws3dvg.text.vocab import Vocabulary

    model, _ = _teacher(tiny_grounding, anchor_decoder=True)
    words = Vocabulary.load(f"{tiny_grounding['language_dir']}/vocab.json").words
    assert [w for w, a in zip(words, model.attribute_words.tolist()) if a] == [w for w in words if w in ATTRIBUTES]
    assert "attribute_words" not in model.state_dict()   # rebuilt from the vocabulary, never saved


def test_not_with_decoder_reads_scene():
    departures = dict(TINY_GROUNDING["departures"], anchor_decoder=True, decoder_reads_scene=True)
    with pytest.raises(ParamsError, match="anchor_decoder"):
        Recipe.from_params(dict(TINY_GROUNDING, departures=departures))


def test_a_teacher_with_two_decoders_trains_and_writes_its_knowledge(tiny_grounding, tmp_path):
    from ws3dvg.engine.training import load_weights
    from ws3dvg.grounding.data import grounding_set
    from ws3dvg.grounding.teacher import build_teacher, run_teacher, save_teacher, train_teacher

    cfg = dict(TINY_GROUNDING, departures=dict(TINY_GROUNDING["departures"], anchor_decoder=True))
    recipe = Recipe.from_params(cfg)
    model = train_teacher(cfg, recipe, tiny_grounding, torch.device("cpu"), 5, str(tmp_path), str(tmp_path / "live"))[
        "model"]
    ds = grounding_set(tiny_grounding, "val", cfg, recipe)
    knowledge = run_teacher(model, ds, cfg, torch.device("cpu"))
    valid = knowledge["valid"]
    assert valid.any() and torch.isfinite(torch.as_tensor(knowledge["recon_loss"][valid])).all()
    save_teacher(str(tmp_path / "teacher.pt"), model, cfg, recipe)
    saved = load_weights(str(tmp_path / "teacher.pt"))
    assert Recipe.from_dict(saved["config"]["recipe"]).anchor_decoder
    again = build_teacher(saved["config"], Recipe.from_dict(saved["config"]["recipe"]),
                          tiny_grounding["language_dir"], ds.feature_dim, 0)
    again.load_state_dict(saved["model"])                 # the second decoder and its reader come back
    assert again.anchor_decoder is not None
