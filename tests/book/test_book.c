/*
 * Unit tests of the L2 book: creation, input validation, insert/replace/delete at the top,
 * middle and bottom of each side, absent deletes, a full side, crossing, clear, top-N,
 * thousands of levels in adversarial orders, and long randomized runs against a reference
 * model that is too simple to be wrong.
 */
#include "tl_book.h"
#include "tl_test.h"

#include <errno.h>
#include <string.h>

#define PX(x) ((tl_px_t){(x)})
#define QTY(x) ((tl_qty_t){(x)})

static tl_book_t *book_new(uint32_t max_levels)
{
	struct tl_book_config cfg;
	tl_book_t *b = NULL;

	tl_book_config_default(&cfg);
	cfg.max_levels_per_side = max_levels;
	CHECK_EQ(tl_book_create(&b, &cfg), 0);
	CHECK(b != NULL);
	return b;
}

/*
 * Checks that a side holds exactly the levels px[i]/qty[i], given best first, through every
 * read call: levels, best, top (with room to spare, so it must stop at the count) and
 * qty_at.
 */
static void expect_side(const tl_book_t *b, tl_book_side_t side, const int64_t *px,
                        const int64_t *qty, size_t n)
{
	struct tl_book_level got[64], best;

	CHECK(n < 64);
	CHECK_EQ(tl_book_levels(b, side), n);
	memset(got, 0xa5, sizeof(got));
	CHECK_EQ(tl_book_top(b, side, got, 64), n);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(got[i].px.v, px[i]);
		CHECK_EQ(got[i].qty.v, qty[i]);
		CHECK_EQ(tl_book_qty_at(b, side, PX(px[i])).v, qty[i]);
	}
	if (n == 0) {
		best.px.v = 77;
		CHECK(!tl_book_best(b, side, &best));
		CHECK_EQ(best.px.v, 77); /* untouched */
	} else {
		CHECK(tl_book_best(b, side, &best));
		CHECK_EQ(best.px.v, px[0]);
		CHECK_EQ(best.qty.v, qty[0]);
	}
}

#define EXPECT(b, side, ...)                                                                       \
	do {                                                                                       \
		static const int64_t exp_[][2] = {__VA_ARGS__};                                    \
		int64_t px_[64], qty_[64];                                                         \
		size_t n_ = sizeof(exp_) / sizeof(exp_[0]);                                        \
		for (size_t i_ = 0; i_ < n_; i_++) {                                               \
			px_[i_] = exp_[i_][0];                                                     \
			qty_[i_] = exp_[i_][1];                                                    \
		}                                                                                  \
		expect_side((b), (side), px_, qty_, n_);                                           \
	} while (0)
#define EXPECT_EMPTY(b, side) expect_side((b), (side), NULL, NULL, 0)

static void test_create(void)
{
	struct tl_book_config cfg;
	tl_book_t *b = (tl_book_t *)0x1; /* must stay untouched on error */

	tl_book_config_default(&cfg);
	CHECK_EQ(cfg.max_levels_per_side, TL_BOOK_LEVELS_DEFAULT);

	cfg.max_levels_per_side = 0;
	CHECK_EQ(tl_book_create(&b, &cfg), -EINVAL);
	cfg.max_levels_per_side = TL_BOOK_LEVELS_MAX + 1;
	CHECK_EQ(tl_book_create(&b, &cfg), -EINVAL);
	CHECK_EQ(tl_book_create(NULL, NULL), -EINVAL);
	CHECK(b == (tl_book_t *)0x1);

	/* NULL config means the defaults; a new book is empty on both sides. */
	CHECK_EQ(tl_book_create(&b, NULL), 0);
	EXPECT_EMPTY(b, TL_BOOK_BID);
	EXPECT_EMPTY(b, TL_BOOK_ASK);
	CHECK(!tl_book_crossed(b));
	tl_book_destroy(b);
	tl_book_destroy(NULL);

	/* The smallest book holds one level a side. */
	b = book_new(1);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(5), QTY(1)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6), QTY(1)), -ENOSPC);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6), QTY(2)), 0);
	EXPECT(b, TL_BOOK_BID, {5, 1});
	EXPECT(b, TL_BOOK_ASK, {6, 2});
	tl_book_destroy(b);
}

static void test_bad_input(void)
{
	tl_book_t *b = book_new(8);
	struct tl_book_level lv[4];

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(3)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(101), QTY(4)), 0);

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(0), QTY(1)), -EINVAL);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(-101), QTY(1)), -EINVAL);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(INT64_MIN), QTY(0)), -EINVAL);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(-1)), -EINVAL);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(101), QTY(INT64_MIN)), -EINVAL);
	CHECK_EQ(tl_book_set(b, (tl_book_side_t)2, PX(100), QTY(1)), -EINVAL);
	CHECK_EQ(tl_book_set(b, (tl_book_side_t)-1, PX(100), QTY(1)), -EINVAL);

	/* Nothing changed. */
	EXPECT(b, TL_BOOK_BID, {100, 3});
	EXPECT(b, TL_BOOK_ASK, {101, 4});

	/* Reads of an invalid side or price see nothing. */
	CHECK(!tl_book_best(b, (tl_book_side_t)2, &lv[0]));
	CHECK_EQ(tl_book_top(b, (tl_book_side_t)7, lv, 4), 0);
	CHECK_EQ(tl_book_levels(b, (tl_book_side_t)-1), 0);
	CHECK_EQ(tl_book_qty_at(b, (tl_book_side_t)2, PX(100)).v, 0);
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(0)).v, 0);
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(-100)).v, 0);

	/* top with n == 0 may take NULL. */
	CHECK_EQ(tl_book_top(b, TL_BOOK_BID, NULL, 0), 0);
	tl_book_destroy(b);
}

/* Bids: best is the highest price; top lists them descending. */
static void test_bids(void)
{
	tl_book_t *b = book_new(16);

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(10)), 0);
	EXPECT(b, TL_BOOK_BID, {100, 10});
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(102), QTY(20)), 0); /* new top */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(98), QTY(30)), 0);  /* new bottom */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(101), QTY(40)), 0); /* middle */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(99), QTY(50)), 0);  /* middle */
	EXPECT(b, TL_BOOK_BID, {102, 20}, {101, 40}, {100, 10}, {99, 50}, {98, 30});
	EXPECT_EMPTY(b, TL_BOOK_ASK); /* the other side is untouched */

	/* Replace at the top, middle and bottom: same levels, new quantities. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(102), QTY(21)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(11)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(98), QTY(31)), 0);
	EXPECT(b, TL_BOOK_BID, {102, 21}, {101, 40}, {100, 11}, {99, 50}, {98, 31});

	/* Delete at the top (the next level becomes best), middle and bottom. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(102), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {101, 40}, {100, 11}, {99, 50}, {98, 31});
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {101, 40}, {99, 50}, {98, 31});
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(98), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {101, 40}, {99, 50});

	/* Delete down to empty, then rebuild. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(101), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(99), QTY(0)), 0);
	EXPECT_EMPTY(b, TL_BOOK_BID);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(7), QTY(1)), 0);
	EXPECT(b, TL_BOOK_BID, {7, 1});
	tl_book_destroy(b);
}

/* Asks: best is the lowest price; top lists them ascending. */
static void test_asks(void)
{
	tl_book_t *b = book_new(16);

	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(100), QTY(10)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(98), QTY(20)), 0);  /* new top */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(102), QTY(30)), 0); /* new bottom */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(99), QTY(40)), 0);  /* middle */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(101), QTY(50)), 0); /* middle */
	EXPECT(b, TL_BOOK_ASK, {98, 20}, {99, 40}, {100, 10}, {101, 50}, {102, 30});
	EXPECT_EMPTY(b, TL_BOOK_BID);

	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(98), QTY(21)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(100), QTY(11)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(102), QTY(31)), 0);
	EXPECT(b, TL_BOOK_ASK, {98, 21}, {99, 40}, {100, 11}, {101, 50}, {102, 31});

	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(98), QTY(0)), 0);
	EXPECT(b, TL_BOOK_ASK, {99, 40}, {100, 11}, {101, 50}, {102, 31});
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(100), QTY(0)), 0);
	EXPECT(b, TL_BOOK_ASK, {99, 40}, {101, 50}, {102, 31});
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(102), QTY(0)), 0);
	EXPECT(b, TL_BOOK_ASK, {99, 40}, {101, 50});
	tl_book_destroy(b);
}

/* The extremes of the price range sort correctly on both sides (asks negate prices). */
static void test_extreme_prices(void)
{
	tl_book_t *b = book_new(4);

	for (int side = 0; side < 2; side++) {
		CHECK_EQ(tl_book_set(b, (tl_book_side_t)side, PX(INT64_MAX), QTY(INT64_MAX)), 0);
		CHECK_EQ(tl_book_set(b, (tl_book_side_t)side, PX(1), QTY(1)), 0);
		CHECK_EQ(tl_book_set(b, (tl_book_side_t)side, PX(INT64_MAX - 1), QTY(2)), 0);
	}
	EXPECT(b, TL_BOOK_BID, {INT64_MAX, INT64_MAX}, {INT64_MAX - 1, 2}, {1, 1});
	EXPECT(b, TL_BOOK_ASK, {1, 1}, {INT64_MAX - 1, 2}, {INT64_MAX, INT64_MAX});
	CHECK(tl_book_crossed(b));
	tl_book_destroy(b);
}

/* Deleting a level that is not there succeeds and changes nothing, wherever it would be. */
static void test_delete_absent(void)
{
	tl_book_t *b = book_new(8);

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(50), QTY(0)), 0); /* empty side */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(50), QTY(0)), 0);
	EXPECT_EMPTY(b, TL_BOOK_BID);
	EXPECT_EMPTY(b, TL_BOOK_ASK);

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(10), QTY(1)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(20), QTY(2)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(30), QTY(3)), 0);
	static const int64_t absent[] = {31, 25, 15, 9, 1, INT64_MAX};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(absent[i]), QTY(0)), 0);
		CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(absent[i])).v, 0);
	}
	/* The same prices on the other side are other levels. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(20), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {30, 3}, {20, 2}, {10, 1});
	EXPECT_EMPTY(b, TL_BOOK_ASK);
	tl_book_destroy(b);
}

/* A full side refuses new levels and stays as it was; replace and delete still work. */
static void test_full(void)
{
	tl_book_t *b = book_new(4);

	for (int64_t px = 10; px <= 40; px += 10)
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(px), QTY(px)), 0);

	/* A new best, a new worst and a new middle level are all refused. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(5), QTY(1)), -ENOSPC);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(45), QTY(1)), -ENOSPC);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(25), QTY(1)), -ENOSPC);
	EXPECT(b, TL_BOOK_ASK, {10, 10}, {20, 20}, {30, 30}, {40, 40});

	/* Levels already there can change, and absent deletes are still fine. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(10), QTY(11)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(40), QTY(41)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(25), QTY(0)), 0);
	EXPECT(b, TL_BOOK_ASK, {10, 11}, {20, 20}, {30, 30}, {40, 41});

	/* The other side has its own room. */
	for (int64_t px = 1; px <= 4; px++)
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(px), QTY(px)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(9), QTY(1)), -ENOSPC);
	EXPECT(b, TL_BOOK_BID, {4, 4}, {3, 3}, {2, 2}, {1, 1});

	/* One delete makes room for exactly one new level. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(20), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(5), QTY(5)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6), QTY(6)), -ENOSPC);
	EXPECT(b, TL_BOOK_ASK, {5, 5}, {10, 11}, {30, 30}, {40, 41});
	tl_book_destroy(b);
}

static void test_crossed(void)
{
	tl_book_t *b = book_new(8);

	CHECK(!tl_book_crossed(b));
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(1)), 0);
	CHECK(!tl_book_crossed(b)); /* one side empty */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(101), QTY(1)), 0);
	CHECK(!tl_book_crossed(b)); /* one tick wide */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(101), QTY(1)), 0);
	CHECK(tl_book_crossed(b)); /* locked: bid == ask */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(105), QTY(1)), 0);
	CHECK(tl_book_crossed(b)); /* through */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(105), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(101), QTY(0)), 0);
	CHECK(!tl_book_crossed(b));
	/* Crossed by an ask below the best bid. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(99), QTY(1)), 0);
	CHECK(tl_book_crossed(b));
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(0)), 0);
	CHECK(!tl_book_crossed(b)); /* bids empty again */
	tl_book_destroy(b);
}

static void test_clear(void)
{
	tl_book_t *b = book_new(3);

	for (int64_t px = 1; px <= 3; px++) {
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(px), QTY(1)), 0);
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(px + 10), QTY(1)), 0);
	}
	tl_book_clear(b);
	EXPECT_EMPTY(b, TL_BOOK_BID);
	EXPECT_EMPTY(b, TL_BOOK_ASK);
	CHECK(!tl_book_crossed(b));
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(2)).v, 0);

	/* The full capacity is available again. */
	for (int64_t px = 4; px <= 6; px++)
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(px), QTY(px)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(7), QTY(1)), -ENOSPC);
	EXPECT(b, TL_BOOK_BID, {6, 6}, {5, 5}, {4, 4});
	tl_book_clear(b);
	tl_book_clear(b); /* clearing an empty book is fine */
	EXPECT_EMPTY(b, TL_BOOK_BID);
	tl_book_destroy(b);
}

/* top() copies min(n, levels), best first, and writes nothing past that. */
static void test_top_n(void)
{
	tl_book_t *b = book_new(64);
	struct tl_book_level out[8];

	for (int64_t px = 1; px <= 40; px++)
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(px), QTY(1000 + px)), 0);
	memset(out, 0x5a, sizeof(out));
	CHECK_EQ(tl_book_top(b, TL_BOOK_BID, out, 5), 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(out[i].px.v, 40 - i);
		CHECK_EQ(out[i].qty.v, 1040 - i);
	}
	for (int i = 5; i < 8; i++)
		CHECK_EQ(out[i].px.v, 0x5a5a5a5a5a5a5a5aLL);
	CHECK_EQ(tl_book_top(b, TL_BOOK_BID, out, 1), 1);
	CHECK_EQ(out[0].px.v, 40);
	tl_book_destroy(b);
}

static void check_side_range(const tl_book_t *b, tl_book_side_t side, int64_t lo, int64_t hi,
                             int64_t step, struct tl_book_level *buf)
{
	/* Expects levels at lo, lo + step, ... <= hi, each with qty == px * 3. */
	size_t n = (size_t)((hi - lo) / step + 1);
	CHECK_EQ(tl_book_levels(b, side), n);
	CHECK_EQ(tl_book_top(b, side, buf, n + 1), n);
	for (size_t k = 0; k < n; k++) {
		int64_t px = side == TL_BOOK_BID ? hi - (int64_t)k * step : lo + (int64_t)k * step;
		CHECK_EQ(buf[k].px.v, px);
		CHECK_EQ(buf[k].qty.v, px * 3);
	}
}

/*
 * Many levels, inserted and deleted in orders that stress any internal partitioning of a
 * side (the book cuts sides into blocks of 64): ascending, descending, from the middle
 * outwards; deletes of every other level, from both ends at once, best first, from the
 * middle outwards. After each phase the whole side is checked. Also fills a side to its
 * exact capacity after deletes left it fragmented. 2 * MANY_N levels a side: dozens of
 * blocks. MANY_N is an int64_t so that its products are computed in 64 bits.
 */
#define MANY_N INT64_C(1000)

static void test_many_levels(void)
{
	static struct tl_book_level buf[4 * MANY_N];
	tl_book_t *b = book_new(2 * MANY_N);

	for (int side = 0; side < 2; side++) {
		tl_book_side_t sd = (tl_book_side_t)side;

		/* Even prices ascending, then odd ones descending between them. */
		for (int64_t px = 2; px <= 2 * MANY_N; px += 2)
			CHECK_EQ(tl_book_set(b, sd, PX(px), QTY(px * 3)), 0);
		check_side_range(b, sd, 2, 2 * MANY_N, 2, buf);
		for (int64_t px = 2 * MANY_N - 1; px >= 1; px -= 2)
			CHECK_EQ(tl_book_set(b, sd, PX(px), QTY(px * 3)), 0);
		check_side_range(b, sd, 1, 2 * MANY_N, 1, buf);
		/* Exactly full. */
		CHECK_EQ(tl_book_set(b, sd, PX(2 * MANY_N + 1), QTY(1)), -ENOSPC);

		/* Delete every other level: the odd prices go. */
		for (int64_t px = 1; px <= 2 * MANY_N; px += 2)
			CHECK_EQ(tl_book_set(b, sd, PX(px), QTY(0)), 0);
		check_side_range(b, sd, 2, 2 * MANY_N, 2, buf);

		/* Delete from both ends towards the middle, checking the best as it moves. */
		for (int64_t k = 0; k < MANY_N / 4; k++) {
			CHECK_EQ(tl_book_set(b, sd, PX(2 + 2 * k), QTY(0)), 0);
			CHECK_EQ(tl_book_set(b, sd, PX(2 * MANY_N - 2 * k), QTY(0)), 0);
			struct tl_book_level best;
			CHECK(tl_book_best(b, sd, &best));
			CHECK_EQ(best.px.v,
			         sd == TL_BOOK_BID ? 2 * MANY_N - 2 * (k + 1) : 2 + 2 * (k + 1));
		}
		check_side_range(b, sd, 2 + MANY_N / 2, 2 * MANY_N - MANY_N / 2, 2, buf);

		/* Refill to exactly the capacity around the fragments that are left. */
		for (int64_t px = 1; px <= 2 * MANY_N; px++)
			CHECK_EQ(tl_book_set(b, sd, PX(px), QTY(px * 3)), 0);
		check_side_range(b, sd, 1, 2 * MANY_N, 1, buf);
		CHECK_EQ(tl_book_set(b, sd, PX(2 * MANY_N + 1), QTY(1)), -ENOSPC);
		CHECK_EQ(tl_book_set(b, sd, PX(MANY_N), QTY(0)), 0);
		CHECK_EQ(tl_book_set(b, sd, PX(2 * MANY_N + 1), QTY(2 * MANY_N * 3 + 3)), 0);
		CHECK_EQ(tl_book_set(b, sd, PX(MANY_N), QTY(MANY_N * 3)), -ENOSPC);

		/* Delete everything, best level first... */
		for (int64_t k = 0; k < 2 * MANY_N + 1; k++) {
			int64_t px = sd == TL_BOOK_BID ? 2 * MANY_N + 1 - k : 1 + k;
			if (px != MANY_N)
				CHECK_EQ(tl_book_set(b, sd, PX(px), QTY(0)), 0);
		}
		CHECK_EQ(tl_book_levels(b, sd), 0);
		CHECK_EQ(tl_book_top(b, sd, buf, 1), 0);

		/* ...then from the middle outwards, and delete in the same order. */
		for (int64_t k = 0; k < MANY_N; k++) {
			CHECK_EQ(tl_book_set(b, sd, PX(MANY_N - k), QTY((MANY_N - k) * 3)), 0);
			CHECK_EQ(tl_book_set(b, sd, PX(MANY_N + 1 + k), QTY((MANY_N + 1 + k) * 3)),
			         0);
		}
		check_side_range(b, sd, 1, 2 * MANY_N, 1, buf);
		for (int64_t k = 0; k < MANY_N; k++) {
			CHECK_EQ(tl_book_set(b, sd, PX(MANY_N - k), QTY(0)), 0);
			CHECK_EQ(tl_book_set(b, sd, PX(MANY_N + 1 + k), QTY(0)), 0);
		}
		CHECK_EQ(tl_book_levels(b, sd), 0);
	}
	tl_book_destroy(b);
}

/*
 * A trend that leaves debris: each round adds a run of new best levels, then deletes all
 * of them but the best one, so the side grows by one stale level per round. The book must
 * keep taking such rounds until the side holds exactly its capacity, however it partitions
 * the side internally: a partition that kept one near-empty block per round (this pattern
 * leaves each round's survivor alone in a block) would run out of memory long before.
 */
static void test_trend_debris(void)
{
	enum { CAP = 512, RUN = 100 };
	static struct tl_book_level buf[CAP + 1];
	tl_book_t *b = book_new(CAP);

	for (int side = 0; side < 2; side++) {
		tl_book_side_t sd = (tl_book_side_t)side;
		/* Bids trend up, asks down: either way the new levels are the new best. The
		 * level kept from round r is at base + dir * (r * RUN + RUN - 1). */
		int64_t dir = sd == TL_BOOK_BID ? 1 : -1;
		int64_t base = 1000000;

		/* A round needs RUN free levels while it runs. */
		int64_t rounds = CAP - RUN + 1;
		for (int64_t round = 0; round < rounds; round++) {
			int64_t first = base + dir * round * RUN;
			for (int64_t t = 0; t < RUN; t++)
				CHECK_EQ(tl_book_set(b, sd, PX(first + dir * t), QTY(7)), 0);
			for (int64_t t = 0; t < RUN - 1; t++)
				CHECK_EQ(tl_book_set(b, sd, PX(first + dir * t), QTY(0)), 0);
			CHECK_EQ(tl_book_levels(b, sd), round + 1);
		}
		/* Then the last RUN - 1 levels, one per round, fill the side exactly. */
		for (int64_t round = rounds; round < CAP; round++)
			CHECK_EQ(
			    tl_book_set(b, sd, PX(base + dir * (round * RUN + RUN - 1)), QTY(7)),
			    0);
		CHECK_EQ(tl_book_set(b, sd, PX(base - dir), QTY(1)), -ENOSPC);
		CHECK_EQ(tl_book_top(b, sd, buf, CAP + 1), CAP);
		for (int64_t k = 0; k < CAP; k++)
			CHECK_EQ(buf[k].px.v, base + dir * ((CAP - 1 - k) * RUN + RUN - 1));
	}
	tl_book_destroy(b);
}

/* ---- randomized, against a reference model ----------------------------------------- */

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

/*
 * The reference: an unsorted array of levels per side, searched linearly. Deletes swap in
 * the last level. Too simple to share a bug with the book.
 */
struct ref_side {
	struct tl_book_level *lv;
	uint32_t n, cap;
};

static int ref_set(struct ref_side *r, int64_t px, int64_t qty)
{
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->lv[i].px.v != px)
			continue;
		if (qty > 0)
			r->lv[i].qty.v = qty;
		else
			r->lv[i] = r->lv[--r->n];
		return 0;
	}
	if (qty == 0)
		return 0;
	if (r->n == r->cap)
		return -ENOSPC;
	r->lv[r->n].px.v = px;
	r->lv[r->n].qty.v = qty;
	r->n++;
	return 0;
}

/* Index of the best level (highest bid, lowest ask); r->n must be > 0. */
static uint32_t ref_best(const struct ref_side *r, tl_book_side_t side)
{
	uint32_t best = 0;
	for (uint32_t i = 1; i < r->n; i++) {
		bool better = side == TL_BOOK_BID ? r->lv[i].px.v > r->lv[best].px.v
		                                  : r->lv[i].px.v < r->lv[best].px.v;
		if (better)
			best = i;
	}
	return best;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = ((const struct tl_book_level *)a)->px.v;
	int64_t y = ((const struct tl_book_level *)b)->px.v;
	return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b)
{
	return cmp_desc(b, a);
}

/* Full comparison: the book's whole side, via top(), equals the sorted reference. */
static void compare_full(const tl_book_t *b, tl_book_side_t side, const struct ref_side *r,
                         struct tl_book_level *sorted, struct tl_book_level *got)
{
	memcpy(sorted, r->lv, r->n * sizeof(*sorted));
	qsort(sorted, r->n, sizeof(*sorted), side == TL_BOOK_BID ? cmp_desc : cmp_asc);
	CHECK_EQ(tl_book_levels(b, side), r->n);
	CHECK_EQ(tl_book_top(b, side, got, r->cap + 1), r->n);
	for (uint32_t i = 0; i < r->n; i++) {
		CHECK_EQ(got[i].px.v, sorted[i].px.v);
		CHECK_EQ(got[i].qty.v, sorted[i].qty.v);
	}
}

/*
 * Runs `ops` random sets on a book of `cap` levels a side, after a snapshot-like fill of
 * `depth_ticks / 2` levels a side. Prices walk around a drifting mid so that, as in real
 * data, 80% of updates land within 20 ticks of it and 20% anywhere within depth_ticks of
 * it; half are deletes. When cap is small against depth_ticks, sides fill up and -ENOSPC is
 * exercised. The drift leaves stale levels behind, so the book is crossed at times too.
 */
static void random_run(uint32_t cap, int64_t depth_ticks, long ops)
{
	tl_book_t *b = book_new(cap);
	struct ref_side ref[2];
	struct tl_book_level *sorted = malloc((cap + 1) * sizeof(*sorted));
	struct tl_book_level *got = malloc((cap + 1) * sizeof(*got));
	const int64_t mid0 = 10 * depth_ticks + 1000;
	int64_t mid = mid0;
	long enospc = 0, deletes = 0, crossed_seen = 0;

	CHECK(sorted != NULL && got != NULL);
	for (int s = 0; s < 2; s++) {
		ref[s].lv = malloc(cap * sizeof(*ref[s].lv));
		CHECK(ref[s].lv != NULL);
		ref[s].n = 0;
		ref[s].cap = cap;
	}

	/* The snapshot: every other tick, best first, as a REST depth reply lists them. */
	for (int64_t off = 0; off < depth_ticks; off += 2) {
		int64_t qty = 1 + (int64_t)rng_below(1000);
		int want = ref_set(&ref[0], mid - off, qty);
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(mid - off), QTY(qty)), want);
		want = ref_set(&ref[1], mid + 1 + off, qty);
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(mid + 1 + off), QTY(qty)), want);
	}
	compare_full(b, TL_BOOK_BID, &ref[0], sorted, got);
	compare_full(b, TL_BOOK_ASK, &ref[1], sorted, got);

	for (long op = 0; op < ops; op++) {
		tl_book_side_t side = (tl_book_side_t)rng_below(2);
		int64_t off, px, qty;

		/* The mid wanders, but stays within depth_ticks of where it started. */
		if (rng_below(1000) == 0) {
			mid += (int64_t)rng_below(21) - 10;
			if (mid < mid0 - depth_ticks || mid > mid0 + depth_ticks)
				mid = mid0;
		}
		off = rng_below(5) != 0 ? (int64_t)rng_below(20)
		                        : (int64_t)rng_below((uint64_t)depth_ticks);
		px = side == TL_BOOK_BID ? mid - off : mid + 1 + off;
		/* Half deletes; the rest often small, so that replaces repeat values. */
		qty = rng_below(2) ? 0 : 1 + (int64_t)rng_below(rng_below(2) ? 5 : 1000000);

		int want = ref_set(&ref[side], px, qty);
		CHECK_EQ(tl_book_set(b, side, PX(px), QTY(qty)), want);
		enospc += want == -ENOSPC;
		deletes += qty == 0;
		CHECK_EQ(tl_book_qty_at(b, side, PX(px)).v, want == -ENOSPC ? 0 : qty);

		/* Every step: the best of both sides, and crossing. */
		struct tl_book_level best, ref_lv[2];
		for (int s = 0; s < 2; s++) {
			if (ref[s].n == 0) {
				CHECK(!tl_book_best(b, (tl_book_side_t)s, &best));
				continue;
			}
			ref_lv[s] = ref[s].lv[ref_best(&ref[s], (tl_book_side_t)s)];
			CHECK(tl_book_best(b, (tl_book_side_t)s, &best));
			CHECK_EQ(best.px.v, ref_lv[s].px.v);
			CHECK_EQ(best.qty.v, ref_lv[s].qty.v);
		}
		bool crossed = ref[0].n > 0 && ref[1].n > 0 && ref_lv[0].px.v >= ref_lv[1].px.v;
		CHECK_EQ(tl_book_crossed(b), crossed);
		crossed_seen += crossed;

		if (op % 997 == 0) {
			compare_full(b, TL_BOOK_BID, &ref[0], sorted, got);
			compare_full(b, TL_BOOK_ASK, &ref[1], sorted, got);
		}
		if (rng_below(100000) == 0) { /* a resync throws everything away */
			tl_book_clear(b);
			ref[0].n = ref[1].n = 0;
		}
	}
	compare_full(b, TL_BOOK_BID, &ref[0], sorted, got);
	compare_full(b, TL_BOOK_ASK, &ref[1], sorted, got);

	/* The run did exercise what it is meant to. */
	CHECK(deletes > ops / 3);
	CHECK(crossed_seen > 0);
	if ((int64_t)cap * 4 < depth_ticks)
		CHECK(enospc > 0);
	else
		CHECK_EQ(enospc, 0);

	for (int s = 0; s < 2; s++)
		free(ref[s].lv);
	free(sorted);
	free(got);
	tl_book_destroy(b);
}

int main(void)
{
	/* Sanitizers make the reference's linear scans several times slower; a tenth of the
	 * operations still covers every path many times over. */
	long scale = TL_TEST_UNDER_ASAN ? 10 : 1;

	test_create();
	test_bad_input();
	test_bids();
	test_asks();
	test_extreme_prices();
	test_delete_absent();
	test_full();
	test_crossed();
	test_clear();
	test_top_n();
	test_many_levels();
	test_trend_debris();

	/* A small book that is often full; then a Binance-sized one (~2000 levels a side) that
	 * never is, with fewer operations because the reference scans every level. */
	random_run(256, 2000, 1000000 / scale);
	random_run(TL_BOOK_LEVELS_DEFAULT, 4000, 300000 / scale);
	return 0;
}
