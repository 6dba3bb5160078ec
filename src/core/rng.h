// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11). A generator is (key, stream,
// counter); rng_split derives an independent child from a parent and an id, so streams
// per job / rank / step are functions of the ids alone and never of who draws first.
// That is what makes results independent of the rank count.
#pragma once
#include <stdint.h>

typedef struct Rng {
    uint32_t key[2];
    uint64_t stream;   // occupies counter words 2..3
    uint64_t counter;  // occupies counter words 0..1; one block = 4 draws
    uint32_t buf[4];
    int pos;  // next unused word of buf (4 = empty)
} Rng;

// One Philox4x32-10 block: the raw bijection, exposed for the known-answer test.
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

Rng rng_new(uint64_t seed);
Rng rng_split(const Rng *parent, uint64_t id);  // child depends on (parent key, stream, id)
uint32_t rng_u32(Rng *r);
uint64_t rng_u64(Rng *r);  // two words: e.g. the seed of a component that takes an integer
float rng_uniform(Rng *r);                // [0, 1), 24 bits
double rng_uniform_double(Rng *r);        // [0, 1), 53 bits
float rng_normal(Rng *r);                 // N(0, 1), Box-Muller
uint32_t rng_below(Rng *r, uint32_t n);   // uniform in [0, n), unbiased
void rng_shuffle(Rng *r, int *a, int n);  // Fisher-Yates
