"""What a person looks at: a PLY of the scene with GT and predicted boxes as coloured wireframes
(thin bars, so any mesh viewer shows them), and a top-down PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.atomic import atomic_file
from ..ops.geometry import box_corners
from ..scannet.labels import CLASSES18

EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]])
GT_COLOR, PRED_COLOR = (40, 200, 40), (230, 40, 40)


def wireframe(box: np.ndarray, color, radius: float = 0.015) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """12 edges of a box as thin square bars -> (vertices (96, 3), colors (96, 3), faces (144, 3))."""
    c = box_corners(box[None])[0]
    a, b = c[EDGES[:, 0]], c[EDGES[:, 1]]                        # (12, 3) edge ends
    d = b - a
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0, 0, 1.0]], [[1.0, 0, 0]])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(d, u)
    offs = np.stack([u + v, u - v, -u - v, -u + v], 1) * radius  # (12, 4, 3)
    verts = np.concatenate([a[:, None] + offs, b[:, None] + offs], 1).reshape(-1, 3)  # (12*8, 3)
    quad = np.array([[0, 1, 5], [0, 5, 4], [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7],
                     [0, 3, 2], [0, 2, 1], [4, 5, 6], [4, 6, 7]])
    faces = (quad[None] + 8 * np.arange(12)[:, None, None]).reshape(-1, 3)
    return verts.astype(np.float32), np.tile(np.array(color, np.uint8), (len(verts), 1)), faces


def write_scene_ply(path: str | Path, points: np.ndarray, colors: np.ndarray, boxes: list[tuple[np.ndarray, tuple]]) -> None:
    """Scene points (as vertices) plus box wireframes (as faces) in one binary PLY."""
    from ..scannet.io import Mesh, write_mesh

    verts, cols, faces = [points.astype(np.float32)], [colors.astype(np.uint8)], []
    offset = len(points)
    for box, color in boxes:
        v, c, f = wireframe(np.asarray(box, np.float64), color)
        verts.append(v)
        cols.append(c)
        faces.append(f + offset)
        offset += len(v)
    with atomic_file(path) as tmp:
        write_mesh(tmp, Mesh(np.concatenate(verts), np.concatenate(cols),
                             np.concatenate(faces) if faces else np.zeros((0, 3), np.int64)))


def proposal_names(class_scores: np.ndarray) -> list[str]:
    """Each proposal's class name by the detector's verdict: class_scores (P, 18) -> P names."""
    return [CLASSES18[c] for c in class_scores.argmax(-1)]


def write_views(folder: Path, lang: dict, choice: np.ndarray, props: dict, targets: np.ndarray, iou: np.ndarray,
                preprocessed: str, count: int) -> None:
    """PLY and PNG of `count` val sentences spread over the split (per-sentence proposal arrays as
    `per_sentence_proposals` gives them): proposals named by their class, the target and the chosen box, the
    sentence and whether it hit (IoU >= 0.25)."""
    from ..scannet.preprocess import read_scene
    from .evaluation import chosen_boxes

    folder.mkdir(parents=True, exist_ok=True)
    for i in np.linspace(0, len(choice) - 1, min(count, len(choice))).astype(int):  # a few sentences, not a hot path
        scene = read_scene(preprocessed, str(lang["scene_id"][i]))
        pts, cols = scene["points"][:, :3], scene["points"][:, 3:6].astype(np.uint8)
        pred = chosen_boxes(props["center"][i:i + 1], props["size"][i:i + 1], choice[i:i + 1])[0]
        name = f"{lang['scene_id'][i]}_{int(lang['object_id'][i])}_{lang['ann_id'][i]}"
        write_scene_ply(folder / f"{name}.ply", pts, cols, [(targets[i], GT_COLOR), (pred, PRED_COLOR)])
        valid = props["valid"][i]
        boxes = np.concatenate([props["center"][i], props["size"][i]], 1)[valid]
        verdict = f"{'hit' if iou[i] >= 0.25 else 'miss'}, IoU {iou[i]:.2f}"
        write_topdown_png(folder / f"{name}.png", pts, cols, boxes, targets[i], pred, str(lang["description"][i]),
                          proposal_names(props["class_scores"][i][valid]), verdict)


def write_topdown_png(path: str | Path, points: np.ndarray, colors: np.ndarray, proposals: np.ndarray,
                      target: np.ndarray | None, prediction: np.ndarray, title: str,
                      names: list[str] | None = None, verdict: str | None = None) -> None:
    """Top-down view: the scene's points, every proposal (grey, named by its class when `names` is given),
    the target (green) and the prediction (red, dashed) in the legend, the sentence and `verdict`
    ("hit, IoU 0.62") as the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(6.4, 6.8), dpi=100)
    sel = np.random.default_rng(0).choice(len(points), min(len(points), 20000), replace=False)
    ax.scatter(points[sel, 0], points[sel, 1], c=colors[sel] / 255.0, s=2, linewidths=0)
    for i, b in enumerate(proposals):
        ax.add_patch(Rectangle(b[:2] - b[3:5] / 2, b[3], b[4], fill=False, lw=0.5, ec=(0, 0, 0, 0.35),
                               label="proposals" if i == 0 else None))
        if names is not None:
            ax.text(b[0], b[1], names[i], fontsize=6, ha="center", va="center", color=(0.1, 0.1, 0.1),
                    bbox={"boxstyle": "round,pad=0.1", "fc": (1, 1, 1, 0.6), "ec": "none"})
    if target is not None:
        ax.add_patch(Rectangle(target[:2] - target[3:5] / 2, target[3], target[4], fill=False, lw=2.5,
                               ec=np.array(GT_COLOR) / 255, label="target (ground truth)"))
    ax.add_patch(Rectangle(prediction[:2] - prediction[3:5] / 2, prediction[3], prediction[4], fill=False, lw=2,
                           ls="--", ec=np.array(PRED_COLOR) / 255, label="prediction"))
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)", fontsize=8)
    ax.set_ylabel("y (m)", fontsize=8)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    ax.set_title(_wrap(title) + (f"\n[{verdict}]" if verdict else ""), fontsize=9)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _wrap(text: str, width: int = 70) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return "\n".join(lines + [cur])
