"""edgemark profile: per-operator time of exported artifacts, mapped to the model's layers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import EdgemarkError
from .common import app, console


@app.command("profile")
def profile(
    artifacts: Optional[list[str]] = typer.Argument(None, help="Artifact folders (or shipped names, e.g. mobilenetv2_96/onnx-int8), or bare "
                                                    ".tflite files: fp32 beside int8, or one runtime beside another, compare row by row."),
    detector: Optional[list[str]] = typer.Option(None, "--detector", help="Also profile a face detector's network under LiteRT "
                                                 "(blazeface, blazeface-int8-96, ...), at the input side that detector runs it; "
                                                 "repeat for more."),
    runs: int = typer.Option(50, help="Timed runs; each operator's median over them."),
    warmup: int = typer.Option(10, help="Runs before timing."),
    threads: int = typer.Option(1, help="Threads the runtime may use."),
    by: str = typer.Option("layer", help="Terminal detail: kind (per kind of layer only), layer (and per layer), or op "
                           "(and every operator of each artifact)."),
    out: Optional[Path] = typer.Option(None, help="Write profile.json (every operator) and profile.md into this folder."),
):
    """Per-operator time and share of the total, from each runtime's own profiler (ONNX Runtime session
    profiling, OpenVINO performance counters, LiteRT's CompiledModel profiler, ExecuTorch's event
    tracer); runtimes whose Python package exposes none are named."""
    from ..environment import machine_summary
    from ..profile.report import rich_tables, summary_lines, write_profile
    from ..profile.run import profile_artifact, profile_detector, profile_tflite_file
    from ..shipped import resolve_artifact

    if by not in ("kind", "layer", "op"):
        raise EdgemarkError(f"--by must be kind, layer or op, not {by!r}")
    if not artifacts and not detector:
        raise EdgemarkError("name an artifact to profile (e.g. mobilenetv2_96/tflite-int8) or a --detector (e.g. blazeface)")
    profiles = []
    with console.status("profiling") as status:
        for spec in artifacts or []:
            status.update(f"profiling {spec}")
            if spec.endswith(".tflite") and Path(spec).is_file():  # a bare model file, as LiteRT's benchmark_model takes one
                profiles.append(profile_tflite_file(spec, runs=runs, warmup=warmup, threads=threads))
            else:
                profiles.append(profile_artifact(resolve_artifact(spec), runs=runs, warmup=warmup, threads=threads))
        for name in detector or []:
            status.update(f"profiling the {name} detector")
            profiles.append(profile_detector(name, runs=runs, warmup=warmup, threads=threads))
    machine = machine_summary()
    console.print(escape(f"{machine['cpu']} ({machine['machine']}, {machine.get('cores')} cores), {threads} thread(s), "
                         f"median of {runs} runs after {warmup} warm-up"))
    for table in rich_tables(profiles, by):
        console.print(table)
    for line in summary_lines(profiles):
        console.print(escape(line), highlight=False)
    for p in profiles:
        if "unsupported" in p:
            console.print(f"[yellow]not profiled[/] {escape(p['artifact'])}: {escape(p['unsupported'])}")
    if out is not None:
        written = write_profile(profiles, out, machine, "edgemark " + shlex.join(sys.argv[1:]))
        console.print("wrote " + escape(", ".join(map(str, written))))
    if not any("unsupported" not in p for p in profiles):
        raise EdgemarkError("no artifact could be profiled: " + "; ".join(f"{p['artifact']}: {p['unsupported']}" for p in profiles))
