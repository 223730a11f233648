"""Grounding networks (DESIGN.md section 3): language encoder, relation encoder, coarse scorer,
masked-keyword reconstruction decoder (the teacher's fine stage) and the two-stage student.

Shapes: B scenes, S sentences per scene (lang_num_max), P proposals, L words, K candidates,
H hidden (288). Sentences stay as a (B, S) grid with a mask instead of being packed, so every
step has static shapes (no host syncs, no per-sentence loops).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..text.vocab import KEYWORD, PADDING

UNK_ID = 1
FIRST_WORD_ID = 4  # ids below are [pad], unk, [sos], [eos]


class LanguageEncoder(nn.Module):
    """Word vectors -> GRU -> word features, sentence vector (last hidden state), 18-class logits."""

    def __init__(self, vocab_size: int, emb_dim: int = 300, hidden: int = 288, num_class: int = 18,
                 word_dropout: float = 0.2, dropout: float = 0.1, embeddings: torch.Tensor | None = None,
                 freeze_embeddings: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        if embeddings is not None:
            self.embedding.weight.data.copy_(embeddings)
            self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.gru = nn.GRU(emb_dim, hidden, batch_first=True)
        self.word_proj = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.LayerNorm(hidden))
        self.classifier = nn.Linear(hidden, num_class)
        self.word_dropout = word_dropout

    def forward(self, ids: torch.Tensor, length: torch.Tensor) -> dict:
        """ids (N, L), length (N,) -> word (N, L, H), sentence (N, H), class_logits (N, C), word_mask (N, L)."""
        valid = torch.arange(ids.shape[1], device=ids.device) < length[:, None]
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids >= FIRST_WORD_ID) & valid
            ids = torch.where(drop, torch.full_like(ids, UNK_ID), ids)
        out, _ = self.gru(self.embedding(ids))
        # the GRU is unidirectional: its output at length-1 is the state after the last real word
        sent = out.gather(1, (length - 1).clamp_min(0)[:, None, None].expand(-1, 1, out.shape[-1])).squeeze(1)
        return {"word": self.word_proj(out), "sentence": sent, "class_logits": self.classifier(sent), "word_mask": valid}


class RelationEncoder(nn.Module):
    """Proposal features -> MLP, plus box (corner) and multiview embeddings -> self-attention layers.

    The detector's own verdict on each proposal (18 class scores and objectness) goes into the MLP
    with its feature: released detectors' features carry it implicitly, pooled backbone features
    (gt mode) do not.
    """

    def __init__(self, in_dim: int, hidden: int = 288, heads: int = 8, layers: int = 2, multiview_dim: int = 0,
                 dropout: float = 0.1, num_class: int = 18):
        super().__init__()
        self.input_norm = nn.LayerNorm(in_dim)
        self.features_mlp = nn.Sequential(nn.Linear(in_dim + num_class + 1, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.box_embedding = nn.Sequential(nn.Linear(24, hidden), nn.LayerNorm(hidden))
        self.multiview_embedding = nn.Sequential(nn.Linear(multiview_dim, 32), nn.ReLU(), nn.Linear(32, hidden)) \
            if multiview_dim else None
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True)
                                    for _ in range(layers))

    def forward(self, features, corners, prop_mask, multiview=None, class_scores=None, objectness=None) -> torch.Tensor:
        extra = [class_scores if class_scores is not None else features.new_zeros(features.shape[:2] + (18,)),
                 (objectness if objectness is not None else features.new_ones(features.shape[:2]))[..., None]]
        x = self.features_mlp(torch.cat([self.input_norm(features)] + extra, -1))
        x = x + self.box_embedding(corners.flatten(-2))
        if self.multiview_embedding is not None and multiview is not None:
            x = x + self.multiview_embedding(multiview)
        pad = ~prop_mask
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return x


def masked_softmax(x: torch.Tensor, keep: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.softmax(x.masked_fill(~keep, float("-inf")), dim).nan_to_num(0.0)


def coarse_weights(sentence, proposal, class_scores, class_logits, objectness, prop_mask, *, use_feature=True,
                   use_class=True, objectness_threshold=0.5, temperature=0.1):
    """Per sentence and proposal the coarse weight (DESIGN.md): 0.5 * softmax(sim) + softmax(detector score
    at the predicted class) + cosine(detector class scores, language class distribution).

    sentence (B, S, H), proposal (B, P, H), class_scores (B, P, C), class_logits (B, S, C), objectness (B, P),
    prop_mask (B, P). Non-objects and padding get -inf, so top-K never picks them.
    """
    keep = (prop_mask & (objectness >= objectness_threshold))[:, None, :]  # (B, 1, P)
    w = torch.zeros(sentence.shape[:2] + proposal.shape[1:2], device=sentence.device, dtype=sentence.dtype)
    if use_feature:
        sim = torch.einsum("bsh,bph->bsp", F.normalize(sentence, dim=-1), F.normalize(proposal, dim=-1))
        w = w + 0.5 * masked_softmax(sim / temperature, keep)
    if use_class:
        pred = class_logits.argmax(-1)  # (B, S)
        at_pred = class_scores.gather(2, pred[:, None, :].expand(-1, class_scores.shape[1], -1)).transpose(1, 2)
        w = w + masked_softmax(at_pred, keep)
        w = w + torch.einsum("bpc,bsc->bsp", F.normalize(class_scores, dim=-1),
                             F.normalize(class_logits.softmax(-1), dim=-1))
    return w.masked_fill(~keep, float("-inf"))


def sinusoid(length: int, dim: int, device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


class ReconstructionDecoder(nn.Module):
    """Masked keyword reconstruction conditioned on one candidate: causal self-attention over the
    (masked) word features, cross-attention to the candidate's feature, vocabulary logits."""

    def __init__(self, vocab_size: int, hidden: int = 288, layers: int = 3, heads: int = 8, dropout: float = 0.1):
        super().__init__()
        self.mask_vector = nn.Parameter(torch.zeros(hidden))
        nn.init.normal_(self.mask_vector, std=0.02)
        layer = nn.TransformerDecoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.output = nn.Linear(hidden, vocab_size)

    def forward(self, words: torch.Tensor, masked: torch.Tensor, valid: torch.Tensor, candidate: torch.Tensor):
        """words (M, L, H), masked/valid (M, L), candidate (M, H) -> logits (M, L, V)."""
        length = words.shape[1]
        x = torch.where(masked[..., None], self.mask_vector.to(words.dtype), words) + sinusoid(length, words.shape[-1],
                                                                                               words.device)
        causal = torch.ones(length, length, dtype=torch.bool, device=words.device).triu(1)  # True: not visible
        h = self.decoder(x, candidate[:, None, :], tgt_mask=causal, tgt_key_padding_mask=~valid, tgt_is_causal=True)
        return self.output(h)


def reconstruction_loss(logits, target, masked, valid, smoothing=0.1, masked_weight=0.7, unmasked_weight=0.3):
    """Per row: label-smoothed NLL, averaged over masked words (weight 0.7) and unmasked words (0.3).

    logits (M, L, V), target/masked/valid (M, L) -> (M,)
    """
    logp = logits.float().log_softmax(-1)
    nll = -logp.gather(-1, target[..., None]).squeeze(-1)
    tok = (1 - smoothing) * nll - smoothing * logp.mean(-1)
    m = (masked & valid).float()
    u = (~masked & valid).float()
    return masked_weight * (tok * m).sum(-1) / m.sum(-1).clamp_min(1) + \
        unmasked_weight * (tok * u).sum(-1) / u.sum(-1).clamp_min(1)


def gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, P, ...) , idx (B, S, K) -> (B, S, K, ...)."""
    b, s, k = idx.shape
    flat = idx.reshape(b, s * k)
    extra = x.shape[2:]
    out = x.gather(1, flat.view(b, s * k, *([1] * len(extra))).expand(b, s * k, *extra))
    return out.view(b, s, k, *extra)


class Teacher(nn.Module):
    """Coarse-to-fine semantic matching: coarse top-K, then reconstruction loss of every candidate."""

    def __init__(self, vocab_size: int, feature_dim: int, cfg: dict, embeddings: torch.Tensor | None = None,
                 multiview_dim: int = 0):
        super().__init__()
        h = cfg["hidden"]
        self.cfg = cfg
        self.language = LanguageEncoder(vocab_size, cfg["embedding_dim"] if embeddings is None else embeddings.shape[1],
                                        h, word_dropout=cfg["word_dropout"], embeddings=embeddings)
        self.relation = RelationEncoder(feature_dim, h, multiview_dim=multiview_dim)
        self.decoder = ReconstructionDecoder(vocab_size, h)

    def encode(self, batch: dict) -> dict:
        b, s, length = batch["ids"].shape
        lang = self.language(batch["ids"].view(b * s, length), batch["length"].view(b * s))
        prop = self.relation(batch["features"], batch["corners"], batch["prop_mask"], batch.get("multiview"),
                             batch["class_scores"], batch["objectness"])
        return {"word": lang["word"].view(b, s, length, -1), "sentence": lang["sentence"].view(b, s, -1),
                "class_logits": lang["class_logits"].view(b, s, -1), "word_mask": lang["word_mask"].view(b, s, length),
                "proposal": prop}

    def forward(self, batch: dict, random_mask: float = 0.0) -> dict:
        cfg = self.cfg
        enc = self.encode(batch)
        b, s, length = batch["ids"].shape
        weights = coarse_weights(enc["sentence"], enc["proposal"], batch["class_scores"], enc["class_logits"].detach(),
                                 batch["objectness"], batch["prop_mask"], use_feature=cfg["use_feature_term"],
                                 use_class=cfg["use_class_terms"], objectness_threshold=cfg["objectness_threshold"])
        k = min(cfg["topk"], weights.shape[-1])
        top_w, cand = weights.detach().topk(k, dim=-1)  # (B, S, K)
        cand_valid = torch.isfinite(top_w) & batch["sent_mask"][..., None]
        out = {**enc, "coarse": weights, "candidates": cand, "candidate_weights": top_w, "candidate_valid": cand_valid}
        if not cfg["use_reconstruction"]:
            return out
        # masked words: keywords, plus a random share of the other real words in training
        tokens = batch["mask"]
        masked = tokens == KEYWORD
        if random_mask > 0:
            masked = masked | ((torch.rand(masked.shape, device=masked.device) < random_mask) & (tokens != PADDING))
        valid = tokens != PADDING
        # all candidates of all sentences in one decoder pass: rows (B * S * K)
        m = b * s * k
        words = enc["word"][:, :, None].expand(-1, -1, k, -1, -1).reshape(m, length, -1)
        cand_feat = gather_rows(enc["proposal"], cand).reshape(m, -1)
        rep = lambda t: t[:, :, None].expand(-1, -1, k, -1).reshape(m, length)  # noqa: E731
        logits = self.decoder(words, rep(masked), rep(valid), cand_feat)
        loss = reconstruction_loss(logits, rep(batch["ids"]), rep(masked), rep(valid)).view(b, s, k)
        out["recon"] = loss.masked_fill(~cand_valid, float("inf"))
        return out


def mil_loss(sentence, proposal, prop_mask, sent_mask, temperature: float = 0.1):
    """InfoNCE over the batch's scenes: a sentence against the best-matching proposal of every scene."""
    sim = torch.einsum("bsh,cph->bscp", F.normalize(sentence.float(), dim=-1), F.normalize(proposal.float(), dim=-1))
    sim = sim.masked_fill(~prop_mask[None, None], float("-inf")).amax(-1) / temperature  # (B, S, B)
    target = torch.arange(sentence.shape[0], device=sentence.device)[:, None].expand(-1, sentence.shape[1])
    ce = F.cross_entropy(sim.flatten(0, 1), target.flatten(), reduction="none")
    return (ce * sent_mask.flatten()).sum() / sent_mask.sum().clamp_min(1)


def teacher_losses(out: dict, batch: dict, cfg: dict, epoch: int) -> tuple[torch.Tensor, dict]:
    sm = batch["sent_mask"]
    n = sm.sum().clamp_min(1)
    terms = {"mil": mil_loss(out["sentence"], out["proposal"], batch["prop_mask"], sm),
             "lang_cls": (F.cross_entropy(out["class_logits"].float().flatten(0, 1), batch["class18"].flatten(),
                                          reduction="none") * sm.flatten()).sum() / n}
    if "recon" in out:
        recon = out["recon"].float()
        k = recon.shape[-1]
        keep = k if epoch < cfg["all_candidates_epochs"] else max(1, k // 2)
        best = recon.topk(keep, dim=-1, largest=False).values  # the best half after the first epochs
        finite = torch.isfinite(best)
        per_sentence = torch.where(finite, best, 0).sum(-1) / finite.sum(-1).clamp_min(1)
        terms["recon"] = (per_sentence * sm).sum() / n
    w = cfg["loss_weights"]
    total = sum(w[k] * v for k, v in terms.items())
    return total, terms


class Student(nn.Module):
    """Two-stage grounding head: proposals cross-attend to words, an MLP scores every proposal."""

    def __init__(self, vocab_size: int, feature_dim: int, cfg: dict, embeddings: torch.Tensor | None = None,
                 multiview_dim: int = 0):
        super().__init__()
        h = cfg["hidden"]
        self.language = LanguageEncoder(vocab_size, cfg["embedding_dim"] if embeddings is None else embeddings.shape[1],
                                        h, word_dropout=cfg["word_dropout"], embeddings=embeddings)
        self.relation = RelationEncoder(feature_dim, h, multiview_dim=multiview_dim)
        self.cross_attention = nn.MultiheadAttention(h, 8, dropout=0.1, batch_first=True)
        self.norm = nn.LayerNorm(h)
        self.match = nn.Sequential(nn.Conv1d(h, h, 1), nn.BatchNorm1d(h), nn.PReLU(), nn.Conv1d(h, h, 1),
                                   nn.BatchNorm1d(h), nn.PReLU(), nn.Conv1d(h, 1, 1))

    def forward(self, batch: dict) -> dict:
        b, s, length = batch["ids"].shape
        lang = self.language(batch["ids"].view(b * s, length), batch["length"].view(b * s))
        prop = self.relation(batch["features"], batch["corners"], batch["prop_mask"], batch.get("multiview"),
                             batch["class_scores"], batch["objectness"])
        p = prop.shape[1]
        q = prop[:, None].expand(-1, s, -1, -1).reshape(b * s, p, -1)
        att = self.cross_attention(q, lang["word"], lang["word"], key_padding_mask=~lang["word_mask"], need_weights=False)[0]
        fused = self.norm(q + att)
        scores = self.match(fused.transpose(1, 2)).view(b, s, p)
        scores = scores.masked_fill(~batch["prop_mask"][:, None], float("-inf"))
        return {"scores": scores, "class_logits": lang["class_logits"].view(b, s, -1)}


def rank_rewards(k: int, device=None) -> torch.Tensor:
    """linspace(0.1, 1, K) squared; index 0 is the best rank (largest reward)."""
    return torch.linspace(0.1, 1.0, k, device=device).flip(0) ** 2


def distillation_loss(scores, candidates, recon, cand_valid, sent_mask):
    """Negative log-softmax of the student's scores over all proposals, taken at the teacher's K
    candidates and weighted by their rank reward (lower reconstruction loss = better rank).

    scores (B, S, P); candidates, recon, cand_valid (B, S, K) -> scalar
    """
    k = candidates.shape[-1]
    # cached indices of invalid candidates may point past this batch's padding: never gather there
    candidates = torch.where(cand_valid, candidates, 0).clamp(max=scores.shape[-1] - 1)
    order = recon.masked_fill(~cand_valid, float("inf")).argsort(-1)  # best first
    rank = order.argsort(-1)                                           # rank of each candidate
    reward = rank_rewards(k, scores.device)[rank] * cand_valid
    logp = scores.float().log_softmax(-1).gather(-1, candidates)
    per_sentence = -(torch.where(cand_valid, logp, 0) * reward).sum(-1)
    return (per_sentence * sent_mask).sum() / sent_mask.sum().clamp_min(1)
