/*
 * Tests of the sim's output side (sim/sim_wire.h, "Output", "Responses", "Results" and
 * "Events"). What the sim writes is read back by the engine's own, independent client
 * parsers, and every field compared with what was formatted:
 *   - user data from a real sim (deposits, resting, taking, expiring and cancelled
 *     orders, maker fills from the walk): executionReport, outboundAccountPosition and
 *     balanceUpdate through tl_venue_parse;
 *   - responses: order.place ACK / RESULT / FULL, order.cancel, order.status, errors with
 *     and without retryAfter, subscription, through tl_venue_parse; order arrays through
 *     tl_venue_parse_orders; myTrades (WS API and REST) through tl_venue_parse_trades;
 *     exchangeInfo's rateLimits (WS API and REST) through tl_venue_parse_rate_limits;
 *   - market data: depthUpdate, bookTicker and trade, raw and combined, and the depth
 *     snapshot, through tl_md_parse;
 *   - exchangeInfo and account.status: valid JSON, values spot-checked;
 *   - exact bytes for the small messages;
 *   - the buffer: growth from empty, the head kept intact, reset, the failure flag;
 *   - the widest message of each kind (every number at its widest, every string at its
 *     longest) stays inside the bound its formatter reserves (format.c asserts it), and
 *     config strings that JSON would need escaped are neutralised.
 */
#include "md_json.h"
#include "sim_wire.h"
#include "tl_md.h"
#include "tl_sim_engine.h"
#include "sim_event_log.h"
#include "tl_test.h"
#include "tl_venue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BTC = 0, USDT = 1 };
#define M0 0u
#define SUB_ID 42u
#define COIN 100000000ll
#define AMT(x) ((tl_sim_amount_t){(x)})
#define PX(x) ((tl_px_t){(x)})
#define QTY(x) ((tl_qty_t){(x)})

static int64_t g_now = 1700000000000ll;
static const struct tl_venue_instrument g_instr[] = {{"BTCUSDT", {2, 5}}};
static struct tl_venue_parse_config g_pcfg;
static tl_md_parser_t *g_md;

/* Usage as a response reports it. */
static const struct sim_rate_usage g_usage[] = {
    {SIM_LIMIT_REQUEST_WEIGHT, SIM_MINUTE, 1, 6000, 12},
    {SIM_LIMIT_ORDERS, SIM_SECOND, 10, 100, 3},
    {SIM_LIMIT_ORDERS, SIM_DAY, 1, 200000, 3},
};
#define N_USAGE 3u

/* ======================================================================================
 * Helpers
 * ====================================================================================== */

/* The whole buffer is one JSON value, with nothing but whitespace around it. */
static bool json_ok(const struct sim_buf *b)
{
	const char *s = sim_buf_data(b), *end = s + b->len, *p;

	if (b->failed || b->len == 0)
		return false;
	p = tl_json_skip_value(tl_json_ws(s, end), end, 0, 64);
	return p != NULL && tl_json_ws(p, end) == end;
}

static bool buf_is(const struct sim_buf *b, const char *want)
{
	if (b->len == strlen(want) && memcmp(sim_buf_data(b), want, b->len) == 0)
		return true;
	fprintf(stderr, "got  %.*s\nwant %s\n", (int)b->len, sim_buf_data(b), want);
	return false;
}

static bool buf_has(const struct sim_buf *b, const char *sub)
{
	/* The message is not NUL-terminated: look only inside it. */
	return memmem(sim_buf_data(b), b->len, sub, strlen(sub)) != NULL;
}

static size_t buf_count(const struct sim_buf *b, const char *sub)
{
	const char *p = sim_buf_data(b), *end = p + b->len;
	size_t n = 0, k = strlen(sub);

	while ((p = memmem(p, (size_t)(end - p), sub, k)) != NULL) {
		n++;
		p += k;
	}
	return n;
}

static void dec(char *out, int64_t v, int decimals)
{
	CHECK(tl_md_dec_format(out, 32, v, decimals) > 0);
}

static int v_side(int s)
{
	return s == TL_SIM_BUY ? TL_VENUE_BUY : TL_VENUE_SELL;
}

static int v_type(int t)
{
	return t == TL_SIM_LIMIT ? TL_VENUE_LIMIT : TL_VENUE_LIMIT_MAKER;
}

static int v_tif(int t)
{
	static const int m[] = {TL_VENUE_GTC, TL_VENUE_GTC, TL_VENUE_IOC, TL_VENUE_FOK};

	return m[t];
}

static int v_status(int s)
{
	static const int m[] = {TL_VENUE_STATUS_NEW, TL_VENUE_STATUS_PARTIALLY_FILLED,
	                        TL_VENUE_STATUS_FILLED, TL_VENUE_STATUS_CANCELED,
	                        TL_VENUE_STATUS_EXPIRED};

	return m[s];
}

static int v_exec(int x)
{
	static const int m[] = {TL_VENUE_EXEC_NEW, TL_VENUE_EXEC_CANCELED, TL_VENUE_EXEC_TRADE,
	                        TL_VENUE_EXEC_EXPIRED};

	return m[x];
}

static const char *asset(const tl_sim_t *sim, uint32_t a)
{
	return tl_sim_config_get(sim)->assets[a].name;
}

static void parse_msg(const struct sim_buf *b, struct tl_venue_msg *m)
{
	CHECK(json_ok(b));
	memset(m, 0xa5, sizeof(*m));
	CHECK_EQ(tl_venue_parse(&g_pcfg, sim_buf_data(b), b->len, m), 0);
}

static void check_usage(const struct tl_venue_response *r)
{
	static const int64_t window_ms[] = {60000, 10000, 86400000};

	CHECK_EQ(r->n_limits, N_USAGE);
	CHECK_EQ(r->n_limits_dropped, 0);
	for (uint32_t i = 0; i < N_USAGE; i++) {
		CHECK_EQ(r->limits[i].type, g_usage[i].type == SIM_LIMIT_REQUEST_WEIGHT
		                                ? TL_VENUE_LIMIT_REQUEST_WEIGHT
		                                : TL_VENUE_LIMIT_ORDERS);
		CHECK_EQ(r->limits[i].window_ms, window_ms[i]);
		CHECK_EQ(r->limits[i].interval_num, g_usage[i].interval_num);
		CHECK_EQ(r->limits[i].limit, g_usage[i].limit);
		CHECK_EQ(r->limits[i].count, g_usage[i].count);
	}
}

/* The detailed fields every order form shares. */
static void check_order_detail(const struct tl_venue_order *v, const struct tl_sim_order *o)
{
	CHECK(v->detailed);
	CHECK_EQ(v->status, v_status(o->status));
	CHECK_EQ(v->side, v_side(o->side));
	CHECK_EQ(v->type, v_type(o->type));
	CHECK_EQ(v->tif, v_tif(o->tif));
	CHECK_EQ(v->px.v, o->px.v);
	CHECK_EQ(v->orig_qty.v, o->qty.v);
	CHECK_EQ(v->executed_qty.v, o->executed_qty.v);
	CHECK_EQ(v->cum_quote_units, o->cum_quote.v);
}

/* sim_fmt_order's object, as tl_venue_parse_orders / order.status read it. */
static void check_status_order(const struct tl_venue_order *v, const struct tl_sim_order *o)
{
	CHECK(strcmp(v->symbol, "BTCUSDT") == 0);
	CHECK(v->instrument_known);
	CHECK_EQ(v->scale.px_decimals, 2);
	CHECK_EQ(v->scale.qty_decimals, 5);
	CHECK_EQ(v->order_id, o->order_id);
	CHECK(strcmp(v->client_order_id, o->client_order_id) == 0);
	CHECK(strcmp(v->orig_client_order_id, "") == 0);
	CHECK_EQ(v->transact_ms, 0);
	CHECK_EQ(v->update_ms, o->update_ms);
	check_order_detail(v, o);
}

static struct tl_sim_order_req limit_req(int side, int type, int tif, int64_t px, int64_t qty,
                                         const char *cid)
{
	struct tl_sim_order_req r = {
	    .side = (enum tl_sim_side)side,
	    .type = (enum tl_sim_type)type,
	    .tif = (enum tl_sim_tif)tif,
	    .px = PX(px),
	    .qty = QTY(qty),
	    .client_order_id = cid,
	    .client_order_id_len = (uint32_t)strlen(cid),
	};

	return r;
}

/* ======================================================================================
 * The buffer
 * ====================================================================================== */

static void test_buf(void)
{
	struct sim_buf b;
	char big[3000];
	const char *p0;

	/* Empty: nothing allocated, data is "". */
	sim_buf_init(&b, 16);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && !b.failed && b.head == 16);
	CHECK(strcmp(sim_buf_data(&b), "") == 0);

	/* First write allocates, behind the head. */
	sim_buf_puts(&b, "abc");
	CHECK(b.p != NULL && b.cap >= 16 + 3);
	CHECK(sim_buf_data(&b) == b.p + 16);
	CHECK(buf_is(&b, "abc"));

	/* The head is never written: mark it, grow a lot, and it is still there. */
	memset(b.p, 'H', 16);
	for (int i = 0; i < 20000; i++)
		sim_buf_put(&b, "0123456789", 10);
	CHECK(!b.failed);
	CHECK_EQ(b.len, 3 + 200000);
	CHECK(b.cap >= 16 + b.len);
	for (int i = 0; i < 16; i++)
		CHECK(b.p[i] == 'H');
	CHECK(memcmp(sim_buf_data(&b), "abc0123456789", 13) == 0);
	CHECK(memcmp(sim_buf_data(&b) + b.len - 10, "0123456789", 10) == 0);

	/* Reset keeps the memory. */
	p0 = b.p;
	sim_buf_reset(&b);
	CHECK(b.len == 0 && b.p == p0 && !b.failed);
	sim_buf_i64(&b, INT64_MIN);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, INT64_MAX);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, 0);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, -1);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, 99);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, 100);
	sim_buf_put(&b, " ", 1);
	sim_buf_i64(&b, 1000000007);
	CHECK(buf_is(&b, "-9223372036854775808 9223372036854775807 0 -1 99 100 1000000007"));
	CHECK(b.p == p0);
	for (int i = 0; i < 16; i++)
		CHECK(b.p[i] == 'H');

	sim_buf_reset(&b);
	sim_buf_dec(&b, 5, 2);
	sim_buf_dec(&b, -150, 2);
	sim_buf_dec(&b, 7, 0);
	sim_buf_dec(&b, 6173763000000, 8);
	sim_buf_dec(&b, 0, 5);
	CHECK(buf_is(&b, "\"0.05\"\"-1.50\"\"7\"\"61737.63000000\"\"0.00000\""));

	/* printf: one that fits, one that must grow the buffer. */
	sim_buf_free(&b);
	sim_buf_init(&b, 16);
	sim_buf_printf(&b, "%s=%d", "x", 42);
	CHECK(buf_is(&b, "x=42"));
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sim_buf_printf(&b, "[%s]", big);
	CHECK_EQ(b.len, 4 + 2 + sizeof(big) - 1);
	CHECK(memcmp(sim_buf_data(&b), "x=42[zzz", 8) == 0);
	CHECK(sim_buf_data(&b)[b.len - 1] == ']');

	/* Failure: a size that cannot be allocated (it overflows the sums, so nothing is
	 * asked of the allocator) fails the buffer; later writes are dropped until reset. */
	sim_buf_reset(&b);
	sim_buf_puts(&b, "ok");
	sim_buf_put(&b, "x", SIZE_MAX);
	CHECK(b.failed);
	CHECK_EQ(b.len, 2);
	sim_buf_puts(&b, "more");
	sim_buf_i64(&b, 5);
	sim_buf_dec(&b, 5, 2);
	sim_buf_printf(&b, "%d", 5);
	sim_fmt_time(&b, 5);
	sim_fmt_empty(&b);
	CHECK_EQ(b.len, 2);
	CHECK(b.failed);
	sim_buf_reset(&b);
	CHECK(!b.failed && b.len == 0);
	/* The doubling itself overflowing also fails cleanly. */
	sim_buf_put(&b, "x", SIZE_MAX - 1000);
	CHECK(b.failed && b.len == 0);
	sim_buf_reset(&b);
	sim_buf_puts(&b, "again");
	CHECK(buf_is(&b, "again"));
	sim_buf_free(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
	sim_buf_free(&b); /* twice is harmless */

	/* A formatter from empty with no head. */
	sim_buf_init(&b, 0);
	sim_fmt_server_shutdown(&b, 1);
	CHECK(sim_buf_data(&b) == b.p);
	CHECK(buf_is(&b, "{\"e\":\"serverShutdown\",\"E\":1}"));
	sim_buf_free(&b);
}

/* ======================================================================================
 * Exact bytes
 * ====================================================================================== */

static void test_exact(const tl_sim_t *sim)
{
	struct sim_buf b;
	struct sim_error err = {400, -1100, "Illegal characters found in parameter 'price'."};
	struct tl_sim_event ev;

	sim_buf_init(&b, 0);
	sim_fmt_rest_error(&b, &err);
	CHECK(buf_is(&b, "{\"code\":-1100,\"msg\":\"Illegal characters found in parameter "
	                 "'price'.\"}"));

	sim_buf_reset(&b);
	err = (struct sim_error){429, -1003, "Too many requests."};
	sim_fmt_error(&b, "7", &err, 1000, 3000, g_usage, 1);
	CHECK(buf_is(&b, "{\"id\":7,\"status\":429,\"error\":{\"code\":-1003,\"msg\":\"Too many "
	                 "requests.\",\"data\":{\"serverTime\":1000,\"retryAfter\":3000}},"
	                 "\"rateLimits\":[{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":"
	                 "\"MINUTE\",\"intervalNum\":1,\"limit\":6000,\"count\":12}]}"));

	/* No retryAfter, no usage, an unreadable id: the short form. */
	sim_buf_reset(&b);
	err = (struct sim_error){400, -1000, "Unknown method."};
	sim_fmt_error(&b, "null", &err, 1000, 0, NULL, 0);
	CHECK(buf_is(&b, "{\"id\":null,\"status\":400,\"error\":{\"code\":-1000,\"msg\":"
	                 "\"Unknown method.\"}}"));

	sim_buf_reset(&b);
	sim_fmt_response_begin(&b, "\"abc\"", 200);
	sim_fmt_empty(&b);
	sim_fmt_response_end(&b, NULL, 0);
	CHECK(buf_is(&b, "{\"id\":\"abc\",\"status\":200,\"result\":{}}"));

	sim_buf_reset(&b);
	sim_fmt_response_begin(&b, "18446744073709551615", 200);
	sim_fmt_time(&b, 1700000000123);
	sim_fmt_response_end(&b, &g_usage[1], 1);
	CHECK(buf_is(&b,
	             "{\"id\":18446744073709551615,\"status\":200,\"result\":{\"serverTime\":"
	             "1700000000123},\"rateLimits\":[{\"rateLimitType\":\"ORDERS\",\"interval\":"
	             "\"SECOND\",\"intervalNum\":10,\"limit\":100,\"count\":3}]}"));

	sim_buf_reset(&b);
	sim_fmt_subscription(&b, 0);
	CHECK(buf_is(&b, "{\"subscriptionId\":0}"));

	sim_buf_reset(&b);
	sim_fmt_stream_terminated(&b, 3, 1700000000000);
	CHECK(buf_is(&b, "{\"subscriptionId\":3,\"event\":{\"e\":\"eventStreamTerminated\","
	                 "\"E\":1700000000000}}"));

	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_BOOK_TICKER;
	ev.market = M0;
	ev.event_ms = 1;
	ev.u.ticker =
	    (struct tl_sim_book_ticker){123, PX(6000000), QTY(150000), PX(6000001), QTY(1)};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, NULL, &ev));
	CHECK(buf_is(&b, "{\"u\":123,\"s\":\"BTCUSDT\",\"b\":\"60000.00\",\"B\":\"1.50000\","
	                 "\"a\":\"60000.01\",\"A\":\"0.00001\"}"));
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, "btcusdt@bookTicker", &ev));
	CHECK(buf_is(&b, "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":123,\"s\":\"BTCUSDT\","
	                 "\"b\":\"60000.00\",\"B\":\"1.50000\",\"a\":\"60000.01\",\"A\":"
	                 "\"0.00001\"}}"));

	/* An empty book side reads as zeros. */
	ev.u.ticker = (struct tl_sim_book_ticker){9, PX(0), QTY(0), PX(0), QTY(0)};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, NULL, &ev));
	CHECK(buf_is(&b, "{\"u\":9,\"s\":\"BTCUSDT\",\"b\":\"0.00\",\"B\":\"0.00000\",\"a\":"
	                 "\"0.00\",\"A\":\"0.00000\"}"));

	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_TRADE;
	ev.market = M0;
	ev.event_ms = 1700000000001;
	ev.u.trade = (struct tl_sim_trade_print){77, PX(5999999), QTY(2500), true, 1700000000000};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, NULL, &ev));
	CHECK(buf_is(&b,
	             "{\"e\":\"trade\",\"E\":1700000000001,\"s\":\"BTCUSDT\",\"t\":77,\"p\":"
	             "\"59999.99\",\"q\":\"0.02500\",\"T\":1700000000000,\"m\":true,\"M\":true}"));

	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_BALANCE_UPDATE;
	ev.market = TL_SIM_NO_MARKET;
	ev.event_ms = 5;
	ev.u.bal = (struct tl_sim_balance_update){0, USDT, AMT(-150000000), 6};
	sim_buf_reset(&b);
	CHECK(sim_fmt_user_event(&b, sim, 9, &ev));
	CHECK(buf_is(&b, "{\"subscriptionId\":9,\"event\":{\"e\":\"balanceUpdate\",\"E\":5,\"a\":"
	                 "\"USDT\",\"d\":\"-1.50000000\",\"T\":6}}"));

	sim_buf_free(&b);
}

/* ======================================================================================
 * User data from a real sim
 * ====================================================================================== */

static void check_exec(const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	const struct tl_sim_exec_report *x = &ev->u.exec;
	const struct tl_venue_exec_report *v;
	struct tl_venue_msg m;
	struct sim_buf b;

	sim_buf_init(&b, 16);
	CHECK(sim_fmt_user_event(&b, sim, SUB_ID, ev));
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_EXEC_REPORT);
	CHECK(m.has_subscription);
	CHECK_EQ(m.subscription_id, SUB_ID);
	CHECK_EQ(m.event_ms, ev->event_ms);
	v = &m.exec;
	CHECK(strcmp(v->symbol, "BTCUSDT") == 0);
	CHECK(v->instrument_known);
	CHECK(strcmp(v->client_order_id, x->client_order_id) == 0);
	CHECK(strcmp(v->orig_client_order_id, x->orig_client_order_id) == 0);
	CHECK_EQ(v->order_id, x->order_id);
	CHECK_EQ(v->side, v_side(x->side));
	CHECK_EQ(v->type, v_type(x->type));
	CHECK_EQ(v->tif, v_tif(x->tif));
	CHECK_EQ(v->exec_type, v_exec(x->exec_type));
	CHECK_EQ(v->status, v_status(x->status));
	CHECK(strcmp(v->reject_reason, "NONE") == 0);
	CHECK_EQ(v->px.v, x->px.v);
	CHECK_EQ(v->qty.v, x->qty.v);
	CHECK_EQ(v->last_qty.v, x->last_qty.v);
	CHECK_EQ(v->last_px.v, x->last_px.v);
	CHECK_EQ(v->cum_qty.v, x->cum_qty.v);
	CHECK_EQ(v->cum_quote_units, x->cum_quote.v);
	CHECK_EQ(v->last_quote_units, x->last_quote.v);
	CHECK_EQ(v->commission_units, x->commission.v);
	if (x->commission_asset < 0) {
		CHECK(strcmp(v->commission_asset, "") == 0);
		CHECK(buf_has(&b, "\"N\":null"));
	} else {
		CHECK(strcmp(v->commission_asset, asset(sim, (uint32_t)x->commission_asset)) == 0);
	}
	CHECK_EQ(v->has_trade, x->trade_id >= 0);
	CHECK_EQ(v->trade_id, x->trade_id >= 0 ? x->trade_id : 0);
	if (x->trade_id < 0)
		CHECK(buf_has(&b, "\"t\":-1,"));
	CHECK_EQ(v->is_maker, x->is_maker);
	CHECK_EQ(v->is_working, x->is_working);
	CHECK_EQ(v->event_ms, ev->event_ms);
	CHECK_EQ(v->transact_ms, x->transact_ms);
	CHECK_EQ(v->created_ms, x->create_ms);
	/* The keys the client does not read, as Binance spells them. */
	CHECK(buf_has(&b, "\"P\":\"0.00000000\",\"F\":\"0.00000\",\"g\":-1,"));
	CHECK(buf_has(&b, ",\"I\":0,"));
	CHECK(buf_has(&b, ",\"M\":false,"));
	CHECK(buf_has(&b, ",\"Q\":\"0.00000000\",\"W\":"));
	CHECK(buf_has(&b, ",\"V\":\"NONE\"}}"));
	CHECK_EQ(buf_count(&b, "\":"), 36); /* subscriptionId, event, and 34 letters */
	sim_buf_free(&b);
}

static void check_position(const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	const struct tl_sim_position *p = &ev->u.pos;
	struct tl_venue_msg m;
	struct sim_buf b;

	sim_buf_init(&b, 0);
	CHECK(sim_fmt_user_event(&b, sim, SUB_ID, ev));
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_ACCOUNT_POSITION);
	CHECK(m.has_subscription);
	CHECK_EQ(m.subscription_id, SUB_ID);
	CHECK_EQ(m.position.event_ms, ev->event_ms);
	CHECK_EQ(m.position.update_ms, p->update_ms);
	CHECK_EQ(m.position.n_balances, p->n);
	for (uint32_t i = 0; i < p->n; i++) {
		const struct tl_venue_balance *v = &m.position.balances[i];

		CHECK(strcmp(v->asset, asset(sim, p->bal[i].asset)) == 0);
		CHECK_EQ(v->free_units, p->bal[i].free.v);
		CHECK_EQ(v->locked_units, p->bal[i].locked.v);
	}
	sim_buf_free(&b);
}

static void check_balance_update(const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	struct tl_venue_msg m;
	struct sim_buf b;

	sim_buf_init(&b, 0);
	CHECK(sim_fmt_user_event(&b, sim, SUB_ID, ev));
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_BALANCE_UPDATE);
	CHECK(m.has_subscription);
	CHECK_EQ(m.subscription_id, SUB_ID);
	CHECK(strcmp(m.balance.asset, asset(sim, ev->u.bal.asset)) == 0);
	CHECK_EQ(m.balance.delta_units, ev->u.bal.delta.v);
	CHECK_EQ(m.balance.event_ms, ev->event_ms);
	CHECK_EQ(m.balance.clear_ms, ev->u.bal.clear_ms);
	sim_buf_free(&b);
}

/* Market data: raw and combined, through tl_md_parse. */
static void check_md(const tl_sim_t *sim, const struct tl_sim_event *ev)
{
	static const char *const streams[] = {NULL, "btcusdt@depth@100ms"};
	struct sim_buf b;
	struct tl_md_msg m;

	sim_buf_init(&b, 16);
	for (int s = 0; s < 2; s++) {
		sim_buf_reset(&b);
		CHECK(sim_fmt_md_event(&b, sim, streams[s], ev));
		CHECK(json_ok(&b));
		CHECK_EQ(tl_md_parse(g_md, sim_buf_data(&b), b.len, &m), 0);
		CHECK(strcmp(m.symbol, "BTCUSDT") == 0);
		if (streams[s] != NULL)
			CHECK(memcmp(sim_buf_data(&b),
			             "{\"stream\":\"btcusdt@depth@100ms\",\"data\":{", 40) == 0);
		switch (ev->kind) {
		case TL_SIM_EV_DEPTH: {
			const struct tl_sim_depth_update *d = &ev->u.depth;

			CHECK_EQ(m.kind, TL_MD_DEPTH);
			CHECK_EQ(m.event_ms, ev->event_ms);
			CHECK_EQ(m.first_id, d->first_id);
			CHECK_EQ(m.final_id, d->final_id);
			CHECK_EQ(m.n_bids, d->n_bids);
			CHECK_EQ(m.n_asks, d->n_asks);
			for (uint32_t i = 0; i < d->n_bids; i++) {
				CHECK_EQ(m.bids[i].px, d->bids[i].px.v);
				CHECK_EQ(m.bids[i].qty, d->bids[i].qty.v);
			}
			for (uint32_t i = 0; i < d->n_asks; i++) {
				CHECK_EQ(m.asks[i].px, d->asks[i].px.v);
				CHECK_EQ(m.asks[i].qty, d->asks[i].qty.v);
			}
			break;
		}
		case TL_SIM_EV_BOOK_TICKER: {
			const struct tl_sim_book_ticker *t = &ev->u.ticker;

			CHECK_EQ(m.kind, TL_MD_TICKER);
			CHECK_EQ(m.final_id, t->update_id);
			CHECK_EQ(m.bid.px, t->bid_px.v);
			CHECK_EQ(m.bid.qty, t->bid_qty.v);
			CHECK_EQ(m.ask.px, t->ask_px.v);
			CHECK_EQ(m.ask.qty, t->ask_qty.v);
			break;
		}
		default: {
			const struct tl_sim_trade_print *t = &ev->u.trade;

			CHECK_EQ(ev->kind, TL_SIM_EV_TRADE);
			CHECK_EQ(m.kind, TL_MD_TRADE);
			CHECK_EQ(m.event_ms, ev->event_ms);
			CHECK_EQ(m.trade_id, t->trade_id);
			CHECK_EQ(m.px, t->px.v);
			CHECK_EQ(m.qty, t->qty.v);
			CHECK_EQ(m.trade_ms, t->trade_ms);
			CHECK_EQ(m.buyer_maker, t->buyer_maker);
			break;
		}
		}
	}
	sim_buf_free(&b);
}

/* Every event of the log through its formatter and back; the other formatter refuses
 * it and writes nothing. Returns the exec types seen, as a bit set. */
static unsigned check_events(const tl_sim_t *sim, const struct log *l, bool *null_n, bool *asset_n)
{
	struct sim_buf b;
	unsigned seen = 0;

	sim_buf_init(&b, 0);
	for (size_t i = 0; i < l->n; i++) {
		const struct tl_sim_event *ev = &l->ev[i];
		bool user = ev->kind == TL_SIM_EV_EXEC_REPORT || ev->kind == TL_SIM_EV_POSITION ||
		            ev->kind == TL_SIM_EV_BALANCE_UPDATE;

		sim_buf_reset(&b);
		if (user) {
			CHECK(!sim_fmt_md_event(&b, sim, NULL, ev));
			CHECK(!sim_fmt_md_event(&b, sim, "x", ev));
		} else {
			CHECK(!sim_fmt_user_event(&b, sim, SUB_ID, ev));
		}
		CHECK_EQ(b.len, 0);
		switch (ev->kind) {
		case TL_SIM_EV_EXEC_REPORT:
			check_exec(sim, ev);
			seen |= 1u << ev->u.exec.exec_type;
			*null_n |= ev->u.exec.commission_asset < 0;
			*asset_n |= ev->u.exec.commission_asset >= 0;
			break;
		case TL_SIM_EV_POSITION:
			check_position(sim, ev);
			break;
		case TL_SIM_EV_BALANCE_UPDATE:
			check_balance_update(sim, ev);
			break;
		default:
			check_md(sim, ev);
			break;
		}
	}
	sim_buf_free(&b);
	return seen;
}

/* ======================================================================================
 * Responses and results from a real sim
 * ====================================================================================== */

/* The TRADE executionReports of an order in the log, as a FULL response's fills. */
static uint32_t fills_of(const struct log *l, size_t from, uint64_t order_id, struct sim_fill *f,
                         uint32_t cap)
{
	uint32_t n = 0;

	for (size_t i = from; i < l->n && n < cap; i++) {
		const struct tl_sim_exec_report *x = &l->ev[i].u.exec;

		if (l->ev[i].kind != TL_SIM_EV_EXEC_REPORT || x->order_id != order_id ||
		    x->exec_type != TL_SIM_X_TRADE)
			continue;
		f[n++] = (struct sim_fill){x->last_px, x->last_qty, x->commission,
		                           (uint32_t)x->commission_asset, (uint64_t)x->trade_id};
	}
	return n;
}

static void check_place(const tl_sim_t *sim, const struct tl_sim_order *o,
                        const struct sim_fill *fills, uint32_t n_fills)
{
	struct sim_buf b;
	struct tl_venue_msg m;

	sim_buf_init(&b, 16);
	for (int t = SIM_RESP_ACK; t <= SIM_RESP_FULL; t++) {
		const struct tl_venue_order *v = &m.response.order;

		sim_buf_reset(&b);
		sim_fmt_response_begin(&b, "12", 200);
		sim_fmt_place_result(&b, sim, o, (enum sim_resp_type)t, fills, n_fills);
		sim_fmt_response_end(&b, g_usage, N_USAGE);
		parse_msg(&b, &m);
		CHECK_EQ(m.kind, TL_VENUE_MSG_RESPONSE);
		CHECK(m.response.has_id);
		CHECK_EQ(m.response.id, 12);
		CHECK_EQ(m.response.status, 200);
		CHECK(!m.response.has_error);
		CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_ORDER);
		check_usage(&m.response);
		CHECK(strcmp(v->symbol, "BTCUSDT") == 0);
		CHECK(v->instrument_known);
		CHECK_EQ(v->order_id, o->order_id);
		CHECK(strcmp(v->client_order_id, o->client_order_id) == 0);
		CHECK(strcmp(v->orig_client_order_id, "") == 0);
		CHECK_EQ(v->transact_ms, o->time_ms);
		CHECK_EQ(v->update_ms, 0);
		CHECK(buf_has(&b, "\"orderListId\":-1,"));
		if (t == SIM_RESP_ACK) {
			CHECK(!v->detailed);
			CHECK(!buf_has(&b, "\"price\""));
		} else {
			check_order_detail(v, o);
			CHECK(buf_has(&b, "\"origQuoteOrderQty\":\"0.00000000\""));
			CHECK(buf_has(&b, "\"selfTradePreventionMode\":\"NONE\""));
			CHECK(buf_has(&b, "\"workingTime\":"));
		}
		if (t == SIM_RESP_FULL) {
			char px[32], qty[32], com[32], want[256];

			CHECK(buf_has(&b, "\"fills\":["));
			CHECK_EQ(buf_count(&b, "\"tradeId\":"), n_fills);
			for (uint32_t i = 0; i < n_fills; i++) {
				dec(px, fills[i].px.v, 2);
				dec(qty, fills[i].qty.v, 5);
				dec(com, fills[i].commission.v, 8);
				snprintf(want, sizeof(want),
				         "{\"price\":\"%s\",\"qty\":\"%s\",\"commission\":\"%s\","
				         "\"commissionAsset\":\"%s\",\"tradeId\":%llu}",
				         px, qty, com, asset(sim, fills[i].commission_asset),
				         (unsigned long long)fills[i].trade_id);
				CHECK(buf_has(&b, want));
			}
		} else {
			CHECK(!buf_has(&b, "fills"));
		}
	}
	sim_buf_free(&b);
}

static void check_cancel(const tl_sim_t *sim, const struct tl_sim_order *o, const char *cancel_id)
{
	const struct tl_venue_order *v;
	struct tl_venue_msg m;
	struct sim_buf b;

	sim_buf_init(&b, 0);
	sim_fmt_response_begin(&b, "13", 200);
	sim_fmt_cancel_result(&b, sim, o, cancel_id, g_now + 5);
	sim_fmt_response_end(&b, g_usage, N_USAGE);
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_RESPONSE);
	CHECK_EQ(m.response.id, 13);
	CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_ORDER);
	v = &m.response.order;
	CHECK(strcmp(v->symbol, "BTCUSDT") == 0);
	CHECK_EQ(v->order_id, o->order_id);
	CHECK(strcmp(v->client_order_id, cancel_id) == 0);
	CHECK(strcmp(v->orig_client_order_id, o->client_order_id) == 0);
	CHECK_EQ(v->transact_ms, g_now + 5);
	CHECK_EQ(v->status, TL_VENUE_STATUS_CANCELED);
	check_order_detail(v, o);
	check_usage(&m.response);
	sim_buf_free(&b);
}

static void check_status(const tl_sim_t *sim, const struct tl_sim_order *o)
{
	struct tl_venue_msg m;
	struct sim_buf b;
	char want[64];

	sim_buf_init(&b, 0);
	sim_fmt_response_begin(&b, "14", 200);
	sim_fmt_order(&b, sim, o);
	sim_fmt_response_end(&b, g_usage, N_USAGE);
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_RESPONSE);
	CHECK_EQ(m.response.id, 14);
	CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_ORDER);
	check_status_order(&m.response.order, o);
	CHECK(buf_has(&b, "\"stopPrice\":\"0.00\",\"icebergQty\":\"0.00000\""));
	snprintf(want, sizeof(want), "\"isWorking\":%s", o->is_working ? "true" : "false");
	CHECK(buf_has(&b, want));
	snprintf(want, sizeof(want), "\"time\":%lld", (long long)o->time_ms);
	CHECK(buf_has(&b, want));
	sim_buf_free(&b);
}

static void check_orders(const tl_sim_t *sim, const struct tl_sim_order *o, uint32_t n)
{
	struct tl_venue_response r;
	struct tl_venue_order v[16];
	struct sim_buf b;
	size_t got = 99, skipped = 99;

	CHECK(n <= 16);
	sim_buf_init(&b, 16);
	sim_fmt_response_begin(&b, "15", 200);
	sim_fmt_orders(&b, sim, o, n);
	sim_fmt_response_end(&b, g_usage, N_USAGE);
	CHECK(json_ok(&b));
	CHECK_EQ(tl_venue_parse_orders(&g_pcfg, sim_buf_data(&b), b.len, &r, v, 16, &got, &skipped),
	         0);
	CHECK_EQ(r.status, 200);
	CHECK_EQ(r.id, 15);
	CHECK_EQ(r.result_kind, TL_VENUE_RESULT_ARRAY);
	CHECK_EQ(got, n);
	CHECK_EQ(skipped, 0);
	check_usage(&r);
	for (uint32_t i = 0; i < n; i++)
		check_status_order(&v[i], &o[i]);
	sim_buf_free(&b);
}

static void check_trades(const tl_sim_t *sim, const struct tl_sim_trade *t, uint32_t n)
{
	struct tl_venue_response r;
	struct tl_venue_trade *v = calloc(n + 1, sizeof(*v));
	struct sim_buf b;
	size_t got = 99;

	CHECK(v != NULL);
	sim_buf_init(&b, 0);
	for (int rest = 0; rest < 2; rest++) {
		sim_buf_reset(&b);
		if (!rest)
			sim_fmt_response_begin(&b, "16", 200);
		sim_fmt_trades(&b, sim, M0, t, n);
		if (!rest)
			sim_fmt_response_end(&b, g_usage, N_USAGE);
		CHECK(json_ok(&b));
		memset(&r, 0, sizeof(r));
		CHECK_EQ(tl_venue_parse_trades(&g_pcfg, sim_buf_data(&b), b.len, rest ? 200 : 0, &r,
		                               v, n + 1, &got),
		         0);
		CHECK_EQ(r.status, 200);
		CHECK(!r.has_error);
		CHECK_EQ(got, n);
		if (!rest) {
			CHECK_EQ(r.id, 16);
			check_usage(&r);
		}
		CHECK_EQ(buf_count(&b, "\"isBestMatch\":true"), n);
		CHECK_EQ(buf_count(&b, "\"orderListId\":-1"), n);
		for (uint32_t i = 0; i < n; i++) {
			CHECK(strcmp(v[i].symbol, "BTCUSDT") == 0);
			CHECK(v[i].instrument_known);
			CHECK_EQ(v[i].trade_id, t[i].id);
			CHECK_EQ(v[i].order_id, t[i].order_id);
			CHECK_EQ(v[i].px.v, t[i].px.v);
			CHECK_EQ(v[i].qty.v, t[i].qty.v);
			CHECK_EQ(v[i].quote_qty_units, t[i].quote.v);
			CHECK_EQ(v[i].commission_units, t[i].commission.v);
			CHECK(strcmp(v[i].commission_asset, asset(sim, t[i].commission_asset)) ==
			      0);
			CHECK_EQ(v[i].time_ms, t[i].time_ms);
			CHECK_EQ(v[i].is_buyer, t[i].is_buyer);
			CHECK_EQ(v[i].is_maker, t[i].is_maker);
		}
	}
	sim_buf_free(&b);
	free(v);
}

static void check_errors(void)
{
	struct sim_error err = {429, -1003, "Too many requests; current limit is 6000."};
	struct tl_venue_msg m;
	struct sim_buf b;

	sim_buf_init(&b, 16);
	/* A string id: echoed verbatim, so the client sees a string (has_id false). */
	sim_fmt_error(&b, "\"req-1\"", &err, g_now, g_now + 2500, g_usage, N_USAGE);
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_RESPONSE);
	CHECK(!m.response.has_id);
	CHECK(buf_has(&b, "{\"id\":\"req-1\","));
	CHECK_EQ(m.response.status, 429);
	CHECK(m.response.has_error);
	CHECK_EQ(m.response.error_code, -1003);
	CHECK(strcmp(m.response.error_msg, err.msg) == 0);
	CHECK_EQ(m.response.server_time_ms, g_now);
	CHECK_EQ(m.response.retry_after_ms, g_now + 2500);
	CHECK_EQ(m.response.retry_wait_ms, 2500);
	CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_NONE);
	check_usage(&m.response);

	/* Without retryAfter: no data. */
	sim_buf_reset(&b);
	err = (struct sim_error){400, -2011, "Unknown order sent."};
	sim_fmt_error(&b, "99", &err, g_now, 0, g_usage, N_USAGE);
	parse_msg(&b, &m);
	CHECK(m.response.has_id);
	CHECK_EQ(m.response.id, 99);
	CHECK_EQ(m.response.status, 400);
	CHECK_EQ(m.response.error_code, -2011);
	CHECK(strcmp(m.response.error_msg, "Unknown order sent.") == 0);
	CHECK_EQ(m.response.server_time_ms, 0);
	CHECK_EQ(m.response.retry_after_ms, 0);
	CHECK(!buf_has(&b, "\"data\""));
	check_usage(&m.response);

	/* A message with characters JSON would need escaped cannot break the message. */
	sim_buf_reset(&b);
	memset(&err, 0, sizeof(err));
	err.status = 400;
	err.code = -1100;
	strcpy(err.msg, "bad \"x\" \\ \n");
	sim_fmt_error(&b, NULL, &err, g_now, 0, NULL, 0);
	parse_msg(&b, &m);
	CHECK_EQ(m.response.error_code, -1100);
	CHECK(strcmp(m.response.error_msg, "bad ?x? ? ?") == 0);
	CHECK(buf_has(&b, "{\"id\":null,"));
	sim_buf_reset(&b);
	sim_fmt_rest_error(&b, &err);
	CHECK(buf_is(&b, "{\"code\":-1100,\"msg\":\"bad ?x? ? ?\"}"));

	/* The longest message fits its reservation and stays JSON. */
	memset(err.msg, 'm', SIM_ERROR_MSG_MAX);
	err.msg[SIM_ERROR_MSG_MAX] = '\0';
	sim_buf_reset(&b);
	sim_fmt_error(&b, "123456789012345678901234567890123456789012345678901234567890123", &err,
	              INT64_MIN, INT64_MAX, g_usage, N_USAGE);
	CHECK(json_ok(&b));

	/* Subscription, stream end, shutdown, through the client. */
	sim_buf_reset(&b);
	sim_fmt_response_begin(&b, "17", 200);
	sim_fmt_subscription(&b, 5);
	sim_fmt_response_end(&b, NULL, 0);
	parse_msg(&b, &m);
	CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_SUBSCRIPTION);
	CHECK_EQ(m.response.subscription_id, 5);
	CHECK_EQ(m.response.n_limits, 0);
	sim_buf_reset(&b);
	sim_fmt_stream_terminated(&b, 5, g_now);
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_STREAM_TERMINATED);
	CHECK(m.has_subscription && m.subscription_id == 5);
	CHECK_EQ(m.event_ms, g_now);
	sim_buf_reset(&b);
	sim_fmt_server_shutdown(&b, g_now);
	parse_msg(&b, &m);
	CHECK_EQ(m.kind, TL_VENUE_MSG_SERVER_SHUTDOWN);
	CHECK_EQ(m.event_ms, g_now);
	sim_buf_free(&b);
}

static void check_exchange_info(const tl_sim_t *sim)
{
	static const struct sim_rate_usage lim[] = {
	    {SIM_LIMIT_REQUEST_WEIGHT, SIM_MINUTE, 1, 6000, -1},
	    {SIM_LIMIT_ORDERS, SIM_SECOND, 10, 100, -1},
	    {SIM_LIMIT_ORDERS, SIM_DAY, 1, 200000, -1},
	    {SIM_LIMIT_RAW_REQUESTS, SIM_HOUR, 2, 61000, -1},
	};
	static const int64_t window_ms[] = {60000, 10000, 86400000, 7200000};
	static const int types[] = {TL_VENUE_LIMIT_REQUEST_WEIGHT, TL_VENUE_LIMIT_ORDERS,
	                            TL_VENUE_LIMIT_ORDERS, TL_VENUE_LIMIT_RAW_REQUESTS};
	struct tl_venue_rate_limit out[8];
	struct sim_buf b;
	size_t n = 99;

	sim_buf_init(&b, 16);
	for (int ws = 0; ws < 2; ws++) {
		sim_buf_reset(&b);
		if (ws)
			sim_fmt_response_begin(&b, "18", 200);
		sim_fmt_exchange_info(&b, sim, -1, g_now, lim, 4);
		if (ws)
			sim_fmt_response_end(&b, g_usage, N_USAGE);
		CHECK(json_ok(&b));
		CHECK_EQ(tl_venue_parse_rate_limits(sim_buf_data(&b), b.len, out, 8, &n), 0);
		CHECK_EQ(n, 4);
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ(out[i].type, types[i]);
			CHECK_EQ(out[i].window_ms, window_ms[i]);
			CHECK_EQ(out[i].interval_num, lim[i].interval_num);
			CHECK_EQ(out[i].limit, lim[i].limit);
			CHECK_EQ(out[i].count, -1);
		}
		CHECK(!buf_has(&b, "\"count\":-1"));
		CHECK(buf_has(&b, "{\"timezone\":\"UTC\",\"serverTime\":1700000000000,"));
		CHECK(buf_has(&b, "\"exchangeFilters\":[],\"symbols\":[{\"symbol\":\"BTCUSDT\","
		                  "\"status\":\"TRADING\",\"baseAsset\":\"BTC\","
		                  "\"baseAssetPrecision\":8,\"quoteAsset\":\"USDT\","
		                  "\"quoteAssetPrecision\":8,\"orderTypes\":[\"LIMIT\","
		                  "\"LIMIT_MAKER\"]"));
		CHECK(buf_has(&b, "{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"0.01\","
		                  "\"maxPrice\":\"1000000.00\",\"tickSize\":\"0.01\"}"));
		CHECK(buf_has(&b, "{\"filterType\":\"LOT_SIZE\",\"minQty\":\"0.00001\","
		                  "\"maxQty\":\"9000.00000\",\"stepSize\":\"0.00001\"}"));
		CHECK(buf_has(&b, "{\"filterType\":\"NOTIONAL\",\"minNotional\":\"5.00000000\","
		                  "\"applyMinToMarket\":false,\"maxNotional\":"
		                  "\"9000000000.00000000\",\"applyMaxToMarket\":false,"
		                  "\"avgPriceMins\":5}"));
		CHECK(buf_has(&b, "{\"filterType\":\"MAX_NUM_ORDERS\",\"maxNumOrders\":200}]}]"));
	}
	/* No limits configured: an empty list. */
	sim_buf_reset(&b);
	sim_fmt_exchange_info(&b, sim, -1, 1, NULL, 0);
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "\"rateLimits\":[],"));
	CHECK_EQ(tl_venue_parse_rate_limits(sim_buf_data(&b), b.len, out, 8, &n), 0);
	CHECK_EQ(n, 0);
	sim_buf_free(&b);
}

static void check_account(const tl_sim_t *sim, uint32_t acct)
{
	struct tl_sim_balance bal[TL_SIM_ASSETS_MAX];
	int n = tl_sim_account_balances(sim, acct, bal, TL_SIM_ASSETS_MAX);
	char want[320], f[32], l[32];
	struct tl_venue_msg m;
	struct sim_buf b;

	CHECK_EQ(n, 2);
	sim_buf_init(&b, 0);
	sim_fmt_response_begin(&b, "19", 200);
	sim_fmt_account(&b, sim, acct, bal, (uint32_t)n, g_now);
	sim_fmt_response_end(&b, g_usage, N_USAGE);
	parse_msg(&b, &m);
	CHECK_EQ(m.response.result_kind, TL_VENUE_RESULT_OTHER);
	snprintf(want, sizeof(want),
	         "\"result\":{\"makerCommission\":1,\"takerCommission\":2,\"buyerCommission\":0,"
	         "\"sellerCommission\":0,\"canTrade\":true,\"canWithdraw\":true,"
	         "\"canDeposit\":true,\"updateTime\":%lld,\"accountType\":\"SPOT\","
	         "\"balances\":[{\"asset\":\"BTC\",",
	         (long long)g_now);
	CHECK(buf_has(&b, want));
	for (int i = 0; i < n; i++) {
		dec(f, bal[i].free.v, 8);
		dec(l, bal[i].locked.v, 8);
		snprintf(want, sizeof(want), "{\"asset\":\"%s\",\"free\":\"%s\",\"locked\":\"%s\"}",
		         asset(sim, bal[i].asset), f, l);
		CHECK(buf_has(&b, want));
	}
	snprintf(want, sizeof(want), "],\"permissions\":[\"SPOT\"],\"uid\":%u}", acct);
	CHECK(buf_has(&b, want));
	sim_buf_free(&b);
}

static void check_snapshot(const tl_sim_t *sim)
{
	static struct tl_sim_level bids[TL_SIM_DEPTH_LEVELS_MAX], asks[TL_SIM_DEPTH_LEVELS_MAX];
	struct tl_sim_depth d = {.bids = bids, .asks = asks, .cap = TL_SIM_DEPTH_LEVELS_MAX};
	struct tl_md_msg m;
	struct sim_buf b;

	CHECK_EQ(tl_sim_depth_snapshot(sim, M0, &d), 0);
	CHECK(d.n_bids > 10 && d.n_asks > 10);
	sim_buf_init(&b, 16);
	for (int ws = 0; ws < 2; ws++) {
		sim_buf_reset(&b);
		if (ws)
			sim_fmt_response_begin(&b, "20", 200);
		sim_fmt_depth_snapshot(&b, sim, M0, &d);
		if (ws)
			sim_fmt_response_end(&b, g_usage, N_USAGE);
		CHECK(json_ok(&b));
		if (ws) {
			/* The WS API form wraps it: check the result is the same text. */
			CHECK(
			    buf_has(&b, "{\"id\":20,\"status\":200,\"result\":{\"lastUpdateId\":"));
			continue;
		}
		CHECK_EQ(tl_md_parse(g_md, sim_buf_data(&b), b.len, &m), 0);
		CHECK_EQ(m.kind, TL_MD_SNAPSHOT);
		CHECK_EQ(m.final_id, d.last_update_id);
		CHECK_EQ(m.n_bids, d.n_bids);
		CHECK_EQ(m.n_asks, d.n_asks);
		for (uint32_t i = 0; i < d.n_bids; i++) {
			CHECK_EQ(m.bids[i].px, bids[i].px.v);
			CHECK_EQ(m.bids[i].qty, bids[i].qty.v);
		}
		for (uint32_t i = 0; i < d.n_asks; i++) {
			CHECK_EQ(m.asks[i].px, asks[i].px.v);
			CHECK_EQ(m.asks[i].qty, asks[i].qty.v);
		}
	}
	/* An empty snapshot. */
	d.n_bids = d.n_asks = 0;
	d.last_update_id = 7;
	sim_buf_reset(&b);
	sim_fmt_depth_snapshot(&b, sim, M0, &d);
	CHECK(buf_is(&b, "{\"lastUpdateId\":7,\"bids\":[],\"asks\":[]}"));
	sim_buf_free(&b);
}

static void test_real_sim(void)
{
	struct tl_sim_config cfg;
	struct log l = {0};
	struct tl_sim_sink sink = {log_fn, &l};
	struct tl_sim_book_ticker bt;
	struct tl_sim_order o, rest[3], open[16];
	struct sim_fill fills[64];
	struct tl_sim_trade trades[TL_SIM_MY_TRADES_MAX];
	struct tl_sim_order_req req;
	struct tl_sim_order_ref ref;
	struct tl_sim_trades_query q = {0};
	tl_sim_t *sim = NULL;
	unsigned seen;
	bool null_n = false, asset_n = false;
	uint32_t n_fills, n;
	size_t mark;
	int a, r;

	tl_sim_config_default(&cfg);
	CHECK_EQ(tl_sim_create(&sim, &cfg), 0);
	test_exact(sim);
	check_errors();
	check_exchange_info(sim);
	check_snapshot(sim);

	a = tl_sim_account_create(sim);
	CHECK(a >= 0);
	CHECK_EQ(tl_sim_account_deposit(sim, (uint32_t)a, BTC, AMT(10 * COIN), g_now, &sink), 0);
	CHECK_EQ(tl_sim_account_deposit(sim, (uint32_t)a, USDT, AMT(1000000 * COIN), g_now, &sink),
	         0);
	CHECK_EQ(tl_sim_book_ticker(sim, M0, &bt), 0);

	/* Resting orders on both sides, away from the book. */
	for (int i = 0; i < 3; i++) {
		char cid[24];

		snprintf(cid, sizeof(cid), "rest-%d", i);
		req = limit_req(
		    i == 2 ? TL_SIM_SELL : TL_SIM_BUY, i == 2 ? TL_SIM_LIMIT_MAKER : TL_SIM_LIMIT,
		    i == 2 ? TL_SIM_TIF_NONE : TL_SIM_GTC,
		    i == 2 ? bt.ask_px.v + 5000 : bt.bid_px.v - 5000 - i, 1000 + i, cid);
		CHECK_EQ(tl_sim_place(sim, M0, (uint32_t)a, &req, ++g_now, &sink, &rest[i]), 0);
		CHECK_EQ(rest[i].status, TL_SIM_ST_NEW);
		check_place(sim, &rest[i], NULL, 0);
	}

	/* A taker buy that sweeps several levels, then rests what is left. */
	mark = l.n;
	req = limit_req(TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, bt.ask_px.v + 3, 400000, "taker-1");
	CHECK_EQ(tl_sim_place(sim, M0, (uint32_t)a, &req, ++g_now, &sink, &o), 0);
	n_fills = fills_of(&l, mark, o.order_id, fills, 64);
	CHECK(n_fills >= 1);
	check_place(sim, &o, fills, n_fills);
	check_status(sim, &o);

	/* A sell IOC into the bids, bigger than the level at its price: it expires. */
	mark = l.n;
	CHECK_EQ(tl_sim_book_ticker(sim, M0, &bt), 0);
	req = limit_req(TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_IOC, bt.bid_px.v, bt.bid_qty.v + 7,
	                "ioc-1");
	CHECK_EQ(tl_sim_place(sim, M0, (uint32_t)a, &req, ++g_now, &sink, &o), 0);
	CHECK_EQ(o.status, TL_SIM_ST_EXPIRED);
	n_fills = fills_of(&l, mark, o.order_id, fills, 64);
	CHECK(n_fills >= 1);
	check_place(sim, &o, fills, n_fills);
	check_status(sim, &o);

	/* Cancel one resting order, with the cancel's own id. */
	memset(&ref, 0, sizeof(ref));
	ref.order_id = rest[0].order_id;
	ref.new_client_order_id = "myCancel-1";
	ref.new_client_order_id_len = 10;
	CHECK_EQ(tl_sim_cancel(sim, M0, (uint32_t)a, &ref, ++g_now, &sink, &o), 0);
	check_cancel(sim, &o, "myCancel-1");
	check_status(sim, &o);

	/* Walk the market: depth, tickers, trades, and maybe maker fills. */
	for (int i = 0; i < 50; i++) {
		g_now += 100;
		CHECK_EQ(tl_sim_market_step(sim, M0, g_now, &sink), 0);
	}

	/* Open orders, then none. */
	r = tl_sim_open_orders(sim, M0, (uint32_t)a, open, 16);
	CHECK(r >= 2);
	check_orders(sim, open, (uint32_t)r);
	check_orders(sim, open, 0);

	/* myTrades. */
	q.from_id = 1;
	CHECK_EQ(tl_sim_my_trades(sim, M0, (uint32_t)a, &q, trades, TL_SIM_MY_TRADES_MAX, &n), 0);
	CHECK(n >= 2);
	check_trades(sim, trades, n);
	check_trades(sim, trades, 0);
	check_account(sim, (uint32_t)a);

	/* Every event the sim made, through its formatter and back. */
	seen = check_events(sim, &l, &null_n, &asset_n);
	CHECK(seen & (1u << TL_SIM_X_NEW));
	CHECK(seen & (1u << TL_SIM_X_TRADE));
	CHECK(seen & (1u << TL_SIM_X_CANCELED));
	CHECK(seen & (1u << TL_SIM_X_EXPIRED));
	CHECK(null_n && asset_n);
	/* The walk filled a resting order: a maker fill went through too. */
	{
		bool maker = false;

		for (size_t i = 0; i < l.n; i++)
			maker |= l.ev[i].kind == TL_SIM_EV_EXEC_REPORT &&
			         l.ev[i].u.exec.exec_type == TL_SIM_X_TRADE &&
			         l.ev[i].u.exec.is_maker;
		CHECK(maker);
	}
	for (int k = TL_SIM_EV_EXEC_REPORT; k <= TL_SIM_EV_BOOK_TICKER; k++) {
		bool found = false;

		for (size_t i = 0; i < l.n; i++)
			found |= l.ev[i].kind == (enum tl_sim_event_kind)k;
		CHECK(found);
	}

	log_free(&l);
	tl_sim_destroy(sim);
}

/* ======================================================================================
 * The widest messages, and config strings JSON would need escaped
 * ====================================================================================== */

static void test_extremes(void)
{
	struct tl_sim_config cfg;
	tl_sim_t *sim = NULL;
	struct tl_sim_event ev;
	struct tl_sim_level lv[4];
	struct tl_sim_order o;
	struct tl_sim_trade t;
	struct tl_sim_balance bal[2];
	struct sim_fill f[3];
	struct tl_md_parser_config pc;
	tl_md_parser_t *md = NULL;
	struct tl_md_msg mm;
	struct sim_buf b;
	const char *cid = "abcdefghijklmnopqrstuvwxyz0123456789";

	/* Names at their longest, one with a quote and a backslash, one lower case. */
	tl_sim_config_default(&cfg);
	strcpy(cfg.assets[0].name, "ABCDEFGHIJKLMNO");
	strcpy(cfg.assets[1].name, "Q\"UO\\TE");
	strcpy(cfg.markets[0].symbol, "abcdefghijklmnopqrstuvw");
	CHECK_EQ(tl_sim_create(&sim, &cfg), 0);
	sim_buf_init(&b, 16);

	/* executionReport: every number at its widest. */
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_EXEC_REPORT;
	ev.event_ms = INT64_MIN;
	ev.u.exec = (struct tl_sim_exec_report){
	    .order_id = UINT64_MAX,
	    .side = TL_SIM_SELL,
	    .type = TL_SIM_LIMIT_MAKER,
	    .tif = TL_SIM_TIF_NONE,
	    .exec_type = TL_SIM_X_CANCELED,
	    .status = TL_SIM_ST_PARTIALLY_FILLED,
	    .is_maker = true,
	    .is_working = true,
	    .px = PX(INT64_MIN),
	    .qty = QTY(INT64_MIN),
	    .last_qty = QTY(INT64_MIN),
	    .last_px = PX(INT64_MIN),
	    .cum_qty = QTY(INT64_MIN),
	    .cum_quote = AMT(INT64_MIN),
	    .last_quote = AMT(INT64_MIN),
	    .commission = AMT(INT64_MIN),
	    .commission_asset = 1,
	    .transact_ms = INT64_MIN,
	    .trade_id = INT64_MIN,
	    .create_ms = INT64_MIN,
	};
	strcpy(ev.u.exec.client_order_id, cid);
	strcpy(ev.u.exec.orig_client_order_id, cid);
	CHECK(sim_fmt_user_event(&b, sim, UINT64_MAX, &ev));
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "\"s\":\"ABCDEFGHIJKLMNOPQRSTUVW\""));
	CHECK(buf_has(&b, "\"N\":\"Q?UO?TE\""));
	CHECK(buf_has(&b, "\"f\":\"GTC\""));
	CHECK(buf_has(&b, "\"S\":\"SELL\",\"o\":\"LIMIT_MAKER\""));
	CHECK(buf_has(&b, "\"X\":\"PARTIALLY_FILLED\""));

	/* An index out of range stays JSON. */
	ev.market = 5;
	ev.u.exec.commission_asset = 9;
	sim_buf_reset(&b);
	CHECK(sim_fmt_user_event(&b, sim, 1, &ev));
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "\"s\":\"?\""));
	CHECK(buf_has(&b, "\"N\":\"?\""));

	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_POSITION;
	ev.event_ms = INT64_MIN;
	ev.u.pos.n = 2;
	ev.u.pos.update_ms = INT64_MIN;
	ev.u.pos.bal[0] = (struct tl_sim_balance){0, AMT(INT64_MIN), AMT(INT64_MIN)};
	ev.u.pos.bal[1] = (struct tl_sim_balance){1, AMT(INT64_MIN), AMT(INT64_MIN)};
	sim_buf_reset(&b);
	CHECK(sim_fmt_user_event(&b, sim, UINT64_MAX, &ev));
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "{\"a\":\"ABCDEFGHIJKLMNO\",\"f\":\"-92233720368.54775808\""));

	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_BALANCE_UPDATE;
	ev.event_ms = INT64_MIN;
	ev.u.bal = (struct tl_sim_balance_update){0, 1, AMT(INT64_MIN), INT64_MIN};
	sim_buf_reset(&b);
	CHECK(sim_fmt_user_event(&b, sim, UINT64_MAX, &ev));
	CHECK(json_ok(&b));

	/* Market data, widest, with a long stream name. */
	for (int i = 0; i < 4; i++)
		lv[i] = (struct tl_sim_level){PX(INT64_MIN), QTY(INT64_MIN)};
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_DEPTH;
	ev.event_ms = INT64_MIN;
	ev.u.depth = (struct tl_sim_depth_update){UINT64_MAX, UINT64_MAX, lv, lv, 4, 4};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, "abcdefghijklmnopqrstuvw@depth@100ms-with-\"quote", &ev));
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "@depth@100ms-with-?quote\""));
	ev.kind = TL_SIM_EV_BOOK_TICKER;
	ev.u.ticker = (struct tl_sim_book_ticker){UINT64_MAX, PX(INT64_MIN), QTY(INT64_MIN),
	                                          PX(INT64_MIN), QTY(INT64_MIN)};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, "s", &ev));
	CHECK(json_ok(&b));
	ev.kind = TL_SIM_EV_TRADE;
	ev.u.trade = (struct tl_sim_trade_print){UINT64_MAX, PX(INT64_MIN), QTY(INT64_MIN), false,
	                                         INT64_MIN};
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, NULL, &ev));
	CHECK(json_ok(&b));

	/* The md parser reads the upper-cased symbol. */
	tl_md_parser_config_default(&pc);
	pc.scale.px_decimals = 2;
	pc.scale.qty_decimals = 5;
	CHECK_EQ(tl_md_parser_create(&md, &pc), 0);
	ev.u.trade = (struct tl_sim_trade_print){1, PX(100), QTY(100), false, 5};
	ev.event_ms = 4;
	sim_buf_reset(&b);
	CHECK(sim_fmt_md_event(&b, sim, NULL, &ev));
	CHECK_EQ(tl_md_parse(md, sim_buf_data(&b), b.len, &mm), 0);
	CHECK(strcmp(mm.symbol, "ABCDEFGHIJKLMNOPQRSTUVW") == 0);
	tl_md_parser_destroy(md);

	/* Orders: every form, widest. */
	memset(&o, 0, sizeof(o));
	o.order_id = UINT64_MAX;
	strcpy(o.client_order_id, cid);
	o.side = TL_SIM_SELL;
	o.type = TL_SIM_LIMIT_MAKER;
	o.tif = TL_SIM_TIF_NONE;
	o.status = TL_SIM_ST_PARTIALLY_FILLED;
	o.is_working = false;
	o.px = PX(INT64_MIN);
	o.qty = o.executed_qty = QTY(INT64_MIN);
	o.cum_quote = AMT(INT64_MIN);
	o.time_ms = o.update_ms = INT64_MIN;
	for (int i = 0; i < 3; i++)
		f[i] =
		    (struct sim_fill){PX(INT64_MIN), QTY(INT64_MIN), AMT(INT64_MIN), 0, UINT64_MAX};
	for (int t_ = SIM_RESP_ACK; t_ <= SIM_RESP_FULL; t_++) {
		sim_buf_reset(&b);
		sim_fmt_place_result(&b, sim, &o, (enum sim_resp_type)t_, f, 3);
		CHECK(json_ok(&b));
	}
	CHECK_EQ(buf_count(&b, "\"tradeId\":18446744073709551615"), 3);
	sim_buf_reset(&b);
	sim_fmt_cancel_result(&b, sim, &o, cid, INT64_MIN);
	CHECK(json_ok(&b));
	sim_buf_reset(&b);
	sim_fmt_orders(&b, sim, &o, 1);
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "\"timeInForce\":\"GTC\""));
	CHECK(buf_has(&b, "\"isWorking\":false"));

	memset(&t, 0, sizeof(t));
	t = (struct tl_sim_trade){
	    UINT64_MAX,     UINT64_MAX, PX(INT64_MIN), QTY(INT64_MIN), AMT(INT64_MIN),
	    AMT(INT64_MIN), 1,          true,          true,           INT64_MIN};
	sim_buf_reset(&b);
	sim_fmt_trades(&b, sim, 0, &t, 1);
	CHECK(json_ok(&b));

	bal[0] = (struct tl_sim_balance){0, AMT(INT64_MIN), AMT(INT64_MIN)};
	bal[1] = (struct tl_sim_balance){1, AMT(INT64_MIN), AMT(INT64_MIN)};
	sim_buf_reset(&b);
	sim_fmt_account(&b, sim, UINT32_MAX, bal, 2, INT64_MIN);
	CHECK(json_ok(&b));

	sim_buf_reset(&b);
	sim_fmt_exchange_info(&b, sim, -1, INT64_MIN, g_usage, N_USAGE);
	CHECK(json_ok(&b));
	CHECK(buf_has(&b, "\"quoteAsset\":\"Q?UO?TE\""));

	/* The head is still untouched after all of it. */
	memset(b.p, 'H', 16);
	sim_buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		sim_fmt_exchange_info(&b, sim, -1, INT64_MIN, g_usage, N_USAGE);
	for (int i = 0; i < 16; i++)
		CHECK(b.p[i] == 'H');

	sim_buf_free(&b);
	tl_sim_destroy(sim);
}

/* The same message is the same bytes whatever the head. */
static void test_head_independent(void)
{
	struct tl_sim_config cfg;
	tl_sim_t *sim = NULL;
	struct sim_buf b0, b1;
	struct tl_sim_event ev;

	tl_sim_config_default(&cfg);
	CHECK_EQ(tl_sim_create(&sim, &cfg), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_BOOK_TICKER;
	ev.u.ticker = (struct tl_sim_book_ticker){1, PX(2), QTY(3), PX(4), QTY(5)};
	sim_buf_init(&b0, 0);
	sim_buf_init(&b1, 4096);
	for (int i = 0; i < 100; i++) {
		CHECK(sim_fmt_md_event(&b0, sim, "btcusdt@bookTicker", &ev));
		CHECK(sim_fmt_md_event(&b1, sim, "btcusdt@bookTicker", &ev));
	}
	CHECK_EQ(b0.len, b1.len);
	CHECK(memcmp(sim_buf_data(&b0), sim_buf_data(&b1), b0.len) == 0);
	CHECK(sim_buf_data(&b1) == b1.p + 4096);
	sim_buf_free(&b0);
	sim_buf_free(&b1);
	tl_sim_destroy(sim);
}

int main(void)
{
	struct tl_md_parser_config pc;

	tl_venue_parse_config_default(&g_pcfg);
	g_pcfg.instruments = g_instr;
	g_pcfg.n_instruments = 1;
	tl_md_parser_config_default(&pc);
	pc.scale.px_decimals = 2;
	pc.scale.qty_decimals = 5;
	CHECK_EQ(tl_md_parser_create(&g_md, &pc), 0);

	test_buf();
	test_real_sim();
	test_extremes();
	test_head_independent();

	tl_md_parser_destroy(g_md);
	printf("test_sim_format: ok\n");
	return 0;
}
