"""Language statistics of ScanRefer-format files: tokens per description (mean, median, 90th percentile),
share with two or more sentences, distinct words, and the share that uses an ordinal or a superlative of distance
("the second chair", "the farthest one": text/tagger.py's COMPARISONS), in the first sentence and anywhere. Compares the synthetic worlds with
real rows. With --labels: "unique" as ScanRefer counts it (from a whole split file's rows; a sample of rows sees
too few objects of a scene), and per kind of attribute word (the tagger's lexicon) the share of "unique" and of
"multiple" rows that name one, and the share of those words that stand in "unique" rows. There the weak teacher's
fine stage has one candidate, so it learns the word from the right object. Also what a "multiple" row asks of a
reader: the chance of a random object of the target's class and the quartiles of their count. With --boxes (real
rows): the same count over every object of the scene's aligned boxes, for the named classes and for `others`.

Usage: python benchmarks/language_stats.py FILE.json [FILE.json ...] [--labels scannetv2-labels.combined.tsv
       [--boxes aligned_boxes/]] [--world 1|2 --scenes 150 --params params.yaml] [--json out.json]
(--world generates a world's descriptions from its layouts alone, no meshes: the same grammar, other draws)
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import yaml

from ws3dvg.text.tagger import COLOURS, COMPARISONS, MATERIALS, SHAPES, SIZES, adjective_end
from ws3dvg.text.tokens import clean_tokens


def stats(rows: list[dict]) -> dict:
    tokens = [clean_tokens(r["token"]) for r in rows]
    lengths = np.array([len(t) for t in tokens])
    sentences = np.array([len([s for s in re.split(r"\.", r["description"]) if s.strip()]) for r in rows])
    return {"descriptions": len(rows), "tokens_mean": round(float(lengths.mean()), 2),
            "tokens_median": float(np.median(lengths)), "tokens_p90": float(np.percentile(lengths, 90)),
            "two_or_more_sentences": round(float((sentences >= 2).mean()), 3),
            "distinct_words": len({w for t in tokens for w in t if w.isalpha()}),
            "ordinal_or_distance_first_sentence": round(float(np.mean(
                [bool(COMPARISONS.intersection(t[:adjective_end(t, "first_sentence")])) for t in tokens])), 3),
            "ordinal_or_distance_anywhere": round(float(np.mean([bool(COMPARISONS.intersection(t)) for t in tokens])),
                                                  3)}


# the tagger's attribute lexicon by kind; "wooden" (a colour there, as annotators use it) counts as material, and
# words of light rather than hue ("dark", "clear") as neither
KIND_WORDS = {"colour": COLOURS - {"wooden", "dark", "light", "bright", "pale", "clear", "transparent"},
              "material": MATERIALS | {"wooden"}, "shape": SHAPES, "size": SIZES}


def counts_summary(same_class: np.ndarray) -> dict:
    """Rows, the share alone of their class, and over the rest the chance of a random object of the class and the
    count's quartiles."""
    many = same_class[same_class > 1]
    unique = round(float((same_class <= 1).mean()), 3) if same_class.size else 0.0
    out = {"rows": int(same_class.size), "unique_rows": unique,
           "multiple_chance_of_class": None, "multiple_same_class_quartiles": None}
    if many.size:
        out["multiple_chance_of_class"] = round(float((1.0 / many).mean()), 3)
        out["multiple_same_class_quartiles"] = [float(q) for q in np.percentile(many, [25, 50, 75])]
    return out


def attribute_mentions(rows: list[dict], same_class: np.ndarray) -> dict:
    """Per kind: the share of "unique" and of "multiple" rows naming one of its words, and the share of its words
    that stand in "unique" rows. Also what the layout asks of a reader: over "multiple" rows, the chance of a random
    object of the target's class (the mean of 1 / the count) and the count's quartiles."""
    unique = same_class <= 1
    tokens = [clean_tokens(r["token"]) for r in rows]
    out = {"unique_rows": round(float(unique.mean()), 3)}
    summary = counts_summary(same_class)
    out["multiple_chance_of_class"] = summary["multiple_chance_of_class"]
    out["multiple_same_class_quartiles"] = summary["multiple_same_class_quartiles"]
    for kind, words in KIND_WORDS.items():
        count = np.array([sum(w in words for w in t) for t in tokens])
        out[kind] = {"unique_rows_naming": round(float((count[unique] > 0).mean()), 3) if unique.any() else 0.0,
                     "multiple_rows_naming": round(float((count[~unique] > 0).mean()), 3) if (~unique).any() else 0.0,
                     "words_in_unique_rows": round(float(count[unique].sum() / max(count.sum(), 1)), 3)}
    return out


def same_class_counts(rows: list[dict], labels_tsv: str) -> np.ndarray:
    """ScanRefer's count behind unique / multiple (text/annotations.scanrefer_same_class over the file's own rows).
    It counts the objects annotated in the file, so it holds for a whole split's file, not for a sample of rows."""
    import pandas as pd

    from ws3dvg.scannet.labels import LabelMap
    from ws3dvg.text.annotations import scanrefer_same_class

    frame = pd.DataFrame(rows).assign(split="rows")
    return scanrefer_same_class(frame, LabelMap.read(labels_tsv))


def box_same_class_counts(rows: list[dict], labels_tsv: str, boxes: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row, how many objects of its target's class stand in its scene, counting every object of ScanRefer's
    aligned boxes (BOXES/<scene>_aligned_bbox.npy, column 6 the nyu40 id), not only the annotated ones; and
    whether that class is `others` (where the class narrows little). A sample of rows is enough here."""
    from ws3dvg.scannet.labels import OTHERS, LabelMap, nyu40_to_class18

    labels = LabelMap.read(labels_tsv)
    classes = {s: nyu40_to_class18(np.load(Path(boxes) / f"{s}_aligned_bbox.npy")[:, 6].astype(np.int64))
               for s in sorted({r["scene_id"] for r in rows})}
    target = np.array([labels.class18_of_name(r["object_name"]) for r in rows], dtype=np.int64)
    counts = np.array([int((classes[r["scene_id"]] == c).sum()) for r, c in zip(rows, target)], dtype=np.int64)
    return counts, target == OTHERS


def layout_rows(cfg: dict, scenes: int, seed: int = 3407) -> list[dict]:
    """The descriptions of `scenes` rooms of the world of `cfg` (a synth section), from layouts alone (no meshes):
    the same grammar as `synthesize`, other draws. World-2 rows keep their facts."""
    from ws3dvg.synth import grammar
    from ws3dvg.synth.scene import layout_room

    rows = []
    for i in range(scenes):
        rng = np.random.default_rng([seed, i])
        rows += [dict(r, scene_id=f"room{i:04d}")
                 for r in grammar.room_descriptions(layout_room(rng, cfg), rng, cfg)[0]]
    return rows


def generated(world: int, scenes: int, seed: int = 3407, params: str = "params.yaml") -> list[dict]:
    return layout_rows(dict(yaml.safe_load(Path(params).read_text())["synth"], world=world), scenes, seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--world", type=int)
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--params", default="params.yaml", help="the world's settings (synth section) for --world")
    ap.add_argument("--labels", help="ScanNet's label table: real rows get unique / multiple and attribute mentions")
    ap.add_argument("--boxes", help="ScanRefer's aligned boxes folder: real rows also get the count of every object of "
                    "the target's class, over the named classes and over `others` (needs --labels)")
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {}
    for f in args.files:
        rows = json.loads(Path(f).read_text())
        out[f] = stats(rows)
        if args.labels:
            out[f]["attribute_mentions"] = attribute_mentions(rows, same_class_counts(rows, args.labels))
        if args.labels and args.boxes:
            counts, others = box_same_class_counts(rows, args.labels, args.boxes)
            out[f]["every_object"] = {"named classes": counts_summary(counts[~others]),
                                      "others": counts_summary(counts[others])}
    if args.world:
        rows = generated(args.world, args.scenes, params=args.params)
        name = f"world {args.world}, {args.scenes} scenes (language only)"
        out[name] = stats(rows)
        if args.labels:
            out[name]["attribute_mentions"] = attribute_mentions(rows, same_class_counts(rows, args.labels))
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
