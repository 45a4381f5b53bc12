/*
 * store.c: the ledger's LMDB schema.
 *
 * Named databases (all keys fixed-width big-endian, so LMDB's byte order is numeric):
 *   meta      "schema_version" -> u32, "last_seq" -> u64, "chain_head" -> 32 bytes
 *   entries   be64 seq -> encoded entry + its SHA-256 (appended with MDB_APPEND)
 *   idem      key bytes -> first seq, command type, entry count
 *   balances  be32 account id, be32 asset id -> available, locked, last seq
 *   assets    be32 id -> decimals, name
 *   accounts  be32 id -> name
 *   orders    be64 order -> account id, asset id, remaining reservation; order 0, all
 *             zero, is a sentinel that keeps the table from emptying (open_schema)
 * Values are little-endian fixed-width fields.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* ---- byte order -------------------------------------------------------------------- */

void tl_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t tl_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void tl_be32_put(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint32_t tl_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tl_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t tl_le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void tl_le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint32_t tl_le32_get(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ---- entries ----------------------------------------------------------------------- */

#define ENTRY_FORMAT 1u

size_t tl_entry_encode(const tl_entry_t *e, uint8_t *buf)
{
	assert(e->key_len <= TL_LEDGER_KEY_MAX && e->text_len <= TL_LEDGER_REASON_MAX);
	buf[0] = ENTRY_FORMAT;
	buf[1] = e->leg;
	buf[2] = (uint8_t)e->cmd_type;
	buf[3] = (uint8_t)(e->cmd_type >> 8);
	buf[4] = e->index;
	buf[5] = e->count;
	buf[6] = e->key_len;
	buf[7] = e->text_len;
	tl_le64_put(buf + 8, e->seq);
	tl_le32_put(buf + 16, e->account_id);
	tl_le32_put(buf + 20, e->asset_id);
	tl_le64_put(buf + 24, (uint64_t)e->d_available);
	tl_le64_put(buf + 32, (uint64_t)e->d_locked);
	tl_le64_put(buf + 40, e->ref);
	tl_le64_put(buf + 48, e->aux);
	tl_le64_put(buf + 56, (uint64_t)e->ts_ms);
	tl_le64_put(buf + 64, 0); /* reserved for a later format */
	memcpy(buf + TL_ENTRY_FIXED, e->key, e->key_len);
	memcpy(buf + TL_ENTRY_FIXED + e->key_len, e->text, e->text_len);
	return TL_ENTRY_FIXED + e->key_len + e->text_len;
}

int tl_entry_decode(const void *val, size_t len, tl_entry_t *e)
{
	const uint8_t *b = val;
	if (len < TL_ENTRY_FIXED + TL_LEDGER_HASH_SIZE || b[0] != ENTRY_FORMAT)
		return TL_E_CORRUPT;
	memset(e, 0, sizeof(*e));
	e->leg = b[1];
	e->cmd_type = (uint16_t)(b[2] | b[3] << 8);
	e->index = b[4];
	e->count = b[5];
	e->key_len = b[6];
	e->text_len = b[7];
	if (e->key_len > TL_LEDGER_KEY_MAX || e->text_len > TL_LEDGER_REASON_MAX ||
	    len != (size_t)TL_ENTRY_FIXED + e->key_len + e->text_len + TL_LEDGER_HASH_SIZE)
		return TL_E_CORRUPT;
	e->seq = tl_le64_get(b + 8);
	e->account_id = tl_le32_get(b + 16);
	e->asset_id = tl_le32_get(b + 20);
	e->d_available = (int64_t)tl_le64_get(b + 24);
	e->d_locked = (int64_t)tl_le64_get(b + 32);
	e->ref = tl_le64_get(b + 40);
	e->aux = tl_le64_get(b + 48);
	e->ts_ms = (int64_t)tl_le64_get(b + 56);
	memcpy(e->key, b + TL_ENTRY_FIXED, e->key_len);
	memcpy(e->text, b + TL_ENTRY_FIXED + e->key_len, e->text_len);
	memcpy(e->hash, b + len - TL_LEDGER_HASH_SIZE, TL_LEDGER_HASH_SIZE);
	return 0;
}

int tl_entry_hash(const uint8_t prev[TL_LEDGER_HASH_SIZE], const uint8_t *encoded, size_t len,
                  uint8_t hash_out[TL_LEDGER_HASH_SIZE])
{
	wc_Sha256 sha;
	if (wc_InitSha256(&sha) != 0)
		return -EIO;
	int rc = wc_Sha256Update(&sha, prev, TL_LEDGER_HASH_SIZE);
	if (rc == 0)
		rc = wc_Sha256Update(&sha, encoded, (word32)len);
	if (rc == 0)
		rc = wc_Sha256Final(&sha, hash_out);
	wc_Sha256Free(&sha);
	return rc == 0 ? 0 : -EIO;
}

/* ---- value codecs ------------------------------------------------------------------ */

void tl_balance_val_put(uint8_t *v, int64_t available, int64_t locked, uint64_t last_seq)
{
	tl_le64_put(v, (uint64_t)available);
	tl_le64_put(v + 8, (uint64_t)locked);
	tl_le64_put(v + 16, last_seq);
}

int tl_balance_val_get(const MDB_val *v, int64_t *available, int64_t *locked, uint64_t *last_seq)
{
	if (v->mv_size != TL_BALANCE_VAL)
		return TL_E_CORRUPT;
	const uint8_t *b = v->mv_data;
	*available = (int64_t)tl_le64_get(b);
	*locked = (int64_t)tl_le64_get(b + 8);
	*last_seq = tl_le64_get(b + 16);
	return 0;
}

void tl_order_val_put(uint8_t *v, const tl_order_res_t *r)
{
	tl_le32_put(v, r->account_id);
	tl_le32_put(v + 4, r->asset_id);
	tl_le64_put(v + 8, (uint64_t)r->remaining);
}

int tl_order_val_get(const MDB_val *v, tl_order_res_t *r)
{
	if (v->mv_size != TL_ORDER_VAL)
		return TL_E_CORRUPT;
	const uint8_t *b = v->mv_data;
	r->account_id = tl_le32_get(b);
	r->asset_id = tl_le32_get(b + 4);
	r->remaining = (int64_t)tl_le64_get(b + 8);
	return 0;
}

void tl_idem_val_put(uint8_t *v, const tl_idem_val_t *iv)
{
	tl_le64_put(v, iv->seq);
	v[8] = (uint8_t)iv->cmd_type;
	v[9] = (uint8_t)(iv->cmd_type >> 8);
	v[10] = iv->count;
}

int tl_idem_val_get(const MDB_val *v, tl_idem_val_t *iv)
{
	if (v->mv_size != TL_IDEM_VAL)
		return TL_E_CORRUPT;
	const uint8_t *b = v->mv_data;
	iv->seq = tl_le64_get(b);
	iv->cmd_type = (uint16_t)(b[8] | b[9] << 8);
	iv->count = b[10];
	return 0;
}

int tl_asset_val_get(const MDB_val *v, uint8_t *decimals, char name[TL_LEDGER_ASSET_NAME_MAX + 1])
{
	if (v->mv_size < 2 || v->mv_size > 1 + TL_LEDGER_ASSET_NAME_MAX)
		return TL_E_CORRUPT;
	const uint8_t *b = v->mv_data;
	*decimals = b[0];
	memcpy(name, b + 1, v->mv_size - 1);
	name[v->mv_size - 1] = '\0';
	return *decimals <= TL_LEDGER_DECIMALS_MAX ? 0 : TL_E_CORRUPT;
}

int tl_account_val_get(const MDB_val *v, char name[TL_LEDGER_ACCOUNT_NAME_MAX + 1])
{
	if (v->mv_size < 1 || v->mv_size > TL_LEDGER_ACCOUNT_NAME_MAX)
		return TL_E_CORRUPT;
	memcpy(name, v->mv_data, v->mv_size);
	name[v->mv_size] = '\0';
	return 0;
}

/* ---- environment ------------------------------------------------------------------- */

int tl_store_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc > 0)
		return -rc; /* LMDB passes errno values through; its own codes are negative */
	switch (rc) {
	case MDB_MAP_FULL:
		return TL_E_MAP_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return TL_E_CORRUPT;
	default:
		return TL_E_LMDB;
	}
}

static int open_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *dbi)
{
	int rc = mdb_dbi_open(txn, name, flags, dbi);
	if (rc == MDB_NOTFOUND)
		return TL_E_CORRUPT; /* meta exists, so every database must */
	return tl_store_err(rc);
}

static int meta_get(MDB_txn *txn, MDB_dbi meta, const char *key, void *out, size_t size)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return tl_store_err(rc);
	if (v.mv_size != size)
		return TL_E_CORRUPT;
	memcpy(out, v.mv_data, size);
	return 0;
}

static int meta_init(MDB_txn *txn, MDB_dbi meta)
{
	uint8_t version[4], seq[8] = {0}, chain[TL_LEDGER_HASH_SIZE] = {0};
	tl_le32_put(version, TL_LEDGER_SCHEMA_VERSION);
	MDB_val k = {strlen(TL_META_SCHEMA), TL_META_SCHEMA}, v = {sizeof(version), version};
	int rc = mdb_put(txn, meta, &k, &v, 0);
	k = (MDB_val){strlen(TL_META_LAST_SEQ), TL_META_LAST_SEQ};
	v = (MDB_val){sizeof(seq), seq};
	if (!rc)
		rc = mdb_put(txn, meta, &k, &v, 0);
	k = (MDB_val){strlen(TL_META_CHAIN), TL_META_CHAIN};
	v = (MDB_val){sizeof(chain), chain};
	if (!rc)
		rc = mdb_put(txn, meta, &k, &v, 0);
	return tl_store_err(rc);
}

/* Opens every named database inside `txn`, creating a fresh ledger if the environment is
 * empty and `create` is set. */
static int open_schema(tl_store_t *st, MDB_txn *txn, bool create, const char *dir)
{
	int rc = mdb_dbi_open(txn, "meta", 0, &st->meta);
	if (rc == MDB_NOTFOUND) {
		MDB_dbi main_dbi;
		MDB_stat ms;
		rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
		if (!rc)
			rc = mdb_stat(txn, main_dbi, &ms);
		if (rc)
			return tl_store_err(rc);
		if (ms.ms_entries != 0) {
			tl_ledger_log(3, "%s: holds an LMDB database that is not a tally ledger",
			              dir);
			return TL_E_NOT_LEDGER;
		}
		if (!create) {
			tl_ledger_log(3, "%s: empty database, no ledger yet", dir);
			return -ENOENT;
		}
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
		if (rc)
			return tl_store_err(rc);
		if ((rc = meta_init(txn, st->meta)) != 0)
			return rc;
	} else if (rc) {
		return tl_store_err(rc);
	}

	uint8_t version_le[4];
	rc = meta_get(txn, st->meta, TL_META_SCHEMA, version_le, sizeof(version_le));
	if (rc == -ENOENT || rc == TL_E_CORRUPT) {
		tl_ledger_log(3, "%s: meta has no readable schema version", dir);
		return TL_E_SCHEMA;
	}
	if (rc)
		return rc;
	uint32_t version = tl_le32_get(version_le);
	if (version != TL_LEDGER_SCHEMA_VERSION) {
		tl_ledger_log(3, "%s: schema version %u, but this tally reads only version %u%s",
		              dir, version, TL_LEDGER_SCHEMA_VERSION,
		              version > TL_LEDGER_SCHEMA_VERSION ? " (written by a newer tally)"
		                                                 : "");
		return TL_E_SCHEMA;
	}
	unsigned f = create ? MDB_CREATE : 0;
	if ((rc = open_dbi(txn, "entries", f, &st->entries)) ||
	    (rc = open_dbi(txn, "idem", f, &st->idem)) ||
	    (rc = open_dbi(txn, "balances", f, &st->balances)) ||
	    (rc = open_dbi(txn, "assets", f, &st->assets)) ||
	    (rc = open_dbi(txn, "accounts", f, &st->accounts)) ||
	    (rc = open_dbi(txn, "orders", f, &st->orders))) {
		tl_ledger_log(3, "%s: a ledger database is missing or unreadable: %s", dir,
		              tl_strerror(rc));
		return rc;
	}
	if (create) {
		/* The sentinel: order 0 (never a real order) keeps `orders` from going empty.
		 * An order's reservation is often put and deleted within one batch, so the table
		 * emptied and refilled over and over; LMDB frees the root of an emptied tree and
		 * takes a fresh page at the next put, and a commit wrote about one page per
		 * order: 4.7 of the 6.2 MB a commit of 4000 commands wrote (strace). */
		uint8_t key[8] = {0}, val[TL_ORDER_VAL] = {0};
		MDB_val k = {sizeof(key), key}, v = {sizeof(val), val};
		rc = mdb_put(txn, st->orders, &k, &v, MDB_NOOVERWRITE);
		if (rc && rc != MDB_KEYEXIST)
			return tl_store_err(rc);
	}
	return 0;
}

int tl_store_open(tl_store_t *st, const char *dir, bool readonly, tl_ledger_durability_t dur,
                  uint64_t map_initial, uint64_t map_max)
{
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	st->readonly = readonly;
	st->map_max_bytes = map_max;
	int rc;

	if (!readonly) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			tl_ledger_log(3, "%s: cannot create: %s", dir, strerror(-rc));
			return rc;
		}
		/* LMDB lets two processes write one environment in turn, but each would keep its
		 * own in-memory balances: a second ledger process must be refused outright. */
		char lock_path[4096];
		snprintf(lock_path, sizeof(lock_path), "%s/tally-ledger.lock", dir);
		st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (st->lock_fd < 0) {
			rc = -errno;
			tl_ledger_log(3, "%s: cannot open lock file: %s", dir, strerror(-rc));
			return rc;
		}
		if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			tl_ledger_log(
			    3, "%s: the ledger is already open (another process or handle)", dir);
			goto err;
		}
	}

	if ((rc = tl_store_err(mdb_env_create(&st->env))) != 0)
		goto err;
	mdb_env_set_maxdbs(st->env, 8);
	mdb_env_set_mapsize(st->env, map_initial);
	/* NOTLS: read transactions are not tied to a thread (tools and readers use them). */
	unsigned flags = MDB_NOTLS;
	if (readonly)
		flags |= MDB_RDONLY;
	else if (dur == TL_LEDGER_NOMETASYNC)
		flags |= MDB_NOMETASYNC;
	else if (dur == TL_LEDGER_PERIODIC)
		flags |= MDB_NOSYNC;
	rc = mdb_env_open(st->env, dir, flags, 0600);
	if (rc) {
		int err = tl_store_err(rc);
		if (readonly && rc == ENOENT)
			tl_ledger_log(3, "%s: no ledger here", dir);
		else
			tl_ledger_log(3, "%s: cannot open the database: %s", dir, mdb_strerror(rc));
		rc = err;
		goto err;
	}
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	st->map_bytes = info.me_mapsize; /* an existing file may already be larger */

	MDB_txn *txn;
	if ((rc = tl_store_err(mdb_txn_begin(st->env, NULL, readonly ? MDB_RDONLY : 0, &txn))))
		goto err;
	rc = open_schema(st, txn, !readonly, dir);
	if (rc) {
		mdb_txn_abort(txn); /* nothing was written */
		goto err;
	}
	if ((rc = tl_store_err(mdb_txn_commit(txn))) != 0) {
		tl_ledger_log(3, "%s: cannot initialise the ledger: %s", dir, tl_strerror(rc));
		goto err;
	}
	return 0;
err:
	tl_store_close(st);
	return rc;
}

void tl_store_close(tl_store_t *st)
{
	if (st->env)
		mdb_env_close(st->env);
	st->env = NULL;
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	st->lock_fd = -1;
}

int tl_store_grow(tl_store_t *st)
{
	if (st->map_bytes >= st->map_max_bytes)
		return TL_E_MAP_CAP;
	uint64_t next = st->map_bytes * 2;
	if (next > st->map_max_bytes)
		next = st->map_max_bytes;
	int rc = mdb_env_set_mapsize(st->env, next);
	if (rc)
		return tl_store_err(rc);
	st->map_bytes = next;
	return 0;
}

/*
 * Why zeros ahead of LMDB: LMDB appends pages at the end of its data file, so in strict
 * mode a commit that grows the file makes fdatasync commit the filesystem's journal too
 * (the new size and blocks), not only the data. Pages written over blocks that exist
 * already need no metadata. `tally bench ledger` measured the ack p99 at half load with
 * and without (README, the ledger). Zeros past LMDB's last page are never read by it.
 */
int tl_store_prealloc(tl_store_t *st, uint64_t headroom, uint64_t *added)
{
	static unsigned char zeros[1u << 20]; /* only read */
	MDB_envinfo info;
	MDB_stat ms;
	struct stat sb;
	int fd = -1, rc = 0;
	uint64_t bytes;
	off_t at;

	*added = 0;
	if ((rc = tl_store_err(mdb_env_get_fd(st->env, &fd))) != 0 ||
	    (rc = tl_store_err(mdb_env_info(st->env, &info))) != 0 ||
	    (rc = tl_store_err(mdb_env_stat(st->env, &ms))) != 0)
		return rc;
	if (fstat(fd, &sb) != 0)
		return -errno;
	bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize + headroom;
	for (at = sb.st_size; (uint64_t)at < bytes;) {
		size_t n = bytes - (uint64_t)at < sizeof(zeros) ? (size_t)(bytes - (uint64_t)at)
		                                                : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		at += w;
	}
	if (at > sb.st_size) {
		*added = (uint64_t)(at - sb.st_size);
		if (fdatasync(fd) != 0 && rc == 0)
			rc = -errno;
	}
	return rc;
}

/* ---- the registry ------------------------------------------------------------------ */

void tl_registry_free(tl_registry_t *r)
{
	free(r->assets);
	free(r->accounts);
	memset(r, 0, sizeof(*r));
}

/* Reads one registry database whose ids must run 1, 2, 3... as they were assigned. `read`
 * decodes record i into the caller's array. Returns the count, or a negative error. */
static int64_t registry_walk(MDB_txn *txn, MDB_dbi dbi,
                             int (*read)(const MDB_val *, void *, uint32_t), void *arr)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return tl_store_err(rc);
	uint32_t n = 0;
	for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT, n++)
		if (k.mv_size != 4 || tl_be32_get(k.mv_data) != n + 1 || read(&v, arr, n) != 0) {
			mdb_cursor_close(cur);
			return TL_E_CORRUPT;
		}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? (int64_t)n : tl_store_err(rc);
}

static int read_asset(const MDB_val *v, void *arr, uint32_t i)
{
	tl_asset_rec_t *a = (tl_asset_rec_t *)arr + i;
	return tl_asset_val_get(v, &a->decimals, a->name);
}

static int read_account(const MDB_val *v, void *arr, uint32_t i)
{
	return tl_account_val_get(v, ((tl_account_rec_t *)arr)[i].name);
}

int tl_registry_load(MDB_txn *txn, const tl_store_t *st, tl_registry_t *r)
{
	memset(r, 0, sizeof(*r));
	MDB_stat assets, accounts;
	int rc = mdb_stat(txn, st->assets, &assets);
	if (!rc)
		rc = mdb_stat(txn, st->accounts, &accounts);
	if (rc)
		return tl_store_err(rc);
	r->assets = calloc(assets.ms_entries + 1, sizeof(*r->assets));
	r->accounts = calloc(accounts.ms_entries + 1, sizeof(*r->accounts));
	int64_t n = -ENOMEM;
	if (r->assets && r->accounts)
		n = registry_walk(txn, st->assets, read_asset, r->assets);
	if (n >= 0) {
		r->asset_count = (uint32_t)n;
		n = registry_walk(txn, st->accounts, read_account, r->accounts);
	}
	if (n < 0) {
		tl_registry_free(r);
		return (int)n;
	}
	r->account_count = (uint32_t)n;
	return 0;
}

/* ---- loading the working state ----------------------------------------------------- */

int tl_state_load(tl_state_t *s, tl_store_t *st)
{
	tl_state_clear(s);
	MDB_txn *txn;
	int rc = tl_store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	MDB_cursor *cur = NULL;
	MDB_val k, v;

	/* registry: read once, then indexed by name */
	tl_registry_t reg;
	if ((rc = tl_registry_load(txn, st, &reg)))
		goto out;
	if (reg.asset_count > s->max_assets || reg.account_count > s->max_accounts) {
		tl_ledger_log(3,
		              "the ledger holds %u assets and %u accounts; max_assets is %u and "
		              "max_accounts %u",
		              reg.asset_count, reg.account_count, s->max_assets, s->max_accounts);
		tl_registry_free(&reg);
		rc = -ENOSPC;
		goto out;
	}
	for (uint32_t i = 0; i < reg.asset_count; i++)
		tl_state_asset_add(s, reg.assets[i].name, reg.assets[i].decimals);
	for (uint32_t i = 0; i < reg.account_count; i++)
		tl_state_account_add(s, reg.accounts[i].name);
	tl_registry_free(&reg);

	/* balances */
	if ((rc = tl_store_err(mdb_cursor_open(txn, st->balances, &cur))))
		goto out;
	for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
		if (k.mv_size != 8) {
			rc = TL_E_CORRUPT;
			goto out;
		}
		uint32_t account = tl_be32_get(k.mv_data),
		         asset = tl_be32_get((uint8_t *)k.mv_data + 4);
		if (account == 0 || account > s->account_count || asset == 0 ||
		    asset > s->asset_count) {
			rc = TL_E_CORRUPT;
			goto out;
		}
		tl_pair_t *p = tl_state_pair(s, account, asset, true);
		if (!p) {
			tl_ledger_log(3, "more balances stored than max_pairs allows (%u)",
			              s->max_pairs);
			rc = -ENOSPC;
			goto out;
		}
		if ((rc = tl_balance_val_get(&v, &p->available, &p->locked, &p->last_seq)))
			goto out;
	}
	if (rc != MDB_NOTFOUND)
		goto out_mdb;
	mdb_cursor_close(cur);

	/* open reservations */
	if ((rc = tl_store_err(mdb_cursor_open(txn, st->orders, &cur))))
		goto out;
	for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
		tl_order_res_t r;
		if (k.mv_size != 8 || tl_order_val_get(&v, &r) != 0) {
			rc = TL_E_CORRUPT;
			goto out;
		}
		r.order = tl_be64_get(k.mv_data);
		if (r.order == 0 && r.remaining == 0 && r.account_id == 0 && r.asset_id == 0)
			continue; /* the sentinel (open_schema) */
		tl_pair_t *p = r.order ? tl_state_pair(s, r.account_id, r.asset_id, false) : NULL;
		if (!p || r.remaining <= 0) {
			rc = TL_E_CORRUPT; /* a reservation is always of a stored balance */
			goto out;
		}
		p->reserved += r.remaining;
		if (!tl_state_order_put(s, &r)) {
			tl_ledger_log(3, "more open orders stored than max_orders allows (%u)",
			              s->max_orders);
			rc = -ENOSPC;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND)
		goto out_mdb;
	mdb_cursor_close(cur);
	cur = NULL;

	uint8_t seq_le[8];
	if ((rc = meta_get(txn, st->meta, TL_META_LAST_SEQ, seq_le, sizeof(seq_le))) ||
	    (rc = meta_get(txn, st->meta, TL_META_CHAIN, s->chain, sizeof(s->chain)))) {
		if (rc == -ENOENT)
			rc = TL_E_CORRUPT;
		goto out;
	}
	s->last_seq = tl_le64_get(seq_le);
	rc = 0;
	goto out;
out_mdb:
	rc = tl_store_err(rc);
out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}
