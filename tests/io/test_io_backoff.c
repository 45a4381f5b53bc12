/* test_io_backoff.c: the reconnect policy's delays, caps, jitter and attempt limit. */
#include "tl_io.h"
#include "tl_test.h"

#include <errno.h>

int main(void)
{
	struct tl_io_backoff b;
	CHECK_EQ(tl_io_backoff_init(&b, 0, 10, 0, 1), -EINVAL);
	CHECK_EQ(tl_io_backoff_init(&b, 10, 5, 0, 1), -EINVAL);

	/* Each delay lies in [d/2, d] with d = min(cap, base * 2^attempt). */
	const uint64_t base = 100, cap = 10000;
	CHECK_EQ(tl_io_backoff_init(&b, base, cap, 0, 42), 0);
	uint64_t d = base;
	int64_t max_seen = 0;
	for (int i = 0; i < 40; i++) {
		int64_t delay = tl_io_backoff_next(&b);
		CHECK(delay >= (int64_t)(d / 2) && delay <= (int64_t)d);
		if (delay > max_seen)
			max_seen = delay;
		d = d * 2 > cap ? cap : d * 2;
	}
	CHECK(max_seen <= (int64_t)cap && max_seen >= (int64_t)cap / 2);

	/* Jitter spreads the delays: 1000 draws at the cap are not all one value. */
	int64_t lo = INT64_MAX, hi = 0;
	for (int i = 0; i < 1000; i++) {
		int64_t delay = tl_io_backoff_next(&b);
		lo = delay < lo ? delay : lo;
		hi = delay > hi ? delay : hi;
	}
	CHECK(hi - lo > (int64_t)cap / 4);

	/* A reset starts from the base again. */
	tl_io_backoff_reset(&b);
	int64_t first = tl_io_backoff_next(&b);
	CHECK(first >= (int64_t)base / 2 && first <= (int64_t)base);

	/* Attempts run out. */
	CHECK_EQ(tl_io_backoff_init(&b, 1000, 1000000, 3, 7), 0);
	for (int i = 0; i < 3; i++)
		CHECK(tl_io_backoff_next(&b) > 0);
	CHECK_EQ(tl_io_backoff_next(&b), -ETIMEDOUT);
	tl_io_backoff_reset(&b);
	CHECK(tl_io_backoff_next(&b) > 0);

	/* Huge attempt counts neither overflow nor exceed the cap. */
	CHECK_EQ(tl_io_backoff_init(&b, 1, UINT64_C(1) << 62, 0, 9), 0);
	for (int i = 0; i < 200; i++) {
		int64_t delay = tl_io_backoff_next(&b);
		CHECK(delay > 0 && (uint64_t)delay <= UINT64_C(1) << 62);
	}
	return 0;
}
