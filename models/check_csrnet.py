#!/usr/bin/env python3
"""Checks the numerics of a built CSRNet model.

    python models/check_csrnet.py models/out/csrnet.onnx
    python models/check_csrnet.py models/out/csrnet.onnx --images ../shared/testdata/crowd

1. Against an independent reference: a plain NumPy forward pass of CSRNet (float64), fed the same
   weights read back from the ONNX file, on a random u8 image. ONNX Runtime must agree to 1e-3 of
   the count and of the map's scale.
2. With --images: on every photo of a manifest (`file`, `reference_count`, `density_shape`), at its
   own resolution, the count must be within 1 % of the reference and the map of the reference shape.
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
import csrnet_graph  # noqa: E402


def reference_forward(model, rgb):
    """CSRNet in NumPy, float64, with the weights stored in `model`. rgb: uint8 [H, W, 3]."""
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    x = (rgb.astype(np.float64) / 255.0 - np.array(csrnet_graph.MEAN)) / np.array(csrnet_graph.STD)
    x = x.transpose(2, 0, 1)  # CHW
    channels_divisor = 512 // w["frontend.21.weight"].shape[0]
    for layer, _cin, _cout, k, d, pool in csrnet_graph.layers(channels_divisor):
        if pool:
            c, h, wd = x.shape
            x = x[:, : h // 2 * 2, : wd // 2 * 2].reshape(c, h // 2, 2, wd // 2, 2).max(axis=(2, 4))
        x = conv(x, w[f"{layer}.weight"], w[f"{layer}.bias"], d)
        if layer != "output_layer":
            x = np.maximum(x, 0.0)
    return x[0]


def conv(x, weight, bias, dilation):
    cout, cin, k, _ = weight.shape
    pad = dilation * (k // 2)
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((cout, h, wd))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i * dilation : i * dilation + h, j * dilation : j * dilation + wd]
            out += np.einsum("oc,chw->ohw", weight[:, :, i, j], patch, optimize=True)
    return out + bias[:, None, None]


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(sess, rgb):
    return sess.run(["density"], {"image": rgb[None]})[0][0, 0]


def check_reference(path, size=(48, 64), tolerance=1e-3):
    model = onnx.load(str(path))
    rgb = np.random.default_rng(1).integers(0, 256, (*size, 3), dtype=np.uint8)
    ours = run(session(path), rgb).astype(np.float64)
    ref = reference_forward(model, rgb)
    assert ours.shape == ref.shape == (size[0] // 8, size[1] // 8), (ours.shape, ref.shape)
    count_err = abs(ours.sum() - ref.sum()) / max(abs(ref.sum()), 1e-9)
    map_err = np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-9)
    ok = count_err <= tolerance and map_err <= tolerance
    print(
        f"{path.name}: ONNX Runtime vs NumPy reference on a {size[1]}x{size[0]} image: "
        f"count {ours.sum():.5f} vs {ref.sum():.5f} (rel. {count_err:.1e}), max map diff rel. {map_err:.1e}"
        f" -> {'ok' if ok else 'FAIL'}"
    )
    return ok


def check_images(path, images, manifest, tolerance=0.01):
    sess = session(path)
    ok = True
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    print(f"{'image':<44} {'reference':>9} {'ours':>9} {'diff':>7} {'s':>6}")
    for row in rows:
        rgb = np.asarray(Image.open(images / row["file"]).convert("RGB"))
        t = time.perf_counter()
        density = run(sess, rgb)
        took = time.perf_counter() - t
        ref = float(row["reference_count"])
        count = float(density.sum())
        rel = abs(count - ref) / ref
        shape_ok = "x".join(map(str, density.shape)) == row["density_shape"]
        good = rel <= tolerance and shape_ok
        ok &= good
        print(f"{row['file']:<44} {ref:>9.2f} {count:>9.2f} {rel * 100:>6.2f}% {took:>6.2f}" + ("" if good else "  FAIL"))
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--images", type=Path, help="folder with manifest.csv (e.g. ../shared/testdata/crowd)")
    a = p.parse_args()
    ok = check_reference(a.model)
    if a.images:
        ok &= check_images(a.model, a.images, a.images / "manifest.csv")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
