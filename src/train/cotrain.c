// DNA++'s co-training step (see cotrain.h).
#include "train/cotrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"

void cotrain_init(const Backend *be, CoTrain *m, const Space *sp, EffNet *teacher, int hidden,
                  int dim, SslCfg loss, ParGroup *g, Rng *rng) {
    *m = (CoTrain){.be = be, .sp = *sp, .teacher = teacher, .loss = loss, .g = g};
    DNA_CHECK(teacher->cfg.nblocks == sp->nblocks, "internal: the teacher cuts the space's blocks",
              "co-training: the teacher has %d blocks, the space %d", teacher->cfg.nblocks,
              sp->nblocks);
    m->loss.K = sp->nblocks;
    ssl_cfg_check(&m->loss);
    for (int k = 0; k < sp->nblocks; k++) {
        Rng r = rng_split(rng, (uint64_t)k);
        projector_init(be, &m->tproj[k], sp->block[k].out_c, hidden, dim, &r);
    }
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++) {
            CoJob *j = &m->job[m->njobs];
            Rng r = rng_split(rng, 100 + (uint64_t)m->njobs), ri = rng_split(&r, 1);
            Rng rp = rng_split(&r, 2);
            j->block = k, j->cell = c;
            student_init(be, &j->st, sp, k, c, &ri);
            projector_init(be, &j->proj, sp->block[k].out_c, hidden, dim, &rp);
            m->njobs++;
        }
    if (!g) return;
    m->sum = par_sum_new(be, g);
    m->bsync = (BnSync){par_group_bn_sum, g};
    int cap = cotrain_max_stats(m) / 2;
    BatchNorm **bns = dna_malloc(sizeof(BatchNorm *) * (size_t)cap);
    int n = effnet_block_bns(teacher, bns, cap);
    for (int k = 0; k < sp->nblocks; k++) bns[n++] = &m->tproj[k].bn;
    for (int i = 0; i < m->njobs; i++) {
        n += student_bns(&m->job[i].st, bns + n, cap - n - 1);
        bns[n++] = &m->job[i].proj.bn;
    }
    for (int i = 0; i < n; i++) bns[i]->sync = &m->bsync;
    free(bns);
}

void cotrain_free(CoTrain *m) {
    const Backend *be = m->be;
    for (int k = 0; k < m->sp.nblocks; k++) {
        projector_free(be, &m->tproj[k]);
        projector_cache_free(be, &m->tpc[k]);
    }
    for (int i = 0; i < m->njobs; i++) {
        student_free(be, &m->job[i].st);
        projector_free(be, &m->job[i].proj);
        projector_cache_free(be, &m->job[i].pc);
    }
    tensor_free(be, &m->dz);
    par_sum_free(m->sum);
    free(m->host);
}

void cotrain_params(CoTrain *m, ParamList *l) {
    effnet_block_params(m->teacher, l);
    for (int k = 0; k < m->sp.nblocks; k++) projector_params(&m->tproj[k], l);
    for (int i = 0; i < m->njobs; i++) {
        student_all_params(&m->job[i].st, l);
        projector_params(&m->job[i].proj, l);
    }
}

// Two tensors per batch norm: at most 4 per teacher layer (expand, depthwise, project, and
// one to spare) plus the stem's, one per projector, a cell's CELL_MAX_BNS.
int cotrain_max_stats(const CoTrain *m) {
    int n = 2 * (4 * m->teacher->nlayers + 1) + 2 * m->sp.nblocks;
    return n + m->njobs * 2 * (CELL_MAX_BNS + 1);
}

int cotrain_stats(CoTrain *m, Tensor **stats, int max) {
    int n = effnet_block_stats(m->teacher, stats, max);
    for (int k = 0; k < m->sp.nblocks; k++) {
        DNA_CHECK(n + 2 <= max, "internal: size the array by cotrain_max_stats", "too many stats");
        stats[n++] = &m->tproj[k].bn.run_mean, stats[n++] = &m->tproj[k].bn.run_var;
    }
    for (int i = 0; i < m->njobs; i++) {
        n += student_stats(&m->job[i].st, stats + n, max - n);
        DNA_CHECK(n + 2 <= max, "internal: size the array by cotrain_max_stats", "too many stats");
        stats[n++] = &m->job[i].proj.bn.run_mean, stats[n++] = &m->job[i].proj.bn.run_var;
    }
    return n;
}

// The step's parameter list: the teacher's blocks, its projectors, each job's sampled path
// (a ViT supernet: all of it, as distillation steps it) and projector.
static void step_params(CoTrain *m, ParamList *l) {
    effnet_block_params(m->teacher, l);
    for (int k = 0; k < m->sp.nblocks; k++) projector_params(&m->tproj[k], l);
    for (int i = 0; i < m->njobs; i++) {
        CoJob *j = &m->job[i];
        if (j->st.vit)
            vitcell_params(&j->st.vc, l);
        else
            cell_path_params(&j->st.cell, j->path, l);
        projector_params(&j->proj, l);
    }
}

static const Tensor *student_fwd(const Backend *be, CoJob *j, const Tensor *x) {
    if (j->st.vit) return vitcell_forward(be, &j->st.vc, j->path[0], x, NULL);
    return cell_forward(be, &j->st.cell, j->path, x, BN_TRAIN);
}

static void student_bwd(const Backend *be, CoJob *j, const Tensor *dy) {
    if (j->st.vit)
        vitcell_backward(be, &j->st.vc, dy, 0);
    else
        cell_backward(be, &j->st.cell, j->path, dy, 0);
}

static float *host_buf(CoTrain *m, size_t n) {
    if (n > m->host_cap) {
        free(m->host);
        m->host = dna_malloc(sizeof(float) * n);
        m->host_cap = n;
    }
    return m->host;
}

// Every member's rows of the step's projections, gathered in the whole batch's order: out[q]
// is projection q's [2][M][dim] (view a's rows, then view b's). Members add their rows into a
// zeroed buffer, so the sum is exact. Returns M; *off is this member's first image.
static int gather(CoTrain *m, const Tensor *const *z, int nq, int mine, int dim, double **out,
                  int *off) {
    int size = m->g ? par_group_size(m->g) : 1, rank = m->g ? par_group_rank(m->g) : 0;
    double *cnt = calloc((size_t)size, sizeof(double));
    cnt[rank] = mine;
    if (m->g) par_group_sum_f64(m->g, cnt, (size_t)size);
    int M = 0;
    *off = 0;
    for (int r = 0; r < size; r++) {
        if (r < rank) *off += (int)cnt[r];
        M += (int)cnt[r];
    }
    free(cnt);
    size_t per = (size_t)2 * M * dim;
    m->comm_rows = (size_t)nq * per;
    double *all = calloc((size_t)nq * per, sizeof(double));
    DNA_CHECK(all, "free memory", "out of memory gathering projections");
    float *h = host_buf(m, (size_t)2 * mine * dim);
    for (int q = 0; q < nq; q++) {
        tensor_download(m->be, z[q], h);
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < mine; i++)
                for (int c = 0; c < dim; c++)
                    all[q * per + ((size_t)v * M + *off + i) * dim + c] =
                        h[((size_t)v * mine + i) * dim + c];
    }
    double t0 = timer_now();
    if (m->g) par_group_sum_f64(m->g, all, (size_t)nq * per);
    m->comm_s += timer_now() - t0;
    *out = all;
    return M;
}

// This member's rows of a whole-batch gradient g [2][M][dim] (double), scaled, into t.
static void scatter(CoTrain *m, const double *g, int M, int off, int mine, int dim, Tensor *t) {
    float *h = host_buf(m, (size_t)2 * mine * dim);
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < mine; i++)
            for (int c = 0; c < dim; c++)
                h[((size_t)v * mine + i) * dim + c] = (float)g[((size_t)v * M + off + i) * dim + c];
    tensor_upload(m->be, t, h);
}

double cotrain_step(CoTrain *m, const Tensor *x, Rng *paths, long step, const Optim *opt,
                    CoTerms *t) {
    const Backend *be = m->be;
    const Space *sp = &m->sp;
    int K = sp->nblocks, dim = m->tproj[0].cout, mine = x->n / 2;
    DNA_CHECK(x->n == 2 * mine && mine >= 1, "internal: a step takes both views of each image",
              "co-training: %d rows", x->n);
    for (int i = 0; i < m->njobs; i++)
        student_sample(&m->job[i].st, &paths[i], step, m->job[i].path);
    ParamList pl = {0};
    step_params(m, &pl);
    params_zero_grad(be, &pl);
    // forward: teacher, its projections, then each student on its (detached) input
    effnet_forward_blocks(be, m->teacher, x, BN_TRAIN, NULL);
    const Tensor *z[SPACE_MAX_BLOCKS + COTRAIN_MAX_JOBS];
    for (int k = 0; k < K; k++)
        z[k] = projector_forward(be, &m->tproj[k], &m->tpc[k], m->teacher->block_out[k], BN_TRAIN);
    for (int i = 0; i < m->njobs; i++) {
        CoJob *j = &m->job[i];
        const Tensor *in = j->block ? m->teacher->block_out[j->block - 1] : x;
        z[K + i] = projector_forward(be, &j->proj, &j->pc, student_fwd(be, j, in), BN_TRAIN);
    }
    // the loss on the whole batch, the same on every member
    double *all;
    int off, nq = K + m->njobs, M = gather(m, z, nq, mine, dim, &all, &off);
    DNA_CHECK(M >= 2, "raise [train] batch to 2 or more",
              "co-training: the covariance needs 2 or more images a step, the batch has %d", M);
    size_t per = (size_t)2 * M * dim, half = (size_t)M * dim;
    float *zf = dna_malloc(sizeof(float) * 2 * per), *gf = dna_malloc(sizeof(float) * 2 * per);
    double *grad = calloc((size_t)nq * per, sizeof(double));
    CoTerms terms = {0};
    for (int i = 0; i < m->njobs; i++) {
        const CoJob *j = &m->job[i];
        int k = j->block, q = K + i;
        double w = 0.5 / sp->block[k].ncells;
        for (size_t e = 0; e < per; e++) zf[e] = (float)all[k * per + e];
        for (size_t e = 0; e < per; e++) zf[per + e] = (float)all[q * per + e];
        for (int dir = 0; dir < 2; dir++) {
            // dir 0: Z-hat of view a against Z of view b; dir 1: b against a
            const float *zt = zf + (dir ? 0 : half), *zh = zf + per + (dir ? half : 0);
            float *dzt = gf, *dzh = gf + half;
            SslLoss l = ssl_loss(&m->loss, zt, zh, M, dim, dzt, dzh);
            terms.loss += w * l.total;
            terms.block[k][0] += w * l.dist, terms.block[k][1] += w * l.cov;
            terms.block[k][2] += w * l.var;
            terms.block[k][3] += w * l.std_z, terms.block[k][4] += w * l.std_zh;
            double *gt = grad + k * per + (dir ? 0 : half), *gh = grad + q * per + (dir ? half : 0);
            for (size_t e = 0; e < half; e++) gt[e] += w * dzt[e], gh[e] += w * dzh[e];
        }
    }
    free(zf), free(gf), free(all);
    // backward: each student from its projector, then the teacher from all its projectors
    for (int i = 0; i < m->njobs; i++) {
        CoJob *j = &m->job[i];
        tensor_ensure(be, &m->dz, 2 * mine, dim, 1, 1);
        scatter(m, grad + (size_t)(K + i) * per, M, off, mine, dim, &m->dz);
        student_bwd(be, j, projector_backward(be, &j->proj, &j->pc, &m->dz, 1));
    }
    const Tensor *dblock[SPACE_MAX_BLOCKS];
    for (int k = 0; k < K; k++) {
        tensor_ensure(be, &m->dz, 2 * mine, dim, 1, 1);
        scatter(m, grad + (size_t)k * per, M, off, mine, dim, &m->dz);
        dblock[k] = projector_backward(be, &m->tproj[k], &m->tpc[k], &m->dz, 1);  // its cache's
    }
    effnet_backward_blocks(be, m->teacher, dblock);
    free(grad);
    double t0 = timer_now();
    m->comm_grad = params_numel(&pl);
    if (m->sum) optim_sum_grads(m->sum, &pl, 0, NULL);
    m->comm_s += timer_now() - t0;
    optim_step(be, opt, &pl);
    params_free(&pl);
    if (t) *t = terms;
    return terms.loss;
}

void cotrain_teacher_eval(CoTrain *m, const Tensor *x, const Tensor **z) {
    effnet_forward_blocks(m->be, m->teacher, x, BN_EVAL, NULL);
    for (int k = 0; k < m->sp.nblocks; k++)
        z[k] =
            projector_forward(m->be, &m->tproj[k], &m->tpc[k], m->teacher->block_out[k], BN_EVAL);
}
