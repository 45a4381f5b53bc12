/*
 * test_run_drift.c: when reconciliation may write a difference as an ADJUSTMENT
 * (engine/run/drift.c), one look a second and a 3 s window, as the e2e test runs it.
 *
 * - Money from outside: the difference stays, and is adjusted once the window is over.
 * - A fill in flight at the look that closes the window (seen once, in the e2e test under
 *   TSan: the deposit's difference with the fill's amount on top) is not adjusted, and
 *   the older difference is adjusted at the next look, at its own value. Before, the
 *   difference of that moment was written, and the fill, settled a moment later, was
 *   then counted twice.
 * - A difference that comes and goes is never adjusted; one that changes for good is
 *   adjusted a window after it changed; one that never holds still is not adjusted.
 */
#include "run_internal.h"
#include "tl_test.h"

#include <stdio.h>

#define S 1000000000ll
#define WINDOW (3 * S)

static enum run_drift_verdict look(struct run_drift *d, int64_t diff, int64_t t_s)
{
	return run_drift_observe(d, diff, t_s * S, WINDOW);
}

static void test_outside_deposit(void)
{
	struct run_drift d = {0};

	CHECK_EQ(look(&d, 0, 1), RUN_DRIFT_NONE);
	CHECK_EQ(look(&d, 100, 2), RUN_DRIFT_NEW);
	CHECK_EQ(look(&d, 100, 3), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 100, 4), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 100, 5), RUN_DRIFT_ADJUST);
	/* adjusted: the tracker starts afresh, and the books agree */
	CHECK_EQ(d.n, 0u);
	CHECK_EQ(look(&d, 0, 6), RUN_DRIFT_NONE);
}

static void test_fill_in_flight_at_the_window(void)
{
	struct run_drift d = {0};

	CHECK_EQ(look(&d, 100, 2), RUN_DRIFT_NEW);
	CHECK_EQ(look(&d, 100, 3), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 100, 4), RUN_DRIFT_WAIT);
	/* the venue has a buy the ledger has not settled yet: 100 - 60 */
	CHECK_EQ(look(&d, 40, 5), RUN_DRIFT_NEW);
	/* settled: the deposit's difference alone, held since 2 s */
	CHECK_EQ(look(&d, 100, 6), RUN_DRIFT_ADJUST);

	/* the other asset: the fill's amount for one look only */
	struct run_drift base = {0};
	CHECK_EQ(look(&base, 0, 4), RUN_DRIFT_NONE);
	CHECK_EQ(look(&base, 1000, 5), RUN_DRIFT_NEW);
	CHECK_EQ(look(&base, 0, 6), RUN_DRIFT_NONE);
	CHECK_EQ(look(&base, 0, 9), RUN_DRIFT_NONE);
}

static void test_comes_and_goes(void)
{
	struct run_drift d = {0};

	for (int t = 1; t < 30; t++)
		CHECK(look(&d, t % 2 ? 55 : 0, t) != RUN_DRIFT_ADJUST);
}

static void test_changes_for_good(void)
{
	struct run_drift d = {0};

	CHECK_EQ(look(&d, 100, 1), RUN_DRIFT_NEW);
	CHECK_EQ(look(&d, 100, 2), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 250, 3), RUN_DRIFT_NEW); /* a second deposit */
	CHECK_EQ(look(&d, 250, 4), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 250, 5), RUN_DRIFT_WAIT);
	CHECK_EQ(look(&d, 250, 6), RUN_DRIFT_ADJUST); /* 3 s after it, at its value */
}

static void test_never_still(void)
{
	struct run_drift d = {0};

	/* a new value at every look: nothing was seen twice, nothing is adjusted */
	for (int t = 1; t < 40; t++)
		CHECK_EQ(look(&d, t, t), RUN_DRIFT_NEW);
	CHECK(d.n <= RUN_DRIFT_RUNS);
	/* a value forgotten with the oldest runs starts over: adjusted a window later */
	CHECK_EQ(look(&d, 1, 40), RUN_DRIFT_NEW);
	CHECK_EQ(look(&d, 1, 43), RUN_DRIFT_ADJUST);
}

int main(void)
{
	test_outside_deposit();
	test_fill_in_flight_at_the_window();
	test_comes_and_goes();
	test_changes_for_good();
	test_never_still();
	printf("run drift: ok\n");
	return 0;
}
