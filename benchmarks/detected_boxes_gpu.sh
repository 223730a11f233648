#!/usr/bin/env bash
# The paper's protocol on one GPU (issue "The paper's protocol"): the GPU setting with detected boxes, ours and the
# paper recipe on one detector. Run from a copy of the tree; every stage's seconds and the tables go to OUT.
#   bash benchmarks/detected_boxes_gpu.sh OUT [data|detector|ours|paper ...] (default: all four, in order)
# data: synthesize, preprocess, mask_keywords (no ENet: nothing reads multiview features here)
# detector: train_detector (extra --set in DET_ARGS, e.g. "--set detector.epochs=180"), its log and metrics kept
# ours / paper: cache_detector (ours only), train_teacher, distill, evaluate; metrics/eval.json kept as OUT/eval-NAME.json
set -euo pipefail
out=$1
shift
parts=${*:-data detector ours paper}
mkdir -p "$out"
run() {  # run FIRST LAST [overlay args...]
  local first=$1 last=$2
  shift 2
  OVERLAY_ARGS="benchmarks/params-gpu-detector.yaml $*" bash benchmarks/run_gpu_pipeline.sh "$first" "$last" \
    2>&1 | tee -a "$out/log.txt" | grep -E "^STAGE|INFO (val|epoch|detector times|wrote)|Error|error" || true
}
for part in $parts; do
  case $part in
    data) run synthesize mask_keywords ;;
    detector)
      rm -rf models/detector metrics/detector_train
      run train_detector train_detector ${DET_ARGS:-}
      cp metrics/detector.json "$out/detector${DET_NAME:+-$DET_NAME}.json" ;;
    ours)
      run cache_detector evaluate ${DET_ARGS:-}
      cp metrics/eval.json "$out/eval-ours.json" ;;
    paper)
      rm -rf models/teacher models/student models/student_full
      run train_teacher evaluate ${DET_ARGS:-} --set teacher.variant=paper
      cp metrics/eval.json "$out/eval-paper.json" ;;
  esac
done
grep "^STAGE" "$out/log.txt" > "$out/stages.txt" || true
