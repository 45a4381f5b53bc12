/* bench.c: `tally bench <name>`: picks the benchmark. Only benchmarks that run are listed. */
#include "tl_bench.h"
#include "bench_internal.h"

#include <string.h>

static const struct bench {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} benches[] = {
    {"ring", tl_bench_ring, "SPSC ring vs ck_ring; round trip vs two bare atomics"},
    {"ledger", tl_bench_ledger, "ledger group commit vs one commit per mutation; ack latency"},
    {"book", tl_bench_book, "market data: parse + apply of the real BTCUSDT capture; jsmn"},
    {"venue", tl_bench_venue, "order.place round trip against tally sim; signing; sim capacity"},
    {"io", tl_bench_io, "WebSocket echo: io_uring client vs blocking sockets; TLS cost"},
    {"t2t", tl_bench_t2t, "tick-to-trade of tally run against tally sim; vs a minimal responder"},
};

#define BENCH_COUNT (sizeof(benches) / sizeof(benches[0]))

void tl_bench_usage(FILE *out)
{
	fprintf(out, "Usage: tally bench <name> [--json] [options]\n\nBenchmarks:\n");
	for (size_t i = 0; i < BENCH_COUNT; i++)
		fprintf(out, "  %-8s %s\n", benches[i].name, benches[i].what);
	fprintf(out,
	        "\nEach figure is the median of several repetitions, compared with a baseline\n"
	        "measured in the same run. 'tally bench <name> --help' lists its options.\n");
}

int tl_bench_main(int argc, char **argv)
{
	if (argc < 2) {
		tl_bench_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		tl_bench_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < BENCH_COUNT; i++)
		if (strcmp(argv[1], benches[i].name) == 0)
			return benches[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tally bench: unknown benchmark '%s'\n\n", argv[1]);
	tl_bench_usage(stderr);
	return 2;
}
