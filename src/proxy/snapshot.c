/*
 * The policy snapshot: its memory, its indexes and the lookups the
 * request path makes in it. Building is in snapshot_build.c.
 */
#include "config.h"

#include <netinet/in.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "snapshot_build.h"
#include "xmalloc.h"

#define SNAP_CHUNK_SIZE (64 * 1024)
#define SNAP_ALIGN      16

/* The suffix a short name gets in namespace ns. */
#define SNAP_CLUSTER_DOMAIN ".svc.cluster.local"

void *
snap_xreallocarray(void *p, size_t n, size_t size)
{
	void *q;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((q = reallocarray(p, n, size)) == NULL)
		fatal("reallocarray %zu x %zu", n, size);
	return q;
}

void *
snap_alloc(struct snapshot *s, size_t size)
{
	struct snap_chunk *c = s->mem;
	size_t hdr = (sizeof(*c) + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
	size_t want = (size + SNAP_ALIGN - 1) & ~(size_t)(SNAP_ALIGN - 1);
	void *p;

	if (want == 0)
		want = SNAP_ALIGN;
	if (c == NULL || c->size - c->used < want) {
		size_t csize =
		    want > SNAP_CHUNK_SIZE / 4 ? want : SNAP_CHUNK_SIZE;
		struct snap_chunk *n = xmalloc(hdr + csize);

		n->size = csize;
		n->used = 0;
		if (c != NULL && want > SNAP_CHUNK_SIZE / 4) {
			/* A large block: keep filling the current chunk. */
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			s->mem = n;
		}
		c = n;
	}
	p = (char *)c + hdr + c->used;
	c->used += want;
	memset(p, 0, want);
	return p;
}

char *
snap_strndup(struct snapshot *s, const char *str, size_t len)
{
	char *p = snap_alloc(s, len + 1);

	memcpy(p, str, len);
	p[len] = '\0';
	return p;
}

char *
snap_strdup(struct snapshot *s, const char *str)
{
	if (str == NULL)
		return NULL;
	return snap_strndup(s, str, strlen(str));
}

void
snap_keep_regex(struct snapshot *s, regex_t *re)
{
	if (s->nregexes == s->regexes_cap) {
		s->regexes_cap = s->regexes_cap == 0 ? 16 : s->regexes_cap * 2;
		s->regexes = snap_xreallocarray(
		    s->regexes, s->regexes_cap, sizeof(*s->regexes));
	}
	s->regexes[s->nregexes++] = re;
}

/* FNV-1a with a final avalanche (murmur3's fmix64): stable everywhere. */
static uint64_t
snap_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

uint64_t
snap_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return snap_mix(h);
}

static uint64_t
snap_hash_nocase(const char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)tolower((unsigned char)p[i]);
		h *= UINT64_C(0x100000001b3);
	}
	return snap_mix(h);
}

void
snap_htab_init(struct snap_htab *t, int nocase)
{
	memset(t, 0, sizeof(*t));
	t->nocase = nocase;
}

void
snap_htab_free(struct snap_htab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = t->n = 0;
}

static int
snap_htab_keyeq(const struct snap_htab *t, const struct snap_hent *e,
    const char *key, size_t len, uint64_t h)
{
	if (e->hash != h || e->len != len)
		return 0;
	if (t->nocase)
		return strncasecmp(e->key, key, len) == 0;
	return memcmp(e->key, key, len) == 0;
}

static void
snap_htab_grow(struct snap_htab *t)
{
	struct snap_hent *old = t->slots;
	size_t oldn = t->slots == NULL ? 0 : t->mask + 1;
	size_t n = oldn == 0 ? 16 : oldn * 2;
	size_t i, j;

	t->slots = xcalloc(n, sizeof(*t->slots));
	t->mask = n - 1;
	for (i = 0; i < oldn; i++) {
		if (old[i].key == NULL)
			continue;
		for (j = old[i].hash & t->mask; t->slots[j].key != NULL;
		     j = (j + 1) & t->mask)
			;
		t->slots[j] = old[i];
	}
	free(old);
}

void
snap_htab_put(struct snapshot *s, struct snap_htab *t, const char *key,
    size_t len, void *val, int prio)
{
	uint64_t h =
	    t->nocase ? snap_hash_nocase(key, len) : snap_hash(key, len);
	struct snap_hent *e;
	size_t i;
	char *k;

	/* Keep the load at most one half: probes stay short. */
	if (t->slots == NULL || (t->n + 1) * 2 > t->mask + 1)
		snap_htab_grow(t);
	for (i = h & t->mask; t->slots[i].key != NULL; i = (i + 1) & t->mask) {
		e = &t->slots[i];
		if (snap_htab_keyeq(t, e, key, len, h)) {
			if (prio < e->prio) {
				e->val = val;
				e->prio = prio;
			}
			return;
		}
	}
	k = snap_strndup(s, key, len);
	if (t->nocase) {
		for (i = 0; i < len; i++)
			k[i] = (char)tolower((unsigned char)k[i]);
	}
	for (i = h & t->mask; t->slots[i].key != NULL; i = (i + 1) & t->mask)
		;
	e = &t->slots[i];
	e->key = k;
	e->len = len;
	e->hash = h;
	e->val = val;
	e->prio = prio;
	t->n++;
}

void *
snap_htab_get(const struct snap_htab *t, const char *key, size_t len)
{
	uint64_t h;
	size_t i;

	if (t->n == 0)
		return NULL;
	h = t->nocase ? snap_hash_nocase(key, len) : snap_hash(key, len);
	for (i = h & t->mask; t->slots[i].key != NULL; i = (i + 1) & t->mask) {
		if (snap_htab_keyeq(t, &t->slots[i], key, len, h))
			return t->slots[i].val;
	}
	return NULL;
}

static void
snap_hostidx_put(struct snapshot *s, struct snap_hostidx *idx, const char *key,
    void *val, int prio)
{
	snap_htab_put(s, &idx->exact, key, strlen(key), val, prio);
}

void
snap_hostidx_add(struct snapshot *s, struct snap_hostidx *idx, const char *host,
    const char *ns, void *val)
{
	size_t len = strlen(host), dlen = strlen(SNAP_CLUSTER_DOMAIN);
	const char *dot;
	char *alias;

	idx->exact.nocase = 1;
	idx->suffix.nocase = 1;
	while (len > 1 && host[len - 1] == '.')
		len--;
	if (len == 1 && host[0] == '*') {
		if (idx->any == NULL) {
			idx->any = val;
			idx->any_prio = 0;
		}
		return;
	}
	if (len > 2 && host[0] == '*' && host[1] == '.') {
		snap_htab_put(s, &idx->suffix, host + 1, len - 1, val, 0);
		return;
	}
	snap_htab_put(s, &idx->exact, host, len, val, 0);
	if (memchr(host, ':', len) != NULL)
		return; /* an IPv6 literal */
	if (memchr(host, '.', len) == NULL) {
		/* A short name: it means <name>.<ns>.svc.cluster.local. */
		xasprintf(&alias, "%.*s.%s%s", (int)len, host, ns,
		    SNAP_CLUSTER_DOMAIN);
		snap_hostidx_put(s, idx, alias, val, 0);
		free(alias);
		xasprintf(&alias, "%.*s.%s", (int)len, host, ns);
		snap_hostidx_put(s, idx, alias, val, 1);
		free(alias);
		xasprintf(&alias, "%.*s.%s.svc", (int)len, host, ns);
		snap_hostidx_put(s, idx, alias, val, 1);
		free(alias);
		return;
	}
	/* "<name>.<ns>.svc.cluster.local" also answers as <name>.<ns>[.svc]. */
	if (len > dlen &&
	    strncasecmp(host + len - dlen, SNAP_CLUSTER_DOMAIN, dlen) == 0 &&
	    (dot = memchr(host, '.', len - dlen)) != NULL && dot > host &&
	    dot + 1 < host + len - dlen &&
	    memchr(dot + 1, '.', (size_t)(host + len - dlen - dot - 1)) ==
		NULL) {
		size_t base = len - dlen;

		snap_htab_put(s, &idx->exact, host, base, val, 1);
		xasprintf(&alias, "%.*s.svc", (int)base, host);
		snap_hostidx_put(s, idx, alias, val, 1);
		free(alias);
	}
}

void *
snap_hostidx_get(const struct snap_hostidx *idx, const char *host, size_t len)
{
	void *v;
	size_t i;

	while (len > 1 && host[len - 1] == '.')
		len--;
	if (len == 0)
		return NULL;
	if ((v = snap_htab_get(&idx->exact, host, len)) != NULL)
		return v;
	if (idx->suffix.n > 0) {
		/* The leftmost dot gives the longest, most specific suffix. */
		for (i = 1; i < len; i++) {
			if (host[i] == '.' &&
			    (v = snap_htab_get(
				 &idx->suffix, host + i, len - i)) != NULL)
				return v;
		}
	}
	return idx->any;
}

void *
snap_hostidx_resolve(
    const struct snap_hostidx *idx, const char *host, const char *ns)
{
	size_t len = strlen(host);
	char *fqdn;
	void *v;

	if (len == 1 && host[0] == '*')
		return idx->any;
	if (len > 2 && host[0] == '*' && host[1] == '.')
		return snap_htab_get(&idx->suffix, host + 1, len - 1);
	if (strchr(host, '.') == NULL && strchr(host, ':') == NULL) {
		/*
		 * A short name means the one in ns, never another namespace's
		 * short name of the same spelling.
		 */
		xasprintf(&fqdn, "%s.%s%s", host, ns, SNAP_CLUSTER_DOMAIN);
		v = snap_hostidx_get(idx, fqdn, strlen(fqdn));
		free(fqdn);
		return v;
	}
	return snap_hostidx_get(idx, host, len);
}

void
snap_hostidx_free(struct snap_hostidx *idx)
{
	snap_htab_free(&idx->exact);
	snap_htab_free(&idx->suffix);
}

int
snapshot_peer_auth_strict(const struct snapshot *s, int port)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->nmtls_ports; i++) {
		if (s->mtls_ports[i].port == port &&
		    s->mtls_ports[i].mode != SNAP_MTLS_UNSET)
			return s->mtls_ports[i].mode == SNAP_MTLS_STRICT;
	}
	return s->mtls_mode == SNAP_MTLS_STRICT;
}

int
snap_sockkey(uint8_t *key, const struct sockaddr_storage *addr, int port)
{
	static const uint8_t v4mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *ip;

	if (port == -1)
		port = addr->ss_family == AF_INET
		    ? ntohs(((const struct sockaddr_in *)addr)->sin_port)
		    : ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	if (addr->ss_family == AF_INET)
		snap_addrkey(key, AF_INET,
		    &((const struct sockaddr_in *)addr)->sin_addr, port);
	else if (addr->ss_family == AF_INET6) {
		ip = (const uint8_t *)&((const struct sockaddr_in6 *)addr)
			 ->sin6_addr;
		if (memcmp(ip, v4mapped, sizeof(v4mapped)) == 0)
			snap_addrkey(key, AF_INET, ip + 12, port);
		else
			snap_addrkey(key, AF_INET6, ip, port);
	} else
		return -1;
	return 0;
}

/* The address key of addr's IP (port 0); -1 when it is not IP. */
static int
snap_ipkey(uint8_t *key, const struct sockaddr_storage *addr)
{
	return snap_sockkey(key, addr, 0);
}

const struct snap_service *
snapshot_service_at(
    const struct snapshot *s, const struct sockaddr_storage *addr)
{
	uint8_t key[SNAP_ADDRKEY_LEN];

	if (s == NULL || snap_sockkey(key, addr, -1) == -1)
		return NULL;
	return snap_htab_get(&s->ep_services, (const char *)key, sizeof(key));
}

const struct snap_peer *
snapshot_workload_at(
    const struct snapshot *s, const struct sockaddr_storage *addr)
{
	uint8_t key[SNAP_ADDRKEY_LEN];

	if (s == NULL || snap_ipkey(key, addr) == -1)
		return NULL;
	return snap_htab_get(&s->idents, (const char *)key, sizeof(key));
}

const struct snap_peer *
snapshot_peer(const struct snapshot *s, const struct sockaddr_storage *addr)
{
	uint8_t key[SNAP_ADDRKEY_LEN];

	if (s == NULL || snap_ipkey(key, addr) == -1)
		return NULL;
	return snap_htab_get(&s->peers, (const char *)key, sizeof(key));
}

size_t
snap_addrkey(uint8_t *key, int family, const void *addr, int port)
{
	memset(key, 0, SNAP_ADDRKEY_LEN);
	key[0] = family == AF_INET6 ? 6 : 4;
	memcpy(key + 1, addr, family == AF_INET6 ? 16 : 4);
	key[17] = (uint8_t)((unsigned int)port >> 8);
	key[18] = (uint8_t)port;
	return SNAP_ADDRKEY_LEN;
}

int
snap_authority_host(
    const char *a, size_t len, const char **host, size_t *hostlen)
{
	const char *end;

	if (len > 0 && a[0] == '[') {
		if ((end = memchr(a, ']', len)) == NULL)
			return -1;
		*host = a + 1;
		*hostlen = (size_t)(end - a - 1);
		return 0;
	}
	if ((end = memchr(a, ':', len)) != NULL)
		len = (size_t)(end - a);
	while (len > 1 && a[len - 1] == '.')
		len--;
	*host = a;
	*hostlen = len;
	return 0;
}

/* The service whose address (exact, then CIDR) and port dst is. */
static struct snap_service *
snapshot_lookup_addr(
    const struct snapshot *s, const struct sockaddr_storage *dst)
{
	static const uint8_t v4mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint8_t key[SNAP_ADDRKEY_LEN];
	const uint8_t *ip;
	struct snap_service *svc;
	int family, port, bits;
	size_t i;

	if (dst->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)dst;

		family = AF_INET;
		ip = (const uint8_t *)&sin->sin_addr;
		port = ntohs(sin->sin_port);
	} else if (dst->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)dst;

		family = AF_INET6;
		ip = (const uint8_t *)&sin6->sin6_addr;
		port = ntohs(sin6->sin6_port);
		if (memcmp(ip, v4mapped, sizeof(v4mapped)) == 0) {
			family = AF_INET;
			ip += 12;
		}
	} else
		return NULL;
	snap_addrkey(key, family, ip, port);
	if ((svc = snap_htab_get(&s->addrs, (const char *)key, sizeof(key))) !=
	    NULL)
		return svc;
	for (i = 0; i < s->ncidrs; i++) {
		const struct snap_cidr *c = &s->cidrs[i];

		if (c->family != family || c->port != port)
			continue;
		bits = c->prefix;
		if (memcmp(c->addr, ip, (size_t)bits / 8) != 0)
			continue;
		if (bits % 8 != 0 &&
		    ((c->addr[bits / 8] ^ ip[bits / 8]) &
			(uint8_t)(0xff << (8 - bits % 8))) != 0)
			continue;
		return c->svc;
	}
	return NULL;
}

const struct snap_vhost *
snapshot_lookup(const struct snapshot *s, const char *authority, size_t len,
    const struct sockaddr_storage *dst, const struct snap_service **service)
{
	const struct snap_vhost *vh = NULL;
	const struct snap_service *svc = NULL;
	const char *host;
	size_t hostlen;

	if (service != NULL)
		*service = NULL;
	if (s == NULL)
		return NULL;
	if (authority != NULL && len > 0 &&
	    snap_authority_host(authority, len, &host, &hostlen) == 0 &&
	    hostlen > 0) {
		vh = snap_hostidx_get(&s->vhost_idx, host, hostlen);
		svc = snap_hostidx_get(&s->service_idx, host, hostlen);
	}
	if (svc == NULL && dst != NULL) {
		svc = snapshot_lookup_addr(s, dst);
		if (vh == NULL && svc != NULL)
			vh = svc->vhost;
	}
	if (service != NULL)
		*service = svc;
	return vh;
}

struct snap_cluster *
snapshot_default_cluster(
    const struct snapshot *s, const struct snap_service *svc, int port)
{
	size_t i;

	if (svc == NULL)
		return NULL;
	for (i = 0; i < svc->nports; i++) {
		if (svc->ports[i] == port)
			return svc->portdefs[i].cluster;
	}
	return NULL;
}

int64_t
snapshot_version(const struct snapshot *s)
{
	return s->version;
}

size_t
snapshot_nclusters(const struct snapshot *s)
{
	return s->nclusters;
}

size_t
snapshot_nendpoints(const struct snapshot *s)
{
	return s->nendpoints;
}

size_t
snapshot_nservices(const struct snapshot *s)
{
	return s->nservices;
}

size_t
snapshot_nvhosts(const struct snapshot *s)
{
	return s->nvhosts;
}

const struct snap_cluster *
snapshot_cluster(const struct snapshot *s, size_t i)
{
	return i < s->nclusters ? s->clusters[i] : NULL;
}

const struct snap_endpoint *
snapshot_endpoint(const struct snapshot *s, size_t i)
{
	return i < s->nendpoints ? s->endpoints[i] : NULL;
}

const struct snap_service *
snapshot_service(const struct snapshot *s, size_t i)
{
	return i < s->nservices ? s->services[i] : NULL;
}

const struct snap_vhost *
snapshot_vhost(const struct snapshot *s, size_t i)
{
	return i < s->nvhosts ? s->vhosts[i] : NULL;
}

void
snapshot_ref(struct snapshot *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void
snapshot_unref(struct snapshot *s)
{
	if (s == NULL)
		return;
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snapshot_free(s);
}

void
snapshot_free(struct snapshot *s)
{
	struct snap_chunk *c, *next;
	size_t i;

	if (s == NULL)
		return;
	snap_security_free(s);
	for (i = 0; i < s->nregexes; i++)
		regfree(s->regexes[i]);
	free(s->regexes);
	snap_hostidx_free(&s->vhost_idx);
	snap_hostidx_free(&s->service_idx);
	snap_htab_free(&s->addrs);
	snap_htab_free(&s->peers);
	snap_htab_free(&s->idents);
	snap_htab_free(&s->ep_services);
	for (c = s->mem; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(s);
}
