#!/usr/bin/env python3
"""A synthetic drone's-eye view of a crowd on a town square, for skycount's demo source.

Everything here is drawn by this code (numpy and Pillow only, fixed seed): no photograph,
texture, font or other outside material goes into it, so what it makes is free to ship (see
README.md).

The scene is a sunny square seen from a drone looking down at it (80 degrees from the horizon
at the bottom of the picture, 47 at the top): paving, lawns, a gravel path, trees, a fountain
with benches, a stage with a dense audience, a kiosk with a queue, picnickers, small groups,
people on their own and people walking. Each person is drawn in 3-D (legs, torso, shoulders,
arms, head with hair and face, some caps, hats, backpacks and long hair) and projected with the
same camera as the ground, so people shrink towards the top of the picture and look more from
the side there; each casts a soft shadow.

    make_crowd.py still OUT.png                 the whole scene (2560x1440) at t=0
    make_crowd.py frames DIR [--at T ...]       frames of the clip as PNG, to look at
    make_crowd.py raw [--seconds 20] [--counts CSV]
                                                the clip as raw RGB24 1280x720 30 fps frames
                                                on stdout (make_clip.sh pipes them into
                                                GStreamer); --counts writes the number of
                                                people in view in each frame

The clip is a slow pan and zoom of the drone's camera across the scene while walkers walk and
some of the others shift on their feet. It loops without a seam: the camera's path, every walk
and every movement repeat exactly after the clip's length, so skycountd can play it round and
round.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

SEED = 20251125

# ----------------------------------------------------------------------------------------------
# The camera. The scene ("world") is a 2560x1440 picture of a flat ground. Ground coordinates
# (X, Y) are in units of 1/95 m (one world pixel at the bottom of the picture), X to the right,
# Y towards the camera. A pinhole camera looking down at a plane has a scale that is linear in
# the picture's row, s(y) = S_TOP at the top .. 1 at the bottom, and the sine of the angle at
# which it sees the ground is proportional to s (SIN_BOTTOM at the bottom).

WORLD_W, WORLD_H = 2560, 1440
OUT_W, OUT_H = 1280, 720
FPS = 30
U = 95.0  # ground units per metre
S_TOP = 0.75
SIN_BOTTOM = 0.985
K = (1.0 - S_TOP) / WORLD_H
CX = WORLD_W / 2.0
U0 = 1850.0  # ground X under the picture's centre column
YB = 2200.0  # ground Y on the picture's bottom row; the top row is at YB - V0 (about 250)
V0 = (1.0 / S_TOP - 1.0) / (SIN_BOTTOM * K)
# The ground image: ground units GX0.. and GY0.. at GS pixels per unit.
GX0, GY0, GS = 60.0, 200.0, 0.8
GW, GH = int(3580 * GS), int(2060 * GS)

SS = 2  # supersampling of sprites
SUN = np.array([-0.55, -0.45, 0.70])  # light direction in sprite space (x right, y down, z out)
SUN = SUN / np.linalg.norm(SUN)
# Shadows fall to the right and a little towards the camera; the sun is about 50 degrees high.
SHADOW_DIR = np.array([0.86, 0.40])
SHADOW_DIR = SHADOW_DIR / np.linalg.norm(SHADOW_DIR)
SHADOW_LEN = 0.85  # shadow length per metre of height
SHADOW_TINT = (0.50, 0.54, 0.66)  # what shade multiplies sunlit colours by
HAZE = np.array([196, 204, 214], np.float32)


def scale_at(y):
    return S_TOP + K * y


def ground_to_world(X, Y):
    """Ground (X, Y) -> world (x, y, s): the position in the picture and the scale there."""
    v = YB - np.asarray(Y, dtype=np.float64)
    s = 1.0 / (1.0 + SIN_BOTTOM * K * v)
    return CX + (np.asarray(X, dtype=np.float64) - U0) * s, (s - S_TOP) / K, s


def elevation(s):
    """(sin, cos) of the angle at which the camera sees the ground where the scale is s."""
    sin_e = SIN_BOTTOM * s
    return sin_e, math.sqrt(max(0.0, 1.0 - sin_e * sin_e))


def project(X, Y, z=0.0):
    """Ground point (X, Y) and z metres up -> world (x, y)."""
    x, y, s = ground_to_world(X, Y)
    cos_e = np.sqrt(np.maximum(0.0, 1.0 - (SIN_BOTTOM * s) ** 2))
    return float(x), float(y - z * U * s * cos_e)


def haze_at(y):
    """How much the air veils things at world row y (more towards the horizon)."""
    return 0.10 * (1.0 - min(max(y, 0.0), WORLD_H) / WORLD_H) ** 2


def perspective_coeffs(ss):
    """Pillow PERSPECTIVE coefficients from world pixels (times ss) to ground-image pixels."""
    g = SIN_BOTTOM
    a = GS / S_TOP
    b = GS * (U0 - GX0) * K / S_TOP
    c = GS * ((U0 - GX0) * S_TOP - CX) / S_TOP
    A = YB - GY0 + 1.0 / (g * K)
    e = GS * A * K / S_TOP
    f = GS * (A * S_TOP - 1.0 / (g * K)) / S_TOP
    h = K / S_TOP
    return (a / ss, b / ss, c, 0.0, e / ss, f, 0.0, h / ss)


def gp(X, Y):
    """Ground units -> ground-image pixels."""
    return ((X - GX0) * GS, (Y - GY0) * GS)


# ----------------------------------------------------------------------------------------------
# Small helpers


def value_noise(rng, h, w, cell):
    """Smooth noise in [0, 1] with features about `cell` pixels across."""
    gh, gw = int(h / cell) + 3, int(w / cell) + 3
    small = rng.random((gh, gw)).astype(np.float32)
    big = Image.fromarray(small).resize((int(gw * cell), int(gh * cell)), Image.BICUBIC)
    ox, oy = int(rng.integers(0, max(1, int(cell)))), int(rng.integers(0, max(1, int(cell))))
    return np.asarray(big, dtype=np.float32)[oy:oy + h, ox:ox + w]


def fbm(rng, h, w, cell, octaves=4):
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += amp * value_noise(rng, h, w, cell)
        norm += amp
        amp *= 0.5
        cell /= 2.0
    return total / norm


def to_f(im):
    return np.asarray(im, dtype=np.float32) / 255.0


def blend(base, colour, alpha):
    """base (h,w,3), colour (3,) or (h,w,3), alpha (h,w) in [0,1]; in place when possible."""
    a = alpha[..., None]
    base *= 1.0 - a
    base += np.asarray(colour, np.float32) * a
    return base


def convex_hull(points):
    pts = sorted(set(map(tuple, np.round(np.asarray(points), 2).tolist())))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def jitter_colour(rng, c, amount=0.08):
    c = np.asarray(c, np.float32) * (1.0 + rng.normal(0, amount))
    c = c * (1.0 + rng.normal(0, amount / 2, 3))
    return tuple(float(v) for v in np.clip(c, 0, 255))


def pick(rng, table):
    weights = np.array([w for w, _ in table], np.float64)
    return table[rng.choice(len(table), p=weights / weights.sum())][1]


def c8(c, alpha=None):
    t = tuple(int(round(min(255, max(0, v)))) for v in c)
    return t if alpha is None else t + (alpha,)


def downsample(im):
    """A supersampled RGBA image -> world resolution, averaging in premultiplied alpha."""
    w, h = im.size
    im = im.crop((0, 0, w - w % SS, h - h % SS))
    return im.convert("RGBa").reduce(SS).convert("RGBA")


def with_haze(sprite, y):
    hz = haze_at(y)
    if hz <= 0.002:
        return sprite
    rgb = Image.blend(sprite.convert("RGB"), Image.new("RGB", sprite.size, c8(HAZE)), hz)
    rgb.putalpha(sprite.getchannel("A"))
    return rgb


# ----------------------------------------------------------------------------------------------
# Layout, in ground units. The camera sees a trapezoid: X 143..3557 at the top (Y = 250) and
# 570..3130 at the bottom (Y = 2200).

PLAZA = [(1150, 2400), (1150, 990), (1250, 820), (1450, 730), (3800, 730), (3800, 2400)]
STAGE = (1950, 770, 2950, 970)  # x0, y0, x1, y1 of the platform
STAGE_H = 1.1  # metres
FOUNTAIN = (1450, 1880, 170)  # cx, cy, radius
KIOSK = (2860, 1640, 3140, 1840)  # x0, y0, x1, y1
KIOSK_H = 2.7
TREES = [  # x, y, canopy radius (units), trunk height (m)
    (420, 1580, 230, 5.2), (330, 1060, 250, 6.0), (300, 560, 240, 5.6), (1000, 760, 170, 4.4),
    (1170, 730, 170, 3.4), (2150, 690, 200, 3.6), (3350, 680, 220, 3.8), (2700, 315, 240, 5.0),
]
LAMPS = [(1200, 1300), (1190, 1560), (1700, 780), (3150, 780), (3650, 1050), (2600, 2150)]
BENCHES = [(FOUNTAIN[0] + 265 * math.cos(a), FOUNTAIN[1] + 265 * math.sin(a), a + math.pi / 2)
           for a in (math.pi * 1.0, math.pi * 1.25, math.pi * 1.5)]
BLANKETS = [(720, 2060, 0.3, (196, 58, 52)), (1010, 1180, -0.5, (56, 86, 168)), (690, 1780, 0.9, (226, 186, 58))]


def path_curve():
    """The gravel path over the lawn: from below the picture up to the top left, then across."""
    t = np.linspace(0, 1, 160)
    a = np.stack([1000 - 420 * t + 110 * np.sin(t * 5.0), 2450 - 1930 * t], 1)
    t2 = np.linspace(0, 1, 160)[1:]
    b = np.stack([a[-1, 0] + (4000 - a[-1, 0]) * t2, 520 + 50 * np.sin(t2 * 7.0) * (1 - t2)], 1)
    return np.concatenate([a, b])


PATH_W = 190


# ----------------------------------------------------------------------------------------------
# The ground


def unit_grid(h, w):
    X = (np.arange(w, dtype=np.float32) / GS + GX0)[None, :]
    Y = (np.arange(h, dtype=np.float32) / GS + GY0)[:, None]
    return X, Y


def paving(rng, h, w):
    """Granite slabs 1.0 m x 0.5 m in running bond, grout, colour variation, wear, stone bands."""
    X, Y = unit_grid(h, w)
    sw, sh = 95.0, 47.5
    row = np.floor(Y / sh)
    fy = Y - row * sh
    xo = X + (row % 2) * sw * 0.5
    col = np.floor(xo / sw)
    fx = xo - col * sw
    edge = np.minimum(np.minimum(fx, sw - fx), np.minimum(fy, sh - fy))
    grout = np.clip((1.7 - edge) * GS, 0, 1)
    ids = ((row.astype(np.int32) * 7919 + col.astype(np.int32) * 613) % 65521).astype(np.int32)
    tone = (1.0 + rng.normal(0, 0.045, 65521) - (rng.random(65521) < 0.05) * 0.10).astype(np.float32)
    warm = rng.normal(0, 0.02, 65521).astype(np.float32)
    v = tone[ids]
    v *= 0.94 + 0.12 * rng.random((h, w), dtype=np.float32)
    v *= 0.90 + 0.18 * fbm(rng, h, w, 320, 4)
    wm = warm[ids]
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 178 * v * (1 + wm)
    img[..., 1] = 170 * v
    img[..., 2] = 158 * v * (1 - wm)
    blend(img, (70, 66, 60), grout * 0.45)
    # darker basalt bands every 10 m
    band = (np.abs(((X - 150) % 950) - 475) > 475 - 28).astype(np.float32) * np.ones_like(Y)
    blend(img, (98, 96, 94), band * 0.8)
    return img


def lawn(rng, h, w):
    X, Y = unit_grid(h, w)
    patches = np.clip(fbm(rng, h, w, 480, 4) * 1.6 - 0.55, 0, 1)
    v = 0.86 + 0.24 * fbm(rng, h, w, 48, 3)
    stripes = np.clip(np.sin((X * 0.94 + Y * 0.34) * (2 * math.pi / 460.0)) * 3, -1, 1)
    v += 0.05 * stripes
    blades = rng.random((h, w), dtype=np.float32)
    v *= 0.84 + 0.15 * (blades + np.roll(blades, 1, axis=0))
    img = np.empty((h, w, 3), np.float32)
    for i, (g, y2) in enumerate(((82, 128), (118, 136), (50, 70))):
        img[..., i] = (g + (y2 - g) * patches) * v
    return img


def gravel(rng, h, w):
    v = 0.86 + 0.2 * rng.random((h, w), dtype=np.float32) + 0.08 * value_noise(rng, h, w, 120)
    peb = Image.fromarray(((rng.random((h, w)) < 0.03) * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3))
    img = np.empty((h, w, 3), np.float32)
    for i, c in enumerate((196, 180, 150)):
        img[..., i] = c * v
    return blend(img, (140, 126, 104), to_f(peb) * 0.6)


def gdraw_line(d, pts, width, **kw):
    d.line([gp(x, y) for x, y in pts], width=int(width * GS), joint="curve", **kw)


def gpoly(d, pts, **kw):
    d.polygon([gp(x, y) for x, y in pts], **kw)


def gellipse(d, cx, cy, rx, ry, **kw):
    (x0, y0), (x1, y1) = gp(cx - rx, cy - ry), gp(cx + rx, cy + ry)
    d.ellipse((x0, y0, x1, y1), **kw)


def build_ground(rng):
    """The sunlit ground image and the static-shadow mask, both in ground-image pixels."""
    h, w = GH, GW
    size = (w, h)
    img = lawn(rng, h, w)

    # the path, with worn grass beside it
    pts = [tuple(p) for p in path_curve()]
    pm = Image.new("L", size, 0)
    gdraw_line(ImageDraw.Draw(pm), pts, PATH_W, fill=255)
    pm_soft = to_f(pm.filter(ImageFilter.GaussianBlur(4)))
    wide = Image.new("L", size, 0)
    gdraw_line(ImageDraw.Draw(wide), pts, PATH_W + 40, fill=255)
    edge = to_f(wide.filter(ImageFilter.GaussianBlur(10)))
    img *= (1.0 - 0.18 * np.clip(edge - pm_soft, 0, 1))[..., None]
    blend(img, gravel(rng, h, w), pm_soft)

    # the square: paving inside a border of darker stone
    plaza = Image.new("L", size, 0)
    gpoly(ImageDraw.Draw(plaza), PLAZA, fill=255)
    pf = to_f(plaza.filter(ImageFilter.GaussianBlur(1.2)))
    inner = to_f(plaza.filter(ImageFilter.GaussianBlur(22)))
    pave = paving(rng, h, w)
    kerb = np.array([120, 116, 112], np.float32) * (0.9 + 0.15 * rng.random((h, w, 1), dtype=np.float32))
    blend(pave, kerb, np.clip((0.93 - inner) * 8, 0, 1) * pf)
    del kerb
    blend(img, pave, pf)
    del pave

    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    del img
    draw = ImageDraw.Draw(im)
    shadow = Image.new("L", size, 0)
    sd = ImageDraw.Draw(shadow)

    # fountain: stone rim, water with ripples, a foaming jet
    fx, fy, fr = FOUNTAIN
    gellipse(draw, fx, fy, fr + 18, fr + 18, fill=(150, 146, 140))
    gellipse(draw, fx, fy, fr, fr, fill=(202, 198, 190))
    (px0, py0), rp = gp(fx - fr, fy - fr), int(fr * GS)
    px0, py0 = int(px0), int(py0)
    yy, xx = np.mgrid[-rp:rp, -rp:rp].astype(np.float32) / GS
    r = np.hypot(xx, yy)
    ripple = 0.5 + 0.5 * np.sin(r * 0.35 - 2.0 * np.sqrt(r + 1))
    water = np.array([58, 98, 112], np.float32) * (0.85 + 0.25 * ripple + 0.1 * rng.random(r.shape))[..., None]
    blend(water, (235, 240, 240), np.clip(1.4 - r / 28, 0, 1))
    region = np.asarray(im.crop((px0, py0, px0 + 2 * rp, py0 + 2 * rp)), np.float32).copy()
    blend(region, water, np.clip(fr - 22 - r, 0, 1))
    im.paste(Image.fromarray(np.clip(region, 0, 255).astype(np.uint8)), (px0, py0))
    # the rim stands 0.45 m: its shadow on the paving and on the water
    o = SHADOW_DIR * 0.45 * SHADOW_LEN * U
    gellipse(sd, fx + o[0], fy + o[1], fr + 18, fr + 18, fill=170)
    gellipse(sd, fx, fy, fr + 18, fr + 18, fill=0)
    ring = Image.new("L", size, 0)
    gellipse(ImageDraw.Draw(ring), fx, fy, fr - 22, fr - 22, fill=130)
    gellipse(ImageDraw.Draw(ring), fx + o[0], fy + o[1], fr - 22, fr - 22, fill=0)
    shadow = ImageChops.lighter(shadow, ring)
    sd = ImageDraw.Draw(shadow)

    # picnic blankets (checked)
    for bx, by, rot, col in BLANKETS:
        bw, bh = 200, 150
        c, s = math.cos(rot), math.sin(rot)
        for i in range(6):
            for j in range(5):
                u0, v0 = -bw / 2 + i * bw / 6, -bh / 2 + j * bh / 5
                quad = [(u0, v0), (u0 + bw / 6, v0), (u0 + bw / 6, v0 + bh / 5), (u0, v0 + bh / 5)]
                gpoly(draw, [(bx + u * c - v * s, by + u * s + v * c) for u, v in quad],
                      fill=c8(col if (i + j) % 2 == 0 else (235, 232, 222)))

    # benches round the fountain: wooden slats on a 0.45 m frame
    for bx, by, rot in BENCHES:
        c, s = math.cos(rot), math.sin(rot)

        def quad(u0, v0, u1, v1, dx=0.0, dy=0.0):
            return [(bx + dx + u * c - v * s, by + dy + u * s + v * c)
                    for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))]
        o = SHADOW_DIR * 0.45 * SHADOW_LEN * U
        gpoly(sd, quad(-85, -22, 85, 22, o[0], o[1]), fill=200)
        for k in range(4):
            gpoly(draw, quad(-85, -22 + k * 11, 85, -22 + k * 11 + 8), fill=(122 - 6 * k, 84, 52))

    # stage and kiosk shadows (the things themselves are drawn in the picture)
    for (x0, y0, x1, y1), hgt in ((STAGE, STAGE_H), (KIOSK, KIOSK_H)):
        o = SHADOW_DIR * hgt * SHADOW_LEN * U
        gpoly(sd, [(x0, y1), (x1, y1), (x1 + o[0], y1 + o[1]), (x1 + o[0], y0 + o[1]), (x1, y0), (x0, y0),
                   (x0 + o[0], y0 + o[1]), (x0 + o[0], y1 + o[1])], fill=230)
        gpoly(sd, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill=230)
    for lx, ly in LAMPS:
        o = SHADOW_DIR * 4.2 * SHADOW_LEN * U
        gdraw_line(sd, [(lx, ly), (lx + o[0], ly + o[1])], 9, fill=215)
        gellipse(sd, lx + o[0], ly + o[1], 16, 12, fill=215)
    shadow = shadow.filter(ImageFilter.GaussianBlur(2))

    # trees: soft, dappled shadows
    tree_sh = Image.new("L", size, 0)
    td = ImageDraw.Draw(tree_sh)
    for tx, ty, tr, th in TREES:
        o = SHADOW_DIR * (th + 1.0) * SHADOW_LEN * U
        gellipse(td, tx + o[0], ty + o[1], tr * 1.05, tr * 0.95, fill=215)
        gdraw_line(td, [(tx, ty), (tx + o[0] * 0.8, ty + o[1] * 0.8)], 20, fill=215)
    holes = np.clip(value_noise(rng, h, w, 14) * 2.2 - 1.0, 0, 1) * 0.85
    tree_sh = np.asarray(tree_sh.filter(ImageFilter.GaussianBlur(9)), np.float32) * (1.0 - holes)
    shadow = ImageChops.lighter(shadow, Image.fromarray(tree_sh.astype(np.uint8)))
    return im, shadow


def warp_to_world(ground, shadow):
    """The ground image and shadow mask as the camera sees them (2x supersampled)."""
    ss = 2
    coeffs = perspective_coeffs(ss)
    size = (WORLD_W * ss, WORLD_H * ss)
    world = ground.transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR).reduce(ss)
    sh = shadow.transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR).reduce(ss)
    return world, sh


# ----------------------------------------------------------------------------------------------
# Tall static things, drawn in the picture: the stage (on the ground image), trees, the kiosk
# and lamp posts (sprites, depth-sorted with the people).


def draw_box(draw, X0, Y0, X1, Y1, z0, z1, top, front, side, off=(0.0, 0.0), k=1.0):
    """An upright box seen by the camera: its top, the face towards the camera and whichever
    side face shows."""
    def P(X, Y, z):
        x, y = project(X, Y, z)
        return ((x - off[0]) * k, (y - off[1]) * k)
    draw.polygon([P(X0, Y1, z0), P(X1, Y1, z0), P(X1, Y1, z1), P(X0, Y1, z1)], fill=front)
    if project(X1, Y1)[0] < CX:
        draw.polygon([P(X1, Y0, z0), P(X1, Y1, z0), P(X1, Y1, z1), P(X1, Y0, z1)], fill=side)
    if project(X0, Y1)[0] > CX:
        draw.polygon([P(X0, Y0, z0), P(X0, Y1, z0), P(X0, Y1, z1), P(X0, Y0, z1)], fill=side)
    draw.polygon([P(X0, Y0, z1), P(X1, Y0, z1), P(X1, Y1, z1), P(X0, Y1, z1)], fill=top)


def draw_stage(world):
    d = ImageDraw.Draw(world)
    x0, y0, x1, y1 = STAGE
    draw_box(d, x0, y0, x1, y1, 0, STAGE_H, (74, 72, 70), (26, 26, 30), (36, 36, 40))
    for i in range(1, 40):  # planks
        X = x0 + i * (x1 - x0) / 40
        d.line([project(X, y0, STAGE_H), project(X, y1, STAGE_H)], fill=(62, 60, 59), width=1)
    for bx, by, bw, bd, bh, col in [  # speaker stacks, a drum riser, a drum kit, monitors
        (x0 + 20, y1 - 110, 95, 90, 2.0, (20, 20, 22)), (x1 - 115, y1 - 110, 95, 90, 2.0, (20, 20, 22)),
        (x0 + 430, y0 + 30, 160, 110, 0.5, (90, 40, 40)), (x0 + 470, y0 + 50, 70, 60, 1.0, (176, 176, 56)),
        (x0 + 300, y1 - 60, 60, 40, 0.35, (30, 30, 30)), (x0 + 640, y1 - 60, 60, 40, 0.35, (30, 30, 30)),
    ]:
        c = np.array(col, np.float32)
        draw_box(d, bx, by, bx + bw, by + bd, STAGE_H, STAGE_H + bh, c8(c * 1.5 + 10), c8(c), c8(c * 0.7))
    for X in (x0 + 10, x1 - 10):  # a truss over it
        d.line([project(X, y0 + 10, STAGE_H), project(X, y0 + 10, STAGE_H + 4.0)], fill=(150, 150, 155), width=6)
    d.line([project(x0 + 10, y0 + 10, STAGE_H + 4.0), project(x1 - 10, y0 + 10, STAGE_H + 4.0)],
           fill=(160, 160, 165), width=7)


def tree_sprite(rng, tr, th, s):
    """A round crown of leaf clumps lit from the upper left, on a trunk."""
    sin_e, cos_e = elevation(s)
    R = tr * s
    rz = R * (0.6 + 0.4 * sin_e)
    trunk = th * U * s * cos_e
    w, h = int(2 * R + 40), int(trunk + rz + 40 + R)
    im = Image.new("RGBA", (w * SS, h * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    fx, fy = w * SS / 2, (h - 20) * SS
    cy = fy - trunk * SS
    d.line([(fx, fy), (fx, cy)], fill=(86, 64, 44, 255), width=int(max(3, 0.3 * U * s * SS)))
    base = np.array(pick(rng, [(1, (58, 92, 40)), (1, (70, 100, 42)), (1, (50, 82, 48))]), np.float32)
    n = int(260 + R * 0.8)
    for _ in range(n):
        a = rng.uniform(0, 2 * math.pi)
        rr = math.sqrt(rng.uniform(0, 1)) * 0.88
        px, py = math.cos(a) * rr, math.sin(a) * rr
        light = 0.70 + 0.55 * (-0.55 * px - 0.6 * py) + 0.25 * (1 - rr) + rng.normal(0, 0.08)
        cr = R * rng.uniform(0.10, 0.22) * SS
        x, y = fx + px * R * SS, cy + py * rz * SS
        d.ellipse((x - cr, y - cr * 0.9, x + cr, y + cr * 0.9), fill=c8(base * light, 255))
    for _ in range(n // 3):
        a = rng.uniform(math.pi, 1.5 * math.pi) + rng.normal(0, 0.4)
        rr = rng.uniform(0.2, 0.85)
        x, y = fx + math.cos(a) * rr * R * SS, cy + math.sin(a) * rr * rz * SS
        cr = R * rng.uniform(0.05, 0.10) * SS
        d.ellipse((x - cr, y - cr, x + cr, y + cr), fill=c8(base * rng.uniform(1.15, 1.45) + 10, 255))
    return downsample(im), fx / SS, fy / SS


def kiosk_sprite():
    """A food kiosk with a striped awning; anchored at its front-left foot."""
    x0, y0, x1, y1 = KIOSK
    pts = [project(X, Y, z) for X in (x0 - 20, x1 + 20) for Y in (y0 - 20, y1 + 70) for z in (0, KIOSK_H + 0.3)]
    ox, oy = math.floor(min(p[0] for p in pts)) - 4, math.floor(min(p[1] for p in pts)) - 4
    w, h = math.ceil(max(p[0] for p in pts)) - ox + 8, math.ceil(max(p[1] for p in pts)) - oy + 8
    im = Image.new("RGBA", (w * SS, h * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)

    def P(X, Y, z):
        x, y = project(X, Y, z)
        return ((x - ox) * SS, (y - oy) * SS)

    draw_box(d, x0, y0, x1, y1, 0, KIOSK_H, (230, 226, 214, 255), (196, 190, 176, 255), (170, 166, 156, 255),
             (ox, oy), SS)
    d.polygon([P(x0 + 60, y1, 0.95), P(x1 - 60, y1, 0.95), P(x1 - 60, y1, 1.9), P(x0 + 60, y1, 1.9)],
              fill=(44, 38, 34, 255))
    n = 8
    for i in range(n):  # the striped roof, reaching out over the hatch
        X0 = x0 - 15 + i * (x1 - x0 + 30) / n
        X1 = X0 + (x1 - x0 + 30) / n
        d.polygon([P(X0, y0 - 10, KIOSK_H + 0.3), P(X1, y0 - 10, KIOSK_H + 0.3), P(X1, y1 + 60, KIOSK_H),
                   P(X0, y1 + 60, KIOSK_H)], fill=(200, 40, 44, 255) if i % 2 == 0 else (240, 236, 228, 255))
    d.polygon([P(x0 - 15, y1 + 60, KIOSK_H), P(x1 + 15, y1 + 60, KIOSK_H), P(x1 + 15, y1 + 60, KIOSK_H - 0.25),
               P(x0 - 15, y1 + 60, KIOSK_H - 0.25)], fill=(170, 30, 34, 255))
    fx, fy = project(x0, y1)
    return downsample(im), fx - ox, fy - oy


def lamp_sprite(s):
    sin_e, cos_e = elevation(s)
    hgt = 4.2 * U * s * cos_e
    w, h = 24, int(hgt + 24)
    im = Image.new("RGBA", (w * SS, h * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    fx, fy = w * SS / 2, (h - 6) * SS
    top = fy - hgt * SS
    d.line([(fx, fy), (fx, top)], fill=(52, 56, 60, 255), width=max(2, int(0.12 * U * s * SS)))
    r = 0.22 * U * s * SS
    d.ellipse((fx - r, top - r * 0.7, fx + r, top + r * 0.7), fill=(220, 222, 210, 255))
    return downsample(im), fx / SS, fy / SS


# ----------------------------------------------------------------------------------------------
# People

HAIR = [(30, (22, 18, 16)), (25, (48, 34, 26)), (18, (86, 60, 40)), (10, (130, 96, 62)),
        (9, (196, 164, 108)), (5, (150, 148, 142)), (3, (128, 58, 32)), (2, (220, 210, 190))]
SKIN = [(1, (236, 200, 172)), (1, (222, 178, 146)), (1, (196, 150, 112)), (1, (160, 112, 80)),
        (1, (120, 82, 58)), (1, (92, 62, 46))]
CLOTHES = [(14, (232, 232, 228)), (14, (30, 30, 34)), (9, (40, 50, 90)), (8, (118, 120, 124)),
           (4, (186, 42, 46)), (5, (52, 98, 170)), (3, (62, 112, 72)), (3, (222, 190, 60)),
           (2, (232, 118, 44)), (3, (222, 130, 166)), (5, (176, 158, 122)), (3, (108, 40, 64)),
           (2, (76, 150, 160)), (1, (150, 196, 90)), (3, (104, 86, 64)), (2, (98, 72, 146)),
           (4, (140, 176, 212))]
TROUSERS = [(10, (56, 70, 104)), (6, (34, 34, 38)), (4, (150, 136, 106)), (3, (100, 100, 104)),
            (2, (86, 110, 150)), (2, (60, 72, 56))]
HATS = [(3, (230, 230, 226)), (2, (30, 30, 36)), (2, (190, 40, 40)), (2, (40, 70, 150)), (1, (220, 180, 60))]


# heights of the hips, the shoulders and the head's centre, in metres, by pose
BODY = {"stand": (0.88, 1.42, 1.60), "walk": (0.88, 1.42, 1.60), "sit": (0.14, 0.66, 0.86),
        "bench": (0.47, 0.99, 1.19)}


class Person:
    __slots__ = ("pid", "X", "Y", "phi", "pose", "hf", "sw", "top", "bottom", "skin", "hair",
                 "long_hair", "sleeves", "shorts", "hat", "sunhat", "pack", "lane", "lane_s0",
                 "lane_off", "speed", "gait_n", "sway", "sway_ph", "sway_n", "z")


def new_person(rng, pid, X, Y, phi, pose="stand"):
    p = Person()
    p.pid, p.X, p.Y, p.phi, p.pose = pid, float(X), float(Y), float(phi), pose
    child = rng.random() < 0.06
    p.hf = (0.72 if child else 1.0) * float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    p.sw = 0.44 * p.hf * float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.2))
    p.top = jitter_colour(rng, pick(rng, CLOTHES))
    p.bottom = jitter_colour(rng, pick(rng, TROUSERS), 0.06)
    p.skin = jitter_colour(rng, pick(rng, SKIN), 0.04)
    p.hair = jitter_colour(rng, pick(rng, HAIR), 0.06)
    p.long_hair = rng.random() < 0.3
    p.sleeves = rng.random() < 0.45
    p.shorts = rng.random() < 0.3
    p.hat = jitter_colour(rng, pick(rng, HATS), 0.05) if rng.random() < 0.10 else None
    p.sunhat = rng.random() < 0.03
    p.pack = jitter_colour(rng, pick(rng, CLOTHES), 0.1) if rng.random() < 0.16 else None
    p.lane = None
    p.lane_s0 = p.lane_off = p.speed = 0.0
    p.gait_n = 0
    p.sway = 0.0  # units; only the people who shift on their feet get some
    p.sway_ph = float(rng.uniform(0, 2 * math.pi))
    p.sway_n = int(rng.integers(1, 4))  # cycles per clip
    p.z = 0.0  # metres above the ground (the band stands on the stage)
    return p


def render_person(p, s, phi, gait=0.0, haze=0.0):
    """The person at scale s facing phi (0: towards the camera), as
    (sprite, ax, ay, shadow, sax, say): an RGBA sprite and an L shadow mask, each with the
    position of the point under the feet inside it."""
    sin_e, cos_e = elevation(s)
    sc = U * s * SS  # sprite pixels per metre
    fX, fY = math.sin(phi), math.cos(phi)  # facing
    aX, aY = fY, -fX  # the shoulder line

    def P(dx, dy, z):
        return (dx * sc, dy * sc * sin_e - z * sc * cos_e)

    def ground_ellipse(cx, cy, z, ra, rf, n=18):
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        u, v = ra * np.cos(t), rf * np.sin(t)
        x, y = P(cx + u * aX + v * fX, cy + u * aY + v * fY, z)
        return np.stack([x, y], 1)

    hf = p.hf
    sit = p.pose in ("sit", "bench")
    hip_z, sh_z, head_z = (h * hf for h in BODY[p.pose])
    hr = 0.105 * hf ** 0.5
    hw = p.sw / 2
    walk = p.pose == "walk"
    ops = []  # (kind, geometry, colour, level) level: 0 limbs/body, 1 shoulders, 2 head

    # legs and shoes
    stride = 0.22 * math.sin(gait) if walk else 0.0
    for side in (-1, 1):
        if p.pose == "bench":  # thighs forward on the seat, shins down
            hip = P(side * 0.09 * aX - 0.05 * fX, side * 0.09 * aY - 0.05 * fY, hip_z)
            knee = P(side * 0.11 * aX + 0.40 * hf * fX, side * 0.11 * aY + 0.40 * hf * fY, hip_z + 0.03)
            foot = P(side * 0.12 * aX + 0.48 * hf * fX, side * 0.12 * aY + 0.48 * hf * fY, 0.06)
            ops.append(("line", (knee, hip), p.bottom, 0.14 * hf, 0))
            ops.append(("line", (foot, knee), p.skin if p.shorts else p.bottom, 0.12 * hf, 0))
            ops.append(("circle", (foot[0], foot[1], 0.05 * sc), (34, 30, 30), 0, 0))
            continue
        if sit:
            hip = P(side * 0.09 * aX - 0.05 * fX, side * 0.09 * aY - 0.05 * fY, hip_z)
            foot = P(side * 0.12 * aX + 0.50 * hf * fX, side * 0.12 * aY + 0.50 * hf * fY, 0.08)
        else:
            st = side * stride
            hip = P(side * 0.09 * aX, side * 0.09 * aY, hip_z)
            foot = P(side * 0.10 * aX + st * fX, side * 0.10 * aY + st * fY, 0.06)
        ops.append(("line", (foot, hip), p.skin if p.shorts and not sit else p.bottom, 0.13 * hf, 0))
        if p.shorts and not sit:
            ops.append(("line", ((foot[0] * 0.45 + hip[0] * 0.55, foot[1] * 0.45 + hip[1] * 0.55), hip),
                        p.bottom, 0.14 * hf, 0))
        ops.append(("circle", (foot[0], foot[1], 0.05 * sc), (34, 30, 30), 0, 0))
    # arms (behind the torso where the torso hides them)
    swing = 0.18 * math.sin(gait) if walk else 0.0
    for side in (-1, 1):
        sh = P(side * (hw - 0.04) * aX, side * (hw - 0.04) * aY, sh_z - 0.04)
        if sit:
            hand = P(side * (hw + 0.02) * aX + 0.25 * fX, side * (hw + 0.02) * aY + 0.25 * fY, hip_z + 0.16 * hf)
        else:
            dd = -side * swing + 0.04
            hand = P(side * (hw + 0.03) * aX + dd * fX, side * (hw + 0.03) * aY + dd * fY, hip_z - 0.08)
        elbow = ((sh[0] + hand[0]) / 2, (sh[1] + hand[1]) / 2)
        ops.append(("line", (sh, hand), p.top if p.sleeves else p.skin, 0.085 * hf, 0))
        if not p.sleeves:
            ops.append(("line", (sh, elbow), p.top, 0.09 * hf, 0))
        ops.append(("circle", (hand[0], hand[1], 0.045 * sc), p.skin, 0, 0))
    pack = None
    if p.pack is not None and not sit:
        pk = [ground_ellipse(-0.17 * fX, -0.17 * fY, z, 0.14, 0.08) for z in (1.0 * hf, 1.36 * hf)]
        pack = ("poly", convex_hull(np.concatenate(pk)), p.pack, 0, 0)
        if fY > 0:  # facing the camera: the pack is behind the body
            ops.append(pack)
    # torso: the hull of the waist and the chest
    waist = ground_ellipse(0, 0, hip_z, 0.16 * hf, 0.10 * hf)
    chest = ground_ellipse(0, 0, sh_z - 0.05, hw, 0.12 * hf)
    ops.append(("poly", convex_hull(np.concatenate([waist, chest])), p.top, 0, 0))
    if pack is not None and fY <= 0:
        ops.append(pack)
    ops.append(("poly", ground_ellipse(0, 0, sh_z, hw, 0.12 * hf), p.top, 0, 1))  # shoulders from above
    if p.long_hair:
        ops.append(("poly", ground_ellipse(-0.07 * fX, -0.07 * fY, sh_z + 0.02, 0.10, 0.07), p.hair, 0, 1))
    # head: hair all over, the face where it shows, the hair's crown over the top
    hc = P(0.03 * fX, 0.03 * fY, head_z)
    R = hr * sc
    ops.append(("head", (hc, R, fX, fY), (p.hair, p.skin), 0, 2))
    if p.hat is not None:
        ops.append(("circle", (hc[0] + 0.1 * fX * R, hc[1] - 0.35 * R * cos_e, R * 0.95), p.hat, 0, 2))
        b = P(0.03 * fX + fX * hr * 1.05, 0.03 * fY + fY * hr * 1.05, head_z + 0.03)
        ops.append(("circle", (b[0], b[1], R * 0.55), p.hat, 0, 2))
    if p.sunhat:
        ops.append(("poly", ground_ellipse(0.03 * fX, 0.03 * fY, head_z + 0.06, 0.2, 0.2, 24), (214, 190, 140), 0, 2))
        ops.append(("circle", (hc[0], hc[1] - 0.07 * sc * cos_e, R * 0.75), (200, 176, 126), 0, 2))

    # the canvas: the bounding box of everything
    xs, ys = [], []
    for kind, geo, _, wd, _ in ops:
        if kind == "poly":
            arr = np.asarray(geo)
            xs += [arr[:, 0].min(), arr[:, 0].max()]
            ys += [arr[:, 1].min(), arr[:, 1].max()]
        elif kind == "line":
            r = wd * sc / 2
            for q in geo:
                xs += [q[0] - r, q[0] + r]
                ys += [q[1] - r, q[1] + r]
        elif kind == "circle":
            xs += [geo[0] - geo[2], geo[0] + geo[2]]
            ys += [geo[1] - geo[2], geo[1] + geo[2]]
        else:
            (cx, cy), r = geo[0], geo[1]
            xs += [cx - r, cx + r]
            ys += [cy - r, cy + r]
    pad = 2 * SS
    x0 = math.floor((min(xs) - pad) / SS) * SS
    y0 = math.floor((min(ys) - pad) / SS) * SS
    w = int(math.ceil((max(xs) + pad) / SS) * SS - x0)
    h = int(math.ceil((max(ys) + pad) / SS) * SS - y0)

    rgb = Image.new("RGB", (w, h), (0, 0, 0))
    alpha = Image.new("L", (w, h), 0)
    level = Image.new("L", (w, h), 0)  # 0 body, 1 shoulders, 2 head: how high the surface is
    dr, da, dl = ImageDraw.Draw(rgb), ImageDraw.Draw(alpha), ImageDraw.Draw(level)
    head = Image.new("L", (w, h), 0)
    dh = ImageDraw.Draw(head)

    def T(q):
        return (q[0] - x0, q[1] - y0)

    for kind, geo, col, wd, lv in ops:
        lvl = (40, 120, 200)[lv]
        if kind == "poly":
            pts = [T(q) for q in geo]
            dr.polygon(pts, fill=c8(col))
            da.polygon(pts, fill=255)
            dl.polygon(pts, fill=lvl)
            dh.polygon(pts, fill=255 if lv == 2 else 0)
        elif kind == "line":
            a, b = T(geo[0]), T(geo[1])
            wdp = max(1, int(round(wd * sc)))
            r = wdp / 2
            for d_, f in ((dr, c8(col)), (da, 255), (dl, lvl), (dh, 0)):
                d_.line([a, b], fill=f, width=wdp)
                d_.ellipse((a[0] - r, a[1] - r, a[0] + r, a[1] + r), fill=f)
                d_.ellipse((b[0] - r, b[1] - r, b[0] + r, b[1] + r), fill=f)
        elif kind == "circle":
            cx, cy = T(geo[:2])
            r = geo[2]
            box = (cx - r, cy - r, cx + r, cy + r)
            dr.ellipse(box, fill=c8(col))
            da.ellipse(box, fill=255)
            dl.ellipse(box, fill=lvl)
            dh.ellipse(box, fill=255 if lv == 2 else 0)
        else:
            (cx, cy), r, fx_, fy_ = T(geo[0]), geo[1], geo[2], geo[3]
            hair, skin = col
            box = (cx - r, cy - r, cx + r, cy + r)
            dr.ellipse(box, fill=c8(hair))
            da.ellipse(box, fill=255)
            dl.ellipse(box, fill=lvl)
            dh.ellipse(box, fill=255)
            if fy_ > -0.3:  # the face shows unless the head is turned away from the camera
                face = Image.new("L", (w, h), 0)
                fcx, fcy = cx + fx_ * 0.62 * r, cy + fy_ * 0.62 * r * sin_e + 0.1 * r * cos_e
                fr = 0.72 * r
                ImageDraw.Draw(face).ellipse((fcx - fr, fcy - fr, fcx + fr, fcy + fr), fill=255)
                crown = Image.new("L", (w, h), 0)
                ccx, ccy = cx - 0.2 * fx_ * r, cy - 0.2 * fy_ * r * sin_e - 0.45 * r * cos_e - 0.05 * r
                cr = 0.86 * r
                ImageDraw.Draw(crown).ellipse((ccx - cr, ccy - cr, ccx + cr, ccy + cr), fill=255)
                hm = Image.new("L", (w, h), 0)
                ImageDraw.Draw(hm).ellipse(box, fill=255)
                rgb.paste(c8(skin), (0, 0), ImageChops.subtract(ImageChops.multiply(face, hm), crown))

    # shading: a height field from the blurred levels and the head, lit by the sun
    A = np.asarray(alpha, np.float32) * (1 / 255.0)
    Lv = np.asarray(level, np.float32) * (1 / 255.0)
    Hb = np.asarray(level.filter(ImageFilter.GaussianBlur(0.05 * sc)), np.float32) * (1 / 255.0)
    Hh = np.asarray(head.filter(ImageFilter.GaussianBlur(0.5 * hr * sc)), np.float32) * (1 / 255.0)
    H = Hb * (0.35 * sc) + Hh * (0.6 * hr * sc)
    gy, gx = np.gradient(H)
    lam = (-gx * SUN[0] - gy * SUN[1] + SUN[2]) / np.sqrt(gx * gx + gy * gy + 1.0)
    shade = np.clip(0.45 + 0.75 * lam, 0.25, 1.35) * (0.88 + 0.22 * np.clip(Lv * 2.0, 0, 1))
    col = np.asarray(rgb, np.float32) * shade[..., None]
    if haze > 0:
        col = col * (1 - haze) + HAZE * haze
    col *= A[..., None]  # premultiplied, then box-filtered to world resolution by Pillow
    pm = np.concatenate([col, A[..., None] * 255.0], axis=2)
    pm = np.ascontiguousarray(np.clip(pm, 0, 255).astype(np.uint8))
    sprite = Image.frombytes("RGBa", (pm.shape[1], pm.shape[0]), pm.tobytes()).reduce(SS).convert("RGBA")
    ax, ay = -x0 / SS, -y0 / SS

    # the shadow on the ground: hull of the feet, the body and the shoulders, then the head
    Lsh = (head_z + hr) * SHADOW_LEN
    dX, dY = SHADOW_DIR
    t = np.linspace(0, 2 * math.pi, 14, endpoint=False)
    body = []
    for f, rad in ((0.0, 0.15), (0.45, 0.25 if sit else 0.17), (0.80, hw)):
        body.append(np.stack([dX * Lsh * f + rad * np.cos(t), dY * Lsh * f + rad * np.sin(t)], 1))
    body = np.concatenate(body)
    hcx, hcy, hrr = dX * Lsh * 0.97, dY * Lsh * 0.97, hr * 1.05
    rc = 0.24  # the darker patch right under the feet
    gx_ = np.concatenate([body[:, 0], [hcx - hrr, hcx + hrr, -rc, rc]]) * sc
    gy_ = np.concatenate([body[:, 1], [hcy - hrr, hcy + hrr, -rc, rc]]) * sc * sin_e
    pad = 3 * SS
    sx0 = math.floor((gx_.min() - pad) / SS) * SS
    sy0 = math.floor((gy_.min() - pad) / SS) * SS
    sw_ = int(math.ceil((gx_.max() + pad) / SS) * SS - sx0)
    sh_ = int(math.ceil((gy_.max() + pad) / SS) * SS - sy0)
    shm = Image.new("L", (sw_, sh_), 0)
    sdd = ImageDraw.Draw(shm)
    sdd.polygon(convex_hull(np.stack([body[:, 0] * sc - sx0, body[:, 1] * sc * sin_e - sy0], 1)), fill=205)
    sdd.ellipse(((hcx - hrr) * sc - sx0, (hcy - hrr) * sc * sin_e - sy0,
                 (hcx + hrr) * sc - sx0, (hcy + hrr) * sc * sin_e - sy0), fill=205)
    sdd.ellipse((-rc * sc - sx0, -rc * sc * sin_e - sy0, rc * sc - sx0, rc * sc * sin_e - sy0), fill=250)
    shm = shm.filter(ImageFilter.GaussianBlur(0.05 * sc)).reduce(SS)
    return sprite, ax, ay, shm, -sx0 / SS, -sy0 / SS


# ----------------------------------------------------------------------------------------------
# Who is where


def blocked(x, y, margin=0.0):
    """Where nobody stands: the stage, the kiosk, the fountain's water, tree trunks."""
    x0, y0, x1, y1 = STAGE
    if x0 - margin < x < x1 + margin and y0 - margin < y < y1 + 25 + margin:
        return True
    x0, y0, x1, y1 = KIOSK
    if x0 - margin < x < x1 + margin and y0 - margin < y < y1 + margin:
        return True
    fx, fy, fr = FOUNTAIN
    if math.hypot(x - fx, y - fy) < fr + 10 + margin:
        return True
    for bx, by, _ in BENCHES:
        if math.hypot(x - bx, y - by) < 90 + margin:
            return True
    for tx, ty, tr, _ in TREES:
        if math.hypot(x - tx, y - ty) < 60 + margin:
            return True
    return False


def in_view(X, Y, mx=0.0, my=0.0):
    x, y, s = ground_to_world(X, Y)
    return -mx < x < WORLD_W + mx and -my < y < WORLD_H + my


class Lane:
    """A walking route: a polyline, walked at an offset to either side."""

    def __init__(self, pts):
        self.p = np.asarray(pts, np.float64)
        seg = np.diff(self.p, axis=0)
        self.seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.cum = np.concatenate([[0], np.cumsum(self.seg_len)])
        self.length = float(self.cum[-1])
        self.dirs = seg / self.seg_len[:, None]

    def at(self, d):
        d = min(max(d, 0.0), self.length - 1e-6)
        i = min(int(np.searchsorted(self.cum, d, side="right") - 1), len(self.seg_len) - 1)
        t = (d - self.cum[i]) / self.seg_len[i]
        return self.p[i] + (self.p[i + 1] - self.p[i]) * t, self.dirs[i]

    def samples(self, step=20.0):
        return np.array([self.at(d)[0] for d in np.arange(0, self.length, step)])


# Walking routes; each starts and ends outside the picture. (points, how far to either side
# people walk, walkers)
LANES = [
    (path_curve()[::3], 34, 12),  # the gravel path: from below the picture, up the left, across the top
    ([(250, 2150), (1000, 2140), (2200, 2130), (3200, 2140), (3500, 2150)], 24, 14),  # the front of the square
    ([(3700, 760), (3300, 980), (3250, 1500), (3230, 2400)], 34, 10),  # down the right-hand side
    ([(1400, 40), (1440, 600), (1340, 900), (1520, 1300), (1720, 1650), (1745, 2400)], 28, 12),  # past the fountain
    ([(-100, 1340), (500, 1300), (850, 1380), (1130, 1330), (1330, 1180), (1500, 730), (1560, 520), (1620, 40)],
     34, 8),  # over the lawn and across the square
]


def build_people(rng, clip_s):
    people = []
    lanes = [Lane(pts) for pts, _, _ in LANES]
    lane_pts = np.concatenate([l.samples() for l in lanes])

    def near_lane(X, Y, d):
        return bool(np.min((lane_pts[:, 0] - X) ** 2 + (lane_pts[:, 1] - Y) ** 2) < d * d)

    def add(X, Y, phi, pose="stand"):
        p = new_person(rng, len(people), X, Y, phi, pose)
        people.append(p)
        return p

    def free(X, Y, mind, pts):
        if blocked(X, Y):
            return False
        for q in pts[-500:]:
            if (q[0] - X) ** 2 + (q[1] - Y) ** 2 < mind * mind:
                return False
        return True

    # 1. the audience: packed at the front, thinning out behind (dart throwing on a grid)
    sx0, sy0, sx1, sy1 = STAGE
    scx = (sx0 + sx1) / 2
    depth = 900.0
    grid = {}
    n_aud = 0
    xs = rng.uniform(sx0 - 360, sx1 + 360, 150000)
    ys = rng.uniform(sy1 + 28, sy1 + depth, 150000)
    for X, Y, r1, r2 in zip(xs, ys, rng.random(150000), rng.normal(0, 3, 150000)):
        if n_aud >= 520:
            break
        dy = (Y - sy1) / depth
        dx = abs(X - scx) / ((sx1 - sx0) / 2 + 110 + 160 * dy)
        if dx > 1.0 or r1 > (1.0 - dy) ** 0.7 * (1.0 - dx ** 4) + 0.04:
            continue
        mind = 40 + 50 * dy ** 1.5 + r2
        gx, gy = int(X // 50), int(Y // 50)
        if any((q[0] - X) ** 2 + (q[1] - Y) ** 2 < mind * mind
               for i in (-2, -1, 0, 1, 2) for j in (-2, -1, 0, 1, 2) for q in grid.get((gx + i, gy + j), ())):
            continue
        if blocked(X, Y) or near_lane(X, Y, 90):
            continue
        grid.setdefault((gx, gy), []).append((X, Y))
        n_aud += 1
        add(X, Y, math.atan2(scx - X, (sy0 + sy1) / 2 - Y) + rng.normal(0, 0.35))

    # the band, on the stage, facing the audience
    for X, Y in ((scx, sy1 - 40), (scx - 260, sy1 - 70), (scx + 250, sy1 - 60), (scx - 250, sy0 + 100)):
        add(X, Y, rng.normal(0, 0.3)).z = STAGE_H

    # 2. a queue at the kiosk's hatch, and people about it with their food
    kx0, ky0, kx1, ky1 = KIOSK
    for i in range(8):
        X = (kx0 + kx1) / 2 - 40 - i * 50 + rng.normal(0, 5)
        Y = ky1 + 62 + i * 9 + rng.normal(0, 6)
        add(X, Y, math.pi * 0.62 + rng.normal(0, 0.2))
    placed_k = []
    for _ in range(3000):
        if len(placed_k) >= 10:
            break
        X, Y = rng.uniform(kx0 - 420, kx0 - 60), rng.uniform(ky0 - 250, ky1 - 20)
        if free(X, Y, 60, placed_k) and not near_lane(X, Y, 80):
            placed_k.append((X, Y))
            add(X, Y, rng.uniform(0, 2 * math.pi))

    # 3. on the fountain's rim, facing out, and on the benches, facing the fountain
    fx, fy, fr = FOUNTAIN
    for a in np.linspace(0, 2 * math.pi, 16, endpoint=False) + rng.uniform(0, 0.4):
        if rng.random() < 0.5:
            X, Y = fx + (fr + 20) * math.cos(a), fy + (fr + 20) * math.sin(a)
            add(X, Y, math.atan2(math.cos(a), math.sin(a)), "bench")
    for bx, by, rot in BENCHES:
        for k in (-1, 1):
            if rng.random() < 0.7:
                X, Y = bx + k * 45 * math.cos(rot), by + k * 45 * math.sin(rot)
                add(X, Y, math.atan2(fx - X, fy - Y), "bench")

    # 4. picnickers on the blankets
    for bx, by, rot, _ in BLANKETS:
        for k in range(int(rng.integers(2, 5))):
            a = rng.uniform(0, 2 * math.pi)
            X, Y = bx + 62 * math.cos(a), by + 46 * math.sin(a)
            add(X, Y, math.atan2(bx - X, by - Y) + rng.normal(0, 0.3), "sit")

    def outside_audience(X, Y, m):
        return not (sx0 - 320 - m < X < sx1 + 320 + m and Y < sy1 + depth + m)

    # 5. small groups talking, over the square and the lawn
    centres = []
    for _ in range(20000):
        if len(centres) >= 24:
            break
        X, Y = rng.uniform(500, 3600), rng.uniform(380, 2200)
        if not in_view(X, Y, -60, -40) or blocked(X, Y, 150) or not outside_audience(X, Y, 120):
            continue
        if any(math.hypot(X - a, Y - b) < 300 for a, b in centres) or near_lane(X, Y, 150):
            continue
        centres.append((X, Y))
        n = int(rng.choice([2, 2, 3, 3, 4, 5, 6]))
        r = 34 + 9 * n
        a0 = rng.uniform(0, 2 * math.pi)
        for k in range(n):
            a = a0 + 2 * math.pi * k / n + rng.normal(0, 0.25)
            px, py = X + r * math.cos(a), Y + r * math.sin(a) * 0.9
            if not blocked(px, py):
                add(px, py, math.atan2(X - px, Y - py) + rng.normal(0, 0.35))

    # 6. people on their own
    k = 0
    for _ in range(20000):
        if k >= 36:
            break
        X, Y = rng.uniform(300, 3600), rng.uniform(260, 2250)
        if not in_view(X, Y) or blocked(X, Y, 60) or near_lane(X, Y, 80) or not outside_audience(X, Y, 60):
            continue
        if any((p.X - X) ** 2 + (p.Y - Y) ** 2 < 70 ** 2 for p in people):
            continue
        add(X, Y, rng.uniform(0, 2 * math.pi))
        k += 1

    # some of the people standing shift about a little
    for p in people:
        if p.pose == "stand" and p.z == 0 and rng.random() < 0.10:
            p.sway = float(rng.uniform(1.5, 3.5))

    # 7. walkers (see Scene.place)
    for li, (lane, (_, spread, n)) in enumerate(zip(lanes, LANES)):
        for _ in range(n):
            p = add(0, 0, 0, "walk")
            p.lane = li
            speed = rng.uniform(1.0, 1.5) * U
            p.speed = speed * (1 if rng.random() < 0.5 else -1)
            p.lane_s0 = rng.uniform(0, speed * clip_s)
            p.lane_off = float(np.clip(rng.normal(0, spread), -2.2 * spread, 2.2 * spread))
            p.gait_n = max(1, round(0.95 * clip_s * speed / (1.3 * U)))  # stride cycles per clip
    return people, lanes


# ----------------------------------------------------------------------------------------------
# The scene over time


class Scene:
    """The world picture with everything that stands still baked in, and the people who move."""

    def __init__(self, clip_s=20.0, log=None):
        t0 = time.time()
        say = log or (lambda m: None)
        self.clip_s = clip_s
        rng = np.random.default_rng(SEED)
        ground, shadow = build_ground(rng)
        lit, mask = warp_to_world(ground, shadow)
        del ground, shadow
        draw_stage(lit)
        arr = np.asarray(lit, np.float32)
        hz = np.array([haze_at(y) for y in range(WORLD_H)], np.float32)[:, None, None]
        lit = Image.fromarray(np.clip(arr * (1 - hz) + HAZE * hz, 0, 255).astype(np.uint8))
        say(f"ground: {time.time() - t0:.1f} s")

        # things that stand still, in depth order: (row, sprite, x, y) in world pixels
        statics = []
        for tx, ty, tr, th in TREES:
            if in_view(tx, ty, 400, 600):
                x, y, s = ground_to_world(tx, ty)
                sp, ax, ay = tree_sprite(rng, tr, th, float(s))
                statics.append((float(y), with_haze(sp, y), int(round(x - ax)), int(round(y - ay))))
        sp, ax, ay = kiosk_sprite()
        x, y = project(KIOSK[0], KIOSK[3])
        statics.append((y, with_haze(sp, y), int(round(x - ax)), int(round(y - ay))))
        for lx, ly in LAMPS:
            x, y, s = ground_to_world(lx, ly)
            sp, ax, ay = lamp_sprite(float(s))
            statics.append((float(y), with_haze(sp, y), int(round(x - ax)), int(round(y - ay))))

        self.people, self.lanes = build_people(rng, clip_s)
        self.movers = [p for p in self.people if p.lane is not None or p.sway > 0]
        self.cache = {}
        for p in self.people:
            if p.lane is not None or p.sway > 0:
                continue
            x, y, s = ground_to_world(p.X, p.Y)
            if not (-100 < x < WORLD_W + 100 and -50 < y < WORLD_H + 200):
                continue
            row = float(y)
            x, y = project(p.X, p.Y, p.z)
            sp, ax, ay, shm, sax, say_ = render_person(p, float(s), p.phi, 0.0, haze_at(y))
            xi, yi = int(round(x)), int(round(y))
            mask.paste(255, (xi - int(round(sax)), yi - int(round(say_))), shm)
            statics.append((row, sp, xi - int(round(ax)), yi - int(round(ay))))
        statics.sort(key=lambda it: it[0])
        for _, sp, px, py in statics:
            lit.paste(sp, (px, py), sp)
        # in shade everything is darker (and bluer): the dark picture is what the world looks
        # like all in shade, the base picture has the shadows of everything that stands still
        self.dark = ImageChops.multiply(lit, Image.new("RGB", lit.size, c8(np.array(SHADOW_TINT) * 255)))
        self.base = Image.composite(self.dark, lit, mask)
        del lit, mask
        # for drawing again what stands in front of someone moving: (row, alpha, x, y)
        self.statics = [(y, sp.getchannel("A"), px, py) for y, sp, px, py in statics]
        self.static_rows = np.array([it[0] for it in statics])
        self.static_boxes = np.array([(it[2], it[3], it[2] + it[1].width, it[3] + it[1].height) for it in statics])
        say(f"scene: {len(self.people)} people ({sum(p.lane is not None for p in self.people)} walking, "
            f"{sum(p.sway > 0 for p in self.people)} shifting about), {time.time() - t0:.1f} s")

    def place(self, p, t):
        """[(X, Y, phi, gait)] of a moving person at time t.

        A walker covers speed * clip length per clip; on a lane longer than that, the same
        walker walks it again that far behind, so that the clip loops without a seam."""
        T = self.clip_s
        if p.lane is None:
            w = 2 * math.pi * p.sway_n / T
            return [(p.X + p.sway * math.sin(w * t + p.sway_ph),
                     p.Y + 0.6 * p.sway * math.cos(w * t + 1.3 * p.sway_ph), p.phi, 0.0)]
        lane = self.lanes[p.lane]
        lap = abs(p.speed) * T
        gait = 2 * math.pi * p.gait_n * t / T + p.lane_s0
        out = []
        d = (p.lane_s0 + abs(p.speed) * t) % lap
        while d < lane.length:
            if p.speed < 0:
                pos, dirv = lane.at(lane.length - d)
                dirv = -dirv
            else:
                pos, dirv = lane.at(d)
            out.append((pos[0] - dirv[1] * p.lane_off, pos[1] + dirv[0] * p.lane_off,
                        math.atan2(dirv[0], dirv[1]), gait))
            d += lap
        return out

    def sprite(self, p, y, phi, gait):
        if p.lane is None:
            key = (p.pid,)
            yb, ph = y, 0
        else:  # walkers: by 160-row band, quarter of the stride (feet together twice) and 1/16 turn
            band = int(round(y / 160.0))
            yb = band * 160.0
            ph = int(round((gait % (2 * math.pi)) / (math.pi / 2))) % 4
            ph = 0 if ph == 2 else ph
            q = int(round(phi / (math.pi / 8))) % 16
            key = (p.pid, band, ph, q)
            phi = q * math.pi / 8
        hit = self.cache.get(key)
        if hit is None:
            yc = min(max(yb, 0.0), WORLD_H)
            hit = render_person(p, float(scale_at(yc)), phi, ph * math.pi / 2, haze_at(yc))
            self.cache[key] = hit
        return hit

    def people_at(self, t):
        """Everyone who is in the scene at time t: (person, X, Y)."""
        out = [(p, p.X, p.Y) for p in self.people if p.lane is None and p.sway == 0]
        for p in self.movers:
            out += [(p, q[0], q[1]) for q in self.place(p, t)]
        return out

    def render(self, box, t):
        """The world inside box (x0, y0, x1, y1, integers) at time t."""
        bx0, by0, bx1, by1 = box
        frame = self.base.crop(box)
        items = []  # (row, picture, mask, x, y)
        for p, (X, Y, phi, gait) in ((p, q) for p in self.movers for q in self.place(p, t)):
            x, y, s = ground_to_world(X, Y)
            x, y = float(x), float(y)
            if not (bx0 - 80 < x < bx1 + 80 and by0 - 30 < y < by1 + 200):
                continue
            sp, ax, ay, shm, sax, say = self.sprite(p, y, phi, gait)
            xi, yi = int(round(x)), int(round(y))
            sx, sy = xi - int(round(sax)), yi - int(round(say))
            frame.paste(self.dark.crop((sx, sy, sx + shm.width, sy + shm.height)), (sx - bx0, sy - by0), shm)
            items.append((y, sp, sp, xi - int(round(ax)), yi - int(round(ay))))
        # whatever stands still in front of someone moving is drawn again over them
        again = set()
        sb, sr = self.static_boxes, self.static_rows
        for y, sp, _, px, py in items:
            hit = (sr > y) & (sb[:, 0] < px + sp.width) & (sb[:, 2] > px) & (sb[:, 1] < py + sp.height) & (sb[:, 3] > py)
            again.update(np.nonzero(hit)[0].tolist())
        for i in again:
            y, a, px, py = self.statics[i]
            items.append((y, self.base.crop((px, py, px + a.width, py + a.height)), a, px, py))
        items.sort(key=lambda it: it[0])
        for _, im, m, px, py in items:
            frame.paste(im, (px - bx0, py - by0), m)
        return frame

    def count_in(self, t, win):
        """People whose heads are inside the window (x, y, w, h): a frame's true count."""
        x0, y0, w, h = win
        n = 0
        for p, X, Y in self.people_at(t):
            hx, hy = project(X, Y, p.z + BODY[p.pose][2] * p.hf)
            n += x0 <= hx < x0 + w and y0 <= hy < y0 + h
        return n


# ----------------------------------------------------------------------------------------------
# The drone's flight: a closed Catmull-Rom spline through key views (centre x, centre y, width
# of the view, in world pixels) so that the end meets the start, plus a little wind shake.

KEYS = [
    (1150, 760, 2200),  # wide: the whole square
    (1550, 640, 1800),  # drifting right, towards the stage
    (1800, 600, 1480),  # close on the audience
    (1700, 760, 1560),  # along the back of the audience
    (1150, 860, 1640),  # over the fountain and the lawn
    (950, 800, 2000),   # pulling back
]


def camera(t, T):
    n = len(KEYS)
    u = (t / T) % 1.0 * n
    i = int(u)
    f = u - i
    P0, P1, P2, P3 = (np.array(KEYS[(i + k) % n], np.float64) for k in (-1, 0, 1, 2))
    c = 0.5 * (2 * P1 + (P2 - P0) * f + (2 * P0 - 5 * P1 + 4 * P2 - P3) * f * f
               + (3 * P1 - P0 - 3 * P2 + P3) * f * f * f)
    cx, cy, w = c
    a = 2 * math.pi * t / T
    cx += 2.2 * math.sin(7 * a + 0.3) + 1.1 * math.sin(23 * a + 1.1)
    cy += 1.8 * math.sin(9 * a + 2.0) + 0.9 * math.sin(29 * a + 0.4)
    w = min(max(w, 1280.0), WORLD_W - 8.0)
    h = w * OUT_H / OUT_W
    cx = min(max(cx, w / 2 + 2), WORLD_W - w / 2 - 2)
    cy = min(max(cy, h / 2 + 2), WORLD_H - h / 2 - 2)
    return cx - w / 2, cy - h / 2, w, h


def frame_at(scene, t):
    x0, y0, w, h = camera(t, scene.clip_s)
    box = (max(0, math.floor(x0) - 2), max(0, math.floor(y0) - 2),
           min(WORLD_W, math.ceil(x0 + w) + 2), min(WORLD_H, math.ceil(y0 + h) + 2))
    img = scene.render(box, t)
    out = img.resize((OUT_W, OUT_H), Image.BOX,
                     box=(x0 - box[0], y0 - box[1], x0 - box[0] + w, y0 - box[1] + h))
    return out, (x0, y0, w, h)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("still", help="the whole scene at t=0 as a picture")
    a.add_argument("out")
    a = sub.add_parser("frames", help="frames of the clip as PNG")
    a.add_argument("dir")
    a.add_argument("--seconds", type=float, default=20.0, help="the clip's length")
    a.add_argument("--at", type=float, nargs="+", help="times in seconds (default: every 4 s)")
    a = sub.add_parser("raw", help="the clip as raw RGB24 frames on stdout")
    a.add_argument("--seconds", type=float, default=20.0, help="the clip's length")
    a.add_argument("--counts", help="write the number of people in view in each frame to this CSV")
    args = ap.parse_args()

    def log(m):
        print(f"make_crowd: {m}", file=sys.stderr, flush=True)

    if args.cmd == "still":
        scene = Scene(20.0, log)
        scene.render((0, 0, WORLD_W, WORLD_H), 0.0).save(args.out)
        log(f"wrote {args.out}: {scene.count_in(0.0, (0, 0, WORLD_W, WORLD_H))} people in the picture")
        return
    if args.cmd == "raw" and sys.stdout.isatty():
        sys.exit("make_crowd: raw frames go to a pipe, not a terminal (see make_clip.sh)")
    scene = Scene(args.seconds, log)
    if args.cmd == "frames":
        os.makedirs(args.dir, exist_ok=True)
        for t in args.at or [i * 4.0 for i in range(int(args.seconds // 4) + 1)]:
            img, win = frame_at(scene, t)
            path = os.path.join(args.dir, f"frame_{t:05.2f}s.png")
            img.save(path)
            log(f"wrote {path}: {scene.count_in(t, win)} people in view")
        return
    n = int(round(args.seconds * FPS))
    out = sys.stdout.buffer
    counts = open(args.counts, "w") if args.counts else None
    if counts:
        counts.write("frame,time_s,people_in_view\n")
    t0 = time.time()
    for i in range(n):
        t = i / FPS
        img, win = frame_at(scene, t)
        try:
            out.write(img.tobytes())
        except BrokenPipeError:
            log("the encoder went away")
            sys.exit(1)
        if counts:
            counts.write(f"{i},{t:.3f},{scene.count_in(t, win)}\n")
        if (i + 1) % (FPS * 5) == 0:
            log(f"{i + 1}/{n} frames, {time.time() - t0:.1f} s")
    out.flush()
    if counts:
        counts.close()


if __name__ == "__main__":
    main()
