"""edgemark profile: per-operator time of exported artifacts, mapped to the model's layers."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import EdgemarkError
from .common import DevicePythonOption, RemoteDirOption, SshConfigOption, SshIdentityOption, SshPortOption, app, console


@app.command("profile")
def profile(
    artifacts: Optional[list[str]] = typer.Argument(None, help="Artifact folders (or shipped names, e.g. mobilenetv2_96/onnx-int8), or bare "
                                                    ".tflite files: fp32 beside int8, or one runtime beside another, compare row by row."),
    detector: Optional[list[str]] = typer.Option(None, "--detector", help="Also profile a face detector's network under LiteRT "
                                                 "(blazeface, blazeface-int8-96, ...), at the input side that detector runs it; "
                                                 "repeat for more."),
    runs: int = typer.Option(50, help="Timed runs; each operator's median over them (LiteRT: the mean its profiler reports)."),
    warmup: int = typer.Option(10, help="Runs before timing."),
    threads: int = typer.Option(1, help="Threads the runtime may use."),
    by: str = typer.Option("layer", help="Terminal detail: kind (per kind of layer only), layer (and per layer), or op "
                           "(and every operator of each artifact)."),
    out: Optional[Path] = typer.Option(None, help="Write profile.json (every operator) and profile.md into this folder."),
    device: str = typer.Option("cpu", help="cpu (here), or ssh://user@host (an ssh_config alias works: ssh://pi4): deploy the "
                               "artifacts there and profile them on the device."),
    port: Optional[int] = SshPortOption,
    identity: Optional[Path] = SshIdentityOption,
    ssh_config: Optional[Path] = SshConfigOption,
    python: str = DevicePythonOption,
    remote_dir: str = RemoteDirOption,
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
    if device.startswith("ssh://"):
        profiles, machine = _profile_on_device(artifacts or [], detector or [], runs, warmup, threads, device,
                                               (port, identity, ssh_config, python, remote_dir))
    elif device == "cpu":
        profiles = []
        with console.status("profiling") as status:
            for spec in artifacts or []:
                status.update(f"profiling {spec}")
                if _bare_tflite(spec):
                    profiles.append(profile_tflite_file(spec, runs=runs, warmup=warmup, threads=threads))
                else:
                    profiles.append(profile_artifact(resolve_artifact(spec), runs=runs, warmup=warmup, threads=threads))
            for name in detector or []:
                status.update(f"profiling the {name} detector")
                profiles.append(profile_detector(name, runs=runs, warmup=warmup, threads=threads))
        machine = machine_summary()
    else:
        raise EdgemarkError(f"--device {device!r}: profile takes cpu (here) or ssh://user@host (a device)")
    where = f"{device.removeprefix('ssh://')}: " if device != "cpu" else ""
    console.print(escape(f"{where}{machine.get('board') or machine.get('cpu')} ({machine.get('machine')}, {machine.get('cores')} cores), "
                         f"{threads} thread(s), {runs} timed runs after {warmup} warm-up"))
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


def _bare_tflite(spec: str) -> bool:
    """A model file given as it is (no manifest), as LiteRT's benchmark_model takes one."""
    return spec.endswith(".tflite") and Path(spec).is_file()


def _profile_on_device(specs: list[str], detectors: list[str], runs: int, warmup: int, threads: int, device: str, ssh_options):
    """Deploy the artifacts (and the detector files every bundle carries), profile them there,
    bring the profiles back: (profiles, the device's machine facts)."""
    from ..detect import NEED_INT8_BUILD
    from ..export.manifest import read_manifest
    from ..remote.bundle import device_artifacts
    from ..remote.deploy import deploy as run_deploy
    from ..remote.deploy import remote_profile
    from ..shipped import resolve_artifact
    from .common import ssh_target

    port, identity, ssh_config, python, remote_dir = ssh_options
    if any(_bare_tflite(spec) for spec in specs):
        raise EdgemarkError("a bare .tflite file is profiled here only; for --device ssh://, give artifact folders (with manifests)")
    built_here = [name for name in detectors if name in NEED_INT8_BUILD]
    if built_here:
        raise EdgemarkError(f"--detector {', '.join(built_here)}: the int8 BlazeFace build is made on this machine and is not in a "
                            "device bundle; profile blazeface, blazeface-96, blazeface-112 or blazeface-full on the device")
    folders = [resolve_artifact(spec) for spec in specs]
    artifacts, left_out = device_artifacts(folders, "executorch")  # named on the command line: ExecuTorch's torch is opted into
    if len({a.name for a in artifacts}) != len(artifacts):
        raise EdgemarkError("two artifacts share a folder name (" + ", ".join(a.name for a in artifacts) + "): a device bundle "
                            "holds one of each; profile them in two runs")
    skipped = [f for f in folders if f not in artifacts and f not in left_out]
    ssh = ssh_target(device, port, identity, ssh_config)
    with console.status("deploying") as status:
        # the ONNX profile names each operator's layer from the graph, which the onnx package reads
        formats = {read_manifest(a, verify=False)[1]["format"] for a in artifacts}
        deployed = run_deploy(ssh, artifacts, "profile", remote_dir, python, None, on_step=lambda m: status.update(m),
                              extra_requirements=("onnx",) if "onnx" in formats else ())
        status.update(f"profiling on {ssh.host}")
        data = remote_profile(ssh, deployed["bundle"], [a.name for a in artifacts], detectors, runs, warmup, threads)
    profiles = data["profiles"] + [{"artifact": f.name, "unsupported": "torch is not deployed to devices (the reference runs here)"}
                                   for f in skipped]
    return profiles, data["machine"]
