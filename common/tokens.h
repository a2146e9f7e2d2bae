/*
 * tokens: bearer tokens and the tenants each may act for (API_TOKENS).
 *
 *   API_TOKENS="tok-acme-7f3c9b2e41d8:acme,acme-staging;tok-ops-5a1e0c7d92b4:*"
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
/*
 * A bearer token worth the name: at least TOKENS_MIN_BYTES, not blank and not
 * a placeholder (CHANGE_ME...). -1 and err, naming variable and saying why
 * (never quoting the token), otherwise 0. what says which token ("entry 2").
 */
#define TOKENS_MIN_BYTES 16
int tokens_check_secret(const char *token, const char *variable, const char *what,
                        struct mem_error *err) MEM_MUST_CHECK;
/* -1 and err when an entry of t (as parsed) has a token tokens_check_secret refuses. */
int tokens_check_strength(const struct tokens *t, struct mem_error *err) MEM_MUST_CHECK;
bool tokens_empty(const struct tokens *t);

enum token_verdict { TOKEN_OK, TOKEN_UNKNOWN, TOKEN_WRONG_TENANT };
/* Is token (NUL-terminated) known, and may it act for tenant? */
enum token_verdict tokens_check(const struct tokens *t, const char *token, const char *tenant);
/* Constant-time equality of two NUL-terminated secrets. */
bool secret_equal(const char *a, const char *b);

#endif
