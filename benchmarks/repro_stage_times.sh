#!/usr/bin/env bash
# How long a newcomer's `dvc repro` takes, stage by stage: a fresh clone of this repository at COMMIT, every stage
# from scratch under the AVX2 caps of README "Same params, same bytes", on the clone's own src/ (an editable install
# of another checkout must not stand in for it). Prints the seconds each stage took, the total, and which paths
# of the commit's dvc.lock got another hash (on another CPU model, the training stages' floats; `dvc status` says
# nothing here, since the repro rewrote the lock).
#   bash benchmarks/repro_stage_times.sh [COMMIT]      (default HEAD; run it alone: the stages use every core)
set -euo pipefail
commit=${1:-HEAD}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
git clone -q "$repo" "$work/r"
cd "$work/r"
git checkout -q "$commit"
# the real-file tests' folder sits beside a checkout; the pipeline does not need it
[ -e "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
export PYTHONPATH="$work/r/src" ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
start=$(date +%s)
# dvc prints "Running stage 'NAME':" as each stage starts; stamp every line with the seconds since the start
dvc repro 2>&1 | while IFS= read -r line; do echo "$(( $(date +%s) - start )) $line"; done > "$work/repro.log"
total=$(( $(date +%s) - start ))
python3 - "$work/repro.log" "$total" <<'EOF'
import re, sys
log, total = sys.argv[1], int(sys.argv[2])
starts = [(int(t), name) for t, name in re.findall(r"^(\d+) Running stage '([^']+)'", open(log).read(), re.M)]
for (t, name), (t_next, _) in zip(starts, starts[1:] + [(total, "")]):
    print(f"{name:20s} {t_next - t:5d} s")
print(f"{'total':20s} {total:5d} s")
EOF
echo "outputs that differ from $commit's dvc.lock:"
git diff --stat -- dvc.lock metrics | tail -1
git diff dvc.lock | grep -B2 '^-  *md5' | grep -o 'path: .*' | sort -u || echo "  none"
echo "log and clone: $work"
