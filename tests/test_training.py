"""Checkpoints resume only the run they belong to: same params and the same input files."""

import os

import torch

from ws3dvg.training import Checkpoint, input_fingerprint


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
