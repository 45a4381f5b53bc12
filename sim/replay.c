/*
 * replay.c: a capture played back as one market's background liquidity (`tally sim
 * --replay`). See sim_server_internal.h for the contract.
 *
 * DESIGN
 * ------
 * tl_md_replay (engine/md) does the reading, parsing and depth sync, exactly as `tally
 * replay` does, one slice of capture time at a time. Its callbacks collect, for the
 * slice, the prices each depth event changed and the trades; the engine's
 * tl_sim_market_replay_step() then applies them against the captured book. Capture time
 * runs at `speed` times the sim's clock from the moment the capture's book first went
 * live. At the end of the files the capture is opened again and played from its start
 * (the engine sees a jump of the anchor, and handles it).
 *
 * The per-slice arrays are fixed at open. A slice that changes more prices than they hold
 * asks the engine to refresh the whole window instead (the same result, at O(depth));
 * trades beyond the array are counted and not played.
 */
#include "sim_internal.h"
#include "sim_server_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tl_log.h"
#include "tl_md.h"

#define CHANGED_MAX 16384u /* changed prices a side, per slice */
#define TRADES_MAX 4096u   /* captured trades per slice */
#define CAPTURE_DECIMALS 8

struct sim_replay {
	char *const *paths;
	size_t n_paths;
	char symbol[TL_SIM_SYMBOL_MAX + 1];
	uint32_t speed;
	struct tl_md_replay_opts opts;
	struct tl_md_replay_stats stats;
	tl_md_replay_t *md;
	const tl_book_t *book; /* the captured book (owned by md); valid while live */
	bool live;
	int64_t live_ns;     /* capture time when the book went live */
	int64_t live_sim_ms; /* the sim's clock then (set by the first step) */
	bool clock_set;
	uint64_t passes;      /* times the capture was started */
	uint64_t trades_over; /* trades beyond TRADES_MAX in a slice, not played */

	/* The slice being collected. */
	bool refresh_all;
	tl_px_t changed[2][CHANGED_MAX];
	uint32_t n_changed[2];
	struct tl_sim_replay_trade trades[TRADES_MAX];
	uint32_t n_trades;
};

static void note_changes(struct sim_replay *r, int side, const struct tl_md_level *lv, uint32_t n)
{
	if (r->n_changed[side] + n > CHANGED_MAX) {
		r->refresh_all = true;
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		r->changed[side][r->n_changed[side]++].v = lv[i].px;
}

static void on_depth(void *user, const char *symbol, enum tl_md_sync_result res,
                     const struct tl_md_msg *m, const tl_book_t *book)
{
	struct sim_replay *r = user;

	(void)symbol; /* the replay wants only r->symbol */
	switch (res) {
	case TL_MD_SYNC_APPLIED:
		r->book = book;
		note_changes(r, TL_SIM_BUY, m->bids, m->n_bids);
		note_changes(r, TL_SIM_SELL, m->asks, m->n_asks);
		break;
	case TL_MD_SYNC_LIVE:
		/* Buffered events were applied with the snapshot: take the whole book. */
		r->book = book;
		r->live = true;
		r->refresh_all = true;
		break;
	case TL_MD_SYNC_GAP:
	case TL_MD_SYNC_CROSSED:
	case TL_MD_SYNC_BOOK_FULL:
		/* The capture lost its book (md_replay logged why): hold the synthetic book
		 * still until a snapshot brings it back. */
		r->live = false;
		r->book = NULL;
		break;
	default:
		break;
	}
}

static void on_trade(void *user, const struct tl_md_msg *m)
{
	struct sim_replay *r = user;
	struct tl_sim_replay_trade *t;

	if (r->n_trades == TRADES_MAX) {
		r->trades_over++;
		return;
	}
	t = &r->trades[r->n_trades++];
	t->px.v = m->px;
	t->qty.v = m->qty;
	t->buyer_maker = m->buyer_maker;
}

static void slice_clear(struct sim_replay *r)
{
	r->refresh_all = false;
	r->n_changed[0] = r->n_changed[1] = 0;
	r->n_trades = 0;
}

/* Opens the capture and plays it until the symbol's book is live. Returns 0, -ENODATA
 * when the files end first, or the reader's error. */
static int start_pass(struct sim_replay *r)
{
	int rc;

	r->live = false;
	r->book = NULL;
	rc = tl_md_replay_open(&r->md, r->paths, r->n_paths, &r->opts, &r->stats);
	if (rc < 0)
		return rc;
	while (!r->live) {
		int64_t next = tl_md_replay_next_ns(r->md);

		/* One record at a time, so that live_ns is the stamp that made it live. */
		rc = tl_md_replay_until(r->md, next == INT64_MAX ? INT64_MIN : next);
		if (rc <= 0 && !r->live)
			return rc < 0 ? rc : -ENODATA;
		r->live_ns = next;
	}
	/* The trades and changes before the book went live are history, not this slice. */
	slice_clear(r);
	r->refresh_all = true;
	r->passes++;
	return 0;
}

int sim_replay_open(struct sim_replay **out, char *const paths[], size_t n, const char *symbol,
                    int px_decimals, int qty_decimals, uint32_t speed, tl_px_t *first_bid)
{
	struct sim_replay *r;
	struct tl_book_level best;
	int rc;

	if (!out || !paths || n == 0 || !symbol || speed == 0 || !first_bid || px_decimals < 0 ||
	    px_decimals > CAPTURE_DECIMALS || qty_decimals < 0 || qty_decimals > CAPTURE_DECIMALS)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->paths = paths;
	r->n_paths = n;
	snprintf(r->symbol, sizeof(r->symbol), "%s", symbol);
	r->speed = speed;
	r->opts.symbol = r->symbol;
	/* Binance writes 8 decimals: parsed so, every capture is exact, and the engine
	 * brings the numbers to the market's scale. */
	r->opts.scale.px_decimals = CAPTURE_DECIMALS;
	r->opts.scale.qty_decimals = CAPTURE_DECIMALS;
	r->opts.on_depth = on_depth;
	r->opts.on_trade = on_trade;
	r->opts.user = r;
	rc = start_pass(r);
	if (rc == 0 && !tl_book_best(r->book, TL_BOOK_BID, &best))
		rc = -ENODATA;
	if (rc < 0) {
		if (rc == -ENODATA)
			tl_log(LOG_ERR, "sim",
			       "replay: the capture has no %s book (a snapshot followed by its "
			       "depth stream, with a bid)",
			       symbol);
		sim_replay_close(r);
		return rc;
	}
	best.px.v /= sim_pow10(CAPTURE_DECIMALS - px_decimals);
	*first_bid = best.px;
	tl_log(LOG_INFO, "sim",
	       "replay: %s live at capture time %" PRId64 " ns; the capture plays at %ux", symbol,
	       r->live_ns, speed);
	*out = r;
	return 0;
}

int sim_replay_slice(struct sim_replay *r, int64_t now_ms, struct tl_sim_replay_step *step)
{
	int64_t until;
	int rc;

	if (!r->clock_set) {
		r->live_sim_ms = now_ms;
		r->clock_set = true;
	} else {
		slice_clear(r);
	}
	until = r->live_ns + (now_ms - r->live_sim_ms) * 1000000 * (int64_t)r->speed;
	rc = tl_md_replay_until(r->md, until);
	if (rc == 0) {
		tl_md_replay_close(r->md); /* completes r->stats */
		r->md = NULL;
		tl_log(LOG_INFO, "sim",
		       "replay: %s: the capture ended (pass %" PRIu64 ", %" PRIu64
		       " depth events, %" PRIu64 " trades); playing it again",
		       r->symbol, r->passes, r->stats.events, r->stats.trades);
		rc = start_pass(r);
		r->live_sim_ms = now_ms; /* the new pass starts now */
	}
	if (rc < 0) {
		tl_log(LOG_ERR, "sim", "replay: %s: %s", r->symbol, strerror(-rc));
		return rc;
	}
	memset(step, 0, sizeof(*step));
	step->book = r->live ? r->book : NULL;
	step->book_px_decimals = CAPTURE_DECIMALS;
	step->book_qty_decimals = CAPTURE_DECIMALS;
	step->refresh_all = r->refresh_all;
	for (int side = 0; side < 2; side++) {
		step->changed[side] = r->changed[side];
		step->n_changed[side] = r->n_changed[side];
	}
	step->trades = r->trades;
	step->n_trades = r->n_trades;
	return 0;
}

uint64_t sim_replay_passes(const struct sim_replay *r)
{
	return r->passes;
}

void sim_replay_close(struct sim_replay *r)
{
	if (!r)
		return;
	tl_md_replay_close(r->md);
	free(r);
}
