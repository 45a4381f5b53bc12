/*
 * fuzz_md_parse.c: libFuzzer target for the market-data parsers (tl_md.h, parsing).
 *
 * The input is one message. It goes through the scanner (tl_md_parse) and the jsmn
 * parser (tl_md_parse_jsmn) under two configs: scale 8/8 with only 4 levels per side (so
 * that -E2BIG is reached), and scale 2/5 with the default limits (so that -EDOM is
 * common). Both parsers must return the same code, and on success the same message,
 * field by field and level by level. Any crash or sanitizer report is a finding too.
 *
 * The one documented difference, jsmn's -E2BIG when its token pool is too small, cannot
 * happen here: a message of n bytes needs at most n tokens, and the pool holds
 * MAX_INPUT tokens; longer inputs are skipped.
 *
 * Top first: the input also goes through tl_md_parse_top(), under floors taken from the
 * full parse's levels (or from the input's length when it has none). What the full parse
 * takes, it takes, with the same fields, converting each side up to its first level past
 * the floor, and its tails convert (tl_md_parse_tail) to exactly the rest. What the full
 * parse refuses, it refuses with the same error, or takes as a depth event with a tail
 * that does not convert. A depth event it takes whose tails all convert, the full parse
 * takes too.
 *
 * The input also goes to tl_md_dec_parse() at a scale taken from its length: a value it
 * accepts must format back (tl_md_dec_format) to a string that parses to the same value.
 *
 * The message is copied into a heap block of exactly its size so that AddressSanitizer
 * sees any read past the end.
 */
#include "tl_md.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_md_parse: %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct pair {
	tl_md_parser_t *scan, *jsmn;
	uint32_t max_levels;
};

static struct pair pairs[2];

static void pair_init(struct pair *pr, int px_decimals, int qty_decimals, uint32_t max_levels)
{
	struct tl_md_parser_config c;

	tl_md_parser_config_default(&c);
	c.scale.px_decimals = px_decimals;
	c.scale.qty_decimals = qty_decimals;
	c.max_levels = max_levels;
	c.max_tokens = MAX_INPUT;
	REQUIRE(tl_md_parser_create(&pr->scan, &c) == 0);
	REQUIRE(tl_md_parser_create(&pr->jsmn, &c) == 0);
	pr->max_levels = max_levels;
}

static bool levels_equal(const struct tl_md_level *a, const struct tl_md_level *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i].px != b[i].px || a[i].qty != b[i].qty)
			return false;
	return true;
}

static void check_pair(struct pair *pr, const char *json, size_t len)
{
	struct tl_md_msg a, b;
	int ra = tl_md_parse(pr->scan, json, len, &a);
	int rb = tl_md_parse_jsmn(pr->jsmn, json, len, &b);

	if (ra != rb) {
		fprintf(stderr, "fuzz_md_parse: scanner %d, jsmn %d\n", ra, rb);
		abort();
	}
	if (ra != 0) {
		REQUIRE(ra == -EBADMSG || ra == -EDOM || ra == -ERANGE || ra == -E2BIG);
		REQUIRE(a.kind == TL_MD_NONE && b.kind == TL_MD_NONE);
		return;
	}
	REQUIRE(a.kind > TL_MD_NONE && a.kind <= TL_MD_OTHER);
	REQUIRE(a.kind == b.kind);
	REQUIRE(memchr(a.symbol, '\0', sizeof(a.symbol)) != NULL);
	REQUIRE(strcmp(a.symbol, b.symbol) == 0);
	REQUIRE(a.event_ms == b.event_ms && a.first_id == b.first_id && a.final_id == b.final_id &&
	        a.trade_id == b.trade_id);
	REQUIRE(a.bid.px == b.bid.px && a.bid.qty == b.bid.qty && a.ask.px == b.ask.px &&
	        a.ask.qty == b.ask.qty);
	REQUIRE(a.px == b.px && a.qty == b.qty && a.trade_ms == b.trade_ms &&
	        a.buyer_maker == b.buyer_maker);
	REQUIRE(a.n_bids == b.n_bids && a.n_asks == b.n_asks);
	REQUIRE(a.n_bids <= pr->max_levels && a.n_asks <= pr->max_levels);
	REQUIRE((a.bids == NULL) == (b.bids == NULL) && (a.asks == NULL) == (b.asks == NULL));
	if (a.bids != NULL)
		REQUIRE(levels_equal(a.bids, b.bids, a.n_bids));
	if (a.asks != NULL)
		REQUIRE(levels_equal(a.asks, b.asks, a.n_asks));
	/* Ids and prices never come out negative. */
	REQUIRE(a.event_ms >= 0 && (int64_t)a.first_id >= 0 && (int64_t)a.final_id >= 0 &&
	        (int64_t)a.trade_id >= 0 && a.px >= 0 && a.qty >= 0);
}

static struct tl_md_level tail_levels[TL_MD_DEFAULT_MAX_LEVELS];

/* A side's tail, or 0: its conversion's result; on success it must be full[from..n_full). */
static int check_tail(const struct pair *pr, struct tl_md_scale scale, const char *tail,
                      uint32_t tail_len, uint32_t converted, const struct tl_md_level *full,
                      uint32_t n_full, bool full_ok)
{
	uint32_t n = 0;
	int r;

	if (tail == NULL)
		return 0;
	REQUIRE(converted <= pr->max_levels);
	r = tl_md_parse_tail(scale, tail, tail_len, tail_levels, pr->max_levels - converted, &n);
	if (r == 0 && full_ok) {
		REQUIRE(converted + n == n_full);
		REQUIRE(levels_equal(tail_levels, full + converted, n));
	}
	return r;
}

static void check_top(struct pair *pr, struct tl_md_scale scale, const char *json, size_t len,
                      uint64_t seed)
{
	struct tl_md_msg a, t;
	struct tl_md_floors fl;
	int ra = tl_md_parse(pr->scan, json, len, &a), rt, eb, ea;

	fl.bid = (int64_t)(seed * 2654435761u % 100000000000ull);
	fl.ask = fl.bid + (int64_t)(seed % 1000);
	if (ra == 0 && a.kind == TL_MD_DEPTH) {
		if (a.n_bids)
			fl.bid = a.bids[seed % a.n_bids].px;
		if (a.n_asks)
			fl.ask = a.asks[(seed / 7) % a.n_asks].px;
	}
	rt = tl_md_parse_top(pr->jsmn, json, len, &fl, &t);
	if (rt != 0)
		REQUIRE(rt == ra);
	if (ra == 0) {
		REQUIRE(rt == 0 && t.kind == a.kind && strcmp(t.symbol, a.symbol) == 0);
		REQUIRE(t.event_ms == a.event_ms && t.first_id == a.first_id &&
		        t.final_id == a.final_id && t.trade_id == a.trade_id);
	}
	if (rt != 0 || t.kind != TL_MD_DEPTH) {
		REQUIRE(rt != 0 || (t.bids_tail == NULL && t.asks_tail == NULL && ra == 0));
		return;
	}
	eb = check_tail(pr, scale, t.bids_tail, t.bids_tail_len, t.n_bids, a.bids, a.n_bids,
	                ra == 0);
	ea = check_tail(pr, scale, t.asks_tail, t.asks_tail_len, t.n_asks, a.asks, a.n_asks,
	                ra == 0);
	if (eb == 0 && ea == 0)
		REQUIRE(ra == 0 && a.kind == TL_MD_DEPTH);
	else
		REQUIRE(ra != 0); /* refused, and the tail is where */
	if (ra == 0) {
		REQUIRE(eb == 0 && ea == 0);
		REQUIRE(t.n_bids <= a.n_bids && t.n_asks <= a.n_asks);
		REQUIRE(levels_equal(a.bids, t.bids, t.n_bids));
		REQUIRE(levels_equal(a.asks, t.asks, t.n_asks));
		REQUIRE((t.bids_tail != NULL) == (t.n_bids < a.n_bids));
		REQUIRE((t.asks_tail != NULL) == (t.n_asks < a.n_asks));
	}
}

static void check_decimal(const char *s, size_t len)
{
	int d = (int)(len % (TL_MD_DEC_MAX_DECIMALS + 1));
	int64_t v, back;
	char buf[32];
	int n;

	if (tl_md_dec_parse(s, len, d, &v) != 0)
		return;
	REQUIRE(v >= 0);
	n = tl_md_dec_format(buf, sizeof(buf), v, d);
	REQUIRE(n > 0 && (size_t)n == strlen(buf));
	REQUIRE(tl_md_dec_parse(buf, (size_t)n, d, &back) == 0 && back == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *json;

	if (!ready) {
		pair_init(&pairs[0], 8, 8, 4);
		pair_init(&pairs[1], 2, 5, TL_MD_DEFAULT_MAX_LEVELS);
		ready = true;
	}
	if (size > MAX_INPUT)
		return 0;
	json = malloc(size ? size : 1);
	REQUIRE(json != NULL);
	if (size)
		memcpy(json, data, size);
	check_pair(&pairs[0], json, size);
	check_pair(&pairs[1], json, size);
	check_top(&pairs[0], (struct tl_md_scale){8, 8}, json, size, size);
	check_top(&pairs[1], (struct tl_md_scale){2, 5}, json, size, size * 31 + 7);
	check_decimal(json, size);
	free(json);
	return 0;
}
