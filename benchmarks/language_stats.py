"""Language statistics of ScanRefer-format files: tokens per description (mean, median, 90th percentile),
share with two or more sentences, distinct words, and the share that uses an ordinal or a superlative of distance
("the second chair", "the farthest one": text/tagger.py's COMPARISONS), in the first sentence and anywhere. Compares the synthetic worlds with
real rows.

Usage: python benchmarks/language_stats.py FILE.json [FILE.json ...] [--world 1|2 --scenes 150] [--json out.json]
(--world generates a world's descriptions from its layouts alone, no meshes: the same grammar, other draws)
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import yaml

from ws3dvg.text.tagger import COMPARISONS, adjective_end
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


def generated(world: int, scenes: int, seed: int = 3407) -> list[dict]:
    from ws3dvg.synth import describe, grammar
    from ws3dvg.synth.scene import layout_room

    cfg = dict(yaml.safe_load(Path("params.yaml").read_text())["synth"], world=world)
    rows = []
    for i in range(scenes):
        rng = np.random.default_rng([seed, i])
        room = layout_room(rng, cfg)
        if world >= 2:
            rows += grammar.describe_room(room, rng, cfg["descriptions_per_object"], cfg["attribute_share"])[0]
        else:
            rows += describe.describe_room(room, rng, cfg["descriptions_per_object"], cfg["relation_share"])[0]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--world", type=int)
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {f: stats(json.loads(Path(f).read_text())) for f in args.files}
    if args.world:
        out[f"world {args.world}, {args.scenes} scenes (language only)"] = stats(generated(args.world, args.scenes))
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
