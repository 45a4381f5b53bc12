/*
 * strategy.c: the market maker. Quotes N post-only levels a side around the mid or the
 * microprice, skewed by inventory, and keeps each level's order through its life:
 *
 *   EMPTY --place--> (LOCKING: strict orders wait for the LOCK's ack) --> LIVE
 *   LIVE --off by more than refresh_ticks--> CANCELING
 *   LIVE / CANCELING --the venue ends it--> RELEASING (UNLOCK of the rest) --ack--> EMPTY
 *
 * The rules it keeps (DESIGN.md §6):
 *   - A level's next action waits for the ledger's ack of its previous one (seed 000):
 *     nothing is sent for a slot while its LOCK or UNLOCK is unacked.
 *   - Spacing between levels is at least 3 ticks, and our best bid and ask are at least
 *     min_width_ticks apart, whatever the book does (seed 004 C-4).
 *   - Buys are limited by inventory + open buys (and sells by the mirror image): the
 *     conservative exposure of seed 003.
 *   - Everything is integer ticks and lots; an order ends when the venue says so.
 * It owns the book's top, the inventory and the orders, all on this one thread, so a quote
 * is computed from one consistent snapshot (seed 004 C-1).
 */
#include "run_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

void run_client_order_id(uint64_t order_seq, char out[24])
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = b36[order_seq % 36];
		order_seq /= 36;
	} while (order_seq && n < (int)sizeof(tmp));
	out[0] = 't';
	out[1] = 'l';
	out[2] = '-';
	for (int i = 0; i < n; i++)
		out[3 + i] = tmp[n - 1 - i];
	out[3 + n] = '\0';
}

uint64_t run_order_seq_of(const char *id)
{
	uint64_t v = 0;

	if (strncmp(id, "tl-", 3) != 0 || !id[3])
		return 0;
	for (const char *p = id + 3; *p; p++) {
		const char *d = strchr(b36, *p);

		if (!d || v > (UINT64_MAX - (uint64_t)(d - b36)) / 36)
			return 0; /* not a digit, or too big: not an id of ours */
		v = v * 36 + (uint64_t)(d - b36);
	}
	return v;
}

void strategy_init(struct strategy *st, const struct tl_run_config *cfg, struct strat_out out,
                   struct strat_counters *ctr, int64_t start_wall_ms)
{
	memset(st, 0, sizeof(*st));
	st->cfg = cfg;
	st->out = out;
	st->ctr = ctr;
	st->next_order_seq = (uint64_t)start_wall_ms * 4096;
	st->next_token = 1;
	st->quoting = true;
}

/* ---- ledger commands ------------------------------------------------------------------ */

static uint64_t slot_token(struct strategy *st, int side, int level)
{
	return (st->next_token++ << 8) | (uint64_t)(side * RUN_LEVELS_MAX + level);
}

static void order_cmd(const struct strategy *st, tl_ledger_cmd_t *c, tl_ledger_cmd_type_t type,
                      int side, const struct slot *s, const char *prefix)
{
	const struct tl_run_config *cfg = st->cfg;
	char cid[24];

	memset(c, 0, sizeof(*c));
	c->type = (uint16_t)type;
	c->order = s->order_seq;
	snprintf(c->account, sizeof(c->account), "%s", cfg->account);
	snprintf(c->asset, sizeof(c->asset), "%s", side == 0 ? cfg->quote : cfg->base);
	run_client_order_id(s->order_seq, cid);
	snprintf(c->key, sizeof(c->key), "%s:%s", prefix, cid);
	if (type == TL_LEDGER_LOCK) {
		/* buy: price x qty of quote; sell: qty of base. Exact: the scales add. */
		if (side == 0)
			c->amount = (tl_ledger_dec_t){
			    s->px * s->qty, cfg->scale.px_decimals + cfg->scale.qty_decimals, 0};
		else
			c->amount = (tl_ledger_dec_t){s->qty, cfg->scale.qty_decimals, 0};
	} else {
		c->flags = TL_LEDGER_FLAG_FINAL; /* UNLOCK: whatever remains */
	}
}

/* Sends the slot's LOCK or UNLOCK; false when the port is full (retried on the tick). */
static bool send_ledger(struct strategy *st, int side, int level, tl_ledger_cmd_type_t type)
{
	struct slot *s = &st->slots[side][level];
	tl_ledger_cmd_t c;

	order_cmd(st, &c, type, side, s, type == TL_LEDGER_LOCK ? "lock" : "unlock");
	c.token = slot_token(st, side, level);
	if (!st->out.ledger(st->out.ctx, &c))
		return false;
	s->ledger_pending = true;
	s->pending_token = c.token;
	atomic_fetch_add_explicit(type == TL_LEDGER_LOCK ? &st->ctr->locks : &st->ctr->unlocks, 1,
	                          memory_order_relaxed);
	return true;
}

/* ---- intents ---------------------------------------------------------------------------- */

static bool send_intent(struct strategy *st, uint16_t type, const struct slot *s, int side,
                        int level, int64_t now_ns)
{
	tl_event_t ev;
	/* Only the first intent a top caused carries the top's arrival: tick-to-trade runs to
	 * the first order frame a tick causes (as `tally bench t2t`'s sim measures it), and
	 * the user thread measures the engine's own part from it. */
	bool first = st->top_fresh && !st->top_answered;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.ts_origin_ns = first ? st->top_origin_ns : 0;
	ev.ts_publish_ns = first ? tl_mono_ns() : now_ns;
	ev.payload.intent.cause = first ? st->top_update_id : 0;
	ev.payload.intent.order_seq = s->order_seq;
	ev.payload.intent.px = s->px;
	ev.payload.intent.qty = s->qty;
	ev.payload.intent.side = (uint8_t)(side + 1);
	ev.payload.intent.level = (uint8_t)level;
	if (!st->out.intent(st->out.ctx, &ev))
		return false;
	atomic_fetch_add_explicit(&st->ctr->intents, 1, memory_order_relaxed);
	if (first) {
		st->top_answered = true;
		tl_hist_record(&st->ctr->react, (uint64_t)(ev.ts_publish_ns - st->top_publish_ns));
	}
	if (type == TL_EV_PLACE && st->top_fresh)
		tl_hist_record(&st->ctr->t2t, (uint64_t)(now_ns - st->top_origin_ns));
	return true;
}

/* ---- quoting ------------------------------------------------------------------------------ */

/* The price of level `level` on `side` (0 bid, 1 ask), in price units on the tick grid;
 * 0 when there is no book. */
static int64_t target_px(const struct strategy *st, int side, int level)
{
	const struct tl_run_config *cfg = st->cfg;
	int64_t tick = cfg->tick, ref, skew = 0, off, px;

	if (!st->have_top || st->bid_px <= 0 || st->ask_px <= st->bid_px)
		return 0;
	if (cfg->microprice && st->bid_qty + st->ask_qty > 0)
		ref = (int64_t)(((run_i128)st->bid_px * st->ask_qty +
		                 (run_i128)st->ask_px * st->bid_qty) /
		                (st->bid_qty + st->ask_qty));
	else
		ref = (st->bid_px + st->ask_px) / 2;
	if (cfg->max_position > 0)
		skew = (int64_t)cfg->skew_ticks * st->inventory / cfg->max_position;
	off = (int64_t)cfg->half_spread_ticks + (int64_t)level * cfg->spacing_ticks;
	if (2 * off < (int64_t)cfg->min_width_ticks)
		off = ((int64_t)cfg->min_width_ticks + 1) / 2;
	/* Long inventory (skew > 0) lowers both quotes: sell sooner, buy later. */
	if (side == 0) {
		px = ref - (off + skew) * tick;
		px -= ((px % tick) + tick) % tick; /* down to the grid */
		if (px >= st->ask_px)              /* post-only: stay off the ask */
			px = st->ask_px - tick;
	} else {
		px = ref + (off - skew) * tick;
		px += (tick - ((px % tick) + tick) % tick) % tick; /* up to the grid */
		if (px <= st->bid_px)
			px = st->bid_px + tick;
	}
	return px > 0 ? px : 0;
}

static bool budget_take(struct strategy *st, int64_t now_ns)
{
	if (now_ns - st->budget_window_ns >= 1000000000) {
		st->budget_window_ns = now_ns;
		st->budget_used = 0;
	}
	if (st->budget_used >= st->cfg->max_places_per_s) {
		atomic_fetch_add_explicit(&st->ctr->throttled, 1, memory_order_relaxed);
		return false;
	}
	st->budget_used++;
	return true;
}

static bool within_limits(const struct strategy *st, int side, int64_t qty, int64_t px)
{
	const struct tl_run_config *cfg = st->cfg;
	int64_t notional;

	/* px x qty as 10^-8 quote: scale up by the decimals the two leave over. */
	notional = px * qty;
	for (int d = cfg->scale.px_decimals + cfg->scale.qty_decimals; d < 8; d++)
		notional *= 10;
	if (notional < cfg->min_notional)
		return false;
	if (side == 0)
		return st->inventory + st->open_qty[0] + qty <= cfg->max_position;
	return -st->inventory + st->open_qty[1] + qty <= cfg->max_position;
}

static void place(struct strategy *st, int side, int level, int64_t px, int64_t now_ns)
{
	struct slot *s = &st->slots[side][level];
	int64_t qty = st->cfg->level_qty - st->cfg->level_qty % st->cfg->step;

	if (qty <= 0 || !within_limits(st, side, qty, px))
		return;
	/* Every order has its LOCK: no place without room for it (tried again on the tick). */
	if (!st->out.ledger_room(st->out.ctx) || !budget_take(st, now_ns))
		return;
	memset(s, 0, sizeof(*s));
	s->order_seq = st->next_order_seq++;
	s->px = px;
	s->qty = qty;
	st->open_qty[side] += qty;
	if (st->cfg->order_mode == TL_RUN_ORDERS_STRICT) {
		s->state = SLOT_LOCKING; /* the order leaves on the LOCK's ack */
	} else {
		/* Fast: the order leaves first and its LOCK right after, in the same pass (the
		 * ledger hears of both at its end): building the LOCK would otherwise delay
		 * the order by its length. The LOCK is not waited for either way. */
		s->state = SLOT_LIVE;
		if (!send_intent(st, TL_EV_PLACE, s, side, level, now_ns))
			s->state = SLOT_LOCKING; /* sent again on the LOCK's ack */
	}
	bool locked = send_ledger(st, side, level, TL_LEDGER_LOCK);
	assert(locked); /* ledger_room said so, and only this thread fills the port */
	(void)locked;
}

static void cancel(struct strategy *st, int side, int level, int64_t now_ns)
{
	struct slot *s = &st->slots[side][level];

	if (send_intent(st, TL_EV_CANCEL, s, side, level, now_ns))
		s->state = SLOT_CANCELING;
}

/* The order of the slot is over: its reservation goes back (unless the final fill already
 * released it), and the slot is free once that is acked. */
static void order_over(struct strategy *st, int side, int level)
{
	struct slot *s = &st->slots[side][level];

	st->open_qty[side] -= s->qty - s->filled;
	s->filled = s->qty; /* nothing more counts as open */
	s->state = SLOT_RELEASING;
	if (s->settled_final && !s->ledger_pending) {
		s->state = SLOT_EMPTY;
		return;
	}
	if (!s->ledger_pending)
		send_ledger(st, side, level, TL_LEDGER_UNLOCK);
}

static void quote(struct strategy *st, int64_t now_ns)
{
	uint32_t live = 0;

	for (int side = 0; side < RUN_SIDES; side++) {
		for (int level = 0; level < (int)st->cfg->levels; level++) {
			struct slot *s = &st->slots[side][level];
			int64_t px;

			if (s->state != SLOT_EMPTY)
				live++;
			if (s->ledger_pending || !st->quoting || st->stale || !st->venue_ready)
				continue;
			px = target_px(st, side, level);
			if (s->state == SLOT_EMPTY && px > 0) {
				place(st, side, level, px, now_ns);
			} else if (s->state == SLOT_LIVE && s->acked && px > 0) {
				int64_t off = s->px > px ? s->px - px : px - s->px;

				if (off > (int64_t)st->cfg->refresh_ticks * st->cfg->tick)
					cancel(st, side, level, now_ns);
			}
		}
	}
	atomic_store_explicit(&st->ctr->live_slots, live, memory_order_relaxed);
}

/* ---- events -------------------------------------------------------------------------------- */

static struct slot *slot_of(struct strategy *st, uint64_t order_seq, int *side, int *level)
{
	for (int sd = 0; sd < RUN_SIDES; sd++)
		for (int lv = 0; lv < RUN_LEVELS_MAX; lv++)
			if (st->slots[sd][lv].state != SLOT_EMPTY &&
			    st->slots[sd][lv].order_seq == order_seq) {
				*side = sd;
				*level = lv;
				return &st->slots[sd][lv];
			}
	return NULL;
}

static void on_order(struct strategy *st, const tl_event_t *ev, int64_t now_ns)
{
	int side, level;
	struct slot *s = slot_of(st, ev->payload.order.order_seq, &side, &level);

	/* A fill counts whatever state its order is in: reordered or back-filled, it may
	 * come after the order was seen to end. The user thread passes each trade once. */
	if (ev->payload.order.report == TL_ORDER_FILL) {
		int64_t q = ev->payload.order.last_qty;

		st->inventory += ev->payload.order.side == 1 ? q : -q;
		atomic_store_explicit(&st->ctr->inventory, st->inventory, memory_order_relaxed);
	}
	if (!s || s->state == SLOT_RELEASING)
		return; /* from before this run, or already over: the ledger has what matters */
	switch (ev->payload.order.report) {
	case TL_ORDER_ACKED:
		s->acked = true;
		break;
	case TL_ORDER_FILL: {
		int64_t q = ev->payload.order.last_qty;

		if (q > s->qty - s->filled)
			q = s->qty - s->filled;
		s->filled += q;
		st->open_qty[side] -= q;
		if (ev->payload.order.done) {
			s->settled_final = true; /* the user thread's TRADE_SETTLE was FINAL */
			order_over(st, side, level);
		}
		break;
	}
	case TL_ORDER_CANCELED:
	case TL_ORDER_REJECTED:
		order_over(st, side, level);
		break;
	case TL_ORDER_CANCEL_FAILED:
	case TL_ORDER_UNKNOWN:
		/* The user thread asks order.status; its answer comes as another report. */
		break;
	default:
		break;
	}
	quote(st, now_ns);
}

void strategy_on_event(struct strategy *st, const tl_event_t *ev, int64_t now_ns)
{
	switch (ev->type) {
	case TL_EV_TOP:
		st->have_top = true;
		st->bid_px = ev->payload.top.bid_px;
		st->bid_qty = ev->payload.top.bid_qty;
		st->ask_px = ev->payload.top.ask_px;
		st->ask_qty = ev->payload.top.ask_qty;
		st->top_origin_ns = ev->ts_origin_ns;
		st->top_update_id = ev->payload.top.update_id;
		st->top_publish_ns = ev->ts_publish_ns;
		atomic_store_explicit(&st->ctr->ref_px, (st->bid_px + st->ask_px) / 2,
		                      memory_order_relaxed);
		/* Tick-to-trade counts the orders this very top caused, nothing later. */
		st->top_fresh = true;
		st->top_answered = false;
		quote(st, now_ns);
		st->top_fresh = false;
		break;
	case TL_EV_BOOK_DOWN:
		st->have_top = false;
		break;
	case TL_EV_VENUE:
		st->venue_ready = ev->payload.venue.ready;
		quote(st, now_ns);
		break;
	case TL_EV_ORDER:
		on_order(st, ev, now_ns);
		break;
	default:
		break;
	}
}

static bool warm_intent(void *ctx, const tl_event_t *ev)
{
	(void)ctx, (void)ev;
	return true;
}

static bool warm_ledger(void *ctx, const tl_ledger_cmd_t *cmd)
{
	(void)ctx, (void)cmd;
	return true;
}

static bool warm_room(void *ctx)
{
	(void)ctx;
	return true;
}

void strategy_warm(const struct strategy *st, struct strategy *scratch,
                   struct strat_counters *scratch_ctr, int64_t now_ns)
{
	static const struct strat_out drop = {warm_intent, warm_ledger, warm_room, NULL};
	/* Far enough that every live order of the copy is off by more than refresh_ticks. */
	int64_t move = ((int64_t)st->cfg->refresh_ticks + 1) * st->cfg->tick;
	tl_event_t ev;

	if (!st->have_top)
		return;
	if (st->bid_px > scratch->bid_px || st->bid_px - move <= 0)
		move = -move; /* opposite to the last pass's */
	*scratch = *st;
	scratch->out = drop;
	scratch->ctr = scratch_ctr;
	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_TOP;
	ev.ts_origin_ns = ev.ts_publish_ns = now_ns;
	ev.payload.top.bid_px = st->bid_px - move;
	ev.payload.top.bid_qty = st->bid_qty;
	ev.payload.top.ask_px = st->ask_px - move;
	ev.payload.top.ask_qty = st->ask_qty;
	ev.payload.top.update_id = st->top_update_id;
	strategy_on_event(scratch, &ev, now_ns);
}

void strategy_on_ack(struct strategy *st, const tl_ledger_ack_t *ack)
{
	uint32_t idx = (uint32_t)(ack->token & 0xff);
	int side = (int)(idx / RUN_LEVELS_MAX), level = (int)(idx % RUN_LEVELS_MAX);
	struct slot *s;

	if (side >= RUN_SIDES)
		return;
	s = &st->slots[side][level];
	if (!s->ledger_pending || s->pending_token != ack->token)
		return;
	s->ledger_pending = false;
	switch (s->state) {
	case SLOT_LOCKING:
		if (ack->status == TL_LEDGER_APPLIED || ack->status == TL_LEDGER_DUPLICATE) {
			/* strict orders: durable now, the order may leave (from quote / tick) */
			s->state = SLOT_LIVE;
			if (!send_intent(st, TL_EV_PLACE, s, side, level, tl_mono_ns()))
				s->state = SLOT_LOCKING;
		} else {
			atomic_fetch_add_explicit(&st->ctr->lock_rejects, 1, memory_order_relaxed);
			st->open_qty[side] -= s->qty;
			s->state = SLOT_EMPTY; /* nothing left; nothing locked */
		}
		break;
	case SLOT_LIVE:
	case SLOT_CANCELING:
		if (ack->status != TL_LEDGER_APPLIED && ack->status != TL_LEDGER_DUPLICATE) {
			/* fast orders: the order is out but its LOCK was refused. Take it back. */
			atomic_fetch_add_explicit(&st->ctr->lock_rejects, 1, memory_order_relaxed);
			s->lock_failed = true;
			if (s->state == SLOT_LIVE)
				cancel(st, side, level, tl_mono_ns());
		}
		break;
	case SLOT_RELEASING:
		if (ack->status == TL_LEDGER_FAILED) {
			send_ledger(st, side, level, TL_LEDGER_UNLOCK); /* again */
			break;
		}
		/* APPLIED, or REJECTED no_reservation: nothing is held for this order now. */
		s->state = SLOT_EMPTY;
		break;
	default:
		break;
	}
}

void strategy_tick(struct strategy *st, int64_t now_ns)
{
	for (int side = 0; side < RUN_SIDES; side++) {
		for (int level = 0; level < RUN_LEVELS_MAX; level++) {
			struct slot *s = &st->slots[side][level];

			if (s->ledger_pending)
				continue;
			/* what a full ring refused earlier */
			if (s->state == SLOT_RELEASING && !s->settled_final)
				send_ledger(st, side, level, TL_LEDGER_UNLOCK);
			else if (s->state == SLOT_RELEASING)
				s->state = SLOT_EMPTY;
			else if (s->state == SLOT_LOCKING &&
			         send_intent(st, TL_EV_PLACE, s, side, level, now_ns))
				s->state = SLOT_LIVE;
			else if ((!st->quoting || st->stale) && s->state == SLOT_LIVE)
				cancel(st, side, level, now_ns);
		}
	}
	if (!st->quoting && !st->cancel_all_sent) {
		tl_event_t ev;

		memset(&ev, 0, sizeof(ev));
		ev.type = TL_EV_CANCEL_ALL;
		ev.ts_publish_ns = now_ns;
		st->cancel_all_sent = st->out.intent(st->out.ctx, &ev);
	}
	quote(st, now_ns);
}

void strategy_set_stale(struct strategy *st, bool stale)
{
	st->stale = stale;
}

void strategy_stop(struct strategy *st)
{
	st->quoting = false;
}

bool strategy_idle(const struct strategy *st)
{
	for (int side = 0; side < RUN_SIDES; side++)
		for (int level = 0; level < RUN_LEVELS_MAX; level++)
			if (st->slots[side][level].state != SLOT_EMPTY)
				return false;
	return true;
}
