// The CUDA backend's view of devices and communicators: device UUIDs, the runtime's errors
// at start (only cudaErrorNoDevice means "no device"), cuDNN's sub-library errors, and
// NCCL's asynchronous errors, which a wait must report instead of hanging. The cases that
// need an error staged run on the emulator only (tests/gpu/emu: EMU_DEVICE_ERROR,
// EMU_NCCL_ASYNC_ERROR); on a GPU they pass without checking.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_internal.h"
#include "gpu_test.h"

static int emulated(void) {
    return strstr(gpu()->lib_version(), "emulated GPU") != NULL;
}

// Runs fn(arg) in a forked child: 1 when it exits non-zero with `expect` (and `also`, when
// given) in its stderr; else says what it did.
static int dies_with(void (*fn)(void *), void *arg, const char *expect, const char *also) {
    int fd[2];
    if (pipe(fd)) return 0;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    char buf[8192] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) != 0 && strstr(buf, expect) &&
             (!also || strstr(buf, also));
    if (!ok)
        fprintf(stderr, "    child (exit %d) said: %s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                buf);
    return ok;
}

TEST(gpu_device_uuid) {
    unsigned char u[BACKEND_UUID_BYTES] = {0}, none[BACKEND_UUID_BYTES] = {0};
    T_CHECK(gpu()->device_uuid && !cpu()->device_uuid, "device_uuid: CUDA has one, CPU none");
    gpu()->device_uuid(u);
    T_CHECK(memcmp(u, none, sizeof u), "the device's UUID is not all zero");
    BackendPlace a = backend_place(gpu(), 0), b = backend_place(gpu(), 1),
                 c = backend_place(cpu(), 2);
    char text[48];
    backend_uuid_text(a.uuid, text);
    T_CHECK(strlen(text) == 40 && !strncmp(text, "GPU-", 4), "uuid text as nvidia-smi: %s", text);
    T_CHECK(backend_same_device(&a, &b), "two places on this device: one device");
    T_CHECK(!backend_same_device(&c, &c), "CPU places share no device");
    b.host[0] ^= 1;
    T_CHECK(!backend_same_device(&a, &b), "same UUID on another host: not one device");
}

// Only cudaErrorNoDevice is "no device"; other errors are failures with the runtime's words.
TEST(gpu_device_errors_reported) {
    if (!emulated()) return;
    CudaDevices d = cuda_devices();
    T_CHECK(d.count >= 1 && !d.failed, "a working runtime: %d device(s), failed %d", d.count,
            d.failed);
    setenv("EMU_NODEV", "1", 1);
    d = cuda_devices();
    unsetenv("EMU_NODEV");
    T_CHECK(d.count == 0 && !d.failed && strstr(d.why, "cudaErrorNoDevice"),
            "no device: count %d, failed %d, why '%s'", d.count, d.failed, d.why);
    setenv("EMU_DEVICE_ERROR", "cudaErrorSystemDriverMismatch", 1);
    d = cuda_devices();
    unsetenv("EMU_DEVICE_ERROR");
    T_CHECK(d.count == 0 && d.failed && strstr(d.why, "cudaErrorSystemDriverMismatch") &&
                strstr(d.why, "driver") && d.hint && strstr(d.hint, "reboot"),
            "driver mismatch: count %d, failed %d, why '%s', hint '%s'", d.count, d.failed, d.why,
            d.hint ? d.hint : "(none)");
}

static void use_backend(void *name) {
    setenv("EMU_DEVICE_ERROR", "cudaErrorInsufficientDriver", 1);
    RunCtx ctx = ctx_local(cpu(), 0);
    ctx.verbose = 0;  // warnings only
    backend_use(&ctx, name);
    fprintf(stderr, "backend_use returned: %s\n", ctx.be->name);
    exit(strcmp(ctx.be->name, "cpu") ? 0 : 3);  // non-zero: the CPU was taken
}

TEST(gpu_backend_auto_and_cuda_on_a_driver_error) {
    if (!emulated()) return;
    T_CHECK(dies_with(use_backend, "cuda", "cudaErrorInsufficientDriver", "NVIDIA driver"),
            "--backend cuda with a driver error: fatal, with the error and a hint");
    T_CHECK(dies_with(use_backend, "auto",
                      "warning: backend auto: the CUDA runtime failed "
                      "(cudaErrorInsufficientDriver",
                      "backend_use returned: cpu"),
            "--backend auto with a driver error: a warning with the error, then the CPU");
}

static void fail_cudnn(void *status) {
    cudnn_fail(__FILE__, __LINE__, "cudnnCreate(&h)", (cudnnStatus_t)(long)status);
}

// cuDNN 9 loads sub-libraries at run time: their errors say to keep one cuDNN install visible.
TEST(gpu_cudnn_sublibrary_errors_hint) {
    const cudnnStatus_t s[] = {
        CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH, CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH,
        CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED, CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE,
        CUDNN_STATUS_NOT_INITIALIZED};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        T_CHECK(dies_with(fail_cudnn, (void *)(long)s[i], "LD_LIBRARY_PATH", "one cuDNN install"),
                "cuDNN status %d: the hint names LD_LIBRARY_PATH and one cuDNN install", (int)s[i]);
    T_CHECK(dies_with(fail_cudnn, (void *)(long)CUDNN_STATUS_BAD_PARAM, "shapes", NULL),
            "other statuses keep their hints");
}

// A one-rank communicator: the sum is the identity, and waits poll it.
static void *one_rank_comm(void) {
    unsigned char id[BACKEND_COMM_ID_BYTES];
    gpu()->comm_id(id);
    return gpu()->comm_new(id, 1, 0);
}

TEST(gpu_comm_sum_and_waits) {
    if (!gpu()->comm_new) return;  // built without NCCL
    void *c = one_rank_comm();
    Tensor h = h_rand(1, 1, 1, 1000, 5, -1, 1), d = d_of(&h);
    for (int i = 0; i < 3; i++) gpu()->comm_sum(c, d.data, 1000);
    float *back = d_read(d.data, 1000);  // a wait with a communicator alive
    T_CHECK(!memcmp(back, h.data, sizeof(float) * 1000), "a sum over one rank changes nothing");
    free(back);
    gpu()->comm_free(c);
    d_free(&d), h_free(&h);
}

static void break_comm(void *arg) {
    (void)arg;
    setenv("EMU_NCCL_ASYNC_ERROR", "2", 1);
    void *c = one_rank_comm();
    float *buf = gpu()->alloc(sizeof(float) * 64), x = 0;
    for (int i = 0; i < 3; i++) gpu()->comm_sum(c, buf, 64);
    gpu()->download(&x, buf, sizeof x);  // the wait that must report the error, not hang
}

// A peer that died leaves NCCL's collectives waiting forever: the next wait fails instead.
TEST(gpu_comm_async_error_is_fatal) {
    if (!gpu()->comm_new || !emulated()) return;
    T_CHECK(dies_with(break_comm, NULL, "NCCL: a collective failed asynchronously",
                      "remote process exited or there was a network error"),
            "an NCCL async error ends the process at the next wait, naming it");
}
