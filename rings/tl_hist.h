/*
 * tl_hist.h: a log-linear latency histogram.
 *
 * Values (nanoseconds, or any unsigned count) fall into buckets that are exact below 128
 * and, above that, split each power of two into 64 equal parts. A bucket's width is at
 * most 1/64 of its lower bound, and a quantile is reported at the bucket's midpoint, so
 * the relative error of any reported quantile is under 0.8%. The whole uint64_t range is
 * covered: 3776 buckets, about 30 KiB, embedded in the struct.
 *
 * Recording allocates nothing, takes no lock and makes no syscall. Histograms merge by
 * adding counts, so per-thread histograms combine into one report.
 *
 * Threads: a histogram has one writer (the thread that records). Any other thread may read
 * it at the same time (tl_hist_merge, tl_hist_quantile, tl_hist_summary): every field is a
 * relaxed atomic, so a reader sees each counter whole, though a record in flight may be
 * half-counted (its bucket without its total). Metrics tolerate that; benchmarks read
 * after joining the writer.
 */
#ifndef TL_HIST_H
#define TL_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define TL_HIST_SUB_BITS 7u
#define TL_HIST_BUCKETS 3776u /* 64 * 57 + 128: covers values up to UINT64_MAX */

typedef struct tl_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t sum;
	_Atomic uint64_t min;
	_Atomic uint64_t max;
	_Atomic uint64_t buckets[TL_HIST_BUCKETS];
} tl_hist_t;

typedef struct tl_hist_summary {
	uint64_t count;
	uint64_t min;
	uint64_t mean;
	uint64_t p50;
	uint64_t p90;
	uint64_t p99;
	uint64_t p999;
	uint64_t max;
} tl_hist_summary_t;

/* Empties `h`; a histogram must be reset once before its first use (a zeroed one has no
 * valid min). Thread: the writer, or any thread before the writer starts. Blocks: no. */
void tl_hist_reset(tl_hist_t *h);

/* Records one value. Thread: the writer only. Blocks: no. Allocates: no. */
static inline void tl_hist_record(tl_hist_t *h, uint64_t value);

/* Adds every count of `from` into `into`. Thread: `into`'s writer. Blocks: no. */
void tl_hist_merge(tl_hist_t *into, const tl_hist_t *from);

/*
 * Stores in `out` what `later` recorded since `earlier`, a copy of the same histogram taken
 * before (tl_hist_reset, then tl_hist_merge): a window of a histogram that is never reset,
 * such as another thread's. Counts and sum are the differences. Min and max cannot be
 * recovered, so they are the bounds of the lowest and highest bucket the window touched
 * (within the histogram's 0.8%). If `earlier` is not an earlier copy of `later` (a count
 * would go below zero), `out` is left empty and -1 returned; otherwise 0.
 * Thread: `out`'s owner; `later` may be recording meanwhile (a record in flight may be
 * half-counted, as for any reader). Blocks: no.
 */
int tl_hist_diff(tl_hist_t *out, const tl_hist_t *later, const tl_hist_t *earlier);

/*
 * The value at quantile q (0 < q <= 1), as its bucket's midpoint clamped to the recorded
 * min and max; q = 1 returns the exact max. Returns 0 for an empty histogram.
 * Thread: any. Blocks: no.
 */
uint64_t tl_hist_quantile(const tl_hist_t *h, double q);

/* Count, min, mean, p50, p90, p99, p99.9 and max in one pass. Thread: any. Blocks: no. */
void tl_hist_summary(const tl_hist_t *h, tl_hist_summary_t *out);

/* The bucket a value falls into, and the lowest value of a bucket. Exposed for tests. */
static inline uint32_t tl_hist_bucket(uint64_t value)
{
	unsigned msb, shift;

	if (value < (1u << TL_HIST_SUB_BITS))
		return (uint32_t)value;
	msb = 63u - (unsigned)__builtin_clzll(value);
	shift = msb - (TL_HIST_SUB_BITS - 1); /* keeps 7 significant bits: 64..127 */
	return (uint32_t)(64u * shift + (value >> shift));
}

uint64_t tl_hist_bucket_low(uint32_t bucket);

static inline void tl_hist_add_relaxed(_Atomic uint64_t *c, uint64_t v)
{
	/* Single writer: a load and a store, not a locked RMW. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static inline void tl_hist_record(tl_hist_t *h, uint64_t value)
{
	tl_hist_add_relaxed(&h->buckets[tl_hist_bucket(value)], 1);
	tl_hist_add_relaxed(&h->count, 1);
	tl_hist_add_relaxed(&h->sum, value);
	if (value > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, value, memory_order_relaxed);
	if (value < atomic_load_explicit(&h->min, memory_order_relaxed))
		atomic_store_explicit(&h->min, value, memory_order_relaxed);
}

#endif /* TL_HIST_H */
