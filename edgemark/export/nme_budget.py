"""``edgemark export --nme-budget PP``: the fewest layers of an int8 model (TFLite, ONNX,
OpenVINO) left float for its NME drop against fp32, on the checkpoint's validation faces and
measured in the artifact's own runtime, to be within PP percentage points. The layers are
ranked by the quantisation debugger (``quant_debug.py``); ``pipeline.export_all`` calls
``start`` before the first conversion and ``meet`` on each converted file."""

from __future__ import annotations

import copy
from pathlib import Path

from ..data.lists import FaceList
from ..errors import EdgemarkError
from ..io import output_to_log
from ..predictors.load import load_predictor
from .manifest import write_manifest
from .onnx import export_onnx
from .openvino import export_openvino
from .quant_debug import unit_layers
from .tflite import export_tflite

BUDGET_TARGETS = ("tflite", "onnx", "openvino")  # the int8 exporters that can leave chosen layers float
_RUNTIME = {"tflite": "ai-edge-litert", "onnx": "onnxruntime", "openvino": "OpenVINO"}
_EXPORTERS = {"tflite": export_tflite, "onnx": export_onnx, "openvino": export_openvino}


def check_budget_targets(targets, precisions) -> None:
    if not targets or set(targets) - set(BUDGET_TARGETS) or list(precisions) != ["int8"]:
        raise EdgemarkError(f"--nme-budget chooses layers to keep float in int8 models: it needs --precision int8 and "
                            f"--target among {', '.join(BUDGET_TARGETS)} (got --target {','.join(targets)} "
                            f"--precision {','.join(precisions)})")


class BudgetSearch:
    """``--nme-budget``: layers ranked by the validation NME each gains alone float, then added
    to the float set in that order. The ranking is the debugger's torch simulation for TFLite
    (whose quantiser it is), one real conversion per layer for ONNX and OpenVINO
    (``runtime_ranking.py``: their quantisers lose accuracy elsewhere), or a ``quant-debug
    --json`` report of that target (``rankings``). For TFLite the fewest layers whose
    combination is within budget in torch are the start; ONNX and OpenVINO (the head already
    float) start with none. ``meet`` then measures the real artifact in its runtime on the
    validation faces and adds the next-ranked layer, re-converting, until it is within budget."""

    def __init__(self, reference, state: dict, calib, train_faces: FaceList, budget_pp: float, on_step, candidates=None,
                 rankings: dict | None = None, manifest: dict | None = None):
        from .quant_debug import LayerRow, model_layers, validation_set

        self.budget_pp, self.crop, self.model, self.manifest = budget_pp, reference.crop, reference.model, manifest or {}
        self.calib = calib
        on_step("validation crops")
        self.val = validation_set(train_faces, state, reference.crop, reference.scheme.interocular)
        self.layers = model_layers(reference.model, reference.crop, calib)
        self._debugger = None
        self.on_step, self.candidates = on_step, candidates
        unknown = sorted(set(candidates or ()) - set(self.layers))
        if unknown:
            raise EdgemarkError(f"float candidates {', '.join(unknown)}: no int8 layer of this model "
                                f"(edgemark quant-debug lists them: {', '.join(self.layers[:3])}, ...)")
        self._rows, self.sources = {}, {}
        for target, ranking in (rankings or {}).items():
            rows = [LayerRow(**r) for r in ranking["rows"] if candidates is None or set(unit_layers(r["layer"])) <= set(candidates)]
            foreign = sorted({layer for r in rows for layer in unit_layers(r.layer)} - set(self.layers))
            if foreign or not rows:
                raise EdgemarkError(f"--ranking {ranking.get('path', '')}: its layers ({', '.join(foreign[:3]) or 'none'}) are not "
                                    "this model's int8 layers; rank this checkpoint with edgemark quant-debug --json")
            self._rows[target], self.sources[target] = rows, f"the report {ranking.get('path', '')}"
        self.fp32_nme = self.val.nme(reference.predict_crops(self.val.crops), reference.crop.size)
        self.float_layers, self.steps = {}, None

    @property
    def debugger(self):
        """The TFLite int8 model in torch (calibrated, measured on the validation faces): built
        only for a TFLite target, ONNX and OpenVINO rank and measure their own files."""
        if self._debugger is None:
            from .quant_debug import Debugger

            self.on_step(f"quantisation debugger: int8 in torch, {len(self.val.crops)} validation faces")
            self._debugger = Debugger(self.model, self.crop, self.calib, self.val)
        return self._debugger

    def rows(self, target: str):
        """``target``'s layers with their NME gain alone float (ranked once, when first needed)."""
        if target not in self._rows:
            layers = [layer for layer in self.layers if self.candidates is None or layer in self.candidates]
            if target == "tflite":
                self._rows[target] = self.debugger.table(
                    progress=lambda i, n: self.on_step(f"quantisation debugger: layer {i}/{n} alone float"), layers=layers)
                self.sources[target] = "the quantisation debugger (torch simulation of the TFLite quantiser)"
            else:
                from .runtime_ranking import RuntimeRanking

                self.on_step(f"{target}: all-int8 file")
                ranking = RuntimeRanking(target, self.model, self.crop, self.calib, self.val, self.manifest)
                self._rows[target] = ranking.table(layers, progress=lambda i, n: self.on_step(f"{target}: layer {i}/{n} alone float "
                                                                                              f"({_RUNTIME[target]})"))
                self.sources[target] = f"one {target} conversion per layer, measured in {_RUNTIME[target]}"
        return self._rows[target]

    def start(self, target: str) -> list[str]:
        """The float layers ``target``'s first conversion keeps (refusing a budget the torch simulation cannot meet)."""
        if target != "tflite":
            self.float_layers[target] = []
            return []
        self.steps = [{"float_layers": [], "nme": self.debugger.int8_nme, "drop_pp": self.debugger.drop_pp(())}]
        chosen = []
        if self.steps[0]["drop_pp"] > self.budget_pp:  # the ranking is needed only when all-int8 misses the budget
            rows = self.rows("tflite")
            chosen, self.steps = self.debugger.choose(
                self.budget_pp, rows, progress=lambda s: self.on_step(f"float set + {s['added']}: drop {s['drop_pp']:+.3f} pp (torch)"))
            if self.steps[-1]["drop_pp"] > self.budget_pp:  # only with candidates: every layer float is fp32 itself
                best = min(range(len(self.steps)), key=lambda i: self.steps[i]["drop_pp"])
                count = len({layer for r in rows for layer in unit_layers(r.layer)})
                raise EdgemarkError(f"--nme-budget {self.budget_pp}: not met even with all {count} candidate layers float "
                                    f"(validation drop in torch {self.steps[-1]['drop_pp']:+.3f} pp; the least, "
                                    f"{self.steps[best]['drop_pp']:+.3f} pp, with the first {best} of them by gain); "
                                    "allow a larger drop or more candidates")
        self.float_layers[target] = chosen
        return chosen

    def meet(self, target: str, partial: Path, manifest: dict, model, on_step) -> dict:
        from .quant_debug import ranked
        from ..profile.layers import layer_sort_key

        runtime, tries = _RUNTIME[target], []
        floats = self.float_layers[target]
        already = {"head.fc"} if target != "tflite" else set()  # the ONNX and OpenVINO exporters keep the head float anyway
        while True:
            predictor = load_predictor(partial)
            nme = self.val.nme(predictor.predict_crops(self.val.crops), predictor.crop.size)
            del predictor
            drop = (nme - self.fp32_nme) * 100
            tries.append({"float_layers": list(floats), "nme": nme, "drop_pp": drop})
            if drop <= self.budget_pp:
                break
            rows = self.rows(target)
            # the next unit (a layer, or two consecutive ones: runtime_ranking) that would make a layer float
            rest = [unit for unit in ranked(rows) if set(unit_layers(unit)) - set(floats) - already]
            if not rest:
                count = len({layer for r in rows for layer in unit_layers(r.layer)})
                which = f"all {count} candidate layers" if self.candidates else "every layer"
                raise EdgemarkError(f"--nme-budget {self.budget_pp}: not met even with {which} float (the {target} model's "
                                    f"validation drop is {drop:+.3f} pp against torch fp32); allow a larger drop")
            floats = sorted(set(floats) | set(unit_layers(rest[0])) - already, key=layer_sort_key)
            on_step(f"{runtime} drop {drop:+.3f} pp > {self.budget_pp}: {rest[0]} float too")
            with output_to_log(partial.parent / "export.log"):
                info = _EXPORTERS[target](copy.deepcopy(model).cpu().eval(), self.crop, partial, "int8",
                                          self.calib, float_layers=floats)
            manifest = write_manifest(partial, {k: v for k, v in {**manifest, **info}.items()
                                                if k not in ("files", "created", "manifest_version")})
        self.float_layers[target] = floats
        validation = {**self.val.description, "nme_fp32": self.fp32_nme, "nme": nme, "drop_pp": drop,
                      "runtime": f"the artifact itself ({runtime})"}
        record = {"validation": validation, "tries": tries,
                  "ranked": ranked(self._rows[target]) if target in self._rows else None, "ranking": self.sources.get(target)}
        if target == "tflite":
            record["torch_simulation"] = {"nme_fp32": self.debugger.fp32_nme, "nme_all_int8": self.debugger.int8_nme,
                                          "steps": self.steps}
        return write_manifest(partial, {k: v for k, v in manifest.items() if k not in ("files", "created", "manifest_version")}
                              | {"float_layers": list(floats), "nme_budget_pp": self.budget_pp, "nme_budget": record})
