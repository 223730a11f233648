#!/usr/bin/env bash
# The whole pipeline on a GPU box without dvc: the stage modules in dvc.yaml's order, with
# benchmarks/params-gpu.yaml overlaid on params.yaml (plus any further overlays or --set in OVERLAY_ARGS).
# Usage: [OVERLAY_ARGS="..."] bash benchmarks/run_gpu_pipeline.sh FIRST_STAGE LAST_STAGE
set -euo pipefail
# every run overlays the tree's own params.yaml, kept as params.yaml.orig the first time: an earlier run's
# overlay (a --set the next run does not repeat) must not carry over
[ -f params.yaml.orig ] || cp params.yaml params.yaml.orig
python benchmarks/overlay_params.py --base params.yaml.orig benchmarks/params-gpu.yaml ${OVERLAY_ARGS:-} > params.yaml.gpu
mv params.yaml.gpu params.yaml
stages=(synthesize preprocess mask_keywords train_enet project_multiview train_detector cache_detector train_teacher distill evaluate)
on=0
for s in "${stages[@]}"; do
  [ "$s" = "$1" ] && on=1
  if [ $on = 1 ]; then
    t0=$(date +%s.%N)
    python -m "stages.$s"
    echo "STAGE $s $(python -c "print(round($(date +%s.%N) - $t0, 1))") s"
  fi
  [ "$s" = "$2" ] && break
done
