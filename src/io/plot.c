// gnuplot runner (see plot.h). gnuplot is started without a shell (posix_spawnp, the script's
// path as its argument), so no character of a run's name or path reaches a shell; inside the
// script, paths are gnuplot string literals (plot_str).
#include "io/plot.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/files.h"

extern char **environ;

const char *plot_str(char *buf, size_t n, const char *s) {
    size_t j = 0;
    if (n < 3) return "''";
    buf[j++] = '\'';
    for (; *s && j + 3 < n; s++) {
        if (*s == '\'') buf[j++] = '\'';  // gnuplot: '' is a quote inside '...'
        buf[j++] = *s;
    }
    buf[j++] = '\'';
    buf[j] = 0;
    return buf;
}

// Runs `gnuplot script`; returns 0 when it exited 0 and printed nothing (warnings mean a
// wrong figure), -1 otherwise (also when gnuplot is missing).
static int run_gnuplot(const char *script) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    char *argv[] = {"gnuplot", (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    int said = 0;
    char buf[256];
    for (ssize_t r; rc == 0 && (r = read(fd[0], buf, sizeof buf)) != 0;)
        if (r > 0) said = 1;
    close(fd[0]);
    if (rc != 0) return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && !said ? 0 : -1;
}

int plot_png(const char *png, int w, int h, const char *body) {
    char tmp[1200], gp[1200], q[2500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.png", png, (int)getpid());
    snprintf(gp, sizeof gp, "%s.tmp.%d.gp", png, (int)getpid());
    FILE *f = fopen(gp, "w");
    if (!f) return -1;
    fprintf(f, "set terminal pngcairo size %d,%d noenhanced font ',10'\nset output %s\n%s\n", w, h,
            plot_str(q, sizeof q, tmp), body);
    if (fclose(f) != 0) {
        unlink(gp);
        return -1;
    }
    int ok = run_gnuplot(gp) == 0 && access(tmp, F_OK) == 0;
    unlink(gp);
    if (!ok) {
        unlink(tmp);
        return -1;
    }
    file_commit(tmp, png, NULL);
    return 0;
}
