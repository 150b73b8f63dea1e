/* cli.h - what the subcommands share: messages, JSON output, mapped files. */
#ifndef NNZ_CLI_CLI_H
#define NNZ_CLI_CLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "nnz.h"

#define NNZIP_VERSION NNZ_RUNTIME_VERSION

/* Global switches every subcommand honours. */
typedef struct cli_opts {
    int quiet;   /* no messages but errors */
    int verbose; /* per-tensor detail */
    int force;   /* -f: outputs may replace existing files */
} cli_opts;
extern cli_opts g_cli;

/* Print `nnzip: MESSAGE` on stderr; return the error's exit code. */
int cli_report(const nnz_error *e);
/* A usage error: message, a hint to --help, exit code 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note on stderr unless --quiet. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a JSON document on stdout (one line per document, fixed key order
 * as built) and free it. Returns 0, or the exit code of a failed write
 * (NNZ_EXIT_OUTPUT, with a message). */
int cli_print_json(cJSON *doc);

/* Text from a file (a tensor name, a producer string) made safe for a
 * terminal: control characters, C1 controls and invalid UTF-8 become
 * \xNN, so a model or blob cannot move the cursor or forge a line. */
void cli_escape(char *out, size_t cap, const char *in);
/* The same into one of 8 rotating static buffers (printf arguments);
 * longer text is cut with "...". */
const char *cli_esc(const char *s);

/* The usage error for the option getopt_long just refused: `c` is what it
 * returned (':' a value is missing: option strings start with ':', '?'
 * unknown). Names the option once. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* The output name a command uses without -o, as gzip and zstd do: `in`
 * with its `from` suffix (if it has it) replaced by `to`, e.g. model.onnx
 * -> model.nnz, written into buf. NULL for stdin or a name too long. */
const char *cli_default_output(char *buf, size_t cap, const char *in, const char *from,
                               const char *to);

/* Print `text` word-wrapped at 80 columns and a newline: its first line
 * goes on from column `col` (what the line already holds), the others
 * start at column `indent`. For --help text built from tables. */
void cli_wrap(FILE *f, int col, int indent, const char *text);

/* Print a report's warnings on stderr: those about single tensors that
 * say the same thing as one line with a count and the first names. */
void cli_print_warnings(const cJSON *warnings);

/* Output flags (fileio.h NNZ_OUT_*) with -f applied. */
unsigned cli_out_flags(unsigned flags);

/* A read-only file image: mapped when it is a regular file. */
typedef struct cli_file {
    const uint8_t *data;
    size_t size;
    int mapped;
} cli_file;
int cli_file_open(cli_file *f, const char *path, nnz_error *e);
void cli_file_close(cli_file *f);
/* Let the kernel drop the pages of a mapped file read so far (they are read
 * again if touched): keeps memory bounded while a large blob streams by. */
void cli_file_drop(const cli_file *f);

/* Is this a .nnz blob (by its magic)? */
int cli_is_blob(const uint8_t *data, size_t size);

/* A runtime status in words for people (longer than nnz_strerror's). */
const char *cli_status_msg(nnz_status st);
/* Turn a failed nnz_open of `data` into a message; returns -1. */
int cli_blob_error(nnz_error *e, const char *path, const uint8_t *data, const nnz_blob *b,
                   nnz_status st);
/* nnz_open on an opened file, checking a mapped payload's CRC in pieces
 * so memory stays bounded. */
nnz_status cli_blob_check(const cli_file *f, nnz_blob *b, unsigned flags);
/* Open a blob file into `b`; a runtime status becomes a message. */
int cli_blob_open(cli_file *f, nnz_blob *b, const char *path, unsigned flags, nnz_error *e);

/* Refuse (exit 3, naming the limit) a blob whose declared sizes pass the
 * decoding limits of nnz_limits.h or protobuf's, before anything is
 * allocated or written for it (docs/security.md). cli_onnx_from_blob calls
 * it first; so must any other caller of cli_rebuild. */
int cli_blob_limits(const nnz_blob *b, const char *path, nnz_error *e);

/* Load an ONNX model from an opened file (external data resolved beside
 * `path`). */
struct nnz_model;
int cli_model_from_file(const cli_file *f, const char *path, struct nnz_model **m, nnz_error *e);
/* Load an ONNX model by path. */
int cli_model_load(const char *path, struct nnz_model **m, nnz_error *e);

/* Rebuild the model bytes of an opened blob through the runtime, checked
 * to be a valid ModelProto; the caller frees *bytes. */
int cli_rebuild(const nnz_blob *b, const char *name, uint8_t **bytes, size_t *len, nnz_error *e);
/* Write the ONNX model in a blob file to `onnx_path` (float weights, or
 * QDQ with `qdq`); `input` is never overwritten. With `qdq`, `qdq_report`
 * (an array, may be NULL) gets what each compressed tensor became. */
int cli_onnx_from_blob(const char *blob_path, const char *onnx_path, const char *input, int qdq,
                       cJSON *qdq_report, nnz_error *e);
/* Print a QDQ report on stderr: a summary line, a warning for each reason
 * a tensor was not given its quantized form, and with -v a line a tensor. */
void cli_qdq_report_text(const char *onnx_path, const cJSON *qdq_report);

/* Compress a loaded model through pipeline p into the seekable stream f
 * (the blob); *report gets compress's JSON report (docs/cli.md). With
 * `external` (or a model past 2 GiB) the rebuilt model's large weights go
 * to an external data file. With target_rel_error > 0 (and an empty p),
 * each weight gets the smallest of a built-in set of pipelines that keeps
 * its relative L2 error within the target. `full_metadata` puts the
 * per-tensor report (name, encoding, errors) in the blob's metadata; by
 * default it holds only the pipeline, tool and source (docs/FORMAT.md).
 * `graph_raw` stores the graph section as it is, never compressed. */
struct nnz_pipeline;
int cli_compress(struct nnz_model *m, struct nnz_pipeline *p, FILE *f, const char *in,
                 const char *out, int external, double target_rel_error, int full_metadata,
                 int graph_raw, cJSON **report, nnz_error *e);

/* A placeholder of an --eval template: `key` ("{onnx}") becomes `value`,
 * shell-quoted unless `bare`; `env` (may be NULL) names an environment
 * variable that also holds it. */
typedef struct cli_eval_var {
    const char *key, *value, *env;
    int bare;
} cli_eval_var;

/* Run the user's evaluation command `tmpl` (it may also read the values
 * from the environment);
 * *metric is the last number it prints on stdout. A command that fails or
 * prints no number: NNZ_EXIT_VERIFY, with its last stderr line. */
int cli_eval(const char *tmpl, const cli_eval_var *vars, size_t nvars, double *metric,
             nnz_error *e);

/* Parse a non-negative number; -1 if `s` is not one. */
int cli_parse_double(const char *s, double *v);

/* Subcommands: argc/argv start at the subcommand's name. */
int cmd_info(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
