/*
 * bench_book.c: `tally bench book`: replay throughput of the md path over the real
 * BTCUSDT capture, with the data in memory: parse each depth event and apply it through
 * the depth sync to the L2 book, on one core. The jsmn-based parser runs the same loop in
 * the same run, as the alternative the hand-written scanner was chosen over.
 *
 * --gap-us adds a spaced pass: the first events again, with the thread waiting between
 * them as the md thread waits between live frames (every 20 ms in `tally bench t2t`).
 * Same code, same data, same core; only the time between events changes. Its ratio to a
 * back-to-back pass over the same events, in the same rep, is what idle time alone costs
 * the md path on this machine (caches, TLB and predictors lost to whatever else ran).
 * The spaced pass runs a second time with the sync's top_first, as the engine's md stage
 * runs it: each event is parsed top first (tl_md_parse_top, under the sync's floors), the
 * clock stops once the event's new top is in the book, and the levels held back are
 * converted and settled outside it, before the next wait.
 */
#include "bench_internal.h"
#include "tl_bench.h"
#include "tl_event.h"
#include "tl_hist.h"
#include "tl_md.h"
#include "tl_ring.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TALLY_SHARED_DATA
#define TALLY_SHARED_DATA "../shared/data"
#endif

#define REPS_MAX 50
#define GAP_EVENTS_DEFAULT 300

/* The capture's depth events and snapshots, copied out of the files once. */
struct corpus {
	char *text;
	size_t text_len;
	size_t *offsets; /* message i is text[offsets[i] .. offsets[i + 1]) */
	bool *is_depth;
	size_t n;
	uint64_t depth_bytes;
};

struct book_opts {
	bool json;
	int reps;
	const char *data;
	uint64_t gap_us;     /* 0: no spaced pass */
	uint64_t gap_events; /* depth events in the spaced pass and its baseline */
	tl_idle_kind_t gap_idle;
};

/* How a pass spends the time between two depth events. */
struct pacing {
	uint64_t limit; /* depth events, then stop; 0: all of them */
	int64_t gap_ns; /* wait before each depth event; 0: none */
	tl_idle_kind_t idle;
	bool top_first; /* the sync's top_first: timed to the top, settled after */
};

static int corpus_load(struct corpus *c, const char *data)
{
	char a[1024], b[1024];
	snprintf(a, sizeof(a), "%s/binance-spot/btcusdt_20240808.gz", data);
	snprintf(b, sizeof(b), "%s/binance-spot/btcusdt_20240809.gz", data);
	char *paths[] = {a, b};
	tl_md_reader_t *r;
	int rc = tl_md_reader_open(&r, paths, 2);
	if (rc < 0)
		return rc;
	size_t cap = 64u << 20, n_cap = 1u << 16;
	memset(c, 0, sizeof(*c));
	c->text = malloc(cap);
	c->offsets = malloc((n_cap + 1) * sizeof(*c->offsets));
	c->is_depth = malloc(n_cap * sizeof(*c->is_depth));
	struct tl_md_record rec;
	while (rc >= 0 && c->text && c->offsets && c->is_depth &&
	       (rc = tl_md_reader_next(r, &rec)) == 1) {
		/* Only what the md path parses and applies: depth events and snapshots. */
		bool depth =
		    memmem(rec.json, rec.len < 80 ? rec.len : 80, "depthUpdate", 11) != NULL;
		bool snapshot =
		    memmem(rec.json, rec.len < 40 ? rec.len : 40, "lastUpdateId", 12) != NULL;
		if (!depth && !snapshot)
			continue;
		if (c->n == n_cap || c->text_len + rec.len > cap) {
			rc = -E2BIG;
			break;
		}
		memcpy(c->text + c->text_len, rec.json, rec.len);
		c->offsets[c->n] = c->text_len;
		c->is_depth[c->n] = depth;
		c->text_len += rec.len;
		if (depth)
			c->depth_bytes += rec.len;
		c->n++;
	}
	tl_md_reader_close(r);
	if (!c->text || !c->offsets || !c->is_depth)
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	c->offsets[c->n] = c->text_len;
	return c->n ? 0 : -ENODATA;
}

static void corpus_free(struct corpus *c)
{
	free(c->text);
	free(c->offsets);
	free(c->is_depth);
}

struct rep_result {
	double mb_per_s;
	double levels_per_s;
	double ns_p50;
	double ns_p99;
	uint64_t gaps;
	int bad;
};

typedef int (*parse_fn)(tl_md_parser_t *, const char *, size_t, struct tl_md_msg *);

/* Waits `ns` the way `idle` says: spin keeps the core and touches nearly nothing; yield
 * offers the core to others between looks at the clock; block sleeps. */
static void pace_wait(int64_t ns, tl_idle_kind_t idle)
{
	if (idle == TL_IDLE_BLOCK) {
		struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		return;
	}
	for (int64_t until = tl_mono_ns() + ns; tl_mono_ns() < until;) {
		if (idle == TL_IDLE_YIELD)
			sched_yield();
		else
			tl_cpu_relax();
	}
}

/* One pass over the corpus (or its first pace->limit depth events): parse and apply every
 * message; time the depth events. */
static int run_pass(const struct corpus *c, parse_fn parse, const struct pacing *pace, tl_hist_t *h,
                    struct rep_result *out)
{
	struct tl_md_parser_config pc;
	tl_md_parser_config_default(&pc);
	pc.scale.px_decimals = 8;
	pc.scale.qty_decimals = 8;
	struct tl_book_config bc;
	tl_book_config_default(&bc);
	struct tl_md_sync_config sc;
	tl_md_sync_config_default(&sc);
	sc.top_first = pace->top_first;
	tl_md_parser_t *p = NULL;
	tl_book_t *book = NULL;
	tl_md_sync_t *sync = NULL;
	int rc = tl_md_parser_create(&p, &pc);
	if (rc == 0)
		rc = tl_book_create(&book, &bc);
	if (rc == 0)
		rc = tl_md_sync_create(&sync, &sc, book);
	if (rc < 0)
		goto out;
	tl_hist_reset(h);
	int64_t depth_ns = 0;
	uint64_t depth_events = 0, depth_bytes = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->n; i++) {
		const char *json = c->text + c->offsets[i];
		size_t len = c->offsets[i + 1] - c->offsets[i];
		struct tl_md_msg m;
		if (c->is_depth[i]) {
			if (pace->limit && depth_events == pace->limit)
				break;
			depth_events++;
			depth_bytes += len;
			if (pace->gap_ns)
				pace_wait(pace->gap_ns, pace->idle);
		}
		struct tl_md_floors floors;
		int64_t t0 = tl_mono_ns();
		/* Top first, as the md stage parses: only the levels that can move the top are
		 * converted before it is known (tl_md_parse_top); the rest wait for settle. */
		if ((pace->top_first && tl_md_sync_floors(sync, len, &floors)
		         ? tl_md_parse_top(p, json, len, &floors, &m)
		         : parse(p, json, len, &m)) < 0) {
			out->bad++;
			continue;
		}
		if (m.kind == TL_MD_DEPTH)
			tl_md_sync_depth(sync, &m);
		else if (m.kind == TL_MD_SNAPSHOT)
			tl_md_sync_snapshot(sync, &m);
		int64_t dt = tl_mono_ns() - t0;
		if (pace->top_first)
			tl_md_sync_settle(sync);
		if (c->is_depth[i]) {
			depth_ns += dt;
			tl_hist_record(h, (uint64_t)dt);
		}
	}
	const struct tl_md_sync_counters *k = tl_md_sync_counters(sync);
	double secs = (double)depth_ns / 1e9;
	out->mb_per_s = secs > 0 ? (double)depth_bytes / 1e6 / secs : 0;
	out->levels_per_s = secs > 0 ? (double)k->levels_applied / secs : 0;
	out->ns_p50 = (double)tl_hist_quantile(h, 0.5);
	out->ns_p99 = (double)tl_hist_quantile(h, 0.99);
	out->gaps = k->gaps;
	if (tl_md_sync_state(sync) != TL_MD_LIVE)
		rc = -EPROTO; /* a benchmark of a book that never synced measures nothing */
out:
	tl_md_sync_destroy(sync);
	tl_book_destroy(book);
	tl_md_parser_destroy(p);
	return rc;
}

static void book_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally bench book [--json] [--reps N] [--data DIR]\n"
	    "                        [--gap-us US [--gap-events N] [--gap-idle KIND]]\n"
	    "\n"
	    "Replay throughput of the market-data path on one core: the real BTCUSDT captures\n"
	    "(DIR/binance-spot/btcusdt_20240808.gz and _20240809.gz) are loaded into memory,\n"
	    "then every depth event is parsed and applied through the depth sync to the L2\n"
	    "book, after the snapshot, as the md thread does live. The same loop runs with the\n"
	    "jsmn-based parser in the same run. MB/s counts the raw JSON of the depth events;\n"
	    "the clock runs around parse plus apply only.\n"
	    "\n"
	    "With --gap-us, each rep also runs the scanner over the first N depth events\n"
	    "twice: back to back, then waiting US microseconds before each event, as the md\n"
	    "thread waits between live frames (tally bench t2t: every 20000 us). The ratio of\n"
	    "the two p50s is what idle time alone costs the md path on this machine: same\n"
	    "code, data and core; caches, TLB and branch predictors lost to whatever else ran\n"
	    "meanwhile. The spaced pass then runs again with the depth sync's top_first, as\n"
	    "the engine runs it: the clock stops once the event's new best bid and ask are in\n"
	    "the book; the levels that cannot change them are applied after it. A rep takes\n"
	    "about 2 x N x US longer.\n"
	    "\n"
	    "Options:\n"
	    "  --json       one JSON object: mb_per_s, levels_per_s, ns_per_event_p50,\n"
	    "               alt_parser_mb_per_s, alt_ns_per_event_p50, events, depth_bytes\n"
	    "  --reps N     repetitions of each parser, 1..%d (default 5); figures are medians\n"
	    "  --data DIR   the recorded data (default %s)\n"
	    "  --gap-us US  the spaced pass's wait before each event, 1..1000000 us; its\n"
	    "               keys (--json): gap_us, gap_events, gap_idle, gap_ns_per_event_p50,\n"
	    "               gap_ns_per_event_p99, back_to_back_ns_per_event_p50 (the same\n"
	    "               events, no wait), gap_vs_back_to_back_p50,\n"
	    "               gap_top_first_ns_per_event_p50, gap_top_first_ns_per_event_p99\n"
	    "               and gap_top_first_vs_whole_p50\n"
	    "  --gap-events N  depth events in the spaced pass, 10..100000 (default %d)\n"
	    "  --gap-idle KIND how the wait is spent: spin (the default: the thread keeps its\n"
	    "               core and touches next to nothing), yield (offers the core between\n"
	    "               looks at the clock) or block (sleeps)\n"
	    "  -h, --help   show this help\n"
	    "\n"
	    "Exit status: 0 on success, 1 if the data could not be read or did not sync, 2 on a\n"
	    "usage error.\n",
	    REPS_MAX, TALLY_SHARED_DATA, GAP_EVENTS_DEFAULT);
}

static int parse_book_opts(int argc, char **argv, struct book_opts *o)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
	                                         {"reps", required_argument, NULL, 'r'},
	                                         {"data", required_argument, NULL, 'd'},
	                                         {"gap-us", required_argument, NULL, 'g'},
	                                         {"gap-events", required_argument, NULL, 'n'},
	                                         {"gap-idle", required_argument, NULL, 'i'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	o->json = false;
	o->reps = 5;
	o->data = TALLY_SHARED_DATA;
	o->gap_us = 0;
	o->gap_events = GAP_EVENTS_DEFAULT;
	o->gap_idle = TL_IDLE_SPIN;
	bool gap_opts = false;
	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, REPS_MAX, &v) < 0)
				return tl_bench_bad_value("book", "reps", "1..50");
			o->reps = (int)v;
			break;
		case 'd':
			o->data = optarg;
			break;
		case 'g':
			if (tl_bench_parse_u64(optarg, 1, 1000000, &o->gap_us) < 0)
				return tl_bench_bad_value("book", "gap-us", "1..1000000");
			break;
		case 'n':
			if (tl_bench_parse_u64(optarg, 10, 100000, &o->gap_events) < 0)
				return tl_bench_bad_value("book", "gap-events", "10..100000");
			gap_opts = true;
			break;
		case 'i':
			o->gap_idle = tl_idle_kind_parse(optarg);
			if (!o->gap_idle)
				return tl_bench_bad_value("book", "gap-idle",
				                          "spin, yield or block");
			gap_opts = true;
			break;
		case 'h':
			book_usage(stdout);
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally bench book: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (gap_opts && !o->gap_us) {
		fprintf(stderr, "tally bench book: --gap-events and --gap-idle need --gap-us\n");
		return -EINVAL;
	}
	return 0;
}

int tl_bench_book(int argc, char **argv)
{
	struct book_opts o;
	int rc = parse_book_opts(argc, argv, &o);
	if (rc != 0) {
		if (rc < 0) {
			fputc('\n', stderr);
			book_usage(stderr);
		}
		return rc > 0 ? 0 : 2;
	}
	int cpu_a, cpu_b;
	if (tl_bench_pick_cpus(&cpu_a, &cpu_b) >= 1 && cpu_a >= 0)
		tl_thread_pin_self(cpu_a);
	struct corpus c;
	fprintf(stderr, "tally bench book: loading %s/binance-spot ...\n", o.data);
	rc = corpus_load(&c, o.data);
	if (rc < 0) {
		fprintf(stderr, "tally bench book: cannot load the capture from %s: %s\n", o.data,
		        tl_strerror(rc));
		return 1;
	}
	uint64_t events = 0;
	for (size_t i = 0; i < c.n; i++)
		events += c.is_depth[i];
	tl_hist_t *h = malloc(sizeof(*h));
	if (!h) {
		corpus_free(&c);
		return 1;
	}
	/* Passes of a rep: both parsers over everything; with --gap-us, the scanner over the
	 * first gap_events events back to back, then spaced, then spaced and top first. */
	double mb[5][REPS_MAX], lv[5][REPS_MAX], p50[5][REPS_MAX], p99[5][REPS_MAX];
	static const char *const names[5] = {"scanner", "jsmn", "scanner, first events",
	                                     "scanner, spaced", "spaced, top first"};
	parse_fn fns[5] = {tl_md_parse, tl_md_parse_jsmn, tl_md_parse, tl_md_parse, tl_md_parse};
	struct pacing paces[5] = {{0, 0, TL_IDLE_SPIN, false},
	                          {0, 0, TL_IDLE_SPIN, false},
	                          {o.gap_events, 0, TL_IDLE_SPIN, false},
	                          {o.gap_events, (int64_t)o.gap_us * 1000, o.gap_idle, false},
	                          {o.gap_events, (int64_t)o.gap_us * 1000, o.gap_idle, true}};
	int passes = o.gap_us ? 5 : 2;
	if (o.gap_us)
		fprintf(stderr,
		        "tally bench book: the spaced pass waits %" PRIu64
		        " us (%s) before each of "
		        "%" PRIu64 " events: about %.0f s a rep\n",
		        o.gap_us, tl_idle_kind_name(o.gap_idle), o.gap_events,
		        2 * (double)o.gap_us * (double)o.gap_events / 1e6);
	for (int r = 0; r < o.reps && rc == 0; r++) {
		for (int k = 0; k < passes && rc == 0; k++) {
			struct rep_result res;
			rc = run_pass(&c, fns[k], &paces[k], h, &res);
			if (rc == 0 && (res.bad || res.gaps))
				rc = -EBADMSG;
			if (rc < 0) {
				fprintf(stderr, "tally bench book: %s pass failed: %s\n", names[k],
				        tl_strerror(rc));
				break;
			}
			mb[k][r] = res.mb_per_s;
			lv[k][r] = res.levels_per_s;
			p50[k][r] = res.ns_p50;
			p99[k][r] = res.ns_p99;
			fprintf(
			    stderr,
			    "  rep %d/%d %-21s %8.1f MB/s %12.0f levels/s  p50 %6.0f ns/event\n",
			    r + 1, o.reps, names[k], res.mb_per_s, res.levels_per_s, res.ns_p50);
		}
	}
	free(h);
	corpus_free(&c);
	if (rc < 0)
		return 1;
	double m_mb = tl_bench_median(mb[0], o.reps), m_lv = tl_bench_median(lv[0], o.reps);
	double m_p50 = tl_bench_median(p50[0], o.reps);
	double a_mb = tl_bench_median(mb[1], o.reps), a_p50 = tl_bench_median(p50[1], o.reps);
	double b_p50 = 0, g_p50 = 0, g_p99 = 0, ratio = 0, t_p50 = 0, t_p99 = 0, t_ratio = 0;
	if (o.gap_us) {
		b_p50 = tl_bench_median(p50[2], o.reps);
		g_p50 = tl_bench_median(p50[3], o.reps);
		g_p99 = tl_bench_median(p99[3], o.reps);
		ratio = b_p50 > 0 ? g_p50 / b_p50 : 0;
		t_p50 = tl_bench_median(p50[4], o.reps);
		t_p99 = tl_bench_median(p99[4], o.reps);
		t_ratio = g_p50 > 0 ? t_p50 / g_p50 : 0;
	}
	if (o.json) {
		printf("{\"bench\":\"book\",\"reps\":%d,\"events\":%" PRIu64
		       ",\"depth_bytes\":%" PRIu64
		       ",\"mb_per_s\":%.1f,\"levels_per_s\":%.0f,\"ns_per_event_p50\":%.0f,"
		       "\"alt_parser_mb_per_s\":%.1f,\"alt_ns_per_event_p50\":%.0f",
		       o.reps, events, c.depth_bytes, m_mb, m_lv, m_p50, a_mb, a_p50);
		if (o.gap_us)
			printf(
			    ",\"gap_us\":%" PRIu64 ",\"gap_events\":%" PRIu64
			    ",\"gap_idle\":\"%s\",\"gap_ns_per_event_p50\":%.0f"
			    ",\"gap_ns_per_event_p99\":%.0f,\"back_to_back_ns_per_event_p50\":%.0f"
			    ",\"gap_vs_back_to_back_p50\":%.2f,\"gap_top_first_ns_per_event_p50\":%"
			    ".0f"
			    ",\"gap_top_first_ns_per_event_p99\":%.0f"
			    ",\"gap_top_first_vs_whole_p50\":%.2f",
			    o.gap_us, o.gap_events, tl_idle_kind_name(o.gap_idle), g_p50, g_p99,
			    b_p50, ratio, t_p50, t_p99, t_ratio);
		printf("}\n");
		return 0;
	}
	printf("tally bench book: parse + apply of %" PRIu64
	       " BTCUSDT depth events (%.1f MB of JSON), "
	       "median of %d reps, one core\n\n",
	       events, (double)c.depth_bytes / 1e6, o.reps);
	printf("%-28s %10s %14s %16s\n", "parser", "MB/s", "levels/s", "p50 ns/event");
	printf("%-28s %10.1f %14.0f %16.0f\n", "hand-written scanner (used)", m_mb, m_lv, m_p50);
	printf("%-28s %10.1f %14s %16.0f\n", "jsmn, fixed token pool", a_mb, "", a_p50);
	if (o.gap_us) {
		printf("\nthe first %" PRIu64 " events, scanner, p50 ns/event:\n", o.gap_events);
		printf("  back to back                        %8.0f\n", b_p50);
		printf("  after %7" PRIu64 " us (%-5s) each       %8.0f  (%.2fx; p99 %.0f)\n",
		       o.gap_us, tl_idle_kind_name(o.gap_idle), g_p50, ratio, g_p99);
		printf(
		    "  the same, top first: to the top       %8.0f  (%.2fx of whole; p99 %.0f)\n",
		    t_p50, t_ratio, t_p99);
	}
	printf("\ntarget, for information only: >= 400 MB/s parsed and applied: %.1f MB/s\n", m_mb);
	return 0;
}
