"""benchmarks/combine_knowledge.py: two teachers' knowledge as a product of experts, checked by hand."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


combine_knowledge = _load("combine_knowledge")
INF = np.inf


def _knowledge(candidates, recon, valid):
    candidates = np.asarray(candidates, np.int64)
    return {"candidates": candidates, "recon_loss": np.asarray(recon, np.float32), "valid": np.asarray(valid, bool),
            "coarse": np.arange(candidates.size, dtype=np.float32).reshape(candidates.shape),
            "pred_class": np.arange(len(candidates), dtype=np.int64)}


# row 0: both teachers see proposals 3 and 5; A alone prefers 3 (1.0 < 2.0), the product 5 (2.0 + 0.5 < 1.0 + 3.0)
# row 1: B considered none of A's proposals: A alone decides, unchanged
# row 2: B saw proposal 1 only; A's proposals 2 and 3 drop out
A = _knowledge([[3, 5, 7], [1, 2, 0], [1, 2, 3]],
               [[1.0, 2.0, INF], [0.2, 0.4, INF], [1.0, 1.0, 1.0]],
               [[True, True, False], [True, True, False], [True, True, True]])
B = _knowledge([[5, 3, 9], [4, 6, 8], [1, 9, 4]],
               [[0.5, 3.0, 0.1], [0.1, 0.1, 0.1], [2.0, 0.0, 5.0]],
               [[True, True, True], [True, True, True], [True, True, False]])


def test_the_product_adds_each_candidates_two_losses():
    out, counts = combine_knowledge.combine_split(A, B)
    assert out["recon_loss"][0].tolist() == [4.0, 2.5, INF]
    assert out["valid"][0].tolist() == [True, True, False]
    assert int(np.argmin(out["recon_loss"][0])) == 1  # the fine stage's choice moves from proposal 3 to 5
    assert out["recon_loss"][1].tolist() == pytest.approx([0.2, 0.4, INF])  # A alone
    assert out["valid"][1].tolist() == [True, True, False]
    assert out["recon_loss"][2].tolist() == [3.0, INF, INF]
    assert out["valid"][2].tolist() == [True, False, False]
    assert counts == {"rows": 3, "candidates_both": 3, "candidates_dropped": 2, "rows_a_alone": 1}
    for kept in ("candidates", "coarse", "pred_class"):  # A's rows, order and class
        np.testing.assert_array_equal(out[kept], A[kept])


def test_weights_scale_each_expert():
    out, _ = combine_knowledge.combine_split(A, B, w_a=2.0, w_b=0.5)
    assert out["recon_loss"][0].tolist() == [3.5, 4.25, INF]  # 2 * 1 + 0.5 * 3, 2 * 2 + 0.5 * 0.5


def test_files_of_different_tables_are_refused():
    short = {k: v[:2] for k, v in B.items()}
    with pytest.raises(ValueError, match="3 and 2 rows"):
        combine_knowledge.combine_split(A, short)


def _write(path, knowledge):
    with h5py.File(path, "w") as h5:
        h5.attrs["topk"] = 3
        for split in ("train", "val"):
            g = h5.create_group(split)
            for k, v in knowledge.items():
                g.create_dataset(k, data=v)


def test_the_command_writes_a_knowledge_file_distill_can_read(tmp_path):
    from ws3dvg.grounding.teacher import read_knowledge

    _write(tmp_path / "a.h5", A)
    _write(tmp_path / "b.h5", B)
    out = tmp_path / "c" / "knowledge.h5"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "combine_knowledge.py"), str(tmp_path / "a.h5"),
                    str(tmp_path / "b.h5"), "--out", str(out)], check=True, capture_output=True)
    for split in ("train", "val"):
        got = read_knowledge(str(out), split)
        assert got["recon_loss"][0].tolist() == [4.0, 2.5, INF]
        assert got["recon_loss"].dtype == np.float32 and got["valid"].dtype == bool
    with h5py.File(out) as h5:
        assert h5.attrs["topk"] == 3


def test_a_file_that_is_no_knowledge_is_named(tmp_path):
    _write(tmp_path / "a.h5", A)
    (tmp_path / "b.h5").write_text("not hdf5")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "combine_knowledge.py"), str(tmp_path / "a.h5"),
                          str(tmp_path / "b.h5"), "--out", str(tmp_path / "c.h5")], capture_output=True, text=True)
    assert run.returncode != 0 and "b.h5: not a teacher's knowledge file" in run.stderr
    assert not (tmp_path / "c.h5").exists()


def test_run_variants_needs_a_teacher_and_the_other_knowledge(tmp_path):
    run_variants = _load("run_variants")
    data = tmp_path / "data"
    (data / "data").mkdir(parents=True)
    with pytest.raises(SystemExit, match="needs teacher_from"):
        run_variants.prepare("c", {"knowledge_with": "b"}, data, tmp_path / "work", [])
    with pytest.raises(SystemExit, match="not written yet"):
        run_variants.prepare("c", {"teacher_from": "a", "knowledge_with": "b"}, data, tmp_path / "work", [])
