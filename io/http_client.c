/*
 * http_client.c: HTTP/1.1 requests, one at a time, on a kept-alive conn.
 *
 * A request is written into req_buf first, so that it can wait there while the conn
 * connects; once the conn is open it is sent in one piece. The response is parsed
 * straight out of the conn's receive path into the caller-sized head and body buffers.
 * The connection is kept for the next request unless the response said otherwise.
 */
#include "io_internal.h"
#include "tl_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tl_http_client {
	tl_io_loop_t *loop;
	tl_io_conn_t *conn;
	struct tl_http_client_config cfg;
	char *host;        /* what the conn resolves and TLS verifies */
	char *host_header; /* "host" or "host:port" */
	tl_http_response_fn on_response;
	void *user;

	char *req_buf;
	size_t req_cap;
	size_t req_len;
	bool in_flight;        /* a request awaits its response */
	bool req_unsent;       /* ...and is still in req_buf, waiting for the conn to open */
	bool connect_on_close; /* ...and the old connection must finish closing first */
	bool head_request;     /* ...and it is a HEAD: no body will follow the head */
	bool may_resend;       /* ...and it is a GET or HEAD sent on a reused connection */

	struct tl_http_response resp;
	char *head_buf;
	uint8_t *body_buf;
	uint64_t connects;
};

void tl_http_client_config_default(struct tl_http_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tl_io_conn_config_default(&cfg->conn);
	cfg->conn.rx_stash_bytes = 64u << 10;
	cfg->conn.tx_buf_bytes = 64u << 10;
	cfg->max_head_bytes = 16u << 10;
	cfg->max_body_bytes = 4u << 20;
	cfg->request_timeout_ns = 10000000000ull;
}

/* Ends the request in flight; the callback comes last, as it may start the next one. */
static void finish(struct tl_http_client *cl, int err)
{
	cl->in_flight = false;
	cl->req_unsent = false;
	cl->connect_on_close = false;
	tl_io_conn_timer_set(cl->conn, 0);
	cl->on_response(cl, cl->user, err, err < 0 ? NULL : &cl->resp);
}

static void send_request(struct tl_http_client *cl)
{
	cl->req_unsent = false;
	int rc = tl_io_conn_send(cl->conn, cl->req_buf, cl->req_len);
	if (rc < 0)
		tl_io_conn_abort(cl->conn, rc);
}

static void conn_open(tl_io_conn_t *conn, void *user)
{
	struct tl_http_client *cl = user;
	tl_io_conn_handshake_done(conn);
	if (cl->req_unsent)
		send_request(cl);
}

static size_t conn_data(tl_io_conn_t *conn, void *user, uint8_t *data, size_t len)
{
	struct tl_http_client *cl = user;
	if (!cl->in_flight) {
		/* Bytes nobody asked for: the stream can no longer be trusted. */
		tl_io_conn_abort(conn, -EBADMSG);
		return len;
	}
	ssize_t n = tl_http_response_parse(&cl->resp, data, len);
	if (n < 0) {
		tl_io_conn_abort(conn, (int)n);
		finish(cl, (int)n);
		return len;
	}
	if (cl->resp.complete && cl->resp.status < 200 && cl->resp.status != 101) {
		/* An interim answer (100 Continue, 103 Early Hints): the real one follows. */
		tl_http_response_reset(&cl->resp, cl->head_request);
		return (size_t)n;
	}
	if (cl->resp.complete) {
		if (!cl->resp.keep_alive)
			tl_io_conn_close(conn);
		finish(cl, 0);
	}
	return (size_t)n;
}

static void conn_timer(tl_io_conn_t *conn, void *user)
{
	struct tl_http_client *cl = user;
	if (!cl->in_flight)
		return;
	tl_io_conn_abort(conn, -ETIMEDOUT);
	finish(cl, -ETIMEDOUT);
}

static void conn_closed(tl_io_conn_t *conn, void *user, int err)
{
	(void)conn;
	struct tl_http_client *cl = user;
	if (!cl->in_flight)
		return;
	if (cl->connect_on_close) {
		/* The request was queued while the previous connection wound down. */
		cl->connect_on_close = false;
		int rc = tl_io_conn_connect(cl->conn, cl->host, cl->cfg.port);
		if (rc == 0)
			cl->connects++;
		else
			finish(cl, rc);
		return;
	}
	if (cl->may_resend && cl->resp.head_len == 0 && !cl->resp.head_done) {
		/* The kept-alive connection died before a byte of the answer: the server
		 * closed it while the request was on its way. Safe to send again, once. */
		cl->may_resend = false;
		int rc = tl_io_conn_connect(cl->conn, cl->host, cl->cfg.port);
		if (rc == 0) {
			cl->connects++;
			cl->req_unsent = true;
			tl_log(TL_LOG_INFO, "http",
			       "%s:%u closed a kept-alive connection under a request; "
			       "sending it again on a new one",
			       cl->host, (unsigned)cl->cfg.port);
		} else {
			finish(cl, rc);
		}
		return;
	}
	if (err == 0) {
		/* A body delimited by the close is complete now; anything else was cut. */
		int rc = tl_http_response_eof(&cl->resp);
		finish(cl, rc);
		return;
	}
	finish(cl, err ? err : -EPIPE);
}

/* Frees the client's own memory (its conn is destroyed separately). */
static void client_free(struct tl_http_client *cl)
{
	free(cl->host);
	free(cl->host_header);
	free(cl->req_buf);
	free(cl->head_buf);
	free(cl->body_buf);
	free(cl);
}

int tl_http_client_create(tl_http_client_t **out, tl_io_loop_t *loop,
                          const struct tl_http_client_config *cfg, tl_http_response_fn on_response,
                          void *user)
{
	if (!out || !loop || !cfg || !on_response || !cfg->host || !*cfg->host || cfg->port == 0 ||
	    cfg->max_head_bytes < 256 || cfg->max_body_bytes == 0)
		return -EINVAL;
	struct tl_http_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->loop = loop;
	cl->cfg = *cfg;
	cl->on_response = on_response;
	cl->user = user;
	size_t hlen = strlen(cfg->host) + 8;
	cl->host = strdup(cfg->host);
	cl->host_header = malloc(hlen);
	cl->req_cap = cfg->conn.tx_buf_bytes;
	cl->req_buf = malloc(cl->req_cap);
	cl->head_buf = malloc(cfg->max_head_bytes);
	cl->body_buf = malloc(cfg->max_body_bytes);
	int rc = -ENOMEM;
	if (!cl->host || !cl->host_header || !cl->req_buf || !cl->head_buf || !cl->body_buf)
		goto err;
	bool default_port = cfg->port == (cfg->conn.tls ? 443 : 80);
	if (default_port)
		snprintf(cl->host_header, hlen, "%s", cfg->host);
	else
		snprintf(cl->host_header, hlen, "%s:%u", cfg->host, (unsigned)cfg->port);
	cl->cfg.host = cl->host;
	rc = tl_http_response_init(&cl->resp, cl->head_buf, cfg->max_head_bytes, cl->body_buf,
	                           cfg->max_body_bytes);
	if (rc < 0)
		goto err;
	static const struct tl_io_conn_ops ops = {
	    .on_open = conn_open,
	    .on_data = conn_data,
	    .on_timer = conn_timer,
	    .on_close = conn_closed,
	};
	rc = tl_io_conn_create(&cl->conn, loop, &cfg->conn, &ops, cl);
	if (rc < 0)
		goto err;
	*out = cl;
	return 0;
err:
	client_free(cl);
	return rc;
}

int tl_http_client_request(tl_http_client_t *cl, const char *method, const char *target,
                           const struct tl_http_header *headers, size_t n_headers, const void *body,
                           size_t body_len)
{
	if (cl->in_flight)
		return -EBUSY;
	ssize_t n = tl_http_request_write(cl->req_buf, cl->req_cap, method, cl->host_header, target,
	                                  headers, n_headers, body, body_len);
	if (n < 0)
		return (int)n;
	cl->req_len = (size_t)n;
	cl->head_request = strcmp(method, "HEAD") == 0;
	cl->may_resend = false;
	tl_http_response_reset(&cl->resp, cl->head_request);
	if (tl_io_conn_is_open(cl->conn)) {
		cl->may_resend = cl->head_request || strcmp(method, "GET") == 0;
		int rc = tl_io_conn_send(cl->conn, cl->req_buf, cl->req_len);
		if (rc < 0)
			return rc;
	} else if (cl->conn->state == TL_IO_CLOSED) {
		int rc = tl_io_conn_connect(cl->conn, cl->host, cl->cfg.port);
		if (rc < 0)
			return rc;
		cl->connects++;
		cl->req_unsent = true;
	} else {
		/* The last connection is still closing (after an error or a timeout): send on
		 * a new one once on_close has run. */
		cl->req_unsent = true;
		cl->connect_on_close = true;
	}
	cl->in_flight = true;
	tl_io_conn_timer_set(cl->conn, cl->cfg.request_timeout_ns);
	return 0;
}

uint64_t tl_http_client_connects(const tl_http_client_t *cl)
{
	return cl->connects;
}

void tl_http_client_close(tl_http_client_t *cl)
{
	cl->in_flight = false;
	cl->req_unsent = false;
	cl->connect_on_close = false;
	tl_io_conn_close(cl->conn);
}

int tl_http_client_destroy(tl_http_client_t *cl)
{
	if (!cl)
		return 0;
	int rc = tl_io_conn_destroy(cl->conn);
	if (rc < 0)
		return rc;
	client_free(cl);
	return 0;
}
