#!/usr/bin/env bash
# Run a long benchmark on a remote GPU box so that it outlives the shell that started it (a dropped ssh session,
# a call with a time limit), then wait for it and pack what it wrote.
#   bash benchmarks/detached.sh start RUN COMMAND...   copy this tree to RUN/tree and start COMMAND there, detached
#   bash benchmarks/detached.sh wait RUN SECONDS [TGZ] wait up to SECONDS for it, print its state and the log's end,
#                                                      and pack RUN/out and RUN/log into TGZ
# RUN is a folder outside the tree (a later copy of the tree must not delete it). COMMAND runs in RUN/tree and
# writes its results under RUN/out (name that path in it; $RUN_OUT holds it too, for a COMMAND that is a script).
# WHEELS=DIR installs the wheels in DIR first (a box with no network) into RUN/site, which COMMAND finds on
# PYTHONPATH; the tree's src/ is on it too, so no install is needed. Where `python` is missing (only python3),
# RUN/bin/python stands in for it.
set -euo pipefail
verb=$1 run=$2
shift 2
case $verb in
start)
  rm -rf "$run" && mkdir -p "$run/tree" "$run/out" "$run/bin"
  # the wheels travel apart from the tree (they are installed, not copied)
  tar --exclude=./.git ${WHEELS:+--exclude="./${WHEELS#./}"} -cf - . | tar -xf - -C "$run/tree"
  if [ -n "${WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$run/site" "$WHEELS"/*.whl
  fi
  # a wrapper, not a link: a link to a virtual environment's python3 would lose that environment's packages
  if ! command -v python > /dev/null; then
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" > "$run/bin/python"
    chmod +x "$run/bin/python"
  fi
  {
    echo "export PATH='$run/bin':\$PATH PYTHONPATH='$run/site:$run/tree/src' PYTHONUNBUFFERED=1 RUN_OUT='$run/out'"
    echo "cd '$run/tree'"
    echo "date +%s > '$run/start'"
    printf '%q ' "$@"
    echo
    echo "echo \$? > '$run/rc'"
  } > "$run/job.sh"
  setsid nohup bash "$run/job.sh" > "$run/log" 2>&1 < /dev/null &
  echo "started: $run/job.sh (log $run/log)"
  ;;
wait)
  limit=${1:-540} tgz=${2:-}
  waited=0
  while [ ! -f "$run/rc" ] && [ "$waited" -lt "$limit" ]; do sleep 10; waited=$((waited + 10)); done
  started=$(cat "$run/start" 2> /dev/null || date +%s)
  echo "rc: $(cat "$run/rc" 2> /dev/null || echo running)  elapsed: $(($(date +%s) - started)) s"
  # tqdm's carriage-return lines would flood the tail
  tr '\r' '\n' < "$run/log" | { grep -v -E '[0-9]+/[0-9]+ \[' || true; } | tail -20
  [ -z "$tgz" ] || tar -czf "$tgz" -C "$run" out log
  ;;
*)
  echo "usage: detached.sh start RUN COMMAND... | detached.sh wait RUN SECONDS [TGZ]" >&2
  exit 2
  ;;
esac
