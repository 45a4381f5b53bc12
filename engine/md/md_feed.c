/*
 * md_feed.c: one symbol's live book: the diff-depth WebSocket stream and the REST
 * snapshot, over the io layer, through the same parser and sync as `tally replay`.
 *
 * DESIGN
 * The stream is opened first; its events are buffered by the sync. As soon as one is
 * buffered, the snapshot is fetched. A snapshot that is too old (STALE) is fetched again
 * on the next event, so the venue is asked at most once per event it sends. A gap, a
 * crossed or overfull book, or a dropped stream all empty the book; the sync then wants
 * a snapshot again and the same path runs. Nothing here allocates after start: the
 * parser, sync, book and both clients are sized at creation.
 */
#include "md_internal.h"
#include "tl_md.h"
#include "tl_log.h"
#include "tl_ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tl_md_feed {
	struct tl_md_feed_config cfg;
	char symbol[TL_MD_SYMBOL_MAX + 1];
	char ws_path[128];
	char snapshot_target[160];
	tl_md_feed_book_fn on_book;
	void *user;

	tl_md_parser_t *parser;
	tl_book_t *book;
	tl_md_sync_t *sync;
	tl_ws_client_t *ws;
	tl_http_client_t *http;
	/* tl_md_feed_warm: a depth event of the feed's symbol, and the sync and book it goes
	 * into; warm_id is the warm sync's book id */
	char warm_msg[128 + 2 * TL_MD_FEED_WARM_LEVELS * 24];
	size_t warm_len;
	tl_book_t *warm_book;
	tl_md_sync_t *warm_sync;
	uint64_t warm_id;
	uint64_t tops_late; /* TL_MD_SYNC_TOP_LATE results, for the log's rate */
	bool snapshot_in_flight;
	bool started;
	struct tl_md_feed_counters counters;
};

void tl_md_feed_config_default(struct tl_md_feed_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tl_ws_client_config_default(&cfg->ws);
	tl_http_client_config_default(&cfg->rest);
	cfg->ws.ping_interval_ns = 0; /* the venue pings us (PROTOCOL.md); we answer */
	cfg->ws.max_msg_bytes = 1u << 20;
	cfg->rest.max_body_bytes = 4u << 20; /* 5000 levels a side is about 350 KB */
	cfg->snapshot_limit = 1000;
	cfg->scale.px_decimals = 8;
	cfg->scale.qty_decimals = 8;
	tl_book_config_default(&cfg->book);
	tl_md_sync_config_default(&cfg->sync);
}

/* Counts a bad message; logs the first of each kind, then the 2nd, 4th, 8th... */
static void count_bad(struct tl_md_feed *f, int rc, const char *where)
{
	uint64_t *n = rc == -EDOM     ? &f->counters.bad_inexact
	              : rc == -ERANGE ? &f->counters.bad_range
	              : rc == -E2BIG  ? &f->counters.bad_too_big
	                              : &f->counters.bad_json;
	(*n)++;
	if ((*n & (*n - 1)) == 0)
		tl_log(TL_LOG_WARNING, "md",
		       "%s: bad %s message skipped: %s (%" PRIu64 " of this kind)", f->symbol,
		       where, tl_strerror(rc), *n);
}

static void fetch_snapshot(struct tl_md_feed *f)
{
	if (f->snapshot_in_flight)
		return;
	int rc = tl_http_client_request(f->http, "GET", f->snapshot_target, NULL, 0, NULL, 0);
	if (rc < 0) {
		tl_log(TL_LOG_WARNING, "md", "%s: cannot request a snapshot: %s", f->symbol,
		       tl_strerror(rc));
		return;
	}
	f->snapshot_in_flight = true;
	f->counters.snapshot_requests++;
}

static void after_result(struct tl_md_feed *f, enum tl_md_sync_result r, uint64_t id)
{
	switch (r) {
	case TL_MD_SYNC_APPLIED:
	case TL_MD_SYNC_TOP_LATE: /* a tail moved the top after it was told: tell it again */
	case TL_MD_SYNC_LIVE:
		if (r == TL_MD_SYNC_LIVE)
			tl_log(TL_LOG_INFO, "md", "%s: live at update %" PRIu64, f->symbol,
			       tl_md_sync_book_id(f->sync));
		if (r == TL_MD_SYNC_TOP_LATE)
			f->tops_late++;
		if (r == TL_MD_SYNC_TOP_LATE && (f->tops_late & (f->tops_late - 1)) == 0)
			tl_log(TL_LOG_WARNING, "md",
			       "%s: update %" PRIu64 " listed levels out of the venue's order; its "
			       "top was told again once they were in (%" PRIu64 " such updates)",
			       f->symbol, id, f->tops_late);
		if (f->on_book)
			f->on_book(f, f->user, tl_md_sync_book_id(f->sync), f->book);
		return;
	case TL_MD_SYNC_GAP: {
		uint64_t from, to;
		tl_md_sync_last_gap(f->sync, &from, &to);
		tl_log(TL_LOG_WARNING, "md",
		       "%s: gap: book at update %" PRIu64 ", next event starts at %" PRIu64
		       "; book discarded, resyncing",
		       f->symbol, from, to);
		break;
	}
	case TL_MD_SYNC_BAD_TAIL:
		/* Found at settle, after the event's top went out: the bad message is counted
		 * here, and the book is discarded, as for any message lost. */
		count_bad(f, tl_md_sync_tail_error(f->sync), "stream");
		tl_log(TL_LOG_WARNING, "md",
		       "%s: bad levels in the event after update %" PRIu64
		       "; book discarded, resyncing",
		       f->symbol, id);
		break;
	case TL_MD_SYNC_CROSSED:
	case TL_MD_SYNC_BOOK_FULL:
		tl_log(TL_LOG_WARNING, "md",
		       "%s: book %s at update %" PRIu64 "; discarded, resyncing", f->symbol,
		       r == TL_MD_SYNC_CROSSED ? "crossed" : "full", id);
		break;
	default:
		break;
	}
	if (tl_md_sync_wants_snapshot(f->sync))
		fetch_snapshot(f);
}

static void on_ws_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data,
                          size_t len)
{
	(void)ws, (void)op;
	struct tl_md_feed *f = user;
	struct tl_md_floors floors;
	struct tl_md_msg m;
	int rc;

	/* Whatever the last event held goes in first, so that the floors are the book's. */
	tl_md_feed_settle(f);
	if (tl_md_sync_floors(f->sync, len, &floors))
		rc = tl_md_parse_top(f->parser, (const char *)data, len, &floors, &m);
	else
		rc = tl_md_parse(f->parser, (const char *)data, len, &m);
	if (rc < 0) {
		/* A lost depth event shows up as a gap on the next one: no guess needed here. */
		count_bad(f, rc, "stream");
		return;
	}
	if (m.kind != TL_MD_DEPTH || strcmp(m.symbol, f->symbol) != 0) {
		f->counters.other++;
		return;
	}
	after_result(f, tl_md_sync_depth(f->sync, &m), m.final_id);
}

static void on_ws_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	struct tl_md_feed *f = user;
	f->counters.connects++;
	tl_log(TL_LOG_INFO, "md", "%s: stream open, syncing", f->symbol);
}

static void on_ws_disconnect(tl_ws_client_t *ws, void *user, uint64_t at_ns, int err, uint16_t code,
                             bool will_retry)
{
	(void)ws, (void)at_ns;
	struct tl_md_feed *f = user;
	f->counters.disconnects++;
	/* Whatever the stream said last, the book can no longer be kept in step. */
	tl_md_sync_reset(f->sync);
	tl_log(TL_LOG_WARNING, "md", "%s: stream closed (%s, code %u)%s; book discarded", f->symbol,
	       err ? tl_strerror(err) : "clean", (unsigned)code,
	       will_retry ? ", reconnecting" : "");
}

static void on_snapshot(tl_http_client_t *cl, void *user, int err, const struct tl_http_response *r)
{
	(void)cl;
	struct tl_md_feed *f = user;
	f->snapshot_in_flight = false;
	if (err < 0 || r->status != 200) {
		f->counters.snapshot_failures++;
		tl_log(TL_LOG_WARNING, "md", "%s: snapshot request failed: %s", f->symbol,
		       err < 0 ? tl_strerror(err) : "HTTP status not 200");
		return; /* the next buffered event asks again */
	}
	struct tl_md_msg m;
	int rc = tl_md_parse(f->parser, (const char *)r->body_buf, r->body_len, &m);
	if (rc < 0 || m.kind != TL_MD_SNAPSHOT) {
		count_bad(f, rc < 0 ? rc : -EBADMSG, "snapshot");
		return;
	}
	enum tl_md_sync_result res = tl_md_sync_snapshot(f->sync, &m);
	if (res == TL_MD_SYNC_STALE)
		return; /* fetched again when the next event is buffered */
	after_result(f, res, m.final_id);
}

static int warm_open(struct tl_md_feed *f);

int tl_md_feed_create(tl_md_feed_t **out, tl_io_loop_t *loop, const struct tl_md_feed_config *cfg,
                      tl_md_feed_book_fn on_book, void *user)
{
	if (!out || !loop || !cfg || !cfg->symbol || !cfg->ws.host || !cfg->rest.host ||
	    strlen(cfg->symbol) > TL_MD_SYMBOL_MAX || cfg->snapshot_limit == 0 ||
	    cfg->snapshot_limit > 5000)
		return -EINVAL;
	struct tl_md_feed *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->cfg = *cfg;
	f->on_book = on_book;
	f->user = user;
	char lower[TL_MD_SYMBOL_MAX + 1];
	for (size_t i = 0;; i++) {
		char c = cfg->symbol[i];
		f->symbol[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		if (!c)
			break;
	}
	snprintf(f->ws_path, sizeof(f->ws_path), "/ws/%s@depth@100ms", lower);
	snprintf(f->snapshot_target, sizeof(f->snapshot_target), "/api/v3/depth?symbol=%s&limit=%u",
	         f->symbol, cfg->snapshot_limit);

	struct tl_md_parser_config pc;
	tl_md_parser_config_default(&pc);
	pc.scale = cfg->scale;
	int rc = tl_md_parser_create(&f->parser, &pc);
	if (rc == 0)
		rc = tl_book_create(&f->book, &cfg->book);
	if (rc == 0)
		rc = tl_md_sync_create(&f->sync, &cfg->sync, f->book);
	if (rc == 0)
		rc = warm_open(f);
	if (rc == 0) {
		struct tl_ws_client_config wc = cfg->ws;
		if (!wc.path || strcmp(wc.path, "/") == 0)
			wc.path = f->ws_path;
		static const struct tl_ws_client_ops ops = {.on_open = on_ws_open,
		                                            .on_message = on_ws_message,
		                                            .on_disconnect = on_ws_disconnect};
		rc = tl_ws_client_create(&f->ws, loop, &wc, &ops, f);
	}
	if (rc == 0)
		rc = tl_http_client_create(&f->http, loop, &cfg->rest, on_snapshot, f);
	if (rc < 0) {
		tl_md_feed_destroy(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* Integer prices and quantities: exact at any scale the parser takes. */
static void warm_msg_make(struct tl_md_feed *f)
{
	size_t cap = sizeof(f->warm_msg), n;

	n = (size_t)snprintf(f->warm_msg, cap,
	                     "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"%s\",\"U\":1,"
	                     "\"u\":2,\"b\":[",
	                     f->symbol);
	for (int side = 0; side < 2; side++) {
		for (int i = 0; i < TL_MD_FEED_WARM_LEVELS; i++)
			n += (size_t)snprintf(f->warm_msg + n, cap - n, "%s[\"%d\",\"%d\"]",
			                      i ? "," : "", side ? 1001 + i : 1000 - i, 1 + i % 3);
		n += (size_t)snprintf(f->warm_msg + n, cap - n, side ? "]}" : "],\"a\":[");
	}
	f->warm_len = n;
}

/* Parses the canned event, top first when the warm sync is live and kept so; 0, or
 * -EPROTO when it is not what warm_msg_make wrote. */
static int warm_parse(struct tl_md_feed *f, struct tl_md_msg *m)
{
	struct tl_md_floors floors;
	bool top = f->warm_sync && tl_md_sync_floors(f->warm_sync, f->warm_len, &floors);
	int rc = top ? tl_md_parse_top(f->parser, f->warm_msg, f->warm_len, &floors, m)
	             : tl_md_parse(f->parser, f->warm_msg, f->warm_len, m);

	if (rc == 0 && (m->kind != TL_MD_DEPTH ||
	                (!top && m->n_bids + m->n_asks != 2 * TL_MD_FEED_WARM_LEVELS) ||
	                (top && (!m->bids_tail || !m->asks_tail))))
		rc = -EPROTO;
	return rc;
}

/* The warm pass's own book and sync (configured as the feed's), brought live at once: the
 * canned event buffered, then the same levels as the snapshot that follows it. */
static int warm_open(struct tl_md_feed *f)
{
	struct tl_book_config wb = f->cfg.book;
	struct tl_md_sync_config sc = f->cfg.sync;
	struct tl_md_msg m;
	int rc;

	warm_msg_make(f);
	wb.max_levels_per_side = 4 * TL_MD_FEED_WARM_LEVELS;
	sc.max_buffered_events = 4;
	sc.max_buffered_levels = 4 * TL_MD_FEED_WARM_LEVELS;
	sc.max_tail_bytes = sizeof(f->warm_msg);
	if ((rc = tl_book_create(&f->warm_book, &wb)) ||
	    (rc = tl_md_sync_create(&f->warm_sync, &sc, f->warm_book)) || (rc = warm_parse(f, &m)))
		return rc;
	if (tl_md_sync_depth(f->warm_sync, &m) != TL_MD_SYNC_BUFFERED)
		return -EPROTO;
	m.kind = TL_MD_SNAPSHOT;
	if (tl_md_sync_snapshot(f->warm_sync, &m) != TL_MD_SYNC_LIVE)
		return -EPROTO;
	f->warm_id = m.final_id;
	return 0;
}

int tl_md_feed_warm(tl_md_feed_t *f)
{
	struct tl_book_level top[4];
	struct tl_md_msg m;
	enum tl_md_sync_result r;
	int rc = warm_parse(f, &m);

	if (rc)
		return rc;
	/* The next event of the warm sync's stream: the same levels each time, so its book
	 * stays as it is, through the same code as a live event, top first and then the rest. */
	m.first_id = m.final_id = ++f->warm_id;
	if (tl_md_sync_depth(f->warm_sync, &m) != TL_MD_SYNC_APPLIED)
		return -EPROTO;
	if ((r = tl_md_sync_settle(f->warm_sync)) != TL_MD_SYNC_APPLIED && r != TL_MD_SYNC_IGNORED)
		return -EPROTO;
	/* The feed's own book is only read: its best levels, which the next event updates,
	 * back into the cache. */
	if (tl_md_sync_state(f->sync) == TL_MD_LIVE) {
		tl_book_top(f->book, TL_BOOK_BID, top, 4);
		tl_book_top(f->book, TL_BOOK_ASK, top, 4);
	}
	return 0;
}

void tl_md_feed_idle(tl_md_feed_t *f)
{
	tl_ws_client_idle(f->ws);
	tl_prefetch(&f->on_book,
	            offsetof(struct tl_md_feed, warm_msg) - offsetof(struct tl_md_feed, on_book),
	            false);
	tl_prefetch(&f->counters, sizeof(f->counters), true);
	md_parser_prefetch(f->parser);
	md_sync_prefetch(f->sync);
}

void tl_md_feed_settle(tl_md_feed_t *f)
{
	uint64_t id = tl_md_sync_book_id(f->sync);
	enum tl_md_sync_result r = tl_md_sync_settle(f->sync);

	if (r != TL_MD_SYNC_APPLIED && r != TL_MD_SYNC_IGNORED)
		after_result(f, r, id);
}

int tl_md_feed_start(tl_md_feed_t *f)
{
	int rc = tl_ws_client_connect(f->ws);
	if (rc == 0)
		f->started = true;
	return rc;
}

void tl_md_feed_stop(tl_md_feed_t *f)
{
	tl_ws_client_close(f->ws, TL_WS_CLOSE_NORMAL, "stopping");
	tl_http_client_close(f->http);
	f->snapshot_in_flight = false;
}

int tl_md_feed_destroy(tl_md_feed_t *f)
{
	if (!f)
		return 0;
	int rc = 0;
	if (f->ws && (rc = tl_ws_client_destroy(f->ws)) < 0)
		return rc;
	f->ws = NULL;
	if (f->http && (rc = tl_http_client_destroy(f->http)) < 0)
		return rc;
	f->http = NULL;
	tl_md_sync_destroy(f->sync);
	tl_md_sync_destroy(f->warm_sync);
	tl_book_destroy(f->warm_book);
	tl_book_destroy(f->book);
	tl_md_parser_destroy(f->parser);
	free(f);
	return 0;
}

enum tl_md_sync_state tl_md_feed_state(const tl_md_feed_t *f)
{
	return tl_md_sync_state(f->sync);
}

const tl_book_t *tl_md_feed_book(const tl_md_feed_t *f)
{
	return f->book;
}

const struct tl_md_sync_counters *tl_md_feed_sync_counters(const tl_md_feed_t *f)
{
	return tl_md_sync_counters(f->sync);
}

const struct tl_md_feed_counters *tl_md_feed_counters(const tl_md_feed_t *f)
{
	return &f->counters;
}
