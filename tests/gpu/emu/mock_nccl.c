#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

// NCCL over MPI (the emulated device memory is host memory). A communicator of several ranks
// is one MPI_Comm_split of MPI_COMM_WORLD coloured by the id, so every rank in a group of
// two or more must make its communicator at the same point of the program (dna's groups
// are split together, so they do).
struct ncclComm {
    MPI_Comm comm;
};
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    static unsigned counter;
    memset(id, 0, sizeof *id);
    int world = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    unsigned v[2] = {(unsigned)world, ++counter};
    memcpy(id->internal, v, sizeof v);
    return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t *c, int nranks, ncclUniqueId id, int rank) {
    *c = calloc(1, sizeof **c);
    unsigned v[2];
    memcpy(v, id.internal, sizeof v);
    if (nranks == 1) return MPI_Comm_dup(MPI_COMM_SELF, &(*c)->comm) ? ncclSystemError : ncclSuccess;
    int color = (int)((v[0] * 1000003u + v[1]) & 0x7fffffff);
    if (MPI_Comm_split(MPI_COMM_WORLD, color, rank, &(*c)->comm)) return ncclSystemError;
    int size = 0;
    MPI_Comm_size((*c)->comm, &size);
    return size == nranks ? ncclSuccess : ncclInvalidUsage;
}
ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t c, cudaStream_t st) {
    emu_stream_flush(st);  // the stream's earlier work, which wrote s, runs first
    if (t != ncclFloat || op != ncclSum || n > 0x7fffffff) return ncclInvalidArgument;
    return MPI_Allreduce(s == r ? MPI_IN_PLACE : s, r, (int)n, MPI_FLOAT, MPI_SUM, c->comm)
               ? ncclSystemError
               : ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t c) {
    MPI_Comm_free(&c->comm);
    free(c);
    return ncclSuccess;
}
ncclResult_t ncclGetVersion(int *v) {
    *v = NCCL_VERSION_CODE;
    return ncclSuccess;
}
const char *ncclGetErrorString(ncclResult_t r) {
    return r == ncclSuccess ? "success" : "mock NCCL error";
}
const char *ncclGetLastError(ncclComm_t c) {
    (void)c;
    return "";
}

