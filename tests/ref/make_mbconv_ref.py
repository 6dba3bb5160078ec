#!/usr/bin/python3
"""PyTorch reference tensors for the MBConv layer (src/nn/mbconv.h), read by
tests/unit/test_torch_ref.c.

Run by hand from the repository root with Debian's python (python3-torch, python3-h5py):

    /usr/bin/python3 tests/ref/make_mbconv_ref.py

It writes tests/ref/mbconv_ref.h5 with one group per case (/s2, /res). Every input (x, dy,
weights, running stats) is drawn in float64 and rounded to float32 first, so the C test
feeds exactly the values the reference used; the reference itself is computed in float64
and stored as float32.

Per group:
  attrs      cin, cout, k, expand, stride (int32), se_ratio (float64)
  x, dy      input [N,cin,H,W] and upstream gradient [N,cout,Ho,Wo]
  param/<p>  every parameter, by our names (state_dict order; SE's under "se.")
  init/<bn>.running_mean|running_var   running stats before the training forward (0 / 1)
  y_train    output of the training-mode forward (batch statistics)
  dx, grad/<p>   gradients of sum(y_train * dy)
  running_after/<bn>.running_mean|running_var   running stats after that forward
                 (momentum 0.1, running_var from the unbiased batch variance)
  running_eval/<bn>.running_mean|running_var    random running stats for the eval forward
  y_eval     output of the eval-mode forward with running_eval
"""
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mbconv_ref.h5")
BNS = ("bn1", "bn2", "bn3")


def swish(x):
    return x * torch.sigmoid(x)


class SE(nn.Module):
    def __init__(self, mid, r):
        super().__init__()
        self.conv_reduce = nn.Conv2d(mid, r, 1, bias=True)
        self.conv_expand = nn.Conv2d(r, mid, 1, bias=True)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        s = swish(self.conv_reduce(s))
        return x * torch.sigmoid(self.conv_expand(s))


class MBConv(nn.Module):
    """As src/nn/mbconv.c: expand (when e != 1) -> dw -> SE -> project (+ x)."""

    def __init__(self, cin, cout, k, expand, stride, se_ratio):
        super().__init__()
        mid = cin * expand
        assert expand != 1, "both cases here have an expand conv"
        self.has_res = stride == 1 and cin == cout
        self.conv_pw = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid, eps=1e-5, momentum=0.1)
        self.conv_dw = nn.Conv2d(mid, mid, k, stride=stride, padding=k // 2, groups=mid,
                                 bias=False)
        self.bn2 = nn.BatchNorm2d(mid, eps=1e-5, momentum=0.1)
        self.se = SE(mid, max(1, int(se_ratio * cin))) if se_ratio > 0 else None
        self.conv_pwl = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x):
        h = swish(self.bn1(self.conv_pw(x)))
        h = swish(self.bn2(self.conv_dw(h)))
        if self.se is not None:
            h = self.se(h)
        y = self.bn3(self.conv_pwl(h))
        return y + x if self.has_res else y


def f32(t):
    """Round to float32-representable values (kept as float64)."""
    return t.float().double()


def randomise(m, g):
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".weight") and p.dim() == 4:  # conv: N(0, 2 / fan_out)
                fan_out = p.shape[0] * p.shape[2] * p.shape[3] // (
                    p.shape[0] if name == "conv_dw.weight" else 1)
                std = (2.0 / fan_out) ** 0.5
                p.copy_(f32(torch.randn(p.shape, generator=g) * std))
            elif name.startswith("bn") and name.endswith(".weight"):  # gamma
                p.copy_(f32(0.5 + torch.rand(p.shape, generator=g)))
            else:  # BN beta, SE biases
                p.copy_(f32(0.4 * torch.randn(p.shape, generator=g)))


def new_group(parent, name):
    """A group without modification times, so that regenerating gives the same bytes."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl)
    return parent[name]


def open_new(path):
    """Like h5py.File(path, "w", libver=("v108", "v110")), with no root-group times."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V110)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def make_case(f, name, cfg, xshape, seed):
    g = torch.Generator().manual_seed(seed)
    m = MBConv(**cfg)
    randomise(m, g)
    grp = new_group(f, name)
    for sub in ("param", "init", "grad", "running_after", "running_eval"):
        new_group(grp, sub)
    for key in ("cin", "cout", "k", "expand", "stride"):
        grp.attrs[key] = np.int32(cfg[key])
    grp.attrs["se_ratio"] = np.float64(cfg["se_ratio"])

    def put(path, t):
        grp.create_dataset(path, data=np32(t), track_times=False)

    for pname, p in m.named_parameters():
        put("param/" + pname, p)
    for bn in BNS:
        put(f"init/{bn}.running_mean", getattr(m, bn).running_mean)
        put(f"init/{bn}.running_var", getattr(m, bn).running_var)

    # training mode: batch statistics, running stats move by momentum 0.1
    x = f32(torch.randn(xshape, generator=g)).requires_grad_(True)
    m.train()
    y = m(x)
    dy = f32(torch.randn(y.shape, generator=g))
    y.backward(dy)
    put("x", x)
    put("dy", dy)
    put("y_train", y)
    put("dx", x.grad)
    for pname, p in m.named_parameters():
        put("grad/" + pname, p.grad)
    for bn in BNS:
        put(f"running_after/{bn}.running_mean", getattr(m, bn).running_mean)
        put(f"running_after/{bn}.running_var", getattr(m, bn).running_var)

    # eval mode with random running statistics
    with torch.no_grad():
        for bn in BNS:
            b = getattr(m, bn)
            b.running_mean.copy_(f32(0.3 * torch.randn(b.running_mean.shape, generator=g)))
            b.running_var.copy_(f32(0.5 + 1.5 * torch.rand(b.running_var.shape, generator=g)))
            put(f"running_eval/{bn}.running_mean", b.running_mean)
            put(f"running_eval/{bn}.running_var", b.running_var)
        m.eval()
        put("y_eval", m(x))


def main():
    with open_new(OUT) as f:
        f.attrs["generator"] = "tests/ref/make_mbconv_ref.py, torch " + torch.__version__
        make_case(f, "s2", dict(cin=8, cout=16, k=5, expand=6, stride=2, se_ratio=0.25),
                  (2, 8, 10, 10), seed=1234)
        make_case(f, "res", dict(cin=12, cout=12, k=3, expand=3, stride=1, se_ratio=0.25),
                  (3, 12, 7, 7), seed=5678)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
