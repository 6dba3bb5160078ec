// The op test: one case per line of src/tensor/ops.def (OPCASE_<name>, in tests/ops/cases_*.c),
// each a list of slots (the op's tensor arguments and what the test needs beside them), a
// shape generator, a call of the op, and instances (shapes, parameters, seeds, reference
// values). op_engine.c builds an instance's inputs on the host and runs the op on a backend
// under several configurations; tests/unit/test_ops.c checks the CPU backend (conventions,
// reference values, finite differences), tests/gpu/test_gpu_ops.c the CUDA backend against
// the CPU one. Test code only: not part of the library.
//
// Configurations of one instance (op_configs), each checked against its reference:
//  - main: OUT slots prefilled with OP_GARBAGE, ACC slots with OP_ACC;
//  - refill: OUT slots prefilled with NaN, ACC slots with 0 (outputs must be overwritten,
//    accumulators accumulated: the result must not depend on the prefill);
//  - NULL outputs: each nullable output alone (when there are two or more) and all of them
//    NULL (when other results remain); the outputs still computed must not change;
//  - NULL inputs (a nullable IN slot, e.g. linear's bias): must act as zeros;
//  - aliasing the op allows (OpAlias): the same result as with separate buffers.
//
// Tolerances of the CUDA backend against the CPU backend (each case's gpu_tol),
// |gpu - cpu| <= atol + rtol |cpu| per element:
//  - sums of K products of values in [-1, 1) (conv, linear, their gradients): atol 1e-5 +
//    2e-7 K, rtol 1e-5. The two backends add in different orders (cuDNN/cuBLAS vs OpenBLAS
//    and own loops); float rounding of such sums is ~ u sqrt(K) |sum| (u = 6e-8) with |sum| ~
//    sqrt(K)/3, i.e. ~ 2e-8 K, so the bound leaves a margin of about 10. TF32 tensor cores
//    (10-bit mantissa, error ~ 5e-4 per product) would exceed it by 10-30x: the test also
//    guards against them being switched on by accident.
//  - batch norm: 5e-5 abs and rel on outputs and dx; the moments are double sums on both
//    sides, but the CPU sums each plane (up to 3249 values here) in float first (relative
//    error up to ~1e-5), and invstd amplifies it; dgamma/dbeta are sums over M values:
//    atol 2e-5 + 1e-8 M, rtol 2e-5.
//  - elementwise ops and activations: 1e-6 abs, 1e-5 rel (CUDA's expf vs the CPU backend's
//    polynomial exp, a few ulp; fused multiply-adds on the GPU, none on the CPU).
//  - losses: 1e-7 relative (double sums in another order); softmax gradients 1e-8 abs.
//  - optimizers: 2e-6 abs, 1e-6 rel after three steps: the same float formulas, but fused
//    multiply-adds round differently, by up to an ulp of the largest term (momentum and
//    RMSprop buffers sum terms up to ~3 that largely cancel: ulp 2.4e-7).
// Integer outputs (softmax_ce's hits) and BnSync call counts must be equal.
#pragma once
#include <stddef.h>

#include "backend/backend.h"
#include "tensor/ops.h"

enum { OP_SLOTS = 12, OP_CONFIGS = 16 };
#define OP_GARBAGE 7.0f  // prefill of overwritten outputs (main configuration)
#define OP_ACC 0.5f      // prefill of accumulated outputs (main configuration)

typedef enum {
    SLOT_IN,     // read by the op
    SLOT_OUT,    // overwritten by the op
    SLOT_ACC,    // accumulated into by the op (parameter gradients)
    SLOT_STATE,  // read and updated in place (running statistics, optimizer state)
    SLOT_AUX,    // not an argument: used by prepare and loss on the CPU (a forward's output)
} SlotRole;

typedef struct Shape {
    int n, c, h, w;
} Shape;

typedef struct Tol {
    double atol, rtol;
} Tol;

typedef struct SlotSpec {
    const char *name;
    SlotRole role;
    float lo, hi;         // IN/STATE/AUX: uniform in [lo, hi) from the instance's seed; lo == hi
                          // (both 0 by default): that constant
    int nullable;         // outputs: the op accepts NULL; IN: NULL means zeros
    const char *grad_of;  // GRAD ops: the slot whose gradient this is (finite differences)
    int i32;              // int32 values (labels; softmax_ce's hits), compared bitwise
    int host;             // host memory on every backend (an int the op writes on the host)
} SlotSpec;

// An instance's parameters: each case reads the fields it needs.
typedef struct OpParams {
    Shape in;   // the first input's shape (optimizers: in.w parameters)
    int co, k;  // output channels (conv, linear), kernel size (conv)
    ConvSpec conv;
    Act act;
    float momentum, eps, lr, wd, alpha, smoothing;
    int sync, nesterov, decoupled, steps;
    double tol;  // a tolerance of this instance (the case says which), 0: the case's own
    int style;   // the case's choice of input values (see the case)
} OpParams;

// Hand-computed values of an instance: given values of an input (or state) slot, or wanted
// values of an output or state slot, or the wanted returned value, with their tolerance.
// Lists end with slot NULL. Write them with GIVEN, WANT and WANT_RET.
typedef struct RefVals {
    const char *slot;
    const float *v;  // i32 slots: small integers
    double ret;      // WANT_RET
    double atol, rtol;
    int want;  // 0: given input values, 1: wanted results
} RefVals;
#define OP_VALS(...) ((const float[]){__VA_ARGS__})
#define OP_REFS(...) ((const RefVals[]){__VA_ARGS__, {0}})
#define GIVEN(slot, ...) \
    { slot, OP_VALS(__VA_ARGS__), 0, 0, 0, 0 }
#define WANT(slot, atol, rtol, ...) \
    { slot, OP_VALS(__VA_ARGS__), 0, atol, rtol, 1 }
#define WANT_RET(v, atol, rtol) \
    { "ret", NULL, v, atol, rtol, 1 }

typedef struct OpInst {
    const char *name;  // shape and parameters in words, for messages
    OpParams p;
    unsigned seed;
    int fd;              // GRAD ops: coordinates per gradient checked by finite differences
    const RefVals *ref;  // or NULL
} OpInst;

typedef struct OpAlias {
    const char *to;       // the slot whose buffer is shared
    const char *as[3];    // slots given that buffer
    const char *null[2];  // slots passed as NULL meanwhile
} OpAlias;

// One run of the op: tensors of the backend it runs on (data NULL: a NULL argument).
typedef struct OpArgs {
    const OpParams *p;
    unsigned seed;  // the instance's (for prepare)
    Tensor t[OP_SLOTS];
    double ret;  // the returned value (double ops)
    int calls;   // BnSync sums (op_sync)
} OpArgs;

struct OpInstance;
struct OpResult;

typedef struct OpCase {
    const char *op;  // its name in ops.def
    SlotSpec slot[OP_SLOTS];
    void (*shapes)(const OpParams *p, Shape *s);  // every slot's shape
    void (*run)(const Backend *be, OpArgs *a);    // calls the op
    // optional: inputs that depend on others, set on the host (CPU backend) after the random
    // ones; not called for instances that give input values (RefVals)
    void (*prepare)(OpArgs *a);
    double (*loss)(OpArgs *a);  // GRAD ops: L whose gradients the grad_of slots hold (CPU)
    // optional: reference outputs, in double on the host; sets the slots it computes in
    // `done` (bit i: slot i; bit OP_SLOTS: ret). Compared within ref_tol.
    void (*ref)(const OpArgs *a, float **want, double *ret, unsigned *done);
    Tol ref_tol;
    Tol (*gpu_tol)(const OpParams *p, int slot);  // slot -1: the returned value
    // optional: tolerance between configurations on the CPU (NULL: exact)
    Tol (*cpu_tol)(const OpParams *p, int slot);
    OpAlias alias[3];  // allowed aliasing (to NULL: none)
    double fd_atol;    // finite differences' atol (0: gradcheck's default)
    int sync_calls;    // BnSync sums per call when p.sync
    // optional: invariants of the main run's results (CPU)
    void (*check)(const struct OpInstance *I, const struct OpResult *r);
    const OpInst *lists[4];  // the instances: lists ending with name NULL
} OpCase;

// The table: OP_CASES[i] for the i-th line of ops.def (NULL where tests/ops lacks the case)
typedef enum {
#define OP(kind, ret, op, params) OPI_##op,
#include "tensor/ops.def"
#undef OP
    OP_COUNT
} OpIndex;
typedef enum { OPK_FWD, OPK_GRAD, OPK_STEP } OpKind;
extern const OpCase *const OP_CASES[OP_COUNT];
extern const char *const OP_NAMES[OP_COUNT];
extern const OpKind OP_KINDS[OP_COUNT];

// ---------------------------------------------------------------- engine (op_engine.c)
typedef struct OpRunCfg {
    char what[64];        // "main", "dx alone", "b NULL", "alias x as y", ...
    int refill;           // prefills: 0 OP_GARBAGE / OP_ACC, 1 NaN / 0
    unsigned null, zero;  // slots passed as NULL; nullable inputs given as zeros
    const OpAlias *alias;
    int separate;  // with alias: separate buffers holding the shared one's values instead
    int base;      // the configuration whose CPU results this one's must equal (-1: none)
} OpRunCfg;

// An instance's host data: CPU-backend tensors of every slot (inputs as generated and
// prepared; outputs and AUX zero), the reference of every run.
typedef struct OpInstance {
    const OpCase *c;
    const OpInst *in;
    int nslots;
    Shape shape[OP_SLOTS];
    OpArgs host;
} OpInstance;

typedef struct OpResult {
    float *v[OP_SLOTS];  // final contents of the OUT/ACC/STATE slots run non-NULL
    double ret;
    int calls;
    float acc_prefill;  // what the ACC slots held before the run
} OpResult;

// Every instance of a case in order; *n is set to their count.
const OpInst **op_instances(const OpCase *c, int *n);
void op_instance_init(OpInstance *I, const OpCase *c, const OpInst *in);
void op_instance_free(OpInstance *I);
// The configurations to run (main first); returns their count.
int op_configs(const OpInstance *I, OpRunCfg *cfg);
OpResult op_run(const OpInstance *I, const Backend *be, const OpRunCfg *cfg);
void op_result_free(OpResult *r);
// Compares the slots both results have (and ret, calls): per element |got - want| <= atol +
// rtol |want| with tol(p, slot) (NULL: exact; i32 slots always exact). With acc_tol, ACC
// slots are compared as increments over each run's prefill, within *acc_tol. Each failure
// is a test failure naming `tag`; returns their count.
int op_compare(const OpInstance *I, const char *tag, const OpResult *got, const OpResult *want,
               Tol (*tol)(const OpParams *p, int slot), const Tol *acc_tol);
// Index of the slot named `name` in I's case (-1 and a test failure if there is none).
int op_slot(const OpCase *c, const char *name);
size_t op_numel(Shape s);

// ---------------------------------------------------------------- helpers for the cases
// The tensor of slot i, or NULL when it is run as NULL; its floats likewise.
static inline Tensor *op_t(OpArgs *a, int i) {
    return a->t[i].data ? &a->t[i] : NULL;
}
static inline float *op_f(OpArgs *a, int i) {
    return a->t[i].data;
}
// A BnSync that pretends to be a group of two ranks holding identical batches: the group's
// sums are twice this rank's (exact), so its statistics equal the local ones. Counts calls.
BnSync op_sync(OpArgs *a);
// sum_i r_i y_i in double (the finite differences' L)
double op_dot(const Tensor *r, const Tensor *y);
// Tolerances of the CUDA comparison (see the top of this file)
static inline Tol op_sum_tol(double k) {
    return (Tol){1e-5 + 2e-7 * k, 1e-5};
}
#define OP_EW_TOL ((Tol){1e-6, 1e-5})
#define OP_BN_TOL 5e-5
#define OP_EXACT ((Tol){0, 0})
