"""What each of the project's readers does on the genuine public files in ../shared/real.

    python benchmarks/real_files.py [--real ../shared/real] [--labels ../shared/data/scannet-meta/...tsv]

Prints the markdown behind benchmarks/RESULTS.md, "Real files". Reads the files where they lie; nothing
of them is written anywhere.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ws3dvg.models.enet import load_enet, normalize
from ws3dvg.scannet.io import read_aligned_boxes, read_axis_alignment, read_split
from ws3dvg.scannet.labels import LabelMap
from ws3dvg.scannet.preprocess import preprocess_scenes, read_scene
from ws3dvg.text.annotations import (
    _parse_tokens,
    build_table,
    decode_stimulus_id,
    read_referit3d,
    read_scanrefer,
    scene_classes_from_boxes,
)
from ws3dvg.text.audit import masker_report
from ws3dvg.text.glove import load_glove
from ws3dvg.text.tagger import RuleTagger, singular

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "real"))
    ap.add_argument("--labels", default=str(REPO.parent / "shared" / "data" / "scannet-meta" /
                                            "scannetv2-labels.combined.tsv"))
    args = ap.parse_args()
    real, labels = Path(args.real), LabelMap.read(args.labels)
    sc = real / "scannet"
    splits = {s: read_split(sc / "meta" / f"scannetv2_{s}.txt") for s in ("train", "val")}
    aligned = {p.name[:12]: scene_classes_from_boxes(read_aligned_boxes(p))
               for p in sorted((sc / "aligned_boxes").glob("*_aligned_bbox.npy"))}
    metas = sorted((sc / "scene_info").glob("*.txt"))
    for p in metas:
        read_axis_alignment(p, p.stem)
    print(f"- splits: {len(splits['train'])} train / {len(splits['val'])} val scans; {len(metas)} meta files "
          f"read (axisAlignment 4x4); {len(aligned)} aligned-box files read")

    # the v1 scan with its v2 meta file
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "scans" / "scene0000_00"
        d.mkdir(parents=True)
        for f in (sc / "scans_v1" / "scene0000_00").iterdir():
            if f.suffix != ".txt":
                shutil.copy(f, d / f.name)
        shutil.copy(sc / "scene_info" / "scene0000_00.txt", d / "scene0000_00.txt")
        for name, table in (("v2 table", labels), ("v1 table", LabelMap.read(sc / "scans_v1" /
                                                                           "scannet-labels.combined.tsv"))):
            stats = preprocess_scenes(Path(tmp) / "scans", {"train": ["scene0000_00"]}, table, Path(tmp) / "o.h5")
            scene = read_scene(Path(tmp) / "o.h5", "scene0000_00")
            ours = {int(b[7]) - 1: b for b in scene["boxes"]}
            ref = read_aligned_boxes(sc / "aligned_boxes" / "scene0000_00_aligned_bbox.npy")
            diff = np.array([np.abs(ours[int(r[7])][:6] - r[:6]).max() for r in ref if int(r[7]) in ours])
            print(f"- v1 scan scene0000_00, {name}: {stats['points']:,} points, {stats['instances']} objects, "
                  f"{stats['skipped_objects']} skipped; {len(diff)} of the {len(ref)} released boxes share an "
                  f"objectId, median largest-coordinate difference {1000 * np.median(diff):.1f} mm, "
                  f"{(diff < 0.01).sum()} within 1 cm")

    state = torch.load(real / "enet" / "scannetv2_enet.pth", map_location="cpu", weights_only=False)
    model = load_enet(real / "enet" / "scannetv2_enet.pth").eval()
    with torch.no_grad():
        f = model.features(normalize(torch.rand(1, 3, 256, 328, generator=torch.Generator().manual_seed(0))))
    print(f"- ENet: {len(state)} tensors loaded strictly; features {tuple(f.shape)} from a 328x256 frame")

    sr_rows = {"train": real / "scanrefer" / "ScanRefer_filtered_train_sampled1000.json",
               "test": real / "scanrefer" / "ScanRefer_filtered_test.json"}
    for split, path in sr_rows.items():
        raw = read_scanrefer(path, split)
        table, rep = build_table(raw, aligned, labels)
        if split == "train":
            inst = np.array([(aligned[s][:, 1] == c).sum() for s, c in zip(table["scene_id"], table["class18"])])
            print(f"- ScanRefer {split}: {len(raw)} rows, {rep.summary()['kept']} kept; unique (ScanRefer's "
                  f"definition, annotated objects) {table['unique'].mean():.3f}, by preprocessed instances "
                  f"{(inst == 1).mean():.3f}; the two disagree on {(table['unique'] != (inst == 1)).sum()} rows")
        else:
            from ws3dvg.text.annotations import scanrefer_same_class

            n = scanrefer_same_class(raw, labels)
            print(f"- ScanRefer {split}: {len(raw)} rows over {raw['scene_id'].nunique()} scenes (no scans: "
                  f"{rep.summary()['skipped']}); unique share by ScanRefer's definition {(n == 1).mean():.3f}")

    for path in [real / "referit3d" / "nr3d_train_sampled1000.csv"] + sorted((real / "referit3d").glob("sr3d_*.csv")):
        raw = read_referit3d(path, splits)
        table, rep = build_table(raw, aligned, labels)
        n = np.array([decode_stimulus_id(s)[2] for s in table["stimulus_id"]])
        coarse = np.array([(aligned[s][:, 1] == c).sum() for s, c in zip(table["scene_id"], table["class18"])])
        print(f"- {path.name}: {len(raw)} rows kept of the file's after ReferIt3D's filter, {rep.summary()['kept']} "
              f"in the table; hard {np.mean(table['hard'] == 1):.3f}, view-dependent {np.mean(table['view_dep'] == 1):.3f}; "
              f"same-type count from stimulus_id vs the 18-class count: equal on {(n == coarse).mean():.3f}; "
              f"chance 1/n {np.mean(1 / n):.3f} vs 1/18-class count {np.mean(1 / np.maximum(coarse, 1)):.3f}; "
              f"18-class `others` targets {(table['class18'] == 17).mean():.3f}")

    tagger = RuleTagger(labels.table["raw_category"], adjectives="first_sentence")
    every = RuleTagger(labels.table["raw_category"], adjectives="all_sentences")
    for name, path in (("ScanRefer train (tuned on)", sr_rows["train"]), ("ScanRefer test (held out)", sr_rows["test"]),
                       ("Nr3D (held out)", real / "referit3d" / "nr3d_train_sampled1000.csv")):
        toks = ([_parse_tokens(r["token"]) for r in json.loads(path.read_text())] if path.suffix == ".json"
                else [_parse_tokens(t) for t in pd.read_csv(path)["tokens"]])
        r, e = masker_report(toks, tagger), masker_report(toks, every)
        print(f"- masker, {name}: keyword in {r['with_keyword_share']:.3f} of {r['descriptions']}; anchors "
              f"{r['anchor_marked']}/{r['anchor_slots']} = {r['anchor_marked_share']:.3f}; keywords per description "
              f"{r['keywords_per_description']:.2f} (first-sentence adjectives) -> {e['keywords_per_description']:.2f} "
              f"(every sentence's)")
    found = marked = 0
    for path in sorted((real / "referit3d").glob("sr3d_*.csv")):
        df = pd.read_csv(path)
        for t, anchors in zip(df["tokens"], df["anchors_types"]):
            toks = _parse_tokens(t)
            kws = set(tagger.keywords(toks))
            for a in ast.literal_eval(anchors):
                pos = [i for i, w in enumerate(toks) if singular(w) == a.split()[-1] or w == a.split()[-1]]
                if pos:
                    found, marked = found + 1, marked + any(p in kws for p in pos)
    print(f"- masker, Sr3D named anchors (held out): {marked}/{found} = {marked / found:.3f}")
    g = load_glove(real / "glove" / "test_glove.txt")
    print(f"- GloVe: {len(g)} words of {len(next(iter(g.values())))} floats, "
          f"{sum(not w.isascii() for w in g)} non-ASCII")


if __name__ == "__main__":
    main()
