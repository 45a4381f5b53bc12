/*
 * md_parse.c: the hand-written scanner behind tl_md_parse(), exact decimals, the parser's
 * life cycle, and the field rules both parsers share (md_fields_finish).
 *
 * DESIGN. One forward pass over the bytes, no tokens, no recursion beyond the one
 * "data" wrapper. The scanner knows the few shapes it converts (an id, a decimal string,
 * an array of ["px","qty"]) and walks them in straight-line code; everything else goes
 * through tl_json_skip_value(, TL_MD_MAX_DEPTH), a validating skipper with an explicit bit stack
 * instead of recursion, so no input can exhaust the C stack. When a fast path meets something it
 * did not expect (a level with three elements, a decimal with an escape), it records the
 * error in the field's slot and hands the whole value back to tl_json_skip_value() from its
 * start: that keeps the fast paths short and still rejects bad JSON behind the surprise.
 * Every read is bounded by `end`; the input is never copied.
 */
#include "md_internal.h"
#include "tl_ring.h" /* tl_prefetch */

#include <assert.h>
#include <stdlib.h>

const uint64_t md_pow10[TL_MD_DEC_MAX_DECIMALS + 2] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

/* ======================================================================================
 * Decimals.
 * ====================================================================================== */

int tl_md_dec_parse(const char *s, size_t len, int decimals, int64_t *out)
{
	int64_t v = 0;
	int32_t err;

	if (decimals < 0 || decimals > TL_MD_DEC_MAX_DECIMALS || len == 0)
		return -EINVAL;
	if (md_dec_scan(s, s + len, decimals, &v, &err) != s + len)
		return -EINVAL;
	if (err)
		return err;
	*out = v;
	return 0;
}

int tl_md_dec_format(char *out, size_t cap, int64_t v, int decimals)
{
	char rev[24]; /* the digits, least significant first */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t nd = 0, len, i, o = 0;

	if (decimals < 0 || decimals > TL_MD_DEC_MAX_DECIMALS)
		return -EINVAL;
	do {
		rev[nd++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	/* At least one digit before the point: 5 at 2 decimals is "0.05". */
	while (nd < (size_t)decimals + 1)
		rev[nd++] = '0';
	len = (v < 0) + nd + (decimals > 0);
	if (cap < len + 1)
		return -ENOBUFS;
	if (v < 0)
		out[o++] = '-';
	for (i = nd; i > (size_t)decimals; i--)
		out[o++] = rev[i - 1];
	if (decimals > 0) {
		out[o++] = '.';
		for (; i > 0; i--)
			out[o++] = rev[i - 1];
	}
	out[o] = '\0';
	assert(o == len);
	return (int)len;
}

/* ======================================================================================
 * Parser life cycle.
 * ====================================================================================== */

#define MD_MAX_LEVELS_CAP (1u << 20)
#define MD_MAX_TOKENS_CAP (1u << 23)

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

void tl_md_parser_config_default(struct tl_md_parser_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->scale.px_decimals = 8;
	cfg->scale.qty_decimals = 8;
	cfg->max_levels = TL_MD_DEFAULT_MAX_LEVELS;
}

int tl_md_parser_create(tl_md_parser_t **out, const struct tl_md_parser_config *cfg)
{
	struct tl_md_parser *p;
	uint32_t max_levels, max_tokens;
	size_t head, side_bytes, pool_bytes;
	char *mem;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (cfg == NULL)
		return -EINVAL;
	if (cfg->scale.px_decimals < 0 || cfg->scale.px_decimals > TL_MD_DEC_MAX_DECIMALS ||
	    cfg->scale.qty_decimals < 0 || cfg->scale.qty_decimals > TL_MD_DEC_MAX_DECIMALS)
		return -EINVAL;
	max_levels = cfg->max_levels ? cfg->max_levels : TL_MD_DEFAULT_MAX_LEVELS;
	if (max_levels > MD_MAX_LEVELS_CAP)
		return -EINVAL;
	/* A snapshot level is three tokens: its array and two strings. */
	max_tokens = cfg->max_tokens ? cfg->max_tokens : 6 * max_levels + 256;
	if (max_tokens > MD_MAX_TOKENS_CAP)
		return -EINVAL;

	head = align_up(sizeof(*p), 64);
	side_bytes = align_up((size_t)max_levels * sizeof(struct tl_md_level), 64);
	pool_bytes = md_jsmn_pool_bytes(max_tokens);
	mem = malloc(head + 4 * side_bytes + pool_bytes);
	if (mem == NULL)
		return -ENOMEM;
	p = (struct tl_md_parser *)(void *)mem;
	p->cfg = *cfg;
	p->cfg.max_levels = max_levels;
	p->cfg.max_tokens = max_tokens;
	for (int i = 0; i < 4; i++)
		p->levels[i] = (struct tl_md_level *)(void *)(mem + head + (size_t)i * side_bytes);
	p->tok_pool = mem + head + 4 * side_bytes;
	*out = p;
	return 0;
}

void tl_md_parser_destroy(tl_md_parser_t *p)
{
	free(p);
}

/* ======================================================================================
 * Field rules, shared with md_parse_jsmn.c.
 * ====================================================================================== */

/* The slot must hold `jtype`; then its conversion error, if any, is the answer. */
static int need(const struct md_slot *s, uint8_t jtype)
{
	return s->jtype == jtype ? s->err : -EBADMSG;
}

/* "E" is optional, but when present it must be a good integer. */
static int optional_int(const struct md_slot *s)
{
	return s->jtype == MD_J_ABSENT ? 0 : need(s, MD_J_INT);
}

int md_fields_finish(const struct tl_md_parser *p, const struct md_fields *f, struct tl_md_msg *msg)
{
	const struct md_slot *s = f->slot;
	enum tl_md_kind kind;
	int r;

	memset(msg, 0, sizeof(*msg));
	if (s[MD_K_e].jtype != MD_J_ABSENT) {
		if (need(&s[MD_K_e], MD_J_STRING) != 0)
			return -EBADMSG;
		kind = s[MD_K_e].v == MD_EV_DEPTH   ? TL_MD_DEPTH
		       : s[MD_K_e].v == MD_EV_TRADE ? TL_MD_TRADE
		                                    : TL_MD_OTHER;
	} else if (s[MD_K_lastUpdateId].jtype != MD_J_ABSENT) {
		kind = TL_MD_SNAPSHOT;
	} else if (s[MD_K_u].jtype != MD_J_ABSENT) {
		kind = TL_MD_TICKER;
	} else {
		kind = TL_MD_OTHER;
	}

	switch (kind) {
	case TL_MD_DEPTH:
		if ((r = need(&s[MD_K_s], MD_J_STRING)) || (r = need(&s[MD_K_U], MD_J_INT)) ||
		    (r = need(&s[MD_K_u], MD_J_INT)) || (r = need(&s[MD_K_b], MD_J_ARRAY)) ||
		    (r = need(&s[MD_K_a], MD_J_ARRAY)) || (r = optional_int(&s[MD_K_E])))
			return r;
		msg->first_id = (uint64_t)s[MD_K_U].v;
		msg->final_id = (uint64_t)s[MD_K_u].v;
		msg->bids = p->levels[MD_SIDE_B];
		msg->n_bids = (uint32_t)s[MD_K_b].v;
		msg->asks = p->levels[MD_SIDE_A];
		msg->n_asks = (uint32_t)s[MD_K_a].v;
		msg->bids_tail = f->tail[MD_SIDE_B];
		msg->bids_tail_len = f->tail_len[MD_SIDE_B];
		msg->asks_tail = f->tail[MD_SIDE_A];
		msg->asks_tail_len = f->tail_len[MD_SIDE_A];
		if (msg->bids_tail || msg->asks_tail)
			msg->tail_scale = p->cfg.scale;
		break;
	case TL_MD_TICKER:
		if ((r = need(&s[MD_K_s], MD_J_STRING)) || (r = need(&s[MD_K_u], MD_J_INT)) ||
		    (r = need(&s[MD_K_b], MD_J_STRING)) || (r = need(&s[MD_K_B], MD_J_STRING)) ||
		    (r = need(&s[MD_K_a], MD_J_STRING)) || (r = need(&s[MD_K_A], MD_J_STRING)) ||
		    (r = optional_int(&s[MD_K_E])))
			return r;
		msg->final_id = (uint64_t)s[MD_K_u].v;
		msg->bid.px = s[MD_K_b].v;
		msg->bid.qty = s[MD_K_B].v;
		msg->ask.px = s[MD_K_a].v;
		msg->ask.qty = s[MD_K_A].v;
		break;
	case TL_MD_TRADE:
		if ((r = need(&s[MD_K_s], MD_J_STRING)) || (r = need(&s[MD_K_t], MD_J_INT)) ||
		    (r = need(&s[MD_K_p], MD_J_STRING)) || (r = need(&s[MD_K_q], MD_J_STRING)) ||
		    (r = need(&s[MD_K_T], MD_J_INT)) || (r = optional_int(&s[MD_K_E])))
			return r;
		if (s[MD_K_m].jtype != MD_J_TRUE && s[MD_K_m].jtype != MD_J_FALSE)
			return -EBADMSG;
		msg->trade_id = (uint64_t)s[MD_K_t].v;
		msg->px = s[MD_K_p].v;
		msg->qty = s[MD_K_q].v;
		msg->trade_ms = s[MD_K_T].v;
		msg->buyer_maker = s[MD_K_m].jtype == MD_J_TRUE;
		break;
	case TL_MD_SNAPSHOT:
		if ((r = need(&s[MD_K_lastUpdateId], MD_J_INT)) ||
		    (r = need(&s[MD_K_bids], MD_J_ARRAY)) || (r = need(&s[MD_K_asks], MD_J_ARRAY)))
			return r;
		msg->final_id = (uint64_t)s[MD_K_lastUpdateId].v;
		msg->bids = p->levels[MD_SIDE_BIDS];
		msg->n_bids = (uint32_t)s[MD_K_bids].v;
		msg->asks = p->levels[MD_SIDE_ASKS];
		msg->n_asks = (uint32_t)s[MD_K_asks].v;
		break;
	default:
		break;
	}
	if (kind == TL_MD_DEPTH || kind == TL_MD_TICKER || kind == TL_MD_TRADE) {
		/* need() passed, so "s" converted: sym is set and short enough. */
		assert(f->sym != NULL && f->sym_len <= TL_MD_SYMBOL_MAX);
		memcpy(msg->symbol, f->sym, f->sym_len);
		msg->symbol[f->sym_len] = '\0';
		if (s[MD_K_E].jtype == MD_J_INT)
			msg->event_ms = s[MD_K_E].v;
	}
	msg->kind = kind;
	return 0;
}

/* ======================================================================================
 * The scanner.
 * ====================================================================================== */

struct md_scan {
	struct tl_md_parser *p;
	const char *end;
	const struct tl_md_floors *floors; /* tl_md_parse_top's, else NULL */
	/* skipped: a tail was left. redo: one was dropped unchecked (its key repeated, or a
	 * "data" wrapper came after it). See parse() for what they make it do. */
	bool *skipped, *redo;
};

/*
 * Converts the levels from p (at the first level's '[') up to the ']' that closes their
 * array into lv[0..max), and sets *n_out to how many. A level whose price is past `floor`
 * (below it for bids, above it for asks) ends the conversion: that level and the rest of
 * the array are skipped by their brackets (md_skip_levels) and returned in *tail, from
 * the level's '['. INT64_MIN for bids and INT64_MAX for asks convert everything.
 * Returns past the array's ']' (*err 0), or NULL with *err: the first bad level's
 * conversion error, -E2BIG for level max + 1, or -EBADMSG for anything else.
 */
static const char *convert_levels(const char *p, const char *end, struct tl_md_scale scale,
                                  bool bid, int64_t floor, struct tl_md_level *lv, uint32_t max,
                                  uint32_t *n_out, int32_t *err, const char **tail)
{
	uint32_t n = 0;
	int32_t e;

	*tail = NULL;
	/* Binance writes [["61737.63000000","0.00000000"],...] with no whitespace; tl_json_ws()
	 * returns at once then. */
	for (;;) {
		const char *const level = p;

		if (n == max) {
			*err = -E2BIG;
			return NULL;
		}
		if (p >= end || *p != '[')
			goto bad;
		p = tl_json_ws(p + 1, end);
		if (p >= end || *p != '"')
			goto bad;
		p = md_dec_scan(p + 1, end, scale.px_decimals, &lv[n].px, &e);
		if (p >= end || *p != '"')
			goto bad; /* not a decimal, or an escape: EBADMSG, or bad JSON */
		if (e) {
			*err = e == -EINVAL ? -EBADMSG : e;
			return NULL;
		}
		if (bid ? lv[n].px < floor : lv[n].px > floor) {
			const char *past = md_skip_levels(level, end);

			if (past) {
				*tail = level;
				*n_out = n;
				*err = 0;
				return past;
			}
			/* Cut short: convert on, and let that say what is wrong. */
			floor = bid ? INT64_MIN : INT64_MAX;
		}
		p = tl_json_ws(p + 1, end);
		if (p >= end || *p != ',')
			goto bad;
		p = tl_json_ws(p + 1, end);
		if (p >= end || *p != '"')
			goto bad;
		p = md_dec_scan(p + 1, end, scale.qty_decimals, &lv[n].qty, &e);
		if (p >= end || *p != '"')
			goto bad;
		if (e) {
			*err = e == -EINVAL ? -EBADMSG : e;
			return NULL;
		}
		p = tl_json_ws(p + 1, end);
		if (p >= end || *p != ']')
			goto bad;
		n++;
		p = tl_json_ws(p + 1, end);
		if (p < end && *p == ',') {
			p = tl_json_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']') {
			*n_out = n;
			*err = 0;
			return p + 1;
		}
		goto bad;
	}
bad:
	*err = -EBADMSG;
	return NULL;
}

/*
 * The level array at p ('['), for the key whose storage is `side`, held by an object at
 * `depth`. Fills the slot (and, for "b" and "a" under floors, the side's tail); returns
 * past the array, or NULL on bad JSON.
 */
static const char *scan_levels(const struct md_scan *sc, const char *p, int side, int depth,
                               struct md_fields *f, struct md_slot *slot)
{
	const char *const arr = p, *const end = sc->end;
	const bool bid = side == MD_SIDE_B || side == MD_SIDE_BIDS;
	int64_t floor = bid ? INT64_MIN : INT64_MAX;
	const char *past, *tail;
	uint32_t n = 0;
	int32_t err;

	if (side == MD_SIDE_B || side == MD_SIDE_A) {
		if (f->tail[side])
			*sc->redo = true; /* a repeated key: the last one counts */
		f->tail[side] = NULL;
		f->tail_len[side] = 0;
		if (sc->floors)
			floor = bid ? sc->floors->bid : sc->floors->ask;
	}
	slot->jtype = MD_J_ARRAY;
	p = tl_json_ws(p + 1, end);
	if (p < end && *p == ']') {
		past = p + 1;
	} else {
		past = convert_levels(p, end, sc->p->cfg.scale, bid, floor, sc->p->levels[side],
		                      sc->p->cfg.max_levels, &n, &err, &tail);
		if (past == NULL) {
			/* The first bad level decides the slot's error; the grammar of the whole
			 * array is still checked, from its start, so bad JSON wins over a bad
			 * level. */
			slot->err = err;
			slot->v = 0;
			return tl_json_skip_value(arr, end, depth, TL_MD_MAX_DEPTH);
		}
		if (tail) {
			*sc->skipped = true;
			f->tail[side] = tail;
			f->tail_len[side] = (uint32_t)(past - tail);
		}
	}
	slot->err = 0;
	slot->v = n;
	return past;
}

static const char *scan_members(const struct md_scan *sc, const char *p, struct md_fields *f,
                                int depth, bool *combined);

/*
 * The value at p (not whitespace) of `key`, in an object at `depth`. combined is NULL
 * inside the "data" object, else the top level's flag. Returns past the value or NULL.
 */
static const char *scan_value(const struct md_scan *sc, const char *p, struct md_fields *f, int key,
                              int depth, bool *combined)
{
	const char *const end = sc->end;
	struct md_slot *s;
	const char *q;
	bool esc;
	int which, side;

	if (key == MD_K_data) {
		if (combined == NULL || *combined || *p != '{')
			return tl_json_skip_value(p, end, depth, TL_MD_MAX_DEPTH);
		/* The combined-stream wrapper: the message is this object; whatever the
		 * top level held so far does not count, and what follows is skipped. */
		*combined = true;
		if (f->tail[MD_SIDE_B] || f->tail[MD_SIDE_A])
			*sc->redo = true;
		memset(f, 0, sizeof(*f));
		return scan_members(sc, p + 1, f, depth + 1, NULL);
	}
	if (key == MD_K_UNKNOWN || (combined != NULL && *combined))
		return tl_json_skip_value(p, end, depth, TL_MD_MAX_DEPTH);

	s = &f->slot[key];
	switch (*p) {
	case '"':
		which = md_key_dec(key);
		if (which != 0) {
			/* Fused: convert while looking for the closing quote. Stopping anywhere
			 * else (an escape, a letter) means it is no decimal: the general path
			 * below then checks the string and gives the same slot. */
			int64_t v = 0;
			int32_t e;

			q = md_dec_scan(p + 1, end, md_scale_for(sc->p, which), &v, &e);
			if (q < end && *q == '"') {
				s->jtype = MD_J_STRING;
				s->err = e == -EINVAL ? -EBADMSG : e;
				s->v = e ? 0 : v;
				return q + 1;
			}
		}
		q = tl_json_string_end(p + 1, end, &esc);
		if (q == NULL)
			return NULL;
		md_slot_string(sc->p, f, key, p + 1, (size_t)(q - 1 - (p + 1)), esc);
		return q;
	case '[':
		side = md_key_side(key);
		if (side >= 0)
			return scan_levels(sc, p, side, depth, f, s);
		s->jtype = MD_J_ARRAY;
		s->err = 0;
		s->v = 0;
		return tl_json_skip_value(p, end, depth, TL_MD_MAX_DEPTH);
	case '{':
		s->jtype = MD_J_OBJECT;
		s->err = 0;
		s->v = 0;
		return tl_json_skip_value(p, end, depth, TL_MD_MAX_DEPTH);
	case 't':
	case 'f':
	case 'n':
		q = md_literal(p, end, &s->jtype);
		s->err = 0;
		s->v = s->jtype == MD_J_TRUE;
		return q;
	default:
		if (*p != '-' && (unsigned)(*p - '0') > 9)
			return NULL;
		return md_number(p, end, &s->jtype, &s->v, &s->err);
	}
}

/*
 * The members of the object whose '{' is just before p, at `depth`, into f. combined is
 * non-NULL at the top level only. Returns past the closing '}', or NULL on bad JSON.
 */
static const char *scan_members(const struct md_scan *sc, const char *p, struct md_fields *f,
                                int depth, bool *combined)
{
	const char *const end = sc->end;

	p = tl_json_ws(p, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		const char *k;
		int key;

		if (p >= end || *p != '"')
			return NULL;
		k = ++p;
		while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			p++;
		if (p >= end)
			return NULL;
		if (*p == '"') {
			key = md_key_lookup(k, (size_t)(p - k));
			p++;
		} else {
			bool esc;

			/* An escaped key is not one of ours; it must still be a good string. */
			p = tl_json_string_end(k, end, &esc);
			if (p == NULL)
				return NULL;
			key = MD_K_UNKNOWN;
		}
		p = tl_json_ws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		p = tl_json_ws(p + 1, end);
		if (p >= end)
			return NULL;
		p = scan_value(sc, p, f, key, depth, combined);
		if (p == NULL)
			return NULL;
		p = tl_json_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == ',') {
			p = tl_json_ws(p + 1, end);
			continue;
		}
		if (*p == '}')
			return p + 1;
		return NULL;
	}
}

static int parse(tl_md_parser_t *p, const char *json, size_t len, const struct tl_md_floors *floors,
                 struct tl_md_msg *msg)
{
	struct md_scan sc;
	struct md_fields f;
	const char *q, *end;
	bool combined = false, skipped = false, redo = false;
	int rc;

	msg->kind = TL_MD_NONE;
	if (len > TL_MD_MAX_LEN)
		return -E2BIG;
	if (len == 0)
		return -EBADMSG;
	end = json + len;
	q = tl_json_ws(json, end);
	if (q >= end || *q != '{')
		return -EBADMSG;
	sc.p = p;
	sc.end = end;
	sc.floors = floors;
	sc.skipped = &skipped;
	sc.redo = &redo;
	memset(&f, 0, sizeof(f));
	q = scan_members(&sc, q + 1, &f, 1, &combined);
	/* Whole again (never, as the venue writes them), so that what tl_md_parse() takes
	 * this takes the same, and what it refuses this refuses the same: a tail dropped
	 * unchecked; a message refused after a tail was left, which may have been cut short
	 * by a bracket in a string; one that is no depth event (tails are for those only). */
	if (redo || (skipped && (q == NULL || tl_json_ws(q, end) != end)))
		return parse(p, json, len, NULL, msg);
	if (q == NULL || tl_json_ws(q, end) != end)
		return -EBADMSG;
	rc = md_fields_finish(p, &f, msg);
	if (skipped && (rc != 0 || msg->kind != TL_MD_DEPTH))
		return parse(p, json, len, NULL, msg);
	return rc;
}

int tl_md_parse(tl_md_parser_t *p, const char *json, size_t len, struct tl_md_msg *msg)
{
	return parse(p, json, len, NULL, msg);
}

int tl_md_parse_top(tl_md_parser_t *p, const char *json, size_t len,
                    const struct tl_md_floors *floors, struct tl_md_msg *msg)
{
	return parse(p, json, len, floors, msg);
}

int tl_md_parse_tail(struct tl_md_scale scale, const char *tail, size_t len,
                     struct tl_md_level *out, uint32_t max, uint32_t *n)
{
	const char *past, *cut;
	int32_t err;

	*n = 0;
	if (len == 0 || len > TL_MD_MAX_LEN)
		return -EBADMSG;
	past = convert_levels(tail, tail + len, scale, false, INT64_MAX, out, max, n, &err, &cut);
	if (past == NULL)
		return err;
	return past == tail + len ? 0 : -EBADMSG;
}

void md_parser_prefetch(const tl_md_parser_t *p)
{
	tl_prefetch(p, sizeof(*p), false);
	/* A live event converts its top levels only, a few a side (tl_md_parse_top). */
	tl_prefetch(p->levels[MD_SIDE_B], 8 * sizeof(struct tl_md_level), true);
	tl_prefetch(p->levels[MD_SIDE_A], 8 * sizeof(struct tl_md_level), true);
}
