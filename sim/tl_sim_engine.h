/*
 * tl_sim_engine.h: the core of `tally sim`, a venue that speaks the Binance Spot protocol
 * (../shared/PROTOCOL.md). This part has no network: it is a deterministic matching engine
 * with accounts. The network side parses requests into the structs below, calls these
 * functions, and formats the events they emit as JSON.
 *
 * The model
 * ---------
 * A sim holds assets, accounts and markets (symbols), all fixed by the config at creation.
 *
 *   - An account holds, for every asset, a `free` and a `locked` amount. Placing an order
 *     moves its reservation from free to locked; a fill or a cancel releases it.
 *   - Each market has a synthetic L2 book, the background liquidity: a seeded random walk
 *     moves an anchor price, and a window of `depth_levels` price levels on each side of
 *     it is refreshed with random quantities at every tl_sim_market_step(). The book
 *     changes only there and where a client order takes from it. (Or the book follows a
 *     recorded capture instead: see tl_sim_market_replay_step.) Every change gets an
 *     update id; the changes are published as diff-depth events, with a bookTicker, and
 *     a snapshot carries the last update id, so a client syncing by PROTOCOL.md's
 *     algorithm rebuilds the exact book.
 *   - Client orders (LIMIT, LIMIT_MAKER) trade only with the synthetic side, never with
 *     each other: the sim stands in for a deep venue that one market maker quotes into.
 *     * A buy at or above the best synthetic ask takes from the synthetic asks at once,
 *       level by level at each level's price, up to its limit (a sell likewise takes
 *       bids). The client is the taker.
 *     * What is left rests (GTC), expires (IOC), or, for FOK, the whole order expires
 *       unless the synthetic side could fill all of it.
 *     * A resting buy fills when synthetic sell flow trades at or below its price: a
 *       synthetic market sell, or synthetic asks that the walk moves onto or through it.
 *       It fills at its own price, as the maker. Resting sells mirror this. Among client
 *       orders, priority is price, then time. At one price, client orders rank ahead of
 *       the synthetic quantity (a synthetic trade at a client's price reaches the
 *       client first).
 *     * Client orders are not shown in the depth stream: it shows the synthetic book only.
 *
 * Numbers (DESIGN.md §3). No floating point anywhere.
 *   - A price (tl_px_t) counts units of 10^-px_decimals of the quote asset, a quantity
 *     (tl_qty_t) units of 10^-qty_decimals of the base asset: the decimal string at the
 *     symbol's scale, so "52000.01" at px_decimals 2 is 5200001. tickSize and stepSize are
 *     given in those units, and the filters check them (a value off the grid is rejected,
 *     not rounded). This keeps PRICE_FILTER and LOT_SIZE testable here, and the network
 *     side needs only tl_md_dec_parse() at the symbol's scale; a string with more digits
 *     than the scale (tl_md_dec_parse gives -EDOM) is a PRICE_FILTER / LOT_SIZE failure.
 *   - Amounts (tl_sim_amount_t: balances, quote quantities, fees) count units of 10^-8 of
 *     their asset (TL_SIM_AMOUNT_DECIMALS). px_decimals + qty_decimals must be <= 8, so
 *     that price * quantity is an exact amount: quote = px * qty * 10^(8 - px_decimals -
 *     qty_decimals), base = qty * 10^(8 - qty_decimals). No fill ever rounds a leg.
 *   - Fees (the only rounding): charged on every fill in the asset the account receives
 *     (base for a buy, quote for a sell), at the market's maker or taker rate in basis
 *     points:
 *         fee = floor(gross * rate_bp / (10000 * q)) * q,   q = 10^(8 - asset decimals)
 *     where gross is the amount received before the fee and `asset decimals` is the
 *     asset's precision (struct tl_sim_asset_config). That is: the exact fee, rounded down
 *     to the asset's precision. The account receives gross - fee. So, exactly, for every
 *     account and asset: free + locked == deposits + sum over fills of the signed legs
 *     - sum of fees; and locked == the sum over open orders of their reservation
 *     (buy: px * remaining qty as quote; sell: remaining qty as base).
 *   - Overflow: the market's maxPrice and maxQty must make maxPrice * maxQty fit an
 *     amount (checked at creation), and order.place computes a request's price *
 *     quantity with __builtin_mul_overflow; every later product (fills, releases) is of
 *     a price and a quantity no larger, so it fits. Balances cannot overflow either: an
 *     order whose worst-case receipt (buy: its quantity; sell: its quantity at maxPrice),
 *     added to the account's total of that asset and the worst-case receipts of its
 *     other open orders, would pass INT64_MAX is rejected (-1013 "Filter failure:
 *     MAX_POSITION"). Deposits obey the same bound (-ERANGE).
 *
 * Ids and time
 * ------------
 * Order ids and trade ids count from 1, per market; trade ids are shared by client fills
 * and synthetic trades, so an account's trades have increasing, not consecutive, ids.
 * Depth update ids count from 1 per market, one per level change. Time is the caller's:
 * every call that acts takes now_ms (wall-clock ms), and the sim never reads a clock. A
 * now_ms below the latest one seen counts as the latest one, so the times in events and
 * histories never go backwards.
 *
 * Determinism
 * -----------
 * The random walk of each market draws from its own xoshiro256** generator, seeded by
 * splitmix64 from the config's seed and the market's index. Nothing else is random. The
 * same config and the same sequence of calls give byte-identical events (every event is
 * zeroed before it is filled, so even the padding is equal).
 *
 * Memory
 * ------
 * tl_sim_create() allocates everything, sized by the config, and touches it. No later
 * call allocates. Bounded histories: each market keeps its last `history_orders`
 * finished orders for order.status (older ones are forgotten: -2013), and for each
 * account its last `trades_per_account` trades for myTrades.
 *
 * Threads
 * -------
 * A sim is a single-threaded object: one thread makes every call on it, reads included.
 * No call locks, blocks or enters the kernel, except tl_sim_create / tl_sim_destroy.
 *
 * Results
 * -------
 * The calls that carry out requests (place, cancel, cancel_all, status, my_trades)
 * return:
 *    0         done;
 *    > 0       the venue rejects the request: the value is an enum tl_sim_reject, which
 *              tl_sim_reject_code() and tl_sim_reject_msg() turn into Binance's error
 *              code and message. Nothing changed and nothing was emitted.
 *    < 0       a negative errno: the caller broke the contract (a NULL pointer, a market
 *              or account index out of range, an enum value out of range). Nothing
 *              changed. The network side should have rejected such a request itself.
 * Everything that comes from a client (prices, quantities, ids, times) is validated and
 * gets a reject, never an assertion.
 */
#ifndef TL_SIM_ENGINE_H
#define TL_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_book.h" /* tl_px_t, tl_qty_t */

/* An amount of an asset, in units of 10^-TL_SIM_AMOUNT_DECIMALS. */
typedef struct {
	int64_t v;
} tl_sim_amount_t;

#define TL_SIM_AMOUNT_DECIMALS 8
#define TL_SIM_ASSETS_MAX 16
#define TL_SIM_MARKETS_MAX 8
#define TL_SIM_ASSET_NAME_MAX 15      /* longest asset name, e.g. "USDT" */
#define TL_SIM_SYMBOL_MAX 23          /* longest symbol, as tl_md.h */
#define TL_SIM_CLIENT_ID_MAX 36       /* newClientOrderId: ^[a-zA-Z0-9-_]{1,36}$ */
#define TL_SIM_DEPTH_LEVELS_MAX 5000u /* synthetic levels a side; the snapshot's limit */
#define TL_SIM_MOVE_TICKS_MAX 100000u /* largest step; a side takes 40 B per depth + step */
#define TL_SIM_ORDERS_MAX (1u << 24)  /* bound on the order pools */
#define TL_SIM_MY_TRADES_DEFAULT 500u /* myTrades limit when none is given */
#define TL_SIM_MY_TRADES_MAX 1000u    /* largest myTrades limit */
#define TL_SIM_WINDOW_MS_MAX 86400000 /* myTrades startTime..endTime: at most 24 h */
#define TL_SIM_NO_MARKET UINT32_MAX   /* tl_sim_event.market of account-level events */

/* ======================================================================================
 * Configuration
 * ====================================================================================== */

struct tl_sim_asset_config {
	char name[TL_SIM_ASSET_NAME_MAX + 1]; /* NUL-terminated, non-empty, unique */
	/* Precision, 0..8: fees in this asset are rounded down to 10^-decimals. Balances are
	 * still kept at 8 decimals (a fill leg may have more digits than the precision). */
	int decimals;
};

/*
 * The random walk that makes a market's synthetic book. Prices in ticks are multiples of
 * the market's tick_size. At each step:
 *   1. the bid anchor moves by a uniform draw in [-max_move_ticks, +max_move_ticks],
 *      clamped so that both windows stay within [min_px, max_px]; the ask anchor is
 *      spread_ticks above it;
 *   2. bids may exist only at the depth_levels prices from the bid anchor down, asks only
 *      at the depth_levels prices from the ask anchor up; levels that leave the window
 *      are removed. A price new to its window, and each other price with probability
 *      refresh_pct %, draws a new state: no level with probability empty_pct %, else a
 *      quantity uniform on the step grid in [level_qty_min, level_qty_max];
 *   3. synthetic liquidity that now crosses a resting client order trades with it (the
 *      client order is the maker, at its own price);
 *   4. 0..trades_max synthetic market orders (side and count uniform), each of a quantity
 *      uniform on the step grid in [step_size, trade_qty_max], sweep client orders and
 *      synthetic levels best price first, down to the far end of the window.
 * The anchors keep the sides apart, so the synthetic book is never crossed.
 */
struct tl_sim_walk_config {
	tl_px_t start_px;        /* first bid anchor: a multiple of tick_size in range */
	uint32_t spread_ticks;   /* 1..TL_SIM_MOVE_TICKS_MAX */
	uint32_t depth_levels;   /* 1..TL_SIM_DEPTH_LEVELS_MAX */
	uint32_t max_move_ticks; /* 0..TL_SIM_MOVE_TICKS_MAX */
	uint32_t refresh_pct;    /* 0..100 */
	uint32_t empty_pct;      /* 0..100 */
	/* step_size multiples, 0 < min <= max <= 2^48 (so sums of levels cannot overflow) */
	tl_qty_t level_qty_min, level_qty_max;
	uint32_t trades_max; /* 0..1000 */
	/* a step_size multiple in [step_size, 2^48] (checked only when trades_max > 0) */
	tl_qty_t trade_qty_max;
};

struct tl_sim_market_config {
	char symbol[TL_SIM_SYMBOL_MAX + 1]; /* NUL-terminated, non-empty, unique */
	uint32_t base_asset, quote_asset;   /* indexes into tl_sim_config.assets; distinct */
	int px_decimals, qty_decimals;      /* each >= 0, sum <= TL_SIM_AMOUNT_DECIMALS */
	/* PRICE_FILTER: a price is valid when min_px <= px <= max_px and px % tick_size ==
	 * 0. 0 < tick_size, min_px and max_px multiples of it, min_px <= max_px. */
	tl_px_t tick_size, min_px, max_px;
	/* LOT_SIZE: likewise for quantities. */
	tl_qty_t step_size, min_qty, max_qty;
	tl_sim_amount_t min_notional; /* NOTIONAL: px * qty as a quote amount >= this (>= 0) */
	uint32_t maker_fee_bp, taker_fee_bp; /* 0..10000 */
	uint32_t max_num_orders; /* MAX_NUM_ORDERS: open orders an account may have here, >= 1 */
	struct tl_sim_walk_config walk;
};

struct tl_sim_config {
	uint64_t seed;     /* the random walks' seed */
	uint32_t n_assets; /* 1..TL_SIM_ASSETS_MAX */
	struct tl_sim_asset_config assets[TL_SIM_ASSETS_MAX];
	uint32_t n_markets; /* 1..TL_SIM_MARKETS_MAX */
	struct tl_sim_market_config markets[TL_SIM_MARKETS_MAX];
	uint32_t max_accounts; /* 1..65536 */
	/* Per market: open orders of all accounts together (beyond it, -1008), finished
	 * orders kept for order.status, and each account's trades kept for myTrades. Each
	 * in 1..TL_SIM_ORDERS_MAX. */
	uint32_t max_open_orders;
	uint32_t history_orders;
	uint32_t trades_per_account;
};

/*
 * Fills *cfg with a working default: assets BTC and USDT (8 decimals each), one market
 * BTCUSDT shaped like Binance's (tick 0.01, step 0.00001, minNotional 5 USDT, maxPrice
 * 1000000, maxQty 9000; maker 1 bp, taker 2 bp; 200 open orders an account), a walk from
 * 60000.00 with a 1-tick spread, 100 levels a side and moves of up to 3 ticks; 64
 * accounts, and per market 16384 open orders, 65536 finished orders and 4096 trades an
 * account kept.
 * Thread: any. Blocks: no.
 */
void tl_sim_config_default(struct tl_sim_config *cfg);

/* ======================================================================================
 * Rejects: what the venue answers to a request it refuses (see "Results" above).
 * ====================================================================================== */

enum tl_sim_reject {
	TL_SIM_OK = 0,                   /* not a reject; named "NONE" (executionReport "r") */
	TL_SIM_REJ_INSUFFICIENT_BALANCE, /* -2010 */
	TL_SIM_REJ_WOULD_TAKE,           /* -2010: a LIMIT_MAKER that would cross */
	TL_SIM_REJ_DUPLICATE,            /* -2010: clientOrderId of an open order */
	TL_SIM_REJ_PRICE_FILTER,         /* -1013 */
	TL_SIM_REJ_LOT_SIZE,             /* -1013 */
	TL_SIM_REJ_NOTIONAL,             /* -1013: below minNotional, or px * qty overflows */
	TL_SIM_REJ_MAX_NUM_ORDERS,       /* -1013 */
	TL_SIM_REJ_MAX_POSITION,         /* -1013: receipts could overflow (see "Numbers") */
	TL_SIM_REJ_BAD_CLIENT_ID,        /* -1100: not ^[a-zA-Z0-9-_]{1,36}$ */
	TL_SIM_REJ_TIF_NOT_REQUIRED,     /* -1106: timeInForce sent with LIMIT_MAKER */
	TL_SIM_REJ_TIF_REQUIRED,         /* -1102: LIMIT without timeInForce */
	TL_SIM_REJ_NO_ORDER_REF,         /* -1102: neither orderId nor origClientOrderId */
	TL_SIM_REJ_BUSY,                 /* -1008: the market's open-order pool is full */
	TL_SIM_REJ_UNKNOWN_ORDER,        /* -2011: cancel of an order that is not open */
	TL_SIM_REJ_NO_SUCH_ORDER,        /* -2013: status of an order not known */
	TL_SIM_REJ_BAD_COMBINATION,      /* -1128: myTrades fromId with a time window */
	TL_SIM_REJ_WINDOW_TOO_LONG,      /* -1127: myTrades window over 24 h, or end < start */
	TL_SIM_REJECT_COUNT              /* not a reject: the number of values */
};

/* Binance's error code (-2010, ...) for a reject; 0 for TL_SIM_OK or an unknown value. */
int tl_sim_reject_code(int rej);
/* Binance's message for a reject ("Duplicate order sent."); a static string, never NULL.
 * Thread: any. Blocks: no. */
const char *tl_sim_reject_msg(int rej);

/* ======================================================================================
 * Orders and events
 * ====================================================================================== */

enum tl_sim_side { TL_SIM_BUY = 0, TL_SIM_SELL = 1 };
enum tl_sim_type { TL_SIM_LIMIT = 0, TL_SIM_LIMIT_MAKER = 1 };
/* TL_SIM_TIF_NONE: no timeInForce sent (required for LIMIT_MAKER). Events and order
 * records report a LIMIT_MAKER as GTC, as Binance does. */
enum tl_sim_tif { TL_SIM_TIF_NONE = 0, TL_SIM_GTC, TL_SIM_IOC, TL_SIM_FOK };
enum tl_sim_status {
	TL_SIM_ST_NEW = 0,
	TL_SIM_ST_PARTIALLY_FILLED,
	TL_SIM_ST_FILLED,
	TL_SIM_ST_CANCELED,
	TL_SIM_ST_EXPIRED,
};
enum tl_sim_exec { TL_SIM_X_NEW = 0, TL_SIM_X_CANCELED, TL_SIM_X_TRADE, TL_SIM_X_EXPIRED };

/* Binance's spelling of each value ("BUY", "LIMIT_MAKER", "PARTIALLY_FILLED", ...);
 * static strings, "?" for a value out of range. Thread: any. Blocks: no. */
const char *tl_sim_side_name(int side);
const char *tl_sim_type_name(int type);
const char *tl_sim_tif_name(int tif);
const char *tl_sim_status_name(int status);
const char *tl_sim_exec_name(int exec);

/* order.place. The strings are borrowed for the call only; they need no NUL. */
struct tl_sim_order_req {
	enum tl_sim_side side;
	enum tl_sim_type type;
	enum tl_sim_tif tif; /* LIMIT: GTC, IOC or FOK. LIMIT_MAKER: TL_SIM_TIF_NONE */
	tl_px_t px;
	tl_qty_t qty;
	/* newClientOrderId. Length 0: the sim names the order "sim-<orderId>", as Binance
	 * generates one; like any id, it is a duplicate if an open order already uses it. */
	const char *client_order_id;
	uint32_t client_order_id_len;
};

/* Which order a cancel or a status query means. With both set, the order is found by
 * orderId and must also carry that origClientOrderId (Binance's rule). */
struct tl_sim_order_ref {
	uint64_t order_id;                 /* 0: not given */
	const char *orig_client_order_id;  /* borrowed for the call */
	uint32_t orig_client_order_id_len; /* 0: not given */
	/* Cancels only: the cancel's own newClientOrderId, reported as "c" of the CANCELED
	 * executionReport. Length 0: the sim uses "cancel-<orderId>". Must be a valid id. */
	const char *new_client_order_id;
	uint32_t new_client_order_id_len;
};

/* An order as order.status, openOrders and the order ops report it. */
struct tl_sim_order {
	uint64_t order_id;
	uint32_t market, account;
	char client_order_id[TL_SIM_CLIENT_ID_MAX + 1]; /* NUL-terminated */
	uint8_t side, type, tif, status;                /* enum tl_sim_side, _type, _tif, _status */
	bool is_working; /* on the book: a GTC order, NEW or PARTIALLY_FILLED */
	tl_px_t px;
	tl_qty_t qty, executed_qty;
	tl_sim_amount_t cum_quote; /* cummulativeQuoteQty */
	int64_t time_ms;           /* created */
	int64_t update_ms;         /* last change */
};

/* An (asset, free, locked) triple. */
struct tl_sim_balance {
	uint32_t asset;
	tl_sim_amount_t free, locked;
};

/* One entry of myTrades. */
struct tl_sim_trade {
	uint64_t id, order_id;
	tl_px_t px;
	tl_qty_t qty;
	tl_sim_amount_t quote; /* quoteQty: px * qty */
	tl_sim_amount_t commission;
	uint32_t commission_asset; /* the asset received */
	bool is_buyer, is_maker;
	int64_t time_ms;
};

/* A price level of a depth event or snapshot; qty 0 (diffs only) removes the level. */
struct tl_sim_level {
	tl_px_t px;
	tl_qty_t qty;
};

enum tl_sim_event_kind {
	TL_SIM_EV_EXEC_REPORT = 1, /* user data: executionReport */
	TL_SIM_EV_POSITION,        /* user data: outboundAccountPosition */
	TL_SIM_EV_BALANCE_UPDATE,  /* user data: balanceUpdate (a deposit) */
	TL_SIM_EV_TRADE,           /* market data: <symbol>@trade */
	TL_SIM_EV_DEPTH,           /* market data: <symbol>@depth */
	TL_SIM_EV_BOOK_TICKER,     /* market data: <symbol>@bookTicker */
};

/* executionReport; the letters are Binance's keys. */
struct tl_sim_exec_report {
	uint32_t account;
	uint64_t order_id; /* i */
	/* c: the order's id; on CANCELED, the cancel's own id (then C holds the order's) */
	char client_order_id[TL_SIM_CLIENT_ID_MAX + 1];
	char orig_client_order_id[TL_SIM_CLIENT_ID_MAX + 1]; /* C: "" unless CANCELED */
	uint8_t side, type, tif;                             /* S, o, f */
	uint8_t exec_type;                                   /* x: enum tl_sim_exec */
	uint8_t status;                                      /* X: enum tl_sim_status */
	uint8_t reject;                                      /* r: always TL_SIM_OK ("NONE") */
	bool is_maker;                                       /* m */
	bool is_working;                                     /* w: as tl_sim_order's */
	tl_px_t px;                                          /* p */
	tl_qty_t qty;                                        /* q */
	tl_qty_t last_qty;                                   /* l: 0 unless TRADE */
	tl_px_t last_px;                                     /* L: 0 unless TRADE */
	tl_qty_t cum_qty;                                    /* z */
	tl_sim_amount_t cum_quote;                           /* Z */
	tl_sim_amount_t last_quote;                          /* Y: 0 unless TRADE */
	tl_sim_amount_t commission;                          /* n: 0 unless TRADE */
	int32_t commission_asset;                            /* N: an asset index; -1 = null */
	int64_t transact_ms;                                 /* T */
	int64_t trade_id;                                    /* t: -1 unless TRADE */
	int64_t create_ms;                                   /* O */
};

/* outboundAccountPosition: the account's balances of the assets that just changed. */
struct tl_sim_position {
	uint32_t account;
	uint32_t n; /* 1 or 2 */
	struct tl_sim_balance bal[2];
	int64_t update_ms; /* u */
};

/* balanceUpdate */
struct tl_sim_balance_update {
	uint32_t account, asset;
	tl_sim_amount_t delta; /* d */
	int64_t clear_ms;      /* T */
};

/* trade */
struct tl_sim_trade_print {
	uint64_t trade_id; /* t */
	tl_px_t px;        /* p */
	tl_qty_t qty;      /* q */
	bool buyer_maker;  /* m */
	int64_t trade_ms;  /* T */
};

/* depthUpdate. bids best first (descending), asks best first (ascending); each price at
 * most once a side. The arrays belong to the sim and are valid only during the callback
 * that receives the event. */
struct tl_sim_depth_update {
	uint64_t first_id, final_id; /* U, u: first_id is the previous event's final_id + 1 */
	const struct tl_sim_level *bids, *asks;
	uint32_t n_bids, n_asks;
};

/* bookTicker: the best synthetic levels as of update id u. A side with no level reads
 * as px 0, qty 0. */
struct tl_sim_book_ticker {
	uint64_t update_id; /* u */
	tl_px_t bid_px;
	tl_qty_t bid_qty;
	tl_px_t ask_px;
	tl_qty_t ask_qty;
};

struct tl_sim_event {
	enum tl_sim_event_kind kind;
	uint32_t market;  /* the symbol; TL_SIM_NO_MARKET for a deposit's events */
	int64_t event_ms; /* E */
	union {
		struct tl_sim_exec_report exec;
		struct tl_sim_position pos;
		struct tl_sim_balance_update bal;
		struct tl_sim_trade_print trade;
		struct tl_sim_depth_update depth;
		struct tl_sim_book_ticker ticker;
	} u;
};

/*
 * Where events go. fn gets each event, in the venue's order, during the call that makes
 * it; the event is the sim's, valid only during fn (copy what you keep). fn must not call
 * into the same sim. A NULL sink, or a NULL fn, discards the events.
 *
 * The order within one call:
 *   - place: executionReport NEW, then outboundAccountPosition (the lock); then for each
 *     taker fill: trade, executionReport TRADE, outboundAccountPosition; then, for an IOC
 *     or FOK that did not fill whole, executionReport EXPIRED, outboundAccountPosition.
 *   - cancel: executionReport CANCELED, outboundAccountPosition. cancel_all: the same
 *     pair for each order, by ascending orderId.
 *   - step: for each fill of a client order: trade, executionReport TRADE,
 *     outboundAccountPosition; a trade for each synthetic-only trade; then one
 *     depthUpdate (when any level changed since the last one), then one bookTicker.
 *   - deposit: balanceUpdate, outboundAccountPosition.
 */
typedef void (*tl_sim_emit_fn)(void *ctx, const struct tl_sim_event *ev);
struct tl_sim_sink {
	tl_sim_emit_fn fn;
	void *ctx;
};

/* ======================================================================================
 * Lifecycle
 * ====================================================================================== */

typedef struct tl_sim tl_sim_t;

/*
 * Creates a sim from *cfg (not kept) and stores it in *out: no accounts yet, and each
 * market's first synthetic book already drawn around walk.start_px. Drawing it takes
 * update ids 1..N (one a level); only a snapshot shows them, and the first depthUpdate
 * has U = N + 1.
 *
 * Returns 0, or:
 *   -EINVAL  out or cfg is NULL, or any config value is outside the ranges documented
 *            above (including a maxPrice * maxQty that overflows an amount);
 *   -ENOMEM  an allocation failed.
 * On error *out is untouched. The caller owns the sim; tl_sim_destroy() releases it and
 * ignores NULL.
 * Thread: any; the sim then belongs to the calling thread. Blocks: no, but it allocates
 * and touches all the pools, so call it at start-up. Per market: about 150 B per order
 * slot (max_open_orders + history_orders; the slot, its hash buckets and book entries),
 * and 64 B per kept trade (max_accounts * trades_per_account). The default config takes
 * about 30 MB.
 */
int tl_sim_create(tl_sim_t **out, const struct tl_sim_config *cfg);
void tl_sim_destroy(tl_sim_t *sim);

/*
 * Look-ups for the network side: the index of a market by symbol, or of an asset by name
 * (name[0..len), no NUL needed). Return the index (>= 0) or -ENOENT.
 * tl_sim_market_config() returns the market's config as created, owned by the sim and
 * valid until tl_sim_destroy (NULL for an index out of range): exchangeInfo's filters.
 * Thread: the owner. Blocks: no.
 */
int tl_sim_market_find(const tl_sim_t *sim, const char *symbol, size_t len);
int tl_sim_asset_find(const tl_sim_t *sim, const char *name, size_t len);
const struct tl_sim_market_config *tl_sim_market_config(const tl_sim_t *sim, uint32_t market);
/* The whole config as created (assets' names and decimals, markets, limits), owned by the
 * sim and valid until tl_sim_destroy; NULL for a NULL sim. */
const struct tl_sim_config *tl_sim_config_get(const tl_sim_t *sim);

/* ======================================================================================
 * Accounts
 * ====================================================================================== */

/*
 * tl_sim_account_create() opens an account with zero balances and returns its index
 * (0, 1, ...), or -ENOSPC when max_accounts are open. Accounts are never closed.
 *
 * tl_sim_account_deposit() credits amount (> 0) to the free balance of (account, asset)
 * and emits balanceUpdate and outboundAccountPosition. Returns 0, or -EINVAL (bad
 * account or asset, amount <= 0), or -ERANGE (the balance could overflow; see "Numbers").
 *
 * tl_sim_account_balance() copies one asset's balance into *out; tl_sim_account_balances()
 * copies all of them, by asset index, into out[0..cap), and returns how many assets there
 * are (it copies min(that, cap)). Both return -EINVAL for a bad account or asset.
 *
 * Thread: the owner. Blocks: no.
 */
int tl_sim_account_create(tl_sim_t *sim);
int tl_sim_account_deposit(tl_sim_t *sim, uint32_t account, uint32_t asset, tl_sim_amount_t amount,
                           int64_t now_ms, const struct tl_sim_sink *sink);
int tl_sim_account_balance(const tl_sim_t *sim, uint32_t account, uint32_t asset,
                           struct tl_sim_balance *out);
int tl_sim_account_balances(const tl_sim_t *sim, uint32_t account, struct tl_sim_balance *out,
                            uint32_t cap);

/* ======================================================================================
 * Market data
 * ====================================================================================== */

/*
 * tl_sim_market_step() advances a market's walk by one market-data interval (the caller's
 * clock decides how long that is: 100 ms for @depth@100ms), as described at struct
 * tl_sim_walk_config, and emits what it made (see struct tl_sim_sink for the order).
 * Returns 0 or -EINVAL (bad market).
 * Cost: O(depth_levels) plus the fills. Thread: the owner. Blocks: no.
 */
int tl_sim_market_step(tl_sim_t *sim, uint32_t market, int64_t now_ms,
                       const struct tl_sim_sink *sink);

/*
 * Capture replay: a market's background liquidity can follow a recorded book instead of
 * the walk (`tally sim --replay`). The caller replays the capture (tl_md.h) in step with
 * its clock, and hands each interval's outcome to tl_sim_market_replay_step(), which:
 *   1. plays each captured trade as flow: it fills client orders of the side it hit at
 *      its price or better (best first, as makers, up to its quantity), and what is left
 *      of it is printed as a public trade, as recorded. The synthetic book is not
 *      touched: the capture's depth events already say what the trade took;
 *   2. moves the bid anchor onto the captured best bid (clamped as the walk's is); the ask
 *      window follows spread_ticks above it, so with spread_ticks 1 every captured ask
 *      within depth_levels of the bid anchor fits. Prices that enter a window take the
 *      captured quantity. A move of more than max_move_ticks (a jump, or the capture
 *      starting over) first removes every level and publishes that, so the two windows
 *      never share a slot of the ring;
 *   3. sets every changed price inside the windows to its captured quantity (all of
 *      them when refresh_all);
 *   4. crosses client orders, then publishes the depthUpdate and bookTicker, as a walk
 *      step does.
 * Captured numbers are at the capture's scale (book_px_decimals, book_qty_decimals, at
 * least the market's: 8 and 8 parse any Binance capture exactly). They are brought to
 * the market's scale: a price off the market's tick grid is not shown, a quantity is
 * truncated to the step grid (so a level finer than one step disappears) and capped at
 * 2^48. So, with no client orders, the synthetic book after a step is exactly the
 * captured book, so converted, within the windows. A level a client took from keeps its
 * reduced quantity until the capture changes it. With book NULL (the capture is not in
 * sync) only the trades run and the synthetic book stays as it is. The walk's draws are
 * not used, so a replayed run is as deterministic as its capture.
 */
struct tl_sim_replay_trade {
	tl_px_t px;       /* at the capture's scale */
	tl_qty_t qty;     /* at the capture's scale */
	bool buyer_maker; /* "m": the seller was the aggressor */
};

struct tl_sim_replay_step {
	const tl_book_t *book;                   /* the captured book now; or NULL */
	int book_px_decimals, book_qty_decimals; /* its scale: market's..8 */
	const tl_px_t *changed[2]; /* by side (TL_SIM_BUY: bids): prices the capture changed */
	uint32_t n_changed[2];
	bool refresh_all; /* the capture's book was (re)built: take every window price */
	const struct tl_sim_replay_trade *trades;
	uint32_t n_trades;
};

/* Returns 0 or -EINVAL (bad market, NULL in, NULL arrays with counts, a scale below the
 * market's or above 8). Cost: O(depth_levels) when the anchor moves or refresh_all, else
 * O(changes); plus the trades. Thread: the owner. Blocks: no. */
int tl_sim_market_replay_step(tl_sim_t *sim, uint32_t market, const struct tl_sim_replay_step *in,
                              int64_t now_ms, const struct tl_sim_sink *sink);

/*
 * A REST /api/v3/depth snapshot: the synthetic book's best levels, up to `cap` a side, into
 * the caller's arrays, and the id of the last update it includes. Applying, by PROTOCOL.md's
 * algorithm, the depthUpdates with final_id > last_update_id rebuilds the exact book:
 * every change up to last_update_id is in the snapshot, every later one in an event whose
 * [U, u] covers it, and the first such event has U <= last_update_id + 1 (level changes
 * made since the last depthUpdate are re-published as absolute quantities in the next).
 */
struct tl_sim_depth {
	uint64_t last_update_id;
	struct tl_sim_level *bids, *asks; /* the caller's, cap entries each */
	uint32_t cap;                     /* set by the caller; 0..TL_SIM_DEPTH_LEVELS_MAX */
	uint32_t n_bids, n_asks;          /* set by the call */
};
/* Returns 0 or -EINVAL (bad market, NULL out, arrays NULL while cap > 0, cap too big).
 * Cost: O(depth_levels). Thread: the owner. Blocks: no. */
int tl_sim_depth_snapshot(const tl_sim_t *sim, uint32_t market, struct tl_sim_depth *out);

/* The current bookTicker (as the last step would have sent it, were it sent now).
 * Returns 0 or -EINVAL. Thread: the owner. Blocks: no. */
int tl_sim_book_ticker(const tl_sim_t *sim, uint32_t market, struct tl_sim_book_ticker *out);

/* ======================================================================================
 * Order entry and queries. See "Results" for the return values. `out` arguments may be
 * NULL where the caller does not want the copy; they are written only on success.
 * Thread: the owner. Blocks: no.
 * ====================================================================================== */

/*
 * order.place. Checks, in this order: the request's enums (-EINVAL), the client id
 * (BAD_CLIENT_ID), timeInForce (TIF_NOT_REQUIRED, TIF_REQUIRED), PRICE_FILTER, LOT_SIZE,
 * NOTIONAL, MAX_NUM_ORDERS, BUSY, DUPLICATE, WOULD_TAKE (LIMIT_MAKER only),
 * INSUFFICIENT_BALANCE (buy: px * qty of quote free; sell: qty of base free),
 * MAX_POSITION. Then it locks the reservation, gives the order the next orderId, and
 * matches it (see the model at the top). An IOC or FOK that expires is not a reject: it
 * returns 0 with status EXPIRED.
 * *out gets the order as it stands when the call returns (status NEW, PARTIALLY_FILLED,
 * FILLED or EXPIRED).
 * Cost: O(log levels) plus the taker fills, plus O(client price levels) to insert a new
 * price level (a memmove of 16 B each).
 */
int tl_sim_place(tl_sim_t *sim, uint32_t market, uint32_t account,
                 const struct tl_sim_order_req *req, int64_t now_ms, const struct tl_sim_sink *sink,
                 struct tl_sim_order *out);

/*
 * order.cancel: cancels one open order of the account on this market, releases its
 * reservation, and copies it (status CANCELED) into *out. Rejects: NO_ORDER_REF (neither
 * ref given), BAD_CLIENT_ID (new_client_order_id not valid), UNKNOWN_ORDER (no such
 * open order of this account: never placed, another account's, or already done).
 */
int tl_sim_cancel(tl_sim_t *sim, uint32_t market, uint32_t account,
                  const struct tl_sim_order_ref *ref, int64_t now_ms,
                  const struct tl_sim_sink *sink, struct tl_sim_order *out);

/*
 * openOrders.cancelAll: cancels every open order of the account on this market, by
 * ascending orderId, copying the first `cap` of them into out[] (out may be NULL when cap
 * is 0); *n_canceled (may be NULL) gets how many were canceled. UNKNOWN_ORDER when the
 * account had none open (what Binance answers).
 */
int tl_sim_cancel_all(tl_sim_t *sim, uint32_t market, uint32_t account, int64_t now_ms,
                      const struct tl_sim_sink *sink, struct tl_sim_order *out, uint32_t cap,
                      uint32_t *n_canceled);

/*
 * order.status: the account's order, open or finished. By origClientOrderId it is the most
 * recent order with that id. Rejects: NO_ORDER_REF, NO_SUCH_ORDER (never placed, another
 * account's, or finished and already dropped from the bounded history).
 */
int tl_sim_order_status(const tl_sim_t *sim, uint32_t market, uint32_t account,
                        const struct tl_sim_order_ref *ref, struct tl_sim_order *out);

/*
 * openOrders.status: the account's open orders on this market, by ascending orderId, into
 * out[0..cap). Returns how many are open (>= 0; it copies min(that, cap)), or -EINVAL.
 */
int tl_sim_open_orders(const tl_sim_t *sim, uint32_t market, uint32_t account,
                       struct tl_sim_order *out, uint32_t cap);

/*
 * myTrades of one account on one market, ascending by id, from the kept history (the last
 * trades_per_account). With from_id: the trades with id >= from_id. With a window: the
 * trades with start_ms <= time <= end_ms (a missing bound is the other one -/+ 24 h), from
 * the earliest. With neither: the most recent ones. At most min(limit, cap) of them,
 * where limit 0 means TL_SIM_MY_TRADES_DEFAULT and a limit above TL_SIM_MY_TRADES_MAX
 * counts as the maximum; *n (may be NULL) gets the count copied. out may be NULL when cap
 * is 0. Rejects: BAD_COMBINATION (from_id and a window), WINDOW_TOO_LONG (end - start
 * > 24 h, or end < start).
 * Cost: O(log kept + returned).
 */
struct tl_sim_trades_query {
	uint64_t from_id; /* 0: not given */
	bool has_start, has_end;
	int64_t start_ms, end_ms;
	uint32_t limit;
};
int tl_sim_my_trades(const tl_sim_t *sim, uint32_t market, uint32_t account,
                     const struct tl_sim_trades_query *q, struct tl_sim_trade *out, uint32_t cap,
                     uint32_t *n);

#endif /* TL_SIM_ENGINE_H */
