// Figures through gnuplot (src/io/plot.c): paths and text become gnuplot string literals, and
// gnuplot runs without a shell, so a quote in a run's name breaks nothing (issue 17).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/plot.h"

TEST(plot_str_quotes_for_gnuplot) {
    char b[64];
    T_CHECK(!strcmp(plot_str(b, sizeof b, "a/b.csv"), "'a/b.csv'"), "plain: %s", b);
    T_CHECK(!strcmp(plot_str(b, sizeof b, "it's \"x\" $(y)"), "'it''s \"x\" $(y)'"), "quotes: %s",
            b);
    T_CHECK(!strcmp(plot_str(b, sizeof b, ""), "''"), "empty: %s", b);
}

// A PNG in a directory whose name holds a single quote, a double quote, a space and shell
// syntax, from data named the same way. Skipped (passes) without gnuplot.
TEST(plot_png_with_quotes_in_the_path) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("     (gnuplot not installed: not drawn)\n");
        return;
    }
    char dir[] = "/tmp/dna_plot_XXXXXX";
    T_CHECK(mkdtemp(dir), "mkdtemp");
    char sub[256], dat[320], png[320], body[1024], q[700];
    snprintf(sub, sizeof sub, "%s/it's \"a\" $(touch pwned)", dir);
    T_CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
    snprintf(dat, sizeof dat, "%s/data's.dat", sub);
    FILE *f = fopen(dat, "w");
    fprintf(f, "1 1\n2 4\n3 9\n");
    fclose(f);
    snprintf(png, sizeof png, "%s/fig's.png", sub);
    snprintf(body, sizeof body, "plot %s using 1:2 with lines title 'x'\n",
             plot_str(q, sizeof q, dat));
    T_CHECK(plot_png(png, 200, 150, body) == 0, "gnuplot failed on '%s'", png);
    struct stat st;
    T_CHECK(stat(png, &st) == 0 && st.st_size > 0, "no figure at '%s'", png);
    T_CHECK(access("pwned", F_OK) != 0, "a shell ran the path");
    T_CHECK(plot_png(png, 200, 150, "plot nosuchfunction(x)\n") == -1, "a gnuplot error passed");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0, "cleanup");
}
