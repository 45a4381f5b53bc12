/*
 * limiter.c: the venue's rate limits, kept on our side (tl_venue.h, "The rate limiter").
 *
 * DESIGN. A bucket is a ring of TL_VENUE_LIMITER_SLOTS counters, one per slot of
 * slot_ns = ceil(window / 63). Tokens taken at time t go into t's slot; a slot is cleared
 * (its tokens come back) when the ring comes round to it again, 64 slots later, which is
 * at least one whole window after any t in it. So the bucket never holds fewer than the
 * tokens taken in the last window: "at most limit per any window", which is the one rule
 * that stays inside the venue's fixed windows whatever their alignment. The price is that
 * a token may come back up to one slot (1/63 of the window) late.
 *
 * Slot numbers are absolute: slot k covers [(k - S) * slot_ns, (k - S + 1) * slot_ns) for
 * S = TL_VENUE_LIMITER_SLOTS. The offset S keeps every number the ring touches >= 0, and
 * makes the time at which slot j is cleared simply j * slot_ns.
 *
 * A correction from the venue's count moves `used` to the count (plus in flight): up by
 * adding to the newest slot (usage we did not see, counted from now: the safe side),
 * down by emptying the oldest slots first (the ones the venue's window has forgotten).
 */
#include "tl_venue.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define S TL_VENUE_LIMITER_SLOTS
#define NS_PER_MS 1000000
#define ORDER_BIT (1u << 31)
/* Usage and limits we accept from the venue: far above any real limit, far below a
 * slot's uint32, so that no sum of slots can wrap. */
#define USED_MAX ((int64_t)1 << 30)
/* The longest window taken: the venue's are a day at most. */
#define WINDOW_MAX_MS (400ll * 86400000)

void tl_venue_limiter_config_default(struct tl_venue_limiter_config *cfg)
{
	cfg->backoff_ns = 1000ll * NS_PER_MS;
	cfg->backoff_max_ns = 60000ll * NS_PER_MS;
	cfg->ban_ns = 120000ll * NS_PER_MS;
	cfg->wait_max_ns = 4ll * 86400000 * NS_PER_MS;
}

/* When slot k is cleared: as slot k + S begins, at ((k + S) - S) * slot_ns. */
static int64_t clear_time(const struct tl_venue_bucket *b, int64_t k)
{
	return k * b->slot_ns;
}

static uint32_t *slot(struct tl_venue_bucket *b, int64_t k)
{
	assert(k >= 0);
	return &b->slot_used[(uint64_t)k % S];
}

/* Clears the slots that have aged out by now. */
static void advance(struct tl_venue_bucket *b, int64_t now_ns)
{
	int64_t k = now_ns / b->slot_ns + S;

	if (k <= b->head_slot)
		return;
	if (k - b->head_slot >= S) {
		memset(b->slot_used, 0, sizeof(b->slot_used));
		b->used = 0;
	} else {
		for (int64_t j = b->head_slot + 1; j <= k; j++) {
			b->used -= *slot(b, j);
			*slot(b, j) = 0;
		}
	}
	b->head_slot = k;
	assert(b->used >= 0);
}

/* The ns from now until `need` tokens have come back (need <= used). */
static int64_t wait_for(struct tl_venue_bucket *b, int64_t now_ns, int64_t need)
{
	int64_t freed = 0;

	assert(need > 0 && need <= b->used);
	/* Oldest first: slot head - S + 1 is cleared first, when slot head + 1 begins. */
	for (int64_t j = b->head_slot - S + 1; j <= b->head_slot; j++) {
		freed += *slot(b, j);
		if (freed >= need) {
			int64_t t = clear_time(b, j);

			assert(t > now_ns);
			return t - now_ns;
		}
	}
	assert(0 && "the slots hold every used token");
	return 1;
}

/* Moves the usage to `target`: see DESIGN above. */
static void set_used(struct tl_venue_bucket *b, int64_t target)
{
	if (target > USED_MAX)
		target = USED_MAX;
	if (target > b->used) {
		*slot(b, b->head_slot) += (uint32_t)(target - b->used);
	} else {
		int64_t drop = b->used - target;

		for (int64_t j = b->head_slot - S + 1; j <= b->head_slot && drop > 0; j++) {
			uint32_t *c = slot(b, j);
			uint32_t d = (int64_t)*c < drop ? *c : (uint32_t)drop;

			*c -= d;
			drop -= d;
		}
		assert(drop == 0);
	}
	b->used = target;
}

/* n tokens out of the bucket, in its newest slot (advanced to now by the caller); usage
 * stops at USED_MAX. */
static void take_now(struct tl_venue_bucket *b, int64_t n)
{
	if (n > USED_MAX - b->used)
		n = USED_MAX - b->used;
	*slot(b, b->head_slot) += (uint32_t)n;
	b->used += n;
}

/* What a request takes from this bucket. */
static uint32_t tokens_for(const struct tl_venue_bucket *b, uint32_t weight, bool is_order)
{
	switch (b->type) {
	case TL_VENUE_LIMIT_REQUEST_WEIGHT:
		return weight;
	case TL_VENUE_LIMIT_RAW_REQUESTS:
		return 1;
	case TL_VENUE_LIMIT_ORDERS:
		return is_order ? 1 : 0;
	default:
		return 0;
	}
}

static struct tl_venue_bucket *find(struct tl_venue_limiter *lim, enum tl_venue_limit_type type,
                                    int64_t window_ms)
{
	for (uint32_t i = 0; i < lim->n_buckets; i++)
		if (lim->buckets[i].type == type && lim->buckets[i].window_ms == window_ms)
			return &lim->buckets[i];
	return NULL;
}

/* A new bucket, empty, or NULL when there is no room or the limit is unusable. */
static struct tl_venue_bucket *add(struct tl_venue_limiter *lim,
                                   const struct tl_venue_rate_limit *l)
{
	struct tl_venue_bucket *b;
	int64_t window_ns;

	if (lim->n_buckets == TL_VENUE_LIMITER_BUCKETS || l->window_ms > WINDOW_MAX_MS)
		return NULL;
	window_ns = l->window_ms * NS_PER_MS;
	b = &lim->buckets[lim->n_buckets++];
	memset(b, 0, sizeof(*b));
	b->type = l->type;
	b->window_ms = l->window_ms;
	b->window_ns = window_ns;
	b->slot_ns = window_ns / (S - 1) + (window_ns % (S - 1) != 0);
	b->limit = l->limit > USED_MAX ? USED_MAX : l->limit;
	b->head_slot = lim->last_ns / b->slot_ns + S;
	return b;
}

static bool usable(const struct tl_venue_rate_limit *l)
{
	return l->type != TL_VENUE_LIMIT_OTHER && l->window_ms > 0 && l->limit >= 0;
}

int tl_venue_limiter_init(struct tl_venue_limiter *lim, const struct tl_venue_limiter_config *cfg,
                          const struct tl_venue_rate_limit *limits, size_t n)
{
	if (lim == NULL || (limits == NULL && n > 0))
		return -EINVAL;
	memset(lim, 0, sizeof(*lim));
	if (cfg != NULL)
		lim->cfg = *cfg;
	else
		tl_venue_limiter_config_default(&lim->cfg);
	if (lim->cfg.backoff_ns <= 0 || lim->cfg.backoff_max_ns <= 0 || lim->cfg.ban_ns <= 0 ||
	    lim->cfg.wait_max_ns <= 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!usable(&limits[i]) || find(lim, limits[i].type, limits[i].window_ms) != NULL)
			continue;
		if (add(lim, &limits[i]) == NULL)
			return -EINVAL;
	}
	return 0;
}

static int64_t clamp_now(struct tl_venue_limiter *lim, int64_t now_ns)
{
	if (now_ns < lim->last_ns)
		now_ns = lim->last_ns;
	lim->last_ns = now_ns;
	return now_ns;
}

int64_t tl_venue_limiter_try(struct tl_venue_limiter *lim, int64_t now_ns, uint32_t weight,
                             bool is_order)
{
	int64_t wait = 0;

	now_ns = clamp_now(lim, now_ns);
	if (weight >= ORDER_BIT)
		return -EINVAL;
	for (uint32_t i = 0; i < lim->n_buckets; i++)
		if (tokens_for(&lim->buckets[i], weight, is_order) > lim->buckets[i].limit)
			return -EINVAL;
	if (now_ns < lim->blocked_until_ns)
		wait = lim->blocked_until_ns - now_ns;
	if (is_order && now_ns < lim->orders_blocked_until_ns &&
	    lim->orders_blocked_until_ns - now_ns > wait)
		wait = lim->orders_blocked_until_ns - now_ns;
	if (wait > 0) {
		lim->counters.denied++;
		return wait;
	}
	for (uint32_t i = 0; i < lim->n_buckets; i++) {
		struct tl_venue_bucket *b = &lim->buckets[i];
		int64_t take = tokens_for(b, weight, is_order);

		if (take == 0)
			continue;
		advance(b, now_ns);
		if (b->used + take > b->limit) {
			int64_t w = wait_for(b, now_ns, b->used + take - b->limit);

			if (w > wait)
				wait = w;
		}
	}
	if (wait > 0) {
		lim->counters.denied++;
		return wait;
	}
	for (uint32_t i = 0; i < lim->n_buckets; i++)
		take_now(&lim->buckets[i], tokens_for(&lim->buckets[i], weight, is_order));
	/* In flight until answered; a full list forgets its oldest (most likely lost). */
	if (lim->inflight_n == TL_VENUE_LIMITER_INFLIGHT) {
		lim->inflight_head = (lim->inflight_head + 1) % TL_VENUE_LIMITER_INFLIGHT;
		lim->inflight_n--;
	}
	lim->inflight[(lim->inflight_head + lim->inflight_n) % TL_VENUE_LIMITER_INFLIGHT] =
	    weight | (is_order ? ORDER_BIT : 0);
	lim->inflight_n++;
	lim->counters.allowed++;
	return 0;
}

static uint32_t pop_inflight(struct tl_venue_limiter *lim, uint32_t n)
{
	if (n > lim->inflight_n)
		n = lim->inflight_n;
	lim->inflight_head = (lim->inflight_head + n) % TL_VENUE_LIMITER_INFLIGHT;
	lim->inflight_n -= n;
	return n;
}

/* What the requests still in flight hold of this bucket. */
static int64_t inflight_tokens(const struct tl_venue_limiter *lim, const struct tl_venue_bucket *b)
{
	int64_t sum = 0;

	for (uint32_t i = 0; i < lim->inflight_n; i++) {
		uint32_t e = lim->inflight[(lim->inflight_head + i) % TL_VENUE_LIMITER_INFLIGHT];

		sum += tokens_for(b, e & ~ORDER_BIT, (e & ORDER_BIT) != 0);
	}
	return sum;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

void tl_venue_limiter_on_response(struct tl_venue_limiter *lim, int64_t now_ns,
                                  const struct tl_venue_response *r)
{
	struct tl_venue_verdict v;
	int64_t wait_ns;

	now_ns = clamp_now(lim, now_ns);
	pop_inflight(lim, 1);
	if (r == NULL)
		return;

	for (uint32_t i = 0; i < r->n_limits && i < TL_VENUE_RATE_LIMITS_MAX; i++) {
		const struct tl_venue_rate_limit *l = &r->limits[i];
		struct tl_venue_bucket *b;

		if (l->count < 0 || l->type == TL_VENUE_LIMIT_OTHER || l->window_ms <= 0)
			continue;
		b = find(lim, l->type, l->window_ms);
		if (b == NULL && (l->limit < 0 || (b = add(lim, l)) == NULL))
			continue;
		if (l->limit >= 0) /* the venue's word, over exchangeInfo's */
			b->limit = l->limit > USED_MAX ? USED_MAX : l->limit;
		advance(b, now_ns);
		/* Clamped first: the count is the venue's, and may be anything up to INT64_MAX. */
		set_used(b, (l->count > USED_MAX ? USED_MAX : l->count) + inflight_tokens(lim, b));
		lim->counters.corrections++;
	}

	if (tl_venue_classify(r, false, &v) != TL_VENUE_RATE_LIMITED) {
		lim->backoff_streak = 0;
		return;
	}
	if (v.retry_wait_ms > 0) {
		wait_ns = v.retry_wait_ms > lim->cfg.wait_max_ns / NS_PER_MS
		              ? lim->cfg.wait_max_ns
		              : v.retry_wait_ms * NS_PER_MS;
	} else if (v.banned) {
		wait_ns = lim->cfg.ban_ns;
	} else {
		/* No word from the venue: double the wait with each refusal in a row. */
		wait_ns = lim->cfg.backoff_ns;
		for (uint32_t i = 0; i < lim->backoff_streak && wait_ns < lim->cfg.backoff_max_ns;
		     i++)
			wait_ns = wait_ns > INT64_MAX / 2 ? INT64_MAX : wait_ns * 2;
		if (wait_ns > lim->cfg.backoff_max_ns)
			wait_ns = lim->cfg.backoff_max_ns;
	}
	if (lim->backoff_streak < UINT32_MAX)
		lim->backoff_streak++;
	lim->counters.backoffs++;
	wait_ns = now_ns > INT64_MAX - wait_ns ? INT64_MAX - now_ns : wait_ns;
	if (v.banned) {
		lim->counters.bans++;
		lim->ban_until_ns = max64(lim->ban_until_ns, now_ns + wait_ns);
		lim->blocked_until_ns = max64(lim->blocked_until_ns, now_ns + wait_ns);
	} else if (v.orders_only) {
		lim->orders_blocked_until_ns =
		    max64(lim->orders_blocked_until_ns, now_ns + wait_ns);
	} else {
		lim->blocked_until_ns = max64(lim->blocked_until_ns, now_ns + wait_ns);
	}
}

void tl_venue_limiter_charge(struct tl_venue_limiter *lim, int64_t now_ns, uint32_t weight,
                             bool is_order)
{
	now_ns = clamp_now(lim, now_ns);
	/* Already sent: counted even past the limit (try then waits it out). */
	for (uint32_t i = 0; i < lim->n_buckets; i++) {
		advance(&lim->buckets[i], now_ns);
		take_now(&lim->buckets[i], tokens_for(&lim->buckets[i], weight, is_order));
	}
	lim->counters.charged++;
}

void tl_venue_limiter_on_lost(struct tl_venue_limiter *lim, uint32_t n)
{
	lim->counters.lost += pop_inflight(lim, n);
}

bool tl_venue_limiter_banned(const struct tl_venue_limiter *lim, int64_t now_ns)
{
	return now_ns < lim->ban_until_ns;
}

int64_t tl_venue_limiter_used(const struct tl_venue_limiter *lim, enum tl_venue_limit_type type,
                              int64_t window_ms)
{
	for (uint32_t i = 0; i < lim->n_buckets; i++)
		if (lim->buckets[i].type == type && lim->buckets[i].window_ms == window_ms)
			return lim->buckets[i].used;
	return -ENOENT;
}

const struct tl_venue_limiter_counters *
tl_venue_limiter_counters(const struct tl_venue_limiter *lim)
{
	return &lim->counters;
}
