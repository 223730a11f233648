#!/usr/bin/env bash
# Grounding recipes side by side on one set of upstream data: for each NAME=SETS argument, a copy of the tree
# at OUT/NAME whose data/{synthetic,preprocessed,language,proposals} link to this tree's, params.yaml this tree's
# with SETS (space-separated --set values) overlaid, and train_teacher, distill, evaluate run in the background
# through stage_resources.py (OUT/NAME/stages.jsonl, log.txt, eval.json). Waits for all of them.
#   bash benchmarks/grounding_variants.sh OUT "ofm=teacher.departures.own_feature_match=true" "paper=teacher.variant=paper"
# Run it from a tree whose pipeline has run through cache_detector (e.g. after scale_gpu.sh with STAGES).
set -uo pipefail
out=$(realpath -m "$1")
shift
root=$PWD
pids=()
for spec in "$@"; do
  name=${spec%%=*}
  sets=${spec#*=}
  w=$out/$name
  rm -rf "$w"
  mkdir -p "$w/data"
  cp -r "$root/stages" "$root/src" "$root/benchmarks" "$root/dvc.yaml" "$w/"
  for d in synthetic preprocessed language proposals; do ln -s "$root/data/$d" "$w/data/$d"; done
  args=()
  for s in $sets; do args+=(--set "$s"); done
  python "$root/benchmarks/overlay_params.py" --base "$root/params.yaml" "${args[@]}" > "$w/params.yaml"
  (
    cd "$w" && PYTHONPATH="$w/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 python benchmarks/stage_resources.py \
      --json stages.jsonl train_teacher distill evaluate 2>&1 | tr '\r' '\n' | grep -v -E '[0-9]+/[0-9]+ \[' > log.txt
    cp metrics/eval.json eval.json 2>/dev/null
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
