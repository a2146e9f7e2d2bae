/*
 * fuzz_tokens: common/tokens.h, the parser of API_TOKENS (outside input:
 * configuration) and the check every API request makes against it. The
 * input is the value up to its first NUL byte.
 *
 * Invariants, against a reference parser written here from tokens.h:
 *  - tokens_parse accepts exactly what the reference accepts; entries are
 *    split on ';' (empty ones skipped), the token from its tenants at the
 *    first ':', tenants on ',' with surrounding spaces trimmed;
 *  - a refusal names API_TOKENS, and blanking every byte of the value that
 *    is not a separator gives the same message: no message quotes a token;
 *  - on acceptance, every token may act for each of its tenants (for any
 *    tenant with '*'), for no other tenant, and a token that is not listed
 *    is unknown; a token listed twice has its last entry's tenants.
 */
#include "../../common/tokens.h"
#include "fuzz.h"

#define MAX_REF 64

struct ref_entry {
	char *token;
	char *tenants[MAX_REF];
	size_t n;
};

/* Pieces of s between separator sep, skipping empty ones (strtok's rule). */
static char *next_piece(char **s, char sep)
{
	while (**s == sep)
		(*s)++;
	if (!**s)
		return NULL;
	char *start = *s, *end = strchr(start, sep);
	if (end) {
		*end = '\0';
		*s = end + 1;
	} else {
		*s = start + strlen(start);
	}
	return start;
}

/* 1 accepted, 0 refused; entries filled on acceptance (at most MAX_REF). */
static int ref_parse(char *spec, struct ref_entry *ents, size_t *n, bool *too_many)
{
	char *e;
	*n = 0;
	*too_many = false;
	while ((e = next_piece(&spec, ';'))) {
		while (*e == ' ')
			e++;
		if (!*e)
			continue;
		char *colon = strchr(e, ':');
		if (!colon || colon == e || !colon[1])
			return 0;
		*colon = '\0';
		struct ref_entry cur = {.token = e};
		char *rest = colon + 1, *t;
		while ((t = next_piece(&rest, ','))) {
			while (*t == ' ')
				t++;
			size_t l = strlen(t);
			while (l && t[l - 1] == ' ')
				t[--l] = '\0';
			if (!l)
				continue;
			if (cur.n < MAX_REF)
				cur.tenants[cur.n] = t;
			else
				*too_many = true;
			cur.n++;
		}
		if (!cur.n)
			return 0;
		if (*n < MAX_REF)
			ents[*n] = cur;
		else
			*too_many = true;
		(*n)++;
	}
	return 1;
}

/* The last entry for token, as tokens_check uses it. */
static const struct ref_entry *ref_find(const struct ref_entry *ents, size_t n, const char *token)
{
	const struct ref_entry *hit = NULL;
	for (size_t i = 0; i < n && i < MAX_REF; i++)
		if (!strcmp(ents[i].token, token))
			hit = &ents[i];
	return hit;
}

static bool ref_allows(const struct ref_entry *e, const char *tenant)
{
	for (size_t i = 0; i < e->n && i < MAX_REF; i++)
		if (!strcmp(e->tenants[i], "*") || !strcmp(e->tenants[i], tenant))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = fuzz_strndup(data, size);
	char *work = fuzz_strndup(data, size);
	struct ref_entry ents[MAX_REF];
	size_t n;
	bool too_many;
	struct tokens *t = NULL;
	struct mem_error err = {0};

	int want = ref_parse(work, ents, &n, &too_many);
	int rc = tokens_parse(spec, &t, &err);
	CHECK((rc == 0) == (want == 1), "tokens_parse %s '%s', the reference %s it",
	      rc == 0 ? "accepts" : "refuses", spec, want ? "accepts" : "refuses");
	if (rc < 0) {
		CHECK(!t && err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "API_TOKENS"),
		      "a refusal without a proper error");
		char *blind = fuzz_strndup(data, size);
		for (char *p = blind; *p; p++)
			if (*p != ';' && *p != ':' && *p != ',' && *p != ' ')
				*p = 'x';
		struct tokens *t2 = NULL;
		struct mem_error e2 = {0};
		CHECK(tokens_parse(blind, &t2, &e2) == -1 && !strcmp(err.message, e2.message),
		      "the message depends on the tokens: '%s' for '%s', '%s' for '%s'",
		      err.message, spec, e2.message, blind);
		free(blind);
		goto out;
	}
	CHECK(tokens_empty(t) == (n == 0), "tokens_empty is %d for %zu entries", tokens_empty(t),
	      n);
	if (too_many)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct ref_entry *e = ref_find(ents, n, ents[i].token);
		for (size_t k = 0; k < ents[i].n; k++) {
			const char *tenant = ents[i].tenants[k];
			enum token_verdict v = tokens_check(t, ents[i].token, tenant);
			enum token_verdict w =
			    ref_allows(e, tenant) ? TOKEN_OK : TOKEN_WRONG_TENANT;
			CHECK(v == w, "token '%s' for tenant '%s': %d, want %d", ents[i].token,
			      tenant, v, w);
		}
		char other[600];
		snprintf(other, sizeof(other), "%s\x01not-listed", ents[i].tenants[0]);
		CHECK(tokens_check(t, ents[i].token, other) ==
		          (ref_allows(e, other) ? TOKEN_OK : TOKEN_WRONG_TENANT),
		      "token '%s' acts for unlisted tenant '%s'", ents[i].token, other);
		snprintf(other, sizeof(other), "%s\x01", ents[i].token);
		CHECK(tokens_check(t, other, "t") ==
		          (ref_find(ents, n, other) ? tokens_check(t, other, "t") : TOKEN_UNKNOWN),
		      "an unlisted token '%s' is known", other);
		CHECK(secret_equal(ents[i].token, ents[i].token), "a secret differs from itself");
	}
out:
	tokens_free(t);
	free(spec);
	free(work);
	return 0;
}
