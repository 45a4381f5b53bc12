/*
 * book.c: the L2 order book.
 *
 * DESIGN
 * ------
 * Each side is an ordered sequence of levels, ascending by a key that grows towards the
 * best price: key = px for bids, key = -px for asks (px > 0, so -px cannot overflow). One
 * search and one update routine then serve both sides, and the best level is always the
 * last one.
 *
 * The sequence is cut into blocks of up to TL_BOOK_BLOCK_LEVELS levels (a B-tree of height
 * two). A directory lists the blocks in key order with each block's last (best) key and its
 * level count. An update binary-searches the directory, then the block, and moves at most
 * one block's worth of levels. A block that fills up splits in two; a block that drops
 * below a quarter full merges with a neighbour, or takes levels from it when together they
 * would not fit in one block.
 *
 * Why blocks and not one sorted array: replaying Binance BTCUSDT diffs (shared/data,
 * 2024-08-08/09: 6493 diffs, ~300k level updates) shows that most updates do NOT land near
 * the top: about 60% of inserts and deletes are 20 to 1000 levels deep. In one sorted array
 * (best at the end) each of those moves hundreds of levels. Measured with a throwaway
 * benchmark on 2 shared Xeon cores (2.3 GHz), gcc -O2, ns per tl_book_set:
 *
 *                                      one sorted array   blocks of 64
 *   replay, mean                                     71             52
 *   replay, p99 / p99.9 (timed singly)        282 / 577       97 / 150
 *   synthetic, 2000 levels a side, mean              57             45
 *   synthetic, 5000 levels a side, mean             112             46
 *
 * (synthetic: 80% of updates within ~20 levels of the top, 20% anywhere, half deletes.)
 * Updates near the top cost about the same either way (37 against 39 ns); the array loses
 * on deep ones, and more so as the book grows, which it does between resyncs. Blocks of 32
 * and 128 measured within noise of 64; an array of {key, qty} pairs instead of two arrays
 * made no difference.
 *
 * Searches scan a few entries backwards from the best end first, because the top of the
 * book is still the likeliest place for an update, then binary-search the rest without
 * data-dependent branches. Keys and quantities sit in separate arrays in a block so that a
 * search reads only keys, eight to a cache line.
 *
 * Memory: a side can hold at most 4 * max_levels / TL_BOOK_BLOCK_LEVELS + 1 blocks, because
 * every block but a lone one is at least a quarter full (see pool_blocks()); create
 * allocates exactly that, so a split never finds the pool empty.
 */
#include "tl_book.h"

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

/* Entries a search scans backwards from the best end before it binary-searches, in the
 * directory and in a block. Tuned on the benchmarks above: no scan (pure binary search)
 * was 15-25% slower, longer scans no better. */
#define DIR_SCAN 4u
#define BLOCK_SCAN 8u

#define TL_BOOK_ALIGN 64u

struct tl_book_block {
	int64_t key[BLOCK_LEVELS]; /* ascending, key[0..count) in use */
	int64_t qty[BLOCK_LEVELS]; /* qty[i] > 0 rests at key[i] */
};

struct tl_book_dir_entry {
	uint32_t block; /* index into the side's pool */
	uint32_t count; /* levels in use in that block: 1..BLOCK_LEVELS */
};

struct tl_book_side {
	/* The directory: blocks in ascending key order. dir_last[j] is the last (largest)
	 * key of block dir[j]; it is kept apart from dir so that a search reads only keys. */
	int64_t *dir_last;
	struct tl_book_dir_entry *dir;
	uint32_t blocks; /* directory entries in use */

	struct tl_book_block *pool;
	uint32_t *free_stack; /* unused pool indices; nfree of them */
	uint32_t nfree;

	uint32_t n;   /* levels held */
	uint32_t cap; /* max_levels_per_side */
};

struct tl_book {
	struct tl_book_side side[2]; /* indexed by tl_book_side_t */
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

/* Blocks a side needs for `cap` levels. When a side has two or more blocks, each holds at
 * least BLOCK_MIN levels, so blocks <= cap / BLOCK_MIN; a split, the only way to add a
 * block when one exists, happens only while n < cap. The +1 covers a lone block. */
static uint32_t pool_blocks(uint32_t cap)
{
	return (cap + BLOCK_MIN - 1) / BLOCK_MIN + 1;
}

static uint32_t block_take(struct tl_book_side *s)
{
	assert(s->nfree > 0); /* guaranteed by pool_blocks() */
	return s->free_stack[--s->nfree];
}

/* Inserts a directory entry at position j. */
static void dir_insert(struct tl_book_side *s, uint32_t j, uint32_t block, uint32_t count,
                       int64_t last)
{
	size_t move = s->blocks - j;

	memmove(&s->dir_last[j + 1], &s->dir_last[j], move * sizeof(s->dir_last[0]));
	memmove(&s->dir[j + 1], &s->dir[j], move * sizeof(s->dir[0]));
	s->dir_last[j] = last;
	s->dir[j] = (struct tl_book_dir_entry){.block = block, .count = count};
	s->blocks++;
}

/* Removes directory entry j and returns its block to the pool. */
static void dir_remove(struct tl_book_side *s, uint32_t j)
{
	size_t move = s->blocks - j - 1;

	s->free_stack[s->nfree++] = s->dir[j].block;
	memmove(&s->dir_last[j], &s->dir_last[j + 1], move * sizeof(s->dir_last[0]));
	memmove(&s->dir[j], &s->dir[j + 1], move * sizeof(s->dir[0]));
	s->blocks--;
}

/*
 * One of the adjacent blocks l and l + 1 fell below BLOCK_MIN. If both fit in one block,
 * block l takes all of l + 1's levels and l + 1 goes back to the pool; otherwise they
 * split their levels evenly. Either way both (or the one left) end at least half full.
 */
static void blocks_rebalance(struct tl_book_side *s, uint32_t l)
{
	uint32_t r = l + 1;
	struct tl_book_block *lb = &s->pool[s->dir[l].block];
	struct tl_book_block *rb = &s->pool[s->dir[r].block];
	uint32_t lc = s->dir[l].count, rc = s->dir[r].count;

	if (lc + rc <= BLOCK_LEVELS) {
		memcpy(&lb->key[lc], rb->key, rc * sizeof(int64_t));
		memcpy(&lb->qty[lc], rb->qty, rc * sizeof(int64_t));
		s->dir[l].count = lc + rc;
		s->dir_last[l] = s->dir_last[r];
		dir_remove(s, r);
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
	s->dir[l].count = half;
	s->dir[r].count = lc + rc - half;
	s->dir_last[l] = lb->key[half - 1];
}

void tl_book_config_default(struct tl_book_config *cfg)
{
	cfg->max_levels_per_side = TL_BOOK_LEVELS_DEFAULT;
}

static size_t align_up(size_t v)
{
	return (v + TL_BOOK_ALIGN - 1) & ~(size_t)(TL_BOOK_ALIGN - 1);
}

int tl_book_create(tl_book_t **out, const struct tl_book_config *cfg)
{
	struct tl_book_config def;
	size_t head_bytes, pool_bytes, last_bytes, dir_bytes, free_bytes, side_bytes;
	uint32_t nblocks;
	uint8_t *mem;
	tl_book_t *b;

	if (cfg == NULL) {
		tl_book_config_default(&def);
		cfg = &def;
	}
	if (out == NULL || cfg->max_levels_per_side == 0 ||
	    cfg->max_levels_per_side > TL_BOOK_LEVELS_MAX)
		return -EINVAL;

	/* One block of memory: the header, then per side the pool, the directory's keys, its
	 * entries and the free stack, each on its own cache line. Everything is bounded by
	 * TL_BOOK_LEVELS_MAX, so none of this can overflow. */
	nblocks = pool_blocks(cfg->max_levels_per_side);
	head_bytes = align_up(sizeof(*b));
	pool_bytes = align_up((size_t)nblocks * sizeof(struct tl_book_block));
	last_bytes = align_up((size_t)nblocks * sizeof(int64_t));
	dir_bytes = align_up((size_t)nblocks * sizeof(struct tl_book_dir_entry));
	free_bytes = align_up((size_t)nblocks * sizeof(uint32_t));
	side_bytes = pool_bytes + last_bytes + dir_bytes + free_bytes;

	mem = aligned_alloc(TL_BOOK_ALIGN, head_bytes + 2 * side_bytes);
	if (mem == NULL)
		return -ENOMEM;
	/* Writing every byte now maps every page now: a page fault on the hot path would be a
	 * trip into the kernel (malloc's large blocks come fresh from mmap, untouched). */
	memset(mem, 0, head_bytes + 2 * side_bytes);

	b = (tl_book_t *)mem;
	for (int side = 0; side < 2; side++) {
		struct tl_book_side *s = &b->side[side];
		uint8_t *p = mem + head_bytes + (size_t)side * side_bytes;

		s->pool = (struct tl_book_block *)p;
		s->dir_last = (int64_t *)(p + pool_bytes);
		s->dir = (struct tl_book_dir_entry *)(p + pool_bytes + last_bytes);
		s->free_stack = (uint32_t *)(p + pool_bytes + last_bytes + dir_bytes);
		/* Low indices on top of the stack: a small book uses the start of the pool. */
		for (uint32_t i = 0; i < nblocks; i++)
			s->free_stack[i] = nblocks - 1 - i;
		s->nfree = nblocks;
		s->blocks = 0;
		s->n = 0;
		s->cap = cfg->max_levels_per_side;
	}
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

		for (uint32_t j = 0; j < s->blocks; j++)
			s->free_stack[s->nfree++] = s->dir[j].block;
		s->blocks = 0;
		s->n = 0;
	}
}

/* Deletes level i of directory entry j. */
static void level_delete(struct tl_book_side *s, uint32_t j, uint32_t i)
{
	struct tl_book_block *blk = &s->pool[s->dir[j].block];
	uint32_t count = s->dir[j].count - 1;

	memmove(&blk->key[i], &blk->key[i + 1], (count - i) * sizeof(int64_t));
	memmove(&blk->qty[i], &blk->qty[i + 1], (count - i) * sizeof(int64_t));
	s->dir[j].count = count;
	s->n--;

	if (count == 0) { /* only a lone block empties: others rebalance at BLOCK_MIN - 1 */
		dir_remove(s, j);
		return;
	}
	if (i == count)
		s->dir_last[j] = blk->key[count - 1];
	if (count < BLOCK_MIN && s->blocks > 1)
		blocks_rebalance(s, j + 1 < s->blocks ? j : j - 1);
}

/* Inserts a new level at position i of directory entry j (s->n < s->cap). */
static void level_insert(struct tl_book_side *s, uint32_t j, uint32_t i, int64_t key, int64_t qty)
{
	struct tl_book_block *blk = &s->pool[s->dir[j].block];
	uint32_t count = s->dir[j].count;

	if (count == BLOCK_LEVELS) {
		/* Split: the upper half moves to a new block right after j, then the level
		 * goes into whichever half covers it. i == half appends to the lower half,
		 * which is right: the key is below the upper half's first key. */
		const uint32_t half = BLOCK_LEVELS / 2;
		uint32_t nb = block_take(s);
		struct tl_book_block *upper = &s->pool[nb];

		memcpy(upper->key, &blk->key[half], half * sizeof(int64_t));
		memcpy(upper->qty, &blk->qty[half], half * sizeof(int64_t));
		dir_insert(s, j + 1, nb, half, s->dir_last[j]);
		s->dir[j].count = half;
		s->dir_last[j] = blk->key[half - 1];
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
	s->dir[j].count = count + 1;
	if (i == count)
		s->dir_last[j] = key;
	s->n++;
}

int tl_book_set(tl_book_t *b, tl_book_side_t side, tl_px_t px, tl_qty_t qty)
{
	if (!side_valid(side) || px.v <= 0 || qty.v < 0)
		return -EINVAL;

	struct tl_book_side *s = &b->side[side];
	int64_t key = px_key(side, px.v);

	if (s->blocks == 0) {
		if (qty.v == 0)
			return 0; /* deleting from an empty side */
		uint32_t nb = block_take(s);
		s->pool[nb].key[0] = key;
		s->pool[nb].qty[0] = qty.v;
		dir_insert(s, 0, nb, 1, key);
		s->n = 1;
		return 0;
	}

	/* The first block whose last key is >= key holds the key if anything does. Past the
	 * last block, the key is a new best: it goes at the end of the last block. */
	uint32_t j = lower_bound(s->dir_last, s->blocks, key, DIR_SCAN);
	if (j == s->blocks)
		j--;
	struct tl_book_block *blk = &s->pool[s->dir[j].block];
	uint32_t count = s->dir[j].count;
	assert(count >= 1 && count <= BLOCK_LEVELS && s->n <= s->cap);
	uint32_t i = lower_bound(blk->key, count, key, BLOCK_SCAN);

	if (i < count && blk->key[i] == key) {
		if (qty.v > 0)
			blk->qty[i] = qty.v;
		else
			level_delete(s, j, i);
		return 0;
	}
	if (qty.v == 0)
		return 0; /* deleting an absent level: Binance sends these */
	if (s->n == s->cap)
		return -ENOSPC;
	level_insert(s, j, i, key, qty.v);
	return 0;
}

bool tl_book_best(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out)
{
	if (!side_valid(side))
		return false;
	const struct tl_book_side *s = &b->side[side];
	if (s->blocks == 0)
		return false;
	const struct tl_book_dir_entry *e = &s->dir[s->blocks - 1];
	const struct tl_book_block *blk = &s->pool[e->block];
	out->px.v = key_px(side, blk->key[e->count - 1]);
	out->qty.v = blk->qty[e->count - 1];
	return true;
}

size_t tl_book_top(const tl_book_t *b, tl_book_side_t side, struct tl_book_level *out, size_t n)
{
	if (!side_valid(side))
		return 0;
	const struct tl_book_side *s = &b->side[side];
	size_t got = 0;

	for (uint32_t j = s->blocks; j-- > 0 && got < n;) {
		const struct tl_book_block *blk = &s->pool[s->dir[j].block];
		for (uint32_t i = s->dir[j].count; i-- > 0 && got < n; got++) {
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
	const struct tl_book_side *bid = &b->side[TL_BOOK_BID];
	const struct tl_book_side *ask = &b->side[TL_BOOK_ASK];

	if (bid->blocks == 0 || ask->blocks == 0)
		return false;
	/* The last directory key is the side's best key. */
	return bid->dir_last[bid->blocks - 1] >= -ask->dir_last[ask->blocks - 1];
}

tl_qty_t tl_book_qty_at(const tl_book_t *b, tl_book_side_t side, tl_px_t px)
{
	tl_qty_t none = {0};

	if (!side_valid(side) || px.v <= 0)
		return none;
	const struct tl_book_side *s = &b->side[side];
	int64_t key = px_key(side, px.v);
	uint32_t j = lower_bound(s->dir_last, s->blocks, key, DIR_SCAN);
	if (j == s->blocks)
		return none;
	const struct tl_book_block *blk = &s->pool[s->dir[j].block];
	uint32_t i = lower_bound(blk->key, s->dir[j].count, key, BLOCK_SCAN);
	if (i < s->dir[j].count && blk->key[i] == key)
		return (tl_qty_t){blk->qty[i]};
	return none;
}
