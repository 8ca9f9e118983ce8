"""The ``edgemark`` command line (Typer + rich). Each command is a thin shell over a
module that does the work; errors a user can act on print as one line, no traceback."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from .errors import EdgemarkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, evaluate and ship facial landmark models to edge devices.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect and fetch landmark data sets.")
app.add_typer(data_app, name="data")
bench_app = typer.Typer(help="Benchmark exported artifacts: latency, memory, size, accuracy drop.")
app.add_typer(bench_app, name="bench")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def resolve_data(data: Optional[Path]) -> Path:
    """--data, else $EDGEMARK_DATA, else a clear error."""
    if data is None:
        env = os.environ.get("EDGEMARK_DATA")
        if not env:
            raise EdgemarkError("no data set given: pass --data DIR or set EDGEMARK_DATA "
                                "(get the CUHK set with: edgemark data download --to DIR)")
        data = Path(env)
    if not data.is_dir():
        raise EdgemarkError(f"{data}: data folder not found")
    return data


DataOption = typer.Option(None, "--data", help="Data set folder (default: $EDGEMARK_DATA).")


def _report_skipped(faces) -> None:
    if faces.skipped:
        console.print(f"[yellow]skipped {len(faces.skipped)} bad lines[/] of {faces.path}; first: {escape(faces.skipped[0])}")


def open_list(list_file: Optional[Path], data: Optional[Path], default_name: str, fmt: str, num_points: int,
              images: Optional[Path] = None, skip_bad: bool = False):
    """The list to read: --list (images relative to --images or the list's folder), else
    DATA/default_name from --data or $EDGEMARK_DATA."""
    from .data.lists import read_list

    if list_file is None:
        list_file = resolve_data(data) / default_name
    faces = read_list(list_file, fmt, num_points, image_root=images, skip_bad=skip_bad)
    _report_skipped(faces)
    return faces


ListOption = typer.Option(None, "--list", help="List file; image paths are relative to --images or the list's folder.")
ImagesOption = typer.Option(None, "--images", help="Folder the list's image paths are relative to (default: the list's folder).")


@app.command()
def train(
    recipe: Path = typer.Option(Path("recipes/mobilenetv2_112.yaml"), help="Training recipe (YAML)."),
    data: Optional[Path] = DataOption,
    out: Path = typer.Option(..., help="Run folder: last.pt, best.pt, metrics.csv, history.json."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from last.pt."),
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epoch count."),
    subset: Optional[int] = typer.Option(None, help="Use only the first N faces of the list (smoke runs)."),
    cache: Optional[Path] = typer.Option(None, help="Crop cache folder (default: $EDGEMARK_CACHE or ~/.cache/edgemark)."),
    threads: Optional[int] = typer.Option(None, help="torch intra-op threads."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines and missing images, and report how many."),
    teacher: Optional[Path] = typer.Option(None, help="Distil from this checkpoint (same scheme and crop margin; any model or size)."),
    distill_weight: float = typer.Option(0.5, help="Share of the loss that follows the teacher instead of the labels."),
):
    """Train a landmark model from a recipe (optionally distilling from a --teacher)."""
    from .recipe import load_recipe
    from .scheme import load_scheme
    from .train import train as run_training

    rec = load_recipe(recipe)
    faces = open_list(list_file, data, "trainImageList.txt", "cuhk", load_scheme(rec.scheme).num_points, images, skip_bad)
    if not 0.0 <= distill_weight <= 1.0:
        raise EdgemarkError("--distill-weight must be between 0 and 1")
    result = run_training(rec, faces, out, resume=resume, subset=subset, epochs=epochs, cache_dir=cache, threads=threads,
                          console=console, teacher=teacher, distill_weight=distill_weight)
    console.print(f"best validation NME {result['best_val_nme'] * 100:.2f}%  ->  {out / 'best.pt'}")


def _bar(description: str):
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)




@data_app.command("stats")
def data_stats(
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = typer.Option("cuhk", "--format", help="List layout: cuhk, mtfl or wflw."),
    scheme: str = typer.Option("cuhk5", help="Landmark scheme (cuhk5, ibug68, wflw98 or a YAML file)."),
    sizes: bool = typer.Option(True, help="Decode every image to count image sizes."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and report how many."),
):
    """Counts, image sizes, box sizes and inter-ocular distances of a list."""
    from rich.table import Table

    from .data.stats import list_stats
    from .io import write_json_atomic
    from .scheme import load_scheme

    sch = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", fmt, sch.num_points, images, skip_bad)
    with _bar("reading images") as bar:
        task = bar.add_task("", total=len(faces))
        stats = list_stats(faces, sch, sizes, lambda i, n: bar.update(task, completed=i))
    table = Table(title=f"{faces.path}: {stats['faces']} faces")
    for col in ("", "min", "p5", "median", "p95", "max", "mean"):
        table.add_column(col, justify="right")
    for key in ("box_width_px", "box_height_px", "interocular_px"):
        if key in stats:
            table.add_row(key, *(f"{stats[key][c]:.1f}" for c in ("min", "p5", "median", "p95", "max", "mean")))
    console.print(table)
    console.print("sources: " + ", ".join(f"{k} {v}" for k, v in stats["sources"].items()))
    if "image_sizes" in stats:
        console.print("image sizes: " + ", ".join(f"{k} ({v})" for k, v in stats["image_sizes"].items()))
    if "landmarks_inside_box" in stats:
        console.print(f"landmarks inside their box: {stats['landmarks_inside_box'] * 100:.1f}% of faces")
    if json_out:
        write_json_atomic(json_out, stats)


@data_app.command("show")
def data_show(
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = typer.Option("cuhk", "--format", help="List layout: cuhk, mtfl or wflw."),
    scheme: str = typer.Option("cuhk5", help="Landmark scheme (cuhk5, ibug68, wflw98 or a YAML file)."),
    n: int = typer.Option(16, "--n", help="How many faces."),
    seed: int = typer.Option(0, help="Which random faces."),
    out: Path = typer.Option(Path("grid.png"), help="PNG to write."),
):
    """A grid of random faces with their box and landmarks drawn."""
    from .data.stats import landmark_grid
    from .plots import write_image
    from .scheme import load_scheme

    sch = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", fmt, sch.num_points, images)
    write_image(out, landmark_grid(faces, n, seed))
    console.print(f"wrote {out} ({min(n, len(faces))} faces)")


@data_app.command("download")
def data_download(
    to: Path = typer.Option(..., help="Folder to unpack the data set into."),
    url: str = typer.Option(None, help="Archive URL (default: the official CUHK MMLab train.zip)."),
    archive: Optional[Path] = typer.Option(None, help="Unpack this local copy of train.zip instead of downloading."),
    sha256: Optional[str] = typer.Option(None, help="Expected SHA-256 of the archive."),
    keep: bool = typer.Option(False, help="Keep the archive after unpacking."),
):
    """Download (resumable, verified) and unpack the CUHK LFW+Net archive."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from .data.download import CUHK_URL, fetch, unpack

    if archive is None:
        to.mkdir(parents=True, exist_ok=True)
        src = url or CUHK_URL
        with Progress(TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("", total=None)
            archive = fetch(src, to / "train.zip", progress=lambda done, total: bar.update(task, completed=done, total=total))
    elif not archive.is_file():
        raise EdgemarkError(f"{archive}: archive not found")
    report = unpack(archive, to, sha256)
    console.print(f"unpacked {report['files']} files into {to}; sha256 {report['sha256']}")
    for name, expected in report["expected_lists"].items():
        got = report["lists"].get(name)
        mark = "[green]ok" if got == expected else "[yellow]differs from the official count"
        console.print(f"  {name}: {got if got is not None else 'missing'} lines (official: {expected}) {mark}")
    if not keep and archive.parent == to and archive.name == "train.zip":
        archive.unlink()
    console.print(f"use it with: export EDGEMARK_DATA={to}")


@app.command("eval")
def eval_command(
    checkpoint: Optional[Path] = typer.Option(None, help="A checkpoint (.pt) to evaluate."),
    model: Optional[Path] = typer.Option(None, help="An exported artifact folder (or its manifest.json) to evaluate."),
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = typer.Option("cuhk", "--format", help="List layout: cuhk (with boxes), mtfl (no box) or wflw."),
    box: str = typer.Option("given", help="Box to crop by: given (the list's; whole image when it has none), image, or landmarks."),
    out: Optional[Path] = typer.Option(None, help="Folder for metrics.json, ced.png, worst.png (default: beside the model)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and missing images, and report how many."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
):
    """NME, failure rate @0.10, AUC@0.1, per-point NME, CED plot and worst cases."""
    from rich.table import Table

    from .evaluate import evaluate
    from .predictors.load import load_predictor

    if (checkpoint is None) == (model is None):
        raise EdgemarkError("pass either --checkpoint CKPT or --model ARTIFACT")
    if box not in ("given", "image", "landmarks"):
        raise EdgemarkError(f"--box must be given, image or landmarks, not {box!r}")
    source = checkpoint or model
    predictor = load_predictor(source, threads=threads)
    faces = open_list(list_file, data, "testImageList.txt", fmt, predictor.scheme.num_points, images, skip_bad)
    lst = Path(faces.path)
    # beside a checkpoint; for an artifact, under runs/eval (an artifact folder holds only what its manifest lists)
    base = source.parent if source.is_file() else Path("runs") / "eval" / f"{source.resolve().parent.name}-{source.name}"
    out = out or base / f"eval-{lst.stem}"
    with _bar("evaluating") as bar:
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
    console.print(table)
    console.print("per-point NME %: " + ", ".join(f"{n} {v * 100:.2f}" for n, v in zip(predictor.scheme.names, result["nme_per_point"])))
    console.print(f"wrote {out}/metrics.json, ced.png, worst.png")


@app.command()
def export(
    checkpoint: Path = typer.Option(..., help="Trained checkpoint (.pt)."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, a comma list, or all."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    out: Path = typer.Option(..., help="Export folder: one sub-folder per TARGET-PRECISION, plus torch-fp32 and README.md."),
    data: Optional[Path] = DataOption,
    calib_size: int = typer.Option(200, help="Calibration faces for int8, drawn from the training list."),
    calib_seed: int = typer.Option(0, help="Seed of the calibration draw."),
    max_drop: float = typer.Option(0.5, help="Warn when an artifact's NME is worse than torch fp32 by more than this (percentage points)."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) when an artifact exceeds --max-drop."),
):
    """Export to ONNX / OpenVINO / TFLite in fp32 / fp16 / int8, check each in its own runtime."""
    from rich.table import Table

    from .data.lists import read_list
    from .environment import machine_line
    from .export.pipeline import PRECISIONS, TARGETS, export_all
    from .export.report import write_export_readme

    targets = _choices(target, TARGETS, "--target")
    precisions = _choices(precision, PRECISIONS, "--precision")
    test_faces = train_faces = None
    try:
        data_dir = resolve_data(data)
    except EdgemarkError as e:
        if "int8" in precisions:
            raise
        console.print(f"[yellow]no accuracy check:[/] {escape(str(e))}")
        data_dir = None
    if data_dir is not None:
        train_faces = read_list(data_dir / "trainImageList.txt")
        test_faces = read_list(data_dir / "testImageList.txt")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # no auto-refresh: converters' native output is redirected to OUT/export.log while they run
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, auto_refresh=False, transient=True) as bar:
        task = bar.add_task("exporting", total=len(targets) * len(precisions) + 1)

        def step(message, done, total):
            bar.update(task, description=f"exporting: {message}", completed=done)
            bar.refresh()

        reference, results = export_all(checkpoint, out, targets, precisions, test_faces, train_faces, calib_size, calib_seed,
                                        on_step=step)
    command = "edgemark " + shlex.join(sys.argv[1:])
    write_export_readme(out, command, machine_line())
    table = Table(title=f"{checkpoint} -> {out}")
    table.add_column("artifact", no_wrap=True)
    for col in ("size KiB", "NME %", "FR %", "AUC", "drop pp", "max |diff|", "check"):
        table.add_column(col, justify="right", no_wrap=True)
    if reference:
        table.add_row("torch-fp32", "", f"{reference['nme'] * 100:.2f}", f"{reference['failure_rate'] * 100:.2f}", f"{reference['auc']:.4f}", "", "", "reference")
    over = []
    for r in results:
        acc = r.accuracy or {}
        flag = ""
        if acc and acc["nme_drop_pp"] > max_drop:
            flag = f"[red]drop > {max_drop} pp"
            over.append(r.name)
        size = sum(f["bytes"] for f in r.manifest["files"].values()) / 1024
        table.add_row(r.name, f"{size:.0f}", f"{acc['nme'] * 100:.2f}" if acc else "n/a", f"{acc['failure_rate'] * 100:.2f}" if acc else "n/a",
                      f"{acc['auc']:.4f}" if acc else "n/a", f"{acc['nme_drop_pp']:+.2f}" if acc else "n/a", f"{r.max_abs_diff:.1e}", flag or "[green]ok")
    console.print(table)
    console.print(f"wrote {out}/README.md and a manifest.json in every artifact folder (converter logs: {out}/export.log)")
    if over and strict:
        raise EdgemarkError(f"accuracy drop over {max_drop} pp NME: {', '.join(over)} (--strict)")
    if over:
        console.print(f"[yellow]warning:[/] accuracy drop over {max_drop} pp NME: {', '.join(over)}")


def _choices(value: str, allowed: tuple, option: str) -> list[str]:
    chosen = list(allowed) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        raise EdgemarkError(f"{option}: {', '.join(bad) or value!r} not one of {', '.join(allowed)} (or all)")
    return chosen


def _int_list(value: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise EdgemarkError(f"{option}: expected comma-separated integers, got {value!r}") from None
    if not values or min(values) < 1:
        raise EdgemarkError(f"{option}: expected positive integers, got {value!r}")
    return values


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    model: Optional[Path] = typer.Option(None, help="Export folder (every artifact in it) or one artifact folder."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, a comma list, or all (torch fp32 is always the baseline row)."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    device: str = typer.Option("cpu", help="cpu or gpu."),
    threads: str = typer.Option("1", help="Thread counts, comma-separated, e.g. 1,2,4."),
    batch: str = typer.Option("1", help="Batch sizes, comma-separated, e.g. 1,8."),
    data: Optional[Path] = DataOption,
    out: Optional[Path] = typer.Option(None, help="Result folder (default: benchmarks/HOST-DEVICE-DATE)."),
    warmup: int = typer.Option(20, help="Warm-up calls before timing."),
    min_runs: int = typer.Option(200, help="At least this many timed calls."),
    min_seconds: float = typer.Option(2.0, help="And at least this many seconds of timed calls."),
    accuracy_faces: Optional[int] = typer.Option(None, help="Use only the first N test faces for accuracy."),
    pin: bool = typer.Option(True, help="Pin each run to as many CPU cores as it has threads."),
    port: Optional[int] = typer.Option(None, help="SSH port for --device ssh://..."),
    identity: Optional[Path] = typer.Option(None, help="SSH private key for --device ssh://..."),
    ssh_config: Optional[Path] = typer.Option(None, help="ssh_config file for --device ssh://..."),
    python: str = typer.Option("python3", help="Python on the device (--device ssh://...)."),
    remote_dir: str = typer.Option("edgemark", help="Folder on the device (--device ssh://...)."),
    devices: Optional[Path] = typer.Option(None, help="A devices YAML: benchmark every device listed, concurrently."),
):
    """Benchmark every artifact, each in a fresh process; write JSON, CSV, Markdown and plots.
    --device ssh://user@host deploys the bundle and runs the same benchmark on that device."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        raise EdgemarkError("pass --model EXPORT_FOLDER (or use: edgemark bench compare A B)")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .bench.report import write_outputs
    from .bench.run import default_out_dir, find_artifacts, run_bench
    from .export.pipeline import PRECISIONS, TARGETS

    if devices is not None:
        _bench_fleet(model, devices, target, precision, threads, batch, data, out, warmup, min_runs, min_seconds, accuracy_faces)
        return
    if device.startswith("ssh://"):
        _bench_ssh(model, device, target, precision, threads, batch, data, out, warmup, min_runs, min_seconds, accuracy_faces,
                   port, identity, ssh_config, python, remote_dir)
        return
    if device not in ("cpu", "gpu"):
        raise EdgemarkError(f"--device must be cpu, gpu or ssh://user@host, not {device!r}")
    threads_list, batches = _int_list(threads, "--threads"), _int_list(batch, "--batch")
    targets, precisions = _choices(target, TARGETS, "--target"), _choices(precision, PRECISIONS, "--precision")
    test_crops = _test_crops(data, find_artifacts(model, targets, precisions)[0], accuracy_faces)
    out = out or default_out_dir(device)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("bench", total=None)
        results = run_bench(model, device, threads_list, batches, out, targets, precisions, test_crops, warmup, min_runs, min_seconds,
                            pin, "edgemark " + shlex.join(sys.argv[1:]),
                            progress=lambda label, i, n: bar.update(task, description=label, completed=i, total=n))
    written = write_outputs(results, out)
    table = Table(title=f"{model} on {results['machine']['cpu']} ({device})")
    table.add_column("artifact", no_wrap=True)
    for col in ("thr", "batch", "p50 ms", "p90 ms", "p99 ms", "img/s", "+RSS MiB", "KiB", "NME %", "drop pp"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results["rows"]:
        nme = f"{r['nme'] * 100:.2f}" if r.get("nme") is not None else "n/a"
        drop = f"{r['nme_drop_pp']:+.2f}" if r.get("nme_drop_pp") is not None else "n/a"
        table.add_row(r["artifact"], str(r["threads"]), str(r["batch"]), f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}",
                      f"{r['throughput_ips']:.0f}", f"{r['rss_increase_mib']:.0f}", f"{r['size_bytes'] / 1024:.0f}", nme, drop)
    console.print(table)
    for s in results["skipped"]:
        console.print(f"[yellow]not measured[/] {s['artifact']} threads={s['threads']} batch={s['batch']}: {escape(s['reason'])}")
    console.print("wrote " + ", ".join(str(p) for p in written))
    if not results["rows"]:
        raise EdgemarkError("nothing could be measured" + (f" on {device}" if device != "cpu" else ""))


def _bench_ssh(model, device, target, precision, threads, batch, data, out, warmup, min_runs, min_seconds, accuracy_faces,
               port, identity, ssh_config, python, remote_dir):
    from .bench.report import write_outputs
    from .bench.run import find_artifacts
    from .export.pipeline import PRECISIONS, TARGETS
    from .io import write_json_atomic
    from .remote.deploy import deploy as run_deploy
    from .remote.deploy import remote_bench

    ssh = _ssh_target(device, port, identity, ssh_config)
    artifacts = [a for a in find_artifacts(model, _choices(target, TARGETS, "--target"), _choices(precision, PRECISIONS, "--precision"))
                 if a.name != "torch-fp32"]
    crops = _test_crops(data, artifacts[0], accuracy_faces or 200)
    command = "edgemark " + shlex.join(sys.argv[1:])
    with console.status("deploying") as status:
        deployed = run_deploy(ssh, artifacts, _bundle_name(model), remote_dir, python, crops, on_step=lambda m: status.update(m))
        status.update(f"benchmarking on {ssh.host}")
        results = remote_bench(ssh, deployed["bundle"], _int_list(threads, "--threads"), _int_list(batch, "--batch"), warmup,
                               min_runs, min_seconds, command)
    safe_host = "".join(c if c.isalnum() or c in "-._" else "_" for c in ssh.host)
    out = out or Path("benchmarks") / f"{safe_host}-ssh-{results['started'][:10]}"
    write_json_atomic(out / "results.json", results)
    written = write_outputs(results, out)
    m = results["machine"]
    console.print(f"{ssh.host}: {m.get('board') or m['cpu']} ({m['machine']}, {m['cores']} cores, {m.get('distribution', m['os'])})")
    for r in results["rows"]:
        nme = f"{r['nme'] * 100:.2f}%" if r.get("nme") is not None else "n/a"
        console.print(f"  {r['artifact']:<15} threads={r['threads']} batch={r['batch']}  p50 {r['p50_ms']:.3f} ms  "
                      f"p99 {r['p99_ms']:.3f} ms  +RSS {r['rss_increase_mib']:.0f} MiB  NME {nme}")
    console.print("wrote " + ", ".join(str(p) for p in written))


def _bench_fleet(model, devices_file, target, precision, threads, batch, data, out, warmup, min_runs, min_seconds, accuracy_faces):
    from datetime import date

    from .bench.fleet import load_devices, run_fleet
    from .bench.run import find_artifacts
    from .export.pipeline import PRECISIONS, TARGETS

    fleet = load_devices(devices_file)
    targets, precisions = _choices(target, TARGETS, "--target"), _choices(precision, PRECISIONS, "--precision")
    artifacts = find_artifacts(model, targets, precisions)
    deployable = [a for a in artifacts if a.name != "torch-fp32"]
    crops = _test_crops(data, deployable[0] if deployable else artifacts[0], accuracy_faces or 200)
    out = out or Path("benchmarks") / f"fleet-{date.today().isoformat()}"
    settings = {"threads": _int_list(threads, "--threads"), "batches": _int_list(batch, "--batch"), "targets": targets,
                "precisions": precisions, "warmup": warmup, "min_runs": min_runs, "min_seconds": min_seconds,
                "command": "edgemark " + shlex.join(sys.argv[1:]), "bundle": _bundle_name(model)}
    console.print(f"benchmarking {len(fleet)} devices at once: {', '.join(d.name for d in fleet)}")

    def landed(name, error):
        if error:
            console.print(f"[red]{name}: failed[/] {escape(error)}")
        else:
            console.print(f"[green]{name}: done[/] -> {out / name}/results.md")

    result = run_fleet(fleet, model, artifacts, settings, crops, out, on_done=landed)
    console.print(result["table"], markup=False, highlight=False)
    console.print(f"wrote {out}/fleet.md and {out}/fleet.json")
    if not result["results"]:
        raise EdgemarkError("no device could be benchmarked")


@bench_app.command("report")
def bench_report(results: Path = typer.Argument(..., help="A result folder (or its results.json).")):
    """Write results.csv, results.md and the plots again from a results.json."""
    from .bench.report import load_results, write_outputs

    folder = results if results.is_dir() else results.parent
    for path in write_outputs(load_results(results), folder):
        console.print(f"wrote {path}")


@bench_app.command("compare")
def bench_compare(a: Path = typer.Argument(..., help="Results A (folder or results.json)."),
                  b: Path = typer.Argument(..., help="Results B (folder or results.json).")):
    """Side by side: B's p50 latency over A's, per artifact, threads and batch."""
    from rich.table import Table

    from .bench.report import compare, load_results

    ra, rb = load_results(a), load_results(b)
    rows = compare(ra, rb)
    if not rows:
        raise EdgemarkError(f"{a} and {b} share no (artifact, threads, batch) measurement")
    table = Table(title=f"A = {a} ({ra['machine']['cpu']})  vs  B = {b} ({rb['machine']['cpu']})")
    table.add_column("artifact", no_wrap=True)
    for col in ("thr", "batch", "A p50 ms", "B p50 ms", "B/A", "A NME %", "B NME %"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["artifact"], str(r["threads"]), str(r["batch"]), f"{r['a_p50_ms']:.3f}", f"{r['b_p50_ms']:.3f}", f"{r['ratio']:.2f}x",
                      f"{r['a_nme'] * 100:.2f}" if r["a_nme"] is not None else "n/a", f"{r['b_nme'] * 100:.2f}" if r["b_nme"] is not None else "n/a")
    console.print(table)


@app.command()
def demo(
    model: Path = typer.Option(Path("exported/mobilenetv2_112/tflite-int8"), help="Artifact folder (or checkpoint) to run."),
    source: str = typer.Option("0", help="Webcam index, video file or stream URL."),
    mode: str = typer.Option("drive", help="drive (driver monitoring) or filters (sunglasses, moustache, hat)."),
    out: Optional[Path] = typer.Option(None, help="Write the annotated video here (.mp4)."),
    events: Optional[Path] = typer.Option(None, help="Write every event as a JSON line here."),
    window: Optional[bool] = typer.Option(None, "--window/--no-window", help="Show a window (default: when a display exists)."),
    detector: str = typer.Option("haar", help="haar (shipped with OpenCV) or yunet (needs --yunet-model)."),
    yunet_model: Optional[Path] = typer.Option(None, help="YuNet ONNX model file for --detector yunet."),
    detect_every: int = typer.Option(10, help="Run the detector every N frames (and whenever tracking is lost)."),
    smooth: bool = typer.Option(True, help="One Euro smoothing of the landmarks."),
    min_cutoff: float = typer.Option(1.5, help="One Euro min cutoff (Hz): lower = smoother at rest."),
    beta: float = typer.Option(0.02, help="One Euro beta: higher = less lag in fast motion."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after N frames."),
):
    """Run a landmark model live: driver monitoring (distraction, face lost, head nods) or face filters."""
    from .demo.detector import HaarDetector, YuNetDetector
    from .demo.runner import DemoOptions, run_demo
    from .predictors.load import load_predictor

    if mode not in ("drive", "filters"):
        raise EdgemarkError(f"--mode must be drive or filters, not {mode!r}")
    if detector == "yunet":
        if yunet_model is None:
            raise EdgemarkError("--detector yunet needs --yunet-model FILE (the face_detection_yunet ONNX file)")
        face_detector = YuNetDetector(yunet_model)
    elif detector == "haar":
        face_detector = HaarDetector()
    else:
        raise EdgemarkError(f"--detector must be haar or yunet, not {detector!r}")
    if window is None:
        window = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if window and _opencv_has_no_gui():
        console.print("[yellow]no window:[/] this OpenCV build has no GUI (opencv-python-headless); "
                      "pip install opencv-python (same version) in its place for a window")
        window = False
    if not window and out is None and events is None:
        raise EdgemarkError("headless run with nothing to write: pass --out and/or --events (or --window)")
    predictor = load_predictor(model, threads=threads)
    options = DemoOptions(mode=mode, detect_every=detect_every, smooth=smooth, min_cutoff=min_cutoff, beta=beta, out=out,
                          events=events, window=window, max_frames=max_frames)
    with _bar("demo") as bar:
        task = bar.add_task("", total=None)
        summary = run_demo(predictor, source, options, face_detector,
                           on_frame=lambda i, n: bar.update(task, completed=i + 1, total=n if n > 0 else None))
    s = summary["stage_ms"]
    console.print(f"{summary['frames']} frames ({summary['unreadable_frames']} unreadable), face in {summary['frames_with_face']}, "
                  f"detector ran {summary['detector_runs']} times; {summary['events']} events {summary['event_kinds']}")
    console.print(f"mean per frame: detect {s['detect']:.2f} ms, landmarks {s['landmarks']:.2f} ms, total {s['total']:.2f} ms; "
                  f"{summary['wall_fps']:.1f} FPS end to end (with decoding and writing)")
    if predictor.scheme.num_points == 5 and mode == "drive":
        console.print("eye closure: off (a 5-point model has eye centres, not eyelids)")
    for path in (out, events):
        if path:
            console.print(f"wrote {path}")


SSH_HELP = "SSH options: the target is user@host, a ~/.ssh/config alias, or ssh://user@host:port."


def _ssh_target(host: str, port: Optional[int], identity: Optional[Path], ssh_config: Optional[Path]):
    from .remote.ssh import SshTarget

    return SshTarget.parse(host, port=port, identity=str(identity) if identity else None,
                           config=str(ssh_config) if ssh_config else None)


def _test_crops(data: Optional[Path], artifact: Path, faces_limit: Optional[int]):
    """Test crops for accuracy (on this machine or shipped to a device), or None without data."""
    from .data.lists import read_list
    from .evaluate import crop_list
    from .predictors.load import load_predictor

    try:
        data_dir = resolve_data(data)
    except EdgemarkError as e:
        console.print(f"[yellow]speed and memory only:[/] accuracy needs a data set ({escape(str(e))})")
        return None
    faces = read_list(data_dir / "testImageList.txt")
    if faces_limit:
        faces.records = faces.records[:faces_limit]
    crops, mats = crop_list(faces, load_predictor(artifact).crop)
    return crops, mats, np.stack([r.landmarks for r in faces.records]), f"{Path(faces.path).name} ({len(faces)} faces)"


@app.command()
def deploy(
    model: Path = typer.Option(..., help="Export folder (or one artifact folder)."),
    host: str = typer.Option(..., help="user@host, an ~/.ssh/config alias, or ssh://user@host:port."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, a comma list, or all."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    port: Optional[int] = typer.Option(None, help="SSH port (default: from ssh config, else 22)."),
    identity: Optional[Path] = typer.Option(None, help="SSH private key (default: ssh-agent / ssh config)."),
    ssh_config: Optional[Path] = typer.Option(None, help="An ssh_config file to use instead of ~/.ssh/config."),
    python: str = typer.Option("python3", help="Python on the device that creates the venv."),
    remote_dir: str = typer.Option("edgemark", help="Folder on the device (relative to the login directory)."),
    data: Optional[Path] = DataOption,
    test_faces: int = typer.Option(200, help="Test faces shipped with the bundle for accuracy on the device (0: none)."),
):
    """Copy artifacts and a torch-free runner to a device, set up its venv, check hashes there."""
    from .bench.run import find_artifacts
    from .export.pipeline import PRECISIONS, TARGETS
    from .remote.deploy import deploy as run_deploy

    ssh = _ssh_target(host, port, identity, ssh_config)
    artifacts = [a for a in find_artifacts(model, _choices(target, TARGETS, "--target"), _choices(precision, PRECISIONS, "--precision"))
                 if a.name != "torch-fp32"]
    if not artifacts:
        raise EdgemarkError(f"{model}: no ONNX/OpenVINO/TFLite artifact matches --target {target} --precision {precision}")
    crops = _test_crops(data, artifacts[0], test_faces) if test_faces else None
    with console.status("deploying") as status:
        result = run_deploy(ssh, artifacts, _bundle_name(model), remote_dir, python, crops, on_step=lambda m: status.update(m))
    console.print(f"deployed {', '.join(result['artifacts'])} to {result['host']}:{result['bundle']} "
                  f"(device: {result['device_machine']}, Python {result['device_python']}; venv {result['venv']} with "
                  f"{', '.join(result['requirements'])}); hashes verified on the device")
    console.print(f"on the device: {result['bundle']}/bin/edgemark predict --model {result['bundle']}/artifacts/{result['artifacts'][0]} IMAGE.jpg")


def _opencv_has_no_gui() -> bool:
    import re

    import cv2

    return bool(re.search(r"GUI:\s+NONE", cv2.getBuildInformation()))


def _bundle_name(model: Path) -> str:
    model = Path(model).resolve()
    return model.name if not (model / "manifest.json").exists() else f"{model.parent.name}-{model.name}"


@app.command()
def predict(
    image: Path = typer.Argument(..., help="An image file."),
    model: Path = typer.Option(..., help="Artifact folder or checkpoint."),
    box: Optional[str] = typer.Option(None, help="left,top,right,bottom (default: Haar face detector, else the whole image)."),
    out: Optional[Path] = typer.Option(None, help="Write the image with the landmarks drawn."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
):
    """Print the landmarks of the face in an image (and draw them with --out)."""
    import json

    from .predict import predict_image
    from .predictors.load import load_predictor

    parsed = None
    if box:
        try:
            parsed = tuple(float(v) for v in box.split(","))
        except ValueError:
            parsed = ()
        if len(parsed) != 4:
            raise EdgemarkError(f"--box {box!r}: expected left,top,right,bottom")
    print(json.dumps(predict_image(load_predictor(model, threads=threads), image, parsed, out), indent=1))


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
    table: Path = typer.Option(Path("benchmarks/accuracy.md"), help="Study table the results are appended to."),
    cache: Optional[Path] = typer.Option(None, help="Crop cache folder."),
):
    """Run a grid of recipes in parallel with Ray Tune (pip install 'edgemark[sweep]')."""
    from .sweep import check_recipes, run_sweep

    check_recipes(recipes)
    train_list = resolve_data(data) / "trainImageList.txt"
    rows = run_sweep(recipes, _int_list(seeds, "--seeds") if seeds != "0" else [0], train_list, out, table,
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
):
    """NME against box shift, box scale and face rotation: the model's operating range."""
    from .predictors.load import load_predictor
    from .robustness import sweep, write_report

    predictor = load_predictor(model, threads=threads)
    face_list = open_list(list_file, data, "testImageList.txt", "cuhk", predictor.scheme.num_points)
    if faces:
        face_list.records = face_list.records[:faces]
    with _bar("robustness sweep") as bar:
        task = bar.add_task("", total=None)
        result = sweep(predictor, face_list, progress=lambda i, n: bar.update(task, completed=i, total=n))
    for path in write_report(result, out, str(model), "edgemark " + shlex.join(sys.argv[1:])):
        console.print(f"wrote {path}")
    for kind in ("shift", "scale", "rotation"):
        console.print(f"{kind:>8}: " + "  ".join(f"{k}: {v * 100:.2f}%" for k, v in result[kind].items()))


def main() -> None:
    try:
        app()
    except EdgemarkError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] (a training run continues with --resume)")
        sys.exit(130)


if __name__ == "__main__":
    main()
