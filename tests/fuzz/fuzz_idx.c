// Fuzz target: the IDX reader (idx_read; MNIST / Fashion-MNIST files, gzip or plain) and the
// label check of an import. Input: a flag byte (bit 0: the harness gzips the images file,
// bit 1: the labels file; raw bytes starting with the gzip magic exercise zlib's stream
// parsing as well), a 16-bit length of the images part, the images file, the labels file.
#include <stdlib.h>
#include <zlib.h>

#include "fuzz.h"
#include "io/dataset.h"

typedef struct Args {
    const char *img, *lab;
    int classes;
} Args;

static void read_both(void *arg) {
    const Args *a = arg;
    Split s = idx_read(a->img, a->lab);
    split_check_labels(&s, a->classes, a->lab);
    split_free(&s);
}

static void put(const char *path, const uint8_t *d, size_t n, int gz) {
    if (!gz) {
        fuzz_write(path, d, n);
        return;
    }
    gzFile g = gzopen(path, "wb");
    if (n) gzwrite(g, d, (unsigned)n);
    gzclose(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    if (size < 3) return 0;
    int flags = data[0];
    size_t ni = (size_t)data[1] << 8 | data[2];
    data += 3, size -= 3;
    if (ni > size) ni = size;
    char img[300], lab[300];
    fuzz_path(img, sizeof img, "images-idx3-ubyte");
    fuzz_path(lab, sizeof lab, "labels-idx1-ubyte");
    put(img, data, ni, flags & 1);
    put(lab, data + ni, size - ni, flags & 2);
    Args a = {img, lab, 1 + (flags >> 2)};
    fuzz_call(read_both, &a);
    return 0;
}
