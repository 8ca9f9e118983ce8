"""ExecuTorch: the pip runtime's event tracer (an ETDump, read with executorch.devtools'
Inspector). The XNNPACK delegate reports each of its operators, named by XNNPACK kernel and
ordinal (``Convolution (NHWC, QC8) DWConv #3``), not by the model's layer: without the
export's ETRecord there is no name to map back, so these profiles have kinds but no layers."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .xnnpack import xnnpack_kind


def profile_executorch(model_path: Path, dtype: str, x: np.ndarray, runs: int, warmup: int, threads: int) -> dict:
    pybindings = require("executorch.extension.pybindings.portable_lib", "profiling ExecuTorch models")
    torch = require("torch", "profiling ExecuTorch models (the runtime takes torch tensors)")
    devtools = require("executorch.devtools", "reading ExecuTorch's ETDump")
    pybindings._unsafe_reset_threadpool(threads)
    try:
        module = pybindings._load_for_executorch(str(model_path), enable_etdump=True)
    except (RuntimeError, ValueError) as e:
        raise EdgemarkError(f"{model_path}: ExecuTorch could not load the program ({e})") from None
    tensor = torch.from_numpy(np.ascontiguousarray(x)).to({"float32": torch.float32, "float16": torch.float16}[dtype])
    walls = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        module.forward([tensor])
        if i >= warmup:
            walls.append((time.perf_counter() - t0) * 1000)
    if not module.has_etdump():
        raise EdgemarkError(f"{model_path}: this ExecuTorch runtime recorded no ETDump (built without the event tracer)")
    with tempfile.TemporaryDirectory(prefix="edgemark-etdump-") as tmp:
        path = Path(tmp) / "model.etdp"
        module.write_etdump_result_to_file(str(path))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Output Buffer not found": no tensor debug data was asked for
            inspector = devtools.Inspector(etdump_path=str(path))
    ops = []
    for block in inspector.event_blocks:
        for event in block.events:
            if not event.is_delegated_op or event.perf_data is None:
                continue
            raw = list(event.perf_data.raw)
            timed = raw[warmup:] if len(raw) == warmup + runs else raw
            ops.append({"name": event.name, "op": event.name.split(" #")[0], "layer": event.name, "kind": xnnpack_kind(event.name),
                        "ms": statistics.median(timed), "calls": len(timed), "where": "XNNPACK"})
    if not ops:
        raise EdgemarkError(f"{model_path}: the ETDump has no delegated operator events")
    return {"runtime": f"ExecuTorch {_version()} XNNPACK", "profiler": "ExecuTorch event tracer (ETDump, executorch.devtools.Inspector)",
            "run_ms": statistics.median(walls), "ops": ops, "layers_mapped": False}


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("executorch")
    except metadata.PackageNotFoundError:
        return "?"
