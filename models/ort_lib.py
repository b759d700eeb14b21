#!/usr/bin/env python3
"""Prints the absolute path of libonnxruntime.so.1.* inside the installed PyPI `onnxruntime` wheel.

skycountd loads ONNX Runtime at run time; point it there with ORT_DYLIB_PATH:
    export ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py)
Exit status 1, with what to install, when there is none.
"""

import sys
from importlib import metadata, util
from pathlib import Path

INSTALL = "pip install -r models/requirements.txt"


def find():
    spec = util.find_spec("onnxruntime")  # finds the package without importing (loading) it
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"onnxruntime is not installed in this Python ({sys.executable}): {INSTALL}")
    capi = Path(list(spec.submodule_search_locations)[0]).resolve() / "capi"
    try:
        version = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        version = None
    exact = capi / f"libonnxruntime.so.{version}"
    if version and exact.is_file():
        return exact
    libs = [p for p in capi.glob("libonnxruntime.so.1.*") if p.is_file()]
    if not libs:
        sys.exit(f"no libonnxruntime.so.1.* in {capi}: reinstall onnxruntime ({INSTALL})")
    # Newest by version number, not by string (1.9 < 1.32).
    return max(libs, key=lambda p: [int(s) if s.isdigit() else -1 for s in p.name.split(".so.")[1].split(".")])


if __name__ == "__main__":
    print(find())
