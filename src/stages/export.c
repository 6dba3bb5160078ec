// `dna export ARCH.json [--format timm|torch|json]`: a searched architecture as timm's
// arch_def (Python, for users who retrain an MBConv network in PyTorch), as a PyTorch
// program that builds a ViT (tools/vit_torch.py holds the module; `--format torch`), or as
// the canonical JSON (doc/formats.md).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/arch.h"
#include "stages/stages.h"

#define USAGE "usage: dna export ARCH.json [--format timm|torch|json]"

// A ViT architecture as a Python program: its JSON inline, the module from tools/vit_torch.py
// (the file that tests/unit/test_vit_ref.c holds to dna's logits), and the weights of
// `dna retrain` loaded by name when given.
static char *vit_torch_program(const Arch *a) {
    char *json = arch_to_json(a, NULL), *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    DNA_CHECK(f, "", "out of memory");
    fprintf(f,
            "# A searched ViT as a PyTorch module (%ld parameters, %ld multiply-adds at %dx%d).\n"
            "# Needs dnafam's tools/vit_torch.py (the module; DNA_TOOLS or ./tools) and, for\n"
            "# the weights, h5py. Usage: python3 THIS.py [retrain.h5]\n"
            "import json, os, sys\n"
            "sys.path.insert(0, os.environ.get('DNA_TOOLS', 'tools'))\n"
            "import vit_torch\n\n"
            "ARCH = json.loads(r'''%s''')\n\n"
            "model = vit_torch.build(ARCH)\n"
            "if len(sys.argv) > 1:\n"
            "    vit_torch.load(model, sys.argv[1])\n"
            "if __name__ == '__main__':\n"
            "    print(model)\n"
            "    print('parameters:', sum(p.numel() for p in model.parameters()))\n",
            arch_params(a), arch_macs(a), a->in_hw, a->in_hw, json);
    fclose(f);
    free(json);
    return text;
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    const char *path = NULL, *format = "timm";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            DNA_FAIL(USAGE, "unexpected argument '%s'", argv[i]);
    }
    DNA_CHECK(path, USAGE, "export: no file given");
    DNA_CHECK(!strcmp(format, "timm") || !strcmp(format, "torch") || !strcmp(format, "json"),
              "use --format timm, torch or json", "export: unknown format '%s'", format);
    if (ctx->rank != 0) return 0;
    Arch a;
    arch_load(path, &a);
    DNA_CHECK(strcmp(format, "torch") || a.vit,
              "use --format timm for an MBConv architecture (timm's EfficientNet builds it)",
              "export: '%s' is an MBConv architecture; --format torch writes ViTs", path);
    DNA_CHECK(strcmp(format, "timm") || !a.vit, "use --format torch for a ViT architecture",
              "export: '%s' is a ViT architecture; timm's arch_def describes EfficientNets",
              path);
    char *text = !strcmp(format, "timm")    ? arch_to_timm(&a)
                 : !strcmp(format, "torch") ? vit_torch_program(&a)
                                            : arch_to_json(&a, NULL);
    printf("%s%s", text, !strcmp(format, "json") ? "\n" : "");
    free(text);
    return 0;
}

const Stage STAGE_EXPORT = {
    .name = "export",
    .help = "print an arch.json as timm's arch_def (--format timm), a PyTorch ViT program "
            "(--format torch) or canonical JSON",
    .command = command,
};
