#!/usr/bin/env bash
# The GPU setting up to the proposal caches, on one GPU machine, and what the grounding stages need packed
# small (proposals in gt and oracle modes, the language table, the boxes), so grounding experiments can run
# later without rebuilding the scenes, the ENet features or the detector.
# Usage: bash benchmarks/gpu_caches.sh OUT.tgz   (stage times and logs beside it)
set -euo pipefail
out=$1
log=${out%.tgz}.log
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
bash benchmarks/run_gpu_pipeline.sh synthesize cache_detector 2>&1 | tee "$log"
# the oracle ceiling: GT objects with their true class, colour, size and place as the feature
python benchmarks/overlay_params.py benchmarks/params-gpu.yaml ${OVERLAY_ARGS:-} --set proposals.mode=oracle > params.oracle.yaml
cp params.yaml params.gt.yaml && cp params.oracle.yaml params.yaml
python -c "from stages.cache_detector import main; main(out_dir='data/proposals_oracle')" 2>&1 | tail -2 | tee -a "$log"
cp params.gt.yaml params.yaml
python benchmarks/probe_features.py data/proposals --json probe_gt.json | tee -a "$log"
python benchmarks/probe_features.py data/proposals_oracle --json probe_oracle.json | tail -8 | tee -a "$log"
python benchmarks/profile_detector.py --steps 12 --out profile_detector.txt 2>&1 | head -40 | tee -a "$log"
# the boxes alone stand in for the preprocessed scenes in grounding experiments (evaluation reads boxes only)
python benchmarks/run_cache.py boxes data/preprocessed/scannet.h5 boxes.h5
tar czf "$out" data/proposals data/proposals_oracle data/language boxes.h5 metrics/detector.json metrics/enet.json \
  metrics/language.json probe_gt.json probe_oracle.json profile_detector.txt "$log"
ls -la "$out"
