// The fuzz harness (see fuzz.h): the fatal-error hook, clean-up after a fatal error, the
// input decoder and the HDF5 writing helpers of the structure-aware targets.
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static struct {
    jmp_buf env;
    int armed;
    pthread_t main;
    char dir[256];
} fz;

static void on_fatal(int code) {
    (void)code;
    if (!pthread_equal(pthread_self(), fz.main) || !fz.armed) {
        // Only the main thread can unwind to the target; in the program the job would be
        // aborted from a thread MPI_THREAD_FUNNELED does not allow.
        static const char msg[] =
            "fuzz: fatal error outside the reader's call or on a helper thread\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    fz.armed = 0;
    longjmp(fz.env, 1);
}

static void remove_scratch(void) {
    DIR *d = opendir(fz.dir);
    if (!d) return;
    char p[600];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", fz.dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(fz.dir);
}

void fuzz_init(void) {
    static int done;
    if (done) return;
    done = 1;
    fz.main = pthread_self();
    dna_fatal_hooks(NULL, on_fatal);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    // dna_fatal prints through stderr's FILE; libFuzzer and the sanitizers write fd 2 directly.
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null;
    // run.sh names a directory it removes afterwards: libFuzzer's exits do not all run atexit
    const char *base = getenv("FUZZ_SCRATCH");
    if (!base || !base[0]) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fz.dir, sizeof fz.dir, "%s/dnafuzz.%d", base, (int)getpid());
    mkdir(fz.dir, 0700);
    atexit(remove_scratch);
}

void fuzz_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", fz.dir, name);
}

void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stdout, "fuzz: cannot write '%s'\n", path);
        abort();
    }
}

// The lowest free descriptor: everything from it up was opened by the call.
static int fd_floor(void) {
    int fd = dup(0);
    if (fd >= 0) close(fd);
    return fd;
}

static long h5_open_objects(void) {
    return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
}

// Closes every HDF5 object still open: attributes, datasets, groups and named types first,
// then the files.
static void h5_close_all(void) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (n <= 0) return;
    hid_t *ids = malloc(sizeof *ids * (size_t)n);
    n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)n, ids);
    for (int pass = 0; pass < 2; pass++)
        for (ssize_t i = 0; i < n; i++) {
            H5I_type_t t = H5Iget_type(ids[i]);
            if (t == H5I_BADID || (t == H5I_FILE) != (pass == 1)) continue;
            if (t == H5I_ATTR)
                H5Aclose(ids[i]);
            else if (t == H5I_DATASET)
                H5Dclose(ids[i]);
            else if (t == H5I_GROUP)
                H5Gclose(ids[i]);
            else if (t == H5I_DATATYPE)
                H5Tclose(ids[i]);
            else if (t == H5I_FILE)
                H5Fclose(ids[i]);
        }
    free(ids);
}

int fuzz_call(void (*fn)(void *), void *arg) {
    int floor = fd_floor();
    long objs = h5_open_objects();
    if (setjmp(fz.env)) {
        h5_close_all();
        for (int fd = floor; fd < floor + 256; fd++) close(fd);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        return 1;
    }
    fz.armed = 1;
    fn(arg);
    fz.armed = 0;
    int leaked_fd = fd_floor() != floor;
    long leaked_h5 = h5_open_objects() - objs;
    if (leaked_fd || leaked_h5) {
        fprintf(stdout, "fuzz: the reader returned but left %s open\n",
                leaked_fd ? "a file descriptor" : "an HDF5 object");
        abort();
    }
    return 0;
}

// ---- decoding the input

uint8_t fz_u8(FuzzIn *in) {
    return in->at < in->n ? in->p[in->at++] : 0;
}

uint32_t fz_u32(FuzzIn *in) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | fz_u8(in);
    return v;
}

int fz_chance(FuzzIn *in, int one_in) {
    return fz_u8(in) % one_in == 0;
}

long long fz_i64(FuzzIn *in, long long usual) {
    static const long long edge[] = {0,         -1,        1,         2,         -2,
                                     INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1LL << 32,
                                     1LL << 40, 65536,     -65536,    255,       1LL << 62};
    uint8_t k = fz_u8(in);
    if (k < 200) return usual;
    if (k < 230) return edge[k % (sizeof edge / sizeof *edge)];
    if (k < 245)  // near the usual value, wrapping (usual may itself be an edge value)
        return (long long)((uint64_t)usual + (uint64_t)(long long)(int8_t)fz_u8(in));
    return (long long)((uint64_t)fz_u32(in) << 32 | fz_u32(in));
}

double fz_f64(FuzzIn *in, double usual) {
    static const double edge[] = {0,      -1,     1,     NAN,  INFINITY, -INFINITY, 1e300,
                                  -1e300, 1e-300, 65520, 3e38, 1e10,     0.5};
    uint8_t k = fz_u8(in);
    if (k < 200) return usual;
    if (k < 235) return edge[k % (sizeof edge / sizeof *edge)];
    return usual * ((double)(int8_t)fz_u8(in) / 16.0);
}

hid_t fz_type(FuzzIn *in, hid_t usual) {
    uint8_t k = fz_u8(in);
    if (k < 215) return H5Tcopy(usual);
    switch (k % 10) {
        case 0:
            return H5Tcopy(H5T_NATIVE_UINT8);
        case 1:
            return H5Tcopy(H5T_NATIVE_INT8);
        case 2:
            return H5Tcopy(H5T_NATIVE_INT32);
        case 3:
            return H5Tcopy(H5T_NATIVE_UINT64);
        case 4:
            return H5Tcopy(H5T_NATIVE_FLOAT);
        case 5:
            return H5Tcopy(H5T_NATIVE_DOUBLE);
        case 6:
            return H5Tcopy(H5T_STD_I16BE);
        case 7: {  // IEEE float16, as the shard writer makes it
            hid_t t = H5Tcopy(H5T_IEEE_F32LE);
            H5Tset_fields(t, 15, 10, 5, 0, 10);
            H5Tset_precision(t, 16);
            H5Tset_size(t, 2);
            H5Tset_ebias(t, 15);
            return t;
        }
        case 8: {
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, 8);
            return t;
        }
        default:
            return H5Tcopy(H5T_IEEE_F64BE);
    }
}

void fz_type_close(hid_t t) {
    if (t >= 0) H5Tclose(t);
}

// ---- writing HDF5 test files

hid_t fh5_create(const char *path) {
    return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

int fh5_dataset(hid_t f, const char *name, hid_t type, int nd, const hsize_t *dims,
                const double *values, size_t count, int lazy) {
    hsize_t total = 1;
    for (int i = 0; i < nd; i++) total *= dims[i];
    hid_t s = nd == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(nd, dims, NULL);
    if (s < 0) return -1;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (lazy && nd > 0) {
        hsize_t ch[8];
        for (int i = 0; i < nd; i++) ch[i] = dims[i] ? (dims[i] < 16 ? dims[i] : 16) : 1;
        H5Pset_chunk(dcpl, nd, ch);
    }
    hid_t d = H5Dcreate2(f, name, type, s, lcpl, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (!rc && values && !lazy && count == total && H5Tget_class(type) != H5T_STRING)
        rc = H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0 ? -1 : 0;
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(s);
    return rc;
}

static int attr(hid_t obj, const char *name, hid_t type, hid_t mem, int n, const void *v) {
    hsize_t dim = (hsize_t)n;
    hid_t s = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mem, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc;
}

int fh5_attr_i64(hid_t obj, const char *name, hid_t type, long long v) {
    if (H5Tget_class(type) == H5T_STRING) return fh5_attr_str(obj, name, "12");
    double d = (double)v;
    // integers are written exactly; other file types get the value converted from double
    if (H5Tget_class(type) == H5T_INTEGER) return attr(obj, name, type, H5T_NATIVE_LLONG, -1, &v);
    return attr(obj, name, type, H5T_NATIVE_DOUBLE, -1, &d);
}

int fh5_attr_f64s(hid_t obj, const char *name, const double *v, int n) {
    return attr(obj, name, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, n, v);
}

int fh5_attr_str(hid_t obj, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    int rc = attr(obj, name, t, t, -1, v);
    H5Tclose(t);
    return rc;
}

void fh5_close(hid_t f) {
    if (f >= 0) H5Fclose(f);
}
