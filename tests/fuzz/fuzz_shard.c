// Fuzz target, structure-aware: a directory of feature shards (shard_reader_open, then one
// epoch of batches through the prefetcher), as `dna train` and `dna rate` read them. The
// input drives the files (how many, their sample ranges, chunk and block count), each
// dataset's shape, dtype and values (/index ids included) and the attributes, then the
// reader's settings. A fatal error on the prefetch thread is a finding (fuzz.h).
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "io/shard.h"

typedef struct Args {
    const char *dir;
    ShardReaderCfg cfg;
    int expect[3], use_expect;
} Args;

static void read_epoch(void *arg) {
    const Args *a = arg;
    ShardReader *r = shard_reader_open(a->dir, &a->cfg, a->use_expect ? a->expect : NULL, NULL);
    shard_reader_start_epoch(r, 0, 0);
    const float *x, *y;
    const int32_t *lab;
    const int64_t *ids;
    for (int b = 0; b < 64 && shard_reader_next(r, &x, &y, &lab, &ids) > 0; b++) continue;
    shard_reader_free(r);
}

static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[600];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

// One feature dataset [n, c, h, w]: float32 or float16 (or another type), values from the input.
static void feature(FuzzIn *in, hid_t f, const char *name, long n, const int chw[3], int fp16) {
    if (fz_chance(in, 60)) return;
    hsize_t d[4] = {(hsize_t)n, (hsize_t)chw[0], (hsize_t)chw[1], (hsize_t)chw[2]};
    int lazy = 0;
    if (fz_chance(in, 25)) {
        int j = fz_u8(in) % 4;
        d[j] = (hsize_t)fz_i64(in, (long long)d[j] + 1);
        lazy = 1;
    }
    size_t cnt = lazy ? 0 : (size_t)n * (size_t)chw[0] * chw[1] * chw[2];
    double *v = calloc(cnt ? cnt : 1, sizeof *v);
    for (size_t i = 0; i < cnt; i++) v[i] = i < 16 ? fz_f64(in, 0.1 * (double)i) : 0.5;
    hid_t t = fp16 ? fz_type(in, H5T_NATIVE_FLOAT) : fz_type(in, H5T_IEEE_F32LE);
    if (fp16 && H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 4) {  // IEEE binary16
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_precision(t, 16);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
    }
    fh5_dataset(f, name, t, fz_chance(in, 40) ? 3 : 4, d, v, cnt, lazy);
    fz_type_close(t);
    free(v);
}

static void write_shard(FuzzIn *in, const char *path, long first, long n, long total, int chunk,
                        int K, const int dims[][3], int fp16) {
    hid_t f = fh5_create(path);
    if (f < 0) return;
    char name[32];
    for (int k = 0; k <= K; k++) {
        if (k == 0)
            snprintf(name, sizeof name, "/x");
        else
            snprintf(name, sizeof name, "/block%d", k);
        feature(in, f, name, n, dims[k], fp16);
    }
    double lab[64], idx[64];
    for (long i = 0; i < n; i++) {
        lab[i] = (double)fz_i64(in, (first + i) % 3);
        idx[i] = (double)fz_i64(in, first + i);
    }
    hsize_t hn = (hsize_t)(n + (fz_chance(in, 40) ? 1 : 0));
    hid_t t = fz_type(in, H5T_STD_I32LE);
    if (!fz_chance(in, 60)) fh5_dataset(f, "/labels", t, 1, &hn, lab, hn, 0);
    fz_type_close(t);
    hn = (hsize_t)(n - (fz_chance(in, 40) ? 1 : 0));
    t = fz_type(in, H5T_STD_I64LE);
    if (!fz_chance(in, 60)) fh5_dataset(f, "/index", t, 1, &hn, idx, hn, 0);
    fz_type_close(t);
    const char *names[] = {"format_version", "split_total", "chunk", "nblocks"};
    long long vals[] = {SHARD_FORMAT, total, chunk, K};
    for (int i = 0; i < 4; i++) {
        if (fz_chance(in, 60)) continue;
        t = fz_type(in, H5T_NATIVE_LLONG);
        fh5_attr_i64(f, names[i], t, fz_i64(in, vals[i]));
        fz_type_close(t);
    }
    fh5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    FuzzIn in = {data, size, 0};
    char dir[300], path[400];
    fuzz_path(dir, sizeof dir, "features");
    mkdir(dir, 0700);
    clear_dir(dir);
    int chunk = 1 + fz_u8(&in) % 4, K = 1 + fz_u8(&in) % 2, fp16 = fz_u8(&in) & 1;
    int nfiles = 1 + fz_u8(&in) % 3;
    int dims[3][3];
    for (int k = 0; k <= K; k++)
        for (int j = 0; j < 3; j++) dims[k][j] = 1 + fz_u8(&in) % 3;
    long first = 0, sizes[3];
    for (int i = 0; i < nfiles; i++) sizes[i] = chunk * (1 + fz_u8(&in) % 3);
    sizes[nfiles - 1] -= fz_u8(&in) % chunk;  // the split's last chunk may be short
    long total = 0;
    for (int i = 0; i < nfiles; i++) total += sizes[i];
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/shard_%d_0.h5", dir, i);
        write_shard(&in, path, first, sizes[i], total, chunk, K, (const int(*)[3])dims, fp16);
        first += sizes[i];
    }
    Args a = {.dir = dir};
    a.cfg = (ShardReaderCfg){.block = fz_u8(&in) % (K + 2),
                             .batch = 1 + fz_u8(&in) % 8,
                             .nparts = 1 + fz_u8(&in) % 2,
                             .shuffle = fz_u8(&in) & 1,
                             .window = 1 + fz_u8(&in) % 3,
                             .drop_last = fz_u8(&in) & 1,
                             .seed = fz_u8(&in),
                             .fraction = fz_chance(&in, 4) ? 0.5 : 0};
    a.cfg.part = fz_u8(&in) % a.cfg.nparts;
    if (a.cfg.batch < a.cfg.nparts) a.cfg.batch = a.cfg.nparts;
    int in_slot = a.cfg.block > 0 ? a.cfg.block - 1 : 0;
    if ((a.use_expect = fz_u8(&in) & 1) && in_slot <= K)
        memcpy(a.expect, dims[in_slot], sizeof a.expect);
    fuzz_call(read_epoch, &a);
    return 0;
}
