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


class LabelledFrames(torch.utils.data.Dataset):
    """The split's frames read one at a time: item -> image (H, W, 3) in [0, 1], target (H, W) nyu40 ids (0 =
    unannotated, ignored). Nothing is held but the frame list, so memory does not grow with the frame count
    (the whole split in memory took 12.3 GiB at 703 scenes of 6 frames; ScanNet has thousands a scene)."""

    def __init__(self, frames_root: str, scenes: list[str], labels: LabelMap, image_size, count: int):
        self.root, self.image_size, self.lut = Path(frames_root), tuple(image_size), labels.id_to_nyu40_lut()
        self.frames = [(scene, i) for scene in scenes for i in frame_ids(self.root / scene, scene, count)]

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, k: int):
        from PIL import Image

        scene, i = self.frames[k]
        d, lut = self.root / scene, self.lut
        img = Image.open(d / "color" / f"{i}.jpg").convert("RGB").resize(self.image_size, Image.BILINEAR)
        lab = read_label_image(d / "label" / f"{i}.png", scene)
        lab = np.where(lab < len(lut), lut[np.clip(lab, 0, len(lut) - 1)], 0)
        lab = np.asarray(Image.fromarray(lab.astype(np.uint8)).resize(self.image_size, Image.NEAREST))
        return torch.from_numpy(np.asarray(img, np.float32) / 255.0), torch.from_numpy(lab.astype(np.int64))


class _ShuffledBatches:
    """Every epoch's batches of frame indices, each epoch a permutation drawn from `generator` in order (the
    main process draws them, so loader workers change nothing)."""

    def __init__(self, n: int, batch: int, epochs: int, generator: torch.Generator):
        self.n, self.batch, self.epochs, self.generator = n, batch, epochs, generator

    def __len__(self) -> int:
        return self.epochs * -(-self.n // self.batch)

    def __iter__(self):
        for _ in range(self.epochs):
            order = torch.randperm(self.n, generator=self.generator)
            for s in range(0, self.n, self.batch):
                yield order[s:s + self.batch].tolist()


def _to_model(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 3, 1, 2)  # (B, H, W, 3) -> (B, 3, H, W), the layout the in-memory frames had


def pixel_accuracy(model: ENet, frames: LabelledFrames, device, batch: int = 8, workers: int = 0) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, targets in torch.utils.data.DataLoader(frames, batch_size=batch, num_workers=workers,
                                                           generator=torch.Generator()):
            x = normalize(_to_model(images).to(device))
            logits = F.interpolate(model(x).float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
            t = targets.to(device)
            valid = t > 0
            correct += int(((logits.argmax(1) == t) & valid).sum())
            total += int(valid.sum())
    return correct / max(total, 1)


def train_enet(cfg: dict, frames_root: str, splits: dict, labels: LabelMap, device, seed: int,
               workers: int = 0) -> tuple[ENet, dict]:
    """ENet trained on the train split's frames, read by `workers` loader processes as the batches need them."""
    seed_everything(seed)
    train, val = (LabelledFrames(frames_root, splits[s], labels, cfg["image_size"], cfg["frames_per_scene"])
                  for s in ("train", "val"))
    model = ENet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    batches = _ShuffledBatches(len(train), cfg["batch_size"], cfg["epochs"], torch.Generator().manual_seed(seed))
    # the loader's own generator: its base-seed draw must not move the global RNG that ENet's dropout reads
    loader = torch.utils.data.DataLoader(train, batch_sampler=batches, num_workers=workers,
                                         generator=torch.Generator().manual_seed(seed),
                                         pin_memory=torch.device(device).type == "cuda")
    model.train()
    for images, targets in tqdm(loader, desc="train_enet", unit="batch"):
        x, y = normalize(_to_model(images).to(device, non_blocking=True)), targets.to(device, non_blocking=True)
        with autocast(device, cfg["amp"]):
            logits = model(x)
        logits = F.interpolate(logits.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y, ignore_index=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    metrics = {"train_pixel_accuracy": pixel_accuracy(model, train, device, workers=workers),
               "val_pixel_accuracy": pixel_accuracy(model, val, device, workers=workers),
               "train_frames": len(train), "val_frames": len(val)}
    return model, metrics
