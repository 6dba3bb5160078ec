// BN running-statistics semantics (train, eval, rating's recalibration) and optimizer steps
// against values computed by hand.
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "nn/convbn.h"
#include "train/optim.h"

// one channel, 4 values: mean 2.5, biased var 1.25, unbiased var 5/3
static const float XS[4] = {1, 2, 3, 4};

static void bn_case(BNMode mode, float *rm, float *rv, float *y) {
    const Backend *be = backend_cpu();
    BatchNorm bn;
    bn_init(be, &bn, 1, 1e-5f, 0.1f);
    Tensor x = tensor_new(be, 4, 1, 1, 1), out = tensor_new(be, 4, 1, 1, 1);
    memcpy(x.data, XS, sizeof XS);
    float mean, invstd;
    if (mode == BN_EVAL) {
        bn.run_mean.data[0] = 2.0f, bn.run_var.data[0] = 4.0f;
        be->bn_fwd_eval(&x, bn.gamma.w.data, bn.beta.w.data, bn.run_mean.data, bn.run_var.data,
                        bn.eps, &out, ACT_NONE);
    } else {
        be->bn_fwd_train(&x, bn.gamma.w.data, bn.beta.w.data, &out, &mean, &invstd,
                         bn.run_mean.data, bn.run_var.data,
                         mode == BN_RECALIBRATE ? 1.0f : bn.momentum, bn.eps, ACT_NONE, NULL);
    }
    *rm = bn.run_mean.data[0], *rv = bn.run_var.data[0];
    memcpy(y, out.data, sizeof(float) * 4);
    tensor_free(be, &x);
    tensor_free(be, &out);
    bn_free(be, &bn);
}

TEST(bn_train_updates_running_stats_by_momentum) {
    float rm, rv, y[4];
    bn_case(BN_TRAIN, &rm, &rv, y);
    T_NEAR(rm, 0.1 * 2.5, 1e-6, 0, "running mean");
    T_NEAR(rv, 0.9 * 1.0 + 0.1 * 5.0 / 3.0, 1e-6, 0, "running var (unbiased)");
    T_NEAR(y[0], (1 - 2.5) / sqrt(1.25 + 1e-5), 1e-5, 0, "normalised with the biased variance");
}

TEST(bn_recalibration_sets_running_stats_to_batch) {
    float rm, rv, y[4];
    bn_case(BN_RECALIBRATE, &rm, &rv, y);
    T_NEAR(rm, 2.5, 1e-6, 0, "running mean := batch mean");
    T_NEAR(rv, 5.0 / 3.0, 1e-6, 0, "running var := batch variance (unbiased)");
}

TEST(bn_eval_uses_running_stats) {
    float rm, rv, y[4];
    bn_case(BN_EVAL, &rm, &rv, y);
    for (int i = 0; i < 4; i++)
        T_NEAR(y[i], (XS[i] - 2.0) / sqrt(4.0 + 1e-5), 1e-6, 0, "eval output");
    T_NEAR(rm, 2.0, 0, 0, "eval leaves running mean");
}

static Param make_param(const Backend *be, float w, float g, int decay) {
    Param p;
    param_init(be, &p, "p", 1, 1, 1, 1, decay);
    p.w.data[0] = w, p.g.data[0] = g;
    return p;
}

TEST(optim_sgd_momentum_by_hand) {
    const Backend *be = backend_cpu();
    Param w = make_param(be, 1.0f, 0.5f, 1), b = make_param(be, 1.0f, 0.5f, 0);
    ParamList l = {0};
    params_push(&l, &w);
    params_push(&l, &b);
    Optim o = optim_sgd(0.1f, 0.9f, 0.01f, 0);
    optim_step(be, &o, &l);  // d = 0.5 + 0.01*1 = 0.51; m = 0.51; w = 1 - 0.051
    T_NEAR(w.w.data[0], 0.949, 1e-6, 0, "sgd step 1 (decayed weight)");
    T_NEAR(b.w.data[0], 0.95, 1e-6, 0, "sgd step 1 (no decay on a bias)");
    optim_step(be, &o, &l);  // d = 0.5 + 0.00949 = 0.50949; m = 0.9*0.51 + d = 0.96849
    T_NEAR(w.w.data[0], 0.949 - 0.096849, 1e-6, 0, "sgd step 2");
    Optim nes = optim_sgd(0.1f, 0.9f, 0.0f, 1);
    Param n = make_param(be, 1.0f, 1.0f, 1);
    ParamList ln = {0};
    params_push(&ln, &n);
    optim_step(be, &nes, &ln);  // m = 1; d = 1 + 0.9 = 1.9
    T_NEAR(n.w.data[0], 1.0 - 0.19, 1e-6, 0, "nesterov step");
    params_free(&l), params_free(&ln);
    param_free(be, &w), param_free(be, &b), param_free(be, &n);
}

TEST(optim_rmsprop_by_hand) {
    const Backend *be = backend_cpu();
    Param w = make_param(be, 1.0f, 0.5f, 1), b = make_param(be, 1.0f, 0.5f, 0);
    ParamList l = {0};
    params_push(&l, &w);
    params_push(&l, &b);
    Optim o = optim_rmsprop(0.01f, 0.9f, 1e-3f, 0.5f, 0.1f);
    optim_step(be, &o, &l);
    // w: d = 0.5 + 0.1 = 0.6; sq = 0.1*0.36 = 0.036; buf = 0.6 / (sqrt(0.036) + 1e-3)
    double buf = 0.6 / (sqrt(0.036) + 1e-3), w1 = 1.0 - 0.01 * buf;
    T_NEAR(w.w.data[0], w1, 1e-6, 0, "rmsprop step 1 (decayed weight)");
    T_NEAR(b.w.data[0], 1.0 - 0.01 * 0.5 / (sqrt(0.025) + 1e-3), 1e-6, 0, "rmsprop bias");
    optim_step(be, &o, &l);  // d = 0.5 + 0.1 w1; sq = 0.9*0.036 + 0.1 d^2; buf = 0.5 buf + ..
    double d = 0.5 + 0.1 * w1, sq = 0.9 * 0.036 + 0.1 * d * d;
    double buf2 = 0.5 * buf + d / (sqrt(sq) + 1e-3);
    T_NEAR(w.w.data[0], w1 - 0.01 * buf2, 1e-6, 0, "rmsprop step 2 (momentum)");
    params_free(&l);
    param_free(be, &w), param_free(be, &b);
}

TEST(optim_adam_and_adamw_by_hand) {
    const Backend *be = backend_cpu();
    Param a = make_param(be, 1.0f, 0.5f, 1), aw = make_param(be, 1.0f, 0.5f, 1);
    ParamList la = {0}, lw = {0};
    params_push(&la, &a);
    params_push(&lw, &aw);
    Optim adam = optim_adam(0.01f, 0.1f), adamw = optim_adamw(0.01f, 0.1f);
    optim_step(be, &adam, &la);
    // Adam: d = 0.5 + 0.1 = 0.6; m = 0.06, v = 0.00036; mhat = 0.6, vhat = 0.36
    // step = 0.01 * 0.6 / (0.6 + 1e-8)
    T_NEAR(a.w.data[0], 1.0 - 0.01 * 0.6 / (0.6 + 1e-8), 1e-7, 0, "adam step 1");
    optim_step(be, &adamw, &lw);
    // AdamW: w *= 1 - lr*wd = 0.999, then w -= 0.01 * 0.5 / (0.5 + 1e-8)
    T_NEAR(aw.w.data[0], 0.999 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-7, 0, "adamw step 1");
    aw.g.data[0] = -0.25f;
    float w1 = aw.w.data[0];
    optim_step(be, &adamw, &lw);
    // m = 0.9*0.05 + 0.1*(-0.25) = 0.02; v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225
    double mhat = 0.02 / (1 - 0.81), vhat = 0.00031225 / (1 - 0.998001);
    T_NEAR(aw.w.data[0], w1 * 0.999 - 0.01 * mhat / (sqrt(vhat) + 1e-8), 1e-6, 0, "adamw step 2");
    T_CHECK(aw.step == 2 && a.step == 1, "per-parameter step counts");
    params_free(&la), params_free(&lw);
    param_free(be, &a), param_free(be, &aw);
}
