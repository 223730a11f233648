"""Does the fine stage ever have to reconstruct the word that decides a description? (RESULTS "Where the
deciding word sits".)

The teacher's fine stage learns from the keywords `mask_keywords` hides: anchor nouns in prepositional phrases
and the first sentence's adjectives (the authors' rule). An attribute said in a later sentence ("it is quite
big") is never hidden, so the decoder reads it from the sentence and never needs the candidate for it.

    python benchmarks/keyword_coverage.py [--masked data/language/masked.h5 --vocab data/language/vocab.json
        --descriptions data/synthetic/meta/synth_descriptions.csv] [--real ScanRefer_*.json ...] [--json out.json]

World 2 (a pipeline root): per attribute fact that decides a description (colour, scale, size, material,
shape), the share of those descriptions whose words of that kind appear at all, and the share in which one of
them is a keyword. Real rows (`--real`): per kind of attribute word, the share said after the first sentence.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from ws3dvg.text.tagger import COLOURS, MATERIALS, SHAPES, SIZES
from ws3dvg.text.tokens import tokenize

LEXICON = {"colour": COLOURS, "scale": SIZES, "size": SIZES, "material": MATERIALS, "shape": SHAPES}


def deciding_word_coverage(masked: dict, vocab: list[str], descriptions: pd.DataFrame) -> pd.DataFrame:
    """-> per deciding attribute fact: n, share with a word of its kind, share with such a word hidden."""
    keys = pd.DataFrame({"scene_id": masked["scene_id"], "object_id": masked["object_id"].astype(int),
                         "ann_id": masked["ann_id"].astype(int), "row": np.arange(len(masked["ids"]))})
    rows = keys.merge(descriptions, on=["scene_id", "object_id", "ann_id"], how="inner")
    words = np.asarray(vocab, dtype=object)
    out = []
    for fact, lexicon in LEXICON.items():
        sel = rows[rows["decided_by"] == fact]["row"].to_numpy()
        if not len(sel):
            continue
        ids, length, mask = masked["ids"][sel], masked["length"][sel], masked["mask"][sel].astype(bool)
        in_text = np.arange(ids.shape[1])[None] < length[:, None]
        of_kind = np.isin(words[ids], list(lexicon)) & in_text
        out.append({"decided_by": fact, "n": len(sel), "word_present": float(of_kind.any(1).mean()),
                    "word_hidden": float((of_kind & mask).any(1).mean())})
    return pd.DataFrame(out)


def later_sentence_share(descriptions: list[str]) -> pd.DataFrame:
    """-> per attribute kind: words in the first sentence, in later ones, and the later share (tokens as
    mask_keywords sees them)."""
    kinds = {"colour": COLOURS, "size": SIZES, "material": MATERIALS, "shape": SHAPES}
    counts = {k: [0, 0] for k in kinds}
    for text in descriptions:
        later = False
        for token in tokenize(text):
            if token == ".":
                later = True
                continue
            for kind, lexicon in kinds.items():
                counts[kind][later] += token in lexicon
    return pd.DataFrame([{"kind": k, "first_sentence": a, "later_sentences": b, "later_share": b / max(a + b, 1)}
                         for k, (a, b) in counts.items()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masked", default="data/language/masked.h5")
    ap.add_argument("--vocab", default="data/language/vocab.json")
    ap.add_argument("--descriptions", default="data/synthetic/meta/synth_descriptions.csv")
    ap.add_argument("--split", default="train")
    ap.add_argument("--real", nargs="*", default=[])
    ap.add_argument("--json")
    args = ap.parse_args()
    result = {}
    if args.descriptions:
        from ws3dvg.text.masking import read_masked
        from ws3dvg.text.vocab import Vocabulary

        vocab = Vocabulary.load(args.vocab)
        table = deciding_word_coverage(read_masked(args.masked, args.split), vocab.words,
                                       pd.read_csv(args.descriptions))
        print(table.to_string(index=False, float_format="%.3f"))
        result["world"] = table.to_dict("records")
    if args.real:
        rows = [r["description"] for f in args.real for r in json.load(open(f))]
        table = later_sentence_share(rows)
        print(f"real rows: {len(rows)}")
        print(table.to_string(index=False, float_format="%.3f"))
        result["real"] = {"rows": len(rows), "kinds": table.to_dict("records")}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
