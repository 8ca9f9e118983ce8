"""LiteRT: the CompiledModel's own profiler, through libLiteRt's C API.

The ai-edge-litert wheel ships the profiler inside libLiteRt.so (``LiteRtCompiledModelGetProfiler``,
``LiteRtGetProfileSummary``) but wraps none of it for Python, so this module calls the C API with
ctypes: it compiles the file for the CPU (XNNPACK, ``num_threads`` as asked), turns profiling on
with the runtime's own option (the ``runtime_options_string`` payload ``enable_profiling = true``),
runs it, and reads the summary LiteRT's profile summarizer writes (the table
``benchmark_model --enable_op_profiling`` prints). The XNNPACK delegate reports each of its
operators by kernel (``Convolution (NHWC, QC8) DWConv``) in run order, not by the model's layer;
for edgemark's own exports each is matched to the TFLite operator it runs, whose tensor name
carries the PyTorch module path, so the layers line up with the ONNX and OpenVINO profiles. Other
files (BlazeFace, a peer's model) have kinds but no layers, like ExecuTorch's profiles.

Times are LiteRT's: each operator's mean over the profiled runs, from whole microseconds per run
(an operator under 1 us can read 0). ``run_ms`` is the invoke's wall time with the profiler idle
(as users run it), ``profiled_run_ms`` with it recording: the profiler's own cost is their difference.

The input buffers are LiteRT's own, filled with zeros: operator times do not depend on the pixels.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from ..errors import EdgemarkError
from ..export.manifest import library_versions
from ..optional import require
from .xnnpack import xnnpack_kind

CPU = 1  # kLiteRtHwAcceleratorCpu
WRITE = 1  # kLiteRtTensorBufferLockModeWrite
_P = ctypes.c_void_p
_ROW = re.compile(r"^\s*(?P<type>\S.*?)\s+(?P<start>[\d.]+)\s+(?P<first>[\d.]+)\s+(?P<avg>[\d.]+)\s+(?P<share>[\d.]+)%\s+"
                  r"(?P<cdf>[\d.]+)%\s+(?P<mem>-?[\d.]+)\s+(?P<calls>\d+)\s+(?P<name>\S.*?)\s*$")
_TOTAL = re.compile(r"Timings \(microseconds\): count=(\d+).*?curr=(\d+)")


def _library(litert) -> ctypes.CDLL:
    path = Path(litert.__file__).parent / "libLiteRt.so"
    if not path.is_file():
        raise EdgemarkError(f"this ai-edge-litert build has no {path.name} beside {litert.__file__}, so no LiteRT profiler "
                            "(profiling TFLite needs ai-edge-litert 2.x on Linux)")
    lib = ctypes.CDLL(str(path))
    lib.LiteRtCreateOpaqueOptions.argtypes = [ctypes.c_char_p, _P, _P, ctypes.POINTER(_P)]
    lib.LiteRtCreateModelFromFile.argtypes = [_P, ctypes.c_char_p, ctypes.POINTER(_P)]
    return lib


@contextlib.contextmanager
def _captured_stderr():
    """LiteRT's C++ logging writes to file descriptor 2 (a line per accelerator it looks for):
    caught here, and kept for an error message."""
    caught: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield caught
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            caught.append(sink.read().decode(errors="replace"))


class _CompiledModel:
    """One LiteRT CompiledModel on the CPU with profiling on, its input resized where asked, and
    one LiteRT-allocated buffer per input and output."""

    def __init__(self, lib, model_path: Path, threads: int, input_side: int | None):
        self.lib, self.path, self._handles = lib, model_path, []
        with _captured_stderr() as log:
            try:
                self._compile(threads, input_side)
            except EdgemarkError as e:
                self.close()
                tail = " ".join(line for line in "".join(log).splitlines() if line.startswith(("ERROR", "error")))[-400:]
                raise EdgemarkError(f"{e}{': ' + tail if tail else ''}") from None

    def _call(self, what: str, status: int) -> None:
        if status != 0:
            raise EdgemarkError(f"{self.path}: LiteRT {what} failed (status {status})")

    def _compile(self, threads: int, input_side: int | None) -> None:
        lib, by = self.lib, ctypes.byref
        self.env, self.model, self.options, self.compiled = _P(), _P(), _P(), _P()
        self._call("environment", lib.LiteRtCreateEnvironment(0, None, by(self.env)))
        self._call("model load", lib.LiteRtCreateModelFromFile(self.env, str(self.path).encode(), by(self.model)))
        self._call("options", lib.LiteRtCreateOptions(by(self.options)))
        self._call("accelerator choice", lib.LiteRtSetOptionsHardwareAccelerators(self.options, CPU))
        # the runtime's option payloads are TOML under an identifier; LiteRT frees them with free()
        self._add_toml(b"runtime_options_string", "enable_profiling = true\n")
        self._add_toml(b"xnnpack", f"num_threads = {threads}\n")
        self._call("compilation", lib.LiteRtCreateCompiledModel(self.env, self.model, self.options, by(self.compiled)))
        self.signature = _P()
        self._call("signature", lib.LiteRtGetModelSignature(self.model, 0, by(self.signature)))
        self.side = self._input_side()
        if input_side is not None and input_side != self.side:
            self.side = input_side
            dims = (ctypes.c_int * 4)(1, input_side, input_side, 3)
            self._call(f"input resize to {input_side} px",
                       lib.LiteRtCompiledModelResizeInputTensorNonStrict(self.compiled, ctypes.c_size_t(0), ctypes.c_size_t(0), dims,
                                                                         ctypes.c_size_t(4)))
        self.inputs = self._buffers("Input", input_side)
        self.outputs = self._buffers("Output", None)
        self.profiler = _P()
        self._call("profiler", lib.LiteRtCompiledModelGetProfiler(self.compiled, by(self.profiler)))
        if not self.profiler:
            raise EdgemarkError(f"{self.path}: LiteRT gave no profiler (profiling was not switched on)")

    def _input_side(self) -> int:
        tensor, tensor_type = _P(), (ctypes.c_int32 * 128)()
        self._call("input 0", self.lib.LiteRtGetSignatureInputTensorByIndex(self.signature, ctypes.c_size_t(0), ctypes.byref(tensor)))
        self._call("input 0 type", self.lib.LiteRtGetRankedTensorType(tensor, tensor_type))
        return tensor_type[3]

    def _add_toml(self, identifier: bytes, text: str) -> None:
        libc = ctypes.CDLL(None)
        libc.strdup.restype, libc.strdup.argtypes = _P, [ctypes.c_char_p]
        payload, opaque = _P(libc.strdup(text.encode())), _P()
        self._call(f"{identifier.decode()} options",
                   self.lib.LiteRtCreateOpaqueOptions(identifier, payload, ctypes.cast(libc.free, _P), ctypes.byref(opaque)))
        self._call(f"{identifier.decode()} options", self.lib.LiteRtAddOpaqueOptions(self.options, opaque))

    def _buffers(self, kind: str, input_side: int | None):
        lib, count = self.lib, ctypes.c_size_t()
        self._call(f"{kind.lower()} count", getattr(lib, f"LiteRtGetNumSignature{kind}s")(self.signature, ctypes.byref(count)))
        buffers = []
        for i in range(count.value):
            tensor, requirements, buffer = _P(), _P(), _P()
            self._call(f"{kind.lower()} {i}", getattr(lib, f"LiteRtGetSignature{kind}TensorByIndex")(self.signature, ctypes.c_size_t(i),
                                                                                                  ctypes.byref(tensor)))
            tensor_type = (ctypes.c_int32 * 128)()  # LiteRtRankedTensorType: element type, rank, then the dimensions
            self._call(f"{kind.lower()} {i} type", lib.LiteRtGetRankedTensorType(tensor, tensor_type))
            if input_side is not None and i == 0:
                tensor_type[3] = tensor_type[4] = input_side
            self._call(f"{kind.lower()} {i} requirements",
                       getattr(lib, f"LiteRtGetCompiledModel{kind}BufferRequirements")(self.compiled, ctypes.c_size_t(0), ctypes.c_size_t(i),
                                                                                       ctypes.byref(requirements)))
            self._call(f"{kind.lower()} {i} buffer",
                       lib.LiteRtCreateManagedTensorBufferFromRequirements(self.env, tensor_type, requirements, ctypes.byref(buffer)))
            buffers.append(buffer)
            self._handles.append(buffer)
            if kind == "Input":
                self._zero(buffer, f"input {i}")
        return (_P * len(buffers))(*buffers)

    def _zero(self, buffer, what: str) -> None:
        """Zeros in an input: as allocated it may hold anything (a float NaN or denormal would change the kernels' speed)."""
        size, address = ctypes.c_size_t(), _P()
        self._call(f"{what} size", self.lib.LiteRtGetTensorBufferPackedSize(buffer, ctypes.byref(size)))
        self._call(f"{what} lock", self.lib.LiteRtLockTensorBuffer(buffer, ctypes.byref(address), WRITE))
        try:
            ctypes.memset(address, 0, size.value)
        finally:
            self.lib.LiteRtUnlockTensorBuffer(buffer)

    def run(self) -> None:
        self._call("run", self.lib.LiteRtRunCompiledModel(self.compiled, ctypes.c_size_t(0), ctypes.c_size_t(len(self.inputs)),
                                                          self.inputs, ctypes.c_size_t(len(self.outputs)), self.outputs))

    def summary(self) -> str:
        text = ctypes.c_void_p()
        self._call("profile summary", self.lib.LiteRtGetProfileSummary(self.profiler, self.compiled, ctypes.byref(text)))
        try:
            return ctypes.string_at(text).decode(errors="replace")
        finally:
            ctypes.CDLL(None).free(text)

    def close(self) -> None:
        lib = self.lib
        for buffer in self._handles:
            lib.LiteRtDestroyTensorBuffer(buffer)
        self._handles = []
        for name, destroy in (("compiled", lib.LiteRtDestroyCompiledModel), ("options", lib.LiteRtDestroyOptions),
                              ("model", lib.LiteRtDestroyModel), ("env", lib.LiteRtDestroyEnvironment)):
            handle = getattr(self, name, None)
            if handle:
                destroy(handle)
                setattr(self, name, None)


def parse_summary(text: str, source: str) -> list[dict]:
    """The operators of LiteRT's profile summary in run order (its "Run Order" table), each with
    its mean ms per run: its share of the whole profile (the "Timings" line's total microseconds)
    over the runs, finer than the table's three decimals."""
    ops, in_table = [], False
    for line in text.splitlines():
        if "Run Order" in line:
            in_table = True
            continue
        if in_table and line.startswith("="):
            break
        row = _ROW.match(line) if in_table else None
        if row:
            kernel = row["type"].removeprefix("Delegate/")
            where = "XNNPACK" if row["type"].startswith("Delegate/") else "LiteRT"
            ops.append({"name": row["name"], "op": kernel, "layer": row["name"], "kind": xnnpack_kind(kernel),
                        "share_of_profile": float(row["share"]) / 100, "calls": int(row["calls"]),
                        "where": where})
    total = _TOTAL.search(text)
    if not ops or total is None:
        raise EdgemarkError(f"{source}: LiteRT's profile summary has no operator table (is the profiler on?):\n{text[:400]}")
    total_us, calls = int(total.group(2)), max(op["calls"] for op in ops)
    for op in ops:
        op["ms"] = op.pop("share_of_profile") * total_us / calls / 1000
    return ops


# what XNNPACK makes of each TFLite operator: the kernel-name starts it may run it as
_XNNPACK_RUNS = {"CONV_2D": ("Convolution", "Fully Connected"), "DEPTHWISE_CONV_2D": ("Convolution",),
                 "FULLY_CONNECTED": ("Fully Connected",), "ADD": ("Add",), "TRANSPOSE": ("Transpose",),
                 "RESHAPE": ("Static Reshape", "Copy"), "PAD": ("Constant Pad",)}


def tflite_operators(path: Path) -> list[tuple[str, str]]:
    """(builtin operator, first output tensor's name) of each operator of the file's first subgraph, in order."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)
    builtin = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = builtin.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        output = graph.Tensors(op.Outputs(0)).Name() if op.OutputsLength() else b""
        ops.append((name, (output or b"").decode(errors="replace")))
    return ops


def map_to_layers(ops: list[dict], tflite_ops: list[tuple[str, str]]) -> bool:
    """Give each XNNPACK operator its model layer, from the TFLite operator it runs: XNNPACK
    keeps the file's order and folds a spatial PAD into the convolution after it. Only when the
    two lists line up one to one, and every tensor name carries a module path (edgemark's exports
    do); otherwise nothing is changed and False is returned."""
    from .layers import layer_of, module_from_litert_name

    kept = [(name, tensor) for i, (name, tensor) in enumerate(tflite_ops)
            if not (name == "PAD" and i + 1 < len(tflite_ops) and tflite_ops[i + 1][0] in ("CONV_2D", "DEPTHWISE_CONV_2D"))]
    if len(kept) != len(ops) or any(op["where"] != "XNNPACK" for op in ops):
        return False
    layers = []
    for op, (name, tensor) in zip(ops, kept):
        module, _ = module_from_litert_name(tensor)
        if not op["op"].startswith(_XNNPACK_RUNS.get(name, ("?",))) or (module is None and name != "RESHAPE"):
            return False
        layers.append((layer_of(module, name), _kind(name, op["op"])))
    for op, (layer, kind) in zip(ops, layers):
        op["layer"], op["kind"] = layer, kind
    return True


def _kind(builtin: str, kernel: str) -> str:
    """The layer kind from the TFLite operator, as the ONNX and OpenVINO profiles name it."""
    if builtin == "CONV_2D":
        return "pointwise" if kernel.startswith("Fully Connected") else "conv"  # XNNPACK runs a 1x1 convolution as a GEMM
    return {"DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fc", "ADD": "add"}.get(builtin, "layout")


def profile_litert(model_path: Path, runs: int, warmup: int, threads: int, input_side: int | None = None) -> dict:
    """Per-operator profile of one .tflite file under LiteRT's CPU path (XNNPACK)."""
    litert = require("ai_edge_litert", "profiling TFLite models")
    if not Path(model_path).is_file():
        raise EdgemarkError(f"{model_path}: no such TFLite file")
    with open(model_path, "rb") as f:
        if f.read(8)[4:8] != b"TFL3":  # the flatbuffer's file identifier
            raise EdgemarkError(f"{model_path}: not a TFLite model (no TFL3 file identifier)")
    model = _CompiledModel(_library(litert), Path(model_path), threads, input_side)
    try:
        for _ in range(warmup):
            model.run()
        walls, profiled = [], []
        for _ in range(runs):  # the invoke as users run it, then the same runs with the profiler recording
            t0 = time.perf_counter()
            model.run()
            walls.append((time.perf_counter() - t0) * 1000)
        model.lib.LiteRtStartProfiler(model.profiler)
        for _ in range(runs):
            t0 = time.perf_counter()
            model.run()
            profiled.append((time.perf_counter() - t0) * 1000)
        model.lib.LiteRtStopProfiler(model.profiler)
        ops = parse_summary(model.summary(), str(model_path))
        side = model.side
    finally:
        with _captured_stderr():
            model.close()
    mapped = map_to_layers(ops, tflite_operators(model_path))
    version = library_versions("ai-edge-litert").get("ai-edge-litert", "?")
    return {"runtime": f"LiteRT {version} XNNPACK", "profiler": "LiteRT CompiledModel profiler (libLiteRt C API, LiteRtGetProfileSummary)",
            "run_ms": statistics.median(walls), "profiled_run_ms": statistics.median(profiled), "ops": ops, "layers_mapped": mapped,
            "input_side": side}

