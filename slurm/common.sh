# slurm/common.sh — the logic shared by the slurm/ scripts, functions only: the job side
# (environment, start-of-job banner, the one `srun` that starts dna) for stage.sbatch,
# stage_cpu.sbatch and sweep.sbatch, and the submit side (argument parsing, where a run's
# outputs and logs go) for pipeline.sh and sweep.sh. The .sbatch scripts source it from
# $DNA_ROOT: sbatch runs a spooled copy of them, which cannot find this file by itself.
# shellcheck shell=bash disable=SC2034  # its variables are read by the scripts sourcing it

# ---------------------------------------------------------------- job side

# dna_job_init: called first in every job, after the site set-up
dna_job_init() {
    # a job with GPUs takes the CUDA build when there is one (its backend `auto` then
    # drives the rank's GPU); otherwise the CPU build
    if [ -z "${DNA_BIN:-}" ] && [ -n "${SLURM_GPUS_PER_TASK:-}${SLURM_JOB_GPUS:-}" ] &&
        [ -x "$DNA_ROOT/build/cuda/bin/dna" ]; then
        DNA_BIN=$DNA_ROOT/build/cuda/bin
    fi
    DNA_BIN=${DNA_BIN:-$DNA_ROOT/bin}
    DNA_SRUN_OPTS=(--mpi=pmix)
    # srun 22.05 no longer inherits the job's --cpus-per-task (each task would get one core)
    # and GPU options are safest passed on the same way. OpenMP: one thread per allocated
    # core, never the submitting shell's setting (sbatch exports that environment).
    if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
        DNA_SRUN_OPTS+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
        export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
    else
        export OMP_NUM_THREADS=1
    fi
    if [ -n "${SLURM_GPUS_PER_TASK:-}" ] && [ "${SLURM_GPUS_PER_TASK}" != 0 ]; then
        DNA_SRUN_OPTS+=(--gpus-per-task="$SLURM_GPUS_PER_TASK")
    fi
    # DNA_ARGS holds shell-quoted words (as `printf '%q '` writes them), so an override
    # with spaces ("teacher.stages=a b") survives the trip through the environment;
    # plain space-separated words work as well.
    dna_args=()
    if [ -n "${DNA_ARGS:-}" ]; then eval "dna_args=($DNA_ARGS)"; fi
}

# dna_banner WHAT: who runs what where, first thing in the log
dna_banner() {
    local job=${SLURM_JOB_ID:-?}
    [ -n "${SLURM_ARRAY_TASK_ID:-}" ] && job="$job (array task ${SLURM_ARRAY_JOB_ID:-?}_$SLURM_ARRAY_TASK_ID)"
    echo "== dna $1"
    echo "   config    ${DNA_CFG:-}"
    echo "   args      ${dna_args[*]:-}"
    echo "   job       $job ${SLURM_JOB_NAME:-}"
    echo "   nodes     ${SLURM_JOB_NODELIST:-?} (${SLURM_JOB_NUM_NODES:-?})"
    echo "   ranks     ${SLURM_NTASKS:-?}, cpus/rank ${SLURM_CPUS_PER_TASK:-1}, gpus/rank ${SLURM_GPUS_PER_TASK:-0}, OMP_NUM_THREADS $OMP_NUM_THREADS"
    echo "   binary    $DNA_BIN/dna, cwd $PWD"
    echo "   started   $(date -Is)${SLURM_RESTART_COUNT:+ (requeued $SLURM_RESTART_COUNT time(s))}"
}

# dna_srun ARGS...: `srun dna ARGS` on the job's tasks, one MPI rank each; returns dna's
# exit status. DNA_DRY_RUN=1 only prints the command (what would this job run?).
dna_srun() {
    local cmd=(srun "${DNA_SRUN_OPTS[@]}" "$DNA_BIN/dna" "$@") rc=0
    echo "   command   ${cmd[*]}"
    [ "${DNA_DRY_RUN:-0}" = 1 ] && return 0
    if [ ! -x "$DNA_BIN/dna" ]; then
        echo "error: no $DNA_BIN/dna (build it, or set DNA_ROOT/DNA_BIN in the site set-up)" >&2
        return 2
    fi
    "${cmd[@]}" || rc=$?
    echo "== dna $1 ended $(date -Is), exit status $rc"
    return $rc
}

# dna_job_exit RC: ends the job with dna's exit status RC, except 75 (DNA_EXIT_REQUEUE in
# src/core/error.h: stopped by SIGTERM/SIGUSR1, everything done so far checkpointed), on
# which the job requeues itself: it goes back to PENDING under the same id (after Slurm's
# requeue delay, about 2 minutes), its dependants stay pending instead of being cancelled,
# and the rerun continues from the checkpoints. At most DNA_MAX_REQUEUE times (default 20;
# SLURM_RESTART_COUNT counts them): then the job ends with 75 (FAILED), so a stage that
# cannot get anywhere does not loop forever.
dna_job_exit() {
    local rc=$1 n=${SLURM_RESTART_COUNT:-0} max=${DNA_MAX_REQUEUE:-20}
    if [ "$rc" = 75 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
        if [ "$n" -ge "$max" ]; then
            echo "== not requeued: job $SLURM_JOB_ID was requeued $n time(s) already (DNA_MAX_REQUEUE=$max); submit the same chain again to continue" >&2
        elif scontrol requeue "$SLURM_JOB_ID"; then
            echo "== requeued job $SLURM_JOB_ID (requeue $((n + 1)) of at most $max): it continues from its checkpoints, the jobs after it wait for it"
            exit 0
        else
            echo "== scontrol requeue $SLURM_JOB_ID failed (submitted with --no-requeue?): submit the same chain again to continue" >&2
        fi
    fi
    exit "$rc"
}

# dna_stage_main: the body of stage.sbatch and stage_cpu.sbatch
dna_stage_main() {
    : "${DNA_STAGE:?set DNA_STAGE (data, teacher, features, train, rate, search, retrain, report, run)}"
    : "${DNA_CFG:?set DNA_CFG (the run config file)}"
    dna_job_init
    dna_banner "$DNA_STAGE"
    local rc=0
    dna_srun "$DNA_STAGE" "$DNA_CFG" "${dna_args[@]}" || rc=$?
    dna_job_exit $rc
}

# ---------------------------------------------------------------- submit side

dna_die() { echo "${0##*/}: $*" >&2; exit 2; }

# dna_parse_submit_args ARGS...: CFG [--cpu] [--ranks N] [section.key=value ... --force]
# -> dna_cfg, dna_cpu (0/1), dna_ranks ("" = the script's own sizing), dna_user_args
dna_parse_submit_args() {
    dna_cfg="" dna_cpu=0 dna_ranks="" dna_user_args=()
    while [ $# -gt 0 ]; do
        case $1 in
            --cpu) dna_cpu=1 ;;
            --ranks) [ $# -ge 2 ] || dna_die "--ranks needs a number"; dna_ranks=$2; shift ;;
            --ranks=*) dna_ranks=${1#--ranks=} ;;
            -h | --help) dna_usage; exit 0 ;;
            *=* | --*) dna_user_args+=("$1") ;;
            *) [ -z "$dna_cfg" ] || dna_die "one config file only ('$dna_cfg', then '$1')"; dna_cfg=$1 ;;
        esac
        shift
    done
    [ -n "$dna_cfg" ] || { dna_usage >&2; exit 2; }
    [ -r "$dna_cfg" ] || dna_die "no config file '$dna_cfg'"
    [ -z "$dna_ranks" ] || [[ $dna_ranks =~ ^[1-9][0-9]*$ ]] || dna_die "--ranks '$dna_ranks' is not a positive number"
    # What the jobs need to find the checkout and the binary: the one holding this script.
    export DNA_ROOT=${DNA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    # Extra sbatch options for every job (partition, account, time, ...); after ours, so
    # they win.
    read -ra dna_sbatch_opts <<<"${DNA_SBATCH_OPTS:-}"
}

# dna_cfg_value SECTION KEY DEFAULT: the value dna will use: the last `SECTION.KEY=` in
# dna_user_args, else the config file's, else DEFAULT (config.c's default)
dna_cfg_value() {
    local sec=$1 key=$2 v="" a found=0
    for a in "${dna_user_args[@]}"; do
        if [[ $a == "$sec.$key="* ]]; then v=${a#*=} found=1; fi
    done
    if [ $found = 0 ]; then
        # as config.c reads it: `key = value` or `key: value`, full-line comments ; and #, inline ` ;`
        v=$(awk -v sec="$sec" -v key="$key" '
            /^[[:space:]]*[;#]/ { next }
            /^[[:space:]]*\[/ { s = $0; gsub(/^[[:space:]]*\[|\].*$/, "", s); next }
            s == sec {
                line = $0; sub(/[[:space:]]+;.*$/, "", line)
                if (match(line, /^[[:space:]]*[^=:]+[=:]/)) {
                    k = substr(line, 1, RLENGTH - 1); gsub(/^[[:space:]]+|[[:space:]]+$/, "", k)
                    if (k == key) { v = substr(line, RLENGTH + 1); gsub(/^[[:space:]]+|[[:space:]]+$/, "", v); val = v; got = 1 }
                }
            }
            END { if (got) print val; else exit 1 }' "$dna_cfg") || v=$3
    fi
    printf '%s\n' "$v"
}

# dna_directives SCRIPT: the #SBATCH options at the top of SCRIPT (where sbatch reads them:
# up to the first command) -> words in array dna_dir
dna_directives() {
    local line w
    dna_dir=()
    while read -r line; do
        read -ra w <<<"$line"
        dna_dir+=("${w[@]}")
    done < <(awk 'NR == 1 && /^#!/ { next }
                  /^#SBATCH/ { sub(/^#SBATCH[[:space:]]*/, ""); print; next }
                  /^[[:space:]]*(#|$)/ { next } { exit }' "$1")
}

# dna_size N: the options for N ranks -> array dna_size_opts. Slurm treats the scripts'
# --ntasks-per-node P as a maximum next to --ntasks but still allocates P tasks' CPUs (and
# GPUs) on the node, so it is replaced: N ranks on ceil(N/P) nodes, spread evenly.
dna_size() {
    local n=$1 p="" w nodes
    for w in "${dna_dir[@]}"; do
        if [[ $w == --ntasks-per-node=* ]]; then p=${w#*=}; fi
    done
    dna_size_opts=(--ntasks="$n")
    [[ $p =~ ^[1-9][0-9]*$ ]] || p=$n
    nodes=$(((n + p - 1) / p))
    dna_size_opts+=(--nodes="$nodes" --ntasks-per-node="$(((n + nodes - 1) / nodes))")
}

# dna_quote_args ARGS...: shell-quoted words for DNA_ARGS (read back by dna_job_init)
dna_quote_args() {
    [ $# -eq 0 ] && return 0
    printf '%q ' "$@"
}

# dna_sbatch ARGS...: sbatch --parsable; prints the job id alone (--parsable prints
# "id;cluster" on multi-cluster sites)
dna_sbatch() {
    local id
    id=$(sbatch --parsable "$@") || dna_die "sbatch failed: sbatch $*"
    printf '%s\n' "${id%%;*}"
}

# ---------------------------------------------------------------- the sweep

# Seeds x supernet-training data fractions (the paper's Tables 8 and 9): array task i runs
# seed DNA_SWEEP_SEEDS[i / 3] on fraction DNA_SWEEP_FRACS[i % 3], as run seed<S>_frac<F%>.
DNA_SWEEP_SEEDS=(0 41 42)
DNA_SWEEP_FRACS=(1.0 0.8 0.4)
DNA_SWEEP_TASKS=$((${#DNA_SWEEP_SEEDS[@]} * ${#DNA_SWEEP_FRACS[@]}))

# dna_sweep_task I: prints "NAME SEED FRACTION" of array task I
dna_sweep_task() {
    local i=$1 nf=${#DNA_SWEEP_FRACS[@]} s f
    [[ $i =~ ^[0-9]+$ ]] && [ "$i" -lt "$DNA_SWEEP_TASKS" ] || { echo "error: sweep task '$i' is not in 0-$((DNA_SWEEP_TASKS - 1))" >&2; return 2; }
    s=${DNA_SWEEP_SEEDS[i / nf]} f=${DNA_SWEEP_FRACS[i % nf]}
    echo "seed${s}_frac$(awk -v f="$f" 'BEGIN { printf "%d", f * 100 + 0.5 }') $s $f"
}

# What `dna rank --compare` is asked after the sweep: the reference run against the other
# seeds (ranking stability, Table 8) and against the smaller fractions (Table 9).
DNA_SWEEP_COMPARE=("seed0_frac100 seed41_frac100" "seed0_frac100 seed42_frac100"
                   "seed0_frac100 seed0_frac80" "seed0_frac100 seed0_frac40")
