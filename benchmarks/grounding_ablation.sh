#!/usr/bin/env bash
# The grounding ablation of benchmarks/RESULTS.md on the GPU setting (params-gpu.yaml): the authors' head
# (paper), then our departures added one at a time, and the oracle ceiling. (The "previous-head" row of RESULTS.md
# ran four switches removed since; `git show 7b1c2c9:benchmarks/grounding_ablation.sh` has it.)
# DATA_DIR holds what benchmarks/gpu_caches.sh packs (data/language, data/proposals, data/proposals_oracle,
# boxes.h5). Usage: bash benchmarks/grounding_ablation.sh DATA_DIR OUT_DIR [PARALLEL]
set -uo pipefail
data=$1; out=$2; parallel=${3:-9}
mkdir -p "$out"
printf 'runtime:\n  step: auto\n  loader_workers: 1\n' > "$out/runtime.yaml"
colour="teacher.departures.box_colour=true"
class="teacher.departures.class_candidates=true"
oracle="proposals=oracle; teacher.use_multiview=false"
python benchmarks/run_variants.py --data "$data" --out "$out/ablation.json" --work "$out/variants" --parallel "$parallel" \
  --overlay benchmarks/params-gpu.yaml --overlay "$out/runtime.yaml" \
  "paper: teacher.variant=paper" \
  "staged: teacher.variant=ours" \
  "staged+colour: $colour" \
  "staged+colour+class: $colour; $class" \
  "staged+colour+class+draws8: $colour; $class; teacher.knowledge_draws=8" \
  "joint+colour+class: teacher.departures.staged_distillation=false; $colour; $class" \
  "oracle-paper: $oracle; teacher.variant=paper" \
  "oracle-staged+class: $oracle; $class"
