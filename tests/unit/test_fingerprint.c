// Fingerprints: the keys of a stage's sections, the diff that names changed keys (old -> new,
// added, gone, empty values), and the round trip through each kind of output (HDF5
// attributes, JSON fields, marker text, a CSV's sidecar).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "harness.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/h5.h"

TEST(fingerprint_keys_of_sections) {
    Config cfg;
    char *over[] = {"teacher.lr=0.05", "train.lr=0.3"};
    config_load(&cfg, NULL, over, 2);
    char *keys = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&keys, &n);
    config_keys(&cfg, "data teacher", f);
    fclose(f);
    T_CHECK(strstr(keys, "run.seed = ") == keys, "seed first: %.40s", keys);
    T_CHECK(strstr(keys, "\nteacher.lr = 0.05\n"), "shortest decimal of lr");
    T_CHECK(strstr(keys, "\ndata.classes = "), "[data] keys");
    T_CHECK(!strstr(keys, "train.lr"), "[train] not asked for");
    T_CHECK(!strstr(keys, "ckpt_minutes") && !strstr(keys, "run.name"), "no operational keys");
    free(keys);
}

// bench.seeds is part of a bench's keys only above 1 (a one-seed bench hashes as before the
// key existed), and the per-seed files leave it out at any value
TEST(fingerprint_bench_seeds) {
    Config cfg;
    char *over[] = {"bench.seeds=3"};
    char *keys[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        config_load(&cfg, NULL, over, i);
        size_t n = 0;
        FILE *f = open_memstream(&keys[i], &n);
        config_keys(&cfg, "data bench", f);
        fclose(f);
    }
    T_CHECK(!strstr(keys[0], "seeds") && strstr(keys[1], "\nbench.seeds = 3\n"),
            "default: no line; 3: a line");
    Fingerprint a, b, c;
    fp_make(&a, keys[0]);
    fp_make_without(&b, keys[1], "bench.seeds");
    fp_make_without(&c, "a = 1\nbench.seeds = 2\nbench.seedsx = 3\nbench.seeds\n", "bench.seeds");
    T_CHECK(!strcmp(a.hex, b.hex) && !strcmp(a.keys, b.keys), "without the line: the default's");
    T_CHECK(!strcmp(c.keys, "a = 1\nbench.seedsx = 3\nbench.seeds\n"), "only that key: %s", c.keys);
    fp_free(&a), fp_free(&b), fp_free(&c);
    free(keys[0]), free(keys[1]);
}

TEST(fingerprint_diff_names_changed_keys) {
    char buf[512];
    fp_diff("a.x = 1\nb.y = \ninput t.h5 = 00ff\ngone.k = 3\n",
            "a.x = 2\nb.y = \ninput t.h5 = 11ee\nnew.k = 4\n", buf, sizeof buf);
    T_CHECK(strstr(buf, "a.x 1 -> 2"), "%s", buf);
    T_CHECK(strstr(buf, "input t.h5 00ff -> 11ee"), "%s", buf);
    T_CHECK(strstr(buf, "new.k (new) -> 4"), "%s", buf);
    T_CHECK(strstr(buf, "gone.k 3 -> (gone)"), "%s", buf);
    T_CHECK(!strstr(buf, "b.y"), "an empty value that did not change is not named: %s", buf);
    fp_diff("a.x = 1\n", "a.x = 1\n", buf, sizeof buf);
    T_CHECK(buf[0] == 0, "same keys: no difference, got '%s'", buf);
    fp_diff("b.y = \n", "b.y = v\n", buf, sizeof buf);
    T_CHECK(!strcmp(buf, "b.y  -> v"), "empty to a value: '%s'", buf);
}

TEST(fingerprint_round_trip_every_kind) {
    Fingerprint fp, got;
    fp_make(&fp, "a.x = 1\nb.y = two words\n");
    T_CHECK(strlen(fp.hex) == 16, "16 hex digits: %s", fp.hex);
    char dir[] = "/tmp/dna_fp_XXXXXX", path[256];
    T_CHECK(mkdtemp(dir), "mkdtemp");
    // HDF5: root attributes through the provenance
    snprintf(path, sizeof path, "%s/out.h5", dir);
    char tmp[1024];
    hid_t f = h5_create_tmp(path, tmp);
    H5Prov p = {.format = 1, .fingerprint = fp.hex, .fingerprint_keys = fp.keys};
    h5_attr_prov(f, &p, tmp);
    h5_commit(f, tmp, path);
    T_CHECK(fp_read(path, &got) && !strcmp(got.hex, fp.hex) && !strcmp(got.keys, fp.keys), "h5: %s",
            got.hex);
    fp_free(&got);
    // JSON: top-level fields, and arch.json's provenance object
    snprintf(path, sizeof path, "%s/out.json", dir);
    TextOut out;
    FILE *j = textout_open(&out, path);
    fprintf(j, "{\n");
    fp_write_json_fields(j, fp.hex, fp.keys, "  ");
    fprintf(j, "  \"x\": 1\n}\n");
    textout_commit(&out);
    T_CHECK(fp_read(path, &got) && !strcmp(got.keys, fp.keys), "json: %s", got.hex);
    fp_free(&got);
    snprintf(path, sizeof path, "%s/arch.json", dir);
    j = textout_open(&out, path);
    fprintf(j, "{\"provenance\": {\"fingerprint\": \"%s\", \"fingerprint_keys\": \"a.x = 1\\n\"}}",
            fp.hex);
    textout_commit(&out);
    T_CHECK(fp_read(path, &got) && !strcmp(got.keys, "a.x = 1\n"), "arch.json provenance");
    fp_free(&got);
    // a marker, and a CSV's sidecar; a file without one reads as none
    snprintf(path, sizeof path, "%s/COMPLETE", dir);
    fp_write_text(textout_open(&out, path), fp.hex, fp.keys, "ranks 2");
    textout_commit(&out);
    T_CHECK(fp_read(path, &got) && !strcmp(got.keys, fp.keys), "marker");
    fp_free(&got);
    char csv[256], side[300], hex[17];
    snprintf(csv, sizeof csv, "%s/s.csv", dir);
    fprintf(textout_open(&out, csv), "id,score\n");
    textout_commit(&out);
    fp_read_hex(csv, hex);
    T_CHECK(!strcmp(hex, "none"), "a CSV without its sidecar: %s", hex);
    fp_sidecar_path(csv, side, sizeof side);
    fp_write_text(textout_open(&out, side), fp.hex, fp.keys, NULL);
    textout_commit(&out);
    fp_read_hex(csv, hex);
    T_CHECK(!strcmp(hex, fp.hex), "CSV sidecar: %s", hex);
    remove_tree(dir);
    T_CHECK(!file_exists(dir), "remove_tree removed %s", dir);
    fp_free(&fp);
}
