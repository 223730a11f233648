#!/usr/bin/env bash
# World 2 at ScanRefer's size on one GPU (RESULTS "World 2 at ScanRefer's size"): the upstream stages once
# (703 scenes, the world's own word vectors, the calibrated layout of params-world-v2.yaml, the detector 12 epochs;
# UPSTREAM_SETS='--set synth.copies_per_multiple_class=[3,5] --set synth.multiple_classes_per_room=[2,3]' gives the
# layout of the runs before RESULTS "A calibrated layout at ScanRefer's size"), then each grounding variant's
# train_teacher, distill and evaluate, one after another (three teachers sharing one GPU ran 3.3x slower each),
# the feature probes (benchmarks/probe_features.py), and per variant the accuracy per deciding fact
# (benchmarks/accuracy_by_fact.py) and what its models' relation encoders keep of each object
# (benchmarks/probe_models.py), and how well its teacher's decoder reads each kind of hidden word off the target
# against the other candidates (benchmarks/keyword_readout.py), and how often its fine pick is right per quartile of
# its confidence (benchmarks/teacher_confidence.py). ORACLE_FOR=NAME also trains variant NAME's teacher
# on the true targets and reads it out (benchmarks/oracle_decoder.py).
#   [UPSTREAM_SETS='--set detector.model=objects ...'] [ORACLE_FOR=NAME] bash benchmarks/world_v2_scale_gpu.sh OUT 'name: key=value; ...' ['name2: ...' ...]
# UPSTREAM_CACHE=DIR starts from what an earlier run packed (benchmarks/run_cache.py): its upstream, and its
# trained variants for teacher_from=.
# A variant `teacher_from=NAME` reuses variant NAME's teacher (run_variants.py): list it after NAME, with NAME's
# teacher settings repeated (each variant runs in its own call; run_variants.py checks them on the written params).
# `teacher_from=A; knowledge_with=B` distils from the product of A's and B's teachers (benchmarks/combine_knowledge.py).
# `teacher_from=A; simulate_share=Q` distils from A's knowledge with a share Q of its teacher's wrong training rows set
# right (benchmarks/simulated_teacher.py): how closely a student follows a better teacher.
# `teacher_from=A; cross_fit=F` distils from the product of A's teacher and F held-out students
# (benchmarks/cross_fit.py). `teacher_from=A; route_with=B` distils from A's candidates scored on the attribute words by
# A's teacher and on the other hidden words by B's (benchmarks/route_knowledge.py).
# Writes OUT/upstream/ (scale_gpu.sh's stages.jsonl, log, params; probe.json), OUT/NAME.json (run_variants.py),
# OUT/NAME-params.yaml (the variant's params; benchmarks/record_eval.py records a variant as eval-gpu.json from both),
# OUT/NAME-facts.json, OUT/NAME-examples.json (three descriptions per deciding fact, with each model's pick),
# OUT/NAME-probe-models.json (its log beside it), OUT/NAME-readout.json, OUT/NAME-confidence.json and, for a
# simulate_share variant, OUT/NAME-simulated.json (for a cross_fit variant, OUT/NAME-cross-fit.json; for one
# with distill.self_training_rounds, OUT/NAME-self-training.json and OUT/NAME-round-confidence.json). Run it from a
# copy of the tree: scale_gpu.sh rewrites params.yaml.
set -euo pipefail
out=$1
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)  # absolute: the readouts run from inside each variant's folder
# UPSTREAM_CACHE=DIR: the upstream, and the variants trained beside it, as an earlier run packed them
# (benchmarks/run_cache.py pack): the same proposals without rebuilding them, and its teachers for teacher_from=
if [ -n "${UPSTREAM_CACHE:-}" ] && [ ! -f .upstream_done ]; then
  python benchmarks/run_cache.py unpack "$UPSTREAM_CACHE"
  mkdir -p "$out/upstream" && cp params.yaml "$out/upstream/params.yaml"
fi
if [ ! -f .upstream_done ]; then
  STAGES='synthesize preprocess mask_keywords train_detector cache_detector' bash benchmarks/scale_gpu.sh "$out/upstream" \
    --set synth.world=2 --set synth.word_vectors.rooms=3000 \
    --set teacher.word_vectors=data/synthetic/glove/word_vectors.txt --set teacher.use_multiview=false \
    --set 'synth.copies_per_multiple_class=[2,8]' --set 'synth.multiple_classes_per_room=[1,3]' \
    --set detector.epochs=12 --set detector.eval_every=12 ${UPSTREAM_SETS:-}
  # what the cached proposal features carry: class, colour, size, shape and material (linear probes)
  python benchmarks/probe_features.py data/proposals --objects data/synthetic/meta/synth_objects.csv \
    --json "$out/upstream/probe.json" > "$out/upstream/probe.log" 2>&1 || true
  touch .upstream_done
fi
for variant in "$@"; do
  name=$(echo "${variant%%:*}" | tr -d ' ')
  python benchmarks/run_variants.py --data . --out "$out/$name.json" --parallel 1 --overlay params.yaml "$variant"
  # the params it ran with, for benchmarks/record_eval.py
  cp "variants/$name/params.yaml" "$out/$name-params.yaml"
  # a simulated teacher (simulate_share): how many training rows it set right
  if [ -f "variants/$name/data/teacher/simulated.json" ]; then cp "variants/$name/data/teacher/simulated.json" "$out/$name-simulated.json"; fi
  # a self-trained one (cross_fit): how often the teacher, the held-out students and their product are right
  if [ -f "variants/$name/data/teacher/cross_fit.json" ]; then
    cp "variants/$name/data/teacher/cross_fit.json" "$out/$name-cross-fit.json"
  fi
  # a routed one (route_with): how often its picks differ from its source teacher's
  if [ -f "variants/$name/data/teacher/route.json" ]; then
    cp "variants/$name/data/teacher/route.json" "$out/$name-route.json"
  fi
  # distill.self_training_rounds: the rounds' report, and how often the last round's knowledge picks right
  st="variants/$name/models/student/self_training"
  if [ -f "$st/report.json" ]; then
    cp "$st/report.json" "$out/$name-self-training.json"
    last=$(ls -d "$st"/round* | sort -V | tail -1)
    (cd "variants/$name" && python ../../benchmarks/teacher_confidence.py "${last#variants/$name/}/knowledge.h5" \
      --descriptions data/synthetic/meta/synth_descriptions.csv --json "$out/$name-round-confidence.json") \
      > "$out/$name-round-confidence.log" 2>&1 || true
  fi
  # per fact, and the student's accuracy where its teacher's fine stage is right and where it is wrong
  python benchmarks/accuracy_by_fact.py "variants/$name/data/eval/predictions.json" --given teacher_fine \
    --descriptions data/synthetic/meta/synth_descriptions.csv --json "$out/$name-facts.json" \
    --examples 3 --examples-json "$out/$name-examples.json" || true
  # what the teacher's and the students' relation encoders keep of each object (benchmarks/probe_models.py)
  # (the checkpoints this variant has: a variant with distill.reference_full=false has no fully supervised student)
  m="variants/$name/models"
  ckpts=()
  for c in "$m/teacher/teacher.pt" "$m/student/student.pt" "$m/student_full/student.pt"; do
    if [ -f "$c" ]; then ckpts+=("$c"); fi
  done
  if [ -f data/preprocessed/scannet.h5 ]; then  # not over an unpacked cache: it reads the scenes' points
    python benchmarks/probe_models.py "${ckpts[@]}" --objects data/synthetic/meta/synth_objects.csv \
      --json "$out/$name-probe-models.json" > "$out/$name-probe-models.log" 2>&1 || true
  fi
  # the two readouts run from the variant's folder: its params name the boxes it was evaluated on, which over an
  # unpacked cache (UPSTREAM_CACHE) are boxes.h5, not the tree's data/preprocessed/scannet.h5
  # a variant that reuses another's teacher (teacher_from=) has that teacher's readout already
  case $variant in
    *teacher_from=*) ;;
    *) (cd "variants/$name" && python ../../benchmarks/keyword_readout.py models/teacher/teacher.pt \
          --json "$out/$name-readout.json") > "$out/$name-readout.log" 2>&1 || true ;;
  esac
  # whether the teacher's confident fine picks are the right ones more often (benchmarks/teacher_confidence.py)
  (cd "variants/$name" && python ../../benchmarks/teacher_confidence.py data/teacher/knowledge.h5 \
    --descriptions data/synthetic/meta/synth_descriptions.csv --json "$out/$name-confidence.json") \
    > "$out/$name-confidence.log" 2>&1 || true
  # ORACLE_FOR=NAME: the same teacher trained on the true targets (benchmarks/oracle_decoder.py), read out alike
  if [ "${ORACLE_FOR:-}" = "$name" ]; then
    python benchmarks/oracle_decoder.py "$out/$name-oracle.pt" --teacher "$m/teacher/teacher.pt" \
      --json "$out/$name-oracle.json" > "$out/$name-oracle.log" 2>&1 || true
  fi
done
