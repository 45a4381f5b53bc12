/*
 * main.c: the `tally` command line. It dispatches subcommands and lists only those that
 * work. Exit status everywhere: 0 success, 1 failure, 2 usage error.
 */
#include "tl_bench.h"
#include "tl_ledger.h"
#include "tl_md.h"
#include "tl_log.h"
#include "tl_ring.h"
#include "tl_run.h"
#include "tl_sim_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TALLY_VERSION
#define TALLY_VERSION "unknown"
#endif

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *out);
	const char *what;
} commands[] = {
    {"run", tl_run_cli_main, tl_run_cli_usage,
     "run the market-making engine (by default against its own embedded sim)"},
    {"ledger", tl_ledger_cli_main, tl_ledger_cli_usage, "apply, inspect and verify the ledger"},
    {"replay", tl_md_replay_cli_main, tl_md_replay_cli_usage,
     "run recorded market data through the parser, depth sync and book"},
    {"sim", tl_sim_cli_main, tl_sim_cli_usage,
     "run the venue simulator (Binance Spot protocol on loopback)"},
    {"bench", tl_bench_main, tl_bench_usage, "run a benchmark and report its figures"},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: tally <command> [options]\n"
	        "       tally --help | --version\n"
	        "\n"
	        "tally is a lock-free, multithreaded market-making engine for a venue that speaks\n"
	        "the Binance Spot protocol. Its ledger, a single thread writing LMDB, is the only\n"
	        "source of truth for money.\n"
	        "\n"
	        "Commands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(out, "\n'tally <command> --help' describes a command and its options.\n"
	             "\n"
	             "Environment: TALLY_LOG_FORMAT=json writes every log line as a JSON object\n"
	             "(`tally run` always does); under systemd (JOURNAL_STREAM) plain lines carry\n"
	             "their syslog priority.\n"
	             "\n"
	             "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n");
}

int main(int argc, char **argv)
{
	const char *log_format = getenv("TALLY_LOG_FORMAT");

	if (log_format && strcmp(log_format, "json") == 0)
		tl_log_set_json(true);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("tally %s (%s)\n", TALLY_VERSION, TALLY_BUILD);
		return 0;
	}
	/* Started as /proc/self/exe (the embedded sim, the bench's engine), the process would
	 * be called "exe" in ps and top; its threads start with this name too. */
	tl_thread_name_self("tally");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tally: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
