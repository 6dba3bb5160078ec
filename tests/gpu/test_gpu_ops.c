// Every op of src/tensor/ops.def on the CUDA backend against the CPU backend (the
// reference): one test per op, gpu_op_<name>, generated from the list, runs every instance
// of the op's case (tests/ops) under every configuration (main, refilled outputs, NULL
// outputs and inputs, aliasing) on both backends and compares all results within the case's
// gpu_tol (the tolerances are documented at the top of tests/ops/op_test.h). Integer results
// and BnSync call counts must be equal. An op without a case fails here too.
// GPU_TEST_VERBOSE=1 prints how much of its tolerance each comparison uses.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/op_test.h"
#include "gpu_test.h"

static void gpu_check_instance(const OpCase *c, const OpInst *in) {
    OpInstance I;
    op_instance_init(&I, c, in);
    OpRunCfg cfg[OP_CONFIGS];
    int n = op_configs(&I, cfg);
    for (int k = 0; k < n; k++) {
        OpResult want = op_run(&I, cpu(), &cfg[k]), got = op_run(&I, gpu(), &cfg[k]);
        char tag[200];
        snprintf(tag, sizeof tag, "%s [%s] %.64s", c->op, in->name, cfg[k].what);
        op_compare(&I, tag, &got, &want, c->gpu_tol, NULL);
        op_result_free(&want);
        op_result_free(&got);
    }
    op_instance_free(&I);
}

static void gpu_check_op(int op) {
    const OpCase *c = OP_CASES[op];
    if (!c) {
        t_fail(__FILE__, __LINE__, "op %s (src/tensor/ops.def) has no test case in tests/ops",
               OP_NAMES[op]);
        return;
    }
    int n;
    const OpInst **all = op_instances(c, &n);
    for (int i = 0; i < n; i++) gpu_check_instance(c, all[i]);
    free(all);
}

#define OP(kind, ret, op, params) \
    TEST(gpu_op_##op) {           \
        gpu_check_op(OPI_##op);   \
    }
#include "tensor/ops.def"
#undef OP

// the same shape twice: the cached plan (descriptors, algorithms) gives the same result
TEST(gpu_conv2d_plan_cache) {
    int n;
    const OpInst **all = op_instances(OP_CASES[OPI_conv2d_bwd], &n);
    OpInst in = {0};
    for (int i = 0; i < n; i++)
        if (!strcmp(all[i]->name, "depthwise k5s2 17x17")) in = *all[i];
    free(all);
    T_CHECK(in.name, "conv2d has no instance 'depthwise k5s2 17x17'");
    if (!in.name) return;
    for (unsigned seed = 2000; seed <= 2010; seed += 10) {
        in.seed = seed;
        gpu_check_instance(OP_CASES[OPI_conv2d_fwd], &in);
        gpu_check_instance(OP_CASES[OPI_conv2d_bwd], &in);
    }
}
