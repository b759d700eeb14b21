#!/usr/bin/env python3
"""Writes the small models skycountd's upload tests need, into models/out/test/:

    csrnet-tiny-card.onnx   csrnet-tiny with a model card (name `tiny-card`, analysis scale 0.25),
                            as models/finetune.py writes one: a good upload
    wrong-input.onnx        takes float32 pixels instead of u8: breaks the contract
    wrong-output.onnx       u8 in, but a map at the input's full size instead of 1/8: caught by
                            the test frame skycountd runs before it switches

Deterministic; run by models/make.sh. Random weights: the counts mean nothing.
"""

import json
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402


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


def main():
    out = HERE / "out" / "test"
    for name, model in (
        ("csrnet-tiny-card.onnx", card_model()),
        ("wrong-input.onnx", wrong_input()),
        ("wrong-output.onnx", wrong_output()),
    ):
        changed = build_csrnet.write_if_changed(model, out / name)
        print(f"{'wrote' if changed else 'unchanged'} {out / name}")


if __name__ == "__main__":
    main()
