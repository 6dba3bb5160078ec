// The calibrated predictor (src/nas/predictor.c, src/io/predictor.c, problem_weight): the fit
// recovers known weights from noiseless data, the ridge pulls toward uniform weights, bad
// calibration sets are refused; cross-validation folds are a seeded partition and rate
// out of fold; predictor.json round-trips bitwise and a bad file is named; a real search
// space weighted by 1 searches bitwise as unweighted, and weighted still agrees with a brute
// force over every architecture.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "harness.h"
#include "io/predictor.h"
#include "nas/problem.h"

static uint64_t lcg(uint64_t *x) {
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 11;
}
static double unit(uint64_t *x) {
    return (double)lcg(x) * 0x1p-53;
}

// n networks of K block scores in [0.1, 1.1) and their top-1, noiseless:
// y = a - c * sum_k w_k s_k (+ noise * uniform(-1, 1)).
static void synth(uint64_t seed, int n, int K, const double *w, double a, double c, double noise,
                  double *s, double *y) {
    for (int i = 0; i < n; i++) {
        double t = 0;
        for (int k = 0; k < K; k++) t += w[k] * (s[i * K + k] = 0.1 + unit(&seed));
        y[i] = a - c * t + noise * (2 * unit(&seed) - 1);
    }
}

static double dist_to_uniform(const Predictor *p) {
    double d = 0;
    for (int k = 0; k < p->nblocks; k++) d += (p->weight[k] - 1) * (p->weight[k] - 1);
    return sqrt(d);
}

TEST(predictor_fit_recovers_weights) {
    const double w[4] = {0.4, 1.6, 0.7, 1.3};  // mean 1: the normalisation's own scale
    double s[12 * 4], y[12];
    synth(1, 12, 4, w, 0.9, 0.03, 0, s, y);
    Predictor p;
    predictor_fit(s, y, 12, 4, 0, &p);  // no ridge: least squares is exact on noiseless data
    for (int k = 0; k < 4; k++) T_NEAR(p.weight[k], w[k], 1e-9, 0, "weight");
    T_NEAR(p.scale, 0.03, 1e-12, 1e-9, "scale");
    T_NEAR(p.intercept, 0.9, 1e-12, 1e-9, "intercept");
    for (int i = 0; i < 12; i++)
        T_NEAR(p.intercept - p.scale * predictor_score(&p, s + i * 4), y[i], 1e-12, 0, "top-1");
    // Uniform truth: the ridge costs nothing there, so any ridge recovers it.
    const double one[4] = {1, 1, 1, 1};
    synth(2, 10, 4, one, 0.8, 0.05, 0, s, y);
    predictor_fit(s, y, 10, 4, 5.0, &p);
    T_CHECK(dist_to_uniform(&p) < 1e-9, "uniform truth: %g from uniform", dist_to_uniform(&p));
    T_NEAR(p.scale, 0.05, 1e-12, 1e-9, "scale (uniform)");
}

TEST(predictor_ridge_pulls_to_uniform) {
    const double w[3] = {0.2, 2.0, 0.8};
    double s[10 * 3], y[10];
    synth(3, 10, 3, w, 0.9, 0.02, 0.002, s, y);
    double last = INFINITY;
    static const double ridge[] = {0, 0.1, 1, 10, 1e6};
    for (int r = 0; r < 5; r++) {
        Predictor p;
        predictor_fit(s, y, 10, 3, ridge[r], &p);
        double d = dist_to_uniform(&p);
        T_CHECK(d < last, "ridge %g: %g from uniform, not below %g", ridge[r], d, last);
        last = d;
        double m = 0;
        for (int k = 0; k < 3; k++) m += p.weight[k] / 3;
        T_NEAR(m, 1.0, 1e-12, 0, "mean weight");
    }
    T_CHECK(last < 1e-4, "ridge 1e6: %g from uniform", last);
    // 2 networks and 8 blocks: well posed with a ridge (the common scale is all it fits).
    double s2[2 * 8], y2[2] = {0.9, 0.8};
    for (int i = 0; i < 16; i++) s2[i] = 0.1 * (i % 5) + 0.05 * (i / 8);
    Predictor p;
    predictor_fit(s2, y2, 2, 8, PREDICTOR_RIDGE, &p);
    T_CHECK(dist_to_uniform(&p) < 1e-6, "2 networks: %g from uniform", dist_to_uniform(&p));
}

// Top-1 that rises with the score: the weights come out with mean -1 and the scale positive,
// so that lower predicted score still means higher predicted top-1.
TEST(predictor_fit_reversed) {
    const double w[2] = {-1, -1};
    double s[6 * 2], y[6];
    synth(4, 6, 2, w, 0.5, 0.1, 0, s, y);
    Predictor p;
    predictor_fit(s, y, 6, 2, 0.1, &p);
    T_CHECK(p.scale > 0, "scale %g", p.scale);
    T_NEAR(p.weight[0], -1, 1e-9, 0, "w0");
    T_NEAR(p.weight[1], -1, 1e-9, 0, "w1");
}

typedef struct Bad {
    int n, K;
    double ridge;
    int kind;  // 0 plain, 1 NaN top-1, 2 equal scores, 3 constant top-1
} Bad;

static void bad_fit(void *arg) {
    const Bad *b = arg;
    double s[64], y[8];
    for (int i = 0; i < b->n; i++) {
        for (int k = 0; k < b->K; k++) s[i * b->K + k] = b->kind == 2 ? 0.5 : 0.1 * (i + k * k + 1);
        y[i] = b->kind == 3 ? 0.8 : 0.9 - 0.01 * i * i;
    }
    if (b->kind == 1) y[1] = NAN;
    Predictor p;
    predictor_fit(s, y, b->n, b->K, b->ridge, &p);
}

TEST(predictor_fit_bad_input) {
    T_EXPECT_DEATH(bad_fit, &((Bad){1, 3, 0.1, 0}),
                   "1 calibration network(s), the fit needs at least 2");
    T_EXPECT_DEATH(bad_fit, &((Bad){3, 4, 0, 0}), "do not determine 4 weights (ridge 0)");
    T_EXPECT_DEATH(bad_fit, &((Bad){5, 2, 0.1, 1}), "calibration network 2 has no finite top-1");
    T_EXPECT_DEATH(bad_fit, &((Bad){5, 2, 0.1, 2}),
                   "the 5 calibration networks have the same block scores");
    T_EXPECT_DEATH(bad_fit, &((Bad){5, 2, 0.1, 3}), "does not vary with their scores");
    T_EXPECT_DEATH(bad_fit, &((Bad){5, 2, -1, 0}), "ridge -1");
}

TEST(predictor_cv_folds) {
    enum { N = 34, K = 3 };
    const double w[K] = {0.1, 2.5, 0.4};  // far from uniform: plain DNA ranks worse
    double s[N * K], y[N];
    synth(5, N, K, w, 0.9, 0.02, 0, s, y);
    PredictorCV a, b, c;
    predictor_cv(s, y, N, K, 10, 0, 0, 42, &a);
    T_CHECK(a.nfolds == 3 && a.calib == 10, "%d folds of %d", a.nfolds, a.calib);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[a.order[i]]++;
    for (int i = 0; i < N; i++)
        T_CHECK(seen[i] == 1, "network %d in the order %d times", i, seen[i]);
    for (int f = 0; f < 3; f++) {
        T_CHECK(a.fold[f].nheld == N - 10, "fold %d: %d held out", f, a.fold[f].nheld);
        // noiseless and no ridge: the fit is exact, so out of fold it orders perfectly
        T_NEAR(a.fold[f].tau, 1.0, 1e-12, 0, "fitted tau");
        T_CHECK(a.fold[f].tau_dna < 0.95, "plain DNA tau %g on skewed weights", a.fold[f].tau_dna);
    }
    T_CHECK(a.first.ncalib == 10, "first fold %d ids", a.first.ncalib);
    for (int i = 0; i < 10; i++)
        T_CHECK(a.first.calib[i] == a.order[i] + 1, "calib id %d: %d", i, a.first.calib[i]);
    predictor_cv(s, y, N, K, 10, 2, 0, 42, &b);  // same seed: same order, same fold 1
    T_CHECK(b.nfolds == 2 && !memcmp(a.order, b.order, sizeof a.order[0] * N), "seeded order");
    T_CHECK(!memcmp(a.first.weight, b.first.weight, sizeof a.first.weight), "same fold-1 fit");
    predictor_cv(s, y, N, K, 10, 0, 0, 43, &c);
    T_CHECK(memcmp(a.order, c.order, sizeof a.order[0] * N), "another seed, another order");
    predictor_cv_free(&a), predictor_cv_free(&b), predictor_cv_free(&c);
}

static void cv_bad(void *arg) {
    const int *v = arg;  // n, calib, folds
    double s[40 * 2], y[40];
    const double w[2] = {1, 1};
    synth(6, v[0], 2, w, 0.9, 0.02, 0.001, s, y);
    PredictorCV cv;
    predictor_cv(s, y, v[0], 2, v[1], v[2], 0.1, 1, &cv);
}

TEST(predictor_cv_bad_input) {
    T_EXPECT_DEATH(cv_bad, ((int[]){20, 1, 0}), "--calib 1");
    T_EXPECT_DEATH(cv_bad, ((int[]){11, 10, 0}), "11 networks: a fold of 10 leaves fewer than 2");
    T_EXPECT_DEATH(cv_bad, ((int[]){25, 10, 3}), "--folds 3 with --calib 10 needs 30 networks");
}

static Predictor sample(void) {
    Predictor p = {.nblocks = 3,
                   .weight = {0.1 / 3, -2.5e-7, 1.0 + 0x1p-40},
                   .intercept = 0.87654321,
                   .scale = 1.0 / 7,
                   .ridge = 0.1,
                   .ncalib = 3};
    p.calib = malloc(sizeof(int) * 3);
    p.calib[0] = 7, p.calib[1] = 2, p.calib[2] = 30;
    snprintf(p.bench_digest, sizeof p.bench_digest, "0123456789abcdef");
    snprintf(p.potentials_digest, sizeof p.potentials_digest, "fedcba9876543210");
    return p;
}

TEST(predictor_json_round_trip) {
    Predictor p = sample(), q;
    char dir[] = "/tmp/dna_pred_XXXXXX", path[64], d1[17], d2[17];
    T_CHECK(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/predictor.json", dir);
    predictor_save(&p, "{\"cv\": {\"calib\": 3}, \"seed\": 5}", path);
    predictor_load(path, 3, &q, d1);
    T_CHECK(!memcmp(p.weight, q.weight, sizeof p.weight), "weights not bitwise");
    T_CHECK(p.intercept == q.intercept && p.scale == q.scale && p.ridge == q.ridge, "scalars");
    T_CHECK(q.ncalib == 3 && !memcmp(p.calib, q.calib, 3 * sizeof(int)), "calibration ids");
    T_CHECK(!strcmp(q.bench_digest, p.bench_digest) &&
                !strcmp(q.potentials_digest, p.potentials_digest),
            "digests");
    T_CHECK(predictor_in_calib(&q, 30) && !predictor_in_calib(&q, 3), "in_calib");
    char *text = predictor_to_json(&p, NULL);
    T_CHECK(strstr(text, "\"format\":\t\"dnafam-predictor\"") || strstr(text, "dnafam-predictor"),
            "format field");
    free(text);
    predictor_free(&q);
    predictor_load(path, 0, &q, d2);  // 0: any block count
    T_CHECK(!strcmp(d1, d2) && strlen(d1) == 16, "file digest %s %s", d1, d2);
    unlink(path), rmdir(dir);
    predictor_free(&p), predictor_free(&q);
}

typedef struct BadFile {
    const char *text;  // NULL: no file
    int nblocks;
} BadFile;

static void load_bad(void *arg) {
    const BadFile *b = arg;
    char path[] = "/tmp/dna_badpred_XXXXXX";
    int fd = mkstemp(path);
    if (b->text) {
        FILE *f = fdopen(fd, "w");
        fputs(b->text, f);
        fclose(f);
    } else {
        close(fd), unlink(path);
    }
    Predictor p;
    fprintf(stderr, "file %s\n", path);
    predictor_load(path, b->nblocks, &p, NULL);
}

#define GOOD_TAIL \
    "\"intercept\": 0.9, \"scale\": 0.02, \"ridge\": 0.1, \"calibration_ids\": [1, 2]}"

TEST(predictor_bad_file) {
    T_EXPECT_DEATH(load_bad, &((BadFile){NULL, 3}), "cannot open the predictor '/tmp/dna_badpred_");
    T_EXPECT_DEATH(load_bad,
                   &((BadFile){"{\"format\": \"dnafam-predictor\", \"version\": 1, "
                               "\"weights\": [1, 1, 1], " GOOD_TAIL,
                               4}),
                   "' has 3 block weights, the search space 4 blocks");
    T_EXPECT_DEATH(load_bad,
                   &((BadFile){"{\"format\": \"dnafam-predictor\", \"version\": 1, "
                               "\"weights\": [1, null, 1], " GOOD_TAIL,
                               3}),
                   "weight 2 is not a finite number");
    T_EXPECT_DEATH(load_bad,
                   &((BadFile){"{\"format\": \"dnafam-predictor\", \"version\": 1, "
                               "\"weights\": [1, 1e999, 1], " GOOD_TAIL,
                               3}),
                   "weight 2 is not a finite number");
    T_EXPECT_DEATH(load_bad, &((BadFile){"{\"format\": \"dnafam-arch\"}", 3}),
                   "is not a dnafam predictor");
    T_EXPECT_DEATH(load_bad,
                   &((BadFile){"{\"format\": \"dnafam-predictor\", \"version\": 1, "
                               "\"weights\": [1, 1, 1], \"intercept\": 0.9, "
                               "\"scale\": -1, \"ridge\": 0.1, "
                               "\"calibration_ids\": [1]}",
                               3}),
                   "scale -1 is not > 0");
    T_EXPECT_DEATH(load_bad, &((BadFile){"{\"weights\": [1", 3}), "is not valid JSON");
}

// inputs/tiny.cfg's space (3 blocks, 3.9e5 architectures: a brute force takes a moment) with
// seeded random path scores, under tiny.cfg's parameter budget.
static void tiny_problem(uint64_t seed, const double *w, SpaceProblem *q) {
    char *over[] = {"teacher.stem=8",
                    "teacher.stem_stride=2",
                    "teacher.stages=ir_r1_k3_s1_e1_c8_se0.25 ir_r1_k3_s2_e3_c12_se0.25 "
                    "ir_r1_k5_s2_e3_c16_se0.25",
                    "teacher.blocks=0 1 2",
                    "teacher.head=32",
                    "space.stem=8",
                    "space.block1=1x8 2x8",
                    "space.block2=1x8 2x12",
                    "space.block3=1x12 3x16",
                    "data.pad=2"};
    Config cfg;
    config_load(&cfg, NULL, over, (int)(sizeof over / sizeof over[0]));
    EffNetCfg t;
    effnet_cfg_from_config(&cfg, (int)cfg.data.channels, &t);
    int in_hw = (int)(cfg.data.image_size + 2 * cfg.data.pad);
    Space sp;
    space_from_config(&cfg, &t, in_hw, &sp);
    Potentials pot = {.nblocks = sp.nblocks};
    for (int k = 0; k < sp.nblocks; k++) {
        pot.ncells[k] = sp.block[k].ncells;
        for (int c = 0; c < sp.block[k].ncells; c++) {
            CellScores *cs = &pot.cell[k][c];
            cs->npaths = cell_path_count(&sp.block[k].cell[c]);
            cs->score = calloc((size_t)cs->npaths, sizeof(double));
            // few distinct values: many ties, which the cost and choice order then decide
            for (long i = 0; i < cs->npaths; i++)
                cs->score[i] = 0.2 + 0.01 * (double)(lcg(&seed) % 16);
        }
    }
    double budget[2] = {8000, INFINITY};
    problem_build(&sp, &t, in_hw, &pot, budget, q);
    if (w) problem_weight(q, w);
    for (int k = 0; k < sp.nblocks; k++)
        for (int c = 0; c < sp.block[k].ncells; c++) free(pot.cell[k][c].score);
}

// The best feasible architecture by enumeration, under the tie rule.
static int brute_best(const SearchProblem *p, SearchArch *best) {
    int ch[SPACE_MAX_BLOCKS] = {0}, found = 0, B = p->nblocks;
    SearchArch a = {.choice = ch};
    best->choice = calloc((size_t)B, sizeof(int));
    for (;;) {
        search_eval(p, ch, &a.score, a.cost);
        if (search_feasible(p, a.cost) && (!found || search_arch_cmp(&a, best, B) < 0)) {
            memcpy(best->choice, ch, sizeof(int) * (size_t)B);
            best->score = a.score, best->cost[0] = a.cost[0], best->cost[1] = a.cost[1];
            found = 1;
        }
        int k = B - 1;
        while (k >= 0 && ++ch[k] == p->block[k].ncand) ch[k--] = 0;
        if (k < 0) return found;
    }
}

static int same_arch(const SearchArch *a, const SearchArch *b, int B) {
    return !memcmp(a->choice, b->choice, sizeof(int) * (size_t)B) && a->score == b->score &&
           a->cost[0] == b->cost[0] && a->cost[1] == b->cost[1];
}

TEST(predictor_weight_one_is_bitwise_plain) {
    SpaceProblem q0, q1;
    const double one[3] = {1, 1, 1};
    tiny_problem(11, NULL, &q0);
    tiny_problem(11, one, &q1);
    for (int k = 0; k < 3; k++)
        T_CHECK(!memcmp(q0.score[k], q1.score[k], sizeof(double) * (size_t)q0.b[k].ncand),
                "block %d scores differ", k + 1);
    SearchArch t0, t1, e0[3], e1[3];
    int n0, n1;
    T_CHECK(search_traverse(&q0.p, &t0, NULL) && search_traverse(&q1.p, &t1, NULL), "feasible");
    T_CHECK(same_arch(&t0, &t1, 3), "traversal differs with w = 1");
    search_exact(&q0.p, 3, e0, &n0, 0, NULL);
    search_exact(&q1.p, 3, e1, &n1, 0, NULL);
    T_CHECK(n0 == 3 && n1 == 3, "top-3: %d %d", n0, n1);
    for (int i = 0; i < 3 && i < n0 && i < n1; i++)
        T_CHECK(same_arch(&e0[i], &e1[i], 3), "top %d", i);
    search_arch_free(&t0), search_arch_free(&t1);
    for (int i = 0; i < n0; i++) search_arch_free(&e0[i]);
    for (int i = 0; i < n1; i++) search_arch_free(&e1[i]);
    problem_free(&q0), problem_free(&q1);
}

// Weighted real problems (a weight of 0 makes a whole block tie; a negative one prefers its
// worst-rated paths): both solvers equal the brute force, bitwise.
TEST(predictor_weighted_search_is_exact) {
    static const double W[4][3] = {
        {0.3, 2.5, 1.0}, {1.0, 0.0, 0.7}, {-0.8, 1.2, 0.5}, {1e-3, 1, 40}};
    for (int t = 0; t < 4; t++) {
        SpaceProblem q, u;
        tiny_problem(100 + t, W[t], &q);
        tiny_problem(100 + t, NULL, &u);
        for (int k = 0; k < 3; k++)  // each score is w_k times its unweighted value
            for (int j = 0; j < q.b[k].ncand; j++)
                if (q.score[k][j] != W[t][k] * u.score[k][j]) {
                    T_CHECK(0, "weights %d: block %d candidate %d: %g", t, k + 1, j, q.score[k][j]);
                    break;
                }
        SearchArch bf, tr, ex[1];
        int n = 0;
        T_CHECK(brute_best(&q.p, &bf), "weights %d: nothing feasible", t);
        T_CHECK(search_traverse(&q.p, &tr, NULL), "weights %d: traversal found nothing", t);
        T_CHECK(search_exact(&q.p, 1, ex, &n, 0, NULL) && n == 1, "weights %d: exact", t);
        T_CHECK(same_arch(&tr, &bf, 3), "weights %d: traversal %.17g, brute force %.17g", t,
                tr.score, bf.score);
        T_CHECK(n == 1 && same_arch(&ex[0], &bf, 3), "weights %d: exact %.17g, brute force %.17g",
                t, ex[0].score, bf.score);
        double want = 0.0;  // the predictor's score of the found architecture, summed apart
        for (int k = 0; k < 3; k++) want += W[t][k] * u.score[k][bf.choice[k]];
        T_CHECK(bf.score == want, "weights %d: score %.17g, sum of w_k s_k %.17g", t, bf.score,
                want);
        search_arch_free(&bf), search_arch_free(&tr);
        if (n) search_arch_free(&ex[0]);
        problem_free(&q), problem_free(&u);
    }
}

static void weight_nan(void *arg) {
    (void)arg;
    SpaceProblem q;
    const double w[3] = {1, NAN, 1};
    tiny_problem(1, w, &q);
}

TEST(predictor_weight_not_finite) {
    T_EXPECT_DEATH(weight_nan, NULL, "search: block 2 weight nan");
}
