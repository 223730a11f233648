"""Data parallelism on the CPU (gloo): 2 ranks with half of each global batch take the step 1 process takes on
the whole batch; a stopped 2-rank run resumes to the weights of an uninterrupted one; rank 0 alone writes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from ws3dvg.engine.training import EpochBatchSampler

TINY = {"model": "groupfree", "num_points": 512, "input_features": ["height", "color", "normal"],
        "sa_npoints": [128, 64, 32, 16], "width": 1, "num_proposal": 16, "decoder_layers": 2, "ffn_dim": 64,
        "batch_size": 2, "epochs": 2, "lr": 0.003, "decoder_lr_scale": 0.1, "mean_sizes": "", "center_delta": 1.0,
        "size_delta": 1.0, "weight_decay": 0.0, "eval_every": 100, "nms_iou": 0.25, "amp": False, "pretrained": ""}


def test_ranks_split_each_global_batch_into_equal_parts():
    one = list(EpochBatchSampler(10, 4, 3, range(2), drop_last=True))
    two = [list(EpochBatchSampler(10, 4, 3, range(2), drop_last=True, rank=r, world=2)) for r in range(2)]
    assert [a + b for a, b in zip(*two)] == one            # the ranks' parts make up one process's batches
    assert all(len(b) == 2 for part in two for b in part)
    with pytest.raises(ValueError, match="divisible"):
        EpochBatchSampler(10, 3, 0, range(1), drop_last=True, world=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(fn, world: int, *args) -> None:
    port = _free_port()
    mp.spawn(_rank_main, args=(world, port, fn, args), nprocs=world, join=True)


def _rank_main(rank: int, world: int, port: int, fn, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from ws3dvg.engine import distributed

    distributed.init(torch.device("cpu"))
    try:
        fn(*args)
    finally:
        distributed.shutdown()


def _no_dropout(model: nn.Module) -> None:
    """Each rank draws its own dropout masks, so the step is the same as one process's only without dropout."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0


def _one_step(h5: str, scenes: list[str], out: str) -> None:
    """Build the detector, take one SGD step on the first global batch (this rank's part of it), save the result."""
    from ws3dvg.detection.data import collate, feature_dim
    from ws3dvg.detection.train import detector_loss, prepare_batch, scene_set
    from ws3dvg.engine import distributed
    from ws3dvg.engine.training import StepRunner, seed_everything
    from ws3dvg.models.detector import build_detector

    ctx = distributed.context()
    seed_everything(0)
    train_set = scene_set(TINY, h5, scenes, True, 0, None)
    model = build_detector(TINY, feature_dim(TINY["input_features"]), None)
    _no_dropout(model)
    net = distributed.wrap(model, ctx, torch.device("cpu"))
    # SGD: the update is the gradient itself (Adam's first step would hide a wrongly scaled one)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    keys = next(iter(EpochBatchSampler(len(train_set), 2, 0, range(1), drop_last=True, rank=ctx.rank,
                                       world=ctx.world)))
    cpu = torch.device("cpu")
    runner = StepRunner(net, opt, "eager", clip_norm=10.0)
    terms = runner(prepare_batch(collate([train_set[k] for k in keys]), train_set, cpu), "step",
                   detector_loss(net, TINY, cpu, ctx))
    terms = {k: float(distributed.all_sum(v)) / ctx.world for k, v in terms.items()}
    if ctx.is_main:
        torch.save({"terms": terms, "state": distributed.unwrap(net).state_dict()}, out)


def test_two_ranks_take_the_one_process_step(tiny_h5, tmp_path):
    scenes = ["scene0000_00", "scene0001_00"]
    _one_step(str(tiny_h5), scenes, str(tmp_path / "one.pt"))       # alone: no process group, the plain step
    _spawn(_one_step, 2, str(tiny_h5), scenes, str(tmp_path / "two.pt"))
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one["terms"].keys() == two["terms"].keys()
    for k in one["terms"]:  # each loss term of the global batch (float sums in another order: 1e-5)
        assert two["terms"][k] == pytest.approx(one["terms"][k], rel=1e-5, abs=1e-6), k
    assert one["state"].keys() == two["state"].keys()
    for k, v in one["state"].items():  # updated weights and batch-norm statistics
        torch.testing.assert_close(two["state"][k], v, rtol=1e-4, atol=1e-6, msg=k)


def _train(h5: str, scenes: dict, out_dir: str, epochs: int) -> None:
    from ws3dvg.detection.train import train_detector
    from ws3dvg.engine import distributed

    result = train_detector(dict(TINY, epochs=epochs), h5, scenes, out_dir, f"{out_dir}/curves",
                            torch.device("cpu"), 0)
    if distributed.context().is_main:
        torch.save(distributed.unwrap(result["model"]).state_dict(), f"{out_dir}/weights-{epochs}.pt")


def test_a_stopped_two_rank_run_resumes_and_rank_0_alone_writes(tiny_h5, tmp_path):
    splits = {"train": ["scene0000_00", "scene0001_00"], "val": ["scene0002_00"]}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _spawn(_train, 2, str(tiny_h5), splits, str(straight), 2)
    _spawn(_train, 2, str(tiny_h5), splits, str(resumed), 1)       # stopped after its first epoch ...
    ckpt = torch.load(resumed / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 0 and len(ckpt["rank_rng"]) == 2      # ... with both ranks' random streams
    _spawn(_train, 2, str(tiny_h5), splits, str(resumed), 2)       # ... and resumed
    a = torch.load(straight / "weights-2.pt")
    b = torch.load(resumed / "weights-2.pt")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)
    # one writer: every curve holds each step once (two writers would write each twice), the train curves
    # one row per epoch
    files = list(Path(straight / "curves").rglob("*.tsv"))
    assert any("train" in str(f) for f in files)
    for f in files:
        steps = [line.split("\t")[0] for line in f.read_text().splitlines()[1:]]
        assert len(steps) == len(set(steps)), (f, steps)
        if "train" in f.parts:
            assert steps == ["0", "1"], (f, steps)


def _grounding_step(paths: dict, which: str, out: str) -> None:
    """One SGD step of a grounding model on the first global batch of 2 scenes (this rank's part), dropout and the
    random draws off; saves the loss terms (mean over ranks) and the updated state."""
    from conftest import TINY_GROUNDING, no_dropout

    from ws3dvg.engine import distributed
    from ws3dvg.engine.training import StepRunner, seed_everything
    from ws3dvg.grounding.data import collate, grounding_set
    from ws3dvg.grounding.losses import distillation_loss, full_supervision_loss, language_loss, teacher_losses
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import build_student, full_supervision_targets, student_config
    from ws3dvg.grounding.teacher import build_teacher

    ctx = distributed.context()
    seed_everything(0)
    cfg = dict(TINY_GROUNDING, word_dropout=0.0, random_mask=0.0)
    if which == "paper":
        cfg["variant"] = "paper"
    if which == "own_feature_match":
        cfg["departures"] = dict(cfg["departures"], own_feature_match=True)
    recipe = Recipe.from_params(cfg)
    ds = grounding_set(paths, "train", cfg, recipe, shuffle_seed=0)
    if which.startswith("student"):
        scfg = student_config(dict(cfg, word_dropout=0.0, lang_cls_weight=1.0),
                              "full" if which == "student_full" else "weak", recipe.in_config(cfg))
        model = build_student(scfg, paths["language_dir"], ds.feature_dim, 0)
    else:
        model = build_teacher(cfg, recipe, paths["language_dir"], ds.feature_dim, 0)
    no_dropout(model)
    net = distributed.wrap(model, ctx, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    keys = next(iter(EpochBatchSampler(len(ds), 2, 0, range(1), drop_last=True, rank=ctx.rank, world=ctx.world)))
    batch = collate([ds[k] for k in keys], ds.static_sizes())
    targets = torch.from_numpy(full_supervision_targets(paths, "train"))
    gen = torch.Generator().manual_seed(5)
    fake_recon = torch.rand(len(targets), 4, generator=gen)          # a fixed "teacher ranking" of 4 candidates

    def fn(b):
        out = net(b)
        sm = b["sent_mask"]
        if which == "student_full":
            loss = full_supervision_loss(out["scores"], targets[b["sentence_index"].clamp_min(0)], sm)
        elif which == "student_weak":
            idx = b["sentence_index"].clamp_min(0)
            cand = torch.arange(4).expand(*idx.shape, 4) % b["prop_mask"].sum(-1)[:, None, None]
            loss = distillation_loss(out["scores"], cand, fake_recon[idx], torch.ones_like(cand, dtype=torch.bool), sm)
        else:
            return teacher_losses(out, b, cfg, 0, recipe)
        lang = language_loss(out["class_logits"], b["class18"], sm)
        return loss + lang, {"loss": loss, "lang_cls": lang}

    terms = StepRunner(net, opt, "eager")(batch, "step", fn)
    terms = {k: float(distributed.all_sum(v)) / ctx.world for k, v in terms.items()}
    if ctx.is_main:
        torch.save({"terms": terms, "state": distributed.unwrap(net).state_dict()}, out)


@pytest.mark.parametrize("which", ["paper", "own_feature_match", "student_weak", "student_full"])
def test_two_ranks_take_the_one_process_grounding_step(tiny_grounding, tmp_path, which):
    """The teacher (the authors' recipe: MIL-NCE over every scene's sentences and proposals, the jointly trained
    head; ours with own_feature_match) and the student (weak and full): 2 ranks with one scene each take the step 1
    process takes on both, MIL-NCE's negatives gathered across ranks, masked batch norm over the global batch."""
    paths = {k: v for k, v in tiny_grounding.items() if k != "root"}
    _grounding_step(paths, which, str(tmp_path / "one.pt"))
    _spawn(_grounding_step, 2, paths, which, str(tmp_path / "two.pt"))
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one["terms"].keys() == two["terms"].keys()
    for k in one["terms"]:
        assert two["terms"][k] == pytest.approx(one["terms"][k], rel=1e-5, abs=1e-6), k
    # atol: float sums in another order (an AVX-512 CPU: 2 of 2048 decoder weights off by 2.8e-6 after the step);
    # a wrong reduction across ranks moves weights by the order of the step itself (lr 0.1 x gradient, ~1e-3)
    for k, v in one["state"].items():
        torch.testing.assert_close(two["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)


def _train_teacher(paths: dict, out_dir: str, epochs: int) -> None:
    from conftest import TINY_GROUNDING

    from ws3dvg.engine import distributed
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.teacher import train_teacher

    cfg = dict(TINY_GROUNDING, epochs=epochs, language_warmup_epochs=1)
    model = train_teacher(cfg, Recipe.from_params(cfg), paths, torch.device("cpu"), 0, out_dir, f"{out_dir}/curves")
    if distributed.context().is_main:
        torch.save(model["model"].state_dict(), f"{out_dir}/weights-{epochs}.pt")


def test_a_stopped_two_rank_teacher_resumes_and_rank_0_alone_writes(tiny_grounding, tmp_path):
    paths = {k: v for k, v in tiny_grounding.items() if k != "root"}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _spawn(_train_teacher, 2, paths, str(straight), 2)
    _spawn(_train_teacher, 2, paths, str(resumed), 1)              # stopped after its first epoch ...
    ckpt = torch.load(resumed / "last.pt", weights_only=False)
    ckpt["config"]["teacher"]["epochs"] = 2                        # (the same run, had it not been stopped)
    torch.save(ckpt, resumed / "last.pt")
    assert ckpt["epoch"] == 0 and len(ckpt["rank_rng"]) == 2
    _spawn(_train_teacher, 2, paths, str(resumed), 2)              # ... and resumed
    a, b = torch.load(straight / "weights-2.pt"), torch.load(resumed / "weights-2.pt")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)
    files = list(Path(straight / "curves").rglob("*.tsv"))
    assert files
    for f in files:  # one writer: each epoch's row once
        steps = [line.split("\t")[0] for line in f.read_text().splitlines()[1:]]
        assert steps == ["0", "1"], (f, steps)
