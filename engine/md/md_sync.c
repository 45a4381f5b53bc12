/*
 * md_sync.c: keeps one symbol's L2 book in sync from the diff-depth stream and a REST
 * snapshot, by the venue's algorithm (PROTOCOL.md "How to keep a local book in sync").
 *
 * DESIGN
 * Until a snapshot is accepted, depth events are copied into a preallocated buffer (the
 * events and, separately, their levels), since the parser's arrays are reused by the next
 * message. A snapshot older than the first buffered event is refused (fetch again). An
 * accepted one replaces the book; the buffered events are then replayed through the same
 * rule as live ones: older than the book is ignored, a first id beyond book id + 1 is a
 * gap, anything else is applied and moves the book id to its final id.
 *
 * A gap, a crossed book or a book that ran out of levels all mean the same thing: the
 * book can no longer be trusted. It is emptied at once (nothing downstream may read a
 * stale level) and sync starts over, with the event that revealed the gap as the first
 * one buffered.
 *
 * Top first (tl_md_sync_config.top_first). What waits on a live event is its new best bid
 * and ask, and most of its levels lie far below them (on the BTCUSDT capture, 86% of the
 * updates are more than 256 ticks from their side's best). So a live event is applied in
 * two parts. Each side's floor is its TOP_FIRST_DEPTH-th best price before the event;
 * the levels at or better than the floor are applied at once, the others are copied to
 * the levels buffer (unused while live) for tl_md_sync_settle. If the side's best is then
 * still at or better than the floor, no level held back can change it or its quantity:
 * each is strictly worse than the floor, and updates at distinct prices commute. If not
 * (the levels near the top were all deleted), the side is applied whole at once. On the
 * BTCUSDT capture (test_md_replay) 71% of the levels are held back and 458 of 12,986
 * sides are applied whole; `tally bench book --gap-us 20000` times an event to its top at
 * about 0.8x of the whole event, 20 ms after the last one.
 *
 * Tails. Applying is the smaller part of an event: converting its decimals is most of it.
 * So the feed asks for the floors before it parses (tl_md_sync_floors) and the parser
 * stops converting a side at its first level past the floor (tl_md_parse_top), leaving the
 * rest of the array raw: a tail. A tail is copied here (the message is gone by settle
 * time) and converted and applied at settle. It rests on the venue's order, bids from the
 * best down and asks from the best up (every event of both captures, and the sim's); a
 * tail that breaks it is still applied, at settle, and its levels at or better than the
 * floor are counted (tails_late) and reported as TL_MD_SYNC_TOP_LATE, so that the top is
 * told again. A tail that does not convert is a bad message found late: the top part is
 * already in, so the book can no longer be trusted (TL_MD_SYNC_BAD_TAIL, resync). A side
 * applied whole (above) takes its tail at once; so does a sync without top_first, and a
 * buffered event keeps its tail converted.
 */
#include "md_internal.h"
#include "tl_md.h"
#include "tl_ring.h" /* tl_prefetch */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct buffered_event {
	uint64_t first_id;
	uint64_t final_id;
	uint32_t bids_at; /* index into levels */
	uint32_t n_bids;
	uint32_t asks_at;
	uint32_t n_asks;
};

struct tl_md_sync {
	tl_book_t *book;
	enum tl_md_sync_state state;
	uint64_t book_id;       /* final id of the last applied event, or the snapshot's */
	uint64_t last_gap_from; /* the book id when the last gap was seen */
	uint64_t last_gap_to;   /* the first id of the event that revealed it */
	struct tl_md_sync_counters counters;

	struct buffered_event *events;
	uint32_t max_events;
	uint32_t n_events;
	struct tl_md_level *levels;
	uint32_t max_levels;
	uint32_t n_levels;

	/* top_first: the levels of the last live event left for tl_md_sync_settle, bids at
	 * levels[0..n_pending_bids), asks right after them. Only ever held while live, when
	 * nothing is buffered; a resync drops them with the book. */
	bool top_first;
	uint32_t n_pending_bids, n_pending_asks;

	/* top_first, an event parsed by tl_md_parse_top: the raw tails held for settle,
	 * copied, since the message does not outlive the callback that fed it. The bids' tail
	 * is at tail_buf[0..tail_len[0]), the asks' right after it; tail_floor is the floor
	 * each was held under (DESIGN, tails). */
	char *tail_buf;
	uint32_t tail_cap;
	uint32_t tail_len[2];
	int64_t tail_floor[2];
	struct tl_md_scale tail_scale;
	int tail_err; /* the last tail's conversion error (TL_MD_SYNC_BAD_TAIL) */
};

void tl_md_sync_config_default(struct tl_md_sync_config *cfg)
{
	cfg->max_buffered_events = 4096;
	cfg->max_buffered_levels = 1u << 18;
	cfg->top_first = false;
	cfg->max_tail_bytes = 1u << 18;
}

int tl_md_sync_create(tl_md_sync_t **out, const struct tl_md_sync_config *cfg, tl_book_t *book)
{
	if (!out || !cfg || !book || !cfg->max_buffered_events || !cfg->max_buffered_levels)
		return -EINVAL;
	struct tl_md_sync *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->book = book;
	s->max_events = cfg->max_buffered_events;
	s->max_levels = cfg->max_buffered_levels;
	s->top_first = cfg->top_first;
	s->events = calloc(s->max_events, sizeof(*s->events));
	s->levels = calloc(s->max_levels, sizeof(*s->levels));
	s->tail_cap = cfg->top_first ? cfg->max_tail_bytes : 0;
	s->tail_buf = s->tail_cap ? malloc(s->tail_cap) : NULL;
	if (!s->events || !s->levels || (s->tail_cap && !s->tail_buf)) {
		tl_md_sync_destroy(s);
		return -ENOMEM;
	}
	tl_book_clear(book);
	*out = s;
	return 0;
}

void tl_md_sync_destroy(tl_md_sync_t *s)
{
	if (!s)
		return;
	free(s->events);
	free(s->levels);
	free(s->tail_buf);
	free(s);
}

enum tl_md_sync_state tl_md_sync_state(const tl_md_sync_t *s)
{
	return s->state;
}

const char *tl_md_sync_state_name(enum tl_md_sync_state state)
{
	switch (state) {
	case TL_MD_SYNCING:
		return "syncing";
	case TL_MD_LIVE:
		return "live";
	case TL_MD_RESYNCING:
		return "resyncing";
	}
	return "unknown";
}

uint64_t tl_md_sync_book_id(const tl_md_sync_t *s)
{
	return s->book_id;
}

const struct tl_md_sync_counters *tl_md_sync_counters(const tl_md_sync_t *s)
{
	return &s->counters;
}

bool tl_md_sync_wants_snapshot(const tl_md_sync_t *s)
{
	return s->state != TL_MD_LIVE && s->n_events > 0;
}

uint64_t tl_md_sync_first_buffered_id(const tl_md_sync_t *s)
{
	return s->n_events ? s->events[0].first_id : 0;
}

/* Copies one side of a depth event, its tail converted, to the end of the levels buffer.
 * False when it does not fit, or the tail does not convert. */
static bool buffer_side(struct tl_md_sync *s, const struct tl_md_level *lv, uint32_t n,
                        const char *tail, uint32_t tail_len, struct tl_md_scale scale, uint32_t *at,
                        uint32_t *count)
{
	uint32_t k = 0;

	if (n > s->max_levels - s->n_levels)
		return false;
	if (n) /* an empty side may come without an array */
		memcpy(s->levels + s->n_levels, lv, n * sizeof(*lv));
	if (tail && tl_md_parse_tail(scale, tail, tail_len, s->levels + s->n_levels + n,
	                             s->max_levels - s->n_levels - n, &k) < 0)
		return false;
	*at = s->n_levels;
	*count = n + k;
	s->n_levels += n + k;
	return true;
}

/* Copies a depth event into the buffer. False when it does not fit (nothing is kept of
 * it then), or a tail of it does not convert. */
static bool buffer_event(struct tl_md_sync *s, const struct tl_md_msg *m)
{
	uint32_t n_levels = s->n_levels;

	if (s->n_events == s->max_events)
		return false;
	struct buffered_event *e = &s->events[s->n_events];
	if (!buffer_side(s, m->bids, m->n_bids, m->bids_tail, m->bids_tail_len, m->tail_scale,
	                 &e->bids_at, &e->n_bids) ||
	    !buffer_side(s, m->asks, m->n_asks, m->asks_tail, m->asks_tail_len, m->tail_scale,
	                 &e->asks_at, &e->n_asks)) {
		s->n_levels = n_levels;
		return false;
	}
	e->first_id = m->first_id;
	e->final_id = m->final_id;
	s->n_events++;
	return true;
}

/* The book cannot be trusted: empty it and start over (PROTOCOL.md step 1). */
static void start_resync(struct tl_md_sync *s)
{
	tl_book_clear(s->book);
	s->book_id = 0;
	s->n_events = 0;
	s->n_levels = 0;
	s->n_pending_bids = s->n_pending_asks = 0;
	s->tail_len[0] = s->tail_len[1] = 0;
	if (s->state == TL_MD_LIVE) {
		s->counters.resyncs++;
		s->state = TL_MD_RESYNCING;
	}
}

void tl_md_sync_reset(tl_md_sync_t *s)
{
	start_resync(s);
}

static int apply_side(struct tl_md_sync *s, tl_book_side_t side, const struct tl_md_level *lv,
                      uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int rc = tl_book_set(s->book, side, (tl_px_t){lv[i].px}, (tl_qty_t){lv[i].qty});
		if (rc < 0)
			return rc;
	}
	s->counters.levels_applied += n;
	return 0;
}

static int apply_levels(struct tl_md_sync *s, const struct tl_md_level *bids, uint32_t n_bids,
                        const struct tl_md_level *asks, uint32_t n_asks)
{
	int rc = apply_side(s, TL_BOOK_BID, bids, n_bids);

	return rc < 0 ? rc : apply_side(s, TL_BOOK_ASK, asks, n_asks);
}

/* The best level at or beyond TOP_FIRST_DEPTH is the floor (DESIGN, top first). Four: the
 * top four levels of a side are seldom all deleted by one event, and each level more only
 * moves more updates to the first part. */
#define TOP_FIRST_DEPTH 4

/* A tail's error from tl_md_parse_tail, told apart from tl_book_set's (-EINVAL, -ENOSPC)
 * by its own code, so that apply_event can name it. */
#define TAIL_BAD (-ENOTRECOVERABLE)

static bool past_floor(tl_book_side_t side, int64_t px, int64_t floor)
{
	return side == TL_BOOK_BID ? px < floor : px > floor;
}

/* Converts a raw tail into levels[at..) and applies it. Returns 0, tl_book_set's error,
 * or TAIL_BAD (s->tail_err says why). *late counts its levels at or better than floor. */
static int apply_tail(struct tl_md_sync *s, tl_book_side_t side, const char *tail, uint32_t len,
                      uint32_t at, int64_t floor, uint32_t *late)
{
	struct tl_md_level *lv = s->levels + at;
	uint32_t n;
	int rc;

	*late = 0;
	if ((rc = tl_md_parse_tail(s->tail_scale, tail, len, lv, s->max_levels - at, &n)) < 0) {
		s->tail_err = rc;
		s->counters.bad_tails++;
		return TAIL_BAD;
	}
	for (uint32_t i = 0; i < n; i++)
		*late += !past_floor(side, lv[i].px, floor);
	s->counters.tail_levels += n;
	return apply_side(s, side, lv, n);
}

/* Top first, one side of a live event: applies the levels at or better than the side's
 * floor and copies the others to levels[at..), whose count is returned through *held; a
 * raw tail (tl_md_parse_top) is copied whole to the side's place in tail_buf. Returns 0,
 * tl_book_set's error, or TAIL_BAD. */
static int apply_side_top_first(struct tl_md_sync *s, tl_book_side_t side,
                                const struct tl_md_level *lv, uint32_t n, const char *tail,
                                uint32_t tail_len, uint32_t at, uint32_t *held)
{
	struct tl_book_level top[TOP_FIRST_DEPTH], best;
	struct tl_md_level *rest = s->levels + at;
	const int t = side == TL_BOOK_BID ? 0 : 1;
	uint32_t n_rest = 0, late, tail_at = t ? s->tail_len[0] : 0;
	int64_t floor = side == TL_BOOK_BID ? INT64_MIN : INT64_MAX;
	int rc;

	*held = 0;
	/* A shallow side has no floor; a huge event does not fit: all of it now. */
	if (tl_book_top(s->book, side, top, TOP_FIRST_DEPTH) < TOP_FIRST_DEPTH ||
	    n > s->max_levels - at) {
		if ((rc = apply_side(s, side, lv, n)) < 0 || !tail)
			return rc;
		return apply_tail(s, side, tail, tail_len, at, floor, &late);
	}
	floor = top[TOP_FIRST_DEPTH - 1].px.v;
	for (uint32_t i = 0; i < n; i++) {
		if (past_floor(side, lv[i].px, floor)) {
			rest[n_rest++] = lv[i];
			continue;
		}
		if ((rc = tl_book_set(s->book, side, (tl_px_t){lv[i].px}, (tl_qty_t){lv[i].qty})) <
		    0)
			return rc;
		s->counters.levels_applied++;
	}
	if ((n_rest || tail) &&
	    (!tl_book_best(s->book, side, &best) || past_floor(side, best.px.v, floor))) {
		/* Every level near the top went: the new best may be among the rest. */
		s->counters.top_first_whole++;
		if ((rc = apply_side(s, side, rest, n_rest)) < 0 || !tail)
			return rc;
		return apply_tail(s, side, tail, tail_len, at + n_rest, floor, &late);
	}
	if (tail && tail_len > s->tail_cap - tail_at) {
		/* No room to hold it (an event bigger than tl_md_sync_floors allows): now. */
		if ((rc = apply_tail(s, side, tail, tail_len, at + n_rest, floor, &late)) < 0)
			return rc;
	} else if (tail) {
		memcpy(s->tail_buf + tail_at, tail, tail_len);
		s->tail_len[t] = tail_len;
		s->tail_floor[t] = floor;
		s->counters.tails_held++;
	}
	s->counters.levels_held += n_rest;
	*held = n_rest;
	return 0;
}

bool tl_md_sync_floors(const tl_md_sync_t *s, size_t len, struct tl_md_floors *out)
{
	struct tl_book_level top[TOP_FIRST_DEPTH];

	out->bid = INT64_MIN;
	out->ask = INT64_MAX;
	if (!s->top_first || s->state != TL_MD_LIVE || len > s->tail_cap ||
	    s->n_pending_bids + s->n_pending_asks + s->tail_len[0] + s->tail_len[1] > 0)
		return false;
	/* The tails of this event are copied there once it is parsed: a buffer left alone
	 * since the last event is out of the cache, and reading its lines in then would wait
	 * on each. Asked for now, they come in while the event is parsed. */
	for (size_t at = 0; at < len; at += 64)
		__builtin_prefetch(s->tail_buf + at, 1);
	if (tl_book_top(s->book, TL_BOOK_BID, top, TOP_FIRST_DEPTH) == TOP_FIRST_DEPTH)
		out->bid = top[TOP_FIRST_DEPTH - 1].px.v;
	if (tl_book_top(s->book, TL_BOOK_ASK, top, TOP_FIRST_DEPTH) == TOP_FIRST_DEPTH)
		out->ask = top[TOP_FIRST_DEPTH - 1].px.v;
	return out->bid != INT64_MIN || out->ask != INT64_MAX;
}

int tl_md_sync_tail_error(const tl_md_sync_t *s)
{
	return s->tail_err;
}

enum tl_md_sync_result tl_md_sync_settle(tl_md_sync_t *s)
{
	uint32_t n_bids = s->n_pending_bids, n_asks = s->n_pending_asks, late = 0, l;
	uint32_t tail_len[2] = {s->tail_len[0], s->tail_len[1]};
	int rc;

	if (n_bids + n_asks + tail_len[0] + tail_len[1] == 0)
		return TL_MD_SYNC_IGNORED;
	s->n_pending_bids = s->n_pending_asks = 0;
	s->tail_len[0] = s->tail_len[1] = 0;
	rc = apply_levels(s, s->levels, n_bids, s->levels + n_bids, n_asks);
	/* The held levels are in: the levels buffer is free for the tails. */
	if (rc == 0 && tail_len[0]) {
		rc = apply_tail(s, TL_BOOK_BID, s->tail_buf, tail_len[0], 0, s->tail_floor[0], &l);
		late += l;
	}
	if (rc == 0 && tail_len[1]) {
		rc = apply_tail(s, TL_BOOK_ASK, s->tail_buf + tail_len[0], tail_len[1], 0,
		                s->tail_floor[1], &l);
		late += l;
	}
	if (rc < 0) {
		if (rc != TAIL_BAD)
			s->counters.book_full++;
		start_resync(s);
		return rc == TAIL_BAD ? TL_MD_SYNC_BAD_TAIL : TL_MD_SYNC_BOOK_FULL;
	}
	if (late == 0)
		return TL_MD_SYNC_APPLIED;
	/* The venue's order was not kept: levels that could move the top came in a tail. */
	s->counters.tails_late += late;
	if (tl_book_crossed(s->book)) {
		s->counters.crossed++;
		start_resync(s);
		return TL_MD_SYNC_CROSSED;
	}
	return TL_MD_SYNC_TOP_LATE;
}

/*
 * The live rule (step 5) for one event. Returns APPLIED, IGNORED, or RESYNC after a gap,
 * a crossed book or a full book (the book is then already emptied).
 */
static enum tl_md_sync_result apply_event(struct tl_md_sync *s, uint64_t first_id,
                                          uint64_t final_id, const struct tl_md_level *bids,
                                          uint32_t n_bids, const struct tl_md_level *asks,
                                          uint32_t n_asks, const struct tl_md_msg *tails)
{
	uint32_t late;
	int rc;

	if (final_id < s->book_id) {
		s->counters.ignored++;
		return TL_MD_SYNC_IGNORED;
	}
	if (first_id > s->book_id + 1) {
		s->counters.gaps++;
		s->last_gap_from = s->book_id;
		s->last_gap_to = first_id;
		return TL_MD_SYNC_GAP;
	}
	if (!s->top_first || !tails) {
		rc = apply_levels(s, bids, n_bids, asks, n_asks);
		if (rc == 0 && tails && tails->bids_tail)
			rc = apply_tail(s, TL_BOOK_BID, tails->bids_tail, tails->bids_tail_len, 0,
			                INT64_MIN, &late);
		if (rc == 0 && tails && tails->asks_tail)
			rc = apply_tail(s, TL_BOOK_ASK, tails->asks_tail, tails->asks_tail_len, 0,
			                INT64_MAX, &late);
	} else if ((rc = apply_side_top_first(s, TL_BOOK_BID, bids, n_bids, tails->bids_tail,
	                                      tails->bids_tail_len, 0, &s->n_pending_bids)) == 0)
		rc = apply_side_top_first(s, TL_BOOK_ASK, asks, n_asks, tails->asks_tail,
		                          tails->asks_tail_len, s->n_pending_bids,
		                          &s->n_pending_asks);
	if (rc == TAIL_BAD)
		return TL_MD_SYNC_BAD_TAIL;
	if (rc < 0) {
		s->counters.book_full++;
		return TL_MD_SYNC_BOOK_FULL;
	}
	s->book_id = final_id;
	s->counters.applied++;
	if (tl_book_crossed(s->book)) {
		s->counters.crossed++;
		return TL_MD_SYNC_CROSSED;
	}
	return TL_MD_SYNC_APPLIED;
}

/* A live event failed: start over, keeping the revealing event when it was a gap. */
static void after_failure(struct tl_md_sync *s, enum tl_md_sync_result r, const struct tl_md_msg *m)
{
	start_resync(s);
	if (r == TL_MD_SYNC_GAP)
		buffer_event(s, m);
}

enum tl_md_sync_result tl_md_sync_depth(tl_md_sync_t *s, const struct tl_md_msg *m)
{
	/* What the last event held back goes first; should that fail, the sync is no longer
	 * live and this event is buffered as the next wait's first. */
	tl_md_sync_settle(s);
	s->counters.events++;
	if (m->final_id < m->first_id) {
		s->counters.bad++;
		return TL_MD_SYNC_BAD;
	}
	if (s->state != TL_MD_LIVE) {
		if (!buffer_event(s, m)) {
			/* Too much waiting for a snapshot: start the wait over with this event. */
			s->counters.overflows++;
			s->n_events = 0;
			s->n_levels = 0;
			if (!buffer_event(s, m))
				return TL_MD_SYNC_BAD;
		}
		s->counters.buffered++;
		return TL_MD_SYNC_BUFFERED;
	}
	if (m->bids_tail || m->asks_tail)
		s->tail_scale = m->tail_scale;
	enum tl_md_sync_result r =
	    apply_event(s, m->first_id, m->final_id, m->bids, m->n_bids, m->asks, m->n_asks, m);
	if (r >= TL_MD_SYNC_GAP)
		after_failure(s, r, m);
	return r;
}

enum tl_md_sync_result tl_md_sync_snapshot(tl_md_sync_t *s, const struct tl_md_msg *m)
{
	tl_md_sync_settle(s);
	if (s->state == TL_MD_LIVE) {
		/* Not asked for: the live book is newer than any snapshot we did not request. */
		s->counters.ignored++;
		return TL_MD_SYNC_IGNORED;
	}
	if (s->n_events == 0 || m->final_id < s->events[0].first_id) {
		/* Step 2: older than the first buffered event (or nothing buffered to check it
		 * against): fetch it again. */
		s->counters.stale_snapshots++;
		return TL_MD_SYNC_STALE;
	}
	tl_book_clear(s->book);
	if (apply_levels(s, m->bids, m->n_bids, m->asks, m->n_asks) < 0) {
		s->counters.book_full++;
		tl_book_clear(s->book);
		return TL_MD_SYNC_BOOK_FULL;
	}
	s->book_id = m->final_id;
	s->state = TL_MD_LIVE;
	s->counters.snapshots++;
	/* Steps 3-5 over what was buffered; events at or below the snapshot are dropped. */
	uint32_t n = s->n_events;
	s->n_events = 0;
	enum tl_md_sync_result r = TL_MD_SYNC_LIVE;
	for (uint32_t i = 0; i < n; i++) {
		const struct buffered_event *e = &s->events[i];
		if (e->final_id <= m->final_id)
			continue;
		enum tl_md_sync_result er =
		    apply_event(s, e->first_id, e->final_id, s->levels + e->bids_at, e->n_bids,
		                s->levels + e->asks_at, e->n_asks, NULL);
		if (er >= TL_MD_SYNC_GAP) {
			/* The snapshot does not connect to what follows. Start over; after a gap
			 * the revealing event and those after it are the next wait's first. */
			s->state = TL_MD_LIVE;
			start_resync(s);
			if (er == TL_MD_SYNC_GAP) {
				memmove(s->events, s->events + i, (n - i) * sizeof(*s->events));
				s->n_events = n - i;
				s->n_levels = s->events[s->n_events - 1].asks_at +
				              s->events[s->n_events - 1].n_asks;
			}
			return er;
		}
	}
	s->n_levels = 0;
	return r;
}

void tl_md_sync_last_gap(const tl_md_sync_t *s, uint64_t *book_id, uint64_t *first_id)
{
	*book_id = s->last_gap_from;
	*first_id = s->last_gap_to;
}

void md_sync_prefetch(const tl_md_sync_t *s)
{
	tl_prefetch(s, sizeof(*s), false);
	if (s->tail_buf)
		tl_prefetch(s->tail_buf, 1024, true); /* a frame's tails: a kilobyte or two */
	tl_book_prefetch_top(s->book);
}
