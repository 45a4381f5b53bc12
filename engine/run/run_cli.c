/*
 * run_cli.c: `tally run`. Reads the configuration, starts the embedded sim when no venue
 * is configured, runs the engine, prints a status line a second, and on SIGINT / SIGTERM
 * or --duration stops it in order (engine_stop) and prints the summary.
 */
#include "run_internal.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tl_log.h"
#include "tl_sim_server.h" /* the demo key pair the embedded sim accepts */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

void tl_run_cli_usage(FILE *out)
{
	fprintf(out,
	        "Usage: tally run [--config FILE] [--set SECTION.KEY=VALUE]... [--duration S]\n"
	        "                 [--json-summary FILE] [--ledger-dir DIR]\n"
	        "\n"
	        "Runs the market-making engine: market data, order entry, the strategy and the\n"
	        "ledger on their own threads. With no venue configured it starts `tally sim` on\n"
	        "loopback and quotes BTCUSDT on its funded demo account: the embedded default.\n"
	        "On a box with fewer than 4 CPUs, market data, order entry and the strategy\n"
	        "take turns on one thread instead (threads.layout: auto, split or fused).\n"
	        "\n"
	        "Before quoting, it cancels the symbol's open orders on the venue and brings the\n"
	        "ledger to the venue's balances (a first run credits them; a later run that\n"
	        "finds them different writes an ADJUSTMENT with the cause). On SIGINT, SIGTERM or\n"
	        "at the end of --duration it stops quoting, cancels every order, waits for the\n"
	        "venue to confirm, flushes the ledger, compares the venue's balances with the\n"
	        "ledger's and prints a summary.\n"
	        "\n"
	        "Options:\n"
	        "  --config FILE        an INI file (see deploy/tally.example.ini)\n"
	        "  --set S.K=V          one setting on top of the file, e.g. --set "
	        "strategy.levels=2\n"
	        "  --duration S         stop after S seconds (default: run until a signal)\n"
	        "  --json-summary FILE  write the summary there as well as to stdout\n"
	        "  --ledger-dir DIR     the ledger (default [ledger] dir, else a fresh directory\n"
	        "                       under /var/tmp, named in the summary)\n"
	        "  -h, --help           this help\n"
	        "\n"
	        "Secrets: TALLY_API_KEY and TALLY_API_SECRET, or [venue] key_file (mode 0600,\n"
	        "\"API-KEY SECRET\"). They are never logged. The embedded sim needs none.\n"
	        "\n"
	        "Output: a JSON status line on stderr every second (mid, spread, position, PnL,\n"
	        "open orders, fills, ledger sequence, tick-to-trade p50/p99); logs on stderr; the\n"
	        "summary as one JSON line on stdout at the end.\n"
	        "\n"
	        "Exit status: 0 after a clean stop with the ledger equal to the venue, 1 on a\n"
	        "failure or a drift, 2 on a usage error.\n");
}

/* "API-KEY SECRET" from a file only its owner can read. */
static int load_key_file(struct tl_run_config *cfg)
{
	struct stat st;
	FILE *f = fopen(cfg->key_file, "r");
	char line[2 * TL_RUN_KEY_MAX + 8];
	int rc = -EINVAL;

	if (!f) {
		fprintf(stderr, "tally run: %s: %s\n", cfg->key_file, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fprintf(stderr, "tally run: %s: readable by others (chmod 600 it)\n",
		        cfg->key_file);
		fclose(f);
		return -EACCES;
	}
	if (fgets(line, sizeof(line), f)) {
		char *key = strtok(line, " \t\r\n"), *secret = strtok(NULL, " \t\r\n");

		if (key && secret && strlen(key) <= TL_RUN_KEY_MAX &&
		    strlen(secret) <= TL_RUN_KEY_MAX) {
			snprintf(cfg->api_key, sizeof(cfg->api_key), "%s", key);
			snprintf(cfg->api_secret, sizeof(cfg->api_secret), "%s", secret);
			rc = 0;
		}
		explicit_bzero(line, sizeof(line));
	}
	fclose(f);
	if (rc)
		fprintf(stderr, "tally run: %s: expected one line \"API-KEY SECRET\"\n",
		        cfg->key_file);
	return rc;
}

/* Starts `tally sim` on a free loopback port; returns its pid and port. */
static int spawn_sim(pid_t *pid, uint16_t *port)
{
	int fds[2];
	char line[512];
	unsigned p = 0;
	FILE *out;

	if (pipe(fds))
		return -errno;
	*pid = fork();
	if (*pid < 0)
		return -errno;
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("TALLY_LOG_FORMAT", "json", 1); /* its log lines like ours */
		execl("/proc/self/exe", "tally", "sim", "--port", "0", "--status-every", "0",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	out = fdopen(fds[0], "r");
	if (!out || !fgets(line, sizeof(line), out) || !strstr(line, "\"listening\"") ||
	    !strstr(line, "\"port\":") ||
	    sscanf(strstr(line, "\"port\":"), "\"port\":%u", &p) != 1) {
		if (out)
			fclose(out);
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		return -EIO;
	}
	/* The rest of its stdout (its "stopped" line) is not needed: let it go. */
	fclose(out);
	*port = (uint16_t)p;
	return 0;
}

static void stop_sim(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		struct timespec ts = {0, 10000000};

		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

int tl_run_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
	                                         {"set", required_argument, NULL, 's'},
	                                         {"duration", required_argument, NULL, 'd'},
	                                         {"json-summary", required_argument, NULL, 'j'},
	                                         {"ledger-dir", required_argument, NULL, 'l'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	static struct tl_run_config cfg;
	const char *config = NULL, *sets[64];
	int n_sets = 0, c, rc, exit_code = 0;
	char ledger_dir[TL_RUN_TEXT_MAX + 1];
	struct engine *e = NULL;
	pid_t sim = 0;
	int64_t start_ms = run_wall_ms();
	uint64_t t0, next_status, next_reconcile;
	char *end;

	tl_run_config_default(&cfg);
	tl_log_set_json(true); /* structured log lines on stderr, beside the status lines */
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			if (n_sets == 64) {
				fprintf(stderr, "tally run: too many --set\n");
				return 2;
			}
			sets[n_sets++] = optarg;
			break;
		case 'd': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (!*optarg || *end || v == 0 || v > 86400u * 365) {
				fprintf(stderr, "tally run: bad --duration '%s' (seconds, > 0)\n",
				        optarg);
				return 2;
			}
			cfg.duration_s = (uint32_t)v;
			break;
		}
		case 'j':
			snprintf(cfg.json_summary, sizeof(cfg.json_summary), "%s", optarg);
			break;
		case 'l':
			snprintf(cfg.ledger_dir, sizeof(cfg.ledger_dir), "%s", optarg);
			break;
		case 'h':
			tl_run_cli_usage(stdout);
			return 0;
		default:
			fputc('\n', stderr);
			tl_run_cli_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally run: unexpected argument '%s'\n\n", argv[optind]);
		tl_run_cli_usage(stderr);
		return 2;
	}
	{
		/* The file first, then --set, then the options above once more (they win). */
		struct tl_run_config cli = cfg;

		tl_run_config_default(&cfg);
		if (config && tl_run_config_load(&cfg, config, stderr))
			return 2;
		for (int i = 0; i < n_sets; i++)
			if (tl_run_config_set(&cfg, sets[i], stderr))
				return 2;
		if (cli.duration_s)
			cfg.duration_s = cli.duration_s;
		if (cli.json_summary[0])
			memcpy(cfg.json_summary, cli.json_summary, sizeof(cfg.json_summary));
		if (cli.ledger_dir[0])
			memcpy(cfg.ledger_dir, cli.ledger_dir, sizeof(cfg.ledger_dir));
	}
	if (cfg.host[0]) {
		const char *k = getenv("TALLY_API_KEY"), *s = getenv("TALLY_API_SECRET");

		if (cfg.key_file[0]) {
			if (load_key_file(&cfg))
				return 1;
		} else if (k && s && strlen(k) <= TL_RUN_KEY_MAX && strlen(s) <= TL_RUN_KEY_MAX) {
			snprintf(cfg.api_key, sizeof(cfg.api_key), "%s", k);
			snprintf(cfg.api_secret, sizeof(cfg.api_secret), "%s", s);
		}
	}
	if (tl_run_config_check(&cfg, stderr))
		return 2;

	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	if (!cfg.host[0]) {
		/* The embedded default: a sim of our own, its demo account. */
		if ((rc = spawn_sim(&sim, &cfg.port))) {
			fprintf(stderr, "tally run: cannot start the embedded sim: %s\n",
			        strerror(-rc));
			return 1;
		}
		snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
		snprintf(cfg.api_key, sizeof(cfg.api_key), "%s", TL_SIM_DEMO_API_KEY);
		snprintf(cfg.api_secret, sizeof(cfg.api_secret), "%s", TL_SIM_DEMO_API_SECRET);
		tl_log(TL_LOG_INFO, "run", "embedded sim on 127.0.0.1:%u (pid %d)", cfg.port,
		       (int)sim);
	}
	if (cfg.ledger_dir[0]) {
		snprintf(ledger_dir, sizeof(ledger_dir), "%s", cfg.ledger_dir);
	} else {
		snprintf(ledger_dir, sizeof(ledger_dir), "/var/tmp/tally-run.XXXXXX");
		if (!mkdtemp(ledger_dir)) {
			fprintf(stderr, "tally run: cannot make a ledger directory: %s\n",
			        strerror(errno));
			stop_sim(sim);
			return 1;
		}
	}
	tl_log(TL_LOG_INFO, "run", "ledger in %s (%s durability, %s orders)", ledger_dir,
	       tl_ledger_durability_name(cfg.durability),
	       cfg.order_mode == TL_RUN_ORDERS_STRICT ? "strict" : "fast");

	if ((rc = engine_create(&e, &cfg, ledger_dir, start_ms)) || (rc = engine_start(e))) {
		fprintf(stderr, "tally run: cannot start: %s\n", tl_strerror(rc));
		if (e) {
			engine_stop(e);
			engine_destroy(e);
		}
		stop_sim(sim);
		return 1;
	}
	explicit_bzero(cfg.api_secret, sizeof(cfg.api_secret));
	tl_log(TL_LOG_INFO, "run", "quoting %s on %s:%u", cfg.symbol, cfg.host, cfg.port);

	t0 = tl_io_now_ns();
	next_status = t0 + (uint64_t)cfg.status_every_ms * 1000000;
	next_reconcile = t0 + (uint64_t)cfg.reconcile_every_ms * 1000000;
	while (!stop_flag) {
		struct timespec ts = {0, 20000000};
		uint64_t now = tl_io_now_ns();

		if (cfg.duration_s && now - t0 >= (uint64_t)cfg.duration_s * 1000000000)
			break;
		if (cfg.status_every_ms && now >= next_status) {
			engine_status(e, stderr);
			next_status = now + (uint64_t)cfg.status_every_ms * 1000000;
		}
		if (cfg.reconcile_every_ms && now >= next_reconcile) {
			engine_reconcile(e, cfg.reconcile_window_ms);
			next_reconcile =
			    tl_io_now_ns() + (uint64_t)cfg.reconcile_every_ms * 1000000;
		}
		nanosleep(&ts, NULL);
	}
	tl_log(TL_LOG_INFO, "run", "stopping: cancelling every order");
	engine_stop(e);
	engine_summary(e, stdout);
	if (cfg.json_summary[0]) {
		FILE *f = fopen(cfg.json_summary, "w");

		if (f) {
			engine_summary(e, f);
			fclose(f);
		} else {
			fprintf(stderr, "tally run: %s: %s\n", cfg.json_summary, strerror(errno));
			exit_code = 1;
		}
	}
	if (engine_drift(e, 0) == INT64_MIN || engine_drift(e, 1) == INT64_MIN) {
		tl_log(TL_LOG_ERR, "run",
		       "the venue's balances could not be read at the end: the drift is unknown");
		exit_code = 1;
	} else if (engine_drift(e, 0) != 0 || engine_drift(e, 1) != 0) {
		tl_log(TL_LOG_ERR, "run", "the ledger and the venue disagree (see drift)");
		exit_code = 1;
	}
	engine_destroy(e);
	stop_sim(sim);
	return exit_code;
}
