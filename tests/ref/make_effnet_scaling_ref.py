#!/usr/bin/python3
"""torchvision reference for EfficientNet compound scaling (src/nas/scale.h, `dna scale`),
read by tests/unit/test_scale.c and the smoke test of `dna scale` in tests/run.sh.

Run by hand from the repository root with Debian's python (python3-torchvision, which pulls
python3-torch):

    /usr/bin/python3 tests/ref/make_effnet_scaling_ref.py

It writes two files, nothing in them typed by hand:

tests/ref/effnet_scaling_ref.json
    For torchvision's efficientnet_b0 .. efficientnet_b7: the name, the width and depth
    coefficients torchvision builds it with (recorded by wrapping its _efficientnet_conf), the
    resolution (the crop_size of its IMAGENET1K_V1 weights' eval transform; B2's is 288, the
    paper's 260) and sum(p.numel() for p in model.parameters()), checked against the
    num_params torchvision records for those weights.

tests/ref/efficientnet_b0.arch.json
    torchvision's B0 as a dnafam arch.json (doc/formats.md), read off the model's modules:
    stem width and stride, one block per stage (features[1..7]) with its width, stride and
    each layer's kernel and expansion, the SE ratio, head width and classes.

Models are built with weights=None (nothing is downloaded); the parameter count does not
depend on the random init. No timestamps: each run gives the same bytes.
"""
import json
import os

import torch.nn as nn
import torchvision
import torchvision.models.efficientnet as tve

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "effnet_scaling_ref.json")
B0 = os.path.join(HERE, "efficientnet_b0.arch.json")
GENERATOR = f"tests/ref/make_effnet_scaling_ref.py, torchvision {torchvision.__version__}"


def build(n):
    """efficientnet_b<n>(weights=None) and the (width, depth) it was configured with."""
    seen = {}
    conf = tve._efficientnet_conf

    def spy(arch, **kwargs):
        seen.update(kwargs)
        return conf(arch, **kwargs)

    tve._efficientnet_conf = spy
    try:
        model = getattr(tve, f"efficientnet_b{n}")(weights=None)
    finally:
        tve._efficientnet_conf = conf
    return model, seen["width_mult"], seen["depth_mult"]


def weights(n):
    """torchvision's record of B<n>'s ImageNet weights (nothing is downloaded)."""
    return getattr(tve, f"EfficientNet_B{n}_Weights").IMAGENET1K_V1


def conv(seq):
    """The Conv2d of a Conv2dNormActivation."""
    c = seq[0]
    assert isinstance(c, nn.Conv2d), c
    return c


def layer(mb):
    """(input width, kernel, stride, expansion, output width, SE ratio) of one MBConv."""
    parts = list(mb.block)
    se = [p for p in parts if isinstance(p, tve.SqueezeExcitation)]
    convs = [conv(p) for p in parts if not isinstance(p, tve.SqueezeExcitation)]
    assert len(se) == 1 and len(convs) in (2, 3), mb
    dw, project = convs[-2], convs[-1]
    cin = convs[0].in_channels
    assert dw.groups == dw.in_channels == dw.out_channels and dw.out_channels % cin == 0, mb
    k, s = dw.kernel_size[0], dw.stride[0]
    ratio = se[0].fc1.out_channels / cin
    return cin, k, s, dw.out_channels // cin, project.out_channels, ratio


def arch_json(model, image_size):
    """B0 as doc/formats.md's arch.json (key order as src/nas/arch.c writes it)."""
    stem = conv(model.features[0])
    head = conv(model.features[-1])
    fc = model.classifier[-1]
    ratios = set()
    blocks = []
    for stage in model.features[1:-1]:
        layers = [layer(mb) for mb in stage]
        ratios.update(r for *_, r in layers)
        widths = {w for *_, w, _ in layers}
        assert len(widths) == 1 and all(s == 1 for _, _, s, *_ in layers[1:]), stage
        blocks.append({"cell": 1, "path": 0, "width": widths.pop(), "depth": len(layers),
                       "stride": layers[0][2],
                       "layers": [{"kernel": k, "expansion": e} for _, k, _, e, _, _ in layers]})
    assert len(ratios) == 1, ratios
    return {"format": "dnafam-arch", "version": 1, "in_channels": stem.in_channels,
            "image_size": image_size, "classes": fc.out_features, "stem": stem.out_channels,
            "stem_stride": stem.stride[0], "head": head.out_channels, "se_ratio": ratios.pop(),
            "blocks": blocks,
            "provenance": {"generator": GENERATOR, "source": "torchvision efficientnet_b0"}}


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    models = []
    for n in range(8):
        model, width, depth = build(n)
        params = sum(p.numel() for p in model.parameters())
        assert params == weights(n).meta["num_params"], (n, params)  # torchvision's own figure
        hw = weights(n).transforms.keywords["crop_size"]
        models.append({"name": f"efficientnet_b{n}", "width": width, "depth": depth,
                       "resolution": hw, "params": params})
        print(f"efficientnet_b{n}: width {width} depth {depth} -> {params} parameters")
        if n == 0:
            write(B0, arch_json(model, hw))
    write(REF, {"generator": GENERATOR, "models": models})


if __name__ == "__main__":
    main()
