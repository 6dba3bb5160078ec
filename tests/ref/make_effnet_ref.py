#!/usr/bin/python3
"""torchvision reference for the whole EfficientNet teacher (src/nn/effnet.h), read by
tests/unit/test_effnet.c: a down-scaled torchvision EfficientNet written as a teacher file by
tools/export_torchvision_efficientnet.py, plus one input batch and torchvision's outputs.

Run by hand from the repository root with Debian's python (python3-torch, python3-torchvision,
python3-h5py):

    /usr/bin/python3 tests/ref/make_effnet_ref.py

It writes tests/ref/effnet_ref.h5: the teacher layout at the root (what teacher_load reads),
and under /ref (which the loader ignores):
  input          [2,3,32,32] batch, float32
  block<k>       torchvision's feature map at block boundary k = 1..3 (output of
                 features[block_end[k-1] + 1]), eval mode
  logits         [2,12] eval-mode logits
  attrs          block_end (int64[3]), generator (str)

The network: stem 8 (stride 2), stages e1 k3 s1 c8 (residual, no expansion conv), e4 k5 s2
c16 x2, e3 k3 s2 c24 x2, e6 k5 s1 c32; head 48, 12 classes, SE everywhere, BN eps 1e-3 and
momentum 0.05 (not the defaults, so that carrying them is tested), dropout 0.25. Blocks end
at stages 0, 2 and 3, so one block spans two stages. Weights are torchvision's init with
random BN affine parameters and SE/classifier biases; running statistics come from a
train-mode pass over a calibration batch, then are scaled randomly, so the eval forward uses
statistics that are neither 0/1 nor the test batch's. The reference forward runs in float64
on those float32 values and is stored as float32. Seeded, no timestamps: each run gives the
same file byte for byte.
"""
import functools
import importlib.util
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "effnet_ref.h5")
EXPORTER = os.path.join(HERE, "..", "..", "tools", "export_torchvision_efficientnet.py")
BLOCK_END = [0, 2, 3]


def load_exporter():
    spec = importlib.util.spec_from_file_location("export_torchvision_efficientnet", EXPORTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(g):
    setting = [  # expand, kernel, stride, in, out, layers (widths multiples of 8: kept as is)
        MBConvConfig(1, 3, 1, 8, 8, 1),
        MBConvConfig(4, 5, 2, 8, 16, 2),
        MBConvConfig(3, 3, 2, 16, 24, 2),
        MBConvConfig(6, 5, 1, 24, 32, 1),
    ]
    m = EfficientNet(setting, dropout=0.25, num_classes=12, last_channel=48,
                     norm_layer=functools.partial(nn.BatchNorm2d, eps=1e-3, momentum=0.05))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(0.5 + torch.rand(mod.weight.shape, generator=g))
                mod.bias.copy_(0.3 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.bias is not None:
                mod.bias.copy_(0.3 * torch.randn(mod.bias.shape, generator=g))
        # running stats := one calibration batch's (momentum 1), then scaled away from it
        bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
        for b in bns:
            b.momentum = 1.0
        m.train()
        m(torch.randn((8, 3, 32, 32), generator=g))
        for b in bns:
            b.momentum = 0.05
            b.running_mean.add_(0.1 * torch.randn(b.running_mean.shape, generator=g))
            b.running_var.mul_(0.8 + 0.4 * torch.rand(b.running_var.shape, generator=g))
    return m.eval()


def main():
    torch.manual_seed(0)  # torchvision's init draws from the global generator
    g = torch.Generator().manual_seed(20240611)
    model = build(g)
    x = torch.randn((2, 3, 32, 32), generator=g).float()

    ex = load_exporter()
    arch, state = ex.describe(model, BLOCK_END)
    assert arch["stages"][0].startswith("ir_r1_k3_s1_e1_"), arch["stages"]

    ref = model.double()
    outs = {}
    hooks = [ref.features[b + 1].register_forward_hook(
        lambda mod, inp, out, k=k: outs.__setitem__(k, out.detach().clone()))
        for k, b in enumerate(BLOCK_END)]
    with torch.no_grad():
        logits = ref(x.double())
    for h in hooks:
        h.remove()

    with ex.open_new(OUT) as f:
        ex.write_teacher(f, arch, state, in_hw=32, mean=ex.IMAGENET_MEAN, std=ex.IMAGENET_STD,
                         seed=0, git_rev="fixture", version="tests/ref/make_effnet_ref.py")
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)  # no modification time: reproducible bytes
        h5py.h5g.create(f.id, b"ref", gcpl=gcpl)
        r = f["ref"]
        r.attrs["generator"] = np.bytes_(f"tests/ref/make_effnet_ref.py, torch {torch.__version__}"
                                         .encode())
        r.attrs["block_end"] = np.asarray(BLOCK_END, dtype=np.int64)

        def put(name, t):
            r.create_dataset(name, data=t.detach().numpy().astype(np.float32), track_times=False)

        put("input", x)
        for k in range(len(BLOCK_END)):
            put(f"block{k + 1}", outs[k])
        put("logits", logits)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
