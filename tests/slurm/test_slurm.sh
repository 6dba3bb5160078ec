#!/usr/bin/env bash
# tests/slurm/test_slurm.sh BIN_DIR — the slurm/ scripts on a real single-node Slurm
# (slurm-local.sh: Slurm 22.05, munge, PMIx): the tiny pipeline as a chain of CPU jobs on
# 2 ranks, a chain whose first stage fails (its dependants are cancelled, never run), a
# resubmitted chain (every stage skips itself), the seed x fraction sweep (the task -> run
# mapping of all 9 tasks, a held array of 9, and 2 tasks run for real with the compare job
# after them), and preemption: a chain whose train job reaches its time limit mid-run, stops
# on Slurm's SIGUSR1 (exit 75), requeues itself, resumes and completes bitwise equal to an
# uninterrupted training, the rest of the chain after it; the requeue guard (DNA_MAX_REQUEUE);
# DNA+ generations: `--generations 2` held (8 + 7 + 1 jobs, each afterok the one before,
# plus.generation=2 on generation 2's; --generations 1 is the plain chain; a bad G is
# refused) and a real 2-generation chain (gen2/ searched and retrained, the root report's
# generations table; skipped where this dna has no [plus] keys). Prints "ok   NAME" /
# "FAIL NAME ..." / "skip NAME: why" per check and ends with "N passed, N failed, N skipped".
#
# Needs root and $SLURM_LOCAL (default /work/shared/tools/slurm-local.sh); without them, or
# when `slurm-local.sh start` fails, it skips. A Slurm that already answers is used as it is
# (start would restart daemons whose config differs); otherwise it starts one with
# SLURM_LOCAL_CPUS=4 (2-rank jobs side by side on a 2-core runner) and LEAVES IT RUNNING
# (`slurm-local.sh stop` stops it). It cancels only the jobs it submitted.
# DNA_SLURM_TEST_TIMEOUT: seconds to wait for all the jobs, from the first submission
# (default 900: the preempted train job and the reference training share the cores, and
# the 16 jobs of the 2-generation chain share the node's 4 CPUs with the others);
# DNA_SLURM_TEST_KEEP=1 keeps the outputs and job logs (the directory is printed).
set -euo pipefail
# the jobs run with Slurm's PMIx (munge, running here) as a user's would, not with the native
# security that tests/runner.sh sets for the tests' own local ranks
unset PMIX_MCA_psec
bin=$(cd "${1:-bin}" && pwd)
cd "$(dirname "$0")/../.."
root=$PWD
slurm_local=${SLURM_LOCAL:-/work/shared/tools/slurm-local.sh}
timeout=${DNA_SLURM_TEST_TIMEOUT:-900}
passed=0 failed=0 skipped=0
t0=$SECONDS

skip_all() {
    echo "skip slurm_tests: $1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}
[ "$(id -u)" = 0 ] || skip_all "not root (slurm-local.sh installs packages and starts daemons)"
[ -x "$slurm_local" ] || skip_all "no executable $slurm_local (set SLURM_LOCAL)"
[ -x "$bin/dna" ] || skip_all "no $bin/dna (build it first)"

tmp=$(mktemp -d /tmp/dna-slurm-test.XXXXXX)
ours=()  # every job id submitted here: cancelled (by id) if still queued when the test ends
ref_pid=""  # the uninterrupted reference training (preemption), in the background
cleanup() {
    local id
    [ -z "$ref_pid" ] || kill "$ref_pid" 2>/dev/null || true
    for id in "${ours[@]}"; do
        squeue -h -j "$id" -o %i 2>/dev/null | grep -q . && scancel "$id" 2>/dev/null
    done
    if [ "${DNA_SLURM_TEST_KEEP:-0}" = 1 ]; then echo "   (kept $tmp)"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

if command -v scontrol >/dev/null && scontrol ping >/dev/null 2>&1; then
    echo "   (Slurm already running: using it as it is)"
else
    echo "   (starting Slurm: $slurm_local start)"
    if ! SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-4} "$slurm_local" start >"$tmp/start.log" 2>&1; then
        reason=$(grep -v '^\s*$' "$tmp/start.log" | tail -1) || true
        skip_all "slurm-local.sh start failed: ${reason:-no output}"
    fi
fi
cpus=$(sinfo -h -o %c 2>/dev/null | sort -n | tail -1)
[ "${cpus:-0}" -ge 2 ] || skip_all "the Slurm node has ${cpus:-no} CPUs; 2-rank jobs need 2"

ok() { echo "ok   $1"; passed=$((passed + 1)); }
skip() { echo "skip $1: $2"; skipped=$((skipped + 1)); }
fail() {  # fail NAME WHY [LOG...]: the why, then the tail of each log given
    local name=$1 why=$2 f
    shift 2
    echo "FAIL $name: $why"
    for f in "$@"; do [ -e "$f" ] && { echo "  --- $f"; tail -15 "$f" | sed 's/^/  /'; }; done
    failed=$((failed + 1))
}

# The jobs run this checkout's binaries from BIN_DIR: the site set-up override (the
# scripts' DNA_SITE_SETUP hook) points them there.
cat >"$tmp/site.sh" <<EOF
DNA_ROOT=$root
DNA_BIN=$bin
PATH=$bin:\$PATH
# the test node may advertise more CPUs than there are cores: MPI ranks waiting in a
# collective must give the core away instead of spinning
export OMPI_MCA_mpi_yield_when_idle=1
EOF
export DNA_SITE_SETUP=$tmp/site.sh
# one core per rank (the scripts' default 8 do not fit), a time limit so nothing lingers
export DNA_SBATCH_OPTS="--cpus-per-task=1 --time=10"
unset DNA_LOG_DIR DNA_SWEEP_ARRAY DNA_ROOT DNA_BIN
logs=$tmp/slurm-logs
stages=(data teacher features train rate search retrain report)
chain_pipeline=() chain_failing=() chain_resubmitted=() chain_preempt=()

# ---------------------------------------------------------------- job states
# Each poll records every job's last seen state: a finished job's record disappears from
# slurmctld after MinJobAge (300 s by default; slurm-local.sh keeps it).
declare -A state reason exitc
final_re='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)$'
poll() {
    local line key
    while IFS= read -r line; do
        [[ $line =~ (^|[[:space:]])JobId=([0-9]+) ]] || continue
        key=${BASH_REMATCH[2]}
        # array tasks as ARRAYID_TASK (as sweep.sh's ids are); the pending array's own
        # record (ArrayTaskId=0-1) is skipped
        if [[ $line =~ [[:space:]]ArrayJobId=([0-9]+)[[:space:]].*ArrayTaskId=([^[:space:]]+) ]]; then
            key=${BASH_REMATCH[1]}_${BASH_REMATCH[2]}
            [[ $key =~ ^[0-9]+_[0-9]+$ ]] || continue
        fi
        [[ $line =~ [[:space:]]JobState=([^[:space:]]+) ]] && state[$key]=${BASH_REMATCH[1]}
        [[ $line =~ [[:space:]]Reason=([^[:space:]]+) ]] && reason[$key]=${BASH_REMATCH[1]}
        [[ $line =~ [[:space:]]ExitCode=([^[:space:]]+) ]] && exitc[$key]=${BASH_REMATCH[1]}
    done < <(scontrol -o show job 2>/dev/null)
}
wait_jobs() {  # wait_jobs KEY...: until every job is in a final state; 1 on the timeout
    local k pending
    while :; do
        poll
        pending=0
        for k in "$@"; do [[ ${state[$k]:-} =~ $final_re ]] || pending=1; done
        [ $pending = 0 ] && return 0
        if [ $((SECONDS - t_jobs)) -ge "$timeout" ]; then
            echo "  (timed out after ${timeout}s; queue:)"
            squeue -o '%.10i %.12j %.9T %r' | sed 's/^/  /'
            return 1
        fi
        sleep 2
    done
}
all_completed() {  # all_completed KEY...: every job COMPLETED with exit code 0:0
    local k
    [ $# -gt 0 ] || { echo "no jobs were submitted"; return 1; }
    for k in "$@"; do
        [ "${state[$k]:-}" = COMPLETED ] && [ "${exitc[$k]:-}" = 0:0 ] || {
            echo "job $k: ${state[$k]:-never seen} (${reason[$k]:-}, exit ${exitc[$k]:-?})"
            return 1
        }
    done
}

# submit_chain NAME ARGS...: slurm/pipeline.sh ARGS -> chain_NAME (the 8 job ids); checks
# its output: "<id> <stage>" per stage in order, then the last id alone
submit_chain() {
    local name=$1 out
    shift
    if ! out=$(slurm/pipeline.sh "$@" 2>&1); then
        fail "slurm_${name}_submits" "slurm/pipeline.sh $*: $out"
        return 1
    fi
    local -a ids=() got=()
    while read -r a b; do
        if [ -n "$b" ]; then ids+=("$a") got+=("$b"); fi
    done <<<"$out"
    ours+=("${ids[@]}")
    eval "chain_$name=(\"\${ids[@]}\")"
    if [ "${got[*]}" = "${stages[*]}" ] && [ "$(tail -1 <<<"$out")" = "${ids[7]}" ]; then
        ok "slurm_${name}_submits"
    else
        fail "slurm_${name}_submits" "unexpected output: $out"
    fi
}

t_jobs=$SECONDS

# ---------------------------------------------------------------- the sweep, not run
# every task's command (DNA_DRY_RUN prints what srun would start), out-of-range tasks refused
sweep_mapping() {
    local i out want=(seed0_frac100:0:1.0 seed0_frac80:0:0.8 seed0_frac40:0:0.4
        seed41_frac100:41:1.0 seed41_frac80:41:0.8 seed41_frac40:41:0.4
        seed42_frac100:42:1.0 seed42_frac80:42:0.8 seed42_frac40:42:0.4)
    for i in 0 1 2 3 4 5 6 7 8; do
        IFS=: read -r n s f <<<"${want[i]}"
        out=$(SLURM_ARRAY_TASK_ID=$i DNA_DRY_RUN=1 DNA_CFG=inputs/tiny.cfg DNA_ARGS="run.out_dir=$tmp" \
            DNA_ROOT=$root DNA_BIN=$bin bash slurm/sweep.sbatch 2>&1) || { echo "task $i: $out"; return 1; }
        grep -q "command   srun --mpi=pmix .*/dna run inputs/tiny.cfg run.out_dir=$tmp run.name=$n train.seed=$s train.fraction=$f\$" <<<"$out" ||
            { echo "task $i: $out"; return 1; }
    done
    out=$(SLURM_ARRAY_TASK_ID=9 DNA_DRY_RUN=1 DNA_CFG=inputs/tiny.cfg DNA_ROOT=$root bash slurm/sweep.sbatch 2>&1) &&
        { echo "task 9 accepted: $out"; return 1; }
    grep -q "sweep task '9' is not in 0-8" <<<"$out" || { echo "task 9: $out"; return 1; }
}
if why=$(sweep_mapping); then ok slurm_sweep_task_mapping; else fail slurm_sweep_task_mapping "$why"; fi

# the GPU script (this node has no GPUs to submit it to), outside Slurm: one rank per GPU,
# srun given the job's cores and GPUs per task, OpenMP threads = cores per task
gpu_script() {
    local out
    out=$(SLURM_JOB_ID=1 SLURM_NTASKS=8 SLURM_CPUS_PER_TASK=8 SLURM_GPUS_PER_TASK=1 DNA_DRY_RUN=1 DNA_STAGE=train \
        DNA_CFG=inputs/tiny.cfg DNA_ARGS="run.name=x 'teacher.stages=a b'" DNA_ROOT=$root DNA_BIN=$bin bash slurm/stage.sbatch 2>&1) &&
        grep -q "ranks     8, cpus/rank 8, gpus/rank 1, OMP_NUM_THREADS 8" <<<"$out" &&
        grep -q "command   srun --mpi=pmix --cpus-per-task=8 --gpus-per-task=1 $bin/dna train inputs/tiny.cfg run.name=x teacher.stages=a b\$" <<<"$out" ||
        { echo "$out"; return 1; }
    # the resources pipeline.sh and sweep.sh read from it
    grep -q '^#SBATCH --gpus-per-task=1$' slurm/stage.sbatch && grep -q '^#SBATCH --ntasks-per-node=' slurm/stage.sbatch
}
if why=$(gpu_script); then ok slurm_gpu_script_dry_run; else fail slurm_gpu_script_dry_run "$why"; fi

# the full sweep, held: an array of the 9 tasks and a compare job afterok on all of them
held_sweep() {
    local out arr cmp a c
    out=$(DNA_SBATCH_OPTS="$DNA_SBATCH_OPTS --hold" slurm/sweep.sh inputs/tiny.cfg --cpu --ranks 2 run.out_dir="$tmp/held" 2>&1) ||
        { echo "sweep.sh: $out"; return 1; }
    arr=$(awk '$2 == "sweep" { print $1 }' <<<"$out") cmp=$(awk '$2 == "compare" { print $1 }' <<<"$out")
    ours+=("$arr" "$cmp")
    a=$(scontrol -o show job "$arr" 2>&1 | head -1) c=$(scontrol -o show job "$cmp" 2>&1)
    scancel "$arr" "$cmp" 2>/dev/null
    [ "$(tail -1 <<<"$out")" = "$cmp" ] || { echo "last line is not the compare job: $out"; return 1; }
    grep -q "ArrayTaskId=0-8 " <<<"$a" && grep -q "JobName=dna-sweep " <<<"$a" && grep -q "NumTasks=2 " <<<"$a" ||
        { echo "array: $a"; return 1; }
    grep -q "Dependency=afterok:${arr}_\*" <<<"$c" && grep -q "JobName=dna-compare " <<<"$c" && grep -q "NumTasks=1 " <<<"$c" ||
        { echo "compare job: $c"; return 1; }
}
if why=$(held_sweep); then ok slurm_sweep_array_of_9; else fail slurm_sweep_array_of_9 "$why"; fi
# (held_sweep ran in a subshell: its ids are cancelled already)

# DNA+, held: --generations 2 submits generation 1's 8 jobs, generation 2's 7 (no data;
# plus.generation=2, job names dna-g2-STAGE) and the root report, each afterok the one
# before, every one with plus.generations=2. An sbatch in front of the real one records
# each job's stage and DNA_ARGS (or, with FAKE_ID, answers for it: nothing submitted).
# --generations 1 submits exactly the plain chain; a bad G is refused, nothing submitted.
plus_held() {
    local rec=$tmp/plus-sbatch out a b c i k line g args
    local -a ids=() got=() want=() names=() info=() pipe=(slurm/pipeline.sh inputs/tiny.cfg --cpu --ranks 2)
    mkdir -p "$rec"
    cat >"$rec/sbatch" <<EOF
#!/bin/bash
printf '%s|%s\n' "\$DNA_STAGE" "\$DNA_ARGS" >>"$rec/calls"
[ -z "\${FAKE_ID:-}" ] || { echo "\$FAKE_ID"; exit 0; }
exec $(command -v sbatch) "\$@"
EOF
    chmod +x "$rec/sbatch"
    for k in "${stages[@]}"; do want+=("$k 1") names+=("dna-$k"); done
    for k in "${stages[@]:1}"; do want+=("$k 2") names+=("dna-g2-$k"); done
    want+=("report all") names+=(dna-report-all)
    out=$(PATH=$rec:$PATH DNA_SBATCH_OPTS="$DNA_SBATCH_OPTS --hold" "${pipe[@]}" --generations 2 \
        run.out_dir="$tmp/held" run.name=plus 2>&1) || { echo "pipeline.sh: $out"; return 1; }
    while read -r a b c; do
        if [ -n "$b" ]; then ids+=("$a") got+=("$b $c"); fi
    done <<<"$out"
    for i in "${!ids[@]}"; do info+=("$(scontrol -o show job "${ids[i]}" 2>&1)"); done
    [ ${#ids[@]} = 0 ] || scancel "${ids[@]}" 2>/dev/null
    [ "$(printf '%s,' "${got[@]}")" = "$(printf '%s,' "${want[@]}")" ] && [ "$(tail -1 <<<"$out")" = "${ids[15]}" ] ||
        { echo "unexpected output: $out"; return 1; }
    for i in "${!ids[@]}"; do
        line=${info[i]} g=${want[i]#* } args="run.out_dir=$tmp/held run.name=plus plus.generations=2 "
        [ "$g" != 2 ] || args+="plus.generation=2 "
        grep -q "JobName=${names[i]} " <<<"$line" && grep -q "JobState=PENDING Reason=JobHeldUser " <<<"$line" ||
            { echo "job $i: $line"; return 1; }
        case ${want[i]%% *} in data | search | report) k=1 ;; *) k=2 ;; esac
        grep -q "NumTasks=$k " <<<"$line" || { echo "job $i not $k task(s): $line"; return 1; }
        if [ "$i" = 0 ]; then k="Dependency=(null) "; else k="Dependency=afterok:${ids[i - 1]}("; fi
        grep -qF "$k" <<<"$line" || { echo "job $i not $k...: $line"; return 1; }
        [ "$(sed -n "$((i + 1))p" "$rec/calls")" = "${want[i]%% *}|$args" ] ||
            { echo "job $i: $(sed -n "$((i + 1))p" "$rec/calls"), not ${want[i]%% *}|$args"; return 1; }
    done
    # --generations 1: the plain chain, the same jobs and table, no plus.* keys
    rm "$rec/calls"
    a=$(FAKE_ID=7 PATH=$rec:$PATH "${pipe[@]}" run.out_dir="$tmp/held" 2>&1) && mv "$rec/calls" "$rec/calls.plain" &&
        b=$(FAKE_ID=7 PATH=$rec:$PATH "${pipe[@]}" --generations=1 run.out_dir="$tmp/held" 2>&1) &&
        [ "$a" = "$b" ] && cmp -s "$rec/calls" "$rec/calls.plain" && [ "$(wc -l <"$rec/calls")" = 8 ] &&
        ! grep -q plus "$rec/calls" || { echo "--generations=1: $b"; cat "$rec/calls"; return 1; }
    rm "$rec/calls"
    for g in 0 17 x; do
        out=$(FAKE_ID=7 PATH=$rec:$PATH "${pipe[@]}" --generations "$g" 2>&1) && { echo "G=$g accepted"; return 1; }
        [ $? = 2 ] && [ "$out" = "pipeline.sh: --generations '$g' is not a number from 1 to 16" ] || { echo "G=$g: $out"; return 1; }
    done
    out=$(FAKE_ID=7 PATH=$rec:$PATH "${pipe[@]}" --generations 2>&1) && { echo "no G accepted"; return 1; }
    [ $? = 2 ] && [ "$out" = "pipeline.sh: --generations needs a number" ] || { echo "no G: $out"; return 1; }
    out=$(FAKE_ID=7 PATH=$rec:$PATH "${pipe[@]}" --generations 2 plus.generation=2 2>&1) && { echo "plus.generation accepted"; return 1; }
    [ $? = 2 ] && grep -q "each job's generation is set by --generations" <<<"$out" || { echo "plus.generation=2: $out"; return 1; }
    [ ! -e "$rec/calls" ] || { echo "submitted after an error:"; cat "$rec/calls"; return 1; }
}
if why=$(plus_held); then ok slurm_plus_generations_held; else fail slurm_plus_generations_held "$why"; fi

# the end of a job outside Slurm, with stand-ins for srun (dna's exit status: STUB_RC, 75 =
# stopped and checkpointed) and scontrol (records its arguments): 75 requeues the job, which
# ends 0; a job requeued DNA_MAX_REQUEUE times already is not, and ends 75; any other status
# passes through without a requeue
requeue_guard() {
    local stub=$tmp/stub out rc
    mkdir -p "$stub"
    printf '#!/bin/sh\nexit ${STUB_RC:-75}\n' >"$stub/srun"
    printf '#!/bin/sh\necho "$@" >>%s/calls\n' "$stub" >"$stub/scontrol"
    chmod +x "$stub/srun" "$stub/scontrol"
    job() { env PATH="$stub:$PATH" SLURM_JOB_ID=4242 DNA_STAGE=train DNA_CFG=inputs/tiny.cfg DNA_ROOT="$root" "$@" bash slurm/stage_cpu.sbatch 2>&1; }
    out=$(job STUB_RC=75) && [ "$(cat "$stub/calls")" = "requeue 4242" ] &&
        grep -q '^== requeued job 4242 (requeue 1 of at most 20)' <<<"$out" || { echo "75: $out"; return 1; }
    out=$(job STUB_RC=75 SLURM_RESTART_COUNT=3 DNA_MAX_REQUEUE=3)
    rc=$?
    [ $rc = 75 ] && [ "$(wc -l <"$stub/calls")" = 1 ] &&
        grep -q 'not requeued: job 4242 was requeued 3 time(s) already (DNA_MAX_REQUEUE=3)' <<<"$out" ||
        { echo "past the limit (exit $rc): $out"; return 1; }
    out=$(job STUB_RC=1)
    rc=$?
    [ $rc = 1 ] && [ "$(wc -l <"$stub/calls")" = 1 ] || { echo "exit 1 (exit $rc): $out"; return 1; }
}
if why=$(requeue_guard); then ok slurm_requeue_on_75_and_guard; else fail slurm_requeue_on_75_and_guard "$why"; fi

# ---------------------------------------------------------------- jobs that run
# All submitted at once so they overlap: the tiny pipeline on 2 ranks, a chain whose first
# stage fails (an unknown config key), 2 tasks of the sweep with the compare job, and the
# tiny pipeline for 2 DNA+ generations (16 jobs: the longest chain, so it goes first).
plus_c=0 chain_plus=() plus_out=""
if "$bin/dna" help config 2>/dev/null | grep -q '^\[plus\]'; then
    plus_c=1
    plus_out=$(slurm/pipeline.sh inputs/tiny.cfg --cpu --ranks 2 --generations 2 run.out_dir="$tmp" run.name=plus 2>&1) || true
    read -ra chain_plus <<<"$(awk 'NF == 3 { printf "%s ", $1 }' <<<"$plus_out")"
    ours+=("${chain_plus[@]}")
fi
submit_chain pipeline inputs/tiny.cfg --cpu --ranks 2 run.out_dir="$tmp"
submit_chain failing inputs/tiny.cfg --cpu --ranks 2 run.out_dir="$tmp" run.name=bad teacher.epochz=3
sweep_out=$(DNA_SWEEP_ARRAY=0-1 slurm/sweep.sh inputs/tiny.cfg --cpu --ranks 2 run.out_dir="$tmp" 2>&1) || true
sweep_arr=$(awk '$2 == "sweep" { print $1 }' <<<"$sweep_out")
sweep_cmp=$(awk '$2 == "compare" { print $1 }' <<<"$sweep_out")
ours+=(${sweep_arr:+"$sweep_arr"} ${sweep_cmp:+"$sweep_cmp"})

# ---------------------------------------------------------------- preemption
# A chain whose train job has a 1-minute limit and asks for SIGUSR1 20 s before it. Slurm
# looks every 30 s and sends the signal at the first look with at most lead + 30 s left: 10
# to 40 s into the job, while it trains (train.epochs=40: about 75 s on 2 ranks on a quiet
# runner, twice the latest signal; 20 epochs, 37 s, once finished before the signal came).
# Every rank checkpoints, dna exits 75 and the job requeues itself (its dependants stay
# pending). The other jobs get 10 minutes (on a busy machine they too could meet the signal:
# correct, but 2 more minutes). Slurm holds a requeued job about 2 minutes (its begin time,
# AuthInfo cred_expire, plus up to a scheduling interval); the test gives the train job a
# longer limit, so that its rerun ends in one go instead of being stopped again every minute,
# then moves its begin time to now (the rerun still waits until its first run has been
# cleaned up: Slurm's "Cleaning" reason), and trains the same supernet uninterrupted outside
# Slurm to compare (in the background: the jobs' states are polled meanwhile).
preempt_args=(run.out_dir="$tmp" run.name=preempt train.epochs=40)
opts_saved=$DNA_SBATCH_OPTS
export DNA_SBATCH_OPTS="--cpus-per-task=1 --time=1" DNA_SIGNAL_LEAD=20
submit_chain preempt inputs/tiny.cfg --cpu --ranks 2 "${preempt_args[@]}"
export DNA_SBATCH_OPTS=$opts_saved
unset DNA_SIGNAL_LEAD
for i in 0 1 2 4 5 6 7; do
    [ -z "${chain_preempt[i]:-}" ] || scontrol update JobId="${chain_preempt[i]}" TimeLimit=10 || true
done
preempt_requeued() {  # the train job of the chain was requeued (0), or ended without (1)
    local id=${chain_preempt[3]:-} line
    [ -n "$id" ] || return 1
    while [ $((SECONDS - t_jobs)) -lt "$timeout" ]; do
        poll  # the other jobs' states meanwhile: finished ones are forgotten after MinJobAge
        line=$(scontrol -o show job "$id" 2>/dev/null)
        [[ $line =~ Restarts=[1-9] ]] && return 0
        [[ $line =~ JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT) ]] && return 1
        sleep 2
    done
    return 1
}
preempt_ok=0
if preempt_requeued; then
    preempt_ok=1
    scontrol update JobId="${chain_preempt[3]}" TimeLimit=10
    # no need to wait out Slurm's requeue delay (where refused, the job waits it out)
    scontrol update JobId="${chain_preempt[3]}" StartTime=now 2>/dev/null || true
    mkdir -p "$tmp/preempt_ref"
    cp -r "$tmp/preempt/dataset.h5" "$tmp/preempt/teacher.h5" "$tmp/preempt/features" "$tmp/preempt_ref/"
    OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --allow-run-as-root "$bin/dna" train inputs/tiny.cfg \
        "${preempt_args[@]}" run.name=preempt_ref >"$tmp/preempt_ref.log" 2>&1 &
    ref_pid=$!
fi

# the pipeline: every job completed, on 2 MPI ranks, outputs and logs in place
wait_jobs "${chain_pipeline[@]}" || true
if why=$(all_completed "${chain_pipeline[@]}"); then
    ok slurm_pipeline_completed
else
    chain_logs=()  # those of the jobs that did not complete
    for i in "${!chain_pipeline[@]}"; do
        [ "${state[${chain_pipeline[i]}]:-}" = COMPLETED ] || chain_logs+=("$logs/dna-${stages[i]}-${chain_pipeline[i]}.out")
    done
    fail slurm_pipeline_completed "$why" "${chain_logs[@]}"
fi
pipeline_outputs() {
    local i f r=$tmp/tiny
    for f in arch.json retrain.json; do [ -s "$r/$f" ] || { echo "no $r/$f"; return 1; }; done
    # report.md only where this dna has the report stage
    if "$bin/dna" help 2>/dev/null | grep -q '^  report '; then
        [ -s "$r/report.md" ] || { echo "no $r/report.md"; return 1; }
    fi
    for i in "${!stages[@]}"; do
        f=$logs/dna-${stages[i]}-${chain_pipeline[i]}.out
        grep -q "^== dna ${stages[i]} ended .*exit status 0$" "$f" || { echo "$f:"; tail -5 "$f"; return 1; }
    done
    # srun --mpi=pmix gave dna 2 MPI ranks (not 2 singletons), 1 OpenMP thread each
    grep -q '(2 rank(s))' "$logs/dna-teacher-${chain_pipeline[1]}.out" &&
        grep -q 'ranks     2, cpus/rank 1, gpus/rank 0, OMP_NUM_THREADS 1' "$logs/dna-train-${chain_pipeline[3]}.out" ||
        { echo "not 2 ranks:"; head -12 "$logs/dna-teacher-${chain_pipeline[1]}.out"; return 1; }
}
if why=$(pipeline_outputs); then ok slurm_pipeline_outputs_logs_2ranks; else fail slurm_pipeline_outputs_logs_2ranks "$why"; fi

# resubmitting the finished chain continues it: every job completes, the stages with
# outputs skip themselves (search, cheap, searches again; report is always rewritten)
submit_chain resubmitted inputs/tiny.cfg --cpu --ranks 2 run.out_dir="$tmp"
failing_and_sweep=("${chain_failing[@]}" ${sweep_arr:+"${sweep_arr}_0" "${sweep_arr}_1"} ${sweep_cmp:+"$sweep_cmp"})
wait_jobs "${chain_resubmitted[@]}" "${failing_and_sweep[@]}" || true
resumed() {
    local i f
    all_completed "${chain_resubmitted[@]}" || return 1
    for i in 0 1 2 3 4 6; do  # data teacher features train rate retrain
        f=$logs/dna-${stages[i]}-${chain_resubmitted[i]}.out
        grep -q 'is complete; skipping' "$f" || { echo "$f did not skip:"; tail -5 "$f"; return 1; }
    done
}
if why=$(resumed); then ok slurm_resubmitted_chain_skips; else fail slurm_resubmitted_chain_skips "$why"; fi

# the failing chain: the first stage failed with dna's error, every dependant was
# cancelled without starting (no log file), nothing was retrained
failing_chain() {
    local i k
    k=${chain_failing[0]}
    [ "${state[$k]:-}" = FAILED ] && [ "${exitc[$k]:-}" = 1:0 ] || { echo "data job $k: ${state[$k]:-?} exit ${exitc[$k]:-?}"; return 1; }
    grep -q "unknown key 'epochz' in \[teacher\]" "$logs/dna-data-$k.out" || { echo "no error in the data log"; return 1; }
    for i in 1 2 3 4 5 6 7; do
        k=${chain_failing[i]}
        [ "${state[$k]:-}" = CANCELLED ] && [ "${reason[$k]:-}" = DependencyNeverSatisfied ] ||
            { echo "${stages[i]} job $k: ${state[$k]:-?} (${reason[$k]:-?})"; return 1; }
        [ ! -e "$logs/dna-${stages[i]}-$k.out" ] || { echo "${stages[i]} job $k ran"; return 1; }
    done
    [ ! -e "$tmp/bad/retrain.json" ] || { echo "$tmp/bad/retrain.json exists"; return 1; }
}
if why=$(failing_chain); then ok slurm_failed_stage_cancels_chain; else fail slurm_failed_stage_cancels_chain "$why"; fi

# the sweep's 2 tasks: both runs complete with their seed and fraction, the compare job
# compared the pair it has and skipped the 3 it has not
sweep_ran() {
    [ -n "$sweep_arr" ] && [ -n "$sweep_cmp" ] || { echo "sweep.sh: $sweep_out"; return 1; }
    all_completed "${sweep_arr}_0" "${sweep_arr}_1" "$sweep_cmp" || return 1
    local f=$logs/dna-compare-$sweep_cmp.out
    [ -s "$tmp/seed0_frac100/retrain.json" ] && [ -s "$tmp/seed0_frac80/retrain.json" ] || { echo "runs missing"; return 1; }
    grep -q 'command   .*/dna run inputs/tiny.cfg run.out_dir=.* run.name=seed0_frac80 train.seed=0 train.fraction=0.8$' \
        "$logs/dna-sweep-${sweep_arr}_1.out" || { echo "task 1 ran something else"; return 1; }
    grep -q "^rank --compare A=$tmp/seed0_frac100 B=$tmp/seed0_frac80" "$f" && grep -qE '^ +3 +[0-9]+ +[-0-9.]+ +[-0-9.]+' "$f" &&
        [ "$(grep -c 'skipped: no potentials.h5' "$f")" = 3 ] && grep -q '^== 1 comparison(s), exit status 0$' "$f" &&
        [ -s "$tmp/rank_compare_seed0_frac100_vs_seed0_frac80.csv" ] || { echo "$f:"; cat "$f"; return 1; }
}
if why=$(sweep_ran); then ok slurm_sweep_2_tasks_and_compare; else fail slurm_sweep_2_tasks_and_compare "$why"; fi

# the preempted chain: train stopped on the signal (exit 75), was requeued, resumed from its
# checkpoints and completed; every later stage ran; the supernet equals the uninterrupted one
wait_jobs "${chain_preempt[@]}" || true
[ -z "$ref_pid" ] || wait "$ref_pid" || true
ref_pid=""
preempted() {
    local id=${chain_preempt[3]} f
    [ $preempt_ok = 1 ] || { echo "train job $id was not requeued (${state[$id]:-?}, ${reason[$id]:-?})"; tail -8 "$logs/dna-train-$id.out"; return 1; }
    all_completed "${chain_preempt[@]}" || return 1
    f=$logs/dna-train-$id.out
    grep -q 'train: stopped by a signal; every job checkpointed; rerun the same command to resume (exit 75)' "$f" &&
        grep -q '^== dna train ended .*exit status 75$' "$f" && grep -q '^   started .* (requeued 1 time(s))$' "$f" &&
        grep -q 'train: block [0-9] cell [0-9] resumes at epoch' "$f" && grep -q '^== dna train ended .*exit status 0$' "$f" ||
        { echo "$f:"; grep -E '^==|stopped|resumes|started' "$f"; return 1; }
    [ -s "$tmp/preempt/report.md" ] && [ -s "$tmp/preempt/retrain.json" ] || { echo "no report.md or retrain.json"; return 1; }
    [ "$(ls "$tmp/preempt_ref/ckpt/"*.h5 2>/dev/null | wc -l)" = 6 ] || { echo "reference:"; tail -5 "$tmp/preempt_ref.log"; return 1; }
    for f in "$tmp/preempt_ref/ckpt/"*.h5; do
        h5diff -q "$f" "$tmp/preempt/ckpt/${f##*/}" || { echo "${f##*/} differs from the uninterrupted run's"; return 1; }
    done
}
if why=$(preempted); then ok slurm_time_limit_requeue_resume_bitwise; else fail slurm_time_limit_requeue_resume_bitwise "$why"; fi

# DNA+: both generations' chains and the root report completed, generation 2 searched and
# retrained in gen2/ on generation 2's arguments, the root report tables the generations
wait_jobs "${chain_plus[@]}" || true
plus_ran() {
    local i f r=$tmp/plus
    [ ${#chain_plus[@]} = 16 ] || { echo "pipeline.sh: $plus_out"; return 1; }
    all_completed "${chain_plus[@]}" || return 1
    for f in gen2/arch.json gen2/retrain.json report.md; do [ -s "$r/$f" ] || { echo "no $r/$f"; return 1; }; done
    for i in 8 9 10 11 12 13 14; do
        f=$logs/dna-g2-${stages[i - 7]}-${chain_plus[i]}.out
        grep -q "command   .*/dna ${stages[i - 7]} inputs/tiny.cfg run.out_dir=$tmp run.name=plus plus.generations=2 plus.generation=2\$" "$f" &&
            grep -q "^== dna ${stages[i - 7]} ended .*exit status 0\$" "$f" || { echo "$f:"; tail -5 "$f"; return 1; }
    done
    f=$logs/dna-report-all-${chain_plus[15]}.out
    grep -q "command   .*/dna report inputs/tiny.cfg run.out_dir=$tmp run.name=plus plus.generations=2\$" "$f" || { echo "$f:"; tail -5 "$f"; return 1; }
    # the generations table: a row per generation, each with its retrained top-1
    awk -F' *[|] *' '/^## / { p = ($0 == "## DNA+ generations") }
        p && $2 == "generation" { for (i = 2; i < NF; i++) if ($i == "retrained top-1") c = i }
        p && c && $c ~ /^[0-9.]+%$/ { got[$2] = 1 } END { exit !(got[1] && got[2]) }' "$r/report.md" ||
        { echo "$r/report.md:"; grep -A8 '^## DNA+' "$r/report.md"; return 1; }
}
if [ $plus_c = 0 ]; then
    skip slurm_plus_2_generations "this dna has no [plus] config keys (DNA+ not built)"
elif why=$(plus_ran); then
    ok slurm_plus_2_generations
else
    plus_logs=()
    for f in "$logs"/dna-g2-*.out "$logs"/dna-report-all-*.out; do [ -e "$f" ] && plus_logs+=("$f"); done
    fail slurm_plus_2_generations "$why" "${plus_logs[@]}"
fi

echo "   (slurm tests: $((SECONDS - t0)) s; Slurm left running)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
