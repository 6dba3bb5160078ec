// teacher.h5 files (see teacher.h).
#include "io/teacher.h"

#include <stdlib.h>

#include "io/weights.h"

void teacher_save(const Teacher *t, const Backend *be, const H5Prov *prov, const char *path) {
    char tmp[1024];
    hid_t f = h5_create_tmp(path, tmp);
    h5_attr_prov(f, prov, tmp);
    char *arch = effnet_cfg_to_json(&t->net.cfg);
    h5_attr_str(f, "arch", arch, tmp);
    free(arch);
    h5_attr_i64(f, "in_hw", t->in_hw, tmp);
    h5_attr_f64(f, "mean", t->mean, t->net.cfg.cin, tmp);
    h5_attr_f64(f, "std", t->std, t->net.cfg.cin, tmp);
    h5_attr_f64(f, "top1", &t->top1, 1, tmp);
    weights_write(f, tmp, be, t->net.state, t->net.nstate);
    h5_commit(f, tmp, path);
}

void teacher_load(const Backend *be, const char *path, Teacher *t) {
    hid_t f = h5_open_read(path);
    char *arch = h5_read_attr_str(f, "arch", path), err[256];
    EffNetCfg c;
    DNA_CHECK(
        effnet_cfg_from_json(arch, &c, err, sizeof err) == 0,
        "the file is not a teacher written by dna or tools/export_torchvision_efficientnet.py",
        "'%s': %s", path, err);
    free(arch);
    long long in_hw = h5_read_attr_i64(f, "in_hw", path);
    DNA_CHECK(in_hw >= 1 && in_hw <= TEACHER_MAX_HW && c.cin <= 4, "regenerate the teacher file",
              "'%s': input %lldx%lld with %d channels is not supported (at most %dx%d, 4 "
              "channels)",
              path, in_hw, in_hw, c.cin, TEACHER_MAX_HW, TEACHER_MAX_HW);
    *t = (Teacher){.in_hw = (int)in_hw, .top1 = -1};
    h5_read_attr_f64(f, "mean", t->mean, c.cin, path);
    h5_read_attr_f64(f, "std", t->std, c.cin, path);
    if (h5_has_attr(f, "top1")) h5_read_attr_f64(f, "top1", &t->top1, 1, path);
    Rng rng = rng_new(0);  // every tensor is overwritten by the file
    effnet_init(be, &t->net, &c, t->in_hw, &rng);
    weights_read(f, path, be, t->net.state, t->net.nstate);
    h5_close(f);
}

void teacher_free(const Backend *be, Teacher *t) {
    effnet_free(be, &t->net);
}
