// The run context: everything a run shares (rank, backend, seed, logging mode), passed
// explicitly to whatever needs it. It is the only program-wide state there is.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct Backend Backend;

typedef struct RunCtx {
    int rank, nranks;   // MPI world rank and size (0 and 1 without MPI)
    int local_rank;     // rank among the ranks of this node: picks the device
    int local_size;     // ranks on this node
    int device;         // the CUDA device this rank drives; -1 on the CPU backend
    int is_tty;         // stdout of rank 0 is a terminal: progress redraws one line
    int verbose;        // 0 quiet, 1 normal, 2 debug (-q, -v)
    int log_fd;         // the stage's log file (<run>/log/<stage>.log), -1: none
    int metrics_fd;     // the stage's metrics file (<run>/log/<stage>.jsonl), -1: none
    int lock_fd;        // rank 0: the run lock held (<run>/.lock), -1: none
    double t_start;     // timer_now() at start, for log timestamps
    uint64_t seed;      // root seed of the run; every stream is split from it
    const Backend *be;  // where tensors live and ops run
    // par_init's: every rank's `bytes` bytes of `mine` into `all`, in rank order (a
    // collective for the layers below par, e.g. backend_use). NULL: one rank, no MPI.
    void (*allgather)(const void *mine, void *all, size_t bytes);
    const char *version, *git_rev;  // of this program, recorded in every output
    // The fingerprint of the stage running (io/fingerprint.h): every output it writes records
    // it. NULL outside a pipeline stage.
    const char *fingerprint, *fingerprint_keys;
    // [run] strict_determinism, which the CUDA backend's convolutions follow (backend_use).
    int strict_determinism;
} RunCtx;

// A context for a single process without MPI (tests, tools).
RunCtx ctx_local(const Backend *be, uint64_t seed);
