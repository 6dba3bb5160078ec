// The one-shot supernet (see oneshot.h).
#include "nas/oneshot.h"

#include <string.h>

#include "core/error.h"
#include "nas/arch.h"

void oneshot_init(const Backend *be, OneShot *s, const Space *sp, const EffNetCfg *t, float dropout,
                  Rng *rng) {
    memset(s, 0, sizeof *s);
    s->sp = sp;
    for (int k = 0; k < sp->nblocks; k++)
        if (sp->vit)
            vitcell_init(be, &s->vit[k], sp->block[k].vit, rng);
        else
            for (int c = 0; c < sp->block[k].ncells; c++)
                cell_init(be, &s->cell[k][c], sp->block[k].cell[c], rng);
    head_init(be, &s->head, sp->block[sp->nblocks - 1].out_c, t->head, t->classes, rng);
    s->head.dropout = dropout;
}

void oneshot_free(const Backend *be, OneShot *s) {
    for (int k = 0; k < s->sp->nblocks; k++)
        if (s->sp->vit)
            vitcell_free(be, &s->vit[k]);
        else
            for (int c = 0; c < s->sp->block[k].ncells; c++) cell_free(be, &s->cell[k][c]);
    head_free(be, &s->head);
    head_cache_free(be, &s->head_c);
}

void oneshot_all_params(OneShot *s, ParamList *l) {
    for (int k = 0; k < s->sp->nblocks; k++)
        if (s->sp->vit)
            vitcell_params(&s->vit[k], l);
        else
            for (int j = 0; j < s->sp->block[k].ncells; j++) cell_all_params(&s->cell[k][j], l);
    head_params(&s->head, l);
}

int oneshot_stats(OneShot *s, Tensor **stats, int max) {
    int n = 0;
    for (int k = 0; k < s->sp->nblocks && !s->sp->vit; k++)  // ViT cells have no BN
        for (int j = 0; j < s->sp->block[k].ncells; j++)
            n += cell_stats(&s->cell[k][j], stats + n, max - n);
    DNA_CHECK(n + 2 <= max, "", "oneshot_stats: room for %d statistics", max);
    stats[n++] = &s->head.conv.bn.run_mean, stats[n++] = &s->head.conv.bn.run_var;
    return n;
}

const Tensor *oneshot_forward(const Backend *be, OneShot *s, const Tensor *x, BNMode mode,
                              Rng *drop) {
    for (int k = 0; k < s->sp->nblocks; k++)
        x = s->sp->vit
                ? vitcell_forward(be, &s->vit[k], s->code[k], x, mode == BN_TRAIN ? drop : NULL)
                : cell_forward(be, &s->cell[k][s->pick[k]], s->ops[k], x, mode);
    return head_forward(be, &s->head, &s->head_c, x, mode, drop);
}

void oneshot_backward(const Backend *be, OneShot *s, const Tensor *dlogits) {
    const Tensor *dy = head_backward(be, &s->head, &s->head_c, dlogits);
    for (int k = s->sp->nblocks - 1; k >= 0; k--)
        dy = s->sp->vit ? vitcell_backward(be, &s->vit[k], dy, k > 0)
                        : cell_backward(be, &s->cell[k][s->pick[k]], s->ops[k], dy, k > 0);
}

void oneshot_path_params(OneShot *s, ParamList *l) {
    l->n = 0;
    if (s->sp->vit) {
        oneshot_all_params(s, l);
        return;
    }
    for (int k = 0; k < s->sp->nblocks; k++)
        cell_path_params(&s->cell[k][s->pick[k]], s->ops[k], l);
    head_params(&s->head, l);
}

void oneshot_draw(OneShot *s, Rng *r) {
    for (int k = 0; k < s->sp->nblocks; k++) {
        const SpaceBlock *b = &s->sp->block[k];
        if (s->sp->vit) {
            s->code[k] = (int64_t)rng_below(r, (uint32_t)vitcell_path_count(&b->vit));
            continue;
        }
        s->pick[k] = (int)rng_below(r, (uint32_t)b->ncells);
        const CellCfg *c = &b->cell[s->pick[k]];
        for (int l = 0; l < c->layers; l++) s->ops[k][l] = (int)rng_below(r, (uint32_t)c->nops);
    }
}

void oneshot_set(OneShot *s, const int *cell, const int64_t *code) {
    for (int k = 0; k < s->sp->nblocks; k++) {
        s->pick[k] = cell[k], s->code[k] = code[k];
        if (s->sp->vit) continue;
        const CellCfg *c = &s->sp->block[k].cell[cell[k]];
        arch_decode_path(code[k], c->layers, c->nops, s->ops[k]);
    }
}
