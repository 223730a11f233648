"""What can truly be said of an object in a synthetic room (world v2), and what each statement rules out.

A `Fact` is a statement about the target ("it has armrests", "it is the second from the door") with its
truth over the target's *group*, the objects of the same name in the room: `mask[i]` says whether the
statement is also true of group member i. A description is a set of facts; it refers to its target
exactly when the AND of their masks is true of the target alone (`singles_out`). Facts are computed
from the boxes, shapes and materials, so every generated sentence is true of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .describe import SHELL, VIEW_FROM, gap_xy
from .scene import Room, SceneObject

ATTRIBUTES = ("shape", "material")       # the facts only a learned feature of the points can check
RELATIONS = ("closest", "farthest", "ordinal", "next", "on", "under", "between", "side")


@dataclass(frozen=True)
class Fact:
    kind: str                  # colour | material | shape | size | scale | closest | farthest | ordinal | next
    value: str                 #   | on | under | between | side | corner | wall | middle | count | near | room
    mask: tuple[bool, ...]     # truth over the group, target included (always true there)
    anchors: tuple[int, ...] = ()
    rank: int = 0              # ordinal facts: 2 = "second"

    @property
    def singles_out(self) -> bool:
        return sum(self.mask) == 1

    @property
    def is_attribute(self) -> bool:
        return self.kind in ATTRIBUTES


def singles_out(facts: list[Fact], target: int) -> bool:
    """Do these statements together hold of the target and of no other object of its name?"""
    if not facts:
        return False
    m = np.logical_and.reduce([np.array(f.mask) for f in facts])
    return bool(m[target]) and int(m.sum()) == 1


def _ranked(values: np.ndarray, ti: int, margin: float) -> int:
    """1-based rank of the target by ascending value if it is separated by `margin` from both neighbours,
    else 0."""
    order = np.argsort(values, kind="stable")
    r = int(np.where(order == ti)[0][0])
    v = values[order]
    if r > 0 and v[r] - v[r - 1] <= margin:
        return 0
    if r + 1 < len(v) and v[r + 1] - v[r] <= margin:
        return 0
    return r + 1


def _mask(values) -> tuple[bool, ...]:
    return tuple(bool(v) for v in values)


def room_type(room: Room) -> str:
    kinds = {o.kind for o in room.objects}
    for kind, name in (("toilet", "bathroom"), ("bathtub", "bathroom"), ("bed", "bedroom"),
                       ("refrigerator", "kitchen"), ("counter", "kitchen"), ("sofa", "living room"),
                       ("desk", "office")):
        if kind in kinds:
            return name
    return ""


def facts_about(target: SceneObject, group: list[SceneObject], room: Room) -> list[Fact]:
    """Every statement of the grammar that is true of `target`, with its truth over `group`."""
    ti = next(i for i, o in enumerate(group) if o.object_id == target.object_id)
    objects = [o for o in room.objects if o.kind not in SHELL]
    names = [o.name for o in objects]
    anchors = [o for o in objects if names.count(o.name) == 1 and o.object_id != target.object_id]
    n = len(group)
    facts: list[Fact] = []

    def add(kind, value, mask, anchors=(), rank=0):
        mask = _mask(mask)
        assert mask[ti], (kind, value)
        facts.append(Fact(kind, value, mask, tuple(anchors), rank))

    add("colour", target.color, [o.color == target.color for o in group])
    if target.material:
        add("material", target.material, [o.material == target.material for o in group])
    if target.shape:
        add("shape", target.shape, [o.shape == target.shape for o in group])
    vols = np.array([np.prod(o.box[3:]) for o in group])
    if n > 1:
        r = _ranked(-vols, ti, 0.25 * vols.max())
        if r == 1:
            add("size", "largest", np.arange(n) == ti)
        r = _ranked(vols, ti, 0.25 * vols.max())
        if r == 1:
            add("size", "smallest", np.arange(n) == ti)
    if target.scale >= 1.15:
        add("scale", "big", [o.scale >= 1.15 for o in group])
    elif target.scale <= 0.9:
        add("scale", "small", [o.scale <= 0.9 for o in group])

    centres = np.stack([o.box[:2] for o in group])
    for a in anchors:
        dist = np.linalg.norm(centres - a.box[:2], axis=1)
        if n > 1:
            r = _ranked(dist, ti, 0.4)
            if r == 1 and dist[ti] < 3.0:
                add("closest", a.name, np.arange(n) == ti, (a.object_id,))
            elif r in (2, 3) and n >= r + 1:
                add("ordinal", a.name, np.arange(n) == ti, (a.object_id,), rank=r)
            if _ranked(-dist, ti, 0.4) == 1:
                add("farthest", a.name, np.arange(n) == ti, (a.object_id,))
        gaps = np.array([gap_xy(o, a) for o in group])
        if gaps[ti] < 0.5:
            add("next", a.name, gaps < 0.5, (a.object_id,))
        on = np.array([o.support == a.object_id for o in group])
        if on[ti]:
            add("on", a.name, on, (a.object_id,))
        under = np.array([gap_xy(o, a) == 0 and a.box[2] - a.box[5] / 2 >= o.box[2] + o.box[5] / 2 - 0.02
                          and o.support != a.object_id for o in group])
        if under[ti]:
            add("under", a.name, under, (a.object_id,))
        f = a.box[:2] - VIEW_FROM
        if np.linalg.norm(f) > 0.5 and dist[ti] < 2.5:
            left = np.array([-f[1], f[0]]) / np.linalg.norm(f)
            lateral = (centres - a.box[:2]) @ left
            near = dist < 2.5
            for side, sign in (("left", 1), ("right", -1)):
                hit = near & (sign * lateral > 0.25)
                if hit[ti]:
                    add("side", side, hit, (a.object_id,))
    for i, a in enumerate(anchors):
        for b in anchors[i + 1:]:
            pa, pb = a.box[:2], b.box[:2]
            seg = pb - pa
            if np.linalg.norm(seg) < 1.0:
                continue
            t = np.clip((centres - pa) @ seg / (seg @ seg), 0, 1)
            off = np.linalg.norm(centres - (pa + t[:, None] * seg), axis=1)
            inside = (t > 0.15) & (t < 0.85) & (off < 0.8)
            if inside[ti]:
                add("between", f"{a.name}|{b.name}", inside, (a.object_id, b.object_id))

    hw, hd = room.width / 2, room.depth / 2
    lo = np.stack([o.box[:3] - o.box[3:] / 2 for o in group])
    hi = np.stack([o.box[:3] + o.box[3:] / 2 for o in group])
    near_x = (lo[:, 0] + hw < 0.4) | (hw - hi[:, 0] < 0.4)
    near_y = (lo[:, 1] + hd < 0.4) | (hd - hi[:, 1] < 0.4)
    if near_x[ti] and near_y[ti]:
        add("corner", "", near_x & near_y)
    against = near_x | near_y
    if against[ti] and target.kind not in ("door", "window", "picture", "curtain", "shower curtain"):
        add("wall", "", against)
    middle = np.linalg.norm(centres, axis=1) < 1.0
    if middle[ti]:
        add("middle", "", middle)
    add("count", str(n), [True] * n)
    others = [o for o in objects if o.name != target.name]
    if others:
        nearest = min(others, key=lambda o: gap_xy(o, target))
        gaps = np.array([min(gap_xy(o, x) for x in others if x.name == nearest.name) for o in group])
        if gaps[ti] < 1.0:
            add("near", nearest.name, gaps < 1.0)
    kind = room_type(room)
    if kind:
        add("room", kind, [True] * n)
    return facts
