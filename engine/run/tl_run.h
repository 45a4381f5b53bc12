/*
 * tl_run.h: `tally run`, the engine: market data, order entry, the strategy and the ledger
 * on their own threads (DESIGN.md §1), against a venue that speaks the Binance Spot
 * protocol: the embedded `tally sim` by default, or the venue a config file names. With
 * threads.layout = fused, md, user and strategy take turns on one thread instead.
 *
 * The threads and what they own
 *   md        an io loop and the book (tl_md_feed): publishes the best levels (TL_EV_TOP)
 *             to the strategy whenever they change.
 *   user      an io loop and the WS API connection (tl_venue_session): turns intents into
 *             signed requests, and the venue's answers and executionReports into order
 *             reports for the strategy and TRADE_SETTLE commands for the ledger.
 *   strategy  no I/O: quotes, the order state machine, inventory and limits, the tick
 *             clock. Writes intents, and the LOCK / UNLOCK of each order to the ledger.
 *   ledger    tl_ledger.h's thread, the only writer of balances.
 * They talk over SPSC rings of tl_event_t (rings/tl_event.h) and the ledger's ports. The
 * hot threads allocate nothing after start-up and take no lock.
 *
 * Errors: negative errno values; the CLI maps them to exit codes (0, 1 failure, 2 usage).
 */
#ifndef TL_RUN_H
#define TL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tl_ledger.h"
#include "tl_md.h"
#include "tl_ring.h"

#define TL_RUN_TEXT_MAX 255
#define TL_RUN_NAME_MAX 23
#define TL_RUN_KEY_MAX 128

/* Where each order's LOCK stands when the order leaves (DESIGN.md §4). */
enum tl_run_order_mode {
	TL_RUN_ORDERS_FAST = 0, /* the order leaves at once; its LOCK is durable within a commit */
	TL_RUN_ORDERS_STRICT,   /* the order leaves once its LOCK is durable */
};

/* Where the three hot stages run (threads.layout). */
enum tl_run_layout {
	TL_RUN_LAYOUT_AUTO =
	    0,               /* fused with fewer than TL_RUN_SPLIT_CPUS CPUs online, else split */
	TL_RUN_LAYOUT_SPLIT, /* md, user and strategy each on a thread of its own */
	TL_RUN_LAYOUT_FUSED, /* all three on one thread and one io_uring, in turn */
};
#define TL_RUN_SPLIT_CPUS 4 /* a CPU for each hot thread and the ledger's */

/* The layout `layout` stands for on this machine (auto resolved); never AUTO. Thread:
 * any. */
enum tl_run_layout tl_run_layout_effective(enum tl_run_layout layout);
const char *tl_run_layout_name(enum tl_run_layout layout);

struct tl_run_config {
	/* [venue]: empty host = the embedded sim, started by `tally run` on loopback */
	char host[TL_RUN_TEXT_MAX + 1];
	uint16_t port;
	bool tls;
	char ca_file[TL_RUN_TEXT_MAX + 1];        /* TLS: trust this PEM instead of the system's */
	char symbol[TL_RUN_NAME_MAX + 1];         /* "BTCUSDT" */
	char base[TL_LEDGER_ASSET_NAME_MAX + 1];  /* "BTC" */
	char quote[TL_LEDGER_ASSET_NAME_MAX + 1]; /* "USDT" */
	struct tl_md_scale scale;                 /* price and quantity decimals (2 and 5) */
	int64_t tick;                             /* tickSize at scale.px_decimals (1) */
	int64_t step;                             /* stepSize at scale.qty_decimals (1) */
	int64_t min_notional;                     /* in 10^-8 quote (5 USDT) */
	/* Secrets: from TALLY_API_KEY / TALLY_API_SECRET, or key_file (mode 0600: "KEY SECRET").
	 * Never logged. The embedded sim uses its demo pair. */
	char key_file[TL_RUN_TEXT_MAX + 1];
	char api_key[TL_RUN_KEY_MAX + 1];
	char api_secret[TL_RUN_KEY_MAX + 1];

	/* [strategy] (prices in ticks, quantities in lots) */
	uint32_t levels;            /* per side, 1..16 */
	int64_t level_qty;          /* each order's quantity, lots */
	uint32_t half_spread_ticks; /* from the reference price to the first level */
	uint32_t spacing_ticks;     /* between levels; at least 3 */
	uint32_t min_width_ticks;   /* best ask - best bid of our quotes, at least */
	uint32_t refresh_ticks;     /* replace an order only when it is off by more */
	int64_t max_position;       /* |inventory| limit per side, lots */
	uint32_t skew_ticks;        /* shift at a full max_position, linear in between */
	bool microprice;            /* reference: microprice (true) or mid */
	/* Orders placed a second at most: the venue counts orders (Binance: 100 per 10 s), and
	 * every replace is a cancel and a place. */
	uint32_t max_places_per_s;

	/* [ledger] */
	char ledger_dir[TL_RUN_TEXT_MAX + 1]; /* empty: a fresh directory under /var/tmp */
	tl_ledger_durability_t durability;
	enum tl_run_order_mode order_mode;
	uint32_t prealloc_mb; /* the ledger's data file is filled to this at open (0: never) */
	char account[TL_LEDGER_ACCOUNT_NAME_MAX + 1]; /* the venue trading account's ledger name */

	/* [threads] */
	/* split: md, user and strategy on three threads, as DESIGN.md §1 draws them. fused: the
	 * three stages take turns on one thread (the md thread: cpu_md, md_idle) and one
	 * io_uring, still talking over the same rings; a tick reaches the order it causes
	 * without a thread hand-off or a wake-up. For a box with fewer cores than threads,
	 * which is what auto (the default) picks it for. */
	enum tl_run_layout layout;
	int cpu_md, cpu_user, cpu_strategy; /* -1: not pinned */
	/* As tl_ledger_config.cpu: -1, a CPU, or TL_LEDGER_CPU_DISK ("disk", the default). */
	int cpu_ledger;
	/* Each hot thread's wait when idle (default block, right for a small box):
	 *   block  md and user sleep in io_uring (an intent wakes the user thread at once);
	 *          the strategy spins a little, yields, then sleeps on its rings
	 *   yield  poll without sleeping; give the CPU away after a round with nothing
	 *   spin   poll without sleeping; owns a core */
	tl_idle_kind_t md_idle, user_idle, strategy_idle;
	uint32_t user_poll_us; /* block: the user thread's longest sleep (timers, back-fills) */
	/* Idle for this long, a hot thread runs its reaction path on canned input (md: parse
	 * and apply a depth event to a scratch book; user: build and sign an order that is
	 * never sent), so that a tick after a quiet spell finds it in the caches. 0: never. */
	uint32_t warm_us;

	/* the run */
	uint32_t duration_s;                    /* 0: until a signal */
	char json_summary[TL_RUN_TEXT_MAX + 1]; /* write the summary here too */
	uint32_t status_every_ms;               /* the status line; default 1000, 0: none */
	uint32_t shutdown_wait_ms;              /* bound on waiting for the venue to confirm */
	uint32_t reconcile_every_ms;  /* compare the venue's balances with the ledger's; 0: no */
	uint32_t reconcile_window_ms; /* a difference older than this is written and pauses */
	/* The first request a market-data update causes carries that update's id in its WS API
	 * "id" (update id x 2^24 + a counter), for `tally bench t2t`'s sim to measure
	 * tick-to-trade by cause. Off by default: a real venue needs no such ids. */
	bool t2t_ids;
};

/* The embedded default: the sim's BTCUSDT, demo account, 3 levels of 0.001 BTC, fast
 * orders, strict ledger, nothing pinned, strategy idle `block`. Thread: any. */
void tl_run_config_default(struct tl_run_config *cfg);

/*
 * Reads an INI file on top of *cfg (sections [venue], [strategy], [ledger], [threads],
 * [run]; see deploy/tally.example.ini). An unknown section or key, or a bad value, is an
 * error naming the file, line and key (on `err`). Returns 0, -ENOENT / -EACCES (the file),
 * or -EINVAL.
 */
int tl_run_config_load(struct tl_run_config *cfg, const char *path, FILE *err);

/* One "section.key=value" override, as a line of the INI file would set it. Returns 0 or
 * -EINVAL (message on err). */
int tl_run_config_set(struct tl_run_config *cfg, const char *assignment, FILE *err);

/* Checks the whole config (ranges, the spacing floor, secrets present unless embedded).
 * Returns 0 or -EINVAL with one line on err. */
int tl_run_config_check(const struct tl_run_config *cfg, FILE *err);

/* `tally run ...`: argv[0] is "run". Returns the exit status. */
int tl_run_cli_main(int argc, char **argv);
void tl_run_cli_usage(FILE *out);

#endif /* TL_RUN_H */
