/*
 * sim_wire.h: the wire side of `tally sim`, without sockets. Internal to sim/ (the public
 * contract of the server is tl_sim_server.h; of the matching engine, tl_sim_engine.h).
 *
 *   request.c  reads what clients send: a WS API request ({"id":..,"method":..,
 *              "params":{..}}) or a REST query string, into a flat list of parameters
 *              borrowed from the message; then decodes the list, for one method, into the
 *              engine's request structs, checking every parameter. Every refusal is a
 *              Binance-style error (status, code, message), never a crash.
 *   format.c   writes what the venue sends: responses, results, user-data events and
 *              market-data events, as Binance's JSON (PROTOCOL.md), from the engine's
 *              structs.
 *
 * Numbers: prices and quantities are written at the market's px_decimals / qty_decimals
 * (tl_md_dec_format), amounts (balances, quote quantities, commissions) at
 * TL_SIM_AMOUNT_DECIMALS. Times are ms.
 *
 * Thread: the sim's owner thread (the calls read the sim's config). Blocks: no.
 * Allocates: only struct sim_buf, when it grows.
 */
#ifndef TL_SIM_WIRE_H
#define TL_SIM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_sim_engine.h"

/* ======================================================================================
 * Errors sent back to a client.
 * ====================================================================================== */

#define SIM_ERROR_MSG_MAX 255

/* One refusal: the HTTP-style status (400 for a bad request, 401 for a bad signature or
 * key, 429 / 418 for limits, 5xx for the venue's own trouble), Binance's code (-1100...)
 * and its message, NUL-terminated (printable ASCII, no '"' or '\\': it goes into JSON
 * unescaped). */
struct sim_error {
	int status;
	int code;
	char msg[SIM_ERROR_MSG_MAX + 1];
};

/* Fills *err; msg is a printf format. Returns -1, so `return sim_error_set(...)` reads
 * as a failed call. Characters that may not go into the message are replaced by '?'. */
int sim_error_set(struct sim_error *err, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ======================================================================================
 * Requests
 * ====================================================================================== */

#define SIM_PARAMS_MAX 32   /* more parameters than this: -1101 */
#define SIM_ID_MAX 64       /* longest request id echoed back (its JSON text) */
#define SIM_SIGNED_MAX 4096 /* longest signature payload */

enum sim_method {
	SIM_M_UNKNOWN = 0,
	SIM_M_ORDER_PLACE,   /* order.place; REST POST /api/v3/order */
	SIM_M_ORDER_CANCEL,  /* order.cancel; REST DELETE /api/v3/order */
	SIM_M_ORDER_STATUS,  /* order.status; REST GET /api/v3/order */
	SIM_M_CANCEL_ALL,    /* openOrders.cancelAll; REST DELETE /api/v3/openOrders */
	SIM_M_OPEN_ORDERS,   /* openOrders.status; REST GET /api/v3/openOrders */
	SIM_M_SUBSCRIBE,     /* userDataStream.subscribe.signature */
	SIM_M_MY_TRADES,     /* myTrades; REST GET /api/v3/myTrades */
	SIM_M_ACCOUNT,       /* account.status; REST GET /api/v3/account */
	SIM_M_PING,          /* ping; REST GET /api/v3/ping */
	SIM_M_TIME,          /* time; REST GET /api/v3/time */
	SIM_M_EXCHANGE_INFO, /* exchangeInfo; REST GET /api/v3/exchangeInfo */
	SIM_M_DEPTH,         /* depth; REST GET /api/v3/depth */
	SIM_M_COUNT
};

/* The WS API method name of m ("order.place"); "?" when out of range. */
const char *sim_method_name(enum sim_method m);
/* Which methods need a signature (order ops, subscribe, myTrades, account). */
bool sim_method_signed(enum sim_method m);
/* The REQUEST_WEIGHT a method costs (Binance's: order.place 1, order.status 4,
 * openOrders.status 6, myTrades 20, account 20, exchangeInfo 20, depth by limit:
 * 5/25/50/250). depth_limit is used for SIM_M_DEPTH only. */
uint32_t sim_method_weight(enum sim_method m, uint32_t depth_limit);

/* One parameter: name and value, borrowed from the message (no NUL). A WS API value is
 * the JSON string's contents (quoted true) or a bare number / true / false (quoted
 * false); a REST value is the query's text after percent-decoding. */
struct sim_param {
	const char *name, *val;
	uint32_t name_len, val_len;
	bool quoted;
};

struct sim_request {
	/* The request's "id" as its JSON text (a number, a "string", or null when absent or
	 * unreadable), to echo back verbatim. NUL-terminated. REST requests have "null". */
	char id[SIM_ID_MAX + 1];
	uint32_t id_len;
	enum sim_method method;
	uint32_t n_params;
	struct sim_param params[SIM_PARAMS_MAX];
	/* The bytes the client signed, when the request carries a signature, NUL-terminated:
	 * WS API: every param but "signature", sorted by name (byte order), joined as
	 * k=v&k=v; REST: the query string as sent, without its "signature" parameter. */
	char signed_payload[SIM_SIGNED_MAX + 1];
	uint32_t signed_len;
	/* Percent-decoded REST values live here; params point into it. */
	char scratch[SIM_SIGNED_MAX + 1];
};

/*
 * Parses one WS API text message msg[0..len) into *out: the id, the method (an unknown
 * method is not an error here: method SIM_M_UNKNOWN, and decode refuses it with 400 / -1000:
 * see sim_call_decode), and the params object, which must hold only strings, numbers,
 * true or false (no nesting, no escapes in strings: none of the protocol's values needs
 * one). A request without "params" has none.
 * Returns 0, or -1 with *err set: status 400 and
 *   -1100 "Illegal characters found in parameter ..." / malformed JSON (the id, when it
 *         could be read, is still in out->id, so the error response can carry it);
 *   -1101 more than SIM_PARAMS_MAX params, or one param twice;
 *   -1105 a param whose value is empty or null.
 */
int sim_request_parse_ws(const char *msg, size_t len, struct sim_request *out,
                         struct sim_error *err);

/*
 * Parses a REST call: the method it names (from the HTTP verb "GET"/"POST"/"DELETE" and
 * the path, e.g. "/api/v3/depth"; SIM_M_UNKNOWN when none), and the query string
 * query[0..len) without its '?' (a POST's form body is appended to it by the caller, after
 * a '&'; so a client that signs query and body joined without '&', as Binance reads a
 * mixed POST, gets -1022: tally's clients send only GET and WS API requests). Values are
 * percent-decoded, '+' reads as a space, and empty segments ("a=1&&b=2") are skipped. Returns 0 or
 * -1 with *err (status 400, -1100 for bad percent-encoding or a query over SIM_SIGNED_MAX bytes,
 * -1101, -1105; status 404 code -1000 for an unknown path, with method SIM_M_UNKNOWN).
 */
int sim_request_parse_rest(const char *verb, const char *path, const char *query, size_t len,
                           struct sim_request *out, struct sim_error *err);

/* The value of param `name` (NUL-terminated), or NULL when absent. */
const struct sim_param *sim_request_param(const struct sim_request *req, const char *name);

/* What a signed request carries, as decoded. */
struct sim_auth {
	const char *api_key; /* borrowed; NULL when absent */
	uint32_t api_key_len;
	const char *signature; /* 64 hex digits, borrowed; NULL when absent */
	int64_t timestamp_ms;
	uint32_t recv_window_ms; /* TL_VENUE's default 5000 when absent; at most 60000 */
};

enum sim_resp_type { SIM_RESP_ACK = 0, SIM_RESP_RESULT, SIM_RESP_FULL };

/* A request decoded for one method. Strings are borrowed from the request. */
struct sim_call {
	enum sim_method method;
	int market; /* index of "symbol"; -1 when the method takes none */
	struct sim_auth auth;
	enum sim_resp_type resp_type;      /* order.place: newOrderRespType (default FULL for
	                                      LIMIT, as Binance's, or as sent) */
	struct tl_sim_order_req place;     /* ORDER_PLACE */
	struct tl_sim_order_ref ref;       /* ORDER_CANCEL, ORDER_STATUS */
	struct tl_sim_trades_query trades; /* MY_TRADES */
	uint64_t trades_order_id;          /* MY_TRADES by orderId; 0 when not given */
	uint32_t depth_limit;              /* DEPTH: 1..5000, default 100 */
};

/*
 * Decodes req for its method against the sim's markets: every parameter the method needs
 * is there and valid, and no other is sent. Signature, key and timestamp are read into
 * out->auth but not checked (the server knows the keys and the clock).
 * Returns 0, or -1 with *err (status 400 unless said):
 *   -1100 a value with illegal characters (e.g. a price that is not a decimal)
 *   -1102 a mandatory param missing ("Mandatory parameter '%s' was not sent, was
 *         empty/null, or malformed.")
 *   -1104 a param the method does not read ("Not all sent parameters were read; read
 *         '%u' parameter(s) but was sent '%u'.")
 *   -1106 a param sent that is not required for this combination (timeInForce with
 *         LIMIT_MAKER)
 *   -1111 a price or quantity with more precision than the symbol's
 *   -1115 bad timeInForce, -1116 bad type, -1117 bad side, -1121 unknown symbol
 *   -1130 a bad value otherwise (a limit out of range, orderId or timestamp 0)
 *   -1131 recvWindow over 60000
 *   status 400 code -1000 "Unknown method" (SIM_M_UNKNOWN)
 */
int sim_call_decode(const tl_sim_t *sim, const struct sim_request *req, struct sim_call *out,
                    struct sim_error *err);

/* ======================================================================================
 * Output: a growable byte buffer.
 * ====================================================================================== */

/* Bytes kept free in front of every message, for lws_write()'s LWS_PRE headroom. The
 * formatters write at p + head. */
struct sim_buf {
	char *p;
	size_t head; /* reserved bytes at p[0..head) */
	size_t len;  /* bytes written after the head */
	size_t cap;  /* bytes allocated, head included */
	bool failed; /* an allocation failed: the contents are incomplete */
};

/* init: an empty buffer with `head` bytes of headroom (nothing allocated yet).
 * reset: len = 0, failed = false, keeps the memory. free: releases it. */
void sim_buf_init(struct sim_buf *b, size_t head);
void sim_buf_reset(struct sim_buf *b);
void sim_buf_free(struct sim_buf *b);
/* The message written so far: p + head, len bytes ("" before any). Out of line: when
 * inlined, GCC 12 sizes every read through it by the "" branch and warns. */
const char *sim_buf_data(const struct sim_buf *b);
void sim_buf_put(struct sim_buf *b, const void *s, size_t n);
void sim_buf_puts(struct sim_buf *b, const char *s);
void sim_buf_printf(struct sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_buf_i64(struct sim_buf *b, int64_t v);
/* v at `decimals` places, quoted: "52000.00". */
void sim_buf_dec(struct sim_buf *b, int64_t v, int decimals);

/* ======================================================================================
 * Responses (WS API). A response is begun, given its result, and ended:
 *     sim_fmt_response_begin(b, req->id, 200);   {"id":ID,"status":200,"result":
 *     sim_fmt_order(b, ...);                     the result
 *     sim_fmt_response_end(b, usage, n);         ,"rateLimits":[..]}
 * An error response is written whole by sim_fmt_error.
 * ====================================================================================== */

/* One rateLimits entry: {"rateLimitType":..,"interval":..,"intervalNum":..,"limit":..,
 * "count":..}. */
enum sim_limit_type { SIM_LIMIT_REQUEST_WEIGHT = 0, SIM_LIMIT_ORDERS, SIM_LIMIT_RAW_REQUESTS };
enum sim_interval { SIM_SECOND = 0, SIM_MINUTE, SIM_HOUR, SIM_DAY };
struct sim_rate_usage {
	enum sim_limit_type type;
	enum sim_interval interval;
	uint32_t interval_num;
	int64_t limit;
	int64_t count; /* < 0: not written (exchangeInfo's list) */
};

void sim_fmt_response_begin(struct sim_buf *b, const char *id, int status);
void sim_fmt_response_end(struct sim_buf *b, const struct sim_rate_usage *usage, uint32_t n);
/* {"id":ID,"status":S,"error":{"code":C,"msg":"M"[,"data":{"serverTime":T,
 * "retryAfter":R}]},"rateLimits":[..]}: data is written when retry_after_ms > 0. */
void sim_fmt_error(struct sim_buf *b, const char *id, const struct sim_error *err,
                   int64_t server_time_ms, int64_t retry_after_ms,
                   const struct sim_rate_usage *usage, uint32_t n);
/* REST's error body: {"code":C,"msg":"M"}. */
void sim_fmt_rest_error(struct sim_buf *b, const struct sim_error *err);

/* ======================================================================================
 * Results
 * ====================================================================================== */

/* One fill of a FULL order.place response. */
struct sim_fill {
	tl_px_t px;
	tl_qty_t qty;
	tl_sim_amount_t commission;
	uint32_t commission_asset;
	uint64_t trade_id;
};

/* order.place's result, by resp_type: ACK {symbol, orderId, orderListId:-1,
 * clientOrderId, transactTime}; RESULT adds price, origQty, executedQty,
 * origQuoteOrderQty, cummulativeQuoteQty, status, timeInForce, type, side, workingTime,
 * selfTradePreventionMode:"NONE"; FULL adds "fills":[{price, qty, commission,
 * commissionAsset, tradeId}] from fills[0..n_fills). */
void sim_fmt_place_result(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                          enum sim_resp_type type, const struct sim_fill *fills, uint32_t n_fills);
/* order.cancel's result: {symbol, origClientOrderId (the order's id), orderId,
 * orderListId:-1, clientOrderId (the cancel's own id), transactTime, price, origQty,
 * executedQty, origQuoteOrderQty, cummulativeQuoteQty, status, timeInForce, type, side,
 * selfTradePreventionMode}. cancel_id is the cancel's id (NUL-terminated). */
void sim_fmt_cancel_result(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                           const char *cancel_id, int64_t transact_ms);
/* An order as order.status / openOrders.status give it: {symbol, orderId, orderListId,
 * clientOrderId, price, origQty, executedQty, cummulativeQuoteQty, status, timeInForce,
 * type, side, stopPrice, icebergQty, time, updateTime, isWorking, workingTime,
 * origQuoteOrderQty, selfTradePreventionMode}. */
void sim_fmt_order(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o);
/* [order, ...] with sim_fmt_order's objects. */
void sim_fmt_orders(struct sim_buf *b, const tl_sim_t *sim, const struct tl_sim_order *o,
                    uint32_t n);
/* myTrades: [{symbol, id, orderId, orderListId:-1, price, qty, quoteQty, commission,
 * commissionAsset, time, isBuyer, isMaker, isBestMatch:true}, ...] */
void sim_fmt_trades(struct sim_buf *b, const tl_sim_t *sim, uint32_t market,
                    const struct tl_sim_trade *t, uint32_t n);
/* account.status: {makerCommission, takerCommission, buyerCommission:0,
 * sellerCommission:0, canTrade:true, canWithdraw:true, canDeposit:true, updateTime,
 * accountType:"SPOT", balances:[{asset, free, locked}], permissions:["SPOT"], uid} */
void sim_fmt_account(struct sim_buf *b, const tl_sim_t *sim, uint32_t account,
                     const struct tl_sim_balance *bal, uint32_t n, int64_t update_ms);
/* {"subscriptionId":N} */
void sim_fmt_subscription(struct sim_buf *b, uint64_t subscription_id);
/* {"serverTime":T} */
void sim_fmt_time(struct sim_buf *b, int64_t server_time_ms);
/* {} */
void sim_fmt_empty(struct sim_buf *b);
/* {"lastUpdateId":N,"bids":[["px","qty"],..],"asks":[..]} */
void sim_fmt_depth_snapshot(struct sim_buf *b, const tl_sim_t *sim, uint32_t market,
                            const struct tl_sim_depth *d);
/* {"timezone":"UTC","serverTime":T,"rateLimits":[..],"exchangeFilters":[],"symbols":[
 * {symbol, status:"TRADING", baseAsset, baseAssetPrecision, quoteAsset, quoteAssetPrecision,
 * orderTypes:["LIMIT","LIMIT_MAKER"], filters:[PRICE_FILTER {minPrice, maxPrice,
 * tickSize}, LOT_SIZE {minQty, maxQty, stepSize}, NOTIONAL {minNotional,
 * applyMinToMarket:false, maxNotional, applyMaxToMarket:false, avgPriceMins:5},
 * MAX_NUM_ORDERS {maxNumOrders}]}, ...]}: the one market `market` of the sim, or every
 * market when it is negative. */
void sim_fmt_exchange_info(struct sim_buf *b, const tl_sim_t *sim, int market,
                           int64_t server_time_ms, const struct sim_rate_usage *limits, uint32_t n);

/* ======================================================================================
 * Events
 * ====================================================================================== */

/*
 * A user-data event (EXEC_REPORT, POSITION, BALANCE_UPDATE) for the WS API connection:
 * {"subscriptionId":N,"event":{"e":"executionReport","E":..,"s":..,...}} with Binance's
 * keys (PROTOCOL.md's table; executionReport also writes f, P:"0.00000000", F, g:-1,
 * C, r, I, w, M:false, O, Y, Q, W, V:"NONE"). Returns false (writing nothing) for an event
 * of another kind.
 */
bool sim_fmt_user_event(struct sim_buf *b, const tl_sim_t *sim, uint64_t subscription_id,
                        const struct tl_sim_event *ev);
/* {"subscriptionId":N,"event":{"e":"eventStreamTerminated","E":T}} */
void sim_fmt_stream_terminated(struct sim_buf *b, uint64_t subscription_id, int64_t event_ms);
/* {"e":"serverShutdown","E":T} (sent on every connection before the sim closes it) */
void sim_fmt_server_shutdown(struct sim_buf *b, int64_t event_ms);

/*
 * A market-data event (TRADE, DEPTH, BOOK_TICKER). With stream NULL, the raw form for
 * /ws/<stream>; else the combined form {"stream":"<stream>","data":{..}}. Shapes:
 *   depthUpdate {"e":"depthUpdate","E":..,"s":..,"U":..,"u":..,"b":[["px","qty"],..],"a":[..]}
 *   bookTicker  {"u":..,"s":..,"b":"px","B":"qty","a":"px","A":"qty"}
 *   trade       {"e":"trade","E":..,"s":..,"t":..,"p":..,"q":..,"T":..,"m":..,"M":true}
 * Returns false (writing nothing) for an event of another kind.
 */
bool sim_fmt_md_event(struct sim_buf *b, const tl_sim_t *sim, const char *stream,
                      const struct tl_sim_event *ev);

#endif /* TL_SIM_WIRE_H */
