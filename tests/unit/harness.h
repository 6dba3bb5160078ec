// A small test harness: TEST(name) registers a case at load time, T_CHECK/T_NEAR record
// failures without stopping the case, t_expect_death runs code in a child process and
// checks that it fails with a given message. The runner (harness.c) prints one line per
// case and a closing "N passed, N failed".
#pragma once
#include <math.h>
#include <stddef.h>

typedef void (*TestFn)(void);
void t_register(const char *name, TestFn fn, const char *file);
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                   \
    static void name(void);                                          \
    __attribute__((constructor)) static void register_##name(void) { \
        t_register(#name, name, __FILE__);                           \
    }                                                                \
    static void name(void)

#define T_CHECK(cond, ...)                                    \
    do {                                                      \
        if (!(cond)) t_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

// |a - b| <= atol + rtol * |b|, b being the reference
#define T_NEAR(a, b, atol, rtol, what)                                             \
    do {                                                                           \
        double ta_ = (a), tb_ = (b);                                               \
        if (!(fabs(ta_ - tb_) <= (atol) + (rtol)*fabs(tb_)))                       \
            t_fail(__FILE__, __LINE__, "%s: got %.9g, want %.9g", what, ta_, tb_); \
    } while (0)

// Compares n values with tolerance; reports the worst element. Returns max |a-b|.
double t_near_array(const char *file, int line, const char *what, const float *got,
                    const float *want, size_t n, double atol, double rtol);
#define T_NEAR_ARRAY(got, want, n, atol, rtol, what) \
    t_near_array(__FILE__, __LINE__, what, got, want, n, atol, rtol)

// Runs fn(arg) in a forked child; passes when the child exits non-zero and its stderr
// contains `expect`.
void t_expect_death_at(const char *file, int line, void (*fn)(void *), void *arg,
                       const char *expect);
#define T_EXPECT_DEATH(fn, arg, expect) t_expect_death_at(__FILE__, __LINE__, fn, arg, expect)

// Random host data for tests (fixed seeds).
void t_fill_uniform(float *x, size_t n, unsigned seed, float lo, float hi);
