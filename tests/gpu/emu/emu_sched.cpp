// Emulated kernel launches: checked and queued on their stream at the launch (emu_launch),
// run at a synchronisation point (mock_cudart.c): blocks one after another, every CUDA
// thread of a block a ucontext fiber; __syncthreads waits for the block's live threads,
// shuffles and __syncwarp for the warp's live lanes. A barrier that can never complete (divergent
// __syncthreads or shuffles) aborts with the block's coordinates instead of hanging.
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <vector>

#include "emu.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

enum { RUN, BLOCK_BAR, WARP_BAR, DONE };
struct Fiber {
    ucontext_t ctx;
    char *stack;
    int state;
    uint64_t val, res;
    int off, is_xor;
};
static const size_t STACK = 128 * 1024;
static std::vector<Fiber> fib;
static ucontext_t sched;
static Fiber *cur;
static std::function<void()> *body;

static void fiber_main(int i) {
    (*body)();
    fib[i].state = DONE;
}

static void wait_at(int st) {
    cur->state = st;
    swapcontext(&cur->ctx, &sched);
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
                getcontext(&fib[i].ctx);
                fib[i].ctx.uc_stack.ss_sp = fib[i].stack;
                fib[i].ctx.uc_stack.ss_size = STACK;
                fib[i].ctx.uc_link = &sched;
                makecontext(&fib[i].ctx, (void (*)())fiber_main, 1, i);
                fib[i].state = RUN;
            }
            for (;;) {
                for (int i = 0; i < n; i++)
                    if (fib[i].state == RUN) {
                        cur = &fib[i];
                        threadIdx = {(unsigned)i, 0, 0};
                        swapcontext(&sched, &fib[i].ctx);
                    }
                int alive = 0, at_block = 0, released = 0;
                for (int i = 0; i < n; i++)
                    alive += fib[i].state != DONE, at_block += fib[i].state == BLOCK_BAR;
                if (!alive) break;
                for (int w = 0; w * 32 < n; w++) {
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
