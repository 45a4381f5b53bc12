/* md_cli.c: `tally replay`: recorded captures through the live parser, sync and book. */
#include "tl_md.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct emit {
	int px_decimals;
	int qty_decimals;
};

void tl_md_replay_cli_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally replay [--symbol S] [--emit top] [--px-decimals N] [--qty-decimals N]\n"
	    "                    FILE...\n"
	    "\n"
	    "Runs recorded market data through the parser, the depth sync and the L2 book that\n"
	    "the live md thread uses. FILEs may be gzip-compressed, and may be of two kinds:\n"
	    "  binance-spot  lines of '<local_ns> <json>' (a combined stream, and REST snapshots)\n"
	    "  cryptofeed    '<secs>: <json>' stream lines after a 'wss://' header, and\n"
	    "                'https://..symbol=S.. -> <secs>: <json>' snapshot lines\n"
	    "Several files are merged by their timestamps. Each symbol is synced on its own: its\n"
	    "depth events are buffered until a snapshot connects, then applied; a gap in the\n"
	    "update ids discards the book and starts a resync, and is reported on stderr.\n"
	    "\n"
	    "Options:\n"
	    "  --symbol S         only this symbol (case-insensitive)\n"
	    "  --emit top         after each applied depth event, print one JSON line on stdout:\n"
	    "                     {\"u\":<final "
	    "id>,\"bid\":\"<px>\",\"bid_qty\":\"<qty>\",\"ask\":\"<px>\",\n"
	    "                     \"ask_qty\":\"<qty>\"} (null for an empty side). The events\n"
	    "                     buffered until a snapshot connects are applied together:\n"
	    "                     they give one line, at the last one's id. With several\n"
	    "                     symbols, use --symbol: the lines do not name theirs\n"
	    "  --px-decimals N    decimals of prices, 0..18 (default 8, as Binance writes them)\n"
	    "  --qty-decimals N   decimals of quantities, 0..18 (default 8)\n"
	    "  -h, --help         show this help\n"
	    "\n"
	    "At the end a summary goes to stderr: per symbol its state (live, syncing,\n"
	    "resyncing), events, levels applied, gaps and resyncs; then elapsed time and MB/s of\n"
	    "JSON read. Bad lines and messages are counted, logged (rate-limited) and skipped.\n"
	    "\n"
	    "Exit status: 0 when every file was read, 1 when one could not be, 2 on a usage\n"
	    "error.\n");
}

static void print_side(const tl_book_t *book, tl_book_side_t side, const char *px_key,
                       const char *qty_key, const struct emit *e)
{
	struct tl_book_level l;
	if (!tl_book_best(book, side, &l)) {
		printf("\"%s\":null,\"%s\":null", px_key, qty_key);
		return;
	}
	char px[48], qty[48];
	tl_md_dec_format(px, sizeof(px), l.px.v, e->px_decimals);
	tl_md_dec_format(qty, sizeof(qty), l.qty.v, e->qty_decimals);
	printf("\"%s\":\"%s\",\"%s\":\"%s\"", px_key, px, qty_key, qty);
}

static void emit_top(void *user, const char *symbol, uint64_t update_id, const tl_book_t *book)
{
	(void)symbol;
	const struct emit *e = user;
	printf("{\"u\":%" PRIu64 ",", update_id);
	print_side(book, TL_BOOK_BID, "bid", "bid_qty", e);
	putchar(',');
	print_side(book, TL_BOOK_ASK, "ask", "ask_qty", e);
	puts("}");
}

static int parse_decimals(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 18)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static void summary(const struct tl_md_replay_stats *st)
{
	for (size_t i = 0; i < st->n_symbols && i < TL_MD_REPLAY_SYMBOLS; i++) {
		const struct tl_md_replay_symbol *s = &st->symbols[i];
		const struct tl_md_sync_counters *c = &s->counters;
		fprintf(stderr,
		        "tally replay: %s: %s; %" PRIu64 " depth events, %" PRIu64
		        " applied, %" PRIu64 " levels applied, %" PRIu64 " gaps, %" PRIu64
		        " resyncs, %" PRIu64 " snapshots (%" PRIu64 " too old)\n",
		        s->name, tl_md_sync_state_name(s->state), c->events, c->applied,
		        c->levels_applied, c->gaps, c->resyncs, c->snapshots, c->stale_snapshots);
		if (s->state != TL_MD_LIVE)
			fprintf(
			    stderr,
			    "tally replay: %s: still %s: no snapshot connected to its stream%s\n",
			    s->name, tl_md_sync_state_name(s->state),
			    s->state == TL_MD_RESYNCING ? " after the last gap" : "");
	}
	if (st->n_symbols > TL_MD_REPLAY_SYMBOLS)
		fprintf(stderr, "tally replay: (%zu more symbols not listed)\n",
		        st->n_symbols - TL_MD_REPLAY_SYMBOLS);
	uint64_t bad = st->bad_json + st->bad_inexact + st->bad_range + st->bad_too_big;
	double secs = (double)st->elapsed_ns / 1e9;
	fprintf(stderr,
	        "tally replay: %" PRIu64 " depth events, %" PRIu64 " levels applied, %" PRIu64
	        " gaps, %" PRIu64 " resyncs, %" PRIu64 " tickers, %" PRIu64 " trades; %" PRIu64
	        " bad messages, %" PRIu64 " bad lines; %.3f s, %.1f MB/s of JSON\n",
	        st->events, st->levels_applied, st->gaps, st->resyncs, st->tickers, st->trades, bad,
	        st->bad_lines, secs, secs > 0 ? (double)st->json_bytes / 1e6 / secs : 0.0);
}

int tl_md_replay_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"symbol", required_argument, NULL, 's'},
	                                         {"emit", required_argument, NULL, 'e'},
	                                         {"px-decimals", required_argument, NULL, 'p'},
	                                         {"qty-decimals", required_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	struct tl_md_replay_opts o;
	memset(&o, 0, sizeof(o));
	struct emit e = {8, 8};
	bool top = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.symbol = optarg;
			break;
		case 'e':
			if (strcmp(optarg, "top") != 0) {
				fprintf(stderr, "tally replay: --emit takes 'top', not '%s'\n",
				        optarg);
				return 2;
			}
			top = true;
			break;
		case 'p':
		case 'q':
			if (parse_decimals(optarg, c == 'p' ? &e.px_decimals : &e.qty_decimals) <
			    0) {
				fprintf(stderr, "tally replay: bad value '%s' for --%s (0..18)\n",
				        optarg, c == 'p' ? "px-decimals" : "qty-decimals");
				return 2;
			}
			break;
		case 'h':
			tl_md_replay_cli_usage(stdout);
			return 0;
		default:
			fputc('\n', stderr);
			tl_md_replay_cli_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tally replay: no capture file given\n\n");
		tl_md_replay_cli_usage(stderr);
		return 2;
	}
	o.scale.px_decimals = e.px_decimals;
	o.scale.qty_decimals = e.qty_decimals;
	o.progress = !top && isatty(STDERR_FILENO);
	if (top) {
		o.on_applied = emit_top;
		o.user = &e;
	}
	struct tl_md_replay_stats *st = malloc(sizeof(*st));
	if (!st) {
		fprintf(stderr, "tally replay: out of memory\n");
		return 1;
	}
	int rc = tl_md_replay_run(argv + optind, (size_t)(argc - optind), &o, st);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "tally replay: stopped: %s\n", tl_strerror(rc));
		free(st);
		return 1;
	}
	summary(st);
	free(st);
	return 0;
}
