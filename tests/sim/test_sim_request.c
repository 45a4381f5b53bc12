/*
 * Tests of the sim's request side (sim/sim_wire.h, "Errors" and "Requests"):
 *   - requests written by the engine's own builders (tl_venue.h) parse and decode to the
 *     values they were built from, and the signed payload the sim rebuilds, HMAC'd with
 *     the same secret, is the signature the builder wrote: WS API and REST;
 *   - PROTOCOL.md's two signing vectors, from hand-written requests;
 *   - every refusal, with its status, code and message: malformed JSON, params that are
 *     nested, escaped, repeated, too many or empty, ids too long, each -11xx of decode,
 *     unknown symbols, methods and paths, bad percent-encoding;
 *   - error messages are sanitized for JSON;
 *   - the method table (names, signed, weights).
 */
#include "sim_wire.h"
#include "tl_sim_engine.h"
#include "tl_test.h"
#include "tl_venue.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define SECRET "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
#define API_KEY "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
#define SIG0 "0000000000000000000000000000000000000000000000000000000000000000"
/* What every signed hand-written WS request carries (the signature is not checked here). */
#define AUTH_JSON "\"apiKey\":\"k\",\"timestamp\":1700000000000,\"signature\":\"" SIG0 "\""
#define AUTH_REST "timestamp=1700000000000&signature=" SIG0

static tl_sim_t *g_sim;
static tl_venue_signer_t *g_signer;
/* One server's worth: the struct is 12 KB. */
static struct sim_request g_req;

/* ======================================================================================
 * Helpers
 * ====================================================================================== */

static bool param_eq(const struct sim_request *r, const char *name, const char *val)
{
	const struct sim_param *p = sim_request_param(r, name);

	return p != NULL && p->val_len == strlen(val) && memcmp(p->val, val, p->val_len) == 0;
}

static bool str_eq(const char *s, uint32_t len, const char *want)
{
	return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* The signed payload, HMAC'd with the test secret, is the request's signature param. */
static void check_signature(const struct sim_request *r)
{
	const struct sim_param *sig = sim_request_param(r, "signature");
	char hex[TL_VENUE_SIG_HEX_LEN + 1];

	CHECK(sig != NULL && sig->val_len == TL_VENUE_SIG_HEX_LEN);
	CHECK_EQ(strlen(r->signed_payload), r->signed_len);
	CHECK_EQ(tl_venue_sign(g_signer, r->signed_payload, r->signed_len, hex), 0);
	CHECK(memcmp(hex, sig->val, TL_VENUE_SIG_HEX_LEN) == 0);
}

static int ws(const char *json, struct sim_error *e)
{
	memset(e, 0, sizeof(*e));
	return sim_request_parse_ws(json, strlen(json), &g_req, e);
}

static bool msg_ok(const struct sim_error *e)
{
	for (const char *p = e->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
			return false;
	return memchr(e->msg, '\0', sizeof(e->msg)) != NULL;
}

static void check_err(const struct sim_error *e, int status, int code, const char *sub, int line)
{
	if (e->status != status || e->code != code || strstr(e->msg, sub) == NULL || !msg_ok(e)) {
		fprintf(stderr, "line %d: got %d %d \"%s\", want %d %d \"...%s...\"\n", line,
		        e->status, e->code, e->msg, status, code, sub);
		exit(1);
	}
}

/* The WS message is refused by the parser. */
#define WS_ERR(json, status, code, sub) ws_err(json, status, code, sub, __LINE__)
static void ws_err(const char *json, int status, int code, const char *sub, int line)
{
	struct sim_error e;

	if (ws(json, &e) != -1) {
		fprintf(stderr, "line %d: parsed: %s\n", line, json);
		exit(1);
	}
	check_err(&e, status, code, sub, line);
}

/* The WS message parses, and decode refuses it. */
#define DEC_ERR(json, status, code, sub) dec_err(json, status, code, sub, __LINE__)
static void dec_err(const char *json, int status, int code, const char *sub, int line)
{
	struct sim_error e;
	struct sim_call c;

	if (ws(json, &e) != 0) {
		fprintf(stderr, "line %d: parse failed (%d %s): %s\n", line, e.code, e.msg, json);
		exit(1);
	}
	if (sim_call_decode(g_sim, &g_req, &c, &e) != -1) {
		fprintf(stderr, "line %d: decoded: %s\n", line, json);
		exit(1);
	}
	check_err(&e, status, code, sub, line);
}

/* The WS message parses and decodes. */
static void dec_ok(const char *json, struct sim_call *c)
{
	struct sim_error e;

	if (ws(json, &e) != 0 || sim_call_decode(g_sim, &g_req, c, &e) != 0) {
		fprintf(stderr, "refused (%d %d %s): %s\n", e.status, e.code, e.msg, json);
		exit(1);
	}
}

static int rest(const char *verb, const char *path, const char *query, struct sim_error *e)
{
	memset(e, 0, sizeof(*e));
	return sim_request_parse_rest(verb, path, query, query ? strlen(query) : 0, &g_req, e);
}

#define REST_ERR(verb, path, q, status, code, sub)                                                 \
	rest_err(verb, path, q, status, code, sub, __LINE__)
static void rest_err(const char *verb, const char *path, const char *query, int status, int code,
                     const char *sub, int line)
{
	struct sim_error e;

	if (rest(verb, path, query, &e) != -1) {
		fprintf(stderr, "line %d: parsed: %s %s?%s\n", line, verb, path, query);
		exit(1);
	}
	check_err(&e, status, code, sub, line);
}

#define REST_DEC_ERR(verb, path, q, status, code, sub)                                             \
	rest_dec_err(verb, path, q, status, code, sub, __LINE__)
static void rest_dec_err(const char *verb, const char *path, const char *query, int status,
                         int code, const char *sub, int line)
{
	struct sim_error e;
	struct sim_call c;

	if (rest(verb, path, query, &e) != 0) {
		fprintf(stderr, "line %d: parse failed (%d %s)\n", line, e.code, e.msg);
		exit(1);
	}
	if (sim_call_decode(g_sim, &g_req, &c, &e) != -1) {
		fprintf(stderr, "line %d: decoded: %s\n", line, query);
		exit(1);
	}
	check_err(&e, status, code, sub, line);
}

static void rest_ok(const char *verb, const char *path, const char *query, struct sim_call *c)
{
	struct sim_error e;

	if (rest(verb, path, query, &e) != 0 || sim_call_decode(g_sim, &g_req, c, &e) != 0) {
		fprintf(stderr, "refused (%d %d %s): %s %s?%s\n", e.status, e.code, e.msg, verb,
		        path, query);
		exit(1);
	}
}

/* A place request with these params, then AUTH_JSON. */
static const char *place_json(const char *params)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
	         "{\"id\":1,\"method\":\"order.place\",\"params\":{%s," AUTH_JSON "}}", params);
	return buf;
}

/* A request of method m with these params (may be ""), then AUTH_JSON. */
static const char *signed_json(const char *method, const char *params)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "{\"id\":1,\"method\":\"%s\",\"params\":{%s%s" AUTH_JSON "}}",
	         method, params, params[0] ? "," : "");
	return buf;
}

static struct tl_venue_auth auth_at(int64_t ts, uint32_t window)
{
	return (struct tl_venue_auth){
	    .signer = g_signer, .api_key = API_KEY, .timestamp_ms = ts, .recv_window_ms = window};
}

/* ======================================================================================
 * The client's builders, through the sim
 * ====================================================================================== */

static void test_builders_ws(void)
{
	char buf[2048];
	struct sim_error e;
	struct sim_call c;
	struct tl_venue_auth a = auth_at(1700000000123ll, 0);
	ssize_t n;

	/* order.place, LIMIT GTC RESULT */
	{
		struct tl_venue_order_req q = {.symbol = "BTCUSDT",
		                               .client_order_id = "abc-1_X",
		                               .side = TL_VENUE_BUY,
		                               .type = TL_VENUE_LIMIT,
		                               .tif = TL_VENUE_GTC,
		                               .px = {6000012},
		                               .qty = {123},
		                               .scale = {2, 5},
		                               .resp_type = TL_VENUE_RESP_RESULT};

		n = tl_venue_build_order_place(buf, sizeof(buf), 7, &a, &q);
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK_EQ(g_req.method, SIM_M_ORDER_PLACE);
		CHECK(strcmp(g_req.id, "7") == 0 && g_req.id_len == 1);
		CHECK_EQ(g_req.n_params, 12);
		CHECK(param_eq(&g_req, "price", "60000.12"));
		CHECK(param_eq(&g_req, "quantity", "0.00123"));
		CHECK(sim_request_param(&g_req, "price")->quoted);
		CHECK(!sim_request_param(&g_req, "timestamp")->quoted);
		CHECK(sim_request_param(&g_req, "nope") == NULL);
		check_signature(&g_req);
		CHECK(strstr(g_req.signed_payload, "signature") == NULL);
		{
			static const char head[] = "apiKey=" API_KEY "&newClientOrderId=abc-1_X"
			                           "&newOrderRespType=RESULT&price=60000.12"
			                           "&quantity=0.00123&recvWindow=5000&side=BUY"
			                           "&symbol=BTCUSDT&timeInForce=GTC"
			                           "&timestamp=1700000000123&type=LIMIT";

			CHECK(strcmp(g_req.signed_payload, head) == 0);
		}

		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.method, SIM_M_ORDER_PLACE);
		CHECK_EQ(c.market, 0);
		CHECK_EQ(c.place.side, TL_SIM_BUY);
		CHECK_EQ(c.place.type, TL_SIM_LIMIT);
		CHECK_EQ(c.place.tif, TL_SIM_GTC);
		CHECK_EQ(c.place.px.v, 6000012);
		CHECK_EQ(c.place.qty.v, 123);
		CHECK(str_eq(c.place.client_order_id, c.place.client_order_id_len, "abc-1_X"));
		CHECK_EQ(c.resp_type, SIM_RESP_RESULT);
		CHECK(str_eq(c.auth.api_key, c.auth.api_key_len, API_KEY));
		CHECK_EQ(c.auth.timestamp_ms, 1700000000123ll);
		CHECK_EQ(c.auth.recv_window_ms, 5000);
		CHECK(c.auth.signature != NULL &&
		      memcmp(c.auth.signature, sim_request_param(&g_req, "signature")->val, 64) ==
		          0);
	}
	/* order.place, LIMIT_MAKER (no timeInForce) ACK, at market 1, a large id */
	{
		struct tl_venue_auth a2 = auth_at(1700000000999ll, 60000);
		struct tl_venue_order_req q = {.symbol = "ETHBTC",
		                               .client_order_id = "m-2",
		                               .side = TL_VENUE_SELL,
		                               .type = TL_VENUE_LIMIT_MAKER,
		                               .px = {5000123},
		                               .qty = {1500},
		                               .scale = {5, 3},
		                               .resp_type = TL_VENUE_RESP_ACK};

		n = tl_venue_build_order_place(buf, sizeof(buf), 9007199254740993ull, &a2, &q);
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK(strcmp(g_req.id, "9007199254740993") == 0);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.market, 1);
		CHECK_EQ(c.place.side, TL_SIM_SELL);
		CHECK_EQ(c.place.type, TL_SIM_LIMIT_MAKER);
		CHECK_EQ(c.place.tif, TL_SIM_TIF_NONE);
		CHECK_EQ(c.place.px.v, 5000123);
		CHECK_EQ(c.place.qty.v, 1500);
		CHECK_EQ(c.resp_type, SIM_RESP_ACK);
		CHECK_EQ(c.auth.recv_window_ms, 60000);
		CHECK_EQ(c.auth.timestamp_ms, 1700000000999ll);
	}
	/* LIMIT IOC / FOK, FULL */
	for (int t = 0; t < 2; t++) {
		struct tl_venue_order_req q = {.symbol = "BTCUSDT",
		                               .client_order_id = "x",
		                               .side = TL_VENUE_SELL,
		                               .type = TL_VENUE_LIMIT,
		                               .tif = t ? TL_VENUE_FOK : TL_VENUE_IOC,
		                               .px = {1},
		                               .qty = {1},
		                               .scale = {2, 5},
		                               .resp_type = TL_VENUE_RESP_FULL};

		n = tl_venue_build_order_place(buf, sizeof(buf), 1, &a, &q);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.place.tif, t ? TL_SIM_FOK : TL_SIM_IOC);
		CHECK_EQ(c.resp_type, SIM_RESP_FULL);
	}
	/* order.cancel and order.status, by orderId, by origClientOrderId, by both */
	for (int k = 0; k < 6; k++) {
		struct tl_venue_order_ref ref = {.symbol = "BTCUSDT",
		                                 .order_id = (k % 3) != 1 ? 42 : 0,
		                                 .orig_client_order_id =
		                                     (k % 3) != 0 ? "abc-1_X" : NULL};

		if (k < 3)
			n = tl_venue_build_order_cancel(buf, sizeof(buf), 100 + k, &a, &ref);
		else
			n = tl_venue_build_order_status(buf, sizeof(buf), 100 + k, &a, &ref);
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK_EQ(g_req.method, k < 3 ? SIM_M_ORDER_CANCEL : SIM_M_ORDER_STATUS);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.market, 0);
		CHECK_EQ(c.ref.order_id, ref.order_id);
		if (ref.orig_client_order_id)
			CHECK(str_eq(c.ref.orig_client_order_id, c.ref.orig_client_order_id_len,
			             "abc-1_X"));
		else
			CHECK_EQ(c.ref.orig_client_order_id_len, 0);
		CHECK_EQ(c.ref.new_client_order_id_len, 0);
	}
	/* openOrders.cancelAll, openOrders.status */
	for (int k = 0; k < 2; k++) {
		n = k ? tl_venue_build_open_orders(buf, sizeof(buf), 5, &a, "ETHBTC")
		      : tl_venue_build_cancel_all(buf, sizeof(buf), 5, &a, "ETHBTC");
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK_EQ(g_req.method, k ? SIM_M_OPEN_ORDERS : SIM_M_CANCEL_ALL);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.market, 1);
		CHECK_EQ(c.auth.timestamp_ms, 1700000000123ll);
	}
	/* userDataStream.subscribe.signature: apiKey, timestamp, signature only */
	n = tl_venue_build_subscribe(buf, sizeof(buf), 6, &a);
	CHECK(n > 0);
	CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
	CHECK_EQ(g_req.method, SIM_M_SUBSCRIBE);
	CHECK_EQ(g_req.n_params, 3);
	CHECK(strcmp(g_req.signed_payload, "apiKey=" API_KEY "&timestamp=1700000000123") == 0);
	check_signature(&g_req);
	CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
	CHECK_EQ(c.market, -1);
	CHECK(str_eq(c.auth.api_key, c.auth.api_key_len, API_KEY));
	CHECK_EQ(c.auth.recv_window_ms, 5000);
	/* any other method through tl_venue_build_signed: account.status, myTrades */
	{
		struct tl_venue_param ps[] = {{"timestamp", "1700000000123", false},
		                              {"apiKey", API_KEY, true},
		                              {"recvWindow", "2500", false}};
		struct tl_venue_param ts[] = {
		    {"symbol", "BTCUSDT", true},         {"timestamp", "1700000000123", false},
		    {"apiKey", API_KEY, true},           {"startTime", "1699990000000", false},
		    {"endTime", "1700000000000", false}, {"limit", "1000", false}};

		n = tl_venue_build_signed(buf, sizeof(buf), 8, "account.status", ps, 3, g_signer);
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK_EQ(g_req.method, SIM_M_ACCOUNT);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK_EQ(c.auth.recv_window_ms, 2500);

		n = tl_venue_build_signed(buf, sizeof(buf), 8, "myTrades", ts, 6, g_signer);
		CHECK(n > 0);
		CHECK_EQ(sim_request_parse_ws(buf, (size_t)n, &g_req, &e), 0);
		CHECK_EQ(g_req.method, SIM_M_MY_TRADES);
		check_signature(&g_req);
		CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
		CHECK(c.trades.has_start && c.trades.has_end);
		CHECK_EQ(c.trades.start_ms, 1699990000000ll);
		CHECK_EQ(c.trades.end_ms, 1700000000000ll);
		CHECK_EQ(c.trades.limit, 1000);
		CHECK_EQ(c.trades.from_id, 0);
		CHECK_EQ(c.trades_order_id, 0);
	}
}

/* Splits a REST target into path and query and parses it as GET. */
static void rest_target(const char *target, struct sim_call *c)
{
	char path[64];
	const char *q = strchr(target, '?');
	struct sim_error e;

	CHECK(q != NULL && (size_t)(q - target) < sizeof(path));
	memcpy(path, target, (size_t)(q - target));
	path[q - target] = '\0';
	CHECK_EQ(sim_request_parse_rest("GET", path, q + 1, strlen(q + 1), &g_req, &e), 0);
	CHECK_EQ(g_req.method, SIM_M_MY_TRADES);
	CHECK(strcmp(g_req.id, "null") == 0);
	/* the payload is the query as written, up to "&signature=" */
	CHECK_EQ(g_req.signed_len, strstr(q, "&signature=") - (q + 1));
	CHECK(memcmp(g_req.signed_payload, q + 1, g_req.signed_len) == 0);
	check_signature(&g_req);
	CHECK_EQ(sim_call_decode(g_sim, &g_req, c, &e), 0);
	CHECK_EQ(c->market, 0);
	CHECK(c->auth.api_key == NULL); /* REST: in the X-MBX-APIKEY header */
	CHECK_EQ(c->auth.timestamp_ms, 1700000000123ll);
}

static void test_builders_rest(void)
{
	char buf[1024];
	struct sim_call c;
	struct tl_venue_auth a = auth_at(1700000000123ll, 7000);
	struct tl_venue_trades_req q = {.symbol = "BTCUSDT", .by = TL_VENUE_TRADES_FROM_ID};

	CHECK(tl_venue_build_my_trades(buf, sizeof(buf), &a, &q) > 0);
	rest_target(buf, &c);
	CHECK_EQ(c.trades.from_id, 1); /* fromId 0: from the first trade */
	CHECK_EQ(c.trades.limit, 0);
	CHECK_EQ(c.auth.recv_window_ms, 7000);

	q.from_id = 77;
	q.limit = 250;
	CHECK(tl_venue_build_my_trades(buf, sizeof(buf), &a, &q) > 0);
	rest_target(buf, &c);
	CHECK_EQ(c.trades.from_id, 77);
	CHECK_EQ(c.trades.limit, 250);

	q = (struct tl_venue_trades_req){
	    .symbol = "BTCUSDT", .by = TL_VENUE_TRADES_ORDER_ID, .order_id = 12345};
	CHECK(tl_venue_build_my_trades(buf, sizeof(buf), &a, &q) > 0);
	rest_target(buf, &c);
	CHECK_EQ(c.trades_order_id, 12345);
	CHECK_EQ(c.trades.from_id, 0);

	q = (struct tl_venue_trades_req){.symbol = "BTCUSDT",
	                                 .by = TL_VENUE_TRADES_WINDOW,
	                                 .start_ms = 1699999000000ll,
	                                 .end_ms = 1700000000000ll,
	                                 .limit = 1};
	CHECK(tl_venue_build_my_trades(buf, sizeof(buf), &a, &q) > 0);
	rest_target(buf, &c);
	CHECK(c.trades.has_start && c.trades.has_end);
	CHECK_EQ(c.trades.start_ms, 1699999000000ll);
	CHECK_EQ(c.trades.end_ms, 1700000000000ll);
	CHECK_EQ(c.trades.limit, 1);

	q.start_ms = 0;
	CHECK(tl_venue_build_my_trades(buf, sizeof(buf), &a, &q) > 0);
	rest_target(buf, &c);
	CHECK(!c.trades.has_start && c.trades.has_end);
}

/* ======================================================================================
 * PROTOCOL.md's vectors
 * ====================================================================================== */

static void test_vectors(void)
{
	static const char ws_payload[] =
	    "apiKey=" API_KEY "&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL"
	    "&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
	static const char ws_sig[] =
	    "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24";
	static const char rest_payload[] = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
	                                   "&quantity=1&price=0.1&recvWindow=5000"
	                                   "&timestamp=1499827319559";
	static const char rest_sig[] =
	    "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
	/* As Binance's documentation writes it: params in no particular order. */
	static const char ws_req[] =
	    "{\n  \"id\": \"4885f793-e5ad-4c3b-8f6c-55d891472b71\",\n  \"method\": "
	    "\"order.place\",\n  \"params\": {\n    \"symbol\": \"BTCUSDT\",\n    \"side\": "
	    "\"SELL\",\n    \"type\": \"LIMIT\",\n    \"timeInForce\": \"GTC\",\n    \"price\": "
	    "\"52000.00\",\n    \"quantity\": \"0.01000000\",\n    \"apiKey\": \"" API_KEY
	    "\",\n    \"signature\": "
	    "\"aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24\",\n    "
	    "\"recvWindow\": 100,\n    \"timestamp\": 1645423376532\n  }\n}\n";
	char hex[TL_VENUE_SIG_HEX_LEN + 1], q[512];
	struct sim_error e;
	struct sim_call c;

	CHECK_EQ(sim_request_parse_ws(ws_req, strlen(ws_req), &g_req, &e), 0);
	CHECK(strcmp(g_req.signed_payload, ws_payload) == 0);
	CHECK_EQ(g_req.signed_len, strlen(ws_payload));
	CHECK(strcmp(g_req.id, "\"4885f793-e5ad-4c3b-8f6c-55d891472b71\"") == 0);
	CHECK_EQ(tl_venue_sign(g_signer, g_req.signed_payload, g_req.signed_len, hex), 0);
	CHECK(strcmp(hex, ws_sig) == 0);
	check_signature(&g_req);
	CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), 0);
	CHECK_EQ(c.place.px.v, 5200000);
	CHECK_EQ(c.place.qty.v, 1000); /* 0.01000000 at 5 decimals: trailing zeros are fine */
	CHECK_EQ(c.place.side, TL_SIM_SELL);
	CHECK_EQ(c.auth.recv_window_ms, 100);
	CHECK_EQ(c.auth.timestamp_ms, 1645423376532ll);
	CHECK_EQ(c.place.client_order_id_len, 0);
	CHECK_EQ(c.resp_type, SIM_RESP_FULL);

	/* REST: the query as sent, signature last; then first; then in the middle (a POST
	 * body appended after '&' by the server) */
	snprintf(q, sizeof(q), "%s&signature=%s", rest_payload, rest_sig);
	CHECK_EQ(sim_request_parse_rest("POST", "/api/v3/order", q, strlen(q), &g_req, &e), 0);
	CHECK_EQ(g_req.method, SIM_M_ORDER_PLACE);
	CHECK_EQ(g_req.n_params, 9);
	CHECK(strcmp(g_req.signed_payload, rest_payload) == 0);
	CHECK_EQ(tl_venue_sign(g_signer, g_req.signed_payload, g_req.signed_len, hex), 0);
	CHECK(strcmp(hex, rest_sig) == 0);
	check_signature(&g_req);
	CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), -1);
	check_err(&e, 400, -1121, "Invalid symbol.", __LINE__); /* no LTCBTC here */

	snprintf(q, sizeof(q), "signature=%s&%s", rest_sig, rest_payload);
	CHECK_EQ(sim_request_parse_rest("POST", "/api/v3/order", q, strlen(q), &g_req, &e), 0);
	CHECK(strcmp(g_req.signed_payload, rest_payload) == 0);
	snprintf(q, sizeof(q),
	         "symbol=LTCBTC&side=BUY&type=LIMIT&signature=%s&timeInForce=GTC"
	         "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
	         rest_sig);
	CHECK_EQ(sim_request_parse_rest("POST", "/api/v3/order", q, strlen(q), &g_req, &e), 0);
	CHECK(strcmp(g_req.signed_payload, rest_payload) == 0);
	check_signature(&g_req);
	/* a lone signature: an empty payload; no signature: none */
	snprintf(q, sizeof(q), "signature=%s", rest_sig);
	CHECK_EQ(sim_request_parse_rest("GET", "/api/v3/account", q, strlen(q), &g_req, &e), 0);
	CHECK_EQ(g_req.signed_len, 0);
	CHECK_EQ(sim_request_parse_rest("GET", "/api/v3/depth", "symbol=BTCUSDT", 14, &g_req, &e),
	         0);
	CHECK_EQ(g_req.signed_len, 0);
	CHECK_EQ(g_req.signed_payload[0], '\0');
}

/* ======================================================================================
 * WS API parsing
 * ====================================================================================== */

static void test_ws_parse(void)
{
	struct sim_error e;
	struct sim_call c;
	char big[8192];

	/* ids: number, string, null, absent; echoed as written */
	CHECK_EQ(ws("{\"id\":-12.5e3,\"method\":\"ping\"}", &e), 0);
	CHECK(strcmp(g_req.id, "-12.5e3") == 0);
	CHECK_EQ(ws("{\"method\":\"ping\",\"id\":\"a\\\"b\"}", &e), 0);
	CHECK(strcmp(g_req.id, "\"a\\\"b\"") == 0);
	CHECK_EQ(ws("{\"id\":null,\"method\":\"ping\"}", &e), 0);
	CHECK(strcmp(g_req.id, "null") == 0 && g_req.id_len == 4);
	CHECK_EQ(ws(" {\"method\":\"time\"} \n", &e), 0);
	CHECK(strcmp(g_req.id, "null") == 0);
	CHECK_EQ(g_req.method, SIM_M_TIME);
	CHECK_EQ(g_req.n_params, 0);
	/* an id of exactly SIM_ID_MAX characters is kept; one more is refused */
	memset(big, 0, sizeof(big));
	snprintf(big, sizeof(big), "{\"id\":\"%062d\",\"method\":\"ping\"}", 0);
	CHECK_EQ(ws(big, &e), 0);
	CHECK_EQ(g_req.id_len, SIM_ID_MAX);
	snprintf(big, sizeof(big), "{\"id\":\"%063d\",\"method\":\"ping\"}", 0);
	WS_ERR(big, 400, -1100, "'id' is longer than 64");
	CHECK(strcmp(g_req.id, "null") == 0);
	WS_ERR("{\"id\":true,\"method\":\"ping\"}", 400, -1100, "'id' must be");
	WS_ERR("{\"id\":{\"a\":1},\"method\":\"ping\"}", 400, -1100, "'id' must be");

	/* unknown top-level keys are skipped, whatever their value */
	CHECK_EQ(ws("{\"x\":{\"y\":[1,2,{\"z\":null}]},\"id\":3,\"\\u0069d\":[true],"
	            "\"method\":\"exchangeInfo\",\"params\":{}}",
	            &e),
	         0);
	CHECK_EQ(g_req.method, SIM_M_EXCHANGE_INFO);
	CHECK(strcmp(g_req.id, "3") == 0);

	/* values: strings (quoted), numbers and booleans (bare) */
	CHECK_EQ(ws("{\"method\":\"depth\",\"params\":{\"a\":\"x y\",\"b\":-1.5e2,\"c\":true,"
	            "\"d\":false}}",
	            &e),
	         0);
	CHECK_EQ(g_req.n_params, 4);
	CHECK(param_eq(&g_req, "a", "x y") && sim_request_param(&g_req, "a")->quoted);
	CHECK(param_eq(&g_req, "b", "-1.5e2") && !sim_request_param(&g_req, "b")->quoted);
	CHECK(param_eq(&g_req, "c", "true") && !sim_request_param(&g_req, "c")->quoted);
	CHECK(param_eq(&g_req, "d", "false"));
	CHECK_EQ(g_req.signed_len, 0); /* no signature: no payload */

	/* malformed JSON */
	WS_ERR("", 400, -1100, "not a JSON object");
	WS_ERR("   ", 400, -1100, "not a JSON object");
	WS_ERR("[1,2,3]", 400, -1100, "not a JSON object");
	WS_ERR("\"ping\"", 400, -1100, "not a JSON object");
	WS_ERR("{", 400, -1100, "invalid JSON");
	WS_ERR("{\"id\":1,\"method\":\"ping\"", 400, -1100, "invalid JSON");
	CHECK(strcmp(g_req.id, "1") == 0); /* read before the break: still echoed */
	WS_ERR("{\"id\":1,\"method\":\"ping\",}", 400, -1100, "invalid JSON");
	WS_ERR("{\"id\":1,\"method\":\"ping\"} x", 400, -1100, "invalid JSON");
	WS_ERR("{\"id\":1,\"method\":\"ping\"}{}", 400, -1100, "invalid JSON");
	WS_ERR("{\"id\":01,\"method\":\"ping\"}", 400, -1100, "invalid JSON");
	WS_ERR("{\"id\":1 \"method\":\"ping\"}", 400, -1100, "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"a\":\"x\" \"b\":1}}", 400, -1100,
	       "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"a\":tru}}", 400, -1100, "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"a\":\"x\n\"}}", 400, -1100, "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"a\":\"x\\q\"}}", 400, -1100, "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"a\"}}", 400, -1100, "invalid JSON");
	WS_ERR("{\"method\":\"depth\",\"params\":{1:2}}", 400, -1100, "invalid JSON");
	/* an unknown key nested deeper than the skipper goes */
	{
		size_t o = 0;

		o += (size_t)snprintf(big + o, sizeof(big) - o, "{\"x\":");
		for (int i = 0; i < 40; i++)
			big[o++] = '[';
		for (int i = 0; i < 40; i++)
			big[o++] = ']';
		snprintf(big + o, sizeof(big) - o, ",\"method\":\"ping\"}");
		WS_ERR(big, 400, -1100, "invalid JSON");
	}
	WS_ERR("{\"id\":5,\"method\":1}", 400, -1100, "'method' must be a string");
	CHECK(strcmp(g_req.id, "5") == 0);
	WS_ERR("{\"id\":2,\"method\":\"order.place\",\"params\":[]}", 400, -1100,
	       "'params' must be an object");
	WS_ERR("{\"id\":2,\"method\":\"ping\",\"method\":\"time\"}", 400, -1100,
	       "duplicate key 'method'");
	WS_ERR("{\"id\":2,\"id\":3,\"method\":\"ping\"}", 400, -1100, "duplicate key 'id'");
	WS_ERR("{\"params\":{},\"method\":\"ping\",\"params\":{}}", 400, -1100,
	       "duplicate key 'params'");

	/* params: nesting, escapes, repeats, too many, empty */
	WS_ERR("{\"id\":3,\"method\":\"order.place\",\"params\":{\"symbol\":{\"nested\":1}}}", 400,
	       -1100, "Illegal value for parameter 'symbol'");
	CHECK(strcmp(g_req.id, "3") == 0);
	WS_ERR("{\"id\":3,\"method\":\"depth\",\"params\":{\"symbol\":[\"BTCUSDT\"]}}", 400, -1100,
	       "Illegal value for parameter 'symbol'");
	WS_ERR("{\"id\":4,\"method\":\"order.place\",\"params\":{\"symbol\":\"BT\\u0043USDT\"}}",
	       400, -1100, "Illegal characters found in parameter 'symbol'; escapes");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"sym\\u0062ol\":\"BTCUSDT\"}}", 400, -1100,
	       "parameter name");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"\":\"BTCUSDT\"}}", 400, -1100,
	       "parameter name");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":5,"
	       "\"symbol\":\"ETHBTC\"}}",
	       400, -1101, "Duplicate values for parameter 'symbol'");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"\"}}", 400, -1105,
	       "Parameter 'symbol' was empty.");
	WS_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":null}}", 400, -1105,
	       "Parameter 'symbol' was empty.");
	/* the first content error wins, and an id after it is still read */
	WS_ERR("{\"params\":{\"a\":\"\",\"b\":{}},\"method\":\"ping\",\"id\":\"late\"}", 400, -1105,
	       "Parameter 'a' was empty.");
	CHECK(strcmp(g_req.id, "\"late\"") == 0);
	/* 32 params are fine; 33 are too many */
	for (int n = 32; n <= 33; n++) {
		size_t o = (size_t)snprintf(big, sizeof(big),
		                            "{\"id\":1,\"method\":\"ping\",\"params\":{");

		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"p%02d\":%d",
			                      i ? "," : "", i, i);
		snprintf(big + o, sizeof(big) - o, "}}");
		if (n == 32) {
			CHECK_EQ(ws(big, &e), 0);
			CHECK_EQ(g_req.n_params, 32);
			CHECK(param_eq(&g_req, "p31", "31"));
			CHECK_EQ(sim_call_decode(g_sim, &g_req, &c, &e), -1);
			check_err(&e, 400, -1104, "read '0' parameter(s) but was sent '32'",
			          __LINE__);
		} else {
			WS_ERR(big, 400, -1101, "received '33'");
		}
	}
	/* a signed payload beyond SIM_SIGNED_MAX */
	{
		char v[3001];

		memset(v, 'a', 3000);
		v[3000] = '\0';
		snprintf(big, sizeof(big),
		         "{\"method\":\"ping\",\"params\":{\"a\":\"%s\",\"b\":\"%s\",\"signature\":"
		         "\"x\"}}",
		         v, v);
		WS_ERR(big, 400, -1100, "longer than 4096");
		/* without a signature there is no payload to build */
		snprintf(big, sizeof(big),
		         "{\"method\":\"ping\",\"params\":{\"a\":\"%s\",\"b\":\"%s\"}}", v, v);
		CHECK_EQ(ws(big, &e), 0);
		CHECK_EQ(g_req.n_params, 2);
	}
	/* a NULL message, a length that runs short of the text */
	CHECK_EQ(sim_request_parse_ws(NULL, 0, &g_req, &e), -1);
	CHECK_EQ(sim_request_parse_ws("{\"method\":\"ping\"}", 10, &g_req, &e), -1);
	CHECK_EQ(e.code, -1100);

	/* unknown methods parse; decode refuses them */
	CHECK_EQ(ws("{\"id\":1,\"method\":\"order.explode\"}", &e), 0);
	CHECK_EQ(g_req.method, SIM_M_UNKNOWN);
	DEC_ERR("{\"id\":1,\"method\":\"order.explode\"}", 400, -1000, "Unknown method.");
	DEC_ERR("{\"id\":1}", 400, -1000, "Unknown method.");
	DEC_ERR("{\"id\":1,\"method\":\"pi\\u006eg\"}", 400, -1000, "Unknown method.");
	DEC_ERR("{\"id\":1,\"method\":\"PING\"}", 400, -1000, "Unknown method.");
}

/* ======================================================================================
 * Decoding
 * ====================================================================================== */

static void test_decode(void)
{
	struct sim_call c;
	char buf[1024];

	/* every method name reaches its method */
	for (int m = SIM_M_UNKNOWN + 1; m < SIM_M_COUNT; m++) {
		struct sim_error e;

		snprintf(buf, sizeof(buf), "{\"method\":\"%s\"}",
		         sim_method_name((enum sim_method)m));
		CHECK_EQ(ws(buf, &e), 0);
		CHECK_EQ(g_req.method, m);
	}

	/* unsigned methods */
	dec_ok("{\"method\":\"ping\"}", &c);
	CHECK_EQ(c.method, SIM_M_PING);
	CHECK_EQ(c.market, -1);
	dec_ok("{\"method\":\"time\",\"params\":{}}", &c);
	dec_ok("{\"method\":\"exchangeInfo\"}", &c);
	DEC_ERR("{\"method\":\"ping\",\"params\":{\"x\":1}}", 400, -1104,
	        "Not all sent parameters were read; read '0' parameter(s) but was sent '1'.");
	dec_ok("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\"}}", &c);
	CHECK_EQ(c.depth_limit, 100);
	CHECK_EQ(c.market, 0);
	dec_ok("{\"method\":\"depth\",\"params\":{\"symbol\":\"ETHBTC\",\"limit\":5000}}", &c);
	CHECK_EQ(c.depth_limit, 5000);
	CHECK_EQ(c.market, 1);
	dec_ok("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":\"1\"}}", &c);
	CHECK_EQ(c.depth_limit, 1);
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":5001}}", 400,
	        -1130, "Invalid data sent for a parameter.");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":999999}}", 400,
	        -1130, "Invalid data");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":0}}", 400,
	        -1130, "Invalid data");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":-5}}", 400,
	        -1100,
	        "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":\"abc\"}}", 400,
	        -1100, "parameter 'limit'");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":5.0}}", 400,
	        -1100, "parameter 'limit'");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"limit\":true}}", 400,
	        -1100, "parameter 'limit'");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"NOPE\"}}", 400, -1121,
	        "Invalid symbol.");
	DEC_ERR("{\"method\":\"depth\",\"params\":{\"symbol\":\"btcusdt\"}}", 400, -1121,
	        "Invalid symbol.");
	DEC_ERR("{\"method\":\"depth\"}", 400, -1102,
	        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
	DEC_ERR("{\"id\":7,\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\",\"bogus\":1}}",
	        400, -1104, "read '1' parameter(s) but was sent '2'");

	/* order.place */
	dec_ok(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT\","
	                  "\"price\":\"1.00\",\"quantity\":\"1\""),
	       &c);
	CHECK_EQ(c.place.tif, TL_SIM_TIF_NONE); /* left to tl_sim_place: TIF_REQUIRED */
	CHECK_EQ(c.place.px.v, 100);
	CHECK_EQ(c.place.qty.v, 100000);
	CHECK(str_eq(c.auth.api_key, c.auth.api_key_len, "k"));
	CHECK(c.auth.signature != NULL && memcmp(c.auth.signature, SIG0, 64) == 0);
	dec_ok(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"SELL\",\"type\":\"LIMIT\","
	                  "\"timeInForce\":\"IOC\",\"price\":60000.5,\"quantity\":0.5,"
	                  "\"newClientOrderId\":\"my-id\",\"newOrderRespType\":\"RESULT\","
	                  "\"recvWindow\":60000"),
	       &c);
	CHECK_EQ(c.place.px.v, 6000050);
	CHECK_EQ(c.place.qty.v, 50000);
	CHECK(str_eq(c.place.client_order_id, c.place.client_order_id_len, "my-id"));
	CHECK_EQ(c.resp_type, SIM_RESP_RESULT);
	CHECK_EQ(c.auth.recv_window_ms, 60000);
	/* an id the engine will refuse still decodes (the engine checks the charset) */
	dec_ok(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT_MAKER\","
	                  "\"price\":\"1\",\"quantity\":\"1\",\"newClientOrderId\":\"a b\""),
	       &c);
	CHECK_EQ(c.place.client_order_id_len, 3);

#define PLACE_OK                                                                                   \
	"\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT\",\"timeInForce\":\"GTC\""
	DEC_ERR(
	    place_json("\"side\":\"BUY\",\"type\":\"LIMIT\",\"price\":\"1\",\"quantity\":\"1\""),
	    400, -1102, "Mandatory parameter 'symbol'");
	DEC_ERR(place_json("\"symbol\":\"XRPUSDT\",\"side\":\"BUY\""), 400, -1121,
	        "Invalid symbol.");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"type\":\"LIMIT\""), 400, -1102,
	        "Mandatory parameter 'side'");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"LIMIT\""), 400,
	        -1117, "Invalid side.");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\""), 400, -1102,
	        "Mandatory parameter 'type'");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"MARKET\""), 400,
	        -1116, "Invalid orderType.");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT\","
	                   "\"timeInForce\":\"GTX\""),
	        400, -1115, "Invalid timeInForce.");
	DEC_ERR(place_json("\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT_MAKER\","
	                   "\"timeInForce\":\"GTC\",\"price\":\"1\",\"quantity\":\"1\""),
	        400, -1106, "Parameter 'timeInForce' sent when not required.");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\""), 400, -1102,
	        "Mandatory parameter 'quantity'");
	DEC_ERR(place_json(PLACE_OK ",\"quantity\":\"1\""), 400, -1102,
	        "Mandatory parameter 'price'");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1e5\",\"quantity\":\"1\""), 400, -1100,
	        "Illegal characters found in parameter 'price'; legal range is "
	        "'^([0-9]{1,20})([.][0-9]{1,20})?$'.");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\",\"quantity\":\"-1\""), 400, -1100,
	        "parameter 'quantity'");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\".5\",\"quantity\":\"1\""), 400, -1100,
	        "parameter 'price'");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\",\"quantity\":\"1.\""), 400, -1100,
	        "parameter 'quantity'");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"60000.123\",\"quantity\":\"1\""), 400, -1111,
	        "Parameter 'price' has too much precision.");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\",\"quantity\":\"0.000001\""), 400, -1111,
	        "Parameter 'quantity' has too much precision.");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"99999999999999999999\",\"quantity\":\"1\""), 400,
	        -1100, "parameter 'price'"); /* -ERANGE */
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\",\"quantity\":\"1\","
	                            "\"newOrderRespType\":\"MINI\""),
	        400, -1100, "parameter 'newOrderRespType'");
	DEC_ERR(place_json(PLACE_OK ",\"price\":\"1\",\"quantity\":\"1\",\"icebergQty\":\"1\""),
	        400, -1104, "read '9' parameter(s) but was sent '10'");
	/* auth */
	DEC_ERR("{\"method\":\"order.place\",\"params\":{" PLACE_OK ",\"price\":\"1\","
	        "\"quantity\":\"1\",\"signature\":\"" SIG0 "\"}}",
	        400, -1102, "Mandatory parameter 'timestamp'");
	DEC_ERR("{\"method\":\"order.place\",\"params\":{" PLACE_OK ",\"price\":\"1\","
	        "\"quantity\":\"1\",\"timestamp\":1}}",
	        400, -1102, "Mandatory parameter 'signature'");
	DEC_ERR(
	    "{\"method\":\"account.status\",\"params\":{\"timestamp\":\"12a\",\"signature\":\"" SIG0
	    "\"}}",
	    400, -1100, "parameter 'timestamp'");
	DEC_ERR("{\"method\":\"account.status\",\"params\":{\"timestamp\":9223372036854775808,"
	        "\"signature\":\"" SIG0 "\"}}",
	        400, -1100, "parameter 'timestamp'");
	DEC_ERR("{\"method\":\"account.status\",\"params\":{\"timestamp\":99999999999999999999999,"
	        "\"signature\":\"" SIG0 "\"}}",
	        400, -1100, "parameter 'timestamp'");
	DEC_ERR("{\"method\":\"account.status\",\"params\":{\"timestamp\":0,\"signature\":\"" SIG0
	        "\"}}",
	        400, -1130, "Invalid data");
	dec_ok("{\"method\":\"account.status\",\"params\":{\"timestamp\":9223372036854775807,"
	       "\"signature\":\"" SIG0 "\"}}",
	       &c);
	CHECK_EQ(c.auth.timestamp_ms, INT64_MAX);
	CHECK(c.auth.api_key == NULL);
	DEC_ERR(
	    "{\"method\":\"account.status\",\"params\":{\"timestamp\":1,\"signature\":\"abc\"}}",
	    400, -1100, "Illegal characters found in parameter 'signature'");
	DEC_ERR("{\"method\":\"account.status\",\"params\":{\"timestamp\":1,\"signature\":\"" SIG0
	        "0\"}}",
	        400, -1100, "parameter 'signature'");
	DEC_ERR("{\"method\":\"account.status\",\"params\":{\"timestamp\":1,\"signature\":"
	        "\"g000000000000000000000000000000000000000000000000000000000000000\"}}",
	        400, -1100, "parameter 'signature'");
	dec_ok("{\"method\":\"account.status\",\"params\":{\"timestamp\":1,\"signature\":"
	       "\"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\"}}",
	       &c);
	DEC_ERR(signed_json("account.status", "\"recvWindow\":60001"), 400, -1131,
	        "recvWindow must be less than 60000");
	DEC_ERR(signed_json("account.status", "\"recvWindow\":\"5s\""), 400, -1100,
	        "parameter 'recvWindow'");
	dec_ok(signed_json("account.status", "\"recvWindow\":0"), &c);
	CHECK_EQ(c.auth.recv_window_ms, 0);
	DEC_ERR(signed_json("account.status", "\"omitZeroBalances\":true"), 400, -1104,
	        "read '3' parameter(s) but was sent '4'");
	dec_ok(signed_json("userDataStream.subscribe.signature", ""), &c);
	CHECK_EQ(c.method, SIM_M_SUBSCRIBE);

	/* order.cancel / order.status */
	dec_ok(signed_json("order.cancel", "\"symbol\":\"BTCUSDT\",\"origClientOrderId\":\"o-1\","
	                                   "\"newClientOrderId\":\"c-1\""),
	       &c);
	CHECK(str_eq(c.ref.orig_client_order_id, c.ref.orig_client_order_id_len, "o-1"));
	CHECK(str_eq(c.ref.new_client_order_id, c.ref.new_client_order_id_len, "c-1"));
	CHECK_EQ(c.ref.order_id, 0);
	/* neither ref: left to the engine (NO_ORDER_REF) */
	dec_ok(signed_json("order.cancel", "\"symbol\":\"BTCUSDT\""), &c);
	CHECK(c.ref.order_id == 0 && c.ref.orig_client_order_id_len == 0);
	dec_ok(
	    signed_json("order.status", "\"symbol\":\"BTCUSDT\",\"orderId\":18446744073709551615"),
	    &c);
	CHECK(c.ref.order_id == UINT64_MAX);
	DEC_ERR(
	    signed_json("order.status", "\"symbol\":\"BTCUSDT\",\"orderId\":18446744073709551616"),
	    400, -1100, "parameter 'orderId'");
	DEC_ERR(signed_json("order.status", "\"symbol\":\"BTCUSDT\",\"orderId\":\"abc\""), 400,
	        -1100, "parameter 'orderId'");
	DEC_ERR(signed_json("order.status", "\"symbol\":\"BTCUSDT\",\"orderId\":0"), 400, -1130,
	        "Invalid data");
	DEC_ERR(signed_json("order.status", "\"symbol\":\"BTCUSDT\",\"orderId\":1,"
	                                    "\"newClientOrderId\":\"c-1\""),
	        400, -1104, "read '5' parameter(s) but was sent '6'");
	DEC_ERR(signed_json("order.cancel", "\"orderId\":1"), 400, -1102,
	        "Mandatory parameter 'symbol'");
	DEC_ERR(signed_json("openOrders.status", ""), 400, -1102, "Mandatory parameter 'symbol'");
	DEC_ERR(signed_json("openOrders.cancelAll", "\"symbol\":\"X\""), 400, -1121,
	        "Invalid symbol.");

	/* myTrades */
	dec_ok(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"orderId\":5,\"limit\":1000"), &c);
	CHECK_EQ(c.trades_order_id, 5);
	CHECK_EQ(c.trades.limit, 1000);
	dec_ok(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"startTime\":0"), &c);
	CHECK(c.trades.has_start && !c.trades.has_end && c.trades.start_ms == 0);
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"limit\":1001"), 400, -1130,
	        "Invalid data sent for a parameter.");
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"limit\":0"), 400, -1130,
	        "Invalid data");
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"orderId\":0"), 400, -1130,
	        "Invalid data");
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"fromId\":-1"), 400, -1100,
	        "parameter 'fromId'");
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"endTime\":\"x\""), 400, -1100,
	        "parameter 'endTime'");
	DEC_ERR(signed_json("myTrades", "\"symbol\":\"BTCUSDT\",\"startTime\":9223372036854775808"),
	        400, -1100, "parameter 'startTime'");

	/* a request built by hand with a NULL sim: every symbol is unknown */
	{
		struct sim_error e;

		CHECK_EQ(ws("{\"method\":\"depth\",\"params\":{\"symbol\":\"BTCUSDT\"}}", &e), 0);
		CHECK_EQ(sim_call_decode(NULL, &g_req, &c, &e), -1);
		CHECK_EQ(e.code, -1121);
	}
}

/* ======================================================================================
 * REST
 * ====================================================================================== */

static void test_rest(void)
{
	static const struct {
		const char *verb, *path;
		enum sim_method m;
	} routes[] = {
	    {"POST", "/api/v3/order", SIM_M_ORDER_PLACE},
	    {"DELETE", "/api/v3/order", SIM_M_ORDER_CANCEL},
	    {"GET", "/api/v3/order", SIM_M_ORDER_STATUS},
	    {"GET", "/api/v3/openOrders", SIM_M_OPEN_ORDERS},
	    {"DELETE", "/api/v3/openOrders", SIM_M_CANCEL_ALL},
	    {"GET", "/api/v3/myTrades", SIM_M_MY_TRADES},
	    {"GET", "/api/v3/account", SIM_M_ACCOUNT},
	    {"GET", "/api/v3/ping", SIM_M_PING},
	    {"GET", "/api/v3/time", SIM_M_TIME},
	    {"GET", "/api/v3/exchangeInfo", SIM_M_EXCHANGE_INFO},
	    {"GET", "/api/v3/depth", SIM_M_DEPTH},
	};
	struct sim_error e;
	struct sim_call c;
	char big[SIM_SIGNED_MAX + 64];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		CHECK_EQ(rest(routes[i].verb, routes[i].path, "", &e), 0);
		CHECK_EQ(g_req.method, routes[i].m);
		CHECK(strcmp(g_req.id, "null") == 0);
		CHECK_EQ(g_req.n_params, 0);
	}
	CHECK_EQ(rest("GET", "/api/v3/ping", NULL, &e), 0);
	rest_ok("GET", "/api/v3/ping", "", &c);
	rest_ok("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=5", &c);
	CHECK_EQ(c.depth_limit, 5);
	/* percent-decoding, '+' as a space, empty segments skipped */
	rest_ok("GET", "/api/v3/depth", "&symbol=BTC%55SDT&&limit=%35%30&", &c);
	CHECK_EQ(c.depth_limit, 50);
	CHECK_EQ(g_req.n_params, 2);
	CHECK(param_eq(&g_req, "symbol", "BTCUSDT") && param_eq(&g_req, "limit", "50"));
	CHECK(!sim_request_param(&g_req, "symbol")->quoted);
	CHECK_EQ(rest("GET", "/api/v3/depth", "a+b=x+y%2By%2b%3D%26", &e), 0);
	CHECK(param_eq(&g_req, "a b", "x y+y+=&"));
	REST_DEC_ERR("GET", "/api/v3/depth", "symbol=BTC+USDT", 400, -1121, "Invalid symbol.");
	REST_DEC_ERR("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=abc", 400, -1100,
	             "parameter 'limit'");
	REST_DEC_ERR("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=0", 400, -1130, "Invalid data");
	REST_DEC_ERR("GET", "/api/v3/myTrades", "symbol=BTCUSDT", 400, -1102,
	             "Mandatory parameter 'timestamp'");
	REST_DEC_ERR("GET", "/api/v3/ping", "x=1", 400, -1104, "read '0' parameter(s)");
	REST_DEC_ERR(
	    "POST", "/api/v3/order",
	    "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&price=1&quantity=0.123456&" AUTH_REST, 400,
	    -1111, "Parameter 'quantity' has too much precision.");
	rest_ok("POST", "/api/v3/order",
	        "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&price=1&quantity=0.12345&"
	        "newOrderRespType=ACK&" AUTH_REST,
	        &c);
	CHECK_EQ(c.place.qty.v, 12345);
	CHECK_EQ(c.resp_type, SIM_RESP_ACK);
	CHECK_EQ(c.auth.timestamp_ms, 1700000000000ll);
	CHECK(strcmp(g_req.signed_payload, "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&price=1"
	                                   "&quantity=0.12345&newOrderRespType=ACK"
	                                   "&timestamp=1700000000000") == 0);
	rest_ok("DELETE", "/api/v3/order",
	        "symbol=BTCUSDT&orderId=9&newClientOrderId=c-9&" AUTH_REST, &c);
	CHECK_EQ(c.method, SIM_M_ORDER_CANCEL);
	CHECK_EQ(c.ref.order_id, 9);
	CHECK(str_eq(c.ref.new_client_order_id, c.ref.new_client_order_id_len, "c-9"));
	rest_ok("GET", "/api/v3/account", AUTH_REST, &c);
	CHECK(c.auth.api_key == NULL);

	/* paths and verbs */
	REST_ERR("GET", "/api/v3/nothing", "", 404, -1000, "Unknown path '/api/v3/nothing'.");
	CHECK_EQ(g_req.method, SIM_M_UNKNOWN);
	REST_ERR("GET", "/api/v3/depth/", "", 404, -1000, "Unknown path");
	REST_ERR("GET", NULL, "", 404, -1000, "Unknown path");
	REST_ERR("POST", "/api/v3/depth", "symbol=BTCUSDT", 400, -1000,
	         "Method 'POST' is not allowed on '/api/v3/depth'.");
	CHECK_EQ(g_req.method, SIM_M_UNKNOWN);
	REST_ERR("PUT", "/api/v3/order", "", 400, -1000, "not allowed");
	REST_ERR("get", "/api/v3/ping", "", 400, -1000, "not allowed");
	REST_ERR(NULL, "/api/v3/ping", "", 400, -1000, "not allowed");

	/* percent-encoding */
	REST_ERR("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=%zz", 400, -1100,
	         "Illegal characters found in parameter 'limit'; bad percent-encoding.");
	REST_ERR("GET", "/api/v3/depth", "symbol=BTC%2", 400, -1100,
	         "parameter 'symbol'; bad percent-encoding");
	REST_ERR("GET", "/api/v3/depth", "symbol=BTC%", 400, -1100, "bad percent-encoding");
	REST_ERR("GET", "/api/v3/depth", "sym%g0=BTC", 400, -1100,
	         "a parameter name; bad percent-encoding");
	REST_ERR("GET", "/api/v3/depth", "=BTC", 400, -1100, "a parameter name");
	REST_ERR("GET", "/api/v3/depth", "%2=BTC", 400, -1100, "bad percent-encoding");
	/* empty values, repeats, too many, too long */
	REST_ERR("GET", "/api/v3/depth", "symbol=", 400, -1105, "Parameter 'symbol' was empty.");
	REST_ERR("GET", "/api/v3/depth", "symbol", 400, -1105, "Parameter 'symbol' was empty.");
	REST_ERR("GET", "/api/v3/depth", "limit=5&symbol=A&limit=5", 400, -1101,
	         "Duplicate values for parameter 'limit'.");
	REST_ERR("GET", "/api/v3/depth", "limit=5&lim%69t=6", 400, -1101, "'limit'");
	for (int n = 32; n <= 33; n++) {
		size_t o = 0;

		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o, "%sp%02d=%d", i ? "&" : "",
			                      i, i);
		if (n == 32) {
			CHECK_EQ(rest("GET", "/api/v3/ping", big, &e), 0);
			CHECK_EQ(g_req.n_params, 32);
		} else {
			REST_ERR("GET", "/api/v3/ping", big, 400, -1101, "received '33'");
		}
	}
	memset(big, 'a', SIM_SIGNED_MAX);
	memcpy(big, "symbol=", 7);
	big[SIM_SIGNED_MAX] = '\0';
	CHECK_EQ(rest("GET", "/api/v3/depth", big, &e), 0);
	CHECK_EQ(sim_request_param(&g_req, "symbol")->val_len, SIM_SIGNED_MAX - 7);
	big[SIM_SIGNED_MAX] = 'a';
	big[SIM_SIGNED_MAX + 1] = '\0';
	REST_ERR("GET", "/api/v3/depth", big, 400, -1100, "longer than 4096");
}

/* ======================================================================================
 * Sanitizing, the method table
 * ====================================================================================== */

static void test_sanitize(void)
{
	struct sim_error e;

	/* a param name with a quote, a backslash, a control and a non-ASCII byte */
	REST_ERR("GET", "/api/v3/depth", "a%22b%5Cc%0Ad%C3%A9=", 400, -1105,
	         "Parameter 'a?b?c?d?"
	         "?' was empty.");
	REST_ERR("GET", "/api/v3/depth", "x%22=1&x%22=2", 400, -1101,
	         "Duplicate values for parameter 'x?'.");
	REST_ERR("GET", "/api/v3/x\"y\\z", "", 404, -1000, "Unknown path '/api/v3/x?y?z'.");
	/* over WS, a name can hold raw non-ASCII and a '\'' */
	WS_ERR("{\"method\":\"ping\",\"params\":{\"na\xc3\xafve'\":\"\"}}", 400, -1105,
	       "Parameter 'na??ve'' was empty.");
	/* a long name is cut in the message */
	{
		char q[300];

		memset(q, 'n', 200);
		memcpy(q + 200, "=", 2);
		CHECK_EQ(rest("GET", "/api/v3/depth", q, &e), -1);
		check_err(&e, 400, -1105, "Parameter 'nnnn", __LINE__);
		CHECK(strlen(e.msg) < 100); /* the name shown is cut */
	}
	/* sim_error_set itself */
	CHECK_EQ(sim_error_set(&e, 418, -1003, "a\"b\\c\td\x01\x7f\xff %s %d", "q\"", 5), -1);
	CHECK_EQ(e.status, 418);
	CHECK_EQ(e.code, -1003);
	CHECK(strcmp(e.msg, "a?b?c?d??? q? 5") == 0);
	/* cut at SIM_ERROR_MSG_MAX, NUL-terminated */
	{
		char longs[600];

		memset(longs, 'x', sizeof(longs) - 1);
		longs[sizeof(longs) - 1] = '\0';
		sim_error_set(&e, 400, -1100, "%s", longs);
		CHECK_EQ(strlen(e.msg), SIM_ERROR_MSG_MAX);
	}
	CHECK_EQ(sim_error_set(NULL, 400, -1100, "x"), -1);
}

static void test_methods(void)
{
	static const char *const names[SIM_M_COUNT] = {"?",
	                                               "order.place",
	                                               "order.cancel",
	                                               "order.status",
	                                               "openOrders.cancelAll",
	                                               "openOrders.status",
	                                               "userDataStream.subscribe.signature",
	                                               "myTrades",
	                                               "account.status",
	                                               "ping",
	                                               "time",
	                                               "exchangeInfo",
	                                               "depth"};
	static const bool is_signed[SIM_M_COUNT] = {false, true, true,  true,  true,  true, true,
	                                            true,  true, false, false, false, false};

	for (int m = 0; m < SIM_M_COUNT; m++) {
		CHECK(strcmp(sim_method_name((enum sim_method)m), names[m]) == 0);
		CHECK_EQ(sim_method_signed((enum sim_method)m), is_signed[m]);
	}
	CHECK(strcmp(sim_method_name(SIM_M_COUNT), "?") == 0);
	CHECK(strcmp(sim_method_name((enum sim_method) - 1), "?") == 0);
	CHECK(!sim_method_signed(SIM_M_COUNT));
	CHECK_EQ(sim_method_weight(SIM_M_ORDER_PLACE, 0), 1);
	CHECK_EQ(sim_method_weight(SIM_M_ORDER_CANCEL, 0), 1);
	CHECK_EQ(sim_method_weight(SIM_M_ORDER_STATUS, 0), 4);
	CHECK_EQ(sim_method_weight(SIM_M_OPEN_ORDERS, 0), 6);
	CHECK_EQ(sim_method_weight(SIM_M_MY_TRADES, 0), 20);
	CHECK_EQ(sim_method_weight(SIM_M_ACCOUNT, 0), 20);
	CHECK_EQ(sim_method_weight(SIM_M_EXCHANGE_INFO, 0), 20);
	CHECK_EQ(sim_method_weight(SIM_M_PING, 0), 1);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 1), 5);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 100), 5);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 101), 25);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 500), 25);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 1000), 50);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 1001), 250);
	CHECK_EQ(sim_method_weight(SIM_M_DEPTH, 5000), 250);
	/* the depth limit is for depth only */
	CHECK_EQ(sim_method_weight(SIM_M_ORDER_STATUS, 5000), 4);
}

int main(void)
{
	struct tl_sim_config cfg;
	struct tl_sim_market_config *m;

	/* The default BTCUSDT (2 / 5 decimals) and an ETHBTC at 5 / 3. */
	tl_sim_config_default(&cfg);
	m = &cfg.markets[1];
	*m = cfg.markets[0];
	strcpy(m->symbol, "ETHBTC");
	m->base_asset = 1; /* any two distinct assets do for parsing */
	m->quote_asset = 0;
	m->px_decimals = 5;
	m->qty_decimals = 3;
	m->max_px.v = 10000000; /* 100.00000 */
	m->max_qty.v = 9000000; /* 9000.000 */
	m->min_notional.v = 10000;
	m->walk.start_px.v = 5000000;
	m->walk.level_qty_min.v = 1000;
	m->walk.level_qty_max.v = 20000;
	m->walk.trade_qty_max.v = 5000;
	cfg.n_markets = 2;
	cfg.max_open_orders = 64;
	cfg.history_orders = 64;
	cfg.trades_per_account = 16;
	cfg.max_accounts = 2;
	CHECK_EQ(tl_sim_create(&g_sim, &cfg), 0);
	CHECK_EQ(tl_venue_signer_create(&g_signer, SECRET, strlen(SECRET)), 0);

	test_methods();
	test_vectors();
	test_builders_ws();
	test_builders_rest();
	test_ws_parse();
	test_decode();
	test_rest();
	test_sanitize();

	tl_venue_signer_destroy(g_signer);
	tl_sim_destroy(g_sim);
	printf("test_sim_request: ok\n");
	return 0;
}
