/*
 * Building a snapshot from the policy DB rows: JSON columns (Istio field
 * names) parsed with jansson, hosts and selectors resolved, clusters
 * deduplicated per (service, subset, port), regexes compiled once, and
 * the indexes of snapshot.c filled. Runs on the main thread, off the
 * request path; any invalid JSON or regex fails the whole build.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "snapshot_build.h"
#include "snapshot_rows.h"
#include "xmalloc.h"

struct sb_label {
	const char *key;
	const char *value;
};

/* A workload as the build sees it. */
struct sb_wl {
	const struct sb_workload *row;
	struct sb_label *labels;
	size_t nlabels;
	json_t *ports;
	int family; /* 0: not an IP literal, never an endpoint */
	uint8_t ip[16];
};

struct sb_subsetref {
	const struct sb_subset *row;
	json_t *labels;
	json_t *policy;
};

struct sb_drx {
	const struct sb_dr *row;
	json_t *policy;
	struct sb_subsetref *subsets;
	size_t nsubsets;
};

/* A service as the build sees it. */
struct sb_svc {
	const struct sb_service *row;
	struct snap_service *svc;
	size_t index; /* in s->services */
	const char **hosts;
	size_t nhosts, caphosts;
	const struct sb_port **ports;
	size_t nports, capports;
	const char **addresses;
	size_t naddresses, capaddresses;
	size_t *members; /* workload indexes, by workload id */
	size_t nmembers, capmembers;
	struct sb_drx *dr;
};

struct sb_ctx {
	struct snap_parse p; /* the snapshot built, JSON, error */
	struct snapshot_builder *b;
	struct snapshot *tmp; /* build-only memory and indexes */
	struct sb_svc *svcs;  /* sorted by id */
	size_t nsvcs;
	struct sb_svc **by_index; /* by snap_service id */
	struct sb_wl *wls;
	size_t nwls;
	struct sb_drx *drs;
	size_t ndrs;
	struct snap_hostidx dr_idx;
	struct snap_htab ep_tab;      /* (workload, port) -> endpoint */
	struct snap_htab cluster_tab; /* (service, port, subset) -> cluster */
	struct snap_htab label_tab;   /* ns, key, value -> struct sb_list */
	struct sb_list **lists;
	size_t nlists, caplists;
	size_t *ep_wl; /* endpoint id -> workload index */
	size_t capeps;
	size_t capclusters;
	size_t capcidrs;
};

struct sb_list {
	size_t *v;
	size_t n, cap;
};

/* -- JSON helpers -- */

/* -- string matches -- */

/* -- header operations -- */

/* -- traffic policy -- */

/* -- services, workloads, endpoints, clusters -- */

/* qsort, for any count (qsort's base must not be NULL). */
static void
sb_sort(
    void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int
sb_cmp_id(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int
sb_svc_by_id(const void *a, const void *b)
{
	return sb_cmp_id(((const struct sb_svc *)a)->row->id,
	    ((const struct sb_svc *)b)->row->id);
}

static struct sb_svc *
sb_find_svc(struct sb_ctx *c, int64_t id)
{
	size_t lo = 0, hi = c->nsvcs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->svcs[mid].row->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nsvcs && c->svcs[lo].row->id == id ? &c->svcs[lo] : NULL;
}

static int
sb_nsname(
    const char *ans, const char *aname, const char *bns, const char *bname)
{
	int r = strcmp(ans, bns);

	return r != 0 ? r : strcmp(aname, bname);
}

/*
 * Services in the order in which they claim hosts and addresses (the
 * first claim wins): those weft-server discovered from Kubernetes
 * (named "kubernetes/NAME", a name no applied resource can have) first,
 * as in Istio, where a Kubernetes Service takes precedence over a
 * ServiceEntry of the same host; then by namespace and name.
 */
static int
sb_svcp_by_name(const void *a, const void *b)
{
	const struct sb_svc *x = *(struct sb_svc *const *)a;
	const struct sb_svc *y = *(struct sb_svc *const *)b;
	int kx = strncmp(x->row->name, "kubernetes/", 11) == 0;
	int ky = strncmp(y->row->name, "kubernetes/", 11) == 0;

	if (kx != ky)
		return ky - kx;
	return sb_nsname(
	    x->row->namespace, x->row->name, y->row->namespace, y->row->name);
}

static const char *
sb_label(const struct sb_wl *w, const char *key)
{
	size_t i;

	for (i = 0; i < w->nlabels; i++) {
		if (strcmp(w->labels[i].key, key) == 0)
			return w->labels[i].value;
	}
	return NULL;
}

/* True when every label of sel (a JSON object) is on w. */
static int
sb_labels_match(const struct sb_wl *w, json_t *sel)
{
	const char *key, *have;
	json_t *val;

	json_object_foreach(sel, key, val)
	{
		if (!json_is_string(val) || (have = sb_label(w, key)) == NULL ||
		    strcmp(have, json_string_value(val)) != 0)
			return 0;
	}
	return 1;
}

static struct sb_list *
sb_list_get(struct sb_ctx *c, const char *key, size_t len, int create)
{
	struct sb_list *l;

	if ((l = snap_htab_get(&c->label_tab, key, len)) != NULL || !create)
		return l;
	l = xcalloc(1, sizeof(*l));
	SNAP_PUSH(c->lists, c->nlists, c->caplists);
	c->lists[c->nlists++] = l;
	snap_htab_put(c->tmp, &c->label_tab, key, len, l, 0);
	return l;
}

static void
sb_list_add(struct sb_list *l, size_t v)
{
	SNAP_PUSH(l->v, l->n, l->cap);
	l->v[l->n++] = v;
}

/* "ns" 0x01 key 0x01 value, or just "ns" for the namespace list. */
static size_t
sb_label_key(char **out, const char *ns, const char *key, const char *value)
{
	int n;

	if (key == NULL)
		n = xasprintf(out, "%s", ns);
	else
		n = xasprintf(out, "%s\x01%s\x01%s", ns, key, value);
	return (size_t)n;
}

/*
 * Indexes a workload with a sidecar by its address, for the outbound
 * side to know whom it talks to (mTLS and the identity to expect).
 */
static void
sb_peer_add(struct sb_ctx *c, const struct sb_wl *w)
{
	struct snapshot *s = c->p.s;
	struct snap_peer *p;
	uint8_t key[SNAP_ADDRKEY_LEN];
	const char *mode;

	if (w->family == 0)
		return;
	mode = sb_label(w, "security.istio.io/tlsMode");
	if (strcmp(w->row->source, "registered") != 0 &&
	    (mode == NULL || strcmp(mode, "istio") != 0))
		return;
	p = snap_alloc(s, sizeof(*p));
	p->name = snap_strdup(s, w->row->name);
	p->namespace = snap_strdup(s, w->row->namespace);
	p->service_account = snap_strdup(s, w->row->service_account);
	snap_addrkey(key, w->family, w->ip, 0);
	snap_htab_put(s, &s->peers, (char *)key, sizeof(key), p, 0);
}

/*
 * Indexes every workload by its address, sidecar or not, for the L4
 * policy to know a source by its address (the first workload of an
 * address wins).
 */
static void
sb_ident_add(struct sb_ctx *c, const struct sb_wl *w)
{
	struct snapshot *s = c->p.s;
	struct snap_peer *p;
	uint8_t key[SNAP_ADDRKEY_LEN];

	if (w->family == 0 || w->row->service_account == NULL ||
	    w->row->service_account[0] == '\0')
		return;
	snap_addrkey(key, w->family, w->ip, 0);
	if (snap_htab_get(&s->idents, (char *)key, sizeof(key)) != NULL)
		return;
	p = snap_alloc(s, sizeof(*p));
	p->name = snap_strdup(s, w->row->name);
	p->namespace = snap_strdup(s, w->row->namespace);
	p->service_account = snap_strdup(s, w->row->service_account);
	snap_htab_put(s, &s->idents, (char *)key, sizeof(key), p, 0);
}

static int
sb_workloads(struct sb_ctx *c)
{
	struct snapshot_builder *b = c->b;
	struct in6_addr a6;
	struct in_addr a4;
	const char *key;
	json_t *labels, *val;
	char *k;
	size_t i, j, n;

	c->nwls = b->nworkloads;
	c->wls = xcalloc(c->nwls + 1, sizeof(*c->wls));
	for (i = 0; i < c->nwls; i++) {
		struct sb_wl *w = &c->wls[i];

		w->row = &b->workloads[i];
		sp_what(&c->p, "workload", w->row->namespace, w->row->name);
		if ((labels = sp_json(&c->p, w->row->labels, JSON_OBJECT,
			 "labels")) == NULL ||
		    (w->ports = sp_json(
			 &c->p, w->row->ports, JSON_OBJECT, "ports")) == NULL)
			return -1;
		w->labels = snap_alloc(c->tmp,
		    (json_object_size(labels) + 1) * sizeof(*w->labels));
		json_object_foreach(labels, key, val)
		{
			if (!json_is_string(val))
				return sp_fail(
				    &c->p, "labels.%s: not a string", key);
			w->labels[w->nlabels].key = key;
			w->labels[w->nlabels++].value = json_string_value(val);
		}
		if (inet_pton(AF_INET, w->row->address, &a4) == 1) {
			w->family = AF_INET;
			memcpy(w->ip, &a4, 4);
		} else if (inet_pton(AF_INET6, w->row->address, &a6) == 1) {
			w->family = AF_INET6;
			memcpy(w->ip, &a6, 16);
		}
		sb_peer_add(c, w);
		sb_ident_add(c, w);
		if (w->row->service_id != 0) {
			struct sb_svc *sv = sb_find_svc(c, w->row->service_id);

			if (sv != NULL) {
				SNAP_PUSH(
				    sv->members, sv->nmembers, sv->capmembers);
				sv->members[sv->nmembers++] = i;
			}
			continue;
		}
		/* Index by namespace and by each label, for selectors. */
		n = sb_label_key(&k, w->row->namespace, NULL, NULL);
		sb_list_add(sb_list_get(c, k, n, 1), i);
		free(k);
		for (j = 0; j < w->nlabels; j++) {
			n = sb_label_key(&k, w->row->namespace,
			    w->labels[j].key, w->labels[j].value);
			sb_list_add(sb_list_get(c, k, n, 1), i);
			free(k);
		}
	}
	sp_what(&c->p, NULL, NULL, NULL);
	return 0;
}

static int
sb_member_cmp(const void *a, const void *b, void *arg)
{
	const struct sb_ctx *c = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return sb_cmp_id(c->wls[x].row->id, c->wls[y].row->id);
}

/* The workloads a service selects, added to its inline endpoints. */
static int
sb_select(struct sb_ctx *c, struct sb_svc *sv)
{
	struct sb_list *l;
	const char *key;
	json_t *sel, *val;
	size_t i, n;
	char *k;

	if (sv->row->selector != NULL) {
		if ((sel = sp_json(&c->p, sv->row->selector, JSON_OBJECT,
			 "workloadSelector")) == NULL)
			return -1;
		key = NULL;
		val = NULL;
		/* Candidates: the smallest single-label list would do; the
		 * first label's is good enough and keeps this simple. */
		json_object_foreach(sel, key, val)
		{
			break;
		}
		if (key != NULL && !json_is_string(val))
			return sp_fail(
			    &c->p, "workloadSelector.%s: not a string", key);
		n = sb_label_key(&k, sv->row->namespace, key,
		    key != NULL ? json_string_value(val) : NULL);
		l = sb_list_get(c, k, n, 0);
		free(k);
		for (i = 0; l != NULL && i < l->n; i++) {
			if (!sb_labels_match(&c->wls[l->v[i]], sel))
				continue;
			SNAP_PUSH(sv->members, sv->nmembers, sv->capmembers);
			sv->members[sv->nmembers++] = l->v[i];
		}
	}
	if (sv->nmembers > 1)
		qsort_r(sv->members, sv->nmembers, sizeof(*sv->members),
		    sb_member_cmp, c);
	return 0;
}

/* The port a workload serves a service port on (Istio's order). */
static int
sb_endpoint_port(const struct sb_wl *w, const struct sb_port *p)
{
	json_t *v;

	if (p->name[0] != '\0' &&
	    (v = json_object_get(w->ports, p->name)) != NULL &&
	    json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 65535)
		return (int)json_integer_value(v);
	if (p->target_port > 0)
		return p->target_port;
	return p->number;
}

static struct snap_endpoint *
sb_endpoint(struct sb_ctx *c, size_t wi, int port)
{
	struct snapshot *s = c->p.s;
	const struct sb_wl *w = &c->wls[wi];
	struct snap_endpoint *ep;
	uint8_t key[sizeof(size_t) + 2];
	const char *version;

	memcpy(key, &wi, sizeof(wi));
	key[sizeof(wi)] = (uint8_t)(port >> 8);
	key[sizeof(wi) + 1] = (uint8_t)port;
	if ((ep = snap_htab_get(&c->ep_tab, (char *)key, sizeof(key))) != NULL)
		return ep;
	ep = snap_alloc(s, sizeof(*ep));
	ep->id = (unsigned int)s->nendpoints;
	ep->workload = snap_strdup(s, w->row->name);
	ep->namespace = snap_strdup(s, w->row->namespace);
	ep->locality = snap_strdup(s, w->row->locality);
	if (w->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ep->addr;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, w->ip, 4);
		sin->sin_port = htons((uint16_t)port);
		ep->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ep->addr;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, w->ip, 16);
		sin6->sin6_port = htons((uint16_t)port);
		ep->addrlen = sizeof(*sin6);
	}
	ep->weight = w->row->weight > 0
	    ? (w->row->weight > UINT32_MAX ? UINT32_MAX
					   : (uint32_t)w->row->weight)
	    : 1;
	ep->healthy = w->row->healthy != 0;
	ep->service_account = snap_strdup(s, w->row->service_account);
	ep->sidecar = strcmp(w->row->source, "registered") == 0 ||
	    ((version = sb_label(w, "security.istio.io/tlsMode")) != NULL &&
		strcmp(version, "istio") == 0);
	version = sb_label(w, "version");
	ep->version = snap_strdup(s, version != NULL ? version : "unknown");
	if (s->nendpoints == c->capeps) {
		SNAP_PUSH(s->endpoints, s->nendpoints, c->capeps);
		c->ep_wl =
		    snap_xreallocarray(c->ep_wl, c->capeps, sizeof(*c->ep_wl));
	}
	c->ep_wl[s->nendpoints] = wi;
	s->endpoints[s->nendpoints++] = ep;
	snap_htab_put(c->tmp, &c->ep_tab, (char *)key, sizeof(key), ep, 0);
	return ep;
}

static int
sb_ep_by_id(const void *a, const void *b)
{
	const struct snap_endpoint *x = *(struct snap_endpoint *const *)a;
	const struct snap_endpoint *y = *(struct snap_endpoint *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
sb_ring_cmp(const void *a, const void *b)
{
	const struct snap_ring_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * A ring hash over the cluster's endpoints, Envoy-style: each endpoint
 * gets points in proportion to its weight, at least `min` in all, and
 * each point is the hash of "<address>_<i>", so that the ring depends
 * only on the endpoints (the same in every worker and every restart).
 */
static void
sb_ring(struct sb_ctx *c, struct snap_cluster *cl, size_t min)
{
	char addr[INET6_ADDRSTRLEN + 16], buf[INET6_ADDRSTRLEN + 40];
	uint64_t total = 0;
	size_t i, r, n = 0, per;
	int len;

	if (cl->nendpoints == 0)
		return;
	for (i = 0; i < cl->nendpoints; i++)
		total += cl->endpoints[i]->weight;
	for (i = 0; i < cl->nendpoints; i++) {
		per = (size_t)((min * cl->endpoints[i]->weight + total - 1) /
		    total);
		n += per > 0 ? per : 1;
	}
	cl->ring = snap_alloc(c->p.s, n * sizeof(*cl->ring));
	for (i = 0; i < cl->nendpoints; i++) {
		const struct snap_endpoint *ep = cl->endpoints[i];

		if (ep->addr.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((const struct sockaddr_in *)&ep->addr)->sin_addr,
			    addr, sizeof(addr));
		else
			inet_ntop(AF_INET6,
			    &((const struct sockaddr_in6 *)&ep->addr)
				 ->sin6_addr,
			    addr, sizeof(addr));
		per = (size_t)((min * ep->weight + total - 1) / total);
		if (per == 0)
			per = 1;
		for (r = 0; r < per; r++) {
			len = snprintf(buf, sizeof(buf), "%s:%u_%zu", addr,
			    ntohs(((const struct sockaddr_in *)&ep->addr)
				      ->sin_port),
			    r);
			cl->ring[cl->nring].hash = snap_hash(buf, (size_t)len);
			cl->ring[cl->nring++].index = (unsigned int)i;
		}
	}
	sb_sort(cl->ring, cl->nring, sizeof(*cl->ring), sb_ring_cmp);
}

static const struct sb_subsetref *
sb_find_subset(const struct sb_drx *dr, const char *name)
{
	size_t i;

	for (i = 0; dr != NULL && i < dr->nsubsets; i++) {
		if (strcmp(dr->subsets[i].row->name, name) == 0)
			return &dr->subsets[i];
	}
	return NULL;
}

/*
 * The cluster of (service, subset, port), created on first use. port 0
 * is the service's first port. NULL when the service has no such port
 * or no such subset; -1 in *err on a policy error.
 */
static struct snap_cluster *
sb_cluster(
    struct sb_ctx *c, struct sb_svc *sv, const char *subset, int port, int *err)
{
	struct snapshot *s = c->p.s;
	const struct sb_subsetref *ss = NULL;
	struct snap_cluster *cl, *base;
	struct snap_comps comps;
	const struct sb_port *sp = NULL;
	const char *pns, *pname;
	size_t i, n, ring;
	char *key, *what;
	int rc;

	*err = 0;
	for (i = 0; i < sv->nports; i++) {
		if (port == 0 || sv->ports[i]->number == port) {
			sp = sv->ports[i];
			break;
		}
	}
	if (sp == NULL)
		return NULL;
	if (subset != NULL && (ss = sb_find_subset(sv->dr, subset)) == NULL)
		return NULL;
	n = (size_t)xasprintf(&key, "%zu|%d|%s", sv->index, sp->number,
	    subset != NULL ? subset : "\x01");
	cl = snap_htab_get(&c->cluster_tab, key, n);
	if (cl != NULL) {
		free(key);
		return cl;
	}
	base = NULL;
	if (subset != NULL &&
	    (base = sb_cluster(c, sv, NULL, sp->number, err)) == NULL) {
		free(key);
		return NULL;
	}
	cl = snap_alloc(s, sizeof(*cl));
	cl->id = (unsigned int)s->nclusters;
	SNAP_PUSH(s->clusters, s->nclusters, c->capclusters);
	s->clusters[s->nclusters++] = cl;
	snap_htab_put(c->tmp, &c->cluster_tab, key, n, cl, 0);
	free(key);
	xasprintf(&key, "outbound|%d|%s|%s", sp->number,
	    subset != NULL ? subset : "", sv->nhosts > 0 ? sv->hosts[0] : "");
	cl->name = snap_strdup(s, key);
	free(key);
	cl->service = sv->svc;
	cl->subset = snap_strdup(s, subset);
	cl->port = sp->number;
	if (base == NULL) {
		cl->endpoints =
		    snap_alloc(s, (sv->nmembers + 1) * sizeof(*cl->endpoints));
		for (i = 0; i < sv->nmembers; i++) {
			if (c->wls[sv->members[i]].family == 0)
				continue;
			cl->endpoints[cl->nendpoints++] =
			    sb_endpoint(c, sv->members[i],
				sb_endpoint_port(&c->wls[sv->members[i]], sp));
		}
	} else {
		cl->endpoints = snap_alloc(
		    s, (base->nendpoints + 1) * sizeof(*cl->endpoints));
		for (i = 0; i < base->nendpoints; i++) {
			const struct sb_wl *w =
			    &c->wls[c->ep_wl[base->endpoints[i]->id]];

			if (sb_labels_match(w, ss->labels))
				cl->endpoints[cl->nendpoints++] =
				    base->endpoints[i];
		}
	}
	if (cl->nendpoints > 1)
		sb_sort(cl->endpoints, cl->nendpoints, sizeof(*cl->endpoints),
		    sb_ep_by_id);

	memset(&comps, 0, sizeof(comps));
	pns = sv->dr != NULL ? sv->dr->row->namespace : "";
	pname = sv->dr != NULL ? sv->dr->row->name : "";
	xasprintf(&what, "destination rule %s/%s: trafficPolicy", pns, pname);
	rc = sp_policy_apply(&c->p, sv->dr != NULL ? sv->dr->policy : NULL,
	    sp->number, &comps, what);
	free(what);
	if (rc == 0 && ss != NULL) {
		xasprintf(&what,
		    "destination rule %s/%s: subsets.%s.trafficPolicy", pns,
		    pname, subset);
		rc = sp_policy_apply(
		    &c->p, ss->policy, sp->number, &comps, what);
		free(what);
	}
	if (rc == 0) {
		xasprintf(
		    &what, "destination rule %s/%s: trafficPolicy", pns, pname);
		rc = sp_policy_parse(&c->p, &comps, &cl->policy, &ring, what);
		free(what);
	}
	if (rc == -1) {
		*err = -1;
		return NULL;
	}
	if (cl->policy.lb == SNAP_LB_HASH_HEADER ||
	    cl->policy.lb == SNAP_LB_HASH_SOURCE_IP)
		sb_ring(c, cl, ring);
	return cl;
}

static enum snap_resolution
sb_resolution(const char *r)
{
	if (r == NULL)
		return SNAP_RES_STATIC;
	if (strcmp(r, "NONE") == 0)
		return SNAP_RES_NONE;
	if (strcmp(r, "DNS") == 0)
		return SNAP_RES_DNS;
	if (strcmp(r, "DNS_ROUND_ROBIN") == 0)
		return SNAP_RES_DNS_ROUND_ROBIN;
	return SNAP_RES_STATIC;
}

static int
sb_cidr_cmp(const void *a, const void *b)
{
	const struct snap_cidr *x = a, *y = b;

	return y->prefix - x->prefix;
}

/* Registers one service address (an IP or a CIDR) on every port. */
static int
sb_address(struct sb_ctx *c, struct sb_svc *sv, const char *text)
{
	struct snapshot *s = c->p.s;
	uint8_t ip[16], key[SNAP_ADDRKEY_LEN];
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	int family, prefix, max;
	long v;
	size_t i;

	if (strlen(text) >= sizeof(buf))
		return sp_fail(&c->p, "address %s: not an IP or CIDR", text);
	snprintf(buf, sizeof(buf), "%s", text);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, ip) == 1) {
		family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, ip) == 1) {
		family = AF_INET6;
		max = 128;
	} else
		return sp_fail(&c->p, "address %s: not an IP or CIDR", text);
	prefix = max;
	if (slash != NULL) {
		v = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || v < 0 || v > max)
			return sp_fail(
			    &c->p, "address %s: bad prefix length", text);
		prefix = (int)v;
	}
	for (i = 0; i < sv->nports; i++) {
		int port = sv->ports[i]->number;

		if (prefix == max) {
			snap_addrkey(key, family, ip, port);
			snap_htab_put(
			    s, &s->addrs, (char *)key, sizeof(key), sv->svc, 0);
			continue;
		}
		SNAP_PUSH(s->cidrs, s->ncidrs, c->capcidrs);
		memset(&s->cidrs[s->ncidrs], 0, sizeof(s->cidrs[0]));
		s->cidrs[s->ncidrs].family = family;
		memcpy(
		    s->cidrs[s->ncidrs].addr, ip, family == AF_INET ? 4 : 16);
		s->cidrs[s->ncidrs].prefix = prefix;
		s->cidrs[s->ncidrs].port = port;
		s->cidrs[s->ncidrs++].svc = sv->svc;
	}
	return 0;
}

static int
sb_services(struct sb_ctx *c)
{
	struct snapshot_builder *b = c->b;
	struct snapshot *s = c->p.s;
	struct sb_svc **order;
	size_t i, j;

	c->nsvcs = b->nservices;
	c->svcs = xcalloc(c->nsvcs + 1, sizeof(*c->svcs));
	for (i = 0; i < c->nsvcs; i++)
		c->svcs[i].row = &b->services[i];
	sb_sort(c->svcs, c->nsvcs, sizeof(*c->svcs), sb_svc_by_id);
	for (i = 0; i < b->nhosts; i++) {
		struct sb_svc *sv = sb_find_svc(c, b->hosts[i].service_id);

		if (sv == NULL)
			continue;
		SNAP_PUSH(sv->hosts, sv->nhosts, sv->caphosts);
		sv->hosts[sv->nhosts++] = b->hosts[i].value;
	}
	for (i = 0; i < b->nports; i++) {
		struct sb_svc *sv = sb_find_svc(c, b->ports[i].service_id);

		if (sv == NULL)
			continue;
		SNAP_PUSH(sv->ports, sv->nports, sv->capports);
		sv->ports[sv->nports++] = &b->ports[i];
	}

	/* Services in (namespace, name) order: the first claim wins. */
	for (i = 0; i < b->naddresses; i++) {
		struct sb_svc *sv = sb_find_svc(c, b->addresses[i].service_id);

		if (sv == NULL)
			continue;
		SNAP_PUSH(sv->addresses, sv->naddresses, sv->capaddresses);
		sv->addresses[sv->naddresses++] = b->addresses[i].value;
	}
	order = xcalloc(c->nsvcs + 1, sizeof(*order));
	c->by_index = xcalloc(c->nsvcs + 1, sizeof(*c->by_index));
	for (i = 0; i < c->nsvcs; i++)
		order[i] = &c->svcs[i];
	sb_sort(order, c->nsvcs, sizeof(*order), sb_svcp_by_name);
	s->services = snap_alloc(s, (c->nsvcs + 1) * sizeof(*s->services));
	for (i = 0; i < c->nsvcs; i++) {
		struct sb_svc *sv = order[i];
		struct snap_service *svc = snap_alloc(s, sizeof(*svc));

		sv->svc = svc;
		sv->index = i;
		c->by_index[i] = sv;
		svc->id = (unsigned int)i;
		s->services[s->nservices++] = svc;
		svc->namespace = snap_strdup(s, sv->row->namespace);
		svc->name = snap_strdup(s, sv->row->name);
		svc->resolution = sb_resolution(sv->row->resolution);
		svc->mesh_external = sv->row->location != NULL &&
		    strcmp(sv->row->location, "MESH_EXTERNAL") == 0;
		svc->hosts = snap_alloc(s, (sv->nhosts + 1) * sizeof(char *));
		for (j = 0; j < sv->nhosts; j++) {
			svc->hosts[svc->nhosts++] =
			    snap_strdup(s, sv->hosts[j]);
			snap_hostidx_add(s, &s->service_idx, sv->hosts[j],
			    sv->row->namespace, svc);
		}
		svc->ports = snap_alloc(s, (sv->nports + 1) * sizeof(int));
		svc->portdefs =
		    snap_alloc(s, (sv->nports + 1) * sizeof(*svc->portdefs));
		for (j = 0; j < sv->nports; j++) {
			struct snap_port *p = &svc->portdefs[j];

			svc->ports[j] = sv->ports[j]->number;
			p->number = sv->ports[j]->number;
			p->name = snap_strdup(s, sv->ports[j]->name);
			p->protocol = sp_upper(s, sv->ports[j]->protocol);
			p->target_port = sv->ports[j]->target_port;
		}
		svc->nports = sv->nports;
	}
	/* Addresses in service order too: the first claim wins. */
	for (i = 0; i < c->nsvcs; i++) {
		struct sb_svc *sv = order[i];

		sp_what(
		    &c->p, "service entry", sv->row->namespace, sv->row->name);
		for (j = 0; j < sv->naddresses; j++) {
			if (sb_address(c, sv, sv->addresses[j]) == -1) {
				free(order);
				return -1;
			}
		}
	}
	free(order);
	if (s->ncidrs > 1)
		sb_sort(s->cidrs, s->ncidrs, sizeof(*s->cidrs), sb_cidr_cmp);
	sp_what(&c->p, NULL, NULL, NULL);
	return 0;
}

static int
sb_dr_by_name(const void *a, const void *b)
{
	const struct sb_drx *x = a, *y = b;

	return sb_nsname(
	    x->row->namespace, x->row->name, y->row->namespace, y->row->name);
}

static int
sb_destination_rules(struct sb_ctx *c)
{
	struct snapshot_builder *b = c->b;
	size_t i, j;

	c->ndrs = b->ndrs;
	c->drs = xcalloc(c->ndrs + 1, sizeof(*c->drs));
	for (i = 0; i < c->ndrs; i++)
		c->drs[i].row = &b->drs[i];
	sb_sort(c->drs, c->ndrs, sizeof(*c->drs), sb_dr_by_name);
	for (i = 0; i < c->ndrs; i++) {
		struct sb_drx *dr = &c->drs[i];

		sp_what(&c->p, "destination rule", dr->row->namespace,
		    dr->row->name);
		if ((dr->policy = sp_json(&c->p, dr->row->traffic_policy,
			 JSON_OBJECT, "trafficPolicy")) == NULL)
			return -1;
		dr->subsets = snap_alloc(
		    c->tmp, (b->nsubsets + 1) * sizeof(*dr->subsets));
		for (j = 0; j < b->nsubsets; j++) {
			struct sb_subsetref *ss;

			if (b->subsets[j].dr_id != dr->row->id)
				continue;
			ss = &dr->subsets[dr->nsubsets++];
			ss->row = &b->subsets[j];
			if ((ss->labels = sp_json(&c->p, ss->row->labels,
				 JSON_OBJECT, "subsets.labels")) == NULL ||
			    (ss->policy = sp_json(&c->p,
				 ss->row->traffic_policy, JSON_OBJECT,
				 "subsets.trafficPolicy")) == NULL)
				return -1;
		}
		snap_hostidx_add(
		    c->tmp, &c->dr_idx, dr->row->host, dr->row->namespace, dr);
	}
	sp_what(&c->p, NULL, NULL, NULL);
	/* Each service takes the rule of its first host that has one. */
	for (i = 0; i < c->nsvcs; i++) {
		struct sb_svc *sv = &c->svcs[i];

		for (j = 0; j < sv->nhosts && sv->dr == NULL; j++)
			sv->dr = snap_hostidx_resolve(
			    &c->dr_idx, sv->hosts[j], sv->row->namespace);
	}
	return 0;
}

static int
sb_default_clusters(struct sb_ctx *c)
{
	size_t i, j;
	int err;

	for (i = 0; i < c->nsvcs; i++) {
		struct sb_svc *sv = &c->svcs[i];

		if (sb_select(c, sv) == -1)
			return -1;
		for (j = 0; j < sv->nports; j++) {
			sv->svc->portdefs[j].cluster =
			    sb_cluster(c, sv, NULL, sv->ports[j]->number, &err);
			if (err == -1)
				return -1;
		}
	}
	return 0;
}

/* The service a referred-to host names, from namespace ns. */
static struct sb_svc *
sb_resolve_svc(struct sb_ctx *c, const char *host, const char *ns)
{
	struct snap_service *svc =
	    snap_hostidx_resolve(&c->p.s->service_idx, host, ns);

	return svc != NULL ? c->by_index[svc->id] : NULL;
}

/* -- virtual services and routes -- */

static int
sb_vs_by_name(const void *a, const void *b)
{
	const struct sb_vs *x = *(const struct sb_vs *const *)a;
	const struct sb_vs *y = *(const struct sb_vs *const *)b;

	return sb_nsname(x->namespace, x->name, y->namespace, y->name);
}

static int
sb_route_by_pos(const void *a, const void *b)
{
	const struct sb_route *x = a, *y = b;

	if (x->vs_id != y->vs_id)
		return sb_cmp_id(x->vs_id, y->vs_id);
	return x->position - y->position;
}

static int
sb_dest_by_pos(const void *a, const void *b)
{
	const struct sb_dest *x = a, *y = b;

	if (x->route_id != y->route_id)
		return sb_cmp_id(x->route_id, y->route_id);
	return x->position - y->position;
}

/* The first index in rows (sorted by key) whose key is id. */
#define SB_LOWER_BOUND(rows, n, field, id, out)                                \
	do {                                                                   \
		size_t lo_ = 0, hi_ = (n), mid_;                               \
		while (lo_ < hi_) {                                            \
			mid_ = lo_ + (hi_ - lo_) / 2;                          \
			if ((rows)[mid_].field < (id))                         \
				lo_ = mid_ + 1;                                \
			else                                                   \
				hi_ = mid_;                                    \
		}                                                              \
		(out) = lo_;                                                   \
	} while (0)

static struct snap_cluster *
sb_dest_cluster(struct sb_ctx *c, const char *host, const char *subset,
    int port, const char *ns, int *err)
{
	struct sb_svc *sv;

	*err = 0;
	if ((sv = sb_resolve_svc(c, host, ns)) == NULL)
		return NULL;
	return sb_cluster(c, sv, subset, port, err);
}

/*
 * The mirror column: a Destination (host, subset, port) with an optional
 * mirrorPercentage / percentage / legacy mirrorPercent, or an
 * HTTPMirrorPolicy {destination, percentage}.
 */
static int
sb_mirror(
    struct sb_ctx *c, struct snap_route *r, const char *text, const char *ns)
{
	json_t *j, *dst, *v;
	const char *host, *subset;
	int64_t port = 0, n;
	int err;

	if (text == NULL)
		return 0;
	if ((j = sp_json(&c->p, text, JSON_OBJECT, "mirror")) == NULL)
		return -1;
	dst = json_object_get(j, "destination");
	if (dst == NULL)
		dst = j;
	if (sp_str(&c->p, dst, "host", &host, "mirror") == -1 ||
	    sp_str(&c->p, dst, "subset", &subset, "mirror") == -1 ||
	    sp_int(&c->p, json_object_get(dst, "port"), "number", &port,
		"mirror.port") == -1)
		return -1;
	if (host == NULL)
		return sp_fail(&c->p, "mirror: no host");
	r->mirror.ppm = SNAP_PPM;
	if ((v = json_object_get(j, "percentage")) != NULL ||
	    (v = json_object_get(j, "mirrorPercentage")) != NULL) {
		if (sp_percent(&c->p, v, &r->mirror.ppm, "mirror.percentage") ==
		    -1)
			return -1;
	} else if (sp_int(&c->p, j, "mirrorPercent", &n, "mirror") == 0) {
		if (n < 0 || n > 100)
			return sp_fail(
			    &c->p, "mirror.mirrorPercent: out of range");
		r->mirror.ppm = (uint32_t)n * (SNAP_PPM / 100);
	}
	if (c->p.cause != NULL)
		return -1;
	r->mirror.cluster = sb_dest_cluster(c, host, subset,
	    port > 0 && port <= 65535 ? (int)port : 0, ns, &err);
	return err;
}

static int
sb_route(struct sb_ctx *c, const struct sb_vs *vs, const struct sb_route *row,
    struct snap_route *r)
{
	struct snapshot_builder *b = c->b;
	json_t *matches, *m;
	char *what, *full;
	size_t i, first, nm, len;
	int rc, err;

	if (row->name[0] != '\0')
		xasprintf(&full, "%s", row->name);
	else
		xasprintf(
		    &full, "%s.%s/%d", vs->name, vs->namespace, row->position);
	/* Cut to the bound, never in the middle of a UTF-8 sequence. */
	len = strlen(full);
	if (len > SNAP_ROUTE_NAME_MAX) {
		len = SNAP_ROUTE_NAME_MAX;
		while (len > 0 && ((unsigned char)full[len] & 0xc0) == 0x80)
			len--;
	}
	r->name = snap_strndup(c->p.s, full, len);
	free(full);
	r->timeout_ms = row->timeout_ms > 0 && row->timeout_ms <= INT_MAX
	    ? (int)row->timeout_ms
	    : -1;

	xasprintf(&what, "http[%d].match", row->position);
	matches = sp_json(&c->p, row->match, JSON_ARRAY, what);
	free(what);
	if (matches == NULL)
		return -1;
	nm = json_array_size(matches);
	r->matches = snap_alloc(c->p.s, (nm + 1) * sizeof(*r->matches));
	json_array_foreach(matches, i, m)
	{
		xasprintf(&what, "http[%d].match[%zu]", row->position, i);
		rc = sp_match(&c->p, m, &r->matches[r->nmatches], what);
		free(what);
		if (rc == -1)
			return -1;
		if (rc == 0)
			r->nmatches++;
	}
	if (nm > 0 && r->nmatches == 0)
		return 1; /* every match is for gateways: not for sidecars */

	if (sp_retries(&c->p, r, row->retries) == -1 ||
	    sp_fault(&c->p, r, row->fault) == -1 ||
	    sb_mirror(c, r, row->mirror, vs->namespace) == -1 ||
	    sp_rewrite(&c->p, r, row->rewrite) == -1 ||
	    sp_headers(&c->p, row->headers, &r->req_hdrs, &r->resp_hdrs,
		"headers") == -1)
		return -1;

	SB_LOWER_BOUND(b->dests, b->ndests, route_id, row->id, first);
	for (i = first; i < b->ndests && b->dests[i].route_id == row->id; i++)
		;
	r->dests = snap_alloc(c->p.s, (i - first + 1) * sizeof(*r->dests));
	for (i = first; i < b->ndests && b->dests[i].route_id == row->id; i++) {
		const struct sb_dest *d = &b->dests[i];
		struct snap_dest *sd = &r->dests[r->ndests++];

		sd->host = snap_strdup(c->p.s, d->host);
		sd->subset = snap_strdup(c->p.s, d->subset);
		sd->weight = d->weight < 0   ? 0
		    : d->weight > UINT32_MAX ? UINT32_MAX
					     : (uint32_t)d->weight;
		r->total_weight += sd->weight;
		sd->cluster = sb_dest_cluster(
		    c, d->host, d->subset, d->port, vs->namespace, &err);
		if (err == -1)
			return -1;
		xasprintf(&what, "http[%d].route[%d].headers", row->position,
		    d->position);
		rc = sp_headers(
		    &c->p, d->headers, &sd->req_hdrs, &sd->resp_hdrs, what);
		free(what);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
sb_virtual_services(struct sb_ctx *c)
{
	struct snapshot_builder *b = c->b;
	struct snapshot *s = c->p.s;
	const struct sb_vs **order;
	json_t *hosts, *gw, *h;
	size_t i, j, first, n;
	int rc;

	sb_sort(b->routes, b->nroutes, sizeof(*b->routes), sb_route_by_pos);
	sb_sort(b->dests, b->ndests, sizeof(*b->dests), sb_dest_by_pos);
	order = xcalloc(b->nvss + 1, sizeof(*order));
	for (i = 0; i < b->nvss; i++)
		order[i] = &b->vss[i];
	sb_sort(order, b->nvss, sizeof(*order), sb_vs_by_name);
	s->vhosts = snap_alloc(s, (b->nvss + 1) * sizeof(*s->vhosts));
	for (i = 0; i < b->nvss; i++) {
		const struct sb_vs *vs = order[i];
		struct snap_vhost *vh;

		sp_what(&c->p, "virtual service", vs->namespace, vs->name);
		if (vs->gateways != NULL) {
			if ((gw = sp_json(&c->p, vs->gateways, JSON_ARRAY,
				 "gateways")) == NULL)
				goto fail;
			if (!sp_mesh_gateway(gw))
				continue;
		}
		if ((hosts = sp_json(&c->p, vs->hosts, JSON_ARRAY, "hosts")) ==
		    NULL)
			goto fail;
		vh = snap_alloc(s, sizeof(*vh));
		vh->namespace = snap_strdup(s, vs->namespace);
		vh->name = snap_strdup(s, vs->name);
		vh->hosts = snap_alloc(
		    s, (json_array_size(hosts) + 1) * sizeof(*vh->hosts));
		json_array_foreach(hosts, j, h)
		{
			if (!json_is_string(h)) {
				sp_fail(&c->p, "hosts: not a string");
				goto fail;
			}
			vh->hosts[vh->nhosts++] =
			    snap_strdup(s, json_string_value(h));
		}
		SB_LOWER_BOUND(b->routes, b->nroutes, vs_id, vs->id, first);
		for (n = first; n < b->nroutes && b->routes[n].vs_id == vs->id;
		     n++)
			;
		vh->routes =
		    snap_alloc(s, (n - first + 1) * sizeof(*vh->routes));
		for (j = first; j < n; j++) {
			rc = sb_route(
			    c, vs, &b->routes[j], &vh->routes[vh->nroutes]);
			if (rc == -1)
				goto fail;
			if (rc == 0)
				vh->nroutes++;
			else
				memset(&vh->routes[vh->nroutes], 0,
				    sizeof(vh->routes[0]));
		}
		for (j = 0; j < vh->nhosts; j++)
			snap_hostidx_add(
			    s, &s->vhost_idx, vh->hosts[j], vs->namespace, vh);
		s->vhosts[s->nvhosts++] = vh;
	}
	free(order);
	sp_what(&c->p, NULL, NULL, NULL);
	/* Each service answers its VIPs with the VS of its first host. */
	for (i = 0; i < c->nsvcs; i++) {
		struct sb_svc *sv = &c->svcs[i];

		for (j = 0; j < sv->nhosts && sv->svc->vhost == NULL; j++)
			sv->svc->vhost = snap_hostidx_resolve(
			    &s->vhost_idx, sv->hosts[j], sv->row->namespace);
	}
	return 0;
fail:
	free(order);
	return -1;
}

/* -- the whole build -- */

static struct snapshot *
sb_snapshot_new(int64_t version)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->version = version;
	snap_htab_init(&s->addrs, 0);
	snap_htab_init(&s->peers, 0);
	snap_htab_init(&s->idents, 0);
	snap_htab_init(&s->ep_services, 0);
	snap_htab_init(&s->vhost_idx.exact, 1);
	snap_htab_init(&s->vhost_idx.suffix, 1);
	snap_htab_init(&s->service_idx.exact, 1);
	snap_htab_init(&s->service_idx.suffix, 1);
	return s;
}

struct snapshot *
snapshot_new_empty(int64_t version)
{
	return sb_snapshot_new(version);
}

/* Copies a malloc'd vector into the snapshot's memory. */
static void *
sb_settle(struct snapshot *s, void *v, size_t n, size_t size)
{
	void *p = snap_alloc(s, (n + 1) * size);

	if (n > 0)
		memcpy(p, v, n * size);
	free(v);
	return p;
}

/*
 * Indexes every endpoint of a service's ports by its address and port,
 * so that the inbound side names the service a connection came for
 * (destination_service), as Istio's inbound clusters do. The first
 * service of an endpoint wins.
 */
static void
sb_endpoint_services(struct snapshot *s)
{
	const struct snap_cluster *cl;
	const struct snap_endpoint *ep;
	uint8_t key[SNAP_ADDRKEY_LEN];
	size_t i, j, k;

	for (i = 0; i < s->nservices; i++) {
		struct snap_service *svc = s->services[i];

		for (j = 0; j < svc->nports; j++) {
			if ((cl = svc->portdefs[j].cluster) == NULL)
				continue;
			for (k = 0; k < cl->nendpoints; k++) {
				ep = cl->endpoints[k];
				if (snap_sockkey(key, &ep->addr, -1) == -1)
					continue;
				if (snap_htab_get(&s->ep_services, (char *)key,
					sizeof(key)) == NULL)
					snap_htab_put(s, &s->ep_services,
					    (char *)key, sizeof(key), svc, 0);
			}
		}
	}
}

struct snapshot *
snapshot_builder_finish(struct snapshot_builder *b, char **cause)
{
	struct sb_ctx ctx, *c = &ctx;
	struct snapshot *s;
	size_t i;
	int ok;

	memset(c, 0, sizeof(*c));
	c->b = b;
	c->p.s = s = sb_snapshot_new(b->version);
	c->tmp = sb_snapshot_new(0);
	snap_htab_init(&c->ep_tab, 0);
	snap_htab_init(&c->cluster_tab, 0);
	snap_htab_init(&c->label_tab, 0);

	ok = sb_services(c) == 0 && sb_workloads(c) == 0 &&
	    sb_destination_rules(c) == 0 && sb_default_clusters(c) == 0 &&
	    sb_virtual_services(c) == 0 &&
	    sb_security(s, b->ns, b->labels, b->secs, b->nsecs, &c->p.cause) ==
		0;

	s->clusters =
	    sb_settle(s, s->clusters, s->nclusters, sizeof(*s->clusters));
	s->endpoints =
	    sb_settle(s, s->endpoints, s->nendpoints, sizeof(*s->endpoints));
	s->cidrs = sb_settle(s, s->cidrs, s->ncidrs, sizeof(*s->cidrs));
	if (ok)
		sb_endpoint_services(s);

	sp_release(&c->p);
	for (i = 0; i < c->nsvcs; i++) {
		free(c->svcs[i].hosts);
		free(c->svcs[i].ports);
		free(c->svcs[i].members);
		free(c->svcs[i].addresses);
	}
	free(c->svcs);
	free(c->by_index);
	free(c->wls);
	free(c->drs);
	for (i = 0; i < c->nlists; i++) {
		free(c->lists[i]->v);
		free(c->lists[i]);
	}
	free(c->lists);
	free(c->ep_wl);
	snap_hostidx_free(&c->dr_idx);
	snap_htab_free(&c->ep_tab);
	snap_htab_free(&c->cluster_tab);
	snap_htab_free(&c->label_tab);
	snapshot_free(c->tmp);
	if (!ok) {
		if (c->p.cause == NULL)
			xasprintf(&c->p.cause, "snapshot build failed");
		*cause = c->p.cause;
		snapshot_free(s);
		return NULL;
	}
	return s;
}
