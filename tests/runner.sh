# tests/runner.sh — the test runner's functions, sourced by tests/run.sh and by its self-test
# (tests/run_selftest.sh). A suite is a command that prints "ok   NAME" / "FAIL NAME ..." /
# "skip NAME ..." lines and ends with "N passed, N failed[, N skipped]". It counts only if
# it also exits 0 within its time limit: a suite that times out, dies of a signal, exits
# non-zero after reporting no failure (a LeakSanitizer report after the closing line, a crash
# in teardown) or prints no result line counts as one more failure, with the reason.
# Uses the caller's: passed failed skipped (the counters), log (a scratch file), bin (the
# binaries' folder), self and only (for `section`). Sourced from the checkout's root.

# Sanitizer builds: leaks are checked in the unit-test binaries, which run all library code
# without MPI (tests/lsan.supp says why it suppresses nothing; a leak exits with 23). Full
# stacks, so that a leak through a library names our function. Processes that initialise
# Open MPI (test_mpi, dna: MPI_ASAN) are not leak-checked: Open MPI's dlopen'ed components
# leave allocations behind at MPI_Finalize, and once unloaded they cannot be suppressed by
# name. ASan's other checks and UBSan stay on.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0:exitcode=23"
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0"
MPI_ASAN="detect_leaks=0"

# Open MPI's PMIx picks its munge security plugin wherever munge is installed, and when munged
# is not running (a stale socket: slurm-local.sh installs munge) every MPI start retries it
# for 2.6 s. The tests run their ranks on this host only, where PMIx's native security is
# what it would fall back to anyway.
export PMIX_MCA_psec=${PMIX_MCA_psec:-native}

# seconds between TERM and KILL for a suite past its limit
SUITE_KILL_AFTER=${SUITE_KILL_AFTER:-30}

# suite TITLE LIMIT_S [--hide-ok] COMMAND...: prints "== TITLE", runs COMMAND as a suite
# (--hide-ok: its "ok" lines go to the log only). A no-op inside a section's own process.
suite() {
    [ -z "${only:-}" ] || return 0
    echo "== $1"
    run_suite "$@"
}

run_suite() {  # run_suite TITLE LIMIT_S [--hide-ok] COMMAND...: suite, without the title
    local title=$1 limit=$2 filter=(cat) rc t0=$SECONDS
    shift 2
    [ "$1" = --hide-ok ] && filter=(grep -vE '^ok ') && shift
    # timeout signals COMMAND's whole process group: mpirun and the ranks, a stage's children.
    # That group is not the terminal's: stdin from /dev/null, so nothing stops on a tty read.
    timeout --signal=TERM --kill-after="$SUITE_KILL_AFTER" "$limit" "$@" </dev/null 2>&1 | tee "$log" | "${filter[@]}"
    rc=${PIPESTATUS[0]}
    count "$title" "$rc" "$limit" $((SECONDS - t0))
    echo "   ($((SECONDS - t0)) s of its $limit s limit)"  # where CI's time goes
    last_check=$SECONDS
}

# count TITLE RC LIMIT_S SECONDS: adds the last result line in $log to the counters, then
# judges the exit status RC of a suite that ran SECONDS of its LIMIT_S
count() {
    if [ $# != 4 ]; then  # the old `... | tee "$log"; count`, which loses the exit status
        echo "FAIL count called as 'count $*': run a suite with: suite TITLE LIMIT_S COMMAND..."
        failed=$((failed + 1))
        return
    fi
    local title=$1 rc=$2 limit=$3 took=$4 line why="" p=0 f=0 s=0
    line=$(grep -E '(^|[^0-9])[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/(^|.*[^0-9])([0-9]+) passed.*/\2/' <<<"$line")
        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        grep -qE ' [0-9]+ skipped' <<<"$line" && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    fi
    if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$took" -ge "$limit" ]; }; then
        why="timed out: still running after its limit of $limit s, killed"
    elif [ "$rc" -gt 128 ]; then
        why="killed by signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    elif [ -z "$line" ]; then
        why="no result line 'N passed, N failed' (exit status $rc)"
    elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        why="exit status $rc after reporting 0 failures"
    fi
    [ "$rc" = 23 ] && [ -n "$why" ] && why="$why; 23: LeakSanitizer found leaks"
    if [ -n "$why" ]; then
        echo "FAIL suite '$title': $why"
        failed=$((failed + 1))
    fi
}

# section FUNCTION LIMIT_S: the tests written as the shell function FUNCTION run as a suite:
# the script ($self) runs itself as `$self $bin --section FUNCTION` under the same timeout,
# and that process (only=FUNCTION) calls FUNCTION, prints its counts and exits.
section() {
    if [ -z "${only:-}" ]; then
        run_suite "$1" "$2" "$self" "$bin" --section "$1"
    elif [ "$only" = "$1" ]; then
        "$1"
        echo "$passed passed, $failed failed, $skipped skipped"
        exit $((failed > 0))
    fi
}

# cli NAME EXPECTED_EXIT GREP_PATTERN ARGS...: `$bin/dna ARGS` exits with exactly
# EXPECTED_EXIT and prints a line matching GREP_PATTERN (dna's errors exit with 1)
cli() {
    local name=$1 want=$2 pat=$3 t0=$SECONDS
    shift 3
    local out rc why
    out=$(ASAN_OPTIONS=$MPI_ASAN "$bin/dna" "$@" 2>&1)
    rc=$?
    if [ "$rc" != "$want" ]; then
        why="exit $rc, expected $want"
        [ "$rc" -gt 128 ] && why="$why: killed by signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    elif ! grep -qE "$pat" <<<"$out"; then
        why="exit $rc, but no line matches '$pat'"
    else
        echo "ok   $name$(took "$t0")"; passed=$((passed + 1)); last_check=$SECONDS; return
    fi
    echo "FAIL $name ($why): $out"; failed=$((failed + 1)); last_check=$SECONDS
}

# took T0: "  (N s)" when N = SECONDS - T0 is 3 or more, so that CI's log shows which test
# costs what; a check's time is that of the commands since the previous check (its setup)
last_check=$SECONDS
took() { local n=$((SECONDS - $1)); [ $n -lt 3 ] || echo "  ($n s)"; }

check() {  # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then echo "ok   $name$(took "$last_check")"; passed=$((passed + 1)); else echo "FAIL $name"; cat "$log"; failed=$((failed + 1)); fi
    last_check=$SECONDS
}

# release_only NAME...: true in the release pass; in the sanitizer pass it prints "skip NAME"
# for each and is false. For checks that rerun code this pass has already run, only to compare
# the numbers (their setup is what costs: minutes under ASan, where CI's time goes).
release_only() {
    case $(cd "$bin" && pwd -P) in */build/san/bin) ;; *) return 0 ;; esac
    local n
    for n; do
        echo "skip $n: release pass only (it reruns code this pass has run, to compare numbers)"
        skipped=$((skipped + 1))
    done
    return 1
}

# checkout_snapshot DIR STAMP: records DIR's `git status --porcelain` in STAMP (whose mtime
# marks the start); checkout_changes DIR STAMP: prints what changed in DIR since: its git
# status, and every file or folder written since (ignored ones too, outside .git and build/,
# where the build writes: the fuzz targets are built by their suite)
checkout_snapshot() {
    git -C "$1" status --porcelain --untracked-files=all >"$2"
}
checkout_changes() {
    local now
    now=$(git -C "$1" status --porcelain --untracked-files=all)
    [ "$now" = "$(cat "$2")" ] || diff <(cat "$2") <(echo "$now") | sed -n 's/^[<>] /git status: /p'
    (cd "$1" && find . \( -path ./.git -o -path ./build \) -prune -o -newer "$2" -print |
        sed 's|^\./|written: |')
}
