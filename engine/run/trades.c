/*
 * trades.c: where the next page of the venue's trade history (myTrades) starts, for the
 * back-fill and start-up recovery (run_internal.h). No I/O: engine.c sends the queries.
 */
#include "run_internal.h"

/*
 * Past the window's end by less than this, the present may not be covered yet: our
 * estimate of the venue's clock (measured at start) can be off by a round trip, and the
 * venue stamps a trade with its own clock.
 */
#define PRESENT_MARGIN_MS 60000

void run_trades_start(struct run_trades_cursor *c, int64_t from_ms, uint64_t last_id)
{
	c->from_ms = from_ms > 0 ? from_ms : 1; /* a window's start is sent only when > 0 */
	c->last_id = last_id;
	c->by_window = false;
}

void run_trades_query(struct run_trades_cursor *c, const char *symbol, uint32_t limit,
                      struct tl_venue_trades_req *q)
{
	memset(q, 0, sizeof(*q));
	q->symbol = symbol;
	q->limit = limit;
	c->by_window = c->last_id == 0;
	if (c->by_window) {
		q->by = TL_VENUE_TRADES_WINDOW;
		q->start_ms = c->from_ms;
		q->end_ms = c->from_ms + RUN_TRADES_WINDOW_MS;
	} else {
		q->by = TL_VENUE_TRADES_FROM_ID;
		q->from_id = c->last_id + 1;
	}
}

void run_trades_seen(struct run_trades_cursor *c, uint64_t trade_id)
{
	if (trade_id > c->last_id)
		c->last_id = trade_id;
}

bool run_trades_more(struct run_trades_cursor *c, size_t n, uint32_t limit, int64_t venue_now_ms)
{
	int64_t end;

	if (!c->by_window)
		return n >= limit; /* by id: a full page may have more behind it */
	end = c->from_ms + RUN_TRADES_WINDOW_MS;
	if (c->last_id && (n >= limit || end < venue_now_ms + PRESENT_MARGIN_MS))
		return true; /* the rest, by id from the newest read */
	if (end >= venue_now_ms + PRESENT_MARGIN_MS)
		return false; /* the window reaches the present: nothing more yet */
	c->from_ms = end + 1; /* an empty day, wholly past: the next one */
	return true;
}
