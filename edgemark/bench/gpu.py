"""GPU benchmarking: what GPU support each runtime has here (a runtime without a GPU path
is skipped with the reason: never a CPU run labelled GPU), and the torch rows a GPU user
compares, measured in one fresh process (``python -m edgemark.bench.gpu SPEC.json``):

- variants: eager fp32, eager fp16, each also channels_last, and a CUDA-graph replay of
  the fp16 channels_last model for a fixed batch (the fastest honest torch path at batch 1);
- every batch of the sweep (e.g. 1, 8, 64, 256, 1024), with throughput;
- a call is what a user's process does: uint8 crops in pinned host memory -> device
  (host-to-device copy), normalise + network there (compute), landmarks back to the host
  (device-to-host copy). ``p50_ms`` etc. are end to end, per image; ``h2d_ms``, ``compute_ms``
  and ``d2h_ms`` are each phase's median per call, timed apart with CUDA events (as trtexec
  reports H2D latency, GPU compute time and D2H latency);
- GPU memory per row: ``torch.cuda.max_memory_allocated`` (torch's own tensors) and the
  process's memory on the GPU from NVML (nvidia-ml-py, else nvidia-smi): the CUDA context
  and the libraries' workspaces too.

- onnxruntime's TensorRT provider on the ONNX artifacts where onnxruntime has it
  (``tensorrt_rows``; end to end like the CPU rows; in the same process after torch, so
  their process GPU memory includes torch's context). The CUDA provider's rows are the
  ordinary worker rows of ``edgemark bench --device gpu``.

``allow_cpu`` runs the same code on the CPU (host timers, no CUDA graph): the tests here
check the sweep's logic with it; its figures are not GPU figures and say so.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..devices import ORT_GPU_FIX, cuda_problem, parse_device


def gpu_unavailable_reason(fmt: str, device="gpu") -> str | None:
    dev = parse_device(device)
    if fmt == "torch":
        return cuda_problem(dev)
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed; " + ORT_GPU_FIX
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return (f"onnxruntime {ort.__version__} has no CUDAExecutionProvider here (available: "
                    + ", ".join(ort.get_available_providers()) + "); " + ORT_GPU_FIX)
        return None
    if fmt == "openvino":
        try:
            import openvino as ov
        except ImportError:
            return "openvino is not installed (pip install openvino); its GPU plugin is for Intel GPUs, not CUDA"
        devices = ov.Core().available_devices
        if dev.openvino not in devices:
            return (f"OpenVINO sees no {dev.openvino} plugin device (devices: {', '.join(devices)}); its GPU plugin needs an "
                    "Intel GPU and its compute runtime (it has no CUDA path)")
        return None
    if fmt == "tflite":
        return "the LiteRT runner here uses the CPU (XNNPACK); a GPU delegate is not part of ai-edge-litert's Python package"
    if fmt == "ncnn":
        return "the NCNN runner here uses the CPU; ncnn's Vulkan GPU path is not used by edgemark"
    if fmt == "executorch":
        return "the ExecuTorch runner here uses the CPU (XNNPACK delegate); its GPU delegates (Vulkan, CUDA) are not built into the pip wheel's runtime here"
    return f"unknown format {fmt}"


# (name, fp16, channels_last, cuda_graph)
VARIANTS = (("eager fp32", False, False, False), ("eager fp32 channels_last", False, True, False),
            ("eager fp16", True, False, False), ("eager fp16 channels_last", True, True, False),
            ("cuda-graph fp16 channels_last", True, True, True))


class _Clock:
    """Elapsed time between marks: CUDA events on a GPU (what the device did, in order on its
    stream), the host's clock on the CPU."""

    def __init__(self, torch, on_gpu: bool):
        self.torch, self.on_gpu = torch, on_gpu

    def mark(self):
        if not self.on_gpu:
            return time.perf_counter()
        event = self.torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def sync(self):
        if self.on_gpu:
            self.torch.cuda.synchronize()

    def ms(self, a, b) -> float:
        return a.elapsed_time(b) if self.on_gpu else (b - a) * 1000.0


def torch_rows(checkpoint, device, batches: list[int], crops: np.ndarray, warmup: int = 10, min_runs: int = 50,
               min_seconds: float = 1.0, variants=VARIANTS, allow_cpu: bool = False) -> dict:
    """Every variant x batch on ``device``: {"rows": [...], "skipped": [...]}. ``crops``: uint8
    (N, S, S, 3) test crops, repeated up to each batch."""
    import torch

    from ..checkpoint import load_model
    from .timing import latency_stats
    from .worker import batch_of

    dev = parse_device(device)
    if dev.is_gpu:
        from ..devices import require_torch_cuda

        require_torch_cuda(dev)
    elif not allow_cpu:
        raise ValueError("torch_rows measures a CUDA device; allow_cpu=True runs its logic on the CPU (tests)")
    on_gpu = dev.is_gpu
    target = torch.device(dev.torch)
    clock = _Clock(torch, on_gpu)
    loaded = load_model(checkpoint)
    mean = torch.tensor(loaded.crop.mean, dtype=torch.float32, device=target).view(1, 3, 1, 1)  # on 0..255 values
    std = torch.tensor(loaded.crop.std, dtype=torch.float32, device=target).view(1, 3, 1, 1)
    rows, skipped = [], []
    for name, half, channels_last, graph in variants:
        if graph and not on_gpu:
            skipped.append({"variant": name, "reason": "CUDA graphs need a CUDA device"})
            continue
        dtype = torch.float16 if half else torch.float32
        layout = torch.channels_last if channels_last else torch.contiguous_format
        model = loaded.model.to(target, dtype, memory_format=layout).eval()
        for batch in batches:
            host = torch.from_numpy(batch_of(crops, batch))
            if on_gpu:
                host = host.pin_memory()
            staging = torch.empty(host.shape, dtype=torch.uint8, device=target)
            out_host = torch.empty((batch, loaded.scheme.num_points * 2), dtype=torch.float32, pin_memory=on_gpu)

            def compute(x_u8):  # normalise as preprocess.normalise does, on the device
                x = (x_u8.permute(0, 3, 1, 2).float() - mean) / std
                return model(x.to(dtype).contiguous(memory_format=layout)).float().reshape(batch, -1)

            try:
                if on_gpu:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(target)
                with torch.inference_mode():
                    run_compute = _graphed(torch, compute, staging) if graph else (lambda: compute(staging))
                    times, phases = _time_calls(torch, clock, host, staging, run_compute, out_host, warmup, min_runs, min_seconds)
            except torch.cuda.OutOfMemoryError as e:  # a batch too big for this GPU: say so, keep the rest
                skipped.append({"variant": name, "batch": batch, "reason": f"out of GPU memory ({str(e).splitlines()[0]})"})
                torch.cuda.empty_cache()
                continue
            row = {"artifact": f"torch-fp32 {name}", "variant": name, "format": "torch", "precision": "fp16" if half else "fp32",
                   "batch": batch, "threads": torch.get_num_threads() if not on_gpu else 1, "device": dev.name,
                   "timing": "CUDA events" if on_gpu else "host clock (CPU run: not a GPU figure)",
                   **latency_stats(np.asarray(times), batch),
                   **{k: float(np.median(v)) for k, v in phases.items()}}
            row["copies_ms"] = row["h2d_ms"] + row["d2h_ms"]
            if on_gpu:
                row["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated(target) / 2**20
                row["process_gpu_mib"] = process_gpu_memory_mib(dev.index)
            rows.append(row)
    return {"rows": rows, "skipped": skipped}


def tensorrt_rows(artifacts: list, device, batches: list[int], crops: np.ndarray, warmup: int = 10, min_runs: int = 50,
                  min_seconds: float = 1.0) -> dict:
    """onnxruntime's TensorRT provider on each ONNX artifact (fp16 ones with TensorRT's fp16),
    where onnxruntime has it; a session TensorRT did not take is refused, not measured."""
    from ..devices import DeviceError
    from ..export.manifest import read_manifest
    from ..optional import require
    from .timing import latency_stats, measure
    from .worker import batch_of

    dev = parse_device(device)
    ort = require("onnxruntime", "running ONNX models on a GPU", gpu=True)
    rows, skipped = [], []
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        skipped.append({"variant": "onnxruntime TensorRT", "reason": "onnxruntime has no TensorrtExecutionProvider here (available: "
                        + ", ".join(ort.get_available_providers()) + "); onnxruntime-gpu with TensorRT's libraries gives it"})
        return {"rows": rows, "skipped": skipped}
    from ..predictors.onnx_predictor import OnnxPredictor
    from ..preprocess import CropSpec

    for artifact in artifacts:
        folder, manifest = read_manifest(artifact)
        name = f"{folder.name} TensorRT"
        providers = [("TensorrtExecutionProvider", {"device_id": dev.index, "trt_fp16_enable": manifest["precision"] == "fp16",
                                                    "trt_int8_enable": manifest["precision"] == "int8"}),
                     ("CUDAExecutionProvider", {"device_id": dev.index})]
        try:
            predictor = OnnxPredictor(folder / manifest["model_file"], manifest, device=dev, providers=providers)
        except DeviceError as e:
            skipped.append({"variant": name, "reason": str(e)})
            continue
        predictor.crop = CropSpec.from_dict(manifest["crop"])
        for batch in batches:
            x = batch_of(crops, batch)
            try:
                times = measure(lambda: predictor.predict_crops(x), warmup, min_runs, min_seconds)
            except Exception as e:  # TensorRT cannot build an engine for this batch: say so, keep the rest
                skipped.append({"variant": name, "batch": batch, "reason": f"failed: {type(e).__name__}: {str(e).splitlines()[0]}"})
                continue
            rows.append({"artifact": name, "variant": "onnxruntime TensorRT", "format": "onnx", "precision": manifest["precision"],
                         "batch": batch, "threads": 1, "device": dev.name, "timing": "host clock, end to end (normalise on the host)",
                         **latency_stats(times, batch), "h2d_ms": None, "compute_ms": None, "d2h_ms": None,
                         **gpu_memory_fields(dev)})
    return {"rows": rows, "skipped": skipped}


def _graphed(torch, compute, static_in):
    """``compute`` captured once into a CUDA graph on a fixed input buffer; replaying it runs
    the same kernels without launching each from Python."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream before capture, as torch's docs ask
            compute(static_in)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = compute(static_in)

    def replay():
        graph.replay()
        return static_out

    return replay


def _time_calls(torch, clock: _Clock, host, staging, run_compute, out_host, warmup: int, min_runs: int, min_seconds: float):
    """End-to-end seconds per call (host clock around copy in, compute, copy out, waited for),
    and each phase's milliseconds from the marks between them."""
    phases = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
    times = []

    def call(record: bool):
        t0 = time.perf_counter()
        a = clock.mark()
        staging.copy_(host, non_blocking=True)
        b = clock.mark()
        y = run_compute()
        c = clock.mark()
        out_host.copy_(y, non_blocking=True)
        d = clock.mark()
        clock.sync()
        if record:
            times.append(time.perf_counter() - t0)
            phases["h2d_ms"].append(clock.ms(a, b))
            phases["compute_ms"].append(clock.ms(b, c))
            phases["d2h_ms"].append(clock.ms(c, d))

    for _ in range(warmup):
        call(False)
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        call(True)
        if time.perf_counter() - start > 60:
            break
    return times, phases


def process_gpu_memory_mib(index: int) -> float | None:
    """This process's memory on GPU ``index`` as the driver counts it (NVML), or None."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return _smi_process_memory_mib()
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if p.pid == os.getpid() and p.usedGpuMemory is not None:
                return p.usedGpuMemory / 2**20
    except pynvml.NVMLError:
        return _smi_process_memory_mib()
    return None


def _smi_process_memory_mib() -> float | None:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()) and used.strip().isdigit():
            return float(used)
    return None


def main(spec_path: str) -> int:
    """The worker: ``{"artifact": torch artifact folder or .pt, "device", "batches", "crops": .npy,
    "warmup", "min_runs", "min_seconds", "allow_cpu", "variants": names or null (all), "onnx_artifacts": ONNX artifact
    folders for TensorRT rows (GPU only), "result": path}``."""
    from ..environment import gpu_facts
    from ..export.manifest import read_manifest
    from ..io import write_json_atomic

    spec = json.loads(Path(spec_path).read_text())
    artifact = Path(spec["artifact"])
    checkpoint = artifact
    if artifact.suffix != ".pt":
        folder, manifest = read_manifest(artifact)
        checkpoint = folder / manifest["model_file"]
    crops = np.load(spec["crops"])
    variants = [v for v in VARIANTS if v[0] in spec["variants"]] if spec.get("variants") else VARIANTS
    result = torch_rows(checkpoint, spec["device"], spec["batches"], crops, spec.get("warmup", 10), spec.get("min_runs", 50),
                        spec.get("min_seconds", 1.0), variants, allow_cpu=spec.get("allow_cpu", False))
    if spec.get("onnx_artifacts") and parse_device(spec["device"]).is_gpu:
        trt = tensorrt_rows(spec["onnx_artifacts"], spec["device"], spec["batches"], crops, spec.get("warmup", 10),
                            spec.get("min_runs", 50), spec.get("min_seconds", 1.0))
        result["rows"] += trt["rows"]
        result["skipped"] += trt["skipped"]
    import torch

    result["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                       "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    result["gpus"] = gpu_facts()
    write_json_atomic(spec["result"], result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))


def torch_cuda_suite(results: dict, artifacts: list, device, batches: list[int], tmp: Path, warmup: int, min_runs: int,
                     min_seconds: float, crops: np.ndarray | None, out_dir: Path, allow_cpu: bool = False,
                     variants: list[str] | None = None) -> None:
    """``edgemark bench --device gpu``'s torch rows (``torch_rows``) in one fresh process, into
    ``results["gpu_rows"]`` (a failure into ``results["skipped"]``), and ``gpu.md`` beside the
    results. The batches: the run's, and the sweep 1, 8, 64, 256, 1024 when the run has only one."""
    import subprocess

    torch_artifact = next((a for a in artifacts if (Path(a) / "manifest.json").exists()
                           and json.loads((Path(a) / "manifest.json").read_text()).get("format") == "torch"), None)
    if torch_artifact is None:
        return
    sweep = sorted(set(batches)) if len(batches) > 1 else SWEEP
    reason = None if allow_cpu else gpu_unavailable_reason("torch", device)
    if reason:
        results["skipped"].append({"artifact": "torch-fp32 (CUDA variants)", "threads": 1, "batch": sweep[0], "reason": reason})
        return
    if crops is None:
        from ..export.manifest import read_manifest

        size = read_manifest(torch_artifact, verify=False)[1]["input"]["shape"][-1]
        crops = np.random.default_rng(0).integers(0, 256, size=(64, size, size, 3), dtype=np.uint8)
    np.save(tmp / "gpu_crops.npy", np.ascontiguousarray(crops[: max(sweep)]))
    spec = {"artifact": str(torch_artifact), "device": parse_device(device).name, "batches": sweep, "crops": str(tmp / "gpu_crops.npy"),
            "warmup": warmup, "min_runs": min(min_runs, 100), "min_seconds": min_seconds, "allow_cpu": allow_cpu,
            "variants": variants, "result": str(tmp / "gpu_rows.json"),
            "onnx_artifacts": [str(a) for a in artifacts if (Path(a) / "manifest.json").exists()
                               and json.loads((Path(a) / "manifest.json").read_text()).get("format") == "onnx"]}
    (tmp / "gpu_spec.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "edgemark.bench.gpu", str(tmp / "gpu_spec.json")], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        results["skipped"].append({"artifact": "torch-fp32 (CUDA variants)", "threads": 1, "batch": sweep[0], "reason": f"failed: {tail[0]}"})
        return
    measured = json.loads((tmp / "gpu_rows.json").read_text())
    results["gpu_rows"] = measured["rows"]
    results["gpu_torch"] = measured["torch"]
    results.setdefault("machine", {})["gpus"] = measured["gpus"] or results.get("machine", {}).get("gpus")
    for s in measured["skipped"]:
        results["skipped"].append({"artifact": f"torch-fp32 {s['variant']}", "threads": 1, "batch": s.get("batch", sweep[0]), "reason": s["reason"]})
    from ..io import write_text_atomic

    write_text_atomic(Path(out_dir) / "gpu.md", gpu_markdown(results))


SWEEP = [1, 8, 64, 256, 1024]


def gpu_markdown(results: dict) -> str:
    """The torch GPU rows as a Markdown table (per image: end to end; per call: each phase)."""
    gpus = (results.get("machine") or {}).get("gpus") or []
    facts = "; ".join(f"{g.get('name')} (driver {g.get('driver_version')}, SM {g.get('clocks_sm')}/{g.get('clocks_max_sm')} MHz, "
                      f"memory {g.get('clocks_mem')}/{g.get('clocks_max_mem')} MHz, {g.get('memory_total')} MiB)" for g in gpus)
    t = results.get("gpu_torch") or {}
    lines = [f"# torch on {results.get('device')}: variants and batch sweep", "",
             f"GPU: {facts or 'not reported (no nvidia-smi)'}; torch {t.get('version')}, CUDA {t.get('cuda')}, cuDNN {t.get('cudnn')}.", "",
             "A call: uint8 crops in pinned host memory -> device (H2D), normalise + network (compute), landmarks back (D2H). "
             "p50/p99 and img/s are end to end, per image; H2D, compute and D2H are per call (median, CUDA events).", "",
             "| variant | batch | p50 ms/img | p99 ms/img | img/s | H2D ms | compute ms | D2H ms | torch max alloc MiB | process GPU MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    for r in results.get("gpu_rows") or []:
        lines.append(f"| {r['artifact'] if r['format'] == 'onnx' else r['variant']} | {r['batch']} | {fmt(r['p50_ms'], 4)} | {fmt(r['p99_ms'], 4)} | {r['throughput_ips']:.0f} | "
                     f"{fmt(r['h2d_ms'])} | {fmt(r['compute_ms'])} | {fmt(r['d2h_ms'])} | {fmt(r.get('torch_max_allocated_mib'), 1)} | "
                     f"{fmt(r.get('process_gpu_mib'), 0)} |")
    return "\n".join(lines) + "\n"


def gpu_memory_fields(device) -> dict:
    """A worker row's GPU memory (empty on the CPU): the process's from NVML, and torch's own
    peak when this process ran torch on CUDA (an onnxruntime row does not import torch)."""
    dev = parse_device(device)
    if not dev.is_gpu:
        return {}
    fields = {"process_gpu_mib": process_gpu_memory_mib(dev.index)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        fields["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated(dev.index) / 2**20
    return fields
