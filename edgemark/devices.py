"""One place that reads a ``--device`` value and says what each runtime calls it.

    parse_device("cpu")     -> Device("cpu")
    parse_device("gpu")     -> Device("cuda", 0)   (also "cuda", "cuda:0")
    parse_device("cuda:1")  -> Device("cuda", 1)   (also "gpu:1")

``Device.torch`` is torch's name ("cuda:1"), ``Device.onnx_providers`` onnxruntime's
providers and their options, ``Device.openvino`` OpenVINO's plugin name. A value that is
none of these is an ``EdgemarkError`` naming what is accepted; ``require_torch_cuda``
turns "no CUDA here" into one that says what to install.

Torch-free (the device runner imports it): torch is imported inside the CUDA check only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import EdgemarkError

ACCEPTED = "cpu, gpu, cuda or cuda:N (gpu = cuda = cuda:0; gpu:N = cuda:N)"
# what gives torch CUDA: a CUDA build of the pinned torch (the CUDA version to match the driver)
TORCH_CUDA_FIX = ("install a CUDA build of torch, e.g. pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130 "
                  "(pick the CUDA version nvidia-smi's driver supports), on a machine with an NVIDIA GPU and its driver")
ORT_GPU_FIX = ("install onnxruntime-gpu in place of onnxruntime (pip uninstall -y onnxruntime && pip install 'edgemark[gpu]'), "
               "with the CUDA and cuDNN libraries it names on its install page")


class DeviceError(EdgemarkError):
    """A device that is not known, or not present here."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    index: int | None = None  # the CUDA device's number (None on the CPU)

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    @property
    def name(self) -> str:
        """The canonical spelling: "cpu" or "cuda:N"."""
        return "cpu" if not self.is_gpu else f"cuda:{self.index}"

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """For results and tables: "cpu", "gpu" (CUDA device 0) or "cuda:N"; parses back to this Device."""
        return "gpu" if self.is_gpu and self.index == 0 else self.name

    @property
    def torch(self) -> str:
        return self.name

    @property
    def onnx_providers(self) -> list:
        """onnxruntime's ``providers`` argument: exactly one provider, so that a session that
        falls back to another can be told apart (``check_onnx_providers``)."""
        if not self.is_gpu:
            return ["CPUExecutionProvider"]
        return [("CUDAExecutionProvider", {"device_id": self.index})]

    @property
    def onnx_provider(self) -> str:
        return "CPUExecutionProvider" if not self.is_gpu else "CUDAExecutionProvider"

    @property
    def openvino(self) -> str:
        """OpenVINO's plugin: its GPU plugin is an Intel GPU's (GPU.N for the N-th)."""
        if not self.is_gpu:
            return "CPU"
        return "GPU" if self.index == 0 else f"GPU.{self.index}"


CPU = Device("cpu")

_CUDA = re.compile(r"^(?:gpu|cuda)(?::(\d+))?$")


def parse_device(value) -> Device:
    """A ``Device`` from its command-line spelling (any case, spaces ignored), or from a Device."""
    if isinstance(value, Device):
        return value
    if not isinstance(value, str):
        raise DeviceError(f"device {value!r}: expected a name, one of {ACCEPTED}")
    text = value.strip().lower()
    if text == "cpu":
        return CPU
    match = _CUDA.match(text)
    if match is None:
        hint = " (ssh://user@host is for edgemark bench and deploy only)" if text.startswith("ssh://") else ""
        raise DeviceError(f"unknown device {value!r}: expected {ACCEPTED}{hint}")
    return Device("cuda", int(match.group(1) or 0))


def cuda_problem(device: Device) -> str | None:
    """Why torch cannot run on ``device`` here (None when it can, or for the CPU)."""
    device = parse_device(device)
    if not device.is_gpu:
        return None
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} here is a build without CUDA; {TORCH_CUDA_FIX}"
    if not torch.cuda.is_available():
        return (f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device: no NVIDIA GPU, or its driver is "
                "missing or too old for this CUDA (nvidia-smi shows both; CUDA_VISIBLE_DEVICES may hide them)")
    count = torch.cuda.device_count()
    if device.index >= count:
        return f"{device.name}: torch sees {count} CUDA device(s) here (cuda:0 to cuda:{count - 1})"
    return None


def require_torch_cuda(device) -> Device:
    """``device`` parsed; a ``DeviceError`` saying what to install when torch cannot use it."""
    device = parse_device(device)
    problem = cuda_problem(device)
    if problem:
        raise DeviceError(f"--device {device.name}: {problem}")
    return device


def check_onnx_providers(device, used: list[str], wanted: str | None = None) -> None:
    """Refuse a session whose first provider is not the one asked for (``wanted``, default the
    device's): onnxruntime quietly falls back to the CPU when CUDA is missing, and a CPU figure
    must never be labelled GPU."""
    device = parse_device(device)
    wanted = wanted or device.onnx_provider
    if not used or used[0] != wanted:
        raise DeviceError(f"onnxruntime was asked for {wanted} ({device.name}) but the session runs on "
                          f"{', '.join(used) or 'nothing'}: refused rather than measured there"
                          + (f"; {ORT_GPU_FIX}" if device.is_gpu else ""))
