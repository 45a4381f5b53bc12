/*
 * account.c: tl_venue_parse_account(), the balances of an account.status response.
 *
 * DESIGN
 * The response is read once, at start-up and at reconciliation, never on the hot path, so
 * jsmn's tokens (with parent links, to find each member's object) are enough here; the
 * hand-written scanner in parse.c stays for the messages that come by the thousand.
 * Only "result"."balances" is read: an array of {"asset","free","locked"}, the amounts
 * exact at the asset decimals the parse config names.
 */
#include "tl_venue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define ACCOUNT_TOKENS_MAX 4096

static bool tok_is(const char *js, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);

	return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
	       memcmp(js + t->start, s, n) == 0;
}

/* The index of the token after token i and everything inside it. */
static int skip(const jsmntok_t *t, int n, int i)
{
	int end = t[i].end;

	i++;
	while (i < n && t[i].start < end)
		i++;
	return i;
}

/* The value of member `key` of the object at token obj, or -1. */
static int member(const char *js, const jsmntok_t *t, int n, int obj, const char *key)
{
	if (obj < 0 || t[obj].type != JSMN_OBJECT)
		return -1;
	for (int i = obj + 1, k = 0; i < n && k < t[obj].size; k++) {
		if (tok_is(js, &t[i], key))
			return i + 1 < n ? i + 1 : -1;
		i = skip(t, n, i + 1); /* past the key's value */
	}
	return -1;
}

static int get_amount(const char *js, const jsmntok_t *t, int decimals, int64_t *out)
{
	if (t->type != JSMN_STRING)
		return -EINVAL;
	return tl_md_dec_parse(js + t->start, (size_t)(t->end - t->start), decimals, out);
}

int tl_venue_parse_account(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                           struct tl_venue_account_position *out)
{
	jsmn_parser p;
	jsmntok_t *t;
	int n, result, balances, rc = 0;

	if (!cfg || !json || !out || len > TL_VENUE_MAX_LEN)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	t = malloc(ACCOUNT_TOKENS_MAX * sizeof(*t));
	if (!t)
		return -ENOMEM;
	jsmn_init(&p);
	n = jsmn_parse(&p, json, len, t, ACCOUNT_TOKENS_MAX);
	if (n == JSMN_ERROR_NOMEM) {
		rc = -E2BIG;
		goto out;
	}
	if (n < 1 || t[0].type != JSMN_OBJECT) {
		rc = -EINVAL;
		goto out;
	}
	result = member(json, t, n, 0, "result");
	balances = member(json, t, n, result, "balances");
	if (balances < 0 || t[balances].type != JSMN_ARRAY) {
		rc = -EINVAL;
		goto out;
	}
	for (int i = balances + 1, k = 0; k < t[balances].size; k++, i = skip(t, n, i)) {
		struct tl_venue_balance *b;
		int a = member(json, t, n, i, "asset"), f = member(json, t, n, i, "free"),
		    l = member(json, t, n, i, "locked");
		size_t an;

		if (a < 0 || f < 0 || l < 0 || t[a].type != JSMN_STRING) {
			rc = -EINVAL;
			goto out;
		}
		if (out->n_balances == TL_VENUE_BALANCES_MAX) {
			rc = -E2BIG;
			goto out;
		}
		b = &out->balances[out->n_balances];
		an = (size_t)(t[a].end - t[a].start);
		if (an == 0 || an > TL_VENUE_ASSET_MAX) {
			rc = -EINVAL;
			goto out;
		}
		memcpy(b->asset, json + t[a].start, an);
		b->asset[an] = '\0';
		if ((rc = get_amount(json, &t[f], cfg->asset_decimals, &b->free_units)) ||
		    (rc = get_amount(json, &t[l], cfg->asset_decimals, &b->locked_units)))
			goto out;
		out->n_balances++;
	}
out:
	free(t);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
