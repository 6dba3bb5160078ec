// Host stand-in for NCCL over MPI (the emulated device memory is host memory). A
// communicator of several ranks is one MPI_Comm_split of MPI_COMM_WORLD coloured by the id,
// so every rank in a group of two or more must make its communicator at the same point of
// the program (dna's groups are split together, so they do); one of a single rank needs no
// MPI. What NCCL refuses or suffers, this refuses or suffers too:
//  - two members on one device (same host, same device UUID: mock_device.c) make
//    ncclCommInitRank fail with ncclInvalidUsage ("Duplicate GPU detected");
//  - EMU_NCCL_ASYNC_ERROR=N breaks every communicator after its N-th allreduce, as a dead
//    peer or a lost link does: later allreduces never complete (they do nothing here) and
//    ncclCommGetAsyncError reports ncclRemoteError until the communicator is aborted.
// NCCL_DEBUG=INFO prints "Init COMPLETE" per communicator, WARN (or INFO) the refusals.
#define _DEFAULT_SOURCE  // gethostname
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

struct ncclComm {
    MPI_Comm comm;  // MPI_COMM_NULL for a single rank
    int rank, nranks;
    long sums;           // allreduces issued
    ncclResult_t async;  // what ncclCommGetAsyncError reports
};

static char last_error[256];

static int debug_at_least(const char *level) {
    const char *d = getenv("NCCL_DEBUG");
    if (!d) return 0;
    return !strcmp(d, "INFO") || !strcmp(d, "TRACE") || !strcmp(level, d);
}

static int world_rank(void) {
    int up = 0, r = 0;
    MPI_Initialized(&up);
    if (up) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    static unsigned counter;
    memset(id, 0, sizeof *id);
    unsigned v[2] = {(unsigned)world_rank(), ++counter};
    memcpy(id->internal, v, sizeof v);
    return ncclSuccess;
}

// Where a member runs: its host and its current device's UUID.
typedef struct {
    char host[64];
    unsigned char uuid[16];
} Place;

static ncclResult_t refuse_shared_devices(ncclComm_t c) {
    Place me = {0}, *all = calloc((size_t)c->nranks, sizeof *all);
    int dev = 0;
    struct cudaDeviceProp p;
    gethostname(me.host, sizeof me.host - 1);
    cudaGetDevice(&dev);
    cudaGetDeviceProperties(&p, dev);
    memcpy(me.uuid, p.uuid.bytes, sizeof me.uuid);
    MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, c->comm);
    ncclResult_t r = ncclSuccess;
    for (int i = 0; i < c->nranks && r == ncclSuccess; i++)
        if (i != c->rank && !strcmp(all[i].host, me.host) && !memcmp(all[i].uuid, me.uuid, 16)) {
            snprintf(last_error, sizeof last_error,
                     "Duplicate GPU detected : rank %d and rank %d both on CUDA device %d", c->rank,
                     i, dev);
            if (debug_at_least("WARN"))
                fprintf(stderr, "%s:%d NCCL WARN %s\n", me.host, (int)getpid(), last_error);
            r = ncclInvalidUsage;
        }
    free(all);
    return r;
}

ncclResult_t ncclCommInitRank(ncclComm_t *c, int nranks, ncclUniqueId id, int rank) {
    *c = calloc(1, sizeof **c);
    (*c)->comm = MPI_COMM_NULL;
    (*c)->rank = rank, (*c)->nranks = nranks;
    if (nranks > 1) {
        unsigned v[2];
        memcpy(v, id.internal, sizeof v);
        int color = (int)((v[0] * 1000003u + v[1]) & 0x7fffffff), size = 0;
        if (MPI_Comm_split(MPI_COMM_WORLD, color, rank, &(*c)->comm)) return ncclSystemError;
        MPI_Comm_size((*c)->comm, &size);
        if (size != nranks) return ncclInvalidUsage;
        ncclResult_t r = refuse_shared_devices(*c);
        if (r != ncclSuccess) {
            MPI_Comm_free(&(*c)->comm);
            free(*c), *c = NULL;
            return r;
        }
    }
    if (debug_at_least("INFO"))
        fprintf(stderr, "NCCL INFO ncclCommInitRank comm %p rank %d nranks %d - Init COMPLETE\n",
                (void *)*c, rank, nranks);
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
                           ncclComm_t c, cudaStream_t st) {
    emu_stream_flush(st);  // the stream's earlier work, which wrote s, runs first
    if (t != ncclFloat || op != ncclSum || n > 0x7fffffff) return ncclInvalidArgument;
    const char *after = getenv("EMU_NCCL_ASYNC_ERROR");
    if (c->async == ncclSuccess && after && c->sums >= atol(after)) {
        c->async = ncclRemoteError;
        snprintf(last_error, sizeof last_error,
                 "emulated: the connection to a peer closed after %ld allreduces", c->sums);
        if (debug_at_least("WARN")) fprintf(stderr, "NCCL WARN %s\n", last_error);
    }
    c->sums++;
    if (c->async != ncclSuccess) return ncclSuccess;  // queued work that never completes
    if (c->comm == MPI_COMM_NULL) {
        if (s != r) memmove(r, s, n * sizeof(float));
        return ncclSuccess;
    }
    return MPI_Allreduce(s == r ? MPI_IN_PLACE : s, r, (int)n, MPI_FLOAT, MPI_SUM, c->comm)
               ? ncclSystemError
               : ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *e) {
    *e = c->async;
    return ncclSuccess;
}

static void comm_free(ncclComm_t c) {
    if (c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm);
    free(c);
}
ncclResult_t ncclCommDestroy(ncclComm_t c) {
    comm_free(c);
    return ncclSuccess;
}
ncclResult_t ncclCommAbort(ncclComm_t c) {
    comm_free(c);
    return ncclSuccess;
}

ncclResult_t ncclGetVersion(int *v) {
    *v = NCCL_VERSION_CODE;
    return ncclSuccess;
}
const char *ncclGetErrorString(ncclResult_t r) {  // NCCL's own words
    switch (r) {
        case ncclSuccess:
            return "no error";
        case ncclUnhandledCudaError:
            return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
        case ncclSystemError:
            return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
        case ncclInternalError:
            return "internal error - please report this issue to the NCCL developers";
        case ncclInvalidArgument:
            return "invalid argument (run with NCCL_DEBUG=WARN for details)";
        case ncclInvalidUsage:
            return "invalid usage (run with NCCL_DEBUG=WARN for details)";
        case ncclRemoteError:
            return "remote process exited or there was a network error";
        case ncclInProgress:
            return "NCCL operation in progress";
        default:
            return "unknown result code";
    }
}
const char *ncclGetLastError(ncclComm_t c) {
    (void)c;
    return last_error;
}
