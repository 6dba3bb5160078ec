#!/usr/bin/env python3
"""Views reference (tests/ref/views_ref.json) for tests/unit/test_views.c.

torchvision's F.resized_crop(img, top, left, height, width, size, antialias=False) (crop, then
bilinear resize with align_corners=False, no antialias) of small random float images on fixed
boxes: upscaling, downscaling, non-square boxes and outputs, the whole image, one pixel. Also
RandomResizedCrop.get_params where all 10 attempts must fail (scale 1 with a ratio range that
excludes the image's), so the central fallback box is deterministic, including a round-half case.
Seeded, no timestamps: each run writes the same file byte for byte.
Run with Debian's python and torchvision: /usr/bin/python3 tests/ref/make_views_ref.py
"""
import json

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F

rng = np.random.default_rng(20)


def image(c, h, w):
    # 4 decimals keep the file small; the C side parses the same decimals to the same floats
    return rng.normal(size=(c, h, w)).round(4)


def num(v):
    return float("%.9g" % v)  # 9 digits: the same float32 when read back


images = {"gray12": image(1, 12, 12), "rgb9x7": image(3, 9, 7)}
boxes = [  # image, top, left, height, width, out height, out width
    ("gray12", 0, 0, 12, 12, 12, 12),  # identity
    ("gray12", 2, 3, 5, 7, 12, 12),  # non-square box, upscaled
    ("gray12", 0, 0, 12, 12, 5, 5),  # downscaled
    ("gray12", 1, 2, 10, 6, 4, 9),  # non-square output
    ("gray12", 4, 7, 1, 1, 3, 3),  # one pixel
    ("gray12", 5, 0, 7, 12, 16, 16),  # bottom edge, upscaled
    ("rgb9x7", 0, 0, 9, 7, 13, 11),  # whole image, upscaled
    ("rgb9x7", 1, 1, 7, 5, 3, 3),  # downscaled
    ("rgb9x7", 2, 0, 4, 7, 8, 5),  # mixed: rows up, columns down
]
cases = []
for name, top, left, h, w, oh, ow in boxes:
    x = torch.from_numpy(images[name].astype(np.float32))
    y = F.resized_crop(x, top, left, h, w, [oh, ow], antialias=False)
    cases.append({"image": name, "box": [top, left, h, w], "out": [oh, ow],
                  "y": [num(v) for v in y.flatten().tolist()]})

fallbacks = []
for h, w, scale, ratio in [(12, 12, (1.0, 1.0), (2.0, 3.0)),  # image wider than allowed
                           (12, 12, (1.0, 1.0), (0.25, 0.5)),  # image taller than allowed
                           (5, 5, (1.0, 1.0), (2.0, 3.0)),  # 5 / 2 = 2.5 rounds half to even
                           (9, 7, (1.0, 1.0), (1.5, 2.0))]:
    torch.manual_seed(0)
    box = T.RandomResizedCrop.get_params(torch.zeros(1, h, w), list(scale), list(ratio))
    fallbacks.append({"hw": [h, w], "scale": list(scale), "ratio": list(ratio), "box": list(box)})

ref = {
    "images": {k: {"shape": list(v.shape), "x": v.flatten().tolist()}
               for k, v in images.items()},
    "resized_crop": cases,
    "fallback": fallbacks,
}
with open("tests/ref/views_ref.json", "w") as f:
    f.write("{\n")
    parts = []
    for k, v in ref.items():
        rows = v.items() if isinstance(v, dict) else enumerate(v)
        body = ",\n".join(("  " + json.dumps(str(i)) + ": " if isinstance(v, dict) else "  ")
                          + json.dumps(r) for i, r in rows)
        o, c = ("{", "}") if isinstance(v, dict) else ("[", "]")
        parts.append(" " + json.dumps(k) + ": " + o + "\n" + body + "\n " + c)
    f.write(",\n".join(parts) + "\n}\n")
json.load(open("tests/ref/views_ref.json"))
