"""CSRNet in PyTorch, on the weights dict `build_csrnet.build` takes: for the training commands.

No `nn.Module`: the network is the ordered list of convolutions of `csrnet_graph.layers()`, run on a
dict `name -> tensor`, so the stock weights (the `csrnet` 0.2 npz), a trained model's weights and the
ONNX graph written back all use the same names, and any prefix of the network can be run alone (the
frozen part whose output training caches) or any suffix (the trained part).
"""

import sys
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - said clearly to the user
    raise SystemExit(
        "PyTorch is not installed in this Python: .venv/bin/pip install -r models/requirements-train.txt "
        "(or run scripts/setup.sh with SKYCOUNT_TRAIN=1)"
    )

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402
import csrnet_graph  # noqa: E402
from weights import find_weights  # noqa: E402

STRIDE = 8  # input pixels per density cell


def names():
    """Every convolution's name, in order."""
    return [n for n, *_ in csrnet_graph.layers()]


def split(trained_from):
    """(frozen, trained) layer names, the trained part starting at layer `trained_from` (a name)."""
    all_names = names()
    i = all_names.index(trained_from)
    return all_names[:i], all_names[i:]


def context_cells(trained):
    """Density cells of context each side that the trained layers read (3x3 kernels, dilation 2 in
    the back end): a crop needs this much margin for its inner cells to be exact."""
    spec = {name: (k, dil) for name, _, _, k, dil, _ in csrnet_graph.layers()}
    return sum(dil * (k // 2) for k, dil in (spec[n] for n in trained))


def forward(weights, x, layer_names, pools=True):
    """Runs the convolutions `layer_names` (in order) on NCHW `x`.

    The output layer is followed by a ReLU, as in the graph a trained model is written to
    (`build_csrnet.build(..., relu_output=True)`): a density is never negative. Without it the
    losses are met by negative density cancelling positive density, and counts collapse.
    """
    spec = {name: (k, dil, pool) for name, _, _, k, dil, pool in csrnet_graph.layers()}
    for name in layer_names:
        k, dil, pool = spec[name]
        if pool and pools:
            x = F.max_pool2d(x, 2, 2)
        x = F.conv2d(x, weights[name + ".weight"], weights[name + ".bias"], padding=dil * (k // 2), dilation=dil)
        x = F.relu(x)
    return x


def normalise(rgb):
    """u8 HxWx3 RGB -> float NCHW normalised as the ONNX graph does."""
    t = torch.from_numpy(np.array(rgb, dtype=np.float32))
    mean = torch.tensor(csrnet_graph.MEAN) * 255.0
    inv = 1.0 / (torch.tensor(csrnet_graph.STD) * 255.0)
    return ((t - mean) * inv).permute(2, 0, 1).unsqueeze(0)


def stock_weights():
    """The `csrnet` 0.2 weights as tensors."""
    with np.load(find_weights()) as z:
        return {k: torch.from_numpy(z[k].copy()) for k in z.files}


def with_layers(base, npz_path):
    """`base` with the layers stored in `npz_path` (a trained model's layers) put in their place."""
    arrays = {k: v.numpy() for k, v in base.items()}
    merged = build_csrnet.with_layers(arrays, npz_path)
    return {k: base[k] if merged[k] is arrays[k] else torch.from_numpy(merged[k]) for k in merged}
