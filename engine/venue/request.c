/*
 * request.c: the signed WS API requests and the signed myTrades target (tl_venue.h,
 * "Requests").
 *
 * Every builder reduces to one list of (key, value) params sorted by key: the signature
 * payload is that list joined as k=v&k=v, the JSON "params" object is the same list, so
 * the two cannot disagree. Values are validated to a character set that needs no escaping
 * anywhere they go (JSON, the k=v payload, a URL query), which is why nothing here ever
 * escapes or encodes.
 */
#include "tl_venue.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define PARAMS_MAX 16
#define KEY_MAX 32
#define VALUE_MAX 128
#define METHOD_MAX 64
/* k=v&k=v of PARAMS_MAX params at their longest. */
#define PAYLOAD_MAX (PARAMS_MAX * (KEY_MAX + VALUE_MAX + 2))

struct param {
	const char *key;
	size_t key_len;
	const char *val;
	size_t val_len;
	bool quoted;
};

/* --------------------------------------------------------------------------------------
 * Validation.
 * -------------------------------------------------------------------------------------- */

/* The bytes a token may hold: TOKEN_CHAR for [A-Za-z0-9_-], TOKEN_DOT for '.'; one load a
 * byte on the order path (the API key alone is 64 bytes, checked on every request). */
enum { TOKEN_CHAR = 1, TOKEN_DOT = 2 };

static const uint8_t token_class[256] = {
    ['-'] = TOKEN_CHAR, ['.'] = TOKEN_DOT,  ['_'] = TOKEN_CHAR, ['0'] = TOKEN_CHAR,
    ['1'] = TOKEN_CHAR, ['2'] = TOKEN_CHAR, ['3'] = TOKEN_CHAR, ['4'] = TOKEN_CHAR,
    ['5'] = TOKEN_CHAR, ['6'] = TOKEN_CHAR, ['7'] = TOKEN_CHAR, ['8'] = TOKEN_CHAR,
    ['9'] = TOKEN_CHAR, ['A'] = TOKEN_CHAR, ['B'] = TOKEN_CHAR, ['C'] = TOKEN_CHAR,
    ['D'] = TOKEN_CHAR, ['E'] = TOKEN_CHAR, ['F'] = TOKEN_CHAR, ['G'] = TOKEN_CHAR,
    ['H'] = TOKEN_CHAR, ['I'] = TOKEN_CHAR, ['J'] = TOKEN_CHAR, ['K'] = TOKEN_CHAR,
    ['L'] = TOKEN_CHAR, ['M'] = TOKEN_CHAR, ['N'] = TOKEN_CHAR, ['O'] = TOKEN_CHAR,
    ['P'] = TOKEN_CHAR, ['Q'] = TOKEN_CHAR, ['R'] = TOKEN_CHAR, ['S'] = TOKEN_CHAR,
    ['T'] = TOKEN_CHAR, ['U'] = TOKEN_CHAR, ['V'] = TOKEN_CHAR, ['W'] = TOKEN_CHAR,
    ['X'] = TOKEN_CHAR, ['Y'] = TOKEN_CHAR, ['Z'] = TOKEN_CHAR, ['a'] = TOKEN_CHAR,
    ['b'] = TOKEN_CHAR, ['c'] = TOKEN_CHAR, ['d'] = TOKEN_CHAR, ['e'] = TOKEN_CHAR,
    ['f'] = TOKEN_CHAR, ['g'] = TOKEN_CHAR, ['h'] = TOKEN_CHAR, ['i'] = TOKEN_CHAR,
    ['j'] = TOKEN_CHAR, ['k'] = TOKEN_CHAR, ['l'] = TOKEN_CHAR, ['m'] = TOKEN_CHAR,
    ['n'] = TOKEN_CHAR, ['o'] = TOKEN_CHAR, ['p'] = TOKEN_CHAR, ['q'] = TOKEN_CHAR,
    ['r'] = TOKEN_CHAR, ['s'] = TOKEN_CHAR, ['t'] = TOKEN_CHAR, ['u'] = TOKEN_CHAR,
    ['v'] = TOKEN_CHAR, ['w'] = TOKEN_CHAR, ['x'] = TOKEN_CHAR, ['y'] = TOKEN_CHAR,
    ['z'] = TOKEN_CHAR,
};

/* s is 1..max bytes of [A-Za-z0-9_-], plus '.' when dot. Returns its length or 0. */
static size_t token_len(const char *s, size_t max, bool dot)
{
	const uint8_t allowed = TOKEN_CHAR | (dot ? TOKEN_DOT : 0);
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++)
		if (n == max || !(token_class[(uint8_t)s[n]] & allowed))
			return 0;
	return n;
}

static size_t symbol_len(const char *s)
{
	return token_len(s, TL_MD_SYMBOL_MAX, true);
}

static size_t client_id_len(const char *s)
{
	return token_len(s, TL_VENUE_CLIENT_ID_MAX, false);
}

/* A bare JSON number without exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		size_t f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return false;
	}
	return i == n;
}

/* --------------------------------------------------------------------------------------
 * Writing.
 * -------------------------------------------------------------------------------------- */

struct out {
	char *p, *end; /* end leaves room for the NUL */
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Decimal digits of v into buf (at least 20 bytes); returns the length. Two digits a
 * division, written from the end: a timestamp is 13 digits, on every request. */
static size_t fmt_u64(char *buf, uint64_t v)
{
	static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
	                               "25262728293031323334353637383940414243444546474849"
	                               "50515253545556575859606162636465666768697071727374"
	                               "75767778798081828384858687888990919293949596979899";
	size_t n = 1;
	char *p;

	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	p = buf + n;
	for (; v >= 100; v /= 100) {
		p -= 2;
		memcpy(p, pairs + 2 * (v % 100), 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return n;
}

/* A scratch area for the values the builders format (numbers, decimals). */
struct scratch {
	char buf[256];
	size_t used;
};

static const char *scratch_u64(struct scratch *sc, uint64_t v, size_t *len)
{
	char *p = sc->buf + sc->used;

	assert(sizeof(sc->buf) - sc->used >= 21);
	*len = fmt_u64(p, v);
	sc->used += *len;
	return p;
}

/* v at `decimals`, as tl_md_dec_format writes it; NULL when decimals is out of range. */
static const char *scratch_dec(struct scratch *sc, int64_t v, int decimals, size_t *len)
{
	char *p = sc->buf + sc->used;
	int n;

	assert(sizeof(sc->buf) - sc->used >= 24);
	n = tl_md_dec_format(p, sizeof(sc->buf) - sc->used, v, decimals);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	sc->used += (size_t)n + 1; /* keep its NUL out of the next value's way */
	return p;
}

/* The keys are literals: inlined, their strlen is a constant. */
static inline void param_str(struct param *p, const char *key, const char *val)
{
	p->key = key;
	p->key_len = strlen(key);
	p->val = val;
	p->val_len = strlen(val);
	p->quoted = true;
}

/* A string value of known length (a formatted decimal). */
static inline void param_strn(struct param *p, const char *key, const char *val, size_t len)
{
	p->key = key;
	p->key_len = strlen(key);
	p->val = val;
	p->val_len = len;
	p->quoted = true;
}

static inline void param_num(struct param *p, const char *key, const char *val, size_t len)
{
	p->key = key;
	p->key_len = strlen(key);
	p->val = val;
	p->val_len = len;
	p->quoted = false;
}

/* Joins the params as k=v&k=v into payload (PAYLOAD_MAX bytes); returns the length. */
static size_t payload_write(char *payload, const struct param *ps, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		size_t kn = ps[i].key_len;

		assert(kn <= KEY_MAX && ps[i].val_len <= VALUE_MAX);
		if (i > 0)
			payload[o++] = '&';
		memcpy(payload + o, ps[i].key, kn);
		o += kn;
		payload[o++] = '=';
		memcpy(payload + o, ps[i].val, ps[i].val_len);
		o += ps[i].val_len;
	}
	assert(o <= PAYLOAD_MAX);
	return o;
}

/* Every WS API request starts so, its id next (tl_venue_request_with_id relies on it). */
#define REQUEST_HEAD "{\"id\":"

/*
 * The WS API request for params ps[0..n), already validated and sorted by key.
 */
static ssize_t ws_request(char *out, size_t cap, uint64_t id, const char *method,
                          const struct param *ps, size_t n, const tl_venue_signer_t *signer)
{
	char payload[PAYLOAD_MAX], sig[TL_VENUE_SIG_HEX_LEN + 1], idbuf[20];
	struct out o;
	size_t len;
	int r;

	for (size_t i = 1; i < n; i++)
		assert(strcmp(ps[i - 1].key, ps[i].key) < 0);
	if (out == NULL)
		return -EINVAL;
	if (cap == 0)
		return -ENOBUFS;
	len = payload_write(payload, ps, n);
	r = tl_venue_sign(signer, payload, len, sig);
	if (r < 0)
		return r;

	o.p = out;
	o.end = out + cap - 1;
	o.full = false;
	puts_(&o, REQUEST_HEAD);
	put(&o, idbuf, fmt_u64(idbuf, id));
	puts_(&o, ",\"method\":\"");
	puts_(&o, method);
	puts_(&o, "\",\"params\":{");
	for (size_t i = 0; i < n; i++) {
		put(&o, "\"", 1);
		put(&o, ps[i].key, ps[i].key_len);
		put(&o, ps[i].quoted ? "\":\"" : "\":", ps[i].quoted ? 3 : 2);
		put(&o, ps[i].val, ps[i].val_len);
		if (ps[i].quoted)
			put(&o, "\"", 1);
		put(&o, ",", 1);
	}
	puts_(&o, "\"signature\":\"");
	put(&o, sig, TL_VENUE_SIG_HEX_LEN);
	puts_(&o, "\"}}");
	if (o.full)
		return -ENOBUFS;
	*o.p = '\0';
	return o.p - out;
}

/*
 * Checks auth and fills the params every signed request carries into the scratch:
 * apiKey, recvWindow (unless !with_window) and timestamp. Returns 0 or -EINVAL.
 */
struct auth_vals {
	const char *window, *ts;
	size_t window_len, ts_len;
};

static int auth_check(const struct tl_venue_auth *a, struct scratch *sc, struct auth_vals *v,
                      bool with_window)
{
	uint32_t w;

	if (a == NULL || a->signer == NULL || a->timestamp_ms <= 0)
		return -EINVAL;
	if (token_len(a->api_key, TL_VENUE_API_KEY_MAX, true) == 0)
		return -EINVAL;
	w = a->recv_window_ms ? a->recv_window_ms : TL_VENUE_RECV_WINDOW_DEFAULT_MS;
	if (w > TL_VENUE_RECV_WINDOW_MAX_MS)
		return -EINVAL;
	v->window = with_window ? scratch_u64(sc, w, &v->window_len) : NULL;
	v->ts = scratch_u64(sc, (uint64_t)a->timestamp_ms, &v->ts_len);
	return 0;
}

/* --------------------------------------------------------------------------------------
 * The WS API builders.
 * -------------------------------------------------------------------------------------- */

static const char *side_text(enum tl_venue_side s)
{
	return s == TL_VENUE_BUY ? "BUY" : s == TL_VENUE_SELL ? "SELL" : NULL;
}

static const char *tif_text(enum tl_venue_tif t)
{
	switch (t) {
	case TL_VENUE_GTC:
		return "GTC";
	case TL_VENUE_IOC:
		return "IOC";
	case TL_VENUE_FOK:
		return "FOK";
	default:
		return NULL;
	}
}

static const char *resp_type_text(enum tl_venue_resp_type t)
{
	switch (t) {
	case TL_VENUE_RESP_ACK:
		return "ACK";
	case TL_VENUE_RESP_RESULT:
		return "RESULT";
	case TL_VENUE_RESP_FULL:
		return "FULL";
	default:
		return NULL;
	}
}

static bool scale_ok(struct tl_md_scale s)
{
	return s.px_decimals >= 0 && s.px_decimals <= TL_MD_DEC_MAX_DECIMALS &&
	       s.qty_decimals >= 0 && s.qty_decimals <= TL_MD_DEC_MAX_DECIMALS;
}

ssize_t tl_venue_build_order_place(char *out, size_t cap, uint64_t id,
                                   const struct tl_venue_auth *auth,
                                   const struct tl_venue_order_req *req)
{
	struct scratch sc = {.used = 0};
	struct auth_vals av;
	struct param ps[11];
	const char *side, *resp, *tif = NULL, *px, *qty;
	size_t n = 0, px_len, qty_len;

	if (req == NULL || auth_check(auth, &sc, &av, true) != 0)
		return -EINVAL;
	if (symbol_len(req->symbol) == 0 || client_id_len(req->client_order_id) == 0)
		return -EINVAL;
	side = side_text(req->side);
	resp = resp_type_text(req->resp_type);
	if (side == NULL || resp == NULL || !scale_ok(req->scale) || req->px.v <= 0 ||
	    req->qty.v <= 0)
		return -EINVAL;
	if (req->type == TL_VENUE_LIMIT) {
		if ((tif = tif_text(req->tif)) == NULL)
			return -EINVAL;
	} else if (req->type != TL_VENUE_LIMIT_MAKER || req->tif != TL_VENUE_TIF_NONE) {
		/* LIMIT_MAKER takes no timeInForce; other types are not ours to send. */
		return -EINVAL;
	}
	px = scratch_dec(&sc, req->px.v, req->scale.px_decimals, &px_len);
	qty = scratch_dec(&sc, req->qty.v, req->scale.qty_decimals, &qty_len);
	if (px == NULL || qty == NULL)
		return -EINVAL;

	/* Sorted by key. */
	param_str(&ps[n++], "apiKey", auth->api_key);
	param_str(&ps[n++], "newClientOrderId", req->client_order_id);
	param_str(&ps[n++], "newOrderRespType", resp);
	param_strn(&ps[n++], "price", px, px_len);
	param_strn(&ps[n++], "quantity", qty, qty_len);
	param_num(&ps[n++], "recvWindow", av.window, av.window_len);
	param_str(&ps[n++], "side", side);
	param_str(&ps[n++], "symbol", req->symbol);
	if (tif != NULL)
		param_str(&ps[n++], "timeInForce", tif);
	param_num(&ps[n++], "timestamp", av.ts, av.ts_len);
	param_str(&ps[n++], "type", req->type == TL_VENUE_LIMIT ? "LIMIT" : "LIMIT_MAKER");
	return ws_request(out, cap, id, "order.place", ps, n, auth->signer);
}

static ssize_t order_ref_request(char *out, size_t cap, uint64_t id, const char *method,
                                 const struct tl_venue_auth *auth,
                                 const struct tl_venue_order_ref *ref)
{
	struct scratch sc = {.used = 0};
	struct auth_vals av;
	struct param ps[6];
	const char *oid = NULL;
	size_t n = 0, oid_len = 0;

	if (ref == NULL || auth_check(auth, &sc, &av, true) != 0 || symbol_len(ref->symbol) == 0)
		return -EINVAL;
	if (ref->order_id == 0 && ref->orig_client_order_id == NULL)
		return -EINVAL;
	if (ref->orig_client_order_id != NULL && client_id_len(ref->orig_client_order_id) == 0)
		return -EINVAL;
	if (ref->order_id != 0)
		oid = scratch_u64(&sc, ref->order_id, &oid_len);

	param_str(&ps[n++], "apiKey", auth->api_key);
	if (oid != NULL)
		param_num(&ps[n++], "orderId", oid, oid_len);
	if (ref->orig_client_order_id != NULL)
		param_str(&ps[n++], "origClientOrderId", ref->orig_client_order_id);
	param_num(&ps[n++], "recvWindow", av.window, av.window_len);
	param_str(&ps[n++], "symbol", ref->symbol);
	param_num(&ps[n++], "timestamp", av.ts, av.ts_len);
	return ws_request(out, cap, id, method, ps, n, auth->signer);
}

ssize_t tl_venue_build_order_cancel(char *out, size_t cap, uint64_t id,
                                    const struct tl_venue_auth *auth,
                                    const struct tl_venue_order_ref *ref)
{
	return order_ref_request(out, cap, id, "order.cancel", auth, ref);
}

ssize_t tl_venue_build_order_status(char *out, size_t cap, uint64_t id,
                                    const struct tl_venue_auth *auth,
                                    const struct tl_venue_order_ref *ref)
{
	return order_ref_request(out, cap, id, "order.status", auth, ref);
}

static ssize_t symbol_request(char *out, size_t cap, uint64_t id, const char *method,
                              const struct tl_venue_auth *auth, const char *symbol)
{
	struct scratch sc = {.used = 0};
	struct auth_vals av;
	struct param ps[4];
	size_t n = 0;

	if (auth_check(auth, &sc, &av, true) != 0 || symbol_len(symbol) == 0)
		return -EINVAL;
	param_str(&ps[n++], "apiKey", auth->api_key);
	param_num(&ps[n++], "recvWindow", av.window, av.window_len);
	param_str(&ps[n++], "symbol", symbol);
	param_num(&ps[n++], "timestamp", av.ts, av.ts_len);
	return ws_request(out, cap, id, method, ps, n, auth->signer);
}

ssize_t tl_venue_build_cancel_all(char *out, size_t cap, uint64_t id,
                                  const struct tl_venue_auth *auth, const char *symbol)
{
	return symbol_request(out, cap, id, "openOrders.cancelAll", auth, symbol);
}

ssize_t tl_venue_build_open_orders(char *out, size_t cap, uint64_t id,
                                   const struct tl_venue_auth *auth, const char *symbol)
{
	return symbol_request(out, cap, id, "openOrders.status", auth, symbol);
}

ssize_t tl_venue_request_with_id(char *out, size_t cap, const char *req, size_t len, uint64_t id)
{
	static const char head0[] = REQUEST_HEAD "0,";
	const size_t head = sizeof(REQUEST_HEAD) - 1;
	char idbuf[20];

	if (out == NULL || req == NULL || len < sizeof(head0) - 1 ||
	    memcmp(req, head0, sizeof(head0) - 1) != 0)
		return -EINVAL;
	size_t idlen = fmt_u64(idbuf, id), rest = len - head - 1; /* from the ',' on */
	if (head + idlen + rest + 1 > cap)
		return -ENOBUFS;
	memcpy(out, REQUEST_HEAD, head);
	memcpy(out + head, idbuf, idlen);
	memcpy(out + head + idlen, req + head + 1, rest);
	out[head + idlen + rest] = '\0';
	return (ssize_t)(head + idlen + rest);
}

ssize_t tl_venue_build_subscribe(char *out, size_t cap, uint64_t id,
                                 const struct tl_venue_auth *auth)
{
	struct scratch sc = {.used = 0};
	struct auth_vals av;
	struct param ps[2];

	/* PROTOCOL.md lists {apiKey, timestamp, signature}: no recvWindow here. */
	if (auth_check(auth, &sc, &av, false) != 0)
		return -EINVAL;
	param_str(&ps[0], "apiKey", auth->api_key);
	param_num(&ps[1], "timestamp", av.ts, av.ts_len);
	return ws_request(out, cap, id, "userDataStream.subscribe.signature", ps, 2, auth->signer);
}

ssize_t tl_venue_build_signed(char *out, size_t cap, uint64_t id, const char *method,
                              const struct tl_venue_param *params, size_t n,
                              const tl_venue_signer_t *signer)
{
	struct param ps[PARAMS_MAX];
	size_t mlen = 0;

	if (signer == NULL || method == NULL || n > PARAMS_MAX || (params == NULL && n > 0))
		return -EINVAL;
	for (; method[mlen] != '\0'; mlen++) {
		char c = method[mlen];

		if (mlen == METHOD_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.'))
			return -EINVAL;
	}
	if (mlen == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct tl_venue_param *p = &params[i];
		size_t kn = 0, vn;

		if (p->key == NULL)
			return -EINVAL;
		for (; p->key[kn] != '\0'; kn++) {
			char c = p->key[kn];

			if (kn == KEY_MAX || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
				return -EINVAL;
		}
		if (kn == 0 || strcmp(p->key, "signature") == 0)
			return -EINVAL;
		vn = token_len(p->value, VALUE_MAX, true);
		if (vn == 0 || (!p->quoted && !is_json_number(p->value, vn)))
			return -EINVAL;
		/* Insertion by key: n is at most 16. */
		size_t j = i;
		while (j > 0 && strcmp(ps[j - 1].key, p->key) > 0) {
			ps[j] = ps[j - 1];
			j--;
		}
		if (j > 0 && strcmp(ps[j - 1].key, p->key) == 0)
			return -EINVAL;
		ps[j].key = p->key;
		ps[j].key_len = kn;
		ps[j].val = p->value;
		ps[j].val_len = vn;
		ps[j].quoted = p->quoted;
	}
	return ws_request(out, cap, id, method, ps, n, signer);
}

/* --------------------------------------------------------------------------------------
 * REST myTrades.
 * -------------------------------------------------------------------------------------- */

#define DAY_MS 86400000

ssize_t tl_venue_build_my_trades(char *out, size_t cap, const struct tl_venue_auth *auth,
                                 const struct tl_venue_trades_req *req)
{
	struct scratch sc = {.used = 0};
	struct auth_vals av;
	struct param ps[8];
	char payload[PAYLOAD_MAX], sig[TL_VENUE_SIG_HEX_LEN + 1];
	const char *v;
	size_t n = 0, len, vn;
	struct out o;
	int r;

	if (req == NULL || auth_check(auth, &sc, &av, true) != 0 || symbol_len(req->symbol) == 0)
		return -EINVAL;
	if (req->limit > 1000)
		return -EINVAL;
	switch (req->by) {
	case TL_VENUE_TRADES_FROM_ID:
		break;
	case TL_VENUE_TRADES_ORDER_ID:
		if (req->order_id == 0)
			return -EINVAL;
		break;
	case TL_VENUE_TRADES_WINDOW:
		if (req->start_ms < 0 || req->end_ms < 0 ||
		    (req->start_ms == 0 && req->end_ms == 0))
			return -EINVAL;
		if (req->start_ms > 0 && req->end_ms > 0 &&
		    (req->end_ms < req->start_ms || req->end_ms - req->start_ms > DAY_MS))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}

	/* Sorted by key: endTime, fromId, limit, orderId, recvWindow, startTime, symbol,
	 * timestamp. */
	if (req->by == TL_VENUE_TRADES_WINDOW && req->end_ms > 0) {
		v = scratch_u64(&sc, (uint64_t)req->end_ms, &vn);
		param_num(&ps[n++], "endTime", v, vn);
	}
	if (req->by == TL_VENUE_TRADES_FROM_ID) {
		v = scratch_u64(&sc, req->from_id, &vn);
		param_num(&ps[n++], "fromId", v, vn);
	}
	if (req->limit > 0) {
		v = scratch_u64(&sc, req->limit, &vn);
		param_num(&ps[n++], "limit", v, vn);
	}
	if (req->by == TL_VENUE_TRADES_ORDER_ID) {
		v = scratch_u64(&sc, req->order_id, &vn);
		param_num(&ps[n++], "orderId", v, vn);
	}
	param_num(&ps[n++], "recvWindow", av.window, av.window_len);
	if (req->by == TL_VENUE_TRADES_WINDOW && req->start_ms > 0) {
		v = scratch_u64(&sc, (uint64_t)req->start_ms, &vn);
		param_num(&ps[n++], "startTime", v, vn);
	}
	param_str(&ps[n++], "symbol", req->symbol);
	param_num(&ps[n++], "timestamp", av.ts, av.ts_len);
	for (size_t i = 1; i < n; i++)
		assert(strcmp(ps[i - 1].key, ps[i].key) < 0);

	len = payload_write(payload, ps, n);
	r = tl_venue_sign(auth->signer, payload, len, sig);
	if (r < 0)
		return r;
	if (out == NULL)
		return -EINVAL;
	if (cap == 0)
		return -ENOBUFS;
	o.p = out;
	o.end = out + cap - 1;
	o.full = false;
	puts_(&o, "/api/v3/myTrades?");
	put(&o, payload, len);
	puts_(&o, "&signature=");
	put(&o, sig, TL_VENUE_SIG_HEX_LEN);
	if (o.full)
		return -ENOBUFS;
	*o.p = '\0';
	return o.p - out;
}
