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
} tl_event_type_t;

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
