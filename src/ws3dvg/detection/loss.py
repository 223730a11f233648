"""Detector losses. A proposal's target is the GT object its seed point lies on (GroupFree-3D's
assignment); VoteNet adds the vote regression toward that object's centre."""

from __future__ import annotations

import torch
import torch.nn.functional as F

WEIGHTS = {"seed": 1.0, "objectness": 1.0, "center": 1.0, "size": 1.0, "sem": 0.5, "vote": 1.0}


def _gather_gt(batch: dict, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    safe = idx.clamp_min(0)
    c = batch["gt_center"].gather(1, safe.unsqueeze(-1).expand(-1, -1, 3))
    s = batch["gt_size"].gather(1, safe.unsqueeze(-1).expand(-1, -1, 3))
    return c, s, batch["gt_class"].gather(1, safe)


def detection_loss(out: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    seed_gt = batch["point_gt"].gather(1, out["seed_inds"])  # (B, S): GT index of each seed, -1 none
    prop_gt = seed_gt.gather(1, out["proposal_seed"])       # (B, P)
    pos = prop_gt >= 0
    gt_c, gt_s, gt_cls = _gather_gt(batch, prop_gt)
    terms: dict[str, torch.Tensor] = {}
    if "seed_logits" in out:
        terms["seed"] = F.binary_cross_entropy_with_logits(out["seed_logits"], (seed_gt >= 0).float())
    if "vote_xyz" in out:
        vc, _, _ = _gather_gt(batch, seed_gt)
        err = F.smooth_l1_loss(out["vote_xyz"], vc, reduction="none").sum(-1)
        terms["vote"] = (err * (seed_gt >= 0)).sum() / (seed_gt >= 0).sum().clamp_min(1)
    n_pos = pos.sum().clamp_min(1)
    layer_terms = {"objectness": [], "center": [], "size": [], "sem": []}
    for layer in out["layers"]:
        layer_terms["objectness"].append(F.binary_cross_entropy_with_logits(layer["objectness"], pos.float()))
        layer_terms["center"].append((F.smooth_l1_loss(layer["center"], gt_c, reduction="none").sum(-1) * pos).sum() / n_pos)
        layer_terms["size"].append((F.smooth_l1_loss(layer["size"].log(), gt_s.clamp_min(1e-3).log(), reduction="none")
                                    .sum(-1) * pos).sum() / n_pos)
        ce = F.cross_entropy(layer["sem_logits"].transpose(1, 2), gt_cls, reduction="none")
        layer_terms["sem"].append((ce * pos).sum() / n_pos)
    for k, v in layer_terms.items():
        terms[k] = torch.stack(v).mean()
    total = sum(WEIGHTS[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}
