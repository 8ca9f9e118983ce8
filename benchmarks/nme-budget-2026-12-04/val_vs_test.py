"""The int8 NME drop against torch fp32 on the validation split (the faces --nme-budget is set
on) and on the CUHK test list, per shipped int8 artifact and for the budget artifacts, with a
paired bootstrap; and how much of the gap the test list's easier faces explain (validation
faces reweighted to the test list's fp32-error deciles).

    EDGEMARK_DATA=... python benchmarks/nme-budget-2026-12-04/val_vs_test.py OUT.json [NAME=ARTIFACT ...]
"""
import json
import os
import sys

import numpy as np

from edgemark.checkpoint import load_checkpoint
from edgemark.data.lists import read_list
from edgemark.evaluate import crop_list
from edgemark.export.quant_debug import ValidationSet, validation_set
from edgemark.metrics import point_errors
from edgemark.predictors import load_predictor
from edgemark.preprocess import normalised_to_image
from edgemark.shipped import resolve_checkpoint

data = os.environ["EDGEMARK_DATA"]
out = sys.argv[1]
artifacts = {"tflite-int8 (shipped)": "mobilenetv2_96/tflite-int8", "onnx-int8 (shipped)": "mobilenetv2_96/onnx-int8",
             "openvino-int8 (shipped)": "mobilenetv2_96/openvino-int8"}
artifacts.update(dict(a.split("=", 1) for a in sys.argv[2:]))
reference = load_predictor("mobilenetv2_96/torch-fp32", threads=1)
state = load_checkpoint(resolve_checkpoint("mobilenetv2_96"))
sets = {"validation": validation_set(read_list(f"{data}/trainImageList.txt"), state, reference.crop, reference.scheme.interocular)}
test = read_list(f"{data}/testImageList.txt")
crops, mats = crop_list(test, reference.crop)
sets["test"] = ValidationSet(crops, mats, np.stack([r.landmarks for r in test.records]), tuple(reference.scheme.interocular))


def per_face(predictor, faces):
    uv = predictor.predict_crops(faces.crops)
    pred = np.stack([normalised_to_image(p, m, reference.crop.size) for p, m in zip(uv, faces.mats)])
    return point_errors(pred, faces.truth, faces.interocular)


fp32 = {name: per_face(reference, faces) for name, faces in sets.items()}
rng = np.random.default_rng(0)
rows = []
for label, spec in artifacts.items():
    predictor = load_predictor(spec, threads=1)
    row = {"artifact": label, "spec": spec}
    for name, faces in sets.items():
        drop = (per_face(predictor, faces) - fp32[name]) * 100
        boot = [drop[rng.integers(0, len(drop), len(drop))].mean() for _ in range(2000)]
        row[name] = {"faces": len(drop), "nme_fp32": float(fp32[name].mean() * 100), "drop_pp": float(drop.mean()),
                     "bootstrap_90": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))]}
        if name == "validation":
            val_drop = drop
    edges = np.quantile(fp32["test"], np.linspace(0, 1, 11))
    edges[0], edges[-1] = 0, np.inf
    bins = np.digitize(fp32["validation"], edges) - 1
    row["validation_reweighted_to_test_deciles_pp"] = float(np.mean([val_drop[bins == b].mean() for b in range(10) if (bins == b).any()]))
    rows.append(row)
    print(f"{label}: validation {row['validation']['drop_pp']:+.3f} pp, test {row['test']['drop_pp']:+.3f} pp "
          f"({row['test']['drop_pp'] / row['validation']['drop_pp']:.2f}x); validation reweighted {row['validation_reweighted_to_test_deciles_pp']:+.3f}")
with open(out, "w") as f:
    json.dump({"command": "python " + " ".join(sys.argv), "rows": rows}, f, indent=1)
