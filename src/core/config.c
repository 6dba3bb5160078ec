// Config: the schema table, INI parsing (our own reader: lines of any length), overrides,
// dump and hash.
#include "core/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"

typedef enum { CK_INT, CK_F64, CK_STR } CfgKind;

typedef struct CfgKey {
    const char *section, *key;
    CfgKind kind;
    size_t off;
    const char *def, *choices, *help;  // choices: "a|b|c" or NULL
    int operational;  // how a run is carried out, not what it computes: left out of the hash
    // [space] keys of one kind of space: SPACE_MBCONV or SPACE_VIT (0: every kind). Giving one
    // for the other kind is an error; the other kind's keys are left out of the dump and the
    // hash, so an MBConv config hashes as it did before the ViT space existed.
    int space_kind;
    int ssl_only;  // [ssl] keys: part of a config only in DNA++'s mode (train.mode = ssl)
} CfgKey;

enum { SPACE_ANY = 0, SPACE_MBCONV, SPACE_VIT };

#define K(sec, field, key, kind, def, choices, help) \
    { #sec, key, kind, offsetof(Config, sec.field), def, choices, help, 0, SPACE_ANY, 0 }
#define K_OP(sec, field, key, kind, def, choices, help) \
    { #sec, key, kind, offsetof(Config, sec.field), def, choices, help, 1, SPACE_ANY, 0 }
#define K_MB(field, key, kind, def, help) \
    { "space", key, kind, offsetof(Config, space.field), def, NULL, help, 0, SPACE_MBCONV, 0 }
#define K_VIT(field, key, kind, def, choices, help) \
    { "space", key, kind, offsetof(Config, space.field), def, choices, help, 0, SPACE_VIT, 0 }
#define K_SSL(field, key, kind, def, choices, help) \
    { "ssl", key, kind, offsetof(Config, ssl.field), def, choices, help, 0, SPACE_ANY, 1 }

// The training-recipe keys of [teacher], [retrain], [bench] and [spos] (all but dropout,
// which sits with the architecture keys); only the epoch count's default and help differ.
#define RECIPE_KEYS(sec, ndef, nhelp)                                                              \
    K(sec, fit.epochs, "epochs", CK_INT, ndef, NULL, nhelp),                                       \
        K(sec, fit.batch, "batch", CK_INT, "128", NULL, "global batch size (split over ranks)"),   \
        K(sec, fit.eval_batch, "eval_batch", CK_INT, "500", NULL, "batch size for evaluation"),    \
        K(sec, fit.optimizer, "optimizer", CK_STR, "sgd", "sgd|rmsprop|adamw",                     \
          "optimizer (adamw: decoupled weight decay, betas 0.9/0.999, eps 1e-8; for ViTs)"),       \
        K(sec, fit.lr, "lr", CK_F64, "0.1", NULL, "peak learning rate"),                           \
        K(sec, fit.momentum, "momentum", CK_F64, "0.9", NULL,                                      \
          "SGD (Nesterov) / RMSprop momentum"),                                                    \
        K(sec, fit.weight_decay, "weight_decay", CK_F64, "5e-5", NULL,                             \
          "on conv/linear weights only"),                                                          \
        K(sec, fit.label_smoothing, "label_smoothing", CK_F64, "0.1", NULL,                        \
          "cross-entropy smoothing"),                                                              \
        K(sec, fit.schedule, "schedule", CK_STR, "cosine", "cosine|step",                          \
          "learning-rate schedule"),                                                               \
        K(sec, fit.warmup_epochs, "warmup_epochs", CK_F64, "0.3", NULL,                            \
          "linear warm-up (epochs)"),                                                              \
        K(sec, fit.step_epochs, "step_epochs", CK_INT, "2", NULL,                                  \
          "step schedule: epochs per step"),                                                       \
        K(sec, fit.step_gamma, "step_gamma", CK_F64, "0.97", NULL,                                 \
          "step schedule: factor per step"),                                                       \
        K(sec, fit.rmsprop_alpha, "rmsprop_alpha", CK_F64, "0.9", NULL, "RMSprop decay"),          \
        K(sec, fit.rmsprop_eps, "rmsprop_eps", CK_F64, "1e-3", NULL, "RMSprop epsilon"),           \
        K(sec, fit.ema, "ema", CK_F64, "0", NULL,                                                  \
          "decay of an EMA of the weights and BN statistics, evaluated and saved (0 = off; e.g. "  \
          "0.999)"),                                                                               \
        K(sec, fit.drop_connect, "drop_connect", CK_F64, "0", NULL,                                \
          "drop-connect (stochastic depth) of residual layers, rising linearly to this rate (0 = " \
          "off)")

static const CfgKey KEYS[] = {
    K(run, name, "name", CK_STR, "fashion_mnist", NULL, "run name: outputs go to out_dir/name"),
    K(run, out_dir, "out_dir", CK_STR, "outputs", NULL, "directory holding the runs"),
    K(run, seed, "seed", CK_INT, "0", NULL, "root seed of every random stream"),
    K(run, backend, "backend", CK_STR, "auto", "auto|cpu|cuda",
      "where tensors live: auto = cuda when built with CUDA=1 and a GPU is visible, else cpu; "
      "--backend overrides"),
    K_OP(run, ckpt_minutes, "ckpt_minutes", CK_F64, "10", NULL,
         "training loops checkpoint at least this often (minutes) and at every epoch's end"),
    K_OP(run, metrics_every, "metrics_every", CK_INT, "50", NULL,
         "training loops add a line to log/<stage>.jsonl every N steps (0: at epoch ends only)"),
    K_OP(run, strict_determinism, "strict_determinism", CK_INT, "0", "0|1",
         "1: GPU convolutions take deterministic cuDNN algorithms only (beyond the workspace "
         "limit if need be) and a shape without one is an error, not a warning (the CPU backend "
         "is deterministic by construction)"),

    K(data, source, "source", CK_STR, "idx", "idx|cifar10|hdf5", "dataset format"),
    K(data, path, "path", CK_STR, "/usr/share/datasets/fashion-mnist", NULL,
      "idx/cifar10: directory of the files; hdf5: the file (doc/formats.md)"),
    K(data, classes, "classes", CK_INT, "10", NULL, "number of classes"),
    K(data, channels, "channels", CK_INT, "1", NULL, "image channels (checked on import)"),
    K(data, image_size, "image_size", CK_INT, "28", NULL,
      "image height = width (checked on import)"),
    K(data, train_size, "train_size", CK_INT, "60000", NULL,
      "training images before limit_train (checked on import; `dna plan` uses it)"),
    K(data, limit_train, "limit_train", CK_INT, "0", NULL,
      "keep only the first N train images (0 = all): quick and test runs"),
    K(data, limit_test, "limit_test", CK_INT, "0", NULL,
      "keep only the first N test images (0 = all)"),
    K(data, search_per_class, "search_per_class", CK_INT, "500", NULL,
      "held-out search-split images per class, taken from train"),
    K(data, pad, "pad", CK_INT, "2", NULL, "zero padding per side after normalisation (28 -> 32)"),
    K(data, crop_pad, "crop_pad", CK_INT, "0", NULL, "random-crop augmentation padding (0 = off)"),
    K(data, flip, "flip", CK_INT, "1", "0|1", "random horizontal flip augmentation"),

    K(teacher, import, "import", CK_STR, "", NULL,
      "teacher.h5 to import instead of training (tools/export_torchvision_efficientnet.py)"),
    K(teacher, stem, "stem", CK_INT, "16", NULL, "stem width (3x3 conv)"),
    K(teacher, stem_stride, "stem_stride", CK_INT, "2", NULL, "stem stride"),
    K(teacher, stages, "stages", CK_STR,
      "ir_r1_k3_s1_e1_c16_se0.25 ir_r2_k3_s2_e3_c24_se0.25 ir_r2_k3_s2_e3_c48_se0.25 "
      "ir_r1_k3_s1_e3_c64_se0.25",
      NULL, "MBConv stages as timm arch_def strings"),
    K(teacher, blocks, "blocks", CK_STR, "1 2 3", NULL,
      "block boundaries: the stage index (0-based) each student block ends at"),
    K(teacher, head, "head", CK_INT, "128", NULL, "head 1x1 conv width"),
    K(teacher, fit.dropout, "dropout", CK_F64, "0.1", NULL, "dropout before the classifier"),
    K(teacher, bn_eps, "bn_eps", CK_F64, "1e-5", NULL, "batch-norm epsilon"),
    K(teacher, bn_momentum, "bn_momentum", CK_F64, "0.1", NULL, "batch-norm momentum"),
    RECIPE_KEYS(teacher, "12", "training epochs"),

    K(features, dtype, "dtype", CK_STR, "float16", "float16|float32", "feature shard storage"),
    K(features, chunk, "chunk", CK_INT, "64", NULL, "samples per HDF5 chunk (unit of shuffling)"),
    K(features, shard_samples, "shard_samples", CK_INT, "16384", NULL, "samples per shard file"),
    K(features, deflate, "deflate", CK_INT, "0", NULL, "deflate level of shards (0 = off)"),
    K(features, batch, "batch", CK_INT, "500", NULL, "teacher batch when extracting features"),

    K_VIT(kind, "kind", CK_STR, "mbconv", "mbconv|vit",
          "mbconv: cells of MBConv layers (ops, se, stem, blockK); vit: one slimmable ViT "
          "supernet per teacher block (dims, mlp_ratios, depths, head_dim), distilled from the "
          "CNN teacher (doc/guide.md, \"The ViT space\")"),
    K_MB(ops, "ops", CK_STR, "e6k3 e6k5 e6k7 e3k3 e3k5 e3k7",
         "candidate MBConv ops of every layer (expansion, kernel)"),
    K_MB(se, "se", CK_F64, "0.25", "SE ratio of every candidate (of the layer input)"),
    K_MB(stem, "stem", CK_INT, "16", "stem width of the block-1 cells (teacher's stride)"),
    K_MB(block[0], "block1", CK_STR, "2x16 3x16 3x24",
         "cells of block 1 as LAYERSxWIDTH; the last layer maps to the teacher's width"),
    K_MB(block[1], "block2", CK_STR, "2x32 3x32 3x48", "cells of block 2"),
    K_MB(block[2], "block3", CK_STR, "2x48 3x48 3x64", "cells of block 3"),
    K_MB(block[3], "block4", CK_STR, "", "cells of block 4 (empty: no such block)"),
    K_MB(block[4], "block5", CK_STR, "", "cells of block 5"),
    K_MB(block[5], "block6", CK_STR, "", "cells of block 6"),
    K_MB(block[6], "block7", CK_STR, "", "cells of block 7"),
    K_MB(block[7], "block8", CK_STR, "", "cells of block 8"),
    K_VIT(dims, "dims", CK_STR, "32 48 64", NULL,
          "ViT: candidate token widths of every block (multiples of head_dim, ascending)"),
    K_VIT(mlp_ratios, "mlp_ratios", CK_STR, "2 3 4", NULL,
          "ViT: candidate MLP ratios (hidden = ratio x width, a whole number; ascending)"),
    K_VIT(depths, "depths", CK_STR, "1 2", NULL,
          "ViT: candidate transformer blocks per search block (ascending, at most 16)"),
    K_VIT(head_dim, "head_dim", CK_INT, "16", NULL,
          "ViT: width of an attention head (heads = width / head_dim, as DS-ViT ties them)"),

    {"train", "mode", CK_STR, offsetof(Config, train.mode), "distill", "distill|ssl",
     "distill: DNA, every (block, cell) job distilled from the stored teacher's maps; ssl: "
     "DNA++, the teacher and every student co-trained self-supervised ([ssl], no labels)",
     0, SPACE_ANY, 0},
    K(train, epochs, "epochs", CK_INT, "1", NULL, "supernet training epochs per (block, cell) job"),
    K(train, batch, "batch", CK_INT, "64", NULL, "supernet training batch per job (global)"),
    K(train, lr_first, "lr_first", CK_F64, "0.002", NULL, "Adam learning rate of block 1 (paper)"),
    K(train, lr, "lr", CK_F64, "0.005", NULL, "Adam learning rate of the other blocks (paper)"),
    K(train, lr_decay, "lr_decay", CK_F64, "0.9", NULL, "learning-rate factor per epoch"),
    K(train, weight_decay, "weight_decay", CK_F64, "1e-4", NULL, "on conv/linear weights only"),
    K(train, ckpt_every, "ckpt_every", CK_INT, "200", NULL,
      "checkpoint every N steps (and each epoch)"),
    K(train, window, "window", CK_INT, "8", NULL, "shuffle window of the shard reader (chunks)"),
    K(train, seed, "seed", CK_INT, "-1", NULL,
      "seed of the supernet jobs (weights, path sampling, data order); -1 = run.seed. The "
      "sweep varies it alone, so the teacher and the search split stay the same"),
    K(train, fraction, "fraction", CK_F64, "1", NULL,
      "train on the first fraction (0..1] of the supernet-training split, the total steps "
      "unchanged (the paper's Table 9)"),

    K_SSL(init, "init", CK_STR, "random", "random|teacher",
          "the online teacher starts from random weights (no label is read), or from the "
          "teacher stage's supervised teacher.h5"),
    K_SSL(lambda1, "lambda1", CK_F64, "0.390625", NULL,
          "Eqn 10's distance weight; 25/proj_dim (VICReg's invariance 25 on a mean over "
          "channels, where Eqn 10 sums them)"),
    K_SSL(lambda2, "lambda2", CK_F64, "1", NULL, "Eqn 10's covariance weight (VICReg's 1)"),
    K_SSL(lambda3, "lambda3", CK_F64, "25", NULL, "Eqn 11's variance weight (VICReg's 25)"),
    K_SSL(gamma, "gamma", CK_F64, "1", NULL, "Eqn 11's target std per channel"),
    K_SSL(eps, "eps", CK_F64, "1e-4", NULL, "added to the variance under Eqn 11's root"),
    K_SSL(var_both, "var_both", CK_INT, "1", "0|1",
          "1: the variance hinge on the teacher's Z and each student's Z-hat (VICReg); 0: on Z "
          "only, as Eqn 11 prints it"),
    K_SSL(proj_hidden, "proj_hidden", CK_INT, "256", NULL,
          "projector hidden width (pool, linear, BN, ReLU, linear: BossNAS's)"),
    K_SSL(proj_dim, "proj_dim", CK_INT, "64", NULL, "projector output width C of Eqns 10-11"),
    K_SSL(optimizer, "optimizer", CK_STR, "lars", "lars|adamw",
          "lars: the paper's (VICReg's LARS: momentum, trust eta, no decay or scaling of "
          "biases and BN); adamw: betas 0.9/0.999"),
    K_SSL(lr, "lr", CK_F64, "1", NULL,
          "peak learning rate (cosine schedule after warm-up); LARS moves a weight by about "
          "lr x eta of its norm a step"),
    K_SSL(weight_decay, "weight_decay", CK_F64, "1e-6", NULL, "on conv/linear weights only"),
    K_SSL(momentum, "momentum", CK_F64, "0.9", NULL, "LARS momentum"),
    K_SSL(eta, "eta", CK_F64, "0.001", NULL, "LARS trust coefficient"),
    K_SSL(warmup_epochs, "warmup_epochs", CK_F64, "0.5", NULL, "linear warm-up (epochs)"),
    K_SSL(crop_scale, "crop_scale", CK_STR, "0.2 1", NULL,
          "RandomResizedCrop area fraction range MIN MAX (MoCo v2's CIFAR 0.2, not 0.08)"),
    K_SSL(crop_ratio, "crop_ratio", CK_STR, "0.75 1.3333333333333333", NULL,
          "RandomResizedCrop aspect-ratio range MIN MAX"),
    K_SSL(flip_p, "flip_p", CK_F64, "0.5", NULL, "horizontal flip probability"),
    K_SSL(erase_p, "erase_p", CK_F64, "0.5", NULL,
          "random erasing probability (grayscale has no colour to jitter)"),
    K_SSL(erase_scale, "erase_scale", CK_STR, "0.02 0.33", NULL,
          "random erasing area fraction range MIN MAX"),
    K_SSL(erase_ratio, "erase_ratio", CK_STR, "0.3 3.3", NULL,
          "random erasing aspect-ratio range MIN MAX"),
    K_SSL(noise_std, "noise_std", CK_F64, "0", NULL,
          "std of Gaussian noise added to each view (normalised units; 0 = off)"),

    K(rate, batch, "batch", CK_INT, "250", NULL,
      "search-split batch: Eqn 7's relative L1 is taken per batch, then averaged"),
    K(rate, recal_batch, "recal_batch", CK_INT, "64", NULL,
      "size of the fixed training batch every path's BN statistics are recalibrated on"),
    K(rate, limit, "limit", CK_INT, "0", NULL,
      "rate on the first N search-split images (0 = all): rating time grows with N"),

    K(search, max_params, "max_params", CK_F64, "100000", NULL,
      "parameter budget of the searched network (0 = none); --max-params overrides"),
    K(search, max_macs, "max_macs", CK_F64, "0", NULL,
      "multiply-add budget per image (the paper's FLOPs; 0 = none); --max-macs overrides"),
    K(search, top, "top", CK_INT, "10", NULL, "architectures listed in top.csv; --top overrides"),
    K(search, random, "random", CK_INT, "2", NULL,
      "also draw N random architectures within the budgets and >= 90% of the searched one's "
      "parameters (random_<i>.json), the baseline a search must beat"),
    K(search, predictor, "predictor", CK_STR, "", NULL,
      "predictor.json of fitted block weights (`dna calibrate`) the search scores with: "
      "sum_k w_k s_k; empty: Eqn 4's uniform weights; --predictor overrides"),

    K(retrain, arch, "arch", CK_STR, "", NULL,
      "architecture to retrain (empty: the run's arch.json); --arch overrides"),
    K(retrain, seeds, "seeds", CK_INT, "2", NULL,
      "retrain the searched network (or --arch) with N seeds, 1..16: seed 1 is run.seed's "
      "(retrain.json), seed s >= 2 writes retrain_seed<s>.json/.h5; the report sets the "
      "difference to the random networks (1 seed each) against the spread between the seeds "
      "(1: no spread, the noise is not measured)"),
    K(retrain, fit.dropout, "dropout", CK_F64, "0.1", NULL, "dropout before the classifier"),
    RECIPE_KEYS(retrain, "1", "training epochs"),

    K(bench, n, "n", CK_INT, "30", NULL,
      "architectures sampled across the cost range and trained from scratch (`dna bench`)"),
    K(bench, train_images, "train_images", CK_INT, "0", NULL,
      "train each on a seeded subset of this many training images (0: all)"),
    K(bench, seeds, "seeds", CK_INT, "1", NULL,
      "train each architecture with N seeds, 1..16; its truth is the mean over them. Seed 1 "
      "is run.seed's (bench/result_<id>.json), seed s >= 2 writes result_<id>_seed<s>.json; "
      "raising it trains only the new seeds. With N >= 2 the bench reports the seed spread "
      "against the spread between networks"),
    K(bench, fit.dropout, "dropout", CK_F64, "0.1", NULL, "dropout before the classifier"),
    RECIPE_KEYS(bench, "1", "training epochs"),

    K(spos, fit.dropout, "dropout", CK_F64, "0.1", NULL, "dropout before the classifier"),
    RECIPE_KEYS(spos, "0", "training epochs (0: as many as [train] epochs, the DNA supernet's)"),

    K(plus, generations, "generations", CK_INT, "1", NULL,
      "DNA+ generations `dna run` and `dna plus` run, 1..16 (1: plain DNA); generation m >= 2 "
      "retrains generation m-1's searched network, scaled, as its teacher, in <run>/gen<m>/"),
    K_OP(plus, generation, "generation", CK_INT, "1", NULL,
         "the generation a single stage command works on (`dna train CFG plus.generation=2`)"),
    K(plus, phi, "phi", CK_F64, "1", NULL,
      "compound-scaling coefficient per generation: depth alpha^phi, width beta^phi"),
    K(plus, alpha, "alpha", CK_F64, "1.2", NULL, "depth base of the compound scaling"),
    K(plus, beta, "beta", CK_F64, "1.1", NULL, "width base of the compound scaling"),
    K(plus, width, "width", CK_STR, "", NULL,
      "width multipliers instead of beta^phi: one for every generation, or one per generation "
      "2..G"),
    K(plus, depth, "depth", CK_STR, "", NULL,
      "depth multipliers instead of alpha^phi: one, or one per generation 2..G"),
    K(plus, stop, "stop", CK_STR, "none", "none|top1|tau",
      "end early: top1 = after a generation whose retrained top-1 gains less than min_gain "
      "points on the previous one; tau = after one whose path ratings agree with the previous "
      "generation's at Kendall tau >= max_tau (mean over blocks)"),
    K(plus, min_gain, "min_gain", CK_F64, "0", NULL,
      "stop = top1: the gain in points a generation must make"),
    K(plus, max_tau, "max_tau", CK_F64, "0.9", NULL,
      "stop = tau: the agreement that counts as a plateau"),
    K(plus, teacher_resolution, "teacher_resolution", CK_STR, "student", "student|scaled",
      "the input size the scaled teachers train at: the students' (the paper distilled at the "
      "students' size); scaled is not implemented"),
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))
_Static_assert(sizeof KEYS / sizeof KEYS[0] <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

int config_ssl(const Config *cfg) {
    return !strcmp(cfg->train.mode, "ssl");
}

static int space_kind(const Config *cfg) {
    return strcmp(cfg->space.kind, "vit") ? SPACE_MBCONV : SPACE_VIT;
}

// A key added after runs existed that changes what they would compute only away from its
// default: part of the config (dump, hash, fingerprints) only there, so those runs' outputs
// stay valid.
static int late_key(const CfgKey *k) {
    return !strcmp(k->section, "bench") && !strcmp(k->key, "seeds");
}

// Whether key k is part of what this config describes: [space] keys of the other kind of
// space are not (and space.kind itself only when it is not the default, mbconv).
static int key_applies(const Config *cfg, const CfgKey *k) {
    if (k->ssl_only) return config_ssl(cfg);
    // train.mode too, only in DNA++'s mode: a distillation config hashes as before it existed
    if (!strcmp(k->section, "train") && !strcmp(k->key, "mode")) return config_ssl(cfg);
    // bench.seeds only when above 1: a one-seed bench hashes as before the key existed, so its
    // results stay valid (the bench's result files leave it out at any value)
    if (late_key(k)) return cfg->bench.seeds != 1;
    if (k->space_kind == SPACE_ANY) return 1;
    if (!strcmp(k->key, "kind")) return space_kind(cfg) == SPACE_VIT;
    return k->space_kind == space_kind(cfg);
}

static int has_word(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

static const CfgKey *find(const char *section, const char *key) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].key, key)) return &KEYS[i];
    return NULL;
}

static int known_section(const char *section) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].section, section)) return 1;
    return 0;
}

static void list_keys(const char *section, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].section, section)) {
            size_t l = strlen(buf);
            snprintf(buf + l, n - l, "%s%s", l ? ", " : "", KEYS[i].key);
        }
}

// Sets one key; `where` names the file:line or the override for the message.
static void set_key(Config *cfg, const char *section, const char *key, const char *value,
                    const char *where) {
    const CfgKey *k = find(section, key);
    if (!k) {
        char known[1024];
        if (!known_section(section)) {
            char secs[256] = "";
            for (int i = 0; i < NKEYS; i++)
                if (!strstr(secs, KEYS[i].section)) {
                    size_t l = strlen(secs);
                    snprintf(secs + l, sizeof secs - l, "%s[%s]", l ? " " : "", KEYS[i].section);
                }
            DNA_FAIL("use one of the sections", "%s: unknown section [%s]; sections: %s", where,
                     section, secs);
        }
        list_keys(section, known, sizeof known);
        DNA_FAIL("fix the spelling (`dna help config` lists every key)",
                 "%s: unknown key '%s' in [%s]; known keys: %s", where, key, section, known);
    }
    if (strcmp(where, "default")) cfg->given[k - KEYS] = 1;
    char *dst = (char *)cfg + k->off, *end;
    errno = 0;
    switch (k->kind) {
        case CK_INT: {
            long v = strtol(value, &end, 10);
            DNA_CHECK(*value && !*end && !errno, "give an integer",
                      "%s: %s.%s = '%s' is not an integer", where, section, key, value);
            *(long *)dst = v;
            break;
        }
        case CK_F64: {
            double v = strtod(value, &end);
            DNA_CHECK(*value && !*end && !errno, "give a number",
                      "%s: %s.%s = '%s' is not a number", where, section, key, value);
            *(double *)dst = v;
            break;
        }
        case CK_STR:
            DNA_CHECK(strlen(value) < CFG_STR, "shorten it",
                      "%s: %s.%s is longer than %d characters", where, section, key, CFG_STR - 1);
            snprintf(dst, CFG_STR, "%s", value);
            break;
    }
    if (k->choices) {
        char buf[128];
        snprintf(buf, sizeof buf, "|%s|", k->choices);
        char want[CFG_STR + 2];
        snprintf(want, sizeof want, "|%s|", value);
        DNA_CHECK(strstr(buf, want), "use one of the listed values",
                  "%s: %s.%s = '%s'; expected one of %s", where, section, key, value, k->choices);
    }
}

// One line of an INI file, trimmed in place: "[section]", "key = value" (or "key: value"),
// a comment (";" or "#" first, or " ;" inline), or blank. Lines of any length: getline.
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

static void strip_inline_comment(char *s) {
    for (char *p = s; *p; p++)
        if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = 0;
            return;
        }
}

// Our own reader, not libinih: its line buffer is a build-time constant (200 bytes in
// Debian's build), and a longer line, such as a deep teacher's stages, read as a bare syntax
// error. Here a line may be as long as it likes; a value is still capped at CFG_STR - 1.
static void parse_file(Config *cfg, const char *path, FILE *f) {
    char *buf = NULL, section[CFG_STR] = "", where[CFG_STR + 64];
    size_t cap = 0;
    int lineno = 0;
    for (ssize_t len; (len = getline(&buf, &cap, f)) >= 0;) {
        lineno++;
        char *line = buf;
        if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) line += 3;  // UTF-8 BOM
        line = trim(line);
        if (!*line || *line == ';' || *line == '#') continue;
        if (*line == '[') {
            char *end = strchr(line, ']');
            DNA_CHECK(end && !end[1 + strspn(end + 1, " \t")] &&
                          end - line - 1 < (ptrdiff_t)sizeof section,
                      "write a section line as [name]", "%s:%d: '%s' is a malformed [section] line",
                      path, lineno, line);
            *end = 0;
            snprintf(section, sizeof section, "%s", trim(line + 1));
            continue;
        }
        strip_inline_comment(line);
        char *eq = strpbrk(line, "=:");
        DNA_CHECK(eq, "fix the syntax: [section] lines and key = value lines",
                  "%s:%d: syntax error: '%s' is neither [section] nor key = value", path, lineno,
                  line);
        *eq = 0;
        char *key = trim(line), *value = trim(eq + 1);
        snprintf(where, sizeof where, "%s:%d [%s]", path, lineno, section);
        DNA_CHECK(section[0], "put every key under a [section]",
                  "%s:%d: key '%s' outside any section", path, lineno, key);
        set_key(cfg, section, key, value, where);
    }
    free(buf);
}

void config_load(Config *cfg, const char *path, char **overrides, int noverrides) {
    *cfg = (Config){0};
    for (int i = 0; i < NKEYS; i++)
        set_key(cfg, KEYS[i].section, KEYS[i].key, KEYS[i].def, "default");
    if (path) {
        snprintf(cfg->path, sizeof cfg->path, "%s", path);
        FILE *f = fopen(path, "r");
        DNA_CHECK(f, "check the path of the config file", "cannot read config '%s'", path);
        parse_file(cfg, path, f);
        fclose(f);
    }
    for (int i = 0; i < noverrides; i++) {
        char buf[2 * CFG_STR], *dot, *eq;
        snprintf(buf, sizeof buf, "%s", overrides[i]);
        eq = strchr(buf, '=');
        dot = strchr(buf, '.');
        DNA_CHECK(eq && dot && dot < eq, "write overrides as section.key=value",
                  "bad override '%s'", overrides[i]);
        *eq = *dot = 0;
        char where[2 * CFG_STR + 16];
        snprintf(where, sizeof where, "override '%s'", overrides[i]);
        set_key(cfg, buf, dot + 1, eq + 1, where);
    }
    // [ssl] keys in a distillation config: a config meant for DNA++, or a forgotten mode
    for (int i = 0; i < NKEYS; i++)
        DNA_CHECK(!cfg->given[i] || !KEYS[i].ssl_only || config_ssl(cfg),
                  "set [train] mode = ssl, or remove the [ssl] keys",
                  "%s: [ssl] %s is a key of DNA++'s self-supervised mode, and [train] mode = %s",
                  path ? path : "config", KEYS[i].key, cfg->train.mode);
    // [space] keys of the other kind of space: a config meant for one kind, or a typo of kind
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &KEYS[i];
        if (!cfg->given[i] || key_applies(cfg, k) || k->ssl_only || !strcmp(k->key, "kind") ||
            !strcmp(k->key, "mode") || late_key(k))
            continue;
        int vit = space_kind(cfg) == SPACE_VIT;
        DNA_FAIL(vit ? "remove it: a ViT space is set by dims, mlp_ratios, depths and head_dim"
                     : "remove it, or set [space] kind = vit",
                 "%s: [space] %s is a key of %s spaces, and this one is kind = %s",
                 path ? path : "config", k->key, vit ? "MBConv" : "ViT", cfg->space.kind);
    }
    // a range the table cannot say: the seed files are named and read up to this bound
    DNA_CHECK(cfg->retrain.seeds >= 1 && cfg->retrain.seeds <= MAX_SEEDS,
              "set [retrain] seeds (or retrain.seeds=N) to 1..16",
              "%s: retrain.seeds = %ld is out of range 1..%d", path ? path : "config",
              cfg->retrain.seeds, MAX_SEEDS);
    DNA_CHECK(cfg->bench.seeds >= 1 && cfg->bench.seeds <= MAX_SEEDS,
              "set [bench] seeds (or bench.seeds=N) to 1..16",
              "%s: bench.seeds = %ld is out of range 1..%d", path ? path : "config",
              cfg->bench.seeds, MAX_SEEDS);
}

// sections: NULL for all, else a space-separated list ("data teacher")
static void dump(const Config *cfg, FILE *f, int operational, const char *sections) {
    const char *sec = "";
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &KEYS[i];
        if (k->operational && !operational) continue;
        if (sections && !has_word(sections, k->section)) continue;
        if (!key_applies(cfg, k)) continue;
        if (strcmp(sec, k->section)) fprintf(f, "%s[%s]\n", i ? "\n" : "", sec = k->section);
        const char *p = (const char *)cfg + k->off;
        switch (k->kind) {
            case CK_INT:
                fprintf(f, "%s = %ld\n", k->key, *(const long *)p);
                break;
            case CK_F64:
                fprintf(f, "%s = %.17g\n", k->key, *(const double *)p);
                break;
            case CK_STR:
                fprintf(f, "%s = %s\n", k->key, p);
                break;
        }
    }
}

void config_dump(const Config *cfg, FILE *f) {
    dump(cfg, f, 1, NULL);
}

// Where a run is written (run.name, run.out_dir), where it computes (run.backend) and how
// often it checkpoints and logs (the operational keys) are not part of what it computes: a
// copy of a run, the same experiment under another name, or a run continued on a GPU node
// after a CPU one has the same hash (outputs record the backend).
void config_hash(const Config *cfg, char hex[17]) {
    Config c = *cfg;
    c.run.name[0] = c.run.out_dir[0] = c.run.backend[0] = 0;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    dump(&c, f, 0, NULL);
    fclose(f);
    uint64_t h = fnv1a(FNV1A_INIT, buf, n);
    free(buf);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

// The shortest decimal that reads back as v ("0.1", not "0.10000000000000001"): the keys of a
// fingerprint are shown to users when they differ.
static const char *shortest(double v, char buf[32]) {
    for (int digits = 6; digits < 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return buf;
    }
    snprintf(buf, 32, "%.17g", v);
    return buf;
}

void config_keys(const Config *cfg, const char *sections, FILE *f) {
    char num[32];
    fprintf(f, "run.seed = %ld\n", cfg->run.seed);
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &KEYS[i];
        if (k->operational || !has_word(sections, k->section)) continue;
        if ((k->ssl_only || !strcmp(k->key, "mode") || late_key(k)) && !key_applies(cfg, k))
            continue;
        const char *p = (const char *)cfg + k->off;
        fprintf(f, "%s.%s = ", k->section, k->key);
        switch (k->kind) {
            case CK_INT:
                fprintf(f, "%ld\n", *(const long *)p);
                break;
            case CK_F64:
                fprintf(f, "%s\n", shortest(*(const double *)p, num));
                break;
            case CK_STR:
                fprintf(f, "%s\n", p);
                break;
        }
    }
}

int config_given(const Config *cfg, const char *section, const char *key) {
    const CfgKey *k = find(section, key);
    DNA_CHECK(k, "internal: ask for a key of the schema", "config_given: no key %s.%s", section,
              key);
    return cfg->given[k - KEYS];
}

void config_help(FILE *f) {
    const char *sec = "";
    for (int i = 0; i < NKEYS; i++) {
        const CfgKey *k = &KEYS[i];
        if (strcmp(sec, k->section)) fprintf(f, "[%s]\n", sec = k->section);
        fprintf(f, "  %-18s = %-12s %s%s%s%s\n", k->key, k->def, k->help, k->choices ? " (" : "",
                k->choices ? k->choices : "", k->choices ? ")" : "");
    }
}

void config_run_path(const Config *cfg, const char *file, char *buf, size_t n) {
    if (cfg->plus.generation > 1 && !(file && !strcmp(file, "dataset.h5"))) {
        if (file)
            snprintf(buf, n, "%s/%s/gen%ld/%s", cfg->run.out_dir, cfg->run.name,
                     cfg->plus.generation, file);
        else
            snprintf(buf, n, "%s/%s/gen%ld", cfg->run.out_dir, cfg->run.name, cfg->plus.generation);
    } else if (file)
        snprintf(buf, n, "%s/%s/%s", cfg->run.out_dir, cfg->run.name, file);
    else
        snprintf(buf, n, "%s/%s", cfg->run.out_dir, cfg->run.name);
}
