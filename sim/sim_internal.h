/*
 * sim_internal.h: the sim's structures, shared by engine.c (lifecycle, accounts,
 * queries), orders.c (client orders, matching, settlement) and synth.c (the random walk
 * and the synthetic book). Not part of the contract.
 */
#ifndef TL_SIM_INTERNAL_H
#define TL_SIM_INTERNAL_H

#include "tl_sim_engine.h"

#include <assert.h>
#include <stdint.h>

#define NIL UINT32_MAX /* "no slot" in every index link */

/* One (account, asset) balance. recv_max is the worst-case receipt of the account's open
 * orders in this asset: free + locked + recv_max <= INT64_MAX always holds, which is why
 * no fill can overflow a balance (tl_sim_engine.h "Numbers"). */
struct bal {
	int64_t free, locked, recv_max;
};

/*
 * An order slot. Open orders sit in their price level's FIFO (lvl_*), in their account's
 * list (acct_*), and in the two hash chains (oid_next, cid_next). A finished order leaves
 * the level and the account list but stays in the hash chains until the history ring
 * evicts it, or, for the cid chain, until a newer order of the account takes its client
 * id (in_cid then drops to false). A free slot is linked through oid_next.
 */
struct order {
	uint64_t id;
	int64_t px, qty, filled; /* px units, qty units */
	int64_t cum_quote;       /* amount */
	int64_t create_ms, update_ms;
	uint32_t acct;
	uint32_t lvl_prev, lvl_next;
	uint32_t acct_prev, acct_next;
	uint32_t oid_next, cid_next;
	uint32_t cid_hash;
	uint8_t side, type, tif, status;
	uint8_t cid_len;
	bool in_cid;
	char cid[TL_SIM_CLIENT_ID_MAX + 1];
};

/* A client price level: the FIFO of its orders. key grows towards the best price (px for
 * bids, -px for asks), and a side's levels are sorted by key, best last, as in book.c. */
struct clevel {
	int64_t key;
	uint32_t head, tail;
};

struct cside {
	struct clevel *lv;
	uint32_t n;
};

/* An account's state in one market. */
struct acct_mkt {
	uint32_t head, tail; /* open orders, ascending id */
	uint32_t n_open;
	struct tl_sim_trade *trades; /* ring of trades_per_account */
	uint64_t n_trades;           /* ever recorded; the ring holds the last ones */
};

/*
 * The synthetic book of one side: a ring of `slots` quantities indexed by price in ticks
 * modulo slots. Only the window's prices may hold a level, and every slot outside the
 * window holds 0. slots > depth + max_move, so the prices a step touches (the old window
 * and the new) never share a slot.
 *
 * dirty_px[slot] is the price (ticks) changed there since the last depthUpdate, or 0;
 * dirty lists those prices, for the next depthUpdate.
 */
struct sside {
	int64_t *qty;
	int64_t *dirty_px;
	int64_t *dirty;
	uint32_t n_dirty;
};

struct synth {
	struct sside side[2];         /* TL_SIM_BUY: bids, TL_SIM_SELL: asks */
	uint32_t mask;                /* slots - 1 */
	int64_t bid_anchor;           /* ticks; bids at [bid_anchor - depth + 1, bid_anchor] */
	int64_t ask_anchor;           /* ticks; asks at [ask_anchor, ask_anchor + depth - 1] */
	int64_t anchor_lo, anchor_hi; /* the bid anchor's range */
	uint64_t update_id;           /* the last level change's id */
	uint64_t published_id;        /* final_id of the last depthUpdate */
	uint64_t rng[4];              /* xoshiro256** */
	struct tl_sim_level *out[2];  /* a depthUpdate's levels, `slots` a side */
};

struct market {
	struct tl_sim_market_config cfg;
	uint32_t index;
	int64_t quote_mult; /* 10^(8 - px_decimals - qty_decimals): px * qty -> amount */
	int64_t base_mult;  /* 10^(8 - qty_decimals): qty -> amount */

	struct order *orders;
	uint32_t free_head;
	uint32_t n_open;
	uint32_t *oid_bucket, oid_mask;
	uint32_t *cid_bucket, cid_mask;
	uint32_t *hist; /* finished order slots, oldest at hist_head */
	uint32_t hist_head, hist_n;

	struct cside book[2];
	struct acct_mkt *acct; /* max_accounts */
	struct tl_sim_trade *trade_buf;

	uint64_t next_order_id, next_trade_id;
	struct synth syn;
};

struct tl_sim {
	struct tl_sim_config cfg;
	int64_t now_ms;
	uint32_t n_accounts;
	struct bal *bal;                        /* max_accounts * n_assets */
	int64_t fee_quantum[TL_SIM_ASSETS_MAX]; /* 10^(8 - decimals) */
	struct market *mkt;
	uint32_t n_markets;
};

static inline struct bal *sim_bal(struct tl_sim *sim, uint32_t acct, uint32_t asset)
{
	return &sim->bal[(size_t)acct * sim->cfg.n_assets + asset];
}

static inline int64_t sim_now(struct tl_sim *sim, int64_t now_ms)
{
	if (now_ms > sim->now_ms)
		sim->now_ms = now_ms;
	return sim->now_ms;
}

static inline void sim_emit(const struct tl_sim_sink *sink, const struct tl_sim_event *ev)
{
	if (sink && sink->fn)
		sink->fn(sink->ctx, ev);
}

/* Binance's "w": the order is on the book, or will rest there (GTC and still open). An
 * IOC or FOK never rests. */
static inline bool sim_order_working(const struct order *o)
{
	return (o->status == TL_SIM_ST_NEW || o->status == TL_SIM_ST_PARTIALLY_FILLED) &&
	       o->tif == TL_SIM_GTC;
}

/* engine.c */
/* 10^e, for 0 <= e <= 18. */
int64_t sim_pow10(int e);
void sim_emit_position(struct tl_sim *sim, const struct tl_sim_sink *sink, uint32_t market,
                       uint32_t acct, uint32_t asset_a, uint32_t asset_b, int64_t now_ms);
void sim_order_copy(const struct market *m, const struct order *o, struct tl_sim_order *out);

/* orders.c */
/* The best client order of a side (the head of its best level), or NIL. */
uint32_t sim_book_best(const struct market *m, int side);
/* Fills client order `slot` (a maker) by qty at its own price, as synthetic flow hits it:
 * settles, records, emits trade + executionReport + position, and retires it when done. */
void sim_fill_maker(struct tl_sim *sim, struct market *m, uint32_t slot, int64_t qty,
                    int64_t now_ms, const struct tl_sim_sink *sink);

/* Synthetic level and trade quantities stay at or below this (the walk's config is checked
 * against it, a replayed level is capped to it), so that sums of a few thousand of them (a
 * FOK's look-ahead) cannot overflow. */
#define SYNTH_QTY_MAX (1ll << 48)

/* synth.c */
void sim_synth_init(struct market *m, uint64_t seed);
/* Best synthetic price of a side in ticks, or 0 when the side is empty; *qty its qty. */
int64_t sim_synth_best(const struct market *m, int side, int64_t *qty);
/* The first synthetic level of a side at `from` (ticks) or further from the spread, within
 * the window; its price in ticks and *qty, or 0 when there is none. */
int64_t sim_synth_scan(const struct market *m, int side, int64_t from, int64_t *qty);
/* Quantity of a synthetic level (0 when none), and setting it (records the change). */
int64_t sim_synth_qty(const struct market *m, int side, int64_t ticks);
void sim_synth_set(struct market *m, int side, int64_t ticks, int64_t qty);
/* The synthetic side's far end: the deepest price a level of `side` may have (ticks). */
int64_t sim_synth_far(const struct market *m, int side);
/* Emits one public trade print. */
void sim_emit_trade(const struct tl_sim_sink *sink, const struct market *m, uint64_t trade_id,
                    int64_t px, int64_t qty, bool buyer_maker, int64_t now_ms);

#endif /* TL_SIM_INTERNAL_H */
