"""Per-scene HDF5 tables read into one array by several processes: the same array as one process reads."""

import h5py
import numpy as np
import pytest

from ws3dvg.engine.errors import DataError
from ws3dvg.scannet.tables import read_tables


@pytest.fixture()
def tables(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"scene{i:04d}_00": rng.normal(size=(n, 4)).astype(np.float16) for i, n in enumerate([5, 0, 7, 3, 11])}
    path = tmp_path / "feats.h5"
    with h5py.File(path, "w") as h5:
        for name, a in arrays.items():
            h5.create_dataset(name, data=a, compression="gzip")
    return path, arrays


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_tables_stack_in_the_asked_order(tables, workers):
    path, arrays = tables
    names = ["scene0003_00", "scene0000_00", "scene0001_00", "scene0004_00", "scene0002_00"]  # not the file's order
    table, starts = read_tables(path, names, workers)
    np.testing.assert_array_equal(table, np.concatenate([arrays[n] for n in names]))
    assert table.dtype == np.float16 and starts.tolist() == [0, 3, 8, 8, 19, 26]
    cast, _ = read_tables(path, names[:2], workers, np.float32)
    assert cast.dtype == np.float32 and np.array_equal(cast, np.concatenate([arrays[n] for n in names[:2]]))


def test_missing_scene_and_mixed_widths_name_the_file(tables, tmp_path):
    path, _ = tables
    with pytest.raises(DataError, match=r"feats\.h5.*no features for \['scene0099_00'\]"):
        read_tables(path, ["scene0000_00", "scene0099_00"], 2)
    with h5py.File(path, "a") as h5:
        h5.create_dataset("wide", data=np.zeros((2, 6), np.float16))
    with pytest.raises(DataError, match="different widths"):
        read_tables(path, ["scene0000_00", "wide"], 2)


@pytest.mark.parametrize("budget", [1, 40, 1 << 30])
def test_windows_yield_every_scene_in_order_within_the_budget(tables, budget):
    from ws3dvg.scannet.tables import iter_tables

    path, arrays = tables
    names = ["scene0004_00", "scene0001_00", "scene0000_00", "scene0002_00"]
    got = list(iter_tables(path, names, 2, np.float32, budget_bytes=budget))  # 1 byte: one scene per window
    assert [n for n, _ in got] == names
    for n, rows in got:
        assert rows.dtype == np.float32 and np.array_equal(rows, arrays[n])
    with pytest.raises(DataError, match="no features for"):
        iter_tables(path, names + ["absent"], 2)  # before any read, not at the missing scene
