"""Run a benchmark over an export folder: every artifact x threads x batch, each in a
fresh subprocess, results saved (atomically, after every measurement) as JSON, CSV,
Markdown and plots."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from .. import x86_amx
from ..environment import machine_summary, throttle_state
from ..errors import EdgemarkError
from ..export.manifest import library_versions, read_manifest
from ..io import write_json_atomic
from ..devices import parse_device
from .gpu import gpu_unavailable_reason, torch_cuda_suite

PEER_DETECTOR = "blazeface"  # MediaPipe's own face detector (its pipeline's first step)
FORMAT_ORDER = {"torch": 0, "onnx": 1, "openvino": 2, "tflite": 3, "ncnn": 4, "executorch": 5}
PRECISION_ORDER = {"fp32": 0, "fp16": 1, "int8": 2}


def find_artifacts(model_dir: Path, targets: list[str] | None, precisions: list[str] | None) -> list[Path]:
    """Artifact folders (with a manifest) of an export folder, or the folder itself."""
    model_dir = Path(model_dir)
    if (model_dir / "manifest.json").exists():
        return [model_dir]
    folders = [p.parent for p in model_dir.glob("*/manifest.json") if not p.parent.name.startswith(".")]
    if not folders:
        raise EdgemarkError(f"{model_dir}: no exported artifacts (folders with manifest.json); run edgemark export first")
    chosen, sources = [], {}
    for folder in folders:
        _, m = read_manifest(folder, verify=False)
        if m["format"] == "torch" or ((targets is None or m["format"] in targets) and (precisions is None or m["precision"] in precisions)):
            chosen.append((FORMAT_ORDER.get(m["format"], 9), PRECISION_ORDER.get(m["precision"], 9), folder))
            sources.setdefault((m.get("source_checkpoint") or {}).get("sha256"), []).append(folder.name)
    if len(sources) > 1:  # drops against torch fp32 and "fastest at equal accuracy" would compare two models
        groups = "; ".join(f"{', '.join(names)} from {str(sha)[:12]}..." for sha, names in sources.items())
        raise EdgemarkError(f"{model_dir}: artifacts of different checkpoints ({groups}); benchmark each export folder on its own")
    return [folder for _, _, folder in sorted(chosen)]


# what a run writes in its folder (report.write_outputs writes all but results.json)
OUTPUT_FILES = ("results.json", "results.csv", "results.md", "pipeline.csv", "latency.png")
OUTPUT_GLOBS = ("pareto_threads*.png",)


def default_out_dir(device: str) -> Path:
    """A new folder ``benchmarks/HOST-DEVICE-DATE`` (``-2``, ``-3``, ... when taken)."""
    return fresh_dir(Path("benchmarks") / f"{socket.gethostname()}-{device}-{date.today().isoformat()}")


def fresh_dir(base: Path) -> Path:
    """Create and return ``base``, or ``base-2``, ``base-3``, ... the first that does not
    exist yet: a second run the same day never writes into an earlier run's folder."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10000):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise EdgemarkError(f"{base.parent}: no free folder name for {base.name}-N; pass --out")


def remove_old_outputs(out_dir: Path) -> None:
    """Delete what an earlier run wrote in ``out_dir`` (only the files a run writes), so
    no old table or plot stays beside new results, even if this run is interrupted."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return
    old = [out_dir / name for name in OUTPUT_FILES] + [p for g in OUTPUT_GLOBS for p in out_dir.glob(g)]
    for path in old:
        if path.is_file() or path.is_symlink():
            path.unlink()


TEMP_PREFIX = "edgemark-bench-"


def temp_dir() -> tempfile.TemporaryDirectory:
    """The run's scratch folder, named with this process id, after removing those of runs
    killed outright (SIGKILL, out of memory) whose process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or not a pid at all: leave it
        return True
    return True


class BenchInterrupted(EdgemarkError):
    """The run was stopped by a signal; what was measured so far is saved, marked incomplete."""


@contextmanager
def _signals_raise(out_dir: Path):
    """In the main thread, SIGTERM, SIGHUP and SIGINT raise BenchInterrupted, so every
    ``with`` block unwinds: the running worker is killed and the temporary folder removed.
    (Other threads cannot set handlers; their caller's signals apply.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    fired = []

    def stop(signum, frame):
        if fired:  # a second signal while unwinding: let the cleanup finish
            return
        fired.append(signum)
        raise BenchInterrupted(f"interrupted by {signal.Signals(signum).name}; what was measured is in "
                               f"{Path(out_dir) / 'results.json'}, marked incomplete")

    names = [n for n in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, n)]
    previous = {n: signal.signal(getattr(signal, n), stop) for n in names}
    try:
        yield
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)


WORKER_TIMEOUT_S = 900.0  # one measurement (load, warm-up, timed calls, accuracy) in its worker process


@dataclass(frozen=True)
class RunSettings:
    """How a run measures, shared by every row kind. ``pin``: each worker pinned to as many
    cores as it has threads, taken in order from ``cores`` (default: the cores this process
    may use, lowest-numbered first; on big.LITTLE boards name the big ones, e.g. 4-7).
    ``worker_timeout``: seconds one measurement may take before its worker is killed and the
    row recorded as not measured. ``reference``: the accuracy every NME drop is taken
    against when no torch-fp32 row is measured here (a device: see bench/accuracy.py)."""

    device: str = "cpu"
    threads: tuple = (1,)
    batches: tuple = (1,)
    targets: list | None = None
    precisions: list | None = None
    warmup: int = 20
    min_runs: int = 200
    min_seconds: float = 2.0
    pin: bool = True
    cores: tuple | None = None
    amx: bool = True
    rounds: int = 1
    worker_timeout: float = WORKER_TIMEOUT_S
    command: str = ""
    detectors: tuple = ()
    refine: int | None = None
    peers: dict | None = None
    reference: dict | None = None
    tta: tuple = ()  # ("flip",): each artifact also measured flip-averaged, as a row of its own (ARTIFACT+flip)


def run_bench(model_dir: Path, device: str, threads: list[int], batches: list[int], out_dir: Path, targets=None, precisions=None,
              test_crops: tuple | None = None, warmup: int = 20, min_runs: int = 200, min_seconds: float = 2.0,
              pin: bool = True, command: str = "", progress=None, frame: np.ndarray | None = None,
              detectors: list[str] = (), refine: int | None = None, peers: dict | None = None, amx: bool = True,
              rounds: int = 1, cores: list[int] | None = None, worker_timeout: float = WORKER_TIMEOUT_S,
              reference: dict | None = None, tta: tuple = ()) -> dict:
    """Landmark models per face crop (every artifact x threads x batch) and, given a
    ``frame`` and ``detectors``, the pipeline per frame: each detector alone, and detector
    + landmarks + ``refine`` passes with each artifact (batch 1). ``peers``: another
    project's model by its ``load_predictor`` name (``mediapipe:cuhk5``) -> its own test
    crops (or None), measured the same way in the same run, batch 1. ``amx=False``: every
    worker refuses itself Intel AMX before loading (``edgemark.x86_amx``), so XNNPACK runs
    int8 on AVX-512 VNNI kernels instead; on a CPU without AMX (an ARM board in a fleet)
    there is nothing to refuse and the results say so. ``rounds`` > 1: the whole list is measured that
    many times in turn, so a machine that drifts (a shared VM) slows every row alike; each
    row is its round with the median p50, every round's p50 beside it. The rest: RunSettings."""
    settings = RunSettings(device, tuple(threads), tuple(batches), targets, precisions, warmup, min_runs, min_seconds, pin,
                           tuple(cores) if cores else None, amx, rounds, worker_timeout, command, tuple(detectors), refine, peers,
                           reference, tuple(tta))
    return bench(model_dir, out_dir, settings, test_crops, frame, progress)


def bench(model_dir: Path, out_dir: Path, s: RunSettings, test_crops: tuple | None = None, frame: np.ndarray | None = None,
          progress=None) -> dict:
    """run_bench with its settings gathered: the crop rows, then (on a GPU) torch's CUDA
    variants, then the pipeline rows; results.json rewritten whole after every measurement."""
    check_settings(s)
    artifacts = find_artifacts(model_dir, s.targets, s.precisions)
    out_dir = Path(out_dir)
    results = _new_results(s, test_crops)
    jobs = [(a, t, b, tta) for a in artifacts for tta in (None, *s.tta) for t in s.threads for b in s.batches]
    jobs += [(peer, t, 1, None) for peer in (s.peers or {}) for t in s.threads]
    pipeline_jobs = [(d, a, t, False) for d in (s.detectors if frame is not None else ()) for a in [None, *artifacts] for t in s.threads]
    # a tracked frame per artifact (what a video user pays between detections), seeded by the first detector
    pipeline_jobs += [(s.detectors[0], a, t, True) for a in artifacts for t in s.threads if frame is not None and s.detectors]
    # a peer's own pipeline on the same frame (MediaPipe's: its BlazeFace, the float short-range file, + its face landmark
    # model), detection on every frame and tracked, so "our whole frame against theirs" is one ratio of one run
    # (report.peer_pipeline_ratios)
    pipeline_jobs += [(PEER_DETECTOR, _PeerName(peer), t, tracked) for peer in (s.peers or {}) for tracked in (False, True)
                      for t in s.threads if frame is not None and s.detectors]
    if pipeline_jobs:
        results["pipeline_rows"] = []
        results["pipeline_settings"] = {"frame": f"{frame.shape[1]}x{frame.shape[0]}",
                                        "refine": "each detector's default" if s.refine is None else s.refine,
                                        "latency": "per frame: detector alone, or detect + crop + landmarks + refinement "
                                                   "for every face found (the pipeline's __call__)"}
    remove_old_outputs(out_dir)
    with _signals_raise(out_dir), temp_dir() as tmp:
        run = _Run(s, results, out_dir, Path(tmp), not s.amx and x86_amx.refusable(), len(jobs) + len(pipeline_jobs), progress)
        _crop_rows(run, jobs, test_crops)
        if parse_device(s.device).is_gpu:  # torch's CUDA variants (fp16, channels_last, CUDA graph) over a batch sweep: bench/gpu.py
            torch_cuda_suite(results, artifacts, s.device, list(s.batches), run.tmp, s.warmup, s.min_runs, s.min_seconds,
                             test_crops[0] if test_crops else None, out_dir)
            run.save()
        _pipeline_rows(run, pipeline_jobs, frame, len(jobs))
    results["throttle_after"] = throttle_state()
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _attach_accuracy(results, run.accuracy, s.reference)
    write_json_atomic(out_dir / "results.json", results)
    return results


def parse_cores(text: str) -> list[int]:
    """``4-7``, ``0,2,4-5``: core numbers in the order given, each once."""
    cores: list[int] = []
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()) or len(part) > 20:
            raise EdgemarkError(f"--cores {text!r}: expected core numbers such as 4-7 or 0,2,4-5")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise EdgemarkError(f"--cores {text!r}: the range {part.strip()} runs backwards")
        cores += [c for c in range(first, last + 1) if c not in cores]
    return cores


def available_cores() -> list[int] | None:
    """The cores this process may run on, lowest-numbered first (None where the OS cannot pin)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def check_settings(s: RunSettings) -> None:
    if s.rounds < 1:
        raise EdgemarkError(f"--rounds must be 1 or more, not {s.rounds}")
    if not s.worker_timeout or s.worker_timeout <= 0:
        raise EdgemarkError(f"the worker timeout must be a positive number of seconds, not {s.worker_timeout}")
    if s.cores:
        if not s.pin:
            raise EdgemarkError("--cores names the cores to pin to; it cannot go with --no-pin")
        here = available_cores()
        if here is None:
            raise EdgemarkError("--cores: this system cannot pin a process to cores")
        missing = [c for c in s.cores if c not in here]
        if missing:
            raise EdgemarkError(f"--cores {','.join(map(str, s.cores))}: core {missing[0]} is not available here "
                                f"(this process may use cores {_core_list(here)})")


def _core_list(cores) -> str:
    """0-3,6 for [0, 1, 2, 3, 6]."""
    cores, spans = list(cores), []
    for c in cores:
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _new_results(s: RunSettings, test_crops) -> dict:
    return {"command": s.command, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": s.device,
            "machine": machine_summary(), "throttle_before": throttle_state(),
            "versions": library_versions("torch", "onnxruntime", "openvino", "ai-edge-litert", "ncnn", "executorch", "numpy", "opencv-python",
                                         "opencv-python-headless"),
            "settings": {"warmup": s.warmup, "min_runs": s.min_runs, "min_seconds": s.min_seconds, "threads": list(s.threads),
                         "batch": list(s.batches), "pinned": s.pin, "cores": list(s.cores) if s.cores else None,
                         "cores_available": available_cores(), "amx": _amx_setting(s.amx), "rounds": s.rounds,
                         "worker_timeout_s": s.worker_timeout,
                         "latency": "per image = per call / batch; a call is predict_crops(uint8 crops): normalise "
                                    "+ inference; the crops are the test faces (repeated when fewer than the batch), else random"},
            "accuracy_list": test_crops[3] if test_crops else None, "rows": [], "skipped": []}


@dataclass
class _Run:
    """One run's state as its rows are measured: the settings, the results so far (saved
    whole after every measurement), the scratch folder, accuracy measured per artifact."""

    s: RunSettings
    results: dict
    out_dir: Path
    tmp: Path
    deny_amx: bool
    total: int
    progress: object = None
    accuracy: dict = field(default_factory=dict)

    def step(self, label: str, done: int) -> None:
        if self.progress:
            self.progress(label, done, self.s.rounds * self.total)

    def spec(self, n_threads: int, result: Path, device: str) -> dict:
        s = self.s
        return {"threads": n_threads, "device": device, "pin": s.pin, "cores": list(s.cores) if s.cores else None,
                "deny_amx": self.deny_amx, "warmup": s.warmup, "min_runs": s.min_runs, "min_seconds": s.min_seconds,
                "result": str(result)}

    def measure(self, name: str, spec: dict) -> tuple[dict | None, str | None]:
        """Run one worker on ``spec``: (its row, None) or (None, why it failed)."""
        (self.tmp / f"{name}.json").write_text(json.dumps(spec))
        failure = _run_worker(self.tmp / f"{name}.json", spec["threads"], self.s.worker_timeout)
        if failure:
            return None, failure
        return json.loads(Path(spec["result"]).read_text()), None

    def save(self) -> None:
        write_json_atomic(self.out_dir / "results.json", self.results)


def _crop_rows(run: _Run, jobs: list, test_crops) -> None:
    """Every artifact (and peer) x threads x batch on face crops, ``rounds`` times in turn."""
    s, results, tmp = run.s, run.results, run.tmp
    accuracy_file = None
    if test_crops is not None:
        accuracy_file = tmp / "test_crops.npz"
        np.savez(accuracy_file, crops=test_crops[0], mats=test_crops[1], truth=test_crops[2])
    measured: dict[int, list[dict]] = {}  # job index -> its row of each round
    for round_index, i in ((r, i) for r in range(s.rounds) for i in range(len(jobs))):
        artifact, n_threads, batch, tta = jobs[i]
        if round_index and i not in measured:
            continue  # skipped or failed in the first round
        is_peer = isinstance(artifact, str)
        if is_peer:
            artifact, manifest, accuracy = _peer(artifact, (s.peers or {}).get(artifact), tmp)
        else:
            _, manifest = read_manifest(artifact, verify=False)
            accuracy = accuracy_file
        name = artifact.name + (f"+{tta}" if tta else "")
        label = f"{name} threads={n_threads} batch={batch}" + (f" round {round_index + 1}/{s.rounds}" if s.rounds > 1 else "")
        run.step(label, round_index * len(jobs) + i)
        reason = gpu_unavailable_reason(manifest["format"], s.device) if parse_device(s.device).is_gpu else None
        fixed = manifest["input"]["shape"][0]
        if reason is None and fixed not in (-1, None) and batch != fixed:
            reason = f"the artifact has a fixed batch of {fixed}"
        if reason:
            results["skipped"].append({"artifact": name, "threads": n_threads, "batch": batch, "reason": reason})
            continue
        spec = {"artifact": str(artifact), "batch": batch, "tta": tta, **run.spec(n_threads, tmp / f"r{i}.json", s.device),
                "crops": str(tmp / "bench_crops.npy") if test_crops is not None else None,
                "accuracy_crops": str(accuracy) if accuracy and name not in run.accuracy else None}
        if is_peer:
            spec["artifact"] = artifact.load_name
            spec["crops"] = str(accuracy.with_suffix(".npy")) if accuracy else None
        if test_crops is not None and not (tmp / "bench_crops.npy").exists():
            np.save(tmp / "bench_crops.npy", test_crops[0][: max(s.batches)])
        row, failure = run.measure(f"s{i}", spec)
        if failure:
            results["skipped"].append({"artifact": name, "threads": n_threads, "batch": batch,
                                       "reason": failure + (f" (round {round_index + 1})" if s.rounds > 1 else "")})
            run.save()
            continue
        if "accuracy" in row:
            run.accuracy[name] = row.pop("accuracy")
        row.update(artifact=name, format=manifest["format"], precision=manifest["precision"],
                   size_bytes=sum(f["bytes"] for f in manifest["files"].values()))
        if tta:
            row["tta"] = tta
        if is_peer:
            row["peer"] = manifest["source"]
        measured.setdefault(i, []).append(row)
        results["rows"] = [median_round(measured[k]) for k in sorted(measured)]
        _attach_accuracy(results, run.accuracy, s.reference)
        run.save()


def _pipeline_rows(run: _Run, pipeline_jobs: list, frame, before: int) -> None:
    """Each detector alone and with each artifact, per frame, batch 1, ``rounds`` times in turn."""
    s, results, tmp = run.s, run.results, run.tmp
    if not pipeline_jobs:
        return
    np.save(tmp / "frame.npy", frame)
    measured: dict[int, list[dict]] = {}
    for round_index, i in ((r, i) for r in range(s.rounds) for i in range(len(pipeline_jobs))):
        detector, artifact, n_threads, tracked = pipeline_jobs[i]
        if round_index and i not in measured:
            continue  # failed in the first round
        label = f"{detector} + {artifact.name if artifact else '(detector alone)'}{' tracked' if tracked else ''} threads={n_threads}"
        label += f" round {round_index + 1}/{s.rounds}" if s.rounds > 1 else ""
        run.step(label, s.rounds * before + round_index * len(pipeline_jobs) + i)
        spec = {"artifact": str(artifact) if artifact else None, **run.spec(n_threads, tmp / f"pr{i}.json", "cpu"),
                "pipeline": {"detector": detector, "frame": str(tmp / "frame.npy"), "refine": s.refine, "tracked": tracked}}
        row, failure = run.measure(f"ps{i}", spec)
        if failure:
            results["skipped"].append({"artifact": f"{detector} + {artifact.name if artifact else '-'}{' tracked' if tracked else ''}",
                                       "threads": n_threads,
                                       "batch": 1, "reason": failure})
            run.save()
            continue
        row["artifact"] = artifact.name if artifact else None
        if isinstance(artifact, _PeerName):
            row["peer"] = row.get("provider") or artifact.load_name
        measured.setdefault(i, []).append(row)
        results["pipeline_rows"] = [median_round(measured[k]) for k in sorted(measured)]
        run.save()


def median_round(rows: list[dict]) -> dict:
    """One measurement's row from its rounds: the round with the median p50 (the lower middle
    one for an even count), so every figure in it comes from the same run of the worker; with
    more than one round, every round's p50 too."""
    row = dict(sorted(rows, key=lambda r: r["p50_ms"])[(len(rows) - 1) // 2])
    if len(rows) > 1:
        row["p50_rounds_ms"] = [r["p50_ms"] for r in rows]
    return row


class _PeerName(str):
    """A peer's row name (``.name``, as an artifact folder's) and its load_predictor name."""

    @property
    def name(self) -> str:
        return "peer-" + self.load_name.replace(":", "-")

    @property
    def load_name(self) -> str:
        return str(self)


def _peer(name: str, test_crops, tmp: Path):
    """The peer as a job: its name, a manifest-like record, and its accuracy crops file."""
    import os

    from ..predictors.load import load_predictor

    predictor = load_predictor(name, threads=1)
    path = Path(getattr(predictor, "model_path"))
    manifest = {"format": predictor.manifest["format"], "precision": "fp32", "input": {"shape": [1]},
                "files": {path.name: {"bytes": os.path.getsize(path)}}, "source": predictor.description}
    accuracy = None
    if test_crops is not None:
        accuracy = tmp / f"peer_{name.replace(':', '_')}.npz"
        np.savez(accuracy, crops=test_crops[0], mats=test_crops[1], truth=test_crops[2])
        np.save(accuracy.with_suffix(".npy"), test_crops[0][:1])  # the timed crop
    return _PeerName(name), manifest, accuracy


def _amx_setting(amx: bool) -> str:
    """How Intel AMX stood for the workers, for the results and the report."""
    if not x86_amx.cpu_has_amx():
        return "not on this CPU"
    return "allowed (the runtimes may use it)" if amx else "denied to every worker (--no-amx)"


def _run_worker(spec_path: Path, n_threads: int, timeout: float = WORKER_TIMEOUT_S) -> str | None:
    """Run one measurement in a fresh process; the failure reason, or None. A worker past
    ``timeout`` seconds is killed and its row recorded as not measured: the run goes on."""
    env = {**os.environ, "OMP_NUM_THREADS": str(n_threads)}
    try:
        done = subprocess.run([sys.executable, "-m", "edgemark.bench.worker", str(spec_path)], capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run has killed the worker
        return f"timed out: the worker took more than {timeout:g} s and was stopped"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"failed: {tail[0]}"
    return None


def _attach_accuracy(results: dict, measured: dict, reference: dict | None = None) -> None:
    """Each row's accuracy, and its NME drop against torch fp32: measured in this run when a
    torch-fp32 row is here, else ``reference`` (a device: the host's, on the same faces)."""
    if "torch-fp32" in measured:
        reference = {"artifact": "torch-fp32", **measured["torch-fp32"], "accuracy_list": results.get("accuracy_list"),
                     "where": "torch fp32, measured in this run"}
    for row in results["rows"]:
        acc = measured.get(row["artifact"])
        if acc:
            row["nme"], row["failure_rate"], row["auc"] = acc["nme"], acc["failure_rate"], acc["auc"]
            row["nme_drop_pp"] = None
    attach_reference(results, reference)


def attach_reference(results: dict, reference: dict | None) -> None:
    """Record ``reference`` (an accuracy record: nme, faces, accuracy_list, where) and give
    every row with an NME its drop against it, in percentage points. A reference over other
    test faces than the rows' is not used (the drop would compare two face sets)."""
    if not reference or reference.get("nme") is None:
        return
    if reference.get("accuracy_list") != results.get("accuracy_list"):
        results["accuracy_reference_unused"] = (f"{reference.get('where')} is over {reference.get('accuracy_list')}, the rows over "
                                                f"{results.get('accuracy_list')}: no drop computed")
        return
    results["accuracy_reference"] = dict(reference)
    for row in results["rows"]:
        if row.get("nme") is not None:
            row["nme_drop_pp"] = (row["nme"] - reference["nme"]) * 100
