/*
 * fuzz_sim_request.c: libFuzzer target for the sim's request side (sim/sim_wire.h,
 * "Requests"): what `tally sim` reads from its clients.
 *
 * The input goes, whole, to sim_request_parse_ws and, when it parses, to sim_call_decode
 * against a sim made once from tl_sim_config_default. It also goes to
 * sim_request_parse_rest (and decode): the first byte picks the verb, the second the
 * path, the rest is the query (so the seeds stay printable: '0' GET, '1' POST, '2' DELETE;
 * 'H' order, 'I' openOrders, 'J' myTrades, 'K' account, 'L' ping, 'M' time,
 * 'N' exchangeInfo, 'O' depth, 'P' an unknown path). Each call must return 0 or -1; on -1 the error
 * must be a 4xx status with a Binance code and a message safe to put in JSON unescaped; on 0 the
 * request and the call must hold what the header promises: counts within bounds, ids and
 * payloads NUL-terminated, borrowed strings inside the message (or the request's
 * scratch), a market in range. Any crash or sanitizer report is a finding too.
 *
 * The message is copied into a heap block of exactly its size so that AddressSanitizer
 * sees any read past the end.
 */
#include "sim_wire.h"
#include "tl_sim_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sim_request: %s:%d: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const char *const verbs[] = {"GET", "POST", "DELETE", "PUT"};
static const char *const paths[] = {
    "/api/v3/order", "/api/v3/openOrders",   "/api/v3/myTrades", "/api/v3/account", "/api/v3/ping",
    "/api/v3/time",  "/api/v3/exchangeInfo", "/api/v3/depth",    "/api/v3/nothing",
};

static tl_sim_t *sim;
static struct sim_request req;

/* s[0..n) lies within [lo, hi). */
static bool inside(const char *s, size_t n, const char *lo, const char *hi)
{
	return s >= lo && s <= hi && n <= (size_t)(hi - s);
}

static void check_error(const struct sim_error *e)
{
	const char *end = memchr(e->msg, '\0', sizeof(e->msg));

	REQUIRE(end != NULL);
	REQUIRE(e->status >= 400 && e->status <= 499);
	REQUIRE(e->code <= -1000 && e->code >= -1199);
	for (const char *p = e->msg; p < end; p++)
		REQUIRE(*p >= 0x20 && *p <= 0x7e && *p != '"' && *p != '\\');
}

/* Borrowed strings of a request lie in [lo, hi) (the message) or the scratch. */
static void check_request(const struct sim_request *r, const char *lo, const char *hi)
{
	const char *slo = r->scratch, *shi = r->scratch + sizeof(r->scratch);

	REQUIRE(r->method >= SIM_M_UNKNOWN && r->method < SIM_M_COUNT);
	REQUIRE(r->n_params <= SIM_PARAMS_MAX);
	REQUIRE(r->id_len >= 1 && r->id_len <= SIM_ID_MAX && r->id[r->id_len] == '\0');
	REQUIRE(strlen(r->id) == r->id_len);
	REQUIRE(r->signed_len <= SIM_SIGNED_MAX && r->signed_payload[r->signed_len] == '\0');
	for (uint32_t i = 0; i < r->n_params; i++) {
		const struct sim_param *p = &r->params[i];

		REQUIRE(p->name_len > 0 && p->val_len > 0);
		REQUIRE(inside(p->name, p->name_len, lo, hi) ||
		        inside(p->name, p->name_len, slo, shi));
		REQUIRE(inside(p->val, p->val_len, lo, hi) || inside(p->val, p->val_len, slo, shi));
		/* names are distinct */
		for (uint32_t j = 0; j < i; j++)
			REQUIRE(r->params[j].name_len != p->name_len ||
			        memcmp(r->params[j].name, p->name, p->name_len) != 0);
	}
	REQUIRE(sim_method_name(r->method) != NULL);
	REQUIRE(sim_method_weight(r->method, 100) >= 1);
}

static void decode(const struct sim_request *r, const char *lo, const char *hi)
{
	const char *slo = r->scratch, *shi = r->scratch + sizeof(r->scratch);
	struct sim_error e = {0};
	struct sim_call c;

	if (sim_call_decode(sim, r, &c, &e) != 0) {
		check_error(&e);
		return;
	}
	REQUIRE(r->method != SIM_M_UNKNOWN);
	REQUIRE(c.method == r->method);
	REQUIRE(c.market >= -1 && c.market < (int)tl_sim_config_get(sim)->n_markets);
	REQUIRE(c.resp_type <= SIM_RESP_FULL);
	REQUIRE(c.depth_limit >= 1 && c.depth_limit <= TL_SIM_DEPTH_LEVELS_MAX);
	REQUIRE(c.trades.limit <= TL_SIM_MY_TRADES_MAX);
	REQUIRE(c.auth.recv_window_ms <= 60000);
	if (sim_method_signed(r->method)) {
		REQUIRE(c.auth.signature != NULL && c.auth.timestamp_ms > 0);
		REQUIRE(inside(c.auth.signature, 64, lo, hi) ||
		        inside(c.auth.signature, 64, slo, shi));
	}
	if (r->method == SIM_M_ORDER_PLACE) {
		REQUIRE(c.market >= 0);
		REQUIRE(c.place.side <= TL_SIM_SELL && c.place.type <= TL_SIM_LIMIT_MAKER);
		REQUIRE(c.place.tif <= TL_SIM_FOK);
		REQUIRE(c.place.px.v >= 0 && c.place.qty.v >= 0);
		if (c.place.type == TL_SIM_LIMIT_MAKER)
			REQUIRE(c.place.tif == TL_SIM_TIF_NONE);
	}
	sim_method_weight(r->method, c.depth_limit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_error e = {0};
	char *msg;

	if (sim == NULL) {
		struct tl_sim_config cfg;

		tl_sim_config_default(&cfg);
		REQUIRE(tl_sim_create(&sim, &cfg) == 0);
	}
	msg = malloc(size ? size : 1);
	REQUIRE(msg != NULL);
	memcpy(msg, data, size);

	/* WS API: the whole input */
	if (sim_request_parse_ws(msg, size, &req, &e) == 0) {
		check_request(&req, msg, msg + size);
		decode(&req, msg, msg + size);
	} else {
		check_error(&e);
		REQUIRE(strlen(req.id) == req.id_len && req.id_len <= SIM_ID_MAX);
	}

	/* REST: verb, path, query */
	if (size >= 2) {
		const char *verb = verbs[data[0] % 4];
		const char *path = paths[data[1] % (sizeof(paths) / sizeof(paths[0]))];
		char *q = malloc(size - 2 ? size - 2 : 1);

		REQUIRE(q != NULL);
		memcpy(q, data + 2, size - 2);
		memset(&e, 0, sizeof(e));
		if (sim_request_parse_rest(verb, path, q, size - 2, &req, &e) == 0) {
			check_request(&req, q, q + size - 2);
			REQUIRE(strcmp(req.id, "null") == 0);
			decode(&req, q, q + size - 2);
		} else {
			check_error(&e);
		}
		free(q);
	}
	free(msg);
	return 0;
}
