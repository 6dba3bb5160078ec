#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one go and under 8 minutes, with only what a
# bare GPU machine has: cc, nvcc, cuBLAS, cuDNN and optionally NCCL (either may be a Python
# wheel, nvidia-cudnn-* / nvidia-nccl-*), PyTorch; no network, no MPI, HDF5 or OpenBLAS. It
# never installs anything. One summary line per step:
#   machine    nvidia-smi's GPU, driver, memory, compute capability
#   discovery  where cuDNN and NCCL were found (`make discover`: CUDA_HOME, *_HOME, wheels)
#   build      make CUDA=1 DEVICE_ONLY=1: build/device/bin/{test_gpu,bench_cell_train,
#              bench_rate_shared}, one rank without MPI, a plain C GEMM for the CPU reference
#   test       test_gpu: every op, a cell's training step and its rating, GPU against CPU
#   anchor     ../shared/anchors/torch_cell.py W1, W3, W3R with cuDNN autotuning, in FP32
#              (its default, the arithmetic of our kernels) and again with --tf32
#   bench_w1   bench_cell_train: img/s and the ratio to PyTorch FP32, TF32 beside it
#   bench_w3   bench_rate_shared --w3 (per-path BN recalibration, so against PyTorch's W3R)
#   memcheck   part of test_gpu under compute-sanitizer, where it exists and is allowed; it
#              never changes the exit status
# The full `make CUDA=1` is not tried even where MPI, HDF5 and OpenBLAS happen to be there:
# one path, the one tests/gpu/offline_check.sh proves on a machine without them, and the
# GPU code it tests is the same.
# Usage: tests/gpu/device_check.sh [OUT_DIR]   (default: $OUT, else /tmp/dna-device-check)
#        tests/gpu/device_check.sh --ratios DIR   (only the bench lines, from DIR's logs)
# Exit status: 0 when test_gpu ran, passed and skipped nothing; 3 when everything built but
# no CUDA device was visible; 1 otherwise.
set -u
cd "$(dirname "$0")/../.." || exit 1

num() {  # num FILE PATTERN: the number after PATTERN (e.g. img_per_s=) in FILE's last match
    grep -o "$2[0-9.]*" "$1" 2>/dev/null | tail -1 | sed "s/^$2//"
}
anchor_value() {  # anchor_value JSON WORKLOAD KEY: a figure of torch_cell.py's --json output
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
        "$1" "$2" "$3" 2>/dev/null
}
ratio() {  # ratio OURS THEIRS
    if [ -n "$1" ] && [ -n "$2" ]; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
    else
        echo "n/a"
    fi
}
# The bench_w1 and bench_w3 lines from DIR/bench.log (ours) and DIR/anchor_{fp32,tf32}.json.
bench_lines() {
    local d=$1 w1 w3 f1 t1 f3 t3 f3p
    w1=$(num "$d/bench.log" 'cell_train backend=cuda img_per_s=')
    w3=$(num "$d/bench.log" 'rate_shared_w3 backend=cuda .*paths_per_s=')
    f1=$(anchor_value "$d/anchor_fp32.json" w1_cell_train images_per_s_median)
    t1=$(anchor_value "$d/anchor_tf32.json" w1_cell_train images_per_s_median)
    f3=$(anchor_value "$d/anchor_fp32.json" w3r_cell_rate_shared_recal paths_per_s)
    t3=$(anchor_value "$d/anchor_tf32.json" w3r_cell_rate_shared_recal paths_per_s)
    f3p=$(anchor_value "$d/anchor_fp32.json" w3_cell_rate_shared paths_per_s)
    printf 'bench_w1 ours %s img/s: %s PyTorch FP32 (%s), %s TF32 (%s); goal >= 1.3x FP32\n' \
        "${w1:-?}" "$(ratio "$w1" "$f1")" "${f1:-?}" "$(ratio "$w1" "$t1")" "${t1:-?}"
    printf 'bench_w3 ours %s paths/s: %s PyTorch W3R FP32 (%s), %s TF32 (%s); W3 without recal FP32 %s\n' \
        "${w3:-?}" "$(ratio "$w3" "$f3")" "${f3:-?}" "$(ratio "$w3" "$t3")" "${t3:-?}" "${f3p:-?}"
}
if [ "${1:-}" = --ratios ]; then
    bench_lines "$2"
    exit 0
fi

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
declare -A R  # step -> its summary line
since() { echo $(($(date +%s) - $1)); }
status=1
device=unknown  # yes, no (test_gpu saw none), unknown (test_gpu did not run)

echo "== machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
        >"$OUT_DIR/gpu.txt" 2>&1
else
    echo "nvidia-smi not found" >"$OUT_DIR/gpu.txt"
fi
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then
    CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")")
fi
R[machine]="$(head -1 "$OUT_DIR/gpu.txt"); CUDA_HOME=$CUDA_HOME; $(nproc) cores"
echo "${R[machine]}"

echo "== discovery"
GENCODE="-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
if [ -n "$CAP" ] && [ "$CAP" -lt 90 ] 2>/dev/null; then
    GENCODE="$GENCODE -gencode arch=compute_$CAP,code=sm_$CAP"  # PTX 9.0 does not run below 9.0
fi
MK=(make CUDA=1 DEVICE_ONLY=1 CUDA_HOME="$CUDA_HOME" CUDA_GENCODE="$GENCODE")
"${MK[@]}" -s discover >"$OUT_DIR/discover.txt" 2>&1
cat "$OUT_DIR/discover.txt"
version() {  # version HEADER PREFIX: MAJOR.MINOR.PATCH from a library's version defines
    [ -f "$1" ] || return
    local v=""
    for p in MAJOR MINOR PATCH; do
        v="$v.$(sed -nE "s/^#define ${2}_${p}[A-Z]* +([0-9]+).*/\1/p" "$1" | head -1)"
    done
    echo " ${v#.}"
}
cudnn_home=$(sed -n 's/^cuDNN: \(\/[^ ]*\).*/\1/p' "$OUT_DIR/discover.txt")
nccl_home=$(sed -n 's/^NCCL:  \(\/[^ ]*\).*/\1/p' "$OUT_DIR/discover.txt")
R[discovery]="cuDNN$(version "$cudnn_home/include/cudnn_version.h" CUDNN) at ${cudnn_home:-?}; NCCL$(version "$nccl_home/include/nccl.h" NCCL) at ${nccl_home:-none}"
grep -q '^nvcc: .*(missing)' "$OUT_DIR/discover.txt" && R[discovery]="NO nvcc; ${R[discovery]}"
grep -q '^cuBLAS: .*MISSING' "$OUT_DIR/discover.txt" && R[discovery]="${R[discovery]}; NO cuBLAS in $CUDA_HOME/lib64"
echo "${R[discovery]}"

echo "== build (make CUDA=1 DEVICE_ONLY=1)"
# relinked every time (seconds), so the binaries' rpath names this machine's library folders
# even when build/device was built elsewhere and carried here
rm -f build/device/bin/*
t=$(date +%s)
timeout "$(cap 240)" "${MK[@]}" -j"$(nproc)" >"$OUT_DIR/build.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
    R[build]="ok in $(since "$t") s, $(grep -c -i 'warning' "$OUT_DIR/build.log") warning lines"
else
    R[build]="FAILED (exit $rc$([ $rc -eq 124 ] && echo ': out of time')) after $(since "$t") s"
    tail -20 "$OUT_DIR/build.log"
fi
echo "${R[build]}"
built() { [[ ${R[build]} == ok* ]]; }

echo "== test_gpu"
if built; then
    t=$(date +%s)
    GPU_TEST_VERBOSE=1 timeout "$(cap 150)" build/device/bin/test_gpu >"$OUT_DIR/test_gpu.log" 2>&1
    rc=$?
    grep -E '^(gpu:|ok |FAIL|skip)|passed, ' "$OUT_DIR/test_gpu.log"
    grep -E '^    .*:[0-9]+: ' "$OUT_DIR/test_gpu.log" | head -40  # failure details
    last=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$OUT_DIR/test_gpu.log" | tail -1)
    R[test]="${last:-no result line} (exit $rc, $(since "$t") s)"
    if grep -q '^skip gpu:' "$OUT_DIR/test_gpu.log"; then
        device=no
        status=3
        R[test]="NO CUDA DEVICE VISIBLE $(grep -m1 '^skip gpu:' "$OUT_DIR/test_gpu.log" |
            sed 's/^skip gpu: no CUDA device visible *//') (exit $rc)"
    else
        device=yes
        # exit 0 and a closing line with tests run, none failed, none skipped
        [ $rc -eq 0 ] && [[ $last =~ ^[1-9][0-9]*\ passed,\ 0\ failed,\ 0\ skipped ]] && status=0
    fi
    # the comparisons closest to their tolerance
    grep -E 'worst|rel L2' "$OUT_DIR/test_gpu.log" |
        sed -E 's/.*[ (]([0-9.]+|inf|nan) of tolerance.*/\1 &/' | sort -gr | head -8 |
        cut -d' ' -f2- >"$OUT_DIR/closest.txt"
else
    R[test]="not run (no build)"
fi
echo "${R[test]}"
# why a device step did not run: no build, no device, or no time
blocked() {
    ! built && echo "no build" && return
    [ $device = no ] && echo "no CUDA device visible" && return
    [ "$(left)" -lt "$1" ] && echo "out of time ($(left) s left)"
}

echo "== PyTorch anchor (FP32, then TF32)"
ANCHOR=""
for a in ../shared/anchors/torch_cell.py shared/anchors/torch_cell.py; do
    [ -f "$a" ] && ANCHOR=$a && break
done
anchor() {  # anchor fp32|tf32 [torch_cell.py options]
    local why t rc lines
    why=$(blocked 40)
    [ -z "$why" ] && [ -z "$ANCHOR" ] && why="torch_cell.py not found"
    [ -z "$why" ] && ! python3 -c 'import torch' 2>/dev/null && why="no PyTorch for python3"
    if [ -n "$why" ]; then
        R[anchor_$1]="skipped ($why)"
        return
    fi
    t=$(date +%s)
    timeout "$(cap 120)" python3 "$ANCHOR" --device cuda --cudnn-benchmark --workloads w1,w3,w3r \
        "${@:2}" --json "$OUT_DIR/anchor_$1.json" >"$OUT_DIR/anchor_$1.log" 2>&1
    rc=$?
    lines=$(grep -E '^W[0-9]' "$OUT_DIR/anchor_$1.log")
    [ -n "$lines" ] || lines=$(tail -1 "$OUT_DIR/anchor_$1.log")
    echo "$lines"
    R[anchor_$1]="exit $rc in $(since "$t") s: $(echo "$lines" | sed -E 's/  +/ /g' | cut -c1-60 | paste -sd'|')"
}
anchor fp32
echo "${R[anchor_fp32]}"

echo "== GPU benchmarks (W1 bench_cell_train, W3 bench_rate_shared --w3)"
why=$(blocked 30)
if [ -z "$why" ]; then
    t=$(date +%s)
    timeout "$(cap 60)" build/device/bin/bench_cell_train 30 --backend cuda >"$OUT_DIR/bench.log" 2>&1
    timeout "$(cap 90)" build/device/bin/bench_rate_shared --w3 --backend cuda >>"$OUT_DIR/bench.log" 2>&1
    cat "$OUT_DIR/bench.log"
    bench_time=$(since "$t")
else
    R[bench_w1]="skipped ($why)"
    R[bench_w3]="skipped ($why)"
fi

anchor tf32 --tf32
echo "${R[anchor_tf32]}"
if [ -z "$why" ]; then  # the ratios once both anchors are in
    while read -r k rest; do R[$k]="$rest"; done < <(bench_lines "$OUT_DIR")
    R[bench_w1]="${R[bench_w1]} (both benchmarks $bench_time s)"
    echo "${R[bench_w1]}"
    echo "${R[bench_w3]}"
fi

echo "== memcheck (part of test_gpu under compute-sanitizer)"
SAN=$(command -v compute-sanitizer || echo "$CUDA_HOME/bin/compute-sanitizer")
why=$(blocked 40)
[ -z "$why" ] && [ ! -x "$SAN" ] && why="no compute-sanitizer"
if [ -z "$why" ]; then
    t=$(date +%s)
    timeout "$(cap 90)" "$SAN" --tool memcheck --error-exitcode 3 build/device/bin/test_gpu \
        gpu_op_gap,gpu_op_scale_ch,gpu_op_softmax_ce,gpu_op_mse,gpu_op_rel_l1,gpu_op_linear,gpu_op_adam,gpu_op_bn_ \
        >"$OUT_DIR/memcheck.log" 2>&1
    rc=$?
    case $rc in
        0) what="clean" ;;
        3) what="ERRORS: $(grep -c 'Invalid' "$OUT_DIR/memcheck.log") invalid accesses, see memcheck.log" ;;
        124) what="out of time" ;;
        *) what="did not run properly (refused here?): $(grep -m1 -i 'error' "$OUT_DIR/memcheck.log" | cut -c1-80)" ;;
    esac
    R[memcheck]="exit $rc in $(since "$t") s: $what"
else
    R[memcheck]="skipped ($why)"
fi
echo "${R[memcheck]}"

echo
echo "==================== dna CUDA device check ($(since "$T0") s) ===================="
for k in machine discovery build test anchor_fp32 anchor_tf32 bench_w1 bench_w3 memcheck; do
    printf '%-12s %s\n' "$k:" "${R[$k]:-}"
done
if [ -s "$OUT_DIR/closest.txt" ]; then
    echo "closest to tolerance (fraction used):"
    sed 's/^/  /' "$OUT_DIR/closest.txt"
fi
echo "logs:        $OUT_DIR"
case $status in
    0) echo "result:      PASS" ;;
    3) echo "result:      built; NO CUDA DEVICE VISIBLE, so nothing on a GPU ran" ;;
    *) echo "result:      FAIL" ;;
esac
exit $status
