#!/usr/bin/env python3
"""Person size from the image at the taps (scale-space blob size) as an analysis-scale rule.

For each tap: grey full-resolution frame (PIL 'L', float 0..255), scale-normalised Laplacian of
Gaussian  R(sigma) = sigma^2 * |Lxx + Lyy|  with analytic sampled kernels (separable:
g''(x) g(y) + g(x) g''(y), kernels truncated at 4 sigma, reflect padding), sigma on a geometric
ladder 1 .. 16 px (2^(k/4), 17 steps), maximum over a disc of radius NB px around the tap;
sigma* = argmax over the ladder (parabolic refinement in log sigma). r = median sigma* over the taps.
Only a patch of radius ceil(4*16)+NB+1 around each tap is filtered (exactly the same values as
filtering the whole box crop at the tap).

Rules (whole-frame count of the stock CSRNet from the cached density maps, log interpolation as
models/research/box_scale.py; scale clamped 0.1..2.0 and rounded to 1/32 as the product):
  s0     : 9.6 / spacing (today)
  r      : k / r                                  (k fitted leave-one-sequence-out)
  blend  : k / (r^a * spacing^(1-a))             (a, k fitted LOSO; a = 0 is today's rule refitted)
Fit criterion (as box_scale.py): lowest mean per-sequence whole-frame mean abs relative error on
the three training sequences, for N = 25 and N = 40 separately.

Usage (from the repository root; needs box_scale.py's cached density maps): .venv/bin/python models/research/blob_size.py [--boxes 10] [--nb 2] [--mode abs]
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import box_refit as refit  # noqa: E402
import box_scale as bs  # noqa: E402
from scale_rule import SCALE_MAX, SCALE_MIN, SCALE_STEP  # noqa: E402

FRAMES = ["dronecrowd_seq001_1", "dronecrowd_seq001_2", "dronecrowd_seq011_1", "dronecrowd_seq011_8",
          "dronecrowd_seq112_8", "dronecrowd_seq112_12", "dronecrowd_seq023_1"]
N_LIST = (25, 40)
SIGMAS = 2.0 ** (np.arange(17) / 4.0)  # 1 .. 16 (main() may start it higher: --smin)
CAP = 2.0


# ------------------------------------------------------------------------------------------
# Scale-space blob size


def kernels(sigma):
    rad = int(math.ceil(4 * sigma))
    x = np.arange(-rad, rad + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    g2 = g * (x * x / sigma ** 4 - 1 / sigma ** 2)
    g2 -= g2.mean()  # zero response to a constant
    return g, g2


def conv1(a, k, axis):
    """'valid' 1-D correlation along axis (symmetric kernels)."""
    n = len(k)
    if axis == 0:
        m = a.shape[0] - n + 1
        out = np.zeros((m, a.shape[1]))
        for i in range(n):
            out += k[i] * a[i:i + m]
    else:
        m = a.shape[1] - n + 1
        out = np.zeros((a.shape[0], m))
        for i in range(n):
            out += k[i] * a[:, i:i + m]
    return out


KERN = [kernels(s) for s in SIGMAS]


def set_ladder(smin):
    global SIGMAS, KERN
    SIGMAS = 2.0 ** (np.arange(int(round(4 * math.log2(smin))), 17) / 4.0)
    KERN = [kernels(s) for s in SIGMAS]


def responses(grey, x, y, nb):
    """Scale-normalised LoG (signed) on the (2nb+1)^2 square around (x, y), per sigma: [S, 2nb+1, 2nb+1]."""
    R = int(math.ceil(4 * SIGMAS[-1])) + nb + 1
    H, W = grey.shape
    xi, yi = int(round(x)), int(round(y))
    # patch with reflect padding at the frame's borders
    ys = np.clip(np.abs(np.arange(yi - R, yi + R + 1)), 0, None)
    ys = np.where(ys >= H, 2 * (H - 1) - ys, ys)
    xs = np.clip(np.abs(np.arange(xi - R, xi + R + 1)), 0, None)
    xs = np.where(xs >= W, 2 * (W - 1) - xs, xs)
    patch = grey[np.ix_(ys, xs)]
    out = []
    for s, (g, g2) in zip(SIGMAS, KERN):
        rad = len(g) // 2
        c0 = R - nb - rad
        sub = patch[c0:c0 + 2 * (nb + rad) + 1, c0:c0 + 2 * (nb + rad) + 1]
        lxx = conv1(conv1(sub, g2, 1), g, 0)
        lyy = conv1(conv1(sub, g, 1), g2, 0)
        out.append(s * s * (lxx + lyy))
    return np.array(out)


def sigma_star(resp, nb, mode):
    """resp [S, n, n] signed. mode abs: |LoG|; dark: +LoG (dark blob); bright: -LoG."""
    if mode == "abs":
        v = np.abs(resp)
    elif mode == "dark":
        v = resp
    else:
        v = -resp
    n = resp.shape[1]
    yy, xx = np.mgrid[:n, :n] - nb
    disc = (xx * xx + yy * yy) <= nb * nb + 1e-9
    curve = v[:, disc].max(1)
    i = int(np.argmax(curve))
    ls = np.log(SIGMAS)
    if 0 < i < len(SIGMAS) - 1:
        y0, y1, y2 = curve[i - 1], curve[i], curve[i + 1]
        den = y0 - 2 * y1 + y2
        off = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        return float(np.exp(ls[i] + off * (ls[1] - ls[0]))), curve
    return float(SIGMAS[i]), curve


def grey_of(frame, pre=0.0):
    from PIL import ImageFilter
    with Image.open(frame["path"]) as im:
        g = im.convert("L")
        if pre > 0:
            g = g.filter(ImageFilter.GaussianBlur(pre))
        return np.asarray(g, np.float64)


# ------------------------------------------------------------------------------------------
# Rules


def quant(s):
    s = min(max(s, SCALE_MIN), SCALE_MAX)
    return min(max(round(s / SCALE_STEP) * SCALE_STEP, SCALE_MIN), SCALE_MAX)


K_GRID = np.exp(np.linspace(np.log(0.5), np.log(40), 241))
A_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def rule_scale(rule, p, box):
    if rule == "s0":
        return box["scale"]
    k, a = p
    if not (box["r"] > 0):
        return SCALE_MAX
    return quant(k / (box["r"] ** a * box["spacing"] ** (1 - a)))


def needed_scale(c, truth):
    cand = bs.SEARCH[(bs.SEARCH >= c.scales.min() - 1e-9) & (bs.SEARCH <= min(CAP, c.scales.max()) + 1e-9)]
    w = bs.interp_log(cand, c.scales, c.whole)
    return float(cand[np.argmin(np.abs(np.log(w / truth)))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=10)
    ap.add_argument("--nb", type=int, default=2, help="tap neighbourhood radius, px")
    ap.add_argument("--mode", default="abs", choices=["abs", "dark", "bright"])
    ap.add_argument("--smin", type=float, default=1.0, help="smallest sigma of the ladder (px, power of 2^(1/4))")
    ap.add_argument("--pre", type=float, default=0.0, help="Gaussian pre-blur of the grey frame (sigma px, PIL) before the LoG")
    a = ap.parse_args()
    out = print
    set_ladder(a.smin)

    frames = [f for f in refit.load_set(refit.DRONE) if bs.stem(f) in FRAMES]
    frames.sort(key=lambda f: FRAMES.index(bs.stem(f)))
    curves = {f["name"]: bs.FrameCurves(f) for f in frames}
    need = {f["name"]: needed_scale(curves[f["name"]], f["truth"]) for f in frames}

    # --- blob sizes for every box / tap, all three sign modes and nb 0 and a.nb (for the check)
    boxes = {}
    t_est = []
    for f in frames:
        grey = grey_of(f, a.pre)
        for n in N_LIST:
            bl = refit.boxes_for(f, n, a.boxes)
            for b in bl:
                t0 = time.time()
                res = [responses(grey, x, y, a.nb) for x, y in b["taps"]]
                _ = np.median([sigma_star(r, a.nb, a.mode)[0] for r in res])
                t_est.append((time.time() - t0, len(b["taps"])))
                st = {}
                for mode in ("abs", "dark", "bright"):
                    for nb in (0, a.nb):
                        st[(mode, nb)] = np.array([sigma_star(r[:, a.nb - nb:a.nb + nb + 1, a.nb - nb:a.nb + nb + 1], nb, mode)[0]
                                                   for r in res])
                b["stars"] = st
                b["r"] = float(np.median(st[(a.mode, a.nb)]))
                # pooled curve: median over taps of the response curve, then argmax
                curves_ = np.array([sigma_star(r, a.nb, a.mode)[1] for r in res])
                b["r_pooled"] = float(SIGMAS[int(np.argmax(np.median(curves_, 0)))])
            boxes[(f["name"], n)] = bl

    out(f"# blob.py --boxes {a.boxes} --nb {a.nb} --mode {a.mode} --smin {a.smin:g} --pre {a.pre:g}\n")
    out(f"sigma ladder: {', '.join(f'{s:.2f}' for s in SIGMAS)}\n")
    tt = np.array([t for t, _ in t_est])
    nt = np.array([m for _, m in t_est])
    out(f"time per estimate (one box, all taps, numpy, one variant, incl. filtering): median {np.median(tt) * 1000:.0f} ms "
        f"({np.median(tt / nt) * 1000:.1f} ms per tap; N taps {nt.min()}..{nt.max()})\n")

    # --- check before fitting
    out("## Check: per frame spacing / r / needed scale\n")
    out("needed = scale where the whole-frame count equals the truth (cached curves, 1/32 grid, cap 2). "
        "r columns: median over the boxes of the per-box median sigma* (px); "
        "'need*sp' and 'need*r' would be constant across frames if the rule k/x fitted exactly.\n")
    out("| frame | N | truth | needed | s0 (med) | spacing (med) | need*sp | r abs nb0 | r abs nb | r dark nb | r bright nb | r pooled | need*r | IQR of sigma* within a box (abs nb, med) |")
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in frames:
        for n in N_LIST:
            bl = boxes[(f["name"], n)]
            sp = np.median([b["spacing"] for b in bl])
            rr = {k: np.median([np.median(b["stars"][k]) for b in bl]) for k in bl[0]["stars"]}
            iqr = np.median([np.subtract(*np.percentile(b["stars"][(a.mode, a.nb)], [75, 25])) for b in bl])
            r = np.median([b["r"] for b in bl])
            out(f"| {bs.stem(f)} | {n} | {f['truth']:.0f} | {need[f['name']]:.3f} | {np.median([b['scale'] for b in bl]):.3f} | "
                f"{sp:.1f} | {need[f['name']] * sp:.1f} | {rr[('abs', 0)]:.2f} | {rr[('abs', a.nb)]:.2f} | {rr[('dark', a.nb)]:.2f} | "
                f"{rr[('bright', a.nb)]:.2f} | {np.median([b['r_pooled'] for b in bl]):.2f} | {need[f['name']] * r:.2f} | {iqr:.2f} |")
    # histogram of sigma* per sequence (abs, nb)
    out("\nDistribution of sigma* over all taps (abs, nb), share per ladder step, per sequence (N = 40):\n")
    out("| seq | " + " | ".join(f"{s:.1f}" for s in SIGMAS) + " |")
    out("| --- |" + " ---: |" * len(SIGMAS))
    seqs = sorted(set(f["seq"] for f in frames))
    for s in seqs:
        v = np.concatenate([b["stars"][(a.mode, a.nb)] for f in frames if f["seq"] == s for b in boxes[(f["name"], 40)]])
        idx = np.clip(np.round((np.log2(v) - np.log2(SIGMAS[0])) * 4).astype(int), 0, len(SIGMAS) - 1)
        h = np.bincount(idx, minlength=len(SIGMAS)) / len(v)
        out(f"| {s} | " + " | ".join(f"{x * 100:.0f}" for x in h) + " |")

    # --- rules, LOSO
    seq_of = {f["name"]: f["seq"] for f in frames}
    truth = {f["name"]: f["truth"] for f in frames}

    def errs(rule, p, n):
        """name -> (list of whole errors, list of scales)"""
        d = {}
        for f in frames:
            c = curves[f["name"]]
            sc = [rule_scale(rule, p, b) for b in boxes[(f["name"], n)]]
            w = bs.interp_log(np.array(sc), c.scales, c.whole)
            d[f["name"]] = ([bs.rel(x, truth[f["name"]]) for x in w], sc)
        return d

    def seq_mean(d, train):
        by = {}
        for name, (e, _) in d.items():
            if seq_of[name] in train:
                by.setdefault(seq_of[name], []).append(np.mean(e))
        return float(np.mean([np.mean(v) for v in by.values()]))

    for n in N_LIST:
        out(f"\n## N = {n} ({a.boxes} boxes per frame)\n")
        cache = {}
        for al in A_GRID:
            for k in K_GRID:
                cache[(k, al)] = errs("blend", (k, al), n)
        cols = [("s0 (9.6/spacing)", {nm: v for nm, v in errs("s0", None, n).items()})]
        fams = {"k/r": [(k, 1.0) for k in K_GRID],
                "k/(r^a sp^(1-a))": [(k, al) for al in A_GRID for k in K_GRID],
                "k/spacing (refit)": [(k, 0.0) for k in K_GRID]}
        for fam, cands in fams.items():
            pf = {}
            for s in seqs:
                train = [t for t in seqs if t != s]
                best = min(cands, key=lambda p: seq_mean(cache[p], train))
                out(f"- {fam}, held out {s}: k = {best[0]:.2f}, a = {best[1]:g} (train error {seq_mean(cache[best], train) * 100:.1f} %)")
                for nm in cache[best]:
                    if seq_of[nm] == s:
                        pf[nm] = cache[best][nm]
            allb = min(cands, key=lambda p: seq_mean(cache[p], seqs))
            out(f"- {fam}, fitted on all four (not held out): k = {allb[0]:.2f}, a = {allb[1]:g}, error {seq_mean(cache[allb], seqs) * 100:.1f} %")
            cols.append((fam + " LOSO", pf))
        out("")
        out("| frame | needed | " + " | ".join(f"{c}: scale (med) / err" for c, _ in cols) + " |")
        out("| --- | ---: |" + " ---: |" * len(cols))
        for f in frames:
            nm = f["name"]
            out(f"| {bs.stem(f)} | {need[nm]:.2f} | " + " | ".join(
                f"{np.median(pf[nm][1]):.2f} / {np.mean(pf[nm][0]) * 100:.0f} %" for _, pf in cols) + " |")
        out("")
        out("| | " + " | ".join(c for c, _ in cols) + " |")
        out("| --- |" + " ---: |" * len(cols))
        for s in seqs:
            out(f"| {s} | " + " | ".join(f"{np.mean([np.mean(pf[nm][0]) for nm in pf if seq_of[nm] == s]) * 100:.1f} %" for _, pf in cols) + " |")
        out("| **mean per frame** | " + " | ".join(f"**{np.mean([np.mean(v[0]) for v in pf.values()]) * 100:.1f} %**" for _, pf in cols) + " |")
        out("| **mean per sequence** | " + " | ".join(f"**{seq_mean(pf, seqs) * 100:.1f} %**" for _, pf in cols) + " |")
        out("| median over boxes | " + " | ".join(f"{np.median([x for v in pf.values() for x in v[0]]) * 100:.1f} %" for _, pf in cols) + " |")
        # landscape of a (not held out)
        out("\nNot held out: best k per a on all four sequences (mean per sequence; per sequence):\n")
        for al in A_GRID:
            best = min([(k, al) for k in K_GRID], key=lambda p: seq_mean(cache[p], seqs))
            per = [seq_mean(cache[best], [s]) for s in seqs]
            out(f"- a = {al:g}: k = {best[0]:.2f}: {seq_mean(cache[best], seqs) * 100:.1f} % (" + ", ".join(f"{x * 100:.0f}" for x in per) + ")")


if __name__ == "__main__":
    main()
