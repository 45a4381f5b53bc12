/*
 * batch.c: a batch in flight, between the ledger thread and its committer.
 *
 * DESIGN
 * The ledger thread applies commands in memory: it plans them, updates the working state,
 * encodes and hashes their entries. What the database must get is appended to the batch's
 * write log as it goes, and the committer thread replays that log into one LMDB write
 * transaction and commits it. So the next batch is applied while the previous one is
 * being written and synced, and the commit thread alone ever writes to LMDB.
 *
 * The log is a flat byte buffer of records (a fixed header, the key, the value), sized at
 * start-up for batch_max commands of the largest shape, so appending never allocates and
 * never fails.
 *
 * The batch also remembers the idempotency keys it applies, so that the ledger thread can
 * tell a repeat of a key that is not committed yet (the database cannot say): an open
 * addressing table of pointers to the keys in the commands' ring slots, which stay valid
 * until the batch is committed and its commands released.
 */
#include "ledger_internal.h"
#include "tl_event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One logged write: op, database, key length, value length, then the bytes. */
enum { LOG_PUT = 1, LOG_DEL = 2 };
#define LOG_HEADER 6

/* The most one command can log: its entries, idempotency key, registry record,
 * reservation, and the balances of the pairs it touches (written at seal). */
#define LOG_PER_COMMAND                                                                            \
	(TL_PLAN_LEGS * (LOG_HEADER + 8 + TL_ENTRY_MAX) +                                          \
	 (LOG_HEADER + TL_LEDGER_KEY_MAX + TL_IDEM_VAL) +                                          \
	 (LOG_HEADER + 4 + 1 + TL_LEDGER_ACCOUNT_NAME_MAX) + (LOG_HEADER + 8 + TL_ORDER_VAL) +     \
	 TL_PLAN_PAIRS * (LOG_HEADER + 8 + TL_BALANCE_VAL))
/* meta: last sequence number and chain head */
#define LOG_META (2 * (LOG_HEADER + 16 + TL_LEDGER_HASH_SIZE))

int tl_batch_init(tl_batch_t *b, uint32_t batch_max, uint32_t max_pairs)
{
	memset(b, 0, sizeof(*b));
	uint32_t keys_size = 16;
	while (keys_size < 2 * batch_max)
		keys_size <<= 1;
	uint64_t pubs = (uint64_t)batch_max * TL_PLAN_PAIRS;
	b->pub_cap = pubs < max_pairs ? (uint32_t)pubs : max_pairs;
	b->log_cap = (size_t)batch_max * LOG_PER_COMMAND + LOG_META;
	b->log = malloc(b->log_cap);
	b->pubs = calloc(b->pub_cap, sizeof(*b->pubs));
	b->keys = calloc(keys_size, sizeof(*b->keys));
	b->key_used = calloc(batch_max, sizeof(*b->key_used));
	b->keys_mask = keys_size - 1;
	if (!b->log || !b->pubs || !b->keys || !b->key_used) {
		tl_batch_free(b);
		return -ENOMEM;
	}
	return 0;
}

void tl_batch_free(tl_batch_t *b)
{
	free(b->log);
	free(b->pubs);
	free(b->keys);
	free(b->key_used);
	memset(b, 0, sizeof(*b));
}

void tl_batch_reset(tl_batch_t *b)
{
	/* Only the slots this batch filled: the table is large, the batch often small. */
	for (uint32_t i = 0; i < b->key_count; i++)
		b->keys[b->key_used[i]] = NULL;
	b->key_count = 0;
	b->log_len = 0;
	b->pub_count = 0;
	b->total = 0;
	memset(b->taken, 0, sizeof(b->taken));
}

static void log_append(tl_batch_t *b, uint8_t op, tl_db_t db, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
	assert(klen <= UINT8_MAX && vlen <= UINT16_MAX);
	assert(b->log_len + LOG_HEADER + klen + vlen <= b->log_cap); /* sized at init */
	uint8_t *p = b->log + b->log_len;
	p[0] = op;
	p[1] = (uint8_t)db;
	p[2] = (uint8_t)klen;
	p[3] = 0;
	p[4] = (uint8_t)(vlen & 0xff);
	p[5] = (uint8_t)(vlen >> 8);
	memcpy(p + LOG_HEADER, key, klen);
	if (vlen)
		memcpy(p + LOG_HEADER + klen, val, vlen);
	b->log_len += LOG_HEADER + klen + vlen;
}

void tl_batch_put(tl_batch_t *b, tl_db_t db, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
	log_append(b, LOG_PUT, db, key, klen, val, vlen);
}

void tl_batch_del(tl_batch_t *b, tl_db_t db, const void *key, size_t klen)
{
	log_append(b, LOG_DEL, db, key, klen, NULL, 0);
}

void tl_batch_add_pub(tl_batch_t *b, uint32_t pair, int64_t available, int64_t locked,
                      uint64_t last_seq)
{
	assert(b->pub_count < b->pub_cap);
	b->pubs[b->pub_count++] = (tl_batch_pub_t){pair, available, locked, last_seq};
}

bool tl_batch_has_key(const tl_batch_t *b, const char *key)
{
	for (uint32_t i = (uint32_t)tl_hash_name(key) & b->keys_mask; b->keys[i];
	     i = (i + 1) & b->keys_mask)
		if (strcmp(b->keys[i], key) == 0)
			return true;
	return false;
}

void tl_batch_add_key(tl_batch_t *b, const char *key)
{
	uint32_t i = (uint32_t)tl_hash_name(key) & b->keys_mask;
	while (b->keys[i])
		i = (i + 1) & b->keys_mask;
	b->keys[i] = key;
	b->key_used[b->key_count++] = i;
}

static MDB_dbi log_dbi(const tl_store_t *st, tl_db_t db, unsigned *flags)
{
	switch (db) {
	case TL_DB_ENTRIES:
		*flags = MDB_APPEND;
		return st->entries;
	case TL_DB_IDEM:
		*flags = MDB_NOOVERWRITE;
		return st->idem;
	case TL_DB_BALANCES:
		*flags = 0;
		return st->balances;
	case TL_DB_ASSETS:
		*flags = MDB_APPEND;
		return st->assets;
	case TL_DB_ACCOUNTS:
		*flags = MDB_APPEND;
		return st->accounts;
	case TL_DB_ORDERS:
		*flags = 0;
		return st->orders;
	case TL_DB_META:
		break;
	}
	*flags = 0;
	return st->meta;
}

int tl_batch_commit(const tl_batch_t *b, tl_store_t *st, tl_hist_t *commit_hist)
{
	MDB_txn *txn;
	int rc = tl_store_err(mdb_txn_begin(st->env, NULL, 0, &txn));
	if (rc)
		return rc;
	for (size_t off = 0; off < b->log_len && !rc;) {
		const uint8_t *p = b->log + off;
		size_t klen = p[2], vlen = (size_t)p[4] | (size_t)p[5] << 8;
		unsigned flags;
		MDB_dbi dbi = log_dbi(st, (tl_db_t)p[1], &flags);
		MDB_val k = {klen, (void *)(p + LOG_HEADER)};
		if (p[0] == LOG_PUT) {
			MDB_val v = {vlen, (void *)(p + LOG_HEADER + klen)};
			rc = tl_store_err(mdb_put(txn, dbi, &k, &v, flags));
		} else {
			rc = tl_store_err(mdb_del(txn, dbi, &k, NULL));
		}
		off += LOG_HEADER + klen + vlen;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	int64_t start_ns = tl_mono_ns();
	rc = tl_store_err(mdb_txn_commit(txn));
	if (!rc)
		tl_hist_record(commit_hist, (uint64_t)(tl_mono_ns() - start_ns));
	return rc;
}
