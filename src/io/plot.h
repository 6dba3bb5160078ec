// PNG figures through gnuplot (pngcairo), written like every other output: the script draws
// into "<png>.tmp.<pid>.png", which is renamed into place only when gnuplot succeeded and
// said nothing. A missing gnuplot is not fatal: figures are extras, the numbers are in the
// text outputs.
#pragma once

#include <stddef.h>

// Runs `body` (gnuplot commands after "set terminal/output") for a w x h image; returns 0 when
// `png` was written, -1 otherwise (the caller says what was not drawn). gnuplot runs without
// a shell.
int plot_png(const char *png, int w, int h, const char *body);
// `s` as a gnuplot string literal ('...' with '' for a quote) in buf: how a body names a
// file or any text from the config (a run name may hold quotes). Returns buf.
const char *plot_str(char *buf, size_t n, const char *s);
