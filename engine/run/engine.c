/*
 * engine.c: the engine's threads and the rings between them (tl_run.h), start-up
 * reconciliation against the venue, and the orderly stop.
 *
 * DESIGN
 * ------
 * Rings (tl_event_t slots unless said):
 *   md -> strategy      tops; when full, a top is dropped (the next one supersedes it)
 *   strategy -> user    intents
 *   user -> strategy    order reports and the venue's state; never dropped (the user
 *                       thread waits for room)
 *   strategy -> ledger  LOCK / UNLOCK, a ledger port (acks back to the strategy)
 *   user -> ledger      TRADE_SETTLE, a ledger port (acks back to the user thread)
 * The strategy sleeps on a tl_wait over its three input rings. The io threads sleep in
 * io_uring, at most user_poll_us (user) or 50 ms (md) at a time, and check the stop flag
 * in between; the user thread's loop holds a tl_wait over the intent ring
 * (tl_io_loop_set_waiter), so an intent wakes it at once. Each thread's idle kind
 * (threads.*_idle) can trade a core for latency: yield or spin polls instead of sleeping.
 * The strategy queues its LOCK / UNLOCK quietly and wakes the ledger after the pass: a
 * wake-up is a syscall, and on a small box often a switch to the ledger thread, which
 * the order it reserves for should not wait behind.
 *
 * The md stage keeps its book top first (tl_md_sync_config.top_first): a depth event's
 * levels that cannot change the best bid or ask wait until its top has gone out, pushed to
 * the strategy or, fused, its orders submitted (md_settle).
 *
 * Layout fused (threads.layout): the md, strategy and user stages take turns on one
 * thread and one io_uring (fused_main), through the same rings, every ring's waiter being
 * that loop's. The user stage's order reports cannot then wait for room in the report
 * ring (nobody else would drain it): a full ring runs the strategy stage in place.
 *
 * Start-up (main thread, before any quoting): the ledger is opened; the venue's open
 * orders for the symbol are cancelled (a previous run may have left some); the venue's
 * balances are read (account.status); the assets and the account are registered; what an
 * earlier process left is recovered (its reservations released, the fills it never
 * settled read from myTrades: recover()); then the ledger is brought to the venue's
 * balances: an asset the ledger has never seen is credited with the venue's balance
 * (DEPOSIT_CREDIT, key genesis:<asset>); one it holds at another amount gets an ADJUSTMENT
 * with that cause. All of it through the ledger's own port and acks, so the books agree
 * before the first quote.
 *
 * Stop: the strategy stops quoting and cancels everything; the engine waits (at most
 * shutdown_wait_ms) until every order is over and every UNLOCK acked; then the user and
 * md threads end, the ledger drains and syncs, and the venue's balances are compared with
 * the ledger's: the drift per asset goes into the summary.
 */
#include "run_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tl_io.h"
#include "tl_log.h"
#include "tl_venue.h"
#include "tl_venue_session.h"

#define REQS_MAX 4096 /* requests in flight the user thread keeps track of */
#define MD_WAIT_NS 50000000
#define RUN_T2T_ID_SHIFT 24    /* run.t2t_ids: id = update id << 24 | counter (tl_sim_server.h) */
#define STRAT_TICK_NS 10000000 /* the strategy's tick clock: refresh, resends, timeouts */
#define SEEN_MAX 65536         /* trade ids remembered (a power of two) */
#define LINKS_MAX 16384        /* venue order ids remembered (a power of two) */
#define TRADES_PAGE 1000       /* myTrades' largest page */
#define MY_TRADES_WEIGHT 20    /* its REQUEST_WEIGHT (Binance, without orderId) */
/* A back-fill that failed is tried again after 1 s, then 2, 4... up to 30 s: a venue that
 * fails or refuses is not asked again at once, in a loop. */
#define BACKFILL_RETRY_NS 1000000000ll
#define BACKFILL_RETRY_MAX_NS 30000000000ll
/* Start-up recovery and the back-fill read myTrades from at least this long before the
 * start (recover()). */
#define RECOVERY_LOOKBACK_MS 60000
/* ... and from at most this long before it: a running engine reconciles every few seconds,
 * so a fill older than a week was settled or adjusted by it; an order number older than
 * that is not an engine's (`tally ledger apply` takes any), or its run was long over. */
#define RECOVERY_MAX_MS (7 * 24 * 3600 * 1000ll)
/* Times from earlier processes are their wall clocks; the venue stamps trades with its own,
 * estimated here as ours plus the offset measured now. A margin covers the difference. */
#define RECOVERY_MARGIN_MS 5000

enum req_kind { REQ_NONE = 0, REQ_PLACE, REQ_CANCEL, REQ_STATUS, REQ_CANCEL_ALL };

struct req {
	uint64_t id;
	uint64_t order_seq;
	enum req_kind kind;
	bool limited; /* let through by the rate limiter: its answer is folded in */
};

/*
 * Pre-signed cancels. Right after an order leaves, the user stage builds and signs its
 * cancel with id 0, and keeps it here by order. When the strategy cancels that order, the
 * request goes out as it is, given its id (tl_venue_request_with_id): the build and the
 * HMAC, about half of the cancel's time on the hot path (0.5 of 1.0 us here), were paid
 * while nothing waited. A cancel whose timestamp is older than PRECANCEL_MAX_AGE_MS is
 * built afresh: the venue refuses a timestamp older than recvWindow (5 s by default). Each
 * one is used once; the slot of an order is overwritten by a later order's.
 */
#define PRECANCEL_SLOTS 16
#define PRECANCEL_MAX_AGE_MS 2000
#define PRECANCEL_MAX 512

struct precancel {
	uint64_t order_seq; /* 0: empty */
	int64_t signed_ms;  /* its timestamp, the venue's clock */
	uint32_t len;
	char req[PRECANCEL_MAX]; /* built with id 0 */
};

/* The circuit breaker's thresholds (DESIGN.md §6): refusals trip it sooner than network
 * trouble; a rate limit trips it at once, for as long as the venue says. */
#define BREAKER_REJECTS 5       /* refusals ... */
#define BREAKER_REJECTS_NS 10e9 /* ... within 10 s */
#define BREAKER_DROPS 3         /* lost connections ... */
#define BREAKER_DROPS_NS 60e9   /* ... within a minute */
#define BREAKER_COOLDOWN_NS 5e9 /* the shortest pause */

struct engine {
	struct tl_run_config cfg;
	char ledger_dir[TL_RUN_TEXT_MAX + 1];
	int64_t start_wall_ms;

	tl_ledger_t *ledger;
	tl_ledger_port_t *boot_port, *strat_port, *user_port;
	uint32_t asset_base, asset_quote, account_id;

	tl_ring_t *md_ring, *intent_ring, *report_ring;
	tl_wait_t strat_wait; /* split: the strategy thread's */
	/* The intent ring's, woken through its eventfd in the user loop; fused, every ring's */
	tl_wait_t user_wait;
	bool user_wait_open; /* its eventfd is open: closed once every thread is joined */
	tl_venue_signer_t *signer;
	struct tl_venue_instrument inst;

	pthread_t md_thread, user_thread, strat_thread; /* fused: md_thread runs all three */
	struct strat_stage *fused_strat; /* fused: the strategy, for the hot thread only */
	bool md_running, user_running, strat_running;
	_Atomic int stop_md, stop_user, stop_strat;
	_Atomic int quoting_stop;     /* ask the strategy to stop quoting */
	_Atomic int strat_idle;       /* the strategy has nothing open */
	_Atomic int ledger_stale;     /* set by engine_reconcile: the strategy pauses */
	_Atomic int backfill_request; /* engine_reconcile asks the user thread for one */
	/* The main thread's account.status calls, on its own connection, not yet counted by
	 * the limiter's owner (limiter_take_outside). */
	_Atomic uint32_t account_calls;
	struct run_drift drift[2];        /* engine_reconcile: base's and quote's differences */
	int64_t reconcile_quiet_until_ns; /* engine_reconcile: a refusal's wait */

	struct md_counters md_ctr;
	struct user_counters user_ctr;
	struct strat_counters strat_ctr;

	/* the user thread's own state */
	tl_io_loop_t *user_loop; /* the loop its session and REST client are on */
	tl_venue_session_t *session;
	struct req reqs[REQS_MAX];
	struct precancel precancel[PRECANCEL_SLOTS]; /* by order_seq % PRECANCEL_SLOTS */
	tl_http_client_t *http;
	/* Trade ids already passed on (a fill may come twice: a duplicated event, the
	 * WebSocket and the back-fill): open addressing, the oldest evicted in FIFO order. */
	uint64_t *seen, *seen_fifo;
	uint32_t seen_head;
	/* The back-fill's place in the trade history. Its high-water mark (last_id): every
	 * trade up to it is known. It moves only forward, and only through the REST history
	 * (see on_trades). Start-up recovery leaves it where its own read ended. */
	struct run_trades_cursor trades_at;
	/* venue order id -> order_seq, for back-filled trades (which name the venue's id) */
	struct order_link {
		uint64_t order_id, order_seq;
	} * links;
	bool backfill_wanted, backfill_running;
	int64_t backfill_not_before_ns; /* after a failure, or while the limiter says wait */
	uint32_t backfill_failures;     /* in a row */
	struct tl_venue_limiter limiter;
	/* the circuit breaker: recent refusals and drops, and the pause a trip started */
	int64_t reject_ns[BREAKER_REJECTS], drop_ns[BREAKER_DROPS];
	uint32_t reject_i, drop_i;
	int64_t paused_until_ns; /* 0: not paused */
	bool session_ready;
	uint64_t done_after_backfill[64]; /* orders to report over once the back-fill is in */
	uint32_t n_done_after;
	struct tl_venue_trade trades[TRADES_PAGE];

	int64_t clock_offset_ms; /* venue clock - wall clock, measured at start */

	/* start and end balances (10^-8), for the summary */
	int64_t venue_start[2], venue_end[2], ledger_end[2];
	bool have_end;
};

/* ======================================================================================
 * One blocking call to the venue, for start-up and the end (main thread only)
 * ====================================================================================== */

struct oneshot {
	uint64_t id;
	const char *req;
	size_t req_len;
	char *answer;
	size_t answer_len, cap;
	bool open, done;
};

static void oneshot_open(tl_ws_client_t *ws, void *user)
{
	struct oneshot *o = user;

	o->open = true;
	tl_ws_client_send(ws, TL_WS_OP_TEXT, o->req, o->req_len);
}

static void oneshot_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data,
                            size_t len)
{
	struct oneshot *o = user;
	struct tl_venue_parse_config pc;
	struct tl_venue_msg m;

	(void)ws;
	(void)op;
	tl_venue_parse_config_default(&pc);
	if (tl_venue_parse(&pc, (const char *)data, len, &m) != 0 ||
	    m.kind != TL_VENUE_MSG_RESPONSE || !m.response.has_id || m.response.id != o->id)
		return;
	o->answer_len = len < o->cap ? len : o->cap - 1;
	memcpy(o->answer, data, o->answer_len);
	o->answer[o->answer_len] = '\0';
	o->done = true;
}

static void ws_config(const struct engine *e, struct tl_ws_client_config *wc)
{
	tl_ws_client_config_default(wc);
	wc->conn.tls = e->cfg.tls;
	wc->conn.ca_file = e->cfg.ca_file[0] ? e->cfg.ca_file : NULL;
	wc->host = e->cfg.host;
	wc->port = e->cfg.port;
}

/* Signed requests carry the venue's time as we estimate it (PROTOCOL.md: -1021 outside
 * recvWindow): the wall clock plus the offset measured at start. */
static void http_config(const struct engine *e, struct tl_http_client_config *hc)
{
	tl_http_client_config_default(hc);
	hc->conn.tls = e->cfg.tls;
	hc->conn.ca_file = e->cfg.ca_file[0] ? e->cfg.ca_file : NULL;
	hc->host = e->cfg.host;
	hc->port = e->cfg.port;
}

/* Polls `loop` until *done, an error, or `end_ns`. Returns 0, -ETIMEDOUT or the error. */
static int poll_until(tl_io_loop_t *loop, const bool *done, uint64_t end_ns)
{
	int rc = 0;

	while (!*done && tl_io_now_ns() < end_ns)
		if ((rc = tl_io_loop_poll(loop, 20000000)) < 0)
			return rc;
	return *done ? 0 : -ETIMEDOUT;
}

/*
 * One step of waiting for a closing client to let go of `loop`: true after a poll of the
 * sockets, false (with a warning naming `what`) once CLOSE_WAIT_NS have passed since
 * start_ns. The wait is bounded by time, not by polls: a WebSocket's close waits up to
 * its close timeout (2 s) for the peer, and a count of polls runs out early whenever
 * other completions keep coming. Sockets only (tl_io_loop_poll_sockets): rings that are
 * no longer drained would make every poll return at once.
 */
#define CLOSE_WAIT_NS 3000000000ull
static bool close_wait(tl_io_loop_t *loop, uint64_t start_ns, const char *what)
{
	if (tl_io_now_ns() - start_ns >= CLOSE_WAIT_NS) {
		tl_log(TL_LOG_WARNING, "run", "%s: still closing after %llu s; left as it is", what,
		       CLOSE_WAIT_NS / 1000000000ull);
		return false;
	}
	tl_io_loop_poll_sockets(loop, 5000000);
	return true;
}

/* The venue's clock as we estimate it: the wall clock plus the offset measured at start. */
static int64_t venue_now_ms(const struct engine *e)
{
	return run_wall_ms() + e->clock_offset_ms;
}

static struct tl_venue_auth auth_now(const struct engine *e)
{
	return (struct tl_venue_auth){e->signer, e->cfg.api_key, venue_now_ms(e), 0};
}

/* Sends one request (built with id 1) on a fresh connection and waits for its answer, at
 * most 10 s. Returns 0 and the answer's text in buf, or a negative errno. */
static int venue_call(const struct engine *e, const char *req, size_t len, char *buf, size_t cap)
{
	static const struct tl_ws_client_ops ops = {.on_open = oneshot_open,
	                                            .on_message = oneshot_message};
	struct oneshot o = {.id = 1, .req = req, .req_len = len, .answer = buf, .cap = cap};
	struct tl_io_loop_config lc;
	struct tl_ws_client_config wc;
	tl_io_loop_t *loop;
	tl_ws_client_t *ws;
	uint64_t end = tl_io_now_ns() + 10000000000ull;
	int rc;

	tl_io_loop_config_default(&lc);
	if ((rc = tl_io_loop_create(&loop, &lc)))
		return rc;
	ws_config(e, &wc);
	wc.path = "/ws-api/v3";
	wc.reconnect = false;
	if ((rc = tl_ws_client_create(&ws, loop, &wc, &ops, &o))) {
		tl_io_loop_destroy(loop);
		return rc;
	}
	rc = tl_ws_client_connect(ws);
	if (!rc)
		rc = poll_until(loop, &o.done, end);
	if (tl_ws_client_is_open(ws))
		tl_ws_client_close(ws, 1000, "done");
	for (uint64_t t0 = tl_io_now_ns();
	     tl_ws_client_destroy(ws) == -EBUSY && close_wait(loop, t0, "venue call");)
		;
	tl_io_loop_destroy(loop);
	return rc;
}

/*
 * The venue's clock against ours: the WS API's `time`, answered between our send and our
 * receipt, is taken to be at their midpoint. Three tries, the one with the shortest round
 * trip wins. Sets e->clock_offset_ms; returns 0 or the last error.
 */
static int measure_clock(struct engine *e)
{
	static const char req[] = "{\"id\":1,\"method\":\"time\"}";
	int64_t best_rtt = INT64_MAX;
	int rc = -EIO;

	for (int i = 0; i < 3; i++) {
		char answer[512], *p, *end;
		int64_t t0 = run_wall_ms(), t1, server;

		if ((rc = venue_call(e, req, sizeof(req) - 1, answer, sizeof(answer))))
			continue;
		t1 = run_wall_ms();
		p = strstr(answer, "\"serverTime\":");
		if (!p) {
			rc = -EPROTO;
			continue;
		}
		errno = 0;
		server = strtoll(p + 13, &end, 10);
		if (errno || end == p + 13 || server <= 0) {
			rc = -EPROTO;
			continue;
		}
		if (t1 - t0 < best_rtt) {
			best_rtt = t1 - t0;
			e->clock_offset_ms = server - (t0 + t1) / 2;
		}
	}
	if (best_rtt == INT64_MAX)
		return rc;
	if (e->clock_offset_ms > 500 || e->clock_offset_ms < -500)
		tl_log(TL_LOG_WARNING, "run",
		       "the venue's clock is %" PRId64 " ms %s ours: corrected",
		       e->clock_offset_ms > 0 ? e->clock_offset_ms : -e->clock_offset_ms,
		       e->clock_offset_ms > 0 ? "ahead of" : "behind");
	return 0;
}

#define ACCOUNT_STATUS_WEIGHT 20 /* its REQUEST_WEIGHT (Binance) */

/* The venue's account.status into *pos. A refusal (a rate limit, say) returns -EAGAIN,
 * with the venue's wait (0: not said) in *retry_ms. */
static int account_status(struct engine *e, struct tl_venue_account_position *pos,
                          int64_t *retry_ms)
{
	static char answer[1 << 16];
	struct tl_venue_auth a = auth_now(e);
	struct tl_venue_parse_config pc;
	struct tl_venue_msg m;
	char req[1024], ts[32];
	struct tl_venue_param p[2] = {{"apiKey", e->cfg.api_key, true}, {"timestamp", ts, false}};
	ssize_t n;
	int rc;

	snprintf(ts, sizeof(ts), "%" PRId64, a.timestamp_ms);
	n = tl_venue_build_signed(req, sizeof(req), 1, "account.status", p, 2, e->signer);
	if (n < 0)
		return (int)n;
	rc = venue_call(e, req, (size_t)n, answer, sizeof(answer));
	/* Sent or not, it may have reached the venue: counted, as the limiter counts a lost
	 * request. */
	atomic_fetch_add_explicit(&e->account_calls, 1, memory_order_relaxed);
	if (rc)
		return rc;
	tl_venue_parse_config_default(&pc);
	if (tl_venue_parse(&pc, answer, strlen(answer), &m) == 0 &&
	    m.kind == TL_VENUE_MSG_RESPONSE && m.response.status != 200) {
		tl_log(TL_LOG_WARNING, "run", "account.status refused: HTTP %d, code %d",
		       m.response.status, m.response.error_code);
		*retry_ms = m.response.retry_wait_ms;
		return -EAGAIN;
	}
	if ((rc = tl_venue_parse_account(&pc, answer, strlen(answer), pos)))
		tl_log(TL_LOG_ERR, "run", "account.status: unexpected answer: %.200s", answer);
	return rc;
}

/*
 * The venue's free + locked of base and quote, in 10^-8. A refusal (a rate limit, say) is
 * asked again up to `tries` times in all, after the venue's wait, or when it says none
 * after 0.5 s, 1, 2, 4, 8 (a client that does not back off after a 429 gets banned: 418).
 * Returns 0, or the error; *retry_ms gets the wait after a last refusal.
 */
#define BALANCES_RETRY_MS 500
#define BALANCES_RETRY_MAX_MS 8000
static int venue_balances(struct engine *e, int64_t out[2], int tries, int64_t *retry_ms)
{
	struct tl_venue_account_position pos;
	int rc;

	*retry_ms = 0;
	for (int attempt = 1;; attempt++) {
		int64_t wait = BALANCES_RETRY_MS << (attempt < 5 ? attempt - 1 : 4);

		rc = account_status(e, &pos, retry_ms);
		if (rc != -EAGAIN || attempt >= tries)
			break;
		if (*retry_ms > wait)
			wait =
			    *retry_ms < BALANCES_RETRY_MAX_MS ? *retry_ms : BALANCES_RETRY_MAX_MS;
		nanosleep(&(struct timespec){wait / 1000, wait % 1000 * 1000000}, NULL);
	}
	if (rc)
		return rc;
	out[0] = out[1] = 0;
	for (uint32_t i = 0; i < pos.n_balances; i++) {
		const struct tl_venue_balance *b = &pos.balances[i];

		if (!strcmp(b->asset, e->cfg.base))
			out[0] = b->free_units + b->locked_units;
		else if (!strcmp(b->asset, e->cfg.quote))
			out[1] = b->free_units + b->locked_units;
	}
	return 0;
}

/* ======================================================================================
 * Start-up: the ledger meets the venue
 * ====================================================================================== */

static tl_ledger_ack_t boot_call(struct engine *e, tl_ledger_cmd_t *c)
{
	tl_ledger_ack_t ack;

	tl_ledger_port_call(e->boot_port, c, &ack);
	return ack;
}

static int register_names(struct engine *e)
{
	const char *assets[2] = {e->cfg.base, e->cfg.quote};
	tl_ledger_cmd_t c;
	tl_ledger_ack_t a;

	for (int i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		c.type = TL_LEDGER_ASSET_DEFINE;
		c.decimals = 8; /* the venue's balances are at 8 decimals */
		snprintf(c.asset, sizeof(c.asset), "%s", assets[i]);
		snprintf(c.key, sizeof(c.key), "define:%s", assets[i]);
		a = boot_call(e, &c);
		if (a.status == TL_LEDGER_FAILED ||
		    (a.status == TL_LEDGER_REJECTED && a.reason != TL_LEDGER_R_EXISTS)) {
			tl_log(TL_LOG_ERR, "run", "ledger: cannot define %s: %s", assets[i],
			       tl_ledger_reason_name(a.reason));
			return -EIO;
		}
	}
	memset(&c, 0, sizeof(c));
	c.type = TL_LEDGER_ACCOUNT_OPEN;
	snprintf(c.account, sizeof(c.account), "%s", e->cfg.account);
	snprintf(c.key, sizeof(c.key), "open:%s", e->cfg.account);
	a = boot_call(e, &c);
	if (a.status == TL_LEDGER_FAILED ||
	    (a.status == TL_LEDGER_REJECTED && a.reason != TL_LEDGER_R_EXISTS))
		return -EIO;
	if (tl_ledger_asset_find(e->ledger, e->cfg.base, &e->asset_base, NULL) ||
	    tl_ledger_asset_find(e->ledger, e->cfg.quote, &e->asset_quote, NULL) ||
	    tl_ledger_account_find(e->ledger, e->cfg.account, &e->account_id))
		return -EIO;
	return 0;
}

static int64_t ledger_total(const struct engine *e, uint32_t asset, bool *known)
{
	tl_ledger_balance_t b;

	*known = tl_ledger_balance_read(e->ledger, e->account_id, asset, &b) == 0;
	return *known ? b.available + b.locked : 0;
}

/* Brings the ledger to the venue's balances (see the top). */
static int reconcile_start(struct engine *e)
{
	const char *assets[2] = {e->cfg.base, e->cfg.quote};
	uint32_t ids[2] = {e->asset_base, e->asset_quote};

	for (int i = 0; i < 2; i++) {
		bool known;
		int64_t have = ledger_total(e, ids[i], &known), want = e->venue_start[i];
		tl_ledger_cmd_t c;
		tl_ledger_ack_t a;

		if (known && have == want)
			continue;
		memset(&c, 0, sizeof(c));
		snprintf(c.account, sizeof(c.account), "%s", e->cfg.account);
		snprintf(c.asset, sizeof(c.asset), "%s", assets[i]);
		c.ts_ms = e->start_wall_ms;
		if (!known && want > 0) {
			c.type = TL_LEDGER_DEPOSIT_CREDIT;
			c.amount = (tl_ledger_dec_t){want, 8, 0};
			snprintf(c.key, sizeof(c.key), "genesis:%s", assets[i]);
		} else if (known) {
			c.type = TL_LEDGER_ADJUSTMENT;
			c.amount = (tl_ledger_dec_t){want - have, 8, 0};
			snprintf(c.key, sizeof(c.key), "adj:start:%" PRId64 ":%s", e->start_wall_ms,
			         assets[i]);
			snprintf(c.reason, sizeof(c.reason),
			         "start: the venue holds %" PRId64 " and the ledger %" PRId64, want,
			         have);
			tl_log(TL_LOG_WARNING, "run",
			       "%s: the ledger (%" PRId64 ") differs from the venue (%" PRId64
			       "): ADJUSTMENT written",
			       assets[i], have, want);
		} else {
			continue;
		}
		a = boot_call(e, &c);
		if (a.status != TL_LEDGER_APPLIED && a.status != TL_LEDGER_DUPLICATE) {
			tl_log(TL_LOG_ERR, "run", "ledger: start-up %s of %s: %s %s",
			       tl_ledger_cmd_type_name(c.type), assets[i],
			       tl_ledger_status_name(a.status), tl_ledger_reason_name(a.reason));
			return -EIO;
		}
	}
	return 0;
}

/* How long an idle yield or spin io thread watches its input ring between polls. */
#define IO_RING_WATCH_NS 20000

/* One wait of an io thread, by its idle kind: block sleeps in io_uring for at most
 * block_ns (woken by its sockets, and by its rings when the loop has a waiter); yield
 * polls without sleeping, and gives the CPU away after a round that found nothing; spin
 * only polls. Returns what tl_io_loop_poll returns, or 0 at once when `watch` (the
 * thread's input ring, or NULL) became readable.
 * Yield and spin first watch `watch` for a while after an idle round: a poll and a yield
 * are syscalls (several us each on a virtual machine), and an intent should not wait for
 * them. */
static int io_wait(tl_io_loop_t *loop, tl_idle_kind_t kind, bool idle_round, int64_t block_ns,
                   tl_ring_t *watch)
{
	if (kind == TL_IDLE_BLOCK)
		return tl_io_loop_poll(loop, block_ns);
	if (idle_round && watch) {
		int64_t until = tl_mono_ns() + IO_RING_WATCH_NS;

		do {
			for (int i = 0; i < 64; i++) {
				if (tl_ring_readable(watch))
					return 0;
				tl_cpu_relax();
			}
		} while (tl_mono_ns() < until);
	}
	if (kind == TL_IDLE_YIELD && idle_round)
		sched_yield();
	return tl_io_loop_poll(loop, 0);
}

/* ======================================================================================
 * md thread
 * ====================================================================================== */

struct md_ctx {
	struct engine *e;
	tl_io_loop_t *loop;
	tl_md_feed_t *feed;
	char path[96]; /* the depth stream's path: the feed keeps a pointer to it */
	int64_t bid_px, bid_qty, ask_px, ask_qty;
	bool live;
	bool warm_failed; /* md_warm: no more passes */
};

static void md_push(struct md_ctx *m, tl_event_t *ev)
{
	ev->ts_publish_ns = tl_mono_ns();
	if (ev->ts_origin_ns)
		tl_hist_record(&m->e->md_ctr.apply,
		               (uint64_t)(ev->ts_publish_ns - ev->ts_origin_ns));
	if (tl_ring_try_push(m->e->md_ring, ev))
		atomic_fetch_add_explicit(&m->e->md_ctr.tops, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&m->e->md_ctr.tops_dropped, 1, memory_order_relaxed);
}

static void md_on_book(tl_md_feed_t *feed, void *user, uint64_t update_id, const tl_book_t *book)
{
	struct md_ctx *m = user;
	struct tl_book_level b = {0}, a = {0};
	tl_event_t ev;

	(void)feed;
	tl_book_best(book, TL_BOOK_BID, &b);
	tl_book_best(book, TL_BOOK_ASK, &a);
	m->live = true;
	if (b.px.v == m->bid_px && b.qty.v == m->bid_qty && a.px.v == m->ask_px &&
	    a.qty.v == m->ask_qty)
		return;
	m->bid_px = b.px.v;
	m->bid_qty = b.qty.v;
	m->ask_px = a.px.v;
	m->ask_qty = a.qty.v;
	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_TOP;
	/* Tick-to-trade starts when the frame's bytes came off the socket, not now. */
	ev.ts_origin_ns = (int64_t)tl_io_loop_batch_ns(m->loop);
	ev.payload.top.bid_px = b.px.v;
	ev.payload.top.bid_qty = b.qty.v;
	ev.payload.top.ask_px = a.px.v;
	ev.payload.top.ask_qty = a.qty.v;
	ev.payload.top.update_id = update_id;
	atomic_store_explicit(&m->e->md_ctr.bid_px, b.px.v, memory_order_relaxed);
	atomic_store_explicit(&m->e->md_ctr.ask_px, a.px.v, memory_order_relaxed);
	md_push(m, &ev);
}

/* The md stage on m->loop: subscribes to the depth stream and keeps the book. Returns 0
 * or an error (logged). */
static int md_open(struct md_ctx *m)
{
	struct engine *e = m->e;
	struct tl_md_feed_config fc;
	int rc;

	tl_md_feed_config_default(&fc);
	fc.symbol = e->cfg.symbol;
	ws_config(e, &fc.ws);
	fc.ws.ping_interval_ns = 0;
	fc.ws.max_msg_bytes = 1u << 20;
	/* Fused, the order-entry connection shares this loop: a depth frame is read, and the
	 * orders it causes sent, before the user data that came with it (tl_io.h). */
	fc.ws.conn.urgent = true;
	snprintf(m->path, sizeof(m->path), "/ws/%s@depth@100ms", e->inst.symbol);
	for (char *p = m->path; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	fc.ws.path = m->path;
	fc.rest.conn.tls = e->cfg.tls;
	fc.rest.conn.ca_file = fc.ws.conn.ca_file;
	fc.rest.host = e->cfg.host;
	fc.rest.port = e->cfg.port;
	fc.scale = e->cfg.scale;
	/* Only the top is read here (md_on_book): the rest of an event waits for md_settle. */
	fc.sync.top_first = true;
	if ((rc = tl_md_feed_create(&m->feed, m->loop, &fc, md_on_book, m)) ||
	    (rc = tl_md_feed_start(m->feed))) {
		tl_log(TL_LOG_ERR, "run", "md: feed: %s", tl_strerror(rc));
		return rc;
	}
	return 0;
}

/* Once the top an event gave has gone out (pushed to the strategy, or fused, its orders
 * submitted): the rest of the event goes into the book (tl_md_feed_settle). */
static void md_settle(struct md_ctx *m)
{
	if (m->feed)
		tl_md_feed_settle(m->feed);
}

/* After each poll of the md stage's loop: a book that went down is told to the strategy. */
/*
 * threads.warm_us: true, and *last_ns moved on, when the thread's round found nothing to do
 * and its last warm pass is at least warm_us old. A depth event after 100 ms of quiet cost
 * about 8 us to parse and apply, and its order about 9 us to build and sign, against about
 * 3 us each warm (README, tick-to-trade): the pass keeps that code and its tables cached,
 * for a few microseconds of CPU per warm_us.
 */
static bool warm_due(const struct engine *e, int work, int64_t *last_ns)
{
	int64_t now;

	if (work || !e->cfg.warm_us)
		return false;
	now = tl_mono_ns();
	if (now - *last_ns < (int64_t)e->cfg.warm_us * 1000)
		return false;
	*last_ns = now;
	return true;
}

/*
 * A hot thread's idle round, for the stages it runs: what the next event touches first is
 * asked into the cache (tl_md_feed_idle, tl_venue_session_idle, the rings' next slots).
 * Frames come tens of milliseconds apart, and in between a shared machine's other work
 * evicts those lines: each miss then fell inside the reaction. Every idle round, not only
 * every warm_us: a few dozen hints, which neither wait for memory nor change anything.
 */
enum { STAGE_MD = 1, STAGE_STRATEGY = 2, STAGE_USER = 4 };

static void idle_prefetch(struct engine *e, tl_md_feed_t *feed, const struct strategy *st,
                          unsigned stages)
{
	if (stages & STAGE_MD) {
		if (feed)
			tl_md_feed_idle(feed);
		tl_ring_prefetch_push(e->md_ring);
	}
	if (stages & STAGE_STRATEGY) {
		if (st)
			tl_prefetch(st, sizeof(*st), true);
		tl_ring_prefetch_pop(e->md_ring);
		tl_ring_prefetch_push(e->intent_ring);
		tl_ring_prefetch_pop(e->report_ring);
	}
	if (stages & STAGE_USER) {
		if (e->session)
			tl_venue_session_idle(e->session);
		tl_ring_prefetch_pop(e->intent_ring);
		tl_ring_prefetch_push(e->report_ring);
	}
}

/* The md half of a warm pass: a canned depth event through the feed's parser and into a
 * scratch book (tl_md_feed_warm); the feed's own book is not touched. */
static void md_warm(struct md_ctx *m)
{
	int rc;

	if (!m->feed || m->warm_failed)
		return;
	if ((rc = tl_md_feed_warm(m->feed))) {
		m->warm_failed = true; /* the canned event is ours: a bug, said once */
		tl_log(TL_LOG_WARNING, "run", "md: warm pass: %s; no more of them",
		       tl_strerror(rc));
		return;
	}
	atomic_fetch_add_explicit(&m->e->md_ctr.warms, 1, memory_order_relaxed);
}

static void md_check(struct md_ctx *m)
{
	tl_event_t ev;

	if (!m->live || tl_md_feed_state(m->feed) == TL_MD_LIVE)
		return;
	m->live = false;
	m->bid_px = m->ask_px = 0;
	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_BOOK_DOWN;
	atomic_fetch_add_explicit(&m->e->md_ctr.book_down, 1, memory_order_relaxed);
	md_push(m, &ev);
}

static void md_close(struct md_ctx *m)
{
	if (!m->feed)
		return;
	tl_md_feed_stop(m->feed);
	for (uint64_t t0 = tl_io_now_ns();
	     tl_md_feed_destroy(m->feed) == -EBUSY && close_wait(m->loop, t0, "md feed");)
		;
	m->feed = NULL;
}

static void *md_main(void *arg)
{
	struct engine *e = arg;
	struct md_ctx m = {.e = e};
	struct tl_io_loop_config lc;
	/* Blocked, it wakes at least every warm_us for its warm pass. */
	int64_t wait_ns = e->cfg.warm_us && e->cfg.warm_us * 1000ll < MD_WAIT_NS
	                      ? e->cfg.warm_us * 1000ll
	                      : MD_WAIT_NS;
	int64_t warm_ns = 0;
	int rc;

	tl_thread_name_self("tally-md");
	if (e->cfg.cpu_md >= 0 && tl_thread_pin_self(e->cfg.cpu_md))
		tl_log(TL_LOG_WARNING, "run", "md: cannot pin to CPU %d", e->cfg.cpu_md);
	tl_io_loop_config_default(&lc);
	lc.busy_poll = e->cfg.md_idle != TL_IDLE_BLOCK;
	if ((rc = tl_io_loop_create(&m.loop, &lc))) {
		tl_log(TL_LOG_ERR, "run", "md: io loop: %s", tl_strerror(rc));
		return NULL;
	}
	if (md_open(&m) == 0) {
		for (rc = 1; !atomic_load_explicit(&e->stop_md, memory_order_relaxed);) {
			if ((rc = io_wait(m.loop, e->cfg.md_idle, rc == 0, wait_ns, NULL)) < 0) {
				tl_log(TL_LOG_ERR, "run", "md: io loop: %s", tl_strerror(rc));
				break;
			}
			md_settle(&m);
			md_check(&m);
			if (!rc)
				idle_prefetch(e, m.feed, NULL, STAGE_MD);
			if (warm_due(e, rc, &warm_ns))
				md_warm(&m);
		}
	}
	md_close(&m);
	tl_io_loop_destroy(m.loop);
	return NULL;
}

/* ======================================================================================
 * user thread
 * ====================================================================================== */

/* The user half of a warm pass: builds and signs an order and a cancel as do_intent does,
 * and frames and masks the order as the WebSocket client would, into buffers that are then
 * dropped: nothing is sent, no id or limit is used. */
static void user_warm(struct engine *e)
{
	static const uint8_t mask_key[4] = {1, 2, 3, 4};
	char buf[1024];
	uint8_t frame[TL_WS_HEADER_MAX + sizeof(buf)];
	struct tl_venue_auth a = auth_now(e);
	struct tl_venue_order_req q = {.symbol = e->cfg.symbol,
	                               .client_order_id = "warm",
	                               .side = TL_VENUE_BUY,
	                               .type = TL_VENUE_LIMIT_MAKER,
	                               .px = {1},
	                               .qty = {1},
	                               .scale = e->cfg.scale,
	                               .resp_type = TL_VENUE_RESP_ACK};
	struct tl_venue_order_ref ref = {.symbol = e->cfg.symbol, .orig_client_order_id = "warm"};
	ssize_t n = tl_venue_build_order_place(buf, sizeof(buf), 1, &a, &q);

	if (n <= 0 || tl_venue_build_order_cancel(buf, sizeof(buf), 1, &a, &ref) <= 0)
		return;
	size_t hdr = tl_ws_header_write(frame, TL_WS_OP_TEXT, true, (uint64_t)n, mask_key);
	tl_ws_mask(frame + hdr, (const uint8_t *)buf, (size_t)n, mask_key, 0);
	atomic_fetch_add_explicit(&e->user_ctr.warms, 1, memory_order_relaxed);
}

/*
 * A request has been queued on the session. The first one a top caused (the intent
 * carries the top's arrival) leaves at once, ahead of whatever else the same pass sends:
 * the pass's other requests (about 1.5 us each to build and sign, more when cold) would
 * otherwise hold it back until the loop's next submission. The engine's tick-to-trade and
 * its last leg end here, as it is handed to the kernel.
 */
static void sent_request(struct engine *e, const tl_event_t *intent)
{
	int64_t now;
	int rc;

	if (!intent->ts_origin_ns)
		return;
	now = tl_mono_ns();
	tl_hist_record(&e->user_ctr.internal, (uint64_t)(now - intent->ts_origin_ns));
	tl_hist_record(&e->user_ctr.send, (uint64_t)(now - intent->ts_publish_ns));
	/* A full submission queue, or a busy kernel: the next poll submits it. */
	if ((rc = tl_io_loop_submit(e->user_loop)) < 0 && rc != -EAGAIN && rc != -EBUSY &&
	    rc != -EINTR)
		tl_log(TL_LOG_WARNING, "run", "user: submit: %s", tl_strerror(rc));
}

struct strat_stage;
static int strat_pass(struct engine *e, struct strat_stage *s);

/* Order reports are never dropped. Split, the strategy thread drains its rings constantly;
 * fused, the strategy runs on this very thread, so a full ring is drained here. */
static void push_report(struct engine *e, const tl_event_t *ev)
{
	while (!tl_ring_try_push(e->report_ring, ev)) {
		if (e->fused_strat)
			strat_pass(e, e->fused_strat);
		else
			tl_cpu_relax();
	}
}

static void report(struct engine *e, uint64_t order_seq, uint8_t kind, bool done,
                   const struct tl_venue_exec_report *x, int32_t code)
{
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	if (x)
		ev.payload.order.side = x->side == TL_VENUE_BUY ? 1 : 2;
	ev.type = TL_EV_ORDER;
	ev.ts_origin_ns = tl_mono_ns();
	ev.payload.order.order_seq = order_seq;
	ev.payload.order.report = kind;
	ev.payload.order.done = done;
	ev.payload.order.code = code;
	if (x) {
		ev.payload.order.last_px = x->last_px.v;
		ev.payload.order.last_qty = x->last_qty.v;
		ev.payload.order.cum_qty = x->cum_qty.v;
	}
	ev.ts_publish_ns = tl_mono_ns();
	push_report(e, &ev);
}

static void venue_state(struct engine *e, bool ready, bool backfill)
{
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_VENUE;
	ev.payload.venue.ready = ready;
	ev.payload.venue.backfill = backfill;
	push_report(e, &ev);
}

/* Notes a request in flight. Cancels and queries are counted by the rate limiter too,
 * but never held back by it: taking risk off comes first (the venue may still refuse). */
static void remember(struct engine *e, uint64_t id, enum req_kind kind, uint64_t order_seq)
{
	struct req *r = &e->reqs[id % REQS_MAX];

	r->id = id;
	r->kind = kind;
	r->order_seq = order_seq;
	r->limited =
	    kind != REQ_PLACE && tl_venue_limiter_try(&e->limiter, (int64_t)tl_io_now_ns(),
	                                              kind == REQ_STATUS ? 4 : 1, false) == 0;
}

static int send_req(struct engine *e, const char *buf, ssize_t n)
{
	int rc = n < 0 ? (int)n : tl_venue_session_send(e->session, buf, (size_t)n);

	if (rc)
		atomic_fetch_add_explicit(&e->user_ctr.send_errors, 1, memory_order_relaxed);
	return rc;
}

static void ask_status(struct engine *e, uint64_t order_seq)
{
	char buf[1024], cid[24];
	struct tl_venue_auth a = auth_now(e);
	uint64_t id = tl_venue_session_next_id(e->session);
	struct tl_venue_order_ref ref = {.symbol = e->cfg.symbol, .orig_client_order_id = cid};

	run_client_order_id(order_seq, cid);
	remember(e, id, REQ_STATUS, order_seq);
	atomic_fetch_add_explicit(&e->user_ctr.status_queries, 1, memory_order_relaxed);
	send_req(e, buf, tl_venue_build_order_status(buf, sizeof(buf), id, &a, &ref));
}

/* Trips the breaker: quoting pauses (the strategy is told the venue is not ready), every
 * open order is cancelled, and quoting resumes after `pause_ns` once the session is up. */
static void trip(struct engine *e, const char *why, int64_t pause_ns)
{
	int64_t now = (int64_t)tl_io_now_ns(), until = now + pause_ns;
	char buf[1024];
	struct tl_venue_auth a = auth_now(e);
	uint64_t id;

	if (until <= e->paused_until_ns)
		return; /* already paused at least that long */
	if (!e->paused_until_ns) {
		atomic_fetch_add_explicit(&e->user_ctr.breaker_trips, 1, memory_order_relaxed);
		tl_log(TL_LOG_WARNING, "run",
		       "circuit breaker: %s: cancelling everything, pausing %" PRId64 " ms", why,
		       pause_ns / 1000000);
		venue_state(e, false, false);
		if (tl_venue_session_state(e->session) == TL_VENUE_SESSION_READY) {
			id = tl_venue_session_next_id(e->session);
			e->reqs[id % REQS_MAX] = (struct req){id, 0, REQ_CANCEL_ALL, false};
			send_req(
			    e, buf,
			    tl_venue_build_cancel_all(buf, sizeof(buf), id, &a, e->cfg.symbol));
		}
	}
	e->paused_until_ns = until;
}

/* Counts one event in a window of the last n; true when all n fell within `span_ns`. */
static bool burst(int64_t *ring, uint32_t *i, uint32_t n, int64_t span_ns)
{
	int64_t now = (int64_t)tl_io_now_ns();
	int64_t oldest = ring[*i % n];

	ring[*i % n] = now;
	(*i)++;
	return *i >= n && now - oldest <= span_ns;
}

static void maybe_resume(struct engine *e)
{
	if (!e->paused_until_ns || (int64_t)tl_io_now_ns() < e->paused_until_ns ||
	    !e->session_ready)
		return;
	e->paused_until_ns = 0;
	tl_log(TL_LOG_NOTICE, "run", "circuit breaker: cooled down; quoting again");
	venue_state(e, true, false);
}

/* Builds and signs order `seq`'s cancel, for presigned_cancel. `a` is the place's auth. */
static void presign_cancel(struct engine *e, uint64_t seq, const char *cid,
                           const struct tl_venue_auth *a)
{
	struct precancel *pc = &e->precancel[seq % PRECANCEL_SLOTS];
	struct tl_venue_order_ref ref = {.symbol = e->cfg.symbol, .orig_client_order_id = cid};
	ssize_t n = tl_venue_build_order_cancel(pc->req, sizeof(pc->req), 0, a, &ref);

	pc->order_seq = n > 0 ? seq : 0;
	pc->signed_ms = a->timestamp_ms;
	pc->len = n > 0 ? (uint32_t)n : 0;
}

/* Order `seq`'s pre-signed cancel, as request `id`, into out: its length, or 0 when there
 * is none for that order or it is too old (the caller then builds one). */
static ssize_t presigned_cancel(struct engine *e, uint64_t seq, uint64_t id, char *out, size_t cap,
                                int64_t now_ms)
{
	struct precancel *pc = &e->precancel[seq % PRECANCEL_SLOTS];
	ssize_t n;

	if (pc->order_seq != seq || now_ms - pc->signed_ms > PRECANCEL_MAX_AGE_MS)
		return 0;
	pc->order_seq = 0; /* once */
	n = tl_venue_request_with_id(out, cap, pc->req, pc->len, id);
	if (n <= 0)
		return 0;
	atomic_fetch_add_explicit(&e->user_ctr.cancels_presigned, 1, memory_order_relaxed);
	return n;
}

static void do_intent(struct engine *e, const tl_event_t *ev)
{
	char buf[1024], cid[24];
	struct tl_venue_auth a = auth_now(e);
	uint64_t id = tl_venue_session_next_id(e->session);

	/* run.t2t_ids: the id names the update that caused the request. Its low bits keep the
	 * counter's, so the request's slot in reqs[] and its uniqueness are as before. */
	if (e->cfg.t2t_ids && ev->payload.intent.cause)
		id = ev->payload.intent.cause << RUN_T2T_ID_SHIFT |
		     (id & ((UINT64_C(1) << RUN_T2T_ID_SHIFT) - 1));
	uint64_t seq = ev->payload.intent.order_seq;

	run_client_order_id(seq, cid);
	if (ev->type == TL_EV_PLACE) {
		struct tl_venue_order_req q = {.symbol = e->cfg.symbol,
		                               .client_order_id = cid,
		                               .side = ev->payload.intent.side == 1 ? TL_VENUE_BUY
		                                                                    : TL_VENUE_SELL,
		                               .type = TL_VENUE_LIMIT_MAKER,
		                               .px = {ev->payload.intent.px},
		                               .qty = {ev->payload.intent.qty},
		                               .scale = e->cfg.scale,
		                               .resp_type = TL_VENUE_RESP_ACK};

		int64_t wait = tl_venue_limiter_try(&e->limiter, (int64_t)tl_io_now_ns(), 1, true);

		if (wait != 0 || e->paused_until_ns) {
			/* Over a venue limit, or paused: the order does not leave; the strategy
			 * gets its slot back (and the LOCK released) and tries later. */
			atomic_fetch_add_explicit(&e->user_ctr.throttled, 1, memory_order_relaxed);
			report(e, seq, TL_ORDER_REJECTED, true, NULL, 0);
			return;
		}
		remember(e, id, REQ_PLACE, seq);
		e->reqs[id % REQS_MAX].limited = true;
		atomic_fetch_add_explicit(&e->user_ctr.places, 1, memory_order_relaxed);
		if (send_req(e, buf, tl_venue_build_order_place(buf, sizeof(buf), id, &a, &q))) {
			report(e, seq, TL_ORDER_REJECTED, true, NULL, 0); /* it never left */
		} else {
			sent_request(e, ev);
			presign_cancel(e, seq, cid, &a);
		}
	} else if (ev->type == TL_EV_CANCEL) {
		struct tl_venue_order_ref ref = {.symbol = e->cfg.symbol,
		                                 .orig_client_order_id = cid};

		remember(e, id, REQ_CANCEL, seq);
		atomic_fetch_add_explicit(&e->user_ctr.cancels, 1, memory_order_relaxed);
		ssize_t n = presigned_cancel(e, seq, id, buf, sizeof(buf), a.timestamp_ms);
		if (n == 0)
			n = tl_venue_build_order_cancel(buf, sizeof(buf), id, &a, &ref);
		if (send_req(e, buf, n))
			report(e, seq, TL_ORDER_CANCEL_FAILED, false, NULL, 0);
		else
			sent_request(e, ev);
	} else if (ev->type == TL_EV_CANCEL_ALL) {
		remember(e, id, REQ_CANCEL_ALL, 0);
		send_req(e, buf,
		         tl_venue_build_cancel_all(buf, sizeof(buf), id, &a, e->cfg.symbol));
	}
}

/* True when trade `id` was passed on before; else remembers it. */
static bool trade_seen(struct engine *e, uint64_t id)
{
	uint32_t mask = SEEN_MAX * 2 - 1;
	uint32_t i = (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 40) & mask;
	uint64_t old;

	for (; e->seen[i]; i = (i + 1) & mask)
		if (e->seen[i] == id)
			return true;
	/* At SEEN_MAX ids, the oldest is forgotten: its slot becomes a tombstone
	 * (UINT64_MAX, never a trade id), which keeps the probe chains through it intact. */
	old = e->seen_fifo[e->seen_head];
	if (old) {
		for (uint32_t j = (uint32_t)((old * 0x9e3779b97f4a7c15ull) >> 40) & mask;
		     e->seen[j]; j = (j + 1) & mask)
			if (e->seen[j] == old) {
				e->seen[j] = UINT64_MAX;
				break;
			}
	}
	e->seen_fifo[e->seen_head] = id;
	e->seen_head = (e->seen_head + 1) % SEEN_MAX;
	e->seen[i] = id;
	return false;
}

static void link_order(struct engine *e, uint64_t order_id, uint64_t seq)
{
	struct order_link *l = &e->links[order_id & (LINKS_MAX - 1)];

	l->order_id = order_id;
	l->order_seq = seq;
}

static uint64_t linked_seq(const struct engine *e, uint64_t order_id)
{
	const struct order_link *l = &e->links[order_id & (LINKS_MAX - 1)];

	return l->order_id == order_id ? l->order_seq : 0;
}

/* The TRADE_SETTLE of one fill, keyed by the venue's trade id. */
static void fill_cmd(const struct tl_run_config *cfg, tl_ledger_cmd_t *c, uint64_t seq,
                     uint64_t trade_id, bool buy, int64_t px, int64_t qty, int64_t fee,
                     const char *fee_asset, int64_t ts_ms, bool final)
{
	memset(c, 0, sizeof(*c));
	c->type = TL_LEDGER_TRADE_SETTLE;
	c->token = trade_id;
	c->side = buy ? TL_LEDGER_BUY : TL_LEDGER_SELL;
	c->flags = final ? TL_LEDGER_FLAG_FINAL : 0;
	c->ts_ms = ts_ms;
	c->order = seq;
	c->price = (tl_ledger_dec_t){px, cfg->scale.px_decimals, 0};
	c->qty = (tl_ledger_dec_t){qty, cfg->scale.qty_decimals, 0};
	if (fee > 0 && fee_asset[0]) {
		c->fee = (tl_ledger_dec_t){fee, 8, 0};
		snprintf(c->fee_asset, sizeof(c->fee_asset), "%s", fee_asset);
	}
	snprintf(c->account, sizeof(c->account), "%s", cfg->account);
	snprintf(c->asset, sizeof(c->asset), "%s", cfg->base);
	snprintf(c->quote, sizeof(c->quote), "%s", cfg->quote);
	snprintf(c->key, sizeof(c->key), "trade:%s:%" PRIu64, cfg->symbol, trade_id);
}

/*
 * One fill, from the WebSocket or the back-fill: the ledger settles it (keyed by the
 * venue's trade id, so it settles once whatever the path), the strategy learns it, once.
 * `final` says the order filled whole (the rest of its reservation is released).
 */
static void settle(struct engine *e, uint64_t seq, uint64_t trade_id, bool buy, int64_t px,
                   int64_t qty, int64_t fee, const char *fee_asset, int64_t ts_ms, bool final,
                   bool from_rest)
{
	const struct tl_run_config *cfg = &e->cfg;
	struct tl_venue_exec_report x;
	tl_ledger_cmd_t c;

	if (trade_seen(e, trade_id)) {
		atomic_fetch_add_explicit(&e->user_ctr.fills_dup, 1, memory_order_relaxed);
		return;
	}
	fill_cmd(cfg, &c, seq, trade_id, buy, px, qty, fee, fee_asset, ts_ms, final);
	/* The fill must reach the ledger: wait for room rather than drop it. */
	while (!tl_ledger_submit(e->user_port, &c))
		tl_cpu_relax();
	atomic_fetch_add_explicit(&e->user_ctr.settles_sent, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->user_ctr.fills, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(from_rest ? &e->user_ctr.fills_rest : &e->user_ctr.fills_ws, 1,
	                          memory_order_relaxed);
	memset(&x, 0, sizeof(x));
	x.side = buy ? TL_VENUE_BUY : TL_VENUE_SELL;
	x.last_px.v = px;
	x.last_qty.v = qty;
	report(e, seq, TL_ORDER_FILL, final, &x, 0);
}

static void on_fill(struct engine *e, uint64_t seq, const struct tl_venue_exec_report *x)
{
	link_order(e, x->order_id, seq);
	settle(e, seq, x->trade_id, x->side == TL_VENUE_BUY, x->last_px.v, x->last_qty.v,
	       x->commission_units, x->commission_asset, x->transact_ms,
	       x->status == TL_VENUE_STATUS_FILLED, false);
}

/* ---- the back-fill: myTrades from the last trade id (seed 004 C-3, M-2) ---------------- */

/* Folds a REST answer's headers into resp: the venue's count of the weight used, and
 * Retry-After. A header the venue wrote wrong is left out: the count is a correction. */
static void rest_fold_headers(struct tl_venue_response *resp, const struct tl_http_response *r)
{
	for (size_t i = 0; i < r->n_headers; i++)
		(void)tl_venue_response_rest_header(resp, r->headers[i].name,
		                                    r->headers[i].name_len, r->headers[i].value,
		                                    r->headers[i].value_len);
}

/* The back-fill failed at `now`: it is wanted still, and tried again after a back-off. */
static void backfill_failed(struct engine *e, int64_t now, const char *why, int status)
{
	uint32_t k = e->backfill_failures < 5 ? e->backfill_failures : 5;
	int64_t wait = BACKFILL_RETRY_NS << k;

	if (wait > BACKFILL_RETRY_MAX_NS)
		wait = BACKFILL_RETRY_MAX_NS;
	e->backfill_failures++;
	e->backfill_running = false;
	e->backfill_wanted = true;
	e->backfill_not_before_ns = now + wait;
	tl_log(TL_LOG_WARNING, "run", "back-fill: myTrades failed (%s, HTTP %d); again in %lld ms",
	       why, status, (long long)(wait / 1000000));
}

/* Sends the back-fill's next myTrades request, when the back-off and the rate limiter let
 * it go; until then it stays wanted, and user_pass asks again. */
static void backfill_next(struct engine *e)
{
	char target[1024];
	struct tl_venue_auth a;
	struct tl_venue_trades_req q;
	struct tl_http_header h;
	int64_t now = (int64_t)tl_io_now_ns(), wait;
	ssize_t n;

	e->backfill_wanted = true;
	if (now < e->backfill_not_before_ns)
		return; /* checked on every pass of the user loop: nothing more is done here */
	if ((wait = tl_venue_limiter_try(&e->limiter, now, MY_TRADES_WEIGHT, false)) != 0) {
		e->backfill_not_before_ns = now + (wait > 0 ? wait : BACKFILL_RETRY_NS);
		return;
	}
	a = auth_now(e);
	h = (struct tl_http_header){"X-MBX-APIKEY", 12, e->cfg.api_key, strlen(e->cfg.api_key)};
	run_trades_query(&e->trades_at, e->cfg.symbol, TRADES_PAGE, &q);
	n = tl_venue_build_my_trades(target, sizeof(target), &a, &q);
	if (n < 0 || tl_http_client_request(e->http, "GET", target, &h, 1, NULL, 0)) {
		tl_venue_limiter_on_lost(&e->limiter, 1);
		backfill_failed(e, now, n < 0 ? tl_strerror((int)n) : "not sent", 0);
		return;
	}
	e->backfill_wanted = false;
	e->backfill_running = true;
	atomic_fetch_add_explicit(&e->user_ctr.backfills, 1, memory_order_relaxed);
}

static void backfill_done(struct engine *e)
{
	e->backfill_running = false;
	for (uint32_t i = 0; i < e->n_done_after; i++)
		report(e, e->done_after_backfill[i], TL_ORDER_CANCELED, true, NULL, 0);
	e->n_done_after = 0;
}

static void on_trades(tl_http_client_t *cl, void *user, int err, const struct tl_http_response *r)
{
	struct engine *e = user;
	struct tl_venue_parse_config pc;
	struct tl_venue_response resp;
	int64_t now = (int64_t)tl_io_now_ns();
	size_t n = 0;
	int rc = err ? err : -EPROTO;

	(void)cl;
	tl_venue_parse_config_default(&pc);
	pc.instruments = &e->inst;
	pc.n_instruments = 1;
	if (!err && r) {
		rc = tl_venue_parse_trades(&pc, (const char *)r->body_buf, r->body_len, r->status,
		                           &resp, e->trades, TRADES_PAGE, &n);
		if (rc == 0)
			rest_fold_headers(&resp, r);
		/* A 429 or 418 starts the limiter's back-off, for the venue's Retry-After. */
		tl_venue_limiter_on_response(&e->limiter, now, rc == 0 ? &resp : NULL);
	} else {
		tl_venue_limiter_on_lost(&e->limiter, 1);
	}
	if (rc || r->status != 200) {
		backfill_failed(e, now, rc ? tl_strerror(rc) : "refused", r ? r->status : 0);
		return;
	}
	e->backfill_failures = 0;
	for (size_t i = 0; i < n; i++) {
		const struct tl_venue_trade *t = &e->trades[i];

		/* The high-water mark moves only through the REST history, which has no gaps:
		 * a WebSocket fill past a dropped one must not make the back-fill skip it. */
		run_trades_seen(&e->trades_at, t->trade_id);
		if (strcmp(t->symbol, e->cfg.symbol) != 0)
			continue;
		/* The reservation is spent by the order this engine knows; one it does not
		 * (from before a restart) spends available, and its UNLOCK gives back the rest. */
		settle(e, linked_seq(e, t->order_id), t->trade_id, t->is_buyer, t->px.v, t->qty.v,
		       t->commission_units, t->commission_asset, t->time_ms, false, true);
	}
	if (run_trades_more(&e->trades_at, n, TRADES_PAGE, venue_now_ms(e))) {
		backfill_next(e); /* a full page, or a day with no trade: there may be more */
		return;
	}
	backfill_done(e);
}

/* Back-fill, then report `seq` over (a status query found it ended, maybe with fills the
 * WebSocket never delivered). */
static void over_after_backfill(struct engine *e, uint64_t seq)
{
	if (e->n_done_after < sizeof(e->done_after_backfill) / sizeof(e->done_after_backfill[0]))
		e->done_after_backfill[e->n_done_after++] = seq;
	else
		report(e, seq, TL_ORDER_CANCELED, true, NULL, 0);
	if (!e->backfill_running)
		e->backfill_wanted = true;
}

static void on_exec(struct engine *e, const struct tl_venue_exec_report *x)
{
	const char *cid = x->exec_type == TL_VENUE_EXEC_CANCELED && x->orig_client_order_id[0]
	                      ? x->orig_client_order_id
	                      : x->client_order_id;
	uint64_t seq = run_order_seq_of(cid);

	if (!seq || strcmp(x->symbol, e->cfg.symbol) != 0)
		return; /* not one of this engine's orders */
	switch (x->exec_type) {
	case TL_VENUE_EXEC_NEW:
		link_order(e, x->order_id, seq);
		atomic_fetch_add_explicit(&e->user_ctr.open_orders, 1, memory_order_relaxed);
		report(e, seq, TL_ORDER_ACKED, false, x, 0);
		break;
	case TL_VENUE_EXEC_TRADE:
		if (x->has_trade)
			on_fill(e, seq, x);
		if (x->status == TL_VENUE_STATUS_FILLED)
			atomic_fetch_sub_explicit(&e->user_ctr.open_orders, 1,
			                          memory_order_relaxed);
		break;
	case TL_VENUE_EXEC_CANCELED:
	case TL_VENUE_EXEC_EXPIRED:
		atomic_fetch_sub_explicit(&e->user_ctr.open_orders, 1, memory_order_relaxed);
		report(e, seq, TL_ORDER_CANCELED, true, x, 0);
		break;
	case TL_VENUE_EXEC_REJECTED:
		report(e, seq, TL_ORDER_REJECTED, true, x, 0);
		break;
	default:
		break;
	}
}

static void on_response(struct engine *e, const struct tl_venue_response *r)
{
	struct req *q = r->has_id ? &e->reqs[r->id % REQS_MAX] : NULL;
	struct tl_venue_verdict v;
	enum tl_venue_outcome out;

	if (!q || q->id != r->id || q->kind == REQ_NONE)
		return;
	out = tl_venue_classify(r, false, &v);
	if (q->limited)
		tl_venue_limiter_on_response(&e->limiter, (int64_t)tl_io_now_ns(), r);
	if (out == TL_VENUE_RATE_LIMITED) {
		/* The venue's Retry-After, and never less than the cooldown. */
		int64_t wait = v.retry_wait_ms * 1000000;

		trip(e, v.banned ? "banned (418)" : "rate limited",
		     wait > (int64_t)BREAKER_COOLDOWN_NS ? wait : (int64_t)BREAKER_COOLDOWN_NS);
	} else if (out == TL_VENUE_REJECTED && q->kind == REQ_PLACE &&
	           burst(e->reject_ns, &e->reject_i, BREAKER_REJECTS, (int64_t)BREAKER_REJECTS_NS))
		trip(e, "orders refused in a burst", (int64_t)BREAKER_COOLDOWN_NS);
	switch (q->kind) {
	case REQ_PLACE:
		if (out == TL_VENUE_ACCEPTED) {
			atomic_fetch_add_explicit(&e->user_ctr.acks, 1, memory_order_relaxed);
		} else if (out == TL_VENUE_UNKNOWN) {
			atomic_fetch_add_explicit(&e->user_ctr.unknowns, 1, memory_order_relaxed);
			report(e, q->order_seq, TL_ORDER_UNKNOWN, false, NULL, r->error_code);
			ask_status(e, q->order_seq);
		} else {
			/* rejected or rate-limited: nothing was placed */
			atomic_fetch_add_explicit(&e->user_ctr.rejects, 1, memory_order_relaxed);
			report(e, q->order_seq, TL_ORDER_REJECTED, true, NULL, r->error_code);
		}
		break;
	case REQ_CANCEL:
		if (out != TL_VENUE_ACCEPTED) {
			atomic_fetch_add_explicit(&e->user_ctr.cancels_failed, 1,
			                          memory_order_relaxed);
			/* A failed cancel: ask what the order is before anything else (seed 004).
			 */
			report(e, q->order_seq, TL_ORDER_CANCEL_FAILED, false, NULL, r->error_code);
			ask_status(e, q->order_seq);
		}
		break;
	case REQ_STATUS:
		if (r->result_kind == TL_VENUE_RESULT_ORDER) {
			enum tl_venue_order_status s = r->order.status;

			link_order(e, r->order.order_id, q->order_seq);
			if (s == TL_VENUE_STATUS_NEW || s == TL_VENUE_STATUS_PARTIALLY_FILLED)
				report(e, q->order_seq, TL_ORDER_ACKED, false, NULL, 0);
			else if (r->order.executed_qty.v > 0)
				over_after_backfill(e, q->order_seq); /* its fills first */
			else
				report(e, q->order_seq, TL_ORDER_CANCELED, true, NULL, 0);
		} else if (r->error_code == -2013) {
			report(e, q->order_seq, TL_ORDER_REJECTED, true, NULL, r->error_code);
		} else if (out == TL_VENUE_UNKNOWN) {
			ask_status(e, q->order_seq);
		}
		break;
	default:
		break;
	}
	q->kind = REQ_NONE;
}

static void user_on_ready(void *user, bool backfill)
{
	struct engine *e = user;

	e->session_ready = true;
	if (backfill) {
		/* Events may have been lost while the stream was down. */
		atomic_fetch_add_explicit(&e->user_ctr.reconnects, 1, memory_order_relaxed);
		if (!e->backfill_running)
			e->backfill_wanted = true;
	}
	if (!e->paused_until_ns) /* a pause ends in maybe_resume */
		venue_state(e, true, backfill);
}

static void user_on_message(void *user, const struct tl_venue_msg *m)
{
	struct engine *e = user;

	if (m->kind == TL_VENUE_MSG_EXEC_REPORT)
		on_exec(e, &m->exec);
	else if (m->kind == TL_VENUE_MSG_RESPONSE)
		on_response(e, &m->response);
}

static void user_on_down(void *user, int err)
{
	struct engine *e = user;

	(void)err;
	e->session_ready = false;
	venue_state(e, false, false);
	if (burst(e->drop_ns, &e->drop_i, BREAKER_DROPS, (int64_t)BREAKER_DROPS_NS))
		trip(e, "the connection keeps dropping", 2 * (int64_t)BREAKER_COOLDOWN_NS);
	/* Requests in flight have no answer now: their orders' state is asked again once
	 * the session is back (order.status from the strategy's UNKNOWN handling). */
	for (size_t i = 0; i < REQS_MAX; i++) {
		struct req *q = &e->reqs[i];

		if (q->kind == REQ_PLACE || q->kind == REQ_CANCEL)
			report(e, q->order_seq, TL_ORDER_UNKNOWN, false, NULL, 0);
		if (q->kind != REQ_NONE && q->limited)
			tl_venue_limiter_on_lost(&e->limiter, 1);
		q->kind = REQ_NONE;
	}
}

static void user_drain_acks(struct engine *e)
{
	tl_ledger_ack_t ack;

	while (tl_ledger_poll_ack(e->user_port, &ack)) {
		_Atomic uint64_t *n =
		    ack.status == TL_LEDGER_APPLIED     ? &e->user_ctr.ledger_applied
		    : ack.status == TL_LEDGER_DUPLICATE ? &e->user_ctr.ledger_duplicates
		    : ack.status == TL_LEDGER_REJECTED  ? &e->user_ctr.ledger_rejected
		                                        : &e->user_ctr.ledger_failed;

		atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
		if (ack.status == TL_LEDGER_REJECTED || ack.status == TL_LEDGER_FAILED)
			tl_log(TL_LOG_ERR, "run", "ledger: fill (trade %" PRIu64 ") %s: %s",
			       ack.token, tl_ledger_status_name(ack.status),
			       tl_ledger_reason_name(ack.reason));
	}
}

/* The rate limiter, with Binance's published limits: every response's rateLimits (and a
 * REST answer's X-MBX-USED-WEIGHT) corrects them. Set up at start, for recovery's reads;
 * the user thread owns it from its start on. */
static void limiter_init(struct engine *e)
{
	static const struct tl_venue_rate_limit limits[] = {
	    {TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 1, 6000, -1},
	    {TL_VENUE_LIMIT_ORDERS, 10000, 10, 100, -1},
	    {TL_VENUE_LIMIT_ORDERS, 86400000, 1, 200000, -1},
	};

	tl_venue_limiter_init(&e->limiter, NULL, limits, sizeof(limits) / sizeof(limits[0]));
}

/* The user stage on `loop`: the REST client for back-fills and the WS API session.
 * Returns 0 or an error (logged). */
static int user_open(struct engine *e, tl_io_loop_t *loop)
{
	static const struct tl_venue_session_ops ops = {
	    .on_ready = user_on_ready, .on_message = user_on_message, .on_down = user_on_down};
	struct tl_venue_session_config sc;
	struct tl_http_client_config hc;
	int rc;

	e->user_loop = loop;
	tl_venue_session_config_default(&sc);
	ws_config(e, &sc.ws);
	sc.ws.path = "/ws-api/v3";
	sc.api_key = e->cfg.api_key;
	sc.signer = e->signer;
	sc.clock_offset_ms = e->clock_offset_ms;
	sc.parse.instruments = &e->inst;
	sc.parse.n_instruments = 1;
	http_config(e, &hc);
	if ((rc = tl_http_client_create(&e->http, loop, &hc, on_trades, e))) {
		tl_log(TL_LOG_ERR, "run", "user: http: %s", tl_strerror(rc));
		return rc;
	}
	if ((rc = tl_venue_session_create(&e->session, loop, &sc, &ops, e)) ||
	    (rc = tl_venue_session_start(e->session))) {
		tl_log(TL_LOG_ERR, "run", "user: session: %s", tl_strerror(rc));
		return rc;
	}
	return 0;
}

/* The limiter's owner (the main thread during recovery, then the user thread) counts the
 * account.status calls the main thread made since it last looked: the venue counts them
 * against the same weight limit. One relaxed load when there are none. */
static void limiter_take_outside(struct engine *e)
{
	uint32_t n;
	int64_t now;

	if (atomic_load_explicit(&e->account_calls, memory_order_relaxed) == 0)
		return;
	n = atomic_exchange_explicit(&e->account_calls, 0, memory_order_relaxed);
	now = (int64_t)tl_io_now_ns();
	while (n--)
		tl_venue_limiter_charge(&e->limiter, now, ACCOUNT_STATUS_WEIGHT, false);
}

/*
 * Sends the intents waiting, in order; returns how many it took. `from_strategy`: called
 * from inside the strategy (fused), so it stops while the report ring is full rather
 * than let push_report run the strategy again from inside itself; the rest wait for the
 * next user pass.
 */
static int send_intents(struct engine *e, bool from_strategy)
{
	int n = 0;
	tl_event_t ev;

	limiter_take_outside(e);
	while ((!from_strategy || tl_ring_reserve(e->report_ring, 1) > 0) &&
	       tl_ring_try_pop(e->intent_ring, &ev)) {
		n++;
		if (tl_venue_session_state(e->session) == TL_VENUE_SESSION_READY)
			do_intent(e, &ev);
		else if (ev.type == TL_EV_PLACE)
			report(e, ev.payload.intent.order_seq, TL_ORDER_REJECTED, true, NULL, 0);
		else if (ev.type == TL_EV_CANCEL)
			report(e, ev.payload.intent.order_seq, TL_ORDER_UNKNOWN, false, NULL, 0);
	}
	return n;
}

/* One pass of the user stage: the intents waiting, the ledger's acks of fills, a
 * back-fill asked for, the end of a pause. Returns the intents it took. */
static int user_pass(struct engine *e)
{
	int work = send_intents(e, false);

	user_drain_acks(e);
	if (atomic_exchange_explicit(&e->backfill_request, 0, memory_order_acq_rel))
		e->backfill_wanted = true;
	if (e->backfill_wanted && !e->backfill_running)
		backfill_next(e);
	maybe_resume(e);
	return work;
}

/* Closes the session and the REST client, polling `loop` until they are gone. */
static void user_close(struct engine *e, tl_io_loop_t *loop)
{
	if (e->session) {
		struct tl_venue_session_counters sc;

		tl_venue_session_counters(e->session, &sc);
		atomic_store_explicit(&e->user_ctr.key_draws_in_send, sc.key_draws_in_send,
		                      memory_order_relaxed);
		atomic_store_explicit(&e->user_ctr.key_draws_idle, sc.key_draws_idle,
		                      memory_order_relaxed);
		tl_venue_session_close(e->session);
		for (uint64_t t0 = tl_io_now_ns(); tl_venue_session_destroy(e->session) == -EBUSY &&
		                                   close_wait(loop, t0, "venue session");)
			;
		e->session = NULL;
	}
	if (e->http) {
		tl_http_client_close(e->http);
		for (uint64_t t0 = tl_io_now_ns();
		     tl_http_client_destroy(e->http) == -EBUSY && close_wait(loop, t0, "rest");)
			;
		e->http = NULL;
	}
	user_drain_acks(e);
}

/* The user stage's loop sleeps on the intent ring too: an intent wakes it at once. A loop
 * that polls rather than sleeps (`idle`) is set up to poll without syscalls. */
static int user_loop_create(tl_io_loop_t **loop, struct engine *e, tl_idle_kind_t idle,
                            const char *who)
{
	struct tl_io_loop_config lc;
	int rc;

	tl_io_loop_config_default(&lc);
	lc.busy_poll = idle != TL_IDLE_BLOCK;
	if ((rc = tl_io_loop_create(loop, &lc))) {
		tl_log(TL_LOG_ERR, "run", "%s: io loop: %s", who, tl_strerror(rc));
		return rc;
	}
	if ((rc = tl_io_loop_set_waiter(*loop, &e->user_wait))) {
		tl_log(TL_LOG_ERR, "run", "%s: io loop waiter: %s", who, tl_strerror(rc));
		tl_io_loop_destroy(*loop);
		*loop = NULL;
	}
	return rc;
}

static void *user_main(void *arg)
{
	struct engine *e = arg;
	tl_io_loop_t *loop = NULL;
	int64_t wait_ns = (int64_t)e->cfg.user_poll_us * 1000, warm_ns = 0;
	int rc;

	tl_thread_name_self("tally-user");
	if (e->cfg.cpu_user >= 0 && tl_thread_pin_self(e->cfg.cpu_user))
		tl_log(TL_LOG_WARNING, "run", "user: cannot pin to CPU %d", e->cfg.cpu_user);
	if (user_loop_create(&loop, e, e->cfg.user_idle, "user"))
		return NULL;
	if (user_open(e, loop) == 0) {
		for (int work = 1; !atomic_load_explicit(&e->stop_user, memory_order_relaxed);) {
			if ((rc = io_wait(loop, e->cfg.user_idle, work == 0, wait_ns,
			                  e->intent_ring)) < 0) {
				tl_log(TL_LOG_ERR, "run", "user: io loop: %s", tl_strerror(rc));
				break;
			}
			work = rc + user_pass(e);
			if (!work)
				idle_prefetch(e, NULL, NULL, STAGE_USER);
			if (warm_due(e, work, &warm_ns))
				user_warm(e);
		}
	}
	user_close(e, loop);
	tl_io_loop_destroy(loop);
	return NULL;
}

/* ======================================================================================
 * strategy thread
 * ====================================================================================== */

static bool out_intent(void *ctx, const tl_event_t *ev)
{
	struct engine *e = ctx;

	if (!tl_ring_try_push(e->intent_ring, ev))
		return false;
	/* Fused, the user stage runs on this thread: the first order a top causes (the one
	 * that carries its arrival) leaves now, not after the rest of the strategy's pass. */
	if (e->fused_strat && ev->ts_origin_ns)
		send_intents(e, true);
	return true;
}

static bool out_ledger(void *ctx, const tl_ledger_cmd_t *c)
{
	struct engine *e = ctx;
	tl_ledger_cmd_t cmd = *c;

	cmd.ts_ms = e->start_wall_ms;
	/* Quietly: the orders these LOCKs reserve for leave first; the ledger is woken after
	 * the pass (strat_pass's callers call tl_ledger_port_notify). */
	return tl_ledger_submit_quiet(e->strat_port, &cmd);
}

static bool out_ledger_room(void *ctx)
{
	struct engine *e = ctx;

	return tl_ledger_port_has_room(e->strat_port);
}

struct strat_stage {
	struct strategy *st;
	/* threads.warm_us: the copy the warm passes run (strategy_warm) */
	struct strategy *warm;
	struct strat_counters *warm_ctr;
	int64_t next_tick;
	bool stopping;
};

static void strat_close(struct strat_stage *s)
{
	free(s->st);
	free(s->warm);
	free(s->warm_ctr);
	s->st = s->warm = NULL;
	s->warm_ctr = NULL;
}

/* The strategy half of a warm pass (strategy_warm). */
static void strat_warm(struct engine *e, struct strat_stage *s)
{
	strategy_warm(s->st, s->warm, s->warm_ctr, tl_mono_ns());
	atomic_fetch_add_explicit(&e->strat_ctr.warms, 1, memory_order_relaxed);
}

/* Returns 0 or -ENOMEM (logged). */
static int strat_open(struct engine *e, struct strat_stage *s)
{
	struct strat_out out = {out_intent, out_ledger, out_ledger_room, e};

	s->st = calloc(1, sizeof(*s->st));
	s->warm = calloc(1, sizeof(*s->warm));
	s->warm_ctr = calloc(1, sizeof(*s->warm_ctr));
	if (!s->st || !s->warm || !s->warm_ctr) {
		strat_close(s);
		tl_log(TL_LOG_ERR, "run", "strategy: out of memory");
		return -ENOMEM;
	}
	strategy_init(s->st, &e->cfg, out, &e->strat_ctr, e->start_wall_ms);
	return 0;
}

/* One pass of the strategy stage: the ledger's acks, the order reports, the newest top,
 * and the tick clock every 10 ms. Returns the events it took. Its ledger commands are
 * queued quietly: the caller wakes the ledger (tl_ledger_port_notify) before it idles. */
static int strat_pass(struct engine *e, struct strat_stage *s)
{
	struct strategy *st = s->st;
	int64_t now = tl_mono_ns();
	int work = 0;
	tl_event_t ev, top;
	tl_ledger_ack_t ack;
	bool have = false;

	while (tl_ledger_poll_ack(e->strat_port, &ack)) {
		strategy_on_ack(st, &ack);
		work++;
	}
	while (tl_ring_try_pop(e->report_ring, &ev)) {
		strategy_on_event(st, &ev, now);
		work++;
	}
	/* Only the newest top matters: drain them, act on the last. */
	while (tl_ring_try_pop(e->md_ring, &ev)) {
		if (ev.type == TL_EV_TOP) {
			top = ev;
			have = true;
		} else {
			strategy_on_event(st, &ev, now);
		}
		work++;
	}
	if (have)
		strategy_on_event(st, &top, tl_mono_ns());
	strategy_set_stale(st, atomic_load_explicit(&e->ledger_stale, memory_order_acquire));
	if (!s->stopping && atomic_load_explicit(&e->quoting_stop, memory_order_acquire)) {
		s->stopping = true;
		strategy_stop(st);
		s->next_tick = 0;
	}
	if (now >= s->next_tick) {
		strategy_tick(st, now);
		s->next_tick = now + STRAT_TICK_NS;
		atomic_store_explicit(&e->strat_idle, s->stopping && strategy_idle(st),
		                      memory_order_release);
	}
	return work;
}

static void *strat_main(void *arg)
{
	struct engine *e = arg;
	struct strat_stage s = {0};
	tl_idle_t idle;
	int64_t warm_ns = 0;

	tl_thread_name_self("tally-strategy");
	if (e->cfg.cpu_strategy >= 0 && tl_thread_pin_self(e->cfg.cpu_strategy))
		tl_log(TL_LOG_WARNING, "run", "strategy: cannot pin to CPU %d",
		       e->cfg.cpu_strategy);
	if (strat_open(e, &s))
		return NULL;
	tl_idle_init(&idle, e->cfg.strategy_idle, &e->strat_wait);
	while (!atomic_load_explicit(&e->stop_strat, memory_order_relaxed)) {
		int work = strat_pass(e, &s);

		if (!work)
			idle_prefetch(e, NULL, s.st, STAGE_STRATEGY);
		if (warm_due(e, work, &warm_ns))
			strat_warm(e, &s);

		tl_ledger_port_notify(e->strat_port); /* after the intents: see out_ledger */
		tl_idle_run(&idle, work, STRAT_TICK_NS);
	}
	strat_close(&s);
	return NULL;
}

/* ======================================================================================
 * The fused layout: md, strategy and user in turn on one thread
 * ====================================================================================== */

/*
 * One loop polls the market-data and WS API sockets together; after each poll the
 * strategy takes the tops the md stage published and the user stage sends the intents
 * the strategy wrote, in the same pass. The stages still meet only through their rings
 * (every ring's waiter is the loop's, so a ring that holds something keeps the loop
 * from sleeping), and only the ledger's acks come from another thread.
 */
static void *fused_main(void *arg)
{
	struct engine *e = arg;
	struct md_ctx m = {.e = e};
	struct strat_stage s = {0};
	int64_t wait_ns = (int64_t)e->cfg.user_poll_us * 1000, warm_ns = 0;
	int rc;

	if (wait_ns > STRAT_TICK_NS)
		wait_ns = STRAT_TICK_NS; /* the strategy's tick clock runs between polls */
	/* md, strategy and user in turn */
	tl_thread_name_self("tally-fused");
	if (e->cfg.cpu_md >= 0 && tl_thread_pin_self(e->cfg.cpu_md))
		tl_log(TL_LOG_WARNING, "run", "hot thread: cannot pin to CPU %d", e->cfg.cpu_md);
	if (user_loop_create(&m.loop, e, e->cfg.md_idle, "hot thread"))
		return NULL;
	if (strat_open(e, &s) == 0) {
		e->fused_strat = &s;
		if (md_open(&m) == 0 && user_open(e, m.loop) == 0) {
			for (int work = 1;
			     !atomic_load_explicit(&e->stop_md, memory_order_relaxed);) {
				if ((rc = io_wait(m.loop, e->cfg.md_idle, work == 0, wait_ns,
				                  NULL)) < 0) {
					tl_log(TL_LOG_ERR, "run", "hot thread: io loop: %s",
					       tl_strerror(rc));
					break;
				}
				md_check(&m);
				work = rc + strat_pass(e, &s);
				work += user_pass(e);
				if (!work)
					idle_prefetch(e, m.feed, s.st,
					              STAGE_MD | STAGE_STRATEGY | STAGE_USER);
				if (warm_due(e, work, &warm_ns)) {
					md_warm(&m);
					strat_warm(e, &s);
					user_warm(e);
				}
				/* The orders first, then the ledger's wake-up (see out_ledger). */
				if ((rc = tl_io_loop_submit(m.loop)) < 0 && rc != -EAGAIN &&
				    rc != -EBUSY && rc != -EINTR)
					tl_log(TL_LOG_WARNING, "run", "hot thread: submit: %s",
					       tl_strerror(rc));
				tl_ledger_port_notify(e->strat_port);
				md_settle(&m);
			}
		}
	}
	user_close(e, m.loop);
	md_close(&m);
	e->fused_strat = NULL;
	strat_close(&s);
	tl_io_loop_destroy(m.loop);
	return NULL;
}

/* ======================================================================================
 * Lifecycle
 * ====================================================================================== */

int engine_create(struct engine **out, const struct tl_run_config *cfg, const char *ledger_dir,
                  int64_t start_wall_ms)
{
	struct engine *e = calloc(1, sizeof(*e));
	tl_ledger_config_t lc;
	tl_wait_t *sw;
	int rc;

	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->cfg.layout = tl_run_layout_effective(cfg->layout);
	if (cfg->layout == TL_RUN_LAYOUT_AUTO)
		tl_log(TL_LOG_INFO, "run", "threads: layout %s (auto, %ld CPUs online)",
		       tl_run_layout_name(e->cfg.layout), sysconf(_SC_NPROCESSORS_ONLN));
	e->start_wall_ms = start_wall_ms;
	snprintf(e->ledger_dir, sizeof(e->ledger_dir), "%s", ledger_dir);
	snprintf(e->inst.symbol, sizeof(e->inst.symbol), "%s", cfg->symbol);
	e->inst.scale = cfg->scale;
	tl_hist_reset(&e->strat_ctr.t2t);
	tl_hist_reset(&e->strat_ctr.react);
	tl_hist_reset(&e->md_ctr.apply);
	tl_hist_reset(&e->user_ctr.internal);
	tl_hist_reset(&e->user_ctr.send);
	e->seen = calloc(SEEN_MAX * 2, sizeof(*e->seen));
	e->seen_fifo = calloc(SEEN_MAX, sizeof(*e->seen_fifo));
	e->links = calloc(LINKS_MAX, sizeof(*e->links));
	if (!e->seen || !e->seen_fifo || !e->links) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = tl_venue_signer_create(&e->signer, cfg->api_secret, strlen(cfg->api_secret))))
		goto fail;
	if ((rc = tl_ring_create(&e->md_ring, 1024, sizeof(tl_event_t))) ||
	    (rc = tl_ring_create(&e->intent_ring, 1024, sizeof(tl_event_t))) ||
	    (rc = tl_ring_create(&e->report_ring, 4096, sizeof(tl_event_t))))
		goto fail;
	/* Fenced: a producer pays a fence per notify, and a consumer going to sleep sends no
	 * membarrier, whose IPI costs each CPU running the engine some 20 us here (README,
	 * "The engine": no waiter uses membarrier). */
	tl_wait_init_fenced(&e->strat_wait);
	tl_wait_init_fenced(&e->user_wait);
	if ((rc = tl_wait_open_eventfd(&e->user_wait)))
		goto fail;
	e->user_wait_open = true;
	tl_ledger_config_default(&lc);
	lc.dir = e->ledger_dir;
	lc.durability = cfg->durability;
	lc.prealloc_bytes = (uint64_t)cfg->prealloc_mb << 20;
	lc.cpu = cfg->cpu_ledger;
	if ((rc = tl_ledger_open(&e->ledger, &lc)))
		goto fail;
	/* Fused, the one hot thread sleeps in its loop on every ring it reads. */
	sw = e->cfg.layout == TL_RUN_LAYOUT_FUSED ? &e->user_wait : &e->strat_wait;
	if ((rc = tl_ledger_port_attach(e->ledger, 64, &e->boot_port)) ||
	    (rc = tl_ledger_port_attach(e->ledger, 1024, &e->strat_port)) ||
	    (rc = tl_ledger_port_attach(e->ledger, 4096, &e->user_port)) ||
	    (rc = tl_ring_set_waiter(e->md_ring, sw)) ||
	    (rc = tl_ring_set_waiter(e->report_ring, sw)) ||
	    (rc = tl_ring_set_waiter(e->intent_ring, &e->user_wait)) ||
	    (rc = tl_ledger_port_set_ack_waiter(e->strat_port, sw)))
		goto fail;
	*out = e;
	return 0;
fail:
	engine_destroy(e);
	return rc;
}

/* ---- recovery of what a previous process left (start-up, main thread) ---------------- */

struct rest_get {
	char *body;
	size_t cap, len;
	int status, err;
	bool done;
	struct tl_venue_response headers; /* what the answer's headers say (rest_fold_headers) */
};

static void rest_get_done(tl_http_client_t *cl, void *user, int err,
                          const struct tl_http_response *r)
{
	struct rest_get *g = user;

	(void)cl;
	g->done = true;
	g->err = err;
	if (err || !r)
		return;
	g->status = r->status;
	memset(&g->headers, 0, sizeof(g->headers));
	rest_fold_headers(&g->headers, r);
	g->len = r->body_len < g->cap - 1 ? r->body_len : g->cap - 1;
	memcpy(g->body, r->body_buf, g->len);
	g->body[g->len] = '\0';
}

/* One signed REST GET, blocking, at most 10 s. Returns 0 (see g->status) or an error. */
static int rest_get(const struct engine *e, const char *target, struct rest_get *g)
{
	struct tl_io_loop_config lc;
	struct tl_http_client_config hc;
	struct tl_http_header h = {"X-MBX-APIKEY", 12, e->cfg.api_key, strlen(e->cfg.api_key)};
	tl_io_loop_t *loop;
	tl_http_client_t *cl;
	uint64_t end = tl_io_now_ns() + 10000000000ull;
	int rc;

	tl_io_loop_config_default(&lc);
	if ((rc = tl_io_loop_create(&loop, &lc)))
		return rc;
	http_config(e, &hc);
	if ((rc = tl_http_client_create(&cl, loop, &hc, rest_get_done, g))) {
		tl_io_loop_destroy(loop);
		return rc;
	}
	g->done = false;
	rc = tl_http_client_request(cl, "GET", target, &h, 1, NULL, 0);
	if (!rc)
		rc = poll_until(loop, &g->done, end);
	tl_http_client_close(cl);
	for (uint64_t t0 = tl_io_now_ns();
	     tl_http_client_destroy(cl) == -EBUSY && close_wait(loop, t0, "rest call");)
		;
	tl_io_loop_destroy(loop);
	return rc ? rc : g->err;
}

/* The header fields of a REST answer (rest_get) into resp, which the body filled. */
static void rest_take_headers(struct tl_venue_response *resp, const struct tl_venue_response *h)
{
	if (!resp->retry_wait_ms)
		resp->retry_wait_ms = h->retry_wait_ms;
	for (uint32_t i = 0; i < h->n_limits && resp->n_limits < TL_VENUE_RATE_LIMITS_MAX; i++)
		resp->limits[resp->n_limits++] = h->limits[i];
}

/*
 * Reads recovery's next page of myTrades (the cursor e->trades_at) into trades[], *nt of
 * them, through the rate limiter: it waits while the limiter says so, and after a refusal
 * for a rate limit (429, 418) asks again once the venue's wait is over, up to
 * RECOVERY_RATE_TRIES times, so a long read is paced rather than cut. Returns 0, -EIO for
 * any other refusal (logged), or the error of the request.
 */
#define RECOVERY_RATE_TRIES 10
#define RECOVERY_WAIT_MAX_NS 300000000000ll /* a longer wait (a ban) is not waited out */
static int recovery_page(struct engine *e, struct rest_get *g, struct tl_venue_trade *trades,
                         size_t *nt)
{
	struct tl_venue_parse_config pc;

	tl_venue_parse_config_default(&pc);
	pc.instruments = &e->inst;
	pc.n_instruments = 1;
	for (int refused = 0;;) {
		limiter_take_outside(e);
		int64_t now = (int64_t)tl_io_now_ns();
		int64_t wait = tl_venue_limiter_try(&e->limiter, now, MY_TRADES_WEIGHT, false);
		struct tl_venue_trades_req q;
		struct tl_venue_auth au = auth_now(e);
		struct tl_venue_response resp;
		struct tl_venue_verdict v;
		char target[1024];
		ssize_t len;
		int rc;

		if (wait < 0) /* its weight is above a limit the venue gave: it can never go */
			return (int)wait;
		if (wait > RECOVERY_WAIT_MAX_NS) {
			tl_log(TL_LOG_ERR, "run", "recovery: myTrades may not be asked for %lld s",
			       (long long)(wait / 1000000000));
			return -EAGAIN;
		}
		if (wait > 0) {
			struct timespec ts = {wait / 1000000000, wait % 1000000000};
			nanosleep(&ts, NULL);
			continue;
		}
		*nt = 0;
		run_trades_query(&e->trades_at, e->cfg.symbol, TRADES_PAGE, &q);
		if ((len = tl_venue_build_my_trades(target, sizeof(target), &au, &q)) < 0) {
			tl_venue_limiter_on_lost(&e->limiter, 1);
			return (int)len;
		}
		if ((rc = rest_get(e, target, g))) {
			tl_venue_limiter_on_lost(&e->limiter, 1);
			return rc;
		}
		if (tl_venue_parse_trades(&pc, g->body, g->len, g->status, &resp, trades,
		                          TRADES_PAGE, nt)) {
			tl_venue_limiter_on_response(&e->limiter, (int64_t)tl_io_now_ns(), NULL);
			tl_log(TL_LOG_ERR, "run", "recovery: myTrades: HTTP %d: %.200s", g->status,
			       g->body);
			return -EIO;
		}
		rest_take_headers(&resp, &g->headers);
		tl_venue_limiter_on_response(&e->limiter, (int64_t)tl_io_now_ns(), &resp);
		if (g->status == 200)
			return 0;
		if (tl_venue_classify(&resp, false, &v) != TL_VENUE_RATE_LIMITED ||
		    ++refused >= RECOVERY_RATE_TRIES) {
			tl_log(TL_LOG_ERR, "run", "recovery: myTrades: HTTP %d: %.200s", g->status,
			       g->body);
			return -EIO;
		}
		tl_log(TL_LOG_WARNING, "run",
		       "recovery: myTrades: rate limited (HTTP %d, code %d); asking again after "
		       "the venue's wait",
		       g->status, (int)resp.error_code);
	}
}

/*
 * A previous process that died (kill -9, a crash) may have left orders whose fills never
 * reached the ledger, and reservations no UNLOCK released. Its orders were cancelled just
 * before this (openOrders.cancelAll), so nothing more can fill. Each reservation is
 * released first (UNLOCK FINAL); then every trade since the earliest one the ledger can
 * lack is read from myTrades and settled. The ledger's keys make that safe: a trade it
 * already has is a duplicate. Fills are settled against available, after the release, so
 * the order of the two does not matter to the balances.
 *
 * How far back: an order's number says when its process started (order_seq is start ms x
 * 4096 + n), and a process quotes only after its own recovery settled everything before
 * its start. So a fill the ledger lacks belongs to the last process that placed orders, and
 * came after that process started. The newest journal entry that names an order names one
 * of that process's, or an older one (when the last process died before its first LOCK was
 * journalled): from that process's start, recovery misses nothing, even when nothing was
 * left reserved (an order can end, and its reservation go, while a fill whose report the
 * WebSocket lost is still being back-filled). A ledger whose journal names no order reads
 * from its first entry; one that holds no balance yet has no history, and is skipped. The
 * span is at least RECOVERY_LOOKBACK_MS and at most RECOVERY_MAX_MS.
 *
 * The read leaves the back-fill's cursor where it ended: the highest trade id read is the
 * run's high-water mark.
 */
static int recover(struct engine *e, const tl_ledger_reservation_t *stale, size_t n,
                   uint64_t last_order, int64_t first_ms)
{
	static char body[1 << 20];
	static struct tl_venue_trade trades[TRADES_PAGE];
	struct rest_get g = {.body = body, .cap = sizeof(body)};
	int64_t from_ms = e->start_wall_ms - RECOVERY_LOOKBACK_MS;
	int64_t bound_ms = last_order ? (int64_t)(last_order / 4096) : first_ms;
	uint64_t settled = 0, released = 0;
	size_t nt;
	bool known;
	int rc;

	run_trades_start(&e->trades_at, from_ms + e->clock_offset_ms - RECOVERY_MARGIN_MS, 0);
	ledger_total(e, e->asset_base, &known);
	if (n == 0 && !known)
		return 0; /* a new ledger: genesis follows */
	for (size_t i = 0; i < n; i++) {
		const tl_ledger_reservation_t *r = &stale[i];
		const char *asset = r->asset_id == e->asset_base    ? e->cfg.base
		                    : r->asset_id == e->asset_quote ? e->cfg.quote
		                                                    : NULL;
		tl_ledger_cmd_t c;
		tl_ledger_ack_t a;
		char cid[24];

		if ((int64_t)(r->order / 4096) < bound_ms)
			bound_ms = (int64_t)(r->order / 4096);
		if (!asset || r->account_id != e->account_id)
			continue; /* not this engine's instrument: left alone */
		memset(&c, 0, sizeof(c));
		c.type = TL_LEDGER_UNLOCK;
		c.flags = TL_LEDGER_FLAG_FINAL;
		c.order = r->order;
		c.ts_ms = e->start_wall_ms;
		snprintf(c.account, sizeof(c.account), "%s", e->cfg.account);
		snprintf(c.asset, sizeof(c.asset), "%s", asset);
		run_client_order_id(r->order, cid);
		snprintf(c.key, sizeof(c.key), "unlock:%s", cid);
		a = boot_call(e, &c);
		if (a.status == TL_LEDGER_FAILED)
			return -EIO;
		released += a.status == TL_LEDGER_APPLIED;
	}
	if (bound_ms < from_ms)
		from_ms = bound_ms;
	if (from_ms < e->start_wall_ms - RECOVERY_MAX_MS) {
		tl_log(TL_LOG_NOTICE, "run",
		       "recovery: the ledger's last order (or, naming none, its first entry) is "
		       "over %lld days old: myTrades is read from %lld days before this start",
		       RECOVERY_MAX_MS / 86400000, RECOVERY_MAX_MS / 86400000);
		from_ms = e->start_wall_ms - RECOVERY_MAX_MS;
	}
	run_trades_start(&e->trades_at, from_ms + e->clock_offset_ms - RECOVERY_MARGIN_MS, 0);
	do {
		if ((rc = recovery_page(e, &g, trades, &nt)))
			return rc;
		for (size_t i = 0; i < nt; i++) {
			const struct tl_venue_trade *t = &trades[i];
			tl_ledger_cmd_t c;
			tl_ledger_ack_t a;

			run_trades_seen(&e->trades_at, t->trade_id);
			if (strcmp(t->symbol, e->cfg.symbol) != 0)
				continue;
			fill_cmd(&e->cfg, &c, 0, t->trade_id, t->is_buyer, t->px.v, t->qty.v,
			         t->commission_units, t->commission_asset, t->time_ms, false);
			a = boot_call(e, &c);
			if (a.status != TL_LEDGER_APPLIED && a.status != TL_LEDGER_DUPLICATE) {
				tl_log(TL_LOG_ERR, "run", "recovery: trade %" PRIu64 ": %s %s",
				       t->trade_id, tl_ledger_status_name(a.status),
				       tl_ledger_reason_name(a.reason));
				return -EIO;
			}
			settled += a.status == TL_LEDGER_APPLIED;
		}
	} while (run_trades_more(&e->trades_at, nt, TRADES_PAGE, venue_now_ms(e)));
	atomic_store_explicit(&e->user_ctr.fills_recovered, settled, memory_order_relaxed);
	tl_log(TL_LOG_NOTICE, "run",
	       "recovery: %zu reservation(s) left by an earlier process (%" PRIu64
	       " released); %" PRIu64 " fill(s) it had not settled, settled now from myTrades "
	       "since %" PRId64 " ms before this start",
	       n, released, settled, e->start_wall_ms - from_ms);
	return 0;
}

/* Start-up reconciliation, then the threads. */
int engine_start(struct engine *e)
{
	static tl_ledger_reservation_t stale[1024];
	size_t n_stale = 0;
	uint64_t last_order = 0;
	int64_t first_ms = 0, retry_ms;
	char req[1024], answer[4096];
	struct tl_venue_auth a = auth_now(e);
	ssize_t n;
	int rc;

	/* What an earlier process left open, read before the ledger thread owns the table. */
	if ((rc = tl_ledger_reservations(e->ledger, stale, 1024, &n_stale)) ||
	    (rc = tl_ledger_history_bounds(e->ledger, &last_order, &first_ms)))
		return rc;
	if (n_stale > 1024) {
		tl_log(TL_LOG_ERR, "run", "%zu open reservations: more than recovery handles",
		       n_stale);
		return -E2BIG;
	}
	if ((rc = tl_ledger_start(e->ledger)))
		return rc;
	limiter_init(e);
	if ((rc = measure_clock(e))) {
		tl_log(TL_LOG_ERR, "run", "venue %s:%u: cannot read its clock: %s", e->cfg.host,
		       e->cfg.port, tl_strerror(rc));
		return rc;
	}
	/* Orders a previous run left open are cancelled first: the balances then read
	 * have nothing locked by an order this run does not know. */
	n = tl_venue_build_cancel_all(req, sizeof(req), 1, &a, e->cfg.symbol);
	if (n < 0 || (rc = venue_call(e, req, (size_t)n, answer, sizeof(answer)))) {
		tl_log(TL_LOG_ERR, "run", "venue %s:%u: cannot cancel open orders: %s", e->cfg.host,
		       e->cfg.port, tl_strerror(n < 0 ? (int)n : rc));
		return n < 0 ? (int)n : rc;
	}
	if ((rc = venue_balances(e, e->venue_start, 10, &retry_ms))) {
		tl_log(TL_LOG_ERR, "run", "venue: cannot read the account: %s", tl_strerror(rc));
		return rc;
	}
	if ((rc = register_names(e)) || (rc = recover(e, stale, n_stale, last_order, first_ms)) ||
	    (rc = reconcile_start(e)))
		return rc;
	if (e->cfg.layout == TL_RUN_LAYOUT_FUSED) {
		if ((rc = pthread_create(&e->md_thread, NULL, fused_main, e)))
			return -rc;
		e->md_running = true;
		return 0;
	}
	if ((rc = pthread_create(&e->strat_thread, NULL, strat_main, e)))
		return -rc;
	e->strat_running = true;
	if ((rc = pthread_create(&e->user_thread, NULL, user_main, e)))
		return -rc;
	e->user_running = true;
	if ((rc = pthread_create(&e->md_thread, NULL, md_main, e)))
		return -rc;
	e->md_running = true;
	return 0;
}

void engine_reconcile(struct engine *e, uint32_t window_ms)
{
	const char *names[2] = {e->cfg.base, e->cfg.quote};
	uint32_t ids[2] = {e->asset_base, e->asset_quote};
	int64_t venue[2], ledger[2], now = (int64_t)tl_io_now_ns(), retry_ms;
	enum run_drift_verdict verdict[2];
	bool same = true, known, adjusted = false, backfill = false;

	if (now < e->reconcile_quiet_until_ns)
		return; /* the venue asked us to wait */
	if (venue_balances(e, venue, 1, &retry_ms)) {
		/* Not answered: next time; refused with a wait: not before it is over. */
		e->reconcile_quiet_until_ns = now + retry_ms * 1000000;
		return;
	}
	for (int i = 0; i < 2; i++) {
		ledger[i] = ledger_total(e, ids[i], &known);
		same &= ledger[i] == venue[i];
		verdict[i] = run_drift_observe(&e->drift[i], venue[i] - ledger[i], now,
		                               (int64_t)window_ms * 1000000);
	}
	if (same) {
		if (atomic_exchange_explicit(&e->ledger_stale, 0, memory_order_acq_rel))
			tl_log(TL_LOG_NOTICE, "run",
			       "reconcile: the ledger agrees with the venue again; "
			       "quoting resumes");
		return;
	}
	/* Within the window the ledger is authoritative: fills may be on their way, or lost on
	 * the WebSocket, which a back-fill finds. Only a difference that stayed the same
	 * through the window is written (run_drift_observe). */
	for (int i = 0; i < 2; i++) {
		tl_ledger_cmd_t c;
		tl_ledger_ack_t a;

		backfill |= verdict[i] == RUN_DRIFT_NEW;
		if (verdict[i] != RUN_DRIFT_ADJUST)
			continue;
		memset(&c, 0, sizeof(c));
		c.type = TL_LEDGER_ADJUSTMENT;
		c.ts_ms = run_wall_ms();
		c.amount = (tl_ledger_dec_t){venue[i] - ledger[i], 8, 0};
		snprintf(c.account, sizeof(c.account), "%s", e->cfg.account);
		snprintf(c.asset, sizeof(c.asset), "%s", names[i]);
		snprintf(c.key, sizeof(c.key), "adj:reconcile:%" PRId64 ":%s", c.ts_ms, names[i]);
		snprintf(c.reason, sizeof(c.reason),
		         "reconcile: venue %" PRId64 " ledger %" PRId64 " for over %u ms", venue[i],
		         ledger[i], window_ms);
		a = boot_call(e, &c);
		tl_log(TL_LOG_WARNING, "run",
		       "reconcile: %s: the venue holds %" PRId64 ", the ledger %" PRId64
		       " for over %u ms: ADJUSTMENT %s; quoting paused (ledger_stale)",
		       names[i], venue[i], ledger[i], window_ms, tl_ledger_status_name(a.status));
		atomic_fetch_add_explicit(&e->user_ctr.adjustments, 1, memory_order_relaxed);
		adjusted = true;
	}
	if (backfill) {
		atomic_store_explicit(&e->backfill_request, 1, memory_order_release);
		tl_wait_wake(&e->user_wait);
	}
	if (adjusted) {
		atomic_store_explicit(&e->ledger_stale, 1, memory_order_release);
		tl_wait_wake(&e->strat_wait);
	}
}

static void join(pthread_t t, bool *running, _Atomic int *flag, tl_wait_t *w)
{
	if (!*running)
		return;
	atomic_store_explicit(flag, 1, memory_order_release);
	if (w)
		tl_wait_wake(w);
	pthread_join(t, NULL);
	*running = false;
}

void engine_stop(struct engine *e)
{
	uint64_t end = tl_io_now_ns() + (uint64_t)e->cfg.shutdown_wait_ms * 1000000;
	int64_t retry_ms;
	bool fused = e->cfg.layout == TL_RUN_LAYOUT_FUSED;

	atomic_store_explicit(&e->quoting_stop, 1, memory_order_release);
	tl_wait_wake(fused ? &e->user_wait : &e->strat_wait);
	while ((fused ? e->md_running : e->strat_running) &&
	       !atomic_load_explicit(&e->strat_idle, memory_order_acquire) &&
	       tl_io_now_ns() < end) {
		struct timespec ts = {0, 10000000};

		nanosleep(&ts, NULL);
	}
	if (!atomic_load_explicit(&e->strat_idle, memory_order_acquire))
		tl_log(TL_LOG_WARNING, "run",
		       "stop: orders still open after %u ms; the next start cancels them",
		       e->cfg.shutdown_wait_ms);
	join(e->md_thread, &e->md_running, &e->stop_md, fused ? &e->user_wait : NULL);
	join(e->user_thread, &e->user_running, &e->stop_user, &e->user_wait);
	join(e->strat_thread, &e->strat_running, &e->stop_strat, &e->strat_wait);
	tl_ledger_stop(e->ledger);
	/* The books at the end: the venue's against the ledger's. Three tries (at most 0.5 +
	 * 1 s of waits, or 8 s each when the venue says more): a stop is not held through a
	 * rate limit's whole minute; the drift is then unknown, and the summary says so. */
	if (venue_balances(e, e->venue_end, 3, &retry_ms) == 0) {
		uint32_t ids[2] = {e->asset_base, e->asset_quote};

		for (int i = 0; i < 2; i++) {
			bool known;

			e->ledger_end[i] = ledger_total(e, ids[i], &known);
		}
		e->have_end = true;
	}
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	tl_ledger_close(e->ledger);
	if (e->user_wait_open)
		tl_wait_close(&e->user_wait); /* every thread that could wake it is joined */
	tl_ring_destroy(e->md_ring);
	tl_ring_destroy(e->intent_ring);
	tl_ring_destroy(e->report_ring);
	tl_venue_signer_destroy(e->signer);
	free(e->seen);
	free(e->seen_fifo);
	free(e->links);
	free(e);
}

/* ======================================================================================
 * Status and summary
 * ====================================================================================== */

static void amount(char *buf, size_t cap, int64_t units)
{
	tl_ledger_units_format(units, 8, buf, cap);
}

void engine_status(struct engine *e, FILE *out)
{
	int64_t bid = atomic_load_explicit(&e->md_ctr.bid_px, memory_order_relaxed),
	        ask = atomic_load_explicit(&e->md_ctr.ask_px, memory_order_relaxed);
	int64_t inv = atomic_load_explicit(&e->strat_ctr.inventory, memory_order_relaxed);
	uint32_t dec = (uint32_t)e->cfg.scale.px_decimals;
	tl_ledger_balance_t b, q;
	int64_t pnl = 0;
	char mid[48], pnl_s[48];

	/* PnL, marked to the mid: the ledger's change in quote plus the change in base at
	 * the mid, both since start. */
	if (tl_ledger_balance_read(e->ledger, e->account_id, e->asset_base, &b) == 0 &&
	    tl_ledger_balance_read(e->ledger, e->account_id, e->asset_quote, &q) == 0 && bid &&
	    ask) {
		run_i128 base_delta = (run_i128)(b.available + b.locked - e->venue_start[0]);
		int64_t mid_units = (bid + ask) / 2; /* at px decimals */
		run_i128 v = base_delta * mid_units;

		for (uint32_t d = 0; d < dec; d++)
			v /= 10;
		pnl = (int64_t)v + (q.available + q.locked - e->venue_start[1]);
	}
	tl_ledger_units_format((bid + ask) / 2, dec, mid, sizeof(mid));
	amount(pnl_s, sizeof(pnl_s), pnl);
	fprintf(out,
	        "{\"status\":{\"mid\":\"%s\",\"spread_ticks\":%" PRId64
	        ",\"position_lots\":%" PRId64
	        ",\"pnl\":\"%s\",\"open_orders\":%u,\"fills\":%" PRIu64 ",\"ledger_seq\":%" PRIu64
	        ",\"t2t_p50_ns\":%" PRIu64 ",\"t2t_p99_ns\":%" PRIu64 "}}\n",
	        mid, e->cfg.tick ? (ask - bid) / e->cfg.tick : 0, inv, pnl_s,
	        atomic_load_explicit(&e->strat_ctr.live_slots, memory_order_relaxed),
	        atomic_load_explicit(&e->user_ctr.fills, memory_order_relaxed),
	        tl_ledger_last_seq(e->ledger), tl_hist_quantile(&e->strat_ctr.t2t, 0.5),
	        tl_hist_quantile(&e->strat_ctr.t2t, 0.99));
	fflush(out);
}

int64_t engine_drift(const struct engine *e, int asset)
{
	return e->have_end ? e->venue_end[asset] - e->ledger_end[asset] : INT64_MIN;
}

void engine_summary(struct engine *e, FILE *out)
{
	const struct user_counters *u = &e->user_ctr;
	char v[2][48], l[2][48];
	tl_hist_summary_t t2t, internal, leg[3], commit;

	for (int i = 0; i < 2; i++) {
		amount(v[i], sizeof(v[i]), e->venue_end[i]);
		amount(l[i], sizeof(l[i]), e->ledger_end[i]);
	}
	tl_hist_summary(&e->strat_ctr.t2t, &t2t);
	tl_hist_summary(&e->user_ctr.internal, &internal);
	tl_hist_summary(&e->md_ctr.apply, &leg[0]);
	tl_hist_summary(&e->strat_ctr.react, &leg[1]);
	tl_hist_summary(&e->user_ctr.send, &leg[2]);
	tl_hist_summary(tl_ledger_commit_hist(e->ledger), &commit);
	fprintf(
	    out,
	    "{\"orders_sent\":%" PRIu64 ",\"orders_acked\":%" PRIu64 ",\"orders_rejected\":%" PRIu64
	    ",\"orders_unknown\":%" PRIu64 ",\"cancels_sent\":%" PRIu64
	    ",\"cancels_presigned\":%" PRIu64 ",\"cancels_failed\":%" PRIu64 ",\"fills\":%" PRIu64
	    ",\"fills_ws\":%" PRIu64 ",\"fills_rest\":%" PRIu64 ",\"fills_recovered\":%" PRIu64
	    ",\"duplicates_dropped\":%" PRIu64 ",\"ledger_duplicates\":%" PRIu64
	    ",\"backfills\":%" PRIu64 ",\"settles_applied\":%" PRIu64
	    ",\"settles_rejected\":%" PRIu64 ",\"settles_failed\":%" PRIu64
	    ",\"adjustments\":%" PRIu64 ",\"breaker_trips\":%" PRIu64 ",\"throttled\":%" PRIu64
	    ",\"reconnects\":%" PRIu64 ",\"resyncs\":%" PRIu64 ",\"lock_rejects\":%" PRIu64
	    ",\"balances_checked\":%s,\"drift\":{\"%s\":\"%" PRId64 "\",\"%s\":\"%" PRId64
	    "\"},\"venue\":{\"%s\":\"%s\",\"%s\":\"%s\"},\"ledger\":{\"%s\":\"%s\",\"%s\":"
	    "\"%s\"},\"ledger_dir\":\"%s\",\"ledger_seq\":%" PRIu64 ",\"ledger_commits\":%" PRIu64
	    ",\"ledger_commit_p50_ns\":%" PRIu64 ",\"ledger_commit_p99_ns\":%" PRIu64
	    ",\"ledger_cpu\":%d,\"t2t_count\":%" PRIu64 ",\"t2t_p50_ns\":%" PRIu64
	    ",\"t2t_p99_ns\":%" PRIu64 ",\"t2t_max_ns\":%" PRIu64 ",\"internal_count\":%" PRIu64
	    ",\"internal_p50_ns\":%" PRIu64 ",\"internal_p99_ns\":%" PRIu64
	    ",\"internal_legs\":{\"md_p50_ns\":%" PRIu64 ",\"md_p99_ns\":%" PRIu64
	    ",\"strategy_p50_ns\":%" PRIu64 ",\"strategy_p99_ns\":%" PRIu64
	    ",\"user_p50_ns\":%" PRIu64 ",\"user_p99_ns\":%" PRIu64
	    "},\"layout\":\"%s\",\"warm_passes\":{\"md\":%" PRIu64 ",\"strategy\":%" PRIu64
	    ",\"user\":%" PRIu64 "},\"mask_key_draws\":{\"in_send\":%" PRIu64 ",\"idle\":%" PRIu64
	    "},\"account_calls_counted\":%" PRIu64 "}\n",
	    u->places, u->acks, u->rejects, u->unknowns, u->cancels, u->cancels_presigned,
	    u->cancels_failed, u->fills, u->fills_ws, u->fills_rest, u->fills_recovered,
	    u->fills_dup, u->ledger_duplicates, u->backfills, u->ledger_applied, u->ledger_rejected,
	    u->ledger_failed, u->adjustments, u->breaker_trips, u->throttled, u->reconnects,
	    e->md_ctr.book_down, e->strat_ctr.lock_rejects, e->have_end ? "true" : "false",
	    e->cfg.base, engine_drift(e, 0), e->cfg.quote, engine_drift(e, 1), e->cfg.base, v[0],
	    e->cfg.quote, v[1], e->cfg.base, l[0], e->cfg.quote, l[1], e->ledger_dir,
	    tl_ledger_last_seq(e->ledger), commit.count, commit.p50, commit.p99,
	    tl_ledger_cpu(e->ledger), t2t.count, t2t.p50, t2t.p99, t2t.max, internal.count,
	    internal.p50, internal.p99, leg[0].p50, leg[0].p99, leg[1].p50, leg[1].p99, leg[2].p50,
	    leg[2].p99, tl_run_layout_name(e->cfg.layout),
	    atomic_load_explicit(&e->md_ctr.warms, memory_order_relaxed),
	    atomic_load_explicit(&e->strat_ctr.warms, memory_order_relaxed),
	    atomic_load_explicit(&e->user_ctr.warms, memory_order_relaxed),
	    atomic_load_explicit(&u->key_draws_in_send, memory_order_relaxed),
	    atomic_load_explicit(&u->key_draws_idle, memory_order_relaxed),
	    tl_venue_limiter_counters(&e->limiter)->charged);
	fflush(out);
}
