#!/usr/bin/env bash
# The stages on the emulated device (build/cuda/emu/dna, made by tests/gpu/emu/run.sh): a
# cut-down tiny pipeline (data .. search) on 1 rank with --backend cpu and --backend cuda of
# the same binary, compared; then, through the NCCL stand-in, the teacher on 2 ranks and a
# one-job space trained by a group of 2 ranks against 1 rank. It shows
# that every stage runs on the CUDA backend and computes what the CPU backend computes (up
# to float rounding, which training amplifies: hence the loose tolerances), not its speed.
# Prints "N passed, N failed". About 10 minutes on 2 cores.
# Usage: tests/gpu/emu/pipeline.sh [OUT_DIR]
set -u
cd "$(dirname "$0")/../../.."
bin=build/cuda/emu/dna
[ -x "$bin" ] || { echo "run tests/gpu/emu/run.sh first (it links $bin)"; exit 2; }
out=${1:-$(mktemp -d)}
mkdir -p "$out"
O=(inputs/tiny.cfg data.limit_train=250 data.limit_test=100 data.search_per_class=5
   teacher.batch=16 teacher.eval_batch=50 features.batch=50 train.epochs=1 train.batch=16
   rate.limit=10 rate.batch=10 rate.recal_batch=16 "space.block3=1x12 2x16")
passed=0 failed=0
check() {  # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
stages() {  # stages BACKEND RUN_DIR [mpirun...]: data .. search, log in RUN_DIR.log
    local b=$1 d=$2 s
    shift 2
    for s in data teacher features train rate search; do
        OMP_NUM_THREADS=1 "$@" "$bin" "$s" "${O[@]}" run.out_dir="$d" --backend "$b" >>"$d.log" 2>&1 ||
            { echo "$s failed on $b:"; tail -5 "$d.log"; return 1; }
    done
}
top1() { grep -o 'teacher: test top-1 [0-9.]*' "$1" | tail -1 | grep -o '[0-9.]*$'; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(a != "" && b != "" && d <= t && -d <= t) }'; }

rm -rf "$out/cpu" "$out/cuda" "$out/np2" "$out/g1" "$out/g2" "$out"/*.log
for b in cpu cuda; do
    t=$(date +%s)
    check "emu_stages_${b}" stages "$b" "$out/$b"
    echo "     $b: $(($(date +%s) - t)) s"
done
r=$out/cuda/tiny
check emu_backend_recorded bash -c "h5dump -a backend '$r/potentials.h5' | grep -q '\"cuda\"' &&
    h5dump -a backend_lib '$r/potentials.h5' | grep -q 'emulated GPU'"
a=$(top1 "$out/cpu.log") c=$(top1 "$out/cuda.log")
echo "     teacher test top-1: cpu $a%, cuda $c%"
check emu_teacher_top1_close near "$a" "$c" 2
jobs=$(grep -c 'train mse, first' "$out/cuda.log")
check emu_every_job_loss_falls bash -c "[ $jobs = 6 ] && ! grep -q 'DOES NOT FALL' '$out/cuda.log'"
# the path ratings of the two backends rank alike (per block Kendall tau)
"$bin" rank --compare "$out/cpu/tiny" "$r" >"$out/compare.txt" 2>&1
cat "$out/compare.txt"
check emu_ratings_rank_alike awk '$1 ~ /^[0-9]+$/ { n++; if ($3 < 0.9) bad++ } END { exit !(n == 3 && !bad) }' "$out/compare.txt"
# data parallelism through the NCCL stand-in: the teacher on 2 ranks
mkdir -p "$out/np2/tiny" && cp "$r/dataset.h5" "$out/np2/tiny/"
OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --allow-run-as-root "$bin" teacher "${O[@]}" \
    run.out_dir="$out/np2" --backend cuda >"$out/np2.log" 2>&1
n=$(top1 "$out/np2.log")
echo "     teacher test top-1 on 2 ranks: $n%"
check emu_teacher_2ranks_nccl near "$n" "$c" 5
# a rank group (R > J): one job, 2 ranks sharing it (NCCL-summed gradients, synchronised BN)
# must follow the 1-rank run up to summation order
G=("${O[@]}" "teacher.stages=ir_r1_k3_s2_e3_c12_se0.25" teacher.blocks=0 "space.block1=2x12"
   space.block2= space.block3=)
for s in data teacher features train; do
    OMP_NUM_THREADS=1 "$bin" "$s" "${G[@]}" run.out_dir="$out/g1" --backend cuda >>"$out/g1.log" 2>&1
done
mkdir -p "$out/g2/tiny" && cp -r "$out/g1/tiny/dataset.h5" "$out/g1/tiny/teacher.h5" "$out/g1/tiny/features" "$out/g2/tiny/"
OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --allow-run-as-root "$bin" train "${G[@]}" \
    run.out_dir="$out/g2" --backend cuda >"$out/g2.log" 2>&1
mse() { grep -o "train mse [0-9.]*  val mse [0-9.]*" "$1" | tail -1; }
m1=$(mse "$out/g1.log") m2=$(mse "$out/g2.log")
echo "     one job: 1 rank: ${m1:-none}; group of 2: ${m2:-none}"
same_mse() {
    grep -q 'one rank group per job\|rank groups' "$out/g2.log" && [ -n "$m1" ] && [ -n "$m2" ] &&
        awk -v a="$m1" -v b="$m2" 'BEGIN { split(a, x, " "); split(b, y, " ");
            for (i = 3; i <= 6; i += 3) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 1e-3 * x[i]) exit 1 } }'
}
check emu_group_of_2_follows_1_rank same_mse
echo "emu pipeline: $passed passed, $failed failed"
[ "$failed" = 0 ]
