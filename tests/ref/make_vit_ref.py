#!/usr/bin/python3
"""PyTorch reference tensors for the pre-norm transformer block (src/nn/tfblock.h) and the
ViT stage (src/nn/vitstage.h), read by tests/unit/test_vit_ref.c.

Run by hand from the repository root with Debian's python (python3-torch, python3-h5py):

    /usr/bin/python3 tests/ref/make_vit_ref.py

It writes tests/ref/vit_ref.h5 with one group per case. The block is timm's Block
(LayerNorm eps 1e-6 -> Attention with one qkv Linear -> proj -> + x, then LayerNorm -> fc1
-> GELU (erf) -> fc2 -> + that), written out here because Debian has no timm; the script
also checks its attention against torch.nn.MultiheadAttention given the same in_proj and
out_proj weights, so the q | k | v layout and the head split are PyTorch's own. Inputs are
drawn in float64 and rounded to float32 first; the reference is computed in float64 and
stored as float32.

Groups block_<case> (a transformer block) and stage_<case> (a ViT stage: embedding conv
without bias -> tokens + pos_embed -> blocks -> LayerNorm -> Linear -> map):
  attrs        dim, heads, hidden (block); cin, in_hw, cout, out_hw, dim, hidden, depth,
               head_dim (stage); params (sum of numel), macs (per image, counted by hooks)
  x, dy        the input (tokens [N, T, dim] or a map [N, cin, H, W]), the upstream gradient
  param/<p>    every parameter by its name (timm's inside a block: norm1.weight, ...)
  y            the output
  dx, grad/<p> gradients of sum(y * dy)
Groups count_<name>: the attributes only, for stages of DeiT-Tiny's and DeiT-Small's shapes
at 224 (patch 16, 12 blocks, heads of 64, MLP ratio 4).

MACs are counted by forward hooks: a Conv2d or Linear adds its output elements times its
fan-in, a LayerNorm its elements (the affine), the attention core 2 T^2 dim per image (q k^T
and the weighted sum of v); softmax, GELU and the adds are not multiply-adds.
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "vit_ref.h5")
EXPORT_OUT = os.path.join(HERE, "vit_export_ref.h5")
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import vit_torch  # noqa: E402  (tools/vit_torch.py: the export this fixture tests)


MACS = [0]  # the running count of the forward being measured


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5
        y = (a.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
        MACS[0] += 2 * B * T * T * D
        return self.proj(y)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Stage(nn.Module):
    """As src/nn/vitstage.c."""

    def __init__(self, cin, in_hw, cout, out_hw, dim, hidden, depth, head_dim):
        super().__init__()
        s, self.cout, self.out_hw = in_hw // out_hw, cout, out_hw
        self.embed = nn.Conv2d(cin, dim, s, s, bias=False)
        self.pos_embed = nn.Parameter(torch.zeros(1, out_hw * out_hw, dim))
        self.blocks = nn.ModuleList(Block(dim, dim // head_dim, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, cout)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        for b in self.blocks:
            t = b(t)
        u = self.out(self.norm(t))
        return u.transpose(1, 2).reshape(x.shape[0], self.cout, self.out_hw, self.out_hw)


def count_hook(m, inp, out):
    if isinstance(m, nn.Conv2d):
        MACS[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
    elif isinstance(m, nn.Linear):
        MACS[0] += out.numel() * m.in_features
    elif isinstance(m, nn.LayerNorm):
        MACS[0] += out.numel()


def costs(model, x):
    """Parameters, and multiply-adds per image of a forward of x."""
    hooks = [m.register_forward_hook(count_hook) for m in model.modules()]
    MACS[0] = 0
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sum(p.numel() for p in model.parameters()), MACS[0] // x.shape[0]


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


def f32(t):
    return torch.from_numpy(t.numpy().astype(np.float32).astype(np.float64))


def check_layout(block, x):
    """Our attention equals torch.nn.MultiheadAttention with the same weights."""
    D = x.shape[-1]
    mha = nn.MultiheadAttention(D, block.attn.heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(block.attn.qkv.weight)
        mha.in_proj_bias.copy_(block.attn.qkv.bias)
        mha.out_proj.weight.copy_(block.attn.proj.weight)
        mha.out_proj.bias.copy_(block.attn.proj.bias)
        n = block.norm1(x)
        want = mha(n, n, n, need_weights=False)[0]
        got = block.attn(n)
    assert torch.allclose(got, want, atol=1e-12, rtol=1e-10), (got - want).abs().max()


def randomize(model, g):
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm1.weight") or pname.endswith("norm2.weight") or pname == "norm.weight":
                v = 0.5 + torch.rand(p.shape, generator=g)
            elif pname.endswith("bias") or pname == "pos_embed":
                v = 0.2 * torch.randn(p.shape, generator=g)
            else:  # 0.5 / sqrt(fan-in): attention far from uniform
                v = 0.5 / (p[0].numel()) ** 0.5 * torch.randn(p.shape, generator=g)
            p.copy_(f32(v))


def write(f, name, model, attrs, x, dy, g):
    """Forward, backward of sum(y dy), and everything the C test reads."""
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y * dy).sum().backward()
    params, macs = costs(model, x.detach()[:1])
    grp = new_group(f, name)
    for k, v in list(attrs.items()) + [("params", params), ("macs", macs)]:
        grp.attrs.create(k, v, dtype=np.int64)
    for k, v in (("x", x), ("dy", dy), ("y", y), ("dx", x.grad)):
        grp.create_dataset(k, data=v.detach().numpy().astype(np.float32), track_times=False)
    params, grads = new_group(grp, "param"), new_group(grp, "grad")
    for pname, p in model.named_parameters():
        params.create_dataset(pname, data=p.detach().numpy().astype(np.float32), track_times=False)
        grads.create_dataset(pname, data=p.grad.numpy().astype(np.float32), track_times=False)


def block_case(f, name, N, T, dim, heads, hidden, seed):
    g = torch.Generator().manual_seed(seed)
    block = Block(dim, heads, hidden)
    randomize(block, g)
    x = f32(1.5 * torch.randn(N, T, dim, generator=g))
    dy = f32(torch.randn(N, T, dim, generator=g))
    check_layout(block, x)
    write(f, "block_" + name, block, dict(dim=dim, heads=heads, hidden=hidden), x, dy, g)


STAGE_KEYS = ("cin", "in_hw", "cout", "out_hw", "dim", "hidden", "depth", "head_dim")


def stage_case(f, name, N, cfg, seed):
    g = torch.Generator().manual_seed(seed)
    stage = Stage(*(cfg[k] for k in STAGE_KEYS))
    randomize(stage, g)
    x = f32(1.5 * torch.randn(N, cfg["cin"], cfg["in_hw"], cfg["in_hw"], generator=g))
    dy = f32(torch.randn(N, cfg["cout"], cfg["out_hw"], cfg["out_hw"], generator=g))
    write(f, "stage_" + name, stage, cfg, x, dy, g)


def count_case(f, name, cfg):
    stage = Stage(*(cfg[k] for k in STAGE_KEYS))
    params, macs = costs(stage, torch.zeros(1, cfg["cin"], cfg["in_hw"], cfg["in_hw"]))
    grp = new_group(f, "count_" + name)
    for k, v in list(cfg.items()) + [("params", params), ("macs", macs)]:
        grp.attrs.create(k, v, dtype=np.int64)


# A two-block ViT as arch.json describes it (the second block merges 2x2), built by
# tools/vit_torch.py with random weights and BN statistics, written in dna's retrain.h5
# layout (the weights by name at the root), with an input and the module's eval-mode logits
# (float64) under /ref. The C test builds the network from the arch, reads the weights and
# must give the same logits: the export and dna compute one network.
EXPORT_ARCH = {
    "format": "dnafam-arch", "version": 1, "kind": "vit", "in_channels": 1, "image_size": 16,
    "classes": 5, "head": 12,
    "blocks": [
        {"cell": 1, "path": 0, "width": 16, "depth": 2, "stride": 4, "mlp_hidden": 32,
         "head_dim": 8, "in_channels": 1, "in_size": 16, "out_channels": 6, "out_size": 4},
        {"cell": 1, "path": 0, "width": 8, "depth": 1, "stride": 2, "mlp_hidden": 24,
         "head_dim": 4, "in_channels": 6, "in_size": 4, "out_channels": 10, "out_size": 2},
    ],
}


def export_case():
    g = torch.Generator().manual_seed(6)
    model = vit_torch.build(EXPORT_ARCH).eval()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                v = 0.5 + torch.rand(t.shape, generator=g)
            elif "norm" in name and name.endswith("weight") or name == "bn2.weight":
                v = 0.5 + torch.rand(t.shape, generator=g)
            elif t.dim() == 1 or name.endswith("pos_embed") or name.endswith("running_mean"):
                v = 0.2 * torch.randn(t.shape, generator=g)
            else:
                v = 0.5 / t[0].numel() ** 0.5 * torch.randn(t.shape, generator=g)
            t.copy_(f32(v))
        x = f32(torch.randn(3, 1, 16, 16, generator=g))
        logits = model(x)
    with open_new(EXPORT_OUT) as f:
        f.attrs.create("arch", json.dumps(EXPORT_ARCH, sort_keys=True).encode())
        for name, t in model.state_dict().items():
            if not name.endswith("num_batches_tracked"):
                f.create_dataset(name, data=t.numpy().astype(np.float32), track_times=False)
        ref = new_group(f, "ref")
        ref.create_dataset("input", data=x.numpy().astype(np.float32), track_times=False)
        ref.create_dataset("logits", data=logits.numpy().astype(np.float32), track_times=False)
    print("wrote", EXPORT_OUT)


def main():
    with open_new(OUT) as f:
        block_case(f, "small", 2, 5, 8, 2, 24, 1)  # MLP ratio 3
        block_case(f, "head32", 2, 17, 32, 1, 80, 2)  # the paper's head width 32, ratio 2.5
        block_case(f, "one_token", 3, 1, 16, 2, 32, 3)  # softmax over one key
        # block 1 (patch 4 on a 16x16 image, as the default space's 32 -> 8) and a block where
        # the teacher halves the resolution (stride 2)
        stage_case(f, "patch", 2, dict(cin=1, in_hw=16, cout=6, out_hw=4, dim=16, hidden=40,
                                       depth=2, head_dim=8), 4)
        stage_case(f, "stride2", 2, dict(cin=5, in_hw=6, cout=7, out_hw=3, dim=12, hidden=36,
                                         depth=1, head_dim=4), 5)
        for name, dim in (("deit_tiny", 192), ("deit_small", 384)):
            count_case(f, name, dict(cin=3, in_hw=224, cout=320, out_hw=14, dim=dim,
                                     hidden=4 * dim, depth=12, head_dim=64))
    print("wrote", OUT)
    export_case()


if __name__ == "__main__":
    main()
