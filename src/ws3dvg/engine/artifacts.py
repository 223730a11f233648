"""Where the stages write, relative to the pipeline's root: the one list of artifact paths.

Stages, evaluation and the CLI take their paths from here; dvc.yaml's outs, deps and metrics name the
same ones (DVC cannot import Python), and tests/test_dvc_dependencies.py fails when the two disagree.
Input paths (scans, annotations, preprocessed scenes, multiview features) are params (`data`).
"""

from __future__ import annotations

SYNTHETIC = "data/synthetic"
LANGUAGE = "data/language"
MASKED = f"{LANGUAGE}/masked.h5"
ENET = "models/enet"
ENET_WEIGHTS = f"{ENET}/enet.pth"
DETECTOR = "models/detector"
DETECTOR_WEIGHTS = f"{DETECTOR}/detector.pt"
PROPOSALS = "data/proposals"
TEACHER = "models/teacher"
TEACHER_WEIGHTS = f"{TEACHER}/teacher.pt"
TEACHER_DATA = "data/teacher"
KNOWLEDGE = f"{TEACHER_DATA}/knowledge.h5"
STUDENT = "models/student"
STUDENT_FULL = "models/student_full"
EVAL = "data/eval"


def proposals(split: str) -> str:
    return f"{PROPOSALS}/{split}.h5"


def student_weights(folder: str = STUDENT) -> str:
    return f"{folder}/student.pt"


def metrics(stage: str) -> str:
    """The stage's summary metrics file (what `dvc metrics show` reads)."""
    return f"metrics/{stage}.json"


def curves(stage: str) -> str:
    """The folder of a training stage's dvclive curves."""
    return f"metrics/{stage}_train"


def grounding_paths(preprocessed: str, *roles: str) -> dict[str, str]:
    """What a grounding stage reads, by role (`roles`: those it reads; a resumed run checks exactly these)."""
    every = {"masked": MASKED, "language_dir": LANGUAGE, "knowledge": KNOWLEDGE, "proposals_train": proposals("train"),
             "proposals_val": proposals("val"), "preprocessed": preprocessed}
    return {k: every[k] for k in roles}
