// HDF5 reading with errors that name the file, the dataset and the fix. HDF5's own error
// stack printing is switched off: our message replaces it.
#include "io/h5.h"

#include <stdlib.h>
#include <unistd.h>

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

float *h5_read_f32(hid_t f, const char *path, const char *name, size_t *n, int *ndim,
                   long dims[8]) {
    DNA_CHECK(h5_has(f, name), "the file was written by another version or stage; regenerate it",
              "'%s' has no dataset '%s'", path, name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    H5_CHECK(d, path);
    hid_t s = H5Dget_space(d);
    H5_CHECK(s, path);
    hsize_t hd[8];
    int nd = H5Sget_simple_extent_ndims(s);
    DNA_CHECK(nd >= 0 && nd <= 8, "", "'%s': dataset '%s' has rank %d", path, name, nd);
    H5_CHECK(H5Sget_simple_extent_dims(s, hd, NULL), path);
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        count *= hd[i];
        if (dims) dims[i] = (long)hd[i];
    }
    float *buf = dna_malloc(count * sizeof(float));
    H5_CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), path);
    H5Sclose(s);
    H5Dclose(d);
    if (n) *n = count;
    if (ndim) *ndim = nd;
    return buf;
}
