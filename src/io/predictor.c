// predictor.json files (see predictor.h).
#include "io/predictor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "io/files.h"

void predictor_save(const Predictor *p, const char *extra_json, const char *path) {
    char *s = predictor_to_json(p, extra_json);
    TextOut t;
    fprintf(textout_open(&t, path), "%s\n", s);
    textout_commit(&t);
    free(s);
}

void predictor_load(const char *path, int nblocks, Predictor *p, char digest[17]) {
    char *buf = text_read(path);
    DNA_CHECK(buf,
              "give the path of a predictor.json (`dna calibrate CFG` writes <run>/predictor.json)",
              "cannot open the predictor '%s'", path);
    predictor_from_json(buf, path, nblocks, p);
    if (digest)
        snprintf(digest, 17, "%016llx", (unsigned long long)fnv1a(FNV1A_INIT, buf, strlen(buf)));
    free(buf);
}
