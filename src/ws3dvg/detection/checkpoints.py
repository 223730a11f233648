"""Load a released detector checkpoint onto our modules: unwrap, rename by a table, report.

Released files nest the weights differently ({"model": ...}, {"model_state_dict": ...},
{"state_dict": ...}) and DataParallel adds `module.`. Renames are (regex, replacement) pairs
applied in order; what still does not match is reported, never silently dropped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from ..engine.errors import DataError

log = logging.getLogger(__name__)

# Known differences between the published GroupFree-3D / VoteNet code and this implementation.
# GroupFree-3D's decoder layers also hold their position-embedding modules, so its state dict lists
# each of those tensors twice (`decoder.0.self_posembed.*` = `decoder_self_posembeds.0.*`): both
# names land on the one module here.
RENAMES: dict[str, list[tuple[str, str]]] = {
    "groupfree": [
        (r"^module\.", ""),
        (r"^decoder\.(\d+)\.self_posembed\.", r"decoder_self_posembeds.\1."),
        (r"^decoder\.(\d+)\.cross_posembed\.", r"decoder_cross_posembeds.\1."),
    ],
    "votenet": [
        (r"^module\.", ""),
    ],
}


def unwrap(obj) -> dict:
    for key in ("model", "model_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def rename(state: dict, table: list[tuple[str, str]]) -> dict:
    """Apply the renames; two names meeting on one key must hold the same tensor."""
    out = {}
    for key, v in state.items():
        k = key
        for pattern, repl in table:
            k = re.sub(pattern, repl, k)
        if k in out and not (torch.is_tensor(v) and out[k].shape == v.shape and torch.equal(out[k], v)):
            raise ValueError(f"{key!r} and another key both map to {k!r} with different values")
        out[k] = v
    return out


def load_pretrained(model: torch.nn.Module, path: str | Path, kind: str) -> dict[str, list[str]]:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "pretrained detector checkpoint not found")
    try:
        state = rename(unwrap(torch.load(path, map_location="cpu", weights_only=False)), RENAMES.get(kind, []))
    except (ValueError, RuntimeError, OSError) as e:  # includes pickle errors of a damaged file
        raise DataError(path, f"cannot read the detector checkpoint: {e}") from e
    own = model.state_dict()
    shape_mismatch = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    usable = {k: v for k, v in state.items() if k in own and k not in shape_mismatch}
    result = model.load_state_dict(usable, strict=False)
    # released files keep the size-cluster means outside the model (scannet_means.npz)
    missing = [k for k in result.missing_keys if k != "mean_size_arr"]
    if "mean_size_arr" in result.missing_keys:
        log.info("%s has no mean sizes; keeping detector.mean_sizes (or the training boxes' class means)", path)
    report = {"missing": missing, "unexpected": [k for k in state if k not in own],
              "shape_mismatch": shape_mismatch}
    log.info("loaded %d tensors from %s; missing %d, unexpected %d, shape mismatch %d", len(usable), path,
             len(report["missing"]), len(report["unexpected"]), len(shape_mismatch))
    for name, keys in report.items():
        if keys:
            log.warning("%s keys (first 5): %s", name, keys[:5])
    return report
