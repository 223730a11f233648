"""ENet (Paszke et al. 2016), the encoder-only variant 3DMV and ScanRefer use for multiview features.

Parameter names and shapes follow the Torch7-converted model those projects ship, so ScanRefer's
released `scannetv2_enet.pth` loads with `strict=True`: the top level is indexed "0".."26"
(the initial block's conv at "0.0" beside its max-pool, the join at "1", BN "2", PReLU "3";
bottlenecks "4".."25", each with its main branch at "<i>.0.0.<j>" and output PReLU at "<i>.2";
classifier "26.0"). Index 1 and the identity/pooling branches hold no parameters.

Checkpoints written by this project before 2026-11 put the initial conv at "1.0"; `load_enet`
reads both layouts, telling them apart by their keys.

Behaviour of the converted model kept on purpose: dropout does not rescale in training and
scales by (1 - p) at inference (Torch7 semantics); downsampling shortcuts max-pool and zero-pad
channels. The 128-channel output before the classifier, at 1/8 of the input resolution, is the
multiview feature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 41  # ScanRefer's ENet: nyu40 + unannotated
MEAN = (0.496342, 0.466664, 0.440796)
STD = (0.277856, 0.28623, 0.291129)
BN_EPS = 1e-3


class LuaDropout2d(nn.Module):
    """Channel dropout without the 1/(1-p) rescale; multiplies by (1-p) at inference instead."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.training:
            keep = (torch.rand(x.shape[:2] + (1, 1), device=x.device) >= self.p).to(x.dtype)
            return x * keep
        return x * (1 - self.p)


def _bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.1)


class _Indexed(nn.Module):
    """A container whose children are named "0", "1", ... like nn.Sequential, with custom forward."""

    def _set(self, index: int, module: nn.Module) -> None:
        self.add_module(str(index), module)

    def __getitem__(self, index: int) -> nn.Module:
        return self._modules[str(index)]


class Bottleneck(_Indexed):
    """kind: regular | dilated | asymmetric | downsample."""

    def __init__(self, cin: int, cout: int, kind: str = "regular", dilation: int = 1, dropout: float = 0.1):
        super().__init__()
        mid = cout // 4
        first = nn.Conv2d(cin, mid, 2, 2, bias=False) if kind == "downsample" else nn.Conv2d(cin, mid, 1, bias=False)
        layers: list[nn.Module] = [first, _bn(mid), nn.PReLU(mid)]
        if kind == "asymmetric":
            layers += [nn.Conv2d(mid, mid, (1, 5), padding=(0, 2), bias=False), nn.Conv2d(mid, mid, (5, 1), padding=(2, 0))]
        else:
            layers += [nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation)]
        layers += [_bn(mid), nn.PReLU(mid), nn.Conv2d(mid, cout, 1, bias=False), _bn(cout), LuaDropout2d(dropout)]
        branches = _Indexed()
        branches._set(0, nn.Sequential(*layers))
        self._set(0, branches)
        self._set(2, nn.PReLU(cout))
        self.downsample, self.extra = kind == "downsample", cout - cin

    def forward(self, x):
        main = self[0][0](x)
        if self.downsample:
            x = F.max_pool2d(x, 2, 2)
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))  # zero channels appended
        return self[2](main + x)


STAGE23 = [("regular", 1), ("dilated", 2), ("asymmetric", 1), ("dilated", 4), ("regular", 1), ("dilated", 8),
           ("asymmetric", 1), ("dilated", 16)]


class ENet(_Indexed):
    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        initial = _Indexed()
        initial._set(0, nn.Conv2d(3, 13, 3, 2, 1))
        self._set(0, initial)
        self._set(2, _bn(16))
        self._set(3, nn.PReLU(16))
        blocks = [Bottleneck(16, 64, "downsample", dropout=0.01)] + [Bottleneck(64, 64, dropout=0.01) for _ in range(4)]
        blocks += [Bottleneck(64, 128, "downsample")]
        blocks += [Bottleneck(128, 128, k, d) for k, d in STAGE23]  # stage 2
        blocks += [Bottleneck(128, 128, k, d) for k, d in STAGE23]  # stage 3
        for i, b in enumerate(blocks):
            self._set(4 + i, b)
        self.n_blocks = len(blocks)
        self._set(4 + len(blocks), nn.Sequential(nn.Conv2d(128, num_classes, 1, bias=False)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, 128, H/8, W/8)."""
        x = torch.cat([self[0][0](x), F.max_pool2d(x, 2, 2)], 1)
        x = self[3](self[2](x))
        for i in range(self.n_blocks):
            x = self[4 + i](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self[4 + self.n_blocks](self.features(x))


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> ENet's input normalisation."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


OLD_INITIAL = "1.0."  # where this project's checkpoints before 2026-11 kept the initial conv
INITIAL = "0.0."     # where the released weights (and this model) keep it


def _released_layout(state: dict) -> dict:
    """The state dict with the initial conv at "0.0", whichever of the two layouts it came in."""
    if any(k.startswith(INITIAL) for k in state) or not any(k.startswith(OLD_INITIAL) for k in state):
        return state
    return {(INITIAL + k[len(OLD_INITIAL):] if k.startswith(OLD_INITIAL) else k): v for k, v in state.items()}


def load_enet(path, device="cpu") -> ENet:
    """ENet weights in the released layout (ScanRefer's scannetv2_enet.pth), in this project's older
    layout, or saved by train_enet; strict, with an error that names the file and what does not fit."""
    from ..engine.errors import DataError

    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise DataError(path, "ENet weights not found") from None
    except Exception as exc:  # a truncated or foreign file
        raise DataError(path, f"not a torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise DataError(path, "not an ENet state dict (expected a mapping of parameter names to tensors)")
    state = _released_layout(state)
    classes = state["26.0.weight"].shape[0] if "26.0.weight" in state else NUM_CLASSES
    model = ENet(classes).to(device)
    expected = model.state_dict()
    # files saved by PyTorch < 0.4.1 (the released one) have no BN step counters; BatchNorm fills them in
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            parts.append("shape mismatch " + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                                                       for k in wrong[:3]))
        raise DataError(path, "does not fit the ENet of ScanRefer / 3DMV: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
    return model
