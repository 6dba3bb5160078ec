// Fuzz target, structure-aware: teacher.h5 (teacher_load), which builds the network its
// architecture attribute describes and loads every named weight into it. The input drives
// a small architecture (then its JSON fields: huge, negative, fractional, missing, wrong
// types), the input size and normalisation attributes, and each weight's shape, dtype,
// values and presence.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "fuzz.h"
#include "io/teacher.h"

static const Backend *BE;

static void load(void *arg) {
    Teacher t;
    teacher_load(BE, arg, &t);
    teacher_free(BE, &t);
}

// A valid small architecture from the input.
static EffNetCfg small_cfg(FuzzIn *in) {
    EffNetCfg c = {.cin = 1 + fz_u8(in) % 3,
                   .stem = 4,
                   .stem_stride = 1 + fz_u8(in) % 2,
                   .head = 8,
                   .classes = 2 + fz_u8(in) % 3,
                   .dropout = 0.1f,
                   .bn_eps = 1e-5f,
                   .bn_momentum = 0.1f};
    c.nstages = 1 + fz_u8(in) % 2;
    for (int s = 0; s < c.nstages; s++)
        c.stage[s] = (StageCfg){.repeats = 1 + fz_u8(in) % 2,
                                .k = 3,
                                .stride = 1 + fz_u8(in) % 2,
                                .expand = 1 + fz_u8(in) % 3,
                                .cout = 4 + fz_u8(in) % 5,
                                .se_ratio = fz_chance(in, 2) ? 0.25f : 0.0f};
    c.nblocks = c.nstages;
    for (int k = 0; k < c.nblocks; k++) c.block_end[k] = k;
    return c;
}

// The architecture attribute: the JSON of c with some fields damaged.
static char *arch_json(FuzzIn *in, const EffNetCfg *c) {
    static const char *keys[] = {"in_chans", "stem",   "stem_stride", "head",   "classes",
                                 "dropout",  "bn_eps", "bn_momentum", "stages", "block_end"};
    char *s = effnet_cfg_to_json(c);
    cJSON *o = cJSON_Parse(s);
    free(s);
    for (int n = fz_u8(in) % 4; n > 0; n--) {
        const char *k = keys[fz_u8(in) % 10];
        switch (fz_u8(in) % 4) {
            case 0:
                cJSON_DeleteItemFromObject(o, k);
                break;
            case 1:
                cJSON_ReplaceItemInObject(o, k, cJSON_CreateString("x"));
                break;
            case 2: {  // a stage token with a damaged field
                char tok[96];
                snprintf(tok, sizeof tok, "ir_r%lld_k%lld_s%d_e%lld_c%lld_se%g", fz_i64(in, 1),
                         fz_i64(in, 3), 1, fz_i64(in, 1), fz_i64(in, 4), fz_f64(in, 0.25));
                cJSON *st = cJSON_CreateArray();
                cJSON_AddItemToArray(st, cJSON_CreateString(tok));
                cJSON_ReplaceItemInObject(o, "stages", st);
                break;
            }
            default:
                cJSON_ReplaceItemInObject(o, k,
                                          cJSON_CreateNumber(fz_f64(in, (double)fz_i64(in, 4))));
        }
    }
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void write_file(FuzzIn *in, const char *path) {
    EffNetCfg c = small_cfg(in);
    char err[256];
    if (effnet_cfg_validate(&c, err, sizeof err)) return;
    int in_hw = 4 + fz_u8(in) % 6;
    EffNet net;
    Rng rng = rng_new(1);
    effnet_init(BE, &net, &c, in_hw, &rng);
    hid_t f = fh5_create(path);
    if (f < 0) {
        effnet_free(BE, &net);
        return;
    }
    char *js = arch_json(in, &c);
    if (!fz_chance(in, 50)) fh5_attr_str(f, "arch", js ? js : "{");
    free(js);
    hid_t t = fz_type(in, H5T_NATIVE_LLONG);
    if (!fz_chance(in, 50)) fh5_attr_i64(f, "in_hw", t, fz_i64(in, in_hw));
    fz_type_close(t);
    double mean[5], std[5], top1[2] = {fz_f64(in, 0.9), 0.5};
    for (int i = 0; i < 5; i++) mean[i] = fz_f64(in, 0.5), std[i] = fz_f64(in, 0.25);
    int nc = fz_chance(in, 20) ? fz_u8(in) % 6 : c.cin;
    if (!fz_chance(in, 50)) fh5_attr_f64s(f, "mean", mean, nc);
    if (!fz_chance(in, 50)) fh5_attr_f64s(f, "std", std, nc);
    if (!fz_chance(in, 4)) fh5_attr_f64s(f, "top1", top1, fz_chance(in, 20) ? 2 : 1);
    for (int i = 0; i < net.nstate; i++) {
        if (fz_chance(in, 100)) continue;
        const Tensor *x = net.state[i].t;
        hsize_t d[4] = {(hsize_t)x->n, (hsize_t)x->c, (hsize_t)x->h, (hsize_t)x->w};
        int nd = x->c == 1 && x->h == 1 && x->w == 1
                     ? 1
                     : (strstr(net.state[i].name, "classifier") ? 2 : 4);
        int lazy = 0;
        if (fz_chance(in, 30)) {
            int j = fz_u8(in) % nd;
            d[j] = (hsize_t)fz_i64(in, (long long)d[j] + 1);
            lazy = 1;
        }
        size_t n = lazy ? 0 : tensor_numel(x);
        double *v = calloc(n ? n : 1, sizeof *v);
        for (size_t k = 0; k < n && k < 8; k++) v[k] = fz_f64(in, 0.01 * (double)k);
        t = fz_type(in, H5T_NATIVE_FLOAT);
        fh5_dataset(f, net.state[i].name, t, nd, d, v, n, lazy);
        fz_type_close(t);
        free(v);
    }
    effnet_free(BE, &net);
    fh5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    if (!BE) BE = backend_cpu();
    FuzzIn in = {data, size, 0};
    char path[300];
    fuzz_path(path, sizeof path, "teacher.h5");
    unlink(path);
    write_file(&in, path);
    fuzz_call(load, path);
    return 0;
}
