/*
 * md_replay.c: recorded market data through the live path's parser, sync and book.
 *
 * DESIGN
 * The reader turns capture files into records (a timestamp, a JSON message, sometimes a
 * symbol). Two formats are recognised line by line, so files of both kinds can be mixed:
 *   binance-spot  "<local_ns> <json>"
 *   cryptofeed    "<secs.frac>: <json>" for stream messages, after a "wss://..." header;
 *                 "https://...symbol=S... -> <secs.frac>: <json>" for REST snapshots.
 * zlib reads plain and gzip files alike. Each file's records are in time order; several
 * files are merged by timestamp, so 0808 then 0809, or a cryptofeed ws file and its http
 * file, interleave as they were recorded.
 *
 * The driver keeps one book and one sync per symbol and feeds them exactly as the md
 * thread does live. A snapshot line of binance-spot names no symbol: it belongs to the
 * symbol its file was streaming.
 */
#include "tl_md.h"
#include "tl_event.h"
#include "tl_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define LINE_MAX_BYTES (8u << 20) /* a 5000-level snapshot is about 350 KB */
#define MAX_SYMBOLS 64

struct reader_file {
	gzFile gz;
	const char *path;
	uint64_t line_no;
	char *line; /* the current line, NUL-terminated */
	size_t line_len;
	bool has_record; /* `rec` holds this file's next record */
	bool eof;
	struct tl_md_record rec;
	char symbol_hint[TL_MD_SYMBOL_MAX + 1];
	char stream_symbol[TL_MD_SYMBOL_MAX + 1]; /* the last symbol this file streamed */
};

struct tl_md_reader {
	struct reader_file *files;
	size_t n_files;
	uint64_t bad_lines;
	uint64_t json_bytes;
	int last_error; /* set when a file failed to read */
};

int tl_md_reader_open(tl_md_reader_t **out, char *const paths[], size_t n)
{
	if (!out || !paths || n == 0)
		return -EINVAL;
	struct tl_md_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->files = calloc(n, sizeof(*r->files));
	if (!r->files) {
		free(r);
		return -ENOMEM;
	}
	r->n_files = n;
	for (size_t i = 0; i < n; i++) {
		struct reader_file *f = &r->files[i];
		f->path = paths[i];
		f->gz = gzopen(paths[i], "rb");
		f->line = malloc(LINE_MAX_BYTES);
		if (!f->gz || !f->line) {
			int rc = f->line ? (errno ? -errno : -EIO) : -ENOMEM;
			tl_log(TL_LOG_ERR, "replay", "%s: %s", paths[i], tl_strerror(rc));
			tl_md_reader_close(r);
			return rc;
		}
		gzbuffer(f->gz, 1u << 20);
	}
	*out = r;
	return 0;
}

void tl_md_reader_close(tl_md_reader_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_files; i++) {
		if (r->files[i].gz)
			gzclose(r->files[i].gz);
		free(r->files[i].line);
	}
	free(r->files);
	free(r);
}

uint64_t tl_md_reader_bad_lines(const tl_md_reader_t *r)
{
	return r->bad_lines;
}

uint64_t tl_md_reader_json_bytes(const tl_md_reader_t *r)
{
	return r->json_bytes;
}

/* Parses "<digits>[.<digits>]" into ns; `frac` says whether the value is in seconds. */
static const char *parse_stamp(const char *p, int64_t *ns)
{
	int64_t whole = 0;
	const char *start = p;
	while (*p >= '0' && *p <= '9') {
		if (whole > (INT64_MAX - 9) / 10)
			return NULL;
		whole = whole * 10 + (*p++ - '0');
	}
	if (p == start)
		return NULL;
	if (*p != '.') {
		*ns = whole; /* binance-spot: already ns */
		return p;
	}
	p++;
	int64_t frac = 0, scale = 1000000000;
	while (*p >= '0' && *p <= '9') {
		if (scale > 1) {
			scale /= 10;
			frac += (*p - '0') * scale;
		}
		p++;
	}
	if (whole > INT64_MAX / 1000000000 - 1)
		return NULL;
	*ns = whole * 1000000000 + frac;
	return p;
}

/* Copies the value of "symbol=" in a URL, upper-cased as the venue's "s" is. */
static void url_symbol(const char *url, size_t len, char *out)
{
	out[0] = '\0';
	const char *p = memmem(url, len, "symbol=", 7);
	if (!p)
		return;
	p += 7;
	size_t i = 0;
	while (p < url + len && *p != '&' && *p != ' ' && i < TL_MD_SYMBOL_MAX) {
		char c = *p++;
		out[i++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
	}
	out[i] = '\0';
}

/*
 * Reads the file's next record into f->rec. Returns 1, 0 at the end, or a negative error
 * for a read failure. Malformed lines are counted and skipped.
 */
static int file_next(struct tl_md_reader *r, struct reader_file *f)
{
	for (;;) {
		if (!gzgets(f->gz, f->line, (int)LINE_MAX_BYTES)) {
			int errnum;
			const char *msg = gzerror(f->gz, &errnum);
			if (errnum != Z_OK && errnum != Z_STREAM_END) {
				tl_log(TL_LOG_ERR, "replay", "%s: line %" PRIu64 ": %s", f->path,
				       f->line_no + 1, msg);
				return -EIO;
			}
			return 0;
		}
		f->line_no++;
		size_t len = strlen(f->line);
		bool whole = len && f->line[len - 1] == '\n';
		if (!whole && !gzeof(f->gz)) {
			/* Longer than any message we accept: skip the rest of it. */
			r->bad_lines++;
			tl_log(TL_LOG_WARNING, "replay",
			       "%s: line %" PRIu64 ": longer than %u bytes, skipped", f->path,
			       f->line_no, LINE_MAX_BYTES);
			while (gzgets(f->gz, f->line, (int)LINE_MAX_BYTES) &&
			       f->line[strlen(f->line) - 1] != '\n')
				;
			continue;
		}
		while (len && (f->line[len - 1] == '\n' || f->line[len - 1] == '\r'))
			f->line[--len] = '\0';
		if (len == 0 || strncmp(f->line, "wss://", 6) == 0)
			continue; /* blank, or cryptofeed's header naming the streams */
		const char *p = f->line;
		f->symbol_hint[0] = '\0';
		if (strncmp(p, "https://", 8) == 0) {
			const char *arrow = strstr(p, " -> ");
			if (!arrow)
				goto bad;
			url_symbol(p, (size_t)(arrow - p), f->symbol_hint);
			p = arrow + 4;
		}
		int64_t ts;
		p = parse_stamp(p, &ts);
		if (!p)
			goto bad;
		if (*p == ':')
			p++;
		if (*p != ' ' || p[1] != '{')
			goto bad;
		p++;
		f->rec.ts_ns = ts;
		f->rec.json = p;
		f->rec.len = len - (size_t)(p - f->line);
		f->rec.symbol_hint = f->symbol_hint;
		f->rec.source = f->path;
		f->rec.line_no = f->line_no;
		return 1;
	bad:
		r->bad_lines++;
		if ((r->bad_lines & (r->bad_lines - 1)) == 0) /* 1, 2, 4, ...: rate-limited */
			tl_log(TL_LOG_WARNING, "replay",
			       "%s: line %" PRIu64 ": not a capture line (%" PRIu64 " so far)",
			       f->path, f->line_no, r->bad_lines);
	}
}

int tl_md_reader_next(tl_md_reader_t *r, struct tl_md_record *rec)
{
	struct reader_file *best = NULL;
	for (size_t i = 0; i < r->n_files; i++) {
		struct reader_file *f = &r->files[i];
		if (!f->has_record && !f->eof) {
			int rc = file_next(r, f);
			if (rc < 0)
				return rc;
			f->has_record = rc == 1;
			f->eof = rc == 0;
		}
		if (f->has_record && (!best || f->rec.ts_ns < best->rec.ts_ns))
			best = f;
	}
	if (!best)
		return 0;
	/* The record's text lives in the file's line buffer, untouched until this file is
	 * read again, which happens only on the next call. */
	best->has_record = false;
	*rec = best->rec;
	rec->file_index = (size_t)(best - r->files);
	r->json_bytes += rec->len;
	return 1;
}

/* ---- the driver --------------------------------------------------------------------- */

struct replay_symbol {
	char name[TL_MD_SYMBOL_MAX + 1];
	tl_book_t *book;
	tl_md_sync_t *sync;
	bool warned_syncing;
};

struct tl_md_replay {
	const struct tl_md_replay_opts *o;
	struct tl_md_replay_stats *st;
	tl_md_reader_t *reader;
	tl_md_parser_t *parser;
	/* The record read but not replayed yet (it is stamped after the last until_ns). Its
	 * text stays valid until the reader's next call. */
	struct tl_md_record pending;
	bool has_pending, at_end;
	uint64_t records;
	int64_t started_ns;
	struct replay_symbol syms[MAX_SYMBOLS];
	size_t n_syms;
	char file_symbol[64][TL_MD_SYMBOL_MAX + 1]; /* the last symbol each file streamed */
};

static struct replay_symbol *symbol_get(struct tl_md_replay *rp, const char *name)
{
	for (size_t i = 0; i < rp->n_syms; i++)
		if (strcmp(rp->syms[i].name, name) == 0)
			return &rp->syms[i];
	if (rp->n_syms == MAX_SYMBOLS)
		return NULL;
	struct replay_symbol *s = &rp->syms[rp->n_syms];
	struct tl_book_config bc;
	tl_book_config_default(&bc);
	struct tl_md_sync_config sc;
	tl_md_sync_config_default(&sc);
	if (tl_book_create(&s->book, &bc) < 0)
		return NULL;
	if (tl_md_sync_create(&s->sync, &sc, s->book) < 0) {
		tl_book_destroy(s->book);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	rp->n_syms++;
	return s;
}

static const char *parse_error_kind(int rc)
{
	switch (rc) {
	case -EDOM:
		return "inexact decimal";
	case -ERANGE:
		return "number out of range";
	case -E2BIG:
		return "too many levels";
	default:
		return "malformed message";
	}
}

static void count_bad(struct tl_md_replay *rp, int rc, const struct tl_md_record *rec)
{
	uint64_t *n = rc == -EDOM     ? &rp->st->bad_inexact
	              : rc == -ERANGE ? &rp->st->bad_range
	              : rc == -E2BIG  ? &rp->st->bad_too_big
	                              : &rp->st->bad_json;
	(*n)++;
	if ((*n & (*n - 1)) == 0) /* the first of its kind, then 2, 4, 8...: rate-limited */
		tl_log(TL_LOG_WARNING, "replay",
		       "%s: line %" PRIu64 ": %s, skipped (%" PRIu64 " of this kind)", rec->source,
		       rec->line_no, parse_error_kind(rc), *n);
}

static void on_result(struct tl_md_replay *rp, struct replay_symbol *s, enum tl_md_sync_result r,
                      const struct tl_md_msg *m)
{
	if (r == TL_MD_SYNC_GAP) {
		uint64_t from, to;
		tl_md_sync_last_gap(s->sync, &from, &to);
		tl_log(TL_LOG_WARNING, "replay",
		       "%s: gap: the book was at update %" PRIu64
		       " and the next event starts at %" PRIu64 "; book discarded, resyncing",
		       s->name, from, to);
	} else if (r == TL_MD_SYNC_CROSSED || r == TL_MD_SYNC_BOOK_FULL) {
		tl_log(TL_LOG_WARNING, "replay",
		       "%s: book %s at update %" PRIu64 "; discarded, resyncing", s->name,
		       r == TL_MD_SYNC_CROSSED ? "crossed" : "full", m->final_id);
	} else if (r == TL_MD_SYNC_LIVE) {
		tl_log(TL_LOG_INFO, "replay", "%s: snapshot at update %" PRIu64 " accepted: live",
		       s->name, m->final_id);
	} else if (r == TL_MD_SYNC_STALE) {
		tl_log(TL_LOG_INFO, "replay",
		       "%s: snapshot at update %" PRIu64
		       " is older than the stream (first buffered %" PRIu64
		       "); waiting for another",
		       s->name, m->final_id, tl_md_sync_first_buffered_id(s->sync));
	}
	if ((r == TL_MD_SYNC_APPLIED || r == TL_MD_SYNC_LIVE) && rp->o->on_applied)
		rp->o->on_applied(rp->o->user, s->name, tl_md_sync_book_id(s->sync), s->book);
	if (rp->o->on_depth)
		rp->o->on_depth(rp->o->user, s->name, r, m, s->book);
}

static bool wanted(const struct tl_md_replay *rp, const char *symbol)
{
	return !rp->o->symbol || strcasecmp(rp->o->symbol, symbol) == 0;
}

static void handle(struct tl_md_replay *rp, const struct tl_md_record *rec)
{
	struct tl_md_msg m;
	int rc = tl_md_parse(rp->parser, rec->json, rec->len, &m);
	if (rc < 0) {
		count_bad(rp, rc, rec);
		return;
	}
	char *file_sym = rec->file_index < 64 ? rp->file_symbol[rec->file_index] : NULL;
	const char *name = m.symbol;
	if (m.kind == TL_MD_SNAPSHOT)
		name = rec->symbol_hint[0] ? rec->symbol_hint : file_sym ? file_sym : "";
	if (m.kind == TL_MD_DEPTH || m.kind == TL_MD_TICKER || m.kind == TL_MD_TRADE) {
		if (file_sym)
			snprintf(file_sym, TL_MD_SYMBOL_MAX + 1, "%s", m.symbol);
	}
	switch (m.kind) {
	case TL_MD_TICKER:
		rp->st->tickers++;
		if (wanted(rp, name) && rp->o->on_ticker)
			rp->o->on_ticker(rp->o->user, &m);
		return;
	case TL_MD_TRADE:
		rp->st->trades++;
		if (wanted(rp, name) && rp->o->on_trade)
			rp->o->on_trade(rp->o->user, &m);
		return;
	case TL_MD_DEPTH:
	case TL_MD_SNAPSHOT:
		break;
	default:
		rp->st->other++;
		return;
	}
	if (!name[0]) {
		rp->st->orphan_snapshots++;
		return;
	}
	if (!wanted(rp, name))
		return;
	struct replay_symbol *s = symbol_get(rp, name);
	if (!s) {
		rp->st->skipped_symbols++;
		return;
	}
	enum tl_md_sync_result r;
	if (m.kind == TL_MD_DEPTH) {
		rp->st->depth_bytes += rec->len;
		r = tl_md_sync_depth(s->sync, &m);
	} else {
		r = tl_md_sync_snapshot(s->sync, &m);
	}
	on_result(rp, s, r, &m);
}

int tl_md_replay_open(tl_md_replay_t **out, char *const paths[], size_t n,
                      const struct tl_md_replay_opts *o, struct tl_md_replay_stats *st)
{
	if (!out || !o || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	struct tl_md_replay *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->o = o;
	rp->st = st;
	rp->started_ns = tl_mono_ns();
	int rc = tl_md_reader_open(&rp->reader, paths, n);
	if (rc < 0) {
		free(rp);
		return rc;
	}
	struct tl_md_parser_config pc;
	tl_md_parser_config_default(&pc);
	pc.scale = o->scale;
	rc = tl_md_parser_create(&rp->parser, &pc);
	if (rc < 0) {
		tl_md_reader_close(rp->reader);
		free(rp);
		return rc;
	}
	*out = rp;
	return 0;
}

/* Makes rp->pending the next record, unless there is none. Returns 1, 0 or the error. */
static int peek(struct tl_md_replay *rp)
{
	if (rp->has_pending)
		return 1;
	if (rp->at_end)
		return 0;
	int rc = tl_md_reader_next(rp->reader, &rp->pending);
	if (rc == 1)
		rp->has_pending = true;
	else
		rp->at_end = true;
	return rc;
}

int tl_md_replay_until(tl_md_replay_t *rp, int64_t until_ns)
{
	int rc;
	while ((rc = peek(rp)) == 1 && rp->pending.ts_ns <= until_ns) {
		rp->has_pending = false;
		handle(rp, &rp->pending);
		if (rp->o->progress && (++rp->records & 0xffff) == 0)
			fprintf(stderr, "\rtally replay: %" PRIu64 " messages", rp->records);
	}
	return rc;
}

int64_t tl_md_replay_next_ns(const tl_md_replay_t *rp)
{
	return rp->has_pending ? rp->pending.ts_ns : INT64_MAX;
}

void tl_md_replay_close(tl_md_replay_t *rp)
{
	if (!rp)
		return;
	struct tl_md_replay_stats *st = rp->st;
	if (rp->o->progress && rp->records > 0xffff)
		fputc('\n', stderr);
	st->elapsed_ns = (uint64_t)(tl_mono_ns() - rp->started_ns);
	st->json_bytes = tl_md_reader_json_bytes(rp->reader);
	st->bad_lines = tl_md_reader_bad_lines(rp->reader);
	st->n_symbols = rp->n_syms;
	for (size_t i = 0; i < rp->n_syms; i++) {
		if (i < TL_MD_REPLAY_SYMBOLS) {
			struct tl_md_replay_symbol *out = &st->symbols[i];
			snprintf(out->name, sizeof(out->name), "%s", rp->syms[i].name);
			out->state = tl_md_sync_state(rp->syms[i].sync);
			out->counters = *tl_md_sync_counters(rp->syms[i].sync);
		}
		const struct tl_md_sync_counters *c = tl_md_sync_counters(rp->syms[i].sync);
		st->events += c->events;
		st->levels_applied += c->levels_applied;
		st->gaps += c->gaps;
		st->resyncs += c->resyncs;
		tl_md_sync_destroy(rp->syms[i].sync);
		tl_book_destroy(rp->syms[i].book);
	}
	tl_md_parser_destroy(rp->parser);
	tl_md_reader_close(rp->reader);
	free(rp);
}

int tl_md_replay_run(char *const paths[], size_t n, const struct tl_md_replay_opts *o,
                     struct tl_md_replay_stats *st)
{
	tl_md_replay_t *rp;
	int rc = tl_md_replay_open(&rp, paths, n, o, st);
	if (rc < 0)
		return rc;
	rc = tl_md_replay_until(rp, INT64_MAX);
	tl_md_replay_close(rp);
	return rc < 0 ? rc : 0;
}
