"""Detector losses. A proposal's target is the GT object its seed point lies on (GroupFree-3D's
assignment); VoteNet adds the vote regression toward that object's centre.

Sizes follow GroupFree-3D / VoteNet on ScanNet: a size cluster per class (cross-entropy toward the
GT class) plus a residual relative to that cluster's mean size. The smooth-L1 deltas are params
(`detector.center_delta`, `size_delta`; GroupFree-3D trains 400 epochs with 0.04 / 0.111).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WEIGHTS = {"seed": 1.0, "objectness": 1.0, "center": 1.0, "size_cls": 0.5, "size": 1.0, "sem": 0.5, "vote": 1.0}


def _gather_gt(batch: dict, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    safe = idx.clamp_min(0)
    c = batch["gt_center"].gather(1, safe.unsqueeze(-1).expand(-1, -1, 3))
    s = batch["gt_size"].gather(1, safe.unsqueeze(-1).expand(-1, -1, 3))
    return c, s, batch["gt_class"].gather(1, safe)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / n


def detection_loss(out: dict, batch: dict, mean_size: torch.Tensor, center_delta: float = 1.0,
                   size_delta: float = 1.0, count=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """out: the detector's outputs; mean_size (NS, 3): the model's size-cluster means.

    `count` maps a local count of positives to what the masked means divide by. Alone: the count itself.
    Under DDP: the global count / ranks, so that the ranks' gradients, averaged, are the global batch's."""
    count = count or (lambda n: n)
    seed_gt = batch["point_gt"].gather(1, out["seed_inds"])  # (B, S): GT index of each seed, -1 none
    prop_gt = seed_gt.gather(1, out["proposal_seed"])       # (B, P)
    pos = prop_gt >= 0
    gt_c, gt_s, gt_cls = _gather_gt(batch, prop_gt)
    gt_res = gt_s / mean_size[gt_cls] - 1  # residual target of the GT's size cluster
    terms: dict[str, torch.Tensor] = {}
    if "seed_logits" in out:
        terms["seed"] = F.binary_cross_entropy_with_logits(out["seed_logits"], (seed_gt >= 0).float())
    if "vote_xyz" in out:
        vc, _, _ = _gather_gt(batch, seed_gt)
        err = F.smooth_l1_loss(out["vote_xyz"], vc, reduction="none", beta=center_delta).sum(-1)
        terms["vote"] = _masked_mean(err, seed_gt >= 0, count((seed_gt >= 0).sum()).clamp_min(1))
    n_pos = count(pos.sum()).clamp_min(1)
    layer_terms: dict[str, list] = {"objectness": [], "center": [], "size_cls": [], "size": [], "sem": []}
    for layer in out["layers"]:
        layer_terms["objectness"].append(F.binary_cross_entropy_with_logits(layer["objectness"], pos.float()))
        center = F.smooth_l1_loss(layer["center"], gt_c, reduction="none", beta=center_delta).sum(-1)
        layer_terms["center"].append(_masked_mean(center, pos, n_pos))
        size_cls = F.cross_entropy(layer["size_scores"].transpose(1, 2), gt_cls, reduction="none")
        layer_terms["size_cls"].append(_masked_mean(size_cls, pos, n_pos))
        res = layer["size_residuals_normalized"].gather(2, gt_cls[..., None, None].expand(-1, -1, 1, 3)).squeeze(2)
        size = F.smooth_l1_loss(res, gt_res, reduction="none", beta=size_delta).sum(-1)
        layer_terms["size"].append(_masked_mean(size, pos, n_pos))
        sem = F.cross_entropy(layer["sem_logits"].transpose(1, 2), gt_cls, reduction="none")
        layer_terms["sem"].append(_masked_mean(sem, pos, n_pos))
    for k, v in layer_terms.items():
        terms[k] = torch.stack(v).mean()
    total = sum(WEIGHTS[k] * v for k, v in terms.items())
    return total, {k: v.detach() for k, v in terms.items()}  # tensors: the caller reads them when it needs to


def instance_discrimination_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE (SimCLR's NT-Xent across the two views): row i of `a` and of `b` (M, D) are two views of object
    i; each must pick its other view out of the batch's M. Symmetric, on unit vectors."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
