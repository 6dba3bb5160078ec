// Architecture search (see search.h): problem checks, the fixed-order evaluation and tie rule,
// state-aware lower bounds, the exact traversal, the exact top-K / frontier merge and the
// cheapest cost. Results are compared bitwise with a brute force, so every prune must be sound
// in floating point: bounds that break sorted loops only add in the summation order (rounding is
// monotone), the other bounds carry a tolerance that covers all rounding, and a partial solution
// only drops out when others win for every completion. No I/O, no MPI.
#include "nas/search.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static inline double cand_cost(const SearchProblem *p, int k, int c, int in, int d) {
    const SearchBlock *b = &p->block[k];
    return b->cost[((size_t)c * b->nin + in) * p->ncost + d];
}

static inline double tail_cost(const SearchProblem *p, int s, int d) {
    return p->tail ? p->tail[(size_t)s * p->ncost + d] : 0.0;
}

// States at boundary k: the input states of block k, or (k = B) the states the tail reads.
static inline int nstates(const SearchProblem *p, int k) {
    return k < p->nblocks ? p->block[k].nin : p->block[p->nblocks - 1].nout;
}

static void check_problem(const SearchProblem *p) {
    DNA_CHECK(p->nblocks >= 1 && p->block, "give the search at least one block",
              "search: %d blocks", p->nblocks);
    DNA_CHECK(p->ncost >= 1 && p->ncost <= SEARCH_MAX_COST,
              "search on one or two costs (params, MACs)", "search: %d cost dimensions", p->ncost);
    for (int d = 0; d < p->ncost; d++)
        DNA_CHECK(isfinite(p->base[d]) && p->base[d] >= 0 && !isnan(p->budget[d]),
                  "fixed costs are finite and >= 0; an unconstrained budget is INFINITY",
                  "search: cost %d: base %g, budget %g", d, p->base[d], p->budget[d]);
    for (int k = 0; k < p->nblocks; k++) {
        const SearchBlock *b = &p->block[k];
        int nin = k ? p->block[k - 1].nout : 1;
        DNA_CHECK(b->ncand >= 1 && b->nin == nin && b->nout >= 1 && b->score && b->out && b->cost,
                  "each block needs candidates, and reads as many states as the previous block "
                  "writes (block 0 reads one)",
                  "search: block %d: %d candidates, %d input states (want %d), %d output states", k,
                  b->ncand, b->nin, nin, b->nout);
        for (int c = 0; c < b->ncand; c++) {
            DNA_CHECK(isfinite(b->score[c]) && b->out[c] >= 0 && b->out[c] < b->nout,
                      "scores must be finite and output states in range; check the potentials",
                      "search: block %d candidate %d: score %g, output state %d of %d", k, c,
                      b->score[c], b->out[c], b->nout);
            for (int i = 0; i < b->nin; i++)
                for (int d = 0; d < p->ncost; d++) {
                    double v = cand_cost(p, k, c, i, d);
                    DNA_CHECK(isfinite(v) && v >= 0, "costs (params, MACs) are finite and >= 0",
                              "search: block %d candidate %d state %d: cost %d is %g", k, c, i, d,
                              v);
                }
        }
    }
    for (int s = 0; s < nstates(p, p->nblocks); s++)
        for (int d = 0; d < p->ncost; d++)
            DNA_CHECK(isfinite(tail_cost(p, s, d)) && tail_cost(p, s, d) >= 0,
                      "tail costs are finite and >= 0", "search: tail state %d cost %d is %g", s, d,
                      tail_cost(p, s, d));
}

void search_eval(const SearchProblem *p, const int *choice, double *score,
                 double cost[SEARCH_MAX_COST]) {
    double s = 0.0;
    for (int k = 0; k < p->nblocks; k++) {
        DNA_CHECK(choice[k] >= 0 && choice[k] < p->block[k].ncand,
                  "choose a candidate index within the block", "search: block %d: choice %d of %d",
                  k, choice[k], p->block[k].ncand);
        s += p->block[k].score[choice[k]];
    }
    *score = s;
    for (int d = 0; d < SEARCH_MAX_COST; d++) {
        if (d >= p->ncost) {
            cost[d] = 0;
            continue;
        }
        double c = p->base[d];
        int state = 0;
        for (int k = 0; k < p->nblocks; k++) {
            c += cand_cost(p, k, choice[k], state, d);
            state = p->block[k].out[choice[k]];
        }
        cost[d] = c + tail_cost(p, state, d);
    }
}

int search_feasible(const SearchProblem *p, const double cost[SEARCH_MAX_COST]) {
    for (int d = 0; d < p->ncost; d++)
        if (!(cost[d] <= p->budget[d])) return 0;
    return 1;
}

int search_arch_cmp(const SearchArch *a, const SearchArch *b, int nblocks) {
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    for (int d = 0; d < SEARCH_MAX_COST; d++)
        if (a->cost[d] != b->cost[d]) return a->cost[d] < b->cost[d] ? -1 : 1;
    for (int k = 0; k < nblocks; k++)
        if (a->choice[k] != b->choice[k]) return a->choice[k] < b->choice[k] ? -1 : 1;
    return 0;
}

void search_arch_free(SearchArch *a) {
    free(a->choice);
    memset(a, 0, sizeof *a);
}

void search_front_free(SearchFront *f) {
    for (int i = 0; i < f->n; i++) search_arch_free(&f->arch[i]);
    free(f->arch);
    memset(f, 0, sizeof *f);
}

void search_cheapest(const SearchProblem *p, double out[SEARCH_MAX_COST]) {
    check_problem(p);
    int maxs = 1;
    for (int k = 0; k < p->nblocks; k++) maxs = p->block[k].nout > maxs ? p->block[k].nout : maxs;
    double *cur = dna_malloc((size_t)maxs * sizeof *cur), *next = dna_malloc(maxs * sizeof *next);
    for (int d = 0; d < SEARCH_MAX_COST; d++) {
        out[d] = 0;
        if (d >= p->ncost) continue;
        // Forward in the summation order: rounding is monotone, so the least prefix per state
        // also gives the least completed sum, exactly as a brute force would find it.
        cur[0] = p->base[d];
        for (int k = 0; k < p->nblocks; k++) {
            const SearchBlock *b = &p->block[k];
            for (int o = 0; o < b->nout; o++) next[o] = INFINITY;
            for (int c = 0; c < b->ncand; c++)
                for (int i = 0; i < b->nin; i++)
                    next[b->out[c]] = fmin(next[b->out[c]], cur[i] + cand_cost(p, k, c, i, d));
            double *t = cur;
            cur = next, next = t;
        }
        out[d] = INFINITY;
        for (int s = 0; s < nstates(p, p->nblocks); s++)
            out[d] = fmin(out[d], cur[s] + tail_cost(p, s, d));
    }
    free(cur);
    free(next);
}

// ---------------------------------------------------------------------------------------------
// Bounds. For boundary k (blocks k.. still to choose), state s and cost d, a lower staircase:
// points (cost, score), cost ascending and score strictly descending, such that every
// completion from (k, s) with cost c has score >= the score of the last point at cost <= c.
// Built backward from boundary k+1's, over STAIR_CELLS cost cells: a cell becomes one point, its
// least cost with the least score of it and every cheaper cell, which bounds every completion in
// it from below. Its sums run backward, so its values are only close to the solvers' sums: every
// use adds a tolerance.

enum { STAIR_CELLS = 1024 };

typedef struct Pt {
    double c, s;
} Pt;

typedef struct Stair {
    int n;
    Pt *pt;
    // The same bound by cell, for lookups in O(1): lb[j] is the least score of cells 0..j.
    double lo, h;  // cell of cost c: (c - lo) / h, as built
    int ncell;
    double *lb;
} Stair;

typedef struct Bounds {
    Stair *stair;                   // [off[k] + s * ncost + d] for boundaries k = 0..B
    int *off;                       // [B + 2]
    double *smin;                   // [B] each block's minimum score
    double *srest;                  // [B + 1] sum of smin[k..]: scores do not depend on states
    double limit[SEARCH_MAX_COST];  // budget widened by the rounding slack: prune above it only
    // Score, cost[0], cost[1]: a gap wider than this between two sums survives every later
    // rounding, and it covers the difference between a staircase's sums and the solvers' sums.
    double tol[1 + SEARCH_MAX_COST];
} Bounds;

static int cmp_pt(const void *pa, const void *pb) {
    const Pt *a = pa, *b = pb;
    if (a->c != b->c) return a->c < b->c ? -1 : 1;
    return (a->s > b->s) - (a->s < b->s);
}

// Sorts and keeps the points with a strictly lower score than every cheaper one.
static int pareto(Pt *a, int n) {
    qsort(a, (size_t)n, sizeof *a, cmp_pt);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || a[i].s < a[m - 1].s) a[m++] = a[i];
    return m;
}

// Least completion score within a remaining budget r; INFINITY when nothing fits. Cells are
// monotone in the cost, so every point with a cost <= r lies in r's cell or before it.
static double stair_lb(const Stair *t, double r) {
    if (!(t->pt[0].c <= r)) return INFINITY;
    double x = t->h > 0 ? (r - t->lo) / t->h : 0;
    return t->lb[x < t->ncell - 1 ? (int)x : t->ncell - 1];
}

// Lower bound of the score still to come at boundary k, state s, for a partial solution of
// cost `cost` (all of the problem's dimensions); INFINITY when no completion fits the budgets.
static double completion_lb(const SearchProblem *p, const Bounds *bd, int k, int s,
                            const double *cost) {
    double lb = -INFINITY;
    for (int d = 0; d < p->ncost; d++)
        lb = fmax(lb, stair_lb(&bd->stair[bd->off[k] + s * p->ncost + d], bd->limit[d] - cost[d]));
    return lb;
}

// Boundary k's staircase for input state i and cost d, from boundary k+1's.
static void stair_block(const SearchProblem *p, Bounds *bd, int k, int i, int d, Pt *g, Pt *cell) {
    const SearchBlock *b = &p->block[k];
    // Per output state, the candidates' own Pareto set: any other one is no better than one of
    // these in both score and cost, and neither are its completions.
    int *first = dna_malloc((size_t)(b->nout + 1) * sizeof(int)), n = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int o = 0; o < b->nout; o++) {
        first[o] = n;
        int m = 0;
        for (int c = 0; c < b->ncand; c++)
            if (b->out[c] == o) g[n + m++] = (Pt){cand_cost(p, k, c, i, d), b->score[c]};
        n += pareto(g + n, m);
        const Stair *t = &bd->stair[bd->off[k + 1] + o * p->ncost + d];
        for (int x = first[o]; x < n; x++) {
            lo = fmin(lo, g[x].c + t->pt[0].c);
            hi = fmax(hi, g[x].c + t->pt[t->n - 1].c);
        }
    }
    first[b->nout] = n;
    for (int j = 0; j < STAIR_CELLS; j++) cell[j] = (Pt){INFINITY, INFINITY};
    double h = (hi - lo) / STAIR_CELLS;  // the cell of a cost is monotone in the cost
    for (int o = 0; o < b->nout; o++) {
        const Stair *t = &bd->stair[bd->off[k + 1] + o * p->ncost + d];
        for (int x = first[o]; x < first[o + 1]; x++)
            for (int y = 0; y < t->n; y++) {
                double c = g[x].c + t->pt[y].c, s = g[x].s + t->pt[y].s;
                int j = h > 0 ? (int)((c - lo) / h) : 0;
                Pt *e = &cell[j < STAIR_CELLS ? j : STAIR_CELLS - 1];
                e->c = fmin(e->c, c);
                e->s = fmin(e->s, s);
            }
    }
    Stair *t = &bd->stair[bd->off[k] + i * p->ncost + d];
    *t = (Stair){.lo = lo, .h = h, .ncell = STAIR_CELLS};
    t->lb = dna_malloc(STAIR_CELLS * sizeof *t->lb);
    for (int j = 0; j < STAIR_CELLS; j++) t->lb[j] = fmin(j ? t->lb[j - 1] : INFINITY, cell[j].s);
    int m = 0;
    for (int j = 0; j < STAIR_CELLS; j++)
        if (cell[j].c < INFINITY && (m == 0 || cell[j].s < cell[m - 1].s)) cell[m++] = cell[j];
    t->n = m;
    t->pt = dna_malloc((size_t)m * sizeof *t->pt);
    memcpy(t->pt, cell, (size_t)m * sizeof *t->pt);
    free(first);
}

static void bounds_init(const SearchProblem *p, Bounds *bd) {
    int B = p->nblocks, nc = p->ncost;
    bd->off = dna_malloc((size_t)(B + 2) * sizeof(int));
    bd->off[0] = 0;
    for (int k = 0; k <= B; k++) bd->off[k + 1] = bd->off[k] + nstates(p, k) * nc;
    bd->stair = dna_calloc((size_t)bd->off[B + 1], sizeof *bd->stair);
    bd->smin = dna_malloc((size_t)B * sizeof(double));
    bd->srest = dna_malloc((size_t)(B + 1) * sizeof(double));
    double smag = 0, cmag[SEARCH_MAX_COST] = {0};
    for (int s = 0; s < nstates(p, B); s++)
        for (int d = 0; d < nc; d++) {
            Stair *t = &bd->stair[bd->off[B] + s * nc + d];
            *t = (Stair){.n = 1, .ncell = 1, .lo = tail_cost(p, s, d)};
            t->pt = dna_malloc(sizeof *t->pt);
            t->pt[0] = (Pt){tail_cost(p, s, d), 0.0};
            t->lb = dna_calloc(1, sizeof *t->lb);
            cmag[d] = fmax(cmag[d], t->pt[0].c);
        }
    int maxc = 1;
    for (int k = 0; k < B; k++) maxc = p->block[k].ncand > maxc ? p->block[k].ncand : maxc;
    Pt *g = dna_malloc((size_t)maxc * sizeof *g), *cell = dna_malloc(STAIR_CELLS * sizeof *cell);
    bd->srest[B] = 0;
    for (int k = B - 1; k >= 0; k--) {
        const SearchBlock *b = &p->block[k];
        for (int i = 0; i < b->nin; i++)
            for (int d = 0; d < nc; d++) stair_block(p, bd, k, i, d, g, cell);
        double smax = 0, cmax[SEARCH_MAX_COST] = {0};
        bd->smin[k] = INFINITY;
        for (int c = 0; c < b->ncand; c++) {
            bd->smin[k] = fmin(bd->smin[k], b->score[c]);
            smax = fmax(smax, fabs(b->score[c]));
            for (int i = 0; i < b->nin; i++)
                for (int d = 0; d < nc; d++) cmax[d] = fmax(cmax[d], cand_cost(p, k, c, i, d));
        }
        bd->srest[k] = bd->srest[k + 1] + bd->smin[k];
        smag += smax;
        for (int d = 0; d < nc; d++) cmag[d] += cmax[d];
    }
    free(g);
    free(cell);
    // n additions of terms bounded by M move a sum, or a difference of two sums, by at most
    // n ulp(M) <= n eps M; B + 3 terms at most (base, tail, the staircase's own order) and a
    // factor 4 to spare. Pruning a little less never changes a result.
    double rel = 4.0 * (B + 3) * DBL_EPSILON;
    bd->tol[0] = rel * smag;
    for (int d = 0; d < SEARCH_MAX_COST; d++) {
        if (d < nc) cmag[d] += p->base[d];
        bd->tol[1 + d] = d < nc ? rel * cmag[d] : 0;
        bd->limit[d] = d >= nc ? INFINITY : p->budget[d] + rel * fmax(fabs(p->budget[d]), cmag[d]);
    }
}

static void bounds_free(const SearchProblem *p, Bounds *bd) {
    for (int j = 0; j < bd->off[p->nblocks + 1]; j++) free(bd->stair[j].pt), free(bd->stair[j].lb);
    free(bd->stair);
    free(bd->off);
    free(bd->smin);
    free(bd->srest);
}

// ---------------------------------------------------------------------------------------------
// Partial solutions and the rule that drops them. One partial solution f beats another, e, that
// ends in the same state when for every completion f's architecture comes first under the tie
// rule and is feasible whenever e's is: f is no worse in score and every cost (rounding is
// monotone) and either some gap exceeds the tolerance (it survives rounding) or f's choice
// prefix is lexicographically smaller (if all sums round to the same values, the choices
// decide). The relation is transitive, and sorting by (score, cost, prefix) puts every f before
// the e it beats, so comparing e with the kept ones only is enough: a dropped beater of e is
// itself beaten by topk kept ones, which beat e too. An e beaten by topk others never completes
// into the top K: each of them completes into a better architecture with the same suffix. The
// same rule prunes a block's candidates under one parent (prefix order = candidate order).

typedef struct Node {
    double score, cost[SEARCH_MAX_COST];  // cost in the rule's dimensions (unused: 0)
    int parent, cand;  // parent: index in the previous level; cand: this block's choice
    int plex, lex;     // rank of the parent's / this choice prefix in lexicographic order
} Node;

typedef struct Rule {
    int nd, dim[SEARCH_MAX_COST];     // node cost j is problem cost dim[j]
    int topk;                         // keep what fewer than topk others beat
    double tol[1 + SEARCH_MAX_COST];  // score, node cost 0, node cost 1
} Rule;

typedef struct Keyed {
    uint64_t key;
    int idx;
} Keyed;

typedef struct Scratch {  // buffers reused across sorts
    Node *buf, *tmp;
    Keyed *key, *key2;
    int bufcap, tmpcap, keycap, key2cap;
} Scratch;

static void *grow(void *ptr, int *cap, size_t need, size_t size) {
    if (need <= (size_t)*cap && ptr) return ptr;
    need = need ? need : 1;  // never NULL: some callers pass the buffer on with a count of 0
    size_t n = need > 2 * (size_t)*cap ? need : 2 * (size_t)*cap;
    DNA_CHECK(n <= 0x7fffffff, "tighten the budget or search fewer candidates per block",
              "search: %zu partial solutions", n);
    ptr = realloc(ptr, n * size);
    DNA_CHECK(ptr, "tighten the budget or search fewer candidates per block",
              "search: out of memory for %zu partial solutions", n);
    *cap = (int)n;
    return ptr;
}

static void scratch_free(Scratch *s) {
    free(s->buf);
    free(s->tmp);
    free(s->key);
    free(s->key2);
}

static Rule make_rule(const Bounds *bd, int topk, int nd, const int *dim) {
    Rule r = {.nd = nd, .topk = topk, .tol = {bd->tol[0]}};
    for (int j = 0; j < nd; j++) r.dim[j] = dim[j], r.tol[1 + j] = bd->tol[1 + dim[j]];
    return r;
}

static int cmp_node(const void *pa, const void *pb) {
    const Node *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    for (int d = 0; d < SEARCH_MAX_COST; d++)
        if (a->cost[d] != b->cost[d]) return a->cost[d] < b->cost[d] ? -1 : 1;
    if (a->plex != b->plex) return a->plex < b->plex ? -1 : 1;
    return (a->cand > b->cand) - (a->cand < b->cand);
}

static int cmp_keyed(const void *pa, const void *pb) {
    const Keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

// A double's order as an unsigned integer's (-0.0 just below +0.0).
static uint64_t order_key(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u >> 63 ? ~u : u | (1ull << 63);
}

static void grow_keys(Scratch *s, int n) {
    s->key = grow(s->key, &s->keycap, (size_t)n, sizeof *s->key);
    s->key2 = grow(s->key2, &s->key2cap, (size_t)n, sizeof *s->key2);
}

// Orders s->buf[0..n) by cmp_node into s->key[0..n).idx, moving no node: a level can hold
// millions. LSD radix sort on the score's top 48 bits, 8 a pass, skipping digits all keys share;
// then the rare runs of equal top bits by the full comparison.
static void order_nodes(Scratch *s, int n) {
    enum { BITS = 8, PASSES = 6, MASK = 255 };
    grow_keys(s, n);
    int count[PASSES][MASK + 1] = {{0}};
    for (int i = 0; i < n; i++) {
        uint64_t k = order_key(s->buf[i].score) >> 16;
        s->key[i] = (Keyed){k, i};
        for (int b = 0; b < PASSES; b++) count[b][(k >> (BITS * b)) & MASK]++;
    }
    for (int b = 0; b < PASSES && n > 0; b++) {
        int *c = count[b];
        if (c[(s->key[0].key >> (BITS * b)) & MASK] == n) continue;
        for (int v = 0, sum = 0; v <= MASK; v++) {
            int t = c[v];
            c[v] = sum, sum += t;
        }
        for (int i = 0; i < n; i++) s->key2[c[(s->key[i].key >> (BITS * b)) & MASK]++] = s->key[i];
        Keyed *t = s->key;
        int tc = s->keycap;
        s->key = s->key2, s->keycap = s->key2cap;
        s->key2 = t, s->key2cap = tc;
    }
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && s->key[j].key == s->key[i].key;) j++;
        if (j - i == 1) continue;
        // The run's nodes, carrying their index in lex (unused until a level is ranked).
        s->tmp = grow(s->tmp, &s->tmpcap, (size_t)(j - i), sizeof *s->tmp);
        for (int x = i; x < j; x++)
            s->tmp[x - i] = s->buf[s->key[x].idx], s->tmp[x - i].lex = s->key[x].idx;
        qsort(s->tmp, (size_t)(j - i), sizeof *s->tmp, cmp_node);
        for (int x = i; x < j; x++) s->key[x].idx = s->tmp[x - i].lex;
    }
}

static inline const Node *nth(const Scratch *s, int i) {
    return &s->buf[s->key[i].idx];
}

static int beats(const Node *f, const Node *e, const double *tol) {
    if (f->score > e->score) return 0;
    int wide = e->score - f->score > tol[0];
    for (int d = 0; d < SEARCH_MAX_COST; d++) {
        if (f->cost[d] > e->cost[d]) return 0;
        wide |= e->cost[d] - f->cost[d] > tol[1 + d];
    }
    return wide || f->plex < e->plex || (f->plex == e->plex && f->cand < e->cand);
}

// Takes s->buf[0..n) in the order of order_nodes and keeps, in that order, those beaten by fewer
// than topk kept ones; they end up in s->buf[0..m). Returns m.
static int keep_front(const Rule *r, Scratch *s, int n) {
    int m = 0;
    double low[SEARCH_MAX_COST] = {INFINITY, INFINITY};  // least kept cost per dimension
    for (int i = 0; i < n; i++) {
        const Node *e = nth(s, i);
        // A beater is no costlier in any dimension: there is none when e undercuts every kept
        // one somewhere. Else newest first: the latest kept are the cheapest, likeliest beaters.
        int beaten = 0, maybe = 1;
        for (int d = 0; d < SEARCH_MAX_COST; d++) maybe &= e->cost[d] >= low[d];
        for (int f = m - 1; maybe && f >= 0 && beaten < r->topk; f--)
            beaten += beats(&s->tmp[f], e, r->tol);
        if (beaten >= r->topk) continue;
        for (int d = 0; d < SEARCH_MAX_COST; d++) low[d] = fmin(low[d], e->cost[d]);
        if (m == s->tmpcap) s->tmp = grow(s->tmp, &s->tmpcap, (size_t)m + 1, sizeof *s->tmp);
        s->tmp[m++] = *e;
    }
    Node *t = s->buf;
    int tc = s->bufcap;
    s->buf = s->tmp, s->bufcap = s->tmpcap;
    s->tmp = t, s->tmpcap = tc;
    return m;
}

// Block k's candidates read from state `in`, per output state, sorted by cmp_node (score
// first), less those beaten by topk others. Writes list[off[o] .. off[o+1]-1] per state o.
static void cand_lists(const SearchProblem *p, const Rule *r, Scratch *s, int k, int in, int *list,
                       int *off) {
    const SearchBlock *b = &p->block[k];
    int n = 0;
    for (int o = 0; o < b->nout; o++) {
        int m = 0;
        s->buf = grow(s->buf, &s->bufcap, (size_t)b->ncand, sizeof *s->buf);
        for (int c = 0; c < b->ncand; c++) {
            if (b->out[c] != o) continue;
            Node *t = &s->buf[m++];
            *t = (Node){.score = b->score[c], .cand = c};
            for (int j = 0; j < r->nd; j++) t->cost[j] = cand_cost(p, k, c, in, r->dim[j]);
        }
        order_nodes(s, m);
        m = keep_front(r, s, m);
        off[o] = n;
        for (int i = 0; i < m; i++) list[n++] = s->buf[i].cand;
    }
    off[b->nout] = n;
}

// ---------------------------------------------------------------------------------------------
// Traversal (DNA Algorithm 2), exact. Candidates beaten by another with the same output state
// (the rule above, top-1) can never be the best and are left out of the loops.

typedef struct Step {                     // a loop's candidate, packed in loop order
    double score, cost[SEARCH_MAX_COST];  // cost read from the loop's input state
    int cand, out;
} Step;

typedef struct Walk {
    const SearchProblem *p;
    const Bounds *bd;
    Step **order;         // [first[k] + i]: block k's candidates from state i, by score ascending
    int *norder, *first;  // first: [B]
    int *path;            // [B] the choices on the way down
    SearchArch *best;
    int found;
    long visited;
} Walk;

static int cmp_step(const void *pa, const void *pb) {
    const Step *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return (a->cand > b->cand) - (a->cand < b->cand);
}

static void walk(Walk *w, int k, int state, double score, const double *cost) {
    const SearchProblem *p = w->p;
    const Step *order = w->order[w->first[k] + state];
    int last = k == p->nblocks - 1, n = w->norder[w->first[k] + state];
    for (int j = 0; j < n; j++) {
        const Step *c = &order[j];
        double s = score + c->score;
        if (w->found) {
            // Adding the smallest possible scores in the summation order bounds every
            // completion from below, bitwise. Strict: an equal score may still win on cost.
            double bound = s;
            for (int m = k + 1; m < p->nblocks; m++) bound += w->bd->smin[m];
            if (bound > w->best->score) break;  // sorted: no later candidate does better
        }
        SearchArch a = {.choice = w->path, .score = s};
        for (int d = 0; d < p->ncost; d++) a.cost[d] = cost[d] + c->cost[d];
        // The cost-aware bound depends on the candidate's cost and width: skip, don't break.
        double lb = completion_lb(p, w->bd, k + 1, c->out, a.cost);
        if (lb == INFINITY || (w->found && s + lb - w->bd->tol[0] > w->best->score)) continue;
        w->visited++;
        w->path[k] = c->cand;
        if (!last) {
            walk(w, k + 1, c->out, s, a.cost);
            continue;
        }
        for (int d = 0; d < p->ncost; d++) a.cost[d] += tail_cost(p, c->out, d);
        if (!search_feasible(p, a.cost)) continue;
        if (w->found && search_arch_cmp(&a, w->best, p->nblocks) >= 0) continue;
        memcpy(w->best->choice, w->path, (size_t)p->nblocks * sizeof(int));
        w->best->score = a.score;
        memcpy(w->best->cost, a.cost, sizeof a.cost);
        w->found = 1;
    }
}

// Block k's loop from state i: the unbeaten candidates, by (score, index).
static void walk_order(Walk *w, const Rule *r, Scratch *s, int k, int i) {
    const SearchBlock *b = &w->p->block[k];
    int *list = dna_malloc((size_t)b->ncand * sizeof(int)),
        *off = dna_malloc((size_t)(b->nout + 1) * sizeof(int));
    cand_lists(w->p, r, s, k, i, list, off);
    int n = off[b->nout];
    Step *st = dna_calloc((size_t)(n ? n : 1), sizeof *st);
    for (int j = 0; j < n; j++) {
        int c = list[j];
        st[j] = (Step){.score = b->score[c], .cand = c, .out = b->out[c]};
        for (int d = 0; d < w->p->ncost; d++) st[j].cost[d] = cand_cost(w->p, k, c, i, d);
    }
    qsort(st, (size_t)n, sizeof *st, cmp_step);
    w->order[w->first[k] + i] = st;
    w->norder[w->first[k] + i] = n;
    free(list);
    free(off);
}

int search_traverse(const SearchProblem *p, SearchArch *best, long *visited) {
    check_problem(p);
    int B = p->nblocks, dims[SEARCH_MAX_COST] = {0, 1};
    Bounds bd;
    bounds_init(p, &bd);
    Walk w = {.p = p, .bd = &bd, .best = best};
    w.first = dna_malloc((size_t)B * sizeof *w.first);
    for (int k = 0, n = 0; k < B; k++) w.first[k] = n, n += p->block[k].nin;
    int nlists = w.first[B - 1] + p->block[B - 1].nin;
    w.order = dna_malloc((size_t)nlists * sizeof *w.order);
    w.norder = dna_malloc((size_t)nlists * sizeof *w.norder);
    w.path = dna_calloc((size_t)B, sizeof *w.path);
    Rule r = make_rule(&bd, 1, p->ncost, dims);
    Scratch s = {0};
    for (int k = 0; k < B; k++)
        for (int i = 0; i < p->block[k].nin; i++) walk_order(&w, &r, &s, k, i);
    scratch_free(&s);
    memset(best, 0, sizeof *best);
    best->choice = dna_calloc((size_t)B, sizeof(int));
    walk(&w, 0, 0, 0.0, p->base);
    if (!w.found) search_arch_free(best);
    if (visited) *visited = w.visited;
    for (int j = 0; j < nlists; j++) free(w.order[j]);
    free(w.order);
    free(w.norder);
    free(w.first);
    free(w.path);
    bounds_free(p, &bd);
    return w.found;
}

// ---------------------------------------------------------------------------------------------
// Merge: level k holds the partial solutions over blocks 0..k-1 that the rule keeps, grouped by
// output state. With budgets, a partial solution is also dropped when no completion fits
// (staircases) or when it cannot finish at or below `cap`: the K-th best score of K feasible
// architectures that a first, beam-limited pass found (any K feasible ones bound the true K-th
// best from above, so the second pass stays exact whatever the first one found).

typedef struct Level {
    Node *node;
    int n, cap;
    int *off;  // [nstates + 1]: state s's nodes are node[off[s] .. off[s+1]-1]
} Level;

typedef struct Merge {
    const SearchProblem *p;
    const Bounds *bd;
    Rule rule;
    int budgeted;  // 0: no budgets and no cap (the frontier); else rule.dim[j] = j
    int beam;      // > 0: keep only the `beam` most promising per state
    double cap;    // see above (INFINITY: none)
    Level *lev;    // [B + 1]; lev[0] holds the root
    Scratch s;
    Pt *sieve;  // one cost, top-1: the staircase of the state's new nodes so far
    int nsieve, sievecap, hint;
} Merge;

static int cmp_lex(const void *pa, const void *pb) {
    const Node *a = *(Node *const *)pa, *b = *(Node *const *)pb;
    if (a->plex != b->plex) return a->plex < b->plex ? -1 : 1;
    return (a->cand > b->cand) - (a->cand < b->cand);
}

// Keeps the `beam` of s.buf[0..n) (state st at boundary k) that promise the lowest final
// score, in their order.
static int beam_select(Merge *m, int k, int st, int n) {
    Scratch *s = &m->s;
    grow_keys(s, n);
    for (int i = 0; i < n; i++) {
        double lb = completion_lb(m->p, m->bd, k, st, s->buf[i].cost);
        s->key[i] = (Keyed){order_key(s->buf[i].score + lb), i};
    }
    qsort(s->key, (size_t)n, sizeof *s->key, cmp_keyed);
    for (int i = 0; i < m->beam; i++) s->key2[i] = (Keyed){(uint64_t)s->key[i].idx, i};
    qsort(s->key2, (size_t)m->beam, sizeof *s->key2, cmp_keyed);
    for (int i = 0; i < m->beam; i++) s->buf[i] = s->buf[s->key2[i].key];
    return m->beam;
}

// The first of pt[0..n) costlier than x, galloping out from `hint`: successive nodes of one
// parent come in cost order, so each search starts close to the last one's answer.
static int upper(const Pt *pt, int n, double x, int hint) {
    int lo, hi, step = 1;  // the answer lies in [lo, hi]
    if (hint > n) hint = n;
    if (hint < n && pt[hint].c <= x) {
        for (lo = hint + 1; lo + step - 1 < n && pt[lo + step - 1].c <= x; step *= 2) lo += step;
        hi = lo + step - 1 < n ? lo + step - 1 : n;
    } else {
        for (hi = hint; hi - step >= 0 && pt[hi - step].c > x; step *= 2) hi -= step;
        lo = hi - step + 1 > 0 ? hi - step + 1 : 0;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pt[mid].c <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

// One cost, top-1 (the frontier): drops a new node when a node already made for the same state
// beats it with a wide gap (whatever beats that node beats this one too), else records it in
// the staircase if it lowers it. Near ties go on to keep_front. Returns 1 to drop.
static int sift(Merge *m, const Node *e) {
    Pt *pt = m->sieve;
    int n = m->nsieve, lo = m->hint = upper(pt, n, e->cost[0], m->hint);
    int j = lo - 1, start = lo, end = lo;
    if (j >= 0 && pt[j].s <= e->score)
        return pt[j].s < e->score - m->rule.tol[0] || pt[j].c < e->cost[0] - m->rule.tol[1];
    if (j >= 0 && pt[j].c == e->cost[0]) start = j;
    while (end < n && pt[end].s >= e->score) end++;  // e dominates these
    m->sieve = pt = grow(pt, &m->sievecap, (size_t)n + 1, sizeof *pt);
    memmove(pt + start + 1, pt + end, (size_t)(n - end) * sizeof *pt);
    pt[start] = (Pt){e->cost[0], e->score};
    m->nsieve = n - (end - start) + 1;
    return 0;
}

// The partial solutions through block k that reach output state o, into s.buf; returns count.
static int extend(Merge *m, int k, int o, const int *list, const int *loff) {
    const SearchProblem *p = m->p;
    const SearchBlock *b = &p->block[k];
    const Level *prev = &m->lev[k];
    const Rule *r = &m->rule;
    int n = 0, sieve = r->nd == 1 && r->topk == 1;
    m->nsieve = m->hint = 0;
    for (int i = 0; i < b->nin; i++) {
        const int *lo = loff + (size_t)i * (b->nout + 1), *li = list + (size_t)i * b->ncand;
        for (int f = prev->off[i]; f < prev->off[i + 1]; f++) {
            const Node *par = &prev->node[f];
            for (int x = lo[o]; x < lo[o + 1]; x++) {
                int c = li[x];
                Node e = {
                    .score = par->score + b->score[c], .parent = f, .cand = c, .plex = par->lex};
                // The list is sorted by score: no later candidate finishes lower.
                if (m->budgeted && e.score + m->bd->srest[k + 1] - r->tol[0] > m->cap) break;
                for (int j = 0; j < r->nd; j++)
                    e.cost[j] = par->cost[j] + cand_cost(p, k, c, i, r->dim[j]);
                if (m->budgeted) {
                    double lb = completion_lb(p, m->bd, k + 1, o, e.cost);
                    if (lb == INFINITY || e.score + lb - r->tol[0] > m->cap) continue;
                }
                if (sieve && sift(m, &e)) continue;
                if (n == m->s.bufcap)
                    m->s.buf = grow(m->s.buf, &m->s.bufcap, (size_t)n + 1, sizeof *m->s.buf);
                m->s.buf[n++] = e;
            }
        }
    }
    return n;
}

// Level k+1 from level k through block k.
static void merge_block(Merge *m, int k) {
    const SearchBlock *b = &m->p->block[k];
    Level *lev = &m->lev[k + 1];
    int nin = b->nin, nout = b->nout, *list = dna_malloc((size_t)nin * b->ncand * sizeof(int)),
        *loff = dna_malloc((size_t)nin * (nout + 1) * sizeof(int));
    for (int i = 0; i < nin; i++)
        cand_lists(m->p, &m->rule, &m->s, k, i, list + (size_t)i * b->ncand,
                   loff + (size_t)i * (nout + 1));
    lev->off = dna_malloc((size_t)(nout + 1) * sizeof(int));
    for (int o = 0; o < nout; o++) {
        int n = extend(m, k, o, list, loff);
        order_nodes(&m->s, n);
        n = keep_front(&m->rule, &m->s, n);
        if (m->beam && n > m->beam) n = beam_select(m, k + 1, o, n);
        lev->off[o] = lev->n;
        lev->node = grow(lev->node, &lev->cap, (size_t)lev->n + n, sizeof *lev->node);
        if (n) memcpy(lev->node + lev->n, m->s.buf, (size_t)n * sizeof *m->s.buf);
        lev->n += n;
    }
    lev->off[nout] = lev->n;
    // Rank the prefixes: the next block compares prefixes through these ranks alone.
    Node **ptr = dna_malloc((size_t)(lev->n ? lev->n : 1) * sizeof *ptr);
    for (int i = 0; i < lev->n; i++) ptr[i] = &lev->node[i];
    qsort(ptr, (size_t)lev->n, sizeof *ptr, cmp_lex);
    for (int i = 0; i < lev->n; i++) ptr[i]->lex = i;
    free(ptr);
    free(list);
    free(loff);
}

// Runs the merge; returns the number of complete solutions, left in m->s.buf with the tail
// added (parent: the last level's node; plex: its prefix rank, so cmp_node is the tie rule).
static int merge_run(Merge *m, const SearchProblem *p, const Bounds *bd, Rule rule, int budgeted,
                     int beam, double cap) {
    int B = p->nblocks;
    *m = (Merge){.p = p, .bd = bd, .rule = rule, .budgeted = budgeted, .beam = beam, .cap = cap};
    m->lev = dna_calloc((size_t)B + 1, sizeof *m->lev);
    Level *root = &m->lev[0];
    root->node = dna_calloc(1, sizeof *root->node);
    root->n = root->cap = 1;
    root->off = dna_malloc(2 * sizeof(int));
    root->off[0] = 0, root->off[1] = 1;
    root->node->parent = root->node->cand = -1;
    for (int j = 0; j < rule.nd; j++) root->node->cost[j] = p->base[rule.dim[j]];
    for (int k = 0; k < B; k++) merge_block(m, k);
    const Level *last = &m->lev[B];
    m->s.buf = grow(m->s.buf, &m->s.bufcap, (size_t)last->n, sizeof *m->s.buf);
    for (int s = 0; s < nstates(p, B); s++)
        for (int i = last->off[s]; i < last->off[s + 1]; i++) {
            Node e = last->node[i];
            e.plex = e.lex, e.cand = 0, e.parent = i;
            for (int j = 0; j < rule.nd; j++) e.cost[j] += tail_cost(p, s, rule.dim[j]);
            m->s.buf[i] = e;
        }
    return last->n;
}

static void merge_free(Merge *m) {
    for (int k = 0; k <= m->p->nblocks; k++) {
        free(m->lev[k].node);
        free(m->lev[k].off);
    }
    free(m->lev);
    free(m->sieve);
    scratch_free(&m->s);
}

// The architecture ending in last-level node i.
static void merge_arch(const Merge *m, int i, SearchArch *a) {
    int B = m->p->nblocks;
    a->choice = dna_malloc((size_t)B * sizeof(int));
    for (int k = B; k >= 1; k--) {
        const Node *e = &m->lev[k].node[i];
        a->choice[k - 1] = e->cand;
        i = e->parent;
    }
    search_eval(m->p, a->choice, &a->score, a->cost);
}

// Keeps the feasible complete solutions and orders them by the tie rule (nth); returns how many.
static int feasible_sorted(Merge *m, int n) {
    int nf = 0;
    for (int i = 0; i < n; i++)
        if (search_feasible(m->p, m->s.buf[i].cost)) m->s.buf[nf++] = m->s.buf[i];
    order_nodes(&m->s, nf);
    return nf;
}

static int cmp_front(const void *pa, const void *pb) {
    const Node *a = pa, *b = pb;
    if (a->cost[0] != b->cost[0]) return a->cost[0] < b->cost[0] ? -1 : 1;
    return cmp_node(a, b);
}

// Budget-free, top-1, on (score, cost[dim]) alone: the rule then keeps, per state, the partial
// solutions of every frontier point's lexicographically first architecture.
static void exact_front(const SearchProblem *p, const Bounds *bd, int dim, SearchFront *f) {
    Merge m;
    int n = merge_run(&m, p, bd, make_rule(bd, 1, 1, &dim), 0, 0, INFINITY);
    qsort(m.s.buf, (size_t)n, sizeof *m.s.buf, cmp_front);
    memset(f, 0, sizeof *f);
    f->dim = dim;
    f->arch = dna_calloc((size_t)(n ? n : 1), sizeof *f->arch);
    double low = INFINITY;  // least score at any smaller cost
    for (int i = 0; i < n; i++) {
        if (!(m.s.buf[i].score < low)) continue;  // weakly dominated, or a later copy of a point
        low = m.s.buf[i].score;
        merge_arch(&m, m.s.buf[i].parent, &f->arch[f->n++]);
    }
    merge_free(&m);
}

int search_exact(const SearchProblem *p, int topk, SearchArch *top, int *ntop, int front_dim,
                 SearchFront *front) {
    check_problem(p);
    DNA_CHECK(topk >= 1, "ask for at least one architecture", "search: top-%d", topk);
    DNA_CHECK(!front || (front_dim >= 0 && front_dim < p->ncost),
              "the frontier's cost is one of the problem's cost dimensions",
              "search: frontier on cost %d of %d", front_dim, p->ncost);
    Bounds bd;
    bounds_init(p, &bd);
    int dims[SEARCH_MAX_COST] = {0, 1};
    // First pass: top-1 fronts cut to a beam, for K feasible architectures and their cap.
    Merge m;
    int n = merge_run(&m, p, &bd, make_rule(&bd, 1, p->ncost, dims), 1, 32 + 2 * topk, INFINITY);
    int nf = feasible_sorted(&m, n);
    double cap = nf >= topk ? nth(&m.s, topk - 1)->score : INFINITY;
    merge_free(&m);
    // Second pass: top-K fronts, everything that can still finish at or below the cap.
    n = merge_run(&m, p, &bd, make_rule(&bd, topk, p->ncost, dims), 1, 0, cap);
    nf = feasible_sorted(&m, n);
    *ntop = nf < topk ? nf : topk;
    memset(top, 0, (size_t)topk * sizeof *top);
    for (int i = 0; i < *ntop; i++) merge_arch(&m, nth(&m.s, i)->parent, &top[i]);
    merge_free(&m);
    if (front) exact_front(p, &bd, front_dim, front);
    bounds_free(p, &bd);
    return *ntop > 0;
}
