// Job scheduling (see sched.h): LPT greedy when ranks <= jobs, cost-sized contiguous rank
// groups when ranks > jobs. No MPI and no floating-point reductions that depend on the rank
// count, so every rank derives the identical plan on its own.
#include "par/sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct Key {
    double cost;
    int block, cell, idx;
} Key;

static int cmp_block_cell(const Key *a, const Key *b) {
    if (a->block != b->block) return a->block < b->block ? -1 : 1;
    if (a->cell != b->cell) return a->cell < b->cell ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);  // duplicates still sort the same everywhere
}

static int cmp_cost_desc(const void *pa, const void *pb) {
    const Key *a = pa, *b = pb;
    if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
    return cmp_block_cell(a, b);
}

static int cmp_job_order(const void *pa, const void *pb) {
    return cmp_block_cell(pa, pb);
}

static Key *sorted_keys(const SchedJob *jobs, int njobs, int (*cmp)(const void *, const void *)) {
    Key *k = dna_malloc((size_t)njobs * sizeof *k);
    for (int j = 0; j < njobs; j++) k[j] = (Key){jobs[j].cost, jobs[j].block, jobs[j].cell, j};
    qsort(k, (size_t)njobs, sizeof *k, cmp);
    return k;
}

// LPT: each job, longest first, to the least-loaded rank. Max load <= 4/3 of the optimum.
static void plan_lpt(const SchedJob *jobs, SchedPlan *s) {
    for (int i = 0; i < s->njobs; i++) {
        int j = s->order[i], best = 0;
        for (int r = 1; r < s->nranks; r++)
            if (s->rank_load[r] < s->rank_load[best]) best = r;
        s->rank_of_job[j] = best;
        s->group_size[j] = 1;
        s->rank_load[best] += jobs[j].cost;
    }
}

// Each extra rank goes to the job whose members carry the most cost: this minimises the
// largest cost/size, i.e. the group that finishes last.
static void plan_groups(const SchedJob *jobs, SchedPlan *s) {
    Key *k = sorted_keys(jobs, s->njobs, cmp_job_order);
    for (int j = 0; j < s->njobs; j++) s->group_size[j] = 1;
    for (int extra = s->nranks - s->njobs; extra > 0; extra--) {
        int best = k[0].idx;
        for (int i = 1; i < s->njobs; i++) {
            int j = k[i].idx;
            if (jobs[j].cost / s->group_size[j] > jobs[best].cost / s->group_size[best]) best = j;
        }
        s->group_size[best]++;
    }
    int next = 0;
    for (int i = 0; i < s->njobs; i++) {
        int j = k[i].idx;
        s->rank_of_job[j] = next;
        for (int m = 0; m < s->group_size[j]; m++)
            s->rank_load[next + m] = jobs[j].cost / s->group_size[j];
        next += s->group_size[j];
    }
    free(k);
}

void sched_plan(const SchedJob *jobs, int njobs, int nranks, SchedPlan *s) {
    DNA_CHECK(njobs >= 1, "give the search space at least one block with one cell",
              "schedule: %d jobs", njobs);
    DNA_CHECK(nranks >= 1, "launch with at least one rank (mpirun -np N, N >= 1)",
              "schedule: %d ranks", nranks);
    for (int j = 0; j < njobs; j++)
        DNA_CHECK(isfinite(jobs[j].cost) && jobs[j].cost > 0,
                  "job costs are FLOPs x steps and must be finite and positive; check the "
                  "cell's layer widths and the step count",
                  "schedule: job %d (block %d, cell %d) has cost %g", j, jobs[j].block,
                  jobs[j].cell, jobs[j].cost);

    memset(s, 0, sizeof *s);
    s->njobs = njobs;
    s->nranks = nranks;
    s->grouped = nranks > njobs;
    s->rank_of_job = dna_malloc((size_t)njobs * sizeof *s->rank_of_job);
    s->group_size = dna_malloc((size_t)njobs * sizeof *s->group_size);
    s->order = dna_malloc((size_t)njobs * sizeof *s->order);
    s->rank_load = dna_calloc((size_t)nranks, sizeof *s->rank_load);

    Key *k = sorted_keys(jobs, njobs, cmp_cost_desc);
    for (int i = 0; i < njobs; i++) s->order[i] = k[i].idx;
    free(k);

    if (s->grouped)
        plan_groups(jobs, s);
    else
        plan_lpt(jobs, s);

    double max = 0, sum = 0;
    for (int r = 0; r < nranks; r++) {
        sum += s->rank_load[r];
        if (s->rank_load[r] > max) max = s->rank_load[r];
    }
    s->balance = max / (sum / nranks);
}

void sched_free(SchedPlan *s) {
    free(s->rank_of_job);
    free(s->group_size);
    free(s->order);
    free(s->rank_load);
    memset(s, 0, sizeof *s);
}

static void check_rank(const SchedPlan *s, int rank) {
    DNA_CHECK(rank >= 0 && rank < s->nranks, "pass this process's rank in the plan's world",
              "schedule: rank %d outside 0..%d", rank, s->nranks - 1);
}

static int in_job(const SchedPlan *s, int rank, int j) {
    return rank >= s->rank_of_job[j] && rank < s->rank_of_job[j] + s->group_size[j];
}

int sched_jobs_of_rank(const SchedPlan *s, int rank, int *out, int max) {
    check_rank(s, rank);
    int n = 0;
    for (int i = 0; i < s->njobs; i++) {
        int j = s->order[i];
        if (!in_job(s, rank, j)) continue;
        if (n < max) out[n] = j;
        n++;
    }
    return n;
}

int sched_group_of_rank(const SchedPlan *s, int rank, int *job, int *first, int *size) {
    check_rank(s, rank);
    DNA_CHECK(s->grouped, "with ranks <= jobs each rank runs whole jobs: use sched_jobs_of_rank",
              "schedule: rank groups asked of a plan with %d ranks for %d jobs", s->nranks,
              s->njobs);
    for (int j = 0; j < s->njobs; j++) {
        if (!in_job(s, rank, j)) continue;
        if (job) *job = j;
        if (first) *first = s->rank_of_job[j];
        if (size) *size = s->group_size[j];
        return rank - s->rank_of_job[j];
    }
    DNA_FAIL("this is a bug in sched_plan", "schedule: rank %d is in no group", rank);
}
