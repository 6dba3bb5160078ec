// The prefetcher behind prefetch.h: one helper thread from the first start to free, two slots,
// one mutex guarding every field below `mu`. The owner's fill runs without the lock; the
// mutex hand-overs (fill done -> READY, stop -> idle, start -> active) order the owner's
// memory between the two threads. A fatal error in a fill is not the helper's to raise
// (only the main thread may end an MPI job): the helper records it and exits, and the
// consumer raises it at its next call (next, stop, start, free). Includes only src/core.
#include "io/prefetch.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD } SlotState;

struct Prefetch {
    // Fixed from prefetch_new on.
    PrefetchOps ops;
    void *owner;
    int nbatches;
    // The consumer's side only: the helper starts with the first prefetch_start.
    pthread_t thread;
    int thread_live;
    // Guarded by mu.
    pthread_mutex_t mu;
    pthread_cond_t work;   // helper waits: a slot freed, an epoch started, quit
    pthread_cond_t ready;  // consumer waits: a slot filled (or a fill ended)
    SlotState state[2];
    int batch[2];  // batch in slot (READY or HELD)
    int active;    // an epoch runs: the helper may start fills
    int quit;
    int filling;  // a fill is in flight (its slot is FILLING)
    int fill_next, take_next, held;
    int failed;  // the helper hit a fatal error (err) and exited
    DnaError err;
};

// On the helper thread, from dna_fatal: records the error, wakes the consumer, ends the
// thread. The prefetch mutex is not held during a fill, so taking it here cannot deadlock;
// an owner that holds locks of its own in a fill releases them with pthread_cleanup_push.
static void helper_failed(const DnaError *e, void *arg) {
    Prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    if (!p->failed) p->err = *e;
    p->failed = 1;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
    pthread_exit(NULL);
}

// Consumer side, with mu held: a recorded error ends the job here, on the main thread.
static void raise_failed(Prefetch *p) {
    if (!p->failed) return;
    DnaError e = p->err;
    pthread_mutex_unlock(&p->mu);
    dna_fatal_raise(&e, "on the prefetch thread");
}

static void *helper(void *arg) {
    Prefetch *p = arg;
    dna_fatal_catch(helper_failed, p);
    if (p->ops.thread_init) p->ops.thread_init(p->owner);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && !(p->active && p->fill_next < p->nbatches &&
                             p->state[p->fill_next & 1] == SLOT_FREE))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        int b = p->fill_next, s = b & 1;
        p->state[s] = SLOT_FILLING;
        p->filling = 1;
        pthread_mutex_unlock(&p->mu);
        p->ops.fill(p->owner, b, s);
        pthread_mutex_lock(&p->mu);
        p->batch[s] = b;
        p->state[s] = SLOT_READY;
        p->filling = 0;
        p->fill_next++;
        pthread_cond_broadcast(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

Prefetch *prefetch_new(int nbatches, PrefetchOps ops, void *owner) {
    DNA_CHECK(nbatches >= 0 && ops.fill, "pass a batch count >= 0 and a fill callback",
              "prefetch: %d batches, fill %s", nbatches, ops.fill ? "set" : "NULL");
    Prefetch *p = dna_calloc(1, sizeof *p);
    p->ops = ops;
    p->owner = owner;
    p->nbatches = nbatches;
    p->held = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->ready, NULL);
    return p;
}

void prefetch_stop(Prefetch *p) {
    pthread_mutex_lock(&p->mu);
    p->active = 0;  // no new fill starts ...
    while (p->filling && !p->failed)
        pthread_cond_wait(&p->ready, &p->mu);  // ... one in flight ends
    raise_failed(p);
    p->state[0] = p->state[1] = SLOT_FREE;
    p->held = -1;
    pthread_mutex_unlock(&p->mu);
}

void prefetch_start(Prefetch *p, int start_batch) {
    DNA_CHECK(start_batch >= 0 && start_batch <= p->nbatches, "start at a batch of the epoch",
              "prefetch: start batch %d outside 0..%d", start_batch, p->nbatches);
    if (!p->thread_live) {
        int rc = pthread_create(&p->thread, NULL, helper, p);
        DNA_CHECK(rc == 0, "raise the process/thread limit (ulimit -u)",
                  "prefetch: cannot start the helper thread (error %d)", rc);
        p->thread_live = 1;
    }
    prefetch_stop(p);
    pthread_mutex_lock(&p->mu);
    p->fill_next = p->take_next = start_batch;
    p->active = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

int prefetch_next(Prefetch *p) {
    pthread_mutex_lock(&p->mu);
    raise_failed(p);
    if (p->held >= 0) {
        p->state[p->held] = SLOT_FREE;  // the consumer is done with it: the helper may refill
        p->held = -1;
        pthread_cond_signal(&p->work);
    }
    if (!p->active || p->take_next >= p->nbatches) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    int b = p->take_next, s = b & 1;
    while (!(p->state[s] == SLOT_READY && p->batch[s] == b) && !p->failed)
        pthread_cond_wait(&p->ready, &p->mu);
    raise_failed(p);
    p->state[s] = SLOT_HELD;
    p->held = s;
    p->take_next++;
    pthread_mutex_unlock(&p->mu);
    return s;
}

void prefetch_free(Prefetch *p) {
    if (!p) return;
    if (p->thread_live) {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);  // a fill in flight ends first (or failed)
    }
    int failed = p->failed;  // the helper has ended: no lock needed
    DnaError e = p->err;
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
    // An error of a batch nobody took is still an error; raised once everything is freed.
    if (failed) dna_fatal_raise(&e, "on the prefetch thread");
}
