/*
 * snapshot-load: how long weft-proxy takes to build its policy snapshot
 * from a policy DB, with the proxy's own code (src/proxy/policy_db.c,
 * snapshot_build.c): what the proxy does at start and at every new
 * version, off the request path. Run by bench/sync-scale.sh.
 *
 *   snapshot-load [-n REPEAT] DB
 *
 * Prints the first load (a cold connection: statements prepared, pages
 * read) and the median and minimum of REPEAT more on the same handle,
 * with what the snapshot holds and the process's peak RSS.
 */
#include "config.h"

#include <sys/resource.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "policy_db.h"
#include "snapshot.h"
#include "xmalloc.h"

static int64_t
load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
load_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One policy_db_load, timed; exits on failure. */
static int64_t
load_once(struct policy_db *p, struct snapshot **out)
{
	struct snapshot *s;
	char *cause = NULL;
	int64_t t0;

	t0 = load_now_us();
	if ((s = policy_db_load(p, &cause)) == NULL)
		fatalx("%s", cause);
	t0 = load_now_us() - t0;
	if (*out != NULL)
		snapshot_unref(*out);
	*out = s;
	return t0;
}

int
main(int argc, char **argv)
{
	struct snapshot *s = NULL;
	struct policy_db *p;
	struct rusage ru;
	char *end, *cause = NULL;
	int64_t first, *t;
	int ch, i, n = 5;

	log_init("snapshot-load", LOG_LEVEL_WARN);
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		switch (ch) {
		case 'n':
			n = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 1000) {
				fprintf(stderr, "snapshot-load: -n 1..1000\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr,
			    "usage: snapshot-load [-n REPEAT] "
			    "DB\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: snapshot-load [-n REPEAT] DB\n");
		return 2;
	}
	if (access(argv[optind], R_OK) == -1)
		fatal("%s", argv[optind]);
	p = policy_db_new(argv[optind]);
	if (policy_db_changed(p, &cause) == -1)
		fatalx("%s", cause);
	first = load_once(p, &s);
	t = xcalloc((size_t)n, sizeof(*t));
	for (i = 0; i < n; i++)
		t[i] = load_once(p, &s);
	qsort(t, (size_t)n, sizeof(*t), load_cmp64);
	if (getrusage(RUSAGE_SELF, &ru) == -1)
		ru.ru_maxrss = -1;
	printf("version %lld services %zu endpoints %zu clusters %zu "
	       "vhosts %zu\n",
	    (long long)snapshot_version(s), snapshot_nservices(s),
	    snapshot_nendpoints(s), snapshot_nclusters(s), snapshot_nvhosts(s));
	printf("first_ms %.1f median_ms %.1f min_ms %.1f repeat %d "
	       "maxrss_kib %ld\n",
	    (double)first / 1000.0, (double)t[(n - 1) / 2] / 1000.0,
	    (double)t[0] / 1000.0, n, (long)ru.ru_maxrss);
	snapshot_unref(s);
	policy_db_free(p);
	free(t);
	return 0;
}
