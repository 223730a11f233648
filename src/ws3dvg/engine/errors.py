"""Errors that name the input at fault, so a user with a broken download knows what to fix."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A malformed or missing input file: carries the scene (if any), the file and the problem."""

    def __init__(self, path: str | Path, problem: str, scene: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.scene = scene
        where = f"scene {scene}: " if scene else ""
        super().__init__(f"{where}{self.path}: {problem}")

    def __reduce__(self):  # survive the trip back from a worker process
        return (DataError, (self.path, self.problem, self.scene))


class ParamsError(ValueError):
    """A bad value in params.yaml; the message names the key."""
