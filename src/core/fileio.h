/* fileio.h - reading whole inputs and writing outputs atomically.
 *
 * Outputs go to a temporary file in the destination folder, named
 * `.DEST.nnzip-tmp.PID` so a user who finds one after a crash knows what it
 * is; `nnz_out_commit` renames it over the destination. On any failure
 * `nnz_out_abort` removes it, so the destination is never half-written and
 * an existing file there is untouched. "-" means stdin / stdout.
 *
 * The output rule (docs/security.md), in one place for every command:
 * - a file this process read (the input, its external data, a config) is
 *   never written: every reader records the file's device and inode;
 * - an existing regular file is replaced only with NNZ_OUT_FORCE (-f);
 * - a character device or FIFO (-o /dev/null, -o >(cmd)) is written
 *   through, once the whole output is ready; a symbolic link, a block
 *   device, a socket or a folder is refused;
 * - SIGINT, SIGTERM and SIGHUP remove every temporary file before the
 *   process dies of the signal (exit status 128+N). */
#ifndef NNZ_CORE_FILEIO_H
#define NNZ_CORE_FILEIO_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Read a whole regular file (or "-" for stdin). The caller frees *data.
 * The file is recorded as an input (nnz_input_note). */
int nnz_read_file(const char *path, uint8_t **data, size_t *len, nnz_error *e);

/* Record an open file (by fd) or a path as an input of this run: no output
 * may be written over it. Unknown paths are ignored. Returns -1 only when
 * memory runs out (then every later output is refused: fail closed). */
int nnz_input_note_fd(int fd);
int nnz_input_note(const char *path);

/* Output flags. */
#define NNZ_OUT_BINARY 1u /* refuse to write to a terminal */
#define NNZ_OUT_FORCE 2u  /* an existing regular file may be replaced */

typedef struct nnz_out {
    FILE *f;
    char *dest;     /* final path, NULL for stdout */
    char *tmp;      /* temporary path (NULL when f is an anonymous tmpfile) */
    int through;    /* 'c' device or 'p' FIFO: f is copied into it at commit */
    int replace;    /* dest existed (and NNZ_OUT_FORCE allowed replacing it) */
    int slot;       /* 1 + its place in the list signals clean up; 0 none */
} nnz_out;

/* Open an output under the output rule above. `input` (may be NULL or "-")
 * is recorded as an input first; `flags` are NNZ_OUT_*. */
int nnz_out_open(nnz_out *o, const char *dest, const char *input, unsigned flags,
                 nnz_error *e);
/* The same checks without opening anything: a command that writes several
 * outputs checks them all before doing work for the first. */
int nnz_out_check(const char *dest, const char *input, unsigned flags, nnz_error *e);
/* Flush, fsync, rename into place (or copy to stdout / the device). */
int nnz_out_commit(nnz_out *o, nnz_error *e);
/* Remove the temporary file; safe to call twice or after commit. */
void nnz_out_abort(nnz_out *o);

/* The temporary name an output at `dest` uses (the caller frees). */
char *nnz_out_tmp_name(const char *dest, nnz_error *e);

/* The folder part of `path` ("." when it has none); the caller frees. */
char *nnz_path_dir(const char *path, nnz_error *e);

/* Remove the temporary files a killed run left in the folder of `dest`. */
void nnz_out_clean_stale(const char *dest);

/* Remove the folder `dir` and everything in it (a temporary folder of
 * ours), without following symbolic links; NULL: nothing. 0, or -1 when
 * something could not be removed. */
int nnz_remove_tree(const char *dir);

#endif
