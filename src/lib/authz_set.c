/*
 * The set of policies a workload enforces: its policies sorted by kind
 * (AUDIT, DENY, ALLOW, and the dry-run shadows), each kind with the
 * indexes that let authz_eval (authz_match.c) skip the rules a request
 * cannot match. A rule that requires an exact path, an exact peer
 * principal or one of some destination ports is filed under those
 * keys; the rest are tried for every request.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "authz_int.h"
#include "xmalloc.h"

/* FNV-1a: the index keys are short strings. */
uint64_t
authz_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Set building: a rule filed under a string or a port key. */
struct authz_skey {
	const char *key;
	uint32_t len;
	struct authz_ref ref;
};

struct authz_pkey {
	uint16_t port;
	struct authz_ref ref;
};

struct authz_builder {
	size_t npolicies;
	struct authz_ref *any;
	size_t nany, capany;
	struct authz_pkey *ports;
	size_t nports, capports;
	struct authz_skey *keys[2]; /* path, principal */
	size_t nkeys[2], capkeys[2];
	const struct authz_val **tmp; /* one rule's key values */
	size_t ntmp, captmp;
};

/* Whether t requires attr to equal one of its values (all of kind). */
static int
test_requires(const struct authz_policy *p, const struct authz_test *t,
    uint8_t attr, uint8_t kind)
{
	const struct authz_val *v;
	uint32_t i;

	if (t->attr != attr || t->neg || t->n == 0)
		return 0;
	for (i = 0; i < t->n; i++) {
		v = &p->vals[t->first + i];
		if (v->kind != kind || v->icase)
			return 0;
	}
	return 1;
}

static void
tmp_add_test(struct authz_builder *b, const struct authz_policy *p,
    const struct authz_test *t)
{
	uint32_t i;

	for (i = 0; i < t->n; i++) {
		AUTHZ_GROW(b->tmp, b->ntmp, b->captmp);
		b->tmp[b->ntmp++] = &p->vals[t->first + i];
	}
}

/*
 * Fills b->tmp with the values one of which attr must equal for rule r
 * to match: from a condition, or from each of its sources (principal)
 * or operations (path, port). Returns 0 when r requires none.
 */
static int
rule_requires(struct authz_builder *b, const struct authz_policy *p,
    const struct authz_rule *r, uint8_t attr, uint8_t kind)
{
	const struct authz_group *g;
	uint32_t first, n, i, j;
	int found;

	b->ntmp = 0;
	for (i = 0; i < r->nwhen; i++) {
		if (test_requires(
			p, &p->tests[r->when_first + i], attr, kind)) {
			tmp_add_test(b, p, &p->tests[r->when_first + i]);
			return 1;
		}
	}
	first = attr == AUTHZ_A_PRINCIPAL ? r->from_first : r->to_first;
	n = attr == AUTHZ_A_PRINCIPAL ? r->nfrom : r->nto;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		g = &p->groups[first + i];
		for (found = 0, j = 0; j < g->n && !found; j++) {
			if (test_requires(
				p, &p->tests[g->first + j], attr, kind)) {
				tmp_add_test(b, p, &p->tests[g->first + j]);
				found = 1;
			}
		}
		if (!found)
			return 0;
	}
	return 1;
}

static void
builder_add_rule(struct authz_builder *b, const struct authz_policy *p,
    const struct authz_rule *r, uint32_t seq)
{
	static const uint8_t sattrs[2] = {AUTHZ_A_PATH, AUTHZ_A_PRINCIPAL};
	struct authz_ref ref = {p, r, seq};
	size_t i;
	int k;

	for (k = 0; k < 2; k++) {
		if (!rule_requires(b, p, r, sattrs[k], AUTHZ_K_EXACT))
			continue;
		for (i = 0; i < b->ntmp; i++) {
			AUTHZ_GROW(b->keys[k], b->nkeys[k], b->capkeys[k]);
			b->keys[k][b->nkeys[k]].key = b->tmp[i]->s;
			b->keys[k][b->nkeys[k]].len = b->tmp[i]->len;
			b->keys[k][b->nkeys[k]++].ref = ref;
		}
		return;
	}
	if (rule_requires(b, p, r, AUTHZ_A_PORT, AUTHZ_K_PORT)) {
		for (i = 0; i < b->ntmp; i++) {
			AUTHZ_GROW(b->ports, b->nports, b->capports);
			b->ports[b->nports].port = b->tmp[i]->port;
			b->ports[b->nports++].ref = ref;
		}
		return;
	}
	AUTHZ_GROW(b->any, b->nany, b->capany);
	b->any[b->nany++] = ref;
}

static int
skey_cmp(const void *a, const void *b)
{
	const struct authz_skey *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if ((c = memcmp(x->key, y->key, x->len)) != 0)
		return c;
	return x->ref.seq < y->ref.seq ? -1 : x->ref.seq > y->ref.seq;
}

static int
pkey_cmp(const void *a, const void *b)
{
	const struct authz_pkey *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->ref.seq < y->ref.seq ? -1 : x->ref.seq > y->ref.seq;
}

static int
ref_cmp(const void *a, const void *b)
{
	const struct authz_ref *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
index_build(struct authz_index *ix, struct authz_skey *k, size_t n)
{
	struct authz_slot *s;
	size_t i, j, out, distinct = 0, mask;
	uint64_t h;

	memset(ix, 0, sizeof(*ix));
	if (n == 0)
		return;
	qsort(k, n, sizeof(*k), skey_cmp);
	/* the same rule under the same key twice: once is enough */
	for (i = 1, out = 1; i < n; i++) {
		if (skey_cmp(&k[i], &k[out - 1]) != 0)
			k[out++] = k[i];
	}
	n = out;
	ix->refs = xcalloc(n, sizeof(*ix->refs));
	ix->nrefs = n;
	for (i = 0; i < n; i++) {
		ix->refs[i] = k[i].ref;
		if (i == 0 || k[i].len != k[i - 1].len ||
		    memcmp(k[i].key, k[i - 1].key, k[i].len) != 0)
			distinct++;
	}
	for (ix->nslots = 8; ix->nslots < distinct * 2; ix->nslots *= 2)
		;
	ix->slots = xcalloc(ix->nslots, sizeof(*ix->slots));
	mask = ix->nslots - 1;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && k[j].len == k[i].len &&
		     memcmp(k[j].key, k[i].key, k[i].len) == 0;
		     j++)
			;
		h = authz_hash(k[i].key, k[i].len);
		for (s = &ix->slots[h & mask]; s->key != NULL;
		     s = &ix->slots[(size_t)(s - ix->slots + 1) & mask])
			;
		s->key = k[i].key;
		s->len = k[i].len;
		s->hash = h;
		s->first = (uint32_t)i;
		s->n = (uint32_t)(j - i);
	}
	/* every rule once, in order: for requests without the attribute */
	ix->all = xcalloc(n, sizeof(*ix->all));
	memcpy(ix->all, ix->refs, n * sizeof(*ix->all));
	qsort(ix->all, n, sizeof(*ix->all), ref_cmp);
	for (i = 1, out = 1; i < n; i++) {
		if (ix->all[i].seq != ix->all[out - 1].seq)
			ix->all[out++] = ix->all[i];
	}
	ix->nall = out;
}

static void
builder_finish(struct authz_builder *b, struct authz_list *l)
{
	size_t i, out;

	memset(l, 0, sizeof(*l));
	l->npolicies = b->npolicies;
	l->any = b->any;
	l->nany = b->nany;
	if (b->nports > 0) {
		qsort(b->ports, b->nports, sizeof(*b->ports), pkey_cmp);
		l->ports = xcalloc(b->nports, sizeof(*l->ports));
		l->byport = xcalloc(b->nports, sizeof(*l->byport));
		for (i = 0, out = 0; i < b->nports; i++) {
			if (out > 0 && l->ports[out - 1] == b->ports[i].port &&
			    l->byport[out - 1].seq == b->ports[i].ref.seq)
				continue;
			l->ports[out] = b->ports[i].port;
			l->byport[out++] = b->ports[i].ref;
		}
		l->nport = out;
	}
	index_build(&l->path, b->keys[0], b->nkeys[0]);
	index_build(&l->principal, b->keys[1], b->nkeys[1]);
	free(b->ports);
	free(b->keys[0]);
	free(b->keys[1]);
	free(b->tmp);
}

static enum authz_class
policy_class(const struct authz_policy *p)
{
	switch (p->action) {
	case AUTHZ_DENY:
		return p->dry_run ? AUTHZ_C_DRY_DENY : AUTHZ_C_DENY;
	case AUTHZ_AUDIT:
		return AUTHZ_C_AUDIT;
	case AUTHZ_ALLOW:
		break;
	}
	return p->dry_run ? AUTHZ_C_DRY_ALLOW : AUTHZ_C_ALLOW;
}

struct authz_set *
authz_set_new(struct authz_policy **v, size_t n)
{
	struct authz_builder b[AUTHZ_C_COUNT];
	struct authz_set *s;
	const struct authz_policy *p;
	enum authz_class c;
	uint32_t seq = 0;
	size_t i, j;

	s = xcalloc(1, sizeof(*s));
	s->v = xcalloc(n > 0 ? n : 1, sizeof(*s->v));
	s->n = n;
	memset(b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		s->v[i] = v[i];
		p = v[i];
		/* A dry-run AUDIT policy is a shadow of a log line: nothing. */
		if (p->action == AUTHZ_AUDIT && p->dry_run)
			continue;
		c = policy_class(p);
		b[c].npolicies++;
		for (j = 0; j < p->nrules; j++)
			builder_add_rule(&b[c], p, &p->rules[j], seq++);
	}
	for (c = 0; c < AUTHZ_C_COUNT; c++)
		builder_finish(&b[c], &s->lists[c]);
	return s;
}

static void
index_free(struct authz_index *ix)
{
	free(ix->slots);
	free(ix->refs);
	free(ix->all);
}

void
authz_set_free(struct authz_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < AUTHZ_C_COUNT; i++) {
		free(s->lists[i].any);
		free(s->lists[i].ports);
		free(s->lists[i].byport);
		index_free(&s->lists[i].path);
		index_free(&s->lists[i].principal);
	}
	for (i = 0; i < s->n; i++)
		authz_policy_free(s->v[i]);
	free(s->v);
	free(s);
}

size_t
authz_set_size(const struct authz_set *s)
{
	return s != NULL ? s->n : 0;
}
