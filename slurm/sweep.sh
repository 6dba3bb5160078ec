#!/usr/bin/env bash
# slurm/sweep.sh — submits the seed x supernet-training-fraction sweep (the paper's Tables
# 8 and 9) as one job array of whole-pipeline runs (slurm/sweep.sbatch), then one job,
# afterok on the whole array, that compares the runs' path ratings with `dna rank --compare`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

dna_usage() {
    cat <<'USAGE'
usage: slurm/sweep.sh CFG [--cpu] [--ranks N] [section.key=value ...]
  Array task i (0-8) runs `dna run CFG ... run.name=seed<S>_frac<F> train.seed=<S>
  train.fraction=<F>` for seeds {0, 41, 42} x fractions {1.0, 0.8, 0.4} (i = 3*seed# + frac#:
  0 seed0_frac100, 1 seed0_frac80, 2 seed0_frac40, 3 seed41_frac100, ... 8 seed42_frac40),
  each on N ranks sized like one stage of slurm/stage.sbatch (stage_cpu.sbatch with --cpu).
  Then `dna rank --compare` of seed0_frac100 against seed41_frac100, seed42_frac100,
  seed0_frac80 and seed0_frac40, into the compare job's log.
Environment:
  DNA_SWEEP_ARRAY  the array tasks to run (default 0-8), e.g. 0-1 for a test, 0-8%3 to
                   run at most 3 at once; comparisons whose runs are missing are skipped
  DNA_SBATCH_OPTS, DNA_LOG_DIR, DNA_SITE_SETUP, DNA_ROOT: as for slurm/pipeline.sh
Prints "<job id> sweep" (the array) and "<job id> compare", then the compare job's id
alone on the last line.
USAGE
}

dna_parse_submit_args "$@"
stage_script=$here/stage.sbatch
[ "$dna_cpu" = 1 ] && stage_script=$here/stage_cpu.sbatch
# One run of the sweep gets the resources of one stage: the #SBATCH lines at the top of the
# stage script (the site's sizing, edited there once), less its name, log file and time
# (a whole run takes longer than a stage: sweep.sbatch sets its own).
dna_directives "$stage_script"
resources=()
skip=0
for w in "${dna_dir[@]}"; do
    if [ $skip = 1 ]; then skip=0; continue; fi
    case $w in
        -J | -o | -t) skip=1 ;;  # the option's value is the next word
        --job-name* | --output* | --time* | -J* | -o* | -t*) ;;
        --ntasks-per-node=*) [ -n "$dna_ranks" ] || resources+=("$w") ;;  # dna_size replaces it
        *) resources+=("$w") ;;
    esac
done
run_size=()
if [ -n "$dna_ranks" ]; then dna_size "$dna_ranks"; run_size=("${dna_size_opts[@]}"); fi
dna_size 1
one_task=("${dna_size_opts[@]}")

out_dir=$(dna_cfg_value run out_dir outputs)
logdir=${DNA_LOG_DIR:-$out_dir/slurm-logs}
mkdir -p "$logdir"   # Slurm does not create the directory of --output
array=${DNA_SWEEP_ARRAY:-0-$((DNA_SWEEP_TASKS - 1))}

export DNA_CFG=$dna_cfg DNA_ARGS DNA_SWEEP_OUT=$out_dir
DNA_ARGS=$(dna_quote_args "${dna_user_args[@]}")
# SIGUSR1 before the time limit: `dna run` stops in a stage that checkpoints (exit 75) and
# the task requeues itself (slurm/common.sh)
sweep=$(dna_sbatch --array="$array" --job-name=dna-sweep --output="$logdir/%x-%A_%a.out" \
    --signal="USR1@${DNA_SIGNAL_LEAD:-300}" "${resources[@]}" "${run_size[@]}" "${dna_sbatch_opts[@]}" \
    "$here/sweep.sbatch")
echo "$sweep sweep (array $array)"
# one process: `dna rank` reads two potentials files
if ! compare=$(DNA_SWEEP_COMPARE_JOB=1 dna_sbatch --job-name=dna-compare --output="$logdir/%x-%j.out" \
    "${resources[@]}" "${one_task[@]}" --dependency="afterok:$sweep" --kill-on-invalid-dep=yes \
    "${dna_sbatch_opts[@]}" "$here/sweep.sbatch"); then
    scancel "$sweep" && echo "cancelled $sweep" >&2   # no sweep without its comparison
    exit 2
fi
echo "$compare compare"
echo "$compare"
