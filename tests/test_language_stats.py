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
