/*
 * bench_t2t.c: `tally bench t2t`, tick-to-trade on loopback.
 *
 * METHOD
 * A `tally sim --t2t` stamps each market-data frame as it writes it, and the first WS API
 * request that arrives after it closes the measurement (sim/tl_sim_server.h). Each
 * repetition runs two clients against a fresh sim, for --seconds each:
 *   - the floor: a minimal responder on the same io path (io/'s WebSocket client on an
 *     io_uring loop, busy-polling) that answers every depth frame with a fixed request;
 *   - the engine: `tally run` quoting the sim, with refresh_ticks 0 (every move of the
 *     book is acted on), the strategy spinning and the user thread busy-polling. Its
 *     summary gives the engine's own part: a depth event applied on the md thread to the
 *     request submitted on the user thread (internal_p50_ns, internal_p99_ns).
 * Orders the engine sends for other reasons (an order re-placed once the ledger acked
 * the last one's release) also close a measurement, so the engine's figure is an upper
 * bound. Each figure is the median over the repetitions.
 */
#include "bench_internal.h"
#include "tl_bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl_io.h"

#define REPS_MAX 20

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
		      "--t2t", "--md-interval-ms", "20", "--orders-per-10s", "0",
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

/* ---- the floor: answer every depth frame at once ------------------------------------- */

struct floor_ctx {
	tl_ws_client_t *api;
	uint64_t next_id, answered;
	int opens;
};

static void floor_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct floor_ctx *)user)->opens++;
}

static void floor_md(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	struct floor_ctx *f = user;
	char req[64];
	int n;

	(void)ws;
	(void)op;
	(void)data;
	(void)len;
	n = snprintf(req, sizeof(req), "{\"id\":%" PRIu64 ",\"method\":\"ping\"}", f->next_id++);
	if (tl_ws_client_is_open(f->api) &&
	    tl_ws_client_send(f->api, TL_WS_OP_TEXT, req, (size_t)n) == 0)
		f->answered++;
}

static void floor_api(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	(void)ws;
	(void)user;
	(void)op;
	(void)data;
	(void)len; /* the pongs: nothing to do */
}

static int run_floor(uint16_t port, unsigned seconds)
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

	tl_io_loop_config_default(&lc);
	if ((rc = tl_io_loop_create(&loop, &lc)))
		return rc;
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
	while (tl_io_now_ns() < end)
		if ((rc = tl_io_loop_poll(loop, 0)) <
		    0) /* busy-poll, as the engine's user thread */
			goto out;
	rc = f.answered ? 0 : -EIO;
out:
	if (md && tl_ws_client_is_open(md))
		tl_ws_client_close(md, 1000, "done");
	if (f.api && tl_ws_client_is_open(f.api))
		tl_ws_client_close(f.api, 1000, "done");
	for (int i = 0; i < 200; i++) {
		bool busy = (md && tl_ws_client_destroy(md) == -EBUSY) ||
		            (f.api && tl_ws_client_destroy(f.api) == -EBUSY);

		if (!busy)
			break;
		tl_io_loop_poll(loop, 5000000);
	}
	tl_io_loop_destroy(loop);
	return rc;
}

/* ---- the engine ------------------------------------------------------------------------ */

static int run_engine(uint16_t port, unsigned seconds, uint64_t *internal_p50,
                      uint64_t *internal_p99, uint64_t *internal_n)
{
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
		      port_s, "--set", "strategy.refresh_ticks=0", "--set",
		      "threads.strategy_idle=spin", "--set", "threads.user_poll_us=0", "--set",
		      "run.status_every_ms=0", "--set", "run.reconcile_every_ms=0", "--duration",
		      dur_s, "--ledger-dir", ledger, "--json-summary", summary, (char *)NULL);
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
	*internal_p50 = json_u64(line, "internal_p50_ns");
	*internal_p99 = json_u64(line, "internal_p99_ns");
	*internal_n = json_u64(line, "internal_count");
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
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	uint64_t reps = 3, seconds = 5, v;
	uint64_t fl50[REPS_MAX], fl99[REPS_MAX], en50[REPS_MAX], en99[REPS_MAX], in50[REPS_MAX],
	    in99[REPS_MAX], fln[REPS_MAX], enn[REPS_MAX], inn[REPS_MAX];
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
		case 'h':
			printf(
			    "Usage: tally bench t2t [--json] [--reps N] [--seconds S]\n"
			    "\n"
			    "Tick-to-trade on loopback against `tally sim --t2t` (market data "
			    "every\n"
			    "20 ms): from a depth frame written by the sim to the first WS API "
			    "request\n"
			    "it gets after it. Each repetition measures a minimal responder on the "
			    "same\n"
			    "io path (the floor), then `tally run` (the engine), S seconds each\n"
			    "(default 5), and reads the engine's own part from its summary: a "
			    "depth\n"
			    "event applied to the request submitted. Medians of N repetitions\n"
			    "(default 3).\n"
			    "\n"
			    "Keys (--json): engine_t2t_p50_us, engine_t2t_p99_us, floor_p50_us,\n"
			    "floor_p99_us, engine_vs_floor_p50, internal_p50_ns, internal_p99_ns,\n"
			    "and the sample counts.\n"
			    "\n"
			    "Exit status: 0, 1 when a run failed, 2 on a usage error.\n");
			return 0;
		default:
			return 2;
		}
	}
	for (uint64_t r = 0; r < reps; r++) {
		struct sim_child s;
		int rc;

		fprintf(stderr, "bench t2t: rep %" PRIu64 "/%" PRIu64 ": floor...\n", r + 1, reps);
		if ((rc = sim_start(&s)) || (rc = run_floor(s.port, (unsigned)seconds)) ||
		    (rc = sim_stop(&s, &fln[r], &fl50[r], &fl99[r]))) {
			fprintf(stderr, "bench t2t: the floor run failed: %s\n", strerror(-rc));
			return 1;
		}
		fprintf(stderr, "bench t2t: rep %" PRIu64 "/%" PRIu64 ": engine...\n", r + 1, reps);
		if ((rc = sim_start(&s)) ||
		    (rc = run_engine(s.port, (unsigned)seconds, &in50[r], &in99[r], &inn[r])) ||
		    (rc = sim_stop(&s, &enn[r], &en50[r], &en99[r]))) {
			fprintf(stderr, "bench t2t: the engine run failed: %s\n", strerror(-rc));
			return 1;
		}
		fprintf(
		    stderr,
		    "bench t2t: rep %" PRIu64 ": floor p50 %.1f us (%" PRIu64
		    " samples), engine p50 %.1f us (%" PRIu64 "), internal p50 %" PRIu64 " ns\n",
		    r + 1, (double)fl50[r] / 1e3, fln[r], (double)en50[r] / 1e3, enn[r], in50[r]);
	}
	{
		double f50 = median_u64(fl50, reps) / 1e3, f99 = median_u64(fl99, reps) / 1e3;
		double e50 = median_u64(en50, reps) / 1e3, e99 = median_u64(en99, reps) / 1e3;
		double i50 = median_u64(in50, reps), i99 = median_u64(in99, reps);

		if (json) {
			printf("{\"engine_t2t_p50_us\":%.1f,\"engine_t2t_p99_us\":%.1f,\"floor_p50_"
			       "us\":%.1f,"
			       "\"floor_p99_us\":%.1f,\"engine_vs_floor_p50\":%.2f,\"internal_p50_"
			       "ns\":%.0f,"
			       "\"internal_p99_ns\":%.0f,\"floor_samples\":%.0f,\"engine_samples\":"
			       "%.0f,"
			       "\"internal_samples\":%.0f,\"reps\":%" PRIu64 "}\n",
			       e50, e99, f50, f99, f50 > 0 ? e50 / f50 : 0, i50, i99,
			       median_u64(fln, reps), median_u64(enn, reps), median_u64(inn, reps),
			       reps);
		} else {
			printf("tally bench t2t: median of %" PRIu64 " reps, %" PRIu64 " s each\n",
			       reps, seconds);
			printf("%-44s %10s %10s\n", "", "p50", "p99");
			printf("%-44s %8.1f us %7.1f us\n", "floor: minimal responder", f50, f99);
			printf("%-44s %8.1f us %7.1f us   (%.2fx the floor at p50)\n",
			       "engine: tally run", e50, e99, f50 > 0 ? e50 / f50 : 0);
			printf("%-44s %8.0f ns %7.0f ns\n",
			       "engine internal: depth applied -> request", i50, i99);
			printf("targets, for information only: engine p50 <= 1.5x floor; internal "
			       "p50 <= "
			       "3 us, p99 <= 15 us\n");
		}
	}
	return 0;
}
