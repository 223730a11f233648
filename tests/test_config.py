import subprocess
import sys

import pytest
import torch
import yaml
from conftest import REPO

from ws3dvg.engine.atomic import atomic_dir, atomic_file
from ws3dvg.engine.config import load_params, resolve_device, validate_params
from ws3dvg.engine.errors import ParamsError
from ws3dvg.grounding.recipe import Recipe


def test_repo_params_are_valid():
    load_params(REPO / "params.yaml")


@pytest.mark.parametrize("section, key, value, message", [
    ("synth", "n_scenes", 0, "synth.n_scenes: 0 is less than the minimum of 2"),
    ("preprocess", "missing_axis_alignment", "guess", "preprocess.missing_axis_alignment: 'guess' is not one of"),
    ("base", "device", "gpu", "base.device: 'gpu' does not match"),
    ("synth", "colour_count", 3, "Additional properties are not allowed"),
])
def test_bad_params_name_the_key(section, key, value, message):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params[section][key] = value
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_params(params)


def test_device_auto():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"


def test_atomic_file_keeps_old_on_error(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]
    with atomic_file(p) as tmp:
        tmp.write_text("new")
    assert p.read_text() == "new"


def test_atomic_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    (d / "old").write_text("x")
    with pytest.raises(RuntimeError):
        with atomic_dir(d) as tmp:
            (tmp / "new").write_text("y")
            raise RuntimeError
    assert [p.name for p in d.iterdir()] == ["old"]
    with atomic_dir(d) as tmp:
        (tmp / "new").write_text("y")
    assert [p.name for p in d.iterdir()] == ["new"] and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("chain", [
    ["params-gpu.yaml"],
    ["params-gpu.yaml", "params-gpu-detector.yaml"],
    ["params-gpu.yaml", "params-world-v2.yaml"],
    ["params-gpu.yaml", "params-scanrefer-scale.yaml", "params-world-v2.yaml"],
])
def test_benchmark_overlays_are_valid_params(chain):
    # the overlays the benchmark scripts apply, in their order: a misspelt or stale key fails here, not on a GPU
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overlay_params.py"),
                          *(str(REPO / "benchmarks" / name) for name in chain)],
                         capture_output=True, text=True, check=True).stdout
    params = yaml.safe_load(out)
    validate_params(params)
    if "params-world-v2.yaml" in chain:
        assert params["synth"]["world"] == 2 and params["teacher"]["departures"]["decoder_reads_own"] is True
        # the measured student targets: half posterior, half the teacher's pick (RESULTS "The queued check")
        assert params["distill"]["posterior_targets"] is True and params["distill"]["posterior_weight"] == 0.5
        assert params["teacher"]["departures"]["hard_distillation"] is True
        # bags of one first and a round of self-training (RESULTS "Bags of one first at ScanRefer's size"); the
        # recipe accepts them together (recon_single_first needs class_candidates)
        assert params["teacher"]["departures"]["recon_single_first"] is True
        assert params["teacher"]["single_candidate_epochs"] == 10 and params["distill"]["self_training_rounds"] == 1
        Recipe.from_params(params["teacher"])


def test_benchmark_overlay_with_a_stale_key_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("teacher:\n  departures:\n    decoder_reads_everything: true\n")
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overlay_params.py"), str(bad)],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "decoder_reads_everything" in run.stderr
