// Emulated kernel launches: checked and queued on their stream at the launch (emu_launch),
// run at a synchronisation point (mock_cudart.c): blocks one after another, every CUDA
// thread of a block a fiber; __syncthreads waits for the block's live threads,
// shuffles and __syncwarp for the warp's live lanes. A barrier that can never complete (divergent
// __syncthreads or shuffles) aborts with the block's coordinates instead of hanging.
// On x86-64 a fiber switch is a few instructions (emu_switch below: the callee-saved
// registers and the stack pointer, where swapcontext's signal-mask system call made the
// switches 5/6 of the emulated pipeline's time); elsewhere, under AddressSanitizer (which
// follows swapcontext) or with -DEMU_FAST_SWITCH=0, ucontext. Either runs the same threads
// in the same order, to the same bits.
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <vector>

#include "emu.h"

#ifndef EMU_FAST_SWITCH
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define EMU_FAST_SWITCH 1
#else
#define EMU_FAST_SWITCH 0
#endif
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

enum { RUN, BLOCK_BAR, WARP_BAR, DONE };
struct Fiber {
#if EMU_FAST_SWITCH
    void *sp;  // saved stack pointer while switched out
#else
    ucontext_t ctx;
#endif
    char *stack;
    int state;
    uint64_t val, res;
    int off, is_xor;
};
static const size_t STACK = 128 * 1024;
static std::vector<Fiber> fib;
static Fiber *cur;
static std::function<void()> *body;

#if EMU_FAST_SWITCH
// emu_switch(&save, to): pushes the callee-saved registers on the current stack and saves
// its stack pointer in *save, then switches to stack `to` and pops its registers. The
// MXCSR and x87 control words (rounding, exception masks) are the thread's, not swapped:
// nothing here changes them (a kernel cannot), and they are callee-saved for a plain call.
extern "C" void emu_switch(void **save, void *to);
asm(R"(
    .text
    .p2align 4
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");
static void *sched_sp;
[[noreturn]] static void fiber_entry() {
    (*body)();
    cur->state = DONE;
    emu_switch(&cur->sp, sched_sp);
    abort();  // a finished fiber is never resumed
}
// Sets fiber f up to start fiber_entry on its own stack at its first switch: the six
// registers emu_switch pops (zeros), then fiber_entry as the return address, with the
// stack aligned as after a call.
static void fiber_start(Fiber *f) {
    uint64_t *top = (uint64_t *)(((uintptr_t)f->stack + STACK) & ~(uintptr_t)15);
    uint64_t *sp = top - 8;
    for (int r = 0; r < 6; r++) sp[r] = 0;     // r15 r14 r13 r12 rbx rbp
    sp[6] = (uint64_t)(uintptr_t)fiber_entry;  // at top - 2 (16-byte aligned)
    sp[7] = 0;                                 // fiber_entry's "return address"
    f->sp = sp;
}
static void to_sched() {
    emu_switch(&cur->sp, sched_sp);
}
static void to_fiber(Fiber *f) {
    emu_switch(&sched_sp, f->sp);
}
#else
static ucontext_t sched;
static void fiber_main(int i) {
    (*body)();
    fib[i].state = DONE;
}
static void fiber_start(Fiber *f) {
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = STACK;
    f->ctx.uc_link = &sched;
    makecontext(&f->ctx, (void (*)())fiber_main, 1, (int)(f - fib.data()));
}
static void to_sched() {
    swapcontext(&cur->ctx, &sched);
}
static void to_fiber(Fiber *f) {
    swapcontext(&sched, &f->ctx);
}
#endif

static void wait_at(int st) {
    cur->state = st;
    to_sched();
}
void emu_syncthreads() {
    wait_at(BLOCK_BAR);
}
void emu_syncwarp() {
    cur->off = 0, cur->is_xor = 1;
    cur->val = 0;
    wait_at(WARP_BAR);
}
uint64_t emu_shfl(uint64_t bits, int off, int is_xor) {
    cur->val = bits, cur->off = off, cur->is_xor = is_xor;
    wait_at(WARP_BAR);
    return cur->res;
}

// Runs a launch whose configuration emu_launch accepted.
static void run_kernel(dim3 grid, dim3 block, std::function<void()> &f) {
    int n = (int)block.x;
    if ((int)fib.size() < n) {
        size_t old = fib.size();
        fib.resize(n);
        for (size_t i = old; i < (size_t)n; i++) fib[i].stack = (char *)malloc(STACK);
    }
    body = &f;
    blockDim = block, gridDim = grid;
    for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++) {
            blockIdx = {bx, by, 0};
            for (int i = 0; i < n; i++) {
                fiber_start(&fib[i]);
                fib[i].state = RUN;
            }
            for (;;) {
                // run every runnable thread up to its next barrier (or its end), counting
                // where each stands (a thread changes only its own state)
                int alive = 0, at_block = 0, at_warp = 0, released = 0;
                for (int i = 0; i < n; i++) {
                    if (fib[i].state == RUN) {
                        cur = &fib[i];
                        threadIdx = {(unsigned)i, 0, 0};
                        to_fiber(&fib[i]);
                    }
                    int st = fib[i].state;
                    alive += st != DONE, at_block += st == BLOCK_BAR, at_warp += st == WARP_BAR;
                }
                if (!alive) break;
                for (int w = 0; at_warp && w * 32 < n; w++) {
                    int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n, live = 0, waiting = 0;
                    for (int i = lo; i < hi; i++)
                        live += fib[i].state != DONE, waiting += fib[i].state == WARP_BAR;
                    if (!live || waiting != live) continue;
                    for (int i = lo; i < hi; i++) {
                        if (fib[i].state != WARP_BAR) continue;
                        int lane = i - lo,
                            src = fib[i].is_xor ? lane ^ fib[i].off : lane + fib[i].off;
                        int s = lo + src;
                        if (src < 0 || src >= 32 || s >= hi || fib[s].state == DONE) s = i;
                        fib[i].res = fib[s].val;
                    }
                    for (int i = lo; i < hi; i++)
                        if (fib[i].state == WARP_BAR) fib[i].state = RUN;
                    released = 1;
                }
                if (released) continue;
                if (at_block == alive) {
                    for (int i = 0; i < n; i++)
                        if (fib[i].state == BLOCK_BAR) fib[i].state = RUN;
                    continue;
                }
                fprintf(stderr, "emu: deadlock in block (%u,%u): %d alive, %d at __syncthreads\n",
                        bx, by, alive, at_block);
                abort();
            }
        }
}

struct Launch {
    dim3 grid, block;
    std::function<void()> body;
};
static void run_launch(void *arg) {
    Launch *l = (Launch *)arg;
    run_kernel(l->grid, l->block, l->body);
    delete l;
}

// The limits of every GPU since compute capability 3.0; dynamic shared memory above 48 KiB
// needs cudaFuncSetAttribute, which nothing here calls.
void emu_launch(dim3 grid, dim3 block, size_t smem, cudaStream_t s, std::function<void()> f) {
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!block.x || !block.y || !block.z || threads > 1024 || block.z > 64 || !grid.x || !grid.y ||
        !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 || smem > 48 * 1024) {
        emu_set_error(cudaErrorInvalidConfiguration);
        return;
    }
    if (block.y != 1 || block.z != 1 || grid.z != 1) {
        fprintf(stderr, "emu: 1D blocks and 2D grids only (a limit of the emulator, not CUDA's)\n");
        abort();
    }
    emu_enqueue(s, run_launch, new Launch{grid, block, std::move(f)});
}
