// potentials.h5 and its CSVs (see potentials.h).
#include "io/potentials.h"
#include "io/files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/arch.h"

static const char *QTY[4] = {"score", "mse", "params", "macs"};

static double **field(CellScores *c, int q) {
    double **f[4] = {&c->score, &c->mse, &c->params, &c->macs};
    return f[q];
}

void potentials_save(const char *path, const Potentials *p, const Space *sp, const H5Prov *prov) {
    char tmp[1024], name[64];
    hid_t f = h5_create_tmp(path, tmp);
    h5_attr_i64(f, "nblocks", p->nblocks, tmp);
    for (int k = 0; k < p->nblocks; k++)
        for (int c = 0; c < p->ncells[k]; c++) {
            CellScores *cs = (CellScores *)&p->cell[k][c];
            long n = (long)cs->npaths;  // h5_write's dims
            for (int q = 0; q < 4; q++) {
                snprintf(name, sizeof name, "block%d_cell%d_%s", k + 1, c + 1, QTY[q]);
                h5_write(f, name, H5T_NATIVE_DOUBLE, *field(cs, q), 1, &n, tmp);
            }
        }
    if (prov) h5_attr_prov(f, prov, tmp);
    h5_commit(f, tmp, path);
    // one CSV per block, next to the file
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    for (int k = 0; k < p->nblocks; k++) {
        char csv[1100];
        snprintf(csv, sizeof csv, "%s/potentials_block%d.csv", dir, k + 1);
        TextOut to;
        FILE *o = textout_open(&to, csv);
        fprintf(o, "block,cell,layers,width,path,ops,score,mse,params,macs\n");
        for (int c = 0; c < p->ncells[k]; c++) {
            const CellScores *cs = &p->cell[k][c];
            for (int64_t i = 0; i < cs->npaths; i++) {
                int layers, width;
                char ops[CELL_MAX_LAYERS * 8];
                space_path_describe(sp, k, c, i, &layers, &width, ops, sizeof ops);
                fprintf(o, "%d,%d,%d,%d,%lld,%s,%.9g,%.9g,%.0f,%.0f\n", k + 1, c + 1, layers,
                        width, (long long)i, ops, cs->score[i], cs->mse[i], cs->params[i],
                        cs->macs[i]);
            }
        }
        textout_commit(&to);
    }
}

void potentials_load(const char *path, const Space *sp, Potentials *p) {
    hid_t f = h5_open_read(path);
    memset(p, 0, sizeof *p);
    long long nblocks = h5_read_attr_i64(f, "nblocks", path);
    DNA_CHECK(nblocks == sp->nblocks, "rerun `dna rate` for this search space",
              "'%s' rates %lld blocks, the space has %d", path, nblocks, sp->nblocks);
    p->nblocks = sp->nblocks;
    char name[64];
    for (int k = 0; k < p->nblocks; k++) {
        p->ncells[k] = sp->block[k].ncells;
        for (int c = 0; c < p->ncells[k]; c++) {
            CellScores *cs = &p->cell[k][c];
            cs->npaths = space_cell_paths(sp, k, c);
            for (int q = 0; q < 4; q++) {
                snprintf(name, sizeof name, "block%d_cell%d_%s", k + 1, c + 1, QTY[q]);
                size_t n = h5_count(f, path, name, NULL, NULL);  // checked before it is read
                DNA_CHECK((int64_t)n == cs->npaths, "rerun `dna rate` for this search space",
                          "'%s': %s has %zu paths, the space's cell has %lld", path, name, n,
                          (long long)cs->npaths);
                *field(cs, q) = h5_read_f64(f, path, name, NULL);
            }
        }
    }
    h5_close(f);
}
