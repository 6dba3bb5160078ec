// Image classification datasets: the in-memory Split/Dataset, the readers of the source
// formats (IDX, CIFAR-10 binary, generic HDF5; import.c), our HDF5 dataset file (import +
// validated load; dataset.c) and the seeded, class-balanced search split. Nothing here
// normalises or batches images: that is src/train/loader.
#pragma once
#include <stdint.h>

#include "io/h5.h"

// Generic HDF5 layout (input of the "hdf5" importer, and exactly the layout of the dataset
// files we write, so a file of ours can be re-imported):
//   /train/images  uint8 [N, C, H, W], or [N, H, W] meaning C = 1
//   /train/labels  any integer type [N], values in [0, classes); read as int32
//   /test/images, /test/labels   the same; C, H, W equal to train's
// Our dataset file (doc/design.md §3) adds:
//   /search/index  int32 [n_search], sorted ascending, unique: the held-out search split
//                  as indices into /train
//   root attrs: classes, source, mean f64[C], std f64[C] (per channel, of the train pixels
//   scaled to [0, 1], population std), search_per_class, search_seed, and the provenance
//   attrs of h5_attr_prov (format_version = DATASET_FORMAT).
enum { DATASET_FORMAT = 1, DATASET_MAX_C = 4 };

typedef struct Split {
    int n, c, h, w;
    uint8_t *images;  // [n, c, h, w]
    int32_t *labels;  // [n]
} Split;

typedef struct Dataset {
    char source[16];  // importer used
    int classes;
    Split train, test;
    int n_search;
    int32_t *search;  // sorted indices into train: held-out search split (rating)
    int n_fit;
    int32_t *fit;  // sorted: the rest of train (supernet training)
    double mean[DATASET_MAX_C], std[DATASET_MAX_C];  // per channel, train images scaled to [0,1]
    int search_per_class;
    unsigned long long search_seed;
} Dataset;

typedef struct DataImport {
    const char *source;  // "idx" | "cifar10" | "hdf5"
    // idx: directory with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
    //      t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or the same without .gz);
    // cifar10: directory with data_batch_1.bin .. data_batch_5.bin and test_batch.bin;
    // hdf5: a file in the generic layout above.
    const char *path;
    int classes;  // labels must be in [0, classes)
    int search_per_class;
    unsigned long long seed;
    int limit_train, limit_test;  // keep only the first N images of each (0 = all)
    // What the config expects (0 = unchecked): channels, height = width, train images.
    int expect_c, expect_hw, expect_train;
} DataImport;

// Reads the source, draws the search split, computes mean/std and writes out_path
// atomically (temp name + rename). prov->format is replaced by DATASET_FORMAT.
void dataset_import(const DataImport *imp, const H5Prov *prov, const char *out_path);
// Validates everything (datasets present, shapes, label range, search index sorted/unique/
// in range and class-balanced, attrs); fatal naming the file on any problem.
void dataset_load(const char *path, Dataset *d);
void dataset_free(Dataset *d);

// Source readers (import.c). They check the format itself; label range is checked against
// the class count by split_check_labels, which names the file.
Split idx_read(const char *images_path, const char *labels_path);  // .gz or plain (zlib)
// CIFAR-10 binary: records of 1 label byte + 3072 bytes (3x32x32, CHW), files concatenated.
Split cifar10_read(const char *const *files, int nfiles);
Split hdf5_split_read(const char *path, const char *group);  // generic layout, group "train"..
void split_free(Split *s);
// Fatal naming `path` (and the sample) when a label is outside [0, classes).
void split_check_labels(const Split *s, int classes, const char *path);
// A 1-D integer dataset read as int32, values checked to be in [0, INT32_MAX]; *n its length.
int32_t *import_read_index(hid_t f, const char *path, const char *name, long *n);
// Reads train and test of imp->source with labels checked against imp->classes.
void import_read(const DataImport *imp, Split *train, Split *test);

// Seeded, class-balanced split of train: for each class c in order, that class's indices in
// ascending order are shuffled with rng_split(&rng_new(seed), c) and the first per_class
// taken. Both outputs are sorted ascending and allocated here; fatal if a class is short.
void dataset_search_split(const int32_t *labels, int n, int classes, int per_class,
                          unsigned long long seed, int32_t **search, int *n_search, int32_t **fit,
                          int *n_fit);
// Per-channel mean and population std of s's pixels scaled by 1/255 (s->c <= DATASET_MAX_C).
void split_mean_std(const Split *s, double *mean, double *std);
