// The standalone ViT network: stages, then the CNN head (nn/vitnet.h).
#include "nn/vitnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void push_state(VitNet *net, const char *name, Tensor *t) {
    NamedTensor *nt = &net->state[net->nstate++];
    snprintf(nt->name, sizeof nt->name, "%s", name);
    nt->t = t;
}

void vitnet_init(const Backend *be, VitNet *net, const VitNetCfg *cfg, Rng *rng) {
    DNA_CHECK(
        cfg->nblocks >= 1 && cfg->nblocks <= EFFNET_MAX_BLOCKS && cfg->classes > 0 && cfg->head > 0,
        "give 1..8 blocks, a head width and classes", "bad ViT network: %d blocks", cfg->nblocks);
    *net = (VitNet){.cfg = *cfg};
    int layers = 0;
    for (int k = 0; k < cfg->nblocks; k++) {
        const VitStageCfg *s = &cfg->stage[k];
        DNA_CHECK(
            k == 0 || (s->cin == cfg->stage[k - 1].cout && s->in_hw == cfg->stage[k - 1].out_hw),
            "chain blocks whose input is the previous block's output",
            "ViT block %d reads %dx%dx%d, block %d gives %dx%dx%d", k + 1, s->cin, s->in_hw,
            s->in_hw, k, cfg->stage[k - 1].cout, cfg->stage[k - 1].out_hw,
            cfg->stage[k - 1].out_hw);
        layers += s->depth;
    }
    net->state = dna_calloc((size_t)layers * 12 + 8 * EFFNET_MAX_BLOCKS + 16, sizeof(NamedTensor));
    for (int k = 0, l = 0; k < cfg->nblocks; k++) {
        vitstage_init(be, &net->st[k], cfg->stage[k], rng);
        for (int i = 0; i < cfg->stage[k].depth; i++, l++)  // timm: linspace(0, rate, depth)
            net->st[k].blk[i].drop_path = layers > 1 ? cfg->drop_path * l / (layers - 1) : 0.0f;
        int from = net->params.n;
        vitstage_params(&net->st[k], &net->params);
        for (int i = from; i < net->params.n; i++) {
            Param *p = net->params.p[i];
            char full[160];
            snprintf(full, sizeof full, "stages.%d.%s", k, p->name);
            DNA_CHECK(strlen(full) < sizeof p->name, "use fewer blocks", "name '%s' too long",
                      full);
            memcpy(p->name, full, strlen(full) + 1);
            push_state(net, p->name, &p->w);
        }
    }
    const VitStageCfg *last = &cfg->stage[cfg->nblocks - 1];
    head_init(be, &net->head, last->cout, cfg->head, cfg->classes, rng);
    net->head.dropout = cfg->dropout;
    int from = net->params.n;
    head_params(&net->head, &net->params);
    for (int i = from; i < net->params.n; i++) {
        Param *p = net->params.p[i];
        push_state(net, p->name, &p->w);
        if (p == &net->head.conv.bn.beta) {  // running stats follow the bias, as in state_dict
            push_state(net, "bn2.running_mean", &net->head.conv.bn.run_mean);
            push_state(net, "bn2.running_var", &net->head.conv.bn.run_var);
        }
    }
}

void vitnet_free(const Backend *be, VitNet *net) {
    for (int k = 0; k < net->cfg.nblocks; k++) {
        vitstage_cache_free(be, &net->sc[k]);
        vitstage_free(be, &net->st[k]);
    }
    head_cache_free(be, &net->hc);
    head_free(be, &net->head);
    params_free(&net->params);
    free(net->state);
}

const Tensor *vitnet_forward(const Backend *be, VitNet *net, const Tensor *x, BNMode mode,
                             Rng *drop) {
    Rng *d = mode == BN_TRAIN ? drop : NULL;
    const Tensor *t = x;
    for (int k = 0; k < net->cfg.nblocks; k++)
        t = vitstage_forward(be, &net->st[k], &net->sc[k], t, d);
    return head_forward(be, &net->head, &net->hc, t, mode, d);
}

void vitnet_backward(const Backend *be, VitNet *net, const Tensor *dlogits) {
    const Tensor *d = head_backward(be, &net->head, &net->hc, dlogits);
    for (int k = net->cfg.nblocks - 1; k >= 0; k--)
        d = vitstage_backward(be, &net->st[k], &net->sc[k], d, k > 0);
}

void vitnet_each_activation(const VitNet *net, EffNetActFn fn, void *user) {
    for (int k = 0; k < net->cfg.nblocks; k++)
        for (int i = 0; i < net->cfg.stage[k].depth; i++) fn(&net->sc[k].blk[i].g, user);
    fn(&net->hc.conv.out, user);
}

long vitnet_param_count(const VitNetCfg *cfg) {
    long n = 0;
    for (int k = 0; k < cfg->nblocks; k++) n += vitstage_param_count(cfg->stage[k]);
    return n + head_param_count(cfg->stage[cfg->nblocks - 1].cout, cfg->head, cfg->classes);
}
