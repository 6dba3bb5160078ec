// arch.json files: a searched architecture (src/nas/arch.h's JSON form) written atomically
// and read back; every failure is fatal and names the file.
#pragma once
#include "nas/arch.h"

void arch_save(const Arch *a, const char *extra_json, const char *path);
void arch_load(const char *path, Arch *a);
