"""The analysis scale calibration chooses from tapped people: the daemon's rule
(daemon/src/analyse/calibrate.rs), for the Python tools that train or replay at that scale.

No PyTorch here: finetune.py and the research replays in research/ import it alike.
"""

import math

import numpy as np

# Must equal daemon/src/analyse/calibrate.rs (models/test_models.py checks it).
SPACING_TARGET_PX = 9.6
SCALE_MIN, SCALE_MAX, SCALE_STEP = 0.1, 2.0, 1.0 / 32.0


def spacing(points):
    """Median distance from each point to its nearest other point."""
    if len(points) < 2:
        return float("nan")
    p = np.asarray(points, np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


def scale_for(spacing_px):
    """The analysis scale that puts neighbouring people SPACING_TARGET_PX apart."""
    if not math.isfinite(spacing_px) or spacing_px <= 0:
        return SCALE_MAX
    s = min(max(SPACING_TARGET_PX / spacing_px, SCALE_MIN), SCALE_MAX)
    return min(max(round(s / SCALE_STEP) * SCALE_STEP, SCALE_MIN), SCALE_MAX)
