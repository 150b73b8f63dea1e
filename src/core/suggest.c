/* suggest.c - see suggest.h. */
#include "suggest.h"

#include <string.h>

/* Edit distance, for "did you mean" (short words only). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 64 || lb >= 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *nnz_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = (size_t)-1, limit = strlen(word) / 3 + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, cands[i]);
        if (d < bd || (d == bd && best && strcmp(cands[i], best) < 0)) {
            bd = d;
            best = cands[i];
        }
    }
    /* a prefix counts too: 'decomp' -> 'decompress' */
    for (size_t i = 0; i < n && bd > limit; i++)
        if (*word && strncmp(cands[i], word, strlen(word)) == 0)
            return cands[i];
    return bd <= limit ? best : NULL;
}
