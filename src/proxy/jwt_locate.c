/* Locating a request's JWT (see jwt_locate.h). */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "jwt_locate.h"
#include "snapshot.h"

int
jwt_locate(const struct http1_msg *m, const struct snap_jwt_rule *r,
    const char **tok, size_t *len, const struct http1_header **hdr)
{
	const struct http1_header *h;
	const char *q, *end, *p, *amp;
	size_t i, plen, nlen;

	*hdr = NULL;
	for (i = 0; i < r->nfrom_headers; i++) {
		if ((h = http1_find(m, r->from_headers[i].name)) == NULL)
			continue;
		plen = strlen(r->from_headers[i].prefix);
		if (h->value_len < plen ||
		    strncasecmp(h->value, r->from_headers[i].prefix, plen) != 0)
			continue;
		*tok = h->value + plen;
		*len = h->value_len - plen;
		while (*len > 0 && **tok == ' ') {
			(*tok)++;
			(*len)--;
		}
		*hdr = h;
		return 1;
	}
	if ((q = memchr(m->target, '?', m->target_len)) == NULL)
		return 0;
	end = m->target + m->target_len;
	for (i = 0; i < r->nfrom_params; i++) {
		nlen = strlen(r->from_params[i].name);
		for (p = q + 1; p != NULL && p < end;) {
			if ((size_t)(end - p) > nlen && p[nlen] == '=' &&
			    memcmp(p, r->from_params[i].name, nlen) == 0) {
				*tok = p + nlen + 1;
				amp = memchr(*tok, '&', (size_t)(end - *tok));
				*len =
				    (size_t)((amp != NULL ? amp : end) - *tok);
				return 1;
			}
			if ((p = memchr(p, '&', (size_t)(end - p))) != NULL)
				p++;
		}
	}
	return 0;
}

json_t *
jwt_unverified_payload(const char *tok, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p, *end, *dot, *c;
	unsigned char buf[4096];
	unsigned int acc = 0;
	size_t n = 0;
	int bits = 0;
	json_t *j;

	if ((dot = memchr(tok, '.', len)) == NULL)
		return NULL;
	p = dot + 1;
	if ((end = memchr(p, '.', len - (size_t)(p - tok))) == NULL)
		return NULL;
	for (; p < end; p++) {
		if ((c = memchr(b64, *p, 64)) == NULL)
			return NULL;
		acc = acc << 6 | (unsigned int)(c - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n == sizeof(buf))
				return NULL;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	j = json_loadb((const char *)buf, n, 0, NULL);
	if (!json_is_string(json_object_get(j, "iss"))) {
		json_decref(j);
		return NULL;
	}
	return j;
}
