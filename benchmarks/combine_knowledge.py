"""Two teachers as one: a product of experts over their cached fine-stage knowledge (`data/teacher/knowledge.h5`).

Two teachers can read different facts: on world 2 at ScanRefer's size the one with `decoder_reads_scene` reads
relations and the one without reads material and size (RESULTS "The decoder reads the scene on the best recipe").
Each candidate's reconstruction loss is a mean negative log-likelihood of the sentence's hidden words, so the sum of
two teachers' losses is the NLL under the product of their two models: a candidate wins only where neither expert
finds its words unlikely.

The output keeps teacher A's rows and candidates (its coarse order, weights and predicted class) and gives each
candidate `w_a * loss_A + w_b * loss_B`, looking the candidate up among B's by proposal index. A candidate that B
did not consider (the two coarse stages kept different proposals) becomes invalid. A row where none of A's valid
candidates is among B's keeps A's losses unchanged, so no sentence loses its teacher. Distill and evaluate read the
result as any teacher's knowledge.

Usage: python benchmarks/combine_knowledge.py A/knowledge.h5 B/knowledge.h5 --out C/knowledge.h5 [--weights 1 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ws3dvg.grounding.teacher import read_knowledge, write_knowledge  # noqa: E402


def combine_split(a: dict[str, np.ndarray], b: dict[str, np.ndarray], w_a: float = 1.0,
                  w_b: float = 1.0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """One split: A's fields with recon_loss and valid replaced by the product of the two experts, and counts of what
    happened (rows, candidates kept, candidates dropped as B never saw them, rows left to A alone)."""
    if len(a["candidates"]) != len(b["candidates"]):
        raise ValueError(f"the two knowledge files have {len(a['candidates'])} and {len(b['candidates'])} rows: "
                         "they are not of the same masked table")
    seen_b = b["valid"] & np.isfinite(b["recon_loss"])
    # (N, K_a, K_b): B's slot holding A's candidate; each proposal sits in at most one slot of a row
    same = (a["candidates"][:, :, None] == b["candidates"][:, None, :]) & seen_b[:, None, :]
    loss_b = np.where(same, b["recon_loss"][:, None, :], np.inf).min(-1)
    valid_a = a["valid"] & np.isfinite(a["recon_loss"])
    both = valid_a & np.isfinite(loss_b)
    alone = valid_a.any(1) & ~both.any(1)  # B saw none of A's candidates: A alone decides this row
    loss = np.where(both, w_a * a["recon_loss"] + w_b * np.where(both, loss_b, 0.0), np.inf)
    loss = np.where(alone[:, None], a["recon_loss"], loss).astype(np.float32)
    valid = np.where(alone[:, None], a["valid"], both)
    out = dict(a, recon_loss=loss, valid=valid)
    counts = {"rows": int(len(loss)), "candidates_both": int(both.sum()),
              "candidates_dropped": int((valid_a & ~both & ~alone[:, None]).sum()), "rows_a_alone": int(alone.sum())}
    return out, counts


def read(path: Path) -> tuple[dict[str, dict[str, np.ndarray]], int]:
    """Every split of a knowledge file (teacher.read_knowledge) and its top-K."""
    try:
        with h5py.File(path, "r") as h5:
            splits, topk = list(h5), int(h5.attrs["topk"])
        return {s: read_knowledge(str(path), s) for s in splits}, topk
    except (OSError, KeyError) as e:
        raise SystemExit(f"{path}: not a teacher's knowledge file ({e})") from e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weights", type=float, nargs=2, default=(1.0, 1.0), metavar=("W_A", "W_B"))
    args = ap.parse_args()
    a, topk = read(args.a)
    b, _ = read(args.b)
    if set(a) != set(b):
        raise SystemExit(f"{args.a} has splits {sorted(a)}, {args.b} has {sorted(b)}")
    out, report = {}, {}
    for split in sorted(a):
        try:
            out[split], report[split] = combine_split(a[split], b[split], *args.weights)
        except ValueError as e:
            raise SystemExit(f"{args.a} and {args.b}, split {split}: {e}") from e
    write_knowledge(str(args.out), out, {"topk": topk})  # atomic, as the teacher stage writes its own
    print(json.dumps(report))


if __name__ == "__main__":
    main()
