// Learning-rate schedules (see schedule.h).
#include "train/schedule.h"

#include <math.h>

double schedule_lr(const Schedule *s, long step) {
    if (step < s->warmup) return s->peak * (double)(step + 1) / (double)s->warmup;
    long t = step - s->warmup, span = s->total - s->warmup;
    if (s->kind == SCHED_STEP) return s->peak * pow(s->gamma, (double)(t / (s->every > 0 ? s->every : 1)));
    if (span <= 0) return s->peak;
    double frac = (double)t / (double)span;
    return 0.5 * s->peak * (1.0 + cos(M_PI * (frac > 1.0 ? 1.0 : frac)));
}
