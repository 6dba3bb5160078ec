// Files (see files.h).
#include "io/files.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

FILE *textout_open(TextOut *t, const char *path) {
    snprintf(t->path, sizeof t->path, "%s", path);
    snprintf(t->tmp, sizeof t->tmp, "%s.tmp.%d", path, (int)getpid());
    t->f = fopen(t->tmp, "w");
    DNA_CHECK(t->f, "check the permissions of the output directory", "cannot write '%s'", t->tmp);
    return t->f;
}

void textout_commit(TextOut *t) {
    DNA_CHECK(fclose(t->f) == 0 && rename(t->tmp, t->path) == 0, "check the disk (space, permissions)",
              "cannot write '%s'", t->path);
    t->f = NULL;
}

char *text_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = dna_malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    buf[got] = 0;
    return buf;
}

int file_exists(const char *path) {
    return access(path, F_OK) == 0;
}

void make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            DNA_CHECK(mkdir(buf, 0775) == 0 || errno == EEXIST,
                      "check the permissions of run.out_dir", "cannot create directory '%s': %s",
                      buf, strerror(errno));
            if (!(*p = c)) break;
        }
    }
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    DNA_CHECK(remove(path) == 0, "check the permissions of run.out_dir", "cannot remove '%s': %s",
              path, strerror(errno));
    return 0;
}

void remove_tree(const char *path) {
    DNA_CHECK(nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT,
              "check the permissions of run.out_dir", "cannot remove '%s'", path);
}
