// Job scheduling: maps J (block, cell) training jobs with estimated costs onto R ranks, as
// whole jobs per rank (R <= J, longest-first greedy) or one contiguous rank group per job
// (R > J, sized by cost). Pure arithmetic, no MPI: every rank computes the same plan from the
// same inputs and the caller does the communication (src/par/par.c).
#pragma once

typedef struct SchedJob {
    int block, cell;
    double cost;  // estimated FLOPs x steps; only ratios matter
} SchedJob;

// Named SchedPlan, not Schedule: train/schedule.h already owns `Schedule` (LR schedules) and
// the training driver needs both headers.
typedef struct SchedPlan {
    int njobs, nranks;
    int grouped;        // 0: R <= J, each rank runs a list of whole jobs; 1: R > J, a group per job
    int *rank_of_job;   // [J] R <= J: the rank that runs job j; R > J: first rank of j's group
    int *group_size;    // [J] ranks training job j together (1 when not grouped)
    int *order;         // [J] job indices, longest first (a rank runs its jobs in this order)
    double *rank_load;  // [R] summed cost per rank (grouped: cost/group_size for each member)
    double balance;     // max load / mean load (1 = perfect)
} SchedPlan;

// Fatal on njobs < 1, nranks < 1, or a cost that is not finite and > 0. Ties are broken by
// (block, cell), then input index, so every rank gets the same plan. Free with sched_free.
void sched_plan(const SchedJob *jobs, int njobs, int nranks, SchedPlan *s);
void sched_free(SchedPlan *s);  // safe on a zeroed or already freed plan

// Writes the first `max` job indices `rank` takes part in, in run order (out may be NULL when
// max is 0); returns how many there are in all (grouped: always 1).
int sched_jobs_of_rank(const SchedPlan *s, int rank, int *out, int max);
// Grouped plans only: this rank's job, its group's first rank and size (any pointer may be
// NULL); returns the rank's index within the group (0 .. size-1).
int sched_group_of_rank(const SchedPlan *s, int rank, int *job, int *first, int *size);
