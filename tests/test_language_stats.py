"""benchmarks/language_stats.py: the share of descriptions that compare the target by an ordinal or a distance."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "language_stats", Path(__file__).resolve().parents[1] / "benchmarks" / "language_stats.py")
language_stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(language_stats)


def _row(text: str) -> dict:
    return {"description": text, "token": text.replace(".", " .").split()}


def test_ordinals_and_distances_are_counted_by_sentence():
    rows = [_row("the second chair from the door. it is red."),      # first sentence
            _row("this is a red chair. it is the farthest one."),    # a later sentence only
            _row("the chair on the left. it is red."),               # "left" is a place, not a comparison
            _row("a brown table next to the bed.")]
    out = language_stats.stats(rows)
    assert out["ordinal_or_distance_first_sentence"] == 0.25
    assert out["ordinal_or_distance_anywhere"] == 0.5
    assert out["two_or_more_sentences"] == 0.75
    assert out["descriptions"] == 4


def test_attribute_mentions_by_unique_and_multiple_rows():
    rows = [_row("the wooden chair. it is red."),              # unique: material 1, colour 1
            _row("a red table with a round top."),              # unique: colour 1, shape 1
            _row("the metal chair next to the door."),          # multiple: material 1
            _row("the chair next to the bed. it is wooden."),   # multiple: material 1
            _row("the second chair from the left.")]            # multiple: nothing
    unique = language_stats.np.array([True, True, False, False, False])
    out = language_stats.attribute_mentions(rows, unique)
    assert out["unique_rows"] == 0.4
    assert out["colour"] == {"unique_rows_naming": 1.0, "multiple_rows_naming": 0.0, "words_in_unique_rows": 1.0}
    assert out["material"] == {"unique_rows_naming": 0.5, "multiple_rows_naming": 0.667,
                               "words_in_unique_rows": 0.333}
    assert out["shape"]["words_in_unique_rows"] == 1.0 and out["size"]["words_in_unique_rows"] == 0.0


def test_real_rows_get_scanrefers_unique_flag(tmp_path):
    """Two chairs and one table annotated in one scene: the chair rows are "multiple", the table's "unique"."""
    table = tmp_path / "labels.tsv"
    table.write_text("id\traw_category\tnyu40id\n1\tchair\t5\n2\ttable\t7\n")
    rows = [dict(_row("a chair."), scene_id="s", object_id="1", object_name="chair"),
            dict(_row("a chair."), scene_id="s", object_id="2", object_name="chair"),
            dict(_row("a table."), scene_id="s", object_id="3", object_name="table")]
    assert language_stats.scanrefer_unique(rows, str(table)).tolist() == [False, False, True]
