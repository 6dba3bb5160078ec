// Fingerprints (doc/guide.md "Running on a cluster safely"): what an output was made from, so
// a stage skips only an output it would make the same way now. A fingerprint is text, one
// "name = value" line per config key its stage reads (every key of the stage's sections, and
// the seed) and per input ("input teacher.h5 = <its fingerprint>"), plus its FNV-1a digest.
// Every output records both: HDF5 files as root attributes `fingerprint` and
// `fingerprint_keys` (through H5Prov), JSON files as fields of the same names, markers and
// CSVs as a text file (the marker itself, or "<file>.fingerprint" beside a CSV). Kept whole,
// the text lets a mismatch name each changed key with its old and new value.
#pragma once
#include <stddef.h>
#include <stdio.h>

typedef struct Fingerprint {
    char hex[17];  // digest of keys; "" when the file records none
    char *keys;    // "name = value" lines (owned; NULL when none)
} Fingerprint;

// A fingerprint of `keys` (copied).
void fp_make(Fingerprint *fp, const char *keys);
// A fingerprint of `keys` without the line of key `name` ("retrain.seeds"): for a stage's
// per-seed files, which one seed more or less does not change.
void fp_make_without(Fingerprint *fp, const char *keys, const char *name);
void fp_free(Fingerprint *fp);
// The fingerprint a file records (by its kind: .h5, .json, else marker text or a CSV's
// sidecar); fp->hex is "" when it records none or does not exist. Returns 1 when it has one.
int fp_read(const char *path, Fingerprint *fp);
// The digest a file records, "none" when it records none (an input's line in a fingerprint).
void fp_read_hex(const char *path, char hex[17]);
// What differs between the keys of a recorded fingerprint and a new one: "train.lr 0.1 ->
// 0.05; input teacher.h5 1a2b.. -> 3c4d.." (at most n bytes; "" when nothing does).
void fp_diff(const char *old_keys, const char *new_keys, char *buf, size_t n);
// Writes a marker / sidecar: "fingerprint <hex>\n", then `extra` lines, then "keys:" and the
// keys. A CSV output's fingerprint goes to "<csv>.fingerprint" (fp_sidecar_path).
void fp_write_text(FILE *f, const char *hex, const char *keys, const char *extra);
void fp_sidecar_path(const char *csv, char *buf, size_t n);
// The two JSON fields ("fingerprint": ..., "fingerprint_keys": ...) with a trailing comma,
// the keys escaped, for writers that print their JSON.
void fp_write_json_fields(FILE *f, const char *hex, const char *keys, const char *indent);
