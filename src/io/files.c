// Files (see files.h).
#include "io/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
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
    int bad = ferror(t->f) || fclose(t->f) != 0, e = errno;
    t->f = NULL;
    if (bad) unlink(t->tmp);
    DNA_CHECK(!bad, "check the disk (space, quota, permissions)", "cannot write '%s': %s", t->path,
              strerror(e));
    file_commit(t->tmp, t->path, NULL);
}

// fsync of a file or a directory: 0, or -1 with errno. A filesystem that cannot sync a
// directory (EINVAL) makes the rename as durable as it can.
static int sync_path(const char *path, int dir) {
    int fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    if (rc != 0 && dir && (e == EINVAL || e == ENOTSUP)) rc = 0;
    errno = e;
    return rc;
}

// "<path>.tmp.<pid>[...]" files of processes of this host that no longer run.
static void remove_stale(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return;
    char pre[512], full[1400];
    int np = snprintf(pre, sizeof pre, "%s.tmp.", base);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, pre, (size_t)np)) continue;
        long pid = strtol(e->d_name + np, NULL, 10);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        unlink(full);
    }
    closedir(d);
}

void file_commit(const char *tmp, const char *path, const char *prev) {
    const char *fix = "check the disk (space, quota, permissions)";
    if (sync_path(tmp, 0) != 0) {
        int e = errno;
        unlink(tmp);
        DNA_FAIL(fix, "cannot write '%s': fsync of '%s' failed: %s", path, tmp, strerror(e));
    }
    if (prev && access(path, F_OK) == 0) {  // a hard link keeps path in place meanwhile
        unlink(prev);
        DNA_CHECK(link(path, prev) == 0 || rename(path, prev) == 0, fix,
                  "cannot keep '%s' as '%s': %s", path, prev, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        DNA_FAIL(fix, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    DNA_CHECK(sync_path(dir, 1) == 0, fix, "cannot write '%s': fsync of its directory '%s': %s",
              path, dir, strerror(errno));
    remove_stale(dir, base);
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

const char *json_num(char buf[32], double v, int digits) {
    if (isfinite(v))
        snprintf(buf, 32, "%.*g", digits, v);
    else
        snprintf(buf, 32, "null");
    return buf;
}
