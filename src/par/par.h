// The only module that calls MPI. Initialises the rank context, aborts the whole job on a
// fatal error, and offers the few collectives the rest of the program needs. A run on one
// rank (or without mpirun) goes through the same code.
// The device-only build (make CUDA=1 DEVICE_ONLY=1, which defines DNA_NO_MPI) links
// par_serial.c instead: the same functions for one rank, without MPI.
#pragma once
#include <stddef.h>

#include "core/ctx.h"
#include "core/error.h"
#include "tensor/ops.h"

#ifndef DNA_NO_MPI
#include <mpi.h>

#define MPI_CHECK(call)                                                                         \
    do {                                                                                        \
        int mpi_rc_ = (call);                                                                   \
        if (mpi_rc_ != MPI_SUCCESS) {                                                           \
            char mpi_msg_[MPI_MAX_ERROR_STRING];                                                \
            int mpi_len_ = 0;                                                                   \
            MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_);                                     \
            dna_fatal(__FILE__, __LINE__, "check the MPI launch (mpirun/srun) and the network", \
                      "%s failed: %s", #call, mpi_msg_);                                        \
        }                                                                                       \
    } while (0)
#endif

// Fills rank, nranks, local_rank/size; fatal when MPI cannot give MPI_THREAD_FUNNELED. The
// calling thread becomes the only one that calls MPI: par_abort and par_world_rank on any
// other thread do not (the process exits; the rank recorded here).
void par_init(RunCtx *ctx, int *argc, char ***argv);
// Fatal, naming the level, when `provided` (MPI_Init_thread's) is below MPI_THREAD_FUNNELED.
void par_thread_level_check(int provided);
void par_finalize(void);
int par_world_rank(void);            // -1 when MPI is not initialised (for error messages)
_Noreturn void par_abort(int code);  // MPI_Abort when MPI runs on several ranks, else exit
void par_barrier(void);
// Rank 0's value or text on every rank: what rank 0 decided (skip, resume, valid) is what
// every rank does, even where a shared filesystem shows ranks different things.
int par_bcast_int(int v);
char *par_bcast_text(const char *text);  // a copy on every rank (caller frees); NULL stays NULL
void par_allreduce_sum_f32(float *buf, size_t n);  // in place, over all ranks
// Every rank's `bytes` bytes of `mine` into `all` (nranks * bytes), in rank order; par_init
// hands it to the layers below as RunCtx.allgather.
void par_allgather(const void *mine, void *all, size_t bytes);
void par_allreduce_sum_f64(double *buf, size_t n);
// A rank group: the ranks that train one job together (data-parallel, R > J). Split is
// collective over all ranks; members keep their world order.
typedef struct ParGroup ParGroup;
ParGroup *par_group_split(int color);
int par_group_rank(const ParGroup *g);  // g NULL: the world rank
int par_group_size(const ParGroup *g);  // g NULL: the world size
void par_group_sum_f64(ParGroup *g, double *buf, size_t n);  // in place, over the group
void par_group_bn_sum(void *g, double *buf, size_t n);  // the same, as a BnSync callback
// Elementwise OR of n flags over the group's members (g NULL: every rank), in place: one
// allreduce for several yes/no decisions that the members must take together.
void par_group_or(ParGroup *g, int *flags, int n);
void par_group_barrier(ParGroup *g);  // g NULL: every rank
// Every member's row of n doubles, stacked in member order on member 0 ([size * n], a new
// buffer there; NULL on the others). g NULL: every rank.
double *par_group_gather_rows(ParGroup *g, const double *row, int n);
void par_group_free(ParGroup *g);                       // collective; safe on NULL
// Sums of float buffers in a backend's memory (gradients) over a group, or over every rank
// for g NULL: with the backend's device collectives (NCCL), so the data stays on the GPU,
// where every member has them and a GPU of its own (same host and device UUID: one GPU),
// else through a host buffer and MPI, with one warning from the group's rank 0 naming why.
// The choice is the members' together. new and free are collective over the members; g
// must outlive the sum.
typedef struct ParSum ParSum;
ParSum *par_sum_new(const Backend *be, ParGroup *g);
void par_sum_f32(ParSum *s, float *buf, size_t n);  // in place, buf in the backend's memory
// The members' sum (mean: their mean) of n tensors in place, packed into one buffer of the
// backend's memory for a single allreduce; *extra (NULL: none) rides along as one more
// value (a step's loss).
void par_sum_tensors(ParSum *s, Tensor *const *t, int n, int mean, double *extra);
void par_sum_free(ParSum *s);  // collective; safe on NULL
// SIGTERM and SIGUSR1 (what Slurm sends before preemption or the time limit) set a flag
// that training loops poll between steps, so every rank checkpoints and the command exits
// with DNA_EXIT_REQUEUE. Installed by the runner for the stages that checkpoint: the others
// have nothing to save, so there the signals keep their default action (terminate) and a
// job is not left running to its SIGKILL.
void par_signals_install(void);
// Default actions again; a signal that came after the last par_stop_agreed is re-raised
// (the one that arrived: SIGTERM or SIGUSR1), so it is never lost.
void par_signals_restore(void);
int par_stop_requested(void);  // this rank got a stop signal not yet agreed on
// Collective over every rank: 1 on all when any rank got a stop signal since the last
// call; those signals then count as acted on (par_signals_restore does not re-raise them).
int par_stop_agreed(void);
// This rank's half of par_stop_agreed (src/par only): 1 when a stop signal came since the
// last call; those signals then count as acted on.
int par_stop_take(void);
// Concatenates every rank's n values in rank order on rank 0 (MPI_Gatherv): returns a new
// buffer there (its length in *total), NULL on the other ranks.
double *par_gatherv_f64(const double *send, int n, int *total);
// A shared counter on rank 0 that any rank takes the next value of without rank 0 taking
// part (MPI one-sided fetch-and-add, passive target): dynamic work assignment. new and free
// are collective; values start at 0.
typedef struct ParCounter ParCounter;
ParCounter *par_counter_new(void);
long par_counter_next(ParCounter *c);
void par_counter_free(ParCounter *c);
// The MPI library's version string, first line only (for run records).
void par_library_version(char *buf, size_t n);
// min/avg/max of a per-rank value (e.g. busy time), valid on every rank.
void par_minavgmax(double v, double out[3]);
