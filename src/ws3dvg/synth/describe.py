"""Referring descriptions for a synthetic room (ScanRefer style) and Sr3D-style utterances.

A description must single its target out among the objects of its name: colour or size
where those differ, otherwise (and, with probability `relation_share`, anyway) a spatial
relation to a uniquely named anchor: closest to / farthest from, next to, on, under,
between, left / right of. Relations are computed from the boxes, so every sentence is true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text.tokens import tokenize
from .scene import Room, SceneObject

SHELL = ("floor", "wall")
VIEW_FROM = np.zeros(2)  # left / right are as seen from the room centre, facing the anchor


@dataclass
class Clue:
    kind: str                 # colour | size | closest | farthest | next | on | under | between | left | right
    phrase: str               # relation phrase ("closest to the window") or adjective ("red")
    anchors: tuple[int, ...] = ()
    is_relation: bool = True


def _xy(o: SceneObject) -> np.ndarray:
    return o.box[:2]


def gap_xy(a: SceneObject, b: SceneObject) -> float:
    """Horizontal gap between two boxes (0 if their footprints touch or overlap)."""
    d = np.abs(a.box[:2] - b.box[:2]) - (a.box[3:5] + b.box[3:5]) / 2
    return float(np.linalg.norm(np.maximum(d, 0)))


def _unique_best(values: np.ndarray, idx: int, margin: float, largest: bool = False) -> bool:
    vals = -values if largest else values
    order = np.argsort(vals)
    if order[0] != idx:
        return False
    return len(vals) == 1 or vals[order[1]] - vals[order[0]] > margin


def clues_for(target: SceneObject, group: list[SceneObject], anchors: list[SceneObject]) -> list[Clue]:
    """Every clue that is true of the target and false of the other objects of its name."""
    ti = next(i for i, o in enumerate(group) if o.object_id == target.object_id)
    multiple = len(group) > 1
    clues: list[Clue] = []
    if not multiple or all(o.color != target.color for o in group if o is not target):
        clues.append(Clue("colour", target.color, is_relation=False))
    vols = np.array([np.prod(o.box[3:]) for o in group])
    if multiple and _unique_best(vols, ti, 0.3 * vols.max(), largest=True):
        clues.append(Clue("size", "large", is_relation=False))
    if multiple and _unique_best(vols, ti, 0.3 * vols.max()):
        clues.append(Clue("size", "small", is_relation=False))
    centres = np.stack([_xy(o) for o in group])
    for a in anchors:
        dist = np.linalg.norm(centres - _xy(a), axis=1)
        if _unique_best(dist, ti, 0.4) and dist[ti] < 3.0:
            clues.append(Clue("closest", f"closest to the {a.name}", (a.object_id,)))
            if gap_xy(target, a) < 0.5:
                clues.append(Clue("next", f"next to the {a.name}", (a.object_id,)))
        if multiple and _unique_best(dist, ti, 0.4, largest=True):
            clues.append(Clue("farthest", f"farthest from the {a.name}", (a.object_id,)))
        on = [o.support == a.object_id for o in group]
        if on[ti] and sum(on) == 1:
            clues.append(Clue("on", f"on the {a.name}", (a.object_id,)))
        under = [gap_xy(o, a) == 0 and a.box[2] - a.box[5] / 2 >= o.box[2] + o.box[5] / 2 - 0.02
                 and o.support != a.object_id and a.kind != "wall" for o in group]
        if under[ti] and sum(under) == 1:
            clues.append(Clue("under", f"under the {a.name}", (a.object_id,)))
        f = _xy(a) - VIEW_FROM
        if np.linalg.norm(f) > 0.5:
            left = np.array([-f[1], f[0]]) / np.linalg.norm(f)
            lateral = (centres - _xy(a)) @ left
            near = dist < 2.5
            for side, sign in (("left", 1), ("right", -1)):
                hit = near & (sign * lateral > 0.25)
                if hit[ti] and hit.sum() == 1:
                    clues.append(Clue(side, f"to the {side} of the {a.name}", (a.object_id,)))
    for i, a in enumerate(anchors):
        for b in anchors[i + 1:]:
            pa, pb = _xy(a), _xy(b)
            seg = pb - pa
            if np.linalg.norm(seg) < 1.0:
                continue
            t = np.clip((centres - pa) @ seg / (seg @ seg), 0, 1)
            off = np.linalg.norm(centres - (pa + t[:, None] * seg), axis=1)
            inner = (t > 0.15) & (t < 0.85)
            off = np.where(inner, off, np.inf)
            if np.isfinite(off[ti]) and off[ti] < 0.8 and _unique_best(off, ti, 0.3):
                clues.append(Clue("between", f"between the {a.name} and the {b.name}", (a.object_id, b.object_id)))
    return clues


FIRST_RELATION = ["this is a {adj}{name} {rel}.", "the {adj}{name} is {rel}.", "there is a {adj}{name} {rel}.",
                  "it is the {adj}{name} {rel}.", "a {adj}{name} that is {rel}."]
FIRST_ATTRIBUTE = ["this is the {adj}{name}.", "the {adj}{name} in the room.", "it is a {adj}{name}.",
                   "this is a {adj}{name} placed in the room."]
SECOND = ["it is {colour}.", "the {name} is {colour} in colour.", "it is placed near the {near}.",
          "the {name} is close to the {near}.", "it is a {size} one."]


def describe_room(room: Room, rng: np.random.Generator, per_object: int, relation_share: float):
    """-> (ScanRefer-style rows, Sr3D-style rows, stats). Targets without a true unique clue are skipped."""
    objects = [o for o in room.objects if o.kind not in SHELL]
    names = [o.name for o in objects]
    anchors = [o for o in objects if names.count(o.name) == 1]
    rows, sr3d, skipped = [], [], 0
    for target in objects:
        group = [o for o in objects if o.name == target.name]
        clues = clues_for(target, group, [a for a in anchors if a.object_id != target.object_id])
        relations = [c for c in clues if c.is_relation]
        attributes = [c for c in clues if not c.is_relation]
        if not clues:
            skipped += 1
            continue
        others = [o for o in objects if o.name != target.name]
        nearest = min(others, key=lambda o: gap_xy(o, target)) if others else None
        for ann in range(per_object):
            use_rel = relations and (not attributes or rng.random() < relation_share)
            colour_adj = target.color + " " if (rng.random() < 0.5 or not use_rel) else ""
            if use_rel:
                clue = relations[int(rng.integers(len(relations)))]
                first = str(rng.choice(FIRST_RELATION)).format(adj=colour_adj, name=target.name, rel=clue.phrase)
            else:
                clue = attributes[int(rng.integers(len(attributes)))]
                adj = (clue.phrase + " " + ("" if clue.kind == "colour" else colour_adj)) if clue.kind else colour_adj
                first = str(rng.choice(FIRST_ATTRIBUTE)).format(adj=adj, name=target.name)
            text = first
            if rng.random() < 0.6 and nearest is not None:
                vol = np.prod(target.box[3:])
                second = str(rng.choice(SECOND)).format(colour=target.color, name=target.name, near=nearest.name,
                                                        size="large" if vol > 0.3 else "small")
                text = f"{first} {second}"
            rows.append({"object_id": target.object_id, "object_name": target.name.replace(" ", "_"),
                         "ann_id": ann, "description": text, "token": tokenize(text)})
        if len(group) > 1:
            for clue in relations:
                sr3d.append(sr3d_row(target, group, clue, room))
    return rows, sr3d, {"targets": len(objects) - skipped, "skipped_targets": skipped}


SR3D_TYPES = {"closest": ("horizontal", "closest"), "farthest": ("horizontal", "farthest"),
              "next": ("horizontal", "closest"), "on": ("support", "supported-by"), "under": ("vertical", "below"),
              "between": ("between", "between"), "left": ("allocentric", "left"), "right": ("allocentric", "right")}


def sr3d_row(target: SceneObject, group: list[SceneObject], clue: Clue, room: Room) -> dict:
    verb = {"on": "that is ", "under": "that is ", "between": "that is "}.get(clue.kind, "that is ")
    utterance = f"the {target.name} {verb}{clue.phrase}"
    distractors = [o.object_id for o in group if o is not target]
    label = target.name.replace(" ", "_")
    stimulus = "-".join([str(x) for x in ["{scene}", label, len(group), target.object_id] + distractors])
    by_id = {o.object_id: o for o in room.objects}
    coarse, fine = SR3D_TYPES[clue.kind]
    return {"stimulus_id": stimulus, "target_id": target.object_id, "distractor_ids": str(distractors),
            "utterance": utterance, "coarse_reference_type": coarse, "reference_type": fine,
            "instance_type": target.name, "anchors_types": str([by_id[a].name for a in clue.anchors]),
            "anchor_ids": str(list(clue.anchors)), "tokens": str(tokenize(utterance))}
