/*
 * test_ledger_cmds.c: every command and its rejections, duplicates, atomicity of commands
 * that write several entries, restart, schema checks, the writer lock, map growth, the
 * durability modes, and that verify catches a tampered journal. Through the real ledger
 * thread and a real LMDB on disk.
 */
#include "ledger_test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sys/stat.h>

#define BTC(x) (x) /* amounts in units are written out, for reading the checks */

static tl_ledger_t *L;
static tl_ledger_port_t *P;

static void expect_applied(tl_ledger_cmd_t c)
{
	tl_ledger_ack_t a = lt_call(P, c);
	if (a.status != TL_LEDGER_APPLIED)
		fprintf(stderr, "%s: status %s reason %s\n", c.key, tl_ledger_status_name(a.status),
		        tl_ledger_reason_name(a.reason));
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
}

/* A rejection must carry the reason and change nothing at all. */
static void expect_rejected(tl_ledger_cmd_t c, tl_ledger_reason_t reason)
{
	uint64_t seq = tl_ledger_last_seq(L);
	tl_ledger_balance_t before[4] = {lt_balance(L, "mm", "BTC"), lt_balance(L, "mm", "USDT"),
	                                 lt_balance(L, "user", "BTC"),
	                                 lt_balance(L, "user", "USDT")};
	tl_ledger_ack_t a = lt_call(P, c);
	if (a.status != TL_LEDGER_REJECTED || a.reason != reason)
		fprintf(stderr, "%s: status %s reason %s, expected %s\n", c.key,
		        tl_ledger_status_name(a.status), tl_ledger_reason_name(a.reason),
		        tl_ledger_reason_name(reason));
	CHECK_EQ(a.status, TL_LEDGER_REJECTED);
	CHECK_EQ(a.reason, reason);
	CHECK_EQ(a.seq, 0);
	CHECK_EQ(tl_ledger_last_seq(L), seq);
	tl_ledger_balance_t after[4] = {lt_balance(L, "mm", "BTC"), lt_balance(L, "mm", "USDT"),
	                                lt_balance(L, "user", "BTC"),
	                                lt_balance(L, "user", "USDT")};
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(after[i].available, before[i].available);
		CHECK_EQ(after[i].locked, before[i].locked);
	}
}

static tl_ledger_cmd_t trade(const char *key, tl_ledger_side_t side, const char *price,
                             const char *qty, const char *fee, const char *fee_asset,
                             uint64_t order, bool final)
{
	tl_ledger_cmd_t c = lt_cmd(TL_LEDGER_TRADE_SETTLE, key, "mm", "BTC", NULL);
	snprintf(c.quote, sizeof(c.quote), "USDT");
	c.side = (uint8_t)side;
	c.price = lt_dec(price);
	c.qty = lt_dec(qty);
	if (fee) {
		c.fee = lt_dec(fee);
		snprintf(c.fee_asset, sizeof(c.fee_asset), "%s", fee_asset);
	}
	c.order = order;
	c.flags = final ? TL_LEDGER_FLAG_FINAL : 0;
	return c;
}

static void test_decimals(void)
{
	tl_ledger_dec_t d;
	int64_t u;
	CHECK(tl_ledger_dec_parse("1.50", 4, &d) == 0 && d.mantissa == 15 && d.scale == 1);
	CHECK(tl_ledger_dec_parse("-0.00000001", 11, &d) == 0 && d.mantissa == -1 && d.scale == 8);
	CHECK(tl_ledger_dec_parse("0", 1, &d) == 0 && d.mantissa == 0 && d.scale == 0);
	CHECK(tl_ledger_dec_parse("0.000", 5, &d) == 0 && d.mantissa == 0 && d.scale == 0);
	CHECK(tl_ledger_dec_parse("9223372036854775807", 19, &d) == 0 && d.mantissa == INT64_MAX);
	CHECK(tl_ledger_dec_parse("9223372036854775808", 19, &d) == -ERANGE);
	CHECK(tl_ledger_dec_parse("0.0000000000000000001", 21, &d) == -ERANGE);
	CHECK(tl_ledger_dec_parse("1.000000000000000000000", 23, &d) == 0 && d.mantissa == 1);
	const char *bad[] = {"", "-", ".5", "5.", "1.2.3", "1e5", "+1", " 1", "1 ", "0x10", "--1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(tl_ledger_dec_parse(bad[i], strlen(bad[i]), &d) == -EINVAL);
	CHECK(tl_ledger_dec_to_units(lt_dec("1.5"), 8, &u) == 0 && u == 150000000);
	CHECK(tl_ledger_dec_to_units(lt_dec("0.000000001"), 8, &u) == TL_LEDGER_R_PRECISION);
	CHECK(tl_ledger_dec_to_units(lt_dec("92233720368.54775807"), 8, &u) == 0);
	CHECK(tl_ledger_dec_parse("92233720368.54775808", 20, &d) == -ERANGE);
	CHECK(tl_ledger_dec_to_units(lt_dec("100000000000"), 8, &u) == TL_LEDGER_R_OVERFLOW);
	char buf[48];
	tl_ledger_units_format(-150000000, 8, buf, sizeof(buf));
	CHECK(strcmp(buf, "-1.50000000") == 0);
	tl_ledger_units_format(INT64_MIN, 0, buf, sizeof(buf));
	CHECK(strcmp(buf, "-9223372036854775808") == 0);
}

static void test_commands(void)
{
	/* registry */
	expect_applied(lt_asset("BTC", 8));
	expect_applied(lt_asset("USDT", 6));
	expect_applied(lt_account("mm"));
	expect_applied(lt_account("user"));
	uint8_t dec;
	uint32_t id;
	CHECK(tl_ledger_asset_find(L, "USDT", &id, &dec) == 0 && id == 2 && dec == 6);
	CHECK(tl_ledger_asset_find(L, "ETH", &id, &dec) == -ENOENT);

	/* money in: every pair starts existing so that expect_rejected can read it */
	expect_applied(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:1", "mm", "BTC", "2"));
	expect_applied(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:2", "mm", "USDT", "100000"));
	expect_applied(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:3", "user", "BTC", "0.5"));
	expect_applied(lt_cmd(TL_LEDGER_REWARD_CREDIT, "rew:1", "user", "USDT", "12.345678"));
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, BTC(200000000));
	CHECK_EQ(lt_balance(L, "user", "USDT").available, 12345678);

	/* registry rejections */
	tl_ledger_cmd_t c = lt_asset("BTC", 8);
	snprintf(c.key, sizeof(c.key), "asset:BTC:again");
	expect_rejected(c, TL_LEDGER_R_EXISTS);
	c = lt_asset("ETH", 19);
	expect_rejected(c, TL_LEDGER_R_BAD_DECIMALS);
	c = lt_asset("B TC", 8);
	expect_rejected(c, TL_LEDGER_R_BAD_NAME);
	c = lt_account("mm");
	snprintf(c.key, sizeof(c.key), "account:mm:again");
	expect_rejected(c, TL_LEDGER_R_EXISTS);

	/* the bad-input list of the issue, each rejected with a code and never applied */
	c = lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:1", "mm", "BTC", "1");
	c.type = 999;
	expect_rejected(c, TL_LEDGER_R_UNKNOWN_TYPE);
	c.type = TL_LEDGER_CMD_NONE;
	expect_rejected(c, TL_LEDGER_R_UNKNOWN_TYPE);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "", "mm", "BTC", "1"),
	                TL_LEDGER_R_MISSING_KEY);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:2", "mm", "BTC", "-1"),
	                TL_LEDGER_R_NOT_POSITIVE);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:3", "mm", "BTC", "0"),
	                TL_LEDGER_R_NOT_POSITIVE);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:4", "mm", "ETH", "1"),
	                TL_LEDGER_R_UNKNOWN_ASSET);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:5", "mm", "BTC", "0.000000001"),
	                TL_LEDGER_R_PRECISION);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:6", "nobody", "BTC", "1"),
	                TL_LEDGER_R_UNKNOWN_ACCOUNT);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:7", "mm", "", "1"),
	                TL_LEDGER_R_UNKNOWN_ASSET);
	expect_rejected(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:8", "mm", "BTC", "92233720368"),
	                TL_LEDGER_R_OVERFLOW);
	c = lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:9", "mm", "BTC", "1");
	memset(c.key, 'k', sizeof(c.key)); /* no NUL: a malformed field, not a crash */
	expect_rejected(c, TL_LEDGER_R_BAD_FIELD);
	c = lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "bad:10", "mm", "BTC", "1");
	c.amount.scale = 40;
	expect_rejected(c, TL_LEDGER_R_BAD_FIELD);

	/* money out */
	expect_applied(lt_cmd(TL_LEDGER_WITHDRAW_DEBIT, "wd:1", "user", "BTC", "0.1"));
	CHECK_EQ(lt_balance(L, "user", "BTC").available, 40000000);
	expect_rejected(lt_cmd(TL_LEDGER_WITHDRAW_DEBIT, "wd:2", "user", "BTC", "0.40000001"),
	                TL_LEDGER_R_INSUFFICIENT);
	expect_applied(lt_cmd(TL_LEDGER_FEE_DEBIT, "fee:1", "user", "USDT", "0.345678"));
	CHECK_EQ(lt_balance(L, "user", "USDT").available, 12000000);
	expect_rejected(lt_cmd(TL_LEDGER_FEE_DEBIT, "fee:2", "user", "USDT", "12.000001"),
	                TL_LEDGER_R_INSUFFICIENT);

	/* transfer: two entries, conserved; a failing one moves nothing */
	/* no `to`: an unknown account */
	expect_rejected(lt_cmd(TL_LEDGER_TRANSFER, "tr:1", "mm", "USDT", "1000"),
	                TL_LEDGER_R_UNKNOWN_ACCOUNT);
	tl_ledger_cmd_t t = lt_cmd(TL_LEDGER_TRANSFER, "tr:2", "mm", "USDT", "1000");
	snprintf(t.account_to, sizeof(t.account_to), "user");
	tl_ledger_ack_t a = lt_call(P, t);
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a.entry_count, 2);
	CHECK_EQ(a.balance_count, 2);
	CHECK_EQ(lt_balance(L, "mm", "USDT").available, 99000000000);
	CHECK_EQ(lt_balance(L, "user", "USDT").available, 1012000000);
	t = lt_cmd(TL_LEDGER_TRANSFER, "tr:3", "user", "USDT", "1012.000001");
	snprintf(t.account_to, sizeof(t.account_to), "mm");
	expect_rejected(t, TL_LEDGER_R_INSUFFICIENT);
	snprintf(t.account_to, sizeof(t.account_to), "user");
	expect_rejected(t, TL_LEDGER_R_SAME_ACCOUNT);

	/* adjustment: signed, needs a reason */
	c = lt_cmd(TL_LEDGER_ADJUSTMENT, "adj:1", "user", "USDT", "-2");
	expect_rejected(c, TL_LEDGER_R_MISSING_REASON);
	snprintf(c.reason, sizeof(c.reason), "venue snapshot differs by 2 USDT");
	expect_applied(c);
	CHECK_EQ(lt_balance(L, "user", "USDT").available, 1010000000);
	c = lt_cmd(TL_LEDGER_ADJUSTMENT, "adj:2", "user", "USDT", "-1010.000001");
	snprintf(c.reason, sizeof(c.reason), "too much");
	expect_rejected(c, TL_LEDGER_R_INSUFFICIENT);
	c = lt_cmd(TL_LEDGER_ADJUSTMENT, "adj:3", "user", "USDT", "0");
	snprintf(c.reason, sizeof(c.reason), "nothing");
	expect_rejected(c, TL_LEDGER_R_NOT_POSITIVE);

	/* lock and unlock, plain and for an order */
	expect_applied(lt_cmd(TL_LEDGER_LOCK, "lk:1", "mm", "BTC", "0.5"));
	tl_ledger_balance_t b = lt_balance(L, "mm", "BTC");
	CHECK_EQ(b.available, 150000000);
	CHECK_EQ(b.locked, 50000000);
	expect_rejected(lt_cmd(TL_LEDGER_LOCK, "lk:2", "mm", "BTC", "1.50000001"),
	                TL_LEDGER_R_INSUFFICIENT);
	expect_applied(lt_cmd(TL_LEDGER_UNLOCK, "ul:1", "mm", "BTC", "0.5"));
	expect_rejected(lt_cmd(TL_LEDGER_UNLOCK, "ul:2", "mm", "BTC", "0.00000001"),
	                TL_LEDGER_R_INSUFFICIENT);
	c = lt_cmd(TL_LEDGER_LOCK, "lk:o1", "mm", "USDT", "6000.5");
	c.order = 1;
	expect_applied(c);
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o1", "mm", "USDT", "6000.500001");
	c.order = 1;
	expect_rejected(c, TL_LEDGER_R_NO_RESERVATION);
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o1b", "mm", "BTC", "1");
	c.order = 1;
	expect_rejected(c, TL_LEDGER_R_ORDER_MISMATCH);
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o2", "mm", "USDT", "1");
	c.order = 2;
	expect_rejected(c, TL_LEDGER_R_NO_RESERVATION);
	/* a plain unlock may not take what an order has reserved */
	expect_rejected(lt_cmd(TL_LEDGER_UNLOCK, "ul:3", "mm", "USDT", "0.000001"),
	                TL_LEDGER_R_INSUFFICIENT);

	/* trade settle: a buy against order 1's reservation, partially then finally */
	a = lt_call(P,
	            trade("tr:b1", TL_LEDGER_BUY, "60000.10", "0.05", "0.00005", "BTC", 1, false));
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a.entry_count, 3);
	b = lt_balance(L, "mm", "USDT");
	CHECK_EQ(b.locked, 6000500000 - 3000005000); /* 60000.10 x 0.05 = 3000.005 */
	CHECK_EQ(b.available, 99000000000 - 6000500000);
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, 200000000 + 5000000 - 5000);
	a = lt_call(P, trade("tr:b2", TL_LEDGER_BUY, "60000.10", "0.05", NULL, NULL, 1, true));
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a.entry_count, 3); /* spend, credit, release of the rest */
	b = lt_balance(L, "mm", "USDT");
	CHECK_EQ(b.locked, 0);
	CHECK_EQ(b.available, 99000000000 - 6000010000);
	/* the order's reservation is gone */
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o1c", "mm", "USDT", "0.000001");
	c.order = 1;
	expect_rejected(c, TL_LEDGER_R_NO_RESERVATION);

	/* a sell with no reservation spends available */
	a = lt_call(P, trade("tr:s1", TL_LEDGER_SELL, "61000", "0.1", "0.5", "USDT", 0, false));
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, 209995000 - 10000000);
	CHECK_EQ(lt_balance(L, "mm", "USDT").available,
	         99000000000 - 6000010000 + 6100000000 - 500000);

	/* trade rejections */
	expect_rejected(trade("tr:x1", 3, "1", "1", NULL, NULL, 0, false), TL_LEDGER_R_BAD_SIDE);
	expect_rejected(
	    trade("tr:x2", TL_LEDGER_BUY, "0.0000001", "0.00000001", NULL, NULL, 0, false),
	    TL_LEDGER_R_INEXACT);
	expect_rejected(trade("tr:x3", TL_LEDGER_BUY, "1", "0.000000001", NULL, NULL, 0, false),
	                TL_LEDGER_R_PRECISION);
	expect_rejected(trade("tr:x4", TL_LEDGER_BUY, "-1", "1", NULL, NULL, 0, false),
	                TL_LEDGER_R_NOT_POSITIVE);
	expect_rejected(
	    trade("tr:x5", TL_LEDGER_BUY, "1000000000000", "1000", NULL, NULL, 0, false),
	    TL_LEDGER_R_OVERFLOW);
	expect_rejected(trade("tr:x6", TL_LEDGER_SELL, "1", "1", "1", "ETH", 0, false),
	                TL_LEDGER_R_UNKNOWN_ASSET);
	/* atomicity: spend and credit would pass, the fee leg fails, so nothing happens */
	expect_rejected(trade("tr:x7", TL_LEDGER_BUY, "100", "0.01", "5", "BTC", 0, false),
	                TL_LEDGER_R_INSUFFICIENT);
	/* buying more than all the USDT there is */
	expect_rejected(trade("tr:x8", TL_LEDGER_BUY, "100000", "10", NULL, NULL, 0, false),
	                TL_LEDGER_R_INSUFFICIENT);
	/* an order reserving BTC cannot pay for a buy (USDT) */
	c = lt_cmd(TL_LEDGER_LOCK, "lk:o3", "mm", "BTC", "0.1");
	c.order = 3;
	expect_applied(c);
	expect_rejected(trade("tr:x9", TL_LEDGER_BUY, "100", "0.01", NULL, NULL, 3, false),
	                TL_LEDGER_R_ORDER_MISMATCH);

	/* UNLOCK with FINAL releases whatever the order still has reserved, whatever the
	 * amount says; then nothing remains to release. A fill settled after it spends from
	 * available instead. */
	c = lt_cmd(TL_LEDGER_LOCK, "lk:o4", "mm", "BTC", "0.1");
	c.order = 4;
	expect_applied(c);
	b = lt_balance(L, "mm", "BTC");
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o4f", "mm", "USDT", "0");
	c.order = 4;
	c.flags = TL_LEDGER_FLAG_FINAL;
	expect_rejected(c, TL_LEDGER_R_ORDER_MISMATCH); /* order 4 reserved BTC */
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o4f", "mm", "BTC", "0");
	c.order = 4;
	c.flags = TL_LEDGER_FLAG_FINAL;
	a = lt_call(P, c);
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a.entry_count, 1);
	CHECK_EQ(lt_balance(L, "mm", "BTC").locked, b.locked - 10000000);
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, b.available + 10000000);
	c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o4g", "mm", "BTC", "0");
	c.order = 4;
	c.flags = TL_LEDGER_FLAG_FINAL;
	expect_rejected(c, TL_LEDGER_R_NO_RESERVATION);
	c.order = 0;
	expect_rejected(c, TL_LEDGER_R_BAD_FIELD); /* FINAL needs an order */
	a = lt_call(P, trade("tr:s4", TL_LEDGER_SELL, "100", "0.01", NULL, NULL, 4, false));
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, b.available + 10000000 - 1000000);
}

static void test_duplicates(void)
{
	tl_ledger_balance_t before = lt_balance(L, "mm", "BTC");
	uint64_t seq = tl_ledger_last_seq(L);
	/* the same key with other fields: still the original, nothing changes */
	tl_ledger_ack_t a =
	    lt_call(P, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:1", "mm", "BTC", "99"));
	CHECK_EQ(a.status, TL_LEDGER_DUPLICATE);
	CHECK_EQ(a.seq, 5); /* dep:1 was the fifth entry */
	CHECK_EQ(a.entry_count, 1);
	CHECK_EQ(a.balance_count, 1);
	CHECK_EQ(a.balances[0].available, before.available);
	a = lt_call(P, trade("tr:b1", TL_LEDGER_BUY, "1", "1", NULL, NULL, 0, false));
	CHECK_EQ(a.status, TL_LEDGER_DUPLICATE);
	CHECK_EQ(a.entry_count, 3);
	CHECK_EQ(tl_ledger_last_seq(L), seq);
	CHECK_EQ(lt_balance(L, "mm", "BTC").available, before.available);
	/* a rejected key is not consumed: it applies once its cause is fixed */
	a = lt_call(P, lt_cmd(TL_LEDGER_WITHDRAW_DEBIT, "wd:retry", "user", "BTC", "1"));
	CHECK_EQ(a.status, TL_LEDGER_REJECTED);
	expect_applied(lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:retry", "user", "BTC", "1"));
	expect_applied(lt_cmd(TL_LEDGER_WITHDRAW_DEBIT, "wd:retry", "user", "BTC", "1"));
	/* duplicates inside one batch: submit the same key twice without waiting */
	tl_ledger_cmd_t c = lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:batch", "user", "USDT", "1");
	CHECK(tl_ledger_submit(P, &c));
	CHECK(tl_ledger_submit(P, &c));
	tl_ledger_ack_t a1, a2;
	while (!tl_ledger_poll_ack(P, &a1))
		;
	while (!tl_ledger_poll_ack(P, &a2))
		;
	CHECK_EQ(a1.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a2.status, TL_LEDGER_DUPLICATE);
	CHECK_EQ(a2.seq, a1.seq);
}

/*
 * Duplicates of keys still in flight. The ledger applies the next batch while the one
 * before is being committed, and its idempotency index on disk cannot show keys that are
 * not committed yet. A stream submitted without waiting, where every 5th command repeats
 * the key of a command 1 to 499 places before it: each repeat must be acked DUPLICATE with
 * its original's sequence number, and the balance must hold each key's deposit once.
 */
static void test_duplicates_in_flight(void)
{
	enum { N = 30000 };
	static uint64_t first_seq[N]; /* by key number: the seq its APPLIED ack gave */
	uint64_t key_of[N];
	tl_ledger_stats_t before, after;
	tl_ledger_balance_t start = lt_balance(L, "user", "USDT");
	uint64_t sent = 0, got = 0, unique = 0, dups = 0;

	tl_ledger_stats(L, &before);
	for (uint64_t i = 0; i < N; i++)
		key_of[i] = (i % 5 == 4 && i >= 500) ? key_of[i - 1 - (i * 7919) % 499] : i;
	while (got < N) {
		if (sent < N) {
			char key[32];
			snprintf(key, sizeof(key), "pd:%" PRIu64, key_of[sent]);
			tl_ledger_cmd_t c =
			    lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, key, "user", "USDT", "1");
			c.token = sent;
			if (tl_ledger_submit(P, &c)) {
				sent++;
				continue;
			}
		}
		tl_ledger_ack_t a;
		if (!tl_ledger_poll_ack(P, &a))
			continue;
		CHECK_EQ(a.token, got);
		uint64_t k = key_of[got];
		if (k == got) {
			CHECK_EQ(a.status, TL_LEDGER_APPLIED);
			first_seq[k] = a.seq;
			unique++;
		} else {
			CHECK_EQ(a.status, TL_LEDGER_DUPLICATE);
			CHECK_EQ(a.seq, first_seq[k]);
			dups++;
		}
		got++;
	}
	tl_ledger_stats(L, &after);
	/* 1 USDT is 10^6 units (6 decimals) */
	CHECK_EQ(lt_balance(L, "user", "USDT").available,
	         start.available + (int64_t)unique * 1000000);
	/* the path under test was taken: some repeats found their key still in flight */
	CHECK(after.key_waits > before.key_waits);
	/* and, 30,000 commands in a few hundred batches, the ledger thread applied while a
	 * commit was in flight and gave way to the committer then */
	CHECK(after.committer_yields > before.committer_yields);
	printf("duplicates in flight: %" PRIu64 " repeats of %" PRIu64 " commands, %" PRIu64
	       " of them waited for their key to land, in %" PRIu64 " commits (%" PRIu64
	       " yields to the committer)\n",
	       dups, (uint64_t)N, after.key_waits - before.key_waits,
	       after.commits - before.commits, after.committer_yields - before.committer_yields);
}

/* Reads the whole data file, to prove a refused open wrote nothing. */
static size_t slurp(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	CHECK(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc((size_t)n);
	CHECK(*out && fread(*out, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	return (size_t)n;
}

static void set_schema(const char *dir, uint32_t version)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
	uint8_t v[4] = {(uint8_t)version, (uint8_t)(version >> 8), 0, 0};
	MDB_val k = {strlen("schema_version"), "schema_version"}, val = {4, v};
	CHECK(mdb_put(txn, dbi, &k, &val, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
}

static void test_schema_and_lock(const char *dir)
{
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.dir = dir;
	tl_ledger_t *other;
	/* the writer lock: L is still open */
	CHECK_EQ(tl_ledger_open(&other, &cfg), -EBUSY);
	tl_ledger_close(L);
	L = NULL;

	set_schema(dir, 2);
	char path[512], *before, *after;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	size_t n1 = slurp(path, &before);
	CHECK_EQ(tl_ledger_open(&other, &cfg), TL_E_SCHEMA);
	tl_ledger_verify_report_t rep;
	CHECK_EQ(tl_ledger_verify(dir, NULL, &rep), TL_E_SCHEMA);
	size_t n2 = slurp(path, &after);
	CHECK(n1 == n2 && memcmp(before, after, n1) == 0);
	free(before);
	free(after);
	set_schema(dir, 1);

	/* some other LMDB database is not a ledger */
	char foreign[256];
	lt_tmpdir(foreign, sizeof(foreign), "foreign");
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	CHECK(mdb_env_create(&env) == 0);
	CHECK(mdb_env_open(env, foreign, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, NULL, 0, &dbi) == 0);
	MDB_val k = {3, "abc"}, v = {3, "def"};
	CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	cfg.dir = foreign;
	CHECK_EQ(tl_ledger_open(&other, &cfg), TL_E_NOT_LEDGER);
	lt_rmtree(foreign);
	/* a directory with no ledger, read-only */
	CHECK_EQ(tl_ledger_verify("/var/tmp/tally-does-not-exist", NULL, &rep), -ENOENT);
}

static void test_restart(const char *dir)
{
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, NULL, &p);
	uint64_t seq = tl_ledger_last_seq(l);
	CHECK(seq > 0);
	tl_ledger_balance_t b = lt_balance(l, "mm", "USDT");
	CHECK_EQ(b.locked, 0);
	CHECK_EQ(lt_balance(l, "mm", "BTC").locked, 10000000); /* order 3's reservation */
	/* the reservation survived the restart: it can be unlocked by its order */
	tl_ledger_cmd_t c = lt_cmd(TL_LEDGER_UNLOCK, "ul:o3", "mm", "BTC", "0.1");
	c.order = 3;
	tl_ledger_ack_t a = lt_call(p, c);
	CHECK_EQ(a.status, TL_LEDGER_APPLIED);
	CHECK_EQ(a.seq, seq + 1); /* the sequence continues */
	a = lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "dep:1", "mm", "BTC", "1"));
	CHECK_EQ(a.status, TL_LEDGER_DUPLICATE); /* keys survive too */
	tl_ledger_close(l);
	lt_verify_ok(dir);
}

/* tl_ledger_history_bounds: the newest entry naming an order, the first entry's time. */
static void test_history_bounds(void)
{
	char dir[256];
	tl_ledger_config_t cfg;
	tl_ledger_t *l;
	tl_ledger_port_t *p;
	uint64_t order = 1;
	int64_t first_ms = 1;

	lt_tmpdir(dir, sizeof(dir), "bounds");
	tl_ledger_config_default(&cfg);
	cfg.dir = dir;
	CHECK_EQ(tl_ledger_open(&l, &cfg), 0);
	CHECK_EQ(tl_ledger_history_bounds(l, &order, &first_ms), 0);
	CHECK_EQ(order, 0); /* an empty journal */
	CHECK_EQ(first_ms, 0);
	CHECK_EQ(tl_ledger_port_attach(l, 64, &p), 0);
	CHECK_EQ(tl_ledger_start(l), 0);
	CHECK_EQ(tl_ledger_history_bounds(l, &order, &first_ms), -EBUSY);

	tl_ledger_cmd_t c = lt_asset("USDT", 8);
	c.ts_ms = 1600000000123;
	CHECK_EQ(lt_call(p, c).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_asset("BTC", 8)).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_account("mm")).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "d1", "mm", "USDT", "100")).status,
	         TL_LEDGER_APPLIED);
	tl_ledger_stop(l);
	CHECK_EQ(tl_ledger_history_bounds(l, &order, &first_ms), 0);
	CHECK_EQ(order, 0); /* no entry names an order yet */
	CHECK_EQ(first_ms, 1600000000123);

	CHECK_EQ(tl_ledger_start(l), 0);
	const uint64_t orders[] = {41, 99, 57}; /* the newest counts, not the largest */
	for (int i = 0; i < 3; i++) {
		char key[32];
		snprintf(key, sizeof(key), "lock:%d", i);
		c = lt_cmd(TL_LEDGER_LOCK, key, "mm", "USDT", "1");
		c.order = orders[i];
		CHECK_EQ(lt_call(p, c).status, TL_LEDGER_APPLIED);
	}
	/* entries after it that name no order are stepped over */
	CHECK_EQ(lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "d2", "mm", "BTC", "1")).status,
	         TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "d3", "mm", "USDT", "1")).status,
	         TL_LEDGER_APPLIED);
	tl_ledger_stop(l);
	CHECK_EQ(tl_ledger_history_bounds(l, &order, &first_ms), 0);
	CHECK_EQ(order, 57);
	CHECK_EQ(first_ms, 1600000000123);
	tl_ledger_close(l);
	lt_rmtree(dir);
}

/* Flips one byte of a journal entry's amount: verify must notice. */
static void test_tamper(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "entries", 0, &dbi) == 0);
	uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 5};
	MDB_val k = {8, key}, v;
	CHECK(mdb_get(txn, dbi, &k, &v) == 0);
	uint8_t copy[512];
	CHECK(v.mv_size <= sizeof(copy));
	memcpy(copy, v.mv_data, v.mv_size);
	copy[24] ^= 1; /* d_available */
	v.mv_data = copy;
	CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	tl_ledger_verify_report_t rep;
	CHECK(tl_ledger_verify(dir, NULL, &rep) == 0);
	CHECK(rep.problems >= 2); /* the hash chain, and the balance it changed */
}

/* A deposit of one unit under a long key: command i of the growth test. */
static tl_ledger_cmd_t grow_cmd(uint64_t i, void *ctx)
{
	char key[64];

	(void)ctx;
	snprintf(key, sizeof(key), "grow-key-with-some-length-%06llu", (unsigned long long)i);
	return lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, key, "a", "BTC", "0.00000001");
}

static void test_modes_and_growth(void)
{
	const tl_ledger_durability_t modes[] = {TL_LEDGER_NOMETASYNC, TL_LEDGER_PERIODIC};
	for (int m = 0; m < 2; m++) {
		char dir[256];
		lt_tmpdir(dir, sizeof(dir), "mode");
		tl_ledger_config_t cfg;
		tl_ledger_config_default(&cfg);
		cfg.durability = modes[m];
		cfg.sync_period_ms = 5;
		/* a tiny map, so that a few thousand commands must grow it */
		cfg.map_initial_bytes = 256 << 10;
		tl_ledger_port_t *p;
		tl_ledger_t *l = lt_open(dir, &cfg, &p);
		CHECK_EQ(lt_call(p, lt_asset("BTC", 8)).status, TL_LEDGER_APPLIED);
		CHECK_EQ(lt_call(p, lt_account("a")).status, TL_LEDGER_APPLIED);
		enum { N = 6000 };
		lt_stream(p, N, grow_cmd, NULL);
		CHECK_EQ(lt_balance(l, "a", "BTC").available, N);
		tl_ledger_stats_t st;
		tl_ledger_stats(l, &st);
		CHECK(st.map_grows > 0);
		CHECK(st.commits < st.commands); /* batches formed */
		/* Every commit's time in LMDB's commit is recorded, and only those. */
		tl_hist_summary_t commit;
		tl_hist_summary(tl_ledger_commit_hist(l), &commit);
		CHECK_EQ(commit.count, st.commits);
		CHECK(commit.min > 0 && commit.p50 >= commit.min && commit.max >= commit.p99);
		tl_ledger_close(l);
		lt_verify_ok(dir);
		lt_rmtree(dir);
	}
	tl_ledger_durability_t d;
	CHECK(tl_ledger_durability_parse("periodic", &d) == 0 && d == TL_LEDGER_PERIODIC);
	CHECK(tl_ledger_durability_parse("sometimes", &d) == -EINVAL);
}

/* Applies 2 x ORDERS commands to a fresh ledger as fast as it takes them: LOCK then UNLOCK
 * of each order (churn), or as many deposits. Returns the pages the file holds after. */
enum { CHURN_ORDERS = 3000 };

/* Command i: LOCK (even i) or UNLOCK of order i/2 + 1, or with *ctx false a deposit. */
static tl_ledger_cmd_t churn_cmd(uint64_t i, void *ctx)
{
	bool churn = *(bool *)ctx, lock = i % 2 == 0;
	uint64_t order = i / 2 + 1;
	char key[64];

	snprintf(key, sizeof(key), "%s:%llu", lock ? "lock" : "unlock", (unsigned long long)order);
	tl_ledger_cmd_t c = lt_cmd(!churn ? TL_LEDGER_DEPOSIT_CREDIT
	                           : lock ? TL_LEDGER_LOCK
	                                  : TL_LEDGER_UNLOCK,
	                           key, "mm", "USDT", "1");
	c.order = churn ? order : 0;
	return c;
}
static size_t churn_pages(bool churn)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "churn");
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, NULL, &p);
	CHECK_EQ(lt_call(p, lt_asset("USDT", 6)).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_account("mm")).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "d", "mm", "USDT", "1000")).status,
	         TL_LEDGER_APPLIED);
	lt_stream(p, 2 * CHURN_ORDERS, churn_cmd, &churn);
	tl_ledger_stats_t st;
	tl_ledger_stats(l, &st);
	tl_ledger_close(l);
	lt_verify_ok(dir);

	MDB_env *env;
	MDB_envinfo info;
	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	CHECK(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
	CHECK(mdb_env_info(env, &info) == 0);
	mdb_env_close(env);
	lt_rmtree(dir);
	fprintf(stderr, "%s: %d x 2 commands in %llu commits, %zu pages in the file\n",
	        churn ? "order churn" : "deposits", CHURN_ORDERS, (unsigned long long)st.commits,
	        (size_t)info.me_last_pgno + 1);
	return (size_t)info.me_last_pgno + 1;
}

/* Orders that come and go within one batch (LOCK, then UNLOCK) must cost no more pages
 * than as many deposits: LMDB gives a tree that went empty a fresh root page at its next
 * put, and without the sentinel in `orders` the churn took 789 pages here against 316
 * (one run, 15 commits). Counted in pages, so no timing is involved. */
static void test_order_churn(void)
{
	size_t base = churn_pages(false), churn = churn_pages(true);
	CHECK(churn < base + 200);
}

int main(void)
{
	test_decimals();
	test_order_churn();
	test_history_bounds();
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "cmds");
	L = lt_open(dir, NULL, &P);
	test_commands();
	test_duplicates();
	test_duplicates_in_flight();
	test_schema_and_lock(dir); /* closes L */
	lt_verify_ok(dir);
	test_restart(dir);
	test_tamper(dir);
	lt_rmtree(dir);
	test_modes_and_growth();
	printf("test_ledger_cmds: ok\n");
	return 0;
}
