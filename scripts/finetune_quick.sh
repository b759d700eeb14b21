#!/usr/bin/env bash
# The CI's end-to-end checks of the two trainers, on two real drone frames. models/finetune.py
# (--quick: small scale, 4 steps) must write a model with the daemon's contract and its card, and
# skycountd must load it, take its analysis scale and count with it; models/train.py (--quick) must
# write a model that models/build_csrnet.py rebuilds byte for byte from its trained layers (below).
# About 3 minutes, most of it installing PyTorch (models/requirements-train.txt). The real figures
# come from `models/finetune.py --loso` and `models/train.py --hold-out` (docs/accuracy.md,
# models/README.md), not from here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
drone=${SHARED:-$root/../shared/testdata}/drone
[ -f "$drone/manifest.csv" ] || { echo "no $drone: the drone frames of ../shared are needed" >&2; exit 1; }
# PyTorch and its CUDA libraries are several GB from PyPI: retry a failed download before giving
# up, and say so. No pip cache: it would hold a second copy of those gigabytes.
for try in 1 2 3; do
  .venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --retries 10 --timeout 60 \
    -r models/requirements-train.txt && break
  [ "$try" -lt 3 ] || { echo "finetune: installing models/requirements-train.txt from PyPI failed 3 times" >&2; exit 1; }
  echo "finetune: installing PyTorch failed (try $try of 3); trying again in 10 s" >&2
  sleep 10
done
bin=${SKYCOUNTD:-target/debug/skycountd}
[ -x "$bin" ] || cargo build --locked -q
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$(.venv/bin/python models/ort_lib.py)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

start=$(date +%s)
.venv/bin/python models/finetune.py --data "$drone" --quick --name ci-quick --out "$out" --threads 2
model=$out/csrnet-ci-quick.onnx
[ -f "$model" ] && [ -f "$out/csrnet-ci-quick.json" ] || { echo "no model or card written" >&2; exit 1; }

# The contract, checked by ONNX Runtime itself: u8 [1,H,W,3] in, [1,1,H/8,W/8] out, finite, >= 0;
# the card inside the file equals the one beside it.
.venv/bin/python - "$model" <<'PY'
import json, sys
import numpy as np, onnxruntime as ort
path = sys.argv[1]
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
(i,), (o,) = s.get_inputs(), s.get_outputs()
assert (i.name, i.type) == ("image", "tensor(uint8)"), (i.name, i.type)
assert o.name == "density", o.name
x = np.random.default_rng(0).integers(0, 256, (1, 96, 160, 3), dtype=np.uint8)
(d,) = s.run(None, {"image": x})
assert d.shape == (1, 1, 12, 20), d.shape
assert np.isfinite(d).all() and (d >= 0).all(), "density must be finite and never negative"
meta = s.get_modelmeta().custom_metadata_map
card = json.loads(meta["skycount.card"])
assert card == json.load(open(path[:-5] + ".json")), "the card in the file differs from the one beside it"
assert float(meta["skycount.analysis_scale"]) == card["analysis_scale"]
print(f"contract ok: {d.shape}, count {d.sum():.1f}; card {card['name']}, scale {card['analysis_scale']}")
PY

# skycountd loads it (its own contract check), uses the card's scale and counts with it.
cfg=$out/eval.toml
printf '[model]\npath = "%s"\nthreads = 0\nexecution_providers = ["cpu"]\n' "$model" > "$cfg"
"$bin" --config "$cfg" eval "$drone/manifest.csv" --only seq001_1.jpg --mode default --json | tee "$out/eval.jsonl"
grep -q '"analysis_width":536' "$out/eval.jsonl" || { echo "skycountd did not analyse at the card's scale (0.28125 of 1920: 536 wide)" >&2; exit 1; }
echo "finetune quick: $(( $(date +%s) - start )) s"

# models/train.py end to end (--quick: 2 frames, 2 small sizes, 6 steps): it writes the model, its
# trained layers and its card; build_csrnet.py rebuilds the very same bytes from the stock weights
# plus those two files (what models/make.sh will do for a shipped drone model); the NumPy
# reference agrees with ONNX Runtime on the rebuilt graph; skycountd loads it and counts.
start=$(date +%s)
train=$out/train
.venv/bin/python models/train.py --data "$drone" --quick --name ci-train --out "$train" --cache "$train/cache" --threads 2
for f in csrnet-ci-train.onnx csrnet-ci-train.layers.npz csrnet-ci-train.card.json; do
  [ -f "$train/$f" ] || { echo "train.py --quick wrote no $f" >&2; exit 1; }
done
.venv/bin/python models/build_csrnet.py --layers "$train/csrnet-ci-train.layers.npz" \
  --card "$train/csrnet-ci-train.card.json" --out "$train/rebuilt.onnx"
cmp "$train/rebuilt.onnx" "$train/csrnet-ci-train.onnx" \
  || { echo "build_csrnet.py --layers/--card did not rebuild the bytes train.py wrote" >&2; exit 1; }
.venv/bin/python models/check_csrnet.py "$train/rebuilt.onnx" --layers "$train/csrnet-ci-train.layers.npz"
printf '[model]\npath = "%s"\nthreads = 0\nexecution_providers = ["cpu"]\n' "$train/rebuilt.onnx" > "$cfg"
"$bin" --config "$cfg" eval "$drone/manifest.csv" --only seq001_1.jpg --mode default --json | tee "$out/train-eval.jsonl"
grep -q '"predicted":[0-9]' "$out/train-eval.jsonl" || { echo "skycountd gave no count with the trained model" >&2; exit 1; }
echo "train quick: $(( $(date +%s) - start )) s"
