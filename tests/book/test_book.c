/*
 * Unit tests of the L2 book: creation, input validation, insert/replace/delete at the top,
 * middle and bottom of each side, absent deletes, a full side, crossing, clear, top-N,
 * thousands of levels in adversarial orders, and long randomized runs against a reference
 * model that is too simple to be wrong.
 *
 * The book keeps the levels near the best in a ladder (a window of directly indexed ticks
 * of a price grid it learns) and the rest in a tree. Everything above runs three times: with
 * the default window, with the smallest one (64 ticks, so that the window moves all the
 * time and most levels live in the tree) and with no ladder. Then tests of the ladder's own
 * cases: its configuration, the grid (prices at 8 decimals, as the md layer passes them,
 * and prices off the grid), and the window following the best up, down and across jumps.
 */
#include "tl_book.h"
#include "tl_test.h"

#include <errno.h>
#include <string.h>

#define PX(x) ((tl_px_t){(x)})
#define QTY(x) ((tl_qty_t){(x)})

/* The ladder window of the books book_new() makes: each pass of main() sets it. */
static uint32_t ladder_ticks = TL_BOOK_LADDER_TICKS_DEFAULT;

/* A price tick of BTCUSDT (0.01) at the 8 decimals the md layer parses prices with. */
#define UNIT_8DP INT64_C(1000000)

static tl_book_t *book_new_ladder(uint32_t max_levels, uint32_t ticks)
{
	struct tl_book_config cfg;
	tl_book_t *b = NULL;

	tl_book_config_default(&cfg);
	cfg.max_levels_per_side = max_levels;
	cfg.ladder_ticks = ticks;
	CHECK_EQ(tl_book_create(&b, &cfg), 0);
	CHECK(b != NULL);
	return b;
}

static tl_book_t *book_new(uint32_t max_levels)
{
	return book_new_ladder(max_levels, ladder_ticks);
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
	CHECK_EQ(cfg.ladder_ticks, TL_BOOK_LADDER_TICKS_DEFAULT);

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
	/* Asks compare negated prices, so that one loop serves both sides. */
	int64_t sign = side == TL_BOOK_BID ? 1 : -1, best_key = sign * r->lv[0].px.v;
	uint32_t best = 0;
	for (uint32_t i = 1; i < r->n; i++) {
		if (sign * r->lv[i].px.v > best_key) {
			best = i;
			best_key = sign * r->lv[i].px.v;
		}
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
 *
 * A tick is `unit` price units. When unit > 1, halfway through one level a side lands
 * between two ticks, off the grid the book has learned, with the book full of levels.
 */
static void random_run(uint32_t cap, int64_t depth_ticks, int64_t unit, long ops)
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
		int want = ref_set(&ref[0], (mid - off) * unit, qty);
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX((mid - off) * unit), QTY(qty)), want);
		want = ref_set(&ref[1], (mid + 1 + off) * unit, qty);
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX((mid + 1 + off) * unit), QTY(qty)), want);
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
		px = (side == TL_BOOK_BID ? mid - off : mid + 1 + off) * unit;
		/* Half deletes; the rest often small, so that replaces repeat values. */
		qty = rng_below(2) ? 0 : 1 + (int64_t)rng_below(rng_below(2) ? 5 : 1000000);
		if (op == ops / 2 && unit > 1) { /* off the grid, near the top */
			px += side == TL_BOOK_BID ? -unit / 2 : unit / 2;
			qty = 7;
		}

		int want = ref_set(&ref[side], px, qty);
		tl_book_prefetch_top(b); /* in every state the run reaches; it changes nothing */
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

/* ---- the ladder ---------------------------------------------------------------------- */

static void test_ladder_config(void)
{
	struct tl_book_config cfg;
	tl_book_t *b = (tl_book_t *)0x1;

	tl_book_config_default(&cfg);
	static const uint32_t bad[] = {1,
	                               63,
	                               100,
	                               TL_BOOK_LADDER_TICKS_MIN / 2,
	                               TL_BOOK_LADDER_TICKS_MIN * 3,
	                               TL_BOOK_LADDER_TICKS_MAX * 2,
	                               TL_BOOK_LADDER_TICKS_MAX - 1,
	                               UINT32_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.ladder_ticks = bad[i];
		CHECK_EQ(tl_book_create(&b, &cfg), -EINVAL);
		CHECK(b == (tl_book_t *)0x1);
	}

	/* 0 (no ladder), the smallest and the largest window all make working books. */
	static const uint32_t good[] = {0, TL_BOOK_LADDER_TICKS_MIN, TL_BOOK_LADDER_TICKS_MAX};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		b = book_new_ladder(4, good[i]);
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(100), QTY(1)), 0);
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(99), QTY(2)), 0);
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(101), QTY(3)), 0);
		EXPECT(b, TL_BOOK_BID, {100, 1}, {99, 2});
		EXPECT(b, TL_BOOK_ASK, {101, 3});
		tl_book_destroy(b);
	}
}

/*
 * Prices as the md layer gives them for BTCUSDT: 8 decimals, so a tick is 1,000,000 units.
 * The book learns that grid from the prices; a price between ticks makes it learn a finer
 * one, while the book is full of levels, and the levels that were there stay correct.
 */
static void test_grid(void)
{
	const int64_t u = UNIT_8DP;
	tl_book_t *b = book_new_ladder(64, TL_BOOK_LADDER_TICKS_MIN);

	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173763 * u), QTY(1)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173760 * u), QTY(2)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173700 * u), QTY(3)),
	         0); /* below a 64-tick window */
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173764 * u), QTY(4)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173900 * u), QTY(5)), 0);
	EXPECT(b, TL_BOOK_BID, {6173763 * u, 1}, {6173760 * u, 2}, {6173700 * u, 3});
	EXPECT(b, TL_BOOK_ASK, {6173764 * u, 4}, {6173900 * u, 5});

	/* Prices between the ticks are not in the book: reads see nothing, deletes do nothing. */
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(6173763 * u + 1)).v, 0);
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(6173763 * u - u / 2)).v, 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173762 * u + 1), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173764 * u + u / 2), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {6173763 * u, 1}, {6173760 * u, 2}, {6173700 * u, 3});

	/* Half a tick: the grid halves. Then one unit: the grid becomes 1. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173761 * u + u / 2), QTY(6)), 0);
	EXPECT(b, TL_BOOK_BID, {6173763 * u, 1}, {6173761 * u + u / 2, 6}, {6173760 * u, 2},
	       {6173700 * u, 3});
	EXPECT(b, TL_BOOK_ASK, {6173764 * u, 4}, {6173900 * u, 5});
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173764 * u + 1), QTY(7)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173764 * u - 1), QTY(8)), 0); /* new best */
	EXPECT(b, TL_BOOK_ASK, {6173764 * u - 1, 8}, {6173764 * u, 4}, {6173764 * u + 1, 7},
	       {6173900 * u, 5});
	EXPECT(b, TL_BOOK_BID, {6173763 * u, 1}, {6173761 * u + u / 2, 6}, {6173760 * u, 2},
	       {6173700 * u, 3});
	CHECK(!tl_book_crossed(b));

	/* Every old level can still be replaced and deleted. */
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173700 * u), QTY(30)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173763 * u), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173900 * u), QTY(0)), 0);
	CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX(6173764 * u - 1), QTY(0)), 0);
	EXPECT(b, TL_BOOK_BID, {6173761 * u + u / 2, 6}, {6173760 * u, 2}, {6173700 * u, 30});
	EXPECT(b, TL_BOOK_ASK, {6173764 * u, 4}, {6173764 * u + 1, 7});

	/* After a clear the grid is learned again, coarse this time: ten ticks. */
	tl_book_clear(b);
	for (int64_t k = 0; k < 20; k++) {
		CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX((6173760 - 10 * k) * u), QTY(k + 1)), 0);
		CHECK_EQ(tl_book_set(b, TL_BOOK_ASK, PX((6173770 + 10 * k) * u), QTY(k + 1)), 0);
	}
	CHECK_EQ(tl_book_set(b, TL_BOOK_BID, PX(6173765 * u), QTY(9)), 0); /* five ticks */
	CHECK_EQ(tl_book_levels(b, TL_BOOK_BID), 21);
	CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX(6173765 * u)).v, 9);
	for (int64_t k = 0; k < 20; k++) {
		CHECK_EQ(tl_book_qty_at(b, TL_BOOK_BID, PX((6173760 - 10 * k) * u)).v, k + 1);
		CHECK_EQ(tl_book_qty_at(b, TL_BOOK_ASK, PX((6173770 + 10 * k) * u)).v, k + 1);
	}
	CHECK(!tl_book_crossed(b));
	tl_book_destroy(b);
}

/* Checks a whole side: levels at base + dir * k * step for the k in [k0, k1] where keep(k),
 * best first, each with qty k + 1; dir is +1 for bids and -1 for asks. */
static void expect_run(const tl_book_t *b, tl_book_side_t side, int64_t base, int64_t step,
                       int64_t k0, int64_t k1, bool (*keep)(int64_t))
{
	static struct tl_book_level got[4096];
	int64_t dir = side == TL_BOOK_BID ? 1 : -1;
	size_t n = 0;

	CHECK_EQ(tl_book_top(b, side, got, 4096), tl_book_levels(b, side));
	for (int64_t k = k1; k >= k0; k--) {
		if (keep != NULL && !keep(k))
			continue;
		CHECK(n < tl_book_levels(b, side));
		CHECK_EQ(got[n].px.v, base + dir * k * step);
		CHECK_EQ(got[n].qty.v, k + 1);
		CHECK_EQ(tl_book_qty_at(b, side, got[n].px).v, k + 1);
		n++;
	}
	CHECK_EQ(n, tl_book_levels(b, side));
}

static bool k_odd(int64_t k)
{
	return k % 2 != 0;
}

/*
 * The window follows the best. With 64 ticks, on each side: a trend of new best levels
 * moves it up many times (the levels it leaves go to the tree); deleting the best level by
 * level moves it down through them again (they come back out of the tree); a best far
 * above it (a jump of more than a window) moves it wholesale, and deleting that best sends
 * it back down just as far. Updates deep in the tree, and a full side, in between.
 */
static void test_window_moves(void)
{
	const int64_t u = UNIT_8DP, n = 600;
	tl_book_t *b = book_new_ladder(1000, TL_BOOK_LADDER_TICKS_MIN);

	for (int sd = 0; sd < 2; sd++) {
		tl_book_side_t side = (tl_book_side_t)sd;
		int64_t dir = side == TL_BOOK_BID ? 1 : -1;
		int64_t base = 200000 * u;
		struct tl_book_level best;

		/* The trend: each level a new best, one tick above the last. */
		for (int64_t k = 0; k < n; k++) {
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(k + 1)), 0);
			CHECK(tl_book_best(b, side, &best));
			CHECK_EQ(best.px.v, base + dir * k * u);
		}
		expect_run(b, side, base, u, 0, n - 1, NULL);

		/* Deep updates: replace and delete in the tree, far below the window. */
		for (int64_t k = 1; k < n / 2; k += 2)
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(0)), 0);
		for (int64_t k = 1; k < n / 2; k += 2)
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(k + 1)), 0);
		expect_run(b, side, base, u, 0, n - 1, NULL);

		/* The fall: delete the best, down to the middle of the side. */
		for (int64_t k = n - 1; k > n / 2; k--) {
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(0)), 0);
			CHECK(tl_book_best(b, side, &best));
			CHECK_EQ(best.px.v, base + dir * (k - 1) * u);
			CHECK_EQ(best.qty.v, k);
		}
		expect_run(b, side, base, u, 0, n / 2, NULL);

		/* The jump: a best 100000 ticks away, then levels around it. */
		int64_t far = base + dir * 100000 * u;
		CHECK_EQ(tl_book_set(b, side, PX(far), QTY(1)), 0);
		CHECK_EQ(tl_book_set(b, side, PX(far - dir * 3 * u), QTY(2)), 0);
		CHECK_EQ(tl_book_set(b, side, PX(far - dir * 500 * u), QTY(3)), 0);
		CHECK(tl_book_best(b, side, &best));
		CHECK_EQ(best.px.v, far);
		CHECK_EQ(tl_book_levels(b, side), n / 2 + 4);
		CHECK_EQ(tl_book_qty_at(b, side, PX(base + dir * (n / 2) * u)).v, n / 2 + 1);
		/* And back: the best falls one level at a time, 100000 ticks overall. */
		CHECK_EQ(tl_book_set(b, side, PX(far), QTY(0)), 0);
		CHECK(tl_book_best(b, side, &best));
		CHECK_EQ(best.px.v, far - dir * 3 * u);
		CHECK_EQ(tl_book_set(b, side, PX(far - dir * 3 * u), QTY(0)), 0);
		CHECK_EQ(tl_book_set(b, side, PX(far - dir * 500 * u), QTY(0)), 0);
		CHECK(tl_book_best(b, side, &best));
		CHECK_EQ(best.px.v, base + dir * (n / 2) * u);
		expect_run(b, side, base, u, 0, n / 2, NULL);

		/* The side filled to capacity, the last level deep below the window: -ENOSPC
		 * in the window and in the tree alike. */
		for (int64_t k = n / 2 + 1; k < 999; k++)
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(k + 1)), 0);
		CHECK_EQ(tl_book_set(b, side, PX(base - dir * 5 * u), QTY(6)), 0);
		CHECK_EQ(tl_book_levels(b, side), 1000);
		CHECK_EQ(tl_book_set(b, side, PX(base + dir * 999 * u), QTY(1)), -ENOSPC);
		CHECK_EQ(tl_book_set(b, side, PX(base + dir * 997 * u + dir * u / 2), QTY(1)),
		         -ENOSPC); /* between ticks: refused before the grid changes */
		CHECK_EQ(tl_book_set(b, side, PX(base - dir * 6 * u), QTY(1)), -ENOSPC);
		CHECK_EQ(tl_book_set(b, side, PX(base + dir * 998 * u), QTY(999)), 0);
		CHECK_EQ(tl_book_set(b, side, PX(base - dir * 5 * u), QTY(0)), 0);
		expect_run(b, side, base, u, 0, 998, NULL);

		/* Every other level goes, best first, then the rest from the bottom up. */
		for (int64_t k = 998; k >= 0; k -= 2)
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(0)), 0);
		expect_run(b, side, base, u, 0, 998, k_odd);
		for (int64_t k = 1; k < 999; k += 2)
			CHECK_EQ(tl_book_set(b, side, PX(base + dir * k * u), QTY(0)), 0);
		CHECK_EQ(tl_book_levels(b, side), 0);
		CHECK(!tl_book_best(b, side, &best));
	}
	tl_book_destroy(b);
}

/*
 * Levels far apart within one window of the default size: finding the next best after a
 * delete crosses empty words of the ladder's bitmap, and its wrap-around (the window's first
 * tick is not at its first slot). The side is rebuilt at several offsets.
 */
static void test_window_sparse(void)
{
	const int64_t w = TL_BOOK_LADDER_TICKS_DEFAULT, gap = w / 40 + 1;
	tl_book_t *b = book_new_ladder(64, TL_BOOK_LADDER_TICKS_DEFAULT);

	for (int64_t origin = 5 * w; origin < 7 * w; origin += w / 3 + 17) {
		for (int sd = 0; sd < 2; sd++) {
			tl_book_side_t side = (tl_book_side_t)sd;
			int64_t dir = side == TL_BOOK_BID ? 1 : -1;
			struct tl_book_level best;

			/* Best first, as a snapshot lists them: the window stays where the first
			 * level put it. */
			for (int64_t k = 39; k >= 0; k--)
				CHECK_EQ(
				    tl_book_set(b, side, PX(origin + dir * k * gap), QTY(k + 1)),
				    0);
			expect_run(b, side, origin, gap, 0, 39, NULL);
			for (int64_t k = 39; k >= 0; k--) {
				CHECK(tl_book_best(b, side, &best));
				CHECK_EQ(best.px.v, origin + dir * k * gap);
				CHECK_EQ(tl_book_set(b, side, PX(origin + dir * k * gap), QTY(0)),
				         0);
			}
			CHECK(!tl_book_best(b, side, &best));
		}
		tl_book_clear(b);
	}
	tl_book_destroy(b);
}

/*
 * Windows at the ends of the price range, where they cannot be centred on the best: near
 * INT64_MAX (a bid window cannot reach above it, an ask window below -INT64_MAX in its
 * keys) and near 1. Each side is built worst level first, every level a new best, then
 * deleted best first.
 */
static void test_window_edges(void)
{
	tl_book_t *b = book_new_ladder(256, TL_BOOK_LADDER_TICKS_MIN);
	/* {bid base, ask base}: bids are base + k, asks base - k, for k in [0, 100). */
	static const int64_t bases[][2] = {{INT64_MAX - 99, INT64_MAX}, {1, 100}};

	for (size_t e = 0; e < 2; e++) {
		for (int sd = 0; sd < 2; sd++) {
			tl_book_side_t side = (tl_book_side_t)sd;
			int64_t dir = side == TL_BOOK_BID ? 1 : -1, base = bases[e][sd];
			struct tl_book_level best;

			for (int64_t k = 0; k < 100; k++)
				CHECK_EQ(tl_book_set(b, side, PX(base + dir * k), QTY(k + 1)), 0);
			expect_run(b, side, base, 1, 0, 99, NULL);
			for (int64_t k = 99; k >= 0; k--) {
				CHECK(tl_book_best(b, side, &best));
				CHECK_EQ(best.px.v, base + dir * k);
				CHECK_EQ(tl_book_set(b, side, PX(base + dir * k), QTY(0)), 0);
			}
			CHECK_EQ(tl_book_levels(b, side), 0);
		}
		tl_book_clear(b);
	}
	tl_book_destroy(b);
}

/* All the tests above that do not pick their own window, with the books' window set to
 * `ticks`. */
static void run_all(uint32_t ticks, long scale)
{
	ladder_ticks = ticks;
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
	 * never is, with fewer operations because the reference scans every level; then that
	 * one with prices at 8 decimals, as the md layer gives them. */
	random_run(256, 2000, 1, 1000000 / scale);
	random_run(TL_BOOK_LEVELS_DEFAULT, 4000, 1, 300000 / scale);
	if (ticks != 0) /* without a ladder the grid plays no part */
		random_run(TL_BOOK_LEVELS_DEFAULT, 4000, UNIT_8DP, 300000 / scale);
}

int main(void)
{
	/* Sanitizers make the reference's linear scans several times slower; a tenth of the
	 * operations still covers every path many times over. */
	long scale = TL_TEST_UNDER_ASAN ? 10 : 1;

	/* The default window in full; the others with half the random operations, which
	 * still move the smallest window thousands of times. */
	run_all(TL_BOOK_LADDER_TICKS_DEFAULT, scale);
	run_all(TL_BOOK_LADDER_TICKS_MIN, 2 * scale);
	run_all(0, 2 * scale);

	test_ladder_config();
	test_grid();
	test_window_moves();
	test_window_sparse();
	test_window_edges();
	return 0;
}
