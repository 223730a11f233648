"""3D detectors that produce grounding proposals: GroupFree-3D (default) and VoteNet.

Both take points (B, N, 3) with per-point features (B, C, N) and return P proposals with an
axis-aligned box (centre, size; heading 0: ScanNet boxes are axis-aligned), an objectness
logit, 18 class logits and a feature vector, plus the seed points they came from.
Boxes of every decoder layer are returned for the auxiliary losses (GroupFree-3D).
"""

from __future__ import annotations

import torch
from torch import nn

from ..ops import pointops as ops
from .object_encoder import ObjectEncoder
from .pointnet2 import PointNet2Backbone, SAModule


def decode_size(size_scores: torch.Tensor, residual: torch.Tensor, mean_size: torch.Tensor) -> torch.Tensor:
    """(B, P, NS) cluster scores, (B, P, NS, 3) normalised residuals, (NS, 3) means -> (B, P, 3) sizes:
    mean[c] * (1 + residual[c]) at the best cluster c (VoteNet / GroupFree-3D)."""
    best = size_scores.argmax(-1)
    res = residual.gather(2, best[..., None, None].expand(-1, -1, 1, 3)).squeeze(2)
    return (mean_size.to(residual.dtype)[best] * (1 + res)).clamp_min(1e-2)


class ConvTrunk(nn.Module):
    """conv1-bn1-ReLU-conv2-bn2-ReLU over (B, C, N): the trunk every GroupFree-3D / VoteNet head shares.

    Subclasses add their output convs beside it, so parameter names stay the released ones."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, dim, 1)
        self.bn1 = nn.BatchNorm1d(dim)
        self.conv2 = nn.Conv1d(dim, dim, 1)
        self.bn2 = nn.BatchNorm1d(dim)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class PredictHead(ConvTrunk):
    """Box head in GroupFree-3D's layout (`PredictHead`): two conv-BN-ReLU layers, then one 1x1 conv per output.

    The size is classified over size clusters (ScanNet: one per class, at the class's mean size) and
    refined by a residual relative to that mean: size = mean[c] * (1 + residual[c]), c the best cluster.
    ScanNet boxes are axis-aligned, so the single heading bin's outputs are kept for checkpoint
    compatibility and never used.
    """

    def __init__(self, dim: int, num_class: int, num_size_cluster: int, num_heading_bin: int = 1):
        super().__init__(dim)
        self.objectness_scores_head = nn.Conv1d(dim, 1, 1)
        self.center_residual_head = nn.Conv1d(dim, 3, 1)
        self.heading_class_head = nn.Conv1d(dim, num_heading_bin, 1)
        self.heading_residual_head = nn.Conv1d(dim, num_heading_bin, 1)
        self.size_class_head = nn.Conv1d(dim, num_size_cluster, 1)
        self.size_residual_head = nn.Conv1d(dim, num_size_cluster * 3, 1)
        self.sem_cls_scores_head = nn.Conv1d(dim, num_class, 1)

    def forward(self, features: torch.Tensor, base_xyz: torch.Tensor, mean_size: torch.Tensor) -> dict:
        """features (B, D, P), base_xyz (B, P, 3), mean_size (NS, 3) -> per-proposal outputs, (B, P, ...)."""
        x = self.trunk(features)
        b, _, p = x.shape
        size_scores = self.size_class_head(x).transpose(1, 2)
        residual = self.size_residual_head(x).transpose(1, 2).reshape(b, p, -1, 3)
        return {"objectness": self.objectness_scores_head(x).squeeze(1),
                "center": base_xyz + self.center_residual_head(x).transpose(1, 2),
                "size": decode_size(size_scores, residual, mean_size), "size_scores": size_scores,
                "size_residuals_normalized": residual, "sem_logits": self.sem_cls_scores_head(x).transpose(1, 2)}


class PointsObjCls(ConvTrunk):
    """Seed objectness for k-closest-points sampling, in GroupFree-3D's `PointsObjClsModule` layout."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.conv3 = nn.Conv1d(dim, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D, S) -> (B, S)
        return self.conv3(self.trunk(x)).squeeze(1)


class LearnedPosEmbed(nn.Module):
    def __init__(self, cin: int, dim: int):
        super().__init__()
        self.position_embedding_head = nn.Sequential(nn.Conv1d(cin, dim, 1), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
                                                     nn.Conv1d(dim, dim, 1))

    def forward(self, x):  # (B, P, cin) -> (B, P, dim)
        return self.position_embedding_head(x.transpose(1, 2)).transpose(1, 2)


class DecoderLayer(nn.Module):
    """Self-attention over proposals, cross-attention to seeds, feed-forward; post-norm.

    As in GroupFree-3D, the position embedding is added to keys *and values* of both attentions.
    """

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q, q_pos, k, k_pos):
        x = q + q_pos
        q = self.norm1(q + self.dropout(self.self_attn(x, x, x, need_weights=False)[0]))
        kv = k + k_pos
        q = self.norm2(q + self.dropout(self.multihead_attn(q + q_pos, kv, kv, need_weights=False)[0]))
        return self.norm3(q + self.dropout(self.linear2(self.dropout(torch.relu(self.linear1(q))))))


class GroupFree3D(nn.Module):
    """PointNet++ seeds -> k-closest-points sampling (KPS) -> transformer decoder with a head per layer.

    Parameter names follow the released GroupFree-3D code, so its checkpoints load with the few
    renames in ws3dvg.detection.checkpoints. `mean_size_arr` holds the size-cluster means
    (scannet_means.npz in the original, a plain array there and a buffer here).
    """

    def __init__(self, in_dim: int, num_class: int = 18, num_proposal: int = 256, dim: int = 288,
                 num_layers: int = 6, heads: int = 8, ffn: int = 2048, dropout: float = 0.1, backbone: dict | None = None,
                 mean_sizes: torch.Tensor | None = None):
        super().__init__()
        self.backbone_net = PointNet2Backbone(in_dim, out_dim=dim, **(backbone or {}))
        self.register_buffer("mean_size_arr", _mean_sizes(mean_sizes, num_class))
        self.points_obj_cls = PointsObjCls(dim)
        self.num_proposal, self.dim = num_proposal, dim
        ns = len(self.mean_size_arr)
        self.proposal_head = PredictHead(dim, num_class, ns)
        self.decoder_query_proj = nn.Conv1d(dim, dim, 1)
        self.decoder_key_proj = nn.Conv1d(dim, dim, 1)
        self.decoder_self_posembeds = nn.ModuleList(LearnedPosEmbed(6, dim) for _ in range(num_layers))
        self.decoder_cross_posembeds = nn.ModuleList(LearnedPosEmbed(3, dim) for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderLayer(dim, heads, ffn, dropout) for _ in range(num_layers))
        # GroupFree-3D re-initialises the decoder with Xavier; PyTorch's defaults learn far faster in short
        # schedules (a tiny detector overfits two scenes to mAP@0.25 0.57 vs 0.35 in 60 steps), so they stay.
        self.prediction_heads = nn.ModuleList(PredictHead(dim, num_class, ns) for _ in range(num_layers))

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> dict:
        end = self.backbone_net(xyz, features)
        seed_xyz, seed_feat = end["seed_xyz"], end["seed_features"]
        seed_logits = self.points_obj_cls(seed_feat)  # (B, S)
        k = min(self.num_proposal, seed_xyz.shape[1])
        top = seed_logits.topk(k, dim=-1).indices  # KPS: the seeds most likely on an object
        base_xyz = seed_xyz.gather(1, top.unsqueeze(-1).expand(-1, -1, 3))
        feats = ops.gather_points(seed_feat, top)
        layers = [self.proposal_head(feats, base_xyz, self.mean_size_arr)]
        q = self.decoder_query_proj(feats).transpose(1, 2)
        key = self.decoder_key_proj(seed_feat).transpose(1, 2)
        for i, layer in enumerate(self.decoder):
            prev = layers[-1]
            q_pos = self.decoder_self_posembeds[i](torch.cat([prev["center"], prev["size"]], -1).detach())
            k_pos = self.decoder_cross_posembeds[i](seed_xyz)
            q = layer(q, q_pos, key, k_pos)
            layers.append(self.prediction_heads[i](q.transpose(1, 2), base_xyz, self.mean_size_arr))
        out = dict(layers[-1])
        out.update(features=q, seed_index=end["seed_inds"].gather(1, top), seed_xyz=seed_xyz, seed_logits=seed_logits,
                   seed_inds=end["seed_inds"], proposal_seed=top, layers=layers, seed_features=seed_feat)
        return out


class VotingModule(ConvTrunk):
    """Each seed votes for its object's centre and a feature residual (VoteNet's `VotingModule`, one vote)."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.conv3 = nn.Conv1d(dim, 3 + dim, 1)

    def forward(self, seed_xyz: torch.Tensor, seed_feat: torch.Tensor):
        x = self.conv3(self.trunk(seed_feat))
        vote_feat = seed_feat + x[:, 3:]
        return seed_xyz + x[:, :3].transpose(1, 2), vote_feat / vote_feat.norm(dim=1, keepdim=True).clamp_min(1e-6)


class ProposalModule(ConvTrunk):
    """Vote clustering (SA on the votes) and VoteNet's fused box head (`ProposalModule`).

    conv3's output rows are VoteNet's layout: objectness (2 classes), centre residual (3), heading
    bins and residuals, size-cluster scores, size residuals (3 per cluster), class scores. The two
    objectness logits become one (their difference: the same probability under a sigmoid).
    """

    def __init__(self, dim: int, num_proposal: int, num_class: int, num_size_cluster: int, num_heading_bin: int = 1):
        super().__init__(128)
        self.vote_aggregation = SAModule(num_proposal, 0.3, 16, [dim, 128, 128, 128])
        self.conv3 = nn.Conv1d(128, 2 + 3 + 2 * num_heading_bin + 4 * num_size_cluster + num_class, 1)
        self.split = (2, 3, 2 * num_heading_bin, num_size_cluster, 3 * num_size_cluster, num_class)

    def forward(self, vote_xyz, vote_feat, mean_size):
        xyz, feat, inds = self.vote_aggregation(vote_xyz, vote_feat)
        obj, center, _, size_scores, residual, sem = self.conv3(self.trunk(feat)).transpose(1, 2).split(self.split, -1)
        b, p, _ = size_scores.shape
        residual = residual.reshape(b, p, -1, 3)
        out = {"objectness": obj[..., 1] - obj[..., 0], "center": xyz + center,
               "size": decode_size(size_scores, residual, mean_size),
               "size_scores": size_scores, "size_residuals_normalized": residual, "sem_logits": sem}
        return out, feat, inds


class VoteNet(nn.Module):
    """PointNet++ seeds (256-d) -> votes toward object centres -> vote clustering -> box head.

    Module and parameter names follow the released VoteNet code (`vgen.conv1`, `pnet.vote_aggregation`,
    `pnet.conv3`, ...); the proposal feature is the 128-d clustered vote feature, as ScanRefer uses it.
    """

    def __init__(self, in_dim: int, num_class: int = 18, num_proposal: int = 256, dim: int = 256,
                 backbone: dict | None = None, mean_sizes: torch.Tensor | None = None):
        super().__init__()
        self.backbone_net = PointNet2Backbone(in_dim, out_dim=dim, **(backbone or {}))
        self.register_buffer("mean_size_arr", _mean_sizes(mean_sizes, num_class))
        self.vgen = VotingModule(dim)
        self.pnet = ProposalModule(dim, num_proposal, num_class, len(self.mean_size_arr))
        self.dim = 128

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> dict:
        end = self.backbone_net(xyz, features)
        seed_xyz, seed_feat = end["seed_xyz"], end["seed_features"]
        vote_xyz, vote_feat = self.vgen(seed_xyz, seed_feat)
        out, feat, agg_inds = self.pnet(vote_xyz, vote_feat, self.mean_size_arr)
        out.update(features=feat.transpose(1, 2), seed_index=end["seed_inds"].gather(1, agg_inds), seed_xyz=seed_xyz,
                   vote_xyz=vote_xyz, seed_inds=end["seed_inds"], proposal_seed=agg_inds, layers=[dict(out)],
                   seed_features=seed_feat)
        return out


def _mean_sizes(mean_sizes, num_class: int) -> torch.Tensor:
    if mean_sizes is None:
        return torch.ones(num_class, 3)
    t = torch.as_tensor(mean_sizes, dtype=torch.float32)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"mean sizes must be (num_size_cluster, 3), got {tuple(t.shape)}")
    return t.clone()


def build_detector(cfg: dict, in_dim: int, mean_sizes=None) -> nn.Module:
    """`mean_sizes` (18, 3): the size-cluster means; ones when the weights loaded afterwards carry them."""
    backbone = {"npoints": tuple(cfg["sa_npoints"]), "width": cfg["width"]}
    if cfg["model"] == "groupfree":
        return GroupFree3D(in_dim, num_proposal=cfg["num_proposal"], num_layers=cfg["decoder_layers"],
                           ffn=cfg["ffn_dim"], backbone=backbone, mean_sizes=mean_sizes)
    if cfg["model"] == "votenet":
        return VoteNet(in_dim, num_proposal=cfg["num_proposal"], backbone=backbone, mean_sizes=mean_sizes)
    if cfg["model"] == "objects":  # the ground-truth-box protocol's object encoder (models/object_encoder.py)
        return ObjectEncoder(in_dim, width=cfg["width"], projection=128 if cfg["object_contrastive"] > 0 else 0)
    raise ValueError(f"detector.model must be 'groupfree', 'votenet' or 'objects', got {cfg['model']!r}")
