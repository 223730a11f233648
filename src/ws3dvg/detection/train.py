"""Train the detector with box labels; evaluate mAP; run it frozen to fill the proposal cache."""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..engine import distributed
from ..engine.errors import ParamsError
from ..engine.tracking import Curves
from ..engine.training import (
    Checkpoint,
    EpochLoader,
    GraphHyperparams,
    StepRunner,
    autocast,
    make_loader,
    save_weights,
    scheduled_adamw,
    seed_everything,
    step_mode,
    to_device,
)
from ..models.detector import build_detector
from .data import SceneSet, class_mean_sizes, collate, input_dim, read_mean_sizes
from .loss import detection_loss, instance_discrimination_loss
from .metrics import mean_ap, nms
from .objects import ObjectSet, collate_objects, evaluate_objects

log = logging.getLogger(__name__)


def scene_set(cfg: dict, h5: str, scenes: list[str], augment: bool, seed: int, multiview_h5: str | None,
              read_workers: int = 1) -> SceneSet:
    return SceneSet(h5, scenes, cfg["num_points"], cfg["input_features"], multiview_h5, augment, seed, read_workers)


def model_set(cfg: dict, h5: str, scenes: list[str], augment: bool, seed: int, multiview_h5: str | None,
              read_workers: int = 1) -> SceneSet | ObjectSet:
    """What the model trains on: scenes for the point detectors, objects for the object encoder."""
    if cfg["model"] == "objects":
        return ObjectSet(h5, scenes, cfg["object_points"], cfg["input_features"], augment, seed,
                         views=cfg["object_contrastive"] > 0)
    return scene_set(cfg, h5, scenes, augment, seed, multiview_h5, read_workers)


def evaluate_model(model, val_set, cfg: dict, device: torch.device) -> dict:
    if cfg["model"] == "objects":
        return evaluate_objects(model, val_set, device)
    return evaluate_detector(model, val_set, cfg, device)


def mean_sizes(cfg: dict, h5: str, train_scenes: list[str]) -> np.ndarray | None:
    """Size-cluster means: ScanNet's released file when configured, else the training boxes' class means
    (None for the object encoder, which predicts no boxes)."""
    if cfg["model"] == "objects":
        return None
    return read_mean_sizes(cfg["mean_sizes"]) if cfg["mean_sizes"] else class_mean_sizes(h5, train_scenes)


def train_detector(cfg: dict, h5: str, splits: dict, out_dir: str, live_dir: str, device: torch.device, seed: int,
                   multiview_h5: str | None = None, loader_workers: int = 0, checkpoint_every_s: float = 0.0,
                   read_workers: int = 1, step: str = "eager") -> dict:
    """Train on this process's part of every global batch (the whole batch when alone, as under torchrun's
    ranks: engine/distributed.py). Rank 0 alone evaluates and writes; the others return no metrics.

    `step` (runtime.step): auto or graph replays a point detector's whole step as one CUDA graph on CUDA (one
    process; the object encoder and torchrun's ranks step eagerly)."""
    t_setup = time.perf_counter()
    ctx = distributed.context()
    if ctx.enabled and cfg["model"] == "objects":
        raise ParamsError("params.yaml: detector.model: objects trains in one process (seconds); torchrun is for "
                          "groupfree and votenet")
    seed_everything(seed)
    train_set = model_set(cfg, h5, splits["train"], True, seed, multiview_h5, read_workers)
    val_set = model_set(cfg, h5, splits["val"], False, seed, multiview_h5, read_workers)
    model = build_detector(cfg, input_dim(cfg), mean_sizes(cfg, h5, splits["train"])).to(device)
    net = distributed.wrap(model, ctx, device)  # DDP with global batch norm under torchrun, else the model
    # GroupFree-3D trains its transformer decoder (every parameter named *decoder*) at a tenth of the rate
    decoder = [p for n, p in model.named_parameters() if "decoder" in n]
    rest = [p for n, p in model.named_parameters() if "decoder" not in n]
    lrs = [cfg["lr"], cfg["lr"] * cfg["decoder_lr_scale"]]
    mode = "eager" if ctx.enabled or cfg["model"] == "objects" else step_mode(step, device)
    opt = scheduled_adamw([{"params": rest, "lr": lrs[0]}, {"params": decoder, "lr": lrs[1]}], cfg["weight_decay"],
                          device, mode)
    steps_per_epoch = max(1, len(train_set) // cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lrs, total_steps=cfg["epochs"] * steps_per_epoch,
                                                pct_start=0.1)
    ckpt = Checkpoint(out_dir, {"detector": cfg, "seed": seed, "splits": splits}, [h5, multiview_h5],
                      checkpoint_every_s)
    start, _ = ckpt.load(model, opt, sched, device)
    # a captured step reads the schedule's learning rates and beta1 from device tensors, refilled after every step
    hyper = GraphHyperparams(opt, device) if mode == "graph" else None
    runner = StepRunner(net, opt, mode, clip_norm=10.0)
    if start:
        log.info("resuming from %s at epoch %d", ckpt.path, start)
    elif ctx.enabled:  # each rank its own dropout stream (the weights are rank 0's: DDP broadcast them)
        torch.manual_seed(seed + ctx.rank)
    curves = Curves(live_dir, resume=start > 0) if ctx.is_main else None
    # one loader for every epoch left, shuffled by (seed, epoch) as a loader per epoch would be; under torchrun
    # each rank loads its part of every global batch
    # the object encoder batches objects and learns their classes; the detectors batch scenes and learn boxes
    # (a graph needs one shape for every batch: the GT boxes padded to the most any training scene has)
    if cfg["model"] == "objects":
        collate_fn, loss_fn = collate_objects, object_loss(net, cfg, device)
    else:
        collate_fn = partial(collate, max_boxes=train_set.max_boxes()) if mode == "graph" else collate
        loss_fn = detector_loss(net, cfg, device, ctx)
    loader = EpochLoader(train_set, cfg["batch_size"], seed, range(start, cfg["epochs"]), collate_fn, loader_workers,
                         device, drop_last=True, rank=ctx.rank, world=ctx.world)
    times = {"setup": time.perf_counter() - t_setup, "train": 0.0, "evaluate": 0.0, "checkpoint": 0.0}
    metrics = None
    for epoch in range(start, cfg["epochs"]):
        model.train()
        sums: dict[str, torch.Tensor] = {}
        t0 = time.perf_counter()
        for batch in loader.epoch(epoch, f"detector epoch {epoch + 1}/{cfg['epochs']}" if ctx.is_main else None):
            terms = runner(prepare_batch(batch, train_set, device), "step", loss_fn)
            sched.step()
            if hyper is not None:
                hyper.apply()
            for k, v in terms.items():  # summed on the device: no host sync inside the epoch
                sums[k] = sums.get(k, 0.0) + v / loader.steps
        # each rank's terms are its part's share of the global batch's: their mean over ranks is the batch's
        sums = {k: float(distributed.all_sum(v)) / ctx.world for k, v in sums.items()}
        t1 = time.perf_counter()
        times["train"] += t1 - t0
        row = {f"train/{k}": v for k, v in sums.items()}
        if ctx.is_main and ((epoch + 1) % cfg["eval_every"] == 0 or epoch + 1 == cfg["epochs"]):
            m = metrics = evaluate_model(model, val_set, cfg, device)
            row.update({f"val/{k}": m[k] for k in ("mAP@0.25", "mAP@0.5", "accuracy") if k in m})
            log.info("epoch %d: loss terms %s, val mAP@0.25 %.3f mAP@0.5 %.3f", epoch + 1,
                     {k: round(v, 3) for k, v in sums.items()}, m["mAP@0.25"], m["mAP@0.5"])
        t2 = time.perf_counter()
        times["evaluate"] += t2 - t1
        if curves is not None:
            curves.log(row, epoch)
        ckpt.save(epoch, model, opt, sched, final=epoch + 1 == cfg["epochs"])
        times["checkpoint"] += time.perf_counter() - t2
    if ctx.is_main:
        if metrics is None:  # the last epoch evaluated already unless the run resumed past it
            metrics = evaluate_model(model, val_set, cfg, device)
        curves.close()
    steps = (cfg["epochs"] - start) * loader.steps
    # where the stage's time went (log only: times are not results and stay out of metrics)
    log.info("detector times: %s; %.1f ms per training step (data wait included; %s steps%s)",
             {k: f"{v:.1f} s" for k, v in times.items()}, 1e3 * times["train"] / max(steps, 1), runner.mode,
             f", {runner.eager_steps} of them eager" if runner.eager_steps else "")
    # how the steps ran: graph replays, or eager (the CPU, torchrun, the object encoder, a failed capture)
    return {"model": model, "metrics": metrics, "steps": {"mode": runner.mode, "eager": runner.eager_steps}}


def prepare_batch(batch: dict, train_set, device: torch.device) -> dict:
    """A training batch on the device with the model's input channels assembled (scenes; objects pass through)."""
    batch = to_device(batch, device)
    if isinstance(train_set, SceneSet):
        batch["features"] = train_set.input_features(batch)
    return batch


def detector_loss(net, cfg: dict, device: torch.device, ctx: distributed.Context | None = None):
    """-> loss_fn(batch) -> (loss, terms) of a point detector, for training.StepRunner (eager or captured).

    Under DDP the masked means divide by the global count of positives / ranks, so the averaged gradients are
    those of the whole batch; alone it is the plain loss."""
    ctx = ctx or distributed.Context()
    model = distributed.unwrap(net)
    count = (lambda n: distributed.all_sum(n.float()) / ctx.world) if ctx.enabled else None

    def loss_fn(batch: dict):
        with autocast(device, cfg["amp"]):
            out = net(batch["xyz"], batch["features"])
        return detection_loss(_float(out), batch, model.mean_size_arr, cfg["center_delta"], cfg["size_delta"], count)
    return loss_fn


def object_loss(net, cfg: dict, device: torch.device):
    """-> loss_fn(batch) of the object encoder: cross-entropy of every object's class (one process only), plus
    `detector.object_contrastive` x instance discrimination between two views of every object (the batch's
    `views`). A class label says nothing of an object's shape variant or surface pattern; telling one chair from
    the batch's other chairs of its colour does, and needs no label (weak supervision allows it)."""
    weight = cfg["object_contrastive"]

    def loss_fn(batch: dict):
        if weight > 0:
            m = len(batch["gt_class"])
            with autocast(device, cfg["amp"]):
                out = net(torch.cat([batch["points"], batch["views"].flatten(0, 1)]))
                z = net.projection(out["features"][m:])
            sem = F.cross_entropy(out["sem_logits"][:m].float(), batch["gt_class"])
            inst = instance_discrimination_loss(z[:m], z[m:])
            return sem + weight * inst, {"sem": sem, "instance": inst}
        with autocast(device, cfg["amp"]):
            out = net(batch["points"])
        loss = F.cross_entropy(out["sem_logits"].float(), batch["gt_class"])
        return loss, {"sem": loss}
    return loss_fn


def _float(out: dict) -> dict:
    """Losses in fp32 whatever autocast produced."""
    def conv(v):
        if torch.is_tensor(v) and v.is_floating_point():
            return v.float()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return conv(out)


@torch.no_grad()
def run_detector(model, dataset: SceneSet, cfg: dict, device: torch.device, desc: str = "detect"):
    """Yield (scene, sample, outputs on CPU) for every scene, batched."""
    model.eval()
    loader = make_loader(dataset, cfg["batch_size"], False, 0, collate, 0, device)
    for batch in tqdm(loader, desc=desc, leave=False, unit="batch"):
        scenes = batch["scene"]
        batch = to_device(batch, device)
        batch["features"] = dataset.input_features(batch)
        with autocast(device, cfg["amp"]):
            out = _float(model(batch["xyz"], batch["features"]))
        for i, scene in enumerate(scenes):
            yield scene, {k: v[i].cpu() for k, v in batch.items() if torch.is_tensor(v)}, \
                {k: v[i].cpu() for k, v in out.items() if torch.is_tensor(v)}


def proposal_scores(out: dict) -> tuple[torch.Tensor, torch.Tensor]:
    obj = out["objectness"].sigmoid()
    cls = out["sem_logits"].softmax(-1)
    return obj, cls


def evaluate_detector(model, dataset: SceneSet, cfg: dict, device: torch.device) -> dict:
    dets = {"scene": [], "box": [], "class": [], "score": []}
    gts = {"scene": [], "box": [], "class": []}
    for si, (_, sample, out) in enumerate(run_detector(model, dataset, cfg, device, "evaluate detector")):
        obj, cls = proposal_scores(out)
        boxes = torch.cat([out["center"], out["size"]], -1)
        keep = nms(boxes, obj, cfg["nms_iou"]) & (obj > 0.05)
        conf, label = cls.max(-1)
        for key, val in (("box", boxes[keep]), ("class", label[keep]), ("score", (obj * conf)[keep])):
            dets[key].append(val.numpy())
        dets["scene"].append(np.full(int(keep.sum()), si))
        m = sample["gt_mask"]
        gts["box"].append(torch.cat([sample["gt_center"][m], sample["gt_size"][m]], -1).numpy())
        gts["class"].append(sample["gt_class"][m].numpy())
        gts["scene"].append(np.full(int(m.sum()), si))
    dets = {k: np.concatenate(v) for k, v in dets.items()}
    gts = {k: np.concatenate(v) for k, v in gts.items()}
    return mean_ap(dets, gts)




def detector_config(cfg: dict) -> dict:
    keys = ("model", "num_points", "input_features", "sa_npoints", "width", "num_proposal", "decoder_layers", "ffn_dim",
            "mean_sizes")
    return {k: cfg[k] for k in keys}


def save_detector(path: str | Path, model, cfg: dict) -> None:
    save_weights(path, model, detector_config(cfg))
