"""ExecuTorch export: ``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK
partitioner -> ``model.pte``. fp16 = the module in half precision: XNNPACK fp16 compute,
fp16 input and output (the predictor casts). The file is not smaller than fp32: ExecuTorch's
XNNPACK serializer (1.5) writes every convolution's weights and bias as fp32 (its
``force_fp32`` for conv filters; XNNPACK converts them when the graph loads), so only the
fully connected head is stored in fp16 (measured on the shipped model: 106 constant buffers,
1,953,608 bytes fp32 against 1,942,068 fp16). int8 = PT2E static quantisation with
ExecuTorch's ``XNNPACKQuantizer`` (symmetric, per-channel weights, int8 activations),
calibrated on the training crops. Batch size 1, NCHW input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import EdgemarkError
from ..optional import require
from ..preprocess import CropSpec, normalise
from .manifest import library_versions



def export_executorch(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None) -> dict:
    exir = require("executorch.exir", "ExecuTorch export")
    partitioner = require("executorch.backends.xnnpack.partition.xnnpack_partitioner", "ExecuTorch export")
    model = model.eval()
    example = (torch.zeros(1, 3, crop.size, crop.size),)
    converter = "torch.export + executorch.exir.to_edge_transform_and_lower(XnnpackPartitioner) + to_executorch"
    dtype = "float32"
    if precision == "fp16":
        model, example, dtype = model.half(), (example[0].half(),), "float16"
        converter = "module.half() (fp16 compute; convolution weights stored fp32 by the XNNPACK serializer) + " + converter
    exported = torch.export.export(model, example)
    if precision == "int8":
        quantizer_module = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "ExecuTorch int8 quantisation")
        quantize_pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "ExecuTorch int8 quantisation")
        quantizer = quantizer_module.XNNPACKQuantizer().set_global(
            quantizer_module.get_symmetric_quantization_config(is_per_channel=True))
        graph = quantize_pt2e.prepare_pt2e(exported.module(), quantizer)
        with torch.no_grad():
            for c in calib:
                graph(torch.from_numpy(normalise(c, crop.mean, crop.std)))
        graph = quantize_pt2e.convert_pt2e(graph)
        exported = torch.export.export(graph, example)
        converter = "torchao PT2E (XNNPACKQuantizer, symmetric per-channel, static) + " + converter
    program = exir.to_edge_transform_and_lower(exported, partitioner=[partitioner.XnnpackPartitioner()]).to_executorch()
    (Path(out_dir) / "model.pte").write_bytes(program.buffer)
    delegated = _delegated_share(program)
    if delegated == 0:
        raise EdgemarkError(f"{out_dir}: XNNPACK took no part of the {precision} graph; the .pte would run on portable kernels only")
    return {"format": "executorch", "model_file": "model.pte", "converter": converter,
            "input": {"name": "x", "shape": [1, 3, crop.size, crop.size], "layout": "NCHW", "dtype": dtype},
            "output": {"shape": [1, None, 2], "dtype": dtype},
            "backend": {"delegate": "XnnpackBackend", "delegated_calls": delegated},
            "versions": library_versions("torch", "executorch", "torchao", "opencv-python", "opencv-python-headless")}


def _delegated_share(program) -> int:
    """How many XNNPACK delegate calls the program's forward makes."""
    plan = program.executorch_program.execution_plan[0]
    return sum(1 for d in plan.delegates if d.id == "XnnpackBackend")
