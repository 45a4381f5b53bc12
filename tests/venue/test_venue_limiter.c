/*
 * test_venue_limiter.c: the rate limiter (tl_venue.h, "The rate limiter"), on simulated
 * time.
 *
 *   buckets      tokens come back one window after they were taken, no earlier; the wait
 *                returned is exact (denied one ns before, allowed at it)
 *   property     random traffic over hours: no window of any bucket ever holds more than
 *                its limit, and every wait, once waited, lets the request through
 *   orders       ORDERS per 10 s and per day; orders exhausted leave other requests free
 *   correction   the venue's count (plus what is in flight) is the usage; new limits
 *                from responses; REST headers
 *   back-off     429/-1003, -1015 (orders only), 418 (ban), with and without retryAfter,
 *                doubling, reset, the cap
 */
#include "tl_venue.h"
#include "tl_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ll
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define DAY (86400 * SEC)
#define T0 (12345 * SEC) /* simulated time starts here, off any window boundary */
/* A slot is ceil(window / 63), so 63 slots overshoot the window by up to 62 ns: a token
 * comes back at most one slot and this much after one window. */
#define SLACK 63

static struct tl_venue_rate_limit limit_of(enum tl_venue_limit_type type, int64_t window_ms,
                                           int64_t limit, int64_t count)
{
	struct tl_venue_rate_limit l = {type, window_ms, 1, limit, count};
	return l;
}

/* Binance's production limits (exchangeInfo). */
static void init_binance(struct tl_venue_limiter *lim)
{
	const struct tl_venue_rate_limit l[] = {
	    limit_of(TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 10000, 50, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 86400000, 160000, -1),
	};
	CHECK_EQ(tl_venue_limiter_init(lim, NULL, l, 3), 0);
}

/* A response carrying only usage counts (and optionally an error). */
static struct tl_venue_response resp_counts(int32_t status, int32_t code, int64_t wait_ms)
{
	struct tl_venue_response r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.has_error = code != 0;
	r.error_code = code;
	r.retry_wait_ms = wait_ms;
	return r;
}

/* Feeds a response with no counts. */
static void respond(struct tl_venue_limiter *lim, int64_t now_ns, int32_t status, int32_t code,
                    int64_t wait_ms)
{
	struct tl_venue_response r = resp_counts(status, code, wait_ms);

	tl_venue_limiter_on_response(lim, now_ns, &r);
}

static void add_count(struct tl_venue_response *r, enum tl_venue_limit_type type, int64_t window_ms,
                      int64_t limit, int64_t count)
{
	CHECK(r->n_limits < TL_VENUE_RATE_LIMITS_MAX);
	r->limits[r->n_limits++] = limit_of(type, window_ms, limit, count);
}

/* ======================================================================================
 * Set-up.
 * ====================================================================================== */

static void test_init(void)
{
	struct tl_venue_limiter lim;
	struct tl_venue_limiter_config cfg;
	struct tl_venue_rate_limit l[10];
	size_t n;
	static const char exinfo[] =
	    "{\"rateLimits\":[{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\","
	    "\"intervalNum\":1,\"limit\":6000},{\"rateLimitType\":\"ORDERS\",\"interval\":"
	    "\"SECOND\","
	    "\"intervalNum\":10,\"limit\":50},{\"rateLimitType\":\"ORDERS\",\"interval\":\"DAY\","
	    "\"intervalNum\":1,\"limit\":160000},{\"rateLimitType\":\"RAW_REQUESTS\",\"interval\":"
	    "\"MINUTE\",\"intervalNum\":5,\"limit\":61000}],\"symbols\":[]}";

	/* From exchangeInfo, through its parser. */
	CHECK_EQ(tl_venue_parse_rate_limits(exinfo, strlen(exinfo), l, 10, &n), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, n), 0);
	CHECK_EQ(lim.n_buckets, 4);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_RAW_REQUESTS, 300000), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 1000), -ENOENT);

	/* A request takes weight, one raw request, and one of each ORDERS when an order. */
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 4, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 1, true), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 5);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 1);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 1);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_RAW_REQUESTS, 300000), 2);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->allowed, 2);

	/* Unusable entries and repeats are skipped; no limits at all is fine. */
	l[0] = limit_of(TL_VENUE_LIMIT_OTHER, 1000, 5, -1);
	l[1] = limit_of(TL_VENUE_LIMIT_ORDERS, 0, 5, -1);
	l[2] = limit_of(TL_VENUE_LIMIT_ORDERS, 1000, 5, -1);
	l[3] = limit_of(TL_VENUE_LIMIT_ORDERS, 1000, 7, -1);
	l[4] = limit_of(TL_VENUE_LIMIT_ORDERS, 2000, -1, -1);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, 5), 0);
	CHECK_EQ(lim.n_buckets, 1);
	CHECK_EQ(lim.buckets[0].limit, 5);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, NULL, 0), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 100000, true), 0); /* nothing to stop it */

	/* Errors. */
	for (int i = 0; i < 9; i++)
		l[i] = limit_of(TL_VENUE_LIMIT_ORDERS, 1000 * (i + 1), 5, -1);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, 9), -EINVAL);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, 8), 0);
	CHECK_EQ(tl_venue_limiter_init(NULL, NULL, l, 1), -EINVAL);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, NULL, 1), -EINVAL);
	tl_venue_limiter_config_default(&cfg);
	cfg.ban_ns = 0;
	CHECK_EQ(tl_venue_limiter_init(&lim, &cfg, l, 1), -EINVAL);

	/* A request heavier than a whole bucket could never go. */
	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 6001, false), -EINVAL);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 6000, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 1u << 31, false), -EINVAL);
}

/* ======================================================================================
 * Buckets over simulated time.
 * ====================================================================================== */

static void test_refill(void)
{
	struct tl_venue_limiter lim;
	int64_t w, slot_ns;

	init_binance(&lim);
	slot_ns = lim.buckets[0].slot_ns;
	CHECK_EQ(slot_ns, (60 * SEC + 62) / 63);

	/* The whole minute's weight at once. */
	for (int i = 0; i < 60; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, T0, 100, false), 0);
	w = tl_venue_limiter_try(&lim, T0, 1, false);
	/* Back one window later, at most one slot late. */
	CHECK(w >= MIN && w <= MIN + slot_ns + SLACK);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->denied, 1);
	/* Exact: one ns early is still too early, and the wait asked again is the rest. */
	CHECK_EQ(tl_venue_limiter_try(&lim, T0 + w / 2, 1, false), w - w / 2);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0 + w - 1, 1, false), 1);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0 + w, 6000, false), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 6000);

	/* Spread out: 100 a second for a minute fills it; then, for the next minute, each
	 * second (plus a slot) frees what the same second a minute before took. (Each later
	 * minute would shift by another slot: a token is back a window and up to a slot after
	 * it was taken.) */
	init_binance(&lim);
	for (int s = 0; s < 60; s++)
		CHECK_EQ(tl_venue_limiter_try(&lim, T0 + s * SEC, 100, false), 0);
	w = tl_venue_limiter_try(&lim, T0 + 60 * SEC, 100, false);
	CHECK(w > 0 && w <= slot_ns + SLACK);
	for (int s = 60; s < 120; s++) {
		int64_t t = T0 + s * SEC + slot_ns + SLACK;

		CHECK_EQ(tl_venue_limiter_try(&lim, t, 100, false), 0);
		CHECK(tl_venue_limiter_try(&lim, t, 100, false) > 0);
	}
	/* Quiet for longer than a window: everything is back. */
	CHECK_EQ(tl_venue_limiter_try(&lim, T0 + 400 * SEC, 6000, false), 0);

	/* Time that goes back is taken as the last time seen. */
	CHECK(tl_venue_limiter_try(&lim, T0, 1, false) > 0);
	CHECK_EQ(lim.last_ns, T0 + 400 * SEC);
}

/* A tiny deterministic generator. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct sent {
	int64_t t;
	uint32_t weight;
	bool order;
};

/*
 * Random traffic for 3 simulated hours against small limits: the log of what was let
 * through must never hold more than a limit in any window of that limit's length, and a
 * request that waited what it was told must go (nothing else intervenes here).
 */
static void test_property(void)
{
	struct tl_venue_limiter lim;
	const struct tl_venue_rate_limit l[] = {
	    limit_of(TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 120, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 10000, 7, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 3600000, 300, -1),
	};
	enum { MAX_SENT = 200000 };
	struct sent *log = malloc(MAX_SENT * sizeof(*log));
	size_t n = 0;
	int64_t t = T0, end = T0 + 3 * 3600 * SEC;

	CHECK(log != NULL);
	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, 3), 0);
	while (t < end) {
		uint32_t weight = 1 + (uint32_t)(rng() % 10);
		bool order = rng() % 3 == 0;
		int64_t w = tl_venue_limiter_try(&lim, t, weight, order);

		CHECK(w >= 0);
		if (w > 0) {
			/* Waiting exactly that long is enough. */
			CHECK_EQ(tl_venue_limiter_try(&lim, t + w, weight, order), 0);
			t += w;
		}
		CHECK(n < MAX_SENT);
		log[n++] = (struct sent){t, weight, order};
		tl_venue_limiter_on_response(&lim, t, NULL);
		t += (int64_t)(rng() % (2 * SEC));
	}
	CHECK(n > 1000);
	/* Every window that starts at a request: the requests in [t, t + window). */
	for (size_t i = 0; i < n; i++) {
		int64_t weight = 0, orders10 = 0, orders_h = 0;

		for (size_t k = i; k < n && log[k].t < log[i].t + 3600 * SEC; k++) {
			if (log[k].t < log[i].t + MIN)
				weight += log[k].weight;
			if (log[k].order && log[k].t < log[i].t + 10 * SEC)
				orders10++;
			if (log[k].order)
				orders_h++;
		}
		CHECK(weight <= 120);
		CHECK(orders10 <= 7);
		CHECK(orders_h <= 300);
	}
	free(log);
}

/* ======================================================================================
 * Orders per 10 s and per day.
 * ====================================================================================== */

static void test_orders(void)
{
	struct tl_venue_limiter lim;
	const struct tl_venue_rate_limit l[] = {
	    limit_of(TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 10000, 50, -1),
	    limit_of(TL_VENUE_LIMIT_ORDERS, 86400000, 120, -1),
	};
	int64_t w, t = T0;

	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, l, 3), 0);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 0);
	w = tl_venue_limiter_try(&lim, t, 1, true);
	CHECK(w >= 10 * SEC && w <= 10 * SEC + lim.buckets[1].slot_ns + SLACK);
	/* Cancels and queries are not orders: they still go. */
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 4, false), 0);

	/* Two more 10 s windows: 120 a day is reached at 20 in the third. */
	t += w;
	for (int i = 0; i < 50; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 0);
	t += tl_venue_limiter_try(&lim, t, 1, true);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 120);
	w = tl_venue_limiter_try(&lim, t, 1, true);
	/* The day's first orders come back a day after they went. */
	CHECK(w >= DAY - (t - T0) && w <= DAY - (t - T0) + lim.buckets[2].slot_ns + SLACK);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + w - 1, 1, true), 1);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + w, 1, true), 0);
	/* Still no order limit on the rest. */
	CHECK_EQ(tl_venue_limiter_try(&lim, t + w, 1, false), 0);
}

/* ======================================================================================
 * Corrections from the venue's counts.
 * ====================================================================================== */

static void test_correction(void)
{
	struct tl_venue_limiter lim;
	struct tl_venue_response r;
	int64_t t = T0;

	init_binance(&lim);
	/* Three orders in flight; the first one's answer counts 1 (itself): usage is 1 plus
	 * the two still in flight. */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 0);
	CHECK_EQ(lim.inflight_n, 3);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_ORDERS, 10000, 50, 1);
	add_count(&r, TL_VENUE_LIMIT_ORDERS, 86400000, 160000, 1);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 1);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(lim.inflight_n, 2);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 3);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 3);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->corrections, 3);

	/* Someone else on the account placed 40: the count says so, and it is taken. */
	r.limits[0].count = 42;
	r.limits[1].count = 42;
	tl_venue_limiter_on_response(&lim, t + 10 * MS, &r);
	CHECK_EQ(lim.inflight_n, 1);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 43);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 43);
	for (int i = 0; i < 7; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t + 20 * MS, 1, true), 0);
	CHECK(tl_venue_limiter_try(&lim, t + 20 * MS, 1, true) > 0);

	/* The venue's 10 s window turned over: its count restarts, and so do we, at once
	 * (8 in flight: the one answered leaves, 7 stay). */
	r.limits[0].count = 1;
	r.limits[1].count = 51;
	tl_venue_limiter_on_response(&lim, t + 30 * MS, &r);
	CHECK_EQ(lim.inflight_n, 7);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 8);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 58);
	for (int i = 0; i < 42; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, t + 40 * MS, 1, true), 0);
	CHECK(tl_venue_limiter_try(&lim, t + 40 * MS, 1, true) > 0);

	/* A lowered count frees the oldest tokens first: what is left comes back latest. */
	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1000, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 30 * SEC, 1000, false), 0);
	tl_venue_limiter_on_lost(&lim, 2);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->lost, 2);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 5500);
	tl_venue_limiter_on_response(&lim, t + 30 * SEC, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 5500);
	r.limits[0].count = 1000;
	tl_venue_limiter_on_response(&lim, t + 30 * SEC, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 1000);
	/* The 1000 left are the newest (t + 30 s): still there at t + 61 s. */
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 61 * SEC, 1, false), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 1001);

	/* A limit the configuration did not have is added from the response; a limit that
	 * differs replaces the configured one; REST usage (limit -1) corrects but does not
	 * add. */
	init_binance(&lim);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_RAW_REQUESTS, 300000, 61000, 10);
	add_count(&r, TL_VENUE_LIMIT_ORDERS, 10000, 100, 5);
	add_count(&r, TL_VENUE_LIMIT_ORDERS, 3600000, -1, 5);
	add_count(&r, TL_VENUE_LIMIT_OTHER, 1000, 5, 5);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(lim.n_buckets, 4);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_RAW_REQUESTS, 300000), 10);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 5);
	CHECK_EQ(lim.buckets[1].limit, 100);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 3600000), -ENOENT);
	/* A count without limit, as REST headers give it. */
	memset(&r, 0, sizeof(r));
	r.status = 200;
	CHECK_EQ(tl_venue_response_rest_header(&r, "x-mbx-used-weight-1m", 20, "777", 3), 1);
	CHECK_EQ(tl_venue_response_rest_header(&r, "x-mbx-order-count-10s", 21, "9", 1), 1);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 777);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 9);
	CHECK_EQ(lim.buckets[0].limit, 6000);

	/* A count beyond the limit: nothing goes until enough comes back. */
	init_binance(&lim);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 6050);
	tl_venue_limiter_on_response(&lim, t, &r);
	{
		int64_t w = tl_venue_limiter_try(&lim, t, 1, false);
		CHECK(w >= MIN && w <= MIN + lim.buckets[0].slot_ns + SLACK);
	}
	/* Out of range counts are clamped, not wrapped, with requests in flight on top. */
	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 7, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 9, false), 0);
	r.limits[0].count = INT64_MAX;
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000) > 6000);
	CHECK(tl_venue_limiter_try(&lim, t + MIN + MIN / 10, 6000, false) == 0);
}

/* The same corrections, from a real response through the parser. */
static void test_correction_parsed(void)
{
	static const char ack[] =
	    "{\"id\":7,\"status\":200,\"result\":{\"symbol\":\"BTCUSDT\",\"orderId\":1,"
	    "\"orderListId\":-1,\"clientOrderId\":\"a\",\"transactTime\":1},\"rateLimits\":[{"
	    "\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\",\"intervalNum\":10,\"limit\":"
	    "50,\"count\":12},{\"rateLimitType\":\"ORDERS\",\"interval\":\"DAY\",\"intervalNum\":"
	    "1,\"limit\":160000,\"count\":1012},{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":"
	    "\"MINUTE\",\"intervalNum\":1,\"limit\":6000,\"count\":321}]}";
	struct tl_venue_parse_config cfg;
	struct tl_venue_limiter lim;
	struct tl_venue_msg m;

	tl_venue_parse_config_default(&cfg);
	CHECK_EQ(tl_venue_parse(&cfg, ack, strlen(ack), &m), 0);
	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 1, true), 0);
	tl_venue_limiter_on_response(&lim, T0 + MS, &m.response);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 12);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 1012);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 321);
	CHECK_EQ(lim.inflight_n, 0);
	/* More answers than requests: nothing in flight goes negative. */
	tl_venue_limiter_on_response(&lim, T0 + MS, &m.response);
	CHECK_EQ(lim.inflight_n, 0);
}

/* ======================================================================================
 * Back-off.
 * ====================================================================================== */

static void test_backoff(void)
{
	struct tl_venue_limiter lim;
	struct tl_venue_response r;
	int64_t t = T0;

	/* 429 / -1003 with the venue's wait: everything stops for exactly that long. */
	init_binance(&lim);
	r = resp_counts(429, -1003, 1000);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 6012);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 6012);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), SEC);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 400 * MS, 1, true), 600 * MS);
	CHECK(!tl_venue_limiter_banned(&lim, t));
	CHECK_EQ(tl_venue_limiter_counters(&lim)->backoffs, 1);
	/* After the wait the block is over; the bucket (6012 used) still has its say. */
	CHECK(tl_venue_limiter_try(&lim, t + SEC, 1, false) >= MIN - SEC);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 10);
	tl_venue_limiter_on_response(&lim, t + SEC, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + SEC, 1, false), 0);

	/* A code alone (-1003 on a 4xx) and a status alone (429, no code) both back off. */
	init_binance(&lim);
	r = resp_counts(400, -1003, 2000);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 2 * SEC);
	init_binance(&lim);
	r = resp_counts(429, 0, 3000);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 3 * SEC);

	/* -1015 stops orders only: a cancel can still go. */
	init_binance(&lim);
	r = resp_counts(429, -1015, 4000);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 4 * SEC);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 4 * SEC, 1, true), 0);

	/* No wait given: 1 s, then doubling up to the cap; anything else resets it. */
	init_binance(&lim);
	r = resp_counts(429, -1003, 0);
	const int64_t want[] = {1, 2, 4, 8, 16, 32, 60, 60};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		tl_venue_limiter_on_response(&lim, t, &r);
		CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), want[i] * SEC);
		t += want[i] * SEC;
	}
	respond(&lim, t, 200, 0, 0);
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), SEC);
	/* A reject is not a rate limit: it resets the streak too. */
	respond(&lim, t, 400, -2010, 0);
	t += SEC;
	tl_venue_limiter_on_response(&lim, t, &r);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), SEC);

	/* A later, shorter back-off does not cut an earlier, longer one short. */
	init_binance(&lim);
	t = T0;
	respond(&lim, t, 429, -1003, 10000);
	respond(&lim, t + SEC, 429, -1003, 1000);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + SEC, 1, false), 9 * SEC);
}

static void test_ban(void)
{
	struct tl_venue_limiter lim;
	struct tl_venue_limiter_config cfg;
	int64_t t = T0;

	/* 418 with the venue's time: banned, everything waits, then it is over. */
	init_binance(&lim);
	respond(&lim, t, 418, -1003, 3492469);
	CHECK(tl_venue_limiter_banned(&lim, t));
	CHECK(tl_venue_limiter_banned(&lim, t + 3492469 * MS - 1));
	CHECK(!tl_venue_limiter_banned(&lim, t + 3492469 * MS));
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 3492469 * MS);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, true), 3492469 * MS);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->bans, 1);
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 3492469 * MS, 1, true), 0);

	/* 418 with no time: the shortest ban, 2 minutes. */
	init_binance(&lim);
	respond(&lim, t, 418, 0, 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 2 * MIN);
	CHECK(tl_venue_limiter_banned(&lim, t + 2 * MIN - 1));

	/* A 429 after a ban does not make the ban longer, nor report a ban after it. */
	respond(&lim, t + MIN, 429, -1003, 120000);
	CHECK(!tl_venue_limiter_banned(&lim, t + 2 * MIN));
	CHECK_EQ(tl_venue_limiter_try(&lim, t + 2 * MIN, 1, false), MIN);

	/* The venue's wait is capped at wait_max_ns (4 days by default). */
	init_binance(&lim);
	respond(&lim, t, 418, -1003, 10ll * 86400000);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 4 * DAY);

	/* Configured values. */
	tl_venue_limiter_config_default(&cfg);
	cfg.ban_ns = 7 * SEC;
	cfg.backoff_ns = 100 * MS;
	cfg.backoff_max_ns = 250 * MS;
	cfg.wait_max_ns = 5 * SEC;
	CHECK_EQ(tl_venue_limiter_init(&lim, &cfg, NULL, 0), 0);
	respond(&lim, t, 418, 0, 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 7 * SEC);
	t += 7 * SEC;
	respond(&lim, t, 429, 0, 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 200 * MS); /* the streak goes on */
	t += SEC;
	respond(&lim, t, 429, 0, 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 250 * MS);
	t += SEC;
	respond(&lim, t, 429, 0, 60000);
	CHECK_EQ(tl_venue_limiter_try(&lim, t, 1, false), 5 * SEC);
}

/* The in-flight list: bounded, forgets its oldest, and on_lost takes requests out. */
static void test_inflight(void)
{
	struct tl_venue_limiter lim;
	struct tl_venue_response r;

	CHECK_EQ(tl_venue_limiter_init(&lim, NULL, NULL, 0), 0);
	for (int i = 0; i < TL_VENUE_LIMITER_INFLIGHT + 10; i++)
		CHECK_EQ(tl_venue_limiter_try(&lim, T0, (uint32_t)i, i % 2 == 0), 0);
	CHECK_EQ(lim.inflight_n, TL_VENUE_LIMITER_INFLIGHT);
	tl_venue_limiter_on_lost(&lim, 4);
	CHECK_EQ(lim.inflight_n, TL_VENUE_LIMITER_INFLIGHT - 4);
	tl_venue_limiter_on_lost(&lim, 1000);
	CHECK_EQ(lim.inflight_n, 0);
	CHECK_EQ(tl_venue_limiter_counters(&lim)->lost, TL_VENUE_LIMITER_INFLIGHT);

	/* What is left in flight counts, by type: weights 5 and 7 (an order) remain. */
	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 3, true), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 5, false), 0);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 7, true), 0);
	r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 100);
	add_count(&r, TL_VENUE_LIMIT_ORDERS, 10000, 50, 10);
	tl_venue_limiter_on_response(&lim, T0, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 112);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 11);
	/* The day bucket had no count here: it keeps its own. */
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 2);
}

/* A request sent elsewhere takes its tokens, past the limit if need be, without being in
 * flight; try waits until they come back, a window later. */
static void test_charge(void)
{
	struct tl_venue_limiter lim;
	const int64_t min = 60 * SEC;

	init_binance(&lim);
	CHECK_EQ(tl_venue_limiter_try(&lim, T0, 5990, false), 0);
	tl_venue_limiter_charge(&lim, T0, 20, false);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 6010);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 0);
	CHECK_EQ(lim.inflight_n, 1); /* the try's, not the charge's */
	CHECK_EQ(tl_venue_limiter_counters(&lim)->charged, 1);
	int64_t wait = tl_venue_limiter_try(&lim, T0 + 1000, 1, false);
	CHECK(wait > 0);
	CHECK(wait <= min + min / 63);
	/* A window later everything is back: the charge did not linger in flight. */
	CHECK_EQ(tl_venue_limiter_try(&lim, T0 + 1000 + wait, 1, false), 0);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 1);

	/* An order sent elsewhere takes from the order buckets too. */
	tl_venue_limiter_charge(&lim, T0 + 2 * min, 1, true);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 10000), 1);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_ORDERS, 86400000), 1);

	/* A response's count still wins over the estimate: the answer to the first try says
	 * 42, and the second try (weight 1) is still in flight; the charges were never. */
	CHECK_EQ(lim.inflight_n, 2);
	struct tl_venue_response r = resp_counts(200, 0, 0);
	add_count(&r, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000, 6000, 42);
	tl_venue_limiter_on_response(&lim, T0 + 2 * min, &r);
	CHECK_EQ(tl_venue_limiter_used(&lim, TL_VENUE_LIMIT_REQUEST_WEIGHT, 60000), 43);
	CHECK_EQ(lim.inflight_n, 1);
}

int main(void)
{
	test_init();
	test_refill();
	test_property();
	test_orders();
	test_correction();
	test_correction_parsed();
	test_backoff();
	test_ban();
	test_inflight();
	test_charge();
	printf("test_venue_limiter: ok\n");
	return 0;
}
