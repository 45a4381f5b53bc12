/*
 * parse.c: WS API responses and user-data events, the myTrades and order-array answers,
 * exchangeInfo's rateLimits, REST usage headers, and the outcome of a response
 * (tl_venue.h, "Parsing" and "Outcomes").
 *
 * DESIGN. One forward pass over the bytes, no tokens and no allocation, in the manner of
 * engine/md/md_parse.c. Each object is walked member by member; a member whose key we
 * know has its value recorded in that object's slot as a view (type, span, escape flag).
 * Nothing is converted while scanning: the scale of a price depends on the symbol, which
 * may come after it, so conversions wait until the object (or the whole message) is read
 * and the kind is known. The few containers that carry structure (the "event" and
 * "result" objects, "error", "rateLimits", the arrays of trades or orders) are walked in
 * place as they come, into their own slots; the balances of an account position are the
 * one array walked a second time, from its recorded span. Everything else is skipped by
 * tl_json_skip_value() (md_json.h, shared with the market-data scanner), a validating
 * skipper with a bit stack instead of recursion, so that the
 * whole input is checked to be JSON and no input can exhaust the C stack: recursion depth
 * is bounded by the handful of shapes we know.
 *
 * Conversion errors found while walking an array element are deferred (the first one
 * wins) because a grammar error anywhere must still win over them: bad JSON is -EBADMSG
 * whatever else is wrong.
 */
#include "md_json.h"
#include "tl_venue.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* ======================================================================================
 * Lexical helpers. Each takes [p, end) and never reads at or past end.
 * ====================================================================================== */

/* The literals take md_json.h's values, so tl_json_literal_end() can fill a slot directly. */
enum jt {
	J_ABSENT = 0,
	J_TRUE = TL_JSON_TRUE,
	J_FALSE = TL_JSON_FALSE,
	J_NULL = TL_JSON_NULL,
	J_STRING,
	J_NUMBER,
	J_ARRAY,
	J_OBJECT,
};

/* One value as scanned. STRING: p..p+n is the content between the quotes. NUMBER, ARRAY,
 * OBJECT: p..p+n is the value as written. */
struct jv {
	const char *p;
	uint32_t n;
	uint8_t t;      /* enum jt */
	uint8_t esc;    /* STRING holding an escape */
	uint8_t is_int; /* NUMBER with no fraction and no exponent */
};

/* Scans the value at p (not whitespace) held by a container at `depth` into *v. */
static const char *scan_jv(const char *p, const char *end, int depth, struct jv *v)
{
	const char *q;
	bool esc, isint;

	v->esc = 0;
	v->is_int = 0;
	switch (*p) {
	case '"':
		q = tl_json_string_end(p + 1, end, &esc);
		if (q == NULL)
			return NULL;
		v->t = J_STRING;
		v->p = p + 1;
		v->n = (uint32_t)(q - 1 - (p + 1));
		v->esc = esc;
		return q;
	case '{':
	case '[':
		q = tl_json_skip_value(p, end, depth, TL_VENUE_MAX_DEPTH);
		if (q == NULL)
			return NULL;
		v->t = *p == '{' ? J_OBJECT : J_ARRAY;
		break;
	case 't':
	case 'f':
	case 'n':
		q = tl_json_literal_end(p, end, &v->t);
		if (q == NULL)
			return NULL;
		break;
	default:
		if (*p != '-' && (*p < '0' || *p > '9'))
			return NULL;
		q = tl_json_number_end(p, end, &isint);
		if (q == NULL)
			return NULL;
		v->t = J_NUMBER;
		v->is_int = isint;
		break;
	}
	v->p = p;
	v->n = (uint32_t)(q - p);
	return q;
}

/* ======================================================================================
 * Keys. Events use one-letter keys, everything else words; each object has slots for
 * one of the two sets.
 * ====================================================================================== */

#define LETTERS 52

/* 'A'..'Z' are 0..25, 'a'..'z' 26..51; -1 for anything else. */
static inline int letter_index(const char *k, size_t n)
{
	if (n != 1)
		return -1;
	if (k[0] >= 'A' && k[0] <= 'Z')
		return k[0] - 'A';
	if (k[0] >= 'a' && k[0] <= 'z')
		return 26 + k[0] - 'a';
	return -1;
}

#define L(c) ((c) >= 'a' ? 26 + (c) - 'a' : (c) - 'A')

enum word {
	W_UNKNOWN = -1,
	W_id = 0,
	W_status,
	W_result,
	W_error,
	W_rateLimits,
	W_subscriptionId,
	W_event,
	W_code,
	W_msg,
	W_data,
	W_retryAfter,
	W_serverTime,
	W_symbol,
	W_orderId,
	W_clientOrderId,
	W_origClientOrderId,
	W_price,
	W_origQty,
	W_executedQty,
	W_cummulativeQuoteQty, /* sic: the venue spells it so */
	W_timeInForce,
	W_type,
	W_side,
	W_transactTime,
	W_updateTime,
	W_qty,
	W_quoteQty,
	W_commission,
	W_commissionAsset,
	W_time,
	W_isBuyer,
	W_isMaker,
	W_rateLimitType,
	W_interval,
	W_intervalNum,
	W_limit,
	W_count,
	W_COUNT
};

static const struct {
	const char *s;
	uint8_t n;
} word_text[W_COUNT] = {
#define WORD(w) [W_##w] = {#w, sizeof(#w) - 1}
    WORD(id),
    WORD(status),
    WORD(result),
    WORD(error),
    WORD(rateLimits),
    WORD(subscriptionId),
    WORD(event),
    WORD(code),
    WORD(msg),
    WORD(data),
    WORD(retryAfter),
    WORD(serverTime),
    WORD(symbol),
    WORD(orderId),
    WORD(clientOrderId),
    WORD(origClientOrderId),
    WORD(price),
    WORD(origQty),
    WORD(executedQty),
    WORD(cummulativeQuoteQty),
    WORD(timeInForce),
    WORD(type),
    WORD(side),
    WORD(transactTime),
    WORD(updateTime),
    WORD(qty),
    WORD(quoteQty),
    WORD(commission),
    WORD(commissionAsset),
    WORD(time),
    WORD(isBuyer),
    WORD(isMaker),
    WORD(rateLimitType),
    WORD(interval),
    WORD(intervalNum),
    WORD(limit),
    WORD(count),
#undef WORD
};

/* A linear search: the key's length rules out all but a few words, and a message holds
 * a few dozen keys. */
static int word_lookup(const char *k, size_t n)
{
	for (int w = 0; w < W_COUNT; w++)
		if (word_text[w].n == n && memcmp(word_text[w].s, k, n) == 0)
			return w;
	return W_UNKNOWN;
}

/* ======================================================================================
 * Walking objects and arrays.
 * ====================================================================================== */

enum mode { MODE_MSG, MODE_TRADES, MODE_ORDERS, MODE_EXINFO };

struct sink_limits {
	struct tl_venue_rate_limit *arr;
	size_t cap;
	uint32_t n, dropped;
	bool strict; /* beyond cap: -E2BIG (exchangeInfo) rather than dropped (a response) */
};

struct ps {
	const char *end;
	const struct tl_venue_parse_config *cfg;
	enum mode mode;
	int err; /* the first deferred conversion error */

	struct jv top[W_COUNT];
	struct jv ev[LETTERS];
	int ev_depth;
	bool wrapped; /* an "event" object was seen: top-level letters no longer count */

	struct jv res[W_COUNT]; /* "result" when an object */
	uint32_t res_n;         /* "result" when an array: its length */
	struct jv err_slot[W_COUNT];
	struct jv data[W_COUNT];

	struct sink_limits limits;  /* the response's rateLimits */
	struct sink_limits xlimits; /* MODE_EXINFO: result.rateLimits */
	bool xlimits_seen;

	/* MODE_TRADES / MODE_ORDERS: the caller's array. */
	struct tl_venue_trade *trades;
	struct tl_venue_order *orders;
	size_t cap, n, skipped;
};

static void defer(struct ps *ps, int err)
{
	if (ps->err == 0)
		ps->err = err;
}

typedef const char *(*member_fn)(struct ps *ps, void *ctx, const char *k, size_t kn, bool kesc,
                                 const char *v, int depth);
typedef const char *(*element_fn)(struct ps *ps, void *ctx, size_t index, const char *v, int depth);

/*
 * The object whose '{' is at p, at `depth` (its own), member by member through fn, which
 * gets the value's first byte and returns past the value. Returns past the '}', or NULL
 * on bad JSON.
 */
static const char *walk_object(struct ps *ps, const char *p, int depth, member_fn fn, void *ctx)
{
	const char *end = ps->end, *k, *q;
	bool kesc;

	if (depth > TL_VENUE_MAX_DEPTH)
		return NULL;
	p = tl_json_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		if (p >= end || *p != '"')
			return NULL;
		k = p + 1;
		q = tl_json_string_end(k, end, &kesc);
		if (q == NULL)
			return NULL;
		p = tl_json_ws(q, end);
		if (p >= end || *p != ':')
			return NULL;
		p = tl_json_ws(p + 1, end);
		if (p >= end)
			return NULL;
		p = fn(ps, ctx, k, (size_t)(q - 1 - k), kesc, p, depth);
		if (p == NULL)
			return NULL;
		p = tl_json_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == ',') {
			p = tl_json_ws(p + 1, end);
			continue;
		}
		return *p == '}' ? p + 1 : NULL;
	}
}

/* The array whose '[' is at p, at `depth` (its own), element by element through fn. */
static const char *walk_array(struct ps *ps, const char *p, int depth, element_fn fn, void *ctx)
{
	const char *end = ps->end;
	size_t i = 0;

	if (depth > TL_VENUE_MAX_DEPTH)
		return NULL;
	p = tl_json_ws(p + 1, end);
	if (p < end && *p == ']')
		return p + 1;
	for (;; i++) {
		if (p >= end)
			return NULL;
		p = fn(ps, ctx, i, p, depth);
		if (p == NULL)
			return NULL;
		p = tl_json_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == ',') {
			p = tl_json_ws(p + 1, end);
			continue;
		}
		return *p == ']' ? p + 1 : NULL;
	}
}

/* A member into word slots (ctx): known words recorded, the rest skipped. */
static const char *word_member(struct ps *ps, void *ctx, const char *k, size_t kn, bool kesc,
                               const char *v, int depth)
{
	struct jv *slots = ctx;
	int w = kesc ? W_UNKNOWN : word_lookup(k, kn);

	if (w == W_UNKNOWN)
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	return scan_jv(v, ps->end, depth, &slots[w]);
}

/* A member into letter slots (ctx). */
static const char *letter_member(struct ps *ps, void *ctx, const char *k, size_t kn, bool kesc,
                                 const char *v, int depth)
{
	struct jv *slots = ctx;
	int l = kesc ? -1 : letter_index(k, kn);

	if (l < 0)
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	return scan_jv(v, ps->end, depth, &slots[l]);
}

/* ======================================================================================
 * Conversions from slots. Each returns 0 or the error the field gives.
 * ====================================================================================== */

/* An integer in [lo, INT64_MAX]. */
static int get_i64(const struct jv *v, int64_t lo, int64_t *out)
{
	uint64_t acc = 0;
	const char *p, *e;
	bool neg;

	if (v->t != J_NUMBER || !v->is_int)
		return -EBADMSG;
	p = v->p;
	e = p + v->n;
	neg = *p == '-';
	if (neg)
		p++;
	for (; p < e; p++)
		if (__builtin_mul_overflow(acc, 10, &acc) ||
		    __builtin_add_overflow(acc, (uint64_t)(*p - '0'), &acc))
			return -ERANGE;
	if (acc > (uint64_t)INT64_MAX)
		return -ERANGE;
	int64_t x = neg ? -(int64_t)acc : (int64_t)acc;
	if (x < lo || (neg && lo >= 0)) /* -0 is no id or time either */
		return -ERANGE;
	*out = x;
	return 0;
}

/* An integer in [0, UINT64_MAX]: the venue's ids. */
static int get_u64(const struct jv *v, uint64_t *out)
{
	uint64_t acc = 0;

	if (v->t != J_NUMBER || !v->is_int)
		return -EBADMSG;
	if (v->p[0] == '-')
		return -ERANGE;
	for (uint32_t i = 0; i < v->n; i++)
		if (__builtin_mul_overflow(acc, 10, &acc) ||
		    __builtin_add_overflow(acc, (uint64_t)(v->p[i] - '0'), &acc))
			return -ERANGE;
	*out = acc;
	return 0;
}

static int get_bool(const struct jv *v, bool *out)
{
	if (v->t != J_TRUE && v->t != J_FALSE)
		return -EBADMSG;
	*out = v->t == J_TRUE;
	return 0;
}

/* A string with no escape, 1..max bytes (0..max when allow_empty), copied with a NUL. */
static int get_str(const struct jv *v, char *dst, size_t max, bool allow_empty)
{
	if (v->t != J_STRING || v->esc || v->n > max || (v->n == 0 && !allow_empty))
		return -EBADMSG;
	memcpy(dst, v->p, v->n);
	dst[v->n] = '\0';
	return 0;
}

/* A text for people (error message, reject reason): copied as written, escapes and all,
 * cut to max bytes on a UTF-8 character boundary. */
static int get_text(const struct jv *v, char *dst, size_t max)
{
	size_t n;

	if (v->t != J_STRING)
		return -EBADMSG;
	n = v->n;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)v->p[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, v->p, n);
	dst[n] = '\0';
	return 0;
}

/* A decimal string at `decimals`, signed when allow_neg ("-1.5"). */
static int get_dec(const struct jv *v, int decimals, bool allow_neg, int64_t *out)
{
	const char *p;
	size_t n;
	bool neg = false;
	int r;

	if (v->t != J_STRING || v->esc)
		return -EBADMSG;
	p = v->p;
	n = v->n;
	if (allow_neg && n > 0 && p[0] == '-') {
		neg = true;
		p++;
		n--;
	}
	r = tl_md_dec_parse(p, n, decimals, out);
	if (r == -EINVAL)
		return -EBADMSG;
	if (r == 0 && neg)
		*out = -*out; /* cannot overflow: *out <= INT64_MAX */
	return r;
}

static int get_px(const struct jv *v, const struct tl_md_scale *s, tl_px_t *out)
{
	return get_dec(v, s->px_decimals, false, &out->v);
}

static int get_qty(const struct jv *v, const struct tl_md_scale *s, tl_qty_t *out)
{
	return get_dec(v, s->qty_decimals, false, &out->v);
}

/* The text of v (a string with no escape) is s. */
static bool text_is(const struct jv *v, const char *s)
{
	size_t n = strlen(s);

	return v->t == J_STRING && !v->esc && v->n == n && memcmp(v->p, s, n) == 0;
}

/* The index of v's text in names[1..count), or 0 (not known). EBADMSG when not a plain
 * string. */
static int get_enum(const struct jv *v, const char *const *names, int count, int *out)
{
	if (v->t != J_STRING || v->esc)
		return -EBADMSG;
	*out = 0;
	for (int i = 1; i < count; i++)
		if (text_is(v, names[i])) {
			*out = i;
			break;
		}
	return 0;
}

static const char *const side_names[] = {"", "BUY", "SELL"};
static const char *const type_names[] = {
    "",          "LIMIT",           "LIMIT_MAKER", "MARKET",
    "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"};
static const char *const tif_names[] = {"", "GTC", "IOC", "FOK"};
static const char *const exec_names[] = {"",         "NEW",   "CANCELED", "REPLACED",
                                         "REJECTED", "TRADE", "EXPIRED",  "TRADE_PREVENTION"};
static const char *const status_names[] = {
    "",         "NEW",     "PARTIALLY_FILLED", "FILLED",     "CANCELED", "PENDING_CANCEL",
    "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH", "PENDING_NEW"};
#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* BUY or SELL: anything else is a message we cannot act on. */
static int get_side(const struct jv *v, enum tl_venue_side *out)
{
	int i, r = get_enum(v, side_names, COUNT_OF(side_names), &i);

	if (r == 0 && i == 0)
		r = -EBADMSG;
	if (r == 0)
		*out = (enum tl_venue_side)i;
	return r;
}

static int get_type(const struct jv *v, enum tl_venue_order_type *out)
{
	int i, r = get_enum(v, type_names, COUNT_OF(type_names), &i);

	if (r == 0)
		*out = (enum tl_venue_order_type)i;
	return r;
}

static int get_tif(const struct jv *v, enum tl_venue_tif *out)
{
	int i, r = get_enum(v, tif_names, COUNT_OF(tif_names), &i);

	if (r == 0)
		*out = (enum tl_venue_tif)i;
	return r;
}

static int get_exec(const struct jv *v, enum tl_venue_exec_type *out)
{
	int i, r = get_enum(v, exec_names, COUNT_OF(exec_names), &i);

	if (r == 0)
		*out = (enum tl_venue_exec_type)i;
	return r;
}

static int get_status(const struct jv *v, enum tl_venue_order_status *out)
{
	int i, r = get_enum(v, status_names, COUNT_OF(status_names), &i);

	if (r == 0)
		*out = (enum tl_venue_order_status)i;
	return r;
}

static bool present(const struct jv *v)
{
	return v->t != J_ABSENT;
}

/* The instrument's scale for `symbol`, or the fallback. */
static struct tl_md_scale scale_of(const struct tl_venue_parse_config *cfg, const char *symbol,
                                   bool *known)
{
	for (size_t i = 0; i < cfg->n_instruments; i++)
		if (strcmp(cfg->instruments[i].symbol, symbol) == 0) {
			*known = true;
			return cfg->instruments[i].scale;
		}
	*known = false;
	return cfg->fallback_scale;
}

/* ======================================================================================
 * rateLimits entries.
 * ====================================================================================== */

static int64_t interval_ms(const struct jv *v)
{
	if (text_is(v, "SECOND"))
		return 1000;
	if (text_is(v, "MINUTE"))
		return 60 * 1000;
	if (text_is(v, "HOUR"))
		return 3600 * 1000;
	if (text_is(v, "DAY"))
		return 86400 * 1000;
	return 0;
}

static int limit_convert(const struct jv *s, struct tl_venue_rate_limit *out)
{
	int64_t num, unit;
	int r;

	memset(out, 0, sizeof(*out));
	if (s[W_rateLimitType].t != J_STRING || s[W_rateLimitType].esc)
		return -EBADMSG;
	if (text_is(&s[W_rateLimitType], "REQUEST_WEIGHT"))
		out->type = TL_VENUE_LIMIT_REQUEST_WEIGHT;
	else if (text_is(&s[W_rateLimitType], "ORDERS"))
		out->type = TL_VENUE_LIMIT_ORDERS;
	else if (text_is(&s[W_rateLimitType], "RAW_REQUESTS"))
		out->type = TL_VENUE_LIMIT_RAW_REQUESTS;
	if (s[W_interval].t != J_STRING || s[W_interval].esc)
		return -EBADMSG;
	unit = interval_ms(&s[W_interval]);
	if ((r = get_i64(&s[W_intervalNum], 1, &num)) != 0)
		return r;
	if (num > UINT32_MAX)
		return -ERANGE;
	out->interval_num = (uint32_t)num;
	if (__builtin_mul_overflow(num, unit, &out->window_ms))
		return -ERANGE;
	if ((r = get_i64(&s[W_limit], 0, &out->limit)) != 0)
		return r;
	out->count = -1;
	if (present(&s[W_count]) && (r = get_i64(&s[W_count], 0, &out->count)) != 0)
		return r;
	return 0;
}

static const char *limit_element(struct ps *ps, void *ctx, size_t index, const char *v, int depth)
{
	struct sink_limits *sk = ctx;
	struct jv s[W_COUNT];
	const char *q;
	int r;

	(void)index;
	if (*v != '{') {
		defer(ps, -EBADMSG);
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	}
	memset(s, 0, sizeof(s));
	q = walk_object(ps, v, depth + 1, word_member, s);
	if (q == NULL)
		return NULL;
	if (sk->n == sk->cap) {
		if (sk->strict)
			defer(ps, -E2BIG);
		else
			sk->dropped++;
		return q;
	}
	r = limit_convert(s, &sk->arr[sk->n]);
	if (r != 0)
		defer(ps, r);
	else
		sk->n++;
	return q;
}

/* "rateLimits" at v into sk; `seen` records the JSON type for the finishing checks. */
static const char *limits_value(struct ps *ps, struct sink_limits *sk, struct jv *seen,
                                const char *v, int depth)
{
	sk->n = 0;
	sk->dropped = 0;
	if (*v != '[')
		return scan_jv(v, ps->end, depth, seen);
	seen->t = J_ARRAY;
	return walk_array(ps, v, depth + 1, limit_element, sk);
}

/* ======================================================================================
 * Orders and trades.
 * ====================================================================================== */

static int order_convert(const struct ps *ps, const struct jv *s, struct tl_venue_order *o)
{
	const struct tl_md_scale *sc;
	int r;

	memset(o, 0, sizeof(*o));
	if ((r = get_str(&s[W_symbol], o->symbol, TL_MD_SYMBOL_MAX, false)) ||
	    (r = get_u64(&s[W_orderId], &o->order_id)) ||
	    (r = get_str(&s[W_clientOrderId], o->client_order_id, TL_VENUE_CLIENT_ID_MAX, false)))
		return r;
	o->scale = scale_of(ps->cfg, o->symbol, &o->instrument_known);
	sc = &o->scale;
	if (present(&s[W_origClientOrderId]) &&
	    (r = get_str(&s[W_origClientOrderId], o->orig_client_order_id, TL_VENUE_CLIENT_ID_MAX,
	                 true)))
		return r;
	if (present(&s[W_transactTime]) && (r = get_i64(&s[W_transactTime], 0, &o->transact_ms)))
		return r;
	if (present(&s[W_updateTime]) && (r = get_i64(&s[W_updateTime], 0, &o->update_ms)))
		return r;
	if (!present(&s[W_status]))
		return 0;
	o->detailed = true;
	if ((r = get_status(&s[W_status], &o->status)) || (r = get_px(&s[W_price], sc, &o->px)) ||
	    (r = get_qty(&s[W_origQty], sc, &o->orig_qty)) ||
	    (r = get_qty(&s[W_executedQty], sc, &o->executed_qty)) ||
	    (r = get_dec(&s[W_cummulativeQuoteQty], ps->cfg->asset_decimals, false,
	                 &o->cum_quote_units)) ||
	    (r = get_side(&s[W_side], &o->side)) || (r = get_type(&s[W_type], &o->type)))
		return r;
	if (present(&s[W_timeInForce]) && (r = get_tif(&s[W_timeInForce], &o->tif)))
		return r;
	return 0;
}

static int trade_convert(const struct ps *ps, const struct jv *s, struct tl_venue_trade *t)
{
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = get_str(&s[W_symbol], t->symbol, TL_MD_SYMBOL_MAX, false)))
		return r;
	t->scale = scale_of(ps->cfg, t->symbol, &t->instrument_known);
	if ((r = get_u64(&s[W_id], &t->trade_id)) || (r = get_u64(&s[W_orderId], &t->order_id)) ||
	    (r = get_px(&s[W_price], &t->scale, &t->px)) ||
	    (r = get_qty(&s[W_qty], &t->scale, &t->qty)) ||
	    (r = get_dec(&s[W_quoteQty], ps->cfg->asset_decimals, false, &t->quote_qty_units)) ||
	    (r = get_dec(&s[W_commission], ps->cfg->asset_decimals, false, &t->commission_units)) ||
	    (r = get_str(&s[W_commissionAsset], t->commission_asset, TL_VENUE_ASSET_MAX, false)) ||
	    (r = get_i64(&s[W_time], 0, &t->time_ms)) ||
	    (r = get_bool(&s[W_isBuyer], &t->is_buyer)) ||
	    (r = get_bool(&s[W_isMaker], &t->is_maker)))
		return r;
	return 0;
}

/* One element of a result array in MODE_TRADES or MODE_ORDERS. */
static const char *item_element(struct ps *ps, void *ctx, size_t index, const char *v, int depth)
{
	struct jv s[W_COUNT];
	const char *q;
	int r;

	(void)ctx;
	(void)index;
	if (*v != '{') {
		defer(ps, -EBADMSG);
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	}
	memset(s, 0, sizeof(s));
	q = walk_object(ps, v, depth + 1, word_member, s);
	if (q == NULL || ps->err != 0)
		return q;
	if (ps->mode == MODE_ORDERS && !present(&s[W_orderId])) {
		ps->skipped++; /* an order list (cancelAll): not an order */
		return q;
	}
	if (ps->n == ps->cap) {
		defer(ps, -E2BIG);
		return q;
	}
	if (ps->mode == MODE_TRADES)
		r = trade_convert(ps, s, &ps->trades[ps->n]);
	else
		r = order_convert(ps, s, &ps->orders[ps->n]);
	if (r != 0)
		defer(ps, r);
	else
		ps->n++;
	return q;
}

/* Counts a result array's elements (checking each is JSON) in MODE_MSG. */
static const char *count_element(struct ps *ps, void *ctx, size_t index, const char *v, int depth)
{
	(void)ctx;
	ps->res_n = (uint32_t)(index + 1);
	return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
}

/* ======================================================================================
 * The top level.
 * ====================================================================================== */

static const char *error_member(struct ps *ps, void *ctx, const char *k, size_t kn, bool kesc,
                                const char *v, int depth)
{
	if (!kesc && kn == 4 && memcmp(k, "data", 4) == 0 && *v == '{') {
		ps->err_slot[W_data].t = J_OBJECT;
		memset(ps->data, 0, sizeof(ps->data));
		return walk_object(ps, v, depth + 1, word_member, ps->data);
	}
	return word_member(ps, ctx, k, kn, kesc, v, depth);
}

/* exchangeInfo's "result" object: only its "rateLimits" matters. */
static const char *exinfo_result_member(struct ps *ps, void *ctx, const char *k, size_t kn,
                                        bool kesc, const char *v, int depth)
{
	struct jv seen;

	(void)ctx;
	if (!kesc && kn == 10 && memcmp(k, "rateLimits", 10) == 0) {
		memset(&seen, 0, sizeof(seen));
		ps->xlimits_seen = true;
		const char *q = limits_value(ps, &ps->xlimits, &seen, v, depth);
		if (q != NULL && seen.t != J_ARRAY)
			defer(ps, -EBADMSG);
		return q;
	}
	return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
}

static const char *top_member(struct ps *ps, void *ctx, const char *k, size_t kn, bool kesc,
                              const char *v, int depth)
{
	int l, w;

	(void)ctx;
	if (kesc)
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	if ((l = letter_index(k, kn)) >= 0) {
		if (ps->wrapped || ps->mode != MODE_MSG)
			return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
		return scan_jv(v, ps->end, depth, &ps->ev[l]);
	}
	w = word_lookup(k, kn);
	switch (w) {
	case W_event:
		if (*v != '{' || ps->wrapped || ps->mode != MODE_MSG)
			break;
		/* The wrapper: the event is this object, whatever letters the top level held. */
		ps->wrapped = true;
		ps->top[W_event].t = J_OBJECT;
		memset(ps->ev, 0, sizeof(ps->ev));
		ps->ev_depth = depth + 1;
		return walk_object(ps, v, depth + 1, letter_member, ps->ev);
	case W_result:
		memset(ps->res, 0, sizeof(ps->res));
		ps->res_n = 0;
		if (ps->mode == MODE_EXINFO) {
			if (*v != '{')
				break;
			ps->top[W_result].t = J_OBJECT;
			return walk_object(ps, v, depth + 1, exinfo_result_member, NULL);
		}
		if (*v == '{') {
			ps->top[W_result].t = J_OBJECT;
			return walk_object(ps, v, depth + 1, word_member, ps->res);
		}
		if (*v == '[') {
			ps->top[W_result].t = J_ARRAY;
			if (ps->mode == MODE_MSG)
				return walk_array(ps, v, depth + 1, count_element, NULL);
			ps->n = 0;
			ps->skipped = 0;
			return walk_array(ps, v, depth + 1, item_element, NULL);
		}
		break;
	case W_error:
		if (*v != '{')
			break;
		ps->top[W_error].t = J_OBJECT;
		memset(ps->err_slot, 0, sizeof(ps->err_slot));
		memset(ps->data, 0, sizeof(ps->data));
		return walk_object(ps, v, depth + 1, error_member, ps->err_slot);
	case W_rateLimits:
		return limits_value(ps, &ps->limits, &ps->top[W_rateLimits], v, depth);
	case W_UNKNOWN:
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	default:
		break;
	}
	return scan_jv(v, ps->end, depth, &ps->top[w]);
}

/* ======================================================================================
 * Finishing: slots into the caller's structs.
 * ====================================================================================== */

static int finish_exec(struct ps *ps, struct tl_venue_exec_report *x)
{
	const struct jv *e = ps->ev;
	const struct tl_md_scale *sc;
	int64_t t;
	int r;

	memset(x, 0, sizeof(*x));
	if ((r = get_str(&e[L('s')], x->symbol, TL_MD_SYMBOL_MAX, false)) ||
	    (r = get_str(&e[L('c')], x->client_order_id, TL_VENUE_CLIENT_ID_MAX, false)) ||
	    (r = get_side(&e[L('S')], &x->side)) || (r = get_type(&e[L('o')], &x->type)) ||
	    (r = get_exec(&e[L('x')], &x->exec_type)) || (r = get_status(&e[L('X')], &x->status)) ||
	    (r = get_u64(&e[L('i')], &x->order_id)))
		return r;
	x->scale = scale_of(ps->cfg, x->symbol, &x->instrument_known);
	sc = &x->scale;
	if ((r = get_qty(&e[L('q')], sc, &x->qty)) || (r = get_px(&e[L('p')], sc, &x->px)) ||
	    (r = get_qty(&e[L('l')], sc, &x->last_qty)) ||
	    (r = get_qty(&e[L('z')], sc, &x->cum_qty)) ||
	    (r = get_px(&e[L('L')], sc, &x->last_px)) ||
	    (r = get_dec(&e[L('n')], ps->cfg->asset_decimals, false, &x->commission_units)) ||
	    (r = get_i64(&e[L('T')], 0, &x->transact_ms)) || (r = get_i64(&e[L('t')], -1, &t)) ||
	    (r = get_bool(&e[L('m')], &x->is_maker)) ||
	    (r = get_dec(&e[L('Z')], ps->cfg->asset_decimals, false, &x->cum_quote_units)) ||
	    (r = get_i64(&e[L('E')], 0, &x->event_ms)))
		return r;
	x->has_trade = t >= 0;
	x->trade_id = t >= 0 ? (uint64_t)t : 0;
	/* Optional, checked when present. */
	if (present(&e[L('f')]) && (r = get_tif(&e[L('f')], &x->tif)))
		return r;
	if (present(&e[L('C')]) && e[L('C')].t != J_NULL &&
	    (r = get_str(&e[L('C')], x->orig_client_order_id, TL_VENUE_CLIENT_ID_MAX, true)))
		return r;
	if (present(&e[L('r')]) &&
	    (r = get_text(&e[L('r')], x->reject_reason, TL_VENUE_REASON_MAX)))
		return r;
	if (present(&e[L('N')]) && e[L('N')].t != J_NULL &&
	    (r = get_str(&e[L('N')], x->commission_asset, TL_VENUE_ASSET_MAX, false)))
		return r;
	if (present(&e[L('Y')]) &&
	    (r = get_dec(&e[L('Y')], ps->cfg->asset_decimals, false, &x->last_quote_units)))
		return r;
	if (present(&e[L('w')]) && (r = get_bool(&e[L('w')], &x->is_working)))
		return r;
	if (present(&e[L('O')]) && (r = get_i64(&e[L('O')], 0, &x->created_ms)))
		return r;
	return 0;
}

struct balances_ctx {
	struct tl_venue_account_position *pos;
	int err;
};

static const char *balance_element(struct ps *ps, void *ctx, size_t index, const char *v, int depth)
{
	struct balances_ctx *bc = ctx;
	struct jv s[LETTERS];
	struct tl_venue_balance *b;
	const char *q;
	int r;

	(void)index;
	if (bc->err != 0)
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	if (*v != '{') {
		bc->err = -EBADMSG;
		return tl_json_skip_value(v, ps->end, depth, TL_VENUE_MAX_DEPTH);
	}
	memset(s, 0, sizeof(s));
	q = walk_object(ps, v, depth + 1, letter_member, s);
	if (q == NULL)
		return NULL;
	if (bc->pos->n_balances == TL_VENUE_BALANCES_MAX) {
		bc->err = -E2BIG;
		return q;
	}
	b = &bc->pos->balances[bc->pos->n_balances];
	if ((r = get_str(&s[L('a')], b->asset, TL_VENUE_ASSET_MAX, false)) ||
	    (r = get_dec(&s[L('f')], ps->cfg->asset_decimals, false, &b->free_units)) ||
	    (r = get_dec(&s[L('l')], ps->cfg->asset_decimals, false, &b->locked_units))) {
		bc->err = r;
		return q;
	}
	bc->pos->n_balances++;
	return q;
}

static int finish_position(struct ps *ps, struct tl_venue_account_position *pos)
{
	const struct jv *e = ps->ev;
	struct balances_ctx bc = {pos, 0};
	int r;

	memset(pos, 0, sizeof(*pos));
	if ((r = get_i64(&e[L('E')], 0, &pos->event_ms)) ||
	    (r = get_i64(&e[L('u')], 0, &pos->update_ms)))
		return r;
	if (e[L('B')].t != J_ARRAY)
		return -EBADMSG;
	/* Checked as JSON once already, so this second walk cannot fail on grammar. */
	if (walk_array(ps, e[L('B')].p, ps->ev_depth + 1, balance_element, &bc) == NULL)
		return -EBADMSG;
	return bc.err;
}

static int finish_balance(struct ps *ps, struct tl_venue_balance_update *b)
{
	const struct jv *e = ps->ev;
	int r;

	memset(b, 0, sizeof(*b));
	if ((r = get_str(&e[L('a')], b->asset, TL_VENUE_ASSET_MAX, false)) ||
	    (r = get_dec(&e[L('d')], ps->cfg->asset_decimals, true, &b->delta_units)) ||
	    (r = get_i64(&e[L('E')], 0, &b->event_ms)) ||
	    (r = get_i64(&e[L('T')], 0, &b->clear_ms)))
		return r;
	return 0;
}

static int finish_event(struct ps *ps, struct tl_venue_msg *out)
{
	const struct jv *e = ps->ev;
	int r;

	if (e[L('e')].t != J_STRING || e[L('e')].esc)
		return -EBADMSG;
	if (text_is(&e[L('e')], "executionReport")) {
		if ((r = finish_exec(ps, &out->exec)) != 0)
			return r;
		out->event_ms = out->exec.event_ms;
		out->kind = TL_VENUE_MSG_EXEC_REPORT;
	} else if (text_is(&e[L('e')], "outboundAccountPosition")) {
		if ((r = finish_position(ps, &out->position)) != 0)
			return r;
		out->event_ms = out->position.event_ms;
		out->kind = TL_VENUE_MSG_ACCOUNT_POSITION;
	} else if (text_is(&e[L('e')], "balanceUpdate")) {
		if ((r = finish_balance(ps, &out->balance)) != 0)
			return r;
		out->event_ms = out->balance.event_ms;
		out->kind = TL_VENUE_MSG_BALANCE_UPDATE;
	} else if (text_is(&e[L('e')], "eventStreamTerminated") ||
	           text_is(&e[L('e')], "serverShutdown")) {
		if ((r = get_i64(&e[L('E')], 0, &out->event_ms)) != 0)
			return r;
		out->kind = text_is(&e[L('e')], "serverShutdown") ? TL_VENUE_MSG_SERVER_SHUTDOWN
		                                                  : TL_VENUE_MSG_STREAM_TERMINATED;
	} else {
		if (present(&e[L('E')]) && (r = get_i64(&e[L('E')], 0, &out->event_ms)) != 0)
			return r;
		out->kind = TL_VENUE_MSG_OTHER_EVENT;
	}
	return 0;
}

/* The response envelope: status, id, error, rateLimits, then result. */
static int finish_response(struct ps *ps, struct tl_venue_response *rs, int http_status)
{
	const struct jv *t = ps->top;
	int64_t v;
	int r;

	memset(rs, 0, sizeof(*rs));
	if (http_status > 0) {
		rs->status = http_status;
	} else {
		if ((r = get_i64(&t[W_status], 0, &v)) != 0)
			return r;
		if (v < 100 || v > 599)
			return -ERANGE;
		rs->status = (int32_t)v;
	}
	if (t[W_id].t == J_NUMBER) {
		if ((r = get_u64(&t[W_id], &rs->id)) != 0)
			return r;
		rs->has_id = true;
	} else if (present(&t[W_id]) && t[W_id].t != J_STRING && t[W_id].t != J_NULL) {
		return -EBADMSG;
	}

	const struct jv *code = NULL, *msg = NULL;
	if (present(&t[W_error])) {
		if (t[W_error].t != J_OBJECT)
			return -EBADMSG;
		code = &ps->err_slot[W_code];
		msg = &ps->err_slot[W_msg];
	} else if (http_status > 0 && present(&t[W_code])) {
		/* A REST error body: {"code":..,"msg":..} at the top. */
		code = &t[W_code];
		msg = &t[W_msg];
	}
	if (code != NULL) {
		if ((r = get_i64(code, INT32_MIN, &v)) != 0)
			return r;
		if (v > INT32_MAX)
			return -ERANGE;
		rs->has_error = true;
		rs->error_code = (int32_t)v;
		if (present(msg) && (r = get_text(msg, rs->error_msg, TL_VENUE_ERROR_MSG_MAX)))
			return r;
	}
	if (present(&t[W_error]) && present(&ps->err_slot[W_data])) {
		const struct jv *d = ps->data;

		if (ps->err_slot[W_data].t != J_OBJECT)
			return -EBADMSG;
		if (present(&d[W_serverTime]) &&
		    (r = get_i64(&d[W_serverTime], 0, &rs->server_time_ms)))
			return r;
		if (present(&d[W_retryAfter]) &&
		    (r = get_i64(&d[W_retryAfter], 0, &rs->retry_after_ms)))
			return r;
		if (rs->server_time_ms > 0 && rs->retry_after_ms > rs->server_time_ms)
			rs->retry_wait_ms = rs->retry_after_ms - rs->server_time_ms;
	}
	if (present(&t[W_rateLimits])) {
		if (t[W_rateLimits].t != J_ARRAY)
			return -EBADMSG;
		rs->n_limits = ps->limits.n;
		rs->n_limits_dropped = ps->limits.dropped;
	}
	/* Errors deferred from the limits (and, in the array modes, the elements). */
	if (ps->err != 0)
		return ps->err;

	switch (t[W_result].t) {
	case J_ABSENT:
		rs->result_kind = TL_VENUE_RESULT_NONE;
		break;
	case J_OBJECT:
		if (present(&ps->res[W_orderId])) {
			if ((r = order_convert(ps, ps->res, &rs->order)) != 0)
				return r;
			rs->result_kind = TL_VENUE_RESULT_ORDER;
		} else if (present(&ps->res[W_subscriptionId])) {
			if ((r = get_u64(&ps->res[W_subscriptionId], &rs->subscription_id)) != 0)
				return r;
			rs->result_kind = TL_VENUE_RESULT_SUBSCRIPTION;
		} else {
			rs->result_kind = TL_VENUE_RESULT_OTHER;
		}
		break;
	case J_ARRAY:
		rs->result_kind = TL_VENUE_RESULT_ARRAY;
		rs->n_results = ps->mode == MODE_MSG ? ps->res_n : (uint32_t)(ps->n + ps->skipped);
		break;
	default:
		rs->result_kind = TL_VENUE_RESULT_OTHER;
		break;
	}
	return 0;
}

/* ======================================================================================
 * Entry points.
 * ====================================================================================== */

void tl_venue_parse_config_default(struct tl_venue_parse_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fallback_scale.px_decimals = 8;
	cfg->fallback_scale.qty_decimals = 8;
	cfg->asset_decimals = 8;
}

static bool cfg_ok(const struct tl_venue_parse_config *cfg)
{
	const struct tl_md_scale *f = &cfg->fallback_scale;

	if (cfg->instruments == NULL && cfg->n_instruments > 0)
		return false;
	return f->px_decimals >= 0 && f->px_decimals <= TL_MD_DEC_MAX_DECIMALS &&
	       f->qty_decimals >= 0 && f->qty_decimals <= TL_MD_DEC_MAX_DECIMALS &&
	       cfg->asset_decimals >= 0 && cfg->asset_decimals <= TL_MD_DEC_MAX_DECIMALS;
}

/* Walks the top-level value of json[0..len), an object (or, when arrays_ok, an array of
 * items). Returns 0, -EBADMSG or -E2BIG. */
static int scan_top(struct ps *ps, const char *json, size_t len, bool arrays_ok, bool *is_array)
{
	const char *p, *end;

	*is_array = false;
	if (len > TL_VENUE_MAX_LEN)
		return -E2BIG;
	if (json == NULL || len == 0)
		return -EBADMSG;
	end = json + len;
	ps->end = end;
	p = tl_json_ws(json, end);
	if (p >= end)
		return -EBADMSG;
	if (*p == '{') {
		p = walk_object(ps, p, 1, top_member, NULL);
	} else if (*p == '[' && arrays_ok) {
		*is_array = true;
		p = walk_array(ps, p, 1, item_element, NULL);
	} else {
		return -EBADMSG;
	}
	if (p == NULL || tl_json_ws(p, end) != end)
		return -EBADMSG;
	return 0;
}

static void ps_init(struct ps *ps, const struct tl_venue_parse_config *cfg, enum mode mode,
                    struct tl_venue_rate_limit *limits)
{
	/* top and ev are read whatever came, so they start empty. res, err_slot and data are
	 * cleared when their object starts (top_member, error_member) and read only when it
	 * did: clearing them here would only cost time on every message. */
	ps->cfg = cfg;
	ps->mode = mode;
	ps->err = 0;
	memset(ps->top, 0, sizeof(ps->top));
	memset(ps->ev, 0, sizeof(ps->ev));
	ps->ev_depth = 1;
	ps->wrapped = false;
	ps->res_n = 0;
	ps->limits = (struct sink_limits){limits, TL_VENUE_RATE_LIMITS_MAX, 0, 0, false};
	ps->xlimits = (struct sink_limits){NULL, 0, 0, 0, true};
	ps->xlimits_seen = false;
	ps->trades = NULL;
	ps->orders = NULL;
	ps->cap = ps->n = ps->skipped = 0;
}

int tl_venue_parse(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                   struct tl_venue_msg *out)
{
	struct ps ps;
	bool is_array;
	int r;

	if (out == NULL)
		return -EINVAL;
	out->kind = TL_VENUE_MSG_NONE;
	if (cfg == NULL || !cfg_ok(cfg))
		return -EINVAL;
	/* The limits land straight in the response; it is the union member only when the
	 * message turns out to be a response, and finish_response keeps them. */
	struct tl_venue_rate_limit limits[TL_VENUE_RATE_LIMITS_MAX];
	ps_init(&ps, cfg, MODE_MSG, limits);
	r = scan_top(&ps, json, len, false, &is_array);
	if (r != 0)
		return r;

	out->has_subscription = false;
	out->subscription_id = 0;
	out->event_ms = 0;
	if (ps.wrapped) {
		if (present(&ps.top[W_subscriptionId])) {
			if ((r = get_u64(&ps.top[W_subscriptionId], &out->subscription_id)) != 0)
				return r;
			out->has_subscription = true;
		}
		r = finish_event(&ps, out);
	} else if (present(&ps.ev[L('e')])) {
		r = finish_event(&ps, out);
	} else if (present(&ps.top[W_status]) || present(&ps.top[W_id])) {
		r = finish_response(&ps, &out->response, 0);
		if (r == 0) {
			memcpy(out->response.limits, limits,
			       out->response.n_limits * sizeof(limits[0]));
			out->kind = TL_VENUE_MSG_RESPONSE;
		}
	} else {
		out->kind = TL_VENUE_MSG_OTHER;
	}
	if (r != 0)
		out->kind = TL_VENUE_MSG_NONE;
	return r;
}

static int parse_items(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                       int http_status, struct tl_venue_response *resp, enum mode mode, void *items,
                       size_t cap, size_t *n, size_t *skipped)
{
	struct tl_venue_rate_limit limits[TL_VENUE_RATE_LIMITS_MAX];
	struct ps ps;
	bool is_array;
	int r;

	if (n != NULL)
		*n = 0;
	if (skipped != NULL)
		*skipped = 0;
	if (cfg == NULL || resp == NULL || n == NULL || (items == NULL && cap > 0) ||
	    http_status < 0 || http_status > 599 || !cfg_ok(cfg))
		return -EINVAL;
	ps_init(&ps, cfg, mode, limits);
	ps.trades = mode == MODE_TRADES ? items : NULL;
	ps.orders = mode == MODE_ORDERS ? items : NULL;
	ps.cap = cap;
	r = scan_top(&ps, json, len, http_status > 0, &is_array);
	if (r != 0)
		return r;
	if (is_array) {
		/* A REST body: the array is the result. */
		memset(resp, 0, sizeof(*resp));
		if (ps.err != 0)
			return ps.err;
		resp->status = http_status;
		resp->result_kind = TL_VENUE_RESULT_ARRAY;
		resp->n_results = (uint32_t)(ps.n + ps.skipped);
	} else {
		r = finish_response(&ps, resp, http_status);
		if (r != 0)
			return r;
		memcpy(resp->limits, limits, resp->n_limits * sizeof(limits[0]));
		/* Anything but an error answer must carry the array. */
		if (!resp->has_error && ps.top[W_result].t != J_ARRAY)
			return -EBADMSG;
	}
	*n = ps.n;
	if (skipped != NULL)
		*skipped = ps.skipped;
	return 0;
}

int tl_venue_parse_trades(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                          int http_status, struct tl_venue_response *resp,
                          struct tl_venue_trade *trades, size_t cap, size_t *n)
{
	return parse_items(cfg, json, len, http_status, resp, MODE_TRADES, trades, cap, n, NULL);
}

int tl_venue_parse_orders(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                          struct tl_venue_response *resp, struct tl_venue_order *orders, size_t cap,
                          size_t *n, size_t *skipped)
{
	return parse_items(cfg, json, len, 0, resp, MODE_ORDERS, orders, cap, n, skipped);
}

/* Entries a REST exchangeInfo body's rateLimits may hold (Binance sends 4). */
#define EXINFO_LIMITS_MAX 32

int tl_venue_parse_rate_limits(const char *json, size_t len, struct tl_venue_rate_limit *out,
                               size_t cap, size_t *n)
{
	struct tl_venue_rate_limit top[EXINFO_LIMITS_MAX];
	struct tl_venue_parse_config cfg;
	struct ps ps;
	bool is_array;
	int r;

	if (n == NULL || (out == NULL && cap > 0))
		return -EINVAL;
	*n = 0;
	tl_venue_parse_config_default(&cfg);
	ps_init(&ps, &cfg, MODE_EXINFO, top);
	/* The REST body's top-level rateLimits is the configuration: none dropped. */
	ps.limits = (struct sink_limits){top, EXINFO_LIMITS_MAX, 0, 0, true};
	ps.xlimits = (struct sink_limits){out, cap, 0, 0, true};
	r = scan_top(&ps, json, len, false, &is_array);
	if (r != 0)
		return r;
	if (ps.xlimits_seen) {
		if (ps.err != 0)
			return ps.err;
		*n = ps.xlimits.n;
		return 0;
	}
	if (!present(&ps.top[W_rateLimits]))
		return -ENOENT;
	if (ps.top[W_rateLimits].t != J_ARRAY)
		return -EBADMSG;
	if (ps.err != 0)
		return ps.err;
	if (ps.limits.n > cap)
		return -E2BIG;
	memcpy(out, top, ps.limits.n * sizeof(top[0]));
	*n = ps.limits.n;
	return 0;
}

/* ======================================================================================
 * REST headers.
 * ====================================================================================== */

static bool prefix_ci(const char *s, size_t n, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i] != '\0'; i++) {
		char c = i < n ? s[i] : '\0';

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != prefix[i])
			return false;
	}
	return true;
}

/* A decimal integer of 1..18 digits (no sign, no blank). */
static int header_int(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 18)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int tl_venue_response_rest_header(struct tl_venue_response *r, const char *name, size_t name_len,
                                  const char *value, size_t value_len)
{
	static const char weight[] = "x-mbx-used-weight-", orders[] = "x-mbx-order-count-";
	struct tl_venue_rate_limit *l;
	enum tl_venue_limit_type type;
	int64_t num, unit, count;
	size_t plen, i;
	char u;

	if (r == NULL || name == NULL || (value == NULL && value_len > 0))
		return -EINVAL;
	if (name_len == 11 && prefix_ci(name, name_len, "retry-after")) {
		if (header_int(value, value_len, &num) != 0)
			return -EBADMSG;
		r->retry_wait_ms = num > INT64_MAX / 1000 ? INT64_MAX : num * 1000;
		return 1;
	}
	if (prefix_ci(name, name_len, weight)) {
		type = TL_VENUE_LIMIT_REQUEST_WEIGHT;
		plen = sizeof(weight) - 1;
	} else if (prefix_ci(name, name_len, orders)) {
		type = TL_VENUE_LIMIT_ORDERS;
		plen = sizeof(orders) - 1;
	} else {
		return 0;
	}
	/* The interval: digits, then one unit letter, then nothing. */
	for (i = plen; i < name_len && name[i] >= '0' && name[i] <= '9'; i++)
		;
	if (i == plen || i + 1 != name_len || header_int(name + plen, i - plen, &num) != 0 ||
	    num < 1)
		return 0;
	u = name[i];
	if (u >= 'A' && u <= 'Z')
		u = (char)(u - 'A' + 'a');
	unit = u == 's' ? 1000 : u == 'm' ? 60000 : u == 'h' ? 3600000 : u == 'd' ? 86400000 : 0;
	if (unit == 0 || num > UINT32_MAX)
		return 0;
	if (header_int(value, value_len, &count) != 0)
		return -EBADMSG;
	if (r->n_limits == TL_VENUE_RATE_LIMITS_MAX)
		return -E2BIG;
	l = &r->limits[r->n_limits++];
	l->type = type;
	l->interval_num = (uint32_t)num;
	l->window_ms = num * unit;
	l->limit = -1;
	l->count = count;
	return 1;
}

/* ======================================================================================
 * Outcomes.
 * ====================================================================================== */

enum tl_venue_outcome tl_venue_classify(const struct tl_venue_response *r, bool timed_out,
                                        struct tl_venue_verdict *v)
{
	struct tl_venue_verdict x;
	int32_t st, code;

	memset(&x, 0, sizeof(x));
	if (timed_out || r == NULL) {
		x.outcome = TL_VENUE_UNKNOWN;
		goto out;
	}
	st = r->status;
	code = r->has_error ? r->error_code : 0;
	x.code = code;
	if (st == 418) {
		x.outcome = TL_VENUE_RATE_LIMITED;
		x.banned = true;
		x.retry_wait_ms = r->retry_wait_ms;
	} else if (st == 429 || code == -1003 || code == -1015) {
		x.outcome = TL_VENUE_RATE_LIMITED;
		x.orders_only = code == -1015;
		x.retry_wait_ms = r->retry_wait_ms;
	} else if (st >= 500 || code == -1007 || code == -1006 || st == 408 || st == 409) {
		/* The venue may have done it: only order.status or the trades can say. */
		x.outcome = TL_VENUE_UNKNOWN;
	} else if (st >= 200 && st <= 299 && !r->has_error) {
		x.outcome = TL_VENUE_ACCEPTED;
	} else if (st >= 400 && st <= 499) {
		x.outcome = TL_VENUE_REJECTED;
	} else {
		/* Nothing says it did not happen, so it is not a reject. */
		x.outcome = TL_VENUE_UNKNOWN;
	}
out:
	if (v != NULL)
		*v = x;
	return x.outcome;
}

const char *tl_venue_outcome_name(enum tl_venue_outcome o)
{
	switch (o) {
	case TL_VENUE_ACCEPTED:
		return "ACCEPTED";
	case TL_VENUE_REJECTED:
		return "REJECTED";
	case TL_VENUE_UNKNOWN:
		return "UNKNOWN";
	case TL_VENUE_RATE_LIMITED:
		return "RATE_LIMITED";
	default:
		return "?";
	}
}
