/*
 * test_run_trades.c: the myTrades pager (engine/run/trades.c) against a model of the
 * venue's rules (PROTOCOL.md): by fromId, trades from that id on; by startTime/endTime, a
 * window of at most 24 h, both ends included; at most `limit` trades a page, oldest first.
 *
 * - Every trade from the start point to the present is read, whatever lies between: days
 *   with no trade, a window fuller than a page, a first trade weeks after the start.
 *   Reading from startTime alone, as recovery did before, a day with trades followed by
 *   quiet ones stopped the read there.
 * - No trade is read twice, and no query asks for more than 24 h.
 * - It stops at the present, within a bounded number of queries, with nothing read.
 * - Started after a trade id, it asks by id only.
 */
#include "run_internal.h"
#include "tl_test.h"

#include <stdio.h>
#include <stdlib.h>

#define DAY (24 * 3600 * 1000ll)
#define T0 1750000000000ll /* the start point of every case */
#define TRADES_MAX 5000

struct trade {
	uint64_t id;
	int64_t ms;
};

static struct trade hist[TRADES_MAX];
static size_t n_hist;

static void add_trades(int64_t at_ms, size_t count, int64_t step_ms)
{
	for (size_t i = 0; i < count; i++) {
		CHECK(n_hist < TRADES_MAX);
		hist[n_hist].id = n_hist + 1;
		hist[n_hist].ms = at_ms + (int64_t)i * step_ms;
		n_hist++;
	}
}

/* The venue: the trades q asks for, oldest first, into ids[]. */
static size_t venue_page(const struct tl_venue_trades_req *q, uint64_t *ids)
{
	size_t n = 0;

	if (q->by == TL_VENUE_TRADES_WINDOW) {
		CHECK(q->start_ms > 0 && q->end_ms >= q->start_ms);
		CHECK(q->end_ms - q->start_ms <= DAY); /* the venue refuses longer */
	} else {
		CHECK_EQ(q->by, TL_VENUE_TRADES_FROM_ID);
	}
	for (size_t i = 0; i < n_hist && n < q->limit; i++) {
		bool in = q->by == TL_VENUE_TRADES_FROM_ID
		              ? hist[i].id >= q->from_id
		              : hist[i].ms >= q->start_ms && hist[i].ms <= q->end_ms;
		if (in)
			ids[n++] = hist[i].id;
	}
	return n;
}

/* Reads from `from_ms` (or after `last_id`) to `now_ms` in pages of `limit`. Checks every
 * trade after the start point was read exactly once; returns the queries it took. */
static unsigned read_all(int64_t from_ms, uint64_t last_id, int64_t now_ms, uint32_t limit)
{
	static uint64_t ids[1000];
	static unsigned char got[TRADES_MAX + 1];
	struct run_trades_cursor c;
	struct tl_venue_trades_req q;
	unsigned queries = 0;
	size_t n;

	memset(got, 0, sizeof(got));
	run_trades_start(&c, from_ms, last_id);
	do {
		run_trades_query(&c, "BTCUSDT", limit, &q);
		if (last_id)
			CHECK_EQ(q.by, TL_VENUE_TRADES_FROM_ID);
		n = venue_page(&q, ids);
		for (size_t i = 0; i < n; i++) {
			CHECK(ids[i] <= TRADES_MAX);
			CHECK_EQ(got[ids[i]], 0); /* never twice */
			got[ids[i]] = 1;
			run_trades_seen(&c, ids[i]);
		}
		CHECK(++queries < 100000);
	} while (run_trades_more(&c, n, limit, now_ms));
	for (size_t i = 0; i < n_hist; i++) {
		bool due = last_id ? hist[i].id > last_id : hist[i].ms >= from_ms;
		if (got[hist[i].id] != due)
			fprintf(stderr, "trade %llu at T0%+lld ms: %s\n",
			        (unsigned long long)hist[i].id, (long long)(hist[i].ms - T0),
			        due ? "missed" : "read, but before the start");
		CHECK_EQ(got[hist[i].id], due);
	}
	return queries;
}

int main(void)
{
	unsigned q;

	/* Nothing at all: one window a day up to the present, then done. */
	n_hist = 0;
	q = read_all(T0, 0, T0 + 10 * DAY, 1000);
	CHECK(q >= 10 && q <= 12);

	/* Trades on the first day, none on the next two, more on the fourth: the case a
	 * startTime-only read lost. */
	n_hist = 0;
	add_trades(T0 + 3600000, 3, 1000);
	add_trades(T0 + 3 * DAY + 5000, 5, 1000);
	read_all(T0, 0, T0 + 3 * DAY + 3600000, 1000);

	/* The first trade three weeks after the start point. */
	n_hist = 0;
	add_trades(T0 + 21 * DAY + 77, 4, 10);
	q = read_all(T0, 0, T0 + 22 * DAY, 1000);
	CHECK(q >= 22 && q <= 25);

	/* A window fuller than a page, then one trade a day for a week: by id from the first
	 * page on, one page of 7 behind the full ones. */
	n_hist = 0;
	add_trades(T0 + 1000, 2500, 1);
	for (int d = 1; d <= 7; d++)
		add_trades(T0 + d * DAY, 1, 1);
	q = read_all(T0, 0, T0 + 8 * DAY, 1000);
	CHECK_EQ(q, 3);

	/* Trades before the start point are not read; a trade a moment ago is. */
	n_hist = 0;
	add_trades(T0 - 5000, 3, 1000);
	add_trades(T0 + 2 * DAY - 10, 1, 1);
	read_all(T0, 0, T0 + 2 * DAY, 1000);

	/* After a known trade id: by id only, in full pages. */
	n_hist = 0;
	add_trades(T0, 2100, 1000);
	q = read_all(T0, 600, T0 + DAY, 500);
	CHECK_EQ(q, 4); /* 500 + 500 + 500 + 0 */

	/* A start point of 0 or less (an unknown time) counts as 1 ms after the epoch. */
	{
		struct run_trades_cursor c;
		struct tl_venue_trades_req r;

		run_trades_start(&c, -5, 0);
		run_trades_query(&c, "BTCUSDT", 10, &r);
		CHECK_EQ(r.by, TL_VENUE_TRADES_WINDOW);
		CHECK_EQ(r.start_ms, 1);
		CHECK_EQ(r.end_ms, 1 + RUN_TRADES_WINDOW_MS);
	}
	printf("test_run_trades: ok\n");
	return 0;
}
