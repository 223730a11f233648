"""Train ENet on frames with label images (nyu40 targets through the label table)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..engine.training import autocast, seed_everything
from ..models.enet import ENet, normalize
from ..scannet.io import read_label_image
from ..scannet.labels import LabelMap
from .projection import frame_ids

log = logging.getLogger(__name__)


def load_labelled_frames(frames_root: str, scenes: list[str], labels: LabelMap, image_size, count: int):
    """-> images (F, 3, H, W) in [0, 1], targets (F, H, W) nyu40 ids (0 = unannotated, ignored)."""
    from PIL import Image

    lut = labels.id_to_nyu40_lut()
    images, targets = [], []
    for scene in scenes:
        d = Path(frames_root) / scene
        for i in frame_ids(d, scene, count):
            img = Image.open(d / "color" / f"{i}.jpg").convert("RGB").resize(tuple(image_size), Image.BILINEAR)
            lab = read_label_image(d / "label" / f"{i}.png", scene)
            lab = np.where(lab < len(lut), lut[np.clip(lab, 0, len(lut) - 1)], 0)
            lab = np.asarray(Image.fromarray(lab.astype(np.uint8)).resize(tuple(image_size), Image.NEAREST))
            images.append(np.asarray(img, np.float32) / 255.0)
            targets.append(lab.astype(np.int64))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2), torch.from_numpy(np.stack(targets))


def pixel_accuracy(model: ENet, images, targets, device, batch: int = 8) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = normalize(images[s:s + batch].to(device))
            logits = F.interpolate(model(x).float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
            t = targets[s:s + batch].to(device)
            valid = t > 0
            correct += int(((logits.argmax(1) == t) & valid).sum())
            total += int(valid.sum())
    return correct / max(total, 1)


def train_enet(cfg: dict, frames_root: str, splits: dict, labels: LabelMap, device, seed: int) -> tuple[ENet, dict]:
    seed_everything(seed)
    xs, ys = load_labelled_frames(frames_root, splits["train"], labels, cfg["image_size"], cfg["frames_per_scene"])
    xv, yv = load_labelled_frames(frames_root, splits["val"], labels, cfg["image_size"], cfg["frames_per_scene"])
    model = ENet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    g = torch.Generator().manual_seed(seed)
    for epoch in tqdm(range(cfg["epochs"]), desc="train_enet", unit="epoch"):
        model.train()
        order = torch.randperm(len(xs), generator=g)
        for s in range(0, len(xs), cfg["batch_size"]):
            idx = order[s:s + cfg["batch_size"]]
            x, y = normalize(xs[idx].to(device)), ys[idx].to(device)
            with autocast(device, cfg["amp"]):
                logits = model(x)
            logits = F.interpolate(logits.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
            loss = F.cross_entropy(logits, y, ignore_index=0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    metrics = {"train_pixel_accuracy": pixel_accuracy(model, xs, ys, device),
               "val_pixel_accuracy": pixel_accuracy(model, xv, yv, device),
               "train_frames": len(xs), "val_frames": len(xv)}
    return model, metrics
