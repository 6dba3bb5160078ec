// predictor.json files (doc/formats.md): a calibrated predictor (src/nas/predictor.h's JSON
// form) written atomically and read back; every failure is fatal and names the file.
#pragma once
#include "nas/predictor.h"

void predictor_save(const Predictor *p, const char *extra_json, const char *path);
// nblocks > 0: the space's block count, which the file must have. digest (may be NULL): the
// FNV-1a of the file's bytes, what an output that used it records.
void predictor_load(const char *path, int nblocks, Predictor *p, char digest[17]);
