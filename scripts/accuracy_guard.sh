#!/usr/bin/env bash
# The accuracy regression guard CI runs: `skycountd eval` on the real drone frames of
# ../shared/testdata/drone must not get worse than the figures reached (docs/accuracy.md).
#   - the default analysis (no calibration), all 11 frames: 48.3 % today;
#   - one replayed calibration of 25 taps on one frame of each sequence: 20.5 % today.
# About 2 minutes on 2 cores. Limits leave room for ONNX Runtime's numerics, not for a worse method.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
drone=${SHARED:-$root/../shared/testdata}/drone/manifest.csv
[ -f "$drone" ] || { echo "no $drone: the drone frames of ../shared are needed" >&2; exit 1; }
bin=${SKYCOUNTD:-target/debug/skycountd}
[ -x "$bin" ] || cargo build --locked -q
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$(.venv/bin/python models/ort_lib.py)}
cfg=$(mktemp --suffix=.toml)
trap 'rm -f "$cfg"' EXIT
printf '[model]\npath = "%s"\nthreads = 0\nexecution_providers = ["cpu"]\n' "$root/models/out/csrnet.onnx" > "$cfg"
"$bin" --config "$cfg" eval "$drone" --mode default --max-error 49
"$bin" --config "$cfg" eval "$drone" --mode calibrated:25 --boxes 1 \
  --only seq001_1.jpg --only seq011_1.jpg --only seq112_8.jpg --only seq023_1.jpg --max-error 21.5
