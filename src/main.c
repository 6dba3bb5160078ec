// dna: the command line. One binary, one subcommand per pipeline stage (DESIGN §1); the
// stages arrive issue by issue, and this file only parses arguments and dispatches.
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "par/par.h"
#include "tensor/ops.h"

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    par_init(&ctx, &argc, &argv);
    log_info(&ctx, "dnafam on %d rank(s), backend %s", ctx.nranks, ctx.be->name);
    par_finalize();
    return 0;
}
