"""The recipe: which of the paper's computations a teacher and its student run, and where ours depart.

The only code that reads `teacher.variant` and `teacher.departures` (docs/design.md §7). It turns them
into explicit choices, which the models take in their constructors and the losses as arguments; the
recipe is saved in `teacher.pt` and `student.pt`, and distill, evaluate and the CLI read it back from
there, never from params.yaml.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..engine.errors import ParamsError


@dataclass(frozen=True)
class Recipe:
    """`variant: paper` is every choice False: the authors' computation. Each True is one of our departures.

    box_colour / box_summary / summary_only: what the proposal feature holds (the mean colour inside the box;
      the detector's class scores, box size and centre; the detector's pooled feature dropped).
    feature_norm: the detector's pooled feature standardised per proposal and scaled to unit norm before the
      parts are joined, so its hundreds of channels do not outweigh the few numbers beside it (no effect
      with summary_only, which drops it).
    class_candidates: the coarse stage's K candidates only among proposals of the predicted class.
    staged_distillation: the student learns in `distill` from the final teacher's ranking (the paper: jointly,
      inside the teacher's step).
    hard_distillation: the student learns the teacher's best candidate by cross-entropy (the paper: the
      rank-reward-weighted log-likelihood of all K).
    own_feature_match: MIL-NCE and the coarse stage's sentence-proposal score read each proposal's own feature, before
      the relation encoder mixes in its scene (the paper: the relation encoder's output, which the decoder also
      reads as its memory).
    language_warmup: the language encoder first learns alone to name each training sentence's target class (the
      annotation's object_name), before the joint training (the paper: jointly from the first step).
    coarse_from_fine: after training, a term of the coarse score's own (the sentence's bag of word vectors x each
      proposal's matched feature) is fitted to put the fine stage's choice first among each training sentence's
      candidates; the teacher trains as without it (the paper: the coarse score learns from MIL-NCE alone).
    relation_distance_bias: the teacher's relation encoder (and so its students') adds a learned multiple of the
      centres' distance to its attention logits, zero at the start, so a candidate's feature can gather its
      neighbours and the fine stage can reconstruct "the chair closest to the [door]" from it (the paper: attention
      by feature and absolute box embeddings alone).
    recon_valid_half: the reconstruction loss over each sentence's valid candidates, the best half of them after the
      first epochs, averaged per sentence (the paper: the best K // 2 of K; the same where all K are valid, as
      theirs always are, but under class_candidates it keeps nearly every candidate).
    decoder_reads_own: the fine stage's decoder cross-attends to two memory rows per candidate, its own feature (the
      relation encoder's input projection) beside the relation encoder's output (the paper: the output alone, in
      which box embeddings and attention can outweigh the object's own feature; benchmarks/probe_models.py).
    keep_rank_rewards: with hard_distillation, the authors' rank-reward loss stays and the cross-entropy is added to it
      (hard alone: the student learns one object per sentence and loses the class-level target that the rewards
      spread over all of the sentence's candidates). Without hard_distillation it changes nothing: the rank rewards
      are then the whole loss.
    decoder_reads_scene: after each decoder layer a cross-attention (starting at zero) reads every proposal of the
      candidate's scene, an embedding of its class scores plus one of its offset and distance from the candidate,
      so the anchor of a relation ("the chair closest to the [door]") is reconstructed from what lies around the
      candidate (the paper: the candidate's one vector, into which the relation encoder's attention must have
      folded its neighbours).
    recon_marginal: after the first epochs the reconstruction loss is each sentence's NLL marginalised over its
      valid candidates (uniform prior), so every candidate learns in proportion to its posterior (the paper: the
      best K // 2, a hard choice made on the words the decoder already reads; grounding/losses.py).
    recon_contrast: after the first epochs a cross-entropy over each sentence's valid candidates, their sentence
      likelihoods as logits, toward the fine stage's choice (weight `loss_weights.recon_contrast`, 1 if absent),
      so the decoder learns a word from what tells the chosen candidate apart from the other objects of its class
      (the paper: the chosen candidates reconstruct the words; the others get no signal at all).
    recon_word_mil: after the first epochs a second reconstruction term over the hidden keywords, each taken from
      the valid candidate that explains that word best (weight `loss_weights.recon_word`, 1 if absent), so a word
      that decides among objects of one class (material, shape) learns from the candidate it fits, not from the
      candidate the rest of the sentence chose (the paper: every word from the sentence's best K // 2).
    recon_single_first: after the first epochs, for `single_candidate_epochs` epochs the reconstruction term learns
      only from the sentences with exactly one valid candidate, whose object weak supervision knows for sure, so
      the decoder first reads an attribute word off the object that has it; then the best half of every sentence
      (the paper: from the first epochs on, every sentence from its best K // 2, chosen by what the decoder reads
      so far). Needs class_candidates: without it every sentence has K candidates.
    anchor_decoder: two decoders, each for the words it reads. The first reads only its candidate (as without
      the switch) and scores the hidden attribute words (the tagger's colour, size, material and shape lexicons)
      and the visible words; a second, which also reads the candidate's surroundings (decoder_reads_scene's
      reader, its own), scores every other hidden word, mostly anchor nouns. A candidate's fine-stage score is
      reconstruction_score with each hidden word's NLL taken from its decoder (models.grounding.routed_score), and
      it drives the training loss, the choice of candidates and the knowledge alike. A decoder that reads the
      scene reads anchors but loses attribute words, one that does not keeps them; two trained teachers routed
      this way (benchmarks/route_knowledge.py) picked right on +0.040 of val rows (the paper: one decoder over
      the candidate's one vector, every word alike). Not with decoder_reads_scene.
    """

    box_colour: bool = False
    box_summary: bool = False
    summary_only: bool = False
    feature_norm: bool = False
    class_candidates: bool = False
    staged_distillation: bool = False
    hard_distillation: bool = False
    language_warmup: bool = False
    own_feature_match: bool = False
    coarse_from_fine: bool = False
    relation_distance_bias: bool = False
    recon_valid_half: bool = False
    decoder_reads_own: bool = False
    keep_rank_rewards: bool = False
    decoder_reads_scene: bool = False
    recon_marginal: bool = False
    recon_contrast: bool = False
    recon_word_mil: bool = False
    recon_single_first: bool = False
    anchor_decoder: bool = False

    def __post_init__(self):
        if self.summary_only and not (self.box_colour or self.box_summary):
            raise ParamsError("teacher.departures.summary_only drops the detector's feature: it needs box_colour or "
                              "box_summary on to leave a feature")
        if self.anchor_decoder and self.decoder_reads_scene:
            raise ParamsError("teacher.departures.anchor_decoder gives the surroundings to a second decoder for the "
                              "words that are not attribute words: turn decoder_reads_scene off, or the first "
                              "decoder reads them too")
        if self.recon_single_first and not self.class_candidates:
            raise ParamsError("teacher.departures.recon_single_first learns from the sentences with one valid "
                              "candidate: it needs class_candidates on (without it every sentence has K)")

    @classmethod
    def from_params(cls, teacher: dict) -> "Recipe":
        """From params.yaml's teacher section: `variant: paper` ignores every departure."""
        if teacher["variant"] == "paper":
            return cls()
        return cls(**{f.name: bool(teacher["departures"][f.name]) for f in fields(cls)})

    @classmethod
    def from_dict(cls, saved: dict) -> "Recipe":
        """Read back from a checkpoint's config."""
        return cls(**{f.name: bool(saved.get(f.name, False)) for f in fields(cls)})

    def to_dict(self) -> dict:
        return asdict(self)

    def in_config(self, teacher: dict) -> dict:
        """The teacher section as a checkpoint keeps it: this recipe in place of `variant` and `departures`."""
        return dict({k: v for k, v in teacher.items() if k not in ("variant", "departures")}, recipe=self.to_dict())

    @property
    def is_paper(self) -> bool:
        return self == Recipe()

    @property
    def joint_student(self) -> bool:
        """The authors train the student's head inside the teacher's step."""
        return not self.staged_distillation

    def proposal_inputs(self) -> dict:
        """The feature switches `prepare_proposals` takes."""
        return {"box_colour": self.box_colour, "box_summary": self.box_summary, "summary_only": self.summary_only,
                "feature_norm": self.feature_norm}
