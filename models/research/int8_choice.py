#!/usr/bin/env python3
"""How models/quantize.py quantizes: the calibration method, the nodes left in float, the
activations' type and the calibration frames, each measured on the shared check sets.

    .venv/bin/python models/research/int8_choice.py [--model models/out/csrnet.onnx] [--threads 2]
        [--methods minmax,entropy,percentile] [--frames 54]

For every variant: the INT8 count against the FP32 count on every image of quantize.CHECK_SETS at
the default analysis size (mean and largest drift per set, the largest on images with >= 20
people), the error against the truth, the verdict of quantize.compare (the limits the product
checks), and the time of one 640x360 run. The FP32 counts and the calibrated ranges are cached in
models/research/cache_int8/ (git-ignored), so only the quantized runs are repeated. The figures are
in docs/accuracy.md ("INT8").
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import quantize as q  # noqa: E402

CACHE = HERE / "cache_int8"


def check_frames(shared):
    """[(set, file, truth, rgb)] at the default size, cached."""
    out = []
    for rel in q.CHECK_SETS:
        name = rel.split("/")[-1]
        for file, path, truth in q.read_set(Path(shared) / rel):
            out.append((name, file, truth, q.load_frame(path)))
    return out


def fp32_counts(model, frames, threads):
    key = CACHE / f"fp32-{q.sha256(model)[:12]}.json"
    if key.is_file():
        return json.loads(key.read_text())
    sess = q.session(model, threads)
    counts = [q.count(sess, rgb) for _, _, _, rgb in frames]
    key.write_text(json.dumps(counts))
    return counts


def ranges_for(model, arrays, scheme, threads, tag):
    key = CACHE / f"ranges-{q.sha256(model)[:12]}-{tag}.json"
    if key.is_file():
        return {k: tuple(v) for k, v in json.loads(key.read_text()).items()}
    t0 = time.monotonic()
    r = q.tensor_ranges(model, arrays, scheme, threads)
    print(f"  calibrated {tag} in {time.monotonic() - t0:.0f} s", flush=True)
    key.write_text(json.dumps(r))
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=HERE.parent / "out" / "csrnet.onnx")
    p.add_argument("--shared", type=Path, default=q.DEFAULT_SHARED)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default="minmax,entropy,percentile")
    p.add_argument("--frames", type=int, nargs="*", default=[54], help="calibration frames (the list's first N)")
    p.add_argument("--exclusions", default="none;frontend.0;output_layer;frontend.0,output_layer")
    p.add_argument("--activations", default="u8,s8")
    p.add_argument("--reduce-range", action="store_true", help="also with 7-bit weights")
    p.add_argument("--scales", default="1", help="calibration sizes, factors of the budget: e.g. 1 or 1,0.5 (several: ;)")
    a = p.parse_args()
    CACHE.mkdir(exist_ok=True)
    frames = check_frames(a.shared)
    base = fp32_counts(a.model, frames, a.threads)
    calib_paths = q.verified(q.read_calibration_list(a.shared))
    bench = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    fp32 = q.session(a.model, a.threads)
    q.count(fp32, bench)
    t0 = time.perf_counter()
    q.count(fp32, bench)
    fp32_ms = (time.perf_counter() - t0) * 1e3
    print(f"FP32 640x360 run: {fp32_ms:.0f} ms", flush=True)
    results = []
    for n, scales in [(n, sc) for n in a.frames for sc in a.scales.split(";")]:
        ks = tuple(float(k) for k in scales.split(","))
        arrays = [q.load_frame(p, scale=k) for k in ks for p in calib_paths[:n]]
        for method in a.methods.split(","):
            for act in a.activations.split(","):
                for rr in [False, True] if a.reduce_range else [False]:
                    tag = f"{method}-{act}-{n}" + ("" if ks == (1.0,) else "-x" + "-".join(f"{k:g}" for k in ks))
                    ranges = ranges_for(a.model, arrays, q.Scheme(method=method, activations=act, scales=ks), a.threads, tag)
                    for excl in a.exclusions.split(";"):
                        nodes = () if excl == "none" else tuple(excl.split(","))
                        scheme = q.Scheme(method=method, float_nodes=nodes, activations=act, reduce_range=rr, scales=ks)
                        model = q.quantize(a.model, ranges, scheme)
                        sess = q.session(model, a.threads)
                        q.count(sess, bench)
                        t0 = time.perf_counter()
                        q.count(sess, bench)
                        ms = (time.perf_counter() - t0) * 1e3
                        rows = [(s, f, t, b, q.count(sess, rgb)) for (s, f, t, rgb), b in zip(frames, base)]
                        res = q.compare(rows)
                        label = f"{method:<10} {act} {'7-bit' if rr else '8-bit'} {n:>2} frames x{scales}, float: {excl}"
                        results.append((label, res, ms))
                        sets = "; ".join(
                            f"{k} {v['mean_drift_pct']:.2f}/{v['max_drift_pct_many_people'] or 0:.2f}% err {v['error_int8_pct']:.1f} ({v['error_fp32_pct']:.1f})"
                            for k, v in res["sets"].items()
                        )
                        print(f"{label:<62} {ms:6.0f} ms  {'PASS' if res['passed'] else 'fail'}  {sets}", flush=True)
    print()
    print("| variant | 640x360 run | " + " | ".join(f"{s}: mean / worst ≥20 drift, error (FP32)" for s in results[0][1]["sets"]) + " | limits |")
    print("| --- | ---: | " + " | ".join("---" for _ in results[0][1]["sets"]) + " | --- |")
    for label, res, ms in results:
        cells = " | ".join(
            f"{v['mean_drift_pct']:.2f} % / {v['max_drift_pct_many_people'] or 0:.2f} %, {v['error_int8_pct']:.1f} % ({v['error_fp32_pct']:.1f} %)"
            for v in res["sets"].values()
        )
        print(f"| {label} | {ms:.0f} ms | {cells} | {'met' if res['passed'] else 'not met'} |")


if __name__ == "__main__":
    main()
