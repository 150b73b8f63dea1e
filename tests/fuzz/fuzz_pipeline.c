/* fuzz_pipeline.c - libFuzzer harness for the pipeline parser and the
 * JSON config parser: the first byte picks which; the rest is the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pass.h"

static char config_path[64];

static void remove_config(void)
{
    unlink(config_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    nnz_pipeline p;
    nnz_error e = { 0 };
    int rc;
    if (data[0] & 1) {
        rc = nnz_pipeline_parse(text, &p, &e);
    } else {
        char *path = config_path;
        if (!path[0]) {
            snprintf(config_path, sizeof config_path, "/tmp/nnz-fuzz-config.%ld.json",
                     (long)getpid());
            atexit(remove_config);
        }
        FILE *f = fopen(path, "wb");
        if (!f) {
            free(text);
            return 0;
        }
        fwrite(text, 1, size - 1, f);
        fclose(f);
        rc = nnz_config_load(path, &p, &e);
    }
    if (rc == 0) {
        cJSON *j = nnz_pipeline_to_json(&p);
        char *s = cJSON_PrintUnformatted(j);
        free(s);
        cJSON_Delete(j);
        nnz_pipeline_free(&p);
    }
    free(text);
    return 0;
}
