// Fingerprints (see fingerprint.h).
#include "io/fingerprint.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "io/files.h"
#include "io/h5.h"

void fp_make(Fingerprint *fp, const char *keys) {
    fp->keys = strdup(keys);
    DNA_CHECK(fp->keys, "", "out of memory");
    snprintf(fp->hex, sizeof fp->hex, "%016llx",
             (unsigned long long)fnv1a(FNV1A_INIT, keys, strlen(keys)));
}

void fp_make_without(Fingerprint *fp, const char *keys, const char *name) {
    size_t n = strlen(keys), m = strlen(name);
    char *out = dna_malloc(n + 1), *o = out;
    for (const char *p = keys; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (strncmp(p, name, m) || strncmp(p + m, " = ", 3)) memcpy(o, p, len), o += len;
        p += len;
    }
    *o = 0;
    fp_make(fp, out);
    free(out);
}

void fp_free(Fingerprint *fp) {
    free(fp->keys);
    *fp = (Fingerprint){0};
}

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

static void from_h5(const char *path, Fingerprint *fp) {
    hid_t f = h5_open_read(path);
    if (h5_has_attr(f, "fingerprint") && h5_has_attr(f, "fingerprint_keys")) {
        char *hex = h5_read_attr_str(f, "fingerprint", path);
        snprintf(fp->hex, sizeof fp->hex, "%s", hex);
        free(hex);
        fp->keys = h5_read_attr_str(f, "fingerprint_keys", path);
    }
    h5_close(f);
}

static void from_json(const char *path, Fingerprint *fp) {
    char *text = text_read(path);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *in = cJSON_GetObjectItem(o, "provenance");  // arch.json keeps them there
    if (!cJSON_IsObject(in)) in = o;
    const cJSON *h = cJSON_GetObjectItem(in, "fingerprint"),
                *k = cJSON_GetObjectItem(in, "fingerprint_keys");
    if (cJSON_IsString(h) && cJSON_IsString(k)) {
        snprintf(fp->hex, sizeof fp->hex, "%s", h->valuestring);
        fp->keys = strdup(k->valuestring);
    }
    cJSON_Delete(o);
}

static void from_text(const char *path, Fingerprint *fp) {
    char *text = text_read(path), hex[17];
    const char *keys = text ? strstr(text, "\nkeys:\n") : NULL;
    if (text && keys && sscanf(text, "fingerprint %16s", hex) == 1) {
        snprintf(fp->hex, sizeof fp->hex, "%s", hex);
        fp->keys = strdup(keys + 7);
    }
    free(text);
}

int fp_read(const char *path, Fingerprint *fp) {
    *fp = (Fingerprint){0};
    if (!file_exists(path)) return 0;
    if (ends_with(path, ".h5")) {
        from_h5(path, fp);
    } else if (ends_with(path, ".json")) {
        from_json(path, fp);
    } else if (ends_with(path, ".csv")) {
        char side[1200];
        fp_sidecar_path(path, side, sizeof side);
        from_text(side, fp);
    } else {
        from_text(path, fp);
    }
    if (!fp->keys) fp->hex[0] = 0;
    return fp->hex[0] != 0;
}

void fp_read_hex(const char *path, char hex[17]) {
    Fingerprint fp;
    snprintf(hex, 17, "%s", fp_read(path, &fp) ? fp.hex : "none");
    fp_free(&fp);
}

// The value of line `name = value` in keys, or NULL; *len gets its length.
static const char *value_of(const char *keys, const char *name, size_t nlen, size_t *len) {
    for (const char *p = keys; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l >= nlen + 3 && !strncmp(p, name, nlen) && !strncmp(p + nlen, " = ", 3)) {
            *len = l - nlen - 3;
            return p + nlen + 3;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static void append(char *buf, size_t n, const char *fmt, int nl, const char *name, int vl1,
                   const char *v1, int vl2, const char *v2) {
    size_t at = strlen(buf);
    if (at + 1 < n) snprintf(buf + at, n - at, fmt, at ? "; " : "", nl, name, vl1, v1, vl2, v2);
}

// Every name of `a` whose value differs in (or is missing from) `b`; with both directions
// covered by calling it twice (new names, then the names that went away).
static void diff_one_way(const char *a, const char *b, int a_is_old, char *buf, size_t n) {
    for (const char *p = a; p && *p;) {
        const char *end = strchr(p, '\n'), *eq = strstr(p, " = ");
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (eq && eq < p + l) {
            size_t nl = (size_t)(eq - p), vl = l - nl - 3, ol = 0;
            const char *other = value_of(b, p, nl, &ol);
            if (!other && a_is_old)
                append(buf, n, "%s%.*s %.*s -> (gone)%.*s", (int)nl, p, (int)vl, eq + 3, 0, "");
            else if (!other)
                append(buf, n, "%s%.*s %.*s(new) -> %.*s", (int)nl, p, 0, "", (int)vl, eq + 3);
            else if (!a_is_old && (ol != vl || strncmp(other, eq + 3, vl)))
                append(buf, n, "%s%.*s %.*s -> %.*s", (int)nl, p, (int)ol, other, (int)vl, eq + 3);
        }
        p = end ? end + 1 : NULL;
    }
}

void fp_diff(const char *old_keys, const char *new_keys, char *buf, size_t n) {
    buf[0] = 0;
    diff_one_way(new_keys ? new_keys : "", old_keys ? old_keys : "", 0, buf, n);
    diff_one_way(old_keys ? old_keys : "", new_keys ? new_keys : "", 1, buf, n);
}

void fp_write_text(FILE *f, const char *hex, const char *keys, const char *extra) {
    fprintf(f, "fingerprint %s\n%s%skeys:\n%s", hex, extra ? extra : "",
            extra && extra[0] && extra[strlen(extra) - 1] != '\n' ? "\n" : "", keys);
}

void fp_sidecar_path(const char *csv, char *buf, size_t n) {
    snprintf(buf, n, "%s.fingerprint", csv);
}

void fp_write_json_fields(FILE *f, const char *hex, const char *keys, const char *indent) {
    cJSON *s = cJSON_CreateString(keys);
    char *esc = cJSON_PrintUnformatted(s);
    fprintf(f, "%s\"fingerprint\": \"%s\", \"fingerprint_keys\": %s,\n", indent, hex, esc);
    free(esc);
    cJSON_Delete(s);
}
