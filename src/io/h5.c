// HDF5 reading with errors that name the file, the dataset and the fix. HDF5's own error
// stack printing is switched off: our message replaces it.
#include "io/h5.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/files.h"
#include "tensor/ops.h"  // the backend's name and library versions

hid_t h5_open_read(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    DNA_CHECK(access(path, R_OK) == 0, "check the path (and that the stage that writes it ran)",
              "cannot read '%s'", path);
    DNA_CHECK(H5Fis_hdf5(path) > 0,
              "the file is truncated or not HDF5: delete it and rerun the stage that writes it",
              "'%s' is not a valid HDF5 file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    DNA_CHECK(f >= 0, "the file may be corrupt: delete it and rerun the stage that writes it",
              "cannot open HDF5 file '%s'", path);
    return f;
}

void h5_close(hid_t f) {
    if (f >= 0) H5Fclose(f);
}

int h5_has(hid_t f, const char *name) {
    return H5Lexists(f, name, H5P_DEFAULT) > 0;
}

// The shape of open dataset d; the element count, fatal when it overflows.
static size_t dataset_shape(hid_t d, const char *path, const char *name, int *ndim, long dims[8]) {
    hid_t s = H5Dget_space(d);
    H5_CHECK(s, path);
    hsize_t hd[8];
    int nd = H5Sget_simple_extent_ndims(s);
    DNA_CHECK(nd >= 0 && nd <= 8, "", "'%s': dataset '%s' has rank %d", path, name, nd);
    H5_CHECK(H5Sget_simple_extent_dims(s, hd, NULL), path);
    H5Sclose(s);
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        DNA_CHECK(hd[i] <= (hsize_t)LONG_MAX && (hd[i] == 0 || count <= (SIZE_MAX >> 4) / hd[i]),
                  "the file is corrupt: delete it and rerun the stage that writes it",
                  "'%s': dataset '%s' claims an impossible size (dimension %d is %llu)", path, name,
                  i, (unsigned long long)hd[i]);
        count *= hd[i];
        if (dims) dims[i] = (long)hd[i];
    }
    if (ndim) *ndim = nd;
    return count;
}

// Chunked: every chunk of the shape is stored (H5Dget_space_status compares byte counts,
// which edge chunks and compression make differ). Contiguous: the storage is allocated.
// Compact data lives in the header; virtual and external layouts are not checked.
static int all_written(hid_t d, const char *path) {
    hid_t dcpl = H5Dget_create_plist(d);
    H5_CHECK(dcpl, path);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int ok = 1;
    if (layout == H5D_CHUNKED) {
        hsize_t dims[H5S_MAX_RANK], cd[H5S_MAX_RANK], want = 1, got = 0;
        int nd = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
        hid_t s = H5Dget_space(d);
        H5_CHECK(s, path);
        DNA_CHECK(nd >= 0 && H5Sget_simple_extent_dims(s, dims, NULL) == nd,
                  "the file is damaged: delete it and rerun the stage that writes it",
                  "'%s': a dataset's chunk shape does not match its rank", path);
        for (int i = 0; i < nd; i++) {  // chunks in the shape, saturated
            hsize_t n = cd[i] ? dims[i] / cd[i] + (dims[i] % cd[i] != 0) : 0;
            want = n && want > (hsize_t)-1 / n ? (hsize_t)-1 : want * n;
        }
        H5_CHECK(H5Dget_num_chunks(d, s, &got), path);  // HDF5 1.10 refuses H5S_ALL here
        H5Sclose(s);
        ok = got == want;
    } else if (layout == H5D_CONTIGUOUS) {
        H5D_space_status_t st;
        H5_CHECK(H5Dget_space_status(d, &st), path);
        ok = st == H5D_SPACE_STATUS_ALLOCATED;
    }
    H5Pclose(dcpl);
    return ok;
}

void h5_check_written(hid_t d, size_t count, const char *path, const char *name) {
    if (count == 0) return;  // an empty dataset has no storage to allocate
    DNA_CHECK(all_written(d, path),
              "the file is incomplete or damaged: delete it and rerun the stage (or the tool) "
              "that writes it",
              "'%s': dataset '%s' was not completely written (%zu values claimed)", path, name,
              count);
}

size_t h5_count(hid_t f, const char *path, const char *name, int *ndim, long dims[8]) {
    DNA_CHECK(h5_has(f, name), "the file was written by another version or stage; regenerate it",
              "'%s' has no dataset '%s'", path, name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5_CHECK(d, path);
    size_t count = dataset_shape(d, path, name, ndim, dims);
    H5Dclose(d);
    return count;
}

void *h5_read_as(hid_t f, const char *path, const char *name, hid_t type, size_t elem, size_t *n,
                 int *ndim, long dims[8]) {
    DNA_CHECK(h5_has(f, name), "the file was written by another version or stage; regenerate it",
              "'%s' has no dataset '%s'", path, name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5_CHECK(d, path);
    int nd;
    size_t count = dataset_shape(d, path, name, &nd, dims);
    h5_check_written(d, count, path, name);
    void *buf = dna_malloc((count ? count : 1) * elem);
    H5_CHECK(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), path);
    H5Dclose(d);
    if (n) *n = count;
    if (ndim) *ndim = nd;
    return buf;
}

float *h5_read_f32(hid_t f, const char *path, const char *name, size_t *n, int *ndim,
                   long dims[8]) {
    return h5_read_as(f, path, name, H5T_NATIVE_FLOAT, sizeof(float), n, ndim, dims);
}

double *h5_read_f64(hid_t f, const char *path, const char *name, size_t *n) {
    return h5_read_as(f, path, name, H5T_NATIVE_DOUBLE, sizeof(double), n, NULL, NULL);
}

// H5Literate callback: reads every dataset in full; -1 stops at the first that fails.
static herr_t read_dataset(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)info, (void)op;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) return -1;
    herr_t rc = 0;
    if (H5Iget_type(o) == H5I_DATASET) {
        hid_t s = H5Dget_space(o), t = H5Dget_type(o);
        hssize_t n = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
        size_t size = t < 0 ? 0 : H5Tget_size(t);
        void *buf = n >= 0 && size > 0 ? malloc((size_t)n * size + 1) : NULL;
        rc = buf && H5Dread(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0 ? 0 : -1;
        free(buf);
        if (t >= 0) H5Tclose(t);
        if (s >= 0) H5Sclose(s);
    }
    H5Oclose(o);
    return rc;
}

int h5_readable(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (access(path, R_OK) != 0 || H5Fis_hdf5(path) <= 0) return 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    hsize_t at = 0;
    herr_t rc = H5Literate(f, H5_INDEX_NAME, H5_ITER_NATIVE, &at, read_dataset, NULL);
    H5Fclose(f);
    return rc >= 0;
}

hid_t h5_create_tmp(const char *path, char tmp[1024]) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(tmp, 1024, "%s.tmp.%d", path, (int)getpid());
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5_CHECK(fapl, tmp);
    H5_CHECK(H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI), tmp);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    DNA_CHECK(f >= 0, "check that the output directory exists and is writable",
              "cannot create '%s'", tmp);
    return f;
}

void h5_commit(hid_t f, const char *tmp, const char *path) {
    h5_commit_prev(f, tmp, path, NULL);
}

void h5_commit_prev(hid_t f, const char *tmp, const char *path, const char *prev) {
    // the file was created with H5F_CLOSE_SEMI: the close fails, instead of leaving the file
    // open and unflushed, when one of its objects is still open
    if (H5Fclose(f) < 0) {
        unlink(tmp);
        DNA_FAIL("check the disk (space, quota); a handle left open is a bug",
                 "cannot write '%s': closing (flushing) '%s' failed", path, tmp);
    }
    file_commit(tmp, path, prev);
}

// n < 0: a scalar; else a 1-D array of n (also n = 1: a per-channel array stays an array).
static void attr_write(hid_t obj, const char *name, hid_t type, int n, const void *v,
                       const char *path) {
    if (H5Aexists(obj, name) > 0) H5_WCHECK(H5Adelete(obj, name), path);
    hsize_t dim = (hsize_t)n;
    hid_t s = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    H5_WCHECK(s, path);
    hid_t a = H5Acreate2(obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    H5_WCHECK(a, path);
    H5_WCHECK(H5Awrite(a, type, v), path);
    H5_WCHECK(H5Aclose(a), path);
    H5_WCHECK(H5Sclose(s), path);
}

void h5_attr_str(hid_t obj, const char *name, const char *v, const char *path) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5_WCHECK(t, path);
    H5_WCHECK(H5Tset_size(t, strlen(v) + 1), path);
    attr_write(obj, name, t, -1, v, path);
    H5_WCHECK(H5Tclose(t), path);
}

void h5_attr_i64(hid_t obj, const char *name, long long v, const char *path) {
    attr_write(obj, name, H5T_NATIVE_LLONG, -1, &v, path);
}

void h5_attr_f64(hid_t obj, const char *name, const double *v, int n, const char *path) {
    attr_write(obj, name, H5T_NATIVE_DOUBLE, n, v, path);
}

void h5_attr_prov(hid_t obj, const H5Prov *p, const char *path) {
    h5_attr_i64(obj, "format_version", p->format, path);
    h5_attr_str(obj, "config_hash", p->config_hash ? p->config_hash : "", path);
    h5_attr_i64(obj, "seed", (long long)p->seed, path);
    h5_attr_str(obj, "git_rev", p->git_rev ? p->git_rev : "unknown", path);
    h5_attr_str(obj, "dna_version", p->version ? p->version : "unknown", path);
    h5_attr_str(obj, "backend", p->backend ? p->backend : "unknown", path);
    h5_attr_str(obj, "backend_lib", p->backend_lib ? p->backend_lib : "", path);
    if (p->fingerprint && p->fingerprint_keys) {
        h5_attr_str(obj, "fingerprint", p->fingerprint, path);
        h5_attr_str(obj, "fingerprint_keys", p->fingerprint_keys, path);
    }
}

int h5_has_attr(hid_t obj, const char *name) {
    return H5Aexists(obj, name) > 0;
}

static hid_t attr_open(hid_t obj, const char *name, const char *path) {
    DNA_CHECK(h5_has_attr(obj, name), "the file was written by another version; regenerate it",
              "'%s' has no attribute '%s'", path, name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5_CHECK(a, path);
    return a;
}

long long h5_read_attr_i64(hid_t obj, const char *name, const char *path) {
    hid_t a = attr_open(obj, name, path);
    long long v = 0;
    H5_CHECK(H5Aread(a, H5T_NATIVE_LLONG, &v), path);
    H5Aclose(a);
    return v;
}

void h5_read_attr_f64(hid_t obj, const char *name, double *v, int n, const char *path) {
    hid_t a = attr_open(obj, name, path);
    hid_t s = H5Aget_space(a);
    hssize_t cnt = H5Sget_simple_extent_npoints(s);
    DNA_CHECK(cnt == n, "the file does not match the config; regenerate it",
              "'%s': attribute '%s' has %lld values, expected %d", path, name, (long long)cnt, n);
    H5_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, v), path);
    H5Sclose(s);
    H5Aclose(a);
}

char *h5_read_attr_str(hid_t obj, const char *name, const char *path) {
    hid_t a = attr_open(obj, name, path);
    hid_t t = H5Aget_type(a);
    DNA_CHECK(H5Tget_class(t) == H5T_STRING, "", "'%s': attribute '%s' is not a string", path,
              name);
    char *v;
    if (H5Tis_variable_str(t) > 0) {
        char *tmp = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5_CHECK(H5Aread(a, mt, &tmp), path);
        v = strdup(tmp ? tmp : "");
        H5free_memory(tmp);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        v = dna_calloc(n + 1, 1);
        H5_CHECK(H5Aread(a, t, v), path);
    }
    H5Tclose(t);
    H5Aclose(a);
    return v;
}

void h5_write(hid_t f, const char *name, hid_t type, const void *buf, int ndim,
              const long *dims, const char *path) {
    hsize_t hd[8];
    for (int i = 0; i < ndim; i++) hd[i] = (hsize_t)dims[i];
    hid_t s = H5Screate_simple(ndim, hd, NULL);
    H5_WCHECK(s, path);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5_WCHECK(lcpl, path);
    H5_WCHECK(H5Pset_create_intermediate_group(lcpl, 1), path);
    hid_t d = H5Dcreate2(f, name, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5_WCHECK(d, path);
    H5_WCHECK(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), path);
    H5_WCHECK(H5Dclose(d), path);  // writes what HDF5 still held: a full disk shows here
    H5_WCHECK(H5Pclose(lcpl), path);
    H5_WCHECK(H5Sclose(s), path);
}

void h5_library_version(char *buf, size_t n) {
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, n, "HDF5 %u.%u.%u", maj, min, rel);
}

H5Prov h5_prov_of_run(const RunCtx *ctx, const Config *cfg, int format, char hash[17]) {
    config_hash(cfg, hash);
    return (H5Prov){.format = format,
                    .config_hash = hash,
                    .seed = (unsigned long long)cfg->run.seed,
                    .git_rev = ctx->git_rev,
                    .version = ctx->version,
                    .backend = ctx->be->name,
                    .backend_lib = ctx->be->lib_version(),
                    .fingerprint = ctx->fingerprint,
                    .fingerprint_keys = ctx->fingerprint_keys};
}
