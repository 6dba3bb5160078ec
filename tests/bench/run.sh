#!/usr/bin/env bash
# Runs every benchmark binary in BIN_DIR (bench_*), each printing "bench NAME key=value ...";
# supernet_train runs again on 2 MPI ranks (1 thread each) for the 1 -> 2-rank speedup.
# Figures and the PyTorch anchor they are compared with are recorded in doc/benchmarks.md.
set -euo pipefail
bin=${1:-bin}
for b in "$bin"/bench_*; do
    if [ "$(basename "$b")" = bench_supernet_train ]; then
        OMP_NUM_THREADS=1 "$b"
        OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --allow-run-as-root "$b"
    else
        "$b"
    fi
done
