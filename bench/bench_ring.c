/*
 * bench_ring.c: `tally bench ring`: the SPSC ring against Concurrency Kit's ck_ring, and
 * its ping-pong round trip against the floor of two bare atomics. All in one run, threads
 * pinned to two CPUs, each figure the median of --reps repetitions.
 */
#include "tl_bench.h"
#include "bench_internal.h"

#include "tl_event.h"
#include "tl_hist.h"
#include "tl_ring.h"

#include <ck_ring.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 256u

struct ring_opts {
	int reps;
	uint64_t msgs;     /* per throughput repetition */
	uint64_t rtts;     /* round trips per latency repetition */
	uint32_t capacity; /* slots per ring */
	bool json;
};

/* One throughput case: both sides see the same context. `bad` counts sequence errors,
 * so a broken ring can never post a good figure. */
struct tput {
	tl_ring_t *ring;
	ck_ring_t *ck;
	ck_ring_buffer_t *ck_buf;
	uint64_t msgs;
	uint64_t bad;
};

static void ours8_producer(void *p)
{
	struct tput *t = p;

	for (uint64_t i = 1; i <= t->msgs; i++)
		while (!tl_ring_try_push(t->ring, &i))
			tl_cpu_relax();
}

static void ours8_consumer(void *p)
{
	struct tput *t = p;
	uint64_t v, bad = 0;

	for (uint64_t i = 1; i <= t->msgs; i++) {
		while (!tl_ring_try_pop(t->ring, &v))
			tl_cpu_relax();
		bad += v != i;
	}
	t->bad = bad;
}

static void ck_producer(void *p)
{
	struct tput *t = p;

	for (uint64_t i = 1; i <= t->msgs; i++)
		while (!ck_ring_enqueue_spsc(t->ck, t->ck_buf, (void *)(uintptr_t)i))
			tl_cpu_relax();
}

static void ck_consumer(void *p)
{
	struct tput *t = p;
	uint64_t bad = 0;
	void *v;

	for (uint64_t i = 1; i <= t->msgs; i++) {
		while (!ck_ring_dequeue_spsc(t->ck, t->ck_buf, &v))
			tl_cpu_relax();
		bad += (uintptr_t)v != i;
	}
	t->bad = bad;
}

static void batch_producer(void *p)
{
	struct tput *t = p;
	uint64_t next = 1;

	while (next <= t->msgs) {
		uint64_t left = t->msgs - next + 1;
		uint32_t n =
		    tl_ring_reserve(t->ring, left < BATCH_MAX ? (uint32_t)left : BATCH_MAX);
		if (n == 0) {
			tl_cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			*(uint64_t *)tl_ring_reserved_slot(t->ring, i) = next + i;
		tl_ring_commit(t->ring, n);
		next += n;
	}
}

static void batch_consumer(void *p)
{
	struct tput *t = p;
	uint64_t next = 1, bad = 0;

	while (next <= t->msgs) {
		uint32_t n = tl_ring_peek(t->ring, BATCH_MAX);
		if (n == 0) {
			tl_cpu_relax();
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			bad += *(const uint64_t *)tl_ring_peeked_slot(t->ring, i) != next + i;
		tl_ring_release(t->ring, n);
		next += n;
	}
	t->bad = bad;
}

static void ev_producer(void *p)
{
	struct tput *t = p;
	tl_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = TL_EV_SEQ;
	for (uint64_t i = 1; i <= t->msgs; i++) {
		ev.payload.seq.seq = i;
		while (!tl_ring_try_push(t->ring, &ev))
			tl_cpu_relax();
	}
}

static void ev_consumer(void *p)
{
	struct tput *t = p;
	tl_event_t ev;
	uint64_t bad = 0;

	for (uint64_t i = 1; i <= t->msgs; i++) {
		while (!tl_ring_try_pop(t->ring, &ev))
			tl_cpu_relax();
		bad += ev.payload.seq.seq != i;
	}
	t->bad = bad;
}

/* Ping-pong: side A sends seq i and waits for it back; side B echoes. A records each RTT. */
struct pingpong {
	tl_ring_t *to_b, *to_a;
	alignas(TL_CACHE_PAIR) _Atomic uint64_t ping;
	alignas(TL_CACHE_PAIR) _Atomic uint64_t pong;
	alignas(TL_CACHE_PAIR) uint64_t rtts;
	uint64_t warmup;
	uint64_t bad;
	tl_hist_t *hist;
};

static void ring_ping(void *p)
{
	struct pingpong *pp = p;
	uint64_t back;

	for (uint64_t i = 1; i <= pp->warmup + pp->rtts; i++) {
		int64_t t0 = tl_mono_ns();
		while (!tl_ring_try_push(pp->to_b, &i))
			tl_cpu_relax();
		while (!tl_ring_try_pop(pp->to_a, &back))
			tl_cpu_relax();
		int64_t t1 = tl_mono_ns();
		pp->bad += back != i;
		if (i > pp->warmup)
			tl_hist_record(pp->hist, (uint64_t)(t1 - t0));
	}
}

static void ring_pong(void *p)
{
	struct pingpong *pp = p;
	uint64_t v;

	for (uint64_t i = 1; i <= pp->warmup + pp->rtts; i++) {
		while (!tl_ring_try_pop(pp->to_b, &v))
			tl_cpu_relax();
		while (!tl_ring_try_push(pp->to_a, &v))
			tl_cpu_relax();
	}
}

static void atomic_ping(void *p)
{
	struct pingpong *pp = p;

	for (uint64_t i = 1; i <= pp->warmup + pp->rtts; i++) {
		int64_t t0 = tl_mono_ns();
		/* Pairs with the acquire load in atomic_pong. */
		atomic_store_explicit(&pp->ping, i, memory_order_release);
		while (atomic_load_explicit(&pp->pong, memory_order_acquire) != i)
			tl_cpu_relax();
		int64_t t1 = tl_mono_ns();
		if (i > pp->warmup)
			tl_hist_record(pp->hist, (uint64_t)(t1 - t0));
	}
}

static void atomic_pong(void *p)
{
	struct pingpong *pp = p;

	for (uint64_t i = 1; i <= pp->warmup + pp->rtts; i++) {
		while (atomic_load_explicit(&pp->ping, memory_order_acquire) != i)
			tl_cpu_relax();
		/* Pairs with the acquire load in atomic_ping. */
		atomic_store_explicit(&pp->pong, i, memory_order_release);
	}
}

enum { CASE_OURS8, CASE_CK, CASE_BATCH, CASE_EV64, CASE_COUNT };

static const char *const case_names[CASE_COUNT] = {
    "ours, 8 B, one at a time",
    "ck_ring spsc, 8 B, one at a time",
    "ours, 8 B, batched (up to 256)",
    "ours, 64 B events, one at a time",
};

/* One throughput repetition of case `c`: returns msgs/s, or a negative errno. */
static double run_tput(int c, const struct ring_opts *o, int cpu_a, int cpu_b)
{
	static void (*const prod[CASE_COUNT])(void *) = {ours8_producer, ck_producer,
	                                                 batch_producer, ev_producer};
	static void (*const cons[CASE_COUNT])(void *) = {ours8_consumer, ck_consumer,
	                                                 batch_consumer, ev_consumer};
	struct tput t;
	int64_t ns;
	int rc;

	memset(&t, 0, sizeof(t));
	t.msgs = o->msgs;
	if (c == CASE_CK) {
		/* Its own 128-byte-aligned block, as our ring gets; aligned_alloc wants a size that
		 * is a multiple of the alignment. */
		t.ck = aligned_alloc(TL_CACHE_PAIR, (sizeof(*t.ck) + TL_CACHE_PAIR - 1) &
		                                        ~(size_t)(TL_CACHE_PAIR - 1));
		t.ck_buf = calloc(o->capacity, sizeof(*t.ck_buf));
		if (t.ck == NULL || t.ck_buf == NULL) {
			free(t.ck);
			free(t.ck_buf);
			return -ENOMEM;
		}
		ck_ring_init(t.ck, o->capacity);
	} else {
		rc = tl_ring_create(&t.ring, o->capacity, c == CASE_EV64 ? sizeof(tl_event_t) : 8);
		if (rc < 0)
			return rc;
	}
	ns = tl_bench_run_pair(prod[c], cons[c], &t, cpu_a, cpu_b);
	tl_ring_destroy(t.ring);
	free(t.ck);
	free(t.ck_buf);
	if (ns < 0)
		return (double)ns;
	if (t.bad != 0) {
		fprintf(stderr,
		        "tally bench ring: %s delivered %" PRIu64 " messages out of order\n",
		        case_names[c], t.bad);
		return -EPROTO;
	}
	return (double)o->msgs / ((double)ns / 1e9);
}

/* One latency repetition: fills `hist`; ring or bare atomics. Returns 0 or -errno. */
static int run_rtt(bool rings, const struct ring_opts *o, int cpu_a, int cpu_b, tl_hist_t *hist)
{
	struct pingpong *pp = aligned_alloc(TL_CACHE_PAIR, sizeof(*pp));
	int rc = 0;

	if (pp == NULL)
		return -ENOMEM;
	memset(pp, 0, sizeof(*pp));
	pp->rtts = o->rtts;
	pp->warmup = o->rtts / 10 + 1000;
	pp->hist = hist;
	tl_hist_reset(hist);
	if (rings) {
		rc = tl_ring_create(&pp->to_b, o->capacity, 8);
		if (rc == 0)
			rc = tl_ring_create(&pp->to_a, o->capacity, 8);
	}
	if (rc == 0) {
		int64_t ns = rings ? tl_bench_run_pair(ring_ping, ring_pong, pp, cpu_a, cpu_b)
		                   : tl_bench_run_pair(atomic_ping, atomic_pong, pp, cpu_a, cpu_b);
		if (ns < 0)
			rc = (int)ns;
		else if (pp->bad != 0)
			rc = -EPROTO;
	}
	tl_ring_destroy(pp->to_b);
	tl_ring_destroy(pp->to_a);
	free(pp);
	return rc;
}

static void ring_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally bench ring [--json] [--reps N] [--msgs N] [--rtts N] [--capacity N]\n"
	    "\n"
	    "Measures the SPSC ring between two pinned threads, in one run:\n"
	    "  (a) ours, 8-byte messages, one at a time (try_push / try_pop)\n"
	    "  (b) Concurrency Kit's ck_ring_enqueue_spsc / ck_ring_dequeue_spsc, same work\n"
	    "  (c) ours, 8-byte messages, batched (reserve+commit / peek+release, up to %u)\n"
	    "  (d) ours, 64-byte events, one at a time\n"
	    "  (e) round trip of a ping-pong through two rings, against two bare atomics\n"
	    "Each figure is the median of N repetitions. Progress goes to stderr.\n"
	    "\n"
	    "Options:\n"
	    "  --json          print one JSON object instead of a table: ours_msgs_per_s,\n"
	    "                  ck_ring_msgs_per_s, ours_batched_msgs_per_s, ours_64b_msgs_per_s,\n"
	    "                  rtt_p50_ns, rtt_p99_ns, atomic_rtt_p50_ns (and a few more)\n"
	    "  --reps N        repetitions per figure (default 5)\n"
	    "  --msgs N        messages per throughput repetition (default 20000000)\n"
	    "  --rtts N        round trips per latency repetition (default 200000)\n"
	    "  --capacity N    slots per ring, a power of two (default 65536)\n"
	    "  -h, --help      show this help\n"
	    "\n"
	    "Exit status: 0 on success, 1 if a run failed, 2 on a usage error.\n",
	    BATCH_MAX);
}

static int parse_ring_opts(int argc, char **argv, struct ring_opts *o)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"reps", required_argument, NULL, 'r'},
	    {"msgs", required_argument, NULL, 'm'},
	    {"rtts", required_argument, NULL, 't'},
	    {"capacity", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int opt;

	o->reps = 5;
	o->msgs = 20000000;
	o->rtts = 200000;
	o->capacity = 65536;
	o->json = false;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o->json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, 1000, &v) < 0)
				return tl_bench_bad_value("ring", "reps", "1..1000");
			o->reps = (int)v;
			break;
		case 'm':
			if (tl_bench_parse_u64(optarg, 1000, UINT64_C(1) << 40, &v) < 0)
				return tl_bench_bad_value("ring", "msgs", "1000..2^40");
			o->msgs = v;
			break;
		case 't':
			if (tl_bench_parse_u64(optarg, 100, UINT64_C(1) << 32, &v) < 0)
				return tl_bench_bad_value("ring", "rtts", "100..2^32");
			o->rtts = v;
			break;
		case 'c':
			if (tl_bench_parse_u64(optarg, 2, TL_RING_CAPACITY_MAX, &v) < 0 ||
			    (v & (v - 1)) != 0)
				return tl_bench_bad_value("ring", "capacity",
				                          "a power of two, 2..2^30");
			o->capacity = (uint32_t)v;
			break;
		case 'h':
			ring_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "Try 'tally bench ring --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally bench ring: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int tl_bench_ring(int argc, char **argv)
{
	struct ring_opts o;
	double tput[CASE_COUNT][1000];
	double rtt50[1000], rtt99[1000], art50[1000], art99[1000];
	double med[CASE_COUNT];
	tl_hist_t *hist;
	int cpu_a, cpu_b, rc;

	rc = parse_ring_opts(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (tl_bench_pick_cpus(&cpu_a, &cpu_b) < 2)
		fprintf(stderr,
		        "tally bench ring: only one CPU allowed; threads are not pinned and "
		        "the figures mean little\n");
	hist = malloc(sizeof(*hist));
	if (hist == NULL)
		return 1;

	fprintf(stderr,
	        "tally bench ring: %d reps, %" PRIu64 " msgs/rep, %" PRIu64
	        " round trips/rep, capacity %u, cpus %d,%d\n",
	        o.reps, o.msgs, o.rtts, o.capacity, cpu_a, cpu_b);
	/* Interleave the cases inside each repetition, so a noisy neighbour hits all alike. */
	for (int r = 0; r < o.reps; r++) {
		for (int c = 0; c < CASE_COUNT; c++) {
			double v = run_tput(c, &o, cpu_a, cpu_b);
			if (v < 0) {
				fprintf(stderr, "tally bench ring: %s failed: %s\n", case_names[c],
				        strerror((int)-v));
				free(hist);
				return 1;
			}
			tput[c][r] = v;
		}
		for (int k = 0; k < 2; k++) {
			rc = run_rtt(k == 0, &o, cpu_a, cpu_b, hist);
			if (rc < 0) {
				fprintf(stderr, "tally bench ring: round trip failed: %s\n",
				        strerror(-rc));
				free(hist);
				return 1;
			}
			(k == 0 ? rtt50 : art50)[r] = (double)tl_hist_quantile(hist, 0.50);
			(k == 0 ? rtt99 : art99)[r] = (double)tl_hist_quantile(hist, 0.99);
		}
		fprintf(stderr,
		        "  rep %d/%d: ours %.0fM ck %.0fM batched %.0fM 64B %.0fM msgs/s, "
		        "rtt p50 %.0f ns (atomics %.0f ns)\n",
		        r + 1, o.reps, tput[CASE_OURS8][r] / 1e6, tput[CASE_CK][r] / 1e6,
		        tput[CASE_BATCH][r] / 1e6, tput[CASE_EV64][r] / 1e6, rtt50[r], art50[r]);
	}
	free(hist);
	for (int c = 0; c < CASE_COUNT; c++)
		med[c] = tl_bench_median(tput[c], o.reps);
	double m_rtt50 = tl_bench_median(rtt50, o.reps), m_rtt99 = tl_bench_median(rtt99, o.reps);
	double m_art50 = tl_bench_median(art50, o.reps), m_art99 = tl_bench_median(art99, o.reps);
	double vs_ck = med[CASE_OURS8] / med[CASE_CK], rtt_ratio = m_rtt50 / m_art50;

	if (o.json) {
		printf("{\"ours_msgs_per_s\":%.0f,\"ck_ring_msgs_per_s\":%.0f,"
		       "\"ours_batched_msgs_per_s\":%.0f,\"ours_64b_msgs_per_s\":%.0f,"
		       "\"rtt_p50_ns\":%.0f,\"rtt_p99_ns\":%.0f,\"atomic_rtt_p50_ns\":%.0f,"
		       "\"atomic_rtt_p99_ns\":%.0f,\"ours_vs_ck_ratio\":%.3f,"
		       "\"rtt_vs_atomic_ratio\":%.3f,\"reps\":%d,\"msgs_per_rep\":%" PRIu64
		       ",\"rtts_per_rep\":%" PRIu64 ",\"capacity\":%u,\"pinned\":%s}\n",
		       med[CASE_OURS8], med[CASE_CK], med[CASE_BATCH], med[CASE_EV64], m_rtt50,
		       m_rtt99, m_art50, m_art99, vs_ck, rtt_ratio, o.reps, o.msgs, o.rtts,
		       o.capacity, cpu_a >= 0 ? "true" : "false");
		return 0;
	}
	printf("tally bench ring: median of %d reps, threads pinned to cpus %d and %d\n\n", o.reps,
	       cpu_a, cpu_b);
	printf("%-36s %16s %10s\n", "throughput", "msgs/s", "vs ck_ring");
	for (int c = 0; c < CASE_COUNT; c++)
		printf("%-36s %16.0f %9.2fx\n", case_names[c], med[c], med[c] / med[CASE_CK]);
	printf("\n%-36s %10s %10s\n", "round trip (ping-pong)", "p50 ns", "p99 ns");
	printf("%-36s %10.0f %10.0f\n", "ours, two rings", m_rtt50, m_rtt99);
	printf("%-36s %10.0f %10.0f\n", "floor, two bare atomics", m_art50, m_art99);
	printf("\ntargets: one at a time >= 2x ck_ring (%.2fx), batched >= 500M msgs/s (%.0fM), "
	       "rtt p50 <= 1.3x atomics (%.2fx)\n",
	       vs_ck, med[CASE_BATCH] / 1e6, rtt_ratio);
	return 0;
}
