#!/usr/bin/env bash
# The stages on the emulated device (build/cuda/emu/dna, made by tests/gpu/emu/run.sh): a
# cut-down tiny pipeline (data .. search) on 1 rank with --backend cpu and --backend cuda of
# the same binary, compared; then, through the NCCL stand-in, the teacher on 2 ranks and a
# one-job space trained by a group of 2 ranks against 1 rank, each rank on an emulated GPU
# of its own (EMU_GPU_PER_RANK=1: NCCL refuses two ranks on one GPU); the teacher again with
# both ranks on one GPU (sums through the host, the same numbers) and with NCCL failing
# (the run must end, not hang). First, the backend's choice (auto, a driver error, ranks
# sharing a GPU) from `dna version`. It shows that every stage runs on the CUDA backend and
# computes what the CPU backend computes (up to float rounding, which training amplifies:
# hence the loose tolerances), not its speed.
# Prints "N passed, N failed". About 2 minutes on 2 cores.
# Usage: tests/gpu/emu/pipeline.sh [OUT_DIR]
set -u
cd "$(dirname "$0")/../../.."
bin=build/cuda/emu/dna
[ -x "$bin" ] || { echo "run tests/gpu/emu/run.sh first (it links $bin)"; exit 2; }
out=${1:-$(mktemp -d)}
mkdir -p "$out"
# teacher.epochs=4: a teacher that has learned something (50% top-1 here, 13% after 1
# epoch), so that comparing its accuracy across backends and rank counts means something
O=(inputs/tiny.cfg data.limit_train=250 data.limit_test=100 data.search_per_class=5
   teacher.batch=16 teacher.eval_batch=50 teacher.epochs=4 features.batch=50 train.epochs=1 train.batch=16
   rate.limit=5 rate.batch=5 rate.recal_batch=8 "space.block3=1x12 2x16")
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

rm -rf "$out/cpu" "$out/cuda" "$out/np2" "$out/np2s" "$out/np2f" "$out/g1" "$out/g2" "$out"/*.log
mpi2() { OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --allow-run-as-root "$@"; }
# says() WANT CMD...: CMD's output (stdout and stderr) has WANT; says_not likewise hasn't
says() { local want=$1; shift; "$@" 2>&1 | grep -q -- "$want"; }
says_not() { local want=$1; shift; ! "$@" 2>&1 | grep -q -- "$want"; }
fails() { ! "$@" >/dev/null 2>&1; }
check emu_backend_auto_says_why says 'backend auto: cuda (1 device(s) visible)' "$bin" version
check emu_backend_auto_no_device says 'backend auto: cpu (no CUDA device: cudaErrorNoDevice' \
    env EMU_NODEV=1 "$bin" version
# a driver error is not "no device": auto warns with it and takes the CPU, cuda stops
DRV=(env EMU_DEVICE_ERROR=cudaErrorInsufficientDriver "$bin" version)
check emu_backend_auto_driver_error_warns says \
    'warning: backend auto: the CUDA runtime failed (cudaErrorInsufficientDriver' "${DRV[@]}"
check emu_backend_auto_driver_error_runs_on_cpu says 'backend cpu' "${DRV[@]}"
check emu_backend_cuda_driver_error_fatal says \
    'backend cuda: the CUDA runtime failed on rank 0: cudaErrorInsufficientDriver' "${DRV[@]}" --backend cuda
check emu_backend_cuda_driver_error_exit fails "${DRV[@]}" --backend cuda
# two ranks on one GPU are told so; two ranks with a GPU each (--gpus-per-task=1) are not
check emu_shared_gpu_warned says 'ranks share a GPU on 1 host(s): ranks 0 and 1' \
    mpi2 "$bin" version --backend cuda
check emu_own_gpus_not_warned says_not 'share' mpi2 -x EMU_GPU_PER_RANK=1 "$bin" version --backend cuda
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
EMU_GPU_PER_RANK=1 NCCL_DEBUG=INFO mpi2 "$bin" teacher "${O[@]}" run.out_dir="$out/np2" \
    --backend cuda >"$out/np2.log" 2>&1
n=$(top1 "$out/np2.log")
echo "     teacher test top-1 on 2 ranks: $n%"
nccl_run() { grep -q 'Init COMPLETE' "$out/np2.log" && near "$n" "$c" 5; }
check emu_teacher_2ranks_nccl nccl_run
# both ranks on one GPU: NCCL would refuse them, so their sums go through the host, with
# one warning, and give the NCCL run's numbers
mkdir -p "$out/np2s/tiny" && cp "$r/dataset.h5" "$out/np2s/tiny/"
NCCL_DEBUG=INFO mpi2 "$bin" teacher "${O[@]}" run.out_dir="$out/np2s" --backend cuda >"$out/np2s.log" 2>&1
ns=$(top1 "$out/np2s.log")
echo "     teacher test top-1 on 2 ranks sharing a GPU: $ns%"
host_path() {
    [ "$(grep -c 'through host memory and MPI, not NCCL: ranks 0 and 1 share GPU' "$out/np2s.log")" = 1 ] &&
        ! grep -q 'Init COMPLETE' "$out/np2s.log" && near "$ns" "$n" 0.001
}
check emu_teacher_2ranks_shared_gpu_host_path host_path
# NCCL failing after its first sum (a peer lost): the ranks stop with NCCL's error, fast
mkdir -p "$out/np2f/tiny" && cp "$r/dataset.h5" "$out/np2f/tiny/"
EMU_GPU_PER_RANK=1 EMU_NCCL_ASYNC_ERROR=1 OMP_NUM_THREADS=1 timeout 120 mpirun -np 2 --oversubscribe \
    --allow-run-as-root "$bin" teacher "${O[@]}" run.out_dir="$out/np2f" --backend cuda >"$out/np2f.log" 2>&1
rc=$?
check emu_nccl_async_error_ends_the_run bash -c "[ $rc != 0 ] && [ $rc != 124 ] &&
    grep -q 'NCCL: a collective failed asynchronously' '$out/np2f.log'"
# a rank group (R > J): one job, 2 ranks sharing it (NCCL-summed gradients, synchronised BN)
# must follow the 1-rank run up to summation order. Only the train stage is compared: its
# inputs (data, teacher, features) are made on the CPU backend, and on fewer images (6 steps)
G=("${O[@]}" data.limit_train=150 "teacher.stages=ir_r1_k3_s2_e3_c12_se0.25" teacher.blocks=0
   "space.block1=2x12" space.block2= space.block3=)
for s in data teacher features; do
    OMP_NUM_THREADS=1 "$bin" "$s" "${G[@]}" run.out_dir="$out/g1" --backend cpu >>"$out/g1.log" 2>&1
done
OMP_NUM_THREADS=1 "$bin" train "${G[@]}" run.out_dir="$out/g1" --backend cuda >>"$out/g1.log" 2>&1
mkdir -p "$out/g2/tiny" && cp -r "$out/g1/tiny/dataset.h5" "$out/g1/tiny/teacher.h5" "$out/g1/tiny/features" "$out/g2/tiny/"
EMU_GPU_PER_RANK=1 NCCL_DEBUG=INFO mpi2 "$bin" train "${G[@]}" run.out_dir="$out/g2" --backend cuda \
    >"$out/g2.log" 2>&1
mse() { grep -o "train mse [0-9.]*  val mse [0-9.]*" "$1" | tail -1; }
m1=$(mse "$out/g1.log") m2=$(mse "$out/g2.log")
echo "     one job: 1 rank: ${m1:-none}; group of 2: ${m2:-none}"
same_mse() {
    grep -q 'one rank group per job\|rank groups' "$out/g2.log" && grep -q 'Init COMPLETE' "$out/g2.log" &&
        [ -n "$m1" ] && [ -n "$m2" ] &&
        awk -v a="$m1" -v b="$m2" 'BEGIN { split(a, x, " "); split(b, y, " ");
            for (i = 3; i <= 6; i += 3) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 1e-3 * x[i]) exit 1 } }'
}
check emu_group_of_2_follows_1_rank same_mse
echo "emu pipeline: $passed passed, $failed failed"
[ "$failed" = 0 ]
