#!/usr/bin/env bash
# ScanRefer's size on one GPU (RESULTS "ScanRefer's size"): every stage of params-gpu.yaml +
# params-scanrefer-scale.yaml in a fresh process, its wall time, peak host memory and peak GPU memory
# (benchmarks/stage_resources.py) appended to OUT/stages.jsonl, the log to OUT/log.txt, the eval to OUT/eval.json.
#   [STAGES="synthesize ... evaluate"] bash benchmarks/scale_gpu.sh OUT [--set synth.n_scenes=150 ...]
# STAGES: the stages to run (default: all of dvc.yaml's); without teacher.use_multiview and with no multiview
# detector input, train_enet and project_multiview can be left out.
# Run it from a copy of the tree (it rewrites params.yaml, keeping the tree's own as params.yaml.orig).
set -euo pipefail
out=$1
shift
mkdir -p "$out"
[ -f params.yaml.orig ] || cp params.yaml params.yaml.orig
python benchmarks/overlay_params.py --base params.yaml.orig benchmarks/params-gpu.yaml \
  benchmarks/params-scanrefer-scale.yaml "$@" > params.yaml.scale
mv params.yaml.scale params.yaml
cp params.yaml "$out/params.yaml"
# STAGES, or every stage of dvc.yaml in order; tqdm's carriage-return lines are dropped from the log, the stages'
# own stay
PYTHONUNBUFFERED=1 python benchmarks/stage_resources.py --json "$out/stages.jsonl" ${STAGES:-} 2>&1 \
  | tr '\r' '\n' | grep -v -E '[0-9]+/[0-9]+ \[' > "$out/log.txt"
# the eval only when this run evaluated (else metrics/eval.json is the tree's own, stale)
if [ -z "${STAGES:-}" ] || [[ " $STAGES " == *" evaluate "* ]]; then cp metrics/eval.json "$out/eval.json"; fi
du -sh data/* models/* > "$out/sizes.txt" 2>/dev/null || true
