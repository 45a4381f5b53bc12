/*
 * sim_cli.c: `tally sim`, the venue simulator's command line (tl_sim_server.h).
 *
 * Output contract, for the scripts and programs that start a sim:
 *   stdout  one JSON line when it listens:
 *             {"event":"listening","host":"127.0.0.1","port":N,"tls":false}
 *           and one when it stops, with its counters:
 *             {"event":"stopped","connections":..,"orders":..,...}
 *   stderr  log lines (tl_log), and a status line every --status-every seconds.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "tl_log.h"
#include "tl_md.h"
#include "tl_sim_server.h"

#define USR1_REFUSALS 3 /* myTrades requests refused per SIGUSR1 */

static volatile sig_atomic_t stop_flag;
static tl_sim_server_t *volatile signalled_srv; /* set before SIGUSR1 is handled */

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	tl_sim_server_refuse_trades(signalled_srv, USR1_REFUSALS);
}

void tl_sim_cli_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally sim [options]\n"
	    "\n"
	    "Runs the venue simulator: the Binance Spot protocol (market-data streams, the\n"
	    "WebSocket API with user data, and REST) on one port, in front of a deterministic\n"
	    "matching engine whose background liquidity is a seeded random walk, or a recorded\n"
	    "capture played back (--replay). tally runs against it by default; so can any\n"
	    "Binance client.\n"
	    "\n"
	    "Endpoints: /ws/<stream>, /stream?streams=<a>/<b>, /ws-api/v3, /api/v3/...\n"
	    "Streams:   <symbol>@depth@100ms, @depth, @bookTicker, @trade (lower-case symbol)\n"
	    "\n"
	    "Options:\n"
	    "  --host ADDR            address to listen on (default 127.0.0.1)\n"
	    "  --port N               TCP port; 0 picks a free one (default 0)\n"
	    "  --seed N               seed of the random walk (default 1)\n"
	    "  --md-interval-ms N     one market-data step this often (default 100, as\n"
	    "                         depth@100ms; 10 sends ten times Binance's rate)\n"
	    "  --start-px DEC         BTCUSDT's first bid (default 60000.00)\n"
	    "  --depth-levels N       price levels a side the book spans (1..5000; default\n"
	    "                         100, or 1000 with --replay)\n"
	    "  --replay FILE          background liquidity from a capture instead of the walk:\n"
	    "                         BTCUSDT's recorded book, depth stream and trades\n"
	    "                         (binance-spot or cryptofeed files, gzip or not; as\n"
	    "                         `tally replay` reads them). Repeatable: files are merged\n"
	    "                         by time. It starts at the capture's first book (overrides\n"
	    "                         --start-px) and plays again from the start at its end\n"
	    "  --replay-speed N       capture seconds per second (1..1000, default 1)\n"
	    "  --accounts-file FILE   accounts, one per line: API-KEY SECRET (the file must\n"
	    "                         not be readable by group or others). Default: one\n"
	    "                         account, keyed by TALLY_API_KEY and TALLY_API_SECRET\n"
	    "                         when both are set, else the public demo pair\n"
	    "  --fund ASSET=AMOUNT    deposit into every account at start; repeatable; replaces\n"
	    "                         the default of BTC=10 and USDT=1000000\n"
	    "  --weight-per-min N     REQUEST_WEIGHT limit a minute (default 6000; 0: none)\n"
	    "  --orders-per-10s N     ORDERS limit per 10 s per account (default 100; 0: none)\n"
	    "  --orders-per-day N     ORDERS limit a day per account (default 200000; 0: none)\n"
	    "  --tls                  serve TLS; without --tls-cert/--tls-key a self-signed\n"
	    "                         certificate for localhost and 127.0.0.1 is generated\n"
	    "  --tls-cert FILE, --tls-key FILE   the certificate and key to serve (PEM)\n"
	    "  --tls-cert-out FILE    write the generated certificate here, for clients\n"
	    "  --duration S           stop after S seconds (default: run until a signal)\n"
	    "  --t2t                  tick-to-trade stamps: from each market-data frame written\n"
	    "                         to the first WS API request it caused: one whose numeric\n"
	    "                         id is the frame's update id u x 2^24 (+ below 2^24); in\n"
	    "                         the stopped line: t2t_count, t2t_p50_ns, t2t_p99_ns\n"
	    "  --status-every S       a status line on stderr every S seconds (default 10;\n"
	    "                         0: none)\n"
	    "  --audit FILE           write every client order event to FILE as it happens,\n"
	    "                         one tab-separated line each: ms, NEW|TRADE|CANCELED|\n"
	    "                         EXPIRED|REJECTED, account index, symbol, clientOrderId,\n"
	    "                         side, price and qty (integers at the symbol's scale),\n"
	    "                         trade id, reject code; before any fault is applied\n"
	    "  -h, --help             this help\n"
	    "\n");
	fprintf(
	    out,
	    "Faults (all off by default):\n"
	    "  --drop-conn-every-ms N   drop every WebSocket every N ms, alternately with\n"
	    "                           serverShutdown + close 1001 and a bare TCP cut\n"
	    "  --dup-events PCT         send a user event twice\n"
	    "  --reorder-events PCT     hold a user event back until after the next one\n"
	    "  --delay-events-ms N      send user events N ms late\n"
	    "  --drop-fills PCT         do not send a fill's executionReport (myTrades has it)\n"
	    "  --garble-events PCT      cut a user event to half its length (unparsable)\n"
	    "  --unknown-outcome PCT    place the order, but answer 503/-1000 or 408/-1007\n"
	    "  --rate-limit PCT         refuse a signed request with 429 (-1003, -1015)\n"
	    "  --refuse-trades PCT      refuse a myTrades request with 429 (-1003), retry\n"
	    "                           after 1 s (the back-fill's and recovery's reads)\n"
	    "  --clock-skew-ms N        the server's clock runs N ms ahead (negative: behind)\n"
	    "  --deposit-after-ms N     N ms after the start, credit --deposit to every account\n"
	    "                           from outside (default USDT=1000)\n"
	    "  --deposit ASSET=AMOUNT   what that outside deposit is\n"
	    "  --fault-seed N           seed of the fault draws (default 1)\n"
	    "\n"
	    "Stdout: a JSON line {\"event\":\"listening\",\"port\":N,...} once listening, and\n"
	    "{\"event\":\"stopped\",...counters} at the end. Logs go to stderr.\n"
	    "SIGINT or SIGTERM stops the sim: every WebSocket gets serverShutdown first.\n"
	    "SIGUSR1 makes it refuse the next 3 myTrades requests with 429 (-1003), retry\n"
	    "after 1 s: a test's way to rate-limit a moment of its choosing.\n"
	    "\n"
	    "Exit status: 0 after a clean stop, 1 on failure, 2 on a usage error.\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tally sim: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n");
	tl_sim_cli_usage(stderr);
	return 2;
}

/* One line: API-KEY SECRET. Blank lines and lines starting with '#' are skipped. */
static int load_accounts(const char *path, struct tl_sim_server_config *cfg)
{
	struct stat st;
	char line[2 * TL_SIM_KEY_MAX + 16];
	FILE *f = fopen(path, "r");
	unsigned lineno = 0;

	if (!f) {
		fprintf(stderr, "tally sim: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fprintf(stderr,
		        "tally sim: %s: readable by group or others (mode %03o); chmod 600 it\n",
		        path, (unsigned)(st.st_mode & 0777));
		fclose(f);
		return 1;
	}
	cfg->n_accounts = 0;
	while (fgets(line, sizeof(line), f)) {
		char key[TL_SIM_KEY_MAX + 2], secret[TL_SIM_KEY_MAX + 2], extra[2];
		int n;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "tally sim: %s:%u: line too long\n", path, lineno);
			fclose(f);
			return 1;
		}
		n = sscanf(line, "%129s %129s %1s", key, secret, extra);
		if (n <= 0 || key[0] == '#')
			continue;
		if (n != 2 || strlen(key) > TL_SIM_KEY_MAX || strlen(secret) > TL_SIM_KEY_MAX) {
			fprintf(
			    stderr,
			    "tally sim: %s:%u: expected 'API-KEY SECRET' (each 1..%d characters)\n",
			    path, lineno, TL_SIM_KEY_MAX);
			fclose(f);
			return 1;
		}
		for (const char *p = key; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')) {
				fprintf(stderr,
				        "tally sim: %s:%u: an API key takes [A-Za-z0-9._-]\n", path,
				        lineno);
				fclose(f);
				return 1;
			}
		}
		if (cfg->n_accounts == TL_SIM_ACCOUNTS_MAX) {
			fprintf(stderr, "tally sim: %s: more than %d accounts\n", path,
			        TL_SIM_ACCOUNTS_MAX);
			fclose(f);
			return 1;
		}
		/* both lengths checked above */
		memcpy(cfg->accounts[cfg->n_accounts].api_key, key, strlen(key) + 1);
		memcpy(cfg->accounts[cfg->n_accounts].api_secret, secret, strlen(secret) + 1);
		cfg->n_accounts++;
		explicit_bzero(secret, sizeof(secret));
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (!cfg->n_accounts) {
		fprintf(stderr, "tally sim: %s: no account in it\n", path);
		return 1;
	}
	return 0;
}

static int parse_fund(const char *arg, struct tl_sim_server_config *cfg, bool *first)
{
	const char *eq = strchr(arg, '=');
	int64_t amount;
	int asset = -1;

	if (!eq)
		return -EINVAL;
	for (uint32_t i = 0; i < cfg->sim.n_assets; i++)
		if (strlen(cfg->sim.assets[i].name) == (size_t)(eq - arg) &&
		    !memcmp(cfg->sim.assets[i].name, arg, (size_t)(eq - arg)))
			asset = (int)i;
	if (asset < 0)
		return -ENOENT;
	if (tl_md_dec_parse(eq + 1, strlen(eq + 1), TL_SIM_AMOUNT_DECIMALS, &amount) != 0 ||
	    amount <= 0)
		return -EINVAL;
	if (*first) {
		cfg->n_funding = 0;
		*first = false;
	}
	if (cfg->n_funding == TL_SIM_FUNDING_MAX)
		return -E2BIG;
	cfg->funding[cfg->n_funding++] = (struct tl_sim_funding){(uint32_t)asset, {amount}};
	return 0;
}

static void print_stats(FILE *out, const char *event, const struct tl_sim_server_stats *st)
{
	fprintf(out,
	        "{\"event\":\"%s\",\"connections\":%" PRIu64 ",\"ws_requests\":%" PRIu64
	        ",\"rest_requests\":%" PRIu64 ",\"orders\":%" PRIu64 ",\"errors_sent\":%" PRIu64
	        ",\"md_events\":%" PRIu64 ",\"user_events\":%" PRIu64
	        ",\"faults_injected\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	        ",\"replay_passes\":%" PRIu64 ",\"t2t_count\":%" PRIu64 ",\"t2t_p50_ns\":%" PRIu64
	        ",\"t2t_p99_ns\":%" PRIu64 ",\"my_trades\":%" PRIu64 "}\n",
	        event, st->connections, st->ws_requests, st->rest_requests, st->orders,
	        st->errors_sent, st->md_events, st->user_events, st->faults_injected, st->bytes_out,
	        st->replay_passes, st->t2t_count, st->t2t_p50_ns, st->t2t_p99_ns, st->my_trades);
	fflush(out);
}

enum {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_SEED,
	OPT_MD_INTERVAL,
	OPT_START_PX,
	OPT_ACCOUNTS,
	OPT_FUND,
	OPT_WEIGHT,
	OPT_ORDERS10,
	OPT_ORDERSDAY,
	OPT_TLS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CERT_OUT,
	OPT_DURATION,
	OPT_STATUS,
	OPT_DROP_CONN,
	OPT_DUP,
	OPT_REORDER,
	OPT_DELAY,
	OPT_DROP_FILLS,
	OPT_GARBLE,
	OPT_UNKNOWN,
	OPT_RATE_LIMIT,
	OPT_REFUSE_TRADES,
	OPT_SKEW,
	OPT_FAULT_SEED,
	OPT_DEPTH_LEVELS,
	OPT_REPLAY,
	OPT_REPLAY_SPEED,
	OPT_DEPOSIT_AFTER,
	OPT_DEPOSIT,
	OPT_T2T,
	OPT_AUDIT,
};

#define REPLAY_FILES_MAX 64

int tl_sim_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, OPT_HOST},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"seed", required_argument, NULL, OPT_SEED},
	    {"md-interval-ms", required_argument, NULL, OPT_MD_INTERVAL},
	    {"start-px", required_argument, NULL, OPT_START_PX},
	    {"accounts-file", required_argument, NULL, OPT_ACCOUNTS},
	    {"fund", required_argument, NULL, OPT_FUND},
	    {"weight-per-min", required_argument, NULL, OPT_WEIGHT},
	    {"orders-per-10s", required_argument, NULL, OPT_ORDERS10},
	    {"orders-per-day", required_argument, NULL, OPT_ORDERSDAY},
	    {"tls", no_argument, NULL, OPT_TLS},
	    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
	    {"tls-cert-out", required_argument, NULL, OPT_TLS_CERT_OUT},
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"status-every", required_argument, NULL, OPT_STATUS},
	    {"drop-conn-every-ms", required_argument, NULL, OPT_DROP_CONN},
	    {"dup-events", required_argument, NULL, OPT_DUP},
	    {"reorder-events", required_argument, NULL, OPT_REORDER},
	    {"delay-events-ms", required_argument, NULL, OPT_DELAY},
	    {"drop-fills", required_argument, NULL, OPT_DROP_FILLS},
	    {"garble-events", required_argument, NULL, OPT_GARBLE},
	    {"unknown-outcome", required_argument, NULL, OPT_UNKNOWN},
	    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
	    {"refuse-trades", required_argument, NULL, OPT_REFUSE_TRADES},
	    {"clock-skew-ms", required_argument, NULL, OPT_SKEW},
	    {"fault-seed", required_argument, NULL, OPT_FAULT_SEED},
	    {"depth-levels", required_argument, NULL, OPT_DEPTH_LEVELS},
	    {"replay", required_argument, NULL, OPT_REPLAY},
	    {"replay-speed", required_argument, NULL, OPT_REPLAY_SPEED},
	    {"deposit-after-ms", required_argument, NULL, OPT_DEPOSIT_AFTER},
	    {"deposit", required_argument, NULL, OPT_DEPOSIT},
	    {"t2t", no_argument, NULL, OPT_T2T},
	    {"audit", required_argument, NULL, OPT_AUDIT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	static struct tl_sim_server_config cfg;
	struct tl_sim_server_stats st;
	tl_sim_server_t *srv = NULL;
	const char *accounts_file = NULL;
	uint64_t duration_s = 0, status_s = 10, v;
	int64_t sv;
	static char *replay_files[REPLAY_FILES_MAX];
	bool first_fund = true, depth_given = false;
	int c, rc;

	tl_sim_server_config_default(&cfg);
	cfg.faults.seed = 1;
	cfg.faults.deposit = (struct tl_sim_funding){1, {1000 * 100000000ll}}; /* USDT=1000 */
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		uint32_t *pct = NULL;

		switch (c) {
		case OPT_HOST:
			cfg.host = optarg;
			break;
		case OPT_PORT:
			if (parse_u64(optarg, 65535, &v))
				return usage_error("bad --port '%s' (0..65535)", optarg);
			cfg.port = (uint16_t)v;
			break;
		case OPT_SEED:
			if (parse_u64(optarg, UINT64_MAX, &v))
				return usage_error("bad --seed '%s'", optarg);
			cfg.sim.seed = v;
			break;
		case OPT_MD_INTERVAL:
			if (parse_u64(optarg, 60000, &v) || v == 0)
				return usage_error("bad --md-interval-ms '%s' (1..60000)", optarg);
			cfg.md_interval_ms = (uint32_t)v;
			break;
		case OPT_START_PX: {
			struct tl_sim_market_config *m = &cfg.sim.markets[0];
			int64_t px;

			if (tl_md_dec_parse(optarg, strlen(optarg), m->px_decimals, &px) ||
			    px % m->tick_size.v || px < m->min_px.v || px > m->max_px.v)
				return usage_error("bad --start-px '%s' (a tick multiple in range)",
				                   optarg);
			m->walk.start_px.v = px;
			break;
		}
		case OPT_ACCOUNTS:
			accounts_file = optarg;
			break;
		case OPT_FUND:
			rc = parse_fund(optarg, &cfg, &first_fund);
			if (rc)
				return usage_error("bad --fund '%s' (ASSET=AMOUNT, a known asset, "
				                   "amount > 0 with at most 8 decimals)",
				                   optarg);
			break;
		case OPT_WEIGHT:
		case OPT_ORDERS10:
		case OPT_ORDERSDAY:
			if (parse_u64(optarg, UINT32_MAX, &v))
				return usage_error("bad limit '%s'", optarg);
			*(c == OPT_WEIGHT     ? &cfg.limits.weight_per_min
			  : c == OPT_ORDERS10 ? &cfg.limits.orders_per_10s
			                      : &cfg.limits.orders_per_day) = (uint32_t)v;
			break;
		case OPT_TLS:
			cfg.tls = true;
			break;
		case OPT_TLS_CERT:
			cfg.tls_cert_file = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls_key_file = optarg;
			break;
		case OPT_TLS_CERT_OUT:
			cfg.tls_cert_out = optarg;
			break;
		case OPT_DURATION:
			if (parse_u64(optarg, 86400 * 365, &duration_s) || !duration_s)
				return usage_error("bad --duration '%s' (seconds, > 0)", optarg);
			break;
		case OPT_STATUS:
			if (parse_u64(optarg, 86400, &status_s))
				return usage_error("bad --status-every '%s'", optarg);
			break;
		case OPT_DROP_CONN:
		case OPT_DELAY:
			if (parse_u64(optarg, 3600000, &v))
				return usage_error("bad milliseconds '%s' (0..3600000)", optarg);
			*(c == OPT_DROP_CONN ? &cfg.faults.drop_conn_every_ms
			                     : &cfg.faults.delay_events_ms) = (uint32_t)v;
			break;
		case OPT_DUP:
			pct = &cfg.faults.dup_events_pct;
			break;
		case OPT_REORDER:
			pct = &cfg.faults.reorder_events_pct;
			break;
		case OPT_DROP_FILLS:
			pct = &cfg.faults.drop_fills_pct;
			break;
		case OPT_GARBLE:
			pct = &cfg.faults.garble_events_pct;
			break;
		case OPT_UNKNOWN:
			pct = &cfg.faults.unknown_outcome_pct;
			break;
		case OPT_RATE_LIMIT:
			pct = &cfg.faults.rate_limit_pct;
			break;
		case OPT_REFUSE_TRADES:
			pct = &cfg.faults.refuse_trades_pct;
			break;
		case OPT_SKEW:
			if (parse_i64(optarg, -86400000, 86400000, &sv))
				return usage_error("bad --clock-skew-ms '%s'", optarg);
			cfg.faults.clock_skew_ms = (int32_t)sv;
			break;
		case OPT_FAULT_SEED:
			if (parse_u64(optarg, UINT64_MAX, &v))
				return usage_error("bad --fault-seed '%s'", optarg);
			cfg.faults.seed = v;
			break;
		case OPT_DEPTH_LEVELS:
			if (parse_u64(optarg, TL_SIM_DEPTH_LEVELS_MAX, &v) || !v)
				return usage_error("bad --depth-levels '%s' (1..5000)", optarg);
			cfg.sim.markets[0].walk.depth_levels = (uint32_t)v;
			depth_given = true;
			break;
		case OPT_REPLAY:
			if (cfg.n_replay_paths == REPLAY_FILES_MAX)
				return usage_error("too many --replay files (at most %s)", "64");
			replay_files[cfg.n_replay_paths++] = optarg;
			break;
		case OPT_DEPOSIT_AFTER:
			if (parse_u64(optarg, 3600000, &v))
				return usage_error("bad --deposit-after-ms '%s' (0..3600000)",
				                   optarg);
			cfg.faults.deposit_after_ms = (uint32_t)v;
			break;
		case OPT_DEPOSIT: {
			struct tl_sim_server_config tmp = cfg;
			bool first = true;

			/* the same ASSET=AMOUNT syntax as --fund, into a scratch config */
			if (parse_fund(optarg, &tmp, &first))
				return usage_error(
				    "bad --deposit '%s' (ASSET=AMOUNT, a known asset, "
				    "amount > 0)",
				    optarg);
			cfg.faults.deposit = tmp.funding[0];
			break;
		}
		case OPT_T2T:
			cfg.t2t = true;
			break;
		case OPT_AUDIT:
			cfg.audit_path = optarg;
			break;
		case OPT_REPLAY_SPEED:
			if (parse_u64(optarg, 1000, &v) || !v)
				return usage_error("bad --replay-speed '%s' (1..1000)", optarg);
			cfg.replay_speed = (uint32_t)v;
			break;
		case 'h':
			tl_sim_cli_usage(stdout);
			return 0;
		default:
			fputc('\n', stderr);
			tl_sim_cli_usage(stderr);
			return 2;
		}
		if (pct) {
			if (parse_u64(optarg, 100, &v))
				return usage_error("bad percentage '%s' (0..100)", optarg);
			*pct = (uint32_t)v;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg.n_replay_paths) {
		cfg.replay_paths = replay_files;
		if (!depth_given)
			cfg.sim.markets[0].walk.depth_levels = 1000;
	}
	if (accounts_file) {
		if (load_accounts(accounts_file, &cfg))
			return 1;
	} else if (getenv("TALLY_API_KEY") && getenv("TALLY_API_SECRET")) {
		const char *k = getenv("TALLY_API_KEY"), *s = getenv("TALLY_API_SECRET");

		if (!*k || !*s || strlen(k) > TL_SIM_KEY_MAX || strlen(s) > TL_SIM_KEY_MAX) {
			fprintf(stderr,
			        "tally sim: TALLY_API_KEY / TALLY_API_SECRET: 1..%d "
			        "characters each\n",
			        TL_SIM_KEY_MAX);
			return 1;
		}
		snprintf(cfg.accounts[0].api_key, TL_SIM_KEY_MAX + 1, "%s", k);
		snprintf(cfg.accounts[0].api_secret, TL_SIM_KEY_MAX + 1, "%s", s);
	}

	rc = tl_sim_server_create(&srv, &cfg);
	for (uint32_t i = 0; i < cfg.n_accounts; i++)
		explicit_bzero(cfg.accounts[i].api_secret, sizeof(cfg.accounts[i].api_secret));
	if (rc) {
		fprintf(stderr, "tally sim: cannot start: %s\n", strerror(-rc));
		return 1;
	}
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signalled_srv = srv;
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	printf("{\"event\":\"listening\",\"host\":\"%s\",\"port\":%u,\"tls\":%s}\n", cfg.host,
	       tl_sim_server_port(srv), cfg.tls ? "true" : "false");
	fflush(stdout);
	tl_log(LOG_INFO, "sim", "listening on %s:%u (%s), %u account(s), md every %u ms", cfg.host,
	       tl_sim_server_port(srv), cfg.tls ? "TLS" : "plain TCP", cfg.n_accounts,
	       cfg.md_interval_ms);

	rc = tl_sim_server_run(srv, &stop_flag, duration_s * 1000, status_s * 1000);
	tl_sim_server_stats(srv, &st);
	print_stats(stdout, "stopped", &st);
	tl_sim_server_destroy(srv);
	if (rc) {
		fprintf(stderr, "tally sim: the event loop failed: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
