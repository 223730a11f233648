"""Training curves and summary metrics through dvclive: `<dir>/metrics.json` (dvc metrics) and
`<dir>/plots/metrics/*.tsv` (dvc plots), declared in dvc.yaml by hand, so dvclive never edits it."""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)


class Curves:
    def __init__(self, directory: str, resume: bool = False):
        os.environ.setdefault("DVCLIVE_LOGLEVEL", "WARNING")
        from dvclive import Live

        self.live = Live(dir=directory, resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, values: dict[str, float], step: int) -> None:
        self.live.step = step
        for k, v in values.items():
            self.live.log_metric(k, float(v))
        self.live.make_summary()

    def summary(self, values: dict[str, float]) -> None:
        """Final figures: logged without plots so they land in metrics.json only."""
        for k, v in values.items():
            self.live.log_metric(k, float(v), plot=False)
        self.live.make_summary()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.live.end()
