// Architecture search under cost budgets: B blocks in order, each picks one of its candidates
// (one path of one cell). A candidate's output state (its width) is the next block's input
// state, and its cost depends on the input state it reads. Scores and costs add up, lower
// scores are better. Owns the solvers (DNA's traversal and an exact top-K / frontier merge) and
// the tie rule; no I/O: the caller writes reports and CSVs.
#pragma once

enum { SEARCH_MAX_COST = 2 };

typedef struct SearchBlock {
    int ncand;            // candidates (>= 1)
    int nin;              // input states (block 0: 1); = the previous block's nout
    int nout;             // output states; the last block's are the states the tail reads
    const double *score;  // [ncand], finite
    const int *out;       // [ncand] output state of each candidate, 0..nout-1
    const double *cost;   // [ncand][nin][ncost]: candidate c read from input state i, >= 0
} SearchBlock;

typedef struct SearchProblem {
    int nblocks, ncost;  // ncost: 1 or 2 (e.g. params, MACs)
    const SearchBlock *block;
    double base[SEARCH_MAX_COST];    // fixed cost (stem, classifier), >= 0
    const double *tail;              // [last nout][ncost] cost after the last block, or NULL
    double budget[SEARCH_MAX_COST];  // INFINITY: unconstrained
} SearchProblem;

// Every solver sums in one fixed order so that all of them, and a brute force, produce
// bitwise the same numbers: score = ((0.0 + s0) + s1) + ..., cost = ((base + c0) + ...) + tail.
// Tie rule (search_arch_cmp): lower score, then lower cost[0], then lower cost[1], then the
// lexicographically smaller choice vector. Feasible: cost[d] <= budget[d] for every d.
typedef struct SearchArch {
    int *choice;                   // [nblocks] candidate index per block (owned)
    double score;                  // see above
    double cost[SEARCH_MAX_COST];  // see above; cost[d] = 0 for d >= ncost
} SearchArch;

// The 2-D frontier of (cost[dim], score) over ALL architectures, budgets ignored: one entry per
// distinct point (c, s) that no other architecture weakly dominates (c' <= c and s' <= s with
// (c', s') != (c, s)). Of several architectures at exactly the same point, the entry is the one
// with the lexicographically smallest choice vector (the other cost plays no part). Sorted by
// cost[dim] ascending, so score strictly descends. Each entry carries its full score and costs.
typedef struct SearchFront {
    int n, dim;
    SearchArch *arch;  // [n]
} SearchFront;

// DNA's traversal search (Algorithm 2, TPAMI), made exact: each block's candidates by score
// ascending, depth first; a candidate is skipped when no completion can fit the budgets or
// finish below the best score found (state-aware lower bounds of the remaining cost and score,
// tail included), and the loop breaks once the partial score plus the remaining blocks' minimum
// scores exceeds the best (only strictly: an equal score may still win on cost, so the last
// block does not stop at its first feasible candidate when the next one ties). Candidates that
// another with the same output state beats in score and every cost are left out. Returns 1 and
// fills *best (free with search_arch_free) when a feasible architecture exists, else 0 and
// zeroes *best. visited (may be NULL) counts the nodes entered.
int search_traverse(const SearchProblem *p, SearchArch *best, long *visited);

// Exact block-by-block merge: after each block, per output state, the partial solutions that
// fewer than topk others beat for every completion (see search.c) and that can still meet the
// budgets and the K-th best score of a first, beam-limited pass. Writes the first
// min(topk, feasible) architectures under the tie rule to top[0..*ntop-1] (top has room for
// topk; free each with search_arch_free) and returns 1 when any is feasible. front (may be NULL)
// gets the frontier over cost[front_dim], from a separate budget-free merge with topk = 1 on
// (score, cost[front_dim]) alone; free with search_front_free.
int search_exact(const SearchProblem *p, int topk, SearchArch *top, int *ntop, int front_dim,
                 SearchFront *front);

// The minimum achievable cost per dimension, each minimised separately and exactly (forward
// over the states, in the summation order above): "the cheapest architecture has X params".
void search_cheapest(const SearchProblem *p, double out[SEARCH_MAX_COST]);

// Score and cost of a given choice vector, in the fixed order (fatal on a bad index).
void search_eval(const SearchProblem *p, const int *choice, double *score,
                 double cost[SEARCH_MAX_COST]);
int search_feasible(const SearchProblem *p, const double cost[SEARCH_MAX_COST]);
// The tie rule: < 0 when a comes first. Both must hold choices of nblocks entries.
int search_arch_cmp(const SearchArch *a, const SearchArch *b, int nblocks);

void search_arch_free(SearchArch *a);    // safe on a zeroed or already freed arch
void search_front_free(SearchFront *f);  // likewise
