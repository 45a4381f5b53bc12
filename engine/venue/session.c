/*
 * session.c: the WS API connection with its user-data subscription (tl_venue_session.h).
 *
 * DESIGN
 * The session is a small state machine over a tl_ws_client, which owns the socket, the
 * reconnect back-off and the close handshake:
 *
 *   DOWN --on_open--> SUBSCRIBING --subscription confirmed--> READY
 *     ^                   |  |                                   |
 *     +---- on_disconnect-+  +-- refused: resync <--------------+-- bad message, or
 *                                                                   serverShutdown
 *
 * eventStreamTerminated goes from READY back to SUBSCRIBING on the same connection.
 * `was_ready` remembers that the stream has been trusted once: any later READY may
 * follow a gap, hence on_ready(backfill = true).
 *
 * One tl_venue_msg lives in the session (it is ~2 KB: not on the io thread's stack on
 * every message, and never allocated per message).
 */
#include "tl_venue_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tl_error.h"
#include "tl_log.h"

struct tl_venue_session {
	tl_ws_client_t *ws;
	struct tl_venue_session_ops ops;
	void *user;
	struct tl_venue_parse_config parse;
	char api_key[TL_VENUE_API_KEY_MAX + 1];
	const tl_venue_signer_t *signer;
	int64_t clock_offset_ms;

	enum tl_venue_session_state state;
	bool started;
	bool was_ready; /* READY at least once: later READYs need a back-fill */
	uint64_t next_id;
	uint64_t sub_id; /* the id of the subscribe request in flight (0: none) */
	struct tl_venue_session_counters n;
	struct tl_venue_msg msg;
};

void tl_venue_session_config_default(struct tl_venue_session_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tl_ws_client_config_default(&cfg->ws);
	cfg->ws.path = "/ws-api/v3";
	tl_venue_parse_config_default(&cfg->parse);
}

static int64_t venue_now_ms(const struct tl_venue_session *s)
{
	struct timespec ts;

	/* The venue's clock is wall-clock time (its timestamps are Unix ms). */
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + s->clock_offset_ms;
}

/* Drops this connection and starts over on a new one (the client reconnects). */
static void resync(struct tl_venue_session *s, const char *why)
{
	s->n.resyncs++;
	s->state = TL_VENUE_SESSION_DOWN;
	s->sub_id = 0;
	tl_log(TL_LOG_WARNING, "venue", "resyncing the WS API connection: %s", why);
	tl_ws_client_resync(s->ws, TL_WS_CLOSE_POLICY, why);
}

static void subscribe(struct tl_venue_session *s)
{
	struct tl_venue_auth a = {
	    .signer = s->signer, .api_key = s->api_key, .timestamp_ms = venue_now_ms(s)};
	char req[512];
	uint64_t id = s->next_id++;
	ssize_t n = tl_venue_build_subscribe(req, sizeof(req), id, &a);
	int rc = n < 0 ? (int)n : tl_ws_client_send(s->ws, TL_WS_OP_TEXT, req, (size_t)n);

	s->state = TL_VENUE_SESSION_SUBSCRIBING;
	if (rc < 0) {
		/* Only a full send buffer or a signing failure lands here, on a connection
		 * that just opened: start over rather than sit unsubscribed. */
		tl_log(TL_LOG_ERR, "venue", "cannot send the user-data subscription: %s",
		       tl_strerror(rc));
		resync(s, "subscription not sent");
		return;
	}
	s->sub_id = id;
}

static void on_open(tl_ws_client_t *ws, void *user)
{
	struct tl_venue_session *s = user;

	(void)ws;
	s->n.connects++;
	subscribe(s);
}

/* The answer to our subscribe request. */
static void on_subscribed(struct tl_venue_session *s, const struct tl_venue_response *r)
{
	s->sub_id = 0;
	if (r->status != 200 || r->has_error || r->result_kind != TL_VENUE_RESULT_SUBSCRIPTION) {
		s->n.subscribe_errors++;
		tl_log(TL_LOG_ERR, "venue",
		       "user-data subscription refused: status %d, code %d: %s", r->status,
		       r->error_code, r->error_msg);
		/* -1021 (clock) or a key problem will not pass on this connection either; a
		 * new one comes after the back-off, by when the owner may have fixed it. */
		resync(s, "subscription refused");
		return;
	}
	s->n.subscribes++;
	s->state = TL_VENUE_SESSION_READY;
	if (s->ops.on_ready)
		s->ops.on_ready(s->user, s->was_ready);
	s->was_ready = true;
}

static void on_message(tl_ws_client_t *ws, void *user, uint8_t opcode, const uint8_t *data,
                       size_t len)
{
	struct tl_venue_session *s = user;
	struct tl_venue_msg *m = &s->msg;
	int rc;

	(void)ws;
	if (s->state == TL_VENUE_SESSION_DOWN || s->state == TL_VENUE_SESSION_CLOSED)
		return; /* what is left of a connection we are dropping */
	rc = opcode == TL_WS_OP_TEXT ? tl_venue_parse(&s->parse, (const char *)data, len, m)
	                             : -EBADMSG;
	if (rc < 0) {
		s->n.malformed++;
		tl_log(TL_LOG_WARNING, "venue", "malformed message (%s), %zu bytes: %.*s",
		       tl_strerror(rc), len, (int)(len > 160 ? 160 : len), (const char *)data);
		resync(s, "malformed message");
		return;
	}
	switch (m->kind) {
	case TL_VENUE_MSG_RESPONSE:
		if (s->sub_id && m->response.has_id && m->response.id == s->sub_id) {
			on_subscribed(s, &m->response);
			return;
		}
		break;
	case TL_VENUE_MSG_STREAM_TERMINATED:
		s->n.stream_terminated++;
		tl_log(TL_LOG_NOTICE, "venue", "user-data stream terminated; subscribing again");
		/* Events may be lost between the end and the new subscription. */
		s->was_ready = true;
		subscribe(s);
		return;
	case TL_VENUE_MSG_SERVER_SHUTDOWN:
		s->n.server_shutdowns++;
		resync(s, "the venue announced a shutdown");
		return;
	default:
		break;
	}
	s->n.messages++;
	if (s->ops.on_message)
		s->ops.on_message(s->user, m);
}

static void on_disconnect(tl_ws_client_t *ws, void *user, uint64_t at_ns, int err,
                          uint16_t close_code, bool will_retry)
{
	struct tl_venue_session *s = user;

	(void)ws;
	(void)at_ns;
	(void)close_code;
	(void)will_retry;
	if (s->state != TL_VENUE_SESSION_CLOSED)
		s->state = TL_VENUE_SESSION_DOWN;
	s->sub_id = 0;
	if (s->ops.on_down)
		s->ops.on_down(s->user, err);
}

int tl_venue_session_create(tl_venue_session_t **out, tl_io_loop_t *loop,
                            const struct tl_venue_session_config *cfg,
                            const struct tl_venue_session_ops *ops, void *user)
{
	static const struct tl_ws_client_ops ws_ops = {
	    .on_open = on_open,
	    .on_message = on_message,
	    .on_disconnect = on_disconnect,
	};
	struct tl_ws_client_config wc;
	struct tl_venue_session *s;
	size_t klen;
	int rc;

	if (!out || !loop || !cfg || !ops || !cfg->signer || !cfg->api_key || !cfg->ws.host)
		return -EINVAL;
	klen = strlen(cfg->api_key);
	if (klen == 0 || klen > TL_VENUE_API_KEY_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = *ops;
	s->user = user;
	s->parse = cfg->parse;
	memcpy(s->api_key, cfg->api_key, klen + 1);
	s->signer = cfg->signer;
	s->clock_offset_ms = cfg->clock_offset_ms;
	s->next_id = 1;
	wc = cfg->ws;
	if (!wc.path)
		wc.path = "/ws-api/v3";
	wc.reconnect = true;
	rc = tl_ws_client_create(&s->ws, loop, &wc, &ws_ops, s);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int tl_venue_session_start(tl_venue_session_t *s)
{
	int rc;

	if (s->started)
		return -EISCONN;
	rc = tl_ws_client_connect(s->ws);
	if (rc == 0)
		s->started = true;
	return rc;
}

int tl_venue_session_send(tl_venue_session_t *s, const char *req, size_t len)
{
	if (s->state != TL_VENUE_SESSION_READY)
		return -ENOTCONN;
	return tl_ws_client_send(s->ws, TL_WS_OP_TEXT, req, len);
}

bool tl_venue_session_idle(tl_venue_session_t *s)
{
	return tl_ws_client_idle(s->ws);
}

uint64_t tl_venue_session_next_id(tl_venue_session_t *s)
{
	return s->next_id++;
}

void tl_venue_session_set_clock_offset(tl_venue_session_t *s, int64_t offset_ms)
{
	s->clock_offset_ms = offset_ms;
}

enum tl_venue_session_state tl_venue_session_state(const tl_venue_session_t *s)
{
	return s->state;
}

void tl_venue_session_counters(const tl_venue_session_t *s, struct tl_venue_session_counters *out)
{
	struct tl_ws_client_stats w;

	*out = s->n;
	tl_ws_client_stats(s->ws, &w);
	out->key_draws_in_send = w.key_draws_in_send;
	out->key_draws_idle = w.key_draws_idle;
}

int tl_venue_session_close(tl_venue_session_t *s)
{
	s->state = TL_VENUE_SESSION_CLOSED;
	return tl_ws_client_close(s->ws, TL_WS_CLOSE_NORMAL, "bye");
}

int tl_venue_session_destroy(tl_venue_session_t *s)
{
	int rc;

	if (!s)
		return 0;
	rc = tl_ws_client_destroy(s->ws);
	if (rc < 0)
		return rc;
	free(s);
	return 0;
}
