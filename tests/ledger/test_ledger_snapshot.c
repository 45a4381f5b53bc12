/*
 * test_ledger_snapshot.c: readers on other threads see consistent balances, never blocking
 * the ledger. Built for TSan too (label `concurrent`).
 *
 * Each of PAIRS accounts holds TOTAL units of one asset; the producer moves random amounts
 * between available and locked (LOCK/UNLOCK), so available + locked stays TOTAL in every
 * committed state. Reader threads read every pair in a loop: a torn read (available from
 * one commit, locked from another) would break the sum. They also check that a pair's
 * last_seq never goes backwards, and that names registered meanwhile become visible.
 */
#include "ledger_test_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define PAIRS 32
#define TOTAL 1000000
#define READERS 2

static tl_ledger_t *L;
static uint32_t account_ids[PAIRS], asset_id;
static atomic_bool done;

struct reader {
	pthread_t thread;
	uint64_t reads, changes_seen;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t last[PAIRS] = {0};
	while (!atomic_load_explicit(&done, memory_order_acquire)) {
		for (int i = 0; i < PAIRS; i++) {
			tl_ledger_balance_t b;
			CHECK(tl_ledger_balance_read(L, account_ids[i], asset_id, &b) == 0);
			if (b.available + b.locked != TOTAL) {
				fprintf(stderr, "torn read: pair %d available %lld locked %lld\n",
				        i, (long long)b.available, (long long)b.locked);
				exit(1);
			}
			CHECK(b.available >= 0 && b.locked >= 0);
			CHECK(b.last_seq >= last[i]);
			r->changes_seen += b.last_seq != last[i];
			last[i] = b.last_seq;
			r->reads++;
		}
		uint32_t id;
		/* registry reads race with registrations; either answer is fine, a crash not */
		(void)tl_ledger_account_find(L, "late-account-7", &id);
		CHECK(tl_ledger_asset_find(L, "BTC", &id, NULL) == 0 && id == asset_id);
	}
	return NULL;
}

int main(void)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "snap");
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.durability = TL_LEDGER_NOMETASYNC; /* many commits, each still synced */
	tl_ledger_port_t *p;
	L = lt_open(dir, &cfg, &p);
	CHECK_EQ(lt_call(p, lt_asset("BTC", 8)).status, TL_LEDGER_APPLIED);
	CHECK(tl_ledger_asset_find(L, "BTC", &asset_id, NULL) == 0);
	for (int i = 0; i < PAIRS; i++) {
		char name[32], key[32];
		snprintf(name, sizeof(name), "a%d", i);
		CHECK_EQ(lt_call(p, lt_account(name)).status, TL_LEDGER_APPLIED);
		CHECK(tl_ledger_account_find(L, name, &account_ids[i]) == 0);
		snprintf(key, sizeof(key), "dep:%d", i);
		CHECK_EQ(
		    lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, key, name, "BTC", "0.01")).status,
		    TL_LEDGER_APPLIED);
	}

	struct reader readers[READERS] = {0};
	for (int i = 0; i < READERS; i++)
		CHECK(pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) == 0);

	/* the model: how much of each pair is locked */
	int64_t locked[PAIRS] = {0};
	uint64_t seed = 42;
	const uint64_t n = TL_TEST_UNDER_TSAN ? 20000 : 200000;
	uint64_t sent = 0, got = 0;
	tl_ledger_cmd_t c;
	bool have = false;
	while (got < n) {
		if (!have && sent < n) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			int i = (int)(seed % PAIRS);
			char name[32], key[32], amount[32];
			snprintf(name, sizeof(name), "a%d", i);
			snprintf(key, sizeof(key), "m:%llu", (unsigned long long)sent);
			bool lock = locked[i] < TOTAL / 2;
			int64_t units =
			    1 + (int64_t)((seed >> 20) % (lock ? TOTAL - locked[i] : locked[i]));
			tl_ledger_units_format(units, 8, amount, sizeof(amount));
			if (sent % 5000 == 0) {
				snprintf(name, sizeof(name), "late-account-%llu",
				         (unsigned long long)(sent / 5000));
				c = lt_account(name);
			} else {
				c = lt_cmd(lock ? TL_LEDGER_LOCK : TL_LEDGER_UNLOCK, key, name,
				           "BTC", amount);
				locked[i] += lock ? units : -units;
			}
			have = true;
		}
		if (have && tl_ledger_submit(p, &c)) {
			have = false;
			sent++;
			continue;
		}
		tl_ledger_ack_t a;
		if (tl_ledger_poll_ack(p, &a)) {
			CHECK_EQ(a.status, TL_LEDGER_APPLIED);
			got++;
		}
	}
	atomic_store_explicit(&done, true, memory_order_release);
	uint64_t reads = 0, changes = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(readers[i].thread, NULL);
		reads += readers[i].reads;
		changes += readers[i].changes_seen;
	}
	for (int i = 0; i < PAIRS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "a%d", i);
		CHECK_EQ(lt_balance(L, name, "BTC").locked, locked[i]);
	}
	CHECK(changes > 0); /* the readers really saw the balances move */
	tl_ledger_close(L);
	lt_verify_ok(dir);
	lt_rmtree(dir);
	printf(
	    "test_ledger_snapshot: ok: %llu consistent reads, %llu changes seen, %llu commands\n",
	    (unsigned long long)reads, (unsigned long long)changes, (unsigned long long)n);
	return 0;
}
