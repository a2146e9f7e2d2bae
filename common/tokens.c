#include "tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct token_entry {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char **tenants; /* NULL-terminated; {"*"} for any */
	size_t entry;   /* its place in the value, from 1 */
	int weak;       /* 0, or why tokens_check_secret refuses it (enum weakness) */
};

enum weakness { STRONG, WEAK_BLANK, WEAK_SHORT, WEAK_PLACEHOLDER };

static enum weakness weakness(const char *token)
{
	bool blank = true;
	for (const char *c = token; *c; c++)
		if (!strchr(" \t\r\n\v\f", *c))
			blank = false;
	if (blank)
		return WEAK_BLANK;
	if (!strncmp(token, "CHANGE_ME", 9))
		return WEAK_PLACEHOLDER;
	if (strlen(token) < TOKENS_MIN_BYTES)
		return WEAK_SHORT;
	return STRONG;
}

static int weak_fail(enum weakness w, const char *variable, const char *what, struct mem_error *err)
{
	switch (w) {
	case STRONG:
		break;
	case WEAK_BLANK:
		return mem_fail(err, MEM_EINVALID_FIELD, variable,
		                "%s is empty or blank: set a secret token, or unset %s", what,
		                variable);
	case WEAK_PLACEHOLDER:
		return mem_fail(err, MEM_EINVALID_FIELD, variable,
		                "%s is a placeholder (CHANGE_ME...): set a secret of your own, for "
		                "example openssl rand -hex 32",
		                what);
	case WEAK_SHORT:
		return mem_fail(err, MEM_EINVALID_FIELD, variable,
		                "%s is shorter than %d bytes: use a random secret, for example "
		                "openssl rand -hex 32",
		                what, TOKENS_MIN_BYTES);
	}
	return 0;
}

int tokens_check_secret(const char *token, const char *variable, const char *what,
                        struct mem_error *err)
{
	return weak_fail(weakness(token), variable, what, err);
}

struct tokens {
	struct token_entry *v;
	size_t n;
};

int tokens_check_strength(const struct tokens *t, struct mem_error *err)
{
	if (tokens_empty(t))
		return mem_fail(err, MEM_EINVALID_FIELD, "API_TOKENS",
		                "the value is empty or blank: list TOKEN:TENANT entries, or unset "
		                "API_TOKENS for an open API");
	for (size_t i = 0; i < t->n; i++) {
		char what[40];
		snprintf(what, sizeof(what), "the token of entry %zu", t->v[i].entry);
		if (weak_fail((enum weakness)t->v[i].weak, "API_TOKENS", what, err) < 0)
			return -1;
	}
	return 0;
}

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
		te->entry = entry;
		te->weak = (int)weakness(e);
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
