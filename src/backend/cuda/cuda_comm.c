// NCCL communicators for rank groups (Backend.comm_*): gradient sums stay on the GPU, on the
// backend's stream, ordered with the step's other ops. par_sum_new makes one per group, when
// every member has NCCL and a GPU of its own, and sends its id over MPI. Built without NCCL
// (make NCCL=0, or no nccl.h), the backend has no comm ops and groups sum through host
// memory and MPI. Also the backend's waits for a stream (cuda_stream_sync): a collective
// whose peer died or lost its link never completes, and NCCL says so only when asked
// (ncclCommGetAsyncError), so a wait that may cover NCCL work polls for that.
#include <time.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

#ifndef DNA_NCCL
void cuda_stream_sync(cudaStream_t s) {
    CUDA_CHECK(cudaStreamSynchronize(s));
}
#else
#include <nccl.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(ncclUniqueId) == BACKEND_COMM_ID_BYTES,
               "BACKEND_COMM_ID_BYTES (tensor/ops.h) must be NCCL's unique id size");

#define NCCL_CHECK(call)                                                                     \
    do {                                                                                     \
        ncclResult_t r_ = (call);                                                            \
        if (r_ != ncclSuccess)                                                               \
            dna_fatal(__FILE__, __LINE__,                                                    \
                      "rerun with NCCL_DEBUG=WARN to see why (one GPU per rank: NCCL refuses " \
                      "two ranks on one device)",                                            \
                      "NCCL: %s failed: %s (%s)", #call, ncclGetErrorString(r_),             \
                      ncclGetLastError(NULL));                                               \
    } while (0)

// The communicators alive in this process (one per rank group it is in), which a wait
// polls. The table carries no context, so this is per process, like the backend's CudaCtx.
enum { MAX_COMMS = 16 };
static struct {
    ncclComm_t comm[MAX_COMMS];
    int n;
} live;

void cuda_comm_id(unsigned char id[BACKEND_COMM_ID_BYTES]) {
    ncclUniqueId u;
    NCCL_CHECK(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
}

void *cuda_comm_new(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank) {
    DNA_CHECK(live.n < MAX_COMMS, "free rank groups' sums (par_sum_free) that are done",
              "more than %d NCCL communicators at once", MAX_COMMS);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclComm_t c;
    NCCL_CHECK(ncclCommInitRank(&c, nranks, u, rank));
    live.comm[live.n++] = c;
    return c;
}

void cuda_comm_sum(void *comm, float *buf, size_t n) {
    NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, comm, cuda_ctx()->stream));
}

static void forget(ncclComm_t c) {
    for (int i = 0; i < live.n; i++)
        if (live.comm[i] == c) {
            live.comm[i] = live.comm[--live.n];
            return;
        }
}

void cuda_comm_free(void *comm) {
    forget(comm);
    NCCL_CHECK(ncclCommDestroy(comm));
}

// Fatal, after aborting the communicator (which ends its kernels still waiting for a
// peer), when NCCL has seen an error since the last call.
static void check_async(ncclComm_t c) {
    ncclResult_t e = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(c, &e));
    if (e == ncclSuccess || e == ncclInProgress) return;
    char last[512];
    snprintf(last, sizeof last, "%s", ncclGetLastError(c));
    forget(c);
    ncclCommAbort(c);  // its own failure changes nothing: the job ends next
    dna_fatal(__FILE__, __LINE__,
              "another rank of the group failed or lost its network link: look for its error "
              "above or in its node's log; NCCL_DEBUG=WARN shows NCCL's view",
              "NCCL: a collective failed asynchronously: %s%s%s; its communicator was aborted",
              ncclGetErrorString(e), last[0] ? ": " : "", last);
}

void cuda_stream_sync(cudaStream_t s) {
    if (!live.n) {
        CUDA_CHECK(cudaStreamSynchronize(s));
        return;
    }
    const struct timespec nap = {0, 50 * 1000};  // 50 us: next to a step, nothing
    for (;;) {
        for (int i = 0; i < live.n; i++) check_async(live.comm[i]);
        cudaError_t q = cudaStreamQuery(s);
        if (q == cudaSuccess) return;
        if (q != cudaErrorNotReady) cuda_fail(__FILE__, __LINE__, "cudaStreamQuery(s)", q);
        nanosleep(&nap, NULL);
    }
}
#endif
