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
 */
#include "tl_md.h"

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
};

void tl_md_sync_config_default(struct tl_md_sync_config *cfg)
{
	cfg->max_buffered_events = 4096;
	cfg->max_buffered_levels = 1u << 18;
	cfg->top_first = false;
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
	if (!s->events || !s->levels) {
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

/* Copies a depth event into the buffer. False when it does not fit. */
static bool buffer_event(struct tl_md_sync *s, const struct tl_md_msg *m)
{
	if (s->n_events == s->max_events || m->n_bids > s->max_levels - s->n_levels ||
	    m->n_asks > s->max_levels - s->n_levels - m->n_bids)
		return false;
	struct buffered_event *e = &s->events[s->n_events++];
	e->first_id = m->first_id;
	e->final_id = m->final_id;
	e->bids_at = s->n_levels;
	e->n_bids = m->n_bids;
	if (m->n_bids) /* an empty side may come without an array */
		memcpy(s->levels + s->n_levels, m->bids, m->n_bids * sizeof(*m->bids));
	s->n_levels += m->n_bids;
	e->asks_at = s->n_levels;
	e->n_asks = m->n_asks;
	if (m->n_asks)
		memcpy(s->levels + s->n_levels, m->asks, m->n_asks * sizeof(*m->asks));
	s->n_levels += m->n_asks;
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

/* Top first, one side of a live event: applies the levels at or better than the side's
 * floor and copies the others to levels[at..), whose count is returned through *held.
 * Returns 0 or tl_book_set's error. */
static int apply_side_top_first(struct tl_md_sync *s, tl_book_side_t side,
                                const struct tl_md_level *lv, uint32_t n, uint32_t at,
                                uint32_t *held)
{
	struct tl_book_level top[TOP_FIRST_DEPTH], best;
	struct tl_md_level *rest = s->levels + at;
	uint32_t n_rest = 0;
	int rc;

	*held = 0;
	/* A shallow side has no floor; a huge event does not fit: all of it now. */
	if (tl_book_top(s->book, side, top, TOP_FIRST_DEPTH) < TOP_FIRST_DEPTH ||
	    n > s->max_levels - at)
		return apply_side(s, side, lv, n);
	int64_t floor = top[TOP_FIRST_DEPTH - 1].px.v;
	for (uint32_t i = 0; i < n; i++) {
		bool near = side == TL_BOOK_BID ? lv[i].px >= floor : lv[i].px <= floor;
		if (!near) {
			rest[n_rest++] = lv[i];
			continue;
		}
		if ((rc = tl_book_set(s->book, side, (tl_px_t){lv[i].px}, (tl_qty_t){lv[i].qty})) <
		    0)
			return rc;
		s->counters.levels_applied++;
	}
	if (n_rest && (!tl_book_best(s->book, side, &best) ||
	               (side == TL_BOOK_BID ? best.px.v < floor : best.px.v > floor))) {
		/* Every level near the top went: the new best may be among the rest. */
		s->counters.top_first_whole++;
		return apply_side(s, side, rest, n_rest);
	}
	s->counters.levels_held += n_rest;
	*held = n_rest;
	return 0;
}

enum tl_md_sync_result tl_md_sync_settle(tl_md_sync_t *s)
{
	uint32_t n_bids = s->n_pending_bids, n_asks = s->n_pending_asks;

	if (n_bids + n_asks == 0)
		return TL_MD_SYNC_IGNORED;
	s->n_pending_bids = s->n_pending_asks = 0;
	if (apply_levels(s, s->levels, n_bids, s->levels + n_bids, n_asks) < 0) {
		s->counters.book_full++;
		start_resync(s);
		return TL_MD_SYNC_BOOK_FULL;
	}
	return TL_MD_SYNC_APPLIED;
}

/*
 * The live rule (step 5) for one event. Returns APPLIED, IGNORED, or RESYNC after a gap,
 * a crossed book or a full book (the book is then already emptied).
 */
static enum tl_md_sync_result apply_event(struct tl_md_sync *s, uint64_t first_id,
                                          uint64_t final_id, const struct tl_md_level *bids,
                                          uint32_t n_bids, const struct tl_md_level *asks,
                                          uint32_t n_asks, bool top_first)
{
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
	if (!top_first)
		rc = apply_levels(s, bids, n_bids, asks, n_asks);
	else if ((rc = apply_side_top_first(s, TL_BOOK_BID, bids, n_bids, 0, &s->n_pending_bids)) ==
	         0)
		rc = apply_side_top_first(s, TL_BOOK_ASK, asks, n_asks, s->n_pending_bids,
		                          &s->n_pending_asks);
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
	enum tl_md_sync_result r = apply_event(s, m->first_id, m->final_id, m->bids, m->n_bids,
	                                       m->asks, m->n_asks, s->top_first);
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
		                s->levels + e->asks_at, e->n_asks, false);
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
