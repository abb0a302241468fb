/*
 * /stats: the golden metrics of this proxy over a recent window, as JSON,
 * for weftctl stat and weft-server. The main thread samples the
 * cumulative counters every STATS_SAMPLE_S seconds into a ring
 * (stats_window.c); a request subtracts the sample that opens its window
 * from the counters of the moment. Samples hold only the keys that saw
 * traffic, so an idle proxy keeps next to nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "duration.h"
#include "proxy.h"
#include "stats_window.h"

static double
admin_stats_now(void)
{
	return (double)now_ns() / 1e9;
}

/* The counters of the moment, folded and bounded; -1 on ENOMEM. */
static int
admin_stats_current(struct proxy *px, struct stats_set *cur)
{
	if (metrics_stats_collect(px->shards, px->nworkers, cur) == -1) {
		stats_set_clear(cur);
		return -1;
	}
	stats_set_fold(cur);
	stats_ring_bound(px->stats, cur);
	return 0;
}

static void
admin_stats_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *px = arg;
	struct stats_set cur = {0};

	if (admin_stats_current(px, &cur) == -1) {
		log_warnx("stats sample skipped: out of memory");
		return;
	}
	stats_ring_push(px->stats, admin_stats_now(), &cur);
}

int
admin_stats_start(struct proxy *px)
{
	struct timeval tv = {STATS_SAMPLE_S, 0};
	struct stats_set empty = {0};

	if ((px->stats = stats_ring_new()) == NULL)
		return -1;
	/* An empty first sample: windows reach back to the start. */
	stats_ring_push(px->stats, admin_stats_now(), &empty);
	px->stats_timer =
	    event_new(px->base, -1, EV_PERSIST, admin_stats_timer_cb, px);
	if (px->stats_timer == NULL || evtimer_add(px->stats_timer, &tv) == -1)
		return -1;
	return 0;
}

void
admin_stats_stop(struct proxy *px)
{
	if (px->stats_timer != NULL)
		event_free(px->stats_timer);
	px->stats_timer = NULL;
	stats_ring_free(px->stats);
	px->stats = NULL;
}

/* window=DURATION from the query; 60 s without one. */
static int
admin_stats_window(const char *query, double *window, struct evbuffer *b)
{
	const char *p;
	char v[32];
	int64_t ms;
	size_t n;

	*window = 60;
	if (query == NULL)
		return 0;
	for (p = query; p != NULL; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "window=", 7) != 0)
			continue;
		p += 7;
		n = strcspn(p, "&");
		snprintf(v, sizeof(v), "%.*s", (int)n, p);
		if (n >= sizeof(v) || duration_parse(v, &ms) == -1 || ms <= 0 ||
		    ms > STATS_MAX_WINDOW * 1000) {
			evbuffer_add_printf(b,
			    "bad window \"%s\": a duration from 1s to %ds\n", v,
			    STATS_MAX_WINDOW);
			return -1;
		}
		*window = (double)ms / 1000;
		return 0;
	}
	return 0;
}

static json_t *
admin_stats_row(struct proxy *px, const struct stats_point *p)
{
	int out = p->key.direction == METRICS_OUTBOUND;
	json_t *row, *b;
	int i;

	b = json_array();
	for (i = 0; i < STATS_BUCKETS; i++)
		json_array_append_new(b, json_integer((json_int_t)p->dur[i]));
	row = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o}",
	    "reporter", out ? "source" : "destination", "destination_service",
	    p->key.service, "destination_workload",
	    out ? p->key.workload : px->conf.workload,
	    "destination_workload_namespace", out ? "" : px->conf.namespace,
	    "source_workload", out ? px->conf.workload : p->key.workload,
	    "source_workload_namespace", out ? px->conf.namespace : "",
	    "source_principal",
	    out ? px->principal : (p->key.peer[0] ? p->key.peer : "unknown"),
	    "route", p->key.route, "requests", (json_int_t)p->requests,
	    "success", (json_int_t)p->success, "tcp_open",
	    (json_int_t)p->tcp_open, "buckets", b);
	return row;
}

int
admin_stats(struct proxy *px, struct evbuffer *b, const char *query)
{
	struct stats_set cur = {0}, win = {0};
	double window, covered;
	json_t *doc, *rows, *bounds;
	char *text;
	size_t i;
	int status = 500;

	if (admin_stats_window(query, &window, b) == -1)
		return 400;
	if (admin_stats_current(px, &cur) == -1 ||
	    stats_ring_window(px->stats, admin_stats_now(), window, &cur, &win,
		&covered) == -1)
		goto out;
	rows = json_array();
	bounds = json_array();
	for (i = 0; i < METRICS_DUR_BUCKETS; i++)
		json_array_append_new(bounds, json_real(stats_bounds[i]));
	for (i = 0; i < win.n; i++)
		json_array_append_new(rows, admin_stats_row(px, &win.p[i]));
	doc = json_pack("{s:s,s:s,s:f,s:f,s:o,s:o}", "workload",
	    px->conf.workload, "namespace", px->conf.namespace, "window",
	    window, "covered", covered, "bounds", bounds, "rows", rows);
	if (doc != NULL && (text = json_dumps(doc, JSON_COMPACT)) != NULL) {
		evbuffer_add_printf(b, "%s\n", text);
		free(text);
		status = 200;
	}
	json_decref(doc);
out:
	stats_set_clear(&cur);
	stats_set_clear(&win);
	return status;
}
