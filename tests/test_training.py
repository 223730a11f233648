"""Checkpoints resume only the run they belong to: same params, the same input files and the same code. One loader over all
epochs gives the batches that a loader per epoch gives."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from ws3dvg.engine import training
from ws3dvg.engine.training import Checkpoint, EpochBatchSampler, EpochLoader, epoch_key, input_fingerprint, make_loader


def _model_and_opt():
    model = torch.nn.Linear(2, 2)
    return model, torch.optim.AdamW(model.parameters())


def test_checkpoint_resumes_only_with_the_same_params_and_inputs(tmp_path):
    data, folder = tmp_path / "proposals.h5", tmp_path / "language"
    data.write_bytes(b"first")
    folder.mkdir()
    (folder / "vocab.json").write_text("{}")
    model, opt = _model_and_opt()
    Checkpoint(tmp_path / "run", {"lr": 1}, [data, folder]).save(4, model, opt)

    assert Checkpoint(tmp_path / "run", {"lr": 1}, [data, folder]).load(*_model_and_opt())[0] == 5  # interrupted run
    assert Checkpoint(tmp_path / "run", {"lr": 2}, [data, folder]).load(*_model_and_opt())[0] == 0  # params changed

    data.write_bytes(b"second")  # an upstream stage rewrote its output: the finished run must not be reused
    assert Checkpoint(tmp_path / "run", {"lr": 1}, [data, folder]).load(*_model_and_opt())[0] == 0


def test_checkpoint_is_not_resumed_by_other_code(tmp_path, monkeypatch):
    """DVC reruns a training stage when its code changed (a new loss, say): the finished old run must not be picked
    up as if it were this one."""
    model, opt = _model_and_opt()
    Checkpoint(tmp_path / "run", {"lr": 1}, []).save(4, model, opt)
    assert Checkpoint(tmp_path / "run", {"lr": 1}, []).load(*_model_and_opt())[0] == 5
    monkeypatch.setattr(training, "code_fingerprint", lambda: "the loss was edited")
    assert Checkpoint(tmp_path / "run", {"lr": 1}, []).load(*_model_and_opt())[0] == 0


def test_code_fingerprint_reads_the_package_sources(tmp_path, monkeypatch):
    import ws3dvg

    first = training.code_fingerprint()
    assert first == training.code_fingerprint()
    source = tmp_path / "ws3dvg"                      # a copy of the package: same contents, same fingerprint
    shutil.copytree(Path(ws3dvg.__file__).parent, source, ignore=shutil.ignore_patterns("__pycache__"))
    copied = _fingerprint_of(source, monkeypatch)
    assert copied == first
    (source / "grounding" / "losses.py").write_text((source / "grounding" / "losses.py").read_text() + "\n# edit\n")
    assert _fingerprint_of(source, monkeypatch) != first


def _fingerprint_of(package, monkeypatch) -> str:
    """code_fingerprint as the copy of the package at `package` would compute it."""
    monkeypatch.setattr(training, "__file__", str(package / "engine" / "training.py"))
    return training.code_fingerprint()


def test_fingerprint_sees_files_inside_folders_and_missing_inputs(tmp_path):
    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "knowledge.h5").write_bytes(b"x")
    before = input_fingerprint([folder, None])
    assert input_fingerprint([folder]) == before  # None entries (optional inputs) are ignored
    st = (folder / "knowledge.h5").stat()
    os.utime(folder / "knowledge.h5", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert input_fingerprint([folder]) != before
    assert input_fingerprint([tmp_path / "absent.h5"]) != input_fingerprint([])


class _Keys(torch.utils.data.Dataset):
    """Returns the key it is asked for: what a loader would feed a real dataset."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, key):
        return epoch_key(key, -1)


@pytest.mark.parametrize("n,batch,drop_last", [(7, 2, True), (8, 4, False), (13, 3, False), (3, 4, True)])
def test_epoch_batches_are_those_of_a_loader_per_epoch(n, batch, drop_last):
    seed = 3407
    sampler = EpochBatchSampler(n, batch, seed, range(2, 6), drop_last=drop_last)
    got = list(sampler)
    want = []
    for epoch in range(2, 6):  # what the training loops did before: a shuffled loader seeded seed + epoch
        loader = make_loader(range(n), batch, True, seed + epoch, list, drop_last=drop_last)
        want += [[(epoch, i) for i in b] for b in loader]
    assert got == want and len(sampler) == len(want)
    assert sampler.steps_per_epoch == len(want) // 4


def test_epoch_loader_yields_epoch_by_epoch_with_workers_too():
    ds = _Keys(10)
    runs = []
    for workers in (0, 2):
        loader = EpochLoader(ds, 3, 0, range(1, 4), list, workers)
        assert loader.steps == 4
        runs.append([b for e in range(1, 4) for b in loader.epoch(e)])
        assert all(k[0] == e for e, b in zip([1] * 4 + [2] * 4 + [3] * 4, runs[-1]) for k in b)
    assert runs[0] == runs[1]
    loader = EpochLoader(ds, 3, 0, range(1, 4), list)
    with pytest.raises(RuntimeError, match="epoch 2"):
        next(loader.epoch(2))  # epochs come in order: a skipped epoch would silently shift every batch


def test_checkpoint_every_s_skips_all_but_the_final_epoch_in_between(tmp_path):
    model, opt = _model_and_opt()
    ckpt = Checkpoint(tmp_path / "run", {"lr": 1}, [], every_s=3600)
    ckpt.save(0, model, opt)
    assert not ckpt.path.exists()  # less than an hour since the run started
    ckpt.save(1, model, opt, final=True)
    assert torch.load(ckpt.path, weights_only=False)["epoch"] == 1
    every = Checkpoint(tmp_path / "every", {"lr": 1}, [])
    every.save(0, model, opt)
    assert every.path.exists()  # 0: after every epoch


def test_capturable_adamw_takes_torchs_steps_under_one_cycle():
    """A captured step reads lr and betas from device tensors (GraphHyperparams, refilled after every scheduler step):
    CapturableAdamW under OneCycleLR (beta1 cycling 0.95 -> 0.85 -> 0.95) takes the steps torch's AdamW takes with
    the floats the scheduler writes; a parameter without a gradient is left alone, as torch leaves it."""
    from ws3dvg.engine.training import CapturableAdamW, GraphHyperparams

    def run(ours: bool):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        unused = torch.nn.Parameter(torch.ones(2))
        groups = [{"params": [model.weight, unused], "lr": 0.01}, {"params": [model.bias], "lr": 0.001}]
        opt = CapturableAdamW(groups, weight_decay=0.01) if ours else torch.optim.AdamW(groups, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.01, 0.001], total_steps=12, pct_start=0.25)
        hyper = GraphHyperparams(opt, torch.device("cpu")) if ours else None
        lrs, betas = [], []
        x = torch.randn(8, 4)
        for _ in range(12):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
            sched.step()
            if hyper is not None:
                hyper.apply()
                assert opt.param_groups[0]["lr"] is hyper.lr[0]          # the same tensor every step
                assert opt.param_groups[0]["betas"][0] is hyper.betas[0][0]
            lrs.append(float(opt.param_groups[0]["lr"]))
            betas.append(float(opt.param_groups[0]["betas"][0]))
        return {**model.state_dict(), "unused": unused.detach().clone()}, lrs, betas

    plain, lr_plain, beta_plain = run(False)
    ours, lr_ours, beta_ours = run(True)
    assert lr_ours == pytest.approx(lr_plain) and beta_ours == pytest.approx(beta_plain)
    assert min(beta_plain) == pytest.approx(0.85, abs=1e-3) and max(beta_plain) > 0.9   # beta1 does move
    for k in plain:
        torch.testing.assert_close(ours[k], plain[k], rtol=1e-5, atol=1e-7)
    assert torch.equal(ours["unused"], torch.ones(2))
    with pytest.raises(TypeError, match="GraphHyperparams"):
        CapturableAdamW([torch.nn.Parameter(torch.ones(1))]).step()
