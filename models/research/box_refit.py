#!/usr/bin/env python3
"""Re-fit CSRNet's output layer (64 -> 1, 1x1 conv, 65 numbers) on the operator's calibration box.

Question: does fitting the output layer to the taps inside the box (ridge toward the stock
weights) make the whole-frame count of a drone frame more right than the spacing rule alone?

Pipeline (all stages cached, rerunnable):
  1. boxes:    for every frame, B seeded boxes at each N (the smallest 16:9 box around a random
               person holding >= N people, inside the image; the people in it are the taps),
               as daemon/src/commands/eval.rs `box_around` does (numpy RNG, not Rust's StdRng).
               Analysis scale = models/finetune.py scale_for(spacing(taps)) (same rule as
               daemon/src/analyse/calibrate.rs), size = analysis_size(..., max_width 3840).
  2. features: the 64-channel back-end output (after ReLU) at 1/8 resolution, per frame and size,
               cached in cache/<frame>_<w>x<h>.npy (PIL bilinear resize as models/finetune.py).
  3. fits:     per box and per configuration (variant, lambda, sigma) the output layer fitted
               in the box, the whole frame counted with it; the stock layer is the baseline.
  4. LOSO:     hyper-parameters chosen on 3 sequences' frames, applied to the 4th.

Usage (from the repository's root; the caches go to models/research/cache*, git-ignored):
  .venv/bin/python models/research/box_refit.py features --boxes 10      # stage 2 (slow: CNN forward)
  .venv/bin/python models/research/box_refit.py report --boxes 10 --landscape landscape.md   # stages 3-4
  .venv/bin/python models/research/box_refit.py diag --boxes 10 --config '"count_s",0'   # where the density goes
  (full commands: refit-report.md, "Reproduce")
  .venv/bin/python models/research/box_refit.py crowd --boxes 5          # the ShanghaiTech photos
"""

import argparse
import csv
import json
import math
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MAIN = HERE.parent.parent  # the repository
sys.path.insert(0, str(MAIN / "models"))
SHARED = Path(os.environ.get("SHARED", MAIN.parent / "shared" / "testdata"))
DRONE = SHARED / "drone"
CROWD = SHARED / "crowd"
CACHE = HERE / "cache"
MAX_WIDTH = 3840  # analysis.max_width default (daemon/src/config.rs)
STRIDE = 8
SEED = 1
SCALE2 = 0.8  # the second scale of the two-scale fit, times the calibrated one


# ---------------------------------------------------------------------------------------------
# Data and boxes


def load_set(root, only=None):
    pts = json.loads((root / "gt_points.json").read_text())
    frames = []
    with open(root / "manifest.csv") as f:
        for row in csv.DictReader(f):
            name = row["file"]
            if only and not any(o in name for o in only):
                continue
            frames.append(dict(name=name, path=root / name, w=int(row["width"]), h=int(row["height"]),
                               truth=float(row["gt_count"]), points=np.asarray(pts[name], np.float64),
                               seq=seq_of(name)))
    return frames


def seq_of(name):
    stem = Path(name).stem
    return stem.rsplit("_", 1)[0] if "seq" in stem else str(Path(name).parent)


def inside(b, p):
    return (p[:, 0] >= b[0]) & (p[:, 0] <= b[0] + b[2]) & (p[:, 1] >= b[1]) & (p[:, 1] <= b[1] + b[3])


def box_around(points, center, n, w, h):
    """eval.rs box_around: the smallest 16:9 box around `center` holding >= n points, inside the image."""
    def place(bw):
        bh = bw * 9.0 / 16.0
        x = min(max(center[0] - bw / 2.0, 0.0), max(w - bw, 0.0))
        y = min(max(center[1] - bh / 2.0, 0.0), max(h - bh, 0.0))
        return (x, y, min(bw, w), min(bh, h))
    lo, hi = 16.0, max(w, h * 16.0 / 9.0)
    for _ in range(40):
        mid = (lo + hi) / 2
        if inside(place(mid), points).sum() >= n:
            hi = mid
        else:
            lo = mid
    return place(hi)


# The product's rule (models/scale_rule.py, checked against the daemon by models/test_models.py).
from scale_rule import SCALE_MAX, SCALE_MIN, SCALE_STEP, SPACING_TARGET_PX, scale_for, spacing  # noqa: E402,F401


def boxes_for(frame, n, count):
    rng = np.random.default_rng(SEED ^ zlib.crc32(frame["name"].encode()) ^ (n << 20))
    out = []
    pts = frame["points"]
    if len(pts) < n:
        return out
    for _ in range(count):
        c = pts[rng.integers(len(pts))]
        b = box_around(pts, c, n, frame["w"], frame["h"])
        taps = pts[inside(b, pts)][:1000]
        sp = spacing(taps.tolist())
        scale = scale_for(sp)
        out.append(dict(box=b, taps=taps, spacing=sp, scale=scale, size=size_at(frame, scale)))
    return out


def size_at(frame, scale):
    """daemon analyse::size_at (same as finetune.analysis_size)."""
    scale = min(scale, MAX_WIDTH / frame["w"])
    w = max(STRIDE, round(frame["w"] * scale) // STRIDE * STRIDE)
    h = max(STRIDE, round(frame["h"] * scale) // STRIDE * STRIDE)
    return int(w), int(h)


# ---------------------------------------------------------------------------------------------
# Features (torch only here)


def cache_path(frame, size):
    stem = frame["name"].replace("/", "__").rsplit(".", 1)[0]
    return CACHE / f"{stem}_{size[0]}x{size[1]}.npy"


def compute_features(frames_sizes, log):
    import torch
    from PIL import Image
    from finetune import base_weights, forward, frozen_names, normalise
    torch.set_num_threads(1)
    weights = base_weights()
    names = [n for n in frozen_names(0)[0] + frozen_names(0)[1] if n != "output_layer"]
    CACHE.mkdir(exist_ok=True)
    for frame, size in frames_sizes:
        p = cache_path(frame, size)
        if p.exists():
            continue
        t = time.time()
        with Image.open(frame["path"]) as im:
            rgb = np.asarray(im.convert("RGB").resize(size, resample=2))
        with torch.no_grad():
            f = forward(weights, normalise(rgb), names)[0].numpy().astype(np.float32)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, f)
        tmp.rename(p)
        log(f"{frame['name']} {size[0]}x{size[1]}: {time.time() - t:.1f} s")


def stock_layer():
    from weights import find_weights
    with np.load(find_weights()) as z:
        w = z["output_layer.weight"].reshape(-1).astype(np.float64)
        b = float(z["output_layer.bias"].reshape(-1)[0])
    return np.concatenate([w, [b]])


# ---------------------------------------------------------------------------------------------
# The fit


def cell_overlap(frame, size, box):
    """Per cell, the share of it inside the box (calibrate.rs sum_in_box weights)."""
    hc, wc = size[1] // STRIDE, size[0] // STRIDE
    cx, cy = frame["w"] / size[0] * STRIDE, frame["h"] / size[1] * STRIDE
    bx, by, bw, bh = box
    x0 = np.arange(wc) * cx
    y0 = np.arange(hc) * cy
    fx = np.clip(np.minimum(x0 + cx, bx + bw) - np.maximum(x0, bx), 0, None) / cx
    fy = np.clip(np.minimum(y0 + cy, by + bh) - np.maximum(y0, by), 0, None) / cy
    return fy[:, None] * fx[None, :]


def target_map(frame, size, taps, mask, sigma):
    """Taps as Gaussians of `sigma` cells, each normalised over the fit cells (box sums to #taps)."""
    hc, wc = mask.shape
    cx, cy = frame["w"] / size[0] * STRIDE, frame["h"] / size[1] * STRIDE
    ys, xs = np.nonzero(mask)
    gx, gy = xs + 0.5, ys + 0.5
    t = np.zeros(len(ys))
    for x, y in taps:
        g = np.exp(-((gx - x / cx) ** 2 + (gy - y / cy) ** 2) / (2 * sigma ** 2))
        s = g.sum()
        if s > 0:
            t += g / s
    return t


def ridge(X, t, theta0, lam, active=False, scaled=False, fix_bias=False):
    """min ||X th - t||^2 + (th - th0)' M (th - th0).

    iso:    M = lam * tr(X'X) / 65 * I (one strength for all 65 numbers; the bias column of ones
            dominates the trace, so the bias is barely held back).
    scaled: M = lam * diag(X'X) (each number held back in proportion to how much its own input
            varies in the box: the ridge of standardised features).
    fix_bias: the bias stays the stock one, only the 64 weights move.
    active: three more passes fitting only cells where the ReLU'd output is live or the target
            is non-zero (the fit of a ReLU output)."""
    if fix_bias:
        t = t - X[:, -1] * theta0[-1]
        X, th0 = X[:, :-1], theta0[:-1]
    else:
        th0 = theta0
    def solve(Xa, ta):
        A = Xa.T @ Xa
        if scaled:
            M = lam * np.diag(np.maximum(np.diag(A), 1e-6 * np.trace(A) / len(A)))
        else:
            M = lam * np.trace(A) / len(A) * np.eye(len(A))
        return np.linalg.solve(A + M, Xa.T @ ta + M @ th0)
    th = solve(X, t)
    if active:
        for _ in range(3):
            keep = (X @ th > 0) | (t > 1e-3)
            th = solve(X[keep], t[keep])
    return np.concatenate([th, [theta0[-1]]]) if fix_bias else th


def count_only(X, taps, theta0, lam, scaled=False):
    """min (s'th - taps)^2 + lam ||th - th0||^2_D (s = the box's summed features, D = I or
    diag(X'X)/s's-normalised): closes 1/(1+lam) of the box's count gap with the smallest change of
    the 65 numbers (in the plain or the standardised metric)."""
    s = X.sum(0)
    if scaled:
        d = np.maximum(np.diag(X.T @ X), 1e-12)
        u = s / d
        return theta0 + u * (taps - s @ theta0) / ((s @ u) * (1 + lam))
    return theta0 + s * (taps - s @ theta0) / (s @ s * (1 + lam))


VARIANTS = ("ridge", "ridge_s", "ridge_s_fixb", "ridge_s_fixb_active", "count", "count_s")
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0, 1e4)
SIGMAS = (0.5, 1.0, 2.0)


def configs():
    out = []
    for v in VARIANTS:
        for lam in LAMBDAS:
            for sg in (SIGMAS if not v.startswith("count") else (None,)):
                out.append((v, lam, sg))
    return out


def fit_config(v, X, t, taps, theta0, lam):
    if v.startswith("count"):
        return count_only(X, taps, theta0, lam, scaled=v.startswith("count_s"))
    return ridge(X, t, theta0, lam, active="active" in v, scaled=v.startswith("ridge_s"), fix_bias="fixb" in v)


def evaluate_box(frame, b, feats, theta0, cfgs, feats2=None, size2=None):
    """Whole-frame and outside-box counts for the baseline, the scalar factor and every config."""
    c, hc, wc = feats.shape
    F = np.concatenate([feats.reshape(c, -1).T.astype(np.float64), np.ones((hc * wc, 1))], 1)
    ov = cell_overlap(frame, b["size"], b["box"]).reshape(-1)
    fit = ov >= 0.5
    X = F[fit]
    taps = len(b["taps"])
    out_truth = float((~inside(b["box"], frame["points"])).sum())
    res = {}

    def record(key, th, relu=True, fac=1.0):
        d = F @ th
        if relu:
            d = np.maximum(d, 0)
        d = d * fac
        whole = float(d.sum())
        inbox = float((d * ov).sum())
        res[key] = (whole, whole - inbox, inbox)

    record("stock", theta0, relu=False)
    d0 = F @ theta0
    inbox0 = float((d0 * ov).sum())
    record("factor", theta0, relu=False, fac=taps / max(inbox0, 1e-6))
    times = []
    tmaps = {}
    if feats2 is not None:
        c2, h2, w2 = feats2.shape
        F2 = np.concatenate([feats2.reshape(c2, -1).T.astype(np.float64), np.ones((h2 * w2, 1))], 1)
        ov2 = cell_overlap(frame, size2, b["box"]).reshape(-1)
        fit2 = ov2 >= 0.5
    for v, lam, sg in cfgs:
        t0 = time.perf_counter()
        if v.startswith("count"):
            th = fit_config(v, X, None, taps, theta0, lam)
        else:
            if sg not in tmaps:
                tmaps[sg] = target_map(frame, b["size"], b["taps"], fit.reshape(hc, wc), sg)
            t = tmaps[sg]
            Xf, tf = X, t
            if v.endswith("2s"):
                t2 = target_map(frame, size2, b["taps"], fit2.reshape(h2, w2), sg)
                Xf, tf = np.concatenate([X, F2[fit2]]), np.concatenate([t, t2])
            th = fit_config(v, Xf, tf, taps, theta0, lam)
        times.append(time.perf_counter() - t0)
        record((v, lam, sg), th)
    return dict(truth=frame["truth"], out_truth=out_truth, taps=taps, res=res, fit_s=np.median(times) if times else 0.0,
                cells=int(fit.sum()), scale=b["scale"], size=b["size"])


# ---------------------------------------------------------------------------------------------
# Tables


def rel(pred, truth):
    return abs(pred - truth) / max(truth, 1.0)


def frame_err(rows, key, which="whole"):
    """Mean over a frame's boxes of the relative error (whole frame or outside the box)."""
    if which == "whole":
        return float(np.mean([rel(r["res"][key][0], r["truth"]) for r in rows]))
    return float(np.mean([rel(r["res"][key][1], r["out_truth"]) for r in rows]))


def seq_mean(per_frame, seqs):
    by = {}
    for name, e in per_frame.items():
        by.setdefault(seqs[name], []).append(e)
    return {s: float(np.mean(v)) for s, v in by.items()}


def choose(results, seqs, train_seqs, cfgs):
    """The config with the lowest mean (over training sequences) whole-frame error."""
    best, best_e = None, math.inf
    for k in cfgs:
        pf = {n: frame_err(rows, k) for n, rows in results.items() if seqs[n] in train_seqs}
        e = float(np.mean(list(seq_mean(pf, seqs).values())))
        if e < best_e:
            best, best_e = k, e
    return best, best_e


def fmt_cfg(k):
    if isinstance(k, str):
        return k
    v, lam, sg = k
    return f"{v} lambda={lam:g}" + (f" sigma={sg:g}" if sg is not None else "")


def report(frames, boxes, n_list, cfgs, out=print, feats_2s=False, landscape=None):
    theta0 = stock_layer()
    seqs = {f["name"]: f["seq"] for f in frames}
    allseq = sorted(set(seqs.values()))
    for n in n_list:
        results = {}
        fit_times = []
        for f in frames:
            rows = []
            for b in boxes[(f["name"], n)]:
                p = cache_path(f, b["size"])
                if not p.exists():
                    continue
                feats = np.load(p)
                kw = {}
                if feats_2s:
                    s2 = size_at(f, b["scale"] * SCALE2)
                    p2 = cache_path(f, s2)
                    if not p2.exists():
                        continue
                    kw = dict(feats2=np.load(p2), size2=s2)
                r = evaluate_box(f, b, feats, theta0, cfgs, **kw)
                rows.append(r)
                fit_times.append(r["fit_s"])
            if rows:
                results[f["name"]] = rows
        if not results:
            out(f"N={n}: no cached features yet")
            continue
        nb = {k: len(v) for k, v in results.items()}
        out(f"\n### N = {n} ({sum(nb.values())} boxes; per frame {min(nb.values())}-{max(nb.values())})\n")
        # LOSO choice per held-out sequence
        chosen = {}
        for s in allseq:
            train = [t for t in allseq if t != s]
            k, e = choose(results, seqs, train, cfgs)
            chosen[s] = k
            out(f"- held out {s}: chosen on the other 3 = {fmt_cfg(k)} (their error {e * 100:.1f} %)")
        # the LOSO refit for each frame uses its own sequence's choice
        def key_for(name, mode):
            return chosen[seqs[name]] if mode == "refit" else mode
        modes = ["stock", "factor", "refit"]
        out("")
        out("| frame | truth | boxes | scale (median) | baseline whole | refit whole | baseline outside | refit outside | factor whole |")
        out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        pf = {m: {} for m in modes}
        po = {m: {} for m in modes}
        allbox = {m: [] for m in modes}
        allbox_out = {m: [] for m in modes}
        for f in frames:
            name = f["name"]
            if name not in results:
                continue
            rows = results[name]
            for m in modes:
                k = key_for(name, m)
                pf[m][name] = frame_err(rows, k)
                po[m][name] = frame_err(rows, k, "out")
                allbox[m] += [rel(r["res"][k][0], r["truth"]) for r in rows]
                allbox_out[m] += [rel(r["res"][k][1], r["out_truth"]) for r in rows]
            mean_pred = {m: np.mean([r["res"][key_for(name, m)][0] for r in rows]) for m in modes}
            out(f"| {name} | {f['truth']:.0f} | {len(rows)} | {np.median([r['scale'] for r in rows]):.3f} | "
                f"{mean_pred['stock']:.0f} ({pf['stock'][name] * 100:.0f} %) | {mean_pred['refit']:.0f} ({pf['refit'][name] * 100:.0f} %) | "
                f"{po['stock'][name] * 100:.0f} % | {po['refit'][name] * 100:.0f} % | {mean_pred['factor']:.0f} ({pf['factor'][name] * 100:.0f} %) |")
        for m in modes:
            sm = seq_mean(pf[m], seqs)
            so = seq_mean(po[m], seqs)
            pf[m]["__seq"] = sm
            po[m]["__seq"] = so
        out("")
        out("| | baseline (spacing scale, stock layer) | scalar factor taps / box count | refit (LOSO) |")
        out("| --- | ---: | ---: | ---: |")
        for s in allseq:
            out(f"| {s} whole / outside | " + " | ".join(
                f"{pf[m]['__seq'][s] * 100:.1f} % / {po[m]['__seq'][s] * 100:.1f} %" for m in modes) + " |")
        def agg(d):
            return np.mean([v for k, v in d.items() if k != "__seq"])
        out("| **mean per frame**, whole / outside | " + " | ".join(
            f"**{agg(pf[m]) * 100:.1f} %** / {agg(po[m]) * 100:.1f} %" for m in modes) + " |")
        out("| **mean per sequence**, whole / outside | " + " | ".join(
            f"**{np.mean(list(pf[m]['__seq'].values())) * 100:.1f} %** / {np.mean(list(po[m]['__seq'].values())) * 100:.1f} %" for m in modes) + " |")
        out("| median over boxes, whole / outside | " + " | ".join(
            f"{np.median(allbox[m]) * 100:.1f} % / {np.median(allbox_out[m]) * 100:.1f} %" for m in modes) + " |")
        # every config, pooled (not LOSO: for seeing the landscape only)
        out("\nEvery configuration on all frames (NOT held out; mean per sequence, whole frame; "
            "per sequence in brackets " + ", ".join(allseq) + "):\n")
        rowsout = []
        for k in ["stock", "factor"] + cfgs:
            pfk = {n_: frame_err(rows, k) for n_, rows in results.items()}
            sm = seq_mean(pfk, seqs)
            rowsout.append((np.mean(list(sm.values())), k, sm))
        top = sorted(rowsout, key=lambda x: x[0])[:12]
        for e, k, sm in top + [r for r in rowsout if r[1] in ("stock", "factor") and r not in top]:
            out(f"- {fmt_cfg(k)}: {e * 100:.1f} % (" + ", ".join(f"{sm[s] * 100:.0f}" for s in allseq) + ")")
        if landscape:
            with open(landscape, "a") as fl:
                fl.write(f"\n## N = {n}: every configuration, all frames (not held out), mean per sequence of the "
                         "whole-frame error / of the outside-the-box error\n\n| configuration | mean | "
                         + " | ".join(allseq) + " | outside, mean |\n| --- | ---: |" + " ---: |" * (len(allseq) + 1) + "\n")
                for e, k, sm in rowsout:
                    pfo = {n_: frame_err(rows, k, "out") for n_, rows in results.items()}
                    so = seq_mean(pfo, seqs)
                    fl.write(f"| {fmt_cfg(k)} | {e * 100:.1f} % | " + " | ".join(f"{sm[s] * 100:.0f} %" for s in allseq)
                             + f" | {np.mean(list(so.values())) * 100:.1f} % |\n")
        out(f"\nTime per fit (65-parameter solve incl. building X'X, median over boxes and configs): "
            f"{np.median(fit_times) * 1e3:.2f} ms; box cells per fit: median "
            f"{int(np.median([r['cells'] for rows in results.values() for r in rows]))}")
        yield n, results, chosen


# ---------------------------------------------------------------------------------------------


def diag(frames, boxes, n_list, cfgs, near_px=20.0):
    """Where the density outside the box lies: within `near_px` frame pixels of an annotated person
    (people) or not (clutter), stock vs re-fitted; means over boxes per sequence."""
    theta0 = stock_layer()
    cfgs = [(v, float(l), None if len(c) < 3 or c[2] is None else float(c[2])) for c in cfgs for v, l in [c[:2]]]
    for n in n_list:
        print(f"\n### N = {n}: density outside the box, near people (<= {near_px:g} px of one) / elsewhere; "
              "truth outside the box in brackets\n")
        print("| sequence | truth outside | stock near / elsewhere | " + " | ".join(fmt_cfg(k) + " near / elsewhere" for k in cfgs) + " |")
        print("| --- | ---: | ---: |" + " ---: |" * len(cfgs))
        acc = {}
        for f in frames:
            for b in boxes[(f["name"], n)]:
                p = cache_path(f, b["size"])
                if not p.exists():
                    continue
                feats = np.load(p)
                c, hc, wc = feats.shape
                F = np.concatenate([feats.reshape(c, -1).T.astype(np.float64), np.ones((hc * wc, 1))], 1)
                ov = cell_overlap(f, b["size"], b["box"]).reshape(-1)
                X = F[ov >= 0.5]
                t = None
                cx, cy = f["w"] / b["size"][0] * STRIDE, f["h"] / b["size"][1] * STRIDE
                gy, gx = np.mgrid[0:hc, 0:wc]
                centres = np.stack([(gx.reshape(-1) + 0.5) * cx, (gy.reshape(-1) + 0.5) * cy], 1)
                pts = f["points"]
                near = np.zeros(len(centres), bool)
                for i0 in range(0, len(pts), 256):
                    d = ((centres[:, None, :] - pts[None, i0:i0 + 256, :]) ** 2).sum(-1)
                    near |= (d <= near_px ** 2).any(1)
                outw = 1 - ov
                row = [float((~inside(b["box"], pts)).sum())]
                ths = [("stock", theta0)]
                for k in cfgs:
                    if not k[0].startswith("count") and t is None:
                        t = target_map(f, b["size"], b["taps"], (ov >= 0.5).reshape(hc, wc), k[2] or 1.0)
                    ths.append((k, fit_config(k[0], X, t, len(b["taps"]), theta0, k[1])))
                for k, th in ths:
                    dd = F @ th if k == "stock" else np.maximum(F @ th, 0)
                    row += [float((dd * outw * near).sum()), float((dd * outw * ~near).sum())]
                acc.setdefault(f["seq"], []).append(row)
        for s_, rows in sorted(acc.items()):
            m = np.mean(rows, 0)
            print(f"| {s_} | {m[0]:.0f} | " + " | ".join(f"{m[1 + 2 * i]:.0f} / {m[2 + 2 * i]:.0f}" for i in range(len(cfgs) + 1)) + " |")


def plan(frames, n_list, count):
    boxes = {}
    for f in frames:
        for n in n_list:
            boxes[(f["name"], n)] = boxes_for(f, n, count)
    return boxes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["plan", "features", "report", "crowd", "diag"])
    ap.add_argument("--boxes", type=int, default=10)
    ap.add_argument("--n", type=int, nargs="+", default=[25, 40])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--two-scales", action="store_true", help="also fit on the box at SCALE2 x the scale (needs those features)")
    ap.add_argument("--config", action="append", help='crowd: a configuration, as \'"variant",lambda,sigma\' (repeatable)')
    ap.add_argument("--landscape", help="report: write every configuration's errors to this file")
    a = ap.parse_args()
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)  # noqa: E731

    if a.stage == "crowd":
        frames = load_set(CROWD, a.only or ["shanghaitech"])
    else:
        frames = load_set(DRONE, a.only)
    boxes = plan(frames, a.n, a.boxes)

    if a.stage == "plan":
        for (name, n), bs in boxes.items():
            print(name, n, sorted({b["size"] for b in bs}))
        return
    if a.stage in ("features", "crowd"):
        # cheapest first, box by box, so that a partial run still covers the first boxes everywhere
        todo = []
        for i in range(a.boxes):
            for f in frames:
                for n in a.n:
                    bs = boxes[(f["name"], n)]
                    if i < len(bs):
                        todo.append((f, bs[i]["size"]))
                        if a.two_scales:
                            todo.append((f, size_at(f, bs[i]["scale"] * SCALE2)))
        seen, uniq = set(), []
        for f, s in todo:
            if (f["name"], s) not in seen:
                seen.add((f["name"], s))
                uniq.append((f, s))
        log(f"{len(uniq)} feature maps needed, {sum(cache_path(f, s).exists() for f, s in uniq)} cached")
        compute_features(uniq, log)
        if a.stage == "features":
            return
    if a.stage == "diag":
        diag(frames, boxes, a.n, [tuple(json.loads("[" + c + "]")) for c in a.config or []])
        return
    cfgs = configs()
    if a.two_scales:  # the two-scale fits next to their one-scale counterparts, on the same boxes
        cfgs = [k for k in cfgs if k[0] in ("ridge_s", "ridge_s_fixb")] + [("ridge_s2s", lam, sg) for lam in LAMBDAS for sg in SIGMAS] + \
               [("ridge_s_fixb2s", lam, sg) for lam in LAMBDAS for sg in SIGMAS]
    if a.stage == "crowd":
        theta0 = stock_layer()
        cl = []
        for c in a.config or []:
            v = json.loads("[" + c + "]")
            cl.append((v[0], float(v[1]), None if len(v) < 3 or v[2] is None else float(v[2])))
        print("| image | truth | boxes | scale | baseline whole / outside | " + " | ".join(fmt_cfg(k) + " whole / outside" for k in cl) + " |")
        print("| --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(cl))
        errs = {k: [] for k in ["stock"] + cl}
        for f in frames:
            rows = [evaluate_box(f, b, np.load(cache_path(f, b["size"])), theta0, cl) for b in boxes[(f["name"], a.n[0])]]
            if not rows:
                continue
            cells = []
            for k in ["stock"] + cl:
                e, o = frame_err(rows, k), frame_err(rows, k, "out")
                errs[k].append(e)
                cells.append(f"{np.mean([r['res'][k][0] for r in rows]):.0f} ({e * 100:.0f} % / {o * 100:.0f} %)")
            print(f"| {f['name']} | {f['truth']:.0f} | {len(rows)} | {np.median([r['scale'] for r in rows]):.3f} | " + " | ".join(cells) + " |")
        print("| **mean** | | | | " + " | ".join(f"**{np.mean(errs[k]) * 100:.1f} %**" for k in ["stock"] + cl) + " |")
        return
    for _ in report(frames, boxes, a.n, cfgs, feats_2s=a.two_scales, landscape=a.landscape):
        pass


if __name__ == "__main__":
    main()
