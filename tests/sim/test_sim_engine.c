/*
 * Tests of the sim's core (sim/tl_sim_engine.h): config checks; place, rest, cancel and
 * status; taker sweeps across levels; maker fills and price-time priority; LIMIT_MAKER;
 * IOC and FOK; balances, duplicates and every filter; cancelAll; the bounded order and
 * trade histories; myTrades paging; the fee rule at a coarse precision; determinism
 * across runs and seeds; and a long randomized run that checks, after every step, every
 * balance against a model built from the events alone, the reservations against the
 * open orders, and two books synced from snapshot + diffs (PROTOCOL.md's algorithm)
 * against the engine's; capture replay steps (windows, grids, trades as flow, a jump).
 * Ends with a place+cancel throughput figure (printed, never
 * asserted).
 */
#include "tl_book.h"
#include "tl_sim_engine.h"
#include "sim_event_log.h"
#include "tl_test.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

__extension__ typedef __int128 i128;

enum { BTC = 0, USDT = 1 };
#define M0 0u   /* the market of the default config: BTCUSDT */
#define QM 10   /* default BTCUSDT: px * qty -> quote amount (10^(8 - 2 - 5)) */
#define BM 1000 /* default BTCUSDT: qty -> base amount (10^(8 - 5)) */
#define COIN 100000000ll
#define AMT(x) ((tl_sim_amount_t){(x)})

static int64_t g_now = 1700000000000ll;

/* ======================================================================================
 * Helpers
 * ====================================================================================== */

static size_t log_count(const struct log *l, int kind)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->ev[i].kind == (enum tl_sim_event_kind)kind;
	return n;
}

/* The i-th event of a kind (it must exist). */
static const struct tl_sim_event *log_nth(const struct log *l, int kind, size_t i)
{
	for (size_t j = 0; j < l->n; j++)
		if (l->ev[j].kind == (enum tl_sim_event_kind)kind && i-- == 0)
			return &l->ev[j];
	CHECK(!"no such event");
	return NULL;
}

static tl_sim_t *sim_new(const struct tl_sim_config *c)
{
	tl_sim_t *s = NULL;

	CHECK_EQ(tl_sim_create(&s, c), 0);
	CHECK(s != NULL);
	return s;
}

static tl_sim_t *sim_default(void)
{
	struct tl_sim_config c;

	tl_sim_config_default(&c);
	return sim_new(&c);
}

static uint32_t acct_new(tl_sim_t *s, int64_t base, int64_t quote)
{
	int a = tl_sim_account_create(s);

	CHECK(a >= 0);
	if (base)
		CHECK_EQ(tl_sim_account_deposit(s, (uint32_t)a, BTC, AMT(base), g_now, NULL), 0);
	if (quote)
		CHECK_EQ(tl_sim_account_deposit(s, (uint32_t)a, USDT, AMT(quote), g_now, NULL), 0);
	return (uint32_t)a;
}

static int place_m(tl_sim_t *s, uint32_t mkt, uint32_t a, int side, int type, int tif, int64_t px,
                   int64_t qty, const char *cid, struct log *l, struct tl_sim_order *out)
{
	struct tl_sim_order_req r;
	struct tl_sim_sink k = {log_fn, l};

	memset(&r, 0, sizeof(r));
	r.side = (enum tl_sim_side)side;
	r.type = (enum tl_sim_type)type;
	r.tif = (enum tl_sim_tif)tif;
	r.px.v = px;
	r.qty.v = qty;
	r.client_order_id = cid;
	r.client_order_id_len = cid ? (uint32_t)strlen(cid) : 0;
	return tl_sim_place(s, mkt, a, &r, g_now, l ? &k : NULL, out);
}

static int place(tl_sim_t *s, uint32_t a, int side, int type, int tif, int64_t px, int64_t qty,
                 const char *cid, struct log *l, struct tl_sim_order *out)
{
	return place_m(s, M0, a, side, type, tif, px, qty, cid, l, out);
}

static struct tl_sim_order_ref ref_id(uint64_t id)
{
	struct tl_sim_order_ref r;

	memset(&r, 0, sizeof(r));
	r.order_id = id;
	return r;
}

static struct tl_sim_order_ref ref_cid(const char *cid)
{
	struct tl_sim_order_ref r;

	memset(&r, 0, sizeof(r));
	r.orig_client_order_id = cid;
	r.orig_client_order_id_len = (uint32_t)strlen(cid);
	return r;
}

static int cancel(tl_sim_t *s, uint32_t a, const struct tl_sim_order_ref *r, struct log *l,
                  struct tl_sim_order *out)
{
	struct tl_sim_sink k = {log_fn, l};

	return tl_sim_cancel(s, M0, a, r, g_now, l ? &k : NULL, out);
}

static int step_m(tl_sim_t *s, uint32_t mkt, struct log *l)
{
	struct tl_sim_sink k = {log_fn, l};

	g_now += 100;
	return tl_sim_market_step(s, mkt, g_now, l ? &k : NULL);
}

static int64_t free_of(const tl_sim_t *s, uint32_t a, uint32_t asset)
{
	struct tl_sim_balance b;

	CHECK_EQ(tl_sim_account_balance(s, a, asset, &b), 0);
	return b.free.v;
}

static int64_t locked_of(const tl_sim_t *s, uint32_t a, uint32_t asset)
{
	struct tl_sim_balance b;

	CHECK_EQ(tl_sim_account_balance(s, a, asset, &b), 0);
	return b.locked.v;
}

static struct tl_sim_level g_bids[TL_SIM_DEPTH_LEVELS_MAX], g_asks[TL_SIM_DEPTH_LEVELS_MAX];

static struct tl_sim_depth snap(const tl_sim_t *s, uint32_t mkt)
{
	struct tl_sim_depth d;

	memset(&d, 0, sizeof(d));
	d.bids = g_bids;
	d.asks = g_asks;
	d.cap = TL_SIM_DEPTH_LEVELS_MAX;
	CHECK_EQ(tl_sim_depth_snapshot(s, mkt, &d), 0);
	return d;
}

/* The fee rule, written independently of the engine's: the exact fee's integer part in
 * units, less its remainder modulo the asset's quantum. */
static int64_t fee_ref(int64_t gross, int64_t bp, int decimals)
{
	int64_t units = (int64_t)((i128)gross * bp / 10000), q = 1;

	for (int i = decimals; i < 8; i++)
		q *= 10;
	return units - units % q;
}

static void expect_reject(int r, int rej, int code, const char *msg)
{
	CHECK_EQ(r, rej);
	CHECK_EQ(tl_sim_reject_code(r), code);
	CHECK(!strcmp(tl_sim_reject_msg(r), msg));
}

/* ======================================================================================
 * Config
 * ====================================================================================== */

static void test_config(void)
{
	struct tl_sim_config c, bad;
	tl_sim_t *s = (tl_sim_t *)0x1;

	tl_sim_config_default(&c);
	CHECK_EQ(tl_sim_create(NULL, &c), -EINVAL);
	CHECK_EQ(tl_sim_create(&s, NULL), -EINVAL);
	CHECK(s == (tl_sim_t *)0x1);

#define BAD(stmt)                                                                                  \
	do {                                                                                       \
		bad = c;                                                                           \
		stmt;                                                                              \
		CHECK_EQ(tl_sim_create(&s, &bad), -EINVAL);                                        \
		CHECK(s == (tl_sim_t *)0x1);                                                       \
	} while (0)
	BAD(bad.n_assets = 0);
	BAD(bad.n_markets = TL_SIM_MARKETS_MAX + 1);
	BAD(bad.max_accounts = 0);
	BAD(bad.history_orders = 0);
	BAD(strcpy(bad.assets[1].name, "BTC")); /* duplicate asset */
	BAD(bad.assets[0].decimals = 9);
	BAD(bad.markets[0].quote_asset = 0); /* base == quote */
	BAD(bad.markets[0].px_decimals = 4); /* 4 + 5 > 8 */
	BAD(bad.markets[0].tick_size.v = 3); /* min_px not a multiple */
	BAD(bad.markets[0].min_qty.v = 0);
	BAD(bad.markets[0].maker_fee_bp = 10001);
	BAD(bad.markets[0].max_qty.v = INT64_MAX / 10); /* max_px * max_qty overflows */
	BAD(bad.markets[0].walk.start_px.v = 50);       /* window below min_px */
	BAD(bad.markets[0].walk.start_px.v = 99999999); /* window above max_px */
	BAD(bad.markets[0].walk.spread_ticks = 0);
	BAD(bad.markets[0].walk.depth_levels = TL_SIM_DEPTH_LEVELS_MAX + 1);
	BAD(bad.markets[0].walk.level_qty_min.v = 0);
	BAD(bad.markets[0].walk.trade_qty_max.v = 0);
	BAD(bad.markets[0].walk.empty_pct = 101);
	BAD(bad.n_markets = 2; bad.markets[1] = bad.markets[0]); /* duplicate symbol */
#undef BAD

	s = sim_new(&c);
	CHECK_EQ(tl_sim_market_find(s, "BTCUSDT", 7), 0);
	CHECK_EQ(tl_sim_market_find(s, "BTCUSD", 6), -ENOENT);
	CHECK_EQ(tl_sim_asset_find(s, "USDT", 4), USDT);
	CHECK_EQ(tl_sim_asset_find(s, "ETH", 3), -ENOENT);
	CHECK(tl_sim_market_config(s, 0) != NULL);
	CHECK(tl_sim_market_config(s, 1) == NULL);
	CHECK_EQ(tl_sim_market_step(s, 1, g_now, NULL), -EINVAL);
	tl_sim_destroy(s);
	tl_sim_destroy(NULL);
}

/* ======================================================================================
 * Place, rest, cancel, status
 * ====================================================================================== */

static void test_place_rest_cancel(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 0, 100000 * COIN), b = acct_new(s, 0, 100000 * COIN);
	struct tl_sim_book_ticker t;
	struct tl_sim_order o, st, list[4];
	struct tl_sim_order_ref r;
	const struct tl_sim_exec_report *x;
	const struct tl_sim_position *p;
	struct log l = {0};
	int64_t px, qty = 10000, lock;

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	CHECK(t.bid_px.v > 0 && t.ask_px.v > t.bid_px.v);
	px = t.bid_px.v - 100;
	lock = px * qty * QM;

	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, qty, "o1", &l, &o), 0);
	CHECK_EQ(o.order_id, 1);
	CHECK_EQ(o.status, TL_SIM_ST_NEW);
	CHECK(o.is_working && !strcmp(o.client_order_id, "o1"));
	CHECK_EQ(o.executed_qty.v, 0);
	CHECK_EQ(o.time_ms, g_now);
	/* executionReport NEW, then the lock's outboundAccountPosition. */
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.ev[0].kind, TL_SIM_EV_EXEC_REPORT);
	x = &l.ev[0].u.exec;
	CHECK_EQ(x->exec_type, TL_SIM_X_NEW);
	CHECK_EQ(x->status, TL_SIM_ST_NEW);
	CHECK_EQ(x->order_id, 1);
	CHECK(!strcmp(x->client_order_id, "o1") && x->orig_client_order_id[0] == '\0');
	CHECK_EQ(x->side, TL_SIM_BUY);
	CHECK_EQ(x->type, TL_SIM_LIMIT);
	CHECK_EQ(x->tif, TL_SIM_GTC);
	CHECK_EQ(x->px.v, px);
	CHECK_EQ(x->qty.v, qty);
	CHECK_EQ(x->last_qty.v, 0);
	CHECK_EQ(x->cum_qty.v, 0);
	CHECK_EQ(x->trade_id, -1);
	CHECK_EQ(x->commission_asset, -1);
	CHECK_EQ(x->reject, TL_SIM_OK);
	CHECK(!strcmp(tl_sim_reject_msg(x->reject), "NONE"));
	CHECK(x->is_working && !x->is_maker);
	CHECK_EQ(x->transact_ms, g_now);
	CHECK_EQ(x->create_ms, g_now);
	CHECK_EQ(l.ev[1].kind, TL_SIM_EV_POSITION);
	p = &l.ev[1].u.pos;
	CHECK_EQ(p->account, a);
	CHECK_EQ(p->n, 1);
	CHECK_EQ(p->bal[0].asset, USDT);
	CHECK_EQ(p->bal[0].free.v, 100000 * COIN - lock);
	CHECK_EQ(p->bal[0].locked.v, lock);
	CHECK_EQ(free_of(s, a, USDT), 100000 * COIN - lock);
	CHECK_EQ(locked_of(s, a, USDT), lock);

	CHECK_EQ(tl_sim_open_orders(s, M0, a, list, 4), 1);
	CHECK_EQ(list[0].order_id, 1);
	CHECK_EQ(tl_sim_open_orders(s, M0, b, list, 4), 0);
	r = ref_id(1);
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_NEW);
	r = ref_cid("o1");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.order_id, 1);

	/* Another account cannot see or cancel it. */
	r = ref_id(1);
	expect_reject(tl_sim_order_status(s, M0, b, &r, &st), TL_SIM_REJ_NO_SUCH_ORDER, -2013,
	              "Order does not exist.");
	expect_reject(cancel(s, b, &r, NULL, NULL), TL_SIM_REJ_UNKNOWN_ORDER, -2011,
	              "Unknown order sent.");
	/* Neither reference; a mismatching pair; a bad cancel id. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(tl_sim_reject_code(cancel(s, a, &r, NULL, NULL)), -1102);
	CHECK_EQ(tl_sim_reject_code(tl_sim_order_status(s, M0, a, &r, &st)), -1102);
	r = ref_id(1);
	r.orig_client_order_id = "o2";
	r.orig_client_order_id_len = 2;
	CHECK_EQ(cancel(s, a, &r, NULL, NULL), TL_SIM_REJ_UNKNOWN_ORDER);
	r = ref_id(1);
	r.new_client_order_id = "bad id";
	r.new_client_order_id_len = 6;
	CHECK_EQ(cancel(s, a, &r, NULL, NULL), TL_SIM_REJ_BAD_CLIENT_ID);
	r = ref_id(77);
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), TL_SIM_REJ_NO_SUCH_ORDER);

	/* Cancel by orderId plus a matching origClientOrderId, with the cancel's own id. */
	log_reset(&l);
	g_now += 5;
	r = ref_id(1);
	r.orig_client_order_id = "o1";
	r.orig_client_order_id_len = 2;
	r.new_client_order_id = "x1";
	r.new_client_order_id_len = 2;
	CHECK_EQ(cancel(s, a, &r, &l, &o), 0);
	CHECK_EQ(o.status, TL_SIM_ST_CANCELED);
	CHECK(!o.is_working && !strcmp(o.client_order_id, "o1"));
	CHECK_EQ(o.update_ms, g_now);
	CHECK_EQ(l.n, 2);
	x = &l.ev[0].u.exec;
	CHECK_EQ(x->exec_type, TL_SIM_X_CANCELED);
	CHECK_EQ(x->status, TL_SIM_ST_CANCELED);
	CHECK(!strcmp(x->client_order_id, "x1") && !strcmp(x->orig_client_order_id, "o1"));
	CHECK(!x->is_working);
	CHECK_EQ(l.ev[1].u.pos.bal[0].free.v, 100000 * COIN);
	CHECK_EQ(l.ev[1].u.pos.bal[0].locked.v, 0);
	CHECK_EQ(free_of(s, a, USDT), 100000 * COIN);
	CHECK_EQ(locked_of(s, a, USDT), 0);
	CHECK_EQ(tl_sim_open_orders(s, M0, a, NULL, 0), 0);

	/* Finished: status still answers; a second cancel does not. */
	r = ref_id(1);
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_CANCELED);
	r = ref_cid("o1");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_CANCELED);
	CHECK_EQ(cancel(s, a, &r, NULL, NULL), TL_SIM_REJ_UNKNOWN_ORDER);

	/* Cancel by origClientOrderId, no cancel id: the sim names it. A generated client id. */
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v + 100, qty, NULL,
	               NULL, &o),
	         TL_SIM_REJ_INSUFFICIENT_BALANCE);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, qty, NULL, NULL, &o), 0);
	CHECK(!strcmp(o.client_order_id, "sim-2"));
	log_reset(&l);
	r = ref_cid("sim-2");
	CHECK_EQ(cancel(s, a, &r, &l, NULL), 0);
	CHECK(!strcmp(l.ev[0].u.exec.client_order_id, "cancel-2"));
	CHECK(!strcmp(l.ev[0].u.exec.orig_client_order_id, "sim-2"));
	CHECK_EQ(locked_of(s, a, USDT), 0);

	CHECK(!strcmp(tl_sim_side_name(TL_SIM_SELL), "SELL"));
	CHECK(!strcmp(tl_sim_type_name(TL_SIM_LIMIT_MAKER), "LIMIT_MAKER"));
	CHECK(!strcmp(tl_sim_tif_name(TL_SIM_FOK), "FOK"));
	CHECK(!strcmp(tl_sim_status_name(TL_SIM_ST_PARTIALLY_FILLED), "PARTIALLY_FILLED"));
	CHECK(!strcmp(tl_sim_exec_name(TL_SIM_X_TRADE), "TRADE"));
	CHECK(!strcmp(tl_sim_status_name(99), "?"));
	log_free(&l);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * Takers: a sweep across levels, a resting remainder, then its maker fill.
 * ====================================================================================== */

static void test_taker_sweep(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 0, 1000000 * COIN);
	struct tl_sim_depth d = snap(s, M0);
	struct tl_sim_level lv[3];
	struct tl_sim_order o;
	struct log l = {0};
	int64_t part, qty, px, spent = 0, got = 0, cum = 0;
	uint64_t id0 = d.last_update_id, prev_tid = 0;

	CHECK(d.n_asks >= 3);
	memcpy(lv, d.asks, sizeof(lv));
	part = lv[2].qty.v / 2;
	qty = lv[0].qty.v + lv[1].qty.v + part;
	px = lv[2].px.v;
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, qty, "sweep", &l, &o), 0);
	CHECK_EQ(o.status, TL_SIM_ST_FILLED);
	CHECK(!o.is_working);
	CHECK_EQ(o.executed_qty.v, qty);
	/* NEW, POS, then three (trade, TRADE, POS). */
	CHECK_EQ(l.n, 2 + 3 * 3);
	CHECK_EQ(log_count(&l, TL_SIM_EV_TRADE), 3);
	for (int i = 0; i < 3; i++) {
		const struct tl_sim_event *tp = &l.ev[2 + 3 * i];
		const struct tl_sim_exec_report *x = &l.ev[3 + 3 * i].u.exec;
		const struct tl_sim_position *p = &l.ev[4 + 3 * i].u.pos;
		int64_t fq = i < 2 ? lv[i].qty.v : part, fee = fee_ref(fq * BM, 2, 8);

		CHECK_EQ(tp->kind, TL_SIM_EV_TRADE);
		CHECK_EQ(tp->u.trade.px.v, lv[i].px.v);
		CHECK_EQ(tp->u.trade.qty.v, fq);
		CHECK(!tp->u.trade.buyer_maker); /* the client bought as the taker */
		CHECK_EQ(l.ev[3 + 3 * i].kind, TL_SIM_EV_EXEC_REPORT);
		CHECK_EQ(x->exec_type, TL_SIM_X_TRADE);
		CHECK_EQ(x->status, i < 2 ? TL_SIM_ST_PARTIALLY_FILLED : TL_SIM_ST_FILLED);
		CHECK_EQ(x->last_px.v, lv[i].px.v);
		CHECK_EQ(x->last_qty.v, fq);
		CHECK_EQ(x->last_quote.v, lv[i].px.v * fq * QM);
		CHECK_EQ(x->commission.v, fee);
		CHECK_EQ(x->commission_asset, BTC);
		CHECK_EQ((uint64_t)x->trade_id, tp->u.trade.trade_id);
		CHECK((uint64_t)x->trade_id > prev_tid);
		prev_tid = (uint64_t)x->trade_id;
		CHECK(!x->is_maker);
		spent += x->last_quote.v;
		got += fq * BM - fee;
		cum += fq;
		CHECK_EQ(x->cum_qty.v, cum);
		CHECK_EQ(x->cum_quote.v, spent);
		CHECK_EQ(l.ev[4 + 3 * i].kind, TL_SIM_EV_POSITION);
		CHECK_EQ(p->n, 2);
		CHECK_EQ(p->bal[0].asset, BTC);
		CHECK_EQ(p->bal[0].free.v, got);
		CHECK_EQ(p->bal[1].asset, USDT);
		/* What is still locked is the unfilled rest at the order's price; the price
		 * improvement on the filled part went back to free. */
		CHECK_EQ(p->bal[1].locked.v, i < 2 ? px * (qty - x->cum_qty.v) * QM : 0);
		CHECK_EQ(p->bal[1].free.v + p->bal[1].locked.v, 1000000 * COIN - spent);
	}
	CHECK_EQ(o.cum_quote.v, spent);
	CHECK_EQ(free_of(s, a, USDT), 1000000 * COIN - spent);
	CHECK_EQ(locked_of(s, a, USDT), 0);
	CHECK_EQ(free_of(s, a, BTC), got);
	/* The synthetic asks lost what was taken: three level changes, three update ids. */
	d = snap(s, M0);
	CHECK_EQ(d.last_update_id, id0 + 3);
	CHECK_EQ(d.asks[0].px.v, lv[2].px.v);
	CHECK_EQ(d.asks[0].qty.v, lv[2].qty.v - part);

	/* A buy of more than the first level at its price: the rest rests, PARTIALLY_FILLED. */
	log_reset(&l);
	memcpy(lv, d.asks, sizeof(lv));
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, lv[0].px.v, lv[0].qty.v + 500,
	               "rest", &l, &o),
	         0);
	CHECK_EQ(o.status, TL_SIM_ST_PARTIALLY_FILLED);
	CHECK(o.is_working);
	CHECK_EQ(o.executed_qty.v, lv[0].qty.v);
	CHECK_EQ(locked_of(s, a, USDT), lv[0].px.v * 500 * QM);
	CHECK_EQ(tl_sim_open_orders(s, M0, a, NULL, 0), 1);
	log_free(&l);
	tl_sim_destroy(s);
}

/* A config whose synthetic spread is wide and still (max_move 0), so that client orders
 * inside it are the best prices and synthetic market orders reach them first. */
static void cfg_wide(struct tl_sim_config *c)
{
	tl_sim_config_default(c);
	c->markets[0].walk.spread_ticks = 20;
	c->markets[0].walk.max_move_ticks = 0;
	c->markets[0].walk.trades_max = 3;
	c->markets[0].walk.trade_qty_max.v = 3000;
	c->markets[0].maker_fee_bp = 7;
}

static void test_maker_fills_priority(void)
{
	struct tl_sim_config c;
	tl_sim_t *s;
	uint32_t a, b;
	struct tl_sim_book_ticker t;
	struct tl_sim_order oa, ob, oc, st;
	struct tl_sim_order_ref r;
	struct log l = {0};
	int64_t pxl, pxh, qty = 20000, base = 0, quote_paid = 0, filled[4] = {0};
	bool done[4] = {false};
	int partial_seen = 0, steps = 0;

	cfg_wide(&c);
	s = sim_new(&c);
	a = acct_new(s, 0, 1000000 * COIN);
	b = acct_new(s, 0, 1000000 * COIN);
	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	pxl = t.bid_px.v + 5; /* inside the 20-tick spread */
	pxh = t.bid_px.v + 6;
	/* Time priority at pxl: a (order 1) before b (order 2); c (order 3) is better. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, pxl, qty, "a1", NULL, &oa), 0);
	CHECK_EQ(place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, pxl, qty, "b1", NULL, &ob), 0);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, pxh, qty, "c1", NULL, &oc), 0);
	CHECK(oa.order_id == 1 && ob.order_id == 2 && oc.order_id == 3);

	while (!done[2] && steps++ < 100000) {
		log_reset(&l);
		CHECK_EQ(step_m(s, M0, &l), 0);
		for (size_t i = 0; i < l.n; i++) {
			const struct tl_sim_exec_report *x = &l.ev[i].u.exec;

			if (l.ev[i].kind != TL_SIM_EV_EXEC_REPORT)
				continue;
			CHECK_EQ(x->exec_type, TL_SIM_X_TRADE);
			/* Priority: 3 (best price) fills whole first, then 1, then 2. */
			if (x->order_id == 1)
				CHECK(done[3]);
			if (x->order_id == 2)
				CHECK(done[3] && done[1]);
			CHECK(x->is_maker);
			CHECK_EQ(x->last_px.v, x->order_id == 3 ? pxh : pxl);
			CHECK_EQ(x->commission.v, fee_ref(x->last_qty.v * BM, 7, 8));
			filled[x->order_id] += x->last_qty.v;
			CHECK_EQ(x->cum_qty.v, filled[x->order_id]);
			if (x->status == TL_SIM_ST_PARTIALLY_FILLED)
				partial_seen++;
			if (x->status == TL_SIM_ST_FILLED) {
				CHECK_EQ(filled[x->order_id], qty);
				done[x->order_id] = true;
			}
			/* The public trade just before: buyer is the maker. */
			CHECK_EQ(l.ev[i - 1].kind, TL_SIM_EV_TRADE);
			CHECK(l.ev[i - 1].u.trade.buyer_maker);
			CHECK_EQ(l.ev[i + 1].kind, TL_SIM_EV_POSITION);
			if (x->account == a) {
				base += x->last_qty.v * BM - x->commission.v;
				quote_paid += x->last_quote.v;
			}
		}
	}
	CHECK(done[1] && done[2] && done[3]);
	CHECK(partial_seen > 0);
	CHECK_EQ(free_of(s, a, BTC), base);
	CHECK_EQ(free_of(s, a, USDT) + locked_of(s, a, USDT), 1000000 * COIN - quote_paid);
	CHECK_EQ(locked_of(s, a, USDT), 0);
	CHECK_EQ(locked_of(s, b, USDT), 0);
	r = ref_cid("b1");
	CHECK_EQ(tl_sim_order_status(s, M0, b, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_FILLED);
	CHECK_EQ(st.executed_qty.v, qty);
	CHECK_EQ(st.cum_quote.v, pxl * qty * QM);
	log_free(&l);
	tl_sim_destroy(s);
}

/* A resting order that the walk's synthetic liquidity moves onto fills at its own price. */
static void test_walk_crosses_client(void)
{
	struct tl_sim_config c;
	tl_sim_t *s;
	uint32_t a;
	struct tl_sim_book_ticker t;
	struct tl_sim_order o;
	struct log l = {0};
	int fills = 0;
	int64_t net = 0;

	tl_sim_config_default(&c);
	c.markets[0].walk.max_move_ticks = 40;
	c.markets[0].walk.trades_max = 0; /* no market orders: only the walk can fill it */
	s = sim_new(&c);
	a = acct_new(s, 1 * COIN, 0);
	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v + 30, 10000, "up",
	               NULL, &o),
	         0);
	for (int i = 0; i < 100000 && o.status != TL_SIM_ST_FILLED; i++) {
		struct tl_sim_order_ref r = ref_id(o.order_id);

		log_reset(&l);
		CHECK_EQ(step_m(s, M0, &l), 0);
		for (size_t j = 0; j < l.n; j++) {
			const struct tl_sim_exec_report *x = &l.ev[j].u.exec;

			if (l.ev[j].kind != TL_SIM_EV_EXEC_REPORT)
				continue;
			CHECK(x->is_maker);
			CHECK_EQ(x->last_px.v, t.ask_px.v + 30);
			CHECK_EQ(x->commission_asset, USDT);
			CHECK_EQ(x->commission.v, fee_ref(x->last_quote.v, 1, 8));
			net += x->last_quote.v - x->commission.v;
			fills++;
		}
		CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &o), 0);
	}
	CHECK_EQ(o.status, TL_SIM_ST_FILLED);
	CHECK(fills >= 1);
	CHECK_EQ(free_of(s, a, BTC), 1 * COIN - 10000 * BM);
	CHECK_EQ(locked_of(s, a, BTC), 0);
	CHECK_EQ(free_of(s, a, USDT), net);
	CHECK_EQ(locked_of(s, a, USDT), 0);
	log_free(&l);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * LIMIT_MAKER, IOC, FOK
 * ====================================================================================== */

static void test_limit_maker(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 10 * COIN, 1000000 * COIN);
	struct tl_sim_book_ticker t;
	struct tl_sim_order o;
	struct log l = {0};

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	expect_reject(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, t.ask_px.v, 1000,
	                    "m1", &l, &o),
	              TL_SIM_REJ_WOULD_TAKE, -2010, "Order would immediately match and take.");
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, t.ask_px.v + 500,
	               1000, "m1", &l, &o),
	         TL_SIM_REJ_WOULD_TAKE);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, t.bid_px.v, 1000,
	               "m1", &l, &o),
	         TL_SIM_REJ_WOULD_TAKE);
	expect_reject(
	    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT_MAKER, TL_SIM_GTC, t.bid_px.v, 1000, "m1", &l, &o),
	    TL_SIM_REJ_TIF_NOT_REQUIRED, -1106, "Parameter 'timeInForce' sent when not required.");
	CHECK_EQ(tl_sim_reject_code(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_TIF_NONE,
	                                  t.bid_px.v, 1000, "m1", &l, &o)),
	         -1102);
	CHECK_EQ(l.n, 0); /* a reject emits nothing */
	CHECK_EQ(free_of(s, a, USDT), 1000000 * COIN);
	/* Not crossing: it rests, reported as GTC. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, t.ask_px.v - 1, 1000,
	               "m1", &l, &o),
	         0);
	CHECK_EQ(o.status, TL_SIM_ST_NEW);
	CHECK_EQ(o.type, TL_SIM_LIMIT_MAKER);
	CHECK_EQ(o.tif, TL_SIM_GTC);
	CHECK_EQ(l.ev[0].u.exec.type, TL_SIM_LIMIT_MAKER);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, t.bid_px.v + 1, 1000,
	               "m2", &l, &o),
	         0);
	CHECK_EQ(locked_of(s, a, BTC), 1000 * BM);
	log_free(&l);
	tl_sim_destroy(s);
}

static void test_ioc_fok(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 10 * COIN, 1000000 * COIN);
	struct tl_sim_depth d = snap(s, M0);
	struct tl_sim_level asks[3], bids[2];
	struct tl_sim_order o;
	struct log l = {0};
	int64_t q01, usdt0 = 1000000 * COIN;
	uint64_t id;

	CHECK(d.n_asks >= 3 && d.n_bids >= 2);
	memcpy(asks, d.asks, sizeof(asks));
	memcpy(bids, d.bids, sizeof(bids));
	q01 = asks[0].qty.v + asks[1].qty.v;

	/* IOC not crossing: NEW, then EXPIRED with nothing filled, everything released. */
	CHECK_EQ(
	    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_IOC, bids[0].px.v, 1000, "i0", &l, &o), 0);
	CHECK_EQ(o.status, TL_SIM_ST_EXPIRED);
	CHECK_EQ(o.executed_qty.v, 0);
	CHECK_EQ(l.n, 4);
	CHECK_EQ(l.ev[0].u.exec.exec_type, TL_SIM_X_NEW);
	CHECK(!l.ev[0].u.exec.is_working); /* an IOC never rests */
	CHECK_EQ(l.ev[2].u.exec.exec_type, TL_SIM_X_EXPIRED);
	CHECK_EQ(l.ev[2].u.exec.status, TL_SIM_ST_EXPIRED);
	CHECK_EQ(l.ev[3].u.pos.bal[0].locked.v, 0);
	CHECK_EQ(free_of(s, a, USDT), usdt0);

	/* FOK for one lot more than the first two levels hold up to its price: nothing trades
	 * and the synthetic book is untouched. */
	log_reset(&l);
	id = snap(s, M0).last_update_id;
	CHECK_EQ(
	    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_FOK, asks[1].px.v, q01 + 1, "f0", &l, &o),
	    0);
	CHECK_EQ(o.status, TL_SIM_ST_EXPIRED);
	CHECK_EQ(o.executed_qty.v, 0);
	CHECK_EQ(log_count(&l, TL_SIM_EV_TRADE), 0);
	CHECK_EQ(snap(s, M0).last_update_id, id);
	CHECK_EQ(free_of(s, a, USDT), usdt0);
	CHECK_EQ(locked_of(s, a, USDT), 0);

	/* FOK for exactly what is there: FILLED, across both levels. */
	log_reset(&l);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_FOK, asks[1].px.v, q01, "f1", &l, &o),
	         0);
	CHECK_EQ(o.status, TL_SIM_ST_FILLED);
	CHECK_EQ(log_count(&l, TL_SIM_EV_TRADE), 2);
	CHECK_EQ(o.cum_quote.v, (asks[0].px.v * asks[0].qty.v + asks[1].px.v * asks[1].qty.v) * QM);
	usdt0 -= o.cum_quote.v;
	CHECK_EQ(free_of(s, a, USDT), usdt0);

	/* IOC sell through two bid levels and beyond: fills both, the rest EXPIRED. */
	log_reset(&l);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_IOC, bids[1].px.v,
	               bids[0].qty.v + bids[1].qty.v + 700, "i1", &l, &o),
	         0);
	CHECK_EQ(o.status, TL_SIM_ST_EXPIRED);
	CHECK_EQ(o.executed_qty.v, bids[0].qty.v + bids[1].qty.v);
	CHECK_EQ(log_count(&l, TL_SIM_EV_TRADE), 2);
	CHECK(log_nth(&l, TL_SIM_EV_TRADE, 0)->u.trade.buyer_maker); /* the client sold */
	CHECK_EQ(log_nth(&l, TL_SIM_EV_EXEC_REPORT, 3)->u.exec.exec_type, TL_SIM_X_EXPIRED);
	CHECK_EQ(log_nth(&l, TL_SIM_EV_EXEC_REPORT, 3)->u.exec.cum_qty.v, o.executed_qty.v);
	CHECK_EQ(locked_of(s, a, BTC), 0);
	CHECK_EQ(free_of(s, a, BTC), 10 * COIN + q01 * BM - fee_ref(asks[0].qty.v * BM, 2, 8) -
	                                 fee_ref(asks[1].qty.v * BM, 2, 8) - o.executed_qty.v * BM);
	CHECK_EQ(free_of(s, a, USDT), usdt0 + o.cum_quote.v -
	                                  fee_ref(bids[0].px.v * bids[0].qty.v * QM, 2, 8) -
	                                  fee_ref(bids[1].px.v * bids[1].qty.v * QM, 2, 8));
	log_free(&l);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * Balances, duplicates, filters
 * ====================================================================================== */

static void test_balance(void)
{
	tl_sim_t *s = sim_default();
	struct tl_sim_book_ticker t;
	struct tl_sim_balance all[4];
	struct tl_sim_order o;
	struct log l = {0};
	struct tl_sim_sink k = {log_fn, &l};
	int64_t px, need;
	uint32_t a;

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	px = t.bid_px.v - 10;
	need = px * 10000 * QM;
	a = acct_new(s, 0, 0);
	CHECK_EQ(tl_sim_account_deposit(s, a, USDT, AMT(need - 1), g_now, &k), 0);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.ev[0].kind, TL_SIM_EV_BALANCE_UPDATE);
	CHECK_EQ(l.ev[0].market, TL_SIM_NO_MARKET);
	CHECK_EQ(l.ev[0].u.bal.delta.v, need - 1);
	CHECK_EQ(l.ev[1].kind, TL_SIM_EV_POSITION);
	CHECK_EQ(l.ev[1].u.pos.bal[0].free.v, need - 1);
	log_reset(&l);
	expect_reject(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 10000, "b", &l, &o),
	              TL_SIM_REJ_INSUFFICIENT_BALANCE, -2010,
	              "Account has insufficient balance for requested action.");
	CHECK_EQ(l.n, 0);
	CHECK_EQ(tl_sim_account_deposit(s, a, USDT, AMT(1), g_now, NULL), 0);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 10000, "b", NULL, &o), 0);
	CHECK_EQ(free_of(s, a, USDT), 0);
	CHECK_EQ(locked_of(s, a, USDT), need);
	/* Locked funds are not free: nothing more can be bought. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 10000, "c", NULL, &o),
	         TL_SIM_REJ_INSUFFICIENT_BALANCE);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v, 1, "s", NULL, &o),
	         TL_SIM_REJ_NOTIONAL);
	CHECK_EQ(
	    place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v, 1000, "s", NULL, &o),
	    TL_SIM_REJ_INSUFFICIENT_BALANCE);

	CHECK_EQ(tl_sim_account_balances(s, a, all, 4), 2);
	CHECK_EQ(all[1].asset, USDT);
	CHECK_EQ(all[1].locked.v, need);
	CHECK_EQ(tl_sim_account_balances(s, a, NULL, 0), 2);
	CHECK_EQ(tl_sim_account_balances(s, 7, all, 4), -EINVAL);
	CHECK_EQ(tl_sim_account_deposit(s, a, USDT, AMT(0), g_now, NULL), -EINVAL);
	CHECK_EQ(tl_sim_account_deposit(s, a, 2, AMT(1), g_now, NULL), -EINVAL);
	CHECK_EQ(tl_sim_account_deposit(s, 9, USDT, AMT(1), g_now, NULL), -EINVAL);
	log_free(&l);
	tl_sim_destroy(s);
}

static void test_duplicate(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 0, 1000000 * COIN), b = acct_new(s, 0, 1000000 * COIN);
	struct tl_sim_book_ticker t;
	struct tl_sim_order o, st;
	struct tl_sim_order_ref r;
	int64_t px;

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	px = t.bid_px.v - 50;
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, "dup", NULL, &o), 0);
	expect_reject(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, "dup", NULL, &o),
	              TL_SIM_REJ_DUPLICATE, -2010, "Duplicate order sent.");
	/* Ids are per account. */
	CHECK_EQ(place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, "dup", NULL, &o), 0);
	/* Once done, the id is free again; by id the status is the newest order's. */
	r = ref_cid("dup");
	CHECK_EQ(cancel(s, a, &r, NULL, NULL), 0);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 2000, "dup", NULL, &o), 0);
	CHECK_EQ(o.order_id, 3);
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.order_id, 3);
	CHECK_EQ(st.status, TL_SIM_ST_NEW);
	r = ref_id(1); /* the older one, still known by orderId */
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_CANCELED);
	/* Reusing one id over and over (more than the history holds) stays cheap and right. */
	for (int i = 0; i < 70000; i++) {
		r = ref_cid("dup");
		CHECK_EQ(cancel(s, a, &r, NULL, &st), 0);
		CHECK_EQ(
		    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, "dup", NULL, &o),
		    0);
	}
	r = ref_cid("dup");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.order_id, o.order_id);
	CHECK_EQ(locked_of(s, a, USDT), px * 1000 * QM);
	/* Bad ids. */
	CHECK_EQ(tl_sim_reject_code(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000,
	                                  "has space", NULL, &o)),
	         -1100);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000,
	               "0123456789012345678901234567890123456", NULL, &o),
	         TL_SIM_REJ_BAD_CLIENT_ID); /* 37 characters */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000,
	               "012345678901234567890123456789-_abcZ", NULL, &o),
	         0); /* 36, every class of character */
	tl_sim_destroy(s);
}

/* A second market with coarser filters: tick 0.05, step 0.001, minQty 0.01. */
static void cfg_two_markets(struct tl_sim_config *c)
{
	struct tl_sim_market_config *m = &c->markets[1];

	tl_sim_config_default(c);
	c->n_assets = 3;
	strcpy(c->assets[2].name, "ETH");
	c->assets[2].decimals = 8;
	c->n_markets = 2;
	*m = c->markets[0];
	strcpy(m->symbol, "ETHUSDT");
	m->base_asset = 2;
	m->px_decimals = 2;
	m->qty_decimals = 4;
	m->tick_size.v = 5;
	m->min_px.v = 5;
	m->max_px.v = 10000000; /* 100000.00 */
	m->step_size.v = 10;
	m->min_qty.v = 100;
	m->max_qty.v = 10000000; /* 1000 */
	m->min_notional.v = 10 * COIN;
	m->max_num_orders = 3;
	m->walk.start_px.v = 300000; /* 3000.00 */
	m->walk.level_qty_min.v = 100;
	m->walk.level_qty_max.v = 50000;
	m->walk.trade_qty_max.v = 1000;
}

static void test_filters(void)
{
	struct tl_sim_config c;
	tl_sim_t *s;
	uint32_t a, e = 1;
	struct tl_sim_book_ticker t;
	struct tl_sim_order o;
	int64_t px;

	cfg_two_markets(&c);
	s = sim_new(&c);
	CHECK_EQ(tl_sim_market_find(s, "ETHUSDT", 7), 1);
	a = acct_new(s, 0, 1000000 * COIN);
	CHECK_EQ(tl_sim_book_ticker(s, e, &t), 0);
	CHECK_EQ(t.bid_px.v % 5, 0);
	px = t.bid_px.v - 100;
#define P(px_, qty_)                                                                               \
	place_m(s, e, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, (px_), (qty_), NULL, NULL, &o)
	expect_reject(P(px + 1, 1000), TL_SIM_REJ_PRICE_FILTER, -1013,
	              "Filter failure: PRICE_FILTER");
	CHECK_EQ(P(0, 1000), TL_SIM_REJ_PRICE_FILTER);
	CHECK_EQ(P(-5, 1000), TL_SIM_REJ_PRICE_FILTER);
	CHECK_EQ(P(10000005, 1000), TL_SIM_REJ_PRICE_FILTER); /* above maxPrice */
	expect_reject(P(px, 1005), TL_SIM_REJ_LOT_SIZE, -1013, "Filter failure: LOT_SIZE");
	CHECK_EQ(P(px, 90), TL_SIM_REJ_LOT_SIZE); /* below minQty */
	CHECK_EQ(P(px, 0), TL_SIM_REJ_LOT_SIZE);
	CHECK_EQ(P(px, 10000010), TL_SIM_REJ_LOT_SIZE); /* above maxQty */
	CHECK_EQ(P(px, INT64_MAX - 7), TL_SIM_REJ_LOT_SIZE);
	/* 0.01 ETH at ~2990 is ~29.9 USDT: fine; at 5.00 it is 0.05 USDT: below 10. */
	CHECK_EQ(P(px, 100), 0);
	expect_reject(P(500, 100), TL_SIM_REJ_NOTIONAL, -1013, "Filter failure: NOTIONAL");
	/* px * qty exactly at minNotional passes: 1000.00 * 0.0100 = 10 USDT. */
	CHECK_EQ(P(100000, 100), 0);
	CHECK_EQ(P(px, 200), 0);
	expect_reject(P(px, 300), TL_SIM_REJ_MAX_NUM_ORDERS, -1013,
	              "Filter failure: MAX_NUM_ORDERS");
#undef P
	/* The other market is unaffected by this one's MAX_NUM_ORDERS. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, 100, 1000, NULL, NULL, &o),
	         TL_SIM_REJ_NOTIONAL);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, 5000000, 1000, NULL, NULL, &o),
	         0);

	/* Contract breaches are errors, not rejects. */
	{
		struct tl_sim_order_req r;

		memset(&r, 0, sizeof(r));
		r.side = (enum tl_sim_side)2;
		r.tif = TL_SIM_GTC;
		CHECK_EQ(tl_sim_place(s, M0, a, &r, g_now, NULL, NULL), -EINVAL);
		r.side = TL_SIM_BUY;
		r.tif = (enum tl_sim_tif)9;
		CHECK_EQ(tl_sim_place(s, M0, a, &r, g_now, NULL, NULL), -EINVAL);
		r.tif = TL_SIM_GTC;
		CHECK_EQ(tl_sim_place(s, 5, a, &r, g_now, NULL, NULL), -EINVAL);
		CHECK_EQ(tl_sim_place(s, M0, 5, &r, g_now, NULL, NULL), -EINVAL);
		CHECK_EQ(tl_sim_place(s, M0, a, NULL, g_now, NULL, NULL), -EINVAL);
	}
	tl_sim_destroy(s);

	/* -1008 when the market's pool of open orders is full. */
	tl_sim_config_default(&c);
	c.max_open_orders = 4;
	c.markets[0].max_num_orders = 3;
	s = sim_new(&c);
	a = acct_new(s, 0, 1000000 * COIN);
	{
		uint32_t b = acct_new(s, 0, 1000000 * COIN);

		CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
		px = t.bid_px.v - 100;
		for (int i = 0; i < 3; i++)
			CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, NULL,
			               NULL, &o),
			         0);
		CHECK_EQ(
		    place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, NULL, NULL, &o), 0);
		expect_reject(
		    place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, NULL, NULL, &o),
		    TL_SIM_REJ_BUSY, -1008,
		    "Server is currently overloaded with other requests. Please try again "
		    "in a few minutes.");
	}
	tl_sim_destroy(s);

	/* MAX_POSITION: receipts that could overflow a balance are refused; so are deposits. */
	s = sim_default();
	a = acct_new(s, INT64_MAX - 1000 * BM, 1000000 * COIN);
	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	px = t.bid_px.v - 100;
	expect_reject(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1001, NULL, NULL, &o),
	              TL_SIM_REJ_MAX_POSITION, -1013, "Filter failure: MAX_POSITION");
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, NULL, NULL, &o), 0);
	/* The open buy's receipt counts: even one more unit of deposit could overflow. */
	CHECK_EQ(tl_sim_account_deposit(s, a, BTC, AMT(1), g_now, NULL), -ERANGE);
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000, NULL, NULL, &o),
	         TL_SIM_REJ_MAX_POSITION);
	/* The open buy's lock is still part of the USDT total: deposits stop at INT64_MAX. */
	CHECK_EQ(
	    tl_sim_account_deposit(s, a, USDT, AMT(INT64_MAX - 1000000 * COIN + 1), g_now, NULL),
	    -ERANGE);
	CHECK_EQ(tl_sim_account_deposit(s, a, USDT, AMT(INT64_MAX - 1000000 * COIN), g_now, NULL),
	         0);
	tl_sim_destroy(s);
	/* A sell's worst case is its quantity at maxPrice (1000000.00). */
	s = sim_default();
	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	a = acct_new(s, 10 * COIN, INT64_MAX - 100000000ll * 1000 * QM);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v + 100, 1001, NULL,
	               NULL, &o),
	         TL_SIM_REJ_MAX_POSITION);
	CHECK_EQ(place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC, t.ask_px.v + 100, 1000, NULL,
	               NULL, &o),
	         0);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * cancelAll, the bounded order history
 * ====================================================================================== */

static void test_cancel_all(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 10 * COIN, 1000000 * COIN), b = acct_new(s, 0, 1000000 * COIN);
	struct tl_sim_book_ticker t;
	struct tl_sim_order o, out[8];
	struct tl_sim_sink k;
	struct log l = {0};
	uint32_t n = 99;

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	expect_reject(tl_sim_cancel_all(s, M0, a, g_now, NULL, out, 8, &n),
	              TL_SIM_REJ_UNKNOWN_ORDER, -2011, "Unknown order sent.");
	CHECK_EQ(n, 99);
	for (int i = 0; i < 5; i++) {
		int side = i % 2 ? TL_SIM_SELL : TL_SIM_BUY;
		int64_t px = side == TL_SIM_BUY ? t.bid_px.v - 10 * i : t.ask_px.v + 10 * i;

		CHECK_EQ(
		    place(s, a, side, TL_SIM_LIMIT, TL_SIM_GTC, px, 1000 * (i + 1), NULL, NULL, &o),
		    0);
	}
	CHECK_EQ(
	    place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, t.bid_px.v, 1000, NULL, NULL, &o), 0);
	CHECK(locked_of(s, a, BTC) > 0 && locked_of(s, a, USDT) > 0);
	k.fn = log_fn;
	k.ctx = &l;
	CHECK_EQ(tl_sim_cancel_all(s, M0, a, g_now, &k, out, 3, &n), 0);
	CHECK_EQ(n, 5);
	CHECK_EQ(l.n, 10);
	for (uint32_t i = 0; i < 5; i++) {
		CHECK_EQ(l.ev[2 * i].kind, TL_SIM_EV_EXEC_REPORT);
		CHECK_EQ(l.ev[2 * i].u.exec.order_id, i + 1); /* ascending orderId */
		CHECK_EQ(l.ev[2 * i].u.exec.exec_type, TL_SIM_X_CANCELED);
		CHECK_EQ(l.ev[2 * i + 1].kind, TL_SIM_EV_POSITION);
		if (i < 3) {
			CHECK_EQ(out[i].order_id, i + 1);
			CHECK_EQ(out[i].status, TL_SIM_ST_CANCELED);
		}
	}
	CHECK_EQ(locked_of(s, a, BTC), 0);
	CHECK_EQ(locked_of(s, a, USDT), 0);
	CHECK_EQ(free_of(s, a, BTC), 10 * COIN);
	CHECK_EQ(free_of(s, a, USDT), 1000000 * COIN);
	CHECK_EQ(tl_sim_open_orders(s, M0, a, NULL, 0), 0);
	CHECK_EQ(tl_sim_open_orders(s, M0, b, NULL, 0), 1); /* b's order stays */
	CHECK_EQ(tl_sim_cancel_all(s, M0, a, g_now, NULL, NULL, 0, NULL), TL_SIM_REJ_UNKNOWN_ORDER);
	log_free(&l);
	tl_sim_destroy(s);
}

static void test_status_history(void)
{
	struct tl_sim_config c;
	tl_sim_t *s;
	uint32_t a;
	struct tl_sim_book_ticker t;
	struct tl_sim_order o, st;
	struct tl_sim_order_ref r;
	char cid[16];

	tl_sim_config_default(&c);
	c.history_orders = 4;
	s = sim_new(&c);
	a = acct_new(s, 0, 1000000 * COIN);
	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	/* An open order is never forgotten, however many finish after it. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, t.bid_px.v - 90, 1000, "keep",
	               NULL, &o),
	         0);
	for (int i = 0; i < 10; i++) {
		snprintf(cid, sizeof(cid), "h%d", i);
		CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC, t.bid_px.v - 100, 1000,
		               cid, NULL, &o),
		         0);
		r = ref_id(o.order_id);
		CHECK_EQ(cancel(s, a, &r, NULL, NULL), 0);
	}
	/* Orders 2..11 finished; the last 4 (8..11) are kept. */
	for (uint64_t id = 1; id <= 11; id++) {
		r = ref_id(id);
		CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st),
		         id == 1 || id >= 8 ? TL_SIM_OK : TL_SIM_REJ_NO_SUCH_ORDER);
	}
	r = ref_cid("h0");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), TL_SIM_REJ_NO_SUCH_ORDER);
	r = ref_cid("h9");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_CANCELED);
	r = ref_cid("keep");
	CHECK_EQ(tl_sim_order_status(s, M0, a, &r, &st), 0);
	CHECK_EQ(st.status, TL_SIM_ST_NEW);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * myTrades
 * ====================================================================================== */

/* Collects the executionReports TRADE of one account as myTrades should show them. */
struct trades_log {
	uint32_t account;
	struct tl_sim_trade t[4096];
	uint32_t n;
};

static void trades_fn(void *ctx, const struct tl_sim_event *ev)
{
	struct trades_log *tl = ctx;
	const struct tl_sim_exec_report *x = &ev->u.exec;
	struct tl_sim_trade *t;

	if (ev->kind != TL_SIM_EV_EXEC_REPORT || x->exec_type != TL_SIM_X_TRADE ||
	    x->account != tl->account)
		return;
	CHECK(tl->n < 4096);
	t = &tl->t[tl->n++];
	memset(t, 0, sizeof(*t));
	t->id = (uint64_t)x->trade_id;
	t->order_id = x->order_id;
	t->px = x->last_px;
	t->qty = x->last_qty;
	t->quote = x->last_quote;
	t->commission = x->commission;
	t->commission_asset = (uint32_t)x->commission_asset;
	t->is_buyer = x->side == TL_SIM_BUY;
	t->is_maker = x->is_maker;
	t->time_ms = x->transact_ms;
}

static struct tl_sim_trade g_got[2048];

static uint32_t my_trades(const tl_sim_t *s, uint32_t a, const struct tl_sim_trades_query *q,
                          uint32_t cap)
{
	uint32_t n = 12345;

	CHECK(cap <= 2048);
	CHECK_EQ(tl_sim_my_trades(s, M0, a, q, g_got, cap, &n), 0);
	CHECK(n <= cap);
	for (uint32_t i = 1; i < n; i++)
		CHECK(g_got[i].id > g_got[i - 1].id);
	return n;
}

static void expect_trades(uint32_t n, const struct tl_sim_trade *want)
{
	for (uint32_t i = 0; i < n; i++)
		CHECK(!memcmp(&g_got[i], &want[i], sizeof(want[i])));
}

/* Makes `orders` taker buys of 0.01 BTC, one a second, each filling 1 or 2 levels. */
static void make_trades(tl_sim_t *s, uint32_t a, int orders, struct trades_log *tl)
{
	struct tl_sim_sink k = {trades_fn, tl};
	struct tl_sim_order_req r;

	memset(&r, 0, sizeof(r));
	r.side = TL_SIM_BUY;
	r.type = TL_SIM_LIMIT;
	r.tif = TL_SIM_IOC;
	r.qty.v = 1000;
	tl->account = a;
	for (int i = 0; i < orders; i++) {
		struct tl_sim_book_ticker t;

		g_now += 1000;
		if (i % 8 == 0)
			CHECK_EQ(tl_sim_market_step(s, M0, g_now, &k), 0);
		CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
		r.px.v = t.ask_px.v + 5;
		CHECK_EQ(tl_sim_place(s, M0, a, &r, g_now, &k, NULL), 0);
	}
}

static void test_my_trades(void)
{
	static struct trades_log tl;
	struct tl_sim_config c;
	struct tl_sim_trades_query q;
	tl_sim_t *s;
	uint32_t a, other, n, got;
	int64_t start, end;

	tl_sim_config_default(&c);
	s = sim_new(&c);
	a = acct_new(s, 0, 10000000 * COIN);
	other = acct_new(s, 0, 10000000 * COIN);
	memset(&tl, 0, sizeof(tl));
	make_trades(s, a, 1100, &tl);
	n = tl.n;
	CHECK(n >= 1100);

	memset(&q, 0, sizeof(q));
	/* No bound: the most recent, default 500, at most 1000. */
	CHECK_EQ(my_trades(s, a, &q, 2048), TL_SIM_MY_TRADES_DEFAULT);
	expect_trades(500, &tl.t[n - 500]);
	q.limit = 5000;
	CHECK_EQ(my_trades(s, a, &q, 2048), TL_SIM_MY_TRADES_MAX);
	expect_trades(1000, &tl.t[n - 1000]);
	q.limit = 7;
	CHECK_EQ(my_trades(s, a, &q, 3), 3); /* cap < limit: the most recent cap */
	expect_trades(3, &tl.t[n - 3]);
	CHECK_EQ(my_trades(s, other, &q, 2048), 0);

	/* fromId paging, 7 at a time, from before the first id: exactly all, in order. */
	got = 0;
	q.from_id = 1;
	for (;;) {
		uint32_t k = my_trades(s, a, &q, 2048);

		if (k == 0)
			break;
		CHECK(g_got[0].id >= q.from_id);
		expect_trades(k, &tl.t[got]);
		got += k;
		q.from_id = g_got[k - 1].id + 1;
	}
	CHECK_EQ(got, n);
	/* fromId in the middle of the ids: starts at the first id >= it. */
	q.from_id = tl.t[600].id;
	q.limit = 10;
	CHECK_EQ(my_trades(s, a, &q, 2048), 10);
	expect_trades(10, &tl.t[600]);
	q.from_id = tl.t[n - 1].id + 1;
	CHECK_EQ(my_trades(s, a, &q, 2048), 0);

	/* Time windows, both ends inclusive, from the earliest. */
	memset(&q, 0, sizeof(q));
	start = tl.t[100].time_ms;
	end = tl.t[300].time_ms;
	q.has_start = q.has_end = true;
	q.start_ms = start;
	q.end_ms = end;
	q.limit = 1000;
	{
		uint32_t first = 0, last = 0, k;

		while (tl.t[first].time_ms < start)
			first++;
		last = first;
		while (last < n && tl.t[last].time_ms <= end)
			last++;
		k = my_trades(s, a, &q, 2048);
		CHECK_EQ(k, last - first);
		expect_trades(k, &tl.t[first]);
		q.limit = 5;
		CHECK_EQ(my_trades(s, a, &q, 2048), 5);
		expect_trades(5, &tl.t[first]);
		/* Only an end: the 24 h before it. */
		q.has_start = false;
		q.limit = 1000;
		CHECK_EQ(my_trades(s, a, &q, 2048), last);
		expect_trades(last, &tl.t[0]);
		/* Only a start. */
		q.has_start = true;
		q.has_end = false;
		CHECK_EQ(my_trades(s, a, &q, 2048), n - first < 1000 ? n - first : 1000);
		expect_trades(10, &tl.t[first]);
	}
	q.has_end = true;
	q.end_ms = q.start_ms + TL_SIM_WINDOW_MS_MAX + 1;
	expect_reject(tl_sim_my_trades(s, M0, a, &q, g_got, 10, NULL), TL_SIM_REJ_WINDOW_TOO_LONG,
	              -1127, "More than 24 hours between startTime and endTime.");
	q.end_ms = q.start_ms - 1;
	CHECK_EQ(tl_sim_my_trades(s, M0, a, &q, g_got, 10, NULL), TL_SIM_REJ_WINDOW_TOO_LONG);
	q.end_ms = q.start_ms;
	q.from_id = 5;
	expect_reject(tl_sim_my_trades(s, M0, a, &q, g_got, 10, NULL), TL_SIM_REJ_BAD_COMBINATION,
	              -1128, "Combination of optional parameters invalid.");
	q.has_start = q.has_end = false;
	q.start_ms = INT64_MIN;
	CHECK_EQ(tl_sim_my_trades(s, M0, a, &q, NULL, 0, NULL), 0);
	q.from_id = 0;
	q.has_start = q.has_end = true;
	q.start_ms = INT64_MIN;
	q.end_ms = INT64_MAX; /* no overflow computing the span */
	CHECK_EQ(tl_sim_my_trades(s, M0, a, &q, g_got, 10, NULL), TL_SIM_REJ_WINDOW_TOO_LONG);
	tl_sim_destroy(s);

	/* A bounded history: only the last trades_per_account are kept. */
	c.trades_per_account = 16;
	s = sim_new(&c);
	a = acct_new(s, 0, 10000000 * COIN);
	memset(&tl, 0, sizeof(tl));
	make_trades(s, a, 40, &tl);
	n = tl.n;
	memset(&q, 0, sizeof(q));
	CHECK_EQ(my_trades(s, a, &q, 2048), 16);
	expect_trades(16, &tl.t[n - 16]);
	q.from_id = 1;
	CHECK_EQ(my_trades(s, a, &q, 2048), 16);
	expect_trades(16, &tl.t[n - 16]);
	q.from_id = tl.t[n - 4].id;
	CHECK_EQ(my_trades(s, a, &q, 2048), 4);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * The fee rule at a coarse precision
 * ====================================================================================== */

static void test_fee_rounding(void)
{
	struct tl_sim_config c;
	tl_sim_t *s;
	uint32_t a;
	struct tl_sim_depth d;
	struct tl_sim_order o;
	struct log l = {0};
	const struct tl_sim_exec_report *x;
	int64_t exact_x1e4;

	tl_sim_config_default(&c);
	c.assets[BTC].decimals = 3;  /* fees in BTC round down to 0.001 = 100000 units */
	c.assets[USDT].decimals = 2; /* fees in USDT round down to 0.01 = 1000000 units */
	c.markets[0].taker_fee_bp = 25;
	c.markets[0].walk.level_qty_min.v = 500000; /* levels of 5 BTC or more */
	c.markets[0].walk.level_qty_max.v = 900000;
	s = sim_new(&c);
	a = acct_new(s, 10 * COIN, 10000000 * COIN);
	d = snap(s, M0);

	/* Buy 1.23457 BTC: 123457000 units; 25 bp of it is 308642.5 units, rounded down to
	 * a multiple of 100000: 300000. */
	CHECK_EQ(
	    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_IOC, d.asks[0].px.v, 123457, NULL, &l, &o),
	    0);
	CHECK_EQ(o.status, TL_SIM_ST_FILLED);
	x = &log_nth(&l, TL_SIM_EV_EXEC_REPORT, 1)->u.exec;
	CHECK_EQ(x->commission.v, 300000);
	CHECK_EQ(x->commission_asset, BTC);
	CHECK_EQ(free_of(s, a, BTC), 10 * COIN + 123457000 - 300000);
	/* Buy 0.00039 BTC: 39000 units, fee 97.5 units: rounds down to nothing. */
	log_reset(&l);
	CHECK_EQ(
	    place(s, a, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_IOC, d.asks[0].px.v, 39, NULL, &l, &o), 0);
	CHECK_EQ(log_nth(&l, TL_SIM_EV_EXEC_REPORT, 1)->u.exec.commission.v, 0);
	/* A sell: the fee in USDT, a multiple of 0.01, at most the exact fee, less than 0.01
	 * below it. */
	log_reset(&l);
	CHECK_EQ(
	    place(s, a, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_IOC, d.bids[0].px.v, 77777, NULL, &l, &o),
	    0);
	x = &log_nth(&l, TL_SIM_EV_EXEC_REPORT, 1)->u.exec;
	exact_x1e4 = x->last_quote.v * 25; /* the exact fee, times 10000 */
	CHECK_EQ(x->commission.v % 1000000, 0);
	CHECK(x->commission.v * 10000 <= exact_x1e4);
	CHECK(exact_x1e4 < (x->commission.v + 1000000) * 10000);
	CHECK_EQ(x->commission_asset, USDT);
	log_free(&l);
	tl_sim_destroy(s);
}

/* ======================================================================================
 * Determinism
 * ====================================================================================== */

struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p != NULL);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Serializes an event: its bytes (the sim zeroes padding), depth pointers replaced by the
 * levels they point to. */
static void ser_fn(void *ctx, const struct tl_sim_event *ev)
{
	struct tl_sim_event c;

	memcpy(&c, ev, sizeof(c));
	if (c.kind == TL_SIM_EV_DEPTH) {
		c.u.depth.bids = c.u.depth.asks = NULL;
		bytes_add(ctx, &c, sizeof(c));
		bytes_add(ctx, ev->u.depth.bids, ev->u.depth.n_bids * sizeof(struct tl_sim_level));
		bytes_add(ctx, ev->u.depth.asks, ev->u.depth.n_asks * sizeof(struct tl_sim_level));
	} else {
		bytes_add(ctx, &c, sizeof(c));
	}
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A run with client activity (from the test's own generator, fixed) on a sim of `seed`;
 * every event and every result goes into *out. */
static void scenario(uint64_t seed, struct bytes *out)
{
	struct tl_sim_config c;
	struct tl_sim_sink k = {ser_fn, out};
	tl_sim_t *s;
	uint64_t x = 12345;
	int64_t now = 1000;

	tl_sim_config_default(&c);
	c.seed = seed;
	c.markets[0].walk.max_move_ticks = 5;
	s = sim_new(&c);
	for (uint32_t a = 0; a < 4; a++) {
		CHECK_EQ(tl_sim_account_create(s), (int)a);
		CHECK_EQ(tl_sim_account_deposit(s, a, BTC, AMT(5 * COIN), now, &k), 0);
		CHECK_EQ(tl_sim_account_deposit(s, a, USDT, AMT(500000 * COIN), now, &k), 0);
	}
	for (int i = 0; i < 3000; i++) {
		struct tl_sim_book_ticker t;
		struct tl_sim_order o[8];
		struct tl_sim_order_req r;
		uint32_t a = (uint32_t)(splitmix(&x) % 4);
		int res;

		now += 100;
		CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
		memset(&r, 0, sizeof(r));
		memset(o, 0, sizeof(o));
		r.side = (enum tl_sim_side)(splitmix(&x) % 2);
		r.type = splitmix(&x) % 4 ? TL_SIM_LIMIT : TL_SIM_LIMIT_MAKER;
		r.tif = r.type == TL_SIM_LIMIT ? (enum tl_sim_tif)(1 + splitmix(&x) % 3)
		                               : TL_SIM_TIF_NONE;
		r.px.v = (r.side == TL_SIM_BUY ? t.ask_px.v : t.bid_px.v) +
		         (int64_t)(splitmix(&x) % 13) - 6;
		r.qty.v = 100 + (int64_t)(splitmix(&x) % 30000);
		res = tl_sim_place(s, M0, a, &r, now, &k, &o[0]);
		bytes_add(out, &res, sizeof(res));
		bytes_add(out, &o[0], sizeof(o[0]));
		if (splitmix(&x) % 3 == 0) {
			res = tl_sim_open_orders(s, M0, a, o, 8);
			if (res > 0) {
				struct tl_sim_order_ref ref =
				    ref_id(o[splitmix(&x) % (res < 8 ? res : 8)].order_id);

				res = tl_sim_cancel(s, M0, a, &ref, now, &k, &o[0]);
				bytes_add(out, &res, sizeof(res));
				bytes_add(out, &o[0], sizeof(o[0]));
			}
		}
		CHECK_EQ(tl_sim_market_step(s, M0, now, &k), 0);
	}
	tl_sim_destroy(s);
}

static void test_determinism(void)
{
	struct bytes a = {0}, b = {0}, c = {0};

	scenario(7, &a);
	scenario(7, &b);
	scenario(8, &c);
	CHECK(a.n > 100000);
	CHECK_EQ(a.n, b.n);
	CHECK(!memcmp(a.p, b.p, a.n));
	CHECK(c.n != a.n || memcmp(a.p, c.p, a.n) != 0);
	free(a.p);
	free(b.p);
	free(c.p);
}

/* ======================================================================================
 * The long randomized run
 * ====================================================================================== */

#define LR_ACCTS 16
#define LR_STEPS 100000

/* A plain book for the sync check: sorted arrays, linear search. Too simple to be wrong. */
struct refbook {
	struct tl_sim_level lv[2][TL_SIM_DEPTH_LEVELS_MAX];
	uint32_t n[2];
};

static void ref_set(struct refbook *b, int side, int64_t px, int64_t qty)
{
	struct tl_sim_level *lv = b->lv[side];
	uint32_t n = b->n[side], i = 0;

	while (i < n && (side == TL_SIM_BUY ? lv[i].px.v > px : lv[i].px.v < px))
		i++;
	if (i < n && lv[i].px.v == px) {
		if (qty) {
			lv[i].qty.v = qty;
		} else {
			memmove(&lv[i], &lv[i + 1], (n - i - 1) * sizeof(*lv));
			n--;
		}
	} else if (qty) {
		CHECK(n < TL_SIM_DEPTH_LEVELS_MAX);
		memmove(&lv[i + 1], &lv[i], (n - i) * sizeof(*lv));
		lv[i].px.v = px;
		lv[i].qty.v = qty;
		n++;
	}
	b->n[side] = n;
}

/* A client of the depth stream, syncing by PROTOCOL.md's algorithm. The book is mirrored
 * into a tl_book too, the engine's own L2 book, as a second witness. */
struct syncer {
	bool buffering, synced;
	uint64_t book_id;
	struct log buf;
	struct refbook *b;
	tl_book_t *tb;
	uint64_t dropped, applied;
};

static void sync_apply(struct syncer *y, const struct tl_sim_depth_update *d)
{
	if (d->final_id <= y->book_id) {
		y->dropped++;
		return;
	}
	CHECK(d->first_id <= y->book_id + 1); /* no gap */
	for (int side = 0; side < 2; side++) {
		const struct tl_sim_level *lv = side == TL_SIM_BUY ? d->bids : d->asks;
		uint32_t n = side == TL_SIM_BUY ? d->n_bids : d->n_asks;

		for (uint32_t i = 0; i < n; i++) {
			ref_set(y->b, side, lv[i].px.v, lv[i].qty.v);
			CHECK_EQ(tl_book_set(y->tb, side == TL_SIM_BUY ? TL_BOOK_BID : TL_BOOK_ASK,
			                     lv[i].px, lv[i].qty),
			         0);
		}
	}
	CHECK(!tl_book_crossed(y->tb));
	y->book_id = d->final_id;
	y->applied++;
}

static void sync_event(struct syncer *y, const struct tl_sim_event *ev)
{
	if (y->synced)
		sync_apply(y, &ev->u.depth);
	else if (y->buffering)
		log_fn(&y->buf, ev);
}

static void sync_snapshot(struct syncer *y, const tl_sim_t *s)
{
	struct tl_sim_depth d = snap(s, M0);

	if (y->buf.n)
		CHECK(d.last_update_id + 1 >= y->buf.ev[0].u.depth.first_id);
	memset(y->b, 0, sizeof(*y->b));
	tl_book_clear(y->tb);
	for (uint32_t i = 0; i < d.n_bids; i++) {
		ref_set(y->b, TL_SIM_BUY, d.bids[i].px.v, d.bids[i].qty.v);
		CHECK_EQ(tl_book_set(y->tb, TL_BOOK_BID, d.bids[i].px, d.bids[i].qty), 0);
	}
	for (uint32_t i = 0; i < d.n_asks; i++) {
		ref_set(y->b, TL_SIM_SELL, d.asks[i].px.v, d.asks[i].qty.v);
		CHECK_EQ(tl_book_set(y->tb, TL_BOOK_ASK, d.asks[i].px, d.asks[i].qty), 0);
	}
	y->book_id = d.last_update_id;
	y->synced = true;
	for (size_t i = 0; i < y->buf.n; i++)
		sync_apply(y, &y->buf.ev[i].u.depth);
	log_free(&y->buf);
}

/* The synced book must be the engine's, level for level. */
static void sync_compare(const struct syncer *y, const struct tl_sim_depth *d)
{
	struct tl_book_level top[64];
	size_t n;

	CHECK_EQ(y->b->n[TL_SIM_BUY], d->n_bids);
	CHECK_EQ(y->b->n[TL_SIM_SELL], d->n_asks);
	CHECK(!memcmp(y->b->lv[TL_SIM_BUY], d->bids, d->n_bids * sizeof(*d->bids)));
	CHECK(!memcmp(y->b->lv[TL_SIM_SELL], d->asks, d->n_asks * sizeof(*d->asks)));
	CHECK_EQ(tl_book_levels(y->tb, TL_BOOK_BID), d->n_bids);
	CHECK_EQ(tl_book_levels(y->tb, TL_BOOK_ASK), d->n_asks);
	n = tl_book_top(y->tb, TL_BOOK_BID, top, 64);
	for (size_t i = 0; i < n; i++)
		CHECK(top[i].px.v == d->bids[i].px.v && top[i].qty.v == d->bids[i].qty.v);
	n = tl_book_top(y->tb, TL_BOOK_ASK, top, 64);
	for (size_t i = 0; i < n; i++)
		CHECK(top[i].px.v == d->asks[i].px.v && top[i].qty.v == d->asks[i].qty.v);
}

/* ======================================================================================
 * Capture replay (tl_sim_market_replay_step)
 * ====================================================================================== */

#define CAP_PX 1000000 /* a capture's 8 price decimals per the market's 2 */

/* Sets a captured level: px at the market's scale, qty at the capture's 8 decimals. */
static void cap_set(tl_book_t *cap, int side, int64_t px, int64_t qty8)
{
	CHECK_EQ(tl_book_set(cap, side == TL_SIM_BUY ? TL_BOOK_BID : TL_BOOK_ASK,
	                     (tl_px_t){px * CAP_PX}, (tl_qty_t){qty8}),
	         0);
}

static int replay_step(tl_sim_t *s, struct tl_sim_replay_step *in, struct log *l, struct syncer *y)
{
	struct tl_sim_sink k = {log_fn, l};
	int rc;

	in->book_px_decimals = 8;
	in->book_qty_decimals = 8;
	log_reset(l);
	g_now += 100;
	rc = tl_sim_market_replay_step(s, M0, in, g_now, &k);
	for (size_t i = 0; i < l->n; i++)
		if (l->ev[i].kind == TL_SIM_EV_DEPTH)
			sync_event(y, &l->ev[i]);
	return rc;
}

static void expect_side(const struct tl_sim_level *lv, uint32_t n, const int64_t (*want)[2],
                        uint32_t n_want)
{
	CHECK_EQ(n, n_want);
	for (uint32_t i = 0; i < n && i < n_want; i++) {
		CHECK_EQ(lv[i].px.v, want[i][0]);
		CHECK_EQ(lv[i].qty.v, want[i][1]);
	}
}

static void test_replay_step(void)
{
	static struct refbook rb;
	struct tl_sim_config c;
	struct tl_book_config bc;
	struct tl_sim_replay_step in;
	struct syncer y = {.b = &rb};
	struct log l = {0};
	struct tl_sim_depth d;
	struct tl_sim_order o;
	tl_book_t *cap;
	tl_sim_t *s;
	uint32_t a;
	const int64_t P = 6000000; /* 60000.00 */

	tl_sim_config_default(&c);
	c.markets[0].walk.start_px.v = P;
	c.markets[0].walk.depth_levels = 20;
	c.markets[0].walk.max_move_ticks = 50;
	c.markets[0].walk.empty_pct = 100; /* an empty first book, as `tally sim --replay` */
	c.markets[0].walk.trades_max = 0;
	s = sim_new(&c);
	a = acct_new(s, 0, 100000 * COIN);
	tl_book_config_default(&bc);
	CHECK_EQ(tl_book_create(&cap, &bc), 0);
	CHECK_EQ(tl_book_create(&y.tb, &bc), 0);
	sync_snapshot(&y, s);

	/* A: the first book, whole. Shown: what is inside the windows, on the grids. */
	cap_set(cap, TL_SIM_BUY, P, 123456789);      /* 1.23456789 -> 1.23456 */
	cap_set(cap, TL_SIM_BUY, P - 5, 900);        /* 0.000009: below one step, hidden */
	cap_set(cap, TL_SIM_BUY, P - 50, 100000000); /* 50 ticks down: out of the window */
	cap_set(cap, TL_SIM_SELL, P + 5, 200000000); /* 2 */
	cap_set(cap, TL_SIM_SELL, P + 10, 50000000); /* 0.5 */
	CHECK_EQ(tl_book_set(cap, TL_BOOK_ASK, (tl_px_t){(P + 12) * CAP_PX + 300000},
	                     (tl_qty_t){100000000}),
	         0); /* 60000.123: off the tick grid, hidden */
	memset(&in, 0, sizeof(in));
	in.book = cap;
	in.refresh_all = true;
	CHECK_EQ(replay_step(s, &in, &l, &y), 0);
	d = snap(s, M0);
	{
		const int64_t bids[][2] = {{P, 123456}},
		              asks[][2] = {{P + 5, 200000}, {P + 10, 50000}};

		expect_side(d.bids, d.n_bids, bids, 1);
		expect_side(d.asks, d.n_asks, asks, 2);
	}
	sync_compare(&y, &d);
	CHECK_EQ(log_count(&l, TL_SIM_EV_DEPTH), 1);
	CHECK_EQ(log_count(&l, TL_SIM_EV_BOOK_TICKER), 1);

	/* B: the capture moves 30 ticks up (within max_move): only the changed prices are
	 * read, plus those new to the windows; P leaves the bid window. */
	cap_set(cap, TL_SIM_BUY, P + 30, 100000000);
	cap_set(cap, TL_SIM_SELL, P + 5, 0);
	cap_set(cap, TL_SIM_SELL, P + 10, 0);
	cap_set(cap, TL_SIM_SELL, P + 31, 70000000);
	{
		const tl_px_t bid_changes[] = {{(P + 30) * CAP_PX}};
		const tl_px_t ask_changes[] = {
		    {(P + 5) * CAP_PX}, {(P + 10) * CAP_PX}, {(P + 31) * CAP_PX}};
		const int64_t bids[][2] = {{P + 30, 100000}}, asks[][2] = {{P + 31, 70000}};

		memset(&in, 0, sizeof(in));
		in.book = cap;
		in.changed[TL_SIM_BUY] = bid_changes;
		in.n_changed[TL_SIM_BUY] = 1;
		in.changed[TL_SIM_SELL] = ask_changes;
		in.n_changed[TL_SIM_SELL] = 3;
		CHECK_EQ(replay_step(s, &in, &l, &y), 0);
		d = snap(s, M0);
		expect_side(d.bids, d.n_bids, bids, 1);
		expect_side(d.asks, d.n_asks, asks, 1);
		sync_compare(&y, &d);
	}

	/* C: captured trades are flow. A sell of 0.25 at the client's price fills the client
	 * (0.1, maker) first and prints the rest; a buy prints whole; the book is the
	 * capture's business and does not change. */
	CHECK_EQ(place(s, a, TL_SIM_BUY, TL_SIM_LIMIT_MAKER, TL_SIM_TIF_NONE, P + 30, 10000, "mk",
	               NULL, &o),
	         0);
	{
		const struct tl_sim_replay_trade tr[] = {
		    {{(P + 30) * CAP_PX}, {25000000}, true},
		    {{(P + 31) * CAP_PX}, {1000000}, false},
		    {{(P + 31) * CAP_PX}, {500}, false}, /* below one step: nothing */
		};
		const struct tl_sim_event *e;

		memset(&in, 0, sizeof(in));
		in.book = cap;
		in.trades = tr;
		in.n_trades = 3;
		CHECK_EQ(replay_step(s, &in, &l, &y), 0);
		CHECK_EQ(log_count(&l, TL_SIM_EV_EXEC_REPORT), 1);
		e = log_nth(&l, TL_SIM_EV_EXEC_REPORT, 0);
		CHECK_EQ(e->u.exec.exec_type, TL_SIM_X_TRADE);
		CHECK(e->u.exec.is_maker);
		CHECK_EQ(e->u.exec.last_px.v, P + 30);
		CHECK_EQ(e->u.exec.last_qty.v, 10000);
		CHECK_EQ(log_count(&l, TL_SIM_EV_TRADE), 3); /* the client's, the rest, the buy */
		e = log_nth(&l, TL_SIM_EV_TRADE, 1);
		CHECK(e->u.trade.px.v == P + 30 && e->u.trade.qty.v == 15000 &&
		      e->u.trade.buyer_maker);
		e = log_nth(&l, TL_SIM_EV_TRADE, 2);
		CHECK(e->u.trade.px.v == P + 31 && e->u.trade.qty.v == 1000 &&
		      !e->u.trade.buyer_maker);
		CHECK_EQ(log_count(&l, TL_SIM_EV_DEPTH), 0);
		CHECK_EQ(free_of(s, a, BTC), 10000 * BM - fee_ref(10000 * BM, 1, 8));
		CHECK_EQ(locked_of(s, a, USDT), 0);
	}

	/* D: a jump of 100000 ticks (more than max_move): one depthUpdate empties the book,
	 * the next one shows the new windows; a synced client follows both. */
	tl_book_clear(cap);
	cap_set(cap, TL_SIM_BUY, P + 100000, 100000000);
	cap_set(cap, TL_SIM_SELL, P + 100001, 100000000);
	memset(&in, 0, sizeof(in));
	in.book = cap;
	in.refresh_all = true;
	CHECK_EQ(replay_step(s, &in, &l, &y), 0);
	CHECK_EQ(log_count(&l, TL_SIM_EV_DEPTH), 2);
	{
		const struct tl_sim_depth_update *e = &log_nth(&l, TL_SIM_EV_DEPTH, 0)->u.depth;

		CHECK(e->n_bids == 1 && e->bids[0].px.v == P + 30 && e->bids[0].qty.v == 0);
		CHECK(e->n_asks == 1 && e->asks[0].px.v == P + 31 && e->asks[0].qty.v == 0);
	}
	{
		const int64_t bids[][2] = {{P + 100000, 100000}},
		              asks[][2] = {{P + 100001, 100000}};

		d = snap(s, M0);
		expect_side(d.bids, d.n_bids, bids, 1);
		expect_side(d.asks, d.n_asks, asks, 1);
		sync_compare(&y, &d);
	}

	/* E: the capture out of sync (book NULL): the book stays, only trades run. */
	memset(&in, 0, sizeof(in));
	CHECK_EQ(replay_step(s, &in, &l, &y), 0);
	CHECK_EQ(log_count(&l, TL_SIM_EV_DEPTH), 0);
	CHECK_EQ(log_count(&l, TL_SIM_EV_BOOK_TICKER), 1);
	CHECK_EQ(snap(s, M0).n_bids, 1);

	/* F: bad calls */
	memset(&in, 0, sizeof(in));
	in.book = cap;
	in.book_px_decimals = 1; /* coarser than the market's 2 */
	in.book_qty_decimals = 8;
	CHECK_EQ(tl_sim_market_replay_step(s, M0, &in, g_now, NULL), -EINVAL);
	in.book_px_decimals = 8;
	in.n_trades = 1; /* and no array */
	CHECK_EQ(tl_sim_market_replay_step(s, M0, &in, g_now, NULL), -EINVAL);
	CHECK_EQ(tl_sim_market_replay_step(s, 7, &in, g_now, NULL), -EINVAL);
	CHECK_EQ(tl_sim_market_replay_step(s, M0, NULL, g_now, NULL), -EINVAL);

	tl_book_destroy(cap);
	tl_book_destroy(y.tb);
	log_free(&l);
	tl_sim_destroy(s);
}

/* The model of one order, built from executionReports only. */
struct mo {
	uint32_t acct;
	uint8_t side;
	bool open;
	int64_t px, qty, filled, cum_quote;
	uint64_t fin_seq;
};

/* The model of every account, built from the events only. */
struct lr {
	tl_sim_t *s;
	int64_t qm, bm;
	uint32_t maker_bp, taker_bp, history;
	int dec[2];
	struct mo *o; /* by order id; [0] unused */
	uint64_t n_o, cap_o;
	int64_t total[LR_ACCTS][2];  /* deposits + signed legs - fees */
	int64_t locked[LR_ACCTS][2]; /* the open orders' reservations */
	uint32_t n_open[LR_ACCTS];
	uint64_t n_finished, events, last_print_id, last_depth_u;
	struct syncer sy[2];
	uint64_t maker_fills, taker_fills, cancels, expiries, synth_trades, partials;
	uint64_t rejects[TL_SIM_REJECT_COUNT];
};

static int64_t lr_reserve(const struct lr *lr, int side, int64_t px, int64_t qty)
{
	return side == TL_SIM_BUY ? px * qty * lr->qm : qty * lr->bm;
}

static void lr_close(struct lr *lr, struct mo *o)
{
	o->open = false;
	o->fin_seq = ++lr->n_finished;
	lr->n_open[o->acct]--;
}

static void lr_exec(struct lr *lr, const struct tl_sim_exec_report *x)
{
	struct mo *o;
	uint32_t a = x->account;
	int lock_asset;

	CHECK(a < LR_ACCTS);
	if (x->exec_type == TL_SIM_X_NEW) {
		CHECK_EQ(x->order_id, lr->n_o); /* ids are sequential */
		if (lr->n_o == lr->cap_o) {
			lr->cap_o *= 2;
			lr->o = realloc(lr->o, lr->cap_o * sizeof(*lr->o));
			CHECK(lr->o != NULL);
		}
		o = &lr->o[lr->n_o++];
		memset(o, 0, sizeof(*o));
		o->acct = a;
		o->side = x->side;
		o->open = true;
		o->px = x->px.v;
		o->qty = x->qty.v;
		CHECK_EQ(x->status, TL_SIM_ST_NEW);
		CHECK_EQ(x->cum_qty.v, 0);
		lr->locked[a][x->side == TL_SIM_BUY ? USDT : BTC] +=
		    lr_reserve(lr, x->side, o->px, o->qty);
		lr->n_open[a]++;
		return;
	}
	CHECK(x->order_id > 0 && x->order_id < lr->n_o);
	o = &lr->o[x->order_id];
	CHECK(o->open && o->acct == a && o->side == x->side);
	lock_asset = o->side == TL_SIM_BUY ? USDT : BTC;
	if (x->exec_type == TL_SIM_X_TRADE) {
		int64_t q = x->last_qty.v, gross, fee;
		int recv = o->side == TL_SIM_BUY ? BTC : USDT;

		CHECK(q > 0 && q <= o->qty - o->filled);
		CHECK_EQ(x->last_quote.v, x->last_px.v * q * lr->qm);
		if (x->is_maker)
			CHECK_EQ(x->last_px.v, o->px);
		else
			CHECK(o->side == TL_SIM_BUY ? x->last_px.v <= o->px
			                            : x->last_px.v >= o->px);
		CHECK_EQ((uint64_t)x->trade_id, lr->last_print_id); /* its trade came just before */
		gross = o->side == TL_SIM_BUY ? q * lr->bm : x->last_quote.v;
		fee = fee_ref(gross, x->is_maker ? lr->maker_bp : lr->taker_bp, lr->dec[recv]);
		CHECK_EQ(x->commission.v, fee);
		CHECK_EQ(x->commission_asset, recv);
		if (o->side == TL_SIM_BUY) {
			lr->total[a][USDT] -= x->last_quote.v;
			lr->locked[a][USDT] -= o->px * q * lr->qm;
		} else {
			lr->total[a][BTC] -= q * lr->bm;
			lr->locked[a][BTC] -= q * lr->bm;
		}
		lr->total[a][recv] += gross - fee;
		o->filled += q;
		o->cum_quote += x->last_quote.v;
		CHECK_EQ(x->cum_qty.v, o->filled);
		CHECK_EQ(x->cum_quote.v, o->cum_quote);
		CHECK_EQ(x->status,
		         o->filled == o->qty ? TL_SIM_ST_FILLED : TL_SIM_ST_PARTIALLY_FILLED);
		lr->partials += x->status == TL_SIM_ST_PARTIALLY_FILLED;
		if (x->is_maker)
			lr->maker_fills++;
		else
			lr->taker_fills++;
		if (o->filled == o->qty)
			lr_close(lr, o);
		return;
	}
	CHECK(x->exec_type == TL_SIM_X_CANCELED || x->exec_type == TL_SIM_X_EXPIRED);
	CHECK_EQ(x->status,
	         x->exec_type == TL_SIM_X_CANCELED ? TL_SIM_ST_CANCELED : TL_SIM_ST_EXPIRED);
	CHECK_EQ(x->cum_qty.v, o->filled);
	lr->locked[a][lock_asset] -= lr_reserve(lr, o->side, o->px, o->qty - o->filled);
	if (x->exec_type == TL_SIM_X_CANCELED)
		lr->cancels++;
	else
		lr->expiries++;
	lr_close(lr, o);
}

static void lr_fn(void *ctx, const struct tl_sim_event *ev)
{
	struct lr *lr = ctx;

	lr->events++;
	switch (ev->kind) {
	case TL_SIM_EV_EXEC_REPORT:
		lr_exec(lr, &ev->u.exec);
		break;
	case TL_SIM_EV_POSITION:
		/* The balances at this point of the stream match the model at this point: the
		 * events come in the venue's order (a fill's TRADE before its position). */
		CHECK(ev->u.pos.n >= 1 && ev->u.pos.n <= 2);
		for (uint32_t i = 0; i < ev->u.pos.n; i++) {
			const struct tl_sim_balance *b = &ev->u.pos.bal[i];
			uint32_t a = ev->u.pos.account;

			CHECK_EQ(b->free.v + b->locked.v, lr->total[a][b->asset]);
			CHECK_EQ(b->locked.v, lr->locked[a][b->asset]);
		}
		break;
	case TL_SIM_EV_BALANCE_UPDATE:
		lr->total[ev->u.bal.account][ev->u.bal.asset] += ev->u.bal.delta.v;
		break;
	case TL_SIM_EV_TRADE:
		CHECK(ev->u.trade.trade_id > lr->last_print_id);
		CHECK(ev->u.trade.qty.v > 0 && ev->u.trade.px.v > 0);
		lr->last_print_id = ev->u.trade.trade_id;
		lr->synth_trades++;
		break;
	case TL_SIM_EV_DEPTH: {
		const struct tl_sim_depth_update *d = &ev->u.depth;

		CHECK_EQ(d->first_id, lr->last_depth_u + 1); /* sequential update ids */
		CHECK(d->final_id >= d->first_id);
		lr->last_depth_u = d->final_id;
		for (uint32_t i = 1; i < d->n_bids; i++)
			CHECK(d->bids[i].px.v < d->bids[i - 1].px.v);
		for (uint32_t i = 1; i < d->n_asks; i++)
			CHECK(d->asks[i].px.v > d->asks[i - 1].px.v);
		sync_event(&lr->sy[0], ev);
		sync_event(&lr->sy[1], ev);
		break;
	}
	case TL_SIM_EV_BOOK_TICKER: {
		const struct tl_sim_book_ticker *t = &ev->u.ticker;
		const struct refbook *b = lr->sy[0].b;

		CHECK_EQ(t->update_id, lr->last_depth_u);
		CHECK(b->n[0] && b->n[1]);
		CHECK(t->bid_px.v == b->lv[0][0].px.v && t->bid_qty.v == b->lv[0][0].qty.v);
		CHECK(t->ask_px.v == b->lv[1][0].px.v && t->ask_qty.v == b->lv[1][0].qty.v);
		CHECK(t->bid_px.v < t->ask_px.v);
		break;
	}
	default:
		CHECK(!"unknown event kind");
	}
}

static uint64_t g_rng = 0x5eed;

static uint64_t rnd(uint64_t n)
{
	return splitmix(&g_rng) % n;
}

static void lr_place(struct lr *lr, const struct tl_sim_sink *k, uint32_t a, int64_t now)
{
	static uint64_t uniq;
	struct tl_sim_book_ticker t;
	struct tl_sim_order_req r;
	struct tl_sim_order o;
	char cid[32];
	uint64_t before = lr->events;
	int res, c = (int)rnd(10);

	CHECK_EQ(tl_sim_book_ticker(lr->s, M0, &t), 0);
	memset(&r, 0, sizeof(r));
	r.side = (enum tl_sim_side)rnd(2);
	r.type = rnd(5) == 0 ? TL_SIM_LIMIT_MAKER : TL_SIM_LIMIT;
	if (r.type == TL_SIM_LIMIT) {
		uint64_t v = rnd(100);

		r.tif = v < 70 ? TL_SIM_GTC : v < 85 ? TL_SIM_IOC : TL_SIM_FOK;
	}
	/* Around the touch: about a third of the orders cross it. */
	if (r.side == TL_SIM_BUY)
		r.px.v = t.ask_px.v + 3 - (int64_t)rnd(14);
	else
		r.px.v = t.bid_px.v - 3 + (int64_t)rnd(14);
	r.qty.v = 1 + (int64_t)rnd(rnd(4) == 0 ? 60000 : 5000);
	if (c < 3)
		snprintf(cid, sizeof(cid), "d%d", (int)rnd(4)); /* a small pool: duplicates */
	else if (c < 5)
		cid[0] = '\0'; /* the sim names it */
	else
		snprintf(cid, sizeof(cid), "u%llu", (unsigned long long)++uniq);
	r.client_order_id = cid;
	r.client_order_id_len = (uint32_t)strlen(cid);
	res = tl_sim_place(lr->s, M0, a, &r, now, k, &o);
	CHECK(res >= 0);
	if (res > 0) {
		CHECK_EQ(lr->events, before); /* a reject emits nothing */
		CHECK(res == TL_SIM_REJ_NOTIONAL || res == TL_SIM_REJ_DUPLICATE ||
		      res == TL_SIM_REJ_WOULD_TAKE || res == TL_SIM_REJ_INSUFFICIENT_BALANCE ||
		      res == TL_SIM_REJ_MAX_NUM_ORDERS);
		lr->rejects[res]++;
		return;
	}
	CHECK_EQ(o.order_id, lr->n_o - 1);
	CHECK_EQ(o.executed_qty.v, lr->o[o.order_id].filled);
	CHECK_EQ(o.cum_quote.v, lr->o[o.order_id].cum_quote);
	CHECK_EQ(o.is_working, lr->o[o.order_id].open);
	if (r.type == TL_SIM_LIMIT_MAKER)
		CHECK_EQ(o.executed_qty.v, 0);
}

static void lr_cancel(struct lr *lr, const struct tl_sim_sink *k, uint32_t a, int64_t now)
{
	struct tl_sim_order open[64], o;
	struct tl_sim_order_ref ref;
	int n = tl_sim_open_orders(lr->s, M0, a, open, 64);

	CHECK_EQ(n, lr->n_open[a]);
	if (n == 0) {
		ref = ref_id(lr->n_o + 5);
		CHECK_EQ(tl_sim_cancel(lr->s, M0, a, &ref, now, k, &o), TL_SIM_REJ_UNKNOWN_ORDER);
		return;
	}
	o = open[rnd((uint64_t)(n < 64 ? n : 64))];
	if (rnd(2))
		ref = ref_id(o.order_id);
	else
		ref = ref_cid(o.client_order_id);
	CHECK_EQ(tl_sim_cancel(lr->s, M0, a, &ref, now, k, &o), 0);
	CHECK_EQ(o.status, TL_SIM_ST_CANCELED);
	CHECK(!lr->o[o.order_id].open);
}

static void lr_status(struct lr *lr, uint32_t a)
{
	struct tl_sim_order_ref ref;
	struct tl_sim_order st;
	const struct mo *o;
	uint64_t id;
	bool kept;
	int res;

	if (lr->n_o < 2)
		return;
	id = 1 + rnd(lr->n_o - 1);
	o = &lr->o[id];
	ref = ref_id(id);
	res = tl_sim_order_status(lr->s, M0, a, &ref, &st);
	kept = o->acct == a && (o->open || o->fin_seq + lr->history > lr->n_finished);
	CHECK_EQ(res, kept ? TL_SIM_OK : TL_SIM_REJ_NO_SUCH_ORDER);
	if (!kept)
		return;
	CHECK_EQ(st.executed_qty.v, o->filled);
	CHECK_EQ(st.cum_quote.v, o->cum_quote);
	CHECK_EQ(st.is_working, o->open);
	if (!o->open)
		CHECK(st.status == TL_SIM_ST_FILLED || st.status == TL_SIM_ST_CANCELED ||
		      st.status == TL_SIM_ST_EXPIRED);
}

static void lr_check(struct lr *lr, uint64_t step)
{
	struct tl_sim_depth d = snap(lr->s, M0);

	for (uint32_t a = 0; a < LR_ACCTS; a++) {
		for (uint32_t asset = 0; asset < 2; asset++) {
			struct tl_sim_balance b;

			CHECK_EQ(tl_sim_account_balance(lr->s, a, asset, &b), 0);
			CHECK(b.free.v >= 0 && b.locked.v >= 0);
			CHECK_EQ(b.free.v + b.locked.v, lr->total[a][asset]);
			CHECK_EQ(b.locked.v, lr->locked[a][asset]);
		}
		CHECK_EQ(tl_sim_open_orders(lr->s, M0, a, NULL, 0), lr->n_open[a]);
	}
	/* The synthetic book is never crossed, and no client order rests through it. */
	CHECK(d.n_bids == 0 || d.n_asks == 0 || d.bids[0].px.v < d.asks[0].px.v);
	if (step % 16 == 0) {
		for (uint32_t a = 0; a < LR_ACCTS; a++) {
			struct tl_sim_order open[64];
			int n = tl_sim_open_orders(lr->s, M0, a, open, 64);

			for (int i = 0; i < n && i < 64; i++) {
				if (open[i].side == TL_SIM_BUY && d.n_asks)
					CHECK(open[i].px.v < d.asks[0].px.v);
				if (open[i].side == TL_SIM_SELL && d.n_bids)
					CHECK(open[i].px.v > d.bids[0].px.v);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (lr->sy[i].synced)
			sync_compare(&lr->sy[i], &d);
}

static void test_random_long(void)
{
	static struct refbook books[2];
	struct tl_sim_config c;
	struct tl_book_config bc;
	struct lr *lr = calloc(1, sizeof(*lr));
	struct tl_sim_sink k = {lr_fn, lr};
	int64_t now = 1000;
	struct tl_sim_trade tr[64];

	CHECK(lr != NULL);
	tl_sim_config_default(&c);
	c.seed = 42;
	c.assets[BTC].decimals = 6;  /* fees round: BTC to 100 units, */
	c.assets[USDT].decimals = 4; /* USDT to 10000 units */
	c.max_accounts = LR_ACCTS;
	c.max_open_orders = 1024;
	c.history_orders = 2048;
	c.trades_per_account = 256;
	c.markets[0].maker_fee_bp = 7;
	c.markets[0].taker_fee_bp = 13;
	c.markets[0].max_num_orders = 5;
	c.markets[0].walk.depth_levels = 50;
	c.markets[0].walk.max_move_ticks = 4;
	c.markets[0].walk.refresh_pct = 30;
	c.markets[0].walk.empty_pct = 10;
	c.markets[0].walk.level_qty_min.v = 1000;
	c.markets[0].walk.level_qty_max.v = 100000;
	c.markets[0].walk.trades_max = 4;
	c.markets[0].walk.trade_qty_max.v = 20000;
	lr->s = sim_new(&c);
	lr->qm = QM;
	lr->bm = BM;
	lr->maker_bp = 7;
	lr->taker_bp = 13;
	lr->history = c.history_orders;
	lr->dec[BTC] = 6;
	lr->dec[USDT] = 4;
	lr->cap_o = 1024;
	lr->o = calloc(lr->cap_o, sizeof(*lr->o));
	CHECK(lr->o != NULL);
	lr->n_o = 1;
	tl_book_config_default(&bc);
	for (int i = 0; i < 2; i++) {
		lr->sy[i].b = &books[i];
		CHECK_EQ(tl_book_create(&lr->sy[i].tb, &bc), 0);
	}
	/* The first client syncs before anything is published. */
	lr->last_depth_u = snap(lr->s, M0).last_update_id;
	sync_snapshot(&lr->sy[0], lr->s);
	for (uint32_t a = 0; a < LR_ACCTS; a++) {
		CHECK_EQ(tl_sim_account_create(lr->s), (int)a);
		CHECK_EQ(tl_sim_account_deposit(lr->s, a, BTC, AMT(2 * COIN), now, &k), 0);
		CHECK_EQ(tl_sim_account_deposit(lr->s, a, USDT, AMT(200000 * COIN), now, &k), 0);
	}

	for (uint64_t step = 0; step < LR_STEPS; step++) {
		uint64_t ops = rnd(6);

		now += 100;
		if (step == LR_STEPS / 2 - 20)
			lr->sy[1].buffering = true; /* the second client opens the stream... */
		for (uint64_t i = 0; i < ops; i++) {
			uint32_t a = (uint32_t)rnd(LR_ACCTS);
			uint64_t p = rnd(100);

			if (p < 50) {
				lr_place(lr, &k, a, now);
			} else if (p < 78) {
				lr_cancel(lr, &k, a, now);
			} else if (p < 81) {
				uint32_t n = 0, before = lr->n_open[a];
				int res = tl_sim_cancel_all(lr->s, M0, a, now, &k, NULL, 0, &n);

				CHECK_EQ(res, before ? TL_SIM_OK : TL_SIM_REJ_UNKNOWN_ORDER);
				CHECK_EQ(n, before ? before : 0);
				CHECK_EQ(lr->n_open[a], 0);
			} else if (p < 85) {
				uint32_t asset = (uint32_t)rnd(2);

				CHECK_EQ(
				    tl_sim_account_deposit(
				        lr->s, a, asset,
				        AMT(1 + (int64_t)rnd(asset == BTC ? COIN : 20000 * COIN)),
				        now, &k),
				    0);
			} else if (p < 95) {
				lr_status(lr, a);
			} else {
				struct tl_sim_trades_query q;
				uint32_t n;

				memset(&q, 0, sizeof(q));
				q.from_id = rnd(lr->last_print_id + 2);
				CHECK_EQ(tl_sim_my_trades(lr->s, M0, a, &q, tr, 64, &n), 0);
				for (uint32_t j = 0; j < n; j++) {
					CHECK(tr[j].id >= q.from_id &&
					      tr[j].id <= lr->last_print_id);
					CHECK(j == 0 || tr[j].id > tr[j - 1].id);
				}
			}
			/* ...and fetches its snapshot between two orders, mid-interval. */
			if (step == LR_STEPS / 2 && i == ops / 2)
				sync_snapshot(&lr->sy[1], lr->s);
		}
		if (step == LR_STEPS / 2 && !lr->sy[1].synced)
			sync_snapshot(&lr->sy[1], lr->s);
		CHECK_EQ(tl_sim_market_step(lr->s, M0, now, &k), 0);
		lr_check(lr, step);
	}
	printf("random run: %d steps, %llu orders, fills %llu maker + %llu taker (%llu partial), "
	       "%llu cancels, %llu expiries, %llu trades, rejects: notional %llu, duplicate %llu, "
	       "would-take %llu, balance %llu, max-orders %llu; second client dropped %llu "
	       "buffered diffs\n",
	       LR_STEPS, (unsigned long long)lr->n_o - 1, (unsigned long long)lr->maker_fills,
	       (unsigned long long)lr->taker_fills, (unsigned long long)lr->partials,
	       (unsigned long long)lr->cancels, (unsigned long long)lr->expiries,
	       (unsigned long long)lr->synth_trades,
	       (unsigned long long)lr->rejects[TL_SIM_REJ_NOTIONAL],
	       (unsigned long long)lr->rejects[TL_SIM_REJ_DUPLICATE],
	       (unsigned long long)lr->rejects[TL_SIM_REJ_WOULD_TAKE],
	       (unsigned long long)lr->rejects[TL_SIM_REJ_INSUFFICIENT_BALANCE],
	       (unsigned long long)lr->rejects[TL_SIM_REJ_MAX_NUM_ORDERS],
	       (unsigned long long)lr->sy[1].dropped);
	CHECK(lr->maker_fills > 1000 && lr->taker_fills > 1000 && lr->partials > 100);
	CHECK(lr->cancels > 1000 && lr->expiries > 100);
	CHECK(lr->rejects[TL_SIM_REJ_DUPLICATE] && lr->rejects[TL_SIM_REJ_WOULD_TAKE] &&
	      lr->rejects[TL_SIM_REJ_MAX_NUM_ORDERS]);
	CHECK(lr->sy[1].synced && lr->sy[1].applied > 1000);
	for (int i = 0; i < 2; i++)
		tl_book_destroy(lr->sy[i].tb);
	tl_sim_destroy(lr->s);
	free(lr->o);
	free(lr);
}

/* ======================================================================================
 * Throughput (reported, not asserted)
 * ====================================================================================== */

static void count_fn(void *ctx, const struct tl_sim_event *ev)
{
	(*(uint64_t *)ctx) += (uint64_t)ev->kind;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_place_cancel(void)
{
	tl_sim_t *s = sim_default();
	uint32_t a = acct_new(s, 1000 * COIN, 1000000000 * COIN);
	struct tl_sim_book_ticker t;
	struct tl_sim_order_req r;
	struct tl_sim_order o;
	uint64_t sum = 0;
	const int n = TL_TEST_UNDER_ASAN ? 50000 : 1000000;

	CHECK_EQ(tl_sim_book_ticker(s, M0, &t), 0);
	/* A realistic book of client orders: 60 accounts, 3 levels a side each. */
	for (int i = 0; i < 60; i++) {
		uint32_t b = acct_new(s, 10 * COIN, 1000000 * COIN);

		for (int j = 0; j < 3; j++) {
			CHECK_EQ(place(s, b, TL_SIM_BUY, TL_SIM_LIMIT, TL_SIM_GTC,
			               t.bid_px.v - 10 * (i % 20) - j, 1000, NULL, NULL, NULL),
			         0);
			CHECK_EQ(place(s, b, TL_SIM_SELL, TL_SIM_LIMIT, TL_SIM_GTC,
			               t.ask_px.v + 10 * (i % 20) + j, 1000, NULL, NULL, NULL),
			         0);
		}
	}
	memset(&r, 0, sizeof(r));
	r.side = TL_SIM_BUY;
	r.type = TL_SIM_LIMIT;
	r.tif = TL_SIM_GTC;
	r.px.v = t.bid_px.v - 55; /* between the others' levels: a new level each time */
	r.qty.v = 1000;
	r.client_order_id = "mm-quote-000001";
	r.client_order_id_len = 15;
	for (int with_events = 0; with_events < 2; with_events++) {
		struct tl_sim_sink k = {count_fn, &sum};
		const struct tl_sim_sink *sk = with_events ? &k : NULL;
		double t0 = now_s(), dt;

		for (int i = 0; i < n; i++) {
			struct tl_sim_order_ref ref;

			CHECK(tl_sim_place(s, M0, a, &r, g_now, sk, &o) == 0);
			memset(&ref, 0, sizeof(ref));
			ref.order_id = o.order_id;
			CHECK(tl_sim_cancel(s, M0, a, &ref, g_now, sk, NULL) == 0);
		}
		dt = now_s() - t0;
		printf("bench: place+cancel %s: %.0f pairs/s, %.0f ns a pair%s\n",
		       with_events ? "with events" : "no sink    ", n / dt, dt * 1e9 / n,
		       TL_TEST_UNDER_ASAN ? " (under ASan: not a figure)" : "");
	}
	CHECK(sum > 0);
	tl_sim_destroy(s);
}

int main(void)
{
	test_config();
	test_place_rest_cancel();
	test_taker_sweep();
	test_maker_fills_priority();
	test_walk_crosses_client();
	test_limit_maker();
	test_ioc_fok();
	test_balance();
	test_duplicate();
	test_filters();
	test_cancel_all();
	test_status_history();
	test_my_trades();
	test_fee_rounding();
	test_determinism();
	test_random_long();
	test_replay_step();
	bench_place_cancel();
	printf("test_sim_engine: ok\n");
	return 0;
}
