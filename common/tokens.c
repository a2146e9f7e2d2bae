#include "tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct token_entry {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char **tenants; /* NULL-terminated; {"*"} for any */
};

struct tokens {
	struct token_entry *v;
	size_t n;
};

static void digest(const char *s, unsigned char out[SHA256_DIGEST_LENGTH])
{
	SHA256((const unsigned char *)s, strlen(s), out);
}

bool secret_equal(const char *a, const char *b)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
	digest(a, da);
	digest(b, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

void tokens_free(struct tokens *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		for (char **p = t->v[i].tenants; p && *p; p++)
			free(*p);
		free(t->v[i].tenants);
	}
	free(t->v);
	free(t);
}

bool tokens_empty(const struct tokens *t)
{
	return !t || t->n == 0;
}

int tokens_parse(const char *spec, struct tokens **out, struct mem_error *err)
{
	struct tokens *t = xcalloc(1, sizeof(*t));
	char *copy = xstrdup(spec ? spec : "");
	char *save = NULL;
	int ret = -1;
	size_t entry = 0;

	*out = NULL;
	for (char *e = strtok_r(copy, ";", &save); e; e = strtok_r(NULL, ";", &save)) {
		entry++;
		while (*e == ' ')
			e++;
		if (!*e)
			continue;
		char *colon = strchr(e, ':');
		if (!colon || colon == e || !colon[1]) {
			mem_fail(
			    err, MEM_EINVALID_FIELD, "API_TOKENS",
			    "API_TOKENS entry %zu is invalid: expected TOKEN:TENANT[,TENANT...] or "
			    "TOKEN:*",
			    entry);
			goto out;
		}
		*colon = '\0';
		t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
		struct token_entry *te = &t->v[t->n++];
		memset(te, 0, sizeof(*te));
		digest(e, te->digest);
		size_t nt = 0;
		char *save2 = NULL;
		for (char *tn = strtok_r(colon + 1, ",", &save2); tn;
		     tn = strtok_r(NULL, ",", &save2)) {
			while (*tn == ' ')
				tn++;
			size_t l = strlen(tn);
			while (l && tn[l - 1] == ' ')
				tn[--l] = '\0';
			if (!l)
				continue;
			te->tenants = xrealloc(te->tenants, (nt + 2) * sizeof(char *));
			te->tenants[nt++] = xstrdup(tn);
			te->tenants[nt] = NULL;
		}
		if (!nt) {
			mem_fail(err, MEM_EINVALID_FIELD, "API_TOKENS",
			         "API_TOKENS entry %zu names no tenant", entry);
			goto out;
		}
	}
	*out = t;
	t = NULL;
	ret = 0;
out:
	tokens_free(t);
	free(copy);
	return ret;
}

enum token_verdict tokens_check(const struct tokens *t, const char *token, const char *tenant)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	const struct token_entry *hit = NULL;
	digest(token, d);
	/* Visit every entry so the time taken does not tell which matched. */
	for (size_t i = 0; t && i < t->n; i++)
		if (CRYPTO_memcmp(d, t->v[i].digest, sizeof(d)) == 0)
			hit = &t->v[i];
	if (!hit)
		return TOKEN_UNKNOWN;
	for (char **p = hit->tenants; *p; p++)
		if (!strcmp(*p, "*") || !strcmp(*p, tenant))
			return TOKEN_OK;
	return TOKEN_WRONG_TENANT;
}
