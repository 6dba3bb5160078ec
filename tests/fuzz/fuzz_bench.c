// Fuzz target, structure-aware: bench.h5 (bench_load), the ranking benchmark `dna rank`
// reads. The input drives the architecture count and block count, each dataset's shape,
// dtype and values (negative, fractional, NaN, huge cell indices and path codes) and
// missing datasets.
#include <stdlib.h>

#include "fuzz.h"
#include "io/bench.h"
#include "nas/space.h"

static void load(void *arg) {
    Bench b;
    bench_load(arg, &b);
    // what rank does with it: cells and codes index the space's cells and paths
    for (int i = 0; i < b.n * b.nblocks; i++)
        if (b.cell[i] < 0 || b.cell[i] >= SPACE_MAX_CELLS || b.code[i] < 0) abort();
    bench_free(&b);
}

static void put(FuzzIn *in, hid_t f, const char *name, hid_t usual, int nd, hsize_t d0, hsize_t d1,
                double base) {
    if (fz_chance(in, 40)) return;
    hsize_t d[2] = {(hsize_t)fz_i64(in, (long long)d0), (hsize_t)fz_i64(in, (long long)d1)};
    int lazy = d[0] > 64 || d[1] > 64 || d[0] * d[1] > 256;
    double v[256];
    size_t cnt = lazy ? 0 : (size_t)(d[0] * (nd == 2 ? d[1] : 1));
    for (size_t i = 0; i < cnt; i++) v[i] = fz_f64(in, base + (double)(i % 3));
    hid_t t = fz_type(in, usual);
    fh5_dataset(f, name, t, fz_chance(in, 30) ? 3 - nd : nd, d, v, cnt, lazy);
    fz_type_close(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    FuzzIn in = {data, size, 0};
    char path[300];
    fuzz_path(path, sizeof path, "bench.h5");
    hid_t f = fh5_create(path);
    if (f < 0) return 0;
    hsize_t n = 3 + fz_u8(&in) % 4, k = 1 + fz_u8(&in) % 3;
    put(&in, f, "cell", H5T_NATIVE_INT, 2, n, k, 0);
    put(&in, f, "code", H5T_NATIVE_LONG, 2, n, k, 1);
    put(&in, f, "params", H5T_NATIVE_DOUBLE, 1, n, 1, 1000);
    put(&in, f, "macs", H5T_NATIVE_DOUBLE, 1, n, 1, 1e5);
    put(&in, f, "top1", H5T_NATIVE_DOUBLE, 1, n, 1, 0.8);
    put(&in, f, "seconds", H5T_NATIVE_DOUBLE, 1, n, 1, 10);
    fh5_close(f);
    fuzz_call(load, path);
    return 0;
}
