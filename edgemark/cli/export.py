"""edgemark export."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import EdgemarkError
from .common import DataOption, ImagesOption, app, choices, console, resolve_data


SHIPPED_CHECKPOINT = "mobilenetv2_96"  # the shipped model's training checkpoint, by name (edgemark/shipped.py)


def default_out(checkpoint: Path) -> Path:
    """runs/export/NAME: the model's folder name (exported/NAME/torch-fp32/model.pt, runs/NAME/best.pt)."""
    parts = Path(checkpoint).resolve().parts
    name = parts[-3] if len(parts) >= 3 and parts[-2] == "torch-fp32" else parts[-2] if len(parts) >= 2 else "model"
    return Path("runs") / "export" / name


@app.command()
def export(
    checkpoint: Optional[Path] = typer.Option(None, help="Trained checkpoint (.pt), or a shipped model by name (mobilenetv2_96, "
                                              f"drive23: its training checkpoint); default: {SHIPPED_CHECKPOINT}."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, ncnn, executorch, a comma list, or all. Every one does "
                                "fp32, fp16 and int8 (NCNN fp16: fp16 weights; fp16 arithmetic only on CPUs that have it)."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    out: Optional[Path] = typer.Option(None, help="Export folder: one sub-folder per TARGET-PRECISION, plus torch-fp32 and README.md "
                                       "(default: runs/export/NAME, never the shipped exported/ folder)."),
    replace: bool = typer.Option(False, "--replace", help="Delete artifacts of another checkpoint found in --out first."),
    data: Optional[Path] = DataOption,
    calib_size: int = typer.Option(200, help="Calibration faces for int8, drawn from the training list."),
    calib_seed: int = typer.Option(0, help="Seed of the calibration draw."),
    max_drop: float = typer.Option(0.5, help="Warn when an artifact's NME is worse than torch fp32 by more than this (percentage points)."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) when an artifact exceeds --max-drop."),
    test_list: Optional[Path] = typer.Option(None, "--test-list", help="List for the accuracy check (default: DATA/testImageList.txt); "
                                             "a model of another scheme needs a list in its points (edgemark data pseudo-label)."),
    images: Optional[Path] = ImagesOption,
    jobs: Optional[int] = typer.Option(None, min=1, help="Conversions run at once, each in its own process "
                                       "(default: one per CPU core, at most 4; 1: one after another in this process)."),
):
    """Export to ONNX / OpenVINO / TFLite / NCNN / ExecuTorch in fp32 / fp16 / int8, check each in its own runtime."""
    from rich.table import Table

    from ..data.lists import read_list
    from ..environment import machine_line
    from ..export.pipeline import PRECISIONS, TARGETS, default_jobs, export_all
    from ..export.report import write_export_readme

    from ..shipped import inside_installed_package, resolve_checkpoint

    checkpoint = resolve_checkpoint(checkpoint or SHIPPED_CHECKPOINT)
    if not checkpoint.is_file():
        raise EdgemarkError(f"{checkpoint}: no such checkpoint file")
    out = out or default_out(checkpoint)
    if inside_installed_package(out):
        raise EdgemarkError(f"--out {out}: inside the installed edgemark package; choose a folder of your own")
    console.print(f"exporting {checkpoint} -> {out}", highlight=False)
    targets = choices(target, TARGETS, "--target")
    precisions = choices(precision, PRECISIONS, "--precision")
    test_faces = train_faces = None
    try:
        data_dir = resolve_data(data)
    except EdgemarkError as e:
        if "int8" in precisions and precision != "all":
            raise
        if "int8" in precisions:
            precisions = [p for p in precisions if p != "int8"]
            console.print("[yellow]no int8:[/] it needs calibration faces from the training list (--data or EDGEMARK_DATA)")
        console.print(f"[yellow]no accuracy check:[/] {escape(str(e))}")
        data_dir = None
    if data_dir is not None:
        from ..checkpoint import load_checkpoint

        train_faces = read_list(data_dir / "trainImageList.txt")
        points = len(load_checkpoint(checkpoint)["scheme"]["names"])
        if test_list is not None:
            test_faces = read_list(test_list, num_points=points, image_root=images)
        elif points != 5:
            raise EdgemarkError(f"{checkpoint}: a {points}-point model needs --test-list in its points for the accuracy check "
                                f"(e.g. edgemark data pseudo-label --list {data_dir / 'testImageList.txt'}, then --images {data_dir})")
        else:
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
                                        on_step=step, replace=replace,
                                        jobs=jobs or default_jobs(len(targets) * len(precisions)))
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
