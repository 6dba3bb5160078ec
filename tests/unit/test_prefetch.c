// The prefetcher on its own: batches arrive in order, each filled once, with the content the
// owner's state at start asked for; resume at any start batch; restarts mid-epoch with a fill
// in flight; free while a fill runs; held slots stay intact under a slow consumer; a slow
// filler makes next wait, not skip. The owner here is a toy: slots of ints, a fill log.
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "harness.h"
#include "io/prefetch.h"

enum { LEN = 16, LOG_MAX = 4096 };

typedef struct Owner {
    int data[2][LEN];    // slot contents: tag(epoch, batch) + i
    int epoch;           // owner's epoch state: written only while the prefetcher is stopped
    atomic_int fill_us;  // sleep inside each fill
    // Fill side, read by the test only after stop/free.
    int log[LOG_MAX], nlog, inits;
    pthread_t init_thread, fill_thread;
    // Read while the helper runs.
    atomic_int started, finished;
} Owner;

static void sleep_us(int us) {
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int tag(int epoch, int batch) {
    return epoch * 1000000 + batch * 1000;
}

static void fill(void *owner, int batch, int slot) {
    Owner *o = owner;
    atomic_fetch_add(&o->started, 1);
    int us = atomic_load(&o->fill_us);
    if (us) sleep_us(us);
    for (int i = 0; i < LEN; i++) o->data[slot][i] = tag(o->epoch, batch) + i;
    if (o->nlog < LOG_MAX) o->log[o->nlog++] = batch;
    o->fill_thread = pthread_self();
    atomic_fetch_add(&o->finished, 1);
}

static void init(void *owner) {
    Owner *o = owner;
    o->inits++;
    o->init_thread = pthread_self();
}

static Prefetch *make(Owner *o, int nb) {
    memset(o, 0, sizeof *o);
    return prefetch_new(nb, (PrefetchOps){.fill = fill, .thread_init = init}, o);
}

// Restart with owner state changed while stopped, as loader/shard reader do.
static void restart(Prefetch *p, Owner *o, int epoch, int start) {
    prefetch_stop(p);
    o->epoch = epoch;
    o->nlog = 0;
    prefetch_start(p, start);
}

static int slot_ok(const Owner *o, int s, int epoch, int batch) {
    if (s != (batch & 1)) return 0;
    for (int i = 0; i < LEN; i++)
        if (o->data[s][i] != tag(epoch, batch) + i) return 0;
    return 1;
}

// Takes batches until the end; checks each is the next in order with its content. Returns the
// count taken.
static int take_all(Prefetch *p, Owner *o, int epoch, int start) {
    int b = start, s;
    while ((s = prefetch_next(p)) >= 0) {
        T_CHECK(slot_ok(o, s, epoch, b), "epoch %d: slot %d does not hold batch %d", epoch, s, b);
        b++;
    }
    return b - start;
}

static void check_log(const Owner *o, int start, int n, const char *what) {
    T_CHECK(o->nlog == n, "%s: %d fills, want %d", what, o->nlog, n);
    for (int i = 0; i < o->nlog && i < n; i++)
        T_CHECK(o->log[i] == start + i, "%s: fill %d was batch %d, want %d", what, i, o->log[i],
                start + i);
}

TEST(prefetch_batches_arrive_in_order_with_their_content) {
    Owner o;
    Prefetch *p = make(&o, 7);
    T_CHECK(prefetch_next(p) == -1, "a batch before any start");
    for (int epoch = 0; epoch < 3; epoch++) {
        restart(p, &o, epoch, 0);
        T_CHECK(take_all(p, &o, epoch, 0) == 7, "epoch %d: not 7 batches", epoch);
        T_CHECK(prefetch_next(p) == -1, "a batch after the end of the epoch");
        prefetch_stop(p);
        check_log(&o, 0, 7, "whole epoch");  // each batch filled once, in order
    }
    T_CHECK(o.inits == 1, "thread_init ran %d times", o.inits);
    T_CHECK(pthread_equal(o.init_thread, o.fill_thread) &&
                !pthread_equal(o.fill_thread, pthread_self()),
            "fills must run on the helper thread that thread_init ran on");
    prefetch_free(p);
    Prefetch *empty = make(&o, 0);
    prefetch_start(empty, 0);
    T_CHECK(prefetch_next(empty) == -1 && o.nlog == 0, "an epoch of 0 batches gave one");
    prefetch_free(empty);
    prefetch_free(NULL);
}

TEST(prefetch_resumes_at_start_batch) {
    Owner o;
    Prefetch *p = make(&o, 9);
    for (int k = 0; k <= 9; k++) {
        restart(p, &o, 10 + k, k);
        T_CHECK(take_all(p, &o, 10 + k, k) == 9 - k, "start %d: wrong batch count", k);
        prefetch_stop(p);
        check_log(&o, k, 9 - k, "resumed");
    }
    prefetch_free(p);
}

// Restarts after 0..3 batches taken, with the helper mid-fill (fills sleep on odd epochs),
// many times over; after each stop the fills since the start were consecutive from it and at
// most two ahead of the consumer; the owner's new epoch state is all the fill ever sees.
TEST(prefetch_restart_mid_epoch) {
    Owner o;
    Prefetch *p = make(&o, 6);
    int start = 0, taken = 0;
    for (int r = 0; r < 200; r++) {
        prefetch_stop(p);
        int most = taken + 1 > 2 ? taken + 1 : 2;  // the held slot is never refilled
        T_CHECK(o.nlog <= most, "restart %d: %d fills for %d taken", r, o.nlog, taken);
        for (int i = 0; i < o.nlog; i++)
            T_CHECK(o.log[i] == start + i, "restart %d: fill %d was batch %d", r, i, o.log[i]);
        atomic_store(&o.fill_us, r & 1 ? 300 : 0);
        start = r % 7 < 6 ? r % 7 : 6;
        restart(p, &o, r, start);
        taken = 0;
        for (int s; taken < r % 4 && (s = prefetch_next(p)) >= 0; taken++)
            T_CHECK(slot_ok(&o, s, r, start + taken), "restart %d: batch %d wrong", r,
                    start + taken);
    }
    atomic_store(&o.fill_us, 0);
    restart(p, &o, 1000, 0);
    T_CHECK(take_all(p, &o, 1000, 0) == 6, "the run after restarts was cut short");
    prefetch_free(p);
}

TEST(prefetch_stop_ends_the_epoch) {
    Owner o;
    Prefetch *p = make(&o, 5);
    restart(p, &o, 1, 0);
    int s = prefetch_next(p);
    T_CHECK(slot_ok(&o, s, 1, 0), "first batch wrong");
    prefetch_stop(p);
    T_CHECK(prefetch_next(p) == -1, "a batch after stop");
    T_CHECK(o.nlog <= 2, "%d fills with one batch taken", o.nlog);
    prefetch_start(p, 3);  // owner state unchanged: epoch 1
    T_CHECK(take_all(p, &o, 1, 3) == 2, "restart at 3 after stop");
    prefetch_free(p);
}

static void wait_started(Owner *o, int n) {
    while (atomic_load(&o->started) < n) sleep_us(100);
}

// Free returns only after the fill in flight ended: the slots may go right after it.
TEST(prefetch_free_while_a_fill_is_in_flight) {
    Owner o;
    Prefetch *p = make(&o, 4);
    atomic_store(&o.fill_us, 30000);
    prefetch_start(p, 0);
    wait_started(&o, 1);
    prefetch_free(p);
    T_CHECK(atomic_load(&o.finished) == atomic_load(&o.started),
            "free returned with a fill still running (%d started, %d finished)",
            atomic_load(&o.started), atomic_load(&o.finished));
    // With a batch held and the next one in flight.
    p = make(&o, 4);
    atomic_store(&o.fill_us, 20000);
    prefetch_start(p, 0);
    T_CHECK(prefetch_next(p) == 0, "first batch");  // batch 1 is being filled now
    prefetch_free(p);
    T_CHECK(atomic_load(&o.finished) == atomic_load(&o.started), "free left a fill running");
    // Never started.
    p = make(&o, 4);
    prefetch_free(p);
    T_CHECK(atomic_load(&o.started) == 0, "a fill ran without a start");
}

// A consumer slower than the filler: the held batch stays intact while held, and the helper
// never runs more than one batch ahead of it.
TEST(prefetch_slow_consumer) {
    Owner o;
    Prefetch *p = make(&o, 12);
    restart(p, &o, 3, 0);
    int b = 0;
    for (int s; (s = prefetch_next(p)) >= 0; b++) {
        T_CHECK(slot_ok(&o, s, 3, b), "batch %d wrong on arrival", b);
        sleep_us(2000);  // the helper fills b + 1 meanwhile, and must not touch slot s
        T_CHECK(slot_ok(&o, s, 3, b), "batch %d changed while held", b);
        int st = atomic_load(&o.started);
        T_CHECK(st <= b + 2, "holding batch %d, %d fills started", b, st);
    }
    T_CHECK(b == 12, "%d batches", b);
    prefetch_free(p);
}

// A filler slower than the consumer: next waits for each batch, none is skipped or repeated.
TEST(prefetch_slow_filler) {
    Owner o;
    Prefetch *p = make(&o, 10);
    atomic_store(&o.fill_us, 2000);
    restart(p, &o, 4, 0);
    T_CHECK(take_all(p, &o, 4, 0) == 10, "batches lost with a slow filler");
    prefetch_stop(p);
    check_log(&o, 0, 10, "slow filler");
    prefetch_free(p);
}

static void bad_start(void *arg) {
    (void)arg;
    Owner o;
    Prefetch *p = make(&o, 3);
    prefetch_start(p, 4);
}

TEST(prefetch_rejects_a_start_past_the_end) {
    T_EXPECT_DEATH(bad_start, NULL, "start batch 4 outside 0..3");
}

// A fatal error in a fill (issue 17): the helper thread records it and exits; the job ends
// on the consumer's (main) thread at its next call, with the fill's message and the note where
// it happened. Without the hand-over the helper would end the process itself (MPI_Abort from a
// thread that MPI_THREAD_FUNNELED does not allow).
typedef struct FailOwner {
    int data[2][LEN];
    int fail_at;  // the batch whose fill fails
    pthread_t main, failed_on;
} FailOwner;

static void failing_fill(void *owner, int batch, int slot) {
    FailOwner *o = owner;
    o->data[slot][0] = batch;
    if (batch == o->fail_at) {
        o->failed_on = pthread_self();
        DNA_FAIL("fix the data", "fill of batch %d failed", batch);
    }
}

static void consume_until_failure(void *arg) {
    FailOwner o = {.fail_at = *(int *)arg, .main = pthread_self()};
    Prefetch *p = prefetch_new(6, (PrefetchOps){.fill = failing_fill}, &o);
    prefetch_start(p, 0);
    for (int b = 0; b < 6; b++) {
        int s = prefetch_next(p);  // the failing batch's next raises on this (main) thread
        if (s < 0 || o.data[s][0] != b) _exit(3);
    }
    _exit(4);  // never reached: the error must stop the consumer
}

static void free_after_failure(void *arg) {
    (void)arg;
    FailOwner o = {.fail_at = 1};
    Prefetch *p = prefetch_new(6, (PrefetchOps){.fill = failing_fill}, &o);
    prefetch_start(p, 0);
    prefetch_next(p);  // batch 0; batch 1's fill fails in the background
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    prefetch_free(p);  // an error nobody took a batch of is still raised
    _exit(5);
}

TEST(prefetch_fill_error_is_raised_on_the_main_thread) {
    int at = 2;
    T_EXPECT_DEATH(consume_until_failure, &at, "fill of batch 2 failed");
    T_EXPECT_DEATH(consume_until_failure, &at, "on the prefetch thread");
    T_EXPECT_DEATH(consume_until_failure, &at, "fix: fix the data");
    at = 0;
    T_EXPECT_DEATH(consume_until_failure, &at, "fill of batch 0 failed");
    T_EXPECT_DEATH(free_after_failure, NULL, "fill of batch 1 failed");
}

// In-process: the fatal on the helper does not end the process before the consumer raises
// it; the consumer's dna_fatal runs on the thread that called prefetch_next (checked through a
// catcher installed on the main thread, which a real run never does).
static pthread_t raised_on;
static void catch_on_main(const DnaError *e, void *arg) {
    (void)e;
    raised_on = pthread_self();
    longjmp(*(jmp_buf *)arg, 1);
}

TEST(prefetch_fill_error_reaches_the_consumer_thread) {
    FailOwner o = {.fail_at = 1};
    Prefetch *p = prefetch_new(4, (PrefetchOps){.fill = failing_fill}, &o);
    static jmp_buf jb;
    volatile int got = 0;
    if (setjmp(jb) == 0) {
        dna_fatal_catch(catch_on_main, &jb);
        prefetch_start(p, 0);
        while (prefetch_next(p) >= 0) got++;
        T_CHECK(0, "the failed fill was not raised (%d batches)", got);
    }
    dna_fatal_catch(NULL, NULL);
    // Batch 0 may or may not be taken first: the error is raised at the first call after it.
    T_CHECK(got <= 1, "%d batches before the failure, want at most 1", got);
    T_CHECK(pthread_equal(raised_on, pthread_self()), "raised on another thread");
    T_CHECK(!pthread_equal(o.failed_on, pthread_self()), "the fill ran on the main thread");
    // The helper has exited; free joins it and raises the recorded error again.
    if (setjmp(jb) == 0) {
        dna_fatal_catch(catch_on_main, &jb);
        prefetch_free(p);
        T_CHECK(0, "free did not raise the recorded error");
    }
    dna_fatal_catch(NULL, NULL);
}
