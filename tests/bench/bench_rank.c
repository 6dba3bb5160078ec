// Benchmark `dna rank`'s statistics at the size of public NAS benchmarks (the NATS-Bench size
// space, 32,768 architectures): tau, rho and R of synthetic ratings (seeded; a score with 1,000
// distinct values, a top-1 on a 0.01-point grid, so both have ties), then 2,000 bootstrap
// resamples each computing all three, on OMP_NUM_THREADS threads. Prints
// "bench rank n=32768 resamples=2000 threads=T seconds=S ..." (seconds: point estimates and
// bootstrap together). Target (issue 21): <= 10 s on 2 cores.
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nas/rankstat.h"

int main(void) {
    enum { N = 32768, REPS = 2000 };
    double *score = malloc(sizeof(double) * N), *top1 = malloc(sizeof(double) * N);
    Rng r = rng_new(21);
    for (long i = 0; i < N; i++) {
        double quality = rng_uniform_double(&r);
        score[i] = (double)(int)(1000 * (0.7 * quality + 0.3 * rng_uniform_double(&r)));
        top1[i] = (double)(int)(8000 + 1000 * quality + 300 * rng_normal(&r)) / 10000;
    }
    double t0 = timer_now(), ci[3][2];
    double st[3] = {rank_kendall_tau(score, top1, N), rank_spearman(score, top1, N),
                    rank_pearson(score, top1, N)};
    double t_point = timer_now() - t0;
    rank_bootstrap(score, top1, N, REPS, 42, ci);
    double t = timer_now() - t0;
    printf(
        "bench rank n=%d resamples=%d threads=%d seconds=%.2f point_s=%.3f tau=%.4f "
        "tau_ci=[%.4f,%.4f] rho=%.4f R=%.4f peak_rss_MB=%.0f\n",
        N, REPS, omp_get_max_threads(), t, t_point, st[0], ci[0][0], ci[0][1], st[1], st[2],
        bench_peak_rss_mb());
    free(score), free(top1);
    return 0;
}
