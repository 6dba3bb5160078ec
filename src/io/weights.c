// Named weights in HDF5 (see weights.h).
#include "io/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5.h"

static int ends_with(const char *s, const char *t) {
    size_t a = strlen(s), b = strlen(t);
    return a >= b && !strcmp(s + a - b, t);
}

// PyTorch's rank of a state tensor: vectors 1-D, linear layers' weights 2-D (the
// classifier; a ViT's qkv, proj, fc1, fc2 and output projection), a ViT's positional
// embedding 3-D [1, T, D], convolutions 4-D.
static int torch_dims(const NamedTensor *nt, long dims[4]) {
    static const char *const LINEAR[] = {"classifier.weight", ".qkv.weight", ".proj.weight",
                                         ".fc1.weight",       ".fc2.weight", ".out.weight"};
    const Tensor *t = nt->t;
    if (t->c == 1 && t->h == 1 && t->w == 1) {
        dims[0] = t->n;
        return 1;
    }
    if (ends_with(nt->name, "pos_embed")) {
        dims[0] = t->n, dims[1] = t->c, dims[2] = t->h * t->w;
        return 3;
    }
    dims[0] = t->n, dims[1] = t->c, dims[2] = t->h, dims[3] = t->w;
    for (size_t i = 0; i < sizeof LINEAR / sizeof *LINEAR; i++)
        if (ends_with(nt->name, LINEAR[i])) return 2;
    return 4;
}

static void shape_str(const long *d, int nd, char *buf, size_t n) {
    size_t l = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd; i++) l += (size_t)snprintf(buf + l, n - l, "%s%ld", i ? "," : "", d[i]);
    snprintf(buf + l, n - l, "]");
}

void weights_write(hid_t f, const char *path, const Backend *be, const NamedTensor *st, int n) {
    for (int i = 0; i < n; i++) {
        long dims[4];
        int nd = torch_dims(&st[i], dims);
        float *h = dna_malloc(sizeof(float) * tensor_numel(st[i].t));
        tensor_download(be, st[i].t, h);
        h5_write(f, st[i].name, H5T_NATIVE_FLOAT, h, nd, dims, path);
        free(h);
    }
}

void weights_read(hid_t f, const char *path, const Backend *be, NamedTensor *st, int n) {
    for (int i = 0; i < n; i++) {
        long want[4], got[8];
        int nd = torch_dims(&st[i], want), gnd;
        DNA_CHECK(h5_has(f, st[i].name),
                  "the weights belong to another architecture: check the config's [teacher] section "
                  "against the file",
                  "'%s' has no tensor '%s'", path, st[i].name);
        h5_count(f, path, st[i].name, &gnd,
                 got);  // the shape first: then nothing unexpected is read
        int same = gnd == nd;
        for (int d = 0; same && d < nd; d++) same = got[d] == want[d];
        char ws[64], gs[64];
        shape_str(want, nd, ws, sizeof ws);
        shape_str(got, gnd, gs, sizeof gs);
        DNA_CHECK(same, "the weights belong to another architecture: check the architecture",
                  "'%s': tensor '%s' has shape %s, expected %s", path, st[i].name, gs, ws);
        float *h = h5_read_f32(f, path, st[i].name, NULL, NULL, NULL);
        tensor_upload(be, st[i].t, h);
        free(h);
    }
}
