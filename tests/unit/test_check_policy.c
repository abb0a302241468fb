/*
 * Unit tests for weftctl check's policy analysis (src/ctl/
 * ctl_check_policy.c): a consistent policy passes every check; each
 * inconsistency gives its one line at its level (subset references,
 * unknown hosts, selectors that select nothing, hosts and addresses
 * claimed twice, certificates expiring); resources of files replace the
 * stored ones of the same name; the report's JSON has linkerd's layout.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config_input.h"
#include "ctl_check.h"

#define NOW 1800000000

#define SE_REVIEWS                                                             \
	"apiVersion: networking.istio.io/v1\n"                                 \
	"kind: ServiceEntry\n"                                                 \
	"metadata: {name: reviews}\n"                                          \
	"spec:\n"                                                              \
	"  hosts: [reviews]\n"                                                 \
	"  addresses: [240.240.0.10]\n"                                        \
	"  ports: [{number: 80, name: http, protocol: HTTP}]\n"                \
	"  workloadSelector: {labels: {app: reviews}}\n"
#define WE_REVIEWS                                                             \
	"---\n"                                                                \
	"apiVersion: networking.istio.io/v1\n"                                 \
	"kind: WorkloadEntry\n"                                                \
	"metadata: {name: reviews-v1}\n"                                       \
	"spec: {address: 198.18.0.10, labels: {app: reviews, version: v1}}\n"
#define DR_REVIEWS                                                             \
	"---\n"                                                                \
	"apiVersion: networking.istio.io/v1\n"                                 \
	"kind: DestinationRule\n"                                              \
	"metadata: {name: reviews}\n"                                          \
	"spec:\n"                                                              \
	"  host: reviews\n"                                                    \
	"  subsets: [{name: v1, labels: {version: v1}}]\n"
#define VS_REVIEWS(host, subset)                                               \
	"---\n"                                                                \
	"apiVersion: networking.istio.io/v1\n"                                 \
	"kind: VirtualService\n"                                               \
	"metadata: {name: reviews}\n"                                          \
	"spec:\n"                                                              \
	"  hosts: [reviews]\n"                                                 \
	"  http:\n"                                                            \
	"  - route: [{destination: {host: " host ", subset: " subset "}}]\n"
#define VS_PLAIN(host)                                                         \
	"---\n"                                                                \
	"apiVersion: networking.istio.io/v1\n"                                 \
	"kind: VirtualService\n"                                               \
	"metadata: {name: reviews}\n"                                          \
	"spec:\n"                                                              \
	"  hosts: [reviews]\n"                                                 \
	"  http:\n"                                                            \
	"  - route: [{destination: {host: " host "}}]\n"
#define GOOD SE_REVIEWS WE_REVIEWS DR_REVIEWS VS_REVIEWS("reviews", "v1")

struct fixture {
	struct config_resources stored, files;
	struct check_facts facts;
	struct check_report rep;
};

static void
fixture_load(struct config_resources *rs, const char *yaml, const char *name)
{
	struct config_errors errs = {NULL, 0};

	config_input_buffer(yaml, strlen(yaml), name, NULL, 0, rs, &errs);
	assert_int_equal(errs.n, 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->facts.hosts = json_array();
	f->facts.workloads = json_array();
	f->facts.certs = json_array();
	f->facts.now = NOW;
	check_report_init(&f->rep);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	config_resources_clear(&f->stored);
	config_resources_clear(&f->files);
	json_decref(f->facts.hosts);
	json_decref(f->facts.workloads);
	json_decref(f->facts.certs);
	check_report_clear(&f->rep);
	free(f);
	return 0;
}

/* The number of checks of result whose description contains text. */
static size_t
count(const struct check_report *r, const char *result, const char *text)
{
	const json_t *g, *c;
	size_t i, j, n = 0;

	json_array_foreach(r->groups, i, g)
	{
		json_array_foreach(json_object_get(g, "checks"), j, c)
		{
			if (strcmp(
				json_string_value(json_object_get(c, "result")),
				result) == 0 &&
			    strstr(json_string_value(
				       json_object_get(c, "description")),
				text) != NULL)
				n++;
		}
	}
	return n;
}

static void
analyze(struct fixture *f, int with_files)
{
	check_group(&f->rep, "policy");
	check_policy_analyze(
	    &f->rep, &f->stored, with_files ? &f->files : NULL, &f->facts);
}

static void
test_good(void **state)
{
	struct fixture *f = *state;

	fixture_load(&f->stored, GOOD, "good.yaml");
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 0);
	assert_int_equal(f->rep.nwarn, 0);
	assert_int_equal(
	    count(&f->rep, "success", "subset references hold"), 1);
	assert_int_equal(count(&f->rep, "success", "name known services"), 1);
	assert_int_equal(
	    count(&f->rep, "success", "every selector selects a workload"), 1);
}

static void
test_dangling_subset(void **state)
{
	struct fixture *f = *state;

	fixture_load(&f->stored,
	    SE_REVIEWS WE_REVIEWS DR_REVIEWS VS_REVIEWS("reviews", "v2"), "x");
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 1);
	assert_int_equal(count(&f->rep, "error",
			     "VirtualService/reviews: "
			     "spec.http[0].route[0].destination.subset: "
			     "subset \"v2\" of host \"reviews\" is not "
			     "defined by any DestinationRule"),
	    1);
}

static void
test_unknown_host(void **state)
{
	struct fixture *f = *state;

	fixture_load(
	    &f->stored, SE_REVIEWS WE_REVIEWS VS_PLAIN("ratings"), "x");
	analyze(f, 0);
	assert_int_equal(count(&f->rep, "error",
			     "VirtualService default/reviews: destination "
			     "host \"ratings\" is not a known service"),
	    1);
	assert_int_equal(f->rep.nfail, 1);
	/* A discovered service of that name makes it known. */
	check_report_clear(&f->rep);
	check_report_init(&f->rep);
	json_array_append_new(
	    f->facts.hosts, json_string("ratings.default.svc.cluster.local"));
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 0);
}

static void
test_selectors(void **state)
{
	struct fixture *f = *state;

	/* No WorkloadEntry: the ServiceEntry and the policy select none. */
	fixture_load(&f->stored,
	    SE_REVIEWS "---\n"
		       "apiVersion: security.istio.io/v1\n"
		       "kind: AuthorizationPolicy\n"
		       "metadata: {name: deny}\n"
		       "spec:\n"
		       "  selector: {matchLabels: {app: reviews}}\n"
		       "  action: DENY\n"
		       "  rules: [{}]\n",
	    "x");
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 0);
	assert_int_equal(f->rep.nwarn, 2);
	assert_int_equal(count(&f->rep, "warning",
			     "ServiceEntry default/reviews: workloadSelector "
			     "{\"app\":\"reviews\"} selects no workload"),
	    1);
	assert_int_equal(count(&f->rep, "warning",
			     "AuthorizationPolicy default/deny: selector"),
	    1);
	/* A registered workload in another namespace does not count... */
	check_report_clear(&f->rep);
	check_report_init(&f->rep);
	json_array_append_new(f->facts.workloads,
	    json_pack("{s:s, s:s, s:{s:s}}", "namespace", "other", "name", "r1",
		"labels", "app", "reviews"));
	analyze(f, 0);
	assert_int_equal(f->rep.nwarn, 2);
	/* ...one in the namespace does. */
	check_report_clear(&f->rep);
	check_report_init(&f->rep);
	json_array_append_new(f->facts.workloads,
	    json_pack("{s:s, s:s, s:{s:s, s:s}}", "namespace", "default",
		"name", "r2", "labels", "app", "reviews", "version", "v1"));
	analyze(f, 0);
	assert_int_equal(f->rep.nwarn, 0);
}

static void
test_claims(void **state)
{
	struct fixture *f = *state;

	fixture_load(&f->stored,
	    GOOD "---\n"
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: copy}\n"
		 "spec:\n"
		 "  hosts: [reviews.default.svc.cluster.local]\n"
		 "  addresses: [240.240.0.10]\n"
		 "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
		 "  endpoints: [{address: 198.18.0.11}]\n",
	    "x");
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 0);
	assert_int_equal(count(&f->rep, "warning",
			     "ServiceEntries default/reviews and default/copy "
			     "both claim host"),
	    1);
	assert_int_equal(
	    count(&f->rep, "warning", "both claim address \"240.240.0.10\""),
	    1);
}

static void
test_certs(void **state)
{
	struct fixture *f = *state;

	fixture_load(&f->stored, GOOD, "x");
	json_array_append_new(f->facts.certs,
	    json_pack("{s:s, s:I}", "spiffeId", "spiffe://a", "notAfter",
		(json_int_t)NOW - 1));
	json_array_append_new(f->facts.certs,
	    json_pack("{s:s, s:I}", "spiffeId", "spiffe://b", "notAfter",
		(json_int_t)NOW + 3600));
	json_array_append_new(f->facts.certs,
	    json_pack("{s:s, s:I}", "spiffeId", "spiffe://c", "notAfter",
		(json_int_t)NOW + 30 * 86400));
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 1);
	assert_int_equal(f->rep.nwarn, 1);
	assert_int_equal(
	    count(&f->rep, "error", "certificate of spiffe://a expired"), 1);
	assert_int_equal(count(&f->rep, "warning",
			     "certificate of spiffe://b expires within 7 days"),
	    1);
}

static void
test_files(void **state)
{
	struct fixture *f = *state;

	fixture_load(&f->stored, GOOD, "x");
	/* The file's DestinationRule replaces the stored one: no subsets. */
	fixture_load(&f->files,
	    "apiVersion: networking.istio.io/v1\n"
	    "kind: DestinationRule\n"
	    "metadata: {name: reviews}\n"
	    "spec: {host: reviews}\n",
	    "dr.yaml");
	analyze(f, 1);
	assert_int_equal(
	    count(&f->rep, "error",
		"subset \"v1\" of host \"reviews\" is not defined"),
	    1);
	check_policy_files(&f->rep, &f->stored, &f->files);
	assert_int_equal(
	    count(&f->rep, "error",
		"dr.yaml:1: DestinationRule/reviews: spec.subsets: "
		"subset \"v1\" of host \"reviews\" is still used "
		"by VirtualService default/reviews"),
	    1);
	/* Without the files, the stored policy is whole. */
	check_report_clear(&f->rep);
	check_report_init(&f->rep);
	analyze(f, 0);
	assert_int_equal(f->rep.nfail, 0);
}

static void
test_report_json(void **state)
{
	struct fixture *f = *state;
	json_t *j;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	check_group(&f->rep, "first");
	check_add(&f->rep, CHECK_OK, "unused", "it works");
	check_add(&f->rep, CHECK_FAIL, "do this", "it broke: %d", 42);
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	check_report_print(&f->rep, mem, 1);
	fclose(mem);
	j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "success")));
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(j, "categories"), 0),
		"categoryName")),
	    "first");
	assert_int_equal(f->rep.nok, 1);
	assert_int_equal(f->rep.nfail, 1);
	assert_int_equal(count(&f->rep, "error", "it broke: 42"), 1);
	json_decref(j);
	free(buf);
	buf = NULL;
	mem = open_memstream(&buf, &len);
	check_report_print(&f->rep, mem, 0);
	fclose(mem);
	assert_non_null(strstr(buf,
	    "first\n-----\n\u221a it works\n"
	    "\u00d7 it broke: 42\n    hint: do this\n"));
	assert_non_null(strstr(buf, "Status check results are \u00d7"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_good, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_dangling_subset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_selectors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_certs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
