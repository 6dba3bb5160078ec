// Job scheduling (src/par/sched.c): hand-computed LPT and group plans, deterministic tie
// breaks, invariants over many (jobs, ranks) shapes including the paper's ImageNet job count,
// and fatal errors on bad input.
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"
#include "par/sched.h"

#define MAXJ 64
#define MAXR 128

// Everything a plan must satisfy whatever its inputs. Stops at the first broken property
// (returns 1) so a sweep reports one line per bad shape, not hundreds.
static int check_invariants(const SchedJob *jobs, int nj, int nr, const SchedPlan *s) {
#define INV(cond, fmt, ...)                                       \
    do {                                                          \
        if (!(cond)) {                                            \
            T_CHECK(0, "J=%d R=%d: " fmt, nj, nr, ##__VA_ARGS__); \
            return 1;                                             \
        }                                                         \
    } while (0)
    INV(s->njobs == nj && s->nranks == nr && s->grouped == (nr > nj), "shape fields");
    int seen[MAXJ] = {0};
    for (int i = 0; i < nj; i++) {
        INV(s->order[i] >= 0 && s->order[i] < nj, "order[%d] = %d", i, s->order[i]);
        seen[s->order[i]]++;
        if (i) INV(jobs[s->order[i]].cost <= jobs[s->order[i - 1]].cost, "order not longest first");
    }
    for (int j = 0; j < nj; j++) INV(seen[j] == 1, "job %d appears %d times in order", j, seen[j]);

    double load[MAXR] = {0}, maxc = 0;
    int owner[MAXR];
    for (int r = 0; r < nr; r++) owner[r] = -1;
    for (int j = 0; j < nj; j++) {
        int f = s->rank_of_job[j], g = s->group_size[j];
        INV(g >= 1 && f >= 0 && f + g <= nr, "job %d: ranks %d..%d", j, f, f + g - 1);
        INV(s->grouped || g == 1, "job %d has %d ranks in an ungrouped plan", j, g);
        for (int r = f; r < f + g; r++) {
            load[r] += jobs[j].cost / g;
            if (s->grouped) INV(owner[r] < 0, "rank %d in groups %d and %d", r, owner[r], j);
            owner[r] = j;
        }
        if (jobs[j].cost > maxc) maxc = jobs[j].cost;
    }
    double max = 0, sum = 0;
    for (int r = 0; r < nr; r++) {
        INV(owner[r] >= 0, "rank %d has no job", r);
        INV(fabs(s->rank_load[r] - load[r]) <= 1e-12 * load[r], "rank_load[%d] %g vs %g", r,
            s->rank_load[r], load[r]);
        sum += load[r];
        if (load[r] > max) max = load[r];
    }
    INV(fabs(s->balance - max / (sum / nr)) <= 1e-12 * s->balance, "balance %g", s->balance);

    // The accessors must tell each rank exactly what the arrays say.
    int total = 0;
    for (int r = 0; r < nr; r++) {
        int mine[MAXJ], n = sched_jobs_of_rank(s, r, mine, MAXJ);
        INV(sched_jobs_of_rank(s, r, NULL, 0) == n, "count-only call disagrees");
        total += n;
        for (int k = 0; k < n; k++) {
            int j = mine[k];
            INV(r >= s->rank_of_job[j] && r < s->rank_of_job[j] + s->group_size[j],
                "rank %d listed for job %d", r, j);
            if (k) INV(jobs[j].cost <= jobs[mine[k - 1]].cost, "rank %d not longest first", r);
        }
        if (!s->grouped) continue;
        int job = -1, first = -1, size = -1, idx = sched_group_of_rank(s, r, &job, &first, &size);
        INV(n == 1 && job == mine[0] && first == s->rank_of_job[job] &&
                size == s->group_size[job] && idx == r - first,
            "group_of_rank(%d) = %d (job %d first %d size %d)", r, idx, job, first, size);
    }
    INV(s->grouped ? total == nr : total == nj, "accessors list %d memberships", total);

    if (s->grouped) {
        // Groups are contiguous and laid out in (block, cell) order.
        for (int a = 0; a < nj; a++)
            for (int b = 0; b < nj; b++) {
                int before_ab = jobs[a].block < jobs[b].block ||
                                (jobs[a].block == jobs[b].block && jobs[a].cell < jobs[b].cell);
                if (before_ab)
                    INV(s->rank_of_job[a] < s->rank_of_job[b], "jobs %d, %d out of order", a, b);
            }
        // Sized by cost: taking a rank from any group cannot leave its members with less than
        // the current worst, so no move of one rank lowers the maximum.
        for (int b = 0; b < nj; b++)
            if (s->group_size[b] > 1)
                INV(jobs[b].cost / (s->group_size[b] - 1) >= max * (1 - 1e-12),
                    "job %d could give up a rank (%g/%d < %g)", b, jobs[b].cost,
                    s->group_size[b] - 1, max);
    } else {
        // LPT: the job that tops the busiest rank started there when it was least loaded.
        INV(max <= sum / nr + maxc + 1e-9 * sum, "max load %g > mean %g + max cost %g", max,
            sum / nr, maxc);
    }
#undef INV
    return 0;
}

// Costs {3, 7, 1, 5, 4} in input order: longest first is jobs 1, 3, 4, 0, 2 (7 5 4 3 1).
static const SchedJob five[] = {{0, 0, 3}, {0, 1, 7}, {1, 0, 1}, {1, 1, 5}, {2, 0, 4}};

static void expect_plan(int nranks, const int *rank_of_job, const double *load, double balance) {
    SchedPlan s;
    sched_plan(five, 5, nranks, &s);
    check_invariants(five, 5, nranks, &s);
    int order[] = {1, 3, 4, 0, 2};
    for (int i = 0; i < 5; i++) T_CHECK(s.order[i] == order[i], "R=%d order[%d]", nranks, i);
    for (int j = 0; j < 5; j++)
        T_CHECK(s.rank_of_job[j] == rank_of_job[j], "R=%d job %d on rank %d, want %d", nranks, j,
                s.rank_of_job[j], rank_of_job[j]);
    for (int r = 0; r < nranks; r++) T_NEAR(s.rank_load[r], load[r], 0, 0, "rank load");
    T_NEAR(s.balance, balance, 1e-12, 0, "balance");
    T_CHECK(!s.grouped, "R=%d <= J=5 must not be grouped", nranks);
    sched_free(&s);
}

TEST(sched_lpt_hand_computed) {
    // 2 ranks: 7->r0, 5->r1, 4->r1 (5<7), 3->r0 (7<9), 1->r1 (tie 10/9 -> r1).
    expect_plan(2, (int[]){0, 0, 1, 1, 1}, (double[]){10, 10}, 1.0);
    // 3 ranks: 7, 5, 4 one each; 3 -> r2 (4 least), 1 -> r1 (5 < 7 = 7).
    expect_plan(3, (int[]){2, 0, 1, 1, 2}, (double[]){7, 6, 7}, 7.0 / (20.0 / 3));
    // R == J: one job per rank in longest-first order.
    expect_plan(5, (int[]){3, 0, 4, 1, 2}, (double[]){7, 5, 4, 3, 1}, 7.0 / 4);
    expect_plan(1, (int[]){0, 0, 0, 0, 0}, (double[]){20}, 1.0);
}

TEST(sched_lpt_run_order_per_rank) {
    SchedPlan s;
    sched_plan(five, 5, 2, &s);
    int out[5], n0 = sched_jobs_of_rank(&s, 0, out, 5);
    T_CHECK(n0 == 2 && out[0] == 1 && out[1] == 0, "rank 0 runs %d jobs: %d %d", n0, out[0],
            out[1]);
    int n1 = sched_jobs_of_rank(&s, 1, out, 2);  // truncated: still reports all three
    T_CHECK(n1 == 3 && out[0] == 3 && out[1] == 4, "rank 1 runs %d jobs: %d %d", n1, out[0],
            out[1]);
    sched_free(&s);
    T_CHECK(!s.order && !s.rank_load && s.njobs == 0, "sched_free leaves a zeroed plan");
    sched_free(&s);  // and a second free is harmless
}

TEST(sched_ties_follow_block_cell_not_input_order) {
    // Equal costs sort by (block, cell); equal loads go to the lowest rank. The same jobs in
    // reverse input order must land on the same ranks, or ranks reading the job list in a
    // different order would disagree about who trains what.
    SchedJob a[] = {{2, 0, 5}, {0, 1, 5}, {0, 0, 5}, {1, 0, 2}}, b[4];
    for (int j = 0; j < 4; j++) b[j] = a[3 - j];
    SchedPlan sa, sb;
    sched_plan(a, 4, 2, &sa);
    sched_plan(b, 4, 2, &sb);
    check_invariants(a, 4, 2, &sa);
    // (0,0)->r0, (0,1)->r1, (2,0)->r0 (tie 5/5), (1,0)->r1
    int want[] = {0, 1, 0, 1}, order[] = {2, 1, 0, 3};
    for (int j = 0; j < 4; j++) {
        T_CHECK(sa.rank_of_job[j] == want[j], "job %d on rank %d", j, sa.rank_of_job[j]);
        T_CHECK(sb.rank_of_job[3 - j] == want[j], "reversed: job %d on rank %d", 3 - j,
                sb.rank_of_job[3 - j]);
        T_CHECK(sa.order[j] == order[j], "order[%d] = %d", j, sa.order[j]);
        T_CHECK(sb.order[j] == 3 - order[j], "reversed order[%d] = %d", j, sb.order[j]);
    }
    sched_free(&sa);
    sched_free(&sb);
}

TEST(sched_groups_sized_by_cost) {
    // Input not in (block, cell) order: the groups are laid out (0,0), (0,1), (1,0).
    SchedJob jobs[] = {{1, 0, 1}, {0, 0, 9}, {0, 1, 1}};
    SchedPlan s;
    sched_plan(jobs, 3, 6, &s);
    check_invariants(jobs, 3, 6, &s);
    // Extra ranks: 9/1 -> 2, 9/2 -> 3, 9/3 = 3 > 1 -> 4.
    int size[] = {1, 4, 1}, first[] = {5, 0, 4};
    for (int j = 0; j < 3; j++)
        T_CHECK(s.group_size[j] == size[j] && s.rank_of_job[j] == first[j],
                "job %d: %d ranks from %d, want %d from %d", j, s.group_size[j], s.rank_of_job[j],
                size[j], first[j]);
    double load[] = {2.25, 2.25, 2.25, 2.25, 1, 1};
    for (int r = 0; r < 6; r++) T_NEAR(s.rank_load[r], load[r], 0, 0, "rank load");
    T_NEAR(s.balance, 2.25 / (11.0 / 6), 1e-12, 0, "balance");
    int job, f, n, idx = sched_group_of_rank(&s, 2, &job, &f, &n);
    T_CHECK(idx == 2 && job == 1 && f == 0 && n == 4, "rank 2: idx %d job %d first %d size %d", idx,
            job, f, n);
    T_CHECK(sched_group_of_rank(&s, 5, NULL, NULL, NULL) == 0, "rank 5 leads its group");
    sched_free(&s);

    // Equal ratios: the extra rank goes to the first job in (block, cell) order.
    SchedJob tie[] = {{1, 0, 2}, {0, 0, 2}};
    sched_plan(tie, 2, 3, &s);
    T_CHECK(s.group_size[1] == 2 && s.rank_of_job[1] == 0 && s.group_size[0] == 1 &&
                s.rank_of_job[0] == 2,
            "tie: sizes %d %d firsts %d %d", s.group_size[0], s.group_size[1], s.rank_of_job[0],
            s.rank_of_job[1]);
    sched_free(&s);
}

// The paper's ImageNet space: 5 blocks x 3 cells, plus one single-cell block. Costs rise with
// block width and cell depth; only their ratios matter.
static int imagenet_jobs(SchedJob *jobs) {
    const double block[] = {1.0, 1.7, 1.4, 2.3, 3.1}, depth[] = {2, 3, 4};
    int n = 0;
    for (int b = 0; b < 5; b++)
        for (int c = 0; c < 3; c++) jobs[n++] = (SchedJob){b, c, block[b] * depth[c] * 1e12};
    jobs[n++] = (SchedJob){5, 0, 2.6e12};
    return n;
}

TEST(sched_imagenet_job_count) {
    SchedJob jobs[MAXJ];
    int nj = imagenet_jobs(jobs);
    T_CHECK(nj == 16, "%d jobs", nj);
    SchedPlan s;
    for (int k = 0; k < 3; k++) {
        int nr = (int[]){4, 16, 32}[k];
        sched_plan(jobs, nj, nr, &s);
        check_invariants(jobs, nj, nr, &s);
        T_CHECK(s.grouped == (nr == 32), "R=%d grouped=%d", nr, s.grouped);
        if (nr == 4) T_CHECK(s.balance < 1.05, "4 ranks: balance %g", s.balance);
        if (nr == 16)  // one job per rank, the longest on rank 0
            for (int i = 0; i < nj; i++)
                T_CHECK(s.rank_of_job[s.order[i]] == i, "R=16: job %d on rank %d", s.order[i],
                        s.rank_of_job[s.order[i]]);
        if (nr == 32) {
            // The longest job (block 4, depth 4) must get the largest group.
            int big = s.order[0];
            T_CHECK(jobs[big].block == 4 && jobs[big].cell == 2, "longest job %d", big);
            for (int j = 0; j < nj; j++)
                T_CHECK(s.group_size[j] <= s.group_size[big], "job %d has %d ranks > %d", j,
                        s.group_size[j], s.group_size[big]);
            T_CHECK(s.group_size[big] > 2, "longest job has only %d ranks", s.group_size[big]);
        }
        sched_free(&s);
    }
}

TEST(sched_invariants_sweep) {
    // Random costs over 1..40 jobs and 1..100 ranks: both modes and the R == J, R == J + 1
    // boundaries. Cost 1 in 4 times repeats an earlier one so ties are exercised.
    Rng rng = rng_new(2024);
    SchedJob jobs[MAXJ];
    for (int nj = 1; nj <= 40; nj += 3) {
        for (int j = 0; j < nj; j++) {
            jobs[j] = (SchedJob){(int)rng_below(&rng, 6), j, 0.1 + 10 * rng_uniform(&rng)};
            if (j && rng_below(&rng, 4) == 0) jobs[j].cost = jobs[rng_below(&rng, j)].cost;
        }
        for (int nr = 1; nr <= 100; nr++) {
            SchedPlan s, again;
            sched_plan(jobs, nj, nr, &s);
            int bad = check_invariants(jobs, nj, nr, &s);
            sched_plan(jobs, nj, nr, &again);
            bad += memcmp(s.rank_of_job, again.rank_of_job, nj * sizeof(int)) != 0 ||
                   memcmp(s.group_size, again.group_size, nj * sizeof(int)) != 0;
            T_CHECK(!bad, "J=%d R=%d: plan not valid or not repeatable", nj, nr);
            sched_free(&s);
            sched_free(&again);
            if (bad) return;
        }
    }
}

typedef struct BadPlan {
    int nj, nr;
    double cost;
} BadPlan;

static void plan_bad(void *arg) {
    const BadPlan *b = arg;
    SchedJob jobs[] = {{0, 0, 1}, {3, 1, b->cost}};
    SchedPlan s;
    sched_plan(jobs, b->nj, b->nr, &s);
}

static void group_of_ungrouped(void *arg) {
    (void)arg;
    SchedPlan s;
    sched_plan(five, 5, 2, &s);
    sched_group_of_rank(&s, 0, NULL, NULL, NULL);
}

static void rank_out_of_range(void *arg) {
    SchedPlan s;
    sched_plan(five, 5, 2, &s);
    sched_jobs_of_rank(&s, *(int *)arg, NULL, 0);
}

TEST(sched_bad_input_is_fatal) {
    static BadPlan bad[] = {{0, 2, 1},  {2, 0, 1},   {2, -1, 1},      {2, 2, 0},
                            {2, 2, -4}, {2, 2, NAN}, {2, 3, INFINITY}};
    const char *msg[] = {"schedule: 0 jobs",
                         "schedule: 0 ranks",
                         "mpirun -np N",
                         "job 1 (block 3, cell 1) has cost 0",
                         "has cost -4",
                         "has cost nan",
                         "must be finite and positive"};
    for (int i = 0; i < 7; i++) T_EXPECT_DEATH(plan_bad, &bad[i], msg[i]);
    T_EXPECT_DEATH(group_of_ungrouped, NULL, "use sched_jobs_of_rank");
    T_EXPECT_DEATH(rank_out_of_range, &(int){2}, "rank 2 outside 0..1");
    T_EXPECT_DEATH(rank_out_of_range, &(int){-1}, "rank -1 outside 0..1");
}
