/*
 * synth.c: the synthetic side of a market. A seeded random walk, the synthetic L2 book it
 * draws, the synthetic flow that fills client orders, and the depth stream.
 *
 * DESIGN
 * ------
 * The synthetic book of a side lives in a ring indexed by price in ticks modulo a power
 * of two (struct sside). Levels may only sit inside the side's window, depth_levels
 * prices from the anchor outwards, so the best level is found by scanning from the
 * anchor, and a step rewrites the book in O(depth) with no search or memmove. Slots
 * outside the window always hold 0. The ring has more slots than depth + max_move: all
 * the prices one step can touch (the old window and the new) then have distinct slots,
 * so a level that leaves and a level that enters never meet in one slot, and a dirty
 * slot names exactly one price.
 *
 * Update ids: every level change (sim_synth_set) takes the next id and marks its price
 * dirty. A depthUpdate publishes the dirty prices with their quantity at publish time
 * (0 when the level is gone), covering the ids since the previous one. Changes made by
 * client takers between steps are therefore published by the next step, and a snapshot
 * taken in between (last_update_id = the latest id) still meets the stream exactly: the
 * next event has U <= last_update_id + 1 <= u, and re-applying a level at its absolute
 * quantity is harmless.
 *
 * The random source is xoshiro256** (Blackman and Vigna), seeded through splitmix64; a
 * bounded draw is Lemire's multiply-high, whose tiny bias does not matter for a walk and
 * needs no retry loop (so the number of draws per step depends only on the state).
 */
#include "sim_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

/* -------------------------------------------------------------------------------------
 * PRNG
 * ------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform-ish in [0, n), n >= 1. */
static uint64_t rng_below(uint64_t s[4], uint64_t n)
{
	return (uint64_t)(((u128)rng_next(s) * n) >> 64);
}

/* -------------------------------------------------------------------------------------
 * The book
 * ------------------------------------------------------------------------------------- */

static void window_of(const struct market *m, int side, int64_t anchor_bid, int64_t *lo,
                      int64_t *hi)
{
	int64_t depth = m->cfg.walk.depth_levels;

	if (side == TL_SIM_BUY) {
		*lo = anchor_bid - depth + 1;
		*hi = anchor_bid;
	} else {
		*lo = anchor_bid + m->cfg.walk.spread_ticks;
		*hi = *lo + depth - 1;
	}
}

static bool in_window(const struct market *m, int side, int64_t ticks)
{
	int64_t lo, hi;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	return ticks >= lo && ticks <= hi;
}

int64_t sim_synth_qty(const struct market *m, int side, int64_t ticks)
{
	if (!in_window(m, side, ticks))
		return 0;
	return m->syn.side[side].qty[(uint64_t)ticks & m->syn.mask];
}

void sim_synth_set(struct market *m, int side, int64_t ticks, int64_t qty)
{
	struct sside *s = &m->syn.side[side];
	uint32_t slot = (uint32_t)((uint64_t)ticks & m->syn.mask);

	assert(ticks > 0 && qty >= 0);
	/* A level may only appear inside the window; removals may come from the old one. */
	assert(qty == 0 || in_window(m, side, ticks));
	s->qty[slot] = qty;
	m->syn.update_id++;
	if (s->dirty_px[slot] == ticks)
		return;
	/* Two prices that share a slot never change between two depthUpdates (the ring is
	 * wider than a step's reach), so a dirty slot always holds this very price. */
	assert(s->dirty_px[slot] == 0);
	s->dirty_px[slot] = ticks;
	s->dirty[s->n_dirty++] = ticks;
	assert(s->n_dirty <= m->syn.mask + 1);
}

int64_t sim_synth_far(const struct market *m, int side)
{
	int64_t lo, hi;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	return side == TL_SIM_BUY ? lo : hi;
}

int64_t sim_synth_scan(const struct market *m, int side, int64_t from, int64_t *qty)
{
	const int64_t *q = m->syn.side[side].qty;
	int64_t lo, hi;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	if (side == TL_SIM_BUY) {
		for (int64_t t = from < hi ? from : hi; t >= lo; t--) {
			if (q[(uint64_t)t & m->syn.mask]) {
				*qty = q[(uint64_t)t & m->syn.mask];
				return t;
			}
		}
	} else {
		for (int64_t t = from > lo ? from : lo; t <= hi; t++) {
			if (q[(uint64_t)t & m->syn.mask]) {
				*qty = q[(uint64_t)t & m->syn.mask];
				return t;
			}
		}
	}
	*qty = 0;
	return 0;
}

int64_t sim_synth_best(const struct market *m, int side, int64_t *qty)
{
	int64_t lo, hi;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	return sim_synth_scan(m, side, side == TL_SIM_BUY ? hi : lo, qty);
}

static int64_t draw_level_qty(struct market *m)
{
	const struct tl_sim_walk_config *w = &m->cfg.walk;
	int64_t step = m->cfg.step_size.v;
	int64_t lo = w->level_qty_min.v / step, hi = w->level_qty_max.v / step;

	if (rng_below(m->syn.rng, 100) < w->empty_pct)
		return 0;
	return step * (lo + (int64_t)rng_below(m->syn.rng, (uint64_t)(hi - lo + 1)));
}

/* Draws the window of `side`: every price new to it (outside [old_lo, old_hi]) and, with
 * probability refresh_pct, every other one. Best price first, so that the order of the
 * draws is fixed. */
static void draw_window(struct market *m, int side, int64_t old_lo, int64_t old_hi)
{
	int64_t lo, hi, t, end, dir;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	t = side == TL_SIM_BUY ? hi : lo;
	end = side == TL_SIM_BUY ? lo - 1 : hi + 1;
	dir = side == TL_SIM_BUY ? -1 : 1;
	for (; t != end; t += dir) {
		bool entered = t < old_lo || t > old_hi;
		int64_t q;

		if (!entered && rng_below(m->syn.rng, 100) >= m->cfg.walk.refresh_pct)
			continue;
		q = draw_level_qty(m);
		if (q != m->syn.side[side].qty[(uint64_t)t & m->syn.mask])
			sim_synth_set(m, side, t, q);
	}
}

void sim_synth_init(struct market *m, uint64_t seed)
{
	uint64_t x = seed ^ (0x6a09e667f3bcc909ull * (m->index + 1));

	for (int i = 0; i < 4; i++)
		m->syn.rng[i] = splitmix64(&x);
	m->syn.bid_anchor = m->cfg.walk.start_px.v / m->cfg.tick_size.v;
	m->syn.ask_anchor = m->syn.bid_anchor + m->cfg.walk.spread_ticks;
	/* An empty "old window" (lo > hi) makes every price new. */
	draw_window(m, TL_SIM_BUY, 1, 0);
	draw_window(m, TL_SIM_SELL, 1, 0);
	/* The first book is published by snapshots only: the stream starts after it. */
	for (int side = 0; side < 2; side++) {
		struct sside *s = &m->syn.side[side];

		for (uint32_t i = 0; i < s->n_dirty; i++)
			s->dirty_px[(uint64_t)s->dirty[i] & m->syn.mask] = 0;
		s->n_dirty = 0;
	}
	m->syn.published_id = m->syn.update_id;
}

/* -------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

void sim_emit_trade(const struct tl_sim_sink *sink, const struct market *m, uint64_t trade_id,
                    int64_t px, int64_t qty, bool buyer_maker, int64_t now_ms)
{
	struct tl_sim_event ev;

	if (!sink || !sink->fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_TRADE;
	ev.market = m->index;
	ev.event_ms = now_ms;
	ev.u.trade.trade_id = trade_id;
	ev.u.trade.px.v = px;
	ev.u.trade.qty.v = qty;
	ev.u.trade.buyer_maker = buyer_maker;
	ev.u.trade.trade_ms = now_ms;
	sim_emit(sink, &ev);
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = ((const struct tl_sim_level *)a)->px.v,
	        y = ((const struct tl_sim_level *)b)->px.v;

	return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b)
{
	return cmp_desc(b, a);
}

/* Emits the depthUpdate of every change since the last one, if there was any. */
static void publish_depth(struct market *m, int64_t now_ms, const struct tl_sim_sink *sink)
{
	struct tl_sim_event ev;
	uint32_t n[2];

	if (m->syn.update_id == m->syn.published_id)
		return;
	for (int side = 0; side < 2; side++) {
		struct sside *s = &m->syn.side[side];
		struct tl_sim_level *out = m->syn.out[side];

		for (uint32_t i = 0; i < s->n_dirty; i++) {
			int64_t t = s->dirty[i];

			out[i].px.v = t * m->cfg.tick_size.v;
			out[i].qty.v = sim_synth_qty(m, side, t);
			s->dirty_px[(uint64_t)t & m->syn.mask] = 0;
		}
		n[side] = s->n_dirty;
		s->n_dirty = 0;
		qsort(out, n[side], sizeof(*out), side == TL_SIM_BUY ? cmp_desc : cmp_asc);
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_DEPTH;
	ev.market = m->index;
	ev.event_ms = now_ms;
	ev.u.depth.first_id = m->syn.published_id + 1;
	ev.u.depth.final_id = m->syn.update_id;
	ev.u.depth.bids = m->syn.out[TL_SIM_BUY];
	ev.u.depth.asks = m->syn.out[TL_SIM_SELL];
	ev.u.depth.n_bids = n[TL_SIM_BUY];
	ev.u.depth.n_asks = n[TL_SIM_SELL];
	m->syn.published_id = m->syn.update_id;
	sim_emit(sink, &ev);
}

static void ticker_of(const struct market *m, struct tl_sim_book_ticker *t)
{
	int64_t q, b = sim_synth_best(m, TL_SIM_BUY, &q);

	t->update_id = m->syn.update_id;
	t->bid_px.v = b * m->cfg.tick_size.v;
	t->bid_qty.v = q;
	b = sim_synth_best(m, TL_SIM_SELL, &q);
	t->ask_px.v = b * m->cfg.tick_size.v;
	t->ask_qty.v = q;
}

/* Emits the step's depthUpdate (if any level changed) and its bookTicker. */
static void publish_step(struct market *m, int64_t now_ms, const struct tl_sim_sink *sink)
{
	struct tl_sim_event ev;

	publish_depth(m, now_ms, sink);
	if (!sink || !sink->fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_BOOK_TICKER;
	ev.market = m->index;
	ev.event_ms = now_ms;
	ticker_of(m, &ev.u.ticker);
	sim_emit(sink, &ev);
}

/*
 * Moves the windows to bid anchor `anchor` (at most max_move_ticks away, so that the old
 * and new windows never share a slot). Levels that leave their window go first, while the
 * window is still the old one (so that sim_synth_qty() can read them). The old windows
 * are returned, by side, for the caller to fill the prices new to the window.
 */
static void move_windows(struct market *m, int64_t anchor, int64_t olo[2], int64_t ohi[2])
{
	for (int side = 0; side < 2; side++) {
		int64_t nlo, nhi;

		window_of(m, side, m->syn.bid_anchor, &olo[side], &ohi[side]);
		window_of(m, side, anchor, &nlo, &nhi);
		for (int64_t t = olo[side]; t <= ohi[side]; t++) {
			if ((t < nlo || t > nhi) && sim_synth_qty(m, side, t))
				sim_synth_set(m, side, t, 0);
		}
	}
	m->syn.bid_anchor = anchor;
	m->syn.ask_anchor = anchor + m->cfg.walk.spread_ticks;
}

/* -------------------------------------------------------------------------------------
 * Synthetic flow
 * ------------------------------------------------------------------------------------- */

static int64_t order_left(const struct market *m, uint32_t slot)
{
	return m->orders[slot].qty - m->orders[slot].filled;
}

/*
 * Synthetic liquidity of side `syn` (asks when it is TL_SIM_SELL) that is at or through
 * the best client order of the other side trades with it, best against best, at the
 * client's price. What is left of a synthetic level stays.
 */
static void cross_clients(struct tl_sim *sim, struct market *m, int syn, int64_t now_ms,
                          const struct tl_sim_sink *sink)
{
	int client = !syn;
	int64_t tick = m->cfg.tick_size.v;

	for (;;) {
		uint32_t s = sim_book_best(m, client);
		int64_t lq, t, f;

		if (s == NIL)
			return;
		t = sim_synth_best(m, syn, &lq);
		if (t == 0)
			return;
		if (syn == TL_SIM_SELL ? t * tick > m->orders[s].px : t * tick < m->orders[s].px)
			return;
		f = order_left(m, s) < lq ? order_left(m, s) : lq;
		sim_synth_set(m, syn, t, lq - f);
		sim_fill_maker(sim, m, s, f, now_ms, sink);
	}
}

/*
 * A synthetic market order: `aggr` is its side (TL_SIM_SELL hits bids). It takes, best
 * price first, from client orders and synthetic levels of the other side, down to the far
 * end of the synthetic window; at one price the client orders go first.
 */
static void market_order(struct tl_sim *sim, struct market *m, int aggr, int64_t qty,
                         int64_t now_ms, const struct tl_sim_sink *sink)
{
	int book = !aggr;
	int64_t tick = m->cfg.tick_size.v;
	int64_t limit_px = sim_synth_far(m, book) * tick;
	int64_t from = book == TL_SIM_BUY ? m->syn.bid_anchor : m->syn.ask_anchor;

	while (qty > 0) {
		uint32_t s = sim_book_best(m, book);
		int64_t lq, t = sim_synth_scan(m, book, from, &lq), spx = t * tick, cpx, f;
		bool client;

		if (s != NIL) {
			cpx = m->orders[s].px;
			client = book == TL_SIM_BUY ? cpx >= limit_px && (t == 0 || cpx >= spx)
			                            : cpx <= limit_px && (t == 0 || cpx <= spx);
		} else {
			client = false;
		}
		if (client) {
			f = order_left(m, s) < qty ? order_left(m, s) : qty;
			sim_fill_maker(sim, m, s, f, now_ms, sink);
		} else if (t != 0) {
			f = lq < qty ? lq : qty;
			sim_synth_set(m, book, t, lq - f);
			sim_emit_trade(sink, m, m->next_trade_id++, spx, f, aggr == TL_SIM_SELL,
			               now_ms);
			from = t; /* levels better than t are empty now */
		} else {
			return;
		}
		qty -= f;
	}
}

int tl_sim_market_step(tl_sim_t *sim, uint32_t market, int64_t now_ms,
                       const struct tl_sim_sink *sink)
{
	const struct tl_sim_walk_config *w;
	struct market *m;
	int64_t anchor, olo[2], ohi[2];
	uint64_t n;

	if (!sim || market >= sim->n_markets)
		return -EINVAL;
	m = &sim->mkt[market];
	w = &m->cfg.walk;
	now_ms = sim_now(sim, now_ms);

	/* 1. The walk. */
	anchor = m->syn.bid_anchor + (int64_t)rng_below(m->syn.rng, 2ull * w->max_move_ticks + 1) -
	         (int64_t)w->max_move_ticks;
	if (anchor < m->syn.anchor_lo)
		anchor = m->syn.anchor_lo;
	if (anchor > m->syn.anchor_hi)
		anchor = m->syn.anchor_hi;

	/* 2. The windows move, and the prices new to them are drawn. */
	move_windows(m, anchor, olo, ohi);
	draw_window(m, TL_SIM_BUY, olo[TL_SIM_BUY], ohi[TL_SIM_BUY]);
	draw_window(m, TL_SIM_SELL, olo[TL_SIM_SELL], ohi[TL_SIM_SELL]);

	/* 3. Synthetic liquidity now at or through client orders trades with them. */
	cross_clients(sim, m, TL_SIM_SELL, now_ms, sink);
	cross_clients(sim, m, TL_SIM_BUY, now_ms, sink);

	/* 4. Synthetic market orders. */
	n = w->trades_max ? rng_below(m->syn.rng, (uint64_t)w->trades_max + 1) : 0;
	for (uint64_t i = 0; i < n; i++) {
		int aggr = (int)rng_below(m->syn.rng, 2);
		uint64_t lots = (uint64_t)(w->trade_qty_max.v / m->cfg.step_size.v);
		int64_t qty = m->cfg.step_size.v * (1 + (int64_t)rng_below(m->syn.rng, lots));

		market_order(sim, m, aggr, qty, now_ms, sink);
	}

	/* 5. What the stream shows of it. */
	publish_step(m, now_ms, sink);
	return 0;
}

/* -------------------------------------------------------------------------------------
 * Capture replay
 * ------------------------------------------------------------------------------------- */

/* A replay step's view of the captured book: its units per market unit. */
struct capture {
	const tl_book_t *book;
	int64_t px_mult, qty_mult;
};

/* The captured quantity at `ticks`, at the market's scale, on the step grid and capped. */
static int64_t captured_qty(const struct market *m, const struct capture *c, int side,
                            int64_t ticks)
{
	tl_px_t px = {ticks * m->cfg.tick_size.v * c->px_mult};
	int64_t step = m->cfg.step_size.v;
	int64_t q = tl_book_qty_at(c->book, side == TL_SIM_BUY ? TL_BOOK_BID : TL_BOOK_ASK, px).v /
	            c->qty_mult;

	if (q > SYNTH_QTY_MAX)
		q = SYNTH_QTY_MAX;
	return q - q % step;
}

static void take_captured(struct market *m, const struct capture *c, int side, int64_t ticks)
{
	int64_t q;

	if (!in_window(m, side, ticks))
		return;
	q = captured_qty(m, c, side, ticks);
	if (q != sim_synth_qty(m, side, ticks))
		sim_synth_set(m, side, ticks, q);
}

/* Every price of the side's window that is not in [old_lo, old_hi] takes its captured
 * quantity. */
static void take_window(struct market *m, const struct capture *c, int side, int64_t old_lo,
                        int64_t old_hi)
{
	int64_t lo, hi;

	window_of(m, side, m->syn.bid_anchor, &lo, &hi);
	for (int64_t t = lo; t <= hi; t++)
		if (t < old_lo || t > old_hi)
			take_captured(m, c, side, t);
}

/* Follows the captured best bid (step 2 of tl_sim_market_replay_step). */
static void replay_anchor(struct market *m, const struct capture *c, int64_t now_ms,
                          const struct tl_sim_sink *sink)
{
	struct tl_book_level best;
	int64_t anchor, move, olo[2], ohi[2];

	if (!tl_book_best(c->book, TL_BOOK_BID, &best))
		return; /* no bids: the windows stay where they are */
	anchor = best.px.v / c->px_mult / m->cfg.tick_size.v;
	if (anchor < m->syn.anchor_lo)
		anchor = m->syn.anchor_lo;
	if (anchor > m->syn.anchor_hi)
		anchor = m->syn.anchor_hi;
	move = anchor - m->syn.bid_anchor;
	if (move == 0)
		return;
	if (move > (int64_t)m->cfg.walk.max_move_ticks ||
	    -move > (int64_t)m->cfg.walk.max_move_ticks) {
		/* Farther than the ring can take in one depthUpdate: empty the book, publish
		 * that, then fill the new windows from nothing. */
		for (int side = 0; side < 2; side++) {
			window_of(m, side, m->syn.bid_anchor, &olo[side], &ohi[side]);
			for (int64_t t = olo[side]; t <= ohi[side]; t++)
				if (sim_synth_qty(m, side, t))
					sim_synth_set(m, side, t, 0);
		}
		publish_depth(m, now_ms, sink);
		m->syn.bid_anchor = anchor;
		m->syn.ask_anchor = anchor + m->cfg.walk.spread_ticks;
		take_window(m, c, TL_SIM_BUY, 1, 0);
		take_window(m, c, TL_SIM_SELL, 1, 0);
		return;
	}
	move_windows(m, anchor, olo, ohi);
	take_window(m, c, TL_SIM_BUY, olo[TL_SIM_BUY], ohi[TL_SIM_BUY]);
	take_window(m, c, TL_SIM_SELL, olo[TL_SIM_SELL], ohi[TL_SIM_SELL]);
}

/* A captured trade as flow (step 1): client orders of the side it hit, at limit_px or
 * better, fill first; the rest is printed as it was recorded. */
static void replay_trade(struct tl_sim *sim, struct market *m, int aggr, int64_t qty,
                         int64_t limit_px, int64_t now_ms, const struct tl_sim_sink *sink)
{
	int book = !aggr;

	while (qty > 0) {
		uint32_t s = sim_book_best(m, book);
		int64_t f;

		if (s == NIL ||
		    (book == TL_SIM_BUY ? m->orders[s].px < limit_px : m->orders[s].px > limit_px))
			break;
		f = order_left(m, s) < qty ? order_left(m, s) : qty;
		sim_fill_maker(sim, m, s, f, now_ms, sink);
		qty -= f;
	}
	if (qty > 0)
		sim_emit_trade(sink, m, m->next_trade_id++, limit_px, qty, aggr == TL_SIM_SELL,
		               now_ms);
}

int tl_sim_market_replay_step(tl_sim_t *sim, uint32_t market, const struct tl_sim_replay_step *in,
                              int64_t now_ms, const struct tl_sim_sink *sink)
{
	struct market *m;
	struct capture c;
	int64_t tick;

	if (!sim || market >= sim->n_markets || !in || (in->n_trades && !in->trades))
		return -EINVAL;
	m = &sim->mkt[market];
	if (in->book_px_decimals < m->cfg.px_decimals || in->book_px_decimals > 8 ||
	    in->book_qty_decimals < m->cfg.qty_decimals || in->book_qty_decimals > 8)
		return -EINVAL;
	for (int side = 0; side < 2; side++)
		if (in->n_changed[side] && !in->changed[side])
			return -EINVAL;
	tick = m->cfg.tick_size.v;
	c.book = in->book;
	c.px_mult = sim_pow10(in->book_px_decimals - m->cfg.px_decimals);
	c.qty_mult = sim_pow10(in->book_qty_decimals - m->cfg.qty_decimals);
	now_ms = sim_now(sim, now_ms);

	/* 1. The captured trades, as flow for client orders. */
	for (uint32_t i = 0; i < in->n_trades; i++) {
		const struct tl_sim_replay_trade *tr = &in->trades[i];
		int64_t px = tr->px.v / c.px_mult, qty = tr->qty.v / c.qty_mult;

		qty -= qty % m->cfg.step_size.v;
		if (qty > SYNTH_QTY_MAX)
			qty = SYNTH_QTY_MAX;
		if (px > 0 && px % tick == 0 && tr->px.v % c.px_mult == 0 && qty > 0)
			replay_trade(sim, m, tr->buyer_maker ? TL_SIM_SELL : TL_SIM_BUY, qty, px,
			             now_ms, sink);
	}

	if (in->book) {
		/* 2. The windows follow the captured best bid. */
		replay_anchor(m, &c, now_ms, sink);
		/* 3. The captured changes. */
		for (int side = 0; side < 2; side++) {
			if (in->refresh_all) {
				take_window(m, &c, side, 1, 0);
				continue;
			}
			for (uint32_t i = 0; i < in->n_changed[side]; i++) {
				int64_t px = in->changed[side][i].v;

				if (px % c.px_mult == 0 && (px / c.px_mult) % tick == 0)
					take_captured(m, &c, side, px / c.px_mult / tick);
			}
		}
	}

	/* 4. Client orders the new book crosses, and what the stream shows. */
	cross_clients(sim, m, TL_SIM_SELL, now_ms, sink);
	cross_clients(sim, m, TL_SIM_BUY, now_ms, sink);
	publish_step(m, now_ms, sink);
	return 0;
}

int tl_sim_depth_snapshot(const tl_sim_t *sim, uint32_t market, struct tl_sim_depth *out)
{
	const struct market *m;

	if (!sim || market >= sim->n_markets || !out || out->cap > TL_SIM_DEPTH_LEVELS_MAX ||
	    (out->cap && (!out->bids || !out->asks)))
		return -EINVAL;
	m = &sim->mkt[market];
	for (int side = 0; side < 2; side++) {
		struct tl_sim_level *lv = side == TL_SIM_BUY ? out->bids : out->asks;
		int64_t lo, hi, t, end, dir;
		uint32_t n = 0;

		window_of(m, side, m->syn.bid_anchor, &lo, &hi);
		t = side == TL_SIM_BUY ? hi : lo;
		end = side == TL_SIM_BUY ? lo - 1 : hi + 1;
		dir = side == TL_SIM_BUY ? -1 : 1;
		for (; t != end && n < out->cap; t += dir) {
			int64_t q = m->syn.side[side].qty[(uint64_t)t & m->syn.mask];

			if (q) {
				lv[n].px.v = t * m->cfg.tick_size.v;
				lv[n].qty.v = q;
				n++;
			}
		}
		if (side == TL_SIM_BUY)
			out->n_bids = n;
		else
			out->n_asks = n;
	}
	out->last_update_id = m->syn.update_id;
	return 0;
}

int tl_sim_book_ticker(const tl_sim_t *sim, uint32_t market, struct tl_sim_book_ticker *out)
{
	if (!sim || market >= sim->n_markets || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ticker_of(&sim->mkt[market], out);
	return 0;
}
