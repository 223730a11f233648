"""params.yaml: load, validate against the packaged schema, and resolve the device."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ParamsError

SCHEMA_NAME = "params.schema.yaml"


def load_schema() -> dict:
    return yaml.safe_load(resources.files("ws3dvg").joinpath(SCHEMA_NAME).read_text())


def validate_params(params: dict, source: str = "params.yaml") -> dict:
    """Raise ParamsError naming the first bad key (dotted path) and what is allowed."""
    import jsonschema  # a dependency of the package (Snakemake and DVC need it too)

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ParamsError(f"{source}: {key}: {err.message}")
    return params


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found (run from the repository root)")
    with open(path) as f:
        params = yaml.safe_load(f) or {}
    return validate_params(params, str(path))


def resolve_device(name: str = "auto") -> Any:
    """`auto` picks CUDA when present; anything else is taken as given (checked to exist)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"params.yaml: base.device: {name!r} asked for but CUDA is not available")
    return torch.device(name)


def setup_logging(stage: str) -> logging.Logger:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage} %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    return logging.getLogger(f"ws3dvg.{stage}")


def run_stage(main) -> None:
    """A stage's entry: a bad input file or params value prints its one line (which file or key, and what is
    wrong) instead of a traceback, and exits 1. WS3DVG_TRACEBACK=1 shows the traceback too."""
    import os
    import sys

    from .errors import DataError

    try:
        main()
    except (DataError, ParamsError, FileNotFoundError) as exc:
        if os.environ.get("WS3DVG_TRACEBACK"):
            raise
        message = missing_input(exc) if isinstance(exc, FileNotFoundError) else str(exc)
        print(f"{Path(sys.argv[0]).stem}: error: {message}", file=sys.stderr)
        sys.exit(1)


def missing_input(exc: FileNotFoundError, dvc_yaml: str | Path = "dvc.yaml") -> str:
    """One line for a file a stage could not open: its path, and which stage of dvc.yaml writes it (a stage run
    directly, `python -m stages.NAME`, before the stages it needs)."""
    import re

    # open() sets `filename`; h5py only names the file in its message ("... name = 'data/x.h5', errno = 2 ...")
    path = exc.filename or next(iter(re.findall(r"name = '([^']+)'", str(exc))), None)
    if path is None:
        return str(exc)
    line = f"{path}: not found"
    try:
        from .workflow import load_stages

        stages = load_stages(dvc_yaml)
    except Exception:  # noqa: BLE001 - no readable dvc.yaml here: the path alone still says what is missing
        return line
    target = Path(path)
    for name, stage in stages.items():
        if any(target == Path(out) or Path(out) in target.parents for out in stage["outs"]):
            return f"{line}; stage {name!r} writes it (dvc repro {name}, or python -m stages.{name} first)"
    return line
