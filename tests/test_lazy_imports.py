"""The CLI on a machine with only the core stack (issue 30: a GPU box with torch, numpy,
OpenCV, onnxruntime, typer, rich, psutil, matplotlib, PyYAML): OpenVINO, NNCF, LiteRT,
NCNN, ExecuTorch, onnx (and MediaPipe, Ray, the TFLite converter stack, NVML) made
absent in a subprocess (a sitecustomize swaps site-packages for a copy without them). Commands still run; the
rows those runtimes would give say what to install instead of crashing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "exported" / "mobilenetv2_96"
# onnx (the converter's library) too: the GPU machines this was written for have onnxruntime but not onnx; NVML's
# bindings (nvidia-ml-py) are optional (nvidia-smi stands in)
ABSENT = ("openvino", "nncf", "ai_edge_litert", "litert_torch", "ai_edge_quantizer", "torchao", "ncnn", "pnnx", "executorch",
          "mediapipe", "ray", "onnx", "onnxscript", "pynvml")

# sitecustomize runs in every interpreter started with this PYTHONPATH (the bench's workers too): it puts
# a copy of site-packages without the absent packages in its place, so that they are as absent as on a
# machine that never installed them (import fails, importlib.util.find_spec answers None, no metadata;
# torch itself probes find_spec("onnx") and must see None, not an error)
HOOK = """
import os, sys

site, farm = os.environ["EDGEMARK_TEST_SITE"], os.environ["EDGEMARK_TEST_FARM"]
sys.path[:] = [farm if os.path.realpath(p) == site else p for p in sys.path]
"""


def _top_name(entry: str) -> str:
    """The import (or distribution) name of a site-packages entry: onnx, onnx-1.20.dist-info, ray.pth ..."""
    return entry.split("-")[0].split(".")[0].lower().replace("-", "_")


@pytest.fixture(scope="module")
def bare_env(tmp_path_factory):
    """Environment for a subprocess (and its bench workers) in which the optional runtimes are absent."""
    import sysconfig

    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    folder = tmp_path_factory.mktemp("absent")
    farm = folder / "site-packages"
    farm.mkdir()
    for entry in os.listdir(site):
        if _top_name(entry) not in ABSENT:
            (farm / entry).symlink_to(os.path.join(site, entry))
    (folder / "hook").mkdir()
    (folder / "hook" / "sitecustomize.py").write_text(HOOK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder / "hook"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "EDGEMARK_TEST_SITE": site, "EDGEMARK_TEST_FARM": str(farm), "COLUMNS": "250"}
    env.pop("EDGEMARK_DATA", None)
    return env


def _run(args, env, **kw):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, **kw)


def test_the_hook_blocks_and_the_core_imports(bare_env):
    code = ("import importlib, importlib.util, sys\n"
            f"for m in {ABSENT!r}:\n"
            "    assert importlib.util.find_spec(m) is None, m\n"
            "    try:\n        importlib.import_module(m)\n    except ModuleNotFoundError:\n        pass\n"
            "    else:\n        raise SystemExit(m + ' imported')\n"
            "import edgemark, edgemark.cli, edgemark.predictors, edgemark.pipeline, edgemark.bench.run, edgemark.bench.worker, "
            "edgemark.bench.gpu, edgemark.train, edgemark.devices, edgemark.evaluate\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ABSENT!r}))\n")
    done = _run(["-c", code], bare_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["train", "eval", "bench", "predict", "export", "deploy", "demo", "sweep"])
def test_every_command_starts(bare_env, command):
    done = _run(["-m", "edgemark", command, "--help"], bare_env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "Usage" in done.stdout


def test_bench_measures_what_is_here_and_names_what_is_missing(bare_env, tmp_path):
    out = tmp_path / "bench"
    done = _run(["-m", "edgemark", "bench", "--model", str(SHIPPED), "--target", "onnx,openvino,tflite,ncnn,executorch",
                 "--precision", "fp32", "--warmup", "0", "--min-runs", "2", "--min-seconds", "0", "--detector", "none",
                 "--out", str(out)], bare_env, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert {r["artifact"] for r in results["rows"]} == {"torch-fp32", "onnx-fp32"}
    reasons = {s["artifact"]: s["reason"] for s in results["skipped"]}
    assert set(reasons) == {"openvino-fp32", "tflite-fp32", "ncnn-fp32", "executorch-fp32"}
    for name, package in (("openvino-fp32", "openvino"), ("tflite-fp32", "ai-edge-litert"), ("ncnn-fp32", "edgemark[ncnn]"),
                          ("executorch-fp32", "edgemark[executorch]")):
        assert "not installed" in reasons[name] and f"pip install {package}".replace("pip install edgemark", "pip install 'edgemark") \
            in reasons[name], reasons[name]


def test_bench_on_gpu_runs_without_the_optional_runtimes(bare_env, tmp_path):
    """`python -m edgemark bench --device gpu` on a machine without them: each row says why it
    is not measured (here, without CUDA, every row; on a GPU box torch and onnxruntime-gpu run)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: tools/gpu_check.sh runs the GPU bench")
    out = tmp_path / "gpu"
    done = _run(["-m", "edgemark", "bench", "--device", "gpu", "--model", str(SHIPPED), "--target", "onnx,openvino,tflite",
                 "--precision", "fp32", "--out", str(out)], bare_env, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "nothing could be measured on gpu" in done.stderr
    reasons = {s["artifact"]: s["reason"] for s in json.loads((out / "results.json").read_text())["skipped"]}
    assert "CUDA build of torch" in reasons["torch-fp32"]
    assert "openvino is not installed" in reasons["openvino-fp32"]
    assert "CPU" in reasons["tflite-fp32"]


def test_train_runs_without_the_optional_runtimes(bare_env, small_lists, smoke_recipe, tmp_path):
    out = tmp_path / "run"
    done = _run(["-m", "edgemark", "train", "--recipe", str(smoke_recipe), "--data", str(small_lists), "--subset", "80",
                 "--epochs", "1", "--cache", str(tmp_path / "cache"), "--device", "cpu", "--workers", "0", "--out", str(out)],
                bare_env, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr + done.stdout
    assert (out / "best.pt").is_file() and "training on cpu" in done.stdout
