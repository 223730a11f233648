"""Training curves and summary metrics in dvclive's layout: `<dir>/metrics.json` (dvc metrics) and
`<dir>/plots/metrics/<name>.tsv` (dvc plots), declared in dvc.yaml by hand so nothing edits it.

dvclive writes them when it is installed (it is a dependency of the package); where it is not
(a bare GPU box running the stage modules directly), the same files are written here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path


class Curves:
    def __init__(self, directory: str, resume: bool = False):
        self.dir = Path(directory)
        self.latest: dict[str, float] = {}
        try:
            os.environ.setdefault("DVCLIVE_LOGLEVEL", "WARNING")
            from dvclive import Live
        except ImportError:
            self.live = None
            if not resume and self.dir.exists():
                shutil.rmtree(self.dir)
            (self.dir / "plots" / "metrics").mkdir(parents=True, exist_ok=True)
            if resume and (self.dir / "metrics.json").exists():
                self.latest = json.loads((self.dir / "metrics.json").read_text())
        else:
            self.live = Live(dir=directory, resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, values: dict[str, float], step: int) -> None:
        if self.live is not None:
            self.live.step = step
            for k, v in values.items():
                self.live.log_metric(k, float(v))
            self.live.make_summary()
            return
        for k, v in values.items():
            path = self.dir / "plots" / "metrics" / f"{k}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            with open(path, "a") as f:
                if new:
                    f.write(f"step\t{k.split('/')[-1]}\n")
                f.write(f"{step}\t{float(v)}\n")
            self.latest[k] = float(v)
        self.latest["step"] = step
        self._write_summary()

    def summary(self, values: dict[str, float]) -> None:
        if self.live is not None:
            for k, v in values.items():
                self.live.log_metric(k, float(v), plot=False)
            self.live.make_summary()
            return
        self.latest.update({k: float(v) for k, v in values.items()})
        self._write_summary()

    def _write_summary(self) -> None:
        nested: dict = {}
        for k, v in self.latest.items():
            node = nested
            parts = k.split("/")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = v
        (self.dir / "metrics.json").write_text(json.dumps(nested, indent=4) + "\n")

    def close(self) -> None:
        if self.live is not None:
            with contextlib.suppress(Exception):
                self.live.end()
