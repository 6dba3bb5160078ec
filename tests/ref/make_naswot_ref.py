#!/usr/bin/env python3
"""NASWOT reference (tests/ref/naswot_ref.json) for tests/unit/test_naswot.c.

The kernel as the reference code of Mellor et al. (ICML 2021) builds it: per activation layer,
x = (activations > 0) per image, K += x x^T + (1 - x)(1 - x)^T; the score is numpy's slogdet.
Also a general matrix with a negative determinant, to check log|det| through row swaps.
Seeded, no timestamps: each run writes the same file byte for byte.
Run with Debian's python and numpy: /usr/bin/python3 tests/ref/make_naswot_ref.py
"""
import json
import numpy as np

rng = np.random.default_rng(21)
B = 12
sizes = [5, 70, 130]  # across 64-unit word boundaries
layers = []
K = np.zeros((B, B))
for n in sizes:
    a = rng.normal(size=(B, n)).round(4)
    a[a == 0] = 0.5  # no exact zeros: "> 0" is unambiguous however it is read
    layers.append(a.tolist())
    x = (a > 0).astype(np.float64)
    K += x @ x.T + (1 - x) @ (1 - x).T
sign, logdet = np.linalg.slogdet(K)
assert sign > 0

M = rng.normal(size=(7, 7)).round(3)
M[[0, 3]] = M[[3, 0]]
msign, mlogdet = np.linalg.slogdet(M)
if msign > 0:  # make its determinant negative: log|det| must not care
    M[[1, 2]] = M[[2, 1]]
    msign, mlogdet = np.linalg.slogdet(M)

ref = {
    "b": B,
    "layers": layers,
    "K": K.astype(int).tolist(),
    "logdet": float(logdet),
    "general": {"n": 7, "A": M.tolist(), "sign": float(msign), "logabsdet": float(mlogdet)},
}
with open("tests/ref/naswot_ref.json", "w") as f:
    json.dump(ref, f, indent=1)
    f.write("\n")
