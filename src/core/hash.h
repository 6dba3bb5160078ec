// FNV-1a 64: the one content digest of the program (config hashes, shard digests, the
// architecture a retrain result belongs to). Not cryptographic: it tells versions apart.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 1469598103934665603ULL

static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}
