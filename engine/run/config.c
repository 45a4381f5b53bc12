/*
 * config.c: `tally run`'s configuration: defaults, the INI file (Debian's libinih), and
 * "section.key=value" overrides from the command line. One table names every key, its
 * type and its range, so the file, the overrides and the checks cannot disagree.
 */
#include "tl_run.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void tl_run_config_default(struct tl_run_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->symbol, sizeof(cfg->symbol), "BTCUSDT");
	snprintf(cfg->base, sizeof(cfg->base), "BTC");
	snprintf(cfg->quote, sizeof(cfg->quote), "USDT");
	cfg->scale.px_decimals = 2;
	cfg->scale.qty_decimals = 5;
	cfg->tick = 1;
	cfg->step = 1;
	cfg->min_notional = 5 * 100000000ll;
	cfg->levels = 3;
	cfg->level_qty = 100; /* 0.001 BTC */
	cfg->half_spread_ticks = 5;
	cfg->spacing_ticks = 3;
	cfg->min_width_ticks = 6;
	cfg->refresh_ticks = 2;
	cfg->max_position = 2000; /* 0.02 BTC */
	cfg->skew_ticks = 4;
	cfg->microprice = true;
	cfg->max_places_per_s = 8; /* under the venue's 100 orders per 10 s, cancels spare */
	cfg->durability = TL_LEDGER_STRICT;
	cfg->order_mode = TL_RUN_ORDERS_FAST;
	cfg->prealloc_mb = 64;
	snprintf(cfg->account, sizeof(cfg->account), "venue");
	cfg->cpu_md = cfg->cpu_user = cfg->cpu_strategy = -1;
	/* Its commits took about 0.85x the time (README, "The ledger thread's CPU"). */
	cfg->cpu_ledger = TL_LEDGER_CPU_DISK;
	cfg->md_idle = cfg->user_idle = cfg->strategy_idle = TL_IDLE_BLOCK;
	cfg->user_poll_us = 1000;
	cfg->warm_us = 1000;
	cfg->status_every_ms = 1000;
	cfg->shutdown_wait_ms = 5000;
	cfg->reconcile_every_ms = 5000;
	cfg->reconcile_window_ms = 15000;
}

enum tl_run_layout tl_run_layout_effective(enum tl_run_layout layout)
{
	if (layout != TL_RUN_LAYOUT_AUTO)
		return layout;
	return sysconf(_SC_NPROCESSORS_ONLN) < TL_RUN_SPLIT_CPUS ? TL_RUN_LAYOUT_FUSED
	                                                         : TL_RUN_LAYOUT_SPLIT;
}

const char *tl_run_layout_name(enum tl_run_layout layout)
{
	return layout == TL_RUN_LAYOUT_FUSED   ? "fused"
	       : layout == TL_RUN_LAYOUT_SPLIT ? "split"
	                                       : "auto";
}

enum kind {
	K_TEXT,
	K_BOOL,
	K_U16,
	K_U32,
	K_I64,
	K_INT,
	K_DURABILITY,
	K_ORDER_MODE,
	K_IDLE,
	K_LAYOUT,
	K_LEDGER_CPU
};

struct key {
	const char *section, *name;
	enum kind kind;
	size_t off, size; /* size: K_TEXT's buffer */
	int64_t lo, hi;
	const char *help;
};

#define F(field) offsetof(struct tl_run_config, field)
#define TEXT(s, n, field, help)                                                                    \
	{                                                                                          \
		s, n, K_TEXT, F(field), sizeof(((struct tl_run_config *)0)->field), 0, 0, help     \
	}
#define NUM(s, n, k, field, lo, hi, help)                                                          \
	{                                                                                          \
		s, n, k, F(field), 0, lo, hi, help                                                 \
	}

static const struct key keys[] = {
    TEXT("venue", "host", host, "the venue's host; empty: the embedded sim"),
    NUM("venue", "port", K_U16, port, 1, 65535, "its port"),
    NUM("venue", "tls", K_BOOL, tls, 0, 1, "TLS on the WebSocket and REST connections"),
    TEXT("venue", "ca_file", ca_file, "trust this PEM certificate (TLS)"),
    TEXT("venue", "symbol", symbol, "the instrument"),
    TEXT("venue", "base", base, "its base asset"),
    TEXT("venue", "quote", quote, "its quote asset"),
    NUM("venue", "px_decimals", K_INT, scale.px_decimals, 0, 8, "price decimals"),
    NUM("venue", "qty_decimals", K_INT, scale.qty_decimals, 0, 8, "quantity decimals"),
    NUM("venue", "tick", K_I64, tick, 1, INT32_MAX, "tickSize in price units"),
    NUM("venue", "step", K_I64, step, 1, INT32_MAX, "stepSize in quantity units"),
    NUM("venue", "min_notional", K_I64, min_notional, 0, INT64_MAX / 2,
        "minimum price x qty, in 10^-8 quote"),
    TEXT("venue", "key_file", key_file, "a 0600 file: API-KEY SECRET"),
    NUM("strategy", "levels", K_U32, levels, 1, 16, "orders per side"),
    NUM("strategy", "level_qty", K_I64, level_qty, 1, INT32_MAX, "each order, in lots"),
    NUM("strategy", "half_spread_ticks", K_U32, half_spread_ticks, 1, 100000, ""),
    NUM("strategy", "spacing_ticks", K_U32, spacing_ticks, 3, 100000, "at least 3"),
    NUM("strategy", "min_width_ticks", K_U32, min_width_ticks, 2, 200000, ""),
    NUM("strategy", "refresh_ticks", K_U32, refresh_ticks, 0, 100000, ""),
    NUM("strategy", "max_position", K_I64, max_position, 0, INT32_MAX, "lots a side"),
    NUM("strategy", "skew_ticks", K_U32, skew_ticks, 0, 100000, ""),
    NUM("strategy", "microprice", K_BOOL, microprice, 0, 1, ""),
    NUM("strategy", "max_places_per_s", K_U32, max_places_per_s, 1, 100000, "orders a second"),
    TEXT("ledger", "dir", ledger_dir, "the ledger's directory"),
    NUM("ledger", "durability", K_DURABILITY, durability, 0, 0, "strict|nometasync|periodic"),
    NUM("ledger", "orders", K_ORDER_MODE, order_mode, 0, 0, "fast|strict"),
    NUM("ledger", "prealloc_mb", K_U32, prealloc_mb, 0, 65536, "0: never"),
    TEXT("ledger", "account", account, "the venue account's ledger name"),
    NUM("threads", "layout", K_LAYOUT, layout, 0, 0, "auto|split|fused"),
    NUM("threads", "cpu_md", K_INT, cpu_md, -1, 1023, ""),
    NUM("threads", "cpu_user", K_INT, cpu_user, -1, 1023, ""),
    NUM("threads", "cpu_strategy", K_INT, cpu_strategy, -1, 1023, ""),
    NUM("threads", "cpu_ledger", K_LEDGER_CPU, cpu_ledger, -1, 1023, "disk|-1..1023"),
    NUM("threads", "md_idle", K_IDLE, md_idle, 0, 0, "spin|yield|block"),
    NUM("threads", "user_idle", K_IDLE, user_idle, 0, 0, "spin|yield|block"),
    NUM("threads", "strategy_idle", K_IDLE, strategy_idle, 0, 0, "spin|yield|block"),
    NUM("threads", "user_poll_us", K_U32, user_poll_us, 1, 100000, ""),
    NUM("threads", "warm_us", K_U32, warm_us, 0, 1000000, "0: never"),
    NUM("run", "duration_s", K_U32, duration_s, 0, 86400 * 365, "0: until a signal"),
    TEXT("run", "json_summary", json_summary, ""),
    NUM("run", "status_every_ms", K_U32, status_every_ms, 0, 3600000, ""),
    NUM("run", "shutdown_wait_ms", K_U32, shutdown_wait_ms, 100, 600000, ""),
    NUM("run", "reconcile_every_ms", K_U32, reconcile_every_ms, 0, 3600000, "0: never"),
    NUM("run", "reconcile_window_ms", K_U32, reconcile_window_ms, 1000, 3600000, ""),
    NUM("run", "t2t_ids", K_BOOL, t2t_ids, 0, 1, "request ids name the update that caused them"),
};

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_key(struct tl_run_config *cfg, const struct key *k, const char *value)
{
	char *base = (char *)cfg + k->off;
	int64_t v;

	switch (k->kind) {
	case K_TEXT:
		if (strlen(value) >= k->size)
			return -EINVAL;
		snprintf(base, k->size, "%s", value);
		return 0;
	case K_BOOL:
		if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
			*(bool *)base = true;
		else if (!strcasecmp(value, "false") || !strcmp(value, "0") ||
		         !strcasecmp(value, "no"))
			*(bool *)base = false;
		else
			return -EINVAL;
		return 0;
	case K_DURABILITY:
		return tl_ledger_durability_parse(value, (tl_ledger_durability_t *)base);
	case K_ORDER_MODE:
		if (!strcmp(value, "fast"))
			*(enum tl_run_order_mode *)base = TL_RUN_ORDERS_FAST;
		else if (!strcmp(value, "strict"))
			*(enum tl_run_order_mode *)base = TL_RUN_ORDERS_STRICT;
		else
			return -EINVAL;
		return 0;
	case K_LAYOUT:
		if (!strcmp(value, "auto"))
			*(enum tl_run_layout *)base = TL_RUN_LAYOUT_AUTO;
		else if (!strcmp(value, "split"))
			*(enum tl_run_layout *)base = TL_RUN_LAYOUT_SPLIT;
		else if (!strcmp(value, "fused"))
			*(enum tl_run_layout *)base = TL_RUN_LAYOUT_FUSED;
		else
			return -EINVAL;
		return 0;
	case K_LEDGER_CPU:
		if (!strcmp(value, "disk")) {
			*(int *)base = TL_LEDGER_CPU_DISK;
			return 0;
		}
		break; /* else a CPU number, as K_INT */
	case K_IDLE: {
		tl_idle_kind_t kind = tl_idle_kind_parse(value);

		if (!kind)
			return -EINVAL;
		*(tl_idle_kind_t *)base = kind;
		return 0;
	}
	default:
		break;
	}
	if (parse_i64(value, k->lo, k->hi, &v))
		return -EINVAL;
	switch (k->kind) {
	case K_U16:
		*(uint16_t *)base = (uint16_t)v;
		break;
	case K_U32:
		*(uint32_t *)base = (uint32_t)v;
		break;
	case K_INT:
	case K_LEDGER_CPU:
		*(int *)base = (int)v;
		break;
	default:
		*(int64_t *)base = v;
		break;
	}
	return 0;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static void range_hint(const struct key *k, FILE *err)
{
	if (k->kind == K_TEXT)
		fprintf(err, " (at most %zu characters)", k->size - 1);
	else if (k->kind == K_BOOL)
		fprintf(err, " (true or false)");
	else if (k->kind >= K_DURABILITY)
		fprintf(err, " (%s)", k->help);
	else
		fprintf(err, " (%lld..%lld)", (long long)k->lo, (long long)k->hi);
}

struct load_ctx {
	struct tl_run_config *cfg;
	const char *path;
	FILE *err;
	int rc;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	const struct key *k = find_key(section, name);

	if (!k) {
		fprintf(lc->err, "tally run: %s: unknown key [%s] %s\n", lc->path, section, name);
		lc->rc = -EINVAL;
		return 0;
	}
	if (set_key(lc->cfg, k, value)) {
		fprintf(lc->err, "tally run: %s: bad value '%s' for [%s] %s", lc->path, value,
		        section, name);
		range_hint(k, lc->err);
		fputc('\n', lc->err);
		lc->rc = -EINVAL;
		return 0;
	}
	return 1;
}

int tl_run_config_load(struct tl_run_config *cfg, const char *path, FILE *err)
{
	struct load_ctx lc = {cfg, path, err, 0};
	FILE *f = fopen(path, "r");
	int line;

	if (!f) {
		int e = errno;

		fprintf(err, "tally run: %s: %s\n", path, strerror(e));
		return -e;
	}
	line = ini_parse_file(f, on_ini, &lc);
	fclose(f);
	if (line > 0 && lc.rc == 0) {
		fprintf(err, "tally run: %s: line %d: not an INI line\n", path, line);
		return -EINVAL;
	}
	if (line > 0)
		fprintf(err, "tally run: %s: the error is on line %d\n", path, line);
	return lc.rc ? lc.rc : (line ? -EINVAL : 0);
}

int tl_run_config_set(struct tl_run_config *cfg, const char *assignment, FILE *err)
{
	const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');
	char section[32], name[64];
	const struct key *k;

	if (!dot || !eq || dot > eq || (size_t)(dot - assignment) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(name)) {
		fprintf(err, "tally run: --set '%s': expected SECTION.KEY=VALUE\n", assignment);
		return -EINVAL;
	}
	memcpy(section, assignment, (size_t)(dot - assignment));
	section[dot - assignment] = '\0';
	memcpy(name, dot + 1, (size_t)(eq - dot - 1));
	name[eq - dot - 1] = '\0';
	k = find_key(section, name);
	if (!k) {
		fprintf(err, "tally run: --set: unknown key [%s] %s\n", section, name);
		return -EINVAL;
	}
	if (set_key(cfg, k, eq + 1)) {
		fprintf(err, "tally run: --set: bad value '%s' for [%s] %s", eq + 1, section, name);
		range_hint(k, err);
		fputc('\n', err);
		return -EINVAL;
	}
	return 0;
}

int tl_run_config_check(const struct tl_run_config *cfg, FILE *err)
{
	if (cfg->scale.px_decimals + cfg->scale.qty_decimals > 8) {
		fprintf(err, "tally run: px_decimals + qty_decimals must be at most 8\n");
		return -EINVAL;
	}
	if (!cfg->symbol[0] || !cfg->base[0] || !cfg->quote[0] || !strcmp(cfg->base, cfg->quote)) {
		fprintf(err, "tally run: [venue] symbol, base and quote must be set (base != "
		             "quote)\n");
		return -EINVAL;
	}
	if (cfg->spacing_ticks < 3) {
		fprintf(err, "tally run: [strategy] spacing_ticks must be at least 3\n");
		return -EINVAL;
	}
	if (cfg->host[0] && !cfg->port) {
		fprintf(err, "tally run: [venue] port is required with a host\n");
		return -EINVAL;
	}
	if (cfg->host[0] && (!cfg->api_key[0] || !cfg->api_secret[0])) {
		fprintf(err, "tally run: no API key: set TALLY_API_KEY and TALLY_API_SECRET, or "
		             "[venue] key_file\n");
		return -EINVAL;
	}
	if (!cfg->account[0]) {
		fprintf(err, "tally run: [ledger] account must not be empty\n");
		return -EINVAL;
	}
	return 0;
}
