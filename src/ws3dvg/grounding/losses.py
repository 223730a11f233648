"""The grounding losses, as the authors' code computes them (lib/loss_helper in WS-3DVG), and our
`hard_distillation` and `distill.posterior_targets` next to them. All take the (B scenes, S sentences) grid with
`sent_mask`; nothing loops over sentences or candidates. Which ones a teacher sums is its recipe's choice, passed in.

Under torchrun each rank holds part of the global batch: the means divide by the global count over the number
of ranks (`distributed.global_count`), and MIL-NCE contrasts with every scene of the global batch
(`distributed.all_gather_autograd`), so DDP's mean of the ranks' gradients is the one-process gradient. Alone
both are the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..engine import distributed
from ..engine.errors import ParamsError
from ..models.grounding import token_nll
from ..text.vocab import KEYWORD
from .recipe import Recipe


def mil_nce(sentence: torch.Tensor, proposal: torch.Tensor, prop_mask: torch.Tensor, sent_mask: torch.Tensor):
    """The authors' MIL-NCE: raw dot products of every proposal of scene i with every sentence of scene j
    (padding sentences zeroed, so they still count as exp(0)). Per scene i: numerator = logsumexp over its
    own (sentence, proposal) pairs; denominator = logsumexp over scene i's proposals with every scene's
    sentences together with every scene's proposals with scene i's sentences. Mean of the differences.
    sentence (B, S, H), proposal (B, P, H) -> scalar."""
    sentence, proposal, prop_mask, sent_mask, own = _global_batch(sentence, proposal, prop_mask, sent_mask)
    b, s, _ = sentence.shape
    p = proposal.shape[1]
    sent = sentence.float() * sent_mask[..., None]
    x = torch.einsum("iph,jsh->ijsp", proposal.float(), sent)               # (B_prop, B_sent, S, P)
    x = x.masked_fill(~prop_mask[:, None, None, :], float("-inf")).reshape(b, b, s * p)
    numerator = torch.logsumexp(torch.diagonal(x).T, -1)  # (B,): each scene with its own sentences (no mask index)
    denominator = torch.logsumexp(torch.cat([x, x.transpose(0, 1)], 1).reshape(b, -1), -1)
    return (denominator - numerator)[own].mean()


def _global_batch(sentence, proposal, prop_mask, sent_mask):
    """Under torchrun: every rank's scenes (gathered, differentiable) and the slice of them that are this rank's,
    whose terms this rank averages; alone: the inputs and every scene."""
    if not distributed.active():
        return sentence, proposal, prop_mask, sent_mask, slice(None)
    n, rank = sentence.shape[0], torch.distributed.get_rank()
    gathered = [distributed.all_gather_autograd(t) for t in (sentence, proposal, prop_mask, sent_mask)]
    return (*gathered, slice(rank * n, (rank + 1) * n))


def language_loss(class_logits: torch.Tensor, class18: torch.Tensor, sent_mask: torch.Tensor) -> torch.Tensor:
    """The authors' language classification: cross-entropy averaged over each scene's sentences, then over scenes.
    class_logits (B, S, C), class18 / sent_mask (B, S)."""
    ce = F.cross_entropy(class_logits.float().flatten(0, 1), class18.flatten(), reduction="none").view(class18.shape)
    per_scene = (ce * sent_mask).sum(1) / sent_mask.sum(1).clamp_min(1)
    has = sent_mask.any(1)
    return (per_scene * has).sum() / distributed.global_count(has.sum()).clamp_min(1)


def sentence_log_likelihood(recon: torch.Tensor, valid: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """-n r_k per candidate, -inf where invalid: reconstruction_score averages over words, so n r_k, with n the
    sentence's hidden keywords (at least one), is about its NLL of those words given candidate k. Its softmax over k
    is the teacher's posterior (uniform prior). recon / valid (..., K), words (...) -> (..., K)."""
    n = words.float().clamp_min(1)[..., None]
    return torch.where(valid, -n * torch.where(valid, recon.float(), 0.0), float("-inf"))


def teacher_posterior(recon: torch.Tensor, valid: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """The teacher's posterior over its K candidates, softmax of `sentence_log_likelihood`; a row without a valid
    candidate gets a finite uniform row, which its callers leave unused. recon / valid (..., K), words (...)."""
    ok = valid.any(-1, keepdim=True)
    return torch.where(ok, sentence_log_likelihood(recon, valid, words), 0.0).softmax(-1)


def reconstruction_loss(recon: torch.Tensor, sent_mask: torch.Tensor, all_candidates: bool,
                        valid_half: bool = False, marginal_words: torch.Tensor | None = None) -> torch.Tensor:
    """The authors' schedule: the mean reconstruction score over all K candidates in the first epochs, then over
    the best (lowest) K // 2 of each sentence. recon (B, S, K), inf where a candidate is invalid.

    `valid_half` (our departure `recon_valid_half`): the same over each sentence's *valid* candidates, all of them
    then the best half (at least one), averaged per sentence. The authors' candidates are always K valid ones, so
    theirs is the same; under `class_candidates` a sentence has as many as its class has objects (3-5), and
    their rule then keeps nearly all, so the decoder learns each word from every candidate at once, and a
    sentence with fewer valid candidates than kept counts for less (invalid ones count 0 in the mean).

    `marginal_words` (B, S), the number of hidden keywords of each sentence (our departure `recon_marginal`):
    after the first epochs, each sentence's loss is minus the log of its likelihood marginalised over its valid
    candidates, uniformly, -log mean_k exp(-n r_k) / n with n its hidden words (at least one), so that n r_k is
    about the sentence's total NLL under candidate k. Its gradient weighs each candidate by its posterior,
    softmax_k(-n r_k): a word that no candidate explains yet (material, before the decoder reads it) still
    learns from all of them, where a hard best half would keep whichever won on the other words."""
    r = recon.float()
    valid = torch.isfinite(r)
    if marginal_words is not None and not all_candidates:
        n = marginal_words.float().clamp_min(1)[..., None]
        logit = sentence_log_likelihood(r, valid, marginal_words)
        count = valid.sum(-1)
        has = sent_mask & (count > 0)
        lse = torch.logsumexp(torch.where(has[..., None], logit, 0.0), -1)
        per = -(lse - count.clamp_min(1).float().log()) / n.squeeze(-1)
        return torch.where(has, per, 0.0).sum() / distributed.global_count(sent_mask.sum()).clamp_min(1)
    if valid_half:
        n = valid.sum(-1, keepdim=True)
        keep = n if all_candidates else (n // 2).clamp_min(1)
    else:
        k = r.shape[-1]
        keep = torch.full_like(r[..., :1], k if all_candidates else max(1, k // 2), dtype=torch.long)
    rank = r.argsort(-1).argsort(-1)                              # 0 = the best (lowest); invalid ones rank last
    take = valid & (rank < keep) & sent_mask[..., None]
    per = torch.where(take, r, 0.0).sum(-1) / keep.squeeze(-1).clamp_min(1)
    return per.sum() / distributed.global_count(sent_mask.sum()).clamp_min(1)


def recon_contrast_loss(recon: torch.Tensor, sent_mask: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """Our departure `recon_contrast`: cross-entropy of the teacher's posterior over each sentence's valid
    candidates (the softmax of `sentence_log_likelihood`) toward the fine stage's choice, the candidate with the
    lowest reconstruction score (its index detached). Where the reconstruction loss asks the chosen candidate to
    explain the hidden words, this also asks the others to explain them worse, so a word is learned from what
    tells the chosen object apart from the rest of its class, not from what the class shares. A description is
    written to single out its target among objects like it, so this holds of real descriptions as of ours.
    Sentences with fewer than two valid candidates have nothing to contrast and count 0.
    recon (B, S, K), inf where invalid; sent_mask / words (B, S) -> scalar."""
    r = recon.float()
    valid = torch.isfinite(r)
    ok = sent_mask & (valid.sum(-1) >= 2)
    logit = sentence_log_likelihood(r, valid, words).masked_fill(~valid, -1e4)  # finite: an empty row stays finite
    best = fine_choice(r.detach(), valid)
    ce = F.cross_entropy(logit.flatten(0, 1), best.flatten(), reduction="none").view(ok.shape)
    return torch.where(ok, ce, 0.0).sum() / distributed.global_count(ok.sum()).clamp_min(1)


def recon_word_mil_loss(recon_logits: torch.Tensor, ids: torch.Tensor, tokens: torch.Tensor, recon: torch.Tensor,
                        sent_mask: torch.Tensor, smoothing: float = 0.1) -> torch.Tensor:
    """Our departure `recon_word_mil`: each hidden keyword's label-smoothed NLL (as `reconstruction_score` takes
    it) under the valid candidate that explains that word best, averaged over the hidden keywords of the batch.
    The sentence-level loss reconstructs every word from the candidates the whole sentence chose, so a word that
    decides among objects of one class (material) learns from whichever object the other words picked; a
    description's attribute word is true of its target, so some candidate explains it, and here the word learns
    from the one it fits. recon_logits (B, S, K, L, V), ids / tokens (B, S, L) (tokens: 1 keyword), recon (B, S, K)
    inf where a candidate is invalid, sent_mask (B, S) -> scalar."""
    tok = token_nll(recon_logits, ids[:, :, None, :].expand(recon_logits.shape[:-1]), smoothing)  # (B, S, K, L)
    valid = torch.isfinite(recon.float())[..., None]
    best = tok.masked_fill(~valid, float("inf")).min(2).values                                  # (B, S, L)
    take = (tokens == KEYWORD) & sent_mask[..., None] & valid.any(2)
    return torch.where(take, best, 0.0).sum() / distributed.global_count(take.sum()).clamp_min(1)


def rank_rewards(k: int, device=None) -> torch.Tensor:
    """linspace(0.1, 1, K) squared, indexed by rank from the worst (0) to the best (K - 1) candidate."""
    return torch.linspace(0.1, 1.0, k, device=device) ** 2


def distillation_loss(scores, candidates, recon, cand_valid, sent_mask) -> torch.Tensor:
    """The authors' weakly supervised loss: the student's negative log-softmax over all proposals, taken at the
    K candidates, weighted by the rank reward of their reconstruction score (lowest score = largest reward),
    summed and divided by the sentence count and K. scores (B, S, P); candidates/recon/cand_valid (B, S, K)."""
    k = candidates.shape[-1]
    candidates = torch.where(cand_valid, candidates, 0).clamp(max=scores.shape[-1] - 1)
    rank = recon.float().argsort(-1, descending=True).argsort(-1)           # 0 = highest score = worst
    reward = rank_rewards(k, scores.device)[rank]
    neg_logp = -scores.float().log_softmax(-1).gather(-1, candidates)
    ok = cand_valid & sent_mask[..., None]
    return torch.where(ok, reward * neg_logp, 0.0).sum() / distributed.global_count(sent_mask.sum()).clamp_min(1) / k


def fine_choice(recon: torch.Tensor, cand_valid: torch.Tensor) -> torch.Tensor:
    """The fine stage's choice: the slot of the valid candidate with the lowest reconstruction score.
    recon / cand_valid (..., K) -> (...)."""
    return recon.float().masked_fill(~cand_valid, float("inf")).argmin(-1)


def hard_distillation_loss(scores, candidates, recon, cand_valid, sent_mask, words=None) -> torch.Tensor:
    """Our departure (`hard_distillation`): cross-entropy over all proposals toward the teacher's best (lowest
    reconstruction score) valid candidate. The rank rewards of the authors' loss make the student's optimum
    p proportional to the rewards, which are 1.0 / 0.79 / 0.60 for three same-class candidates: the ranking
    reaches it only as small differences. Same shapes as distillation_loss.

    With `words` (B, S) (our `distill.confidence_weighted`) each sentence's term is weighted by the teacher's
    posterior of that best candidate (softmax of `sentence_log_likelihood`, no gradient), and the sum is divided by
    the weights' sum: a pick the teacher hesitates over (1 / valid candidates at worst) teaches less than one it is
    sure of (up to 1), the usual weighting of pseudo-labels by their confidence."""
    best = fine_choice(recon, cand_valid).unsqueeze(-1)                                       # (B, S, 1)
    target = candidates.gather(-1, best).squeeze(-1).clamp(0, scores.shape[-1] - 1)
    ok = cand_valid.any(-1) & sent_mask
    ce = F.cross_entropy(scores.float().flatten(0, 1), target.flatten(), reduction="none")
    if words is None:
        return (ce * ok.flatten()).sum() / distributed.global_count(ok.sum()).clamp_min(1)
    weight = torch.where(ok, teacher_posterior(recon, cand_valid, words).gather(-1, best).squeeze(-1), 0.0).detach()
    return (ce * weight.flatten()).sum() / distributed.global_count(weight.sum()).clamp_min(1e-6)


def full_supervision_loss(scores: torch.Tensor, target: torch.Tensor, sent_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over proposals toward the target proposal; sentences without one (-1) and padding count 0.
    scores (B, S, P), target (B, S), sent_mask (B, S)."""
    ok = sent_mask & (target >= 0)
    ce = F.cross_entropy(scores.float().flatten(0, 1), target.clamp_min(0).flatten(), reduction="none")
    return (ce * ok.flatten()).sum() / distributed.global_count(ok.sum()).clamp_min(1)


def coarse_from_fine_loss(base: torch.Tensor, learned: torch.Tensor, fine: torch.Tensor, valid: torch.Tensor):
    """Our departure (`coarse_from_fine`): cross-entropy of the coarse similarity of each sentence's K candidates
    (the authors' dot product `base` plus the learned term) toward the fine stage's choice `fine` (the candidate
    with the lowest reconstruction score). Rows with fewer than two valid candidates have nothing to order and
    count 0. base / learned / valid (N, K), fine (N,) -> scalar."""
    ok = valid.sum(-1) >= 2
    logits = (base.float() + learned.float()).masked_fill(~valid, -1e4)  # finite: an empty row stays finite
    ce = F.cross_entropy(logits, fine, reduction="none")
    return (ce * ok).sum() / ok.sum().clamp_min(1)


def posterior_distillation_loss(scores, candidates, recon, cand_valid, sent_mask, words) -> torch.Tensor:
    """Our `distill.posterior_targets`: cross-entropy over all proposals toward the teacher's posterior over its
    valid candidates, the softmax of `sentence_log_likelihood`: the teacher's own probability that k is meant (no
    temperature to tune). Where the teacher hesitates, the target spreads over the candidates it hesitates between;
    hard_distillation_loss is the limit of a sharp posterior. Same shapes as distillation_loss; words (B, S)."""
    ok = cand_valid.any(-1) & sent_mask
    target = teacher_posterior(recon, cand_valid, words)
    idx = torch.where(cand_valid, candidates, 0).clamp(0, scores.shape[-1] - 1)
    logq = scores.float().log_softmax(-1).gather(-1, idx)
    ce = -torch.where(cand_valid, target * logq, 0.0).sum(-1)
    return torch.where(ok, ce, 0.0).sum() / distributed.global_count(ok.sum()).clamp_min(1)


EXCLUSIVE = ("params.yaml: distill: posterior_targets and confidence_weighted are exclusive (the posterior already "
             "weighs each candidate by the teacher's confidence): turn one off")


def student_distillation(recipe: Recipe, posterior: bool = False, confidence: bool = False,
                         posterior_weight: float = 1.0):
    """The loss a weakly supervised student learns the teacher's ranking by: loss(scores, candidates, recon,
    cand_valid, sent_mask, words=None), words (B, S) the hidden keywords per sentence (`posterior` and
    `confidence` need them).

    The recipe's hard_distillation: the cross-entropy toward the teacher's best candidate, each sentence weighted
    by the teacher's confidence in it with `confidence` (distill.confidence_weighted), or with `posterior`
    (distill.posterior_targets) toward its posterior (the two are exclusive). With `posterior` and a
    `posterior_weight` w below 1 (distill.posterior_weight), w x the posterior's term + (1 - w) x the best
    candidate's, as knowledge distillation mixes soft and hard targets. Its keep_rank_rewards: the authors'
    rank-reward loss stays beside it; the rewards spread the target over every candidate of the predicted class (a
    class-level target), which the cross-entropy alone drops. Without hard_distillation the rank rewards are the
    whole loss."""
    if posterior and confidence:
        raise ParamsError(EXCLUSIVE)
    if not 0.0 <= posterior_weight <= 1.0:
        raise ParamsError(f"params.yaml: distill.posterior_weight must lie in [0, 1], got {posterior_weight}")

    def loss(scores, candidates, recon, cand_valid, sent_mask, words=None):
        args = (scores, candidates, recon, cand_valid, sent_mask)
        if not recipe.hard_distillation:
            return distillation_loss(*args)
        if posterior:
            one = posterior_distillation_loss(*args, words)
            if posterior_weight < 1.0:  # at 1 exactly the posterior's term, as before the weight existed
                one = posterior_weight * one + (1.0 - posterior_weight) * hard_distillation_loss(*args)
        else:
            one = hard_distillation_loss(*args, words if confidence else None)
        return one + distillation_loss(*args) if recipe.keep_rank_rewards else one
    return loss


def recon_phase(epoch: int, cfg: dict, recipe: Recipe = Recipe()) -> str:
    """Which candidates the reconstruction term learns from in `epoch` (from 0): "all" of them for the first
    `all_candidates_epochs` (the authors' schedule), then with `recon_single_first` "single" for
    `single_candidate_epochs` (only the sentences with exactly one valid candidate, whose object is then known
    without a label), then "best" (the best half; the authors' phase from the first epochs on)."""
    first = cfg["all_candidates_epochs"]
    if epoch < first:
        return "all"
    if recipe.recon_single_first and epoch < first + cfg.get("single_candidate_epochs", 0):
        return "single"
    return "best"


def single_candidate_rows(recon: torch.Tensor, sent_mask: torch.Tensor) -> torch.Tensor:
    """The sentences with exactly one valid candidate (recon finite at one slot). recon (B, S, K) -> (B, S)."""
    return sent_mask & (torch.isfinite(recon.float()).sum(-1) == 1)


def teacher_losses(out: dict, batch: dict, cfg: dict, epoch: int, recipe: Recipe = Recipe()) -> tuple[torch.Tensor, dict]:
    """-> (weighted total, {term: value}); the authors' total is 2 MIL + 2 language + reconstruction + distillation
    (the last with the recipe's joint student only). The default recipe is the paper's. `epoch` (from 0) sets the
    reconstruction's phase (`recon_phase`); in the "single" phase its mean is over the sentences it keeps."""
    sm = batch["sent_mask"]
    terms = {"mil": mil_nce(out["sentence"], out["matched"], batch["prop_mask"], sm),
             "lang_cls": language_loss(out["class_logits"], batch["class18"], sm)}
    if cfg["use_reconstruction"]:
        words = (batch["mask"] == KEYWORD).sum(-1)                                 # hidden keywords per sentence
        phase = recon_phase(epoch, cfg, recipe)
        rows = single_candidate_rows(out["recon"], sm) if phase == "single" else sm
        terms["recon"] = reconstruction_loss(out["recon"], rows, phase == "all", recipe.recon_valid_half,
                                             words if recipe.recon_marginal else None)
        best = phase == "best"
        if recipe.recon_contrast and best:  # a choice to contrast with once the best half is kept
            terms["recon_contrast"] = recon_contrast_loss(out["recon"], sm, words)
        if recipe.recon_word_mil and best:  # each hidden word from the candidate it fits best
            terms["recon_word"] = recon_word_mil_loss(out["recon_logits"], batch["ids"], batch["mask"], out["recon"], sm)
        if recipe.joint_student:  # the jointly trained student learns from this very step's ranking
            distill = student_distillation(recipe)
            terms["distill"] = distill(out["scores"], out["candidates"], out["recon"].detach(),
                                       out["candidate_valid"], sm)
    w = cfg["loss_weights"]
    total = sum(w.get(k, 1.0) * v for k, v in terms.items())
    return total, terms
