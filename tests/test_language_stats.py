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
    same_class = language_stats.np.array([1, 1, 2, 4, 4])
    out = language_stats.attribute_mentions(rows, same_class)
    assert out["unique_rows"] == 0.4
    # the chance of a random object of the class over the "multiple" rows: (1/2 + 1/4 + 1/4) / 3
    assert out["multiple_chance_of_class"] == 0.333
    assert out["multiple_same_class_quartiles"] == [3.0, 4.0, 4.0]
    assert out["colour"] == {"unique_rows_naming": 1.0, "multiple_rows_naming": 0.0, "words_in_unique_rows": 1.0}
    assert out["material"] == {"unique_rows_naming": 0.5, "multiple_rows_naming": 0.667,
                               "words_in_unique_rows": 0.333}
    assert out["shape"]["words_in_unique_rows"] == 1.0 and out["size"]["words_in_unique_rows"] == 0.0


def test_real_rows_get_scanrefers_same_class_count(tmp_path):
    """Two chairs and one table annotated in one scene: the chair rows count 2 ("multiple"), the table's 1."""
    table = tmp_path / "labels.tsv"
    table.write_text("id\traw_category\tnyu40id\n1\tchair\t5\n2\ttable\t7\n")
    rows = [dict(_row("a chair."), scene_id="s", object_id="1", object_name="chair"),
            dict(_row("a chair."), scene_id="s", object_id="2", object_name="chair"),
            dict(_row("a table."), scene_id="s", object_id="3", object_name="table")]
    assert language_stats.same_class_counts(rows, str(table)).tolist() == [2, 2, 1]


def test_every_object_of_the_class_counts_from_the_aligned_boxes(tmp_path):
    """A scene with three chairs (nyu40 5), one table (7) and two bags (37, `others`): a chair row counts 3, the
    table's 1, a bag's 2 and is marked `others`, whatever the rows annotate."""
    table = tmp_path / "labels.tsv"
    table.write_text("id\traw_category\tnyu40id\n1\tchair\t5\n2\ttable\t7\n3\tbag\t37\n")
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    rows_of_boxes = [[0, 0, 0, 1, 1, 1, nyu, i] for i, nyu in enumerate([5, 5, 5, 7, 37, 37])]
    language_stats.np.save(boxes / "s_aligned_bbox.npy", language_stats.np.array(rows_of_boxes, dtype=float))
    rows = [dict(_row("a chair."), scene_id="s", object_id="0", object_name="chair"),
            dict(_row("a table."), scene_id="s", object_id="3", object_name="table"),
            dict(_row("a bag."), scene_id="s", object_id="4", object_name="bag")]
    counts, others = language_stats.box_same_class_counts(rows, str(table), str(boxes))
    assert counts.tolist() == [3, 1, 2] and others.tolist() == [False, False, True]
    assert language_stats.counts_summary(counts[~others]) == {
        "rows": 2, "unique_rows": 0.5, "multiple_chance_of_class": 0.333,
        "multiple_same_class_quartiles": [3.0, 3.0, 3.0]}
