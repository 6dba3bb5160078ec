#!/usr/bin/python3
"""The fidelity figures of doc/results.md (issue 21, second part), from the files beside this one.

  /usr/bin/python3 doc/results/fidelity/fidelity_stats.py        (Debian's python3-scipy)
  /usr/bin/python3 doc/results/fidelity/fidelity_stats.py 10     (the 10-epoch bench)

1. The truths' spread between networks against one network's spread between training seeds,
   and what that noise leaves of Kendall tau: the ceiling of any rating judged against truths
   of one seed per network.
   - 2 epochs: bench.csv, seeds from seeds.csv (3 networks x 3 seeds).
   - 10 epochs: bench10/result_<id>.json, the networks finished (all 30; their seed 1); seeds
     from the bench's further seeds (result_<id>_seed<s>.json, `bench.seeds`) and seeds10.csv.
2. Each rating's tau with a bootstrap interval, and paired bootstrap of the tau differences
   between ratings (the same resampled networks for both), which overlapping intervals of the
   two taus cannot decide.
"""
import csv
import glob
import json
import os
import re
import sys

import numpy as np
from scipy.stats import kendalltau

HERE = os.path.dirname(os.path.abspath(__file__))


def col(name, key):
    with open(os.path.join(HERE, name)) as f:
        return {int(r["id"]): float(r[key]) for r in csv.DictReader(f)}


def seed_file(name):
    """{id: [top1 %, ...]} of a CSV with columns id, seed, top1 (a fraction)."""
    out = {}
    path = os.path.join(HERE, name)
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.DictReader(f):
                out.setdefault(int(r["id"]), []).append(100 * float(r["top1"]))
    return out


def bench10():
    """{id: [top1 % of each seed]} from the 10-epoch bench's result files, seed 1 first."""
    out = {}
    for p in sorted(glob.glob(os.path.join(HERE, "bench10", "result_*.json"))):
        m = re.fullmatch(r"result_(\d+)(?:_seed(\d+))?\.json", os.path.basename(p))
        with open(p) as f:
            out.setdefault(int(m.group(1)), []).append(100 * json.load(f)["top1"])
    return out


epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
if epochs not in (2, 10):
    sys.exit("fidelity_stats.py: the benches kept here are of 2 and 10 epochs; give 10 or nothing")
two = {i: 100 * v for i, v in col("bench.csv", "top1").items()}
if epochs == 2:
    runs = {i: [v] for i, v in two.items()}
    seeds = seed_file("seeds.csv")
else:
    # The seed check's retrainings (seeds10.csv, one rank each: the bench's recipe and batch
    # norm) count as further seeds of their networks.
    runs = bench10()
    for i, v in seed_file("seeds10.csv").items():
        runs[i] += v
    seeds = {i: v for i, v in runs.items() if len(v) > 1}
ids = sorted(runs)
# A truth of one seed per network, so that the noise figures below describe it; the means
# of several seeds are judged separately at the end.
truth = np.array([runs[i][0] for i in ids])
print(f"{epochs}-epoch truths: {truth.size} networks (ids {ids[0]}-{ids[-1]}), {truth.min():.2f} "
      f"to {truth.max():.2f} % (range {np.ptp(truth):.2f}), sd between networks "
      f"{truth.std(ddof=1):.3f}")
if epochs == 2:
    old = {i: 100 * v for i, v in col("../bench.csv", "top1").items()}
    print(f"the first study's truths (1 epoch, 30,000 images): range "
          f"{np.ptp(list(old.values())):.2f}, sd {np.std(list(old.values()), ddof=1):.3f}; "
          f"tau to these {kendalltau([old[i] for i in ids], truth)[0]:.3f}")
else:
    t2 = np.array([two[i] for i in ids])
    print(f"the 2-epoch truths of the same networks: range {np.ptp(t2):.2f}, sd "
          f"{t2.std(ddof=1):.3f}; tau to the 10-epoch ones {kendalltau(t2, truth)[0]:.3f}")

sds = []
for i in sorted(seeds):
    v = np.array(seeds[i])
    sds.append(v.std(ddof=1))
    print(f"network {i}: seeds {' '.join(f'{x:.2f}' for x in v)}; mean {v.mean():.2f}, "
          f"sd {v.std(ddof=1):.3f}, range {np.ptp(v):.2f}; bench {runs[i][0]:.2f}")
rng = np.random.default_rng(0)
if sds:
    dof = np.array([len(seeds[i]) - 1 for i in sorted(seeds)])  # pooled: weighted by dof
    s = float(np.sqrt(np.sum(dof * np.square(sds)) / np.sum(dof)))
    print(f"pooled seed sd {s:.3f} ({len(sds)} networks); sd between networks / seed sd = "
          f"{truth.std(ddof=1) / s:.2f}")
    # Networks' expected top-1 spread: the truths' variance less the seed variance. A rating
    # that knew each network's expected top-1 exactly, judged against truths of one seed each,
    # reaches tau(m, m + e); two seeds' truths agree at tau(m + e1, m + e2). Normal m and e,
    # simulated.
    sm = float(np.sqrt(max(truth.var(ddof=1) - s * s, 0.0)))
    m = rng.normal(0, sm, (2000, truth.size))
    e1, e2 = rng.normal(0, s, m.shape), rng.normal(0, s, m.shape)
    exact = [kendalltau(a, a + b)[0] for a, b in zip(m, e1)]
    pair = [kendalltau(a + b, a + c)[0] for a, b, c in zip(m, e1, e2)]
    print(f"spread of the networks' expected top-1 {sm:.3f}; a rating that knew it exactly: tau "
          f"{np.median(exact):.3f} [{np.percentile(exact, 2.5):.3f}, "
          f"{np.percentile(exact, 97.5):.3f}]; two seeds' truths: tau {np.median(pair):.3f} "
          f"[{np.percentile(pair, 2.5):.3f}, {np.percentile(pair, 97.5):.3f}] "
          f"(2000 simulated benches)")
else:
    print("no network has a second seed yet: no seed spread")

files = [("DNA, 1 epoch", "dna1.csv"), ("DNA, 5 epochs", "dna5.csv"),
         ("SPOS, 15 epochs", "spos15.csv"), ("parameter count", "../proxy_params.csv"),
         ("NASWOT", "../proxy_naswot.csv")]
if epochs != 2:
    files.append(("MACs", "../proxy_macs.csv"))
ratings = {n: -np.array([c[i] for i in ids]) for n, f in files for c in [col(f, "score")]}
idx = rng.integers(0, truth.size, size=(2000, truth.size))
boot = {n: np.array([kendalltau(r[i], truth[i])[0] for i in idx]) for n, r in ratings.items()}
if epochs != 2:
    for n, r in ratings.items():
        print(f"tau({n}) = {kendalltau(r, truth)[0]:+.3f}  95% bootstrap "
              f"[{np.nanpercentile(boot[n], 2.5):+.3f}, {np.nanpercentile(boot[n], 97.5):+.3f}]")
for a, b in [("DNA, 1 epoch", "SPOS, 15 epochs"), ("DNA, 5 epochs", "SPOS, 15 epochs"),
             ("DNA, 1 epoch", "parameter count"), ("DNA, 5 epochs", "parameter count"),
             ("DNA, 1 epoch", "NASWOT"), ("DNA, 1 epoch", "DNA, 5 epochs")]:
    d = boot[a] - boot[b]
    print(f"tau({a}) - tau({b}) = {kendalltau(ratings[a], truth)[0] - kendalltau(ratings[b], truth)[0]:+.3f}"
          f"  95% paired bootstrap [{np.nanpercentile(d, 2.5):+.3f}, {np.nanpercentile(d, 97.5):+.3f}],"
          f"  share > 0: {np.mean(d > 0):.3f}")
if epochs != 2 and min(len(v) for v in runs.values()) > 1:  # every network: 2 seeds or more
    mean = np.array([np.mean(runs[i]) for i in ids])
    print(f"truths as the mean of each network's seeds: sd between networks "
          f"{mean.std(ddof=1):.3f}; " +
          "; ".join(f"tau({n}) {kendalltau(r, mean)[0]:+.3f}" for n, r in ratings.items()))
