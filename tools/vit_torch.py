#!/usr/bin/python3
"""A searched ViT (arch.json with "kind": "vit") as a PyTorch module, with dna's weights.

`dna export arch.json --format torch` points here: build(arch) makes the network
src/nn/vitnet.c builds, with the same parameter names, so that load(model, "retrain.h5")
takes the weights `dna retrain` wrote (doc/formats.md, "retrain.h5 of a ViT") and the
module computes dna's logits (tests/unit/test_vit_ref.c holds the two to 1e-4 on a fixture
made with this file, tests/ref/make_vit_ref.py).

Per block k: a conv with kernel = stride = in_size / out_size and no bias -> tokens + a
learned positional embedding -> `depth` pre-norm transformer blocks (timm's Block:
LayerNorm eps 1e-6, attention with one qkv Linear, proj, MLP fc1 -> GELU (erf) -> fc2)
-> LayerNorm -> Linear to out_channels -> a map [out_channels, out_size, out_size]. Then the
head of dna's CNNs: 1x1 conv -> BatchNorm (eps 1e-5) -> swish -> global average pool ->
dropout -> Linear to classes.

Usage (Debian's python with python3-torch, python3-h5py):
    /usr/bin/python3 tools/vit_torch.py outputs/run/arch.json outputs/run/retrain.h5
prints the module and its parameter count; as a library:
    import vit_torch; model = vit_torch.build(json.load(open(p))); vit_torch.load(model, h5)
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = (qkv[0] @ qkv[1].transpose(-2, -1)) * (D // self.heads) ** -0.5
        return self.proj((a.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(B, T, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp = Attention(dim, heads), Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Stage(nn.Module):
    def __init__(self, b):
        super().__init__()
        s, dim = b["in_size"] // b["out_size"], b["width"]
        self.cout, self.hw = b["out_channels"], b["out_size"]
        self.embed = nn.Conv2d(b["in_channels"], dim, s, s, bias=False)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.hw * self.hw, dim))
        self.blocks = nn.ModuleList(
            Block(dim, dim // b["head_dim"], b["mlp_hidden"]) for _ in range(b["depth"]))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Linear(dim, self.cout)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        for blk in self.blocks:
            t = blk(t)
        u = self.out(self.norm(t))
        return u.transpose(1, 2).reshape(x.shape[0], self.cout, self.hw, self.hw)


class ViT(nn.Module):
    def __init__(self, arch, dropout=0.0):
        super().__init__()
        assert arch.get("kind") == "vit", "not a ViT architecture (no \"kind\": \"vit\")"
        self.stages = nn.ModuleList(Stage(b) for b in arch["blocks"])
        last, head = arch["blocks"][-1]["out_channels"], arch["head"]
        self.conv_head = nn.Conv2d(last, head, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(head, eps=1e-5, momentum=0.1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head, arch["classes"])

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        x = F.silu(self.bn2(self.conv_head(x)))
        return self.classifier(self.dropout(x.mean((2, 3))))


def build(arch, dropout=0.0):
    return ViT(arch, dropout)


def load(model, path):
    """Every tensor of the model's state_dict from dna's weights file, by name and shape."""
    import h5py
    state = model.state_dict()
    with h5py.File(path, "r") as f:
        for name, t in state.items():
            if name.endswith("num_batches_tracked"):
                continue
            a = torch.from_numpy(f[name][()])
            assert tuple(a.shape) == tuple(t.shape), f"{path}: {name} is {tuple(a.shape)}, the module's {tuple(t.shape)}"
            t.copy_(a)
    return model


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    model = build(json.load(open(sys.argv[1])))
    if len(sys.argv) == 3:
        load(model, sys.argv[2])
    print(model)
    print("parameters:", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
