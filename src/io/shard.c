// Feature shard files (doc/formats.md): the writer (chunked fp16/fp32 datasets, temp name +
// rename), the plan that splits a split among writer ranks, and the reader: coverage and shape
// checks at open, a per-epoch order that depends on the seed and the split alone, and the fill of a
// prefetcher (io/prefetch.h) that reads whole chunks and assembles the next batch on its helper
// thread while the caller computes.
#include "io/shard.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/h5lock.h"
#include "io/half.h"
#include "io/prefetch.h"

const char *const SHARD_SPLITS[SHARD_NSPLITS] = {"train", "search", "test"};

static const char *const REGEN =
    "delete the feature directory and rerun feature extraction (the shards are incomplete, "
    "corrupt or from another run)";

static long lmin(long a, long b) {
    return a < b ? a : b;
}

int shard_plan(long n, int chunk, long shard_samples, int rank, int nranks, ShardRange *out,
               int max) {
    DNA_CHECK(
        n >= 0 && chunk >= 1 && shard_samples >= 1 && nranks >= 1 && rank >= 0 && rank < nranks,
        "pass n >= 0, chunk >= 1, shard_samples >= 1, 0 <= rank < nranks",
        "shard_plan: invalid n=%ld chunk=%d shard_samples=%ld rank=%d nranks=%d", n, chunk,
        shard_samples, rank, nranks);
    long nch = (n + chunk - 1) / chunk;
    long c0 = nch * rank / nranks, c1 = nch * (rank + 1) / nranks;
    long per = shard_samples / chunk > 0 ? shard_samples / chunk : 1;
    int k = 0;
    for (long c = c0; c < c1; c += per, k++) {
        if (!out) continue;
        DNA_CHECK(k < max, "raise shard_samples (fewer, larger files) or the range capacity",
                  "shard_plan: rank %d needs more than %d files for %ld samples", rank, max, n);
        long lo = c * chunk, hi = lmin(lmin(c + per, c1) * chunk, n);
        out[k] = (ShardRange){lo, hi - lo, k};
    }
    return k;
}

void shard_path(char *buf, size_t cap, const char *dir, int rank, int file) {
    int len = snprintf(buf, cap, "%s/shard_%d_%d.h5", dir, rank, file);
    DNA_CHECK(len >= 0 && (size_t)len < cap, "use a shorter output directory",
              "shard path under '%s' is longer than %zu bytes", dir, cap);
}

// IEEE binary16 as h5py writes it, so numpy reads these files as float16.
static hid_t half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5_CHECK(t, "float16 type");
    H5_CHECK(H5Tset_fields(t, 15, 10, 5, 0, 10), "float16 type");
    H5_CHECK(H5Tset_size(t, 2), "float16 type");
    H5_CHECK(H5Tset_ebias(t, 15), "float16 type");
    return t;
}

static void feat_name(char *buf, size_t cap, int slot) {
    if (slot == 0)
        snprintf(buf, cap, "/x");
    else
        snprintf(buf, cap, "/block%d", slot);
}

// Rows [row, row + rows) of a dataset [n, ...] as a file selection, and a memory space of the
// same shape: with a flat memory space HDF5 1.10 maps chunks element by element (~10x slower).
static void select_rows(hid_t d, long row, long rows, hid_t *fs, hid_t *ms, const char *path) {
    *fs = H5Dget_space(d);
    H5_CHECK(*fs, path);
    hsize_t dims[4], start[4] = {(hsize_t)row, 0, 0, 0};
    int nd = H5Sget_simple_extent_dims(*fs, dims, NULL);
    H5_CHECK(nd, path);
    dims[0] = (hsize_t)rows;
    H5_CHECK(H5Sselect_hyperslab(*fs, H5S_SELECT_SET, start, NULL, dims, NULL), path);
    *ms = H5Screate_simple(nd, dims, NULL);
    H5_CHECK(*ms, path);
}

// ---------------------------------------------------------------------------------------------
// Writer

struct ShardWriter {
    char path[1024], tmp[1024];
    ShardSpec spec;
    long first, count;
    hid_t f, half;
    hid_t ds[SHARD_MAX_BLOCKS + 3];  // features 0..K, then /labels (K+1), /index (K+2)
    unsigned char *done;             // [K+3][count]: rows written, checked at close
    uint16_t *scratch;
    size_t scratch_cap;
};

static size_t slot_elems(const ShardSpec *s, int slot) {
    return (size_t)s->dims[slot][0] * (size_t)s->dims[slot][1] * (size_t)s->dims[slot][2];
}

static hid_t writer_dataset(ShardWriter *w, const char *name, hid_t type, int ndim,
                            const int *chw) {
    hsize_t dims[4] = {(hsize_t)w->count, 1, 1, 1}, cdims[4];
    size_t row_bytes = H5Tget_size(type);
    for (int i = 1; i < ndim; i++) dims[i] = (hsize_t)chw[i - 1], row_bytes *= dims[i];
    memcpy(cdims, dims, sizeof dims);
    cdims[0] = (hsize_t)lmin(w->spec.chunk, w->count);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5_WCHECK(H5Pset_chunk(dcpl, ndim, cdims), w->tmp);
    // Every row gets written (checked at close), so HDF5 need not pre-fill chunks.
    H5_WCHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), w->tmp);
    if (w->spec.deflate) {
        H5_WCHECK(H5Pset_shuffle(dcpl), w->tmp);  // bytes of equal significance together
        H5_WCHECK(H5Pset_deflate(dcpl, (unsigned)w->spec.deflate), w->tmp);
    }
    // Puts rarely align with chunks: a cache of two chunks keeps a partly written chunk in
    // memory instead of compressing it once per put.
    size_t cache = 2 * row_bytes * cdims[0];
    H5_WCHECK(H5Pset_chunk_cache(dapl, 521, cache > (1u << 20) ? cache : (1u << 20), 1.0), w->tmp);
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    H5_WCHECK(s, w->tmp);
    hid_t d = H5Dcreate2(w->f, name, type, s, H5P_DEFAULT, dcpl, dapl);
    H5_WCHECK(d, w->tmp);
    H5_WCHECK(H5Sclose(s), w->tmp);
    H5_WCHECK(H5Pclose(dapl), w->tmp);
    H5_WCHECK(H5Pclose(dcpl), w->tmp);
    return d;
}

ShardWriter *shard_writer_open(const char *path, const ShardSpec *spec, long first, long count,
                               long split_total, const H5Prov *prov) {
    int K = spec->nblocks;
    DNA_CHECK(K >= 1 && K <= SHARD_MAX_BLOCKS, "use 1..8 blocks",
              "shard '%s': nblocks %d out of range 1..%d", path, K, SHARD_MAX_BLOCKS);
    DNA_CHECK(spec->chunk >= 1 && spec->deflate >= 0 && spec->deflate <= 9,
              "set chunk >= 1 and deflate 0..9", "shard '%s': chunk %d, deflate %d", path,
              spec->chunk, spec->deflate);
    for (int k = 0; k <= K; k++)
        DNA_CHECK(spec->dims[k][0] > 0 && spec->dims[k][1] > 0 && spec->dims[k][2] > 0,
                  "fill ShardSpec.dims for /x and every block",
                  "shard '%s': slot %d has shape "
                  "[%d,%d,%d]",
                  path, k, spec->dims[k][0], spec->dims[k][1], spec->dims[k][2]);
    DNA_CHECK(count >= 1 && first >= 0 && first % spec->chunk == 0 && first + count <= split_total,
              "take the ranges from shard_plan",
              "shard '%s': rows [%ld, %ld) of a split of %ld "
              "with chunk %d: expected a non-empty, chunk-aligned range inside the split",
              path, first, first + count, split_total, spec->chunk);
    ShardWriter *w = dna_calloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->spec = *spec;
    w->first = first;
    w->count = count;
    w->f = h5_create_tmp(path, w->tmp);
    w->half = half_type();
    hid_t ft = spec->fp16 ? w->half : H5T_IEEE_F32LE;
    for (int k = 0; k <= K; k++) {
        char name[32];
        feat_name(name, sizeof name, k);
        w->ds[k] = writer_dataset(w, name, ft, 4, spec->dims[k]);
    }
    w->ds[K + 1] = writer_dataset(w, "/labels", H5T_STD_I32LE, 1, NULL);
    w->ds[K + 2] = writer_dataset(w, "/index", H5T_STD_I64LE, 1, NULL);
    w->done = dna_calloc((size_t)(K + 3) * (size_t)count, 1);
    H5Prov p = prov ? *prov : (H5Prov){0};
    p.format = SHARD_FORMAT;  // the layout version is this module's, not the caller's
    h5_attr_prov(w->f, &p, w->tmp);
    h5_attr_i64(w->f, "split_total", split_total, w->tmp);
    h5_attr_i64(w->f, "chunk", spec->chunk, w->tmp);
    h5_attr_i64(w->f, "nblocks", K, w->tmp);
    h5_attr_str(w->f, "dtype", spec->fp16 ? "float16" : "float32", w->tmp);
    h5_attr_i64(w->f, "writer_ranks", spec->ranks, w->tmp);
    return w;
}

static void writer_rows(ShardWriter *w, int ds, long row, int rows, hid_t mtype, const void *buf,
                        const char *what) {
    DNA_CHECK(rows >= 0 && row >= 0 && row + rows <= w->count, "pass rows relative to the file",
              "shard '%s': %s rows [%ld, %ld) outside the file's %ld rows", w->path, what, row,
              row + rows, w->count);
    if (rows == 0) return;
    hid_t fs, ms;
    select_rows(w->ds[ds], row, rows, &fs, &ms, w->tmp);
    H5_WCHECK(H5Dwrite(w->ds[ds], mtype, ms, fs, H5P_DEFAULT, buf), w->tmp);
    H5_WCHECK(H5Sclose(ms), w->tmp);
    H5_WCHECK(H5Sclose(fs), w->tmp);
    memset(w->done + (size_t)ds * (size_t)w->count + (size_t)row, 1, (size_t)rows);
}

// Float16 turns |x| >= 65520 into inf (65504 is its largest value; halfway up rounds away),
// which training would later report as a diverging loss.
enum { HALF_OVERFLOW = 65520 };

// Fatal on a NaN or inf (either dtype: the features are broken) and, for float16, on a value
// that would become inf; names the dataset, the sample and the largest value.
static void check_finite(const ShardWriter *w, int slot, const char *name, long row, int rows,
                         const float *data) {
    size_t per = slot_elems(&w->spec, slot), n = per * (size_t)(rows > 0 ? rows : 0);
    size_t bad = n, big_at = 0;
    float big = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(data[i]);
        if (!isfinite(a)) {
            if (bad == n) bad = i;
        } else if (a > big) {
            big = a, big_at = i;
        }
    }
    DNA_CHECK(bad == n, "the features are not finite: check the teacher (rerun `dna teacher`)",
              "shard '%s': %s of sample %ld holds %g", w->path, name,
              w->first + row + (long)(bad / per), (double)data[bad < n ? bad : 0]);
    DNA_CHECK(!w->spec.fp16 || big < HALF_OVERFLOW,
              "set features.dtype = float32 ([features] dtype) and rerun `dna features`",
              "shard '%s': %s (%s) holds %g (sample %ld), beyond float16's range: values of "
              "magnitude >= %d would be stored as inf",
              w->path, name, slot ? "a block's output" : "the input", (double)big,
              w->first + row + (long)(big_at / per), HALF_OVERFLOW);
}

void shard_writer_put(ShardWriter *w, int slot, long row, int rows, const float *data) {
    DNA_CHECK(slot >= 0 && slot <= w->spec.nblocks, "slot 0 is /x, k is /block<k>",
              "shard '%s': slot %d out of range 0..%d", w->path, slot, w->spec.nblocks);
    char name[32];
    feat_name(name, sizeof name, slot);
    check_finite(w, slot, name, row, rows, data);
    if (!w->spec.fp16) {
        writer_rows(w, slot, row, rows, H5T_NATIVE_FLOAT, data, name);
        return;
    }
    size_t n = slot_elems(&w->spec, slot) * (size_t)(rows > 0 ? rows : 0);
    if (n > w->scratch_cap) {
        free(w->scratch);
        w->scratch = dna_malloc(n * sizeof(uint16_t));
        w->scratch_cap = n;
    }
    half_from_float_n(data, w->scratch, n);
    writer_rows(w, slot, row, rows, w->half, w->scratch, name);  // file type: no conversion
}

void shard_writer_put_meta(ShardWriter *w, long row, int rows, const int32_t *labels) {
    int K = w->spec.nblocks;
    int64_t *ids = dna_malloc(sizeof(int64_t) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++) ids[i] = w->first + row + i;
    writer_rows(w, K + 1, row, rows, H5T_NATIVE_INT32, labels, "/labels");
    writer_rows(w, K + 2, row, rows, H5T_NATIVE_INT64, ids, "/index");
    free(ids);
}

void shard_writer_close(ShardWriter *w) {
    int K = w->spec.nblocks;
    for (int ds = 0; ds < K + 3; ds++) {
        const unsigned char *d = w->done + (size_t)ds * (size_t)w->count;
        long a = 0;
        while (a < w->count && d[a]) a++;
        if (a == w->count) continue;
        long b = a;
        while (b < w->count && !d[b]) b++;
        char name[32];
        if (ds <= K)
            feat_name(name, sizeof name, ds);
        else
            snprintf(name, sizeof name, ds == K + 1 ? "/labels" : "/index");
        DNA_FAIL(
            "write every row of every dataset (shard_writer_put per slot, put_meta) "
            "before closing",
            "shard '%s': rows [%ld, %ld) of '%s' were never written (file rows 0..%ld)", w->path, a,
            b, name, w->count);
    }
    // the chunk cache holds the last chunks until the close: a full disk fails here, and
    // the file is then not renamed in
    for (int ds = 0; ds < K + 3; ds++) H5_WCHECK(H5Dclose(w->ds[ds]), w->tmp);
    H5_WCHECK(H5Tclose(w->half), w->tmp);
    h5_commit(w->f, w->tmp, w->path);
    free(w->scratch);
    free(w->done);
    free(w);
}

// ---------------------------------------------------------------------------------------------
// Reader

typedef struct ShardFile {
    char *path;
    hid_t f, din, dout, dlab, didx;
    hid_t tin, tout;  // memory types for raw reads: the file's own type (no conversion)
    int esin, esout;  // bytes per element: 2 (float16) or 4
    long first, n;
} ShardFile;

typedef struct Chunk {  // one global chunk's rows, raw as stored
    unsigned char *x, *y;
    int32_t *lab;
    int64_t *id;
} Chunk;

typedef struct Slot {  // one prefetched local batch, written by the fill only
    float *x, *y;
    int32_t *lab;
    int64_t *id;
    int n;
    size_t peak;  // peak_bytes when this batch was complete
} Slot;

struct ShardReader {
    char *dir;
    ShardReaderCfg cfg;
    ShardFile *files;
    int nfiles, nbatches;
    long N, nch, chunk, nblocks;
    long total;  // split_total on disk; N <= total after a fraction
    int expect_in[3], expect_out[3], has_in, has_out;
    int *chunk_file;  // [nch]: which file holds global chunk g
    int din[3], dout[3];
    size_t ein, eout;  // floats per sample
    Rng root;
    // Epoch plan, set by start_epoch while the prefetcher is stopped, read-only while it runs.
    Rng ep;
    long win, nwin;
    int *perm;        // [nch]: chunk order
    long *win_start;  // [nwin + 1]: first position of each window
    // The fill's own while the prefetcher runs; the consumer's while it is stopped.
    int *wperm;  // samples of window wperm_win in epoch order
    long wperm_win, free_win;
    Chunk **loaded;                 // [nch]
    size_t held_bytes, peak_bytes;  // raw chunk bytes
    Slot slot[2];
    Prefetch *pf;
    // Consumer side only.
    int epoch_live;
    size_t peak_seen;  // peak of the batches delivered so far
};

static const char *type_class_name(H5T_class_t c) {
    switch (c) {
        case H5T_INTEGER:
            return "integer";
        case H5T_FLOAT:
            return "float";
        case H5T_STRING:
            return "string";
        case H5T_COMPOUND:
            return "compound";
        default:
            return "non-numeric";
    }
}

// Element size (2 or 4) of a float16/float32 dataset, fatal for anything else (bfloat16
// included, which is also 2 bytes).
static int float_size(hid_t d, const char *path, const char *name, hid_t *mtype) {
    hid_t t = H5Dget_type(d);
    H5_CHECK(t, path);
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t), sp = 0, ep = 0, es = 0, mp = 0, ms = 0;
    int ok = c == H5T_FLOAT && (sz == 4 || sz == 2);
    if (ok && sz == 2) {
        H5Tget_fields(t, &sp, &ep, &es, &mp, &ms);
        ok = sp == 15 && ep == 10 && es == 5 && mp == 0 && ms == 10 && H5Tget_ebias(t) == 15 &&
             H5Tget_order(t) == H5T_ORDER_LE;
    }
    DNA_CHECK(ok, REGEN,
              "'%s': dataset '%s' has dtype %s of %zu bytes, expected float16 or float32", path,
              name, type_class_name(c), sz);
    if (sz == 4) {
        H5Tclose(t);
        *mtype = H5T_NATIVE_FLOAT;
    } else {
        *mtype = t;
    }
    return (int)sz;
}

static hid_t open_dataset(hid_t f, const char *path, const char *name, int rank, hsize_t *dims) {
    DNA_CHECK(h5_has(f, name), REGEN, "'%s' has no dataset '%s'", path, name);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    // Whole chunks are read once each: HDF5's chunk cache would only add a copy.
    H5_CHECK(H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, 1.0), path);
    hid_t d = H5Dopen2(f, name, dapl);
    H5_CHECK(d, path);
    H5Pclose(dapl);
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    DNA_CHECK(nd == rank, REGEN, "'%s': dataset '%s' has %d dimensions, expected %d", path, name,
              nd, rank);
    H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    size_t count = 1;  // saturated: the callers bound the dims only later
    for (int i = 0; i < rank; i++)
        count = dims[i] && count > SIZE_MAX / dims[i] ? SIZE_MAX : count * dims[i];
    h5_check_written(d, count, path, name);
    return d;
}

// Opens a feature dataset [n, C, H, W]; ref holds the shape every file must share (filled by
// the first file), expect the caller's expectation.
static hid_t open_feature(ShardReader *r, ShardFile *sf, const char *name, int ref[3],
                          const int *expect, int *es, hid_t *mtype) {
    hsize_t d[4];
    hid_t ds = open_dataset(sf->f, sf->path, name, 4, d);
    *es = float_size(ds, sf->path, name, mtype);
    // Batches are allocated from the sample shape: bounded before anything is computed from it.
    const hsize_t M = SHARD_MAX_SAMPLE;
    DNA_CHECK(d[1] >= 1 && d[2] >= 1 && d[3] >= 1 && d[1] <= M && d[2] <= M && d[3] <= M &&
                  d[1] * d[2] <= M && d[1] * d[2] * d[3] <= M,
              REGEN,
              "'%s': dataset '%s' has sample shape [%llu,%llu,%llu], expected at most %d values",
              sf->path, name, (unsigned long long)d[1], (unsigned long long)d[2],
              (unsigned long long)d[3], SHARD_MAX_SAMPLE);
    int got[3] = {(int)d[1], (int)d[2], (int)d[3]};
    if (expect)
        DNA_CHECK(!memcmp(got, expect, sizeof got),
                  "the features were extracted for another teacher or input size: regenerate "
                  "them, or fix the block/model config",
                  "'%s': dataset '%s' has sample shape [%d,%d,%d], expected [%d,%d,%d]", sf->path,
                  name, got[0], got[1], got[2], expect[0], expect[1], expect[2]);
    if (sf == r->files) memcpy(ref, got, sizeof got);
    DNA_CHECK(!memcmp(got, ref, sizeof got), REGEN,
              "'%s': dataset '%s' has sample shape [%d,%d,%d], but '%s' has [%d,%d,%d]", sf->path,
              name, got[0], got[1], got[2], r->files[0].path, ref[0], ref[1], ref[2]);
    if (sf->n < 0) sf->n = (long)d[0];
    DNA_CHECK((long)d[0] == sf->n, REGEN, "'%s': dataset '%s' has %ld rows, expected %ld", sf->path,
              name, (long)d[0], sf->n);
    return ds;
}

static void read_rows(hid_t d, hid_t mtype, long row, long rows, void *buf, const char *path) {
    hid_t fs, ms;
    select_rows(d, row, rows, &fs, &ms, path);
    H5_CHECK(H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf), path);
    H5Sclose(ms);
    H5Sclose(fs);
}

static long attr_same(ShardReader *r, ShardFile *sf, const char *name, long ref) {
    long v = (long)h5_read_attr_i64(sf->f, name, sf->path);
    DNA_CHECK(sf == r->files || v == ref, REGEN,
              "'%s': attribute '%s' is %ld, but '%s' has %ld: the directory mixes shards of "
              "different runs",
              sf->path, name, v, r->files[0].path, ref);
    return v;
}

// /labels and /index are read as int32 and int64 on the prefetch thread: a type HDF5 cannot
// convert must fail here, on the caller's thread, naming the file.
static void integer_dataset(hid_t d, const char *path, const char *name) {
    hid_t t = H5Dget_type(d);
    H5_CHECK(t, path);
    H5T_class_t c = H5Tget_class(t);
    H5Tclose(t);
    DNA_CHECK(c == H5T_INTEGER, REGEN, "'%s': dataset '%s' has dtype %s, expected integer", path,
              name, type_class_name(c));
}

// Every id of the file, read in pieces: contiguous from a chunk-aligned first id inside the
// split. Checked at open, so the prefetch thread never meets a bad id.
static void check_ids(ShardReader *r, ShardFile *sf) {
    enum { PIECE = 4096 };
    int64_t *ids = dna_malloc(sizeof *ids * PIECE);
    read_rows(sf->didx, H5T_NATIVE_INT64, 0, 1, ids, sf->path);
    sf->first = (long)ids[0];
    // first in [0, N) and n <= N < INT_MAX: first + n cannot overflow
    DNA_CHECK(
        ids[0] >= 0 && ids[0] < r->N && sf->first % r->chunk == 0 && sf->first + sf->n <= r->N,
        REGEN,
        "'%s': /index starts at %lld over %ld rows; expected a multiple of chunk %ld with "
        "the rows inside split_total %ld",
        sf->path, (long long)ids[0], sf->n, r->chunk, r->N);
    for (long at = 0; at < sf->n; at += PIECE) {
        long rows = lmin(PIECE, sf->n - at);
        read_rows(sf->didx, H5T_NATIVE_INT64, at, rows, ids, sf->path);
        for (long i = 0; i < rows; i++)
            DNA_CHECK(ids[i] == sf->first + at + i, REGEN,
                      "'%s': /index row %ld holds %lld, expected %ld (contiguous ids)", sf->path,
                      at + i, (long long)ids[i], sf->first + at + i);
    }
    free(ids);
}

static void file_open(ShardReader *r, ShardFile *sf) {
    sf->f = h5_open_read(sf->path);
    long fmt = (long)h5_read_attr_i64(sf->f, "format_version", sf->path);
    DNA_CHECK(fmt == SHARD_FORMAT, REGEN, "'%s': shard format_version %ld, this program reads %d",
              sf->path, fmt, SHARD_FORMAT);
    r->N = attr_same(r, sf, "split_total", r->N);
    r->chunk = attr_same(r, sf, "chunk", r->chunk);
    long K = r->nblocks = attr_same(r, sf, "nblocks", r->nblocks);
    // Bounded here, before any size is computed from them (sums of ids, buffers of a chunk).
    DNA_CHECK(r->N >= 1 && r->N < INT_MAX && r->chunk >= 1 && r->chunk <= SHARD_MAX_CHUNK &&
                  K >= 1 && K <= SHARD_MAX_BLOCKS,
              REGEN,
              "'%s': split_total %ld, chunk %ld, nblocks %ld: expected split_total 1..%d, chunk "
              "1..%d, nblocks 1..%d",
              sf->path, r->N, r->chunk, K, INT_MAX - 1, SHARD_MAX_CHUNK, SHARD_MAX_BLOCKS);
    int b = r->cfg.block;
    DNA_CHECK(b <= K, "pick a block the teacher has, or re-extract features with more blocks",
              "'%s' holds blocks 1..%ld, block %d was asked for", sf->path, K, b);
    char in[32], out[32];
    feat_name(in, sizeof in, b > 0 ? b - 1 : 0);
    feat_name(out, sizeof out, b);
    sf->n = -1;
    sf->din = open_feature(r, sf, in, r->din, r->has_in ? r->expect_in : NULL, &sf->esin, &sf->tin);
    sf->dout = -1;
    if (b > 0)
        sf->dout = open_feature(r, sf, out, r->dout, r->has_out ? r->expect_out : NULL, &sf->esout,
                                &sf->tout);
    hsize_t d[1];
    sf->dlab = open_dataset(sf->f, sf->path, "/labels", 1, d);
    DNA_CHECK((long)d[0] == sf->n, REGEN, "'%s': /labels has %ld rows, expected %ld", sf->path,
              (long)d[0], sf->n);
    sf->didx = open_dataset(sf->f, sf->path, "/index", 1, d);
    DNA_CHECK((long)d[0] == sf->n, REGEN, "'%s': /index has %ld rows, expected %ld", sf->path,
              (long)d[0], sf->n);
    integer_dataset(sf->dlab, sf->path, "/labels");
    integer_dataset(sf->didx, sf->path, "/index");
    DNA_CHECK(sf->n > 0 && sf->n <= r->N, REGEN, "'%s' has %ld rows, expected 1..%ld (split_total)",
              sf->path, sf->n, r->N);
    check_ids(r, sf);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_first(const void *a, const void *b) {
    long x = ((const ShardFile *)a)->first, y = ((const ShardFile *)b)->first;
    return (x > y) - (x < y);
}

// shard_*.h5 only: a writer's "<name>.tmp.<pid>" from a crashed run is never read.
static void list_shards(ShardReader *r) {
    DIR *d = opendir(r->dir);
    DNA_CHECK(d, "check the path, and that feature extraction ran for this split",
              "cannot open feature directory '%s'", r->dir);
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 10 || strncmp(e->d_name, "shard_", 6) || strcmp(e->d_name + len - 3, ".h5"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = dna_malloc(sizeof *grown * (size_t)cap);
            if (n) memcpy(grown, names, sizeof *names * (size_t)n);
            free(names);
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    DNA_CHECK(n > 0, "run feature extraction for this split first, or check the path",
              "feature directory '%s' holds no shard_*.h5 files", r->dir);
    qsort(names, (size_t)n, sizeof *names, cmp_str);  // errors then name the same file each run
    r->nfiles = n;
    r->files = dna_calloc((size_t)n, sizeof *r->files);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(r->dir) + strlen(names[i]) + 2;
        r->files[i].path = dna_malloc(len);
        snprintf(r->files[i].path, len, "%s/%s", r->dir, names[i]);
        free(names[i]);
    }
    free(names);
}

static void check_coverage(ShardReader *r) {
    const char *missing =
        "a shard file is missing: rerun feature extraction for the rank that writes it, or "
        "regenerate the directory";
    qsort(r->files, (size_t)r->nfiles, sizeof *r->files, cmp_first);
    long next = 0;
    const char *prev = NULL;
    for (int i = 0; i < r->nfiles; i++) {
        const ShardFile *f = &r->files[i];
        DNA_CHECK(f->first <= next, missing,
                  "'%s': samples [%ld, %ld) are in no shard (expected a shard starting at %ld, "
                  "found '%s' starting at %ld)",
                  r->dir, next, f->first, next, f->path, f->first);
        DNA_CHECK(f->first >= next, REGEN, "'%s': samples [%ld, %ld) are in both '%s' and '%s'",
                  r->dir, f->first, lmin(next, f->first + f->n), prev, f->path);
        next = f->first + f->n;
        prev = f->path;
    }
    DNA_CHECK(next >= r->N, missing,
              "'%s': samples [%ld, %ld) are in no shard (split_total %ld, last shard '%s' ends "
              "at %ld)",
              r->dir, next, r->N, r->N, prev, next);
    DNA_CHECK(next <= r->N, REGEN, "'%s': '%s' holds ids up to %ld, beyond split_total %ld", r->dir,
              prev, next - 1, r->N);
}

static void check_cfg(const char *dir, const ShardReaderCfg *c) {
    DNA_CHECK(c->block >= 0 && c->batch >= 1 && c->nparts >= 1 && c->part >= 0 &&
                  c->part < c->nparts && c->batch >= c->nparts && (!c->shuffle || c->window >= 1),
              "use block >= 0, batch >= nparts, 0 <= part < nparts, window >= 1 when shuffling",
              "'%s': invalid reader config block=%d batch=%d part=%d nparts=%d shuffle=%d "
              "window=%d",
              dir, c->block, c->batch, c->part, c->nparts, c->shuffle, c->window);
}

static void *batch_alloc(const ShardReader *r, size_t bytes) {
    return r->cfg.alloc ? r->cfg.alloc(bytes) : dna_malloc(bytes);
}
static void batch_free(const ShardReader *r, void *p) {
    if (p && r->cfg.free)
        r->cfg.free(p);
    else
        free(p);
}

static void fill_batch(void *owner, int b, int slot);
static void thread_init(void *owner);

static void alloc_slots(ShardReader *r) {
    size_t n = (size_t)((r->cfg.batch + r->cfg.nparts - 1) / r->cfg.nparts);
    for (int i = 0; i < 2; i++) {
        Slot *s = &r->slot[i];
        s->x = batch_alloc(r, n * r->ein * sizeof(float));
        if (r->cfg.block > 0) s->y = batch_alloc(r, n * r->eout * sizeof(float));
        s->lab = dna_malloc(n * sizeof(int32_t));
        s->id = dna_malloc(n * sizeof(int64_t));
    }
}

ShardReader *shard_reader_open(const char *dir, const ShardReaderCfg *cfg, const int *expect_in,
                               const int *expect_out) {
    check_cfg(dir, cfg);
    h5_main_hold();  // before the first helper exists (io/h5lock.h; a no-op when thread-safe)
    ShardReader *r = dna_calloc(1, sizeof *r);
    r->dir = strdup(dir);
    r->cfg = *cfg;
    if ((r->has_in = expect_in != NULL)) memcpy(r->expect_in, expect_in, sizeof r->expect_in);
    if ((r->has_out = expect_out != NULL && cfg->block > 0))
        memcpy(r->expect_out, expect_out, sizeof r->expect_out);
    list_shards(r);
    for (int i = 0; i < r->nfiles; i++) file_open(r, &r->files[i]);
    check_coverage(r);
    DNA_CHECK(cfg->fraction >= 0 && cfg->fraction <= 1, "give a fraction in (0, 1]",
              "'%s': data fraction %g", dir, cfg->fraction);
    r->total = r->N;
    if (cfg->fraction > 0 && cfg->fraction < 1) {
        long n = (long)(cfg->fraction * (double)r->N + 0.5);
        r->N = n > 0 ? n : 1;
    }
    long B = cfg->batch, P = cfg->nparts, tail = r->N % B;
    DNA_CHECK(r->N >= 1 && r->N < INT_MAX, REGEN, "'%s': split_total %ld out of range 1..%d", dir,
              r->N, INT_MAX - 1);
    DNA_CHECK(!cfg->drop_last || r->N >= B, "use a smaller batch, or drop_last = 0",
              "'%s': %ld samples make no full batch of %ld", dir, r->N, B);
    // An empty share would read as epoch end on that rank alone, and data-parallel ranks must
    // all take the same number of steps.
    DNA_CHECK(cfg->drop_last || tail == 0 || tail >= P, "set drop_last = 1, or change the batch",
              "'%s': the last batch of %ld samples (split %ld, batch %ld) cannot give each of %ld "
              "parts a sample",
              dir, tail, r->N, B, P);
    r->nbatches = (int)(cfg->drop_last ? r->N / B : (r->N + B - 1) / B);
    r->nch = (r->N + r->chunk - 1) / r->chunk;
    r->chunk_file = dna_malloc(sizeof(int) * (size_t)r->nch);
    for (int i = 0; i < r->nfiles; i++)
        for (long s = r->files[i].first; s < r->files[i].first + r->files[i].n; s += r->chunk)
            if (s / r->chunk < r->nch) r->chunk_file[s / r->chunk] = i;
    r->ein = (size_t)r->din[0] * (size_t)r->din[1] * (size_t)r->din[2];
    r->eout = cfg->block > 0 ? (size_t)r->dout[0] * (size_t)r->dout[1] * (size_t)r->dout[2] : 0;
    r->win = cfg->shuffle ? lmin(cfg->window, r->nch) : 1;
    r->nwin = (r->nch + r->win - 1) / r->win;
    r->perm = dna_malloc(sizeof(int) * (size_t)r->nch);
    r->win_start = dna_malloc(sizeof(long) * (size_t)(r->nwin + 1));
    r->wperm = dna_malloc(sizeof(int) * (size_t)(r->win * r->chunk));
    r->loaded = dna_calloc((size_t)r->nch, sizeof *r->loaded);
    r->root = rng_new(cfg->seed);
    alloc_slots(r);
    r->pf =
        prefetch_new(r->nbatches, (PrefetchOps){.fill = fill_batch, .thread_init = thread_init}, r);
    return r;
}

long shard_reader_samples(const ShardReader *r) {
    return r->N;
}
long shard_reader_split_total(const ShardReader *r) {
    return r->total;
}
int shard_reader_batches(const ShardReader *r) {
    return r->nbatches;
}
size_t shard_reader_peak_bytes(ShardReader *r) {
    return r->peak_seen;
}

static long chunk_rows(const ShardReader *r, long g) {
    return lmin(r->chunk, r->N - g * r->chunk);
}

// Largest w with win_start[w] <= pos: the window holding position pos (nwin at the end).
static long window_of(const ShardReader *r, long pos) {
    long lo = 0, hi = r->nwin;
    while (lo < hi) {
        long mid = (lo + hi + 1) / 2;
        if (r->win_start[mid] <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// Samples of window w in epoch order. Each window has its own stream (rng_split by w), so
// computing windows lazily, or from a resumed batch, gives the same order.
static void window_order(ShardReader *r, long w) {
    if (r->wperm_win == w) return;
    int n = 0;
    for (long i = w * r->win; i < lmin((w + 1) * r->win, r->nch); i++) {
        long g = r->perm[i];
        for (long s = 0; s < chunk_rows(r, g); s++) r->wperm[n++] = (int)(g * r->chunk + s);
    }
    if (r->cfg.shuffle) {
        Rng wr = rng_split(&r->ep, 1 + (uint64_t)w);
        rng_shuffle(&wr, r->wperm, n);
    }
    r->wperm_win = w;
}

static size_t chunk_bytes(const ShardReader *r, long g) {
    const ShardFile *f = &r->files[r->chunk_file[g]];
    size_t per = r->ein * (size_t)f->esin + (f->dout >= 0 ? r->eout * (size_t)f->esout : 0) +
                 sizeof(int32_t) + sizeof(int64_t);
    return per * (size_t)chunk_rows(r, g);
}

static void chunk_free(ShardReader *r, long g) {
    Chunk *c = r->loaded[g];
    if (!c) return;
    r->held_bytes -= chunk_bytes(r, g);
    r->loaded[g] = NULL;
    free(c->x);
    free(c->y);
    free(c->lab);
    free(c->id);
    free(c);
}

// Reads global chunk g whole (one decompression per chunk and epoch), raw as stored.
static const Chunk *chunk_get(ShardReader *r, long g) {
    if (r->loaded[g]) return r->loaded[g];
    const ShardFile *f = &r->files[r->chunk_file[g]];
    long s0 = g * r->chunk, row = s0 - f->first, rows = chunk_rows(r, g);
    Chunk *c = dna_calloc(1, sizeof *c);
    c->x = dna_malloc((size_t)rows * r->ein * (size_t)f->esin);
    if (f->dout >= 0) c->y = dna_malloc((size_t)rows * r->eout * (size_t)f->esout);
    c->lab = dna_malloc(sizeof(int32_t) * (size_t)rows);
    c->id = dna_malloc(sizeof(int64_t) * (size_t)rows);
    // The helper's HDF5 calls, under the HDF5 lock when serialised; a fatal error inside ends
    // the thread (io/prefetch.h), and the cleanup handler then releases the lock.
    h5_helper_enter();
    pthread_cleanup_push(h5_helper_leave_cb, NULL);
    read_rows(f->din, f->tin, row, rows, c->x, f->path);
    if (f->dout >= 0) read_rows(f->dout, f->tout, row, rows, c->y, f->path);
    read_rows(f->dlab, H5T_NATIVE_INT32, row, rows, c->lab, f->path);
    read_rows(f->didx, H5T_NATIVE_INT64, row, rows, c->id, f->path);
    pthread_cleanup_pop(1);
    for (long i = 0; i < rows; i++)
        DNA_CHECK(c->id[i] == s0 + i, REGEN, "'%s': /index row %ld holds %lld, expected %ld",
                  f->path, row + i, (long long)c->id[i], s0 + i);
    r->loaded[g] = c;
    r->held_bytes += chunk_bytes(r, g);
    if (r->held_bytes > r->peak_bytes) r->peak_bytes = r->held_bytes;
    return c;
}

static void copy_sample(float *dst, const unsigned char *src, long row, size_t e, int es) {
    src += (size_t)row * e * (size_t)es;
    if (es == 2)
        half_to_float_n((const uint16_t *)src, dst, e);
    else
        memcpy(dst, src, e * sizeof(float));
}

// The prefetcher's fill, on its helper thread: this part's share of global batch b.
static void fill_batch(void *owner, int b, int slot) {
    ShardReader *r = owner;
    Slot *s = &r->slot[slot];
    long B = r->cfg.batch, P = r->cfg.nparts, p = r->cfg.part;
    long g0 = (long)b * B, gb = lmin(B, r->N - g0);
    long lo = g0 + p * gb / P, hi = g0 + (p + 1) * gb / P;
    long w = window_of(r, lo);
    for (long pos = lo; pos < hi; pos++) {
        while (pos >= r->win_start[w + 1]) w++;
        window_order(r, w);
        long sid = r->wperm[pos - r->win_start[w]], g = sid / r->chunk, row = sid - g * r->chunk;
        const Chunk *c = chunk_get(r, g);
        const ShardFile *f = &r->files[r->chunk_file[g]];
        size_t i = (size_t)(pos - lo);
        copy_sample(s->x + i * r->ein, c->x, row, r->ein, f->esin);
        if (s->y) copy_sample(s->y + i * r->eout, c->y, row, r->eout, f->esout);
        s->lab[i] = c->lab[row];
        s->id[i] = c->id[row];
    }
    s->n = (int)(hi - lo);
    // Windows wholly before the end of this global batch are used up, for every part.
    for (; r->free_win < r->nwin && r->win_start[r->free_win + 1] <= g0 + gb; r->free_win++) {
        for (long i = r->free_win * r->win; i < lmin((r->free_win + 1) * r->win, r->nch); i++)
            chunk_free(r, r->perm[i]);
    }
    s->peak = r->peak_bytes;
}

static void thread_init(void *owner) {
    (void)owner;
    h5_helper_enter();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  // error stacks are per thread; ours replace HDF5's
    h5_helper_leave();
}

// Ends the running fill; the chunk cache is then the consumer's to empty. Every wait for the
// helper lets it take the HDF5 lock (io/h5lock.h).
static void stop_prefetch(ShardReader *r) {
    int t = h5_main_yield();
    prefetch_stop(r->pf);
    h5_main_resume(t);
    for (long g = 0; g < r->nch; g++) chunk_free(r, g);
}

void shard_reader_start_epoch(ShardReader *r, int epoch, int start_batch) {
    stop_prefetch(r);
    DNA_CHECK(start_batch >= 0 && start_batch <= r->nbatches,
              "resume from a batch recorded for this split and batch size",
              "'%s': start batch %d outside 0..%d", r->dir, start_batch, r->nbatches);
    r->ep = rng_split(&r->root, (uint64_t)epoch);
    for (long g = 0; g < r->nch; g++) r->perm[g] = (int)g;
    if (r->cfg.shuffle) {
        Rng cr = rng_split(&r->ep, 0);
        rng_shuffle(&cr, r->perm, (int)r->nch);
    }
    long pos = 0;
    for (long w = 0; w < r->nwin; w++) {
        r->win_start[w] = pos;
        for (long i = w * r->win; i < lmin((w + 1) * r->win, r->nch); i++)
            pos += chunk_rows(r, r->perm[i]);
    }
    r->win_start[r->nwin] = pos;
    r->wperm_win = -1;
    r->free_win = window_of(r, (long)start_batch * r->cfg.batch);
    r->epoch_live = 1;
    int t = h5_main_yield();
    prefetch_start(r->pf, start_batch);
    h5_main_resume(t);
}

int shard_reader_next(ShardReader *r, const float **x, const float **y, const int32_t **labels,
                      const int64_t **ids) {
    DNA_CHECK(r->epoch_live, "call shard_reader_start_epoch before shard_reader_next",
              "'%s': batch asked for before an epoch was started", r->dir);
    int t = h5_main_yield();
    int i = prefetch_next(r->pf);
    h5_main_resume(t);
    if (i < 0) return 0;
    const Slot *s = &r->slot[i];
    if (s->peak > r->peak_seen) r->peak_seen = s->peak;
    if (x) *x = s->x;
    if (y) *y = s->y;
    if (labels) *labels = s->lab;
    if (ids) *ids = s->id;
    return s->n;
}

void shard_reader_free(ShardReader *r) {
    if (!r) return;
    int t = h5_main_yield();
    prefetch_free(r->pf);  // a fill in flight ends; the chunk cache is then ours
    h5_main_resume(t);
    for (long g = 0; g < r->nch; g++) chunk_free(r, g);
    for (int i = 0; i < r->nfiles; i++) {
        ShardFile *f = &r->files[i];
        if (f->f > 0) {
            if (f->esin == 2) H5Tclose(f->tin);
            if (f->dout >= 0 && f->esout == 2) H5Tclose(f->tout);
            H5Dclose(f->din);
            if (f->dout >= 0) H5Dclose(f->dout);
            H5Dclose(f->dlab);
            H5Dclose(f->didx);
            h5_close(f->f);
        }
        free(f->path);
    }
    for (int i = 0; i < 2; i++) {
        batch_free(r, r->slot[i].x);
        batch_free(r, r->slot[i].y);
        free(r->slot[i].lab);
        free(r->slot[i].id);
    }
    free(r->loaded);
    free(r->wperm);
    free(r->win_start);
    free(r->perm);
    free(r->chunk_file);
    free(r->files);
    free(r->dir);
    free(r);
}
