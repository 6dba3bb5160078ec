// One column of a CSV file keyed by its "id" column (`dna rank --scores/--truth`): a header
// row naming the columns, then one row per item; no quoting (ids and numbers need none).
// Every problem is fatal and names the file and line.
#pragma once

enum { CSV_ID = 64 };  // longest id kept, with its NUL

typedef struct CsvColumn {
    long n;
    char (*id)[CSV_ID];
    double *v;
} CsvColumn;

// Column `col` of the CSV at path (finite numbers), at least 3 rows.
void csv_column_read(const char *path, const char *col, CsvColumn *out);
void csv_column_free(CsvColumn *c);
