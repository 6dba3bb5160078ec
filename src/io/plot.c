// gnuplot runner (see plot.h).
#include "io/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/files.h"

int plot_png(const char *png, int w, int h, const char *body) {
    char tmp[1200], gp[1200], cmd[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.png", png, (int)getpid());
    snprintf(gp, sizeof gp, "%s.tmp.%d.gp", png, (int)getpid());
    FILE *f = fopen(gp, "w");
    if (!f) return -1;
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font ',10'\nset output '%s'\n%s\n", w, h,
            tmp, body);
    if (fclose(f) != 0) {
        unlink(gp);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", gp);
    FILE *p = popen(cmd, "r");
    char line[256];
    int said = 0;
    while (p && fgets(line, sizeof line, p)) said = 1;  // warnings mean a wrong figure
    int ok = p && pclose(p) == 0 && !said && access(tmp, F_OK) == 0;
    unlink(gp);
    if (!ok) {
        unlink(tmp);
        return -1;
    }
    file_commit(tmp, png, NULL);
    return 0;
}
