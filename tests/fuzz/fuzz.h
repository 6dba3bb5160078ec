// The fuzz targets' shared harness (libFuzzer). A reader's clean fatal error on bad input is
// the correct answer, not a finding: the abort hook longjmps back to the target, which then
// closes what the reader left open (HDF5 objects, file descriptors) so the next input starts
// clean. What counts: crashes, sanitizer reports, hangs, a fatal error raised on a helper
// thread (it cannot reach the main thread's handler), and a reader that returns normally but
// leaves a file or HDF5 object open.
#pragma once
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

// Once per process: hooks, HDF5's error printing off, stderr's FILE silenced (sanitizer and
// libFuzzer reports still go to fd 2), a scratch directory unique to this process (under
// $FUZZ_SCRATCH when set, else /dev/shm or /tmp).
void fuzz_init(void);
// "<scratch>/<name>" into buf.
void fuzz_path(char *buf, size_t n, const char *name);
// Writes bytes to a file (fatal to the harness on failure: that is not the reader's bug).
void fuzz_write(const char *path, const void *data, size_t n);
// Runs fn(arg); 0 when it returned, 1 when it ended in a clean fatal error.
int fuzz_call(void (*fn)(void *), void *arg);

// Structure-aware targets read their decisions from the input with these; past the end they
// give zeros, so every input decodes to something.
typedef struct FuzzIn {
    const uint8_t *p;
    size_t n, at;
} FuzzIn;
uint8_t fz_u8(FuzzIn *in);
uint32_t fz_u32(FuzzIn *in);
// Usually `usual`; sometimes an edge value (0, -1, huge, the type's limits) or a random one:
// what a damaged or hostile file holds.
long long fz_i64(FuzzIn *in, long long usual);
double fz_f64(FuzzIn *in, double usual);  // NaN, inf, negative, huge included
int fz_chance(FuzzIn *in, int one_in);    // 1 with probability about 1/one_in
// The file's HDF5 type for a numeric dataset: usually `usual`, sometimes another integer or
// float type, a string or a float16 (for the memory type of reads that must refuse it).
hid_t fz_type(FuzzIn *in, hid_t usual);
void fz_type_close(hid_t t);

// Writing HDF5 test files: failures return -1 and the target skips the input (a type
// conversion HDF5 refuses is not a reader's bug).
hid_t fh5_create(const char *path);
// A dataset of `type` in the file with dims [nd]; its values from `doubles` (count elements,
// converted; NULL: HDF5's fill value). Chunked (unallocated) when `lazy`: huge shapes cost
// nothing on disk.
int fh5_dataset(hid_t f, const char *name, hid_t type, int nd, const hsize_t *dims,
                const double *values, size_t count, int lazy);
int fh5_attr_i64(hid_t obj, const char *name, hid_t type, long long v);
int fh5_attr_f64s(hid_t obj, const char *name, const double *v, int n);
int fh5_attr_str(hid_t obj, const char *name, const char *v);
void fh5_close(hid_t f);
