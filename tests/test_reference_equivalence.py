"""Paper mode equals the authors' code, number for number.

The fixture `tests/fixtures/reference/ws3dvg_head.npz` was written by `benchmarks/reference_fixtures.py`
from WS-3DVG's own modules and losses (their LangModule, RelationModule, ReconstructModule, MatchModule,
JointNet.divide_proposals / reconstruct, reconstruct_score / reconstruct_loss / weakly_supervised_loss,
MILNCELoss, compute_lang_classification_loss, and their total 2 MIL + 2 lang + rec + weak). Their weights load
into ours through NAME_MAP; the random draws (word dropout, the decoder's random mask) come from the fixture;
dropout is off on both sides. Every intermediate, loss and gradient must agree in fp32.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_GROUNDING, no_dropout

from ws3dvg.grounding.losses import distillation_loss, language_loss, mil_nce, reconstruction_loss, teacher_losses
from ws3dvg.models.grounding import Teacher

FIXTURE = Path(__file__).parent / "fixtures" / "reference" / "ws3dvg_head.npz"
# their JointNet's module names -> ours; everything below the prefix is named as theirs
NAME_MAP = {"lang.": "language.", "relation.": "relation.", "recnet.": "decoder.", "match.": "match."}
RTOL, ATOL = 1e-5, 1e-6


def rename(key: str) -> str:
    for theirs, ours in NAME_MAP.items():
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    raise KeyError(key)


@pytest.fixture(scope="module")
def ref():
    z = np.load(FIXTURE)
    return {k: torch.from_numpy(z[k]) for k in z.files}


def _config(ref) -> dict:
    h = ref["in.features"].shape[-1]
    return dict(TINY_GROUNDING, variant="paper", hidden=h, embedding_dim=ref["in.table"].shape[1],
                topk=ref["out.target_ids"].shape[-1], all_candidates_epochs=3)


@pytest.fixture(scope="module")
def ours(ref):
    cfg = _config(ref)
    model = Teacher(ref["in.table"].shape[0], cfg["hidden"], cfg, multiview_dim=128)
    state = {rename(k[len("out.state."):]): v for k, v in ref.items() if k.startswith("out.state.")}
    state["language.embedding.weight"] = ref["in.table"]  # their loader looks the vectors up; ours, a table
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == [] and unexpected == [], (missing, unexpected)
    no_dropout(model).train()
    lang_num = ref["in.lang_num"]
    s = ref["in.ids"].shape[1]
    batch = {"ids": ref["in.ids"], "mask": ref["in.masks"], "length": ref["in.lengths"],
             "class18": ref["in.object_cat"], "sent_mask": torch.arange(s)[None] < lang_num[:, None],
             "features": ref["in.features"], "corners": ref["in.corners"],
             "prop_mask": torch.ones(ref["in.features"].shape[:2], dtype=torch.bool),
             "objectness": ref["in.objectness"].float(), "class_logits": ref["in.sem_cls_scores"],
             "class_scores": ref["in.sem_cls_scores"].softmax(-1), "multiview": ref["out.relation_multiview"][0]}
    draws = {"dropped": ref["out.dropped"], "random": ref["out.rand_masks"] == 1}
    out = model(batch, random_mask=0.3, draws=draws)
    return {"model": model, "batch": batch, "out": out, "cfg": cfg}


def close(a, b, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(a.float(), b.float(), rtol=rtol, atol=atol)


def test_name_map_loads_every_tensor(ref, ours):
    theirs = {rename(k[len("out.state."):]) for k in ref if k.startswith("out.state.")}
    assert theirs | {"language.embedding.weight"} == set(ours["model"].state_dict())


def test_language_encoder(ref, ours):
    out, (b, s, length) = ours["out"], ref["in.ids"].shape
    close(out["word"].reshape(b * s, length, -1), ref["out.lang_fea"])
    close(out["sentence"].reshape(b * s, -1), ref["out.lang_emb"])
    close(out["class_logits"].reshape(b * s, -1), ref["out.lang_scores"])


def test_keyword_masked_language_pass(ref, ours):
    close(ours["out"]["masked_word"], ref["out.masked_lang_feat"])


def test_relation_encoder(ref, ours):
    close(ours["out"]["proposal"], ref["out.bbox_feature"])


def test_coarse_weights_and_top_k(ref, ours):
    w, theirs = ours["out"]["coarse"], ref["out.coarse_weights"].view_as(ours["out"]["coarse"])
    assert torch.equal(torch.isinf(w), torch.isinf(theirs))
    close(w[torch.isfinite(w)], theirs[torch.isfinite(theirs)])
    assert torch.equal(ours["out"]["candidates"], ref["out.target_ids"])


def test_match_head_scores(ref, ours):
    close(ours["out"]["scores"].flatten(0, 1), ref["out.cluster_ref"])


def test_reconstruction_logits_and_scores(ref, ours):
    close(ours["out"]["recon_logits"], ref["out.rec_word_logits"])
    sm = ours["batch"]["sent_mask"]
    close(ours["out"]["recon"][sm], ref["out.rec_score"].view_as(ours["out"]["recon"])[sm])


@pytest.mark.parametrize("epoch", [0, 3])
def test_reconstruction_schedule(ref, ours, epoch):
    got = reconstruction_loss(ours["out"]["recon"], ours["batch"]["sent_mask"], epoch < 3)
    close(got, ref[f"out.loss_rec_epoch{epoch}"])


def test_mil_nce(ref, ours):
    b = ours["batch"]
    close(mil_nce(ours["out"]["sentence"], ours["out"]["proposal"], b["prop_mask"], b["sent_mask"]),
          ref["out.loss_nce"])


def test_language_classification(ref, ours):
    b = ours["batch"]
    close(language_loss(ours["out"]["class_logits"], b["class18"], b["sent_mask"]), ref["out.loss_lang"])


def test_rank_reward_distillation(ref, ours):
    o, b = ours["out"], ours["batch"]
    close(distillation_loss(o["scores"], o["candidates"], o["recon"].detach(), o["candidate_valid"], b["sent_mask"]),
          ref["out.loss_weak"])


def test_total_loss_and_every_gradient(ref, ours):
    model = ours["model"]
    total, terms = teacher_losses(ours["out"], ours["batch"], ours["cfg"], epoch=3)
    close(total, ref["out.loss_total"])
    model.zero_grad()
    total.backward()
    grads = {rename(k[len("out.grad."):]): v for k, v in ref.items() if k.startswith("out.grad.")}
    assert len(grads) > 50
    ours_grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == set(ours_grads) - {"language.embedding.weight"}
    for k, g in grads.items():
        torch.testing.assert_close(ours_grads[k], g, rtol=1e-4, atol=1e-6, msg=k)
