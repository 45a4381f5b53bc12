/* log.c: systemd-friendly log lines (tl_log.h). */
#include "tl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void tl_log(int prio, const char *component, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>tally %s: %s\n", prio, component, line);
	else
		fprintf(stderr, "tally %s: %s%s\n", component, prio <= TL_LOG_ERR ? "error: " : "",
		        line);
}
