/*
 * test_md_feed.c: the live md feed over real sockets against md_venue.js, a node venue
 * that streams the real 0808 BTCUSDT capture and serves snapshots of its own book.
 *
 *   test_md_feed <tests/md dir> <shared/data dir>
 *
 * - A full run: the feed syncs, applies every event with no gap, and its top of book
 *   equals the capture's bookTicker wherever their update ids meet.
 * - With one event dropped by the venue: the feed sees the gap, discards its book,
 *   fetches a new snapshot, goes live again, and still matches the oracle afterwards.
 * - The same with the sync top first, as the engine runs it: the feed parses each event's
 *   far levels only after its top is out (tails), settles after each poll, and the oracle
 *   still matches at every point.
 * - An event with a bad level far from the top (--corrupt): refused, counted once as bad
 *   JSON, the book discarded and synced again, whole (a gap follows) and top first (found
 *   at settle, a bad tail).
 */
#include "../io/peer.h"
#include "tl_md.h"
#include "tl_test.h"

#include <sys/stat.h>

struct ticker {
	uint64_t u;
	int64_t bid_px, bid_qty, ask_px, ask_qty;
};

static struct ticker *tickers;
static size_t n_tickers;

static int cmp_ticker(const void *a, const void *b)
{
	uint64_t x = ((const struct ticker *)a)->u, y = ((const struct ticker *)b)->u;
	return x < y ? -1 : x > y;
}

static void load_tickers(const char *capture)
{
	char *paths[] = {(char *)capture};
	tl_md_reader_t *r;
	CHECK_EQ(tl_md_reader_open(&r, paths, 1), 0);
	struct tl_md_parser_config pc;
	tl_md_parser_config_default(&pc);
	pc.scale.px_decimals = pc.scale.qty_decimals = 8;
	tl_md_parser_t *p;
	CHECK_EQ(tl_md_parser_create(&p, &pc), 0);
	size_t cap = 1 << 17;
	tickers = malloc(cap * sizeof(*tickers));
	CHECK(tickers);
	struct tl_md_record rec;
	while (tl_md_reader_next(r, &rec) == 1) {
		struct tl_md_msg m;
		if (tl_md_parse(p, rec.json, rec.len, &m) == 0 && m.kind == TL_MD_TICKER) {
			CHECK(n_tickers < cap);
			tickers[n_tickers++] =
			    (struct ticker){m.final_id, m.bid.px, m.bid.qty, m.ask.px, m.ask.qty};
		}
	}
	qsort(tickers, n_tickers, sizeof(*tickers), cmp_ticker);
	tl_md_parser_destroy(p);
	tl_md_reader_close(r);
}

struct run {
	uint64_t last_u;
	uint64_t checked, mismatched;
	int updates;
};

static void on_book(tl_md_feed_t *f, void *user, uint64_t u, const tl_book_t *book)
{
	(void)f;
	struct run *run = user;
	run->last_u = u;
	run->updates++;
	struct ticker key = {.u = u};
	const struct ticker *t = bsearch(&key, tickers, n_tickers, sizeof(*tickers), cmp_ticker);
	if (!t)
		return;
	struct tl_book_level bid, ask;
	CHECK(tl_book_best(book, TL_BOOK_BID, &bid));
	CHECK(tl_book_best(book, TL_BOOK_ASK, &ask));
	run->checked++;
	if (bid.px.v != t->bid_px || bid.qty.v != t->bid_qty || ask.px.v != t->ask_px ||
	    ask.qty.v != t->ask_qty)
		run->mismatched++;
}

static void feed_run(const char *dir, const char *capture, int drop, int corrupt, bool top_first)
{
	char script[600], drop_arg[16], corrupt_arg[16];
	snprintf(script, sizeof(script), "%s/md_venue.js", dir);
	snprintf(drop_arg, sizeof(drop_arg), "%d", drop);
	snprintf(corrupt_arg, sizeof(corrupt_arg), "%d", corrupt);
	char *argv[] = {"node",      script,      "--capture", (char *)capture, "--drop", drop_arg,
	                "--corrupt", corrupt_arg, NULL};
	struct test_peer venue;
	CHECK_EQ(test_peer_start(&venue, argv), 0);

	tl_io_loop_t *loop;
	CHECK_EQ(tl_io_loop_create(&loop, NULL), 0);
	struct tl_md_feed_config cfg;
	tl_md_feed_config_default(&cfg);
	cfg.symbol = "BTCUSDT";
	cfg.ws.host = cfg.rest.host = "127.0.0.1";
	cfg.ws.port = cfg.rest.port = venue.port;
	cfg.ws.reconnect = false;
	cfg.snapshot_limit = 5000;
	cfg.sync.top_first = top_first;
	struct run run = {0};
	tl_md_feed_t *feed;
	CHECK_EQ(tl_md_feed_create(&feed, loop, &cfg, on_book, &run), 0);
	/* A warm pass goes into a scratch book: the feed's own stays empty and not live. */
	CHECK_EQ(tl_md_feed_warm(feed), 0);
	CHECK_EQ(tl_md_feed_state(feed), TL_MD_SYNCING);
	CHECK(!tl_book_best(tl_md_feed_book(feed), TL_BOOK_BID, &(struct tl_book_level){0}));
	CHECK_EQ(tl_md_feed_start(feed), 0);

	/* Until the venue has sent everything and the feed has applied the last event. */
	char line[256];
	uint64_t done_u = 0, warms = 0;
	int64_t deadline = test_peer_ms() + 60000;
	while (!done_u || run.last_u < done_u) {
		CHECK(test_peer_ms() < deadline);
		CHECK(tl_io_loop_poll(loop, 2 * 1000 * 1000) >= 0);
		/* As the engine does, once the top has gone out. */
		tl_md_feed_settle(feed);
		/* Between callbacks, as the engine does: the oracle below must not notice. */
		CHECK_EQ(tl_md_feed_warm(feed), 0);
		warms++;
		if (!done_u && test_peer_line(&venue, line, sizeof(line), 1) == 1 &&
		    strncmp(line, "DONE ", 5) == 0)
			done_u = strtoull(line + 5, NULL, 10);
	}
	const struct tl_md_sync_counters *sc = tl_md_feed_sync_counters(feed);
	const struct tl_md_feed_counters *fc = tl_md_feed_counters(feed);
	fprintf(stderr,
	        "drop %d, corrupt %d%s: %s, %llu tails held (%llu levels), %llu events applied, "
	        "%llu gaps, "
	        "%llu resyncs, %llu snapshots; oracle "
	        "%llu checked, %llu mismatched; %llu warm passes between\n",
	        drop, corrupt, top_first ? ", top first" : "",
	        tl_md_sync_state_name(tl_md_feed_state(feed)), (unsigned long long)sc->tails_held,
	        (unsigned long long)sc->tail_levels, (unsigned long long)sc->applied,
	        (unsigned long long)sc->gaps, (unsigned long long)sc->resyncs,
	        (unsigned long long)fc->snapshot_requests, (unsigned long long)run.checked,
	        (unsigned long long)run.mismatched, (unsigned long long)warms);
	CHECK_EQ(tl_md_feed_state(feed), TL_MD_LIVE);
	/* A corrupted event is refused: parsed whole, at once, and the next one is a gap;
	 * parsed top first, once its top is out, and the book is discarded there. */
	bool late = corrupt && top_first;
	CHECK_EQ(sc->gaps, (drop || (corrupt && !late)) ? 1 : 0);
	CHECK_EQ(sc->resyncs, (drop || corrupt) ? 1 : 0);
	CHECK_EQ(fc->snapshot_requests, (drop || corrupt) ? 2 : 1);
	CHECK_EQ(fc->bad_json, corrupt ? 1 : 0);
	CHECK_EQ(fc->bad_inexact + fc->bad_range + fc->bad_too_big, 0);
	CHECK_EQ(sc->bad_tails, late ? 1 : 0);
	CHECK_EQ(fc->other, 0); /* the canned events were not counted as stream messages */
	CHECK(run.checked > 500);
	/* Top first, the feed parses the far levels of an event only after its top is out. */
	CHECK_EQ(sc->tails_held > 1000, top_first);
	CHECK_EQ(sc->tails_late, 0);
	CHECK_EQ(run.mismatched, 0);

	tl_md_feed_stop(feed);
	for (int i = 0; i < 500 && tl_md_feed_destroy(feed) == -EBUSY; i++)
		tl_io_loop_poll(loop, 2 * 1000 * 1000);
	tl_io_loop_destroy(loop);
	test_peer_stop(&venue);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s <tests/md dir> <shared/data dir>\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char capture[600];
	snprintf(capture, sizeof(capture), "%s/binance-spot/btcusdt_20240808.gz", argv[2]);
	struct stat sb;
	if (stat(capture, &sb) != 0) {
		fprintf(stderr, "skipped: no recorded data at %s\n", argv[2]);
		return TL_TEST_SKIP;
	}
	if (system("NODE_PATH=/usr/share/nodejs node -e \"require('ws')\" >/dev/null 2>&1") != 0) {
		fprintf(stderr,
		        "skipped: node with the ws module (apt-get install node-ws) is missing\n");
		return TL_TEST_SKIP;
	}
	load_tickers(capture);
	feed_run(argv[1], capture, 0, 0, false);
	feed_run(argv[1], capture, 1000, 0, false);
	feed_run(argv[1], capture, 0, 1500, false);
	feed_run(argv[1], capture, 1000, 0, true);
	feed_run(argv[1], capture, 0, 1500, true);
	free(tickers);
	fprintf(stderr, "ok\n");
	return 0;
}
