/*
 * bench_ledger.c: `tally bench ledger`: what group commit buys, through the real ledger
 * thread and a real LMDB on disk, in strict durability (an fsync on every commit).
 *
 * Each repetition measures, on fresh databases:
 *   - group commit: the producer keeps its port as full as it can, and the ledger writes
 *     whatever is queued (up to batch_max commands) in one transaction and one fsync;
 *   - the baseline: the same mix with batch_max = 1, one transaction and fsync per command;
 *   - ack latency: the group-commit ledger fed at half the rate it just reached, each
 *     command timed from submit to ack, so the latency is that of a ledger with headroom.
 * The mix is a market maker's: per order, LOCK its cost, TRADE_SETTLE a partial fill, UNLOCK
 * the rest; each command is one mutation. The baseline runs in the same repetition, on the
 * same disk and under the same neighbours, because fsync cost swings widely from one run to
 * the next on a shared machine: only the ratio of two figures taken side by side means
 * much. Every figure is the median of --reps repetitions.
 *
 * Two more figures say how much of the ack latency is the disk's: the time each commit of
 * the latency phase spent inside LMDB's commit (its page writes and two syncs), and a bare
 * writer doing the same I/O as such a commit with no LMDB at all (disk_probe).
 */
#include "tl_bench.h"
#include "bench_internal.h"

#include "tl_event.h"
#include "tl_hist.h"
#include "tl_ledger.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define REPS_MAX 100
#define PORT_SLOTS 4096u /* each ring of the one port */
#define WARN_MAX 10      /* acks not APPLIED that are described one by one */
#define ACK_WINDOW_S 1.0 /* the latency phase lasts about this long */
#define CMDS_PER_ORDER 3 /* LOCK, TRADE_SETTLE, UNLOCK */
/* Zeros past the data at open: more than a default repetition writes (about 30 MiB), so
 * that no commit of it grows the file. */
#define PREALLOC_MB_DEFAULT 128
/* (c)'s feeder wakes this often; see feed_paced() */
#define BURST_US_DEFAULT 300

/* The disk probe's commit shapes: see disk_probe(). */
#define DISK_FILE_PAGES 4096u /* 16 MiB, written in full before timing */
#define DISK_SCATTERED 12u    /* single pages, anywhere in the file */
#define DISK_RUN 20u          /* then one run of contiguous pages */
#define DISK_PAGES (DISK_SCATTERED + DISK_RUN)
#define DISK_COMMITS 400u     /* timed, per repetition */
#define FLOOR_ARRIVALS 20000u /* evenly spaced commands over the probe's commits */
#define PAGE_BYTES 4096u

struct ledger_opts {
	int reps;
	uint64_t orders;            /* group-commit orders per repetition */
	uint64_t per_commit_orders; /* orders/100, at least 100 */
	uint32_t accounts;
	const char *dir;      /* parent of the fresh database directories */
	uint64_t prealloc_mb; /* tl_ledger_config.prealloc_bytes, in MiB */
	int ledger_cpu;       /* tl_ledger_config.cpu: a CPU, -1 or TL_LEDGER_CPU_DISK */
	uint64_t burst_us;    /* the latency phase's feeder submits every burst_us; 0: polls */
	bool json;
};

/*
 * The money of the mix, as a venue would write it. Every order is for 0.01 BTC at
 * 60000.10 USDT, and half of it fills:
 *   buy:  lock 600.001 USDT (price x qty); the fill, 0.005 BTC, spends 300.0005 USDT of it
 *         and pays 0.000001 BTC of fee; the remaining 300.0005 USDT is unlocked;
 *   sell: lock 0.01 BTC; the fill spends 0.005 BTC, earns 300.0005 USDT and pays 0.01 USDT
 *         of fee; the remaining 0.005 BTC is unlocked.
 * Each is exact at BTC's 8 and USDT's 6 decimals, so the ledger rejects none of it.
 */
struct mix_amounts {
	tl_ledger_dec_t price;
	tl_ledger_dec_t fill_qty;
	tl_ledger_dec_t buy_lock, buy_rest, buy_fee;    /* USDT, USDT, BTC */
	tl_ledger_dec_t sell_lock, sell_rest, sell_fee; /* BTC, BTC, USDT */
	tl_ledger_dec_t deposit_usdt, deposit_btc;
};

/* Everything one run shares: options, the mix, and the count of acks that were not
 * APPLIED, over every phase, setup included. */
struct run {
	const struct ledger_opts *o;
	struct mix_amounts amt;
	int64_t ts_ms; /* one wall-clock stamp for every command: the journal only stores it */
	uint64_t not_applied;
	tl_hist_t *hist;
	tl_hist_t *due_hist;      /* the latency phase's acks, from each command's due time */
	tl_hist_t *commit_before; /* the ledger's commit histogram as the latency phase began */
	int ledger_cpu_used;      /* where the last ledger thread was pinned; -1: nowhere */
};

/*
 * A workload is a numbered sequence of commands, each rebuilt from its number on demand.
 * Its number is also its token, so an ack names the command it answers, and a command that
 * was not applied can be described without keeping a copy of every command in flight.
 */
enum workload_kind { WL_SETUP, WL_MIX };

struct workload {
	enum workload_kind kind;
	const struct run *r;
	uint64_t first_order; /* WL_MIX: the order id of commands 0..2 */
	uint64_t orders;      /* WL_MIX */
};

static uint64_t workload_len(const struct workload *w)
{
	if (w->kind == WL_SETUP)
		return 2 + 3 * (uint64_t)w->r->o->accounts;
	return CMDS_PER_ORDER * w->orders;
}

static void set_name(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* Setup: the two assets, then every account, then USDT and BTC to each. Keys are unique
 * within a database, as every key in a directory must be. */
static void setup_cmd(const struct workload *w, uint64_t j, tl_ledger_cmd_t *c)
{
	uint32_t accounts = w->r->o->accounts;

	if (j < 2) {
		c->type = TL_LEDGER_ASSET_DEFINE;
		c->decimals = j == 0 ? 8 : 6;
		set_name(c->asset, sizeof(c->asset), j == 0 ? "BTC" : "USDT");
		snprintf(c->key, sizeof(c->key), "define:%s", c->asset);
		return;
	}
	j -= 2;
	uint32_t account = (uint32_t)(j % accounts);
	snprintf(c->account, sizeof(c->account), "acct-%" PRIu32, account);
	switch (j / accounts) {
	case 0:
		c->type = TL_LEDGER_ACCOUNT_OPEN;
		snprintf(c->key, sizeof(c->key), "open:%" PRIu32, account);
		break;
	case 1:
		c->type = TL_LEDGER_DEPOSIT_CREDIT;
		set_name(c->asset, sizeof(c->asset), "USDT");
		c->amount = w->r->amt.deposit_usdt;
		snprintf(c->key, sizeof(c->key), "dep:u:%" PRIu32, account);
		break;
	default:
		c->type = TL_LEDGER_DEPOSIT_CREDIT;
		set_name(c->asset, sizeof(c->asset), "BTC");
		c->amount = w->r->amt.deposit_btc;
		snprintf(c->key, sizeof(c->key), "dep:b:%" PRIu32, account);
		break;
	}
}

/*
 * The mix: order `order` belongs to account order % accounts. Its side is the parity of
 * (account + round), where a round is one pass over every account: neighbouring orders
 * alternate between buy and sell, and so do the orders of any one account. Had the side
 * been the parity of the order alone, with an even number of accounts each account would
 * only ever buy or only ever sell, and a long run would drain its USDT or its BTC.
 */
static void mix_cmd(const struct workload *w, uint64_t j, tl_ledger_cmd_t *c)
{
	const struct mix_amounts *a = &w->r->amt;
	uint32_t accounts = w->r->o->accounts;
	uint64_t order = w->first_order + j / CMDS_PER_ORDER;
	bool buy = (order % accounts + order / accounts) % 2 == 0;

	c->order = order;
	snprintf(c->account, sizeof(c->account), "acct-%" PRIu64, order % accounts);
	switch (j % CMDS_PER_ORDER) {
	case 0:
		c->type = TL_LEDGER_LOCK;
		set_name(c->asset, sizeof(c->asset), buy ? "USDT" : "BTC");
		c->amount = buy ? a->buy_lock : a->sell_lock;
		snprintf(c->key, sizeof(c->key), "lock:%" PRIu64, order);
		break;
	case 1:
		c->type = TL_LEDGER_TRADE_SETTLE;
		c->side = buy ? TL_LEDGER_BUY : TL_LEDGER_SELL;
		set_name(c->asset, sizeof(c->asset), "BTC");
		set_name(c->quote, sizeof(c->quote), "USDT");
		c->price = a->price;
		c->qty = a->fill_qty;
		c->fee = buy ? a->buy_fee : a->sell_fee;
		set_name(c->fee_asset, sizeof(c->fee_asset), buy ? "BTC" : "USDT");
		snprintf(c->key, sizeof(c->key), "fill:%" PRIu64, order);
		break;
	default:
		c->type = TL_LEDGER_UNLOCK;
		set_name(c->asset, sizeof(c->asset), buy ? "USDT" : "BTC");
		c->amount = buy ? a->buy_rest : a->sell_rest;
		snprintf(c->key, sizeof(c->key), "unlock:%" PRIu64, order);
		break;
	}
}

static void workload_cmd(const struct workload *w, uint64_t j, tl_ledger_cmd_t *c)
{
	memset(c, 0, sizeof(*c));
	c->token = j;
	c->ts_ms = w->r->ts_ms;
	if (w->kind == WL_SETUP)
		setup_cmd(w, j, c);
	else
		mix_cmd(w, j, c);
}

static int parse_amount(const char *text, tl_ledger_dec_t *out)
{
	int rc = tl_ledger_dec_parse(text, strlen(text), out);

	if (rc < 0)
		fprintf(stderr, "tally bench ledger: cannot parse the amount '%s': %s\n", text,
		        tl_strerror(rc));
	return rc;
}

static int mix_amounts_init(struct mix_amounts *a)
{
	const struct {
		const char *text;
		tl_ledger_dec_t *out;
	} amounts[] = {
	    {"60000.10", &a->price},       /* USDT per BTC */
	    {"0.005", &a->fill_qty},       /* BTC: half of the 0.01 ordered */
	    {"600.001", &a->buy_lock},     /* USDT: 60000.10 x 0.01 */
	    {"300.0005", &a->buy_rest},    /* USDT: 600.001 less the fill's 300.0005 */
	    {"0.000001", &a->buy_fee},     /* BTC */
	    {"0.01", &a->sell_lock},       /* BTC */
	    {"0.005", &a->sell_rest},      /* BTC: 0.01 less the fill's 0.005 */
	    {"0.01", &a->sell_fee},        /* USDT */
	    {"1000000", &a->deposit_usdt}, /* USDT */
	    {"100", &a->deposit_btc},      /* BTC */
	};

	for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
		int rc = parse_amount(amounts[i].text, amounts[i].out);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- acks -------------------------------------------------------------------------- */

/*
 * Checks the ack of command j. A status other than APPLIED is counted (and described, for
 * the first few): a rejected command did none of the work being timed. Returns -EPROTO
 * when the ack is not command j's: a port acks in submission order, and a figure built on
 * acks that were lost or reordered would be meaningless.
 */
static int ack_check(struct run *r, const struct workload *w, uint64_t j,
                     const tl_ledger_ack_t *ack)
{
	if (ack->token != j) {
		fprintf(stderr,
		        "tally bench ledger: ack for token %" PRIu64 " where %" PRIu64
		        " was due: acks lost or out of order\n",
		        ack->token, j);
		return -EPROTO;
	}
	if (ack->status == TL_LEDGER_APPLIED)
		return 0;
	if (++r->not_applied <= WARN_MAX) {
		tl_ledger_cmd_t c;
		workload_cmd(w, j, &c);
		fprintf(stderr, "tally bench ledger: warning: %s '%s' %s: %s\n",
		        tl_ledger_cmd_type_name(c.type), c.key, tl_ledger_status_name(ack->status),
		        ack->status == TL_LEDGER_FAILED ? tl_strerror(ack->error)
		                                        : tl_ledger_reason_name(ack->reason));
	}
	return 0;
}

/* ---- the two ways of feeding the ledger -------------------------------------------- */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Submits the whole workload as fast as the port takes it: submit until the command ring
 * is full, then take every ack that is ready, and again. Stores the time from the first
 * submit to the last ack. Returns 0 or a negative errno.
 */
static int feed_saturated(struct run *r, tl_ledger_port_t *port, const struct workload *w,
                          int64_t *elapsed_ns)
{
	uint64_t n = workload_len(w), sent = 0, acked = 0;
	tl_ledger_cmd_t cmd;
	tl_ledger_ack_t ack;
	bool have_cmd = true;
	int64_t start_ns;
	int rc;

	workload_cmd(w, 0, &cmd);
	start_ns = tl_mono_ns();
	while (acked < n) {
		bool progress = false;

		while (sent < n) {
			if (!have_cmd) {
				workload_cmd(w, sent, &cmd);
				have_cmd = true;
			}
			if (!tl_ledger_submit(port, &cmd))
				break; /* ring full: the command waits for the next round */
			have_cmd = false;
			sent++;
			progress = true;
		}
		while (tl_ledger_poll_ack(port, &ack)) {
			if ((rc = ack_check(r, w, acked, &ack)) < 0)
				return rc;
			acked++;
			progress = true;
		}
		/* Nothing to do means the ledger is inside a commit, an fsync of a millisecond
		 * or more: give the CPU away rather than spin on a two-core machine. */
		if (!progress)
			sched_yield();
	}
	*elapsed_ns = tl_mono_ns() - start_ns;
	return 0;
}

#define FEEDER_STALL_NS 2000000

struct feeder_stats {
	int64_t cpu_ns;
	uint64_t stalls;      /* bursts FEEDER_STALL_NS or more late */
	int64_t stall_max_ns; /* the latest of them */
};

/*
 * Submits one command every `interval_ns` on average, on a fixed schedule (a late command
 * does not push back the ones after it), in bursts: it submits every command that has come
 * due, takes the acks that are ready, and sleeps on its ack ring's waiter until an ack
 * arrives or --burst-us after the burst, whichever is first (with --burst-us 0 it never
 * sleeps). Records each command's time from its submit to its ack in r->hist, and from the
 * moment it was due in r->due_hist (that adds the wait for its burst). Fills *fs with the
 * feeder thread's CPU time over the phase, and the bursts that began FEEDER_STALL_NS or
 * more after their time: the feeder had no CPU then, and neither, most likely, had the
 * ledger.
 *
 * Why it sleeps: a feeder that polls keeps a CPU busy the whole time, and this virtual
 * machine, with one CPU busy and the disk syncing, is paused as a whole for 5 to 15 ms in
 * every 100 (README "The ledger"). The engine's threads sleep when idle too.
 * Returns 0 or a negative errno.
 */
static int feed_paced(struct run *r, tl_ledger_port_t *port, tl_wait_t *ack_waiter,
                      const struct workload *w, int64_t interval_ns, struct feeder_stats *fs)
{
	int64_t burst_ns = (int64_t)r->o->burst_us * 1000;
	int64_t cpu_start_ns = thread_cpu_ns();

	memset(fs, 0, sizeof(*fs));
	uint64_t n = workload_len(w), sent = 0, acked = 0;
	int64_t *sent_ns = calloc(n, sizeof(*sent_ns));
	tl_ledger_cmd_t cmd;
	tl_ledger_ack_t ack;
	int64_t start_ns, next_burst_ns;
	int rc = 0;

	if (sent_ns == NULL)
		return -ENOMEM;
	workload_cmd(w, 0, &cmd);
	start_ns = tl_mono_ns();
	next_burst_ns = start_ns;
	while (acked < n && rc == 0) {
		int64_t now_ns = tl_mono_ns();

		if (now_ns >= next_burst_ns) {
			int64_t late_ns = now_ns - next_burst_ns;
			if (late_ns >= FEEDER_STALL_NS) {
				fs->stalls++;
				if (late_ns > fs->stall_max_ns)
					fs->stall_max_ns = late_ns;
			}
			/* command j is due at start_ns + j * interval_ns */
			while (sent < n && start_ns + (int64_t)sent * interval_ns <= now_ns &&
			       tl_ledger_submit(port, &cmd)) {
				sent_ns[sent] = now_ns;
				if (++sent < n)
					workload_cmd(w, sent, &cmd);
			}
			next_burst_ns = now_ns + burst_ns;
		}
		while (rc == 0 && tl_ledger_poll_ack(port, &ack)) {
			int64_t ack_ns = tl_mono_ns();
			int64_t due_ns = start_ns + (int64_t)acked * interval_ns;

			if ((rc = ack_check(r, w, acked, &ack)) < 0)
				break;
			tl_hist_record(r->hist, (uint64_t)(ack_ns - sent_ns[acked]));
			tl_hist_record(r->due_hist, (uint64_t)(ack_ns - due_ns));
			acked++;
		}
		now_ns = tl_mono_ns();
		if (rc == 0 && acked < n && next_burst_ns > now_ns)
			tl_wait_sleep(ack_waiter, next_burst_ns - now_ns);
	}
	free(sent_ns);
	fs->cpu_ns = thread_cpu_ns() - cpu_start_ns;
	return rc;
}

/* ---- databases --------------------------------------------------------------------- */

struct bench_db {
	char dir[PATH_MAX]; /* empty until mkdtemp made it */
	tl_ledger_t *ledger;
	tl_ledger_port_t *port;
	tl_wait_t ack_waiter; /* the feeder sleeps on it; the port's ack ring wakes it */
};

/* Opens the ledger in db->dir with `batch_max` (0: the default), attaches the port and
 * starts the thread; notes its CPU in r. Returns 0, or a negative errno after saying why on
 * stderr. */
static int db_up(struct bench_db *db, struct run *r, uint32_t batch_max)
{
	const struct ledger_opts *o = r->o;
	tl_ledger_config_t cfg;
	int rc;

	tl_ledger_config_default(&cfg);
	cfg.dir = db->dir;
	cfg.durability = TL_LEDGER_STRICT;
	if (cfg.max_accounts < o->accounts)
		cfg.max_accounts = o->accounts;
	if (cfg.max_pairs < 2 * o->accounts)
		cfg.max_pairs = 2 * o->accounts;
	if (batch_max != 0)
		cfg.batch_max = batch_max;
	cfg.prealloc_bytes = o->prealloc_mb << 20;
	cfg.cpu = o->ledger_cpu;

	rc = tl_ledger_open(&db->ledger, &cfg);
	if (rc < 0) {
		fprintf(stderr, "tally bench ledger: cannot open a ledger in %s: %s\n", db->dir,
		        tl_strerror(rc));
		db->ledger = NULL;
		return rc;
	}
	r->ledger_cpu_used = tl_ledger_cpu(db->ledger);
	rc = tl_ledger_port_attach(db->ledger, PORT_SLOTS, &db->port);
	tl_wait_init_fenced(&db->ack_waiter);
	if (rc == 0)
		rc = tl_ledger_port_set_ack_waiter(db->port, &db->ack_waiter);
	if (rc < 0) {
		fprintf(stderr, "tally bench ledger: %s: cannot attach a port: %s\n", db->dir,
		        tl_strerror(rc));
		return rc;
	}
	rc = tl_ledger_start(db->ledger);
	if (rc < 0)
		fprintf(stderr, "tally bench ledger: %s: cannot start the ledger thread: %s\n",
		        db->dir, tl_strerror(rc));
	return rc;
}

static void db_down(struct bench_db *db)
{
	tl_ledger_close(db->ledger);
	db->ledger = NULL;
	db->port = NULL;
}

/* Closes the ledger, if open, and removes the directory, if made. */
static void db_remove(struct bench_db *db)
{
	db_down(db);
	if (db->dir[0] != '\0')
		tl_bench_rm_tree(db->dir);
	db->dir[0] = '\0';
}

/*
 * A fresh database holding the assets, the accounts and their deposits, open with
 * `batch_max` and ready for the mix. Setup always runs with the default batch_max, then the
 * ledger is closed and reopened with the one being measured. With batch_max 1 setup would
 * cost one fsync per command (15,002 by default), and a reopen loads the balances without
 * replaying anything, so both ledgers start from the same state on disk.
 * Returns 0 or a negative errno; on failure the caller still owes db_remove().
 */
static int db_prepare(struct run *r, struct bench_db *db, uint32_t batch_max)
{
	struct workload setup = {.kind = WL_SETUP, .r = r};
	int64_t setup_ns;
	int rc;

	memset(db, 0, sizeof(*db));
	if (snprintf(db->dir, sizeof(db->dir), "%s/tally-bench-ledger.XXXXXX", r->o->dir) >=
	    (int)sizeof(db->dir)) {
		fprintf(stderr, "tally bench ledger: %s: %s\n", r->o->dir,
		        tl_strerror(-ENAMETOOLONG));
		db->dir[0] = '\0';
		return -ENAMETOOLONG;
	}
	if (mkdtemp(db->dir) == NULL) {
		rc = -errno;
		fprintf(stderr, "tally bench ledger: cannot create a directory under %s: %s\n",
		        r->o->dir, tl_strerror(rc));
		db->dir[0] = '\0';
		return rc;
	}
	if ((rc = db_up(db, r, 0)) < 0 || (rc = feed_saturated(r, db->port, &setup, &setup_ns)))
		return rc;
	db_down(db);
	return db_up(db, r, batch_max);
}

/* ---- one repetition ---------------------------------------------------------------- */

struct rep_figures {
	double group_per_s;      /* mutations/s, group commit */
	double per_commit_per_s; /* mutations/s, batch_max 1 */
	double batch_mean;       /* commands per commit, group commit phase */
	double ack_load_per_s;   /* the paced rate of the latency phase */
	double feeder_cpu_pct;   /* the feeder thread's CPU time in that phase, % of its span */
	double feeder_stalls;    /* its bursts that began 2 ms or more late (feed_paced) */
	double feeder_stall_max_us;
	double ack_p50_us, ack_p99_us;       /* submit to ack */
	double due_p50_us, due_p99_us;       /* due to ack: the feeder's bursts added */
	double commit_p50_us, commit_p99_us; /* LMDB's commit, per commit of the latency phase */
	double disk_p50_us, disk_p99_us;     /* disk_probe(), per commit */
	double floor_p50_us, floor_p99_us;   /* disk_floor(): the ack with a free apply */
	/* The same, with the commit's pages written side by side (disk_probe's contiguous
	 * shape): what the ack could be if LMDB placed a commit's pages in one run. */
	double disk_contig_p50_us, disk_contig_p99_us;
	double floor_contig_p50_us, floor_contig_p99_us;
};

static double per_s(uint64_t count, int64_t elapsed_ns)
{
	return elapsed_ns > 0 ? (double)count / ((double)elapsed_ns / 1e9) : 0;
}

/* Group commit, then ack latency at half the rate it reached, both on `db`. */
static int measure_group(struct run *r, struct bench_db *db, struct rep_figures *f)
{
	const struct ledger_opts *o = r->o;
	struct workload mix = {.kind = WL_MIX, .r = r, .first_order = 1, .orders = o->orders};
	struct workload paced = {.kind = WL_MIX, .r = r};
	tl_ledger_stats_t before, after;
	int64_t elapsed_ns, interval_ns;
	uint64_t window_orders;
	int rc;

	tl_ledger_stats(db->ledger, &before);
	if ((rc = feed_saturated(r, db->port, &mix, &elapsed_ns)) < 0)
		return rc;
	tl_ledger_stats(db->ledger, &after);
	f->group_per_s = per_s(workload_len(&mix), elapsed_ns);
	if (after.commits > before.commits)
		f->batch_mean = (double)(after.commands - before.commands) /
		                (double)(after.commits - before.commits);
	if (f->group_per_s <= 0)
		return -EPROTO; /* no time elapsed: the clock is broken, nothing can be paced */

	/* Half load, for about ACK_WINDOW_S or orders/2 orders, whichever is less. Order ids
	 * carry on from the phase before, so every key stays unique in this database. */
	interval_ns = (int64_t)(1e9 / (f->group_per_s / 2));
	if (interval_ns < 1)
		interval_ns = 1;
	f->ack_load_per_s = 1e9 / (double)interval_ns;
	window_orders = (uint64_t)(f->ack_load_per_s * ACK_WINDOW_S) / CMDS_PER_ORDER;
	paced.first_order = 1 + o->orders;
	paced.orders = o->orders / 2 < window_orders ? o->orders / 2 : window_orders;
	if (paced.orders == 0)
		paced.orders = 1;
	tl_hist_reset(r->hist);
	tl_hist_reset(r->due_hist);
	tl_hist_reset(r->commit_before);
	tl_hist_merge(r->commit_before, tl_ledger_commit_hist(db->ledger));
	int64_t phase_start_ns = tl_mono_ns();
	struct feeder_stats fs;
	if ((rc = feed_paced(r, db->port, &db->ack_waiter, &paced, interval_ns, &fs)) < 0)
		return rc;
	f->feeder_cpu_pct = 100.0 * (double)fs.cpu_ns / (double)(tl_mono_ns() - phase_start_ns);
	f->feeder_stalls = (double)fs.stalls;
	f->feeder_stall_max_us = (double)fs.stall_max_ns / 1e3;
	f->ack_p50_us = (double)tl_hist_quantile(r->hist, 0.50) / 1e3;
	f->ack_p99_us = (double)tl_hist_quantile(r->hist, 0.99) / 1e3;
	f->due_p50_us = (double)tl_hist_quantile(r->due_hist, 0.50) / 1e3;
	f->due_p99_us = (double)tl_hist_quantile(r->due_hist, 0.99) / 1e3;
	/* Every command is acked, so every commit of the phase is recorded: the ledger
	 * records a commit before it publishes the commit's acks. r->hist is reused. */
	if (tl_hist_diff(r->hist, tl_ledger_commit_hist(db->ledger), r->commit_before) < 0)
		return -EPROTO;
	f->commit_p50_us = (double)tl_hist_quantile(r->hist, 0.50) / 1e3;
	f->commit_p99_us = (double)tl_hist_quantile(r->hist, 0.99) / 1e3;
	return 0;
}

static int rep_group(struct run *r, struct rep_figures *f)
{
	struct bench_db db;
	int rc;

	if ((rc = db_prepare(r, &db, 0)) == 0)
		rc = measure_group(r, &db, f);
	db_remove(&db);
	return rc;
}

/* pwrite of all `len` bytes at `off`: 0, or a negative errno (-EIO for a short write). */
static int write_at(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/*
 * The disk alone, doing what one commit of the latency phase does, with no LMDB: `scattered`
 * single pages at random places in a file written in full beforehand (so no write changes
 * its size or allocates a block), one run of `run` contiguous pages, fdatasync, then one
 * page through an O_DSYNC descriptor. That is LMDB's strict commit: the dirty pages, a
 * flush, then the meta page written synchronously. With DISK_SCATTERED and DISK_RUN the
 * shape is that of the latency phase's commits as strace showed them on the development
 * machine: about 12 single pages (B-tree roots and branches, copied to pages reused from
 * all over the file) and one run of about 20. An ack cannot be quicker than its commit's
 * I/O, so this is a floor under the ack's latency on this disk. With 0 and DISK_PAGES, the
 * same pages go in one run: each separate run is a request of its own to the disk, and
 * their number, more than the bytes, sets the flush's time on a virtual disk (32 single
 * pages took about 5 times as long as 32 side by side on the development machine). Records
 * each commit's time in *h and its start and end in starts[] and ends[], and returns 0 or a
 * negative errno after saying why on stderr.
 */
static int disk_probe(const char *parent, uint32_t scattered, uint32_t run, tl_hist_t *h,
                      int64_t *starts, int64_t *ends)
{
	static unsigned char pages[DISK_PAGES * PAGE_BYTES];
	char path[PATH_MAX];
	uint64_t seed = 0x9e3779b97f4a7c15u;
	int fd = -1, meta_fd = -1, rc = 0;

	if (snprintf(path, sizeof(path), "%s/tally-bench-disk.XXXXXX", parent) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "tally bench ledger: %s: %s\n", parent, tl_strerror(-ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = mkstemp(path);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "tally bench ledger: cannot create a file under %s: %s\n", parent,
		        tl_strerror(rc));
		return rc;
	}
	assert(run >= 1 && scattered + run <= DISK_PAGES);
	memset(pages, 0xa5, sizeof(pages));
	for (uint32_t pg = 0; pg < DISK_FILE_PAGES && rc == 0; pg += DISK_PAGES)
		rc = write_at(fd, pages, sizeof(pages), (off_t)pg * PAGE_BYTES);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (rc == 0 && (meta_fd = open(path, O_WRONLY | O_DSYNC)) < 0)
		rc = -errno;
	tl_hist_reset(h);
	for (uint32_t c = 0; c < DISK_COMMITS && rc == 0; c++) {
		int64_t start_ns = tl_mono_ns();

		for (uint32_t i = 0; i < scattered && rc == 0; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; /* xorshift64 */
			off_t pg = 2 + (off_t)(seed % (DISK_FILE_PAGES - 2 - run));
			rc = write_at(fd, pages, PAGE_BYTES, pg * PAGE_BYTES);
		}
		off_t run_at = (off_t)(DISK_FILE_PAGES - run) * PAGE_BYTES;
		if (rc == 0)
			rc = write_at(fd, pages, (size_t)run * PAGE_BYTES, run_at);
		if (rc == 0 && fdatasync(fd) != 0)
			rc = -errno;
		if (rc == 0) /* the meta pages are the file's first two */
			rc = write_at(meta_fd, pages, PAGE_BYTES, (off_t)(c & 1) * PAGE_BYTES);
		if (rc == 0) {
			starts[c] = start_ns;
			ends[c] = tl_mono_ns();
			tl_hist_record(h, (uint64_t)(ends[c] - start_ns));
		}
	}
	if (rc < 0)
		fprintf(stderr, "tally bench ledger: disk probe on %s: %s\n", path,
		        tl_strerror(rc));
	if (meta_fd >= 0)
		close(meta_fd);
	close(fd);
	unlink(path);
	return rc;
}

/* The baseline: one transaction and one fsync per command. */
static int rep_per_commit(struct run *r, struct rep_figures *f)
{
	struct workload mix = {
	    .kind = WL_MIX, .r = r, .first_order = 1, .orders = r->o->per_commit_orders};
	struct bench_db db;
	int64_t elapsed_ns;
	int rc;

	if ((rc = db_prepare(r, &db, 1)) == 0 &&
	    (rc = feed_saturated(r, db.port, &mix, &elapsed_ns)) == 0)
		f->per_commit_per_s = per_s(workload_len(&mix), elapsed_ns);
	db_remove(&db);
	return rc;
}

/*
 * The ack latency of a ledger whose apply costs nothing, on this disk, from the probe's
 * back-to-back commits: a command arriving at t joins the next commit to start, and is
 * acked when that one ends. So it waits for the rest of the commit in progress and all of
 * its own, as a serial group commit makes it. FLOOR_ARRIVALS commands, evenly spaced over
 * the probe, are recorded in *h. No ledger that commits this way beats it on this disk.
 */
static void disk_floor(const int64_t *starts, const int64_t *ends, uint32_t commits, tl_hist_t *h)
{
	tl_hist_reset(h);
	if (commits < 2)
		return;
	int64_t span = starts[commits - 1] - starts[0];
	uint32_t next = 1;
	for (uint32_t i = 0; i < FLOOR_ARRIVALS; i++) {
		int64_t t = starts[0] + 1 + span * (int64_t)i / (int64_t)FLOOR_ARRIVALS;
		while (next < commits - 1 && starts[next] < t)
			next++;
		tl_hist_record(h, (uint64_t)(ends[next] - t));
	}
}

/* One shape of the disk probe: its commits' p50 and p99, and those of the ack's floor
 * they give (disk_floor), in us. */
static int disk_shape(struct run *r, uint32_t scattered, uint32_t run, double *disk_p50,
                      double *disk_p99, double *floor_p50, double *floor_p99)
{
	static int64_t starts[DISK_COMMITS], ends[DISK_COMMITS];
	int rc = disk_probe(r->o->dir, scattered, run, r->hist, starts, ends);
	if (rc)
		return rc;
	*disk_p50 = (double)tl_hist_quantile(r->hist, 0.50) / 1e3;
	*disk_p99 = (double)tl_hist_quantile(r->hist, 0.99) / 1e3;
	disk_floor(starts, ends, DISK_COMMITS, r->hist);
	*floor_p50 = (double)tl_hist_quantile(r->hist, 0.50) / 1e3;
	*floor_p99 = (double)tl_hist_quantile(r->hist, 0.99) / 1e3;
	return 0;
}

/* The disk probe's two shapes, into f, run on the ledger thread's CPU when it had one, so
 * that the two wait for the disk from the same place. */
static int rep_disk(struct run *r, struct rep_figures *f)
{
	cpu_set_t before;
	bool pinned = false;
	int rc;

	if (r->ledger_cpu_used >= 0 &&
	    pthread_getaffinity_np(pthread_self(), sizeof(before), &before) == 0) {
		rc = tl_thread_pin_self(r->ledger_cpu_used);
		if (rc < 0)
			fprintf(stderr,
			        "tally bench ledger: cannot run the disk probe on CPU %d: %s\n",
			        r->ledger_cpu_used, tl_strerror(rc));
		pinned = rc == 0;
	}
	rc = disk_shape(r, DISK_SCATTERED, DISK_RUN, &f->disk_p50_us, &f->disk_p99_us,
	                &f->floor_p50_us, &f->floor_p99_us);
	if (rc == 0)
		rc = disk_shape(r, 0, DISK_PAGES, &f->disk_contig_p50_us, &f->disk_contig_p99_us,
		                &f->floor_contig_p50_us, &f->floor_contig_p99_us);
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
	return rc;
}

/* ---- options ----------------------------------------------------------------------- */

static void ledger_usage(FILE *out)
{
	tl_ledger_config_t cfg;

	tl_ledger_config_default(&cfg);
	fprintf(
	    out,
	    "Usage: tally bench ledger [--json] [--reps N] [--orders N] [--accounts N]\n"
	    "                          [--dir DIR] [--prealloc-mb N]\n"
	    "                          [--ledger-cpu disk|none|CPU] [--burst-us N]\n"
	    "\n"
	    "Measures the ledger's group commit through the real ledger thread and a real LMDB\n"
	    "on disk, in strict durability (an fsync on every commit). Each repetition:\n"
	    "  (a) sets up a fresh database under DIR, with --prealloc-mb MiB of zeros past its\n"
	    "      data as a deployment has (ledger.prealloc_mb): BTC and USDT, --accounts\n"
	    "      accounts, a deposit of both assets to each (not timed);\n"
	    "  (b) group commit: per order, LOCK its cost, TRADE_SETTLE a partial fill, UNLOCK\n"
	    "      the rest (three mutations), buys and sells alternating, submitted as fast as\n"
	    "      the port takes them; the ledger commits whatever is queued, up to %u\n"
	    "      commands, in one transaction;\n"
	    "  (c) ack latency on the same database, fed at half the rate (b) reached, for about\n"
	    "      a second or --orders/2 orders, whichever is less: submit to ack, p50 and\n"
	    "      p99 (due_*: from the moment each command was due, with its wait for the\n"
	    "      feeder's next burst). The feeder submits what has come due every\n"
	    "      --burst-us, and sleeps in between until an ack or the next burst;\n"
	    "  (d) the baseline, on another fresh database: the same mix with one transaction\n"
	    "      and one fsync per mutation (batch_max 1), --orders/100 orders (at least 100);\n"
	    "  (e) the disk alone: %u commits' I/O with no LMDB, each %u single pages at random\n"
	    "      places in a 16 MiB file, a run of %u, fdatasync, then a page written O_DSYNC\n"
	    "      (what one commit of (c) writes, and how LMDB syncs it in strict mode);\n"
	    "      then %u more with the same %u pages in one run (disk_contig_*): what a\n"
	    "      commit would cost if LMDB placed its pages side by side.\n"
	    "Beside the ack latency it reports, per commit of (c), the time spent inside LMDB's\n"
	    "commit, and (e)'s time: an ack cannot be quicker than the commit it waits for.\n"
	    "From (e) it also derives the ack a ledger would have on this disk if applying\n"
	    "commands cost nothing: commands spread evenly over (e)'s back-to-back commits,\n"
	    "each acked when the first commit to start after it ends (ack_floor_*, and\n"
	    "ack_floor_contig_* from the contiguous commits).\n"
	    "Each figure is the median of N repetitions. Progress goes to stderr. Every command\n"
	    "must be applied; any that is not is reported, and the exit status is then 1.\n"
	    "\n",
	    cfg.batch_max, DISK_COMMITS, DISK_SCATTERED, DISK_RUN, DISK_COMMITS, DISK_PAGES);
	fprintf(
	    out,
	    "Options:\n"
	    "  --json          print one JSON object instead of a table: group_mutations_per_s,\n"
	    "                  per_commit_mutations_per_s, group_vs_per_commit, ack_p50_us,\n"
	    "                  ack_p99_us, ack_load_per_s, commit_p50_us, commit_p99_us,\n"
	    "                  disk_p50_us, disk_p99_us, ack_floor_p50_us, ack_floor_p99_us,\n"
	    "                  disk_contig_p50_us, disk_contig_p99_us,\n"
	    "                  ack_floor_contig_p50_us, ack_floor_contig_p99_us,\n"
	    "                  due_p50_us, due_p99_us, batch_mean, burst_us,\n"
	    "                  feeder_cpu_pct, feeder_stalls, feeder_stall_max_us,\n"
	    "                  not_applied,\n"
	    "                  ledger_cpu (and more)\n"
	    "  --reps N        repetitions (default 3)\n"
	    "  --orders N      orders per group-commit repetition, 100..10^8 (default 20000)\n"
	    "  --accounts N    accounts, each with BTC and USDT, 1..10^6 (default 5000)\n"
	    "  --dir DIR       where the databases go, one fresh directory each, removed at the\n"
	    "                  end (default /var/tmp). Use a disk: on tmpfs fsync is free\n"
	    "  --prealloc-mb N zeros written past the data file's data at open, 0..65536 MiB\n"
	    "                  (default %d; 0: none, the file grows as LMDB appends, and each\n"
	    "                  commit that grows it also commits the filesystem's journal)\n"
	    "  --ledger-cpu disk|none|CPU\n"
	    "                  where each ledger thread runs, and (e) with it: disk (the\n"
	    "                  default) pins it to the CPU that takes the disk's completion\n"
	    "                  interrupts, if one CPU does (else no pin); none leaves it to the\n"
	    "                  scheduler; a number pins it there (threads.cpu_ledger in the\n"
	    "                  engine)\n"
	    "  --burst-us N    how often (c)'s feeder submits, 0..100000 us (default %d; 0: it\n"
	    "                  polls and never sleeps, keeping a CPU busy, which on a virtual\n"
	    "                  machine with a CPU quota can get the whole machine paused)\n"
	    "  -h, --help      show this help\n"
	    "\n"
	    "Exit status: 0 on success, 1 if a run failed or a command was not applied, 2 on a\n"
	    "usage error.\n",
	    PREALLOC_MB_DEFAULT, BURST_US_DEFAULT);
}

/* Returns 0, 1 after --help, or -EINVAL after a message on stderr. */
static int parse_ledger_opts(int argc, char **argv, struct ledger_opts *o)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"reps", required_argument, NULL, 'r'},
	    {"orders", required_argument, NULL, 'o'},
	    {"accounts", required_argument, NULL, 'a'},
	    {"dir", required_argument, NULL, 'd'},
	    {"prealloc-mb", required_argument, NULL, 'p'},
	    {"ledger-cpu", required_argument, NULL, 'c'},
	    {"burst-us", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int opt;

	o->reps = 3;
	o->orders = 20000;
	o->accounts = 5000;
	o->dir = "/var/tmp";
	o->prealloc_mb = PREALLOC_MB_DEFAULT;
	o->burst_us = BURST_US_DEFAULT;
	o->ledger_cpu = TL_LEDGER_CPU_DISK;
	o->json = false;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o->json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, REPS_MAX, &v) < 0)
				return tl_bench_bad_value("ledger", "reps", "1..100");
			o->reps = (int)v;
			break;
		case 'o':
			if (tl_bench_parse_u64(optarg, 100, 100000000, &v) < 0)
				return tl_bench_bad_value("ledger", "orders", "100..100000000");
			o->orders = v;
			break;
		case 'a':
			if (tl_bench_parse_u64(optarg, 1, 1000000, &v) < 0)
				return tl_bench_bad_value("ledger", "accounts", "1..1000000");
			o->accounts = (uint32_t)v;
			break;
		case 'd':
			if (optarg[0] == '\0')
				return tl_bench_bad_value("ledger", "dir", "a directory");
			o->dir = optarg;
			break;
		case 'p':
			if (tl_bench_parse_u64(optarg, 0, 65536, &o->prealloc_mb) < 0)
				return tl_bench_bad_value("ledger", "prealloc-mb", "0..65536");
			break;
		case 'b':
			if (tl_bench_parse_u64(optarg, 0, 100000, &o->burst_us) < 0)
				return tl_bench_bad_value("ledger", "burst-us", "0..100000");
			break;
		case 'c':
			if (strcmp(optarg, "disk") == 0)
				o->ledger_cpu = TL_LEDGER_CPU_DISK;
			else if (strcmp(optarg, "none") == 0)
				o->ledger_cpu = -1;
			else if (tl_bench_parse_u64(optarg, 0, CPU_SETSIZE - 1, &v) == 0)
				o->ledger_cpu = (int)v;
			else
				return tl_bench_bad_value("ledger", "ledger-cpu",
				                          "disk, none or a CPU");
			break;
		case 'h':
			ledger_usage(stdout);
			return 1;
		default:
			return -EINVAL; /* getopt_long said why; the caller prints the usage */
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally bench ledger: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	o->per_commit_orders = o->orders / 100 < 100 ? 100 : o->orders / 100;
	return 0;
}

/* ---- the benchmark ----------------------------------------------------------------- */

/* fsync on tmpfs or ramfs returns at once: the per-commit baseline would cost next to
 * nothing and the comparison would mean nothing. Say so; the run goes on. */
static void warn_if_memory_fs(const char *dir)
{
	struct statfs fs;

	/* A directory that cannot be examined is reported when mkdtemp fails on it. */
	if (statfs(dir, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC))
		fprintf(stderr,
		        "tally bench ledger: warning: %s is in memory (tmpfs or ramfs): fsync "
		        "costs nothing there, so the figures say nothing about a disk\n",
		        dir);
}

struct medians {
	int reps;               /* repetitions completed */
	struct rep_figures fig; /* each figure, the median over the repetitions */
	double ratio;           /* group commit over one commit per mutation, of the medians */
	int ledger_cpu;         /* where the ledger threads ran; -1: unpinned */
};

/* The median over n repetitions of the double at `offset` in struct rep_figures. */
static double median_of(const struct rep_figures *figs, int n, size_t offset)
{
	double v[REPS_MAX];
	for (int i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&figs[i] + offset, sizeof(double));
	return tl_bench_median(v, n);
}

/* Every field of struct rep_figures is a double, so the k-th figure lies at k doubles. */
#define FIGURES (sizeof(struct rep_figures) / sizeof(double))
_Static_assert(FIGURES * sizeof(double) == sizeof(struct rep_figures),
               "struct rep_figures holds doubles only");

static void medians_of(const struct rep_figures *figs, int n, struct medians *m)
{
	m->reps = n;
	for (size_t k = 0; k < FIGURES; k++) {
		double med = median_of(figs, n, k * sizeof(double));
		memcpy((char *)&m->fig + k * sizeof(double), &med, sizeof(double));
	}
	m->ratio = m->fig.per_commit_per_s > 0 ? m->fig.group_per_s / m->fig.per_commit_per_s : 0;
}

static void print_json(const struct ledger_opts *o, const struct medians *m, uint64_t not_applied)
{
	const struct rep_figures *f = &m->fig;

	printf("{\"bench\":\"ledger\",\"reps\":%d,\"orders\":%" PRIu64 ",\"accounts\":%" PRIu32
	       ",\"pairs\":%" PRIu64 ",\"group_mutations_per_s\":%.0f,"
	       "\"per_commit_mutations_per_s\":%.0f,\"group_vs_per_commit\":%.2f,"
	       "\"ack_p50_us\":%.1f,\"ack_p99_us\":%.1f,\"ack_load_per_s\":%.0f,"
	       "\"due_p50_us\":%.1f,\"due_p99_us\":%.1f,"
	       "\"burst_us\":%" PRIu64 ",\"feeder_cpu_pct\":%.1f,\"feeder_stalls\":%.0f,"
	       "\"feeder_stall_max_us\":%.0f,"
	       "\"commit_p50_us\":%.1f,\"commit_p99_us\":%.1f,\"disk_p50_us\":%.1f,"
	       "\"disk_p99_us\":%.1f,\"ack_floor_p50_us\":%.1f,\"ack_floor_p99_us\":%.1f,"
	       "\"disk_contig_p50_us\":%.1f,\"disk_contig_p99_us\":%.1f,"
	       "\"ack_floor_contig_p50_us\":%.1f,\"ack_floor_contig_p99_us\":%.1f,"
	       "\"batch_mean\":%.1f,\"not_applied\":%" PRIu64 ",\"durability\":\"%s\","
	       "\"prealloc_mb\":%" PRIu64 ",\"ledger_cpu\":%d}\n",
	       m->reps, o->orders, o->accounts, 2 * (uint64_t)o->accounts, f->group_per_s,
	       f->per_commit_per_s, m->ratio, f->ack_p50_us, f->ack_p99_us, f->ack_load_per_s,
	       f->due_p50_us, f->due_p99_us, o->burst_us, f->feeder_cpu_pct, f->feeder_stalls,
	       f->feeder_stall_max_us, f->commit_p50_us, f->commit_p99_us, f->disk_p50_us,
	       f->disk_p99_us, f->floor_p50_us, f->floor_p99_us, f->disk_contig_p50_us,
	       f->disk_contig_p99_us, f->floor_contig_p50_us, f->floor_contig_p99_us, f->batch_mean,
	       not_applied, tl_ledger_durability_name(TL_LEDGER_STRICT), o->prealloc_mb,
	       m->ledger_cpu);
}

static void print_table(const struct ledger_opts *o, const struct medians *m, uint64_t not_applied)
{
	const struct rep_figures *f = &m->fig;
	tl_ledger_config_t cfg;
	char label[64];

	tl_ledger_config_default(&cfg);
	printf("tally bench ledger: median of %d reps, strict durability (fsync every commit), "
	       "databases under %s, %" PRIu64 " MiB of zeros past the data at open\n",
	       m->reps, o->dir, o->prealloc_mb);
	if (m->ledger_cpu >= 0)
		printf("ledger threads and the disk probe on CPU %d\n", m->ledger_cpu);
	else
		printf("ledger threads and the disk probe not pinned\n");
	printf("%" PRIu32 " accounts, %" PRIu64 " (account, asset) pairs; per order LOCK, "
	       "TRADE_SETTLE (partial fill), UNLOCK\n\n",
	       o->accounts, 2 * (uint64_t)o->accounts);
	printf("%-46s %10s %12s %14s\n", "throughput", "orders", "mutations/s", "vs per-commit");
	snprintf(label, sizeof(label), "group commit (batch_max %u)", cfg.batch_max);
	printf("%-46s %10" PRIu64 " %12.0f %13.1fx\n", label, o->orders, f->group_per_s, m->ratio);
	printf("%-46s %10" PRIu64 " %12.0f %13.1fx\n", "one commit per mutation (batch_max 1)",
	       o->per_commit_orders, f->per_commit_per_s, 1.0);
	printf("group commit: %.1f commands per commit on average\n", f->batch_mean);
	snprintf(label, sizeof(label), "ack latency at half load (%.0f mutations/s)",
	         f->ack_load_per_s);
	printf("\n%-46s %10s %12s\n", label, "p50 us", "p99 us");
	printf("%-46s %10.1f %12.1f\n", "submit to ack", f->ack_p50_us, f->ack_p99_us);
	printf("%-46s %10.1f %12.1f\n", "due to ack (with the wait for its burst)", f->due_p50_us,
	       f->due_p99_us);
	printf("%-46s %10.1f %12.1f\n", "per commit: LMDB's commit (page writes, syncs)",
	       f->commit_p50_us, f->commit_p99_us);
	snprintf(label, sizeof(label), "per commit: the disk alone (%u+%u pages, syncs)",
	         DISK_SCATTERED, DISK_RUN);
	printf("%-46s %10.1f %12.1f\n", label, f->disk_p50_us, f->disk_p99_us);
	printf("%-46s %10.1f %12.1f\n", "the ack on that disk with a free apply", f->floor_p50_us,
	       f->floor_p99_us);
	snprintf(label, sizeof(label), "per commit: the disk alone (%u pages in one run)",
	         DISK_PAGES);
	printf("%-46s %10.1f %12.1f\n", label, f->disk_contig_p50_us, f->disk_contig_p99_us);
	printf("%-46s %10.1f %12.1f\n", "the ack with a free apply, pages in one run",
	       f->floor_contig_p50_us, f->floor_contig_p99_us);
	if (o->burst_us)
		printf("the feeder submitted every %" PRIu64 " us and slept in between: %.1f%% of "
		       "a CPU\n",
		       o->burst_us, f->feeder_cpu_pct);
	else
		printf("the feeder polled without sleeping: %.1f%% of a CPU\n", f->feeder_cpu_pct);
	printf("bursts 2 ms or more late (the feeder had no CPU): %.0f, the latest %.0f us\n",
	       f->feeder_stalls, f->feeder_stall_max_us);
	printf("\nnot applied: %" PRIu64 "%s\n", not_applied,
	       not_applied ? " (the figures above timed rejected work: do not use them)" : "");
	printf("\ntargets, for information only:\n"
	       "  group commit >= 200000 mutations/s: %.0f\n"
	       "  group commit >= 40x one commit per mutation: %.1fx\n"
	       "  ack p99 <= 2000 us at half load: %.1f us\n",
	       f->group_per_s, m->ratio, f->ack_p99_us);
}

static void run_free(struct run *r)
{
	free(r->hist);
	free(r->due_hist);
	free(r->commit_before);
}

int tl_bench_ledger(int argc, char **argv)
{
	static struct rep_figures figs[REPS_MAX];
	struct ledger_opts o;
	struct run r;
	struct medians m;
	struct timespec now;
	int rc, reps_done = 0;

	rc = parse_ledger_opts(argc, argv, &o);
	if (rc != 0) {
		if (rc < 0) {
			fputc('\n', stderr);
			ledger_usage(stderr);
		}
		return rc > 0 ? 0 : 2;
	}
	memset(&r, 0, sizeof(r));
	r.ledger_cpu_used = -1;
	r.o = &o;
	if (mix_amounts_init(&r.amt) < 0)
		return 1;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
		fprintf(stderr, "tally bench ledger: clock_gettime: %s\n", strerror(errno));
		return 1;
	}
	r.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	r.hist = malloc(sizeof(*r.hist));
	r.due_hist = malloc(sizeof(*r.due_hist));
	r.commit_before = malloc(sizeof(*r.commit_before));
	if (r.hist == NULL || r.due_hist == NULL || r.commit_before == NULL) {
		fprintf(stderr, "tally bench ledger: %s\n", tl_strerror(-ENOMEM));
		run_free(&r);
		return 1;
	}
	warn_if_memory_fs(o.dir);

	fprintf(stderr,
	        "tally bench ledger: %d reps, %" PRIu64 " orders (%" PRIu64
	        " mutations) group commit, %" PRIu64 " orders per-commit, %" PRIu32
	        " accounts, strict durability, under %s\n",
	        o.reps, o.orders, CMDS_PER_ORDER * o.orders, o.per_commit_orders, o.accounts,
	        o.dir);
	for (int i = 0; i < o.reps; i++) {
		struct rep_figures *f = &figs[i];

		memset(f, 0, sizeof(*f));
		if ((rc = rep_group(&r, f)) < 0 || (rc = rep_per_commit(&r, f)) < 0 ||
		    (rc = rep_disk(&r, f)) < 0) {
			fprintf(stderr, "tally bench ledger: rep %d/%d failed: %s\n", i + 1, o.reps,
			        tl_strerror(rc));
			run_free(&r);
			return 1;
		}
		reps_done = i + 1;
		fprintf(
		    stderr,
		    "bench ledger: rep %d/%d: group %.1fk/s, per-commit %.2fk/s (%.0fx), "
		    "batch %.0f, ack p50 %.0f us p99 %.0f us at %.1fk/s (due p99 %.0f us; commit "
		    "p50 %.0f us p99 "
		    "%.0f us; disk p50 %.0f us p99 %.0f us; ack with a free apply p50 %.0f us p99 "
		    "%.0f us, with its pages in one run p99 %.0f us)\n",
		    i + 1, o.reps, f->group_per_s / 1e3, f->per_commit_per_s / 1e3,
		    f->per_commit_per_s > 0 ? f->group_per_s / f->per_commit_per_s : 0,
		    f->batch_mean, f->ack_p50_us, f->ack_p99_us, f->ack_load_per_s / 1e3,
		    f->due_p99_us, f->commit_p50_us, f->commit_p99_us, f->disk_p50_us,
		    f->disk_p99_us, f->floor_p50_us, f->floor_p99_us, f->floor_contig_p99_us);
		/* Rejected commands did none of the work being timed: more reps would only
		 * repeat a meaningless figure. */
		if (r.not_applied > 0)
			break;
	}
	run_free(&r);

	medians_of(figs, reps_done, &m);
	m.ledger_cpu = r.ledger_cpu_used;
	if (o.json)
		print_json(&o, &m, r.not_applied);
	else
		print_table(&o, &m, r.not_applied);
	if (r.not_applied > 0) {
		fprintf(stderr, "tally bench ledger: %" PRIu64 " commands were not applied\n",
		        r.not_applied);
		return 1;
	}
	return 0;
}
