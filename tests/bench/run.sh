#!/usr/bin/env bash
# Runs every benchmark binary in BIN_DIR (bench_*), each printing "bench NAME key=value ...".
# Figures and the PyTorch anchor they are compared with are recorded in doc/benchmarks.md.
set -euo pipefail
bin=${1:-bin}
for b in "$bin"/bench_*; do
    "$b"
done
