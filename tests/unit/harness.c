// Test runner: runs every registered case (or those whose name contains argv[1]). A case
// fails on its own checks and on HDF5 identifiers it leaves open.
#include "harness.h"

#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"

enum { MAX_TESTS = 1024 };
typedef struct {
    const char *name, *file;
    TestFn fn;
} Case;

// The harness's registry is filled by constructors before main: test-only state.
static Case cases[MAX_TESTS];
static int ncases, case_failures;

void t_register(const char *name, TestFn fn, const char *file) {
    if (ncases < MAX_TESTS) cases[ncases++] = (Case){name, file, fn};
}

void t_fail(const char *file, int line, const char *fmt, ...) {
    if (case_failures++ >= 8) return;  // enough to diagnose
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double t_near_array(const char *file, int line, const char *what, const float *got,
                    const float *want, size_t n, double atol, double rtol) {
    double worst = -1, maxabs = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), lim = atol + rtol * fabs(want[i]);
        if (d > maxabs || isnan(d)) maxabs = isnan(d) ? INFINITY : d;
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > worst) worst = excess, at = i;
    }
    if (worst > 0)
        t_fail(file, line, "%s: element %zu of %zu: got %.9g, want %.9g (atol %g rtol %g)", what,
               at, n, got[at], want[at], atol, rtol);
    return maxabs;
}

void t_expect_death_at(const char *file, int line, void (*fn)(void *), void *arg,
                       const char *expect) {
    int fd[2];
    if (pipe(fd) != 0) {
        t_fail(file, line, "pipe failed");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    // Read to EOF, keeping the start: a child whose stderr outgrew the buffer (a LeakSanitizer
    // report after the error: it exits without freeing) would die of SIGPIPE if we stopped.
    char buf[4096] = {0}, rest[4096];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd[0], got < sizeof buf - 1 ? buf + got : rest,
                     got < sizeof buf - 1 ? sizeof buf - 1 - got : sizeof rest)) > 0)
        if (got < sizeof buf - 1) got += (size_t)r;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        t_fail(file, line, "expected a fatal error mentioning '%s', child killed by signal %d: %s",
               expect, WTERMSIG(st), buf);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) == 0)
        t_fail(file, line, "expected a fatal error mentioning '%s', child exited normally", expect);
    else if (!strstr(buf, expect))
        t_fail(file, line, "expected a message containing '%s', got: %s", expect, buf);
}

void t_fill_uniform(float *x, size_t n, unsigned seed, float lo, float hi) {
    Rng r = rng_new(seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(&r);
}

// An HDF5 file or object left open is a leak no sanitizer sees: HDF5 closes every open
// identifier at exit, before LeakSanitizer looks. So the open files, groups, datasets,
// committed datatypes and attributes are counted before and after every case. (HDF5 offers
// no count of dataspaces and property lists.)
static const struct {
    unsigned kind;
    const char *what;
} h5_kinds[] = {{H5F_OBJ_FILE, "file"},
                {H5F_OBJ_GROUP, "group"},
                {H5F_OBJ_DATASET, "dataset"},
                {H5F_OBJ_DATATYPE, "committed datatype"},
                {H5F_OBJ_ATTR, "attribute"}};
enum { H5_KINDS = sizeof h5_kinds / sizeof h5_kinds[0] };

static void h5_count_open(ssize_t n[H5_KINDS]) {
    for (int k = 0; k < H5_KINDS; k++) n[k] = H5Fget_obj_count(H5F_OBJ_ALL, h5_kinds[k].kind);
}

// Fails the case for every kind with more open identifiers than before it, naming what is
// still open.
static void h5_check_closed(const Case *c, const ssize_t before[H5_KINDS]) {
    ssize_t after[H5_KINDS];
    h5_count_open(after);
    int grew = 0;
    for (int k = 0; k < H5_KINDS; k++)
        if (after[k] > before[k]) {
            t_fail(c->file, 0, "%zd HDF5 %s identifier(s) left open by the case",
                   after[k] - before[k], h5_kinds[k].what);
            grew = 1;
        }
    if (!grew) return;
    hid_t ids[8];
    ssize_t n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, 8, ids);
    for (ssize_t j = 0; j < n; j++) {
        char file[256] = "?", obj[256] = "";
        H5Fget_name(ids[j], file, sizeof file);
        if (H5Iget_type(ids[j]) != H5I_FILE) H5Iget_name(ids[j], obj, sizeof obj);
        t_fail(c->file, 0, "still open: %s%s%s", file, obj[0] ? " " : "", obj);
    }
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (int i = 0; i < ncases; i++) {
        if (filter && !strstr(cases[i].name, filter)) continue;
        case_failures = 0;
        ssize_t open_before[H5_KINDS];
        h5_count_open(open_before);
        cases[i].fn();
        h5_check_closed(&cases[i], open_before);
        if (case_failures) {
            failed++;
            printf("FAIL %s (%s)\n", cases[i].name, cases[i].file);
        } else {
            passed++;
            printf("ok   %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    fflush(stdout);  // before a LeakSanitizer report at exit, which ends the process unflushed
    return failed ? 1 : 0;
}
