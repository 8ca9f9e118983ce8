"""export --nme-budget 0.02 for the shipped model, the search limited to the 12 layers that
quant-debug ranked first (quant-debug.json: same calibration crops, same validation faces, so
the same ranking), to save ranking the other 51 again on a busy 2-core machine."""
import json
from pathlib import Path

from edgemark.data.lists import read_list
from edgemark.export.pipeline import export_all
from edgemark.shipped import resolve_checkpoint

data = Path("/work/shared/datasets/cuhk_facepoint")
ranked = json.loads(Path(__file__).with_name("quant-debug.json").read_text())["ranked"][:12]
_, (result,) = export_all(resolve_checkpoint("mobilenetv2_96"), Path("runs/export/budget002"), ["tflite"], ["int8"],
                          read_list(data / "testImageList.txt"), read_list(data / "trainImageList.txt"),
                          nme_budget=0.02, float_candidates=ranked, on_step=lambda m, d, t: print(m, flush=True))
m = result.manifest
print(json.dumps({"float_layers": m["float_layers"], "validation": m["nme_budget"]["validation"],
                  "test": {k: m["accuracy"][k] for k in ("nme", "nme_drop_pp")}}, indent=1))
