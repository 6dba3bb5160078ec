// Student supernets of either kind behind one interface (nas/student.h).
#include "nas/student.h"

void student_init(const Backend *be, Student *s, const Space *sp, int block, int cell, Rng *rng) {
    *s = (Student){.vit = sp->vit};
    if (s->vit)
        vitcell_init(be, &s->vc, sp->block[block].vit, rng);
    else
        cell_init(be, &s->cell, sp->block[block].cell[cell], rng);
}

void student_free(const Backend *be, Student *s) {
    if (s->vit)
        vitcell_free(be, &s->vc);
    else
        cell_free(be, &s->cell);
}

void student_sample(const Student *s, Rng *root, long step, int *path) {
    Rng r = rng_split(root, (uint64_t)step);
    if (s->vit) {
        path[0] = (int)rng_below(&r, (uint32_t)vitcell_path_count(&s->vc.cfg));
        return;
    }
    for (int i = 0; i < s->cell.cfg.layers; i++)
        path[i] = (int)rng_below(&r, (uint32_t)s->cell.cfg.nops);
}

void student_all_params(Student *s, ParamList *l) {
    if (s->vit)
        vitcell_params(&s->vc, l);
    else
        cell_all_params(&s->cell, l);
}

int student_bns(Student *s, BatchNorm **bns, int max) {
    return s->vit ? 0 : cell_bns(&s->cell, bns, max);
}

int student_stats(Student *s, Tensor **stats, int max) {
    return s->vit ? 0 : cell_stats(&s->cell, stats, max);
}

const Tensor *student_forward_eval(const Backend *be, Student *s, const int *path,
                                   const Tensor *x) {
    if (s->vit) return vitcell_forward(be, &s->vc, path[0], x, NULL);
    return cell_forward(be, &s->cell, path, x, BN_EVAL);
}
