/* suggest.h - "did you mean": the closest of a few names to a misspelt one
 * (commands, passes, a pass's option keys). */
#ifndef NNZ_CORE_SUGGEST_H
#define NNZ_CORE_SUGGEST_H

#include <stddef.h>

/* The candidate closest to `word` by edit distance (at most a third of its
 * length, plus one), or the first that `word` is a prefix of; NULL when
 * none is close. */
const char *nnz_suggest(const char *word, const char *const *cands, size_t n);

#endif
