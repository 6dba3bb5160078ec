// Fuzz target, structure-aware: potentials.h5 (potentials_load) against a fixed small space
// of two blocks (cells of 1 and 2 layers over 2 ops), as the search reads it. The input
// drives the block count, each dataset's length, dtype and values (NaN, inf, huge), and
// missing datasets.
#include <stdlib.h>

#include "fuzz.h"
#include "io/potentials.h"
#include "nas/cell.h"

static Space SP;

static void setup(void) {
    if (SP.nblocks) return;
    SP.nblocks = 2;
    SP.block[0].ncells = 2;
    SP.block[1].ncells = 1;
    CellOp ops[2] = {{3, 1}, {5, 3}};
    int layers[3] = {1, 2, 2};
    for (int k = 0, i = 0; k < 2; k++)
        for (int c = 0; c < SP.block[k].ncells; c++, i++) {
            CellCfg *cc = &SP.block[k].cell[c];
            cc->layers = layers[i];
            cc->nops = 2;
            cc->ops[0] = ops[0], cc->ops[1] = ops[1];
            cc->width = 8;
        }
}

static void load(void *arg) {
    Potentials p;
    potentials_load(arg, &SP, &p);
    potentials_free(&p);
}

static void write_file(FuzzIn *in, const char *path) {
    static const char *QTY[4] = {"score", "mse", "params", "macs"};
    hid_t f = fh5_create(path);
    if (f < 0) return;
    hid_t t = fz_type(in, H5T_NATIVE_LLONG);
    if (!fz_chance(in, 50)) fh5_attr_i64(f, "nblocks", t, fz_i64(in, SP.nblocks));
    fz_type_close(t);
    char name[64];
    for (int k = 0; k < SP.nblocks + (fz_chance(in, 20) ? 1 : 0); k++)
        for (int c = 0; c < SP.block[k].ncells + (fz_chance(in, 20) ? 1 : 0); c++)
            for (int q = 0; q < 4; q++) {
                if (fz_chance(in, 60)) continue;
                long paths = k < SP.nblocks && c < SP.block[k].ncells
                                 ? cell_path_count(&SP.block[k].cell[c])
                                 : 2;
                long long n = fz_i64(in, paths);
                int lazy = n < 0 || n > 64;
                hsize_t d = (hsize_t)n;
                double v[64];
                for (long long i = 0; !lazy && i < n; i++) v[i] = fz_f64(in, 0.1 * (double)i);
                snprintf(name, sizeof name, "block%d_cell%d_%s", k + 1, c + 1, QTY[q]);
                t = fz_type(in, H5T_NATIVE_DOUBLE);
                int nd = fz_chance(in, 30) ? 2 : 1;
                hsize_t d2[2] = {d, 1};
                fh5_dataset(f, name, t, nd, nd == 1 ? &d : d2, v, lazy ? 0 : (size_t)n, lazy);
                fz_type_close(t);
            }
    fh5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    setup();
    FuzzIn in = {data, size, 0};
    char path[300];
    fuzz_path(path, sizeof path, "potentials.h5");
    write_file(&in, path);
    fuzz_call(load, path);
    return 0;
}
