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

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <shared/data dir>\n", argv[0]);
		return 2;
	}
	struct stat sb;
	if (stat(argv[1], &sb) != 0) {
		fprintf(stderr, "skipped: no recorded data at %s\n", argv[1]);
		return TL_TEST_SKIP;
	}
	struct tl_md_replay_stats *st = malloc(sizeof(*st));
	CHECK(st);
	test_btcusdt(argv[1], st);
	test_cryptofeed(argv[1], st);
	test_gap(argv[1], st);
	free(st);
	fprintf(stderr, "ok\n");
	return 0;
}
