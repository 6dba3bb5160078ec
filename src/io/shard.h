// Feature shards (doc/formats.md): the frozen teacher's feature maps at every block boundary, one
// directory per split, files features/<split>/shard_<rank>_<i>.h5 written in parallel and read
// by any number of ranks. Owns the file layout, the partition of a split among writers, and
// the shuffling, prefetching batch reader. Calls no MPI: ranks and parts are plain integers.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "io/h5.h"

// Limits a file's claims must stay within: samples per chunk (a chunk is read whole) and
// values per sample (batches are allocated from it; EfficientNet-B7's largest map at 600x600
// input holds 1.1M).
enum { SHARD_MAX_BLOCKS = 8, SHARD_FORMAT = 1, SHARD_MAX_CHUNK = 1 << 20 };
enum { SHARD_MAX_SAMPLE = 1 << 24 };

// The splits a run's features/ holds, one directory each: the supernet-training split, the
// search split (rating) and test (validation).
enum { SHARD_NSPLITS = 3 };
extern const char *const SHARD_SPLITS[SHARD_NSPLITS];  // "train", "search", "test"

typedef struct ShardSpec {
    int nblocks;     // K (1..SHARD_MAX_BLOCKS)
    int dims[9][3];  // [0]: /x (C,H,W); [k]: /block<k>
    int fp16;        // 1: float16 storage, 0: float32
    int chunk;       // samples per HDF5 chunk = the unit of shuffling
    int deflate;     // 0 off, 1..9 (with HDF5's byte shuffle filter in front)
    int ranks;       // how many ranks wrote the split: its plan (attribute writer_ranks)
} ShardSpec;

typedef struct ShardRange {
    long first, count;  // global sample ids [first, first + count)
    int file;           // i of shard_<rank>_<i>.h5
} ShardRange;

// Partition of a split of n samples among ranks: chunks (aligned to multiples of `chunk` in
// global sample ids) are divided contiguously among ranks, each rank's range cut into files
// of at most shard_samples (rounded down to whole chunks, at least one chunk). Returns the
// number of ranges for `rank`; with out == NULL only counts, else fatal when more than max.
// A rank may get none when there are fewer chunks than ranks.
int shard_plan(long n, int chunk, long shard_samples, int rank, int nranks, ShardRange *out,
               int max);
// "<dir>/shard_<rank>_<file>.h5" into buf (fatal when it does not fit).
void shard_path(char *buf, size_t cap, const char *dir, int rank, int file);

// --- Writing: one writer per file; rows may arrive in any order and any grouping.
typedef struct ShardWriter ShardWriter;
// Creates under a temp name; first must be a multiple of spec->chunk so that file chunks are
// global chunks. prov may be NULL (tests).
ShardWriter *shard_writer_open(const char *path, const ShardSpec *spec, long first, long count,
                               long split_total, const H5Prov *prov);
// slot 0 = /x, k = /block<k>; data: [rows, C, H, W] fp32; row relative to the file.
void shard_writer_put(ShardWriter *w, int slot, long row, int rows, const float *data);
// Writes /labels rows and /index = first + row ...
void shard_writer_put_meta(ShardWriter *w, long row, int rows, const int32_t *labels);
// Checks every row of every dataset was written, then renames into place; frees w.
void shard_writer_close(ShardWriter *w);

// --- Reading.
typedef struct ShardReaderCfg {
    int block;         // k >= 1: input /block<k-1> (/x when k = 1), target /block<k>; 0: /x only
    int batch;         // global batch
    int part, nparts;  // rank p takes positions [p*B/P, (p+1)*B/P) of every global batch
    int shuffle;       // 0: ascending global id order (eval, rating)
    int window;  // shuffle buffer in chunks: samples of `window` consecutive permuted chunks mix
    int drop_last;
    unsigned long long seed;
    double fraction;  // in (0, 1]: only the first round(fraction * split_total) ids; 0 = all
    // Where the batches x and y live: a backend's host_alloc/host_free (pinned memory, so a
    // GPU copies them asynchronously); NULL: malloc/free.
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
} ShardReaderCfg;

typedef struct ShardReader ShardReader;
// Opens every shard_*.h5 in dir; checks they cover global ids [0, split_total) exactly once,
// agree on chunk/nblocks/split_total and shapes, and that input/target shapes equal
// expect_in/expect_out (C,H,W) when those are non-NULL. Every failure is fatal and names the
// file (or dir), what was expected and what was found.
ShardReader *shard_reader_open(const char *dir, const ShardReaderCfg *cfg, const int *expect_in,
                               const int *expect_out);
long shard_reader_samples(const ShardReader *r);  // ids served (after fraction)
long shard_reader_split_total(const ShardReader *r);  // ids in the split on disk
int shard_reader_batches(const ShardReader *r);   // global batches per epoch
// Most bytes of raw (as stored) chunks held at once so far, up to the last delivered batch:
// about (window + batch / chunk + 1) chunks, whatever the split's size.
size_t shard_reader_peak_bytes(ShardReader *r);
// Order depends only on (seed, epoch, split_total, chunk, window, batch): the same global
// order for any rank count and any file partition. Starts the prefetch thread at start_batch
// (resume); stops one still running from an earlier epoch.
void shard_reader_start_epoch(ShardReader *r, int epoch, int start_batch);
// Local batch as fp32 x [n, Cin, Hin, Win], y [n, Cout, Hout, Wout] (NULL when block = 0),
// labels, ids; returns n, 0 at epoch end. Pointers stay valid until the next call.
int shard_reader_next(ShardReader *r, const float **x, const float **y, const int32_t **labels,
                      const int64_t **ids);
void shard_reader_free(ShardReader *r);
