"""Bayesian loss (Ma, Wei, Hong and Gong, "Bayesian Loss for Crowd Count Estimation with Point
Supervision", ICCV 2019), with its background term ("BL+"): supervision from the annotated points
themselves, no hand-made density maps.

Each cell m of the density map D is shared among the people n near it by the posterior

    p(n | m) = exp(-|c_m - z_n|^2 / 2 sigma^2) / sum over n' and the background of the same,

and each person's expected count, E[c_n] = sum_m p(n | m) D_m, should be 1. The background is one
more "person" per cell whose squared distance is bg^4 / (squared distance to the nearest person):
far from everyone it takes the cell's density, whose expected count should be 0. `bg` is the
distance from a person (in analysis pixels) at which a cell becomes more background than person.

`valid` restricts the loss to the cells that were labelled (the tapped box of a partially annotated
frame): cells outside it are neither person nor background, so the model is not taught that the
people nobody tapped are background.
"""

import torch

STRIDE = 8  # analysis pixels per density cell


def bayesian_loss(density, points, valid=None, sigma=8.0, bg=16.0):
    """The loss of one density map `density` [h, w] against `points` [N, 2] (x, y) in analysis
    pixels of the map's own frame; `valid` [h, w] bool marks the labelled cells (None: all)."""
    h, w = density.shape
    d = density.reshape(-1)
    if valid is not None:
        keep = valid.reshape(-1)
        d = d * keep
    if points.shape[0] == 0:
        return d.sum().abs() * 2
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * STRIDE
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * STRIDE
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([cx.reshape(-1), cy.reshape(-1)], 1)  # [M, 2]
    dist = torch.cdist(points, centres).pow(2)  # [N, M]
    nearest = dist.min(0, keepdim=True).values
    background = (bg**4) / (nearest + 1e-5)
    logits = -torch.cat([dist, background], 0) / (2.0 * sigma**2)
    prob = torch.softmax(logits, 0)  # [N + 1, M]
    expected = prob @ d  # [N + 1]
    target = torch.ones_like(expected)
    target[-1] = 0.0
    # The count term (as DM-Count pairs with its transport loss): the labelled cells' total should
    # be the number of people in them. Without it the loss is also met by shrinking the whole map,
    # which a model that starts with density on clutter rather than on people does first.
    count = (d.sum() - points.shape[0]).abs()
    return (expected - target).abs().sum() + count
