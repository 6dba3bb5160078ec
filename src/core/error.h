// Errors: the one fatal path of the program. A failure prints what went wrong, where
// (file:line) and a hint how to fix it, then ends the whole job: every MPI rank when MPI is
// up (the abort hook par_init registers), else the process. Library-specific macros
// (MPI_CHECK, H5_CHECK, CUDA_CHECK) live beside the only code that calls that library and
// end up here.
#pragma once
#include <stddef.h>

// Exit statuses of dna. A failure is DNA_EXIT_ERROR. DNA_EXIT_REQUEUE (EX_TEMPFAIL of
// sysexits.h) means "stopped by SIGTERM/SIGUSR1 with everything done so far checkpointed:
// run the same command again to continue"; slurm/common.sh requeues the job on it.
#define DNA_EXIT_ERROR 1
#define DNA_EXIT_REQUEUE 75

_Noreturn void dna_fatal(const char *file, int line, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define DNA_FAIL(hint, ...) dna_fatal(__FILE__, __LINE__, hint, __VA_ARGS__)
#define DNA_CHECK(cond, hint, ...)                                     \
    do {                                                               \
        if (!(cond)) dna_fatal(__FILE__, __LINE__, hint, __VA_ARGS__); \
    } while (0)

// Registered by src/par: the rank for messages (-1 when unknown) and the abort that ends every
// rank. Without them a fatal error exits this process.
void dna_fatal_hooks(int (*rank)(void), void (*abort_job)(int code));
// A file descriptor that receives every fatal message too (the stage's log); -1 stops it.
void dna_fatal_log(int fd);

// Helper threads may not end the job themselves: under MPI_THREAD_FUNNELED only the main
// thread calls MPI, so MPI_Abort from a helper is not allowed. A helper installs a catcher
// for its own thread; dna_fatal on that thread then hands the error to it (and never
// returns: the catcher ends the thread), and the main thread raises it at its next sync
// point with dna_fatal_raise. The catcher is per thread (_Thread_local), not process state.
typedef struct DnaError {
    char msg[1024], hint[512];
    const char *file;  // a string literal (__FILE__)
    int line;
} DnaError;
typedef void (*DnaFatalCatch)(const DnaError *e, void *arg);  // must not return
void dna_fatal_catch(DnaFatalCatch fn, void *arg);            // this thread; NULL: none
// Prints a recorded error (with `where`, e.g. "on the prefetch thread") and ends the job as
// dna_fatal does (on a thread with a catcher: hands it to the catcher).
_Noreturn void dna_fatal_raise(const DnaError *e, const char *where);

// Allocation that cannot return NULL: out of memory is fatal with the size asked for.
void *dna_malloc(size_t bytes);
void *dna_calloc(size_t count, size_t size);
