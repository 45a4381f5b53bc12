/*
 * orders.c: client orders. Validation, reservations, matching against the synthetic book
 * as a taker, fills as a maker, settlement and fees, cancels, and the queries.
 *
 * DESIGN
 * ------
 * Orders live in a fixed pool of max_open_orders + history_orders slots. An order is
 * found by orderId through a chained hash (ids are sequential, so id & mask spreads them
 * evenly), and by (account, clientOrderId) through a second chained hash that holds only
 * the newest order of each (account, clientOrderId): that is the one order.status
 * answers, and the only one that can be open (a second open order with the id would be a
 * duplicate). A place that reuses the id of a finished order unlinks the old one first.
 * So a client that reuses one id forever still has chains of length one, and no lookup
 * or eviction walks a long chain.
 *
 * A finished order leaves the book and its account's list at once, but keeps its slot
 * and its hash entries in a FIFO of history_orders, for order.status; when the FIFO is
 * full the oldest finished order is forgotten. The open orders can never exhaust the
 * pool: a place is refused (-1008) when max_open_orders are open, so a slot is always
 * free.
 *
 * The client book of a side is a sorted array of price levels, each a FIFO of orders
 * (price-time priority): a binary search finds a level, and a new or emptied level costs
 * a memmove of 16-byte entries. Levels are few (market makers quote a handful of prices
 * each; the throughput figure of the test runs with 120 levels a side), so this stays
 * simple where a tree would not.
 *
 * Settlement is exact: every leg is price * qty scaled by a power of ten (tl_sim_engine.h
 * "Numbers"), so only the fee rounds, down, in the received asset.
 */
#include "sim_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef __int128 i128;

/* -------------------------------------------------------------------------------------
 * Client ids and hashes
 * ------------------------------------------------------------------------------------- */

static bool cid_valid(const char *s, uint32_t len)
{
	if (len == 0 || len > TL_SIM_CLIENT_ID_MAX || !s)
		return false;
	for (uint32_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* FNV-1a over the account and the id. */
static uint32_t cid_hash(uint32_t acct, const char *s, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 4; i++) {
		h ^= (acct >> (8 * i)) & 0xff;
		h *= 16777619u;
	}
	for (uint32_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static bool cid_eq(const struct order *o, uint32_t acct, uint32_t h, const char *s, uint32_t len)
{
	return o->cid_hash == h && o->acct == acct && o->cid_len == len && !memcmp(o->cid, s, len);
}

static uint32_t oid_find(const struct market *m, uint64_t id)
{
	uint32_t s = m->oid_bucket[id & m->oid_mask];

	while (s != NIL && m->orders[s].id != id)
		s = m->orders[s].oid_next;
	return s;
}

static uint32_t cid_find(const struct market *m, uint32_t acct, const char *cid, uint32_t len)
{
	uint32_t h = cid_hash(acct, cid, len), s = m->cid_bucket[h & m->cid_mask];

	while (s != NIL && !cid_eq(&m->orders[s], acct, h, cid, len))
		s = m->orders[s].cid_next;
	return s;
}

static void oid_link(struct market *m, uint32_t s)
{
	uint32_t *b = &m->oid_bucket[m->orders[s].id & m->oid_mask];

	m->orders[s].oid_next = *b;
	*b = s;
}

static void cid_link(struct market *m, uint32_t s)
{
	uint32_t *b = &m->cid_bucket[m->orders[s].cid_hash & m->cid_mask];

	m->orders[s].cid_next = *b;
	m->orders[s].in_cid = true;
	*b = s;
}

static void cid_unlink(struct market *m, uint32_t s)
{
	uint32_t *p = &m->cid_bucket[m->orders[s].cid_hash & m->cid_mask];

	for (; *p != s; p = &m->orders[*p].cid_next)
		assert(*p != NIL);
	*p = m->orders[s].cid_next;
	m->orders[s].in_cid = false;
}

static void oid_unlink(struct market *m, uint32_t s)
{
	uint32_t *p = &m->oid_bucket[m->orders[s].id & m->oid_mask];

	for (; *p != s; p = &m->orders[*p].oid_next)
		assert(*p != NIL);
	*p = m->orders[s].oid_next;
}

/* -------------------------------------------------------------------------------------
 * The client book
 * ------------------------------------------------------------------------------------- */

static int64_t key_of(int side, int64_t px)
{
	return side == TL_SIM_BUY ? px : -px;
}

/* The first level whose key is >= key (n when none). */
static uint32_t level_lower_bound(const struct cside *c, int64_t key)
{
	uint32_t lo = 0, hi = c->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->lv[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void book_insert(struct market *m, uint32_t s)
{
	struct order *o = &m->orders[s];
	struct cside *c = &m->book[o->side];
	int64_t key = key_of(o->side, o->px);
	uint32_t i = level_lower_bound(c, key);

	o->lvl_next = NIL;
	if (i < c->n && c->lv[i].key == key) {
		o->lvl_prev = c->lv[i].tail;
		m->orders[c->lv[i].tail].lvl_next = s;
		c->lv[i].tail = s;
		return;
	}
	/* n < max_open_orders: every level holds at least one open order. */
	memmove(&c->lv[i + 1], &c->lv[i], (c->n - i) * sizeof(c->lv[0]));
	c->lv[i].key = key;
	c->lv[i].head = c->lv[i].tail = s;
	c->n++;
	o->lvl_prev = NIL;
}

static void book_remove(struct market *m, uint32_t s)
{
	struct order *o = &m->orders[s];
	struct cside *c = &m->book[o->side];
	int64_t key = key_of(o->side, o->px);
	uint32_t i = level_lower_bound(c, key);

	assert(i < c->n && c->lv[i].key == key);
	if (o->lvl_prev == NIL)
		c->lv[i].head = o->lvl_next;
	else
		m->orders[o->lvl_prev].lvl_next = o->lvl_next;
	if (o->lvl_next == NIL)
		c->lv[i].tail = o->lvl_prev;
	else
		m->orders[o->lvl_next].lvl_prev = o->lvl_prev;
	if (c->lv[i].head == NIL) {
		memmove(&c->lv[i], &c->lv[i + 1], (c->n - i - 1) * sizeof(c->lv[0]));
		c->n--;
	}
}

uint32_t sim_book_best(const struct market *m, int side)
{
	const struct cside *c = &m->book[side];

	return c->n ? c->lv[c->n - 1].head : NIL;
}

/* -------------------------------------------------------------------------------------
 * Order lifecycle
 * ------------------------------------------------------------------------------------- */

static bool is_open(const struct order *o)
{
	return o->status == TL_SIM_ST_NEW || o->status == TL_SIM_ST_PARTIALLY_FILLED;
}

static void acct_link(struct market *m, uint32_t s)
{
	struct order *o = &m->orders[s];
	struct acct_mkt *a = &m->acct[o->acct];

	o->acct_next = NIL;
	o->acct_prev = a->tail;
	if (a->tail == NIL)
		a->head = s;
	else
		m->orders[a->tail].acct_next = s;
	a->tail = s;
	a->n_open++;
	m->n_open++;
}

/* An order is done: off its account's list, into the history FIFO (which forgets its
 * oldest order when full). The caller has taken it off the book. */
static void retire(struct tl_sim *sim, struct market *m, uint32_t s)
{
	struct order *o = &m->orders[s];
	struct acct_mkt *a = &m->acct[o->acct];
	uint32_t cap = sim->cfg.history_orders;

	assert(!is_open(o));
	if (o->acct_prev == NIL)
		a->head = o->acct_next;
	else
		m->orders[o->acct_prev].acct_next = o->acct_next;
	if (o->acct_next == NIL)
		a->tail = o->acct_prev;
	else
		m->orders[o->acct_next].acct_prev = o->acct_prev;
	a->n_open--;
	m->n_open--;

	if (m->hist_n == cap) {
		uint32_t old = m->hist[m->hist_head];

		oid_unlink(m, old);
		if (m->orders[old].in_cid)
			cid_unlink(m, old);
		m->orders[old].oid_next = m->free_head;
		m->free_head = old;
		m->hist_head = (m->hist_head + 1) % cap;
		m->hist_n--;
	}
	m->hist[(m->hist_head + m->hist_n) % cap] = s;
	m->hist_n++;
}

/* -------------------------------------------------------------------------------------
 * Balances
 * ------------------------------------------------------------------------------------- */

/* The amounts an order's remaining quantity stands for: what it has locked, and the
 * worst case of what it can still receive. No overflow: px <= max_px and rem <= max_qty,
 * and tl_sim_create() checked max_px * max_qty and max_qty as amounts. */
static int64_t lock_amount(const struct market *m, int side, int64_t px, int64_t rem)
{
	return side == TL_SIM_BUY ? px * rem * m->quote_mult : rem * m->base_mult;
}

static int64_t recv_worst(const struct market *m, int side, int64_t rem)
{
	return side == TL_SIM_BUY ? rem * m->base_mult : m->cfg.max_px.v * rem * m->quote_mult;
}

static uint32_t lock_asset(const struct market *m, int side)
{
	return side == TL_SIM_BUY ? m->cfg.quote_asset : m->cfg.base_asset;
}

static uint32_t recv_asset(const struct market *m, int side)
{
	return side == TL_SIM_BUY ? m->cfg.base_asset : m->cfg.quote_asset;
}

/* The fee rule (tl_sim_engine.h "Numbers"): the exact fee rounded down to the asset's
 * precision. gross * rate_bp < 2^63 * 2^14 fits 128 bits. */
static int64_t fee_of(const struct tl_sim *sim, int64_t gross, uint32_t rate_bp, uint32_t asset)
{
	int64_t q = sim->fee_quantum[asset];

	return (int64_t)((i128)gross * rate_bp / ((i128)10000 * q)) * q;
}

/* Gives back the reservation of an order's unfilled remainder (cancel, expiry). */
static void release(struct tl_sim *sim, struct market *m, struct order *o)
{
	int64_t rem = o->qty - o->filled;
	int64_t lock = lock_amount(m, o->side, o->px, rem);
	struct bal *lb = sim_bal(sim, o->acct, lock_asset(m, o->side));
	struct bal *rb = sim_bal(sim, o->acct, recv_asset(m, o->side));

	assert(lb->locked >= lock);
	lb->locked -= lock;
	lb->free += lock;
	rb->recv_max -= recv_worst(m, o->side, rem);
	assert(rb->recv_max >= 0);
}

/* -------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

struct fill {
	int64_t px, qty, quote, fee;
	uint32_t fee_asset;
	uint64_t trade_id;
	bool maker;
};

static void emit_exec(const struct tl_sim_sink *sink, const struct market *m, const struct order *o,
                      int exec, const struct fill *f, const char *cancel_cid,
                      uint32_t cancel_cid_len, int64_t now_ms)
{
	struct tl_sim_event ev;
	struct tl_sim_exec_report *x = &ev.u.exec;

	if (!sink || !sink->fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_EXEC_REPORT;
	ev.market = m->index;
	ev.event_ms = now_ms;
	x->account = o->acct;
	x->order_id = o->id;
	if (cancel_cid) {
		memcpy(x->client_order_id, cancel_cid, cancel_cid_len);
		memcpy(x->orig_client_order_id, o->cid, o->cid_len);
	} else {
		memcpy(x->client_order_id, o->cid, o->cid_len);
	}
	x->side = o->side;
	x->type = o->type;
	x->tif = o->tif;
	x->exec_type = (uint8_t)exec;
	x->status = o->status;
	x->reject = TL_SIM_OK;
	x->is_working = sim_order_working(o);
	x->px.v = o->px;
	x->qty.v = o->qty;
	x->cum_qty.v = o->filled;
	x->cum_quote.v = o->cum_quote;
	x->transact_ms = now_ms;
	x->create_ms = o->create_ms;
	if (f) {
		x->is_maker = f->maker;
		x->last_qty.v = f->qty;
		x->last_px.v = f->px;
		x->last_quote.v = f->quote;
		x->commission.v = f->fee;
		x->commission_asset = (int32_t)f->fee_asset;
		x->trade_id = (int64_t)f->trade_id;
	} else {
		x->commission_asset = -1;
		x->trade_id = -1;
	}
	sim_emit(sink, &ev);
}

/* -------------------------------------------------------------------------------------
 * Fills
 * ------------------------------------------------------------------------------------- */

/*
 * Settles a fill of order o: qty at px, as the maker or the taker. Buy: the quote
 * reserved for qty at the order's price leaves `locked`, and what the fill did not spend
 * of it (a taker's price improvement) returns to `free`; the base bought, less the fee,
 * arrives in `free`. Sell: the base leaves `locked`, the quote less the fee arrives.
 * Then it records the trade, and emits trade, executionReport and position.
 */
static void settle(struct tl_sim *sim, struct market *m, uint32_t s, int64_t px, int64_t qty,
                   bool maker, int64_t now_ms, const struct tl_sim_sink *sink)
{
	const struct tl_sim_market_config *c = &m->cfg;
	struct order *o = &m->orders[s];
	struct bal *bb = sim_bal(sim, o->acct, c->base_asset);
	struct bal *qb = sim_bal(sim, o->acct, c->quote_asset);
	struct acct_mkt *a = &m->acct[o->acct];
	uint32_t rate = maker ? c->maker_fee_bp : c->taker_fee_bp;
	struct tl_sim_trade *t;
	struct fill f;

	assert(qty > 0 && qty <= o->qty - o->filled);
	f.px = px;
	f.qty = qty;
	f.quote = px * qty * m->quote_mult;
	f.maker = maker;
	f.trade_id = m->next_trade_id++;
	if (o->side == TL_SIM_BUY) {
		int64_t reserved = o->px * qty * m->quote_mult, base = qty * m->base_mult;

		assert(px <= o->px && qb->locked >= reserved);
		qb->locked -= reserved;
		qb->free += reserved - f.quote;
		f.fee_asset = c->base_asset;
		f.fee = fee_of(sim, base, rate, c->base_asset);
		/* Cannot overflow: free + locked + recv_max <= INT64_MAX, and recv_max drops by
		 * at least what arrives. */
		bb->free += base - f.fee;
		bb->recv_max -= base;
	} else {
		int64_t base = qty * m->base_mult;

		assert(px >= o->px && bb->locked >= base);
		bb->locked -= base;
		f.fee_asset = c->quote_asset;
		f.fee = fee_of(sim, f.quote, rate, c->quote_asset);
		qb->free += f.quote - f.fee;
		qb->recv_max -= c->max_px.v * qty * m->quote_mult;
	}
	assert(bb->recv_max >= 0 && qb->recv_max >= 0);
	o->filled += qty;
	o->cum_quote += f.quote;
	o->update_ms = now_ms;
	o->status = o->filled == o->qty ? TL_SIM_ST_FILLED : TL_SIM_ST_PARTIALLY_FILLED;

	t = &a->trades[a->n_trades % sim->cfg.trades_per_account];
	a->n_trades++;
	memset(t, 0, sizeof(*t));
	t->id = f.trade_id;
	t->order_id = o->id;
	t->px.v = px;
	t->qty.v = qty;
	t->quote.v = f.quote;
	t->commission.v = f.fee;
	t->commission_asset = f.fee_asset;
	t->is_buyer = o->side == TL_SIM_BUY;
	t->is_maker = maker;
	t->time_ms = now_ms;

	/* The buyer is the maker when the client is the maker of a buy or the taker of a sell
	 * (then the synthetic buyer was resting). */
	sim_emit_trade(sink, m, f.trade_id, px, qty, (o->side == TL_SIM_BUY) == maker, now_ms);
	emit_exec(sink, m, o, TL_SIM_X_TRADE, &f, NULL, 0, now_ms);
	sim_emit_position(sim, sink, m->index, o->acct, c->base_asset, c->quote_asset, now_ms);
}

void sim_fill_maker(struct tl_sim *sim, struct market *m, uint32_t s, int64_t qty, int64_t now_ms,
                    const struct tl_sim_sink *sink)
{
	settle(sim, m, s, m->orders[s].px, qty, true, now_ms, sink);
	if (m->orders[s].status == TL_SIM_ST_FILLED) {
		book_remove(m, s);
		retire(sim, m, s);
	}
}

/* Whether a new order at px meets the synthetic side opposite to it. */
static bool crosses(const struct market *m, int side, int64_t px)
{
	int64_t q, t = sim_synth_best(m, !side, &q);

	if (t == 0)
		return false;
	return side == TL_SIM_BUY ? px >= t * m->cfg.tick_size.v : px <= t * m->cfg.tick_size.v;
}

/* The synthetic quantity an order at px could take, counted until it reaches `want`. */
static int64_t takeable(const struct market *m, int side, int64_t px, int64_t want)
{
	int64_t tick = m->cfg.tick_size.v, sum = 0, q, t = sim_synth_best(m, !side, &q);

	/* sum < want <= max_qty and q <= SYNTH_QTY_MAX = 2^48: no overflow. */
	while (t != 0 && sum < want) {
		if (side == TL_SIM_BUY ? t * tick > px : t * tick < px)
			break;
		sum += q;
		t = sim_synth_scan(m, !side, side == TL_SIM_BUY ? t + 1 : t - 1, &q);
	}
	return sum;
}

/* Takes from the synthetic side, best level first, at each level's price. */
static void take(struct tl_sim *sim, struct market *m, uint32_t s, int64_t now_ms,
                 const struct tl_sim_sink *sink)
{
	struct order *o = &m->orders[s];
	int book = !o->side;
	int64_t tick = m->cfg.tick_size.v;

	while (o->filled < o->qty) {
		int64_t q, t = sim_synth_best(m, book, &q), f;

		if (t == 0 || (o->side == TL_SIM_BUY ? t * tick > o->px : t * tick < o->px))
			return;
		f = o->qty - o->filled < q ? o->qty - o->filled : q;
		sim_synth_set(m, book, t, q - f);
		settle(sim, m, s, t * tick, f, false, now_ms, sink);
	}
}

/* -------------------------------------------------------------------------------------
 * order.place
 * ------------------------------------------------------------------------------------- */

/* The filters and the balance checks. For an accepted order, fills *prev (the finished order
 * that last used the client id, or NIL), *lock and *worst. */
static int check_place(struct tl_sim *sim, const struct market *m, uint32_t acct,
                       const struct tl_sim_order_req *req, const char *cid, uint32_t cid_len,
                       uint32_t *prev, int64_t *lock, int64_t *worst)
{
	const struct tl_sim_market_config *c = &m->cfg;
	int64_t px = req->px.v, qty = req->qty.v, notional, sum;
	uint32_t s;
	struct bal *b;

	if (px < c->min_px.v || px > c->max_px.v || px % c->tick_size.v)
		return TL_SIM_REJ_PRICE_FILTER;
	if (qty < c->min_qty.v || qty > c->max_qty.v || qty % c->step_size.v)
		return TL_SIM_REJ_LOT_SIZE;
	/* Within the filters this cannot overflow (tl_sim_create checked max_px * max_qty),
	 * but the check costs nothing and stands if the filters ever loosen. */
	if (__builtin_mul_overflow(px, qty, &notional) ||
	    __builtin_mul_overflow(notional, m->quote_mult, &notional) ||
	    notional < c->min_notional.v)
		return TL_SIM_REJ_NOTIONAL;
	if (m->acct[acct].n_open >= c->max_num_orders)
		return TL_SIM_REJ_MAX_NUM_ORDERS;
	if (m->n_open >= sim->cfg.max_open_orders)
		return TL_SIM_REJ_BUSY;
	s = cid_find(m, acct, cid, cid_len);
	if (s != NIL && is_open(&m->orders[s]))
		return TL_SIM_REJ_DUPLICATE;
	*prev = s;
	if (req->type == TL_SIM_LIMIT_MAKER && crosses(m, req->side, px))
		return TL_SIM_REJ_WOULD_TAKE;
	*lock = lock_amount(m, req->side, px, qty);
	if (sim_bal(sim, acct, lock_asset(m, req->side))->free < *lock)
		return TL_SIM_REJ_INSUFFICIENT_BALANCE;
	*worst = recv_worst(m, req->side, qty);
	b = sim_bal(sim, acct, recv_asset(m, req->side));
	if (__builtin_add_overflow(b->free, b->locked, &sum) ||
	    __builtin_add_overflow(sum, b->recv_max, &sum) ||
	    __builtin_add_overflow(sum, *worst, &sum))
		return TL_SIM_REJ_MAX_POSITION;
	return TL_SIM_OK;
}

int tl_sim_place(tl_sim_t *sim, uint32_t market, uint32_t account,
                 const struct tl_sim_order_req *req, int64_t now_ms, const struct tl_sim_sink *sink,
                 struct tl_sim_order *out)
{
	char gen[TL_SIM_CLIENT_ID_MAX + 1];
	const char *cid;
	uint32_t cid_len, s, prev = NIL;
	struct market *m;
	struct order *o;
	struct bal *lb;
	int64_t lock = 0, worst = 0;
	int tif, r;

	if (!sim || !req || market >= sim->n_markets || account >= sim->n_accounts ||
	    (req->side != TL_SIM_BUY && req->side != TL_SIM_SELL) ||
	    (req->type != TL_SIM_LIMIT && req->type != TL_SIM_LIMIT_MAKER) ||
	    (unsigned)req->tif > TL_SIM_FOK)
		return -EINVAL;
	m = &sim->mkt[market];

	if (req->client_order_id_len == 0) {
		cid_len = (uint32_t)snprintf(gen, sizeof(gen), "sim-%llu",
		                             (unsigned long long)m->next_order_id);
		cid = gen;
	} else if (cid_valid(req->client_order_id, req->client_order_id_len)) {
		cid = req->client_order_id;
		cid_len = req->client_order_id_len;
	} else {
		return TL_SIM_REJ_BAD_CLIENT_ID;
	}
	if (req->type == TL_SIM_LIMIT_MAKER) {
		if (req->tif != TL_SIM_TIF_NONE)
			return TL_SIM_REJ_TIF_NOT_REQUIRED;
		tif = TL_SIM_GTC;
	} else {
		if (req->tif == TL_SIM_TIF_NONE)
			return TL_SIM_REJ_TIF_REQUIRED;
		tif = req->tif;
	}
	r = check_place(sim, m, account, req, cid, cid_len, &prev, &lock, &worst);
	if (r != TL_SIM_OK)
		return r;

	/* Accepted: reserve, then the order exists. */
	now_ms = sim_now(sim, now_ms);
	lb = sim_bal(sim, account, lock_asset(m, req->side));
	lb->free -= lock;
	lb->locked += lock;
	sim_bal(sim, account, recv_asset(m, req->side))->recv_max += worst;

	s = m->free_head;
	assert(s != NIL);
	o = &m->orders[s];
	m->free_head = o->oid_next;
	o->id = m->next_order_id++;
	o->px = req->px.v;
	o->qty = req->qty.v;
	o->filled = 0;
	o->cum_quote = 0;
	o->create_ms = o->update_ms = now_ms;
	o->acct = account;
	o->side = (uint8_t)req->side;
	o->type = (uint8_t)req->type;
	o->tif = (uint8_t)tif;
	o->status = TL_SIM_ST_NEW;
	o->cid_len = (uint8_t)cid_len;
	memcpy(o->cid, cid, cid_len);
	o->cid[cid_len] = '\0';
	o->cid_hash = cid_hash(account, cid, cid_len);
	if (prev != NIL) /* finished (check_place ruled out an open one): this id is newer */
		cid_unlink(m, prev);
	oid_link(m, s);
	cid_link(m, s);
	acct_link(m, s);
	emit_exec(sink, m, o, TL_SIM_X_NEW, NULL, NULL, 0, now_ms);
	sim_emit_position(sim, sink, market, account, lock_asset(m, o->side), NIL, now_ms);

	if (o->type == TL_SIM_LIMIT && crosses(m, o->side, o->px) &&
	    (tif != TL_SIM_FOK || takeable(m, o->side, o->px, o->qty) >= o->qty))
		take(sim, m, s, now_ms, sink);

	if (o->status == TL_SIM_ST_FILLED) {
		retire(sim, m, s);
	} else if (tif == TL_SIM_GTC) {
		book_insert(m, s);
	} else {
		/* IOC remainder, or a FOK that could not fill whole. */
		release(sim, m, o);
		o->status = TL_SIM_ST_EXPIRED;
		o->update_ms = now_ms;
		emit_exec(sink, m, o, TL_SIM_X_EXPIRED, NULL, NULL, 0, now_ms);
		sim_emit_position(sim, sink, market, account, lock_asset(m, o->side), NIL, now_ms);
		retire(sim, m, s);
	}
	if (out)
		sim_order_copy(m, o, out);
	return TL_SIM_OK;
}

/* -------------------------------------------------------------------------------------
 * Cancels and queries
 * ------------------------------------------------------------------------------------- */

/* Finds the account's order named by ref (open or finished), or NIL. */
static uint32_t find_ref(const struct market *m, uint32_t acct, const struct tl_sim_order_ref *ref)
{
	uint32_t s;

	if (ref->order_id) {
		s = oid_find(m, ref->order_id);
		if (s == NIL || m->orders[s].acct != acct)
			return NIL;
		if (ref->orig_client_order_id_len &&
		    (m->orders[s].cid_len != ref->orig_client_order_id_len ||
		     memcmp(m->orders[s].cid, ref->orig_client_order_id, m->orders[s].cid_len)))
			return NIL;
		return s;
	}
	if (!cid_valid(ref->orig_client_order_id, ref->orig_client_order_id_len))
		return NIL;
	return cid_find(m, acct, ref->orig_client_order_id, ref->orig_client_order_id_len);
}

static void cancel_one(struct tl_sim *sim, struct market *m, uint32_t s, const char *cid,
                       uint32_t cid_len, int64_t now_ms, const struct tl_sim_sink *sink)
{
	struct order *o = &m->orders[s];
	char gen[TL_SIM_CLIENT_ID_MAX + 1];

	if (cid_len == 0) {
		cid_len =
		    (uint32_t)snprintf(gen, sizeof(gen), "cancel-%llu", (unsigned long long)o->id);
		cid = gen;
	}
	book_remove(m, s);
	release(sim, m, o);
	o->status = TL_SIM_ST_CANCELED;
	o->update_ms = now_ms;
	emit_exec(sink, m, o, TL_SIM_X_CANCELED, NULL, cid, cid_len, now_ms);
	sim_emit_position(sim, sink, m->index, o->acct, lock_asset(m, o->side), NIL, now_ms);
	retire(sim, m, s);
}

int tl_sim_cancel(tl_sim_t *sim, uint32_t market, uint32_t account,
                  const struct tl_sim_order_ref *ref, int64_t now_ms,
                  const struct tl_sim_sink *sink, struct tl_sim_order *out)
{
	struct market *m;
	uint32_t s;

	if (!sim || !ref || market >= sim->n_markets || account >= sim->n_accounts)
		return -EINVAL;
	m = &sim->mkt[market];
	if (!ref->order_id && !ref->orig_client_order_id_len)
		return TL_SIM_REJ_NO_ORDER_REF;
	if (ref->new_client_order_id_len &&
	    !cid_valid(ref->new_client_order_id, ref->new_client_order_id_len))
		return TL_SIM_REJ_BAD_CLIENT_ID;
	s = find_ref(m, account, ref);
	if (s == NIL || !is_open(&m->orders[s]))
		return TL_SIM_REJ_UNKNOWN_ORDER;
	cancel_one(sim, m, s, ref->new_client_order_id, ref->new_client_order_id_len,
	           sim_now(sim, now_ms), sink);
	if (out)
		sim_order_copy(m, &m->orders[s], out);
	return TL_SIM_OK;
}

int tl_sim_cancel_all(tl_sim_t *sim, uint32_t market, uint32_t account, int64_t now_ms,
                      const struct tl_sim_sink *sink, struct tl_sim_order *out, uint32_t cap,
                      uint32_t *n_canceled)
{
	struct market *m;
	uint32_t n = 0;

	if (!sim || market >= sim->n_markets || account >= sim->n_accounts || (cap && !out))
		return -EINVAL;
	m = &sim->mkt[market];
	if (m->acct[account].head == NIL)
		return TL_SIM_REJ_UNKNOWN_ORDER;
	now_ms = sim_now(sim, now_ms);
	while (m->acct[account].head != NIL) {
		uint32_t s = m->acct[account].head;

		/* The slot stays valid for the copy: retire() frees only the oldest finished
		 * order, and history_orders >= 1 keeps this one. */
		cancel_one(sim, m, s, NULL, 0, now_ms, sink);
		if (n < cap)
			sim_order_copy(m, &m->orders[s], &out[n]);
		n++;
	}
	if (n_canceled)
		*n_canceled = n;
	return TL_SIM_OK;
}

int tl_sim_order_status(const tl_sim_t *sim, uint32_t market, uint32_t account,
                        const struct tl_sim_order_ref *ref, struct tl_sim_order *out)
{
	const struct market *m;
	uint32_t s;

	if (!sim || !ref || market >= sim->n_markets || account >= sim->n_accounts)
		return -EINVAL;
	m = &sim->mkt[market];
	if (!ref->order_id && !ref->orig_client_order_id_len)
		return TL_SIM_REJ_NO_ORDER_REF;
	s = find_ref(m, account, ref);
	if (s == NIL)
		return TL_SIM_REJ_NO_SUCH_ORDER;
	if (out)
		sim_order_copy(m, &m->orders[s], out);
	return TL_SIM_OK;
}

int tl_sim_open_orders(const tl_sim_t *sim, uint32_t market, uint32_t account,
                       struct tl_sim_order *out, uint32_t cap)
{
	const struct market *m;
	uint32_t n = 0;

	if (!sim || market >= sim->n_markets || account >= sim->n_accounts || (cap && !out))
		return -EINVAL;
	m = &sim->mkt[market];
	for (uint32_t s = m->acct[account].head; s != NIL; s = m->orders[s].acct_next) {
		if (n < cap)
			sim_order_copy(m, &m->orders[s], &out[n]);
		n++;
	}
	return (int)n;
}

/* The kept trades are the global indexes [first, n_trades); index i sits at i % cap. */
static const struct tl_sim_trade *trade_at(const struct tl_sim *sim, const struct acct_mkt *a,
                                           uint64_t i)
{
	return &a->trades[i % sim->cfg.trades_per_account];
}

int tl_sim_my_trades(const tl_sim_t *sim, uint32_t market, uint32_t account,
                     const struct tl_sim_trades_query *q, struct tl_sim_trade *out, uint32_t cap,
                     uint32_t *n_out)
{
	const struct acct_mkt *a;
	uint64_t first, lo, hi, i;
	uint32_t limit, n = 0;
	int64_t start = 0, end = 0;
	bool window;

	if (!sim || !q || market >= sim->n_markets || account >= sim->n_accounts || (cap && !out))
		return -EINVAL;
	a = &sim->mkt[market].acct[account];
	window = q->has_start || q->has_end;
	if (q->from_id && window)
		return TL_SIM_REJ_BAD_COMBINATION;
	if (window) {
		start = q->has_start ? q->start_ms : q->end_ms - TL_SIM_WINDOW_MS_MAX;
		end = q->has_end ? q->end_ms : q->start_ms + TL_SIM_WINDOW_MS_MAX;
		/* Times from a client: compare without overflowing. */
		if (q->has_start && q->has_end &&
		    (end < start || (i128)end - start > TL_SIM_WINDOW_MS_MAX))
			return TL_SIM_REJ_WINDOW_TOO_LONG;
	}
	limit = q->limit == 0 ? TL_SIM_MY_TRADES_DEFAULT : q->limit;
	if (limit > TL_SIM_MY_TRADES_MAX)
		limit = TL_SIM_MY_TRADES_MAX;
	if (limit > cap) /* "the most recent" then means the most recent cap */
		limit = cap;

	first = a->n_trades > sim->cfg.trades_per_account
	            ? a->n_trades - sim->cfg.trades_per_account
	            : 0;
	/* lo = the first kept trade to return: by binary search on id or time, both
	 * non-decreasing along the ring (ids grow; sim_now() never goes back). */
	lo = first;
	hi = a->n_trades;
	if (q->from_id || window) {
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			const struct tl_sim_trade *t = trade_at(sim, a, mid);

			if (q->from_id ? t->id < q->from_id : t->time_ms < start)
				lo = mid + 1;
			else
				hi = mid;
		}
	} else if (a->n_trades - first > limit) {
		lo = a->n_trades - limit;
	}
	for (i = lo; i < a->n_trades && n < limit; i++) {
		const struct tl_sim_trade *t = trade_at(sim, a, i);

		if (window && t->time_ms > end)
			break;
		out[n++] = *t;
	}
	if (n_out)
		*n_out = n;
	return TL_SIM_OK;
}
