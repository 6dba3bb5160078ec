// Potentials (see potentials.h).
#include "nas/potentials.h"

#include <stdlib.h>

void potentials_free(Potentials *p) {
    for (int k = 0; k < p->nblocks; k++)
        for (int c = 0; c < p->ncells[k]; c++) {
            CellScores *s = &p->cell[k][c];
            free(s->score), free(s->mse), free(s->params), free(s->macs);
            *s = (CellScores){0};
        }
}
