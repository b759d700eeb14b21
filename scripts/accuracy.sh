#!/usr/bin/env bash
# Makes docs/accuracy.md: `skycountd eval` on the annotated images of ../shared/testdata, with the
# stock model, in every mode the document reports. Long (about an hour on a 2-core CPU): a
# measurement, not a test. CI runs the short guard in scripts/accuracy_guard.sh instead.
#
#   scripts/accuracy.sh                  write docs/accuracy.md
#   BOXES=10 scripts/accuracy.sh         more calibration boxes per frame (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${SHARED:-$root/../shared/testdata}
bin=${SKYCOUNTD:-}
if [ -z "$bin" ]; then
  cargo build --locked --release -q
  bin=target/release/skycountd
fi
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$(.venv/bin/python models/ort_lib.py)}
cfg=$(mktemp --suffix=.toml)
trap 'rm -f "$cfg"' EXIT
printf '[model]\npath = "%s"\nthreads = 0\nexecution_providers = ["cpu"]\nprecision = "fp32"\n' "$root/models/out/csrnet.onnx" > "$cfg"
boxes=${BOXES:-5}
out=docs/accuracy.md
tables=$(mktemp)
{
  echo "### Drone frames (shared/testdata/drone)"
  echo
  "$bin" --config "$cfg" eval "$shared/drone/manifest.csv" \
    --mode default --mode scale:0.5 --mode scale:1 \
    --mode calibrated:10 --mode calibrated:25 --mode calibrated:40 --boxes "$boxes"
  echo
  echo "### Crowd photos (shared/testdata/crowd)"
  echo
  "$bin" --config "$cfg" eval "$shared/crowd/manifest.csv" \
    --mode default --mode scale:1 --mode calibrated:25 --boxes "$boxes"
} > "$tables"
marker='<!-- Everything below is written by scripts/accuracy.sh. -->'
grep -qxF "$marker" "$out" || { echo "$out has no line $marker" >&2; exit 1; }
head=$(awk -v m="$marker" '{ print } $0 == m { exit }' "$out")
{
  printf '%s\n\n' "$head"
  echo "Made by \`scripts/accuracy.sh\` (BOXES=$boxes) on $(date -u +%Y-%m-%d) at commit" \
    "$(git rev-parse --short HEAD), ONNX Runtime CPU, model \`models/out/csrnet.onnx\` (csrnet 0.2)."
  echo
  cat "$tables"
} > "$out.new"
mv "$out.new" "$out"
rm -f "$tables"
echo "wrote $out"
