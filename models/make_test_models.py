#!/usr/bin/env python3
"""Writes the small models skycountd's upload tests need, into models/out/test/:

    csrnet-tiny-card.onnx   csrnet-tiny with a model card (name `tiny-card`, analysis scale 0.25),
                            as models/finetune.py writes one: a good upload
    wrong-input.onnx        takes float32 pixels instead of u8: breaks the contract
    wrong-output.onnx       u8 in, but a map at the input's full size instead of 1/8: caught by
                            the test frame skycountd runs before it switches
    csrnet-tiny.onnx        csrnet-tiny again, with its INT8 twin beside it:
    csrnet-tiny-int8.onnx   made by models/quantize.py as for the real model, calibrated on
                            synthetic frames (smooth random colours) and checked on others, whose
                            "truth" is the FP32 count rounded (random weights count nothing);
                            the card records what the check found
    int8-failed.onnx        that twin with a card saying its checks failed (what quantize.py
                            writes when the INT8 count drifts past the limits)

Deterministic; run by models/make.sh. Random weights: the counts mean nothing.
"""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402
import quantize  # noqa: E402


def card_model():
    card = {"name": "tiny-card", "analysis_scale": 0.25, "base": "random (tests only)", "data": {}, "settings": {}}
    meta = {
        "source": "models/make_test_models.py: csrnet-tiny with a card, for tests only",
        "version": "tiny-card",
        "license": "no third-party data (random weights)",
        "skycount.analysis_scale": "0.25",
        "skycount.card": json.dumps(card, sort_keys=True),
    }
    return build_csrnet.build(None, channels_divisor=build_csrnet.TINY_DIVISOR, name="csrnet_tiny_card", meta=meta)


def small(nodes, input_type, name):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", input_type, [1, "height", "width", 3])],
        [helper.make_tensor_value_info("density", TensorProto.FLOAT, [1, 1, "h", "w"])],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", build_csrnet.OPSET)])
    m.ir_version = build_csrnet.IR_VERSION
    onnx.checker.check_model(m)
    return m


def wrong_input():
    return small(
        [
            helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("ReduceMean", ["nchw"], ["density"], keepdims=1, axes=[1]),
        ],
        TensorProto.FLOAT,
        "wrong_input",
    )


def wrong_output():
    return small(
        [
            helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("ReduceMean", ["nchw"], ["density"], keepdims=1, axes=[1]),
        ],
        TensorProto.UINT8,
        "wrong_output",
    )


def synthetic_frames(seed, n, size=(96, 160)):
    """Smooth random pictures (8x8 blocks of random colour), RGB uint8, like photos more than
    noise: what the tiny twin is calibrated and checked on."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        frames.append(np.repeat(np.repeat(small, 8, 0), 8, 1))
    return frames


def tiny_twin(float_path):
    """csrnet-tiny's INT8 twin with its card, checked honestly on synthetic frames."""
    scheme = quantize.Scheme()
    model = quantize.twin(float_path, synthetic_frames(1, 8), scheme, threads=1)
    fp32, int8 = quantize.session(float_path, 1), quantize.session(model, 1)
    rows = []
    for i, rgb in enumerate(synthetic_frames(2, 12)):
        f = quantize.count(fp32, rgb)
        rows.append(("synthetic", f"synthetic-{i}", None, f, quantize.count(int8, rgb)))
    checks = quantize.compare(rows)
    checks["at"] = "synthetic 160x96 frames without a truth (tests only)"
    names = [f"synthetic-calibration-{i}" for i in range(8)]
    quantize.make_card(model, float_path, quantize.sha256(float_path), scheme, names, checks)
    return model


def failed(twin):
    """`twin` with a card saying its checks failed."""
    model = copy.deepcopy(twin)
    for p in model.metadata_props:
        if p.key == quantize.CHECKS_KEY:
            checks = json.loads(p.value)
            checks["passed"] = False
            checks["problems"] = ["synthetic: made to fail for the tests (models/make_test_models.py)"]
            p.value = json.dumps(checks, sort_keys=True)
    return model


def main():
    out = HERE / "out" / "test"
    tiny = build_csrnet.build(None, channels_divisor=build_csrnet.TINY_DIVISOR, name="csrnet_tiny")
    for name, model in (
        ("csrnet-tiny-card.onnx", card_model()),
        ("wrong-input.onnx", wrong_input()),
        ("wrong-output.onnx", wrong_output()),
        ("csrnet-tiny.onnx", tiny),
    ):
        changed = build_csrnet.write_if_changed(model, out / name)
        print(f"{'wrote' if changed else 'unchanged'} {out / name}")
    twin = tiny_twin(out / "csrnet-tiny.onnx")
    checks = json.loads(quantize.metadata(twin)[quantize.CHECKS_KEY])
    if not checks["passed"]:
        sys.exit(f"the tiny INT8 twin failed its own checks: {checks['problems']}")
    for name, model in (("csrnet-tiny-int8.onnx", twin), ("int8-failed.onnx", failed(twin))):
        changed = build_csrnet.write_if_changed(model, out / name)
        print(f"{'wrote' if changed else 'unchanged'} {out / name}")


if __name__ == "__main__":
    main()
