/*
 * book.c: the L2 order book.
 *
 * DESIGN
 * ------
 * Each side is an ordered set of levels by a key that grows towards the best price: key = px
 * for bids, key = -px for asks (px > 0, so -px cannot overflow). One search and one update
 * routine then serve both sides, and the best level is always the one with the largest key.
 *
 * A side keeps its levels in two places:
 *
 *   the ladder  a window of `ladder_ticks` consecutive prices of the price grid, placed at
 *               the best: a quantity per price, indexed directly, and a bitmap of the
 *               prices in use (plus a summary bitmap of its non-zero words). An update in
 *               the window is a multiply, a few loads and stores, and no search; deleting
 *               the best finds the next level through the bitmaps.
 *   the tree    every level outside the window, in blocks of up to TL_BOOK_BLOCK_LEVELS
 *               levels under a directory (a B-tree of height two), and every level while
 *               the window is not placed.
 *
 * Invariants: a level whose price is in the window is in the ladder, any other level is in
 * the tree; and the window is only ever placed at or above the side's best, so the tree
 * holds only levels below it. A lookup then tests the window with one multiply
 * (grid_index) and looks in exactly one place; the best is the ladder's best, or the tree's
 * last key when the ladder is empty (O(1)); top-N reads the ladder, then the tree.
 *
 * The price grid. The caller's prices are in its own units: the md layer parses Binance's
 * prices at 8 decimals, where a BTCUSDT tick (0.01) is 1,000,000 units, and a ladder over
 * raw units would be useless. So the book learns the grid: grid_px is the gcd of the prices
 * inserted since the last clear, which divides every price in the book. An insert off the
 * grid shrinks it (grid_shrink): every ladder level moves to the tree and the windows are
 * placed again by the next inserts. The grid at least halves each time, so that happens at
 * most 63 times per clear; on venue data, twice, within the first levels of the snapshot.
 * No configuration: a caller with prices in ticks gets a grid of 1.
 *
 * The window follows the best. Its slots are used circularly (a price's slot is its tick
 * number modulo the width), so moving it by d ticks touches only the d ticks it leaves,
 * whose levels go to the tree, and the d ticks it enters, whose levels come out of it. An
 * insert above the window, or into a side whose ladder is empty, moves it so that the new
 * best sits LADDER_HEADROOM below its top; once the best falls below LADDER_LOW (deletes of
 * the best), it moves down the same way. In between it stays put, so a best that wanders
 * does not make it thrash.
 *
 * Why. On the BTCUSDT capture (shared/data, 2024-08-08/09: 6495 diffs, ~300k level
 * updates) updates spread far from the best of their side: 14% within 256 ticks, 60%
 * within 4096, 92% within 16384, 96% within 65536; 0.9% are a new best. In the tree alone
 * each paid two binary searches and a memmove of up to a block (perf of `tally bench book`:
 * lower_bound 16%, tl_book_set 10%, memmove 5%). With a window of 32768 ticks, 94% of
 * the updates take the ladder; the window is placed or moved 16 times over the capture, moving
 * about 2000 levels between ladder and tree in all.
 *
 * Measured on 2 shared Xeon cores (2.3 GHz), gcc -O2, every build of a column in one
 * session:
 *
 *                                        bench book      ns per tl_book_set (replay)
 *                                        MB/s            mean    p50   p99  p99.9
 *   tree only (before)                        411           52      60    98   173
 *   ladder 16384 ticks + tree                 696           18
 *   ladder 32768 ticks + tree (default)       766           12.5    18    97   134
 *   ladder 65536 ticks + tree                 788           11
 *
 * (bench book: parse + apply of the capture, MB/s of JSON, the median of 3 runs of 7 reps;
 * the final code against the tree alone over 5 runs: 410 against 773 MB/s, p50 per event
 * 2007 against 1159 ns. ns per set: a throwaway replay of the capture's levels alone, best
 * of 20, the same with prices in ticks and at 8 decimals; p50..p99.9 timed singly with
 * rdtsc.) 32768 ticks cost 264 KB a side; 65536 would buy 3% for twice that. The window
 * policy (LADDER_HEADROOM w/4..w/32, LADDER_LOW w/4 or w/2) measured within 5%. Writing the
 * ladder update with masks instead of conditionals took the replay from 18 to 11 ns per
 * set with 65536 ticks (the compiler turns "is ? bit : 0" into a branch, which
 * mispredicts: inserts, replaces and deletes come in no order).
 *
 * The tree, measured before the ladder existed (ns per set, same replay): one sorted array
 * instead of blocks cost 71 against 52 on the replay and 112 against 46 with 5000 levels a
 * side; blocks of 32 and 128 measured within noise of 64. Its searches scan a few entries
 * backwards from the best end first, then binary-search the rest without data-dependent
 * branches; keys and quantities sit in separate arrays so that a search reads only keys.
 * With the ladder in front the scan lengths make no measurable difference.
 *
 * Memory: the tree can hold every level of a side (max_levels_per_side), so moving a level
 * out of the ladder never fails. A tree holds at most 4 * max_levels / TL_BOOK_BLOCK_LEVELS
 * + 1 blocks, because every block but a lone one is at least a quarter full (see
 * pool_blocks()); create allocates exactly that, so a split never finds the pool empty.
 * -ENOSPC counts the levels of both places together.
 */
#include "tl_book.h"
#include "tl_ring.h" /* tl_prefetch */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Levels per block: a power of two >= 8, so that the merge threshold (a quarter block) is
 * >= 2 and leaves room between merging and splitting. Overridable at compile time so that
 * tests can run with tiny blocks; the contract in tl_book.h quotes the default. */
#ifndef TL_BOOK_BLOCK_LEVELS
#define TL_BOOK_BLOCK_LEVELS 64u
#endif
#define BLOCK_LEVELS TL_BOOK_BLOCK_LEVELS
#define BLOCK_MIN (BLOCK_LEVELS / 4) /* below this (and not alone) a block merges */
static_assert(BLOCK_LEVELS >= 8 && (BLOCK_LEVELS & (BLOCK_LEVELS - 1)) == 0,
              "TL_BOOK_BLOCK_LEVELS must be a power of two >= 8");

/* Entries a tree search scans backwards from the best end before it binary-searches, in
 * the directory and in a block. Tuned on the tree alone, before the ladder: no scan was
 * 15-25% slower, longer scans no better. Behind the ladder they no longer matter. */
#define DIR_SCAN 4u
#define BLOCK_SCAN 8u

/* Where the window puts the best when it moves: LADDER_HEADROOM(w) ticks below its top, so
 * that new best prices just above it land in the window. It moves down once the best is
 * below LADDER_LOW(w). */
#define LADDER_HEADROOM(w) ((w) / 8)
#define LADDER_LOW(w) ((w) / 2)

/* The grid must leave the window's span, ticks * grid, within 2^62: grid_index() relies on
 * it, and so do the window bounds (see window_lo). */
#define GRID_SPAN_MAX (INT64_C(1) << 62)

#define TL_BOOK_ALIGN 64u

struct tl_book_block {
	int64_t key[BLOCK_LEVELS]; /* ascending, key[0..count) in use */
	int64_t qty[BLOCK_LEVELS]; /* qty[i] > 0 rests at key[i] */
};

struct tl_book_dir_entry {
	uint32_t block; /* index into the tree's pool */
	uint32_t count; /* levels in use in that block: 1..BLOCK_LEVELS */
};

struct tl_book_tree {
	/* The directory: blocks in ascending key order. dir_last[j] is the last (largest)
	 * key of block dir[j]; it is kept apart from dir so that a search reads only keys. */
	int64_t *dir_last;
	struct tl_book_dir_entry *dir;
	uint32_t blocks; /* directory entries in use */
	uint32_t n;      /* levels held */

	struct tl_book_block *pool;
	uint32_t *free_stack; /* unused pool indices; nfree of them */
	uint32_t nfree;
};

/*
 * Window positions are relative ticks r in [0, ticks): the key of r is lo_key + r * grid,
 * its slot (lo_slot + r) mod ticks. Bitmaps are indexed by slot.
 */
struct tl_book_ladder {
	int64_t lo_key;   /* the key of relative tick 0, lo_t * grid */
	uint64_t lim;     /* ticks while the window is placed, else 0: "r < lim" means in it */
	uint32_t lo_slot; /* the slot of relative tick 0 */
	int32_t best_r;   /* the relative tick of the best ladder level; -1 when n == 0 */
	uint32_t n;       /* levels in the ladder */
	int64_t lo_t;     /* lo_key / grid: the window's first tick number */
	int64_t *qty;     /* by slot; meaningful where the slot's bit is set */
	uint64_t *bits;   /* ticks / 64 words: bit (slot % 64) of word slot / 64 = in use */
	uint64_t *sum;    /* bit w % 64 of word w / 64 set = bits[w] != 0 */
};

struct tl_book_side {
	struct tl_book_ladder lad;
	struct tl_book_tree tree;
	uint32_t n;   /* levels held: lad.n + tree.n */
	uint32_t cap; /* max_levels_per_side */
};

struct tl_book {
	struct tl_book_side side[2]; /* indexed by tl_book_side_t */

	/* The price grid, shared by both sides: every price in the book is a multiple of
	 * grid_px; 0 while nothing was inserted since the last clear. */
	int64_t grid_px;
	uint64_t grid_inv;   /* the inverse of grid_px's odd factor, modulo 2^64 */
	unsigned grid_shift; /* grid_px = odd factor << grid_shift */
	bool ladder_on;      /* ticks != 0 and ticks * grid_px <= GRID_SPAN_MAX */
	uint32_t ticks;      /* the window's width: a power of two, or 0 for no ladder */
};

static bool side_valid(tl_book_side_t side)
{
	/* Compared as unsigned so that an out-of-range enum value of either sign is rejected. */
	return (unsigned)side <= (unsigned)TL_BOOK_ASK;
}

/* The key of a price on a side, and back. */
static int64_t px_key(tl_book_side_t side, int64_t px)
{
	return side == TL_BOOK_BID ? px : -px;
}

static int64_t key_px(tl_book_side_t side, int64_t key)
{
	return side == TL_BOOK_BID ? key : -key;
}

/* ---- the tree ------------------------------------------------------------------------ */

/*
 * The index of the first element >= `key` in the ascending a[0..n): where it is, or where
 * it would be inserted; n when every element is smaller. Scans `scan` elements backwards
 * from the end first.
 */
static uint32_t lower_bound(const int64_t *a, uint32_t n, int64_t key, uint32_t scan)
{
	uint32_t i = n;
	uint32_t stop = n > scan ? n - scan : 0;

	while (i > stop && a[i - 1] >= key)
		i--;
	if (i > stop || stop == 0)
		return i;

	/* Every scanned element is >= key, so the answer lies in [0, stop]. The loop keeps it
	 * in [lo, lo + len] and halves len with no data-dependent branch (a conditional
	 * move), which beats a branchy search on random keys. */
	uint32_t lo = 0, len = stop;
	while (len > 1) {
		uint32_t half = len / 2;
		lo = a[lo + half] < key ? lo + half : lo;
		len -= half;
	}
	return lo + (a[lo] < key);
}

/* Blocks a tree needs for `cap` levels. When it has two or more blocks, each holds at least
 * BLOCK_MIN levels, so blocks <= cap / BLOCK_MIN; a split, the only way to add a block when
 * one exists, happens only while n < cap. The +1 covers a lone block. */
static uint32_t pool_blocks(uint32_t cap)
{
	return (cap + BLOCK_MIN - 1) / BLOCK_MIN + 1;
}

static uint32_t block_take(struct tl_book_tree *t)
{
	assert(t->nfree > 0); /* guaranteed by pool_blocks() */
	return t->free_stack[--t->nfree];
}

/* Inserts a directory entry at position j. */
static void dir_insert(struct tl_book_tree *t, uint32_t j, uint32_t block, uint32_t count,
                       int64_t last)
{
	size_t move = t->blocks - j;

	memmove(&t->dir_last[j + 1], &t->dir_last[j], move * sizeof(t->dir_last[0]));
	memmove(&t->dir[j + 1], &t->dir[j], move * sizeof(t->dir[0]));
	t->dir_last[j] = last;
	t->dir[j] = (struct tl_book_dir_entry){.block = block, .count = count};
	t->blocks++;
}

/* Removes directory entry j and returns its block to the pool. */
static void dir_remove(struct tl_book_tree *t, uint32_t j)
{
	size_t move = t->blocks - j - 1;

	t->free_stack[t->nfree++] = t->dir[j].block;
	memmove(&t->dir_last[j], &t->dir_last[j + 1], move * sizeof(t->dir_last[0]));
	memmove(&t->dir[j], &t->dir[j + 1], move * sizeof(t->dir[0]));
	t->blocks--;
}

/*
 * One of the adjacent blocks l and l + 1 fell below BLOCK_MIN. If both fit in one block,
 * block l takes all of l + 1's levels and l + 1 goes back to the pool; otherwise they
 * split their levels evenly. Either way both (or the one left) end at least half full.
 */
static void blocks_rebalance(struct tl_book_tree *t, uint32_t l)
{
	uint32_t r = l + 1;
	struct tl_book_block *lb = &t->pool[t->dir[l].block];
	struct tl_book_block *rb = &t->pool[t->dir[r].block];
	uint32_t lc = t->dir[l].count, rc = t->dir[r].count;

	if (lc + rc <= BLOCK_LEVELS) {
		memcpy(&lb->key[lc], rb->key, rc * sizeof(int64_t));
		memcpy(&lb->qty[lc], rb->qty, rc * sizeof(int64_t));
		t->dir[l].count = lc + rc;
		t->dir_last[l] = t->dir_last[r];
		dir_remove(t, r);
		return;
	}

	uint32_t half = (lc + rc) / 2;
	if (lc < half) { /* the left block takes the right one's first levels */
		uint32_t k = half - lc;
		memcpy(&lb->key[lc], rb->key, k * sizeof(int64_t));
		memcpy(&lb->qty[lc], rb->qty, k * sizeof(int64_t));
		memmove(rb->key, &rb->key[k], (rc - k) * sizeof(int64_t));
		memmove(rb->qty, &rb->qty[k], (rc - k) * sizeof(int64_t));
	} else { /* the right block takes the left one's last levels */
		uint32_t k = lc - half;
		memmove(&rb->key[k], rb->key, rc * sizeof(int64_t));
		memmove(&rb->qty[k], rb->qty, rc * sizeof(int64_t));
		memcpy(rb->key, &lb->key[half], k * sizeof(int64_t));
		memcpy(rb->qty, &lb->qty[half], k * sizeof(int64_t));
	}
	t->dir[l].count = half;
	t->dir[r].count = lc + rc - half;
	t->dir_last[l] = lb->key[half - 1];
}

/*
 * Finds the first level with a key >= `key`: sets *j and *i to its directory entry and
 * index, and returns true; returns false when there is none. In that case *j, *i still name
 * where `key` would be inserted (the end of the last block; 0, 0 in an empty tree).
 */
static bool tree_lower(const struct tl_book_tree *t, int64_t key, uint32_t *j, uint32_t *i)
{
	if (t->blocks == 0) {
		*j = *i = 0;
		return false;
	}
	/* The first block whose last key is >= key holds the key if anything does. Past the
	 * last block, the key is a new best: it goes at the end of the last block. */
	uint32_t jj = lower_bound(t->dir_last, t->blocks, key, DIR_SCAN);
	if (jj == t->blocks)
		jj--;
	const struct tl_book_block *blk = &t->pool[t->dir[jj].block];
	uint32_t count = t->dir[jj].count;
	assert(count >= 1 && count <= BLOCK_LEVELS);
	*j = jj;
	*i = lower_bound(blk->key, count, key, BLOCK_SCAN);
	return *i < count;
}

static int64_t *tree_key(struct tl_book_tree *t, uint32_t j, uint32_t i)
{
	return &t->pool[t->dir[j].block].key[i];
}

static int64_t *tree_qty(struct tl_book_tree *t, uint32_t j, uint32_t i)
{
	return &t->pool[t->dir[j].block].qty[i];
}

/* Deletes level i of directory entry j. */
static void tree_delete(struct tl_book_tree *t, uint32_t j, uint32_t i)
{
	struct tl_book_block *blk = &t->pool[t->dir[j].block];
	uint32_t count = t->dir[j].count - 1;

	memmove(&blk->key[i], &blk->key[i + 1], (count - i) * sizeof(int64_t));
	memmove(&blk->qty[i], &blk->qty[i + 1], (count - i) * sizeof(int64_t));
	t->dir[j].count = count;
	t->n--;

	if (count == 0) { /* only a lone block empties: others rebalance at BLOCK_MIN - 1 */
		dir_remove(t, j);
		return;
	}
	if (i == count)
		t->dir_last[j] = blk->key[count - 1];
	if (count < BLOCK_MIN && t->blocks > 1)
		blocks_rebalance(t, j + 1 < t->blocks ? j : j - 1);
}

/* Inserts a new level at position j, i, as found by tree_lower() (the tree has room). */
static void tree_insert(struct tl_book_tree *t, uint32_t j, uint32_t i, int64_t key, int64_t qty)
{
	if (t->blocks == 0) {
		uint32_t nb = block_take(t);
		t->pool[nb].key[0] = key;
		t->pool[nb].qty[0] = qty;
		dir_insert(t, 0, nb, 1, key);
		t->n = 1;
		return;
	}

	struct tl_book_block *blk = &t->pool[t->dir[j].block];
	uint32_t count = t->dir[j].count;

	if (count == BLOCK_LEVELS) {
		/* Split: the upper half moves to a new block right after j, then the level
		 * goes into whichever half covers it. i == half appends to the lower half,
		 * which is right: the key is below the upper half's first key. */
		const uint32_t half = BLOCK_LEVELS / 2;
		uint32_t nb = block_take(t);
		struct tl_book_block *upper = &t->pool[nb];

		memcpy(upper->key, &blk->key[half], half * sizeof(int64_t));
		memcpy(upper->qty, &blk->qty[half], half * sizeof(int64_t));
		dir_insert(t, j + 1, nb, half, t->dir_last[j]);
		t->dir[j].count = half;
		t->dir_last[j] = blk->key[half - 1];
		if (i > half) {
			j++;
			blk = upper;
			i -= half;
		}
		count = half;
	}

	memmove(&blk->key[i + 1], &blk->key[i], (count - i) * sizeof(int64_t));
	memmove(&blk->qty[i + 1], &blk->qty[i], (count - i) * sizeof(int64_t));
	blk->key[i] = key;
	blk->qty[i] = qty;
	t->dir[j].count = count + 1;
	if (i == count)
		t->dir_last[j] = key;
	t->n++;
}

/* Adds a level the tree does not hold (a level leaving the ladder). */
static void tree_add(struct tl_book_tree *t, int64_t key, int64_t qty)
{
	uint32_t j, i;
	bool found = tree_lower(t, key, &j, &i);

	assert(!found || *tree_key(t, j, i) != key);
	tree_insert(t, j, i, key, qty);
}

/* The tree's best (largest) key and its quantity; false when the tree is empty. */
static bool tree_best(const struct tl_book_tree *t, int64_t *key, int64_t *qty)
{
	if (t->blocks == 0)
		return false;
	const struct tl_book_dir_entry *e = &t->dir[t->blocks - 1];
	const struct tl_book_block *blk = &t->pool[e->block];
	*key = blk->key[e->count - 1];
	*qty = blk->qty[e->count - 1];
	return true;
}

static void tree_clear(struct tl_book_tree *t)
{
	for (uint32_t j = 0; j < t->blocks; j++)
		t->free_stack[t->nfree++] = t->dir[j].block;
	t->blocks = 0;
	t->n = 0;
}

/* ---- the ladder ---------------------------------------------------------------------- */

/*
 * The relative tick of `key` in the side's window when the key is in the window, else a
 * number >= the window's lim (in particular whenever the window is not placed).
 *
 * With d = key - lo_key in uint64 and the grid g = o << s (o odd), rotr(d * inv(o), s) is
 * d / g when g divides d, and above (2^64 - 1) / g otherwise (Granlund and Montgomery's
 * divisibility test). A key below the window wraps d above 2^63, whose quotient is above
 * 2 * ticks, because ticks * g <= 2^62 (GRID_SPAN_MAX). So one multiply answers both "on
 * the grid" and "in the window". Keys of the window's own side only: their difference with
 * its lo_key never reaches -2^63.
 */
static inline uint64_t grid_index(const struct tl_book *b, const struct tl_book_ladder *l,
                                  int64_t key)
{
	uint64_t m = ((uint64_t)key - (uint64_t)l->lo_key) * b->grid_inv;
	unsigned s = b->grid_shift;

	return (m >> s) | (m << ((64 - s) & 63));
}

static uint32_t ladder_slot(const struct tl_book *b, const struct tl_book_ladder *l, uint64_t r)
{
	return (uint32_t)((l->lo_slot + r) & (b->ticks - 1));
}

static void bit_set(struct tl_book_ladder *l, uint32_t slot)
{
	uint64_t *w = &l->bits[slot / 64];

	if (*w == 0)
		l->sum[slot / 4096] |= UINT64_C(1) << (slot / 64 % 64);
	*w |= UINT64_C(1) << (slot % 64);
}

static void bit_clear(struct tl_book_ladder *l, uint32_t slot)
{
	uint64_t *w = &l->bits[slot / 64];

	*w &= ~(UINT64_C(1) << (slot % 64));
	if (*w == 0)
		l->sum[slot / 4096] &= ~(UINT64_C(1) << (slot / 64 % 64));
}

static unsigned top_bit(uint64_t m)
{
	return 63u - (unsigned)__builtin_clzll(m);
}

/* The highest slot in use in [a, b), or -1. At most two bitmap words and ticks / 4096
 * summary words are read, however sparse the bitmap. */
static int64_t slots_prev(const struct tl_book_ladder *l, uint32_t a, uint32_t b)
{
	if (a >= b)
		return -1;
	uint32_t w = (b - 1) / 64, aw = a / 64;
	uint64_t m = l->bits[w] & (~UINT64_C(0) >> (63 - (b - 1) % 64));
	if (w == aw)
		m &= ~UINT64_C(0) << (a % 64);
	if (m != 0)
		return (int64_t)w * 64 + top_bit(m);
	if (w == aw)
		return -1;

	/* The highest non-zero word in [aw, w), through the summary. */
	uint32_t hi = w - 1;
	for (uint32_t sw = hi / 64;; sw--) {
		uint64_t sm = l->sum[sw];
		if (sw == hi / 64)
			sm &= ~UINT64_C(0) >> (63 - hi % 64);
		if (sw == aw / 64)
			sm &= ~UINT64_C(0) << (aw % 64);
		if (sm != 0) {
			uint32_t word = sw * 64 + top_bit(sm);
			m = l->bits[word];
			if (word == aw)
				m &= ~UINT64_C(0) << (a % 64);
			return m != 0 ? (int64_t)word * 64 + top_bit(m) : -1;
		}
		if (sw == aw / 64)
			return -1;
	}
}

/* The highest relative tick below r that holds a level, or -1. */
static int64_t ladder_prev(const struct tl_book *b, const struct tl_book_ladder *l, uint64_t r)
{
	/* Relative ticks [0, r) are slots lo_slot .. lo_slot + r - 1, modulo ticks: one or
	 * two runs of slots. The wrapped run holds the higher ticks. */
	uint32_t end = l->lo_slot + (uint32_t)r;
	int64_t slot;

	if (end > b->ticks) {
		slot = slots_prev(l, 0, end - b->ticks);
		if (slot >= 0)
			return slot + b->ticks - l->lo_slot;
		end = b->ticks;
	}
	slot = slots_prev(l, l->lo_slot, end);
	return slot >= 0 ? slot - l->lo_slot : -1;
}

static int64_t ladder_key(const struct tl_book *b, const struct tl_book_ladder *l, int64_t r)
{
	return l->lo_key + r * b->grid_px;
}

/* Moves the ladder's levels at relative ticks [ra, rb) to the tree. */
static void ladder_evict(struct tl_book *b, struct tl_book_side *s, uint32_t ra, uint32_t rb)
{
	struct tl_book_ladder *l = &s->lad;
	int64_t r = rb;

	while (l->n > 0 && (r = ladder_prev(b, l, (uint64_t)r)) >= (int64_t)ra) {
		uint32_t slot = ladder_slot(b, l, (uint64_t)r);
		tree_add(&s->tree, ladder_key(b, l, r), l->qty[slot]);
		bit_clear(l, slot);
		l->n--;
	}
}

/* Moves the tree's levels from relative tick ra of the (placed) window upwards to the ladder.
 * They are all in the window: the tree holds nothing above it (see window_move). */
static void ladder_admit(struct tl_book *b, struct tl_book_side *s, uint32_t ra)
{
	struct tl_book_ladder *l = &s->lad;
	int64_t lo = ladder_key(b, l, ra);
	uint32_t j, i;

	while (tree_lower(&s->tree, lo, &j, &i)) {
		uint64_t r = grid_index(b, l, *tree_key(&s->tree, j, i));
		assert(r < l->lim); /* on the grid, and not above the window */
		uint32_t slot = ladder_slot(b, l, r);
		l->qty[slot] = *tree_qty(&s->tree, j, i);
		bit_set(l, slot);
		l->n++;
		tree_delete(&s->tree, j, i);
	}
}

/* The window's first tick when `t` is to be its best: LADDER_HEADROOM ticks below the top,
 * clamped so that every tick of the window has a key in int64 (|tick| <= INT64_MAX / grid). */
static int64_t window_lo(const struct tl_book *b, int64_t t)
{
	int64_t tmax = INT64_MAX / b->grid_px, w = b->ticks;
	int64_t back = w - 1 - LADDER_HEADROOM(w);
	int64_t lo = t < -tmax + back ? -tmax : t - back;

	return lo > tmax - w + 1 ? tmax - w + 1 : lo;
}

/*
 * Places the side's window at first tick lo_t, or moves it there. The levels of the ticks
 * it leaves go to the tree, those of the ticks it enters come out of it: a move by d ticks
 * costs O(d / 64) bitmap words plus the levels moved, each O(log n) in the tree.
 */
static void window_move(struct tl_book *b, struct tl_book_side *s, int64_t lo_t)
{
	struct tl_book_ladder *l = &s->lad;
	uint32_t w = b->ticks, ra = 0; /* the new window's ticks from ra up may be in the tree */

	if (l->lim != 0) {
		/* In uint64 so that the distance between two far-apart ticks cannot overflow. */
		uint64_t up = (uint64_t)lo_t - (uint64_t)l->lo_t, down = -up;
		if (up == 0)
			return;
		if (lo_t > l->lo_t && up < w) {
			ladder_evict(b, s, 0, (uint32_t)up);
			ra = w - (uint32_t)up;
		} else if (lo_t < l->lo_t && down < w) {
			ladder_evict(b, s, w - (uint32_t)down, w);
		} else {
			ladder_evict(b, s, 0, w);
		}
	}
	assert(l->n == 0 || l->lim != 0);
	l->lo_t = lo_t;
	l->lo_key = lo_t * b->grid_px;
	l->lo_slot = (uint32_t)((uint64_t)lo_t & (w - 1));
	l->lim = w;
	ladder_admit(b, s, ra);
	l->best_r = l->n > 0 ? (int32_t)ladder_prev(b, l, w) : -1;
	/* Every move puts the window at or above the side's best, so the tree keeps only
	 * levels below it, and reads can take the ladder's levels before any of the tree's. */
	assert(s->tree.blocks == 0 || s->tree.dir_last[s->tree.blocks - 1] < l->lo_key);
}

/* Empties the side's ladder into its tree and takes the window away. */
static void window_unplace(struct tl_book *b, struct tl_book_side *s)
{
	if (s->lad.lim != 0)
		ladder_evict(b, s, 0, b->ticks);
	s->lad.lim = 0;
	s->lad.best_r = -1;
}

/* The best level of a side: the ladder's, or the tree's when the ladder is empty (the tree
 * holds only levels below the window, see window_move). False when the side is empty. */
static bool side_best(const struct tl_book *b, const struct tl_book_side *s, int64_t *key,
                      int64_t *qty)
{
	const struct tl_book_ladder *l = &s->lad;

	if (l->best_r < 0)
		return tree_best(&s->tree, key, qty);
	*key = ladder_key(b, l, l->best_r);
	*qty = l->qty[ladder_slot(b, l, (uint64_t)l->best_r)];
	return true;
}

/* The best of a side went down (a delete of it): when it is now in the lower part of the
 * window, or below it, the window follows it down. An empty side keeps its window. */
static void best_fell(struct tl_book *b, struct tl_book_side *s)
{
	struct tl_book_ladder *l = &s->lad;
	int64_t key, qty;

	if (l->lim == 0 || l->best_r >= (int32_t)LADDER_LOW(b->ticks) ||
	    !side_best(b, s, &key, &qty))
		return;
	window_move(b, s, window_lo(b, key / b->grid_px));
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

/* Sets the grid and what grid_index() needs to divide by it. */
static void grid_set(struct tl_book *b, int64_t grid_px)
{
	uint64_t odd, inv;

	assert(b->ticks != 0);
	b->grid_px = grid_px;
	b->grid_shift = (unsigned)__builtin_ctzll((uint64_t)grid_px);
	odd = (uint64_t)grid_px >> b->grid_shift;
	/* Newton's iteration for the inverse modulo 2^64: odd * odd == 1 mod 8 gives 3
	 * correct bits, and each step doubles them (3, 6, 12, 24, 48, 96). */
	inv = odd;
	for (int k = 0; k < 5; k++)
		inv *= 2 - odd * inv;
	b->grid_inv = inv;
	b->ladder_on = grid_px <= GRID_SPAN_MAX / b->ticks;
}

/*
 * An insert at px, which the grid does not divide: every ladder level goes to the tree and
 * the grid becomes gcd(grid, px). The windows are placed again by the next inserts. Costs
 * O(levels in the ladders) tree inserts; at most 63 times per clear (see DESIGN).
 */
static void grid_shrink(struct tl_book *b, int64_t px)
{
	for (int side = 0; side < 2; side++)
		window_unplace(b, &b->side[side]);
	grid_set(b, b->grid_px == 0 ? px : gcd64(b->grid_px, px));
}

/* ---- updates ------------------------------------------------------------------------- */

/* The ladder's best level, at relative tick r, was just deleted. */
static __attribute__((noinline)) void ladder_best_deleted(struct tl_book *b, struct tl_book_side *s,
                                                          uint64_t r)
{
	s->lad.best_r = (int32_t)ladder_prev(b, &s->lad, r);
	best_fell(b, s);
}

/*
 * tl_book_set() for a price in the side's window, at relative tick r.
 *
 * On venue data inserts, replaces and deletes come in no predictable order, so this is
 * written without branches on which one it is: the slot's bit becomes (qty > 0), the level
 * counts move by the difference, and the quantity is stored whatever it is (a clear bit
 * makes it meaningless). Masks, not conditionals, because compilers turn "is ? bit : 0"
 * back into a branch; 18 against 11 ns per set on the capture (see DESIGN). Only a full
 * side and a new or deleted best, all rarer, branch.
 */
static inline int ladder_set(struct tl_book *b, struct tl_book_side *s, uint64_t r, int64_t qty)
{
	struct tl_book_ladder *l = &s->lad;
	uint32_t slot = ladder_slot(b, l, r);
	uint64_t *w = &l->bits[slot / 64];
	uint64_t *sum = &l->sum[slot / 4096];
	uint64_t bit = UINT64_C(1) << (slot % 64), sbit = UINT64_C(1) << (slot / 64 % 64);
	uint32_t was = (*w & bit) != 0, is = qty > 0;

	if (((is > was) & (s->n == s->cap)) != 0)
		return -ENOSPC;
	l->qty[slot] = qty;
	uint64_t nw = (*w & ~bit) | (bit & -(uint64_t)is);
	*w = nw;
	*sum = (*sum & ~sbit) | (sbit & -(uint64_t)(nw != 0));
	l->n = l->n + is - was;
	s->n = s->n + is - was;
	if ((int32_t)r >= l->best_r) {
		if (is)
			l->best_r = (int32_t)r;
		else if (was)
			ladder_best_deleted(b, s, r);
	}
	return 0;
}

/* tl_book_set() for a price outside the side's window, or with no window placed. Returns 1
 * after a grid shrink, when the caller must look again. */
static int tree_set(struct tl_book *b, struct tl_book_side *s, int64_t px, int64_t key, int64_t qty)
{
	struct tl_book_tree *t = &s->tree;
	struct tl_book_ladder *l = &s->lad;
	uint32_t j, i;

	if (tree_lower(t, key, &j, &i) && *tree_key(t, j, i) == key) {
		if (qty > 0) {
			*tree_qty(t, j, i) = qty;
			return 0;
		}
		bool was_best = j + 1 == t->blocks && i + 1 == t->dir[j].count;
		tree_delete(t, j, i);
		s->n--;
		if (was_best && l->n == 0)
			best_fell(b, s);
		return 0;
	}
	if (qty == 0)
		return 0; /* deleting an absent level */
	if (s->n == s->cap)
		return -ENOSPC;

	/* A new level off the grid: the grid must shrink before it goes anywhere, so that
	 * every price in the book stays on it. */
	if (b->ticks != 0 && (b->grid_px == 0 || px % b->grid_px != 0)) {
		grid_shrink(b, px);
		return 1;
	}
	/* A new best above the window, or a level for a side whose window is empty or not
	 * placed: the window moves to it, or to the tree's best if that is better. */
	if (b->ladder_on && (l->lim == 0 || l->n == 0 || key > ladder_key(b, l, b->ticks - 1))) {
		int64_t tick = key / b->grid_px, best, best_qty;
		if (tree_best(t, &best, &best_qty) && best / b->grid_px > tick)
			tick = best / b->grid_px;
		window_move(b, s, window_lo(b, tick));
		uint64_t r = grid_index(b, l, key);
		if (r < l->lim)
			return ladder_set(b, s, r, qty);
		tree_lower(t, key, &j, &i); /* the move changed the tree */
	}
	tree_insert(t, j, i, key, qty);
	s->n++;
	return 0;
}

/* tl_book_set() outside the fast path, out of line so that the fast path stays short. */
static __attribute__((noinline)) int set_slow(struct tl_book *b, struct tl_book_side *s, int64_t px,
                                              int64_t key, int64_t qty)
{
	int rc = tree_set(b, s, px, key, qty);

	if (rc <= 0)
		return rc;
	/* The grid shrank, which took the windows away; px is on the new grid. */
	rc = tree_set(b, s, px, key, qty);
	assert(rc <= 0);
	return rc;
}

int tl_book_set(tl_book_t *b, tl_book_side_t side, tl_px_t px, tl_qty_t qty)
{
	if (!side_valid(side) || px.v <= 0 || qty.v < 0)
		return -EINVAL;

	struct tl_book_side *s = &b->side[side];
	int64_t key = px_key(side, px.v);
	uint64_t r = grid_index(b, &s->lad, key);

	if (r < s->lad.lim)
		return ladder_set(b, s, r, qty.v);
	return set_slow(b, s, px.v, key, qty.v);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

void tl_book_config_default(struct tl_book_config *cfg)
{
	cfg->max_levels_per_side = TL_BOOK_LEVELS_DEFAULT;
	cfg->ladder_ticks = TL_BOOK_LADDER_TICKS_DEFAULT;
}

static size_t align_up(size_t v)
{
	return (v + TL_BOOK_ALIGN - 1) & ~(size_t)(TL_BOOK_ALIGN - 1);
}

static void ladder_reset(struct tl_book_ladder *l, uint32_t ticks)
{
	/* Only a placed window can have bits set: taking a window away empties it. */
	if (l->lim != 0) {
		memset(l->bits, 0, ticks / 64 * sizeof(uint64_t));
		memset(l->sum, 0, (ticks + 4095) / 4096 * sizeof(uint64_t));
	}
	l->n = 0;
	l->lim = 0;
	l->best_r = -1;
	l->lo_key = l->lo_t = 0;
	l->lo_slot = 0;
}

int tl_book_create(tl_book_t **out, const struct tl_book_config *cfg)
{
	struct tl_book_config def;
	size_t head_bytes, pool_bytes, last_bytes, dir_bytes, free_bytes, side_bytes;
	size_t lqty_bytes, bits_bytes, sum_bytes;
	uint32_t nblocks, ticks;
	uint8_t *mem;
	tl_book_t *b;

	if (cfg == NULL) {
		tl_book_config_default(&def);
		cfg = &def;
	}
	ticks = cfg->ladder_ticks;
	if (out == NULL || cfg->max_levels_per_side == 0 ||
	    cfg->max_levels_per_side > TL_BOOK_LEVELS_MAX ||
	    (ticks != 0 && (ticks < TL_BOOK_LADDER_TICKS_MIN || ticks > TL_BOOK_LADDER_TICKS_MAX ||
	                    (ticks & (ticks - 1)) != 0)))
		return -EINVAL;

	/* One block of memory: the header, then per side the tree's pool, its directory's
	 * keys, entries and free stack, and the ladder's quantities and bitmaps, each on its
	 * own cache line. Everything is bounded by TL_BOOK_LEVELS_MAX and
	 * TL_BOOK_LADDER_TICKS_MAX, so none of this can overflow. */
	nblocks = pool_blocks(cfg->max_levels_per_side);
	head_bytes = align_up(sizeof(*b));
	pool_bytes = align_up((size_t)nblocks * sizeof(struct tl_book_block));
	last_bytes = align_up((size_t)nblocks * sizeof(int64_t));
	dir_bytes = align_up((size_t)nblocks * sizeof(struct tl_book_dir_entry));
	free_bytes = align_up((size_t)nblocks * sizeof(uint32_t));
	lqty_bytes = align_up((size_t)ticks * sizeof(int64_t));
	bits_bytes = align_up((size_t)ticks / 64 * sizeof(uint64_t));
	sum_bytes = align_up((size_t)(ticks + 4095) / 4096 * sizeof(uint64_t));
	side_bytes =
	    pool_bytes + last_bytes + dir_bytes + free_bytes + lqty_bytes + bits_bytes + sum_bytes;

	mem = aligned_alloc(TL_BOOK_ALIGN, head_bytes + 2 * side_bytes);
	if (mem == NULL)
		return -ENOMEM;
	/* Writing every byte now maps every page now: a page fault on the hot path would be a
	 * trip into the kernel (malloc's large blocks come fresh from mmap, untouched). The
	 * zeroed bitmaps are an empty ladder. */
	memset(mem, 0, head_bytes + 2 * side_bytes);

	b = (tl_book_t *)mem;
	for (int side = 0; side < 2; side++) {
		struct tl_book_side *s = &b->side[side];
		struct tl_book_tree *t = &s->tree;
		uint8_t *p = mem + head_bytes + (size_t)side * side_bytes;

		t->pool = (struct tl_book_block *)p;
		p += pool_bytes;
		t->dir_last = (int64_t *)p;
		p += last_bytes;
		t->dir = (struct tl_book_dir_entry *)p;
		p += dir_bytes;
		t->free_stack = (uint32_t *)p;
		p += free_bytes;
		/* Low indices on top of the stack: a small book uses the start of the pool. */
		for (uint32_t i = 0; i < nblocks; i++)
			t->free_stack[i] = nblocks - 1 - i;
		t->nfree = nblocks;
		t->blocks = 0;
		t->n = 0;

		s->lad.qty = (int64_t *)p;
		p += lqty_bytes;
		s->lad.bits = (uint64_t *)p;
		p += bits_bytes;
		s->lad.sum = (uint64_t *)p;
		ladder_reset(&s->lad, ticks);

		s->n = 0;
		s->cap = cfg->max_levels_per_side;
	}
	b->ticks = ticks;
	b->grid_px = 0;
	b->ladder_on = false;
	*out = b;
	return 0;
}

void tl_book_destroy(tl_book_t *b)
{
	/* Everything lives in the header's allocation. */
	free(b);
}

void tl_book_clear(tl_book_t *b)
{
	for (int side = 0; side < 2; side++) {
		struct tl_book_side *s = &b->side[side];

		tree_clear(&s->tree);
		ladder_reset(&s->lad, b->ticks);
		s->n = 0;
	}
	/* The grid is learned again: after a resync the prices may be on another one. */
	b->grid_px = 0;
	b->ladder_on = false;
}

/* ---- reads --------------------------------------------------------------------------- */

bool tl_book_best(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out)
{
	int64_t key, qty;

	if (!side_valid(side) || !side_best(b, &b->side[side], &key, &qty))
		return false;
	out->px.v = key_px(side, key);
	out->qty.v = qty;
	return true;
}

/* Ticks around the best that tl_book_prefetch_top covers: a new best a few ticks better,
 * and the levels a depth event rewrites behind it. */
#define PREFETCH_AHEAD 8
#define PREFETCH_BEHIND 40

void tl_book_prefetch_top(const tl_book_t *b)
{
	tl_prefetch(b, sizeof(*b), false);
	for (int side = TL_BOOK_BID; side <= TL_BOOK_ASK; side++) {
		const struct tl_book_ladder *l = &b->side[side].lad;

		if (!b->ladder_on || l->best_r < 0 || !l->qty)
			continue;
		int64_t lo = l->best_r - PREFETCH_BEHIND, hi = l->best_r + PREFETCH_AHEAD;
		lo = lo < 0 ? 0 : lo;
		hi = hi >= (int64_t)l->lim ? (int64_t)l->lim - 1 : hi;
		/* Eight quantities a line; the bitmap's word and its summary's for each. */
		for (int64_t r = lo; r <= hi; r += 8) {
			uint32_t slot = ladder_slot(b, l, (uint64_t)r);

			tl_prefetch(&l->qty[slot], sizeof(l->qty[slot]), true);
			tl_prefetch(&l->bits[slot / 64], sizeof(l->bits[0]), true);
			tl_prefetch(&l->sum[slot / 4096], sizeof(l->sum[0]), true);
		}
	}
}

size_t tl_book_top(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out, size_t n)
{
	if (!side_valid(side))
		return 0;
	const struct tl_book_side *s = &b->side[side];
	const struct tl_book_ladder *l = &s->lad;
	const struct tl_book_tree *t = &s->tree;
	size_t got = 0;

	/* The ladder's levels, then the tree's: every tree level is below the window. */
	for (int64_t r = l->best_r; r >= 0 && got < n; r = ladder_prev(b, l, (uint64_t)r), got++) {
		out[got].px.v = key_px(side, ladder_key(b, l, r));
		out[got].qty.v = l->qty[ladder_slot(b, l, (uint64_t)r)];
	}
	for (uint32_t j = t->blocks; j-- > 0 && got < n;) {
		const struct tl_book_block *blk = &t->pool[t->dir[j].block];
		for (uint32_t i = t->dir[j].count; i-- > 0 && got < n; got++) {
			out[got].px.v = key_px(side, blk->key[i]);
			out[got].qty.v = blk->qty[i];
		}
	}
	return got;
}

uint32_t tl_book_levels(const tl_book_t *b, tl_book_side_t side)
{
	return side_valid(side) ? b->side[side].n : 0;
}

bool tl_book_crossed(const tl_book_t *b)
{
	int64_t bid, ask, qty;

	if (!side_best(b, &b->side[TL_BOOK_BID], &bid, &qty) ||
	    !side_best(b, &b->side[TL_BOOK_ASK], &ask, &qty))
		return false;
	return bid >= -ask;
}

tl_qty_t tl_book_qty_at(const tl_book_t *b, tl_book_side_t side, tl_px_t px)
{
	tl_qty_t none = {0};

	if (!side_valid(side) || px.v <= 0)
		return none;
	const struct tl_book_side *s = &b->side[side];
	int64_t key = px_key(side, px.v);
	uint64_t r = grid_index(b, &s->lad, key);
	if (r < s->lad.lim) {
		uint32_t slot = ladder_slot(b, &s->lad, r);
		if (s->lad.bits[slot / 64] & (UINT64_C(1) << (slot % 64)))
			return (tl_qty_t){s->lad.qty[slot]};
		return none;
	}
	uint32_t j, i;
	if (tree_lower(&s->tree, key, &j, &i) && s->tree.pool[s->tree.dir[j].block].key[i] == key)
		return (tl_qty_t){s->tree.pool[s->tree.dir[j].block].qty[i]};
	return none;
}
