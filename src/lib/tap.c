#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_esc.h"
#include "metrics.h"
#include "tap.h"

void
tap_copy(char *dst, size_t len, const char *src, size_t n)
{
	size_t i;

	if (len == 0)
		return;
	for (i = 0; i < n && i + 1 < len && src[i] != '\0'; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static int
tap_unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes n bytes of src into dst (size len); -1 if bad or long. */
static int
tap_decode(char *dst, size_t len, const char *src, size_t n)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			if ((h = tap_unhex(src[i + 1])) == -1 ||
			    (l = tap_unhex(src[i + 2])) == -1)
				return -1;
			c = h * 16 + l;
			i += 2;
		} else if (c == '+')
			c = ' ';
		if (c == '\0' || o + 1 >= len)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static int
tap_number(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

int
tap_filter_parse(
    struct tap_filter *f, const char *query, char *cause, size_t len)
{
	const char *p = query, *eq, *amp;
	char key[16], val[256];
	size_t klen, vlen;
	long n;

	memset(f, 0, sizeof(*f));
	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		vlen = amp != NULL ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', vlen);
		klen = eq != NULL ? (size_t)(eq - p) : vlen;
		snprintf(key, sizeof(key), "%.*s", (int)klen, p);
		if (eq == NULL || klen >= sizeof(key) ||
		    tap_decode(val, sizeof(val), eq + 1, vlen - klen - 1) ==
			-1) {
			snprintf(cause, len, "bad tap parameter \"%.*s\"",
			    (int)(vlen > 64 ? 64 : vlen), p);
			return -1;
		}
		if (strcmp(key, "source") == 0 && strlen(val) < TAP_STR)
			strcpy(f->source, val);
		else if (strcmp(key, "destination") == 0 &&
		    strlen(val) < TAP_STR)
			strcpy(f->destination, val);
		else if (strcmp(key, "method") == 0 &&
		    strlen(val) < sizeof(f->method))
			strcpy(f->method, val);
		else if (strcmp(key, "path") == 0 && val[0] == '/')
			strcpy(f->path, val);
		else if (strcmp(key, "path") == 0 && val[0] == '\0')
			f->path[0] = '\0';
		else if (strcmp(key, "status") == 0 && val[0] == '\0')
			f->status = 0;
		else if (strcmp(key, "status") == 0 &&
		    tap_number(val, 100, 599, &n) == 0)
			f->status = (int)n;
		else if (strcmp(key, "max") == 0 &&
		    tap_number(val, 0, 1000000, &n) == 0)
			f->max = n;
		else if (strcmp(key, "source") != 0 &&
		    strcmp(key, "destination") != 0 &&
		    strcmp(key, "method") != 0 && strcmp(key, "path") != 0 &&
		    strcmp(key, "status") != 0 && strcmp(key, "max") != 0) {
			snprintf(cause, len,
			    "unknown tap parameter \"%s\" (use source, "
			    "destination, method, path, status, max)",
			    key);
			return -1;
		} else {
			snprintf(cause, len, "bad value for tap %s: \"%s\"",
			    key, val);
			return -1;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return 0;
}

static void
tap_encode(char *start, char **o, char *end, const char *key, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	char *p = *o;

	if (v[0] == '\0' || end - p < 40)
		return;
	p +=
	    snprintf(p, (size_t)(end - p), "%s%s=", p == start ? "" : "&", key);
	for (; *v != '\0' && p + 4 < end; v++) {
		unsigned char c = (unsigned char)*v;

		if (isalnum(c) || strchr("-._~/", c) != NULL)
			*p++ = (char)c;
		else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	*o = p;
}

void
tap_filter_query(const struct tap_filter *f, char *out, size_t len)
{
	char num[24], *p = out, *end = out + len;

	out[0] = '\0';
	if (len < 2)
		return;
	tap_encode(out, &p, end, "source", f->source);
	tap_encode(out, &p, end, "destination", f->destination);
	tap_encode(out, &p, end, "method", f->method);
	tap_encode(out, &p, end, "path", f->path);
	if (f->status != 0) {
		snprintf(num, sizeof(num), "%d", f->status);
		tap_encode(out, &p, end, "status", num);
	}
	if (f->max != 0) {
		snprintf(num, sizeof(num), "%ld", f->max);
		tap_encode(out, &p, end, "max", num);
	}
}

int
tap_match(const struct tap_filter *f, const struct tap_event *ev)
{
	if (f->source[0] != '\0' && strcmp(f->source, ev->src_workload) != 0 &&
	    strcmp(f->source, ev->src_principal) != 0)
		return 0;
	if (f->destination[0] != '\0' &&
	    strcmp(f->destination, ev->dst_service) != 0 &&
	    strcmp(f->destination, ev->dst_workload) != 0)
		return 0;
	if (f->method[0] != '\0' && strcasecmp(f->method, ev->method) != 0)
		return 0;
	if (f->path[0] != '\0' &&
	    strncmp(f->path, ev->path, strlen(f->path)) != 0)
		return 0;
	if (f->status != 0 && f->status != ev->status)
		return 0;
	return 1;
}

void
tap_event_json(struct evbuffer *b, const struct tap_event *ev)
{
	struct tm tm;
	time_t secs = (time_t)(ev->time_ns / 1000000000ULL);
	char ts[40];

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(b, "{\"time\":\"%s.%06uZ\"", ts,
	    (unsigned int)(ev->time_ns % 1000000000ULL / 1000));
	json_esc_field(b, "direction",
	    ev->direction == METRICS_OUTBOUND ? "outbound" : "inbound", 1);
	evbuffer_add(b, ",\"source\":{", 11);
	json_esc_field(b, "workload", ev->src_workload, 0);
	json_esc_field(b, "namespace", ev->src_namespace, 1);
	json_esc_field(b, "principal", ev->src_principal, 1);
	json_esc_field(b, "address", ev->src_addr, 1);
	evbuffer_add(b, "},\"destination\":{", 17);
	json_esc_field(b, "service", ev->dst_service, 0);
	json_esc_field(b, "workload", ev->dst_workload, 1);
	json_esc_field(b, "namespace", ev->dst_namespace, 1);
	json_esc_field(b, "address", ev->dst_addr, 1);
	evbuffer_add(b, "}", 1);
	json_esc_field(b, "method", ev->method, 1);
	json_esc_field(b, "authority", ev->authority, 1);
	json_esc_field(b, "path", ev->path, 1);
	json_esc_field(b, "route", ev->route, 1);
	evbuffer_add_printf(b,
	    ",\"status\":%u,\"response_flags\":\"%s\",\"duration_ms\":%.3f,"
	    "\"request_bytes\":%llu,\"response_bytes\":%llu,\"tls\":%s",
	    ev->status, metrics_rflag_name(ev->rflag),
	    (double)ev->duration_ns / 1e6, (unsigned long long)ev->req_bytes,
	    (unsigned long long)ev->resp_bytes, ev->mtls ? "true" : "false");
	if (ev->request_id[0] != '\0')
		json_esc_field(b, "request_id", ev->request_id, 1);
	if (ev->trace_id[0] != '\0')
		json_esc_field(b, "trace_id", ev->trace_id, 1);
	evbuffer_add(b, "}\n", 2);
}
