// Fuzz target: the config file and command-line overrides (config_load). The input is the
// INI text, then after each NUL byte one override "section.key=value". A loaded config is
// dumped and hashed, as every run does.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"

enum { MAX_OVERRIDES = 8 };

typedef struct Args {
    const char *path;
    char *ov[MAX_OVERRIDES];
    int nov;
} Args;

static void load(void *arg) {
    Args *a = arg;
    static Config cfg;  // 40 KB: not on the stack of every call
    config_load(&cfg, a->path, a->ov, a->nov);
    FILE *f = fopen("/dev/null", "w");
    config_dump(&cfg, f);
    config_keys(&cfg, "data teacher space", f);
    fclose(f);
    char hex[17];
    config_hash(&cfg, hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    char path[300];
    fuzz_path(path, sizeof path, "config.ini");
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t ini = strlen(buf);
    fuzz_write(path, buf, ini);
    Args a = {.path = path};
    for (size_t at = ini + 1; at < size + 1 && a.nov < MAX_OVERRIDES; at += strlen(buf + at) + 1)
        a.ov[a.nov++] = buf + at;
    fuzz_call(load, &a);
    free(buf);
    return 0;
}
