// Fuzz target: the CIFAR-10 binary reader (cifar10_read: records of a label byte and 3072
// pixel bytes, files concatenated) and the label check of an import. Input: a flag byte
// (bit 0: split the rest into two files at the record size; bits 1..: classes), the bytes.
#include "fuzz.h"
#include "io/dataset.h"

typedef struct Args {
    const char *files[2];
    int nfiles, classes;
} Args;

static void read_all(void *arg) {
    const Args *a = arg;
    Split s = cifar10_read(a->files, a->nfiles);
    split_check_labels(&s, a->classes, a->files[0]);
    split_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    if (size < 1) return 0;
    int flags = data[0];
    data++, size--;
    char p0[300], p1[300];
    fuzz_path(p0, sizeof p0, "data_batch_1.bin");
    fuzz_path(p1, sizeof p1, "data_batch_2.bin");
    size_t cut = (flags & 1) && size > 3073 ? 3073 : size;
    fuzz_write(p0, data, cut);
    fuzz_write(p1, data + cut, size - cut);
    Args a = {{p0, p1}, (flags & 1) ? 2 : 1, 1 + (flags >> 1)};
    fuzz_call(read_all, &a);
    return 0;
}
