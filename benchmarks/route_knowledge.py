"""Two teachers, each for the words it reads: attribute words scored by teacher A's decoder, every other hidden word
by teacher B's, over A's candidates.

The fine stage scores a candidate by how well its decoder reconstructs the sentence's hidden words from it
(`reconstruction_score`: 0.7 x the mean NLL of the hidden keywords + 0.3 x that of the other words). A hidden
attribute word ("wooden", "round", "largest") describes the object itself; any other hidden word (mostly anchor
nouns: "next to the [table]") names something around it. On world 2 at ScanRefer's size a decoder that reads only
its candidate (`sf`) reads attribute words best and a decoder that also reads the candidate's surroundings
(`decoder_reads_scene`, `sfs`) reads anchor nouns best (RESULTS "The overlay as adopted, the scene reader after
bags of one, and two teachers each for the words it reads"); each loses what the other reads. A product of their whole scores (combine_knowledge.py) mixes both readings on every word.
Here each word is scored by the teacher that reads its kind:

    score_k = 0.7 * (sum_attr NLL_A(w | k) + sum_other-keywords NLL_B(w | k)) / n_keywords
            + 0.3 * mean_visible NLL_A(w | k)

`models.grounding.routed_score` is the score, as the one teacher with two decoders (`anchor_decoder`) takes it.
Both teachers run on A's candidates (B's coarse stage plays no part), so no candidate drops out, and with B = A the
score is A's own (a test checks it against the teacher's knowledge). Attribute words are the rule tagger's
colour, material, shape and size lexicons (`tagger.ATTRIBUTES`, keyword_readout.py's kinds), word lists that read
real descriptions too: of the keywords the tagger hides in 1,000 real ScanRefer training rows, 0.36 are attribute
words, and 0.79 of the rows hide both kinds (world 2: 0.40 and 0.60; keyword_coverage.py).
The scores are taken with the keywords hidden only, as the teacher's knowledge is with `knowledge_draws: 0`.

The output keeps A's rows, candidates, coarse weights, validity and predicted class, with the routed scores as
`recon_loss`; distill and evaluate read it as any teacher's knowledge.

Usage (A's pipeline root, whose params name the data):
    PYTHONPATH=src python benchmarks/route_knowledge.py models/teacher/teacher.pt B/models/teacher/teacher.pt \
        data/teacher/knowledge.h5 --out OUT/knowledge.h5 [--json OUT/route.json]
`run_variants.py` runs it for `teacher_from=A; route_with=B`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from ws3dvg.engine import artifacts
from ws3dvg.engine.atomic import write_json
from ws3dvg.engine.config import load_params, resolve_device
from ws3dvg.engine.training import autocast, make_loader, to_device
from ws3dvg.grounding.data import collate
from ws3dvg.grounding.self_training import fine_pick
from ws3dvg.grounding.teacher import attribute_word_mask, load_teacher, read_knowledge, write_knowledge
from ws3dvg.models.grounding import routed_score, token_nll
from ws3dvg.text.vocab import Vocabulary


def sentence_nll(model, batch: dict, candidates: torch.Tensor, amp: bool, device) -> torch.Tensor:
    """The model's NLL of every word under each given candidate: candidates (B, S, K) -> (B, S, K, L), float32."""
    with autocast(device, amp):
        logits = model(batch, draws={"candidates": candidates})["recon_logits"]
    b, s, k, length, v = logits.shape
    ids = batch["ids"][:, :, None, :].expand(b, s, k, length).reshape(-1, length)
    return token_nll(logits.reshape(-1, length, v).float(), ids, 0.1).view(b, s, k, length)


@torch.no_grad()
def route_split(checkpoint_a: str, checkpoint_b: str, knowledge: dict, paths: dict, split: str,
                device) -> dict:
    """A's knowledge of `split` with each valid candidate's recon_loss replaced by the routed score."""
    model_a, cfg_a, ds_a = load_teacher(checkpoint_a, paths, split)
    model_b, cfg_b, ds_b = load_teacher(checkpoint_b, paths, split)
    if len(ds_a.lang["ids"]) != len(knowledge["candidates"]):
        raise SystemExit(f"{split}: the knowledge has {len(knowledge['candidates'])} rows, the masked table "
                         f"{len(ds_a.lang['ids'])}: not of the same data")
    model_a.to(device), model_b.to(device)
    vocab = Vocabulary.load(Path(paths["language_dir"]) / "vocab.json")
    is_attribute = attribute_word_mask(vocab.words).to(device)
    cand_all = torch.as_tensor(knowledge["candidates"])
    valid = knowledge["valid"] & np.isfinite(knowledge["recon_loss"])
    score = np.full(knowledge["recon_loss"].shape, np.inf, np.float32)
    k = cand_all.shape[1]
    loaders = [make_loader(ds, cfg_a["batch_size"], False, 0, collate, 0, device) for ds in (ds_a, ds_b)]
    for batch_a, batch_b in tqdm(zip(*loaders), total=len(loaders[0]), desc=f"route {split}", leave=False):
        if not torch.equal(batch_a["sentence_index"], batch_b["sentence_index"]):
            raise SystemExit(f"{split}: the two teachers' datasets order the sentences differently")
        sel, idx = batch_a["sent_mask"], batch_a["sentence_index"]
        given = torch.zeros(sel.shape + (k,), dtype=torch.long)
        given[sel] = cand_all[idx[sel]]                                   # A's candidates, padding rows at 0
        batch_a, batch_b, given = to_device(batch_a, device), to_device(batch_b, device), given.to(device)
        nll_a = sentence_nll(model_a, batch_a, given, cfg_a["amp"], device)
        nll_b = sentence_nll(model_b, batch_b, given, cfg_b["amp"], device)
        sel_d = sel.to(device)
        tokens = batch_a["mask"][sel_d]
        attribute = is_attribute[batch_a["ids"][sel_d].long()]
        score[idx[sel].numpy()] = routed_score(nll_a[sel_d], nll_b[sel_d], tokens[:, None],
                                               attribute[:, None]).cpu().numpy()
    return dict(knowledge, recon_loss=np.where(valid, score, np.inf).astype(np.float32), valid=valid)


def route(checkpoint_a: str, checkpoint_b: str, knowledge_a: str, out: str, paths: dict, device) -> dict:
    """Write the routed knowledge of every split of `knowledge_a` to `out` -> per split the rows with 2+ valid
    candidates and the share of them whose pick differs from A's."""
    with h5py.File(knowledge_a, "r") as h5:
        splits, topk = list(h5), int(h5.attrs["topk"])
    routed, report = {}, {}
    for split in splits:
        a = read_knowledge(knowledge_a, split)
        routed[split] = route_split(checkpoint_a, checkpoint_b, a, paths, split, device)
        several = routed[split]["valid"].sum(1) >= 2
        changed = fine_pick(routed[split]) != fine_pick(a)
        report[split] = {"rows_with_choice": int(several.sum()), "pick_changed": float(changed[several].mean())}
    write_knowledge(out, routed, {"topk": topk})
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teacher_a", help="the teacher whose candidates are kept and which scores the attribute words")
    ap.add_argument("teacher_b", help="the teacher which scores the other hidden words")
    ap.add_argument("knowledge_a", help="teacher A's knowledge.h5")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json")
    args = ap.parse_args()
    for f in (args.teacher_a, args.teacher_b, args.knowledge_a):
        if not Path(f).exists():
            raise SystemExit(f"{f}: not found")
    params = load_params()
    paths = artifacts.grounding_paths(params["data"]["preprocessed"], "masked", "language_dir", "proposals_train",
                                      "proposals_val", "preprocessed")
    report = route(args.teacher_a, args.teacher_b, args.knowledge_a, args.out, paths,
                   resolve_device(params["base"]["device"]))
    for split, row in report.items():
        print(f"{split}: {row['rows_with_choice']} rows with a choice, pick changed on {row['pick_changed']:.3f}")
    if args.json:
        write_json(args.json, {"teacher_a": args.teacher_a, "teacher_b": args.teacher_b, "splits": report}, indent=1)


if __name__ == "__main__":
    main()
