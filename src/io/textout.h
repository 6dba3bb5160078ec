// Text outputs (configs, JSON, CSV) written atomically like every other output: opened under
// "<path>.tmp.<pid>" and renamed into place by textout_commit, so a reader never sees half a
// file. Errors are fatal and name the file.
#pragma once
#include <stdio.h>

typedef struct TextOut {
    FILE *f;
    char tmp[1200], path[1100];
} TextOut;

FILE *textout_open(TextOut *t, const char *path);
// The whole file as a NUL-terminated string (caller frees); NULL when it cannot be opened.
char *text_read(const char *path);
void textout_commit(TextOut *t);
