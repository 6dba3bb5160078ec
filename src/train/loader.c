// The input pipeline behind loader.h: a prefetcher (io/prefetch.h) fills a two-slot buffer on
// its helper thread (batch i+1 while the consumer holds batch i); this file owns the slots and
// what a batch holds. The epoch state (order, augmentation stream) is only written while the
// prefetcher is stopped. Plain loops, no OpenMP: the helper runs beside the compute threads.
#include "train/loader.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/prefetch.h"

typedef struct Slot {
    float *x;  // [max_local, oc, oh, ow]
    int32_t *y;
    int64_t *ids;
    int count;  // written by the fill, read by the consumer once the prefetcher hands it over
} Slot;

struct Loader {
    // Fixed from loader_new on; read by both threads.
    const Split *s;
    int32_t *index;  // NULL: identity
    int n, nb, max_local, oc, oh, ow;
    LoaderCfg cfg;
    float lut[DATASET_MAX_C][256];  // normalised value of each pixel byte, per channel
    Rng order_root, aug_root;
    // Epoch state: written by loader_start_epoch only while the prefetcher is stopped, so
    // the fill reads it without a lock.
    int *order;  // [n] positions into index (or samples)
    Rng aug_epoch;
    Slot slot[2];
    Prefetch *pf;
    int started;  // consumer side only
};

// One sample into out [oc, oh, ow]: crop shift (dy, dx) in [-crop_pad, crop_pad], then an
// optional mirror; pixels from outside the image are 0, the normalised mean.
static void fill_sample(const Loader *l, float *out, const uint8_t *img, int dy, int dx, int flip) {
    const Split *s = l->s;
    int pad = l->cfg.pad;
    for (int c = 0; c < l->oc; c++) {
        const float *lut = l->lut[c];
        const uint8_t *plane = img + (size_t)c * s->h * s->w;
        for (int y = 0; y < l->oh; y++) {
            float *row = out + ((size_t)c * l->oh + y) * l->ow;
            int sy = y - pad + dy;
            if (sy < 0 || sy >= s->h) {
                memset(row, 0, (size_t)l->ow * sizeof *row);
                continue;
            }
            const uint8_t *src = plane + (size_t)sy * s->w;
            for (int x = 0; x < l->ow; x++) {
                int sx = (flip ? l->ow - 1 - x : x) - pad + dx;
                row[x] = sx >= 0 && sx < s->w ? lut[src[sx]] : 0.0f;
            }
        }
    }
}

// This part's share of global batch b into a slot: the prefetcher's fill, on its helper thread.
// Each sample's augmentation stream is split off by its position in the epoch's order, so parts
// and timing cannot change what it draws.
static void fill_batch(void *owner, int b, int slot) {
    Loader *l = owner;
    Slot *sl = &l->slot[slot];
    const LoaderCfg *cfg = &l->cfg;
    long g0 = (long)b * cfg->batch;
    long bi = l->n - g0 < cfg->batch ? l->n - g0 : cfg->batch;
    long lo = cfg->part * bi / cfg->nparts, hi = (cfg->part + 1) * bi / cfg->nparts;
    size_t img = (size_t)l->s->c * l->s->h * l->s->w, out = (size_t)l->oc * l->oh * l->ow;
    int cp = cfg->crop_pad;
    for (long k = lo; k < hi; k++) {
        long pos = g0 + k;
        int j = l->order[pos], id = l->index ? l->index[j] : j;
        Rng r = rng_split(&l->aug_epoch, (uint64_t)pos);
        int dy = 0, dx = 0, flip = 0;
        if (cp) {
            dy = (int)rng_below(&r, 2u * cp + 1) - cp;
            dx = (int)rng_below(&r, 2u * cp + 1) - cp;
        }
        if (cfg->flip) flip = (int)rng_below(&r, 2);
        fill_sample(l, sl->x + (size_t)(k - lo) * out, l->s->images + (size_t)id * img, dy, dx,
                    flip);
        sl->y[k - lo] = l->s->labels[id];
        sl->ids[k - lo] = id;
    }
    sl->count = (int)(hi - lo);
}

static void check_cfg(const Split *s, int n, const double *std, LoaderCfg c) {
    DNA_CHECK(c.batch >= 1 && c.nparts >= 1 && c.part >= 0 && c.part < c.nparts,
              "set batch >= 1 and 0 <= part < nparts", "loader: batch %d, part %d of %d", c.batch,
              c.part, c.nparts);
    DNA_CHECK(c.batch >= c.nparts, "use a global batch of at least one sample per rank",
              "loader: global batch %d is smaller than the %d ranks sharing it", c.batch, c.nparts);
    DNA_CHECK(c.pad >= 0 && c.crop_pad >= 0 && c.pad <= 4096 && c.crop_pad <= 4096,
              "set pad and crop_pad to small non-negative values", "loader: pad %d, crop_pad %d",
              c.pad, c.crop_pad);
    DNA_CHECK(n >= 0, "pass a non-negative sample count", "loader: %d samples requested", n);
    int rest = n % c.batch;
    DNA_CHECK(c.drop_last || rest == 0 || rest >= c.nparts,
              "set drop_last, or choose a batch size that leaves no tiny last batch",
              "loader: the last batch has %d samples for %d ranks, some rank would get none", rest,
              c.nparts);
    DNA_CHECK(s->c >= 1 && s->c <= DATASET_MAX_C, "", "loader: %d channels", s->c);
    for (int k = 0; k < s->c; k++)
        DNA_CHECK(std[k] > 0, "recompute the dataset's stats", "loader: std[%d] = %g", k, std[k]);
}

Loader *loader_new(const Split *s, const int32_t *index, int n, const double *mean,
                   const double *std, LoaderCfg cfg) {
    if (!index) n = s->n;
    check_cfg(s, n, std, cfg);
    Loader *l = dna_calloc(1, sizeof *l);
    l->s = s;
    l->n = n;
    l->cfg = cfg;
    if (index) {
        l->index = dna_malloc((size_t)n * sizeof *l->index);
        for (int i = 0; i < n; i++) {
            DNA_CHECK(index[i] >= 0 && index[i] < s->n, "index the Split the loader reads",
                      "loader: index[%d] = %d outside [0, %d)", i, (int)index[i], s->n);
            l->index[i] = index[i];
        }
    }
    l->nb = cfg.drop_last ? n / cfg.batch : (n + cfg.batch - 1) / cfg.batch;
    l->max_local = (cfg.batch + cfg.nparts - 1) / cfg.nparts;
    l->oc = s->c;
    l->oh = s->h + 2 * cfg.pad;
    l->ow = s->w + 2 * cfg.pad;
    for (int c = 0; c < s->c; c++)
        for (int v = 0; v < 256; v++) l->lut[c][v] = (float)((v / 255.0 - mean[c]) / std[c]);
    Rng root = rng_new(cfg.seed);
    l->order_root = rng_split(&root, 0);
    l->aug_root = rng_split(&root, 1);
    l->order = dna_malloc((size_t)n * sizeof *l->order);
    size_t out = (size_t)l->oc * l->oh * l->ow;
    for (int i = 0; i < 2; i++) {
        l->slot[i].x = dna_malloc((size_t)l->max_local * out * sizeof(float));
        l->slot[i].y = dna_malloc((size_t)l->max_local * sizeof(int32_t));
        l->slot[i].ids = dna_malloc((size_t)l->max_local * sizeof(int64_t));
    }
    l->pf = prefetch_new(l->nb, (PrefetchOps){.fill = fill_batch}, l);
    return l;
}

void loader_out_shape(const Loader *l, int *c, int *h, int *w) {
    *c = l->oc, *h = l->oh, *w = l->ow;
}

int loader_batches(const Loader *l) {
    return l->nb;
}

void loader_start_epoch(Loader *l, int epoch, int start_batch) {
    DNA_CHECK(epoch >= 0 && start_batch >= 0 && start_batch <= l->nb,
              "resume from a batch of the epoch (0..batches)",
              "loader: epoch %d, start batch %d of %d", epoch, start_batch, l->nb);
    prefetch_stop(l->pf);  // the fill in flight ends; the helper then reads nothing
    for (int i = 0; i < l->n; i++) l->order[i] = i;
    if (l->cfg.shuffle) {
        Rng r = rng_split(&l->order_root, (uint64_t)epoch);
        rng_shuffle(&r, l->order, l->n);
    }
    l->aug_epoch = rng_split(&l->aug_root, (uint64_t)epoch);
    l->started = 1;
    prefetch_start(l->pf, start_batch);
}

int loader_next(Loader *l, const float **x, const int32_t **y, const int64_t **ids) {
    DNA_CHECK(l->started, "call loader_start_epoch before loader_next", "loader: no epoch started");
    int i = prefetch_next(l->pf);
    if (i < 0) return 0;
    const Slot *sl = &l->slot[i];
    *x = sl->x;
    *y = sl->y;
    *ids = sl->ids;
    return sl->count;
}

void loader_free(Loader *l) {
    if (!l) return;
    prefetch_free(l->pf);  // a fill in flight ends before the slots go
    for (int i = 0; i < 2; i++) {
        free(l->slot[i].x);
        free(l->slot[i].y);
        free(l->slot[i].ids);
    }
    free(l->order);
    free(l->index);
    free(l);
}
