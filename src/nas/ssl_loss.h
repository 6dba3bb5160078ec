// DNA++'s self-supervised loss (the paper's Eqns 10-11, issue 20) for one block k: the
// teacher side's projected features Z and a student cell's Ẑ, both [M, C] per-image vectors
// (M images, C projector outputs, row-major floats on the host), give this block's share of
//   L_SSL = λ1/(K M) Σ_j ‖Z^j − Ẑ^j‖² + λ2/(K C) (‖offdiag Cov Z‖²_F + ‖offdiag Cov Ẑ‖²_F)
//   L_SDR = λ3/(C K) Σ_c max(0, γ − sqrt(Var Z_c + ε))   [+ the same for Ẑ when var_both]
// with Cov and Var over the batch, unbiased (1/(M−1), as the paper prints Cov and as
// VICReg's torch.var/cov compute them). Summing over the K blocks gives the paper's loss.
// Pure computation in double on host arrays, like naswot.c: the caller downloads Z and Ẑ
// and uploads the gradients. Cost O(M C²) time and O(C²) memory per side (the covariance).
//
// Defaults (SSL_CFG_DEFAULT). The paper gives no values. We take VICReg's (Bardes, Ponce,
// LeCun, ICLR 2022): invariance 25, variance 25, covariance 1, γ = 1, ε = 1e-4, mapped onto
// the paper's λ1 (distance), λ3 (variance) and λ2 (covariance). Two differences in scale:
//  - VICReg's invariance term is an mse, a mean over M·C; Eqn 10's sums over the C channels
//    per image. So at width C, λ1 = 25 weighs the distance C times more than VICReg does;
//    λ1 = 25/C gives VICReg's balance.
//  - VICReg averages the two sides' variance hinges (/2). Here they add, as Eqn 10 adds the
//    two covariance terms, so var_both doubles a hinge that both sides hit.
// The printed Eqn 11 applies the hinge to Z only (var_both = 0). The default applies it to
// both sides (var_both = 1), VICReg's reading: with co-training the student's projector
// trains too and can collapse to a constant as easily as the teacher's, and that is the
// published recipe.
#pragma once

typedef struct SslCfg {
    double lambda1;  // distance (invariance) weight, >= 0
    double lambda2;  // covariance weight, >= 0
    double lambda3;  // variance hinge weight, >= 0
    double gamma;    // hinge threshold on the per-channel std, >= 0
    double eps;      // added to the variance under the square root, > 0
    int var_both;    // 1: hinge on Z and Ẑ (VICReg); 0: on Z only (the printed Eqn 11)
    int K;           // blocks the loss is summed over (a share is 1/K of a block's loss)
} SslCfg;

#define SSL_CFG_DEFAULT        \
    ((SslCfg){.lambda1 = 25.0, \
              .lambda2 = 1.0,  \
              .lambda3 = 25.0, \
              .gamma = 1.0,    \
              .eps = 1e-4,     \
              .var_both = 1,   \
              .K = 1})

// One block's terms, already weighted and divided by K.
typedef struct SslLoss {
    double dist;   // λ1 term of L_SSL
    double cov;    // λ2 term of L_SSL
    double var;    // L_SDR
    double total;  // dist + cov + var
    // Collapse guard: mean over channels of sqrt(Var + ε) of each side (unweighted).
    double std_z, std_zh;
} SslLoss;

// Fatal, naming the field, unless every weight is finite and >= 0, eps > 0, K >= 1 and
// var_both is 0 or 1.
void ssl_cfg_check(const SslCfg *cfg);
// The loss of z, zh [m, c] (m >= 2 images, c >= 1 channels, finite values; fatal otherwise).
// dz and dzh [m, c] (each may be NULL: not wanted) receive dL/dZ and dL/dẐ of the total,
// overwritten. At a hinge's kink (γ == std exactly) the gradient is 0, as torch's relu.
SslLoss ssl_loss(const SslCfg *cfg, const float *z, const float *zh, int m, int c, float *dz,
                 float *dzh);
