#!/usr/bin/env python3
"""Reference tau-b, rho and R for tests/unit/test_rankstat.c, computed by scipy.

The data are not stored: both this script and the C test draw them from the same 64-bit LCG
(Knuth's MMIX constants), so only the three numbers are committed (rank_ref.json).
n = 100,000 pairs of small integers with heavy ties in both variables:
  x = a mod 200                              200 distinct values
  y = (x + b mod 150) div 7                  50 distinct values, increasing with x
where a and b are the top 31 bits (state >> 33) of two successive LCG states; integers only,
so no floating-point contraction or rounding can make the C side differ.

Run with Debian's python and python3-scipy:  /usr/bin/python3 tests/ref/make_rank_ref.py
The output is the same byte for byte on every run.
"""
import json
import os

import numpy as np
import scipy
from scipy import stats

N = 100_000
SEED = 12345
MASK = (1 << 64) - 1


def data():
    s = SEED
    x = np.empty(N)
    y = np.empty(N)
    for i in range(N):
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        a = s >> 33
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        b = s >> 33
        x[i] = a % 200
        y[i] = (a % 200 + b % 150) // 7
    return x, y


def main():
    x, y = data()
    tau = stats.kendalltau(x, y, variant="b").statistic
    rho = stats.spearmanr(x, y).statistic
    r = stats.pearsonr(x, y).statistic
    out = {
        "generator": "tests/ref/make_rank_ref.py",
        "scipy": scipy.__version__,
        "n": N,
        "seed": SEED,
        "distinct_x": int(len(np.unique(x))),
        "distinct_y": int(len(np.unique(y))),
        "sum_x": float(x.sum()),
        "sum_y": float(y.sum()),
        "kendall_tau_b": float(tau),
        "spearman_rho": float(rho),
        "pearson_r": float(r),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rank_ref.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(path, out)


if __name__ == "__main__":
    main()
