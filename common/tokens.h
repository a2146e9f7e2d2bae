/*
 * tokens: bearer tokens and the tenants each may act for (API_TOKENS).
 *
 *   API_TOKENS="tok-acme:acme,acme-staging;tok-ops:*"
 *
 * Entries are separated by ';', a token from its tenants by the first ':',
 * tenants by ','; '*' means any tenant. Tokens are compared in constant time
 * (SHA-256 of both sides, CRYPTO_memcmp, every entry visited) and are never
 * logged or echoed.
 */
#ifndef MEMORYD_TOKENS_H
#define MEMORYD_TOKENS_H

#include <stdbool.h>

#include "error.h"

struct tokens;

/* NULL spec or "" gives an empty table. -1 and err (naming API_TOKENS, never
 * quoting a token) when spec is malformed. *out: free with tokens_free. */
int tokens_parse(const char *spec, struct tokens **out, struct mem_error *err) MEM_MUST_CHECK;
void tokens_free(struct tokens *t);
bool tokens_empty(const struct tokens *t);

enum token_verdict { TOKEN_OK, TOKEN_UNKNOWN, TOKEN_WRONG_TENANT };
/* Is token (NUL-terminated) known, and may it act for tenant? */
enum token_verdict tokens_check(const struct tokens *t, const char *token, const char *tenant);
/* Constant-time equality of two NUL-terminated secrets. */
bool secret_equal(const char *a, const char *b);

#endif
