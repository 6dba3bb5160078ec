// EfficientNet compound scaling (see scale.h).
#include "nas/scale.h"

#include <math.h>

#include "core/error.h"

int scale_width(double channels, double w) {
    double v = channels * w;  // the product Python forms: the same double, the same rounding
    int r = (int)(v + 4) / 8 * 8;
    if (r < 8) r = 8;
    if (r < 0.9 * v) r += 8;
    return r;
}

int scale_depth_runs(const int *runs, int n, double d, int *out) {
    int left = 0, sum = 0;
    for (int i = 0; i < n; i++) left += runs[i];
    int scaled = (int)ceil(left * d);
    for (int i = n - 1; i >= 0; i--) {
        // nearbyint rounds half to even in the default rounding mode, as Python's round
        int rs = (int)nearbyint((double)runs[i] / left * scaled);
        out[i] = rs > 1 ? rs : 1;
        left -= runs[i], scaled -= out[i], sum += out[i];
    }
    return sum;
}

// Block b's runs of identical consecutive layers (arch_to_effnet's stages): their lengths and
// first layers; returns how many.
static int block_runs(const ArchBlock *b, int *len, CellOp *op) {
    int n = 0;
    for (int l = 0; l < b->depth; l++) {
        if (n && op[n - 1].k == b->op[l].k && op[n - 1].expand == b->op[l].expand) {
            len[n - 1]++;
            continue;
        }
        op[n] = b->op[l], len[n++] = 1;
    }
    return n;
}

void arch_scale(const Arch *in, ScaleCoef c, Arch *out) {
    *out = *in;
    out->stem = scale_width(in->stem, c.width);
    out->head = scale_width(in->head, c.width);
    if (c.resolution > 0) out->in_hw = c.resolution;
    out->score = NAN;
    for (int k = 0; k < in->nblocks; k++) {
        const ArchBlock *b = &in->block[k];
        ArchBlock *x = &out->block[k];
        int len[CELL_MAX_LAYERS], rep[CELL_MAX_LAYERS];
        CellOp op[CELL_MAX_LAYERS];
        int n = block_runs(b, len, op), depth = scale_depth_runs(len, n, c.depth, rep);
        DNA_CHECK(depth <= CELL_MAX_LAYERS, "use a smaller --depth",
                  "scale: block %d would have %d layers (%d x depth %g), at most %d are supported",
                  k + 1, depth, b->depth, c.depth, CELL_MAX_LAYERS);
        x->width = scale_width(b->width, c.width);
        x->depth = 0;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < rep[i]; r++) x->op[x->depth++] = op[i];
    }
    EffNetCfg cfg;
    char err[256];
    arch_to_effnet(out, &cfg);
    DNA_CHECK(effnet_cfg_validate(&cfg, err, sizeof err) == 0, "use a smaller --width or --depth",
              "scale: the scaled network is beyond what this program can build: %s", err);
}
