// The HDF5 lock (see h5lock.h). Process-wide by necessity: the HDF5 library it guards is.
// Only the main thread touches `main_holds`.
#include "io/h5lock.h"

#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    int on, threadsafe, forced;
    int main_holds;
} h5l = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

static void decide(void) {
    hbool_t ts = 0;
    H5is_library_threadsafe(&ts);
    const char *env = getenv("DNA_H5_SERIALIZE");
    h5l.threadsafe = ts > 0;
    h5l.forced = env && env[0] && strcmp(env, "0") != 0;
    h5l.on = !h5l.threadsafe || h5l.forced;
}

int h5_serialized(void) {
    pthread_once(&h5l.once, decide);
    return h5l.on;
}

void h5_thread_mode(char *buf, int n) {
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    int on = h5_serialized();
    snprintf(buf, (size_t)n, "HDF5 %u.%u.%u, %s: %s", maj, min, rel,
             h5l.threadsafe ? "thread-safe build" : "not thread-safe",
             !on          ? "calls from the prefetch thread run concurrently"
             : h5l.forced ? "calls serialised through one lock (DNA_H5_SERIALIZE)"
                          : "calls serialised through one lock");
}

void h5_main_hold(void) {
    if (!h5_serialized() || h5l.main_holds) return;
    pthread_mutex_lock(&h5l.mu);
    h5l.main_holds = 1;
}

int h5_main_yield(void) {
    if (!h5_serialized() || !h5l.main_holds) return 0;
    h5l.main_holds = 0;
    pthread_mutex_unlock(&h5l.mu);
    return 1;
}

void h5_main_resume(int token) {
    if (!token) return;
    pthread_mutex_lock(&h5l.mu);
    h5l.main_holds = 1;
}

void h5_helper_enter(void) {
    if (h5_serialized()) pthread_mutex_lock(&h5l.mu);
}

void h5_helper_leave(void) {
    if (h5_serialized()) pthread_mutex_unlock(&h5l.mu);
}

void h5_helper_leave_cb(void *unused) {
    (void)unused;
    h5_helper_leave();
}
