/* hist.c: reading and merging log-linear histograms (recording is inline in tl_hist.h). */
#include "tl_hist.h"

#include <math.h>

void tl_hist_reset(tl_hist_t *h)
{
	for (uint32_t i = 0; i < TL_HIST_BUCKETS; i++)
		atomic_store_explicit(&h->buckets[i], 0, memory_order_relaxed);
	atomic_store_explicit(&h->count, 0, memory_order_relaxed);
	atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
	atomic_store_explicit(&h->max, 0, memory_order_relaxed);
	atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
}

uint64_t tl_hist_bucket_low(uint32_t bucket)
{
	uint32_t shift;

	if (bucket < (1u << TL_HIST_SUB_BITS))
		return bucket;
	shift = bucket / 64u - 1u;
	return (uint64_t)(bucket - 64u * shift) << shift;
}

static uint64_t bucket_width(uint32_t bucket)
{
	return bucket < (1u << TL_HIST_SUB_BITS) ? 1 : (uint64_t)1 << (bucket / 64u - 1u);
}

static uint64_t bucket_mid(uint32_t bucket)
{
	return tl_hist_bucket_low(bucket) + (bucket_width(bucket) - 1) / 2;
}

static uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void tl_hist_merge(tl_hist_t *into, const tl_hist_t *from)
{
	for (uint32_t i = 0; i < TL_HIST_BUCKETS; i++) {
		uint64_t n = load(&from->buckets[i]);
		if (n != 0)
			tl_hist_add_relaxed(&into->buckets[i], n);
	}
	tl_hist_add_relaxed(&into->count, load(&from->count));
	tl_hist_add_relaxed(&into->sum, load(&from->sum));
	if (load(&from->max) > load(&into->max))
		atomic_store_explicit(&into->max, load(&from->max), memory_order_relaxed);
	if (load(&from->min) < load(&into->min))
		atomic_store_explicit(&into->min, load(&from->min), memory_order_relaxed);
}

int tl_hist_diff(tl_hist_t *out, const tl_hist_t *later, const tl_hist_t *earlier)
{
	uint32_t lowest = TL_HIST_BUCKETS, highest = 0;
	uint64_t total = 0;

	tl_hist_reset(out);
	for (uint32_t i = 0; i < TL_HIST_BUCKETS; i++) {
		uint64_t now = load(&later->buckets[i]), then = load(&earlier->buckets[i]);
		if (now < then) {
			tl_hist_reset(out);
			return -1;
		}
		if (now == then)
			continue;
		atomic_store_explicit(&out->buckets[i], now - then, memory_order_relaxed);
		total += now - then;
		if (lowest == TL_HIST_BUCKETS)
			lowest = i;
		highest = i;
	}
	if (total == 0)
		return 0;
	/* The window's own count, from its buckets: `later`'s count may lag a record in
	 * flight, and the quantiles read buckets anyway. */
	atomic_store_explicit(&out->count, total, memory_order_relaxed);
	uint64_t sum_now = load(&later->sum), sum_then = load(&earlier->sum);
	atomic_store_explicit(&out->sum, sum_now > sum_then ? sum_now - sum_then : 0,
	                      memory_order_relaxed);
	atomic_store_explicit(&out->min, tl_hist_bucket_low(lowest), memory_order_relaxed);
	atomic_store_explicit(&out->max, tl_hist_bucket_low(highest) + bucket_width(highest) - 1,
	                      memory_order_relaxed);
	return 0;
}

/* Rank (1-based) of quantile q among n values: the smallest r with r >= q * n. */
static uint64_t rank_of(double q, uint64_t n)
{
	double r = ceil(q * (double)n);

	if (r < 1)
		return 1;
	if (r > (double)n)
		return n;
	return (uint64_t)r;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Fills vals[i] with the value at qs[i]; qs must be ascending. */
static void quantiles(const tl_hist_t *h, const double *qs, uint64_t *vals, int nq)
{
	uint64_t n = 0, seen = 0, lo = load(&h->min), hi = load(&h->max);
	int k = 0;

	for (uint32_t i = 0; i < TL_HIST_BUCKETS; i++)
		n += load(&h->buckets[i]);
	for (int j = 0; j < nq; j++)
		vals[j] = 0;
	if (n == 0)
		return;
	for (uint32_t i = 0; i < TL_HIST_BUCKETS && k < nq; i++) {
		seen += load(&h->buckets[i]);
		while (k < nq && seen >= rank_of(qs[k], n)) {
			vals[k] = qs[k] >= 1.0 ? hi : clamp(bucket_mid(i), lo, hi);
			k++;
		}
	}
}

uint64_t tl_hist_quantile(const tl_hist_t *h, double q)
{
	uint64_t v;

	quantiles(h, &q, &v, 1);
	return v;
}

void tl_hist_summary(const tl_hist_t *h, tl_hist_summary_t *out)
{
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	uint64_t v[4];

	quantiles(h, qs, v, 4);
	out->count = load(&h->count);
	out->min = out->count ? load(&h->min) : 0;
	out->max = load(&h->max);
	out->mean = out->count ? load(&h->sum) / out->count : 0;
	out->p50 = v[0];
	out->p90 = v[1];
	out->p99 = v[2];
	out->p999 = v[3];
}
