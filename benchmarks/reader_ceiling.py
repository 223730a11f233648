"""How far can a grounder get on world v2 if it reads only some kinds of fact? The ceiling of each reader.

Every world-v2 description is a set of facts (`synth/facts.py`), each with its truth over the target's group
(the objects of the same name in the room). A reader that checks only the facts of some kinds cannot tell apart
the group members those facts leave standing; at best it picks one of them at random. Its ceiling on a row is
1 / (members left standing), the target always among them. Averaged over rows, per reader:

- `class`: no fact read: random of the class (the coarse stage's level when it names the class right);
- `colour`: its colour alone, the one attribute the fine stage reads well on world 2 (RESULTS.md);
- `own`: what the candidate's own points show: colour, material, shape, absolute scale ("big");
- `own+size`: and comparisons of size within the group ("the largest");
- `own+size+place`: and its place in the room (corner, against a wall, middle): still one candidate at a time;
- `all`: every fact, relations to other objects included: 1 on every row, by construction.

The fine stage of the paper scores each candidate by reconstructing the sentence from that candidate's own
feature, so `own+size+place` bounds it unless its feature reads other objects. A row whose target is the only
object of its name counts 1 for every reader but `class`. "Unique" / "multiple" are `evaluate`'s (ScanRefer's
count of annotated objects of the target's 18-class label in the scene), so the `class` row is `evaluate`'s random
of the class when the class is named right, and every reader reads the noun ("armchair" is not "chair"). Rows are
drawn from room layouts alone (no meshes): the same grammar and settings as `synthesize`, other draws than a
dataset's rows.

It also gives, per attribute kind (material, shape), how clean a weak teacher's first lesson in that word is:
over the rows that name it, the share of the candidates a reader leaves standing that carry the named value
(`purity`; reading nothing, then colour, the one attribute the fine stage reads). A decoder learns the word from
those candidates, so 1 is a clean lesson ("unique" rows), and 1 / (its values) is noise.

With `--against FACTS.json` (a run's `accuracy_by_fact.py --json` table: per deciding fact its row count and
each model's accuracy), the ceilings are weighted by that run's rows and set beside its models, overall and on the
rows that colour decides, that another own attribute (material, shape, scale, size) decides, and that a relation
to another object decides.

Usage (repo root): python benchmarks/reader_ceiling.py [OVERLAY.yaml ...] [--scenes 300]
       [--against FACTS.json [--key dotted.path.in.it]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from language_stats import layout_rows  # noqa: E402
from overlay_params import merge  # noqa: E402

OWN = ("colour", "material", "shape", "scale")
READERS = {
    "class": (),
    "colour": ("colour",),
    "own": OWN,
    "own+size": OWN + ("size",),
    "own+size+place": OWN + ("size", "corner", "wall", "middle"),
}


def ceiling(facts, kinds) -> float:
    """1 / the number of group members that every stated fact of `kinds` holds for (the target always does)."""
    masks = [np.array(f.mask) for f in facts if f.kind in kinds]
    n = len(facts[0].mask)
    left = np.logical_and.reduce(masks) if masks else np.ones(n, bool)
    return 1.0 / int(left.sum())


def purity(rows: list[dict], kind: str, read: tuple[str, ...]) -> dict:
    """Over rows stating a fact of `kind`: the mean share of the group members left by the facts of `read` that
    share the target's `kind` value, and the share of those rows whose target is alone of its name."""
    shares, alone = [], []
    for r in rows:
        named = next((f for f in r["facts"] if f.kind == kind), None)
        if named is None:
            continue
        same = np.array(named.mask)
        masks = [np.array(f.mask) for f in r["facts"] if f.kind in read]
        left = np.logical_and.reduce(masks) if masks else np.ones(len(same), bool)
        shares.append((same & left).sum() / left.sum())
        alone.append(len(same) == 1)
    return {"rows": len(shares), "purity": float(np.mean(shares)) if shares else None,
            "alone_of_name": float(np.mean(alone)) if alone else None}


def same_class_counts(rows: list[dict]) -> np.ndarray:
    """`evaluate`'s count behind unique / multiple: ScanRefer's, through the synthetic world's label table."""
    import pandas as pd

    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.synth.world import label_table
    from ws3dvg.text.annotations import scanrefer_same_class

    frame = pd.DataFrame({"split": "rows", "scene_id": [r["scene_id"] for r in rows],
                          "object_id": [r["object_id"] for r in rows],
                          "object_name": [r["object_name"] for r in rows]})
    return scanrefer_same_class(frame, LabelMap(label_table()))


def table(rows: list[dict]) -> dict:
    """Per reader: ceiling on `evaluate`'s "multiple" rows and on all rows, on the "multiple" rows that shape or
    material alone decides and on the rest, and per deciding fact (the generator's: same-name groups)."""
    n_class = same_class_counts(rows)
    multiple = n_class > 1
    only_attr = np.array([r["attribute_only"] for r in rows]) & multiple
    out = {"rows": len(rows), "multiple_rows": int(multiple.sum()), "readers": {}}
    for name, kinds in {**READERS, "all": None}.items():
        if name == "class":
            c = 1.0 / np.maximum(n_class, 1)
        else:
            c = np.array([1.0 if kinds is None or r["decided_by"] == "unique" else ceiling(r["facts"], kinds)
                          for r in rows])
        by_fact: dict[str, list[float]] = {}
        for r, v, m in zip(rows, c, multiple):
            if m:
                by_fact.setdefault(r["decided_by"], []).append(v)
        out["readers"][name] = {
            "multiple": float(c[multiple].mean()),
            "overall": float(c.mean()),
            "attribute_only_rows": float(c[only_attr].mean()),
            "other_multiple_rows": float(c[multiple & ~only_attr].mean()),
            "by_deciding_fact": {k: [len(v), round(float(np.mean(v)), 4)] for k, v in sorted(by_fact.items())},
        }
    out["attribute_only_share_of_multiple"] = float(only_attr.sum() / multiple.sum())
    return out


ATTRIBUTE_FACTS = ("material", "shape", "scale", "size")   # colour apart: the one the fine stage reads
RELATION_FACTS = ("closest", "farthest", "ordinal", "next", "on", "under", "between", "side", "near")


def against(result: dict, facts: list[dict]) -> dict:
    """The ceilings weighted by a measured run's rows per deciding fact, beside its models' accuracies.

    A deciding fact the sample never drew (a rare pair) counts 1 for every reader but `class`, which takes the
    run's own random of the class there."""
    models = [k for k in facts[0] if k not in ("decided_by", "n")]
    n = np.array([r["n"] for r in facts], float)
    groups = {"all": np.ones(len(facts), bool),
              "colour": np.array([r["decided_by"] == "colour" for r in facts]),
              "attribute": np.array([r["decided_by"] in ATTRIBUTE_FACTS for r in facts]),
              "relation": np.array([r["decided_by"] in RELATION_FACTS for r in facts])}
    out = {"rows": int(n.sum()), **{f"{g}_rows": int(n[m].sum()) for g, m in groups.items() if g != "all"}}
    def cell(r: dict, name: str, by: dict) -> float:
        known = r["decided_by"] in by and r["decided_by"] != "unique"
        if name == "class" and not known:
            return r.get("random_class", 0.0)
        return by[r["decided_by"]][1] if known else 1.0

    columns = {f"ceiling {name}": np.array([cell(r, name, reader["by_deciding_fact"]) for r in facts])
               for name, reader in result["readers"].items()}
    columns.update({m: np.array([r[m] for r in facts], float) for m in models})
    for g, m in groups.items():
        out[g] = ({k: round(float((v * n)[m].sum() / n[m].sum()), 4) for k, v in columns.items()}
                  if n[m].sum() else None)  # no row of that kind in the run
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("overlays", nargs="*", type=Path, help="params overlays (synth.world must come out 2)")
    ap.add_argument("--base", type=Path, default=Path("params.yaml"))
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3407)
    ap.add_argument("--against", type=Path, help="a run's accuracy_by_fact.py --json table")
    ap.add_argument("--key", default="", help="dotted path to that table inside --against (gpu.fpwoav40.facts)")
    ap.add_argument("--json")
    args = ap.parse_args()
    params = yaml.safe_load(args.base.read_text())
    for path in args.overlays:
        params = merge(params, yaml.safe_load(path.read_text()) or {})
    cfg = params["synth"]
    if cfg.get("world", 1) < 2:
        raise SystemExit("reader_ceiling.py needs world v2 (synth.world: 2): world 1's rows carry no facts")
    rows = layout_rows(cfg, args.scenes, args.seed)
    result = {"scenes": args.scenes, "seed": args.seed, "overlays": [str(p) for p in args.overlays],
              **table(rows),
              "purity": {kind: {"reading nothing": purity(rows, kind, ()),
                                "reading colour": purity(rows, kind, ("colour",))} for kind in ("material", "shape")}}
    print(f"{result['rows']} rows, {result['multiple_rows']} multiple "
          f"(attribute-only {result['attribute_only_share_of_multiple']:.3f})")
    print(f"{'reader':<16} {'multiple':>9} {'overall':>8} {'attr-only':>10} {'other':>7}")
    for name, r in result["readers"].items():
        print(f"{name:<16} {r['multiple']:>9.3f} {r['overall']:>8.3f} {r['attribute_only_rows']:>10.3f} "
              f"{r['other_multiple_rows']:>7.3f}")
    for kind, by in result["purity"].items():
        nothing, colour = by["reading nothing"], by["reading colour"]
        print(f"purity of {kind} ({nothing['rows']} rows, {nothing['alone_of_name']:.3f} alone of their name): "
              f"{nothing['purity']:.3f} reading nothing, {colour['purity']:.3f} reading colour")
    if args.against:
        facts = json.loads(args.against.read_text())
        for k in filter(None, args.key.split(".")):
            facts = facts[k]
        result["against"] = {"facts": f"{args.against}:{args.key}", **against(result, facts)}
        for g in ("all", "colour", "attribute", "relation"):
            print(f"{args.against.name}, {g} rows:", json.dumps(result["against"][g]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
