// Fuzz target, structure-aware: training checkpoints (ckpt_load, ckpt_identity) for a fixed
// trainee of three parameters, one shared tensor, per-rank rows, random streams and curves,
// as the trainer resumes them. The input drives the file: dataset sizes, dtypes and values
// (NaN, huge), missing datasets and attributes, attribute values and types.
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "fuzz.h"
#include "io/ckpt.h"

enum { NP = 3, ROW = 4, RNG_BYTES = 16, CAP_LOSS = 32, CAP_VAL = 4 };
static const int SHAPE[NP][4] = {{4, 2, 3, 3}, {4, 1, 1, 1}, {3, 4, 1, 1}};

static struct {
    const Backend *be;
    Param p[NP];
    ParamList pl;
    Tensor shared;
} T;

static void setup(void) {
    if (T.be) return;
    T.be = backend_cpu();
    for (int i = 0; i < NP; i++) {
        param_init(T.be, &T.p[i], "w", SHAPE[i][0], SHAPE[i][1], SHAPE[i][2], SHAPE[i][3], 1);
        params_push(&T.pl, &T.p[i]);
    }
    T.shared = tensor_new(T.be, 1, 5, 1, 1);
}

static void load(void *arg) {
    const char *path = arg;
    free(ckpt_identity(path));
    for (int i = 0; i < NP; i++) {  // the optimizer state a fresh trainee lacks
        tensor_free(T.be, &T.p[i].m);
        tensor_free(T.be, &T.p[i].v);
    }
    Tensor *sh[1] = {&T.shared};
    unsigned char rng[RNG_BYTES];
    float loss[CAP_LOSS];
    double val[CAP_VAL];
    Ckpt c = {.params = &T.pl,
              .shared = sh,
              .nshared = 1,
              .row = ROW,
              .rng = rng,
              .rng_bytes = RNG_BYTES,
              .loss = loss,
              .val = val,
              .cap_loss = CAP_LOSS,
              .cap_val = CAP_VAL};
    ckpt_load(path, T.be, &c);
    free(c.rows);
}

// A float dataset of n values (usually `n`), type and values from the input.
static void put(FuzzIn *in, hid_t f, const char *name, hid_t usual, long n) {
    if (fz_chance(in, 50)) return;
    long long len = fz_i64(in, n);
    int lazy = len < 0 || len > 4096;
    hsize_t d = (hsize_t)len;
    double v[4096];
    size_t cnt = lazy ? 0 : (size_t)len;
    for (size_t i = 0; i < cnt; i++) v[i] = fz_f64(in, (double)(i % 7));
    hid_t t = fz_type(in, usual);
    fh5_dataset(f, name, t, 1, &d, v, cnt, lazy);
    fz_type_close(t);
}

static void write_file(FuzzIn *in, const char *path) {
    hid_t f = fh5_create(path);
    if (f < 0) return;
    char name[32];
    for (int i = 0; i < NP; i++) {
        long n = (long)SHAPE[i][0] * SHAPE[i][1] * SHAPE[i][2] * SHAPE[i][3];
        snprintf(name, sizeof name, "p%d.w", i), put(in, f, name, H5T_NATIVE_FLOAT, n);
        if (fz_chance(in, 2))
            snprintf(name, sizeof name, "p%d.m", i), put(in, f, name, H5T_NATIVE_FLOAT, n);
        if (fz_chance(in, 2))
            snprintf(name, sizeof name, "p%d.v", i), put(in, f, name, H5T_NATIVE_FLOAT, n);
    }
    put(in, f, "steps", H5T_NATIVE_INT, NP);
    put(in, f, "shared0", H5T_NATIVE_FLOAT, 5);
    if (!fz_chance(in, 50)) {
        hsize_t rd[2] = {(hsize_t)fz_i64(in, 2), (hsize_t)fz_i64(in, ROW)};
        int lazy = rd[0] * rd[1] > 64 || rd[0] > 64 || rd[1] > 64;
        double v[64] = {1, 2, 3};
        hid_t t = fz_type(in, H5T_NATIVE_DOUBLE);
        int nd = fz_chance(in, 20) ? 1 : 2;
        fh5_dataset(f, "rows", t, nd, rd, v, lazy ? 0 : rd[0] * (nd == 2 ? rd[1] : 1), lazy);
        fz_type_close(t);
    }
    put(in, f, "rng", H5T_NATIVE_UCHAR, RNG_BYTES);
    long long step = fz_i64(in, fz_u8(in) % 40), nval = fz_i64(in, fz_u8(in) % 5);
    put(in, f, "loss", H5T_NATIVE_FLOAT, (long)(step > 0 && step < 4096 ? step : 1));
    put(in, f, "val", H5T_NATIVE_DOUBLE, (long)(nval > 0 && nval < 4096 ? nval : 1));
    const char *attr[] = {"nparams", "nshared", "epoch",  "cursor",   "step",
                          "done",    "nval",    "epochs", "per_epoch"};
    long long v[] = {NP, 1, fz_u8(in) % 3, fz_u8(in), step, fz_u8(in) & 1, nval, 3, 10};
    for (int i = 0; i < 9; i++) {
        if (fz_chance(in, 50)) continue;
        hid_t t = fz_type(in, H5T_NATIVE_LLONG);
        fh5_attr_i64(f, attr[i], t, fz_i64(in, v[i]));
        fz_type_close(t);
    }
    if (fz_chance(in, 2)) fh5_attr_str(f, "identity", "train 0123456789abcdef");
    fh5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    setup();
    FuzzIn in = {data, size, 0};
    char path[300];
    fuzz_path(path, sizeof path, "ckpt.h5");
    write_file(&in, path);
    fuzz_call(load, path);
    return 0;
}
