/*
 * tl_ledger.h: the ledger, the only code that changes balances (../shared/DESIGN.md §4).
 *
 * The model
 * ---------
 * Accounts hold assets. Each (account, asset) pair has `available` and `locked` amounts,
 * int64 in the asset's smallest unit (an asset with 8 decimals counts in 1e-8). Balances
 * change only through commands, and every command that is applied appends one or more
 * entries to a journal. Entries are numbered by a sequence that starts at 1 and never
 * skips, and each entry's SHA-256 chains to the one before it.
 *
 * One ledger thread decides everything about money. Producer threads reach it through
 * ports: a port is a pair of SPSC rings, commands in and acks out, owned by one producer.
 * The thread drains every port and applies each command to its in-memory state. Its
 * committer thread, the only one that writes to the LMDB environment, writes each batch
 * the ledger thread hands it in one LMDB write transaction (group commit) and makes it
 * durable as the durability mode says, while the ledger thread applies the next batch.
 * Once a batch has landed, the ledger thread publishes its balances and only then acks each
 * of its commands on its port, in the order the port submitted them.
 *
 * Idempotency
 * -----------
 * Every command carries a key (a venue trade id, a deposit tx id, an intent id...). Once a
 * command with a key has been applied, the key never expires: another command with that
 * key changes nothing and is acked TL_LEDGER_DUPLICATE with the original sequence number.
 * A rejected command records nothing, so it can be retried with the same key once the
 * cause (for example a missing balance) has been fixed.
 *
 * Names, not ids, in commands
 * ---------------------------
 * Commands name accounts and assets by string. The ledger resolves them, so a command is
 * meaningful in any database and on any restart. Ids (assigned in registration order, from
 * 1) appear only in snapshots and the journal.
 *
 * Amounts are decimals
 * --------------------
 * A command carries amounts as a decimal (mantissa and count of fraction digits), exactly
 * as a venue or an operator wrote them. The ledger converts them to the asset's units and
 * rejects any amount with more fraction digits than the asset has, or that overflows.
 */
#ifndef TL_LEDGER_H
#define TL_LEDGER_H

#include "tl_error.h"
#include "tl_hist.h"
#include "tl_ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Limits on names and keys, in bytes, not counting a terminating NUL. */
#define TL_LEDGER_ASSET_NAME_MAX 15
#define TL_LEDGER_ACCOUNT_NAME_MAX 31
#define TL_LEDGER_KEY_MAX 63
#define TL_LEDGER_REASON_MAX 63
/* An asset has at most this many decimals; 10^18 still fits in int64. */
#define TL_LEDGER_DECIMALS_MAX 18
/* An ack reports at most this many (account, asset) balances. */
#define TL_LEDGER_ACK_BALANCES 4

/* ------------------------------------------------------------------------------------ */
/* Commands                                                                             */
/* ------------------------------------------------------------------------------------ */

typedef enum tl_ledger_cmd_type {
	TL_LEDGER_CMD_NONE = 0, /* never valid; an unknown type is rejected UNKNOWN_TYPE */
	/* registry: these move no money */
	TL_LEDGER_ASSET_DEFINE, /* asset, decimals */
	TL_LEDGER_ACCOUNT_OPEN, /* account */
	/* money in and out */
	TL_LEDGER_DEPOSIT_CREDIT, /* account, asset, amount > 0: available += amount */
	TL_LEDGER_WITHDRAW_DEBIT, /* account, asset, amount > 0: available -= amount */
	/* reservations */
	TL_LEDGER_LOCK,   /* account, asset, amount > 0 [, order]: available -> locked */
	TL_LEDGER_UNLOCK, /* account, asset, amount > 0 [, order]: locked -> available */
	/* trading */
	TL_LEDGER_TRADE_SETTLE, /* one fill; see below */
	TL_LEDGER_FEE_DEBIT,    /* account, asset, amount > 0: available -= amount */
	/* other */
	TL_LEDGER_REWARD_CREDIT, /* account, asset, amount > 0: available += amount */
	TL_LEDGER_TRANSFER,      /* account -> account_to, asset, amount > 0, available only */
	TL_LEDGER_ADJUSTMENT,    /* account, asset, amount != 0 (signed), reason required */
	TL_LEDGER_CMD_COUNT
} tl_ledger_cmd_type_t;

typedef enum tl_ledger_side {
	TL_LEDGER_BUY = 1,
	TL_LEDGER_SELL = 2,
} tl_ledger_side_t;

/* A decimal as written: value = mantissa / 10^scale, with 0 <= scale <= 18. */
typedef struct tl_ledger_dec {
	int64_t mantissa;
	int32_t scale;
	int32_t pad_;
} tl_ledger_dec_t;

/* cmd.flags */
/* TRADE_SETTLE: the order is complete; release the rest of its reservation.
 * UNLOCK (with an order): release all that remains of the order's reservation, whatever
 * `amount` says (it may be 0); rejected NO_RESERVATION when nothing remains. This is how an
 * order that ended without filling whole gives its reservation back: the amount left
 * depends on fills that may still be on their way, and a fill settled after it simply
 * spends from available instead. */
#define TL_LEDGER_FLAG_FINAL 0x1u

/*
 * A command, as it travels on a port's command ring (TL_LEDGER_CMD_SIZE bytes). The caller
 * fills it; strings are NUL-terminated within their arrays. Unused fields are ignored.
 *
 * Reservations. LOCK with a nonzero `order` ties the locked amount to that order: the
 * ledger remembers (order -> account, asset, remaining). UNLOCK with the same `order`
 * lowers it. TRADE_SETTLE with `order` spends from it first.
 *
 * TRADE_SETTLE settles one fill of `qty` at `price` on the instrument `asset`/`quote`, in
 * exact integer arithmetic (notional = price x qty, in quote units, must be exact):
 *   - BUY:  spends notional quote (from the order's reservation, then from available),
 *           credits qty base to available;
 *   - SELL: spends qty base (the same way), credits notional quote to available;
 *   - then debits `fee` (>= 0) of `fee_asset` from available;
 *   - with TL_LEDGER_FLAG_FINAL, releases what is left of the order's reservation.
 * Its key is the venue trade id, so the same fill seen on the WebSocket, by REST back-fill
 * and by replay settles once.
 */
typedef struct tl_ledger_cmd {
	uint64_t token;   /* the producer's own correlation id, echoed in the ack */
	uint16_t type;    /* tl_ledger_cmd_type_t */
	uint8_t side;     /* tl_ledger_side_t, TRADE_SETTLE only */
	uint8_t flags;    /* TL_LEDGER_FLAG_* */
	uint8_t decimals; /* ASSET_DEFINE only */
	uint8_t pad_[3];
	int64_t ts_ms;  /* wall-clock ms of the event it records; journalled as is */
	uint64_t order; /* the order this command belongs to, or 0 */
	tl_ledger_dec_t amount;
	tl_ledger_dec_t price; /* TRADE_SETTLE */
	tl_ledger_dec_t qty;   /* TRADE_SETTLE */
	tl_ledger_dec_t fee;   /* TRADE_SETTLE; mantissa 0 means no fee */
	char account[TL_LEDGER_ACCOUNT_NAME_MAX + 1];
	char account_to[TL_LEDGER_ACCOUNT_NAME_MAX + 1]; /* TRANSFER */
	char asset[TL_LEDGER_ASSET_NAME_MAX + 1];        /* the base for TRADE_SETTLE */
	char quote[TL_LEDGER_ASSET_NAME_MAX + 1];        /* TRADE_SETTLE */
	char fee_asset[TL_LEDGER_ASSET_NAME_MAX + 1];    /* TRADE_SETTLE */
	char key[TL_LEDGER_KEY_MAX + 1];                 /* the idempotency key; required */
	char reason[TL_LEDGER_REASON_MAX + 1];           /* ADJUSTMENT: required */
} tl_ledger_cmd_t;

#define TL_LEDGER_CMD_SIZE 336

/* The name of a command type ("TRADE_SETTLE"), or NULL when out of range. */
const char *tl_ledger_cmd_type_name(unsigned type);
/* The type named `name`, or TL_LEDGER_CMD_NONE. Thread: any. */
tl_ledger_cmd_type_t tl_ledger_cmd_type_parse(const char *name);

/* ------------------------------------------------------------------------------------ */
/* Acks                                                                                 */
/* ------------------------------------------------------------------------------------ */

typedef enum tl_ledger_status {
	TL_LEDGER_APPLIED = 1,   /* durable now; seq is its first entry */
	TL_LEDGER_DUPLICATE = 2, /* its key was applied before; seq is that first entry */
	TL_LEDGER_REJECTED = 3,  /* nothing applied; `reason` says why */
	/* Storage failed (`error` says why) and intake has stopped. The command is not known
	 * to be durable: after a restart, submit it again (its key makes that safe). */
	TL_LEDGER_FAILED = 4,
} tl_ledger_status_t;

/* Why a command was rejected. Stable numbers: they appear in acks and logs. */
typedef enum tl_ledger_reason {
	TL_LEDGER_OK = 0,
	TL_LEDGER_R_UNKNOWN_TYPE = 1,
	TL_LEDGER_R_MISSING_KEY = 2,
	TL_LEDGER_R_BAD_NAME = 3, /* empty, too long, or characters outside [A-Za-z0-9_.:-] */
	TL_LEDGER_R_UNKNOWN_ACCOUNT = 4,
	TL_LEDGER_R_UNKNOWN_ASSET = 5,
	TL_LEDGER_R_EXISTS = 6,       /* ASSET_DEFINE / ACCOUNT_OPEN of a known name */
	TL_LEDGER_R_BAD_DECIMALS = 7, /* ASSET_DEFINE decimals > 18 */
	TL_LEDGER_R_NOT_POSITIVE = 8, /* an amount that must be > 0 is not */
	TL_LEDGER_R_PRECISION = 9,    /* more decimals than the asset allows */
	TL_LEDGER_R_INEXACT = 10,     /* price x qty is not a whole number of quote units */
	TL_LEDGER_R_OVERFLOW = 11,
	TL_LEDGER_R_INSUFFICIENT = 12, /* available (or locked) would go below zero */
	TL_LEDGER_R_BAD_SIDE = 13,
	TL_LEDGER_R_ORDER_MISMATCH = 14, /* the order's reservation is another account/asset */
	TL_LEDGER_R_NO_RESERVATION = 15, /* UNLOCK of an order with too little reserved */
	TL_LEDGER_R_MISSING_REASON = 16, /* ADJUSTMENT without a reason */
	TL_LEDGER_R_SAME_ACCOUNT = 17,   /* TRANSFER to itself */
	TL_LEDGER_R_CAPACITY = 18,       /* a configured table (pairs, orders, ...) is full */
	TL_LEDGER_R_BAD_FIELD = 19,      /* a malformed field: scale out of range, bad flags */
	TL_LEDGER_R_COUNT
} tl_ledger_reason_t;

/* Stable lower-case names ("insufficient"), or "unknown". */
const char *tl_ledger_reason_name(unsigned reason);
const char *tl_ledger_status_name(unsigned status);

/* One (account, asset) balance, in asset units. */
typedef struct tl_ledger_balance {
	uint32_t account_id;
	uint32_t asset_id;
	int64_t available;
	int64_t locked;
	uint64_t last_seq; /* the last entry that changed it (snapshots only; 0 in acks) */
} tl_ledger_balance_t;

/*
 * An ack, as it travels on a port's ack ring (TL_LEDGER_ACK_SIZE bytes). For APPLIED and
 * DUPLICATE, `balances` holds the balances the command touched, as they are after it
 * (for a duplicate: as they are now). Empty for REJECTED and FAILED.
 */
typedef struct tl_ledger_ack {
	uint64_t token;  /* the command's token */
	uint64_t seq;    /* first entry of the command; 0 unless APPLIED or DUPLICATE */
	uint16_t status; /* tl_ledger_status_t */
	uint16_t reason; /* tl_ledger_reason_t, for REJECTED */
	uint8_t entry_count;
	uint8_t balance_count;
	uint8_t pad_[2];
	int32_t error; /* negative errno or TL_E_*, for FAILED */
	uint32_t pad2_;
	tl_ledger_balance_t balances[TL_LEDGER_ACK_BALANCES];
} tl_ledger_ack_t;

#define TL_LEDGER_ACK_SIZE 160

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                            */
/* ------------------------------------------------------------------------------------ */

typedef enum tl_ledger_durability {
	TL_LEDGER_STRICT = 0,     /* fsync data and meta on every commit (the default) */
	TL_LEDGER_NOMETASYNC = 1, /* fsync data; the meta page rides on the next commit */
	TL_LEDGER_PERIODIC = 2,   /* no sync on commit; mdb_env_sync every sync_period_ms */
} tl_ledger_durability_t;

/* "strict", "nometasync", "periodic"; parse returns -EINVAL for anything else. */
const char *tl_ledger_durability_name(tl_ledger_durability_t d);
int tl_ledger_durability_parse(const char *name, tl_ledger_durability_t *out);

typedef struct tl_ledger_config {
	const char *dir;                   /* database directory; created if missing */
	tl_ledger_durability_t durability; /* default strict */
	uint32_t sync_period_ms;           /* periodic mode; default 10 */
	uint64_t map_initial_bytes;        /* default 64 MiB; grows by doubling */
	uint64_t map_max_bytes;            /* growth stops here: default 256 GiB */
	/* Default 0. Else, at open, the data file is filled with zeros until it holds this
	 * many bytes past LMDB's last page (a file already that long is left as it is), so
	 * that commits write over blocks that exist instead of growing the file; see
	 * tl_store_prealloc in store.c. A failure (no space, say) is logged and the ledger
	 * opens all the same. */
	uint64_t prealloc_bytes;
	uint32_t max_assets;   /* default 256 */
	uint32_t max_accounts; /* default 4096 */
	uint32_t max_pairs;    /* (account, asset) pairs; default 65536 */
	uint32_t max_orders;   /* open reservations; default 65536 */
	uint32_t batch_max;    /* commands per transaction; default 4096 */
	tl_idle_kind_t idle;   /* the ledger thread's idle strategy; default BLOCK */
	/* Pin the ledger thread and its committer to this CPU. -1 (the default): no pin.
	 * TL_LEDGER_CPU_DISK: the CPU that takes the disk's completion interrupts
	 * (tl_ledger_disk_cpu() on dir), resolved and logged at open; no pin if there is no
	 * single such CPU. */
	int cpu;
} tl_ledger_config_t;

#define TL_LEDGER_CPU_DISK (-2)

/*
 * tl_ledger_disk_cpu() names the CPU that takes the completion interrupts of the disk
 * holding `dir`, found through sysfs and procfs. A thread that waits on that disk's syncs
 * wakes fastest there: see disk_cpu.c for why and by how much.
 * Returns the CPU (>= 0), or:
 *   -ENODEV  no single CPU: no block device (tmpfs), no interrupt found, or interrupts
 *            delivered to several CPUs (a queue per CPU, as NVMe has);
 *   an errno of stat(2) on dir (-ENOENT, -EACCES).
 * Thread: any. Blocks: reads a few small procfs and sysfs files.
 */
int tl_ledger_disk_cpu(const char *dir);

/* Fills `cfg` with the defaults above and dir = NULL. */
void tl_ledger_config_default(tl_ledger_config_t *cfg);

typedef struct tl_ledger tl_ledger_t;
typedef struct tl_ledger_port tl_ledger_port_t;

/*
 * tl_ledger_open() opens (creating if needed) the ledger in cfg->dir and loads its state:
 * registry, balances, open reservations, last sequence number and chain head. Nothing is
 * replayed, so opening costs O(accounts x assets), not O(history). With prealloc_bytes it
 * also writes up to that many zeros and syncs them (about 75 ms for 64 MiB here).
 *
 * Only one process may have a ledger open for writing: a second gets -EBUSY.
 *
 * Returns 0 and stores the ledger in *out, or:
 *   -EINVAL        a bad config (dir NULL, a zero limit, cpu below TL_LEDGER_CPU_DISK);
 *   -EBUSY         another process has this ledger open;
 *   TL_E_SCHEMA    the database has an unknown or newer schema (nothing is written);
 *   TL_E_NOT_LEDGER the directory holds some other LMDB database;
 *   TL_E_CORRUPT   stored records do not decode;
 *   -ENOMEM, or an errno from the file system or LMDB.
 * A one-line reason is logged to stderr on failure.
 *
 * Thread: any. Blocks: on disk I/O.
 */
int tl_ledger_open(tl_ledger_t **out, const tl_ledger_config_t *cfg);

/*
 * tl_ledger_port_attach() gives one producer its port: a command ring and an ack ring of
 * `capacity` slots each (a power of two). Up to TL_WAIT_RINGS_MAX - 1 ports per ledger
 * (the ledger thread's waiter also watches its committer's answers).
 * Returns 0, -EINVAL (bad capacity), -ENOSPC (too many ports), -EBUSY (already started),
 * -ENOMEM. The ledger owns the port; it lives until tl_ledger_close().
 * Thread: the thread that opened the ledger, before tl_ledger_start().
 */
int tl_ledger_port_attach(tl_ledger_t *ledger, uint32_t capacity, tl_ledger_port_t **out);

/*
 * tl_ledger_port_set_ack_waiter() attaches the producer's waiter to the port's ack ring,
 * so a producer that sleeps in tl_wait_sleep() wakes when an ack arrives. Returns as
 * tl_ring_set_waiter(). Thread: the opening thread, before tl_ledger_start().
 */
int tl_ledger_port_set_ack_waiter(tl_ledger_port_t *port, tl_wait_t *w);

/*
 * tl_ledger_start() starts the ledger thread and its committer. Returns 0, or a negative
 * errno if a thread could not be created. tl_ledger_stop() asks them to drain every port,
 * commit, sync, ack what they drained, and exit; it then joins them. Commands submitted
 * after stop began may be left unacked. Both: Thread: the opening thread. stop Blocks:
 * until the threads exit.
 */
int tl_ledger_start(tl_ledger_t *ledger);
void tl_ledger_stop(tl_ledger_t *ledger);

/* Stops the thread if running, closes LMDB and frees everything. NULL is a no-op. */
void tl_ledger_close(tl_ledger_t *ledger);

/*
 * 0 while the ledger accepts commands; after a storage failure (ENOSPC, EIO, the map at
 * its cap) the negative error that stopped intake. Every command after that is acked
 * FAILED with this error; the database stays as of the last good commit.
 * Thread: any. Blocks: no.
 */
int tl_ledger_failure(const tl_ledger_t *ledger);

/* The CPU the ledger thread and its committer pin themselves to when they start (config
 * cpu, with TL_LEDGER_CPU_DISK resolved at open), or -1 for none. If that pin then fails (the CPU
 * is outside this process's cpuset), the thread says so in the log and runs unpinned.
 * Thread: any. Blocks: no. */
int tl_ledger_cpu(const tl_ledger_t *ledger);

/* Counters of the ledger thread, readable from any thread (relaxed, so each is exact but
 * they are not one snapshot). */
typedef struct tl_ledger_stats {
	uint64_t commits;   /* LMDB write transactions committed */
	uint64_t commands;  /* commands acked after a commit, every status included */
	uint64_t map_grows; /* times MAP_FULL grew the map */
	uint64_t key_waits; /* commands that repeated a key still in flight, and so waited for
	                     * the batches ahead to land before being acked as duplicates */
	uint64_t committer_yields; /* times the ledger thread, having applied commands while a
	                            * commit was in flight, gave its CPU to the committer */
} tl_ledger_stats_t;

void tl_ledger_stats(const tl_ledger_t *ledger, tl_ledger_stats_t *out);

/*
 * The time each committed batch spent in LMDB's commit, in ns: writing its pages, then the
 * syncs of its durability mode; the apply before it is not included. It is the part of an
 * ack's latency that belongs to the disk. The committer records; any thread may read it
 * at any time, as tl_hist.h describes (for a window, copy it and use tl_hist_diff). Valid
 * until tl_ledger_close(). Blocks: no.
 */
const tl_hist_t *tl_ledger_commit_hist(const tl_ledger_t *ledger);

/* ------------------------------------------------------------------------------------ */
/* Producer side. Thread: the port's one producer. Blocks: never, except port_call.     */
/* ------------------------------------------------------------------------------------ */

/* Queues a copy of *cmd. Returns true, or false when the port's command ring is full. */
bool tl_ledger_submit(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd);

/*
 * tl_ledger_submit_quiet() queues like tl_ledger_submit() but does not wake a sleeping
 * ledger thread (a syscall, and on a small box often a switch to that thread): the command
 * waits for tl_ledger_port_notify(), which the producer must call before it idles. For a
 * hot thread that has an order to send before the ledger needs to hear of it.
 */
bool tl_ledger_submit_quiet(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd);
void tl_ledger_port_notify(tl_ledger_port_t *port);

/* True when the port's command ring has a slot free now: the producer's next submit on it
 * cannot fail (only the ledger thread frees slots). For a producer that must act first and
 * tell the ledger just after, and may not act unless it can tell it. */
bool tl_ledger_port_has_room(tl_ledger_port_t *port);

/* Takes the next ack into *ack. Returns true, or false when none is ready. */
bool tl_ledger_poll_ack(tl_ledger_port_t *port, tl_ledger_ack_t *ack);

/*
 * Submits one command and waits (yielding the CPU) for its ack. For tools and tests, never
 * the hot path. The port must have no other command in flight. Returns 0.
 * Blocks: until the ledger acks.
 */
int tl_ledger_port_call(tl_ledger_port_t *port, const tl_ledger_cmd_t *cmd, tl_ledger_ack_t *ack);

/* ------------------------------------------------------------------------------------ */
/* Snapshots: readable from any thread, lock-free, never blocking the ledger            */
/* ------------------------------------------------------------------------------------ */

/*
 * tl_ledger_balance_read() copies the last committed balance of (account_id, asset_id)
 * into *out. The copy is consistent: available, locked and last_seq come from the same
 * commit. Returns 0, or -ENOENT when that pair has never been touched by a committed
 * command. Thread: any. Blocks: never; it retries while a publish of that pair is in
 * progress (a few stores).
 */
int tl_ledger_balance_read(const tl_ledger_t *ledger, uint32_t account_id, uint32_t asset_id,
                           tl_ledger_balance_t *out);

/*
 * Resolve a committed name to its id. Return 0, or -ENOENT. They scan the registry, so
 * resolve once at start-up, not per message. Thread: any. Blocks: never.
 */
int tl_ledger_asset_find(const tl_ledger_t *ledger, const char *name, uint32_t *id,
                         uint8_t *decimals);
int tl_ledger_account_find(const tl_ledger_t *ledger, const char *name, uint32_t *id);

/* An open reservation: what an order still has locked. */
typedef struct tl_ledger_reservation {
	uint64_t order;
	uint32_t account_id;
	uint32_t asset_id;
	int64_t remaining; /* asset units, > 0 */
} tl_ledger_reservation_t;

/*
 * Copies the open reservations (orders with something still locked) into out[0..cap) and
 * stores their number in *n (it may exceed cap: then only cap were copied). For recovery
 * at start-up: the orders a previous process left. Returns 0, or -EBUSY while the ledger
 * thread runs (the table is its own then). Thread: the opening thread, before
 * tl_ledger_start() or after tl_ledger_stop(). Blocks: no.
 */
int tl_ledger_reservations(const tl_ledger_t *ledger, tl_ledger_reservation_t *out, size_t cap,
                           size_t *n);

/*
 * How far back start-up recovery must read the venue's trades. *last_order gets the order
 * named by the newest journal entry that names one (written by a command with a nonzero
 * `order`), 0 when none does; *first_ms gets the time (ts_ms) of the journal's first
 * entry, 0 when the journal is empty. An engine's order numbers say when its process
 * started, so these bound the earliest fill the journal can lack (tally run's recover()).
 * It reads backwards from the newest entry: the cost is the entries written since that
 * order's, plus one. Returns 0, -EBUSY while the ledger thread runs, or the error of the
 * read (TL_E_CORRUPT for an entry that does not decode). Thread: the opening thread,
 * before tl_ledger_start() or after tl_ledger_stop(). Blocks: on LMDB reads.
 */
int tl_ledger_history_bounds(const tl_ledger_t *ledger, uint64_t *last_order, int64_t *first_ms);

/* The last committed sequence number. Thread: any. Blocks: never. */
uint64_t tl_ledger_last_seq(const tl_ledger_t *ledger);

/* ------------------------------------------------------------------------------------ */
/* Decimals                                                                             */
/* ------------------------------------------------------------------------------------ */

/*
 * tl_ledger_dec_parse() parses a decimal string ("-12.50", "0.00000001") of `len` bytes
 * into *out exactly: an optional '-', digits, an optional '.' and digits. No exponent, no
 * '+', no spaces. Trailing fraction zeros are dropped, so "1.50" has scale 1.
 * Returns 0, or -EINVAL (not a decimal), -ERANGE (over 18 digits, or overflows int64).
 * Thread: any. Blocks: no.
 */
int tl_ledger_dec_parse(const char *s, size_t len, tl_ledger_dec_t *out);

/*
 * tl_ledger_dec_to_units() converts `d` into units of an asset with `decimals` decimals.
 * Returns 0, TL_LEDGER_R_PRECISION (too many fraction digits) or TL_LEDGER_R_OVERFLOW.
 */
int tl_ledger_dec_to_units(tl_ledger_dec_t d, unsigned decimals, int64_t *units);

/*
 * Writes `units` of an asset with `decimals` decimals as a decimal string, every decimal
 * written ("1.50000000" for 150000000 at 8). Returns the length; `buf` needs 48 bytes.
 */
int tl_ledger_units_format(int64_t units, unsigned decimals, char *buf, size_t size);

/* ------------------------------------------------------------------------------------ */
/* Offline tools (tally ledger ...)                                                     */
/* ------------------------------------------------------------------------------------ */

/* Totals from tl_ledger_verify(). */
typedef struct tl_ledger_verify_report {
	uint64_t entries;
	uint64_t commands;
	uint64_t pairs;
	uint64_t orders;
	uint64_t problems; /* 0 when everything holds */
} tl_ledger_verify_report_t;

/*
 * tl_ledger_verify() opens `dir` read-only and checks, from the journal alone: that
 * sequence numbers run from 1 without a gap; the hash chain; that every command's entries
 * are all present; every invariant after every command (available >= 0, locked >= 0, the
 * shape of each command's legs, money conserved where no credit or debit was made); that
 * the stored balances and reservations equal those recomputed from the entries; that the
 * idempotency index maps exactly each command's key to its first entry; and the meta
 * record. Each problem is printed on `log` (which may be NULL). Returns 0 when the
 * database could be read (then report->problems says whether it holds), or an error as
 * tl_ledger_open(). Thread: any. Blocks: on disk I/O; it reads the whole journal.
 * It may run while a ledger process writes: it reads one consistent LMDB snapshot.
 */
int tl_ledger_verify(const char *dir, FILE *log, tl_ledger_verify_report_t *report);

/*
 * `tally ledger <apply|balances|dump|verify> ...`. argv[0] is "ledger". Returns a process
 * exit code (0, 1 failure, 2 usage). Thread: the main thread. Blocks: yes.
 */
int tl_ledger_cli_main(int argc, char **argv);
void tl_ledger_cli_usage(FILE *out);

#endif /* TL_LEDGER_H */
