"""Read dvc.yaml's stages with params.yaml's `${...}` values filled in (used by the Snakefile).

Only what Snakemake needs: cmd, deps, outs (metrics and plots files count as outs) and the
params each stage lists, resolved to their values so that a change triggers a rerun.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_VAR = re.compile(r"\$\{\s*([^}]+?)\s*\}")


def lookup(params: dict, dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"params.yaml has no key {dotted!r}")
        node = node[part]
    return node


def interpolate(value: Any, params: dict) -> Any:
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return lookup(params, whole.group(1))
        return _VAR.sub(lambda m: str(lookup(params, m.group(1))), value)
    if isinstance(value, list):
        return [interpolate(v, params) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, params) for k, v in value.items()}
    return value


def _paths(entries: list | None) -> list[str]:
    out = []
    for e in entries or []:
        out.append(next(iter(e)) if isinstance(e, dict) else e)  # `- path: {cache: false}` form
    return out


def load_stages(dvc_yaml: str | Path = "dvc.yaml", params: dict | None = None) -> dict[str, dict]:
    """-> {stage: {cmd, deps, outs, params: {key: value}, resources}} in declaration order."""
    with open(dvc_yaml) as f:
        spec = yaml.safe_load(f)
    if params is None:
        with open(Path(dvc_yaml).with_name("params.yaml")) as f:
            params = yaml.safe_load(f)
    stages = {}
    for name, st in spec["stages"].items():
        st = interpolate(st, params)
        keys = []
        for p in st.get("params", []):
            keys += list(p) if isinstance(p, dict) else [p]
        stages[name] = {
            "cmd": st["cmd"] if isinstance(st["cmd"], str) else " && ".join(st["cmd"]),
            "deps": _paths(st.get("deps")),
            "outs": _paths(st.get("outs")) + _paths(st.get("metrics")) + _paths(st.get("plots")),
            "params": {k: lookup(params, k) for k in keys},
            "resources": stage_resources(params, name),
        }
    _link_inside_outputs(stages)
    return stages


RESOURCE_DEFAULTS = {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpus": 0}


def stage_resources(params: dict, stage: str) -> dict:
    """`runtime.resources` of a stage over its `default` entry over RESOURCE_DEFAULTS (params without the
    section give the defaults): threads, mem_mb, runtime (minutes), gpus."""
    table = params.get("runtime", {}).get("resources", {}) or {}
    return {**RESOURCE_DEFAULTS, **table.get("default", {}), **table.get(stage, {})}


def _link_inside_outputs(stages: dict[str, dict]) -> None:
    """`inputs`: deps, but a path inside another stage's output folder becomes that folder.

    DVC connects `data/synthetic/scans` to the stage that writes `data/synthetic`; Snakemake
    matches whole paths only, so it needs the folder itself as the input.
    """
    dirs = [Path(o) for st in stages.values() for o in st["outs"] if is_directory_out(o)]
    for st in stages.values():
        inputs = []
        for dep in st["deps"]:
            parent = next((d for d in dirs if d in Path(dep).parents), None)
            path = str(parent) if parent is not None else dep
            if path not in inputs:
                inputs.append(path)
        st["inputs"] = inputs


def is_directory_out(path: str) -> bool:
    """Convention of this project: outputs without a file suffix are directories."""
    return Path(path).suffix == ""
