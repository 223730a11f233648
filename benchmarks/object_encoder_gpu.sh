#!/usr/bin/env bash
# The GPU setting with the object encoder (detector.model: objects) in place of GroupFree-3D under ground-truth
# boxes, on world 1 and world 2, two chains side by side on one GPU (benchmarks/RESULTS.md, "The object encoder on
# the GPU setting"). Each chain runs in its own copy of the tree; every run's eval, teacher and detector metrics
# and its log go to $OUT/<run>/.
# Usage: OUT=/tmp/objects-gpu bash benchmarks/object_encoder_gpu.sh
set -uo pipefail
OUT=${OUT:-/tmp/objects-gpu}
mkdir -p "$OUT"
src=$PWD

run() {  # run name, first stage, overlay arguments
  local name=$1 first=$2
  shift 2
  mkdir -p "$OUT/$name"
  OVERLAY_ARGS="$*" bash benchmarks/run_gpu_pipeline.sh "$first" evaluate > "$OUT/$name/log" 2>&1
  cp metrics/eval.json metrics/teacher.json metrics/detector.json params.yaml "$OUT/$name/" 2>/dev/null
}

chain() {  # work dir, world overlay, run-name prefix
  local dir=$1 world=$2 prefix=$3
  rm -rf "$dir" && cp -r "$src" "$dir" && cd "$dir"
  export PYTHONPATH="${SITE:+$SITE:}$dir/src"  # this copy's code, whatever happens to the tree it came from
  # the object encoder reads no multiview channels (the GPU setting's detector does)
  local base="$world --set detector.model=objects --set detector.input_features=[height,color,normal]"
  run "$prefix-summary" synthesize "$base"
  run "$prefix-summary-warmup" train_teacher "$base --set teacher.departures.language_warmup=true"
  run "$prefix-feature-warmup" train_teacher "$base --set teacher.departures.language_warmup=true \
      --set teacher.departures.summary_only=false --set teacher.departures.feature_norm=true"
}

chain /tmp/objects-w1 "" w1 &
chain /tmp/objects-w2 benchmarks/params-world-v2.yaml w2 &
wait
echo done > "$OUT/DONE"
