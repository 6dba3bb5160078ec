// NCCL communicators for rank groups (Backend.comm_*): gradient sums stay on the GPU, on the
// backend's stream, ordered with the step's other ops. par_sum_new makes one per group and
// sends its id over MPI. Built without NCCL (make NCCL=0, or no nccl.h), the backend has
// no comm ops and groups sum through host memory and MPI.
#ifdef DNA_NCCL
#include <nccl.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

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

void cuda_comm_id(unsigned char id[BACKEND_COMM_ID_BYTES]) {
    ncclUniqueId u;
    NCCL_CHECK(ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
}

void *cuda_comm_new(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank) {
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclComm_t c;
    NCCL_CHECK(ncclCommInitRank(&c, nranks, u, rank));
    return c;
}

void cuda_comm_sum(void *comm, float *buf, size_t n) {
    NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, comm, cuda_ctx()->stream));
}

void cuda_comm_free(void *comm) {
    NCCL_CHECK(ncclCommDestroy(comm));
}
#endif
