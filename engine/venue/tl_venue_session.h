/*
 * tl_venue_session.h: the user thread's connection to the venue's WebSocket API: one
 * tl_ws_client on the io loop, the user-data subscription kept alive on it, and every
 * message parsed with tl_venue_parse before the owner sees it.
 *
 * What it guarantees the owner:
 *   - After each (re)connection it subscribes to user data
 *     (userDataStream.subscribe.signature) and calls on_ready once the venue confirms.
 *     Every on_ready after the first says `backfill`: events may have been lost while the
 *     stream was down, so trades (myTrades from the last trade id) and open orders
 *     (order.status) must be fetched again before the stream is trusted.
 *   - A message that does not parse is never passed on and never skipped silently: it is
 *     counted (`malformed`), logged, and the connection is resynced: closed with 1008
 *     and opened again, which ends in on_ready(backfill). A stream that delivered one bad
 *     message cannot be trusted to have delivered the others.
 *   - eventStreamTerminated subscribes again; serverShutdown reconnects at once rather
 *     than waiting for the venue to cut the connection. Both end in on_ready(backfill).
 *   - on_down reports each loss of the connection: the requests in flight then have no
 *     answer, and their outcome is unknown (tl_venue_classify's UNKNOWN).
 *
 * Threads: everything runs on the io loop's thread, inside tl_io_loop_poll. No call here
 * blocks. Memory: create allocates; nothing after it does.
 *
 * Errors: negative errno values, as in tl_io.h and tl_venue.h.
 */
#ifndef TL_VENUE_SESSION_H
#define TL_VENUE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_io.h"
#include "tl_venue.h"

typedef struct tl_venue_session tl_venue_session_t;

struct tl_venue_session_config {
	/* The WS API endpoint: host, port, TLS, back-off; path defaults to "/ws-api/v3".
	 * reconnect is forced on: a session always comes back. */
	struct tl_ws_client_config ws;
	const char *api_key;             /* copied; 1..TL_VENUE_API_KEY_MAX bytes */
	const tl_venue_signer_t *signer; /* borrowed: must outlive the session */
	/* The instruments the messages may name; copied (instruments borrowed: they must
	 * outlive the session). */
	struct tl_venue_parse_config parse;
	/* venue clock - local wall clock, in ms, for the subscription's timestamp
	 * (tl_venue_session_set_clock_offset changes it later). */
	int64_t clock_offset_ms;
};

void tl_venue_session_config_default(struct tl_venue_session_config *cfg);

enum tl_venue_session_state {
	TL_VENUE_SESSION_DOWN = 0,    /* not connected (connecting, or waiting to retry) */
	TL_VENUE_SESSION_SUBSCRIBING, /* connected; the subscription is not confirmed yet */
	TL_VENUE_SESSION_READY,       /* subscribed: user data flows */
	TL_VENUE_SESSION_CLOSED,      /* tl_venue_session_close: for good */
};

struct tl_venue_session_ops {
	/* Subscribed. backfill: false only the first time (see the top). */
	void (*on_ready)(void *user, bool backfill);
	/* A parsed message: a response to the owner's request, or a user-data event.
	 * The subscription's own responses are not passed on. msg valid during the call. */
	void (*on_message)(void *user, const struct tl_venue_msg *msg);
	/* The connection was lost (err: why, as tl_ws_client's on_disconnect; 0 for a
	 * clean close). It reconnects by itself unless closed. (optional) */
	void (*on_down)(void *user, int err);
};

struct tl_venue_session_counters {
	uint64_t messages;          /* parsed and passed on */
	uint64_t malformed;         /* did not parse: each one resynced the connection */
	uint64_t resyncs;           /* connections closed by us to start over */
	uint64_t connects;          /* WebSocket upgrades that succeeded */
	uint64_t subscribes;        /* subscriptions the venue confirmed */
	uint64_t subscribe_errors;  /* subscriptions the venue refused (retried on a new
	                               connection) */
	uint64_t stream_terminated; /* eventStreamTerminated events */
	uint64_t server_shutdowns;  /* serverShutdown events */
	/* The WebSocket's masking keys (tl_ws_client_stats): draws made by a send, which found
	 * none left, and by tl_venue_session_idle. */
	uint64_t key_draws_in_send, key_draws_idle;
};

/*
 * Creates a session (does not connect). Returns 0 and *out, -EINVAL for a missing host,
 * key or signer, -ENOMEM, or as tl_ws_client_create.
 */
int tl_venue_session_create(tl_venue_session_t **out, tl_io_loop_t *loop,
                            const struct tl_venue_session_config *cfg,
                            const struct tl_venue_session_ops *ops, void *user);

/* Starts connecting. Returns 0, -EISCONN (already started) or as tl_ws_client_connect. */
int tl_venue_session_start(tl_venue_session_t *s);

/*
 * Sends one request the owner built (its id from tl_venue_session_next_id). Returns 0,
 * -ENOTCONN unless READY, or as tl_ws_client_send (-ENOBUFS: not queued).
 */
int tl_venue_session_send(tl_venue_session_t *s, const char *req, size_t len);

/* Upkeep for the owner's idle rounds: the WebSocket's masking keys for the requests to
 * come (tl_ws_client_idle). Returns true when it did some. Cheap when there is none. */
bool tl_venue_session_idle(tl_venue_session_t *s);

/* The next request id: shared with the session's own requests, so ids never collide. */
uint64_t tl_venue_session_next_id(tl_venue_session_t *s);

void tl_venue_session_set_clock_offset(tl_venue_session_t *s, int64_t offset_ms);

enum tl_venue_session_state tl_venue_session_state(const tl_venue_session_t *s);

void tl_venue_session_counters(const tl_venue_session_t *s, struct tl_venue_session_counters *out);

/* Closes for good (close 1000; no reconnect). on_down follows once the socket is gone. */
int tl_venue_session_close(tl_venue_session_t *s);

/* Destroys a session whose connection is down (-EBUSY otherwise). */
int tl_venue_session_destroy(tl_venue_session_t *s);

#endif /* TL_VENUE_SESSION_H */
