#!/usr/bin/env bash
# Does the fully supervised student read comparisons once candidates see each other? (RESULTS "Comparing
# candidates"). World 2 on the GPU setting with 9 descriptions per object and the object encoder for the given
# boxes, then the fully supervised student alone (no teacher in it: a one-epoch teacher only for the stage's
# inputs, init_from_teacher off) with the authors' match head and with `distill.match_context_layers`.
#   bash benchmarks/match_context_gpu.sh OUT [LAYERS ...]   (default LAYERS: 0 2)
# Writes OUT/upstream.jsonl, OUT/variants.json and OUT/layers-N-facts.json. Run it from a copy of the tree.
set -euo pipefail
out=$1
shift
layers=${*:-0 2}
mkdir -p "$out"
[ -f params.yaml.orig ] || cp params.yaml params.yaml.orig
python benchmarks/overlay_params.py --base params.yaml.orig benchmarks/params-gpu.yaml benchmarks/params-world-v2.yaml \
  --set synth.descriptions_per_object=9 --set detector.model=objects --set teacher.use_multiview=false \
  --set teacher.epochs=1 --set teacher.eval_every=1 --set distill.supervision=full --set distill.reference_full=false \
  --set distill.init_from_teacher=false > params.yaml.ctx
mv params.yaml.ctx params.yaml
cp params.yaml "$out/params.yaml"
python benchmarks/stage_resources.py --json "$out/upstream.jsonl" synthesize preprocess mask_keywords train_detector \
  cache_detector 2>&1 | tr '\r' '\n' | grep -v -E '[0-9]+/[0-9]+ \[' > "$out/upstream.log"
specs=()
for n in $layers; do specs+=("layers-$n: distill.match_context_layers=$n"); done
python benchmarks/run_variants.py --data . --out "$out/variants.json" --parallel 1 --overlay params.yaml "${specs[@]}"
for n in $layers; do
  python benchmarks/accuracy_by_fact.py "variants/layers-$n/data/eval/predictions.json" \
    --descriptions data/synthetic/meta/synth_descriptions.csv --json "$out/layers-$n-facts.json" || true
done
