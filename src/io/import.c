// Source-format readers for dataset import: IDX (MNIST/Fashion-MNIST, gzip or plain),
// CIFAR-10 binary and the generic HDF5 layout (dataset.h). Each checks its own format and
// names the file and the fix on any problem; none writes anything.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/dataset.h"

#define IDX_HINT                                                                                   \
    "the file is truncated or not IDX: reinstall dataset-fashion-mnist or download the IDX files " \
    "again"
#define CIFAR_HINT                                                                                 \
    "the file is truncated or not CIFAR-10 binary (the python and matlab versions are not read): " \
    "download cifar-10-binary.tar.gz again"
#define LABEL_HINT "set classes to the dataset's class count (labels must be 0..classes-1)"
#define GENERIC_HINT "write the file in the generic layout documented in src/io/dataset.h"

enum { IDX_IMAGES = 0x00000803, IDX_LABELS = 0x00000801, IDX_MAX_SIDE = 65535 };
enum { CIFAR_SIDE = 32, CIFAR_PIXELS = 3 * 32 * 32, CIFAR_RECORD = 1 + CIFAR_PIXELS };

void split_free(Split *s) {
    free(s->images);
    free(s->labels);
    *s = (Split){0};
}

void split_check_labels(const Split *s, int classes, const char *path) {
    for (int i = 0; i < s->n; i++)
        DNA_CHECK(s->labels[i] >= 0 && s->labels[i] < classes, LABEL_HINT,
                  "'%s': sample %d has label %d, outside [0, %d) for classes = %d", path, i,
                  (int)s->labels[i], classes, classes);
}

// ---- IDX ----

static gzFile gz_open(const char *path) {
    gzFile g = gzopen(path, "rb");
    DNA_CHECK(g, "check the path; reinstall dataset-fashion-mnist or download the IDX files again",
              "cannot open IDX file '%s'", path);
    return g;
}

// Reads up to `want` bytes; gzread's length is an unsigned int, so large files go in pieces.
static size_t gz_read(gzFile g, void *buf, size_t want, const char *path) {
    size_t got = 0;
    while (got < want) {
        size_t part = want - got < (1u << 30) ? want - got : (1u << 30);
        int r = gzread(g, (char *)buf + got, (unsigned)part);
        if (r < 0) {
            int err;
            const char *msg = gzerror(g, &err);
            DNA_FAIL(IDX_HINT, "'%s': cannot decompress (%s)", path, msg);
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return got;
}

// Buffers grow with what actually arrives, so a corrupt header that claims terabytes fails
// with "expected N bytes, found M" instead of an allocation failure.
static uint8_t *gz_read_exact(gzFile g, size_t want, const char *what, const char *path) {
    size_t cap = want < (1u << 20) ? want : (1u << 20), got = 0;
    uint8_t *buf = dna_malloc(cap);
    while (got < want) {
        if (got == cap) {
            cap = cap * 2 < want ? cap * 2 : want;
            uint8_t *nb = realloc(buf, cap);
            DNA_CHECK(nb, "run on a node with more memory", "out of memory reading '%s'", path);
            buf = nb;
        }
        size_t r = gz_read(g, buf + got, cap - got, path);
        got += r;
        if (r == 0) break;
    }
    DNA_CHECK(got == want, IDX_HINT, "'%s': expected %zu bytes of %s, found %zu", path, want, what,
              got);
    uint8_t extra;
    DNA_CHECK(gz_read(g, &extra, 1, path) == 0, IDX_HINT,
              "'%s': more data after the %zu bytes of %s the header announces", path, want, what);
    return buf;
}

static uint32_t be32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

// Header: magic, then one big-endian u32 per dimension (the magic's low byte is the rank).
static void idx_header(gzFile g, const char *path, uint32_t magic, int ndim, uint32_t *dims) {
    uint8_t h[16];
    size_t want = 4 + 4 * (size_t)ndim, got = gz_read(g, h, want, path);
    DNA_CHECK(got >= 4, IDX_HINT, "'%s': expected a %zu-byte IDX header, found %zu bytes", path,
              want, got);
    uint32_t m = be32(h);
    DNA_CHECK(m == magic, IDX_HINT, "'%s': IDX magic is 0x%08x, expected 0x%08x (%s)", path, m,
              magic, magic == IDX_IMAGES ? "uint8 images, 3 dims" : "uint8 labels, 1 dim");
    DNA_CHECK(got == want, IDX_HINT, "'%s': expected a %zu-byte IDX header, found %zu bytes", path,
              want, got);
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(h + 4 + 4 * i);
        DNA_CHECK(dims[i] <= (i == 0 ? (uint32_t)INT_MAX : IDX_MAX_SIDE), IDX_HINT,
                  "'%s': IDX dimension %d is %u, too large", path, i, dims[i]);
    }
}

Split idx_read(const char *images_path, const char *labels_path) {
    uint32_t d[3], nl;
    gzFile gi = gz_open(images_path);
    idx_header(gi, images_path, IDX_IMAGES, 3, d);
    DNA_CHECK(d[0] > 0 && d[1] > 0 && d[2] > 0, IDX_HINT, "'%s': empty IDX image array %ux%ux%u",
              images_path, d[0], d[1], d[2]);
    gzFile gl = gz_open(labels_path);
    idx_header(gl, labels_path, IDX_LABELS, 1, &nl);
    DNA_CHECK(
        nl == d[0],
        "use the images and labels of the same split (train-* with train-*, t10k-* with t10k-*)",
        "'%s' holds %u images but '%s' holds %u labels", images_path, d[0], labels_path, nl);
    Split s = {.n = (int)d[0], .c = 1, .h = (int)d[1], .w = (int)d[2]};
    s.images = gz_read_exact(gi, (size_t)d[0] * d[1] * d[2], "pixel data", images_path);
    uint8_t *lab = gz_read_exact(gl, nl, "label data", labels_path);
    gzclose(gi);
    gzclose(gl);
    s.labels = dna_malloc((size_t)s.n * sizeof *s.labels);
    for (int i = 0; i < s.n; i++) s.labels[i] = lab[i];
    free(lab);
    return s;
}

// ---- CIFAR-10 binary ----

static long cifar_records(const char *path) {
    struct stat st;
    DNA_CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode),
              "point the path at the cifar-10-batches-bin directory",
              "cannot read CIFAR-10 file '%s'", path);
    DNA_CHECK(st.st_size > 0 && st.st_size % CIFAR_RECORD == 0, CIFAR_HINT,
              "'%s': size %lld bytes is not a positive multiple of the %d-byte CIFAR-10 record",
              path, (long long)st.st_size, CIFAR_RECORD);
    return (long)(st.st_size / CIFAR_RECORD);
}

// classes <= 0: no label check (the public reader); else labels are checked per file, so the
// message can name the file that holds the bad label.
static Split cifar_read(const char *const *files, int nfiles, int classes) {
    DNA_CHECK(nfiles > 0, "", "cifar10_read: no files given");
    long total = 0;
    for (int i = 0; i < nfiles; i++) total += cifar_records(files[i]);
    DNA_CHECK(total <= INT_MAX, "import fewer files", "CIFAR-10 files hold %ld records, too many",
              total);
    Split s = {.n = (int)total, .c = 3, .h = CIFAR_SIDE, .w = CIFAR_SIDE};
    s.images = dna_malloc((size_t)total * CIFAR_PIXELS);
    s.labels = dna_malloc((size_t)total * sizeof *s.labels);
    uint8_t *rec = dna_malloc(CIFAR_RECORD);
    long at = 0;
    for (int i = 0; i < nfiles; i++) {
        long nrec = cifar_records(files[i]);
        FILE *fp = fopen(files[i], "rb");
        DNA_CHECK(fp, "check the file's permissions", "cannot open CIFAR-10 file '%s'", files[i]);
        for (long r = 0; r < nrec; r++, at++) {
            DNA_CHECK(fread(rec, 1, CIFAR_RECORD, fp) == CIFAR_RECORD, CIFAR_HINT,
                      "'%s': record %ld is incomplete (file changed while read?)", files[i], r);
            DNA_CHECK(classes <= 0 || rec[0] < classes, LABEL_HINT,
                      "'%s': record %ld has label %d, outside [0, %d) for classes = %d", files[i],
                      r, rec[0], classes, classes);
            s.labels[at] = rec[0];
            memcpy(s.images + (size_t)at * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
        fclose(fp);
    }
    free(rec);
    return s;
}

Split cifar10_read(const char *const *files, int nfiles) {
    return cifar_read(files, nfiles, 0);
}

// ---- generic HDF5 ----

static hid_t open_dataset(hid_t f, const char *path, const char *group, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "/%s", group);
    DNA_CHECK(h5_has(f, full), GENERIC_HINT, "'%s' has no group /%s", path, group);
    snprintf(full, sizeof full, "/%s/%s", group, name);
    DNA_CHECK(h5_has(f, full), GENERIC_HINT, "'%s' has no dataset %s", path, full);
    hid_t d = H5Dopen2(f, full, H5P_DEFAULT);
    H5_CHECK(d, path);
    return d;
}

static int dataset_dims(hid_t d, const char *path, const char *name, hsize_t dims[8]) {
    hid_t s = H5Dget_space(d);
    H5_CHECK(s, path);
    int nd = H5Sget_simple_extent_ndims(s);
    DNA_CHECK(nd >= 0 && nd <= 8, GENERIC_HINT, "'%s': %s has rank %d", path, name, nd);
    H5_CHECK(H5Sget_simple_extent_dims(s, dims, NULL), path);
    H5Sclose(s);
    return nd;
}

int32_t *import_read_index(hid_t f, const char *path, const char *name, long *n) {
    DNA_CHECK(h5_has(f, name), GENERIC_HINT, "'%s' has no dataset %s", path, name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5_CHECK(d, path);
    hid_t t = H5Dget_type(d);
    DNA_CHECK(H5Tget_class(t) == H5T_INTEGER, GENERIC_HINT, "'%s': %s is not an integer dataset",
              path, name);
    H5Tclose(t);
    hsize_t dims[8];
    int nd = dataset_dims(d, path, name, dims);
    DNA_CHECK(nd == 1, GENERIC_HINT, "'%s': %s has rank %d, expected 1", path, name, nd);
    DNA_CHECK(dims[0] <= INT_MAX, GENERIC_HINT, "'%s': %s is too long", path, name);
    h5_check_written(d, dims[0], path, name);
    // Read as 64-bit so that no value is silently clipped by HDF5's conversion to int32.
    long long *wide = dna_malloc(dims[0] * sizeof *wide);
    H5_CHECK(H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide), path);
    H5Dclose(d);
    int32_t *v = dna_malloc(dims[0] * sizeof *v);
    for (hsize_t i = 0; i < dims[0]; i++) {
        DNA_CHECK(wide[i] >= 0 && wide[i] <= INT32_MAX, GENERIC_HINT,
                  "'%s': %s[%llu] = %lld is negative or beyond int32", path, name,
                  (unsigned long long)i, wide[i]);
        v[i] = (int32_t)wide[i];
    }
    free(wide);
    *n = (long)dims[0];
    return v;
}

Split hdf5_split_read(const char *path, const char *group) {
    char name[256];
    hid_t f = h5_open_read(path);
    hid_t d = open_dataset(f, path, group, "images");
    hid_t t = H5Dget_type(d);
    H5_CHECK(t, path);
    DNA_CHECK(
        H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Tget_sign(t) == H5T_SGN_NONE,
        "store the pixels as uint8 (0..255)", "'%s': /%s/images is not uint8", path, group);
    H5Tclose(t);
    hsize_t dims[8];
    int nd = dataset_dims(d, path, "images", dims);
    DNA_CHECK(nd == 3 || nd == 4, GENERIC_HINT,
              "'%s': /%s/images has rank %d, expected [N,C,H,W] or [N,H,W]", path, group, nd);
    hsize_t c = nd == 4 ? dims[1] : 1, h = dims[nd - 2], w = dims[nd - 1];
    DNA_CHECK(dims[0] >= 1 && dims[0] <= INT_MAX && c >= 1 && c <= 65535 && h >= 1 && h <= 65535 &&
                  w >= 1 && w <= 65535,
              GENERIC_HINT, "'%s': /%s/images has an empty or oversized shape", path, group);
    Split s = {.n = (int)dims[0], .c = (int)c, .h = (int)h, .w = (int)w};
    snprintf(name, sizeof name, "/%s/images", group);
    h5_check_written(d, (size_t)s.n * c * h * w, path, name);
    s.images = dna_malloc((size_t)s.n * c * h * w);
    H5_CHECK(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.images), path);
    H5Dclose(d);
    snprintf(name, sizeof name, "/%s/labels", group);
    long nl;
    s.labels = import_read_index(f, path, name, &nl);
    DNA_CHECK(nl == s.n, "write one label per image",
              "'%s': /%s/images holds %d images but %s %ld labels", path, group, s.n, name, nl);
    h5_close(f);
    return s;
}

// ---- import dispatch ----

// The IDX name with .gz when that exists, else without (Debian ships .gz, some mirrors not).
static void idx_path(const char *dir, const char *base, char out[1024]) {
    snprintf(out, 1024, "%s/%s.gz", dir, base);
    if (access(out, R_OK) == 0) return;
    snprintf(out, 1024, "%s/%s", dir, base);
    DNA_CHECK(access(out, R_OK) == 0,
              "point the import path at the directory of the IDX files (Debian package "
              "dataset-fashion-mnist: /usr/share/datasets/fashion-mnist)",
              "'%s' has neither %s.gz nor %s", dir, base, base);
}

static Split idx_import(const char *dir, const char *prefix, int classes) {
    char img[1024], lab[1024], base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    idx_path(dir, base, img);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    idx_path(dir, base, lab);
    Split s = idx_read(img, lab);
    split_check_labels(&s, classes, lab);
    return s;
}

void import_read(const DataImport *imp, Split *train, Split *test) {
    DNA_CHECK(imp->classes >= 1, LABEL_HINT, "import of '%s': classes = %d", imp->path,
              imp->classes);
    if (strcmp(imp->source, "idx") == 0) {
        *train = idx_import(imp->path, "train", imp->classes);
        *test = idx_import(imp->path, "t10k", imp->classes);
    } else if (strcmp(imp->source, "cifar10") == 0) {
        char names[6][1024];
        const char *files[6];
        for (int i = 0; i < 6; i++) {
            if (i < 5)
                snprintf(names[i], 1024, "%s/data_batch_%d.bin", imp->path, i + 1);
            else
                snprintf(names[i], 1024, "%s/test_batch.bin", imp->path);
            files[i] = names[i];
        }
        *train = cifar_read(files, 5, imp->classes);
        *test = cifar_read(files + 5, 1, imp->classes);
    } else if (strcmp(imp->source, "hdf5") == 0) {
        char where[1100];
        *train = hdf5_split_read(imp->path, "train");
        snprintf(where, sizeof where, "%s:/train/labels", imp->path);
        split_check_labels(train, imp->classes, where);
        *test = hdf5_split_read(imp->path, "test");
        snprintf(where, sizeof where, "%s:/test/labels", imp->path);
        split_check_labels(test, imp->classes, where);
    } else {
        DNA_FAIL("use one of idx, cifar10, hdf5", "unknown dataset source '%s'", imp->source);
    }
}
