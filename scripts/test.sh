#!/usr/bin/env bash
# Runs every test of skycount on a fresh Debian 12 machine: sets up first (scripts/setup.sh plus
# the test-only Debian packages), then each suite. Stops at nothing: every suite runs, and the
# last line says how many suites passed and failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

extra=$(grep -v '^\s*#' scripts/debian-test-packages.txt | grep -v '^\s*$' | tr '\n' ' ')
EXTRA_DEBIAN_PACKAGES="$extra" BUILD_PROFILE=dev scripts/setup.sh || { echo "set-up failed"; exit 1; }

# A run from a clean clone builds each crate once: incremental compilation's caches (gigabytes)
# would only cost disk.
export CARGO_INCREMENTAL=0

ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py) || exit 1
export ORT_DYLIB_PATH
mkdir -p artifacts

# Each suite's output is shown as it runs and kept in artifacts/suite-<name>.log; the end of a
# failed suite's log is repeated after the last suite, so that the tail of the whole run (often
# all a CI page shows) says why.
passed=0; failed=0; failures=()
suite() {
  local name=$1; shift
  printf '\n===== %s: %s\n' "$name" "$*"
  local log="artifacts/suite-$name.log" started=$SECONDS
  if "$@" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$name")
  fi
  echo "===== $name: $((SECONDS - started)) s"
}

suite rust-format cargo fmt --all --check
suite rust-modules python3 scripts/module_graph.py
suite rust-lint cargo clippy --locked --all-targets --all-features -- -D warnings
suite rust-unit cargo test --locked
suite rust-integration cargo test --locked --features integration --test live --test dev_up --test bad_input --test service --test model --test upload --test zones --test mqtt --test history --test hostile --test motion --test streams
# Software updates with real RAUC (its service, signed bundles, A/B slots on loop devices): as
# root, like the boot test (sudo when not).
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -E env "PATH=$PATH" "$@"; fi; }
suite update as_root cargo test --locked --features integration --test update
suite accuracy scripts/accuracy_guard.sh
suite models .venv/bin/python -m pytest -q models
# Fine-tuning end to end on two real frames (installs PyTorch from PyPI first).
suite finetune scripts/finetune_quick.sh
suite web-unit bash -c 'cd web && npm test'
suite web-e2e bash -c 'cd web && npm run e2e'
suite web-video bash -c 'cd web && npm run smoke'
[ -x systemd/check.sh ] && suite systemd systemd/check.sh
[ -x yocto-layer/scripts/check.sh ] && suite yocto env PYTHON="$root/.venv/bin/python" yocto-layer/scripts/check.sh
# The box's CPU: skycountd built for aarch64 and run under qemu-user against the x86-64 build.
suite aarch64 scripts/aarch64.sh
# The box's init: a Debian 12 root with skycount installed as the image does, booted with systemd.
suite boot scripts/boot_test.sh

for name in "${failures[@]}"; do
  printf '\n===== the end of the failed suite %s (artifacts/suite-%s.log):\n' "$name" "$name"
  tail -n 40 "artifacts/suite-$name.log"
done
echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
