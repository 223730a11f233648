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

Both, `hidden_kinds`: of the hidden keywords (world 2: the masked table's; real rows: what the rule tagger hides
with every sentence's adjectives, `--labels` naming its categories), the share that are attribute words, and how
many descriptions hide attribute words only, other words (anchor nouns) only, or both: the split
`route_knowledge.py` scores with two teachers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from ws3dvg.text.tagger import ATTRIBUTES, COLOURS, MATERIALS, SHAPES, SIZES
from ws3dvg.text.tokens import tokenize
from ws3dvg.text.vocab import KEYWORD

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


def hidden_kinds(hidden: list[list[str]]) -> dict:
    """Per description its hidden keywords -> how many descriptions and keywords, the share of keywords that are
    attribute words (the tagger's colour, size, material and shape lexicons), and the shares of descriptions that
    hide attribute words only, other words only, both, or nothing."""
    attr = np.array([sum(w in ATTRIBUTES for w in words) for words in hidden])
    other = np.array([len(words) for words in hidden]) - attr
    n = max(len(hidden), 1)
    return {"descriptions": len(hidden), "keywords": int(attr.sum() + other.sum()),
            "attribute_share": float(attr.sum() / max(attr.sum() + other.sum(), 1)),
            "attribute_only": float(((attr > 0) & (other == 0)).sum() / n),
            "other_only": float(((attr == 0) & (other > 0)).sum() / n),
            "both": float(((attr > 0) & (other > 0)).sum() / n), "none": float(((attr == 0) & (other == 0)).sum() / n)}


def masked_hidden_words(masked: dict, vocab: list[str]) -> list[list[str]]:
    """Each row's hidden keywords of a masked table (mask_keywords' ids and mask, within the row's length)."""
    words = np.asarray(vocab, dtype=object)
    in_text = np.arange(masked["ids"].shape[1])[None] < masked["length"][:, None]
    hidden = (masked["mask"] == KEYWORD) & in_text
    return [list(words[ids[m]]) for ids, m in zip(masked["ids"], hidden)]


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
    ap.add_argument("--labels", default="../shared/data/scannet-meta/scannetv2-labels.combined.tsv",
                    help="the label table whose raw categories the tagger reads (real rows)")
    ap.add_argument("--json")
    args = ap.parse_args()
    result = {}
    if args.descriptions:
        from ws3dvg.text.masking import read_masked
        from ws3dvg.text.vocab import Vocabulary

        vocab = Vocabulary.load(args.vocab)
        masked = read_masked(args.masked, args.split)
        table = deciding_word_coverage(masked, vocab.words, pd.read_csv(args.descriptions))
        print(table.to_string(index=False, float_format="%.3f"))
        kinds = hidden_kinds(masked_hidden_words(masked, vocab.words))
        print("hidden keywords:", json.dumps(kinds))
        result["world"] = table.to_dict("records")
        result["world_hidden_kinds"] = kinds
    if args.real:
        from ws3dvg.scannet.labels import LabelMap
        from ws3dvg.text.annotations import _parse_tokens
        from ws3dvg.text.tagger import RuleTagger

        raw = [r for f in args.real for r in json.load(open(f))]
        rows = [r["description"] for r in raw]
        table = later_sentence_share(rows)
        print(f"real rows: {len(rows)}")
        print(table.to_string(index=False, float_format="%.3f"))
        tagger = RuleTagger(LabelMap.read(args.labels).table["raw_category"], adjectives="all_sentences")
        tokens = [_parse_tokens(r["token"]) for r in raw]
        kinds = hidden_kinds([[t[i] for i in tagger.keywords(t)] for t in tokens if t])
        print("hidden keywords:", json.dumps(kinds))
        result["real"] = {"rows": len(rows), "kinds": table.to_dict("records"), "hidden_kinds": kinds}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
