/*
 * audit.c: the read-only tools. verify recomputes everything from the journal alone and
 * compares it with what the ledger stored; dump and balances print the database.
 *
 * All of them read one LMDB read snapshot, so they may run beside a writing ledger.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable u64 -> record map for the recomputation ---------------------------- */

typedef struct vrec {
	uint64_t key;
	int64_t available, locked, reserved; /* pairs */
	uint64_t last_seq;
	uint32_t account_id, asset_id; /* reservations */
	int64_t remaining;
} vrec_t;

typedef struct vmap {
	vrec_t *slots;
	size_t cap, count;
} vmap_t;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	return x;
}

static vrec_t *vmap_get(vmap_t *m, uint64_t key, bool create)
{
	if (create && (m->count + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		vrec_t *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slots[i].key)
				continue;
			size_t j = mix(m->slots[i].key) & (cap - 1);
			while (slots[j].key)
				j = (j + 1) & (cap - 1);
			slots[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
	}
	if (!m->cap)
		return NULL;
	for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key)
			return &m->slots[i];
		if (m->slots[i].key)
			continue;
		if (!create)
			return NULL;
		memset(&m->slots[i], 0, sizeof(m->slots[i]));
		m->slots[i].key = key;
		m->count++;
		return &m->slots[i];
	}
}

/* ---- registry names, for the tools ----------------------------------------------- */

const char *tl_audit_asset_name(const tl_registry_t *r, uint32_t id)
{
	return id && id <= r->asset_count ? r->assets[id - 1].name : "?";
}

unsigned tl_audit_asset_decimals(const tl_registry_t *r, uint32_t id)
{
	return id && id <= r->asset_count ? r->assets[id - 1].decimals : 0;
}

const char *tl_audit_account_name(const tl_registry_t *r, uint32_t id)
{
	return id && id <= r->account_count ? r->accounts[id - 1].name : "?";
}

int tl_audit_open(tl_store_t *st, const char *dir, MDB_txn **txn)
{
	/* A map of 64 MiB is only the initial view; a reader adopts the file's real size. */
	int rc = tl_store_open(st, dir, true, TL_LEDGER_STRICT, 64ull << 20, 64ull << 20);
	if (rc)
		return rc;
	rc = tl_store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn));
	if (rc)
		tl_store_close(st);
	return rc;
}

/* ---- verify ------------------------------------------------------------------------ */

typedef struct verifier {
	FILE *log;
	tl_ledger_verify_report_t *rep;
	vmap_t pairs, orders;
	uint32_t assets, accounts;
	/* the command being read */
	tl_entry_t group[8];
	int group_len;
	uint64_t group_first;
} verifier_t;

static void problem(verifier_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(verifier_t *v, const char *fmt, ...)
{
	if (++v->rep->problems <= 50 && v->log) {
		va_list ap;
		va_start(ap, fmt);
		fputs("problem: ", v->log);
		vfprintf(v->log, fmt, ap);
		fputc('\n', v->log);
		va_end(ap);
	} else if (v->rep->problems == 51 && v->log) {
		fputs("problem: (further problems are counted, not printed)\n", v->log);
	}
}

static uint64_t pair_key(uint32_t account, uint32_t asset)
{
	return (uint64_t)account << 32 | asset;
}

/* Checks that the legs of one command have the shape its type writes. */
static void check_shape(verifier_t *v)
{
	const tl_entry_t *g = v->group;
	int n = v->group_len;
	unsigned t = g[0].cmd_type;
	bool ok;
	switch (t) {
	case TL_LEDGER_ASSET_DEFINE:
		ok = n == 1 && g[0].leg == TL_LEG_ASSET;
		break;
	case TL_LEDGER_ACCOUNT_OPEN:
		ok = n == 1 && g[0].leg == TL_LEG_ACCOUNT;
		break;
	case TL_LEDGER_DEPOSIT_CREDIT:
	case TL_LEDGER_REWARD_CREDIT:
		ok = n == 1 && g[0].leg == TL_LEG_CREDIT;
		break;
	case TL_LEDGER_WITHDRAW_DEBIT:
	case TL_LEDGER_FEE_DEBIT:
		ok = n == 1 && g[0].leg == TL_LEG_DEBIT;
		break;
	case TL_LEDGER_LOCK:
		ok = n == 1 && g[0].leg == TL_LEG_LOCK;
		break;
	case TL_LEDGER_UNLOCK:
		ok = n == 1 && g[0].leg == TL_LEG_UNLOCK;
		break;
	case TL_LEDGER_ADJUSTMENT:
		ok = n == 1 && g[0].leg == TL_LEG_ADJUST;
		break;
	case TL_LEDGER_TRANSFER:
		/* money moves between accounts and is conserved */
		ok = n == 2 && g[0].leg == TL_LEG_DEBIT && g[1].leg == TL_LEG_CREDIT &&
		     g[0].asset_id == g[1].asset_id && g[0].account_id != g[1].account_id &&
		     g[0].d_available == -g[1].d_available;
		break;
	case TL_LEDGER_TRADE_SETTLE:
		ok = n >= 2 && n <= 4 && g[0].leg == TL_LEG_SPEND && g[1].leg == TL_LEG_CREDIT &&
		     g[0].account_id == g[1].account_id && g[0].asset_id != g[1].asset_id;
		for (int i = 2; ok && i < n; i++)
			ok = (g[i].leg == TL_LEG_DEBIT || g[i].leg == TL_LEG_UNLOCK) &&
			     g[i].account_id == g[0].account_id;
		/* a release returns the rest of the spent asset's reservation */
		if (ok && g[n - 1].leg == TL_LEG_UNLOCK)
			ok = g[n - 1].asset_id == g[0].asset_id && g[n - 1].ref == g[0].ref;
		break;
	default:
		ok = false;
	}
	if (!ok)
		problem(v, "seq %" PRIu64 ": command %s has legs of the wrong shape",
		        v->group_first,
		        tl_ledger_cmd_type_name(t) ? tl_ledger_cmd_type_name(t) : "(unknown type)");
}

/* One leg: its own shape, then its effect on the recomputed balances. */
static void apply_leg(verifier_t *v, const tl_entry_t *e)
{
	bool ok;
	switch (e->leg) {
	case TL_LEG_ASSET:
		ok = e->account_id == 0 && e->asset_id == v->assets + 1 &&
		     e->aux <= TL_LEDGER_DECIMALS_MAX && e->text_len > 0;
		if (ok)
			v->assets++;
		break;
	case TL_LEG_ACCOUNT:
		ok = e->asset_id == 0 && e->account_id == v->accounts + 1 && e->text_len > 0;
		if (ok)
			v->accounts++;
		break;
	case TL_LEG_CREDIT:
		ok = e->d_available > 0 && e->d_locked == 0;
		break;
	case TL_LEG_DEBIT:
		ok = e->d_available < 0 && e->d_locked == 0;
		break;
	case TL_LEG_LOCK:
		ok = e->d_available < 0 && e->d_locked == -e->d_available;
		break;
	case TL_LEG_UNLOCK:
		ok = e->d_available > 0 && e->d_locked == -e->d_available;
		break;
	case TL_LEG_SPEND:
		ok = e->d_available <= 0 && e->d_locked <= 0 && (e->d_available | e->d_locked) != 0;
		break;
	case TL_LEG_ADJUST:
		ok = e->d_available != 0 && e->d_locked == 0 && e->text_len > 0;
		break;
	default:
		ok = false;
	}
	if (!ok) {
		problem(v, "seq %" PRIu64 ": malformed leg (kind %u)", e->seq, e->leg);
		return;
	}
	if (e->leg == TL_LEG_ASSET || e->leg == TL_LEG_ACCOUNT)
		return;
	if (e->account_id == 0 || e->account_id > v->accounts || e->asset_id == 0 ||
	    e->asset_id > v->assets) {
		problem(v, "seq %" PRIu64 ": unregistered account %u or asset %u", e->seq,
		        e->account_id, e->asset_id);
		return;
	}
	vrec_t *p = vmap_get(&v->pairs, pair_key(e->account_id, e->asset_id), true);
	if (!p) {
		problem(v, "out of memory");
		return;
	}
	if (__builtin_add_overflow(p->available, e->d_available, &p->available) ||
	    __builtin_add_overflow(p->locked, e->d_locked, &p->locked))
		problem(v, "seq %" PRIu64 ": balance overflows", e->seq);
	p->last_seq = e->seq;
	if (e->ref && e->d_locked) {
		vrec_t *r = vmap_get(&v->orders, e->ref, true);
		if (!r) {
			problem(v, "out of memory");
			return;
		}
		if (r->remaining == 0) {
			r->account_id = e->account_id;
			r->asset_id = e->asset_id;
		} else if (r->account_id != e->account_id || r->asset_id != e->asset_id) {
			problem(v, "seq %" PRIu64 ": order %" PRIu64 " reserves two balances",
			        e->seq, e->ref);
		}
		r->remaining += e->d_locked;
		p->reserved += e->d_locked;
		if (r->remaining < 0)
			problem(v, "seq %" PRIu64 ": order %" PRIu64 " reservation below zero",
			        e->seq, e->ref);
	}
}

/* A command is complete: its shape, its invariants, its idempotency record. */
static void close_group(verifier_t *v, MDB_txn *txn, const tl_store_t *st)
{
	if (v->group_len == 0)
		return;
	const tl_entry_t *g = v->group;
	if (v->group_len != g[0].count) {
		problem(v, "seq %" PRIu64 ": command has %d of its %u entries (half-applied)",
		        v->group_first, v->group_len, g[0].count);
	} else {
		check_shape(v);
	}
	for (int i = 0; i < v->group_len; i++) {
		if (!g[i].account_id || !g[i].asset_id)
			continue;
		vrec_t *p = vmap_get(&v->pairs, pair_key(g[i].account_id, g[i].asset_id), false);
		if (p && (p->available < 0 || p->locked < 0 || p->locked < p->reserved))
			problem(v,
			        "seq %" PRIu64
			        ": invariant broken after the command: available %" PRId64
			        ", locked %" PRId64 ", reserved %" PRId64,
			        v->group_first, p->available, p->locked, p->reserved);
	}
	MDB_val k = {g[0].key_len, (void *)g[0].key}, val;
	tl_idem_val_t iv;
	if (mdb_get(txn, st->idem, &k, &val) != 0 || tl_idem_val_get(&val, &iv) != 0)
		problem(v, "seq %" PRIu64 ": key '%s' is missing from the idempotency index",
		        v->group_first, g[0].key);
	else if (iv.seq != v->group_first || iv.count != g[0].count || iv.cmd_type != g[0].cmd_type)
		problem(v, "seq %" PRIu64 ": key '%s' maps to seq %" PRIu64 " instead",
		        v->group_first, g[0].key, iv.seq);
	v->rep->commands++;
	v->group_len = 0;
}

static void verify_journal(verifier_t *v, MDB_txn *txn, const tl_store_t *st, uint64_t *last_seq,
                           uint8_t chain[TL_LEDGER_HASH_SIZE])
{
	MDB_cursor *cur;
	MDB_val k, val;
	if (mdb_cursor_open(txn, st->entries, &cur)) {
		problem(v, "cannot read the journal");
		return;
	}
	uint64_t expect = 1;
	memset(chain, 0, TL_LEDGER_HASH_SIZE);
	int rc;
	for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &val, op)) == 0; op = MDB_NEXT) {
		tl_entry_t e;
		if (k.mv_size != 8 || tl_entry_decode(val.mv_data, val.mv_size, &e) != 0) {
			problem(v, "entry after seq %" PRIu64 " does not decode; stopping",
			        expect - 1);
			break;
		}
		uint64_t seq = tl_be64_get(k.mv_data);
		if (seq != expect || e.seq != seq) {
			problem(v, "seq %" PRIu64 " found where %" PRIu64 " was expected; stopping",
			        seq, expect);
			break;
		}
		uint8_t h[TL_LEDGER_HASH_SIZE];
		size_t body = val.mv_size - TL_LEDGER_HASH_SIZE;
		if (tl_entry_hash(chain, val.mv_data, body, h) != 0 ||
		    memcmp(h, (const uint8_t *)val.mv_data + body, TL_LEDGER_HASH_SIZE) != 0)
			problem(v, "seq %" PRIu64 ": hash chain broken", seq);
		memcpy(chain, (const uint8_t *)val.mv_data + body, TL_LEDGER_HASH_SIZE);

		if (e.index == 0) {
			close_group(v, txn, st);
			v->group_first = seq;
		} else if (v->group_len == 0 || e.index != v->group_len ||
		           e.cmd_type != v->group[0].cmd_type || e.key_len != v->group[0].key_len ||
		           memcmp(e.key, v->group[0].key, e.key_len) != 0) {
			problem(v, "seq %" PRIu64 ": entry %u of a command that did not start", seq,
			        e.index);
			expect++;
			continue;
		}
		if (v->group_len < (int)(sizeof(v->group) / sizeof(v->group[0])))
			v->group[v->group_len++] = e;
		apply_leg(v, &e);
		v->rep->entries++;
		if (v->log && v->rep->entries % 1000000 == 0)
			fprintf(v->log, "verify: %" PRIu64 " entries read\n", v->rep->entries);
		expect++;
	}
	close_group(v, txn, st);
	mdb_cursor_close(cur);
	*last_seq = expect - 1;
}

static void verify_stored(verifier_t *v, MDB_txn *txn, const tl_store_t *st)
{
	MDB_cursor *cur;
	MDB_val k, val;
	MDB_stat ms;
	int rc;
	/* balances: every stored balance equals the recomputed one, and none is missing */
	uint64_t stored = 0;
	if (mdb_cursor_open(txn, st->balances, &cur) == 0) {
		for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &val, op)) == 0;
		     op = MDB_NEXT) {
			int64_t av, lk;
			uint64_t ls;
			stored++;
			if (k.mv_size != 8 || tl_balance_val_get(&val, &av, &lk, &ls) != 0) {
				problem(v, "a stored balance does not decode");
				continue;
			}
			uint32_t acc = tl_be32_get(k.mv_data),
			         as = tl_be32_get((uint8_t *)k.mv_data + 4);
			vrec_t *p = vmap_get(&v->pairs, pair_key(acc, as), false);
			if (!p || p->available != av || p->locked != lk || p->last_seq != ls)
				problem(v,
				        "balance of account %u asset %u is stored as %" PRId64
				        "/%" PRId64 " (seq %" PRIu64
				        ") but the journal gives %" PRId64 "/%" PRId64
				        " (seq %" PRIu64 ")",
				        acc, as, av, lk, ls, p ? p->available : 0,
				        p ? p->locked : 0, p ? p->last_seq : 0);
		}
		mdb_cursor_close(cur);
	}
	if (stored != v->pairs.count)
		problem(v, "%" PRIu64 " balances stored, %zu recomputed", stored, v->pairs.count);
	v->rep->pairs = v->pairs.count;

	/* open reservations */
	uint64_t open = 0;
	for (size_t i = 0; i < v->orders.cap; i++)
		open += v->orders.slots[i].key && v->orders.slots[i].remaining != 0;
	stored = 0;
	if (mdb_cursor_open(txn, st->orders, &cur) == 0) {
		for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &val, op)) == 0;
		     op = MDB_NEXT) {
			tl_order_res_t r;
			if (k.mv_size != 8 || tl_order_val_get(&val, &r) != 0) {
				stored++;
				problem(v, "a stored reservation does not decode");
				continue;
			}
			uint64_t order = tl_be64_get(k.mv_data);
			if (order == 0 && r.remaining == 0 && r.account_id == 0 && r.asset_id == 0)
				continue; /* the sentinel that keeps the table from emptying */
			stored++;
			vrec_t *o = vmap_get(&v->orders, order, false);
			if (!o || o->remaining != r.remaining || o->account_id != r.account_id ||
			    o->asset_id != r.asset_id)
				problem(v,
				        "order %" PRIu64 ": stored reservation %" PRId64
				        " differs from the journal's %" PRId64,
				        order, r.remaining, o ? o->remaining : 0);
		}
		mdb_cursor_close(cur);
	}
	if (stored != open)
		problem(v, "%" PRIu64 " reservations stored, %" PRIu64 " open in the journal",
		        stored, open);
	v->rep->orders = open;

	/* the idempotency index holds exactly one key per command */
	if (mdb_stat(txn, st->idem, &ms) == 0 && ms.ms_entries != v->rep->commands)
		problem(v, "the idempotency index has %zu keys for %" PRIu64 " commands",
		        (size_t)ms.ms_entries, v->rep->commands);
	if (mdb_stat(txn, st->assets, &ms) == 0 && ms.ms_entries != v->assets)
		problem(v, "%zu assets stored, %u defined in the journal", (size_t)ms.ms_entries,
		        v->assets);
	if (mdb_stat(txn, st->accounts, &ms) == 0 && ms.ms_entries != v->accounts)
		problem(v, "%zu accounts stored, %u opened in the journal", (size_t)ms.ms_entries,
		        v->accounts);
}

int tl_ledger_verify(const char *dir, FILE *log, tl_ledger_verify_report_t *report)
{
	tl_store_t st;
	MDB_txn *txn;
	memset(report, 0, sizeof(*report));
	int rc = tl_audit_open(&st, dir, &txn);
	if (rc)
		return rc;
	verifier_t *v = calloc(1, sizeof(*v));
	if (!v) {
		mdb_txn_abort(txn);
		tl_store_close(&st);
		return -ENOMEM;
	}
	v->log = log;
	v->rep = report;

	uint64_t last_seq = 0;
	uint8_t chain[TL_LEDGER_HASH_SIZE] = {0};
	verify_journal(v, txn, &st, &last_seq, chain);
	verify_stored(v, txn, &st);

	/* meta: the journal's head */
	MDB_val k = {strlen(TL_META_LAST_SEQ), TL_META_LAST_SEQ}, val;
	if (mdb_get(txn, st.meta, &k, &val) != 0 || val.mv_size != 8 ||
	    tl_le64_get(val.mv_data) != last_seq)
		problem(v, "meta last_seq differs from the journal's last seq %" PRIu64, last_seq);
	k = (MDB_val){strlen(TL_META_CHAIN), TL_META_CHAIN};
	if (mdb_get(txn, st.meta, &k, &val) != 0 || val.mv_size != TL_LEDGER_HASH_SIZE ||
	    memcmp(val.mv_data, chain, TL_LEDGER_HASH_SIZE) != 0)
		problem(v, "meta chain_head differs from the journal's last hash");

	free(v->pairs.slots);
	free(v->orders.slots);
	free(v);
	mdb_txn_abort(txn);
	tl_store_close(&st);
	return 0;
}
