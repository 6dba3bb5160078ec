// CSV columns keyed by id (see csvcol.h). Moved here from `dna rank` so that the reader of
// outside CSVs can be tested and fuzzed on its own.
#include "io/csvcol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/files.h"

void csv_column_free(CsvColumn *c) {
    free(c->id), free(c->v);
    *c = (CsvColumn){0};
}

// Splits a CSV line in place at commas (no quoting: ids and numbers only need none).
static int split(char *line, char **field, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        field[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = 0, p = comma + 1;
    }
    for (int i = 0; i < n; i++) {  // trim
        while (*field[i] == ' ') field[i]++;
        for (char *e = field[i] + strlen(field[i]);
             e > field[i] && (e[-1] == ' ' || e[-1] == '\r');)
            *--e = 0;
    }
    return n;
}

// Column `col` of a CSV with a header row, keyed by its "id" column.
void csv_column_read(const char *path, const char *col, CsvColumn *out) {
    char *text = text_read(path);
    DNA_CHECK(text, "give an existing CSV file", "rank: cannot read '%s'", path);
    *out = (CsvColumn){0};
    long cap = 0, lineno = 0;
    int icol = -1, iid = -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[64];
        int nf = split(line, f, 64);
        if (++lineno == 1) {
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "id")) iid = i;
                if (!strcmp(f[i], col)) icol = i;
            }
            DNA_CHECK(iid >= 0 && icol >= 0,
                      "give the CSV a header row with columns id and the one named",
                      "rank: '%s' has no column 'id' and '%s' in its header", path, col);
            continue;
        }
        if (nf == 1 && !f[0][0]) continue;
        DNA_CHECK(nf > icol && nf > iid, "give every row all the header's columns",
                  "rank: '%s' line %ld has %d fields", path, lineno, nf);
        char *end;
        double v = strtod(f[icol], &end);
        DNA_CHECK(end != f[icol] && !*end && isfinite(v), "give a finite number",
                  "rank: '%s' line %ld: %s = '%s' is not a number", path, lineno, col, f[icol]);
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            out->id = realloc(out->id, sizeof *out->id * (size_t)cap);
            out->v = realloc(out->v, sizeof(double) * (size_t)cap);
            DNA_CHECK(out->id && out->v, "", "rank: out of memory reading '%s'", path);
        }
        snprintf(out->id[out->n], CSV_ID, "%s", f[iid]);
        out->v[out->n++] = v;
    }
    free(text);
    DNA_CHECK(out->n >= 3, "give at least 3 rows", "rank: '%s' has %ld rows of data", path, out->n);
}
