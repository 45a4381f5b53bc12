/*
 * test_ledger_crash.c: kill -9 the ledger at random moments, and check that nothing acked is
 * lost, nothing is half-applied, and re-applying everything changes nothing.
 *
 * A deterministic stream of commands is generated against a model of the balances, so that
 * every valid command is feasible when the stream is applied in order (and a few invalid
 * ones are rejected whatever the state). Then, for each cycle, a child process applies the
 * stream from its start through the real ledger thread and LMDB (strict durability),
 * reporting every ack on a pipe, and is SIGKILLed after a random delay. After each kill the
 * parent reopens the ledger and checks:
 *   - every command acked before the kill is in the idempotency index;
 *   - no invalid command ever is;
 *   - `verify` passes (so no command is half-applied, and the chain and balances hold).
 * Finally a child runs the stream to the end, and the result must equal a single, clean
 * application of the stream in another directory: the same balances, and even the same
 * hash-chain head, because every command was applied exactly once, in stream order.
 */
#include "ledger_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define ACCOUNTS 8
#define ORDERS_MAX 4096

typedef struct item {
	tl_ledger_cmd_t cmd;
	bool valid;
} item_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state; /* xorshift64 */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* the model: asset 0 = BTC (8 decimals), 1 = USDT (6) */
static int64_t model_avail[ACCOUNTS][2];
typedef struct morder {
	uint64_t id;
	int account, asset;
	int64_t remaining;
} morder_t;
static morder_t open_orders[ORDERS_MAX];
static int open_count;
static uint64_t next_order = 1;

static const char *asset_name(int a)
{
	return a ? "USDT" : "BTC";
}

static void fmt_units(int64_t units, int asset, tl_ledger_dec_t *out)
{
	char buf[48];
	tl_ledger_units_format(units, asset ? 6 : 8, buf, sizeof(buf));
	CHECK(tl_ledger_dec_parse(buf, strlen(buf), out) == 0);
}

static tl_ledger_cmd_t base_cmd(tl_ledger_cmd_type_t type, size_t i, int account, int asset)
{
	char key[32], acc[16];
	snprintf(key, sizeof(key), "k%zu", i);
	snprintf(acc, sizeof(acc), "acct%d", account);
	tl_ledger_cmd_t c = lt_cmd(type, key, acc, asset_name(asset), NULL);
	c.ts_ms = 1700000000000 + (int64_t)i;
	c.token = i;
	return c;
}

/* One random command that the model says is feasible (or a deliberately invalid one). */
static item_t generate(size_t i)
{
	item_t it = {.valid = true};
	int acct = (int)rnd_below(ACCOUNTS), asset = (int)rnd_below(2);
	int64_t avail = model_avail[acct][asset];
	unsigned pick = (unsigned)rnd_below(100);
	if (pick < 4) { /* invalid whatever the state */
		it.valid = false;
		it.cmd = base_cmd(TL_LEDGER_DEPOSIT_CREDIT, i, acct, asset);
		switch (rnd_below(3)) {
		case 0:
			snprintf(it.cmd.asset, sizeof(it.cmd.asset), "NOSUCH");
			it.cmd.amount = lt_dec("1");
			break;
		case 1:
			it.cmd.amount = lt_dec("-5");
			break;
		default:
			it.cmd.amount = lt_dec("0.0000000001");
		}
		return it;
	}
	if (pick < 25 || avail < 1000) {
		int64_t amount = 1000 + (int64_t)rnd_below(100000000);
		it.cmd = base_cmd(TL_LEDGER_DEPOSIT_CREDIT, i, acct, asset);
		fmt_units(amount, asset, &it.cmd.amount);
		model_avail[acct][asset] += amount;
		return it;
	}
	if (pick < 35) {
		int64_t amount = 1 + (int64_t)rnd_below((uint64_t)avail / 2);
		it.cmd = base_cmd(TL_LEDGER_WITHDRAW_DEBIT, i, acct, asset);
		fmt_units(amount, asset, &it.cmd.amount);
		model_avail[acct][asset] -= amount;
		return it;
	}
	if (pick < 45) {
		int to = (acct + 1 + (int)rnd_below(ACCOUNTS - 1)) % ACCOUNTS;
		int64_t amount = 1 + (int64_t)rnd_below((uint64_t)avail / 2);
		it.cmd = base_cmd(TL_LEDGER_TRANSFER, i, acct, asset);
		snprintf(it.cmd.account_to, sizeof(it.cmd.account_to), "acct%d", to);
		fmt_units(amount, asset, &it.cmd.amount);
		model_avail[acct][asset] -= amount;
		model_avail[to][asset] += amount;
		return it;
	}
	if (pick < 50) {
		int64_t amount = 1 + (int64_t)rnd_below(1000);
		it.cmd = base_cmd(TL_LEDGER_ADJUSTMENT, i, acct, asset);
		snprintf(it.cmd.reason, sizeof(it.cmd.reason), "crash test reconciliation %zu", i);
		fmt_units(amount, asset, &it.cmd.amount);
		model_avail[acct][asset] += amount;
		return it;
	}
	if (pick < 70 && open_count < ORDERS_MAX) {
		/* lock whole lots, so that fills below come out exact */
		int64_t lot = asset ? 1000 : 100000; /* 0.001 USDT, 0.001 BTC */
		int64_t lots = (avail / 2) / lot;
		if (lots > 0) {
			int64_t amount = (1 + (int64_t)rnd_below((uint64_t)lots)) * lot;
			it.cmd = base_cmd(TL_LEDGER_LOCK, i, acct, asset);
			fmt_units(amount, asset, &it.cmd.amount);
			it.cmd.order = next_order;
			model_avail[acct][asset] -= amount;
			open_orders[open_count++] = (morder_t){next_order++, acct, asset, amount};
			return it;
		}
	}
	if (open_count > 0) {
		int k = (int)rnd_below((uint64_t)open_count);
		morder_t *o = &open_orders[k];
		bool close = false;
		if (pick < 80) { /* unlock part, or all */
			int64_t amount = rnd_below(2)
			                     ? o->remaining
			                     : 1 + (int64_t)rnd_below((uint64_t)o->remaining);
			it.cmd = base_cmd(TL_LEDGER_UNLOCK, i, o->account, o->asset);
			fmt_units(amount, o->asset, &it.cmd.amount);
			it.cmd.order = o->id;
			model_avail[o->account][o->asset] += amount;
			o->remaining -= amount;
			close = o->remaining == 0;
		} else { /* a fill against the order's reservation */
			it.cmd = base_cmd(TL_LEDGER_TRADE_SETTLE, i, o->account, 0);
			snprintf(it.cmd.quote, sizeof(it.cmd.quote), "USDT");
			it.cmd.order = o->id;
			int64_t price = 1 + (int64_t)rnd_below(3); /* USDT per BTC, whole */
			int64_t qty_mbtc, spend, credit;           /* qty in 0.001 BTC */
			if (o->asset == 1) {                       /* a buy: spends USDT */
				/* notional units = price * qty_mbtc * 1000 */
				int64_t max_q = o->remaining / (price * 1000);
				if (max_q == 0) {
					price = 1;
					max_q = o->remaining / 1000;
				}
				qty_mbtc = max_q > 0 ? 1 + (int64_t)rnd_below((uint64_t)max_q) : 0;
				spend = price * qty_mbtc * 1000;
				credit = qty_mbtc * 100000;
				it.cmd.side = TL_LEDGER_BUY;
			} else { /* a sell: spends BTC */
				int64_t max_q = o->remaining / 100000;
				qty_mbtc = max_q > 0 ? 1 + (int64_t)rnd_below((uint64_t)max_q) : 0;
				spend = qty_mbtc * 100000;
				credit = price * qty_mbtc * 1000;
				it.cmd.side = TL_LEDGER_SELL;
			}
			if (qty_mbtc == 0) { /* nothing fits: release it all instead */
				it.cmd = base_cmd(TL_LEDGER_UNLOCK, i, o->account, o->asset);
				fmt_units(o->remaining, o->asset, &it.cmd.amount);
				it.cmd.order = o->id;
				model_avail[o->account][o->asset] += o->remaining;
				o->remaining = 0;
			} else {
				char buf[32];
				snprintf(buf, sizeof(buf), "%" PRId64, price);
				it.cmd.price = lt_dec(buf);
				fmt_units(qty_mbtc * 100000, 0, &it.cmd.qty);
				o->remaining -= spend;
				model_avail[o->account][o->asset == 1 ? 0 : 1] += credit;
				if (rnd_below(3) == 0 || o->remaining == 0) {
					it.cmd.flags = TL_LEDGER_FLAG_FINAL;
					model_avail[o->account][o->asset] += o->remaining;
					o->remaining = 0;
				}
			}
			close = o->remaining == 0;
		}
		if (close)
			open_orders[k] = open_orders[--open_count];
		return it;
	}
	int64_t amount = 1000 + (int64_t)rnd_below(100000);
	it.cmd = base_cmd(TL_LEDGER_DEPOSIT_CREDIT, i, acct, asset);
	fmt_units(amount, asset, &it.cmd.amount);
	model_avail[acct][asset] += amount;
	return it;
}

static item_t *build_stream(size_t n)
{
	item_t *s = calloc(n, sizeof(*s));
	CHECK(s);
	s[0] = (item_t){lt_asset("BTC", 8), true};
	s[1] = (item_t){lt_asset("USDT", 6), true};
	for (int a = 0; a < ACCOUNTS; a++) {
		char name[16];
		snprintf(name, sizeof(name), "acct%d", a);
		s[2 + a] = (item_t){lt_account(name), true};
	}
	for (size_t i = 0; i < 2 + ACCOUNTS; i++)
		s[i].cmd.token = i;
	for (size_t i = 2 + ACCOUNTS; i < n; i++)
		s[i] = generate(i);
	return s;
}

/* Applies the stream from the start, writing the index of each applied or duplicate ack
 * to `fd`. Used by the children (killed or not) and, with fd -1, for the reference. */
static void apply_stream(const char *dir, const item_t *s, size_t n, int fd, bool check_outcome)
{
	tl_ledger_port_t *port;
	tl_ledger_t *l = lt_open(dir, NULL, &port);
	size_t sent = 0, acked = 0;
	while (acked < n) {
		if (sent < n && tl_ledger_submit(port, &s[sent].cmd)) {
			sent++;
			continue;
		}
		tl_ledger_ack_t a;
		if (!tl_ledger_poll_ack(port, &a)) {
			if (sent == n)
				sched_yield();
			continue;
		}
		CHECK_EQ(a.token, acked);
		bool ok = a.status == TL_LEDGER_APPLIED || a.status == TL_LEDGER_DUPLICATE;
		if (check_outcome && ok != s[acked].valid) {
			fprintf(stderr, "command %zu (%s): %s %s, but the model says %s\n", acked,
			        tl_ledger_cmd_type_name(s[acked].cmd.type),
			        tl_ledger_status_name(a.status), tl_ledger_reason_name(a.reason),
			        s[acked].valid ? "valid" : "invalid");
			exit(1);
		}
		if (ok && fd >= 0) {
			uint32_t idx = (uint32_t)acked;
			CHECK(write(fd, &idx, sizeof(idx)) == sizeof(idx));
		}
		acked++;
	}
	tl_ledger_close(l);
}

/* Raw LMDB read access to the named databases, for comparing two ledgers. */
typedef struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi idem, balances, meta;
} raw_t;

static void raw_open(raw_t *r, const char *dir)
{
	CHECK(mdb_env_create(&r->env) == 0);
	mdb_env_set_maxdbs(r->env, 8);
	CHECK(mdb_env_open(r->env, dir, MDB_RDONLY, 0600) == 0);
	CHECK(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn) == 0);
	CHECK(mdb_dbi_open(r->txn, "idem", 0, &r->idem) == 0);
	CHECK(mdb_dbi_open(r->txn, "balances", 0, &r->balances) == 0);
	CHECK(mdb_dbi_open(r->txn, "meta", 0, &r->meta) == 0);
}

static void raw_close(raw_t *r)
{
	mdb_txn_abort(r->txn);
	mdb_env_close(r->env);
}

static bool raw_has_key(raw_t *r, const char *key)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	return mdb_get(r->txn, r->idem, &k, &v) == 0;
}

/* Same balances (all fields) and same chain head. */
static void compare(const char *a_dir, const char *b_dir)
{
	raw_t a, b;
	raw_open(&a, a_dir);
	raw_open(&b, b_dir);
	MDB_cursor *ca, *cb;
	CHECK(mdb_cursor_open(a.txn, a.balances, &ca) == 0);
	CHECK(mdb_cursor_open(b.txn, b.balances, &cb) == 0);
	MDB_val ka, va, kb, vb;
	int n = 0;
	for (int op = MDB_FIRST;; op = MDB_NEXT, n++) {
		int ra = mdb_cursor_get(ca, &ka, &va, op), rb = mdb_cursor_get(cb, &kb, &vb, op);
		CHECK_EQ(ra, rb);
		if (ra)
			break;
		CHECK(ka.mv_size == kb.mv_size && memcmp(ka.mv_data, kb.mv_data, ka.mv_size) == 0);
		CHECK(va.mv_size == vb.mv_size && memcmp(va.mv_data, vb.mv_data, va.mv_size) == 0);
	}
	CHECK(n >= ACCOUNTS);
	mdb_cursor_close(ca);
	mdb_cursor_close(cb);
	const char *keys[] = {"last_seq", "chain_head"};
	for (int i = 0; i < 2; i++) {
		MDB_val k = {strlen(keys[i]), (void *)keys[i]};
		CHECK(mdb_get(a.txn, a.meta, &k, &va) == 0 && mdb_get(b.txn, b.meta, &k, &vb) == 0);
		CHECK(va.mv_size == vb.mv_size && memcmp(va.mv_data, vb.mv_data, va.mv_size) == 0);
	}
	raw_close(&a);
	raw_close(&b);
}

int main(int argc, char **argv)
{
	int cycles = argc > 1 ? atoi(argv[1]) : 50;
	size_t n = TL_TEST_UNDER_ASAN ? 15000 : 40000;
	item_t *stream = build_stream(n);
	size_t invalid = 0;
	for (size_t i = 0; i < n; i++)
		invalid += !stream[i].valid;

	char ref[256], dir[256];
	lt_tmpdir(ref, sizeof(ref), "crash-ref");
	lt_tmpdir(dir, sizeof(dir), "crash");
	apply_stream(ref, stream, n, -1, true); /* also proves the model right */
	lt_verify_ok(ref);

	bool *acked = calloc(n, sizeof(*acked));
	CHECK(acked);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	size_t durable = 0; /* valid commands durable after the last cycle */
	int killed_mid = 0;
	for (int cycle = 0; cycle < cycles; cycle++) {
		int fds[2];
		CHECK(pipe(fds) == 0);
		/* Room for every ack, so that a child never blocks on a parent that sleeps. */
		CHECK(fcntl(fds[1], F_SETPIPE_SZ, (int)(n * sizeof(uint32_t))) >= (int)(n * 4));
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			apply_stream(dir, stream, n, fds[1], false);
			_exit(0);
		}
		close(fds[1]);
		/* Most kills land once the child has acked a random number of commands, so they
		 * fall all along the stream, in the middle of group commits; one cycle in ten is
		 * killed within 3 ms instead, while it opens the ledger or starts its first batch.
		 */
		size_t total = n - invalid, fresh = total - durable; /* valid, not yet durable */
		size_t count = 0;
		size_t target = fresh ? durable + 1 + (size_t)rand() % (fresh / 12 + 1)
		                      : (size_t)rand() % total; /* then: among the duplicates */
		if (target >= total)
			target = total - 1;
		uint32_t idx;
		if (cycle % 10 == 9) {
			struct timespec d = {0, (rand() % 3000) * 1000L};
			nanosleep(&d, NULL);
			kill(pid, SIGKILL);
		}
		while (read(fds[0], &idx, sizeof(idx)) == sizeof(idx)) {
			CHECK(idx < n);
			acked[idx] = true;
			if (++count == target)
				kill(pid, SIGKILL); /* the acks already in the pipe still count */
		}
		kill(pid, SIGKILL);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		close(fds[0]);
		killed_mid += WIFSIGNALED(status);

		/* reopen for writing (the restart path), then check from the outside */
		tl_ledger_port_t *port;
		tl_ledger_t *l = lt_open(dir, NULL, &port);
		tl_ledger_close(l);
		lt_verify_ok(dir);
		raw_t r;
		raw_open(&r, dir);
		size_t present = 0;
		for (size_t i = 0; i < n; i++) {
			bool has = raw_has_key(&r, stream[i].cmd.key);
			if (acked[i] && !has) {
				fprintf(stderr, "cycle %d: command %zu was acked but is missing\n",
				        cycle, i);
				exit(1);
			}
			CHECK(!(has && !stream[i].valid));
			present += has;
		}
		raw_close(&r);
		durable = present;
		fprintf(stderr, "cycle %2d: %zu acks before the kill, %zu commands durable\n",
		        cycle, count, present);
	}
	/* Every child but one whose kill raced its very last ack must have died by the kill. */
	CHECK(killed_mid >= cycles - 2);

	/* run to the end, then it must be the single clean application, exactly */
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		apply_stream(dir, stream, n, fds[1], true);
		_exit(0);
	}
	close(fds[1]);
	size_t count = 0;
	uint32_t idx;
	while (read(fds[0], &idx, sizeof(idx)) == sizeof(idx))
		count++;
	close(fds[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(count, n - invalid);
	lt_verify_ok(dir);
	compare(dir, ref);

	printf("test_ledger_crash: ok: %d kill cycles over a %zu-command stream (%zu invalid); "
	       "%zu commands durable before the final run\n",
	       cycles, n, invalid, durable);
	lt_rmtree(dir);
	lt_rmtree(ref);
	free(acked);
	free(stream);
	return 0;
}
