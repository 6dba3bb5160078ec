// Fuzz target: the score and truth CSVs of `dna rank` (csv_column_read): the "score" column
// and the "top1" column of the same bytes.
#include "fuzz.h"
#include "io/csvcol.h"

typedef struct Args {
    const char *path, *col;
} Args;

static void read_col(void *arg) {
    const Args *a = arg;
    CsvColumn c;
    csv_column_read(a->path, a->col, &c);
    csv_column_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    char path[300];
    fuzz_path(path, sizeof path, "scores.csv");
    fuzz_write(path, data, size);
    Args s = {path, "score"}, t = {path, "top1"};
    fuzz_call(read_col, &s);
    fuzz_call(read_col, &t);
    return 0;
}
