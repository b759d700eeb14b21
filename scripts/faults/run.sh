#!/usr/bin/env bash
# Runs the fault figures of docs/reliability.md (daemon/benches/faults.rs) one phase after the
# other and keeps their output in artifacts/faults-*.txt. Long (an hour and more with the
# defaults); never part of CI. Phases and their lengths follow the environment:
#
#   CYCLES=100 SOAK_SECONDS=3600 CLIENTS=50 SLOW_SECONDS=300 scripts/faults/run.sh
#   scripts/faults/run.sh churn          # one phase
#
# The release skycountd is copied first, so that other builds in the same target directory
# cannot replace it under a running phase.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$(.venv/bin/python models/ort_lib.py)}
bench=$(cargo bench --bench faults --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "faults" and m.get("executable"):
        print(m["executable"])' | tail -1)
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
keep=$(mktemp -d)
cp "$target/release/skycountd" "$keep/skycountd"
export SKYCOUNTD_BIN=$keep/skycountd
mkdir -p artifacts
phases=${*:-churn soak slow}
for phase in $phases; do
  case $phase in
    churn) env BENCH_FAULT=churn BENCH_CYCLES="${CYCLES:-100}" "$bench" ;;
    soak) env BENCH_FAULT=soak BENCH_SECONDS="${SOAK_SECONDS:-3600}" BENCH_CLIENTS="${CLIENTS:-50}" "$bench" ;;
    slow) env BENCH_FAULT=slow BENCH_SECONDS="${SLOW_SECONDS:-300}" BENCH_SLOW="${SLOW:-20}" "$bench" ;;
    *) echo "unknown phase $phase (churn, soak, slow)"; exit 2 ;;
  esac 2>&1 | tee "artifacts/faults-$phase.txt"
done
rm -rf "$keep"
