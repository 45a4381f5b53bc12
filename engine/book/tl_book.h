/*
 * tl_book.h: the L2 order book of one instrument (../../shared/DESIGN.md §1, §3).
 *
 * The model
 * ---------
 * A book has two sides, bids and asks. Each side is a set of price levels: a price in ticks
 * and the total quantity resting there, in lots, always > 0. A side never holds two levels
 * at one price. The best bid is the highest bid price, the best ask the lowest ask price.
 *
 * The book mirrors the venue's aggregated depth: the md thread fills it from a REST
 * snapshot, then applies each diff-depth update level by level with tl_book_set(). It has
 * no notion of orders, update ids or sync state; the caller keeps those, and throws the
 * book away (tl_book_clear) whenever they say it is stale.
 *
 * Memory
 * ------
 * tl_book_create() makes the only allocation: room for max_levels_per_side levels on each
 * side, and each side's ladder (below), touched once so that its pages are mapped before
 * the hot path runs. After that no call allocates, locks, or enters the kernel.
 *
 * Speed
 * -----
 * Each side indexes a window of ladder_ticks prices at its best directly: an update there
 * costs no search. The book finds the instrument's price step itself (the gcd of the prices
 * it has seen since the last clear), so prices need not come in whole ticks: the md
 * layer's prices at 8 decimals work as they are. The window follows the best as it moves.
 * A level outside it costs a search in a B-tree. book.c's DESIGN comment has the details
 * and the measurements.
 *
 * Threads
 * -------
 * A book is a single-threaded object. One thread (the md thread) owns it: every call on it,
 * reads included, comes from that thread, or from another thread only across a
 * happens-before edge (a join, a mutex, a ring message), never concurrently. Other threads
 * learn about the book through the events the owner publishes, not by reading it.
 *
 * Errors
 * ------
 * Calls that can fail return 0 or a negative errno. Input is validated, never asserted:
 * it comes, indirectly, from the network.
 */
#ifndef TL_BOOK_H
#define TL_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Prices and quantities are different types, so that passing one for the other does not
 * compile (DESIGN §3). Both are fixed-point integers in the instrument's scale: a price
 * counts ticks (exchangeInfo tickSize), a quantity counts lots (stepSize).
 */
typedef struct {
	int64_t v;
} tl_px_t;
typedef struct {
	int64_t v;
} tl_qty_t;

typedef enum { TL_BOOK_BID = 0, TL_BOOK_ASK = 1 } tl_book_side_t;

/* One price level, as the book reports it. */
struct tl_book_level {
	tl_px_t px;   /* > 0 */
	tl_qty_t qty; /* > 0 */
};

/* Default and largest number of levels a side may hold. Binance snapshots carry up to 5000
 * levels a side, and diffs add levels outside the snapshot's range; the default leaves room
 * for that. The maximum bounds the memory (see tl_book_create). */
#define TL_BOOK_LEVELS_DEFAULT 10000u
#define TL_BOOK_LEVELS_MAX (1u << 20)

/* The ladder: the width, in price steps, of the window each side indexes directly (see
 * Speed above). 0 turns the ladder off; otherwise a power of two in
 * [TL_BOOK_LADDER_TICKS_MIN, TL_BOOK_LADDER_TICKS_MAX]. The default takes 94% of the updates
 * of the BTCUSDT capture, which land up to tens of thousands of steps from the best. Each
 * step costs 8.1 bytes a side. */
#define TL_BOOK_LADDER_TICKS_DEFAULT 32768u
#define TL_BOOK_LADDER_TICKS_MIN 64u
#define TL_BOOK_LADDER_TICKS_MAX (1u << 20)

struct tl_book_config {
	uint32_t max_levels_per_side; /* 1..TL_BOOK_LEVELS_MAX */
	uint32_t ladder_ticks;        /* 0, or a power of two in the range above */
};

typedef struct tl_book tl_book_t;

/*
 * tl_book_config_default() fills *cfg with the defaults (TL_BOOK_LEVELS_DEFAULT levels a
 * side, a ladder of TL_BOOK_LADDER_TICKS_DEFAULT). Thread: any. Blocks: no.
 */
void tl_book_config_default(struct tl_book_config *cfg);

/*
 * Book lifecycle
 * --------------
 * tl_book_create() allocates an empty book sized by *cfg (NULL means the defaults) and
 * stores it in *out.
 *
 * Returns 0, or:
 *   -EINVAL  out is NULL, max_levels_per_side is 0 or above TL_BOOK_LEVELS_MAX, or
 *            ladder_ticks is neither 0 nor a power of two in [TL_BOOK_LADDER_TICKS_MIN,
 *            TL_BOOK_LADDER_TICKS_MAX];
 *   -ENOMEM  the allocation failed.
 * On error *out is left untouched. The book does not keep cfg.
 *
 * The caller owns the book and releases it with tl_book_destroy(). tl_book_destroy(NULL)
 * does nothing.
 *
 * Thread: any; the book then belongs to the calling thread until it hands it over.
 * Blocks: no, but it allocates and touches the whole book, about 130 bytes per level of
 * max_levels_per_side (room for the worst case, where the book's internal blocks are a
 * quarter full) and 16.3 bytes per step of ladder_ticks: 1.8 MB for the defaults. Call it
 * at start-up, not on the hot path.
 */
int tl_book_create(tl_book_t **out, const struct tl_book_config *cfg);
void tl_book_destroy(tl_book_t *b);

/*
 * tl_book_clear() empties both sides, keeping the memory: the first step of a resync. The
 * book also forgets the price step it had found, and finds it again from the next prices.
 * Thread: the owner only. Blocks: never.
 */
void tl_book_clear(tl_book_t *b);

/*
 * Updates
 * -------
 * tl_book_set() sets the quantity at one price of one side, as a diff-depth entry does:
 * qty > 0 inserts the level or replaces its quantity; qty == 0 deletes it. Deleting a level
 * that is not there is not an error and changes nothing: Binance sends such deletes.
 *
 * Returns 0, or:
 *   -EINVAL  side is not TL_BOOK_BID or TL_BOOK_ASK, px <= 0, or qty < 0;
 *   -ENOSPC  the level is new and the side already holds max_levels_per_side levels.
 *            Replacing or deleting a level never fails this way.
 * On error the book is unchanged. -ENOSPC means this book can no longer mirror the venue:
 * the caller should resync it (or recreate it larger), not carry on without the level.
 *
 * Cost: O(1) for a price in the side's ladder window: most updates, about 12 ns each on the
 * BTCUSDT replay. Elsewhere O(log n) to find the level, then it moves at most 64 levels,
 * and now and then a block of levels splits or merges, which also moves up to n / 16
 * directory entries of 16 bytes. Two rarer costs, both bounded:
 *   - the window moves when a new best lands above it, when deletes of the best leave the
 *     best in its lower half, or when a level comes to a side whose window is empty: a
 *     move by d ticks costs O(min(d, ladder_ticks) / 64), plus O(log n) for each level it
 *     moves between the window and the B-tree (16 moves in all on the BTCUSDT replay);
 *   - a new level whose price is not a multiple of the price step found so far makes the
 *     book take a finer step, which moves every level in the windows to the B-tree,
 *     O(n log n); at most 63 times between clears, and on venue data only among the first
 *     levels after a clear.
 * Allocates nothing.
 *
 * The book does not check that the sides do not cross: a diff may cross them for a moment
 * while it is half applied. Check tl_book_crossed() once a whole diff is in.
 *
 * Thread: the owner only. Blocks: never.
 */
int tl_book_set(tl_book_t *b, tl_book_side_t side, tl_px_t px, tl_qty_t qty);

/*
 * Reads
 * -----
 * None of these fail. An invalid side (neither TL_BOOK_BID nor TL_BOOK_ASK) reads as an
 * empty side. The memory passed in is the caller's; the book keeps no pointer to it.
 *
 * tl_book_best() copies the best level of a side into *out and returns true, or returns
 * false and leaves *out untouched when the side is empty. O(1).
 *
 * tl_book_top() copies up to n of a side's best levels into out[0..n), best first (bids
 * by descending price, asks by ascending price), and returns how many it copied: the
 * smaller of n and the side's level count. out may be NULL when n is 0. O(returned count),
 * each level of the window costing up to ladder_ticks / 4096 words of a bitmap.
 *
 * tl_book_levels() returns how many levels a side holds. O(1).
 *
 * tl_book_crossed() returns true when both sides are non-empty and the best bid is at or
 * above the best ask. A synced book of a venue is never crossed, so a crossed book has
 * missed an update and must be resynced. O(1).
 *
 * tl_book_qty_at() returns the quantity at one price of one side, or 0 when no level is
 * there (or px <= 0). O(1) in the ladder window, O(log n) elsewhere. For tests and the
 * snapshot check, not the hot path.
 *
 * Thread: the owner only. Blocks: never.
 */
bool tl_book_best(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out);
size_t tl_book_top(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out, size_t n);
uint32_t tl_book_levels(const tl_book_t *b, tl_book_side_t side);
bool tl_book_crossed(const tl_book_t *b);
tl_qty_t tl_book_qty_at(const tl_book_t *b, tl_book_side_t side, tl_px_t px);

/*
 * Prefetch hints for the owner's idle time: the lines an update near the top of either
 * side touches (the book and its sides, the window's quantities and bitmap words from a
 * little past the best to a few dozen ticks behind it). Hints only: nothing is read into
 * the program or written. Thread: the owner only. Blocks: never.
 */
void tl_book_prefetch_top(const tl_book_t *b);

#endif /* TL_BOOK_H */
