/*
 * test_md_parse.c: market-data parsing (tl_md.h, "parsing" section).
 *
 * Every message goes through both parsers (the scanner and the jsmn one), which must give
 * the same result code and, on success, the same tl_md_msg field by field and level by
 * level. Each parser gets its own tl_md_parser_t, so neither can see the other's levels.
 *
 * Top first (tl_md_parse_top, tl_md_parse_tail): random venue-like depth messages, some
 * with whitespace, every depth event of the captures, each under floors at each of its
 * levels in turn: the same fields as the full parse, each side converted up to its first
 * level past the floor, and the tail converting to exactly the rest. A byte changed in a
 * tail: what the full parse refuses, the tail refuses with the same error.
 *
 * Usage: test_md_parse <data dir>   (shared/data: binance-spot/ and cryptofeed/)
 * The unit checks always run; the real-capture checks need the data directory, and
 * without it the program exits 77 (skipped) after the unit checks.
 */
#include "tl_md.h"
#include "tl_test.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ======================================================================================
 * Helpers.
 * ====================================================================================== */

struct pair {
	tl_md_parser_t *scan, *jsmn;
};

static struct pair pair_new(int px_decimals, int qty_decimals, uint32_t max_levels,
                            uint32_t max_tokens)
{
	struct tl_md_parser_config c;
	struct pair pr;

	tl_md_parser_config_default(&c);
	c.scale.px_decimals = px_decimals;
	c.scale.qty_decimals = qty_decimals;
	c.max_levels = max_levels;
	c.max_tokens = max_tokens;
	CHECK_EQ(tl_md_parser_create(&pr.scan, &c), 0);
	CHECK_EQ(tl_md_parser_create(&pr.jsmn, &c), 0);
	return pr;
}

static void pair_free(struct pair *pr)
{
	tl_md_parser_destroy(pr->scan);
	tl_md_parser_destroy(pr->jsmn);
}

/* Every field, and every level through the pointers. */
static bool msg_equal(const struct tl_md_msg *a, const struct tl_md_msg *b)
{
	if (a->kind != b->kind || strcmp(a->symbol, b->symbol) != 0 || a->event_ms != b->event_ms ||
	    a->first_id != b->first_id || a->final_id != b->final_id ||
	    a->trade_id != b->trade_id || a->n_bids != b->n_bids || a->n_asks != b->n_asks ||
	    a->bid.px != b->bid.px || a->bid.qty != b->bid.qty || a->ask.px != b->ask.px ||
	    a->ask.qty != b->ask.qty || a->px != b->px || a->qty != b->qty ||
	    a->trade_ms != b->trade_ms || a->buyer_maker != b->buyer_maker)
		return false;
	if ((a->bids == NULL) != (b->bids == NULL) || (a->asks == NULL) != (b->asks == NULL))
		return false;
	for (uint32_t i = 0; i < a->n_bids; i++)
		if (a->bids[i].px != b->bids[i].px || a->bids[i].qty != b->bids[i].qty)
			return false;
	for (uint32_t i = 0; i < a->n_asks; i++)
		if (a->asks[i].px != b->asks[i].px || a->asks[i].qty != b->asks[i].qty)
			return false;
	return true;
}

/*
 * Parses json[0..len) with both parsers from an exact-size heap copy (so that ASan sees
 * any read past the end), checks that they agree, and returns the result; *m gets the
 * scanner's message (its levels stay valid until the next call on this pair).
 */
static int parse_len(struct pair *pr, const char *json, size_t len, struct tl_md_msg *m)
{
	char *buf = malloc(len ? len : 1);
	struct tl_md_msg mj;
	int rs, rj;

	CHECK(buf != NULL);
	memcpy(buf, json, len);
	rs = tl_md_parse(pr->scan, buf, len, m);
	rj = tl_md_parse_jsmn(pr->jsmn, buf, len, &mj);
	if (rs != rj || (rs == 0 && !msg_equal(m, &mj))) {
		fprintf(stderr, "parsers disagree (scanner %d, jsmn %d) on: %.*s\n", rs, rj,
		        (int)(len > 400 ? 400 : len), json);
		exit(1);
	}
	if (rs != 0) {
		CHECK_EQ(m->kind, TL_MD_NONE);
		CHECK_EQ(mj.kind, TL_MD_NONE);
	}
	free(buf);
	return rs;
}

static int parse(struct pair *pr, const char *json, struct tl_md_msg *m)
{
	return parse_len(pr, json, strlen(json), m);
}

/* Checks the result of one message; prints it when it differs. */
#define EXPECT(pr, json, rc)                                                                       \
	do {                                                                                       \
		struct tl_md_msg expect_m_;                                                        \
		int expect_r_ = parse((pr), (json), &expect_m_);                                   \
		if (expect_r_ != (rc)) {                                                           \
			fprintf(stderr, "%s:%d: got %d (%s), want %d for: %s\n", __FILE__,         \
			        __LINE__, expect_r_, tl_strerror(expect_r_), (rc), (json));        \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* ======================================================================================
 * Decimals.
 * ====================================================================================== */

static int dec(const char *s, int decimals, int64_t *out)
{
	/* An exact-size copy: nothing past len may be read. */
	size_t len = strlen(s);
	char *buf = malloc(len ? len : 1);
	int r;

	CHECK(buf != NULL);
	memcpy(buf, s, len);
	r = tl_md_dec_parse(buf, len, decimals, out);
	free(buf);
	return r;
}

#define DEC_OK(s, d, want)                                                                         \
	do {                                                                                       \
		int64_t dec_v_ = -1;                                                               \
		CHECK_EQ(dec((s), (d), &dec_v_), 0);                                               \
		CHECK_EQ(dec_v_, (want));                                                          \
	} while (0)
#define DEC_ERR(s, d, err)                                                                         \
	do {                                                                                       \
		int64_t dec_v_ = 12345;                                                            \
		CHECK_EQ(dec((s), (d), &dec_v_), (err));                                           \
		CHECK_EQ(dec_v_, 12345); /* untouched on error */                                  \
	} while (0)

static void test_dec_parse(void)
{
	int64_t v;

	/* The examples of the contract. */
	DEC_OK("61737.63000000", 2, 6173763);
	DEC_OK("61737.63000000", 8, 6173763000000);
	DEC_OK("0.00000000", 8, 0);
	DEC_OK("1.54698000", 8, 154698000);

	/* Scale 0, "0", leading zeros, short fractions padded. */
	DEC_OK("0", 0, 0);
	DEC_OK("0", 8, 0);
	DEC_OK("7", 0, 7);
	DEC_OK("7.000", 0, 7);
	DEC_OK("5", 2, 500);
	DEC_OK("0.5", 1, 5);
	DEC_OK("0.5", 3, 500);
	DEC_OK("007.5", 1, 75);
	DEC_OK("0000000000000000000000000000001", 0, 1);
	DEC_OK("00000000000000000000000000000.1", 1, 1);
	DEC_OK("1.2000000000000000000000000000", 1, 12);
	DEC_OK("0.000000000000000001", 18, 1);

	/* The int64 boundary, at several scales. */
	DEC_OK("9223372036854775807", 0, INT64_MAX);
	DEC_ERR("9223372036854775808", 0, -ERANGE);
	DEC_OK("09223372036854775807", 0, INT64_MAX);
	DEC_OK("92233720368547758.07", 2, INT64_MAX);
	DEC_ERR("92233720368547758.08", 2, -ERANGE);
	DEC_OK("92233720368547758.0700", 2, INT64_MAX);
	DEC_OK("922337203.6854775807", 10, INT64_MAX);
	DEC_ERR("922337203.6854775808", 10, -ERANGE);
	DEC_OK("92233720368.54775807", 8, INT64_MAX);
	DEC_ERR("92233720368.54775808", 8, -ERANGE);
	DEC_ERR("92233720369", 8, -ERANGE); /* overflows while padding the fraction */
	DEC_OK("9.223372036854775807", 18, INT64_MAX);
	DEC_ERR("9.223372036854775808", 18, -ERANGE);
	DEC_OK("1", 18, 1000000000000000000);
	DEC_ERR("10", 18, -ERANGE);
	DEC_ERR("18446744073709551615", 0, -ERANGE); /* UINT64_MAX */
	DEC_ERR("18446744073709551616", 0, -ERANGE); /* wraps uint64 */
	DEC_ERR("99999999999999999999999999999", 0, -ERANGE);
	DEC_ERR("1.99999999999999999999", 18, -EDOM);

	/* -EDOM: non-zero digits past the scale. */
	DEC_ERR("1.25", 1, -EDOM);
	DEC_ERR("0.000000001", 8, -EDOM);
	DEC_ERR("61737.635", 2, -EDOM);
	DEC_ERR("1.5", 0, -EDOM);
	DEC_ERR("1.000000000000000000000001", 8, -EDOM);

	/* -EINVAL: malformed. ".5" and "5." are rejected: one spelling per value. */
	DEC_ERR("", 2, -EINVAL);
	DEC_ERR(".", 2, -EINVAL);
	DEC_ERR(".5", 2, -EINVAL);
	DEC_ERR("5.", 2, -EINVAL);
	DEC_ERR("-1", 2, -EINVAL);
	DEC_ERR("+1", 2, -EINVAL);
	DEC_ERR("-0", 2, -EINVAL);
	DEC_ERR("1e5", 2, -EINVAL);
	DEC_ERR("1E5", 2, -EINVAL);
	DEC_ERR("1.2.3", 2, -EINVAL);
	DEC_ERR("1..2", 2, -EINVAL);
	DEC_ERR(" 1", 2, -EINVAL);
	DEC_ERR("1 ", 2, -EINVAL);
	DEC_ERR("1x", 2, -EINVAL);
	DEC_ERR("x1", 2, -EINVAL);
	DEC_ERR("abc", 2, -EINVAL);
	DEC_ERR("0x10", 2, -EINVAL);
	DEC_ERR("1,5", 2, -EINVAL);
	DEC_ERR("1.2345678x", 8, -EINVAL); /* a non-digit inside the 8-byte fast path */
	DEC_ERR("1.1234567\"", 8, -EINVAL);
	DEC_ERR("1.12345678x", 8, -EINVAL);
	DEC_ERR("1.123456789x", 8, -EINVAL);
	/* Precedence: malformed, then inexact, then out of range. */
	DEC_ERR("1.25x", 1, -EINVAL);
	DEC_ERR("99999999999999999999.5", 0, -EDOM);
	DEC_ERR("99999999999999999999.5x", 0, -EINVAL);
	/* A scale outside 0..18. */
	DEC_ERR("1", -1, -EINVAL);
	DEC_ERR("1", 19, -EINVAL);

	/* A NUL inside the length is just a bad byte. */
	CHECK_EQ(tl_md_dec_parse("1\0"
	                         "2",
	                         3, 0, &v),
	         -EINVAL);
	/* Only len bytes are read: "123" of "123456". */
	CHECK_EQ(tl_md_dec_parse("123456", 3, 0, &v), 0);
	CHECK_EQ(v, 123);
	CHECK_EQ(tl_md_dec_parse("1.23456789", 6, 8, &v), 0);
	CHECK_EQ(v, 123450000);

	/* Every fraction length around the 8-digit fast path, at every scale. */
	for (int d = 0; d <= TL_MD_DEC_MAX_DECIMALS; d++) {
		for (int nf = 1; nf <= 20; nf++) {
			char s[32] = "3.";
			int64_t want = 3, got;
			bool exact = true;

			for (int i = 0; i < nf; i++)
				s[2 + i] = (char)('1' + i % 9);
			s[2 + nf] = '\0';
			for (int i = 0; i < d; i++)
				want = want * 10 + (i < nf ? 1 + i % 9 : 0);
			for (int i = d; i < nf; i++)
				exact = false;
			if (exact) {
				DEC_OK(s, d, want);
			} else {
				CHECK_EQ(dec(s, d, &got), -EDOM);
			}
		}
	}
}

/* A slow reference for tl_md_dec_parse, by string arithmetic on the policy as written. */
static int dec_ref(const char *s, size_t len, int d, int64_t *out)
{
	size_t i = 0, ni = 0, nf = 0;
	const char *ip, *fp = "";
	char digits[128];
	size_t nd = 0;

	if (d < 0 || d > 18)
		return -EINVAL;
	ip = s;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, ni++;
	if (ni == 0)
		return -EINVAL;
	if (i < len && s[i] == '.') {
		i++;
		fp = s + i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, nf++;
		if (nf == 0)
			return -EINVAL;
	}
	if (i != len)
		return -EINVAL;
	for (size_t k = (size_t)d; k < nf; k++)
		if (fp[k] != '0')
			return -EDOM;
	/* The integer at scale d, as decimal digits without leading zeros. */
	for (size_t k = 0; k < ni; k++)
		if (nd || ip[k] != '0')
			digits[nd++] = ip[k];
	for (size_t k = 0; k < (size_t)d; k++) {
		char c = k < nf ? fp[k] : '0';
		if (nd || c != '0')
			digits[nd++] = c;
		if (nd >= sizeof(digits) - 1)
			return -ERANGE;
	}
	digits[nd] = '\0';
	if (nd > 19 || (nd == 19 && strcmp(digits, "9223372036854775807") > 0))
		return -ERANGE;
	*out = 0;
	for (size_t k = 0; k < nd; k++)
		*out = *out * 10 + (digits[k] - '0');
	return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void test_dec_random(void)
{
	static const char alphabet[] = "0000000123456789..-e x";
	char s[48];

	/* Random strings over a digit-heavy alphabet against the reference. */
	for (int n = 0; n < 400000; n++) {
		size_t len = rnd() % 40;
		int d = (int)(rnd() % 19);
		int64_t a = 1, b = 2;
		int ra, rb;

		for (size_t i = 0; i < len; i++)
			s[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		ra = tl_md_dec_parse(s, len, d, &a);
		rb = dec_ref(s, len, d, &b);
		if (ra != rb || (ra == 0 && a != b)) {
			fprintf(stderr, "dec '%.*s' at %d: got %d/%lld, ref %d/%lld\n", (int)len, s,
			        d, ra, (long long)a, rb, (long long)b);
			exit(1);
		}
	}
	/* format then parse gives back the value, at every scale. */
	for (int n = 0; n < 200000; n++) {
		int64_t v = (int64_t)(rnd() >> (1 + rnd() % 63)), back = -1; /* >= 0 */
		int d = (int)(rnd() % 19);
		char buf[32];
		int len = tl_md_dec_format(buf, sizeof(buf), v, d);

		CHECK(len > 0 && (size_t)len == strlen(buf));
		CHECK_EQ(tl_md_dec_parse(buf, (size_t)len, d, &back), 0);
		CHECK_EQ(back, v);
	}
}

/*
 * A decimal the way the venue writes one, or near it: 1 to 9 integer digits (leading zeros
 * too), then mostly a point and 0 to 10 fraction digits, often ending in zeros. Those
 * around the fast path's edges (8 integer digits, 9 fraction digits, a non-zero digit past
 * the scale, a point with nothing after it) decide whether it takes a number or not.
 */
static size_t venue_decimal(char *s)
{
	size_t n = 0, ni = 1 + rnd() % 9, nf = rnd() % 11, zeros_from = rnd() % 11;

	for (size_t i = 0; i < ni; i++)
		s[n++] = (char)('0' + (rnd() % 4 == 0 ? 0 : rnd() % 10));
	if (rnd() % 10 == 0)
		return n;
	s[n++] = '.';
	for (size_t i = 0; i < nf; i++)
		s[n++] = (char)('0' + (i >= zeros_from && rnd() % 8 ? 0 : rnd() % 10));
	return n;
}

/*
 * The parser's levels against the slow reference, level by level. The levels are where
 * the parser takes its fast path (md_dec_fast: a whole decimal in two 8-byte loads, when
 * 17 bytes or more follow it), so every one is checked against dec_ref: the same value
 * when both take it, and the message refused when the reference refuses a level.
 */
static void test_dec_levels_random(void)
{
	enum { LEVELS = 4 };
	char msg[512], dec[LEVELS][2][24];
	size_t dlen[LEVELS][2];
	int64_t want[LEVELS][2];
	uint64_t taken = 0, refused = 0;

	for (int it = 0; it < 100000; it++) {
		int d[2] = {(int)(rnd() % 9), (int)(rnd() % 9)};
		int nl = 1 + (int)(rnd() % LEVELS), n;
		bool all_ok = true;
		tl_md_parser_t *p;
		struct tl_md_parser_config c;
		struct tl_md_msg m;

		tl_md_parser_config_default(&c);
		c.scale.px_decimals = d[0];
		c.scale.qty_decimals = d[1];
		CHECK_EQ(tl_md_parser_create(&p, &c), 0);
		n = snprintf(msg, sizeof(msg),
		             "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BTCUSDT\","
		             "\"U\":1,\"u\":2,\"b\":[");
		for (int l = 0; l < nl; l++) {
			for (int k = 0; k < 2; k++) {
				dlen[l][k] = venue_decimal(dec[l][k]);
				if (dec_ref(dec[l][k], dlen[l][k], d[k], &want[l][k]) != 0)
					all_ok = false;
			}
			n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s[\"%.*s\",\"%.*s\"]",
			              l ? "," : "", (int)dlen[l][0], dec[l][0], (int)dlen[l][1],
			              dec[l][1]);
		}
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "],\"a\":[]}");
		CHECK((size_t)n < sizeof(msg));
		int rc = tl_md_parse(p, msg, (size_t)n, &m);
		if (!all_ok) {
			if (rc == 0) {
				fprintf(stderr, "levels: took a level the reference refuses: %s\n",
				        msg);
				exit(1);
			}
			refused++;
		} else {
			if (rc != 0 || m.n_bids != (uint32_t)nl) {
				fprintf(stderr,
				        "levels: refused (%d) what the reference takes: %s\n", rc,
				        msg);
				exit(1);
			}
			for (int l = 0; l < nl; l++)
				if (m.bids[l].px != want[l][0] || m.bids[l].qty != want[l][1]) {
					fprintf(
					    stderr,
					    "levels: level %d of %s at %d/%d: got %lld/%lld, ref "
					    "%lld/%lld\n",
					    l, msg, d[0], d[1], (long long)m.bids[l].px,
					    (long long)m.bids[l].qty, (long long)want[l][0],
					    (long long)want[l][1]);
					exit(1);
				}
			taken++;
		}
		tl_md_parser_destroy(p);
	}
	/* both outcomes were exercised, many times */
	CHECK(taken > 10000 && refused > 10000);
}

static void test_dec_format(void)
{
	char buf[32];

	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 6173763000000, 8), 14);
	CHECK(strcmp(buf, "61737.63000000") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 6173763, 2), 8);
	CHECK(strcmp(buf, "61737.63") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 5, 2), 4);
	CHECK(strcmp(buf, "0.05") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 0, 0), 1);
	CHECK(strcmp(buf, "0") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 0, 8), 10);
	CHECK(strcmp(buf, "0.00000000") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 7, 0), 1);
	CHECK(strcmp(buf, "7") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), -5, 2), 5);
	CHECK(strcmp(buf, "-0.05") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), INT64_MAX, 0), 19);
	CHECK(strcmp(buf, "9223372036854775807") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), INT64_MIN, 0), 20);
	CHECK(strcmp(buf, "-9223372036854775808") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), INT64_MAX, 18), 20);
	CHECK(strcmp(buf, "9.223372036854775807") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), INT64_MIN, 18), 21);
	CHECK(strcmp(buf, "-9.223372036854775808") == 0);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 1, 18), 20);
	CHECK(strcmp(buf, "0.000000000000000001") == 0);
	/* The buffer must hold the string and its NUL. 22 bytes always do. */
	CHECK_EQ(tl_md_dec_format(buf, 15, 6173763000000, 8), 14);
	CHECK_EQ(tl_md_dec_format(buf, 14, 6173763000000, 8), -ENOBUFS);
	CHECK_EQ(tl_md_dec_format(NULL, 0, 0, 0), -ENOBUFS);
	CHECK_EQ(tl_md_dec_format(buf, 22, INT64_MIN, 18), 21);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 1, 19), -EINVAL);
	CHECK_EQ(tl_md_dec_format(buf, sizeof(buf), 1, -1), -EINVAL);
}

/* ======================================================================================
 * Messages, one kind at a time, in both forms.
 * ====================================================================================== */

#define DEPTH_RAW                                                                                  \
	"{\"e\":\"depthUpdate\",\"E\":1723161255208,\"s\":\"BTCUSDT\",\"U\":50093239189,"          \
	"\"u\":50093239202,\"b\":[[\"61737.63000000\",\"0.00000000\"],[\"61730.17000000\","        \
	"\"0.00000000\"],[\"56854.58000000\",\"0.00000000\"]],\"a\":[[\"61837.64000000\","         \
	"\"1.54698000\"],[\"61839.85000000\",\"0.00000000\"]]}"
#define TICKER_RAW                                                                                 \
	"{\"u\":50093239212,\"s\":\"BTCUSDT\",\"b\":\"61837.63000000\",\"B\":\"3.78826000\","      \
	"\"a\":\"61837.64000000\",\"A\":\"1.54698000\"}"
#define TRADE_RAW                                                                                  \
	"{\"e\":\"trade\",\"E\":1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,"                 \
	"\"p\":\"61837.63000000\",\"q\":\"0.02000000\",\"T\":1723161255342,\"m\":true,"            \
	"\"M\":true}"
#define SNAPSHOT                                                                                   \
	"{\"lastUpdateId\":50093239218,\"bids\":[[\"61837.63000000\",\"3.78826000\"],"             \
	"[\"61837.62000000\",\"0.61700000\"]],\"asks\":[[\"61837.64000000\",\"1.54698000\"]]}"
#define COMBINED(stream, raw) "{\"stream\":\"" stream "\",\"data\":" raw "}"

static void check_depth(const struct tl_md_msg *m)
{
	CHECK_EQ(m->kind, TL_MD_DEPTH);
	CHECK(strcmp(m->symbol, "BTCUSDT") == 0);
	CHECK_EQ(m->event_ms, 1723161255208);
	CHECK_EQ(m->first_id, 50093239189ull);
	CHECK_EQ(m->final_id, 50093239202ull);
	CHECK_EQ(m->trade_id, 0);
	CHECK_EQ(m->n_bids, 3);
	CHECK_EQ(m->n_asks, 2);
	CHECK_EQ(m->bids[0].px, 6173763000000);
	CHECK_EQ(m->bids[0].qty, 0);
	CHECK_EQ(m->bids[1].px, 6173017000000);
	CHECK_EQ(m->bids[2].px, 5685458000000);
	CHECK_EQ(m->asks[0].px, 6183764000000);
	CHECK_EQ(m->asks[0].qty, 154698000);
	CHECK_EQ(m->asks[1].px, 6183985000000);
	CHECK_EQ(m->asks[1].qty, 0);
	CHECK_EQ(m->bid.px, 0);
	CHECK_EQ(m->px, 0);
	CHECK(!m->buyer_maker);
}

static void check_ticker(const struct tl_md_msg *m)
{
	CHECK_EQ(m->kind, TL_MD_TICKER);
	CHECK(strcmp(m->symbol, "BTCUSDT") == 0);
	CHECK_EQ(m->event_ms, 0); /* spot bookTicker carries no "E" */
	CHECK_EQ(m->final_id, 50093239212ull);
	CHECK_EQ(m->first_id, 0);
	CHECK_EQ(m->bid.px, 6183763000000);
	CHECK_EQ(m->bid.qty, 378826000);
	CHECK_EQ(m->ask.px, 6183764000000);
	CHECK_EQ(m->ask.qty, 154698000);
	CHECK(m->bids == NULL && m->asks == NULL);
	CHECK_EQ(m->n_bids, 0);
}

static void check_trade(const struct tl_md_msg *m, bool maker)
{
	CHECK_EQ(m->kind, TL_MD_TRADE);
	CHECK(strcmp(m->symbol, "BTCUSDT") == 0);
	CHECK_EQ(m->event_ms, 1723161255343);
	CHECK_EQ(m->trade_id, 3735683259ull);
	CHECK_EQ(m->px, 6183763000000);
	CHECK_EQ(m->qty, 2000000);
	CHECK_EQ(m->trade_ms, 1723161255342);
	CHECK_EQ(m->buyer_maker, maker);
	CHECK_EQ(m->final_id, 0);
	CHECK(m->bids == NULL);
}

static void check_snapshot(const struct tl_md_msg *m)
{
	CHECK_EQ(m->kind, TL_MD_SNAPSHOT);
	CHECK_EQ(m->symbol[0], '\0');
	CHECK_EQ(m->event_ms, 0);
	CHECK_EQ(m->final_id, 50093239218ull);
	CHECK_EQ(m->n_bids, 2);
	CHECK_EQ(m->n_asks, 1);
	CHECK_EQ(m->bids[0].px, 6183763000000);
	CHECK_EQ(m->bids[0].qty, 378826000);
	CHECK_EQ(m->bids[1].px, 6183762000000);
	CHECK_EQ(m->bids[1].qty, 61700000);
	CHECK_EQ(m->asks[0].px, 6183764000000);
	CHECK_EQ(m->asks[0].qty, 154698000);
}

static void test_kinds(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	struct tl_md_msg m;

	CHECK_EQ(parse(&pr, DEPTH_RAW, &m), 0);
	check_depth(&m);
	CHECK_EQ(parse(&pr, COMBINED("btcusdt@depth@100ms", DEPTH_RAW), &m), 0);
	check_depth(&m);
	CHECK_EQ(parse(&pr, TICKER_RAW, &m), 0);
	check_ticker(&m);
	CHECK_EQ(parse(&pr, COMBINED("btcusdt@bookTicker", TICKER_RAW), &m), 0);
	check_ticker(&m);
	CHECK_EQ(parse(&pr, TRADE_RAW, &m), 0);
	check_trade(&m, true);
	CHECK_EQ(parse(&pr, COMBINED("btcusdt@trade", TRADE_RAW), &m), 0);
	check_trade(&m, true);
	CHECK_EQ(parse(&pr,
	               "{\"e\":\"trade\",\"E\":1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,"
	               "\"p\":\"61837.63000000\",\"q\":\"0.02000000\",\"T\":1723161255342,"
	               "\"m\":false,\"M\":true}",
	               &m),
	         0);
	check_trade(&m, false);
	CHECK_EQ(parse(&pr, SNAPSHOT, &m), 0);
	check_snapshot(&m);
	/* A snapshot carried in a wrapper (a recorder might) is the same snapshot. */
	CHECK_EQ(parse(&pr, COMBINED("x", SNAPSHOT), &m), 0);
	check_snapshot(&m);

	/* Scale 2/5: the same depth at the instrument's real tick and step. */
	{
		struct pair p2 = pair_new(2, 5, 0, 0);

		CHECK_EQ(parse(&p2, DEPTH_RAW, &m), 0);
		CHECK_EQ(m.bids[0].px, 6173763);
		CHECK_EQ(m.asks[0].qty, 154698);
		pair_free(&p2);
	}

	/* Empty sides, whitespace everywhere JSON allows it. */
	CHECK_EQ(
	    parse(&pr,
	          " \t\r\n{ \"e\" : \"depthUpdate\" , \"E\" : 1 , \"s\" : \"BTCUSDT\" , \"U\" : "
	          "5 , \"u\" : 6 , \"b\" : [ ] , \"a\" : [ [ \"1.5\" , \"2\" ] , [\"3\",\"0\"] ] "
	          "}\n\n",
	          &m),
	    0);
	CHECK_EQ(m.kind, TL_MD_DEPTH);
	CHECK_EQ(m.n_bids, 0);
	CHECK(m.bids != NULL);
	CHECK_EQ(m.n_asks, 2);
	CHECK_EQ(m.asks[0].px, 150000000);
	CHECK_EQ(m.asks[0].qty, 200000000);
	CHECK_EQ(m.asks[1].px, 300000000);

	/* OTHER: valid JSON we do not use. Its values are not checked beyond the grammar. */
	const char *other[] = {
	    "{}",
	    "{\"result\":null,\"id\":1}",
	    "{\"e\":\"serverShutdown\",\"E\":1723161255208}",
	    "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}",
	    "{\"stream\":\"nknusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":1633998523963,"
	    "\"s\":\"NKNUSDT\",\"a\":15683430,\"p\":\"0.35280000\",\"q\":\"58.00000000\","
	    "\"f\":19862790,\"l\":19862790,\"T\":1633998523963,\"m\":false,\"M\":true}}",
	    "{\"stream\":\"nknusdt@kline_1m\",\"data\":{\"e\":\"kline\",\"E\":1633998523963,"
	    "\"s\":\"NKNUSDT\",\"k\":{\"t\":1633998480000,\"T\":1633998539999,\"s\":\"NKNUSDT\","
	    "\"i\":\"1m\",\"f\":19862761,\"L\":19862790,\"o\":\"0.35270000\",\"c\":\"0.35280000\","
	    "\"h\":\"0.35280000\",\"l\":\"0.35220000\",\"v\":\"25877.00000000\",\"n\":30,"
	    "\"x\":false,\"q\":\"9116.04600000\",\"V\":\"58.00000000\",\"Q\":\"20.46240000\","
	    "\"B\":\"0\"}}}",
	    /* An aggTrade whose fields would be bad for a trade: it is not a trade. */
	    "{\"e\":\"aggTrade\",\"s\":\"\",\"p\":\"1.123456789\",\"q\":\"x\",\"t\":-1,"
	    "\"b\":{},\"a\":[[1]]}",
	    /* The WS API's depth reply wraps the snapshot in "result": not ours. */
	    "{\"id\":\"1\",\"status\":200,\"result\":{\"lastUpdateId\":1,\"bids\":[],"
	    "\"asks\":[]}}",
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		CHECK_EQ(parse(&pr, other[i], &m), 0);
		CHECK_EQ(m.kind, TL_MD_OTHER);
		CHECK_EQ(m.symbol[0], '\0');
		CHECK_EQ(m.event_ms, 0);
		CHECK(m.bids == NULL && m.asks == NULL);
	}
	{
		struct pair p2 = pair_new(2, 2, 0, 0);

		CHECK_EQ(parse(&p2, other[4], &m), 0); /* inexact at 2 decimals, but OTHER */
		CHECK_EQ(m.kind, TL_MD_OTHER);
		pair_free(&p2);
	}
	pair_free(&pr);
}

/* ======================================================================================
 * Key order, unknown keys, the wrapper, repeats.
 * ====================================================================================== */

/* Next lexicographic permutation of idx[0..n); false after the last. */
static bool next_perm(int *idx, int n)
{
	int i = n - 2, j = n - 1;

	while (i >= 0 && idx[i] >= idx[i + 1])
		i--;
	if (i < 0)
		return false;
	while (idx[j] <= idx[i])
		j--;
	int t = idx[i];
	idx[i] = idx[j];
	idx[j] = t;
	for (int a = i + 1, b = n - 1; a < b; a++, b--) {
		t = idx[a];
		idx[a] = idx[b];
		idx[b] = t;
	}
	return true;
}

static size_t join(char *out, size_t cap, const char *const *members, const int *idx, int n,
                   bool combined)
{
	size_t o = 0;

	o += (size_t)snprintf(out + o, cap - o, "%s", combined ? "{\"data\":{" : "{");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", members[idx[i]]);
	o += (size_t)snprintf(out + o, cap - o, "%s", combined ? "},\"stream\":\"s\"}" : "}");
	CHECK(o < cap);
	return o;
}

/* Every order of the members, raw and wrapped, must give `check`'s message. */
static void all_orders(struct pair *pr, const char *const *members, int n, size_t max_perms,
                       void (*check)(const struct tl_md_msg *))
{
	int idx[16];
	char buf[2048];
	size_t count = 0;
	struct tl_md_msg m;

	for (int i = 0; i < n; i++)
		idx[i] = i;
	do {
		for (int c = 0; c < 2; c++) {
			size_t len = join(buf, sizeof(buf), members, idx, n, c == 1);

			CHECK_EQ(parse_len(pr, buf, len, &m), 0);
			check(&m);
		}
		/* With too many orders to try them all, stride through them. */
		if (max_perms && ++count >= max_perms)
			break;
		for (size_t skip = max_perms ? rnd() % 97 : 0; skip > 0; skip--)
			if (!next_perm(idx, n))
				return;
	} while (next_perm(idx, n));
}

static void check_trade_maker(const struct tl_md_msg *m)
{
	check_trade(m, true);
}

static void test_key_order(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	const char *depth[] = {
	    "\"e\":\"depthUpdate\"",
	    "\"E\":1723161255208",
	    "\"s\":\"BTCUSDT\"",
	    "\"U\":50093239189",
	    "\"u\":50093239202",
	    ("\"b\":[[\"61737.63000000\",\"0.00000000\"],[\"61730.17000000\",\"0.00000000\"],"
	     "[\"56854.58000000\",\"0.00000000\"]]"),
	    "\"a\":[[\"61837.64000000\",\"1.54698000\"],[\"61839.85000000\",\"0.00000000\"]]",
	    /* Unknown keys too, including ones shaped like ours. */
	    "\"x\":{\"e\":\"trade\",\"b\":\"1\",\"u\":-1}",
	};
	const char *ticker[] = {
	    "\"u\":50093239212",      "\"s\":\"BTCUSDT\"",        "\"b\":\"61837.63000000\"",
	    "\"B\":\"3.78826000\"",   "\"a\":\"61837.64000000\"", "\"A\":\"1.54698000\"",
	    "\"data\":[1,{\"u\":2}]", /* "data" that is no object is just unknown */
	};
	const char *trade[] = {
	    "\"e\":\"trade\"",
	    "\"E\":1723161255343",
	    "\"s\":\"BTCUSDT\"",
	    "\"t\":3735683259",
	    "\"p\":\"61837.63000000\"",
	    "\"q\":\"0.02000000\"",
	    "\"T\":1723161255342",
	    "\"m\":true",
	    "\"M\":true",
	};
	const char *snap[] = {
	    "\"lastUpdateId\":50093239218",
	    "\"bids\":[[\"61837.63000000\",\"3.78826000\"],[\"61837.62000000\",\"0.61700000\"]]",
	    "\"asks\":[[\"61837.64000000\",\"1.54698000\"]]",
	    "\"b\":[[\"1\",\"1\"]]", /* the other level keys use their own storage */
	};

	all_orders(&pr, depth, 8, 0, check_depth);   /* 8! = 40320 orders */
	all_orders(&pr, ticker, 7, 0, check_ticker); /* 5040 */
	all_orders(&pr, trade, 9, 3000, check_trade_maker);
	all_orders(&pr, snap, 4, 0, check_snapshot);
	pair_free(&pr);
}

static void test_unknown_and_wrapper(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	struct tl_md_msg m;

	/* Unknown values of every shape, nested, with escapes and brackets inside strings. */
	CHECK_EQ(
	    parse(&pr,
	          "{\"x\":{\"a\":[1,2,{\"b\":\"c\\\"]}\"}],\"d\":null,\"e\":{\"e\":\"trade\"}},"
	          "\"y\":[[[]],{},[{}]],\"z\":\"a\\\\\\\"b\\u00e9\\/\\b\\f\\n\\r\\t\","
	          "\"n\":-1.5e+10,\"n2\":0,\"n3\":-0.0E-0,\"n4\":12345678901234567890123,"
	          "\"l\":[true,false,null],\"\\u0062\":[[\"oops\"]],\"\":\"\","
	          "\"high\":\"\xc3\xa9\xff\"," /* raw bytes >= 0x80 pass in strings */
	          "\"e\":\"depthUpdate\",\"E\":1723161255208,\"s\":\"BTCUSDT\",\"U\":50093239189,"
	          "\"u\":50093239202,\"b\":[[\"61737.63000000\",\"0.00000000\"],"
	          "[\"61730.17000000\",\"0.00000000\"],[\"56854.58000000\",\"0.00000000\"]],"
	          "\"a\":[[\"61837.64000000\",\"1.54698000\"],[\"61839.85000000\","
	          "\"0.00000000\"]],\"stream\":[],\"k\":{\"data\":{\"e\":\"trade\"}}}",
	          &m),
	    0);
	check_depth(&m);

	/* Top-level keys around the wrapper do not count, before or after it. */
	CHECK_EQ(parse(&pr,
	               "{\"e\":\"trade\",\"u\":1,\"b\":[[\"1\",\"1\"]],\"data\":" DEPTH_RAW
	               ",\"e\":\"x\",\"a\":7,\"data\":{}}",
	               &m),
	         0);
	check_depth(&m);
	/* The first "data" that is an object is the message. */
	CHECK_EQ(parse(&pr, "{\"data\":1,\"data\":\"x\",\"data\":" TICKER_RAW ",\"data\":{}}", &m),
	         0);
	check_ticker(&m);
	/* Without "stream" it is still the wrapper; "stream" alone is just a key. */
	CHECK_EQ(parse(&pr, "{\"data\":" TRADE_RAW "}", &m), 0);
	check_trade(&m, true);
	CHECK_EQ(parse(&pr, "{\"stream\":\"btcusdt@trade\"}", &m), 0);
	CHECK_EQ(m.kind, TL_MD_OTHER);
	/* A "data" inside the message is not a wrapper. */
	CHECK_EQ(parse(&pr, "{\"data\":{\"data\":" TICKER_RAW "}}", &m), 0);
	CHECK_EQ(m.kind, TL_MD_OTHER);
	/* A wrapper whose message is bad is bad. */
	EXPECT(&pr, "{\"stream\":\"s\",\"data\":{\"e\":\"trade\"}}", -EBADMSG);

	/* Repeated keys: the last one counts, for values and for level arrays. */
	CHECK_EQ(parse(&pr,
	               "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"2\",\"a\":\"3\",\"A\":\"4\","
	               "\"u\":50093239212,\"s\":\"BTCUSDT\",\"b\":\"61837.63000000\","
	               "\"B\":\"3.78826000\",\"a\":\"61837.64000000\",\"A\":\"1.54698000\"}",
	               &m),
	         0);
	check_ticker(&m);
	CHECK_EQ(
	    parse(&pr,
	          "{\"lastUpdateId\":50093239218,\"bids\":[[\"9\",\"9\"],[\"9\",\"9\"],"
	          "[\"9\",\"9\"]],\"asks\":\"x\",\"bids\":[[\"61837.63000000\",\"3.78826000\"],"
	          "[\"61837.62000000\",\"0.61700000\"]],\"asks\":[[\"61837.64000000\","
	          "\"1.54698000\"]]}",
	          &m),
	    0);
	check_snapshot(&m);
	/* A bad value repeated by a good one is forgotten; the reverse is not. */
	EXPECT(&pr,
	       "{\"u\":-1,\"s\":\"A\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\",\"u\":1}", 0);
	EXPECT(&pr,
	       "{\"u\":1,\"s\":\"A\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\",\"u\":-1}",
	       -ERANGE);
	EXPECT(&pr,
	       "{\"u\":1,\"s\":\"\",\"s\":\"A\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
	       0);
	EXPECT(&pr,
	       "{\"u\":1,\"s\":\"A\",\"s\":\"\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
	       -EBADMSG);
	/* "e" decides the kind wherever it is; "E" is optional. */
	CHECK_EQ(parse(&pr,
	               "{\"u\":50093239202,\"U\":50093239189,\"lastUpdateId\":5,\"b\":[],\"a\":[],"
	               "\"s\":\"BTCUSDT\",\"e\":\"depthUpdate\"}",
	               &m),
	         0);
	CHECK_EQ(m.kind, TL_MD_DEPTH);
	CHECK_EQ(m.event_ms, 0);
	CHECK_EQ(parse(&pr, "{\"lastUpdateId\":5,\"u\":1,\"bids\":[],\"asks\":[],\"E\":\"x\"}", &m),
	         0);
	CHECK_EQ(m.kind, TL_MD_SNAPSHOT); /* "E" is not a snapshot's */
	pair_free(&pr);
}

/* ======================================================================================
 * Errors.
 * ====================================================================================== */

static void test_field_errors(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	struct pair p2 = pair_new(2, 5, 0, 0);

	/* A required field missing, for each kind. */
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"X\",\"u\":1,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}", 0);
	EXPECT(&pr, "{\"u\":1,\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"a\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1}", -EBADMSG);
	const char *trade_missing[] = {
	    "{\"e\":\"trade\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}",
	    "{\"e\":\"trade\",\"s\":\"X\",\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true}",
	    "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"q\":\"1\",\"T\":1,\"m\":true}",
	    "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"T\":1,\"m\":true}",
	    "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"m\":true}",
	    "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1}",
	};
	for (size_t i = 0; i < sizeof(trade_missing) / sizeof(trade_missing[0]); i++)
		EXPECT(&pr, trade_missing[i], -EBADMSG);
	EXPECT(&pr, "{\"lastUpdateId\":1,\"bids\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"lastUpdateId\":1,\"asks\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"lastUpdateId\":1,\"bids\":[],\"asks\":[]}", 0);

	/* Wrong JSON types. */
#define D_ "{\"e\":\"depthUpdate\",\"s\":\"X\","
	EXPECT(&pr, D_ "\"U\":\"1\",\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1.0,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1e3,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":-1.5,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":null,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":\"1\",\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":{},\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[],\"a\":[],\"E\":\"1\"}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[],\"a\":[],\"E\":-1}", -ERANGE);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":1,\"U\":1,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":1,\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"e\":null}", -EBADMSG);
	EXPECT(&pr, "{\"e\":[\"depthUpdate\"]}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":[],\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":1,\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", -EBADMSG);
	EXPECT(&pr, "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":1}",
	       -EBADMSG);
	EXPECT(
	    &pr,
	    "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":\"true\"}",
	    -EBADMSG);
	EXPECT(&pr,
	       "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":null}",
	       -EBADMSG);
	EXPECT(&pr, "{\"lastUpdateId\":\"1\",\"bids\":[],\"asks\":[]}", -EBADMSG);

	/* Escapes in fields we use. */
	EXPECT(&pr, "{\"e\":\"depth\\u0055pdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}",
	       -EBADMSG);
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"B\\u0054C\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}",
	       -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\\u0030\",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"\\u0031\",\"a\":\"1\",\"A\":\"1\"}",
	       -EBADMSG);
	/* Symbols: 1..23 bytes. */
	EXPECT(&pr, "{\"e\":\"depthUpdate\",\"s\":\"\",\"U\":1,\"u\":2,\"b\":[],\"a\":[]}",
	       -EBADMSG);
	EXPECT(&pr,
	       "{\"e\":\"depthUpdate\",\"s\":\"ABCDEFGHIJKLMNOPQRSTUVW\",\"U\":1,\"u\":2,"
	       "\"b\":[],\"a\":[]}",
	       0);
	EXPECT(&pr,
	       "{\"e\":\"depthUpdate\",\"s\":\"ABCDEFGHIJKLMNOPQRSTUVWX\",\"U\":1,\"u\":2,"
	       "\"b\":[],\"a\":[]}",
	       -EBADMSG);

	/* Decimals in messages: malformed, inexact, out of range. */
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"\",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\".5\",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"5.\",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"-5\",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"5\",\"1e2\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"5 \",\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"61737.635\",\"1\"]],\"a\":[]}", -EDOM);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[],\"a\":[[\"1\",\"0.000001\"]]}", -EDOM);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[],\"a\":[[\"1\",\"0.000010\"]]}", 0);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"92233720368.54775808\",\"1\"]],\"a\":[]}",
	       -ERANGE);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"92233720368.54775807\",\"1\"]],\"a\":[]}", 0);
	EXPECT(&p2, "{\"u\":1,\"s\":\"X\",\"b\":\"1.001\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
	       -EDOM);
	EXPECT(&p2, "{\"u\":1,\"s\":\"X\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1e9\"}",
	       -EBADMSG);
	EXPECT(&pr,
	       "{\"e\":\"trade\",\"s\":\"X\",\"t\":1,\"p\":\"1\",\"q\":\"99999999999\",\"T\":1,"
	       "\"m\":true}",
	       -ERANGE);

	/* Ids and times: negative (even -0) or beyond INT64_MAX. */
	EXPECT(&pr, D_ "\"U\":-1,\"u\":2,\"b\":[],\"a\":[]}", -ERANGE);
	EXPECT(&pr, D_ "\"U\":-0,\"u\":2,\"b\":[],\"a\":[]}", -ERANGE);
	EXPECT(&pr, D_ "\"U\":0,\"u\":9223372036854775807,\"b\":[],\"a\":[]}", 0);
	EXPECT(&pr, D_ "\"U\":0,\"u\":9223372036854775808,\"b\":[],\"a\":[]}", -ERANGE);
	EXPECT(&pr, D_ "\"U\":0,\"u\":18446744073709551616,\"b\":[],\"a\":[]}", -ERANGE);
	EXPECT(&pr, D_ "\"U\":0,\"u\":123456789012345678901234567890,\"b\":[],\"a\":[]}", -ERANGE);
	EXPECT(&pr, "{\"lastUpdateId\":-5,\"bids\":[],\"asks\":[]}", -ERANGE);

	/* Level shapes. */
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"2\",\"3\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"2\",[]]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[1,\"2\"]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",2]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[]],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[\"1\",\"2\"],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[{\"px\":\"1\"}],\"a\":[]}", -EBADMSG);
	EXPECT(&pr, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"2\"],null],\"a\":[]}", -EBADMSG);
	/* The first bad level decides: shape, then price, then quantity, in order. */
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1.001\",\"x\",3]],\"a\":[]}", -EDOM);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1.00\",\"1\",3],[\"1.001\",\"1\"]],\"a\":[]}",
	       -EBADMSG);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"1.0000001\",\"3\"]],\"a\":[]}", -EDOM);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"99999999999999999\"],[\"x\"]],\"a\":[]}",
	       -ERANGE);
	/* Required fields are checked in order: s, U, u, b, a, E. */
	EXPECT(&p2, D_ "\"U\":-1,\"u\":2,\"b\":[[\"1.001\",\"1\"]],\"a\":[]}", -ERANGE);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1.001\",\"1\"]],\"a\":[[\"1\",\"1e1\"]]}", -EDOM);
	EXPECT(&p2, D_ "\"U\":1,\"u\":2,\"b\":[[\"1\",\"1e1\"]],\"a\":[[\"1.001\",\"1\"]]}",
	       -EBADMSG);
#undef D_

	/* -E2BIG: more than max_levels on one side (3 here). */
	{
		struct pair p3 = pair_new(8, 8, 3, 0);
		struct tl_md_msg m;

		EXPECT(&p3,
		       "{\"lastUpdateId\":1,\"bids\":[[\"1\",\"1\"],[\"2\",\"1\"],[\"3\",\"1\"]],"
		       "\"asks\":[[\"1\",\"1\"],[\"2\",\"1\"],[\"3\",\"1\"]]}",
		       0);
		EXPECT(&p3,
		       "{\"lastUpdateId\":1,\"bids\":[[\"1\",\"1\"],[\"2\",\"1\"],[\"3\",\"1\"],"
		       "[\"4\",\"1\"]],\"asks\":[]}",
		       -E2BIG);
		/* E2BIG before the shape of the extra level. */
		EXPECT(&p3,
		       "{\"lastUpdateId\":1,\"bids\":[],\"asks\":[[\"1\",\"1\"],[\"2\",\"1\"],"
		       "[\"3\",\"1\"],7]}",
		       -E2BIG);
		/* A too-long level array in a message we do not use is no error. */
		CHECK_EQ(parse(&p3,
		               "{\"e\":\"x\",\"b\":[[\"1\",\"1\"],[\"2\",\"1\"],[\"3\",\"1\"],"
		               "[\"4\",\"1\"]]}",
		               &m),
		         0);
		CHECK_EQ(m.kind, TL_MD_OTHER);
		pair_free(&p3);
	}
	pair_free(&pr);
	pair_free(&p2);
}

static void test_bad_json(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	const char *bad[] = {
	    "",
	    " ",
	    "\n\t ",
	    "[]",
	    "[{}]",
	    "\"x\"",
	    "1",
	    "true",
	    "null",
	    "{",
	    "}",
	    "{}}",
	    "{} {}",
	    "{}x",
	    "x{}",
	    "{,}",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "{\"a\":1 \"b\":2}",
	    "{\"a\":1,,\"b\":2}",
	    "{a:1}",
	    "{'a':1}",
	    "{1:1}",
	    "{\"a\":[1,]}",
	    "{\"a\":[,1]}",
	    "{\"a\":[1 2]}",
	    "{\"a\":[1,,2]}",
	    "{\"a\":[}",
	    "{\"a\":{]}",
	    "{\"a\":[1}]",
	    "{\"a\":01}",
	    "{\"a\":1.}",
	    "{\"a\":.1}",
	    "{\"a\":-}",
	    "{\"a\":+1}",
	    "{\"a\":1e}",
	    "{\"a\":1e+}",
	    "{\"a\":1.2.3}",
	    "{\"a\":0x1}",
	    "{\"a\":Infinity}",
	    "{\"a\":NaN}",
	    "{\"a\":tru}",
	    "{\"a\":truee}",
	    "{\"a\":nul}",
	    "{\"a\":True}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\":\"\\u12g4\"}",
	    "{\"a\":\"\\\"}",
	    "{\"a\":\"x}",
	    "{\"a\":\"\t\"}",
	    "{\"a\":\"\n\"}",
	    "{\"a\":\"\x1f\"}",
	    "{\"a\\q\":1}",
	    "{\"a\":1}\x0c",
	    "{\"a\":1}\xa0",
	    "\xef\xbb\xbf{}", /* a byte-order mark is not whitespace */
	    /* Bad JSON behind something the fast paths handle, or behind a bad level. */
	    "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\",\"1\"],],\"a\":[]}",
	    "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\",\"1\"]\"a\":[]}",
	    "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\",\"1\",]],\"a\":[]}",
	    "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1.5x\",\"1\"}],\"a\":[]}",
	    ("{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":2,\"b\":[[\"1\",\"1\"] [\"1\","
	     "\"1\"]],\"a\":[]}"),
	    "{\"b\":[[\"1\",\"1\"],[\"1\",\"\\z\"]]}",
	    "{\"p\":\"1.5\\\"}",
	    "{\"data\":{\"e\":\"trade\",}}",
	    "{\"data\":{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT(&pr, bad[i], -EBADMSG);

	/* A NUL anywhere is bad, also where jsmn would stop reading. */
	{
		struct tl_md_msg m;

		CHECK_EQ(parse_len(&pr, "{}\0", 3, &m), -EBADMSG);
		CHECK_EQ(parse_len(&pr, "{\"a\":\"\0\"}", 8, &m), -EBADMSG);
		CHECK_EQ(parse_len(&pr, "{\"a\":1\0}", 8, &m), -EBADMSG);
		CHECK_EQ(parse_len(&pr, "{}", 2, &m), 0);
		/* Trailing whitespace is fine. */
		CHECK_EQ(parse_len(&pr, "{} \r\n\t", 6, &m), 0);
	}

	/* Nesting: depth 64 is the limit (the top-level object is depth 1). */
	{
		char buf[512];
		struct tl_md_msg m;

		for (int depth = 60; depth <= 70; depth++) {
			size_t o = 0;

			o += (size_t)sprintf(buf + o, "{\"x\":");
			/* depth - 1 containers inside the top-level object, alternating. */
			for (int i = 1; i < depth; i++)
				o += (size_t)sprintf(buf + o, "%s", i % 2 ? "[" : "{\"k\":");
			buf[o++] = '1';
			for (int i = depth - 1; i >= 1; i--)
				buf[o++] = i % 2 ? ']' : '}';
			buf[o++] = '}';
			CHECK_EQ(parse_len(&pr, buf, o, &m),
			         depth <= TL_MD_MAX_DEPTH ? 0 : -EBADMSG);
		}
		/* Far deeper than the limit: no recursion to blow the stack in the scanner,
		 * and no quadratic walk in jsmn (refused before it runs, even with a pool
		 * too small for the input). */
		size_t n = 1000000;
		char *deep = malloc(2 * n + 8);

		CHECK(deep != NULL);
		memcpy(deep, "{\"x\":", 5);
		memset(deep + 5, '[', n);
		memset(deep + 5 + n, ']', n);
		deep[5 + 2 * n] = '}';
		CHECK_EQ(parse_len(&pr, deep, 6 + 2 * n, &m), -EBADMSG);
		free(deep);
	}
	pair_free(&pr);
}

/* Every proper prefix of a valid message is an error, and every one-byte change gives
 * the same result in both parsers. */
static void test_truncation_and_mutation(void)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	struct pair p2 = pair_new(2, 5, 4, 0);
	const char *msgs[] = {
	    DEPTH_RAW,
	    COMBINED("btcusdt@depth@100ms", DEPTH_RAW),
	    TICKER_RAW,
	    COMBINED("btcusdt@bookTicker", TICKER_RAW),
	    TRADE_RAW,
	    COMBINED("btcusdt@trade", TRADE_RAW),
	    SNAPSHOT,
	    "{\"result\":null,\"id\":1}",
	    "{\"x\":{\"a\":[1,-2.5e3,{\"b\":\"c\\\"]}\\u00e9\"}],\"d\":null},\"y\":[true,false]}",
	};
	static const char subst[] = "{}[]\":,.-+0159eEtfnu\\ \x01\x80";
	struct tl_md_msg m;
	char buf[1024];

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);

		CHECK_EQ(parse_len(&pr, msgs[i], len, &m), 0);
		for (size_t cut = 0; cut < len; cut++)
			CHECK(parse_len(&pr, msgs[i], cut, &m) < 0);
		CHECK(len < sizeof(buf));
		for (size_t pos = 0; pos < len; pos++) {
			for (size_t s = 0; s < sizeof(subst) - 1; s++) {
				memcpy(buf, msgs[i], len);
				buf[pos] = subst[s];
				(void)parse_len(&pr, buf, len, &m);
				(void)parse_len(&p2, buf, len, &m);
			}
			/* Deleting a byte, and doubling it. */
			memcpy(buf, msgs[i], pos);
			memcpy(buf + pos, msgs[i] + pos + 1, len - pos - 1);
			(void)parse_len(&pr, buf, len - 1, &m);
			memcpy(buf, msgs[i], pos + 1);
			memcpy(buf + pos + 1, msgs[i] + pos, len - pos);
			(void)parse_len(&pr, buf, len + 1, &m);
			(void)parse_len(&p2, buf, len + 1, &m);
		}
	}
	pair_free(&pr);
	pair_free(&p2);
}

static void test_config(void)
{
	struct tl_md_parser_config c;
	tl_md_parser_t *p = (tl_md_parser_t *)&c;

	tl_md_parser_config_default(&c);
	CHECK_EQ(c.scale.px_decimals, 8);
	CHECK_EQ(c.scale.qty_decimals, 8);
	CHECK_EQ(c.max_levels, TL_MD_DEFAULT_MAX_LEVELS);
	CHECK_EQ(tl_md_parser_create(&p, NULL), -EINVAL);
	CHECK(p == NULL);
	CHECK_EQ(tl_md_parser_create(NULL, &c), -EINVAL);
	c.scale.px_decimals = 19;
	CHECK_EQ(tl_md_parser_create(&p, &c), -EINVAL);
	c.scale.px_decimals = -1;
	CHECK_EQ(tl_md_parser_create(&p, &c), -EINVAL);
	c.scale.px_decimals = 0;
	c.scale.qty_decimals = 18;
	c.max_levels = (1u << 20) + 1;
	CHECK_EQ(tl_md_parser_create(&p, &c), -EINVAL);
	c.max_levels = 0; /* the default */
	c.max_tokens = (1u << 23) + 1;
	CHECK_EQ(tl_md_parser_create(&p, &c), -EINVAL);
	c.max_tokens = 0;
	CHECK_EQ(tl_md_parser_create(&p, &c), 0);
	tl_md_parser_destroy(p);
	tl_md_parser_destroy(NULL);

	/* The jsmn pool is fixed: a message needing more tokens is -E2BIG there only. */
	{
		struct tl_md_parser_config c2;
		tl_md_parser_t *j;
		struct tl_md_msg m;
		const char *s = TICKER_RAW; /* 13 tokens */

		tl_md_parser_config_default(&c2);
		c2.max_tokens = 12;
		CHECK_EQ(tl_md_parser_create(&j, &c2), 0);
		CHECK_EQ(tl_md_parse_jsmn(j, s, strlen(s), &m), -E2BIG);
		CHECK_EQ(m.kind, TL_MD_NONE);
		CHECK_EQ(tl_md_parse(j, s, strlen(s), &m), 0);
		tl_md_parser_destroy(j);
		c2.max_tokens = 13;
		CHECK_EQ(tl_md_parser_create(&j, &c2), 0);
		CHECK_EQ(tl_md_parse_jsmn(j, s, strlen(s), &m), 0);
		check_ticker(&m);
		tl_md_parser_destroy(j);
	}
}

/* ======================================================================================
 * Real captures.
 * ====================================================================================== */

struct real_counts {
	uint64_t lines, kinds[TL_MD_OTHER + 1], levels, bytes;
	uint64_t tails; /* tl_md_parse_top's, checked against the full parse */
};

static int check_top_parse(const struct tl_md_parser_config *c, tl_md_parser_t *full_p,
                           tl_md_parser_t *top_p, const char *json, size_t len,
                           const struct tl_md_floors *fl);
static int64_t pick_floor(const struct tl_md_level *lv, uint32_t n, bool bid, uint64_t r);

/* Finds the next `s` in line from *at on, and moves *at past it. */
static bool find_from(const char *line, size_t *at, const char *s)
{
	const char *hit = strstr(line + *at, s);

	if (hit == NULL)
		return false;
	*at = (size_t)(hit - line) + strlen(s);
	return true;
}

/* Formats each parsed level back at 8 decimals and finds it, in order, in the line:
 * Binance writes exactly 8, so this proves every value exact and every level in place. */
static void check_levels_in_line(const char *line, size_t *at, const struct tl_md_level *lv,
                                 uint32_t n)
{
	char px[32], qty[32], want[80];

	for (uint32_t i = 0; i < n; i++) {
		CHECK(tl_md_dec_format(px, sizeof(px), lv[i].px, 8) > 0);
		CHECK(tl_md_dec_format(qty, sizeof(qty), lv[i].qty, 8) > 0);
		snprintf(want, sizeof(want), "[\"%s\",\"%s\"]", px, qty);
		CHECK(find_from(line, at, want));
	}
}

static void check_value_in_line(const char *line, const char *key, int64_t v)
{
	char num[32], want[64];

	CHECK(tl_md_dec_format(num, sizeof(num), v, 8) > 0);
	snprintf(want, sizeof(want), "\"%s\":\"%s\"", key, num);
	CHECK(strstr(line, want) != NULL);
}

static void check_real_line(struct pair *pr, const char *json, size_t len, struct real_counts *c)
{
	struct tl_md_msg m;
	int r = parse_len(pr, json, len, &m);
	size_t at = 0;
	char *line;

	if (r != 0) {
		fprintf(stderr, "real line failed (%d, %s): %.*s\n", r, tl_strerror(r),
		        (int)(len > 300 ? 300 : len), json);
		exit(1);
	}
	c->lines++;
	c->bytes += len;
	c->kinds[m.kind]++;
	c->levels += m.n_bids + m.n_asks;
	line = strndup(json, len);
	CHECK(line != NULL);
	switch (m.kind) {
	case TL_MD_DEPTH:
		CHECK(m.symbol[0] != '\0');
		CHECK(m.first_id <= m.final_id);
		CHECK(m.event_ms > 1600000000000);
		CHECK(find_from(line, &at, "\"b\":"));
		check_levels_in_line(line, &at, m.bids, m.n_bids);
		CHECK(find_from(line, &at, "\"a\":"));
		check_levels_in_line(line, &at, m.asks, m.n_asks);
		break;
	case TL_MD_SNAPSHOT:
		CHECK(m.n_bids > 0 && m.n_asks > 0);
		CHECK(find_from(line, &at, "\"bids\":"));
		check_levels_in_line(line, &at, m.bids, m.n_bids);
		CHECK(find_from(line, &at, "\"asks\":"));
		check_levels_in_line(line, &at, m.asks, m.n_asks);
		break;
	case TL_MD_TICKER:
		check_value_in_line(line, "b", m.bid.px);
		check_value_in_line(line, "B", m.bid.qty);
		check_value_in_line(line, "a", m.ask.px);
		check_value_in_line(line, "A", m.ask.qty);
		break;
	case TL_MD_TRADE:
		check_value_in_line(line, "p", m.px);
		check_value_in_line(line, "q", m.qty);
		CHECK(m.trade_ms > 1600000000000);
		break;
	default:
		break;
	}
	free(line);
	if (m.kind == TL_MD_DEPTH) {
		/* Top first, with floors at each of its levels in turn (and none, and all). */
		struct tl_md_parser_config pc;
		struct tl_md_floors fl;

		tl_md_parser_config_default(&pc);
		fl.bid = pick_floor(m.bids, m.n_bids, true, c->lines);
		fl.ask = pick_floor(m.asks, m.n_asks, false, c->lines / 3);
		c->tails += (uint64_t)check_top_parse(&pc, pr->scan, pr->jsmn, json, len, &fl);
	}
}

/* Reads a capture line by line (gzip or plain: gzopen reads both) and checks each JSON
 * line. Lines look like "<local_ns> <json>" (binance-spot), "<ts>: <json>" and
 * "<url> -> <ts>: <json>" (cryptofeed); header lines without a '{' are skipped. */
static void check_real_file(struct pair *pr, const char *path, struct real_counts *c)
{
	static char line[1 << 20];
	gzFile gz = gzopen(path, "rb");
	uint64_t skipped = 0, before = c->lines;

	if (gz == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	while (gzgets(gz, line, sizeof(line)) != NULL) {
		size_t len = strlen(line);
		const char *json;

		CHECK(len < sizeof(line) - 1); /* no line longer than the buffer */
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		json = strchr(line, '{');
		if (json == NULL) {
			skipped++;
			continue;
		}
		check_real_line(pr, json, len - (size_t)(json - line), c);
	}
	gzclose(gz);
	printf("  %s: %" PRIu64 " messages, %" PRIu64 " header lines\n", path, c->lines - before,
	       skipped);
}

static int test_real(const char *dir)
{
	struct pair pr = pair_new(8, 8, 0, 0);
	struct real_counts spot = {0}, cf = {0};
	const char *spot_files[] = {"binance-spot/btcusdt_20240808.gz",
	                            "binance-spot/btcusdt_20240809.gz"};
	const char *cf_files[] = {"cryptofeed/BINANCE.ws.1.0", "cryptofeed/BINANCE.http.0.0"};
	char path[4096];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, spot_files[i]);
		check_real_file(&pr, path, &spot);
	}
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cf_files[i]);
		check_real_file(&pr, path, &cf);
	}
	/* What the captures hold (counted with grep on the stream names). */
	CHECK_EQ(spot.lines, 41249 + 58325);
	CHECK_EQ(spot.kinds[TL_MD_DEPTH], 6495);
	CHECK_EQ(spot.kinds[TL_MD_TICKER], 73174);
	CHECK_EQ(spot.kinds[TL_MD_TRADE], 19904);
	CHECK_EQ(spot.kinds[TL_MD_SNAPSHOT], 1);
	CHECK_EQ(spot.kinds[TL_MD_OTHER], 0);
	CHECK_EQ(cf.kinds[TL_MD_DEPTH], 177);
	CHECK_EQ(cf.kinds[TL_MD_TICKER], 84);
	CHECK_EQ(cf.kinds[TL_MD_SNAPSHOT], 4);
	CHECK_EQ(cf.kinds[TL_MD_OTHER], 4); /* two kline, two aggTrade */
	CHECK(spot.tails > 6495);           /* most events have a tail on either side */
	printf("  binance-spot: %" PRIu64 " messages, %" PRIu64 " levels, %" PRIu64
	       " bytes, %" PRIu64 " tails parsed top first; cryptofeed: %" PRIu64
	       " messages, %" PRIu64 " levels\n",
	       spot.lines, spot.levels, spot.bytes, spot.tails, cf.lines, cf.levels);
	pair_free(&pr);
	return 0;
}

/* ======================================================================================
 * Top first: tl_md_parse_top and tl_md_parse_tail against tl_md_parse.
 * ====================================================================================== */

/* One side's tail, converted, must be exactly the full parse's levels from `from` on. */
static void check_tail(const struct tl_md_parser_config *c, const char *tail, uint32_t tail_len,
                       const struct tl_md_level *all, uint32_t n_all, uint32_t from)
{
	static struct tl_md_level lv[TL_MD_DEFAULT_MAX_LEVELS];
	uint32_t n = 0;

	CHECK(tail[0] == '[' && tail[tail_len - 1] == ']');
	CHECK_EQ(tl_md_parse_tail(c->scale, tail, tail_len, lv, TL_MD_DEFAULT_MAX_LEVELS, &n), 0);
	CHECK_EQ(n + from, n_all);
	CHECK(memcmp(lv, all + from, n * sizeof(*lv)) == 0);
	/* One level fewer than it holds is too many. */
	if (n > 0)
		CHECK_EQ(tl_md_parse_tail(c->scale, tail, tail_len, lv, n - 1, &n), -E2BIG);
}

/* The converted part of a side: the full parse's levels up to the first past the floor. */
static uint32_t top_count(const struct tl_md_level *lv, uint32_t n, bool bid, int64_t floor)
{
	uint32_t i = 0;

	while (i < n && (bid ? lv[i].px >= floor : lv[i].px <= floor))
		i++;
	return i;
}

/*
 * json[0..len) through tl_md_parse (full: scan's parser) and tl_md_parse_top (top: a
 * second parser): the same result; every field but the levels the same; each side's
 * converted levels the full ones up to the first past its floor, and its tail those after,
 * exactly. Returns the number of tails (0..2).
 */
static int check_top_parse(const struct tl_md_parser_config *c, tl_md_parser_t *full_p,
                           tl_md_parser_t *top_p, const char *json, size_t len,
                           const struct tl_md_floors *fl)
{
	struct tl_md_msg full, top, cmp;
	int rf = tl_md_parse(full_p, json, len, &full), rt;
	uint32_t nb, na;

	rt = tl_md_parse_top(top_p, json, len, fl, &top);
	CHECK_EQ(rt, rf);
	if (rf != 0)
		return 0;
	if (full.kind != TL_MD_DEPTH) {
		CHECK(top.bids_tail == NULL && top.asks_tail == NULL);
		CHECK(msg_equal(&full, &top));
		return 0;
	}
	nb = top_count(full.bids, full.n_bids, true, fl->bid);
	na = top_count(full.asks, full.n_asks, false, fl->ask);
	CHECK_EQ(top.n_bids, nb);
	CHECK_EQ(top.n_asks, na);
	CHECK_EQ(top.bids_tail != NULL, nb < full.n_bids);
	CHECK_EQ(top.asks_tail != NULL, na < full.n_asks);
	cmp = top;
	cmp.n_bids = full.n_bids;
	cmp.n_asks = full.n_asks;
	cmp.bids = full.bids; /* the prefix is compared below */
	cmp.asks = full.asks;
	CHECK(msg_equal(&full, &cmp));
	CHECK(memcmp(top.bids, full.bids, nb * sizeof(*top.bids)) == 0);
	CHECK(memcmp(top.asks, full.asks, na * sizeof(*top.asks)) == 0);
	if (top.bids_tail) {
		CHECK(top.bids_tail >= json && top.bids_tail + top.bids_tail_len <= json + len);
		CHECK_EQ(top.tail_scale.px_decimals, c->scale.px_decimals);
		check_tail(c, top.bids_tail, top.bids_tail_len, full.bids, full.n_bids, nb);
	}
	if (top.asks_tail) {
		CHECK(top.asks_tail >= json && top.asks_tail + top.asks_tail_len <= json + len);
		check_tail(c, top.asks_tail, top.asks_tail_len, full.asks, full.n_asks, na);
	}
	return (top.bids_tail != NULL) + (top.asks_tail != NULL);
}

/* A floor for a side of m: at one of its levels (so that the next one starts the tail),
 * or none, or past everything. */
static int64_t pick_floor(const struct tl_md_level *lv, uint32_t n, bool bid, uint64_t r)
{
	uint32_t k = (uint32_t)(r % (n + 2));

	if (k == n)
		return bid ? INT64_MIN : INT64_MAX; /* converts all */
	if (k == n + 1)
		return bid ? INT64_MAX : INT64_MIN; /* converts nothing */
	return lv[k].px;
}

/*
 * Random depth messages, sorted as the venue sorts them, with whitespace between tokens
 * now and then, and floors anywhere; then the same messages with one byte of a tail
 * changed: what tl_md_parse refuses, tl_md_parse_top refuses with the same error, or takes
 * and leaves the error in that tail for tl_md_parse_tail.
 */
static void test_parse_top_random(void)
{
	enum { LEVELS = 12 };
	static const char mutants[] = "[]\",. 0159xe-";
	struct tl_md_parser_config c;
	tl_md_parser_t *fp, *tp;
	char msg[2048];
	uint64_t tails = 0, mutated = 0, refused_late = 0;

	tl_md_parser_config_default(&c);
	c.scale.px_decimals = 2;
	c.scale.qty_decimals = 5;
	CHECK_EQ(tl_md_parser_create(&fp, &c), 0);
	CHECK_EQ(tl_md_parser_create(&tp, &c), 0);
	for (int it = 0; it < 20000; it++) {
		const char *ws = rnd() % 4 == 0 ? " " : "";
		int n =
		    snprintf(msg, sizeof(msg),
		             "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2");
		int64_t px = 6000000 + (int64_t)(rnd() % 1000);
		struct tl_md_floors fl;
		struct tl_md_msg full;

		for (int side = 0; side < 2; side++) {
			int nl = (int)(rnd() % (LEVELS + 1));
			int64_t p = side ? px + 1 : px;

			n += snprintf(msg + n, sizeof(msg) - (size_t)n, ",\"%c\":%s[%s",
			              side ? 'a' : 'b', ws, ws);
			for (int l = 0; l < nl; l++) {
				p += side ? 1 + (int64_t)(rnd() % 5) : -1 - (int64_t)(rnd() % 5);
				n += snprintf(msg + n, sizeof(msg) - (size_t)n,
				              "%s[%s\"%lld.%02lld\"%s,%s\"%llu.%05llu\"%s]%s",
				              l ? "," : "", ws, (long long)(p / 100),
				              (long long)(p % 100), ws, ws,
				              (unsigned long long)(rnd() % 3),
				              (unsigned long long)(rnd() % 100000), ws, ws);
			}
			n += snprintf(msg + n, sizeof(msg) - (size_t)n, "]");
		}
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "}");
		CHECK((size_t)n < sizeof(msg));
		CHECK_EQ(tl_md_parse(fp, msg, (size_t)n, &full), 0);
		fl.bid = pick_floor(full.bids, full.n_bids, true, rnd());
		fl.ask = pick_floor(full.asks, full.n_asks, false, rnd());
		tails += (uint64_t)check_top_parse(&c, fp, tp, msg, (size_t)n, &fl);

		/* One byte of a tail changed. */
		struct tl_md_msg top, again;
		CHECK_EQ(tl_md_parse_top(tp, msg, (size_t)n, &fl, &top), 0);
		const char *tail = rnd() % 2 ? top.bids_tail : top.asks_tail;
		uint32_t tail_len = tail == top.bids_tail ? top.bids_tail_len : top.asks_tail_len;
		if (tail == NULL)
			continue;
		size_t at = (size_t)(tail - msg) + rnd() % tail_len;
		char was = msg[at];
		msg[at] = mutants[rnd() % (sizeof(mutants) - 1)];
		int rf = tl_md_parse(fp, msg, (size_t)n, &full);
		int rt = tl_md_parse_top(tp, msg, (size_t)n, &fl, &again);
		mutated++;
		if (rf == 0) {
			check_top_parse(&c, fp, tp, msg, (size_t)n, &fl);
		} else if (rt != 0) {
			CHECK_EQ(rt, rf);
		} else {
			/* Taken: a tail of it must give the full parse's error. */
			static struct tl_md_level lv[TL_MD_DEFAULT_MAX_LEVELS];
			uint32_t k;
			int eb = again.bids_tail ? tl_md_parse_tail(c.scale, again.bids_tail,
			                                            again.bids_tail_len, lv,
			                                            TL_MD_DEFAULT_MAX_LEVELS, &k)
			                         : 0;
			int ea = again.asks_tail ? tl_md_parse_tail(c.scale, again.asks_tail,
			                                            again.asks_tail_len, lv,
			                                            TL_MD_DEFAULT_MAX_LEVELS, &k)
			                         : 0;
			if ((eb ? eb : ea) != rf) {
				fprintf(stderr, "tail error %d/%d, full parse %d: %.*s\n", eb, ea,
				        rf, n, msg);
				exit(1);
			}
			refused_late++;
		}
		msg[at] = was;
	}
	printf("  parse top: 20000 messages, %llu tails; %llu changed in a tail, %llu of them "
	       "refused only in the tail\n",
	       (unsigned long long)tails, (unsigned long long)mutated,
	       (unsigned long long)refused_late);
	CHECK(tails > 10000);
	CHECK(refused_late > 1000);
	tl_md_parser_destroy(fp);
	tl_md_parser_destroy(tp);
}

/* By hand: the shapes the random messages may miss. */
static void test_parse_top_cases(void)
{
	struct tl_md_parser_config c;
	tl_md_parser_t *p;
	struct tl_md_msg m;
	struct tl_md_level lv[8];
	uint32_t n;
	const struct tl_md_floors fl = {.bid = 9900, .ask = 10100}; /* 99.00 and 101.00 */
	const char *tail;

	tl_md_parser_config_default(&c);
	c.scale.px_decimals = 2;
	c.scale.qty_decimals = 2;
	CHECK_EQ(tl_md_parser_create(&p, &c), 0);

	/* A repeated "b": the last one counts, its tail too. */
	const char *rep = "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":1,"
	                  "\"b\":[[\"100\",\"1\"],[\"98\",\"1\"]],\"a\":[],\"b\":[[\"99\",\"2\"]]}";
	CHECK_EQ(tl_md_parse_top(p, rep, strlen(rep), &fl, &m), 0);
	CHECK_EQ(m.n_bids, 1);
	CHECK(m.bids_tail == NULL && m.asks_tail == NULL);
	CHECK_EQ(m.bids[0].px, 9900);

	/* A bad level in the tail: parse_top takes the message, the tail says why not. */
	const char *bad = "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":1,"
	                  "\"b\":[[\"100\",\"1\"],[\"98\",\"1\"],[\"97\",\"1.234\"]],\"a\":[]}";
	CHECK_EQ(tl_md_parse(p, bad, strlen(bad), &m), -EDOM);
	CHECK_EQ(tl_md_parse_top(p, bad, strlen(bad), &fl, &m), 0);
	CHECK_EQ(m.n_bids, 1);
	tail = "[\"98\",\"1\"],[\"97\",\"1.234\"]]";
	CHECK_EQ(m.bids_tail_len, strlen(tail));
	CHECK(memcmp(m.bids_tail, tail, strlen(tail)) == 0);
	CHECK_EQ(tl_md_parse_tail(m.tail_scale, m.bids_tail, m.bids_tail_len, lv, 8, &n), -EDOM);

	/* A bracket in a string cuts the skip short: here the JSON after it breaks. */
	const char *brk = "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":1,"
	                  "\"b\":[[\"100\",\"1\"],[\"98\",\"1]]\"]],\"a\":[]}";
	CHECK_EQ(tl_md_parse(p, brk, strlen(brk), &m), -EBADMSG);
	CHECK_EQ(tl_md_parse_top(p, brk, strlen(brk), &fl, &m), -EBADMSG);
	/* And a tail that ends short of its closing bracket, or goes on past it, is refused. */
	CHECK_EQ(tl_md_parse_tail(c.scale, "[\"98\",\"1\"]", 10, lv, 8, &n), -EBADMSG);
	CHECK_EQ(tl_md_parse_tail(c.scale, "[\"98\",\"1\"]],", 12, lv, 8, &n), -EBADMSG);
	CHECK_EQ(tl_md_parse_tail(c.scale, "[\"98\",\"1\"] ]", 12, lv, 8, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(tl_md_parse_tail(c.scale, "", 0, lv, 8, &n), -EBADMSG);

	/* A snapshot's "bids" and "asks" are converted whole whatever the floors. */
	const char *snap = "{\"lastUpdateId\":5,\"bids\":[[\"100\",\"1\"],[\"50\",\"1\"]],"
	                   "\"asks\":[[\"101\",\"1\"],[\"200\",\"1\"]]}";
	CHECK_EQ(tl_md_parse_top(p, snap, strlen(snap), &fl, &m), 0);
	CHECK_EQ(m.kind, TL_MD_SNAPSHOT);
	CHECK(m.n_bids == 2 && m.n_asks == 2 && !m.bids_tail && !m.asks_tail);

	/* Long tails, across many 8-byte words and their last bytes one at a time. */
	char big[4096];
	int len = snprintf(big, sizeof(big),
	                   "{\"e\":\"depthUpdate\",\"s\":\"X\",\"U\":1,\"u\":1,"
	                   "\"a\":[],\"b\":[");
	for (int i = 0; i < 100; i++)
		len += snprintf(big + len, sizeof(big) - (size_t)len, "%s[\"%d.%02d\",\"1\"]",
		                i ? "," : "", 100 - i / 10, 99 - i);
	len += snprintf(big + len, sizeof(big) - (size_t)len, "]}");
	for (int cut = len - 2; cut <= len; cut++) {
		int r = tl_md_parse_top(p, big, (size_t)cut, &fl, &m);
		CHECK_EQ(r, cut == len ? 0 : -EBADMSG);
	}
	CHECK_EQ(m.n_bids, 20); /* 100.99 .. 100.90, 99.89 .. 99.80; then 98.79 */
	CHECK(m.bids_tail != NULL && m.bids_tail[2] == '9' && m.bids_tail[3] == '8');
	tl_md_parser_destroy(p);
}

int main(int argc, char **argv)
{
	struct stat st;

	test_dec_parse();
	test_dec_random();
	test_dec_levels_random();
	test_dec_format();
	test_config();
	test_kinds();
	test_key_order();
	test_unknown_and_wrapper();
	test_field_errors();
	test_bad_json();
	test_truncation_and_mutation();
	test_parse_top_random();
	test_parse_top_cases();
	printf("test_md_parse: unit checks passed\n");

	if (argc < 2 || stat(argv[1], &st) != 0 || !S_ISDIR(st.st_mode)) {
		printf("test_md_parse: SKIP real captures: data directory %s not found\n",
		       argc < 2 ? "(none given)" : argv[1]);
		return TL_TEST_SKIP;
	}
	test_real(argv[1]);
	printf("test_md_parse: real captures passed\n");
	return 0;
}
