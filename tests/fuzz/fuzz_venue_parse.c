/*
 * fuzz_venue_parse.c: libFuzzer target for the venue parsers (tl_venue.h, "Parsing") and,
 * behind them, the limiter that takes whatever counts and waits they yield.
 *
 * The input is one message. It goes through tl_venue_parse, tl_venue_parse_trades (as a
 * WS API answer and as a REST body), tl_venue_parse_orders and tl_venue_parse_rate_limits.
 * Each must return 0 or one of its documented errors, and on success leave what the
 * header promises: kinds and enums in range, strings NUL-terminated, counts within
 * capacity, ids and quantities that cannot be negative not negative. A parsed response
 * then goes to tl_venue_classify and to a limiter (whose internal asserts check its
 * slot accounting), and a request must get an answer >= 0. Any crash or sanitizer report
 * is a finding too.
 *
 * The message is copied into a heap block of exactly its size so that AddressSanitizer
 * sees any read past the end.
 */
#include "tl_venue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_venue_parse: %s:%d: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define CAP 4

static const struct tl_venue_instrument instruments[] = {
    {"BTCUSDT", {2, 5}},
    {"ETHBTC", {5, 4}},
};

static bool parse_error(int r)
{
	return r == -EBADMSG || r == -EDOM || r == -ERANGE || r == -E2BIG;
}

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_order(const struct tl_venue_order *o)
{
	REQUIRE(terminated(o->symbol, sizeof(o->symbol)) && o->symbol[0] != '\0');
	REQUIRE(terminated(o->client_order_id, sizeof(o->client_order_id)));
	REQUIRE(terminated(o->orig_client_order_id, sizeof(o->orig_client_order_id)));
	REQUIRE(o->transact_ms >= 0 && o->update_ms >= 0);
	REQUIRE(o->px.v >= 0 && o->orig_qty.v >= 0 && o->executed_qty.v >= 0);
	REQUIRE(o->cum_quote_units >= 0);
	REQUIRE(o->status <= TL_VENUE_STATUS_PENDING_NEW);
	REQUIRE(o->type <= TL_VENUE_TAKE_PROFIT_LIMIT && o->tif <= TL_VENUE_FOK);
	if (o->detailed)
		REQUIRE(o->side == TL_VENUE_BUY || o->side == TL_VENUE_SELL);
}

static void check_response(const struct tl_venue_response *r)
{
	REQUIRE(r->status >= 0 && r->status <= 599);
	REQUIRE(terminated(r->error_msg, sizeof(r->error_msg)));
	REQUIRE(r->n_limits <= TL_VENUE_RATE_LIMITS_MAX);
	REQUIRE(r->retry_wait_ms >= 0 && r->retry_after_ms >= 0 && r->server_time_ms >= 0);
	for (uint32_t i = 0; i < r->n_limits; i++) {
		REQUIRE(r->limits[i].interval_num >= 1);
		REQUIRE(r->limits[i].window_ms >= 0 && r->limits[i].limit >= -1);
		REQUIRE(r->limits[i].count >= -1);
	}
	if (r->result_kind == TL_VENUE_RESULT_ORDER)
		check_order(&r->order);
	REQUIRE(r->result_kind <= TL_VENUE_RESULT_OTHER);
}

static void check_msg(const struct tl_venue_msg *m)
{
	REQUIRE(m->kind > TL_VENUE_MSG_NONE && m->kind <= TL_VENUE_MSG_OTHER);
	REQUIRE(m->event_ms >= 0);
	switch (m->kind) {
	case TL_VENUE_MSG_RESPONSE:
		check_response(&m->response);
		break;
	case TL_VENUE_MSG_EXEC_REPORT: {
		const struct tl_venue_exec_report *x = &m->exec;

		REQUIRE(terminated(x->symbol, sizeof(x->symbol)) && x->symbol[0] != '\0');
		REQUIRE(terminated(x->client_order_id, sizeof(x->client_order_id)));
		REQUIRE(terminated(x->orig_client_order_id, sizeof(x->orig_client_order_id)));
		REQUIRE(terminated(x->reject_reason, sizeof(x->reject_reason)));
		REQUIRE(terminated(x->commission_asset, sizeof(x->commission_asset)));
		REQUIRE(x->side == TL_VENUE_BUY || x->side == TL_VENUE_SELL);
		REQUIRE(x->exec_type <= TL_VENUE_EXEC_TRADE_PREVENTION);
		REQUIRE(x->px.v >= 0 && x->qty.v >= 0 && x->last_qty.v >= 0 && x->last_px.v >= 0 &&
		        x->cum_qty.v >= 0 && x->cum_quote_units >= 0 && x->commission_units >= 0);
		REQUIRE(x->has_trade || x->trade_id == 0);
		REQUIRE(x->event_ms == m->event_ms);
		break;
	}
	case TL_VENUE_MSG_ACCOUNT_POSITION:
		REQUIRE(m->position.n_balances <= TL_VENUE_BALANCES_MAX);
		for (uint32_t i = 0; i < m->position.n_balances; i++) {
			const struct tl_venue_balance *b = &m->position.balances[i];

			REQUIRE(terminated(b->asset, sizeof(b->asset)) && b->asset[0] != '\0');
			REQUIRE(b->free_units >= 0 && b->locked_units >= 0);
		}
		break;
	case TL_VENUE_MSG_BALANCE_UPDATE:
		REQUIRE(terminated(m->balance.asset, sizeof(m->balance.asset)));
		break;
	default:
		break;
	}
}

/* A limiter that lives across inputs, fed every response: whatever the venue says, it
 * must keep answering. */
static struct tl_venue_limiter lim;
static int64_t now_ns = 1000000000;

static void feed_limiter(const struct tl_venue_response *r, size_t size)
{
	struct tl_venue_verdict v;
	int64_t w;

	tl_venue_classify(r, false, &v);
	REQUIRE(v.outcome <= TL_VENUE_RATE_LIMITED);
	if (v.outcome == TL_VENUE_RATE_LIMITED)
		REQUIRE(v.retry_wait_ms >= 0);
	/* -EINVAL: a bucket the venue said holds less than this weight. */
	w = tl_venue_limiter_try(&lim, now_ns, (uint32_t)(size % 7), size % 2 == 0);
	REQUIRE(w >= 0 || w == -EINVAL);
	tl_venue_limiter_on_response(&lim, now_ns, r);
	w = tl_venue_limiter_try(&lim, now_ns, 1, size % 3 == 0);
	REQUIRE(w >= 0 || w == -EINVAL);
	now_ns += (int64_t)(size % 1000) * 1000000;
	if (lim.counters.allowed > 100000) /* start afresh now and then */
		tl_venue_limiter_init(&lim, NULL, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tl_venue_parse_config cfg;
	static bool ready;
	struct tl_venue_msg m;
	struct tl_venue_response resp;
	struct tl_venue_trade trades[CAP];
	struct tl_venue_order orders[CAP];
	struct tl_venue_rate_limit limits[CAP];
	size_t n, skipped;
	char *json;
	int r;

	if (!ready) {
		tl_venue_parse_config_default(&cfg);
		cfg.instruments = instruments;
		cfg.n_instruments = 2;
		REQUIRE(tl_venue_limiter_init(&lim, NULL, NULL, 0) == 0);
		ready = true;
	}
	json = malloc(size ? size : 1);
	REQUIRE(json != NULL);
	memcpy(json, data, size);

	r = tl_venue_parse(&cfg, json, size, &m);
	REQUIRE(r == 0 || parse_error(r));
	if (r == 0) {
		check_msg(&m);
		if (m.kind == TL_VENUE_MSG_RESPONSE)
			feed_limiter(&m.response, size);
	} else {
		REQUIRE(m.kind == TL_VENUE_MSG_NONE);
	}

	for (int http = 0; http <= 200; http += 200) {
		r = tl_venue_parse_trades(&cfg, json, size, http, &resp, trades, CAP, &n);
		REQUIRE(r == 0 || parse_error(r));
		REQUIRE(n <= CAP);
		if (r != 0) {
			REQUIRE(n == 0);
			continue;
		}
		check_response(&resp);
		for (size_t i = 0; i < n; i++) {
			REQUIRE(terminated(trades[i].symbol, sizeof(trades[i].symbol)));
			REQUIRE(terminated(trades[i].commission_asset,
			                   sizeof(trades[i].commission_asset)));
			REQUIRE(trades[i].px.v >= 0 && trades[i].qty.v >= 0);
		}
	}

	r = tl_venue_parse_orders(&cfg, json, size, &resp, orders, CAP, &n, &skipped);
	REQUIRE(r == 0 || parse_error(r));
	REQUIRE(n <= CAP);
	if (r == 0) {
		check_response(&resp);
		for (size_t i = 0; i < n; i++)
			check_order(&orders[i]);
	}

	r = tl_venue_parse_rate_limits(json, size, limits, CAP, &n);
	REQUIRE(r == 0 || parse_error(r) || r == -ENOENT);
	REQUIRE(n <= CAP);

	free(json);
	return 0;
}
