#!/usr/bin/python3
"""W5 vit_cell_train in PyTorch, the twin of tests/bench/bench_vit_cell_train.c.

Block 1's ViT supernet of inputs/fashion_mnist_vit.cfg as src/nn/vitstage.c builds it: a
1x32x32 image -> 4x4 patch embedding (no bias) -> 64 tokens + pos_embed -> pre-norm
transformer blocks (timm's Block: LayerNorm eps 1e-6, one qkv Linear, proj, fc1, GELU, fc2)
-> LayerNorm -> Linear to 24 channels -> a 24x8x8 map. Slimmable in AutoFormer's way: the
supernet holds width 64, MLP 256 and 2 blocks; a subnet (width d of 32/48/64 with heads of
16, MLP ratio 2/3/4, depth 1/2) runs on weight slices (F.linear on w[:h, :d], ...), so the
optimizer steps the whole supernet. Per step: one subnet, MSE to a fixed target, AdamW
(lr 1e-3, weight decay 0.05). The subnets take turns in the C twin's order (step s runs
subnet s mod 18: width, then ratio, then depth, the last digit), so both do the same work;
img/s is over whole rounds after one warm-up round, with the peak RSS, as one
"torch vit_cell_train key=value" line.

Run with Debian's PyTorch (apt-get install python3-torch), 2 threads, and the allocator
settings of ../shared/anchors/README.md:
  MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 \\
  MALLOC_TOP_PAD_=1073741824 /usr/bin/python3 tests/bench/torch_vit_cell.py --threads 2
"""
import argparse
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CIN, IN_HW, COUT, OUT_HW, PATCH = 1, 32, 24, 8, 4
DIMS, RATIOS, DEPTHS, HEAD = (32, 48, 64), (2, 3, 4), (1, 2), 16
D, H, N = max(DIMS), max(RATIOS) * max(DIMS), max(DEPTHS)
T = OUT_HW * OUT_HW


def p(*shape, std=0.02):
    return nn.Parameter(torch.randn(*shape) * std)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1w, self.n1b = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))
        self.qkv_w, self.qkv_b = p(3 * D, D), nn.Parameter(torch.zeros(3 * D))
        self.proj_w, self.proj_b = p(D, D), nn.Parameter(torch.zeros(D))
        self.n2w, self.n2b = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))
        self.fc1_w, self.fc1_b = p(H, D), nn.Parameter(torch.zeros(H))
        self.fc2_w, self.fc2_b = p(D, H), nn.Parameter(torch.zeros(D))

    def forward(self, t, d, h):
        B = t.shape[0]
        y = F.layer_norm(t, (d,), self.n1w[:d], self.n1b[:d], 1e-6)
        w = torch.cat([self.qkv_w[j * D:j * D + d, :d] for j in range(3)])
        b = torch.cat([self.qkv_b[j * D:j * D + d] for j in range(3)])
        qkv = F.linear(y, w, b).reshape(B, T, 3, d // HEAD, HEAD).permute(2, 0, 3, 1, 4)
        a = (qkv[0] @ qkv[1].transpose(-2, -1)) * HEAD ** -0.5
        o = (a.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(B, T, d)
        t = t + F.linear(o, self.proj_w[:d, :d], self.proj_b[:d])
        y = F.layer_norm(t, (d,), self.n2w[:d], self.n2b[:d], 1e-6)
        y = F.gelu(F.linear(y, self.fc1_w[:h, :d], self.fc1_b[:h]))
        return t + F.linear(y, self.fc2_w[:d, :h], self.fc2_b[:d])


class Supernet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = p(D, CIN, PATCH, PATCH)
        self.pos = p(1, T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(N))
        self.nw, self.nb = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))
        self.out_w, self.out_b = p(COUT, D), nn.Parameter(torch.zeros(COUT))

    def forward(self, x, d, h, n):
        t = F.conv2d(x, self.embed[:d], stride=PATCH).flatten(2).transpose(1, 2)
        t = t + self.pos[:, :, :d]
        for blk in self.blocks[:n]:
            t = blk(t, d, h)
        u = F.linear(F.layer_norm(t, (d,), self.nw[:d], self.nb[:d], 1e-6), self.out_w[:, :d],
                     self.out_b)
        return u.transpose(1, 2).reshape(x.shape[0], COUT, OUT_HW, OUT_HW)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=36)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Supernet()
    codes = [(d, r, n) for d in DIMS for r in RATIOS for n in DEPTHS]
    x, y = torch.randn(a.batch, CIN, IN_HW, IN_HW), torch.randn(a.batch, COUT, OUT_HW, OUT_HW)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
    times, first, loss = [], None, None
    warmup = len(codes)
    for s in range(warmup + a.steps):
        d, r, n = codes[s % len(codes)]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = F.mse_loss(net(x, d, r * d, n), y)
        loss.backward()
        opt.step()
        if s >= warmup:
            times.append(time.perf_counter() - t0)
        if s == warmup:
            first = loss.item()
    total = sum(times)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    print(f"torch vit_cell_train torch={torch.__version__} threads={a.threads} "
          f"img_per_s={a.batch * a.steps / total:.1f} ms_per_step={1e3 * total / a.steps:.1f} "
          f"min_ms={1e3 * times[0]:.1f} "
          f"max_ms={1e3 * times[-1]:.1f} steps={a.steps} batch={a.batch} first_loss={first:.4f} "
          f"last_loss={loss.item():.4f} peak_rss_MB={rss:.0f}")


if __name__ == "__main__":
    main()
