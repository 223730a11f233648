"""The label mapping, checked against ScanNet's real label table where it is available."""

import numpy as np
import pytest
from conftest import REAL_LABEL_TABLE

from ws3dvg.scannet.labels import CLASSES18, LabelMap, nyu40_to_class18


@pytest.fixture(scope="module")
def real_table():
    if not REAL_LABEL_TABLE.exists():
        pytest.skip(f"ScanNet's real label table is not at {REAL_LABEL_TABLE}")
    return LabelMap.read(REAL_LABEL_TABLE)


@pytest.mark.parametrize("raw, expected", [
    ("office chair", "chair"), ("chair", "chair"), ("kitchen cabinets", "cabinet"), ("trash can", "others"),
    ("couch", "sofa"), ("coffee table", "table"), ("shower curtain", "shower curtain"),
    ("kitchen counter", "counter"), ("mini fridge", "refrigerator"), ("monitor", "others"), ("box", "others"),
])
def test_real_table_mapping(real_table, raw, expected):
    assert CLASSES18[real_table.class18(raw)] == expected


@pytest.mark.parametrize("raw", ["wall", "floor", "ceiling"])
def test_real_table_excluded(real_table, raw):
    assert real_table.class18(raw) == -1


def test_real_table_unknown_label(real_table):
    with pytest.raises(KeyError, match="not in the label table"):
        real_table.nyu40("flux capacitor")
    assert CLASSES18[real_table.class18_of_name("kitchen_cabinets")] == "cabinet"
    assert CLASSES18[real_table.class18_of_name("flux_capacitor")] == "others"


def test_synthetic_table_agrees_with_real(real_table, tiny_synth):
    synth = LabelMap.read(tiny_synth / "meta" / "scannetv2-labels.combined.tsv")
    for raw in synth.table["raw_category"]:
        assert synth.nyu40(raw) == real_table.nyu40(raw), raw
        assert synth.label_id(raw) == real_table.label_id(raw), raw
    assert list(synth.table.columns) == list(real_table.table.columns)


def test_nyu40_lut():
    np.testing.assert_array_equal(nyu40_to_class18([0, 1, 2, 22, 3, 39, 40, 36]), [-1, -1, -1, -1, 0, 17, 17, 16])
