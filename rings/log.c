/* log.c: systemd-friendly log lines (tl_log.h), plain or JSON. */
#include "tl_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Atomic int log_json;

void tl_log_set_json(bool json)
{
	atomic_store_explicit(&log_json, json, memory_order_relaxed);
}

static const char *level_name(int prio)
{
	return prio <= TL_LOG_ERR       ? "error"
	       : prio == TL_LOG_WARNING ? "warning"
	       : prio == TL_LOG_NOTICE  ? "notice"
	                                : "info";
}

/* Writes s as the inside of a JSON string: quotes, backslashes and control bytes escaped
 * (bytes >= 0x80 pass: the messages are UTF-8 or ASCII). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void tl_log(int prio, const char *component, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		char msg[6 * sizeof(line)];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		json_escape(msg, sizeof(msg), line);
		fprintf(stderr,
		        "{\"ts_ms\":%lld,\"level\":\"%s\",\"prio\":%d,\"component\":\"%s\","
		        "\"msg\":\"%s\"}\n",
		        (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, level_name(prio), prio,
		        component, msg);
	} else if (getenv("JOURNAL_STREAM")) {
		fprintf(stderr, "<%d>tally %s: %s\n", prio, component, line);
	} else {
		fprintf(stderr, "tally %s: %s%s\n", component, prio <= TL_LOG_ERR ? "error: " : "",
		        line);
	}
}
