"""The object encoder of the ground-truth-box protocol (`detector.model: objects`).

ReferIt3D's protocol hands the grounding model the scene's objects; ReferIt3D, and the methods that
follow it, encode each object from its own points with a point network trained to classify it. This is
the smallest such network, a PointNet: a shared per-point MLP, a max over the object's points, and a
classifier over the 18 ScanRefer classes. Its max-pooled vector is the proposal feature, its softmax the
class scores (the same fields the detector fills in detected-box mode).

`projection` adds the head that `detector.object_contrastive`'s instance discrimination trains through
(detection/train.py); it is not part of the proposal feature.
"""

from __future__ import annotations

import torch
from torch import nn


class ObjectEncoder(nn.Module):
    def __init__(self, in_dim: int, num_class: int = 18, width: int = 1, projection: int = 0):
        super().__init__()
        dims = [in_dim, 64 * width, 128 * width, 256 * width]
        layers: list[nn.Module] = []
        # no batch norm: an object's output must not depend on the other objects of its batch (a batch holds a few
        # scenes' objects, one class often dominating it; with batch norm, eval fell to the majority class)
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Conv1d(a, b, 1), nn.ReLU(inplace=True)]
        self.points = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.LayerNorm(dims[-1]), nn.Linear(dims[-1], 128 * width), nn.ReLU(inplace=True),
                                        nn.Dropout(0.3), nn.Linear(128 * width, num_class))
        self.projection = nn.Sequential(nn.Linear(dims[-1], dims[-1]), nn.ReLU(inplace=True),
                                        nn.Linear(dims[-1], projection)) if projection else None
        self.feature_dim = dims[-1]

    def forward(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """points (M, C, K): M objects of K points with C channels -> features (M, D), sem_logits (M, 18)."""
        features = self.points(points).amax(-1)
        return {"features": features, "sem_logits": self.classifier(features)}
