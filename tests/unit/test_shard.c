// Tests of src/io/shard.c and src/io/half.h: the write plan, fp16 conversion, write/read round
// trips, the reader's order (independent of how the split was cut into files and ranks),
// data-parallel parts, resume, and the fatal messages for bad shard directories. Every case
// works in its own mkdtemp directory under /tmp and removes it.
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "harness.h"
#include "io/h5lock.h"
#include "io/half.h"
#include "io/shard.h"

// ---- fixtures -------------------------------------------------------------------------------

static ShardSpec test_spec(int fp16, int chunk, int deflate) {
    ShardSpec s = {.nblocks = 2, .fp16 = fp16, .chunk = chunk, .deflate = deflate};
    int dims[3][3] = {{3, 4, 4}, {5, 2, 2}, {6, 1, 1}};
    memcpy(s.dims, dims, sizeof dims);
    return s;
}

static size_t elems(const ShardSpec *s, int slot) {
    return (size_t)s->dims[slot][0] * s->dims[slot][1] * s->dims[slot][2];
}

static uint32_t mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    return h ^ (h >> 16);
}

// Value of element e of sample id in slot: a function of the three alone, so any reader can
// check any sample. exact: multiples of 1/8 in [-4, 4), representable in float16. Otherwise
// magnitudes in [0.01, 3.01), the float16 normal range, where the bound 2^-11·|x| holds.
static float gen(int slot, long id, size_t e, int exact) {
    uint32_t h = mix((uint32_t)id * 2654435761u ^ mix((uint32_t)(slot * 1000003 + (int)e)));
    if (exact) return (float)((int)(h % 64) - 32) / 8.0f;
    float mag = 0.01f + 3.0f * (float)(h >> 8) * 0x1p-24f;
    return (h & 1) ? -mag : mag;
}

static int32_t label_of(long id) {
    return (int32_t)(id % 10) * 3 - 1;
}

// Writes a split of n samples as nranks writers would, rows put in groups of 5 (never aligned
// with chunks) and the slots in reverse order, to exercise partial chunk writes.
static void write_split(const char *dir, const ShardSpec *spec, long n, int nranks,
                        long shard_samples, int exact) {
    for (int rank = 0; rank < nranks; rank++) {
        int nr = shard_plan(n, spec->chunk, shard_samples, rank, nranks, NULL, 0);
        ShardRange *rg = calloc((size_t)nr + 1, sizeof *rg);
        shard_plan(n, spec->chunk, shard_samples, rank, nranks, rg, nr);
        for (int i = 0; i < nr; i++) {
            char path[1024];
            shard_path(path, sizeof path, dir, rank, rg[i].file);
            ShardWriter *w = shard_writer_open(path, spec, rg[i].first, rg[i].count, n, NULL);
            for (long r0 = 0; r0 < rg[i].count; r0 += 5) {
                int m = (int)(rg[i].count - r0 < 5 ? rg[i].count - r0 : 5);
                for (int slot = spec->nblocks; slot >= 0; slot--) {
                    size_t e = elems(spec, slot);
                    float *buf = malloc(sizeof(float) * e * (size_t)m);
                    for (int j = 0; j < m; j++)
                        for (size_t k = 0; k < e; k++)
                            buf[(size_t)j * e + k] = gen(slot, rg[i].first + r0 + j, k, exact);
                    shard_writer_put(w, slot, r0, m, buf);
                    free(buf);
                }
                int32_t lab[5];
                for (int j = 0; j < m; j++) lab[j] = label_of(rg[i].first + r0 + j);
                shard_writer_put_meta(w, r0, m, lab);
            }
            shard_writer_close(w);
        }
        free(rg);
    }
}

static char *make_dir(void) {
    char *d = strdup("/tmp/dna_shard_XXXXXX");
    if (!mkdtemp(d)) {
        t_fail(__FILE__, __LINE__, "mkdtemp failed");
        exit(1);
    }
    return d;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}
static void remove_dir(char *d) {
    nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static ShardReaderCfg cfg_of(int block, int batch, int shuffle, int window) {
    return (ShardReaderCfg){.block = block,
                            .batch = batch,
                            .part = 0,
                            .nparts = 1,
                            .shuffle = shuffle,
                            .window = window,
                            .seed = 1234};
}

// One epoch as the reader delivers it, flattened; bsz holds each batch's local size.
typedef struct Seq {
    long n;
    int nb;
    int64_t *ids;
    int32_t *lab;
    float *x, *y;
    int *bsz;
} Seq;

static Seq read_epoch(ShardReader *r, size_t ein, size_t eout, int epoch, int start) {
    Seq s = {0};
    long cap = shard_reader_samples(r);
    s.ids = malloc(sizeof(int64_t) * (size_t)cap);
    s.lab = malloc(sizeof(int32_t) * (size_t)cap);
    s.x = malloc(sizeof(float) * ein * (size_t)cap);
    s.y = malloc(sizeof(float) * (eout ? eout : 1) * (size_t)cap);
    s.bsz = malloc(sizeof(int) * (size_t)(shard_reader_batches(r) + 1));
    shard_reader_start_epoch(r, epoch, start);
    const float *x, *y;
    const int32_t *lab;
    const int64_t *ids;
    int m;
    while ((m = shard_reader_next(r, &x, &y, &lab, &ids)) > 0) {
        memcpy(s.ids + s.n, ids, sizeof(int64_t) * (size_t)m);
        memcpy(s.lab + s.n, lab, sizeof(int32_t) * (size_t)m);
        memcpy(s.x + (size_t)s.n * ein, x, sizeof(float) * ein * (size_t)m);
        if (eout) memcpy(s.y + (size_t)s.n * eout, y, sizeof(float) * eout * (size_t)m);
        s.bsz[s.nb++] = m;
        s.n += m;
    }
    return s;
}

static Seq read_dir(const char *dir, ShardReaderCfg cfg, int epoch, int start) {
    ShardSpec sp = test_spec(0, 1, 0);
    ShardReader *r = shard_reader_open(dir, &cfg, NULL, NULL);
    Seq s = read_epoch(r, elems(&sp, cfg.block > 0 ? cfg.block - 1 : 0),
                       cfg.block > 0 ? elems(&sp, cfg.block) : 0, epoch, start);
    shard_reader_free(r);
    return s;
}

static void seq_free(Seq *s) {
    free(s->ids);
    free(s->lab);
    free(s->x);
    free(s->y);
    free(s->bsz);
}

// Every delivered value equals gen() of its id, within rtol (0: bitwise exact).
static void check_values(const Seq *s, int block, int exact, double rtol) {
    ShardSpec sp = test_spec(0, 1, 0);
    int in = block > 0 ? block - 1 : 0;
    size_t ein = elems(&sp, in), eout = block > 0 ? elems(&sp, block) : 0;
    float *want = malloc(sizeof(float) * (ein > eout ? ein : eout));
    for (long i = 0; i < s->n; i++) {
        T_CHECK(s->lab[i] == label_of(s->ids[i]), "label of id %lld", (long long)s->ids[i]);
        for (size_t k = 0; k < ein; k++) want[k] = gen(in, s->ids[i], k, exact);
        T_NEAR_ARRAY(s->x + i * ein, want, ein, 0, rtol, "x");
        for (size_t k = 0; k < eout; k++) want[k] = gen(block, s->ids[i], k, exact);
        if (eout) T_NEAR_ARRAY(s->y + i * eout, want, eout, 0, rtol, "y");
    }
    free(want);
}

static void check_once(const Seq *s, long n, const char *what) {
    char *seen = calloc((size_t)n, 1);
    int bad = 0;
    for (long i = 0; i < s->n; i++) {
        if (s->ids[i] < 0 || s->ids[i] >= n || seen[s->ids[i]]++) bad++;
    }
    T_CHECK(bad == 0 && s->n == n, "%s: %ld samples delivered for %ld, %d out of range or repeated",
            what, s->n, n, bad);
    free(seen);
}

// ---- shard_plan -----------------------------------------------------------------------------

TEST(shard_plan_covers_split_once_chunk_aligned) {
    long cases[][4] = {{0, 8, 16, 2},    {1, 8, 16, 1},     {100, 8, 24, 1}, {100, 8, 24, 3},
                       {100, 8, 5, 2},   {100, 7, 1000, 4}, {64, 64, 64, 5}, {1000, 16, 100, 7},
                       {999, 10, 35, 3}, {5, 1, 2, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        long n = cases[c][0], ss = cases[c][2];
        int chunk = (int)cases[c][1], P = (int)cases[c][3];
        long per = ss / chunk > 0 ? ss / chunk * chunk : chunk, next = 0;
        for (int r = 0; r < P; r++) {
            int nr = shard_plan(n, chunk, ss, r, P, NULL, 0);
            ShardRange out[256];
            T_CHECK(nr <= 256, "case %zu: %d ranges", c, nr);
            int got = shard_plan(n, chunk, ss, r, P, out, 256);
            T_CHECK(got == nr, "case %zu rank %d: counted %d, wrote %d", c, r, nr, got);
            for (int i = 0; i < got; i++) {
                T_CHECK(out[i].first == next, "case %zu rank %d file %d starts at %ld, want %ld", c,
                        r, i, out[i].first, next);
                T_CHECK(out[i].first % chunk == 0, "case %zu: unaligned start %ld", c,
                        out[i].first);
                T_CHECK(out[i].count >= 1 && out[i].count <= per, "case %zu: count %ld (max %ld)",
                        c, out[i].count, per);
                T_CHECK(out[i].file == i, "case %zu: file %d numbered %d", c, i, out[i].file);
                next = out[i].first + out[i].count;
            }
        }
        T_CHECK(next == n, "case %zu: ranges end at %ld, split has %ld", c, next, n);
    }
}

// Ranks get contiguous, balanced chunk counts (differing by at most one).
TEST(shard_plan_balances_chunks_across_ranks) {
    int lo = 1 << 30, hi = 0;
    for (int r = 0; r < 7; r++) {
        ShardRange out[64];
        int nr = shard_plan(1000, 16, 1 << 20, r, 7, out, 64);
        T_CHECK(nr == 1, "rank %d: %d files", r, nr);
        int chunks = (int)((out[0].count + 15) / 16);
        lo = chunks < lo ? chunks : lo;
        hi = chunks > hi ? chunks : hi;
    }
    T_CHECK(hi - lo <= 1, "chunks per rank range %d..%d", lo, hi);
}

static void plan_too_many(void *arg) {
    (void)arg;
    ShardRange out[2];
    shard_plan(100, 8, 8, 0, 1, out, 2);
}
TEST(shard_plan_overflow_is_fatal) {
    T_EXPECT_DEATH(plan_too_many, NULL, "needs more than 2 files");
}

// ---- fp16 conversion ------------------------------------------------------------------------

TEST(half_known_values_rounding_subnormals_specials) {
    struct {
        float f;
        uint16_t h;
    } enc[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {65504.0f, 0x7bff},    // largest finite
        {65519.996f, 0x7bff},  // just below the overflow tie
        {65520.0f, 0x7c00},    // tie between 65504 and 65536: rounds to even = inf
        {1e6f, 0x7c00},        // overflow
        {-1e30f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {1.0f + 0x1p-11f, 0x3c00},             // tie, even is down
        {1.0f + 3 * 0x1p-11f, 0x3c02},         // tie, even is up
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01},  // above the tie
        {0x1p-14f, 0x0400},                    // smallest normal
        {0x1p-24f, 0x0001},                    // smallest subnormal
        {0x1p-25f, 0x0000},                    // tie between 0 and 2^-24: even is 0
        {0x1.8p-24f, 0x0002},                  // 1.5 ulp: tie, even is 2
        {0x1p-25f + 0x1p-35f, 0x0001},         // just above the tie
        {-0x1p-26f, 0x8000},                   // underflow keeps the sign
        {1023 * 0x1p-24f, 0x03ff},             // largest subnormal
        {1023.5f * 0x1p-24f, 0x0400},          // tie into the normal range: even is 1024
        {0.333333f, 0x3555},
    };
    for (size_t i = 0; i < sizeof enc / sizeof *enc; i++) {
        uint16_t got = half_from_float(enc[i].f), got_n;
        half_from_float_n(&enc[i].f, &got_n, 1);
        T_CHECK(got == enc[i].h, "half_from_float(%a) = 0x%04x, want 0x%04x", enc[i].f, got,
                enc[i].h);
        T_CHECK(got_n == enc[i].h, "half_from_float_n(%a) = 0x%04x, want 0x%04x", enc[i].f, got_n,
                enc[i].h);
    }
    uint16_t nan_h = half_from_float(NAN);
    T_CHECK((nan_h & 0x7c00) == 0x7c00 && (nan_h & 0x3ff), "nan encodes as 0x%04x", nan_h);
    T_CHECK(half_to_float(0x0001) == 0x1p-24f, "0x0001 decodes to %a", half_to_float(0x0001));
    T_CHECK(half_to_float(0x83ff) == -1023 * 0x1p-24f, "0x83ff decodes to %a",
            half_to_float(0x83ff));
    T_CHECK(half_to_float(0x7bff) == 65504.0f, "0x7bff decodes to %a", half_to_float(0x7bff));
    T_CHECK(isinf(half_to_float(0xfc00)) && half_to_float(0xfc00) < 0, "0xfc00 is -inf");
    T_CHECK(isnan(half_to_float(0x7e00)) && isnan(half_to_float(0xfd01)), "nan decodes to nan");
}

// Decoding every half and encoding it back is the identity (nan stays nan), for the scalar
// path and the bulk (F16C when built with it) path alike.
TEST(half_exhaustive_round_trip_and_bulk_matches_scalar) {
    uint16_t *h = malloc(sizeof(uint16_t) * 65536), *back = malloc(sizeof(uint16_t) * 65536);
    float *f = malloc(sizeof(float) * 65536);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    half_to_float_n(h, f, 65536);
    half_from_float_n(f, back, 65536);
    int bad = 0;
    for (int i = 0; i < 65536 && bad < 4; i++) {
        float s = half_to_float(h[i]);
        int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (nan) {
            if (!isnan(s) || !isnan(f[i]) || !isnan(half_to_float(back[i])))
                bad++, t_fail(__FILE__, __LINE__, "nan 0x%04x lost", i);
            continue;
        }
        if (memcmp(&s, &f[i], 4) || back[i] != h[i] || half_from_float(s) != h[i])
            bad++, t_fail(__FILE__, __LINE__, "0x%04x: scalar %a bulk %a back 0x%04x", i, s, f[i],
                          back[i]);
    }
    // Encoding random float bit patterns: bulk and scalar agree bit for bit (nan: both nan).
    Rng r = rng_new(7);
    for (int i = 0; i < 65536; i++) {
        uint32_t u = rng_u32(&r);
        if (i & 1) u = (u & 0x87ffffffu) | 0x30000000u;  // half the draws near the half range
        memcpy(&f[i], &u, 4);
    }
    half_from_float_n(f, back, 65536);
    for (int i = 0; i < 65536 && bad < 8; i++) {
        uint16_t s = half_from_float(f[i]);
        int nan = isnan(f[i]);
        if (nan ? !isnan(half_to_float(back[i])) || !isnan(half_to_float(s)) : s != back[i])
            bad++, t_fail(__FILE__, __LINE__, "%a: scalar 0x%04x bulk 0x%04x", f[i], s, back[i]);
    }
    free(h);
    free(back);
    free(f);
}

TEST(half_error_bound_in_normal_range) {
    Rng r = rng_new(11);
    double worst = 0;
    for (int i = 0; i < 100000; i++) {
        float x = (rng_uniform(&r) * 2 - 1) * ldexpf(1.0f, (int)rng_below(&r, 30) - 14);
        if (fabsf(x) < 0x1p-14f) continue;
        double e = fabs((double)half_to_float(half_from_float(x)) - x) / fabs(x);
        worst = e > worst ? e : worst;
    }
    T_CHECK(worst <= 0x1p-11 && worst > 0x1p-13, "worst relative error %g (bound 2^-11 = %g)",
            worst, 0x1p-11);
}

// ---- round trips ----------------------------------------------------------------------------

TEST(shard_round_trip_fp32_exact_every_block) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 8, 0);
    write_split(d, &sp, 50, 1, 24, 0);  // files of 24, 24, 2
    for (int block = 0; block <= 2; block++) {
        Seq s = read_dir(d, cfg_of(block, 7, 1, 2), 0, 0);
        check_once(&s, 50, "fp32");
        check_values(&s, block, 0, 0);
        T_CHECK(s.nb == 8 && s.bsz[7] == 1, "block %d: %d batches, last %d", block, s.nb,
                s.bsz[s.nb - 1]);
        seq_free(&s);
    }
    remove_dir(d);
}

TEST(shard_round_trip_fp16_within_bound_and_exact_when_representable) {
    char *d = make_dir(), *e = make_dir();
    ShardSpec sp = test_spec(1, 8, 0);
    write_split(d, &sp, 50, 2, 16, 0);
    write_split(e, &sp, 50, 2, 16, 1);
    Seq s = read_dir(d, cfg_of(2, 10, 1, 3), 0, 0);
    check_once(&s, 50, "fp16");
    check_values(&s, 2, 0, 0x1p-11);
    seq_free(&s);
    s = read_dir(e, cfg_of(1, 10, 1, 3), 0, 0);
    check_values(&s, 1, 1, 0);
    seq_free(&s);
    remove_dir(d);
    remove_dir(e);
}

// HDF5's own conversion of our float16 type gives our values: the stored type really is IEEE
// binary16 (what h5py reads as numpy float16), 2 bytes per element on disk.
TEST(shard_fp16_file_type_is_ieee_half) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 8, 0);
    write_split(d, &sp, 20, 1, 100, 0);
    char path[1024];
    shard_path(path, sizeof path, d, 0, 0);
    hid_t f = h5_open_read(path);
    hid_t ds = H5Dopen2(f, "/block1", H5P_DEFAULT), t = H5Dget_type(ds);
    T_CHECK(H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 2, "block1 type: class %d size %zu",
            (int)H5Tget_class(t), H5Tget_size(t));
    float got[20 * 20];
    H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
    float want[20 * 20];
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < 20; k++)
            want[i * 20 + k] = half_to_float(half_from_float(gen(1, i, k, 0)));
    T_NEAR_ARRAY(got, want, 400, 0, 0, "HDF5-converted float16");
    char *dt = h5_read_attr_str(f, "dtype", path);
    T_CHECK(!strcmp(dt, "float16"), "dtype attr '%s'", dt);
    T_CHECK(h5_read_attr_i64(f, "split_total", path) == 20 &&
                h5_read_attr_i64(f, "chunk", path) == 8 &&
                h5_read_attr_i64(f, "nblocks", path) == 2 && h5_has_attr(f, "git_rev"),
            "root attributes");
    free(dt);
    H5Tclose(t);
    H5Dclose(ds);
    h5_close(f);
    remove_dir(d);
}

TEST(shard_deflate_gives_identical_values_and_smaller_files) {
    char *a = make_dir(), *b = make_dir();
    ShardSpec plain = test_spec(1, 8, 0), packed = test_spec(1, 8, 6);
    write_split(a, &plain, 40, 1, 100, 1);
    write_split(b, &packed, 40, 1, 100, 1);
    Seq s = read_dir(a, cfg_of(2, 8, 0, 1), 0, 0), t = read_dir(b, cfg_of(2, 8, 0, 1), 0, 0);
    T_CHECK(s.n == 40 && t.n == 40, "samples %ld and %ld", s.n, t.n);
    T_CHECK(!memcmp(s.x, t.x, sizeof(float) * 20 * 40) && !memcmp(s.y, t.y, sizeof(float) * 6 * 40),
            "deflated shards read back different values");
    char pa[1024], pb[1024];
    shard_path(pa, sizeof pa, a, 0, 0);
    shard_path(pb, sizeof pb, b, 0, 0);
    struct stat sa, sb;
    stat(pa, &sa);
    stat(pb, &sb);
    T_CHECK(sb.st_size < sa.st_size, "deflated %ld bytes, plain %ld", (long)sb.st_size,
            (long)sa.st_size);
    seq_free(&s);
    seq_free(&t);
    remove_dir(a);
    remove_dir(b);
}

// ---- order ----------------------------------------------------------------------------------

// The same split written by 1, 2 and 3 ranks with different file sizes reads back in the same
// global order, epoch by epoch; the order is shuffled and changes with the epoch.
TEST(shard_order_independent_of_writer_ranks_and_files) {
    char *d1 = make_dir(), *d2 = make_dir(), *d3 = make_dir();
    ShardSpec sp = test_spec(1, 6, 0);
    write_split(d1, &sp, 100, 1, 1000, 0);
    write_split(d2, &sp, 100, 2, 12, 0);
    write_split(d3, &sp, 100, 3, 30, 0);
    for (int epoch = 0; epoch < 2; epoch++) {
        Seq a = read_dir(d1, cfg_of(2, 16, 1, 3), epoch, 0);
        Seq b = read_dir(d2, cfg_of(2, 16, 1, 3), epoch, 0);
        Seq c = read_dir(d3, cfg_of(2, 16, 1, 3), epoch, 0);
        check_once(&a, 100, "1 rank");
        T_CHECK(a.n == b.n && a.n == c.n, "lengths %ld %ld %ld", a.n, b.n, c.n);
        T_CHECK(!memcmp(a.ids, b.ids, sizeof(int64_t) * (size_t)a.n),
                "1 vs 2 ranks: order differs");
        T_CHECK(!memcmp(a.ids, c.ids, sizeof(int64_t) * (size_t)a.n),
                "1 vs 3 ranks: order differs");
        T_CHECK(!memcmp(a.x, c.x, sizeof(float) * 20 * (size_t)a.n), "1 vs 3 ranks: values differ");
        int ascending = 1;
        for (long i = 1; i < a.n; i++) ascending &= a.ids[i] > a.ids[i - 1];
        T_CHECK(!ascending, "epoch %d: shuffle delivered ascending ids", epoch);
        static int64_t first_epoch[100];
        if (epoch == 0)
            memcpy(first_epoch, a.ids, sizeof first_epoch);
        else
            T_CHECK(memcmp(first_epoch, a.ids, sizeof first_epoch), "epochs 0 and 1 same order");
        seq_free(&a);
        seq_free(&b);
        seq_free(&c);
    }
    remove_dir(d1);
    remove_dir(d2);
    remove_dir(d3);
}

// With window = 1 a chunk's samples stay together: positions [k*chunk, (k+1)*chunk) of the
// epoch hold exactly one chunk, so the window bounds how far samples mix.
TEST(shard_window_one_keeps_chunks_together) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 8, 0);
    write_split(d, &sp, 64, 1, 1000, 0);
    Seq s = read_dir(d, cfg_of(1, 8, 1, 1), 3, 0);
    for (long i = 0; i < s.n; i++)
        T_CHECK(s.ids[i] / 8 == s.ids[i - i % 8] / 8, "position %ld: id %lld not in chunk of %lld",
                i, (long long)s.ids[i], (long long)s.ids[i - i % 8]);
    seq_free(&s);
    remove_dir(d);
}

// Parts 0..P-1 of every global batch, concatenated, are the 1-part batch.
TEST(shard_parts_concatenate_to_global_batch) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 8, 0);
    write_split(d, &sp, 50, 2, 16, 0);
    ShardReaderCfg c = cfg_of(2, 9, 1, 2);  // 50 = 5 * 9 + 5: the last batch is partial
    Seq whole = read_dir(d, c, 1, 0);
    for (int P = 2; P <= 3; P++) {
        Seq part[3];
        for (int p = 0; p < P; p++) {
            c.part = p, c.nparts = P;
            part[p] = read_dir(d, c, 1, 0);
            T_CHECK(part[p].nb == whole.nb, "P=%d part %d: %d batches, want %d", P, p, part[p].nb,
                    whole.nb);
        }
        long at = 0, off[3] = {0};
        for (int b = 0; b < whole.nb; b++) {
            for (int p = 0; p < P; p++) {
                int m = part[p].bsz[b];
                T_CHECK(!memcmp(part[p].ids + off[p], whole.ids + at, sizeof(int64_t) * (size_t)m),
                        "P=%d batch %d part %d: ids differ", P, b, p);
                T_CHECK(!memcmp(part[p].y + off[p] * 6, whole.y + at * 6,
                                sizeof(float) * 6 * (size_t)m),
                        "P=%d batch %d part %d: targets differ", P, b, p);
                off[p] += m, at += m;
            }
        }
        T_CHECK(at == whole.n, "P=%d: parts hold %ld samples, want %ld", P, at, whole.n);
        for (int p = 0; p < P; p++) seq_free(&part[p]);
        c.part = 0, c.nparts = 1;
    }
    seq_free(&whole);
    remove_dir(d);
}

TEST(shard_every_sample_once_per_epoch_and_drop_last) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 5, 0);
    write_split(d, &sp, 47, 3, 10, 0);
    for (int epoch = 0; epoch < 3; epoch++) {
        Seq s = read_dir(d, cfg_of(2, 6, 1, 4), epoch, 0);
        check_once(&s, 47, "drop_last 0");
        check_values(&s, 2, 0, 0x1p-11);
        seq_free(&s);
    }
    ShardReaderCfg c = cfg_of(2, 6, 1, 4);
    c.drop_last = 1;
    Seq s = read_dir(d, c, 0, 0);
    T_CHECK(s.nb == 7 && s.n == 42, "drop_last: %d batches, %ld samples", s.nb, s.n);
    char seen[47] = {0};
    for (long i = 0; i < s.n; i++) T_CHECK(!seen[s.ids[i]]++, "id %lld twice", (long long)s.ids[i]);
    seq_free(&s);
    remove_dir(d);
}

static void open_fraction_too_big(void *dir) {
    ShardReaderCfg c = cfg_of(2, 6, 1, 4);
    c.fraction = 1.5;
    shard_reader_free(shard_reader_open(dir, &c, NULL, NULL));
}

// A fraction serves exactly the first round(f * N) ids, each once per epoch, with values
// intact; the split total stays what is on disk (the trainer's nominal epoch length).
TEST(shard_fraction_serves_the_first_ids_once) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 5, 0);
    write_split(d, &sp, 47, 2, 10, 0);
    double fr[] = {0.4, 0.8, 1.0};
    long want[] = {19, 38, 47};
    for (int i = 0; i < 3; i++) {
        ShardReaderCfg c = cfg_of(2, 6, 1, 4);
        c.fraction = fr[i];
        ShardReader *r = shard_reader_open(d, &c, NULL, NULL);
        T_CHECK(shard_reader_samples(r) == want[i] && shard_reader_split_total(r) == 47,
                "fraction %g: %ld samples of %ld", fr[i], shard_reader_samples(r),
                shard_reader_split_total(r));
        shard_reader_free(r);
        for (int epoch = 0; epoch < 2; epoch++) {
            Seq s = read_dir(d, c, epoch, 0);
            check_once(&s, want[i], "fraction");
            check_values(&s, 2, 0, 0x1p-11);
            seq_free(&s);
        }
    }
    T_EXPECT_DEATH(open_fraction_too_big, d, "data fraction 1.5");
    remove_dir(d);
}

TEST(shard_sequential_gives_ascending_ids) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 4, 0);
    write_split(d, &sp, 30, 2, 8, 0);
    Seq s = read_dir(d, cfg_of(1, 7, 0, 0), 5, 0);
    T_CHECK(s.n == 30, "%ld samples", s.n);
    for (long i = 0; i < s.n; i++)
        T_CHECK(s.ids[i] == i, "position %ld holds id %lld", i, (long long)s.ids[i]);
    check_values(&s, 1, 0, 0);
    seq_free(&s);
    remove_dir(d);
}

// Resuming at batch k gives batches k.. of the uninterrupted epoch, also on a reader that
// stopped mid-epoch (the prefetch thread is stopped and restarted).
TEST(shard_resume_from_batch_equals_uninterrupted) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 60, 1, 20, 0);
    ShardReaderCfg c = cfg_of(2, 7, 1, 3);
    Seq full = read_dir(d, c, 2, 0);
    ShardReader *r = shard_reader_open(d, &c, NULL, NULL);
    shard_reader_start_epoch(r, 2, 0);
    const float *x, *y;
    shard_reader_next(r, &x, &y, NULL, NULL);  // abandon the epoch after one batch
    for (int k = 1; k <= shard_reader_batches(r); k++) {
        Seq s = read_epoch(r, 20, 6, 2, k);
        long skip = 0;
        for (int b = 0; b < k; b++) skip += full.bsz[b];
        T_CHECK(s.n == full.n - skip, "resume at %d: %ld samples, want %ld", k, s.n, full.n - skip);
        if (s.n == full.n - skip) {
            T_CHECK(!memcmp(s.ids, full.ids + skip, sizeof(int64_t) * (size_t)s.n),
                    "resume at %d: ids differ", k);
            T_CHECK(!memcmp(s.y, full.y + skip * 6, sizeof(float) * 6 * (size_t)s.n),
                    "resume at %d: targets differ", k);
        }
        seq_free(&s);
    }
    shard_reader_free(r);
    seq_free(&full);
    remove_dir(d);
}

// The reader holds a few chunks, not the split: a batch spans at most two windows here.
TEST(shard_reader_memory_stays_bounded) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 6, 0);
    write_split(d, &sp, 300, 1, 1000, 0);
    size_t chunk_bytes = 6 * (20 * 2 + 6 * 2 + 4 + 8);  // block 2: input /block1, target /block2
    ShardReaderCfg c = cfg_of(2, 16, 1, 3);
    ShardReader *r = shard_reader_open(d, &c, NULL, NULL);
    for (int epoch = 0; epoch < 2; epoch++) {
        Seq s = read_epoch(r, 20, 6, epoch, 0);
        seq_free(&s);
    }
    size_t peak = shard_reader_peak_bytes(r);
    T_CHECK(peak >= 3 * chunk_bytes && peak <= 6 * chunk_bytes,
            "shuffled: peak %zu bytes, expected 3..6 chunks of %zu (split: 50 chunks)", peak,
            chunk_bytes);
    shard_reader_free(r);
    c = cfg_of(2, 7, 0, 0);
    r = shard_reader_open(d, &c, NULL, NULL);
    Seq s = read_epoch(r, 20, 6, 0, 0);
    seq_free(&s);
    peak = shard_reader_peak_bytes(r);
    T_CHECK(peak >= 2 * chunk_bytes && peak <= 3 * chunk_bytes,
            "sequential: peak %zu bytes, expected 2..3 chunks of %zu", peak, chunk_bytes);
    shard_reader_free(r);
    remove_dir(d);
}

TEST(shard_expected_shapes_accepted) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 4, 0);
    write_split(d, &sp, 12, 1, 100, 0);
    ShardReaderCfg c = cfg_of(2, 4, 0, 0);
    int ein[3] = {5, 2, 2}, eout[3] = {6, 1, 1};
    ShardReader *r = shard_reader_open(d, &c, ein, eout);
    T_CHECK(shard_reader_samples(r) == 12 && shard_reader_batches(r) == 3, "samples %ld batches %d",
            shard_reader_samples(r), shard_reader_batches(r));
    shard_reader_free(r);
    remove_dir(d);
}

// ---- bad input ------------------------------------------------------------------------------

typedef struct Bad {
    char dir[256];
    ShardReaderCfg cfg;
    const int *expect_out;
} Bad;

static void open_bad(void *arg) {
    Bad *b = arg;
    ShardReader *r = shard_reader_open(b->dir, &b->cfg, NULL, b->expect_out);
    shard_reader_start_epoch(r, 0, 0);
    while (shard_reader_next(r, NULL, NULL, NULL, NULL) > 0) {
    }
    shard_reader_free(r);
}

static Bad bad_of(const char *dir) {
    Bad b = {.cfg = cfg_of(2, 4, 1, 2)};
    snprintf(b.dir, sizeof b.dir, "%s", dir);
    return b;
}

TEST(shard_bad_missing_or_empty_dir) {
    char *d = make_dir();
    Bad b = bad_of(d);
    T_EXPECT_DEATH(open_bad, &b, "holds no shard_*.h5 files");
    snprintf(b.dir, sizeof b.dir, "%s/nope", d);
    T_EXPECT_DEATH(open_bad, &b, "cannot open feature directory");
    remove_dir(d);
}

TEST(shard_bad_truncated_file) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 1, 100, 0);
    char path[1024];
    shard_path(path, sizeof path, d, 0, 0);
    struct stat st;
    stat(path, &st);
    T_CHECK(truncate(path, st.st_size / 2) == 0, "truncate");
    Bad b = bad_of(d);
    T_EXPECT_DEATH(open_bad, &b, path);
    T_CHECK(truncate(path, 4) == 0, "truncate");
    T_EXPECT_DEATH(open_bad, &b, "not a valid HDF5 file");
    remove_dir(d);
}

TEST(shard_bad_missing_shard_is_a_gap) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 1, 24, 0);  // [0,24) and [24,40)
    char p0[1024], p1[1024];
    shard_path(p0, sizeof p0, d, 0, 0);
    shard_path(p1, sizeof p1, d, 0, 1);
    Bad b = bad_of(d);
    rename(p1, "/tmp/dna_shard_moved.h5");
    T_EXPECT_DEATH(open_bad, &b, "samples [24, 40) are in no shard");
    rename("/tmp/dna_shard_moved.h5", p1);
    unlink(p0);
    T_EXPECT_DEATH(open_bad, &b, "samples [0, 24) are in no shard");
    T_EXPECT_DEATH(open_bad, &b, d);
    remove_dir(d);
}

TEST(shard_bad_overlapping_shards) {
    char *d = make_dir(), *e = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 1, 24, 0);
    write_split(e, &sp, 40, 2, 100, 0);  // shard_1_0 holds [20, 40), overlapping shard_0_1
    char from[1024], to[1024];
    shard_path(from, sizeof from, e, 1, 0);
    shard_path(to, sizeof to, d, 1, 0);
    rename(from, to);
    Bad b = bad_of(d);
    T_EXPECT_DEATH(open_bad, &b, "samples [20, 24) are in both");
    remove_dir(d);
    remove_dir(e);
}

TEST(shard_bad_shape_vs_expectation_and_between_files) {
    char *d = make_dir(), *e = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 1, 24, 0);
    Bad b = bad_of(d);
    int want[3] = {6, 2, 1};
    b.expect_out = want;
    T_EXPECT_DEATH(open_bad, &b, "dataset '/block2' has sample shape [6,1,1], expected [6,2,1]");
    ShardSpec other = sp;
    other.dims[2][1] = 2;
    write_split(e, &other, 40, 1, 24, 0);
    char from[1024], to[1024];
    shard_path(from, sizeof from, e, 0, 1);
    shard_path(to, sizeof to, d, 0, 1);
    rename(from, to);
    b.expect_out = NULL;
    T_EXPECT_DEATH(open_bad, &b, "has sample shape [6,2,1], but");
    remove_dir(d);
    remove_dir(e);
}

// Replaces dataset name of a written shard by one of the same shape stored as type.
static void retype(const char *path, const char *name, hid_t type, const long dims[4]) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, name, H5P_DEFAULT);
    float *v = calloc((size_t)(dims[0] * dims[1] * dims[2] * dims[3]), sizeof(float));
    h5_write(f, name, type, v, 4, dims, path);
    free(v);
    H5Fclose(f);
}

TEST(shard_bad_dtype_and_missing_dataset) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 1, 100, 0);
    char path[1024];
    shard_path(path, sizeof path, d, 0, 0);
    long dims1[4] = {40, 5, 2, 2}, dims2[4] = {40, 6, 1, 1};
    retype(path, "/block2", H5T_NATIVE_INT, dims2);
    // bfloat16: 2 bytes like float16, but 8 exponent bits; must not be read as float16.
    hid_t bf16 = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(bf16, 15, 7, 8, 0, 7);
    H5Tset_size(bf16, 2);
    H5Tset_ebias(bf16, 127);
    retype(path, "/block1", bf16, dims1);
    H5Tclose(bf16);
    Bad b = bad_of(d);
    T_EXPECT_DEATH(open_bad, &b, "dataset '/block1' has dtype float of 2 bytes, expected float16");
    retype(path, "/block1", H5T_NATIVE_FLOAT, dims1);
    T_EXPECT_DEATH(open_bad, &b,
                   "dataset '/block2' has dtype integer of 4 bytes, expected float16");
    b.cfg.block = 3;
    T_EXPECT_DEATH(open_bad, &b, "holds blocks 1..2, block 3 was asked for");
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/labels", H5P_DEFAULT);
    H5Fclose(f);
    b.cfg.block = 1;
    T_EXPECT_DEATH(open_bad, &b, "has no dataset '/labels'");
    remove_dir(d);
}

static void write_incomplete(void *arg) {
    ShardSpec sp = test_spec(1, 4, 0);
    char path[1024];
    shard_path(path, sizeof path, arg, 0, 0);
    ShardWriter *w = shard_writer_open(path, &sp, 0, 10, 10, NULL);
    float buf[10 * 48] = {0};
    int32_t lab[10] = {0};
    for (int s = 0; s <= 2; s++) shard_writer_put(w, s, 0, 10, buf);
    shard_writer_put(w, 1, 0, 3, buf);
    shard_writer_put_meta(w, 0, 4, lab);
    shard_writer_put_meta(w, 7, 3, lab);
    shard_writer_close(w);
}

TEST(shard_writer_rejects_unwritten_rows) {
    char *d = make_dir();
    T_EXPECT_DEATH(write_incomplete, d, "rows [4, 7) of '/labels' were never written");
    char path[1024];
    shard_path(path, sizeof path, d, 0, 0);
    T_CHECK(access(path, F_OK) != 0, "an incomplete shard was renamed into place");
    remove_dir(d);
}

static void bad_parts(void *arg) {
    char *d = arg;
    ShardReaderCfg c = cfg_of(1, 8, 1, 2);
    c.nparts = 3;  // 26 = 3 * 8 + 2: one part of the last batch would be empty
    ShardReader *r = shard_reader_open(d, &c, NULL, NULL);
    shard_reader_free(r);
}

TEST(shard_bad_last_batch_smaller_than_parts) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 4, 0);
    write_split(d, &sp, 26, 1, 100, 0);
    T_EXPECT_DEATH(bad_parts, d, "cannot give each of 3 parts a sample");
    remove_dir(d);
}

// ---- threads (issue 17) ---------------------------------------------------------------------

// A middle /index row that does not hold its sample's id: caught when the reader opens, on the
// caller's thread, not by a fill on the prefetch thread (prefetch_fill_error_* test that path).
static void read_all(void *dir) {
    ShardReaderCfg c = cfg_of(1, 4, 0, 1);
    ShardReader *r = shard_reader_open(dir, &c, NULL, NULL);
    shard_reader_start_epoch(r, 0, 0);
    while (shard_reader_next(r, NULL, NULL, NULL, NULL) > 0) {
    }
    shard_reader_free(r);
}

TEST(shard_bad_index_is_an_error_at_open) {
    char *d = make_dir();
    ShardSpec sp = test_spec(0, 4, 0);
    write_split(d, &sp, 24, 1, 100, 1);
    char path[1024];
    shard_path(path, sizeof path, d, 0, 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), ds = H5Dopen2(f, "/index", H5P_DEFAULT);
    int64_t ids[24];
    H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
    ids[13] = 99;
    H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
    H5Dclose(ds);
    H5Fclose(f);
    T_EXPECT_DEATH(read_all, d, "/index row 13 holds 99, expected 13");
    remove_dir(d);
}

// DNA_H5_SERIALIZE=1 forces the locked path (io/h5lock.h). The choice is made once per
// process, so the case runs in a fresh copy of this binary with the variable set: it reads an
// epoch while the main thread writes HDF5 files between batches, and must deliver the same
// samples in the same order as the unlocked path here.
static uint64_t seq_digest(const Seq *s, size_t ein) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p[2] = {(const unsigned char *)s->ids, (const unsigned char *)s->x};
    size_t n[2] = {sizeof(int64_t) * (size_t)s->n, sizeof(float) * ein * (size_t)s->n};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n[k]; i++) h = (h ^ p[k][i]) * 1099511628211ull;
    return h;
}

static Seq serial_epoch(const char *dir, int write_between) {
    ShardReaderCfg c = cfg_of(1, 5, 1, 2);
    ShardReader *r = shard_reader_open(dir, &c, NULL, NULL);
    Seq s = {0};
    long cap = shard_reader_samples(r);
    s.ids = malloc(sizeof(int64_t) * (size_t)cap);
    s.x = malloc(sizeof(float) * 48 * (size_t)cap);
    shard_reader_start_epoch(r, 3, 0);
    const float *x;
    const int64_t *ids;
    for (int m, b = 0; (m = shard_reader_next(r, &x, NULL, NULL, &ids)) > 0; b++) {
        memcpy(s.ids + s.n, ids, sizeof(int64_t) * (size_t)m);
        memcpy(s.x + (size_t)s.n * 48, x, sizeof(float) * 48 * (size_t)m);
        s.n += m;
        if (!write_between) continue;
        char out[1100], tmp[1024];  // main-thread HDF5 while the helper fills the next batch
        snprintf(out, sizeof out, "%s/side_%d.h5", dir, b);
        hid_t f = h5_create_tmp(out, tmp);
        long n = m;
        h5_write(f, "ids", H5T_NATIVE_INT64, ids, 1, &n, tmp);
        h5_commit(f, tmp, out);
    }
    shard_reader_free(r);
    return s;
}

TEST(shard_h5_serialized_child) {  // runs only in the child the next case starts
    const char *dir = getenv("DNA_TEST_SHARD_DIR"), *want = getenv("DNA_TEST_DIGEST");
    if (!dir || !want) return;
    T_CHECK(h5_serialized(), "DNA_H5_SERIALIZE=1 did not select the locked path");
    Seq s = serial_epoch(dir, 1);
    char got[32];
    snprintf(got, sizeof got, "%016llx", (unsigned long long)seq_digest(&s, 48));
    T_CHECK(!strcmp(got, want), "serialised epoch digest %s, unlocked %s", got, want);
    check_once(&s, 40, "serialised");
    seq_free(&s);
}

TEST(shard_h5_serialized_reads_equal) {
    char *d = make_dir();
    ShardSpec sp = test_spec(1, 4, 0);
    write_split(d, &sp, 40, 2, 12, 1);
    Seq s = serial_epoch(d, 0);
    char digest[32];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)seq_digest(&s, 48));
    seq_free(&s);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("DNA_H5_SERIALIZE", "1", 1);
        setenv("DNA_TEST_SHARD_DIR", d, 1);
        setenv("DNA_TEST_DIGEST", digest, 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);  // the child's own "ok" lines
        execl("/proc/self/exe", "test_unit", "shard_h5_serialized_child", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "the serialised read (DNA_H5_SERIALIZE=1) failed or differed (status %d)", st);
    remove_dir(d);
}

// ---- float16 range (issue 17) ---------------------------------------------------------------

typedef struct Put {
    int fp16, slot;
    float value;
    char dir[64];
} Put;

// Writes 8 rows of slot p->slot with one element set to p->value (row 3), closes the file.
static void put_value(void *arg) {
    const Put *p = arg;
    ShardSpec sp = test_spec(p->fp16, 4, 0);
    char path[1024];
    shard_path(path, sizeof path, p->dir, 0, 0);
    ShardWriter *w = shard_writer_open(path, &sp, 8, 8, 16, NULL);
    for (int slot = 0; slot <= sp.nblocks; slot++) {
        size_t e = elems(&sp, slot);
        float *buf = calloc(e * 8, sizeof(float));
        if (slot == p->slot) buf[3 * e + 1] = p->value;
        shard_writer_put(w, slot, 0, 8, buf);
        free(buf);
    }
    int32_t lab[8] = {0};
    shard_writer_put_meta(w, 0, 8, lab);
    shard_writer_close(w);
}

TEST(shard_fp16_overflow_is_an_error) {
    char *d = make_dir();
    Put p = {.fp16 = 1, .slot = 2, .value = -70000.0f};
    snprintf(p.dir, sizeof p.dir, "%s", d);
    T_EXPECT_DEATH(put_value, &p,
                   "/block2 (a block's output) holds 70000 (sample 11), beyond float16's range");
    T_EXPECT_DEATH(put_value, &p, "fix: set features.dtype = float32");
    p.slot = 0, p.value = 65520.0f;  // the first value that would round to inf
    T_EXPECT_DEATH(put_value, &p, "/x (the input) holds 65520 (sample 11)");
    p.value = 65519.0f;  // rounds to 65504: fine
    put_value(&p);
    p.value = NAN;
    T_EXPECT_DEATH(put_value, &p, "/x of sample 11 holds nan");
    p.fp16 = 0;
    T_EXPECT_DEATH(put_value, &p, "/x of sample 11 holds nan");
    p.value = 1e30f;  // float32 holds it
    put_value(&p);
    remove_dir(d);
}
