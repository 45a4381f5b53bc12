/*
 * tl_venue.h: the user thread's side of the venue protocol (PROTOCOL.md "Order entry",
 * "User data", "Back-fill", "Limits and errors"). No networking here: pure functions
 * over caller buffers, plus the rate limiter, whose time is passed in.
 *
 * Sections:
 *   signing     HMAC-SHA256 with the key's inner and outer SHA-256 states computed once
 *   requests    signed WS API requests (order.place, order.cancel, order.status,
 *               openOrders.cancelAll, openOrders.status, userDataStream.subscribe.signature)
 *               and the signed REST myTrades request target
 *   parsing     WS API responses and user-data events into fixed-size structs; the
 *               myTrades and order-array results into caller arrays; exchangeInfo's
 *               rateLimits
 *   outcomes    accepted, rejected, unknown or rate-limited: what a response means
 *   limiter     the venue's REQUEST_WEIGHT and ORDERS limits, corrected by its counts,
 *               with back-off on -1003, -1015, 429 and 418
 *
 * Untrusted input: every byte handed to a parse call comes from the network. Nothing in
 * this module asserts on it; a bad message is an error result.
 *
 * Numbers (DESIGN.md §3): prices are tl_px_t and quantities tl_qty_t, each counting units
 * of 10^-decimals at the instrument's scale (struct tl_md_scale, as in tl_md.h); amounts of
 * an asset (balances, commissions, quote quantities) are int64 counting units of
 * 10^-asset_decimals, in fields named *_units. A decimal string that is not exact at its
 * scale is rejected, never rounded. No floating point anywhere.
 *
 * Memory: nothing here allocates, except tl_venue_signer_create (once, at start-up).
 * Requests are written into the caller's buffer; parsed messages are copied into the
 * caller's fixed-size structs (strings are copied, NUL-terminated: no pointer into the
 * input outlives the call).
 *
 * Errors: 0 (or a length) on success, a negative errno on failure, as liburing does;
 * tl_strerror() names them.
 */
#ifndef TL_VENUE_H
#define TL_VENUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tl_error.h"
#include "tl_md.h" /* struct tl_md_scale, TL_MD_SYMBOL_MAX, tl_px_t, tl_qty_t */

/* Longest client order id (PROTOCOL.md: ^[a-zA-Z0-9-_]{1,36}$). */
#define TL_VENUE_CLIENT_ID_MAX 36
/* Longest API key accepted (Binance's are 64 characters). */
#define TL_VENUE_API_KEY_MAX 128
/* Longest asset name kept ("USDT", "1000SATS"). */
#define TL_VENUE_ASSET_MAX 15
/* Balances one outboundAccountPosition may carry; more is -E2BIG. */
#define TL_VENUE_BALANCES_MAX 16
/* rateLimits entries kept from one response or exchangeInfo. */
#define TL_VENUE_RATE_LIMITS_MAX 8
/* Bytes of an error message or reject reason kept (cut beyond, see the fields). */
#define TL_VENUE_ERROR_MSG_MAX 127
#define TL_VENUE_REASON_MAX 47
/* recvWindow (PROTOCOL.md): the venue's default and maximum, in ms. */
#define TL_VENUE_RECV_WINDOW_DEFAULT_MS 5000u
#define TL_VENUE_RECV_WINDOW_MAX_MS 60000u
/* An HMAC-SHA256 written in hex, without its NUL. */
#define TL_VENUE_SIG_HEX_LEN 64
/* Largest message a parse call takes (offsets are kept in 32 bits). */
#define TL_VENUE_MAX_LEN 0x7fffffffu
/* Deepest nesting of objects and arrays accepted. */
#define TL_VENUE_MAX_DEPTH 64

/* ======================================================================================
 * Signing: HMAC-SHA256 (RFC 2104) of the request's parameters with the API secret.
 *
 * The key's two SHA-256 states, after absorbing key^ipad and key^opad, are computed once
 * in create. Each signature then copies the two states and hashes only the payload and
 * the inner digest: two SHA-256 compressions fewer than a plain HMAC, and no key schedule.
 * The hashing is nettle's, which uses the CPU's SHA extensions where it has them.
 * ====================================================================================== */

typedef struct tl_venue_signer tl_venue_signer_t;

/*
 * Creates a signer for the secret key[0..len) (any bytes; a key longer than 64 bytes is
 * hashed first, as RFC 2104 says). The key is not kept: only the two hash states are.
 *
 * Returns 0 and sets *out, or -EINVAL (NULL out or key, len 0 or above 2^32 - 1) or
 * -ENOMEM. The caller owns the signer and releases it with
 * tl_venue_signer_destroy(). Thread: any. Blocks: no. Allocates: once.
 */
int tl_venue_signer_create(tl_venue_signer_t **out, const void *key, size_t len);

/* Wipes the key states and frees the signer; NULL is a no-op. Thread: the owner's. */
void tl_venue_signer_destroy(tl_venue_signer_t *s);

/*
 * HMAC-SHA256 of payload[0..len) under the signer's key, written into hex[0..65) as 64
 * lower-case hex digits and a NUL. Returns 0 or -EINVAL (NULL argument, len above
 * 2^32 - 1; hex is then unspecified).
 * Thread: any; the signer is only read, so threads may share one. Blocks: no.
 */
int tl_venue_sign(const tl_venue_signer_t *s, const void *payload, size_t len,
                  char hex[TL_VENUE_SIG_HEX_LEN + 1]);

/* ======================================================================================
 * Requests. Thread: any (pure functions over the caller's buffer). Blocks: no.
 *
 * Every builder writes one whole request into out[0..cap), NUL-terminated, and returns
 * its length without the NUL; or:
 *   -EINVAL   an argument is out of its documented range (below), a string that would
 *             need escaping in JSON or encoding in a URL, or out NULL;
 *   -ENOBUFS  out cannot hold the request and its NUL (out is then unspecified).
 * out may not overlap any argument.
 *
 * Strings sent: a symbol is [A-Za-z0-9._-]{1,TL_MD_SYMBOL_MAX}; a client order id is
 * [A-Za-z0-9_-]{1,36} (PROTOCOL.md's rule; Binance also takes '.', but the simulator and
 * DESIGN.md §3 do not); an API key is [A-Za-z0-9._-]{1,TL_VENUE_API_KEY_MAX}. None of
 * these needs escaping in JSON, in the signature payload or in a URL.
 *
 * A WS API request is {"id":<id>,"method":"<method>","params":{...}}: the params in the
 * order of their names, then "signature". The signature is the HMAC of every param but
 * "signature", sorted by name (byte order) and joined as k=v&k=v (PROTOCOL.md "Signing"),
 * each value as written in the JSON without its quotes. Keep ids below 2^63: Binance
 * reads them as signed 64-bit integers.
 * ====================================================================================== */

/* What every signed request carries. */
struct tl_venue_auth {
	const tl_venue_signer_t *signer; /* borrowed for the call */
	const char *api_key;             /* NUL-terminated */
	/* The venue's clock in ms, as the caller estimates it (wall clock plus the measured
	 * offset). The venue refuses timestamp >= server_time + 1000 and
	 * server_time - timestamp > recvWindow (-1021). Must be > 0. */
	int64_t timestamp_ms;
	/* 1..TL_VENUE_RECV_WINDOW_MAX_MS; 0 means TL_VENUE_RECV_WINDOW_DEFAULT_MS. Always
	 * sent, so the window in force is the one written here. */
	uint32_t recv_window_ms;
};

/* A JSON enum's text, for these and the parsed fields. 0 is "absent or not known". */
enum tl_venue_side { TL_VENUE_SIDE_NONE = 0, TL_VENUE_BUY, TL_VENUE_SELL };

enum tl_venue_order_type {
	TL_VENUE_TYPE_OTHER = 0, /* parsed: a type this module does not name */
	TL_VENUE_LIMIT,
	TL_VENUE_LIMIT_MAKER, /* post-only: -2010 if it would cross */
	TL_VENUE_MARKET,
	TL_VENUE_STOP_LOSS,
	TL_VENUE_STOP_LOSS_LIMIT,
	TL_VENUE_TAKE_PROFIT,
	TL_VENUE_TAKE_PROFIT_LIMIT,
};

enum tl_venue_tif { TL_VENUE_TIF_NONE = 0, TL_VENUE_GTC, TL_VENUE_IOC, TL_VENUE_FOK };

/* newOrderRespType. Fills reach the engine as executionReports whatever this says. */
enum tl_venue_resp_type { TL_VENUE_RESP_ACK = 0, TL_VENUE_RESP_RESULT, TL_VENUE_RESP_FULL };

struct tl_venue_order_req {
	const char *symbol;            /* NUL-terminated */
	const char *client_order_id;   /* newClientOrderId, the intent's idempotency key */
	enum tl_venue_side side;       /* BUY or SELL */
	enum tl_venue_order_type type; /* TL_VENUE_LIMIT or TL_VENUE_LIMIT_MAKER only */
	/* LIMIT: GTC, IOC or FOK. LIMIT_MAKER: TL_VENUE_TIF_NONE (the venue takes none). */
	enum tl_venue_tif tif;
	tl_px_t px;               /* > 0, at scale.px_decimals */
	tl_qty_t qty;             /* > 0, at scale.qty_decimals */
	struct tl_md_scale scale; /* each in [0, TL_MD_DEC_MAX_DECIMALS] */
	enum tl_venue_resp_type resp_type;
};

/*
 * order.place. Params: apiKey, newClientOrderId, newOrderRespType, price, quantity,
 * recvWindow, side, symbol, timeInForce (LIMIT only), timestamp, type. The price and
 * quantity are written with exactly scale's decimals ("52000.00", "0.01000000").
 */
ssize_t tl_venue_build_order_place(char *out, size_t cap, uint64_t id,
                                   const struct tl_venue_auth *auth,
                                   const struct tl_venue_order_req *req);

/* One order, by the venue's id, the client's id, or both (the venue then checks that
 * they name the same order). */
struct tl_venue_order_ref {
	const char *symbol;
	uint64_t order_id;                /* 0: not sent */
	const char *orig_client_order_id; /* NULL: not sent */
};

/* order.cancel: symbol plus orderId and/or origClientOrderId (at least one, else
 * -EINVAL). An unknown order is -2011. */
ssize_t tl_venue_build_order_cancel(char *out, size_t cap, uint64_t id,
                                    const struct tl_venue_auth *auth,
                                    const struct tl_venue_order_ref *ref);

/* order.status: as order.cancel. */
ssize_t tl_venue_build_order_status(char *out, size_t cap, uint64_t id,
                                    const struct tl_venue_auth *auth,
                                    const struct tl_venue_order_ref *ref);

/* openOrders.cancelAll for one symbol (required). */
ssize_t tl_venue_build_cancel_all(char *out, size_t cap, uint64_t id,
                                  const struct tl_venue_auth *auth, const char *symbol);

/* openOrders.status for one symbol (required: PROTOCOL.md asks by symbol). */
ssize_t tl_venue_build_open_orders(char *out, size_t cap, uint64_t id,
                                   const struct tl_venue_auth *auth, const char *symbol);

/*
 * userDataStream.subscribe.signature: apiKey, timestamp and signature only, as
 * PROTOCOL.md lists them (auth->recv_window_ms is not used). The result is
 * {"subscriptionId":N}; events then arrive wrapped as {"subscriptionId":N,"event":{..}}.
 */
ssize_t tl_venue_build_subscribe(char *out, size_t cap, uint64_t id,
                                 const struct tl_venue_auth *auth);

/*
 * A request built and signed ahead of time, sent later under another id: the id is not
 * signed (it is outside "params"), so a request built with id 0 becomes the same request
 * with `id` by rewriting its head alone. `req` is a whole request of len bytes, as the
 * builders above write it with id 0. The engine signs the cancel of each order it places
 * this way, so that a cancel, the reaction that most often follows a book change, leaves
 * without being built or signed (engine.c "pre-signed cancels"); the venue still takes it
 * as long as its timestamp is within recvWindow. Returns as the builders, and -EINVAL when
 * req does not start with {"id":0, (so a request can never carry two ids).
 */
ssize_t tl_venue_request_with_id(char *out, size_t cap, const char *req, size_t len, uint64_t id);

/* One parameter of tl_venue_build_signed. */
struct tl_venue_param {
	const char *key;   /* [A-Za-z]{1,32} */
	const char *value; /* [A-Za-z0-9._-]{1,128} (a number is written as digits) */
	bool quoted;       /* a JSON string ("BUY"), or a bare JSON number (1645423376532) */
};

/*
 * Any signed WS API request: params[0..n) in any order (n <= 16, keys distinct, none named
 * "signature"); apiKey, timestamp and recvWindow are whatever the caller puts in params.
 * `method` is [A-Za-z.]{1,64}. The builders above are this with their params; it exists
 * for the methods they do not cover, and so that PROTOCOL.md's signing vector can be
 * checked end to end. Returns as the other builders.
 */
ssize_t tl_venue_build_signed(char *out, size_t cap, uint64_t id, const char *method,
                              const struct tl_venue_param *params, size_t n,
                              const tl_venue_signer_t *signer);

/* How a myTrades back-fill picks its trades (PROTOCOL.md "Back-fill"). */
enum tl_venue_trades_by {
	TL_VENUE_TRADES_FROM_ID = 1, /* trade ids >= from_id, the high-water mark */
	TL_VENUE_TRADES_ORDER_ID,    /* the trades of one order */
	TL_VENUE_TRADES_WINDOW,      /* start_ms and/or end_ms, at most 24 h apart */
};

struct tl_venue_trades_req {
	const char *symbol;
	enum tl_venue_trades_by by;
	uint64_t from_id;  /* FROM_ID: any value, 0 included */
	uint64_t order_id; /* ORDER_ID: > 0 */
	/* WINDOW: each 0 (not sent) or > 0, not both 0, and end_ms - start_ms <= 24 h
	 * when both are sent. */
	int64_t start_ms, end_ms;
	uint32_t limit; /* 0: not sent (the venue's default, 500); else 1..1000 */
};

/*
 * The request target of GET /api/v3/myTrades, signed:
 *   /api/v3/myTrades?<params>&signature=<hex>
 * where <params> are endTime, fromId, limit, orderId, recvWindow, startTime, symbol,
 * timestamp (those sent), in that order. REST signs the query string as written
 * (PROTOCOL.md); writing it sorted means a venue that sorts before checking agrees too.
 * The API key is not in the target: send it as the X-MBX-APIKEY header (the key must
 * pass the same check as auth->api_key, which is validated here). Returns as the other
 * builders. Weight 20 (Binance; 5 with orderId).
 */
ssize_t tl_venue_build_my_trades(char *out, size_t cap, const struct tl_venue_auth *auth,
                                 const struct tl_venue_trades_req *req);

/* ======================================================================================
 * Parsing.
 * Thread: any (pure functions). Blocks: no.
 *
 * Common rules, for every parse call:
 *   - The input is json[0..len), not NUL-terminated; nothing past it is read. It must be
 *     one RFC 8259 JSON value (an object, or for the array forms an array) with only
 *     whitespace around it, at most TL_VENUE_MAX_DEPTH deep, at most TL_VENUE_MAX_LEN
 *     bytes (-E2BIG beyond).
 *   - Keys may come in any order; a key that repeats counts last; unknown keys are
 *     skipped whatever their value, after checking its grammar; a key holding an escape
 *     is unknown.
 *   - Errors: -EBADMSG for bad JSON, or a field this module uses that is missing, of the
 *     wrong JSON type, holding an escape (except the error and reject-reason texts), an
 *     enum text it must know (side) but does not, a malformed decimal or a string longer
 *     than its field; -EDOM for a decimal not exact at its scale; -ERANGE for a number
 *     beyond its type (a negative id, say); -E2BIG as said per call. The first bad field
 *     in the order the kind's documentation lists them gives the error. -EINVAL is the
 *     caller's: a NULL argument, or a config whose scales are outside
 *     [0, TL_MD_DEC_MAX_DECIMALS].
 *   - On error the output is unspecified except where said, and nothing is kept: every
 *     call starts afresh.
 * ====================================================================================== */

/* One instrument: its symbol and the scale of its prices and quantities. */
struct tl_venue_instrument {
	char symbol[TL_MD_SYMBOL_MAX + 1];
	struct tl_md_scale scale;
};

struct tl_venue_parse_config {
	/* The engine's instruments, borrowed for each call. A symbol not listed is parsed
	 * at `fallback_scale` (Binance writes 8 decimals, so 8/8 is always exact), and the
	 * result says so (instrument_known false, scale). */
	const struct tl_venue_instrument *instruments;
	size_t n_instruments;
	struct tl_md_scale fallback_scale;
	int asset_decimals; /* balances, commissions, quote quantities: 8 for Binance */
};

/* Fills *cfg: no instrument, fallback 8/8, asset_decimals 8. */
void tl_venue_parse_config_default(struct tl_venue_parse_config *cfg);

enum tl_venue_exec_type {
	TL_VENUE_EXEC_UNKNOWN = 0, /* a text this module does not name */
	TL_VENUE_EXEC_NEW,
	TL_VENUE_EXEC_CANCELED,
	TL_VENUE_EXEC_REPLACED,
	TL_VENUE_EXEC_REJECTED,
	TL_VENUE_EXEC_TRADE,
	TL_VENUE_EXEC_EXPIRED,
	TL_VENUE_EXEC_TRADE_PREVENTION,
};

enum tl_venue_order_status {
	TL_VENUE_STATUS_UNKNOWN = 0, /* a text this module does not name */
	TL_VENUE_STATUS_NEW,
	TL_VENUE_STATUS_PARTIALLY_FILLED,
	TL_VENUE_STATUS_FILLED,
	TL_VENUE_STATUS_CANCELED,
	TL_VENUE_STATUS_PENDING_CANCEL,
	TL_VENUE_STATUS_REJECTED,
	TL_VENUE_STATUS_EXPIRED,
	TL_VENUE_STATUS_EXPIRED_IN_MATCH,
	TL_VENUE_STATUS_PENDING_NEW,
};

enum tl_venue_limit_type {
	TL_VENUE_LIMIT_OTHER = 0, /* a type this module does not name */
	TL_VENUE_LIMIT_REQUEST_WEIGHT,
	TL_VENUE_LIMIT_ORDERS,
	TL_VENUE_LIMIT_RAW_REQUESTS,
};

/* One entry of a "rateLimits" array. */
struct tl_venue_rate_limit {
	enum tl_venue_limit_type type;
	/* intervalNum x interval ("SECOND", "MINUTE", "HOUR", "DAY"); 0 when the interval
	 * text is not one of those. */
	int64_t window_ms;
	uint32_t interval_num; /* >= 1 */
	int64_t limit;         /* >= 0; -1 when not given (REST usage headers) */
	int64_t count;         /* usage the venue reports; -1 when absent (exchangeInfo) */
};

/* An order as a response's "result" gives it (order.place, order.cancel, order.status,
 * and each element of openOrders.status / openOrders.cancelAll). */
struct tl_venue_order {
	char symbol[TL_MD_SYMBOL_MAX + 1];
	bool instrument_known;    /* symbol is in the config; else values at fallback */
	struct tl_md_scale scale; /* the scale px and the quantities are at */
	uint64_t order_id;
	/* "clientOrderId". For order.cancel this is the cancel's own id; the cancelled
	 * order's id is orig_client_order_id. */
	char client_order_id[TL_VENUE_CLIENT_ID_MAX + 1];
	char orig_client_order_id[TL_VENUE_CLIENT_ID_MAX + 1]; /* "" when absent */
	int64_t transact_ms; /* "transactTime"; 0 when absent (order.status) */
	int64_t update_ms;   /* "updateTime"; 0 when absent (order.place, order.cancel) */
	/* The rest is there when `detailed` (RESULT, FULL, cancel, status); an ACK has only
	 * the fields above. "fills" of a FULL response is skipped: fills reach the engine as
	 * executionReports, the one path that is deduplicated by trade id. */
	bool detailed;
	enum tl_venue_order_status status;
	enum tl_venue_side side;
	enum tl_venue_order_type type;
	enum tl_venue_tif tif; /* NONE when absent */
	tl_px_t px;
	tl_qty_t orig_qty, executed_qty;
	int64_t cum_quote_units; /* "cummulativeQuoteQty" (sic), at asset_decimals */
};

/* What a response's "result" held. */
enum tl_venue_result_kind {
	TL_VENUE_RESULT_NONE = 0,     /* no "result" (an error response) */
	TL_VENUE_RESULT_ORDER,        /* an object with "orderId": `order` */
	TL_VENUE_RESULT_SUBSCRIPTION, /* an object with "subscriptionId" */
	TL_VENUE_RESULT_ARRAY,        /* an array (openOrders.*, myTrades): n_results elements */
	TL_VENUE_RESULT_OTHER,        /* anything else: not looked into */
};

/* A WS API response {"id":..,"status":..,"result"|"error":..,"rateLimits":[..]}. */
struct tl_venue_response {
	/* "id" when it is an integer (the builders send integers). has_id is false for a
	 * string or null id (null: the venue could not read the request). */
	bool has_id;
	uint64_t id;
	int32_t status; /* HTTP-style: 200, 4xx, 5xx; for REST, the caller's HTTP status */
	bool has_error;
	int32_t error_code; /* "error"."code" (REST: "code"), e.g. -2010; 0 when none */
	/* "error"."msg" as written (escapes left as they are), cut to fit; for logs. */
	char error_msg[TL_VENUE_ERROR_MSG_MAX + 1];
	/* "error"."data": the venue's clock when it answered, and when a rate-limited or
	 * banned client may send again (both ms, 0 when absent). */
	int64_t server_time_ms, retry_after_ms;
	/* How long to wait: retry_after_ms - server_time_ms when both are there (the venue's
	 * own clock on both sides, so no clock offset enters), or REST's Retry-After header
	 * in ms (tl_venue_response_rest_header); else 0 (not said). Never negative. */
	int64_t retry_wait_ms;
	enum tl_venue_result_kind result_kind;
	uint64_t subscription_id;    /* RESULT_SUBSCRIPTION */
	uint32_t n_results;          /* RESULT_ARRAY */
	struct tl_venue_order order; /* RESULT_ORDER */
	/* "rateLimits": the first TL_VENUE_RATE_LIMITS_MAX entries; more are counted in
	 * n_limits_dropped, not refused (an ack must not be lost over its accounting). */
	uint32_t n_limits, n_limits_dropped;
	struct tl_venue_rate_limit limits[TL_VENUE_RATE_LIMITS_MAX];
};

/* An executionReport event (PROTOCOL.md's table; the Binance key in brackets). */
struct tl_venue_exec_report {
	char symbol[TL_MD_SYMBOL_MAX + 1]; /* [s] */
	bool instrument_known;
	struct tl_md_scale scale;
	/* [c]. On a cancel this is the cancel request's id, and the cancelled order's own
	 * id is orig_client_order_id [C] ("" on anything but a cancel). */
	char client_order_id[TL_VENUE_CLIENT_ID_MAX + 1];
	char orig_client_order_id[TL_VENUE_CLIENT_ID_MAX + 1];
	uint64_t order_id;                 /* [i] */
	enum tl_venue_side side;           /* [S] */
	enum tl_venue_order_type type;     /* [o] */
	enum tl_venue_tif tif;             /* [f], NONE when absent */
	enum tl_venue_exec_type exec_type; /* [x] */
	enum tl_venue_order_status status; /* [X] */
	/* [r], "NONE" unless rejected; cut to fit. */
	char reject_reason[TL_VENUE_REASON_MAX + 1];
	tl_px_t px;                                    /* [p] */
	tl_qty_t qty;                                  /* [q] */
	tl_qty_t last_qty;                             /* [l] */
	tl_px_t last_px;                               /* [L] */
	tl_qty_t cum_qty;                              /* [z] */
	int64_t cum_quote_units;                       /* [Z], at asset_decimals */
	int64_t last_quote_units;                      /* [Y], at asset_decimals; 0 when absent */
	int64_t commission_units;                      /* [n], at asset_decimals */
	char commission_asset[TL_VENUE_ASSET_MAX + 1]; /* [N], "" when null */
	bool has_trade;                                /* [t] is a trade id (not -1) */
	uint64_t trade_id;                             /* [t] when has_trade, else 0 */
	bool is_maker;                                 /* [m] */
	bool is_working;                               /* [w], false when absent */
	int64_t event_ms;                              /* [E] */
	int64_t transact_ms;                           /* [T] */
	int64_t created_ms;                            /* [O], 0 when absent */
};

struct tl_venue_balance {
	char asset[TL_VENUE_ASSET_MAX + 1]; /* [a] */
	int64_t free_units;                 /* [f], at asset_decimals */
	int64_t locked_units;               /* [l], at asset_decimals */
};

/* outboundAccountPosition: the venue's balances of the assets an event touched, the
 * `confirmed` side of reconciliation. */
struct tl_venue_account_position {
	int64_t event_ms;  /* [E] */
	int64_t update_ms; /* [u]: time of the account's last update */
	uint32_t n_balances;
	struct tl_venue_balance balances[TL_VENUE_BALANCES_MAX]; /* [B], in message order */
};

/* balanceUpdate: a deposit, withdrawal or transfer moved one asset. */
struct tl_venue_balance_update {
	char asset[TL_VENUE_ASSET_MAX + 1]; /* [a] */
	int64_t delta_units;                /* [d], signed, at asset_decimals */
	int64_t event_ms;                   /* [E] */
	int64_t clear_ms;                   /* [T] */
};

enum tl_venue_msg_kind {
	TL_VENUE_MSG_NONE = 0,          /* set on any error */
	TL_VENUE_MSG_RESPONSE,          /* `response` */
	TL_VENUE_MSG_EXEC_REPORT,       /* `exec` */
	TL_VENUE_MSG_ACCOUNT_POSITION,  /* `position` */
	TL_VENUE_MSG_BALANCE_UPDATE,    /* `balance` */
	TL_VENUE_MSG_STREAM_TERMINATED, /* eventStreamTerminated: subscribe again */
	TL_VENUE_MSG_SERVER_SHUTDOWN,   /* serverShutdown: reconnect soon */
	TL_VENUE_MSG_OTHER_EVENT,       /* an event this module does not read (listStatus...) */
	TL_VENUE_MSG_OTHER,             /* a JSON object that is neither event nor response */
};

/* One parsed WS API message. Only the member of its kind is set. */
struct tl_venue_msg {
	enum tl_venue_msg_kind kind;
	/* The event wrapper's "subscriptionId", when the event came wrapped. */
	bool has_subscription;
	uint64_t subscription_id;
	int64_t event_ms; /* any event's [E] (0 when absent on an OTHER_EVENT) */
	union {
		struct tl_venue_response response;
		struct tl_venue_exec_report exec;
		struct tl_venue_account_position position;
		struct tl_venue_balance_update balance;
	};
};

/*
 * Parses one WS API text message into *out.
 *
 * What it is:
 *   - {"subscriptionId":N,"event":{..}} or {"event":{..}}: an event (the first "event"
 *     key whose value is an object counts; the wrapper's other keys are skipped, except
 *     "subscriptionId", which must then be an integer >= 0);
 *   - an object with "e": a bare event (serverShutdown may come so);
 *   - an object with "status" or "id": a response;
 *   - any other object: TL_VENUE_MSG_OTHER.
 * Events, by "e" (a string):
 *   executionReport: s c S o x X i q p l z L n T t m Z E required (in that order); f C r N
 *     Y w O optional, checked when present. S must be BUY or SELL; o, f, x, X may be
 *     texts this module does not name (0). t is -1 or a trade id. N is a string or null.
 *   outboundAccountPosition: E u B required; B an array of {a, f, l}; more than
 *     TL_VENUE_BALANCES_MAX is -E2BIG.
 *   balanceUpdate: a d E T required; d may be negative ("-1.5").
 *   eventStreamTerminated, serverShutdown: E required.
 *   anything else: OTHER_EVENT; E checked when present.
 * Responses: "status" is required (an integer in 100..599); "id" may be an integer, a
 *   string or null; "error", when present, is an object with an integer "code" and
 *   maybe a string "msg" and a "data" object (integers "retryAfter", "serverTime");
 *   "rateLimits", when present, an array of objects with rateLimitType, interval (strings),
 *   intervalNum, limit (integers) and maybe count; "result" as enum tl_venue_result_kind
 *   says: an order needs symbol, orderId, clientOrderId, and when "status" is present
 *   (the detailed forms) also price, origQty, executedQty, cummulativeQuoteQty, side and
 *   type; origClientOrderId, transactTime, updateTime, timeInForce are checked when
 *   present.
 * Returns 0 or the common errors; on error out->kind is TL_VENUE_MSG_NONE.
 */
int tl_venue_parse(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                   struct tl_venue_msg *out);

/*
 * The balances of an account.status response ({"result":{"balances":[{"asset","free",
 * "locked"},..]},..}) into *out (event_ms and update_ms 0), amounts at cfg->asset_decimals.
 * For start-up and reconciliation, not the hot path: it allocates a token array. Returns
 * 0, -EINVAL (not such a response, or a bad field), -E2BIG (more than
 * TL_VENUE_BALANCES_MAX assets or a very large response), -ERANGE / -EDOM (an amount out
 * of range or with more decimals), -ENOMEM. On error *out is zeroed.
 */
int tl_venue_parse_account(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                           struct tl_venue_account_position *out);

/* One trade of a myTrades answer. */
struct tl_venue_trade {
	char symbol[TL_MD_SYMBOL_MAX + 1];
	bool instrument_known;
	struct tl_md_scale scale;
	uint64_t trade_id; /* "id": the ledger's idempotency key for the fill */
	uint64_t order_id;
	tl_px_t px;
	tl_qty_t qty;
	int64_t quote_qty_units;  /* "quoteQty", at asset_decimals */
	int64_t commission_units; /* at asset_decimals */
	char commission_asset[TL_VENUE_ASSET_MAX + 1];
	int64_t time_ms;
	bool is_buyer, is_maker;
};

/*
 * A myTrades answer into trades[0..cap), in the venue's order; *n gets the count. Each
 * trade needs symbol, id, orderId, price, qty, quoteQty, commission, commissionAsset,
 * time, isBuyer and isMaker. json is one of:
 *   - REST, http_status > 0: the body, a bare array of trades on success, or
 *     {"code":..,"msg":..} on failure (resp gets status = http_status, the code and the
 *     message; *n = 0). Fold the response's headers in with
 *     tl_venue_response_rest_header() afterwards.
 *   - WS API, http_status == 0: a response whose "result" is the array, or an error
 *     response; resp as tl_venue_parse() fills it (result_kind, n_results, limits...).
 * Returns 0 (an error answer included: look at resp), the common errors, or -E2BIG when
 * the array holds more than cap trades. resp may not be NULL; n is 0 on any error.
 */
int tl_venue_parse_trades(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                          int http_status, struct tl_venue_response *resp,
                          struct tl_venue_trade *trades, size_t cap, size_t *n);

/*
 * A WS API response whose "result" is an array of orders (openOrders.status,
 * openOrders.cancelAll) into orders[0..cap), each as struct tl_venue_order. Elements
 * without "orderId" (the order lists that cancelAll may also return) are skipped and
 * counted in *skipped (may be NULL). Returns as tl_venue_parse_trades() with
 * http_status 0.
 */
int tl_venue_parse_orders(const struct tl_venue_parse_config *cfg, const char *json, size_t len,
                          struct tl_venue_response *resp, struct tl_venue_order *orders, size_t cap,
                          size_t *n, size_t *skipped);

/*
 * exchangeInfo's rate limits into out[0..cap): from "result"."rateLimits" (the WS API
 * answer; its top-level "rateLimits" is usage, not configuration), else from the
 * top-level "rateLimits" (the REST body). Everything else in the document (symbols,
 * filters) is only checked to be JSON. *n gets the count (count fields are -1 unless
 * given). Returns 0, the common errors, -ENOENT when neither key is there, or -E2BIG
 * beyond cap.
 */
int tl_venue_parse_rate_limits(const char *json, size_t len, struct tl_venue_rate_limit *out,
                               size_t cap, size_t *n);

/*
 * Folds one REST response header into r: X-MBX-USED-WEIGHT-<n><s|m|h|d> (REQUEST_WEIGHT
 * usage), X-MBX-ORDER-COUNT-<n><s|m|h|d> (ORDERS usage) become rateLimits entries with a
 * count and limit -1 (unknown; the limiter keeps the limit it has), and Retry-After
 * (seconds) becomes retry_wait_ms. Names are case-insensitive; other headers are
 * ignored. Returns 1 when the header was used, 0 when ignored, -EBADMSG for a used header
 * whose value is not a decimal integer, -E2BIG when r's limits are full.
 */
int tl_venue_response_rest_header(struct tl_venue_response *r, const char *name, size_t name_len,
                                  const char *value, size_t value_len);

/* ======================================================================================
 * Outcomes: what a response (or its absence) says about the request.
 * Thread: any. Blocks: no.
 * ====================================================================================== */

enum tl_venue_outcome {
	TL_VENUE_ACCEPTED = 0, /* 2xx, no error */
	TL_VENUE_REJECTED,     /* the venue refused it (4xx with a code): it did not happen */
	/* It may or may not have happened: ask order.status (DESIGN.md §6); never a reject. */
	TL_VENUE_UNKNOWN,
	TL_VENUE_RATE_LIMITED, /* refused for a rate limit or ban: wait retry_wait_ms */
};

struct tl_venue_verdict {
	enum tl_venue_outcome outcome;
	int32_t code;          /* the venue's error code, 0 when none */
	int64_t retry_wait_ms; /* RATE_LIMITED: the venue's wait (0: not said) */
	bool banned;           /* 418: the IP is banned until then */
	bool orders_only;      /* -1015: only new orders must wait; cancels may go */
};

/*
 * Classifies a response, in this order (the first rule that applies wins):
 *   timed_out (the caller waited too long; r may be NULL)   UNKNOWN
 *   status 418                                              RATE_LIMITED, banned
 *   status 429, or code -1003 or -1015                      RATE_LIMITED (-1015:
 *                                                           orders_only)
 *   status >= 500, or code -1007 or -1006 (both "execution  UNKNOWN
 *   status unknown" at Binance), or status 408 or 409
 *   2xx without an error                                    ACCEPTED
 *   4xx                                                     REJECTED with its code
 *   anything else (1xx, 3xx, 2xx with an error, no status)  UNKNOWN
 * Returns the outcome, also written to *v (which may be NULL). r NULL and !timed_out is
 * UNKNOWN.
 */
enum tl_venue_outcome tl_venue_classify(const struct tl_venue_response *r, bool timed_out,
                                        struct tl_venue_verdict *v);

/* "ACCEPTED", "REJECTED", "UNKNOWN", "RATE_LIMITED", or "?". */
const char *tl_venue_outcome_name(enum tl_venue_outcome o);

/* ======================================================================================
 * The rate limiter: the venue's limits as buckets that refuse a request before the
 * venue would.
 *
 * Each limit (REQUEST_WEIGHT per minute, ORDERS per 10 s, ORDERS per day, any other from
 * exchangeInfo) is a bucket of `limit` tokens. A request takes its weight from every
 * REQUEST_WEIGHT bucket, 1 from every RAW_REQUESTS bucket, and when it is an order 1 from
 * every ORDERS bucket; it goes only if every bucket has the tokens. A token comes back
 * one window after it was taken (kept in TL_VENUE_LIMITER_SLOTS time slots per window,
 * so up to window/63 late). Why not a bucket that refills at limit/window: the venue
 * counts in fixed windows, and such a bucket lets through up to twice the limit within
 * one of them; "at most `limit` in any window" can never exceed a fixed window's count.
 *
 * The venue's count is the truth: each response's rateLimits sets the bucket's usage to
 * its count, plus the requests sent after the one answered (in flight: the venue had not
 * seen them yet). So a venue window that resets gives its tokens back at once, and usage
 * by another connection on the same IP or account is counted as soon as it shows.
 *
 * Back-off: 429 or -1003 stops every request, -1015 only orders, 418 everything (a ban),
 * for the venue's retry_wait_ms, or when it gives none for the configured back-off
 * (doubling on each rate-limited response in a row) or ban time.
 *
 * Time: now_ns is any clock in ns that never goes back (CLOCK_MONOTONIC); a time before
 * the last one seen is taken as the last one. The limiter makes no syscall and never
 * allocates. Thread: one at a time (the user thread owns it). Blocks: never.
 * ====================================================================================== */

#define TL_VENUE_LIMITER_BUCKETS 8
#define TL_VENUE_LIMITER_SLOTS 64 /* per bucket; one window is 63 of them */
#define TL_VENUE_LIMITER_INFLIGHT 64

struct tl_venue_limiter_config {
	int64_t backoff_ns;     /* first wait on 429/-1003/-1015 with no retryAfter: 1 s */
	int64_t backoff_max_ns; /* the doubling stops here: 60 s */
	int64_t ban_ns;         /* 418 with no retryAfter: 2 min, the shortest ban */
	int64_t wait_max_ns;    /* the longest wait taken from the venue: 4 days */
};

struct tl_venue_limiter_counters {
	uint64_t allowed, denied; /* try() results */
	uint64_t corrections;     /* buckets set from a venue count */
	uint64_t backoffs, bans;  /* rate-limited responses, of which 418 */
	uint64_t lost;            /* requests given up (tl_venue_limiter_on_lost) */
	uint64_t charged;         /* requests sent elsewhere (tl_venue_limiter_charge) */
};

/* One bucket. Private to limiter.c: read only through the calls below. */
struct tl_venue_bucket {
	enum tl_venue_limit_type type;
	int64_t window_ms;
	int64_t window_ns, slot_ns;
	int64_t limit;
	int64_t used;      /* the sum of slot_used: tokens out */
	int64_t head_slot; /* absolute number (now_ns / slot_ns) of the newest slot */
	uint32_t slot_used[TL_VENUE_LIMITER_SLOTS];
};

/* Caller-owned (embed it or allocate it), set up by tl_venue_limiter_init. The fields
 * are private to limiter.c. */
struct tl_venue_limiter {
	struct tl_venue_limiter_config cfg;
	int64_t last_ns;
	uint32_t n_buckets;
	struct tl_venue_bucket buckets[TL_VENUE_LIMITER_BUCKETS];
	int64_t blocked_until_ns;        /* every request waits until then */
	int64_t orders_blocked_until_ns; /* orders wait until then */
	int64_t ban_until_ns;            /* a 418 ban lasts until then */
	uint32_t backoff_streak;         /* rate-limited responses in a row */
	/* Requests sent and not yet answered, oldest first: their weight, and 1 << 31
	 * when an order. */
	uint32_t inflight[TL_VENUE_LIMITER_INFLIGHT];
	uint32_t inflight_head, inflight_n;
	struct tl_venue_limiter_counters counters;
};

/* Fills *cfg with the defaults above. */
void tl_venue_limiter_config_default(struct tl_venue_limiter_config *cfg);

/*
 * Sets up lim with the limits in limits[0..n) (exchangeInfo's, as
 * tl_venue_parse_rate_limits gives them; counts are ignored). Entries of type OTHER, with
 * no window, or repeating a (type, window) pair already taken, are skipped; so may
 * n be 0: responses then add their limits as they come. cfg NULL means the defaults.
 * Returns 0, or -EINVAL (lim NULL, limits NULL with n > 0, a cfg value <= 0, or more
 * than TL_VENUE_LIMITER_BUCKETS usable limits).
 */
int tl_venue_limiter_init(struct tl_venue_limiter *lim, const struct tl_venue_limiter_config *cfg,
                          const struct tl_venue_rate_limit *limits, size_t n);

/*
 * Asks to send one request of `weight` (its REQUEST_WEIGHT), an order when is_order.
 * Returns 0 when it may go: its tokens are taken and it is counted in flight until
 * tl_venue_limiter_on_response or _on_lost. Otherwise nothing is taken and it returns
 * the ns to wait before asking again (> 0; the back-off's end, or when enough tokens
 * come back). Returns -EINVAL when weight is above a bucket's limit (it could never go
 * while the venue says that limit), or weight >= 2^31.
 */
int64_t tl_venue_limiter_try(struct tl_venue_limiter *lim, int64_t now_ns, uint32_t weight,
                             bool is_order);

/*
 * Folds in the response to one request that tl_venue_limiter_try let through: it leaves
 * the in-flight list (the oldest entry: responses are taken to come in order; if they do
 * not, the in-flight estimate is off by the weights' difference until nothing is in
 * flight); each of its rateLimits with a count sets the matching bucket's usage (a
 * (type, window) not configured yet is added while there is room, and a limit > 0 there
 * replaces the configured one); and a rate-limited verdict (tl_venue_classify) starts a
 * back-off. Any other response ends a back-off streak. r NULL: only the in-flight list
 * moves (an answer with nothing to fold in).
 */
void tl_venue_limiter_on_response(struct tl_venue_limiter *lim, int64_t now_ns,
                                  const struct tl_venue_response *r);

/*
 * Counts one request of `weight` that was sent without this limiter: by another thread on
 * its own connection to the same venue account and IP. It takes its tokens as try()
 * would, now, even past a limit (try then waits until they come back), and is not put in
 * flight: its answer went elsewhere. A weight above the bucket's range is counted up to
 * it.
 */
void tl_venue_limiter_charge(struct tl_venue_limiter *lim, int64_t now_ns, uint32_t weight,
                             bool is_order);

/* n requests that tl_venue_limiter_try let through will get no response (timed out, or
 * the connection dropped): they leave the in-flight list, oldest first. Their tokens stay
 * taken until they age out or a count says otherwise. */
void tl_venue_limiter_on_lost(struct tl_venue_limiter *lim, uint32_t n);

/* True while a 418 ban lasts at now_ns. */
bool tl_venue_limiter_banned(const struct tl_venue_limiter *lim, int64_t now_ns);

/* The tokens out (usage) of the bucket (type, window_ms) at the last call, or -ENOENT when
 * there is no such bucket. Does not advance time. */
int64_t tl_venue_limiter_used(const struct tl_venue_limiter *lim, enum tl_venue_limit_type type,
                              int64_t window_ms);

const struct tl_venue_limiter_counters *
tl_venue_limiter_counters(const struct tl_venue_limiter *lim);

#endif /* TL_VENUE_H */
