"""Grounding networks (docs/design.md §3): language encoder, relation encoder, masked-keyword
reconstruction decoder (the teacher's fine stage) and the two-stage student's match head.

The modules follow the authors' code (WS-3DVG: LangModule, RelationModule, ReconstructModule,
MatchModule) and keep their parameter names, so a state dict of theirs loads with a prefix rename
(`tests/test_reference_equivalence.py` proves the numbers equal). Where ours departs (`grounding/recipe.py`),
the choice is a constructor argument; no forward reads params or flags.

Shapes: B scenes, S sentences per scene (lang_num_max), P proposals, L words, K candidates,
H hidden (288). Sentences stay as a (B, S) grid with a mask instead of being packed, so every
step has static shapes (no host syncs, no per-sentence loops).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import distributed
from ..text.vocab import KEEP, KEYWORD, PADDING

UNK_ID = 1
FIRST_WORD_ID = 4  # ids below are [pad], unk, [sos], [eos]


# --------------------------------------------------------------------------------------------------
# random draws (kept outside the modules so tests can inject the authors' draws)

def draw_word_dropout(length: torch.Tensor, width: int, share: float = 0.2,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The authors' word dropout: int(len * share) positions per sentence (int(len / 5) in their code), drawn
    uniformly from [0, len) with replacement, are replaced by unk. length (N,) -> (N, width) bool.
    Static shapes: a fixed number of draws per row, the surplus ones unused."""
    n, draws = length.shape[0], max(int(width * share) + 1, 1)
    pos = (torch.rand(n, draws, device=length.device, generator=generator) * length[:, None]).long()
    count = torch.floor(length.double() * share + 1e-9).long()
    take = torch.arange(draws, device=length.device)[None] < count[:, None]
    hit = torch.zeros(n, width, device=length.device, dtype=torch.int32)
    hit.scatter_add_(1, pos.clamp(max=width - 1), take.int())
    return hit > 0


def draw_random_mask(real: torch.Tensor, share: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The decoder's random mask: every real word independently with probability `share`."""
    return (torch.rand(real.shape, device=real.device, generator=generator) < share) & real


# --------------------------------------------------------------------------------------------------
# building blocks

def masked_batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """BatchNorm1d over (N, C, P) whose training statistics skip padded entries (keep (N, P) False).
    With nothing padded this is `bn(x)`; the authors never pad (fixed proposal counts). Under torchrun the
    statistics are the global batch's (sums over ranks, differentiable), as one process would compute them."""
    if keep is None or not bn.training:
        return bn(x)
    w = keep[:, None, :].to(x.dtype)
    if distributed.active():
        n = distributed.all_sum(w.sum().float()).clamp_min(1)
        sums = distributed.all_sum_autograd(torch.cat([(x * w).sum((0, 2)), (x * x * w).sum((0, 2))]).float())
        mean, sq = (v / n for v in sums.split(x.shape[1]))
        var = (sq - mean * mean).clamp_min(0)
        mean, var = mean.to(x.dtype), var.to(x.dtype)
    else:
        n = w.sum().clamp_min(1)
        mean = (x * w).sum((0, 2)) / n
        var = (((x - mean[None, :, None]) ** 2) * w).sum((0, 2)) / n
    if bn.track_running_stats:
        with torch.no_grad():
            m = bn.momentum if bn.momentum is not None else 0.1
            bn.running_mean.mul_(1 - m).add_(m * mean.detach())
            bn.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
            bn.num_batches_tracked.add_(1)
    y = (x - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + bn.eps)
    return y * bn.weight[None, :, None] + bn.bias[None, :, None]


class QKVAttention(nn.Module):
    """Multi-head attention with separate q/k/v/o projections (the authors' ScaledDotProductAttention)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.fc_q, self.fc_k, self.fc_v, self.fc_o = (nn.Linear(hidden, hidden) for _ in range(4))
        for fc in (self.fc_q, self.fc_k, self.fc_v, self.fc_o):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, q, k, v, key_padding: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
        """q (N, Q, H), k/v (N, T, H), key_padding (N, T) True = ignore, bias (N, heads, Q, T) added to the
        attention logits -> (N, Q, H)."""
        n, nq, h = q.shape
        split = lambda x: x.view(n, x.shape[1], self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        mask = None if key_padding is None else ~key_padding[:, None, None, :]
        if bias is not None:
            bias = bias.to(q.dtype)
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
        out = F.scaled_dot_product_attention(split(self.fc_q(q)), split(self.fc_k(k)), split(self.fc_v(v)), mask)
        return self.fc_o(out.transpose(1, 2).reshape(n, nq, h))


class AttentionBlock(nn.Module):
    """Attention, dropout, residual, LayerNorm (the authors' MultiHeadAttention wrapper)."""

    def __init__(self, hidden: int, heads: int = 8, dropout: float = 0.1):
        super().__init__()
        self.attention = QKVAttention(hidden, heads)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def forward(self, q, k, v, key_padding=None, bias=None):
        return self.layer_norm(q + self.dropout(self.attention(q, k, v, key_padding, bias)))


# --------------------------------------------------------------------------------------------------
# language

class LanguageEncoder(nn.Module):
    """Word vectors -> GRU (hidden H) -> word features (linear, ReLU, dropout, LayerNorm), sentence
    vector (last hidden state), 18-class logits. Names as the authors' LangModule (gru, lang_cls, fc,
    dropout, layer_norm); `embedding` holds the word vectors their data loader looks up."""

    def __init__(self, vocab_size: int, emb_dim: int = 300, hidden: int = 288, num_class: int = 18,
                 dropout: float = 0.1, embeddings: torch.Tensor | None = None, freeze_embeddings: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        if embeddings is not None:
            self.embedding.weight.data.copy_(embeddings)
            self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.gru = nn.GRU(emb_dim, hidden, batch_first=True)
        self.lang_cls = nn.Sequential(nn.Linear(hidden, num_class))
        self.fc = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def _run(self, emb: torch.Tensor, length: torch.Tensor):
        """The GRU over padded rows equals the packed GRU at every real position (it is unidirectional);
        outputs past the length are zeroed as pad_packed_sequence leaves them."""
        out, _ = self.gru(emb)
        valid = torch.arange(emb.shape[1], device=emb.device)[None] < length[:, None]
        out = out * valid[..., None].to(out.dtype)
        last = out.gather(1, (length - 1).clamp_min(0)[:, None, None].expand(-1, 1, out.shape[-1])).squeeze(1)
        return out, last, valid

    def _words(self, out):
        return self.layer_norm(self.dropout(F.relu(self.fc(out))))

    def embed(self, ids: torch.Tensor, dropped: torch.Tensor | None = None) -> torch.Tensor:
        if dropped is not None:
            ids = torch.where(dropped, torch.full_like(ids, UNK_ID), ids)
        return self.embedding(ids)

    def forward(self, ids: torch.Tensor, length: torch.Tensor, dropped: torch.Tensor | None = None) -> dict:
        """ids (N, L), length (N,), dropped (N, L) words replaced by unk -> word (N, L, H), sentence (N, H),
        class_logits (N, C), word_mask (N, L)."""
        out, last, valid = self._run(self.embed(ids, dropped), length)
        return {"word": self._words(out), "sentence": last, "class_logits": self.lang_cls(last), "word_mask": valid}

    def masked_words(self, ids, length, hide: torch.Tensor, dropped=None) -> torch.Tensor:
        """Word features of the same GRU run again with the `hide` words' vectors set to zero (the
        authors' masked_lang_feat): no position has seen a hidden word."""
        emb = self.embed(ids, dropped) * (~hide)[..., None].to(self.embedding.weight.dtype)
        return self._words(self._run(emb, length)[0])


# --------------------------------------------------------------------------------------------------
# relation encoder

def box_centre(corners: torch.Tensor) -> torch.Tensor:
    """The middle of the corners' extent: (..., 8, 3) -> (..., 3)."""
    return (corners.amin(-2) + corners.amax(-2)) / 2


def box_features(corners: torch.Tensor) -> torch.Tensor:
    """[centre, the 8 corners minus the centre] (27 values)."""
    centre = box_centre(corners)
    return torch.cat([centre, (corners - centre[..., None, :]).flatten(-2)], -1)


class RelationEncoder(nn.Module):
    """The authors' RelationModule. Detector feature -> 1x1 conv, BN, PReLU, 1x1 conv; per layer
    + 0.1 * multiview embedding, + box embedding ([centre, corners - centre]), self-attention block;
    then LayerNorm(dropout(x) + detector feature)."""

    def __init__(self, in_dim: int, hidden: int = 288, heads: int = 8, layers: int = 2, multiview_dim: int = 0,
                 dropout: float = 0.1, distance_bias: bool = False):
        super().__init__()
        # distance_bias: per layer and head a learned multiple of the centres' distance added to the attention
        # logits (zero at the start: the authors' attention until it learns otherwise)
        self.distance_scale = nn.Parameter(torch.zeros(layers, heads)) if distance_bias else None
        # their detector feature is already H wide (GroupFree-3D: 288); a projection only where it is not
        self.input_proj = nn.Linear(in_dim, hidden) if in_dim != hidden else None
        self.features_concat = nn.Sequential(nn.Conv1d(hidden, hidden, 1), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
                                             nn.Conv1d(hidden, hidden, 1))
        self.self_attn = nn.ModuleList(AttentionBlock(hidden, heads, 0.1) for _ in range(layers))
        self.bbox_embedding = nn.ModuleList(nn.Linear(27, hidden) for _ in range(layers))
        self.obj_embedding = nn.ModuleList(nn.Linear(multiview_dim, hidden) for _ in range(layers)) \
            if multiview_dim else None
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def own(self, features: torch.Tensor) -> torch.Tensor:
        """Each proposal's own feature in the hidden width, before any context (the residual's input)."""
        return features if self.input_proj is None else self.input_proj(features)

    def forward(self, features, corners, prop_mask, multiview=None) -> torch.Tensor:
        base = self.own(features)
        fc = self.features_concat
        x = fc[0](base.transpose(1, 2))
        x = fc[3](fc[2](masked_batch_norm(fc[1], x, prop_mask))).transpose(1, 2)
        box = box_features(corners).to(x.dtype)
        pad = ~prop_mask
        dist = None
        if self.distance_scale is not None:
            dist = torch.cdist(box[..., :3].float(), box[..., :3].float())[:, None]  # (B, 1, P, P), metres
        for i, attn in enumerate(self.self_attn):
            if self.obj_embedding is not None and multiview is not None:
                x = x + 0.1 * self.obj_embedding[i](multiview)
            x = x + self.bbox_embedding[i](box)
            x = attn(x, x, x, pad, None if dist is None else -self.distance_scale[i][None, :, None, None] * dist)
        return self.layer_norm(self.dropout(x) + base)


# --------------------------------------------------------------------------------------------------
# the fine stage's decoder

def tensor2tensor_positions(length: int, dim: int, device) -> torch.Tensor:
    """Sinusoidal positions as the authors' SinusoidalPositionalEmbedding (padding index 0): sines in the
    first half, cosines in the second, frequencies exp(-i log(1e4) / (dim/2 - 1)); position 0 is zero."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    ang = torch.arange(length, device=device, dtype=torch.float32)[:, None] * freq[None]
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], 1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(length, 1)], 1)
    emb[0] = 0
    return emb


class InProjAttention(nn.Module):
    """fairseq-style multi-head attention: one packed in-projection (in_proj_weight / in_proj_bias), out_proj;
    no attention dropout (the authors' MultiheadAttention2 as their decoder builds it)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * hidden, hidden))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * hidden))
        self.out_proj = nn.Linear(hidden, hidden)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, memory, key_padding=None, causal: bool = False):
        n, lq, h = x.shape
        w, b = self.in_proj_weight, self.in_proj_bias
        q = F.linear(x, w[:h], b[:h])
        k, v = F.linear(memory, w[h:], b[h:]).chunk(2, -1)
        split = lambda t: t.view(n, t.shape[1], self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        mask = None
        if key_padding is not None:
            mask = ~key_padding[:, None, None, :]
        if causal:
            lk = memory.shape[1]
            future = torch.ones(lq, lk, dtype=torch.bool, device=x.device).tril()
            mask = future[None, None] if mask is None else mask & future[None, None]
        out = F.scaled_dot_product_attention(split(q), split(k), split(v), mask)
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, h))


class DecoderLayer(nn.Module):
    """Post-norm decoder layer (the authors' TransformerDecoderLayer): causal self-attention, cross-attention
    to the memory, feed-forward (2H, ReLU); dropout after each sub-block only."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.dropout = dropout
        self.self_attn = InProjAttention(hidden, heads)
        self.self_attn_layer_norm = nn.LayerNorm(hidden)
        self.encoder_attn = InProjAttention(hidden, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, hidden)
        self.final_layer_norm = nn.LayerNorm(hidden)

    def forward(self, x, pad, memory):
        drop = lambda t: F.dropout(t, self.dropout, self.training)  # noqa: E731
        x = self.self_attn_layer_norm(x + drop(self.self_attn(x, x, pad, causal=True)))
        x = self.encoder_attn_layer_norm(x + drop(self.encoder_attn(x, memory)))
        return self.final_layer_norm(x + drop(self.fc2(F.relu(self.fc1(x)))))


class _Layers(nn.Module):
    def __init__(self, hidden, heads, layers, dropout):
        super().__init__()
        self.decoder_layers = nn.ModuleList(DecoderLayer(hidden, heads, dropout) for _ in range(layers))


class ReconstructionDecoder(nn.Module):
    """Masked keyword reconstruction from one candidate (the authors' ReconstructModule): word features
    (those at `masked` positions replaced by the learned mask vector) plus sinusoidal positions, a 3-layer
    causal decoder cross-attending to the candidate's feature (a memory of length 1; two rows with our
    `decoder_reads_own`), vocabulary logits. Our `decoder_reads_scene` passes `scene`: after each layer, a read of
    the candidate's surroundings (SceneReader)."""

    def __init__(self, vocab_size: int, hidden: int = 288, layers: int = 3, heads: int = 8, dropout: float = 0.2):
        super().__init__()
        self.mask_vec = nn.Parameter(torch.empty(hidden))
        nn.init.xavier_normal_(self.mask_vec[None])
        self.reconstruct_trans = _Layers(hidden, heads, layers, dropout)
        self.vocab_fc = nn.Linear(hidden, vocab_size)

    def forward(self, words: torch.Tensor, masked: torch.Tensor, pad: torch.Tensor, candidate: torch.Tensor,
                scene: tuple | None = None):
        """words (M, L, H), masked/pad (M, L) bool, candidate (M, H) or memory rows (M, R, H), scene (reader,
        rows (M, P, H), absent (M, P)) -> logits (M, L, V)."""
        x = torch.where(masked[..., None], self.mask_vec.to(words.dtype), words)
        x = x + tensor2tensor_positions(words.shape[1], words.shape[-1], words.device).to(words.dtype)
        memory = candidate[:, None, :] if candidate.dim() == 2 else candidate
        for i, layer in enumerate(self.reconstruct_trans.decoder_layers):
            x = layer(x, pad, memory)
            if scene is not None:
                reader, rows, absent = scene
                x = reader.read(i, x, rows, absent)
        return self.vocab_fc(x)


# --------------------------------------------------------------------------------------------------
# the student's head

PAIR_FEATURES = 5


def pair_geometry(corners: torch.Tensor) -> torch.Tensor:
    """Each proposal pair's relative geometry, float32: [centre_j - centre_i (3), distance, distance in the
    floor plane] (metres). corners (B, P, 8, 3) -> (B, P, P, 5)."""
    centre = box_centre(corners).float()
    d = centre[:, None, :, :] - centre[:, :, None, :]
    return torch.cat([d, d.norm(dim=-1, keepdim=True), d[..., :2].norm(dim=-1, keepdim=True)], -1)


class SpatialAttentionBlock(nn.Module):
    """Self-attention among proposals that sees each pair's geometry through the sentence (a departure, after
    ViL3DRel's spatial attention; relative geometry in the values as Shaw et al.'s relative positions): per head the
    logit of i attending to j is q_i . k_j / sqrt(d) + g_h(sentence) . pair(i, j), and i receives
    sum_j a_ij (v_j + W pair(i, j)). So "closest to the door" can pick the door by its words and hand each candidate
    its own distance to it, which a score per proposal then ranks."""

    def __init__(self, hidden: int, heads: int = 8, dropout: float = 0.1):
        super().__init__()
        self.attention = QKVAttention(hidden, heads)
        self.pair_gate = nn.Linear(hidden, heads * PAIR_FEATURES)
        self.pair_value = nn.Linear(heads * PAIR_FEATURES, hidden)
        for fc in (self.pair_gate, self.pair_value):  # zero: plain attention until the geometry earns a weight
            nn.init.zeros_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def forward(self, x, pair, sentence, key_padding):
        """x (N, P, H), pair (N, P, P, F) float32, sentence (N, H), key_padding (N, P) True = ignore -> (N, P, H)."""
        n, p, h = x.shape
        a, heads = self.attention, self.attention.heads
        split = lambda t: t.view(n, p, heads, h // heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(a.fc_q(x)), split(a.fc_k(x)), split(a.fc_v(x))
        logits = (q @ k.transpose(-1, -2)).float() / math.sqrt(h // heads)
        gate = self.pair_gate(sentence).float().view(n, heads, PAIR_FEATURES)
        logits = logits + torch.einsum("nijf,nhf->nhij", pair, gate)
        w = torch.softmax(logits.masked_fill(key_padding[:, None, None, :], float("-inf")), -1)
        out = a.fc_o((w.to(v.dtype) @ v).transpose(1, 2).reshape(n, p, h))
        geometry = torch.einsum("nhij,nijf->nihf", w, pair).reshape(n, p, heads * PAIR_FEATURES)
        out = out + self.pair_value(geometry.to(out.dtype))
        return self.layer_norm(x + self.dropout(out))


class MatchHead(nn.Module):
    """The two-stage grounding head (the authors' MatchModule): each proposal cross-attends to the words,
    then conv-BN-PReLU x2 and a 1-channel conv score it.

    `context_layers` > 0 (a departure; 0 is the authors' head): after reading the sentence the proposals attend to
    each other, their boxes embedded again, then to the words once more, per layer. The authors' head scores
    every proposal alone once it has read the sentence, so a description that compares candidates ("the chair
    farthest from the door", "the second from the left") cannot be answered: the relation encoder before it
    never sees the sentence. `context_geometry` says how those layers see the other proposals: "box" re-embeds each
    box and attends by feature; "pairwise" attends through each pair's geometry as the sentence weighs it
    (`SpatialAttentionBlock`)."""

    def __init__(self, hidden: int = 288, heads: int = 8, context_layers: int = 0, context_geometry: str = "box"):
        super().__init__()
        if context_geometry not in ("box", "pairwise"):
            raise ValueError(f"context_geometry must be box or pairwise, not {context_geometry!r}")
        self.pairwise = context_geometry == "pairwise"
        self.grounding_cross_attn = AttentionBlock(hidden, heads, 0.1)
        self.context_box = nn.ModuleList(nn.Linear(27, hidden) for _ in range(context_layers))
        block = SpatialAttentionBlock if self.pairwise else AttentionBlock
        self.context_self_attn = nn.ModuleList(block(hidden, heads, 0.1) for _ in range(context_layers))
        self.context_cross_attn = nn.ModuleList(AttentionBlock(hidden, heads, 0.1) for _ in range(context_layers))
        # every context layer adds to the authors' feature through a zero-initialised projection, so the head starts as
        # the authors' (LayerNorm of a LayerNorm's output is itself); the extra layers then grow out of a working head
        for fc in [*self.context_box, *(b.attention.fc_o for b in (*self.context_self_attn, *self.context_cross_attn))]:
            nn.init.zeros_(fc.weight)
            nn.init.zeros_(fc.bias)
        self.match = nn.Sequential(nn.Conv1d(hidden, hidden, 1), nn.BatchNorm1d(hidden), nn.PReLU(),
                                   nn.Conv1d(hidden, hidden, 1), nn.BatchNorm1d(hidden), nn.PReLU(),
                                   nn.Conv1d(hidden, 1, 1))

    def forward(self, proposal, word, word_mask, prop_mask, corners=None) -> torch.Tensor:
        """proposal (B, P, H), word (B, S, L, H), word_mask (B, S, L), prop_mask (B, P), corners (B, P, 8, 3)
        (only with context layers) -> scores (B, S, P) (padding proposals -inf)."""
        b, s, length, h = word.shape
        p = proposal.shape[1]
        q = proposal[:, None].expand(-1, s, -1, -1).reshape(b * s, p, h)
        words, word_pad = word.view(b * s, length, h), ~word_mask.view(b * s, length)
        x = self.grounding_cross_attn(q, words, words, word_pad)
        keep = prop_mask[:, None].expand(-1, s, -1).reshape(b * s, p)
        if len(self.context_self_attn):
            box = box_features(corners).to(x.dtype)[:, None].expand(-1, s, -1, -1).reshape(b * s, p, -1)
            if self.pairwise:
                pair = pair_geometry(corners)[:, None].expand(-1, s, -1, -1, -1).reshape(b * s, p, p, PAIR_FEATURES)
                real = (~word_pad)[..., None].to(words.dtype)
                sentence = (words * real).sum(1) / real.sum(1).clamp_min(1)  # the mean word feature
            for embed, self_attn, cross_attn in zip(self.context_box, self.context_self_attn, self.context_cross_attn):
                x = x + embed(box)
                x = self_attn(x, pair, sentence, ~keep) if self.pairwise else self_attn(x, x, x, ~keep)
                x = cross_attn(x, words, words, word_pad)
        m = self.match
        x = x.transpose(1, 2)
        x = m[2](masked_batch_norm(m[1], m[0](x), keep))
        x = m[5](masked_batch_norm(m[4], m[3](x), keep))
        scores = m[6](x).view(b, s, p)
        return scores.masked_fill(~prop_mask[:, None], float("-inf"))


# --------------------------------------------------------------------------------------------------
# teacher and student

def gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, P, ...), idx (B, S, K) -> (B, S, K, ...)."""
    b, s, k = idx.shape
    flat = idx.reshape(b, s * k)
    extra = x.shape[2:]
    out = x.gather(1, flat.view(b, s * k, *([1] * len(extra))).expand(b, s * k, *extra))
    return out.view(b, s, k, *extra)


class Teacher(nn.Module):
    """Coarse-to-fine semantic matching. With `joint_student` (the authors' schedule) the student's match head
    trains inside the teacher's step on the step's own ranking; `class_candidates` is our departure (see
    `same_class_only`). The defaults are the paper's. Names follow their JointNet (lang -> language, relation,
    recnet -> decoder, match)."""

    def __init__(self, vocab_size: int, feature_dim: int, cfg: dict, embeddings: torch.Tensor | None = None,
                 multiview_dim: int = 0, class_candidates: bool = False, joint_student: bool = True,
                 own_feature_match: bool = False, coarse_from_fine: bool = False, relation_distance_bias: bool = False,
                 decoder_reads_own: bool = False, decoder_reads_scene: bool = False,
                 attribute_words: torch.Tensor | None = None):
        super().__init__()
        h = cfg["hidden"]
        self.cfg = cfg
        self.class_candidates, self.joint_student = class_candidates, joint_student
        # our own_feature_match: sentence and proposal are matched (MIL-NCE, the coarse score) on each proposal's own
        # feature, before the relation encoder mixes in its scene
        self.own_feature_match = own_feature_match
        # our decoder_reads_own: the decoder's memory is [own feature, relation output] per candidate, not the output alone
        self.decoder_reads_own = decoder_reads_own
        self.language = LanguageEncoder(vocab_size, cfg["embedding_dim"] if embeddings is None else embeddings.shape[1],
                                        h, embeddings=embeddings)
        self.relation = RelationEncoder(feature_dim, h, multiview_dim=multiview_dim, distance_bias=relation_distance_bias)
        self.decoder = ReconstructionDecoder(vocab_size, h)
        self.match = MatchHead(h) if joint_student else None
        # our coarse_from_fine: a bilinear term of the coarse score's own, between the sentence's bag of word vectors
        # and each proposal's matched feature, fitted after training to the fine stage's order of the candidates
        # (grounding/teacher.fit_coarse_from_fine); zero until then, and made without drawing from the RNG, so the
        # teacher trains exactly as without it
        emb_dim = cfg["embedding_dim"] if embeddings is None else embeddings.shape[1]
        self.coarse_head = nn.Parameter(torch.zeros(emb_dim, h)) if coarse_from_fine else None
        # our decoder_reads_scene: after each decoder layer a read of every proposal of the candidate's scene,
        # what it is and where it lies from the candidate (SceneReader); made last, so the other modules draw the
        # same initial weights as without it
        self.scene = None
        if decoder_reads_scene:  # as many heads and layers as the decoder it reads beside
            layers = self.decoder.reconstruct_trans.decoder_layers
            self.scene = SceneReader(self.language.lang_cls[0].out_features, h, layers[0].encoder_attn.heads,
                                     len(layers))
        # our anchor_decoder (`attribute_words` (V,) bool, the vocabulary's attribute words): a second decoder that
        # also reads the candidate's surroundings scores every hidden word that is not an attribute word; made
        # after every other module, so they draw the same initial weights as without it
        self.anchor_decoder = self.anchor_scene = None
        if attribute_words is not None:
            self.anchor_decoder = ReconstructionDecoder(vocab_size, h)
            layers = self.anchor_decoder.reconstruct_trans.decoder_layers
            self.anchor_scene = SceneReader(self.language.lang_cls[0].out_features, h, layers[0].encoder_attn.heads,
                                            len(layers))
            self.register_buffer("attribute_words", attribute_words.bool(), persistent=False)

    def forward(self, batch: dict, random_mask: float = 0.0, draws: dict | None = None) -> dict:
        """One pass: encoders, coarse top-K, the reconstruction score of every candidate (and, trained jointly,
        the student head's scores). Word dropout happens in training mode; `random_mask` is the share of
        words the decoder sees as the mask vector. `draws` ({"dropped", "random"}) replaces the random draws, and
        its "candidates" (B, S, K') the coarse stage's top-K."""
        cfg, draws = self.cfg, draws or {}
        b, s, length = batch["ids"].shape
        n = b * s
        ids, lens = batch["ids"].view(n, length), batch["length"].view(n)
        dropped = draws.get("dropped")
        if dropped is None and self.training and cfg["word_dropout"] > 0:
            dropped = draw_word_dropout(lens, length, cfg["word_dropout"])
        dropped = None if dropped is None else dropped.view(n, length)
        lang = self.language(ids, lens, dropped)
        prop = self.relation(batch["features"], batch["corners"], batch["prop_mask"], batch.get("multiview"))
        out = {"word": lang["word"].view(b, s, length, -1), "sentence": lang["sentence"].view(b, s, -1),
               "class_logits": lang["class_logits"].view(b, s, -1), "word_mask": lang["word_mask"].view(b, s, length),
               "proposal": prop}
        out["matched"] = self.relation.own(batch["features"]) if self.own_feature_match else prop
        if self.coarse_head is not None and not self.training:  # fitted after training (coarse_from_fine)
            out["bag"] = word_bag(self.language, ids, lang["word_mask"]).view(b, s, -1)
            out["coarse_learned"] = coarse_head_term(out["bag"], self.coarse_head, out["matched"][:, None])
        # the coarse stage ranks with the language classifier's prediction, never trained through the ranking
        weights = coarse_weights(out["sentence"], out["matched"], batch, out["class_logits"].detach(), cfg,
                                 out.get("coarse_learned"))
        if self.class_candidates:
            weights = same_class_only(weights, out["class_logits"].detach(), batch["class_scores"])
        k = min(cfg["topk"], weights.shape[-1])
        top_w, cand = weights.detach().topk(k, dim=-1)  # (B, S, K), best coarse weight first
        if "candidates" in draws:  # given candidates (B, S, K'), e.g. the target alone (benchmarks/oracle_decoder.py)
            cand = draws["candidates"]
            top_w, k = weights.detach().gather(-1, cand), cand.shape[-1]
        cand_valid = torch.isfinite(top_w) & batch["sent_mask"][..., None]
        out.update(coarse=weights, candidates=cand, candidate_weights=top_w, candidate_valid=cand_valid)
        if self.joint_student:
            out["scores"] = self.match(prop, out["word"], out["word_mask"], batch["prop_mask"])
        if not cfg["use_reconstruction"]:
            return out
        tokens = batch["mask"].view(n, length)
        keyword, real = tokens == KEYWORD, tokens != PADDING
        rand = draws.get("random")
        if rand is None:
            rand = draw_random_mask(real, random_mask) if random_mask > 0 else torch.zeros_like(real)
        rand = rand.view(n, length) & real
        # keywords never reach the GRU: the same GRU runs again with their vectors zeroed
        words, hidden = self.language.masked_words(ids, lens, keyword, dropped), rand
        out["masked_word"], out["rand_mask"] = words.view(b, s, length, -1), rand.view(b, s, length)
        # all candidates of all sentences in one decoder pass: rows (B * S * K)
        m = n * k
        rep = lambda t: t.view(n, 1, *t.shape[1:]).expand(n, k, *t.shape[1:]).reshape(m, *t.shape[1:])  # noqa: E731
        memory = gather_rows(prop, cand).reshape(m, 1, -1)
        if self.decoder_reads_own:
            own = out["matched"] if self.own_feature_match else self.relation.own(batch["features"])
            memory = torch.cat([gather_rows(own, cand).reshape(m, 1, -1), memory], 1)
        scene = None
        if self.scene is not None:
            scene = self._scene_rows(self.scene, batch, cand, m, memory.dtype)
        logits = self.decoder(rep(words), rep(hidden), rep(~real), memory, scene)
        out["recon_logits"] = logits.view(b, s, k, length, -1)
        if self.anchor_decoder is None:
            score = reconstruction_score(logits, rep(ids), rep(tokens)).view(b, s, k)
        else:  # attribute words from the first decoder, every other hidden word from the one that reads around
            anchor = self.anchor_decoder(rep(words), rep(hidden), rep(~real), memory,
                                         self._scene_rows(self.anchor_scene, batch, cand, m, memory.dtype))
            score = routed_score(token_nll(logits, rep(ids)), token_nll(anchor, rep(ids)), rep(tokens),
                                 self.attribute_words[rep(ids).long()]).view(b, s, k)
            out["anchor_logits"] = anchor.view(b, s, k, length, -1)
        out["recon"] = score.masked_fill(~cand_valid, float("inf"))
        return out

    @staticmethod
    def _scene_rows(reader: "SceneReader", batch: dict, cand: torch.Tensor, m: int, dtype) -> tuple:
        """What a decoder's scene read takes: (reader, rows (M, P, H), absent (M, P)) for the M candidate rows."""
        rows, absent = reader.rows(batch["class_scores"], batch["corners"], batch["prop_mask"], cand)
        return reader, rows.reshape(m, rows.shape[-2], -1).to(dtype), absent.reshape(m, -1)


# --------------------------------------------------------------------------------------------------
# the fine stage's view of the candidate's surroundings (our decoder_reads_scene)

class SceneReader(nn.Module):
    """Our decoder_reads_scene: the fine stage's decoder reads each candidate's surroundings. Every proposal j of
    the scene becomes a row as candidate c sees it: what j is (a linear embedding of the detector's class scores)
    plus where it lies (an MLP of pair_geometry(c, j): offset, distance, floor distance; j = c is the row at offset
    0). After each decoder layer the words cross-attend to these rows, a residual branch whose output projection
    starts at zero: the decoder starts as without it, and its attention to the candidate's own memory is never
    shared with the scene. Both were measured on the CPU main job (RESULTS "The decoder reads the scene"): rows
    appended to that memory diluted it, and a scalar tanh gate at 0 barely opened in 930 steps (|tanh| <= 0.06).
    Not the other proposals' features: the anchor of "closest to the [sink]" is named by its class, and their
    colours would answer for the candidate's."""

    def __init__(self, num_class: int, hidden: int, heads: int, layers: int):
        super().__init__()
        self.what = nn.Linear(num_class, hidden)
        self.where = nn.Sequential(nn.Linear(PAIR_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.attn = nn.ModuleList(InProjAttention(hidden, heads) for _ in range(layers))
        for attn in self.attn:
            nn.init.zeros_(attn.out_proj.weight)  # (its bias is zero already)

    def rows(self, class_scores: torch.Tensor, corners: torch.Tensor, prop_mask: torch.Tensor,
             cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """class_scores (B, P, C), corners (B, P, 8, 3), prop_mask (B, P), cand (B, S, K) -> rows (B, S, K, P, H)
        and `absent` (B, S, K, P), True for padding proposals."""
        b = prop_mask.shape[0]
        pair = pair_geometry(corners)                                          # (B, P, P, F): centre_j - centre_i
        seen = pair[torch.arange(b, device=cand.device)[:, None, None], cand]  # (B, S, K, P, F) from each candidate
        what = self.what(class_scores.to(self.what.weight.dtype))
        rows = what[:, None, None] + self.where(seen.to(what.dtype))
        return rows, (~prop_mask)[:, None, None, :].expand(cand.shape + prop_mask.shape[1:])

    def read(self, i: int, x: torch.Tensor, rows: torch.Tensor, absent: torch.Tensor) -> torch.Tensor:
        """Layer i's read: x (M, L, H) + attention(x -> rows)."""
        return x + self.attn[i](x, rows, absent)


# --------------------------------------------------------------------------------------------------
# the teacher's pieces without parameters

def word_bag(language: "LanguageEncoder", ids: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
    """Each sentence's mean word vector over its real words, float32: (N, L) -> (N, E)."""
    real = word_mask.unsqueeze(-1).float()
    return (language.embed(ids).float() * real).sum(1) / real.sum(1).clamp_min(1)


def coarse_head_term(bag: torch.Tensor, head: torch.Tensor, proposal: torch.Tensor) -> torch.Tensor:
    """Our coarse_from_fine term, float32: bag of word vectors (..., E) x head (E, H) x proposals (..., P, H)
    -> (..., P); the leading dimensions broadcast (a scene's proposals against each of its sentences)."""
    return torch.einsum("...e,eh,...ph->...p", bag.float(), head, proposal.float())


def coarse_weights(sentence, proposal, batch: dict, lang_logits, cfg: dict, learned=None) -> torch.Tensor:
    """The authors' coarse weight per sentence and proposal (their divide_proposals):
      0.5 * softmax_P(sentence . proposal)  +  softmax_P(detector logit at the predicted class)
      + cosine(detector class logits, language class logits);
    softmaxes over every proposal of the scene; non-objects (and padding) then get -inf. `learned` (B, S, P), our
    coarse_from_fine term, is added to the dot products inside the first softmax.
    sentence (B, S, H), proposal (B, P, H), lang_logits (B, S, C) -> (B, S, P)."""
    prop_mask = batch["prop_mask"]
    det = batch["class_logits"]                                           # (B, P, C)
    w = sentence.new_zeros(sentence.shape[:2] + proposal.shape[1:2])
    pad = ~prop_mask[:, None, :]
    if cfg["use_feature_term"]:
        sim = torch.einsum("bsh,bph->bsp", sentence, proposal)
        sim = sim if learned is None else sim + learned.to(sim.dtype)
        w = w + 0.5 * torch.softmax(sim.float().masked_fill(pad, float("-inf")), -1).to(w.dtype)
    if cfg["use_class_terms"]:
        pred = lang_logits.argmax(-1)                                      # (B, S)
        at_pred = det.gather(2, pred[:, None, :].expand(-1, det.shape[1], -1)).transpose(1, 2)
        w = w + torch.softmax(at_pred.float().masked_fill(pad, float("-inf")), -1).to(w.dtype)
        w = w + F.cosine_similarity(det[:, None].float(), lang_logits[:, :, None].float(), dim=-1).to(w.dtype)
    keep = prop_mask & (batch["objectness"] > cfg["objectness_threshold"])
    return w.masked_fill(~keep[:, None, :], float("-inf"))


def same_class_only(weights, lang_logits, class_scores) -> torch.Tensor:
    """Our departure (`class_candidates`): candidates only among the proposals the detector puts in the sentence's
    predicted class (all of them where the scene has none). The authors' top-K relies on many proposals per
    object (256 in a ScanNet scene); with one proposal per object the other K - n slots fill with anchors
    ("the [window]"), which explain the masked anchor nouns best and win the fine stage."""
    pred = lang_logits.argmax(-1)                                            # (B, S)
    same = (class_scores.argmax(-1)[:, None, :] == pred[..., None]) & torch.isfinite(weights)
    return torch.where(same | ~same.any(-1, keepdim=True), weights, float("-inf"))


def token_nll(logits, target, smoothing: float = 0.1):
    """The authors' label-smoothed NLL of each position's word. logits (..., V), target (...) -> (...)."""
    logp = logits.float().log_softmax(-1)
    nll = -logp.gather(-1, target[..., None].long()).squeeze(-1)
    return (1 - smoothing) * nll - smoothing * logp.mean(-1)


def routed_score(nll_a, nll_b, tokens, attribute, keyword_weight: float = 0.7):
    """Two decoders' token NLLs (..., L) of one sentence under one candidate -> its score (...): the mean over the
    hidden keywords of A's NLL where the word is an attribute word (`attribute` (..., L) True) and B's elsewhere,
    weighted against the mean of A's NLL over the other real words as reconstruction_score weighs them; with
    nll_a == nll_b it is reconstruction_score. Our `anchor_decoder` and benchmarks/route_knowledge.py."""
    return _keyword_weighted(torch.where(attribute, nll_a, nll_b), nll_a, tokens, keyword_weight)


def reconstruction_score(logits, target, tokens, smoothing: float = 0.1, keyword_weight: float = 0.7):
    """The authors' reconstruct_score per row: label-smoothed NLL averaged over keyword positions (weight 0.7)
    and over the other real words (0.3). Lower = the candidate explains the sentence better.
    logits (M, L, V), target (M, L), tokens (M, L) in {0 keep, 1 keyword, 2 padding} -> (M,)"""
    tok = token_nll(logits, target, smoothing)
    return _keyword_weighted(tok, tok, tokens, keyword_weight)


def _keyword_weighted(keyword_nll, other_nll, tokens, keyword_weight: float):
    """keyword_weight x the mean of keyword_nll over the hidden keywords + the rest x the mean of other_nll over the
    other real words (..., L) -> (...): the weighting of reconstruction_score and routed_score."""
    kw, other = (tokens == KEYWORD).float(), (tokens == KEEP).float()
    return keyword_weight * (keyword_nll * kw).sum(-1) / (kw.sum(-1) + 1e-7) + \
        (1 - keyword_weight) * (other_nll * other).sum(-1) / (other.sum(-1) + 1e-7)


class Student(nn.Module):
    """Two-stage grounding model: language encoder, relation encoder, match head. The only model that runs at
    inference (no reconstruction at test time). With `class_prior` (distill's, a departure) each proposal's score
    also gains a learned multiple of `same_class_log_prob`."""

    def __init__(self, vocab_size: int, feature_dim: int, cfg: dict, embeddings: torch.Tensor | None = None,
                 multiview_dim: int = 0):
        super().__init__()
        h = cfg["hidden"]
        self.language = LanguageEncoder(vocab_size, cfg["embedding_dim"] if embeddings is None else embeddings.shape[1],
                                        h, embeddings=embeddings)
        # the distance bias where distill asks for it or where the teacher's encoder, which it starts from, has one
        distance_bias = cfg.get("relation_distance_bias", False) or \
            cfg.get("recipe", {}).get("relation_distance_bias", False)
        self.relation = RelationEncoder(feature_dim, h, multiview_dim=multiview_dim, distance_bias=distance_bias)
        self.match = MatchHead(h, context_layers=cfg.get("match_context_layers", 0),  # older student.pt: none
                               context_geometry=cfg.get("match_context_geometry", "box"))
        # distill.class_prior: a learned weight (from 1) on log P(the proposal is of the sentence's class)
        self.class_prior = nn.Parameter(torch.ones(())) if cfg.get("class_prior", False) else None

    def forward(self, batch: dict, dropped: torch.Tensor | None = None) -> dict:
        b, s, length = batch["ids"].shape
        lang = self.language(batch["ids"].view(b * s, length), batch["length"].view(b * s),
                             None if dropped is None else dropped.view(b * s, length))
        prop = self.relation(batch["features"], batch["corners"], batch["prop_mask"], batch.get("multiview"))
        scores = self.match(prop, lang["word"].view(b, s, length, -1), lang["word_mask"].view(b, s, length),
                            batch["prop_mask"], batch["corners"])
        class_logits = lang["class_logits"].view(b, s, -1)
        if self.class_prior is not None:
            scores = scores.float() + self.class_prior * same_class_log_prob(class_logits, batch["class_scores"])
        return {"scores": scores, "class_logits": class_logits}


def same_class_log_prob(lang_logits: torch.Tensor, class_scores: torch.Tensor) -> torch.Tensor:
    """log P(proposal p is of sentence s's class) = log sum_c softmax(language logits)_c x detector score_p(c), the
    language side detached (it stays a classifier, as the teacher's coarse stage reads it), floored at 1e-6.
    lang_logits (B, S, C), class_scores (B, P, C) -> (B, S, P)."""
    lang_p = lang_logits.detach().float().softmax(-1)
    return torch.einsum("bsc,bpc->bsp", lang_p, class_scores.float()).clamp_min(1e-6).log()
