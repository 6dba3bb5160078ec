// Fuzz target, structure-aware: our dataset file (dataset_load) and the generic HDF5 layout
// of `data.source = hdf5` (import_read). The input drives a well-formed HDF5 file written
// here: split sizes, image shapes, ranks and dtypes, label values, the search index, the
// attributes (values, types, missing ones) and NaN/huge/negative values. Byte-level damage
// of the file itself is HDF5's parser, not ours.
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/dataset.h"

typedef struct Args {
    const char *path;
    int import;
} Args;

static void load(void *arg) {
    const Args *a = arg;
    if (a->import) {
        DataImport imp = {.source = "hdf5", .path = a->path, .classes = 3};
        Split tr, te;
        import_read(&imp, &tr, &te);
        split_free(&tr);
        split_free(&te);
    } else {
        Dataset d;
        dataset_load(a->path, &d);
        dataset_free(&d);
    }
}

// One split's images [n, c, h, w] and labels; returns the labels (caller frees) for the
// search index.
static int32_t *write_split(FuzzIn *in, hid_t f, const char *group, int classes, int *n_out,
                            Split *s) {
    char name[64];
    int n = 1 + fz_u8(in) % 12, c = fz_chance(in, 8) ? 3 : 1, hw = 1 + fz_u8(in) % 4;
    hsize_t dims[5] = {(hsize_t)n, (hsize_t)c, (hsize_t)hw, (hsize_t)hw, 1};
    int lazy = 0;
    for (int i = 0; i < 4; i++) {
        long long v = fz_i64(in, (long long)dims[i]);
        if (v != (long long)dims[i]) lazy = 1;  // a shape the pixels below do not fill
        dims[i] = (hsize_t)v;
    }
    int nd = fz_chance(in, 10) ? 3 + fz_u8(in) % 3 - (fz_u8(in) & 1) : 4;  // 2..5
    if (nd == 3) dims[1] = dims[2], dims[2] = dims[3];
    size_t total = 1;
    for (int i = 0; i < nd; i++) total *= dims[i];
    if (lazy || nd != 4) total = 0;
    double *px = calloc(total ? total : 1, sizeof *px);
    for (size_t i = 0; i < total; i++) px[i] = fz_u8(in);
    hid_t t = fz_type(in, H5T_NATIVE_UINT8);
    snprintf(name, sizeof name, "/%s/images", group);
    if (!fz_chance(in, 40)) fh5_dataset(f, name, t, nd, dims, px, total, lazy);
    fz_type_close(t);
    if (total) {
        *s = (Split){.n = n, .c = c, .h = hw, .w = hw, .images = malloc(total)};
        for (size_t i = 0; i < total; i++) s->images[i] = (uint8_t)px[i];
    }
    free(px);
    int32_t *lab = malloc(sizeof *lab * (size_t)n);
    double *lv = malloc(sizeof *lv * (size_t)n);
    for (int i = 0; i < n; i++) {
        lab[i] = i % classes;
        lv[i] = (double)fz_i64(in, lab[i]);
    }
    hsize_t nl = (hsize_t)(n - (fz_chance(in, 30) ? 1 : 0));
    t = fz_type(in, H5T_NATIVE_INT32);
    snprintf(name, sizeof name, "/%s/labels", group);
    if (!fz_chance(in, 40)) fh5_dataset(f, name, t, 1, &nl, lv, nl, 0);
    fz_type_close(t);
    free(lv);
    *n_out = n;
    return lab;
}

static void write_file(FuzzIn *in, const char *path) {
    hid_t f = fh5_create(path);
    if (f < 0) return;
    int classes = 1 + fz_u8(in) % 3, n, nt;
    Split tr = {0}, te = {0};
    int32_t *lab = write_split(in, f, "train", classes, &n, &tr);
    free(write_split(in, f, "test", classes, &nt, &te));
    // search split: the first image of each class (the file's order), per_class = 1
    double idx[16];
    int ns = 0;
    for (int c = 0; c < classes; c++)
        for (int i = 0; i < n; i++)
            if (lab[i] == c) {
                idx[ns++] = i;
                break;
            }
    for (int i = 1; i < ns; i++)  // sorted ascending
        for (int j = i; j > 0 && idx[j] < idx[j - 1]; j--) {
            double x = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = x;
        }
    for (int i = 0; i < ns; i++) idx[i] = (double)fz_i64(in, (long long)idx[i]);
    hsize_t hs = (hsize_t)ns;
    hid_t t = fz_type(in, H5T_NATIVE_INT32);
    if (!fz_chance(in, 40)) fh5_dataset(f, "/search/index", t, 1, &hs, idx, (size_t)ns, 0);
    fz_type_close(t);
    free(lab);
    double mean[4] = {0.5, 0.5, 0.5, 0.5}, std[4] = {0.3, 0.3, 0.3, 0.3};
    int c = tr.images ? tr.c : 1;
    if (tr.images) split_mean_std(&tr, mean, std);
    for (int i = 0; i < 4; i++) mean[i] = fz_f64(in, mean[i]), std[i] = fz_f64(in, std[i]);
    int nc = fz_chance(in, 20) ? fz_u8(in) % 5 : c;
    const char *names[] = {"format_version", "classes", "search_per_class", "search_seed"};
    long long vals[] = {DATASET_FORMAT, classes, ns == classes ? 1 : 0, 7};
    for (int i = 0; i < 4; i++) {
        if (fz_chance(in, 40)) continue;
        t = fz_type(in, H5T_NATIVE_LLONG);
        fh5_attr_i64(f, names[i], t, fz_i64(in, vals[i]));
        fz_type_close(t);
    }
    if (!fz_chance(in, 40))
        fh5_attr_str(f, "source", fz_chance(in, 20) ? "" : "hdf5-fuzz-source-x");
    if (!fz_chance(in, 40)) fh5_attr_f64s(f, "mean", mean, nc);
    if (!fz_chance(in, 40)) fh5_attr_f64s(f, "std", std, nc);
    split_free(&tr);
    split_free(&te);
    fh5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    FuzzIn in = {data, size, 0};
    char path[300];
    fuzz_path(path, sizeof path, "dataset.h5");
    Args a = {path, fz_u8(&in) & 1};
    write_file(&in, path);
    fuzz_call(load, &a);
    return 0;
}
