// bench.h5 files (see bench.h).
#include "io/bench.h"

#include <limits.h>
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
    // Shapes first, then the values: nothing is allocated for a size the file merely claims.
    size_t n = h5_count(f, path, "params", NULL, NULL), nc = h5_count(f, path, "cell", NULL, NULL),
           nk = h5_count(f, path, "code", NULL, NULL);
    DNA_CHECK(n > 0 && n <= INT_MAX && nc == nk && nc % n == 0 && nc / n >= 1 &&
                  nc / n <= SPACE_MAX_BLOCKS,
              "rerun `dna bench CFG`",
              "'%s': cell/code/params shapes do not match (%zu, %zu and %zu values; 1..%d blocks)",
              path, nc, nk, n, SPACE_MAX_BLOCKS);
    const char *rest[] = {"macs", "top1", "seconds"};
    for (int q = 0; q < 3; q++) {
        size_t nx = h5_count(f, path, rest[q], NULL, NULL);
        DNA_CHECK(nx == n, "rerun `dna bench CFG`", "'%s': %s has %zu values, params %zu", path,
                  rest[q], nx, n);
    }
    double *cell = h5_read_f64(f, path, "cell", NULL), *code = h5_read_f64(f, path, "code", NULL);
    bench_alloc(b, (int)n, (int)(nc / n));
    // Cell indices and path codes index the space: whole, in range, checked before the cast.
    for (size_t i = 0; i < nc; i++) {
        DNA_CHECK(cell[i] >= 0 && cell[i] < SPACE_MAX_CELLS && cell[i] == (int)cell[i] &&
                      code[i] >= 0 && code[i] <= 0x1p53 && code[i] == (double)(int64_t)code[i],
                  "rerun `dna bench CFG`",
                  "'%s': architecture %zu, block %zu: cell %g, path %g are not a cell index "
                  "(0..%d) and a path code",
                  path, i / (nc / n) + 1, i % (nc / n) + 1, cell[i], code[i], SPACE_MAX_CELLS - 1);
        b->cell[i] = (int)cell[i], b->code[i] = (int64_t)code[i];
    }
    free(cell), free(code);
    const char *all[] = {"params", "macs", "top1", "seconds"};
    double *dst[] = {b->params, b->macs, b->top1, b->seconds};
    for (int q = 0; q < 4; q++) {
        double *v = h5_read_f64(f, path, all[q], NULL);
        memcpy(dst[q], v, sizeof(double) * n);
        free(v);
    }
    h5_close(f);
}
