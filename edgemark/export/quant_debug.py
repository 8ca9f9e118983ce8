"""Quantisation debugger: where an int8 model loses its accuracy, and which layers to keep
float to stay within an NME budget.

The int8 graph is the TFLite exporter's own (torchao PT2E with litert-torch's quantizer,
``export/tflite.py``), run in torch with its quantise/dequantise pairs (fake quantisation),
so every layer's output can be read and compared with fp32:

* per layer, the relative error and cosine of its output against fp32 on the calibration
  crops (the int8 model's error up to and including that layer);
* per layer, the NME on the validation faces (the training list's held-out split, never the
  test list) of the int8 model with that layer alone left float, and the gain against
  all-int8;
* ``choose_float_layers``: layers added to the float set in order of that gain, each
  combination measured (not a sum of gains), until the drop against fp32 is within a budget.

A layer is named as ``edgemark profile`` names it (``profile/layers.py``): a convolution with
its batch norm and activation is one layer (``features.1.block.0``), a residual addition is
its block (``features.2``), the head's linear layer ``head.fc``. A float layer keeps its
weights and its output in float; its input is still quantised where the layer before it is
int8 (the converter puts a dequantise in front of it)."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import EdgemarkError
from ..optional import require
from ..preprocess import CropSpec, normalise
from ..profile.layers import RUNTIME_LAYER, layer_of, layer_sort_key

WRAPPER = "model."  # the exporters wrap the network (ChannelsLastInput.model): its module paths start so
_QDQ = ("quantize_per_tensor", "dequantize_per_tensor", "quantize_per_channel", "dequantize_per_channel")


def node_layer(node) -> str | None:
    """The model layer an exported graph node comes from (``profile.layers`` naming), or None."""
    stack = node.meta.get("nn_module_stack")
    if not stack or node.op != "call_function":
        return None
    path = list(stack.values())[-1][0]
    path = path[len(WRAPPER):] if path.startswith(WRAPPER) else "" if path in ("model", "") else path
    layer = layer_of(path or None, str(node.target))
    return None if layer == RUNTIME_LAYER else layer


def int8_quantizer(float_layers=()):
    """litert-torch's PT2E quantizer (symmetric, per-channel, static) leaving ``float_layers`` float.
    Its own ``set_module_name`` cannot do it: it matches the module stack's keys, which this
    torch version writes as ids, and a block's name would cover its convolutions with its addition."""
    pt2e = require("litert_torch.quantize.pt2e_quantizer", "TFLite int8 quantisation")
    keep = frozenset(float_layers)

    class LayerQuantizer(pt2e.PT2EQuantizer):
        def _annotate_for_static_quantization_config(self, model):
            self._annotate_all_static_patterns(model, self.global_config, lambda n: node_layer(n) not in keep)
            return model

    return LayerQuantizer().set_global(pt2e.get_symmetric_quantization_config(is_per_channel=True))


def export_graph(model: torch.nn.Module, example: torch.Tensor, dynamic_batch: bool = False):
    """torch.export (strict: non-strict leaves the residual adds without the source record the
    quantizer matches them by) of ``model`` (already NHWC-wrapped); ``dynamic_batch`` for
    evaluating many crops at once (the example then needs a batch of 2 or more)."""
    shapes = ({0: torch.export.Dim("batch", min=1, max=65536)},) if dynamic_batch else None
    return torch.export.export(model.eval(), (example,), strict=True, dynamic_shapes=shapes)


@contextmanager
def calibration_threads():
    """Calibration on one thread: the activation observers' histograms sum in an order that
    depends on torch's thread count, and so did the int8 model (the shipped model's validation
    drop in torch: +0.070 pp calibrated on 1 thread, +0.066 pp on 2). One thread makes the
    int8 file the same on every machine; 200 crops take about a second."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def quantize_graph(exported, crop: CropSpec, calib: np.ndarray, float_layers=()):
    """The PT2E int8 graph of an exported program, calibrated one crop at a time on ``calib``
    (uint8 RGB crops), with ``float_layers`` left float; returns (graph, quantizer)."""
    quantize_pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "TFLite int8 quantisation")
    quantizer = int8_quantizer(float_layers)
    graph = quantize_pt2e.prepare_pt2e(copy.deepcopy(exported).module(), quantizer)
    with torch.no_grad(), calibration_threads():
        for c in calib:
            graph(torch.from_numpy(normalise(c, crop.mean, crop.std, channels_last=True)))
    return quantize_pt2e.convert_pt2e(graph, fold_quantize=False), quantizer


_COMPUTE = ("conv", "linear", "addmm", "add.", "mul.", "pool", "cat")  # the operators a layer is quantised for


def quantisable_layers(graph) -> list[str]:
    """Layers of a converted graph with an operator the quantizer made int8 (a convolution, a
    linear layer, an addition, ...; not a reshape that merely passes int8 on), in the order the
    graph runs them (so consecutive layers are producer and consumer: ``head.reduce`` before
    ``head.fc``, which the names would sort the other way)."""
    found = {}
    for node in graph.graph.nodes:
        layer = node_layer(node)
        if layer and any(c in str(node.target) for c in _COMPUTE) and _quantised(node):
            found.setdefault(layer, None)
    return list(found)


def _is_qdq(node) -> bool:
    return any(q in str(node.target) for q in _QDQ)


def _quantised(node) -> bool:
    """An operator the quantizer annotated (made int8)."""
    annotation = node.meta.get("quantization_annotation")
    return annotation is not None and bool(getattr(annotation, "_annotated", True))


def layer_outputs(graph, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each layer's output in ``graph`` for input ``x``: its last node's value, after the
    quantise/dequantise pair that follows it where the layer's output is int8."""
    last = {}
    for node in graph.graph.nodes:
        layer = node_layer(node)
        if layer:
            last[layer] = node
    read = {}
    for layer, node in last.items():
        out = node
        while True:  # to the dequantised value: quantise -> dequantise (one dequantise per consumer, all equal)
            follow = [u for u in out.users if _is_qdq(u) and ("dequantize" in str(u.target)) != ("dequantize" in str(out.target))]
            if len(follow) != len(out.users) or not follow:
                break
            out = follow[0]
        read[out.name] = layer
    values = {}

    class Reader(torch.fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            if n.name in read:
                values[read[n.name]] = result.detach().clone()
            return result

    with torch.no_grad():
        Reader(graph).run(x)
    return values


def graph_predict(graph, crops: np.ndarray, crop: CropSpec, batch: int = 16) -> np.ndarray:
    """(N, K, 2) crop-normalised landmarks of uint8 RGB crops through an NHWC graph."""
    out = []
    with torch.no_grad():  # batches of 16: the fake quantisation's element-wise passes are fastest in cache
        for s in range(0, len(crops), batch):
            x = torch.from_numpy(normalise(crops[s : s + batch], crop.mean, crop.std, channels_last=True))
            out.append(graph(x).reshape(len(x), -1, 2).numpy())
    return np.concatenate(out)


@dataclass
class ValidationSet:
    """Prepared validation faces: crops, image->crop matrices, truth, the scheme's interocular pair."""
    crops: np.ndarray
    mats: np.ndarray
    truth: np.ndarray
    interocular: tuple[int, int]
    description: dict = field(default_factory=dict)

    def nme(self, uv: np.ndarray, size: int) -> float:
        from ..metrics import point_errors
        from ..preprocess import normalised_to_image

        pred = np.stack([normalised_to_image(p, m, size) for p, m in zip(uv, self.mats)])
        return float(point_errors(pred, self.truth, self.interocular).mean())


def validation_set(train_faces, state: dict, crop: CropSpec, interocular, faces: int | None = None) -> ValidationSet:
    """The checkpoint's held-out validation faces of the training list (its recipe's split),
    the first ``faces`` of them in list order when given."""
    from ..data.lists import FaceList
    from ..distill import split_seed
    from ..evaluate import crop_list
    from ..train import split_train_val

    recipe = state["recipe"]
    _, val = split_train_val(len(train_faces), float(recipe["val_fraction"]), split_seed(recipe))
    if faces is not None:
        val = val[:faces]
    if len(val) == 0:
        raise EdgemarkError(f"{train_faces.path}: the checkpoint's validation split is empty")
    subset = FaceList(train_faces.path, [train_faces.records[i] for i in val], points_elsewhere=train_faces.points_elsewhere)
    crops, mats = crop_list(subset, crop)
    truth = np.stack([r.landmarks for r in subset.records])
    return ValidationSet(crops, mats, truth, tuple(interocular),
                         {"list": Path(train_faces.path).name, "faces": int(len(val)), "split_seed": split_seed(recipe),
                          "val_fraction": float(recipe["val_fraction"])})


UNIT_JOIN = "+"  # a ranked unit of two consecutive layers: "features.17.block.2+head.reduce"


def ranking_units(layers: list[str]) -> list[str]:
    """What the debugger ranks: each layer, then each pair of consecutive layers (``a+b``). A
    float layer's input is still quantised where the layer before it is int8, and its output
    where the layer after it is, so the tensor between two layers stays float only when both
    do. On the shipped model the last block's output is that tensor: in the TFLite graph
    ``features.17.block.2`` and ``head.reduce`` float together take the drop from +0.070 to
    +0.033 pp, neither alone more than +0.004."""
    return list(layers) + [f"{a}{UNIT_JOIN}{b}" for a, b in zip(layers, layers[1:])]


def unit_layers(unit: str) -> list[str]:
    """The layers of a ranked unit (a layer, or ``a+b``)."""
    return unit.split(UNIT_JOIN)


@dataclass
class LayerRow:
    layer: str
    relative_error: float | None  # ||int8 - fp32|| / ||fp32|| of the layer's output on the calibration crops (torch only)
    cosine: float | None  # mean over crops of the cosine between the int8 and fp32 outputs (torch only)
    nme_alone_float: float | None = None  # validation NME of the int8 model with this layer alone float
    gain_pp: float | None = None  # all-int8 NME minus nme_alone_float, in percentage points


class Debugger:
    """The int8 model of a float network in torch, for one calibration set and one set of
    validation faces. Every graph is calibrated with the same crops in the same order as
    the exporter does it; observers' statistics depend only on the values they see, so a
    graph with other layers float takes them from the all-int8 graph's calibration instead
    of running it again."""

    def __init__(self, model: torch.nn.Module, crop: CropSpec, calib: np.ndarray, val: ValidationSet):
        from .tflite import ChannelsLastInput

        if calib is None or len(calib) == 0:
            raise EdgemarkError("the quantisation debugger needs calibration crops")
        self.crop, self.calib, self.val = crop, calib, val
        exported = export_graph(ChannelsLastInput(copy.deepcopy(model).cpu().eval()),
                                torch.zeros(2, crop.size, crop.size, 3), dynamic_batch=True)
        self.base = exported.module()
        # batch norms folded once here, as prepare_pt2e folds them (then it finds none: one layer's graph in ~1 s)
        require("torchao.quantization.pt2e.utils", "TFLite int8 quantisation")._fuse_conv_bn_(self.base)
        self.observers = self._prepare(())
        with torch.no_grad(), calibration_threads():
            for c in calib:
                self.observers(self._input(c))
        self.int8 = self.graph(())
        self.layers = quantisable_layers(self.int8)
        self.fp32 = self.graph(self.layers)  # every layer float: the network itself, batch norms folded
        self._nme = {frozenset(): self._measure(self.int8), frozenset(self.layers): self._measure(self.fp32)}
        self.int8_nme, self.fp32_nme = self._nme[frozenset()], self._nme[frozenset(self.layers)]

    def _input(self, crops: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(normalise(crops, self.crop.mean, self.crop.std, channels_last=True))

    def _prepare(self, float_layers):
        quantize_pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "TFLite int8 quantisation")
        return quantize_pt2e.prepare_pt2e(copy.deepcopy(self.base), int8_quantizer(float_layers))

    def graph(self, float_layers):
        """The converted (fake-quantised) graph with ``float_layers`` float."""
        quantize_pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "TFLite int8 quantisation")
        prepared = self._prepare(float_layers)
        calibrated, wanted = _observers(self.observers), _observers(prepared)
        if set(wanted) <= set(calibrated):
            for key, observer in wanted.items():
                observer.load_state_dict(calibrated[key].state_dict())
        else:  # an observer the all-int8 graph has not: calibrate this graph itself
            with torch.no_grad(), calibration_threads():
                for c in self.calib:
                    prepared(self._input(c))
        return quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)

    def _measure(self, graph) -> float:
        return self.val.nme(graph_predict(graph, self.val.crops, self.crop), self.crop.size)

    def nme(self, float_layers) -> float:
        """Validation NME of the int8 model with ``float_layers`` float (each combination measured once)."""
        key = frozenset(float_layers)
        if key not in self._nme:
            self._nme[key] = self._measure(self.graph(key))
        return self._nme[key]

    def layer_errors(self, crops: int = 64) -> dict[str, tuple[float, float]]:
        """Per layer: (relative error, mean cosine) of the all-int8 graph's output against fp32."""
        x = self._input(self.calib[:crops])
        q, f = layer_outputs(self.int8, x), layer_outputs(self.fp32, x)
        out = {}
        for layer in self.layers:
            a, b = q[layer].reshape(len(x), -1).double(), f[layer].reshape(len(x), -1).double()
            rel = float((a - b).norm() / b.norm().clamp_min(1e-12))
            cos = float(torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12).mean())
            out[layer] = (rel, cos)
        return out

    def table(self, with_nme: bool = True, progress=None, layers=None) -> list[LayerRow]:
        """One row per layer (``layers``: these alone, in model order) with its output error,
        then, with the NME column, one per pair of consecutive layers (``ranking_units``)."""
        errors = self.layer_errors()
        layers = [layer for layer in self.layers if layers is None or layer in layers]
        units = ranking_units(layers) if with_nme else layers
        rows = []
        for i, unit in enumerate(units):
            row = LayerRow(unit, *errors.get(unit, (None, None)))
            if with_nme:
                row.nme_alone_float = self.nme(unit_layers(unit))
                row.gain_pp = (self.int8_nme - row.nme_alone_float) * 100
            rows.append(row)
            if progress:
                progress(i + 1, len(units))
        return rows

    def choose(self, budget_pp: float, rows: list[LayerRow], progress=None) -> tuple[list[str], list[dict]]:
        """Greedy: the float set grows by the next unit (a layer or a pair) in order of gain
        (alone) until the validation drop of the combination against fp32 is within
        ``budget_pp``. Returns the float layers (model order) and each step measured."""
        chosen, steps = [], [{"float_layers": [], "nme": self.int8_nme, "drop_pp": self.drop_pp(())}]
        for unit in ranked(rows):
            if steps[-1]["drop_pp"] <= budget_pp:
                break
            new = [layer for layer in unit_layers(unit) if layer not in chosen]
            if not new:  # a pair whose layers are both float already
                continue
            chosen += new
            steps.append({"added": unit, "nme": self.nme(chosen), "drop_pp": self.drop_pp(chosen)})
            if progress:
                progress(steps[-1])
        return sorted(chosen, key=layer_sort_key), steps

    def drop_pp(self, float_layers) -> float:
        return (self.nme(float_layers) - self.fp32_nme) * 100


def ranked(rows: list[LayerRow]) -> list[str]:
    """Layers by NME gain when alone float, best first (ties and unmeasured ones by relative error)."""
    return [r.layer for r in sorted(rows, key=lambda r: (-(r.gain_pp if r.gain_pp is not None else -1e9), -(r.relative_error or 0.0)))]


def _observers(graph) -> dict:
    """(observed node, observer class) -> observer module of a prepared graph."""
    out = {}
    for node in graph.graph.nodes:
        if node.op == "call_module" and "activation_post_process" in str(node.target) and node.args:
            observer = graph.get_submodule(node.target)
            out[(node.args[0].name, type(observer).__name__)] = observer
    return out


def model_layers(model: torch.nn.Module, crop: CropSpec, calib: np.ndarray) -> list[str]:
    """The int8 layers of ``model`` (model order), as the debugger names them, without its
    calibration and measurements."""
    from .tflite import ChannelsLastInput

    exported = export_graph(ChannelsLastInput(copy.deepcopy(model).cpu().eval()), torch.zeros(2, crop.size, crop.size, 3),
                            dynamic_batch=True)
    graph, _ = quantize_graph(exported, crop, calib[:1])
    return quantisable_layers(graph)


def check_budget(nme_budget_pp: float) -> float:
    budget = float(nme_budget_pp)
    if not np.isfinite(budget) or budget < 0:
        raise EdgemarkError(f"--nme-budget {nme_budget_pp}: the allowed NME drop against fp32 is a number of percentage "
                            "points >= 0 (e.g. 0.05); an int8 model cannot be promised to beat fp32")
    return budget


def report(debugger: Debugger, rows: list[LayerRow], checkpoint: str, calib_info: dict | None, steps=None,
           budget_pp: float | None = None, float_layers=None) -> dict:
    """The debugger's findings as a JSON-able dict."""
    out = {"checkpoint": str(checkpoint), "target": "tflite", "precision": "int8",
           "quantizer": "torchao PT2E, litert-torch PT2EQuantizer (symmetric, per-channel weights, static), simulated in torch",
           "calibration": {k: v for k, v in (calib_info or {}).items() if k != "lines"},
           "validation": debugger.val.description, "layers_quantised": len(debugger.layers),
           "nme_fp32": debugger.fp32_nme, "nme_int8": debugger.int8_nme, "drop_pp": debugger.drop_pp(()),
           "rows": [vars(r) for r in rows], "ranked": ranked(rows)}
    if budget_pp is not None:
        out.update(nme_budget_pp=budget_pp, float_layers=list(float_layers or []), steps=steps)
    return out


def markdown(rep: dict, top: int | None = None) -> str:
    """The per-layer table, by NME gain when alone float (model order where no NME was measured)."""
    rows = sorted(rep["rows"], key=lambda r: rep["ranked"].index(r["layer"]))
    v = rep["validation"]
    lines = [f"Quantisation debugger: {rep['checkpoint']}, {rep['target']} {rep['precision']} ({rep['quantizer']})", "",
             f"Validation: {v['faces']} held-out faces of {v['list']} (val_fraction {v['val_fraction']}, split seed "
             f"{v['split_seed']}); calibration: {rep['calibration'].get('faces', '?')} crops of "
             f"{rep['calibration'].get('list', '?')} (seed {rep['calibration'].get('seed', '?')}).", "",
             *([f"Command: `{rep['command']}`", ""] if rep.get("command") else []),
             f"NME fp32 {rep['nme_fp32'] * 100:.3f} %, int8 {rep['nme_int8'] * 100:.3f} %: drop {rep['drop_pp']:+.3f} pp "
             f"({rep['layers_quantised']} layers int8).", "",
             "| rank | layer | rel. error | cosine | NME alone float % | gain pp |", "|---:|---|---:|---:|---:|---:|"]
    for i, r in enumerate(rows[:top] if top else rows, 1):
        nme = f"{r['nme_alone_float'] * 100:.3f}" if r["nme_alone_float"] is not None else "n/a"
        gain = f"{r['gain_pp']:+.3f}" if r["gain_pp"] is not None else "n/a"
        rel = f"{r['relative_error']:.4f}" if r["relative_error"] is not None else "n/a"
        cos = f"{r['cosine']:.5f}" if r["cosine"] is not None else "n/a"
        lines.append(f"| {i} | {r['layer']} | {rel} | {cos} | {nme} | {gain} |")
    if rep.get("steps"):
        lines += ["", f"Greedy choice for a budget of {rep['nme_budget_pp']} pp (each combination measured):", "",
                  "| step | layer added | NME % | drop pp |", "|---:|---|---:|---:|"]
        for i, s in enumerate(rep["steps"]):
            lines.append(f"| {i} | {s.get('added', '(all int8)')} | {s['nme'] * 100:.3f} | {s['drop_pp']:+.3f} |")
        lines += ["", f"Float layers: {', '.join(rep['float_layers']) or 'none'}"]
    return "\n".join(lines) + "\n"
