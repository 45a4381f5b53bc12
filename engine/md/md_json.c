/* md_json.c: the shared JSON value skipper (md_json.h). */
#include "md_json.h"

const char *tl_json_skip_value(const char *p, const char *end, int depth, int max_depth)
{
	uint64_t is_obj = 0; /* bit i: the container open at level i is an object */
	int lvl = 0;
	bool esc, isint;
	uint8_t t;

value:
	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
	case '[':
		if (depth + lvl + 1 > max_depth)
			return NULL;
		if (*p == '{')
			is_obj |= 1ull << lvl;
		else
			is_obj &= ~(1ull << lvl);
		lvl++;
		p = tl_json_ws(p + 1, end);
		if (p < end && *p == ((is_obj >> (lvl - 1)) & 1 ? '}' : ']')) {
			p++;
			lvl--;
			goto after;
		}
		if ((is_obj >> (lvl - 1)) & 1)
			goto key;
		goto value;
	case '"':
		p = tl_json_string_end(p + 1, end, &esc);
		break;
	case 't':
	case 'f':
	case 'n':
		p = tl_json_literal_end(p, end, &t);
		break;
	default:
		if (*p != '-' && (*p < '0' || *p > '9'))
			return NULL;
		p = tl_json_number_end(p, end, &isint);
		break;
	}
	if (p == NULL)
		return NULL;
after:
	if (lvl == 0)
		return p;
	p = tl_json_ws(p, end);
	if (p >= end)
		return NULL;
	if (*p == ',') {
		p = tl_json_ws(p + 1, end);
		if ((is_obj >> (lvl - 1)) & 1)
			goto key;
		goto value;
	}
	if (*p != ((is_obj >> (lvl - 1)) & 1 ? '}' : ']'))
		return NULL;
	p++;
	lvl--;
	goto after;
key:
	if (p >= end || *p != '"')
		return NULL;
	p = tl_json_string_end(p + 1, end, &esc);
	if (p == NULL)
		return NULL;
	p = tl_json_ws(p, end);
	if (p >= end || *p != ':')
		return NULL;
	p = tl_json_ws(p + 1, end);
	goto value;
}
