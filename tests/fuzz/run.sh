#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz (libFuzzer, ASan + UBSan): each replays its checked-in
# seed corpus (tests/fuzz/corpus/<target>, regression inputs included) and mutates it, for at
# least FUZZ_RUNS inputs within FUZZ_MAX_SECONDS. A crash, sanitizer report, hang (-timeout),
# out-of-memory or fewer inputs than asked fails the target; its input is kept under
# build/fuzz/artifacts/. New inputs go to a scratch directory, never into the checkout.
# Usage: tests/fuzz/run.sh [BIN_DIR]   (default build/fuzz/bin, built with `make fuzz` here)
#        FUZZ_TARGETS="fuzz_idx fuzz_csv" tests/fuzz/run.sh   only those
#        FUZZ_SECONDS=180 tests/fuzz/run.sh   the long run: each target for that many seconds,
#        in restarts of at most 10 s and 20,000 inputs that keep a growing corpus in
#        build/fuzz/corpus/<target> (the error paths leak by design: dna_fatal ends the
#        process in the program).
# Prints "ok   fuzz_<target> ..." / "FAIL ..." per target and "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
bin=${1:-build/fuzz/bin}
runs=${FUZZ_RUNS:-2000}
max_seconds=${FUZZ_MAX_SECONDS:-60}
long=${FUZZ_SECONDS:-0}
targets=${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/\(fuzz_.*\)\.c|\1|')}
passed=0 failed=0 skipped=0

skip_all() {
    local t
    for t in $targets; do echo "skip $t: $1"; skipped=$((skipped + 1)); done
    echo "$passed passed, $failed failed, $skipped skipped"
    exit 0
}

# clang with libFuzzer (Debian: clang and libclang-rt-dev, scripts/setup.sh installs them)
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
    rm -rf "$probe"; skip_all "no clang (install clang and libclang-rt-dev)"
fi
if ! "${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    rm -rf "$probe"; skip_all "clang cannot link libFuzzer (install libclang-rt-dev)"
fi
rm -rf "$probe"
if [ "$bin" = build/fuzz/bin ]; then
    mkdir -p build
    # its own make: not a sub-make of `make test` (no jobserver to share)
    if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 fuzz >/dev/null 2>build/fuzz-make.log; then
        cat build/fuzz-make.log
        echo "FAIL make fuzz"
        echo "$passed passed, 1 failed, $skipped skipped"
        exit 1
    fi
    rm -f build/fuzz-make.log
fi

export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p build/fuzz/artifacts

# run_one TARGET SCRATCH RUNS SECONDS: one libFuzzer process; sets n (inputs run) and rc
run_one() {
    local t=$1 dir=$2 r=$3 s=$4 log=$2/log
    FUZZ_SCRATCH=$dir "$bin/$t" -runs="$r" -max_total_time="$s" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=2048 \
        -max_len=8192 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "tests/fuzz/corpus/${t#fuzz_}" >"$log" 2>&1
    rc=$?
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    n=${n:-0}
}

for t in $targets; do
    if [ ! -x "$bin/$t" ]; then
        echo "FAIL $t: $bin/$t not built"; failed=$((failed + 1)); continue
    fi
    dir=$(mktemp -d -p "$([ -w /dev/shm ] && echo /dev/shm || echo /tmp)")  # the targets' files too
    mkdir -p "$dir/corpus"
    start=$(date +%s)
    total=0 rc=0
    if [ "$long" -gt 0 ]; then  # the long run: restarts until the time is spent
        mkdir -p "build/fuzz/corpus/$t"
        rmdir "$dir/corpus" && ln -s "$PWD/build/fuzz/corpus/$t" "$dir/corpus"
        while [ $rc -eq 0 ]; do
            left=$((long - ($(date +%s) - start)))
            [ $left -le 0 ] && break
            run_one "$t" "$dir" 20000 $((left < 10 ? left : 10))
            total=$((total + n))
        done
    else
        run_one "$t" "$dir" "$runs" "$max_seconds"
        total=$n
    fi
    secs=$(($(date +%s) - start))
    art=$(ls "$dir" | grep -E '^(crash|leak|oom|timeout|slow-unit)-' | head -1)
    if [ $rc -eq 0 ] && [ -z "$art" ] && [ "$total" -ge "$runs" ]; then
        echo "ok   $t ($total inputs, ${secs} s)"
        passed=$((passed + 1))
    else
        echo "FAIL $t (exit $rc, $total inputs, ${secs} s)"
        grep -E 'ERROR|SUMMARY|runtime error|fuzz:' "$dir/log" | head -5 | sed 's/^/     /'
        if [ -n "$art" ]; then
            cp "$dir/$art" "build/fuzz/artifacts/$t-$art"
            echo "     input: build/fuzz/artifacts/$t-$art (reproduce: $bin/$t build/fuzz/artifacts/$t-$art)"
        fi
        failed=$((failed + 1))
    fi
    rm -rf "$dir"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
