"""ScanNet label table (scannetv2-labels.combined.tsv) and the 18 grounding classes.

The 18 classes follow ScanRefer: 17 nyu40 classes keep their own class, every other
nyu40 class is `others`, and wall / floor / ceiling (and unannotated points) are excluded.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.errors import DataError

log = logging.getLogger(__name__)

CLASSES18 = [
    "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
    "bathtub", "others",
]
NUM_CLASSES = len(CLASSES18)
OTHERS = CLASSES18.index("others")
# nyu40 ids of the first 17 classes, in CLASSES18 order.
NYU40_IDS17 = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36]
EXCLUDED_NYU40 = {0, 1, 2, 22}  # unannotated, wall, floor, ceiling
LABEL_TABLE_COLUMNS = [
    "id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass", "nyu40class",
    "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55", "synsetoffset", "wnsynsetid",
    "wnsynsetkey", "mpcat40", "mpcat40index",
]


def nyu40_to_class18(nyu40: np.ndarray | int) -> np.ndarray:
    """Vectorised nyu40 id -> class index in CLASSES18, -1 for excluded ids."""
    lut = np.full(41, OTHERS, dtype=np.int64)
    lut[list(EXCLUDED_NYU40)] = -1
    lut[NYU40_IDS17] = np.arange(17)
    arr = np.asarray(nyu40, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 40):
        raise ValueError(f"nyu40 ids must lie in 0..40, got {arr.min()}..{arr.max()}")
    return lut[arr]


def normalize_label(label: str) -> str:
    """The form two spellings of one ScanNet label share: lower case, no spaces, underscores or hyphens
    ("trashcan", "trash can", "Trash_Can" -> "trashcan"); v1 aggregations and ScanRefer names need it."""
    return re.sub(r"[\s_\-]+", "", str(label).lower())


class LabelMap:
    """raw_category -> (ScanNet label id, nyu40 id, nyu40 class) read from the real table.

    Reads ScanNet v2's table (`scannetv2-labels.combined.tsv`, column `raw_category`) and v1's
    (`scannet-labels.combined.tsv`, whose `category` column holds the raw labels).
    """

    def __init__(self, table: pd.DataFrame, source: str = "<table>"):
        self.source = source
        self.table = table
        self._nyu40 = dict(zip(table["raw_category"], table["nyu40id"].astype(int)))
        self._ids = dict(zip(table["raw_category"], table["id"].astype(int)))
        self._normal: dict[str, str] = {}
        for raw in table["raw_category"]:  # the first row of a spelling wins, in the table's order
            self._normal.setdefault(normalize_label(raw), raw)

    @classmethod
    def read(cls, path: str | Path) -> "LabelMap":
        path = Path(path)
        if not path.exists():
            raise DataError(path, "label table not found")
        try:
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        except Exception as exc:  # pandas raises several kinds on garbage
            raise DataError(path, f"not a tab-separated label table ({exc})") from exc
        table.columns = [c.strip() for c in table.columns]
        if "raw_category" not in table.columns and "category" in table.columns:  # ScanNet v1's table
            table = table.rename(columns={"category": "raw_category"})
        missing = {"id", "raw_category", "nyu40id"} - set(table.columns)
        if missing:
            raise DataError(path, f"label table lacks column(s) {sorted(missing)}")
        table = table.apply(lambda col: col.str.strip())
        # a row with no nyu40 id maps the label nowhere (v1's "storage"): dropped, so the label is unknown
        unmapped = table["nyu40id"] == ""
        if unmapped.any():
            log.warning("%s: %d row(s) without an nyu40id left out, e.g. %s", path, int(unmapped.sum()),
                        table.loc[unmapped, "raw_category"].head(3).tolist())
            table = table[~unmapped]  # index kept: error lines below count the file's rows
        bad = ~table["nyu40id"].str.fullmatch(r"\d+")
        if bad.any():
            row = int(table.index[bad.to_numpy()][0]) + 2
            raise DataError(path, f"line {row}: nyu40id {table['nyu40id'][bad].iloc[0]!r} is not an integer")
        return cls(table.reset_index(drop=True), str(path))

    def __contains__(self, raw: str) -> bool:
        return raw in self._nyu40

    def resolve(self, label: str) -> str | None:
        """The table's raw category for an annotation label, matched exactly, else ignoring case, spaces,
        underscores and hyphens; None when neither finds it."""
        if label in self._nyu40:
            return label
        return self._normal.get(normalize_label(label))

    def nyu40(self, raw: str) -> int:
        try:
            return self._nyu40[raw]
        except KeyError:
            raise KeyError(f"raw category {raw!r} is not in the label table {self.source}") from None

    def label_id(self, raw: str) -> int:
        return self._ids[raw]

    def class18(self, raw: str) -> int:
        return int(nyu40_to_class18(self.nyu40(raw)))

    def class18_of_name(self, name: str) -> int:
        """A ScanRefer object_name ("kitchen_cabinets") -> class index; unknown names -> others.

        Exactly ScanRefer's evaluation (its `raw2label`): underscores to spaces, then an exact match of
        the table's raw category; no other spelling is tried, so unique / multiple stay comparable."""
        raw = name.replace("_", " ")
        if raw not in self._nyu40:
            return OTHERS
        c = self.class18(raw)
        return OTHERS if c < 0 else c

    def id_to_nyu40_lut(self) -> np.ndarray:
        """ScanNet label id (as in label images) -> nyu40 id, 0 where unknown."""
        ids = self.table["id"].astype(int).to_numpy()
        lut = np.zeros(max(int(ids.max()), 0) + 1, dtype=np.int64)
        lut[ids] = self.table["nyu40id"].astype(int).to_numpy()
        return lut
