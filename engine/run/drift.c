/*
 * drift.c: when reconciliation may write a difference as an ADJUSTMENT (run_internal.h).
 * No I/O: engine.c reads the balances and writes the ADJUSTMENT.
 */
#include "run_internal.h"

#include <string.h>

enum run_drift_verdict run_drift_observe(struct run_drift *d, int64_t diff, int64_t now_ns,
                                         int64_t window_ns)
{
	bool seen = false;

	if (diff == 0) {
		d->n = 0;
		return RUN_DRIFT_NONE;
	}
	/* An older run of the same value, nonzero at every look since, is the evidence. */
	for (uint32_t i = 0; i < d->n; i++) {
		if (d->runs[i].diff != diff)
			continue;
		seen = true;
		if (now_ns - d->runs[i].since_ns >= window_ns) {
			d->n = 0;
			return RUN_DRIFT_ADJUST;
		}
	}
	/* A new run, unless the newest is already this value. */
	if (d->n == 0 || d->runs[d->n - 1].diff != diff) {
		if (d->n == RUN_DRIFT_RUNS) /* the oldest run is forgotten */
			memmove(d->runs, d->runs + 1, --d->n * sizeof(d->runs[0]));
		d->runs[d->n].diff = diff;
		d->runs[d->n].since_ns = now_ns;
		d->n++;
	}
	return seen ? RUN_DRIFT_WAIT : RUN_DRIFT_NEW;
}
