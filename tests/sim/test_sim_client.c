/*
 * test_sim_client: a scripted client against `tally sim`, built on the project's own io
 * layer (io_uring sockets, the WebSocket and HTTP clients) and codecs (tl_venue request
 * builders and parsers, tl_md parsing). Each scenario starts a real `tally sim` process
 * with its flags, talks to it on loopback, asserts what it must see, and stops it with
 * SIGTERM (exit 0 required).
 *
 * Scenarios:
 *   basic        exchangeInfo and depth over REST; market data over a combined stream
 *                (depth ids contiguous, bridged by the snapshot); subscribe; a resting
 *                order, a partly filled one, a cancel; every executionReport seen; the
 *                -2010 / -1022 / -2015 / -1100 family of refusals; balances == initial
 *                + fills - fees, exactly, against the venue's own account.status
 *   drop-fills   fills' executionReports never arrive; myTrades from the last trade id
 *                recovers each one, and the balances agree
 *   unknown      order.place answered 503 / 408 (outcome unknown), resolved by
 *                order.status: the order exists
 *   dup          every user event twice: the deduplicated stream equals the sent one
 *   reorder      user events out of order: the same set arrives
 *   delay        user events arrive at least the delay after the response
 *   rate-limit   429 with -1003 / -1015 and a retryAfter, classified RATE_LIMITED
 *   limits       a real ORDERS limit of 3 per 10 s: the 4th order gets -1015
 *   refuse-usr1  SIGUSR1: the next 3 myTrades requests get 429 (-1003), the 4th is
 *                served, and other methods are not refused
 *   skew         the venue's clock 8 s ahead: -1021, then fixed by measuring the offset
 *   drop-conn    connections dropped every 400 ms, both ways (serverShutdown + 1001, and
 *                a bare cut, 1006); the client reconnects each time
 *   tls          the same protocol over TLS with the sim's generated certificate
 *   malformed    garbage on every endpoint: error answers, and the sim keeps serving
 *   garble       every user event cut short: tl_venue_session counts each, resyncs the
 *                connection and asks for a back-fill, which finds every fill
 *   replay       background liquidity from the recorded BTCUSDT capture (--replay, 20x):
 *                every book a client syncs from the depth stream equals, in its top 10
 *                levels, the captured book at some point of the capture; the trade prints
 *                are a run of the captured trades, in order; resting orders are filled by
 *                the captured flow, and the balances agree
 *
 * Usage: test_sim_client TALLY_BINARY DATA_DIR [scenario...]   (default: all)
 *   DATA_DIR is ../shared/data (the recorded captures).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tl_io.h"
#include "tl_md.h"
#include "tl_sim_server.h" /* the demo key pair */
#include "tl_test.h"
#include "tl_venue.h"
#include "tl_venue_session.h"

#define SYMBOL "BTCUSDT"
#define PX_DEC 2
#define QTY_DEC 5
#define EXEC_MAX 4096
#define RESP_MAX 512

static const char *tally_bin;
static const char *data_dir;
static pid_t running_sim; /* killed at exit, so that a failed check leaves no sim behind */

static void kill_running_sim(void)
{
	if (running_sim > 0)
		kill(running_sim, SIGKILL);
}

/* ======================================================================================
 * The sim process
 * ====================================================================================== */

struct simproc {
	pid_t pid;
	FILE *out;
	uint16_t port;
};

static void sim_start(struct simproc *sp, const char *const *extra)
{
	const char *argv[64];
	int n = 0, fds[2];
	char line[512];
	unsigned port = 0;

	argv[n++] = tally_bin;
	argv[n++] = "sim";
	argv[n++] = "--md-interval-ms";
	argv[n++] = "20";
	argv[n++] = "--status-every";
	argv[n++] = "0";
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	CHECK(pipe(fds) == 0);
	sp->pid = fork();
	CHECK(sp->pid >= 0);
	if (sp->pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(tally_bin, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	running_sim = sp->pid;
	sp->out = fdopen(fds[0], "r");
	CHECK(sp->out);
	CHECK(fgets(line, sizeof(line), sp->out));
	CHECK(strstr(line, "\"event\":\"listening\""));
	CHECK(sscanf(strstr(line, "\"port\":"), "\"port\":%u", &port) == 1);
	CHECK(port > 0 && port < 65536);
	sp->port = (uint16_t)port;
}

/* Stops the sim with SIGTERM: it must say "stopped" and exit 0. Returns its stop line. */
static void sim_stop(struct simproc *sp, char *stats, size_t cap)
{
	char line[1024];
	int st;
	bool stopped = false;

	CHECK(kill(sp->pid, SIGTERM) == 0);
	while (fgets(line, sizeof(line), sp->out)) {
		if (strstr(line, "\"event\":\"stopped\"")) {
			stopped = true;
			if (stats)
				snprintf(stats, cap, "%s", line);
		}
	}
	fclose(sp->out);
	CHECK(waitpid(sp->pid, &st, 0) == sp->pid);
	running_sim = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "tally sim: %s %d\n",
		        WIFEXITED(st) ? "exit status" : "killed by signal",
		        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(stopped);
}

/* ======================================================================================
 * The client
 * ====================================================================================== */

struct seen_resp {
	uint64_t id;
	struct tl_venue_response r;
	char raw[1024];
};

struct client {
	tl_io_loop_t *loop;
	tl_ws_client_t *api, *md;
	tl_http_client_t *http;
	tl_venue_signer_t *signer;
	struct tl_venue_instrument inst;
	struct tl_venue_parse_config pc;
	struct tl_md_scale scale;
	tl_md_parser_t *mdp;
	bool tls;
	const char *ca_file;
	uint16_t port;
	int64_t clock_offset_ms;
	uint64_t next_id;

	/* WS API */
	int api_opens, api_disconnects;
	uint16_t close_codes[64];
	struct seen_resp *resp; /* RESP_MAX, by id % RESP_MAX */
	struct tl_venue_exec_report *ex;
	int64_t *ex_at_ms;
	uint32_t n_ex;
	struct tl_venue_account_position pos;
	uint32_t n_pos, shutdowns, bad_msgs;
	char arrivals[EXEC_MAX]; /* user events in arrival order: 'X' report, 'P' position */
	uint32_t n_arrivals;

	/* market data */
	int md_opens;
	uint64_t md_depth, md_trade, md_ticker, md_bad, first_U, last_u;
	uint32_t md_gaps;

	/* REST */
	bool http_done;
	int http_err, http_status;
	char *http_body;
	size_t http_len;
	int64_t http_retry_after;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void api_on_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct client *)user)->api_opens++;
}

static void api_on_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data,
                           size_t len)
{
	struct client *c = user;
	static struct tl_venue_msg m;

	(void)ws;
	(void)op;
	if (tl_venue_parse(&c->pc, (const char *)data, len, &m) != 0) {
		fprintf(stderr, "unparsable message: %.*s\n", (int)(len > 300 ? 300 : len),
		        (const char *)data);
		c->bad_msgs++;
		return;
	}
	switch (m.kind) {
	case TL_VENUE_MSG_RESPONSE: {
		struct seen_resp *s = &c->resp[m.response.id % RESP_MAX];

		s->id = m.response.has_id ? m.response.id : UINT64_MAX;
		s->r = m.response;
		snprintf(s->raw, sizeof(s->raw), "%.*s", (int)len, (const char *)data);
		if (!m.response.has_id) /* an id we could not read: keep it at slot 0 */
			c->resp[0] = *s;
		break;
	}
	case TL_VENUE_MSG_EXEC_REPORT:
		CHECK(c->n_ex < EXEC_MAX);
		c->ex_at_ms[c->n_ex] = wall_ms();
		c->ex[c->n_ex++] = m.exec;
		if (c->n_arrivals < EXEC_MAX)
			c->arrivals[c->n_arrivals++] = 'X';
		break;
	case TL_VENUE_MSG_ACCOUNT_POSITION:
		c->pos = m.position;
		c->n_pos++;
		if (c->n_arrivals < EXEC_MAX)
			c->arrivals[c->n_arrivals++] = 'P';
		break;
	case TL_VENUE_MSG_SERVER_SHUTDOWN:
		c->shutdowns++;
		break;
	default:
		break;
	}
}

static void api_on_disconnect(tl_ws_client_t *ws, void *user, uint64_t at_ns, int err,
                              uint16_t code, bool will_retry)
{
	struct client *c = user;

	(void)ws;
	(void)at_ns;
	(void)err;
	(void)will_retry;
	if (c->api_disconnects < 64)
		c->close_codes[c->api_disconnects] = code;
	c->api_disconnects++;
}

static void md_on_open(tl_ws_client_t *ws, void *user)
{
	struct client *c = user;

	(void)ws;
	c->md_opens++;
	c->last_u = 0; /* a new connection starts a new sequence check */
}

static void md_on_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data,
                          size_t len)
{
	struct client *c = user;
	struct tl_md_msg m;

	(void)ws;
	(void)op;
	if (tl_md_parse(c->mdp, (const char *)data, len, &m) != 0) {
		c->md_bad++;
		return;
	}
	if (m.kind == TL_MD_DEPTH) {
		if (!c->first_U)
			c->first_U = m.first_id;
		if (c->last_u && m.first_id != c->last_u + 1)
			c->md_gaps++;
		c->last_u = m.final_id;
		c->md_depth++;
	} else if (m.kind == TL_MD_TRADE) {
		c->md_trade++;
	} else if (m.kind == TL_MD_TICKER) {
		c->md_ticker++;
	}
}

static void on_http(tl_http_client_t *cl, void *user, int err, const struct tl_http_response *r)
{
	struct client *c = user;
	size_t vlen;
	const char *ra;

	(void)cl;
	c->http_done = true;
	c->http_err = err;
	if (err)
		return;
	c->http_status = r->status;
	c->http_len = r->body_len < (1u << 20) ? r->body_len : (1u << 20);
	memcpy(c->http_body, r->body_buf, c->http_len);
	c->http_body[c->http_len] = 0;
	ra = tl_http_header_get(r, "retry-after", &vlen);
	c->http_retry_after = ra ? atoll(ra) : 0;
}

static void pump_until(struct client *c, bool (*done)(struct client *, void *), void *arg,
                       int timeout_ms, const char *what)
{
	uint64_t end = tl_io_now_ns() + (uint64_t)timeout_ms * 1000000;

	while (!done(c, arg)) {
		if (tl_io_now_ns() > end) {
			fprintf(stderr, "timed out waiting for %s\n", what);
			exit(1);
		}
		CHECK(tl_io_loop_poll(c->loop, 5000000) >= 0);
	}
}

static void pump_for(struct client *c, int ms)
{
	uint64_t end = tl_io_now_ns() + (uint64_t)ms * 1000000;

	while (tl_io_now_ns() < end)
		CHECK(tl_io_loop_poll(c->loop, 2000000) >= 0);
}

static bool api_is_open(struct client *c, void *arg)
{
	(void)arg;
	return tl_ws_client_is_open(c->api);
}

static bool md_is_open(struct client *c, void *arg)
{
	(void)arg;
	return tl_ws_client_is_open(c->md);
}

static void client_open(struct client *c, uint16_t port, bool tls, const char *ca_file,
                        bool with_md)
{
	static const struct tl_ws_client_ops api_ops = {
	    .on_open = api_on_open,
	    .on_message = api_on_message,
	    .on_disconnect = api_on_disconnect,
	};
	static const struct tl_ws_client_ops md_ops = {.on_open = md_on_open,
	                                               .on_message = md_on_message};
	struct tl_io_loop_config lc;
	struct tl_ws_client_config wc;
	struct tl_http_client_config hc;
	struct tl_md_parser_config mc;

	memset(c, 0, sizeof(*c));
	c->port = port;
	c->tls = tls;
	c->ca_file = ca_file;
	c->next_id = 1;
	c->resp = calloc(RESP_MAX, sizeof(*c->resp));
	c->ex = calloc(EXEC_MAX, sizeof(*c->ex));
	c->ex_at_ms = calloc(EXEC_MAX, sizeof(*c->ex_at_ms));
	c->http_body = malloc((1u << 20) + 1);
	CHECK(c->resp && c->ex && c->ex_at_ms && c->http_body);
	c->scale = (struct tl_md_scale){PX_DEC, QTY_DEC};
	snprintf(c->inst.symbol, sizeof(c->inst.symbol), SYMBOL);
	c->inst.scale = c->scale;
	tl_venue_parse_config_default(&c->pc);
	c->pc.instruments = &c->inst;
	c->pc.n_instruments = 1;
	CHECK(tl_venue_signer_create(&c->signer, TL_SIM_DEMO_API_SECRET,
	                             strlen(TL_SIM_DEMO_API_SECRET)) == 0);
	tl_md_parser_config_default(&mc);
	mc.scale = c->scale;
	CHECK(tl_md_parser_create(&c->mdp, &mc) == 0);

	tl_io_loop_config_default(&lc);
	CHECK(tl_io_loop_create(&c->loop, &lc) == 0);

	tl_ws_client_config_default(&wc);
	wc.conn.tls = tls;
	wc.conn.ca_file = ca_file;
	wc.conn.tls_no_system_cas = tls;
	wc.host = tls ? "localhost" : "127.0.0.1";
	wc.port = port;
	wc.path = "/ws-api/v3";
	wc.backoff_base_ns = 20000000;
	wc.backoff_cap_ns = 200000000;
	CHECK(tl_ws_client_create(&c->api, c->loop, &wc, &api_ops, c) == 0);
	CHECK(tl_ws_client_connect(c->api) == 0);
	pump_until(c, api_is_open, NULL, 5000, "the WS API connection");

	if (with_md) {
		wc.path = "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker";
		CHECK(tl_ws_client_create(&c->md, c->loop, &wc, &md_ops, c) == 0);
		CHECK(tl_ws_client_connect(c->md) == 0);
		pump_until(c, md_is_open, NULL, 5000, "the market-data connection");
	}

	tl_http_client_config_default(&hc);
	hc.conn.tls = tls;
	hc.conn.ca_file = ca_file;
	hc.conn.tls_no_system_cas = tls;
	hc.host = tls ? "localhost" : "127.0.0.1";
	hc.port = port;
	CHECK(tl_http_client_create(&c->http, c->loop, &hc, on_http, c) == 0);
}

static bool ws_closed(struct client *c, void *arg)
{
	tl_ws_client_t *ws = arg;

	(void)c;
	return !ws || !tl_ws_client_is_open(ws);
}

static void client_close(struct client *c)
{
	tl_ws_client_t *all[2] = {c->api, c->md};

	for (int i = 0; i < 2; i++) {
		int rc;

		if (!all[i])
			continue;
		/* Close in any state: after a dropped connection the client may be reconnecting,
		 * and only a close stops that (destroying it mid-connect is -EBUSY). */
		tl_ws_client_close(all[i], 1000, "done");
		pump_until(c, ws_closed, all[i], 3000, "the close");
		for (int t = 0; (rc = tl_ws_client_destroy(all[i])) == -EBUSY && t < 300; t++)
			pump_for(c, 10);
		CHECK(rc == 0);
	}
	tl_http_client_close(c->http);
	pump_for(c, 20);
	CHECK(tl_http_client_destroy(c->http) == 0);
	tl_io_loop_destroy(c->loop);
	tl_md_parser_destroy(c->mdp);
	tl_venue_signer_destroy(c->signer);
	free(c->resp);
	free(c->ex);
	free(c->ex_at_ms);
	free(c->http_body);
}

static struct tl_venue_auth auth_now(struct client *c)
{
	return (struct tl_venue_auth){.signer = c->signer,
	                              .api_key = TL_SIM_DEMO_API_KEY,
	                              .timestamp_ms = wall_ms() + c->clock_offset_ms,
	                              .recv_window_ms = 5000};
}

static bool have_resp(struct client *c, void *arg)
{
	return c->resp[*(uint64_t *)arg % RESP_MAX].id == *(uint64_t *)arg;
}

/* Sends a request (already built with id) and waits for its response. */
static const struct tl_venue_response *call(struct client *c, const char *req, ssize_t len,
                                            uint64_t id)
{
	CHECK(len > 0);
	c->resp[id % RESP_MAX].id = 0;
	CHECK(tl_ws_client_send(c->api, TL_WS_OP_TEXT, req, (size_t)len) == 0);
	pump_until(c, have_resp, &id, 5000, "a response");
	return &c->resp[id % RESP_MAX].r;
}

static const struct tl_venue_response *place(struct client *c, const char *cid,
                                             enum tl_venue_side side, enum tl_venue_order_type type,
                                             int64_t px, int64_t qty)
{
	struct tl_venue_auth a = auth_now(c);
	struct tl_venue_order_req r = {
	    .symbol = SYMBOL,
	    .client_order_id = cid,
	    .side = side,
	    .type = type,
	    .tif = type == TL_VENUE_LIMIT ? TL_VENUE_GTC : TL_VENUE_TIF_NONE,
	    .px = {px},
	    .qty = {qty},
	    .scale = c->scale,
	    .resp_type = TL_VENUE_RESP_ACK,
	};
	char buf[2048];
	uint64_t id = c->next_id++;

	return call(c, buf, tl_venue_build_order_place(buf, sizeof(buf), id, &a, &r), id);
}

static const struct tl_venue_response *signed_call(struct client *c, const char *method,
                                                   struct tl_venue_param *extra, size_t n_extra)
{
	struct tl_venue_param p[16];
	char ts[32], buf[2048];
	size_t n = 0;
	uint64_t id = c->next_id++;

	snprintf(ts, sizeof(ts), "%lld", (long long)(wall_ms() + c->clock_offset_ms));
	p[n++] = (struct tl_venue_param){"apiKey", TL_SIM_DEMO_API_KEY, true};
	for (size_t i = 0; i < n_extra; i++)
		p[n++] = extra[i];
	p[n++] = (struct tl_venue_param){"timestamp", ts, false};
	return call(c, buf, tl_venue_build_signed(buf, sizeof(buf), id, method, p, n, c->signer),
	            id);
}

static void subscribe(struct client *c)
{
	struct tl_venue_auth a = auth_now(c);
	char buf[1024];
	uint64_t id = c->next_id++;
	const struct tl_venue_response *r =
	    call(c, buf, tl_venue_build_subscribe(buf, sizeof(buf), id, &a), id);

	CHECK_EQ(r->status, 200);
	CHECK(r->result_kind == TL_VENUE_RESULT_SUBSCRIPTION);
}

static bool http_finished(struct client *c, void *arg)
{
	(void)arg;
	return c->http_done;
}

static void rest_get(struct client *c, const char *target, bool with_key)
{
	struct tl_http_header h = {"X-MBX-APIKEY", 12, TL_SIM_DEMO_API_KEY,
	                           strlen(TL_SIM_DEMO_API_KEY)};

	c->http_done = false;
	CHECK(tl_http_client_request(c->http, "GET", target, with_key ? &h : NULL, with_key ? 1 : 0,
	                             NULL, 0) == 0);
	pump_until(c, http_finished, NULL, 5000, target);
	if (c->http_err)
		fprintf(stderr, "GET %s: %s\n", target, strerror(-c->http_err));
	CHECK_EQ(c->http_err, 0);
}

/* Best bid and ask from a REST snapshot. */
static void top_of_book(struct client *c, int64_t *bid, int64_t *ask, uint64_t *last_id)
{
	struct tl_md_msg m;

	rest_get(c, "/api/v3/depth?symbol=BTCUSDT&limit=5", false);
	CHECK_EQ(c->http_status, 200);
	CHECK(tl_md_parse(c->mdp, c->http_body, c->http_len, &m) == 0);
	CHECK(m.kind == TL_MD_SNAPSHOT);
	CHECK(m.n_bids > 0 && m.n_asks > 0);
	*bid = m.bids[0].px;
	*ask = m.asks[0].px;
	if (last_id)
		*last_id = m.final_id;
	CHECK(*bid < *ask);
}

/* The account's balances as the venue reports them (account.status). */
static void venue_balances(struct client *c, int64_t *btc, int64_t *usdt)
{
	const struct tl_venue_response *r = signed_call(c, "account.status", NULL, 0);
	const char *raw = c->resp[(c->next_id - 1) % RESP_MAX].raw;
	const char *p;
	int64_t v;

	CHECK_EQ(r->status, 200);
	/* {"asset":"BTC","free":"..","locked":".."}: free + locked, read with the md
	 * decimal parser (the raw text is kept for this). */
	*btc = *usdt = INT64_MIN;
	for (p = raw; (p = strstr(p, "\"asset\":\"")); p++) {
		const char *name = p + 9, *f = strstr(p, "\"free\":\""),
		           *l = strstr(p, "\"locked\":\"");
		int64_t free_u, locked_u;

		CHECK(f && l);
		CHECK(tl_md_dec_parse(f + 8, (size_t)(strchr(f + 8, '"') - (f + 8)), 8, &free_u) ==
		      0);
		CHECK(tl_md_dec_parse(l + 10, (size_t)(strchr(l + 10, '"') - (l + 10)), 8,
		                      &locked_u) == 0);
		v = free_u + locked_u;
		if (!strncmp(name, "BTC\"", 4))
			*btc = v;
		else if (!strncmp(name, "USDT\"", 5))
			*usdt = v;
	}
	CHECK(*btc != INT64_MIN && *usdt != INT64_MIN);
}

/* Exec reports of one client order id; returns how many, the last in *last. */
static uint32_t execs_of(const struct client *c, const char *cid, enum tl_venue_exec_type x,
                         const struct tl_venue_exec_report **last)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->n_ex; i++) {
		const struct tl_venue_exec_report *e = &c->ex[i];
		const char *id = e->exec_type == TL_VENUE_EXEC_CANCELED ? e->orig_client_order_id
		                                                        : e->client_order_id;

		if (!strcmp(id, cid) && (x == TL_VENUE_EXEC_UNKNOWN || e->exec_type == x)) {
			n++;
			if (last)
				*last = e;
		}
	}
	return n;
}

struct want_exec {
	const char *cid;
	enum tl_venue_exec_type x;
	uint32_t n;
};

static bool have_execs(struct client *c, void *arg)
{
	struct want_exec *w = arg;

	return execs_of(c, w->cid, w->x, NULL) >= w->n;
}

static void wait_exec(struct client *c, const char *cid, enum tl_venue_exec_type x, uint32_t n)
{
	struct want_exec w = {cid, x, n};

	pump_until(c, have_execs, &w, 5000, cid);
}

/* Sums of the fills (deduplicated by trade id) into base and quote deltas, in 10^-8. */
struct fill_sums {
	int64_t base, quote;
	uint32_t n;
	uint64_t max_trade_id;
};

static void add_fill(struct fill_sums *s, bool is_buy, int64_t px, int64_t qty, int64_t comm,
                     const char *comm_asset, uint64_t trade_id)
{
	/* px at 2 decimals, qty at 5: px * qty is at 7, one more 0 for 10^-8 */
	int64_t quote = px * qty * 10, base = qty * 1000;

	if (is_buy) {
		s->base += base;
		s->quote -= quote;
	} else {
		s->base -= base;
		s->quote += quote;
	}
	if (!strcmp(comm_asset, "BTC"))
		s->base -= comm;
	else
		s->quote -= comm;
	s->n++;
	if (trade_id > s->max_trade_id)
		s->max_trade_id = trade_id;
}

static struct fill_sums fills_from_execs(const struct client *c)
{
	struct fill_sums s = {0};
	uint64_t seen[EXEC_MAX];
	uint32_t n_seen = 0;

	for (uint32_t i = 0; i < c->n_ex; i++) {
		const struct tl_venue_exec_report *e = &c->ex[i];
		bool dup = false;

		if (e->exec_type != TL_VENUE_EXEC_TRADE)
			continue;
		for (uint32_t j = 0; j < n_seen; j++)
			dup |= seen[j] == e->trade_id;
		if (dup)
			continue;
		seen[n_seen++] = e->trade_id;
		add_fill(&s, e->side == TL_VENUE_BUY, e->last_px.v, e->last_qty.v,
		         e->commission_units, e->commission_asset, e->trade_id);
	}
	return s;
}

/* myTrades over REST from trade id `from`, at most `cap` trades into t[0..*n): the answer
 * parsed into *r (a refusal too). Returns the HTTP status. */
static int my_trades_get(struct client *c, uint64_t from, struct tl_venue_response *r,
                         struct tl_venue_trade *t, uint32_t cap, size_t *n)
{
	struct tl_venue_auth a = auth_now(c);
	struct tl_venue_trades_req q = {
	    .symbol = SYMBOL, .by = TL_VENUE_TRADES_FROM_ID, .from_id = from, .limit = cap};
	char target[2048];

	*n = 0;
	CHECK(tl_venue_build_my_trades(target, sizeof(target), &a, &q) > 0);
	rest_get(c, target, true);
	CHECK(tl_venue_parse_trades(&c->pc, c->http_body, c->http_len, c->http_status, r, t, cap,
	                            n) == 0);
	return c->http_status;
}

/* myTrades over REST from trade id `from`: the fills the WebSocket may have lost. */
static struct fill_sums fills_from_rest(struct client *c, uint64_t from)
{
	static struct tl_venue_trade t[1000];
	struct tl_venue_response r;
	struct fill_sums s = {0};
	size_t n = 0;

	CHECK_EQ(my_trades_get(c, from, &r, t, 1000, &n), 200);
	for (size_t i = 0; i < n; i++)
		add_fill(&s, t[i].is_buyer, t[i].px.v, t[i].qty.v, t[i].commission_units,
		         t[i].commission_asset, t[i].trade_id);
	return s;
}

static const int64_t BTC0 = 10LL * 100000000, USDT0 = 1000000LL * 100000000;

/* ======================================================================================
 * Scenarios
 * ====================================================================================== */

static const char *const no_limits[] = {
    "--weight-per-min", "0", "--orders-per-10s", "0", "--orders-per-day", "0", NULL};

static void scenario_basic(void)
{
	struct simproc sp;
	struct client c;
	const struct tl_venue_response *r;
	const struct tl_venue_exec_report *e = NULL;
	int64_t bid, ask, btc, usdt;
	uint64_t snap_id;
	struct tl_venue_verdict v;
	struct fill_sums fs;

	sim_start(&sp, no_limits);
	client_open(&c, sp.port, false, NULL, true);

	/* exchangeInfo: the symbol and its filters */
	rest_get(&c, "/api/v3/exchangeInfo", false);
	CHECK_EQ(c.http_status, 200);
	CHECK(strstr(c.http_body, "\"symbol\":\"BTCUSDT\""));
	CHECK(strstr(c.http_body, "\"tickSize\":\"0.01\""));
	CHECK(strstr(c.http_body, "\"stepSize\":\"0.00001\""));
	CHECK(strstr(c.http_body, "\"filterType\":\"NOTIONAL\""));

	/* market data flows, with contiguous depth ids, and the snapshot bridges them */
	pump_for(&c, 300);
	top_of_book(&c, &bid, &ask, &snap_id);
	pump_for(&c, 300);
	CHECK(c.md_depth >= 5);
	CHECK(c.md_ticker >= 5);
	CHECK_EQ(c.md_gaps, 0);
	CHECK_EQ(c.md_bad, 0);
	CHECK(c.first_U <= snap_id + 1 && c.last_u > snap_id);

	subscribe(&c);

	/* a post-only buy far below the market rests: ACK, then NEW */
	r = place(&c, "rest-1", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid - 50000, 10000);
	CHECK_EQ(r->status, 200);
	CHECK(tl_venue_classify(r, false, NULL) == TL_VENUE_ACCEPTED);
	CHECK(r->result_kind == TL_VENUE_RESULT_ORDER);
	CHECK(!strcmp(r->order.client_order_id, "rest-1"));
	wait_exec(&c, "rest-1", TL_VENUE_EXEC_NEW, 1);

	/* a post-only order that would cross is refused: -2010 (10 USDT above the last ask
	 * seen, so that a market that moved since still crosses) */
	r = place(&c, "cross-1", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, ask + 1000, 1000);
	CHECK_EQ(r->status, 400);
	CHECK_EQ(r->error_code, -2010);
	CHECK(tl_venue_classify(r, false, &v) == TL_VENUE_REJECTED);

	/* too little balance: -2010 */
	r = place(&c, "broke-1", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid - 100, 800000000);
	CHECK_EQ(r->error_code, -2010);

	/* a buy at the best ask for more than that level holds fills in part and rests */
	top_of_book(&c, &bid, &ask, NULL);
	r = place(&c, "take-1", TL_VENUE_BUY, TL_VENUE_LIMIT, ask, 500000);
	CHECK_EQ(r->status, 200);
	wait_exec(&c, "take-1", TL_VENUE_EXEC_TRADE, 1);
	execs_of(&c, "take-1", TL_VENUE_EXEC_TRADE, &e);
	CHECK(e->status == TL_VENUE_STATUS_PARTIALLY_FILLED || e->status == TL_VENUE_STATUS_FILLED);
	CHECK(e->last_qty.v > 0 && e->cum_qty.v <= 500000);
	CHECK(e->has_trade && e->trade_id > 0);

	/* a sell into the bid fills at once (taker) */
	r = place(&c, "take-2", TL_VENUE_SELL, TL_VENUE_LIMIT, bid - 500, 2000);
	CHECK_EQ(r->status, 200);
	wait_exec(&c, "take-2", TL_VENUE_EXEC_TRADE, 1);

	/* cancel the resting orders; the venue confirms each */
	{
		struct tl_venue_auth a = auth_now(&c);
		struct tl_venue_order_ref ref = {.symbol = SYMBOL,
		                                 .orig_client_order_id = "rest-1"};
		char buf[1024];
		uint64_t id = c.next_id++;

		r = call(&c, buf, tl_venue_build_order_cancel(buf, sizeof(buf), id, &a, &ref), id);
		CHECK_EQ(r->status, 200);
		CHECK(r->order.status == TL_VENUE_STATUS_CANCELED);
		wait_exec(&c, "rest-1", TL_VENUE_EXEC_CANCELED, 1);
		/* a second cancel of the same order: -2011 */
		a = auth_now(&c);
		id = c.next_id++;
		r = call(&c, buf, tl_venue_build_order_cancel(buf, sizeof(buf), id, &a, &ref), id);
		CHECK_EQ(r->error_code, -2011);
		/* cancel everything left (take-1, if it still rests) */
		a = auth_now(&c);
		id = c.next_id++;
		r = call(&c, buf, tl_venue_build_cancel_all(buf, sizeof(buf), id, &a, SYMBOL), id);
		CHECK(r->status == 200 || r->error_code == -2011);
		a = auth_now(&c);
		id = c.next_id++;
		r = call(&c, buf, tl_venue_build_open_orders(buf, sizeof(buf), id, &a, SYMBOL), id);
		CHECK_EQ(r->status, 200);
		CHECK_EQ(r->n_results, 0);
	}

	/* refusals: bad signature, unknown key, malformed JSON, unknown method */
	{
		char buf[2048];
		struct tl_venue_auth a = auth_now(&c);
		struct tl_venue_order_req q = {.symbol = SYMBOL,
		                               .client_order_id = "sig-1",
		                               .side = TL_VENUE_BUY,
		                               .type = TL_VENUE_LIMIT_MAKER,
		                               .px = {bid - 100000},
		                               .qty = {1000},
		                               .scale = c.scale};
		uint64_t id = c.next_id++;
		ssize_t n = tl_venue_build_order_place(buf, sizeof(buf), id, &a, &q);
		char *sig = strstr(buf, "\"signature\":\"");

		CHECK(n > 0 && sig);
		sig[14] = sig[14] == 'a' ? 'b' : 'a'; /* one hex digit off */
		r = call(&c, buf, n, id);
		CHECK_EQ(r->status, 400);
		CHECK_EQ(r->error_code, -1022);

		id = c.next_id++;
		n = snprintf(buf, sizeof(buf),
		             "{\"id\":%" PRIu64 ",\"method\":\"account.status\",\"params\":{"
		             "\"apiKey\":\"nobody\",\"timestamp\":%lld,\"signature\":\"%064d\"}}",
		             id, (long long)wall_ms(), 0);
		r = call(&c, buf, n, id);
		CHECK_EQ(r->status, 401);
		CHECK_EQ(r->error_code, -2015);

		id = c.next_id++;
		n = snprintf(buf, sizeof(buf), "{\"id\":%" PRIu64 ",\"method\":\"order.explode\"}",
		             id);
		r = call(&c, buf, n, id);
		CHECK_EQ(r->status, 400);
		CHECK(r->error_code != 0);

		id = c.next_id++;
		n = snprintf(buf, sizeof(buf),
		             "{\"id\":%" PRIu64 ",\"method\":\"order.place\",\"params\":{"
		             "\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT_MAKER\","
		             "\"price\":\"1e5\",\"quantity\":\"0.001\",\"apiKey\":\"%s\","
		             "\"timestamp\":1,\"signature\":\"%064d\"}}",
		             id, TL_SIM_DEMO_API_KEY, 0);
		r = call(&c, buf, n, id);
		CHECK_EQ(r->status, 400);
		CHECK_EQ(r->error_code, -1100);
	}

	/* balances: the venue's own account.status equals the start plus the fills (taken
	 * from the executionReports) less their fees, exactly */
	pump_for(&c, 100);
	fs = fills_from_execs(&c);
	CHECK(fs.n >= 2);
	venue_balances(&c, &btc, &usdt);
	CHECK_EQ(btc, BTC0 + fs.base);
	CHECK_EQ(usdt, USDT0 + fs.quote);
	/* and myTrades lists the same fills */
	{
		struct fill_sums rs = fills_from_rest(&c, 0);

		CHECK_EQ(rs.n, fs.n);
		CHECK_EQ(rs.base, fs.base);
		CHECK_EQ(rs.quote, fs.quote);
	}
	CHECK_EQ(c.bad_msgs, 0);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

/* Places a few crossing orders so that fills happen; returns after their responses. */
static void trade_some(struct client *c, const char *prefix, int n)
{
	int64_t bid, ask;
	char cid[40];

	for (int i = 0; i < n; i++) {
		const struct tl_venue_response *r;

		top_of_book(c, &bid, &ask, NULL);
		snprintf(cid, sizeof(cid), "%s-%d", prefix, i);
		r = place(c, cid, i % 2 ? TL_VENUE_SELL : TL_VENUE_BUY, TL_VENUE_LIMIT,
		          i % 2 ? bid : ask, 1000);
		CHECK_EQ(r->status, 200);
	}
}

static void scenario_drop_fills(void)
{
	static const char *const args[] = {
	    "--drop-fills", "100", "--weight-per-min", "0", "--orders-per-10s", "0", NULL};
	struct simproc sp;
	struct client c;
	struct fill_sums ws, rest;
	int64_t btc, usdt;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	subscribe(&c);
	trade_some(&c, "df", 6);
	wait_exec(&c, "df-5", TL_VENUE_EXEC_NEW, 1);
	pump_for(&c, 200);
	ws = fills_from_execs(&c);
	CHECK_EQ(ws.n, 0);   /* every fill report was dropped on the wire... */
	CHECK(c.n_pos >= 6); /* ...while the balance updates still came */
	rest = fills_from_rest(&c, ws.max_trade_id + 1);
	CHECK(rest.n >= 6); /* ...and myTrades recovers them from the last trade id */
	venue_balances(&c, &btc, &usdt);
	CHECK_EQ(btc, BTC0 + rest.base);
	CHECK_EQ(usdt, USDT0 + rest.quote);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static void scenario_unknown(void)
{
	static const char *const args[] = {"--unknown-outcome", "100", NULL};
	struct simproc sp;
	struct client c;
	int64_t bid, ask;
	int statuses[2] = {0, 0};

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	subscribe(&c);
	top_of_book(&c, &bid, &ask, NULL);
	for (int i = 0; i < 2; i++) {
		char cid[16], buf[1024];
		struct tl_venue_verdict v;
		const struct tl_venue_response *r;
		struct tl_venue_auth a;
		struct tl_venue_order_ref ref = {.symbol = SYMBOL};
		uint64_t id;

		snprintf(cid, sizeof(cid), "unk-%d", i);
		r = place(&c, cid, TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid - 10000, 1000);
		statuses[i] = r->status;
		CHECK(tl_venue_classify(r, false, &v) == TL_VENUE_UNKNOWN);
		/* resolved through order.status: it was placed */
		a = auth_now(&c);
		ref.orig_client_order_id = cid;
		id = c.next_id++;
		r = call(&c, buf, tl_venue_build_order_status(buf, sizeof(buf), id, &a, &ref), id);
		CHECK_EQ(r->status, 200);
		CHECK(r->order.status == TL_VENUE_STATUS_NEW);
		CHECK(!strcmp(r->order.client_order_id, cid));
		wait_exec(&c, cid, TL_VENUE_EXEC_NEW, 1);
	}
	/* both spellings of "unknown": 503 / -1000 and 408 / -1007 */
	CHECK(statuses[0] != statuses[1]);
	CHECK(statuses[0] >= 500 || statuses[1] >= 500);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

/* A key for an exec report: (order id, exec type, trade id). */
static uint64_t exec_key(const struct tl_venue_exec_report *e)
{
	return e->order_id * 1000003u ^ (uint64_t)e->exec_type * 7919u ^ e->trade_id * 104729u;
}

static void scenario_event_faults(const char *which)
{
	const char *args[] = {NULL, NULL, "--weight-per-min", "0", "--orders-per-10s", "0", NULL};
	struct simproc sp;
	struct client c;
	int64_t t0;

	if (!strcmp(which, "dup"))
		args[0] = "--dup-events", args[1] = "100";
	else if (!strcmp(which, "reorder"))
		/* every event that finds none held is held back behind the next one: each
		 * order's NEW lands after its TRADE, deterministically */
		args[0] = "--reorder-events", args[1] = "100";
	else
		args[0] = "--delay-events-ms", args[1] = "300";
	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	subscribe(&c);
	t0 = wall_ms();
	trade_some(&c, which, 4);
	wait_exec(&c,
	          !strcmp(which, "dup")       ? "dup-3"
	          : !strcmp(which, "reorder") ? "reorder-3"
	                                      : "delay-3",
	          TL_VENUE_EXEC_NEW, 1);
	pump_for(&c, 400);
	if (!strcmp(which, "dup")) {
		/* every report twice; deduplicated, the fills count once */
		uint32_t distinct = 0;

		for (uint32_t i = 0; i < c.n_ex; i++) {
			bool seen = false;

			for (uint32_t j = 0; j < i; j++)
				seen |= exec_key(&c.ex[j]) == exec_key(&c.ex[i]);
			distinct += !seen;
		}
		CHECK_EQ(c.n_ex, 2 * distinct);
	} else if (!strcmp(which, "reorder")) {
		/* The venue sends each executionReport followed by the account position it
		 * changed (X P X P ...). Held back one place, a report lands after its
		 * position: a P first, or two Ps in a row. Nothing is lost: as many Ps as Xs. */
		bool out_of_order = c.n_arrivals > 0 && c.arrivals[0] == 'P';
		uint32_t xs = 0;

		for (uint32_t i = 0; i < c.n_arrivals; i++) {
			xs += c.arrivals[i] == 'X';
			out_of_order |= i > 0 && c.arrivals[i] == 'P' && c.arrivals[i - 1] == 'P';
		}
		if (!out_of_order)
			fprintf(stderr, "arrivals: %.*s\n", (int)c.n_arrivals, c.arrivals);
		CHECK(out_of_order);
		CHECK_EQ(xs, c.n_ex);
		CHECK_EQ(c.n_pos, c.n_ex);
	} else {
		/* the first report came at least the delay after the first request */
		CHECK(c.n_ex > 0);
		CHECK(c.ex_at_ms[0] - t0 >= 290);
	}
	/* whatever the faults, the deduplicated fills still add up */
	{
		struct fill_sums fs = fills_from_execs(&c);
		int64_t btc, usdt;

		venue_balances(&c, &btc, &usdt);
		CHECK_EQ(btc, BTC0 + fs.base);
		CHECK_EQ(usdt, USDT0 + fs.quote);
	}
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static void scenario_rate_limit(void)
{
	static const char *const args[] = {"--rate-limit", "100", NULL};
	struct simproc sp;
	struct client c;
	struct tl_venue_verdict v;
	const struct tl_venue_response *r;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	r = place(&c, "rl-1", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, 100000, 1000);
	CHECK_EQ(r->status, 429);
	CHECK_EQ(r->error_code, -1015);
	CHECK(tl_venue_classify(r, false, &v) == TL_VENUE_RATE_LIMITED);
	CHECK(v.orders_only);
	CHECK(v.retry_wait_ms > 0 && v.retry_wait_ms <= 1000);
	r = signed_call(&c, "account.status", NULL, 0);
	CHECK_EQ(r->status, 429);
	CHECK_EQ(r->error_code, -1003);
	CHECK(tl_venue_classify(r, false, &v) == TL_VENUE_RATE_LIMITED);
	CHECK(!v.orders_only);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

/* The status of myTrades from trade id 0, its answer parsed into *r. */
static int my_trades_status(struct client *c, struct tl_venue_response *r)
{
	struct tl_venue_trade t[8];
	size_t n;

	return my_trades_get(c, 0, r, t, 8, &n);
}

/* SIGUSR1 arms three refusals of myTrades: the next three requests get 429 (-1003) with
 * Retry-After: 1, the fourth is served; other methods are never refused. */
static void scenario_refuse_usr1(void)
{
	struct simproc sp;
	struct client c;
	struct tl_venue_response r;
	struct tl_venue_verdict v;

	sim_start(&sp, no_limits);
	client_open(&c, sp.port, false, NULL, false);
	CHECK_EQ(my_trades_status(&c, &r), 200); /* nothing armed yet */
	CHECK(kill(sp.pid, SIGUSR1) == 0);
	/* kill() leaves the signal pending; the sim runs its handler before it next returns
	 * to its own code, so before it reads the next request */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(my_trades_status(&c, &r), 429);
		CHECK_EQ(r.error_code, -1003);
		CHECK(tl_venue_classify(&r, false, &v) == TL_VENUE_RATE_LIMITED);
		CHECK_EQ(c.http_retry_after, 1); /* REST says when in its Retry-After (s) */
		if (i == 0) {
			/* another method is not refused, nor does it use up a refusal */
			rest_get(&c, "/api/v3/depth?symbol=BTCUSDT&limit=5", false);
			CHECK_EQ(c.http_status, 200);
		}
	}
	CHECK_EQ(my_trades_status(&c, &r), 200);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static void scenario_limits(void)
{
	static const char *const args[] = {"--orders-per-10s", "3", NULL};
	struct simproc sp;
	struct client c;
	const struct tl_venue_response *r = NULL;
	int64_t bid, ask;
	int refused = 0;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	top_of_book(&c, &bid, &ask, NULL);
	/* 4 orders in one 10 s window (or, across a window edge, 7 in two) */
	for (int i = 0; i < 7 && !refused; i++) {
		char cid[16];

		snprintf(cid, sizeof(cid), "lim-%d", i);
		r = place(&c, cid, TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid - 10000 - i, 1000);
		if (r->status == 429)
			refused = i;
	}
	CHECK(refused >= 3);
	CHECK_EQ(r->error_code, -1015);
	/* the usage the venue reports: ORDERS at or above its limit */
	{
		bool saw = false;

		for (uint32_t i = 0; i < r->n_limits; i++)
			if (r->limits[i].type == TL_VENUE_LIMIT_ORDERS && r->limits[i].limit == 3) {
				CHECK(r->limits[i].count >= 4);
				saw = true;
			}
		CHECK(saw);
	}
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static void scenario_skew(void)
{
	/* 8 s ahead: well past the 5 s recvWindow the client sends */
	static const char *const args[] = {"--clock-skew-ms", "8000", NULL};
	struct simproc sp;
	struct client c;
	const struct tl_venue_response *r;
	int64_t before, after, server;
	const char *p;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	r = signed_call(&c, "account.status", NULL, 0);
	CHECK_EQ(r->status, 400);
	CHECK_EQ(r->error_code, -1021);
	/* measure the offset with /api/v3/time, then the same call passes */
	before = wall_ms();
	rest_get(&c, "/api/v3/time", false);
	after = wall_ms();
	CHECK_EQ(c.http_status, 200);
	p = strstr(c.http_body, "\"serverTime\":");
	CHECK(p);
	server = atoll(p + 13);
	c.clock_offset_ms = server - (before + after) / 2;
	CHECK(c.clock_offset_ms > 7000 && c.clock_offset_ms < 9000);
	r = signed_call(&c, "account.status", NULL, 0);
	CHECK_EQ(r->status, 200);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static bool disconnects_at_least(struct client *c, void *arg)
{
	return c->api_disconnects >= *(int *)arg && tl_ws_client_is_open(c->api);
}

static void scenario_drop_conn(void)
{
	static const char *const args[] = {"--drop-conn-every-ms", "400", NULL};
	struct simproc sp;
	struct client c;
	int want = 4;
	bool clean = false, cut = false;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, true);
	pump_until(&c, disconnects_at_least, &want, 8000, "4 drops and reconnects");
	for (int i = 0; i < c.api_disconnects && i < 64; i++) {
		clean |= c.close_codes[i] == 1001;
		cut |= c.close_codes[i] == 1006;
	}
	CHECK(clean && cut);     /* both kinds of drop */
	CHECK(c.shutdowns >= 1); /* the graceful one warns first */
	CHECK(c.api_opens >= 5); /* and the client came back each time */
	CHECK(c.md_opens >= 3);
	/* the reconnected API connection works */
	subscribe(&c);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

static void scenario_tls(void)
{
	char cert[] = "/tmp/tally-sim-cert-XXXXXX";
	int fd = mkstemp(cert);
	const char *args[] = {"--tls", "--tls-cert-out", cert, NULL};
	struct simproc sp;
	struct client c;
	int64_t bid, ask;
	const struct tl_venue_response *r;

	CHECK(fd >= 0);
	close(fd);
	sim_start(&sp, args);
	client_open(&c, sp.port, true, cert, true);
	subscribe(&c);
	top_of_book(&c, &bid, &ask, NULL);
	r = place(&c, "tls-1", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid - 1000, 1000);
	CHECK_EQ(r->status, 200);
	wait_exec(&c, "tls-1", TL_VENUE_EXEC_NEW, 1);
	pump_for(&c, 200);
	CHECK(c.md_depth > 0);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
	unlink(cert);
}

static void scenario_malformed(void)
{
	static const char *const junk[] = {
	    "",
	    "{",
	    "not json at all",
	    "[1,2,3]",
	    "{\"id\":1}",
	    "{\"id\":2,\"method\":\"order.place\",\"params\":[]}",
	    "{\"id\":3,\"method\":\"order.place\",\"params\":{\"symbol\":{\"nested\":1}}}",
	    "{\"id\":4,\"method\":\"order.place\",\"params\":{\"symbol\":\"BT\\u0043USDT\"}}",
	    "{\"id\":5,\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":999999}}",
	    "{\"id\":6,\"method\":\"depth\",\"params\":{\"symbol\":\"NOPE\"}}",
	    "{\"id\":7,\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"bogus\":1}}",
	    "{\"id\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaa\",\"method\":\"ping\"}",
	};
	struct simproc sp;
	struct client c;

	sim_start(&sp, NULL);
	client_open(&c, sp.port, false, NULL, false);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		size_t before = c.resp[0].id;

		(void)before;
		memset(&c.resp[0], 0, sizeof(c.resp[0]));
		for (int k = 1; k < 8; k++)
			c.resp[k].id = 0;
		CHECK(tl_ws_client_send(c.api, TL_WS_OP_TEXT, junk[i], strlen(junk[i])) == 0);
		pump_for(&c, 30);
		/* an error answer came back (with the id when readable, else null), and the
		 * connection is still up */
		{
			bool answered = false;

			for (int k = 0; k < 8; k++)
				answered |= c.resp[k].r.has_error && c.resp[k].r.status == 400;
			if (!answered)
				fprintf(stderr, "no error answer to junk %zu: %s\n", i, junk[i]);
			CHECK(answered);
		}
		CHECK(tl_ws_client_is_open(c.api));
	}
	/* REST junk */
	rest_get(&c, "/api/v3/depth?symbol=BTCUSDT&limit=abc", false);
	CHECK_EQ(c.http_status, 400);
	CHECK(strstr(c.http_body, "\"code\":-1"));
	rest_get(&c, "/api/v3/nothing", false);
	CHECK_EQ(c.http_status, 404);
	rest_get(&c, "/api/v3/myTrades?symbol=BTCUSDT", false);
	CHECK(c.http_status == 400 || c.http_status == 401);
	/* broken percent-encoding never reaches the sim: libwebsockets' HTTP parser refuses
	 * it with its own 403 (and the connection) */
	rest_get(&c, "/api/v3/depth?symbol=BTCUSDT&limit=%zz", false);
	CHECK_EQ(c.http_status, 403);
	/* and the sim still serves */
	rest_get(&c, "/api/v3/ping", false);
	CHECK_EQ(c.http_status, 200);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

/* ======================================================================================
 * The venue session (tl_venue_session.h) as the user-data consumer
 * ====================================================================================== */

struct session_probe {
	uint32_t ready, ready_backfill, downs;
	uint64_t events;
};

static void probe_ready(void *user, bool backfill)
{
	struct session_probe *p = user;

	p->ready++;
	p->ready_backfill += backfill;
}

static void probe_message(void *user, const struct tl_venue_msg *m)
{
	struct session_probe *p = user;

	p->events +=
	    m->kind == TL_VENUE_MSG_EXEC_REPORT || m->kind == TL_VENUE_MSG_ACCOUNT_POSITION;
}

static void probe_down(void *user, int err)
{
	(void)err;
	((struct session_probe *)user)->downs++;
}

struct session_wait {
	struct session_probe *p;
	uint32_t ready;
};

static bool session_ready_n(struct client *c, void *arg)
{
	struct session_wait *w = arg;

	(void)c;
	return w->p->ready >= w->ready;
}

static tl_venue_session_t *session_open(struct client *c, struct session_probe *p)
{
	static const struct tl_venue_session_ops ops = {probe_ready, probe_message, probe_down};
	struct tl_venue_session_config sc;
	struct session_wait w = {p, 1};
	tl_venue_session_t *s;

	tl_venue_session_config_default(&sc);
	sc.ws.host = "127.0.0.1";
	sc.ws.port = c->port;
	sc.ws.backoff_base_ns = 20000000;
	sc.ws.backoff_cap_ns = 100000000;
	sc.api_key = TL_SIM_DEMO_API_KEY;
	sc.signer = c->signer;
	sc.parse = c->pc;
	CHECK_EQ(tl_venue_session_create(&s, c->loop, &sc, &ops, p), 0);
	CHECK_EQ(tl_venue_session_start(s), 0);
	pump_until(c, session_ready_n, &w, 5000, "the session's subscription");
	CHECK_EQ(p->ready_backfill, 0); /* the first time, nothing to back-fill */
	return s;
}

static void session_done(struct client *c, tl_venue_session_t *s)
{
	tl_venue_session_close(s);
	pump_for(c, 100);
	CHECK_EQ(tl_venue_session_destroy(s), 0);
}

/*
 * Every user event cut short: the session counts each malformed message, drops the
 * connection and subscribes again on a new one, asking for a back-fill; the back-fill
 * (myTrades from trade id 0) finds every fill, and they add up to the venue's balances.
 */
static void scenario_garble(void)
{
	static const char *const args[] = {
	    "--garble-events", "100", "--weight-per-min", "0", "--orders-per-10s", "0", NULL};
	struct simproc sp;
	struct client c;
	struct session_probe p = {0};
	struct tl_venue_session_counters n;
	tl_venue_session_t *s;
	struct fill_sums rest;
	int64_t bid, ask, btc, usdt;
	const int orders = 4;

	sim_start(&sp, args);
	client_open(&c, sp.port, false, NULL, false);
	s = session_open(&c, &p);
	for (int i = 0; i < orders; i++) {
		struct session_wait w = {&p, (uint32_t)i + 2};
		char cid[32];

		top_of_book(&c, &bid, &ask, NULL);
		snprintf(cid, sizeof(cid), "garble-%d", i);
		/* orders go on the client's own connection; the session only listens */
		CHECK_EQ(place(&c, cid, TL_VENUE_BUY, TL_VENUE_LIMIT, ask + 1000, 1000)->status,
		         200);
		pump_until(&c, session_ready_n, &w, 5000, "the session's resync");
	}
	tl_venue_session_counters(s, &n);
	CHECK_EQ(n.malformed, orders); /* the first event of each order; the rest went with
	                                  the dropped connection */
	CHECK_EQ(n.resyncs, orders);
	CHECK_EQ(n.connects, orders + 1);
	CHECK_EQ(n.subscribes, orders + 1);
	CHECK_EQ(p.ready_backfill, orders);
	CHECK_EQ(p.events, 0); /* nothing garbled was ever passed on */
	CHECK(p.downs >= (uint32_t)orders);
	rest = fills_from_rest(&c, 0);
	CHECK(rest.n >= (uint32_t)orders);
	venue_balances(&c, &btc, &usdt);
	CHECK_EQ(btc, BTC0 + rest.base);
	CHECK_EQ(usdt, USDT0 + rest.quote);
	session_done(&c, s);
	client_close(&c);
	sim_stop(&sp, NULL, 0);
}

/* ======================================================================================
 * replay
 * ====================================================================================== */

#define TOP_N 10
#define CAPTURE_PX_DIV 1000000 /* the capture's 8 price decimals -> 2 */
#define CAPTURE_QTY_DIV 1000   /* 8 quantity decimals -> 5 */

struct rtrade {
	int64_t px, qty;
	bool buyer_maker;
};

struct replay_check {
	/* from the capture */
	uint64_t *states; /* hashes of the top-N books, sorted */
	size_t n_states, cap_states;
	struct rtrade *captured;
	size_t n_captured, cap_captured;
	/* from the sim */
	tl_book_t *book;
	tl_md_sync_t *sync;
	tl_md_parser_t *parser;
	struct rtrade *seen;
	size_t n_seen, cap_seen;
	bool collect_trades;
	uint64_t matched, missed;
};

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 4096;
	p = realloc(p, *cap * size);
	CHECK(p);
	return p;
}

/* A hash of the book's best TOP_N levels a side at the market's scale (a capture's levels
 * divided down, quantities truncated; levels that become 0 are not shown), as the sim
 * shows them. */
static uint64_t top_hash(const tl_book_t *b, int64_t px_div, int64_t qty_div)
{
	struct tl_book_level lv[TOP_N * 8];
	uint64_t h = 1469598103934665603ull;

	for (int side = 0; side < 2; side++) {
		size_t n = tl_book_top(b, side ? TL_BOOK_ASK : TL_BOOK_BID, lv, TOP_N * 8);
		int kept = 0;

		for (size_t i = 0; i < n && kept < TOP_N; i++) {
			int64_t v[2] = {lv[i].px.v / px_div, lv[i].qty.v / qty_div};

			if (v[1] == 0 || lv[i].px.v % px_div)
				continue;
			kept++;
			for (int k = 0; k < 2; k++)
				for (int byte = 0; byte < 8; byte++)
					h = (h ^ (uint8_t)(v[k] >> (8 * byte))) * 1099511628211ull;
		}
		h = (h ^ 0xff) * 1099511628211ull; /* the side boundary */
	}
	return h;
}

static void capture_state(void *user, const char *symbol, uint64_t update_id, const tl_book_t *b)
{
	struct replay_check *rc = user;

	(void)symbol;
	(void)update_id;
	rc->states = grow(rc->states, &rc->cap_states, rc->n_states, sizeof(*rc->states));
	rc->states[rc->n_states++] = top_hash(b, CAPTURE_PX_DIV, CAPTURE_QTY_DIV);
}

static void capture_trade(void *user, const struct tl_md_msg *m)
{
	struct replay_check *rc = user;
	int64_t qty = m->qty / CAPTURE_QTY_DIV;

	if (qty == 0 || m->px % CAPTURE_PX_DIV)
		return; /* the sim cannot print these either */
	rc->captured = grow(rc->captured, &rc->cap_captured, rc->n_captured, sizeof(*rc->captured));
	rc->captured[rc->n_captured++] =
	    (struct rtrade){m->px / CAPTURE_PX_DIV, qty, m->buyer_maker};
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void replay_check_book(struct replay_check *rc)
{
	uint64_t h = top_hash(rc->book, 1, 1);

	if (bsearch(&h, rc->states, rc->n_states, sizeof(h), cmp_u64)) {
		rc->matched++;
	} else if (rc->missed++ == 0) {
		struct tl_book_level bid = {0}, ask = {0};

		tl_book_best(rc->book, TL_BOOK_BID, &bid);
		tl_book_best(rc->book, TL_BOOK_ASK, &ask);
		fprintf(stderr,
		        "replay: the synced book (bid %" PRId64 " x %" PRId64 ", ask %" PRId64
		        " x %" PRId64 ") is no captured book\n",
		        bid.px.v, bid.qty.v, ask.px.v, ask.qty.v);
	}
}

static void replay_md_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data,
                              size_t len)
{
	struct replay_check *rc = user;
	struct tl_md_msg m;

	(void)ws;
	(void)op;
	CHECK(tl_md_parse(rc->parser, (const char *)data, len, &m) == 0);
	if (m.kind == TL_MD_DEPTH) {
		if (tl_md_sync_depth(rc->sync, &m) == TL_MD_SYNC_APPLIED)
			replay_check_book(rc);
	} else if (m.kind == TL_MD_TRADE && rc->collect_trades) {
		rc->seen = grow(rc->seen, &rc->cap_seen, rc->n_seen, sizeof(*rc->seen));
		rc->seen[rc->n_seen++] = (struct rtrade){m.px, m.qty, m.buyer_maker};
	}
}

/* The trades seen are captured[i .. i + n_seen) for some i. */
static bool trades_are_a_captured_run(const struct replay_check *rc)
{
	for (size_t i = 0; i + rc->n_seen <= rc->n_captured; i++) {
		size_t k = 0;

		while (k < rc->n_seen && rc->seen[k].px == rc->captured[i + k].px &&
		       rc->seen[k].qty == rc->captured[i + k].qty &&
		       rc->seen[k].buyer_maker == rc->captured[i + k].buyer_maker)
			k++;
		if (k == rc->n_seen)
			return true;
	}
	return false;
}

static bool any_fill(struct client *c, void *arg)
{
	(void)arg;
	return execs_of(c, "rp-buy", TL_VENUE_EXEC_TRADE, NULL) +
	           execs_of(c, "rp-sell", TL_VENUE_EXEC_TRADE, NULL) >
	       0;
}

static void scenario_replay(void)
{
	static const struct tl_ws_client_ops md_ops = {.on_message = replay_md_message};
	char path[4096];
	char *files[1] = {path};
	const char *extra[] = {"--replay", path, "--replay-speed", "20", NULL};
	struct replay_check rc;
	struct tl_md_replay_opts o;
	struct tl_md_replay_stats *st = calloc(1, sizeof(*st));
	struct tl_md_sync_config sc;
	struct tl_book_config bc;
	struct tl_md_parser_config mc;
	struct tl_ws_client_config wc;
	tl_ws_client_t *md;
	struct simproc sp;
	struct client c;
	struct tl_md_msg m;
	enum tl_md_sync_result res;
	struct fill_sums fs;
	int64_t bid, ask, btc, usdt;

	/* The capture's own books and trades, through the same replay code. */
	snprintf(path, sizeof(path), "%s/binance-spot/btcusdt_20240808.gz", data_dir);
	memset(&rc, 0, sizeof(rc));
	memset(&o, 0, sizeof(o));
	o.symbol = SYMBOL;
	o.scale = (struct tl_md_scale){8, 8};
	o.on_applied = capture_state;
	o.on_trade = capture_trade;
	o.user = &rc;
	CHECK(st);
	CHECK_EQ(tl_md_replay_run(files, 1, &o, st), 0);
	CHECK_EQ(st->gaps, 0);
	CHECK(rc.n_states > 3000 && rc.n_captured > 9000);
	qsort(rc.states, rc.n_states, sizeof(*rc.states), cmp_u64);

	/* The sim plays it; a client syncs its depth stream by PROTOCOL.md's algorithm. */
	sim_start(&sp, extra);
	client_open(&c, sp.port, false, NULL, false);
	tl_book_config_default(&bc);
	CHECK(tl_book_create(&rc.book, &bc) == 0);
	tl_md_sync_config_default(&sc);
	CHECK(tl_md_sync_create(&rc.sync, &sc, rc.book) == 0);
	tl_md_parser_config_default(&mc);
	mc.scale = c.scale;
	CHECK(tl_md_parser_create(&rc.parser, &mc) == 0);
	rc.collect_trades = true;
	tl_ws_client_config_default(&wc);
	wc.host = "127.0.0.1";
	wc.port = sp.port;
	wc.path = "/stream?streams=btcusdt@depth@100ms/btcusdt@trade";
	CHECK(tl_ws_client_create(&md, c.loop, &wc, &md_ops, &rc) == 0);
	CHECK(tl_ws_client_connect(md) == 0);
	c.md = md; /* client_close closes it */
	pump_for(&c, 300);
	CHECK(tl_ws_client_is_open(md));
	rest_get(&c, "/api/v3/depth?symbol=BTCUSDT&limit=1000", false);
	CHECK_EQ(c.http_status, 200);
	CHECK(tl_md_parse(rc.parser, c.http_body, c.http_len, &m) == 0);
	res = tl_md_sync_snapshot(rc.sync, &m);
	CHECK(res == TL_MD_SYNC_LIVE);
	replay_check_book(&rc);
	pump_for(&c, 3000);
	rc.collect_trades = false;
	fprintf(stderr,
	        "replay: %" PRIu64 " synced books matched the capture, %" PRIu64
	        " did not; %zu trade prints\n",
	        rc.matched, rc.missed, rc.n_seen);
	CHECK(rc.matched >= 50);
	CHECK_EQ(rc.missed, 0);
	CHECK_EQ(tl_md_sync_counters(rc.sync)->gaps, 0);
	CHECK(rc.n_seen >= 100);
	CHECK(trades_are_a_captured_run(&rc));

	/* Resting orders at the touch, one a side: the captured flow fills one of them. */
	subscribe(&c);
	top_of_book(&c, &bid, &ask, NULL);
	CHECK_EQ(place(&c, "rp-buy", TL_VENUE_BUY, TL_VENUE_LIMIT_MAKER, bid, 1000)->status, 200);
	CHECK_EQ(place(&c, "rp-sell", TL_VENUE_SELL, TL_VENUE_LIMIT_MAKER, ask, 1000)->status, 200);
	pump_until(&c, any_fill, NULL, 15000, "a fill from the captured flow");
	{
		struct tl_venue_auth a = auth_now(&c);
		char buf[1024];
		uint64_t id = c.next_id++;
		const struct tl_venue_response *r =
		    call(&c, buf, tl_venue_build_cancel_all(buf, sizeof(buf), id, &a, SYMBOL), id);

		CHECK(r->status == 200 || r->error_code == -2011);
	}
	pump_for(&c, 100);
	fs = fills_from_execs(&c);
	CHECK(fs.n >= 1);
	venue_balances(&c, &btc, &usdt);
	CHECK_EQ(btc, BTC0 + fs.base);
	CHECK_EQ(usdt, USDT0 + fs.quote);

	client_close(&c);
	sim_stop(&sp, NULL, 0);
	tl_md_parser_destroy(rc.parser);
	tl_md_sync_destroy(rc.sync);
	tl_book_destroy(rc.book);
	free(rc.states);
	free(rc.captured);
	free(rc.seen);
	free(st);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} all[] = {
	    {"basic", scenario_basic},         {"drop-fills", scenario_drop_fills},
	    {"unknown", scenario_unknown},     {"rate-limit", scenario_rate_limit},
	    {"limits", scenario_limits},       {"skew", scenario_skew},
	    {"drop-conn", scenario_drop_conn}, {"tls", scenario_tls},
	    {"malformed", scenario_malformed}, {"garble", scenario_garble},
	    {"replay", scenario_replay},       {"refuse-usr1", scenario_refuse_usr1},
	};
	static const char *const event_faults[] = {"dup", "reorder", "delay"};

	if (argc < 3) {
		fprintf(stderr, "usage: test_sim_client TALLY_BINARY DATA_DIR [scenario...]\n");
		return 2;
	}
	tally_bin = argv[1];
	data_dir = argv[2];
	signal(SIGPIPE, SIG_IGN);
	atexit(kill_running_sim);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		bool wanted = argc == 3;

		for (int k = 3; k < argc; k++)
			wanted |= !strcmp(argv[k], all[i].name);
		if (!wanted)
			continue;
		fprintf(stderr, "scenario %s\n", all[i].name);
		all[i].run();
	}
	for (size_t i = 0; i < 3; i++) {
		bool wanted = argc == 3;

		for (int k = 3; k < argc; k++)
			wanted |= !strcmp(argv[k], event_faults[i]);
		if (!wanted)
			continue;
		fprintf(stderr, "scenario %s\n", event_faults[i]);
		scenario_event_faults(event_faults[i]);
	}
	fprintf(stderr, "all scenarios passed\n");
	return 0;
}
