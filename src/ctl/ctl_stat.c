/*
 * weftctl stat: golden metrics (success rate, requests per second and
 * latency percentiles) per service, workload or route over a recent
 * window, like linkerd viz stat. The numbers come from the proxies' own
 * /stats endpoints (--proxy HOST:PORT, the admin or metrics port), or
 * from weft-server, which asks every registered proxy (--server).
 *
 * Percentiles are estimated from the duration histogram buckets by
 * linear interpolation inside the bucket that holds the rank, as
 * Prometheus' histogram_quantile() does: exact to the bucket, not below.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_http.h"
#include "duration.h"
#include "stats_window.h"
#include "xmalloc.h"

#define CTL_STAT_TIMEOUT_MS 3000

enum ctl_stat_kind { STAT_SERVICE = 0, STAT_WORKLOAD, STAT_ROUTE };

static const char *const ctl_stat_kinds[] = {"service", "workload", "route"};

/* The numbers of one NAME seen from one side (source or destination). */
struct ctl_stat_side {
	int seen;
	uint64_t requests, success;
	uint64_t dur[STATS_BUCKETS];
	double rps;
	int64_t tcp;
	unsigned int meshed; /* proxies that reported it */
	int last_proxy;
};

struct ctl_stat_row {
	char name[METRICS_LABEL_MAX * 2];
	struct ctl_stat_side side[2]; /* 0 source, 1 destination */
};

struct ctl_stat {
	enum ctl_stat_kind kind;
	const char *only; /* NAME, or NULL for all */
	struct ctl_stat_row *rows;
	size_t n, cap;
	int nproxies;   /* that answered */
	int nfailed;    /* that did not */
	json_t *failed; /* [ "HOST:PORT: why" ] */
};

static struct ctl_stat_row *
ctl_stat_row(struct ctl_stat *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		if (strcmp(st->rows[i].name, name) == 0)
			return &st->rows[i];
	}
	if (st->n == st->cap) {
		st->cap = st->cap == 0 ? 16 : st->cap * 2;
		st->rows = xreallocarray(st->rows, st->cap, sizeof(*st->rows));
	}
	memset(&st->rows[st->n], 0, sizeof(*st->rows));
	snprintf(st->rows[st->n].name, sizeof(st->rows[0].name), "%s", name);
	return &st->rows[st->n++];
}

static int
ctl_stat_has(const struct ctl_stat *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		if (strcmp(st->rows[i].name, name) == 0)
			return 1;
	}
	return 0;
}

static const char *
ctl_stat_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

/*
 * Adds the rows of one proxy's /stats answer; proxy numbers the answer.
 * Returns 0, or -1 when doc is not a /stats answer.
 */
static int
ctl_stat_add(struct ctl_stat *st, const json_t *doc, int proxy)
{
	const json_t *rows = json_object_get(doc, "rows"), *r, *b;
	double covered = json_number_value(json_object_get(doc, "covered"));
	const char *name, *route;
	struct ctl_stat_side *sd;
	int in, i, pass;
	size_t k;

	if (!json_is_array(rows))
		return -1;
	if (covered < 1)
		covered = 1;
	/* Connections (route "-") second: they add to rows with requests. */
	for (pass = 0; pass < 2; pass++)
		json_array_foreach(rows, k, r)
		{
			in = strcmp(ctl_stat_str(r, "reporter"),
				 "destination") == 0;
			route = ctl_stat_str(r, "route");
			if ((strcmp(route, "-") == 0) != pass)
				continue;
			switch (st->kind) {
			case STAT_SERVICE:
				name = ctl_stat_str(r, "destination_service");
				break;
			case STAT_WORKLOAD:
				name = in
				    ? ctl_stat_str(r, "destination_workload")
				    : ctl_stat_str(r, "source_workload");
				break;
			default:
				/* Connections have no route. */
				if (strcmp(route, "-") == 0)
					continue;
				name = route;
				break;
			}
			if (name[0] == '\0' ||
			    (st->only != NULL && strcmp(st->only, name) != 0) ||
			    (pass == 1 && !ctl_stat_has(st, name)))
				continue;
			sd = &ctl_stat_row(st, name)->side[in];
			if (!sd->seen || sd->last_proxy != proxy)
				sd->meshed++;
			sd->seen = 1;
			sd->last_proxy = proxy;
			sd->requests += (uint64_t)json_integer_value(
			    json_object_get(r, "requests"));
			sd->success += (uint64_t)json_integer_value(
			    json_object_get(r, "success"));
			sd->tcp +=
			    json_integer_value(json_object_get(r, "tcp_open"));
			sd->rps += (double)json_integer_value(
				       json_object_get(r, "requests")) /
			    covered;
			b = json_object_get(r, "buckets");
			for (i = 0;
			     i < STATS_BUCKETS && i < (int)json_array_size(b);
			     i++)
				sd->dur[i] += (uint64_t)json_integer_value(
				    json_array_get(b, (size_t)i));
		}
	return 0;
}

/*
 * The side a row shows, as linkerd viz stat does: a workload as its
 * own sidecar serves it (reporter=destination), a service and a route
 * as their clients see them (reporter=source: only the client's sidecar
 * knows the route a request took, and it counts what never reached a
 * server); the other side when that is all there is, such as a service
 * called by clients with no sidecar.
 */
static const struct ctl_stat_side *
ctl_stat_pick(const struct ctl_stat *st, const struct ctl_stat_row *row,
    const char **reporter)
{
	int first = st->kind == STAT_WORKLOAD ? 1 : 0;

	if (!row->side[first].seen)
		first = !first;
	*reporter = first ? "destination" : "source";
	return &row->side[first];
}

static int
ctl_stat_row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctl_stat_row *)a)->name,
	    ((const struct ctl_stat_row *)b)->name);
}

static void
ctl_stat_latency(char *buf, size_t len, double s)
{
	if (isnan(s))
		snprintf(buf, len, "-");
	else if (s < 0.01)
		snprintf(buf, len, "%.2fms", s * 1000);
	else if (s < 1)
		snprintf(buf, len, "%.0fms", s * 1000);
	else
		snprintf(buf, len, "%.2fs", s);
}

static json_t *
ctl_stat_json_num(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static void
ctl_stat_print(struct ctl_stat *st, const char *fmt, double window)
{
	const struct ctl_stat_side *sd;
	const char *reporter;
	char p50[16], p95[16], p99[16], succ[16], rps[24];
	double q50, q95, q99;
	json_t *out = NULL, *arr = NULL;
	int wide = strcmp(fmt, "wide") == 0, js = strcmp(fmt, "json") == 0;
	size_t i;

	if (st->n > 0)
		qsort(st->rows, st->n, sizeof(*st->rows), ctl_stat_row_cmp);
	if (js)
		arr = json_array();
	else if (st->n == 0) {
		printf("No traffic found.\n");
		return;
	} else
		printf("%-40s %6s %8s %9s %11s %11s %11s %8s%s\n", "NAME",
		    "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95",
		    "LATENCY_P99", "TCP_CONN",
		    wide ? "  REQUESTS  REPORTER" : "");
	for (i = 0; i < st->n; i++) {
		sd = ctl_stat_pick(st, &st->rows[i], &reporter);
		q50 = stats_quantile(0.5, sd->dur);
		q95 = stats_quantile(0.95, sd->dur);
		q99 = stats_quantile(0.99, sd->dur);
		if (js) {
			json_array_append_new(arr,
			    json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:o,s:f,s:o,"
				      "s:o,s:o,s:I}",
				"kind", ctl_stat_kinds[st->kind], "name",
				st->rows[i].name, "reporter", reporter,
				"meshed", (int)sd->meshed, "requests",
				(json_int_t)sd->requests, "success",
				(json_int_t)sd->success, "success_rate",
				sd->requests > 0
				    ? json_real((double)sd->success /
					  (double)sd->requests)
				    : json_null(),
				"rps", sd->rps, "latency_p50",
				ctl_stat_json_num(q50), "latency_p95",
				ctl_stat_json_num(q95), "latency_p99",
				ctl_stat_json_num(q99), "tcp_conn",
				(json_int_t)sd->tcp));
			continue;
		}
		if (sd->requests > 0)
			snprintf(succ, sizeof(succ), "%.2f%%",
			    100.0 * (double)sd->success / (double)sd->requests);
		else
			snprintf(succ, sizeof(succ), "-");
		snprintf(rps, sizeof(rps), "%.1frps", sd->rps);
		ctl_stat_latency(p50, sizeof(p50), q50);
		ctl_stat_latency(p95, sizeof(p95), q95);
		ctl_stat_latency(p99, sizeof(p99), q99);
		printf("%-40s %6u %8s %9s %11s %11s %11s %8lld",
		    st->rows[i].name, sd->meshed, succ, rps, p50, p95, p99,
		    (long long)sd->tcp);
		if (wide)
			printf("  %8llu  %s", (unsigned long long)sd->requests,
			    reporter);
		printf("\n");
	}
	if (js) {
		out = json_pack("{s:s,s:f,s:i,s:o,s:o}", "kind",
		    ctl_stat_kinds[st->kind], "window", window, "proxies",
		    st->nproxies, "unreachable", json_incref(st->failed),
		    "rows", arr);
		json_dumpf(out, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(out);
	}
}

/* service/NAME, workload/NAME, route/NAME, or just the kind. */
static int
ctl_stat_target(struct ctl_stat *st, const char *arg)
{
	const char *slash = strchr(arg, '/');
	size_t klen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	static const char *const alias[] = {"svc", "wl", "rt"};
	int i;

	for (i = 0; i < 3; i++) {
		if ((strlen(ctl_stat_kinds[i]) == klen &&
			strncmp(arg, ctl_stat_kinds[i], klen) == 0) ||
		    (strlen(alias[i]) == klen &&
			strncmp(arg, alias[i], klen) == 0) ||
		    (klen == strlen(ctl_stat_kinds[i]) + 1 &&
			strncmp(arg, ctl_stat_kinds[i], klen - 1) == 0 &&
			arg[klen - 1] == 's')) {
			st->kind = (enum ctl_stat_kind)i;
			st->only = slash != NULL && slash[1] != '\0' ? slash + 1
								     : NULL;
			return 0;
		}
	}
	return -1;
}

int
ctl_stat(struct ctl *ctl, int argc, char **argv)
{
	enum { OPT_WINDOW = 2000, OPT_PROXY };
	static const struct option longopts[] = {
	    {"window", required_argument, NULL, OPT_WINDOW},
	    {"proxy", required_argument, NULL, OPT_PROXY},
	    {"output", required_argument, NULL, 'o'}, CTL_COMMON_LONGOPTS,
	    {NULL, 0, NULL, 0}};
	struct ctl_stat st;
	struct ctl_http h;
	const char *fmt = "table", *window_arg = "1m";
	const char **proxies = NULL;
	char target[128], msg[400];
	json_t *doc, *resp = NULL, *list, *p;
	json_error_t jerr;
	int64_t window_ms;
	size_t nproxies = 0, i;
	int ch, rc = CTL_EXIT_OK, status;

	memset(&st, 0, sizeof(st));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		if (ctl_common_option(ctl, ch, optarg))
			continue;
		switch (ch) {
		case OPT_WINDOW:
			window_arg = optarg;
			break;
		case OPT_PROXY:
			proxies = xreallocarray(
			    proxies, nproxies + 1, sizeof(*proxies));
			proxies[nproxies++] = optarg;
			break;
		case 'o':
			fmt = optarg;
			break;
		default:
			ctl_usage_error("stat: usage: weftctl stat [--window "
					"DURATION] [--proxy HOST:PORT]... "
					"[service/NAME | workload/NAME | "
					"route/NAME] [-o table|wide|json]");
		}
	}
	if (strcmp(fmt, "table") != 0 && strcmp(fmt, "wide") != 0 &&
	    strcmp(fmt, "json") != 0)
		ctl_usage_error(
		    "stat: unknown output format \"%s\" (table, wide, json)",
		    fmt);
	if (duration_parse(window_arg, &window_ms) == -1 || window_ms < 1000 ||
	    window_ms > STATS_MAX_WINDOW * 1000)
		ctl_usage_error(
		    "stat: --window %s: a duration from 1s to 5m", window_arg);
	if (optind < argc && ctl_stat_target(&st, argv[optind]) == -1)
		ctl_usage_error("stat: \"%s\": use service/NAME, workload/NAME "
				"or route/NAME",
		    argv[optind]);
	if (optind + 1 < argc)
		ctl_usage_error("stat: one target at most");
	if (nproxies == 0 && ctl->server == NULL) {
		/* Neither: the proxy beside us, as in a pod or on a VM. */
		proxies = xreallocarray(NULL, 1, sizeof(*proxies));
		proxies[nproxies++] = CTL_LOCAL_PROXY;
	}
	st.failed = json_array();
	snprintf(target, sizeof(target), "/stats?window=%lldms",
	    (long long)window_ms);
	for (i = 0; i < nproxies; i++) {
		if (ctl_http_get(proxies[i], target, CTL_STAT_TIMEOUT_MS, &h) ==
		    -1) {
			snprintf(msg, sizeof(msg), "%s", h.err);
		} else if (h.status != 200) {
			snprintf(msg, sizeof(msg), "%s: HTTP %d: %.200s",
			    proxies[i], h.status, h.body != NULL ? h.body : "");
			msg[strcspn(msg, "\n")] = '\0';
		} else if ((doc = json_loads(h.body, 0, &jerr)) == NULL ||
		    ctl_stat_add(&st, doc, (int)i) == -1) {
			json_decref(doc);
			snprintf(msg, sizeof(msg), "%s: not a /stats answer",
			    proxies[i]);
		} else {
			json_decref(doc);
			st.nproxies++;
			ctl_http_close(&h);
			continue;
		}
		ctl_http_close(&h);
		ctl_warnx("%s", msg);
		json_array_append_new(st.failed, json_string(msg));
		st.nfailed++;
	}
	if (ctl->server != NULL && nproxies == 0) {
		snprintf(target, sizeof(target), "/v1/stats?window=%lldms",
		    (long long)window_ms);
		status = ctl_remote_call(ctl, "GET", target, NULL, NULL, &resp);
		if (status != 200) {
			json_decref(resp);
			json_decref(st.failed);
			return CTL_EXIT_FAIL;
		}
		list = json_object_get(resp, "proxies");
		json_array_foreach(list, i, p)
		{
			doc = json_object_get(p, "stats");
			if (doc != NULL &&
			    ctl_stat_add(&st, doc, (int)i) == 0) {
				st.nproxies++;
				continue;
			}
			snprintf(msg, sizeof(msg), "%s/%s (%s): %s",
			    ctl_stat_str(p, "namespace"),
			    ctl_stat_str(p, "workload"),
			    ctl_stat_str(p, "address"),
			    json_string_value(json_object_get(p, "error"))
				? ctl_stat_str(p, "error")
				: "no answer");
			if (strcmp(fmt, "json") != 0)
				ctl_warnx("%s", msg);
			json_array_append_new(st.failed, json_string(msg));
			st.nfailed++;
		}
		json_decref(resp);
	}
	if (st.nproxies == 0) {
		ctl_warnx("stat: no proxy answered");
		rc = CTL_EXIT_FAIL;
	} else
		ctl_stat_print(&st, fmt, (double)window_ms / 1000);
	free(st.rows);
	free(proxies);
	json_decref(st.failed);
	return rc;
}
