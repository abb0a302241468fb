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

#include "json_esc.h"
#include "proxy.h"
#include "snapshot.h"

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
	json_esc_field(b, key, v, 1);
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

/* The namespace of a SPIFFE ID (".../ns/NS/sa/SA"), into buf. */
static const char *
alog_spiffe_ns(const char *id, char *buf, size_t len)
{
	const char *p = strstr(id, "/ns/"), *e;

	if (strncmp(id, "spiffe://", 9) != 0 || p == NULL)
		return "unknown";
	p += 4;
	if ((e = strchr(p, '/')) == NULL)
		e = p + strlen(p);
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

/*
 * Who called whom. Outbound, the source is this workload and the
 * destination the endpoint the snapshot chose (its principal made from
 * our trust domain and its service account); inbound, the source is the
 * mTLS peer's SPIFFE ID, with its workload's name when the registry
 * knows its address (session_source), and the destination this
 * workload.
 */
static void
alog_identity(struct evbuffer *b, struct session *s, int http)
{
	struct proxy *px = s->w->px;
	const struct snap_endpoint *ep = s->hx.endpoint;
	char dst[256], td[128], ns[128];
	const char *p, *e, *src, *src_ns;

	if (s->direction == METRICS_OUTBOUND) {
		alog_str(b, "source_workload", px->conf.workload);
		alog_str(b, "source_namespace", px->conf.namespace);
		alog_str(b, "source_principal", px->principal);
		if (!http)
			ep = NULL;
		snprintf(td, sizeof(td), "cluster.local");
		if (strncmp(px->principal, "spiffe://", 9) == 0 &&
		    (e = strchr((p = px->principal + 9), '/')) != NULL)
			snprintf(td, sizeof(td), "%.*s", (int)(e - p), p);
		if (ep != NULL && ep->service_account != NULL)
			snprintf(dst, sizeof(dst), "spiffe://%s/ns/%s/sa/%s",
			    td, ep->namespace, ep->service_account);
		else
			snprintf(dst, sizeof(dst), "unknown");
		alog_str(b, "destination_workload",
		    ep != NULL ? ep->workload : "unknown");
		alog_str(b, "destination_namespace",
		    ep != NULL ? ep->namespace : "unknown");
		alog_str(b, "destination_principal", dst);
		return;
	}
	p = s->tcpkey.peer[0] != '\0' ? s->tcpkey.peer : "unknown";
	if ((src = session_source(s, &src_ns)) != NULL) {
		alog_str(b, "source_workload", src);
		alog_str(b, "source_namespace", src_ns);
	} else {
		alog_str(b, "source_workload", "unknown");
		alog_str(
		    b, "source_namespace", alog_spiffe_ns(p, ns, sizeof(ns)));
	}
	alog_str(b, "source_principal", p);
	alog_str(b, "destination_workload", px->conf.workload);
	alog_str(b, "destination_namespace", px->conf.namespace);
	alog_str(b, "destination_principal", px->principal);
}

static void
alog_ms(struct evbuffer *b, const char *key, uint64_t from, uint64_t to)
{
	if (from == 0 || to < from)
		return;
	evbuffer_add_printf(b, ",\"%s\":%.3f", key, (double)(to - from) / 1e6);
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
	/* Local replies never reached an upstream: no upstream times. */
	if (hx->up_first_ns != 0) {
		alog_ms(b, "upstream_service_time_ms", hx->up_sent_ns,
		    hx->up_first_ns);
		alog_ms(b, "upstream_duration_ms", hx->up_sent_ns,
		    hx->up_last_ns != 0 ? hx->up_last_ns : now_ns());
	}
	alog_identity(b, s, 1);
	alog_str(b, "request_id", hx->request_id);
	if (hx->trace.valid) {
		char tid[33], sid[17];

		trace_id_hex(&hx->trace, tid);
		trace_hex64(hx->trace.span_id, sid);
		alog_str(b, "trace_id", tid);
		alog_str(b, "span_id", sid);
		evbuffer_add_printf(b, ",\"trace_sampled\":%s",
		    hx->trace.sampled == TRACE_SAMPLED_YES ? "true" : "false");
	}
	alog_str(b, "route_name", hx->route[0] != '\0' ? hx->route : "default");
	if (hx->cluster != NULL)
		alog_str(b, "upstream_cluster", hx->cluster->name);
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
	alog_identity(b, s, 0);
	if (s->hx.denied[0] != '\0')
		alog_str(b, "denied_by", s->hx.denied);
	alog_end(s->w);
}
