// Determinism of the CUDA convolutions (src/backend/cuda/cuda_conv.c, choose): where cuDNN
// offers no deterministic FP32 algorithm for a shape, the backend warns once per plan and
// direction and still computes the convolution; under [run] strict_determinism it takes a
// deterministic algorithm beyond the workspace limit, or fails naming the key. Without a
// fallback nothing is printed, on the emulator and on a real GPU. The fallback cases need the
// emulator's cuDNN stand-in (EMU_CUDNN_NONDET_ONLY, tests/gpu/emu/mock_cudnn.c) and pass
// without checking anything on a real GPU. Every case uses shapes of its own: a plan, and
// so its warning, is made once per shape and process.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "gpu_test.h"

// Defined by the cuDNN stand-in only: weak, so a real-GPU build links without it.
extern const int emu_cudnn __attribute__((weak));

static int on_emulator(const char *test) {
    if (&emu_cudnn) return 1;
    printf("      %s: needs the emulator's cuDNN stand-in; nothing checked\n", test);
    return 0;
}

typedef struct Shape {
    int n, ci, h, w, co, k;
    ConvSpec s;
} Shape;

// Everything written to stderr while capture is on (log_warn's lines).
static struct {
    int saved;
    FILE *f;
} cap;

static void capture_start(void) {
    fflush(stderr);
    cap.f = tmpfile();
    cap.saved = dup(2);
    dup2(fileno(cap.f), 2);
}

static char *capture_end(void) {
    fflush(stderr);
    dup2(cap.saved, 2);
    close(cap.saved);
    long n = ftell(cap.f);
    char *text = calloc((size_t)(n > 0 ? n : 0) + 1, 1);
    rewind(cap.f);
    size_t got = fread(text, 1, (size_t)(n > 0 ? n : 0), cap.f);
    text[got] = 0;
    fclose(cap.f);
    return text;
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

// Forward and both backward passes of s, `times` times, each compared with the CPU backend.
static void conv_both_ways(const Shape *c, int times) {
    int ho = conv_out_size(c->h, c->k, c->s.stride, c->s.pad);
    int wo = conv_out_size(c->w, c->k, c->s.stride, c->s.pad);
    Tensor hx = h_rand(c->n, c->ci, c->h, c->w, 1, -1, 1);
    Tensor hw = h_rand(c->co, c->ci / c->s.groups, c->k, c->k, 2, -1, 1);
    Tensor hdy = h_rand(c->n, c->co, ho, wo, 3, -1, 1);
    Tensor hy = h_const(c->n, c->co, ho, wo, 0), hdx = h_const(c->n, c->ci, c->h, c->w, 0);
    Tensor hdw = h_const(c->co, c->ci / c->s.groups, c->k, c->k, 0);
    cpu()->conv2d_fwd(&hx, &hw, &hy, c->s);
    cpu()->conv2d_bwd(&hx, &hw, &hdy, &hdx, &hdw, c->s);
    Tensor x = d_of(&hx), w = d_of(&hw), dy = d_of(&hdy);
    for (int t = 0; t < times; t++) {
        Tensor y = d_zeros(c->n, c->co, ho, wo), dx = d_zeros(c->n, c->ci, c->h, c->w);
        Tensor dw = d_zeros(c->co, c->ci / c->s.groups, c->k, c->k);
        gpu()->conv2d_fwd(&x, &w, &y, c->s);
        gpu()->conv2d_bwd(&x, &w, &dy, &dx, &dw, c->s);
        T_SAME(&y, &hy, 1e-5, 1e-4, "conv2d forward");
        T_SAME(&dx, &hdx, 1e-5, 1e-4, "conv2d backward data");
        T_SAME(&dw, &hdw, 1e-5, 1e-4, "conv2d backward filter");
        d_free(&y), d_free(&dx), d_free(&dw);
    }
    d_free(&x), d_free(&w), d_free(&dy);
    h_free(&hx), h_free(&hw), h_free(&hdy), h_free(&hy), h_free(&hdx), h_free(&hdw);
}

TEST(gpu_determinism_silent_without_fallback) {
    unsetenv("EMU_CUDNN_NONDET_ONLY");
    const Shape dense = {2, 5, 13, 13, 7, 3, {1, 1, 1}}, depthwise = {2, 6, 13, 13, 6, 5, {2, 2, 6}};
    capture_start();
    conv_both_ways(&dense, 1);
    conv_both_ways(&depthwise, 1);
    char *err = capture_end();
    T_CHECK(!err[0], "nothing on stderr, got: %s", err);
    free(err);
}

// EMU_CUDNN_NONDET_ONLY=mode on a fresh shape: three warnings (one per direction) however
// often the shape runs, each naming the direction, the shape, the algorithm and the fix.
static void fallback_warns_once(const char *mode, const Shape *c, const char *shape,
                                const char *why, const char *fix) {
    setenv("EMU_CUDNN_NONDET_ONLY", mode, 1);
    capture_start();
    conv_both_ways(c, 3);
    char *err = capture_end();
    unsetenv("EMU_CUDNN_NONDET_ONLY");
    T_CHECK(count(err, "warning: conv2d ") == 3, "%s: 3 warnings (one per direction), got: %s",
            mode, err);
    const char *dir[] = {"forward", "backward data", "backward filter"};
    for (int d = 0; d < 3; d++) {
        char line[400];
        snprintf(line, sizeof line, "warning: conv2d %s %s: no deterministic FP32 cuDNN algorithm",
                 dir[d], shape);
        T_CHECK(count(err, line) == 1, "%s: one warning for %s, got: %s", mode, dir[d], err);
    }
    T_CHECK(count(err, why) == 3 && count(err, "using nondeterministic algorithm 0") == 3 &&
                count(err, fix) == 3,
            "%s: each says why, what it uses and the fix, got: %s", mode, err);
    free(err);
}

TEST(gpu_determinism_fallback_warns_once_per_plan) {
    if (!on_emulator("gpu_determinism_fallback_warns_once_per_plan")) return;
    const Shape a = {2, 4, 11, 11, 6, 3, {2, 1, 2}}, b = {3, 5, 10, 10, 5, 3, {1, 1, 1}};
    fallback_warns_once("1", &a, "x [2,4,11,11] co 6 k 3 stride 2 pad 1 groups 2",
                        "within the 512 MiB workspace limit (nor beyond it)",
                        "Fix: set [run] strict_determinism = 1 to make this an error");
    fallback_warns_once("big", &b, "x [3,5,10,10] co 5 k 3 stride 1 pad 1 groups 1",
                        "within the 512 MiB workspace limit (algorithm 2 is, with 513 MiB)",
                        "Fix: set [run] strict_determinism = 1 to take the deterministic one");
}

TEST(gpu_determinism_strict_takes_big_workspace) {
    if (!on_emulator("gpu_determinism_strict_takes_big_workspace")) return;
    static RunCtx strict;
    strict = ctx_local(gpu(), 0);
    strict.strict_determinism = 1;
    cuda_conv_ctx(&strict);
    setenv("EMU_CUDNN_NONDET_ONLY", "big", 1);
    capture_start();
    // the stand-in refuses algorithm 2 with less workspace than it asked for
    conv_both_ways(&(Shape){2, 3, 9, 9, 4, 3, {1, 0, 1}}, 2);
    char *err = capture_end();
    unsetenv("EMU_CUDNN_NONDET_ONLY");
    cuda_conv_ctx(NULL);
    T_CHECK(count(err, "[run] strict_determinism = 1 takes algorithm 2, with 513 MiB") == 3,
            "one line per direction, got: %s", err);
    free(err);
}

// A fatal error on a thread of its own: the catcher records it and ends the thread.
static DnaError caught;
static void catch_error(const DnaError *e, void *arg) {
    (void)arg;
    caught = *e;
    pthread_exit(NULL);
}
typedef struct FwdArgs {
    Tensor x, w, y;
    ConvSpec s;
} FwdArgs;
static void *conv_fwd_thread(void *arg) {
    dna_fatal_catch(catch_error, NULL);
    FwdArgs *a = arg;
    gpu()->conv2d_fwd(&a->x, &a->w, &a->y, a->s);  // fails before running anything
    return NULL;
}

TEST(gpu_determinism_strict_fails_naming_the_key) {
    if (!on_emulator("gpu_determinism_strict_fails_naming_the_key")) return;
    static RunCtx strict;
    strict = ctx_local(gpu(), 0);
    strict.strict_determinism = 1;
    cuda_conv_ctx(&strict);
    setenv("EMU_CUDNN_NONDET_ONLY", "1", 1);
    memset(&caught, 0, sizeof caught);
    FwdArgs a = {d_zeros(1, 3, 6, 6), d_zeros(2, 3, 3, 3), d_zeros(1, 2, 6, 6), {1, 1, 1}};
    pthread_t t;
    pthread_create(&t, NULL, conv_fwd_thread, &a);
    pthread_join(t, NULL);
    d_free(&a.x), d_free(&a.w), d_free(&a.y);
    unsetenv("EMU_CUDNN_NONDET_ONLY");
    cuda_conv_ctx(NULL);
    T_CHECK(strstr(caught.msg, "conv2d forward x [1,3,6,6] co 2 k 3 stride 1 pad 1 groups 1: "
                               "cuDNN offers no deterministic FP32 algorithm and [run] "
                               "strict_determinism = 1"),
            "the error names the direction, the shape and the key, got '%s'", caught.msg);
    T_CHECK(strstr(caught.hint, "set [run] strict_determinism = 0"), "the fix: '%s'", caught.hint);
}
