/*
 * format.c: what `tally sim` sends, written (sim_wire.h, "Output", "Responses", "Results"
 * and "Events"): Binance's JSON from the engine's structs.
 *
 * DESIGN
 *
 * The hot formatters (executionReport, outboundAccountPosition, the market-data events,
 * the order results) run once or more per order, and the sim must serve 50k orders a
 * second on one core. So none of them goes through printf, and none checks capacity per
 * byte: each one works out an upper bound of what it can write (fixed text, plus a
 * bound per number, decimal and string it holds), reserves that much once with
 * buf_reserve(), writes through a bare cursor, and commits the length at the end. An
 * assert after each write checks the bound held; the worst case (every number at its
 * widest, every string at its longest) is a test case.
 *
 * The cold ones (account, exchangeInfo, errors) use the same cursor helpers, reserving
 * per array element where the count is open-ended (balances, symbols, orders, trades).
 *
 * Strings: enum names are the engine's static tables and client order ids are checked by
 * the engine (^[a-zA-Z0-9-_]{1,36}$), so both are copied as they are. Symbols, asset names
 * and stream names come from the operator's config, which only asks them to be non-empty:
 * they go through w_safe(), which replaces what JSON would need escaped by '?' (so a bad
 * config cannot break a message). Symbols are also upper-cased there: Binance writes "s"
 * and "symbol" upper case whatever the stream name's case.
 *
 * A failed allocation sets b->failed and every later write to that buffer is dropped
 * until sim_buf_reset(): a message is then incomplete, never corrupt memory. The event
 * formatters still return true then (the event was of their kind); the caller sees
 * b->failed and drops the message.
 */
#include "sim_wire.h"

#include "tl_md.h" /* tl_md_dec_format */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Widest forms, for the bounds reserved up front. */
#define NUM_W 20 /* an int64 or a uint64: "-9223372036854775808", "18446744073709551615" */
/* A quoted decimal: '"' + tl_md_dec_format's 21 characters at most + its NUL + '"'. The
 * NUL lands inside the reservation and is overwritten by the closing quote. */
#define DEC_W 24
#define SYM_W (TL_SIM_SYMBOL_MAX + 2)
#define ASSET_W (TL_SIM_ASSET_NAME_MAX + 2)
#define CID_W (TL_SIM_CLIENT_ID_MAX + 2)
#define ENUM_MAX 16 /* "PARTIALLY_FILLED", the longest engine name */
#define ENUM_W (ENUM_MAX + 2)
#define BOOL_W 5
#define LEVEL_W (2 * DEC_W + 4) /* ["px","qty"], */

/* ======================================================================================
 * The buffer
 * ====================================================================================== */

void sim_buf_init(struct sim_buf *b, size_t head)
{
	b->p = NULL;
	b->head = head;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

const char *sim_buf_data(const struct sim_buf *b)
{
	return b->p ? b->p + b->head : "";
}

void sim_buf_reset(struct sim_buf *b)
{
	b->len = 0;
	b->failed = false;
}

void sim_buf_free(struct sim_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

/* Room for n more bytes after the message: the cursor to write them at, or NULL when the
 * buffer has failed (now or before). Doubles the allocation, so that a buffer reused
 * message after message settles at its largest size and stops allocating. */
static char *buf_reserve(struct sim_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return NULL;
	if (__builtin_add_overflow(b->head, b->len, &need) ||
	    __builtin_add_overflow(need, n, &need))
		goto fail;
	if (b->p != NULL && need <= b->cap)
		return b->p + b->head + b->len;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (__builtin_mul_overflow(cap, 2, &cap))
			goto fail;
	}
	p = realloc(b->p, cap);
	if (p == NULL)
		goto fail;
	b->p = p;
	b->cap = cap;
	return b->p + b->head + b->len;
fail:
	b->failed = true;
	return NULL;
}

/* Ends a write begun at buf_reserve(b, reserved): w is the cursor after it. */
static void buf_commit(struct sim_buf *b, const char *w, size_t reserved)
{
	size_t n = (size_t)(w - (b->p + b->head + b->len));

	assert(n <= reserved);
	(void)reserved;
	b->len += n;
}

void sim_buf_put(struct sim_buf *b, const void *s, size_t n)
{
	char *w = buf_reserve(b, n);

	if (w == NULL)
		return;
	memcpy(w, s, n);
	b->len += n;
}

void sim_buf_puts(struct sim_buf *b, const char *s)
{
	sim_buf_put(b, s, strlen(s));
}

void sim_buf_printf(struct sim_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	size_t room;
	char *w;
	int n;

	if (b->failed)
		return;
	room = b->p != NULL ? b->cap - b->head - b->len : 0;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(room ? b->p + b->head + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* An encoding error: nothing sensible to write. */
		va_end(ap2);
		return;
	}
	if ((size_t)n >= room) {
		/* It did not fit (vsnprintf wants room for its NUL too): grow and write again. */
		w = buf_reserve(b, (size_t)n + 1);
		if (w != NULL)
			vsnprintf(w, (size_t)n + 1, fmt, ap2);
		va_end(ap2);
		if (w == NULL)
			return;
	} else {
		va_end(ap2);
	}
	b->len += (size_t)n;
}

/* ======================================================================================
 * Cursor writers: each writes at w, which has room (reserved), and returns past it.
 * ====================================================================================== */

/* A string literal, without its NUL. */
#define LIT(w, s) (memcpy((w), (s), sizeof(s) - 1), (w) + sizeof(s) - 1)

static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

/* Two digits a division: half the divisions of the digit-by-digit loop. */
static char *w_u64(char *w, uint64_t v)
{
	char tmp[NUM_W];
	char *e = tmp + sizeof(tmp), *s = e;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		s -= 2;
		memcpy(s, &digits2[2 * r], 2);
	}
	if (v >= 10) {
		s -= 2;
		memcpy(s, &digits2[2 * v], 2);
	} else {
		*--s = (char)('0' + v);
	}
	memcpy(w, s, (size_t)(e - s));
	return w + (e - s);
}

static char *w_i64(char *w, int64_t v)
{
	if (v < 0) {
		*w++ = '-';
		return w_u64(w, 0 - (uint64_t)v);
	}
	return w_u64(w, (uint64_t)v);
}

/* v at `decimals` places, quoted. decimals comes from the validated config (0..8) or is
 * TL_SIM_AMOUNT_DECIMALS, so tl_md_dec_format cannot refuse it. */
static char *w_dec(char *w, int64_t v, int decimals)
{
	int n;

	*w++ = '"';
	n = tl_md_dec_format(w, DEC_W - 2, v, decimals);
	assert(n > 0);
	w += n > 0 ? n : 0;
	*w++ = '"';
	return w;
}

static char *w_bool(char *w, bool v)
{
	return v ? LIT(w, "true") : LIT(w, "false");
}

/* A trusted string (an engine name, a checked client id) of at most max bytes, quoted. */
static char *w_str(char *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	*w++ = '"';
	memcpy(w, s, n);
	w += n;
	*w++ = '"';
	return w;
}

/* A config string of at most max bytes, quoted, with what JSON would need escaped
 * replaced by '?'; upper-cased when `upper` (symbols). */
static char *w_safe(char *w, const char *s, size_t max, bool upper)
{
	size_t n = strnlen(s, max);

	*w++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
			c = '?';
		else if (upper && c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		*w++ = (char)c;
	}
	*w++ = '"';
	return w;
}

/* The buffer's number writers: the cursor writers above, one reservation each. */
void sim_buf_dec(struct sim_buf *b, int64_t v, int decimals)
{
	char *w;

	assert(decimals >= 0 && decimals <= TL_MD_DEC_MAX_DECIMALS);
	w = buf_reserve(b, DEC_W);
	if (w == NULL)
		return;
	w = w_dec(w, v, decimals);
	buf_commit(b, w, DEC_W);
}

void sim_buf_i64(struct sim_buf *b, int64_t v)
{
	char *w = buf_reserve(b, NUM_W);

	if (w == NULL)
		return;
	w = w_i64(w, v);
	buf_commit(b, w, NUM_W);
}

/* Config look-ups that cannot fail: the events and orders come from this sim, so their
 * indexes are in range; should one not be, the message stays valid JSON ("?", 8
 * decimals) rather than the process crashing. */
static const struct tl_sim_market_config *mkt(const tl_sim_t *sim, uint32_t m)
{
	static const struct tl_sim_market_config unknown = {
	    .symbol = "?", .px_decimals = 8, .qty_decimals = 8};
	const struct tl_sim_market_config *mc = tl_sim_market_config(sim, m);

	return mc != NULL ? mc : &unknown;
}

static const char *asset_name(const tl_sim_t *sim, uint32_t a)
{
	const struct tl_sim_config *c = tl_sim_config_get(sim);

	return c != NULL && a < c->n_assets ? c->assets[a].name : "?";
}

static char *w_symbol(char *w, const struct tl_sim_market_config *mc)
{
	return w_safe(w, mc->symbol, TL_SIM_SYMBOL_MAX, true);
}

static char *w_asset(char *w, const tl_sim_t *sim, uint32_t a)
{
	return w_safe(w, asset_name(sim, a), TL_SIM_ASSET_NAME_MAX, false);
}

static char *w_amount(char *w, tl_sim_amount_t a)
{
	return w_dec(w, a.v, TL_SIM_AMOUNT_DECIMALS);
}

static char *w_enum(char *w, const char *name)
{
	return w_str(w, name, ENUM_MAX);
}

/* Events and records report a LIMIT_MAKER (sent without timeInForce) as GTC. */
static const char *tif_name(int tif)
{
	return tif == TL_SIM_TIF_NONE ? "GTC" : tl_sim_tif_name(tif);
}

/* The request id as request.c kept it: a number, a "string" or null, written verbatim. */
static size_t id_len(const char *id)
{
	return id != NULL ? strnlen(id, SIM_ID_MAX) : 0;
}

static char *w_id(char *w, const char *id, size_t n)
{
	if (n == 0)
		return LIT(w, "null");
	memcpy(w, id, n);
	return w + n;
}

/* ======================================================================================
 * Responses
 * ====================================================================================== */

static const char *limit_type_name(enum sim_limit_type t)
{
	switch (t) {
	case SIM_LIMIT_REQUEST_WEIGHT:
		return "REQUEST_WEIGHT";
	case SIM_LIMIT_ORDERS:
		return "ORDERS";
	case SIM_LIMIT_RAW_REQUESTS:
		return "RAW_REQUESTS";
	}
	return "?";
}

static const char *interval_name(enum sim_interval i)
{
	switch (i) {
	case SIM_SECOND:
		return "SECOND";
	case SIM_MINUTE:
		return "MINUTE";
	case SIM_HOUR:
		return "HOUR";
	case SIM_DAY:
		return "DAY";
	}
	return "?";
}

#define RATE_W                                                                                     \
	(sizeof("{\"rateLimitType\":,\"interval\":,\"intervalNum\":,\"limit\":,\"count\":},") +    \
	 2 * ENUM_W + 3 * NUM_W)

/* [{..},..] of usage[0..n) */
static void put_rate_limits(struct sim_buf *b, const struct sim_rate_usage *u, uint32_t n)
{
	size_t res = 2 + (size_t)n * RATE_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	*w++ = '[';
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			*w++ = ',';
		w = LIT(w, "{\"rateLimitType\":");
		w = w_enum(w, limit_type_name(u[i].type));
		w = LIT(w, ",\"interval\":");
		w = w_enum(w, interval_name(u[i].interval));
		w = LIT(w, ",\"intervalNum\":");
		w = w_u64(w, u[i].interval_num);
		w = LIT(w, ",\"limit\":");
		w = w_i64(w, u[i].limit);
		if (u[i].count >= 0) {
			w = LIT(w, ",\"count\":");
			w = w_i64(w, u[i].count);
		}
		*w++ = '}';
	}
	*w++ = ']';
	buf_commit(b, w, res);
}

void sim_fmt_response_begin(struct sim_buf *b, const char *id, int status)
{
	size_t n = id_len(id), res = sizeof("{\"id\":null,\"status\":,\"result\":") + n + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"id\":");
	w = w_id(w, id, n);
	w = LIT(w, ",\"status\":");
	w = w_i64(w, status);
	w = LIT(w, ",\"result\":");
	buf_commit(b, w, res);
}

/* ,"rateLimits":[..]} ; only } when there is no usage to report (Binance leaves the key
 * out of some responses too, and the client reads it only when present). */
void sim_fmt_response_end(struct sim_buf *b, const struct sim_rate_usage *usage, uint32_t n)
{
	if (usage != NULL && n > 0) {
		sim_buf_put(b, ",\"rateLimits\":", sizeof(",\"rateLimits\":") - 1);
		put_rate_limits(b, usage, n);
	}
	sim_buf_put(b, "}", 1);
}

static char *w_error_msg(char *w, const struct sim_error *err)
{
	/* sim_error_set already keeps '"' and '\\' out; w_safe makes it certain. */
	return w_safe(w, err->msg, SIM_ERROR_MSG_MAX, false);
}

void sim_fmt_error(struct sim_buf *b, const char *id, const struct sim_error *err,
                   int64_t server_time_ms, int64_t retry_after_ms,
                   const struct sim_rate_usage *usage, uint32_t n)
{
	size_t idn = id_len(id);
	size_t res = sizeof("{\"id\":null,\"status\":,\"error\":{\"code\":,\"msg\":,\"data\":{"
	                    "\"serverTime\":,\"retryAfter\":}}") +
	             idn + 4 * NUM_W + SIM_ERROR_MSG_MAX + 2;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"id\":");
	w = w_id(w, id, idn);
	w = LIT(w, ",\"status\":");
	w = w_i64(w, err->status);
	w = LIT(w, ",\"error\":{\"code\":");
	w = w_i64(w, err->code);
	w = LIT(w, ",\"msg\":");
	w = w_error_msg(w, err);
	if (retry_after_ms > 0) {
		w = LIT(w, ",\"data\":{\"serverTime\":");
		w = w_i64(w, server_time_ms);
		w = LIT(w, ",\"retryAfter\":");
		w = w_i64(w, retry_after_ms);
		*w++ = '}';
	}
	*w++ = '}';
	buf_commit(b, w, res);
	sim_fmt_response_end(b, usage, n);
}

void sim_fmt_rest_error(struct sim_buf *b, const struct sim_error *err)
{
	size_t res = sizeof("{\"code\":,\"msg\":}") + NUM_W + SIM_ERROR_MSG_MAX + 2;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"code\":");
	w = w_i64(w, err->code);
	w = LIT(w, ",\"msg\":");
	w = w_error_msg(w, err);
	*w++ = '}';
	buf_commit(b, w, res);
}

/* ======================================================================================
 * Results
 * ====================================================================================== */

/* The widest order object any of the three forms writes: generous on the fixed text (the
 * longest form's keys come to about 330 bytes). */
#define ORDER_W (512 + SYM_W + 2 * CID_W + 8 * DEC_W + 6 * NUM_W + 4 * ENUM_W + BOOL_W)
#define FILL_W                                                                                     \
	(sizeof("{\"price\":,\"qty\":,\"commission\":,\"commissionAsset\":,\"tradeId\":},") +      \
	 3 * DEC_W + ASSET_W + NUM_W)

/* "symbol":S,"orderId":N,"orderListId":-1, without the braces */
static char *w_order_head(char *w, const struct tl_sim_market_config *mc,
                          const struct tl_sim_order *o)
{
	w = LIT(w, "\"symbol\":");
	w = w_symbol(w, mc);
	w = LIT(w, ",\"orderId\":");
	w = w_u64(w, o->order_id);
	return LIT(w, ",\"orderListId\":-1");
}

/* ,"price":..,"origQty":..,"executedQty":..[,"origQuoteOrderQty":"0.00000000"],
 * "cummulativeQuoteQty":..,"status":..,"timeInForce":..,"type":..,"side":.. */
static char *w_order_body(char *w, const struct tl_sim_market_config *mc,
                          const struct tl_sim_order *o, bool orig_quote)
{
	w = LIT(w, ",\"price\":");
	w = w_dec(w, o->px.v, mc->px_decimals);
	w = LIT(w, ",\"origQty\":");
	w = w_dec(w, o->qty.v, mc->qty_decimals);
	w = LIT(w, ",\"executedQty\":");
	w = w_dec(w, o->executed_qty.v, mc->qty_decimals);
	/* LIMIT orders have no quote-quantity form: Binance writes zero. */
	if (orig_quote)
		w = LIT(w, ",\"origQuoteOrderQty\":\"0.00000000\"");
	w = LIT(w, ",\"cummulativeQuoteQty\":");
	w = w_amount(w, o->cum_quote);
	w = LIT(w, ",\"status\":");
	w = w_enum(w, tl_sim_status_name(o->status));
	w = LIT(w, ",\"timeInForce\":");
	w = w_enum(w, tif_name(o->tif));
	w = LIT(w, ",\"type\":");
	w = w_enum(w, tl_sim_type_name(o->type));
	w = LIT(w, ",\"side\":");
	return w_enum(w, tl_sim_side_name(o->side));
}

void sim_fmt_place_result(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                          enum sim_resp_type type, const struct sim_fill *fills, uint32_t n_fills)
{
	const struct tl_sim_market_config *mc = mkt(sim, o->market);
	size_t res = ORDER_W + 16;
	char *w;

	if (type != SIM_RESP_FULL)
		n_fills = 0;
	res += (size_t)n_fills * FILL_W;
	w = buf_reserve(b, res);
	if (w == NULL)
		return;
	*w++ = '{';
	w = w_order_head(w, mc, o);
	w = LIT(w, ",\"clientOrderId\":");
	w = w_str(w, o->client_order_id, TL_SIM_CLIENT_ID_MAX);
	/* Placed now: the order's creation time is the request's transaction time. */
	w = LIT(w, ",\"transactTime\":");
	w = w_i64(w, o->time_ms);
	if (type != SIM_RESP_ACK) {
		w = w_order_body(w, mc, o, true);
		w = LIT(w, ",\"workingTime\":");
		w = w_i64(w, o->time_ms);
		w = LIT(w, ",\"selfTradePreventionMode\":\"NONE\"");
	}
	if (type == SIM_RESP_FULL) {
		w = LIT(w, ",\"fills\":[");
		for (uint32_t i = 0; i < n_fills; i++) {
			const struct sim_fill *f = &fills[i];

			if (i)
				*w++ = ',';
			w = LIT(w, "{\"price\":");
			w = w_dec(w, f->px.v, mc->px_decimals);
			w = LIT(w, ",\"qty\":");
			w = w_dec(w, f->qty.v, mc->qty_decimals);
			w = LIT(w, ",\"commission\":");
			w = w_amount(w, f->commission);
			w = LIT(w, ",\"commissionAsset\":");
			w = w_asset(w, sim, f->commission_asset);
			w = LIT(w, ",\"tradeId\":");
			w = w_u64(w, f->trade_id);
			*w++ = '}';
		}
		*w++ = ']';
	}
	*w++ = '}';
	buf_commit(b, w, res);
}

void sim_fmt_cancel_result(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                           const char *cancel_id, int64_t transact_ms)
{
	const struct tl_sim_market_config *mc = mkt(sim, o->market);
	char *w = buf_reserve(b, ORDER_W);

	if (w == NULL)
		return;
	w = LIT(w, "{\"symbol\":");
	w = w_symbol(w, mc);
	w = LIT(w, ",\"origClientOrderId\":");
	w = w_str(w, o->client_order_id, TL_SIM_CLIENT_ID_MAX);
	w = LIT(w, ",\"orderId\":");
	w = w_u64(w, o->order_id);
	w = LIT(w, ",\"orderListId\":-1,\"clientOrderId\":");
	w = w_str(w, cancel_id != NULL ? cancel_id : "", TL_SIM_CLIENT_ID_MAX);
	w = LIT(w, ",\"transactTime\":");
	w = w_i64(w, transact_ms);
	w = w_order_body(w, mc, o, true);
	w = LIT(w, ",\"selfTradePreventionMode\":\"NONE\"}");
	buf_commit(b, w, ORDER_W);
}

/* sim_fmt_order's object at w (ORDER_W reserved). */
static char *w_order(char *w, const struct tl_sim_market_config *mc, const struct tl_sim_order *o)
{
	*w++ = '{';
	w = w_order_head(w, mc, o);
	w = LIT(w, ",\"clientOrderId\":");
	w = w_str(w, o->client_order_id, TL_SIM_CLIENT_ID_MAX);
	w = w_order_body(w, mc, o, false);
	/* Only LIMIT and LIMIT_MAKER: no stop price, no iceberg part. */
	w = LIT(w, ",\"stopPrice\":");
	w = w_dec(w, 0, mc->px_decimals);
	w = LIT(w, ",\"icebergQty\":");
	w = w_dec(w, 0, mc->qty_decimals);
	w = LIT(w, ",\"time\":");
	w = w_i64(w, o->time_ms);
	w = LIT(w, ",\"updateTime\":");
	w = w_i64(w, o->update_ms);
	w = LIT(w, ",\"isWorking\":");
	w = w_bool(w, o->is_working);
	w = LIT(w, ",\"workingTime\":");
	w = w_i64(w, o->time_ms);
	w = LIT(w, ",\"origQuoteOrderQty\":\"0.00000000\",\"selfTradePreventionMode\":\"NONE\"}");
	return w;
}

void sim_fmt_order(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o)
{
	char *w = buf_reserve(b, ORDER_W);

	if (w == NULL)
		return;
	w = w_order(w, mkt(sim, o->market), o);
	buf_commit(b, w, ORDER_W);
}

void sim_fmt_orders(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                    uint32_t n)
{
	sim_buf_put(b, "[", 1);
	for (uint32_t i = 0; i < n; i++) {
		size_t res = ORDER_W + 1;
		char *w = buf_reserve(b, res);

		if (w == NULL)
			return;
		if (i)
			*w++ = ',';
		w = w_order(w, mkt(sim, o[i].market), &o[i]);
		buf_commit(b, w, res);
	}
	sim_buf_put(b, "]", 1);
}

#define TRADE_W                                                                                    \
	(sizeof("{\"symbol\":,\"id\":,\"orderId\":,\"orderListId\":-1,\"price\":,\"qty\":,"        \
	        "\"quoteQty\":,\"commission\":,\"commissionAsset\":,\"time\":,\"isBuyer\":,"       \
	        "\"isMaker\":,\"isBestMatch\":true},") +                                           \
	 SYM_W + 3 * NUM_W + 4 * DEC_W + ASSET_W + 2 * BOOL_W)

void sim_fmt_trades(struct sim_buf *b, const tl_sim_t *sim, uint32_t market,
                    const struct tl_sim_trade *t, uint32_t n)
{
	const struct tl_sim_market_config *mc = mkt(sim, market);

	sim_buf_put(b, "[", 1);
	for (uint32_t i = 0; i < n; i++) {
		char *w = buf_reserve(b, TRADE_W);

		if (w == NULL)
			return;
		if (i)
			*w++ = ',';
		w = LIT(w, "{\"symbol\":");
		w = w_symbol(w, mc);
		w = LIT(w, ",\"id\":");
		w = w_u64(w, t[i].id);
		w = LIT(w, ",\"orderId\":");
		w = w_u64(w, t[i].order_id);
		w = LIT(w, ",\"orderListId\":-1,\"price\":");
		w = w_dec(w, t[i].px.v, mc->px_decimals);
		w = LIT(w, ",\"qty\":");
		w = w_dec(w, t[i].qty.v, mc->qty_decimals);
		w = LIT(w, ",\"quoteQty\":");
		w = w_amount(w, t[i].quote);
		w = LIT(w, ",\"commission\":");
		w = w_amount(w, t[i].commission);
		w = LIT(w, ",\"commissionAsset\":");
		w = w_asset(w, sim, t[i].commission_asset);
		w = LIT(w, ",\"time\":");
		w = w_i64(w, t[i].time_ms);
		w = LIT(w, ",\"isBuyer\":");
		w = w_bool(w, t[i].is_buyer);
		w = LIT(w, ",\"isMaker\":");
		w = w_bool(w, t[i].is_maker);
		/* Client orders trade only with the synthetic side, always at the best price. */
		w = LIT(w, ",\"isBestMatch\":true}");
		buf_commit(b, w, TRADE_W);
	}
	sim_buf_put(b, "]", 1);
}

void sim_fmt_account(struct sim_buf *b, const tl_sim_t *sim, uint32_t account,
                     const struct tl_sim_balance *bal, uint32_t n, int64_t update_ms)
{
	/* Binance gives one commission for the account; the sim's rates are per market, and
	 * market 0's stand for the account (they are equal in every shipped config). */
	const struct tl_sim_market_config *mc = mkt(sim, 0);
	const size_t bal_w = sizeof("{\"asset\":,\"free\":,\"locked\":},") + ASSET_W + 2 * DEC_W;
	size_t res = 320 + 4 * NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"makerCommission\":");
	w = w_u64(w, mc->maker_fee_bp);
	w = LIT(w, ",\"takerCommission\":");
	w = w_u64(w, mc->taker_fee_bp);
	w = LIT(w, ",\"buyerCommission\":0,\"sellerCommission\":0,\"canTrade\":true,"
	           "\"canWithdraw\":true,\"canDeposit\":true,\"updateTime\":");
	w = w_i64(w, update_ms);
	w = LIT(w, ",\"accountType\":\"SPOT\",\"balances\":[");
	buf_commit(b, w, res);
	for (uint32_t i = 0; i < n; i++) {
		w = buf_reserve(b, bal_w);
		if (w == NULL)
			return;
		if (i)
			*w++ = ',';
		w = LIT(w, "{\"asset\":");
		w = w_asset(w, sim, bal[i].asset);
		w = LIT(w, ",\"free\":");
		w = w_amount(w, bal[i].free);
		w = LIT(w, ",\"locked\":");
		w = w_amount(w, bal[i].locked);
		*w++ = '}';
		buf_commit(b, w, bal_w);
	}
	w = buf_reserve(b, res);
	if (w == NULL)
		return;
	w = LIT(w, "],\"permissions\":[\"SPOT\"],\"uid\":");
	w = w_u64(w, account);
	*w++ = '}';
	buf_commit(b, w, res);
}

void sim_fmt_subscription(struct sim_buf *b, uint64_t subscription_id)
{
	size_t res = sizeof("{\"subscriptionId\":}") + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"subscriptionId\":");
	w = w_u64(w, subscription_id);
	*w++ = '}';
	buf_commit(b, w, res);
}

void sim_fmt_time(struct sim_buf *b, int64_t server_time_ms)
{
	size_t res = sizeof("{\"serverTime\":}") + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"serverTime\":");
	w = w_i64(w, server_time_ms);
	*w++ = '}';
	buf_commit(b, w, res);
}

void sim_fmt_empty(struct sim_buf *b)
{
	sim_buf_put(b, "{}", 2);
}

/* [["px","qty"],..] at w (LEVEL_W * n + 2 reserved). */
static char *w_levels(char *w, const struct tl_sim_market_config *mc, const struct tl_sim_level *lv,
                      uint32_t n)
{
	*w++ = '[';
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			*w++ = ',';
		*w++ = '[';
		w = w_dec(w, lv[i].px.v, mc->px_decimals);
		*w++ = ',';
		w = w_dec(w, lv[i].qty.v, mc->qty_decimals);
		*w++ = ']';
	}
	*w++ = ']';
	return w;
}

void sim_fmt_depth_snapshot(struct sim_buf *b, const tl_sim_t *sim, uint32_t market,
                            const struct tl_sim_depth *d)
{
	const struct tl_sim_market_config *mc = mkt(sim, market);
	size_t res = sizeof("{\"lastUpdateId\":,\"bids\":[],\"asks\":[]}") + NUM_W +
	             ((size_t)d->n_bids + d->n_asks) * LEVEL_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"lastUpdateId\":");
	w = w_u64(w, d->last_update_id);
	w = LIT(w, ",\"bids\":");
	w = w_levels(w, mc, d->bids, d->n_bids);
	w = LIT(w, ",\"asks\":");
	w = w_levels(w, mc, d->asks, d->n_asks);
	*w++ = '}';
	buf_commit(b, w, res);
}

/* A quote amount of px * qty at the market's scales (see tl_sim_engine.h "Numbers"). The
 * sim checked at creation that maxPrice * maxQty fits; saturate anyway. */
static int64_t notional(const struct tl_sim_market_config *mc, tl_px_t px, tl_qty_t qty)
{
	int64_t v, m = 1;

	for (int e = TL_SIM_AMOUNT_DECIMALS - mc->px_decimals - mc->qty_decimals; e > 0; e--)
		m *= 10;
	if (__builtin_mul_overflow(px.v, qty.v, &v) || __builtin_mul_overflow(v, m, &v))
		return INT64_MAX;
	return v;
}

#define SYMBOL_INFO_W (1024 + SYM_W + 2 * ASSET_W + 10 * DEC_W + 6 * NUM_W)

void sim_fmt_exchange_info(struct sim_buf *b, const tl_sim_t *sim, int market,
                           int64_t server_time_ms, const struct sim_rate_usage *limits, uint32_t n)
{
	const struct tl_sim_config *cfg = tl_sim_config_get(sim);
	uint32_t n_markets = cfg != NULL ? cfg->n_markets : 0;
	size_t res = 128 + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"timezone\":\"UTC\",\"serverTime\":");
	w = w_i64(w, server_time_ms);
	w = LIT(w, ",\"rateLimits\":");
	buf_commit(b, w, res);
	put_rate_limits(b, limits, limits != NULL ? n : 0);
	sim_buf_puts(b, ",\"exchangeFilters\":[],\"symbols\":[");
	for (uint32_t i = 0, written = 0; i < n_markets; i++) {
		const struct tl_sim_market_config *mc = mkt(sim, i);
		int pd = mc->px_decimals, qd = mc->qty_decimals;

		if (market >= 0 && (uint32_t)market != i)
			continue;
		w = buf_reserve(b, SYMBOL_INFO_W);
		if (w == NULL)
			return;
		if (written++)
			*w++ = ',';
		w = LIT(w, "{\"symbol\":");
		w = w_symbol(w, mc);
		w = LIT(w, ",\"status\":\"TRADING\",\"baseAsset\":");
		w = w_asset(w, sim, mc->base_asset);
		/* Balances and amounts are written at 8 places whatever the asset's fee
		 * precision: that is the precision a client sees. */
		w = LIT(w, ",\"baseAssetPrecision\":");
		w = w_u64(w, TL_SIM_AMOUNT_DECIMALS);
		w = LIT(w, ",\"quoteAsset\":");
		w = w_asset(w, sim, mc->quote_asset);
		w = LIT(w, ",\"quoteAssetPrecision\":");
		w = w_u64(w, TL_SIM_AMOUNT_DECIMALS);
		w = LIT(w, ",\"orderTypes\":[\"LIMIT\",\"LIMIT_MAKER\"],\"filters\":["
		           "{\"filterType\":\"PRICE_FILTER\",\"minPrice\":");
		w = w_dec(w, mc->min_px.v, pd);
		w = LIT(w, ",\"maxPrice\":");
		w = w_dec(w, mc->max_px.v, pd);
		w = LIT(w, ",\"tickSize\":");
		w = w_dec(w, mc->tick_size.v, pd);
		w = LIT(w, "},{\"filterType\":\"LOT_SIZE\",\"minQty\":");
		w = w_dec(w, mc->min_qty.v, qd);
		w = LIT(w, ",\"maxQty\":");
		w = w_dec(w, mc->max_qty.v, qd);
		w = LIT(w, ",\"stepSize\":");
		w = w_dec(w, mc->step_size.v, qd);
		w = LIT(w, "},{\"filterType\":\"NOTIONAL\",\"minNotional\":");
		w = w_amount(w, mc->min_notional);
		w = LIT(w, ",\"applyMinToMarket\":false,\"maxNotional\":");
		w = w_dec(w, notional(mc, mc->max_px, mc->max_qty), TL_SIM_AMOUNT_DECIMALS);
		w = LIT(w, ",\"applyMaxToMarket\":false,\"avgPriceMins\":5},"
		           "{\"filterType\":\"MAX_NUM_ORDERS\",\"maxNumOrders\":");
		w = w_u64(w, mc->max_num_orders);
		w = LIT(w, "}]}");
		buf_commit(b, w, SYMBOL_INFO_W);
	}
	sim_buf_put(b, "]}", 2);
}

/* ======================================================================================
 * Events
 * ====================================================================================== */

#define WRAP_W (sizeof("{\"subscriptionId\":,\"event\":}") + NUM_W)
/* executionReport: the fixed text is about 330 bytes; 512 leaves room for edits. */
#define EXEC_W                                                                                     \
	(WRAP_W + 512 + SYM_W + 2 * CID_W + ASSET_W + 5 * ENUM_W + 10 * DEC_W + 9 * NUM_W +        \
	 2 * BOOL_W)
#define POS_W                                                                                      \
	(WRAP_W + 128 + NUM_W * 2 + 2 * (sizeof("{\"a\":,\"f\":,\"l\":},") + ASSET_W + 2 * DEC_W))
#define BAL_W (WRAP_W + 128 + NUM_W * 2 + ASSET_W + DEC_W)

static char *w_exec_report(char *w, const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	const struct tl_sim_exec_report *x = &ev->u.exec;
	const struct tl_sim_market_config *mc = mkt(sim, ev->market);
	int pd = mc->px_decimals, qd = mc->qty_decimals;

	w = LIT(w, "{\"e\":\"executionReport\",\"E\":");
	w = w_i64(w, ev->event_ms);
	w = LIT(w, ",\"s\":");
	w = w_symbol(w, mc);
	w = LIT(w, ",\"c\":");
	w = w_str(w, x->client_order_id, TL_SIM_CLIENT_ID_MAX);
	w = LIT(w, ",\"S\":");
	w = w_enum(w, tl_sim_side_name(x->side));
	w = LIT(w, ",\"o\":");
	w = w_enum(w, tl_sim_type_name(x->type));
	w = LIT(w, ",\"f\":");
	w = w_enum(w, tif_name(x->tif));
	w = LIT(w, ",\"q\":");
	w = w_dec(w, x->qty.v, qd);
	w = LIT(w, ",\"p\":");
	w = w_dec(w, x->px.v, pd);
	/* No stop orders: P (stop price) as sim_wire.h spells it; F (iceberg) zero. */
	w = LIT(w, ",\"P\":\"0.00000000\",\"F\":");
	w = w_dec(w, 0, qd);
	w = LIT(w, ",\"g\":-1,\"C\":");
	w = w_str(w, x->orig_client_order_id, TL_SIM_CLIENT_ID_MAX);
	w = LIT(w, ",\"x\":");
	w = w_enum(w, tl_sim_exec_name(x->exec_type));
	w = LIT(w, ",\"X\":");
	w = w_enum(w, tl_sim_status_name(x->status));
	/* The engine never emits a rejected order: r is always TL_SIM_OK's "NONE". */
	w = LIT(w, ",\"r\":\"NONE\",\"i\":");
	w = w_u64(w, x->order_id);
	w = LIT(w, ",\"l\":");
	w = w_dec(w, x->last_qty.v, qd);
	w = LIT(w, ",\"z\":");
	w = w_dec(w, x->cum_qty.v, qd);
	w = LIT(w, ",\"L\":");
	w = w_dec(w, x->last_px.v, pd);
	w = LIT(w, ",\"n\":");
	w = w_amount(w, x->commission);
	w = LIT(w, ",\"N\":");
	if (x->commission_asset < 0)
		w = LIT(w, "null");
	else
		w = w_asset(w, sim, (uint32_t)x->commission_asset);
	w = LIT(w, ",\"T\":");
	w = w_i64(w, x->transact_ms);
	w = LIT(w, ",\"t\":");
	w = w_i64(w, x->trade_id);
	w = LIT(w, ",\"I\":0,\"w\":");
	w = w_bool(w, x->is_working);
	w = LIT(w, ",\"m\":");
	w = w_bool(w, x->is_maker);
	w = LIT(w, ",\"M\":false,\"O\":");
	w = w_i64(w, x->create_ms);
	w = LIT(w, ",\"Z\":");
	w = w_amount(w, x->cum_quote);
	w = LIT(w, ",\"Y\":");
	w = w_amount(w, x->last_quote);
	/* W (working time): a LIMIT order works from its creation. */
	w = LIT(w, ",\"Q\":\"0.00000000\",\"W\":");
	w = w_i64(w, x->create_ms);
	return LIT(w, ",\"V\":\"NONE\"}");
}

static char *w_position(char *w, const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	const struct tl_sim_position *p = &ev->u.pos;
	uint32_t n = p->n < 2 ? p->n : 2;

	w = LIT(w, "{\"e\":\"outboundAccountPosition\",\"E\":");
	w = w_i64(w, ev->event_ms);
	w = LIT(w, ",\"u\":");
	w = w_i64(w, p->update_ms);
	w = LIT(w, ",\"B\":[");
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			*w++ = ',';
		w = LIT(w, "{\"a\":");
		w = w_asset(w, sim, p->bal[i].asset);
		w = LIT(w, ",\"f\":");
		w = w_amount(w, p->bal[i].free);
		w = LIT(w, ",\"l\":");
		w = w_amount(w, p->bal[i].locked);
		*w++ = '}';
	}
	return LIT(w, "]}");
}

static char *w_balance_update(char *w, const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	const struct tl_sim_balance_update *u = &ev->u.bal;

	w = LIT(w, "{\"e\":\"balanceUpdate\",\"E\":");
	w = w_i64(w, ev->event_ms);
	w = LIT(w, ",\"a\":");
	w = w_asset(w, sim, u->asset);
	w = LIT(w, ",\"d\":");
	w = w_amount(w, u->delta);
	w = LIT(w, ",\"T\":");
	w = w_i64(w, u->clear_ms);
	*w++ = '}';
	return w;
}

bool sim_fmt_user_event(struct sim_buf *b, const tl_sim_t *sim, uint64_t subscription_id,
                        const struct tl_sim_event *ev)
{
	size_t res;
	char *w;

	if (ev == NULL)
		return false;
	switch (ev->kind) {
	case TL_SIM_EV_EXEC_REPORT:
		res = EXEC_W;
		break;
	case TL_SIM_EV_POSITION:
		res = POS_W;
		break;
	case TL_SIM_EV_BALANCE_UPDATE:
		res = BAL_W;
		break;
	default:
		return false;
	}
	w = buf_reserve(b, res);
	if (w == NULL)
		return true;
	w = LIT(w, "{\"subscriptionId\":");
	w = w_u64(w, subscription_id);
	w = LIT(w, ",\"event\":");
	if (ev->kind == TL_SIM_EV_EXEC_REPORT)
		w = w_exec_report(w, sim, ev);
	else if (ev->kind == TL_SIM_EV_POSITION)
		w = w_position(w, sim, ev);
	else
		w = w_balance_update(w, sim, ev);
	*w++ = '}';
	buf_commit(b, w, res);
	return true;
}

void sim_fmt_stream_terminated(struct sim_buf *b, uint64_t subscription_id, int64_t event_ms)
{
	size_t res = WRAP_W + sizeof("{\"e\":\"eventStreamTerminated\",\"E\":}") + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"subscriptionId\":");
	w = w_u64(w, subscription_id);
	w = LIT(w, ",\"event\":{\"e\":\"eventStreamTerminated\",\"E\":");
	w = w_i64(w, event_ms);
	w = LIT(w, "}}");
	buf_commit(b, w, res);
}

void sim_fmt_server_shutdown(struct sim_buf *b, int64_t event_ms)
{
	size_t res = sizeof("{\"e\":\"serverShutdown\",\"E\":}") + NUM_W;
	char *w = buf_reserve(b, res);

	if (w == NULL)
		return;
	w = LIT(w, "{\"e\":\"serverShutdown\",\"E\":");
	w = w_i64(w, event_ms);
	*w++ = '}';
	buf_commit(b, w, res);
}

#define DEPTH_W                                                                                    \
	(sizeof("{\"e\":\"depthUpdate\",\"E\":,\"s\":,\"U\":,\"u\":,\"b\":[],\"a\":[]}") +         \
	 3 * NUM_W + SYM_W)
#define TICKER_W (sizeof("{\"u\":,\"s\":,\"b\":,\"B\":,\"a\":,\"A\":}") + NUM_W + SYM_W + 4 * DEC_W)
#define TRADE_EV_W                                                                                 \
	(sizeof("{\"e\":\"trade\",\"E\":,\"s\":,\"t\":,\"p\":,\"q\":,\"T\":,\"m\":,\"M\":true}") + \
	 3 * NUM_W + SYM_W + 2 * DEC_W + BOOL_W)

bool sim_fmt_md_event(struct sim_buf *b, const tl_sim_t *sim, const char *stream,
                      const struct tl_sim_event *ev)
{
	const struct tl_sim_market_config *mc;
	size_t res, stream_len = stream != NULL ? strlen(stream) : 0;
	char *w;

	if (ev == NULL)
		return false;
	switch (ev->kind) {
	case TL_SIM_EV_DEPTH:
		res = DEPTH_W + ((size_t)ev->u.depth.n_bids + ev->u.depth.n_asks) * LEVEL_W;
		break;
	case TL_SIM_EV_BOOK_TICKER:
		res = TICKER_W;
		break;
	case TL_SIM_EV_TRADE:
		res = TRADE_EV_W;
		break;
	default:
		return false;
	}
	if (stream != NULL)
		res += sizeof("{\"stream\":\"\",\"data\":}") + stream_len;
	w = buf_reserve(b, res);
	if (w == NULL)
		return true;
	mc = mkt(sim, ev->market);
	if (stream != NULL) {
		w = LIT(w, "{\"stream\":");
		w = w_safe(w, stream, stream_len, false);
		w = LIT(w, ",\"data\":");
	}
	switch (ev->kind) {
	case TL_SIM_EV_DEPTH: {
		const struct tl_sim_depth_update *d = &ev->u.depth;

		w = LIT(w, "{\"e\":\"depthUpdate\",\"E\":");
		w = w_i64(w, ev->event_ms);
		w = LIT(w, ",\"s\":");
		w = w_symbol(w, mc);
		w = LIT(w, ",\"U\":");
		w = w_u64(w, d->first_id);
		w = LIT(w, ",\"u\":");
		w = w_u64(w, d->final_id);
		w = LIT(w, ",\"b\":");
		w = w_levels(w, mc, d->bids, d->n_bids);
		w = LIT(w, ",\"a\":");
		w = w_levels(w, mc, d->asks, d->n_asks);
		*w++ = '}';
		break;
	}
	case TL_SIM_EV_BOOK_TICKER: {
		const struct tl_sim_book_ticker *t = &ev->u.ticker;

		w = LIT(w, "{\"u\":");
		w = w_u64(w, t->update_id);
		w = LIT(w, ",\"s\":");
		w = w_symbol(w, mc);
		w = LIT(w, ",\"b\":");
		w = w_dec(w, t->bid_px.v, mc->px_decimals);
		w = LIT(w, ",\"B\":");
		w = w_dec(w, t->bid_qty.v, mc->qty_decimals);
		w = LIT(w, ",\"a\":");
		w = w_dec(w, t->ask_px.v, mc->px_decimals);
		w = LIT(w, ",\"A\":");
		w = w_dec(w, t->ask_qty.v, mc->qty_decimals);
		*w++ = '}';
		break;
	}
	default: {
		const struct tl_sim_trade_print *t = &ev->u.trade;

		w = LIT(w, "{\"e\":\"trade\",\"E\":");
		w = w_i64(w, ev->event_ms);
		w = LIT(w, ",\"s\":");
		w = w_symbol(w, mc);
		w = LIT(w, ",\"t\":");
		w = w_u64(w, t->trade_id);
		w = LIT(w, ",\"p\":");
		w = w_dec(w, t->px.v, mc->px_decimals);
		w = LIT(w, ",\"q\":");
		w = w_dec(w, t->qty.v, mc->qty_decimals);
		w = LIT(w, ",\"T\":");
		w = w_i64(w, t->trade_ms);
		w = LIT(w, ",\"m\":");
		w = w_bool(w, t->buyer_maker);
		w = LIT(w, ",\"M\":true}");
		break;
	}
	}
	if (stream != NULL)
		*w++ = '}';
	buf_commit(b, w, res);
	return true;
}
