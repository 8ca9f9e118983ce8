#!/bin/bash
# Every measurement of this folder, run from a clean worktree of the commit that adds the
# detectors (the package imported from that tree), on core 1 only (core 0 is another engineer's).
#   git worktree add /tmp/ds-tree <commit>; cd /tmp/ds-tree; bash /work/main/benchmarks/detector-size-2026-12-04/run.sh [step]
# step: all (default), rules, eval, robustness, ab, or fast (blazeface-fast only; not part of all)
set -euo pipefail
export EDGEMARK_DATA=${EDGEMARK_DATA:-/work/shared/datasets/cuhk_facepoint}
export PYTHONPATH=$PWD
HERE=$(dirname "$(readlink -f "$0")")
PY="taskset -c 1 /work/main/.venv/bin/python"
VARIANTS="blazeface blazeface-112 blazeface-96 blazeface-int8 blazeface-int8-112 blazeface-int8-96"
step=${1:-all}
if [[ $step == all || $step == rules ]]; then  # box rules, training list only
  for n in $VARIANTS; do $PY -m edgemark.detect.measure --data $EDGEMARK_DATA --detector $n --faces 3000 > $HERE/rules/$n.json; done
fi
if [[ $step == all || $step == eval ]]; then  # accuracy through the pipeline, all 2,027 test photos
  for n in $VARIANTS; do
    $PY -m edgemark eval --model mobilenetv2_96/tflite-int8 --list $EDGEMARK_DATA/testImageList.txt --box detector \
        --detector $n --threads 1 --out /tmp/ds-eval/$n
    cp /tmp/ds-eval/$n/metrics.json $HERE/eval/$n.metrics.json
  done
  $PY $HERE/keypoints.py 2027 $HERE/keypoints.json $VARIANTS
  $PY $HERE/frame_size.py 500 $HERE/frame_size.json $VARIANTS
fi
if [[ $step == all || $step == robustness ]]; then  # the robustness suite, 600 faces
  for n in $VARIANTS; do
    $PY -m edgemark robustness --model exported/mobilenetv2_96/tflite-int8 --faces 600 --threads 1 --detector $n --out /tmp/ds-rob/$n
    mkdir -p $HERE/robustness/$n && cp /tmp/ds-rob/$n/robustness.md /tmp/ds-rob/$n/robustness.json $HERE/robustness/$n/
  done
fi
if [[ $step == fast ]]; then  # blazeface-fast (commit f1d73da): int8 at 96 px, float 128 px on frames where it finds no face
  $PY -m edgemark eval --model mobilenetv2_96/tflite-int8 --list $EDGEMARK_DATA/testImageList.txt --box detector \
      --detector blazeface-fast --threads 1 --out /tmp/ds-eval/blazeface-fast
  cp /tmp/ds-eval/blazeface-fast/metrics.json $HERE/eval/blazeface-fast.metrics.json
  $PY $HERE/keypoints.py 2027 $HERE/keypoints_fast.json blazeface blazeface-int8-96 blazeface-fast
  $PY -m edgemark robustness --model exported/mobilenetv2_96/tflite-int8 --faces 600 --threads 1 --detector blazeface-fast --out /tmp/ds-rob/blazeface-fast
  mkdir -p $HERE/robustness/blazeface-fast && cp /tmp/ds-rob/blazeface-fast/robustness.md /tmp/ds-rob/blazeface-fast/robustness.json $HERE/robustness/blazeface-fast/
  $PY $HERE/frame_size.py 500 $HERE/frame_size_fast.json blazeface blazeface-int8-96 blazeface-fast  # the three in one run
fi
if [[ $step == all || $step == ab ]]; then  # timing: paired A/B, one process, core 1, nothing else running
  CORE=1 /work/main/.venv/bin/python $HERE/ab.py 20 $HERE/ab_core1.json
fi
