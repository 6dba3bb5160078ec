// Fuzz target: arch.json (arch_load), then what `dna retrain` and `dna export` do with it:
// the standalone network's config and its validation, parameter and multiply-add counts,
// the timm export and the one-line description.
#include <stdlib.h>

#include "fuzz.h"
#include "io/arch.h"

static void load(void *arg) {
    Arch a;
    arch_load(arg, &a);
    EffNetCfg c;
    arch_to_effnet(&a, &c);
    char err[256], line[512];
    effnet_cfg_validate(&c, err, sizeof err);
    (void)arch_params(&a);
    (void)arch_macs(&a);
    free(arch_to_timm(&a));
    arch_describe(&a, line, sizeof line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    char path[300];
    fuzz_path(path, sizeof path, "arch.json");
    fuzz_write(path, data, size);
    fuzz_call(load, path);
    return 0;
}
