"""Thin stage entries: `python -m stages.NAME` reads params.yaml and calls ws3dvg."""
