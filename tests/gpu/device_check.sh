#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one go and under 8 minutes: installs the
# build dependencies if missing (Debian packages of scripts/setup.sh; no network is
# tolerated), builds with CUDA=1, runs build/cuda/bin/test_gpu (GPU vs CPU backend, every
# op, a cell's training step and rating), the PyTorch anchor (W1, W3) if present, our
# benchmarks of the same workloads (bench_cell_train, bench_rate_shared --w3) with their
# ratios, a memcheck pass over part of test_gpu, and prints one summary block. Logs go to
# OUT_DIR.
# Usage: tests/gpu/device_check.sh [OUT_DIR]   (default: $OUT, else /tmp/dna-device-check)
# Exit status: 0 when test_gpu ran, passed, and skipped nothing.
set -u
cd "$(dirname "$0")/../.."
OUT_DIR=${1:-${OUT:-/tmp/dna-device-check}}
mkdir -p "$OUT_DIR"
T0=$(date +%s)
BUDGET=${BUDGET:-450}  # seconds for everything; each step gets at most what is left

left() { echo $((BUDGET - ($(date +%s) - T0))); }
cap() {  # cap SECONDS: that, or what is left of the budget
    local c=$1 l
    l=$(left)
    ((l < c)) && c=$l
    ((c < 1)) && c=1
    echo "$c"
}
declare -A R  # step -> result line for the summary
step_time() { echo $(($(date +%s) - $1)); }

echo "== machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
        2>&1 | tee "$OUT_DIR/gpu.txt"
else
    echo "nvidia-smi not found" | tee "$OUT_DIR/gpu.txt"
fi
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then
    CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")")
fi
echo "CUDA_HOME=$CUDA_HOME nproc=$(nproc)"
R[machine]="$(head -1 "$OUT_DIR/gpu.txt" 2>/dev/null), CUDA_HOME=$CUDA_HOME"

echo "== dependencies"
# Build dependencies from scripts/setup.sh (the dataset, gnuplot and hdf5-tools are not
# needed to build and run the tests).
PKGS=(build-essential pkg-config libopenblas-dev openmpi-bin libopenmpi-dev libhdf5-dev
      zlib1g-dev libcjson-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
deps_ok() {
    command -v mpicc >/dev/null && pkg-config --exists hdf5 libcjson openblas 2>/dev/null
}
if [ ${#missing[@]} -eq 0 ] || deps_ok; then
    R[deps]="present"
else
    echo "missing: ${missing[*]} (mpicc: $(command -v mpicc || echo none)); trying apt-get"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    t=$(date +%s)
    { timeout "$(cap 60)" $SUDO apt-get update -qq &&
        timeout "$(cap 120)" $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"$OUT_DIR/apt.log" 2>&1
    rc=$?
    if deps_ok; then
        R[deps]="installed ${missing[*]} in $(step_time "$t") s"
    else
        R[deps]="MISSING ${missing[*]} (apt-get exit $rc, see apt.log: no network?)"
    fi
fi
[ -f "$CUDA_HOME/include/cudnn.h" ] || R[deps]="${R[deps]}; NO cuDNN headers in $CUDA_HOME/include"
echo "${R[deps]}"

echo "== build (make CUDA=1)"
GENCODE="-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
if [ -n "$CAP" ] && [ "$CAP" != 90 ] && [ "$CAP" -lt 90 ] 2>/dev/null; then
    GENCODE="$GENCODE -gencode arch=compute_$CAP,code=sm_$CAP"  # PTX 9.0 does not run below 9.0
fi
t=$(date +%s)
if deps_ok; then
    timeout "$(cap 200)" make -j"$(nproc)" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDA_GENCODE="$GENCODE" \
        >"$OUT_DIR/build.log" 2>&1
    rc=$?
    warn=$(grep -c -i 'warning' "$OUT_DIR/build.log")
    if [ $rc -eq 0 ]; then
        R[build]="ok in $(step_time "$t") s, $warn warning lines"
    else
        R[build]="FAILED (exit $rc) after $(step_time "$t") s; tail of build.log:"
        tail -20 "$OUT_DIR/build.log"
    fi
else
    # no MPI/HDF5: at least compile the kernels, which is what needs this machine's nvcc
    mkdir -p "$OUT_DIR/kobj"
    rc=0
    for f in kernels/*.cu; do
        timeout "$(cap 60)" "$CUDA_HOME/bin/nvcc" -O3 -std=c++17 $GENCODE -Xcompiler -Wall,-Wextra \
            -c "$f" -o "$OUT_DIR/kobj/$(basename "$f" .cu).o" >>"$OUT_DIR/build.log" 2>&1 || rc=1
    done
    R[build]="NOT BUILT (dependencies missing); kernels alone: $([ $rc -eq 0 ] && echo compile || echo FAIL)"
fi
echo "${R[build]}"

echo "== test_gpu"
status=1
if [ -x build/cuda/bin/test_gpu ] && [[ ${R[build]} == ok* ]]; then
    t=$(date +%s)
    GPU_TEST_VERBOSE=1 timeout "$(cap 150)" build/cuda/bin/test_gpu >"$OUT_DIR/test_gpu.log" 2>&1
    rc=$?
    grep -E '^(gpu:|ok |FAIL|skip)|passed, ' "$OUT_DIR/test_gpu.log"
    grep -E '^    .*:[0-9]+: ' "$OUT_DIR/test_gpu.log" | head -40  # failure details
    last=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$OUT_DIR/test_gpu.log" | tail -1)
    R[test]="${last:-no result line} (exit $rc, $(step_time "$t") s)"
    # a skip on a GPU machine is a failure too: the device was not visible
    [ $rc -eq 0 ] && [[ $last =~ ^[1-9][0-9]*\ passed,\ 0\ failed ]] && status=0
    # the comparisons closest to their tolerance
    grep -E 'worst|rel L2' "$OUT_DIR/test_gpu.log" |
        sed -E 's/.*[ (]([0-9.]+|inf|nan) of tolerance.*/\1 &/' | sort -gr | head -8 |
        cut -d' ' -f2- >"$OUT_DIR/closest.txt"
else
    R[test]="not run (no build)"
fi
echo "${R[test]}"

echo "== PyTorch anchor"
ANCHOR=""
for a in ../shared/anchors/torch_cell.py shared/anchors/torch_cell.py; do
    [ -f "$a" ] && ANCHOR=$a && break
done
if [ -n "$ANCHOR" ] && [ "$(left)" -gt 30 ]; then
    t=$(date +%s)
    timeout "$(cap 120)" python3 "$ANCHOR" --device cuda --cudnn-benchmark --workloads w1,w3 \
        --json "$OUT_DIR/torch_cell.json" >"$OUT_DIR/torch_cell.log" 2>&1
    rc=$?
    lines=$(grep -E '^W[0-9]' "$OUT_DIR/torch_cell.log")
    [ -n "$lines" ] || lines=$(tail -1 "$OUT_DIR/torch_cell.log")
    echo "$lines"
    R[anchor]="exit $rc in $(step_time "$t") s: $(echo "$lines" | cut -c1-90 | paste -sd'|')"
else
    R[anchor]="skipped (${ANCHOR:-torch_cell.py not found}, $(left) s left)"
fi
echo "${R[anchor]}"

echo "== GPU benchmarks (W1 cell_train, W3 rate_shared) against the PyTorch anchor"
if [[ ${R[build]} == ok* ]] && [ "$(left)" -gt 30 ]; then
    t=$(date +%s)
    timeout "$(cap 200)" make -j"$(nproc)" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDA_GENCODE="$GENCODE" \
        build/cuda/bin/bench_cell_train build/cuda/bin/bench_rate_shared >>"$OUT_DIR/build.log" 2>&1
    timeout "$(cap 60)" build/cuda/bin/bench_cell_train 30 --backend cuda 2>&1 | tee "$OUT_DIR/bench.log"
    timeout "$(cap 90)" build/cuda/bin/bench_rate_shared --w3 --backend cuda 2>&1 | tee -a "$OUT_DIR/bench.log"
    ours_w1=$(grep -o 'cell_train backend=cuda img_per_s=[0-9.]*' "$OUT_DIR/bench.log" | sed 's/.*=//')
    ours_w3=$(grep -o 'rate_shared_w3 backend=cuda .*paths_per_s=[0-9.]*' "$OUT_DIR/bench.log" | sed 's/.*=//')
    torch_w1=$(grep -o 'W1 cell_train: .* \([0-9.]*\) img/s' "$OUT_DIR/torch_cell.log" 2>/dev/null |
        sed -E 's/.* ([0-9.]+) img\/s/\1/')
    torch_w3=$(grep -o 'W3 cell_rate_shared: .* -> [0-9.]* paths/s' "$OUT_DIR/torch_cell.log" 2>/dev/null |
        sed -E 's/.* ([0-9.]+) paths\/s/\1/')
    ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "n/a"; }
    R[bench]="W1 ${ours_w1:-?} img/s vs PyTorch ${torch_w1:-?} = $(ratio "$ours_w1" "$torch_w1") (goal >= 1.3x); W3 ${ours_w3:-?} paths/s vs ${torch_w3:-?} = $(ratio "$ours_w3" "$torch_w3") ($(step_time "$t") s)"
else
    R[bench]="skipped (no build or out of time)"
fi
echo "${R[bench]}"

echo "== memcheck (part of test_gpu under compute-sanitizer)"
SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
if [[ ${R[build]} == ok* ]] && [ -x "$SAN" ] && [ "$(left)" -gt 40 ]; then
    t=$(date +%s)
    timeout "$(cap 90)" "$SAN" --tool memcheck --error-exitcode 3 build/cuda/bin/test_gpu \
        gpu_op_gap,gpu_op_scale_ch,gpu_op_softmax_ce,gpu_op_mse,gpu_op_rel_l1,gpu_op_linear,gpu_op_adam,gpu_op_bn_ \
        >"$OUT_DIR/memcheck.log" 2>&1
    rc=$?
    R[memcheck]="exit $rc in $(step_time "$t") s ($(grep -c 'Invalid\|ERROR SUMMARY: [1-9]' "$OUT_DIR/memcheck.log") error lines; 124 = out of time)"
else
    R[memcheck]="skipped (no build, no compute-sanitizer, or out of time)"
fi
echo "${R[memcheck]}"

echo
echo "==================== dna CUDA device check ($(step_time "$T0") s) ===================="
for k in machine deps build test anchor bench memcheck; do
    printf '%-9s %s\n' "$k:" "${R[$k]:-}"
done
if [ -s "$OUT_DIR/closest.txt" ]; then
    echo "closest to tolerance (fraction used):"
    sed 's/^/  /' "$OUT_DIR/closest.txt"
fi
echo "logs:     $OUT_DIR"
exit $status
