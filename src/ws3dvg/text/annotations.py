"""Referring-expression annotations (ScanRefer json, ReferIt3D Nr3D/Sr3D csv) into one table.

Columns of the table: split, scene_id, object_id (ScanNet objectId; instance id = object_id + 1),
ann_id, object_name, description, tokens (list), class18 (from object_name through the label
table; unknown names -> others), n_same_class and unique (n_same_class == 1), and for ReferIt3D:
stimulus_id, hard (n_objects > 2, n counting the target), view_dep (explicit view words).

n_same_class is each benchmark's own definition, so unique / multiple and the chance levels can be
set beside the papers':
- ScanRefer (and WS-3DVG, which reuses its evaluation): the distinct object ids *annotated in the
  split's file* for that scene whose object_name has the target's class (`scanrefer_same_class`);
  objects no description names do not count.
- Nr3D / Sr3D: the objects of the target's fine-grained type, target plus distractors, read from
  `stimulus_id` (ReferIt3D's chance level is one over that).
Rows that cannot be used (unknown scene or object id, empty text, malformed fields) are
reported with their ids and counted, then skipped, or raise when strict.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.errors import DataError
from ..scannet.labels import LabelMap
from .tokens import clean_tokens, tokenize

log = logging.getLogger(__name__)
VIEW_WORDS = {"front", "behind", "back", "right", "left", "facing", "leftmost", "rightmost", "looking", "across"}
COLUMNS = ["split", "scene_id", "object_id", "ann_id", "object_name", "description", "tokens", "class18",
           "unique", "n_same_class", "stimulus_id", "hard", "view_dep"]


@dataclass
class Report:
    """Rows left out, by reason, with the first few ids of each for the log."""
    total: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, row_id: str) -> None:
        self.skipped.setdefault(reason, []).append(row_id)

    def summary(self) -> dict:
        return {"rows": self.total, "kept": self.total - sum(map(len, self.skipped.values())),
                "skipped": {k: len(v) for k, v in self.skipped.items()}}


def decode_stimulus_id(stimulus: str) -> tuple[str, str, int, int, list[int]]:
    """ReferIt3D's stimulus id: scene-label-n_objects-target[-distractor...] (label uses _ for spaces)."""
    parts = stimulus.split("-", 4)
    if len(parts) < 4:
        raise ValueError(f"stimulus_id {stimulus!r} has fewer than 4 '-'-separated fields")
    scene, label, n, target = parts[:4]
    distractors = [int(x) for x in parts[4].split("-") if x] if len(parts) == 5 else []
    n_objects, target_id = int(n), int(target)
    if len(distractors) != n_objects - 1:
        raise ValueError(f"stimulus_id {stimulus!r}: {len(distractors)} distractors but n_objects={n_objects}")
    return scene, label.replace("_", " "), n_objects, target_id, distractors


def scanrefer_same_class(raw: pd.DataFrame, labels: LabelMap) -> np.ndarray:
    """Per row, ScanRefer's count behind unique / multiple (its `_get_unique_multiple_lookup`).

    Within each split, every distinct (scene_id, object_id) annotated in the rows contributes the
    class of its object_name (underscores to spaces, the label table's raw category -> the 18
    classes; `others` outside them or when unknown). A row's count is the number of those objects
    of its own object_name's class in its scene; rows with an unparseable object_id get 0.
    """
    obj = pd.to_numeric(raw["object_id"], errors="coerce")
    names = raw["object_name"].astype(str)
    cls = names.map({n: labels.class18_of_name(n) for n in names.unique()}).to_numpy(np.int64)
    frame = pd.DataFrame({"split": raw["split"].to_numpy(), "scene": raw["scene_id"].astype(str).to_numpy(),
                          "obj": obj.to_numpy(), "cls": cls})
    objects = frame.dropna(subset=["obj"]).drop_duplicates(["split", "scene", "obj"])  # first name seen, as theirs
    counts = objects.groupby(["split", "scene", "cls"]).size()
    key = pd.MultiIndex.from_frame(frame[["split", "scene", "cls"]])
    out = counts.reindex(key).fillna(0).to_numpy(np.int64)
    return np.where(obj.notna().to_numpy(), out, 0)


def is_view_dependent(tokens: list[str]) -> bool:
    return bool(VIEW_WORDS.intersection(tokens))


def read_scanrefer(path: str | Path, split: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "ScanRefer annotation file not found")
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc})") from exc
    if not isinstance(rows, list):
        raise DataError(path, "expected a JSON list of descriptions")
    df = pd.DataFrame(rows)
    for col in ("scene_id", "object_id", "object_name", "ann_id", "description"):
        if col not in df.columns:
            raise DataError(path, f"descriptions lack the field {col!r}")
    if "token" not in df.columns:
        df["token"] = None
    df = df.rename(columns={"token": "tokens"})
    df["split"] = split
    df["stimulus_id"] = ""
    df["source"] = str(path)
    return df


def read_referit3d(path: str | Path, splits: dict[str, list[str]], filter_rows: bool = True) -> pd.DataFrame:
    """nr3d.csv / sr3d.csv; split by the scene's ScanNet split. Nr3D rows that do not mention the
    target class or were not guessed correctly are dropped when `filter_rows` (ReferIt3D's default)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "ReferIt3D csv not found")
    try:
        df = pd.read_csv(path, dtype={"scan_id": str, "stimulus_id": str, "utterance": str})
    except Exception as exc:
        raise DataError(path, f"unreadable csv ({exc})") from exc
    for col in ("scan_id", "target_id", "utterance", "stimulus_id"):
        if col not in df.columns:
            raise DataError(path, f"csv lacks the column {col!r}")
    if filter_rows:
        for col in ("mentions_target_class", "correct_guess"):
            if col in df.columns:
                df = df[df[col].astype(str).str.lower().isin(["true", "1"])]
    split_of = {s: name for name, scenes in splits.items() for s in scenes}
    out = pd.DataFrame({
        "scene_id": df["scan_id"], "object_id": df["target_id"], "ann_id": df.index.astype(str),
        "object_name": df["instance_type"] if "instance_type" in df.columns else "",
        "description": df["utterance"], "tokens": df["tokens"] if "tokens" in df.columns else None,
        "stimulus_id": df["stimulus_id"],
    })
    out["split"] = out["scene_id"].map(split_of).fillna("unknown")
    out["source"] = str(path)
    return out


def _parse_tokens(value) -> list[str] | None:
    """A row's own token list (ScanRefer's list, ReferIt3D's python-literal string), cleaned; None if absent."""
    if isinstance(value, list):
        return clean_tokens(value)
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
        return clean_tokens(parsed) if isinstance(parsed, list) else None
    return None


def build_table(raw: pd.DataFrame, scene_classes: dict[str, np.ndarray], labels: LabelMap,
                strict: bool = False) -> tuple[pd.DataFrame, Report]:
    """Validate rows and derive class18, unique, tokens, hard and view_dep.

    scene_classes: scene id -> (M, 2) int array of [instance id, class18] from preprocessing.
    """
    report = Report(total=len(raw))
    scanrefer_counts = scanrefer_same_class(raw, labels)
    keep, tokens, classes, counts, hard = [], [], [], [], []
    for idx, row in enumerate(raw.itertuples(index=False)):
        rid = f"{row.source}: scene {row.scene_id} object {row.object_id} ann {row.ann_id}"
        reason = None
        inst = scene_classes.get(str(row.scene_id))
        try:
            obj = int(row.object_id)
        except (TypeError, ValueError):
            obj, reason = None, "malformed object_id"
        text = row.description if isinstance(row.description, str) else ""
        if reason is None and inst is None:
            reason = "scene not preprocessed"
        elif reason is None and not np.any(inst[:, 0] == obj + 1):
            reason = "object id not in the preprocessed scene"
        elif reason is None and not text.strip():
            reason = "empty description"
        toks = _parse_tokens(row.tokens) if reason is None else None
        if reason is None and toks is None:
            toks = tokenize(text)
        if reason is None and not toks:
            reason = "no tokens"
        h, n_same = -1, int(scanrefer_counts[idx])
        if reason is None and row.stimulus_id:
            try:
                _, _, n_objects, target, _ = decode_stimulus_id(row.stimulus_id)
                h, n_same = int(n_objects > 2), n_objects
                if target != obj:
                    reason = "stimulus_id target differs from target_id"
            except ValueError:
                reason = "malformed stimulus_id"
        if reason is not None:
            if strict:
                raise DataError(row.source, f"{rid}: {reason}")
            report.add(reason, rid)
            continue
        c = labels.class18_of_name(str(row.object_name))
        keep.append(idx)
        tokens.append(toks)
        classes.append(c)
        counts.append(n_same)
        hard.append(h)
    for reason, ids in report.skipped.items():
        log.warning("skipped %d rows (%s), e.g. %s", len(ids), reason, "; ".join(ids[:3]))
    table = raw.iloc[keep].reset_index(drop=True).copy()
    table["object_id"] = table["object_id"].astype(int)
    table["ann_id"] = table["ann_id"].astype(str)
    table["tokens"] = tokens
    table["class18"] = np.array(classes, dtype=np.int64)
    table["n_same_class"] = np.array(counts, dtype=np.int64)
    table["unique"] = table["n_same_class"] <= 1
    table["hard"] = np.array(hard, dtype=np.int64)
    table["view_dep"] = [int(is_view_dependent(t)) if s else -1 for t, s in zip(tokens, table["stimulus_id"])]
    return table[COLUMNS], report


def scene_classes_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """(M, 8) ScanRefer aligned boxes (last column objectId) -> (M, 2) [instance id, class18], as
    `scene_classes_from_h5` gives for a preprocessed scene."""
    from ..scannet.labels import nyu40_to_class18

    return np.stack([boxes[:, 7].astype(np.int64) + 1, nyu40_to_class18(boxes[:, 6].astype(np.int64))], 1)


def scene_classes_from_h5(path: str | Path) -> dict[str, np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as h5:
        for scene in h5:
            boxes = h5[scene]["boxes"][()]
            out[scene] = np.stack([boxes[:, 7].astype(np.int64), h5[scene]["box_class18"][()].astype(np.int64)], 1)
    return out
