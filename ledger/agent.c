/*
 * agent.c: the ledger thread. Drain, group commit, sync, publish, ack.
 *
 * DESIGN
 * One loop iteration takes as many commands as every port offers (up to batch_max in all,
 * and never more than that port has free ack slots, so an ack always has a place to go),
 * applies them inside one LMDB write transaction, and commits. Commands stay in their
 * rings, peeked but not released, until the commit is done: if the map turns out to be
 * full, the transaction is aborted, the working state reloaded from the database, the map
 * doubled, and the very same commands applied again. Producers never see it.
 *
 * Acks are written into reserved slots of each port's ack ring and published only once
 * the commit is durable: at once in strict and nometasync modes (LMDB synced inside the
 * commit), and after the next mdb_env_sync() in periodic mode.
 *
 * Any other storage error (ENOSPC, EIO, a map at its cap) aborts the transaction, so the
 * database stays as of the last good commit, and stops intake: every command from then on
 * is acked FAILED at once.
 */
#include "ledger_internal.h"
#include "tl_log.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(sizeof(tl_ledger_cmd_t) == TL_LEDGER_CMD_SIZE, "command layout");
_Static_assert(sizeof(tl_ledger_ack_t) == TL_LEDGER_ACK_SIZE, "ack layout");

/* ---- names ------------------------------------------------------------------------- */

static const char *const cmd_names[TL_LEDGER_CMD_COUNT] = {
    [TL_LEDGER_ASSET_DEFINE] = "ASSET_DEFINE",
    [TL_LEDGER_ACCOUNT_OPEN] = "ACCOUNT_OPEN",
    [TL_LEDGER_DEPOSIT_CREDIT] = "DEPOSIT_CREDIT",
    [TL_LEDGER_WITHDRAW_DEBIT] = "WITHDRAW_DEBIT",
    [TL_LEDGER_LOCK] = "LOCK",
    [TL_LEDGER_UNLOCK] = "UNLOCK",
    [TL_LEDGER_TRADE_SETTLE] = "TRADE_SETTLE",
    [TL_LEDGER_FEE_DEBIT] = "FEE_DEBIT",
    [TL_LEDGER_REWARD_CREDIT] = "REWARD_CREDIT",
    [TL_LEDGER_TRANSFER] = "TRANSFER",
    [TL_LEDGER_ADJUSTMENT] = "ADJUSTMENT",
};

const char *tl_ledger_cmd_type_name(unsigned type)
{
	return type < TL_LEDGER_CMD_COUNT ? cmd_names[type] : NULL;
}

tl_ledger_cmd_type_t tl_ledger_cmd_type_parse(const char *name)
{
	for (unsigned t = 1; t < TL_LEDGER_CMD_COUNT; t++)
		if (strcmp(cmd_names[t], name) == 0)
			return (tl_ledger_cmd_type_t)t;
	return TL_LEDGER_CMD_NONE;
}

static const char *const reason_names[TL_LEDGER_R_COUNT] = {
    [TL_LEDGER_OK] = "ok",
    [TL_LEDGER_R_UNKNOWN_TYPE] = "unknown_type",
    [TL_LEDGER_R_MISSING_KEY] = "missing_key",
    [TL_LEDGER_R_BAD_NAME] = "bad_name",
    [TL_LEDGER_R_UNKNOWN_ACCOUNT] = "unknown_account",
    [TL_LEDGER_R_UNKNOWN_ASSET] = "unknown_asset",
    [TL_LEDGER_R_EXISTS] = "exists",
    [TL_LEDGER_R_BAD_DECIMALS] = "bad_decimals",
    [TL_LEDGER_R_NOT_POSITIVE] = "not_positive",
    [TL_LEDGER_R_PRECISION] = "precision",
    [TL_LEDGER_R_INEXACT] = "inexact",
    [TL_LEDGER_R_OVERFLOW] = "overflow",
    [TL_LEDGER_R_INSUFFICIENT] = "insufficient",
    [TL_LEDGER_R_BAD_SIDE] = "bad_side",
    [TL_LEDGER_R_ORDER_MISMATCH] = "order_mismatch",
    [TL_LEDGER_R_NO_RESERVATION] = "no_reservation",
    [TL_LEDGER_R_MISSING_REASON] = "missing_reason",
    [TL_LEDGER_R_SAME_ACCOUNT] = "same_account",
    [TL_LEDGER_R_CAPACITY] = "capacity",
    [TL_LEDGER_R_BAD_FIELD] = "bad_field",
};

const char *tl_ledger_reason_name(unsigned reason)
{
	return reason < TL_LEDGER_R_COUNT ? reason_names[reason] : "unknown";
}

const char *tl_ledger_status_name(unsigned status)
{
	switch (status) {
	case TL_LEDGER_APPLIED:
		return "applied";
	case TL_LEDGER_DUPLICATE:
		return "duplicate";
	case TL_LEDGER_REJECTED:
		return "rejected";
	case TL_LEDGER_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}

const char *tl_ledger_durability_name(tl_ledger_durability_t d)
{
	switch (d) {
	case TL_LEDGER_STRICT:
		return "strict";
	case TL_LEDGER_NOMETASYNC:
		return "nometasync";
	case TL_LEDGER_PERIODIC:
		return "periodic";
	}
	return "unknown";
}

int tl_ledger_durability_parse(const char *name, tl_ledger_durability_t *out)
{
	for (int d = TL_LEDGER_STRICT; d <= TL_LEDGER_PERIODIC; d++)
		if (strcmp(name, tl_ledger_durability_name((tl_ledger_durability_t)d)) == 0) {
			*out = (tl_ledger_durability_t)d;
			return 0;
		}
	return -EINVAL;
}

/* ---- logging ----------------------------------------------------------------------- */

void tl_ledger_log(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tl_log(prio, "ledger", "%s", line);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- lifecycle --------------------------------------------------------------------- */

void tl_ledger_config_default(tl_ledger_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->durability = TL_LEDGER_STRICT;
	cfg->sync_period_ms = 10;
	cfg->map_initial_bytes = 64ull << 20;
	cfg->map_max_bytes = 256ull << 30;
	cfg->max_assets = 256;
	cfg->max_accounts = 4096;
	cfg->max_pairs = 65536;
	cfg->max_orders = 65536;
	cfg->batch_max = 4096;
	cfg->idle = TL_IDLE_BLOCK;
	cfg->cpu = -1;
}

/* cfg->prealloc_bytes at open; an optimisation, so a failure is only said. */
static void ledger_prealloc(tl_store_t *st, const tl_ledger_config_t *cfg)
{
	int64_t t0 = now_ns();
	uint64_t added = 0;
	int rc = tl_store_prealloc(st, cfg->prealloc_bytes, &added);

	if (rc)
		tl_ledger_log(
		    4, "%s: cannot preallocate %llu MiB ahead (%llu KiB written): %s; going on",
		    cfg->dir, (unsigned long long)(cfg->prealloc_bytes >> 20),
		    (unsigned long long)(added >> 10), tl_strerror(rc));
	else if (added)
		tl_ledger_log(6, "%s: %llu MiB of zeros written ahead of the data in %lld ms",
		              cfg->dir, (unsigned long long)(added >> 20),
		              (long long)((now_ns() - t0) / 1000000));
}

/* Resolves cfg->cpu == TL_LEDGER_CPU_DISK into l->cfg.cpu, saying what was chosen. */
static void ledger_choose_cpu(tl_ledger_t *l)
{
	if (l->cfg.cpu != TL_LEDGER_CPU_DISK)
		return;
	int cpu = tl_ledger_disk_cpu(l->dir);
	if (cpu >= 0)
		tl_ledger_log(
		    6, "%s: the disk's interrupts go to CPU %d: the ledger thread runs there",
		    l->dir, cpu);
	else
		tl_ledger_log(6,
		              "%s: no single CPU takes the disk's interrupts (%s): the ledger "
		              "thread is not pinned",
		              l->dir, tl_strerror(cpu));
	l->cfg.cpu = cpu >= 0 ? cpu : -1;
}

int tl_ledger_open(tl_ledger_t **out, const tl_ledger_config_t *cfg)
{
	if (!out || !cfg || !cfg->dir || !cfg->batch_max || !cfg->map_initial_bytes ||
	    cfg->map_max_bytes < cfg->map_initial_bytes || cfg->cpu < TL_LEDGER_CPU_DISK ||
	    (cfg->durability == TL_LEDGER_PERIODIC && cfg->sync_period_ms == 0))
		return -EINVAL;
	tl_ledger_t *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	l->dir = strdup(cfg->dir);
	l->cfg.dir = l->dir;
	l->store.lock_fd = -1;
	tl_hist_reset(&l->commit_hist);
	int rc = l->dir ? 0 : -ENOMEM;
	if (!rc)
		rc = tl_state_init(&l->state, cfg->max_assets, cfg->max_accounts, cfg->max_pairs,
		                   cfg->max_orders);
	if (!rc) {
		l->batch_acks = calloc(cfg->batch_max, sizeof(*l->batch_acks));
		l->dirty = calloc(cfg->max_pairs, sizeof(*l->dirty));
		if (!l->batch_acks || !l->dirty)
			rc = -ENOMEM;
	}
	if (!rc)
		rc = tl_store_open(&l->store, cfg->dir, false, cfg->durability,
		                   cfg->map_initial_bytes, cfg->map_max_bytes);
	if (!rc && cfg->prealloc_bytes)
		ledger_prealloc(&l->store, cfg);
	if (!rc)
		ledger_choose_cpu(l);
	if (!rc && (rc = tl_state_load(&l->state, &l->store)) != 0)
		tl_ledger_log(3, "%s: cannot load the ledger state: %s", cfg->dir, tl_strerror(rc));
	if (!rc && (rc = tl_wait_init(&l->waiter)) == -ENOSYS) {
		tl_ledger_log(4, "membarrier(2) unavailable: producers fence on every submit");
		rc = 0;
	}
	if (!rc)
		rc = tl_idle_init(&l->idle, cfg->idle, &l->waiter);
	if (rc) {
		tl_ledger_close(l);
		return rc;
	}
	/* Readers see the state as loaded. */
	for (uint32_t i = 0; i <= l->state.pairs_mask; i++)
		if (l->state.pairs[i].key)
			tl_state_publish_pair(&l->state, &l->state.pairs[i]);
	tl_state_publish_registry(&l->state);
	atomic_store_explicit(&l->state.pub_last_seq, l->state.last_seq, memory_order_release);
	atomic_init(&l->stop_requested, false);
	atomic_init(&l->failure, 0);
	*out = l;
	return 0;
}

int tl_ledger_port_attach(tl_ledger_t *l, uint32_t capacity, tl_ledger_port_t **out)
{
	if (l->running)
		return -EBUSY;
	if (l->port_count == TL_LEDGER_PORTS_MAX)
		return -ENOSPC;
	tl_ledger_port_t *port = &l->ports[l->port_count];
	int rc = tl_ring_create(&port->cmds, capacity, sizeof(tl_ledger_cmd_t));
	if (!rc)
		rc = tl_ring_create(&port->acks, capacity, sizeof(tl_ledger_ack_t));
	if (!rc)
		rc = tl_ring_set_waiter(port->cmds, &l->waiter);
	if (rc) {
		tl_ring_destroy(port->cmds);
		tl_ring_destroy(port->acks);
		memset(port, 0, sizeof(*port));
		return rc;
	}
	l->port_count++;
	*out = port;
	return 0;
}

int tl_ledger_reservations(const tl_ledger_t *l, tl_ledger_reservation_t *out, size_t cap,
                           size_t *n)
{
	const tl_state_t *s = &l->state;
	size_t k = 0;

	if (l->running)
		return -EBUSY;
	for (uint32_t i = 0; i <= s->orders_mask; i++) {
		const tl_order_res_t *r = &s->orders[i];

		if (!r->order || r->remaining <= 0)
			continue;
		if (k < cap)
			out[k] = (tl_ledger_reservation_t){r->order, r->account_id, r->asset_id,
			                                   r->remaining};
		k++;
	}
	*n = k;
	return 0;
}

int tl_ledger_history_bounds(const tl_ledger_t *l, uint64_t *last_order, int64_t *first_ms)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	tl_entry_t e;
	int rc, mrc;

	if (l->running)
		return -EBUSY;
	*last_order = 0;
	*first_ms = 0;
	if ((rc = tl_store_err(mdb_txn_begin(l->store.env, NULL, MDB_RDONLY, &txn))))
		return rc;
	if ((rc = tl_store_err(mdb_cursor_open(txn, l->store.entries, &cur)))) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if ((rc = tl_entry_decode(v.mv_data, v.mv_size, &e)) == 0)
			*first_ms = e.ts_ms;
		for (int op = MDB_LAST; rc == 0 && (mrc = mdb_cursor_get(cur, &k, &v, op)) == 0;
		     op = MDB_PREV) {
			if ((rc = tl_entry_decode(v.mv_data, v.mv_size, &e)) == 0 && e.ref) {
				*last_order = e.ref;
				break;
			}
		}
	}
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = tl_store_err(mrc);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

int tl_ledger_port_set_ack_waiter(tl_ledger_port_t *port, tl_wait_t *w)
{
	return tl_ring_set_waiter(port->acks, w);
}

void tl_ledger_close(tl_ledger_t *l)
{
	if (!l)
		return;
	tl_ledger_stop(l);
	for (uint32_t i = 0; i < l->port_count; i++) {
		tl_ring_destroy(l->ports[i].cmds);
		tl_ring_destroy(l->ports[i].acks);
	}
	tl_store_close(&l->store);
	tl_state_free(&l->state);
	free(l->batch_acks);
	free(l->dirty);
	free(l->dir);
	free(l);
}

int tl_ledger_failure(const tl_ledger_t *l)
{
	return atomic_load_explicit(&l->failure, memory_order_acquire);
}

int tl_ledger_cpu(const tl_ledger_t *l)
{
	return l->cfg.cpu;
}

void tl_ledger_stats(const tl_ledger_t *l, tl_ledger_stats_t *out)
{
	out->commits = atomic_load_explicit(&l->commits, memory_order_relaxed);
	out->commands = atomic_load_explicit(&l->commands, memory_order_relaxed);
	out->map_grows = atomic_load_explicit(&l->map_grows, memory_order_relaxed);
}

const tl_hist_t *tl_ledger_commit_hist(const tl_ledger_t *l)
{
	return &l->commit_hist;
}

/* ---- the batch --------------------------------------------------------------------- */

void tl_ledger_mark_dirty(tl_ledger_t *l, tl_pair_t *p)
{
	if (p->dirty_batch == l->batch_no)
		return;
	p->dirty_batch = l->batch_no;
	assert(l->dirty_count < l->cfg.max_pairs);
	l->dirty[l->dirty_count++] = (uint32_t)(p - l->state.pairs);
}

static int put_meta(tl_ledger_t *l, MDB_txn *txn)
{
	uint8_t seq[8];
	tl_le64_put(seq, l->state.last_seq);
	MDB_val k = {strlen(TL_META_LAST_SEQ), TL_META_LAST_SEQ}, v = {sizeof(seq), seq};
	int rc = mdb_put(txn, l->store.meta, &k, &v, 0);
	if (rc)
		return tl_store_err(rc);
	k = (MDB_val){strlen(TL_META_CHAIN), TL_META_CHAIN};
	v = (MDB_val){TL_LEDGER_HASH_SIZE, l->state.chain};
	return tl_store_err(mdb_put(txn, l->store.meta, &k, &v, 0));
}

static int put_dirty_balances(tl_ledger_t *l, MDB_txn *txn)
{
	for (uint32_t i = 0; i < l->dirty_count; i++) {
		const tl_pair_t *p = &l->state.pairs[l->dirty[i]];
		uint8_t key[8], val[TL_BALANCE_VAL];
		tl_be32_put(key, (uint32_t)(p->key >> 32));
		tl_be32_put(key + 4, (uint32_t)p->key);
		tl_balance_val_put(val, p->available, p->locked, p->last_seq);
		MDB_val k = {sizeof(key), key}, v = {sizeof(val), val};
		int rc = mdb_put(txn, l->store.balances, &k, &v, 0);
		if (rc)
			return tl_store_err(rc);
	}
	return 0;
}

/* Applies every taken command in one transaction and commits. Returns 0 or an error;
 * on error nothing of the batch is in the database or the working state. */
static int batch_commit(tl_ledger_t *l, uint32_t total)
{
	for (;;) {
		l->batch_no++;
		if (l->batch_no == 0)
			l->batch_no = 1; /* 0 would match fresh pairs' dirty_batch */
		l->dirty_count = 0;
		MDB_txn *txn;
		int rc = tl_store_err(mdb_txn_begin(l->store.env, NULL, 0, &txn));
		if (rc)
			return rc;
		uint32_t n = 0;
		for (uint32_t p = 0; p < l->port_count && !rc; p++) {
			tl_ledger_port_t *port = &l->ports[p];
			for (uint32_t i = 0; i < port->taken && !rc; i++, n++)
				rc = tl_apply(l, txn, tl_ring_peeked_slot(port->cmds, i),
				              &l->batch_acks[n]);
		}
		if (!rc)
			rc = put_dirty_balances(l, txn);
		if (!rc)
			rc = put_meta(l, txn);
		if (!rc) {
			int64_t commit_start_ns = now_ns();
			rc = tl_store_err(mdb_txn_commit(txn));
			if (!rc)
				tl_hist_record(&l->commit_hist,
				               (uint64_t)(now_ns() - commit_start_ns));
		} else {
			mdb_txn_abort(txn);
		}
		if (!rc) {
			assert(n == total);
			return 0;
		}
		/* Nothing of the batch reached the database: make memory agree again. */
		int load = tl_state_load(&l->state, &l->store);
		if (load) {
			tl_ledger_log(3, "cannot reload state after a failed commit: %s",
			              tl_strerror(load));
			return load;
		}
		if (rc != TL_E_MAP_FULL)
			return rc;
		int grow = tl_store_grow(&l->store);
		if (grow) {
			tl_ledger_log(3, "map full at its cap of %llu bytes",
			              (unsigned long long)l->store.map_bytes);
			return grow;
		}
		atomic_fetch_add_explicit(&l->map_grows, 1, memory_order_relaxed);
		tl_ledger_log(6, "map grown to %llu bytes", (unsigned long long)l->store.map_bytes);
	}
}

/* Publishes every port's staged acks (they are durable now). */
static void acks_flush(tl_ledger_t *l)
{
	for (uint32_t p = 0; p < l->port_count; p++) {
		tl_ledger_port_t *port = &l->ports[p];
		if (port->acks_staged) {
			tl_ring_commit(port->acks, port->acks_staged);
			port->acks_staged = 0;
		}
	}
}

/* Overwrites *ack with a FAILED ack for the command with `token`. */
static void ack_failed(tl_ledger_ack_t *ack, uint64_t token, int err)
{
	memset(ack, 0, sizeof(*ack));
	ack->token = token;
	ack->status = TL_LEDGER_FAILED;
	ack->error = err;
}

/* Intake stopped: ack everything FAILED at once, with the error that stopped it. */
static int drain_failed(tl_ledger_t *l, int err)
{
	int work = 0;
	for (uint32_t p = 0; p < l->port_count; p++) {
		tl_ledger_port_t *port = &l->ports[p];
		uint32_t room = tl_ring_reserve(port->acks, port->acks_staged + l->cfg.batch_max) -
		                port->acks_staged;
		uint32_t n = tl_ring_peek(port->cmds, room);
		for (uint32_t i = 0; i < n; i++) {
			const tl_ledger_cmd_t *cmd = tl_ring_peeked_slot(port->cmds, i);
			ack_failed(tl_ring_reserved_slot(port->acks, port->acks_staged + i),
			           cmd->token, err);
		}
		tl_ring_release(port->cmds, n);
		port->acks_staged += n;
		work += (int)n;
	}
	acks_flush(l);
	return work;
}

/* Marks a batch's acks FAILED: it never reached the database. */
static void batch_fail(tl_ledger_t *l, uint32_t total, int err)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < l->port_count; p++) {
		tl_ledger_port_t *port = &l->ports[p];
		for (uint32_t i = 0; i < port->taken; i++, n++) {
			const tl_ledger_cmd_t *cmd = tl_ring_peeked_slot(port->cmds, i);
			ack_failed(&l->batch_acks[n], cmd->token, err);
		}
	}
	assert(n == total);
}

static void stop_intake(tl_ledger_t *l, int err)
{
	tl_ledger_log(3, "intake stopped: %s; the database holds every commit before this one",
	              tl_strerror(err));
	atomic_store_explicit(&l->failure, err, memory_order_release);
}

/* Periodic mode: syncs, then publishes the staged acks. If the sync fails, those commits
 * are not known to be durable, so their acks say FAILED. */
static void sync_and_flush(tl_ledger_t *l)
{
	int rc = tl_store_err(mdb_env_sync(l->store.env, 1));
	l->last_sync_ns = now_ns();
	l->unsynced = false;
	if (rc) {
		stop_intake(l, rc);
		for (uint32_t p = 0; p < l->port_count; p++) {
			tl_ledger_port_t *port = &l->ports[p];
			for (uint32_t i = 0; i < port->acks_staged; i++) {
				tl_ledger_ack_t *ack = tl_ring_reserved_slot(port->acks, i);
				ack_failed(ack, ack->token, rc);
			}
		}
	}
	acks_flush(l);
}

static bool sync_due(const tl_ledger_t *l)
{
	return now_ns() - l->last_sync_ns >= (int64_t)l->cfg.sync_period_ms * 1000000;
}

/* One pass of the agent. Returns the number of commands handled. */
static int ledger_do_work(tl_ledger_t *l)
{
	int failed = atomic_load_explicit(&l->failure, memory_order_relaxed);
	if (failed)
		return drain_failed(l, failed);

	uint32_t total = 0;
	for (uint32_t p = 0; p < l->port_count; p++) {
		tl_ledger_port_t *port = &l->ports[p];
		uint32_t room = tl_ring_reserve(port->acks, port->acks_staged + l->cfg.batch_max) -
		                port->acks_staged;
		uint32_t want = l->cfg.batch_max - total;
		port->taken = tl_ring_peek(port->cmds, room < want ? room : want);
		total += port->taken;
	}
	if (total == 0) {
		if (l->unsynced && sync_due(l))
			sync_and_flush(l);
		return 0;
	}

	int rc = batch_commit(l, total);
	if (rc) {
		stop_intake(l, rc);
		batch_fail(l, total, rc);
	} else {
		for (uint32_t i = 0; i < l->dirty_count; i++)
			tl_state_publish_pair(&l->state, &l->state.pairs[l->dirty[i]]);
		tl_state_publish_registry(&l->state);
		atomic_store_explicit(&l->state.pub_last_seq, l->state.last_seq,
		                      memory_order_release);
		atomic_fetch_add_explicit(&l->commits, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&l->commands, total, memory_order_relaxed);
	}

	/* Stage this batch's acks behind any still waiting for a sync, in port order. */
	uint32_t n = 0;
	for (uint32_t p = 0; p < l->port_count; p++) {
		tl_ledger_port_t *port = &l->ports[p];
		for (uint32_t i = 0; i < port->taken; i++, n++)
			memcpy(tl_ring_reserved_slot(port->acks, port->acks_staged + i),
			       &l->batch_acks[n], sizeof(tl_ledger_ack_t));
		port->acks_staged += port->taken;
		tl_ring_release(port->cmds, port->taken);
		port->taken = 0;
	}

	if (rc == 0 && l->cfg.durability == TL_LEDGER_PERIODIC) {
		l->unsynced = true;
		if (sync_due(l))
			sync_and_flush(l);
		return (int)total; /* otherwise the acks wait for the periodic sync */
	}
	/* Strict and nometasync: LMDB synced inside the commit. A failed batch's acks say
	 * FAILED and go out at once too. */
	acks_flush(l);
	return (int)total;
}

static void *ledger_thread(void *arg)
{
	tl_ledger_t *l = arg;
	if (l->cfg.cpu >= 0) {
		int rc = tl_thread_pin_self(l->cfg.cpu);
		if (rc)
			tl_ledger_log(4, "cannot pin the ledger thread to CPU %d: %s", l->cfg.cpu,
			              tl_strerror(rc));
	}
	l->last_sync_ns = now_ns();
	for (;;) {
		bool stop = atomic_load_explicit(&l->stop_requested, memory_order_acquire);
		int work = ledger_do_work(l);
		if (stop && work == 0)
			break; /* stop was seen before a pass that found every port empty */
		/* Sleep at most until the periodic sync is due, so staged acks go out on time. */
		int64_t sleep_ns =
		    l->unsynced ? (int64_t)l->cfg.sync_period_ms * 1000000 : 100000000;
		tl_idle_run(&l->idle, work, sleep_ns);
	}
	if (l->unsynced)
		sync_and_flush(l);
	acks_flush(l);
	return NULL;
}

int tl_ledger_start(tl_ledger_t *l)
{
	if (l->running)
		return -EBUSY;
	atomic_store_explicit(&l->stop_requested, false, memory_order_relaxed);
	int rc = pthread_create(&l->thread, NULL, ledger_thread, l);
	if (rc)
		return -rc;
	l->running = true;
	return 0;
}

void tl_ledger_stop(tl_ledger_t *l)
{
	if (!l->running)
		return;
	/* Pairs with the acquire at the top of the loop. */
	atomic_store_explicit(&l->stop_requested, true, memory_order_release);
	tl_wait_wake(&l->waiter);
	pthread_join(l->thread, NULL);
	l->running = false;
}

/* ---- producer side ----------------------------------------------------------------- */

bool tl_ledger_submit(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd)
{
	return tl_ring_try_push(port->cmds, cmd);
}

bool tl_ledger_submit_quiet(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd)
{
	return tl_ring_try_push_quiet(port->cmds, cmd);
}

void tl_ledger_port_notify(tl_ledger_port_t *port)
{
	tl_ring_notify(port->cmds);
}

bool tl_ledger_poll_ack(tl_ledger_port_t *port, tl_ledger_ack_t *ack)
{
	return tl_ring_try_pop(port->acks, ack);
}

int tl_ledger_port_call(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd, tl_ledger_ack_t *ack)
{
	while (!tl_ledger_submit(port, cmd))
		sched_yield();
	while (!tl_ledger_poll_ack(port, ack))
		sched_yield();
	return 0;
}
