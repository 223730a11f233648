"""Batches for grounding, read from the proposal cache and the masked language table only.

One item is one scene with up to `lang_num_max` of its sentences; a batch pads proposals to
the largest scene (`prop_mask`) and sentences to `lang_num_max` (`sent_mask`).
Training batches never carry which object a sentence refers to: `object_id` is read only when
`with_targets` is set (evaluation and reporting), and even then it is kept out of the model's input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..detection.proposals import GROUNDING_FIELDS, cache_mode, read_proposals
from ..engine.errors import DataError, ParamsError
from ..engine.training import epoch_key
from ..text.masking import read_masked
from .recipe import Recipe


def load_proposals(path: str | Path, scenes: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """The fields grounding reads of each scene's cached proposals."""
    return read_proposals(path, scenes, GROUNDING_FIELDS)


def prepare_proposals(p: dict, source, use_multiview: bool, box_colour: bool, mode: str = "gt",
                      box_summary: bool = False, summary_only: bool = False, feature_norm: bool = False) -> dict:
    """One scene's cached proposals as the grounding models read them, in place: the multiview feature kept or
    dropped, our `box_colour` and `box_summary` appended to the feature (not for oracle caches, whose
    feature holds both already) and, with `summary_only`, the detector's pooled feature dropped (with
    `feature_norm`, standardised per proposal and scaled to unit norm before the join); detector logits
    derived where an older cache has none. The switches are a `Recipe`'s. `source` names the file in errors."""
    if "class_logits" not in p:  # caches written before the field: log-probabilities are logits
        p["class_logits"] = np.log(np.clip(p["class_scores"], 1e-6, None)).astype(np.float32)
    if not use_multiview:
        p.pop("multiview", None)
    elif "multiview" not in p:
        raise DataError(source, "teacher.use_multiview is set but the proposals carry no multiview "
                                "feature (run project_multiview, then cache_detector)")
    if mode == "oracle":
        return p
    parts = [] if summary_only else [normalized_feature(p["features"]) if feature_norm else p["features"]]
    if box_colour:
        if "box_colour" not in p:
            raise DataError(source, "the recipe's box_colour needs proposals cached with their box colour "
                                    "(rerun cache_detector)")
        parts.append(p["box_colour"])
    if box_summary:  # what the oracle's feature says, read from the detector and the box instead of the ground truth
        parts += [p["class_scores"], p["size"], p["center"]]
    if not parts:  # Recipe refuses this combination; kept for callers that pass switches by hand
        raise ParamsError("summary_only drops the detector's feature: it needs box_colour or box_summary")
    p["features"] = np.concatenate(parts, 1).astype(np.float32)
    return p


def normalized_feature(f: np.ndarray) -> np.ndarray:
    """Each row standardised over its channels and divided by sqrt(channels): unit norm, like the parts beside it."""
    f = f.astype(np.float64)
    z = (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
    return (z / np.sqrt(f.shape[1])).astype(np.float32)


def grounding_set(paths: dict, split: str, cfg: dict, recipe: Recipe, **kw) -> "GroundingSet":
    """The split's dataset with the inputs a teacher or student config and its recipe ask for."""
    return GroundingSet(paths["masked"], split, paths[f"proposals_{split}"], cfg["lang_num_max"],
                        cfg["use_multiview"], **recipe.proposal_inputs(), **kw)


class GroundingSet(torch.utils.data.Dataset):
    def __init__(self, masked_h5: str | Path, split: str, proposals_h5: str | Path, lang_num_max: int,
                 use_multiview: bool = False, with_targets: bool = False, shuffle_seed: int | None = None,
                 box_colour: bool = False, box_summary: bool = False, summary_only: bool = False,
                 feature_norm: bool = False):
        lang = read_masked(masked_h5, split)
        self.lang = {k: lang[k] for k in ("ids", "mask", "length", "class18", "scene_id")}
        if with_targets:
            self.lang["object_id"] = lang["object_id"]
        scenes = sorted(set(lang["scene_id"].tolist()))
        self.proposals = load_proposals(proposals_h5, scenes)
        mode = cache_mode(proposals_h5)
        for p in self.proposals.values():
            prepare_proposals(p, proposals_h5, use_multiview, box_colour, mode, box_summary, summary_only, feature_norm)
        self.lang_num_max, self.with_targets = lang_num_max, with_targets
        self.by_scene = {s: np.flatnonzero(lang["scene_id"] == s) for s in scenes}
        self.shuffle_seed = shuffle_seed
        self.set_epoch(0)

    def static_sizes(self) -> dict:
        """The largest scene, sentence count and sentence of the split: one batch shape for the whole run."""
        return {"proposals": max(len(p["center"]) for p in self.proposals.values()), "sentences": self.lang_num_max,
                "words": int(self.lang["length"].max())}

    @property
    def feature_dim(self) -> int:
        return next(iter(self.proposals.values()))["features"].shape[1]

    def set_epoch(self, epoch: int) -> None:
        """Regroup each scene's sentences into chunks of lang_num_max (reshuffled per epoch in training)."""
        self.epoch, self.items = epoch, self._group(epoch)

    def _group(self, epoch: int) -> list:
        items = []
        rng = np.random.default_rng([self.shuffle_seed, epoch]) if self.shuffle_seed is not None else None
        for s, idx in self.by_scene.items():
            idx = rng.permutation(idx) if rng is not None else idx
            for start in range(0, len(idx), self.lang_num_max):
                items.append((s, idx[start:start + self.lang_num_max]))
        return items

    def __len__(self) -> int:
        return len(self.items)  # the same for every epoch: each scene makes ceil(sentences / lang_num_max) items

    def __getitem__(self, key) -> dict:
        epoch, i = epoch_key(key, self.epoch)  # (epoch, index) from an EpochLoader, else the index
        if epoch != self.epoch:  # in a loader's worker too: each process regroups once per epoch
            self.set_epoch(epoch)
        scene, idx = self.items[i]
        item = {"scene": scene, "sentence_index": idx, **self.proposals[scene]}
        for k in ("ids", "mask", "length", "class18") + (("object_id",) if self.with_targets else ()):
            item[k] = self.lang[k][idx]
        return item


def collate(items: list[dict], sizes: dict | None = None) -> dict:
    """Pad a list of scenes into one batch. `sizes` ({"proposals", "sentences", "words"}) fixes the padded
    shape (static shapes for CUDA graphs; every loss is masked, so padding never changes a number);
    without it the batch pads to its own largest scene, sentence count and sentence."""
    b = len(items)
    sizes = sizes or {}
    p = sizes.get("proposals") or max(len(it["center"]) for it in items)
    s = sizes.get("sentences") or max(len(it["ids"]) for it in items)
    length = sizes.get("words") or max(int(it["length"].max()) for it in items)
    out: dict = {"scene": [it["scene"] for it in items]}
    out["prop_mask"] = torch.zeros(b, p, dtype=torch.bool)
    for k in ("center", "size", "corners", "objectness", "class_scores", "class_logits", "features", "multiview"):
        if k not in items[0]:
            continue
        shape = items[0][k].shape[1:]
        t = torch.zeros((b, p) + shape, dtype=torch.float32)
        for i, it in enumerate(items):
            t[i, : len(it[k])] = torch.from_numpy(np.ascontiguousarray(it[k], dtype=np.float32))
        out[k] = t
    for i, it in enumerate(items):
        out["prop_mask"][i, : len(it["center"])] = True
    out["sent_mask"] = torch.zeros(b, s, dtype=torch.bool)
    out["ids"] = torch.zeros(b, s, length, dtype=torch.long)
    out["mask"] = torch.full((b, s, length), 2, dtype=torch.long)
    out["length"] = torch.ones(b, s, dtype=torch.long)
    out["class18"] = torch.zeros(b, s, dtype=torch.long)
    out["sentence_index"] = torch.full((b, s), -1, dtype=torch.long)
    if "object_id" in items[0]:
        out["object_id"] = torch.full((b, s), -1, dtype=torch.long)
    for i, it in enumerate(items):
        n = len(it["ids"])
        out["sent_mask"][i, :n] = True
        # empty slots repeat the scene's last sentence, as the authors' loader fills them: masked out of every
        # loss, they still enter the match head's batch statistics there, and so they do here
        fill = np.r_[np.arange(n), np.full(s - n, n - 1)]
        w = min(length, it["ids"].shape[1])
        out["ids"][i, :, :w] = torch.from_numpy(it["ids"][fill, :w].astype(np.int64))
        out["mask"][i, :, :w] = torch.from_numpy(it["mask"][fill, :w].astype(np.int64))
        out["length"][i] = torch.from_numpy(it["length"][fill])
        out["class18"][i] = torch.from_numpy(it["class18"][fill])
        out["sentence_index"][i, :n] = torch.from_numpy(it["sentence_index"])
        if "object_id" in it:
            out["object_id"][i, :n] = torch.from_numpy(it["object_id"])
    return out


def per_sentence_proposals(proposals: dict[str, dict], scene_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each sentence's scene's proposals, padded to the largest scene: center/size (N, P, 3),
    class_scores (N, P, C), objectness (N, P), valid (N, P)."""
    scenes = sorted(proposals)
    p = max(len(proposals[s]["center"]) for s in scenes)
    stack = {}
    for k in ("center", "size", "class_scores", "objectness"):
        first = proposals[scenes[0]][k]
        arr = np.zeros((len(scenes), p) + first.shape[1:], np.float32)
        for i, s in enumerate(scenes):
            arr[i, : len(proposals[s][k])] = proposals[s][k]
        stack[k] = arr
    stack["valid"] = np.arange(p)[None] < np.array([len(proposals[s]["center"]) for s in scenes])[:, None]
    where = np.searchsorted(scenes, scene_ids)
    return {k: v[where] for k, v in stack.items()}
