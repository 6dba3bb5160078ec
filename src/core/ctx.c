// Run context construction for the single-process case; par_init fills the MPI fields.
#include "core/ctx.h"

#include <unistd.h>

#include "core/timer.h"

RunCtx ctx_local(const Backend *be, uint64_t seed) {
    RunCtx c = {0};
    c.nranks = 1;
    c.local_size = 1;
    c.device = -1;
    c.is_tty = isatty(1);
    c.verbose = 1;
    c.log_fd = c.metrics_fd = c.lock_fd = -1;
    c.t_start = timer_now();
    c.seed = seed;
    c.be = be;
    c.version = "test";
    c.git_rev = "unknown";
    return c;
}
