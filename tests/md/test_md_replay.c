/*
 * test_md_replay.c: the md path (parser, depth sync, book) on real recorded data.
 *
 *   test_md_replay <shared/data dir>
 *
 * - The BTCUSDT captures (0808, then 0809) replay with no gap and end live.
 * - The free oracle: wherever a depth event's final id equals a bookTicker's update id,
 *   the book's best bid and ask, with both quantities, equal the ticker's exactly; more
 *   than 1000 such points must be checked.
 * - The four symbols of the cryptofeed BINANCE capture all sync.
 * - The 0808 capture with one depth event removed is a gap: the book is discarded and a
 *   resync starts; nothing after the gap is applied.
 * - Top first: a second sync with top_first takes every depth event and snapshot of both
 *   BTCUSDT captures beside the replay's own. Before it settles, its best bid and ask,
 *   with their quantities, equal the fully applied book's; once settled (every 64th
 *   event, and at the end) the whole books are equal, level for level. Most levels must
 *   have been held back, or the test would not test the held path.
 * - Top first, by hand: deleting a side's top levels applies that side whole (the new
 *   best was among the far levels); a gap drops what was held; a book that runs out of
 *   levels while settling is emptied and resynced.
 */
#include "tl_md.h"
#include "tl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct ticker {
	uint64_t u;
	int64_t bid_px, bid_qty, ask_px, ask_qty;
};

struct oracle {
	struct ticker *t;
	size_t n, cap;
	uint64_t checked, mismatched, applied;
	uint64_t last_applied_u;
};

static void collect_ticker(void *user, const struct tl_md_msg *m)
{
	struct oracle *o = user;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 4096;
		o->t = realloc(o->t, o->cap * sizeof(*o->t));
		CHECK(o->t);
	}
	o->t[o->n++] = (struct ticker){m->final_id, m->bid.px, m->bid.qty, m->ask.px, m->ask.qty};
}

static int cmp_ticker(const void *a, const void *b)
{
	uint64_t x = ((const struct ticker *)a)->u, y = ((const struct ticker *)b)->u;
	return x < y ? -1 : x > y;
}

static void check_top(void *user, const char *symbol, uint64_t u, const tl_book_t *book)
{
	(void)symbol;
	struct oracle *o = user;
	o->applied++;
	o->last_applied_u = u;
	if (o->n == 0)
		return;
	struct ticker key = {.u = u};
	const struct ticker *t = bsearch(&key, o->t, o->n, sizeof(*o->t), cmp_ticker);
	if (!t)
		return;
	struct tl_book_level bid, ask;
	CHECK(tl_book_best(book, TL_BOOK_BID, &bid));
	CHECK(tl_book_best(book, TL_BOOK_ASK, &ask));
	o->checked++;
	if (bid.px.v != t->bid_px || bid.qty.v != t->bid_qty || ask.px.v != t->ask_px ||
	    ask.qty.v != t->ask_qty) {
		if (o->mismatched++ < 5)
			fprintf(stderr,
			        "u=%llu book %lld x %lld / %lld x %lld, ticker %lld x %lld / %lld "
			        "x %lld\n",
			        (unsigned long long)u, (long long)bid.px.v, (long long)bid.qty.v,
			        (long long)ask.px.v, (long long)ask.qty.v, (long long)t->bid_px,
			        (long long)t->bid_qty, (long long)t->ask_px, (long long)t->ask_qty);
	}
}

static struct tl_md_replay_opts opts(void)
{
	struct tl_md_replay_opts o;
	memset(&o, 0, sizeof(o));
	o.scale.px_decimals = 8;
	o.scale.qty_decimals = 8;
	return o;
}

static const struct tl_md_replay_symbol *find_symbol(const struct tl_md_replay_stats *st,
                                                     const char *name)
{
	for (size_t i = 0; i < st->n_symbols && i < TL_MD_REPLAY_SYMBOLS; i++)
		if (strcmp(st->symbols[i].name, name) == 0)
			return &st->symbols[i];
	return NULL;
}

static void test_btcusdt(const char *dir, struct tl_md_replay_stats *st)
{
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/binance-spot/btcusdt_20240808.gz", dir);
	snprintf(b, sizeof(b), "%s/binance-spot/btcusdt_20240809.gz", dir);
	char *files[] = {a, b};

	/* First pass: every bookTicker, the oracle. */
	struct oracle orc = {0};
	struct tl_md_replay_opts o = opts();
	o.on_ticker = collect_ticker;
	o.user = &orc;
	CHECK_EQ(tl_md_replay_run(files, 2, &o, st), 0);
	CHECK(orc.n > 1000);
	qsort(orc.t, orc.n, sizeof(*orc.t), cmp_ticker);

	/* Second pass: the book against it. */
	o = opts();
	o.on_applied = check_top;
	o.user = &orc;
	CHECK_EQ(tl_md_replay_run(files, 2, &o, st), 0);
	fprintf(stderr,
	        "btcusdt: %llu depth events, %llu levels, %llu gaps; oracle: %llu points checked, "
	        "%llu mismatched\n",
	        (unsigned long long)st->events, (unsigned long long)st->levels_applied,
	        (unsigned long long)st->gaps, (unsigned long long)orc.checked,
	        (unsigned long long)orc.mismatched);
	CHECK_EQ(st->gaps, 0);
	CHECK_EQ(st->resyncs, 0);
	CHECK_EQ(st->bad_json + st->bad_inexact + st->bad_range + st->bad_too_big, 0);
	CHECK_EQ(st->n_symbols, 1);
	CHECK_EQ(st->symbols[0].state, TL_MD_LIVE);
	CHECK(orc.checked > 1000);
	CHECK_EQ(orc.mismatched, 0);
	free(orc.t);
}

static void test_cryptofeed(const char *dir, struct tl_md_replay_stats *st)
{
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/cryptofeed/BINANCE.ws.1.0", dir);
	snprintf(b, sizeof(b), "%s/cryptofeed/BINANCE.http.0.0", dir);
	char *files[] = {a, b};
	struct tl_md_replay_opts o = opts();
	CHECK_EQ(tl_md_replay_run(files, 2, &o, st), 0);
	static const char *const symbols[] = {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"};
	for (size_t i = 0; i < 4; i++) {
		const struct tl_md_replay_symbol *s = find_symbol(st, symbols[i]);
		CHECK(s != NULL);
		fprintf(stderr, "cryptofeed %s: %s, %llu applied, %llu gaps\n", symbols[i],
		        tl_md_sync_state_name(s->state), (unsigned long long)s->counters.applied,
		        (unsigned long long)s->counters.gaps);
		CHECK_EQ(s->state, TL_MD_LIVE);
		CHECK(s->counters.applied > 0);
		CHECK_EQ(s->counters.gaps, 0);
	}
}

/* Copies the 0808 capture without its `skip`-th depth event after the snapshot. Returns
 * that event's final id. */
static uint64_t write_without_one(const char *dir, const char *out_path, int skip)
{
	char in_path[512];
	snprintf(in_path, sizeof(in_path), "%s/binance-spot/btcusdt_20240808.gz", dir);
	gzFile in = gzopen(in_path, "rb");
	FILE *out = fopen(out_path, "w");
	CHECK(in && out);
	static char line[1 << 20];
	bool after_snapshot = false;
	int depth_seen = 0;
	uint64_t removed = 0;
	while (gzgets(in, line, sizeof(line))) {
		if (strstr(line, "\"lastUpdateId\""))
			after_snapshot = true;
		if (after_snapshot && strstr(line, "depthUpdate") && ++depth_seen == skip) {
			const char *u = strstr(line, "\"u\":");
			CHECK(u);
			removed = strtoull(u + 4, NULL, 10);
			continue;
		}
		fputs(line, out);
	}
	gzclose(in);
	fclose(out);
	return removed;
}

static void test_gap(const char *dir, struct tl_md_replay_stats *st)
{
	char path[] = "/tmp/tally-md-gap-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	uint64_t removed = write_without_one(dir, path, 50);
	CHECK(removed > 0);
	char *files[] = {path};
	struct oracle orc = {0};
	struct tl_md_replay_opts o = opts();
	o.on_applied = check_top;
	o.user = &orc;
	CHECK_EQ(tl_md_replay_run(files, 1, &o, st), 0);
	fprintf(stderr,
	        "gap: removed u=%llu; %llu gaps, %llu resyncs, last applied u=%llu, state %s\n",
	        (unsigned long long)removed, (unsigned long long)st->gaps,
	        (unsigned long long)st->resyncs, (unsigned long long)orc.last_applied_u,
	        tl_md_sync_state_name(st->symbols[0].state));
	CHECK_EQ(st->gaps, 1);
	CHECK_EQ(st->resyncs, 1);
	/* Never silently applied: nothing at or after the missing event reached the book. */
	CHECK(orc.last_applied_u < removed);
	CHECK_EQ(st->symbols[0].state, TL_MD_RESYNCING);
	unlink(path);
}

/* The whole of both books' sides, level for level. */
static void check_books_equal(const tl_book_t *a, const tl_book_t *b)
{
	static struct tl_book_level la[TL_BOOK_LEVELS_MAX], lb[TL_BOOK_LEVELS_MAX];

	for (int side = TL_BOOK_BID; side <= TL_BOOK_ASK; side++) {
		size_t na = tl_book_top(a, (tl_book_side_t)side, la, TL_BOOK_LEVELS_MAX);
		size_t nb = tl_book_top(b, (tl_book_side_t)side, lb, TL_BOOK_LEVELS_MAX);
		CHECK_EQ(na, nb);
		CHECK_EQ(na, tl_book_levels(a, (tl_book_side_t)side));
		CHECK(memcmp(la, lb, na * sizeof(*la)) == 0);
	}
}

static void check_best_equal(const tl_book_t *a, const tl_book_t *b)
{
	for (int side = TL_BOOK_BID; side <= TL_BOOK_ASK; side++) {
		struct tl_book_level x = {0}, y = {0};
		CHECK_EQ(tl_book_best(a, (tl_book_side_t)side, &x),
		         tl_book_best(b, (tl_book_side_t)side, &y));
		CHECK_EQ(x.px.v, y.px.v);
		CHECK_EQ(x.qty.v, y.qty.v);
	}
}

struct shadow {
	tl_book_t *book;
	tl_md_sync_t *sync;
	uint64_t compared_top, compared_whole;
};

/* Each depth event and snapshot the replay's sync took, into the top-first sync. */
static void shadow_depth(void *user, const char *symbol, enum tl_md_sync_result r,
                         const struct tl_md_msg *m, const tl_book_t *book)
{
	struct shadow *sh = user;
	(void)symbol;
	enum tl_md_sync_result mine = m->kind == TL_MD_DEPTH ? tl_md_sync_depth(sh->sync, m)
	                                                     : tl_md_sync_snapshot(sh->sync, m);
	CHECK_EQ(mine, r);
	if (r != TL_MD_SYNC_APPLIED && r != TL_MD_SYNC_LIVE)
		return;
	check_best_equal(sh->book, book);
	sh->compared_top++;
	if (sh->compared_top % 64 == 0) {
		CHECK(tl_md_sync_settle(sh->sync) != TL_MD_SYNC_BOOK_FULL);
		check_books_equal(sh->book, book);
		sh->compared_whole++;
	}
}

static void test_top_first_replay(const char *dir, struct tl_md_replay_stats *st)
{
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/binance-spot/btcusdt_20240808.gz", dir);
	snprintf(b, sizeof(b), "%s/binance-spot/btcusdt_20240809.gz", dir);
	char *files[] = {a, b};
	struct tl_book_config bc;
	struct tl_md_sync_config sc;
	struct shadow sh = {0};

	tl_book_config_default(&bc);
	tl_md_sync_config_default(&sc);
	sc.top_first = true;
	CHECK_EQ(tl_book_create(&sh.book, &bc), 0);
	CHECK_EQ(tl_md_sync_create(&sh.sync, &sc, sh.book), 0);
	struct tl_md_replay_opts o = opts();
	o.on_depth = shadow_depth;
	o.user = &sh;
	CHECK_EQ(tl_md_replay_run(files, 2, &o, st), 0);
	CHECK_EQ(st->symbols[0].state, TL_MD_LIVE);

	const struct tl_md_sync_counters *c = tl_md_sync_counters(sh.sync);
	/* The last event's held levels, then the end state. */
	CHECK_EQ(tl_md_sync_settle(sh.sync),
	         c->levels_held ? TL_MD_SYNC_APPLIED : TL_MD_SYNC_IGNORED);
	CHECK_EQ(tl_md_sync_settle(sh.sync), TL_MD_SYNC_IGNORED);
	fprintf(stderr,
	        "top first: %llu tops and %llu whole books compared; %llu of %llu levels held "
	        "back, %llu sides applied whole\n",
	        (unsigned long long)sh.compared_top, (unsigned long long)sh.compared_whole,
	        (unsigned long long)c->levels_held, (unsigned long long)c->levels_applied,
	        (unsigned long long)c->top_first_whole);
	CHECK_EQ(c->levels_applied, st->levels_applied);
	CHECK(sh.compared_top > 6000);
	CHECK(c->levels_held * 2 > c->levels_applied);
	tl_md_sync_destroy(sh.sync);
	tl_book_destroy(sh.book);
}

static struct tl_md_msg depth_msg(uint64_t first, uint64_t final, struct tl_md_level *bids,
                                  uint32_t n_bids, struct tl_md_level *asks, uint32_t n_asks)
{
	struct tl_md_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = TL_MD_DEPTH;
	strcpy(m.symbol, "T");
	m.first_id = first;
	m.final_id = final;
	m.bids = bids;
	m.n_bids = n_bids;
	m.asks = asks;
	m.n_asks = n_asks;
	return m;
}

static int64_t best_px(const tl_book_t *b, tl_book_side_t side)
{
	struct tl_book_level l = {0};
	return tl_book_best(b, side, &l) ? l.px.v : -1;
}

static void test_top_first_by_hand(void)
{
	struct tl_book_config bc;
	struct tl_md_sync_config sc;
	tl_book_t *book;
	tl_md_sync_t *s;
	struct tl_md_level bids[10], asks[10];

	tl_book_config_default(&bc);
	bc.max_levels_per_side = 12;
	tl_md_sync_config_default(&sc);
	sc.top_first = true;
	CHECK_EQ(tl_book_create(&book, &bc), 0);
	CHECK_EQ(tl_md_sync_create(&s, &sc, book), 0);

	/* Live at 10: bids 100..91, asks 101..110. */
	for (int i = 0; i < 10; i++) {
		bids[i] = (struct tl_md_level){100 - i, 5};
		asks[i] = (struct tl_md_level){101 + i, 5};
	}
	struct tl_md_msg m = depth_msg(9, 11, bids, 0, asks, 0);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_BUFFERED);
	struct tl_md_msg snap = depth_msg(0, 10, bids, 10, asks, 10);
	snap.kind = TL_MD_SNAPSHOT;
	CHECK_EQ(tl_md_sync_snapshot(s, &snap), TL_MD_SYNC_LIVE);

	/* Far levels wait; the near one is in. Floors: bid 97, ask 104. */
	struct tl_md_level b1[] = {{92, 0}, {99, 7}, {60, 1}}, a1[] = {{109, 0}, {150, 2}};
	m = depth_msg(12, 12, b1, 3, a1, 2);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_md_sync_counters(s)->levels_held, 4);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){99}).v, 7);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){92}).v, 5);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_ASK), 10);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){92}).v, 0);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){60}).v, 1);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_ASK), 10);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_IGNORED);

	/* The top four bids deleted, the new best among the far levels: that side whole. */
	struct tl_md_level b2[] = {{95, 9}, {100, 0}, {99, 0}, {98, 0}, {97, 0}};
	m = depth_msg(13, 13, b2, 5, NULL, 0);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_md_sync_counters(s)->top_first_whole, 1);
	CHECK_EQ(best_px(book, TL_BOOK_BID), 96);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){95}).v, 9);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_IGNORED);

	/* Held levels, then a gap: dropped with the book. */
	struct tl_md_level a3[] = {{108, 3}};
	m = depth_msg(14, 14, NULL, 0, a3, 1);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	m = depth_msg(16, 16, NULL, 0, NULL, 0);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_GAP);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_IGNORED);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_ASK), 0);

	/* Live again at 20, then more far asks than the side holds: full on settle. */
	m = depth_msg(20, 21, NULL, 0, NULL, 0);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_BUFFERED);
	snap.final_id = 20;
	CHECK_EQ(tl_md_sync_snapshot(s, &snap), TL_MD_SYNC_LIVE);
	struct tl_md_level a4[] = {{200, 1}, {201, 1}, {202, 1}};
	m = depth_msg(22, 22, NULL, 0, a4, 3);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(best_px(book, TL_BOOK_ASK), 101);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_BOOK_FULL);
	CHECK_EQ(tl_md_sync_state(s), TL_MD_RESYNCING);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_ASK), 0);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_BID), 0);

	tl_md_sync_destroy(s);
	tl_book_destroy(book);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <shared/data dir>\n", argv[0]);
		return 2;
	}
	struct stat sb;
	test_top_first_by_hand();
	if (stat(argv[1], &sb) != 0) {
		fprintf(stderr, "skipped: no recorded data at %s\n", argv[1]);
		return TL_TEST_SKIP;
	}
	struct tl_md_replay_stats *st = malloc(sizeof(*st));
	CHECK(st);
	test_btcusdt(argv[1], st);
	test_cryptofeed(argv[1], st);
	test_gap(argv[1], st);
	test_top_first_replay(argv[1], st);
	free(st);
	fprintf(stderr, "ok\n");
	return 0;
}
