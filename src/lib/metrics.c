#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "stats_window.h"
#include "xmalloc.h"

#define HASH_BUCKETS 1024

static const uint64_t dur_bounds_ns[METRICS_DUR_BUCKETS] = {500000ULL,
    1000000ULL, 2500000ULL, 5000000ULL, 10000000ULL, 25000000ULL, 50000000ULL,
    100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL,
    5000000000ULL, 10000000000ULL, 30000000000ULL, 60000000000ULL};
static const char *const dur_bounds_str[METRICS_DUR_BUCKETS] = {"0.0005",
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10", "30", "60"};
static const uint64_t bytes_bounds[METRICS_BYTES_BUCKETS] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};

static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT",
    "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"};
static const char *const rflag_names[METRICS_RF_COUNT] = {"-", "UF", "UC", "UT",
    "DC", "UO", "NR", "URX", "FI", "DI", "RL", "UAEX", "DPE", "UPE", "UH",
    "RBAC"};
static const char *const deny_names[METRICS_DENY_COUNT] = {
    "authz", "jwt", "rate_limit", "mtls", "l4", "bad_request"};

struct req_series {
	struct metrics_req_key key;
	uint32_t hash;
	struct req_series *hnext;
	struct req_series *next; /* creation order; read by the renderer */
	uint64_t count;
	uint64_t dur_sum_ns;
	uint64_t dur[METRICS_DUR_BUCKETS + 1];
	uint64_t reqb_sum;
	uint64_t reqb[METRICS_BYTES_BUCKETS + 1];
	uint64_t respb_sum;
	uint64_t respb[METRICS_BYTES_BUCKETS + 1];
};

struct tcp_series {
	struct metrics_tcp_key key;
	uint32_t hash;
	struct tcp_series *hnext;
	struct tcp_series *next;
	uint64_t opened;
	uint64_t closed;
	uint64_t sent;
	uint64_t received;
};

struct metrics_shard {
	struct req_series *req_hash[HASH_BUCKETS];
	struct req_series *req_first;
	struct req_series *req_last;
	unsigned int req_n;
	struct tcp_series *tcp_hash[HASH_BUCKETS];
	struct tcp_series *tcp_first;
	struct tcp_series *tcp_last;
	unsigned int tcp_n;
	uint64_t overflow;
	uint64_t denied[METRICS_DENY_COUNT];
};

/* Single writer per shard: a relaxed load and store, no locked add. */
static inline void
inc(uint64_t *p, uint64_t v)
{
	__atomic_store_n(
	    p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

struct metrics_shard *
metrics_shard_new(void)
{
	return xcalloc(1, sizeof(struct metrics_shard));
}

void
metrics_shard_free(struct metrics_shard *s)
{
	struct req_series *r, *rn;
	struct tcp_series *t, *tn;

	if (s == NULL)
		return;
	for (r = s->req_first; r != NULL; r = rn) {
		rn = r->next;
		free(r);
	}
	for (t = s->tcp_first; t != NULL; t = tn) {
		tn = t->next;
		free(t);
	}
	free(s);
}

enum metrics_method
metrics_method_of(const char *m, size_t len)
{
	size_t i;

	for (i = 0; i < METRICS_M_OTHER; i++) {
		if (strlen(method_names[i]) == len &&
		    memcmp(method_names[i], m, len) == 0)
			return (enum metrics_method)i;
	}
	return METRICS_M_OTHER;
}

const char *
metrics_method_name(enum metrics_method m)
{
	return method_names[m <= METRICS_M_OTHER ? m : METRICS_M_OTHER];
}

const char *
metrics_rflag_name(enum metrics_rflag f)
{
	return f < METRICS_RF_COUNT ? rflag_names[f] : "-";
}

static uint32_t
hash_bytes(uint32_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len-- > 0) {
		h ^= *b++;
		h *= 16777619u;
	}
	return h;
}

static uint32_t
req_hash(const struct metrics_req_key *k)
{
	uint32_t h = 2166136261u;

	h = hash_bytes(h, &k->direction, 1);
	h = hash_bytes(h, &k->method, 1);
	h = hash_bytes(h, &k->rflag, 1);
	h = hash_bytes(h, &k->code, sizeof(k->code));
	h = hash_bytes(h, &k->mtls, 1);
	h = hash_bytes(h, k->service, strlen(k->service));
	h = hash_bytes(h, k->peer, strlen(k->peer));
	h = hash_bytes(h, k->peer_workload, strlen(k->peer_workload));
	h = hash_bytes(h, k->peer_namespace, strlen(k->peer_namespace));
	h = hash_bytes(h, k->peer_version, strlen(k->peer_version));
	return hash_bytes(h, k->route, strlen(k->route));
}

static int
req_key_cmp(const struct metrics_req_key *a, const struct metrics_req_key *b)
{
	int r;

	if (a->direction != b->direction)
		return a->direction - b->direction;
	if ((r = strcmp(a->service, b->service)) != 0)
		return r;
	if ((r = strcmp(a->route, b->route)) != 0)
		return r;
	if (a->method != b->method)
		return a->method - b->method;
	if (a->code != b->code)
		return a->code - b->code;
	if (a->mtls != b->mtls)
		return a->mtls - b->mtls;
	if ((r = strcmp(a->peer, b->peer)) != 0)
		return r;
	if ((r = strcmp(a->peer_workload, b->peer_workload)) != 0)
		return r;
	if ((r = strcmp(a->peer_namespace, b->peer_namespace)) != 0)
		return r;
	if ((r = strcmp(a->peer_version, b->peer_version)) != 0)
		return r;
	return a->rflag - b->rflag;
}

static uint32_t
tcp_hash(const struct metrics_tcp_key *k)
{
	uint32_t h = 2166136261u;

	h = hash_bytes(h, &k->direction, 1);
	h = hash_bytes(h, &k->http, 1);
	h = hash_bytes(h, &k->mtls, 1);
	h = hash_bytes(h, k->peer, strlen(k->peer));
	h = hash_bytes(h, k->peer_workload, strlen(k->peer_workload));
	h = hash_bytes(h, k->peer_namespace, strlen(k->peer_namespace));
	return hash_bytes(h, k->service, strlen(k->service));
}

static int
tcp_key_cmp(const struct metrics_tcp_key *a, const struct metrics_tcp_key *b)
{
	int r;

	if (a->direction != b->direction)
		return a->direction - b->direction;

	if (a->http != b->http)
		return a->http - b->http;
	if (a->mtls != b->mtls)
		return a->mtls - b->mtls;
	if ((r = strcmp(a->peer, b->peer)) != 0)
		return r;
	if ((r = strcmp(a->peer_workload, b->peer_workload)) != 0)
		return r;
	if ((r = strcmp(a->peer_namespace, b->peer_namespace)) != 0)
		return r;
	return strcmp(a->service, b->service);
}

/*
 * Publishes a new series at the end of a creation-order list: the
 * release store makes the filled series visible to the renderer before
 * the pointer to it.
 */
#define SERIES_APPEND(first, last, s)                                          \
	do {                                                                   \
		if ((last) == NULL)                                            \
			__atomic_store_n(&(first), (s), __ATOMIC_RELEASE);     \
		else                                                           \
			__atomic_store_n(                                      \
			    &(last)->next, (s), __ATOMIC_RELEASE);             \
		(last) = (s);                                                  \
	} while (0)

static struct req_series *
req_lookup(struct metrics_shard *sh, const struct metrics_req_key *k)
{
	struct metrics_req_key ovf;
	struct req_series *s;
	uint32_t h = req_hash(k);

	for (s = sh->req_hash[h % HASH_BUCKETS]; s != NULL; s = s->hnext) {
		if (s->hash == h && req_key_cmp(&s->key, k) == 0)
			return s;
	}
	if (sh->req_n >= METRICS_MAX_SERIES) {
		sh->overflow++;
		if (strcmp(k->service, "overflow") == 0)
			return NULL;
		ovf = *k;
		strcpy(ovf.service, "overflow");
		strcpy(ovf.route, "overflow");
		ovf.peer[0] = '\0';
		ovf.peer_workload[0] = '\0';
		ovf.peer_namespace[0] = '\0';
		ovf.peer_version[0] = '\0';
		if (sh->req_n >= METRICS_MAX_SERIES + 64)
			return NULL;
		k = &ovf;
		h = req_hash(k);
		for (s = sh->req_hash[h % HASH_BUCKETS]; s != NULL;
		     s = s->hnext) {
			if (s->hash == h && req_key_cmp(&s->key, k) == 0)
				return s;
		}
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->key = *k;
	s->hash = h;
	s->hnext = sh->req_hash[h % HASH_BUCKETS];
	sh->req_hash[h % HASH_BUCKETS] = s;
	sh->req_n++;
	SERIES_APPEND(sh->req_first, sh->req_last, s);
	return s;
}

static struct tcp_series *
tcp_lookup(struct metrics_shard *sh, const struct metrics_tcp_key *k)
{
	struct metrics_tcp_key ovf;
	struct tcp_series *s;
	uint32_t h = tcp_hash(k);

	for (s = sh->tcp_hash[h % HASH_BUCKETS]; s != NULL; s = s->hnext) {
		if (s->hash == h && tcp_key_cmp(&s->key, k) == 0)
			return s;
	}
	if (sh->tcp_n >= METRICS_MAX_SERIES) {
		/* As for requests: fold into one series per direction. */
		sh->overflow++;
		if (strcmp(k->service, "overflow") == 0)
			return NULL;
		ovf = *k;
		strcpy(ovf.service, "overflow");
		ovf.peer[0] = '\0';
		ovf.peer_workload[0] = '\0';
		ovf.peer_namespace[0] = '\0';
		k = &ovf;
		h = tcp_hash(k);
		for (s = sh->tcp_hash[h % HASH_BUCKETS]; s != NULL;
		     s = s->hnext) {
			if (s->hash == h && tcp_key_cmp(&s->key, k) == 0)
				return s;
		}
		if (sh->tcp_n >= METRICS_MAX_SERIES + 4)
			return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->key = *k;
	s->hash = h;
	s->hnext = sh->tcp_hash[h % HASH_BUCKETS];
	sh->tcp_hash[h % HASH_BUCKETS] = s;
	sh->tcp_n++;
	SERIES_APPEND(sh->tcp_first, sh->tcp_last, s);
	return s;
}

static void
observe_bytes(uint64_t *buckets, uint64_t *sum, uint64_t v)
{
	int i;

	for (i = 0; i < METRICS_BYTES_BUCKETS && v > bytes_bounds[i]; i++)
		;
	inc(&buckets[i], 1);
	inc(sum, v);
}

void
metrics_request(struct metrics_shard *sh, const struct metrics_req_key *k,
    uint64_t duration_ns, uint64_t req_bytes, uint64_t resp_bytes)
{
	struct req_series *s;
	int i;

	if ((s = req_lookup(sh, k)) == NULL)
		return;
	for (i = 0; i < METRICS_DUR_BUCKETS && duration_ns > dur_bounds_ns[i];
	     i++)
		;
	inc(&s->dur[i], 1);
	inc(&s->dur_sum_ns, duration_ns);
	observe_bytes(s->reqb, &s->reqb_sum, req_bytes);
	observe_bytes(s->respb, &s->respb_sum, resp_bytes);
	/* Last, so that a reader never sees a count ahead of its buckets. */
	__atomic_store_n(&s->count, s->count + 1, __ATOMIC_RELEASE);
}

void
metrics_tcp_open(struct metrics_shard *sh, const struct metrics_tcp_key *k)
{
	struct tcp_series *s;

	if ((s = tcp_lookup(sh, k)) != NULL)
		inc(&s->opened, 1);
}

void
metrics_tcp_close(struct metrics_shard *sh, const struct metrics_tcp_key *k)
{
	struct tcp_series *s;

	if ((s = tcp_lookup(sh, k)) != NULL)
		inc(&s->closed, 1);
}

void
metrics_tcp_bytes(struct metrics_shard *sh, const struct metrics_tcp_key *k,
    uint64_t sent, uint64_t received)
{
	struct tcp_series *s;

	if ((s = tcp_lookup(sh, k)) == NULL)
		return;
	inc(&s->sent, sent);
	inc(&s->received, received);
}

void
metrics_deny(struct metrics_shard *sh, enum metrics_deny_reason r)
{
	if (r < METRICS_DENY_COUNT)
		inc(&sh->denied[r], 1);
}

uint64_t
metrics_requests_total(struct metrics_shard *const *shards, int nshards)
{
	struct req_series *s;
	uint64_t n = 0;
	int i;

	for (i = 0; i < nshards; i++) {
		for (s = __atomic_load_n(
			 &shards[i]->req_first, __ATOMIC_ACQUIRE);
		     s != NULL; s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE))
			n += __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
	}
	return n;
}

int
metrics_stats_collect(
    struct metrics_shard *const *shards, int nshards, struct stats_set *set)
{
	struct stats_key k;
	struct req_series *s;
	struct tcp_series *t;
	uint64_t dur[STATS_BUCKETS], n;
	int i, b;

	for (i = 0; i < nshards; i++) {
		for (s = __atomic_load_n(
			 &shards[i]->req_first, __ATOMIC_ACQUIRE);
		     s != NULL;
		     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE)) {
			memset(&k, 0, sizeof(k));
			k.direction = s->key.direction;
			memcpy(k.service, s->key.service, sizeof(k.service));
			memcpy(k.workload, s->key.peer_workload,
			    sizeof(k.workload));
			memcpy(k.route, s->key.route, sizeof(k.route));
			memcpy(k.peer, s->key.peer, sizeof(k.peer));
			/* The count first: buckets are never behind it. */
			n = __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
			for (b = 0; b < STATS_BUCKETS; b++)
				dur[b] = get(&s->dur[b]);
			if (stats_set_add(set, &k, n,
				s->key.code >= 100 && s->key.code < 500 ? n : 0,
				dur, 0) == -1)
				return -1;
		}
		for (t = __atomic_load_n(
			 &shards[i]->tcp_first, __ATOMIC_ACQUIRE);
		     t != NULL;
		     t = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE)) {
			memset(&k, 0, sizeof(k));
			k.direction = t->key.direction;
			memcpy(k.service, t->key.service, sizeof(k.service));
			memcpy(k.workload, t->key.peer_workload,
			    sizeof(k.workload));
			strcpy(k.route, "-");
			if (stats_set_add(set, &k, 0, 0, NULL,
				(int64_t)get(&t->opened) -
				    (int64_t)get(&t->closed)) == -1)
				return -1;
		}
	}
	return 0;
}

/* Rendering: merge series with equal labels across shards, then print. */

static void
put_label(struct evbuffer *out, const char *name, const char *v, int first)
{
	size_t n;

	evbuffer_add_printf(out, "%s%s=\"", first ? "" : ",", name);
	while (*v != '\0') {
		/* Copy runs of plain bytes at once; escape the rest. */
		n = strcspn(v, "\\\"\n");
		evbuffer_add(out, v, n);
		v += n;
		if (*v == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (*v != '\0')
			evbuffer_add_printf(out, "\\%c", *v);
		if (*v != '\0')
			v++;
	}
	evbuffer_add(out, "\"", 1);
}

/* The Istio standard labels shared by request and TCP series. */
static const char *
or_unknown(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : "unknown";
}

/* The other side's workload (metrics_req_key's peer_* fields). */
struct peer_names {
	const char *workload;
	const char *namespace;
	const char *version; /* outbound only */
};

static void
put_peer_labels(struct evbuffer *out, int direction, const char *service,
    int http, int mtls, const char *peer, const struct peer_names *pn,
    const struct metrics_identity *id)
{
	int outbound = direction == METRICS_OUTBOUND;
	const char *principal;

	/* Ours when we originated mTLS; the peer's when it came with it. */
	principal = outbound ? (mtls ? id->principal : "unknown")
			     : (peer[0] != '\0' ? peer : "unknown");

	put_label(out, "reporter", outbound ? "source" : "destination", 1);
	put_label(out, "direction", outbound ? "outbound" : "inbound", 0);
	put_label(out, "source_workload",
	    outbound ? id->workload : or_unknown(pn->workload), 0);
	put_label(out, "source_workload_namespace",
	    outbound ? id->namespace : or_unknown(pn->namespace), 0);
	put_label(out, "source_principal", principal, 0);
	put_label(out, "destination_service", service, 0);
	put_label(out, "destination_workload",
	    outbound ? or_unknown(pn->workload) : id->workload, 0);
	put_label(out, "destination_workload_namespace",
	    outbound ? or_unknown(pn->namespace) : id->namespace, 0);
	put_label(out, "destination_version",
	    outbound ? or_unknown(pn->version) : id->version, 0);
	put_label(out, "request_protocol", http ? "http" : "tcp", 0);
	put_label(
	    out, "connection_security_policy", mtls ? "mutual_tls" : "none", 0);
}

static void
put_req_labels(struct evbuffer *out, const struct metrics_req_key *k,
    const struct metrics_identity *id)
{
	struct peer_names pn = {
	    k->peer_workload, k->peer_namespace, k->peer_version};
	char code[8];

	put_peer_labels(
	    out, k->direction, k->service, 1, k->mtls, k->peer, &pn, id);
	snprintf(code, sizeof(code), "%u", k->code);
	put_label(out, "response_code", code, 0);
	put_label(out, "response_flags", metrics_rflag_name(k->rflag), 0);
	put_label(out, "method", metrics_method_name(k->method), 0);
	put_label(out, "route", k->route, 0);
}

static int
req_ptr_cmp(const void *a, const void *b)
{
	const struct req_series *x = *(struct req_series *const *)a;
	const struct req_series *y = *(struct req_series *const *)b;

	return req_key_cmp(&x->key, &y->key);
}

static int
tcp_ptr_cmp(const void *a, const void *b)
{
	const struct tcp_series *x = *(struct tcp_series *const *)a;
	const struct tcp_series *y = *(struct tcp_series *const *)b;

	return tcp_key_cmp(&x->key, &y->key);
}

/* Sum of one series group, read from the shards. */
struct req_sum {
	uint64_t count, dur_sum_ns, reqb_sum, respb_sum;
	uint64_t dur[METRICS_DUR_BUCKETS + 1];
	uint64_t reqb[METRICS_BYTES_BUCKETS + 1];
	uint64_t respb[METRICS_BYTES_BUCKETS + 1];
};

static void
req_sum_add(struct req_sum *sum, const struct req_series *s)
{
	int i;

	sum->count += __atomic_load_n(&s->count, __ATOMIC_ACQUIRE);
	sum->dur_sum_ns += get(&s->dur_sum_ns);
	sum->reqb_sum += get(&s->reqb_sum);
	sum->respb_sum += get(&s->respb_sum);
	for (i = 0; i <= METRICS_DUR_BUCKETS; i++)
		sum->dur[i] += get(&s->dur[i]);
	for (i = 0; i <= METRICS_BYTES_BUCKETS; i++) {
		sum->reqb[i] += get(&s->reqb[i]);
		sum->respb[i] += get(&s->respb[i]);
	}
}

/*
 * Prints a sum exactly, as an integer or (ns) as seconds with the
 * trailing zeros of the fraction dropped: "%g" would round a byte count
 * past 10^9 and a duration sum past 10^9 ns.
 */
static void
put_sum(struct evbuffer *out, uint64_t sum, int ns)
{
	char buf[48];
	size_t len;

	if (!ns) {
		evbuffer_add_printf(out, "%llu", (unsigned long long)sum);
		return;
	}
	snprintf(buf, sizeof(buf), "%llu.%09llu",
	    (unsigned long long)(sum / 1000000000ULL),
	    (unsigned long long)(sum % 1000000000ULL));
	for (len = strlen(buf); buf[len - 1] == '0'; len--)
		;
	if (buf[len - 1] == '.')
		len--;
	evbuffer_add(out, buf, len);
}

static void
put_histogram(struct evbuffer *out, const char *name,
    const struct metrics_req_key *k, const struct metrics_identity *id,
    const uint64_t *buckets, int nb, const char *const *bound_str,
    const uint64_t *bound_num, uint64_t sum, int sum_ns)
{
	uint64_t cum = 0;
	char le[32];
	int i;

	for (i = 0; i <= nb; i++) {
		cum += buckets[i];
		if (i == nb)
			strcpy(le, "+Inf");
		else if (bound_str != NULL)
			snprintf(le, sizeof(le), "%s", bound_str[i]);
		else
			snprintf(le, sizeof(le), "%llu",
			    (unsigned long long)bound_num[i]);
		evbuffer_add_printf(out, "%s_bucket{", name);
		put_req_labels(out, k, id);
		put_label(out, "le", le, 0);
		evbuffer_add_printf(out, "} %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_sum{", name);
	put_req_labels(out, k, id);
	evbuffer_add(out, "} ", 2);
	put_sum(out, sum, sum_ns);
	evbuffer_add(out, "\n", 1);
	evbuffer_add_printf(out, "%s_count{", name);
	put_req_labels(out, k, id);
	evbuffer_add_printf(out, "} %llu\n", (unsigned long long)cum);
}

static int
collect_req(struct metrics_shard *const *shards, int nshards,
    struct req_series ***arr, size_t *n)
{
	struct req_series *s, **a;
	size_t cap = 0, i = 0;
	int k;

	for (k = 0; k < nshards; k++)
		cap +=
		    __atomic_load_n(&shards[k]->req_n, __ATOMIC_ACQUIRE) + 64;
	if ((a = calloc(cap, sizeof(*a))) == NULL)
		return -1;
	for (k = 0; k < nshards; k++) {
		for (s = __atomic_load_n(
			 &shards[k]->req_first, __ATOMIC_ACQUIRE);
		     s != NULL && i < cap;
		     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE))
			a[i++] = s;
	}
	qsort(a, i, sizeof(*a), req_ptr_cmp);
	*arr = a;
	*n = i;
	return 0;
}

static int
collect_tcp(struct metrics_shard *const *shards, int nshards,
    struct tcp_series ***arr, size_t *n)
{
	struct tcp_series *s, **a;
	size_t cap = 0, i = 0;
	int k;

	for (k = 0; k < nshards; k++)
		cap +=
		    __atomic_load_n(&shards[k]->tcp_n, __ATOMIC_ACQUIRE) + 64;
	if ((a = calloc(cap, sizeof(*a))) == NULL)
		return -1;
	for (k = 0; k < nshards; k++) {
		for (s = __atomic_load_n(
			 &shards[k]->tcp_first, __ATOMIC_ACQUIRE);
		     s != NULL && i < cap;
		     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE))
			a[i++] = s;
	}
	qsort(a, i, sizeof(*a), tcp_ptr_cmp);
	*arr = a;
	*n = i;
	return 0;
}

static void
render_requests(struct evbuffer *out, struct req_series **a, size_t n,
    const struct metrics_identity *id)
{
	static const char *const names[] = {"weft_requests_total",
	    "weft_request_duration_seconds", "weft_request_bytes",
	    "weft_response_bytes"};
	static const char *const helps[] = {
	    "Requests handled, by the Istio standard labels.",
	    "Time from the first byte of a request to the last byte of its "
	    "response.",
	    "Size of request heads and bodies.",
	    "Size of response heads and bodies."};
	static const char *const types[] = {
	    "counter", "histogram", "histogram", "histogram"};
	struct req_sum sum;
	size_t i, j;
	int m;

	for (m = 0; m < 4; m++) {
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    names[m], helps[m], names[m], types[m]);
		for (i = 0; i < n; i = j) {
			memset(&sum, 0, sizeof(sum));
			for (j = i;
			     j < n && req_key_cmp(&a[i]->key, &a[j]->key) == 0;
			     j++)
				req_sum_add(&sum, a[j]);
			if (m == 0) {
				evbuffer_add_printf(out, "%s{", names[m]);
				put_req_labels(out, &a[i]->key, id);
				evbuffer_add_printf(out, "} %llu\n",
				    (unsigned long long)sum.count);
			} else if (m == 1) {
				put_histogram(out, names[m], &a[i]->key, id,
				    sum.dur, METRICS_DUR_BUCKETS,
				    dur_bounds_str, NULL, sum.dur_sum_ns, 1);
			} else {
				put_histogram(out, names[m], &a[i]->key, id,
				    m == 2 ? sum.reqb : sum.respb,
				    METRICS_BYTES_BUCKETS, NULL, bytes_bounds,
				    m == 2 ? sum.reqb_sum : sum.respb_sum, 0);
			}
		}
	}
}

static void
render_tcp(struct evbuffer *out, struct tcp_series **a, size_t n,
    const struct metrics_identity *id)
{
	static const char *const names[] = {"weft_tcp_connections_opened_total",
	    "weft_tcp_connections_closed_total", "weft_tcp_sent_bytes_total",
	    "weft_tcp_received_bytes_total"};
	static const char *const helps[] = {"TCP connections opened.",
	    "TCP connections closed.", "Bytes sent to the downstream peer.",
	    "Bytes received from the downstream peer."};
	struct peer_names pn;
	uint64_t v;
	size_t i, j;
	int m;

	for (m = 0; m < 4; m++) {
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n",
		    names[m], helps[m], names[m]);
		for (i = 0; i < n; i = j) {
			v = 0;
			for (j = i;
			     j < n && tcp_key_cmp(&a[i]->key, &a[j]->key) == 0;
			     j++) {
				const struct tcp_series *s = a[j];

				v += get(m == 0  ? &s->opened
					: m == 1 ? &s->closed
					: m == 2 ? &s->sent
						 : &s->received);
			}
			pn.workload = a[i]->key.peer_workload;
			pn.namespace = a[i]->key.peer_namespace;
			pn.version = NULL;
			evbuffer_add_printf(out, "%s{", names[m]);
			put_peer_labels(out, a[i]->key.direction,
			    a[i]->key.service, a[i]->key.http, a[i]->key.mtls,
			    a[i]->key.peer, &pn, id);
			evbuffer_add_printf(
			    out, "} %llu\n", (unsigned long long)v);
		}
	}
}

int
metrics_render(struct evbuffer *out, struct metrics_shard *const *shards,
    int nshards, const struct metrics_identity *id,
    const struct metrics_globals *g)
{
	struct req_series **ra = NULL;
	struct tcp_series **ta = NULL;
	size_t rn = 0, tn = 0;
	uint64_t v;
	int i, k;

	if (collect_req(shards, nshards, &ra, &rn) == -1 ||
	    collect_tcp(shards, nshards, &ta, &tn) == -1) {
		free(ra);
		return -1;
	}
	render_requests(out, ra, rn, id);
	render_tcp(out, ta, tn, id);
	free(ra);
	free(ta);

	evbuffer_add_printf(out,
	    "# HELP weft_denied_total Requests and connections refused, by "
	    "reason.\n# TYPE weft_denied_total counter\n");
	for (i = 0; i < METRICS_DENY_COUNT; i++) {
		for (v = 0, k = 0; k < nshards; k++)
			v += get(&shards[k]->denied[i]);
		if (i == METRICS_DENY_L4 && g->l4 != NULL)
			v += get(&g->l4[METRICS_L4_DENY]);
		evbuffer_add_printf(out,
		    "weft_denied_total{reason=\"%s\"} %llu\n", deny_names[i],
		    (unsigned long long)v);
	}
	if (g->l4 != NULL)
		evbuffer_add_printf(out,
		    "# HELP weft_l4_verdicts_total Verdicts on new flows of "
		    "the "
		    "L4 queue (UDP, uncaptured TCP).\n"
		    "# TYPE weft_l4_verdicts_total counter\n"
		    "weft_l4_verdicts_total{verdict=\"accept\"} %llu\n"
		    "weft_l4_verdicts_total{verdict=\"drop\"} %llu\n"
		    "# HELP weft_l4_malformed_packets_total Queued packets "
		    "dropped as unreadable (not a whole UDP or TCP header).\n"
		    "# TYPE weft_l4_malformed_packets_total counter\n"
		    "weft_l4_malformed_packets_total %llu\n",
		    (unsigned long long)get(&g->l4[METRICS_L4_ACCEPT]),
		    (unsigned long long)(get(&g->l4[METRICS_L4_DENY]) +
			get(&g->l4[METRICS_L4_MALFORMED])),
		    (unsigned long long)get(&g->l4[METRICS_L4_MALFORMED]));
	for (v = 0, k = 0; k < nshards; k++)
		v += get(&shards[k]->overflow);
	evbuffer_add_printf(out,
	    "# HELP weft_metrics_overflow_total Observations folded into the "
	    "overflow series past the series limit.\n"
	    "# TYPE weft_metrics_overflow_total counter\n"
	    "weft_metrics_overflow_total %llu\n",
	    (unsigned long long)v);
	evbuffer_add_printf(out,
	    "# HELP weft_config_version Policy DB version of the snapshot in "
	    "use.\n# TYPE weft_config_version gauge\nweft_config_version "
	    "%lld\n",
	    (long long)g->config_version);
	evbuffer_add_printf(out,
	    "# HELP weft_config_reloads_total Policy snapshot builds, by "
	    "result.\n# TYPE weft_config_reloads_total counter\n"
	    "weft_config_reloads_total{result=\"success\"} %llu\n"
	    "weft_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)g->reloads_ok,
	    (unsigned long long)g->reloads_failed);
	evbuffer_add_printf(out,
	    "# HELP weft_config_last_reload_timestamp_seconds When the policy "
	    "snapshot was last built.\n"
	    "# TYPE weft_config_last_reload_timestamp_seconds gauge\n"
	    "weft_config_last_reload_timestamp_seconds %.3f\n",
	    g->last_reload);
	evbuffer_add_printf(out,
	    "# HELP weft_cert_expiry_timestamp_seconds Expiry of the workload "
	    "certificate in use.\n"
	    "# TYPE weft_cert_expiry_timestamp_seconds gauge\n");
	if (g->cert_expiry > 0)
		evbuffer_add_printf(out,
		    "weft_cert_expiry_timestamp_seconds %.0f\n",
		    g->cert_expiry);
	evbuffer_add_printf(out,
	    "# HELP weft_connections_active Downstream connections open now.\n"
	    "# TYPE weft_connections_active gauge\n"
	    "weft_connections_active %llu\n"
	    "# HELP weft_tap_events_dropped_total Tap events lost: queues "
	    "full, or tap clients too slow.\n"
	    "# TYPE weft_tap_events_dropped_total counter\n"
	    "weft_tap_events_dropped_total %llu\n"
	    "# HELP weft_start_time_seconds When the proxy started.\n"
	    "# TYPE weft_start_time_seconds gauge\n"
	    "weft_start_time_seconds %.3f\n",
	    (unsigned long long)g->connections_active,
	    (unsigned long long)g->tap_dropped, g->start_time);
	return 0;
}
