// `dna scale ARCH.json --width W --depth D [--resolution R] [-o OUT]`: an architecture file
// scaled by EfficientNet's compound rules (src/nas/scale.h), written as a new arch.json whose
// provenance names the source file and its digest, the coefficients, version and git
// revision. Default OUT: <ARCH without .json>_w<W>_d<D>[_r<R>].json beside the source.
#include "nas/scale.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "io/arch.h"
#include "io/files.h"
#include "stages/stages.h"

#define USAGE "usage: dna scale ARCH.json --width W --depth D [--resolution R] [-o OUT]"

// A width or depth coefficient: a number in (0, SCALE_MAX_COEF]; fatal naming the flag.
static double coef(const char *flag, const char *s) {
    char *end;
    double v = strtod(s, &end);
    // negated comparison: NaN fails it
    DNA_CHECK(end != s && !*end && v > 0 && !(v > SCALE_MAX_COEF), USAGE,
              "scale: %s '%s' is not a number in (0, %g]", flag, s, SCALE_MAX_COEF);
    return v;
}

static int resolution(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    DNA_CHECK(end != s && !*end && (v == 0 || (v >= SCALE_MIN_HW && v <= SCALE_MAX_HW)), USAGE,
              "scale: --resolution '%s' is not 0 (keep the input size) or an integer in %d..%d", s,
              SCALE_MIN_HW, SCALE_MAX_HW);
    return (int)v;
}

// "5,288,548": parameter counts read at a glance
static const char *grouped(long v, char *buf, size_t n) {
    char d[32];
    int len = snprintf(d, sizeof d, "%ld", v), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
    return buf;
}

static const char *macs(long v, char *buf, size_t n) {
    static const char *unit[] = {"", "K", "M", "G", "T"};
    double x = (double)v;
    int u = 0;
    for (; x >= 1000 && u < 4; u++) x /= 1000;
    snprintf(buf, n, "%.3g%s", x, unit[u]);
    return buf;
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    const char *path = NULL, *out = NULL;
    ScaleCoef c = {0};
    int have_w = 0, have_d = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int valued = !strcmp(a, "--width") || !strcmp(a, "--depth") || !strcmp(a, "--resolution") ||
                     !strcmp(a, "-o");
        DNA_CHECK(!valued || i + 1 < argc, USAGE, "scale: %s needs a value", a);
        if (!strcmp(a, "--width"))
            c.width = coef(a, argv[++i]), have_w = 1;
        else if (!strcmp(a, "--depth"))
            c.depth = coef(a, argv[++i]), have_d = 1;
        else if (!strcmp(a, "--resolution"))
            c.resolution = resolution(argv[++i]);
        else if (!strcmp(a, "-o"))
            out = argv[++i];
        else if (!path && a[0] != '-')
            path = a;
        else
            DNA_FAIL(USAGE, "scale: unexpected argument '%s'", a);
    }
    DNA_CHECK(path, USAGE, "scale: no architecture file given");
    DNA_CHECK(have_w && have_d, USAGE,
              "scale: give both --width and --depth (1 keeps a dimension)");
    if (ctx->rank != 0) return 0;

    char *text = text_read(path);
    DNA_CHECK(text, "give the path of an arch.json (dna search writes outputs/<run>/arch.json)",
              "cannot open '%s'", path);
    Arch a, b;
    arch_from_json(text, path, &a);
    char digest[17];  // the exact source bytes, as retrain records the architecture it trained
    snprintf(digest, sizeof digest, "%016llx",
             (unsigned long long)fnv1a(FNV1A_INIT, text, strlen(text)));
    free(text);
    arch_scale(&a, c, &b);

    char dflt[1100], r[24] = "";
    if (!out) {
        size_t n = strlen(path);
        int stem = n > 5 && !strcmp(path + n - 5, ".json") ? (int)n - 5 : (int)n;
        if (c.resolution) snprintf(r, sizeof r, "_r%d", c.resolution);
        int len =
            snprintf(dflt, sizeof dflt, "%.*s_w%g_d%g%s.json", stem, path, c.width, c.depth, r);
        DNA_CHECK(len < (int)sizeof dflt, "give a shorter path or -o OUT", "scale: path too long");
        out = dflt;
    }
    cJSON *pv = cJSON_CreateObject();
    cJSON_AddStringToObject(pv, "made_by", "dna scale");
    cJSON_AddStringToObject(pv, "source", path);
    cJSON_AddStringToObject(pv, "source_digest", digest);
    cJSON_AddNumberToObject(pv, "width", c.width);
    cJSON_AddNumberToObject(pv, "depth", c.depth);
    cJSON_AddNumberToObject(pv, "resolution", c.resolution);
    cJSON_AddStringToObject(pv, "git_rev", ctx->git_rev);
    cJSON_AddStringToObject(pv, "version", ctx->version);
    char *extra = cJSON_PrintUnformatted(pv);
    cJSON_Delete(pv);
    arch_save(&b, extra, out);
    free(extra);

    char p0[32], p1[32], m0[16], m1[16], res[32] = "";
    if (c.resolution) snprintf(res, sizeof res, " resolution %d", c.resolution);
    log_info(ctx, "scale: %s (%s params, %s MACs) x width %g depth %g%s -> %s (%s params, %s MACs)",
             path, grouped(arch_params(&a), p0, sizeof p0), macs(arch_macs(&a), m0, sizeof m0),
             c.width, c.depth, res, out, grouped(arch_params(&b), p1, sizeof p1),
             macs(arch_macs(&b), m1, sizeof m1));
    return 0;
}

const Stage STAGE_SCALE = {
    .name = "scale",
    .help =
        "EfficientNet scaling: ARCH --width W --depth D [--resolution R] [-o OUT] "
        "(default OUT: ARCH_w<W>_d<D>[_r<R>].json)",
    .command = command,
};
