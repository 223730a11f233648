"""dvc.yaml / params.yaml / Snakefile wiring, run for real in throwaway clones (tiny params)."""

import yaml

from ws3dvg.pipeline import load_stages

from conftest import REPO, make_clone, run, tiny_params


def test_snakefile_rules_come_from_dvc_yaml():
    stages = load_stages(REPO / "dvc.yaml")
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(spec)
    pre = stages["preprocess"]
    assert "data/synthetic" in pre["inputs"] and "data/synthetic/scans" in pre["deps"]
    assert pre["params"]["preprocess"]["workers"] >= 1
    assert "${" not in pre["cmd"] + "".join(pre["deps"] + pre["outs"])


def test_dvc_repro_reruns_only_what_changed(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage 'synthesize'" in out and "Running stage 'preprocess'" in out
    assert (clone / "data" / "preprocessed" / "scannet.h5").exists()
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage" not in out
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["preprocess"]["missing_axis_alignment"] = "identity"
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro", "preprocess"], clone)
    assert "Running stage 'preprocess'" in out and "Running stage 'synthesize'" not in out


def test_snakemake_agrees(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    run(["snakemake", "--cores", "2", "preprocess"], clone)
    assert (clone / "data" / "preprocessed" / "scannet.h5").exists()
    assert "Nothing to be done" in run(["snakemake", "-n", "--cores", "2", "preprocess"], clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["preprocess"]["missing_axis_alignment"] = "identity"
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["snakemake", "-n", "--cores", "2", "preprocess"], clone)
    assert "rule preprocess:" in out and "rule synthesize:" not in out


def test_language_params_rerun_only_masking(tmp_path):
    clone = make_clone(tmp_path, tiny_params())
    run(["dvc", "repro", "mask_keywords"], clone)
    assert (clone / "metrics" / "language.json").exists()
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["language"]["max_len"] = 12
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro", "mask_keywords"], clone)
    assert "Running stage 'mask_keywords'" in out
    assert "Running stage 'synthesize'" not in out and "Running stage 'preprocess'" not in out
