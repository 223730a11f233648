import sys

import torch
from conftest import REPO, TINY_GROUNDING

sys.path.insert(0, str(REPO / "benchmarks"))
from oracle_decoder import oracle_loss, train_oracle  # noqa: E402

# the decoder reads each candidate's own feature too, and no word is masked at random: every draw is fixed
CFG = dict(TINY_GROUNDING, random_mask=0.0, departures=dict(TINY_GROUNDING["departures"], decoder_reads_own=True))


def _teacher_and_batch(paths):
    from ws3dvg.grounding.data import collate, grounding_set
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import full_supervision_targets
    from ws3dvg.grounding.teacher import build_teacher

    recipe = Recipe.from_params(CFG)
    ds = grounding_set(paths, "train", CFG, recipe)
    torch.manual_seed(0)
    model = build_teacher(CFG, recipe, paths["language_dir"], ds.feature_dim, 0).eval()
    batch = collate([ds[0]], {"sentences": CFG["lang_num_max"]})
    targets = torch.from_numpy(full_supervision_targets(paths, "train"))[batch["sentence_index"].clamp_min(0)]
    return model, batch, targets


def test_the_reconstruction_term_reads_the_target_alone(tiny_grounding):
    """The oracle's reconstruction term is the teacher's score of the target as its only candidate: with the
    relation encoder's output held fixed, it moves with the target's own feature (decoder_reads_own) and not with
    another proposal's, and sentences without a known target leave it out."""
    from ws3dvg.grounding.losses import language_loss, mil_nce

    model, batch, target = _teacher_and_batch(tiny_grounding)
    assert (target[batch["sent_mask"]] >= 0).all()
    fixed = model.relation(batch["features"], batch["corners"], batch["prop_mask"])
    model.relation.forward = lambda *a, **k: fixed
    w = CFG["loss_weights"]

    def recon_term(b, t):
        with torch.no_grad():
            out = model(b)
            rest = w["mil"] * mil_nce(out["sentence"], out["matched"], b["prop_mask"], b["sent_mask"]) + \
                w["lang_cls"] * language_loss(out["class_logits"], b["class18"], b["sent_mask"])
            return float(oracle_loss(model, b, t, CFG) - rest)

    base = recon_term(batch, target)
    assert base > 0
    t0 = int(target[0, 0])
    others = [p for p in range(int(batch["prop_mask"][0].sum())) if p not in set(target[0].tolist())]
    moved_target = batch["features"].clone()
    moved_target[0, t0] += 1.0
    moved_other = batch["features"].clone()
    moved_other[0, others[0]] += 1.0
    assert abs(recon_term(dict(batch, features=moved_target), target) - base) > 1e-3
    assert abs(recon_term(dict(batch, features=moved_other), target) - base) < 1e-5   # the MIL term's rounding
    assert abs(recon_term(batch, torch.full_like(target, -1))) < 1e-5


def test_train_oracle_runs_an_epoch(tiny_grounding):
    from ws3dvg.grounding.recipe import Recipe

    model = train_oracle(TINY_GROUNDING, Recipe.from_params(TINY_GROUNDING), tiny_grounding, torch.device("cpu"), 0, 1)
    assert all(torch.isfinite(p).all() for p in model.parameters())
