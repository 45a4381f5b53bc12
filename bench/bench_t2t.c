/*
 * bench_t2t.c: `tally bench t2t`, tick-to-trade on loopback.
 *
 * METHOD
 * A `tally sim --t2t` stamps each market-data frame as it writes it, and the first WS API
 * request that names that frame as its cause closes the measurement: its "id" is the
 * frame's final update id x 2^24, plus a counter (sim/tl_sim_server.h). Each
 * repetition runs two clients against a fresh sim, for --seconds each:
 *   - the floor: a minimal responder on the same io path (io/'s WebSocket client on an
 *     io_uring loop, waiting as --idle says) that answers every depth frame with a fixed
 *     order frame: one order.place, built and signed at start-up (a post-only buy far
 *     below the market, with one client order id), of which only the "id" changes, to
 *     name the frame. The sim does to it what it does to the engine's orders: it parses
 *     it, checks its signature and filters, and rests the first and refuses the others
 *     as duplicates;
 *   - the engine: `tally run` quoting the sim, with refresh_ticks 0 (every move of the
 *     book is acted on) and every hot thread idle as --idle says (yield by default: on
 *     two cores, spinning threads starve the md thread and the sim). Its summary gives
 *     the engine's own part: a depth frame's bytes reaped on the md thread to the first
 *     request its top caused, submitted on the user thread (internal_p50_ns,
 *     internal_p99_ns), and its legs.
 * The engine runs with run.t2t_ids, so the first request each top causes names the
 * frame; requests sent for other reasons (an order re-placed once the ledger acked the
 * last one's release, a cancel on an order's ack) name none and are not counted. Each
 * figure is the median over the repetitions.
 *
 * Before each repetition, for STALL_PROBE_NS, a thread of the bench reads the monotonic
 * clock in a loop with nothing else of ours running: every gap of STALL_MIN_NS or more
 * between two reads is time its CPU was taken away (by the kernel or, on a virtual
 * machine, by the host, which the guest is not always told of: no steal time here). The
 * rate and length of those stalls bound what any code can show as its p99 on this
 * machine: a reaction of a few microseconds that a stall lands in takes the stall's
 * length with it.
 */
#include "bench_internal.h"
#include "tl_bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl_io.h"
#include "tl_ring.h"
#include "tl_sim_server.h"
#include "tl_venue.h"

/* The engine's places a second (strategy.max_places_per_s, 8 by default, for a real
 * venue's limit), and the sim's limit, which the engine's limiter adopts from its answers:
 * high enough here that most frames cause a request (about 35 of the 50 a second; at 8 a
 * second, 2 did), so that a repetition's p99 is one of some 500 samples, not its maximum.
 * Each place is also a LOCK and an UNLOCK for the ledger: the engine's whole path runs. */
#define ENGINE_PLACES_PER_S "strategy.max_places_per_s=250"
#define SIM_ORDERS_PER_10S "100000"
#define REPS_MAX 20
#define STALL_PROBE_NS 1000000000 /* 1 s before each repetition */
#define STALL_MIN_NS 10000        /* a gap of 10 us or more is a stall */
#define STALL_BUCKETS 1000        /* lengths to the microsecond, the last: 999 us or more */

struct stalls {
	double per_s;    /* stalls a second */
	double p50_us;   /* their median length */
	double lost_pct; /* the share of the probe's time they took, in % */
};

/* Spins on the clock for STALL_PROBE_NS and measures the gaps (see METHOD). */
static void stall_probe(struct stalls *out)
{
	static uint32_t count[STALL_BUCKETS];
	uint64_t t0 = tl_io_now_ns(), prev = t0, now, n = 0, lost = 0, half, seen = 0;

	memset(count, 0, sizeof(count));
	do {
		now = tl_io_now_ns();
		if (now - prev >= STALL_MIN_NS) {
			uint64_t us = (now - prev) / 1000;

			count[us < STALL_BUCKETS ? us : STALL_BUCKETS - 1]++;
			lost += now - prev;
			n++;
		}
		prev = now;
	} while (now - t0 < STALL_PROBE_NS);
	out->per_s = (double)n * 1e9 / (double)(now - t0);
	out->lost_pct = 100.0 * (double)lost / (double)(now - t0);
	out->p50_us = 0;
	half = (n + 1) / 2;
	for (unsigned us = 0; n && us < STALL_BUCKETS; us++)
		if ((seen += count[us]) >= half) {
			out->p50_us = us;
			break;
		}
}

struct sim_child {
	pid_t pid;
	FILE *out;
	uint16_t port;
};

/* A number after "key": in a JSON line; 0 when absent. */
static uint64_t json_u64(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static int sim_start(struct sim_child *s)
{
	int fds[2];
	char line[512];

	if (pipe(fds))
		return -errno;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (!freopen("/dev/null", "w", stderr))
			_exit(127);
		execl("/proc/self/exe", "tally", "sim", "--port", "0", "--status-every", "0",
		      "--t2t", "--md-interval-ms", "20", "--orders-per-10s", SIM_ORDERS_PER_10S,
		      "--weight-per-min", "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	s->out = fdopen(fds[0], "r");
	if (!s->out || !fgets(line, sizeof(line), s->out) || !strstr(line, "listening"))
		return -EIO;
	s->port = (uint16_t)json_u64(line, "port");
	return s->port ? 0 : -EIO;
}

/* Stops the sim and reads its t2t figures (ns). */
static int sim_stop(struct sim_child *s, uint64_t *count, uint64_t *p50, uint64_t *p99)
{
	char line[2048];
	int rc = -EIO;

	kill(s->pid, SIGTERM);
	while (fgets(line, sizeof(line), s->out))
		if (strstr(line, "\"stopped\"")) {
			*count = json_u64(line, "t2t_count");
			*p50 = json_u64(line, "t2t_p50_ns");
			*p99 = json_u64(line, "t2t_p99_ns");
			rc = 0;
		}
	fclose(s->out);
	waitpid(s->pid, NULL, 0);
	return rc;
}

#define SECONDS_DEFAULT 15

static const char t2t_usage[] =
    "Usage: tally bench t2t [--json] [--reps N] [--seconds S] [--idle KIND]\n"
    "                       [--layout auto|split|fused]\n"
    "\n"
    "Tick-to-trade on loopback against `tally sim --t2t` (market data every 20 ms):\n"
    "from a depth frame written by the sim to the first WS API request it caused\n"
    "(the request's id names the frame: run.t2t_ids). Each repetition runs two\n"
    "clients against a fresh sim, S seconds each (default 15; the engine may place\n"
    "250 orders a second here, and about 35 frames a second cause a request):\n"
    "  - the floor: a minimal responder on the same io path that answers every depth\n"
    "    frame with a fixed order frame (one order.place, signed at start-up; the sim\n"
    "    rests the first and refuses the others as duplicates);\n"
    "  - the engine: `tally run`; its summary gives its own part, a depth frame's\n"
    "    bytes reaped from the socket to the first request it caused, submitted, in\n"
    "    three legs (md, strategy, user).\n"
    "Each figure is the median of N repetitions (default 3). Before each, for 1 s, a\n"
    "thread reads the clock in a loop and counts the gaps of 10 us or more: the\n"
    "stalls this machine puts on a thread that never gives its CPU away, which any\n"
    "p99 here inherits.\n"
    "\n"
    "Options:\n"
    "  --json          one JSON object instead of a table\n"
    "  --reps N        repetitions, 1..20 (default 3)\n"
    "  --seconds S     seconds of each run, 1..600 (default 15)\n"
    "  --idle KIND     how every hot thread of the engine waits, and the floor's loop\n"
    "                  with them: block (the engine's default: sleep in io_uring or on\n"
    "                  the rings), yield (the default here: poll, and give the CPU away\n"
    "                  when idle) or spin (poll; owns a core each, so only with a core\n"
    "                  per thread)\n"
    "  --layout L      the engine's threads.layout: auto (the default, as the\n"
    "                  engine's: fused with fewer than 4 CPUs online), split (md,\n"
    "                  strategy and user on three threads) or fused (the three on one\n"
    "                  thread, in turn)\n"
    "  -h, --help      show this help\n"
    "\n"
    "Keys (--json): engine_t2t_p50_us, engine_t2t_p99_us, floor_p50_us, floor_p99_us,\n"
    "engine_vs_floor_p50, internal_p50_ns, internal_p99_ns, its legs\n"
    "internal_{md,strategy,user}_{p50,p99}_ns, build (as tally --version gives it),\n"
    "idle, layout, the sample counts, and\n"
    "the stalls: cpu_stalls_per_s, cpu_stall_p50_us, cpu_stall_lost_pct and\n"
    "cpu_stall_overlap_pct, the share of windows as long as the internal p50 that one\n"
    "starts in (rate x window): at 1 or more, the internal p99 holds a stall.\n"
    "\n"
    "Exit status: 0; 1 when a run failed, also when the sim answered the floor's\n"
    "order otherwise than as above; 2 on a usage error.\n";

/* ---- the floor: answer every depth frame at once ------------------------------------- */

/* The floor's order: the sim's default BTCUSDT (2 price and 5 quantity decimals), a buy
 * of 0.01 at 1000.00, so 10 USDT of notional, far under the walk's 60000.00 start. */
#define FLOOR_PX 100000
#define FLOOR_QTY 1000
#define FLOOR_RECV_WINDOW_MS 60000      /* the most a venue takes */
#define FLOOR_REFRESH_NS 20000000000ull /* rebuilt this often, well inside the window */

struct floor_ctx {
	tl_ws_client_t *api;
	uint64_t next_id, answered;
	int opens;
	tl_venue_signer_t *signer;
	/* The order frame after its id: `"method":"order.place","params":{...}}`. */
	char order_tail[1024];
	size_t order_tail_len;
	uint64_t order_built_ns;
	/* The sim's answers: the first order accepted, every later one a duplicate. Anything
	 * else means the sim did not treat the frames as orders, and the floor is void. */
	uint64_t accepted, duplicates, other;
	char first_other[160];
};

/* Builds and signs the floor's order, stamped now, into f->order_tail. Returns 0 or a
 * negative errno. */
static int floor_build_order(struct floor_ctx *f)
{
	static const char head[] = "{\"id\":1,";
	struct tl_venue_auth a = {.signer = f->signer,
	                          .api_key = TL_SIM_DEMO_API_KEY,
	                          .timestamp_ms = tl_bench_wall_ms(),
	                          .recv_window_ms = FLOOR_RECV_WINDOW_MS};
	struct tl_venue_order_req q = {.symbol = "BTCUSDT",
	                               .client_order_id = "t2t-floor",
	                               .side = TL_VENUE_BUY,
	                               .type = TL_VENUE_LIMIT_MAKER,
	                               .px = {FLOOR_PX},
	                               .qty = {FLOOR_QTY},
	                               .scale = {.px_decimals = 2, .qty_decimals = 5},
	                               .resp_type = TL_VENUE_RESP_ACK};
	char frame[sizeof(f->order_tail) + sizeof(head)];
	ssize_t n = tl_venue_build_order_place(frame, sizeof(frame), 1, &a, &q);

	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(head) - 1 || memcmp(frame, head, sizeof(head) - 1) != 0)
		return -EPROTO; /* the builder's layout changed: the id is no longer first */
	f->order_tail_len = (size_t)n - (sizeof(head) - 1);
	memcpy(f->order_tail, frame + sizeof(head) - 1, f->order_tail_len);
	f->order_built_ns = tl_io_now_ns();
	return 0;
}

static void floor_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct floor_ctx *)user)->opens++;
}

static void floor_md(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	struct floor_ctx *f = user;
	char req[sizeof(f->order_tail) + 32];
	int n;

	const uint8_t *u = memmem(data, len, "\"u\":", 4), *end = data + len;
	uint64_t cause = 0;

	for (u = u ? u + 4 : end; u < end && *u >= '0' && *u <= '9'; u++)
		cause = cause * 10 + (uint64_t)(*u - '0');

	(void)ws;
	(void)op;
	/* The request names the frame it answers, as the engine's do (run.t2t_ids); the rest
	 * of it is the fixed order. */
	n = snprintf(req, sizeof(req), "{\"id\":%" PRIu64 ",",
	             cause << TL_SIM_T2T_ID_SHIFT |
	                 (f->next_id++ & ((1u << TL_SIM_T2T_ID_SHIFT) - 1)));
	memcpy(req + n, f->order_tail, f->order_tail_len);
	if (tl_ws_client_is_open(f->api) &&
	    tl_ws_client_send(f->api, TL_WS_OP_TEXT, req, (size_t)n + f->order_tail_len) == 0)
		f->answered++;
}

static void floor_api(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	static const char ok[] = "\"status\":200", dup_code[] = "\"code\":-2010",
	                  dup_msg[] = "Duplicate order";
	struct floor_ctx *f = user;

	(void)ws;
	(void)op;
	if (memmem(data, len, ok, sizeof(ok) - 1))
		f->accepted++;
	else if (memmem(data, len, dup_code, sizeof(dup_code) - 1) &&
	         memmem(data, len, dup_msg, sizeof(dup_msg) - 1))
		f->duplicates++;
	else if (f->other++ == 0)
		snprintf(f->first_other, sizeof(f->first_other), "%.*s",
		         (int)(len < sizeof(f->first_other) - 1 ? len : sizeof(f->first_other) - 1),
		         (const char *)data);
}

/* One wait of the floor's loop, as the engine's io threads wait (engine.c's io_wait). */
static int floor_wait(tl_io_loop_t *loop, tl_idle_kind_t idle, bool idle_round)
{
	if (idle == TL_IDLE_BLOCK)
		return tl_io_loop_poll(loop, 1000000);
	if (idle == TL_IDLE_YIELD && idle_round)
		sched_yield();
	return tl_io_loop_poll(loop, 0);
}

static int run_floor(uint16_t port, unsigned seconds, tl_idle_kind_t idle)
{
	static const struct tl_ws_client_ops md_ops = {.on_open = floor_open,
	                                               .on_message = floor_md};
	static const struct tl_ws_client_ops api_ops = {.on_open = floor_open,
	                                                .on_message = floor_api};
	struct floor_ctx f = {.next_id = 1};
	struct tl_io_loop_config lc;
	struct tl_ws_client_config wc;
	tl_io_loop_t *loop;
	tl_ws_client_t *md = NULL;
	uint64_t end;
	int rc;

	rc = tl_venue_signer_create(&f.signer, TL_SIM_DEMO_API_SECRET,
	                            strlen(TL_SIM_DEMO_API_SECRET));
	if (rc == 0 && (rc = floor_build_order(&f)) < 0)
		tl_venue_signer_destroy(f.signer);
	if (rc)
		return rc;
	tl_io_loop_config_default(&lc);
	lc.busy_poll = idle != TL_IDLE_BLOCK; /* as the engine's polling loops */
	if ((rc = tl_io_loop_create(&loop, &lc))) {
		tl_venue_signer_destroy(f.signer);
		return rc;
	}
	tl_ws_client_config_default(&wc);
	wc.host = "127.0.0.1";
	wc.port = port;
	wc.path = "/ws-api/v3";
	if ((rc = tl_ws_client_create(&f.api, loop, &wc, &api_ops, &f)) ||
	    (rc = tl_ws_client_connect(f.api)))
		goto out;
	wc.path = "/ws/btcusdt@depth@100ms";
	if ((rc = tl_ws_client_create(&md, loop, &wc, &md_ops, &f)) ||
	    (rc = tl_ws_client_connect(md)))
		goto out;
	end = tl_io_now_ns() + (uint64_t)seconds * 1000000000;
	for (rc = 1; tl_io_now_ns() < end;) {
		if ((rc = floor_wait(loop, idle, rc == 0)) < 0)
			goto out;
		if (rc == 0) /* as the engine's loops do in their idle rounds */
			tl_ws_client_idle(f.api);
		/* Between frames, not in answer to one: the timestamp stays inside the window. */
		if (tl_io_now_ns() - f.order_built_ns > FLOOR_REFRESH_NS &&
		    (rc = floor_build_order(&f)) < 0)
			goto out;
	}
	rc = f.answered ? 0 : -EIO;
	if (rc == 0 && (f.other || f.accepted != 1)) {
		fprintf(stderr,
		        "bench t2t: the sim did not take the floor's order as expected (%" PRIu64
		        " accepted, %" PRIu64 " duplicates, %" PRIu64 " other; first other: %s)\n",
		        f.accepted, f.duplicates, f.other, f.other ? f.first_other : "none");
		rc = -EPROTO;
	}
out:
	if (md && tl_ws_client_is_open(md))
		tl_ws_client_close(md, 1000, "done");
	if (f.api && tl_ws_client_is_open(f.api))
		tl_ws_client_close(f.api, 1000, "done");
	/* Each client is freed once its close is through (at most its 2 s close timeout). */
	for (uint64_t t0 = tl_io_now_ns(); (md || f.api) && tl_io_now_ns() - t0 < 3000000000ull;) {
		if (md && tl_ws_client_destroy(md) == 0)
			md = NULL;
		if (f.api && tl_ws_client_destroy(f.api) == 0)
			f.api = NULL;
		if (md || f.api)
			tl_io_loop_poll(loop, 5000000);
	}
	tl_io_loop_destroy(loop);
	tl_venue_signer_destroy(f.signer);
	return rc;
}

/* ---- the engine ------------------------------------------------------------------------ */

/* What the engine's summary says of its own part (ns): the whole, and its three legs. */
struct engine_figures {
	uint64_t internal_p50, internal_p99, internal_n;
	uint64_t leg_p50[3], leg_p99[3]; /* md, strategy, user */
	char layout[8];                  /* the one the engine ran: split or fused */
};

static int run_engine(uint16_t port, unsigned seconds, tl_idle_kind_t idle, const char *layout,
                      struct engine_figures *fig)
{
	static const char *const leg_keys[3][2] = {{"md_p50_ns", "md_p99_ns"},
	                                           {"strategy_p50_ns", "strategy_p99_ns"},
	                                           {"user_p50_ns", "user_p99_ns"}};
	char md_idle[48], user_idle[48], strat_idle[48], layout_s[48];
	char port_s[32], dur_s[16], summary[] = "/tmp/tally-bench-t2t.XXXXXX", ledger[64];
	char line[8192];
	int fd = mkstemp(summary), st;
	pid_t pid;
	FILE *f;

	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(ledger, sizeof(ledger), "%s.ledger", summary);
	snprintf(port_s, sizeof(port_s), "venue.port=%u", port);
	snprintf(dur_s, sizeof(dur_s), "%u", seconds);
	snprintf(layout_s, sizeof(layout_s), "threads.layout=%s", layout);
	snprintf(md_idle, sizeof(md_idle), "threads.md_idle=%s", tl_idle_kind_name(idle));
	snprintf(user_idle, sizeof(user_idle), "threads.user_idle=%s", tl_idle_kind_name(idle));
	snprintf(strat_idle, sizeof(strat_idle), "threads.strategy_idle=%s",
	         tl_idle_kind_name(idle));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		setenv("TALLY_API_KEY",
		       "tallyDemoKey0000000000000000000000000000000000000000000000000001", 1);
		setenv("TALLY_API_SECRET",
		       "tallyDemoSecret000000000000000000000000000000000000000000000001", 1);
		execl("/proc/self/exe", "tally", "run", "--set", "venue.host=127.0.0.1", "--set",
		      port_s, "--set", "strategy.refresh_ticks=0", "--set", "run.t2t_ids=true",
		      "--set", md_idle, "--set", user_idle, "--set", strat_idle, "--set", layout_s,
		      "--set", "run.status_every_ms=0", "--set", "run.reconcile_every_ms=0",
		      "--set", ENGINE_PLACES_PER_S, "--duration", dur_s, "--ledger-dir", ledger,
		      "--json-summary", summary, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	f = fopen(summary, "r");
	line[0] = '\0';
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	unlink(summary);
	tl_bench_rm_tree(ledger);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !line[0])
		return -EIO;
	fig->internal_p50 = json_u64(line, "internal_p50_ns");
	fig->internal_p99 = json_u64(line, "internal_p99_ns");
	fig->internal_n = json_u64(line, "internal_count");
	{
		const char *p = strstr(line, "\"layout\":\"");

		snprintf(fig->layout, sizeof(fig->layout), "%.5s", p ? p + 10 : "?");
	}
	for (int i = 0; i < 3; i++) {
		fig->leg_p50[i] = json_u64(line, leg_keys[i][0]);
		fig->leg_p99[i] = json_u64(line, leg_keys[i][1]);
	}
	return 0;
}

static double median_u64(const uint64_t *v, size_t n)
{
	double d[REPS_MAX];

	for (size_t i = 0; i < n; i++)
		d[i] = (double)v[i];
	return tl_bench_median(d, (int)n);
}

int tl_bench_t2t(int argc, char **argv)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
	                                         {"reps", required_argument, NULL, 'r'},
	                                         {"seconds", required_argument, NULL, 's'},
	                                         {"idle", required_argument, NULL, 'i'},
	                                         {"layout", required_argument, NULL, 'l'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	const char *layout = "auto";
	char ran[8] = "?"; /* what auto became */
	uint64_t reps = 3, seconds = SECONDS_DEFAULT, v;
	uint64_t fl50[REPS_MAX], fl99[REPS_MAX], en50[REPS_MAX], en99[REPS_MAX], in50[REPS_MAX],
	    in99[REPS_MAX], fln[REPS_MAX], enn[REPS_MAX], inn[REPS_MAX];
	uint64_t leg[3][2][REPS_MAX]; /* md, strategy, user; p50, p99 */
	double st_rate[REPS_MAX], st_p50[REPS_MAX], st_lost[REPS_MAX];
	tl_idle_kind_t idle = TL_IDLE_YIELD;
	bool json = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, REPS_MAX, &v))
				return tl_bench_bad_value("t2t", "reps", "1..20"), 2;
			reps = v;
			break;
		case 's':
			if (tl_bench_parse_u64(optarg, 1, 600, &v))
				return tl_bench_bad_value("t2t", "seconds", "1..600"), 2;
			seconds = v;
			break;
		case 'i':
			if (!(idle = tl_idle_kind_parse(optarg)))
				return tl_bench_bad_value("t2t", "idle", "block, yield or spin"), 2;
			break;
		case 'l':
			if (strcmp(optarg, "auto") && strcmp(optarg, "split") &&
			    strcmp(optarg, "fused"))
				return tl_bench_bad_value("t2t", "layout", "auto, split or fused"),
				       2;
			layout = optarg;
			break;
		case 'h':
			fputs(t2t_usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	for (uint64_t r = 0; r < reps; r++) {
		struct engine_figures fig = {0};
		struct sim_child s;
		int rc;

		struct stalls st;

		fprintf(stderr, "bench t2t: rep %" PRIu64 "/%" PRIu64 ": stalls...\n", r + 1, reps);
		stall_probe(&st);
		st_rate[r] = st.per_s;
		st_p50[r] = st.p50_us;
		st_lost[r] = st.lost_pct;
		fprintf(stderr, "bench t2t: rep %" PRIu64 "/%" PRIu64 ": floor...\n", r + 1, reps);
		if ((rc = sim_start(&s)) || (rc = run_floor(s.port, (unsigned)seconds, idle)) ||
		    (rc = sim_stop(&s, &fln[r], &fl50[r], &fl99[r]))) {
			fprintf(stderr, "bench t2t: the floor run failed: %s\n", strerror(-rc));
			return 1;
		}
		fprintf(stderr, "bench t2t: rep %" PRIu64 "/%" PRIu64 ": engine...\n", r + 1, reps);
		if ((rc = sim_start(&s)) ||
		    (rc = run_engine(s.port, (unsigned)seconds, idle, layout, &fig)) ||
		    (rc = sim_stop(&s, &enn[r], &en50[r], &en99[r]))) {
			fprintf(stderr, "bench t2t: the engine run failed: %s\n", strerror(-rc));
			return 1;
		}
		memcpy(ran, fig.layout, sizeof(ran));
		in50[r] = fig.internal_p50;
		in99[r] = fig.internal_p99;
		inn[r] = fig.internal_n;
		for (int i = 0; i < 3; i++) {
			leg[i][0][r] = fig.leg_p50[i];
			leg[i][1][r] = fig.leg_p99[i];
		}
		fprintf(stderr,
		        "bench t2t: rep %" PRIu64 ": floor p50 %.1f us (%" PRIu64
		        " samples), engine p50 %.1f us (%" PRIu64 "), internal p50 %" PRIu64
		        " ns; %.0f stalls/s of %.0f us\n",
		        r + 1, (double)fl50[r] / 1e3, fln[r], (double)en50[r] / 1e3, enn[r],
		        in50[r], st.per_s, st.p50_us);
	}
	{
		static const char *const leg_names[3] = {"md", "strategy", "user"};
		double f50 = median_u64(fl50, reps) / 1e3, f99 = median_u64(fl99, reps) / 1e3;
		double e50 = median_u64(en50, reps) / 1e3, e99 = median_u64(en99, reps) / 1e3;
		double i50 = median_u64(in50, reps), i99 = median_u64(in99, reps);
		double l50[3], l99[3];
		double s_rate = tl_bench_median(st_rate, (int)reps),
		       s_p50 = tl_bench_median(st_p50, (int)reps),
		       s_lost = tl_bench_median(st_lost, (int)reps);
		/* The stalls that lengthen a reaction are those that start inside it: rate x W.
		 * One that starts before only delays the reap, where the window starts. */
		double overlap = s_rate * (i50 / 1e3) / 1e4;

		for (int i = 0; i < 3; i++) {
			l50[i] = median_u64(leg[i][0], reps);
			l99[i] = median_u64(leg[i][1], reps);
		}
		if (json) {
			printf("{\"build\":\"%s\",\"idle\":\"%s\",\"layout\":\"%s\","
			       "\"engine_t2t_p50_us\":%.1f,"
			       "\"engine_t2t_p99_us\":%"
			       ".1f,"
			       "\"floor_p50_us\":%.1f,\"floor_p99_us\":%.1f,\"engine_vs_floor_"
			       "p50\":%.2f,"
			       "\"internal_p50_ns\":%.0f,\"internal_p99_ns\":%.0f",
			       TALLY_BUILD, tl_idle_kind_name(idle), ran, e50, e99, f50, f99,
			       f50 > 0 ? e50 / f50 : 0, i50, i99);
			for (int i = 0; i < 3; i++)
				printf(",\"internal_%s_p50_ns\":%.0f,\"internal_%s_p99_ns\":%.0f",
				       leg_names[i], l50[i], leg_names[i], l99[i]);
			printf(",\"floor_samples\":%.0f,\"engine_samples\":%.0f,\"internal_"
			       "samples\":%.0f,"
			       "\"cpu_stalls_per_s\":%.0f,\"cpu_stall_p50_us\":%.0f,"
			       "\"cpu_stall_lost_pct\":%.2f,\"cpu_stall_overlap_pct\":%.2f,"
			       "\"reps\":%" PRIu64 "}\n",
			       median_u64(fln, reps), median_u64(enn, reps), median_u64(inn, reps),
			       s_rate, s_p50, s_lost, overlap, reps);
		} else {
			printf("tally bench t2t: median of %" PRIu64 " reps, %" PRIu64
			       " s each, layout %s, every hot thread idle %s; build: %s\n",
			       reps, seconds, ran, tl_idle_kind_name(idle), TALLY_BUILD);
			printf("%-44s %10s %10s\n", "", "p50", "p99");
			printf("%-44s %8.1f us %7.1f us\n", "floor: minimal responder", f50, f99);
			printf("%-44s %8.1f us %7.1f us   (%.2fx the floor at p50)\n",
			       "engine: tally run", e50, e99, f50 > 0 ? e50 / f50 : 0);
			printf("%-44s %8.0f ns %7.0f ns\n",
			       "engine internal: bytes reaped -> request", i50, i99);
			printf("%-44s %8.0f ns %7.0f ns\n", "  md: bytes reaped -> top published",
			       l50[0], l99[0]);
			printf("%-44s %8.0f ns %7.0f ns\n", "  strategy: top -> intent published",
			       l50[1], l99[1]);
			printf("%-44s %8.0f ns %7.0f ns\n", "  user: intent -> request submitted",
			       l50[2], l99[2]);
			printf(
			    "this machine: a thread that keeps its CPU loses it %.0f times a "
			    "second "
			    "for 10 us or more\n(median %.0f us, %.2f%% of the time); one starts "
			    "inside a window as long as\nthe internal p50 %.2f%% of the time (%s "
			    "1%%: the internal p99 %s one)\n",
			    s_rate, s_p50, s_lost, overlap, overlap >= 1 ? "at least" : "under",
			    overlap >= 1 ? "holds" : "need not hold");
			printf("targets, for information only: engine p50 <= 1.5x floor; internal "
			       "p50 <= 3 us, p99 <= 15 us\n");
		}
	}
	return 0;
}
