/*
 * The JSON record of a request: the default response body and, with a
 * "status" added, one line of the request log.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testd.h"

/*
 * Field values may carry obs-text (bytes 0x80-0xff), which is not
 * UTF-8: every byte outside printable ASCII is written as \u00XX, so the
 * output stays valid JSON and maps back to the bytes received.
 */
void
json_string(struct evbuffer *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	size_t i;
	unsigned char ch;
	char esc[7];

	evbuffer_add(b, "\"", 1);
	for (i = 0; i < len; i++) {
		ch = s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			continue;
		evbuffer_add(b, run, s + i - run);
		run = s + i + 1;
		switch (ch) {
		case '"':
			evbuffer_add(b, "\\\"", 2);
			break;
		case '\\':
			evbuffer_add(b, "\\\\", 2);
			break;
		case '\t':
			evbuffer_add(b, "\\t", 2);
			break;
		case '\r':
			evbuffer_add(b, "\\r", 2);
			break;
		case '\n':
			evbuffer_add(b, "\\n", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 0xf];
			evbuffer_add(b, esc, 6);
			break;
		}
	}
	evbuffer_add(b, run, s + len - run);
	evbuffer_add(b, "\"", 1);
}

static void
json_cstring(struct evbuffer *b, const char *s)
{
	if (s == NULL)
		evbuffer_add(b, "null", 4);
	else
		json_string(b, s, strlen(s));
}

static void
json_fields(struct evbuffer *b, const struct http_fields *list)
{
	const char *p;
	size_t i, len;

	evbuffer_add(b, "[", 1);
	for (i = 0; i < list->n; i++) {
		evbuffer_add(b, i == 0 ? "[" : ",[", i == 0 ? 1 : 2);
		p = http_field_name(list, i, &len);
		json_string(b, p, len);
		evbuffer_add(b, ",", 1);
		p = http_field_value(list, i, &len);
		json_string(b, p, len);
		evbuffer_add(b, "]", 1);
	}
	evbuffer_add(b, "]", 1);
}

void
json_request(struct evbuffer *b, const struct http_conn *c,
    const struct http_req *req, int status, const char *error)
{
	evbuffer_add(b, "{\"backend\":", 11);
	json_cstring(b, c->env->name);
	evbuffer_add(b, ",\"method\":", 10);
	json_cstring(b, req != NULL ? req->method : NULL);
	evbuffer_add(b, ",\"path\":", 8);
	json_cstring(b, req != NULL ? req->target : NULL);
	evbuffer_add(b, ",\"version\":", 11);
	json_cstring(b, req != NULL ? req->version : NULL);
	if (req != NULL && req->method != NULL) {
		evbuffer_add(b, ",\"headers\":", 11);
		json_fields(b, &req->headers);
		evbuffer_add(b, ",\"trailers\":", 12);
		json_fields(b, &req->trailers);
		evbuffer_add_printf(
		    b, ",\"body_bytes\":%" PRIu64, req->body_bytes);
		evbuffer_add(b, ",\"body_sha256\":", 15);
		json_cstring(
		    b, req->body_sha256[0] != '\0' ? req->body_sha256 : NULL);
	}
	evbuffer_add_printf(b, ",\"conn_id\":%" PRIu64 ",\"conn_req\":%" PRIu64,
	    c->id, c->nreq);
	evbuffer_add(b, ",\"peer\":", 8);
	json_cstring(b, c->peer);
	evbuffer_add(b, ",\"local\":", 9);
	json_cstring(b, c->local);
	if (status >= 0)
		evbuffer_add_printf(b, ",\"status\":%d", status);
	if (error != NULL) {
		evbuffer_add(b, ",\"error\":", 9);
		json_cstring(b, error);
	}
	evbuffer_add(b, "}", 1);
}

void
json_log(struct testd *env, const struct http_conn *c,
    const struct http_req *req, int status, const char *error)
{
	struct evbuffer *b;
	const char *p;
	size_t len;
	ssize_t n;

	if (env->log_fd == -1)
		return;
	if ((b = evbuffer_new()) == NULL) {
		log_warnx("request log: out of memory");
		return;
	}
	json_request(b, c, req, status, error);
	evbuffer_add(b, "\n", 1);
	len = evbuffer_get_length(b);
	if ((p = (const char *)evbuffer_pullup(b, -1)) == NULL) {
		log_warnx("request log: out of memory");
		evbuffer_free(b);
		return;
	}
	/* O_APPEND and one write per line: lines never interleave. */
	while (len > 0) {
		if ((n = write(env->log_fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("request log");
			break;
		}
		p += n;
		len -= n;
	}
	evbuffer_free(b);
}
