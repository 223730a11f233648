"""Object templates: each class is a set of box parts in a local frame.

Local frame: footprint centred on the origin, z up from 0, the object's front faces -y.
A template returns parts as (lo, hi) corner pairs scaled to the object's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Part = tuple[tuple[float, float, float], tuple[float, float, float]]

COLORS = {
    "red": (190, 40, 40), "blue": (40, 70, 190), "green": (50, 150, 60), "yellow": (220, 200, 50),
    "white": (235, 235, 230), "black": (30, 30, 30), "brown": (120, 75, 40), "gray": (128, 128, 128),
    "orange": (230, 130, 30), "purple": (120, 50, 150),
}


def _legs(w, d, h, t=0.04) -> list[Part]:
    xs, ys = (-w / 2, w / 2 - t), (-d / 2, d / 2 - t)
    return [((x, y, 0.0), (x + t, y + t, h)) for x in xs for y in ys]


def chair(w, d, h) -> list[Part]:
    seat = 0.5 * h
    return _legs(w, d, seat - 0.05) + [((-w / 2, -d / 2, seat - 0.05), (w / 2, d / 2, seat)),
                                       ((-w / 2, d / 2 - 0.06, seat), (w / 2, d / 2, h))]


def table(w, d, h) -> list[Part]:
    return _legs(w, d, h - 0.04, 0.06) + [((-w / 2, -d / 2, h - 0.04), (w / 2, d / 2, h))]


def desk(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2, 0), (-w / 2 + 0.04, d / 2, h - 0.04)),
            ((w / 2 - 0.04, -d / 2, 0), (w / 2, d / 2, h - 0.04)),
            ((-w / 2 + 0.04, d / 2 - 0.03, 0.3), (w / 2 - 0.04, d / 2, h - 0.04)),
            ((-w / 2, -d / 2, h - 0.04), (w / 2, d / 2, h))]


def bed(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.3)),
            ((-w / 2 + 0.03, -d / 2 + 0.03, 0.3), (w / 2 - 0.03, d / 2 - 0.1, 0.5)),
            ((-w / 2, d / 2 - 0.08, 0), (w / 2, d / 2, h))]


def sofa(w, d, h) -> list[Part]:
    return [((-w / 2 + 0.2, -d / 2, 0), (w / 2 - 0.2, d / 2, 0.42)),
            ((-w / 2 + 0.2, d / 2 - 0.2, 0.42), (w / 2 - 0.2, d / 2, h)),
            ((-w / 2, -d / 2, 0), (-w / 2 + 0.2, d / 2, 0.6 * h)),
            ((w / 2 - 0.2, -d / 2, 0), (w / 2, d / 2, 0.6 * h))]


def cabinet(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2 + 0.02, 0), (w / 2, d / 2, h)),
            ((-w / 2 + 0.03, -d / 2, 0.05), (-0.01, -d / 2 + 0.02, h - 0.05)),
            ((0.01, -d / 2, 0.05), (w / 2 - 0.03, -d / 2 + 0.02, h - 0.05))]


def bookshelf(w, d, h) -> list[Part]:
    parts = [((-w / 2, -d / 2, 0), (-w / 2 + 0.03, d / 2, h)), ((w / 2 - 0.03, -d / 2, 0), (w / 2, d / 2, h)),
             ((-w / 2 + 0.03, d / 2 - 0.02, 0), (w / 2 - 0.03, d / 2, h))]
    for z in np.linspace(0.02, h - 0.03, 5):
        parts.append(((-w / 2 + 0.03, -d / 2, float(z)), (w / 2 - 0.03, d / 2 - 0.02, float(z) + 0.03)))
    return parts


def counter(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2 + 0.05, 0), (w / 2, d / 2, h - 0.04)), ((-w / 2, -d / 2, h - 0.04), (w / 2, d / 2, h))]


def refrigerator(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2 + 0.04, 0), (w / 2, d / 2, h)),
            ((-w / 2, -d / 2, 0.02), (w / 2, -d / 2 + 0.04, 0.6 * h - 0.01)),
            ((-w / 2, -d / 2, 0.6 * h + 0.01), (w / 2, -d / 2 + 0.04, h - 0.02))]


def toilet(w, d, h) -> list[Part]:
    return [((-w / 2 + 0.05, -d / 2, 0), (w / 2 - 0.05, d / 2 - 0.2, 0.4)),
            ((-w / 2, d / 2 - 0.2, 0), (w / 2, d / 2, h))]


def sink(w, d, h) -> list[Part]:
    return [((-0.08, -0.08, 0), (0.08, 0.08, h - 0.15)), ((-w / 2, -d / 2, h - 0.15), (w / 2, d / 2, h))]


def bathtub(w, d, h) -> list[Part]:
    t = 0.07
    return [((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.1)),
            ((-w / 2, -d / 2, 0.1), (-w / 2 + t, d / 2, h)), ((w / 2 - t, -d / 2, 0.1), (w / 2, d / 2, h)),
            ((-w / 2 + t, -d / 2, 0.1), (w / 2 - t, -d / 2 + t, h)), ((-w / 2 + t, d / 2 - t, 0.1), (w / 2 - t, d / 2, h))]


def block(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2, 0), (w / 2, d / 2, h))]


def lamp(w, d, h) -> list[Part]:
    return [((-w / 2 * 0.6, -d / 2 * 0.6, 0), (w / 2 * 0.6, d / 2 * 0.6, 0.04)),
            ((-0.015, -0.015, 0.04), (0.015, 0.015, 0.65 * h)), ((-w / 2, -d / 2, 0.65 * h), (w / 2, d / 2, h))]


def monitor(w, d, h) -> list[Part]:
    return [((-0.08, -0.06, 0), (0.08, 0.06, 0.12)), ((-w / 2, -0.02, 0.12), (w / 2, 0.02, h))]


@dataclass(frozen=True)
class Template:
    names: tuple[str, ...]        # real ScanNet raw categories for this kind of object
    size: tuple[float, float, float]  # nominal width (x), depth (y), height (z)
    build: Callable[[float, float, float], list[Part]]
    placement: str                # floor | wall | small
    z: float = 0.0                # base height for wall objects
    against_wall: bool = False


TEMPLATES: dict[str, Template] = {
    "chair": Template(("chair", "office chair", "armchair"), (0.5, 0.5, 0.9), chair, "floor"),
    "table": Template(("table", "coffee table", "dining table"), (1.2, 0.8, 0.75), table, "floor"),
    "desk": Template(("desk",), (1.3, 0.65, 0.75), desk, "floor", against_wall=True),
    "bed": Template(("bed",), (1.5, 2.0, 0.9), bed, "floor", against_wall=True),
    "sofa": Template(("sofa", "couch"), (1.9, 0.9, 0.85), sofa, "floor", against_wall=True),
    "cabinet": Template(("cabinet", "kitchen cabinets", "file cabinet"), (0.8, 0.5, 0.9), cabinet, "floor",
                        against_wall=True),
    "bookshelf": Template(("bookshelf",), (0.9, 0.35, 1.8), bookshelf, "floor", against_wall=True),
    "counter": Template(("counter", "kitchen counter"), (1.8, 0.6, 0.9), counter, "floor", against_wall=True),
    "refrigerator": Template(("refrigerator",), (0.7, 0.7, 1.8), refrigerator, "floor", against_wall=True),
    "toilet": Template(("toilet",), (0.4, 0.7, 0.75), toilet, "floor", against_wall=True),
    "sink": Template(("sink",), (0.55, 0.45, 0.95), sink, "floor", against_wall=True),
    "bathtub": Template(("bathtub",), (0.8, 1.7, 0.55), bathtub, "floor", against_wall=True),
    "trash can": Template(("trash can",), (0.3, 0.3, 0.45), block, "floor"),
    "door": Template(("door",), (0.9, 0.06, 2.0), block, "wall", 0.0),
    "window": Template(("window",), (1.0, 0.06, 1.1), block, "wall", 0.9),
    "picture": Template(("picture",), (0.6, 0.04, 0.5), block, "wall", 1.4),
    "curtain": Template(("curtain",), (1.2, 0.08, 2.0), block, "wall", 0.3),
    "shower curtain": Template(("shower curtain",), (1.0, 0.05, 1.8), block, "wall", 0.2),
    "box": Template(("box",), (0.35, 0.3, 0.25), block, "small"),
    "lamp": Template(("lamp",), (0.3, 0.3, 0.5), lamp, "small"),
    "monitor": Template(("monitor",), (0.5, 0.15, 0.4), monitor, "small"),
}
# Kinds that rooms may hold several of (the "multiple" cases), and the rest.
MULTI_KINDS = ["chair", "table", "cabinet", "picture", "window", "trash can", "bookshelf", "desk", "sofa", "door"]
SINGLE_KINDS = ["bed", "counter", "refrigerator", "toilet", "sink", "bathtub", "curtain", "shower curtain",
                "desk", "sofa", "bookshelf", "table", "cabinet", "door", "window", "trash can"]
SUPPORTS = ("table", "desk", "counter")  # kinds small items stand on


# ------------------------------------------------------------------ world v2: shapes and materials
# Each variant of a kind fills the same (w, d, h) envelope as the others, so an object's box (size,
# centre) says nothing about its shape; only the points inside it do.

def chair_with_armrests(w, d, h) -> list[Part]:
    seat = 0.5 * h
    arm = seat + 0.22 * h
    return chair(w, d, h) + [((-w / 2, -d / 2 + 0.05, seat), (-w / 2 + 0.05, d / 2 - 0.06, arm)),
                             ((w / 2 - 0.05, -d / 2 + 0.05, seat), (w / 2, d / 2 - 0.06, arm))]


def _disc(w, d, z0, z1, bands: int = 7) -> list[Part]:
    """An elliptic slab inscribed in the w x d footprint, as bands of boxes (the outer bands reach the edge)."""
    edges = np.linspace(-d / 2, d / 2, bands + 1)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inner = min(abs(lo), abs(hi)) if lo * hi > 0 else 0.0
        half = w / 2 * float(np.sqrt(max(0.0, 1 - (inner / (d / 2)) ** 2)))
        parts.append(((-half, float(lo), z0), (half, float(hi), z1)))
    return parts


def round_table(w, d, h) -> list[Part]:
    return [((-0.2 * w, -0.2 * d, 0), (0.2 * w, 0.2 * d, 0.04)), ((-0.05, -0.05, 0.04), (0.05, 0.05, h - 0.04))] \
        + _disc(w, d, h - 0.04, h)


def l_shaped_sofa(w, d, h) -> list[Part]:
    back_depth = 0.55 * d
    return [((-w / 2 + 0.2, d / 2 - back_depth, 0), (w / 2, d / 2, 0.42)),     # seat along the back
            ((-w / 2, -d / 2, 0), (-w / 2 + 0.45 * w, d / 2 - back_depth, 0.42)),  # the chaise
            ((-w / 2 + 0.2, d / 2 - 0.2, 0.42), (w / 2 - 0.2, d / 2, h)),
            ((-w / 2, d / 2 - back_depth, 0), (-w / 2 + 0.2, d / 2, 0.6 * h)),
            ((w / 2 - 0.2, d / 2 - back_depth, 0), (w / 2, d / 2, 0.6 * h))]


def straight_sofa(w, d, h) -> list[Part]:
    return sofa(w, d, h)


def open_cabinet(w, d, h) -> list[Part]:
    t = 0.03
    return [((-w / 2, d / 2 - t, 0), (w / 2, d / 2, h)),                    # back
            ((-w / 2, -d / 2, 0), (-w / 2 + t, d / 2, h)), ((w / 2 - t, -d / 2, 0), (w / 2, d / 2, h)),
            ((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.05)), ((-w / 2, -d / 2, h - t), (w / 2, d / 2, h)),
            ((-w / 2 + t, -d / 2 + 0.05, 0.5 * h), (w / 2 - t, d / 2 - t, 0.5 * h + t))]


def closed_door(w, d, h) -> list[Part]:
    return block(w, d, h)


def open_door(w, d, h) -> list[Part]:
    """An open doorway: the frame only, the opening left empty."""
    return [((-w / 2, -d / 2, 0), (-w / 2 + 0.08, d / 2, h)), ((w / 2 - 0.08, -d / 2, 0), (w / 2, d / 2, h)),
            ((-w / 2 + 0.08, -d / 2, h - 0.1), (w / 2 - 0.08, d / 2, h))]


def full_bookshelf(w, d, h) -> list[Part]:
    """A bookshelf whose shelves hold rows of books (clutter inside the same envelope)."""
    parts = bookshelf(w, d, h)
    levels = np.linspace(0.02, h - 0.03, 5)
    for z0, z1 in zip(levels[:-1], levels[1:]):
        gap = float(z1 - z0) - 0.03
        parts.append(((-w / 2 + 0.05, -d / 2 + 0.03, float(z0) + 0.03), (w / 2 - 0.05, d / 2 - 0.02,
                                                                           float(z0) + 0.03 + 0.75 * gap)))
    return parts


def desk_with_drawers(w, d, h) -> list[Part]:
    return [((-w / 2, -d / 2, 0), (-w / 2 + 0.4 * w, d / 2, h - 0.04)),    # a drawer block on one side
            ((w / 2 - 0.04, -d / 2, 0), (w / 2, d / 2, h - 0.04)),
            ((-w / 2 + 0.4 * w, d / 2 - 0.03, 0.3), (w / 2 - 0.04, d / 2, h - 0.04)),
            ((-w / 2, -d / 2, h - 0.04), (w / 2, d / 2, h))]


def open_bin(w, d, h) -> list[Part]:
    t = 0.025
    return [((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.03)),
            ((-w / 2, -d / 2, 0), (-w / 2 + t, d / 2, h)), ((w / 2 - t, -d / 2, 0), (w / 2, d / 2, h)),
            ((-w / 2 + t, -d / 2, 0), (w / 2 - t, -d / 2 + t, h)), ((-w / 2 + t, d / 2 - t, 0), (w / 2 - t, d / 2, h))]


# kind -> {shape: builder}. The first entry is the v1 shape. Kinds not listed have one shape.
SHAPES: dict[str, dict[str, Callable[[float, float, float], list[Part]]]] = {
    "chair": {"no armrests": chair, "armrests": chair_with_armrests},
    "table": {"rectangular": table, "round": round_table},
    "sofa": {"straight": straight_sofa, "l-shaped": l_shaped_sofa},
    "cabinet": {"closed": cabinet, "open": open_cabinet},
    "door": {"closed": closed_door, "open": open_door},
    "bookshelf": {"empty": bookshelf, "full": full_bookshelf},
    "desk": {"no drawers": desk, "drawers": desk_with_drawers},
    "trash can": {"lid": block, "open": open_bin},
}
# Materials are per-point brightness patterns around the object's colour: the mean colour stays the
# colour's, so only the spread of colours over the surface tells them apart.
MATERIALS = ("plain", "striped", "checkered")
PATTERN_PERIOD = 0.14  # metres per band
