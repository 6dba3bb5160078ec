// `dna export ARCH.json [--format timm|json]`: a searched architecture as timm's arch_def
// (Python, for users who retrain in PyTorch) or as the canonical JSON (doc/formats.md).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/arch.h"
#include "stages/stages.h"

// an arch.json as timm's arch_def (Python) or as the canonical JSON (doc/formats.md).
static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    const char *path = NULL, *format = "timm";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            DNA_FAIL("usage: dna export ARCH.json [--format timm|json]", "unexpected argument '%s'",
                     argv[i]);
    }
    DNA_CHECK(path, "usage: dna export ARCH.json [--format timm|json]", "export: no file given");
    DNA_CHECK(!strcmp(format, "timm") || !strcmp(format, "json"), "use --format timm or json",
              "export: unknown format '%s'", format);
    if (ctx->rank != 0) return 0;
    Arch a;
    arch_load(path, &a);
    char *text = !strcmp(format, "timm") ? arch_to_timm(&a) : arch_to_json(&a, NULL);
    printf("%s%s", text, !strcmp(format, "timm") ? "" : "\n");
    free(text);
    return 0;
}

const Stage STAGE_EXPORT = {
    .name = "export",
    .help = "print an arch.json as timm's arch_def (--format timm) or canonical JSON",
    .command = command,
};
