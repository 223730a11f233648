#!/usr/bin/env bash
# The proposal-feature ablation of benchmarks/RESULTS.md on the GPU setting: the default head with and without
# `box_summary` (the detector's class scores, box size and centre appended to the feature), what box_summary
# makes of the other departures, the paper head and the oracle ceiling, all in one run on one GPU.
# DATA_DIR holds what benchmarks/gpu_caches.sh packs. Usage: bash benchmarks/features_ablation.sh DATA_DIR OUT_DIR
set -uo pipefail
data=$1; out=$2
mkdir -p "$out"
printf 'runtime:\n  step: auto\n  loader_workers: 1\n' > "$out/runtime.yaml"
summary="teacher.departures.box_summary=true"
python benchmarks/run_variants.py --data "$data" --out "$out/ablation.json" --work "$out/variants" --parallel 7 \
  --overlay benchmarks/params-gpu.yaml --overlay "$out/runtime.yaml" \
  "default: " \
  "summary: $summary" \
  "summary-no-class-candidates: $summary; teacher.departures.class_candidates=false" \
  "summary-staged: $summary; teacher.departures.staged_distillation=true" \
  "summary-no-multiview: $summary; teacher.use_multiview=false" \
  "paper: teacher.variant=paper" \
  "oracle-default: proposals=oracle; teacher.use_multiview=false"
