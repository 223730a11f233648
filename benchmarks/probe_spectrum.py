"""Where in the cached feature's spectrum does an attribute sit? If material lived in directions of small
variance, a probe that standardises every channel (probe_features.py) would read it while a model trained by
gradient on the raw feature would find it slowly. This fits PCA on the train proposals' pooled features and probes
material, colour (R^2) and class from the top k components, and reports the share of the material groups'
between-group energy (within each class) that falls in each band of components.

Usage (pipeline root of a world-2 run with gt proposals):
    PYTHONPATH=src python benchmarks/probe_spectrum.py [data/proposals] --objects data/synthetic/meta/synth_objects.csv
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from probe_features import load, probe, read_objects, ridge, write_json

BANDS = [(0, 8), (8, 32), (32, 64), (64, None)]


def spectrum(tr: dict, te: dict, ks=(4, 8, 16, 32, 64, 128, 256)) -> dict:
    x, xv = tr["features"].astype(np.float64), te["features"].astype(np.float64)
    mu = x.mean(0)
    ev, vec = np.linalg.eigh(np.cov((x - mu).T))
    ev, vec = ev[::-1], vec[:, ::-1]
    p, pv = (x - mu) @ vec, (xv - mu) @ vec
    labels = np.array(sorted(set(tr["material"])))
    onehot = (tr["material"][:, None] == labels[None]).astype(float)
    top = {}
    for k in sorted({min(k, x.shape[1]) for k in ks}):
        known = probe(tr, te, p[:, :k], pv[:, :k])  # class and colour, as probe_features.py probes any feature
        top[k] = {"material": float((labels[ridge(p[:, :k], onehot, pv[:, :k]).argmax(1)] == te["material"]).mean()),
                  "colour_r2": known["colour_r2"], "class": known["class_accuracy"]}
    # the material groups' means within each class, their squared offsets per component (vectorised per group)
    energy = np.zeros(p.shape[1])
    for name in sorted(set(tr["name"])):
        of_class = tr["name"] == name
        for lab in labels:
            group = of_class & (tr["material"] == lab)
            if group.sum() > 2:
                energy += group.sum() * (p[group].mean(0) - p[of_class].mean(0)) ** 2
    bands = {f"{a + 1}-{b or len(ev)}": {"variance_share": float(ev[a:b].sum() / ev.sum()),
                                           "material_energy_share": float(energy[a:b].sum() / energy.sum())}
             for a, b in BANDS}
    return {"train_objects": len(x), "dims": int(x.shape[1]), "top_components": top, "bands": bands,
            "material_chance": float(max((te["material"] == lab).mean() for lab in labels))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("proposals", nargs="?", default="data/proposals")
    ap.add_argument("--preprocessed", default="data/preprocessed/scannet.h5")
    ap.add_argument("--objects", required=True, help="world v2's meta/synth_objects.csv")
    ap.add_argument("--json")
    args = ap.parse_args()
    objects = read_objects(args.objects)
    tr, te = (load(f"{args.proposals}/{s}.h5", args.preprocessed, objects) for s in ("train", "val"))
    out = spectrum(tr, te)
    print(json.dumps(out, indent=1))
    write_json(out, args.json)


if __name__ == "__main__":
    main()
