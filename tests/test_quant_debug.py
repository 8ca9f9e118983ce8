"""The quantisation debugger (edgemark quant-debug) and export --nme-budget: real PT2E int8
graphs run in torch, a real .tflite file run by ai-edge-litert, on a small trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgemark.checkpoint import load_checkpoint, load_model
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError
from edgemark.export.calibration import calibration_crops
from edgemark.export.pipeline import export_all
from edgemark.export.quant_debug import Debugger, export_graph, graph_predict, quantize_graph, ranked, unit_layers, validation_set
from edgemark.export.tflite import ChannelsLastInput
from edgemark.predictors.load import load_predictor
from edgemark.predictors.torch_predictor import TorchPredictor
from edgemark.preprocess import normalise
from edgemark.profile.layers import layer_of, module_from_onnx_name

from test_cli import edgemark

CALIB = 16
# the layers whose NME alone float the fixture measures (one int8 graph each): a first convolution, a
# depthwise one, a residual addition, the head's convolution and its linear layer
MEASURED = ["features.0", "features.1.block.0", "features.3", "head.reduce", "head.fc"]  # the order the network runs them


@pytest.fixture(scope="module")
def debugged(trained_checkpoint, small_lists):
    loaded, state = load_model(trained_checkpoint), load_checkpoint(trained_checkpoint)
    train = read_list(small_lists / "trainImageList.txt")
    calib, _ = calibration_crops(train, loaded.crop, CALIB, 0)
    val = validation_set(train, state, loaded.crop, loaded.scheme.interocular)
    debugger = Debugger(loaded.model, loaded.crop, calib, val)
    return debugger, debugger.table(layers=MEASURED), loaded


def test_debugger_layers_are_the_models_and_profiles_names(debugged, tmp_path):
    debugger, rows, loaded = debugged
    modules = dict(loaded.model.named_modules())
    residual = {name for name, m in modules.items() if getattr(m, "residual", False)}
    assert set(debugger.layers) <= set(modules) and {"features.0", "head.reduce", "head.fc"} <= set(debugger.layers)
    # in the order the network runs them: pairs of consecutive layers are producer and consumer
    assert debugger.layers[0] == "features.0" and debugger.layers[-2:] == ["head.reduce", "head.fc"]
    assert debugger.layers.index("features.3") == debugger.layers.index("features.3.block.2") + 1  # the residual add after its block
    assert residual and residual <= set(debugger.layers)  # each residual addition is a layer of its own
    # every convolution unit is one layer: a conv's parent Sequential (features.1.block.0), never the conv itself
    assert not any(isinstance(modules[layer], torch.nn.Conv2d) for layer in debugger.layers)
    # the names edgemark profile gives the same network's ONNX operators
    torch.onnx.export(loaded.model.eval(), (torch.zeros(1, 3, loaded.crop.size, loaded.crop.size),), str(tmp_path / "m.onnx"),
                      dynamo=False)
    import onnx

    profiled = {layer_of(*module_from_onnx_name(n.name)) for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert set(debugger.layers) <= profiled, set(debugger.layers) - profiled


def test_debugger_measures_each_layer_against_fp32(debugged):
    debugger, rows, loaded = debugged
    crops = debugger.val.crops
    with torch.no_grad():
        reference = loaded.model(torch.from_numpy(normalise(crops, loaded.crop.mean, loaded.crop.std))).numpy()
    # the all-float graph is the network; the all-int8 one is not
    assert np.abs(graph_predict(debugger.fp32, crops, loaded.crop) - reference).max() < 1e-4
    assert np.abs(graph_predict(debugger.int8, crops, loaded.crop) - reference).max() > 1e-4
    assert debugger.fp32_nme == pytest.approx(debugger.val.nme(reference, loaded.crop.size), abs=1e-6)
    # each layer with its output error, then each pair of consecutive ones (NME only)
    assert [r.layer for r in rows] == MEASURED + [f"{a}+{b}" for a, b in zip(MEASURED, MEASURED[1:])]
    for r in rows:
        if "+" not in r.layer:
            assert 0 < r.relative_error < 1 and 0.5 < r.cosine <= 1 + 1e-9, r
        else:
            assert r.relative_error is None and r.nme_alone_float == pytest.approx(debugger.nme(r.layer.split("+")))
        assert r.gain_pp == pytest.approx((debugger.int8_nme - r.nme_alone_float) * 100)
    gains = [next(r.gain_pp for r in rows if r.layer == layer) for layer in ranked(rows)]
    assert gains == sorted(gains, reverse=True)
    # a graph that takes its calibration from the all-int8 graph's observers is the graph calibrated itself
    top = ranked(rows)[0]
    graph, _ = quantize_graph(export_graph(ChannelsLastInput(loaded.model), torch.zeros(2, loaded.crop.size, loaded.crop.size, 3),
                                           dynamic_batch=True), loaded.crop, debugger.calib, unit_layers(top))  # a pair: both float
    own = debugger.val.nme(graph_predict(graph, crops, loaded.crop), loaded.crop.size)
    assert own == pytest.approx(next(r.nme_alone_float for r in rows if r.layer == top), abs=1e-7)


def test_greedy_choice_measures_the_combination(debugged):
    debugger, rows, _ = debugged
    budget = max(0.0, debugger.drop_pp(()) / 2)
    chosen, steps = debugger.choose(budget, rows)
    assert steps[-1]["drop_pp"] <= budget and all(s["drop_pp"] > budget for s in steps[:-1])
    # units in ranked order, a pair skipped when both its layers are float already
    floats, expected = set(), []
    for unit in ranked(rows):
        if len(expected) == len(steps) - 1:
            break
        if set(unit.split("+")) - floats:
            expected.append(unit)
            floats |= set(unit.split("+"))
    assert [s["added"] for s in steps[1:]] == expected and set(chosen) == floats
    assert steps[-1]["nme"] == pytest.approx(debugger.nme(chosen))


def test_nme_budget_export_is_a_real_tflite_within_budget(debugged, trained_checkpoint, small_lists, tmp_path):
    debugger, rows, loaded = debugged
    # a budget the all-int8 model misses in torch, so some layers must stay float
    budget = round(max(debugger.drop_pp(()) / 2, 0.0), 4)
    train, test = read_list(small_lists / "trainImageList.txt"), read_list(small_lists / "testImageList.txt")
    # the search over the fixture's layers only (one int8 graph each to rank them), the head's linear layer among them
    _, results = export_all(trained_checkpoint, tmp_path / "out", ["tflite"], ["int8"], test, train, calib_size=CALIB,
                            nme_budget=budget, float_candidates=MEASURED)
    (result,) = results
    manifest = result.manifest
    assert manifest["nme_budget_pp"] == budget and isinstance(manifest["float_layers"], list)
    assert set(manifest["float_layers"]) <= set(MEASURED)
    assert manifest["nme_budget"]["ranked"] in (None, ranked(rows))  # the same ranking as the fixture's
    if debugger.drop_pp(()) > 0:
        assert manifest["float_layers"], "the torch simulation said some layers must stay float"
    validation = manifest["nme_budget"]["validation"]
    assert validation["drop_pp"] <= budget and validation["faces"] == len(debugger.val.crops)
    # measured again here, in ai-edge-litert, on the same validation faces
    predictor = load_predictor(result.folder)
    assert "LiteRT" in predictor.description and predictor.input["dtype"] == np.int8
    nme = debugger.val.nme(predictor.predict_crops(debugger.val.crops), loaded.crop.size)
    fp32 = debugger.val.nme(TorchPredictor(trained_checkpoint).predict_crops(debugger.val.crops), loaded.crop.size)
    assert (nme - fp32) * 100 == pytest.approx(validation["drop_pp"], abs=1e-6) and (nme - fp32) * 100 <= budget
    assert manifest["accuracy"]["faces"] == len(test)  # and the usual test-list check ran
    # the float layers are float in the file: float32 weights, one conv/FC per float conv/FC layer
    floats = [t for t in predictor.interpreter.get_tensor_details() if t["dtype"] == np.float32 and len(t["shape"]) >= 2]
    computes = [layer for layer in manifest["float_layers"] if not any(layer == r for r in _residual_names(loaded.model))]
    assert len(floats) >= len(computes)


def _residual_names(model):
    return [name for name, m in model.named_modules() if getattr(m, "residual", False)]


def test_bad_budgets_and_targets_are_refused(trained_checkpoint, small_lists, tmp_path):
    train = read_list(small_lists / "trainImageList.txt")
    with pytest.raises(EdgemarkError, match="percentage points >= 0"):
        export_all(trained_checkpoint, tmp_path / "a", ["tflite"], ["int8"], None, train, nme_budget=-0.1)
    with pytest.raises(EdgemarkError, match="needs --precision int8 and --target among tflite, onnx, openvino"):
        export_all(trained_checkpoint, tmp_path / "b", ["ncnn"], ["int8"], None, train, nme_budget=0.05)
    with pytest.raises(EdgemarkError, match="float candidates features.99: no int8 layer of this model"):
        export_all(trained_checkpoint, tmp_path / "d", ["tflite"], ["int8"], None, train, calib_size=4, nme_budget=0.0,
                   float_candidates=["features.99", "head.fc"])
    # a budget no float set of the candidates meets is refused before any conversion, with the best it found
    with pytest.raises(EdgemarkError, match=r"not met even with all 1 candidate layers float \(validation drop in torch [+-]"):
        export_all(trained_checkpoint, tmp_path / "e", ["tflite"], ["int8"], None, train, calib_size=CALIB, nme_budget=0.0,
                   float_candidates=["features.1.block.0"])
    assert not list((tmp_path / "e").glob("*tflite*/model.tflite"))
    for args, message in ((["--nme-budget", "-1"], "percentage points >= 0"), (["--nme-budget", "nan"], "percentage points >= 0"),
                          (["--nme-budget", "0.05", "--precision", "fp32"], "needs --precision int8 and --target among"),
                          (["--ranking", "q.json"], "--ranking orders the layers --nme-budget keeps float")):
        done = edgemark("export", "--checkpoint", trained_checkpoint, "--target", "tflite", "--precision", "int8", *args,
                        "--out", tmp_path / "c", "--data", small_lists)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    done = edgemark("quant-debug", trained_checkpoint, "--target", "ncnn", "--data", small_lists)
    assert done.returncode == 2 and "ranks tflite, onnx or openvino int8 layers" in done.stderr


def test_quant_debug_cli_writes_its_table(trained_checkpoint, small_lists, tmp_path):
    done = edgemark("quant-debug", trained_checkpoint, "--no-nme", "--faces", "10", "--calib-size", "8", "--data", small_lists,
                    "--json", tmp_path / "q.json", "--md", tmp_path / "q.md", "--top", "3")
    assert done.returncode == 0, done.stderr
    rep = json.loads((tmp_path / "q.json").read_text())
    assert rep["validation"]["faces"] == 10 and rep["calibration"]["faces"] == 8 and len(rep["rows"]) == rep["layers_quantised"]
    assert all(r["nme_alone_float"] is None for r in rep["rows"])
    md = (tmp_path / "q.md").read_text()
    assert "| rank | layer | rel. error | cosine |" in md and "head.fc" in md and md.count("\n| ") - 1 == len(rep["rows"])
    assert "Command: `edgemark quant-debug " in md  # the table says what produced it


FLOAT_LAYER = "features.1.block.0"  # a depthwise convolution unit


def test_float_layers_stay_float_in_onnx_and_openvino_files(debugged, tmp_path):
    """ONNX nodes_to_exclude and NNCF's ignored_scope, reached by the profile's layer names:
    the chosen layer's convolution keeps float weights, its neighbours' are int8."""
    import onnx
    import openvino as ov

    from edgemark.export.onnx import export_onnx
    from edgemark.export.openvino import _op_layer, export_openvino

    debugger, _, loaded = debugged
    for float_layers in ([], [FLOAT_LAYER]):
        folder = tmp_path / f"f{len(float_layers)}"
        folder.mkdir()
        info = export_onnx(loaded.model, loaded.crop, folder, "int8", debugger.calib, float_layers=float_layers)
        graph = onnx.load(str(folder / "model.onnx")).graph
        made_by = {out: n.op_type for n in graph.node for out in n.output}
        weights = {layer_of(*module_from_onnx_name(n.name)): made_by.get(n.input[1], "initializer")
                   for n in graph.node if n.op_type == "Conv"}
        assert weights[FLOAT_LAYER] == ("initializer" if float_layers else "DequantizeLinear"), weights
        assert weights["features.1.block.1"] == weights["features.2.block.0"] == "DequantizeLinear"
        assert ("left float" in info["converter"]) == bool(float_layers)
        export_openvino(loaded.model, loaded.crop, folder, "int8", debugger.calib, float_layers=float_layers)
        model = ov.Core().read_model(str(folder / "model.xml"))
        kinds = {_op_layer(op): op.input(1).get_source_output().get_node().get_type_name() for op in model.get_ops()
                 if op.get_type_name() in ("Convolution", "GroupConvolution")}
        assert kinds[FLOAT_LAYER] == ("Constant" if float_layers else "Multiply"), kinds  # Multiply: int8 weights dequantised
        assert kinds["features.1.block.1"] == kinds["features.2.block.0"] == "Multiply"
    with pytest.raises(ValueError, match="features.99"):
        export_onnx(loaded.model, loaded.crop, tmp_path / "f0", "int8", debugger.calib, float_layers=["features.99"])


def test_nme_budget_for_onnx_and_openvino_measures_each_runtime(debugged, trained_checkpoint, small_lists, tmp_path):
    """--nme-budget on ONNX and OpenVINO: all-int8 (the head float, as always) first, then layers
    float in ranking order (a given report's, else one conversion per layer in the runtime),
    each file measured in its own runtime, until within budget."""
    from edgemark.export.runtime_ranking import RuntimeRanking

    debugger, rows, loaded = debugged
    train = read_list(small_lists / "trainImageList.txt")
    # a ranking as quant-debug --json writes it, its order set here: the head's convolution first
    rank = {"path": "r.json", "rows": [{**vars(r), "gain_pp": 1.0 if r.layer == "head.reduce" else r.gain_pp} for r in rows]}
    _, (onnx_loose, ov_loose) = export_all(trained_checkpoint, tmp_path / "loose", ["onnx", "openvino"], ["int8"], None, train,
                                           calib_size=CALIB, nme_budget=100.0, rankings={"onnx": rank, "openvino": rank})
    for r in (onnx_loose, ov_loose):  # within budget as it is: nothing float beyond the head
        assert r.manifest["float_layers"] == [] and len(r.manifest["nme_budget"]["tries"]) == 1
    runtimes = {"onnx-int8": "onnxruntime", "openvino-int8": "OpenVINO"}
    assert [runtimes[r.name] in r.manifest["nme_budget"]["validation"]["runtime"] for r in (onnx_loose, ov_loose)] == [True, True]
    first = onnx_loose.manifest["nme_budget"]["tries"][0]["drop_pp"]
    budget = round(first - 0.002, 4)  # the all-int8 file misses it: one layer at least must stay float
    _, (result,) = export_all(trained_checkpoint, tmp_path / "tight", ["onnx"], ["int8"], None, train, calib_size=CALIB,
                              nme_budget=budget, float_candidates=MEASURED, rankings={"onnx": rank})
    tries = result.manifest["nme_budget"]["tries"]
    assert tries[0]["drop_pp"] == pytest.approx(first, abs=1e-9) and all(t["drop_pp"] > budget for t in tries[:-1])
    assert tries[-1]["drop_pp"] <= budget and result.manifest["float_layers"] == tries[-1]["float_layers"]
    order = [layer for layer in ranked([type(rows[0])(**r) for r in rank["rows"]]) if layer != "head.fc"]
    assert order[0] == "head.reduce" and tries[1]["float_layers"] == ["head.reduce"]
    assert sorted(result.manifest["float_layers"]) == sorted(order[: len(tries) - 1])
    assert result.manifest["nme_budget"]["ranking"] == "the report r.json"
    # measured again here, in onnxruntime, on the same validation faces
    predictor = load_predictor(result.folder)
    nme = debugger.val.nme(predictor.predict_crops(debugger.val.crops), loaded.crop.size)
    fp32 = debugger.val.nme(TorchPredictor(trained_checkpoint).predict_crops(debugger.val.crops), loaded.crop.size)
    assert (nme - fp32) * 100 == pytest.approx(tries[-1]["drop_pp"], abs=1e-6)
    # no report: ranked in onnxruntime itself, one conversion per candidate (the head's linear layer is float already)
    _, (own,) = export_all(trained_checkpoint, tmp_path / "own", ["onnx"], ["int8"], None, train, calib_size=CALIB,
                           nme_budget=budget, float_candidates=MEASURED)
    record = own.manifest["nme_budget"]
    assert record["ranking"] == "one onnx conversion per layer, measured in onnxruntime"
    singles = [layer for layer in MEASURED if layer != "head.fc"]
    assert sorted(record["ranked"]) == sorted(singles + [f"{a}+{b}" for a, b in zip(singles, singles[1:])])
    for previous, now in zip(record["tries"], record["tries"][1:]):  # each try adds the next ranked unit's new layers
        added = set(now["float_layers"]) - set(previous["float_layers"])
        unit = next(u for u in record["ranked"] if set(u.split("+")) - set(previous["float_layers"]))
        assert added == set(unit.split("+")) - set(previous["float_layers"])
    assert record["tries"][-1]["drop_pp"] <= budget
    # the ranking's alone-float NME is a real file's: converting it again gives the same NME
    manifest = {k: v for k, v in own.manifest.items() if k not in ("files", "created", "manifest_version", "nme_budget")}
    ranking = RuntimeRanking("onnx", loaded.model, loaded.crop, debugger.calib, debugger.val, manifest)
    assert ranking.int8_nme == pytest.approx(record["tries"][0]["nme"], abs=1e-9)
    (row,) = ranking.table(["head.fc", singles[0]])
    assert row.relative_error is None and row.gain_pp == pytest.approx((ranking.int8_nme - row.nme_alone_float) * 100)


def test_quant_debug_ranks_onnx_layers_in_onnxruntime(trained_checkpoint, small_lists, tmp_path):
    done = edgemark("quant-debug", trained_checkpoint, "--target", "onnx", "--faces", "10", "--calib-size", "8", "--data", small_lists,
                    "--layers", ",".join(MEASURED), "--json", tmp_path / "q.json", "--md", tmp_path / "q.md", "--top", "3", timeout=900)
    assert done.returncode == 0, done.stderr
    rep = json.loads((tmp_path / "q.json").read_text())
    assert rep["target"] == "onnx" and "onnxruntime" in rep["quantizer"] and rep["already_float"] == ["head.fc"]
    assert rep["layers_quantised"] > len(MEASURED) and "head.fc" not in rep["ranked"]
    # each layer alone, then each pair of consecutive ones (the tensor between them float too), the head's linear layer
    # left out: the ONNX exporter keeps it float anyway
    singles = [layer for layer in MEASURED if layer != "head.fc"]
    assert [r["layer"] for r in rep["rows"]] == singles + [f"{a}+{b}" for a, b in zip(singles, singles[1:])]
    assert all(r["relative_error"] is None and r["nme_alone_float"] is not None for r in rep["rows"])
    assert rep["drop_pp"] == pytest.approx((rep["nme_int8"] - rep["nme_fp32"]) * 100)
    assert "| 1 | " in (tmp_path / "q.md").read_text() and "n/a" in (tmp_path / "q.md").read_text()
    for args, message in ((["--no-nme"], "--no-nme: the output-error columns"), (["--nme-budget", "0.05"], "edgemark export --target onnx"),
                          (["--layers", "features.99"], "--layers: features.99: not an int8 layer")):
        bad = edgemark("quant-debug", trained_checkpoint, "--target", "onnx", *args, "--data", small_lists)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def test_ranking_file_errors_name_the_file(trained_checkpoint, small_lists, tmp_path):
    (tmp_path / "bad.json").write_text('{"rows": [\n  {"layer": "head.fc",}\n]}')
    (tmp_path / "no-nme.json").write_text(json.dumps({"rows": [{"layer": "head.fc", "gain_pp": None}]}))
    (tmp_path / "other.json").write_text(json.dumps({"checkpoint_sha256": "0" * 64, "rows": [{"layer": "head.fc", "gain_pp": 0.1}]}))
    (tmp_path / "tflite.json").write_text(json.dumps({"target": "tflite", "rows": [{"layer": "head.fc", "gain_pp": 0.1}]}))
    for name, message in (("bad.json", "bad.json:2: not JSON"), ("no-nme.json", "written with --no-nme"),
                          ("other.json", "ranks another checkpoint's layers"), ("missing.json", "no such file"),
                          ("tflite.json", "ranks tflite layers, not exported here (--target onnx)")):
        done = edgemark("export", "--checkpoint", trained_checkpoint, "--target", "onnx", "--precision", "int8", "--nme-budget", "0.05",
                        "--ranking", tmp_path / name, "--out", tmp_path / "o", "--data", small_lists)
        assert done.returncode == 2 and message in done.stderr, (name, done.stderr)


def test_bench_checks_the_budget_on_its_validation_faces(debugged, trained_checkpoint, small_lists, tmp_path):
    """edgemark bench measures a --nme-budget artifact's drop again, in its runtime, on the faces
    the budget was set on, and says when it is over (here: a manifest that promises less)."""
    from edgemark.export.manifest import read_manifest, write_manifest

    train, test = read_list(small_lists / "trainImageList.txt"), read_list(small_lists / "testImageList.txt")
    out = tmp_path / "export"
    _, (result,) = export_all(trained_checkpoint, out, ["onnx"], ["int8"], test, train, calib_size=CALIB, nme_budget=100.0,
                              rankings={"onnx": {"rows": [vars(r) for r in debugged[1]]}})
    drop = result.manifest["nme_budget"]["validation"]["drop_pp"]
    # a copy whose manifest promises a budget its file does not meet
    import shutil

    shutil.copytree(result.folder, out / "onnx-int8-tight")
    _, manifest = read_manifest(out / "onnx-int8-tight")
    write_manifest(out / "onnx-int8-tight", {k: v for k, v in manifest.items() if k not in ("files", "created", "manifest_version")}
                   | {"nme_budget_pp": round(drop - 0.01, 4)})
    done = edgemark("bench", "--model", out, "--target", "onnx", "--precision", "int8", "--threads", "1", "--warmup", "1",
                    "--min-runs", "5", "--min-seconds", "0.05", "--detector", "none", "--jitter-faces", "0", "--data", small_lists,
                    "--out", tmp_path / "bench", timeout=600)
    assert done.returncode == 0, done.stderr
    checks = {c["artifact"]: c for c in json.loads((tmp_path / "bench" / "results.json").read_text())["budget_checks"]}
    assert set(checks) == {"onnx-int8", "onnx-int8-tight"}
    for c in checks.values():
        assert c["drop_pp"] == pytest.approx(drop, abs=1e-6) and c["faces"] == len(debugged[0].val.crops)
        assert c["test_drop_pp"] is not None and "onnxruntime" in c["runtime"]
    assert checks["onnx-int8"]["within"] and not checks["onnx-int8-tight"]["within"]
    md = (tmp_path / "bench" / "results.md").read_text()
    assert "NME budgets (`export --nme-budget`)" in md and "| onnx-int8-tight | 0 |" in md and "**no**" in md
    assert "budget onnx-int8-tight: validation drop" in done.stdout and "over" in done.stdout
    page = (tmp_path / "bench" / "results.html").read_text()
    assert '<table id="budgets">' in page and page.count('data-key="within">NO<') == 1 and page.count('data-key="within">yes<') == 1


def test_int8_calibration_does_not_depend_on_the_thread_count(small_lists):
    """The same checkpoint and calibration crops give the same int8 model on a 1-core and a
    many-core machine (the histogram observers once summed in a thread-dependent order: the
    shipped model's scales differed between 1 and 2 threads)."""
    from edgemark.shipped import resolve_checkpoint

    loaded = load_model(resolve_checkpoint("mobilenetv2_96"))
    calib, _ = calibration_crops(read_list(small_lists / "trainImageList.txt"), loaded.crop, 64, 0)
    exported = export_graph(ChannelsLastInput(loaded.model), torch.zeros(2, loaded.crop.size, loaded.crop.size, 3), dynamic_batch=True)
    before, scales = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            graph, _ = quantize_graph(exported, loaded.crop, calib)
            scales.append([tuple(float(a) for a in n.args[1:3]) for n in graph.graph.nodes
                           if "quantize_per_tensor" in str(n.target) and all(isinstance(a, (int, float)) for a in n.args[1:3])])
    finally:
        torch.set_num_threads(before)
    assert len(scales[0]) > 50, "no activation quantisation parameters found in the graph"
    assert scales[0] == scales[1]
