#!/usr/bin/env python3
"""Prints the path of libonnxruntime.so inside the installed PyPI `onnxruntime` wheel.

skycountd loads ONNX Runtime at run time; point it there with ORT_DYLIB_PATH:
    export ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py)
"""

import sys
from importlib import util
from pathlib import Path

spec = util.find_spec("onnxruntime")
if spec is None or not spec.submodule_search_locations:
    sys.exit("onnxruntime is not installed in this Python: pip install -r models/requirements.txt")
capi = Path(list(spec.submodule_search_locations)[0]) / "capi"
libs = sorted(capi.glob("libonnxruntime.so.1.*"))
if not libs:
    sys.exit(f"no libonnxruntime.so.1.* in {capi}: reinstall onnxruntime")
print(libs[-1])
