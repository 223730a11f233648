#!/usr/bin/env bash
# What the detector's schedule length and its multiview input channels each cost (issue "The paper's protocol"):
# train_detector of the GPU setting (params-gpu.yaml) for each of {with, without multiview} x {60, 120} epochs,
# on data that benchmarks/run_gpu_pipeline.sh synthesize project_multiview wrote. Each run's metrics and val mAP
# curve go to OUT_DIR/<name>.json. Usage: bash benchmarks/detector_schedule.sh OUT_DIR [NAME ...] (default: all four)
set -euo pipefail
out=$1
shift
only=" $* "
mkdir -p "$out"
[ -f "$out/params.base.yaml" ] || cp params.yaml "$out/params.base.yaml"  # every run overlays the same base
for run in "mv60 60 [height,color,normal,multiview]" "nomv60 60 [height,color,normal]" \
           "nomv120 120 [height,color,normal]" "mv120 120 [height,color,normal,multiview]"; do
  set -- $run
  name=$1 epochs=$2 feats=$3
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
  python benchmarks/overlay_params.py --base "$out/params.base.yaml" benchmarks/params-gpu.yaml \
    --set detector.epochs=$epochs --set "detector.input_features=$feats" --set detector.eval_every=30 > params.run.yaml
  mv params.run.yaml params.yaml
  rm -rf models/detector metrics/detector_train
  t0=$(date +%s.%N)
  python -m stages.train_detector > "$out/$name.log" 2>&1
  secs=$(python -c "print(round($(date +%s.%N) - $t0, 1))")
  python - "$name" "$epochs" "$feats" "$secs" "$out" <<'PY'
import csv, json, sys
from pathlib import Path
name, epochs, feats, secs, out = sys.argv[1:]
curve = {}
for metric in ("mAP@0.25", "mAP@0.5"):
    path = Path("metrics/detector_train/plots/metrics/val") / f"{metric}.tsv"
    rows = list(csv.DictReader(path.open(), delimiter="\t")) if path.exists() else []
    curve[metric] = {int(r["step"]): round(float(r[metric]), 4) for r in rows}
final = json.load(open("metrics/detector.json"))
json.dump({"name": name, "epochs": int(epochs), "input_features": feats, "stage_seconds": float(secs),
           "mAP@0.25": final["mAP@0.25"], "mAP@0.5": final["mAP@0.5"], "val_curve_by_step": curve},
          open(f"{out}/{name}.json", "w"), indent=1)
print(name, epochs, feats, secs, final["mAP@0.25"], final["mAP@0.5"], flush=True)
PY
done
