#!/usr/bin/env bash
# Issue 30's GPU check: `edgemark bench --device gpu` on the shipped model, then two training
# epochs of the shipped recipe on CUDA (fp32 and bf16 autocast) and on the CPU, on a carried
# subset of the CUHK faces (two: on CUDA the first epoch pays ~30 s once, for CUDA's and cuDNN's
# start and autotuning; the second is the steady epoch time). Two steps:
#
#   1. here, with the data set (EDGEMARK_DATA), write the subset into an ignored folder:
#        tools/gpu_check.sh prepare            # runs/gpu_check_data: 2,000 training faces (images at half size) + 200 test faces, ~10 MB
#   2. on the GPU machine (carry runs/gpu_check_data), from the repository root:
#        tools/gpu_check.sh run                # results in $OUT (the device tool's folder) or runs/gpu_check
#
# Without CUDA (`run` here) every GPU part is skipped with a clear "no CUDA" line and the rest
# runs to the end: the bench's named refusals are checked, and a short CPU epoch is trained.
# The working tree travels with the carried folder, 64 MiB in all (the tracked tree is ~50 MB): so the training
# images are scaled down (GPU_CHECK_SCALE, 0.5; boxes and landmarks with them): the epoch's work per face is the
# same (crops are cut at the model's 96 px), its accuracy is not the shipped model's. Test images stay whole (the
# bench's NME on them compares with the CPU's).
# Settings (environment): PYTHON (.venv/bin/python if here, else python3), GPU_CHECK_DATA, GPU_CHECK_TRAIN (2000),
# GPU_CHECK_TEST (200), GPU_CHECK_SCALE (0.5), GPU_CHECK_BATCHES (1,8,64,256,1024), GPU_CHECK_CPU_SUBSET (faces
# for the CPU epoch: all carried faces on a GPU machine, 300 without CUDA). With $OUT set (the device tool), the
# summary, the bench's results.json and gpu.md, each run's metrics.csv and the log are copied there.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-run}
DATA=${GPU_CHECK_DATA:-runs/gpu_check_data}
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
RESULTS=runs/gpu_check
SHIPPED_RECIPE=recipes/mobilenetv2_96.yaml

say() { printf '\n== %s\n' "$*"; }

prepare() {
    local source=${EDGEMARK_DATA:?set EDGEMARK_DATA to the CUHK data set (trainImageList.txt, testImageList.txt, images)}
    "$PYTHON" - "$source" "$DATA" "${GPU_CHECK_TRAIN:-2000}" "${GPU_CHECK_TEST:-200}" "${GPU_CHECK_SCALE:-0.5}" <<'EOF'
"""The first and last N/2 lines of each list (both image folders: the lists run lfw_5590
then net_7876), with the images they name beside them: test images as they are, training
images (and their boxes and landmarks) scaled by SCALE."""
import shutil
import sys
from pathlib import Path

import cv2

source, out, n_train, n_test, scale = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if out.exists():
    shutil.rmtree(out)
out.mkdir(parents=True)
total = 0
for name, n, factor in (("trainImageList.txt", n_train, scale), ("testImageList.txt", n_test, 1.0)):
    lines = [l for l in (source / name).read_text().splitlines() if l.strip()]
    picked = lines[: n // 2] + lines[-(n - n // 2):]
    written = []
    for line in picked:
        rel, *numbers = line.split()
        rel = rel.replace("\\", "/")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if factor == 1.0:
            shutil.copy2(source / rel, target)
        else:
            image = cv2.imread(str(source / rel))
            small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(target), small, [cv2.IMWRITE_JPEG_QUALITY, 90])
            numbers = [f"{float(v) * factor:.6f}" for v in numbers]
        total += target.stat().st_size
        written.append(" ".join([rel, *numbers]))
    (out / name).write_text("\n".join(written) + "\n")
print(f"{out}: {n_train} training faces (images x{scale}) + {n_test} test faces, {total / 2**20:.1f} MiB of images")
EOF
    du -sh "$DATA"
}

run() {
    rm -rf "$RESULTS"/train_* "$RESULTS"/bench_gpu  # an earlier check's runs (training refuses a folder that holds one)
    mkdir -p "$RESULTS"
    export PYTHONUNBUFFERED=1
    [ -f "$DATA/trainImageList.txt" ] || { echo "no $DATA: run 'tools/gpu_check.sh prepare' first (where the data set is) and carry it"; exit 1; }
    say "machine"
    nvidia-smi 2>&1 | head -20 || echo "no nvidia-smi here"
    "$PYTHON" - <<'EOF'
import importlib.util, torch
print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, CUDA available {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("device 0:", torch.cuda.get_device_name(0), "bf16 supported:", torch.cuda.is_bf16_supported())
for m in ("onnx", "onnxruntime", "openvino", "ai_edge_litert", "ncnn", "executorch", "pynvml"):
    print(f"  {m}: {'present' if importlib.util.find_spec(m) else 'absent'}")
try:
    import onnxruntime as ort
    print("onnxruntime providers:", ort.get_available_providers())
except ImportError:
    pass
EOF
    CUDA=$("$PYTHON" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)

    say "bench --device gpu (shipped model)"
    if [ "$CUDA" = 1 ]; then
        "$PYTHON" -m edgemark bench --device gpu --data "$DATA" --accuracy-faces 200 --batch "${GPU_CHECK_BATCHES:-1,8,64,256,1024}" \
            --warmup 10 --min-runs 50 --min-seconds 1 --detector none --out "$RESULTS/bench_gpu"
        echo "bench exit status $?"
    else
        echo "no CUDA here: the GPU bench is skipped; checking that --device gpu is refused by name instead"
        "$PYTHON" -m edgemark bench --device gpu --data "$DATA" --accuracy-faces 50 --detector none --out "$RESULTS/bench_gpu" > "$RESULTS/bench_gpu.log" 2>&1
        status=$?
        if [ "$status" = 2 ] && grep -q "nothing could be measured on gpu" "$RESULTS/bench_gpu.log" && ! grep -q Traceback "$RESULTS/bench_gpu.log"; then
            echo "ok: exit 2, every row says why (results in $RESULTS/bench_gpu/results.json)"
        else
            echo "UNEXPECTED: bench --device gpu without CUDA exited $status"; tail -5 "$RESULTS/bench_gpu.log"
        fi
    fi

    say "training: two epochs of $SHIPPED_RECIPE"
    if [ "$CUDA" = 1 ]; then
        for amp in off bf16; do
            "$PYTHON" -m edgemark train --recipe "$SHIPPED_RECIPE" --data "$DATA" --epochs 2 --device gpu --amp "$amp" \
                --cache "$RESULTS/cache" --out "$RESULTS/train_gpu_$amp"
            echo "train (gpu, amp $amp) exit status $?"
        done
    else
        echo "no CUDA here: the GPU training epochs are skipped"
    fi
    "$PYTHON" -m edgemark train --recipe "$SHIPPED_RECIPE" --data "$DATA" --epochs 2 --device cpu \
        --subset "${GPU_CHECK_CPU_SUBSET:-$([ "$CUDA" = 1 ] && echo 100000 || echo 300)}" --cache "$RESULTS/cache" --out "$RESULTS/train_cpu"
    echo "train (cpu) exit status $?"

    say "summary"
    "$PYTHON" - "$RESULTS" <<'EOF'
import csv, json, sys
from pathlib import Path

out = Path(sys.argv[1])
lines = ["# GPU check (tools/gpu_check.sh)", ""]
bench = out / "bench_gpu" / "results.json"
if bench.exists():
    r = json.loads(bench.read_text())
    for g in (r.get("machine") or {}).get("gpus") or []:
        lines.append(f"GPU: {g.get('name')}, driver {g.get('driver_version')}, SM clock {g.get('clocks_sm')}/{g.get('clocks_max_sm')} MHz")
    for row in r["rows"]:
        lines.append(f"- {row['artifact']} batch {row['batch']}: p50 {row['p50_ms']:.4f} ms/img, {row['throughput_ips']:.0f} img/s "
                     f"({row.get('provider')}), NME {row.get('nme')}, process GPU {row.get('process_gpu_mib')} MiB")
    for s in r["skipped"]:
        lines.append(f"- not measured: {s['artifact']} batch {s['batch']}: {s['reason']}")
    if (out / "bench_gpu" / "gpu.md").exists():
        lines += ["", (out / "bench_gpu" / "gpu.md").read_text()]
for run in sorted(out.glob("train_*")):
    metrics = run / "metrics.csv"
    if metrics.exists():
        rows = list(csv.DictReader(metrics.open()))
        times = ", ".join(f"{float(r['seconds']):.1f} s" for r in rows)
        lines.append(f"- {run.name}: epochs {times}; val NME after the last {float(rows[-1]['val_nme']) * 100:.2f} %")
    else:
        lines.append(f"- {run.name}: no metrics (failed)")
lines += ["", "Each run trains on 90 % of its faces (the recipe's val_fraction 0.1): the carried list's, or --subset's for train_cpu. "
          "The shipped recipe trains on 9,000 faces (10,000 x 0.9): an epoch there takes about 9,000 / (faces trained here) times the "
          "last epoch's time above (the crop cache is built once, before the first epoch, and is in neither; on CUDA the first "
          "epoch also pays CUDA's and cuDNN's start once)."]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
    if [ -n "${OUT:-}" ]; then  # the device tool brings back at most 8 files from $OUT
        cp "$RESULTS/summary.md" "$OUT/" 2>/dev/null
        cp "$RESULTS/bench_gpu/results.json" "$OUT/bench_results.json" 2>/dev/null
        cp "$RESULTS/bench_gpu/gpu.md" "$OUT/gpu.md" 2>/dev/null
        for run in "$RESULTS"/train_*; do cp "$run/metrics.csv" "$OUT/$(basename "$run")_metrics.csv" 2>/dev/null; done
    fi
}

case "$MODE" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: tools/gpu_check.sh prepare|run"; exit 2 ;;
esac
