// HDF5 helpers: the H5_CHECK macro and whole-dataset reads with clear errors naming the
// file and dataset. The rest of src/io (datasets, shards, checkpoints) builds on these.
#pragma once
#include <hdf5.h>
#include <stddef.h>

#include "core/error.h"

#define H5_CHECK(call, path)                                                                 \
    do {                                                                                     \
        if ((call) < 0)                                                                      \
            dna_fatal(__FILE__, __LINE__, "check that the file is complete and not corrupt", \
                      "HDF5 call %s failed on '%s'", #call, path);                           \
    } while (0)

hid_t h5_open_read(const char *path);  // fatal with the path when missing or not HDF5
void h5_close(hid_t f);
int h5_has(hid_t f, const char *name);
// Reads a float dataset (converted to float32 by HDF5) into a new buffer; *n gets the count,
// dims (up to 8) the shape when not NULL. Fatal when missing.
float *h5_read_f32(hid_t f, const char *path, const char *name, size_t *n, int *ndim, long dims[8]);
