#!/usr/bin/python3
"""The fidelity figures of doc/results.md (issue 21, second part), from the files beside this one.

  /usr/bin/python3 doc/results/fidelity/fidelity_stats.py     (Debian's python3-scipy)

1. The truths' spread between networks (bench.csv) against one network's spread between
   training seeds (seeds.csv: 3 networks x 3 seeds), and what that noise leaves of Kendall
   tau: the ceiling of any rating judged against truths of one seed per network.
2. Paired bootstrap of the tau differences between ratings (the same resampled networks for
   both), which overlapping intervals of the two taus cannot decide.
"""
import csv
import os

import numpy as np
from scipy.stats import kendalltau

HERE = os.path.dirname(os.path.abspath(__file__))


def col(name, key):
    with open(os.path.join(HERE, name)) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["id"]))
    return np.array([float(r[key]) for r in rows])


truth = 100 * col("bench.csv", "top1")
old = 100 * col("../bench.csv", "top1")
print(f"truths: {truth.size} networks, {truth.min():.2f} to {truth.max():.2f} % "
      f"(range {np.ptp(truth):.2f}), sd between networks {truth.std(ddof=1):.3f}")
print(f"the first study's truths (1 epoch, 30,000 images): range {np.ptp(old):.2f}, "
      f"sd {old.std(ddof=1):.3f}; tau to these {kendalltau(old, truth)[0]:.3f}")

with open(os.path.join(HERE, "seeds.csv")) as f:
    seeds = list(csv.DictReader(f))
sds = []
for i in sorted({int(r["id"]) for r in seeds}):
    v = np.array([100 * float(r["top1"]) for r in seeds if int(r["id"]) == i])
    sds.append(v.std(ddof=1))
    print(f"network {i}: seeds {' '.join(f'{x:.2f}' for x in v)}; mean {v.mean():.2f}, "
          f"sd {v.std(ddof=1):.3f}, range {np.ptp(v):.2f}; bench {truth[i - 1]:.2f}")
s = float(np.sqrt(np.mean(np.square(sds))))
print(f"pooled seed sd {s:.3f}; sd between networks / seed sd = {truth.std(ddof=1) / s:.2f}")
# Networks' expected top-1 spread: the truths' variance less the seed variance. A rating that
# knew each network's expected top-1 exactly, judged against truths of one seed each, reaches
# tau(m, m + e); two seeds' truths agree at tau(m + e1, m + e2). Normal m and e, simulated.
sm = float(np.sqrt(max(truth.var(ddof=1) - s * s, 0.0)))
rng = np.random.default_rng(0)
m = rng.normal(0, sm, (2000, truth.size))
e1, e2 = rng.normal(0, s, m.shape), rng.normal(0, s, m.shape)
exact = [kendalltau(a, a + b)[0] for a, b in zip(m, e1)]
pair = [kendalltau(a + b, a + c)[0] for a, b, c in zip(m, e1, e2)]
print(f"spread of the networks' expected top-1 {sm:.3f}; a rating that knew it exactly: tau "
      f"{np.median(exact):.3f} [{np.percentile(exact, 2.5):.3f}, {np.percentile(exact, 97.5):.3f}]; "
      f"two seeds' truths: tau {np.median(pair):.3f} [{np.percentile(pair, 2.5):.3f}, "
      f"{np.percentile(pair, 97.5):.3f}] (2000 simulated benches)")

ratings = {n: -col(f, "score") for n, f in
           [("DNA, 1 epoch", "dna1.csv"), ("DNA, 5 epochs", "dna5.csv"),
            ("SPOS, 15 epochs", "spos15.csv"), ("parameter count", "../proxy_params.csv"),
            ("NASWOT", "../proxy_naswot.csv")]}
idx = rng.integers(0, truth.size, size=(2000, truth.size))
boot = {n: np.array([kendalltau(r[i], truth[i])[0] for i in idx]) for n, r in ratings.items()}
for a, b in [("DNA, 1 epoch", "SPOS, 15 epochs"), ("DNA, 5 epochs", "SPOS, 15 epochs"),
             ("DNA, 1 epoch", "parameter count"), ("DNA, 5 epochs", "parameter count"),
             ("DNA, 1 epoch", "NASWOT"), ("DNA, 1 epoch", "DNA, 5 epochs")]:
    d = boot[a] - boot[b]
    print(f"tau({a}) - tau({b}) = {kendalltau(ratings[a], truth)[0] - kendalltau(ratings[b], truth)[0]:+.3f}"
          f"  95% paired bootstrap [{np.percentile(d, 2.5):+.3f}, {np.percentile(d, 97.5):+.3f}],"
          f"  share > 0: {np.mean(d > 0):.3f}")
