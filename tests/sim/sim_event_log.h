/*
 * sim_event_log.h: a tl_sim_sink for tests that keeps a copy of every event the engine
 * emits, depth levels included (the engine's level arrays are only valid during the
 * call). Header-only; each test includes it once.
 */
#ifndef SIM_EVENT_LOG_H
#define SIM_EVENT_LOG_H

#include <stdlib.h>
#include <string.h>

#include "tl_sim_engine.h"
#include "tl_test.h"

struct log {
	struct tl_sim_event *ev;
	size_t n, cap;
};

/* The sink function: ctx is a struct log (zero-initialised before first use). */
static inline void log_fn(void *ctx, const struct tl_sim_event *ev)
{
	struct log *l = ctx;
	struct tl_sim_event *c;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->ev = realloc(l->ev, l->cap * sizeof(*l->ev));
		CHECK(l->ev != NULL);
	}
	c = &l->ev[l->n++];
	*c = *ev;
	if (ev->kind == TL_SIM_EV_DEPTH) {
		uint32_t nb = ev->u.depth.n_bids, na = ev->u.depth.n_asks;
		struct tl_sim_level *b = malloc((nb + na + 1) * sizeof(*b));

		CHECK(b != NULL);
		memcpy(b, ev->u.depth.bids, nb * sizeof(*b));
		memcpy(b + nb, ev->u.depth.asks, na * sizeof(*b));
		c->u.depth.bids = b;
		c->u.depth.asks = b + nb;
	}
}

/* Forgets the events, keeping the array. */
static inline void log_reset(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ev[i].kind == TL_SIM_EV_DEPTH)
			free((void *)l->ev[i].u.depth.bids);
	l->n = 0;
}

/* Frees everything; the log is empty and reusable after. */
static inline void log_free(struct log *l)
{
	log_reset(l);
	free(l->ev);
	memset(l, 0, sizeof(*l));
}

#endif /* SIM_EVENT_LOG_H */
