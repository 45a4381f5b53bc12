/*
 * server.c: `tally sim` on the network (tl_sim_server.h). libwebsockets serves HTTP and
 * WebSocket on one port; this file routes requests to the matching engine and its events
 * to the connections that want them.
 *
 * Writing: lws lets a connection write only from its WRITEABLE callback, each message
 * with LWS_PRE bytes of headroom. So every message goes into the connection's queue (an
 * outq: frames laid end to end in one buffer, each with its headroom) and each WRITEABLE
 * sends one batch of them (see conn_writeable); lws keeps the rest of a send the kernel
 * did not take and finishes it before the next WRITEABLE.
 *
 * Order: during a request, the engine's events are staged, and go out after the
 * response: the client learns its request's outcome before the events it caused, as on
 * Binance. A slow consumer whose queue passes OUTQ_MAX_BYTES is dropped, as Binance does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include <libwebsockets.h>

#include "sim_server_internal.h"
#include "sim_wire.h"
#include "tl_event.h" /* tl_mono_ns */
#include "tl_hist.h"
#include "tl_io.h" /* tl_ws_header_write */
#include "tl_log.h"
#include "tl_md.h"
#include "tl_sim_server.h"
#include "tl_venue.h"

#define RX_MAX_BYTES (64u * 1024)          /* a WS API request larger than this: 1009 */
#define OUTQ_MAX_BYTES (64u * 1024 * 1024) /* a consumer further behind is dropped */
#define SUBS_PER_ACCOUNT 8
#define FILLS_MAX 1000      /* fills listed in one FULL response */
#define ORDERS_OUT_MAX 1024 /* openOrders / cancelAll results listed */
#define FAULT_TICK_MS 2
#define WBATCH_BYTES (64u << 10) /* frames coalesced into one send */

/* ======================================================================================
 * Frame queues
 * ====================================================================================== */

enum frame_kind { FRAME_TEXT = 0, FRAME_CLOSE, FRAME_CUT };

struct frame_hdr {
	uint32_t len;
	int32_t kind;   /* enum frame_kind */
	int64_t due_ms; /* delayed queue: when the frame may leave */
};

/* Frames end to end in buf[r..w): each a frame_hdr, LWS_PRE bytes, then len bytes,
 * rounded up to 16. */
struct outq {
	unsigned char *buf;
	size_t r, w, cap;
};

static size_t frame_span(uint32_t len)
{
	return (sizeof(struct frame_hdr) + LWS_PRE + len + 15) & ~(size_t)15;
}

static bool outq_empty(const struct outq *q)
{
	return q->r == q->w;
}

static size_t outq_bytes(const struct outq *q)
{
	return q->w - q->r;
}

/* Room for a frame of len bytes at the tail; returns its header, or NULL (no memory). */
static struct frame_hdr *outq_reserve(struct outq *q, uint32_t len)
{
	size_t span = frame_span(len);

	if (q->r == q->w)
		q->r = q->w = 0;
	if (q->w + span > q->cap && q->r > 0) {
		memmove(q->buf, q->buf + q->r, q->w - q->r);
		q->w -= q->r;
		q->r = 0;
	}
	if (q->w + span > q->cap) {
		size_t cap = q->cap ? q->cap : 16384;
		unsigned char *p;

		while (cap < q->w + span)
			cap *= 2;
		p = realloc(q->buf, cap);
		if (!p)
			return NULL;
		q->buf = p;
		q->cap = cap;
	}
	return (struct frame_hdr *)(void *)(q->buf + q->w);
}

static unsigned char *frame_payload(struct frame_hdr *h)
{
	return (unsigned char *)h + sizeof(*h) + LWS_PRE;
}

static bool outq_push(struct outq *q, enum frame_kind kind, const void *p, uint32_t len,
                      int64_t due_ms)
{
	struct frame_hdr *h = outq_reserve(q, len);

	if (!h)
		return false;
	h->len = len;
	h->kind = kind;
	h->due_ms = due_ms;
	if (len)
		memcpy(frame_payload(h), p, len);
	q->w += frame_span(len);
	return true;
}

static struct frame_hdr *outq_head(struct outq *q)
{
	return outq_empty(q) ? NULL : (struct frame_hdr *)(void *)(q->buf + q->r);
}

static void outq_pop(struct outq *q)
{
	q->r += frame_span(outq_head(q)->len);
}

static void outq_free(struct outq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

/* ======================================================================================
 * Connections
 * ====================================================================================== */

enum conn_kind { CONN_NONE = 0, CONN_HTTP, CONN_MD, CONN_API };

/* Market-data stream kinds a connection may hold per market. */
enum { MD_DEPTH100 = 1, MD_DEPTH1000 = 2, MD_TICKER = 4, MD_TRADE = 8 };

struct sim_conn {
	struct lws *wsi;
	struct tl_sim_server *srv;
	enum conn_kind kind;
	int slot; /* index in srv->conns */
	struct outq q;
	/* CONN_MD */
	bool combined;
	uint8_t md_mask[TL_SIM_MARKETS_MAX];
	/* CONN_API */
	int account; /* subscribed account, -1 none */
	uint64_t sub_id;
	unsigned char *rx; /* a request being reassembled from fragments */
	size_t rx_len, rx_cap;
	struct outq delayed; /* user events held by the delay fault */
	struct outq held;    /* the one event held back by the reorder fault */
	int64_t held_since_ms;
	bool closing; /* a FRAME_CLOSE / FRAME_CUT is queued */
	/* CONN_HTTP */
	char http_verb[8];
	char http_path[128];
	char *http_body; /* a POST's form body being collected */
	size_t http_body_len;
	struct sim_buf http_out;
	int http_status;
	int64_t http_retry_after_s;
	bool http_ready;
};

/* A user event or md frame made during a request, sent after its response. */
struct staged {
	struct sim_conn *c;
	size_t off;
	uint32_t len;
	bool user; /* a user event: goes through the event faults */
};

struct tl_sim_server {
	struct tl_sim_server_config cfg;
	tl_sim_t *sim;
	struct sim_replay *replay[TL_SIM_MARKETS_MAX]; /* NULL: the market walks */
	int fatal;                                     /* an error that stops run() */
	unsigned char *wbatch; /* LWS_PRE + WBATCH_BYTES: see write_batch() */
	struct lws_context *ctx;
	struct lws_vhost *vh;
	uint16_t port;
	volatile sig_atomic_t *stop;
	bool stopping;

	struct sim_conn **conns; /* by slot; NULL free */
	uint32_t n_slots;

	tl_venue_signer_t *signers[TL_SIM_ACCOUNTS_MAX];
	int sim_account[TL_SIM_ACCOUNTS_MAX]; /* engine's index of each configured account */
	struct sim_conn *subs[TL_SIM_ACCOUNTS_MAX][SUBS_PER_ACCOUNT];
	uint64_t next_sub_id;

	/* Rate limits: fixed windows, as Binance counts them. */
	int64_t weight_window, weight_used;
	int64_t orders10_window[TL_SIM_ACCOUNTS_MAX], orders10_used[TL_SIM_ACCOUNTS_MAX];
	int64_t ordersday_window[TL_SIM_ACCOUNTS_MAX], ordersday_used[TL_SIM_ACCOUNTS_MAX];

	/* Fault generators: one per fault, so enabling one does not shift another's draws. */
	uint64_t rng_dup, rng_reorder, rng_drop_fill, rng_unknown, rng_limit, rng_garble;
	uint64_t rng_refuse_trades;
	uint32_t unknown_flip, drops;
	/* myTrades requests still to refuse, armed from any thread (tl_sim_server_refuse_trades,
	 * a signal handler among them): an atomic, as a handler may only touch lock-free ones */
	_Atomic uint32_t refuse_trades_next;

	/* The request being served: its events are staged (see the top). */
	bool in_request;
	struct sim_buf stage_bytes;
	struct staged *stage;
	size_t n_stage, stage_cap;
	int fill_account; /* FULL response: collect this account's fills */
	int fill_market;
	struct sim_fill fills[FILLS_MAX];
	uint32_t n_fills;

	/* md formatting scratch: one event in its three spellings */
	struct sim_buf md_raw, md_comb100, md_comb1000;
	struct sim_buf user_buf, resp;
	struct tl_sim_order orders_out[ORDERS_OUT_MAX];
	struct tl_sim_trade trades_out[TL_SIM_MY_TRADES_MAX];
	struct tl_sim_level depth_bids[TL_SIM_DEPTH_LEVELS_MAX],
	    depth_asks[TL_SIM_DEPTH_LEVELS_MAX];

	lws_sorted_usec_list_t sul_md, sul_drop, sul_fault, sul_status, sul_wake, sul_deposit;
	uint32_t status_every_ms;
	struct tl_sim_server_stats stats;
	tl_hist_t *t2t; /* t2t mode only */
	FILE *audit;    /* cfg.audit_path, or NULL */
	/* t2t mode: the last market-data frames written, by their final update id */
	struct t2t_frame {
		uint64_t u;
		int64_t sent_ns;
		bool answered; /* the first request it caused arrived */
	} t2t_frames[TL_SIM_T2T_FRAMES];
	uint32_t t2t_next;
	char *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
};

/* ======================================================================================
 * Time and randomness
 * ====================================================================================== */

static int64_t server_now_ms(const struct tl_sim_server *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + s->cfg.faults.clock_skew_ms;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability pct %. */
static bool chance(uint64_t *rng, uint32_t pct)
{
	return pct && splitmix64(rng) % 100 < pct;
}

/* ======================================================================================
 * Sending
 * ====================================================================================== */

static void conn_kick(struct sim_conn *c)
{
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void conn_drop_slow(struct sim_conn *c)
{
	tl_log(LOG_WARNING, "sim", "dropping a consumer %zu bytes behind", outq_bytes(&c->q));
	c->closing = true;
	shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
}

static void conn_send(struct sim_conn *c, const char *p, size_t len)
{
	if (c->closing)
		return;
	if (outq_bytes(&c->q) + len > OUTQ_MAX_BYTES) {
		conn_drop_slow(c);
		return;
	}
	if (!outq_push(&c->q, FRAME_TEXT, p, (uint32_t)len, 0)) {
		conn_drop_slow(c);
		return;
	}
	c->srv->stats.bytes_out += len;
	conn_kick(c);
}

static void conn_send_buf(struct sim_conn *c, const struct sim_buf *b)
{
	if (b->failed) {
		tl_log(LOG_ERR, "sim",
		       "out of memory formatting a message; dropping the connection");
		conn_drop_slow(c);
		return;
	}
	conn_send(c, sim_buf_data(b), b->len);
}

/* A user event through the event faults: duplicate, reorder, delay. */
static void conn_send_user(struct sim_conn *c, const char *p, size_t len, int64_t now_ms)
{
	struct tl_sim_server *s = c->srv;
	const struct tl_sim_faults *f = &s->cfg.faults;
	int copies = 1 + chance(&s->rng_dup, f->dup_events_pct);

	if (chance(&s->rng_garble, f->garble_events_pct)) {
		s->stats.faults_injected++;
		len /= 2;
	}

	if (copies > 1)
		s->stats.faults_injected++;
	for (int i = 0; i < copies; i++) {
		s->stats.user_events++;
		if (outq_empty(&c->held) && chance(&s->rng_reorder, f->reorder_events_pct)) {
			s->stats.faults_injected++;
			outq_push(&c->held, FRAME_TEXT, p, (uint32_t)len, 0);
			c->held_since_ms = now_ms;
			continue;
		}
		if (f->delay_events_ms) {
			outq_push(&c->delayed, FRAME_TEXT, p, (uint32_t)len,
			          now_ms + f->delay_events_ms);
		} else {
			conn_send(c, p, len);
		}
		/* The held event goes right after the one that overtook it. */
		if (!outq_empty(&c->held)) {
			struct frame_hdr *h = outq_head(&c->held);

			if (f->delay_events_ms)
				outq_push(&c->delayed, FRAME_TEXT, frame_payload(h), h->len,
				          now_ms + f->delay_events_ms);
			else
				conn_send(c, (const char *)frame_payload(h), h->len);
			outq_pop(&c->held);
		}
	}
}

/* Moves due delayed events out, and releases a held event nobody overtook in 50 ms. */
static void conn_fault_tick(struct sim_conn *c, int64_t now_ms)
{
	struct frame_hdr *h;

	if (!outq_empty(&c->held) && now_ms - c->held_since_ms >= 50) {
		h = outq_head(&c->held);
		if (c->srv->cfg.faults.delay_events_ms)
			outq_push(&c->delayed, FRAME_TEXT, frame_payload(h), h->len, now_ms);
		else
			conn_send(c, (const char *)frame_payload(h), h->len);
		outq_pop(&c->held);
	}
	while ((h = outq_head(&c->delayed)) && h->due_ms <= now_ms) {
		conn_send(c, (const char *)frame_payload(h), h->len);
		outq_pop(&c->delayed);
	}
}

/* Sends frames until the socket pushes back. Returns -1 to have lws close the
 * connection. */
/*
 * Writes the run of text frames at the head of c's queue as one send: each framed here
 * (a server frame is a 2- to 10-byte header and the payload, unmasked) into the batch
 * buffer, which goes out through lws as raw bytes. A response and the two or three
 * events an order makes would otherwise cost a send() each, and on this path the
 * syscalls are most of the sim's time. Frames too big for the batch go on their own.
 * Returns the number of frames written (0 when the head is not a text frame), or -1.
 */
static int write_batch(struct sim_conn *c)
{
	unsigned char *base = c->srv->wbatch + LWS_PRE, *w = base;
	const unsigned char *end = base + WBATCH_BYTES;
	struct frame_hdr *h;
	int n = 0;

	while ((h = outq_head(&c->q)) && h->kind == FRAME_TEXT &&
	       (size_t)(end - w) >= TL_WS_HEADER_MAX + h->len) {
		w += tl_ws_header_write(w, TL_WS_OP_TEXT, true, h->len, NULL);
		memcpy(w, frame_payload(h), h->len);
		w += h->len;
		outq_pop(&c->q);
		n++;
	}
	if (n == 0)
		return 0;
	if (lws_write(c->wsi, base, (size_t)(w - base), LWS_WRITE_RAW) < (int)(w - base))
		return -1;
	return n;
}

/* A number after `key` in a JSON text of `len` bytes; 0 when absent. */
static uint64_t json_number_after(const char *text, size_t len, const char *key)
{
	size_t kn = strlen(key);

	for (size_t i = 0; i + kn < len; i++) {
		if (memcmp(text + i, key, kn) != 0)
			continue;
		uint64_t v = 0;

		for (i += kn; i < len && text[i] >= '0' && text[i] <= '9'; i++)
			v = v * 10 + (uint64_t)(text[i] - '0');
		return v;
	}
	return 0;
}

static bool t2t_known(const struct tl_sim_server *s, uint64_t u)
{
	for (uint32_t i = 0; i < TL_SIM_T2T_FRAMES; i++)
		if (s->t2t_frames[i].u == u)
			return true;
	return false;
}

/* t2t mode: remembers, by final update id, each market-data frame queued to be written now
 * (a frame left for the next WRITEABLE keeps its first stamp). */
static void t2t_stamp(struct sim_conn *c)
{
	struct tl_sim_server *s = c->srv;
	int64_t now = tl_mono_ns();

	for (size_t off = c->q.r; off < c->q.w;) {
		struct frame_hdr *h = (struct frame_hdr *)(void *)(c->q.buf + off);
		uint64_t u;

		if (h->kind != FRAME_TEXT)
			break;
		u = json_number_after((const char *)frame_payload(h), h->len, "\"u\":");
		if (u && !t2t_known(s, u))
			s->t2t_frames[s->t2t_next++ % TL_SIM_T2T_FRAMES] =
			    (struct t2t_frame){u, now, false};
		off += frame_span(h->len);
	}
}

/* t2t mode: a request that names the frame it answers closes that frame's measurement. */
static void t2t_answer(struct tl_sim_server *s, const void *in, size_t len)
{
	uint64_t u = json_number_after(in, len, "\"id\":") >> TL_SIM_T2T_ID_SHIFT;

	if (u == 0)
		return;
	for (uint32_t i = 0; i < TL_SIM_T2T_FRAMES; i++) {
		struct t2t_frame *f = &s->t2t_frames[i];

		if (f->u == u && !f->answered) {
			f->answered = true;
			tl_hist_record(s->t2t, (uint64_t)(tl_mono_ns() - f->sent_ns));
			return;
		}
	}
}

/*
 * One send a WRITEABLE: a batch of text frames, or one frame too big for a batch. When
 * more is queued, the next WRITEABLE sends it. (Asking lws_send_pipe_choked() instead
 * would cost a poll() per send: with a client that keeps requests in flight, most
 * WRITEABLEs empty the queue in one send, and that poll was a quarter of the syscalls.)
 */
static int conn_writeable(struct sim_conn *c)
{
	struct frame_hdr *h = outq_head(&c->q);
	int n;

	if (!h)
		return 0;
	if (c->kind == CONN_MD && c->srv->t2t)
		t2t_stamp(c); /* just before the write, as a kernel stamp */
	if (h->kind == FRAME_CLOSE) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"going away",
		                 10);
		return -1;
	}
	if (h->kind == FRAME_CUT) {
		shutdown(lws_get_socket_fd(c->wsi), SHUT_RDWR);
		return -1;
	}
	n = write_batch(c);
	if (n < 0)
		return -1;
	if (n == 0) {
		if (lws_write(c->wsi, frame_payload(h), h->len, LWS_WRITE_TEXT) < (int)h->len)
			return -1;
		outq_pop(&c->q);
	}
	if (outq_head(&c->q))
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* ======================================================================================
 * Engine events
 * ====================================================================================== */

static int64_t event_account(const struct tl_sim_event *ev)
{
	switch (ev->kind) {
	case TL_SIM_EV_EXEC_REPORT:
		return ev->u.exec.account;
	case TL_SIM_EV_POSITION:
		return ev->u.pos.account;
	case TL_SIM_EV_BALANCE_UPDATE:
		return ev->u.bal.account;
	default:
		return -1;
	}
}

/* The configured account (index into cfg.accounts) of an engine account. */
static int cfg_account(const struct tl_sim_server *s, int64_t sim_account)
{
	for (uint32_t i = 0; i < s->cfg.n_accounts; i++)
		if (s->sim_account[i] == sim_account)
			return (int)i;
	return -1;
}

static void stage_frame(struct tl_sim_server *s, struct sim_conn *c, const struct sim_buf *b,
                        bool user)
{
	if (s->n_stage == s->stage_cap) {
		size_t cap = s->stage_cap ? s->stage_cap * 2 : 64;
		struct staged *p = realloc(s->stage, cap * sizeof(*p));

		if (!p) {
			conn_drop_slow(c);
			return;
		}
		s->stage = p;
		s->stage_cap = cap;
	}
	s->stage[s->n_stage++] = (struct staged){
	    .c = c, .off = s->stage_bytes.len, .len = (uint32_t)b->len, .user = user};
	sim_buf_put(&s->stage_bytes, sim_buf_data(b), b->len);
}

static void deliver(struct tl_sim_server *s, struct sim_conn *c, const struct sim_buf *b, bool user,
                    int64_t now_ms)
{
	if (s->in_request) {
		stage_frame(s, c, b, user);
	} else if (user) {
		conn_send_user(c, sim_buf_data(b), b->len, now_ms);
	} else {
		s->stats.md_events++;
		conn_send_buf(c, b);
	}
}

static void flush_stage(struct tl_sim_server *s, int64_t now_ms)
{
	const char *base = sim_buf_data(&s->stage_bytes);

	for (size_t i = 0; i < s->n_stage; i++) {
		struct staged *st = &s->stage[i];

		if (!st->c || !st->c->wsi)
			continue; /* closed meanwhile */
		if (st->user) {
			conn_send_user(st->c, base + st->off, st->len, now_ms);
		} else {
			s->stats.md_events++;
			conn_send(st->c, base + st->off, st->len);
		}
	}
	s->n_stage = 0;
	sim_buf_reset(&s->stage_bytes);
}

/* One line of the audit trail (tl_sim_server.h describes it). */
static void audit_line(struct tl_sim_server *s, int64_t ms, const char *what, int account,
                       uint32_t market, const char *cid, int side, int64_t px, int64_t qty,
                       int64_t trade_id, int reason)
{
	fprintf(s->audit,
	        "%" PRId64 "\t%s\t%d\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%d\n", ms,
	        what, account, s->cfg.sim.markets[market].symbol, cid,
	        side == TL_SIM_BUY ? "BUY" : "SELL", px, qty, trade_id, reason);
	fflush(s->audit);
}

static void audit_exec(struct tl_sim_server *s, int account, const struct tl_sim_event *ev)
{
	static const char *const names[] = {[TL_SIM_X_NEW] = "NEW",
	                                    [TL_SIM_X_CANCELED] = "CANCELED",
	                                    [TL_SIM_X_TRADE] = "TRADE",
	                                    [TL_SIM_X_EXPIRED] = "EXPIRED"};
	const struct tl_sim_exec_report *x = &ev->u.exec;
	/* A cancel's report carries the cancel request's id; the order's is the original. */
	const char *cid = x->orig_client_order_id[0] ? x->orig_client_order_id : x->client_order_id;
	int64_t qty = x->exec_type == TL_SIM_X_TRADE ? x->last_qty.v
	              : x->exec_type == TL_SIM_X_NEW ? x->qty.v
	                                             : x->qty.v - x->cum_qty.v;

	if (x->exec_type > TL_SIM_X_EXPIRED)
		return;
	audit_line(s, ev->event_ms, names[x->exec_type], account, ev->market, cid, x->side,
	           x->exec_type == TL_SIM_X_TRADE ? x->last_px.v : x->px.v, qty,
	           x->exec_type == TL_SIM_X_TRADE ? x->trade_id : 0, 0);
}

static void route_user_event(struct tl_sim_server *s, const struct tl_sim_event *ev)
{
	int a = cfg_account(s, event_account(ev));

	if (a < 0)
		return;
	if (s->audit && ev->kind == TL_SIM_EV_EXEC_REPORT)
		audit_exec(s, a, ev);
	if (ev->kind == TL_SIM_EV_EXEC_REPORT && ev->u.exec.exec_type == TL_SIM_X_TRADE) {
		if (s->fill_account == a && s->fill_market == (int)ev->market &&
		    s->n_fills < FILLS_MAX) {
			const struct tl_sim_exec_report *x = &ev->u.exec;

			s->fills[s->n_fills++] = (struct sim_fill){
			    .px = x->last_px,
			    .qty = x->last_qty,
			    .commission = x->commission,
			    .commission_asset =
			        (uint32_t)(x->commission_asset < 0 ? 0 : x->commission_asset),
			    .trade_id = (uint64_t)x->trade_id};
		}
		if (chance(&s->rng_drop_fill, s->cfg.faults.drop_fills_pct)) {
			s->stats.faults_injected++;
			return; /* lost on the wire; myTrades still has it */
		}
	}
	for (int i = 0; i < SUBS_PER_ACCOUNT; i++) {
		struct sim_conn *c = s->subs[a][i];

		if (!c)
			continue;
		sim_buf_reset(&s->user_buf);
		if (sim_fmt_user_event(&s->user_buf, s->sim, c->sub_id, ev))
			deliver(s, c, &s->user_buf, true, ev->event_ms);
	}
}

static uint8_t md_bit(const struct tl_sim_event *ev)
{
	switch (ev->kind) {
	case TL_SIM_EV_DEPTH:
		return MD_DEPTH100 | MD_DEPTH1000;
	case TL_SIM_EV_BOOK_TICKER:
		return MD_TICKER;
	case TL_SIM_EV_TRADE:
		return MD_TRADE;
	default:
		return 0;
	}
}

/* The stream name of one kind on one market, as a client names it. */
static void stream_name(const struct tl_sim_server *s, uint32_t market, uint8_t bit, char *out,
                        size_t cap)
{
	const char *sym = tl_sim_market_config(s->sim, market)->symbol;
	const char *suffix = bit == MD_DEPTH100    ? "@depth@100ms"
	                     : bit == MD_DEPTH1000 ? "@depth"
	                     : bit == MD_TICKER    ? "@bookTicker"
	                                           : "@trade";
	size_t n = 0;

	for (; sym[n] && n + 1 < cap; n++)
		out[n] = (char)(sym[n] >= 'A' && sym[n] <= 'Z' ? sym[n] + 32 : sym[n]);
	out[n] = 0;
	strncat(out, suffix, cap - n - 1);
}

static void route_md_event(struct tl_sim_server *s, const struct tl_sim_event *ev)
{
	uint8_t bits = md_bit(ev);
	bool have_raw = false, have100 = false, have1000 = false;

	if (!bits || ev->market >= TL_SIM_MARKETS_MAX)
		return;
	for (uint32_t i = 0; i < s->n_slots; i++) {
		struct sim_conn *c = s->conns[i];
		uint8_t m;
		struct sim_buf *b;

		if (!c || c->kind != CONN_MD || !(m = c->md_mask[ev->market] & bits))
			continue;
		if (!c->combined) {
			b = &s->md_raw;
			if (!have_raw) {
				sim_buf_reset(b);
				sim_fmt_md_event(b, s->sim, NULL, ev);
				have_raw = true;
			}
		} else {
			/* depth: the name the client subscribed with (both, if it asked twice) */
			uint8_t one = (m & MD_DEPTH100) ? MD_DEPTH100 : m;
			bool *have = one == MD_DEPTH1000 ? &have1000 : &have100;
			char name[64];

			b = one == MD_DEPTH1000 ? &s->md_comb1000 : &s->md_comb100;
			if (!*have) {
				stream_name(s, ev->market, one, name, sizeof(name));
				sim_buf_reset(b);
				sim_fmt_md_event(b, s->sim, name, ev);
				*have = true;
			}
			if ((m & MD_DEPTH100) && (m & MD_DEPTH1000)) {
				struct sim_buf *b2 = &s->md_comb1000;

				if (!have1000) {
					stream_name(s, ev->market, MD_DEPTH1000, name,
					            sizeof(name));
					sim_buf_reset(b2);
					sim_fmt_md_event(b2, s->sim, name, ev);
					have1000 = true;
				}
				deliver(s, c, b2, false, ev->event_ms);
			}
		}
		deliver(s, c, b, false, ev->event_ms);
	}
}

static void on_event(void *ctx, const struct tl_sim_event *ev)
{
	struct tl_sim_server *s = ctx;

	if (event_account(ev) >= 0)
		route_user_event(s, ev);
	else
		route_md_event(s, ev);
}

/* ======================================================================================
 * Requests
 * ====================================================================================== */

static void fill_usage(const struct tl_sim_server *s, int a, bool orders, struct sim_rate_usage *u,
                       uint32_t *n)
{
	const struct tl_sim_limits *l = &s->cfg.limits;

	*n = 0;
	if (l->weight_per_min)
		u[(*n)++] = (struct sim_rate_usage){SIM_LIMIT_REQUEST_WEIGHT, SIM_MINUTE, 1,
		                                    l->weight_per_min, s->weight_used};
	if (orders && a >= 0) {
		if (l->orders_per_10s)
			u[(*n)++] = (struct sim_rate_usage){SIM_LIMIT_ORDERS, SIM_SECOND, 10,
			                                    l->orders_per_10s, s->orders10_used[a]};
		if (l->orders_per_day)
			u[(*n)++] = (struct sim_rate_usage){
			    SIM_LIMIT_ORDERS, SIM_DAY, 1, l->orders_per_day, s->ordersday_used[a]};
	}
}

/* Counts weight; returns the retryAfter time (ms) when over the limit, else 0. */
static int64_t charge_weight(struct tl_sim_server *s, uint32_t weight, int64_t now)
{
	int64_t window = now / 60000;

	if (window != s->weight_window) {
		s->weight_window = window;
		s->weight_used = 0;
	}
	s->weight_used += weight;
	if (s->cfg.limits.weight_per_min && s->weight_used > s->cfg.limits.weight_per_min)
		return (window + 1) * 60000;
	return 0;
}

static int64_t charge_order(struct tl_sim_server *s, int a, int64_t now, struct sim_error *err)
{
	const struct tl_sim_limits *l = &s->cfg.limits;
	int64_t w10 = now / 10000, wday = now / 86400000;

	if (w10 != s->orders10_window[a]) {
		s->orders10_window[a] = w10;
		s->orders10_used[a] = 0;
	}
	if (wday != s->ordersday_window[a]) {
		s->ordersday_window[a] = wday;
		s->ordersday_used[a] = 0;
	}
	s->orders10_used[a]++;
	s->ordersday_used[a]++;
	if (l->orders_per_10s && s->orders10_used[a] > l->orders_per_10s) {
		sim_error_set(err, 429, -1015,
		              "Too many new orders; current limit is %u orders per 10 SECOND.",
		              l->orders_per_10s);
		return (w10 + 1) * 10000;
	}
	if (l->orders_per_day && s->ordersday_used[a] > l->orders_per_day) {
		sim_error_set(err, 429, -1015,
		              "Too many new orders; current limit is %u orders per DAY.",
		              l->orders_per_day);
		return (wday + 1) * 86400000;
	}
	return 0;
}

static int find_account(const struct tl_sim_server *s, const char *key, size_t len)
{
	for (uint32_t i = 0; i < s->cfg.n_accounts; i++) {
		const char *k = s->cfg.accounts[i].api_key;

		if (strlen(k) == len && !memcmp(k, key, len))
			return (int)i;
	}
	return -1;
}

/* Key, signature and timestamp of a signed call; returns the account or -1 with *err. */
static int authenticate(struct tl_sim_server *s, const struct sim_request *req,
                        const struct sim_call *call, const char *rest_key, int64_t now,
                        struct sim_error *err)
{
	const char *key = rest_key ? rest_key : call->auth.api_key;
	size_t key_len = rest_key ? strlen(rest_key) : call->auth.api_key_len;
	char hex[TL_VENUE_SIG_HEX_LEN + 1];
	int a;

	if (!key || !key_len)
		return sim_error_set(err, 401, -2014, "API-key format invalid.");
	a = find_account(s, key, key_len);
	if (a < 0)
		return sim_error_set(err, 401, -2015,
		                     "Invalid API-key, IP, or permissions for action.");
	if (!call->auth.signature ||
	    tl_venue_sign(s->signers[a], req->signed_payload, req->signed_len, hex) != 0 ||
	    strncasecmp(hex, call->auth.signature, TL_VENUE_SIG_HEX_LEN) != 0)
		return sim_error_set(err, 400, -1022, "Signature for this request is not valid.");
	if (call->auth.timestamp_ms >= now + 1000)
		return sim_error_set(
		    err, 400, -1021,
		    "Timestamp for this request was 1000ms ahead of the server's time.");
	if (now - call->auth.timestamp_ms > (int64_t)call->auth.recv_window_ms)
		return sim_error_set(err, 400, -1021,
		                     "Timestamp for this request is outside of the recvWindow.");
	return a;
}

static void reject_to_error(int rej, struct sim_error *err)
{
	int code = tl_sim_reject_code(rej);

	sim_error_set(err, 400, code, "%s", tl_sim_reject_msg(rej));
}

void tl_sim_server_refuse_trades(tl_sim_server_t *s, uint32_t n)
{
	atomic_fetch_add_explicit(&s->refuse_trades_next, n, memory_order_relaxed);
}

/* True when a refusal armed by tl_sim_server_refuse_trades() is left, which it uses up.
 * Only this thread takes refusals and others only add, so a count seen above zero stays
 * above zero until the decrement. */
static bool take_refusal(struct tl_sim_server *s)
{
	if (atomic_load_explicit(&s->refuse_trades_next, memory_order_relaxed) == 0)
		return false;
	atomic_fetch_sub_explicit(&s->refuse_trades_next, 1, memory_order_relaxed);
	return true;
}

/*
 * Runs one parsed request and writes its response into s->resp (WS API form, or REST's
 * bare result / error when rest). Returns the HTTP-style status; *retry_ms gets the
 * retryAfter time of a limit refusal.
 */
static int serve_call(struct tl_sim_server *s, const struct sim_request *req, int parse_rc,
                      struct sim_error *perr, bool rest, const char *rest_key, int64_t *retry_ms)
{
	struct tl_sim_sink sink = {on_event, s};
	struct sim_error err = *perr;
	struct sim_call call;
	struct sim_rate_usage usage[3];
	uint32_t n_usage = 0;
	int64_t now = server_now_ms(s), retry = 0;
	int a = -1, rc, status = 200;
	struct sim_buf *b = &s->resp;
	const tl_sim_t *sim = s->sim;

	sim_buf_reset(b);
	*retry_ms = 0;
	if (parse_rc != 0)
		goto fail;
	retry = charge_weight(s, sim_method_weight(req->method, 100), now);
	if (req->method == SIM_M_MY_TRADES)
		s->stats.my_trades++;
	if ((sim_method_signed(req->method) &&
	     chance(&s->rng_limit, s->cfg.faults.rate_limit_pct)) ||
	    (req->method == SIM_M_MY_TRADES &&
	     (chance(&s->rng_refuse_trades, s->cfg.faults.refuse_trades_pct) || take_refusal(s)))) {
		s->stats.faults_injected++;
		retry = now + 1000;
	}
	if (retry) {
		if (req->method == SIM_M_ORDER_PLACE)
			sim_error_set(&err, 429, -1015, "Too many new orders.");
		else
			sim_error_set(&err, 429, -1003,
			              "Too many requests; current limit of IP(127.0.0.1) request "
			              "weight is %u per minute.",
			              s->cfg.limits.weight_per_min);
		goto fail;
	}
	if (sim_call_decode(sim, req, &call, &err) != 0)
		goto fail;
	if (sim_method_signed(req->method)) {
		a = authenticate(s, req, &call, rest_key, now, &err);
		if (a < 0)
			goto fail;
	}
	if (req->method == SIM_M_ORDER_PLACE) {
		s->stats.orders++;
		retry = charge_order(s, a, now, &err);
		if (retry)
			goto fail;
	}
	fill_usage(s, a, req->method == SIM_M_ORDER_PLACE, usage, &n_usage);

	s->in_request = true;
	switch (req->method) {
	case SIM_M_ORDER_PLACE: {
		struct tl_sim_order o;

		s->fill_account = call.resp_type == SIM_RESP_FULL ? a : -1;
		s->fill_market = call.market;
		s->n_fills = 0;
		rc = tl_sim_place(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                  &call.place, now, &sink, &o);
		s->fill_account = -1;
		if (rc != 0) {
			if (s->audit) {
				char cid[TL_SIM_CLIENT_ID_MAX + 1];
				uint32_t n = call.place.client_order_id_len;

				n = n > TL_SIM_CLIENT_ID_MAX ? TL_SIM_CLIENT_ID_MAX : n;
				memcpy(cid, call.place.client_order_id, n);
				cid[n] = '\0';
				audit_line(s, now, "REJECTED", a, (uint32_t)call.market,
				           n ? cid : "-", call.place.side, call.place.px.v,
				           call.place.qty.v, 0, rc);
			}
			goto reject;
		}
		if (chance(&s->rng_unknown, s->cfg.faults.unknown_outcome_pct)) {
			s->stats.faults_injected++;
			if (s->unknown_flip++ & 1)
				sim_error_set(&err, 408, -1007,
				              "Timeout waiting for response from backend server. "
				              "Send status unknown; execution status unknown.");
			else
				sim_error_set(
				    &err, 503, -1000,
				    "An unknown error occurred while processing the request.");
			goto fail_in_request;
		}
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_place_result(b, sim, &o, call.resp_type, s->fills, s->n_fills);
		break;
	}
	case SIM_M_ORDER_CANCEL: {
		struct tl_sim_order o;
		char cancel_id[TL_SIM_CLIENT_ID_MAX + 1];

		rc = tl_sim_cancel(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                   &call.ref, now, &sink, &o);
		if (rc != 0)
			goto reject;
		if (call.ref.new_client_order_id_len)
			snprintf(cancel_id, sizeof(cancel_id), "%.*s",
			         (int)call.ref.new_client_order_id_len,
			         call.ref.new_client_order_id);
		else
			snprintf(cancel_id, sizeof(cancel_id), "cancel-%llu",
			         (unsigned long long)o.order_id);
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_cancel_result(b, sim, &o, cancel_id, now);
		break;
	}
	case SIM_M_ORDER_STATUS: {
		struct tl_sim_order o;

		rc = tl_sim_order_status(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                         &call.ref, &o);
		if (rc != 0)
			goto reject;
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_order(b, sim, &o);
		break;
	}
	case SIM_M_CANCEL_ALL: {
		uint32_t n = 0;

		rc = tl_sim_cancel_all(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                       now, &sink, s->orders_out, ORDERS_OUT_MAX, &n);
		if (rc != 0)
			goto reject;
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_orders(b, sim, s->orders_out, n < ORDERS_OUT_MAX ? n : ORDERS_OUT_MAX);
		break;
	}
	case SIM_M_OPEN_ORDERS: {
		rc = tl_sim_open_orders(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                        s->orders_out, ORDERS_OUT_MAX);
		if (rc < 0)
			goto reject;
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_orders(b, sim, s->orders_out,
		               (uint32_t)rc < ORDERS_OUT_MAX ? (uint32_t)rc : ORDERS_OUT_MAX);
		break;
	}
	case SIM_M_MY_TRADES: {
		uint32_t n = 0, kept = 0;
		struct tl_sim_trades_query q = call.trades;

		if (call.trades_order_id) {
			/* By order: the order's trades among the kept ones. */
			q = (struct tl_sim_trades_query){.from_id = 1,
			                                 .limit = TL_SIM_MY_TRADES_MAX};
		}
		rc = tl_sim_my_trades(s->sim, (uint32_t)call.market, (uint32_t)s->sim_account[a],
		                      &q, s->trades_out, TL_SIM_MY_TRADES_MAX, &n);
		if (rc != 0)
			goto reject;
		if (call.trades_order_id) {
			uint32_t lim =
			    call.trades.limit ? call.trades.limit : TL_SIM_MY_TRADES_DEFAULT;

			for (uint32_t i = 0; i < n && kept < lim; i++)
				if (s->trades_out[i].order_id == call.trades_order_id)
					s->trades_out[kept++] = s->trades_out[i];
			n = kept;
		}
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_trades(b, sim, (uint32_t)call.market, s->trades_out, n);
		break;
	}
	case SIM_M_ACCOUNT: {
		struct tl_sim_balance bal[TL_SIM_ASSETS_MAX];
		int n = tl_sim_account_balances(s->sim, (uint32_t)s->sim_account[a], bal,
		                                TL_SIM_ASSETS_MAX);

		if (n < 0)
			n = 0;
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_account(b, sim, (uint32_t)s->sim_account[a], bal, (uint32_t)n, now);
		break;
	}
	case SIM_M_SUBSCRIBE:
		/* handled by the WS API caller, which owns the connection */
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_subscription(b, (uint64_t)a);
		break;
	case SIM_M_PING:
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_empty(b);
		break;
	case SIM_M_TIME:
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_time(b, now);
		break;
	case SIM_M_EXCHANGE_INFO: {
		struct sim_rate_usage lim[3];
		uint32_t nl = 0;
		const struct tl_sim_limits *l = &s->cfg.limits;

		if (l->weight_per_min)
			lim[nl++] = (struct sim_rate_usage){SIM_LIMIT_REQUEST_WEIGHT, SIM_MINUTE, 1,
			                                    l->weight_per_min, -1};
		if (l->orders_per_10s)
			lim[nl++] = (struct sim_rate_usage){SIM_LIMIT_ORDERS, SIM_SECOND, 10,
			                                    l->orders_per_10s, -1};
		if (l->orders_per_day)
			lim[nl++] = (struct sim_rate_usage){SIM_LIMIT_ORDERS, SIM_DAY, 1,
			                                    l->orders_per_day, -1};
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_exchange_info(b, sim, call.market, now, lim, nl);
		break;
	}
	case SIM_M_DEPTH: {
		struct tl_sim_depth d = {
		    .bids = s->depth_bids, .asks = s->depth_asks, .cap = call.depth_limit};

		/* The weight depends on the limit: charge the rest now. */
		charge_weight(s,
		              sim_method_weight(SIM_M_DEPTH, call.depth_limit) -
		                  sim_method_weight(SIM_M_DEPTH, 100),
		              now);
		if (tl_sim_depth_snapshot(s->sim, (uint32_t)call.market, &d) != 0) {
			sim_error_set(&err, 500, -1000, "Depth snapshot failed.");
			goto fail_in_request;
		}
		if (!rest)
			sim_fmt_response_begin(b, req->id, 200);
		sim_fmt_depth_snapshot(b, sim, (uint32_t)call.market, &d);
		break;
	}
	default:
		sim_error_set(&err, 400, -1000, "Unknown method.");
		goto fail_in_request;
	}
	if (!rest)
		sim_fmt_response_end(b, usage, n_usage);
	s->in_request = false;
	return status;

reject:
	reject_to_error(rc > 0 ? rc : TL_SIM_REJ_BAD_CLIENT_ID, &err);
	if (rc < 0)
		sim_error_set(&err, 400, -1100, "Illegal parameters.");
fail_in_request:
	s->in_request = false;
fail:
	s->stats.errors_sent++;
	if (!n_usage)
		fill_usage(s, a, req->method == SIM_M_ORDER_PLACE && a >= 0, usage, &n_usage);
	sim_buf_reset(b);
	if (rest)
		sim_fmt_rest_error(b, &err);
	else
		sim_fmt_error(b, req->id, &err, now, retry, usage, n_usage);
	*retry_ms = retry ? retry - now : 0;
	return err.status;
}

/* ======================================================================================
 * WebSocket API connections
 * ====================================================================================== */

static int sub_add(struct tl_sim_server *s, int a, struct sim_conn *c)
{
	for (int i = 0; i < SUBS_PER_ACCOUNT; i++) {
		if (s->subs[a][i] == c)
			return 0;
	}
	for (int i = 0; i < SUBS_PER_ACCOUNT; i++) {
		if (!s->subs[a][i]) {
			s->subs[a][i] = c;
			return 0;
		}
	}
	return -1;
}

static void sub_remove(struct tl_sim_server *s, struct sim_conn *c)
{
	if (c->account < 0)
		return;
	for (int i = 0; i < SUBS_PER_ACCOUNT; i++)
		if (s->subs[c->account][i] == c)
			s->subs[c->account][i] = NULL;
	c->account = -1;
}

static void api_message(struct sim_conn *c, const char *msg, size_t len)
{
	struct tl_sim_server *s = c->srv;
	static struct sim_request req; /* one server thread; 12 KB off the stack */
	struct sim_error err = {0};
	int64_t retry;
	int rc = sim_request_parse_ws(msg, len, &req, &err);
	int status;

	s->stats.ws_requests++;
	status = serve_call(s, &req, rc, &err, false, NULL, &retry);
	if (status == 200 && req.method == SIM_M_SUBSCRIBE) {
		/* serve_call wrote the account index as the id: bind it to this connection. */
		int a = -1;
		const struct sim_param *k = sim_request_param(&req, "apiKey");

		if (k)
			a = find_account(s, k->val, k->val_len);
		sub_remove(s, c);
		if (a < 0 || sub_add(s, a, c) != 0) {
			struct sim_error e;

			sim_error_set(&e, 400, -1000, "Too many subscriptions for this account.");
			sim_buf_reset(&s->resp);
			sim_fmt_error(&s->resp, req.id, &e, server_now_ms(s), 0, NULL, 0);
		} else {
			c->account = a;
			c->sub_id = s->next_sub_id++;
			sim_buf_reset(&s->resp);
			sim_fmt_response_begin(&s->resp, req.id, 200);
			sim_fmt_subscription(&s->resp, c->sub_id);
			sim_fmt_response_end(&s->resp, NULL, 0);
		}
	}
	conn_send_buf(c, &s->resp);
	flush_stage(s, server_now_ms(s));
}

static int api_receive(struct sim_conn *c, const void *in, size_t len)
{
	struct tl_sim_server *s = c->srv;

	if (s->t2t)
		t2t_answer(s, in, len);
	bool final = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);

	if (final && c->rx_len == 0) {
		api_message(c, in, len); /* the common case: a whole message, no copy */
		return 0;
	}
	if (c->rx_len + len > RX_MAX_BYTES) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		                 (unsigned char *)"request too large", 17);
		return -1;
	}
	if (c->rx_len + len > c->rx_cap) {
		unsigned char *p = realloc(c->rx, RX_MAX_BYTES);

		if (!p)
			return -1;
		c->rx = p;
		c->rx_cap = RX_MAX_BYTES;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (final) {
		api_message(c, (const char *)c->rx, c->rx_len);
		c->rx_len = 0;
	}
	return 0;
}

/* ======================================================================================
 * Market-data connections
 * ====================================================================================== */

/* Adds one stream name to c's subscriptions; false when it names nothing served. */
static bool md_add_stream(struct sim_conn *c, const char *p, size_t len)
{
	const tl_sim_t *sim = c->srv->sim;
	const char *at = memchr(p, '@', len);
	char sym[TL_SIM_SYMBOL_MAX + 1];
	size_t sl, rest;
	int m;
	uint8_t bit;

	if (!at)
		return false;
	sl = (size_t)(at - p);
	if (sl == 0 || sl > TL_SIM_SYMBOL_MAX)
		return false;
	for (size_t i = 0; i < sl; i++)
		sym[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
	m = tl_sim_market_find(sim, sym, sl);
	if (m < 0)
		return false;
	rest = len - sl;
	if (rest == 12 && !memcmp(at, "@depth@100ms", 12))
		bit = MD_DEPTH100;
	else if (rest == 6 && !memcmp(at, "@depth", 6))
		bit = MD_DEPTH1000;
	else if (rest == 11 && !memcmp(at, "@bookTicker", 11))
		bit = MD_TICKER;
	else if (rest == 6 && !memcmp(at, "@trade", 6))
		bit = MD_TRADE;
	else
		return false;
	c->md_mask[m] |= bit;
	return true;
}

/* Reads the URL of a new WebSocket: returns the kind, or CONN_NONE for a path not served. */
static enum conn_kind classify_ws(struct sim_conn *c, struct lws *wsi)
{
	char uri[512], streams[1024];
	int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);

	if (n <= 0)
		return CONN_NONE;
	if (!strcmp(uri, "/ws-api/v3"))
		return CONN_API;
	if (!strncmp(uri, "/ws/", 4)) {
		c->combined = false;
		return md_add_stream(c, uri + 4, strlen(uri + 4)) ? CONN_MD : CONN_NONE;
	}
	if (!strcmp(uri, "/stream")) {
		const char *v = lws_get_urlarg_by_name(wsi, "streams=", streams, sizeof(streams));
		const char *p;

		if (!v || !*v)
			return CONN_NONE;
		c->combined = true;
		for (p = v; *p;) {
			const char *e = strchr(p, '/');
			size_t l = e ? (size_t)(e - p) : strlen(p);

			if (!md_add_stream(c, p, l))
				return CONN_NONE;
			p += l + (e ? 1 : 0);
		}
		return CONN_MD;
	}
	return CONN_NONE;
}

/* ======================================================================================
 * REST
 * ====================================================================================== */

/*
 * The query string, rebuilt from lws's URI-argument fragments. lws hands each
 * "name=value" over already percent-decoded ('+' as a space) and keeps no raw copy, so
 * the bytes that decoding would misread ('%', '&', '+', a space, controls) are encoded
 * again; every other byte stands as sent. A client that encodes only what it must, as
 * Binance's own examples do, has its query rebuilt byte for byte, which the signature
 * check needs. Returns the length, or -1 when it does not fit in cap - 1 bytes.
 */
static long rest_query(struct lws *wsi, char *dst, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	char frag[SIM_SIGNED_MAX + 1];
	size_t o = 0;

	for (int idx = 0; lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, idx) > 0; idx++) {
		int n = lws_hdr_copy_fragment(wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS,
		                              idx);

		if (n < 0)
			return -1;
		if (o && o + 1 < cap)
			dst[o++] = '&';
		for (int i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)frag[i];
			bool enc = ch == '%' || ch == '&' || ch == '+' || ch <= ' ' || ch == 0x7f;

			if (o + (enc ? 3 : 1) >= cap)
				return -1;
			if (enc) {
				dst[o++] = '%';
				dst[o++] = hex[ch >> 4];
				dst[o++] = hex[ch & 15];
			} else {
				dst[o++] = (char)ch;
			}
		}
	}
	dst[o] = '\0';
	return (long)o;
}

static void http_respond(struct sim_conn *c)
{
	struct tl_sim_server *s = c->srv;
	static struct sim_request req;
	struct sim_error err = {0};
	char query[SIM_SIGNED_MAX + 1], key[TL_SIM_KEY_MAX + 1];
	const char *rest_key = NULL;
	int64_t retry;
	long n = rest_query(c->wsi, query, sizeof(query));
	size_t qlen = n > 0 ? (size_t)n : 0;
	int rc;

	s->stats.rest_requests++;
	if (n < 0 || (c->http_body_len && qlen + 1 + c->http_body_len >= sizeof(query))) {
		/* Longer than any request the venue takes: sim_request_parse_rest() refuses
		 * any length over SIM_SIGNED_MAX with -1100 before it reads a byte. */
		qlen = sizeof(query);
	} else if (c->http_body_len) {
		if (qlen)
			query[qlen++] = '&';
		memcpy(query + qlen, c->http_body, c->http_body_len);
		qlen += c->http_body_len;
		query[qlen] = 0;
	}
	if (lws_hdr_custom_copy(c->wsi, key, sizeof(key), "x-mbx-apikey:", 13) > 0)
		rest_key = key;
	rc = sim_request_parse_rest(c->http_verb, c->http_path, query, qlen, &req, &err);
	c->http_status = serve_call(s, &req, rc, &err, true, rest_key, &retry);
	c->http_retry_after_s = (retry + 999) / 1000;
	sim_buf_reset(&c->http_out);
	sim_buf_put(&c->http_out, sim_buf_data(&s->resp), s->resp.len);
	flush_stage(s, server_now_ms(s));
}

static int http_send_head(struct sim_conn *c)
{
	unsigned char head[LWS_PRE + 1024], *p = head + LWS_PRE, *end = head + sizeof(head) - 1;
	char v[32];
	int n;

	if (lws_add_http_common_headers(c->wsi, (unsigned)c->http_status, "application/json",
	                                c->http_out.len, &p, end))
		return -1;
	n = snprintf(v, sizeof(v), "%lld", (long long)c->srv->weight_used);
	if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"x-mbx-used-weight-1m:",
	                                (const unsigned char *)v, n, &p, end))
		return -1;
	if (c->http_retry_after_s > 0) {
		n = snprintf(v, sizeof(v), "%lld", (long long)c->http_retry_after_s);
		if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"retry-after:",
		                                (const unsigned char *)v, n, &p, end))
			return -1;
	}
	if (lws_finalize_write_http_header(c->wsi, head + LWS_PRE, &p, end))
		return -1;
	c->http_ready = true;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static void conn_detach(struct sim_conn *c);

static int http_writeable(struct sim_conn *c)
{
	if (!c->http_ready)
		return 0;
	c->http_ready = false;
	if (c->http_out.failed)
		return -1;
	if (lws_write(c->wsi, (unsigned char *)sim_buf_data(&c->http_out), c->http_out.len,
	              LWS_WRITE_HTTP_FINAL) < (int)c->http_out.len)
		return -1;
	/* lws frees the session data when a transaction completes (a kept-alive connection
	 * gets fresh, zeroed data for its next request): detach it first. */
	{
		struct lws *wsi = c->wsi;

		conn_detach(c);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
}

static int http_begin(struct sim_conn *c, struct lws *wsi, const char *path)
{
	const char *verb = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)     ? "POST"
	                   : lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) ? "DELETE"
	                   : lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI)    ? "PUT"
	                                                                     : "GET";

	snprintf(c->http_verb, sizeof(c->http_verb), "%s", verb);
	snprintf(c->http_path, sizeof(c->http_path), "%s", path ? path : "");
	if (!strcmp(verb, "POST") || !strcmp(verb, "PUT"))
		return 0; /* the body follows */
	http_respond(c);
	return http_send_head(c);
}

/* ======================================================================================
 * Connection table
 * ====================================================================================== */

static int conn_attach(struct tl_sim_server *s, struct sim_conn *c, struct lws *wsi,
                       enum conn_kind kind)
{
	c->wsi = wsi;
	c->srv = s;
	c->kind = kind;
	c->account = -1;
	c->slot = -1;
	sim_buf_init(&c->http_out, 0);
	for (uint32_t i = 0; i < s->n_slots; i++) {
		if (!s->conns[i]) {
			s->conns[i] = c;
			c->slot = (int)i;
			return 0;
		}
	}
	tl_log(LOG_WARNING, "sim", "connection refused: %u connections open", s->n_slots);
	return -1;
}

static void conn_detach(struct sim_conn *c)
{
	struct tl_sim_server *s = c->srv;

	if (!s)
		return;
	sub_remove(s, c);
	/* Frames staged for it during this request must not reach freed memory. */
	for (size_t i = 0; i < s->n_stage; i++)
		if (s->stage[i].c == c)
			s->stage[i].c = NULL;
	if (c->slot >= 0)
		s->conns[c->slot] = NULL;
	outq_free(&c->q);
	outq_free(&c->delayed);
	outq_free(&c->held);
	free(c->rx);
	free(c->http_body);
	sim_buf_free(&c->http_out);
	c->wsi = NULL;
	c->srv = NULL;
}

/* ======================================================================================
 * The lws callback
 * ====================================================================================== */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
	struct tl_sim_server *s = lws_context_user(lws_get_context(wsi));
	struct sim_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		enum conn_kind kind;

		memset(c, 0, sizeof(*c));
		c->srv = s; /* classify_ws() looks the symbols up in s's markets */
		kind = classify_ws(c, wsi);
		if (kind == CONN_NONE) {
			c->srv = NULL; /* not attached: CLOSED has nothing to detach */
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			                 (unsigned char *)"unknown stream or path", 22);
			return -1;
		}
		return conn_attach(s, c, wsi, kind);
	}
	case LWS_CALLBACK_RECEIVE:
		if (!c->srv)
			return -1;
		if (c->kind == CONN_API)
			return api_receive(c, in, len);
		return 0; /* market-data connections: client messages are ignored */
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c->srv ? conn_writeable(c) : -1;
	case LWS_CALLBACK_CLOSED:
		conn_detach(c);
		return 0;

	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		s->stats.connections++; /* every accepted TCP connection, once */
		return 0;
	case LWS_CALLBACK_HTTP:
		/* Each request starts with zeroed session data: lws hands out fresh data
		 * after every completed transaction, kept-alive or not. */
		if (!c->srv && conn_attach(s, c, wsi, CONN_HTTP) != 0)
			return -1;
		c->http_body_len = 0;
		c->http_ready = false;
		return http_begin(c, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		if (!c->srv)
			return -1;
		if (c->http_body_len + len > SIM_SIGNED_MAX)
			return -1;
		if (len == 0)
			return 0; /* a chunked body's last chunk comes as (NULL, 0) */
		{
			char *p = realloc(c->http_body, c->http_body_len + len + 1);

			if (!p)
				return -1;
			c->http_body = p;
			memcpy(p + c->http_body_len, in, len);
			c->http_body_len += len;
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!c->srv)
			return -1;
		http_respond(c);
		return http_send_head(c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c->srv ? http_writeable(c) : -1;
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c && c->srv)
			conn_detach(c);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"binance", callback, sizeof(struct sim_conn), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ======================================================================================
 * Timers
 * ====================================================================================== */

static void schedule(struct tl_sim_server *s, lws_sorted_usec_list_t *sul, sul_cb_t cb, uint32_t ms)
{
	lws_sul_schedule(s->ctx, 0, sul, cb, (lws_usec_t)ms * 1000);
}

/* One market-data interval of every market: a walk step, or a slice of its capture. */
static int md_step(struct tl_sim_server *s, int64_t now)
{
	struct tl_sim_sink sink = {on_event, s};

	for (uint32_t m = 0; m < s->cfg.sim.n_markets; m++) {
		struct tl_sim_replay_step step;
		int rc;

		if (!s->replay[m]) {
			tl_sim_market_step(s->sim, m, now, &sink);
			continue;
		}
		rc = sim_replay_slice(s->replay[m], now, &step);
		if (rc < 0) {
			s->fatal = rc;
			return rc;
		}
		tl_sim_market_replay_step(s->sim, m, &step, now, &sink);
	}
	return 0;
}

static void md_tick(lws_sorted_usec_list_t *sul)
{
	struct tl_sim_server *s = lws_container_of(sul, struct tl_sim_server, sul_md);
	int64_t now = server_now_ms(s);

	if (md_step(s, now) < 0)
		return; /* run() sees s->fatal and stops */
	schedule(s, &s->sul_md, md_tick, s->cfg.md_interval_ms);
}

static void fault_tick(lws_sorted_usec_list_t *sul)
{
	struct tl_sim_server *s = lws_container_of(sul, struct tl_sim_server, sul_fault);
	int64_t now = server_now_ms(s);

	for (uint32_t i = 0; i < s->n_slots; i++)
		if (s->conns[i] && s->conns[i]->kind == CONN_API)
			conn_fault_tick(s->conns[i], now);
	schedule(s, &s->sul_fault, fault_tick, FAULT_TICK_MS);
}

static void drop_tick(lws_sorted_usec_list_t *sul)
{
	struct tl_sim_server *s = lws_container_of(sul, struct tl_sim_server, sul_drop);
	bool graceful = (s->drops++ & 1) == 0;
	int64_t now = server_now_ms(s);
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->n_slots; i++) {
		struct sim_conn *c = s->conns[i];

		if (!c || c->kind == CONN_HTTP || c->closing)
			continue;
		if (graceful) {
			struct sim_buf b;

			sim_buf_init(&b, 0);
			sim_fmt_server_shutdown(&b, now);
			conn_send_buf(c, &b);
			sim_buf_free(&b);
		}
		outq_push(&c->q, graceful ? FRAME_CLOSE : FRAME_CUT, NULL, 0, 0);
		c->closing = true;
		conn_kick(c);
		n++;
	}
	if (n) {
		s->stats.faults_injected++;
		tl_log(LOG_NOTICE, "sim", "fault: dropping %u connection(s) (%s)", n,
		       graceful ? "serverShutdown, close 1001" : "TCP cut, no close frame");
	}
	schedule(s, &s->sul_drop, drop_tick, s->cfg.faults.drop_conn_every_ms);
}

/* ======================================================================================
 * Lifecycle
 * ====================================================================================== */

void tl_sim_server_config_default(struct tl_sim_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tl_sim_config_default(&cfg->sim);
	cfg->host = "127.0.0.1";
	cfg->md_interval_ms = 100;
	cfg->n_accounts = 1;
	snprintf(cfg->accounts[0].api_key, sizeof(cfg->accounts[0].api_key), "%s",
	         TL_SIM_DEMO_API_KEY);
	snprintf(cfg->accounts[0].api_secret, sizeof(cfg->accounts[0].api_secret), "%s",
	         TL_SIM_DEMO_API_SECRET);
	cfg->n_funding = 2;
	cfg->funding[0] = (struct tl_sim_funding){0, {10LL * 100000000}};      /* 10 BTC */
	cfg->funding[1] = (struct tl_sim_funding){1, {1000000LL * 100000000}}; /* 1M USDT */
	cfg->limits = (struct tl_sim_limits){6000, 100, 200000};
	cfg->max_connections = 256;
	cfg->replay_speed = 1;
}

static void lws_log_line(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	tl_log(level == LLL_ERR ? LOG_ERR : LOG_WARNING, "sim.lws", "%.*s", (int)n, line);
}

static int check_config(const struct tl_sim_server_config *cfg)
{
	if (!cfg->n_accounts || cfg->n_accounts > TL_SIM_ACCOUNTS_MAX ||
	    cfg->n_accounts > cfg->sim.max_accounts) {
		tl_log(LOG_ERR, "sim", "accounts: %u configured, 1..%u allowed", cfg->n_accounts,
		       cfg->sim.max_accounts < TL_SIM_ACCOUNTS_MAX ? cfg->sim.max_accounts
		                                                   : TL_SIM_ACCOUNTS_MAX);
		return -EINVAL;
	}
	if (!cfg->md_interval_ms || cfg->md_interval_ms > 60000) {
		tl_log(LOG_ERR, "sim", "md interval %u ms: 1..60000 allowed", cfg->md_interval_ms);
		return -EINVAL;
	}
	if (cfg->n_replay_paths &&
	    (!cfg->replay_paths || !cfg->replay_speed || cfg->replay_speed > 1000)) {
		tl_log(LOG_ERR, "sim", "replay speed %u: 1..1000 allowed", cfg->replay_speed);
		return -EINVAL;
	}
	if (cfg->n_funding > TL_SIM_FUNDING_MAX || !cfg->max_connections ||
	    cfg->max_connections > 65536)
		return -EINVAL;
	for (uint32_t i = 0; i < cfg->n_accounts; i++) {
		if (!cfg->accounts[i].api_key[0] || !cfg->accounts[i].api_secret[0]) {
			tl_log(LOG_ERR, "sim", "account %u: empty API key or secret", i);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(cfg->accounts[i].api_key, cfg->accounts[j].api_key)) {
				tl_log(LOG_ERR, "sim", "account %u: API key used twice", i);
				return -EINVAL;
			}
	}
	{
		const struct tl_sim_faults *f = &cfg->faults;

		if (f->dup_events_pct > 100 || f->reorder_events_pct > 100 ||
		    f->drop_fills_pct > 100 || f->unknown_outcome_pct > 100 ||
		    f->rate_limit_pct > 100 || f->garble_events_pct > 100 ||
		    f->refuse_trades_pct > 100) {
			tl_log(LOG_ERR, "sim", "fault percentages must be 0..100");
			return -EINVAL;
		}
	}
	return 0;
}

/* Opens each market's capture replay and fits its walk config to it (see the header). */
static int open_replays(struct tl_sim_server *s)
{
	for (uint32_t m = 0; s->cfg.n_replay_paths && m < s->cfg.sim.n_markets; m++) {
		struct tl_sim_market_config *mc = &s->cfg.sim.markets[m];
		struct tl_sim_walk_config *w = &mc->walk;
		tl_px_t bid;
		int rc = sim_replay_open(&s->replay[m], s->cfg.replay_paths, s->cfg.n_replay_paths,
		                         mc->symbol, mc->px_decimals, mc->qty_decimals,
		                         s->cfg.replay_speed, &bid);

		if (rc)
			return rc;
		w->start_px.v = bid.v - bid.v % mc->tick_size.v;
		w->spread_ticks = 1;
		w->max_move_ticks = TL_SIM_MOVE_TICKS_MAX;
		/* The walk's own book and flow stay empty: the capture is the market. */
		w->empty_pct = 100;
		w->trades_max = 0;
	}
	return 0;
}

static void deposit_tick(lws_sorted_usec_list_t *sul)
{
	struct tl_sim_server *s = lws_container_of(sul, struct tl_sim_server, sul_deposit);
	struct tl_sim_sink sink = {on_event, s};
	int64_t now = server_now_ms(s);

	for (uint32_t i = 0; i < s->cfg.n_accounts; i++)
		if (tl_sim_account_deposit(s->sim, (uint32_t)s->sim_account[i],
		                           s->cfg.faults.deposit.asset,
		                           s->cfg.faults.deposit.amount, now, &sink) == 0)
			s->stats.faults_injected++;
	tl_log(LOG_NOTICE, "sim", "fault: an outside deposit into every account");
}

static int setup_accounts(struct tl_sim_server *s)
{
	int64_t now = server_now_ms(s);

	for (uint32_t i = 0; i < s->cfg.n_accounts; i++) {
		const char *secret = s->cfg.accounts[i].api_secret;
		int a = tl_sim_account_create(s->sim), rc;

		if (a < 0)
			return a;
		s->sim_account[i] = a;
		rc = tl_venue_signer_create(&s->signers[i], secret, strlen(secret));
		if (rc)
			return rc;
		for (uint32_t f = 0; f < s->cfg.n_funding; f++) {
			rc = tl_sim_account_deposit(s->sim, (uint32_t)a, s->cfg.funding[f].asset,
			                            s->cfg.funding[f].amount, now, NULL);
			if (rc) {
				tl_log(LOG_ERR, "sim", "funding %u of account %u refused: %s", f, i,
				       strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

static const lws_retry_bo_t idle_policy = {.secs_since_valid_ping = 20,
                                           .secs_since_valid_hangup = 80};

int tl_sim_server_create(tl_sim_server_t **out, const struct tl_sim_server_config *cfg)
{
	struct lws_context_creation_info info;
	struct tl_sim_server *s;
	int rc;

	if (!out || !cfg)
		return -EINVAL;
	rc = check_config(cfg);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cfg.host = cfg->host ? cfg->host : "127.0.0.1";
	s->fill_account = -1;
	s->next_sub_id = 1;
	s->rng_dup = cfg->faults.seed ^ 0x1111;
	s->rng_reorder = cfg->faults.seed ^ 0x2222;
	s->rng_drop_fill = cfg->faults.seed ^ 0x3333;
	s->rng_garble = cfg->faults.seed ^ 0x6666;
	s->rng_unknown = cfg->faults.seed ^ 0x4444;
	s->rng_limit = cfg->faults.seed ^ 0x5555;
	s->rng_refuse_trades = cfg->faults.seed ^ 0x7777;
	sim_buf_init(&s->stage_bytes, 0);
	sim_buf_init(&s->md_raw, 0);
	sim_buf_init(&s->md_comb100, 0);
	sim_buf_init(&s->md_comb1000, 0);
	sim_buf_init(&s->user_buf, 0);
	sim_buf_init(&s->resp, 0);
	s->n_slots = cfg->max_connections;
	s->conns = calloc(s->n_slots, sizeof(*s->conns));
	s->wbatch = malloc(LWS_PRE + WBATCH_BYTES);
	if (!s->conns || !s->wbatch) {
		rc = -ENOMEM;
		goto fail;
	}
	if (cfg->t2t) {
		s->t2t = malloc(sizeof(*s->t2t));
		if (!s->t2t) {
			rc = -ENOMEM;
			goto fail;
		}
		tl_hist_reset(s->t2t);
	}
	if (cfg->audit_path && !(s->audit = fopen(cfg->audit_path, "w"))) {
		rc = -errno;
		tl_log(LOG_ERR, "sim", "cannot create the audit file %s: %s", cfg->audit_path,
		       strerror(errno));
		goto fail;
	}
	rc = open_replays(s);
	if (rc)
		goto fail;
	rc = tl_sim_create(&s->sim, &s->cfg.sim);
	if (rc) {
		tl_log(LOG_ERR, "sim", "the matching engine refused its config: %s", strerror(-rc));
		goto fail;
	}
	/* A replayed market's first book: the capture's, before anyone can ask for it. */
	if (s->cfg.n_replay_paths && md_step(s, server_now_ms(s)) < 0) {
		rc = s->fatal;
		goto fail;
	}
	rc = setup_accounts(s);
	if (rc)
		goto fail;
	if (cfg->tls) {
		rc = sim_tls_material(&s->cfg, &s->cert_pem, &s->cert_pem_len, &s->key_pem,
		                      &s->key_pem_len);
		if (rc)
			goto fail;
	}

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);
	memset(&info, 0, sizeof(info));
	info.port = cfg->port ? cfg->port : 0;
	info.iface = s->cfg.host;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = s;
	/* PROTOCOL.md: the server pings every 20 s, and the client has a minute to pong. */
	info.retry_and_idle_policy = &idle_policy;
	info.timeout_secs = 10;
	info.max_http_header_data = 8192;
	info.pt_serv_buf_size = 65536;
	info.fd_limit_per_thread = cfg->max_connections + 32;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.server_ssl_cert_mem = s->cert_pem;
		info.server_ssl_cert_mem_len = (unsigned)s->cert_pem_len;
		info.server_ssl_private_key_mem = s->key_pem;
		info.server_ssl_private_key_mem_len = (unsigned)s->key_pem_len;
	}
	s->ctx = lws_create_context(&info);
	if (!s->ctx) {
		tl_log(LOG_ERR, "sim", "cannot listen on %s:%u (see the lws error above)",
		       s->cfg.host, cfg->port);
		rc = -EADDRINUSE;
		goto fail;
	}
	s->vh = lws_get_vhost_by_name(s->ctx, "default");
	s->port = (uint16_t)(s->vh ? lws_get_vhost_listen_port(s->vh) : 0);
	*out = s;
	return 0;
fail:
	tl_sim_server_destroy(s);
	return rc;
}

uint16_t tl_sim_server_port(const tl_sim_server_t *s)
{
	return s->port;
}

tl_sim_t *tl_sim_server_engine(tl_sim_server_t *s)
{
	return s->sim;
}

void tl_sim_server_stats(const tl_sim_server_t *s, struct tl_sim_server_stats *out)
{
	*out = s->stats;
	if (s->t2t) {
		out->t2t_count = atomic_load_explicit(&s->t2t->count, memory_order_relaxed);
		out->t2t_p50_ns = tl_hist_quantile(s->t2t, 0.5);
		out->t2t_p99_ns = tl_hist_quantile(s->t2t, 0.99);
	}
	out->replay_passes = 0;
	for (uint32_t m = 0; m < TL_SIM_MARKETS_MAX; m++)
		out->replay_passes += s->replay[m] ? sim_replay_passes(s->replay[m]) : 0;
}

static void status_tick(lws_sorted_usec_list_t *sul)
{
	struct tl_sim_server *s = lws_container_of(sul, struct tl_sim_server, sul_status);
	const struct tl_sim_server_stats *st = &s->stats;
	uint32_t open = 0;

	for (uint32_t i = 0; i < s->n_slots; i++)
		open += s->conns[i] != NULL;
	tl_log(LOG_INFO, "sim",
	       "status: %u open connections, %llu WS API and %llu REST requests, %llu orders, "
	       "%llu errors sent, %llu md and %llu user events, %llu faults injected",
	       open, (unsigned long long)st->ws_requests, (unsigned long long)st->rest_requests,
	       (unsigned long long)st->orders, (unsigned long long)st->errors_sent,
	       (unsigned long long)st->md_events, (unsigned long long)st->user_events,
	       (unsigned long long)st->faults_injected);
	schedule(s, &s->sul_status, status_tick, s->status_every_ms);
}

static void wake_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul; /* only there to end lws_service()'s sleep */
}

/* True while any connection still has frames queued to write. */
static bool server_has_output(const struct tl_sim_server *s)
{
	for (uint32_t i = 0; i < s->n_slots; i++)
		if (s->conns[i] && !outq_empty(&s->conns[i]->q))
			return true;
	return false;
}

int tl_sim_server_run(tl_sim_server_t *s, volatile sig_atomic_t *stop, uint64_t duration_ms,
                      uint64_t status_every_ms)
{
	int64_t deadline = duration_ms ? tl_mono_ns() + (int64_t)duration_ms * 1000000 : 0;

	s->stop = stop;
	s->status_every_ms = (uint32_t)(status_every_ms > 86400000 ? 86400000 : status_every_ms);
	if (s->status_every_ms)
		schedule(s, &s->sul_status, status_tick, s->status_every_ms);
	schedule(s, &s->sul_md, md_tick, s->cfg.md_interval_ms);
	if (s->cfg.faults.drop_conn_every_ms)
		schedule(s, &s->sul_drop, drop_tick, s->cfg.faults.drop_conn_every_ms);
	if (s->cfg.faults.deposit_after_ms)
		schedule(s, &s->sul_deposit, deposit_tick, s->cfg.faults.deposit_after_ms);
	if (s->cfg.faults.delay_events_ms || s->cfg.faults.reorder_events_pct)
		schedule(s, &s->sul_fault, fault_tick, FAULT_TICK_MS);
	/* lws_service() sleeps until lws's own next event, whatever timeout it is given:
	 * a timer at the deadline is what makes the loop notice it. */
	if (duration_ms)
		schedule(s, &s->sul_wake, wake_tick,
		         (uint32_t)(duration_ms > 86400000 ? 86400000 : duration_ms));
	while (!*stop && !s->fatal && !(deadline && tl_mono_ns() >= deadline)) {
		if (lws_service(s->ctx, 0) < 0)
			return -EIO;
	}
	lws_sul_cancel(&s->sul_md);
	lws_sul_cancel(&s->sul_drop);
	lws_sul_cancel(&s->sul_deposit);
	lws_sul_cancel(&s->sul_fault);
	lws_sul_cancel(&s->sul_status);
	/* Goodbye: serverShutdown on every WebSocket, then a moment to deliver it. */
	{
		int64_t now = server_now_ms(s);
		struct sim_buf b;

		sim_buf_init(&b, 0);
		sim_fmt_server_shutdown(&b, now);
		for (uint32_t i = 0; i < s->n_slots; i++) {
			struct sim_conn *c = s->conns[i];

			if (!c || c->kind == CONN_HTTP || c->closing)
				continue;
			conn_send_buf(c, &b);
			outq_push(&c->q, FRAME_CLOSE, NULL, 0, 0);
			c->closing = true;
			conn_kick(c);
		}
		sim_buf_free(&b);
		/* Up to 500 ms for the goodbyes to leave; a 10 ms tick keeps each
		 * lws_service() short now that the other timers are gone. */
		for (int i = 0; i < 50 && server_has_output(s); i++) {
			schedule(s, &s->sul_wake, wake_tick, 10);
			if (lws_service(s->ctx, 0) < 0)
				break;
		}
		lws_sul_cancel(&s->sul_wake);
	}
	return s->fatal;
}

void tl_sim_server_destroy(tl_sim_server_t *s)
{
	if (!s)
		return;
	if (s->ctx)
		lws_context_destroy(s->ctx);
	for (uint32_t i = 0; i < TL_SIM_ACCOUNTS_MAX; i++)
		tl_venue_signer_destroy(s->signers[i]);
	tl_sim_destroy(s->sim);
	for (uint32_t m = 0; m < TL_SIM_MARKETS_MAX; m++)
		sim_replay_close(s->replay[m]);
	free(s->t2t);
	if (s->audit)
		fclose(s->audit);
	free(s->conns);
	free(s->wbatch);
	free(s->stage);
	sim_buf_free(&s->stage_bytes);
	sim_buf_free(&s->md_raw);
	sim_buf_free(&s->md_comb100);
	sim_buf_free(&s->md_comb1000);
	sim_buf_free(&s->user_buf);
	sim_buf_free(&s->resp);
	if (s->key_pem) {
		explicit_bzero(s->key_pem, s->key_pem_len);
		free(s->key_pem);
	}
	free(s->cert_pem);
	free(s);
}
