// Files: every output is written under "<path>.tmp.<pid>" and put in place by file_commit
// (fsync, rename, fsync of the directory), so a reader never sees half a file and a crash or
// power loss leaves the old file or the new one; text outputs (configs, JSON, CSV) through
// TextOut. Also whole-file reads, existence, and directories. Errors are fatal and name the
// file.
#pragma once
#include <stdio.h>

typedef struct TextOut {
    FILE *f;
    char tmp[1200], path[1100];
} TextOut;

FILE *textout_open(TextOut *t, const char *path);
void textout_commit(TextOut *t);  // closes, then file_commit
// The one way an output appears: fsync(tmp), rename(tmp, path), fsync(path's directory).
// With prev (not NULL) the file at path, if any, becomes prev first (the previous generation
// of a checkpoint), so path always names a complete file. Then removes "<path>.tmp.<pid>"
// files that dead processes of this host left (a run killed while writing). Fatal, naming
// the file, when a step fails (a full disk: fsync reports what write-back could not do); the
// temporary is removed, nothing is renamed in.
void file_commit(const char *tmp, const char *path, const char *prev);
// v as a JSON number with `digits` significant digits, or "null" (JSON has no NaN or
// infinity); returns buf.
const char *json_num(char buf[32], double v, int digits);
// The whole file as a NUL-terminated string (caller frees); NULL when it cannot be opened.
char *text_read(const char *path);
// 1 when path exists. An output that exists is complete: outputs appear only by rename.
int file_exists(const char *path);
// mkdir -p; fatal naming the directory that cannot be made.
void make_dirs(const char *path);
// rm -r (a file or a directory tree); fatal naming what cannot be removed.
void remove_tree(const char *path);
