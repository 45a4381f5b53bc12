/*
 * bench_venue.c: `tally bench venue`: order entry against `tally sim` on loopback.
 *
 * DESIGN
 * The sim (tl_sim_server, the same code as `tally sim`) runs on its own thread in this
 * process; the client is the engine's own stack: an io_uring loop busy-polling a
 * tl_ws_client, requests built and signed by tl_venue, responses parsed by tl_venue.
 *
 *   sign       tl_venue_sign of an order.place payload (nettle's HMAC-SHA256, the key's
 *              states precomputed, SHA-NI where the CPU has it), against wolfSSL's plain
 *              HMAC (key schedule every call, portable C in Debian's build).
 *   rtt        order.place (LIMIT_MAKER, ACK) to its response, one at a time, each order
 *              cancelled before the next; against the same connection's `ping` request,
 *              which crosses the same sockets and codecs but no signing or matching.
 *   throughput order.place + order.cancel pairs pipelined (a window in flight), with a
 *              user-data subscription, so each order also makes its executionReports:
 *              orders a wall-clock second, and orders per CPU-second of the sim's thread
 *              (the "on one core" figure, which the client's share of this 2-core
 *              machine does not blur).
 *   md         the sim stepping every 1 ms, one client on depth@100ms + trade +
 *              bookTicker: depth updates a second against Binance's 10 a second per
 *              symbol.
 * Each figure is the median over the repetitions.
 */
#include "bench_internal.h"
#include "tl_bench.h"
#include "tl_hist.h"
#include "tl_io.h"
#include "tl_md.h"
#include "tl_sim_server.h"
#include "tl_venue.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define REPS_MAX 20

/* ======================================================================================
 * The sim on a thread
 * ====================================================================================== */

struct sim_thread {
	pthread_t tid;
	struct tl_sim_server_config cfg;
	tl_sim_server_t *srv;
	volatile sig_atomic_t stop;
	_Atomic int state; /* 0 starting, 1 listening, -1 failed */
	uint16_t port;
	clockid_t cpu_clock;
};

static void *sim_main(void *arg)
{
	struct sim_thread *t = arg;

	if (tl_sim_server_create(&t->srv, &t->cfg) != 0) {
		atomic_store(&t->state, -1);
		return NULL;
	}
	t->port = tl_sim_server_port(t->srv);
	pthread_getcpuclockid(pthread_self(), &t->cpu_clock);
	atomic_store(&t->state, 1);
	tl_sim_server_run(t->srv, &t->stop, 0, 0);
	tl_sim_server_destroy(t->srv);
	return NULL;
}

static int sim_thread_start(struct sim_thread *t, uint32_t md_interval_ms)
{
	tl_sim_server_config_default(&t->cfg);
	t->cfg.md_interval_ms = md_interval_ms;
	t->cfg.limits = (struct tl_sim_limits){0, 0, 0};
	t->stop = 0;
	atomic_store(&t->state, 0);
	if (pthread_create(&t->tid, NULL, sim_main, t) != 0)
		return -EAGAIN;
	while (atomic_load(&t->state) == 0)
		sched_yield();
	if (atomic_load(&t->state) < 0) {
		pthread_join(t->tid, NULL);
		return -EIO;
	}
	return 0;
}

static void sim_thread_stop(struct sim_thread *t)
{
	t->stop = 1;
	pthread_join(t->tid, NULL);
}

static int64_t cpu_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ======================================================================================
 * The client
 * ====================================================================================== */

struct client {
	tl_io_loop_t *loop;
	tl_ws_client_t *ws;
	tl_venue_signer_t *signer;
	struct tl_venue_parse_config pc;
	struct tl_venue_instrument inst;
	bool open;
	uint64_t next_id;
	uint64_t answered; /* responses received */
	uint64_t last_id;  /* id of the last response */
	int last_status;
	uint64_t events, bad;
	uint64_t depth; /* md client */
};

static void on_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct client *)user)->open = true;
}

static void on_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	struct client *c = user;
	static struct tl_venue_msg m;

	(void)ws;
	(void)op;
	if (tl_venue_parse(&c->pc, (const char *)data, len, &m) != 0) {
		c->bad++;
		return;
	}
	if (m.kind == TL_VENUE_MSG_RESPONSE) {
		c->answered++;
		c->last_id = m.response.id;
		c->last_status = m.response.status;
	} else {
		c->events++;
	}
}

static void on_md(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	struct client *c = user;

	(void)ws;
	(void)op;
	/* a depth event, cheaply: its "e" */
	if (len > 30 && memmem(data, len < 64 ? len : 64, "depthUpdate", 11))
		c->depth++;
}

static void on_disconnect(tl_ws_client_t *ws, void *user, uint64_t at, int err, uint16_t code,
                          bool retry)
{
	(void)ws;
	(void)at;
	(void)err;
	(void)code;
	(void)retry;
	((struct client *)user)->open = false;
}

static int client_open(struct client *c, uint16_t port, const char *path, bool md)
{
	struct tl_io_loop_config lc;
	struct tl_ws_client_config wc;
	static const struct tl_ws_client_ops ops = {
	    .on_open = on_open, .on_message = on_message, .on_disconnect = on_disconnect};
	static const struct tl_ws_client_ops md_ops = {
	    .on_open = on_open, .on_message = on_md, .on_disconnect = on_disconnect};
	uint64_t end;
	int rc;

	memset(c, 0, sizeof(*c));
	c->next_id = 1;
	snprintf(c->inst.symbol, sizeof(c->inst.symbol), "BTCUSDT");
	c->inst.scale = (struct tl_md_scale){2, 5};
	tl_venue_parse_config_default(&c->pc);
	c->pc.instruments = &c->inst;
	c->pc.n_instruments = 1;
	rc = tl_venue_signer_create(&c->signer, TL_SIM_DEMO_API_SECRET,
	                            strlen(TL_SIM_DEMO_API_SECRET));
	if (rc)
		return rc;
	tl_io_loop_config_default(&lc);
	rc = tl_io_loop_create(&c->loop, &lc);
	if (rc)
		return rc;
	tl_ws_client_config_default(&wc);
	wc.host = "127.0.0.1";
	wc.port = port;
	wc.path = path;
	wc.reconnect = false;
	wc.conn.tx_buf_bytes = 4u << 20;
	wc.max_msg_bytes = 4u << 20;
	rc = tl_ws_client_create(&c->ws, c->loop, &wc, md ? &md_ops : &ops, c);
	if (rc)
		return rc;
	rc = tl_ws_client_connect(c->ws);
	if (rc)
		return rc;
	end = tl_io_now_ns() + 5000000000ull;
	while (!c->open && tl_io_now_ns() < end)
		tl_io_loop_poll(c->loop, 1000000);
	return c->open ? 0 : -ETIMEDOUT;
}

static void client_close(struct client *c)
{
	if (c->ws) {
		uint64_t end = tl_io_now_ns() + 2000000000ull;

		if (tl_ws_client_is_open(c->ws))
			tl_ws_client_close(c->ws, 1000, "done");
		while (c->open && tl_io_now_ns() < end)
			tl_io_loop_poll(c->loop, 1000000);
		for (int i = 0; i < 20; i++)
			tl_io_loop_poll(c->loop, 1000000);
		tl_ws_client_destroy(c->ws);
	}
	if (c->loop)
		tl_io_loop_destroy(c->loop);
	tl_venue_signer_destroy(c->signer);
}

static struct tl_venue_auth auth(struct client *c)
{
	return (struct tl_venue_auth){.signer = c->signer,
	                              .api_key = TL_SIM_DEMO_API_KEY,
	                              .timestamp_ms = tl_bench_wall_ms(),
	                              .recv_window_ms = 5000};
}

/* Waits until `n` responses in total have come; returns false on a timeout or a drop. */
static bool wait_answers(struct client *c, uint64_t n)
{
	uint64_t end = tl_io_now_ns() + 10000000000ull;

	while (c->answered < n) {
		if (!c->open || tl_io_now_ns() > end)
			return false;
		tl_io_loop_poll(c->loop, 0);
	}
	return true;
}

static ssize_t build_place(struct client *c, char *buf, size_t cap, uint64_t id, uint64_t n)
{
	struct tl_venue_auth a = auth(c);
	char cid[40];
	struct tl_venue_order_req r = {
	    .symbol = "BTCUSDT",
	    .client_order_id = cid,
	    .side = TL_VENUE_BUY,
	    .type = TL_VENUE_LIMIT_MAKER,
	    .tif = TL_VENUE_TIF_NONE,
	    .px = {1000000 + (int64_t)(n % 1000)}, /* 10000.00 and up: far below the walk */
	    .qty = {1000},
	    .scale = {2, 5},
	    .resp_type = TL_VENUE_RESP_ACK,
	};

	snprintf(cid, sizeof(cid), "b-%" PRIu64, n);
	return tl_venue_build_order_place(buf, cap, id, &a, &r);
}

static ssize_t build_cancel(struct client *c, char *buf, size_t cap, uint64_t id, uint64_t n)
{
	struct tl_venue_auth a = auth(c);
	char cid[40];
	struct tl_venue_order_ref ref = {.symbol = "BTCUSDT", .orig_client_order_id = cid};

	snprintf(cid, sizeof(cid), "b-%" PRIu64, n);
	return tl_venue_build_order_cancel(buf, cap, id, &a, &ref);
}

static int send_msg(struct client *c, const char *buf, ssize_t n)
{
	int rc;

	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	while ((rc = tl_ws_client_send(c->ws, TL_WS_OP_TEXT, buf, (size_t)n)) == -ENOBUFS)
		tl_io_loop_poll(c->loop, 0);
	return rc;
}

/* ======================================================================================
 * The measurements
 * ====================================================================================== */

static double sign_rep(const tl_venue_signer_t *s, const char *payload, size_t len, int iters)
{
	char hex[TL_VENUE_SIG_HEX_LEN + 1];
	int64_t t0 = tl_io_now_ns();

	for (int i = 0; i < iters; i++)
		tl_venue_sign(s, payload, len, hex);
	return (double)(tl_io_now_ns() - t0) / iters;
}

static double plain_hmac_rep(const char *key, const char *payload, size_t len, int iters)
{
	unsigned char mac[WC_SHA256_DIGEST_SIZE];
	Hmac h;
	int64_t t0 = tl_io_now_ns();

	for (int i = 0; i < iters; i++) {
		wc_HmacInit(&h, NULL, INVALID_DEVID);
		wc_HmacSetKey(&h, WC_SHA256, (const byte *)key, (word32)strlen(key));
		wc_HmacUpdate(&h, (const byte *)payload, (word32)len);
		wc_HmacFinal(&h, mac);
		wc_HmacFree(&h);
	}
	return (double)(tl_io_now_ns() - t0) / iters;
}

struct figures {
	double sign_ns[REPS_MAX], hmac_ns[REPS_MAX];
	double rtt_p50[REPS_MAX], rtt_p99[REPS_MAX], ping_p50[REPS_MAX], ping_p99[REPS_MAX];
	double orders_wall[REPS_MAX], orders_cpu[REPS_MAX];
	double md_depth_per_s[REPS_MAX];
};

/* One repetition of rtt: n orders, one at a time, and n pings. */
static int rtt_rep(struct client *c, int n, uint64_t *serial, double *p50, double *p99,
                   double *ping50, double *ping99)
{
	static tl_hist_t h, hp; /* 60 KB each: off the stack */
	char buf[2048];

	tl_hist_reset(&h);
	tl_hist_reset(&hp);
	for (int i = 0; i < n; i++) {
		uint64_t id = c->next_id++, k = (*serial)++;
		ssize_t len = build_place(c, buf, sizeof(buf), id, k);
		uint64_t t0 = tl_io_now_ns();

		if (send_msg(c, buf, len) || !wait_answers(c, c->answered + 1))
			return -EIO;
		tl_hist_record(&h, tl_io_now_ns() - t0);
		if (c->last_status != 200)
			return -EPROTO;
		id = c->next_id++;
		len = build_cancel(c, buf, sizeof(buf), id, k);
		if (send_msg(c, buf, len) || !wait_answers(c, c->answered + 1))
			return -EIO;

		id = c->next_id++;
		len = snprintf(buf, sizeof(buf), "{\"id\":%" PRIu64 ",\"method\":\"ping\"}", id);
		t0 = tl_io_now_ns();
		if (send_msg(c, buf, len) || !wait_answers(c, c->answered + 1))
			return -EIO;
		tl_hist_record(&hp, tl_io_now_ns() - t0);
	}
	*p50 = (double)tl_hist_quantile(&h, 0.50) / 1000.0;
	*p99 = (double)tl_hist_quantile(&h, 0.99) / 1000.0;
	*ping50 = (double)tl_hist_quantile(&hp, 0.50) / 1000.0;
	*ping99 = (double)tl_hist_quantile(&hp, 0.99) / 1000.0;
	return 0;
}

/* One repetition of throughput: n place+cancel pairs, `window` pairs in flight. */
static int throughput_rep(struct client *c, struct sim_thread *st, int n, int window,
                          uint64_t *serial, double *per_wall_s, double *per_cpu_s)
{
	char buf[2048];
	uint64_t base = c->answered;
	int64_t t0 = tl_io_now_ns(), c0 = cpu_ns(st->cpu_clock), t1, c1;

	for (int i = 0; i < n; i++) {
		uint64_t k = (*serial)++;

		/* keep at most `window` pairs unanswered */
		while ((int64_t)(c->answered - base) < 2 * (int64_t)(i - window)) {
			if (!c->open)
				return -EIO;
			tl_io_loop_poll(c->loop, 0);
		}
		if (send_msg(c, buf, build_place(c, buf, sizeof(buf), c->next_id++, k)) ||
		    send_msg(c, buf, build_cancel(c, buf, sizeof(buf), c->next_id++, k)))
			return -EIO;
		tl_io_loop_poll(c->loop, 0);
	}
	if (!wait_answers(c, base + 2 * (uint64_t)n))
		return -EIO;
	t1 = tl_io_now_ns();
	c1 = cpu_ns(st->cpu_clock);
	*per_wall_s = (double)n * 1e9 / (double)(t1 - t0);
	*per_cpu_s = c1 > c0 ? (double)n * 1e9 / (double)(c1 - c0) : 0;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: tally bench venue [--json] [--reps N] [--orders N] [--window N]\n"
	        "\n"
	        "Order entry through the io layer against the venue simulator (tally sim, on a\n"
	        "thread of this process, on loopback):\n"
	        "  sign_ns_p50          HMAC-SHA256 of an order.place payload (nettle, key\n"
	        "                       states precomputed), vs wolfSSL's plain HMAC in the\n"
	        "                       same run\n"
	        "  order_rtt_p50_us/p99 order.place to its ACK, one at a time, vs a ping request\n"
	        "  sim_orders_per_s     pipelined place+cancel pairs: orders a second, and per\n"
	        "                       CPU-second of the sim's thread (target >= 50000)\n"
	        "  md_depth_per_s       depth updates a second with a 1 ms step, vs Binance's 10\n"
	        "\n"
	        "Options:\n"
	        "  --json        one JSON object on stdout\n"
	        "  --reps N      repetitions of each measurement (default 5, 1..%d)\n"
	        "  --orders N    orders per repetition of the round trip (default 1000); the\n"
	        "                throughput runs 20 times as many\n"
	        "  --window N    place+cancel pairs in flight (default 64)\n",
	        REPS_MAX);
}

int tl_bench_venue(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},         {"reps", required_argument, NULL, 'r'},
	    {"orders", required_argument, NULL, 'n'}, {"window", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	static struct figures f;
	struct sim_thread st;
	struct client c, mdc;
	uint64_t reps = 5, orders = 1000, window = 64, serial = 1, v;
	bool json = false;
	int opt, rc;
	char payload[2048];
	int payload_len;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, REPS_MAX, &v)) {
				tl_bench_bad_value("venue", "reps", "1..20");
				return 2;
			}
			reps = v;
			break;
		case 'n':
			if (tl_bench_parse_u64(optarg, 10, 1000000, &v)) {
				tl_bench_bad_value("venue", "orders", "10..1000000");
				return 2;
			}
			orders = v;
			break;
		case 'w':
			if (tl_bench_parse_u64(optarg, 1, 4096, &v)) {
				tl_bench_bad_value("venue", "window", "1..4096");
				return 2;
			}
			window = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	/* sign: PROTOCOL.md's order.place payload */
	payload_len = snprintf(payload, sizeof(payload),
	                       "apiKey=%s&newClientOrderId=b-1&newOrderRespType=ACK&price=52000.00&"
	                       "quantity=0.01000&recvWindow=5000&side=SELL&symbol=BTCUSDT&"
	                       "timeInForce=GTC&timestamp=1645423376532&type=LIMIT",
	                       TL_SIM_DEMO_API_KEY);
	fprintf(stderr, "bench venue: signing...\n");
	{
		tl_venue_signer_t *s;

		if (tl_venue_signer_create(&s, TL_SIM_DEMO_API_SECRET,
		                           strlen(TL_SIM_DEMO_API_SECRET)))
			return 1;
		for (uint64_t r = 0; r < reps; r++) {
			f.sign_ns[r] = sign_rep(s, payload, (size_t)payload_len, 20000);
			f.hmac_ns[r] = plain_hmac_rep(TL_SIM_DEMO_API_SECRET, payload,
			                              (size_t)payload_len, 20000);
		}
		tl_venue_signer_destroy(s);
	}

	/* rtt and throughput, against one sim */
	rc = sim_thread_start(&st, 100);
	if (rc) {
		fprintf(stderr, "bench venue: the sim did not start: %s\n", strerror(-rc));
		return 1;
	}
	rc = client_open(&c, st.port, "/ws-api/v3", false);
	if (rc) {
		fprintf(stderr, "bench venue: cannot connect to the sim: %s\n", strerror(-rc));
		sim_thread_stop(&st);
		return 1;
	}
	{
		struct tl_venue_auth a = auth(&c);
		char buf[1024];

		if (send_msg(&c, buf,
		             tl_venue_build_subscribe(buf, sizeof(buf), c.next_id++, &a)) ||
		    !wait_answers(&c, 1) || c.last_status != 200) {
			fprintf(stderr, "bench venue: subscribe failed\n");
			rc = -EIO;
		}
	}
	for (uint64_t r = 0; r < reps && !rc; r++) {
		fprintf(stderr, "bench venue: round trips, repetition %" PRIu64 "/%" PRIu64 "\n",
		        r + 1, reps);
		rc = rtt_rep(&c, (int)orders, &serial, &f.rtt_p50[r], &f.rtt_p99[r], &f.ping_p50[r],
		             &f.ping_p99[r]);
	}
	for (uint64_t r = 0; r < reps && !rc; r++) {
		fprintf(stderr, "bench venue: throughput, repetition %" PRIu64 "/%" PRIu64 "\n",
		        r + 1, reps);
		rc = throughput_rep(&c, &st, (int)(orders * 20), (int)window, &serial,
		                    &f.orders_wall[r], &f.orders_cpu[r]);
	}
	client_close(&c);
	sim_thread_stop(&st);
	if (rc) {
		fprintf(stderr, "bench venue: failed: %s\n", strerror(rc < 0 ? -rc : rc));
		return 1;
	}

	/* market data at a 1 ms step */
	rc = sim_thread_start(&st, 1);
	if (!rc)
		rc = client_open(
		    &mdc, st.port,
		    "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker", true);
	for (uint64_t r = 0; r < reps && !rc; r++) {
		uint64_t d0 = mdc.depth;
		int64_t t0 = tl_io_now_ns(), t1;

		fprintf(stderr, "bench venue: market data, repetition %" PRIu64 "/%" PRIu64 "\n",
		        r + 1, reps);
		while ((t1 = tl_io_now_ns()) - t0 < 1000000000)
			tl_io_loop_poll(mdc.loop, 1000000);
		f.md_depth_per_s[r] = (double)(mdc.depth - d0) * 1e9 / (double)(t1 - t0);
	}
	client_close(&mdc);
	sim_thread_stop(&st);
	if (rc) {
		fprintf(stderr, "bench venue: market data failed: %s\n", strerror(-rc));
		return 1;
	}

	{
		int n = (int)reps;
		double sign = tl_bench_median(f.sign_ns, n), hmac = tl_bench_median(f.hmac_ns, n);
		double p50 = tl_bench_median(f.rtt_p50, n), p99 = tl_bench_median(f.rtt_p99, n);
		double g50 = tl_bench_median(f.ping_p50, n), g99 = tl_bench_median(f.ping_p99, n);
		double ow = tl_bench_median(f.orders_wall, n),
		       oc = tl_bench_median(f.orders_cpu, n);
		double md = tl_bench_median(f.md_depth_per_s, n);

		if (json) {
			printf(
			    "{\"sign_ns_p50\":%.0f,\"plain_hmac_ns_p50\":%.0f,"
			    "\"sign_vs_plain_ratio\":%.2f,"
			    "\"order_rtt_p50_us\":%.1f,\"order_rtt_p99_us\":%.1f,"
			    "\"ping_rtt_p50_us\":%.1f,\"ping_rtt_p99_us\":%.1f,"
			    "\"order_vs_ping_p50_ratio\":%.2f,"
			    "\"sim_orders_per_s\":%.0f,\"sim_orders_per_cpu_s\":%.0f,"
			    "\"md_depth_per_s\":%.0f,\"md_vs_binance_ratio\":%.1f,\"reps\":%d}\n",
			    sign, hmac, hmac > 0 ? sign / hmac : 0, p50, p99, g50, g99,
			    g50 > 0 ? p50 / g50 : 0, ow, oc, md, md / 10.0, n);
		} else {
			printf("venue (medians of %d repetitions)\n", n);
			printf("  sign (nettle, precomputed)  %7.0f ns   wolfSSL HMAC %6.0f ns   "
			       "ratio %.2f\n",
			       sign, hmac, hmac > 0 ? sign / hmac : 0);
			printf("  order.place -> ACK          p50 %7.1f us  p99 %7.1f us\n", p50,
			       p99);
			printf("  ping -> answer (baseline)   p50 %7.1f us  p99 %7.1f us   ratio "
			       "%.2f\n",
			       g50, g99, g50 > 0 ? p50 / g50 : 0);
			printf("  sim orders                 %8.0f /s wall   %8.0f /s per sim "
			       "CPU-second "
			       "(target 50000)\n",
			       ow, oc);
			printf("  md depth updates           %8.0f /s   = %.1fx Binance's 10/s "
			       "(target 10x)\n",
			       md, md / 10.0);
		}
	}
	return 0;
}
