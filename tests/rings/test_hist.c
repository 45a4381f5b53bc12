/* Tests of the log-linear histogram: bucket bounds, quantile error, merge, window, summary. */
#include "tl_hist.h"
#include "tl_test.h"

#include <math.h>

static tl_hist_t h, h2, merged, window;

static void test_buckets(void)
{
	uint32_t prev = 0;

	/* Exact below 128. */
	for (uint64_t v = 0; v < 128; v++) {
		CHECK_EQ(tl_hist_bucket(v), v);
		CHECK_EQ(tl_hist_bucket_low((uint32_t)v), v);
	}
	/* Monotone, each value at or above its bucket's low bound and below the next. */
	for (uint64_t v = 1; v < (1u << 22); v += 1 + v / 97) {
		uint32_t b = tl_hist_bucket(v);
		CHECK(b >= prev);
		CHECK(tl_hist_bucket_low(b) <= v);
		CHECK(v < tl_hist_bucket_low(b + 1));
		/* Width at most 1/64 of the low bound: the 1% class of error. */
		CHECK((tl_hist_bucket_low(b + 1) - tl_hist_bucket_low(b)) * 64 <=
		      (tl_hist_bucket_low(b) < 128 ? 64 : tl_hist_bucket_low(b)));
		prev = b;
	}
	CHECK(tl_hist_bucket(UINT64_MAX) < TL_HIST_BUCKETS);
	CHECK_EQ(tl_hist_bucket(UINT64_MAX), TL_HIST_BUCKETS - 1);
}

static double rel_err(uint64_t got, double want)
{
	return fabs((double)got - want) / want;
}

static void test_quantiles(void)
{
	tl_hist_summary_t s;

	tl_hist_reset(&h);
	CHECK_EQ(tl_hist_quantile(&h, 0.5), 0);
	tl_hist_summary(&h, &s);
	CHECK_EQ(s.count, 0);

	/* 1..1,000,000 uniformly: the q-quantile is q * 10^6. */
	for (uint64_t v = 1; v <= 1000000; v++)
		tl_hist_record(&h, v);
	tl_hist_summary(&h, &s);
	CHECK_EQ(s.count, 1000000);
	CHECK_EQ(s.min, 1);
	CHECK_EQ(s.max, 1000000);
	CHECK_EQ(s.mean, 500000);
	CHECK(rel_err(s.p50, 500000) < 0.01);
	CHECK(rel_err(s.p90, 900000) < 0.01);
	CHECK(rel_err(s.p99, 990000) < 0.01);
	CHECK(rel_err(s.p999, 999000) < 0.01);
	CHECK_EQ(tl_hist_quantile(&h, 1.0), 1000000);

	/* Small values are exact. */
	tl_hist_reset(&h);
	for (int i = 0; i < 90; i++)
		tl_hist_record(&h, 10);
	for (int i = 0; i < 10; i++)
		tl_hist_record(&h, 100);
	CHECK_EQ(tl_hist_quantile(&h, 0.5), 10);
	CHECK_EQ(tl_hist_quantile(&h, 0.9), 10);
	CHECK_EQ(tl_hist_quantile(&h, 0.91), 100);
	CHECK_EQ(tl_hist_quantile(&h, 1.0), 100);

	/* One huge outlier: max exact, p50 unaffected. */
	tl_hist_record(&h, 5000000000ull);
	CHECK_EQ(tl_hist_quantile(&h, 1.0), 5000000000ull);
	CHECK_EQ(tl_hist_quantile(&h, 0.5), 10);
}

static void test_merge(void)
{
	tl_hist_summary_t s;

	tl_hist_reset(&h);
	tl_hist_reset(&h2);
	tl_hist_reset(&merged);
	for (uint64_t v = 1; v <= 1000; v++)
		tl_hist_record(&h, v);
	for (uint64_t v = 1001; v <= 2000; v++)
		tl_hist_record(&h2, v);
	tl_hist_merge(&merged, &h);
	tl_hist_merge(&merged, &h2);
	tl_hist_summary(&merged, &s);
	CHECK_EQ(s.count, 2000);
	CHECK_EQ(s.min, 1);
	CHECK_EQ(s.max, 2000);
	CHECK(rel_err(s.p50, 1000) < 0.01);
	CHECK(rel_err(s.p99, 1980) < 0.01);
}

/* A window of a histogram that keeps recording: what came after a copy, alone. */
static void test_diff(void)
{
	tl_hist_summary_t s;

	tl_hist_reset(&h);
	tl_hist_reset(&h2);
	for (uint64_t v = 1; v <= 1000; v++)
		tl_hist_record(&h, 10000000 + v); /* before the window: around 10 ms */
	tl_hist_merge(&h2, &h);                   /* the copy */
	for (uint64_t v = 1; v <= 1000; v++)
		tl_hist_record(&h, v * 1000); /* the window: 1 us .. 1 ms */
	CHECK_EQ(tl_hist_diff(&window, &h, &h2), 0);
	tl_hist_summary(&window, &s);
	CHECK_EQ(s.count, 1000);
	CHECK(rel_err(s.mean, 500500) < 0.001);
	CHECK(rel_err(s.p50, 500000) < 0.01);
	CHECK(rel_err(s.p99, 990000) < 0.01);
	CHECK(rel_err(s.min, 1000) < 0.016);
	CHECK(rel_err(s.max, 1000000) < 0.016);
	CHECK(s.max < 1100000); /* nothing from before the window, all near 10 ms */

	/* Nothing recorded since: an empty window. */
	tl_hist_reset(&h2);
	tl_hist_merge(&h2, &h);
	CHECK_EQ(tl_hist_diff(&window, &h, &h2), 0);
	tl_hist_summary(&window, &s);
	CHECK_EQ(s.count, 0);
	CHECK_EQ(s.p99, 0);

	/* The copy is not an earlier state of `later`: refused, and the result empty. */
	tl_hist_record(&h2, 5);
	CHECK_EQ(tl_hist_diff(&window, &h, &h2), -1);
	tl_hist_summary(&window, &s);
	CHECK_EQ(s.count, 0);
}

int main(void)
{
	test_buckets();
	test_quantiles();
	test_merge();
	test_diff();
	printf("hist: ok\n");
	return 0;
}
