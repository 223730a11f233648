"""Which descriptions does a model get right? Acc@0.25 of evaluate's predictions per deciding fact, on world v2.

World v2's synthesize stage records, per description, the kinds of the facts that single its target out
(`meta/synth_descriptions.csv`: shape, material, colour, closest, ordinal, side, ...; `unique` when the target
is the only object of its name). Joined with `data/eval/predictions.json` this shows what a recipe has
learnt to use and what it ignores, beside random of the class for the same rows.

`--given teacher_fine` adds, per fact, the student's accuracy on the rows that model gets right and on those it
gets wrong: whether the student learns past its teacher's mistakes or only where the teacher was right.

`--examples K --examples-json OUT` writes, for each of the most common deciding facts, K descriptions drawn with
a fixed seed, and which models pick their target (IoU >= 0.25): examples a reader can check by eye.

Usage (pipeline root): python benchmarks/accuracy_by_fact.py [data/eval/predictions.json]
       [--descriptions data/synthetic/meta/synth_descriptions.csv] [--given teacher_fine] [--json out.json]
       [--examples K --examples-json examples.json]
"""

from __future__ import annotations

import argparse
import json

import pandas as pd


def with_descriptions(pred: pd.DataFrame, descriptions: pd.DataFrame) -> pd.DataFrame:
    """Each prediction row joined with its description's row (the generator's truth); every one must have one."""
    pred = pred.assign(object_id=pred["object_id"].astype(int), ann_id=pred["ann_id"].astype(int))
    rows = pred.merge(descriptions, on=["scene_id", "object_id", "ann_id"], how="left", validate="one_to_one")
    if rows["decided_by"].isna().any():
        raise SystemExit(f"{int(rows['decided_by'].isna().sum())} predictions have no row in the descriptions "
                         "file: are they from the same synthesis?")
    return rows


def by_fact(predictions: list[dict], descriptions: pd.DataFrame, given: str | None = None) -> pd.DataFrame:
    # every table row's IoU where evaluate wrote them (iou_of), else the student's alone
    pred = pd.DataFrame([{"scene_id": p["scene_id"], "object_id": p["object_id"], "ann_id": p["ann_id"],
                          **p.get("iou_of", {"student": p["iou"]})} for p in predictions])
    models = [c for c in pred.columns if c not in ("scene_id", "object_id", "ann_id")]
    rows = with_descriptions(pred, descriptions)
    hits = (rows[models] >= 0.25).astype(float)
    hits["decided_by"], hits["n"] = rows["decided_by"], 1
    table = hits.groupby("decided_by").agg({"n": "sum", **{m: "mean" for m in models}})
    if given is not None:
        if given not in models or "student" not in models:
            raise SystemExit(f"--given {given}: the predictions carry {', '.join(models)}")
        right = hits[given] == 1
        # NaN where a fact has no row of that kind: an empty group has no accuracy
        table[f"student|{given} right"] = hits[right].groupby("decided_by")["student"].mean()
        table[f"student|{given} wrong"] = hits[~right].groupby("decided_by")["student"].mean()
    return table.sort_values("n", ascending=False)


def examples(predictions: list[dict], descriptions: pd.DataFrame, per_fact: int, facts: int = 8,
             seed: int = 0) -> list[dict]:
    """`per_fact` rows (or as many as there are) of each of the `facts` most common deciding facts, drawn with
    `seed`, most common fact first: scene, object, the description, its fact, and per model whether it picks the
    target (IoU >= 0.25)."""
    rows = with_descriptions(pd.DataFrame(predictions), descriptions)
    out = []
    for fact in rows["decided_by"].value_counts().index[:facts]:
        some = rows[rows["decided_by"] == fact]
        for _, r in some.sample(min(per_fact, len(some)), random_state=seed).iterrows():
            ious = r["iou_of"] if isinstance(r.get("iou_of"), dict) else {"student": r["iou"]}
            out.append({"scene_id": r["scene_id"], "object_id": int(r["object_id"]), "ann_id": int(r["ann_id"]),
                        "decided_by": fact, "description": r["description"],
                        "right": {m: bool(v >= 0.25) for m, v in ious.items()}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("predictions", nargs="?", default="data/eval/predictions.json")
    ap.add_argument("--descriptions", default="data/synthetic/meta/synth_descriptions.csv")
    ap.add_argument("--given", help="a model of the predictions (e.g. teacher_fine): the student's accuracy on the "
                                    "rows it gets right and on those it gets wrong")
    ap.add_argument("--json")
    ap.add_argument("--examples", type=int, default=0, help="descriptions per deciding fact for --examples-json")
    ap.add_argument("--examples-json")
    args = ap.parse_args()
    if bool(args.examples) != bool(args.examples_json):
        raise SystemExit("--examples K and --examples-json OUT go together")
    with open(args.predictions) as f:
        predictions = json.load(f)
    table = by_fact(predictions, pd.read_csv(args.descriptions), args.given)
    print(table.to_string(float_format="%.3f"))
    if args.json:
        table.reset_index().to_json(args.json, orient="records", indent=1)
    if args.examples_json:
        with open(args.examples_json, "w") as f:
            json.dump(examples(predictions, pd.read_csv(args.descriptions), args.examples), f, indent=1)


if __name__ == "__main__":
    main()
