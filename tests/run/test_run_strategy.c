/*
 * test_run_strategy.c: the engine's strategy (engine/run/strategy.c) and configuration
 * (config.c), without threads: events in, intents and ledger commands out.
 *
 * - Client order ids: base 36 round trip, at most 36 characters, foreign ids refused.
 * - Quotes: N levels a side, post-only (bids below the ask, asks above the bid), at least
 *   3 ticks apart, at least min_width apart at the touch; each with its LOCK first.
 * - Seed 000: a slot does nothing while its LOCK or UNLOCK is unacked; strict orders leave
 *   only on the LOCK's ack; a refused LOCK places nothing.
 * - An order that ends gives back its reservation with UNLOCK FINAL, once, and the slot is
 *   reused only after its ack; an order that filled whole needs no UNLOCK.
 * - Fills move the inventory even after the order ended; the limit stops buys at
 *   max_position, counting open buys.
 * - Stop: cancels everything and reports idle once every slot is empty.
 * - Config: INI keys and errors with their line, --set, the checks.
 */
#include "run_internal.h"
#include "tl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_MAX 256

struct sink {
	tl_event_t intents[OUT_MAX];
	size_t n_intents;
	tl_ledger_cmd_t cmds[OUT_MAX];
	size_t n_cmds;
	bool full; /* refuse everything, as a full ring would */
};

static bool sink_intent(void *ctx, const tl_event_t *ev)
{
	struct sink *s = ctx;

	if (s->full || s->n_intents == OUT_MAX)
		return false;
	s->intents[s->n_intents++] = *ev;
	return true;
}

static bool sink_ledger(void *ctx, const tl_ledger_cmd_t *c)
{
	struct sink *s = ctx;

	if (s->full || s->n_cmds == OUT_MAX)
		return false;
	s->cmds[s->n_cmds++] = *c;
	return true;
}

static bool sink_ledger_room(void *ctx)
{
	struct sink *s = ctx;

	return !s->full && s->n_cmds < OUT_MAX;
}

static struct strat_counters g_ctr;

static void start(struct strategy *st, struct sink *out, const struct tl_run_config *cfg)
{
	memset(out, 0, sizeof(*out));
	tl_hist_reset(&g_ctr.t2t);
	strategy_init(st, cfg, (struct strat_out){sink_intent, sink_ledger, sink_ledger_room, out},
	              &g_ctr, 1700000000000);
}

static void top(struct strategy *st, int64_t bid, int64_t ask)
{
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_TOP;
	ev.ts_origin_ns = 1;
	ev.payload.top.bid_px = bid;
	ev.payload.top.bid_qty = 100000;
	ev.payload.top.ask_px = ask;
	ev.payload.top.ask_qty = 100000;
	strategy_on_event(st, &ev, 1000000000);
}

static void venue_ready(struct strategy *st)
{
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_VENUE;
	ev.payload.venue.ready = 1;
	strategy_on_event(st, &ev, 1000000000);
}

static void order_report(struct strategy *st, uint64_t seq, uint8_t kind, bool done, uint8_t side,
                         int64_t qty)
{
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_ORDER;
	ev.payload.order.order_seq = seq;
	ev.payload.order.report = kind;
	ev.payload.order.done = done;
	ev.payload.order.side = side;
	ev.payload.order.last_qty = qty;
	strategy_on_event(st, &ev, 2000000000);
}

static void ack(struct strategy *st, const tl_ledger_cmd_t *c, uint16_t status, uint16_t reason)
{
	tl_ledger_ack_t a;

	memset(&a, 0, sizeof(a));
	a.token = c->token;
	a.status = status;
	a.reason = reason;
	strategy_on_ack(st, &a);
}

static void ack_all(struct strategy *st, struct sink *out, size_t from)
{
	for (size_t i = from; i < out->n_cmds; i++)
		ack(st, &out->cmds[i], TL_LEDGER_APPLIED, 0);
}

static size_t count_type(const struct sink *out, uint16_t type)
{
	size_t n = 0;

	for (size_t i = 0; i < out->n_intents; i++)
		n += out->intents[i].type == type;
	return n;
}

static void test_client_ids(void)
{
	char id[24];
	uint64_t seqs[] = {1, 35, 36, 1700000000000ull * 4096 + 77, UINT64_MAX};

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		run_client_order_id(seqs[i], id);
		CHECK(strlen(id) <= 36);
		CHECK(!strncmp(id, "tl-", 3));
		CHECK_EQ(run_order_seq_of(id), seqs[i]);
	}
	CHECK_EQ(run_order_seq_of("web_123"), 0);
	CHECK_EQ(run_order_seq_of("tl-"), 0);
	CHECK_EQ(run_order_seq_of("tl-ABC"), 0); /* upper case is not ours */
}

static void test_quotes(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;
	int64_t bids[RUN_LEVELS_MAX], asks[RUN_LEVELS_MAX];
	size_t nb = 0, na = 0;

	tl_run_config_default(&cfg);
	start(&st, &out, &cfg);
	top(&st, 6000000, 6000001);
	CHECK_EQ(out.n_intents, 0); /* the venue is not ready yet */
	venue_ready(&st);
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 2 * cfg.levels);
	CHECK_EQ(out.n_cmds, 2 * cfg.levels); /* one LOCK each */
	for (size_t i = 0; i < out.n_intents; i++) {
		const tl_event_t *ev = &out.intents[i];
		const tl_ledger_cmd_t *c = &out.cmds[i];
		char cid[24], key[64];

		CHECK_EQ(c->type, TL_LEDGER_LOCK);
		CHECK_EQ(c->order, ev->payload.intent.order_seq);
		run_client_order_id(c->order, cid);
		snprintf(key, sizeof(key), "lock:%s", cid);
		CHECK(!strcmp(c->key, key));
		CHECK_EQ(ev->payload.intent.qty, cfg.level_qty);
		if (ev->payload.intent.side == 1) {
			CHECK(!strcmp(c->asset, "USDT"));
			/* price x qty of quote, exact at 2 + 5 decimals */
			CHECK_EQ(c->amount.mantissa, ev->payload.intent.px * cfg.level_qty);
			CHECK_EQ(c->amount.scale, 7);
			CHECK(ev->payload.intent.px < 6000001);
			bids[nb++] = ev->payload.intent.px;
		} else {
			CHECK(!strcmp(c->asset, "BTC"));
			CHECK_EQ(c->amount.mantissa, cfg.level_qty);
			CHECK(ev->payload.intent.px > 6000000);
			asks[na++] = ev->payload.intent.px;
		}
	}
	CHECK_EQ(nb, cfg.levels);
	CHECK_EQ(na, cfg.levels);
	for (size_t i = 1; i < nb; i++) {
		CHECK(bids[i - 1] - bids[i] >= 3); /* the spacing floor, in ticks of 1 */
		CHECK(asks[i] - asks[i - 1] >= 3);
	}
	CHECK(asks[0] - bids[0] >= (int64_t)cfg.min_width_ticks);
	/* Seed 000: nothing more for these slots while their LOCKs are unacked, even when
	 * the market moves far. */
	top(&st, 6001000, 6001001);
	CHECK_EQ(count_type(&out, TL_EV_CANCEL), 0);
	ack_all(&st, &out, 0);
	/* acked, but not yet acknowledged by the venue: still no cancel */
	top(&st, 6002000, 6002001);
	CHECK_EQ(count_type(&out, TL_EV_CANCEL), 0);
	for (size_t i = 0; i < 2 * cfg.levels; i++)
		order_report(&st, out.intents[i].payload.intent.order_seq, TL_ORDER_ACKED, false, 0,
		             0);
	/* now every order is off by far more than refresh_ticks: each is cancelled */
	top(&st, 6003000, 6003001);
	CHECK_EQ(count_type(&out, TL_EV_CANCEL), 2 * cfg.levels);
}

/* strategy.max_places_per_s: places past it in one second wait for the next; the refusals
 * are counted. */
static void test_places_budget(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;
	uint64_t throttled;

	tl_run_config_default(&cfg);
	CHECK_EQ(cfg.max_places_per_s, 8u);
	cfg.max_places_per_s = 4; /* of the 6 the three levels a side want */
	start(&st, &out, &cfg);
	throttled = atomic_load(&g_ctr.throttled);
	venue_ready(&st);
	top(&st, 6000000, 6000001);
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 4);
	CHECK_EQ(out.n_cmds, 4); /* no LOCK for a place that waits */
	CHECK(atomic_load(&g_ctr.throttled) > throttled);
	ack_all(&st, &out, 0);
	strategy_tick(&st, 1500000000); /* the same second */
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 4);
	strategy_tick(&st, 2000000000); /* the next: the other two */
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 6);
	CHECK_EQ(out.n_cmds, 6);
}

/* A warm pass runs a moved top through a copy: the strategy itself, its outputs and its
 * counters are untouched, and the copy did quote (its own counters say so). */
static void test_warm(void)
{
	static struct strategy st, before, scratch;
	static struct strat_counters scratch_ctr;
	static struct sink out;
	struct tl_run_config cfg;
	uint64_t intents;

	tl_run_config_default(&cfg);
	start(&st, &out, &cfg);
	strategy_warm(&st, &scratch, &scratch_ctr, 1000000000); /* no top yet: nothing */
	CHECK_EQ(atomic_load(&scratch_ctr.intents), 0);
	venue_ready(&st);
	top(&st, 6000000, 6000001);
	ack_all(&st, &out, 0);
	for (size_t i = 0; i < out.n_intents; i++)
		order_report(&st, out.intents[i].payload.intent.order_seq, TL_ORDER_ACKED, false, 0,
		             0);
	size_t n_intents = out.n_intents, n_cmds = out.n_cmds;
	intents = atomic_load(&g_ctr.intents);
	before = st;
	for (int pass = 0; pass < 3; pass++) {
		uint64_t seen = atomic_load(&scratch_ctr.intents);

		strategy_warm(&st, &scratch, &scratch_ctr, 1000000000 + pass);
		/* every live order of the copy is off by more than refresh_ticks: cancelled */
		CHECK_EQ(atomic_load(&scratch_ctr.intents) - seen, 2 * cfg.levels);
		CHECK(scratch.bid_px != st.bid_px);
	}
	CHECK(memcmp(&before, &st, sizeof(st)) == 0);
	CHECK_EQ(out.n_intents, n_intents);
	CHECK_EQ(out.n_cmds, n_cmds);
	CHECK_EQ(atomic_load(&g_ctr.intents), intents);
}

static void test_lifecycle(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;
	uint64_t seq;
	size_t n;

	tl_run_config_default(&cfg);
	cfg.levels = 1;
	cfg.order_mode = TL_RUN_ORDERS_STRICT;
	start(&st, &out, &cfg);
	venue_ready(&st);
	top(&st, 6000000, 6000001);
	/* strict: the LOCKs go, the orders wait for their acks */
	CHECK_EQ(out.n_cmds, 2);
	CHECK_EQ(out.n_intents, 0);
	ack(&st, &out.cmds[0], TL_LEDGER_APPLIED, 0);
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 1);
	/* a refused LOCK places nothing and frees the slot */
	ack(&st, &out.cmds[1], TL_LEDGER_REJECTED, TL_LEDGER_R_INSUFFICIENT);
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 1);
	CHECK_EQ(g_ctr.lock_rejects, 1);

	/* the bid is cancelled by the venue: UNLOCK FINAL, once; the slot waits for its ack */
	seq = out.intents[0].payload.intent.order_seq;
	order_report(&st, seq, TL_ORDER_ACKED, false, 0, 0);
	n = out.n_cmds;
	order_report(&st, seq, TL_ORDER_CANCELED, true, 0, 0);
	CHECK_EQ(out.n_cmds, n + 1);
	CHECK_EQ(out.cmds[n].type, TL_LEDGER_UNLOCK);
	CHECK(out.cmds[n].flags & TL_LEDGER_FLAG_FINAL);
	CHECK_EQ(out.cmds[n].order, seq);
	order_report(&st, seq, TL_ORDER_CANCELED, true, 0, 0); /* a duplicate report */
	strategy_tick(&st, 3000000000);
	for (size_t i = n + 1; i < out.n_cmds; i++) /* no second UNLOCK, no new bid yet */
		CHECK(out.cmds[i].type != TL_LEDGER_UNLOCK && strcmp(out.cmds[i].asset, "USDT"));
	/* a late fill of the ended order still moves the inventory */
	order_report(&st, seq, TL_ORDER_FILL, false, 1, 40);
	CHECK_EQ(g_ctr.inventory, 40);
	/* the UNLOCK's ack (here: nothing remained) frees the slot: a new bid follows */
	ack(&st, &out.cmds[n], TL_LEDGER_REJECTED, TL_LEDGER_R_NO_RESERVATION);
	top(&st, 6000000, 6000001);
	CHECK_EQ(out.cmds[out.n_cmds - 1].type, TL_LEDGER_LOCK);
	CHECK(out.cmds[out.n_cmds - 1].order > seq); /* a new order, never a reused id */
}

static void test_filled_and_limits(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;
	uint64_t seq;
	size_t n;

	tl_run_config_default(&cfg);
	cfg.levels = 1;
	cfg.max_position = 150; /* one order of 100 fits, two do not */
	start(&st, &out, &cfg);
	venue_ready(&st);
	top(&st, 6000000, 6000001);
	ack_all(&st, &out, 0);
	seq = out.intents[0].payload.intent.order_seq;
	CHECK_EQ(out.intents[0].payload.intent.side, 1);
	/* filled whole: the final TRADE_SETTLE released the rest, no UNLOCK */
	n = out.n_cmds;
	order_report(&st, seq, TL_ORDER_FILL, true, 1, 100);
	CHECK_EQ(g_ctr.inventory, 100);
	for (size_t i = n; i < out.n_cmds; i++)
		CHECK(out.cmds[i].type != TL_LEDGER_UNLOCK);
	/* inventory 100 + 100 more would pass 150: no new bid, asks go on */
	strategy_tick(&st, 3000000000);
	for (size_t i = n; i < out.n_cmds; i++)
		CHECK(!(out.cmds[i].type == TL_LEDGER_LOCK && !strcmp(out.cmds[i].asset, "USDT")));

	/* stop: cancel what is live, then idle once every slot is empty */
	for (size_t i = 0; i < out.n_intents; i++)
		if (out.intents[i].type == TL_EV_PLACE)
			order_report(&st, out.intents[i].payload.intent.order_seq, TL_ORDER_ACKED,
			             false, 0, 0);
	strategy_stop(&st);
	n = out.n_intents;
	strategy_tick(&st, 4000000000);
	CHECK(count_type(&out, TL_EV_CANCEL_ALL) == 1);
	CHECK(!strategy_idle(&st));
	for (size_t i = n; i < out.n_intents; i++)
		if (out.intents[i].type == TL_EV_CANCEL)
			order_report(&st, out.intents[i].payload.intent.order_seq,
			             TL_ORDER_CANCELED, true, 0, 0);
	ack_all(&st, &out, 0);
	CHECK(strategy_idle(&st));
}

static void test_full_rings(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;

	tl_run_config_default(&cfg);
	cfg.levels = 1;
	start(&st, &out, &cfg);
	out.full = true;
	venue_ready(&st);
	top(&st, 6000000, 6000001);
	CHECK_EQ(out.n_cmds, 0);
	out.full = false;
	strategy_tick(&st, 3000000000); /* tried again */
	CHECK_EQ(out.n_cmds, 2);
	CHECK_EQ(count_type(&out, TL_EV_PLACE), 2);
}

static void test_config(void)
{
	struct tl_run_config cfg;
	char path[] = "/tmp/tally-run-test.XXXXXX";
	int fd = mkstemp(path);
	FILE *f, *err = fopen("/dev/null", "w");

	CHECK(fd >= 0 && err);
	f = fdopen(fd, "w");
	fputs("; comment\n[strategy]\nlevels = 2\nmicroprice = false\n[ledger]\norders = strict\n"
	      "durability = nometasync\n[threads]\nstrategy_idle = yield\nlayout = fused\n",
	      f);
	fclose(f);
	tl_run_config_default(&cfg);
	CHECK_EQ(tl_run_config_load(&cfg, path, err), 0);
	CHECK_EQ(cfg.levels, 2);
	CHECK(!cfg.microprice);
	CHECK_EQ(cfg.order_mode, TL_RUN_ORDERS_STRICT);
	CHECK_EQ(cfg.durability, TL_LEDGER_NOMETASYNC);
	CHECK_EQ(cfg.strategy_idle, TL_IDLE_YIELD);
	CHECK_EQ(cfg.layout, TL_RUN_LAYOUT_FUSED);
	CHECK_EQ(tl_run_config_check(&cfg, err), 0);
	/* the layout: auto by default, resolved by the CPUs online; explicit ones stay */
	tl_run_config_default(&cfg);
	CHECK_EQ(cfg.layout, TL_RUN_LAYOUT_AUTO);
	CHECK_EQ(tl_run_layout_effective(TL_RUN_LAYOUT_AUTO),
	         sysconf(_SC_NPROCESSORS_ONLN) < TL_RUN_SPLIT_CPUS ? TL_RUN_LAYOUT_FUSED
	                                                           : TL_RUN_LAYOUT_SPLIT);
	CHECK_EQ(tl_run_layout_effective(TL_RUN_LAYOUT_SPLIT), TL_RUN_LAYOUT_SPLIT);
	CHECK_EQ(tl_run_layout_effective(TL_RUN_LAYOUT_FUSED), TL_RUN_LAYOUT_FUSED);
	CHECK_EQ(tl_run_config_set(&cfg, "threads.layout=split", err), 0);
	CHECK_EQ(cfg.layout, TL_RUN_LAYOUT_SPLIT);
	CHECK_EQ(tl_run_config_set(&cfg, "threads.layout=threads", err), -EINVAL);
	CHECK_EQ(cfg.layout, TL_RUN_LAYOUT_SPLIT);
	/* the shipped example loads, every key in it known, and states the defaults it names */
	tl_run_config_default(&cfg);
	CHECK_EQ(tl_run_config_load(&cfg, TALLY_EXAMPLE_INI, err), 0);
	CHECK_EQ(cfg.layout, TL_RUN_LAYOUT_AUTO);
	CHECK(!cfg.t2t_ids);
	CHECK_EQ(cfg.warm_us, 1000u);
	CHECK_EQ(cfg.durability, TL_LEDGER_STRICT);
	CHECK_EQ(cfg.max_places_per_s, 8u);
	CHECK_EQ(tl_run_config_set(&cfg, "strategy.max_places_per_s=0", err), -EINVAL);
	CHECK_EQ(tl_run_config_set(&cfg, "strategy.max_places_per_s=250", err), 0);
	CHECK_EQ(cfg.max_places_per_s, 250u);
	CHECK_EQ(tl_run_config_set(&cfg, "threads.warm_us=0", err), 0); /* off */
	CHECK_EQ(cfg.warm_us, 0u);
	CHECK_EQ(tl_run_config_set(&cfg, "threads.warm_us=1000001", err), -EINVAL);
	CHECK_EQ(cfg.warm_us, 0u);
	CHECK_EQ(tl_run_config_check(&cfg, err), 0);
	/* errors: an unknown key, a value out of range, not INI at all */
	f = fopen(path, "w");
	fputs("[strategy]\nlevels = 17\n", f);
	fclose(f);
	CHECK_EQ(tl_run_config_load(&cfg, path, err), -EINVAL);
	f = fopen(path, "w");
	fputs("[strategy]\nlevelz = 1\n", f);
	fclose(f);
	CHECK_EQ(tl_run_config_load(&cfg, path, err), -EINVAL);
	f = fopen(path, "w");
	fputs("[strategy\n", f);
	fclose(f);
	CHECK_EQ(tl_run_config_load(&cfg, path, err), -EINVAL);
	CHECK_EQ(tl_run_config_load(&cfg, "/nonexistent/tally.ini", err), -ENOENT);
	unlink(path);
	/* --set */
	tl_run_config_default(&cfg);
	CHECK_EQ(tl_run_config_set(&cfg, "venue.symbol=ETHUSDT", err), 0);
	CHECK(!strcmp(cfg.symbol, "ETHUSDT"));
	CHECK_EQ(tl_run_config_set(&cfg, "strategy.spacing_ticks=2", err), -EINVAL);
	CHECK_EQ(tl_run_config_set(&cfg, "nodot=1", err), -EINVAL);
	CHECK_EQ(tl_run_config_set(&cfg, "venue.tls=maybe", err), -EINVAL);
	CHECK_EQ(tl_run_config_set(&cfg, "venue.base=ABCDEFGHIJKLMNOPQ", err), -EINVAL);
	/* checks: a venue without keys, decimals that do not fit */
	tl_run_config_default(&cfg);
	CHECK_EQ(tl_run_config_set(&cfg, "venue.host=venue.example", err), 0);
	CHECK_EQ(tl_run_config_set(&cfg, "venue.port=443", err), 0);
	CHECK_EQ(tl_run_config_check(&cfg, err), -EINVAL);
	tl_run_config_default(&cfg);
	cfg.scale.px_decimals = 5;
	cfg.scale.qty_decimals = 5;
	CHECK_EQ(tl_run_config_check(&cfg, err), -EINVAL);
	fclose(err);
}

/* Tick-to-trade runs to the first order a top causes: only that intent carries the top's
 * arrival (the user thread measures the engine's own part from it). */
static void test_t2t_origin(void)
{
	static struct strategy st;
	static struct sink out;
	struct tl_run_config cfg;

	tl_run_config_default(&cfg);
	start(&st, &out, &cfg);
	venue_ready(&st);
	CHECK_EQ(out.n_intents, 0); /* no book yet */
	top(&st, 6000000, 6000001);
	CHECK_EQ(out.n_intents, 2 * cfg.levels);
	CHECK_EQ(out.intents[0].ts_origin_ns, 1);
	for (size_t i = 1; i < out.n_intents; i++)
		CHECK_EQ(out.intents[i].ts_origin_ns, 0);
	/* places a top caused, every one of them, still count in the strategy's own t2t */
	CHECK_EQ(atomic_load(&g_ctr.t2t.count), 2 * cfg.levels);
}

int main(void)
{
	test_client_ids();
	test_quotes();
	test_places_budget();
	test_warm();
	test_t2t_origin();
	test_lifecycle();
	test_filled_and_limits();
	test_full_rings();
	test_config();
	printf("test_run_strategy: ok\n");
	return 0;
}
