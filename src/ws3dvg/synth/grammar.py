"""World v2's descriptions: a grammar over `facts`, calibrated to real ScanRefer's statistics.

A description names its target with a noun phrase (synonyms: couch / sofa, fridge / refrigerator, ...),
states one *core* fact, or two, that single it out among the objects of its name, then adds true
but non-deciding facts in further sentences (colour, material, parts, where it stands, what the
room is, how many there are), as real annotators do. Every description goes through
`facts.singles_out` before it is written: nothing ambiguous leaves the generator.

Statistics it aims at (measured on real ScanRefer rows; tests/test_synth_language.py compares):
about 20 tokens, two or more sentences, hundreds of distinct words, and on objects that share their
name with others, a good share whose only deciding fact is a shape, material or state.
"""

from __future__ import annotations

import re

import numpy as np

from ..text.tokens import tokenize
from . import describe as templates
from .describe import SHELL, SR3D_TYPES, Clue, sr3d_row
from .facts import Fact, facts_about, singles_out
from .scene import Room, SceneObject

NOUNS = {
    "chair": ["chair"], "office chair": ["office chair", "chair", "desk chair"], "armchair": ["armchair", "chair"],
    "table": ["table"], "coffee table": ["coffee table", "table"], "dining table": ["dining table", "table"],
    "desk": ["desk", "work desk", "writing desk"], "bed": ["bed"], "sofa": ["sofa", "couch", "settee"],
    "couch": ["couch", "sofa"], "cabinet": ["cabinet", "cupboard", "storage cabinet"], "kitchen cabinets": ["kitchen cabinet", "cabinet", "cupboard"],
    "file cabinet": ["file cabinet", "filing cabinet", "cabinet"], "bookshelf": ["bookshelf", "bookcase", "shelf"],
    "counter": ["counter", "countertop"], "kitchen counter": ["kitchen counter", "counter"],
    "refrigerator": ["refrigerator", "fridge"], "toilet": ["toilet"], "sink": ["sink", "basin", "washbasin"],
    "bathtub": ["bathtub", "tub", "bath"], "trash can": ["trash can", "trash bin", "garbage can", "bin", "wastebasket"],
    "door": ["door"], "window": ["window"], "picture": ["picture", "painting", "frame", "artwork", "poster"],
    "curtain": ["curtain", "drape"], "shower curtain": ["shower curtain"], "box": ["box", "cardboard box", "carton"],
    "lamp": ["lamp", "light", "desk lamp"], "monitor": ["monitor", "computer monitor", "screen", "tv", "display"],
}
SOFT = {"chair", "sofa", "bed", "curtain", "shower curtain", "picture", "box"}  # surfaces named by pattern, not material
COLOUR_WORDS = {"gray": ["gray", "grey"], "purple": ["purple", "violet"]}
MATERIAL_WORDS = {  # (kind is soft, material) -> (adjectives, clauses)
    (False, "plain"): (["metal", "metallic", "steel"], ["it is made of metal", "it looks metallic",
                                                        "it has a smooth metal surface"]),
    (False, "striped"): (["wooden", "wood"], ["it is made of wood", "it has a visible wood grain",
                                              "it looks wooden"]),
    (False, "checkered"): (["checkered", "tiled"], ["it has a checkered pattern", "its surface is tiled",
                                                    "it is covered in a checkered pattern"]),
    (True, "plain"): (["plain", "leather"], ["it is plain with no pattern", "it is made of leather",
                                             "its fabric is plain"]),
    (True, "striped"): (["striped"], ["it has stripes", "it has a striped pattern", "it is covered in stripes"]),
    (True, "checkered"): (["checkered", "plaid", "checked"], ["it has a checkered pattern",
                                                              "it has a plaid pattern", "its fabric is checked"]),
}
SHAPE_WORDS = {  # shape -> (adjectives, post-modifiers, clauses)
    "armrests": ([], ["with armrests", "with arms"], ["it has armrests", "it has two armrests",
                                                     "it has arms on both sides"]),
    "no armrests": ([], ["without armrests", "with no armrests", "without arms"],
                    ["it has no armrests", "it does not have armrests", "it has no arms"]),
    "round": (["round", "circular"], ["with a round top"], ["it is round", "it has a round top",
                                                            "it stands on a single leg"]),
    "rectangular": (["rectangular"], ["with four legs"], ["it is rectangular", "it has four legs",
                                                          "its top is rectangular"]),
    "l-shaped": (["l-shaped", "corner"], ["with a chaise"], ["it is l-shaped", "it has a chaise on one end"]),
    "straight": (["straight"], ["without a chaise"], ["it is a straight one", "it has no chaise"]),
    "open": (["open"], ["without doors", "with no doors"], ["it has no doors", "its shelves are open",
                                                            "it is open at the front"]),
    "closed": (["closed"], ["with doors", "with two doors"], ["its doors are closed", "it has two doors"]),
    "open door": (["open"], [], ["it is open", "it is left open", "it is wide open"]),
    "closed door": (["closed", "shut"], [], ["it is closed", "it is shut"]),
    "full": (["full"], ["full of books", "with books on it", "filled with books"],
             ["it is full of books", "its shelves hold many books", "it has books on every shelf"]),
    "empty": (["empty"], ["with no books", "without books"], ["it is empty", "there are no books on it",
                                                              "its shelves are empty"]),
    "drawers": ([], ["with drawers", "with a set of drawers"], ["it has drawers on one side", "it has drawers"]),
    "no drawers": ([], ["without drawers", "with no drawers"], ["it has no drawers",
                                                                "it does not have any drawers"]),
    "lid": (["covered"], ["with a lid"], ["it has a lid", "its lid is closed"]),
    "open bin": (["open", "uncovered"], ["without a lid", "with no lid"], ["it has no lid", "it is open on top"]),
}
PARTS = {  # true of every shape of a kind: fillers that decide nothing
    "chair": ["it has four legs", "it has a backrest", "its seat is flat"],
    "bed": ["it has a headboard", "it has a mattress on a frame", "it has a pillow at the head"],
    "sofa": ["it has cushions", "it has a backrest", "it has arms on both ends"],
    "bookshelf": ["it has several shelves", "it has five shelves"], "desk": ["it has a flat top"],
    "lamp": ["it has a thin stand and a shade", "it has a lampshade"], "monitor": ["it has a black screen",
                                                                                  "it stands on a small base"],
    "toilet": ["it has a tank at the back", "its seat is down"], "sink": ["it has a faucet", "it has a basin"],
    "refrigerator": ["it has two doors", "it is tall"], "counter": ["it has a long flat top"],
    "bathtub": ["it is long enough to lie in"], "window": ["it has glass panes", "it is set into the wall",
                                                             "it has a narrow sill"],
    "curtain": ["it hangs down", "it reaches almost to the floor"], "cabinet": ["it has a flat top",
                                                                                "it has a back panel"],
    "door": ["it has a frame around it", "it is built into the wall"], "picture": ["it is flat and thin",
                                                                                   "it has a thin border"],
    "trash can": ["it is shaped like a box", "it has straight sides"],
}
USES = {
    "chair": ["people sit on it", "it is used for sitting", "it looks comfortable",
              "someone could work or relax in it"],
    "table": ["you can put things on it", "it is used for eating or working", "it could hold plates and cups"],
    "desk": ["you can work at it", "it is a place to study", "a computer could sit on it"], "sofa": ["it can seat several people",
                                                                       "it looks soft and comfortable"],
    "cabinet": ["it is used for storage", "you can store things in it", "it holds dishes or tools"],
    "door": ["it leads out of the room", "it is an entrance", "you walk through it to leave"],
    "window": ["it lets light into the room", "you can look outside through it", "sunlight comes in through it"],
    "picture": ["it hangs on the wall", "it is mounted on the wall", "it decorates the wall",
                "it shows some artwork"],
    "bookshelf": ["it is meant for books", "it is used to store books", "it could hold novels and magazines"],
    "trash can": ["it is for garbage", "people throw trash in it", "waste and rubbish go in it"],
    "bed": ["someone sleeps on it", "it is where people rest at night"], "lamp": ["it gives light",
                                                                                   "it can light up the desk"],
    "monitor": ["it is turned off", "it is connected to a computer"],
    "counter": ["food is prepared on it", "it is a kitchen work surface"],
    "refrigerator": ["it keeps food cold", "it is where drinks are stored"],
    "toilet": ["it is used in the bathroom"], "sink": ["you wash your hands in it", "it is used for washing"],
    "bathtub": ["you can take a bath in it", "it is used for bathing"],
    "curtain": ["it covers the window", "it gives privacy"], "shower curtain": ["it keeps water in the shower"],
    "box": ["it is made of cardboard", "it could hold some papers"],
}
RELATION = {  # kind -> phrases; {a}, {b} anchors, {rank}, {side}
    "closest": ["closest to the {a}", "nearest to the {a}", "nearest the {a}", "situated closest to the {a}"],
    "farthest": ["farthest from the {a}", "furthest from the {a}", "farthest away from the {a}",
                 "most distant from the {a}"],
    "ordinal": ["{rank} closest to the {a}", "{rank} nearest to the {a}", "{rank} from the {a}",
                "{rank} one counting from the {a}", "{rank} in line from the {a}"],
    "next": ["next to the {a}", "beside the {a}", "by the {a}", "right next to the {a}", "adjacent to the {a}",
             "close to the {a}", "alongside the {a}", "just beside the {a}", "immediately next to the {a}"],
    "on": ["on the {a}", "on top of the {a}", "sitting on the {a}", "resting on the {a}", "placed on the {a}",
           "lying on the {a}", "standing on the {a}", "atop the {a}"],
    "under": ["under the {a}", "underneath the {a}", "below the {a}", "beneath the {a}", "directly under the {a}",
              "right below the {a}"],
    "between": ["between the {a} and the {b}", "in between the {a} and the {b}",
                "sandwiched between the {a} and the {b}"],
    "side": ["on the {side} when you face the {a}", "to the {side} of the {a} as you face it",
             "on the {side} side of the {a} when facing it"],
    "corner": ["in the corner", "in the corner of the room", "in a corner", "tucked in a corner"],
    "wall": ["against the wall", "along the wall", "up against the wall", "pushed against the wall",
             "flush against the wall"],
    "middle": ["in the middle of the room", "in the center of the room", "near the centre of the room",
               "towards the middle of the room", "in the central part of the room"],
    "near": ["near a {a}", "close to a {a}", "not far from a {a}", "a short distance from a {a}"],
}
SIDE_CLAUSES = ["if you face the {a}, it is on the {side}", "when facing the {a}, it is the one on the {side}",
                "facing the {a}, you will find it on your {side}",
                "standing in the middle of the room and looking at the {a}, it is on your {side}",
                "if you stand in the room facing the {a}, it is to your {side}"]
SUPERLATIVE_CLAUSES = ["it is the {noun} {rel}", "of all the {plural}, it is the one {rel}",
                       "it is the one {rel}", "among the {plural}, this is the one {rel}"]
INTRO_REL = ["this is a {np} {rel}.", "the {np} is {rel}.", "there is a {np} {rel}.", "it is a {np} {rel}.",
             "a {np} that is {rel}.", "find the {np} that is {rel}.", "look for the {np} {rel}.",
             "the {np} {verb} {rel}.", "{Rel}, there is a {np}.", "in this room, there is a {np} {rel}.",
             "you are looking for a {np} {rel}.", "the target is a {np} {rel}.",
             "in this room you should find a {np} {rel}.", "there is a {np} {rel}, which is what we want."]
INTRO_THE = ["this is the {np} {rel}.", "the {np} {rel}.", "find the {np} {rel}.", "pick the {np} {rel}.",
             "we are looking for the {np} {rel}.", "it is the {np} {rel}.", "look at the {np} {rel}.",
             "locate the {np} {rel}.", "the target is the {np} {rel}.", "select the {np} {rel}."]
INTRO_PLAIN = ["this is the {np}.", "the {np} in the room.", "choose the {np}.", "it is the {np}.",
               "we are looking for the {np}.", "the object is the {np}.", "please select the {np}.",
               "locate the {np}.", "the target is the {np}.", "spot the {np}.", "you want the {np}.",
               "the described object is the {np}.", "select the {np} in this room.",
               "the one we want is the {np}.", "your target is the {np}.", "can you find the {np}."]
VERBS = ["is", "sits", "stands", "is placed", "is located", "is positioned", "is situated", "can be found",
         "is set", "rests", "is kept", "is standing", "is sitting", "lies"]
CLAUSE_REL = ["it is {rel}", "it {verb} {rel}", "the {noun} {verb} {rel}", "you can find it {rel}",
              "the {thing} {verb} {rel}", "this {thing} is {rel}"]
THINGS = ["object", "item", "piece of furniture"]
COLOUR_CLAUSES = ["it is {c}", "it is {c} in colour", "its colour is {c}", "the {noun} is {c}",
                  "it is painted {c}", "it has a {c} color", "its color is {c}", "the {noun} is colored {c}",
                  "it appears {c}", "it is mostly {c}", "it is a shade of {c}", "it is {c} all over"]
SCALE_WORDS = {"big": (["big", "large", "sizable"], ["it is quite big", "it is a large one", "it is rather large",
                                                     "it looks bigger than usual", "it is pretty big",
                                                     "it is on the larger side"]),
               "small": (["small", "little", "compact"], ["it is a small one", "it is fairly small",
                                                           "it is rather small", "it looks smaller than usual",
                                                           "it is on the small side", "it is tiny"])}
COUNT_CLAUSES = ["there are {num} {plural} in the room", "the room has {num} {plural}",
                 "there are {num} {plural} in total", "there are a total of {num} {plural} here",
                 "{num} {plural} are in this room", "the room contains {num} {plural}",
                 "you can count {num} {plural} here", "it is one of {num} {plural}"]
COUNT_ONE = ["there is only one {noun} in the room", "it is the only {noun} in this room",
             "the room has a single {noun}"]
ROOM_CLAUSES = ["this is in the {r}", "the room looks like a {r}", "it is in the {r}", "this seems to be a {r}",
                "the room appears to be a {r}"]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
RANKS = {2: "second", 3: "third"}


def plural(noun: str) -> str:
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    if noun.endswith(("ch", "sh", "x", "s")):
        return noun + "es"
    return noun + "s"


class Speaker:
    """Words for one room: draws synonyms and phrasings from `rng`."""

    def __init__(self, room: Room, rng: np.random.Generator):
        self.rng = rng
        self.by_id = {o.object_id: o for o in room.objects}

    def pick(self, options: list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def noun(self, name: str) -> str:
        return self.pick(NOUNS.get(name, [name]))

    def shape_key(self, obj: SceneObject) -> str:
        if obj.kind == "door":
            return f"{obj.shape} door"
        if obj.kind == "trash can" and obj.shape == "open":
            return "open bin"
        return obj.shape

    def colour(self, c: str) -> str:
        return self.pick(COLOUR_WORDS.get(c, [c]))

    def material(self, obj: SceneObject) -> tuple[list[str], list[str]]:
        return MATERIAL_WORDS[(obj.kind in SOFT, obj.material)]

    def relation(self, f: Fact) -> str:
        """The phrase for a relational fact ("closest to the door")."""
        if f.kind == "side":
            names = [self.by_id[f.anchors[0]].name]
        else:
            names = f.value.split("|")
        a = self.noun(names[0])
        b = self.noun(names[1]) if len(names) > 1 else ""
        return self.pick(RELATION[f.kind]).format(a=a, b=b, rank=RANKS.get(f.rank, ""), side=f.value)

    def clause(self, f: Fact, target: SceneObject, n: int) -> str:
        """A sentence (without its full stop) stating one fact about the target."""
        noun = self.noun(target.name)
        if f.kind == "colour":
            return self.pick(COLOUR_CLAUSES).format(c=self.colour(f.value), noun=noun)
        if f.kind == "material":
            return self.pick(self.material(target)[1])
        if f.kind == "shape":
            return self.pick(SHAPE_WORDS[self.shape_key(target)][2])
        if f.kind == "scale":
            return self.pick(SCALE_WORDS[f.value][1])
        if f.kind == "size":
            comp = ("larger", "bigger") if f.value == "largest" else ("smaller",)
            sup = ("largest", "biggest") if f.value == "largest" else ("smallest",)
            if n == 2:
                return f"it is {self.pick(list(comp))} than the other {noun}"
            return f"it is the {self.pick(list(sup))} {noun} in the room"
        if f.kind == "count":
            if n == 1:
                return self.pick(COUNT_ONE).format(noun=noun)
            return self.pick(COUNT_CLAUSES).format(num=NUMBERS[min(n, 10)], plural=plural(noun))
        if f.kind == "room":
            return self.pick(ROOM_CLAUSES).format(r=f.value)
        if f.kind == "use":
            return self.pick(USES[target.kind])
        if f.kind == "part":
            return self.pick(PARTS[target.kind])
        if f.kind == "side":
            return self.pick(SIDE_CLAUSES).format(a=self.noun(self.by_id[f.anchors[0]].name), side=f.value)
        rel = self.relation(f)
        if f.kind in ("closest", "farthest", "ordinal"):
            return self.pick(SUPERLATIVE_CLAUSES).format(noun=noun, plural=plural(noun), rel=rel)
        return self.pick(CLAUSE_REL).format(rel=rel, verb=self.pick(VERBS), noun=noun, thing=self.pick(THINGS))

    def adjectives(self, facts: list[Fact], target: SceneObject) -> tuple[list[str], list[str]]:
        """(adjectives before the noun, post-modifiers after it) for facts said inside the noun phrase."""
        pre, post = [], []
        for f in facts:
            if f.kind == "colour":
                pre.append(self.colour(f.value))
            elif f.kind == "material":
                pre.append(self.pick(self.material(target)[0]))
            elif f.kind == "scale":
                pre.insert(0, self.pick(SCALE_WORDS[f.value][0]))
            elif f.kind == "size":
                pre.insert(0, self.pick(["largest", "biggest"] if f.value == "largest" else ["smallest"]))
            elif f.kind == "shape":
                adj, mods, _ = SHAPE_WORDS[self.shape_key(target)]
                if adj and (not mods or self.rng.random() < 0.5):
                    pre.append(self.pick(adj))
                else:
                    post.append(self.pick(mods))
        return pre, post


GENERIC = ("count", "room", "use", "part")  # true of the whole group by construction
INLINE = ("colour", "material", "scale", "shape", "size")  # facts a noun phrase can carry


def describe(target: SceneObject, group: list[SceneObject], room: Room, speaker: Speaker,
             attribute_share: float, redundant: dict | None = None) -> tuple[str, bool, str, list[Fact]] | None:
    """One description of `target` -> (text, only an attribute decides, the deciding facts' kinds joined by +,
    every fact it states), or None if nothing singles it out.

    `redundant` {kind: p} (colour, material, shape): with probability p the description also names the target's
    attribute of that kind where it decides nothing, as real annotators name attributes whether they decide or not
    (in a "unique" row any; in a "multiple" one only a value another object of its name shares, so what decides
    the row stays what decided it)."""
    rng = speaker.rng
    ti = next(i for i, o in enumerate(group) if o.object_id == target.object_id)
    n = len(group)
    facts = facts_about(target, group, room)
    for kind, table in (("use", USES), ("part", PARTS)):
        if target.kind in table:
            facts.append(Fact(kind, "", (True,) * n))
    deciding = [f for f in facts if f.singles_out and f.kind not in GENERIC]
    attr = [f for f in deciding if f.is_attribute]
    other = [f for f in deciding if not f.is_attribute]
    attribute_only = False
    if n > 1 and attr and (not other or rng.random() < attribute_share):
        core, attribute_only = [attr[int(rng.integers(len(attr)))]], True
    elif other:
        relational = [f for f in other if f.kind not in INLINE]
        pool = relational if relational and rng.random() < 0.75 else other
        core = [pool[int(rng.integers(len(pool)))]]
    else:  # no single deciding fact: a pair that decides together
        cands = [f for f in facts if f.kind not in GENERIC]
        pairs = [(f, g) for i, f in enumerate(cands) for g in cands[i + 1:] if singles_out([f, g], ti)]
        if not pairs:
            return None
        core = list(pairs[int(rng.integers(len(pairs)))])
        attribute_only = n > 1 and not singles_out([f for f in core if not f.is_attribute] or
                                                   [Fact("count", "", (True,) * n)], ti)
    # fillers: true statements that do not decide on their own; an attribute-only description keeps
    # its non-attribute statements from deciding together
    rest = [f for f in facts if f not in core and not (f.singles_out and f.kind != "colour" and n > 1)]
    rng.shuffle(rest)
    n_fill = int(rng.choice([1, 1, 1, 2, 2, 3]))
    fillers: list[Fact] = []
    for f in rest:
        if len(fillers) >= n_fill:
            break
        if any(g.kind == f.kind for g in fillers + core):
            continue
        if attribute_only and not f.is_attribute:
            plain = [g for g in core + fillers + [f] if not g.is_attribute]
            if singles_out(plain, ti):
                continue
        fillers.append(f)
    for kind, p in sorted((redundant or {}).items()):  # p = 0 draws nothing: the same rows as without
        f = next((g for g in facts if g.kind == kind), None)
        if p <= 0 or f is None or any(g.kind == kind for g in core + fillers) or (n > 1 and f.singles_out):
            continue
        if attribute_only and not f.is_attribute and \
                singles_out([g for g in core + fillers + [f] if not g.is_attribute], ti):
            continue  # beside the plain statements it would decide without the attribute
        if rng.random() < p:
            fillers.append(f)
    if not singles_out(core + fillers, ti):  # cannot happen by construction; never write an ambiguous row
        raise AssertionError(f"description of object {target.object_id} does not single it out")
    return (render(target, core, fillers, n, speaker), attribute_only, "+".join(f.kind for f in core),
            core + fillers)


def render(target: SceneObject, core: list[Fact], fillers: list[Fact], n: int, sp: Speaker) -> str:
    rng = sp.rng
    noun = sp.noun(target.name)
    inline = [f for f in core if f.kind in INLINE]
    relational = [f for f in core if f.kind not in INLINE]
    # some fillers go into the noun phrase ("the brown wooden chair"), the rest into sentences of their own
    extra_inline = [f for f in fillers if f.kind in INLINE and rng.random() < 0.45]
    sentences_of = [f for f in fillers if f not in extra_inline]
    pre, post = sp.adjectives(inline + extra_inline, target)
    np_ = " ".join(pre + [noun] + post)
    if relational:
        f = relational[0]
        rel = sp.relation(f)
        if f.kind in ("closest", "farthest", "ordinal") or inline:
            first = sp.pick(INTRO_THE).format(np=np_, rel=rel)
        else:
            first = sp.pick(INTRO_REL).format(np=np_, rel=rel, Rel=rel, verb=sp.pick(VERBS))
        sentences_of = relational[1:] + sentences_of
    else:
        first = sp.pick(INTRO_PLAIN).format(np=np_)
    sentences = [first] + [sp.clause(f, target, n) + "." for f in sentences_of]
    # now and then two statements share a sentence, as annotators write them
    if len(sentences) > 2 and rng.random() < 0.3:
        sentences[-2:] = [sentences[-2][:-1] + " and " + sentences[-1]]
    return re.sub(r"\ba (?=[aeiou])", "an ", " ".join(sentences))


def describe_room(room: Room, rng: np.random.Generator, per_object: int, attribute_share: float,
                  redundant: dict | None = None):
    """World v2's rows -> (ScanRefer-style rows, Sr3D-style rows, stats); `redundant` as in `describe`."""
    objects = [o for o in room.objects if o.kind not in SHELL]
    speaker = Speaker(room, rng)
    rows, sr3d, skipped, attribute_only, multiple = [], [], 0, 0, 0
    for target in objects:
        group = [o for o in objects if o.name == target.name]
        written = 0
        for ann in range(per_object):
            out = describe(target, group, room, speaker, attribute_share, redundant)
            if out is None:
                break
            text, only_attr, decided_by, stated = out
            multiple += len(group) > 1
            attribute_only += only_attr
            rows.append({"object_id": target.object_id, "object_name": target.name.replace(" ", "_"),
                         "ann_id": ann, "description": text, "token": tokenize(text),
                         "decided_by": decided_by if len(group) > 1 else "unique", "attribute_only": only_attr,
                         "facts": stated})  # not written to the dataset; diagnostics read it
            written += 1
        if not written:
            skipped += 1
            continue
        if len(group) > 1:
            for f in facts_about(target, group, room):
                kind = {"ordinal": None, "side": f.value}.get(f.kind, f.kind)
                if f.singles_out and kind in SR3D_TYPES:
                    sr3d.append(sr3d_row(target, group, Clue(kind, speaker.relation(f), f.anchors),
                                          room))
    return rows, sr3d, {"targets": len(objects) - skipped, "skipped_targets": skipped,
                        "multiple_rows": multiple, "attribute_only_rows": attribute_only}


def room_descriptions(room: Room, rng: np.random.Generator, cfg: dict):
    """The room's rows by the describer of `cfg`'s world (2: this grammar; 1: describe.py's templates)."""
    if cfg.get("world", 1) >= 2:
        return describe_room(room, rng, cfg["descriptions_per_object"], cfg["attribute_share"],
                             cfg.get("redundant_attributes"))
    return templates.describe_room(room, rng, cfg["descriptions_per_object"], cfg["relation_share"])
