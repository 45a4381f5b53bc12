/* backoff.c: the reconnect policy (tl_io.h). */
#include "tl_io.h"

#include <errno.h>

int tl_io_backoff_init(struct tl_io_backoff *b, uint64_t base_ns, uint64_t cap_ns,
                       uint32_t max_attempts, uint64_t seed)
{
	if (!b || base_ns == 0 || cap_ns < base_ns || cap_ns > (uint64_t)INT64_MAX)
		return -EINVAL;
	b->base_ns = base_ns;
	b->cap_ns = cap_ns;
	b->max_attempts = max_attempts;
	b->attempt = 0;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	return 0;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

int64_t tl_io_backoff_next(struct tl_io_backoff *b)
{
	if (b->max_attempts && b->attempt >= b->max_attempts)
		return -ETIMEDOUT;
	uint64_t d = b->base_ns;
	/* Double per attempt until the cap; checking before shifting avoids overflow. */
	for (uint32_t i = 0; i < b->attempt && d < b->cap_ns; i++)
		d = d > b->cap_ns / 2 ? b->cap_ns : d * 2;
	if (d > b->cap_ns)
		d = b->cap_ns;
	if (b->attempt < UINT32_MAX)
		b->attempt++;
	uint64_t half = d / 2;
	uint64_t jitter = half ? xorshift64(&b->rng) % (d - half + 1) : 0;
	int64_t delay = (int64_t)(half + jitter);
	return delay > 0 ? delay : 1;
}

void tl_io_backoff_reset(struct tl_io_backoff *b)
{
	b->attempt = 0;
}
