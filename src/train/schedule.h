// Learning-rate schedules by optimizer step: linear warm-up from peak/warmup to peak, then
// cosine decay to 0 at the last step, or a step decay (x gamma every `every` steps).
#pragma once

typedef enum { SCHED_COSINE, SCHED_STEP } SchedKind;

typedef struct Schedule {
    SchedKind kind;
    double peak;
    long warmup, total;  // steps
    long every;          // step decay period (steps)
    double gamma;
} Schedule;

double schedule_lr(const Schedule *s, long step);  // step counts from 0
