#!/usr/bin/env bash
# [run] strict_determinism through the whole program on the emulated device
# (build/cuda/emu/dna, made by tests/gpu/emu/run.sh), on a tiny teacher: with the cuDNN
# stand-in offering no deterministic algorithm (EMU_CUDNN_NONDET_ONLY=1), strict_determinism
# = 1 stops the stage at its first convolution (exit 1) with an error naming the key and the
# shape; without the key the stage completes and warns once per shape and direction; without
# the variable nothing warns; a value other than 0 or 1 is refused naming the key.
# tests/gpu/test_gpu_determinism.c checks the values computed. About 6 s on 2 cores.
# Prints "N passed, N failed". Usage: tests/gpu/emu/determinism.sh
set -u
cd "$(dirname "$0")/../../.." || exit 2
bin=build/cuda/emu/dna
[ -x "$bin" ] || { echo "run tests/gpu/emu/run.sh first (it links $bin)"; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
O=(inputs/tiny.cfg data.limit_train=64 data.limit_test=32 data.search_per_class=1
   teacher.batch=16 teacher.eval_batch=32 teacher.epochs=1 run.out_dir="$out")
passed=0 failed=0
check() {  # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
teacher() {  # teacher LOG [KEY=VALUE...]: exit status of dna teacher on the emulated GPU
    local log=$1; shift
    OMP_NUM_THREADS=1 "$bin" teacher "${O[@]}" "$@" --backend cuda --force >"$out/$log" 2>&1
}
warnings() { grep -c 'warning: conv2d' "$out/$1"; }

"$bin" data "${O[@]}" --backend cpu >"$out/data.log" 2>&1 || { cat "$out/data.log"; exit 1; }

EMU_CUDNN_NONDET_ONLY=1 teacher strict.log run.strict_determinism=1
rc=$?
check "strict_fails" [ "$rc" = 1 ]
check "strict_names_key_and_shape" grep -q \
    'conv2d forward x \[16,1,32,32\] co 8 k 3 stride 2 pad 1 groups 1: cuDNN offers no deterministic FP32 algorithm and \[run\] strict_determinism = 1' \
    "$out/strict.log"
check "strict_says_fix" grep -q 'fix: set \[run\] strict_determinism = 0' "$out/strict.log"

EMU_CUDNN_NONDET_ONLY=1 teacher fallback.log
rc=$?
check "fallback_completes" [ "$rc" = 0 ]
check "fallback_warns" [ "$(warnings fallback.log)" -gt 0 ]
once() {  # each shape and direction warned once (the time stamps cut off)
    [ -z "$(grep -o 'warning: conv2d.*' "$out/fallback.log" | sort | uniq -d)" ]
}
check "fallback_warns_once_per_plan" once
dirs() {  # as many shapes warned for each direction
    local f b w
    f=$(grep -c 'warning: conv2d forward ' "$out/fallback.log")
    b=$(grep -c 'warning: conv2d backward data ' "$out/fallback.log")
    w=$(grep -c 'warning: conv2d backward filter ' "$out/fallback.log")
    [ "$f" -gt 0 ] && [ "$f" = "$b" ] && [ "$f" = "$w" ]
}
check "fallback_warns_every_direction" dirs

teacher plain.log
rc=$?
check "deterministic_completes" [ "$rc" = 0 ]
check "deterministic_silent" [ "$(warnings plain.log)" = 0 ]

teacher bad.log run.strict_determinism=2
rc=$?
check "bad_value_refused" [ "$rc" = 1 ]
check "bad_value_names_key" grep -q "run.strict_determinism = '2'; expected one of 0|1" "$out/bad.log"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
