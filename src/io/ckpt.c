// Training checkpoints (see ckpt.h). Datasets are named by position ("p12.w", "shared3"):
// the layout belongs to the code that built the lists, which rebuilds them identically on
// resume. Optimizer state is stored only where it exists ("p12.m" is absent when the
// optimizer never allocated it), so a resumed step sees exactly what the live one did.
#include "io/ckpt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const FIX = "the checkpoint belongs to another run or search space: delete it";
// More team members than any run has ranks: a row count beyond it is damage, not a team.
enum { CKPT_MAX_MEMBERS = 1 << 20 };

static void put(hid_t f, const char *tmp, const Backend *be, const char *name, const Tensor *t) {
    long n = (long)tensor_numel(t);
    float *h = dna_malloc(sizeof(float) * (size_t)n);
    tensor_download(be, t, h);
    h5_write(f, name, H5T_NATIVE_FLOAT, h, 1, &n, tmp);
    free(h);
}

// Checks dataset `name` holds `want` values before reading it: a damaged file may claim any
// size, and nothing is allocated for a size the caller does not expect.
static void expect_count(hid_t f, const char *path, const char *name, size_t want) {
    size_t n = h5_count(f, path, name, NULL, NULL);
    DNA_CHECK(n == want, FIX, "'%s': '%s' has %zu values, expected %zu", path, name, n, want);
}

static void get(hid_t f, const char *path, const Backend *be, const char *name, Tensor *t) {
    expect_count(f, path, name, tensor_numel(t));
    float *h = h5_read_f32(f, path, name, NULL, NULL, NULL);
    tensor_upload(be, t, h);
    free(h);
}

void ckpt_save(const char *path, const Backend *be, const Ckpt *c, const H5Prov *prov) {
    char tmp[1024], name[64];
    hid_t f = h5_create_tmp(path, tmp);
    const ParamList *pl = c->params;
    int *steps = dna_malloc(sizeof(int) * (size_t)(pl->n ? pl->n : 1));
    for (int i = 0; i < pl->n; i++) {
        const Param *p = pl->p[i];
        snprintf(name, sizeof name, "p%d.w", i), put(f, tmp, be, name, &p->w);
        if (p->m.data) snprintf(name, sizeof name, "p%d.m", i), put(f, tmp, be, name, &p->m);
        if (p->v.data) snprintf(name, sizeof name, "p%d.v", i), put(f, tmp, be, name, &p->v);
        steps[i] = p->step;
    }
    long n = pl->n;
    if (n) h5_write(f, "steps", H5T_NATIVE_INT, steps, 1, &n, tmp);
    free(steps);
    for (int i = 0; i < c->nshared; i++)
        snprintf(name, sizeof name, "shared%d", i), put(f, tmp, be, name, c->shared[i]);
    long rd[2] = {c->members, c->row};
    if (c->members > 0 && c->row > 0) h5_write(f, "rows", H5T_NATIVE_DOUBLE, c->rows, 2, rd, tmp);
    long rb = (long)c->rng_bytes;
    if (rb) h5_write(f, "rng", H5T_NATIVE_UCHAR, c->rng, 1, &rb, tmp);
    long nl = (long)c->nloss, nv = (long)c->nval;
    if (c->loss && nl > 0) h5_write(f, "loss", H5T_NATIVE_FLOAT, c->loss, 1, &nl, tmp);
    if (c->val && nv > 0) h5_write(f, "val", H5T_NATIVE_DOUBLE, c->val, 1, &nv, tmp);
    const char *attr[] = {"nparams", "nshared", "epoch",  "cursor",   "step",
                          "done",    "nval",    "epochs", "per_epoch"};
    long long v[] = {pl->n,   c->nshared, c->epoch,  c->cursor,   c->step,
                     c->done, c->nval,    c->epochs, c->per_epoch};
    for (int i = 0; i < 9; i++) h5_attr_i64(f, attr[i], v[i], tmp);
    if (c->identity) h5_attr_str(f, "identity", c->identity, tmp);
    if (prov) h5_attr_prov(f, prov, tmp);
    char prev[1100];
    snprintf(prev, sizeof prev, "%s.prev", path);
    h5_commit_prev(f, tmp, path, prev);
}

const char *ckpt_choose(const char *path, char prev[1100], int *fell_back) {
    snprintf(prev, 1100, "%s.prev", path);
    *fell_back = 0;
    int has = access(path, F_OK) == 0, has_prev = access(prev, F_OK) == 0;
    if (has && h5_readable(path)) return path;
    if (!has && !has_prev) return NULL;
    DNA_CHECK(has_prev && h5_readable(prev),
              "delete both files to train afresh (they are truncated or damaged)",
              "checkpoint '%s' cannot be read, nor its previous generation '%s'", path, prev);
    *fell_back = 1;
    return prev;
}

void ckpt_remove(const char *path) {
    char prev[1100];
    snprintf(prev, sizeof prev, "%s.prev", path);
    unlink(path);
    unlink(prev);
}

char *ckpt_identity(const char *path) {
    if (access(path, F_OK) != 0) return NULL;
    hid_t f = h5_open_read(path);
    char *id = h5_has_attr(f, "identity") ? h5_read_attr_str(f, "identity", path) : NULL;
    h5_close(f);
    if (!id) id = dna_calloc(1, 1);
    return id;
}

static void load_params(hid_t f, const char *path, const Backend *be, const ParamList *pl) {
    DNA_CHECK(h5_read_attr_i64(f, "nparams", path) == pl->n, FIX,
              "'%s' holds another network (its parameter count differs)", path);
    if (!pl->n) return;
    expect_count(f, path, "steps", (size_t)pl->n);
    double *steps = h5_read_f64(f, path, "steps", NULL);
    char name[64];
    for (int i = 0; i < pl->n; i++) {
        Param *p = pl->p[i];
        snprintf(name, sizeof name, "p%d.w", i), get(f, path, be, name, &p->w);
        DNA_CHECK(steps[i] >= 0 && steps[i] <= INT_MAX && steps[i] == (int)steps[i], FIX,
                  "'%s': 'steps'[%d] = %g is not a step count", path, i, steps[i]);
        p->step = (int)steps[i];
        Tensor *st[2] = {&p->m, &p->v};
        for (int s = 0; s < 2; s++) {
            snprintf(name, sizeof name, "p%d.%c", i, "mv"[s]);
            if (!h5_has(f, name)) continue;
            if (!st[s]->data) *st[s] = tensor_new(be, p->w.n, p->w.c, p->w.h, p->w.w);
            get(f, path, be, name, st[s]);
        }
    }
    free(steps);
}

static void load_rows(hid_t f, const char *path, Ckpt *c) {
    c->rows = NULL;
    if (c->row == 0) return;
    DNA_CHECK(h5_has(f, "rows"), FIX, "'%s' has no per-rank rows", path);
    int nd;
    long dims[8];
    h5_count(f, path, "rows", &nd, dims);
    DNA_CHECK(nd == 2 && dims[1] == c->row, FIX, "'%s': rows of %ld values, expected %ld", path,
              nd == 2 ? dims[1] : -1L, c->row);
    DNA_CHECK(dims[0] >= 1 && dims[0] <= CKPT_MAX_MEMBERS, FIX,
              "'%s': rows of %ld team members, expected 1..%d", path, dims[0], CKPT_MAX_MEMBERS);
    c->rows = h5_read_as(f, path, "rows", H5T_NATIVE_DOUBLE, sizeof(double), NULL, NULL, NULL);
    c->members = (int)dims[0];
}

int ckpt_load(const char *path, const Backend *be, Ckpt *c) {
    if (access(path, F_OK) != 0) return 0;
    hid_t f = h5_open_read(path);
    load_params(f, path, be, c->params);
    DNA_CHECK(h5_read_attr_i64(f, "nshared", path) == c->nshared, FIX,
              "'%s' holds another state (its shared tensor count differs)", path);
    char name[64];
    for (int i = 0; i < c->nshared; i++)
        snprintf(name, sizeof name, "shared%d", i), get(f, path, be, name, c->shared[i]);
    load_rows(f, path, c);
    if (c->rng_bytes) {
        size_t n = h5_count(f, path, "rng", NULL, NULL);
        DNA_CHECK(n == c->rng_bytes, FIX, "'%s': random streams of %zu bytes, expected %zu", path,
                  n, c->rng_bytes);
        void *b = h5_read_as(f, path, "rng", H5T_NATIVE_UCHAR, 1, NULL, NULL, NULL);
        memcpy(c->rng, b, n);
        free(b);
    }
    c->epoch = h5_read_attr_i64(f, "epoch", path);
    c->cursor = h5_read_attr_i64(f, "cursor", path);
    c->step = h5_read_attr_i64(f, "step", path);
    c->done = h5_read_attr_i64(f, "done", path);
    c->nval = h5_read_attr_i64(f, "nval", path);
    DNA_CHECK(c->epoch >= 0 && c->cursor >= 0 && c->step >= 0 && c->nval >= 0 &&
                  (c->done == 0 || c->done == 1),
              FIX,
              "'%s': progress epoch %lld, cursor %lld, step %lld, done %lld, nval %lld: "
              "expected counts >= 0 and done 0 or 1",
              path, c->epoch, c->cursor, c->step, c->done, c->nval);
    c->nloss = c->loss ? c->step : 0;
    DNA_CHECK(c->nloss <= c->cap_loss && (!c->val || c->nval <= c->cap_val),
              "the checkpoint belongs to a longer run: delete it or raise the epochs",
              "'%s' is at step %lld, epoch %lld; this run has %lld steps in %lld epochs", path,
              c->step, c->nval, c->cap_loss, c->cap_val);
    if (c->loss && c->nloss > 0) {
        expect_count(f, path, "loss", (size_t)c->nloss);
        float *l = h5_read_f32(f, path, "loss", NULL, NULL, NULL);
        memcpy(c->loss, l, sizeof(float) * (size_t)c->nloss);
        free(l);
    }
    if (c->val && c->nval > 0) {
        expect_count(f, path, "val", (size_t)c->nval);
        double *v = h5_read_f64(f, path, "val", NULL);
        memcpy(c->val, v, sizeof(double) * (size_t)c->nval);
        free(v);
    }
    h5_close(f);
    return 1;
}
