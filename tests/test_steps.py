"""Static-shape batches (what a CUDA graph needs) change no number; on a GPU, graph replays train as eager
steps do, and an interrupted captured run resumes."""


import pytest
import torch
from conftest import TINY_GROUNDING, no_dropout

from ws3dvg.grounding.data import collate, grounding_set
from ws3dvg.grounding.losses import teacher_losses
from ws3dvg.grounding.recipe import Recipe
from ws3dvg.grounding.teacher import build_teacher

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run on the device)")


def test_fixed_padding_changes_no_number(tiny_grounding):
    cfg = dict(TINY_GROUNDING)
    ds = grounding_set(tiny_grounding, "train", cfg, Recipe.from_params(cfg))
    items = [ds[i] for i in range(min(2, len(ds)))]
    sizes = ds.static_sizes()
    loose = collate(items, {"sentences": cfg["lang_num_max"]})
    tight = collate(items, {k: v + 3 for k, v in sizes.items() if k != "sentences"} | {"sentences": cfg["lang_num_max"]})
    assert tight["features"].shape[1] > loose["features"].shape[1] and tight["ids"].shape[2] > loose["ids"].shape[2]
    torch.manual_seed(0)
    model = build_teacher(cfg, Recipe.from_params(cfg), tiny_grounding["language_dir"], ds.feature_dim, 0)
    model.train()  # batch statistics over real proposals only; no random draws at random_mask 0 and no word dropout
    model.cfg = dict(cfg, word_dropout=0.0)
    no_dropout(model)
    outs = [model(b) for b in (loose, tight)]
    for o, b in zip(outs, (loose, tight)):
        o["total"], o["terms"] = teacher_losses(o, b, cfg, 0, Recipe.from_params(cfg))
    a, b = outs
    torch.testing.assert_close(a["total"], b["total"])
    for k in a["terms"]:
        torch.testing.assert_close(a["terms"][k], b["terms"][k])
    p = loose["features"].shape[1]
    torch.testing.assert_close(a["proposal"], b["proposal"][:, :p])
    assert torch.equal(a["candidates"], b["candidates"])


def _train(paths, out_dir, step, epochs=3):
    from ws3dvg.grounding.teacher import train_teacher

    cfg = dict(TINY_GROUNDING, epochs=epochs, amp=False)
    return train_teacher(cfg, Recipe.from_params(cfg), paths, torch.device("cuda"), 5, str(out_dir), str(out_dir / "live"), step=step)["model"]


@cuda
@pytest.mark.parametrize("switches", [{}, {"decoder_reads_own": True, "decoder_reads_scene": True}],
                         ids=["default", "decoder_reads_own+scene"])
def test_graph_steps_give_the_eager_losses(tiny_grounding, switches):
    """The same weights, batches and RNG stream: the first steps' loss terms agree, replayed or eager. (Weights
    after whole epochs are no fair comparison: float-level differences between kernels flip top-K and rank
    decisions, and training diverges from there, eager against eager on two GPUs too.) Also with the decoder's
    extra reads, whose scene rows are built inside the captured step."""
    from ws3dvg.engine.training import StepRunner, make_optimizer

    cfg = dict(TINY_GROUNDING, amp=False, departures=dict(TINY_GROUNDING["departures"], **switches))
    ds = grounding_set(tiny_grounding, "train", cfg, Recipe.from_params(cfg))
    sizes = ds.static_sizes()
    items = [ds[i] for i in range(len(ds))]
    batches = [collate(items[i:i + 2], sizes) for i in range(0, len(items) - 1, 2)][:3]
    assert batches
    dev = torch.device("cuda")
    terms = {}
    for mode in ("eager", "graph"):
        torch.manual_seed(0)
        model = build_teacher(cfg, Recipe.from_params(cfg), tiny_grounding["language_dir"], ds.feature_dim, 0).to(dev).train()
        opt = make_optimizer(model.parameters(), 1e-3, 0.0, dev, mode)
        runner = StepRunner(model, opt, mode)
        torch.cuda.manual_seed(0)

        def fn(batch):
            return teacher_losses(model(batch, random_mask=cfg["random_mask"]), batch, cfg, 0, Recipe.from_params(cfg))

        terms[mode] = [{k: float(v) for k, v in runner({k: v.to(dev) if torch.is_tensor(v) else v
                                                         for k, v in b.items()}, True, fn).items()}
                       for b in batches]
        if mode == "graph":
            assert runner.captures == 1 and runner.mode == "graph"
    for e, g in zip(terms["eager"], terms["graph"]):
        for k in e:
            assert g[k] == pytest.approx(e[k], rel=1e-3, abs=1e-4), (k, terms)


@cuda
def test_interrupted_graph_run_resumes(tiny_grounding, tmp_path):
    _train(tiny_grounding, tmp_path / "run", "graph", epochs=1)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    ck["config"]["teacher"]["epochs"] = 3  # the same run, killed after its first epoch
    torch.save(ck, tmp_path / "run" / "last.pt")
    resumed = _train(tiny_grounding, tmp_path / "run", "graph", epochs=3)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["epoch"] == 2
    assert all(torch.isfinite(v.float()).all() for v in resumed.state_dict().values())


@cuda
def test_captured_detector_step_follows_the_schedule(tiny_h5, tmp_path):
    """train_detector with runtime.step graph: every step replayed (GT boxes padded to one count, none eager), and
    its first epoch's loss terms those of the eager run (same weights, batches and schedule; kernels differ in
    float rounding only). CapturableAdamW taking torch's steps under OneCycle is test_training's."""
    import csv

    from test_distributed import TINY

    from ws3dvg.detection.train import train_detector
    from ws3dvg.scannet.preprocess import read_splits

    splits = read_splits(str(tiny_h5))
    splits = {"train": splits["train"] + splits["val"], "val": splits["val"]}
    cfg = dict(TINY, epochs=3, eval_every=3, batch_size=2)
    first, steps = {}, {}
    for mode in ("eager", "graph"):
        out = tmp_path / mode
        torch.manual_seed(0)
        torch.cuda.manual_seed(0)
        run = train_detector(cfg, str(tiny_h5), splits, str(out), str(out / "live"), torch.device("cuda"), 0,
                             step=mode)
        assert all(torch.isfinite(v.float()).all() for v in run["model"].state_dict().values()), mode
        steps[mode] = run["steps"]
        curves = out / "live" / "plots" / "metrics" / "train"
        first[mode] = {f.stem: float(next(csv.DictReader(f.open(), delimiter="\t"))[f.stem])
                       for f in curves.glob("*.tsv")}
    assert steps == {"eager": {"mode": "eager", "eager": 0}, "graph": {"mode": "graph", "eager": 0}}
    assert first["eager"] and first["eager"].keys() == first["graph"].keys()
    for k, v in first["eager"].items():
        assert first["graph"][k] == pytest.approx(v, rel=2e-2, abs=1e-3), (k, first)


def _dropout_model(dev):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1)).to(dev)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


@cuda
def test_failed_capture_leaves_eager_steps_that_draw():
    """A capture that fails (here a host sync inside it) falls back to eager steps, on the stream it started
    from, and random draws (dropout) still work: the generator is not left marked as capturing."""
    from ws3dvg.engine.training import StepRunner

    dev = torch.device("cuda")
    model, opt = _dropout_model(dev)
    runner = StepRunner(model, opt, "graph")
    stream = torch.cuda.current_stream()

    def fn(batch):
        out = model(batch["x"]).mean()
        if torch.cuda.is_current_stream_capturing():
            float(out)  # a host sync: not capturable
        return out, {"loss": out}

    batch = {"x": torch.randn(4, 8, device=dev)}
    losses = [float(runner(batch, "step", fn)["loss"]) for _ in range(3)]
    assert runner.mode == "eager" and runner.captures == 0
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert torch.cuda.current_stream() == stream
    torch.rand(3, device=dev)


@cuda
def test_capture_survives_a_pinning_thread():
    """A DataLoader's pin-memory thread pins the next batches while the step is captured; that must not
    invalidate the capture (it did in the default global capture mode)."""
    import threading

    from ws3dvg.engine.training import StepRunner

    dev = torch.device("cuda")
    model, opt = _dropout_model(dev)
    runner = StepRunner(model, opt, "graph")
    stop = threading.Event()

    def pin():
        while not stop.is_set():
            torch.empty(1 << 14).pin_memory()

    thread = threading.Thread(target=pin, daemon=True)
    thread.start()
    try:
        def fn(batch):
            out = model(batch["x"]).mean()
            return out, {"loss": out}

        for _ in range(5):
            runner({"x": torch.randn(4, 8, device=dev)}, "step", fn)
        torch.cuda.synchronize()
    finally:
        stop.set()
        thread.join()
    assert runner.mode == "graph" and runner.captures == 1
