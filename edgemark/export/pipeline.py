"""Run the exporters, verify each artifact in its own runtime, and publish it.

Each artifact is built in a hidden ``.TARGET-PRECISION.partial`` folder, loaded by its
real runtime, compared with the torch model, evaluated on the test list, given its
manifest last, and only then renamed into place. A crash leaves a ``.partial`` folder
that no loader accepts (it has no manifest, and the name is never read).

The conversions are the slow part (an ExecuTorch or TFLite int8 one takes a minute or
two, almost all of it in one Python thread), so with ``jobs`` > 1 they run in that many
worker processes at once, the slowest first; this process checks and publishes each
artifact as its conversion comes back, in the same way as with ``jobs`` = 1.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..io import file_sha256
from ..data.lists import FaceList
from ..errors import EdgemarkError
from ..evaluate import crop_list, evaluate
from ..io import output_to_log
from ..predictors.load import load_predictor
from .calibration import calibration_crops
from .executorch import export_executorch
from .manifest import library_versions, read_manifest, write_manifest
from .ncnn import export_ncnn
from .onnx import export_onnx
from .openvino import export_openvino
from .tflite import export_tflite

TARGETS = ("onnx", "openvino", "tflite", "ncnn", "executorch")
PRECISIONS = ("fp32", "fp16", "int8")
# the order conversions start in with several jobs, slowest first (measured on 2 cores:
# ExecuTorch int8 ~60-120 s, ExecuTorch fp32/fp16 and TFLite ~25-70 s, the rest under 25 s)
SLOWEST_FIRST = [f"{t}-{p}" for t in ("executorch", "tflite", "openvino", "ncnn", "onnx") for p in ("int8", "fp32", "fp16")]
EXPORTERS = {"onnx": export_onnx, "openvino": export_openvino, "tflite": export_tflite, "ncnn": export_ncnn,
             "executorch": export_executorch}
CHECKPOINT_KEYS = ("format", "recipe", "scheme", "crop", "box_rule", "model", "epoch", "best_val_nme", "train_list",
                   "train_faces", "val_faces", "edgemark_version", "torch_version", "epochs", "history", "teacher", "world_size")


@dataclass
class ExportResult:
    name: str  # TARGET-PRECISION
    folder: Path
    manifest: dict
    accuracy: dict | None
    max_abs_diff: float  # vs torch, crop-normalised units, on the parity crops


def slim_checkpoint(src: Path, dst: Path) -> None:
    """The checkpoint without optimizer/scheduler/RNG state: what ships."""
    state = load_checkpoint(src)
    save_checkpoint(dst, {k: state[k] for k in CHECKPOINT_KEYS if k in state and k != "format"})


def publish(partial: Path, final: Path) -> None:
    """Swap a finished folder into place; the old one is removed only after."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    if old.exists():
        shutil.rmtree(old)


def source_checkpoint(checkpoint: Path) -> dict:
    """The checkpoint artifacts come from. An exported ``torch-fp32/model.pt`` (the slim copy
    that ships, checked against its manifest) stands for the checkpoint its manifest names, so
    artifacts exported from it later sit beside the earlier ones in one folder;
    ``exported_from`` records the file actually read."""
    checkpoint = Path(checkpoint)
    sha = file_sha256(checkpoint)
    if (checkpoint.parent / "manifest.json").is_file():
        try:
            _, m = read_manifest(checkpoint.parent)
        except EdgemarkError:
            m = {}
        origin = m.get("source_checkpoint")
        if m.get("format") == "torch" and m.get("model_file") == checkpoint.name and isinstance(origin, dict) and origin.get("sha256"):
            return {"file": origin.get("file"), "sha256": origin["sha256"],
                    "exported_from": {"file": f"{checkpoint.parent.name}/{checkpoint.name}", "sha256": sha}}
    return {"file": checkpoint.name, "sha256": sha}


def base_manifest(state: dict, checkpoint: Path, precision: str) -> dict:
    return {"name": "", "precision": precision, "crop": state["crop"], "scheme": state["scheme"], "box_rule": state.get("box_rule"),
            "source_checkpoint": source_checkpoint(checkpoint),
            "output_meaning": "landmarks (K, 2), crop-normalised: u = (x_crop + 0.5) / size; map back with the crop matrix"}


def export_torch(checkpoint: Path, state: dict, out: Path) -> Path:
    partial = out / ".torch-fp32.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    slim_checkpoint(checkpoint, partial / "model.pt")
    size = state["crop"]["size"]
    write_manifest(partial, {**base_manifest(state, checkpoint, "fp32"), "format": "torch", "model_file": "model.pt",
                             "converter": "checkpoint without optimizer state",
                             "input": {"shape": [-1, 3, size, size], "layout": "NCHW", "dtype": "float32"},
                             "output": {"shape": [-1, len(state["scheme"]["names"]), 2], "dtype": "float32"},
                             "versions": library_versions("torch", "opencv-python", "opencv-python-headless")})
    publish(partial, out / "torch-fp32")
    return out / "torch-fp32"


def foreign_artifacts(out: Path, sha256: str) -> list[tuple[Path, dict]]:
    """Artifact folders in ``out`` exported from another checkpoint than the one with ``sha256``."""
    found = []
    for manifest_path in sorted(Path(out).glob("*/manifest.json")):
        if manifest_path.parent.name.startswith("."):
            continue
        try:
            _, m = read_manifest(manifest_path, verify=False)
        except EdgemarkError:
            continue  # a damaged artifact is replaced anyway
        if (m.get("source_checkpoint") or {}).get("sha256") != sha256:
            found.append((manifest_path.parent, m.get("source_checkpoint") or {}))
    return found


def export_all(checkpoint: Path, out: Path, targets, precisions, test_faces: FaceList | None, train_faces: FaceList | None,
               calib_size: int = 200, calib_seed: int = 0, on_step=None, replace: bool = False,
               jobs: int = 1, nme_budget: float | None = None,
               float_candidates: list[str] | None = None, rankings: dict | None = None) -> tuple[dict | None, list[ExportResult]]:
    """Export every (target, precision); returns the torch reference accuracy and one result per artifact,
    in target x precision order. ``jobs``: conversions run at once, in worker processes (1: here, one after another).
    An export folder holds one checkpoint's artifacts: artifacts of another checkpoint in
    ``out`` are an error, or deleted first with ``replace``.
    ``nme_budget`` (int8 TFLite, ONNX and OpenVINO): the fewest layers left float for each int8
    model's NME drop against fp32 on the checkpoint's validation faces to be within that many
    percentage points (``quant_debug``: ranked in torch, then the real artifact measured in its
    runtime); ``float_candidates``: the layers it may keep float (default: every int8 layer);
    ``rankings``: target -> a ``quant-debug --json`` report of it to rank them by (instead of ranking again)."""
    checkpoint, out = Path(checkpoint), Path(out)
    if nme_budget is not None:
        from .nme_budget import check_budget_targets
        from .quant_debug import check_budget

        nme_budget = check_budget(nme_budget)
        check_budget_targets(targets, precisions)
        if train_faces is None:
            raise EdgemarkError("--nme-budget measures the drop on the training list's validation faces: pass --data (or EDGEMARK_DATA)")
    state = load_checkpoint(checkpoint)
    others = foreign_artifacts(out, source_checkpoint(checkpoint)["sha256"])
    if others and not replace:
        names = ", ".join(p.name for p, _ in others[:4]) + (", ..." if len(others) > 4 else "")
        source = others[0][1]
        raise EdgemarkError(f"{out}: holds artifacts exported from another checkpoint ({names}: from {source.get('file', '?')}, "
                            f"SHA-256 {str(source.get('sha256', '?'))[:12]}...); mixing them would compare two models as one. "
                            "Export into a new folder, or pass --replace to delete those artifacts first")
    for folder, _ in others:
        shutil.rmtree(folder)
    out.mkdir(parents=True, exist_ok=True)
    on_step = on_step or (lambda message, done, total: None)
    total = 1 + len(targets) * len(precisions)
    on_step("torch reference", 0, total)
    reference_folder = export_torch(checkpoint, state, out)
    reference = load_predictor(reference_folder)
    calib, calib_info = None, None
    if "int8" in precisions:
        if train_faces is None:
            raise EdgemarkError("int8 export needs calibration crops from the training list: pass --train-list, or --data (or EDGEMARK_DATA)")
        on_step(f"calibration crops ({calib_size} from {Path(train_faces.path).name})", 0, total)
        calib, calib_info = calibration_crops(train_faces, reference.crop, calib_size, calib_seed)
    prepared, reference_accuracy = None, None
    if test_faces is not None:
        on_step(f"test crops ({len(test_faces)} faces)", 0, total)
        prepared = crop_list(test_faces, reference.crop)
        reference_accuracy = _summary(evaluate(reference, test_faces, prepared=prepared))
        _set_accuracy(reference_folder, reference_accuracy, reference_accuracy)
    parity = prepared[0][:32] if prepared is not None else _synthetic_crops(reference.crop.size)
    torch_parity = reference.predict_crops(parity)
    budget = None
    if nme_budget is not None:
        from .nme_budget import BudgetSearch

        budget = BudgetSearch(reference, state, calib, train_faces, nme_budget, lambda m: on_step(m, 0, total), float_candidates,
                              rankings, base_manifest(state, checkpoint, "int8"))
        for target in targets:
            budget.start(target)  # a budget the torch simulation cannot meet is refused before any conversion
        jobs = 1  # each conversion takes its own float layers, here
    tasks = [(target, precision) for target in targets for precision in precisions]
    for target, precision in tasks:
        partial = out / f".{target}-{precision}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    done = {}
    for target, precision, info in conversions(tasks, reference, reference_folder, out, calib, jobs,
                                               on_start=lambda message: on_step(message, len(done) + 1, total),
                                               float_layers=budget.float_layers if budget else {}):
        name = f"{target}-{precision}"
        partial = out / f".{name}.partial"
        manifest = {**base_manifest(state, checkpoint, precision), **info, "name": name,
                    "calibration": calib_info if precision == "int8" else None}
        write_manifest(partial, manifest)
        if budget is not None:
            manifest = budget.meet(target, partial, manifest, reference.model, lambda m: on_step(m, len(done) + 1, total))
        predictor = load_predictor(partial)
        diff = float(np.abs(predictor.predict_crops(parity) - torch_parity).max())
        accuracy = None
        if prepared is not None:
            accuracy = _summary(evaluate(predictor, test_faces, prepared=prepared))
            accuracy["nme_drop_pp"] = (accuracy["nme"] - reference_accuracy["nme"]) * 100
        manifest = write_manifest(partial, {**manifest, "parity": {"max_abs_diff_vs_torch": diff, "crops": len(parity)},
                                            "accuracy": accuracy, "reference_accuracy": reference_accuracy})
        del predictor
        publish(partial, out / name)
        done[(target, precision)] = ExportResult(name, out / name, manifest, accuracy, diff)
        on_step(f"{name} done", len(done) + 1, total)
    results = [done[task] for task in tasks]
    return reference_accuracy, results


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_jobs(tasks: int) -> int:
    """Worker processes for ``tasks`` conversions: one per core this process may use, at most 4
    (each conversion holds 1-2 GB while it runs)."""
    return max(1, min(tasks, usable_cores(), 4))


def conversions(tasks, reference, reference_folder: Path, out: Path, calib, jobs: int, on_start, float_layers=None):
    """Convert each (target, precision) into its ``.partial`` folder; yields (target, precision,
    the exporter's manifest entries) as each finishes. ``float_layers``: per target, the int8
    model's layers left float (conversions then run here, one after another)."""
    float_layers = float_layers or {}
    crop = reference.crop
    if jobs <= 1 or len(tasks) <= 1:
        for target, precision in tasks:
            on_start(f"{target}-{precision}")
            model = copy.deepcopy(reference.model).cpu().eval()
            extra = {"float_layers": list(float_layers[target])} if float_layers.get(target) and precision == "int8" else {}
            with output_to_log(out / "export.log"):
                info = EXPORTERS[target](model, crop, out / f".{target}-{precision}.partial", precision,
                                         calib if precision == "int8" else None, **extra)
            yield target, precision, info
        return
    order = sorted(tasks, key=lambda t: SLOWEST_FIRST.index(f"{t[0]}-{t[1]}"))
    on_start(f"{len(tasks)} conversions, {min(jobs, len(tasks))} at once")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_start, initargs=(str(out / "export.log"), max(1, usable_cores() // jobs))) as pool:
        running = {pool.submit(_convert_in_worker, str(reference_folder), target, precision,
                               str(out / f".{target}-{precision}.partial"), calib if precision == "int8" else None):
                   (target, precision) for target, precision in order}
        try:
            for future in as_completed(running):
                target, precision = running[future]
                try:
                    info = future.result()
                except BrokenProcessPool as e:
                    raise EdgemarkError(f"{target}-{precision}: the converter's process died ({e}); "
                                        f"its output is in {out / 'export.log'}") from None
                yield target, precision, info
        finally:
            for future in running:
                future.cancel()


def _worker_start(log_path: str, threads: int) -> None:
    """A conversion worker: its output (converters' native logging included) goes to the
    export log for its whole life, and it uses its share of the cores."""
    import torch

    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    torch.set_num_threads(threads)


def _convert_in_worker(reference_folder: str, target: str, precision: str, partial: str, calib) -> dict:
    reference = load_predictor(Path(reference_folder))
    return EXPORTERS[target](reference.model.cpu().eval(), reference.crop, Path(partial), precision, calib)


def _summary(metrics: dict) -> dict:
    keys = ("faces", "nme", "failure_rate", "auc", "nme_per_point", "list")
    return {k: metrics[k] for k in keys if k in metrics}


def _set_accuracy(folder: Path, accuracy: dict, reference: dict) -> None:
    from .manifest import read_manifest

    _, manifest = read_manifest(folder)
    write_manifest(folder, {k: v for k, v in manifest.items() if k not in ("files", "created", "manifest_version")}
                   | {"accuracy": {**accuracy, "nme_drop_pp": 0.0}, "reference_accuracy": reference})


def _synthetic_crops(size: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(8, size, size, 3), dtype=np.uint8)
