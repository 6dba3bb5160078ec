// Config: defaults, file, overrides, strict keys, dump/hash, and that inputs/fashion_mnist.cfg
// spells out exactly the built-in defaults (its header says so).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "harness.h"

static char *dump(const Config *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    config_dump(c, f);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(config_default_file_equals_builtin_defaults) {
    Config a, b;
    config_load(&a, NULL, NULL, 0);
    config_load(&b, "inputs/fashion_mnist.cfg", NULL, 0);
    char *da = dump(&a), *db = dump(&b);
    T_CHECK(!strcmp(da, db), "inputs/fashion_mnist.cfg differs from the defaults:\n%s\nvs\n%s", db,
            da);
    free(da), free(db);
}

TEST(config_file_and_overrides) {
    char path[] = "/tmp/dna_cfg_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, "; comment\n[run]\nname = x\nseed = 7\n[teacher]\nlr = 0.5\nstages = ir_r1_k3_c8\n");
    char o1[] = "teacher.lr=0.25", o2[] = "data.flip=0", *over[] = {o1, o2};
    Config c;
    config_load(&c, path, over, 2);
    T_CHECK(!strcmp(c.run.name, "x") && c.run.seed == 7, "file values");
    T_NEAR(c.teacher.fit.lr, 0.25, 0, 0, "override wins over the file");
    T_CHECK(c.data.flip == 0 && c.teacher.fit.epochs == 12, "override + default");
    T_CHECK(!strcmp(c.teacher.stages, "ir_r1_k3_c8"), "string value");
    char h1[17], h2[17];
    config_hash(&c, h1);
    c.teacher.fit.lr = 0.125;
    config_hash(&c, h2);
    T_CHECK(strcmp(h1, h2) != 0 && strlen(h1) == 16, "hash follows the values");
    snprintf(c.run.name, sizeof c.run.name, "elsewhere");
    char h3[17];
    config_hash(&c, h3);
    T_CHECK(!strcmp(h2, h3), "the run's name is not part of the hash");
    unlink(path);
}

static void load_text(void *arg) {
    char path[] = "/tmp/dna_cfg_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, arg);
    Config c;
    config_load(&c, path, NULL, 0);
}

static void load_override(void *arg) {
    char *over[] = {arg};
    Config c;
    config_load(&c, NULL, over, 1);
}

TEST(config_errors_name_the_key) {
    T_EXPECT_DEATH(load_text, "[teacher]\nepochz = 3\n", "unknown key 'epochz' in [teacher]");
    T_EXPECT_DEATH(load_text, "[teachr]\nepochs = 3\n", "unknown section [teachr]");
    T_EXPECT_DEATH(load_text, "[teacher]\nepochs = 3.5\n", "teacher.epochs = '3.5' is not an integer");
    T_EXPECT_DEATH(load_text, "epochs = 3\n", "outside any section");
    T_EXPECT_DEATH(load_text, "[teacher\nepochs = 3\n",
                   ":1: '[teacher' is a malformed [section] line");
    T_EXPECT_DEATH(load_text, "[teacher]\nepochs\n", "syntax error");
    T_EXPECT_DEATH(load_override, "teacher.optimizer=adam", "expected one of sgd|rmsprop");
    T_EXPECT_DEATH(load_override, "lr=0.1", "write overrides as section.key=value");
    T_EXPECT_DEATH(load_override, "teacher.lr=", "is not a number");
}

// Lines of any length (libinih stopped at 200 bytes with a bare "syntax error"; a deep
// teacher's stages line is longer), and the rest of the syntax the reader accepts. A value is
// still capped at CFG_STR - 1 characters, and messages name the file's line.
TEST(config_long_lines_and_syntax) {
    char stages[CFG_STR], text[4 * CFG_STR];
    stages[0] = 0;
    for (int i = 0; i < 15; i++)  // 15 x 27 characters: a 420-character line
        strcat(stages, i ? " ir_r4_k5_s2_e6_c384_se0.25" : "ir_r4_k5_s2_e6_c384_se0.25");
    snprintf(
        text, sizeof text,
        "\xEF\xBB\xBF; a comment\n# another\n\n  [teacher]  \n  stages = %s\nlr: 0.5 ; inline\n"
        "[run]\nname = a;b\n",
        stages);
    char path[] = "/tmp/dna_cfg_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_file(path, text);
    Config c;
    config_load(&c, path, NULL, 0);
    T_CHECK(!strcmp(c.teacher.stages, stages), "a %zu-character line: got '%s'", strlen(stages),
            c.teacher.stages);
    T_NEAR(c.teacher.fit.lr, 0.5, 0, 0, "key: value with an inline comment");
    T_CHECK(!strcmp(c.run.name, "a;b"), "';' without a space before it is part of the value");
    unlink(path);
    // imagenet_b7.cfg's longest line (197 characters) and a value past CFG_STR.
    Config b7;
    config_load(&b7, "inputs/imagenet_b7.cfg", NULL, 0);
    T_CHECK(strlen(b7.teacher.stages) > 150, "imagenet_b7.cfg's stages");
    char *huge = malloc(3 * CFG_STR);
    snprintf(huge, 3 * CFG_STR, "[teacher]\nlr = 0.1\nstages = %s %s\n", stages, stages);
    T_EXPECT_DEATH(load_text, huge, ":3 [teacher]: teacher.stages is longer than 511 characters");
    free(huge);
    T_EXPECT_DEATH(load_text, "[teacher]\nlr = 0.1\nepochz = 3\n",
                   ":3 [teacher]: unknown key 'epochz'");
}

// [run] strict_determinism: 0 or 1, default 0, and not hashed (it changes no result that
// completes: it only turns the CUDA backend's nondeterminism warning into an error).
TEST(config_strict_determinism) {
    Config c;
    config_load(&c, NULL, NULL, 0);
    T_CHECK(c.run.strict_determinism == 0, "default 0");
    char h0[17], h1[17];
    config_hash(&c, h0);
    char o[] = "run.strict_determinism=1", *over[] = {o};
    config_load(&c, NULL, over, 1);
    config_hash(&c, h1);
    T_CHECK(c.run.strict_determinism == 1 && !strcmp(h0, h1), "1, same hash (%s, %s)", h0, h1);
    T_EXPECT_DEATH(load_override, "run.strict_determinism=2",
                   "run.strict_determinism = '2'; expected one of 0|1");
    T_EXPECT_DEATH(load_override, "run.strict_determinism=yes", "is not an integer");
}

// Each kind of space dumps (and hashes) its own [space] keys only: an MBConv config's dump is
// what it was before the ViT keys existed; a ViT config's has no MBConv keys.
TEST(config_space_kind_keys) {
    Config a, b;
    config_load(&a, NULL, NULL, 0);
    config_load(&b, "inputs/fashion_mnist_vit.cfg", NULL, 0);
    char *da = dump(&a), *db = dump(&b);
    const char *vit_keys[] = {"\nkind = ", "\ndims = ", "\nmlp_ratios = ", "\ndepths = ",
                              "\nhead_dim = "};
    // (stem is left out: [teacher] has a key of that name too)
    const char *mb_keys[] = {"\nops = ", "\nse = ", "\nblock1 = ", "\nblock8 = "};
    for (int i = 0; i < 5; i++) {
        T_CHECK(!strstr(da, vit_keys[i]), "an MBConv config dumps '%s'", vit_keys[i] + 1);
        T_CHECK(strstr(db, vit_keys[i]), "a ViT config does not dump '%s'", vit_keys[i] + 1);
    }
    for (int i = 0; i < 4; i++) {
        T_CHECK(strstr(da, mb_keys[i]), "an MBConv config does not dump '%s'", mb_keys[i] + 1);
        T_CHECK(!strstr(db, mb_keys[i]), "a ViT config dumps '%s'", mb_keys[i] + 1);
    }
    T_CHECK(strstr(db, "\nkind = vit\n") && strstr(db, "\ndims = 32 48 64\n"),
            "the ViT config's dump:\n%s", db);
    free(da), free(db);
}
