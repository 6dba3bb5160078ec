// `dna rate` (doc/design.md §5.2, §6): every
// path of every cell scored on the search split with feature sharing (src/nas/rate.c). The
// paths are cut into units (subtrees under a prefix of the first layers' ops: by first-layer
// op, finer when ranks outnumber those), dealt to ranks longest-first; each finished unit is
// saved to <run>/rate/ (so a rerun resumes), the results are gathered to rank 0
// (MPI_Gatherv) and written as potentials.h5 with one CSV per block. In DNA++'s mode
// (`[train] mode = ssl`) a path's score is the relative L1 between its projected output and
// the co-trained teacher's projected map (doc/design.md §5.5), the teacher run here in eval
// mode instead of read from shards.
#include "nas/rate.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/h5lock.h"
#include "io/potentials.h"
#include "io/shard.h"
#include "nas/arch.h"
#include "par/par.h"
#include "stages/cotrain.h"
#include "stages/stages.h"
#include "train/loader.h"
#include "train/trainer.h"

enum { STREAM_RATE = 300 };

typedef struct Unit {
    int block, cell, rank;
    RateUnit u;
    int64_t npaths;
    double cost;
} Unit;

// Units at prefix depth d (at most each cell's depth): the smallest d >= 1 that gives every
// rank about four units, for balance.
static Unit *make_mbconv_units(const Space *sp, int nranks, int *n_out);
static void deal_units(Unit *u, int m, int nranks);

// ViT supernets: one unit per (width, MLP ratio), its subnets the depths (nas/vitcell.h).
static Unit *make_vit_units(const Space *sp, int *n_out) {
    int m = 0;
    for (int k = 0; k < sp->nblocks; k++) m += (int)vitcell_units(&sp->block[k].vit);
    Unit *u = dna_malloc(sizeof(Unit) * (size_t)m);
    m = 0;
    for (int k = 0; k < sp->nblocks; k++) {
        const VitCellCfg *v = &sp->block[k].vit;
        for (int64_t i = 0; i < vitcell_units(v); i++) {
            int nd = v->ch.ndepths;
            u[m++] = (Unit){.block = k,
                            .u = {.prefix = i},
                            .npaths = nd,
                            .cost = (double)vitstage_macs(vitcell_stage(v, i * nd + nd - 1))};
        }
    }
    *n_out = m;
    return u;
}

// The code of a unit's first path in its cell.
static int64_t unit_first(const Space *sp, const Unit *u) {
    if (sp->vit) return u->u.prefix * sp->block[u->block].vit.ch.ndepths;
    return rate_unit_first(&sp->block[u->block].cell[u->cell], u->u);
}

static Unit *make_units(const Space *sp, int nranks, int *n_out) {
    int m;
    Unit *u = sp->vit ? make_vit_units(sp, &m) : make_mbconv_units(sp, nranks, &m);
    deal_units(u, m, nranks);
    *n_out = m;
    return u;
}

static Unit *make_mbconv_units(const Space *sp, int nranks, int *n_out) {
    int maxl = 1;
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++)
            if (sp->block[k].cell[c].layers > maxl) maxl = sp->block[k].cell[c].layers;
    int depth = 1;
    int64_t n = 0;
    for (;; depth++) {
        n = 0;
        for (int k = 0; k < sp->nblocks; k++)
            for (int c = 0; c < sp->block[k].ncells; c++) {
                const CellCfg *cc = &sp->block[k].cell[c];
                n += cell_path_count(cc) /
                     rate_unit_paths(cc, (RateUnit){depth < cc->layers ? depth : cc->layers, 0});
            }
        if (n >= 4L * nranks || depth >= maxl) break;
    }
    Unit *u = dna_malloc(sizeof(Unit) * (size_t)n);
    int m = 0;
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++) {
            const CellCfg *cc = &sp->block[k].cell[c];
            RateUnit r = {depth < cc->layers ? depth : cc->layers, 0};
            int64_t per = rate_unit_paths(cc, r), count = cell_path_count(cc) / per;
            for (r.prefix = 0; r.prefix < count; r.prefix++)
                u[m++] = (Unit){.block = k,
                                .cell = c,
                                .u = r,
                                .npaths = per,
                                .cost = (double)per * space_cell_macs(sp, k, c)};
        }
    *n_out = m;
    return u;
}

// Longest first onto the least loaded rank; ties by index, so every rank agrees.
static void deal_units(Unit *u, int m, int nranks) {
    int *order = dna_malloc(sizeof(int) * (size_t)m);
    for (int i = 0; i < m; i++) order[i] = i;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && u[order[j]].cost > u[order[j - 1]].cost; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    double *load = calloc((size_t)nranks, sizeof(double));
    for (int i = 0; i < m; i++) {
        int best = 0;
        for (int r = 1; r < nranks; r++)
            if (load[r] < load[best]) best = r;
        u[order[i]].rank = best;
        load[best] += u[order[i]].cost;
    }
    free(load), free(order);
}

static void unit_path(const Config *cfg, const Unit *u, char *buf, size_t n) {
    char name[96];
    snprintf(name, sizeof name, "rate/block%d_cell%d_d%d_%lld.h5", u->block + 1, u->cell + 1,
             u->u.depth, (long long)u->u.prefix);
    config_run_path(cfg, name, buf, n);
}

static void load_cell(const RunCtx *ctx, const Config *cfg, const Space *sp, int k, int c,
                      Cell *cell) {
    Rng r = rng_new(0);
    cell_init(ctx->be, cell, sp->block[k].cell[c], &r);
    ParamList all = {0};
    cell_all_params(cell, &all);
    Tensor *stats[2 * CELL_MAX_BNS];
    int nstats = cell_stats(cell, stats, 2 * CELL_MAX_BNS);
    char name[64], path[1100];
    snprintf(name, sizeof name, "ckpt/block%d_cell%d.h5", k + 1, c + 1);
    config_run_path(cfg, name, path, sizeof path);
    trainer_load_final(path, ctx->be, &all, stats, nstats);
    params_free(&all);
}

// The fixed recalibration batch of block k: the first batch of a seeded shuffle of the
// supernet-training split, the same for every cell and rank.
static float *recal_batch(const Config *cfg, const SpaceBlock *b, int k, int *n) {
    char dir[1100];
    config_run_path(cfg, "features/train", dir, sizeof dir);
    Rng root = rng_new((uint64_t)cfg->run.seed), s = rng_split(&root, STREAM_RATE);
    Rng bk = rng_split(&s, (uint64_t)k);
    ShardReaderCfg rc = {.block = k + 1,
                         .batch = (int)cfg->rate.recal_batch,
                         .nparts = 1,
                         .shuffle = 1,
                         .window = 8,
                         .seed = rng_u64(&bk)};
    int in[3] = {b->in_c, b->in_hw, b->in_hw}, out[3] = {b->out_c, b->out_hw, b->out_hw};
    ShardReader *r = shard_reader_open(dir, &rc, in, out);
    shard_reader_start_epoch(r, 0, 0);
    const float *x, *y;
    const int32_t *lab;
    const int64_t *ids;
    *n = shard_reader_next(r, &x, &y, &lab, &ids);
    size_t sz = (size_t)*n * in[0] * in[1] * in[2];
    float *copy = dna_malloc(sizeof(float) * sz);
    memcpy(copy, x, sizeof(float) * sz);
    shard_reader_free(r);
    return copy;
}

// A ViT supernet's trained weights (it has no batch norm: nothing to recalibrate).
static void load_vit(const RunCtx *ctx, const Config *cfg, const Space *sp, int k, VitCell *vc) {
    Rng r = rng_new(0);
    vitcell_init(ctx->be, vc, sp->block[k].vit, &r);
    ParamList all = {0};
    vitcell_params(vc, &all);
    char name[64], path[1100];
    snprintf(name, sizeof name, "ckpt/block%d_cell1.h5", k + 1);
    config_run_path(cfg, name, path, sizeof path);
    trainer_load_final(path, ctx->be, &all, NULL, 0);
    params_free(&all);
}

// DNA++ (`[train] mode = ssl`): the co-trained model, frozen, and what every unit of a block
// reads, computed once per rank by the teacher in eval mode (no shards): the block's input
// on the recalibration batch, and per search batch its input and the teacher's projected Z.
typedef struct SslRate {
    Teacher t;
    CoTrain m;
    int nr, nbatch, *bn;          // recalibration images; search batches and their sizes
    float *xr[SPACE_MAX_BLOCKS];  // [nr, in_c, in_hw, in_hw]
    float **x[SPACE_MAX_BLOCKS], **z[SPACE_MAX_BLOCKS];  // per batch: input, Z [bn, dim]
} SslRate;

// The host copy of a block's input for x: the images (block 1) or the teacher's map.
static float *block_input(const SslRate *r, int k, const Tensor *x) {
    const Tensor *in = k ? r->m.teacher->block_out[k - 1] : x;
    float *h = dna_malloc(sizeof(float) * tensor_numel(in));
    tensor_download(r->m.be, in, h);
    return h;
}

static SslRate *ssl_rate_new(const RunCtx *ctx, const Config *cfg, const Space *sp) {
    const Backend *be = ctx->be;
    SslRate *r = calloc(1, sizeof *r);
    DNA_CHECK(r, "free memory", "out of memory");
    cotrain_load(ctx, cfg, sp, &r->t, &r->m);
    Dataset d;
    stage_dataset(cfg, &d);
    int pad = (int)cfg->data.pad;
    // the recalibration batch: the first of a seeded shuffle of the supernet-training split
    Rng root = rng_new((uint64_t)cfg->run.seed), s = rng_split(&root, STREAM_RATE);
    Rng rs = rng_split(&s, 1000);
    Loader *L = loader_new(&d.train, d.fit, d.n_fit, d.mean, d.std,
                           (LoaderCfg){.batch = (int)cfg->rate.recal_batch,
                                       .nparts = 1,
                                       .pad = pad,
                                       .shuffle = 1,
                                       .seed = rng_u64(&rs)});
    const float *xb;
    const int32_t *lab;
    const int64_t *ids;
    loader_start_epoch(L, 0, 0);
    r->nr = loader_next(L, &xb, &lab, &ids);
    Tensor x = tensor_new(be, r->nr, d.train.c, d.train.h + 2 * pad, d.train.w + 2 * pad);
    tensor_upload(be, &x, xb);
    const Tensor *z[SPACE_MAX_BLOCKS];
    cotrain_teacher_eval(&r->m, &x, z);
    for (int k = 0; k < sp->nblocks; k++) r->xr[k] = block_input(r, k, &x);
    loader_free(L);
    // the search split, in order, up to [rate] limit images
    long limit = cfg->rate.limit > 0 && cfg->rate.limit < d.n_search ? cfg->rate.limit : d.n_search;
    L = loader_new(&d.train, d.search, (int)limit, d.mean, d.std,
                   (LoaderCfg){.batch = (int)cfg->rate.batch, .nparts = 1, .pad = pad});
    r->nbatch = loader_batches(L);
    r->bn = dna_malloc(sizeof(int) * (size_t)r->nbatch);
    for (int k = 0; k < sp->nblocks; k++) {
        r->x[k] = dna_malloc(sizeof(float *) * (size_t)r->nbatch);
        r->z[k] = dna_malloc(sizeof(float *) * (size_t)r->nbatch);
    }
    loader_start_epoch(L, 0, 0);
    for (int i = 0; i < r->nbatch; i++) {
        r->bn[i] = loader_next(L, &xb, &lab, &ids);
        tensor_ensure(be, &x, r->bn[i], d.train.c, d.train.h + 2 * pad, d.train.w + 2 * pad);
        tensor_upload(be, &x, xb);
        cotrain_teacher_eval(&r->m, &x, z);
        for (int k = 0; k < sp->nblocks; k++) {
            r->x[k][i] = block_input(r, k, &x);
            r->z[k][i] = dna_malloc(sizeof(float) * tensor_numel(z[k]));
            tensor_download(be, z[k], r->z[k][i]);
        }
    }
    loader_free(L);
    tensor_free(be, &x);
    dataset_free(&d);
    return r;
}

static void ssl_rate_free(const RunCtx *ctx, const Space *sp, SslRate *r) {
    if (!r) return;
    for (int k = 0; k < sp->nblocks; k++) {
        for (int i = 0; i < r->nbatch; i++) free(r->x[k][i]), free(r->z[k][i]);
        free(r->x[k]), free(r->z[k]), free(r->xr[k]);
    }
    free(r->bn);
    cotrain_free(&r->m);
    teacher_free(ctx->be, &r->t);
    free(r);
}

// The co-trained job of (block, cell).
static CoJob *ssl_job(SslRate *r, int k, int c) {
    for (int j = 0; j < r->m.njobs; j++)
        if (r->m.job[j].block == k && r->m.job[j].cell == c) return &r->m.job[j];
    DNA_FAIL("report this as a bug", "no co-trained job for block %d cell %d", k + 1, c + 1);
}

// A unit of DNA++: its cell (or supernet) as co-trained, scored through its projector on the
// teacher's projected maps.
static double *rate_unit_ssl(const RunCtx *ctx, const Space *sp, SslRate *r, const Unit *u) {
    const Backend *be = ctx->be;
    const SpaceBlock *b = &sp->block[u->block];
    CoJob *j = ssl_job(r, u->block, u->cell);
    int dim = j->proj.cout;
    Tensor xr = tensor_new(be, r->nr, b->in_c, b->in_hw, b->in_hw);
    tensor_upload(be, &xr, r->xr[u->block]);
    RateStats *st = NULL;
    VitRateStats *vs = NULL;
    if (sp->vit)
        vs = vitcell_rate_recalibrate_proj(be, &j->st.vc, u->u.prefix, &xr, &j->proj);
    else
        st = rate_recalibrate_proj(be, &j->st.cell, u->u, &xr, &j->proj);
    tensor_free(be, &xr);
    double *res = calloc((size_t)(2 * u->npaths), sizeof(double));
    Tensor x = {0}, z = {0};
    long seen = 0;
    int stop = 0, i = 0;
    for (; i < r->nbatch && !(stop = par_stop_requested()); i++) {
        int nb = r->bn[i];
        tensor_ensure(be, &x, nb, b->in_c, b->in_hw, b->in_hw);
        tensor_ensure(be, &z, nb, dim, 1, 1);
        tensor_upload(be, &x, r->x[u->block][i]);
        tensor_upload(be, &z, r->z[u->block][i]);
        if (sp->vit)
            vitcell_rate_batch_proj(be, &j->st.vc, vs, &x, &z, &j->proj, res, res + u->npaths);
        else
            rate_score_batch_proj(be, &j->st.cell, st, &x, &z, &j->proj, res, res + u->npaths);
        seen += nb;
    }
    tensor_free(be, &x), tensor_free(be, &z);
    for (int64_t p = 0; p < u->npaths; p++) res[p] /= (double)i, res[u->npaths + p] /= (double)seen;
    rate_stats_free(st);
    vitcell_rate_stats_free(vs);
    if (stop) free(res), res = NULL;
    return res;
}

// Rates one unit: returns rel[npaths] then mse[npaths] in one buffer; NULL when a stop
// signal came (the unit is abandoned: a rerun rates it again).
static double *rate_unit(const RunCtx *ctx, const Config *cfg, const Space *sp, const Unit *u,
                         SslRate *ssl) {
    if (ssl) return rate_unit_ssl(ctx, sp, ssl, u);
    const Backend *be = ctx->be;
    const SpaceBlock *b = &sp->block[u->block];
    Cell cell;
    VitCell vc;
    RateStats *st = NULL;
    if (sp->vit) {
        load_vit(ctx, cfg, sp, u->block, &vc);
        vitcell_rate_slice(be, &vc, u->u.prefix);
    } else {
        load_cell(ctx, cfg, sp, u->block, u->cell, &cell);
        int nr;
        float *xr_host = recal_batch(cfg, b, u->block, &nr);
        Tensor xr = tensor_new(be, nr, b->in_c, b->in_hw, b->in_hw);
        tensor_upload(be, &xr, xr_host);
        free(xr_host);
        st = rate_recalibrate(be, &cell, u->u, &xr);
        tensor_free(be, &xr);
    }
    double *res = calloc((size_t)(2 * u->npaths), sizeof(double));
    char dir[1100];
    config_run_path(cfg, "features/search", dir, sizeof dir);
    ShardReaderCfg rc = {.block = u->block + 1, .batch = (int)cfg->rate.batch, .nparts = 1};
    int in[3] = {b->in_c, b->in_hw, b->in_hw}, out[3] = {b->out_c, b->out_hw, b->out_hw};
    ShardReader *r = shard_reader_open(dir, &rc, in, out);
    shard_reader_start_epoch(r, 0, 0);
    long limit = cfg->rate.limit > 0 ? cfg->rate.limit : LONG_MAX, seen = 0, batches = 0;
    Tensor x = {0}, y = {0};
    const float *xb, *yb;
    const int32_t *lab;
    const int64_t *ids;
    int stop = 0;
    for (int nb; seen < limit && !(stop = par_stop_requested()) &&
                 (nb = shard_reader_next(r, &xb, &yb, &lab, &ids)) > 0;) {
        if (nb > limit - seen) nb = (int)(limit - seen);
        tensor_ensure(be, &x, nb, in[0], in[1], in[2]);
        tensor_ensure(be, &y, nb, out[0], out[1], out[2]);
        tensor_upload(be, &x, xb);
        tensor_upload(be, &y, yb);
        int h5t = h5_main_yield();  // no HDF5 here: the reader's thread may read meanwhile
        if (sp->vit)
            vitcell_rate_batch(be, &vc, &x, &y, res, res + u->npaths);
        else
            rate_score_batch(be, &cell, st, &x, &y, res, res + u->npaths);
        h5_main_resume(h5t);
        seen += nb, batches++;
    }
    shard_reader_free(r);
    tensor_free(be, &x), tensor_free(be, &y);
    for (int64_t i = 0; i < u->npaths; i++)
        res[i] /= (double)batches, res[u->npaths + i] /= (double)seen;
    if (sp->vit) {
        vitcell_free(be, &vc);
    } else {
        rate_stats_free(st);
        cell_free(be, &cell);
    }
    if (stop) free(res), res = NULL;
    return res;
}

static void save_unit(const RunCtx *ctx, const Config *cfg, const Unit *u, const double *res) {
    char path[1100], tmp[1024], hash[17];
    unit_path(cfg, u, path, sizeof path);
    H5Prov prov = h5_prov_of_run(ctx, cfg, 1, hash);
    hid_t f = h5_create_tmp(path, tmp);
    long n = u->npaths;
    h5_write(f, "score", H5T_NATIVE_DOUBLE, res, 1, &n, tmp);
    h5_write(f, "mse", H5T_NATIVE_DOUBLE, res + n, 1, &n, tmp);
    h5_attr_prov(f, &prov, tmp);
    h5_commit(f, tmp, path);
}

// A unit left by an earlier run, or NULL; one rated from other supernets or settings (another
// fingerprint) is an error naming what changed.
static double *load_unit(const RunCtx *ctx, const Config *cfg, const Unit *u) {
    char path[1100];
    unit_path(cfg, u, path, sizeof path);
    if (!file_exists(path)) return NULL;
    Fingerprint old;
    fp_read(path, &old);
    if (ctx->fingerprint && strcmp(old.hex, ctx->fingerprint))
        stage_mismatch(&STAGE_RATE, cfg, path, old.keys, ctx->fingerprint_keys);
    fp_free(&old);
    hid_t f = h5_open_read(path);
    size_t n1, n2;
    double *s = h5_read_f64(f, path, "score", &n1), *m = h5_read_f64(f, path, "mse", &n2);
    h5_close(f);
    DNA_CHECK((long)n1 == u->npaths && (long)n2 == u->npaths,
              "delete the run's rate/ directory: it belongs to another search space",
              "'%s' holds %zu paths, expected %lld", path, n1, (long long)u->npaths);
    double *res = dna_malloc(sizeof(double) * (size_t)(2 * n1));
    memcpy(res, s, sizeof(double) * n1), memcpy(res + n1, m, sizeof(double) * n1);
    free(s), free(m);
    return res;
}

// Potentials with every path's cost and no score yet (NAN).
static void potentials_new(const Space *sp, Potentials *pot) {
    *pot = (Potentials){.nblocks = sp->nblocks};
    for (int k = 0; k < sp->nblocks; k++) {
        const SpaceBlock *b = &sp->block[k];
        pot->ncells[k] = b->ncells;
        for (int c = 0; c < b->ncells; c++) {
            CellScores *cs = &pot->cell[k][c];
            cs->npaths = space_cell_paths(sp, k, c);
            cs->score = dna_malloc(sizeof(double) * (size_t)cs->npaths);
            cs->mse = dna_malloc(sizeof(double) * (size_t)cs->npaths);
            cs->params = dna_malloc(sizeof(double) * (size_t)cs->npaths);
            cs->macs = dna_malloc(sizeof(double) * (size_t)cs->npaths);
            for (int64_t i = 0; i < cs->npaths; i++) {
                long pa, ma;
                if (sp->vit) {  // what the stage holds and computes (nn/vitstage.h)
                    VitStageCfg v = vitcell_stage(&b->vit, i);
                    pa = vitstage_param_count(v), ma = vitstage_macs(v);
                } else {
                    arch_block_cost(&b->cell[c], i, k ? b->in_c : sp->stem, b->cell_hw, &pa, &ma);
                }
                cs->params[i] = (double)pa, cs->macs[i] = (double)ma, cs->score[i] = NAN;
            }
        }
    }
}

// Every block's score range and best path; fatal when a path has no score.
static void log_blocks(const RunCtx *ctx, const Space *sp, const Potentials *pot) {
    for (int k = 0; k < sp->nblocks; k++) {
        double lo = INFINITY, hi = -INFINITY;
        int bc = 0;
        int64_t bp = 0;
        for (int c = 0; c < pot->ncells[k]; c++)
            for (int64_t i = 0; i < pot->cell[k][c].npaths; i++) {
                double s = pot->cell[k][c].score[i];
                DNA_CHECK(isfinite(s), "delete the run's rate/ directory and rerun",
                          "block %d cell %d path %lld has no finite score", k + 1, c + 1,
                          (long long)i);
                if (s < lo) lo = s, bc = c, bp = i;
                if (s > hi) hi = s;
            }
        log_info(ctx, "rate: block %d: %lld paths, score %.4f .. %.4f, best cell %d path %lld",
                 k + 1, (long long)space_block_paths(sp, k), lo, hi, bc + 1, (long long)bp);
    }
}

// Rank 0: the gathered units ([unit index, scores, MSEs] each, total values) into
// potentials.h5.
static void write_potentials(const RunCtx *ctx, const Config *cfg, const Space *sp,
                             const Unit *units, const double *all, int total) {
    Potentials pot;
    potentials_new(sp, &pot);
    for (const double *q = all; q < all + total;) {
        const Unit *u = &units[(int)*q++];
        CellScores *cs = &pot.cell[u->block][u->cell];
        int64_t first = unit_first(sp, u);
        memcpy(cs->score + first, q, sizeof(double) * (size_t)u->npaths);
        memcpy(cs->mse + first, q + u->npaths, sizeof(double) * (size_t)u->npaths);
        q += 2 * u->npaths;
    }
    log_blocks(ctx, sp, &pot);
    char path[1100], hash[17];
    config_run_path(cfg, "potentials.h5", path, sizeof path);
    H5Prov prov = h5_prov_of_run(ctx, cfg, POTENTIALS_FORMAT, hash);
    potentials_save(path, &pot, sp, &prov);
    potentials_free(&pot);
}

// Rates this rank's units (or reads those an earlier run finished), gathers all to rank 0.
// Returns 1 on every rank when a stop signal stopped any rank (its finished units are kept).
static int rate_units(const RunCtx *ctx, const Config *cfg, const Space *sp) {
    char dir[1100];
    config_run_path(cfg, "rate", dir, sizeof dir);
    if (ctx->rank == 0) make_dirs(dir);
    par_barrier();
    int nu;
    Unit *units = make_units(sp, ctx->nranks, &nu);
    SslRate *ssl = NULL;
    long mine = 0, done = 0, resumed = 0;
    int64_t send_n = 0;
    for (int i = 0; i < nu; i++)
        if (units[i].rank == ctx->rank) mine++, send_n += 1 + 2 * units[i].npaths;
    double *send = dna_malloc(sizeof(double) * (size_t)(send_n ? send_n : 1)), *p = send;
    Progress pr;
    progress_init(&pr, ctx, "rate", "unit", mine);
    double t0 = timer_now();
    int stopped = 0;
    for (int i = 0; i < nu; i++) {
        const Unit *u = &units[i];
        if (u->rank != ctx->rank) continue;
        double *res = load_unit(ctx, cfg, u);
        if (!res && config_ssl(cfg) && !ssl) ssl = ssl_rate_new(ctx, cfg, sp);
        if (res)
            resumed++;
        else if ((res = rate_unit(ctx, cfg, sp, u, ssl)))
            save_unit(ctx, cfg, u, res);
        if ((stopped = !res)) break;
        *p++ = i;
        memcpy(p, res, sizeof(double) * (size_t)(2 * u->npaths));
        p += 2 * u->npaths;
        free(res);
        char extra[64];
        snprintf(extra, sizeof extra, "b%d.c%d prefix %lld", u->block + 1, u->cell + 1,
                 (long long)u->u.prefix);
        progress_update(&pr, ++done, extra);
    }
    ssl_rate_free(ctx, sp, ssl);
    double busy = timer_now() - t0, mam[3];
    par_minavgmax(busy, mam);
    double flag = stopped;
    par_allreduce_sum_f64(&flag, 1);
    if (flag != 0) {
        free(send), free(units);
        return 1;
    }
    DNA_CHECK(send_n <= INT_MAX, "rate a smaller space per run", "%lld values to gather",
              (long long)send_n);
    int total = 0;
    double *all = par_gatherv_f64(send, (int)send_n, &total);
    free(send);
    if (ctx->rank == 0) {
        write_potentials(ctx, cfg, sp, units, all, total);
        char path[1100];
        config_run_path(cfg, "potentials.h5", path, sizeof path);
        log_info(ctx,
                 "rate: %d units on %d ranks (%ld resumed here); rank busy time "
                 "min/avg/max %.1f/%.1f/%.1f s -> %s",
                 nu, ctx->nranks, resumed, mam[0], mam[1], mam[2], path);
    }
    free(all);
    free(units);
    par_barrier();
    return 0;
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;  // the runner removed rate/ already
    DNA_CHECK(cfg->rate.batch > 0 && cfg->rate.recal_batch > 0 && cfg->rate.limit >= 0,
              "give positive [rate] batch and recal_batch, and limit >= 0",
              "%s: bad [rate] section", cfg->path[0] ? cfg->path : "config");
    Space sp;
    stage_space_any(ctx, cfg, &sp, NULL, NULL);  // MBConv cells or ViT supernets
    double t0 = timer_now();
    if (rate_units(ctx, cfg, &sp))
        return stage_stopped(ctx,
                             "rate: stopped by a signal; the finished units are kept in rate/");
    log_info(ctx, "rate: %lld paths rated in %.1f s", (long long)space_total_paths(&sp),
             timer_now() - t0);
    return STAGE_RAN;
}

const Stage STAGE_RATE = {
    .name = "rate",
    .help = "score every path of every cell (feature sharing) -> <run>/potentials.h5",
    .run = run,
    .order = 5,
    .reads = {"teacher.h5", "ckpt/COMPLETE"},
    .writes = "potentials.h5",
    .partial = "rate",
    .sections = "data teacher features space train ssl rate",
    .checkpoints = 1,  // its finished units: a stop signal ends it after the current batch
};
