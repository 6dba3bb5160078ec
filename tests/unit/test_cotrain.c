// DNA++'s co-training step (src/train/cotrain.h) by finite differences: the loss of a step
// (a zero learning rate leaves the weights where they are) against the gradients the step
// formed, for the parameter tensors of the teacher's blocks, its projectors, every student
// and every student projector. One step composes all of it: the teacher run over both views,
// the students fed its maps, the symmetric cross-view targets, the cells of a block sharing
// its weight, and the gradients of the teacher summed from every projector.
// The students' inputs are detached by design, so a weight of the teacher's block k < K
// moves the loss through block k+1's students too, which its gradient leaves out: finite
// differences see the full derivative. The two-block case therefore checks every parameter
// but the teacher's; the one-block case (whose students read the images) checks the teacher
// as well. nn/effnet's own test checks gradients injected at several block boundaries.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/config.h"
#include "gradcheck.h"
#include "harness.h"
#include "train/cotrain.h"

typedef struct Fixture {
    Space sp;
    EffNet t;
    CoTrain m;
    Tensor x;
    Rng paths[COTRAIN_MAX_JOBS];
} Fixture;

// A teacher at 16x16 of 2 blocks (block 1 with two cells, so a block's cells share its
// weight, block 2 with one) or of 1 block (its two stages, the same two cells); 4 images,
// both views.
static void fixture(Fixture *f, int nblocks) {
    const Backend *be = backend_cpu();
    char *over[] = {"data.image_size=12",
                    "teacher.stem=4",
                    "teacher.stages=ir_r1_k3_s1_e1_c4_se0.25 ir_r1_k3_s2_e3_c6_se0.25",
                    nblocks == 2 ? "teacher.blocks=0 1" : "teacher.blocks=1",
                    "space.ops=e3k3 e6k3",
                    "space.stem=4",
                    nblocks == 2 ? "space.block1=1x4 2x4" : "space.block1=1x4 2x6",
                    nblocks == 2 ? "space.block2=1x6" : "space.block2=",
                    "space.block3="};
    Config cfg;
    config_load(&cfg, NULL, over, (int)(sizeof over / sizeof over[0]));
    EffNetCfg tc;
    effnet_cfg_from_config(&cfg, 1, &tc);
    int in_hw = (int)(cfg.data.image_size + 2 * cfg.data.pad);
    space_from_config(&cfg, &tc, in_hw, &f->sp);
    Rng r = rng_new(7), rt = rng_split(&r, 1), rm = rng_split(&r, 2);
    effnet_init(be, &f->t, &tc, in_hw, &rt);
    SslCfg loss = SSL_CFG_DEFAULT;
    loss.lambda1 = 25.0 / 6;
    cotrain_init(be, &f->m, &f->sp, &f->t, 8, 6, loss, NULL, &rm);
    f->x = tensor_new(be, 8, 1, in_hw, in_hw);
    t_fill_uniform(f->x.data, tensor_numel(&f->x), 11, -1.5f, 1.5f);
    Rng rp = rng_split(&r, 3);
    for (int j = 0; j < f->m.njobs; j++) f->paths[j] = rng_split(&rp, (uint64_t)j);
}

static void fixture_free(Fixture *f) {
    cotrain_free(&f->m);
    effnet_free(backend_cpu(), &f->t);
    tensor_free(backend_cpu(), &f->x);
}

static double step_loss(void *ctx) {
    Fixture *f = ctx;
    Optim still = optim_sgd(0.0f, 0.0f, 0.0f, 0);  // the weights do not move
    return cotrain_step(&f->m, &f->x, f->paths, 0, &still, NULL);
}

static void check_fd(int nblocks) {
    Fixture f;
    fixture(&f, nblocks);
    T_CHECK(f.m.njobs == (nblocks == 2 ? 3 : 2) && f.sp.nblocks == nblocks, "%d jobs in %d blocks",
            f.m.njobs, f.sp.nblocks);
    ParamList teacher = {0};
    effnet_block_params(&f.t, &teacher);
    int skip = nblocks == 2 ? teacher.n : 0;  // see the top of the file
    params_free(&teacher);
    CoTerms terms;
    Optim still = optim_sgd(0.0f, 0.0f, 0.0f, 0);
    double l0 = cotrain_step(&f.m, &f.x, f.paths, 0, &still, &terms);
    double sum = 0;
    for (int k = 0; k < nblocks; k++)
        sum += terms.block[k][0] + terms.block[k][1] + terms.block[k][2];
    T_CHECK(isfinite(l0) && fabs(sum - l0) <= 1e-9 * fabs(l0), "terms add to the loss: %g vs %g",
            sum, l0);
    ParamList pl = {0};
    cotrain_params(&f.m, &pl);
    GcOpts o = gc_opts(3);
    o.samples = 6, o.h = 1.0 / 512, o.atol = 2e-3,
    o.rtol = 2e-2;  // h: a larger step crosses ReLU kinks
    int checked = 0, nonzero = 0;
    for (int i = skip; i < pl.n; i++) {
        Param *p = pl.p[i];
        size_t n = tensor_numel(&p->w);
        float *ana = malloc(sizeof(float) * n);
        step_loss(&f);  // the gradients at the unperturbed weights
        memcpy(ana, p->g.data, sizeof(float) * n);
        for (size_t e = 0; e < n; e++) nonzero += ana[e] != 0;
        char what[96];
        snprintf(what, sizeof what, "param %d (%s)", i, p->name);
        GC_CHECK(what, step_loss, &f, p->w.data, n, ana, o);
        free(ana);
        checked++;
    }
    T_CHECK(checked > 40 && nonzero > 0, "%d tensors checked, %d nonzero gradients", checked,
            nonzero);
    params_free(&pl);
    fixture_free(&f);
}

TEST(cotrain_step_finite_differences_two_blocks) {
    check_fd(2);
}

TEST(cotrain_step_finite_differences_one_block_with_teacher) {
    check_fd(1);
}

// The step's loss is the whole batch's: the same images in another order give the same loss
// (up to summation order), since every term is a sum or a batch statistic over images.
TEST(cotrain_loss_does_not_depend_on_image_order) {
    Fixture f;
    fixture(&f, 2);
    Optim still = optim_sgd(0.0f, 0.0f, 0.0f, 0);
    double a = cotrain_step(&f.m, &f.x, f.paths, 0, &still, NULL);
    size_t img = tensor_numel(&f.x) / 8;
    float *tmp = malloc(sizeof(float) * img);
    for (int v = 0; v < 2; v++) {  // swap images 0 and 3 in both views
        float *p0 = f.x.data + (size_t)(4 * v) * img, *p3 = f.x.data + (size_t)(4 * v + 3) * img;
        memcpy(tmp, p0, sizeof(float) * img), memcpy(p0, p3, sizeof(float) * img);
        memcpy(p3, tmp, sizeof(float) * img);
    }
    free(tmp);
    double b = cotrain_step(&f.m, &f.x, f.paths, 0, &still, NULL);
    T_CHECK(fabs(a - b) <= 1e-5 * fabs(a), "loss %.9g vs %.9g after reordering", a, b);
    fixture_free(&f);
}
