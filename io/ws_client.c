/*
 * ws_client.c: a WebSocket client (RFC 6455) on a conn, with reconnection.
 *
 * DESIGN
 * States: IDLE -> CONNECTING (TCP, TLS) -> UPGRADING (request sent, waiting for 101) ->
 * OPEN -> CLOSING -> IDLE, or WAIT_RETRY when a reconnect is scheduled. The conn's one
 * owner deadline serves whichever state we are in: the ping interval while OPEN, the
 * close timeout while CLOSING, the back-off delay while WAIT_RETRY.
 *
 * A protocol violation by the peer is answered with a close frame carrying the reason
 * (1002, 1007, 1009); then we only wait, discarding input, for the peer to close the TCP
 * connection (or for the close timeout). Closing at once with unread input would make
 * the kernel send a reset, which can destroy our close frame before the peer reads it.
 *
 * Mask keys come from wolfSSL's DRBG, as RFC 6455 §5.3 asks, drawn 64 keys at a time so
 * that sending a frame costs no syscall and no DRBG call in the common case.
 */
#include "io_internal.h"
#include "tl_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/wolfcrypt/random.h>

enum ws_state { WS_IDLE, WS_CONNECTING, WS_UPGRADING, WS_OPEN, WS_CLOSING, WS_WAIT_RETRY };

#define WS_HEAD_BYTES 4096

struct tl_ws_client {
	tl_io_loop_t *loop;
	tl_io_conn_t *conn;
	struct tl_ws_client_config cfg;
	struct tl_ws_client_ops ops;
	void *user;
	char *host;
	char *path;
	char *extra_headers;

	enum ws_state state;
	struct tl_ws_decoder dec;
	uint8_t *msg_buf;

	/* The upgrade: our key, the accept value it implies, the 101 response. */
	char key[TL_WS_KEY_LEN + 1];
	char accept[TL_WS_ACCEPT_LEN + 1];
	struct tl_http_response resp;
	char head_buf[WS_HEAD_BYTES];
	uint8_t no_body[1];

	WC_RNG rng;
	struct tl_ws_mask_pool masks; /* drawn from rng; topped up by tl_ws_client_idle */

	struct tl_io_backoff backoff;
	bool user_closed; /* tl_ws_client_close: no reconnect */
	bool failed;      /* we closed for a protocol violation; input is discarded */
	bool close_sent;
	bool close_received;
	uint16_t close_code; /* the peer's, or ours after a violation */
	int err;             /* why the connection ended, when we know better than the conn */
	bool was_open;       /* this connection reached OPEN */
	bool dropped;        /* a connection dropped and no new one has opened yet */
	uint64_t disconnected_at_ns;
	uint64_t opened_at_ns;
	uint64_t ping_seq;
};

void tl_ws_client_config_default(struct tl_ws_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tl_io_conn_config_default(&cfg->conn);
	cfg->path = "/";
	cfg->max_msg_bytes = 1u << 20;
	cfg->close_timeout_ns = 2000000000ull;
	cfg->reconnect = true;
	cfg->backoff_base_ns = 100000000ull;
	cfg->backoff_cap_ns = 30000000000ull;
	cfg->stable_after_ns = 30000000000ull;
}

/* The DRBG cannot fail once seeded, short of a broken build; the pool then hands out a
 * constant key, which still makes a valid frame, rather than turn that into a send error. */
static int mask_fill(void *ctx, uint8_t *out, size_t len)
{
	return wc_RNG_GenerateBlock(ctx, out, (word32)len);
}

static const uint8_t *next_mask(struct tl_ws_client *ws)
{
	return tl_ws_mask_pool_take(&ws->masks, mask_fill, &ws->rng);
}

/* Builds one masked frame straight into the conn's send buffer. */
static int send_frame(struct tl_ws_client *ws, uint8_t opcode, const void *data, size_t len)
{
	if (!tl_io_conn_is_open(ws->conn))
		return -ENOTCONN;
	const uint8_t *key = next_mask(ws);
	uint8_t hdr[TL_WS_HEADER_MAX];
	size_t hdr_len = tl_ws_header_write(hdr, opcode, true, len, key);
	uint8_t *p = tl_io_conn_send_reserve(ws->conn, hdr_len + len);
	if (!p)
		return -ENOBUFS;
	memcpy(p, hdr, hdr_len);
	tl_ws_mask(p + hdr_len, data, len, key, 0);
	return tl_io_conn_send_commit(ws->conn, hdr_len + len);
}

static void send_close(struct tl_ws_client *ws, uint16_t code, const char *reason)
{
	if (ws->close_sent)
		return;
	uint8_t payload[TL_WS_CONTROL_MAX];
	size_t n = code == TL_WS_CLOSE_NO_STATUS ? 0 : tl_ws_close_payload(payload, code, reason);
	send_frame(ws, TL_WS_OP_CLOSE, payload, n);
	ws->close_sent = true;
}

/* The peer broke the protocol: tell it why, then wait for it to hang up. */
static void fail(struct tl_ws_client *ws, uint16_t code, int err)
{
	tl_log(TL_LOG_WARNING, "io", "ws %s: closing with %u: %s", ws->host, (unsigned)code,
	       tl_strerror(err));
	send_close(ws, code, tl_strerror(err));
	ws->failed = true;
	ws->close_code = code;
	ws->err = err;
	ws->state = WS_CLOSING;
	tl_io_conn_timer_set(ws->conn, ws->cfg.close_timeout_ns);
}

static void start_upgrade(struct tl_ws_client *ws)
{
	uint8_t nonce[16];
	if (wc_RNG_GenerateBlock(&ws->rng, nonce, sizeof(nonce)) != 0) {
		tl_io_conn_abort(ws->conn, TL_E_WS_HANDSHAKE);
		return;
	}
	tl_ws_key_make(ws->key, nonce);
	tl_ws_accept_make(ws->accept, ws->key, TL_WS_KEY_LEN);
	tl_http_response_reset(&ws->resp, true);

	char port[16] = "";
	bool default_port = ws->cfg.port == (ws->cfg.conn.tls ? 443 : 80);
	if (!default_port)
		snprintf(port, sizeof(port), ":%u", (unsigned)ws->cfg.port);
	uint8_t *p = tl_io_conn_send_reserve(ws->conn, WS_HEAD_BYTES);
	if (!p) {
		tl_io_conn_abort(ws->conn, -ENOBUFS);
		return;
	}
	int n = snprintf((char *)p, WS_HEAD_BYTES,
	                 "GET %s HTTP/1.1\r\nHost: %s%s\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n%s\r\n",
	                 ws->path, ws->host, port, ws->key, ws->extra_headers);
	if (n < 0 || n >= WS_HEAD_BYTES) {
		tl_io_conn_send_commit(ws->conn, 0);
		tl_io_conn_abort(ws->conn, -EMSGSIZE);
		return;
	}
	tl_io_conn_send_commit(ws->conn, (size_t)n);
	ws->state = WS_UPGRADING;
}

static void conn_open(tl_io_conn_t *conn, void *user)
{
	(void)conn;
	struct tl_ws_client *ws = user;
	ws->failed = ws->close_sent = ws->close_received = false;
	ws->close_code = TL_WS_CLOSE_ABNORMAL;
	ws->err = 0;
	ws->was_open = false;
	tl_ws_decoder_reset(&ws->dec);
	start_upgrade(ws);
}

/* Checks the 101 answer (RFC 6455 §4.1, the client's checks 1-6). */
static int upgrade_check(struct tl_ws_client *ws)
{
	const struct tl_http_response *r = &ws->resp;
	size_t len;
	if (r->status != 101) {
		tl_log(TL_LOG_WARNING, "io", "ws %s%s: upgrade refused with HTTP %d", ws->host,
		       ws->path, r->status);
		return TL_E_WS_HANDSHAKE;
	}
	const char *accept = tl_http_header_get(r, "sec-websocket-accept", &len);
	const char *why = NULL;
	if (!tl_http_header_has_token(r, "upgrade", "websocket"))
		why = "no Upgrade: websocket";
	else if (!tl_http_header_has_token(r, "connection", "upgrade"))
		why = "no Connection: Upgrade";
	else if (!accept || len != TL_WS_ACCEPT_LEN || memcmp(accept, ws->accept, len) != 0)
		why = "wrong Sec-WebSocket-Accept";
	else if (tl_http_header_get(r, "sec-websocket-extensions", &len))
		why = "an extension we did not offer";
	if (why) {
		tl_log(TL_LOG_WARNING, "io", "ws %s%s: invalid upgrade: %s", ws->host, ws->path,
		       why);
		return TL_E_WS_HANDSHAKE;
	}
	return 0;
}

static void opened(struct tl_ws_client *ws)
{
	ws->state = WS_OPEN;
	ws->was_open = true;
	ws->opened_at_ns = tl_io_now_ns();
	tl_io_conn_handshake_done(ws->conn);
	tl_io_conn_timer_set(ws->conn, ws->cfg.ping_interval_ns);
	bool reconnected = ws->dropped;
	ws->dropped = false;
	if (ws->ops.on_open)
		ws->ops.on_open(ws, ws->user);
	if (reconnected && ws->ops.on_reconnect && ws->state == WS_OPEN)
		ws->ops.on_reconnect(ws, ws->user, ws->disconnected_at_ns);
}

static size_t on_upgrade_bytes(struct tl_ws_client *ws, uint8_t *data, size_t len)
{
	ssize_t n = tl_http_response_parse(&ws->resp, data, len);
	if (n < 0) {
		tl_log(TL_LOG_WARNING, "io", "ws %s: malformed upgrade response: %s", ws->host,
		       tl_strerror((int)n));
		ws->err = TL_E_WS_HANDSHAKE;
		tl_io_conn_abort(ws->conn, TL_E_WS_HANDSHAKE);
		return len;
	}
	if (!ws->resp.complete)
		return (size_t)n;
	int rc = upgrade_check(ws);
	if (rc < 0) {
		ws->err = rc;
		tl_io_conn_abort(ws->conn, rc);
		return len;
	}
	opened(ws);
	return (size_t)n;
}

static void on_close_frame(struct tl_ws_client *ws, const struct tl_ws_event *ev)
{
	ws->close_received = true;
	ws->close_code = ev->close_code;
	if (!ws->close_sent) {
		/* Echo the peer's code, as RFC 6455 §5.5.1 suggests. */
		send_close(ws, ev->close_code, "");
	}
	ws->state = WS_CLOSING;
	tl_io_conn_close(ws->conn);
}

static size_t conn_data(tl_io_conn_t *conn, void *user, uint8_t *data, size_t len)
{
	(void)conn;
	struct tl_ws_client *ws = user;
	if (ws->state == WS_UPGRADING)
		return on_upgrade_bytes(ws, data, len);
	if (ws->failed || (ws->state != WS_OPEN && ws->state != WS_CLOSING))
		return len; /* after a violation or a close frame, input means nothing */
	size_t off = 0;
	while (off < len) {
		struct tl_ws_event ev;
		uint16_t code = 0;
		ssize_t n = tl_ws_decode(&ws->dec, data + off, len - off, &ev, &code);
		if (n == 0)
			break;
		if (n < 0) {
			fail(ws, code, (int)n);
			return len;
		}
		off += (size_t)n;
		switch (ev.kind) {
		case TL_WS_EV_MESSAGE:
			if (ws->ops.on_message)
				ws->ops.on_message(ws, ws->user, ev.opcode, ev.data, ev.len);
			break;
		case TL_WS_EV_PING:
			if (!ws->close_sent)
				send_frame(ws, TL_WS_OP_PONG, ev.data, ev.len);
			break;
		case TL_WS_EV_PONG:
			if (ws->ops.on_pong)
				ws->ops.on_pong(ws, ws->user, ev.data, ev.len);
			break;
		case TL_WS_EV_CLOSE:
			on_close_frame(ws, &ev);
			return len;
		case TL_WS_EV_NONE:
			break;
		}
		/* A callback may have closed us; the rest of the input is then moot. */
		if (ws->state != WS_OPEN && ws->state != WS_CLOSING)
			return len;
	}
	return off;
}

static void schedule_or_stop(struct tl_ws_client *ws, int err, uint16_t code)
{
	uint64_t now = tl_io_now_ns();
	if (ws->was_open) {
		if (!ws->dropped) {
			ws->dropped = true;
			ws->disconnected_at_ns = now;
		}
		if (now - ws->opened_at_ns >= ws->cfg.stable_after_ns)
			tl_io_backoff_reset(&ws->backoff);
		ws->was_open = false;
	}
	int64_t delay = -1;
	if (ws->cfg.reconnect && !ws->user_closed)
		delay = tl_io_backoff_next(&ws->backoff);
	bool retry = delay > 0;
	ws->state = retry ? WS_WAIT_RETRY : WS_IDLE;
	if (retry)
		tl_io_conn_timer_set(ws->conn, (uint64_t)delay);
	else
		tl_io_conn_timer_set(ws->conn, 0);
	if (ws->ops.on_disconnect)
		ws->ops.on_disconnect(ws, ws->user, now, err, code, retry);
}

static void conn_closed(tl_io_conn_t *conn, void *user, int err)
{
	(void)conn;
	struct tl_ws_client *ws = user;
	if (ws->err)
		err = ws->err;
	else if (!err && !ws->close_received)
		err = -ECONNRESET; /* the TCP connection ended with no close handshake */
	uint16_t code = ws->close_received || ws->failed ? ws->close_code : TL_WS_CLOSE_ABNORMAL;
	if (ws->close_received && !ws->failed && err == -ETIMEDOUT)
		err = 0;
	schedule_or_stop(ws, err, code);
}

static void attempt(struct tl_ws_client *ws)
{
	ws->state = WS_CONNECTING;
	int rc = tl_io_conn_connect(ws->conn, ws->host, ws->cfg.port);
	if (rc < 0) {
		ws->was_open = false;
		schedule_or_stop(ws, rc, TL_WS_CLOSE_ABNORMAL);
	}
}

static void conn_timer(tl_io_conn_t *conn, void *user)
{
	struct tl_ws_client *ws = user;
	switch (ws->state) {
	case WS_WAIT_RETRY:
		attempt(ws);
		break;
	case WS_OPEN:
		if (ws->cfg.ping_interval_ns) {
			uint64_t seq = ++ws->ping_seq;
			send_frame(ws, TL_WS_OP_PING, &seq, sizeof(seq));
			tl_io_conn_timer_set(conn, ws->cfg.ping_interval_ns);
		}
		break;
	case WS_CLOSING:
		/* The peer did not finish the close handshake in time. */
		if (!ws->err)
			ws->err = ws->close_received ? 0 : -ETIMEDOUT;
		tl_io_conn_abort(conn, -ETIMEDOUT);
		break;
	default:
		break;
	}
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int tl_ws_client_create(tl_ws_client_t **out, tl_io_loop_t *loop,
                        const struct tl_ws_client_config *cfg, const struct tl_ws_client_ops *ops,
                        void *user)
{
	if (!out || !loop || !cfg || !ops || !cfg->host || !*cfg->host || cfg->port == 0 ||
	    cfg->max_msg_bytes == 0 || (cfg->path && cfg->path[0] != '/'))
		return -EINVAL;
	struct tl_ws_client *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	int rc = -ENOMEM;
	ws->loop = loop;
	ws->cfg = *cfg;
	ws->ops = *ops;
	ws->user = user;
	ws->host = dup_or_empty(cfg->host);
	ws->path = dup_or_empty(cfg->path ? cfg->path : "/");
	ws->extra_headers = dup_or_empty(cfg->extra_headers);
	ws->msg_buf = malloc(cfg->max_msg_bytes);
	if (!ws->host || !ws->path || !ws->extra_headers || !ws->msg_buf)
		goto err;
	ws->cfg.host = ws->host;
	ws->cfg.path = ws->path;
	ws->cfg.extra_headers = ws->extra_headers;
	if (wc_InitRng(&ws->rng) != 0)
		goto err;
	tl_ws_mask_pool_init(&ws->masks, mask_fill, &ws->rng); /* not on the first send */
	tl_ws_decoder_init(&ws->dec, ws->msg_buf, cfg->max_msg_bytes, false);
	tl_http_response_init(&ws->resp, ws->head_buf, sizeof(ws->head_buf), ws->no_body,
	                      sizeof(ws->no_body));
	uint64_t seed;
	wc_RNG_GenerateBlock(&ws->rng, (uint8_t *)&seed, sizeof(seed));
	rc = tl_io_backoff_init(&ws->backoff, cfg->backoff_base_ns, cfg->backoff_cap_ns,
	                        cfg->backoff_max_attempts, seed);
	if (rc < 0)
		goto err_rng;

	/* A whole message, its frame header and one receive buffer must fit the stash. */
	struct tl_io_conn_config cc = cfg->conn;
	size_t need = cfg->max_msg_bytes + TL_WS_HEADER_MAX + (64u << 10);
	if (cc.rx_stash_bytes < need)
		cc.rx_stash_bytes = need;
	static const struct tl_io_conn_ops conn_ops = {
	    .on_open = conn_open,
	    .on_data = conn_data,
	    .on_timer = conn_timer,
	    .on_close = conn_closed,
	};
	rc = tl_io_conn_create(&ws->conn, loop, &cc, &conn_ops, ws);
	if (rc < 0)
		goto err_rng;
	*out = ws;
	return 0;
err_rng:
	wc_FreeRng(&ws->rng);
err:
	free(ws->host);
	free(ws->path);
	free(ws->extra_headers);
	free(ws->msg_buf);
	free(ws);
	return rc;
}

int tl_ws_client_connect(tl_ws_client_t *ws)
{
	if (ws->state != WS_IDLE && ws->state != WS_WAIT_RETRY)
		return -EISCONN;
	ws->user_closed = false;
	ws->state = WS_CONNECTING;
	int rc = tl_io_conn_connect(ws->conn, ws->host, ws->cfg.port);
	if (rc < 0)
		ws->state = WS_IDLE;
	return rc;
}

int tl_ws_client_send(tl_ws_client_t *ws, uint8_t opcode, const void *data, size_t len)
{
	if (ws->state != WS_OPEN)
		return -ENOTCONN;
	switch (opcode) {
	case TL_WS_OP_TEXT:
	case TL_WS_OP_BINARY:
		break;
	case TL_WS_OP_PING:
	case TL_WS_OP_PONG:
		if (len > TL_WS_CONTROL_MAX)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return send_frame(ws, opcode, data, len);
}

int tl_ws_client_close(tl_ws_client_t *ws, uint16_t code, const char *reason)
{
	ws->user_closed = true;
	switch (ws->state) {
	case WS_OPEN:
		send_close(ws, code, reason ? reason : "");
		ws->close_code = code;
		ws->state = WS_CLOSING;
		tl_io_conn_timer_set(ws->conn, ws->cfg.close_timeout_ns);
		return 0;
	case WS_CONNECTING:
	case WS_UPGRADING:
		tl_io_conn_abort(ws->conn, -ECANCELED);
		return 0;
	case WS_WAIT_RETRY:
		ws->state = WS_IDLE;
		tl_io_conn_timer_set(ws->conn, 0);
		return 0;
	default:
		return 0;
	}
}

int tl_ws_client_resync(tl_ws_client_t *ws, uint16_t code, const char *reason)
{
	if (ws->state != WS_OPEN)
		return -ENOTCONN;
	/* As after the peer's protocol violation: our close frame, then input is
	 * discarded until the peer hangs up; the reconnect follows as after any drop. */
	send_close(ws, code, reason ? reason : "");
	ws->failed = true;
	ws->close_code = code;
	ws->err = -ECONNABORTED;
	ws->state = WS_CLOSING;
	tl_io_conn_timer_set(ws->conn, ws->cfg.close_timeout_ns);
	return 0;
}

bool tl_ws_client_idle(tl_ws_client_t *ws)
{
	bool drew = tl_ws_mask_pool_refill(&ws->masks, mask_fill, &ws->rng);

	tl_prefetch(ws, offsetof(struct tl_ws_client, key), false); /* to the decoder's end */
	tl_prefetch(&ws->masks.next, sizeof(ws->masks.next), false);
	tl_prefetch(ws->masks.keys + (ws->masks.next & (TL_WS_MASK_POOL_BYTES - 1)), 4, false);
	tl_io_conn_prefetch(ws->conn);
	return drew;
}

void tl_ws_client_stats(const tl_ws_client_t *ws, struct tl_ws_client_stats *out)
{
	out->key_draws_in_send = ws->masks.draws_in_take;
	out->key_draws_idle = ws->masks.draws_refilled;
	out->key_draw_failures = ws->masks.fill_failures;
}

bool tl_ws_client_is_open(const tl_ws_client_t *ws)
{
	return ws->state == WS_OPEN;
}

int tl_ws_client_destroy(tl_ws_client_t *ws)
{
	if (!ws)
		return 0;
	if (ws->state != WS_IDLE && ws->state != WS_WAIT_RETRY)
		return -EBUSY;
	int rc = tl_io_conn_destroy(ws->conn);
	if (rc < 0)
		return rc;
	wc_FreeRng(&ws->rng);
	free(ws->host);
	free(ws->path);
	free(ws->extra_headers);
	free(ws->msg_buf);
	free(ws);
	return 0;
}
