"""edgemark bench (local, over SSH, a fleet) and its report, compare and pareto subcommands."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import EdgemarkError
from .common import (DataOption, DevicePythonOption, RemoteDirOption, SshConfigOption, SshIdentityOption, SshPortOption, bench_app,
                     bundle_name, choices, console, int_list, load_bench_frame, load_test_crops, ssh_target)

SHIPPED_MODEL = Path("mobilenetv2_96")  # the shipped model by name: every shipped artifact of it (edgemark/shipped.py)


@dataclass(frozen=True)
class BenchSettings:
    """What every bench path (local, SSH, fleet) shares, as typed on the command line."""

    target: str
    precision: str
    threads: str
    batch: str
    data: Optional[Path]
    out: Optional[Path]
    warmup: int
    min_runs: int
    min_seconds: float
    accuracy_faces: Optional[int]
    amx: bool
    rounds: int
    pin: bool = True
    cores: Optional[str] = None
    detector: str = "blazeface"
    refine: Optional[int] = None
    peer: str = "none"
    worker_timeout: float = 900.0
    tta: str = "none"


@dataclass(frozen=True)
class SshOptions:
    port: Optional[int]
    identity: Optional[Path]
    ssh_config: Optional[Path]
    python: str
    remote_dir: str


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    model: Optional[Path] = typer.Option(None, help="A shipped model by name (mobilenetv2_96, drive23: every artifact of it here; "
                                         "NAME/ARTIFACT for one), an export folder (every artifact in it) or one artifact folder "
                                         f"(default: {SHIPPED_MODEL})."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, ncnn, executorch, a comma list, or all (torch fp32 is always the baseline row)."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    device: str = typer.Option("cpu", help="cpu, gpu, or ssh://user@host (an ssh_config alias works: ssh://pi4): deploy "
                               "there and benchmark on the device."),
    threads: str = typer.Option("1", help="Thread counts, comma-separated, e.g. 1,2,4."),
    batch: str = typer.Option("1", help="Batch sizes, comma-separated, e.g. 1,8."),
    data: Optional[Path] = DataOption,
    out: Optional[Path] = typer.Option(None, help="Result folder (default: a new benchmarks/HOST-DEVICE-DATE, with -2, -3, ... "
                                       "for another run the same day)."),
    warmup: int = typer.Option(20, help="Warm-up calls before timing."),
    min_runs: int = typer.Option(200, help="At least this many timed calls."),
    min_seconds: float = typer.Option(2.0, help="And at least this many seconds of timed calls."),
    accuracy_faces: Optional[int] = typer.Option(None, help="Use only the first N test faces for accuracy."),
    pin: bool = typer.Option(True, help="Pin each run to as many CPU cores as it has threads (the lowest-numbered, or --cores); "
                             "with more threads than cores it gets them all and the report says so."),
    cores: Optional[str] = typer.Option(None, help="Pin to these cores, in order, e.g. 4-7: on big.LITTLE boards (RK3588) the "
                                        "lowest-numbered cores are the slow ones. On each device of --device ssh:// and --devices too."),
    worker_timeout: float = typer.Option(900.0, help="Seconds one measurement may take; a worker past it is stopped and its row "
                                         "recorded as not measured."),
    tta: str = typer.Option("none", help="flip: also measure every artifact flip-averaged (each face and its mirror image in one "
                            "call), as a row of its own (ARTIFACT+flip): its cost and its accuracy beside the one-pass row; none."),
    amx: bool = typer.Option(True, help="--no-amx: refuse Intel AMX to every run (on each device of --device ssh:// and "
                             "--devices too), so XNNPACK's int8 kernels are its AVX-512 VNNI ones; on AMX Xeons its AMX tiles are "
                             "slower for narrow models. Nothing to refuse on CPUs without AMX (ARM): the results say so."),
    rounds: int = typer.Option(1, help="Measure the whole list this many times in turn (on every device): on a machine whose speed "
                               "drifts (a shared VM) every row then sees the same drift; each row reports its median round."),
    port: Optional[int] = SshPortOption,
    identity: Optional[Path] = SshIdentityOption,
    ssh_config: Optional[Path] = SshConfigOption,
    python: str = DevicePythonOption,
    remote_dir: str = RemoteDirOption,
    devices: Optional[Path] = typer.Option(None, help="A devices YAML: benchmark every device listed, concurrently."),
    detector: str = typer.Option("blazeface", help="Pipeline rows per 640x480 frame for these face detectors (comma list, all, "
                                 "or none): each alone and with each artifact. Needs --data (a frame with a face)."),
    refine: Optional[int] = typer.Option(None, help="Refinement passes in the pipeline rows (default: each detector's measured one)."),
    peer: str = typer.Option("none", help="Also measure a peer in the same run and harness: mediapipe (MediaPipe's face "
                             "landmark model from the pinned wheel, 468 points at 192 px, mapped to the 5 points), or none."),
    baseline: Optional[Path] = typer.Option(None, help="Regression gate: an older run's results.json (or folder) on the same "
                                            "machine; exit 1 when a row is slower than it by more than the noise (--rounds "
                                            "spreads) plus --max-slowdown, or its NME drop grew by more than --max-drop."),
    max_slowdown: float = typer.Option(10.0, help="--baseline: allowed slowdown in percent of the baseline's p50, beyond the noise."),
    max_drop: float = typer.Option(0.1, help="--baseline: allowed growth of a row's NME drop, in percentage points."),
    jitter_faces: int = typer.Option(30, help="Jitter per artifact on this many test faces (at most --accuracy-faces), each a still clip of 8 frames "
                                     "(sensor noise, sub-pixel box shifts): RMS frame-to-frame move in % of IOD, and the EAR's "
                                     "for eyelid schemes. 0: none. Needs --data."),
    jitter_clip: Optional[Path] = typer.Option(None, help="A video of a still face: each artifact's whole pipeline (BlazeFace, crop, "
                                               "landmarks) on every frame; its frame-to-frame jitter (and the EAR's) per artifact."),
):
    """Benchmark every artifact, each in a fresh process; write JSON, CSV, Markdown and plots.
    --device ssh://user@host deploys the bundle and runs the same benchmark on that device."""
    if ctx.invoked_subcommand is not None:
        return
    from ..shipped import resolve_export_folder

    if model is None:
        model = resolve_export_folder(SHIPPED_MODEL)
        console.print(f"model: {SHIPPED_MODEL} (the shipped model, {escape(str(model))}; pass --model for another)", highlight=False)
    else:
        model = resolve_export_folder(model)
    settings = BenchSettings(target, precision, threads, batch, data, out, warmup, min_runs, min_seconds, accuracy_faces, amx, rounds,
                             pin, cores, detector, refine, peer, worker_timeout, tta)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ..bench.report import write_outputs
    from ..bench.run import default_out_dir, find_artifacts, parse_cores, run_bench
    from ..detect import DETECTORS
    from ..export.pipeline import PRECISIONS, TARGETS

    old = _load_baseline(baseline, devices is not None or device.startswith("ssh://"))
    if jitter_clip is not None and not jitter_clip.is_file():
        raise EdgemarkError(f"{jitter_clip}: no such clip (--jitter-clip: a video of a still face)")
    if devices is not None:
        _bench_fleet(model, devices, settings)
        return
    if device.startswith("ssh://"):
        _bench_ssh(model, device, settings, SshOptions(port, identity, ssh_config, python, remote_dir))
        return
    from ..devices import parse_device

    device = parse_device(device).label  # cpu, gpu, cuda, cuda:N -> cpu, gpu, cuda:N (edgemark.devices); else a named error
    threads_list, batches = int_list(threads, "--threads"), int_list(batch, "--batch")
    targets, precisions = choices(target, TARGETS, "--target"), choices(precision, PRECISIONS, "--precision")
    chosen = find_artifacts(model, targets, precisions)
    _check_some_artifact(model, chosen, target, precision)
    test_crops = load_test_crops(data, chosen[0], accuracy_faces)
    # yunet needs its model file, which edgemark cannot fetch: name it alone to include it
    detectors = [] if detector == "none" else choices(detector, tuple(d for d in DETECTORS if d != "yunet"), "--detector")
    frame = load_bench_frame(data) if detectors and device == "cpu" else None
    if peer not in ("none", "mediapipe"):
        raise EdgemarkError(f"--peer must be mediapipe or none, not {peer!r}")
    peers = {"mediapipe:cuhk5": load_test_crops(data, "mediapipe:cuhk5", accuracy_faces)} if peer == "mediapipe" else None
    out = out or default_out_dir(device.replace(":", ""))
    console.print(f"results folder: {escape(str(out))}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("bench", total=None)
        results = run_bench(model, device, threads_list, batches, out, targets, precisions, test_crops, warmup, min_runs, min_seconds,
                            pin, "edgemark " + shlex.join(sys.argv[1:]),
                            progress=lambda label, i, n: bar.update(task, description=label, completed=i, total=n),
                            frame=frame, detectors=detectors, refine=refine, peers=peers, amx=amx, rounds=rounds,
                            cores=parse_cores(cores) if cores else None, worker_timeout=worker_timeout, tta=_tta(tta))
    if device == "cpu" and ((jitter_faces > 0 and test_crops is not None) or jitter_clip is not None):  # measured here, on this CPU
        _jitter(results, out, find_artifacts(model, targets, precisions), data,
                min(jitter_faces, accuracy_faces or jitter_faces) if test_crops is not None else 0, jitter_clip)
    if device == "cpu":  # an --nme-budget artifact's drop, again, on the validation faces its budget was set on
        _budget_checks(results, out, find_artifacts(model, targets, precisions), data)
    written = write_outputs(results, out)
    written.append(_html_report(results, out))
    table = Table(title=escape(f"{model} on {results['machine']['cpu']} ({device})"))
    table.add_column("artifact", no_wrap=True)
    for col in ("thr", "batch", "p50 ms", "p90 ms", "p99 ms", "img/s", "+RSS MiB", "KiB", "NME %", "drop pp", "jitter %"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results["rows"]:
        nme = f"{r['nme'] * 100:.2f}" if r.get("nme") is not None else "n/a"
        drop = f"{r['nme_drop_pp']:+.2f}" if r.get("nme_drop_pp") is not None else "n/a"
        table.add_row(escape(r["artifact"]), str(r["threads"]), str(r["batch"]), f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}",
                      f"{r['throughput_ips']:.0f}", f"{r['rss_increase_mib']:.0f}", f"{r['size_bytes'] / 1024:.0f}", nme, drop,
                      f"{r['jitter_iod'] * 100:.2f}" if r.get("jitter_iod") is not None else "n/a")
    console.print(table)
    if results.get("pipeline_rows"):
        ptable = Table(title=f"pipeline per {results['pipeline_settings']['frame']} frame: detection on every frame, or tracked "
                             "(the crop from the last frame's landmarks, no detector)")
        for col in ("detector", "artifact", "thr", "faces", "p50 ms", "p90 ms", "p99 ms", "frames/s"):
            ptable.add_column(col, justify="right" if col not in ("detector", "artifact") else "left", no_wrap=True)
        for r in results["pipeline_rows"]:
            ptable.add_row(escape(r["detector"] + (", tracked" if r.get("tracked") else "")), escape(r.get("artifact") or "(alone)"), str(r["threads"]), str(r["faces_found"]), f"{r['p50_ms']:.3f}",
                           f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}", f"{r['throughput_ips']:.0f}")
        console.print(ptable)
        from ..bench.report import peer_pipeline_sentences

        for line in peer_pipeline_sentences(results):
            console.print(escape(line.replace("**", "")), soft_wrap=True)
    for s in results["skipped"]:
        console.print(f"[yellow]not measured[/] {escape(s['artifact'])} threads={s['threads']} batch={s['batch']}: {escape(s['reason'])}")
    if results.get("gpu_rows"):  # --device gpu: torch's CUDA variants over the batch sweep (bench/gpu.py wrote gpu.md)
        console.print((Path(out) / "gpu.md").read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print("wrote " + escape(", ".join(str(p) for p in written)))
    if not results["rows"]:
        raise EdgemarkError("nothing could be measured" + (f" on {device}" if device != "cpu" else ""))
    if old is not None:
        _gate(results, out / "results.json", old, baseline, (max_slowdown, max_drop), out)


def _check_some_artifact(model: Path, artifacts: list[Path], target: str, precision: str) -> None:
    """Refuse a run that would measure only the torch baseline: nothing matched --target/--precision."""
    if any(a.name != "torch-fp32" for a in artifacts):
        return
    here = sorted(p.parent.name for p in Path(model).glob("*/manifest.json"))
    raise EdgemarkError(f"{model}: no artifact matches --target {target} --precision {precision} (here: {', '.join(here) or 'none'}); "
                        f"build it with: edgemark export --checkpoint {model}/torch-fp32/model.pt --target {target} --precision {precision}")


def _device_options(s: BenchSettings, where: str) -> dict:
    """The options every device gets (--device ssh://, --devices), checked here, before deploying."""
    from ..bench.run import parse_cores
    from ..detect import DETECTORS, NEED_INT8_BUILD

    if s.peer != "none":  # the bundle carries no MediaPipe: a peer is measured on this machine only
        raise EdgemarkError(f"--peer {s.peer} is measured on this machine only (the device bundle has no MediaPipe); "
                            f"run it without {where}")
    # yunet and the int8 BlazeFace builds need model files the bundle does not carry
    detectors = [] if s.detector == "none" else choices(s.detector, tuple(d for d in DETECTORS if d not in ("yunet", *NEED_INT8_BUILD)),
                                                        "--detector")
    return {"pin": s.pin, "cores": parse_cores(s.cores) if s.cores else None, "detectors": detectors, "refine": s.refine,
            "worker_timeout": s.worker_timeout, "tta": _tta(s.tta)}


def _tta(value: str) -> tuple:
    """--tta as the bench's extra row kinds: () or ("flip",)."""
    from ..predictors.flip import TTA_CHOICES

    if value not in TTA_CHOICES:
        raise EdgemarkError(f"--tta must be one of {', '.join(TTA_CHOICES)}, not {value!r}")
    return () if value == "none" else (value,)


def _bench_ssh(model: Path, device: str, settings: BenchSettings, ssh_options: SshOptions):
    from datetime import datetime

    from ..bench.accuracy import reference_accuracy
    from ..bench.report import write_outputs
    from ..bench.run import find_artifacts, fresh_dir
    from ..export.pipeline import PRECISIONS, TARGETS
    from ..io import write_json_atomic
    from ..remote.deploy import deploy as run_deploy
    from ..remote.bundle import TORCH_RUNTIMES, device_artifacts
    from ..remote.deploy import remote_bench

    s, o = settings, ssh_options
    ssh = ssh_target(device, o.port, o.identity, o.ssh_config)
    options = _device_options(s, "--device ssh://")
    every = find_artifacts(model, choices(s.target, TARGETS, "--target"), choices(s.precision, PRECISIONS, "--precision"))
    artifacts, left_out = device_artifacts(every, s.target)
    if left_out:
        console.print(f"[yellow]not deployed:[/] {escape(', '.join(a.name for a in left_out))}: {', '.join(TORCH_RUNTIMES)}'s Python "
                      "runtime brings torch into the device venv; name it in --target to opt in (e.g. --target ncnn,executorch)")
    if not artifacts:
        raise EdgemarkError(f"{model}: no deployable artifact matches --target {s.target} --precision {s.precision}")
    crops = load_test_crops(s.data, artifacts[0], s.accuracy_faces or 200)
    frame = load_bench_frame(s.data) if crops is not None else None
    command = "edgemark " + shlex.join(sys.argv[1:])
    with console.status("deploying") as status:
        # torch is never deployed: the drops are against this machine's torch fp32 on the faces shipped
        status.update("torch fp32 accuracy here, the reference of the device's NME drops")
        reference = reference_accuracy(every, crops)
        deployed = run_deploy(ssh, artifacts, bundle_name(model), o.remote_dir, o.python, crops, on_step=lambda m: status.update(m),
                              frame=frame)
        status.update(f"benchmarking on {ssh.host}")
        results = remote_bench(ssh, deployed["bundle"], int_list(s.threads, "--threads"), int_list(s.batch, "--batch"), s.warmup,
                               s.min_runs, s.min_seconds, command, amx=s.amx, rounds=s.rounds, reference=reference, **options)
    # remote_bench has checked the results: 'started' is a date and time, so the folder name is a date
    safe_host = "".join(c if c.isalnum() or c in "-._" else "_" for c in ssh.host)
    day = datetime.fromisoformat(results["started"]).date().isoformat()
    out = s.out or fresh_dir(Path("benchmarks") / f"{safe_host}-ssh-{day}")
    console.print(f"results folder: {escape(str(out))}")
    write_json_atomic(out / "results.json", results)
    written = write_outputs(results, out, source=f"{out / 'results.json'} (from {ssh.host})")
    written.append(_html_report(results, out, source=f"{out / 'results.json'} (from {ssh.host})"))
    m = results["machine"]
    console.print(escape(f"{ssh.host}: {m.get('board') or m['cpu']} ({m['machine']}, {m.get('cores')} cores, "
                         f"{m.get('distribution') or m['os']})"))
    for r in results["rows"]:
        nme = f"{r['nme'] * 100:.2f}%" if r.get("nme") is not None else "n/a"
        drop = f" ({r['nme_drop_pp']:+.2f} pp)" if r.get("nme_drop_pp") is not None else ""
        console.print(escape(f"  {r['artifact']:<15} threads={r['threads']} batch={r['batch']}  p50 {r['p50_ms']:.3f} ms  "
                             f"p99 {r['p99_ms']:.3f} ms  +RSS {r['rss_increase_mib']:.0f} MiB  NME {nme}{drop}"))
    if results.get("accuracy_reference"):
        console.print(escape(f"NME drops against {results['accuracy_reference']['where']}"))
    for r in results.get("pipeline_rows") or []:
        console.print(escape(f"  pipeline {r['detector']} + {r.get('artifact') or '(detector alone)'} threads={r['threads']}: "
                             f"p50 {r['p50_ms']:.3f} ms per {r.get('frame') or 'frame'} frame, {r['faces_found']} face(s)"))
    console.print("wrote " + escape(", ".join(str(p) for p in written)))


def _bench_fleet(model: Path, devices_file: Path, settings: BenchSettings):
    from datetime import date

    from ..bench.accuracy import reference_accuracy
    from ..bench.fleet import load_devices, run_fleet
    from ..bench.run import find_artifacts, fresh_dir
    from ..export.pipeline import PRECISIONS, TARGETS

    s = settings
    fleet = load_devices(devices_file)
    options = _device_options(s, "--devices")
    targets, precisions = choices(s.target, TARGETS, "--target"), choices(s.precision, PRECISIONS, "--precision")
    artifacts = find_artifacts(model, targets, precisions)
    deployable = [a for a in artifacts if a.name != "torch-fp32"]
    crops = load_test_crops(s.data, deployable[0] if deployable else artifacts[0], s.accuracy_faces or 200)
    frame = load_bench_frame(s.data) if crops is not None and options["detectors"] else None
    out = s.out or fresh_dir(Path("benchmarks") / f"fleet-{date.today().isoformat()}")
    run_settings = {"threads": int_list(s.threads, "--threads"), "batches": int_list(s.batch, "--batch"), "targets": targets,
                    "precisions": precisions, "warmup": s.warmup, "min_runs": s.min_runs, "min_seconds": s.min_seconds,
                    "amx": s.amx, "rounds": s.rounds, **options, "frame": frame,
                    "reference": reference_accuracy(artifacts, crops),  # for the devices: torch is never deployed
                    "command": "edgemark " + shlex.join(sys.argv[1:]), "bundle": bundle_name(model), "target": s.target}
    console.print(f"results folder: {escape(str(out))}")
    console.print(f"benchmarking {len(fleet)} devices at once: {escape(', '.join(d.name for d in fleet))}")

    def landed(name, error):
        if error:
            console.print(f"[red]{escape(name)}: failed[/] {escape(error)}")
        else:
            console.print(f"[green]{escape(name)}: done[/] -> {escape(str(out / name))}/results.md")

    result = run_fleet(fleet, model, artifacts, run_settings, crops, out, on_done=landed)
    console.print(result["table"], markup=False, highlight=False)
    console.print(f"wrote {escape(str(out))}/fleet.md and {escape(str(out))}/fleet.json")
    if not result["results"]:
        raise EdgemarkError("no device could be benchmarked")
    if result["errors"]:
        raise EdgemarkError(f"{len(result['errors'])} of {len(fleet)} devices failed: {', '.join(sorted(result['errors']))} "
                            f"(the others' results are in {out}; see fleet.md)")


def _jitter(results: dict, out: Path, artifacts: list[Path], data: Optional[Path], faces: int, clip: Optional[Path]) -> None:
    """Jitter of every artifact on still clips of the first ``faces`` test faces and on the video ``clip``
    (edgemark/bench/jitter.py), into results.json."""
    from ..bench.jitter import add_clip_jitter, add_jitter
    from ..data.lists import read_list
    from ..io import write_json_atomic
    from .common import resolve_data

    with console.status("jitter") as status:
        update = lambda label, i, n: status.update(f"{label} ({i + 1}/{n})")  # noqa: E731
        if faces:
            test = read_list(resolve_data(data) / "testImageList.txt")
            test.records = test.records[:faces]
            add_jitter(results, artifacts, test, progress=update)
        if clip is not None:
            add_clip_jitter(results, artifacts, clip, progress=update)
    write_json_atomic(out / "results.json", results)
    for r in dict((r["artifact"], r) for r in results["rows"] if "peer" not in r).values():
        line = f"EAR jitter {r['artifact']}: {r['ear_jitter']:.4f} ({r['ear_jitter_relative'] * 100:.1f} % of the EAR)" \
            if r.get("ear_jitter") is not None else ""
        if r.get("clip_jitter_iod") is not None:
            line += ("; " if line else f"{r['artifact']}: ") + f"still clip {r['clip_jitter_iod'] * 100:.2f} % IOD" + (
                f", EAR {r['clip_ear_jitter']:.4f}" if r.get("clip_ear_jitter") is not None else "")
        if line:
            console.print(escape(line))


def _budget_checks(results: dict, out: Path, artifacts: list[Path], data: Optional[Path]) -> None:
    from ..bench.budget_check import add_budget_checks, budget_artifacts
    from ..io import write_json_atomic
    from .common import resolve_data

    if not budget_artifacts(artifacts):
        return
    try:
        data_dir = resolve_data(data)
    except EdgemarkError:
        data_dir = None
    with console.status("budget check") as status:
        add_budget_checks(results, artifacts, data_dir, progress=lambda label, i, n: status.update(f"{label} ({i + 1}/{n})"))
    write_json_atomic(out / "results.json", results)
    for c in results["budget_checks"]:
        if c.get("drop_pp") is None:
            console.print(f"[yellow]budget not checked[/] {escape(c['artifact'])}: {escape(c['not_checked'])}")
            continue
        verdict = "[green]within[/]" if c["within"] else "[red]over[/]"
        test = f"; test list {c['test_drop_pp']:+.3f} pp" if c.get("test_drop_pp") is not None else ""
        console.print(f"budget {escape(c['artifact'])}: validation drop {c['drop_pp']:+.3f} pp ({c['faces']} faces) {verdict} "
                      f"--nme-budget {c['budget_pp']}{test}")


def _load_baseline(baseline: Optional[Path], on_devices: bool) -> Optional[dict]:
    """The --baseline results, read and checked before anything is measured."""
    if baseline is None:
        return None
    if on_devices:
        raise EdgemarkError("--baseline gates a run on this machine; for --device ssh:// or --devices, gate each device's "
                            "results afterwards: edgemark bench gate RESULTS --baseline OLD")
    from ..bench.baseline import check_this_machine
    from ..bench.report import load_results
    from ..environment import machine_summary

    old = load_results(baseline)
    check_this_machine(old, machine_summary(), _json_path(baseline))
    return old


def _gate(results: dict, source: Path, old: dict, old_source: Path, limits: tuple[float, float], out: Path) -> None:
    """Print the regressions against ``old`` (--max-slowdown %, --max-drop pp), write gate.json/gate.md into ``out``; exit 1 on one."""
    from ..bench.baseline import compare_to_baseline, gate_table, write_gate

    gate = compare_to_baseline(results, old, limits[0] / 100, limits[1], source, _json_path(old_source))
    written = ", ".join(map(str, write_gate(gate, out)))
    if gate["new_rows"]:
        console.print(escape("not in the baseline (not gated): " + ", ".join(gate["new_rows"])))
    if gate["regressions"]:
        console.print(gate_table(gate))
    console.print(escape(f"wrote {written}"))
    if gate["regressions"]:
        console.print(f"[bold red]{len(gate['regressions'])} regression(s)[/] in {len(gate['rows'])} baseline row(s)")
        raise typer.Exit(1)
    console.print(f"[green]no regression[/] against {escape(str(_json_path(old_source)))}: {len(gate['rows'])} row(s) within "
                  f"{limits[0]:g} % + noise and {limits[1]:g} pp")


def _html_report(results: dict, out: Path, source=None) -> Path:
    """results.html beside results.md: one self-contained page (edgemark/bench/html_report.py)."""
    from ..bench.html_report import write_html_report

    return write_html_report(results, out, source=source)


def _warn_incomplete(results: dict, path: Path, side: str = "") -> None:
    from ..bench.report import incomplete

    if incomplete(results):
        console.print(f"[yellow]warning:[/] {side}{escape(str(_json_path(path)))} is incomplete: the run was interrupted before "
                      "every measurement was taken (no finish time)", soft_wrap=True)


def _json_path(path: Path) -> Path:
    return path / "results.json" if path.is_dir() else path


@bench_app.command("report")
def bench_report(results: Path = typer.Argument(..., help="A result folder (or its results.json).")):
    """Write results.csv, results.md, the plots and results.html again from a results.json."""
    from ..bench.report import load_results, write_outputs

    folder = results if results.is_dir() else results.parent
    loaded = load_results(results)
    _warn_incomplete(loaded, results)
    for path in write_outputs(loaded, folder, source=_json_path(results)) + [_html_report(loaded, folder, source=_json_path(results))]:
        console.print(f"wrote {escape(str(path))}")


@bench_app.command("gate")
def bench_gate(results: Path = typer.Argument(..., help="The new run (folder or results.json)."),
               baseline: Path = typer.Option(..., help="The older run to gate against (folder or results.json), same machine."),
               max_slowdown: float = typer.Option(10.0, help="Allowed slowdown in percent of the baseline's p50, beyond the noise."),
               max_drop: float = typer.Option(0.1, help="Allowed growth of a row's NME drop, in percentage points.")):
    """Regression gate on two finished runs: exit 1 when a row is slower than the baseline by more than the noise
    plus --max-slowdown, its NME drop grew by more than --max-drop, or it was not measured. Writes gate.md beside RESULTS."""
    from ..bench.report import load_results

    new, old = load_results(results), load_results(baseline)
    _gate(new, _json_path(results), old, baseline, (max_slowdown, max_drop), results if results.is_dir() else results.parent)


@bench_app.command("compare")
def bench_compare(a: Path = typer.Argument(..., help="Results A (folder or results.json)."),
                  b: Path = typer.Argument(..., help="Results B (folder or results.json).")):
    """Side by side: B's p50 latency over A's, per artifact, threads and batch."""
    from rich.table import Table

    from ..bench.report import accuracy_subset, compare, load_results

    ra, rb = load_results(a), load_results(b)
    rows = compare(ra, rb)
    if not rows:
        raise EdgemarkError(f"{a} and {b} share no (artifact, threads, batch) measurement")
    table = Table(title=escape(f"A = {a} ({ra['machine']['cpu']})  vs  B = {b} ({rb['machine']['cpu']})"))
    table.add_column("artifact", overflow="fold")  # long names fold: the ratio column must stay whole on an 80-column terminal
    for col in ("thr", "batch", "A p50 ms", "B p50 ms", "B/A", "A NME %", "B NME %"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(escape(r["artifact"]), str(r["threads"]), str(r["batch"]), f"{r['a_p50_ms']:.3f}", f"{r['b_p50_ms']:.3f}", f"{r['ratio']:.2f}x",
                      f"{r['a_nme'] * 100:.2f}" if r["a_nme"] is not None else "n/a", f"{r['b_nme'] * 100:.2f}" if r["b_nme"] is not None else "n/a")
    console.print(table)
    subset_a, subset_b = accuracy_subset(ra), accuracy_subset(rb)
    console.print(escape(f"A NME on {subset_a}"))
    console.print(escape(f"B NME on {subset_b}"))
    if subset_a != subset_b and any(r["a_nme"] is not None and r["b_nme"] is not None for r in rows):
        console.print(f"[yellow]warning:[/] A's and B's NME are over different test faces ({escape(subset_a)} vs "
                      f"{escape(subset_b)}): not comparable; benchmark both with the same --data and --accuracy-faces", soft_wrap=True)
    _warn_incomplete(ra, a, "A = ")
    _warn_incomplete(rb, b, "B = ")


@bench_app.command("pareto")
def bench_pareto(
    results: list[str] = typer.Argument(..., help="Result folders (or results.json), one per model; NAME=PATH names a model."),
    out: Path = typer.Option(..., help="Plot file (.png); the table goes beside it as .md."),
    threads: int = typer.Option(1, help="Thread count to compare at."),
    batch: int = typer.Option(1, help="Batch size to compare at."),
    target: str = typer.Option("all", help="Runtimes to include: onnx, openvino, tflite, ncnn, executorch, torch, a comma list, or all."),
):
    """One Pareto plot of NME vs latency across several models' benchmark results."""
    from ..bench.report import load_results, merge_for_pareto, models_pareto_markdown, plot_models_pareto
    from ..io import write_text_atomic

    named = []
    for item in results:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        path = Path(path)
        named.append((name or (path.parent.name if path.suffix == ".json" else path.name), load_results(path)))
    formats = None if target == "all" else {t.strip() for t in target.split(",")}
    rows = merge_for_pareto(named, threads, batch, formats)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_models_pareto(rows, out, f"NME vs latency, {threads} thread(s), batch {batch}, {rows[0]['machine']}")
    write_text_atomic(out.with_suffix(".md"), models_pareto_markdown(rows, threads, batch, results, "edgemark " + shlex.join(sys.argv[1:])))
    for r in sorted((r for r in rows if r["on_front"]), key=lambda r: r["p50_ms"]):
        console.print(f"front: {escape(r['label'])}  p50 {r['p50_ms']:.3f} ms  NME {r['nme'] * 100:.2f} %")
    console.print(escape(f"wrote {out} and {out.with_suffix('.md')}"))
