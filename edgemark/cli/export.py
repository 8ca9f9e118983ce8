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
    fmt: str = typer.Option("cuhk", "--format", help="Layout of --test-list and --train-list: cuhk, wflw or 300w (as edgemark "
                            "train and eval)."),
    train_list: Optional[Path] = typer.Option(None, "--train-list", help="The training list, in the model's points: int8 "
                                              "calibration faces and --nme-budget's validation faces (default: "
                                              "DATA/trainImageList.txt). A WFLW or 300-W model: its own training list."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Conversions run at once, each in its own process "
                                       "(default: one per CPU core, at most 4; 1: one after another in this process)."),
    nme_budget: Optional[float] = typer.Option(None, "--nme-budget", help="With --precision int8 and --target tflite, onnx and/or "
                                               "openvino: keep the fewest layers float (ranked by edgemark quant-debug) for each "
                                               "model's NME drop against fp32 on the checkpoint's validation faces, measured in "
                                               "its runtime, to be within this many percentage points; the manifest lists them "
                                               "(float_layers)."),
    ranking: Optional[list[Path]] = typer.Option(None, "--ranking", help="With --nme-budget: rank the layers of the report's "
                                                 "target by this edgemark quant-debug --json report of the same checkpoint "
                                                 "instead of ranking them again (the slow part: one int8 model per layer); "
                                                 "repeat it for several targets."),
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
    targets = choices(target, TARGETS, "--target")
    precisions = choices(precision, PRECISIONS, "--precision")
    if nme_budget is not None:
        from ..export.quant_debug import check_budget

        from ..export.nme_budget import check_budget_targets

        check_budget(nme_budget)
        check_budget_targets(targets, precisions)
    rankings = {}
    for path in ranking or []:
        if nme_budget is None:
            raise EdgemarkError("--ranking orders the layers --nme-budget keeps float: pass --nme-budget too")
        report = read_ranking(path)
        from ..io import file_sha256

        if report["checkpoint_sha256"] not in (None, file_sha256(checkpoint)):
            raise EdgemarkError(f"--ranking {path}: ranks another checkpoint's layers (SHA-256 "
                                f"{report['checkpoint_sha256'][:12]}..., {checkpoint} is {file_sha256(checkpoint)[:12]}...); "
                                f"run edgemark quant-debug {checkpoint} --json FILE")
        if report["target"] in rankings:
            raise EdgemarkError(f"--ranking {rankings[report['target']]['path']} and {path}: two rankings of {report['target']}")
        if report["target"] not in targets:
            raise EdgemarkError(f"--ranking {path}: ranks {report['target']} layers, not exported here (--target {target})")
        rankings[report["target"]] = report
    console.print(f"exporting {checkpoint} -> {out}", highlight=False)
    test_faces = train_faces = None
    try:
        data_dir = resolve_data(data) if train_list is None or test_list is None else None
    except EdgemarkError as e:
        if train_list is None and "int8" in precisions and precision != "all":
            raise
        if train_list is None and "int8" in precisions:
            precisions = [p for p in precisions if p != "int8"]
            console.print("[yellow]no int8:[/] it needs calibration faces from the training list (--train-list, --data or EDGEMARK_DATA)")
        if test_list is None:
            console.print(f"[yellow]no accuracy check:[/] {escape(str(e))}")
        data_dir = None
    if data_dir is not None or train_list is not None or test_list is not None:
        from ..checkpoint import load_checkpoint

        points = len(load_checkpoint(checkpoint)["scheme"]["names"])
        if train_list is not None:
            train_faces = read_list(train_list, fmt, num_points=points, image_root=images)
        elif data_dir is not None:
            train_faces = read_list(data_dir / "trainImageList.txt")
        if test_list is not None:
            test_faces = read_list(test_list, fmt, num_points=points, image_root=images)
        elif data_dir is not None and points != 5:
            raise EdgemarkError(f"{checkpoint}: a {points}-point model needs --test-list in its points for the accuracy check "
                                f"(e.g. edgemark data pseudo-label --list {data_dir / 'testImageList.txt'}, then --images {data_dir})")
        elif data_dir is not None:
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
                                        jobs=jobs or default_jobs(len(targets) * len(precisions)), nme_budget=nme_budget,
                                        rankings=rankings)
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
    for r in results:
        if "float_layers" in r.manifest:
            v = r.manifest["nme_budget"]["validation"]
            console.print(f"{r.name}: {len(r.manifest['float_layers'])} layer(s) float for --nme-budget {nme_budget}: "
                          f"{', '.join(r.manifest['float_layers']) or 'none'}; validation drop {v['drop_pp']:+.3f} pp "
                          f"({v['faces']} faces, {v['runtime']})", highlight=False)
    console.print(f"wrote {out}/README.md and a manifest.json in every artifact folder (converter logs: {out}/export.log)")
    if over and strict:
        raise EdgemarkError(f"accuracy drop over {max_drop} pp NME: {', '.join(over)} (--strict)")
    if over:
        console.print(f"[yellow]warning:[/] accuracy drop over {max_drop} pp NME: {', '.join(over)}")


def read_ranking(path: Path) -> dict:
    """A quant-debug --json report with its per-layer NME column, or a named error."""
    import json

    try:
        rep = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgemarkError(f"--ranking {path}: no such file (edgemark quant-debug CHECKPOINT --json {path} writes it)") from None
    except json.JSONDecodeError as e:
        raise EdgemarkError(f"{path}:{e.lineno}: not JSON ({e.msg}); --ranking takes edgemark quant-debug's --json report") from None
    rows = rep.get("rows") if isinstance(rep, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and "layer" in r for r in rows):
        raise EdgemarkError(f"{path}: no per-layer rows; --ranking takes edgemark quant-debug's --json report")
    if any(r.get("gain_pp") is None for r in rows):
        raise EdgemarkError(f"{path}: written with --no-nme, so it cannot rank layers by NME; run quant-debug without it")
    keys = ("layer", "relative_error", "cosine", "nme_alone_float", "gain_pp")
    target = rep.get("target", "tflite")
    if target not in ("tflite", "onnx", "openvino"):
        raise EdgemarkError(f"{path}: ranks the layers of target {target!r}; --ranking takes tflite, onnx or openvino reports")
    return {"path": str(path), "target": target, "checkpoint_sha256": rep.get("checkpoint_sha256"),
            "rows": [{k: r.get(k) for k in keys} for r in rows]}


@app.command("quant-debug")
def quant_debug(
    checkpoint: str = typer.Argument(SHIPPED_CHECKPOINT, help="Trained checkpoint (.pt), or a shipped model by name."),
    target: str = typer.Option("tflite", help="The int8 quantiser to debug: tflite (torchao PT2E with litert-torch's quantizer, "
                               "simulated in torch: output errors and NME), onnx or openvino (each layer's NME alone float, "
                               "each file converted and run in its runtime)."),
    faces: Optional[int] = typer.Option(None, min=1, help="Validation faces (the checkpoint's held-out split of the training "
                                        "list, in list order; default: all of them)."),
    nme: bool = typer.Option(True, "--nme/--no-nme", help="Measure each layer's validation NME when it alone stays float "
                             "(one int8 model per layer; --no-nme: the output errors only)."),
    nme_budget: Optional[float] = typer.Option(None, "--nme-budget", help="Also choose the fewest float layers for the drop "
                                               "to be within this many percentage points (in torch; edgemark export "
                                               "--nme-budget makes and checks the real file)."),
    data: Optional[Path] = DataOption,
    calib_size: int = typer.Option(200, min=1, help="Calibration faces, drawn from the training list (as edgemark export)."),
    calib_seed: int = typer.Option(0, help="Seed of the calibration draw."),
    layers: Optional[str] = typer.Option(None, "--layers", help="Rank only these layers, a comma list of the names this "
                                         "command prints (features.3.block.0,head.reduce); default: every int8 layer."),
    top: int = typer.Option(20, min=1, help="Rows printed here (the JSON and Markdown files hold all)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the findings as JSON."),
    md_out: Optional[Path] = typer.Option(None, "--md", help="Write the per-layer table as Markdown."),
):
    """Per-layer int8 error against fp32 (relative error, cosine on the calibration crops; TFLite)
    and each layer's effect on the validation NME when it alone stays float (every target)."""
    from ..checkpoint import load_checkpoint, load_model
    from ..data.lists import read_list
    from ..export.calibration import calibration_crops
    from ..export.quant_debug import Debugger, check_budget, report, validation_set
    from ..io import file_sha256
    from ..shipped import resolve_checkpoint

    if target not in ("tflite", "onnx", "openvino"):
        raise EdgemarkError(f"--target {target}: the quantisation debugger ranks tflite, onnx or openvino int8 layers")
    if target != "tflite" and not nme:
        raise EdgemarkError(f"--no-nme: the output-error columns come from the torch simulation of the TFLite quantiser; "
                            f"--target {target} measures each layer's NME in its runtime")
    if target != "tflite" and nme_budget is not None:
        raise EdgemarkError(f"--nme-budget with --target {target}: edgemark export --target {target} --precision int8 "
                            "--nme-budget PP chooses the layers, converting and measuring each file")
    if nme_budget is not None:
        check_budget(nme_budget)
        if not nme:
            raise EdgemarkError("--nme-budget ranks the layers by their NME when alone float: drop --no-nme")
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    loaded = load_model(path)
    train_faces = read_list(resolve_data(data) / "trainImageList.txt")
    calib, calib_info = calibration_crops(train_faces, loaded.crop, calib_size, calib_seed)
    with console.status("validation crops") as status:
        val = validation_set(train_faces, state, loaded.crop, loaded.scheme.interocular, faces)
        from ..export.quant_debug import model_layers

        all_layers = model_layers(loaded.model, loaded.crop, calib)
        chosen_layers = _chosen_layers(layers, all_layers)
        if target != "tflite":
            rep = _rank_in_runtime(target, loaded, state, path, checkpoint, calib, calib_info, val, status, chosen_layers, all_layers)
    if target != "tflite":
        rep["command"] = "edgemark " + shlex.join(sys.argv[1:])
        rep["checkpoint_sha256"] = file_sha256(path)
        _write_quant_debug(rep, checkpoint, len(val.crops), top, json_out, md_out, None, None, None)
        return
    with console.status("int8 model in torch") as status:
        status.update(f"int8 model in torch, {len(calib)} calibration crops, {len(val.crops)} validation faces")
        debugger = Debugger(loaded.model, loaded.crop, calib, val)
        rows = debugger.table(with_nme=nme, progress=lambda i, n: status.update(f"layer {i}/{n} alone float"), layers=chosen_layers)
        steps = chosen = None
        if nme_budget is not None:
            chosen, steps = debugger.choose(nme_budget, rows, progress=lambda s: status.update(
                f"float set + {s['added']}: drop {s['drop_pp']:+.3f} pp"))
    rep = report(debugger, rows, checkpoint, calib_info, steps, nme_budget, chosen)
    rep["command"] = "edgemark " + shlex.join(sys.argv[1:])
    rep["checkpoint_sha256"] = file_sha256(path)  # export --ranking refuses the report for another checkpoint
    _write_quant_debug(rep, checkpoint, len(val.crops), top, json_out, md_out, nme_budget, chosen, steps)


def _chosen_layers(text: str | None, layers: list[str]) -> list[str]:
    """--layers as the model's int8 layers (model order), or a named error."""
    if text is None:
        return layers
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in layers]
    if unknown or not wanted:
        raise EdgemarkError(f"--layers: {', '.join(unknown) or 'empty'}: not an int8 layer of this model (its layers: "
                            f"{', '.join(layers[:4])}, ..., {layers[-1]})")
    return [layer for layer in layers if layer in wanted]


def _rank_in_runtime(target, loaded, state, path, checkpoint, calib, calib_info, val, status, layers, all_layers) -> dict:
    from ..export.pipeline import base_manifest
    from ..export.runtime_ranking import RuntimeRanking, fp32_nme, report

    status.update(f"{target} int8, all layers")
    ranking = RuntimeRanking(target, loaded.model, loaded.crop, calib, val, base_manifest(state, path, "int8"))
    rows = ranking.table(layers, progress=lambda i, n: status.update(f"{target}: layer or pair {i}/{n} alone float"))
    return report(ranking, rows, checkpoint, calib_info, fp32_nme(loaded.model, loaded.crop, val), all_layers)


def _write_quant_debug(rep: dict, checkpoint, faces: int, top: int, json_out, md_out, nme_budget, chosen, steps) -> None:
    from rich.table import Table

    from ..export.quant_debug import markdown
    from ..io import write_json_atomic, write_text_atomic

    table = Table(title=f"{checkpoint}: {rep['target']} int8, NME fp32 {rep['nme_fp32'] * 100:.3f} %, int8 {rep['nme_int8'] * 100:.3f} % "
                        f"(drop {rep['drop_pp']:+.3f} pp, {faces} validation faces)")
    for col in ("rank", "layer", "rel. error", "cosine", "NME alone float %", "gain pp"):
        table.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
    for i, r in enumerate(sorted(rep["rows"], key=lambda r: rep["ranked"].index(r["layer"]))[:top], 1):
        table.add_row(str(i), r["layer"], f"{r['relative_error']:.4f}" if r["relative_error"] is not None else "n/a",
                      f"{r['cosine']:.5f}" if r["cosine"] is not None else "n/a",
                      f"{r['nme_alone_float'] * 100:.3f}" if r["nme_alone_float"] is not None else "n/a",
                      f"{r['gain_pp']:+.3f}" if r["gain_pp"] is not None else "n/a")
    console.print(table)
    if steps is not None:
        console.print(f"--nme-budget {nme_budget}: {len(chosen)} layer(s) float: {', '.join(chosen) or 'none'} "
                      f"(validation drop {steps[-1]['drop_pp']:+.3f} pp in torch)", highlight=False)
    if json_out:
        write_json_atomic(json_out, rep)
    if md_out:
        Path(md_out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(md_out, markdown(rep))
    if json_out or md_out:
        console.print(f"wrote {', '.join(str(p) for p in (json_out, md_out) if p)}", highlight=False)
