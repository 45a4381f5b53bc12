/*
 * apply.c: what each command does to balances.
 *
 * DESIGN
 * A command is applied in two steps. First it is planned: names are resolved, amounts
 * converted, and its legs (the entries it will write) computed against scratch copies of
 * the balances it touches. Every invariant is checked on the scratch copies: nothing has
 * changed yet, so a rejection needs no undo and "a rejected command applies nothing" holds
 * by construction. Only a plan that passes is written: journal entries, idempotency key,
 * reservation and registry records into the building batch's write log (batch.c: the
 * committer thread replays it into LMDB), and the new balances into the working state (the
 * agent logs dirty balances once per batch).
 *
 * An error in the second step (a read, the hash) means the batch must not be committed;
 * the agent then reloads the working state from the database, so a half-applied command
 * never survives in memory.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <string.h>

typedef struct plan_pair {
	uint32_t account_id, asset_id;
	tl_pair_t *pair; /* NULL: the pair does not exist yet */
	int64_t available, locked, reserved;
	int last_leg; /* index of the last leg that touched it */
} plan_pair_t;

typedef struct plan {
	const tl_ledger_cmd_t *cmd;
	int leg_count;
	tl_entry_t legs[TL_PLAN_LEGS];
	int pair_count;
	plan_pair_t pairs[TL_PLAN_PAIRS];
	/* reservation change */
	bool res_touched;
	bool res_exists; /* it existed before this command */
	tl_order_res_t res;
	/* registry */
	uint32_t new_asset_id, new_account_id;
} plan_t;

/* ---- names and amounts ------------------------------------------------------------- */

/* The length of a NUL-terminated field, or -1 when it has no NUL within `size`. */
static int field_len(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	return n == size ? -1 : (int)n;
}

static bool name_ok(const char *s, size_t size)
{
	int n = field_len(s, size);
	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static int resolve_account(tl_ledger_t *l, const char *name, uint32_t *id)
{
	if (!name_ok(name, TL_LEDGER_ACCOUNT_NAME_MAX + 1))
		return field_len(name, TL_LEDGER_ACCOUNT_NAME_MAX + 1) == 0
		           ? TL_LEDGER_R_UNKNOWN_ACCOUNT
		           : TL_LEDGER_R_BAD_NAME;
	*id = tl_state_account_find(&l->state, name);
	return *id ? 0 : TL_LEDGER_R_UNKNOWN_ACCOUNT;
}

static int resolve_asset(tl_ledger_t *l, const char *name, uint32_t *id, unsigned *decimals)
{
	if (!name_ok(name, TL_LEDGER_ASSET_NAME_MAX + 1))
		return field_len(name, TL_LEDGER_ASSET_NAME_MAX + 1) == 0
		           ? TL_LEDGER_R_UNKNOWN_ASSET
		           : TL_LEDGER_R_BAD_NAME;
	*id = tl_state_asset_find(&l->state, name);
	if (!*id)
		return TL_LEDGER_R_UNKNOWN_ASSET;
	*decimals = l->state.assets[*id - 1].decimals;
	return 0;
}

/* An amount that must be > 0, in units of an asset with `decimals`. */
static int positive_units(tl_ledger_dec_t d, unsigned decimals, int64_t *units)
{
	int r = tl_ledger_dec_to_units(d, decimals, units);
	if (r)
		return r;
	return *units > 0 ? 0 : TL_LEDGER_R_NOT_POSITIVE;
}

__extension__ typedef __int128 i128;

/*
 * price x qty in units of a quote asset with `quote_decimals`, exactly. The product of two
 * 18-digit mantissas needs 128 bits; it is then rescaled, and must come out whole.
 */
static int notional_units(tl_ledger_dec_t price, tl_ledger_dec_t qty, unsigned quote_decimals,
                          int64_t *units)
{
	if (price.scale < 0 || price.scale > TL_LEDGER_DECIMALS_MAX || qty.scale < 0 ||
	    qty.scale > TL_LEDGER_DECIMALS_MAX)
		return TL_LEDGER_R_BAD_FIELD;
	if (price.mantissa <= 0 || qty.mantissa <= 0)
		return TL_LEDGER_R_NOT_POSITIVE;
	i128 v = (i128)price.mantissa * qty.mantissa; /* < 2^126: cannot overflow */
	int scale = price.scale + qty.scale;
	for (; scale < (int)quote_decimals; scale++) {
		v *= 10;
		if (v > (i128)INT64_MAX)
			return TL_LEDGER_R_OVERFLOW;
	}
	for (; scale > (int)quote_decimals; scale--) {
		if (v % 10 != 0)
			return TL_LEDGER_R_INEXACT;
		v /= 10;
	}
	if (v > (i128)INT64_MAX)
		return TL_LEDGER_R_OVERFLOW;
	*units = (int64_t)v;
	return 0;
}

/* ---- planning ---------------------------------------------------------------------- */

static int plan_pair(tl_ledger_t *l, plan_t *p, uint32_t account_id, uint32_t asset_id)
{
	for (int i = 0; i < p->pair_count; i++)
		if (p->pairs[i].account_id == account_id && p->pairs[i].asset_id == asset_id)
			return i;
	assert(p->pair_count < TL_PLAN_PAIRS);
	plan_pair_t *pp = &p->pairs[p->pair_count];
	memset(pp, 0, sizeof(*pp));
	pp->account_id = account_id;
	pp->asset_id = asset_id;
	pp->pair = tl_state_pair(&l->state, account_id, asset_id, false);
	if (pp->pair) {
		pp->available = pp->pair->available;
		pp->locked = pp->pair->locked;
		pp->reserved = pp->pair->reserved;
	}
	return p->pair_count++;
}

/* Adds one leg and applies it to the scratch balances. Returns 0 or a reason. */
static int add_leg(tl_ledger_t *l, plan_t *p, enum tl_leg leg, uint32_t account_id,
                   uint32_t asset_id, int64_t d_available, int64_t d_locked, uint64_t ref)
{
	assert(p->leg_count < TL_PLAN_LEGS);
	tl_entry_t *e = &p->legs[p->leg_count];
	memset(e, 0, sizeof(*e));
	e->leg = (uint8_t)leg;
	e->account_id = account_id;
	e->asset_id = asset_id;
	e->d_available = d_available;
	e->d_locked = d_locked;
	e->ref = ref;
	if (account_id && asset_id) {
		plan_pair_t *pp = &p->pairs[plan_pair(l, p, account_id, asset_id)];
		if (__builtin_add_overflow(pp->available, d_available, &pp->available) ||
		    __builtin_add_overflow(pp->locked, d_locked, &pp->locked))
			return TL_LEDGER_R_OVERFLOW;
		pp->last_leg = p->leg_count;
	}
	p->leg_count++;
	return 0;
}

/* The invariants, on every pair the plan touched. */
static int plan_check(const plan_t *p)
{
	for (int i = 0; i < p->pair_count; i++) {
		const plan_pair_t *pp = &p->pairs[i];
		int64_t total;
		if (pp->available < 0 || pp->locked < 0 || pp->locked < pp->reserved)
			return TL_LEDGER_R_INSUFFICIENT;
		if (__builtin_add_overflow(pp->available, pp->locked, &total))
			return TL_LEDGER_R_OVERFLOW; /* total = available + locked must be
			                                representable */
	}
	return 0;
}

/* Loads the command's reservation into the plan (once). */
static tl_order_res_t *plan_reservation(tl_ledger_t *l, plan_t *p, uint64_t order)
{
	if (!p->res_touched) {
		tl_order_res_t *r = tl_state_order_find(&l->state, order);
		p->res_touched = true;
		p->res_exists = r != NULL;
		if (r)
			p->res = *r;
		else
			p->res = (tl_order_res_t){.order = order};
	}
	return &p->res;
}

/* Moves `delta` into (positive) or out of (negative) the plan's reservation. */
static void reservation_add(plan_t *p, int pair, int64_t delta)
{
	p->res.remaining += delta;
	p->pairs[pair].reserved += delta;
}

static int plan_registry(tl_ledger_t *l, plan_t *p)
{
	const tl_ledger_cmd_t *c = p->cmd;
	tl_state_t *s = &l->state;
	if (c->type == TL_LEDGER_ASSET_DEFINE) {
		if (!name_ok(c->asset, sizeof(c->asset)))
			return TL_LEDGER_R_BAD_NAME;
		if (c->decimals > TL_LEDGER_DECIMALS_MAX)
			return TL_LEDGER_R_BAD_DECIMALS;
		if (tl_state_asset_find(s, c->asset))
			return TL_LEDGER_R_EXISTS;
		if (s->asset_count == s->max_assets)
			return TL_LEDGER_R_CAPACITY;
		p->new_asset_id = s->asset_count + 1;
		add_leg(l, p, TL_LEG_ASSET, 0, p->new_asset_id, 0, 0, 0);
		p->legs[0].aux = c->decimals;
		p->legs[0].text_len = (uint8_t)strlen(c->asset);
		memcpy(p->legs[0].text, c->asset, p->legs[0].text_len);
		return 0;
	}
	if (!name_ok(c->account, sizeof(c->account)))
		return TL_LEDGER_R_BAD_NAME;
	if (tl_state_account_find(s, c->account))
		return TL_LEDGER_R_EXISTS;
	if (s->account_count == s->max_accounts)
		return TL_LEDGER_R_CAPACITY;
	p->new_account_id = s->account_count + 1;
	add_leg(l, p, TL_LEG_ACCOUNT, p->new_account_id, 0, 0, 0, 0);
	p->legs[0].text_len = (uint8_t)strlen(c->account);
	memcpy(p->legs[0].text, c->account, p->legs[0].text_len);
	return 0;
}

static int plan_trade(tl_ledger_t *l, plan_t *p, uint32_t account)
{
	const tl_ledger_cmd_t *c = p->cmd;
	uint32_t base, quote, fee_asset = 0;
	unsigned base_dec, quote_dec, fee_dec = 0;
	int64_t base_units, quote_units, fee_units = 0;
	int r;
	if ((r = resolve_asset(l, c->asset, &base, &base_dec)) ||
	    (r = resolve_asset(l, c->quote, &quote, &quote_dec)))
		return r;
	if (c->side != TL_LEDGER_BUY && c->side != TL_LEDGER_SELL)
		return TL_LEDGER_R_BAD_SIDE;
	if (base == quote)
		return TL_LEDGER_R_BAD_FIELD;
	if ((r = positive_units(c->qty, base_dec, &base_units)) ||
	    (r = notional_units(c->price, c->qty, quote_dec, &quote_units)))
		return r;
	if (c->fee.mantissa != 0) {
		if ((r = resolve_asset(l, c->fee_asset, &fee_asset, &fee_dec)) ||
		    (r = positive_units(c->fee, fee_dec, &fee_units)))
			return r;
	}

	bool buy = c->side == TL_LEDGER_BUY;
	uint32_t spend_asset = buy ? quote : base, recv_asset = buy ? base : quote;
	int64_t spend = buy ? quote_units : base_units, recv = buy ? base_units : quote_units;

	/* The cost comes out of the order's reservation first, then out of available. */
	int64_t from_res = 0;
	tl_order_res_t *res = NULL;
	int spend_pair = plan_pair(l, p, account, spend_asset);
	if (c->order) {
		res = plan_reservation(l, p, c->order);
		if (p->res_exists) {
			if (res->account_id != account || res->asset_id != spend_asset)
				return TL_LEDGER_R_ORDER_MISMATCH;
			from_res = res->remaining < spend ? res->remaining : spend;
			reservation_add(p, spend_pair, -from_res);
		}
	}
	if ((r = add_leg(l, p, TL_LEG_SPEND, account, spend_asset, -(spend - from_res), -from_res,
	                 c->order)) ||
	    (r = add_leg(l, p, TL_LEG_CREDIT, account, recv_asset, recv, 0, c->order)))
		return r;
	if (fee_units &&
	    (r = add_leg(l, p, TL_LEG_DEBIT, account, fee_asset, -fee_units, 0, c->order)))
		return r;
	if ((c->flags & TL_LEDGER_FLAG_FINAL) && res && p->res_exists && res->remaining > 0) {
		int64_t rest = res->remaining;
		reservation_add(p, spend_pair, -rest);
		if ((r = add_leg(l, p, TL_LEG_UNLOCK, account, spend_asset, rest, -rest, c->order)))
			return r;
	}
	return 0;
}

/* UNLOCK with FINAL: the whole remaining reservation of c->order goes back. */
static int plan_unlock_rest(tl_ledger_t *l, plan_t *p, uint32_t account, uint32_t asset)
{
	const tl_ledger_cmd_t *c = p->cmd;
	int pair = plan_pair(l, p, account, asset);
	tl_order_res_t *res;
	int64_t rest;

	if (!c->order)
		return TL_LEDGER_R_BAD_FIELD;
	res = plan_reservation(l, p, c->order);
	if (!p->res_exists || res->remaining <= 0)
		return TL_LEDGER_R_NO_RESERVATION;
	if (res->account_id != account || res->asset_id != asset)
		return TL_LEDGER_R_ORDER_MISMATCH;
	rest = res->remaining;
	reservation_add(p, pair, -rest);
	return add_leg(l, p, TL_LEG_UNLOCK, account, asset, rest, -rest, c->order);
}

/* Plans a money command. Returns 0 or a rejection reason. */
static int plan_command(tl_ledger_t *l, plan_t *p)
{
	const tl_ledger_cmd_t *c = p->cmd;
	if (c->type == TL_LEDGER_ASSET_DEFINE || c->type == TL_LEDGER_ACCOUNT_OPEN)
		return plan_registry(l, p);
	if (c->flags & ~TL_LEDGER_FLAG_FINAL)
		return TL_LEDGER_R_BAD_FIELD;

	uint32_t account, asset = 0, to = 0;
	unsigned dec = 0;
	int64_t units = 0;
	int r = resolve_account(l, c->account, &account);
	if (r)
		return r;
	if (c->type == TL_LEDGER_TRADE_SETTLE)
		return plan_trade(l, p, account);
	if ((r = resolve_asset(l, c->asset, &asset, &dec)))
		return r;
	if (c->type == TL_LEDGER_ADJUSTMENT) {
		int n = field_len(c->reason, sizeof(c->reason));
		if (n < 0)
			return TL_LEDGER_R_BAD_FIELD;
		if (n == 0)
			return TL_LEDGER_R_MISSING_REASON;
		if ((r = tl_ledger_dec_to_units(c->amount, dec, &units)))
			return r;
		if (units == 0)
			return TL_LEDGER_R_NOT_POSITIVE;
		if ((r = add_leg(l, p, TL_LEG_ADJUST, account, asset, units, 0, c->order)))
			return r;
		p->legs[0].text_len = (uint8_t)n;
		memcpy(p->legs[0].text, c->reason, (size_t)n);
		return 0;
	}
	if (c->type == TL_LEDGER_UNLOCK && (c->flags & TL_LEDGER_FLAG_FINAL))
		return plan_unlock_rest(l, p, account, asset);
	if ((r = positive_units(c->amount, dec, &units)))
		return r;

	switch (c->type) {
	case TL_LEDGER_DEPOSIT_CREDIT:
	case TL_LEDGER_REWARD_CREDIT:
		return add_leg(l, p, TL_LEG_CREDIT, account, asset, units, 0, c->order);
	case TL_LEDGER_WITHDRAW_DEBIT:
	case TL_LEDGER_FEE_DEBIT:
		return add_leg(l, p, TL_LEG_DEBIT, account, asset, -units, 0, c->order);
	case TL_LEDGER_TRANSFER:
		if ((r = resolve_account(l, c->account_to, &to)))
			return r;
		if (to == account)
			return TL_LEDGER_R_SAME_ACCOUNT;
		if ((r = add_leg(l, p, TL_LEG_DEBIT, account, asset, -units, 0, c->order)))
			return r;
		return add_leg(l, p, TL_LEG_CREDIT, to, asset, units, 0, c->order);
	case TL_LEDGER_LOCK:
	case TL_LEDGER_UNLOCK: {
		bool lock = c->type == TL_LEDGER_LOCK;
		int pair = plan_pair(l, p, account, asset);
		if (c->order) {
			tl_order_res_t *res = plan_reservation(l, p, c->order);
			if (p->res_exists && (res->account_id != account || res->asset_id != asset))
				return TL_LEDGER_R_ORDER_MISMATCH;
			if (!lock && (!p->res_exists || res->remaining < units))
				return TL_LEDGER_R_NO_RESERVATION;
			res->account_id = account;
			res->asset_id = asset;
			int64_t remaining;
			if (__builtin_add_overflow(res->remaining, lock ? units : -units,
			                           &remaining))
				return TL_LEDGER_R_OVERFLOW;
			reservation_add(p, pair, lock ? units : -units);
		}
		return add_leg(l, p, lock ? TL_LEG_LOCK : TL_LEG_UNLOCK, account, asset,
		               lock ? -units : units, lock ? units : -units, c->order);
	}
	default:
		return TL_LEDGER_R_UNKNOWN_TYPE;
	}
}

/* ---- writing ----------------------------------------------------------------------- */

static void put_registry(tl_ledger_t *l, const plan_t *p)
{
	uint8_t key[4], val[1 + TL_LEDGER_ACCOUNT_NAME_MAX];
	size_t val_len;
	const tl_entry_t *e = &p->legs[0];
	tl_db_t db;
	if (p->new_asset_id) {
		tl_be32_put(key, p->new_asset_id);
		val[0] = (uint8_t)e->aux;
		memcpy(val + 1, e->text, e->text_len);
		val_len = 1u + e->text_len;
		db = TL_DB_ASSETS;
		if (tl_state_asset_add(&l->state, p->cmd->asset, (uint8_t)e->aux) !=
		    p->new_asset_id)
			assert(!"asset ids are assigned in order");
	} else {
		tl_be32_put(key, p->new_account_id);
		memcpy(val, e->text, e->text_len);
		val_len = e->text_len;
		db = TL_DB_ACCOUNTS;
		if (tl_state_account_add(&l->state, p->cmd->account) != p->new_account_id)
			assert(!"account ids are assigned in order");
	}
	tl_batch_put(l->building, db, key, sizeof(key), val, val_len);
}

static void put_reservation(tl_ledger_t *l, const plan_t *p)
{
	uint8_t key[8], val[TL_ORDER_VAL];
	tl_be64_put(key, p->res.order);
	if (p->res.remaining == 0) {
		tl_state_order_del(&l->state, p->res.order);
		if (p->res_exists)
			tl_batch_del(l->building, TL_DB_ORDERS, key, sizeof(key));
		return;
	}
	if (!tl_state_order_put(&l->state, &p->res))
		assert(!"capacity was checked when planning");
	tl_order_val_put(val, &p->res);
	tl_batch_put(l->building, TL_DB_ORDERS, key, sizeof(key), val, sizeof(val));
}

static void ack_balances(tl_ledger_ack_t *ack, const plan_t *p)
{
	for (int i = 0; i < p->pair_count && i < TL_LEDGER_ACK_BALANCES; i++) {
		tl_ledger_balance_t *b = &ack->balances[i];
		b->account_id = p->pairs[i].account_id;
		b->asset_id = p->pairs[i].asset_id;
		b->available = p->pairs[i].available;
		b->locked = p->pairs[i].locked;
		b->last_seq = 0;
	}
	ack->balance_count =
	    (uint8_t)(p->pair_count < TL_LEDGER_ACK_BALANCES ? p->pair_count
	                                                     : TL_LEDGER_ACK_BALANCES);
}

static int write_plan(tl_ledger_t *l, plan_t *p, size_t key_len, tl_ledger_ack_t *ack)
{
	tl_state_t *s = &l->state;
	const tl_ledger_cmd_t *c = p->cmd;
	uint64_t first = s->last_seq + 1;
	int rc;

	for (int i = 0; i < p->leg_count; i++) {
		tl_entry_t *e = &p->legs[i];
		uint8_t buf[TL_ENTRY_MAX], seq_key[8];
		e->seq = first + (uint64_t)i;
		e->cmd_type = c->type;
		e->index = (uint8_t)i;
		e->count = (uint8_t)p->leg_count;
		e->ts_ms = c->ts_ms;
		e->key_len = (uint8_t)key_len;
		memcpy(e->key, c->key, key_len);
		size_t n = tl_entry_encode(e, buf);
		if ((rc = tl_entry_hash(s->chain, buf, n, buf + n)))
			return rc;
		memcpy(s->chain, buf + n, TL_LEDGER_HASH_SIZE);
		tl_be64_put(seq_key, e->seq);
		tl_batch_put(l->building, TL_DB_ENTRIES, seq_key, sizeof(seq_key), buf,
		             n + TL_LEDGER_HASH_SIZE);
	}
	s->last_seq = first + (uint64_t)p->leg_count - 1;

	uint8_t idem_val[TL_IDEM_VAL];
	tl_idem_val_put(idem_val, &(tl_idem_val_t){first, c->type, (uint8_t)p->leg_count});
	tl_batch_put(l->building, TL_DB_IDEM, c->key, key_len, idem_val, sizeof(idem_val));

	if (p->new_asset_id || p->new_account_id)
		put_registry(l, p);
	if (p->res_touched && (p->res_exists || p->res.remaining != 0))
		put_reservation(l, p);

	for (int i = 0; i < p->pair_count; i++) {
		plan_pair_t *pp = &p->pairs[i];
		tl_pair_t *pair = pp->pair;
		if (!pair)
			pair = tl_state_pair(s, pp->account_id, pp->asset_id, true);
		assert(pair); /* capacity was checked when planning */
		pair->available = pp->available;
		pair->locked = pp->locked;
		pair->reserved = pp->reserved;
		pair->last_seq = first + (uint64_t)pp->last_leg;
		tl_ledger_mark_dirty(l, pair);
	}

	ack->status = TL_LEDGER_APPLIED;
	ack->seq = first;
	ack->entry_count = (uint8_t)p->leg_count;
	ack_balances(ack, p);
	return 0;
}

/* A duplicate's ack: the original entries, and the current balances of the pairs they
 * touched. */
static int ack_duplicate(tl_ledger_t *l, MDB_txn *txn, const tl_idem_val_t *iv,
                         tl_ledger_ack_t *ack)
{
	ack->status = TL_LEDGER_DUPLICATE;
	ack->seq = iv->seq;
	ack->entry_count = iv->count;
	for (uint64_t seq = iv->seq; seq < iv->seq + iv->count; seq++) {
		uint8_t key[8];
		tl_be64_put(key, seq);
		MDB_val k = {sizeof(key), key}, v;
		tl_entry_t e;
		int rc = mdb_get(txn, l->store.entries, &k, &v);
		if (rc)
			return tl_store_err(rc);
		if ((rc = tl_entry_decode(v.mv_data, v.mv_size, &e)))
			return rc;
		if (!e.account_id || !e.asset_id)
			continue;
		bool seen = false;
		for (int i = 0; i < ack->balance_count; i++)
			seen |= ack->balances[i].account_id == e.account_id &&
			        ack->balances[i].asset_id == e.asset_id;
		tl_pair_t *pair = tl_state_pair(&l->state, e.account_id, e.asset_id, false);
		if (seen || !pair || ack->balance_count == TL_LEDGER_ACK_BALANCES)
			continue;
		ack->balances[ack->balance_count++] = (tl_ledger_balance_t){
		    e.account_id, e.asset_id, pair->available, pair->locked, 0};
	}
	return 0;
}

static int reject(tl_ledger_ack_t *ack, int reason)
{
	ack->status = TL_LEDGER_REJECTED;
	ack->reason = (uint16_t)reason;
	return 0;
}

int tl_apply(tl_ledger_t *l, MDB_txn *rtxn, const tl_ledger_cmd_t *cmd, tl_ledger_ack_t *ack)
{
	memset(ack, 0, sizeof(*ack));
	ack->token = cmd->token;
	if (cmd->type == TL_LEDGER_CMD_NONE || cmd->type >= TL_LEDGER_CMD_COUNT)
		return reject(ack, TL_LEDGER_R_UNKNOWN_TYPE);
	int key_len = field_len(cmd->key, sizeof(cmd->key));
	if (key_len < 0)
		return reject(ack, TL_LEDGER_R_BAD_FIELD);
	if (key_len == 0)
		return reject(ack, TL_LEDGER_R_MISSING_KEY);

	MDB_val k = {(size_t)key_len, (void *)cmd->key}, v;
	int rc = mdb_get(rtxn, l->store.idem, &k, &v);
	if (rc == 0) {
		tl_idem_val_t iv;
		if ((rc = tl_idem_val_get(&v, &iv)))
			return rc;
		return ack_duplicate(l, rtxn, &iv, ack);
	}
	if (rc != MDB_NOTFOUND)
		return tl_store_err(rc);

	plan_t plan;
	memset(&plan, 0, sizeof(plan));
	plan.cmd = cmd;
	int reason = plan_command(l, &plan);
	if (!reason)
		reason = plan_check(&plan);
	if (!reason) {
		/* Capacity: new pairs and a new reservation must fit before anything is written. */
		uint32_t new_pairs = 0;
		for (int i = 0; i < plan.pair_count; i++)
			new_pairs += plan.pairs[i].pair == NULL;
		if (l->state.pair_count + new_pairs > l->state.max_pairs)
			reason = TL_LEDGER_R_CAPACITY;
		if (plan.res_touched && !plan.res_exists && plan.res.remaining != 0 &&
		    l->state.order_count == l->state.max_orders)
			reason = TL_LEDGER_R_CAPACITY;
	}
	if (reason)
		return reject(ack, reason);
	return write_plan(l, &plan, (size_t)key_len, ack);
}
