// bench.h5 files (see bench.h).
#include "io/bench.h"

#include <stdlib.h>
#include <string.h>

void bench_save_h5(const char *path, const Bench *b, const H5Prov *prov, const char *recipe_hash) {
    char tmp[1024];
    hid_t f = h5_create_tmp(path, tmp);
    h5_attr_prov(f, prov, tmp);
    h5_attr_str(f, "recipe_hash", recipe_hash, tmp);
    long d1[1] = {b->n}, d2[2] = {b->n, b->nblocks};
    h5_write(f, "cell", H5T_NATIVE_INT, b->cell, 2, d2, tmp);
    h5_write(f, "code", H5T_NATIVE_INT64, b->code, 2, d2, tmp);
    h5_write(f, "params", H5T_NATIVE_DOUBLE, b->params, 1, d1, tmp);
    h5_write(f, "macs", H5T_NATIVE_DOUBLE, b->macs, 1, d1, tmp);
    h5_write(f, "top1", H5T_NATIVE_DOUBLE, b->top1, 1, d1, tmp);
    h5_write(f, "seconds", H5T_NATIVE_DOUBLE, b->seconds, 1, d1, tmp);
    h5_commit(f, tmp, path);
}

void bench_load(const char *path, Bench *b) {
    hid_t f = h5_open_read(path);
    size_t n = 0, nc = 0, nk = 0, nx;
    double *cell = h5_read_f64(f, path, "cell", &nc), *code = h5_read_f64(f, path, "code", &nk);
    double *params = h5_read_f64(f, path, "params", &n);
    DNA_CHECK(n > 0 && nc == nk && nc % n == 0, "rerun `dna bench CFG`",
              "'%s': cell/code/params shapes do not match", path);
    bench_alloc(b, (int)n, (int)(nc / n));
    for (size_t i = 0; i < nc; i++) b->cell[i] = (int)cell[i], b->code[i] = (int64_t)code[i];
    memcpy(b->params, params, sizeof(double) * n);
    const char *rest[] = {"macs", "top1", "seconds"};
    double *dst[] = {b->macs, b->top1, b->seconds};
    for (int q = 0; q < 3; q++) {
        double *v = h5_read_f64(f, path, rest[q], &nx);
        DNA_CHECK(nx == n, "rerun `dna bench CFG`", "'%s': %s has %zu values, params %zu", path,
                  rest[q], nx, n);
        memcpy(dst[q], v, sizeof(double) * n);
        free(v);
    }
    free(cell), free(code), free(params);
    h5_close(f);
}
