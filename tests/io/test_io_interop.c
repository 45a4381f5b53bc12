/*
 * test_io_interop.c: our io_uring WebSocket and HTTP clients against independent servers,
 * on loopback, plain and over TLS.
 *
 *   test_io_interop <tests/io dir> node            the node `ws` peer (node-ws), which
 *                                                  also serves the HTTP client's cases
 *   test_io_interop <tests/io dir> lws <lws_peer>  the libwebsockets peer (OpenSSL inside)
 *
 * Both peers run every WebSocket case: echo at each length encoding, fragments with pings
 * between them, ping/pong, our close, the server's close and our reconnect, a message over
 * the limit (1009), and raw frames that break the protocol (1002, 1007). Over TLS, a
 * server with an expired certificate, one from an unknown CA and one for another name
 * must each fail with its own error.
 *
 * Each run makes its own CA and certificates (gen_certs.sh) in a fresh directory.
 * In the plain release build it also checks that an open connection exchanges messages
 * with no heap allocation (malloc is counted through glibc's __libc_* entry points).
 */
#include "peer.h"
#include "tl_io.h"
#include "tl_test.h"

#include <stdatomic.h>

/* ---- counting allocations (only where no sanitizer owns malloc) ---------------------- */

#if !TL_TEST_UNDER_ASAN && !TL_TEST_UNDER_TSAN && defined(__GLIBC__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static atomic_ulong alloc_count;
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
	atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}
static unsigned long allocs(void)
{
	return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}
#else
#define COUNT_ALLOCS 0
#endif

/* ---- the test's view of one client -------------------------------------------------- */

#define MSG_CAP (4u << 20)

struct client {
	tl_ws_client_t *ws;
	int opens, reconnects, disconnects, msgs, pongs;
	int err;
	uint16_t code;
	bool will_retry;
	uint64_t disconnected_at_ns;
	uint8_t op;
	uint8_t *msg;
	size_t msg_len;
};

static void on_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct client *)user)->opens++;
}

static void on_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	(void)ws;
	struct client *c = user;
	CHECK(len <= MSG_CAP);
	memcpy(c->msg, data, len);
	c->msg_len = len;
	c->op = op;
	c->msgs++;
}

static void on_pong(tl_ws_client_t *ws, void *user, const uint8_t *data, size_t len)
{
	(void)ws, (void)data, (void)len;
	((struct client *)user)->pongs++;
}

static void on_disconnect(tl_ws_client_t *ws, void *user, uint64_t at_ns, int err, uint16_t code,
                          bool will_retry)
{
	(void)ws, (void)at_ns;
	struct client *c = user;
	c->disconnects++;
	c->err = err;
	c->code = code;
	c->will_retry = will_retry;
}

static void on_reconnect(tl_ws_client_t *ws, void *user, uint64_t disconnected_at_ns)
{
	(void)ws;
	struct client *c = user;
	c->reconnects++;
	c->disconnected_at_ns = disconnected_at_ns;
}

static const struct tl_ws_client_ops client_ops = {
    .on_open = on_open,
    .on_message = on_message,
    .on_pong = on_pong,
    .on_disconnect = on_disconnect,
    .on_reconnect = on_reconnect,
};

struct env {
	tl_io_loop_t *loop;
	struct test_peer peer;
	bool tls;
	bool node;
	char certs[256];
	char ca[300];
};

/* Polls the loop until *counter reaches target; fails the test after timeout_ms. */
static void wait_for(struct env *e, const int *counter, int target, int timeout_ms,
                     const char *what)
{
	int64_t deadline = test_peer_ms() + timeout_ms;
	while (*counter < target) {
		if (test_peer_ms() > deadline) {
			fprintf(stderr, "timed out waiting for %s (%d of %d)\n", what, *counter,
			        target);
			exit(1);
		}
		int rc = tl_io_loop_poll(e->loop, 10 * 1000 * 1000);
		CHECK(rc >= 0);
	}
}

static void client_open(struct env *e, struct client *c, size_t max_msg, bool reconnect)
{
	memset(c, 0, sizeof(*c));
	c->msg = malloc(MSG_CAP);
	CHECK(c->msg);
	struct tl_ws_client_config cfg;
	tl_ws_client_config_default(&cfg);
	cfg.host = "localhost";
	cfg.port = e->peer.port;
	cfg.path = "/ws";
	cfg.max_msg_bytes = max_msg;
	cfg.conn.tx_buf_bytes = 4u << 20; /* room for the 1 MiB echo */
	cfg.reconnect = reconnect;
	/* A sanitized peer can take seconds to drain a big message before it reads our close. */
	cfg.close_timeout_ns = 8ull * 1000 * 1000 * 1000;
	cfg.backoff_base_ns = 20 * 1000 * 1000;
	cfg.backoff_cap_ns = 200 * 1000 * 1000;
	cfg.conn.tls = e->tls;
	cfg.conn.ca_file = e->ca;
	cfg.conn.tls_no_system_cas = true;
	CHECK_EQ(tl_ws_client_create(&c->ws, e->loop, &cfg, &client_ops, c), 0);
	CHECK_EQ(tl_ws_client_connect(c->ws), 0);
	wait_for(e, &c->opens, 1, 10000, "open");
	CHECK(tl_ws_client_is_open(c->ws));
}

static void client_free(struct env *e, struct client *c)
{
	if (tl_ws_client_is_open(c->ws)) {
		int d = c->disconnects;
		CHECK_EQ(tl_ws_client_close(c->ws, TL_WS_CLOSE_NORMAL, "done"), 0);
		wait_for(e, &c->disconnects, d + 1, 10000, "close");
	}
	CHECK_EQ(tl_ws_client_destroy(c->ws), 0);
	free(c->msg);
}

static void send_text(struct client *c, const char *s)
{
	CHECK_EQ(tl_ws_client_send(c->ws, TL_WS_OP_TEXT, s, strlen(s)), 0);
}

/* Waits for the peer to report `prefix`, running our loop meanwhile (our side may still
 * have bytes to send, pongs for instance). */
static void expect_peer(struct env *e, const char *prefix)
{
	char line[256];
	int64_t deadline = test_peer_ms() + 10000;
	while (!test_peer_expect(&e->peer, prefix, line, sizeof(line), 5)) {
		if (test_peer_ms() > deadline) {
			fprintf(stderr, "peer never printed '%s'\n", prefix);
			exit(1);
		}
		CHECK(tl_io_loop_poll(e->loop, 5 * 1000 * 1000) >= 0);
	}
}

/* ---- scenarios ---------------------------------------------------------------------- */

static void test_echo(struct env *e)
{
	struct client c;
	client_open(e, &c, 2u << 20, false);
	expect_peer(e, "CONNECTED");
	send_text(&c, "hello");
	wait_for(e, &c.msgs, 1, 10000, "echo");
	CHECK_EQ(c.op, TL_WS_OP_TEXT);
	CHECK(c.msg_len == 5 && memcmp(c.msg, "hello", 5) == 0);

	/* Each length encoding, at its edges, and a message far larger than one recv buffer. */
	static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 100000, 1u << 20};
	uint8_t *payload = malloc(1u << 20);
	CHECK(payload);
	for (size_t i = 0; i < (1u << 20); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int before = c.msgs;
		CHECK_EQ(tl_ws_client_send(c.ws, TL_WS_OP_BINARY, payload, sizes[i]), 0);
		wait_for(e, &c.msgs, before + 1, 20000, "binary echo");
		CHECK_EQ(c.op, TL_WS_OP_BINARY);
		CHECK_EQ(c.msg_len, sizes[i]);
		CHECK(memcmp(c.msg, payload, sizes[i]) == 0);
	}
	free(payload);

	/* Our close: the peer sees our code, we see a clean end. */
	CHECK_EQ(tl_ws_client_close(c.ws, TL_WS_CLOSE_NORMAL, "bye"), 0);
	wait_for(e, &c.disconnects, 1, 10000, "close");
	CHECK_EQ(c.err, 0);
	CHECK_EQ(c.code, TL_WS_CLOSE_NORMAL);
	CHECK(!c.will_retry);
	expect_peer(e, "CLOSE 1000");
	client_free(e, &c);
}

static void test_fragments_and_pings(struct env *e)
{
	struct client c;
	client_open(e, &c, 1u << 20, false);
	send_text(&c, "cmd:frag:6:3000");
	wait_for(e, &c.msgs, 1, 10000, "fragmented message");
	CHECK_EQ(c.op, TL_WS_OP_TEXT);
	CHECK_EQ(c.msg_len, 3000);
	CHECK(tl_utf8_valid(c.msg, c.msg_len));
	/* The pings between the fragments were answered with their own payloads. */
	expect_peer(e, "PONG p");

	send_text(&c, "cmd:ping:hello");
	wait_for(e, &c.msgs, 2, 10000, "pong report");
	CHECK(c.msg_len == 10 && memcmp(c.msg, "pong:hello", 10) == 0);

	/* Our own ping gets the peer's pong. */
	CHECK_EQ(tl_ws_client_send(c.ws, TL_WS_OP_PING, "x", 1), 0);
	wait_for(e, &c.pongs, 1, 10000, "pong");
	client_free(e, &c);
}

static void test_too_big(struct env *e)
{
	struct client c;
	client_open(e, &c, 64u << 10, false);
	send_text(&c, "cmd:big:200000");
	wait_for(e, &c.disconnects, 1, 20000, "close 1009");
	CHECK_EQ(c.code, TL_WS_CLOSE_TOO_BIG);
	CHECK_EQ(c.err, -EMSGSIZE);
	/* libwebsockets, when our close frame reaches it while it is still writing the big
	 * message, hangs up without reporting the frame (seen under ASan, about one run in
	 * three); node reports it every time. */
	if (e->node)
		expect_peer(e, "CLOSE 1009");
	client_free(e, &c);
}

static void test_server_close_and_reconnect(struct env *e)
{
	struct client c;
	client_open(e, &c, 1u << 20, true);
	uint64_t before = tl_io_now_ns();
	send_text(&c, "cmd:close:4001:going");
	wait_for(e, &c.disconnects, 1, 10000, "server close");
	CHECK_EQ(c.code, 4001);
	CHECK_EQ(c.err, 0);
	CHECK(c.will_retry);
	/* The client comes back on its own and says since when it was gone. */
	wait_for(e, &c.reconnects, 1, 10000, "reconnect");
	CHECK_EQ(c.opens, 2);
	CHECK(c.disconnected_at_ns >= before && c.disconnected_at_ns <= tl_io_now_ns());
	send_text(&c, "after");
	wait_for(e, &c.msgs, 1, 10000, "echo after reconnect");
	client_free(e, &c);
}

/* Raw frames from the server that break the protocol; we must close with the right code. */
static void violation(struct env *e, const char *hex, uint16_t code, int err)
{
	struct client c;
	client_open(e, &c, 1u << 20, false);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "cmd:raw:%s", hex);
	send_text(&c, cmd);
	wait_for(e, &c.disconnects, 1, 10000, "violation close");
	CHECK_EQ(c.code, code);
	CHECK_EQ(c.err, err);
	char want[32];
	snprintf(want, sizeof(want), "CLOSE %u", (unsigned)code);
	expect_peer(e, want);
	client_free(e, &c);
}

static void test_violations(struct env *e)
{
	violation(e, "8102c328", TL_WS_CLOSE_INVALID_DATA, -EILSEQ); /* text "\xc3\x28" */
	violation(e, "8300", TL_WS_CLOSE_PROTOCOL, -EPROTO);         /* reserved opcode 3 */
	violation(e, "c100", TL_WS_CLOSE_PROTOCOL, -EPROTO);         /* RSV1 with no extension */
	violation(e, "818101020304", TL_WS_CLOSE_PROTOCOL, -EPROTO); /* masked server frame */
	violation(e, "097e0080", TL_WS_CLOSE_PROTOCOL, -EPROTO);     /* fragmented ping */
}

/* Masking keys drawn in idle rounds (tl_ws_client_idle): the peer unmasks every frame
 * right, and no send draws keys itself; without the idle calls, sends do. */
static void test_idle_keys(struct env *e)
{
	struct client c;
	struct tl_ws_client_stats st;
	char msg[40];

	client_open(e, &c, 1u << 20, false);
	tl_ws_client_stats(c.ws, &st);
	uint64_t in_send = st.key_draws_in_send, idle = st.key_draws_idle;
	for (int round = 0; round < 2; round++) {
		bool with_idle = round == 0;
		for (int i = 0; i < 600; i++) {
			int before = c.msgs;
			int n = snprintf(msg, sizeof(msg), "key test %d/%d", round, i);
			CHECK_EQ(tl_ws_client_send(c.ws, TL_WS_OP_TEXT, msg, (size_t)n), 0);
			wait_for(e, &c.msgs, before + 1, 10000, "echo");
			CHECK(c.msg_len == (size_t)n && memcmp(c.msg, msg, (size_t)n) == 0);
			if (with_idle)
				tl_ws_client_idle(c.ws);
		}
		tl_ws_client_stats(c.ws, &st);
		if (with_idle) {
			CHECK_EQ(st.key_draws_in_send, in_send);
			CHECK(st.key_draws_idle - idle >= 600 / 256);
		} else {
			CHECK(st.key_draws_in_send - in_send >= 600 / 256 - 1);
		}
		in_send = st.key_draws_in_send;
		idle = st.key_draws_idle;
	}
	CHECK_EQ(st.key_draw_failures, 0);
	client_free(e, &c);
}

#if COUNT_ALLOCS
static void test_no_alloc(struct env *e)
{
	struct client c;
	client_open(e, &c, 1u << 20, false);
	char msg[64];
	memset(msg, 'm', sizeof(msg));
	/* Warm up: the first messages may settle TLS session tickets and the like. */
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(tl_ws_client_send(c.ws, TL_WS_OP_TEXT, msg, sizeof(msg)), 0);
		wait_for(e, &c.msgs, i + 1, 10000, "warm-up echo");
	}
	unsigned long a0 = allocs();
	for (int i = 0; i < 2000; i++) {
		int before = c.msgs;
		CHECK_EQ(tl_ws_client_send(c.ws, TL_WS_OP_TEXT, msg, sizeof(msg)), 0);
		while (c.msgs == before)
			CHECK(tl_io_loop_poll(e->loop, 10 * 1000 * 1000) >= 0);
		tl_ws_client_idle(c.ws); /* its key draws included */
	}
	unsigned long used = allocs() - a0;
	fprintf(stderr, "  %s: heap allocations over 2000 echoes: %lu\n", e->tls ? "tls" : "plain",
	        used);
	CHECK_EQ(used, 0);
	client_free(e, &c);
}
#endif

/* ---- HTTP (node peer) --------------------------------------------------------------- */

struct http_result {
	int done;
	int err;
	int status;
	size_t body_len;
	uint8_t body[200000];
	char method[16];
	char echo_header[64];
};

static void on_response(tl_http_client_t *cl, void *user, int err, const struct tl_http_response *r)
{
	(void)cl;
	struct http_result *h = user;
	h->err = err;
	h->status = r ? r->status : 0;
	h->body_len = 0;
	h->method[0] = h->echo_header[0] = '\0';
	if (r) {
		CHECK(r->body_len <= sizeof(h->body));
		memcpy(h->body, r->body_buf, r->body_len);
		h->body_len = r->body_len;
		size_t n;
		const char *v = tl_http_header_get(r, "x-method", &n);
		if (v)
			snprintf(h->method, sizeof(h->method), "%.*s", (int)n, v);
		v = tl_http_header_get(r, "x-echo-header", &n);
		if (v)
			snprintf(h->echo_header, sizeof(h->echo_header), "%.*s", (int)n, v);
	}
	h->done++;
}

static void check_pattern(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)('a' + i % 26)) {
			fprintf(stderr, "body byte %zu is %u\n", i, b[i]);
			exit(1);
		}
}

static void http_do(struct env *e, tl_http_client_t *cl, struct http_result *h, const char *method,
                    const char *target, const struct tl_http_header *hdrs, size_t n_hdrs,
                    const char *body)
{
	int before = h->done;
	fprintf(stderr, "  http %s %s\n", method, target);
	CHECK_EQ(
	    tl_http_client_request(cl, method, target, hdrs, n_hdrs, body, body ? strlen(body) : 0),
	    0);
	wait_for(e, &h->done, before + 1, 10000, target);
}

static void test_http(struct env *e)
{
	static struct http_result h;
	struct tl_http_client_config cfg;
	tl_http_client_config_default(&cfg);
	cfg.host = "localhost";
	cfg.port = e->peer.port;
	cfg.max_body_bytes = 150000;
	cfg.conn.tls = e->tls;
	cfg.conn.ca_file = e->ca;
	cfg.conn.tls_no_system_cas = true;
	tl_http_client_t *cl;
	CHECK_EQ(tl_http_client_create(&cl, e->loop, &cfg, on_response, &h), 0);

	http_do(e, cl, &h, "GET", "/http/len/100000", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.status, 200);
	CHECK_EQ(h.body_len, 100000);
	check_pattern(h.body, h.body_len);

	http_do(e, cl, &h, "GET", "/http/chunked/50000/777", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.body_len, 50000);
	check_pattern(h.body, h.body_len);

	struct tl_http_header hdr = {"X-Test", 6, "forty-two", 9};
	http_do(e, cl, &h, "POST", "/http/echo", &hdr, 1, "{\"a\":1}");
	CHECK_EQ(h.err, 0);
	CHECK(h.body_len == 7 && memcmp(h.body, "{\"a\":1}", 7) == 0);
	CHECK(strcmp(h.method, "POST") == 0);
	CHECK(strcmp(h.echo_header, "forty-two") == 0);

	http_do(e, cl, &h, "DELETE", "/http/echo", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK(strcmp(h.method, "DELETE") == 0);

	/* An interim 1xx head is skipped; the final answer is what the caller gets. */
	http_do(e, cl, &h, "GET", "/http/early", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.status, 200);
	CHECK(h.body_len == 12 && memcmp(h.body, "after hints\n", 12) == 0);

	http_do(e, cl, &h, "GET", "/http/status/404", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.status, 404);
	/* Everything so far went over one kept-alive connection. */
	CHECK_EQ(tl_http_client_connects(cl), 1);

	/* A body that ends with the connection; the next request opens a new one. */
	http_do(e, cl, &h, "GET", "/http/close/5000", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.body_len, 5000);
	check_pattern(h.body, h.body_len);
	http_do(e, cl, &h, "GET", "/http/len/10", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(tl_http_client_connects(cl), 2);

	/* The server closes a kept-alive connection under the next request without reading
	 * it: a GET is sent again on a new connection, once, and succeeds... */
	uint64_t connects = tl_http_client_connects(cl);
	http_do(e, cl, &h, "GET", "/http/hangup/7", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.body_len, 7);
	http_do(e, cl, &h, "GET", "/http/len/10", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	CHECK_EQ(h.body_len, 10);
	CHECK_EQ(tl_http_client_connects(cl), connects + 1);
	/* ...while a POST, which may have taken effect, is never repeated: it fails. */
	http_do(e, cl, &h, "GET", "/http/hangup/7", NULL, 0, NULL);
	CHECK_EQ(h.err, 0);
	http_do(e, cl, &h, "POST", "/http/echo", NULL, 0, "{}");
	CHECK(h.err == -EPIPE || h.err == -ECONNRESET);
	CHECK_EQ(tl_http_client_connects(cl), connects + 1);

	/* Over the response limit: an error, never a truncated body. */
	http_do(e, cl, &h, "GET", "/http/len/150001", NULL, 0, NULL);
	CHECK_EQ(h.err, -EMSGSIZE);
	http_do(e, cl, &h, "GET", "/http/chunked/150001/4096", NULL, 0, NULL);
	CHECK_EQ(h.err, -EMSGSIZE);

	tl_http_client_close(cl);
	for (int i = 0; i < 50; i++)
		tl_io_loop_poll(e->loop, 1000 * 1000);
	CHECK_EQ(tl_http_client_destroy(cl), 0);
}

/* ---- TLS failures ------------------------------------------------------------------- */

static void tls_failure(struct env *e, char *const argv[], int want)
{
	struct test_peer bad;
	CHECK_EQ(test_peer_start(&bad, argv), 0);
	struct client c;
	memset(&c, 0, sizeof(c));
	c.msg = malloc(16);
	struct tl_ws_client_config cfg;
	tl_ws_client_config_default(&cfg);
	cfg.host = "localhost";
	cfg.port = bad.port;
	cfg.path = "/ws";
	cfg.reconnect = false;
	cfg.conn.tls = true;
	cfg.conn.ca_file = e->ca;
	cfg.conn.tls_no_system_cas = true;
	CHECK_EQ(tl_ws_client_create(&c.ws, e->loop, &cfg, &client_ops, &c), 0);
	CHECK_EQ(tl_ws_client_connect(c.ws), 0);
	wait_for(e, &c.disconnects, 1, 10000, "TLS failure");
	fprintf(stderr, "  TLS failure: %s\n", tl_strerror(c.err));
	CHECK_EQ(c.err, want);
	CHECK_EQ(c.opens, 0);
	CHECK_EQ(tl_ws_client_destroy(c.ws), 0);
	free(c.msg);
	test_peer_stop(&bad);
}

static void peer_argv(struct env *e, const char *dir, const char *lws, const char *cert,
                      char *argv[8], char bufs[3][400])
{
	int i = 0;
	if (e->node) {
		argv[i++] = "node";
		snprintf(bufs[0], 400, "%s/peer_ws.js", dir);
		argv[i++] = bufs[0];
	} else {
		argv[i++] = (char *)lws;
	}
	if (cert) {
		argv[i++] = "--tls";
		snprintf(bufs[1], 400, "%s/%s.pem", e->certs, cert);
		snprintf(bufs[2], 400, "%s/%s.key", e->certs, cert);
		argv[i++] = bufs[1];
		argv[i++] = bufs[2];
	}
	argv[i] = NULL;
}

static void run_all(struct env *e, const char *dir, const char *lws)
{
	char *argv[8];
	char bufs[3][400];
	peer_argv(e, dir, lws, e->tls ? "server" : NULL, argv, bufs);
	CHECK_EQ(test_peer_start(&e->peer, argv), 0);
	fprintf(stderr, "%s peer, %s, port %u\n", e->node ? "node ws" : "libwebsockets",
	        e->tls ? "TLS" : "plain", (unsigned)e->peer.port);

	test_echo(e);
	test_fragments_and_pings(e);
	test_too_big(e);
	test_server_close_and_reconnect(e);
	test_violations(e);
	test_idle_keys(e);
	if (e->node)
		test_http(e); /* the node peer also serves the HTTP routes */
#if COUNT_ALLOCS
	test_no_alloc(e);
#endif
	test_peer_stop(&e->peer);

	if (e->tls) {
		peer_argv(e, dir, lws, "expired", argv, bufs);
		tls_failure(e, argv, TL_E_TLS_EXPIRED);
		peer_argv(e, dir, lws, "unknown", argv, bufs);
		tls_failure(e, argv, TL_E_TLS_UNKNOWN_CA);
		peer_argv(e, dir, lws, "wrongname", argv, bufs);
		tls_failure(e, argv, TL_E_TLS_HOSTNAME);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[2], "lws") == 0 && argc < 4)) {
		fprintf(stderr, "usage: %s <tests/io dir> node|lws [lws_peer]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *dir = argv[1];
	struct env e;
	memset(&e, 0, sizeof(e));
	e.node = strcmp(argv[2], "node") == 0;
	if (e.node &&
	    system("NODE_PATH=/usr/share/nodejs node -e \"require('ws')\" >/dev/null 2>&1") != 0) {
		fprintf(stderr,
		        "skipped: node with the ws module (apt-get install node-ws) is missing\n");
		return TL_TEST_SKIP;
	}

	snprintf(e.certs, sizeof(e.certs), "/tmp/tally-io-certs-XXXXXX");
	CHECK(mkdtemp(e.certs));
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "bash '%s/gen_certs.sh' '%s'", dir, e.certs);
	CHECK_EQ(system(cmd), 0);
	snprintf(e.ca, sizeof(e.ca), "%s/ca.pem", e.certs);

	struct tl_io_loop_config lc;
	tl_io_loop_config_default(&lc);
	CHECK_EQ(tl_io_loop_create(&e.loop, &lc), 0);

	for (int tls = 0; tls < 2; tls++) {
		e.tls = tls;
		run_all(&e, dir, argc > 3 ? argv[3] : NULL);
	}
	tl_io_loop_destroy(e.loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e.certs);
	CHECK_EQ(system(cmd), 0);
	fprintf(stderr, "ok\n");
	return 0;
}
