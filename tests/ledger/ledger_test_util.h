/*
 * ledger_test_util.h: what the ledger tests share: a scratch directory on disk, command
 * builders, and a ledger with one port.
 */
#ifndef LEDGER_TEST_UTIL_H
#define LEDGER_TEST_UTIL_H

#include "tl_ledger.h"
#include "tl_test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lt_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a directory tree. */
static inline void lt_rmtree(const char *dir)
{
	nftw(dir, lt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /var/tmp (disk, so fsync means something). */
static inline void lt_tmpdir(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "/var/tmp/tally-%s.XXXXXX", tag);
	CHECK(mkdtemp(buf) != NULL);
}

static inline tl_ledger_dec_t lt_dec(const char *s)
{
	tl_ledger_dec_t d;
	CHECK(tl_ledger_dec_parse(s, strlen(s), &d) == 0);
	return d;
}

/* A command of `type` with key, account, asset and amount (any may be NULL). */
static inline tl_ledger_cmd_t lt_cmd(tl_ledger_cmd_type_t type, const char *key,
                                     const char *account, const char *asset, const char *amount)
{
	tl_ledger_cmd_t c;
	memset(&c, 0, sizeof(c));
	c.type = (uint16_t)type;
	c.ts_ms = 1700000000000;
	if (key)
		snprintf(c.key, sizeof(c.key), "%s", key);
	if (account)
		snprintf(c.account, sizeof(c.account), "%s", account);
	if (asset)
		snprintf(c.asset, sizeof(c.asset), "%s", asset);
	if (amount)
		c.amount = lt_dec(amount);
	return c;
}

static inline tl_ledger_cmd_t lt_asset(const char *name, unsigned decimals)
{
	char key[64];
	snprintf(key, sizeof(key), "asset:%s", name);
	tl_ledger_cmd_t c = lt_cmd(TL_LEDGER_ASSET_DEFINE, key, NULL, name, NULL);
	c.decimals = (uint8_t)decimals;
	return c;
}

static inline tl_ledger_cmd_t lt_account(const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "account:%s", name);
	return lt_cmd(TL_LEDGER_ACCOUNT_OPEN, key, name, NULL, NULL);
}

/* Opens `dir` with `cfg` (NULL: defaults), attaches one port and starts. */
static inline tl_ledger_t *lt_open(const char *dir, tl_ledger_config_t *cfg,
                                   tl_ledger_port_t **port)
{
	tl_ledger_config_t def;
	if (!cfg) {
		tl_ledger_config_default(&def);
		cfg = &def;
	}
	cfg->dir = dir;
	tl_ledger_t *l;
	int rc = tl_ledger_open(&l, cfg);
	if (rc) {
		fprintf(stderr, "open %s: %s\n", dir, tl_strerror(rc));
		exit(1);
	}
	CHECK(tl_ledger_port_attach(l, 1024, port) == 0);
	CHECK(tl_ledger_start(l) == 0);
	return l;
}

static inline tl_ledger_ack_t lt_call(tl_ledger_port_t *port, tl_ledger_cmd_t c)
{
	tl_ledger_ack_t a;
	CHECK(tl_ledger_port_call(port, &c, &a) == 0);
	return a;
}

/* The committed balance of (account, asset) by name; CHECKs that it exists. */
static inline tl_ledger_balance_t lt_balance(const tl_ledger_t *l, const char *account,
                                             const char *asset)
{
	uint32_t acc, as;
	tl_ledger_balance_t b;
	CHECK(tl_ledger_account_find(l, account, &acc) == 0);
	CHECK(tl_ledger_asset_find(l, asset, &as, NULL) == 0);
	CHECK(tl_ledger_balance_read(l, acc, as, &b) == 0);
	return b;
}

/* Submits n commands, command i built by make(i, ctx), as fast as the port takes them,
 * while draining the acks; every ack must say APPLIED. */
static inline void lt_stream(tl_ledger_port_t *port, uint64_t n,
                             tl_ledger_cmd_t (*make)(uint64_t i, void *ctx), void *ctx)
{
	uint64_t sent = 0, got = 0;
	tl_ledger_cmd_t c;
	tl_ledger_ack_t a;

	if (n)
		c = make(0, ctx);
	while (got < n) {
		if (sent < n && tl_ledger_submit(port, &c)) {
			if (++sent < n)
				c = make(sent, ctx);
			continue;
		}
		if (tl_ledger_poll_ack(port, &a)) {
			CHECK_EQ(a.status, TL_LEDGER_APPLIED);
			got++;
		}
	}
}

static inline void lt_verify_ok(const char *dir)
{
	tl_ledger_verify_report_t rep;
	CHECK(tl_ledger_verify(dir, stderr, &rep) == 0);
	CHECK_EQ(rep.problems, 0);
}

#endif
