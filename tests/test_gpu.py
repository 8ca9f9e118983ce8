"""--device gpu without a GPU (issue 30): device names, the named errors, onnxruntime's CPU
fallback refused, and the torch GPU rows' logic run on the CPU. What needs a real GPU is
in tools/gpu_check.sh."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemark.devices import Device, DeviceError, check_onnx_providers, parse_device
from edgemark.errors import EdgemarkError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "exported" / "mobilenetv2_96"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _ort_has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.parametrize("text, kind, index, label, torch_name, ov", [
    ("cpu", "cpu", None, "cpu", "cpu", "CPU"),
    ("CPU", "cpu", None, "cpu", "cpu", "CPU"),
    ("gpu", "cuda", 0, "gpu", "cuda:0", "GPU"),
    ("cuda", "cuda", 0, "gpu", "cuda:0", "GPU"),
    (" Cuda:0 ", "cuda", 0, "gpu", "cuda:0", "GPU"),
    ("cuda:1", "cuda", 1, "cuda:1", "cuda:1", "GPU.1"),
    ("gpu:3", "cuda", 3, "cuda:3", "cuda:3", "GPU.3"),
])
def test_device_names_map_to_each_runtime(text, kind, index, label, torch_name, ov):
    d = parse_device(text)
    assert (d.kind, d.index, d.label, d.torch, d.openvino) == (kind, index, label, torch_name, ov)
    assert parse_device(d) is d and parse_device(d.label) == d and parse_device(d.name) == d
    if d.is_gpu:
        assert d.onnx_providers == [("CUDAExecutionProvider", {"device_id": index})]
    else:
        assert d.onnx_providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:-1", "gpu0", "mps", "", "cuda:1:2", 1, None])
def test_unknown_device_is_a_named_error(bad):
    with pytest.raises(DeviceError, match=r"expected .*cpu, gpu, cuda or cuda:N"):
        parse_device(bad)
    assert issubclass(DeviceError, EdgemarkError)


def test_onnx_provider_check_refuses_a_fallback():
    gpu = parse_device("gpu")
    check_onnx_providers(gpu, ["CUDAExecutionProvider", "CPUExecutionProvider"])  # what onnxruntime-gpu answers
    check_onnx_providers("cpu", ["CPUExecutionProvider"])
    with pytest.raises(DeviceError, match="refused.*onnxruntime-gpu"):
        check_onnx_providers(gpu, ["CPUExecutionProvider"])
    with pytest.raises(DeviceError, match="TensorrtExecutionProvider"):
        check_onnx_providers(gpu, ["CUDAExecutionProvider"], wanted="TensorrtExecutionProvider")


def test_torch_predictor_on_gpu_without_cuda_is_a_named_error():
    """Issue 30's first failure: torch.device("gpu") was a torch RuntimeError at the baseline row."""
    if _has_cuda():
        pytest.skip("this machine has CUDA; the no-CUDA error needs one without")
    from edgemark.predictors.load import load_predictor

    for device in ("gpu", "cuda", "cuda:1"):
        with pytest.raises(DeviceError) as e:
            load_predictor(SHIPPED / "torch-fp32", device=device)
        assert "CUDA build of torch" in str(e.value) and "download.pytorch.org/whl/cu" in str(e.value)
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        load_predictor(SHIPPED / "torch-fp32", device="gpu0")
    with pytest.raises(EdgemarkError, match="fp16 runs on a CUDA device only"):
        from edgemark.predictors.torch_predictor import TorchPredictor

        TorchPredictor(SHIPPED / "torch-fp32" / "model.pt", half=True)
    assert load_predictor(SHIPPED / "torch-fp32", device="CPU").predict_crops(np.zeros((2, 96, 96, 3), np.uint8)).shape == (2, 5, 2)


def test_onnxruntime_cpu_build_refuses_a_cuda_session():
    """The real CPU-only onnxruntime, asked for CUDA, falls back to the CPU: refused, not measured."""
    if _ort_has_cuda():
        pytest.skip("this onnxruntime has CUDA")
    from edgemark.predictors.onnx_predictor import OnnxPredictor

    manifest = json.loads((SHIPPED / "onnx-fp32" / "manifest.json").read_text())
    with pytest.raises(DeviceError) as e:
        OnnxPredictor(SHIPPED / "onnx-fp32" / manifest["model_file"], manifest, device="gpu")
    assert "session runs on CPUExecutionProvider" in str(e.value) and "pip install 'edgemark[gpu]'" in str(e.value)
    with pytest.raises(DeviceError, match="TensorrtExecutionProvider"):
        OnnxPredictor(SHIPPED / "onnx-fp32" / manifest["model_file"], manifest, device="gpu",
                      providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    cpu = OnnxPredictor(SHIPPED / "onnx-fp32" / manifest["model_file"], manifest, device="cpu")
    assert "CPUExecutionProvider" in cpu.description


def test_cpu_only_runtimes_refuse_gpu_by_name():
    pytest.importorskip("ai_edge_litert")
    from edgemark.predictors.load import load_predictor

    with pytest.raises(EdgemarkError, match="TFLite runner here runs on the CPU only"):
        load_predictor(SHIPPED / "tflite-int8", device="cuda")


def test_gpu_unavailable_reasons_say_what_to_install():
    from edgemark.bench.gpu import gpu_unavailable_reason

    if not _has_cuda():
        assert "CUDA build of torch" in gpu_unavailable_reason("torch", "gpu")
    if not _ort_has_cuda():
        assert "onnxruntime-gpu" in gpu_unavailable_reason("onnx", "cuda:0")
    assert "CPU" in gpu_unavailable_reason("tflite", "gpu")
    assert gpu_unavailable_reason("torch", "cpu") is None  # nothing to check on the CPU


def test_torch_gpu_rows_logic_on_the_cpu():
    """The variant x batch sweep and the phase timing, run on the CPU (host clock): the rows'
    shape and arithmetic, not GPU figures (those come from tools/gpu_check.sh on a GPU)."""
    from edgemark.bench.gpu import VARIANTS, gpu_markdown, torch_rows

    crops = np.random.default_rng(0).integers(0, 256, size=(3, 96, 96, 3), dtype=np.uint8)
    chosen = [VARIANTS[0], VARIANTS[1], VARIANTS[-1]]  # fp32, fp32 channels_last, the CUDA graph (skipped on the CPU)
    out = torch_rows(SHIPPED / "torch-fp32" / "model.pt", "cpu", [1, 4], crops, warmup=1, min_runs=3, min_seconds=0.0,
                     variants=chosen, allow_cpu=True)
    assert [(r["variant"], r["batch"]) for r in out["rows"]] == [("eager fp32", 1), ("eager fp32", 4),
                                                                 ("eager fp32 channels_last", 1), ("eager fp32 channels_last", 4)]
    assert out["skipped"] == [{"variant": "cuda-graph fp16 channels_last", "reason": "CUDA graphs need a CUDA device"}]
    for r in out["rows"]:
        assert r["runs"] >= 3 and r["timing"].startswith("host clock")
        assert r["compute_ms"] > 0 and r["h2d_ms"] >= 0 and r["d2h_ms"] >= 0
        assert r["copies_ms"] == pytest.approx(r["h2d_ms"] + r["d2h_ms"])
        assert r["p50_ms"] * r["batch"] >= 0.5 * r["compute_ms"]  # end to end per call holds the compute phase
        assert "torch_max_allocated_mib" not in r  # no GPU memory figures from a CPU run
    table = gpu_markdown({"device": "cpu", "gpu_rows": out["rows"]})
    assert table.count("| eager fp32") == 4 and "| 4 |" in table
    with pytest.raises(ValueError, match="allow_cpu"):
        torch_rows(SHIPPED / "torch-fp32" / "model.pt", "cpu", [1], crops)
    if not _has_cuda():
        with pytest.raises(DeviceError, match="CUDA build of torch"):
            torch_rows(SHIPPED / "torch-fp32" / "model.pt", "gpu", [1], crops)


def test_tensorrt_rows_need_tensorrt():
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has TensorRT")
    from edgemark.bench.gpu import tensorrt_rows

    crops = np.zeros((1, 96, 96, 3), np.uint8)
    out = tensorrt_rows([SHIPPED / "onnx-fp32"], "gpu", [1], crops)
    assert out["rows"] == [] and "no TensorrtExecutionProvider" in out["skipped"][0]["reason"]


def test_torch_cuda_suite_in_its_own_process(tmp_path):
    """run_bench's GPU hook: the worker process, results["gpu_rows"] and gpu.md (CPU, allow_cpu)."""
    from edgemark.bench.gpu import torch_cuda_suite

    results = {"device": "cpu", "skipped": [], "machine": {}}
    crops = np.random.default_rng(1).integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    torch_cuda_suite(results, [SHIPPED / "onnx-fp32", SHIPPED / "torch-fp32"], "cpu", [1, 2], tmp_path, 1, 2, 0.0, crops, tmp_path,
                     allow_cpu=True, variants=["eager fp32"])
    assert [(r["variant"], r["batch"]) for r in results["gpu_rows"]] == [("eager fp32", 1), ("eager fp32", 2)]
    assert results["gpu_torch"]["version"].startswith("2.") and results["skipped"] == []
    assert "| eager fp32 | 2 |" in (tmp_path / "gpu.md").read_text()
    if not _has_cuda():  # without allow_cpu: skipped with the reason, nothing measured
        results = {"device": "gpu", "skipped": [], "machine": {}}
        torch_cuda_suite(results, [SHIPPED / "torch-fp32"], "gpu", [1], tmp_path, 1, 2, 0.0, crops, tmp_path)
        assert "gpu_rows" not in results and "CUDA build of torch" in results["skipped"][0]["reason"]


def test_training_device_and_amp_are_checked():
    from edgemark.train import _check_amp, training_device

    if not _has_cuda():
        assert training_device(None) == Device("cpu")
        with pytest.raises(DeviceError, match="CUDA build of torch"):
            training_device("gpu")
    assert training_device("cpu") == Device("cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        training_device("gpu0")
    with pytest.raises(EdgemarkError, match="autocast on CUDA"):
        _check_amp("bf16", Device("cpu"))
    with pytest.raises(EdgemarkError, match="--amp must be one of off, bf16, fp16"):
        _check_amp("int8", Device("cpu"))
    _check_amp("off", Device("cpu"))


def test_collectives_use_the_rank_gpu_under_nccl_only():
    from edgemark.distributed import World, collective_device

    assert str(collective_device(World(0, 2, 0, "gloo"))) == "cpu"
    assert str(collective_device(World(1, 2, 1, "nccl"))) == "cuda:1"


def test_gpu_facts_from_nvidia_smi(tmp_path, monkeypatch):
    """The machine facts' GPU part, parsed from nvidia-smi's CSV (a stand-in script here: this
    machine has no NVIDIA driver); None without nvidia-smi."""
    from edgemark.environment import GPU_QUERY, gpu_facts, machine_summary

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert gpu_facts() is None and "gpus" not in machine_summary()
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    assert len(GPU_QUERY) == 11
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H200, 580.95.05, 143771, 1980, 1980, 3201, 3201, 700.00, 31, P0'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(smi.parent))
    gpus = gpu_facts()
    assert gpus == [{"index": 0, "name": "NVIDIA H200", "driver_version": "580.95.05", "memory_total": 143771, "clocks_sm": 1980,
                     "clocks_max_sm": 1980, "clocks_mem": 3201, "clocks_max_mem": 3201, "power_limit": 700.0,
                     "temperature_gpu": 31, "pstate": "P0"}]
    assert machine_summary()["gpus"] == gpus


def test_bench_cli_device_names(tmp_path):
    """--device: an unknown name is one clear line (no traceback); "cuda" is read as gpu."""
    env = {**os.environ, "EDGEMARK_DATA": ""}
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", str(SHIPPED / "onnx-fp32"), "--device", "tpu",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "unknown device 'tpu'" in done.stdout + done.stderr
    if _has_cuda() or _ort_has_cuda():
        return
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", str(SHIPPED), "--target", "onnx", "--precision", "fp32",
                           "--device", "cuda", "--detector", "none", "--out", str(tmp_path / "cuda")],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 2 and "nothing could be measured on gpu" in done.stderr and "Traceback" not in done.stderr
    results = json.loads((tmp_path / "cuda" / "results.json").read_text())
    assert results["device"] == "gpu" and results["rows"] == []
    reasons = {s["artifact"]: s["reason"] for s in results["skipped"]}
    assert "onnxruntime-gpu" in reasons["onnx-fp32"] and "CUDA build of torch" in reasons["torch-fp32"]


def test_eval_and_train_cli_name_the_missing_cuda(small_lists, smoke_recipe, tmp_path):
    """`edgemark eval --device gpu` and `edgemark train --device gpu` without CUDA: one line
    saying what to install, no torch traceback; an unknown name says what is accepted."""
    if _has_cuda():
        pytest.skip("this machine has CUDA")
    env = {**os.environ, "EDGEMARK_DATA": str(small_lists)}
    runs = {
        "eval": ["eval", "--model", str(SHIPPED / "torch-fp32"), "--device", "gpu", "--out", str(tmp_path / "eval")],
        "train": ["train", "--recipe", str(smoke_recipe), "--subset", "40", "--device", "cuda", "--cache", str(tmp_path / "cache"),
                  "--out", str(tmp_path / "train")],
        "amp": ["train", "--recipe", str(smoke_recipe), "--subset", "40", "--device", "cpu", "--amp", "bf16",
                "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "amp")],
        "unknown": ["eval", "--model", str(SHIPPED / "onnx-fp32"), "--device", "rocm", "--out", str(tmp_path / "rocm")],
    }
    expected = {"eval": "CUDA build of torch", "train": "CUDA build of torch", "amp": "autocast on CUDA",
                "unknown": "unknown device 'rocm'"}
    for name, args in runs.items():
        done = subprocess.run([sys.executable, "-m", "edgemark", *args], capture_output=True, text=True, env=env, cwd=ROOT)
        text = " ".join((done.stdout + done.stderr).split())
        assert done.returncode != 0 and "Traceback" not in done.stderr and expected[name] in text, (name, text)
    assert not (tmp_path / "train" / "last.pt").exists()


def test_predict_cli_takes_the_device(tmp_path, data_dir):
    """`edgemark predict --device`: a torch checkpoint asked for the GPU without CUDA, a TFLite
    artifact asked for the GPU, an unknown name: one line each; cpu runs as before."""
    photo = data_dir / "lfw_5590" / "Aaron_Eckhart_0001.jpg"
    expected = {("mobilenetv2_96/torch-fp32", "gpu"): "CUDA build of torch", ("mobilenetv2_96", "cuda:1"): "TFLite runner",
                ("mobilenetv2_96", "npu"): "unknown device 'npu'"}
    for (model, device), text in expected.items():
        if _has_cuda() and "CUDA build" in text:
            continue
        done = subprocess.run([sys.executable, "-m", "edgemark", "predict", str(photo), "--model", model, "--device", device],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr and text in " ".join(done.stderr.split()), (model, device)
    done = subprocess.run([sys.executable, "-m", "edgemark", "predict", str(photo), "--model", "mobilenetv2_96/torch-fp32",
                           "--device", "cpu"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and len(json.loads(done.stdout)["faces"]) == 1
