// `dna data`: the dataset imported into the run (dataset.h5): the images and labels of a
// Fashion-MNIST / CIFAR-10 / HDF5 source, their normalisation, and the search split held out
// of train by a seeded, class-balanced draw (src/io/dataset.c). Rank 0 writes it.
#include <stdio.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/dataset.h"
#include "par/par.h"
#include "stages/stages.h"

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    char path[1100], hash[17];
    config_run_path(cfg, "dataset.h5", path, sizeof path);
    if (ctx->rank == 0) {
        double t0 = timer_now();
        DataImport imp = {.source = cfg->data.source,
                          .path = cfg->data.path,
                          .classes = (int)cfg->data.classes,
                          .search_per_class = (int)cfg->data.search_per_class,
                          .seed = (unsigned long long)cfg->run.seed,
                          .limit_train = (int)cfg->data.limit_train,
                          .limit_test = (int)cfg->data.limit_test,
                          .expect_c = (int)cfg->data.channels,
                          .expect_hw = (int)cfg->data.image_size,
                          .expect_train = (int)cfg->data.train_size};
        H5Prov prov = h5_prov_of_run(ctx, cfg, DATASET_FORMAT, hash);
        dataset_import(&imp, &prov, path);
        Dataset d;
        dataset_load(path, &d);
        log_info(ctx,
                 "data: %s from %s: train %d, test %d images of %dx%dx%d, %d classes; search split "
                 "%d (%d/class), supernet-training split %d; %.1f s -> %s",
                 imp.source, imp.path, d.train.n, d.test.n, d.train.c, d.train.h, d.train.w,
                 d.classes, d.n_search, d.search_per_class, d.n_fit, timer_now() - t0, path);
        dataset_free(&d);
    }
    par_barrier();
    return STAGE_RAN;
}

const Stage STAGE_DATA = {
    .name = "data",
    .help = "import the dataset, draw the search split -> <run>/dataset.h5",
    .run = run,
    .order = 1,
    .writes = "dataset.h5",
    .sections = "data",
};
