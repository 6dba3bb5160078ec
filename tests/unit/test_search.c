// Architecture search (src/nas/search.c): both solvers, the frontier and the cheapest cost
// against a brute force over thousands of random instances (ties, rounding, infeasible and
// unconstrained budgets), also with the block scores weighted as a calibrated predictor
// weights them (src/nas/problem.h), hand-made instances where ignoring the width dependence fails
// and where ties decide, bad input, and timings on the default and an ImageNet-sized instance.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "harness.h"
#include "nas/search.h"

// splitmix64: a local, seeded stream so the instances never change.
static uint64_t mix_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int mix_below(uint64_t *s, int n) {
    return (int)(mix_next(s) % (uint64_t)n);
}
static double mix_unit(uint64_t *s) {
    return (double)(mix_next(s) >> 11) * 0x1p-53;
}

enum { MAXB = 4, MAXC = 40, MAXS = 4, MAXARCH = 64000 };

typedef struct Inst {
    SearchProblem p;
    SearchBlock blk[MAXB];
    double score[MAXB][MAXC], cost[MAXB][MAXC * MAXS * SEARCH_MAX_COST], tail[MAXS * 2];
    int out[MAXB][MAXC];
} Inst;

typedef struct Arch {  // brute force's own record: no allocation, its own sums
    int choice[MAXB];
    double score, cost[SEARCH_MAX_COST];
} Arch;

// Values from a few kinds of sets: integers (exact sums, many ties), decimals that do not add
// exactly (0.1 + 0.2 != 0.3: distinct partial sums that round to the same total), continuous.
static double draw(uint64_t *s, int kind, int sign) {
    static const double dec[] = {0.1, 0.2, 0.3, 0.7, 1.1};
    double v = kind == 0 ? mix_below(s, 4) : kind == 1 ? dec[mix_below(s, 5)] : 3 * mix_unit(s);
    return sign && mix_below(s, 3) == 0 ? -v : v;
}

// maxb blocks of up to maxc candidates: the brute force enumerates at most maxc^maxb.
static void make_inst(uint64_t *s, Inst *in, int maxb, int maxc) {
    memset(in, 0, sizeof *in);
    SearchProblem *p = &in->p;
    p->nblocks = 1 + mix_below(s, maxb);
    p->ncost = 1 + mix_below(s, 2);
    p->block = in->blk;
    int skind = mix_below(s, 3), ckind = mix_below(s, 3), sign = mix_below(s, 2), nin = 1,
        anti = mix_below(s, 2);
    for (int d = 0; d < p->ncost; d++) p->base[d] = mix_below(s, 2) ? draw(s, ckind, 0) : 0;
    for (int k = 0; k < p->nblocks; k++) {
        SearchBlock *b = &in->blk[k];
        *b = (SearchBlock){.ncand = 1 + mix_below(s, maxc),
                           .nin = nin,
                           .nout = 1 + mix_below(s, MAXS),
                           .score = in->score[k],
                           .out = in->out[k],
                           .cost = in->cost[k]};
        for (int c = 0; c < b->ncand; c++) {
            double sum = 0;
            in->out[k][c] = mix_below(s, b->nout);
            for (int j = 0; j < b->nin * p->ncost; j++)
                sum += in->cost[k][c * b->nin * p->ncost + j] = draw(s, ckind, 0);
            // Or, as in real spaces, the costlier the better (large frontiers).
            in->score[k][c] = anti ? 0.25 * draw(s, skind, sign) - sum / (b->nin * p->ncost)
                                   : draw(s, skind, sign);
        }
        nin = b->nout;
    }
    for (int j = 0; j < nin * p->ncost; j++) in->tail[j] = draw(s, ckind, 0);
    p->tail = mix_below(s, 4) ? in->tail : NULL;
    for (int d = 0; d < SEARCH_MAX_COST; d++) p->budget[d] = INFINITY;
}

static void bf_eval(const Inst *in, Arch *a) {
    const SearchProblem *p = &in->p;
    a->score = 0.0;
    for (int k = 0; k < p->nblocks; k++) a->score += in->score[k][a->choice[k]];
    for (int d = 0; d < SEARCH_MAX_COST; d++) {
        a->cost[d] = 0;
        if (d >= p->ncost) continue;
        double c = p->base[d];
        int st = 0;
        for (int k = 0; k < p->nblocks; k++) {
            int ch = a->choice[k];
            c += in->cost[k][(ch * in->blk[k].nin + st) * p->ncost + d];
            st = in->out[k][ch];
        }
        a->cost[d] = c + (p->tail ? p->tail[st * p->ncost + d] : 0.0);
    }
}

// Every architecture, in mixed-radix order. Returns how many.
static int bf_all(const Inst *in, Arch *all) {
    int n = 0, B = in->p.nblocks, ch[MAXB] = {0};
    for (;;) {
        memcpy(all[n].choice, ch, sizeof ch);
        bf_eval(in, &all[n++]);
        int k = B - 1;
        while (k >= 0 && ++ch[k] == in->blk[k].ncand) ch[k--] = 0;
        if (k < 0) return n;
    }
}

static int bf_feasible(const SearchProblem *p, const Arch *a) {
    for (int d = 0; d < p->ncost; d++)
        if (!(a->cost[d] <= p->budget[d])) return 0;
    return 1;
}

static int cmp_choice(const Arch *a, const Arch *b) {
    for (int k = 0; k < MAXB; k++)
        if (a->choice[k] != b->choice[k]) return a->choice[k] < b->choice[k] ? -1 : 1;
    return 0;
}
static int cmp_tie(const void *pa, const void *pb) {  // the tie rule, written out again
    const Arch *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    for (int d = 0; d < SEARCH_MAX_COST; d++)
        if (a->cost[d] != b->cost[d]) return a->cost[d] < b->cost[d] ? -1 : 1;
    return cmp_choice(a, b);
}
static int cmp_front(const Arch *a, const Arch *b, int dim) {
    if (a->cost[dim] != b->cost[dim]) return a->cost[dim] < b->cost[dim] ? -1 : 1;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return cmp_choice(a, b);
}
static int cmp_front0(const void *a, const void *b) {
    return cmp_front(a, b, 0);
}
static int cmp_front1(const void *a, const void *b) {
    return cmp_front(a, b, 1);
}

// Brute-force frontier: by (cost, score, choices), keep each strictly lower score.
static int bf_front(Arch *all, int n, int dim, Arch *front) {
    qsort(all, (size_t)n, sizeof *all, dim ? cmp_front1 : cmp_front0);
    int m = 0;
    double low = INFINITY;
    for (int i = 0; i < n; i++)
        if (all[i].score < low) low = all[i].score, front[m++] = all[i];
    return m;
}

static int same(const SearchArch *a, const Arch *b, int B) {
    if (!a->choice || memcmp(a->choice, b->choice, (size_t)B * sizeof(int))) return 0;
    return a->score == b->score && a->cost[0] == b->cost[0] && a->cost[1] == b->cost[1];
}

// The reference implementation's traversal (DNA searching/process_potential.py), generalised
// to B blocks, with its cut: once the last block finds a feasible candidate at sorted index j,
// later prefixes only try indices < j, cascading upward when j = 0. That assumes every later
// prefix scores worse, which fails as soon as an outer block moves on and the inner ones
// restart. Feasibility is checked exactly at the leaves and nothing else is pruned, so only the
// cut differs from an exhaustive search.
typedef struct RefWalk {
    const Inst *in;
    int order[MAXB][MAXC], lim[MAXB], cur[MAXB];
    Arch best;
    int found;
} RefWalk;

static void ref_walk(RefWalk *w, int k, int st, double score, const double *cost) {
    const SearchProblem *p = &w->in->p;
    if (k >= MAXB) return;  // never: tells the compiler the recursion stays in bounds
    int B = p->nblocks, n = w->lim[k];
    for (int j = 0; j < n; j++) {
        if (k > 0 && j >= w->lim[k]) {
            if (w->lim[k] == 0 && k < B - 1)
                w->lim[k - 1] = w->cur[k - 1], w->lim[k] = w->in->blk[k].ncand;
            break;
        }
        int c = w->order[k][j];
        double s = score + w->in->score[k][c], nc[SEARCH_MAX_COST] = {0};
        for (int d = 0; d < p->ncost; d++)
            nc[d] = cost[d] + w->in->cost[k][(c * w->in->blk[k].nin + st) * p->ncost + d];
        w->cur[k] = j;
        if (k < B - 1) {
            ref_walk(w, k + 1, w->in->out[k][c], s, nc);
            continue;
        }
        Arch a;
        for (int m = 0; m < B; m++) a.choice[m] = w->order[m][w->cur[m]];
        for (int m = B; m < MAXB; m++) a.choice[m] = 0;
        bf_eval(w->in, &a);
        if (!bf_feasible(p, &a)) continue;
        if (!w->found || cmp_tie(&a, &w->best) < 0) w->best = a, w->found = 1;
        w->lim[k] = j;
        if (j == 0 && k > 0) w->lim[k - 1] = w->cur[k - 1], w->lim[k] = w->in->blk[k].ncand;
        break;
    }
}

static int ref_search(const Inst *in, Arch *best) {
    RefWalk w = {.in = in};
    for (int k = 0; k < in->p.nblocks; k++) {
        int n = in->blk[k].ncand;
        for (int a = 0; a < n; a++) w.order[k][a] = a;
        for (int a = 1; a < n; a++)  // insertion sort by (score, index)
            for (int b = a; b > 0 && in->score[k][w.order[k][b]] < in->score[k][w.order[k][b - 1]];
                 b--) {
                int t = w.order[k][b];
                w.order[k][b] = w.order[k][b - 1], w.order[k][b - 1] = t;
            }
        w.lim[k] = n;
    }
    ref_walk(&w, 0, 0, 0.0, in->p.base);
    *best = w.best;
    return w.found;
}

// Budgets: none, the exact cost of a random architecture (equality edge), somewhere in the
// range, just below the cheapest (infeasible) or exactly the cheapest.
static void pick_budgets(uint64_t *s, Inst *in, const Arch *all, int n) {
    for (int d = 0; d < in->p.ncost; d++) {
        double lo = INFINITY, hi = 0;
        for (int i = 0; i < n; i++) lo = fmin(lo, all[i].cost[d]), hi = fmax(hi, all[i].cost[d]);
        int r = mix_below(s, 8);
        in->p.budget[d] = r < 2   ? INFINITY
                          : r < 4 ? all[mix_below(s, n)].cost[d]
                          : r < 6 ? lo + (hi - lo) * mix_unit(s)
                          : r < 7 ? nextafter(lo, -INFINITY)
                                  : lo;
    }
}

typedef struct Tally {
    int instances, feasible, maxfront, ref_cases, ref_worse, bad;
} Tally;

#define EXPECT(cond, ...)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            T_CHECK(0, "instance %d: " __VA_ARGS__);                                   \
            fprintf(stderr, "      B=%d ncost=%d budget %g %g tail %s\n", B, p->ncost, \
                    p->budget[0], p->budget[1], p->tail ? "yes" : "no");               \
            tl->bad++;                                                                 \
        }                                                                              \
    } while (0)

// Every solver against the brute force on one instance (budgets already set).
static void check_instance(Inst *in, int t, int K, int dim, Tally *tl) {
    static Arch all[MAXARCH], feas[MAXARCH], front[MAXARCH];
    const SearchProblem *p = &in->p;
    int B = p->nblocks, n = bf_all(in, all), nf = 0;
    tl->instances++;

    double cheap[SEARCH_MAX_COST];
    search_cheapest(p, cheap);
    for (int d = 0; d < p->ncost; d++) {
        double lo = INFINITY;
        for (int i = 0; i < n; i++) lo = fmin(lo, all[i].cost[d]);
        EXPECT(cheap[d] == lo, "cheapest cost %d: %.17g, brute force %.17g", t, d, cheap[d], lo);
    }
    for (int i = 0; i < n; i++)
        if (bf_feasible(p, &all[i])) feas[nf++] = all[i];
    qsort(feas, (size_t)nf, sizeof *feas, cmp_tie);
    tl->feasible += nf > 0;

    SearchArch best, top[10];
    long visited = 0;
    int ok = search_traverse(p, &best, &visited);
    EXPECT(ok == (nf > 0), "traverse feasible %d, brute force %d", t, ok, nf > 0);
    if (ok && nf) EXPECT(same(&best, &feas[0], B), "traverse differs from brute force", t);
    search_arch_free(&best);

    int ntop = -1;
    SearchFront fr;
    ok = search_exact(p, K, top, &ntop, dim, &fr);
    int want = nf < K ? nf : K;
    EXPECT(ok == (nf > 0) && ntop == want, "exact: feasible %d, %d of top-%d (want %d)", t, ok,
           ntop, K, want);
    for (int i = 0; i < ntop && i < want; i++)
        EXPECT(same(&top[i], &feas[i], B), "exact top-%d: entry %d differs", t, K, i);
    for (int i = 0; i < K; i++) search_arch_free(&top[i]);

    int nfr = bf_front(all, n, dim, front);
    tl->maxfront = nfr > tl->maxfront ? nfr : tl->maxfront;
    EXPECT(fr.n == nfr && fr.dim == dim, "frontier: %d points, brute force %d", t, fr.n, nfr);
    for (int i = 0; i < fr.n && i < nfr; i++)
        EXPECT(same(&fr.arch[i], &front[i], B), "frontier point %d differs", t, i);
    search_front_free(&fr);

    Arch ref;
    if (ref_search(in, &ref) && nf) {
        tl->ref_cases++;
        tl->ref_worse += cmp_tie(&ref, &feas[0]) != 0;
    }
}

// A calibrated predictor's block weight (problem_weight multiplies a block's scores by it):
// 1, below 1, 0 (the block's scores all tie), negative (a fitted weight may reverse a block),
// above 1, or continuous in [-2, 2].
static double draw_weight(uint64_t *s) {
    static const double w[] = {1.0, 0.5, 0.1, 0.0, -0.5, 1.7};
    int i = mix_below(s, 7);
    return i < 6 ? w[i] : 4 * mix_unit(s) - 2;
}

static Tally check_random(uint64_t seed, int ninst, int maxb, int maxc, int weighted) {
    static Arch all[MAXARCH];
    Tally tl = {0};
    for (int t = 0; t < ninst && tl.bad < 4; t++) {
        Inst in;
        make_inst(&seed, &in, maxb, maxc);
        for (int k = 0; weighted && k < in.p.nblocks; k++) {
            double w = draw_weight(&seed);
            for (int c = 0; c < in.blk[k].ncand; c++) in.score[k][c] = w * in.score[k][c];
        }
        pick_budgets(&seed, &in, all, bf_all(&in, all));
        int K = 1 + mix_below(&seed, 10), dim = mix_below(&seed, in.p.ncost);
        check_instance(&in, t, K, dim, &tl);
    }
    printf(
        "     %d instances, %d feasible, frontier up to %d points; the reference's pruned "
        "traversal misses the optimum in %d of %d (%.1f%%)\n",
        tl.instances, tl.feasible, tl.maxfront, tl.ref_worse, tl.ref_cases,
        100.0 * tl.ref_worse / (tl.ref_cases ? tl.ref_cases : 1));
    T_CHECK(tl.feasible > ninst / 4 && tl.feasible < ninst, "budget mix: %d feasible", tl.feasible);
    return tl;
}

// Thousands of small instances: every corner of ties, rounding and budgets.
TEST(search_matches_brute_force) {
    Tally tl = check_random(20240531, 3000, 4, 10, 0);
    T_CHECK(tl.ref_worse > 0, "the reference's cut should fail somewhere");
}

// Fewer, wider ones (up to 40^3 architectures): long candidate lists, radix sorts, beam caps,
// staircases coarser than the completions they bound.
TEST(search_matches_brute_force_wide) {
    check_random(77, 100, 3, 40, 0);
}

// The same with every block's scores weighted (weights < 1, 0, negative, > 1): the solvers
// see weighted scores as any others, and must still agree with the brute force bitwise.
TEST(search_weighted_matches_brute_force) {
    check_random(4242, 2000, 4, 10, 1);
    check_random(99, 60, 3, 40, 1);
}

// Two blocks. Block 0: narrow A (score 1.0, cost 10) or wide B (0.9, cost 12). Block 1 reads
// that width: C (score 1.0) costs 10 from narrow, 30 from wide; D (0.5) 20 and 40. Base 2,
// tail 3, budget 35. Greedy takes B, then nothing fits; costing block 1 at the narrow width
// takes B+D (12 + 20 = 32 <= 35) which really costs 2 + 12 + 40 + 3 = 57. The optimum is A+D,
// exactly at the budget.
TEST(search_width_dependence) {
    double s0[] = {1.0, 0.9}, c0[] = {10, 12}, s1[] = {1.0, 0.5}, c1[] = {10, 30, 20, 40};
    int o0[] = {0, 1}, o1[] = {0, 0};
    double tail[] = {3};
    SearchBlock blk[2] = {{2, 1, 2, s0, o0, c0}, {2, 2, 1, s1, o1, c1}};
    SearchProblem p = {.nblocks = 2,
                       .ncost = 1,
                       .block = blk,
                       .base = {2},
                       .tail = tail,
                       .budget = {35, INFINITY}};
    SearchArch best, top[4];
    long visited;
    T_CHECK(search_traverse(&p, &best, &visited) == 1, "feasible");
    T_CHECK(best.choice[0] == 0 && best.choice[1] == 1 && best.score == 1.5 && best.cost[0] == 35,
            "traverse: %d %d score %g cost %g", best.choice[0], best.choice[1], best.score,
            best.cost[0]);
    search_arch_free(&best);

    int ntop;
    SearchFront f;
    T_CHECK(search_exact(&p, 4, top, &ntop, 0, &f) == 1 && ntop == 2, "top: %d", ntop);
    T_CHECK(top[0].choice[0] == 0 && top[0].choice[1] == 1 && top[0].cost[0] == 35, "top[0]");
    T_CHECK(top[1].choice[0] == 0 && top[1].choice[1] == 0 && top[1].score == 2.0 &&
                top[1].cost[0] == 25,
            "top[1]");
    // All four: A+C (25, 2.0), A+D (35, 1.5), B+C (47, 1.9: beaten by A+D), B+D (57, 1.4).
    double fc[] = {25, 35, 57}, fs[] = {2.0, 1.5, 1.4};
    T_CHECK(f.n == 3, "frontier: %d points", f.n);
    for (int i = 0; i < f.n && i < 3; i++)
        T_CHECK(f.arch[i].cost[0] == fc[i] && f.arch[i].score == fs[i], "point %d: %g %g", i,
                f.arch[i].cost[0], f.arch[i].score);
    for (int i = 0; i < 4; i++) search_arch_free(&top[i]);
    search_front_free(&f);

    double cheap[SEARCH_MAX_COST];
    search_cheapest(&p, cheap);
    T_CHECK(cheap[0] == 25, "cheapest %g", cheap[0]);
    p.budget[0] = 24;
    T_CHECK(search_traverse(&p, &best, &visited) == 0 && !best.choice, "infeasible");
    T_CHECK(search_exact(&p, 3, top, &ntop, 0, NULL) == 0 && ntop == 0, "infeasible top");
}

// Ties, by hand. Block 0: c0 (score 1, costs 1, 5), c1 (0; 2, 0). Block 1: d0 (1; 2, 5),
// d1 (2; 1, 0), d2 (1; 3, 0). Architectures (score; cost0, cost1): c0d0 (2; 3, 10), c0d1
// (3; 2, 5), c0d2 (2; 4, 5), c1d0 (1; 4, 5), c1d1 (2; 3, 0), c1d2 (1; 5, 0).
TEST(search_ties) {
    double s0[] = {1, 0}, c0[] = {1, 5, 2, 0}, s1[] = {1, 2, 1}, c1[] = {2, 5, 1, 0, 3, 0};
    int o0[] = {0, 0}, o1[] = {0, 0, 0};
    SearchBlock blk[2] = {{2, 1, 1, s0, o0, c0}, {3, 1, 1, s1, o1, c1}};
    SearchProblem p = {.nblocks = 2, .ncost = 2, .block = blk, .budget = {INFINITY, INFINITY}};
    // Tie rule: score, cost0, cost1 (c1d1 before c0d0 on cost1 alone), then choices.
    int want[6][2] = {{1, 0}, {1, 2}, {1, 1}, {0, 0}, {0, 2}, {0, 1}}, ntop;
    SearchArch top[6], best;
    SearchFront f;
    T_CHECK(search_exact(&p, 6, top, &ntop, 0, &f) == 1 && ntop == 6, "top-6: %d", ntop);
    for (int i = 0; i < ntop; i++) {
        T_CHECK(top[i].choice[0] == want[i][0] && top[i].choice[1] == want[i][1],
                "top[%d] = c%dd%d, want c%dd%d", i, top[i].choice[0], top[i].choice[1], want[i][0],
                want[i][1]);
        search_arch_free(&top[i]);
    }
    T_CHECK(search_traverse(&p, &best, NULL) && best.choice[0] == 1 && best.choice[1] == 0,
            "traverse");
    search_arch_free(&best);
    // Frontier on cost0: (2, 3) c0d1; (3, 2) twice, c0d0 and c1d1: the smaller choice vector,
    // although the tie rule would pick c1d1 on cost1; (4, 1) c1d0. c0d2 (4, 2) and c1d2 (5, 1)
    // equal a point's score at a higher cost: out.
    int fc[3][2] = {{0, 1}, {0, 0}, {1, 0}};
    T_CHECK(f.n == 3, "frontier: %d points", f.n);
    for (int i = 0; i < f.n && i < 3; i++)
        T_CHECK(f.arch[i].choice[0] == fc[i][0] && f.arch[i].choice[1] == fc[i][1] &&
                    f.arch[i].cost[0] == i + 2 && f.arch[i].score == 3 - i,
                "frontier point %d: c%dd%d (%g, %g)", i, f.arch[i].choice[0], f.arch[i].choice[1],
                f.arch[i].cost[0], f.arch[i].score);
    search_front_free(&f);
}

static void bad_states(void *arg) {
    (void)arg;
    double s[] = {1}, c[] = {1, 1};
    int o[] = {0};
    SearchBlock blk[2] = {{1, 1, 1, s, o, c}, {1, 2, 1, s, o, c}};  // block 1 reads 2 states
    SearchProblem p = {.nblocks = 2, .ncost = 1, .block = blk, .budget = {INFINITY, INFINITY}};
    double out[SEARCH_MAX_COST];
    search_cheapest(&p, out);
}

static void bad_cost(void *arg) {
    (void)arg;
    double s[] = {1}, c[] = {-1};
    int o[] = {0};
    SearchBlock blk[1] = {{1, 1, 1, s, o, c}};
    SearchProblem p = {.nblocks = 1, .ncost = 1, .block = blk, .budget = {INFINITY, INFINITY}};
    SearchArch a;
    search_traverse(&p, &a, NULL);
}

TEST(search_bad_input) {
    T_EXPECT_DEATH(bad_states, NULL, "block 1: 1 candidates, 2 input states (want 1)");
    T_EXPECT_DEATH(bad_cost, NULL, "cost 0 is -1");
}

// A random instance shaped like a real one: per candidate a size u, params and MACs growing
// with u and with the widths read and written, scores falling with u, plus noise.
typedef struct Big {
    SearchProblem p;
    SearchBlock blk[8];
    double *score[8], *cost[8], tail[3 * 2];
    int *out[8];
} Big;

static void make_big(Big *g, int nblocks, const int *ncand, uint64_t seed) {
    static const double width[3] = {0.75, 1.0, 1.25};
    memset(g, 0, sizeof *g);
    g->p = (SearchProblem){.nblocks = nblocks,
                           .ncost = 2,
                           .block = g->blk,
                           .base = {5e5, 3e7},
                           .tail = g->tail,
                           .budget = {INFINITY, INFINITY}};
    for (int k = 0; k < nblocks; k++) {
        int n = ncand[k], nin = k ? 3 : 1;
        g->score[k] = malloc((size_t)n * sizeof(double));
        g->out[k] = malloc((size_t)n * sizeof(int));
        g->cost[k] = malloc((size_t)n * nin * 2 * sizeof(double));
        for (int c = 0; c < n; c++) {
            double u = mix_unit(&seed);
            int o = mix_below(&seed, 3);
            g->out[k][c] = o;
            g->score[k][c] = 1.0 - 0.4 * u - 0.1 * width[o] + 0.05 * mix_unit(&seed);
            for (int i = 0; i < nin; i++) {
                double w = 0.3 * (k ? width[i] : 1.0) + 0.7 * width[o];
                g->cost[k][(c * nin + i) * 2 + 0] = round(1e5 * (k + 1) * (0.5 + u) * w);
                g->cost[k][(c * nin + i) * 2 + 1] =
                    round(2e7 * (0.5 + u) * w * (0.9 + 0.2 * mix_unit(&seed)));
            }
        }
        g->blk[k] = (SearchBlock){n, nin, 3, g->score[k], g->out[k], g->cost[k]};
    }
    for (int s = 0; s < 3; s++)
        g->tail[2 * s] = 4e5 * width[s], g->tail[2 * s + 1] = 1e6 * width[s];
}

static void free_big(Big *g) {
    for (int k = 0; k < g->p.nblocks; k++) free(g->score[k]), free(g->out[k]), free(g->cost[k]);
}

// Budgets a third of the way from the cheapest to the unconstrained optimum's cost.
static void bench(const char *name, int nblocks, const int *ncand) {
    Big g;
    make_big(&g, nblocks, ncand, 7);
    SearchArch best, top[10];
    long visited = 0;
    double cheap[SEARCH_MAX_COST], t0 = timer_now();
    search_cheapest(&g.p, cheap);
    double t1 = timer_now();
    search_traverse(&g.p, &best, &visited);
    for (int d = 0; d < 2; d++) g.p.budget[d] = cheap[d] + (best.cost[d] - cheap[d]) / 3;
    search_arch_free(&best);

    double t2 = timer_now();
    int ok = search_traverse(&g.p, &best, &visited), ntop = 0;
    double t3 = timer_now();
    SearchFront f;
    int ok2 = search_exact(&g.p, 10, top, &ntop, 0, &f);
    double t4 = timer_now();
    T_CHECK(ok && ok2 && ntop == 10, "%s: feasible %d %d, %d of top-10", name, ok, ok2, ntop);
    if (ok && ok2) {
        T_CHECK(search_arch_cmp(&best, &top[0], nblocks) == 0, "%s: traverse != exact top-1", name);
        for (int i = 1; i < ntop; i++)
            T_CHECK(search_arch_cmp(&top[i - 1], &top[i], nblocks) < 0, "%s: top-10 order", name);
    }
    printf(
        "     %s: %d blocks, %d..%d candidates, 3 states, 2 costs: cheapest %.3f ms; traverse "
        "%.3f s (%ld nodes); exact top-10 + frontier %.3f s (%d points)\n",
        name, nblocks, ncand[0], ncand[1], 1e3 * (t1 - t0), t3 - t2, visited, t4 - t3, f.n);
    search_arch_free(&best);
    for (int i = 0; i < 10; i++) search_arch_free(&top[i]);
    search_front_free(&f);
    free_big(&g);
}

TEST(search_bench) {
    int dflt[3] = {468, 468, 468};
    bench("default", 3, dflt);
#ifdef __SANITIZE_ADDRESS__
    int big[6] = {500, 1500, 1500, 1500, 1500, 500};
#else
    int big[6] = {2000, 17000, 17000, 17000, 17000, 6000};
#endif
    bench("imagenet", 6, big);
}
