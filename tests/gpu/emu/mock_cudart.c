// Host stand-in for the CUDA runtime's memory, streams, events and errors (tests/gpu/emu/
// run.sh); the device queries are in mock_device.c. Device memory is host memory, filled
// with garbage on cudaMalloc. It checks what it is given, not speed:
// - Streams are deferred: every stream-ordered call (copies, memsets, kernel launches, the
//   cuDNN/cuBLAS stand-ins' work) is queued on its stream and runs only at a
//   synchronisation point (stream, event and device synchronisation, queries, synchronous
//   copies, cudaFree/cudaFreeHost, a copy into pageable memory), and then only what that
//   point needs, latest-issued first among the streams' ready heads. So work of two
//   streams runs in reverse issue order unless an event orders it, and a stream's work
//   waits for a synchronisation of that stream: a missing cudaStreamWaitEvent or
//   synchronisation shows up as stale or overwritten data.
// - The legacy stream 0 orders with the blocking streams (flags 0), not with
//   cudaStreamNonBlocking ones, so a synchronous cudaMemcpy does not wait for those.
// - cudaMemcpyAsync from pageable memory reads the source at the call, as CUDA stages it;
//   from pinned memory it reads when it runs, so the source must stay until a sync.
// - cudaPointerGetAttributes knows cudaMallocHost/cudaHostAlloc memory (host),
//   cudaMalloc memory (device), and nothing else (unregistered); copies and memsets must
//   stay inside one device allocation (cudaErrorInvalidValue otherwise).
// - cudaGetLastError / cudaPeekAtLastError report failed calls and launches.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static cudaError_t last_error;

static cudaError_t fail(cudaError_t e) {
    last_error = e;
    return e;
}
void emu_set_error(cudaError_t e) {
    last_error = e;
}
cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) {
    return last_error;
}

// ---------------------------------------------------------------- allocations
// Sorted [base, base + bytes) ranges, looked up by any address inside them.
typedef struct {
    uintptr_t base;
    size_t bytes;
} Range;
typedef struct {
    Range *r;
    size_t n, cap;
} Ranges;
static Ranges dev_mem, pinned_mem;

static size_t range_pos(const Ranges *s, uintptr_t a) {  // first range with base > a
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->r[mid].base <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
static void range_add(Ranges *s, uintptr_t a, size_t bytes) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        if (!s->r) abort();
    }
    size_t i = range_pos(s, a);
    memmove(s->r + i + 1, s->r + i, (s->n - i) * sizeof *s->r);
    s->r[i] = (Range){a, bytes ? bytes : 1};
    s->n++;
}
// The range holding [p, p + bytes), or NULL.
static const Range *range_find(const Ranges *s, const void *p, size_t bytes) {
    size_t i = range_pos(s, (uintptr_t)p);
    if (!i) return NULL;
    const Range *r = &s->r[i - 1];
    uintptr_t a = (uintptr_t)p;
    return a - r->base < r->bytes && bytes <= r->bytes - (a - r->base) ? r : NULL;
}
static int range_remove(Ranges *s, const void *p) {
    size_t i = range_pos(s, (uintptr_t)p);
    if (!i || s->r[i - 1].base != (uintptr_t)p) return 0;
    memmove(s->r + i - 1, s->r + i, (s->n - i) * sizeof *s->r);
    s->n--;
    return 1;
}

// ---------------------------------------------------------------- streams and events
typedef struct EmuStream EmuStream;
typedef struct {
    EmuStream *s;
    uint64_t seq;
} Point;  // the op of stream s numbered seq
typedef struct Op {
    struct Op *next;
    uint64_t seq;
    void (*run)(void *);  // NULL: only waits
    void *arg;
    Point *deps;  // besides the stream's earlier ops
    int ndeps;
} Op;
struct EmuStream {
    Op *head, *tail;
    uint64_t last;  // seq of the last op issued
    int blocking;   // orders with the legacy stream
    EmuStream *next_stream;
};
struct CUevent_st {
    Point at;  // the last op issued on the stream when recorded; at.s NULL: never recorded
};
static EmuStream legacy = {.blocking = 1};
static EmuStream *streams = &legacy;  // all of them, linked
static uint64_t seq;

static EmuStream *stream_of(cudaStream_t s) {
    if (s == cudaStreamPerThread || s == cudaStreamLegacy) {
        fprintf(stderr, "emu: cudaStreamPerThread/cudaStreamLegacy are not emulated\n");
        abort();
    }
    return s ? (EmuStream *)s : &legacy;
}
static int done(Point p) {
    return !p.s || !p.s->head || p.s->head->seq > p.seq;
}

static void push(EmuStream *s, Op *op) {
    op->seq = ++seq;
    s->last = op->seq;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
}
static void add_dep(Op *op, Point p) {
    if (done(p)) return;
    op->deps = realloc(op->deps, (size_t)(op->ndeps + 1) * sizeof *op->deps);
    if (!op->deps) abort();
    op->deps[op->ndeps++] = p;
}
void emu_enqueue(cudaStream_t st, void (*run)(void *), void *arg) {
    EmuStream *s = stream_of(st);
    Op *op = calloc(1, sizeof *op);
    if (!op) abort();
    op->run = run, op->arg = arg;
    if (s == &legacy) {
        for (EmuStream *o = streams; o; o = o->next_stream)
            if (o != s && o->blocking) add_dep(op, (Point){o, o->last});
    } else if (s->blocking) {
        add_dep(op, (Point){&legacy, legacy.last});
    }
    push(s, op);
}

static int ready(const Op *op) {
    for (int i = 0; i < op->ndeps; i++)
        if (!done(op->deps[i])) return 0;
    return 1;
}
// Runs the ops that must run for every point of want[0, n) to be done: what those points'
// streams issued up to them and, transitively, what those ops wait for. Among the streams
// whose head is needed and ready, the latest-issued head runs first, so independent work of
// two streams runs in reverse issue order.
static void run_until(const Point *want, int n) {
    uint64_t need[64] = {0};
    EmuStream *list[64];
    int ns = 0;
    for (EmuStream *o = streams; o; o = o->next_stream) {
        if (ns == 64) abort();
        list[ns++] = o;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < ns; j++)
            if (list[j] == want[i].s && want[i].seq > need[j]) need[j] = want[i].seq;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int j = 0; j < ns; j++)
            for (Op *op = list[j]->head; op && op->seq <= need[j]; op = op->next)
                for (int d = 0; d < op->ndeps; d++)
                    for (int k = 0; k < ns; k++)
                        if (list[k] == op->deps[d].s && op->deps[d].seq > need[k])
                            need[k] = op->deps[d].seq, changed = 1;
    }
    for (;;) {
        int best = -1, pending = 0;
        for (int j = 0; j < ns; j++) {
            Op *h = list[j]->head;
            if (!h || h->seq > need[j]) continue;
            pending = 1;
            if (ready(h) && (best < 0 || h->seq > list[best]->head->seq)) best = j;
        }
        if (!pending) return;
        if (best < 0) {
            fprintf(stderr, "emu: streams wait for each other in a cycle\n");
            abort();
        }
        EmuStream *s = list[best];
        Op *op = s->head;
        s->head = op->next;
        if (!s->head) s->tail = NULL;
        if (op->run) op->run(op->arg);
        free(op->deps);
        free(op);
    }
}
static void sync_stream(EmuStream *s) {
    Point p = {s, s->last};
    run_until(&p, 1);
}
static void sync_all(void) {
    Point p[64];
    int n = 0;
    for (EmuStream *o = streams; o; o = o->next_stream) {
        if (n == 64) abort();
        p[n++] = (Point){o, o->last};
    }
    run_until(p, n);
}
void emu_stream_flush(cudaStream_t s) {
    sync_stream(stream_of(s));
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) {
    EmuStream *e = calloc(1, sizeof *e);
    if (!e) return fail(cudaErrorMemoryAllocation);
    e->blocking = !(f & cudaStreamNonBlocking);
    e->next_stream = streams, streams = e;
    *s = (cudaStream_t)e;
    return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s) {
    return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    sync_stream(stream_of(s));
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
    sync_all();
    return cudaSuccess;
}
// A query lets the stream's work run, but says "not ready" when there was any: code that
// polls must poll again, as on a device.
cudaError_t cudaStreamQuery(cudaStream_t st) {
    EmuStream *s = stream_of(st);
    if (done((Point){s, s->last})) return cudaSuccess;
    sync_stream(s);
    return cudaErrorNotReady;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned f) {
    (void)f;
    *e = calloc(1, sizeof **e);
    return *e ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    return cudaEventCreateWithFlags(e, cudaEventDefault);
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st) {
    EmuStream *s = stream_of(st);
    e->at = (Point){s, s->last};
    return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t e, unsigned f) {
    (void)f;
    Op *op = calloc(1, sizeof *op);
    if (!op) abort();
    if (e->at.s) add_dep(op, e->at);  // a never-recorded event is no wait, as in CUDA
    push(stream_of(st), op);
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (e->at.s) run_until(&e->at, 1);
    return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!e->at.s || done(e->at)) return cudaSuccess;
    run_until(&e->at, 1);
    return cudaErrorNotReady;
}

// ---------------------------------------------------------------- memory
cudaError_t cudaMalloc(void **p, size_t b) {
    *p = malloc(b ? b : 1);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    memset(*p, 0xA5, b);  // garbage, as real device memory
    range_add(&dev_mem, (uintptr_t)*p, b);
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    sync_all();  // cudaFree waits for the device
    if (!p) return cudaSuccess;
    if (!range_remove(&dev_mem, p)) return fail(cudaErrorInvalidValue);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t b, unsigned f) {
    (void)f;
    void *q = malloc(b ? b : 1);
    if (!q) return fail(cudaErrorMemoryAllocation);
    range_add(&pinned_mem, (uintptr_t)q, b);
    *p = q;
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t b) {
    return cudaHostAlloc(p, b, cudaHostAllocDefault);
}
cudaError_t cudaFreeHost(void *p) {
    sync_all();
    if (!p) return cudaSuccess;
    if (!range_remove(&pinned_mem, p)) return fail(cudaErrorInvalidValue);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p) {
    memset(a, 0, sizeof *a);
    a->type = cudaMemoryTypeUnregistered;
    a->device = -2;  // what CUDA reports for unregistered memory
    if (range_find(&pinned_mem, p, 0)) {
        a->type = cudaMemoryTypeHost, a->device = 0;
        a->hostPointer = a->devicePointer = (void *)p;  // unified addressing
    } else if (range_find(&dev_mem, p, 0)) {
        a->type = cudaMemoryTypeDevice, a->device = 0;
        a->devicePointer = (void *)p;
    }
    return cudaSuccess;
}

typedef struct {
    void *dst;
    const void *src;
    size_t bytes;
    void *owned;  // a staged copy of pageable source memory, freed after the copy
    int value;    // memsets
} Mem;
static void run_copy(void *arg) {
    Mem *m = arg;
    memmove(m->dst, m->src, m->bytes);
    free(m->owned);
    free(m);
}
static void run_set(void *arg) {
    Mem *m = arg;
    memset(m->dst, m->value, m->bytes);
    free(m);
}
static int on_device(const void *p, size_t b) {
    return range_find(&dev_mem, p, b) != NULL;
}
static int is_pinned(const void *p) {
    return range_find(&pinned_mem, p, 0) != NULL;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t b, cudaStream_t s) {
    if (!b) return cudaSuccess;
    if (!on_device(p, b)) return fail(cudaErrorInvalidValue);
    Mem *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->dst = p, m->bytes = b, m->value = v;
    emu_enqueue(s, run_set, m);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *d, const void *src, size_t b, enum cudaMemcpyKind k,
                            cudaStream_t s) {
    if (!b) return cudaSuccess;
    if (k == cudaMemcpyDefault)
        k = on_device(src, b)
                ? (on_device(d, b) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
            : on_device(d, b) ? cudaMemcpyHostToDevice
                              : cudaMemcpyHostToHost;
    int src_dev = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice,
        dst_dev = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
    if ((src_dev && !on_device(src, b)) || (dst_dev && !on_device(d, b)))
        return fail(cudaErrorInvalidValue);
    Mem *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->dst = d, m->src = src, m->bytes = b;
    if (!src_dev && !is_pinned(src)) {  // pageable source: staged at the call
        m->owned = malloc(b);
        if (!m->owned) abort();
        memcpy(m->owned, src, b);
        m->src = m->owned;
    }
    emu_enqueue(s, run_copy, m);
    // into pageable memory cudaMemcpyAsync returns once the copy is done
    if (!dst_dev && !is_pinned(d)) sync_stream(stream_of(s));
    return cudaSuccess;
}
// On the legacy stream, then waits for it (not for non-blocking streams).
cudaError_t cudaMemcpy(void *d, const void *s, size_t b, enum cudaMemcpyKind k) {
    cudaError_t e = cudaMemcpyAsync(d, s, b, k, 0);
    if (e == cudaSuccess) sync_stream(&legacy);
    return e;
}
