/*
 * http_codec.c: the client side of HTTP/1.1 (RFC 9112): requests out, responses in.
 *
 * DESIGN
 * The response parser behaves as a state machine that takes one byte at a time. Its fast
 * paths (memchr for line ends, memcpy for runs of body bytes) reach the same state on the
 * same byte. So a response gives the same result, and fails with the same error on the
 * same byte, however its bytes are split across calls. The fuzz target checks that
 * property.
 *
 * The head is copied into head_buf as it arrives, and each line is checked once its LF
 * has arrived. The header views point into head_buf, and they stay valid until the next
 * reset. The framing (RFC 9112 §6.3) is decided when the blank line arrives. Chunk-size
 * lines and trailers are checked as they stream past, and are never stored. head_cap
 * bounds their length, so a peer cannot hold the parser on one endless line.
 *
 * A line ends with CRLF or with a bare LF (RFC 9112 §2.2 lets a recipient accept a bare
 * LF). A CR anywhere else is a control character, and the line is rejected.
 */
#include "tl_io.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* POSIX's, which strict C11 headers hide without a feature macro. */
#ifndef SSIZE_MAX
#define SSIZE_MAX ((ssize_t)(SIZE_MAX >> 1))
#endif

/* r->body_mode */
enum body_mode {
	BODY_HEAD = 0, /* still reading the head */
	BODY_NONE,     /* no body: HEAD, upgrade, 1xx, 204, 304 */
	BODY_LENGTH,   /* Content-Length bytes */
	BODY_CHUNKED,  /* Transfer-Encoding: chunked */
	BODY_CLOSE,    /* everything until the peer closes */
};

/* r->chunk_state: where the chunked decoder stands. */
enum chunk_state {
	/* The chunk-size line. line_bytes counts its bytes. */
	CH_SIZE_FIRST = 0, /* expecting the first hex digit */
	CH_SIZE,           /* inside the hex digits */
	CH_SIZE_BWS,       /* blanks after the digits, before ';' or the line end */
	CH_EXT,            /* inside the chunk extensions, which are ignored */
	CH_SIZE_LF,        /* the line's CR was seen */
	/* The chunk's data, then its CRLF. */
	CH_DATA,
	CH_DATA_END, /* expecting CR (or a bare LF) after the data */
	CH_DATA_LF,  /* expecting LF after the data's CR */
	/* The trailer section after the last chunk. line_bytes counts all of it. */
	CH_TRL_LINE,  /* at the start of a line: a field, or the blank line that ends it */
	CH_TRL_NAME,  /* inside a field name */
	CH_TRL_VALUE, /* inside a field value */
	CH_TRL_LF,    /* a field line's CR was seen */
	CH_LAST_LF,   /* the blank line's CR was seen */
};

/* --- characters ----------------------------------------------------------------------- */

/* tchar (RFC 9110 §5.6.2): the characters of a token, such as a method or a field name. */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP or HTAB: what a field value or a reason phrase may hold. Bytes above
 * 0x7f (obs-text) are allowed; every control character except HTAB is not. */
static bool is_field_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* VCHAR: what the host and the request target may hold (no blank, no control). */
static bool is_vchar(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* ASCII case-insensitive equality; strncasecmp would bring the locale in. */
static bool equal_nocase(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++)
		if (ascii_lower((uint8_t)a[i]) != ascii_lower((uint8_t)b[i]))
			return false;
	return true;
}

static bool all_tchars(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((uint8_t)s[i]))
			return false;
	return true;
}

/*
 * Steps through a comma-separated list (RFC 9110 §5.6.1). *cursor starts at the value and
 * becomes NULL after the last element. Each element comes out trimmed of blanks, and may
 * be empty: the callers decide whether an empty element is an error.
 */
static bool list_next(const char **cursor, const char *end, const char **elem, size_t *elem_len)
{
	const char *p = *cursor, *stop, *comma;

	if (p == NULL)
		return false;
	comma = memchr(p, ',', (size_t)(end - p));
	stop = comma != NULL ? comma : end;
	*cursor = comma != NULL ? comma + 1 : NULL;
	while (p < stop && is_blank((uint8_t)*p))
		p++;
	while (stop > p && is_blank((uint8_t)stop[-1]))
		stop--;
	*elem = p;
	*elem_len = (size_t)(stop - p);
	return true;
}

/* --- requests ------------------------------------------------------------------------- */

/* An output cursor that remembers whether anything failed to fit. */
struct out_buf {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void put(struct out_buf *o, const void *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	if (n > 0)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct out_buf *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out_buf *o, uint64_t v)
{
	char digits[20]; /* UINT64_MAX has 20 decimal digits */
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(o, digits + n, sizeof(digits) - n);
}

static bool vchars_only(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_vchar((uint8_t)*s))
			return false;
	return true;
}

/* The caller's header h, checked. Host and Content-Length are written by the codec, and
 * Transfer-Encoding would contradict the Content-Length it writes: a caller copy of any
 * of them would give the server two framings to choose from. */
static bool header_ok(const struct tl_http_header *h)
{
	if (h->name == NULL || !all_tchars(h->name, h->name_len))
		return false;
	if (h->value == NULL && h->value_len > 0)
		return false;
	for (size_t i = 0; i < h->value_len; i++)
		if (!is_field_char((uint8_t)h->value[i]))
			return false;
	return !equal_nocase(h->name, h->name_len, "Host", 4) &&
	       !equal_nocase(h->name, h->name_len, "Content-Length", 14) &&
	       !equal_nocase(h->name, h->name_len, "Transfer-Encoding", 17);
}

ssize_t tl_http_request_write(char *out, size_t cap, const char *method, const char *host,
                              const char *target, const struct tl_http_header *headers,
                              size_t n_headers, const void *body, size_t body_len)
{
	struct out_buf o = {.p = out, .cap = cap, .len = 0, .full = false};

	if ((out == NULL && cap > 0) || method == NULL || host == NULL || target == NULL)
		return -EINVAL;
	if ((headers == NULL && n_headers > 0) || (body == NULL && body_len > 0))
		return -EINVAL;
	if (!all_tchars(method, strlen(method)) || !vchars_only(host) || !vchars_only(target))
		return -EINVAL;
	for (size_t i = 0; i < n_headers; i++)
		if (!header_ok(&headers[i]))
			return -EINVAL;
	/* The result is returned as a ssize_t, so no more than SSIZE_MAX may be written. */
	if (o.cap > SSIZE_MAX)
		o.cap = SSIZE_MAX;

	put_str(&o, method);
	put(&o, " ", 1);
	put_str(&o, target);
	put_str(&o, " HTTP/1.1\r\nHost: ");
	put_str(&o, host);
	put(&o, "\r\n", 2);
	for (size_t i = 0; i < n_headers; i++) {
		put(&o, headers[i].name, headers[i].name_len);
		put(&o, ": ", 2);
		put(&o, headers[i].value, headers[i].value_len);
		put(&o, "\r\n", 2);
	}
	/* A POST or PUT without a body still says so: a server may otherwise refuse it with
	 * 411 Length Required (RFC 9110 §8.6). */
	if (body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		put_str(&o, "Content-Length: ");
		put_u64(&o, body_len);
		put(&o, "\r\n", 2);
	}
	put(&o, "\r\n", 2);
	put(&o, body, body_len);
	return o.full ? -ENOBUFS : (ssize_t)o.len;
}

/* --- responses: setup and lookups ---------------------------------------------------- */

void tl_http_response_reset(struct tl_http_response *r, bool no_body)
{
	r->status = 0;
	r->minor_version = 0;
	r->keep_alive = false;
	r->head_done = false;
	r->complete = false;
	r->n_headers = 0;
	r->body_len = 0;
	r->no_body = no_body;
	r->body_mode = BODY_HEAD;
	r->head_len = 0;
	r->content_length = 0;
	r->chunk_left = 0;
	r->chunk_state = CH_SIZE_FIRST;
	r->line_start = 0;
	r->line_bytes = 0;
	r->error = 0;
}

int tl_http_response_init(struct tl_http_response *r, char *head_buf, size_t head_cap,
                          uint8_t *body_buf, size_t body_cap)
{
	if (r == NULL || head_buf == NULL || head_cap == 0 || body_buf == NULL || body_cap == 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->head_buf = head_buf;
	r->head_cap = head_cap;
	r->body_buf = body_buf;
	r->body_cap = body_cap;
	tl_http_response_reset(r, false);
	return 0;
}

const char *tl_http_header_get(const struct tl_http_response *r, const char *name,
                               size_t *value_len)
{
	size_t name_len = name != NULL ? strlen(name) : 0;

	for (size_t i = 0; name != NULL && i < r->n_headers; i++) {
		const struct tl_http_header *h = &r->headers[i];

		if (equal_nocase(h->name, h->name_len, name, name_len)) {
			if (value_len != NULL)
				*value_len = h->value_len;
			return h->value;
		}
	}
	if (value_len != NULL)
		*value_len = 0;
	return NULL;
}

bool tl_http_header_has_token(const struct tl_http_response *r, const char *name, const char *token)
{
	size_t name_len, token_len;

	if (name == NULL || token == NULL)
		return false;
	name_len = strlen(name);
	token_len = strlen(token);
	if (token_len == 0)
		return false;
	/* A list may be split across several lines of the same field (RFC 9110 §5.3). */
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct tl_http_header *h = &r->headers[i];
		const char *cursor = h->value, *elem;
		size_t elem_len;

		if (!equal_nocase(h->name, h->name_len, name, name_len))
			continue;
		while (list_next(&cursor, h->value + h->value_len, &elem, &elem_len))
			if (equal_nocase(elem, elem_len, token, token_len))
				return true;
	}
	return false;
}

/* --- responses: the head -------------------------------------------------------------- */

/* "HTTP/1.x SSS reason". The reason may be empty, and so may its SP before it: a few
 * servers send "HTTP/1.1 200" and nothing is lost by taking it. */
static int status_line(struct tl_http_response *r, const uint8_t *p, size_t n)
{
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
		return -EBADMSG;
	for (size_t i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
	if (p[9] < '1' || p[9] > '5')
		return -EBADMSG;
	if (n > 12 && p[12] != ' ')
		return -EBADMSG;
	for (size_t i = 13; i < n; i++)
		if (!is_field_char(p[i]))
			return -EBADMSG;
	r->minor_version = p[7] - '0';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return 0;
}

/* "name: value", where the name is a token and the colon follows it at once (RFC 9112
 * §5.1 forbids blanks before it). A line that starts with a blank is an obsolete line
 * folding (or blanks before the first field), which §5.2 lets a client reject. */
static int field_line(struct tl_http_response *r, const char *p, size_t n)
{
	struct tl_http_header *h;
	size_t name_len = 0, v, end = n;

	while (name_len < n && is_tchar((uint8_t)p[name_len]))
		name_len++;
	if (name_len == 0 || name_len == n || p[name_len] != ':')
		return -EBADMSG;
	v = name_len + 1;
	while (v < end && is_blank((uint8_t)p[v]))
		v++;
	while (end > v && is_blank((uint8_t)p[end - 1]))
		end--;
	for (size_t i = v; i < end; i++)
		if (!is_field_char((uint8_t)p[i]))
			return -EBADMSG;
	if (r->n_headers == TL_HTTP_MAX_HEADERS)
		return -E2BIG;
	h = &r->headers[r->n_headers++];
	h->name = p;
	h->name_len = name_len;
	h->value = p + v;
	h->value_len = end - v;
	return 0;
}

/* Content-Length, which may appear several times or as a list, as long as every value is
 * the same (RFC 9110 §8.6). Sets *present when there is one. */
static int content_length(const struct tl_http_response *r, bool *present, uint64_t *out)
{
	*present = false;
	*out = 0;
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct tl_http_header *h = &r->headers[i];
		const char *cursor = h->value, *elem;
		size_t elem_len;

		if (!equal_nocase(h->name, h->name_len, "Content-Length", 14))
			continue;
		while (list_next(&cursor, h->value + h->value_len, &elem, &elem_len)) {
			uint64_t v = 0;

			if (elem_len == 0)
				return -EBADMSG;
			for (size_t k = 0; k < elem_len; k++) {
				uint8_t c = (uint8_t)elem[k];

				if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10, &v) ||
				    __builtin_add_overflow(v, (uint64_t)(c - '0'), &v))
					return -EBADMSG;
			}
			if (*present && v != *out)
				return -EBADMSG;
			*present = true;
			*out = v;
		}
	}
	return 0;
}

/*
 * Transfer-Encoding. The only coding accepted is chunked, once: tally never offers TE, so
 * another coding (gzip, say) would be a body the caller cannot read, and a coding after
 * chunked would leave the body without an end (RFC 9112 §6.3, item 4).
 */
static int transfer_encoding(const struct tl_http_response *r, bool *present)
{
	size_t n_codings = 0;

	*present = false;
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct tl_http_header *h = &r->headers[i];
		const char *cursor = h->value, *elem;
		size_t elem_len;

		if (!equal_nocase(h->name, h->name_len, "Transfer-Encoding", 17))
			continue;
		*present = true;
		while (list_next(&cursor, h->value + h->value_len, &elem, &elem_len)) {
			if (elem_len == 0)
				continue;
			if (!equal_nocase(elem, elem_len, "chunked", 7))
				return -EBADMSG;
			n_codings++;
		}
	}
	return (*present && n_codings != 1) ? -EBADMSG : 0;
}

/* The blank line arrived: decide the connection's fate and the body's framing. */
static int head_end(struct tl_http_response *r)
{
	bool has_te, has_cl, closing;
	int err;

	r->head_done = true;
	closing = tl_http_header_has_token(r, "Connection", "close");
	if (r->minor_version >= 1)
		r->keep_alive = !closing;
	else
		r->keep_alive = !closing && tl_http_header_has_token(r, "Connection", "keep-alive");

	if (r->no_body || r->status < 200 || r->status == 204 || r->status == 304) {
		/* After a 101 the connection speaks another protocol, not HTTP. */
		if (r->status == 101)
			r->keep_alive = false;
		r->body_mode = BODY_NONE;
		r->complete = true;
		return 0;
	}

	err = transfer_encoding(r, &has_te);
	if (err < 0)
		return err;
	if (has_te) {
		/* An HTTP/1.0 message with Transfer-Encoding has faulty framing (RFC 9112 §6.1). */
		if (r->minor_version == 0)
			return -EBADMSG;
		/* Both framings at once smells of response splitting: use chunked, as §6.3
		 * says, but do not trust the connection with another request. */
		if (tl_http_header_get(r, "Content-Length", NULL) != NULL)
			r->keep_alive = false;
		r->body_mode = BODY_CHUNKED;
		r->chunk_state = CH_SIZE_FIRST;
		r->line_bytes = 0;
		return 0;
	}

	err = content_length(r, &has_cl, &r->content_length);
	if (err < 0)
		return err;
	if (has_cl) {
		/* Refuse a body that cannot fit now, rather than after reading most of it. */
		if (r->content_length > r->body_cap)
			return -EMSGSIZE;
		r->body_mode = BODY_LENGTH;
		r->complete = r->content_length == 0;
		return 0;
	}

	r->body_mode = BODY_CLOSE;
	r->keep_alive = false;
	return 0;
}

/* A line of the head (head_buf[line_start..head_len), which ends with LF) is in. */
static int head_line(struct tl_http_response *r)
{
	const char *p = r->head_buf + r->line_start;
	size_t n = r->head_len - r->line_start - 1; /* without the LF */

	if (n > 0 && p[n - 1] == '\r')
		n--;
	r->line_start = r->head_len;
	/* status stays 0 until the status line parses, and an error is final. */
	if (r->status == 0)
		return status_line(r, (const uint8_t *)p, n);
	if (n == 0)
		return head_end(r);
	return field_line(r, p, n);
}

static ssize_t feed_head(struct tl_http_response *r, const uint8_t *in, size_t len)
{
	size_t used = 0;

	while (used < len && !r->head_done) {
		const uint8_t *p = in + used, *lf;
		size_t avail = len - used, take;
		int err;

		lf = memchr(p, '\n', avail);
		take = lf != NULL ? (size_t)(lf - p) + 1 : avail;
		/* head_len <= head_cap always holds, so the subtraction cannot wrap. */
		if (take > r->head_cap - r->head_len)
			return -EMSGSIZE;
		memcpy(r->head_buf + r->head_len, p, take);
		r->head_len += take;
		used += take;
		if (lf == NULL)
			break;
		err = head_line(r);
		if (err < 0)
			return err;
	}
	return (ssize_t)used;
}

/* --- responses: the body -------------------------------------------------------------- */

static ssize_t feed_length(struct tl_http_response *r, const uint8_t *in, size_t len)
{
	/* head_end checked content_length <= body_cap, and body_len never passes it. */
	uint64_t left = r->content_length - r->body_len;
	size_t take = (uint64_t)len < left ? len : (size_t)left;

	memcpy(r->body_buf + r->body_len, in, take);
	r->body_len += take;
	r->complete = r->body_len == r->content_length;
	return (ssize_t)take;
}

static ssize_t feed_close(struct tl_http_response *r, const uint8_t *in, size_t len)
{
	if (len > r->body_cap - r->body_len)
		return -EMSGSIZE;
	memcpy(r->body_buf + r->body_len, in, len);
	r->body_len += len;
	return (ssize_t)len;
}

/* The chunk-size line ended: a chunk's data follows, or the trailers after the last. */
static int chunk_size_done(struct tl_http_response *r)
{
	r->line_bytes = 0;
	if (r->chunk_left == 0) {
		r->chunk_state = CH_TRL_LINE;
		return 0;
	}
	if (r->chunk_left > r->body_cap - r->body_len)
		return -EMSGSIZE;
	r->chunk_state = CH_DATA;
	return 0;
}

/* The end of a chunk-size line: CRLF, or a bare LF. */
static int size_line_end(struct tl_http_response *r, uint8_t c)
{
	if (c == '\r') {
		r->chunk_state = CH_SIZE_LF;
		return 0;
	}
	return c == '\n' ? chunk_size_done(r) : -EBADMSG;
}

/* After the hex digits: blanks, then extensions or the line end. The blanks are BWS
 * before ';' (RFC 9112 §7.1.1); a few servers also pad the size itself with them. */
static int size_after_digits(struct tl_http_response *r, uint8_t c)
{
	if (is_blank(c)) {
		r->chunk_state = CH_SIZE_BWS;
		return 0;
	}
	if (c == ';') {
		r->chunk_state = CH_EXT;
		return 0;
	}
	return size_line_end(r, c);
}

/* The LF after a chunk's data; the next chunk-size line follows. */
static int data_line_end(struct tl_http_response *r, uint8_t c)
{
	if (c != '\n')
		return -EBADMSG;
	r->chunk_state = CH_SIZE_FIRST;
	r->line_bytes = 0;
	return 0;
}

/* One byte of chunked framing: anything but the chunk data itself. */
static int chunk_byte(struct tl_http_response *r, uint8_t c)
{
	int d;

	if (r->chunk_state != CH_DATA_END && r->chunk_state != CH_DATA_LF &&
	    ++r->line_bytes > r->head_cap)
		return -EMSGSIZE;

	switch (r->chunk_state) {
	case CH_SIZE_FIRST:
		d = hex_value(c);
		if (d < 0)
			return -EBADMSG;
		r->chunk_left = (uint64_t)d;
		r->chunk_state = CH_SIZE;
		return 0;
	case CH_SIZE:
		d = hex_value(c);
		if (d < 0)
			return size_after_digits(r, c);
		if (r->chunk_left > UINT64_MAX >> 4)
			return -EBADMSG;
		r->chunk_left = r->chunk_left << 4 | (uint64_t)d;
		return 0;
	case CH_SIZE_BWS:
		return size_after_digits(r, c);
	case CH_EXT:
		/* The extensions are ignored, but they may not smuggle in a control byte. */
		return is_field_char(c) ? 0 : size_line_end(r, c);
	case CH_SIZE_LF:
		return c == '\n' ? chunk_size_done(r) : -EBADMSG;
	case CH_DATA_END:
		if (c == '\r') {
			r->chunk_state = CH_DATA_LF;
			return 0;
		}
		return data_line_end(r, c);
	case CH_DATA_LF:
		return data_line_end(r, c);
	case CH_TRL_LINE:
		if (c == '\r') {
			r->chunk_state = CH_LAST_LF;
			return 0;
		}
		if (c == '\n') {
			r->complete = true;
			return 0;
		}
		if (!is_tchar(c))
			return -EBADMSG;
		r->chunk_state = CH_TRL_NAME;
		return 0;
	case CH_TRL_NAME:
		if (c == ':')
			r->chunk_state = CH_TRL_VALUE;
		else if (!is_tchar(c))
			return -EBADMSG;
		return 0;
	case CH_TRL_VALUE:
		if (c == '\r')
			r->chunk_state = CH_TRL_LF;
		else if (c == '\n')
			r->chunk_state = CH_TRL_LINE;
		else if (!is_field_char(c))
			return -EBADMSG;
		return 0;
	case CH_TRL_LF:
		if (c != '\n')
			return -EBADMSG;
		r->chunk_state = CH_TRL_LINE;
		return 0;
	case CH_LAST_LF:
		if (c != '\n')
			return -EBADMSG;
		r->complete = true;
		return 0;
	default:
		/* CH_DATA is handled by the caller; nothing else exists. */
		return -EBADMSG;
	}
}

static ssize_t feed_chunked(struct tl_http_response *r, const uint8_t *in, size_t len)
{
	size_t used = 0;

	while (used < len && !r->complete) {
		if (r->chunk_state == CH_DATA) {
			/* chunk_size_done checked that the whole chunk fits in body_buf. */
			size_t take = (uint64_t)(len - used) < r->chunk_left
			                  ? len - used
			                  : (size_t)r->chunk_left;

			memcpy(r->body_buf + r->body_len, in + used, take);
			r->body_len += take;
			r->chunk_left -= take;
			used += take;
			if (r->chunk_left == 0)
				r->chunk_state = CH_DATA_END;
			continue;
		}
		int err = chunk_byte(r, in[used++]);
		if (err < 0)
			return err;
	}
	return (ssize_t)used;
}

/* --- responses: the entry points ------------------------------------------------------ */

ssize_t tl_http_response_parse(struct tl_http_response *r, const uint8_t *in, size_t len)
{
	size_t used = 0;
	ssize_t n = 0;

	if (r == NULL || r->head_buf == NULL || (in == NULL && len > 0))
		return -EINVAL;
	if (r->error != 0)
		return r->error;
	if (r->complete || len == 0)
		return 0;
	/* The count is returned as a ssize_t; the caller comes back for the rest. */
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	if (!r->head_done) {
		n = feed_head(r, in, len);
		if (n < 0)
			goto err;
		used = (size_t)n;
	}
	if (r->complete || used == len)
		return (ssize_t)used;

	switch (r->body_mode) {
	case BODY_LENGTH:
		n = feed_length(r, in + used, len - used);
		break;
	case BODY_CHUNKED:
		n = feed_chunked(r, in + used, len - used);
		break;
	case BODY_CLOSE:
		n = feed_close(r, in + used, len - used);
		break;
	default:
		/* BODY_NONE is complete at the end of the head; BODY_HEAD means the head is
		 * still open, which feed_head only leaves with every byte consumed. */
		n = -EBADMSG;
		break;
	}
	if (n < 0)
		goto err;
	return (ssize_t)(used + (size_t)n);
err:
	r->error = (int)n;
	return n;
}

int tl_http_response_eof(struct tl_http_response *r)
{
	if (r == NULL)
		return -EINVAL;
	if (r->complete)
		return 0;
	if (r->error == 0 && r->head_done && r->body_mode == BODY_CLOSE) {
		r->complete = true;
		return 0;
	}
	return -EPIPE;
}
