"""Does the fine stage's decoder read a hidden word off its candidate? Per kind of keyword, on the val split.

The fine stage picks, among a sentence's candidates, the one whose feature best reconstructs the hidden
keywords. A kind of word (colour, material, shape, ...) can only decide where the decoder predicts it better
from the target than from the other candidates. For every hidden keyword of every val sentence whose target is
among two or more valid candidates, this runs the trained teacher once and reports per kind:

- `top1_target`: the decoder's most likely word, given the target, is the hidden word;
- `top1_other`: the same, given another candidate (the mean over them);
- `margin`: mean over positions of (mean NLL given the others) - (NLL given the target), in nats;
- `target_best`: share of positions where the target gives the hidden word its lowest NLL of all candidates;

and (`fine_choice`) the share of those sentences where the fine stage's score is lowest for the target, and
(`words`) the same four numbers for each attribute word hidden at least 20 times, so that runs whose lexicons
group words differently can still be compared word by word.

`choice_by_words` asks whether the fine stage's mean over every hidden word drowns the words that tell objects of
one class apart: the same choice, scored by the mean NLL of the hidden keywords (`keywords`), of the attribute
words alone where a sentence hides one and of every keyword where it hides none (`attributes_or_keywords`), and of
the other keywords alone (`nouns`). Over the same sentences as `fine_choice`.

A kind with `top1_target` high and `margin` near 0 is guessed from the text; with `margin` > 0 it is read off
the candidate. Kinds come from the rule tagger's lexicons; any other keyword counts as `noun` (anchors).

A teacher with `anchor_decoder` scores the attribute words with its first decoder and every other word with the
second; the readout reads each word from the decoder that scores it (`decoders: routed`), so `noun` is the second
decoder's.

Usage (pipeline root): PYTHONPATH=src python benchmarks/keyword_readout.py [models/teacher/teacher.pt] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_features import write_json  # noqa: E402

from ws3dvg.engine import artifacts  # noqa: E402
from ws3dvg.engine.config import load_params, resolve_device  # noqa: E402
from ws3dvg.engine.training import make_loader, to_device  # noqa: E402
from ws3dvg.grounding.data import collate  # noqa: E402
from ws3dvg.grounding.student import full_supervision_targets  # noqa: E402
from ws3dvg.grounding.teacher import load_teacher  # noqa: E402
from ws3dvg.text import tagger  # noqa: E402
from ws3dvg.text.vocab import KEYWORD, Vocabulary  # noqa: E402

# material first: the tagger's colour lexicon holds "wooden" too (the first GPU readout counted it as a colour)
KINDS = {"material": tagger.MATERIALS, "colour": tagger.COLOURS, "shape": tagger.SHAPES, "size": tagger.SIZES}


def word_kind(word: str) -> str:
    return next((k for k, lexicon in KINDS.items() if word in lexicon), "noun")


def readout(nll: np.ndarray, top1: np.ndarray, is_target: np.ndarray, valid: np.ndarray) -> dict:
    """Per keyword position p: nll (P, K) of the hidden word under each candidate, top1 (P, K) whether it is the
    decoder's argmax, is_target (P, K) one True per row, valid (P, K). -> the four numbers of the docstring."""
    other = valid & ~is_target
    n_other = other.sum(1)
    t_nll = nll[is_target]
    o_nll = np.where(other, nll, 0).sum(1) / n_other
    best = np.where(valid, nll, np.inf).argmin(1) == is_target.argmax(1)
    return {"n": int(len(nll)), "top1_target": float(top1[is_target].mean()),
            "top1_other": float((np.where(other, top1, 0).sum(1) / n_other).mean()),
            "margin": float((o_nll - t_nll).mean()), "target_best": float(best.mean())}


def choice_by_words(nll: np.ndarray, keyword: np.ndarray, attribute: np.ndarray, valid: np.ndarray,
                    target: np.ndarray) -> dict[str, np.ndarray]:
    """Per sentence: nll (N, K, L) of each position's word under each candidate, keyword (N, L) the hidden
    keywords, attribute (N, L) those of them that are attribute words, valid (N, K), target (N,) the target's
    candidate. -> {word set: (N,) bool, the valid candidate of lowest mean NLL over that set is the target}. A
    sentence with no word of the set falls to the first valid candidate (the coarse stage's best) for `nouns`."""
    def lowest(m: np.ndarray) -> np.ndarray:
        count = m.sum(1)[:, None]
        score = (nll * m[:, None, :]).sum(-1) / np.maximum(count, 1)
        return np.where(valid, score, np.inf).argmin(1) == target
    nouns = keyword & ~attribute
    has = attribute.any(1, keepdims=True)
    return {"keywords": lowest(keyword), "attributes_or_keywords": lowest(np.where(has, attribute, keyword)),
            "nouns": lowest(nouns)}


def word_nll(logits: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (B, S, K, L, V) of a decoder, ids (B, S, L) the sentences' words -> the NLL of each position's word
    under each candidate and whether it is the decoder's argmax, both (B, S, K, L) on the CPU."""
    logp = logits.float().log_softmax(-1)
    b, s, k, length, _ = logp.shape
    ids = ids[:, :, None, :].expand(b, s, k, length)
    nll = -logp.gather(-1, ids[..., None].long()).squeeze(-1)
    return nll.cpu(), (logp.argmax(-1) == ids).cpu()


@torch.no_grad()
def collect(checkpoint: str, paths: dict, device: torch.device, min_count: int = 20) -> dict[str, dict]:
    """The readout per kind (and per attribute word hidden `min_count` times or more, under "words") of the
    teacher at `checkpoint` over the val split of `paths` (grounding_paths)."""
    model, cfg, ds = load_teacher(checkpoint, paths, "val")
    model.to(device)
    vocab = Vocabulary.load(Path(paths["language_dir"]) / "vocab.json")
    kind_of = np.array([word_kind(w) for w in vocab.words])
    target = full_supervision_targets(paths, "val")  # each sentence's proposal of highest IoU with its target box
    rows: dict[str, list] = {"nll": [], "top1": [], "target": [], "valid": [], "word": []}
    chosen = []  # per sentence with the target among 2+ valid candidates: does the fine stage choose it?
    by_words: dict[str, list] = {}  # the same choice with other word sets (choice_by_words)
    for batch in make_loader(ds, cfg["batch_size"], False, 0, collate, 0, device):
        batch = to_device(batch, device)
        res = model(batch)
        nll, top1 = word_nll(res["recon_logits"], batch["ids"])               # (B, S, K, L)
        if "anchor_logits" in res:  # anchor_decoder: the words that are not attribute words are the second's
            routed = model.attribute_words[batch["ids"].long()].cpu()[:, :, None, :]   # the teacher's own routing
            nll_b, top1_b = word_nll(res["anchor_logits"], batch["ids"])
            nll, top1 = torch.where(routed, nll, nll_b), torch.where(routed, top1, top1_b)
        res = {key: res[key].cpu() for key in ("candidates", "candidate_valid", "recon")}
        batch = to_device(batch, torch.device("cpu"))
        sel = batch["sent_mask"]
        idx = batch["sentence_index"][sel].numpy()
        cand = res["candidates"][sel].numpy()                                  # (N, K)
        valid = res["candidate_valid"][sel].numpy()
        is_target = valid & (cand == target[idx, None])
        keep = is_target.any(1) & (valid.sum(1) >= 2)
        chosen.append((res["recon"][sel].numpy().argmin(1) == is_target.argmax(1))[keep])
        kw = batch["mask"][sel].numpy() == KEYWORD                              # (N, L)
        attribute = kw & (kind_of[batch["ids"][sel].numpy()] != "noun")
        for key, hit in choice_by_words(nll[sel].numpy()[keep], kw[keep], attribute[keep], valid[keep],
                                        is_target[keep].argmax(1)).items():
            by_words.setdefault(key, []).append(hit)
        n_, l_ = np.nonzero(kw & keep[:, None])
        rows["nll"].append(nll[sel].numpy()[n_, :, l_])
        rows["top1"].append(top1[sel].numpy()[n_, :, l_])
        rows["target"].append(is_target[n_])
        rows["valid"].append(valid[n_])
        rows["word"].append(batch["ids"][sel].numpy()[n_, l_])
    arr = {key: np.concatenate(v) for key, v in rows.items()}
    arr["kind"] = kind_of[arr["word"]]
    out = {}
    for kind in list(KINDS) + ["noun"]:
        m = arr["kind"] == kind
        if m.any():
            out[kind] = readout(arr["nll"][m], arr["top1"][m], arr["target"][m], arr["valid"][m])
    hit = np.concatenate(chosen)
    out["fine_choice"] = {"n": int(len(hit)), "target_lowest": float(hit.mean())}
    out["decoders"] = "routed" if model.anchor_decoder is not None else "one"
    out["choice_by_words"] = {key: float(np.concatenate(v).mean()) for key, v in by_words.items()}
    words, counts = np.unique(arr["word"][arr["kind"] != "noun"], return_counts=True)
    out["words"] = {vocab.words[w]: readout(*(arr[key][arr["word"] == w] for key in ("nll", "top1", "target", "valid")))
                    for w in words[counts >= min_count]}
    return out


def report(out: dict, json_path: str | None, **header) -> None:
    """Print collect()'s readout per kind, then the fine stage's choice; write it with `header` and the per-word
    readout as JSON (json_path None: print only)."""
    words, decoders = out.pop("words"), out.pop("decoders", "one")
    print("decoders", decoders)
    for kind, row in out.items():
        print(f"{kind:11s}", "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    write_json({**header, "decoders": decoders, "kinds": out, "words": words}, json_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", default=artifacts.TEACHER_WEIGHTS)
    ap.add_argument("--json")
    args = ap.parse_args()
    params = load_params()
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    report(collect(args.checkpoint, paths, resolve_device(params["base"]["device"])), args.json,
           checkpoint=args.checkpoint)


if __name__ == "__main__":
    main()
