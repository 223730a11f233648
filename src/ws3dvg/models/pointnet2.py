"""PointNet++ set abstraction / feature propagation and the VoteNet-style backbone, in plain PyTorch.

Module and parameter names follow the published VoteNet / GroupFree-3D code
(`sa1.mlp_module.layer0.conv.weight`, `fp2.mlp.layer1.bn.bn.running_mean`, ...), so released
checkpoints map onto it with few renames (see ws3dvg.detection.checkpoints).
"""

from __future__ import annotations

import torch
from torch import nn

from ..ops import pointops as ops


class _BN(nn.Module):
    """Wrapper so the parameter path reads `bn.bn.weight`, as in pointnet2's pytorch_utils."""

    def __init__(self, c: int, dims: int = 2):
        super().__init__()
        self.bn = nn.BatchNorm2d(c) if dims == 2 else nn.BatchNorm1d(c)

    def forward(self, x):
        return self.bn(x)


class _ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, dims: int = 2):
        super().__init__()
        self.conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(cin, cout, 1, bias=False)
        self.bn = _BN(cout, dims)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activation(self.bn(self.conv(x)))


class SharedMLP(nn.Sequential):
    def __init__(self, channels: list[int], dims: int = 2):
        super().__init__()
        for i in range(len(channels) - 1):
            self.add_module(f"layer{i}", _ConvBNReLU(channels[i], channels[i + 1], dims))


class SAModule(nn.Module):
    """Set abstraction: FPS -> ball query -> group (relative xyz, normalised by radius) -> MLP -> max."""

    def __init__(self, npoint: int, radius: float, nsample: int, mlp: list[int], use_xyz: bool = True):
        super().__init__()
        self.npoint, self.radius, self.nsample, self.use_xyz = npoint, radius, nsample, use_xyz
        self.mlp_module = SharedMLP([mlp[0] + (3 if use_xyz else 0)] + mlp[1:])

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None, inds: torch.Tensor | None = None):
        if inds is None:
            inds = ops.furthest_point_sample(xyz.detach(), min(self.npoint, xyz.shape[1]))
        new_xyz = xyz.gather(1, inds.unsqueeze(-1).expand(-1, -1, 3))
        idx = ops.ball_query(self.radius, self.nsample, xyz.detach(), new_xyz.detach())
        grouped_xyz = (ops.group(xyz.transpose(1, 2).contiguous(), idx) - new_xyz.transpose(1, 2).unsqueeze(-1))
        grouped_xyz = grouped_xyz / self.radius
        if features is not None:
            grouped = ops.group(features, idx)
            grouped = torch.cat([grouped_xyz, grouped], 1) if self.use_xyz else grouped
        else:
            grouped = grouped_xyz
        return new_xyz, self.mlp_module(grouped).max(-1).values, inds


class FPModule(nn.Module):
    """Feature propagation: inverse-distance interpolation from 3 nearest, concat skip, MLP."""

    def __init__(self, mlp: list[int]):
        super().__init__()
        self.mlp = SharedMLP(mlp)

    def forward(self, unknown, known, unknown_feats, known_feats):
        dist, idx = ops.three_nn(unknown.detach(), known.detach())
        interp = ops.three_interpolate(known_feats, idx, ops.inverse_distance_weights(dist))
        x = torch.cat([interp, unknown_feats], 1) if unknown_feats is not None else interp
        return self.mlp(x.unsqueeze(-1)).squeeze(-1)


class PointNet2Backbone(nn.Module):
    """4 SA layers + 2 FP layers -> seed points (npoints[1]) with `out_dim` features."""

    def __init__(self, in_dim: int, npoints=(2048, 1024, 512, 256), radii=(0.2, 0.4, 0.8, 1.2),
                 nsamples=(64, 32, 16, 16), width: int = 1, out_dim: int = 288):
        super().__init__()
        w = width
        self.sa1 = SAModule(npoints[0], radii[0], nsamples[0], [in_dim, 64 * w, 64 * w, 128 * w])
        self.sa2 = SAModule(npoints[1], radii[1], nsamples[1], [128 * w, 128 * w, 128 * w, 256 * w])
        self.sa3 = SAModule(npoints[2], radii[2], nsamples[2], [256 * w, 128 * w, 128 * w, 256 * w])
        self.sa4 = SAModule(npoints[3], radii[3], nsamples[3], [256 * w, 128 * w, 128 * w, 256 * w])
        self.fp1 = FPModule([256 * w + 256 * w, 256 * w, 256 * w])
        self.fp2 = FPModule([256 * w + 256 * w, 256 * w, out_dim])
        self.out_dim = out_dim

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> dict:
        """xyz (B, N, 3), features (B, C, N) -> seed_xyz (B, S, 3), seed_features (B, D, S), seed_inds (B, S)."""
        x1, f1, i1 = self.sa1(xyz, features)
        x2, f2, i2 = self.sa2(x1, f1)
        x3, f3, _ = self.sa3(x2, f2)
        x4, f4, _ = self.sa4(x3, f3)
        f3 = self.fp1(x3, x4, f3, f4)
        f2 = self.fp2(x2, x3, f2, f3)
        return {"seed_xyz": x2, "seed_features": f2, "seed_inds": i1.gather(1, i2)}
