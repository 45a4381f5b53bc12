/*
 * tl_event.h: the fixed-size event that crosses between tally's threads on the rings.
 *
 * Every inter-thread message is one 64-byte, cache-line-aligned tl_event_t: a type tag,
 * two CLOCK_MONOTONIC stamps and a 40-byte payload. A fixed size lets every ring be sized
 * in slots, lets a consumer drain a burst in place, and keeps one message on one line.
 *
 * Latency stamps ride inside the event (DESIGN.md §3): `ts_origin_ns` is when the input
 * that caused this event reached the process (a recv completion, say) and `ts_publish_ns`
 * is when this event was pushed. Any thread downstream can fill a histogram from them.
 *
 * Later modules add their payloads to the union; each must fit in TL_EVENT_PAYLOAD bytes,
 * which the static assertion below enforces.
 */
#ifndef TL_EVENT_H
#define TL_EVENT_H

#include <assert.h>
#include <stdalign.h>
#include <stdint.h>
#include <time.h>

#define TL_EVENT_SIZE 64u
#define TL_EVENT_PAYLOAD 40u

typedef enum tl_event_type {
	TL_EV_NONE = 0,
	TL_EV_SEQ = 1, /* payload.seq: a sequenced probe, used by stress tests and benches */
	/* the engine (engine/run): */
	TL_EV_TOP = 2,        /* md -> strategy: payload.top, the book's best levels */
	TL_EV_BOOK_DOWN = 3,  /* md -> strategy: the book is not in sync (no payload) */
	TL_EV_PLACE = 4,      /* strategy -> user: payload.intent, place a post-only order */
	TL_EV_CANCEL = 5,     /* strategy -> user: payload.intent, cancel it (order_seq) */
	TL_EV_CANCEL_ALL = 6, /* strategy -> user: cancel every open order of the symbol */
	TL_EV_ORDER = 7,      /* user -> strategy: payload.order, what the venue said */
	TL_EV_VENUE = 8,      /* user -> strategy: payload.venue, the connection's state */
} tl_event_type_t;

/* Order states as the user thread reports them (TL_EV_ORDER). */
enum tl_order_report {
	TL_ORDER_ACKED = 1,    /* on the book */
	TL_ORDER_FILL = 2,     /* a fill (last_qty at last_px); `done` when it filled whole */
	TL_ORDER_CANCELED = 3, /* done: canceled or expired, cum_qty filled before */
	TL_ORDER_REJECTED = 4, /* done: the venue refused it (code in `code`); nothing filled */
	TL_ORDER_UNKNOWN = 5,  /* the outcome of a request is not known (5xx, -1007, lost) */
	TL_ORDER_CANCEL_FAILED = 6, /* a cancel was refused (code); the order's state is asked */
};

typedef struct tl_event {
	alignas(64) uint16_t type; /* a tl_event_type_t */
	uint16_t flags;            /* type-specific */
	uint32_t source;           /* producing thread or connection, type-specific */
	int64_t ts_origin_ns;      /* CLOCK_MONOTONIC: when the causing input arrived */
	int64_t ts_publish_ns;     /* CLOCK_MONOTONIC: when this event was pushed */
	union {
		uint8_t raw[TL_EVENT_PAYLOAD];
		struct {
			uint64_t seq;   /* position in the producer's stream */
			uint64_t check; /* a function of seq, so torn slots are caught */
		} seq;
		struct {
			int64_t bid_px, bid_qty, ask_px,
			    ask_qty; /* instrument scale; 0: no level */
			uint64_t update_id;
		} top;
		struct {
			uint64_t order_seq; /* the engine's order number (its client order id) */
			int64_t px, qty;    /* PLACE */
			uint8_t side;       /* PLACE: 1 buy, 2 sell */
			uint8_t level;      /* PLACE: the strategy's level, for logs */
			uint64_t
			    cause; /* the update id of the top it answers (first intent), or 0 */
		} intent;
		struct {
			uint64_t order_seq;
			int64_t last_px, last_qty; /* FILL */
			int64_t cum_qty;           /* filled so far */
			int32_t code;              /* REJECTED, CANCEL_FAILED: the venue's code */
			uint8_t report;            /* enum tl_order_report */
			uint8_t done;              /* the order is over: nothing more will fill */
			uint8_t side;              /* FILL: 1 buy, 2 sell */
		} order;
		struct {
			uint8_t ready;    /* 1: subscribed and reconciled; 0: down */
			uint8_t backfill; /* ready after a gap: fills were fetched again */
		} venue;
	} payload;
} tl_event_t;

static_assert(sizeof(tl_event_t) == TL_EVENT_SIZE, "an event is one 64-byte line");
static_assert(sizeof(((tl_event_t *)0)->payload) == TL_EVENT_PAYLOAD, "payload size");

/* CLOCK_MONOTONIC in ns: the clock of every latency stamp. Served by the vDSO: no syscall. */
static inline int64_t tl_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif /* TL_EVENT_H */
