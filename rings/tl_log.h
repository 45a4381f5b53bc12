/*
 * tl_log.h: one log line on stderr, the way systemd wants it.
 *
 * Under systemd (JOURNAL_STREAM is set) each line starts with "<N>", the syslog priority,
 * so the journal files it at the right level; on a terminal that prefix would be noise, so
 * errors say "error: " instead. Lines are written with one fprintf, so lines from
 * different threads do not interleave.
 *
 * With tl_log_set_json(true) (`tally run` does it) each line is one JSON object instead:
 *   {"ts_ms":<wall ms>,"level":"warning","prio":4,"component":"run","msg":"..."}
 * so log collectors read them as records.
 */
#ifndef TL_LOG_H
#define TL_LOG_H

/* syslog(3) priorities. */
#define TL_LOG_ERR 3
#define TL_LOG_WARNING 4
#define TL_LOG_NOTICE 5
#define TL_LOG_INFO 6

#include <stdbool.h>

/*
 * Writes "tally <component>: <message>" on stderr. Lines over 1 KiB are cut.
 * Thread: any. Blocks: on stderr. Not for the hot path: it formats and makes a syscall.
 */
void tl_log(int prio, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Switches every later line to JSON (true) or back. Thread: any. Blocks: no. */
void tl_log_set_json(bool json);

#endif /* TL_LOG_H */
