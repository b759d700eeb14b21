#!/usr/bin/env python3
"""Spacing scale s0, then a bounded correction from the model's count in the calibration box.

Rules compared (whole-frame count of the stock CSRNet at the chosen scale, no factor):
  s0      : today's rule, scale_for(spacing(taps)) (daemon/src/analyse/calibrate.rs).
  range   : s* = argmin over s in [s0*a, min(s0*b, CAP)] of |log(box_count(s) / taps)|
            (s searched on the product's 1/32 grid plus the two ends).
  partial : s* = s0 * q^(-alpha), q = box_count(s0) / taps clamped to [1/Q_CLAMP, Q_CLAMP],
            s* clamped to [0.1, CAP].
(a, b) and alpha are chosen leave-one-sequence-out (lowest mean per-sequence whole-frame error on
the other three sequences).

Density maps: the stock model's full density map (output layer, no ReLU, as box_refit.py's "stock")
per frame at a grid of scales, each size rounded to whole 8-px cells (finetune.analysis_size /
box_refit.size_at), cached as cache_scale/<frame>_<w>x<h>.npz. Where box_refit.py already cached the
64-channel features of a size (cache/<frame>_<w>x<h>.npy), the density is taken from them (stock
output layer applied) instead of a new forward pass. Counts at a scale between the computed ones
are interpolated linearly in log(count) against log(scale) between the two neighbouring computed
scales (the effective scale of a size is its width / the frame width); outside the computed range
the nearest end is used (clamped; the report says where that happens).

Box count at scale s = sum of the density cells whose centres fall inside the box (cell centre
mapped to frame pixels). Outside count = whole - box count; outside truth = annotated people not
in the box. Boxes are replayed exactly as box_refit.py (box_refit.boxes_for: smallest 16:9 box around a
random person holding >= N people, the people inside are the taps, same seeds).

Usage (from the repository's root; needs box_box_refit.py's feature cache for some sizes):
  .venv/bin/python models/research/box_scale.py densities            # forward passes (slow), cached
  .venv/bin/python models/research/box_scale.py report --boxes 10    # the tables (fast, numpy only)
  .venv/bin/python models/research/box_scale.py crowd --boxes 10     # the ShanghaiTech photos
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import box_refit as refit  # noqa: E402  (box replay, spacing/scale rule, feature cache, size_at)
from box_refit import CROWD, DRONE, STRIDE, inside, load_set, size_at  # noqa: E402

DCACHE = HERE / "cache_scale"
FRAMES = ["dronecrowd_seq001_1", "dronecrowd_seq011_1", "dronecrowd_seq112_8", "dronecrowd_seq023_1"]
CAP = 2.0
Q_CLAMP = 4.0
A_GRID = (1.0, 0.8, 0.67)
B_GRID = (1.0, 1.5, 2.0, 2.5, 3.0)
ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)
N_LIST = (25, 40)


# ---------------------------------------------------------------------------------------------
# Density maps


def stem(frame):
    return frame["name"].replace("/", "__").rsplit(".", 1)[0]


def dpath(frame, size):
    return DCACHE / f"{stem(frame)}_{size[0]}x{size[1]}.npz"


def grid_scales(frame, boxes, step_hi, cap=CAP):
    """Scales needed for this frame's boxes: [min s0 * 0.67, min(cap, max s0 * 3)] on a grid of
    `step_hi` (1/16 below 0.5)."""
    s0s = [b["scale"] for bs in boxes for b in bs]
    lo, hi = min(s0s) * min(A_GRID), min(cap, max(s0s) * max(B_GRID))
    out = set()
    s = math.floor(lo * 16) / 16
    while s <= 0.5 + 1e-9:
        out.add(round(s, 6))
        s += 1 / 16
    s = math.floor(lo / step_hi) * step_hi
    while s < hi + step_hi - 1e-9:
        if s > 0.5 - 1e-9:
            out.add(round(min(s, cap), 6))
        s += step_hi
    return sorted(x for x in out if x >= 0.0625)


def density_from_features(feats, theta):
    c = feats.shape[0]
    return (np.tensordot(theta[:c], feats.astype(np.float64), axes=(0, 0)) + theta[c]).astype(np.float32)


def save_density(frame, size, dens):
    DCACHE.mkdir(exist_ok=True)
    p = dpath(frame, size)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez_compressed(tmp, density=dens)
    tmp.rename(p)


def compute_densities(todo, log, threads, only_cached=False):
    """todo: [(frame, size)]; cheapest-first is the caller's job."""
    theta = refit.stock_layer()
    # First the sizes whose features box_refit.py cached: no forward pass needed.
    rest = []
    for frame, size in todo:
        if dpath(frame, size).exists():
            continue
        fp = refit.cache_path(frame, size)
        if fp.exists():
            save_density(frame, size, density_from_features(np.load(fp), theta))
        else:
            rest.append((frame, size))
    log(f"{len(todo)} density maps wanted, {len(rest)} need a forward pass" + (" (skipped: --only-cached)" if only_cached else ""))
    if not rest or only_cached:
        return
    import torch
    from PIL import Image
    import finetune
    from finetune import base_weights, forward, frozen_names, normalise
    assert finetune.scale_for(7.3) == refit.scale_for(7.3)
    torch.set_num_threads(threads)
    weights = base_weights()
    names = [n for n in frozen_names(0)[0] + frozen_names(0)[1] if n != "output_layer"]
    w = weights["output_layer.weight"]
    b = weights["output_layer.bias"]
    for frame, size in rest:
        if dpath(frame, size).exists():
            continue
        t = time.time()
        with Image.open(frame["path"]) as im:
            rgb = np.asarray(im.convert("RGB").resize(size, resample=2))
        with torch.no_grad():
            f = forward(weights, normalise(rgb), names)
            d = torch.nn.functional.conv2d(f, w, b)[0, 0].numpy().astype(np.float32)
            del f
        save_density(frame, size, d)
        log(f"{frame['name']} {size[0]}x{size[1]}: {time.time() - t:.1f} s, count {d.sum():.0f}")


def plan_densities(frames, boxes, step_hi, cap, with_s0=True):
    """(frame, size) pairs: first every box's own s0 size (exact baseline), then the grid in
    passes (multiples of 1/4 and the cheap small scales, then the odd 1/8s)."""
    first, pass1, pass2 = [], [], []
    for f in frames:
        bs = [boxes[(f["name"], n)] for n in N_LIST]
        for b in (b for x in bs for b in x):
            if with_s0:
                first.append((f, b["size"]))
        for s in grid_scales(f, bs, step_hi, cap):
            size = size_at(f, s)
            if s <= 0.5 or abs(s * 4 - round(s * 4)) < 1e-9 or s == cap:
                pass1.append((s, f, size))
            else:
                pass2.append((s, f, size))
    out, seen = [], set()
    for f, size in first + [(f, sz) for _, f, sz in sorted(pass1, key=lambda x: x[0])] + \
            [(f, sz) for _, f, sz in sorted(pass2, key=lambda x: x[0])]:
        k = (f["name"], size)
        if k not in seen:
            seen.add(k)
            out.append((f, size))
    # cached-feature ones are free: keep order otherwise
    return out


# ---------------------------------------------------------------------------------------------
# Counts as a function of scale


class FrameCurves:
    """Per frame: the available density maps; per box the (scale, box count, whole count) curve."""

    def __init__(self, frame):
        self.frame = frame
        self.maps = []  # (eff scale, size, density)
        for p in sorted(DCACHE.glob(stem(frame) + "_*x*.npz")):
            if ".tmp" in p.name:
                continue
            wh = p.stem.rsplit("_", 1)[1]
            w, h = (int(x) for x in wh.split("x"))
            with np.load(p) as z:
                d = z["density"]
            self.maps.append((w / frame["w"], (w, h), d))
        self.maps.sort(key=lambda m: m[0])
        self.scales = np.array([m[0] for m in self.maps])
        self.whole = np.array([float(m[2].sum()) for m in self.maps])

    def box_counts(self, box):
        out = []
        for s, (w, h), d in self.maps:
            hc, wc = d.shape
            cx = (np.arange(wc) + 0.5) * STRIDE * self.frame["w"] / w
            cy = (np.arange(hc) + 0.5) * STRIDE * self.frame["h"] / h
            mx = (cx >= box[0]) & (cx <= box[0] + box[2])
            my = (cy >= box[1]) & (cy <= box[1] + box[3])
            out.append(float(d[np.ix_(my, mx)].sum()))
        return np.array(out)


def interp_log(s, scales, counts, eps=1e-2):
    """log(count) linear in log(scale) between neighbours; clamped to the ends."""
    ls = np.log(scales)
    lc = np.log(np.maximum(counts, eps))
    return np.exp(np.interp(np.log(np.asarray(s, np.float64)), ls, lc))


SEARCH = np.arange(1, 64 * 4 + 1) / 32.0  # the product's 1/32 grid, 1/32 .. 8


def eval_frame(curves, boxes, cap):
    """Per box: s0, taps, truth, whole/box count curves; returns a list of dicts with a
    predictor function for any rule."""
    f = curves.frame
    rows = []
    for b in boxes:
        bc = curves.box_counts(b["box"])
        rows.append(dict(s0=b["scale"], taps=len(b["taps"]), box=b["box"], bc=bc,
                         out_truth=float((~inside(b["box"], f["points"])).sum()), truth=f["truth"]))
    return rows


def predict(curves, r, rule, param, cap):
    """Scale chosen and (whole, outside, box) counts at it."""
    s0 = r["s0"]
    sc, wh, bc = curves.scales, curves.whole, r["bc"]
    if rule == "s0":
        s = s0
    elif rule == "range":
        a, b = param
        lo, hi = s0 * a, min(s0 * b, max(cap, s0))  # the cap bounds the correction, never lowers s0
        if hi < lo:
            hi = lo
        cand = SEARCH[(SEARCH >= lo - 1e-9) & (SEARCH <= hi + 1e-9)]
        cand = np.unique(np.concatenate([cand, [lo, hi, s0] if lo <= s0 <= hi else [lo, hi]]))
        e = np.abs(np.log(np.maximum(interp_log(cand, sc, bc), 1e-2) / r["taps"]))
        # ties (flat stretches): the one nearest s0
        best = np.flatnonzero(e <= e.min() + 1e-12)
        s = float(cand[best[np.argmin(np.abs(np.log(cand[best] / s0)))]])
    elif rule == "partial":
        q = float(interp_log(s0, sc, bc)) / r["taps"]
        q = min(max(q, 1 / Q_CLAMP), Q_CLAMP)
        s = min(max(s0 * q ** (-param), 0.1), max(cap, s0))  # the cap bounds the correction, never lowers s0
    else:
        raise ValueError(rule)
    w = float(interp_log(s, sc, wh))
    b_ = float(interp_log(s, sc, bc))
    return s, w, w - b_, b_


def rel(p, t):
    return abs(p - t) / max(t, 1.0)


# ---------------------------------------------------------------------------------------------
# Tables


def rules():
    out = [("s0", None)]
    # (a, b) = (1, 1) and alpha = 0 are s0 itself: kept in the grids so that the leave-one-out
    # choice can fall back to no correction.
    out += [("range", (a, b)) for a in A_GRID for b in B_GRID]
    out += [("partial", al) for al in ALPHA_GRID]
    return out


def fmt_rule(k):
    rule, p = k
    if rule == "s0":
        return "s0 (spacing)"
    if rule == "range":
        return f"range a={p[0]:g} b={p[1]:g}"
    return f"partial alpha={p:g}"


def run(frames, boxes, cap, out, n_list=N_LIST, crowd=False, fixed=None):
    """fixed: {n: [(column title, rule key)]} extra columns with a rule chosen elsewhere."""
    curves = {f["name"]: FrameCurves(f) for f in frames}
    seqs = {f["name"]: (f["name"] if crowd else f["seq"]) for f in frames}
    allseq = sorted(set(seqs.values()))
    for n in n_list:
        data = {}  # name -> list of (row)
        for f in frames:
            c = curves[f["name"]]
            if len(c.maps) < 2:
                continue
            data[f["name"]] = eval_frame(c, boxes[(f["name"], n)], cap)
        if not data:
            continue
        errs = {}  # rule -> name -> (whole errs list, out errs list, scales, preds)
        for k in rules():
            errs[k] = {}
            for name, rows in data.items():
                c = curves[name]
                res = [predict(c, r, k[0], k[1], cap) for r in rows]
                errs[k][name] = dict(
                    whole=[rel(x[1], r["truth"]) for x, r in zip(res, rows)],
                    out=[rel(x[2], r["out_truth"]) for x, r in zip(res, rows)],
                    scale=[x[0] for x in res], pred=[x[1] for x in res])

        def seq_err(k, which, names=None):
            by = {}
            for name, e in errs[k].items():
                if names is None or seqs[name] in names:
                    by.setdefault(seqs[name], []).append(np.mean(e[which]))
            return {s: float(np.mean(v)) for s, v in by.items()}

        nb = sum(len(v) for v in data.values())
        out(f"\n### N = {n} ({nb} boxes, {len(data)} frames; scale cap {cap:g})\n")
        # coverage of the computed scales
        for name in data:
            c = curves[name]
            out(f"- {name}: density maps at {len(c.scales)} scales, {c.scales.min():.3f} to {c.scales.max():.3f}")
        chosen = {}
        if not crowd:
            out("")
            for fam in ("range", "partial"):
                cands = [k for k in rules() if k[0] == fam]
                for s in allseq:
                    train = [t for t in allseq if t != s]
                    best = min(cands, key=lambda k: np.mean(list(seq_err(k, "whole", train).values())))
                    e = np.mean(list(seq_err(best, "whole", train).values()))
                    chosen[(fam, s)] = best
                    out(f"- {fam}, held out {s}: chosen on the other three = {fmt_rule(best)} (their error {e * 100:.1f} %)")
        # LOSO errors
        def loso(fam, which):
            per_frame = {}
            for name in data:
                k = chosen[(fam, seqs[name])]
                per_frame[name] = errs[k][name]
            return per_frame
        cols = [("s0", {name: errs[("s0", None)][name] for name in data})]
        if not crowd:
            cols += [("range (LOSO)", loso("range", "whole")), ("partial (LOSO)", loso("partial", "whole"))]
        for title, k in (fixed or {}).get(n, []):
            cols.append((title, {name: errs[k][name] for name in data}))
        if not crowd:
            # the choice on all four sequences (for applying elsewhere, e.g. to the photos)
            for fam in ("range", "partial"):
                cands = [k for k in rules() if k[0] == fam]
                best = min(cands, key=lambda k: np.mean(list(seq_err(k, "whole").values())))
                chosen[(fam, "all")] = best
                out(f"- {fam}, chosen on all four sequences: {fmt_rule(best)}")
        out("")
        out("| frame | truth | boxes | " + " | ".join(f"{c} scale / count / whole err / outside err" for c, _ in cols) + " |")
        out("| --- | ---: | ---: |" + " ---: |" * len(cols))
        for name in data:
            cells = []
            for c, pf in cols:
                e = pf[name]
                cells.append(f"{np.median(e['scale']):.2f} / {np.mean(e['pred']):.0f} / {np.mean(e['whole']) * 100:.0f} % / {np.mean(e['out']) * 100:.0f} %")
            out(f"| {name} | {data[name][0]['truth']:.0f} | {len(data[name])} | " + " | ".join(cells) + " |")
        out("")
        out("| | " + " | ".join(c for c, _ in cols) + " |")
        out("| --- |" + " ---: |" * len(cols))
        summ = {}
        for c, pf in cols:
            by_w, by_o = {}, {}
            for name, e in pf.items():
                by_w.setdefault(seqs[name], []).append(np.mean(e["whole"]))
                by_o.setdefault(seqs[name], []).append(np.mean(e["out"]))
            summ[c] = ({s: np.mean(v) for s, v in by_w.items()}, {s: np.mean(v) for s, v in by_o.items()},
                       np.mean([np.mean(e["whole"]) for e in pf.values()]), np.mean([np.mean(e["out"]) for e in pf.values()]),
                       np.median([x for e in pf.values() for x in e["whole"]]))
        for s in sorted(set(seqs[nm] for nm in data)):
            out(f"| {s} whole / outside | " + " | ".join(f"{summ[c][0][s] * 100:.1f} % / {summ[c][1][s] * 100:.1f} %" for c, _ in cols) + " |")
        out("| **mean per frame**, whole / outside | " + " | ".join(f"**{summ[c][2] * 100:.1f} %** / {summ[c][3] * 100:.1f} %" for c, _ in cols) + " |")
        out("| **mean per sequence**, whole / outside | " + " | ".join(
            f"**{np.mean(list(summ[c][0].values())) * 100:.1f} %** / {np.mean(list(summ[c][1].values())) * 100:.1f} %" for c, _ in cols) + " |")
        out("| median over boxes, whole | " + " | ".join(f"{summ[c][4] * 100:.1f} %" for c, _ in cols) + " |")
        # landscape (not held out)
        out(f"\nEvery rule on all {'images' if crowd else 'frames'} (NOT held out; mean per {'image' if crowd else 'sequence'} of the whole-frame error, "
            f"then per {'image' if crowd else 'sequence'}: " + ", ".join(sorted(set(seqs[nm] for nm in data))) + "; outside-the-box mean last):\n")
        land = []
        for k in rules():
            sw = seq_err(k, "whole")
            so = seq_err(k, "out")
            land.append((np.mean(list(sw.values())), k, sw, np.mean(list(so.values()))))
        for e, k, sw, eo in sorted(land, key=lambda x: x[0]):
            out(f"- {fmt_rule(k)}: {e * 100:.1f} % (" + ", ".join(f"{sw[s] * 100:.0f}" for s in sorted(sw)) + f"); outside {eo * 100:.1f} %")
        yield n, data, errs, chosen


def check_interp(frames, boxes, out):
    """Leave-one-scale-out check of the interpolation: each interior computed scale predicted from
    its neighbours (whole-frame count), median and max relative error."""
    for f in frames:
        c = FrameCurves(f)
        if len(c.scales) < 3:
            continue
        e = []
        for i in range(1, len(c.scales) - 1):
            keep = np.ones(len(c.scales), bool)
            keep[i] = False
            p = interp_log(c.scales[i], c.scales[keep], c.whole[keep])
            e.append(rel(float(p), c.whole[i]))
        out(f"- {f['name']}: whole count at each interior computed scale from its two neighbours: "
            f"median {np.median(e) * 100:.1f} %, max {np.max(e) * 100:.1f} % ({len(e)} scales)")


def where_scales(frames, boxes, out, cap=CAP):
    """Per frame: s0 (median over boxes), the scale where the whole-frame count equals the truth,
    the scale where the box count equals the taps (searched over all computed scales up to cap,
    median over boxes), and the box count / taps at s0 (median)."""
    out("| frame | N | s0 (median) | scale where whole count = truth | scale where box count = taps (median, range over boxes) | box count / taps at s0 (median) | whole count / truth at s0 (median) |")
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in frames:
        c = FrameCurves(f)
        if len(c.scales) < 2:
            continue
        cand = SEARCH[(SEARCH >= c.scales.min() - 1e-9) & (SEARCH <= min(cap, c.scales.max()) + 1e-9)]
        w = interp_log(cand, c.scales, c.whole)
        st = cand[np.argmin(np.abs(np.log(w / f["truth"])))]
        for n in N_LIST:
            bs = boxes[(f["name"], n)]
            sm, q, qw = [], [], []
            for b in bs:
                bc = c.box_counts(b["box"])
                e = np.abs(np.log(np.maximum(interp_log(cand, c.scales, bc), 1e-2) / len(b["taps"])))
                sm.append(cand[np.argmin(e)])
                q.append(float(interp_log(b["scale"], c.scales, bc)) / len(b["taps"]))
                qw.append(float(interp_log(b["scale"], c.scales, c.whole)) / f["truth"])
            out(f"| {f['name']} | {n} | {np.median([b['scale'] for b in bs]):.3f} | {st:.3f} | {np.median(sm):.3f} ({min(sm):.2f}-{max(sm):.2f}) | "
                f"{np.median(q):.2f} | {np.median(qw):.2f} |")


def curve_table(frames, out):
    for f in frames:
        c = FrameCurves(f)
        pts = [(s, w) for s, w in zip(c.scales, c.whole)]
        out(f"- {f['name']} (truth {f['truth']:.0f}): " + ", ".join(f"{s:.3g}: {w:.0f}" for s, w in pts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["plan", "densities", "report", "crowd"])
    ap.add_argument("--boxes", type=int, default=10)
    ap.add_argument("--frames", nargs="*", default=FRAMES)
    ap.add_argument("--step", type=float, default=1 / 8, help="grid step above 0.5")
    ap.add_argument("--cap", type=float, default=CAP)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-s0", action="store_true", help="densities: skip the boxes' own s0 sizes (grid only)")
    ap.add_argument("--only-cached", action="store_true", help="densities: only the sizes box_refit.py has features for")
    ap.add_argument("--set", choices=["drone", "crowd", "both"], default="drone", help="densities: which set")
    a = ap.parse_args()
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)  # noqa: E731

    drone = [f for f in load_set(DRONE) if any(stem(f) == x for x in a.frames)]
    crowd = load_set(CROWD, ["shanghaitech"])
    sets = {"drone": drone, "crowd": crowd, "both": drone + crowd}
    if a.stage == "crowd":
        frames = crowd
    elif a.stage in ("densities", "plan"):
        frames = sets[a.set]
    else:
        frames = drone
    boxes = refit.plan(frames, list(N_LIST), a.boxes)

    if a.stage in ("plan", "densities"):
        todo = plan_densities(frames, boxes, a.step, a.cap, not a.no_s0)
        if a.stage == "plan":
            cost = sum(s[0] * s[1] for _, s in todo if not dpath(_, s).exists() and not refit.cache_path(_, s).exists())
            for f, s in todo:
                print(f["name"], s, "have" if dpath(f, s).exists() else ("features" if refit.cache_path(f, s).exists() else ""))
            print(f"{len(todo)} maps; {cost / 1920 / 1080:.1f} frame-equivalents (1920x1080) of forward passes to do")
            return
        compute_densities(todo, log, a.threads, a.only_cached)
        return
    if a.stage == "crowd":
        dboxes = refit.plan(drone, list(N_LIST), a.boxes)
        fixed = {}
        for n, _, _, chosen in run(drone, dboxes, a.cap, lambda m: None):
            fixed[n] = [(f"{fam} as chosen on the 4 drone sequences ({fmt_rule(chosen[(fam, 'all')])})", chosen[(fam, "all")])
                        for fam in ("range", "partial")]
        for _ in run(frames, boxes, a.cap, print, crowd=True, fixed=fixed):
            pass
    else:
        for _ in run(frames, boxes, a.cap, print):
            pass
    print("\nInterpolation check:")
    check_interp(frames, boxes, print)
    print("\nWhere the scales lie (computed range of scales only):\n")
    where_scales(frames, boxes, print, a.cap)
    print(f"\nWhole-{'image' if a.stage == 'crowd' else 'frame'} count against the scale (computed maps):")
    curve_table(frames, print)


if __name__ == "__main__":
    main()
