// Config: the one INI file (plus command-line overrides `section.key=value`) that drives
// every stage. The schema is a table in config.c: every key has a type, a default and a
// help line, and a key not in the table is an error naming the file and section, so a typo
// never silently falls back to a default. The effective config is dumped (and hashed) into
// every run record and output file.
#pragma once
#include <stdio.h>

#define CFG_STR 512

typedef struct RunCfg {
    char name[CFG_STR], out_dir[CFG_STR], backend[CFG_STR];
    long seed;
    double ckpt_minutes;      // training loops checkpoint at least this often
    long metrics_every;       // steps between metrics lines (0: epoch ends only)
    long strict_determinism;  // 1: a nondeterministic cuDNN algorithm is an error (backend.h)
} RunCfg;

typedef struct DataCfg {
    char source[CFG_STR], path[CFG_STR];
    long classes, channels, image_size, train_size;
    long limit_train, limit_test, search_per_class, pad, crop_pad, flip;
} DataCfg;

// A supervised training recipe: the same keys in [teacher] and [retrain].
typedef struct RecipeCfg {
    double dropout;
    long epochs, batch, eval_batch;
    char optimizer[CFG_STR], schedule[CFG_STR];
    double lr, momentum, weight_decay, label_smoothing, warmup_epochs, step_gamma;
    double rmsprop_alpha, rmsprop_eps;
    double ema;           // decay of the weight EMA; 0: off
    double drop_connect;  // stochastic-depth rate of the last layer; 0: off
    long step_epochs;
} RecipeCfg;

typedef struct TeacherCfg {
    char import[CFG_STR], stages[CFG_STR], blocks[CFG_STR];
    long stem, stem_stride, head;
    double bn_eps, bn_momentum;
    RecipeCfg fit;
} TeacherCfg;

enum { SPACE_MAX_BLOCKS = 8 };

// kind = mbconv: cells of MBConv layers (ops, se, stem, blockK); kind = vit: one slimmable
// ViT supernet per teacher block (dims, mlp_ratios, depths, head_dim; doc/design.md §4.4).
typedef struct SpaceCfg {
    char kind[CFG_STR];
    char ops[CFG_STR];
    double se;
    long stem;
    char block[SPACE_MAX_BLOCKS][CFG_STR];  // cells of block k+1: "LxW LxW ..."
    char dims[CFG_STR], mlp_ratios[CFG_STR], depths[CFG_STR];
    long head_dim;
} SpaceCfg;

typedef struct TrainCfg {
    char mode[CFG_STR];  // distill (DNA, DNA+) | ssl (DNA++: self-supervised co-training, [ssl])
    long epochs, batch, ckpt_every, window, seed;
    double fraction;
    double lr_first, lr, lr_decay, weight_decay;
} TrainCfg;

// The searched network trained from scratch with labels (`dna retrain`), on the whole
// training set; `seeds` times (seed 1: run.seed's streams), so that the report can set the
// difference to the random networks against the retraining noise.
enum { MAX_SEEDS = 16 };  // [retrain] seeds and [bench] seeds
typedef struct RetrainCfg {
    char arch[CFG_STR];
    long seeds;  // 1..MAX_SEEDS
    RecipeCfg fit;
} RetrainCfg;

// The ranking benchmark (`dna bench`): n architectures sampled across the cost range, each
// trained from scratch with one fixed recipe on the whole training set, `seeds` times (the
// truth is the mean over seeds; seed 1: run.seed's streams).
typedef struct BenchCfg {
    long n, train_images;
    long seeds;  // 1..MAX_SEEDS
    RecipeCfg fit;
} BenchCfg;

// The one-shot (SPOS) baseline supernet (`dna spos`): trained end to end with labels, one
// uniformly sampled path per step; fit.epochs 0 = [train] epochs.
typedef struct SposCfg {
    RecipeCfg fit;
} SposCfg;

// DNA++ (`[train] mode = ssl`, doc/design.md §5.5): the teacher and every student supernet
// co-trained on two augmented views with Eqns 10-11 (nas/ssl_loss.h), no labels. Its keys
// apply only in that mode: they are out of the dump and hash of a distillation config, and
// giving one there is an error.
typedef struct SslCfgKeys {
    char init[CFG_STR];  // random | teacher (the teacher stage's teacher.h5)
    double lambda1, lambda2, lambda3, gamma, eps;
    long var_both, proj_hidden, proj_dim;
    char optimizer[CFG_STR];  // lars | adamw
    double lr, weight_decay, momentum, eta, warmup_epochs;
    char crop_scale[CFG_STR], crop_ratio[CFG_STR], erase_scale[CFG_STR], erase_ratio[CFG_STR];
    double flip_p, erase_p, noise_std;
} SslCfgKeys;

typedef struct RateCfg {
    long batch, recal_batch, limit;
} RateCfg;

typedef struct SearchCfg {
    double max_params, max_macs;
    long top, random;
    char predictor[CFG_STR];  // predictor.json of fitted block weights; "": Eqn 4's uniform
} SearchCfg;

typedef struct FeaturesCfg {
    char dtype[CFG_STR];
    long chunk, shard_samples, deflate, batch;
} FeaturesCfg;

// DNA+ (doc/guide.md §DNA+): generation m >= 2 takes generation m-1's searched network,
// scaled, retrained from scratch, as its teacher, and searches again in <run>/gen<m>/.
typedef struct PlusCfg {
    long generations;         // how many generations `dna run` and `dna plus` run (1 = plain DNA)
    long generation;          // the generation a single stage command works on (1 = the run's root)
    double phi, alpha, beta;  // compound scaling: depth alpha^phi, width beta^phi
    char width[CFG_STR], depth[CFG_STR];  // explicit multipliers: one, or one per generation 2..G
    char stop[CFG_STR];                   // none | top1 | tau
    double min_gain, max_tau;             // the stop rules' thresholds
    char teacher_resolution[CFG_STR];
} PlusCfg;

enum { CFG_MAX_KEYS = 256 };

typedef struct Config {
    char path[CFG_STR];                 // the file it was read from
    unsigned char given[CFG_MAX_KEYS];  // per key of the schema: set by the file or an override
    RunCfg run;
    DataCfg data;
    TeacherCfg teacher;
    FeaturesCfg features;
    SpaceCfg space;
    TrainCfg train;
    SslCfgKeys ssl;
    RateCfg rate;
    SearchCfg search;
    RetrainCfg retrain;
    BenchCfg bench;
    SposCfg spos;
    PlusCfg plus;
} Config;

// Defaults, then the file (may be NULL: defaults only), then overrides "section.key=value".
// Any error is fatal with the file (or override), section and key.
void config_load(Config *cfg, const char *path, char **overrides, int noverrides);
void config_dump(const Config *cfg, FILE *f);  // canonical INI of every key
// FNV-1a 64 of the canonical dump without run.name and run.out_dir (where, not what)
void config_hash(const Config *cfg, char hex[17]);
// What a stage's output depends on: run.seed and every key of the listed sections ("data
// teacher"), one "section.key = value" line each (the keys of a fingerprint, io/fingerprint.h).
void config_keys(const Config *cfg, const char *sections, FILE *f);
void config_help(FILE *f);  // every key with its default and help line
// 1 when section.key was set by the file or an override (fatal for a key not in the schema).
int config_given(const Config *cfg, const char *section, const char *key);
// 1 in DNA++'s mode (`[train] mode = ssl`).
int config_ssl(const Config *cfg);
// Joins run.out_dir and run.name (and an optional file name below it) into buf; from
// plus.generation 2 on, the generation's directory <run>/gen<m>, except for dataset.h5, which
// every generation shares with the first.
void config_run_path(const Config *cfg, const char *file, char *buf, size_t n);
