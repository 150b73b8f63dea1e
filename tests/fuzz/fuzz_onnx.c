/* fuzz_onnx.c - libFuzzer harness for the ONNX loader: bytes -> IR, with
 * external data resolved inside a sandbox folder that holds one data file;
 * then what every command does with a loaded model: list and read every
 * tensor, pack it (as convert does) and build a blob graph (as compress). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "model.h"
#include "save.h"

static char dir[64];

static void remove_sandbox(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    unlink(path);
    rmdir(dir);
}

static const char *sandbox(void)
{
    if (!dir[0]) {
        atexit(remove_sandbox);
        snprintf(dir, sizeof dir, "/tmp/nnz-fuzz-onnx.%ld", (long)getpid());
        mkdir(dir, 0700);
        char path[128];
        snprintf(path, sizeof path, "%s/w.bin", dir); /* what "w.bin" references find */
        FILE *f = fopen(path, "wb");
        if (f) {
            for (int i = 0; i < 4096; i++)
                fputc(i * 7, f);
            fclose(f);
        }
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnz_model *m = NULL;
    nnz_error e = { 0 };
    if (nnz_model_load_bytes(data, size, "fuzz.onnx", sandbox(), &m, &e) != 0)
        return 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        nnz_tensor *t = &m->tensors[i];
        nnz_tensor_channel_axis(t);
        if (t->nbytes <= (1u << 20) && nnz_dtype_is_float(t->dtype))
            free(nnz_tensor_floats(m, t, &e));
    }
    FILE *f = fopen("/dev/null", "wb");
    if (f) {
        nnz_model_write(m, f, &e);
        fclose(f);
    }
    f = tmpfile();
    if (f) {
        nnz_blob_stats st;
        if (nnz_blob_write(m, NULL, f, &st, &e) == 0) {
            free(st.tensor_bytes);
            free(st.is_entry);
            free(st.alias_of);
            free(st.table_of);
            free(st.shared_coding);
            free(st.payload_len);
        }
        fclose(f);
    }
    nnz_model_free(m);
    return 0;
}
