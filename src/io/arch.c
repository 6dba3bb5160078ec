// arch.json files (see arch.h).
#include "io/arch.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "io/files.h"

void arch_save(const Arch *a, const char *extra_json, const char *path) {
    char *s = arch_to_json(a, extra_json);
    TextOut t;
    fprintf(textout_open(&t, path), "%s\n", s);
    textout_commit(&t);
    free(s);
}

void arch_load(const char *path, Arch *a) {
    char *buf = text_read(path);
    DNA_CHECK(buf, "give the path of an arch.json (dna search writes outputs/<run>/arch.json)",
              "cannot open '%s'", path);
    arch_from_json(buf, path, a);
    free(buf);
}
