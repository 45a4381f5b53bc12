/*
 * engine.c: the sim's lifecycle (config check, the one-time allocation), accounts,
 * look-ups, names and the events every part shares. Orders are in orders.c, the random
 * walk and the synthetic book in synth.c.
 */
#include "sim_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------------------- */

static const struct {
	int code;
	const char *msg;
} rejects[TL_SIM_REJECT_COUNT] = {
    [TL_SIM_OK] = {0, "NONE"},
    [TL_SIM_REJ_INSUFFICIENT_BALANCE] = {-2010,
                                         "Account has insufficient balance for requested action."},
    [TL_SIM_REJ_WOULD_TAKE] = {-2010, "Order would immediately match and take."},
    [TL_SIM_REJ_DUPLICATE] = {-2010, "Duplicate order sent."},
    [TL_SIM_REJ_PRICE_FILTER] = {-1013, "Filter failure: PRICE_FILTER"},
    [TL_SIM_REJ_LOT_SIZE] = {-1013, "Filter failure: LOT_SIZE"},
    [TL_SIM_REJ_NOTIONAL] = {-1013, "Filter failure: NOTIONAL"},
    [TL_SIM_REJ_MAX_NUM_ORDERS] = {-1013, "Filter failure: MAX_NUM_ORDERS"},
    [TL_SIM_REJ_MAX_POSITION] = {-1013, "Filter failure: MAX_POSITION"},
    [TL_SIM_REJ_BAD_CLIENT_ID] = {-1100, "Illegal characters found in parameter "
                                         "'newClientOrderId'; legal range is "
                                         "'^[a-zA-Z0-9-_]{1,36}$'."},
    [TL_SIM_REJ_TIF_NOT_REQUIRED] = {-1106, "Parameter 'timeInForce' sent when not required."},
    [TL_SIM_REJ_TIF_REQUIRED] = {-1102, "Mandatory parameter 'timeInForce' was not sent, was "
                                        "empty/null, or malformed."},
    [TL_SIM_REJ_NO_ORDER_REF] = {-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                        "but both were empty/null!"},
    [TL_SIM_REJ_BUSY] = {-1008, "Server is currently overloaded with other requests. Please "
                                "try again in a few minutes."},
    [TL_SIM_REJ_UNKNOWN_ORDER] = {-2011, "Unknown order sent."},
    [TL_SIM_REJ_NO_SUCH_ORDER] = {-2013, "Order does not exist."},
    [TL_SIM_REJ_BAD_COMBINATION] = {-1128, "Combination of optional parameters invalid."},
    [TL_SIM_REJ_WINDOW_TOO_LONG] = {-1127, "More than 24 hours between startTime and endTime."},
};

int tl_sim_reject_code(int rej)
{
	return rej >= 0 && rej < TL_SIM_REJECT_COUNT ? rejects[rej].code : 0;
}

const char *tl_sim_reject_msg(int rej)
{
	return rej >= 0 && rej < TL_SIM_REJECT_COUNT ? rejects[rej].msg : "Unknown error.";
}

static const char *name_of(const char *const *names, int n, int v)
{
	return v >= 0 && v < n ? names[v] : "?";
}

const char *tl_sim_side_name(int side)
{
	static const char *const n[] = {"BUY", "SELL"};

	return name_of(n, 2, side);
}

const char *tl_sim_type_name(int type)
{
	static const char *const n[] = {"LIMIT", "LIMIT_MAKER"};

	return name_of(n, 2, type);
}

const char *tl_sim_tif_name(int tif)
{
	static const char *const n[] = {"", "GTC", "IOC", "FOK"};

	return name_of(n, 4, tif);
}

const char *tl_sim_status_name(int status)
{
	static const char *const n[] = {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"};

	return name_of(n, 5, status);
}

const char *tl_sim_exec_name(int exec)
{
	static const char *const n[] = {"NEW", "CANCELED", "TRADE", "EXPIRED"};

	return name_of(n, 4, exec);
}

/* -------------------------------------------------------------------------------------
 * Config
 * ------------------------------------------------------------------------------------- */

void tl_sim_config_default(struct tl_sim_config *cfg)
{
	struct tl_sim_market_config *m = &cfg->markets[0];
	struct tl_sim_walk_config *w = &m->walk;

	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = 1;
	cfg->n_assets = 2;
	strcpy(cfg->assets[0].name, "BTC");
	cfg->assets[0].decimals = 8;
	strcpy(cfg->assets[1].name, "USDT");
	cfg->assets[1].decimals = 8;
	cfg->n_markets = 1;
	strcpy(m->symbol, "BTCUSDT");
	m->base_asset = 0;
	m->quote_asset = 1;
	m->px_decimals = 2;
	m->qty_decimals = 5;
	m->tick_size.v = 1;                  /* 0.01 */
	m->min_px.v = 1;                     /* 0.01 */
	m->max_px.v = 100000000;             /* 1000000.00 */
	m->step_size.v = 1;                  /* 0.00001 */
	m->min_qty.v = 1;                    /* 0.00001 */
	m->max_qty.v = 900000000;            /* 9000.00000 */
	m->min_notional.v = 5 * 100000000ll; /* 5 USDT */
	m->maker_fee_bp = 1;
	m->taker_fee_bp = 2;
	m->max_num_orders = 200;
	w->start_px.v = 6000000; /* 60000.00 */
	w->spread_ticks = 1;
	w->depth_levels = 100;
	w->max_move_ticks = 3;
	w->refresh_pct = 20;
	w->empty_pct = 5;
	w->level_qty_min.v = 1000;   /* 0.01 */
	w->level_qty_max.v = 200000; /* 2 */
	w->trades_max = 3;
	w->trade_qty_max.v = 50000; /* 0.5 */
	cfg->max_accounts = 64;
	cfg->max_open_orders = 16384;
	cfg->history_orders = 65536;
	cfg->trades_per_account = 4096;
}

static bool name_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	return n > 0 && n < cap;
}

int64_t sim_pow10(int e)
{
	int64_t p = 1;

	while (e-- > 0)
		p *= 10;
	return p;
}

static bool multiple(int64_t v, int64_t of)
{
	return v % of == 0;
}

static int check_walk(const struct tl_sim_market_config *m)
{
	const struct tl_sim_walk_config *w = &m->walk;
	int64_t step = m->step_size.v, tick = m->tick_size.v, lo, hi;

	if (w->spread_ticks < 1 || w->spread_ticks > TL_SIM_MOVE_TICKS_MAX || w->depth_levels < 1 ||
	    w->depth_levels > TL_SIM_DEPTH_LEVELS_MAX ||
	    w->max_move_ticks > TL_SIM_MOVE_TICKS_MAX || w->refresh_pct > 100 ||
	    w->empty_pct > 100 || w->trades_max > 1000)
		return -EINVAL;
	if (w->level_qty_min.v <= 0 || w->level_qty_max.v < w->level_qty_min.v ||
	    w->level_qty_max.v > SYNTH_QTY_MAX || !multiple(w->level_qty_min.v, step) ||
	    !multiple(w->level_qty_max.v, step))
		return -EINVAL;
	if (w->trades_max && (w->trade_qty_max.v < step || w->trade_qty_max.v > SYNTH_QTY_MAX ||
	                      !multiple(w->trade_qty_max.v, step)))
		return -EINVAL;
	/* Both windows within [min_px, max_px] for every anchor in [lo, hi]. */
	lo = m->min_px.v / tick + w->depth_levels - 1;
	hi = m->max_px.v / tick - w->spread_ticks - (w->depth_levels - 1);
	if (lo > hi || !multiple(w->start_px.v, tick) || w->start_px.v / tick < lo ||
	    w->start_px.v / tick > hi)
		return -EINVAL;
	return 0;
}

static int check_market(const struct tl_sim_config *cfg, uint32_t i)
{
	const struct tl_sim_market_config *m = &cfg->markets[i];
	int64_t v;

	if (!name_ok(m->symbol, sizeof(m->symbol)))
		return -EINVAL;
	for (uint32_t j = 0; j < i; j++)
		if (!strcmp(cfg->markets[j].symbol, m->symbol))
			return -EINVAL;
	if (m->base_asset >= cfg->n_assets || m->quote_asset >= cfg->n_assets ||
	    m->base_asset == m->quote_asset)
		return -EINVAL;
	if (m->px_decimals < 0 || m->qty_decimals < 0 ||
	    m->px_decimals + m->qty_decimals > TL_SIM_AMOUNT_DECIMALS)
		return -EINVAL;
	if (m->tick_size.v <= 0 || m->min_px.v <= 0 || m->max_px.v < m->min_px.v ||
	    !multiple(m->min_px.v, m->tick_size.v) || !multiple(m->max_px.v, m->tick_size.v))
		return -EINVAL;
	if (m->step_size.v <= 0 || m->min_qty.v <= 0 || m->max_qty.v < m->min_qty.v ||
	    !multiple(m->min_qty.v, m->step_size.v) || !multiple(m->max_qty.v, m->step_size.v))
		return -EINVAL;
	if (m->min_notional.v < 0 || m->maker_fee_bp > 10000 || m->taker_fee_bp > 10000 ||
	    m->max_num_orders < 1)
		return -EINVAL;
	/* Every amount an order can stand for fits an int64 (tl_sim_engine.h "Numbers"). */
	if (__builtin_mul_overflow(m->max_px.v, m->max_qty.v, &v) ||
	    __builtin_mul_overflow(v, sim_pow10(8 - m->px_decimals - m->qty_decimals), &v) ||
	    __builtin_mul_overflow(m->max_qty.v, sim_pow10(8 - m->qty_decimals), &v))
		return -EINVAL;
	return check_walk(m);
}

static int check_config(const struct tl_sim_config *cfg)
{
	if (cfg->n_assets < 1 || cfg->n_assets > TL_SIM_ASSETS_MAX || cfg->n_markets < 1 ||
	    cfg->n_markets > TL_SIM_MARKETS_MAX || cfg->max_accounts < 1 ||
	    cfg->max_accounts > 65536 || cfg->max_open_orders < 1 ||
	    cfg->max_open_orders > TL_SIM_ORDERS_MAX || cfg->history_orders < 1 ||
	    cfg->history_orders > TL_SIM_ORDERS_MAX || cfg->trades_per_account < 1 ||
	    cfg->trades_per_account > TL_SIM_ORDERS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < cfg->n_assets; i++) {
		const struct tl_sim_asset_config *a = &cfg->assets[i];

		if (!name_ok(a->name, sizeof(a->name)) || a->decimals < 0 ||
		    a->decimals > TL_SIM_AMOUNT_DECIMALS)
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(cfg->assets[j].name, a->name))
				return -EINVAL;
	}
	for (uint32_t i = 0; i < cfg->n_markets; i++) {
		int r = check_market(cfg, i);

		if (r)
			return r;
	}
	return 0;
}

/* -------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------- */

/* n * size bytes, zeroed by writing them, so that the hot path never faults a page in. */
static void *alloc_touched(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	p = malloc(bytes ? bytes : 1);
	if (p)
		memset(p, 0, bytes);
	return p;
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void market_free(struct market *m)
{
	free(m->orders);
	free(m->oid_bucket);
	free(m->cid_bucket);
	free(m->hist);
	free(m->book[0].lv);
	free(m->book[1].lv);
	free(m->acct);
	free(m->trade_buf);
	for (int side = 0; side < 2; side++) {
		free(m->syn.side[side].qty);
		free(m->syn.side[side].dirty_px);
		free(m->syn.side[side].dirty);
		free(m->syn.out[side]);
	}
}

static int market_init(struct tl_sim *sim, uint32_t i)
{
	const struct tl_sim_config *cfg = &sim->cfg;
	struct market *m = &sim->mkt[i];
	uint32_t pool = cfg->max_open_orders + cfg->history_orders;
	uint32_t buckets = pow2_at_least(pool);
	const struct tl_sim_walk_config *w;
	uint32_t slots;

	m->cfg = cfg->markets[i];
	w = &m->cfg.walk;
	m->index = i;
	m->quote_mult = sim_pow10(8 - m->cfg.px_decimals - m->cfg.qty_decimals);
	m->base_mult = sim_pow10(8 - m->cfg.qty_decimals);
	m->orders = alloc_touched(pool, sizeof(*m->orders));
	m->oid_bucket = alloc_touched(buckets, sizeof(uint32_t));
	m->cid_bucket = alloc_touched(buckets, sizeof(uint32_t));
	m->hist = alloc_touched(cfg->history_orders, sizeof(uint32_t));
	m->book[0].lv = alloc_touched(cfg->max_open_orders, sizeof(struct clevel));
	m->book[1].lv = alloc_touched(cfg->max_open_orders, sizeof(struct clevel));
	m->acct = alloc_touched(cfg->max_accounts, sizeof(*m->acct));
	m->trade_buf = alloc_touched((size_t)cfg->max_accounts * cfg->trades_per_account,
	                             sizeof(*m->trade_buf));
	/* The walk's reach in one step is depth + max_move prices a side; one slot more
	 * keeps the old and the new window apart (synth.c). */
	slots = pow2_at_least((uint64_t)w->depth_levels + w->max_move_ticks + 1);
	m->syn.mask = slots - 1;
	for (int side = 0; side < 2; side++) {
		m->syn.side[side].qty = alloc_touched(slots, sizeof(int64_t));
		m->syn.side[side].dirty_px = alloc_touched(slots, sizeof(int64_t));
		m->syn.side[side].dirty = alloc_touched(slots, sizeof(int64_t));
		m->syn.out[side] = alloc_touched(slots, sizeof(struct tl_sim_level));
		if (!m->syn.side[side].qty || !m->syn.side[side].dirty_px ||
		    !m->syn.side[side].dirty || !m->syn.out[side])
			return -ENOMEM;
	}
	if (!m->orders || !m->oid_bucket || !m->cid_bucket || !m->hist || !m->book[0].lv ||
	    !m->book[1].lv || !m->acct || !m->trade_buf)
		return -ENOMEM;

	for (uint32_t s = 0; s < pool; s++)
		m->orders[s].oid_next = s + 1 < pool ? s + 1 : NIL;
	m->free_head = 0;
	m->oid_mask = m->cid_mask = buckets - 1;
	for (uint32_t b = 0; b < buckets; b++)
		m->oid_bucket[b] = m->cid_bucket[b] = NIL;
	for (uint32_t a = 0; a < cfg->max_accounts; a++) {
		m->acct[a].head = m->acct[a].tail = NIL;
		m->acct[a].trades = &m->trade_buf[(size_t)a * cfg->trades_per_account];
	}
	m->next_order_id = 1;
	m->next_trade_id = 1;
	m->syn.anchor_lo = m->cfg.min_px.v / m->cfg.tick_size.v + w->depth_levels - 1;
	m->syn.anchor_hi =
	    m->cfg.max_px.v / m->cfg.tick_size.v - w->spread_ticks - (w->depth_levels - 1);
	sim_synth_init(m, cfg->seed);
	return 0;
}

int tl_sim_create(tl_sim_t **out, const struct tl_sim_config *cfg)
{
	struct tl_sim *sim;
	int r;

	if (!out || !cfg)
		return -EINVAL;
	r = check_config(cfg);
	if (r)
		return r;
	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	sim->cfg = *cfg;
	sim->now_ms = INT64_MIN;
	for (uint32_t i = 0; i < cfg->n_assets; i++)
		sim->fee_quantum[i] = sim_pow10(TL_SIM_AMOUNT_DECIMALS - cfg->assets[i].decimals);
	r = -ENOMEM;
	sim->bal = alloc_touched((size_t)cfg->max_accounts * cfg->n_assets, sizeof(*sim->bal));
	sim->mkt = calloc(cfg->n_markets, sizeof(*sim->mkt));
	if (!sim->bal || !sim->mkt)
		goto err;
	for (uint32_t i = 0; i < cfg->n_markets; i++) {
		sim->n_markets = i + 1; /* so that err frees this one too */
		r = market_init(sim, i);
		if (r)
			goto err;
	}
	*out = sim;
	return 0;
err:
	tl_sim_destroy(sim);
	return r;
}

void tl_sim_destroy(tl_sim_t *sim)
{
	if (!sim)
		return;
	for (uint32_t i = 0; sim->mkt && i < sim->n_markets; i++)
		market_free(&sim->mkt[i]);
	free(sim->mkt);
	free(sim->bal);
	free(sim);
}

int tl_sim_market_find(const tl_sim_t *sim, const char *symbol, size_t len)
{
	if (!sim || !symbol)
		return -ENOENT;
	for (uint32_t i = 0; i < sim->n_markets; i++) {
		const char *s = sim->mkt[i].cfg.symbol;

		if (strlen(s) == len && !memcmp(s, symbol, len))
			return (int)i;
	}
	return -ENOENT;
}

int tl_sim_asset_find(const tl_sim_t *sim, const char *name, size_t len)
{
	if (!sim || !name)
		return -ENOENT;
	for (uint32_t i = 0; i < sim->cfg.n_assets; i++) {
		const char *s = sim->cfg.assets[i].name;

		if (strlen(s) == len && !memcmp(s, name, len))
			return (int)i;
	}
	return -ENOENT;
}

const struct tl_sim_config *tl_sim_config_get(const tl_sim_t *sim)
{
	return sim ? &sim->cfg : NULL;
}

const struct tl_sim_market_config *tl_sim_market_config(const tl_sim_t *sim, uint32_t market)
{
	return sim && market < sim->n_markets ? &sim->mkt[market].cfg : NULL;
}

/* -------------------------------------------------------------------------------------
 * Accounts
 * ------------------------------------------------------------------------------------- */

int tl_sim_account_create(tl_sim_t *sim)
{
	if (!sim)
		return -EINVAL;
	if (sim->n_accounts == sim->cfg.max_accounts)
		return -ENOSPC;
	return (int)sim->n_accounts++;
}

void sim_emit_position(struct tl_sim *sim, const struct tl_sim_sink *sink, uint32_t market,
                       uint32_t acct, uint32_t asset_a, uint32_t asset_b, int64_t now_ms)
{
	struct tl_sim_event ev;
	struct tl_sim_position *p = &ev.u.pos;
	uint32_t assets[2] = {asset_a, asset_b};

	if (!sink || !sink->fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TL_SIM_EV_POSITION;
	ev.market = market;
	ev.event_ms = now_ms;
	p->account = acct;
	p->update_ms = now_ms;
	for (int i = 0; i < 2 && assets[i] != NIL; i++) {
		const struct bal *b = sim_bal(sim, acct, assets[i]);

		p->bal[i].asset = assets[i];
		p->bal[i].free.v = b->free;
		p->bal[i].locked.v = b->locked;
		p->n = (uint32_t)i + 1;
	}
	sim_emit(sink, &ev);
}

int tl_sim_account_deposit(tl_sim_t *sim, uint32_t account, uint32_t asset, tl_sim_amount_t amount,
                           int64_t now_ms, const struct tl_sim_sink *sink)
{
	struct tl_sim_event ev;
	struct bal *b;
	int64_t sum;

	if (!sim || account >= sim->n_accounts || asset >= sim->cfg.n_assets || amount.v <= 0)
		return -EINVAL;
	b = sim_bal(sim, account, asset);
	if (__builtin_add_overflow(b->free, b->locked, &sum) ||
	    __builtin_add_overflow(sum, b->recv_max, &sum) ||
	    __builtin_add_overflow(sum, amount.v, &sum))
		return -ERANGE;
	b->free += amount.v;
	now_ms = sim_now(sim, now_ms);
	if (sink && sink->fn) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = TL_SIM_EV_BALANCE_UPDATE;
		ev.market = TL_SIM_NO_MARKET;
		ev.event_ms = now_ms;
		ev.u.bal.account = account;
		ev.u.bal.asset = asset;
		ev.u.bal.delta = amount;
		ev.u.bal.clear_ms = now_ms;
		sim_emit(sink, &ev);
	}
	sim_emit_position(sim, sink, TL_SIM_NO_MARKET, account, asset, NIL, now_ms);
	return 0;
}

int tl_sim_account_balance(const tl_sim_t *sim, uint32_t account, uint32_t asset,
                           struct tl_sim_balance *out)
{
	const struct bal *b;

	if (!sim || !out || account >= sim->n_accounts || asset >= sim->cfg.n_assets)
		return -EINVAL;
	b = &sim->bal[(size_t)account * sim->cfg.n_assets + asset];
	out->asset = asset;
	out->free.v = b->free;
	out->locked.v = b->locked;
	return 0;
}

int tl_sim_account_balances(const tl_sim_t *sim, uint32_t account, struct tl_sim_balance *out,
                            uint32_t cap)
{
	if (!sim || account >= sim->n_accounts || (cap && !out))
		return -EINVAL;
	for (uint32_t a = 0; a < sim->cfg.n_assets && a < cap; a++)
		tl_sim_account_balance(sim, account, a, &out[a]);
	return (int)sim->cfg.n_assets;
}

void sim_order_copy(const struct market *m, const struct order *o, struct tl_sim_order *out)
{
	memset(out, 0, sizeof(*out));
	out->order_id = o->id;
	out->market = m->index;
	out->account = o->acct;
	memcpy(out->client_order_id, o->cid, o->cid_len);
	out->side = o->side;
	out->type = o->type;
	out->tif = o->tif;
	out->status = o->status;
	out->is_working = sim_order_working(o);
	out->px.v = o->px;
	out->qty.v = o->qty;
	out->executed_qty.v = o->filled;
	out->cum_quote.v = o->cum_quote;
	out->time_ms = o->create_ms;
	out->update_ms = o->update_ms;
}
