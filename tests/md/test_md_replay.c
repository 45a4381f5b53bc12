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
 * - Tails: both captures parsed top first as the feed parses them (tl_md_sync_floors,
 *   tl_md_parse_top), beside a sync fed whole: the same results, the same top before each
 *   settle, the same whole books after. By hand: a tail held past its message, a tail out
 *   of the venue's order (TOP_LATE), a side applied whole with its tail, a bad tail
 *   (BAD_TAIL, resync), a tail buffered while not live, a sync without top_first.
 */
#include "tl_md.h"
#include "tl_test.h"

#include <errno.h>
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

/* The two BTCUSDT captures, day after day. */
static void btcusdt_paths(const char *dir, char a[512], char b[512])
{
	snprintf(a, 512, "%s/binance-spot/btcusdt_20240808.gz", dir);
	snprintf(b, 512, "%s/binance-spot/btcusdt_20240809.gz", dir);
}

static void test_btcusdt(const char *dir, struct tl_md_replay_stats *st)
{
	char a[512], b[512];
	char *files[] = {a, b};

	btcusdt_paths(dir, a, b);

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
	char *files[] = {a, b};

	btcusdt_paths(dir, a, b);
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

/*
 * A top-first sync on a new book of max_levels a side, brought live at update 10 (one
 * buffered event, 9..11, then the snapshot) with bids 100..91 and asks 101..110, 5 each.
 * *snap is that snapshot; its levels are in bids and asks, for going live again.
 */
static void live_ladder(uint32_t max_levels, tl_book_t **book, tl_md_sync_t **s,
                        struct tl_md_level bids[10], struct tl_md_level asks[10],
                        struct tl_md_msg *snap)
{
	struct tl_book_config bc;
	struct tl_md_sync_config sc;

	tl_book_config_default(&bc);
	bc.max_levels_per_side = max_levels;
	tl_md_sync_config_default(&sc);
	sc.top_first = true;
	CHECK_EQ(tl_book_create(book, &bc), 0);
	CHECK_EQ(tl_md_sync_create(s, &sc, *book), 0);
	for (int i = 0; i < 10; i++) {
		bids[i] = (struct tl_md_level){100 - i, 5};
		asks[i] = (struct tl_md_level){101 + i, 5};
	}
	struct tl_md_msg m = depth_msg(9, 11, bids, 0, asks, 0);
	CHECK_EQ(tl_md_sync_depth(*s, &m), TL_MD_SYNC_BUFFERED);
	*snap = depth_msg(0, 10, bids, 10, asks, 10);
	snap->kind = TL_MD_SNAPSHOT;
	CHECK_EQ(tl_md_sync_snapshot(*s, snap), TL_MD_SYNC_LIVE);
}

static void test_top_first_by_hand(void)
{
	tl_book_t *book;
	tl_md_sync_t *s;
	struct tl_md_level bids[10], asks[10];
	struct tl_md_msg m, snap;

	/* Live at 10: bids 100..91, asks 101..110. */
	live_ladder(12, &book, &s, bids, asks, &snap);

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

static bool settled(enum tl_md_sync_result r)
{
	return r == TL_MD_SYNC_APPLIED || r == TL_MD_SYNC_IGNORED;
}

/*
 * Tails, on both BTCUSDT captures: a reference sync takes each message parsed whole; a
 * top-first sync takes it as the feed does (settle, floors, tl_md_parse_top). Every result
 * the same; after each event the best levels the same before settling; after every 64th,
 * and at the end, the whole books the same. Most levels must have come in tails.
 */
static void test_tails_replay(const char *dir)
{
	char a[512], b[512];
	char *files[] = {a, b};

	btcusdt_paths(dir, a, b);
	struct tl_md_parser_config pc;
	struct tl_book_config bc;
	struct tl_md_sync_config rc_cfg, tc_cfg;
	tl_md_parser_t *ref_p, *top_p;
	tl_book_t *ref_book, *top_book;
	tl_md_sync_t *ref, *top;
	tl_md_reader_t *rd;
	struct tl_md_record rec;
	uint64_t events = 0, tops = 0, wholes = 0, parsed_top = 0;
	int r;

	tl_md_parser_config_default(&pc);
	tl_book_config_default(&bc);
	tl_md_sync_config_default(&rc_cfg);
	tc_cfg = rc_cfg;
	tc_cfg.top_first = true;
	CHECK_EQ(tl_md_parser_create(&ref_p, &pc), 0);
	CHECK_EQ(tl_md_parser_create(&top_p, &pc), 0);
	CHECK_EQ(tl_book_create(&ref_book, &bc), 0);
	CHECK_EQ(tl_book_create(&top_book, &bc), 0);
	CHECK_EQ(tl_md_sync_create(&ref, &rc_cfg, ref_book), 0);
	CHECK_EQ(tl_md_sync_create(&top, &tc_cfg, top_book), 0);
	CHECK_EQ(tl_md_reader_open(&rd, files, 2), 0);
	while ((r = tl_md_reader_next(rd, &rec)) == 1) {
		struct tl_md_msg m, t;
		struct tl_md_floors fl;

		if (tl_md_parse(ref_p, rec.json, rec.len, &m) != 0 ||
		    (m.kind != TL_MD_DEPTH && m.kind != TL_MD_SNAPSHOT))
			continue;
		if (m.kind == TL_MD_SNAPSHOT) {
			CHECK_EQ(tl_md_sync_snapshot(top, &m), tl_md_sync_snapshot(ref, &m));
			continue;
		}
		/* As the feed does it. */
		CHECK(settled(tl_md_sync_settle(top)));
		if (tl_md_sync_floors(top, rec.len, &fl)) {
			CHECK_EQ(tl_md_parse_top(top_p, rec.json, rec.len, &fl, &t), 0);
			parsed_top++;
		} else {
			CHECK_EQ(tl_md_parse(top_p, rec.json, rec.len, &t), 0);
		}
		enum tl_md_sync_result want = tl_md_sync_depth(ref, &m);
		CHECK_EQ(tl_md_sync_depth(top, &t), want);
		events++;
		if (want != TL_MD_SYNC_APPLIED)
			continue;
		check_best_equal(top_book, ref_book);
		tops++;
		if (tops % 64 == 0) {
			CHECK(settled(tl_md_sync_settle(top)));
			check_books_equal(top_book, ref_book);
			wholes++;
		}
	}
	CHECK_EQ(r, 0);
	CHECK(settled(tl_md_sync_settle(top)));
	check_books_equal(top_book, ref_book);
	const struct tl_md_sync_counters *c = tl_md_sync_counters(top);
	fprintf(stderr,
	        "tails: %llu events, %llu parsed top first, %llu tops and %llu whole books "
	        "compared; %llu tails held, %llu of %llu levels from tails, %llu late\n",
	        (unsigned long long)events, (unsigned long long)parsed_top,
	        (unsigned long long)tops, (unsigned long long)wholes,
	        (unsigned long long)c->tails_held, (unsigned long long)c->tail_levels,
	        (unsigned long long)c->levels_applied, (unsigned long long)c->tails_late);
	CHECK_EQ(c->levels_applied, tl_md_sync_counters(ref)->levels_applied);
	CHECK(tops > 6000);
	CHECK(c->tail_levels * 2 > c->levels_applied);
	CHECK_EQ(c->tails_late, 0);
	CHECK_EQ(c->bad_tails, 0);
	tl_md_reader_close(rd);
	tl_md_sync_destroy(top);
	tl_md_sync_destroy(ref);
	tl_book_destroy(top_book);
	tl_book_destroy(ref_book);
	tl_md_parser_destroy(top_p);
	tl_md_parser_destroy(ref_p);
}

/* A depth event of this test's book (prices in whole units, scale 0) parsed top first
 * under the sync's floors, from JSON; the parser is reused by the next call. */
static struct tl_md_msg tail_msg(tl_md_parser_t *p, tl_md_sync_t *s, const char *json)
{
	struct tl_md_floors fl;
	struct tl_md_msg m;

	CHECK(tl_md_sync_floors(s, strlen(json), &fl));
	CHECK_EQ(tl_md_parse_top(p, json, strlen(json), &fl, &m), 0);
	return m;
}

/* By hand: a tail out of the venue's order, a bad tail, a side applied whole with its tail,
 * and tails given to a sync that cannot hold them. */
static void test_tails_by_hand(void)
{
	struct tl_md_parser_config pc;
	struct tl_md_sync_config sc;
	tl_md_parser_t *p;
	tl_book_t *book;
	tl_md_sync_t *s;
	struct tl_md_level bids[10], asks[10];
	struct tl_md_floors fl;
	struct tl_md_msg m, snap;

	tl_md_parser_config_default(&pc);
	pc.scale.px_decimals = pc.scale.qty_decimals = 0;
	CHECK_EQ(tl_md_parser_create(&p, &pc), 0);
	tl_md_sync_config_default(&sc);

	/* Live at 11: bids 100..91, asks 101..110; floors 97 and 104. */
	live_ladder(64, &book, &s, bids, asks, &snap);
	CHECK(tl_md_sync_floors(s, 100, &fl));
	CHECK(fl.bid == 97 && fl.ask == 104);
	CHECK(!tl_md_sync_floors(s, sc.max_tail_bytes + 1, &fl)); /* too long to hold */

	/* In the venue's order: the tails wait for settle, the top is in at once. */
	char json[256];
	snprintf(json, sizeof(json), "%s",
	         "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":11,\"u\":11,"
	         "\"b\":[[\"99\",\"7\"],[\"92\",\"0\"],[\"60\",\"1\"]],\"a\":[[\"150\",\"2\"]]}");
	m = tail_msg(p, s, json);
	CHECK(m.bids_tail && m.asks_tail && m.n_bids == 1 && m.n_asks == 0);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK(!tl_md_sync_floors(s, 100, &fl)); /* something is held */
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){99}).v, 7);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){92}).v, 5);
	CHECK_EQ(tl_md_sync_counters(s)->tails_held, 2);
	memset(json, 'x', strlen(json)); /* the message is gone: the sync kept its copy */
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){92}).v, 0);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){60}).v, 1);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_ASK, (tl_px_t){150}).v, 2);
	CHECK_EQ(tl_md_sync_counters(s)->tail_levels, 3);

	/* Out of order: a new best bid after a far one. Applied at settle, and said. */
	m = tail_msg(p, s,
	             "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":12,\"u\":12,"
	             "\"b\":[[\"93\",\"1\"],[\"100\",\"9\"]],\"a\":[]}");
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){100}).v, 5);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_TOP_LATE);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){100}).v, 9);
	CHECK_EQ(tl_md_sync_counters(s)->tails_late, 1);

	/* The top four bids deleted: that side, tail and all, at once. */
	m = tail_msg(p, s,
	             "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":13,\"u\":13,"
	             "\"b\":[[\"100\",\"0\"],[\"99\",\"0\"],[\"98\",\"0\"],[\"97\",\"0\"],"
	             "[\"95\",\"8\"],[\"94\",\"0\"]],\"a\":[]}");
	CHECK(m.bids_tail != NULL);
	uint64_t whole = tl_md_sync_counters(s)->top_first_whole;
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_md_sync_counters(s)->top_first_whole, whole + 1);
	CHECK_EQ(best_px(book, TL_BOOK_BID), 96);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){95}).v, 8);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){94}).v, 0);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_IGNORED);

	/* A bad level in a tail: the top went in, then settle finds it; the book goes. */
	m = tail_msg(p, s,
	             "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":14,\"u\":14,"
	             "\"b\":[],\"a\":[[\"101\",\"4\"],[\"109\",\"1.5\"]]}");
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_ASK, (tl_px_t){101}).v, 4);
	CHECK_EQ(tl_md_sync_settle(s), TL_MD_SYNC_BAD_TAIL);
	CHECK_EQ(tl_md_sync_tail_error(s), -EDOM);
	CHECK_EQ(tl_md_sync_counters(s)->bad_tails, 1);
	CHECK_EQ(tl_md_sync_state(s), TL_MD_RESYNCING);
	CHECK_EQ(tl_book_levels(book, TL_BOOK_ASK), 0);
	CHECK(!tl_md_sync_floors(s, 100, &fl)); /* not live */

	/* Tails given to a sync that is not live: the event is buffered with its tails
	 * converted, and applied after the snapshot. */
	const char *j2 = "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":21,\"u\":23,"
	                 "\"b\":[[\"99\",\"3\"],[\"91\",\"2\"]],\"a\":[]}";
	fl = (struct tl_md_floors){.bid = 97, .ask = 104};
	CHECK_EQ(tl_md_parse_top(p, j2, strlen(j2), &fl, &m), 0);
	CHECK(m.bids_tail != NULL && m.n_bids == 1);
	CHECK_EQ(tl_md_sync_depth(s, &m), TL_MD_SYNC_BUFFERED);
	snap.final_id = 21;
	CHECK_EQ(tl_md_sync_snapshot(s, &snap), TL_MD_SYNC_LIVE);
	CHECK_EQ(tl_md_sync_book_id(s), 23);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){99}).v, 3);
	CHECK_EQ(tl_book_qty_at(book, TL_BOOK_BID, (tl_px_t){91}).v, 2);

	/* A sync without top_first applies a tail at once; not live, it has no floors. */
	tl_md_sync_t *plain;
	tl_book_t *plain_book;
	struct tl_book_config bc;
	tl_book_config_default(&bc);
	CHECK_EQ(tl_book_create(&plain_book, &bc), 0);
	CHECK_EQ(tl_md_sync_create(&plain, &sc, plain_book), 0);
	CHECK(!tl_md_sync_floors(plain, 100, &fl));
	m = depth_msg(9, 10, NULL, 0, NULL, 0);
	CHECK_EQ(tl_md_sync_depth(plain, &m), TL_MD_SYNC_BUFFERED);
	snap.final_id = 10;
	CHECK_EQ(tl_md_sync_snapshot(plain, &snap), TL_MD_SYNC_LIVE);
	CHECK(!tl_md_sync_floors(plain, 100, &fl));
	const char *j = "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":11,\"u\":11,"
	                "\"b\":[[\"99\",\"7\"],[\"92\",\"0\"]],\"a\":[]}";
	fl = (struct tl_md_floors){.bid = 97, .ask = 104};
	CHECK_EQ(tl_md_parse_top(p, j, strlen(j), &fl, &m), 0);
	CHECK_EQ(tl_md_sync_depth(plain, &m), TL_MD_SYNC_APPLIED);
	CHECK_EQ(tl_book_qty_at(plain_book, TL_BOOK_BID, (tl_px_t){92}).v, 0);
	CHECK_EQ(tl_md_sync_settle(plain), TL_MD_SYNC_IGNORED);
	tl_md_sync_destroy(plain);
	tl_book_destroy(plain_book);

	tl_md_sync_destroy(s);
	tl_book_destroy(book);
	tl_md_parser_destroy(p);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <shared/data dir>\n", argv[0]);
		return 2;
	}
	struct stat sb;
	test_top_first_by_hand();
	test_tails_by_hand();
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
	test_tails_replay(argv[1]);
	free(st);
	fprintf(stderr, "ok\n");
	return 0;
}
