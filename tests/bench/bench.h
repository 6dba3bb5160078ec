// What every benchmark line reports besides its speed: the process's peak resident memory,
// so that memory is compared with PyTorch's (the anchors print theirs) as speed is.
#pragma once
#include <sys/resource.h>

// Peak resident set size of this process so far, in MB (10^6 bytes; Linux reports KiB).
static inline double bench_peak_rss_mb(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? (double)u.ru_maxrss * 1024.0 / 1e6 : -1.0;
}
