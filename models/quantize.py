#!/usr/bin/env python3
"""Builds the INT8 twin of a float CSRNet model and checks it against the float one.

    python models/quantize.py models/out/csrnet.onnx          # -> models/out/csrnet-int8.onnx
    python models/quantize.py MODEL [--out PATH] [--shared DIR] [--threads N] [--calibrate]

models/make.sh runs it once for every float model it builds. The twin is MODEL's graph with its
convolutions in 8-bit integers: ONNX Runtime's static quantization (onnxruntime.quantization, the
pinned onnxruntime wheel), QDQ format (QuantizeLinear/DequantizeLinear pairs around each quantized
tensor, which ONNX Runtime's CPU provider fuses into integer kernels and TensorRT reads as explicit
INT8), weights signed 8-bit per output channel, activations unsigned 8-bit per tensor, their
ranges calibrated on a fixed set of frames (below). The choices, each measured on the shared test
sets (docs/accuracy.md, "INT8", and models/research/int8_choice.py):

- calibration: CALIBRATION_METHOD over the frames of CALIBRATION_LIST (drone frames of VisDrone's
  training split, one per clip, never the held-out sets), each at the size the box analyses it
  (the 640x360 pixel budget with the frame's aspect kept, analyse::budget_scale), in the list's
  order, one frame at a time;
- nodes left in float: FLOAT_NODES (the first two convolutions, which see the normalised colours
  at full resolution, the last two of the back end and the output layer, whose map is the count),
  unless the float model's card names its own (`int8.float_nodes`: the drone model's trained back
  end reads finer differences in the front end's features, and it keeps three more front-end
  convolutions in float: Scheme.for_model);
- activations unsigned 8-bit (asymmetric): signed symmetric ones (what TensorRT's INT8 needs)
  moved one VisDrone frame's count by 20 %;
- the ranges are rounded to RANGE_DIGITS significant digits before the scales are computed, so
  that the last bits of a float run (which differ between CPUs' instruction sets) do not change
  the file.

The card: `skycount.precision` = `int8`, `skycount.float_model` = the float file's name and sha256
(the daemon refuses a twin whose float model is not the one beside it), `skycount.quantization`
(how it was made) and `skycount.int8_checks` (JSON: `passed`, the limits, the figures). The float
model's own metadata (its card, its analysis scale) is kept, so the twin counts at the same size.

The checks, before the file is written: FP32 and INT8 on every image of CHECK_SETS at the default
analysis size; per set the INT8 count must be within MAX_MEAN_DRIFT % of the FP32 count on
average, within MAX_IMAGE_DRIFT % on every image with at least MANY_PEOPLE people, and the mean
absolute relative error against the truth no more than MAX_ERROR_INCREASE points worse. A twin
that fails is written all the same, its card saying `"passed": false` and why: skycountd's
`model.precision = "auto"` then runs the float model, and `"int8"` refuses it.

Calibrating and checking the real model takes about 15 minutes on 2 cores, so what they produce
is committed, as the trained layers are: models/int8/<stem>.ranges.json holds, for one float
model (its sha256), the calibrated ranges, how they were made (the scheme, the calibration list's
digest, the ONNX Runtime version), the sha256 of the quantized graph they give and the checks'
figures on that very graph. When the float model, the scheme, the list and ONNX Runtime are the
ones recorded there, the twin is quantized from the recorded ranges (seconds, no frames needed)
and, when its graph is the recorded one byte for byte, its card carries the recorded checks: the
file is then the one calibrating would write (tested by models/test_models.py). Otherwise, or with
--calibrate, it calibrates and checks (and rewrites the ranges file, to be committed). CI holds
the twin to the same limits through skycountd's own pipeline (scripts/accuracy_guard.sh).

Deterministic: the same float model, frames and packages give the same bytes (tested by
models/test_models.py), and an output that already has them is left as it is. Without recorded
ranges for the float model and without the shared frames (DIR/training/visdrone/train, default
../shared beside the repository) nothing is written and it says so (exit 0): a box without the
twin runs the float model.
"""

import argparse
import csv
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402

DEFAULT_SHARED = HERE.parent.parent / "shared"
CALIBRATION_LIST = HERE / "int8-calibration.txt"
# What calibration produced, one file per float model (<stem>.ranges.json), committed.
RANGES_DIR = HERE / "int8"
RANGES_FORMAT = 1
# The box's default analysis size, a pixel budget (config.rs: model.input_width x input_height).
BUDGET = (640, 360)
CELL = 8

CALIBRATION_METHOD = "minmax"
# The sizes the frames are calibrated at, as factors across of the budget size (the box analyses
# at the budget by default). Adding half the budget (denser people per cell) widened the ranges
# and did not help the dense crowd photos.
CALIBRATION_SCALES = (1.0,)
# Measured (docs/accuracy.md, "INT8"): with only the first and last convolutions in float a dense
# crowd photo moved by 6.5 %; the second convolution (full resolution) and the last two of the
# back end (1/8 resolution, cheap) in float too hold every limit on every set.
FLOAT_NODES = ("frontend.0", "frontend.2", "backend.8", "backend.10", "output_layer")
RANGE_DIGITS = 4

# Sets the twin is checked on (relative to the shared folder): manifests with file and gt_count.
CHECK_SETS = ("testdata/drone", "testdata/crowd", "training/visdrone/val")
MAX_MEAN_DRIFT = 2.0
MAX_IMAGE_DRIFT = 5.0
MANY_PEOPLE = 20
# A count that moved by less than this many people has not changed (skycountd eval's
# COUNT_RESOLUTION): the per-image limit leaves it alone.
COUNT_RESOLUTION = 0.5
MAX_ERROR_INCREASE = 1.0

PRECISION_KEY = "skycount.precision"
FLOAT_MODEL_KEY = "skycount.float_model"
QUANTIZATION_KEY = "skycount.quantization"
CHECKS_KEY = "skycount.int8_checks"


class Scheme:
    """How to quantize: the knobs the research script (models/research/int8_choice.py) varies."""

    def __init__(self, method=CALIBRATION_METHOD, float_nodes=FLOAT_NODES, activations="u8",
                 reduce_range=False, percentile=99.999, scales=CALIBRATION_SCALES):
        self.method = method
        self.scales = tuple(scales)
        self.float_nodes = tuple(float_nodes)
        self.activations = activations
        self.reduce_range = reduce_range
        self.percentile = percentile

    @classmethod
    def for_model(cls, float_model):
        """The scheme for `float_model` (an onnx ModelProto): the default, with the nodes its card
        leaves in float (`skycount.card`'s `int8.float_nodes`, chosen by measuring that model with
        research/int8_choice.py) in place of FLOAT_NODES."""
        try:
            card = json.loads(metadata(float_model).get("skycount.card", "{}"))
        except ValueError as e:
            raise SystemExit(f"the model's skycount.card is not JSON ({e}): rebuild it with models/make.sh")
        nodes = (card.get("int8") or {}).get("float_nodes") if isinstance(card, dict) else None
        if nodes is None:
            return cls()
        known = {n.name for n in float_model.graph.node}
        unknown = [n for n in nodes if n not in known]
        if not isinstance(nodes, list) or unknown:
            raise SystemExit(f"the model's card names float nodes the graph does not have: {unknown or nodes}")
        return cls(float_nodes=nodes)

    def describe(self):
        d = {
            "format": "QDQ",
            "weights": "int8, symmetric, per output channel" + (" (7-bit range)" if self.reduce_range else ""),
            "activations": {"u8": "uint8, asymmetric, per tensor", "s8": "int8, symmetric, per tensor"}[self.activations],
            "calibration": self.method + (f" {self.percentile}" if self.method == "percentile" else ""),
            "calibration_sizes": [f"{k:g} x the {BUDGET[0]}x{BUDGET[1]} budget" for k in self.scales],
            "float_nodes": list(self.float_nodes),
            "range_digits": RANGE_DIGITS,
        }
        return d


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------ frames


def budget_size(width, height, budget=BUDGET):
    """The analysis size of a width x height frame at the default pixel budget, as skycountd's
    analyse::size_at(budget_scale(...)): the frame's aspect kept, each side down to whole cells."""
    scale = math.sqrt(budget[0] * budget[1] / (max(width, 1) * max(height, 1)))
    w, h = round(width * scale), round(height * scale)
    return max(w // CELL, 1) * CELL, max(h // CELL, 1) * CELL


def load_frame(path, size=None, scale=1.0):
    """RGB uint8 [H, W, 3] at `size` (default: the budget size times `scale` across), resized
    bilinearly with the shrinking filter widened, as the daemon's resize."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is None:
            w, h = budget_size(*im.size)
            size = (max(round(w * scale) // CELL, 1) * CELL, max(round(h * scale) // CELL, 1) * CELL)
        if im.size != size:
            im = im.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(im)


def read_calibration_list(shared, listfile=CALIBRATION_LIST):
    """[(path, sha256)] of the calibration frames; exits when one is missing or not the listed file."""
    frames = []
    for n, line in enumerate(Path(listfile).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        rel, digest = line.split()
        frames.append((Path(shared) / rel, digest))
    return frames


def verified(frames):
    """The frames' paths after checking each is there with the listed content."""
    bad = []
    for path, digest in frames:
        if not path.is_file():
            bad.append(f"{path}: missing")
        elif sha256(path) != digest:
            bad.append(f"{path}: not the listed file (sha256 differs)")
    if bad:
        raise SystemExit(
            "the INT8 calibration frames are not the listed ones, so the twin would not be the "
            "documented one:\n  " + "\n  ".join(bad[:10]) + f"\n  ({len(bad)} of {len(frames)}; list: {CALIBRATION_LIST})"
        )
    return [p for p, _ in frames]


class Frames:
    """A calibration data reader: one frame per call, in the given order (the histograms of the
    entropy and percentile methods depend on the order in which ranges grow)."""

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.i = 0

    def get_next(self):
        if self.i >= len(self.arrays):
            return None
        self.i += 1
        return {"image": np.ascontiguousarray(self.arrays[self.i - 1])[None]}

    def __len__(self):
        return len(self.arrays)

    def set_range(self, start_index, end_index):  # the interface quantize_static may call
        raise NotImplementedError


# ------------------------------------------------------------------------------- calibration


def calibration_method(scheme):
    from onnxruntime.quantization.calibrate import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[scheme.method]


def tensor_ranges(model_path, arrays, scheme, threads=2):
    """The calibrated range of every tensor the quantizer will look at: {name: (low, high)},
    rounded to RANGE_DIGITS significant digits."""
    from onnxruntime.quantization.calibrate import create_calibrator

    method = calibration_method(scheme)
    extra = {"symmetric": scheme.activations == "s8"}
    if scheme.method == "percentile":
        extra["percentile"] = scheme.percentile
    with tempfile.TemporaryDirectory(prefix="skycount-int8-") as tmp:
        calibrator = create_calibrator(
            Path(model_path),
            None,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=method,
            extra_options=extra,
        )
        # The calibrator's own session uses every core and no graph optimisation; the number of
        # threads does not change a float convolution's result in ONNX Runtime's CPU kernels
        # (they split the output, not the sums), so it is set only to stay frugal.
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = threads
        calibrator.infer_session = ort.InferenceSession(
            calibrator.augmented_model_path, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        for a in arrays:
            calibrator.collect_data(Frames([a]))
        data = calibrator.compute_data()
    out = {}
    for name in sorted(data.keys()):
        lo, hi = data[name].range_value
        out[name] = (round_sig(float(np.asarray(lo).reshape(-1)[0])), round_sig(float(np.asarray(hi).reshape(-1)[0])))
    return out


def round_sig(x, digits=RANGE_DIGITS):
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


def quantize(model_path, ranges, scheme):
    """The QDQ model (ModelProto) of `model_path` with `ranges`."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    method = calibration_method(scheme)
    data = TensorsData(
        method,
        {
            k: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
            for k, (lo, hi) in ranges.items()
        },
    )
    with tempfile.TemporaryDirectory(prefix="skycount-int8-") as tmp:
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(data, cache)
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(model_path),
            str(out),
            calibration_data_reader=None,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "MaxPool", "Relu"],
            per_channel=True,
            reduce_range=scheme.reduce_range,
            activation_type=QuantType.QUInt8 if scheme.activations == "u8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(scheme.float_nodes),
            calibrate_method=method,
            extra_options={"ActivationSymmetric": scheme.activations == "s8", "WeightSymmetric": True},
            calibration_cache_path=str(cache),
        )
        return onnx.load(str(out))


# ------------------------------------------------------------------------------------ checks


def read_set(folder):
    """[(file, path, truth)] of a manifest folder."""
    folder = Path(folder)
    with open(folder / "manifest.csv", newline="") as f:
        return [(r["file"], folder / r["file"], float(r["gt_count"])) for r in csv.DictReader(f)]


def session(model, threads=2):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def count(sess, rgb):
    return float(sess.run(["density"], {"image": np.ascontiguousarray(rgb)[None]})[0].sum(dtype=np.float64))


def compare(rows):
    """Per set: rows are (set, file, truth, fp32, int8), truth None when there is none (then the
    error against it is not checked, and every image counts as one with many people). Returns
    the figures and whether the limits hold."""
    by_set = {}
    for r in rows:
        by_set.setdefault(r[0], []).append(r)
    sets = {}
    passed = True
    problems = []
    for name, rs in sorted(by_set.items()):
        drift = [abs(i - f) / max(abs(f), 1e-9) * 100 for _, _, _, f, i in rs]
        # The per-image limit judges images with many people whose count moved by more than
        # COUNT_RESOLUTION people (as skycountd eval --max-image-drift).
        many = [(file, abs(i - f) / max(abs(f), 1e-9) * 100) for _, file, t, f, i in rs
                if (t is None or t >= MANY_PEOPLE) and abs(i - f) > COUNT_RESOLUTION]
        n_many = sum(1 for _, _, t, _, _ in rs if t is None or t >= MANY_PEOPLE)
        truths = [r for r in rs if r[2] is not None and r[2] > 0]
        err_f = float(np.mean([abs(f - t) / t * 100 for _, _, t, f, _ in truths])) if truths else None
        err_i = float(np.mean([abs(i - t) / t * 100 for _, _, t, _, i in truths])) if truths else None
        worst = max(many, key=lambda m: m[1]) if many else None
        s = {
            "images": len(rs),
            "mean_drift_pct": round(float(np.mean(drift)), 2),
            "max_drift_pct": round(float(np.max(drift)), 2),
            "images_with_many_people": n_many,
            "max_drift_pct_many_people": round(worst[1], 2) if worst else None,
            "error_fp32_pct": None if err_f is None else round(err_f, 2),
            "error_int8_pct": None if err_i is None else round(err_i, 2),
        }
        sets[name] = s
        if s["mean_drift_pct"] > MAX_MEAN_DRIFT:
            problems.append(f"{name}: the count moved by {s['mean_drift_pct']} % on average (limit {MAX_MEAN_DRIFT} %)")
        if worst and worst[1] > MAX_IMAGE_DRIFT:
            problems.append(f"{name}: {worst[0]} moved by {worst[1]:.2f} % (limit {MAX_IMAGE_DRIFT} % on images with >= {MANY_PEOPLE} people)")
        if err_i is not None and err_i - err_f > MAX_ERROR_INCREASE:
            problems.append(
                f"{name}: error against the truth {err_i:.2f} % against {err_f:.2f} % in FP32 (limit +{MAX_ERROR_INCREASE} points)"
            )
    passed = not problems
    return {"passed": passed, "problems": problems, "sets": sets}


def check(float_path, int8_model, shared, threads=2, log=print):
    """Runs both models on every image of CHECK_SETS; the figures and the verdict (a dict)."""
    fp32, int8 = session(float_path, threads), session(int8_model, threads)
    rows = []
    for rel in CHECK_SETS:
        folder = Path(shared) / rel
        if not (folder / "manifest.csv").is_file():
            raise SystemExit(f"no {folder / 'manifest.csv'}: the INT8 twin is checked on it")
        name = rel.split("/")[-1]
        for file, path, truth in read_set(folder):
            rgb = load_frame(path)
            f, i = count(fp32, rgb), count(int8, rgb)
            rows.append((name, file, truth, f, i))
        log(f"  checked on {name}: {sum(1 for r in rows if r[0] == name)} images")
    result = compare(rows)
    result["limits"] = {
        "mean_drift_pct": MAX_MEAN_DRIFT,
        "image_drift_pct": MAX_IMAGE_DRIFT,
        "many_people": MANY_PEOPLE,
        "error_increase_points": MAX_ERROR_INCREASE,
    }
    result["at"] = "the default analysis size (a 640x360 pixel budget, aspect kept)"
    return result, rows


# ------------------------------------------------------------------------------ ranges file


def ranges_path(float_path, ranges_dir=RANGES_DIR):
    return Path(ranges_dir) / (Path(float_path).stem + ".ranges.json")


def graph_sha256(model):
    """The sha256 of a quantized model before its INT8 card is put in (what the ranges give)."""
    return hashlib.sha256(model.SerializeToString()).hexdigest()


def write_ranges(path, float_path, float_sha, how, ranges, model_sha, checks):
    """Records what calibrating `float_path` produced (models/int8/<stem>.ranges.json)."""
    doc = {
        "format": RANGES_FORMAT,
        "about": "INT8 calibration of " + Path(float_path).name + " by models/quantize.py: the twin is "
                 "quantized from these ranges when the float model, the scheme, the calibration list and "
                 "ONNX Runtime are the ones below; commit this file with the float model it was made from",
        "float_model": {"file": Path(float_path).name, "sha256": float_sha},
        "quantization": how,
        "ranges": {k: [lo, hi] for k, (lo, hi) in sorted(ranges.items())},
        "twin_graph_sha256": model_sha,
        "checks": checks,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
        return True
    return False


def recorded_ranges(path, float_sha, how):
    """The recorded calibration in `path` when it was made from the float file with `float_sha`
    the same way (`how`, which names the ONNX Runtime version): (ranges, graph sha256, checks);
    else (None, why)."""
    path = Path(path)
    if not path.is_file():
        return None, f"no {path.name} in {path.parent}"
    try:
        doc = json.loads(path.read_text())
    except ValueError as e:
        return None, f"{path} is not JSON ({e})"
    if doc.get("format") != RANGES_FORMAT:
        return None, f"{path} is in another format ({doc.get('format')!r}, this quantize.py reads {RANGES_FORMAT})"
    if doc.get("float_model", {}).get("sha256") != float_sha:
        return None, f"{path.name} was calibrated on another {doc.get('float_model', {}).get('file', 'float model')} (sha256 differs)"
    if doc.get("quantization") != json.loads(json.dumps(how, sort_keys=True)):
        theirs, ours = doc.get("quantization") or {}, json.loads(json.dumps(how))
        what = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        return None, f"{path.name} was made another way ({', '.join(what)} differ)"
    ranges = {k: (float(lo), float(hi)) for k, (lo, hi) in doc["ranges"].items()}
    return (ranges, doc.get("twin_graph_sha256"), doc.get("checks")), None


# ------------------------------------------------------------------------------------- build


def metadata(model):
    return {p.key: p.value for p in model.metadata_props}


def is_int8(model):
    return metadata(model).get(PRECISION_KEY) == "int8"


def twin_path(float_path):
    p = Path(float_path)
    return p.with_name(p.stem + "-int8.onnx")


def twin(float_path, arrays, scheme, threads=2):
    """The QDQ model of `float_path` calibrated on `arrays` (RGB uint8 [H, W, 3], in order),
    without its INT8 card (`make_card`)."""
    ranges = tensor_ranges(float_path, arrays, scheme, threads)
    return quantize(float_path, ranges, scheme)


def how_made(scheme, frames):
    """The card's `skycount.quantization`: the scheme, the calibration frames (their number and
    a digest of their names, in order) and the ONNX Runtime that quantized."""
    how = scheme.describe()
    how["calibration_frames"] = len(frames)
    how["calibration_list_sha256"] = hashlib.sha256(
        "".join(f"{Path(p).name}\n" for p in frames).encode()).hexdigest()
    how["onnxruntime"] = ort.__version__
    return how


def up_to_date(out, float_sha, how):
    """Whether `out` is already the twin this build would write: made from the float file with
    `float_sha`, the same way (`how_made`). Quantizing and checking the real model takes about 15
    minutes on 2 cores, so make.sh skips it then (`--force` does not)."""
    try:
        meta = metadata(onnx.load(str(out), load_external_data=False))
        made_from = json.loads(meta.get(FLOAT_MODEL_KEY, "{}"))
        made_how = json.loads(meta.get(QUANTIZATION_KEY, "{}"))
    except Exception:  # noqa: BLE001 - an unreadable file is rebuilt
        return False
    return made_from.get("sha256") == float_sha and made_how == json.loads(json.dumps(how, sort_keys=True))


def make_card(model, float_path, float_sha, scheme, frames, checks):
    """Puts the INT8 card into `model` (in place): the float model's metadata first, then ours.
    `frames` names the calibration frames (paths or names, in order)."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("skycount.int8") and p.key not in (
        PRECISION_KEY, FLOAT_MODEL_KEY, QUANTIZATION_KEY)]
    del model.metadata_props[:]
    how = how_made(scheme, frames)
    entries = keep + [
        (PRECISION_KEY, "int8"),
        (FLOAT_MODEL_KEY, json.dumps({"file": Path(float_path).name, "sha256": float_sha}, sort_keys=True)),
        (QUANTIZATION_KEY, json.dumps(how, sort_keys=True)),
        (CHECKS_KEY, json.dumps(checks, sort_keys=True)),
    ]
    for k, v in entries:
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    model.producer_name = "skycount models/quantize.py"
    model.doc_string = (model.doc_string + " INT8 (QDQ) twin of " + Path(float_path).name + ".").strip()
    return model


def build_twin(float_path, out, shared, scheme=None, threads=2, calibration=None, check_sets=True, log=print,
               force=False, ranges_dir=RANGES_DIR, calibrate=False):
    """Quantizes, checks and writes the twin: from the ranges recorded in `ranges_dir` when they
    fit, else (or with `calibrate`) by calibrating on the frames and checking, and records the
    ranges then. Returns (changed, checks)."""
    float_path = Path(float_path)
    float_model = onnx.load(str(float_path))
    scheme = scheme or Scheme.for_model(float_model)
    if is_int8(float_model):
        raise SystemExit(f"{float_path} is already an INT8 model: quantize its float model")
    # The frames' names make the card's digest; their contents are checked only when calibrating.
    frames = calibration if calibration is not None else [p for p, _ in read_calibration_list(shared)]
    float_sha = sha256(float_path)
    how = how_made(scheme, frames)
    if not force and not calibrate and Path(out).is_file() and up_to_date(out, float_sha, how):
        checks = json.loads(metadata(onnx.load(str(out), load_external_data=False)).get(CHECKS_KEY, "{}"))
        log(f"  {Path(out).name} is up to date (made from this {float_path.name}, the same way)")
        return False, checks
    recorded_file = ranges_path(float_path, ranges_dir)
    recorded, why = (None, "--calibrate") if calibrate else recorded_ranges(recorded_file, float_sha, how)
    checks = None
    if recorded is not None:
        ranges, recorded_sha, recorded_checks = recorded
        t0 = time.monotonic()
        model = quantize(float_path, ranges, scheme)
        log(f"  quantized from the ranges recorded in {recorded_file.name} ({time.monotonic() - t0:.0f} s)")
        if graph_sha256(model) == recorded_sha and recorded_checks is not None:
            # The very graph that was checked when it was calibrated, by the same ONNX Runtime.
            checks = recorded_checks
            log("  the graph is the one checked when calibrated: its checks are the recorded ones")
        else:
            log(f"  the graph is not the one {recorded_file.name} records (another onnx package?): checking it")
    else:
        log(f"  calibrating ({why}): about 10 minutes for the real model on 2 cores")
        t0 = time.monotonic()
        arrays = [load_frame(p, scale=k) for k in scheme.scales for p in (
            frames if calibration is not None else verified(read_calibration_list(shared)))]
        ranges = tensor_ranges(float_path, arrays, scheme, threads)
        model = quantize(float_path, ranges, scheme)
        log(f"  quantized with {len(frames)} calibration frames ({time.monotonic() - t0:.0f} s)")
    if checks is None:
        if check_sets:
            t0 = time.monotonic()
            checks, _ = check(float_path, model, shared, threads, log)
            log(f"  checked against the float model ({time.monotonic() - t0:.0f} s)")
        else:
            checks = {"passed": False, "problems": ["not checked"], "sets": {}}
        if write_ranges(recorded_file, float_path, float_sha, how, ranges, graph_sha256(model), checks):
            log(f"  wrote {recorded_file}: commit it, so that builds quantize from it in seconds")
    make_card(model, float_path, float_sha, scheme, frames, checks)
    onnx.checker.check_model(model)
    return build_csrnet.write_if_changed(model, Path(out)), checks


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="the float model (models/out/csrnet.onnx)")
    p.add_argument("--out", type=Path, help="default: MODEL's folder, <stem>-int8.onnx")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"the shared data: calibration frames and check sets (default {DEFAULT_SHARED})")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    p.add_argument("--force", action="store_true",
                   help="quantize again even when OUT is already made from MODEL the same way")
    p.add_argument("--calibrate", action="store_true",
                   help=f"calibrate and check anew (about 15 minutes for the real model on 2 cores) even when "
                        f"{RANGES_DIR.name}/<stem>.ranges.json records the ranges for MODEL; rewrites that file")
    p.add_argument("--ranges-dir", type=Path, default=RANGES_DIR,
                   help=f"where the recorded calibrations are (default {RANGES_DIR})")
    a = p.parse_args()
    if not a.model.is_file():
        sys.exit(f"{a.model} does not exist: build it first (models/make.sh)")
    out = a.out or twin_path(a.model)
    print(f"{out.name}: INT8 twin of {a.model.name}")
    if not (a.shared / "training/visdrone/train/manifest.csv").is_file():
        scheme = Scheme.for_model(onnx.load(str(a.model), load_external_data=False))
        how = how_made(scheme, [p for p, _ in read_calibration_list(a.shared)])
        recorded, why = recorded_ranges(ranges_path(a.model, a.ranges_dir), sha256(a.model), how)
        if a.calibrate or recorded is None:
            print(f"  no calibration frames in {a.shared} (training/visdrone/train) and "
                  f"{'--calibrate' if a.calibrate else why}: {out.name} not built; a box without it runs "
                  f"{a.model.name} in FP32")
            return
    changed, checks = build_twin(a.model, out, a.shared, threads=a.threads, force=a.force,
                                 ranges_dir=a.ranges_dir, calibrate=a.calibrate)
    for name, s in checks["sets"].items():
        print(f"  {name}: {s['images']} images, count moved {s['mean_drift_pct']} % on average, "
              f"at most {s['max_drift_pct_many_people'] if s['max_drift_pct_many_people'] is not None else '-'} % "
              f"with >= {MANY_PEOPLE} people (moved > {COUNT_RESOLUTION}); error against "
              f"the truth {s['error_int8_pct']} % (FP32 {s['error_fp32_pct']} %)")
    verdict = "checks passed" if checks["passed"] else "CHECKS FAILED: " + "; ".join(checks["problems"])
    print(f"{'wrote' if changed else 'unchanged'} {out} ({out.stat().st_size / 1e6:.1f} MB): {verdict}")


if __name__ == "__main__":
    main()
