/*
 * Spans of the proxy's hops and their export to a trace collector.
 *
 * Each worker fills finished spans into its own bounded ring (one
 * producer, the worker; one consumer, the exporter thread), in place and
 * without a lock or an allocation; a full ring drops the span and counts
 * it. The exporter thread drains the rings, and POSTs batches as Zipkin
 * v2 JSON or OTLP/HTTP JSON to the collector; a collector that fails
 * loses spans (counted), never time on a request.
 */
#ifndef WEFT_TRACE_H
#define WEFT_TRACE_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum trace_format {
	TRACE_FORMAT_ZIPKIN = 0,
	TRACE_FORMAT_OTLP,
};

/* OpenTelemetry's SpanKind numbers. */
enum trace_kind {
	TRACE_KIND_SERVER = 2,
	TRACE_KIND_CLIENT = 3,
};

/* One finished span: fixed size, strings truncated to fit. */
struct trace_span {
	uint64_t trace_hi;
	uint64_t trace_lo;
	uint64_t span_id;
	uint64_t parent_id; /* 0: a root span */
	uint64_t start_us;  /* unix time, microseconds */
	uint64_t duration_us;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	int kind;      /* enum trace_kind */
	int status;    /* HTTP status; 0 when there was none */
	int peer_port; /* remoteEndpoint; 0: unknown */
	char peer_ip[46];
	char name[160]; /* Istio's host:port, a slash and a star */
	char method[16];
	char url[400];
	char protocol[12];
	char response_flags[8];
	char route[64];
	char cluster[128];      /* upstream_cluster */
	char upstream[64];      /* the address the request went to */
	char downstream[64];    /* the client's address */
	char peer_workload[64]; /* the other side: endpoint or caller */
	char request_id[64];
};

/* Who this proxy is, in every export. */
struct trace_service {
	const char *workload;
	const char *namespace;
	const char *version;
};

struct trace_exporter_conf {
	const char *url; /* http://HOST[:PORT]/PATH or https:// */
	int format;      /* enum trace_format */
	struct trace_service service;
	int nrings;             /* one per worker */
	unsigned int ring_size; /* spans per ring, a power of two */
	unsigned int batch_max; /* spans per POST */
	int interval_ms;        /* the longest a span waits for a batch */
	int timeout_ms;         /* connect and exchange, per POST */
};

struct trace_exporter;

/*
 * Checks a collector URL: http:// or https://, a host, an optional
 * port, a path. Returns 0, or -1 with *cause set (allocated).
 */
int trace_url_check(const char *url, char **cause);

/*
 * An exporter for conf (copied; conf->url is not). Allocates its rings
 * now, at startup; exits on allocation failure. Returns NULL with
 * *cause set on a bad URL.
 */
struct trace_exporter *trace_exporter_new(
    const struct trace_exporter_conf *conf, char **cause);

/* Starts the exporter thread. Returns 0, or -1 (logged). */
int trace_exporter_start(struct trace_exporter *te);

/*
 * Stops the thread after one last export of what is queued, and frees
 * the exporter. NULL is a no-op.
 */
void trace_exporter_free(struct trace_exporter *te);

/*
 * A free slot of ring for the caller (that ring's only producer) to
 * fill, or NULL when the ring is full (the span is counted as dropped).
 * The slot is published by trace_ring_commit().
 */
struct trace_span *trace_ring_reserve(struct trace_exporter *te, int ring);
void trace_ring_commit(struct trace_exporter *te, int ring);

/* Appends the exporter's Prometheus metrics to out (thread-safe). */
void trace_exporter_render(struct trace_exporter *te, struct evbuffer *out);

/*
 * The export body of n spans as Zipkin v2 JSON (an array of spans) or
 * OTLP/HTTP JSON (an ExportTraceServiceRequest). Returns an allocated
 * string, or NULL when out of memory.
 */
char *trace_encode_zipkin(
    const struct trace_span *spans, size_t n, const struct trace_service *svc);
char *trace_encode_otlp(
    const struct trace_span *spans, size_t n, const struct trace_service *svc);

#endif
