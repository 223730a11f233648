#!/usr/bin/env bash
# The proposal-feature ablations of benchmarks/RESULTS.md on the GPU setting, each round one run on one GPU.
# round1: the default head with and without `box_summary` (the detector's class scores, box size and centre
#   appended to the feature), what box_summary makes of the other departures, the paper head, the oracle.
# round2: `summary_only` (the detector's pooled feature dropped: box colour + box summary alone), joint or
#   staged distillation, with and without class candidates and the multiview feature, and the oracle.
# round3: `hard_distillation` (the student learns the teacher's best candidate by cross-entropy) on summary_only,
#   staged and joint, and on the oracle.
# DATA_DIR holds what benchmarks/gpu_caches.sh packs.
# Usage: bash benchmarks/features_ablation.sh DATA_DIR OUT_DIR round1|round2|round3
set -uo pipefail
data=$1; out=$2; round=$3
mkdir -p "$out"
printf 'runtime:\n  step: auto\n  loader_workers: 1\n' > "$out/runtime.yaml"
summary="teacher.departures.box_summary=true"
only="$summary; teacher.departures.summary_only=true"
staged="teacher.departures.staged_distillation=true"
hard="teacher.departures.hard_distillation=true"
if [ "$round" = round1 ]; then
  variants=("default: " "summary: $summary"
            "summary-no-class-candidates: $summary; teacher.departures.class_candidates=false"
            "summary-staged: $summary; $staged" "summary-no-multiview: $summary; teacher.use_multiview=false"
            "paper: teacher.variant=paper" "oracle-default: proposals=oracle; teacher.use_multiview=false")
elif [ "$round" = round3 ]; then
  variants=("summary-only-staged: $only; $staged" "summary-only-staged-hard: $only; $staged; $hard"
            "summary-only-hard: $only; $hard" "oracle-staged-hard: proposals=oracle; teacher.use_multiview=false; $staged; $hard")
else
  variants=("summary-only: $only" "summary-only-staged: $only; $staged"
            "summary-only-staged-no-class-candidates: $only; $staged; teacher.departures.class_candidates=false"
            "summary-only-staged-no-multiview: $only; $staged; teacher.use_multiview=false"
            "oracle-staged: proposals=oracle; teacher.use_multiview=false; $staged")
fi
python benchmarks/run_variants.py --data "$data" --out "$out/ablation.json" --work "$out/variants" \
  --parallel "${#variants[@]}" --overlay benchmarks/params-gpu.yaml --overlay "$out/runtime.yaml" "${variants[@]}"
