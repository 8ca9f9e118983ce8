"""The training loop, readable in one sitting.

Data: the training list is split (seeded) into train and validation parts; choices
are made on validation NME, never on the test list. Crops come from the on-disk
cache. Each epoch writes ``last.pt`` (and ``best.pt`` when validation NME improves)
atomically; ``resume=True`` continues from ``last.pt`` with the same optimizer,
scheduler and RNG state, for the epoch count the run was planned with (its schedule
ends there; training further is a new run from its weights, ``init``).

``_train`` is the whole run at a glance: resume state, data, model, then the loop;
the steps are the functions below it, in the order they run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from dataclasses import dataclass
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
from .losses import landmark_loss, point_weights
from .metrics import summarize
from .models import build_model
from .preprocess import CropSpec, measure_box_rule
from .recipe import Recipe, recipe_from_dict
from .scheme import LandmarkScheme, load_scheme
from .source_offsets import SourceOffsets
from .weight_average import WeightAverage, swa_lr_factor


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
    """Validation NME of the network's own output (fp32, on the model's device). With learned
    source offsets, also the NME after each face's source offset (``nme_corrected``) and on the
    faces of the unlisted sources alone (``nme_reference``: the convention the network learns)."""
    model.eval()
    device = next(model.parameters()).device
    preds, truths, sources = [], [], []
    for x, y, source_id, *_ in loader:
        preds.append(model(x.to(device).contiguous(memory_format=torch.channels_last)).float().cpu())
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


@dataclass(frozen=True)
class TrainOptions:
    """How to run a recipe: what the command line adds to it."""

    resume: bool = False  # continue the run in the output folder from its last.pt
    subset: int | None = None  # only the first N faces of the list (smoke runs)
    epochs: int | None = None  # instead of the recipe's epoch count
    cache_dir: Path | None = None  # crop cache folder (default: data.cache.default_cache_dir())
    threads: int | None = None  # torch intra-op threads
    stop_after_epochs: int | None = None  # stop after this many epochs of this call (tests stand in for a kill)
    teachers: tuple[Path, ...] = ()  # checkpoints whose averaged predictions are a second target (distill.py)
    distill_weight: float = 0.5  # share of the loss that follows the teachers
    teacher_mirror: bool = True  # average each teacher over the face and its mirror image
    init: Path | None = None  # start from this checkpoint's weights (same model) instead of a random init
    device: str | None = None  # cpu, gpu, cuda:N (edgemark.devices); None: CUDA when torch sees a device, else the CPU
    amp: str = "off"  # autocast on CUDA: bf16, fp16 (with gradient scaling) or off (fp32); validation stays fp32
    workers: int | None = None  # data loader processes instead of the recipe's (None on CUDA: at least min(8, cores - 1))


@dataclass
class _Data:
    """What the loop trains and validates on."""

    scheme: LandmarkScheme
    crop: CropSpec
    train_set: LandmarkDataset
    val_loader: DataLoader
    offsets: SourceOffsets | None  # learned per-source label offsets (source_offsets.py), or None
    distill_weight: float | None  # share of the loss that follows the teachers' targets; None: no teachers
    split: dict  # which train/validation split (stored, and compared with teachers')
    box_rule: dict
    list_path: str
    workers: int = 0  # training data loader processes
    pin_memory: bool = False  # page-locked batches (CUDA): faster, asynchronous copies to the GPU


@dataclass
class _Model:
    """The network, its optimizer and learning-rate schedule."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    lr: float  # peak learning rate
    epochs: int  # the schedule's length
    steps_per_epoch: int
    net: torch.nn.Module | None = None  # what trains: the model, in DistributedDataParallel under torchrun
    average: WeightAverage | None = None  # the running weight average (recipe swa_start), or None
    device: torch.device = torch.device("cpu")  # where the model trains
    amp_dtype: torch.dtype | None = None  # autocast's dtype on CUDA, or None (fp32)
    scaler: torch.amp.GradScaler | None = None  # gradient scaling for fp16 autocast


def train(recipe: Recipe, faces: FaceList, out_dir: Path, options: TrainOptions | None = None,
          console: Console | None = None, **overrides) -> dict:
    """Train ``recipe`` on ``faces`` into ``out_dir``. ``overrides`` are ``TrainOptions`` fields
    (``train(recipe, faces, out, epochs=2, resume=True)``)."""
    options = dataclasses.replace(options or TrainOptions(), **overrides)
    options = dataclasses.replace(options, teachers=tuple(options.teachers or ()))
    device = training_device(options.device)
    _check_amp(options.amp, device)
    world = distributed.setup(use_cuda=device.is_gpu)
    try:
        return _train(recipe, faces, Path(out_dir), options, world, console)
    finally:
        distributed.cleanup(world)


def _train(recipe: Recipe, faces: FaceList, out_dir: Path, opts: TrainOptions, world, console) -> dict:
    # with torchrun, only rank 0 prints, writes checkpoints and logs; every rank trains
    console = console if world.main and console is not None else Console(quiet=not world.main)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    state = _resume_state(recipe, out_dir, opts)
    epochs = opts.epochs or (state["epochs"] if state is not None else recipe.epochs)
    data = _prepare_data(recipe, faces, opts, world, console)
    device = _torch_device(training_device(opts.device), world)
    data.pin_memory = device.type == "cuda"
    data.workers = _loader_workers(recipe, opts, device)
    m = _build(recipe, data, epochs, world, device)
    m.amp_dtype = AMP_DTYPES[opts.amp]
    m.scaler = torch.amp.GradScaler("cuda") if opts.amp == "fp16" else None
    start_epoch, best_nme, history = 0, float("inf"), []
    if state is not None:
        start_epoch, best_nme, history = _restore(m, data, state)
        console.print(f"resuming {out_dir} at epoch {start_epoch + 1}/{epochs} (best val NME so far {best_nme:.4f})")
    elif opts.init is not None:
        _load_init(m.model, opts.init, recipe, data, console)
    # wrapped once loaded: DDP broadcasts rank 0's weights
    m.net = (DistributedDataParallel(m.model, device_ids=[device.index] if device.type == "cuda" else None) if world.enabled
             else m.model)
    meta = _meta(recipe, data, opts, state, world, epochs)
    meta["device"] = _device_record(device, world)
    _describe(console, recipe, data, m, world)

    # the loop: every rank trains an epoch; rank 0 validates, writes last.pt (and best.pt) and logs
    for epoch in range(start_epoch, epochs):
        started = time.time()
        train_loss = distributed.mean_across(world, _train_epoch(recipe, data, m, world, epoch, console))
        divergence = distributed.weight_divergence(world, m.model)
        if world.main:
            judged = _judged_model(recipe, data, m, epoch)
            val = validate(judged, data.val_loader, data.scheme.interocular, data.offsets)
            row = _history_row(epoch, train_loss, val, m, data, seconds=time.time() - started,
                               divergence=divergence if world.enabled else None)
            history.append(row)
            improved = val["nme"] < best_nme
            best_nme = min(best_nme, val["nme"])
            checkpoint = _checkpoint(meta, m, data, epoch + 1, best_nme, history, judged)
            if improved:
                save_checkpoint(out_dir / "best.pt", checkpoint)
            save_checkpoint(out_dir / "last.pt", checkpoint)
            _write_history(out_dir, history)
            _log_epoch(console, row, val, epochs, improved)
        distributed.barrier(world)  # the other ranks wait for rank 0
        if opts.stop_after_epochs is not None and epoch + 1 - start_epoch >= opts.stop_after_epochs:
            break
    return {"best_val_nme": best_nme, "history": history, "out": str(out_dir), "main": world.main}


AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def training_device(requested=None):
    """The ``edgemark.devices.Device`` to train on: the one asked for (CUDA checked, with a
    named error saying what to install), or CUDA when torch sees a device, else the CPU."""
    from .devices import CPU, parse_device, require_torch_cuda

    if requested is None:
        return parse_device("cuda") if torch.cuda.is_available() else CPU
    device = parse_device(requested)
    return require_torch_cuda(device) if device.is_gpu else device


def _torch_device(device, world) -> torch.device:
    """Under torchrun on CUDA each rank trains on its own GPU (cuda:LOCAL_RANK)."""
    if not device.is_gpu:
        return torch.device("cpu")
    torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest convolutions once
    return torch.device("cuda", world.local_rank if world.enabled else device.index)


def _check_amp(amp: str, device) -> None:
    if amp not in AMP_DTYPES:
        raise EdgemarkError(f"--amp must be one of {', '.join(AMP_DTYPES)}, not {amp!r}")
    if amp != "off" and not device.is_gpu:
        raise EdgemarkError(f"--amp {amp} is autocast on CUDA; training here runs on the CPU (--device {device.name})")


def _loader_workers(recipe: Recipe, opts: TrainOptions, device: torch.device) -> int:
    """The loader's processes: --workers, else the recipe's; on CUDA at least min(8, cores - 1),
    so that cropping and augmenting keep the GPU fed (each face's augmentation is seeded by
    face and epoch, so the count does not change what is trained on)."""
    import os

    if opts.workers is not None:
        if opts.workers < 0:
            raise EdgemarkError(f"--workers must be 0 or more, not {opts.workers}")
        return opts.workers
    if device.type == "cuda":
        return max(recipe.workers, min(8, (os.cpu_count() or 1) - 1))
    return recipe.workers


def _device_record(device: torch.device, world) -> dict:
    """Where the run trained (each rank on its own GPU under torchrun)."""
    record = {"device": str(device), "ranks": world.size}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def _resume_state(recipe: Recipe, out_dir: Path, opts: TrainOptions) -> dict | None:
    """The state to resume from (None for a new run), after checking it continues this run."""
    last_path = out_dir / "last.pt"
    if not opts.resume:
        if last_path.exists():
            raise EdgemarkError(f"{out_dir} already holds a run (last.pt); pass --resume to continue it or choose another --out")
        return None
    if not last_path.exists():
        raise EdgemarkError(f"{last_path}: nothing to resume (no last.pt in {out_dir})")
    state = load_checkpoint(last_path)
    # keys added to recipes since the run started take their defaults
    if recipe_from_dict(state["recipe"]).to_dict() != recipe.to_dict():
        raise EdgemarkError(f"{last_path}: the run was started with another recipe; resume with the same recipe or a new --out")
    if opts.epochs is not None and opts.epochs != state["epochs"]:
        raise EdgemarkError(f"{last_path}: the run was planned for {state['epochs']} epochs and its learning rate decays to zero "
                            f"there; --resume cannot change that to --epochs {opts.epochs}. Resume without --epochs, or train "
                            f"further as a new run from its weights: edgemark train --init {out_dir / 'best.pt'} "
                            f"--epochs N --out NEW_FOLDER (fine-tuning, a new schedule)")
    if not distill.same_distillation(state.get("teacher"), list(opts.teachers), opts.distill_weight, opts.teacher_mirror):
        raise EdgemarkError(f"{last_path}: the run was started with other --teacher settings (or without); resume with the same ones")
    return state


def _prepare_data(recipe: Recipe, faces: FaceList, opts: TrainOptions, world, console) -> _Data:
    """The crop cache, the train/validation split, source offsets and teachers' targets."""
    scheme = load_scheme(recipe.scheme)
    if faces.records[0].landmarks.shape[0] != scheme.num_points:
        raise EdgemarkError(f"{faces.path}: {faces.records[0].landmarks.shape[0]} points per face, but the recipe's scheme "
                            f"{scheme.name} has {scheme.num_points}")
    if opts.subset:
        faces = FaceList(faces.path, faces.records[:opts.subset], faces.skipped, faces.points_elsewhere)
    crop = CropSpec(size=recipe.input_size, margin=recipe.margin)
    for builder in (True, False):  # rank 0 builds the crop cache, the others then read it
        if world.main == builder:
            with _progress(console) as progress:
                task = progress.add_task("caching crops", total=len(faces), info="")
                cache = load_or_build_cache(faces, crop.size, crop.margin, opts.cache_dir, lambda i, n: progress.update(task, completed=i))
        distributed.barrier(world)
    train_idx, val_idx = split_train_val(len(faces), recipe.val_fraction, recipe.validation_seed)
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
    split = {"list": Path(faces.path).name, "faces": len(faces), "seed": recipe.validation_seed, "val_fraction": recipe.val_fraction}
    targets = None
    if opts.teachers:
        teachers = distill.load_teachers(list(opts.teachers), scheme, crop, split, console)
        with _progress(console) as progress:
            task = progress.add_task("teacher targets", total=len(train_idx), info="")
            targets = distill.teacher_targets(teachers, cache, train_idx, opts.teacher_mirror,
                                              progress=lambda i, n: progress.update(task, completed=i))
        agree = summarize(targets[train_idx], cache.landmarks[train_idx], scheme.interocular)
        console.print(f"teachers vs labels on the training faces: NME {agree['nme'] * 100:.2f}%; "
                      f"distillation weight {opts.distill_weight}")
    train_set = LandmarkDataset(cache, train_idx, crop, scheme, recipe.augment, recipe.seed, source_ids, targets, recipe.upright)
    val_set = LandmarkDataset(cache, val_idx, crop, scheme, None, recipe.seed, source_ids, upright=recipe.upright)
    return _Data(scheme, crop, train_set, DataLoader(val_set, batch_size=256, num_workers=0), offsets,
                 opts.distill_weight if targets is not None else None, split, box_rule, faces.path)


def _build(recipe: Recipe, data: _Data, epochs: int, world, device: torch.device = torch.device("cpu")) -> _Model:
    """The model (seeded, on ``device``), AdamW and the warm-up + cosine schedule over ``epochs``."""
    torch.manual_seed(recipe.seed)
    m = recipe.model
    model = build_model(m.name, data.scheme.num_points, data.crop.size, m.width, m.head_channels, m.head_pooling, m.dropout)
    # NHWC weights and batches: oneDNN's convolutions run forward and backward ~1.4x faster on
    # CPU than in NCHW for this network (the same arithmetic; checkpoints load into any layout)
    model = model.to(device, memory_format=torch.channels_last)  # source offsets stay on the CPU (_with_offsets)
    lr = recipe.lr * world.size  # linear scaling rule (Goyal et al., 2017): the batch grows with the world
    params = [{"params": model.parameters()}]
    if data.offsets is not None:
        params.append({"params": data.offsets.parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(data.train_set) / (recipe.batch_size * world.size))
    total_steps, warmup = epochs * steps_per_epoch, recipe.warmup_epochs * steps_per_epoch
    if recipe.swa_start > epochs:
        raise EdgemarkError(f"recipe swa_start {recipe.swa_start} is past the run's last epoch ({epochs}): no weights would be averaged")

    def factor(step: int) -> float:  # warm-up and cosine, held at swa_lr once weight averaging starts
        held = swa_lr_factor(step, steps_per_epoch, recipe.swa_start, lr, recipe.swa_lr * world.size)
        return lr_factor(step, total_steps, warmup) if held is None else held

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    average = WeightAverage(model) if recipe.swa_start > 0 else None
    return _Model(model, optimizer, scheduler, lr, epochs, steps_per_epoch, average=average, device=device)


def _restore(m: _Model, data: _Data, state: dict) -> tuple[int, float, list]:
    """Weights, optimizer, schedule and RNG of a resumed run; its epoch, best NME and history."""
    if "swa" in state:  # "model" is the average; training continues from the weights that train
        m.model.load_state_dict(state["swa"]["train_model"])
        m.average.restore(state["model"], state["swa"]["count"])
    else:
        m.model.load_state_dict(state["model"])
    if data.offsets is not None:
        data.offsets.load_state_dict(state["source_offsets"])
    m.optimizer.load_state_dict(state["optimizer"])
    m.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return state["epoch"], state["best_val_nme"], list(state["history"])


def _meta(recipe: Recipe, data: _Data, opts: TrainOptions, state: dict | None, world, epochs: int) -> dict:
    """What every checkpoint of the run records besides the weights."""
    if state is not None:
        init_record = state.get("init")
    else:
        init_record = {"file": str(opts.init), "sha256": file_sha256(opts.init)} if opts.init is not None else None
    teacher = distill.describe(list(opts.teachers), opts.distill_weight, opts.teacher_mirror) if opts.teachers else None
    return {"recipe": recipe.to_dict(), "world_size": world.size, "init": init_record, "teacher": teacher,
            "scheme": data.scheme.to_dict(), "crop": data.crop.to_dict(), "box_rule": data.box_rule,
            "train_list": data.list_path, "train_faces": int(len(data.train_set)), "val_faces": int(len(data.val_loader.dataset)),
            "edgemark_version": __version__, "torch_version": str(torch.__version__), "epochs": epochs,
            "amp": opts.amp}


def _describe(console, recipe: Recipe, data: _Data, m: _Model, world) -> None:
    if world.enabled:
        console.print(f"DistributedDataParallel: {world.size} processes ({world.backend}); effective batch "
                      f"{recipe.batch_size} x {world.size} = {recipe.batch_size * world.size}; lr scaled linearly "
                      f"{recipe.lr:g} x {world.size} = {m.lr:g}")
    mc = recipe.model
    where = str(m.device) if m.device.type == "cpu" else f"{m.device} ({torch.cuda.get_device_name(m.device)})"
    console.print(f"training on {where}, {'autocast ' + str(m.amp_dtype).removeprefix('torch.') if m.amp_dtype else 'fp32'}, "
                  f"{data.workers} loader process(es)")
    console.print(f"{mc.name} x{mc.width} @ {data.crop.size}px, {sum(p.numel() for p in m.model.parameters()):,} parameters; "
                  f"{len(data.train_set)} train / {len(data.val_loader.dataset)} val faces; "
                  f"{m.epochs} epochs of {m.steps_per_epoch} steps")


def _epoch_loader(recipe: Recipe, data: _Data, world, epoch: int) -> DataLoader:
    """This epoch's shuffled batches: seeded by epoch, split across the ranks under torchrun."""
    if world.enabled:
        sampler = DistributedSampler(data.train_set, world.size, world.rank, shuffle=True, seed=recipe.seed)
        sampler.set_epoch(epoch)
        return DataLoader(data.train_set, batch_size=recipe.batch_size, sampler=sampler, num_workers=data.workers,
                          pin_memory=data.pin_memory)
    order = torch.Generator().manual_seed(recipe.seed * 100003 + epoch)
    weights = draw_weights(data.train_set, data.scheme, recipe)
    if weights is not None:  # rare and turned faces drawn more often (with replacement), as many draws as faces
        sampler = torch.utils.data.WeightedRandomSampler(weights, len(weights), replacement=True, generator=order)
        return DataLoader(data.train_set, batch_size=recipe.batch_size, sampler=sampler, drop_last=False,
                          num_workers=data.workers, persistent_workers=False, pin_memory=data.pin_memory)
    return DataLoader(data.train_set, batch_size=recipe.batch_size, shuffle=True, generator=order, drop_last=False,
                      num_workers=data.workers, persistent_workers=False, pin_memory=data.pin_memory)


# What counts as a rare face for ``rare_weight``: eyes at least half shut (the mean eye aspect
# ratio of the labels below 0.2; open eyes 0.25-0.40) or a mouth open wide (mouth aspect
# ratio above 0.3). 9.3 % and 2.8 % of the CUHK training faces by MediaPipe's mesh.
RARE_EAR, RARE_MAR = 0.2, 0.3


def rare_face_weights(train_set, scheme, rare_weight: float) -> torch.Tensor | None:
    """Per training face: ``rare_weight`` for closed eyes or a wide-open mouth (by its labels),
    1 otherwise; None when the scheme has neither eyelids nor a mouth, or the weight is 1."""
    from .face_measures import eye_aspect_ratio, mouth_aspect_ratio

    if rare_weight == 1.0 or not (scheme.has_eyelids or scheme.has_mouth):
        return None
    points = train_set.cache.landmarks[train_set.indices]
    rare = np.zeros(len(points), bool)
    if scheme.has_eyelids:
        rare |= np.mean([eye_aspect_ratio(points, e) for e in scheme.eyes], axis=0) < RARE_EAR
    if scheme.has_mouth:
        rare |= mouth_aspect_ratio(points, scheme.mouth) > RARE_MAR
    return torch.as_tensor(np.where(rare, rare_weight, 1.0), dtype=torch.double)


# What counts as a strongly turned head for ``turned_weight``: the head-turn measure of the
# reports' last bin (edgemark.face_measures.TURN_BINS), by the labels: 11.6 % of the CUHK
# training faces.
TURNED = 0.3


def turned_face_weights(train_set, scheme, turned_weight: float) -> torch.Tensor | None:
    """Per training face: ``turned_weight`` for a strongly turned head (by its labels), 1
    otherwise; None when the weight is 1 or the scheme names no eyes and nose."""
    from .face_measures import head_turns

    turns = None if turned_weight == 1.0 else head_turns(train_set.cache.landmarks[train_set.indices], scheme)
    if turns is None:
        return None
    return torch.as_tensor(np.where(turns >= TURNED, turned_weight, 1.0), dtype=torch.double)


def draw_weights(train_set, scheme, recipe: Recipe) -> torch.Tensor | None:
    """Each training face's weight in the epoch's draw: rare faces and turned heads, their
    weights multiplied where a face is both; None when every face weighs 1."""
    parts = [w for w in (rare_face_weights(train_set, scheme, recipe.rare_weight),
                         turned_face_weights(train_set, scheme, recipe.turned_weight)) if w is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] * parts[1]


def _train_epoch(recipe: Recipe, data: _Data, m: _Model, world, epoch: int, console) -> float:
    """One pass over this rank's share of the training faces; its mean loss."""
    m.net.train()
    data.train_set.set_epoch(epoch)
    loss_sum, seen = 0.0, 0
    with _progress(console) as progress:
        task = progress.add_task(f"epoch {epoch + 1}/{m.epochs}", total=m.steps_per_epoch, info="")
        for batch in _epoch_loader(recipe, data, world, epoch):
            batch = [t.to(m.device, non_blocking=True) for t in batch]
            x = batch[0].contiguous(memory_format=torch.channels_last)
            if recipe.mirror_consistency > 0:  # the batch and its mirror image in one forward pass
                x = torch.cat([x, x.flip(3)])
            with torch.autocast(m.device.type, dtype=m.amp_dtype or torch.float32, enabled=m.amp_dtype is not None):
                pred = m.net(x)
            if recipe.mirror_consistency > 0:
                loss = mirror_consistency_loss(recipe, data, pred.float(), batch)
            else:
                loss = _loss(recipe, data, pred.float(), batch)  # the loss in fp32
            m.optimizer.zero_grad(set_to_none=True)
            (m.scaler.scale(loss) if m.scaler else loss).backward()
            if data.offsets is not None and world.enabled:  # DDP syncs the network's gradients, not these
                grad = data.offsets.offsets.grad
                shared = grad.to(distributed.collective_device(world))  # nccl reduces GPU tensors only
                torch.distributed.all_reduce(shared)
                grad.copy_(shared / world.size)
            if m.scaler:
                m.scaler.step(m.optimizer)
                m.scaler.update()
            else:
                m.optimizer.step()
            m.scheduler.step()
            loss_sum, seen = loss_sum + loss.item() * len(x), seen + len(x)
            progress.update(task, advance=1, info=f"loss {loss_sum / seen:.4f}")
    return loss_sum / seen


def _loss(recipe: Recipe, data: _Data, pred: torch.Tensor, batch) -> torch.Tensor:
    """The recipe's loss against the labels (after the source's offset), and, when distilling,
    also against the teachers' targets (moved with the augmentation like the labels)."""
    _, y, source_id, flipped, y_teacher = batch
    size = data.crop.size
    weights = point_weights(data.scheme, recipe.labelled_weight)
    weights = weights.to(pred.device) if weights is not None else None
    loss = landmark_loss(recipe.loss, pred if data.offsets is None else _with_offsets(data.offsets, pred, source_id, flipped), y, size,
                         weights)
    if data.distill_weight is not None:
        w = data.distill_weight
        loss = (1 - w) * loss + w * landmark_loss(recipe.loss, pred, y_teacher, size)
    return loss


def mirror_consistency_loss(recipe: Recipe, data: _Data, pred: torch.Tensor, batch) -> torch.Tensor:
    """``pred`` holds the batch's predictions and then its mirror image's. Each view learns its
    own targets (the mirror's: the targets mirrored, left and right swapped), and the mirrored
    pass, flipped back, is pulled onto the plain one with weight ``recipe.mirror_consistency``
    (in the recipe's loss, crop pixels): the network learns to say the same thing about a face
    and its mirror image, which is what flip test-time averaging otherwise buys at twice the cost."""
    plain, mirrored = pred.chunk(2)
    perm = torch.as_tensor(data.scheme.flip_permutation(), device=pred.device)
    _, y, source_id, flipped, y_teacher = batch
    mirror_batch = (None, _flip_uv(y, perm), source_id, ~flipped.bool(), _flip_uv(y_teacher, perm))
    labels = (_loss(recipe, data, plain, batch) + _loss(recipe, data, mirrored, mirror_batch)) / 2
    return labels + recipe.mirror_consistency * landmark_loss(recipe.loss, plain, _flip_uv(mirrored, perm), data.crop.size)


def _flip_uv(uv: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Crop-normalised points of the mirrored crop (augment.flip_points for a batch)."""
    return torch.stack([1.0 - uv[..., 0], uv[..., 1]], dim=-1)[:, perm]


def _with_offsets(offsets: SourceOffsets, pred: torch.Tensor, source_id: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """The predictions moved by each face's learned source offset. The offsets (a few numbers)
    live on the CPU; on a GPU the predictions go there and back (autograd follows the copies)."""
    if pred.device.type == "cpu":
        return offsets(pred, source_id, flipped)
    return offsets(pred.cpu(), source_id.cpu(), flipped.cpu()).to(pred.device)


def _history_row(epoch: int, train_loss: float, val: dict, m: _Model, data: _Data, *, seconds: float,
                 divergence: float | None) -> dict:
    """One line of metrics.csv; ``divergence`` under torchrun only."""
    row = {"epoch": epoch + 1, "train_loss": train_loss, "val_nme": val["nme"], "val_failure_rate": val["failure_rate"],
           "val_auc": val["auc"], "lr": m.scheduler.get_last_lr()[0], "seconds": seconds}
    if divergence is not None:
        row["rank_weight_divergence"] = divergence
    if data.offsets is not None:  # val NME after the learned offsets, on the reference sources, and the largest offset (px)
        row["val_nme_corrected"], row["val_nme_reference"] = val["nme_corrected"], val["nme_reference"]
        row["max_source_offset_px"] = float(data.offsets.offsets.detach().abs().max()) * data.crop.size
    return row


def _judged_model(recipe: Recipe, data: _Data, m: _Model, epoch: int) -> torch.nn.Module:
    """What this epoch validates and saves: the weights as trained, or from ``swa_start`` on
    their running average (this epoch's weights added, BatchNorm measured again)."""
    if m.average is None or epoch + 1 < recipe.swa_start:
        return m.model
    m.average.averaged.to(m.device)
    m.average.add(m.model)
    if m.device.type != "cpu":  # update_bn feeds the training crops as they come, on the CPU: the small average goes there
        m.average.averaged.to("cpu")
    return m.average.model_with_bn(data.train_set, recipe.batch_size, seed=recipe.seed * 100003 + epoch)


def _checkpoint(meta: dict, m: _Model, data: _Data, epoch: int, best_nme: float, history: list,
                judged: torch.nn.Module) -> dict:
    """``model`` is what was validated (the weight average once it runs; the weights that
    train then ride along in ``swa`` for --resume)."""
    checkpoint = {**meta, "model": judged.state_dict(), "optimizer": m.optimizer.state_dict(), "scheduler": m.scheduler.state_dict(),
                  "torch_rng": torch.get_rng_state(), "epoch": epoch, "best_val_nme": best_nme, "history": history}
    if judged is not m.model:
        checkpoint["swa"] = {"train_model": m.model.state_dict(), "count": m.average.count}
    if data.offsets is not None:
        checkpoint["source_offsets"] = data.offsets.state_dict()
        checkpoint["source_offsets_px"] = data.offsets.describe(data.crop.size)
    return checkpoint


def _log_epoch(console, row: dict, val: dict, epochs: int, improved: bool) -> None:
    corrected = ""
    if val.get("nme_reference") is not None:
        corrected = f"  (source-corrected {val['nme_corrected'] * 100:.2f}%, reference sources {val['nme_reference'] * 100:.2f}%)"
    console.print(f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}  val NME {val['nme'] * 100:.2f}%  "
                  f"FR {val['failure_rate'] * 100:.1f}%  {row['seconds']:.0f}s" + ("  [green]best" if improved else "") + corrected)


def _load_init(model, path: Path, recipe: Recipe, data: _Data, console) -> None:
    """Start from a trained checkpoint's weights (fine-tuning); the model must be the same.
    A checkpoint of another scheme (e.g. the 5-point model for the 23-point drive23 scheme)
    gives every weight but the head's last layer, whose rows are copied for the points both
    schemes name; a new point starts as its nearest named point (in the training faces' mean
    shape) moved by their mean offset."""
    scheme, crop = data.scheme, data.crop
    state = load_checkpoint(path)
    theirs = recipe_from_dict(state["recipe"])
    other_size = state["crop"]["size"] != crop.size
    if theirs.model != recipe.model or (other_size and not _same_shapes(model, state["model"])):
        raise EdgemarkError(f"{path}: --init needs a checkpoint of the same model, and of the same input size unless every "
                            f"weight keeps its shape ({theirs.model.name} x{theirs.model.width} @ {state['crop']['size']}px vs "
                            f"{recipe.model.name} x{recipe.model.width} @ {crop.size}px)")
    if other_size:  # e.g. MobileNetV2 at 72-96 px: the last feature map is 3x3 at every one of them
        console.print(f"{path} was trained on {state['crop']['size']} px crops; every weight keeps its shape at {crop.size} px")
    distill.warn_if_other_split(state, path, data.split, console)
    if state["scheme"] == scheme.to_dict():
        model.load_state_dict(state["model"])
        console.print(f"starting from the weights of {path} (epoch {state['epoch']})")
        return
    old_names = list(state["scheme"]["names"])
    shared = [n for n in scheme.names if n in old_names]
    if not shared:
        raise EdgemarkError(f"{path}: --init from another scheme needs points both schemes name "
                            f"({state['scheme']['name']}: {', '.join(old_names[:5])}...; {scheme.name}: {', '.join(scheme.names[:5])}...)")
    weights = {k: v for k, v in state["model"].items() if not k.startswith("head.fc.")}
    model.load_state_dict(weights, strict=False)
    w_old, b_old = state["model"]["head.fc.weight"].view(len(old_names), 2, -1), state["model"]["head.fc.bias"].view(len(old_names), 2)
    mean = _mean_shape(data)  # (K, 2) crop-normalised
    named = [scheme.names.index(n) for n in shared]
    with torch.no_grad():
        w, b = model.head.fc.weight.view(scheme.num_points, 2, -1), model.head.fc.bias.view(scheme.num_points, 2)
        for i, name in enumerate(scheme.names):
            if name in old_names:
                src, offset = old_names.index(name), np.zeros(2)
            else:
                near = named[int(np.argmin(np.linalg.norm(mean[named] - mean[i], axis=1)))]
                src, offset = old_names.index(scheme.names[near]), mean[i] - mean[near]
            w[i] = w_old[src]
            b[i] = b_old[src] + torch.as_tensor(offset, dtype=b.dtype)
    console.print(f"starting from the weights of {path} (epoch {state['epoch']}, scheme {state['scheme']['name']}): "
                  f"{len(shared)} points carried over, {scheme.num_points - len(shared)} new points from their nearest")


def _same_shapes(model, weights: dict) -> bool:
    """Whether a checkpoint's weights fit this model as they are (a head that flattens the
    last feature map fits only input sizes with the same feature map size)."""
    ours = model.state_dict()
    return all(k in ours and ours[k].shape == v.shape for k, v in weights.items() if not k.startswith("head.fc."))\
        and ours["head.fc.weight"].shape[1] == weights["head.fc.weight"].shape[1]


def _mean_shape(data: _Data) -> np.ndarray:
    """Mean crop-normalised landmarks of the training faces (unaugmented crops)."""
    plain = LandmarkDataset(data.train_set.cache, data.train_set.indices[:2000], data.crop, data.scheme, None)
    return np.mean([plain.sample(i)[1] for i in range(len(plain))], axis=0)


def _write_history(out_dir: Path, history: list[dict]) -> None:
    write_json_atomic(out_dir / "history.json", history)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out_dir / "metrics.csv", buf.getvalue())
