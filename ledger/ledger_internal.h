/*
 * ledger_internal.h: what the ledger's .c files share. Not part of the contract.
 *
 * Files:
 *   decimal.c  decimal strings <-> units
 *   state.c    the ledger thread's in-memory state (registry, balances, reservations) and
 *              the snapshot table other threads read
 *   store.c    the LMDB schema: open, encode/decode, load, write
 *   apply.c    what each command does
 *   batch.c    a batch in flight: its write log, its keys, the committer's replay
 *   agent.c    the ledger thread: drain, apply, hand to the committer, sync, publish, ack
 *   audit.c    verify and the journal walk behind dump
 *   cli.c      `tally ledger ...`
 */
#ifndef TL_LEDGER_INTERNAL_H
#define TL_LEDGER_INTERNAL_H

#include "tl_ledger.h"

#include <assert.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#define TL_LEDGER_SCHEMA_VERSION 1u
#define TL_LEDGER_HASH_SIZE 32

/* ---- the journal entry ------------------------------------------------------------ */

/* What one entry does. Stable numbers: they are stored. */
enum tl_leg {
	TL_LEG_ASSET = 1,   /* ASSET_DEFINE: asset_id, aux = decimals, text = name */
	TL_LEG_ACCOUNT = 2, /* ACCOUNT_OPEN: account_id, text = name */
	TL_LEG_CREDIT = 3,  /* available += (DEPOSIT, REWARD, TRANSFER in, trade proceeds) */
	TL_LEG_DEBIT = 4,   /* available -= (WITHDRAW, FEE, TRANSFER out, trade fee) */
	TL_LEG_LOCK = 5,    /* available -> locked */
	TL_LEG_UNLOCK = 6,  /* locked -> available (UNLOCK, release of a final order) */
	TL_LEG_SPEND = 7,   /* trade cost: locked -= from the reservation, available -= rest */
	TL_LEG_ADJUST = 8,  /* available += signed amount, text = reason */
};

typedef struct tl_entry {
	uint64_t seq;
	uint16_t cmd_type;
	uint8_t leg;
	uint8_t index; /* position within its command, from 0 */
	uint8_t count; /* entries its command wrote */
	uint32_t account_id;
	uint32_t asset_id;
	int64_t d_available;
	int64_t d_locked;
	uint64_t ref; /* the order, or 0 */
	uint64_t aux;
	int64_t ts_ms;
	uint8_t key_len;
	uint8_t text_len;
	char key[TL_LEDGER_KEY_MAX + 1];
	char text[TL_LEDGER_REASON_MAX + 1];
	uint8_t hash[TL_LEDGER_HASH_SIZE];
} tl_entry_t;

/* Fixed part of an encoded entry, then key bytes, text bytes, then the 32-byte hash. */
#define TL_ENTRY_FIXED 72
#define TL_ENTRY_MAX                                                                               \
	(TL_ENTRY_FIXED + TL_LEDGER_KEY_MAX + TL_LEDGER_REASON_MAX + TL_LEDGER_HASH_SIZE)

/* Encodes `e` without its hash; returns the length. */
size_t tl_entry_encode(const tl_entry_t *e, uint8_t *buf);
/* Decodes a stored value (encoding + hash). Returns 0 or TL_E_CORRUPT. */
int tl_entry_decode(const void *val, size_t len, tl_entry_t *e);
/* hash_out = SHA-256(prev || encoded). Returns 0 or TL_E_LMDB-free crypto error. */
int tl_entry_hash(const uint8_t prev[TL_LEDGER_HASH_SIZE], const uint8_t *encoded, size_t len,
                  uint8_t hash_out[TL_LEDGER_HASH_SIZE]);

/* ---- LMDB -------------------------------------------------------------------------- */

typedef struct tl_store {
	MDB_env *env;
	MDB_dbi meta, entries, idem, balances, assets, accounts, orders;
	uint64_t map_bytes;
	uint64_t map_max_bytes;
	bool readonly;
	int lock_fd; /* flock()ed lock file of a writer; -1 for readers */
} tl_store_t;

/* What `idem` maps a key to. */
typedef struct tl_idem_val {
	uint64_t seq;
	uint16_t cmd_type;
	uint8_t count;
} tl_idem_val_t;

/* An open reservation, stored in `orders`. */
typedef struct tl_order_res {
	uint64_t order;
	uint32_t account_id;
	uint32_t asset_id;
	int64_t remaining;
} tl_order_res_t;

/* Maps an LMDB return code to a tally error (a negative errno or TL_E_*). */
int tl_store_err(int mdb_rc);

/*
 * Opens the environment and its named databases, checking the schema. A writer creates
 * what is missing and takes the lock file; a reader (readonly) writes nothing. Logs a
 * one-line reason on failure.
 */
int tl_store_open(tl_store_t *st, const char *dir, bool readonly, tl_ledger_durability_t dur,
                  uint64_t map_initial, uint64_t map_max);
void tl_store_close(tl_store_t *st);
/* Doubles the map, up to the cap. No transaction may be open. 0, or TL_E_MAP_CAP. */
int tl_store_grow(tl_store_t *st);
/* Writes zeros from the data file's end until it holds `headroom` bytes past LMDB's last
 * page, then syncs; *added gets how many were written. Only between transactions (no
 * write may be under way). Returns 0 or a negative errno (the file may then have grown
 * part of the way: harmless). */
int tl_store_prealloc(tl_store_t *st, uint64_t headroom, uint64_t *added);

/* Fixed-width big-endian keys, so LMDB's byte order is numeric order. */
void tl_be64_put(uint8_t *p, uint64_t v);
uint64_t tl_be64_get(const uint8_t *p);
void tl_be32_put(uint8_t *p, uint32_t v);
uint32_t tl_be32_get(const uint8_t *p);
/* Little-endian fixed-width fields inside values. */
void tl_le64_put(uint8_t *p, uint64_t v);
uint64_t tl_le64_get(const uint8_t *p);
void tl_le32_put(uint8_t *p, uint32_t v);
uint32_t tl_le32_get(const uint8_t *p);

/* Value codecs. Decoders return 0 or TL_E_CORRUPT. */
#define TL_BALANCE_VAL 24
#define TL_ORDER_VAL 16
#define TL_IDEM_VAL 11
void tl_balance_val_put(uint8_t *v, int64_t available, int64_t locked, uint64_t last_seq);
int tl_balance_val_get(const MDB_val *v, int64_t *available, int64_t *locked, uint64_t *last_seq);
void tl_order_val_put(uint8_t *v, const tl_order_res_t *r);
int tl_order_val_get(const MDB_val *v, tl_order_res_t *r);
void tl_idem_val_put(uint8_t *v, const tl_idem_val_t *iv);
int tl_idem_val_get(const MDB_val *v, tl_idem_val_t *iv);
/* assets: be32 id -> u8 decimals, name. accounts: be32 id -> name. */
int tl_asset_val_get(const MDB_val *v, uint8_t *decimals, char name[TL_LEDGER_ASSET_NAME_MAX + 1]);
int tl_account_val_get(const MDB_val *v, char name[TL_LEDGER_ACCOUNT_NAME_MAX + 1]);

/* meta keys */
#define TL_META_SCHEMA "schema_version"
#define TL_META_LAST_SEQ "last_seq"
#define TL_META_CHAIN "chain_head"

/* ---- in-memory state (ledger thread only, except `pub`) ----------------------------- */

typedef struct tl_asset_rec {
	char name[TL_LEDGER_ASSET_NAME_MAX + 1];
	uint8_t decimals;
} tl_asset_rec_t;

typedef struct tl_account_rec {
	char name[TL_LEDGER_ACCOUNT_NAME_MAX + 1];
} tl_account_rec_t;

/* The registry as stored: assets[i] and accounts[i] have id i + 1. */
typedef struct tl_registry {
	tl_asset_rec_t *assets;
	uint32_t asset_count;
	tl_account_rec_t *accounts;
	uint32_t account_count;
} tl_registry_t;

/* Reads both registries in `txn`, checking that ids run from 1 without a gap. Returns 0, or
 * TL_E_CORRUPT, -ENOMEM or an LMDB error, with nothing left to free. Free with
 * tl_registry_free(). */
int tl_registry_load(MDB_txn *txn, const tl_store_t *st, tl_registry_t *r);
void tl_registry_free(tl_registry_t *r);

/* A working balance. `pub` is its slot in the snapshot table, UINT32_MAX until published. */
typedef struct tl_pair {
	uint64_t key; /* account_id << 32 | asset_id; 0 = empty slot */
	int64_t available;
	int64_t locked;
	int64_t reserved; /* sum of this pair's open order reservations; locked >= reserved */
	uint64_t last_seq;
	uint32_t pub;
	uint32_t dirty_batch; /* the batch number that last put it on the dirty list */
} tl_pair_t;

/*
 * The snapshot table, readable from any thread. Open addressing, insert-only, fixed size:
 * a slot's key never changes once set, so readers probe without locks. Each slot's values
 * are guarded by a version, odd while the ledger writes them (a per-slot seqlock).
 */
typedef struct tl_pub_slot {
	_Atomic uint64_t key;
	_Atomic uint64_t version;
	_Atomic int64_t available;
	_Atomic int64_t locked;
	_Atomic uint64_t last_seq;
	uint64_t pad_[3]; /* one slot per 64-byte line: readers of neighbours do not share it */
} tl_pub_slot_t;

/* A registry entry readable from any thread: written once, then `count` is released. */
typedef struct tl_pub_name {
	char name[TL_LEDGER_ACCOUNT_NAME_MAX + 1];
	uint8_t decimals;
} tl_pub_name_t;

typedef struct tl_state {
	/* limits */
	uint32_t max_assets, max_accounts, max_pairs, max_orders;

	/* registry: ids are index + 1 */
	tl_asset_rec_t *assets;
	uint32_t asset_count;
	uint32_t *asset_map; /* open addressing by name hash: asset id, 0 = empty */
	uint32_t asset_map_mask;
	tl_account_rec_t *accounts;
	uint32_t account_count;
	uint32_t *account_map;
	uint32_t account_map_mask;

	/* balances */
	tl_pair_t *pairs;
	uint32_t pairs_mask;
	uint32_t pair_count;

	/* open reservations by order: open addressing with backward-shift deletion */
	tl_order_res_t *orders; /* order == 0: empty */
	uint32_t orders_mask;
	uint32_t order_count;

	/* the journal's head */
	uint64_t last_seq;
	uint8_t chain[TL_LEDGER_HASH_SIZE];

	/* snapshot side, read by any thread */
	tl_pub_slot_t *pub;
	uint32_t pub_mask;
	tl_pub_name_t *pub_assets;
	tl_pub_name_t *pub_accounts;
	_Atomic uint32_t pub_asset_count;
	_Atomic uint32_t pub_account_count;
	_Atomic uint64_t pub_last_seq;
} tl_state_t;

int tl_state_init(tl_state_t *s, uint32_t max_assets, uint32_t max_accounts, uint32_t max_pairs,
                  uint32_t max_orders);
void tl_state_free(tl_state_t *s);
/* Forgets the working state (not the snapshot table) before a reload. */
void tl_state_clear(tl_state_t *s);
/* Reloads the working state from the store in one read snapshot. Returns 0 or an error. */
int tl_state_load(tl_state_t *s, tl_store_t *st);

/* FNV-1a of a NUL-terminated string: the hash of names and keys in open-addressing tables. */
uint64_t tl_hash_name(const char *name);

/* Name lookups: id, or 0 when unknown. */
uint32_t tl_state_asset_find(const tl_state_t *s, const char *name);
uint32_t tl_state_account_find(const tl_state_t *s, const char *name);
/* Registers the next id. Returns it, or 0 when the registry is full. */
uint32_t tl_state_asset_add(tl_state_t *s, const char *name, uint8_t decimals);
uint32_t tl_state_account_add(tl_state_t *s, const char *name);

/* The working pair, created (zero) if `create`. NULL when absent, or when full. */
tl_pair_t *tl_state_pair(tl_state_t *s, uint32_t account_id, uint32_t asset_id, bool create);

/* Reservations. find: NULL when absent. put: false when full. del: no-op when absent. */
tl_order_res_t *tl_state_order_find(tl_state_t *s, uint64_t order);
bool tl_state_order_put(tl_state_t *s, const tl_order_res_t *r);
void tl_state_order_del(tl_state_t *s, uint64_t order);

/* Publishing (ledger thread, after a commit): a pair's committed values, and the
 * registry's first asset_count assets and account_count accounts. */
void tl_state_publish_pair(tl_state_t *s, tl_pair_t *p, int64_t available, int64_t locked,
                           uint64_t last_seq);
void tl_state_publish_registry(tl_state_t *s, uint32_t asset_count, uint32_t account_count);

/* ---- a batch in flight (batch.c) --------------------------------------------------- */

/* The most entries, and (account, asset) pairs, one command touches. */
#define TL_PLAN_LEGS 4
#define TL_PLAN_PAIRS 4

/* The named database a logged write goes to. */
typedef enum tl_db {
	TL_DB_ENTRIES, /* MDB_APPEND */
	TL_DB_IDEM,    /* MDB_NOOVERWRITE */
	TL_DB_BALANCES,
	TL_DB_ASSETS,   /* MDB_APPEND */
	TL_DB_ACCOUNTS, /* MDB_APPEND */
	TL_DB_ORDERS,
	TL_DB_META,
} tl_db_t;

/* A pair's values as the batch commits them, to publish once it has. */
typedef struct tl_batch_pub {
	uint32_t pair; /* index into the working pairs */
	int64_t available, locked;
	uint64_t last_seq;
} tl_batch_pub_t;

/*
 * A batch: commands the ledger thread has applied in memory, and the writes the committer
 * thread replays into one LMDB transaction. Filled by the ledger thread; between the
 * hand-off and the committer's answer (both through SPSC rings) only the committer reads
 * it, and nobody writes it.
 */
typedef struct tl_batch {
	uint8_t *log; /* the writes, in order */
	size_t log_len, log_cap;
	uint32_t taken[TL_WAIT_RINGS_MAX]; /* commands of each port in this batch */
	uint32_t total;
	/* what readers may see once it is committed */
	tl_batch_pub_t *pubs;
	uint32_t pub_count, pub_cap;
	uint32_t asset_count, account_count;
	uint64_t last_seq;
	/* its idempotency keys: pointers into its commands' ring slots */
	const char **keys;
	uint32_t keys_mask;
	uint32_t *key_used; /* the slots filled, to empty them */
	uint32_t key_count;
} tl_batch_t;

/* Sized for batch_max commands: nothing allocates afterwards. 0 or -ENOMEM. */
int tl_batch_init(tl_batch_t *b, uint32_t batch_max, uint32_t max_pairs);
void tl_batch_free(tl_batch_t *b);
/* Empties it for the next batch. */
void tl_batch_reset(tl_batch_t *b);
/* Logs a put (flags by database, as above) or a delete. Never fails (sized at init). */
void tl_batch_put(tl_batch_t *b, tl_db_t db, const void *key, size_t klen, const void *val,
                  size_t vlen);
void tl_batch_del(tl_batch_t *b, tl_db_t db, const void *key, size_t klen);
void tl_batch_add_pub(tl_batch_t *b, uint32_t pair, int64_t available, int64_t locked,
                      uint64_t last_seq);
/* Idempotency keys (NUL-terminated; an added key must stay valid until reset). */
bool tl_batch_has_key(const tl_batch_t *b, const char *key);
void tl_batch_add_key(tl_batch_t *b, const char *key);
/* The committer: one write transaction with the log replayed, committed; the time inside
 * mdb_txn_commit goes to commit_hist. Returns 0, or an error and nothing of the batch is
 * in the database. Thread: the committer. Blocks: on the disk. */
int tl_batch_commit(const tl_batch_t *b, tl_store_t *st, tl_hist_t *commit_hist);

/* ---- the ledger -------------------------------------------------------------------- */

struct tl_ledger_port {
	tl_ring_t *cmds;
	tl_ring_t *acks;
	uint32_t inflight;    /* commands peeked into the batches in flight, not released */
	uint32_t acks_staged; /* acks of committed batches, waiting for a sync (periodic) */
	uint64_t next_token;  /* for tl_ledger_port_call */
};

/* One of the ledger's waiter's rings is the committer's answer ring. */
#define TL_LEDGER_PORTS_MAX (TL_WAIT_RINGS_MAX - 1)

/* A message between the ledger thread and the committer. */
typedef struct tl_commit_msg {
	int32_t batch; /* index into batches[], or -1: exit (to the committer) */
	int32_t rc;    /* the commit's result (from the committer) */
} tl_commit_msg_t;

struct tl_ledger {
	tl_ledger_config_t cfg;
	char *dir;
	tl_store_t store;
	tl_state_t state;

	tl_ledger_port_t ports[TL_LEDGER_PORTS_MAX];
	uint32_t port_count;

	/* the pipeline: one batch being applied, one being committed */
	tl_batch_t batches[2];
	tl_batch_t *building;   /* applied into by the ledger thread */
	tl_batch_t *committing; /* with the committer; NULL while it is idle */
	uint32_t next_port;     /* where apply_pending starts next, in turn */
	bool key_wait;          /* a key repeats one in flight: apply nothing until both land */
	int apply_error;        /* a read or hash failed while applying: the batch cannot go */
	MDB_txn *rtxn;          /* the ledger thread's read snapshot, renewed per commit */
	uint32_t *dirty;        /* working pair indices touched by the building batch */
	uint32_t dirty_count;
	uint32_t batch_no;

	/* threads */
	pthread_t thread, committer;
	bool running;
	_Atomic bool stop_requested; /* set by tl_ledger_stop, read by the thread (relaxed) */
	_Atomic int failure;         /* 0, or the error that stopped intake */
	tl_wait_t waiter;            /* the ledger thread's: its ports and the answer ring */
	tl_wait_t committer_waiter;
	tl_ring_t *to_committer, *from_committer;
	tl_idle_t idle;
	int64_t last_sync_ns;
	bool unsynced; /* periodic: a commit since the last sync */

	/* counters, written by the ledger thread only */
	_Atomic uint64_t commits;
	_Atomic uint64_t commands;
	_Atomic uint64_t map_grows;
	_Atomic uint64_t key_waits;
	_Atomic uint64_t committer_yields;
	tl_hist_t commit_hist; /* ns in mdb_txn_commit (written by the committer) */
};

/* Applies one command to the working state and logs its writes into l->building; reads
 * committed records through `rtxn`. The caller has made sure that no batch in flight holds
 * its key. Fills *ack. Returns 0 (the ack says applied, duplicate or rejected) or a
 * storage or hash error (the building batch must not be committed). */
int tl_apply(tl_ledger_t *l, MDB_txn *rtxn, const tl_ledger_cmd_t *cmd, tl_ledger_ack_t *ack);

/* Marks a working pair as changed in this batch. */
void tl_ledger_mark_dirty(tl_ledger_t *l, tl_pair_t *p);

/* ---- the read-only tools (audit.c) ------------------------------------------------- */

/* Opens `dir` read-only and begins one read transaction. Close with mdb_txn_abort() and
 * tl_store_close(). */
int tl_audit_open(tl_store_t *st, const char *dir, MDB_txn **txn);

/* "?" for an unknown id. */
const char *tl_audit_asset_name(const tl_registry_t *r, uint32_t id);
unsigned tl_audit_asset_decimals(const tl_registry_t *r, uint32_t id);
const char *tl_audit_account_name(const tl_registry_t *r, uint32_t id);

/* A committed registry name by id, for any thread; NULL when not (yet) committed. */
const tl_pub_name_t *tl_state_pub_asset(const tl_state_t *s, uint32_t id);
const tl_pub_name_t *tl_state_pub_account(const tl_state_t *s, uint32_t id);

/* Logging: one line to stderr, systemd-friendly ("<3>tally ledger: ..."). */
void tl_ledger_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* TL_LEDGER_INTERNAL_H */
