"""Lay out a synthetic room in the axis-aligned frame and turn it into a ScanNet-like mesh."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .catalog import COLORS, MATERIALS, MULTI_KINDS, PATTERN_PERIOD, SHAPES, SINGLE_KINDS, SUPPORTS, TEMPLATES

WALL_THICKNESS = 0.1
FLOOR_COLORS = [(170, 140, 100), (150, 150, 145), (190, 170, 130)]
WALL_COLORS = [(225, 222, 215), (210, 215, 220), (230, 225, 200)]
# wall index -> quarter turns that make a template's front (-y) face into the room
_WALL_TURNS = [2, 3, 0, 1]


@dataclass
class SceneObject:
    object_id: int
    kind: str            # template key ("chair", "floor", "wall", ...)
    name: str            # ScanNet raw category written to the aggregation
    color: str           # colour name ("" for floor and walls)
    parts: np.ndarray    # (P, 2, 3) world lo/hi corners, axis-aligned frame
    support: int | None = None  # object_id this one stands on
    wall: int | None = None     # wall index for objects placed against a wall
    shape: str = ""             # world v2: the shape variant (catalog.SHAPES; "" for kinds with one shape)
    material: str = ""          # world v2: the surface pattern (catalog.MATERIALS; "" in world v1)
    scale: float = 1.0          # size relative to the kind's nominal size

    @cached_property  # parts are fixed once the object exists; the describers ask for the box thousands of times
    def box(self) -> np.ndarray:
        lo, hi = self.parts[:, 0].min(0), self.parts[:, 1].max(0)
        box = np.concatenate([(lo + hi) / 2, hi - lo])
        box.flags.writeable = False  # cached: an in-place change would corrupt it, so none is allowed
        return box


@dataclass
class Room:
    width: float
    depth: float
    height: float
    objects: list[SceneObject] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[SceneObject]:
        return [o for o in self.objects if o.kind == kind]


def _rotate_parts(parts: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate lo/hi corner pairs about z by 90-degree steps; stays axis-aligned."""
    k = quarter_turns % 4
    c, s = [1, 0, -1, 0][k], [0, 1, 0, -1][k]
    lo, hi = parts[:, 0], parts[:, 1]
    xs = np.stack([c * lo[:, 0] - s * lo[:, 1], c * hi[:, 0] - s * hi[:, 1]], 1)
    ys = np.stack([s * lo[:, 0] + c * lo[:, 1], s * hi[:, 0] + c * hi[:, 1]], 1)
    out = parts.copy()
    out[:, 0, 0], out[:, 1, 0] = xs.min(1), xs.max(1)
    out[:, 0, 1], out[:, 1, 1] = ys.min(1), ys.max(1)
    return out


def _overlaps(box_lo, box_hi, others: list[tuple[np.ndarray, np.ndarray]], margin_xy: float) -> bool:
    m = np.array([margin_xy, margin_xy, 0.0])
    for lo, hi in others:
        if np.all(box_lo - m < hi) and np.all(lo < box_hi + m):
            return True
    return False


def layout_room(rng: np.random.Generator, cfg: dict) -> Room:
    """Sample a room: walls and floor, floor and wall furniture, small items on or under supports.

    World 2 (`cfg["world"]`) also draws each object's shape variant and material; world 1 draws
    exactly what it always did, so its files stay byte-identical."""
    v2 = cfg.get("world", 1) >= 2
    w, d = rng.uniform(*cfg["room_size"], size=2)
    room = Room(float(w), float(d), float(rng.uniform(2.5, 3.0)))
    _add_shell(room, rng)

    n_total = int(rng.integers(cfg["objects_per_room"][0], cfg["objects_per_room"][1] + 1))
    n_multi = int(rng.integers(cfg["multiple_classes_per_room"][0], cfg["multiple_classes_per_room"][1] + 1))
    kinds: list[str] = []
    for kind in rng.choice(MULTI_KINDS, size=min(n_multi, len(MULTI_KINDS)), replace=False):
        lo, hi = cfg["copies_per_multiple_class"]
        kinds += [str(kind)] * int(rng.integers(lo, hi + 1))
    singles = [k for k in SINGLE_KINDS if k not in kinds]
    n_single = max(0, n_total - len(kinds))
    kinds += [str(k) for k in rng.choice(singles, size=min(n_single, len(singles)), replace=False)]
    # one raw name per kind and room, so "the chair" means one thing inside a room
    names = {k: str(rng.choice(TEMPLATES[k].names)) for k in sorted(set(kinds) | {"box", "lamp", "monitor"})}

    occupied: list[tuple[np.ndarray, np.ndarray]] = []
    group_colour: dict[str, str] = {}
    order = sorted(range(len(kinds)), key=lambda i: (TEMPLATES[kinds[i]].placement != "wall",
                                                      not TEMPLATES[kinds[i]].against_wall, i))
    for i in order:
        kind = kinds[i]
        shape = _shape(rng, kind) if v2 else ""
        parts = _place(room, rng, kind, occupied, shape)
        if parts is None:
            continue  # room too full: drop it
        # world 2: objects of a kind mostly share one colour, as a room's chairs usually do, so that
        # colour seldom decides and shape, material or place must
        colour = group_colour.setdefault(kind, _color(rng)) if v2 and rng.random() < 0.65 else _color(rng)
        obj = SceneObject(len(room.objects), kind, names[kind], colour, parts[0], wall=parts[1], shape=shape,
                          scale=parts[2])
        if v2:
            obj.material = str(rng.choice(MATERIALS))
        room.objects.append(obj)
        lo, hi = obj.parts[:, 0].min(0), obj.parts[:, 1].max(0)
        occupied.append((lo, hi))
        if kind == "door":  # keep the swing area free
            inward = np.array([[0, 1], [-1, 0], [0, -1], [1, 0]][obj.wall], dtype=float)
            clear_lo, clear_hi = lo.copy(), hi.copy()
            clear_lo[:2] = np.minimum(lo[:2], lo[:2] + inward * 0.9)
            clear_hi[:2] = np.maximum(hi[:2], hi[:2] + inward * 0.9)
            occupied.append((clear_lo, clear_hi))

    n_small = int(rng.integers(cfg["small_items_per_room"][0], cfg["small_items_per_room"][1] + 1))
    for _ in range(n_small):
        _place_small(room, rng, names, occupied, v2)
    return room


def _shape(rng, kind: str) -> str:
    return str(rng.choice(list(SHAPES[kind]))) if kind in SHAPES else ""


def _color(rng) -> str:
    return str(rng.choice(list(COLORS)))


def _add_shell(room: Room, rng) -> None:
    w, d, h, t = room.width, room.depth, room.height, WALL_THICKNESS
    floor = np.array([[[-w / 2, -d / 2, -t], [w / 2, d / 2, 0.0]]])
    room.objects.append(SceneObject(0, "floor", "floor", "", floor))
    walls = [
        [[-w / 2 - t, -d / 2 - t, 0], [w / 2 + t, -d / 2, h]],
        [[w / 2, -d / 2, 0], [w / 2 + t, d / 2, h]],
        [[-w / 2 - t, d / 2, 0], [w / 2 + t, d / 2 + t, h]],
        [[-w / 2 - t, -d / 2, 0], [-w / 2, d / 2, h]],
    ]
    for i, wall in enumerate(walls):
        room.objects.append(SceneObject(len(room.objects), "wall", "wall", "", np.array([wall], float), wall=i))


def _scaled_parts(rng, kind: str, shape: str = "") -> tuple[np.ndarray, float]:
    tpl = TEMPLATES[kind]
    s = rng.uniform(0.8, 1.3)
    sx, sy, sz = tpl.size[0] * s, tpl.size[1] * (s if tpl.placement != "wall" else 1.0), tpl.size[2] * rng.uniform(0.85, 1.15)
    build = SHAPES[kind][shape] if shape else tpl.build
    return np.array(build(sx, sy, sz), dtype=np.float64), float(s)


def _place(room: Room, rng, kind: str, occupied, shape: str = "", tries: int = 60):
    tpl = TEMPLATES[kind]
    hw, hd = room.width / 2, room.depth / 2
    for _ in range(tries):
        parts, scale = _scaled_parts(rng, kind, shape)
        if tpl.placement == "wall" or tpl.against_wall:
            wall = int(rng.integers(4))
            parts = _rotate_parts(parts, _WALL_TURNS[wall])
            lo, hi = parts[:, 0].min(0), parts[:, 1].max(0)
            size = hi - lo
            along = hw if wall in (0, 2) else hd
            extent = size[0] if wall in (0, 2) else size[1]
            if extent / 2 + 0.1 > along - extent / 2 - 0.1:
                continue
            t = rng.uniform(-along + extent / 2 + 0.1, along - extent / 2 - 0.1)
            gap = 0.0 if tpl.placement == "wall" else 0.02
            if wall == 0:
                centre = (t, -hd + gap + size[1] / 2)
            elif wall == 1:
                centre = (hw - gap - size[0] / 2, t)
            elif wall == 2:
                centre = (t, hd - gap - size[1] / 2)
            else:
                centre = (-hw + gap + size[0] / 2, t)
        else:
            wall = None
            parts = _rotate_parts(parts, int(rng.integers(4)))
            lo, hi = parts[:, 0].min(0), parts[:, 1].max(0)
            size = hi - lo
            if size[0] > room.width - 0.4 or size[1] > room.depth - 0.4:
                continue
            centre = (rng.uniform(-hw + size[0] / 2 + 0.2, hw - size[0] / 2 - 0.2),
                      rng.uniform(-hd + size[1] / 2 + 0.2, hd - size[1] / 2 - 0.2))
        shift = np.array([centre[0] - (lo[0] + hi[0]) / 2, centre[1] - (lo[1] + hi[1]) / 2, tpl.z - lo[2]])
        parts = parts + shift
        new_lo, new_hi = parts[:, 0].min(0), parts[:, 1].max(0)
        if new_hi[2] > room.height - 0.05:
            continue
        if not _overlaps(new_lo, new_hi, occupied, 0.0 if tpl.placement == "wall" else 0.15):
            return parts, wall, scale
    return None


def _place_small(room: Room, rng, names: dict, occupied, v2: bool = False, tries: int = 30) -> None:
    supports = [o for o in room.objects if o.kind in SUPPORTS]
    if not supports:
        return
    for _ in range(tries):
        sup = supports[int(rng.integers(len(supports)))]
        under = sup.kind == "table" and rng.random() < 0.35
        kind = "box" if under else str(rng.choice(["box", "lamp", "monitor"] if sup.kind == "desk" else ["box", "lamp"]))
        parts = _rotate_parts(_scaled_parts(rng, kind)[0] * np.array([0.8, 0.8, 0.8]), int(rng.integers(4)))
        lo, hi = parts[:, 0].min(0), parts[:, 1].max(0)
        size = hi - lo
        s_lo, s_hi = sup.parts[:, 0].min(0), sup.parts[:, 1].max(0)
        room_x = s_hi[0] - s_lo[0] - size[0] - 0.1
        room_y = s_hi[1] - s_lo[1] - size[1] - 0.1
        if room_x <= 0 or room_y <= 0:
            continue
        cx = s_lo[0] + 0.05 + size[0] / 2 + rng.uniform(0, room_x)
        cy = s_lo[1] + 0.05 + size[1] / 2 + rng.uniform(0, room_y)
        z = 0.0 if under else s_hi[2]
        if under and size[2] > s_hi[2] - 0.1:
            continue
        parts = parts + np.array([cx - (lo[0] + hi[0]) / 2, cy - (lo[1] + hi[1]) / 2, z - lo[2]])
        new_lo, new_hi = parts[:, 0].min(0), parts[:, 1].max(0)
        # the support itself is allowed to touch (on) or surround (under) the item
        others = [b for b in occupied if not (np.array_equal(b[0], s_lo) and np.array_equal(b[1], s_hi))]
        if _overlaps(new_lo, new_hi, others, 0.02) or new_hi[2] > room.height - 0.05:
            continue
        obj = SceneObject(len(room.objects), kind, names[kind], _color(rng), parts,
                          support=None if under else sup.object_id)
        if v2:
            obj.material = str(rng.choice(MATERIALS))
        room.objects.append(obj)
        occupied.append((new_lo, new_hi))
        return


# ------------------------------------------------------------------ mesh

@dataclass
class SceneMesh:
    vertices: np.ndarray   # (V, 3) float64, axis-aligned frame
    colors: np.ndarray     # (V, 3) uint8
    faces: np.ndarray      # (F, 3) int64
    segments: np.ndarray   # (V,) int64 segment id
    object_of_segment: dict[int, int]  # segment id -> object id


def _grid_face(origin, u, v, nu, nv):
    a = np.linspace(0, 1, nu + 1)
    b = np.linspace(0, 1, nv + 1)
    A, B = np.meshgrid(a, b, indexing="ij")
    verts = origin + A.reshape(-1, 1) * u + B.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    q00, q10, q01, q11 = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([q00, q10, q11], 1), np.stack([q00, q11, q01], 1)])
    return verts, faces


def box_surface(lo: np.ndarray, hi: np.ndarray, res: float):
    """Six subdivided faces of a box -> list of (vertices, faces) per face, outward winding."""
    ext = hi - lo
    n = np.maximum(1, np.ceil(ext / res).astype(int))
    ex, ey, ez = np.diag(ext)
    out = []
    for axis, (u, v, nu, nv) in enumerate([(ey, ez, n[1], n[2]), (ez, ex, n[2], n[0]), (ex, ey, n[0], n[1])]):
        for side in (0, 1):
            origin = lo + (np.diag(ext)[axis] if side else 0)
            verts, faces = _grid_face(origin, u, v, nu, nv)
            if side == 0:
                faces = faces[:, ::-1]
            out.append((verts, faces))
    return out


def pattern(points: np.ndarray, material: str, base: np.ndarray) -> np.ndarray:
    """Brightness offset per point for a material: +-a in bands (striped) or a 3D checkerboard (checkered).

    The amplitude stays inside 0..255 around the base colour, so the mean colour over a surface is
    the base colour whatever the material."""
    if material in ("", "plain"):
        return np.zeros(len(points))
    amp = float(min(40.0, base.min(), 255.0 - base.max()))
    cells = np.floor(points / PATTERN_PERIOD).astype(np.int64)
    parity = cells[:, 2] if material == "striped" else cells.sum(1)
    return np.where(parity % 2 == 0, amp, -amp)


def build_mesh(room: Room, rng: np.random.Generator, res: float) -> SceneMesh:
    verts, cols, faces, segs = [], [], [], []
    seg_owner: dict[int, int] = {}
    offset, next_seg = 0, 0
    floor_rgb = np.array(FLOOR_COLORS[int(rng.integers(len(FLOOR_COLORS)))], float)
    wall_rgb = np.array(WALL_COLORS[int(rng.integers(len(WALL_COLORS)))], float)
    for obj in room.objects:  # tens of objects, a handful of parts each
        base = floor_rgb if obj.kind == "floor" else wall_rgb if obj.kind == "wall" else np.array(COLORS[obj.color], float)
        for lo, hi in obj.parts:
            for fv, ff in box_surface(lo, hi, res):
                # big planes (floor, walls) are cut into ~1 m patches, as ScanNet's segmentation would
                patch = np.floor(fv / 1.0).astype(np.int64) @ np.array([1, 97, 9409]) if obj.kind in ("floor", "wall") \
                    else np.zeros(len(fv), np.int64)
                _, local = np.unique(patch, return_inverse=True)
                seg_ids = 3 * (next_seg + local) + 1  # sparse, non-contiguous ids like ScanNet's
                for s in np.unique(seg_ids):
                    seg_owner[int(s)] = obj.object_id
                next_seg += int(local.max()) + 1
                verts.append(fv)
                cols.append(base + rng.normal(0, 6, size=(len(fv), 3)) + pattern(fv, obj.material, base)[:, None])
                faces.append(ff + offset)
                segs.append(seg_ids)
                offset += len(fv)
    return SceneMesh(np.concatenate(verts), np.clip(np.concatenate(cols), 0, 255).astype(np.uint8),
                     np.concatenate(faces).astype(np.int64), np.concatenate(segs), seg_owner)


def random_axis_alignment(rng: np.random.Generator) -> np.ndarray:
    """A rotation about z plus a translation: maps raw mesh coordinates to the aligned frame."""
    theta = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(theta), math.sin(theta)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:2, 3] = rng.uniform(-3, 3, size=2)
    return m
