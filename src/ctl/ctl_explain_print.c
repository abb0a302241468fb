/*
 * weftctl explain's text output: a summary for people of the JSON
 * document that ctl_explain.c decides (and prints as is with -o json).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"

/* A number without trailing zeros, to two decimals: "90", "33.33". */
static const char *
explain_num(double v, char *buf, size_t len)
{
	char *p;

	snprintf(buf, len, "%.2f", v);
	if ((p = strchr(buf, '.')) != NULL) {
		p += strlen(p) - 1;
		while (*p == '0')
			*p-- = '\0';
		if (*p == '.')
			*p = '\0';
	}
	return buf;
}

static const char *
explain_ms(json_int_t ms, char *buf, size_t len)
{
	char n[32];

	if (ms >= 1000)
		snprintf(
		    buf, len, "%ss", explain_num((double)ms / 1000, n, 32));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
	return buf;
}

/* Field k of o: a string ("" when absent), an integer, a number. */
static const char *
explain_s(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static long long
explain_i(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* A number field, to two decimals, in buf. */
static const char *
explain_r(const json_t *o, const char *k, char *buf, size_t len)
{
	return explain_num(json_number_value(json_object_get(o, k)), buf, len);
}

/* The text of the outbound side: route, resiliency, destinations. */
static void
explain_print_route(const json_t *o)
{
	const json_t *v, *d, *e;
	char n[32], t[32], pct[48];
	size_t i, j;

	printf("service: %s\n",
	    json_is_string(json_object_get(o, "service"))
		? explain_s(o, "service")
		: "none");
	if (json_is_string(json_object_get(o, "virtualService")))
		printf("virtual service: %s\n", explain_s(o, "virtualService"));
	if (json_is_object(v = json_object_get(o, "route"))) {
		printf("route: http[%lld] %s", explain_i(v, "index"),
		    explain_s(v, "name"));
		if (json_is_integer(json_object_get(v, "match")))
			printf(" (match %lld)", explain_i(v, "match"));
		printf("\n");
	}
	if ((v = json_object_get(o, "timeoutMs")) != NULL)
		printf("timeout: %s\n",
		    explain_ms(json_integer_value(v), t, sizeof(t)));
	if ((v = json_object_get(o, "retries")) != NULL) {
		printf("retries: %lld attempts on %s", explain_i(v, "attempts"),
		    explain_s(v, "retryOn"));
		if (json_object_get(v, "perTryTimeoutMs") != NULL)
			printf(", %s per try",
			    explain_ms(
				explain_i(v, "perTryTimeoutMs"), t, sizeof(t)));
		printf("\n");
	}
	if ((v = json_object_get(o, "fault")) != NULL) {
		if (json_object_get(v, "abortStatus") != NULL)
			printf("fault: abort %lld for %s%% of requests\n",
			    explain_i(v, "abortStatus"),
			    explain_r(v, "abortPercent", n, sizeof(n)));
		if (json_object_get(v, "delayMs") != NULL)
			printf("fault: delay %s for %s%% of requests\n",
			    explain_ms(explain_i(v, "delayMs"), t, sizeof(t)),
			    explain_r(v, "delayPercent", n, sizeof(n)));
	}
	if ((v = json_object_get(o, "mirror")) != NULL)
		printf("mirror: %s for %s%% of requests\n",
		    explain_s(v, "cluster"),
		    explain_r(v, "percent", n, sizeof(n)));
	if ((v = json_object_get(o, "rewrite")) != NULL) {
		if (json_object_get(v, "uri") != NULL)
			printf("rewrite: uri %s\n", explain_s(v, "uri"));
		if (json_object_get(v, "authority") != NULL)
			printf("rewrite: authority %s\n",
			    explain_s(v, "authority"));
	}
	v = json_object_get(o, "destinations");
	if (json_array_size(v) > 0)
		printf("destinations:\n");
	json_array_foreach(v, i, d)
	{
		/* "reviews v2 90%" */
		snprintf(pct, sizeof(pct), "%s%s%s %s%%", explain_s(d, "host"),
		    json_is_string(json_object_get(d, "subset")) ? " " : "",
		    explain_s(d, "subset"),
		    explain_r(d, "percent", n, sizeof(n)));
		if (json_is_null(json_object_get(d, "cluster")))
			printf("  %s -> no such service (503)\n", pct);
		else if (json_array_size(json_object_get(d, "endpoints")) == 0)
			printf("  %s -> no endpoints (503 no healthy "
			       "upstream)\n",
			    pct);
		json_array_foreach(json_object_get(d, "endpoints"), j, e)
		{
			printf("  %s -> %s (%s, %s)\n", pct,
			    explain_s(e, "address"), explain_s(e, "workload"),
			    json_is_true(json_object_get(e, "healthy"))
				? "healthy"
				: "unhealthy");
		}
	}
}

/* The text of one destination workload's inbound decision. */
static void
explain_print_inbound(const json_t *w)
{
	const json_t *jwt, *az, *l, *e;
	const char *st;
	char n1[32], n2[32];
	size_t j;

	printf("inbound %s port %lld:\n", explain_s(w, "workload"),
	    explain_i(w, "port"));
	printf("  peer authentication: %s, %s from the source%s\n",
	    explain_s(w, "peerAuthentication"), explain_s(w, "transport"),
	    json_is_null(json_object_get(w, "principal"))
		? " (no peer identity)"
		: "");
	if ((jwt = json_object_get(w, "jwt")) != NULL) {
		st = explain_s(jwt, "status");
		if (strcmp(st, "valid") == 0)
			printf("  jwt: valid, request principal %s\n",
			    explain_s(jwt, "requestPrincipal"));
		else if (strcmp(st, "unverified") == 0)
			printf("  jwt: NOT VERIFIED (its keys are fetched by "
			       "the proxy from %s), request principal %s\n",
			    explain_s(jwt, "jwksUri"),
			    explain_s(jwt, "requestPrincipal"));
		else if (strcmp(st, "invalid") == 0)
			printf("  jwt: 401 %s\n", explain_s(jwt, "reason"));
		else if (strcmp(st, "not validated") == 0)
			printf("  jwt: not validated (no RequestAuthentication "
			       "applies)\n");
		else
			printf("  jwt: none\n");
	}
	az = json_object_get(w, "authorization");
	if (json_is_null(az))
		printf("  authorization: allowed (no AuthorizationPolicy "
		       "applies)\n");
	else if (az != NULL) {
		/* The reason names the deciding policy and rule. */
		printf("  authorization: %s: %s\n",
		    json_is_true(json_object_get(az, "allowed")) ? "ALLOWED"
								 : "DENIED",
		    explain_s(az, "reason"));
		l = json_object_get(az, "policies");
		printf("  policies in force:%s",
		    json_array_size(l) == 0 ? " none" : "");
		json_array_foreach(l, j, e)
		{
			printf("%s %s (%s%s)", j > 0 ? "," : "",
			    explain_s(e, "name"), explain_s(e, "action"),
			    json_is_true(json_object_get(e, "dryRun"))
				? ", dry run"
				: "");
		}
		printf("\n");
		if ((e = json_object_get(az, "nearest")) != NULL) {
			if (explain_i(e, "rule") < 0)
				printf("  nearest ALLOW policy: %s: %s\n",
				    explain_s(e, "policy"),
				    explain_s(e, "failed"));
			else
				printf("  nearest ALLOW rule: %s rule %lld, "
				       "failed on %s\n",
				    explain_s(e, "policy"),
				    explain_i(e, "rule"),
				    explain_s(e, "failed"));
		}
		if (json_is_true(json_object_get(az, "dryRunDenied")))
			printf("  a dry-run policy would deny it\n");
		if (json_object_get(az, "audit") != NULL)
			printf("  audited by %s\n", explain_s(az, "audit"));
	}
	l = json_object_get(w, "rateLimits");
	if (json_array_size(l) == 0 &&
	    json_is_true(json_object_get(w, "allowed")))
		printf("  rate limits: none\n");
	json_array_foreach(l, j, e)
	{
		printf("  rate limit: %s %s/s, burst %s%s%s\n",
		    explain_s(e, "id"),
		    explain_r(e, "requestsPerSecond", n1, sizeof(n1)),
		    explain_r(e, "burst", n2, sizeof(n2)),
		    json_object_get(e, "per") != NULL ? ", per " : "",
		    explain_s(e, "per"));
	}
	printf("  decision: %s\n", explain_s(w, "reason"));
}

void
ctl_explain_print_text(const json_t *o)
{
	const json_t *src = json_object_get(o, "source");
	const json_t *req = json_object_get(o, "request"), *w;
	const char *why = explain_s(o, "reason");
	size_t i;

	printf("source: %s", explain_s(src, "principal"));
	if (json_object_get(src, "workload") != NULL)
		printf(" (workload %s/%s, %s)", explain_s(src, "namespace"),
		    explain_s(src, "workload"), explain_s(src, "address"));
	printf("\nrequest: %s %s, Host %s\n", explain_s(req, "method"),
	    explain_s(req, "path"), explain_s(req, "authority"));
	printf("policy version: %lld\n", explain_i(o, "policyVersion"));
	explain_print_route(o);
	json_array_foreach(json_object_get(o, "inbound"), i, w)
	    explain_print_inbound(w);
	printf("result: %s%s%s\n",
	    json_is_true(json_object_get(o, "allowed")) ? "ALLOWED" : "DENIED",
	    strcmp(why, "allowed") != 0 ? ": " : "",
	    strcmp(why, "allowed") != 0 ? why : "");
}
