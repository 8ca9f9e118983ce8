"""The training loop, readable in one sitting.

Data: the training list is split (seeded) into train and validation parts; choices
are made on validation NME, never on the test list. Crops come from the on-disk
cache. Each epoch writes ``last.pt`` (and ``best.pt`` when validation NME improves)
atomically; ``resume=True`` continues from ``last.pt`` with the same optimizer,
scheduler and RNG state.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from . import __version__
from . import distill, distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .io import file_sha256
from .data.cache import load_or_build_cache
from .data.dataset import LandmarkDataset
from .data.lists import FaceList, source_of
from .errors import EdgemarkError
from .io import write_json_atomic, write_text_atomic
from .losses import landmark_loss
from .metrics import summarize
from .models import build_model
from .preprocess import CropSpec, measure_box_rule
from .recipe import Recipe, recipe_from_dict
from .scheme import load_scheme
from .source_offsets import SourceOffsets


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _progress(console):
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True)


@torch.inference_mode()
def validate(model, loader, interocular, offsets=None) -> dict:
    """Validation NME of the network's own output. With learned source offsets, also the NME
    after each face's source offset (``nme_corrected``) and on the faces of the unlisted
    sources alone (``nme_reference``: the convention the network learns)."""
    model.eval()
    preds, truths, sources = [], [], []
    for x, y, source_id, *_ in loader:
        preds.append(model(x))
        truths.append(y.numpy())
        sources.append(source_id.numpy())
    pred, truth = torch.cat(preds), np.concatenate(truths)
    result = summarize(pred.numpy(), truth, interocular)
    if offsets is not None:
        source_id = np.concatenate(sources)
        corrected = offsets(pred, torch.from_numpy(source_id), torch.zeros(len(pred), dtype=torch.bool)).numpy()
        result["nme_corrected"] = summarize(corrected, truth, interocular)["nme"]
        reference = source_id == 0
        result["nme_reference"] = summarize(pred.numpy()[reference], truth[reference], interocular)["nme"] if reference.any() else None
    return result


def train(recipe: Recipe, faces: FaceList, out_dir: Path, resume: bool = False, subset: int | None = None,
          epochs: int | None = None, cache_dir: Path | None = None, threads: int | None = None,
          console: Console | None = None, stop_after_epochs: int | None = None, teachers: list[Path] | None = None,
          distill_weight: float = 0.5, teacher_mirror: bool = True, init: Path | None = None) -> dict:
    """``teachers``: checkpoints whose averaged predictions are a second target (distill.py);
    ``init``: start from this checkpoint's weights (same model) instead of a random init."""
    world = distributed.setup()
    try:
        return _train(recipe, faces, out_dir, resume, subset, epochs, cache_dir, threads, console, stop_after_epochs, world,
                      list(teachers or []), distill_weight, teacher_mirror, init)
    finally:
        distributed.cleanup(world)


def _train(recipe, faces, out_dir, resume, subset, epochs, cache_dir, threads, console, stop_after_epochs, world,
           teacher_paths, distill_weight, teacher_mirror, init) -> dict:
    # with torchrun, only rank 0 prints, writes checkpoints and logs; every rank trains
    console = console if world.main and console is not None else Console(quiet=not world.main)
    out_dir = Path(out_dir)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if threads:
        torch.set_num_threads(threads)

    state = None
    if resume:
        if not last_path.exists():
            raise EdgemarkError(f"{last_path}: nothing to resume (no last.pt in {out_dir})")
        state = load_checkpoint(last_path)
        # keys added to recipes since the run started take their defaults
        if recipe_from_dict(state["recipe"]).to_dict() != recipe.to_dict():
            raise EdgemarkError(f"{last_path}: the run was started with another recipe; resume with the same recipe or a new --out")
        epochs = epochs or state["epochs"]
        if not distill.same_distillation(state.get("teacher"), teacher_paths, distill_weight, teacher_mirror):
            raise EdgemarkError(f"{last_path}: the run was started with other --teacher settings (or without); resume with the same ones")
    elif last_path.exists():
        raise EdgemarkError(f"{out_dir} already holds a run (last.pt); pass --resume to continue it or choose another --out")

    epochs = epochs or recipe.epochs

    # data -----------------------------------------------------------------------------
    scheme = load_scheme(recipe.scheme)
    if faces.records[0].landmarks.shape[0] != scheme.num_points:
        raise EdgemarkError(f"{faces.path}: {faces.records[0].landmarks.shape[0]} points per face, but the recipe's scheme "
                            f"{scheme.name} has {scheme.num_points}")
    if subset:
        faces = FaceList(faces.path, faces.records[:subset], faces.skipped)
    crop = CropSpec(size=recipe.input_size, margin=recipe.margin)
    for builder in (True, False):  # rank 0 builds the crop cache, the others then read it
        if world.main == builder:
            with _progress(console) as progress:
                task = progress.add_task("caching crops", total=len(faces), info="")
                cache = load_or_build_cache(faces, crop.size, crop.margin, cache_dir, lambda i, n: progress.update(task, completed=i))
        distributed.barrier(world)
    train_idx, val_idx = split_train_val(len(faces), recipe.val_fraction, recipe.seed)
    if len(val_idx) == 0:
        raise EdgemarkError("validation split is empty: raise val_fraction or use more faces")
    boxes = np.array([r.box for r in faces.records], np.float64)[train_idx]
    box_rule = measure_box_rule(boxes, np.stack([r.landmarks for r in faces.records])[train_idx])
    offsets = SourceOffsets(recipe.source_offsets, scheme.num_points, scheme.flip_permutation()) if recipe.source_offsets else None
    source_ids = offsets.source_ids([source_of(r) for r in faces.records]) if offsets else None
    if offsets is not None:
        for k, name in enumerate(offsets.sources):
            if not (source_ids == k + 1).any():
                raise EdgemarkError(f"recipe source_offsets: no face of {faces.path} comes from {name!r} "
                                    f"(a face's source is the folder its image sits in)")
    split = {"list": Path(faces.path).name, "faces": len(faces), "seed": recipe.seed, "val_fraction": recipe.val_fraction}
    targets = None
    if teacher_paths:
        teachers = distill.load_teachers(teacher_paths, scheme, crop, split, console)
        with _progress(console) as progress:
            task = progress.add_task("teacher targets", total=len(train_idx), info="")
            targets = distill.teacher_targets(teachers, cache, train_idx, teacher_mirror,
                                              progress=lambda i, n: progress.update(task, completed=i))
        agree = summarize(targets[train_idx], cache.landmarks[train_idx], scheme.interocular)
        console.print(f"teachers vs labels on the training faces: NME {agree['nme'] * 100:.2f}%; distillation weight {distill_weight}")
    train_set = LandmarkDataset(cache, train_idx, crop, scheme, recipe.augment, recipe.seed, source_ids, targets)
    val_set = LandmarkDataset(cache, val_idx, crop, scheme, None, recipe.seed, source_ids)
    val_loader = DataLoader(val_set, batch_size=256, num_workers=0)

    # model, optimiser, schedule -----------------------------------------------------------
    torch.manual_seed(recipe.seed)
    m = recipe.model
    model = build_model(m.name, scheme.num_points, crop.size, m.width, m.head_channels, m.head_pooling, m.dropout)
    lr = recipe.lr * world.size  # linear scaling rule (Goyal et al., 2017): the batch grows with the world
    params = [{"params": model.parameters()}]
    if offsets is not None:
        params.append({"params": offsets.parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / (recipe.batch_size * world.size))
    total_steps, warmup = epochs * steps_per_epoch, recipe.warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup))
    start_epoch, best_nme, history = 0, float("inf"), []
    if init is not None and state is None:
        _load_init(model, init, recipe, scheme, crop, split, console)
    if state is not None:
        model.load_state_dict(state["model"])
        if offsets is not None:
            offsets.load_state_dict(state["source_offsets"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best_nme, history = state["epoch"], state["best_val_nme"], list(state["history"])
        console.print(f"resuming {out_dir} at epoch {start_epoch + 1}/{epochs} (best val NME so far {best_nme:.4f})")

    net = DistributedDataParallel(model) if world.enabled else model
    if world.enabled:
        console.print(f"DistributedDataParallel: {world.size} processes ({world.backend}); effective batch "
                      f"{recipe.batch_size} x {world.size} = {recipe.batch_size * world.size}; lr scaled linearly "
                      f"{recipe.lr:g} x {world.size} = {lr:g}")
    if state is not None:
        init_record = state.get("init")
    else:
        init_record = {"file": str(init), "sha256": file_sha256(init)} if init is not None else None
    meta = {"recipe": recipe.to_dict(), "world_size": world.size, "init": init_record,
            "teacher": distill.describe(teacher_paths, distill_weight, teacher_mirror) if teacher_paths else None,
            "scheme": scheme.to_dict(), "crop": crop.to_dict(), "box_rule": box_rule,
            "train_list": faces.path, "train_faces": int(len(train_idx)), "val_faces": int(len(val_idx)),
            "edgemark_version": __version__, "torch_version": str(torch.__version__), "epochs": epochs}
    console.print(f"{m.name} x{m.width} @ {crop.size}px, {sum(p.numel() for p in model.parameters()):,} parameters; "
                  f"{len(train_idx)} train / {len(val_idx)} val faces; {epochs} epochs of {steps_per_epoch} steps")

    # the loop ------------------------------------------------------------------------------
    for epoch in range(start_epoch, epochs):
        net.train()
        train_set.set_epoch(epoch)
        if world.enabled:
            sampler = DistributedSampler(train_set, world.size, world.rank, shuffle=True, seed=recipe.seed)
            sampler.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=recipe.batch_size, sampler=sampler, num_workers=recipe.workers)
        else:
            order = torch.Generator().manual_seed(recipe.seed * 100003 + epoch)
            loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, generator=order, drop_last=False,
                                num_workers=recipe.workers, persistent_workers=False)
        started, loss_sum, seen = time.time(), 0.0, 0
        with _progress(console) as progress:
            task = progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps_per_epoch, info="")
            for x, y, source_id, flipped, y_teacher in loader:
                pred = net(x)
                loss = landmark_loss(recipe.loss, pred if offsets is None else offsets(pred, source_id, flipped), y, crop.size)
                if targets is not None:  # knowledge distillation: also follow the teachers, moved with the augmentation
                    loss = (1 - distill_weight) * loss + distill_weight * landmark_loss(recipe.loss, pred, y_teacher, crop.size)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if offsets is not None and world.enabled:  # DDP syncs the network's gradients, not these
                    torch.distributed.all_reduce(offsets.offsets.grad)
                    offsets.offsets.grad /= world.size
                optimizer.step()
                scheduler.step()
                loss_sum, seen = loss_sum + loss.item() * len(x), seen + len(x)
                progress.update(task, advance=1, info=f"loss {loss_sum / seen:.4f}")
        train_loss = distributed.mean_across(world, loss_sum / seen)
        divergence = distributed.weight_divergence(world, model)
        if not world.main:  # rank 0 validates, saves and logs; the others wait for it
            distributed.barrier(world)
            if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
                break
            continue
        val = validate(model, val_loader, scheme.interocular, offsets)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_nme": val["nme"], "val_failure_rate": val["failure_rate"],
               "val_auc": val["auc"], "lr": scheduler.get_last_lr()[0], "seconds": time.time() - started}
        if world.enabled:
            row["rank_weight_divergence"] = divergence
        if offsets is not None:  # val NME after the learned offsets, on the reference sources, and the largest offset (px)
            row["val_nme_corrected"], row["val_nme_reference"] = val["nme_corrected"], val["nme_reference"]
            row["max_source_offset_px"] = float(offsets.offsets.detach().abs().max()) * crop.size
        history.append(row)
        improved = val["nme"] < best_nme
        best_nme = min(best_nme, val["nme"])
        checkpoint = {**meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                      "torch_rng": torch.get_rng_state(), "epoch": epoch + 1, "best_val_nme": best_nme, "history": history}
        if offsets is not None:
            checkpoint["source_offsets"] = offsets.state_dict()
            checkpoint["source_offsets_px"] = offsets.describe(crop.size)
        if improved:
            save_checkpoint(best_path, checkpoint)
        save_checkpoint(last_path, checkpoint)
        _write_history(out_dir, history)
        console.print(f"epoch {epoch + 1}/{epochs}  loss {row['train_loss']:.4f}  val NME {val['nme'] * 100:.2f}%  "
                      f"FR {val['failure_rate'] * 100:.1f}%  {row['seconds']:.0f}s" + ("  [green]best" if improved else "")
                      + (f"  (source-corrected {val['nme_corrected'] * 100:.2f}%, reference sources {val['nme_reference'] * 100:.2f}%)"
                         if offsets is not None and val["nme_reference"] is not None else ""))
        distributed.barrier(world)
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            break
    return {"best_val_nme": best_nme, "history": history, "out": str(out_dir)}


def _load_init(model, path: Path, recipe: Recipe, scheme, crop: CropSpec, split: dict, console) -> None:
    """Start from a trained checkpoint's weights (fine-tuning); the model must be the same."""
    state = load_checkpoint(path)
    theirs = recipe_from_dict(state["recipe"])
    if theirs.model != recipe.model or state["scheme"] != scheme.to_dict() or state["crop"]["size"] != crop.size:
        raise EdgemarkError(f"{path}: --init needs a checkpoint of the same model, scheme and input size "
                            f"({theirs.model.name} x{theirs.model.width} @ {state['crop']['size']}px vs "
                            f"{recipe.model.name} x{recipe.model.width} @ {crop.size}px)")
    distill.warn_if_other_split(state, path, split, console)
    model.load_state_dict(state["model"])
    console.print(f"starting from the weights of {path} (epoch {state['epoch']})")


def _write_history(out_dir: Path, history: list[dict]) -> None:
    write_json_atomic(out_dir / "history.json", history)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out_dir / "metrics.csv", buf.getvalue())
