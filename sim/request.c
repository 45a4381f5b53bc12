/*
 * request.c: what clients send to `tally sim`, read (sim_wire.h, "Errors" and "Requests").
 *
 * DESIGN
 *
 * Two steps, as the header says. Parsing turns a WS API message or a REST query into a
 * flat list of (name, value) params borrowed from the message (REST: from the request's
 * scratch, where they are percent-decoded), plus the bytes the client signed. Decoding
 * then reads that list for one method, each param once, into the engine's structs. Every
 * param a method reads is marked; what is left unmarked is -1104, as Binance answers.
 *
 * Input is untrusted: every read is bounded by the message's end (the JSON lexing is the
 * project's, md_json.h, which never reads past `end`), and every refusal is a sim_error,
 * never an assert.
 *
 * WS API parsing keeps going after a refusal that is about content, not grammar (a
 * duplicate param, an empty value, an escape): the first such error is kept and the rest
 * of the object is still read, so that an "id" written after "params" still reaches the
 * error response. A grammar error stops at once.
 *
 * Choices where the contract leaves room (sim_wire.h):
 *   - A param value of JSON null is "empty" (-1105), as Binance's "was empty/null"
 *     wording has it; an object or array value is -1100.
 *   - An "id" of another type (true, an object...) or longer than SIM_ID_MAX is -1100,
 *     and the id echoed stays null. "id", "method" or "params" given twice is -1100.
 *   - REST: '+' decodes to a space, as application/x-www-form-urlencoded (and the Java
 *     servlet stack Binance runs on) reads it in the query and in the body alike. The
 *     signature is over the raw text, so this changes no payload. Empty segments ("a=1&&b=2",
 *     a trailing '&') are skipped, but stay in the signed payload, which is the query as
 *     sent minus the signature segment and one '&' next to it.
 *   - A REST verb a known path does not serve: status 400, -1000.
 *   - apiKey is read when sent but is not mandatory here: REST carries the key in the
 *     X-MBX-APIKEY header, and a request does not say whether it came by REST. A missing
 *     key is the server's refusal (-2014 "API-key format invalid.", as Binance answers).
 *     timestamp and signature are mandatory for signed methods (-1102).
 *   - order.place with LIMIT and no timeInForce is left to the engine (tif NONE:
 *     tl_sim_place answers TIF_REQUIRED, -1102), so that rule lives in one place. With
 *     LIMIT_MAKER, a timeInForce is refused here (-1106) before its value is looked at.
 *   - recvWindow above 60000 is -1131 "recvWindow must be less than 60000." (Binance's
 *     code and text; sim_wire.h lists it under -1130). 0..60000 is accepted.
 *   - An integer with anything but digits, more than 20 digits, or beyond its type is
 *     -1100; one in range syntactically but refused by value (orderId 0, timestamp 0, a
 *     limit out of range) is -1130.
 *   - myTrades fromId 0 means "from the first trade": the engine's from_id 0 means "not
 *     given", and trade ids start at 1, so it is passed as 1.
 */
#include "sim_wire.h"

#include "md_json.h"
#include "tl_md.h"
#include "tl_venue.h" /* TL_VENUE_RECV_WINDOW_*, TL_VENUE_SIG_HEX_LEN */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Deepest nesting skipped under an unknown top-level key. */
#define WS_MAX_DEPTH 32
/* Longest WS API message read: lengths are kept in 32 bits. */
#define WS_MSG_MAX 0x7fffffffu
/* Bytes of a param name shown in an error message. */
#define NAME_SHOWN 64
/* A param name in a message: printf("%.*s", NAME(p)). */
#define NAME(p) (int)((p)->name_len < NAME_SHOWN ? (p)->name_len : NAME_SHOWN), (p)->name

/* ======================================================================================
 * Errors
 * ====================================================================================== */

int sim_error_set(struct sim_error *err, int status, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL)
		return -1;
	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	/* The message goes into JSON unescaped: only printable ASCII, no quote or backslash. */
	for (char *p = err->msg; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			*p = '?';
	}
	return -1;
}

/* ======================================================================================
 * Methods
 * ====================================================================================== */

static const struct {
	const char *name;
	bool is_signed;
	uint32_t weight;
} methods[SIM_M_COUNT] = {
    [SIM_M_UNKNOWN] = {"?", false, 1},
    [SIM_M_ORDER_PLACE] = {"order.place", true, 1},
    [SIM_M_ORDER_CANCEL] = {"order.cancel", true, 1},
    [SIM_M_ORDER_STATUS] = {"order.status", true, 4},
    [SIM_M_CANCEL_ALL] = {"openOrders.cancelAll", true, 1},
    [SIM_M_OPEN_ORDERS] = {"openOrders.status", true, 6},
    [SIM_M_SUBSCRIBE] = {"userDataStream.subscribe.signature", true, 2},
    [SIM_M_MY_TRADES] = {"myTrades", true, 20},
    [SIM_M_ACCOUNT] = {"account.status", true, 20},
    [SIM_M_PING] = {"ping", false, 1},
    [SIM_M_TIME] = {"time", false, 1},
    [SIM_M_EXCHANGE_INFO] = {"exchangeInfo", false, 20},
    [SIM_M_DEPTH] = {"depth", false, 5},
};

const char *sim_method_name(enum sim_method m)
{
	return (unsigned)m < SIM_M_COUNT ? methods[m].name : "?";
}

bool sim_method_signed(enum sim_method m)
{
	return (unsigned)m < SIM_M_COUNT && methods[m].is_signed;
}

uint32_t sim_method_weight(enum sim_method m, uint32_t depth_limit)
{
	if (m == SIM_M_DEPTH) {
		/* Binance's steps; 0 (not given) is the default limit, 100. */
		if (depth_limit <= 100)
			return 5;
		if (depth_limit <= 500)
			return 25;
		if (depth_limit <= 1000)
			return 50;
		return 250;
	}
	return (unsigned)m < SIM_M_COUNT ? methods[m].weight : 1;
}

static enum sim_method method_find(const char *s, size_t n)
{
	for (int m = SIM_M_UNKNOWN + 1; m < SIM_M_COUNT; m++)
		if (strlen(methods[m].name) == n && memcmp(methods[m].name, s, n) == 0)
			return (enum sim_method)m;
	return SIM_M_UNKNOWN;
}

/* ======================================================================================
 * Parsing, common
 * ====================================================================================== */

static void request_init(struct sim_request *r)
{
	/* Not a memset: the struct is 12 KB and this is on every request's path. */
	memcpy(r->id, "null", 5);
	r->id_len = 4;
	r->method = SIM_M_UNKNOWN;
	r->n_params = 0;
	r->signed_payload[0] = '\0';
	r->signed_len = 0;
}

static bool name_is(const struct sim_param *p, const char *s, size_t n)
{
	return p->name_len == n && memcmp(p->name, s, n) == 0;
}

/* Bytewise order of two names, shorter first on a common prefix (strcmp's order). */
static int name_cmp(const struct sim_param *a, const struct sim_param *b)
{
	uint32_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(a->name, b->name, n);

	if (c != 0)
		return c;
	return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/*
 * Sorts the params' indexes by name into idx[0..n) (insertion sort: n <= 32) and refuses
 * a name given twice (-1101).
 */
static int params_sort(const struct sim_request *r, uint8_t *idx, struct sim_error *err)
{
	for (uint32_t i = 0; i < r->n_params; i++) {
		uint32_t j = i;

		while (j > 0 && name_cmp(&r->params[idx[j - 1]], &r->params[i]) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = (uint8_t)i;
	}
	for (uint32_t i = 1; i < r->n_params; i++) {
		const struct sim_param *p = &r->params[idx[i]];

		if (name_cmp(&r->params[idx[i - 1]], p) == 0)
			return sim_error_set(err, 400, -1101,
			                     "Duplicate values for parameter '%.*s'.", NAME(p));
	}
	return 0;
}

const struct sim_param *sim_request_param(const struct sim_request *req, const char *name)
{
	size_t n;
	uint32_t np;

	if (req == NULL || name == NULL)
		return NULL;
	n = strlen(name);
	np = req->n_params < SIM_PARAMS_MAX ? req->n_params : SIM_PARAMS_MAX;
	for (uint32_t i = 0; i < np; i++)
		if (name_is(&req->params[i], name, n))
			return &req->params[i];
	return NULL;
}

/* ======================================================================================
 * Parsing, WS API
 * ====================================================================================== */

/* The parse of one message: the first content error is kept while reading goes on. */
struct ws_parse {
	const char *end;
	struct sim_request *out;
	struct sim_error *err;
	bool failed;
	uint32_t n_seen; /* params seen, including those beyond SIM_PARAMS_MAX */
};

static void ws_fail(struct ws_parse *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ws_fail(struct ws_parse *w, int code, const char *fmt, ...)
{
	char msg[SIM_ERROR_MSG_MAX + 1];
	va_list ap;

	if (w->failed)
		return;
	w->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_error_set(w->err, 400, code, "%s", msg);
}

/* "id": a number, a string or null, kept as its JSON text. Returns past it or NULL. */
static const char *ws_id(struct ws_parse *w, const char *p)
{
	const char *q;
	bool esc, is_int;
	uint8_t lit;

	if (*p == '"') {
		q = tl_json_string_end(p + 1, w->end, &esc);
	} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
		q = tl_json_number_end(p, w->end, &is_int);
	} else if (*p == 'n') {
		q = tl_json_literal_end(p, w->end, &lit);
		if (q != NULL && lit != TL_JSON_NULL)
			return NULL;
		return q; /* null: the id stays "null" */
	} else {
		q = tl_json_skip_value(p, w->end, 1, WS_MAX_DEPTH);
		if (q != NULL)
			ws_fail(w, -1100,
			        "Malformed request: 'id' must be a number, a string or null.");
		return q;
	}
	if (q == NULL)
		return NULL;
	if ((size_t)(q - p) > SIM_ID_MAX) {
		ws_fail(w, -1100, "Malformed request: 'id' is longer than %d characters.",
		        SIM_ID_MAX);
		return q;
	}
	memcpy(w->out->id, p, (size_t)(q - p));
	w->out->id[q - p] = '\0';
	w->out->id_len = (uint32_t)(q - p);
	return q;
}

/* "method": a string; one with an escape names no method we know. */
static const char *ws_method(struct ws_parse *w, const char *p)
{
	const char *q;
	bool esc;

	if (*p != '"') {
		q = tl_json_skip_value(p, w->end, 1, WS_MAX_DEPTH);
		if (q != NULL)
			ws_fail(w, -1100, "Malformed request: 'method' must be a string.");
		return q;
	}
	q = tl_json_string_end(p + 1, w->end, &esc);
	if (q != NULL && !esc)
		w->out->method = method_find(p + 1, (size_t)(q - 1 - (p + 1)));
	return q;
}

/* The value at p of prm, whose name is already set. */
static const char *ws_param_value(struct ws_parse *w, const char *p, struct sim_param *prm)
{
	const char *q;
	bool esc, is_int;
	uint8_t lit;

	prm->quoted = false;
	prm->val = p;
	switch (*p) {
	case '"':
		q = tl_json_string_end(p + 1, w->end, &esc);
		if (q == NULL)
			return NULL;
		prm->quoted = true;
		prm->val = p + 1;
		prm->val_len = (uint32_t)(q - 1 - (p + 1));
		if (esc)
			ws_fail(w, -1100,
			        "Illegal characters found in parameter '%.*s'; escapes are not "
			        "accepted.",
			        NAME(prm));
		else if (prm->val_len == 0)
			ws_fail(w, -1105, "Parameter '%.*s' was empty.", NAME(prm));
		return q;
	case 't':
	case 'f':
	case 'n':
		q = tl_json_literal_end(p, w->end, &lit);
		if (q == NULL)
			return NULL;
		prm->val_len = (uint32_t)(q - p);
		if (lit == TL_JSON_NULL)
			ws_fail(w, -1105, "Parameter '%.*s' was empty.", NAME(prm));
		return q;
	case '{':
	case '[':
		q = tl_json_skip_value(p, w->end, 2, WS_MAX_DEPTH);
		if (q != NULL)
			ws_fail(
			    w, -1100,
			    "Illegal value for parameter '%.*s'; expected a string, a number or "
			    "a boolean.",
			    NAME(prm));
		return q;
	default:
		if (*p != '-' && (*p < '0' || *p > '9'))
			return NULL;
		q = tl_json_number_end(p, w->end, &is_int);
		if (q != NULL)
			prm->val_len = (uint32_t)(q - p);
		return q;
	}
}

/* "params": an object of scalars. */
static const char *ws_params(struct ws_parse *w, const char *p)
{
	const char *end = w->end;

	if (*p != '{') {
		p = tl_json_skip_value(p, end, 1, WS_MAX_DEPTH);
		if (p != NULL)
			ws_fail(w, -1100, "Malformed request: 'params' must be an object.");
		return p;
	}
	p = tl_json_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		struct sim_param prm;
		const char *q;
		bool esc;

		if (p >= end || *p != '"')
			return NULL;
		q = tl_json_string_end(p + 1, end, &esc);
		if (q == NULL)
			return NULL;
		prm.name = p + 1;
		prm.name_len = (uint32_t)(q - 1 - (p + 1));
		prm.val_len = 0;
		if (esc || prm.name_len == 0)
			ws_fail(w, -1100, "Illegal characters found in a parameter name.");
		p = tl_json_ws(q, end);
		if (p >= end || *p != ':')
			return NULL;
		p = tl_json_ws(p + 1, end);
		if (p >= end)
			return NULL;
		p = ws_param_value(w, p, &prm);
		if (p == NULL)
			return NULL;
		if (w->out->n_params < SIM_PARAMS_MAX)
			w->out->params[w->out->n_params++] = prm;
		w->n_seen++;
		p = tl_json_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == '}')
			break;
		if (*p != ',')
			return NULL;
		p = tl_json_ws(p + 1, end);
	}
	if (w->n_seen > SIM_PARAMS_MAX)
		ws_fail(w, -1101, "Too many parameters; expected '%u' and received '%u'.",
		        SIM_PARAMS_MAX, w->n_seen);
	return p + 1;
}

/* The WS API payload: every param but "signature", sorted by name, as k=v&k=v. */
static int ws_payload(struct sim_request *r, const uint8_t *idx, struct sim_error *err)
{
	size_t o = 0;
	bool first = true;

	for (uint32_t i = 0; i < r->n_params; i++) {
		const struct sim_param *p = &r->params[idx[i]];

		if (name_is(p, "signature", 9))
			continue;
		if ((size_t)p->name_len + p->val_len + 2 > SIM_SIGNED_MAX - o)
			return sim_error_set(
			    err, 400, -1100,
			    "Illegal request: the signed parameters are longer than "
			    "%d bytes.",
			    SIM_SIGNED_MAX);
		if (!first)
			r->signed_payload[o++] = '&';
		first = false;
		memcpy(r->signed_payload + o, p->name, p->name_len);
		o += p->name_len;
		r->signed_payload[o++] = '=';
		memcpy(r->signed_payload + o, p->val, p->val_len);
		o += p->val_len;
	}
	r->signed_payload[o] = '\0';
	r->signed_len = (uint32_t)o;
	return 0;
}

static bool key_is(const char *k, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(k, s, n) == 0;
}

int sim_request_parse_ws(const char *msg, size_t len, struct sim_request *out,
                         struct sim_error *err)
{
	struct ws_parse w = {.out = out, .err = err};
	bool seen_id = false, seen_method = false, seen_params = false;
	uint8_t idx[SIM_PARAMS_MAX];
	const char *p, *end;

	if (out == NULL)
		return sim_error_set(err, 400, -1100, "Malformed request: no request.");
	request_init(out);
	if (msg == NULL || len > WS_MSG_MAX)
		return sim_error_set(err, 400, -1100, "Malformed request: not a JSON object.");
	end = msg + len;
	w.end = end;
	p = tl_json_ws(msg, end);
	if (p >= end || *p != '{')
		return sim_error_set(err, 400, -1100, "Malformed request: not a JSON object.");
	p = tl_json_ws(p + 1, end);
	if (p < end && *p == '}') {
		p++;
		goto done;
	}
	for (;;) {
		const char *k, *q;
		size_t kn;
		bool esc, *seen = NULL;

		if (p >= end || *p != '"')
			goto bad;
		k = p + 1;
		q = tl_json_string_end(k, end, &esc);
		if (q == NULL)
			goto bad;
		kn = (size_t)(q - 1 - k);
		p = tl_json_ws(q, end);
		if (p >= end || *p != ':')
			goto bad;
		p = tl_json_ws(p + 1, end);
		if (p >= end)
			goto bad;
		/* A key with an escape is an unknown key (md_json.h's rule). */
		if (!esc && key_is(k, kn, "id"))
			seen = &seen_id;
		else if (!esc && key_is(k, kn, "method"))
			seen = &seen_method;
		else if (!esc && key_is(k, kn, "params"))
			seen = &seen_params;
		if (seen != NULL && *seen) {
			ws_fail(&w, -1100, "Malformed request: duplicate key '%.*s'.", (int)kn, k);
			p = tl_json_skip_value(p, end, 1, WS_MAX_DEPTH);
		} else if (seen == &seen_id) {
			p = ws_id(&w, p);
		} else if (seen == &seen_method) {
			p = ws_method(&w, p);
		} else if (seen == &seen_params) {
			p = ws_params(&w, p);
		} else {
			p = tl_json_skip_value(p, end, 1, WS_MAX_DEPTH);
		}
		if (seen != NULL)
			*seen = true;
		if (p == NULL)
			goto bad;
		p = tl_json_ws(p, end);
		if (p >= end)
			goto bad;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p != ',')
			goto bad;
		p = tl_json_ws(p + 1, end);
	}
done:
	if (tl_json_ws(p, end) != end)
		goto bad;
	if (w.failed)
		return -1;
	if (params_sort(out, idx, err) != 0)
		return -1;
	if (sim_request_param(out, "signature") != NULL)
		return ws_payload(out, idx, err);
	return 0;
bad:
	/* The id, when read, stays: the error response carries it. */
	return sim_error_set(err, 400, -1100, "Malformed request: invalid JSON.");
}

/* ======================================================================================
 * Parsing, REST
 * ====================================================================================== */

static const struct {
	const char *path;
	enum sim_method get, post, del;
} routes[] = {
    {"/api/v3/order", SIM_M_ORDER_STATUS, SIM_M_ORDER_PLACE, SIM_M_ORDER_CANCEL},
    {"/api/v3/openOrders", SIM_M_OPEN_ORDERS, SIM_M_UNKNOWN, SIM_M_CANCEL_ALL},
    {"/api/v3/myTrades", SIM_M_MY_TRADES, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
    {"/api/v3/account", SIM_M_ACCOUNT, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
    {"/api/v3/ping", SIM_M_PING, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
    {"/api/v3/time", SIM_M_TIME, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
    {"/api/v3/exchangeInfo", SIM_M_EXCHANGE_INFO, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
    {"/api/v3/depth", SIM_M_DEPTH, SIM_M_UNKNOWN, SIM_M_UNKNOWN},
};

/* Percent-decodes s[0..n) into dst ('+' is a space); returns the length, or -1 for a '%'
 * not followed by two hex digits. dst may be s's own bytes or fewer: it never runs ahead
 * of the read position. */
static long pct_decode(const char *s, size_t n, char *dst)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = tl_json_hex_value(s[i + 1])) < 0 ||
			    (lo = tl_json_hex_value(s[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		dst[o++] = c;
	}
	return (long)o;
}

int sim_request_parse_rest(const char *verb, const char *path, const char *query, size_t len,
                           struct sim_request *out, struct sim_error *err)
{
	enum sim_method m = SIM_M_UNKNOWN;
	bool path_known = false;
	size_t sc = 0, sig_from = 0, sig_to = 0, i = 0;
	uint32_t n_seen = 0;
	bool has_sig = false;
	uint8_t idx[SIM_PARAMS_MAX];

	if (out == NULL)
		return sim_error_set(err, 400, -1100, "Malformed request: no request.");
	request_init(out);
	if (verb == NULL)
		verb = "";
	if (path == NULL)
		path = "";
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		if (strcmp(routes[r].path, path) != 0)
			continue;
		path_known = true;
		if (strcmp(verb, "GET") == 0)
			m = routes[r].get;
		else if (strcmp(verb, "POST") == 0)
			m = routes[r].post;
		else if (strcmp(verb, "DELETE") == 0)
			m = routes[r].del;
		break;
	}
	if (!path_known)
		return sim_error_set(err, 404, -1000, "Unknown path '%.64s'.", path);
	if (m == SIM_M_UNKNOWN)
		return sim_error_set(err, 400, -1000, "Method '%.16s' is not allowed on '%.64s'.",
		                     verb, path);
	out->method = m;
	if (query == NULL)
		len = 0;
	if (len > SIM_SIGNED_MAX)
		return sim_error_set(err, 400, -1100,
		                     "Illegal request: the query string is longer than %d bytes.",
		                     SIM_SIGNED_MAX);

	while (i < len) {
		const char *seg = query + i, *amp = memchr(seg, '&', len - i), *eq;
		size_t seg_len = amp ? (size_t)(amp - seg) : len - i, raw_name;
		struct sim_param prm;
		long n;

		i += seg_len + 1;
		if (seg_len == 0)
			continue;
		eq = memchr(seg, '=', seg_len);
		raw_name = eq ? (size_t)(eq - seg) : seg_len;
		/* Decoded bytes never outnumber raw ones: the scratch, as big as the longest
		 * query, holds every name and value. */
		n = pct_decode(seg, raw_name, out->scratch + sc);
		if (n < 0)
			return sim_error_set(err, 400, -1100,
			                     "Illegal characters found in a parameter name; bad "
			                     "percent-encoding.");
		if (n == 0)
			return sim_error_set(err, 400, -1100,
			                     "Illegal characters found in a parameter name.");
		prm.name = out->scratch + sc;
		prm.name_len = (uint32_t)n;
		sc += (size_t)n;
		n = eq ? pct_decode(eq + 1, seg_len - raw_name - 1, out->scratch + sc) : 0;
		if (n < 0)
			return sim_error_set(err, 400, -1100,
			                     "Illegal characters found in parameter '%.*s'; bad "
			                     "percent-encoding.",
			                     NAME(&prm));
		if (n == 0)
			return sim_error_set(err, 400, -1105, "Parameter '%.*s' was empty.",
			                     NAME(&prm));
		prm.val = out->scratch + sc;
		prm.val_len = (uint32_t)n;
		prm.quoted = false;
		sc += (size_t)n;
		if (name_is(&prm, "signature", 9) && !has_sig) {
			has_sig = true;
			sig_from = (size_t)(seg - query);
			sig_to = sig_from + seg_len;
		}
		if (out->n_params < SIM_PARAMS_MAX)
			out->params[out->n_params++] = prm;
		n_seen++;
	}
	out->scratch[sc] = '\0';
	if (n_seen > SIM_PARAMS_MAX)
		return sim_error_set(err, 400, -1101,
		                     "Too many parameters; expected '%u' and received '%u'.",
		                     SIM_PARAMS_MAX, n_seen);
	if (params_sort(out, idx, err) != 0)
		return -1;
	if (has_sig) {
		/* The query as sent without "signature=..." and one '&' beside it: the one
		 * before it, or after it when it comes first. */
		size_t o = 0;

		if (sig_from > 0) {
			memcpy(out->signed_payload, query, sig_from - 1);
			o = sig_from - 1;
		} else if (sig_to < len) {
			sig_to++;
		}
		memcpy(out->signed_payload + o, query + sig_to, len - sig_to);
		o += len - sig_to;
		out->signed_payload[o] = '\0';
		out->signed_len = (uint32_t)o;
	}
	return 0;
}

/* ======================================================================================
 * Decoding
 * ====================================================================================== */

struct dec {
	const struct sim_request *req;
	struct sim_error *err;
	uint32_t n_params; /* req->n_params, bounded */
	uint64_t read;     /* bit i: params[i] was read */
	uint32_t n_read;
};

/* The param `name`, marked as read; NULL when absent. */
static const struct sim_param *take(struct dec *d, const char *name)
{
	size_t n = strlen(name);

	for (uint32_t i = 0; i < d->n_params; i++) {
		if (!name_is(&d->req->params[i], name, n))
			continue;
		if (!(d->read & (1ull << i))) {
			d->read |= 1ull << i;
			d->n_read++;
		}
		return &d->req->params[i];
	}
	return NULL;
}

static int missing(struct dec *d, const char *name)
{
	return sim_error_set(d->err, 400, -1102,
	                     "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
	                     name);
}

static int bad_data(struct dec *d)
{
	return sim_error_set(d->err, 400, -1130, "Invalid data sent for a parameter.");
}

/* The param `name` when sent; -1102 when mandatory and absent. *p is NULL when absent. */
static int get(struct dec *d, const char *name, bool mandatory, const struct sim_param **p)
{
	*p = take(d, name);
	if (*p == NULL && mandatory)
		return missing(d, name);
	return 0;
}

/* Strict unsigned decimal: 1..20 digits, no sign, no point, within uint64. */
static bool parse_u64(const char *s, uint32_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

/* An integer param in [0, max]; *has false when absent. -1100 when not digits or
 * beyond max (max is the type's bound). */
static int get_uint(struct dec *d, const char *name, bool mandatory, uint64_t max, uint64_t *v,
                    bool *has)
{
	const struct sim_param *p;

	*has = false;
	if (get(d, name, mandatory, &p) != 0)
		return -1;
	if (p == NULL)
		return 0;
	if (!parse_u64(p->val, p->val_len, v) || *v > max)
		return sim_error_set(d->err, 400, -1100,
		                     "Illegal characters found in parameter '%s'; legal range is "
		                     "'^[0-9]{1,20}$'.",
		                     name);
	*has = true;
	return 0;
}

/* A price or quantity at `decimals`. */
static int get_dec(struct dec *d, const char *name, int decimals, int64_t *v)
{
	const struct sim_param *p;
	int r;

	if (get(d, name, true, &p) != 0)
		return -1;
	r = tl_md_dec_parse(p->val, p->val_len, decimals, v);
	if (r == -EDOM)
		return sim_error_set(d->err, 400, -1111, "Parameter '%s' has too much precision.",
		                     name);
	if (r != 0)
		/* Binance writes this range with an escaped point; a message may hold no
		 * backslash, so the point is in a class here. */
		return sim_error_set(d->err, 400, -1100,
		                     "Illegal characters found in parameter '%s'; legal range is "
		                     "'^([0-9]{1,20})([.][0-9]{1,20})?$'.",
		                     name);
	return 0;
}

/* The index of p's value in names[0..n), or -1. */
static int pick(const struct sim_param *p, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == p->val_len && memcmp(names[i], p->val, p->val_len) == 0)
			return i;
	return -1;
}

static int get_symbol(struct dec *d, const tl_sim_t *sim, struct sim_call *out)
{
	const struct sim_param *p;
	int m;

	if (get(d, "symbol", true, &p) != 0)
		return -1;
	m = tl_sim_market_find(sim, p->val, p->val_len);
	if (m < 0)
		return sim_error_set(d->err, 400, -1121, "Invalid symbol.");
	out->market = m;
	return 0;
}

/* A borrowed string param (client order ids: the engine checks their characters). */
static void get_str(struct dec *d, const char *name, const char **s, uint32_t *len)
{
	const struct sim_param *p = take(d, name);

	if (p != NULL) {
		*s = p->val;
		*len = p->val_len;
	}
}

static int decode_place(struct dec *d, const tl_sim_t *sim, struct sim_call *out)
{
	static const char *const sides[] = {"BUY", "SELL"};
	static const char *const types[] = {"LIMIT", "LIMIT_MAKER"};
	static const char *const tifs[] = {"GTC", "IOC", "FOK"};
	static const char *const resps[] = {"ACK", "RESULT", "FULL"};
	const struct tl_sim_market_config *mc;
	const struct sim_param *p;
	int v;

	if (get_symbol(d, sim, out) != 0)
		return -1;
	mc = tl_sim_market_config(sim, (uint32_t)out->market);
	if (mc == NULL)
		return sim_error_set(d->err, 400, -1121, "Invalid symbol.");

	if (get(d, "side", true, &p) != 0)
		return -1;
	if ((v = pick(p, sides, 2)) < 0)
		return sim_error_set(d->err, 400, -1117, "Invalid side.");
	out->place.side = v == 0 ? TL_SIM_BUY : TL_SIM_SELL;

	if (get(d, "type", true, &p) != 0)
		return -1;
	if ((v = pick(p, types, 2)) < 0)
		return sim_error_set(d->err, 400, -1116, "Invalid orderType.");
	out->place.type = v == 0 ? TL_SIM_LIMIT : TL_SIM_LIMIT_MAKER;

	/* LIMIT without one: left NONE for tl_sim_place's TIF_REQUIRED (see the top). */
	out->place.tif = TL_SIM_TIF_NONE;
	if ((p = take(d, "timeInForce")) != NULL) {
		if (out->place.type == TL_SIM_LIMIT_MAKER)
			return sim_error_set(d->err, 400, -1106,
			                     "Parameter 'timeInForce' sent when not required.");
		if ((v = pick(p, tifs, 3)) < 0)
			return sim_error_set(d->err, 400, -1115, "Invalid timeInForce.");
		out->place.tif = (enum tl_sim_tif)(TL_SIM_GTC + v);
	}

	if (get_dec(d, "quantity", mc->qty_decimals, &out->place.qty.v) != 0)
		return -1;
	if (get_dec(d, "price", mc->px_decimals, &out->place.px.v) != 0)
		return -1;
	get_str(d, "newClientOrderId", &out->place.client_order_id,
	        &out->place.client_order_id_len);

	out->resp_type = SIM_RESP_FULL; /* Binance's default for LIMIT and LIMIT_MAKER */
	if ((p = take(d, "newOrderRespType")) != NULL) {
		if ((v = pick(p, resps, 3)) < 0)
			return sim_error_set(
			    d->err, 400, -1100,
			    "Illegal characters found in parameter "
			    "'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.");
		out->resp_type = (enum sim_resp_type)v;
	}
	return 0;
}

/* orderId and origClientOrderId of a cancel or a status query; neither is the engine's
 * NO_ORDER_REF. */
static int decode_ref(struct dec *d, const tl_sim_t *sim, struct sim_call *out)
{
	uint64_t id;
	bool has;

	if (get_symbol(d, sim, out) != 0)
		return -1;
	if (get_uint(d, "orderId", false, UINT64_MAX, &id, &has) != 0)
		return -1;
	if (has && id == 0)
		return bad_data(d);
	out->ref.order_id = has ? id : 0;
	get_str(d, "origClientOrderId", &out->ref.orig_client_order_id,
	        &out->ref.orig_client_order_id_len);
	return 0;
}

static int decode_my_trades(struct dec *d, const tl_sim_t *sim, struct sim_call *out)
{
	uint64_t v;
	bool has;

	if (get_symbol(d, sim, out) != 0)
		return -1;
	if (get_uint(d, "fromId", false, UINT64_MAX, &v, &has) != 0)
		return -1;
	if (has)
		out->trades.from_id = v == 0 ? 1 : v; /* trade ids start at 1 */
	if (get_uint(d, "orderId", false, UINT64_MAX, &v, &has) != 0)
		return -1;
	if (has && v == 0)
		return bad_data(d);
	out->trades_order_id = has ? v : 0;
	if (get_uint(d, "startTime", false, INT64_MAX, &v, &has) != 0)
		return -1;
	out->trades.has_start = has;
	out->trades.start_ms = has ? (int64_t)v : 0;
	if (get_uint(d, "endTime", false, INT64_MAX, &v, &has) != 0)
		return -1;
	out->trades.has_end = has;
	out->trades.end_ms = has ? (int64_t)v : 0;
	if (get_uint(d, "limit", false, UINT64_MAX, &v, &has) != 0)
		return -1;
	if (has && (v < 1 || v > TL_SIM_MY_TRADES_MAX))
		return bad_data(d);
	out->trades.limit = has ? (uint32_t)v : 0;
	return 0;
}

static int decode_depth(struct dec *d, const tl_sim_t *sim, struct sim_call *out)
{
	uint64_t v;
	bool has;

	if (get_symbol(d, sim, out) != 0)
		return -1;
	if (get_uint(d, "limit", false, UINT64_MAX, &v, &has) != 0)
		return -1;
	if (has && (v < 1 || v > TL_SIM_DEPTH_LEVELS_MAX))
		return bad_data(d);
	out->depth_limit = has ? (uint32_t)v : 100;
	return 0;
}

/* apiKey (optional here, see the top), timestamp, signature, recvWindow. */
static int decode_auth(struct dec *d, struct sim_auth *a)
{
	const struct sim_param *p;
	uint64_t v = 0;
	bool has;

	if ((p = take(d, "apiKey")) != NULL) {
		a->api_key = p->val;
		a->api_key_len = p->val_len;
	}
	if (get_uint(d, "timestamp", true, INT64_MAX, &v, &has) != 0)
		return -1;
	if (v == 0)
		return bad_data(d);
	a->timestamp_ms = (int64_t)v;
	if (get_uint(d, "recvWindow", false, UINT64_MAX, &v, &has) != 0)
		return -1;
	if (has && v > TL_VENUE_RECV_WINDOW_MAX_MS)
		return sim_error_set(d->err, 400, -1131, "recvWindow must be less than %u.",
		                     TL_VENUE_RECV_WINDOW_MAX_MS);
	a->recv_window_ms = has ? (uint32_t)v : TL_VENUE_RECV_WINDOW_DEFAULT_MS;
	if (get(d, "signature", true, &p) != 0)
		return -1;
	if (p->val_len != TL_VENUE_SIG_HEX_LEN)
		goto bad_sig;
	for (uint32_t i = 0; i < p->val_len; i++)
		if (!tl_json_is_hex(p->val[i]))
			goto bad_sig;
	a->signature = p->val;
	return 0;
bad_sig:
	return sim_error_set(d->err, 400, -1100,
	                     "Illegal characters found in parameter 'signature'; legal range is "
	                     "'^[0-9a-fA-F]{64}$'.");
}

int sim_call_decode(const tl_sim_t *sim, const struct sim_request *req, struct sim_call *out,
                    struct sim_error *err)
{
	struct dec d = {.req = req, .err = err};
	int r = 0;

	if (req == NULL || out == NULL)
		return sim_error_set(err, 400, -1000, "Unknown method.");
	memset(out, 0, sizeof(*out));
	out->method = req->method;
	out->market = -1;
	out->auth.recv_window_ms = TL_VENUE_RECV_WINDOW_DEFAULT_MS;
	out->resp_type = SIM_RESP_FULL;
	out->depth_limit = 100;
	d.n_params = req->n_params < SIM_PARAMS_MAX ? req->n_params : SIM_PARAMS_MAX;

	switch (req->method) {
	case SIM_M_ORDER_PLACE:
		r = decode_place(&d, sim, out);
		break;
	case SIM_M_ORDER_CANCEL:
		r = decode_ref(&d, sim, out);
		if (r == 0)
			get_str(&d, "newClientOrderId", &out->ref.new_client_order_id,
			        &out->ref.new_client_order_id_len);
		break;
	case SIM_M_ORDER_STATUS:
		r = decode_ref(&d, sim, out);
		break;
	case SIM_M_CANCEL_ALL:
	case SIM_M_OPEN_ORDERS:
		r = get_symbol(&d, sim, out);
		break;
	case SIM_M_MY_TRADES:
		r = decode_my_trades(&d, sim, out);
		break;
	case SIM_M_DEPTH:
		r = decode_depth(&d, sim, out);
		break;
	case SIM_M_EXCHANGE_INFO:
		/* symbol narrows the answer to one market; without it, every market. */
		for (uint32_t i = 0; i < d.n_params; i++)
			if (name_is(&req->params[i], "symbol", 6))
				r = get_symbol(&d, sim, out);
		break;
	case SIM_M_SUBSCRIBE:
	case SIM_M_ACCOUNT:
	case SIM_M_PING:
	case SIM_M_TIME:
		break;
	default:
		return sim_error_set(err, 400, -1000, "Unknown method.");
	}
	if (r != 0)
		return -1;
	if (sim_method_signed(req->method) && decode_auth(&d, &out->auth) != 0)
		return -1;
	if (d.n_read != req->n_params)
		return sim_error_set(
		    err, 400, -1104,
		    "Not all sent parameters were read; read '%u' parameter(s) but "
		    "was sent '%u'.",
		    d.n_read, req->n_params);
	return 0;
}
