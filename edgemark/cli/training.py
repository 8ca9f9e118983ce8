"""edgemark train, eval, sweep and robustness."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import DataError, EdgemarkError
from .common import (DataOption, DetectorModelOption, DetectorOption, ImagesOption, ListOption, RefineOption, TtaOption, app, console,
                     int_list, open_list, progress_bar, resolve_data)


@app.command()
def train(
    recipe: Path = typer.Option(Path("recipes/mobilenetv2_96.yaml"), help="Training recipe (YAML)."),
    data: Optional[Path] = DataOption,
    out: Path = typer.Option(..., help="Run folder: last.pt, best.pt, metrics.csv, history.json."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from last.pt."),
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = typer.Option("cuhk", "--format", help="List layout: cuhk (PATH, box, points), wflw (the WFLW annotation "
                            "files: 98 points, box, 6 attributes, PATH) or 300w (--list: a folder of images with a .pts "
                            "file beside each, or a text list of image paths; the box is the points' bounding box). The "
                            "list's points must be the recipe's scheme (WFLW: recipes/mobilenetv2_96_wflw98.yaml)."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epoch count (a resumed run keeps the count it was "
                                         "started with: to train further, start a new run with --init)."),
    subset: Optional[int] = typer.Option(None, help="Use only the first N faces of the list (smoke runs)."),
    cache: Optional[Path] = typer.Option(None, help="Crop cache folder (default: $EDGEMARK_CACHE or ~/.cache/edgemark)."),
    threads: Optional[int] = typer.Option(None, help="torch intra-op threads."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines, missing images and boxes outside their "
                                  "image, and report how many."),
    teacher: Optional[list[Path]] = typer.Option(None, help="Distil from this checkpoint (same scheme and crop margin; any model or "
                                                  "size). Repeat for an ensemble: the teachers' predictions are averaged."),
    distill_weight: float = typer.Option(0.5, help="Share of the loss that follows the teachers instead of the labels."),
    teacher_mirror: bool = typer.Option(True, "--teacher-mirror/--no-teacher-mirror",
                                        help="Average each teacher over the face and its mirror image."),
    init: Optional[Path] = typer.Option(None, help="Start from this checkpoint's weights (same model): fine-tuning."),
    device: Optional[str] = typer.Option(None, help="cpu, gpu, cuda or cuda:N (default: CUDA when torch sees a GPU, else the CPU)."),
    amp: str = typer.Option("off", help="On CUDA: bf16 or fp16 autocast for the network's forward pass (fp16 with gradient "
                            "scaling), or off (fp32). Validation is always fp32."),
    workers: Optional[int] = typer.Option(None, help="Data loader processes (default: the recipe's; on CUDA at least min(8, cores - 1))."),
):
    """Train a landmark model from a recipe (optionally distilling from --teacher checkpoints)."""
    from ..recipe import load_recipe
    from ..scheme import load_scheme
    from ..shipped import resolve_checkpoint  # --init/--teacher may name a shipped model
    from ..train import TrainOptions
    from ..train import train as run_training

    rec = load_recipe(recipe)
    if fmt == "mtfl":
        raise EdgemarkError("--format mtfl has no face boxes, and training crops by the list's boxes: use a cuhk, wflw "
                            "or 300w list")
    scheme = load_scheme(rec.scheme)
    try:
        faces = open_list(list_file, data, "trainImageList.txt", fmt, scheme.num_points, images, skip_bad)
    except DataError as e:  # a list of another scheme: say which scheme the recipe wants
        if e.path is None or "points" not in e.message:
            raise
        raise DataError(f"{e.message} (recipe {recipe} trains scheme {scheme.name}, {scheme.num_points} points; "
                        f"--format {fmt})", e.path, e.line) from None
    if not 0.0 <= distill_weight <= 1.0:
        raise EdgemarkError("--distill-weight must be between 0 and 1")
    options = TrainOptions(resume=resume, subset=subset, epochs=epochs, cache_dir=cache, threads=threads,
                           teachers=tuple(resolve_checkpoint(t) for t in teacher or ()), distill_weight=distill_weight,
                           teacher_mirror=teacher_mirror, init=resolve_checkpoint(init) if init else None, device=device,
                           amp=amp, workers=workers)
    result = run_training(rec, faces, out, options, console=console)
    if result["main"]:  # under torchrun the other ranks neither validate nor save: only rank 0 reports
        console.print(f"best validation NME {result['best_val_nme'] * 100:.2f}%  ->  {out / 'best.pt'}")


@app.command("keep-points")
def keep_points_command(
    checkpoint: Path = typer.Option(..., help="A trained checkpoint (.pt)."),
    scheme: str = typer.Option("cuhk5", help="The landmark scheme to keep (a built-in name or a scheme YAML); every one "
                               "of its points must be named in the checkpoint's scheme."),
    out: Path = typer.Option(..., help="The new checkpoint (.pt)."),
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = typer.Option(None, "--list", help="Training list in the kept scheme, for the box rule around "
                                             "the kept points (default: trainImageList.txt of --data)."),
    images: Optional[Path] = ImagesOption,
):
    """Keep only a scheme's points of a trained model: e.g. the 5 labelled points of a model trained with a
    teacher's points beside them, as a 5-point model that eval, export and the pipeline take like any other.
    The box rule (the face box around the points, which refinement re-crops by) is measured again for the
    kept points on the training split of the list."""
    import numpy as np

    from ..checkpoint import keep_points, load_checkpoint, save_checkpoint
    from ..distill import split_seed
    from ..preprocess import measure_box_rule
    from ..scheme import LandmarkScheme, load_scheme
    from ..train import split_train_val

    state = load_checkpoint(checkpoint)
    wanted = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", "cuhk", wanted.num_points, images)
    train_idx, _ = split_train_val(len(faces), float(state["recipe"]["val_fraction"]), split_seed(state["recipe"]))
    boxes = np.array([r.box for r in faces.records], np.float64)[train_idx]
    rule = measure_box_rule(boxes, np.stack([r.landmarks for r in faces.records])[train_idx])
    kept = keep_points(state, wanted, rule, str(checkpoint))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, kept)
    theirs = LandmarkScheme.from_dict(state["scheme"])
    console.print(f"{checkpoint}: kept {wanted.num_points} of {theirs.num_points} points ({theirs.name} -> {wanted.name}); box rule "
                  f"side {rule['side']:.3f} (was {state['box_rule']['side']:.3f}) from {len(train_idx)} training faces of "
                  f"{faces.path}  ->  {out}", highlight=False)


@app.command("eval")
def eval_command(
    checkpoint: Optional[Path] = typer.Option(None, help="A checkpoint (.pt) to evaluate."),
    model: Optional[Path] = typer.Option(None, help="An exported artifact folder (or its manifest.json), or a shipped model by name "
                                         "(mobilenetv2_96, drive23, NAME/ARTIFACT); default, without --checkpoint: mobilenetv2_96."),
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = typer.Option("cuhk", "--format", help="List layout: cuhk (with boxes), mtfl (no box), wflw or 300w (a folder of images with .pts files, or a list of image paths)."),
    box: Optional[str] = typer.Option(None, help="Box to crop by: detector (the pipeline on the full photos, as a user meets it), "
                                      "given (the list's), image (the whole photo), or landmarks. Default: given for a list "
                                      "with boxes, detector for one without (mtfl)."),
    detector: str = DetectorOption,
    detector_model: Optional[Path] = DetectorModelOption,
    refine: int = RefineOption,
    out: Optional[Path] = typer.Option(None, help="Folder for metrics.json, ced.png, worst.png (default: beside the model)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and missing images, and report how many."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
    device: str = typer.Option("cpu", help="cpu, gpu, cuda or cuda:N: where the model runs (torch and onnxruntime-gpu "
                               "artifacts; the others run on the CPU)."),
    tta: str = TtaOption,
):
    """NME, failure rate @0.10, AUC@0.1, per-point NME, CED plot and worst cases."""
    from rich.table import Table

    from ..evaluate import evaluate
    from ..predictors.load import load_predictor

    from ..shipped import DEFAULT_MODEL, resolve_artifact, shipped_name

    if checkpoint is not None and model is not None:
        raise EdgemarkError("pass either --checkpoint CKPT or --model ARTIFACT, not both")
    if box not in (None, "detector", "given", "image", "landmarks"):
        raise EdgemarkError(f"--box must be detector, given, image or landmarks, not {box!r}")
    source = resolve_artifact(checkpoint or model or DEFAULT_MODEL)
    predictor = load_predictor(source, threads=threads, device=device, tta=tta)
    faces = open_list(list_file, data, "testImageList.txt", fmt, predictor.scheme.num_points, images, skip_bad)
    box = box or _default_box(faces)
    lst = Path(faces.path)
    # beside a checkpoint; for an artifact, under runs/eval (an artifact folder holds only what its manifest lists)
    # (a shipped model's results go under runs/eval too: nothing is written into the shipped models)
    artifact_name = f"{source.resolve().parent.name}-{source.name}"
    shipped = shipped_name(source)
    if shipped:
        artifact_name = shipped + ("-" + source.resolve().parent.name if source.is_file() else "-" + source.name)
        base = Path("runs") / "eval" / artifact_name
    else:
        base = source.parent if source.is_file() else Path("runs") / "eval" / artifact_name
    out = out or base / ((f"eval-{lst.stem}" if box != "detector" else f"eval-{lst.stem}-{detector}") + ("-flip" if tta == "flip" else ""))
    if box == "detector":
        return _eval_pipeline(predictor, faces, source, out, detector, detector_model, refine, threads)
    _warn_whole_image(faces, box)
    with progress_bar("evaluating") as bar:
        task = bar.add_task("", total=len(faces))
        result = evaluate(predictor, faces, out, box, predictor.box_rule, progress=lambda i, n: bar.update(task, completed=i),
                          label=str(source))
    result["skipped_lines"] = len(faces.skipped)
    table = Table(title=f"{source} ({predictor.description}) on {lst} ({result['faces']} faces, box: {box})")
    for col in ("", "faces", "NME %", "FR@0.10 %", "AUC@0.1"):
        table.add_column(col, justify="right")
    table.add_row("all", str(result["faces"]), f"{result['nme'] * 100:.2f}", f"{result['failure_rate'] * 100:.2f}", f"{result['auc']:.4f}")
    for name, s in result["per_source"].items():
        table.add_row(name, str(s["faces"]), f"{s['nme'] * 100:.2f}", f"{s['failure_rate'] * 100:.2f}", "")
    for t in result.get("per_head_turn", []):
        lo, hi = t["bin"]
        table.add_row(f"head turn {lo:g}-{'' if hi is None else f'{hi:g}'}", str(t["faces"]), f"{t['nme'] * 100:.2f}",
                      f"{t['failure_rate'] * 100:.2f}", "")
    for name in ("labelled_points", "teacher_points"):
        if name in result:
            s = result[name]
            table.add_row(f"{name.replace('_', ' ')} ({s['points']})", str(result["faces"]), f"{s['nme'] * 100:.2f}",
                          f"{s['failure_rate'] * 100:.2f}", "")
    console.print(table)
    if "eyes" in result:
        e = result["eyes"]
        console.print(f"eye aspect ratio vs the list's: Pearson r {e['ear_pearson_r']:.3f}, open/closed agreement "
                      f"{e['open_closed_agreement'] * 100:.1f}% (closed below EAR {e['closed_limit']:.3f}: {e['closed_truth']} in the list, "
                      f"{e['closed_predicted']} predicted, {e['closed_found']} of them right)")
    if "mouth" in result:
        console.print(f"mouth aspect ratio vs the list's: Pearson r {result['mouth']['mar_pearson_r']:.3f}")
    console.print("per-point NME %: " + ", ".join(f"{n} {v * 100:.2f}" for n, v in zip(predictor.scheme.names, result["nme_per_point"])))
    console.print(f"wrote {out}/metrics.json, ced.png, worst.png")


def _default_box(faces) -> str:
    """The list's boxes when it has them; without (mtfl), the face detector, as a user meets it."""
    if all(r.box is None for r in faces.records):
        console.print(f"[yellow]{escape(faces.path)} has no face boxes:[/] evaluating with the face detector (--box detector); "
                      "--box landmarks crops by boxes derived from the labels, --box image by the whole photo")
        return "detector"
    return "given"


def _warn_whole_image(faces, box: str) -> None:
    if box == "given" and any(r.box is None for r in faces.records):
        console.print(f"[bold yellow]warning:[/] {escape(faces.path)} has no face boxes, so --box given crops by the whole "
                      "photo: the figures measure faces that fill their photos, not a detector's crops (--box detector)")


def _eval_pipeline(predictor, faces, source: Path, out: Path, detector: str, detector_model, refine: int, threads) -> None:
    from rich.table import Table

    from ..detect import load_detector
    from ..evaluate_pipeline import evaluate_pipeline
    from ..pipeline import Pipeline

    pipe = Pipeline(predictor, load_detector(detector, threads=threads or 1, model_file=detector_model), refine)
    refine = pipe.refine
    with progress_bar("evaluating (detector on full photos)") as bar:
        task = bar.add_task("", total=len(faces))
        r = evaluate_pipeline(pipe, faces, out, progress=lambda i, n: bar.update(task, completed=i), label=str(source))
    r["skipped_lines"] = len(faces.skipped)
    table = Table(title=f"{source} ({predictor.description}) on {faces.path}: {pipe.detector.description} on the full photos, "
                        f"{refine} refinement pass(es)")
    for col in ("faces", "found", "missed", "NME % (found)", "FR@0.10 % (miss = failure)", "AUC@0.1"):
        table.add_column(col, justify="right")
    nme = f"{r['nme'] * 100:.2f}" if r["nme"] is not None else "-"
    table.add_row(str(r["faces"]), str(r["found"]), str(r["missed"]), nme, f"{r['failure_rate'] * 100:.2f}", f"{r['auc']:.4f}")
    console.print(table)
    if r["nme_per_point"]:
        console.print("per-point NME %: " + ", ".join(f"{n} {v * 100:.2f}" for n, v in zip(predictor.scheme.names, r["nme_per_point"])))
    console.print(f"wrote {out}/metrics.json, predictions.npz, ced.png")


@app.command()
def sweep(
    recipes: list[Path] = typer.Argument(..., help="Recipe YAML files: one trial per recipe and seed."),
    data: Optional[Path] = DataOption,
    out: Path = typer.Option(Path("runs/sweep"), help="Folder of the trial runs (and Ray's records)."),
    seeds: str = typer.Option("0", help="Seeds, comma-separated (each recipe runs once per seed)."),
    epochs: Optional[int] = typer.Option(None, help="Override every recipe's epoch count."),
    subset: Optional[int] = typer.Option(None, help="Use only the first N training faces (smoke sweeps)."),
    cpus_per_trial: int = typer.Option(1, help="CPUs (and torch threads) per trial."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray on this machine)."),
    table: Optional[Path] = typer.Option(None, help="Table the results are appended to (default: OUT/sweep.md; the study's "
                                          "benchmarks/accuracy.md only when named here)."),
    cache: Optional[Path] = typer.Option(None, help="Crop cache folder."),
):
    r"""Run a grid of recipes in parallel with Ray Tune (needs the sweep extra: pip install 'edgemark\[sweep]')."""
    from ..sweep import check_recipes, run_sweep

    check_recipes(recipes)
    train_list = resolve_data(data) / "trainImageList.txt"
    table = table or out / "sweep.md"
    rows = run_sweep(recipes, int_list(seeds, "--seeds", minimum=0), train_list, out, table,
                     "edgemark " + shlex.join(sys.argv[1:]), epochs, subset, cpus_per_trial, address, cache)
    for r in sorted(rows, key=lambda r: r.get("best_val_nme", 9)):
        if "error" in r:
            console.print(f"[red]{r['recipe']} seed {r['seed']}: failed[/] {escape(r['error'])}")
        else:
            console.print(f"{r['recipe']} seed {r['seed']}: best val NME {r['best_val_nme'] * 100:.2f}% "
                          f"({r['seconds'] / 60:.1f} min) -> {r['run']}")
    console.print(f"appended {len(rows)} rows to {table}")


@app.command()
def robustness(
    model: Path = typer.Option(..., help="Artifact folder or checkpoint."),
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    faces: Optional[int] = typer.Option(None, help="Use only the first N faces."),
    out: Path = typer.Option(Path("runs/robustness"), help="Folder for robustness.json/.md and the plots."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
    detector: str = DetectorOption,
    compare: Optional[list[str]] = typer.Option(["blazeface-full", "haar"], "--compare-detector",
                                                help="Also run these detectors on the unchanged photos (repeat)."),
    seed: int = typer.Option(0, help="Seed of the random directions, blur angles and occluder places."),
):
    """The robustness suite: NME and FR under other boxes, roll, head turn, small, JPEG,
    blurred, dark, over-exposed and occluded faces; given box, refined, and detector paths."""
    from ..detect import load_detector
    from ..pipeline import load_pipeline
    from ..robustness import run_suite, write_report

    pipe = load_pipeline(model, detector=detector, threads=threads)
    face_list = open_list(list_file, data, "testImageList.txt", "cuhk", pipe.scheme.num_points)
    if faces:
        face_list.records = face_list.records[:faces]
    others = {name: load_detector(name, threads=threads or 1) for name in (compare or []) if name != detector}
    with progress_bar("robustness suite") as bar:
        task = bar.add_task("", total=None)
        result = run_suite(pipe, face_list, seed, others, progress=lambda i, n: bar.update(task, completed=i, total=n))
    for path in write_report(result, out, str(model), "edgemark " + shlex.join(sys.argv[1:])):
        console.print(f"wrote {path}")
    for row in result["rows"]:
        value = row["value"] if isinstance(row["value"], str) else f"{row['value']:g}"
        cells = "  ".join(f"{p} {row[p]['nme'] * 100:.2f}%" for p in ("box", "refined", "detector")
                          if p in row and row[p]["nme"] is not None)
        console.print(f"{row['group']:>12} {value:>14}: {cells}")
