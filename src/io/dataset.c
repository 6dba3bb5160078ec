// Our dataset file (doc/design.md §3, layout in dataset.h): import (read a source, draw the search
// split, compute mean/std, write atomically) and a load that trusts nothing it reads. The
// search split rule lives here too, so import and load agree on what it means.
#include "io/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define REIMPORT_HINT "the file is corrupt or from another version: import the dataset again"

void dataset_search_split(const int32_t *labels, int n, int classes, int per_class,
                          unsigned long long seed, int32_t **search, int *n_search, int32_t **fit,
                          int *n_fit) {
    DNA_CHECK(per_class >= 0, "set search_per_class to 0 or more", "search_per_class = %d",
              per_class);
    // Counting sort by class keeps each class's indices in ascending order, the order the
    // shuffle starts from.
    int *start = dna_calloc((size_t)classes + 1, sizeof *start);
    for (int i = 0; i < n; i++) {
        DNA_CHECK(labels[i] >= 0 && labels[i] < classes, "validate labels before the split",
                  "sample %d has label %d, outside [0, %d)", i, (int)labels[i], classes);
        start[labels[i] + 1]++;
    }
    for (int c = 0; c < classes; c++) {
        DNA_CHECK(start[c + 1] >= per_class,
                  "lower search_per_class to at most the smallest class's training count",
                  "class %d has %d training images, fewer than search_per_class = %d", c,
                  start[c + 1], per_class);
        start[c + 1] += start[c];
    }
    int *by_class = dna_malloc((size_t)n * sizeof *by_class),
        *fill = dna_malloc((size_t)classes * sizeof *fill);
    memcpy(fill, start, (size_t)classes * sizeof *fill);
    for (int i = 0; i < n; i++) by_class[fill[labels[i]]++] = i;
    uint8_t *in_search = dna_calloc((size_t)n, 1);
    Rng root = rng_new(seed);
    for (int c = 0; c < classes; c++) {
        Rng r = rng_split(&root, (uint64_t)c);
        rng_shuffle(&r, by_class + start[c], start[c + 1] - start[c]);
        for (int k = 0; k < per_class; k++) in_search[by_class[start[c] + k]] = 1;
    }
    *n_search = per_class * classes;
    *n_fit = n - *n_search;
    *search = dna_malloc((size_t)*n_search * sizeof **search);
    *fit = dna_malloc((size_t)*n_fit * sizeof **fit);
    for (int i = 0, s = 0, f = 0; i < n; i++) {
        if (in_search[i])
            (*search)[s++] = i;
        else
            (*fit)[f++] = i;
    }
    free(in_search);
    free(fill);
    free(by_class);
    free(start);
}

void split_mean_std(const Split *s, double *mean, double *std) {
    // Histogram first: exact integer counts, then one pass of 256 terms per channel in double.
    size_t plane = (size_t)s->h * s->w;
    for (int c = 0; c < s->c; c++) {
        unsigned long long hist[256] = {0};
        for (int i = 0; i < s->n; i++) {
            const uint8_t *p = s->images + ((size_t)i * s->c + c) * plane;
            for (size_t k = 0; k < plane; k++) hist[p[k]]++;
        }
        double count = (double)s->n * (double)plane, sum = 0, ss = 0;
        for (int v = 0; v < 256; v++) sum += (double)hist[v] * (v / 255.0);
        mean[c] = sum / count;
        for (int v = 0; v < 256; v++) {
            double d = v / 255.0 - mean[c];
            ss += (double)hist[v] * d * d;
        }
        std[c] = sqrt(ss / count);
    }
}

static void check_stats(const double *mean, const double *std, int c, const char *path) {
    for (int k = 0; k < c; k++)
        DNA_CHECK(std[k] > 0 && isfinite(std[k]) && mean[k] >= 0 && mean[k] <= 1,
                  "a constant channel cannot be normalised: check the source images",
                  "'%s': channel %d has mean %g and std %g (need std > 0)", path, k, mean[k],
                  std[k]);
}

static void check_shapes(const Split *tr, const Split *te, const char *path) {
    DNA_CHECK(tr->c == te->c && tr->h == te->h && tr->w == te->w,
              "train and test must hold images of one shape",
              "'%s': train images are %dx%dx%d (CxHxW) but test images are %dx%dx%d", path, tr->c,
              tr->h, tr->w, te->c, te->h, te->w);
    DNA_CHECK(tr->c <= DATASET_MAX_C, "convert the images to at most 4 channels",
              "'%s': images have %d channels, at most %d are supported", path, tr->c,
              DATASET_MAX_C);
}

static void write_split(hid_t f, const char *group, const Split *s, const char *path) {
    char name[64];
    long dims[4] = {s->n, s->c, s->h, s->w};
    snprintf(name, sizeof name, "/%s/images", group);
    h5_write(f, name, H5T_NATIVE_UINT8, s->images, 4, dims, path);
    snprintf(name, sizeof name, "/%s/labels", group);
    h5_write(f, name, H5T_NATIVE_INT32, s->labels, 1, dims, path);
}

void dataset_import(const DataImport *imp, const H5Prov *prov, const char *out_path) {
    Split tr, te;
    import_read(imp, &tr, &te);
    // The first N, not a random subset: a quick run sees the same images whatever its seed.
    if (imp->limit_train > 0 && imp->limit_train < tr.n) tr.n = imp->limit_train;
    if (imp->limit_test > 0 && imp->limit_test < te.n) te.n = imp->limit_test;
    check_shapes(&tr, &te, imp->path);
    DNA_CHECK((!imp->expect_c || tr.c == imp->expect_c) &&
                  (!imp->expect_hw || (tr.h == imp->expect_hw && tr.w == imp->expect_hw)),
              "set [data] channels and image_size to the dataset's",
              "'%s': images are %dx%dx%d, the config expects %dx%dx%d", imp->path, tr.c, tr.h, tr.w,
              imp->expect_c, imp->expect_hw, imp->expect_hw);
    int want_n = imp->limit_train > 0 && imp->limit_train < imp->expect_train ? imp->limit_train
                                                                               : imp->expect_train;
    DNA_CHECK(!want_n || tr.n == want_n, "set [data] train_size to the dataset's",
              "'%s': %d training images, the config expects %d", imp->path, tr.n, want_n);
    double mean[DATASET_MAX_C], std[DATASET_MAX_C];
    split_mean_std(&tr, mean, std);
    check_stats(mean, std, tr.c, imp->path);
    int32_t *search, *fit;
    int n_search, n_fit;
    dataset_search_split(tr.labels, tr.n, imp->classes, imp->search_per_class, imp->seed, &search,
                         &n_search, &fit, &n_fit);

    char tmp[1024];
    hid_t f = h5_create_tmp(out_path, tmp);
    write_split(f, "train", &tr, tmp);
    write_split(f, "test", &te, tmp);
    long ns = n_search;
    h5_write(f, "/search/index", H5T_NATIVE_INT32, search, 1, &ns, tmp);
    h5_attr_i64(f, "classes", imp->classes, tmp);
    h5_attr_str(f, "source", imp->source, tmp);
    h5_attr_f64(f, "mean", mean, tr.c, tmp);
    h5_attr_f64(f, "std", std, tr.c, tmp);
    h5_attr_i64(f, "search_per_class", imp->search_per_class, tmp);
    h5_attr_i64(f, "search_seed", (long long)imp->seed, tmp);
    H5Prov p = prov ? *prov : (H5Prov){0};
    p.format = DATASET_FORMAT;
    h5_attr_prov(f, &p, tmp);
    h5_commit(f, tmp, out_path);

    free(search);
    free(fit);
    split_free(&tr);
    split_free(&te);
}

static void load_labels(const Split *s, int classes, const char *path, const char *group) {
    char where[1100];
    snprintf(where, sizeof where, "%s:/%s/labels", path, group);
    split_check_labels(s, classes, where);
}

// Sorted, unique, in range and exactly per_class of each class: what the split rule makes.
static void check_search(const Dataset *d, const char *path) {
    int *count = dna_calloc((size_t)d->classes, sizeof *count);
    for (int i = 0; i < d->n_search; i++) {
        int v = d->search[i];
        DNA_CHECK(v < d->train.n, REIMPORT_HINT,
                  "'%s': /search/index[%d] = %d, but train has %d images", path, i, v, d->train.n);
        DNA_CHECK(i == 0 || v > d->search[i - 1], REIMPORT_HINT,
                  "'%s': /search/index is not sorted and unique at position %d (%d after %d)", path,
                  i, v, (int)d->search[i - 1]);
        count[d->train.labels[v]]++;
    }
    for (int c = 0; c < d->classes; c++)
        DNA_CHECK(count[c] == d->search_per_class, REIMPORT_HINT,
                  "'%s': /search/index holds %d images of class %d, expected search_per_class = %d",
                  path, count[c], c, d->search_per_class);
    free(count);
}

void dataset_load(const char *path, Dataset *d) {
    *d = (Dataset){0};
    hid_t f = h5_open_read(path);
    long long fmt = h5_read_attr_i64(f, "format_version", path);
    DNA_CHECK(fmt == DATASET_FORMAT, "import the dataset again with this version",
              "'%s' has dataset format %lld, expected %d", path, fmt, DATASET_FORMAT);
    long long classes = h5_read_attr_i64(f, "classes", path);
    DNA_CHECK(classes >= 1 && classes <= 1 << 24, REIMPORT_HINT, "'%s': classes = %lld", path,
              classes);
    d->classes = (int)classes;
    char *src = h5_read_attr_str(f, "source", path);
    snprintf(d->source, sizeof d->source, "%s", src);
    free(src);
    long long per = h5_read_attr_i64(f, "search_per_class", path);
    DNA_CHECK(per >= 0 && per <= 1 << 30, REIMPORT_HINT, "'%s': search_per_class = %lld", path,
              per);
    d->search_per_class = (int)per;
    d->search_seed = (unsigned long long)h5_read_attr_i64(f, "search_seed", path);
    long ns;
    d->search = import_read_index(f, path, "/search/index", &ns);
    d->n_search = (int)ns;

    d->train = hdf5_split_read(path, "train");
    d->test = hdf5_split_read(path, "test");
    check_shapes(&d->train, &d->test, path);
    load_labels(&d->train, d->classes, path, "train");
    load_labels(&d->test, d->classes, path, "test");
    h5_read_attr_f64(f, "mean", d->mean, d->train.c, path);
    h5_read_attr_f64(f, "std", d->std, d->train.c, path);
    h5_close(f);
    check_stats(d->mean, d->std, d->train.c, path);
    // The stats must describe these images: a mismatch means images or attrs were edited.
    double mean[DATASET_MAX_C], std[DATASET_MAX_C];
    split_mean_std(&d->train, mean, std);
    for (int c = 0; c < d->train.c; c++)
        DNA_CHECK(fabs(mean[c] - d->mean[c]) <= 1e-9 && fabs(std[c] - d->std[c]) <= 1e-9,
                  REIMPORT_HINT, "'%s': channel %d mean/std attrs %g/%g, the images give %g/%g",
                  path, c, d->mean[c], d->std[c], mean[c], std[c]);
    check_search(d, path);

    d->n_fit = d->train.n - d->n_search;
    d->fit = dna_malloc((size_t)d->n_fit * sizeof *d->fit);
    for (int i = 0, s = 0, k = 0; i < d->train.n; i++) {
        if (s < d->n_search && d->search[s] == i)
            s++;
        else
            d->fit[k++] = i;
    }
}

void dataset_free(Dataset *d) {
    split_free(&d->train);
    split_free(&d->test);
    free(d->search);
    free(d->fit);
    *d = (Dataset){0};
}
