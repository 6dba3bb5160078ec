// Files: text outputs (configs, JSON, CSV) written atomically like every other output —
// opened under "<path>.tmp.<pid>" and renamed into place by textout_commit, so a reader never
// sees half a file — whole-file reads, existence, and directories. Errors are fatal and name
// the file.
#pragma once
#include <stdio.h>

typedef struct TextOut {
    FILE *f;
    char tmp[1200], path[1100];
} TextOut;

FILE *textout_open(TextOut *t, const char *path);
void textout_commit(TextOut *t);
// The whole file as a NUL-terminated string (caller frees); NULL when it cannot be opened.
char *text_read(const char *path);
// 1 when path exists. An output that exists is complete: outputs appear only by rename.
int file_exists(const char *path);
// mkdir -p; fatal naming the directory that cannot be made.
void make_dirs(const char *path);
// rm -r (a file or a directory tree); fatal naming what cannot be removed.
void remove_tree(const char *path);
