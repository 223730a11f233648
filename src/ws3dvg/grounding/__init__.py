"""Weakly supervised grounding: data from the caches, teacher (coarse-to-fine matching), student, evaluation."""
