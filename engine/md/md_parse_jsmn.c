/*
 * md_parse_jsmn.c: tl_md_parse_jsmn(), the same contract as the scanner, on jsmn's
 * tokens. It exists to cross-check the scanner (tests, fuzzing) with an independent way
 * of finding the values; the meaning of the values is shared (md_internal.h).
 *
 * DESIGN. jsmn is a tokenizer, not a validator: even in strict mode it accepts
 * {"a":1 "b":2}, [1,,2], [1,] and numbers such as 1.2.3. So after jsmn, validate() walks
 * the tokens and the text between them and checks every byte against the JSON grammar:
 * each token must start exactly where the grammar wants the next value or key, the gaps
 * may hold only whitespace and the one expected ',' ':' or closing bracket, strings and
 * primitives are re-lexed with the scanner's own lexers, and nesting is limited to
 * TL_MD_MAX_DEPTH. What passes is exactly what the scanner accepts. Then walk_object()
 * feeds the (key, value) pairs in document order to the shared slot rules.
 *
 * JSMN_PARENT_LINKS keeps jsmn linear: without it, closing a bracket searches back over
 * all earlier tokens, which is quadratic on a 5000-level snapshot. JSMN_STRICT makes it
 * reject what it can by itself.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "md_internal.h"

#include <limits.h>

size_t md_jsmn_pool_bytes(uint32_t n)
{
	return (size_t)n * sizeof(jsmntok_t);
}

/*
 * True when the brackets outside strings nest at most TL_MD_MAX_DEPTH deep. jsmn closes a
 * bracket by walking parent links up from the last token, which is quadratic in the
 * nesting depth ([[[[...]]]] of 100k brackets takes seconds), so deep input is refused
 * before jsmn sees it. For valid JSON this depth is the true one, and what it refuses is
 * refused by the scanner too; on invalid JSON any answer is -EBADMSG either way.
 */
static bool depth_ok(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		char c = *p++;

		if (c == '"') {
			/* Skip the string, escapes whole: an escaped quote does not end it. */
			while (p < end && *p != '"')
				p += *p == '\\' && end - p >= 2 ? 2 : 1;
			if (p < end)
				p++;
		} else if (c == '[' || c == '{') {
			if (++depth > TL_MD_MAX_DEPTH)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return true;
}

/* The index of the token after the subtree rooted at i. An object's size counts its keys
 * and each key's size is 1 (its value), so counting pending children works for both. */
static int tok_next(const jsmntok_t *t, int i)
{
	int pending = 1;

	while (pending > 0) {
		pending += t[i].size - 1;
		i++;
	}
	return i;
}

/* Where the token's text starts: a string token's start is past its quote. */
static int tok_ostart(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

/* Checks that the n tokens describe the whole of js[0..len) as one valid JSON value.
 * Returns 0 or -1. */
static int validate(const char *js, size_t len, const jsmntok_t *t, int n)
{
	struct {
		int end;  /* offset past the closing bracket */
		int left; /* members or elements still to come */
		bool obj;
	} st[TL_MD_MAX_DEPTH];
	const char *const end = js + len;
	const char *p = js, *q;
	int sp = 0, i = 0;
	bool esc;
	uint8_t jt;
	int64_t v;
	int32_t err;

value:
	p = tl_json_ws(p, end);
	if (i >= n || p != js + tok_ostart(&t[i]))
		return -1;
	switch (t[i].type) {
	case JSMN_STRING:
		q = tl_json_string_end(p + 1, end, &esc);
		if (q == NULL || q != js + t[i].end + 1)
			return -1;
		break;
	case JSMN_PRIMITIVE:
		if (*p == 't' || *p == 'f' || *p == 'n')
			q = md_literal(p, end, &jt);
		else if (*p == '-' || (unsigned)(*p - '0') <= 9)
			q = md_number(p, end, &jt, &v, &err);
		else
			return -1;
		if (q == NULL || q != js + t[i].end)
			return -1;
		break;
	case JSMN_OBJECT:
	case JSMN_ARRAY:
		if (sp == TL_MD_MAX_DEPTH || t[i].end < 0)
			return -1;
		st[sp].end = t[i].end;
		st[sp].left = t[i].size;
		st[sp].obj = t[i].type == JSMN_OBJECT;
		sp++;
		p++;
		i++;
		if (st[sp - 1].left == 0)
			goto close;
		if (st[sp - 1].obj)
			goto key;
		goto value;
	default:
		return -1;
	}
	p = q;
	i++;
after:
	if (sp == 0) {
		/* One value, then only whitespace, and no token left over. */
		return tl_json_ws(p, end) == end && i == n ? 0 : -1;
	}
	if (--st[sp - 1].left > 0) {
		p = tl_json_ws(p, end);
		if (p >= end || *p != ',')
			return -1;
		p++;
		if (st[sp - 1].obj)
			goto key;
		goto value;
	}
close:
	p = tl_json_ws(p, end);
	if (p >= end || *p != (st[sp - 1].obj ? '}' : ']') || p + 1 != js + st[sp - 1].end)
		return -1;
	p++;
	sp--;
	goto after;
key:
	p = tl_json_ws(p, end);
	if (i >= n || t[i].type != JSMN_STRING || p != js + t[i].start - 1)
		return -1;
	q = tl_json_string_end(p + 1, end, &esc);
	if (q == NULL || q != js + t[i].end + 1)
		return -1;
	p = tl_json_ws(q, end);
	if (p >= end || *p != ':')
		return -1;
	p++;
	i++;
	goto value;
}

/* The level array at token a into the storage of `side`, as scan_levels() reads it:
 * levels in order, the first bad one decides. */
static void walk_levels(const struct tl_md_parser *p, const char *js, const jsmntok_t *t, int a,
                        int side, struct md_slot *slot)
{
	struct tl_md_level *lv = p->levels[side];
	const int px_dec = p->cfg.scale.px_decimals, qty_dec = p->cfg.scale.qty_decimals;
	uint32_t n = 0;
	int32_t err = 0, e;
	int j = a + 1;

	for (int k = 0; k < t[a].size; k++, j = tok_next(t, j)) {
		const jsmntok_t *el = &t[j], *px, *qty;
		const char *c;

		if (n == p->cfg.max_levels) {
			err = -E2BIG;
			break;
		}
		if (el->type != JSMN_ARRAY || el->size < 1 || t[j + 1].type != JSMN_STRING) {
			err = -EBADMSG;
			break;
		}
		px = &t[j + 1];
		c = js + px->start;
		if (md_dec_scan(c, js + px->end, px_dec, &lv[n].px, &e) != js + px->end) {
			err = -EBADMSG;
			break;
		}
		if (e) {
			err = e == -EINVAL ? -EBADMSG : e;
			break;
		}
		/* The first element is a string, a one-token subtree: qty is the second. */
		if (el->size < 2 || t[j + 2].type != JSMN_STRING) {
			err = -EBADMSG;
			break;
		}
		qty = &t[j + 2];
		c = js + qty->start;
		if (md_dec_scan(c, js + qty->end, qty_dec, &lv[n].qty, &e) != js + qty->end) {
			err = -EBADMSG;
			break;
		}
		if (e) {
			err = e == -EINVAL ? -EBADMSG : e;
			break;
		}
		if (el->size != 2) {
			err = -EBADMSG;
			break;
		}
		n++;
	}
	slot->jtype = MD_J_ARRAY;
	slot->err = err;
	slot->v = err ? 0 : n;
}

/* The value at token i for `key` (a known key, not "data") into its slot. */
static void walk_value(const struct tl_md_parser *p, const char *js, const jsmntok_t *t, int i,
                       struct md_fields *f, int key)
{
	struct md_slot *s = &f->slot[key];
	const char *c = js + t[i].start;
	size_t n = (size_t)(t[i].end - t[i].start);
	int side;

	switch (t[i].type) {
	case JSMN_STRING:
		md_slot_string(p, f, key, c, n, memchr(c, '\\', n) != NULL);
		break;
	case JSMN_PRIMITIVE:
		s->err = 0;
		s->v = 0;
		if (*c == 't') {
			s->jtype = MD_J_TRUE;
			s->v = 1;
		} else if (*c == 'f') {
			s->jtype = MD_J_FALSE;
		} else if (*c == 'n') {
			s->jtype = MD_J_NULL;
		} else {
			md_number(c, c + n, &s->jtype, &s->v, &s->err);
		}
		break;
	case JSMN_ARRAY:
		side = md_key_side(key);
		if (side >= 0) {
			walk_levels(p, js, t, i, side, s);
		} else {
			s->jtype = MD_J_ARRAY;
			s->err = 0;
			s->v = 0;
		}
		break;
	default: /* JSMN_OBJECT: validate() admits no other type */
		s->jtype = MD_J_OBJECT;
		s->err = 0;
		s->v = 0;
		break;
	}
}

/* The members of the object at token o, in document order, into f. combined is non-NULL
 * at the top level only; the rules are scan_value()'s. */
static void walk_object(const struct tl_md_parser *p, const char *js, const jsmntok_t *t, int o,
                        struct md_fields *f, bool *combined)
{
	int k = o + 1;

	for (int m = 0; m < t[o].size; m++) {
		const char *kc = js + t[k].start;
		size_t kn = (size_t)(t[k].end - t[k].start);
		int key = memchr(kc, '\\', kn) != NULL ? MD_K_UNKNOWN : md_key_lookup(kc, kn);
		int v = k + 1;

		if (key == MD_K_data) {
			if (combined != NULL && !*combined && t[v].type == JSMN_OBJECT) {
				*combined = true;
				memset(f, 0, sizeof(*f));
				walk_object(p, js, t, v, f, NULL);
			}
		} else if (key != MD_K_UNKNOWN && !(combined != NULL && *combined)) {
			walk_value(p, js, t, v, f, key);
		}
		k = tok_next(t, v);
	}
}

int tl_md_parse_jsmn(tl_md_parser_t *p, const char *json, size_t len, struct tl_md_msg *msg)
{
	jsmntok_t *t = p->tok_pool;
	jsmn_parser jp;
	struct md_fields f;
	bool combined = false;
	int n;

	msg->kind = TL_MD_NONE;
	if (len > TL_MD_MAX_LEN)
		return -E2BIG;
	if (len == 0)
		return -EBADMSG;
	if (!depth_ok(json, json + len))
		return -EBADMSG;
	jsmn_init(&jp);
	n = jsmn_parse(&jp, json, len, t, p->cfg.max_tokens);
	if (n == JSMN_ERROR_NOMEM)
		return -E2BIG;
	if (n <= 0 || validate(json, len, t, n) != 0 || t[0].type != JSMN_OBJECT)
		return -EBADMSG;
	memset(&f, 0, sizeof(f));
	walk_object(p, json, t, 0, &f, &combined);
	return md_fields_finish(p, &f, msg);
}
