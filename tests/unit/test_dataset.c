// Dataset import and load: IDX (gzip and plain) and CIFAR-10 readers with their corrupt
// cases, the search split rule, mean/std, and import -> load round trips (idx, and hdf5 on
// our own output). Files are written into a fresh mkdtemp directory per test.
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/rng.h"
#include "harness.h"
#include "io/dataset.h"

static const H5Prov PROV = {.config_hash = "cafe", .seed = 1, .git_rev = "test", .version = "test"};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static void rm_tree(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
static char *make_tmpdir(char buf[64]) {
    snprintf(buf, 64, "/tmp/dnafam_ds_XXXXXX");
    return mkdtemp(buf);
}

static void put_be32(uint8_t *b, uint32_t v) {
    b[0] = v >> 24, b[1] = v >> 16, b[2] = v >> 8, b[3] = v;
}

// An IDX file: magic, dims, then `nbytes` of data (fewer than the dims announce = truncated).
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int ndim,
                      const uint8_t *data, size_t nbytes) {
    uint8_t h[16];
    put_be32(h, magic);
    for (int i = 0; i < ndim; i++) put_be32(h + 4 + 4 * i, dims[i]);
    size_t hn = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile g = gzopen(path, "wb");
        gzwrite(g, h, (unsigned)hn);
        if (nbytes) gzwrite(g, data, (unsigned)nbytes);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(h, 1, hn, f);
        fwrite(data, 1, nbytes, f);
        fclose(f);
    }
}

// A small IDX split: n images h x w with varied pixels, labels i % classes.
typedef struct {
    int n, h, w, classes;
    uint8_t *px, *lab;
} IdxData;

static IdxData idx_data(int n, int h, int w, int classes, unsigned seed) {
    IdxData d = {n, h, w, classes, malloc((size_t)n * h * w), malloc((size_t)n)};
    Rng r = rng_new(seed);
    for (int i = 0; i < n * h * w; i++) d.px[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < n; i++) d.lab[i] = (uint8_t)(i % classes);
    return d;
}

static void write_idx_pair(const char *dir, const char *prefix, const IdxData *d, int gz) {
    char p[256];
    uint32_t dims[3] = {(uint32_t)d->n, (uint32_t)d->h, (uint32_t)d->w}, nl = (uint32_t)d->n;
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(p, gz, 0x803, dims, 3, d->px, (size_t)d->n * d->h * d->w);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx(p, gz, 0x801, &nl, 1, d->lab, (size_t)d->n);
}

static void check_split_equals(const Split *s, const IdxData *d, const char *what) {
    T_CHECK(s->n == d->n && s->c == 1 && s->h == d->h && s->w == d->w,
            "%s: shape %dx%dx%dx%d, want %dx1x%dx%d", what, s->n, s->c, s->h, s->w, d->n, d->h,
            d->w);
    if (s->n != d->n || s->h != d->h || s->w != d->w) return;
    T_CHECK(memcmp(s->images, d->px, (size_t)d->n * d->h * d->w) == 0, "%s: pixels differ", what);
    int bad = 0;
    for (int i = 0; i < d->n; i++) bad += s->labels[i] != d->lab[i];
    T_CHECK(bad == 0, "%s: %d labels differ", what, bad);
}

TEST(idx_reads_gzip_and_plain) {
    char buf[64], *dir = make_tmpdir(buf), ip[256], lp[256];
    IdxData d = idx_data(7, 3, 5, 4, 1);
    for (int gz = 0; gz < 2; gz++) {
        write_idx_pair(dir, "train", &d, gz);
        snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte%s", dir, gz ? ".gz" : "");
        snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte%s", dir, gz ? ".gz" : "");
        Split s = idx_read(ip, lp);
        check_split_equals(&s, &d, gz ? "gzip" : "plain");
        split_free(&s);
    }
    free(d.px), free(d.lab);
    rm_tree(dir);
}

typedef struct {
    char img[256], lab[256];
} PathPair;

static void read_pair(void *arg) {
    PathPair *p = arg;
    idx_read(p->img, p->lab);
}

TEST(idx_corrupt_files_fail_naming_the_file) {
    char buf[64], *dir = make_tmpdir(buf);
    IdxData d = idx_data(6, 4, 3, 3, 2);
    uint32_t dims[3] = {6, 4, 3}, six = 6, five = 5;
    PathPair p;
    snprintf(p.img, sizeof p.img, "%s/img.gz", dir);
    snprintf(p.lab, sizeof p.lab, "%s/lab.gz", dir);
    write_idx(p.lab, 1, 0x801, &six, 1, d.lab, 6);

    write_idx(p.img, 1, 0x802, dims, 3, d.px, 72);  // wrong magic
    T_EXPECT_DEATH(read_pair, &p, "img.gz': IDX magic is 0x00000802, expected 0x00000803");
    write_idx(p.img, 1, 0x803, dims, 3, d.px, 60);  // one image short
    T_EXPECT_DEATH(read_pair, &p, "img.gz': expected 72 bytes of pixel data, found 60");
    T_EXPECT_DEATH(read_pair, &p, "fix: the file is truncated or not IDX");
    write_idx(p.img, 0, 0x803, dims, 2, d.px, 0);  // header cut short, plain file
    T_EXPECT_DEATH(read_pair, &p, "img.gz': expected a 16-byte IDX header, found 12 bytes");
    write_idx(p.img, 1, 0x803, dims, 3, d.px, 72);
    write_idx(p.lab, 1, 0x801, &five, 1, d.lab, 5);  // 6 images, 5 labels
    T_EXPECT_DEATH(read_pair, &p, "img.gz' holds 6 images but");
    T_EXPECT_DEATH(read_pair, &p, "lab.gz' holds 5 labels");
    write_idx(p.lab, 1, 0x801, &six, 1, d.lab, 6);
    Split ok = idx_read(p.img, p.lab);  // the repaired pair reads: the deaths came from the faults
    T_CHECK(ok.n == 6 && ok.h == 4 && ok.w == 3, "repaired pair: %dx%dx%d", ok.n, ok.h, ok.w);
    split_free(&ok);
    free(d.px), free(d.lab);
    rm_tree(dir);
}

typedef struct {
    DataImport imp;
    char out[256];
} ImportArg;

static void do_import(void *arg) {
    ImportArg *a = arg;
    dataset_import(&a->imp, &PROV, a->out);
}

TEST(idx_label_out_of_range_fails_naming_the_file) {
    char buf[64], *dir = make_tmpdir(buf);
    IdxData tr = idx_data(8, 2, 2, 4, 3), te = idx_data(4, 2, 2, 4, 4);
    write_idx_pair(dir, "train", &tr, 1);
    write_idx_pair(dir, "t10k", &te, 0);
    ImportArg a = {{.source = "idx", .path = dir, .classes = 3, .search_per_class = 0, .seed = 1}, ""};  // label 3 in train is out of range for 3
    snprintf(a.out, sizeof a.out, "%s/out.h5", dir);
    T_EXPECT_DEATH(do_import, &a, "train-labels-idx1-ubyte.gz': sample 3 has label 3");
    a.imp.classes = 4;  // train fine; now a test label
    te.lab[2] = 9;
    write_idx_pair(dir, "t10k", &te, 0);
    T_EXPECT_DEATH(do_import, &a, "t10k-labels-idx1-ubyte': sample 2 has label 9");
    T_CHECK(access(a.out, F_OK) != 0, "a failed import left '%s' behind", a.out);
    free(tr.px), free(tr.lab), free(te.px), free(te.lab);
    rm_tree(dir);
}

static void write_cifar(const char *path, int nrec, int label0, uint8_t *img_out, int32_t *lab_out,
                        size_t extra) {
    FILE *f = fopen(path, "wb");
    for (int r = 0; r < nrec; r++) {
        uint8_t rec[3073];
        rec[0] = (uint8_t)((label0 + r) % 10);
        for (int k = 0; k < 3072; k++) rec[1 + k] = (uint8_t)(k * 7 + r * 13 + label0);
        fwrite(rec, 1, sizeof rec, f);
        if (img_out) memcpy(img_out + (size_t)r * 3072, rec + 1, 3072);
        if (lab_out) lab_out[r] = rec[0];
    }
    for (size_t i = 0; i < extra; i++) fputc(0, f);
    fclose(f);
}

static void read_cifar_one(void *arg) {
    const char *files[1] = {arg};
    cifar10_read(files, 1);
}

TEST(cifar10_round_trip_and_bad_size) {
    char buf[64], *dir = make_tmpdir(buf), a[256], b[256];
    snprintf(a, sizeof a, "%s/data_batch_1.bin", dir);
    snprintf(b, sizeof b, "%s/data_batch_2.bin", dir);
    uint8_t *img = malloc(5 * 3072);
    int32_t lab[5];
    write_cifar(a, 3, 8, img, lab, 0);  // labels 8, 9, 0
    write_cifar(b, 2, 4, img + 3 * 3072, lab + 3, 0);
    const char *files[2] = {a, b};
    Split s = cifar10_read(files, 2);
    T_CHECK(s.n == 5 && s.c == 3 && s.h == 32 && s.w == 32, "shape %dx%dx%dx%d", s.n, s.c, s.h,
            s.w);
    if (s.n == 5) {
        T_CHECK(memcmp(s.images, img, 5 * 3072) == 0, "pixels differ");
        T_CHECK(memcmp(s.labels, lab, sizeof lab) == 0, "labels differ");
        T_CHECK(s.labels[1] == 9 && s.labels[2] == 0 && s.labels[3] == 4, "labels %d %d %d",
                s.labels[1], s.labels[2], s.labels[3]);
    }
    split_free(&s);
    write_cifar(b, 2, 4, NULL, NULL, 5);
    T_EXPECT_DEATH(read_cifar_one, b,
                   "data_batch_2.bin': size 6151 bytes is not a positive "
                   "multiple of the 3073-byte CIFAR-10 record");
    free(img);
    rm_tree(dir);
}

// The spec of the rule, written out directly: per class, ascending indices shuffled by
// rng_split(root, c), first per_class taken.
static void split_by_spec(const int32_t *labels, int n, int classes, int per, uint64_t seed,
                          uint8_t *in_search) {
    memset(in_search, 0, (size_t)n);
    Rng root = rng_new(seed);
    int *idx = malloc((size_t)n * sizeof *idx);
    for (int c = 0; c < classes; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == c) idx[m++] = i;
        Rng r = rng_split(&root, (uint64_t)c);
        rng_shuffle(&r, idx, m);
        for (int k = 0; k < per; k++) in_search[idx[k]] = 1;
    }
    free(idx);
}

static void split_short_class(void *arg) {
    (void)arg;
    int32_t labels[6] = {0, 1, 1, 0, 1, 1}, *s, *f;
    int ns, nf;
    dataset_search_split(labels, 6, 2, 3, 1, &s, &ns, &f, &nf);
}

TEST(search_split_is_seeded_balanced_and_partitions_train) {
    enum { N = 300, K = 4, PER = 7 };
    int32_t labels[N];
    Rng r = rng_new(5);
    for (int i = 0; i < N; i++) labels[i] = (int32_t)rng_below(&r, K);  // unequal class sizes
    int32_t *s1, *f1, *s2, *f2, *s3, *f3;
    int ns1, nf1, ns2, nf2, ns3, nf3;
    dataset_search_split(labels, N, K, PER, 11, &s1, &ns1, &f1, &nf1);
    dataset_search_split(labels, N, K, PER, 11, &s2, &ns2, &f2, &nf2);
    dataset_search_split(labels, N, K, PER, 12, &s3, &ns3, &f3, &nf3);
    T_CHECK(ns1 == K * PER && nf1 == N - K * PER, "sizes %d + %d", ns1, nf1);
    T_CHECK(ns2 == ns1 && memcmp(s1, s2, (size_t)ns1 * 4) == 0, "same seed, different split");
    T_CHECK(ns3 == ns1 && memcmp(s1, s3, (size_t)ns1 * 4) != 0, "seeds 11 and 12 give one split");
    int per_class[K] = {0}, seen[N] = {0};
    for (int i = 0; i < ns1; i++) {
        T_CHECK(i == 0 || s1[i] > s1[i - 1], "search not sorted at %d", i);
        per_class[labels[s1[i]]]++;
        seen[s1[i]]++;
    }
    for (int i = 0; i < nf1; i++) {
        T_CHECK(i == 0 || f1[i] > f1[i - 1], "fit not sorted at %d", i);
        seen[f1[i]]++;
    }
    for (int c = 0; c < K; c++) T_CHECK(per_class[c] == PER, "class %d: %d", c, per_class[c]);
    int once = 0;
    for (int i = 0; i < N; i++) once += seen[i] == 1;
    T_CHECK(once == N, "%d of %d samples in exactly one of search/fit", once, N);
    uint8_t spec[N];
    split_by_spec(labels, N, K, PER, 11, spec);
    int diff = 0;
    for (int i = 0, k = 0; i < N; i++) {
        int in = k < ns1 && s1[k] == i;
        k += in;
        diff += in != spec[i];
    }
    T_CHECK(diff == 0, "%d samples differ from the documented rule", diff);
    free(s1), free(f1), free(s2), free(f2), free(s3), free(f3);

    dataset_search_split(labels, N, K, 0, 11, &s1, &ns1, &f1, &nf1);
    T_CHECK(ns1 == 0 && nf1 == N && f1[N - 1] == N - 1, "per_class 0: %d + %d", ns1, nf1);
    free(s1), free(f1);
    T_EXPECT_DEATH(split_short_class, NULL,
                   "class 0 has 2 training images, fewer than search_per_class = 3");
}

static void direct_mean_std(const Split *s, int c, double *mean, double *std) {
    size_t plane = (size_t)s->h * s->w;
    double sum = 0, ss = 0, cnt = (double)s->n * plane;
    for (int i = 0; i < s->n; i++)
        for (size_t k = 0; k < plane; k++)
            sum += s->images[((size_t)i * s->c + c) * plane + k] / 255.0;
    *mean = sum / cnt;
    for (int i = 0; i < s->n; i++)
        for (size_t k = 0; k < plane; k++) {
            double d = s->images[((size_t)i * s->c + c) * plane + k] / 255.0 - *mean;
            ss += d * d;
        }
    *std = sqrt(ss / cnt);
}

TEST(mean_std_match_direct_computation) {
    Split s = {.n = 5, .c = 3, .h = 4, .w = 3};
    s.images = malloc(5 * 3 * 4 * 3);
    Rng r = rng_new(9);
    for (int i = 0; i < 180; i++) s.images[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < 5; i++)  // channel 1 darker: channels differ in both stats
        for (int k = 0; k < 12; k++) s.images[(i * 3 + 1) * 12 + k] /= 4;
    double mean[4], std[4];
    split_mean_std(&s, mean, std);
    for (int c = 0; c < 3; c++) {
        double m, sd;
        direct_mean_std(&s, c, &m, &sd);
        T_NEAR(mean[c], m, 1e-14, 0, "mean");
        T_NEAR(std[c], sd, 1e-14, 0, "std");
    }
    T_CHECK(mean[1] < mean[0] - 0.2, "channel 1 should be darker: %g vs %g", mean[1], mean[0]);
    free(s.images);
}

static void check_dataset(const Dataset *d, const IdxData *tr, const IdxData *te, int per,
                          uint64_t seed, const char *source) {
    T_CHECK(strcmp(d->source, source) == 0, "source '%s', want '%s'", d->source, source);
    T_CHECK(d->classes == tr->classes, "classes %d", d->classes);
    check_split_equals(&d->train, tr, "train");
    check_split_equals(&d->test, te, "test");
    int32_t *s, *f;
    int ns, nf;
    dataset_search_split(d->train.labels, d->train.n, d->classes, per, seed, &s, &ns, &f, &nf);
    T_CHECK(d->n_search == ns && memcmp(d->search, s, (size_t)ns * 4) == 0, "search split differs");
    T_CHECK(d->n_fit == nf && memcmp(d->fit, f, (size_t)nf * 4) == 0, "fit split differs");
    T_CHECK(d->search_per_class == per && d->search_seed == seed, "split attrs %d %llu",
            d->search_per_class, d->search_seed);
    double m, sd;
    direct_mean_std(&d->train, 0, &m, &sd);
    T_NEAR(d->mean[0], m, 1e-14, 0, "mean");
    T_NEAR(d->std[0], sd, 1e-14, 0, "std");
    free(s), free(f);
}

TEST(dataset_import_load_round_trip_idx_and_hdf5) {
    char buf[64], *dir = make_tmpdir(buf), out[256], out2[256];
    IdxData tr = idx_data(40, 5, 6, 4, 21), te = idx_data(12, 5, 6, 4, 22);
    write_idx_pair(dir, "train", &tr, 1);
    write_idx_pair(dir, "t10k", &te, 0);
    snprintf(out, sizeof out, "%s/fmnist.h5", dir);
    DataImport imp = {.source = "idx", .path = dir, .classes = 4, .search_per_class = 3, .seed = 77};
    dataset_import(&imp, &PROV, out);
    Dataset d;
    dataset_load(out, &d);
    check_dataset(&d, &tr, &te, 3, 77, "idx");
    T_CHECK(d.n_search == 12 && d.n_fit == 28, "split sizes %d + %d", d.n_search, d.n_fit);
    dataset_free(&d);

    snprintf(out2, sizeof out2, "%s/again.h5", dir);
    DataImport again = {.source = "hdf5", .path = out, .classes = 4, .search_per_class = 0, .seed = 5};  // our own file as generic input, no search split
    dataset_import(&again, &PROV, out2);
    dataset_load(out2, &d);
    check_dataset(&d, &tr, &te, 0, 5, "hdf5");
    T_CHECK(d.n_search == 0 && d.n_fit == 40, "split sizes %d + %d", d.n_search, d.n_fit);
    dataset_free(&d);
    hid_t f = h5_open_read(out2);
    T_CHECK(h5_read_attr_i64(f, "format_version", out2) == DATASET_FORMAT, "format version");
    char *hash = h5_read_attr_str(f, "config_hash", out2);
    T_CHECK(strcmp(hash, "cafe") == 0, "config_hash '%s'", hash);
    free(hash);
    h5_close(f);
    free(tr.px), free(tr.lab), free(te.px), free(te.lab);
    rm_tree(dir);
}

TEST(hdf5_generic_layout_without_channel_dim_and_int64_labels) {
    char buf[64], *dir = make_tmpdir(buf), path[256];
    snprintf(path, sizeof path, "%s/gen.h5", dir);
    uint8_t px[3 * 2 * 2] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 255};
    long long lab[3] = {2, 0, 1};
    long dims[3] = {3, 2, 2};
    char tmp[1024];
    hid_t f = h5_create_tmp(path, tmp);
    h5_write(f, "/train/images", H5T_NATIVE_UINT8, px, 3, dims, tmp);
    h5_write(f, "/train/labels", H5T_NATIVE_LLONG, lab, 1, dims, tmp);
    h5_commit(f, tmp, path);
    Split s = hdf5_split_read(path, "train");
    T_CHECK(s.n == 3 && s.c == 1 && s.h == 2 && s.w == 2, "shape %dx%dx%dx%d", s.n, s.c, s.h, s.w);
    T_CHECK(s.n == 3 && memcmp(s.images, px, sizeof px) == 0, "pixels differ");
    T_CHECK(s.n == 3 && s.labels[0] == 2 && s.labels[1] == 0 && s.labels[2] == 1, "labels differ");
    split_free(&s);
    rm_tree(dir);
}

typedef struct {
    char path[256];
} LoadArg;

static void do_load(void *arg) {
    Dataset d;
    dataset_load(((LoadArg *)arg)->path, &d);
}

// Overwrites a whole int32 dataset of an existing file, as a hand edit would.
static void poke_i32(const char *path, const char *name, const int32_t *v) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Fclose(f);
}

TEST(dataset_load_rejects_edited_files) {
    char buf[64], *dir = make_tmpdir(buf);
    IdxData tr = idx_data(12, 3, 3, 3, 31), te = idx_data(6, 3, 3, 3, 32);
    write_idx_pair(dir, "train", &tr, 0);
    write_idx_pair(dir, "t10k", &te, 0);
    LoadArg a;
    snprintf(a.path, sizeof a.path, "%s/ds.h5", dir);
    DataImport imp = {.source = "idx", .path = dir, .classes = 3, .search_per_class = 2, .seed = 1};
    dataset_import(&imp, &PROV, a.path);
    Dataset d;
    dataset_load(a.path, &d);  // loads before the edits
    int32_t search[6], labels[12];
    memcpy(search, d.search, sizeof search);
    memcpy(labels, d.train.labels, sizeof labels);
    dataset_free(&d);

    int32_t swapped[6];
    memcpy(swapped, search, sizeof swapped);
    swapped[0] = search[1], swapped[1] = search[0];
    poke_i32(a.path, "/search/index", swapped);
    T_EXPECT_DEATH(do_load, &a, "ds.h5': /search/index is not sorted and unique at position 1");
    int32_t dup[6];
    memcpy(dup, search, sizeof dup);
    dup[1] = dup[0];
    poke_i32(a.path, "/search/index", dup);
    T_EXPECT_DEATH(do_load, &a, "ds.h5': /search/index is not sorted and unique at position 1");
    int32_t far[6];
    memcpy(far, search, sizeof far);
    far[5] = 12;
    poke_i32(a.path, "/search/index", far);
    T_EXPECT_DEATH(do_load, &a, "ds.h5': /search/index[5] = 12, but train has 12 images");
    poke_i32(a.path, "/search/index", search);
    labels[0] = 3;
    poke_i32(a.path, "/train/labels", labels);
    T_EXPECT_DEATH(do_load, &a, "ds.h5:/train/labels': sample 0 has label 3");
    free(tr.px), free(tr.lab), free(te.px), free(te.lab);
    rm_tree(dir);
}

TEST(fashion_mnist_train_labels_are_balanced) {
    const char *img = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
               *lab = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(lab, R_OK) != 0 || access(img, R_OK) != 0) {
        printf("     note: %s missing (package dataset-fashion-mnist): skipped\n", lab);
        return;
    }
    Split s = idx_read(img, lab);
    T_CHECK(s.n == 60000 && s.c == 1 && s.h == 28 && s.w == 28, "shape %dx%dx%dx%d", s.n, s.c, s.h,
            s.w);
    int count[10] = {0}, bad = 0;
    for (int i = 0; i < s.n; i++) {
        if (s.labels[i] < 0 || s.labels[i] > 9)
            bad++;
        else
            count[s.labels[i]]++;
    }
    T_CHECK(bad == 0, "%d labels outside 0..9", bad);
    for (int c = 0; c < 10; c++) T_CHECK(count[c] == 6000, "class %d: %d images", c, count[c]);
    split_free(&s);
}
