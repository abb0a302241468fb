/*
 * The access log: one JSON object per line, per request or per TCP
 * connection. Lines are built in the worker's buffer and written in
 * batches (by size or by the worker's flush timer), so a request never
 * waits on the log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define ALOG_FLUSH_BYTES (32 * 1024)

int
access_log_open(struct proxy *px)
{
	const char *path = px->conf.access_log;

	px->alog_fd = -1;
	if (strcmp(path, "off") == 0)
		return 0;
	if (strcmp(path, "-") == 0) {
		px->alog_fd = STDERR_FILENO;
		return 0;
	}
	px->alog_fd =
	    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (px->alog_fd == -1) {
		log_warn("access log %s", path);
		return -1;
	}
	return 0;
}

void
access_log_reopen(struct proxy *px)
{
	int fd;

	if (px->alog_fd == -1 || px->alog_fd == STDERR_FILENO)
		return;
	fd = open(px->conf.access_log,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("reopening access log %s; keeping the old file",
		    px->conf.access_log);
		return;
	}
	/* Same descriptor number: workers keep writing without a handover. */
	if (dup2(fd, px->alog_fd) == -1)
		log_warn("reopening access log %s", px->conf.access_log);
	close(fd);
	log_info("access log %s reopened", px->conf.access_log);
}

static void
alog_str(struct evbuffer *b, const char *key, const char *v)
{
	const char *p;

	evbuffer_add_printf(b, ",\"%s\":\"", key);
	for (p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
alog_common(struct evbuffer *b, struct session *s, uint64_t duration_ns)
{
	struct timespec now;
	struct tm tm;
	char ts[40], peer[64], up[64];
	uint64_t start_ms;
	time_t secs;

	clock_gettime(CLOCK_REALTIME, &now);
	start_ms = (uint64_t)now.tv_sec * 1000 +
	    (uint64_t)now.tv_nsec / 1000000 - duration_ns / 1000000;
	secs = (time_t)(start_ms / 1000);
	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(b, "{\"start_time\":\"%s.%03uZ\"", ts,
	    (unsigned int)(start_ms % 1000));
	alog_str(b, "direction",
	    s->direction == METRICS_OUTBOUND ? "outbound" : "inbound");
	netaddr_str(&s->peer, peer, sizeof(peer));
	netaddr_str(s->mode == SESSION_HTTP || s->mode == SESSION_LINGER
		? &s->hx.target
		: &s->target,
	    up, sizeof(up));
	alog_str(b, "downstream_peer", peer);
	alog_str(b, "upstream_host", up);
	alog_str(b, "destination_service", s->tcpkey.service);
	alog_str(b, "workload", s->w->px->conf.workload);
	alog_str(b, "namespace", s->w->px->conf.namespace);
}

static void
alog_end(struct worker *w)
{
	evbuffer_add(w->alog, "}\n", 2);
	if (evbuffer_get_length(w->alog) >= ALOG_FLUSH_BYTES)
		worker_alog_flush(w);
}

void
access_log_request(struct session *s, uint64_t duration_ns)
{
	struct http_exchange *hx = &s->hx;
	struct evbuffer *b = s->w->alog;

	if (s->w->px->alog_fd == -1)
		return;
	alog_common(b, s, duration_ns);
	alog_str(b, "protocol", hx->req_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
	alog_str(b, "method", hx->method_str);
	alog_str(b, "path", hx->path);
	alog_str(b, "authority", hx->authority);
	alog_str(b, "user_agent", hx->user_agent);
	evbuffer_add_printf(b,
	    ",\"response_code\":%d,\"response_flags\":\"%s\","
	    "\"bytes_received\":%llu,\"bytes_sent\":%llu,\"duration_ms\":%.3f",
	    hx->status, metrics_rflag_name(hx->rflag),
	    (unsigned long long)hx->req_bytes,
	    (unsigned long long)hx->resp_bytes, (double)duration_ns / 1e6);
	if (hx->denied[0] != '\0')
		alog_str(b, "denied_by", hx->denied);
	alog_end(s->w);
}

void
access_log_tcp(struct session *s, uint64_t duration_ns)
{
	struct evbuffer *b = s->w->alog;

	if (s->w->px->alog_fd == -1)
		return;
	alog_common(b, s, duration_ns);
	alog_str(b, "protocol", "tcp");
	evbuffer_add_printf(b,
	    ",\"bytes_received\":%llu,\"bytes_sent\":%llu,\"duration_ms\":%.3f",
	    (unsigned long long)s->client.bytes_in,
	    (unsigned long long)s->client.bytes_out, (double)duration_ns / 1e6);
	if (s->hx.denied[0] != '\0')
		alog_str(b, "denied_by", s->hx.denied);
	alog_end(s->w);
}
