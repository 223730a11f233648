"""Golden fixtures from the authors' code: runs WS-3DVG's own grounding modules and losses on small fixed inputs
and saves the inputs, their state dict, their random draws, every intermediate output, every loss and every
gradient to one .npz (tests/test_reference_equivalence.py compares ours against it).

Their repository is imported at run time from REF_PATH and never copied: bring it with the search tool's
`fetch` (github:ZzZZCHS/WS-3DVG) into a git-ignored folder, e.g. `git -C MIRROR archive HEAD | tar x -C .reference/WS-3DVG`.
Runs on the CPU: `.cuda()` becomes a no-op, fairseq's softmax and easydict get two-line stand-ins, and the
detector modules JointNet imports (compiled PointNet++ ops) are replaced by empty stand-ins, since only
its grounding head runs here. Dropout is switched off (its draws cannot be shared); word dropout and the
decoder's random mask stay on and their draws are saved, so ours can take the same ones.

Usage: python benchmarks/reference_fixtures.py REF_PATH OUT.npz [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# the sizes of the fixture: 2 scenes (the second with one padding sentence slot), 3 sentence slots, up to 9 words,
# 7 proposals (one a non-object), K = 4 candidates, hidden 16 (8 heads of 2), word vectors of 12, vocabulary 23
B, S, L, P, K, H, E, V, C, N, SEEDS = 2, 3, 9, 7, 4, 16, 12, 23, 18, 200, 20
LENGTHS = [[9, 6, 4], [7, 5, 5]]      # scene 1's third slot repeats its last sentence, as their loader pads
LANG_NUM = [3, 2]


def _stub(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def import_reference(ref: Path) -> dict:
    sys.path.insert(0, str(ref))
    fairseq = _stub("fairseq")
    fairseq.utils = _stub("fairseq.utils", softmax=lambda x, dim, onnx_trace=False: F.softmax(x.float(), dim=dim))

    class EasyDict(dict):
        __getattr__, __setattr__ = dict.get, dict.__setitem__

    _stub("easydict", EasyDict=EasyDict)
    dummy = type("Detector", (torch.nn.Module,), {})
    for name, cls in (("models.base_module.backbone_module", "Pointnet2Backbone"),
                      ("models.base_module.voting_module", "VotingModule"),
                      ("models.proposal_module.proposal_module_fcos", "ProposalModule"),
                      ("models.groupfree", "GroupFreeDetector")):
        _stub(name, **{cls: dummy})
    _stub("lib.ap_helper.ap_helper_fcos", parse_predictions=None)
    torch.Tensor.cuda = lambda self, *a, **k: self  # their code moves tensors to the GPU everywhere
    # their config parses the command line and opens config/*.yaml relative to their root when imported
    argv, cwd, sys.argv = sys.argv, os.getcwd(), sys.argv[:1]
    os.chdir(ref)
    from lib.loss_helper import loss_reconstruct, mil
    from lib.loss_helper.loss_grounding import compute_lang_classification_loss
    from models.base_module.lang_module import LangModule
    from models.jointnet.jointnet import JointNet
    from models.proposal_module.relation_module import RelationModule
    from models.recnet.reconstruct_module import ReconstructModule
    from models.refnet.match_module import MatchModule
    sys.argv = argv
    os.chdir(cwd)
    return dict(LangModule=LangModule, RelationModule=RelationModule, MatchModule=MatchModule,
                ReconstructModule=ReconstructModule, JointNet=JointNet, loss_reconstruct=loss_reconstruct, mil=mil,
                lang_loss=compute_lang_classification_loss)


def inputs(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(V, E, generator=g)
    table[0] = 0  # id 0 is padding: their loader leaves zeros past the sentence
    ids = torch.zeros(B, S, L, dtype=torch.long)
    masks = torch.full((B, S, L), 2, dtype=torch.long)
    for b in range(B):
        for s in range(S):
            n = LENGTHS[b][s]
            ids[b, s, :n] = torch.randint(4, V, (n,), generator=g)
            masks[b, s, :n] = (torch.rand(n, generator=g) < 0.3).long()
    ids[1, 2], masks[1, 2] = ids[1, 1], masks[1, 1]
    centre = torch.rand(B, P, 3, generator=g) * 4
    size = torch.rand(B, P, 3, generator=g) + 0.2
    signs = torch.tensor([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)], dtype=torch.float32)
    corners = centre[:, :, None] + signs[None, None] * size[:, :, None] / 2
    objectness = torch.ones(B, P, dtype=torch.long)
    objectness[0, 5] = 0
    return {"table": table, "ids": ids, "masks": masks, "lengths": torch.tensor(LENGTHS),
            "lang_num": torch.tensor(LANG_NUM), "object_cat": torch.randint(0, C, (B, S), generator=g),
            "features": torch.randn(B, P, H, generator=g), "corners": corners,
            "point_clouds": torch.randn(B, N, 6 + 128, generator=g),
            "seed_inds": torch.stack([torch.randperm(N, generator=g)[:SEEDS] for _ in range(B)]).int(),
            "query_inds": torch.stack([torch.randperm(SEEDS, generator=g)[:P] for _ in range(B)]).int(),
            "sem_cls_scores": torch.randn(B, P, C, generator=g) * 2, "objectness": objectness}


class _Args:
    no_mil = no_text = no_recon = no_distill = False
    pretrain_data = "scannet"


def run(ref: dict, x: dict, seed: int) -> dict:
    torch.manual_seed(seed)
    random.seed(seed)
    JointNet = ref["JointNet"]

    class Head(torch.nn.Module):  # JointNet's grounding head without its detector
        divide_proposals = JointNet.divide_proposals
        reconstruct = JointNet.reconstruct

        def __init__(self):
            super().__init__()
            self.lang = ref["LangModule"](C, True, False, E, H)
            self.relation = ref["RelationModule"](hidden_size=H, num_proposals=P, det_channel=H)
            self.recnet = ref["ReconstructModule"](vocab_size=V, hidden_size=H)
            self.match = ref["MatchModule"](num_proposals=P, lang_size=H, num_target=K, hidden_size=H)
            self.args, self.num_target, self.vocab_size = _Args(), K, V

    model = Head().train()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    captured = []  # what their relation module feeds its multiview embedding (see `gather_check` below)
    for emb in model.relation.obj_embedding:
        emb.register_forward_pre_hook(lambda mod, inp: captured.append(inp[0].detach().clone()))

    feats = x["table"][x["ids"]].clone()
    d = {"ground_lang_feat_list": feats, "ground_lang_len_list": x["lengths"], "istrain": torch.tensor([1]),
         "unk": x["table"][1][None].expand(B, -1), "all_masks_list": x["masks"].float(),
         "ground_lang_ids_list": x["ids"], "lang_feat_list": torch.zeros(B, S, 1), "object_cat_list": x["object_cat"],
         "lang_num": x["lang_num"], "pred_bbox_feature": x["features"].clone(), "pred_bbox_corner": x["corners"],
         "point_clouds": x["point_clouds"], "seed_inds": x["seed_inds"], "query_points_sample_inds": x["query_inds"],
         "sem_cls_scores": x["sem_cls_scores"], "objectness_pred": x["objectness"]}
    before = feats.clone()
    d = model.lang(d)                      # word dropout replaces embeddings in place (python `random`)
    dropped = (d["ground_lang_feat_list"] != before).any(-1)
    d = model.relation(d)
    d = model.match(d)
    model.divide_proposals(d)
    model.reconstruct(d)                   # the decoder's random mask (torch bernoulli)

    lr, mil = ref["loss_reconstruct"], ref["mil"]
    len_num_mask = (torch.arange(S)[None] < x["lang_num"][:, None]).float()
    rec_score = torch.stack([lr.reconstruct_score(d["rec_word_logits"][:, :, i], d["ground_lang_ids_list"],
                                                  d["all_masks_list"], len_num_mask) for i in range(K)], 1)
    out = {"dropped": dropped, "rand_masks": d["rand_masks_list"], "relation_multiview": torch.stack(captured),
           "lang_fea": d["lang_fea"], "lang_emb": d["lang_emb"], "lang_scores": d["lang_scores"],
           "masked_lang_feat": d["masked_lang_feat"], "bbox_feature": d["bbox_feature"], "cluster_ref": d["cluster_ref"],
           "coarse_weights": d["coarse_weights"], "target_ids": d["target_ids"], "rec_word_logits": d["rec_word_logits"],
           "rec_score": rec_score}
    terms = {"nce": mil.MILNCELoss(d, len_num_mask), "lang": ref["lang_loss"](d),
             "weak": lr.weakly_supervised_loss(rec_score, d["cluster_ref"], d, len_num_mask, _Args()),
             "rec_epoch0": lr.reconstruct_loss(rec_score, 0, len_num_mask),
             "rec_epoch3": lr.reconstruct_loss(rec_score, 3, len_num_mask)}
    total = 2 * terms["nce"] + 2 * terms["lang"] + terms["rec_epoch3"] + terms["weak"]  # their get_joint_loss
    total.backward()
    out.update({f"loss_{k}": v for k, v in terms.items()}, loss_total=total)
    out.update({f"grad.{k}": p.grad for k, p in model.named_parameters() if p.grad is not None})
    out.update({f"state.{k}": v for k, v in state.items()})
    out["gather_check"] = gather_check(x)
    return out


def gather_check(x: dict) -> torch.Tensor:
    """1 where their relation module's multiview vector equals the ENet feature at the proposal's seed point.
    Their gather offsets scene b by 128 * b (the channel count, not the point count) and reshapes the permuted
    (B, 128, N) tensor to rows of 128 without transposing back, so each row mixes consecutive points of one
    channel, read from the first scene. Ours takes the feature at the seed point, as docs/design.md §7 describes."""
    seed_of = torch.gather(x["seed_inds"].long(), 1, x["query_inds"].long())
    intended = torch.stack([x["point_clouds"][b, seed_of[b], 6:] for b in range(B)])
    obj = x["point_clouds"][..., 6:].permute(0, 2, 1)
    rows = (seed_of + torch.arange(B)[:, None] * obj.shape[1]).reshape(-1)
    theirs = obj.reshape(-1, obj.shape[1])[rows].reshape(B, P, -1)
    return (theirs == intended).all(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.nn.functional.dropout = lambda t, p=0.5, training=True, inplace=False: t  # no dropout draws to share
    ref = import_reference(args.ref.resolve())
    x = inputs(args.seed)
    out = run(ref, x, args.seed)
    # the point cloud only feeds their (scrambled, see gather_check) multiview gather: ours gets what it produced
    arrays = {f"in.{k}": v for k, v in x.items() if k != "point_clouds"}
    arrays.update({f"out.{k}": v for k, v in out.items()})
    np.savez_compressed(args.out, **{k: v.detach().numpy() if torch.is_tensor(v) else np.asarray(v)
                                     for k, v in arrays.items()})
    print(f"wrote {args.out}: {len(arrays)} arrays; multiview rows their gather reads correctly: "
          f"{int(out['gather_check'].sum())} of {out['gather_check'].numel()}")


if __name__ == "__main__":
    main()
