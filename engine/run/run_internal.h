/*
 * run_internal.h: what engine/run's files share. Not part of the contract.
 *
 *   config.c    the configuration (tl_run.h)
 *   strategy.c  the quoting and order state machine: the strategy thread's logic, no I/O
 *   engine.c    the threads, the rings between them, start-up reconciliation, shutdown
 *   run_cli.c   `tally run`: arguments, the embedded sim, signals, status and summary
 *   trades.c    where the next page of the venue's trade history starts
 */
#ifndef TL_RUN_INTERNAL_H
#define TL_RUN_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "tl_event.h"
#include "tl_hist.h"
#include "tl_run.h"
#include "tl_venue.h"

__extension__ typedef __int128 run_i128;

#define RUN_SIDES 2
#define RUN_LEVELS_MAX 16

/* Wall-clock ms (CLOCK_REALTIME through the vDSO: no syscall), the venue's time base. */
static inline int64_t run_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- counters: one cache-line-aligned block per thread, read by others lock-free ---- */

/* Tick-to-trade in three legs, one histogram per thread, each written by its thread only:
 *   md.apply      a frame's bytes reaped from the socket -> its top published (parse, book)
 *   strat.react   the top published -> the first intent it caused published (a ring hop,
 *                 a wake)
 *   user.send     that intent published -> its request submitted (a ring hop, a wake, the
 *                 signature)
 * and user.internal, the whole of it. Only a top's first intent counts: tick-to-trade runs
 * to the first order frame a tick causes. */
struct md_counters {
	alignas(64) _Atomic uint64_t tops, tops_dropped, book_down;
	_Atomic uint64_t warms;         /* threads.warm_us passes */
	_Atomic int64_t bid_px, ask_px; /* the last top published */
	tl_hist_t apply;
};

struct user_counters {
	alignas(64) _Atomic uint64_t places, cancels, acks, rejects, unknowns, fills, settles_sent;
	_Atomic uint64_t ledger_applied, ledger_duplicates, ledger_rejected, ledger_failed;
	_Atomic uint64_t reconnects, send_errors, status_queries;
	_Atomic uint64_t cancels_presigned; /* cancels sent as signed when their order was */
	_Atomic uint64_t cancels_failed;    /* cancels the venue answered with an error */
	_Atomic uint64_t fills_ws, fills_rest, fills_dup, backfills;
	_Atomic uint64_t fills_recovered; /* at start-up, left by an earlier process */
	_Atomic uint64_t breaker_trips, throttled;
	_Atomic uint64_t warms;       /* threads.warm_us passes */
	_Atomic uint64_t adjustments; /* written by reconciliation while running */
	/* the order WebSocket's masking keys, drawn by a send or in an idle round (at close) */
	_Atomic uint64_t key_draws_in_send, key_draws_idle;
	_Atomic uint32_t open_orders; /* on the venue, as the user thread knows them */
	/* The engine's own tick-to-trade: a depth frame's bytes reaped on the md thread to the
	 * submission of the request its top caused, ns; and its last leg (above). */
	tl_hist_t internal, send;
};

struct strat_counters {
	alignas(64) _Atomic uint64_t intents, locks, unlocks, lock_rejects, throttled;
	_Atomic int64_t inventory;         /* lots bought - sold since start */
	_Atomic int64_t quote_delta_units; /* 10^-8 quote: sold - bought notional - fees */
	_Atomic uint32_t live_slots;
	_Atomic int64_t ref_px;
	_Atomic uint64_t warms; /* threads.warm_us passes */
	tl_hist_t t2t;          /* a top's arrival to the place it caused, ns */
	tl_hist_t react;        /* a top's publication to any intent it caused, ns */
};

/* ---- the strategy (strategy.c) ------------------------------------------------------ */

enum slot_state {
	SLOT_EMPTY = 0,
	SLOT_LOCKING,   /* strict orders: the LOCK is on its way; the order waits for its ack */
	SLOT_LIVE,      /* sent (acked or not) */
	SLOT_CANCELING, /* cancel sent */
	SLOT_RELEASING, /* the order is over; its UNLOCK waits for the ledger's ack */
};

struct slot {
	enum slot_state state;
	uint64_t order_seq;
	int64_t px, qty, filled;
	bool acked;
	bool ledger_pending; /* a LOCK or UNLOCK of this slot is not acked yet */
	bool lock_failed;
	bool settled_final; /* filled whole: the final TRADE_SETTLE released the rest */
	uint64_t pending_token;
};

/* What the strategy writes: the engine routes these. Return false when the ring is full
 * (the strategy tries again on its next pass). */
struct strat_out {
	bool (*intent)(void *ctx, const tl_event_t *ev);
	bool (*ledger)(void *ctx, const tl_ledger_cmd_t *cmd);
	/* True when the next ledger() call cannot fail: a fast order leaves before its LOCK
	 * is written, and only when the LOCK is sure to follow. */
	bool (*ledger_room)(void *ctx);
	void *ctx;
};

struct strategy {
	const struct tl_run_config *cfg;
	struct strat_out out;
	struct strat_counters *ctr;
	struct slot slots[RUN_SIDES][RUN_LEVELS_MAX];
	uint64_t next_order_seq;
	uint64_t next_token;
	/* the book */
	bool have_top;
	int64_t bid_px, bid_qty, ask_px, ask_qty;
	int64_t top_origin_ns, top_publish_ns;
	uint64_t top_update_id;
	bool top_fresh;    /* quoting in response to a top that just arrived */
	bool top_answered; /* ... and its first intent is out */
	bool venue_ready;
	bool quoting; /* false once stop was asked */
	bool stale;   /* the ledger and the venue disagree: paused until they agree again */
	bool cancel_all_sent;
	/* a budget of places: at most max_places_per_s */
	int64_t budget_window_ns;
	uint32_t budget_used;
	int64_t inventory;   /* lots */
	int64_t open_qty[2]; /* lots on the book (or on their way), by side */
};

/* order_seq: unique forever for this ledger: start wall time (ms) x 4096 + a counter. */
void strategy_init(struct strategy *st, const struct tl_run_config *cfg, struct strat_out out,
                   struct strat_counters *ctr, int64_t start_wall_ms);
void strategy_on_event(struct strategy *st, const tl_event_t *ev, int64_t now_ns);
void strategy_on_ack(struct strategy *st, const tl_ledger_ack_t *ack);
/*
 * A warm pass: the top the strategy last saw, moved by more than refresh_ticks (up and
 * down in turn), goes through a copy of it, `scratch`, whose intents, ledger commands and
 * counters (`scratch_ctr`) are dropped. So its quoting code and the lines of *st stay in
 * the caches while the market is quiet; *st itself is only read. Nothing when it has no
 * top yet. Thread: the strategy's (st is read whole).
 */
void strategy_warm(const struct strategy *st, struct strategy *scratch,
                   struct strat_counters *scratch_ctr, int64_t now_ns);
/* Periodic work: refresh, resend what a full ring refused. */
void strategy_tick(struct strategy *st, int64_t now_ns);
/* Pause (stale true) or resume quoting: while paused no order is placed and the live ones
 * are cancelled (the ledger_stale pause of DESIGN.md §6). */
void strategy_set_stale(struct strategy *st, bool stale);
/* Stop quoting: cancel everything. Then strategy_idle() says when every slot is empty. */
void strategy_stop(struct strategy *st);
bool strategy_idle(const struct strategy *st);

/* The client order id of an order: "tl-" and order_seq in base 36 (at most 16 chars). */
void run_client_order_id(uint64_t order_seq, char out[24]);
/* Its inverse; 0 when `id` is not one of ours. */
uint64_t run_order_seq_of(const char *id);

/* ---- the venue's trade history, page by page (trades.c) ----------------------------- */

/*
 * A read of myTrades from a point in time up to the present (start-up recovery, the
 * back-fill). Until it has read a trade it asks by time, in windows of at most 24 h (the
 * venue refuses longer ones, and a startTime alone means a day from it), one day after the
 * other; from the first trade read on it asks by id (fromId), which has no such limit. So a
 * span of any length is read whole: after a day without trades, say, the trades of the
 * next are not skipped. Times are the venue's clock (wall ms + the measured offset).
 * Thread: the owner's only. Blocks: no.
 */
#define RUN_TRADES_WINDOW_MS (24 * 3600 * 1000ll - 1)
struct run_trades_cursor {
	int64_t from_ms;  /* until a trade is read: where the next window starts */
	uint64_t last_id; /* the highest trade id read; 0: none yet */
	bool by_window;   /* the last query asked by time */
};
/* From `from_ms` (a value <= 0 counts as 1), or after trade `last_id` when it is not 0. */
void run_trades_start(struct run_trades_cursor *c, int64_t from_ms, uint64_t last_id);
/* The next page's query, `limit` trades at most (1..1000), for `symbol` (kept by pointer). */
void run_trades_query(struct run_trades_cursor *c, const char *symbol, uint32_t limit,
                      struct tl_venue_trades_req *q);
/* Notes a trade of the page read (every one, whatever its symbol). */
void run_trades_seen(struct run_trades_cursor *c, uint64_t trade_id);
/* After a page of n trades, each passed to run_trades_seen: true when another page must be
 * read (its query from run_trades_query), false when the history is read to the present. */
bool run_trades_more(struct run_trades_cursor *c, size_t n, uint32_t limit, int64_t venue_now_ms);

/* ---- reconciliation's view of one asset (drift.c) ----------------------------------- */

/*
 * When a difference between the venue and the ledger (venue - ledger, in 10^-8) may be
 * written as an ADJUSTMENT. A fill that is on its way (the venue has it, the ledger not
 * yet) makes a difference for a moment; money moved from outside makes one that stays.
 * So only a difference seen at least the window ago, nonzero at every look since, and the
 * same now, is adjusted: a fill in flight at the look that closes the window changes the
 * value of the moment, and is neither adjusted nor mistaken for the older difference.
 * Kept as the runs of equal values seen since the difference was last zero, oldest
 * first; the oldest are forgotten past RUN_DRIFT_RUNS (a difference that keeps changing
 * is then adjusted later, never wrongly). Thread: the owner's only. Blocks: no.
 */
#define RUN_DRIFT_RUNS 8
struct run_drift {
	struct {
		int64_t diff;     /* the run's difference */
		int64_t since_ns; /* when it was first seen */
	} runs[RUN_DRIFT_RUNS];
	uint32_t n; /* runs held; 0: no difference */
};
enum run_drift_verdict {
	RUN_DRIFT_NONE,   /* no difference */
	RUN_DRIFT_NEW,    /* a value not seen before: a back-fill may find its cause */
	RUN_DRIFT_WAIT,   /* seen before, not yet for the whole window */
	RUN_DRIFT_ADJUST, /* write `diff` as an ADJUSTMENT; the tracker starts afresh */
};
/* Notes the difference `diff` seen at now_ns, and says what to do about it. */
enum run_drift_verdict run_drift_observe(struct run_drift *d, int64_t diff, int64_t now_ns,
                                         int64_t window_ns);

/* ---- the engine (engine.c) ------------------------------------------------------------ */

struct engine;
/* Opens the ledger in ledger_dir and makes the rings. Returns 0 or an error (logged). */
int engine_create(struct engine **out, const struct tl_run_config *cfg, const char *ledger_dir,
                  int64_t start_wall_ms);
/* Reconciles the ledger with the venue (see engine.c), then starts the threads. */
int engine_start(struct engine *e);
/* Stops quoting, cancels everything, waits (bounded), joins, flushes the ledger, and reads
 * the venue's balances once more for the drift. */
void engine_stop(struct engine *e);
void engine_destroy(struct engine *e);
/* One JSON status line; the JSON summary. Thread: the main thread. */
void engine_status(struct engine *e, FILE *out);
void engine_summary(struct engine *e, FILE *out);
/* Compares the venue's balances with the ledger's (main thread, every few seconds). A
 * new difference asks the user thread for a back-fill; one that held the same value
 * through `window_ms` (run_drift_observe) is written as an ADJUSTMENT with its cause, and
 * quoting pauses until the two agree. */
void engine_reconcile(struct engine *e, uint32_t window_ms);
/* venue - ledger of base (0) or quote (1) at the end, in 10^-8; INT64_MIN when unknown. */
int64_t engine_drift(const struct engine *e, int asset);

#endif /* TL_RUN_INTERNAL_H */
