#!/usr/bin/env python3
"""DNA++ SSL loss reference (tests/ref/ssl_ref.json) for tests/unit/test_ssl.c.

One block's share of the paper's Eqns 10-11 (src/nas/ssl_loss.h) written as VICReg's code
(Bardes et al. 2022) computes it: centre per channel, Cov = x^T x / (M - 1), off-diagonal
squares summed, std = sqrt(x.var(dim=0) + eps) (unbiased), relu(gamma - std); with the
paper's normalisations (lambda1 / (K M) on the summed squared distance, lambda2 / (K C),
lambda3 / (C K)). Gradients by autograd. Everything in float64 from inputs rounded to
float32, so the C side reads the same numbers. The covariance is checked against torch.cov.
Seeded, no timestamps: each run writes the same file byte for byte.
Run with Debian's python and python3-torch: /usr/bin/python3 tests/ref/make_ssl_ref.py
"""
import json
import torch

torch.manual_seed(20)


def off_diagonal(s):
    n = s.shape[0]
    return s.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def side(v, cfg):
    m, c = v.shape
    x = v - v.mean(dim=0)
    cov = x.T @ x / (m - 1)
    assert torch.allclose(cov, torch.cov(v.T), rtol=1e-12, atol=1e-14)
    std = torch.sqrt(v.var(dim=0) + cfg["eps"])
    return off_diagonal(cov).pow(2).sum(), torch.relu(cfg["gamma"] - std).sum(), std.mean()


def case(name, z, zh, cfg):
    z = z.float().double().requires_grad_()
    zh = zh.float().double().requires_grad_()
    m, c = z.shape
    k = cfg["K"]
    dist = cfg["lambda1"] / (k * m) * (z - zh).pow(2).sum()
    cz, hz, sz = side(z, cfg)
    ch, hh, sh = side(zh, cfg)
    cov = cfg["lambda2"] / (k * c) * (cz + ch)
    var = cfg["lambda3"] / (c * k) * (hz + (hh if cfg["var_both"] else 0.0))
    total = dist + cov + var
    total.backward()
    flat = lambda t: t.detach().flatten().tolist()
    return dict(name=name, m=m, c=c, cfg=cfg, z=flat(z), zh=flat(zh), dist=dist.item(),
                cov=cov.item(), var=var.item(), total=total.item(), std_z=sz.item(),
                std_zh=sh.item(), dz=flat(z.grad), dzh=flat(zh.grad))


VICREG = dict(lambda1=25.0, lambda2=1.0, lambda3=25.0, gamma=1.0, eps=1e-4, var_both=1, K=1)
cases = []

# M=8, C=6: channels of std from 0.3 to 2, so the hinge is on for some and off for others;
# Zhat is Z plus noise, correlated with it as a student's output would be.
scale = torch.tensor([0.3, 2.0, 0.5, 1.5, 0.8, 1.2], dtype=torch.float64)
z = torch.randn(8, 6, dtype=torch.float64) * scale
mix = torch.randn(6, 6, dtype=torch.float64) * 0.3
z = z + z @ mix  # correlated channels: the covariance term is not small
zh = z * 0.7 + 0.4 * torch.randn(8, 6, dtype=torch.float64)
cases.append(case("random", z, zh, VICREG))

# M=5, C=3: Z's channel 1 has collapsed to a constant (std = sqrt(eps)); every Zhat channel
# has a std above gamma, so the hinge is on for Z only (whatever var_both), and the collapsed
# channel's hinge has a zero gradient (its centred values are 0).
z = torch.randn(5, 3, dtype=torch.float64) * 2.0
z[:, 1] = 0.375
zh = torch.randn(5, 3, dtype=torch.float64) * 2.5 + 1.0
assert (zh.float().double().std(dim=0) > 1.0).all()
cases.append(case("collapsed_z", z, zh, VICREG))

# The same Z, Zhat swapped: the hinge is on for Zhat only, so var_both 1 and 0 differ.
cases.append(case("collapsed_zhat_both", zh, z, VICREG))
cases.append(case("collapsed_zhat_printed", zh, z, dict(VICREG, var_both=0)))

# Other weights, K = 3 blocks, gamma 0.5, eps 1e-3, the printed form.
z = torch.randn(7, 4, dtype=torch.float64) * torch.tensor([0.2, 0.45, 1.0, 0.3])
zh = torch.randn(7, 4, dtype=torch.float64) * 0.6
cases.append(case("weights_k3", z, zh, dict(lambda1=2.0, lambda2=0.5, lambda3=4.0, gamma=0.5,
                                            eps=1e-3, var_both=0, K=3)))
cases.append(case("weights_k3_both", z, zh, dict(lambda1=2.0, lambda2=0.5, lambda3=4.0,
                                                 gamma=0.5, eps=1e-3, var_both=1, K=3)))

with open("tests/ref/ssl_ref.json", "w") as f:
    json.dump({"cases": cases}, f, indent=1)
    f.write("\n")
