// Training checkpoints (see ckpt.h). Datasets are named by position ("p12.w", "bn3.mean"):
// the layout belongs to the code that built the list, which is rebuilt identically on resume.
#include "io/ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(hid_t f, const char *tmp, const Backend *be, const char *name, const Tensor *t) {
    long n = (long)tensor_numel(t);
    float *h = dna_malloc(sizeof(float) * (size_t)n);
    if (t->data) tensor_download(be, t, h);
    else memset(h, 0, sizeof(float) * (size_t)n);
    h5_write(f, name, H5T_NATIVE_FLOAT, h, 1, &n, tmp);
    free(h);
}

static void get(hid_t f, const char *path, const Backend *be, const char *name, Tensor *t) {
    size_t n;
    float *h = h5_read_f32(f, path, name, &n, NULL, NULL);
    DNA_CHECK(n == tensor_numel(t), "the checkpoint belongs to another search space: delete it",
              "'%s': '%s' has %zu values, expected %zu", path, name, n, tensor_numel(t));
    tensor_upload(be, t, h);
    free(h);
}

static void curve(hid_t f, const char *path, const char *name, float *dst, size_t want) {
    if (!dst || want == 0) return;  // empty curves are not stored
    size_t n;
    float *h = h5_read_f32(f, path, name, &n, NULL, NULL);
    DNA_CHECK(n == want, "delete the checkpoint", "'%s': '%s' holds %zu values, expected %zu",
              path, name, n, want);
    memcpy(dst, h, sizeof(float) * n);
    free(h);
}

void ckpt_save(const char *path, const Backend *be, const ParamList *pl, BatchNorm **bns, int nbn,
               const CkptMeta *meta, const H5Prov *prov) {
    char tmp[1024], name[64];
    hid_t f = h5_create_tmp(path, tmp);
    int *steps = dna_malloc(sizeof(int) * (size_t)pl->n);
    for (int i = 0; i < pl->n; i++) {
        const Param *p = pl->p[i];
        snprintf(name, sizeof name, "p%d.w", i), put(f, tmp, be, name, &p->w);
        Tensor none = p->w;  // a moment never allocated (op never sampled) is stored as zeros
        none.data = NULL;
        snprintf(name, sizeof name, "p%d.m", i), put(f, tmp, be, name, p->m.data ? &p->m : &none);
        snprintf(name, sizeof name, "p%d.v", i), put(f, tmp, be, name, p->v.data ? &p->v : &none);
        steps[i] = p->step;
    }
    long n = pl->n;
    h5_write(f, "steps", H5T_NATIVE_INT, steps, 1, &n, tmp);
    free(steps);
    for (int i = 0; i < nbn; i++) {
        snprintf(name, sizeof name, "bn%d.mean", i), put(f, tmp, be, name, &bns[i]->run_mean);
        snprintf(name, sizeof name, "bn%d.var", i), put(f, tmp, be, name, &bns[i]->run_var);
    }
    long ns = (long)meta->step, nv = (long)meta->nval;
    if (meta->loss && ns > 0) h5_write(f, "loss", H5T_NATIVE_FLOAT, meta->loss, 1, &ns, tmp);
    if (meta->val && nv > 0) h5_write(f, "val", H5T_NATIVE_FLOAT, meta->val, 1, &nv, tmp);
    h5_attr_i64(f, "nparams", pl->n, tmp);
    h5_attr_i64(f, "nbn", nbn, tmp);
    h5_attr_i64(f, "epoch", meta->epoch, tmp);
    h5_attr_i64(f, "cursor", meta->cursor, tmp);
    h5_attr_i64(f, "step", meta->step, tmp);
    h5_attr_i64(f, "done", meta->done, tmp);
    h5_attr_i64(f, "nval", meta->nval, tmp);
    if (prov) h5_attr_prov(f, prov, tmp);
    h5_commit(f, tmp, path);
}

int ckpt_load(const char *path, const Backend *be, const ParamList *pl, BatchNorm **bns, int nbn,
              CkptMeta *meta) {
    if (access(path, F_OK) != 0) return 0;
    hid_t f = h5_open_read(path);
    DNA_CHECK(h5_read_attr_i64(f, "nparams", path) == pl->n && h5_read_attr_i64(f, "nbn", path) == nbn,
              "the checkpoint belongs to another search space: delete it",
              "'%s' holds another cell (parameter or BN count differs)", path);
    char name[64];
    size_t n;
    float *steps = h5_read_f32(f, path, "steps", &n, NULL, NULL);
    DNA_CHECK((int)n == pl->n, "delete the checkpoint", "'%s': bad 'steps'", path);
    for (int i = 0; i < pl->n; i++) {
        Param *p = pl->p[i];
        snprintf(name, sizeof name, "p%d.w", i), get(f, path, be, name, &p->w);
        p->step = (int)steps[i];
        if (p->step > 0) {  // Adam allocates its moments on the first step
            if (!p->m.data) p->m = tensor_new(be, p->w.n, p->w.c, p->w.h, p->w.w);
            if (!p->v.data) p->v = tensor_new(be, p->w.n, p->w.c, p->w.h, p->w.w);
            snprintf(name, sizeof name, "p%d.m", i), get(f, path, be, name, &p->m);
            snprintf(name, sizeof name, "p%d.v", i), get(f, path, be, name, &p->v);
        }
    }
    free(steps);
    for (int i = 0; i < nbn; i++) {
        snprintf(name, sizeof name, "bn%d.mean", i), get(f, path, be, name, &bns[i]->run_mean);
        snprintf(name, sizeof name, "bn%d.var", i), get(f, path, be, name, &bns[i]->run_var);
    }
    meta->epoch = h5_read_attr_i64(f, "epoch", path);
    meta->cursor = h5_read_attr_i64(f, "cursor", path);
    meta->step = h5_read_attr_i64(f, "step", path);
    meta->done = h5_read_attr_i64(f, "done", path);
    meta->nval = h5_read_attr_i64(f, "nval", path);
    DNA_CHECK(meta->step <= meta->cap_steps && meta->nval <= meta->cap_epochs,
              "the checkpoint belongs to a longer run: delete it or raise [train] epochs",
              "'%s' is at step %lld, epoch %lld; this run has %lld steps in %lld epochs", path,
              meta->step, meta->nval, meta->cap_steps, meta->cap_epochs);
    curve(f, path, "loss", meta->loss, (size_t)meta->step);
    curve(f, path, "val", meta->val, (size_t)meta->nval);
    h5_close(f);
    return 1;
}
