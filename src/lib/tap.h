/*
 * Live request tap: one event per finished request, a filter on them,
 * and their NDJSON form. Shared by the proxy (which filters and streams
 * its events) and by weftctl and weft-server (which build the filter).
 */
#ifndef WEFT_TAP_H
#define WEFT_TAP_H

#include <stdint.h>
#include <event2/buffer.h>

#define TAP_STR 64

/* A finished request, copied out of the worker (fixed size: no malloc). */
struct tap_event {
	uint64_t time_ns; /* wall clock when the request started */
	uint64_t duration_ns;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	uint8_t direction; /* METRICS_OUTBOUND or METRICS_INBOUND */
	uint8_t rflag;     /* enum metrics_rflag */
	uint16_t status;
	uint8_t mtls;
	char method[16];
	char src_workload[TAP_STR];
	char src_namespace[TAP_STR];
	char src_principal[128];
	char src_addr[48];
	char dst_service[TAP_STR];
	char dst_workload[TAP_STR];
	char dst_namespace[TAP_STR];
	char dst_addr[48];
	char authority[128];
	char path[256];
	char route[TAP_STR];
	char request_id[TAP_STR];
	char trace_id[TAP_STR];
};

/* Which events a tap wants; empty strings and 0 match anything. */
struct tap_filter {
	char source[TAP_STR];      /* source workload or principal */
	char destination[TAP_STR]; /* destination service or workload */
	char method[16];
	char path[256]; /* path prefix */
	int status;     /* exact status code */
	long max;       /* events before the stream ends; 0: no limit */
};

/*
 * Fills f from a query string "source=...&path=...&max=N" (the values
 * percent-encoded). Returns 0, or -1 with a one-line reason in cause
 * (size len) on an unknown key or a bad value.
 */
int tap_filter_parse(
    struct tap_filter *f, const char *query, char *cause, size_t len);

/* Appends f as a query string (values percent-encoded) to out. */
void tap_filter_query(const struct tap_filter *f, char *out, size_t len);

/* 1 when ev matches f, else 0. */
int tap_match(const struct tap_filter *f, const struct tap_event *ev);

/* Appends ev as one JSON object and a newline to out. */
void tap_event_json(struct evbuffer *out, const struct tap_event *ev);

/* Copies the NUL-terminated or n-byte string src into dst (size len). */
void tap_copy(char *dst, size_t len, const char *src, size_t n);

#endif
