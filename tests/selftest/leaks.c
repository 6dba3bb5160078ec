// Deliberate leaks for the runner's self-test (tests/run_selftest.sh), never part of a real
// suite: an HDF5 file and dataset left open, which the harness must name, and a string that
// HDF5 allocated for us and we never free, which LeakSanitizer must report in a sanitizer
// build (its stack runs through libhdf5: tests/lsan.supp must not hide it).
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../unit/harness.h"

static hid_t scratch_file(void) {
    char path[] = "/tmp/dna-leaks-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    unlink(path);  // the open file lives on until closed
    return f;
}

TEST(leaks_build) {
#if defined(__SANITIZE_ADDRESS__)
    printf("     built with AddressSanitizer: yes\n");
#else
    printf("     built with AddressSanitizer: no\n");
#endif
}

TEST(leaks_hdf5_file_and_dataset_left_open) {
    hid_t f = scratch_file();
    hsize_t n = 4;
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d =
        H5Dcreate2(f, "left_open", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(s);
    (void)d;  // neither d nor f is closed
}

// A variable-length string read: HDF5 mallocs the string, the caller must H5free_memory it.
static char *volatile dropped;
TEST(leaks_hdf5_string_never_freed) {
    hid_t f = scratch_file();
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t a = H5Acreate2(f, "note", t, s, H5P_DEFAULT, H5P_DEFAULT);
    const char *text = "a string HDF5 copies for the reader";
    H5Awrite(a, t, &text);
    char *got = NULL;
    H5Aread(a, t, &got);
    dropped = got;
    dropped = NULL;  // lost without H5free_memory
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Fclose(f);
}
