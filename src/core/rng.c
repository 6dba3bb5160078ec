// Philox4x32-10 and the draws built on it.
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

Rng rng_new(uint64_t seed) {
    Rng r = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, 0, 0, {0}, 4};
    return r;
}

Rng rng_split(const Rng *p, uint64_t id) {
    // Hash (stream, id) under the parent's key; the 128-bit output becomes the child's key
    // and stream. Philox is a bijection of the counter, so distinct ids give distinct children.
    uint32_t ctr[4] = {(uint32_t)id, (uint32_t)(id >> 32), (uint32_t)p->stream,
                       (uint32_t)(p->stream >> 32)};
    uint32_t k[2] = {p->key[0] ^ 0xA5A5A5A5u, p->key[1] ^ 0x5A5A5A5Au};  // not the draw key
    uint32_t o[4];
    philox4x32_10(ctr, k, o);
    Rng c = {{o[0], o[1]}, (uint64_t)o[2] | ((uint64_t)o[3] << 32), 0, {0}, 4};
    return c;
}

uint32_t rng_u32(Rng *r) {
    if (r->pos == 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), (uint32_t)r->stream,
                           (uint32_t)(r->stream >> 32)};
        philox4x32_10(ctr, r->key, r->buf);
        r->counter++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

float rng_uniform(Rng *r) {
    return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double rng_uniform_double(Rng *r) {
    uint64_t hi = rng_u32(r) >> 5, lo = rng_u32(r) >> 6;
    return (double)(hi * 67108864u + lo) * (1.0 / 9007199254740992.0);
}

float rng_normal(Rng *r) {
    double u1 = 1.0 - rng_uniform_double(r);  // (0, 1]: log is finite
    double u2 = rng_uniform_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t rng_below(Rng *r, uint32_t n) {
    // Lemire's multiply-shift with rejection: exact for every n.
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_shuffle(Rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        int t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

uint64_t rng_u64(Rng *r) {
    uint64_t hi = rng_u32(r);
    return hi << 32 | rng_u32(r);
}
