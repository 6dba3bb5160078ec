// Benchmark `features`: the default teacher (inputs/fashion_mnist.cfg's architecture, random
// weights) on synthetic 28x28 images: training throughput (img/s of the data-parallel step
// on one rank), then the features stage itself: teacher eval img/s and shard MB/s written
// (fp16, the default), as one "bench features key=value ..." line.
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "backend/backend.h"
#include "core/timer.h"
#include "par/par.h"
#include "stages/features.h"
#include "train/optim.h"
#include "stages/runner.h"

static double dir_bytes(const char *dir) {
    double total = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) total += S_ISDIR(st.st_mode) ? dir_bytes(p) : (double)st.st_size;
    }
    closedir(d);
    return total;
}

static void synth_split(Split *s, int n, Rng *r) {
    *s = (Split){.n = n, .c = 1, .h = 28, .w = 28};
    s->images = malloc((size_t)n * 28 * 28);
    s->labels = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n * 28 * 28; i++) s->images[i] = (uint8_t)rng_below(r, 256);
    for (int i = 0; i < n; i++) s->labels[i] = (int32_t)(i % 10);
}

static double train_img_s(const RunCtx *ctx, Teacher *t, int batch, int steps) {
    const Backend *be = ctx->be;
    Tensor x = tensor_new(be, batch, 1, t->in_hw, t->in_hw), dl = tensor_new(be, batch, 10, 1, 1);
    Rng r = rng_new(3);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&r);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)batch);
    for (int i = 0; i < batch; i++) lab[i] = i % 10;
    Optim o = optim_sgd(0.01f, 0.9f, 5e-5f, 1);
    double t0 = 0;
    for (int s = 0; s < steps + 2; s++) {
        if (s == 2) t0 = timer_now();
        params_zero_grad(be, &t->net.params);
        int corr;
        be->softmax_ce(effnet_forward(be, &t->net, &x, BN_TRAIN, &r), lab, 0.1f, &dl, &corr);
        effnet_backward(be, &t->net, &dl);
        optim_step(be, &o, &t->net.params);
    }
    double rate = (double)steps * batch / (timer_now() - t0);
    tensor_free(be, &x), tensor_free(be, &dl);
    free(lab);
    return rate;
}

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    par_init(&ctx, &argc, &argv);
    ctx.is_tty = 0;
    char dir[] = "/tmp/dna_bench_features_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char name_kv[64], dir_kv[128], *over[2] = {name_kv, dir_kv};
    snprintf(name_kv, sizeof name_kv, "run.name=bench");
    snprintf(dir_kv, sizeof dir_kv, "run.out_dir=%s", dir);
    Config cfg;
    config_load(&cfg, NULL, over, 2);
    Dataset d = {.classes = 10, .mean = {0.286}, .std = {0.353}};
    Rng r = rng_new(1);
    synth_split(&d.train, 4096, &r);
    synth_split(&d.test, 1024, &r);
    d.n_search = 1024, d.n_fit = 3072;
    d.search = malloc(sizeof(int32_t) * 1024), d.fit = malloc(sizeof(int32_t) * 3072);
    for (int i = 0; i < 4096; i++) i < 3072 ? (d.fit[i] = i) : (d.search[i - 3072] = i);
    Teacher t = {.in_hw = 32, .mean = {0.286}, .std = {0.353}};
    EffNetCfg arch;
    effnet_cfg_from_config(&cfg, 1, &arch);
    Rng init = rng_new(2);
    effnet_init(ctx.be, &t.net, &arch, t.in_hw, &init);
    double train = train_img_s(&ctx, &t, (int)cfg.teacher.fit.batch, 20);
    runner_prepare(&ctx, &cfg, argc, argv);
    double t0 = timer_now();
    features_extract(&ctx, &cfg, &d, &t);
    double secs = timer_now() - t0;
    char run[1024];
    config_run_path(&cfg, "features", run, sizeof run);
    double bytes = dir_bytes(run), imgs = 4096 + 1024;
    printf("bench features teacher_train_img_s=%.0f teacher_eval_img_s=%.0f shard_MBps=%.1f "
           "shard_bytes_per_img=%.0f dtype=%s threads=%d peak_rss_MB=%.0f\n",
           train, imgs / secs, bytes / 1e6 / secs, bytes / imgs, cfg.features.dtype,
           omp_get_max_threads(), bench_peak_rss_mb());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    teacher_free(ctx.be, &t);
    free(d.search), free(d.fit);
    split_free(&d.train), split_free(&d.test);
    par_finalize();
    return 0;
}
