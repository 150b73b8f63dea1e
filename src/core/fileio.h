/* fileio.h - reading whole inputs and writing outputs atomically.
 *
 * Outputs go to a temporary file in the destination folder, named
 * `.DEST.nnzip-tmp.PID` so a user who finds one after a crash knows what it
 * is; `nnz_out_commit` renames it over the destination. On any failure
 * `nnz_out_abort` removes it, so the destination is never half-written and
 * an existing file there is untouched. "-" means stdin / stdout. */
#ifndef NNZ_CORE_FILEIO_H
#define NNZ_CORE_FILEIO_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Read a whole regular file (or "-" for stdin). The caller frees *data. */
int nnz_read_file(const char *path, uint8_t **data, size_t *len, nnz_error *e);

typedef struct nnz_out {
    FILE *f;
    char *dest;     /* final path, NULL for stdout */
    char *tmp;      /* temporary path */
} nnz_out;

/* Open an output. Refuses to write over `input` (same file) and, for
 * binary outputs to stdout, a terminal. */
int nnz_out_open(nnz_out *o, const char *dest, const char *input, int binary,
                 nnz_error *e);
/* Flush, fsync, rename into place. */
int nnz_out_commit(nnz_out *o, nnz_error *e);
/* Remove the temporary file; safe to call twice or after commit. */
void nnz_out_abort(nnz_out *o);

/* The temporary name an output at `dest` uses (the caller frees). */
char *nnz_out_tmp_name(const char *dest, nnz_error *e);

/* The folder part of `path` ("." when it has none); the caller frees. */
char *nnz_path_dir(const char *path, nnz_error *e);

/* Remove the temporary files a killed run left in the folder of `dest`. */
void nnz_out_clean_stale(const char *dest);

#endif
