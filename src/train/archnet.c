// The standalone network of an architecture (see archnet.h).
#include "train/archnet.h"

#include <string.h>

#include "core/log.h"

void archnet_init(const Backend *be, ArchNet *n, const Arch *a, const Dataset *d, const Recipe *r,
                  Rng *init) {
    *n = (ArchNet){.vit = a->vit,
                   .t = {.in_hw = a->in_hw, .top1 = -1},
                   .params = arch_params(a),
                   .macs = arch_macs(a)};
    memcpy(n->t.mean, d->mean, sizeof n->t.mean);
    memcpy(n->t.std, d->std, sizeof n->t.std);
    DNA_CHECK(r->fit->drop_connect >= 0 && r->fit->drop_connect < 1,
              "set the section's drop_connect (a ViT's DropPath rate) in [0, 1) (0 = off)",
              "[%s] drop_connect = %g", r->label, r->fit->drop_connect);
    if (a->vit) {
        VitNetCfg vc;
        arch_to_vitnet(a, &vc);
        vc.dropout = (float)r->fit->dropout, vc.drop_path = (float)r->fit->drop_connect;
        vitnet_init(be, &n->vn, &vc, init);
    } else {
        EffNetCfg ec;
        arch_to_effnet(a, &ec);
        ec.dropout = (float)r->fit->dropout;
        effnet_init(be, &n->t.net, &ec, a->in_hw, init);
    }
}

double archnet_fit(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                   ArchNet *n, double *top1, int *stopped) {
    if (!n->vit) return fit_teacher(ctx, cfg, r, d, &n->t, top1, stopped);
    log_info(ctx, "%s: ViT, %ld params, %.1fM MACs/img at %dx%d", r->label, n->params,
             n->macs / 1e6, n->t.in_hw, n->t.in_hw);
    Model m = model_vitnet(&n->vn);
    n->t.top1 = fit_train(ctx, cfg, r, d, n->t.mean, n->t.std, &m, 1, top1, stopped);
    model_free(&m);
    return n->t.top1;
}

void archnet_free(const Backend *be, ArchNet *n) {
    if (n->vit)
        vitnet_free(be, &n->vn);
    else
        teacher_free(be, &n->t);
}
