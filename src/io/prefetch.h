// A prefetcher: one helper thread fills a double buffer of batches (batch b goes to slot b & 1)
// through its owner's fill callback while the owner's caller computes. Owns the threading only;
// the owner owns the slots' memory, what a batch holds, and any state the fill reads. Batch b
// is filled exactly once per epoch, in order, whatever the timing.
#pragma once

// Fills slot (0 or 1) with batch `batch` on the helper thread. It may write the slot and the
// owner's fill-side state; the consumer's side sees them once prefetch_next hands the slot over.
// A fatal error in a fill (DNA_CHECK, H5_CHECK, dna_malloc) ends the helper thread, not the
// job: the consumer's next call into the prefetcher (next, stop, start or free) raises it on
// the calling (main) thread, with the fill's message and place. No MPI on the helper.
typedef void (*PrefetchFill)(void *owner, int batch, int slot);

typedef struct PrefetchOps {
    PrefetchFill fill;
    void (*thread_init)(void *owner);  // optional: once on the helper thread before any fill
} PrefetchOps;

typedef struct Prefetch Prefetch;

// nbatches: batches per epoch. The helper thread starts with the first prefetch_start.
Prefetch *prefetch_new(int nbatches, PrefetchOps ops, void *owner);
// Ends the epoch in progress: no new fill starts, one in flight is waited for, the held slot
// is released. On return the helper touches nothing of the owner's until prefetch_start, so
// the owner may change its epoch state (or the slots) without a lock. prefetch_next returns
// -1 until the next start. A no-op when nothing runs.
void prefetch_stop(Prefetch *p);
// Stops (as prefetch_stop) and starts an epoch at batch start_batch (0..nbatches; resume);
// fatal outside that range.
void prefetch_start(Prefetch *p, int start_batch);
// Releases the slot handed out by the previous call, then blocks until the next batch is
// filled. Returns its slot, valid until the next call (or stop/start/free); -1 at the end of
// the epoch or when none is started.
int prefetch_next(Prefetch *p);
// Waits for a fill in flight, ends the helper thread. NULL is a no-op.
void prefetch_free(Prefetch *p);
