// Timers: a monotonic wall clock in seconds. Min/avg/max over ranks is par's job.
#pragma once
#include <time.h>

static inline double timer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
