// HDF5 helpers: the H5_CHECK macro and whole-dataset reads with clear errors naming the
// file and dataset. The rest of src/io (datasets, shards, checkpoints) builds on these.
#pragma once
#include <hdf5.h>
#include <stddef.h>

#include "core/config.h"
#include "core/ctx.h"
#include "core/error.h"

#define H5_CHECK(call, path)                                                                 \
    do {                                                                                     \
        if ((call) < 0)                                                                      \
            dna_fatal(__FILE__, __LINE__, "check that the file is complete and not corrupt", \
                      "HDF5 call %s failed on '%s'", #call, path);                           \
    } while (0)

// The same on write paths: a failure there is most often a full disk or quota.
#define H5_WCHECK(call, path)                                                            \
    do {                                                                                 \
        if ((call) < 0)                                                                  \
            dna_fatal(__FILE__, __LINE__, "check the disk of the output (space, quota)", \
                      "HDF5 call %s failed writing '%s'", #call, path);                  \
    } while (0)

hid_t h5_open_read(const char *path);  // fatal with the path when missing or not HDF5
// 1 when path opens as HDF5 and every dataset of its root group reads in full (a truncated or
// damaged file does not); never fatal.
int h5_readable(const char *path);
void h5_close(hid_t f);
int h5_has(hid_t f, const char *name);
void h5_library_version(char *buf, size_t n);  // "HDF5 1.14.0"
// Reads a float dataset (converted to float32 by HDF5) into a new buffer; *n gets the count,
// dims (up to 8) the shape when not NULL. Fatal when missing.
float *h5_read_f32(hid_t f, const char *path, const char *name, size_t *n, int *ndim, long dims[8]);
double *h5_read_f64(hid_t f, const char *path, const char *name, size_t *n);  // the same, float64
// Element count (and rank and shape, when not NULL) of dataset `name` without reading it;
// fatal when missing. Readers that know the size to expect check it before h5_read_*
// allocates what the file claims (a damaged file may claim terabytes).
size_t h5_count(hid_t f, const char *path, const char *name, int *ndim, long dims[8]);
// Fatal, naming the file and dataset, when open dataset d (of `count` elements) has storage
// that was never written: its values would be HDF5's fill value, and a damaged file can
// claim a shape of terabytes that way at no cost on disk. h5_read_* check it themselves.
void h5_check_written(hid_t d, size_t count, const char *path, const char *name);
// Any type: `type` is the HDF5 memory type, elem its size in bytes.
void *h5_read_as(hid_t f, const char *path, const char *name, hid_t type, size_t elem, size_t *n,
                 int *ndim, long dims[8]);

// Provenance every output file carries (doc/formats.md): format version, config hash, seed,
// git revision, program version, the backend that computed it.
typedef struct H5Prov {
    int format;             // layout version of this kind of file
    const char *config_hash;  // hex digest of the effective config
    unsigned long long seed;
    const char *git_rev, *version;
    const char *backend, *backend_lib;  // "cpu"/"cuda" and its library versions (and GPU)
    const char *fingerprint, *fingerprint_keys;  // what it was made from; NULL: not recorded
} H5Prov;

// The provenance of a file of layout `format` written by this run; the strings point into
// `hash` (17 bytes) and the context.
H5Prov h5_prov_of_run(const RunCtx *ctx, const Config *cfg, int format, char hash[17]);

// Writing. Outputs are created under a temporary name (h5_create_tmp) and renamed into
// place only when complete (h5_commit), so a crash never leaves a half-written file that a
// later stage would trust.
hid_t h5_create_tmp(const char *path, char tmp[1024]);  // creates "<path>.tmp.<pid>"
// Closes (every object of the file must be closed: checked), then file_commit: fsync,
// rename, fsync of the directory; a failure removes the temporary and is fatal.
void h5_commit(hid_t f, const char *tmp, const char *path);
void h5_commit_prev(hid_t f, const char *tmp, const char *path, const char *prev);  // keeps prev
void h5_attr_str(hid_t obj, const char *name, const char *v, const char *path);
void h5_attr_i64(hid_t obj, const char *name, long long v, const char *path);
void h5_attr_f64(hid_t obj, const char *name, const double *v, int n, const char *path);
void h5_attr_prov(hid_t obj, const H5Prov *p, const char *path);
// Reading attributes: fatal with the file and attribute name when missing.
long long h5_read_attr_i64(hid_t obj, const char *name, const char *path);
void h5_read_attr_f64(hid_t obj, const char *name, double *v, int n, const char *path);
char *h5_read_attr_str(hid_t obj, const char *name, const char *path);  // caller frees
int h5_has_attr(hid_t obj, const char *name);
// Whole-array writes of a new dataset [dims], contiguous, native type.
void h5_write(hid_t f, const char *name, hid_t type, const void *buf, int ndim,
              const long *dims, const char *path);
