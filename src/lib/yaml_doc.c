#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "xmalloc.h"
#include "yaml_doc.h"

/* Deeper nesting than any configuration needs; bounds the recursion. */
#define YAML_DOC_MAX_DEPTH 64
#define YAML_DOC_TAG       "tag:yaml.org,2002:"

struct yaml_build {
	yaml_parser_t parser;
	const char *buf;
	size_t len;
	int doc;     /* documents started so far */
	char *cause; /* the first error */
};

static void yaml_fail(struct yaml_build *, const yaml_mark_t *, const char *,
    ...) __attribute__((format(printf, 3, 4)));

static void
yaml_fail(struct yaml_build *b, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (b->cause != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(&b->cause, "line %zu, column %zu: %s", m->line + 1,
	    m->column + 1, msg);
}

/* The line and column of a byte offset, for reader errors. */
static void
yaml_offset_mark(const char *buf, size_t len, size_t off, yaml_mark_t *m)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m->line++;
			m->column = 0;
		} else
			m->column++;
	}
}

static void
yaml_fail_parser(struct yaml_build *b)
{
	const yaml_parser_t *p = &b->parser;
	yaml_mark_t m;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		memset(&m, 0, sizeof(m));
		yaml_fail(b, &m, "out of memory");
		break;
	case YAML_READER_ERROR:
		yaml_offset_mark(b->buf, b->len, p->problem_offset, &m);
		yaml_fail(b, &m, "%s",
		    p->problem != NULL ? p->problem : "unreadable input");
		break;
	default:
		if (p->context != NULL)
			yaml_fail(b, &p->problem_mark, "%s (%s)",
			    p->problem != NULL ? p->problem : "invalid YAML",
			    p->context);
		else
			yaml_fail(b, &p->problem_mark, "%s",
			    p->problem != NULL ? p->problem : "invalid YAML");
		break;
	}
}

static int
yaml_next(struct yaml_build *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev)) {
		yaml_fail_parser(b);
		return -1;
	}
	return 0;
}

static int
yaml_is_one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++) {
		if (strcmp(s, *words) == 0)
			return 1;
	}
	return 0;
}

static const char *const yaml_nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const yaml_trues[] = {"true", "True", "TRUE", NULL};
static const char *const yaml_falses[] = {"false", "False", "FALSE", NULL};
static const char *const yaml_specials[] = {".inf", ".Inf", ".INF", "+.inf",
    "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL};
/* YAML 1.1 booleans: strings here, but quoted on output for other tools. */
static const char *const yaml_11_bools[] = {"y", "Y", "yes", "Yes", "YES", "n",
    "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", NULL};

static int
yaml_digits(const char *s, const char *set)
{
	return *s != '\0' && strspn(s, set) == strlen(s);
}

/* [-+]?[0-9]+, 0x[0-9a-fA-F]+ or 0o[0-7]+ */
static int
yaml_is_int(const char *s)
{
	if (strncmp(s, "0x", 2) == 0)
		return yaml_digits(s + 2, "0123456789abcdefABCDEF");
	if (strncmp(s, "0o", 2) == 0)
		return yaml_digits(s + 2, "01234567");
	if (*s == '-' || *s == '+')
		s++;
	return yaml_digits(s, "0123456789");
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
yaml_is_float(const char *s)
{
	size_t n;

	if (*s == '-' || *s == '+')
		s++;
	n = strspn(s, "0123456789");
	s += n;
	if (*s == '.') {
		s++;
		if (n == 0 && strspn(s, "0123456789") == 0)
			return 0;
		s += strspn(s, "0123456789");
	} else if (n == 0)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (strspn(s, "0123456789") == 0)
			return 0;
		s += strspn(s, "0123456789");
	}
	return *s == '\0';
}

enum yaml_resolved {
	YAML_RESOLVED_STRING,
	YAML_RESOLVED_NULL,
	YAML_RESOLVED_BOOL,
	YAML_RESOLVED_INT,
	YAML_RESOLVED_FLOAT,
	YAML_RESOLVED_SPECIAL, /* infinities and NaN */
};

static enum yaml_resolved
yaml_resolve(const char *s)
{
	if (yaml_is_one_of(s, yaml_nulls))
		return YAML_RESOLVED_NULL;
	if (yaml_is_one_of(s, yaml_trues) || yaml_is_one_of(s, yaml_falses))
		return YAML_RESOLVED_BOOL;
	if (yaml_is_int(s))
		return YAML_RESOLVED_INT;
	if (yaml_is_float(s))
		return YAML_RESOLVED_FLOAT;
	if (yaml_is_one_of(s, yaml_specials))
		return YAML_RESOLVED_SPECIAL;
	return YAML_RESOLVED_STRING;
}

/* The value of plain scalar s, typed as yaml_resolve says. */
static json_t *
yaml_typed(struct yaml_build *b, const yaml_mark_t *m, const char *s,
    enum yaml_resolved r)
{
	long long ll;
	double d;
	char *end;
	int base = 10;
	const char *digits = s;

	switch (r) {
	case YAML_RESOLVED_NULL:
		return json_null();
	case YAML_RESOLVED_BOOL:
		return json_boolean(yaml_is_one_of(s, yaml_trues));
	case YAML_RESOLVED_INT:
		if (strncmp(s, "0x", 2) == 0) {
			base = 16;
			digits = s + 2;
		} else if (strncmp(s, "0o", 2) == 0) {
			base = 8;
			digits = s + 2;
		}
		errno = 0;
		ll = strtoll(digits, &end, base);
		if (errno != 0 || *end != '\0') {
			yaml_fail(b, m, "integer %s is out of range", s);
			return NULL;
		}
		return json_integer(ll);
	case YAML_RESOLVED_FLOAT:
		errno = 0;
		d = strtod(s, &end);
		if (*end != '\0' || !isfinite(d)) {
			yaml_fail(b, m, "number %s is out of range", s);
			return NULL;
		}
		return json_real(d);
	case YAML_RESOLVED_SPECIAL:
		yaml_fail(
		    b, m, "%s: infinite and NaN numbers are not supported", s);
		return NULL;
	case YAML_RESOLVED_STRING:
		break;
	}
	return json_string(s);
}

static json_t *
yaml_scalar(struct yaml_build *b, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	const yaml_mark_t *m = &ev->start_mark;
	enum yaml_resolved r;

	if (memchr(s, '\0', len) != NULL) {
		yaml_fail(b, m, "strings must not contain NUL characters");
		return NULL;
	}
	if (tag == NULL || strcmp(tag, "!") == 0) {
		if (tag != NULL ||
		    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_string(s);
		return yaml_typed(b, m, s, yaml_resolve(s));
	}
	if (strncmp(tag, YAML_DOC_TAG, strlen(YAML_DOC_TAG)) != 0) {
		yaml_fail(b, m, "tag %s is not supported", tag);
		return NULL;
	}
	tag += strlen(YAML_DOC_TAG);
	r = yaml_resolve(s);
	if (strcmp(tag, "str") == 0)
		return json_string(s);
	if ((strcmp(tag, "null") == 0 && r == YAML_RESOLVED_NULL) ||
	    (strcmp(tag, "bool") == 0 && r == YAML_RESOLVED_BOOL) ||
	    (strcmp(tag, "int") == 0 && r == YAML_RESOLVED_INT) ||
	    (strcmp(tag, "float") == 0 && r == YAML_RESOLVED_FLOAT))
		return yaml_typed(b, m, s, r);
	if (strcmp(tag, "float") == 0 && r == YAML_RESOLVED_INT)
		return yaml_typed(b, m, s, YAML_RESOLVED_FLOAT);
	if (strcmp(tag, "null") == 0 || strcmp(tag, "bool") == 0 ||
	    strcmp(tag, "int") == 0 || strcmp(tag, "float") == 0)
		yaml_fail(b, m, "\"%s\" is not a valid !!%s", s, tag);
	else
		yaml_fail(b, m, "tag !!%s is not supported", tag);
	return NULL;
}

static json_t *yaml_node(struct yaml_build *, yaml_event_t *, int);

static int
yaml_no_anchor(struct yaml_build *b, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL;

	if (ev->type == YAML_SCALAR_EVENT)
		anchor = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		anchor = ev->data.sequence_start.anchor;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		anchor = ev->data.mapping_start.anchor;
	if (anchor != NULL) {
		yaml_fail(b, &ev->start_mark, "anchors (&%s) are not supported",
		    (const char *)anchor);
		return -1;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT &&
	    ev->data.sequence_start.tag != NULL &&
	    strcmp((const char *)ev->data.sequence_start.tag,
		YAML_DOC_TAG "seq") != 0) {
		yaml_fail(b, &ev->start_mark, "tag %s is not supported",
		    (const char *)ev->data.sequence_start.tag);
		return -1;
	}
	if (ev->type == YAML_MAPPING_START_EVENT &&
	    ev->data.mapping_start.tag != NULL &&
	    strcmp((const char *)ev->data.mapping_start.tag,
		YAML_DOC_TAG "map") != 0) {
		yaml_fail(b, &ev->start_mark, "tag %s is not supported",
		    (const char *)ev->data.mapping_start.tag);
		return -1;
	}
	return 0;
}

static json_t *
yaml_sequence(struct yaml_build *b, int depth)
{
	yaml_event_t ev;
	json_t *a, *v;

	a = json_array();
	for (;;) {
		if (yaml_next(b, &ev) == -1)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return a;
		}
		v = yaml_node(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (v == NULL)
			goto fail;
		json_array_append_new(a, v);
	}
fail:
	json_decref(a);
	return NULL;
}

static json_t *
yaml_mapping(struct yaml_build *b, int depth)
{
	yaml_event_t ev;
	json_t *o, *v;
	const char *k;
	char *key = NULL;

	o = json_object();
	for (;;) {
		if (yaml_next(b, &ev) == -1)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return o;
		}
		if (yaml_no_anchor(b, &ev) == -1)
			goto fail_event;
		if (ev.type == YAML_ALIAS_EVENT) {
			yaml_fail(b, &ev.start_mark,
			    "aliases (*%s) are not supported",
			    (const char *)ev.data.alias.anchor);
			goto fail_event;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_fail(
			    b, &ev.start_mark, "mapping keys must be strings");
			goto fail_event;
		}
		k = (const char *)ev.data.scalar.value;
		if (memchr(k, '\0', ev.data.scalar.length) != NULL) {
			yaml_fail(b, &ev.start_mark,
			    "keys must not contain NUL characters");
			goto fail_event;
		}
		if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    strcmp(k, "<<") == 0) {
			yaml_fail(b, &ev.start_mark,
			    "merge keys (<<) are not supported");
			goto fail_event;
		}
		if (json_object_get(o, k) != NULL) {
			yaml_fail(b, &ev.start_mark, "duplicate key \"%s\"", k);
			goto fail_event;
		}
		key = xstrdup(k);
		yaml_event_delete(&ev);
		if (yaml_next(b, &ev) == -1)
			goto fail;
		v = yaml_node(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (v == NULL)
			goto fail;
		json_object_set_new(o, key, v);
		free(key);
		key = NULL;
	}
fail_event:
	yaml_event_delete(&ev);
fail:
	free(key);
	json_decref(o);
	return NULL;
}

/* The value that starts with event ev (which the caller deletes). */
static json_t *
yaml_node(struct yaml_build *b, yaml_event_t *ev, int depth)
{
	if (depth > YAML_DOC_MAX_DEPTH) {
		yaml_fail(b, &ev->start_mark, "nested deeper than %d levels",
		    YAML_DOC_MAX_DEPTH);
		return NULL;
	}
	if (yaml_no_anchor(b, ev) == -1)
		return NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return yaml_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return yaml_sequence(b, depth);
	case YAML_MAPPING_START_EVENT:
		return yaml_mapping(b, depth);
	case YAML_ALIAS_EVENT:
		yaml_fail(b, &ev->start_mark, "aliases (*%s) are not supported",
		    (const char *)ev->data.alias.anchor);
		return NULL;
	default:
		yaml_fail(b, &ev->start_mark, "unexpected YAML event");
		return NULL;
	}
}

static void
yaml_docs_add(struct yaml_docs *docs, json_t *root, int line)
{
	struct yaml_doc *v;

	v = realloc(docs->v, (docs->n + 1) * sizeof(*docs->v));
	if (v == NULL)
		abort();
	docs->v = v;
	docs->v[docs->n].root = root;
	docs->v[docs->n].line = line;
	docs->n++;
}

void
yaml_docs_clear(struct yaml_docs *docs)
{
	size_t i;

	for (i = 0; i < docs->n; i++)
		json_decref(docs->v[i].root);
	free(docs->v);
	docs->v = NULL;
	docs->n = 0;
}

static int
yaml_parse_yaml(const char *buf, size_t len, struct yaml_docs *docs,
    int *errdoc, char **cause)
{
	struct yaml_build b;
	yaml_event_t ev;
	json_t *root;
	int line = 1, done = 0;

	memset(&b, 0, sizeof(b));
	b.buf = buf;
	b.len = len;
	if (!yaml_parser_initialize(&b.parser))
		abort();
	yaml_parser_set_input_string(
	    &b.parser, (const unsigned char *)buf, len);
	while (!done) {
		if (yaml_next(&b, &ev) == -1)
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			b.doc++;
			line = (int)ev.start_mark.line + 1;
			yaml_event_delete(&ev);
			if (yaml_next(&b, &ev) == -1)
				goto fail;
			root = yaml_node(&b, &ev, 0);
			if (root == NULL)
				goto fail_event;
			if (json_is_null(root)) {
				json_decref(root);
				root = NULL;
			}
			yaml_docs_add(docs, root, line);
			break;
		default:
			/* stream start, document end */
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b.parser);
	if (b.cause == NULL)
		return 0;
	goto fail_cause;
fail_event:
	yaml_event_delete(&ev);
fail:
	yaml_parser_delete(&b.parser);
fail_cause:
	*errdoc = b.doc > 0 ? b.doc : 1;
	*cause = b.cause;
	yaml_docs_clear(docs);
	return -1;
}

static size_t
yaml_skip_space(const char *buf, size_t len, size_t off, int *line)
{
	while (off < len && strchr(" \t\r\n", buf[off]) != NULL &&
	    buf[off] != '\0') {
		if (buf[off] == '\n')
			(*line)++;
		off++;
	}
	return off;
}

/* A stream of JSON values separated by white space. */
static int
yaml_parse_json(const char *buf, size_t len, struct yaml_docs *docs,
    int *errdoc, char **cause)
{
	json_error_t err;
	json_t *v;
	size_t off, i;
	int line = 1;

	off = yaml_skip_space(buf, len, 0, &line);
	while (off < len) {
		v = json_loadb(buf + off, len - off,
		    JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &err);
		if (v == NULL) {
			*errdoc = (int)docs->n + 1;
			xasprintf(cause, "line %d, column %d: %s",
			    line - 1 + (err.line > 0 ? err.line : 1),
			    err.column > 0 ? err.column : 1, err.text);
			yaml_docs_clear(docs);
			return -1;
		}
		yaml_docs_add(docs, v, line);
		for (i = 0; i < (size_t)err.position && off + i < len; i++) {
			if (buf[off + i] == '\n')
				line++;
		}
		off = yaml_skip_space(
		    buf, len, off + (size_t)err.position, &line);
	}
	return 0;
}

int
yaml_doc_parse(const char *buf, size_t len, struct yaml_docs *docs, int *errdoc,
    char **cause)
{
	char *jcause = NULL;
	size_t bom = 0, off;
	int line = 1, jdoc = 0;

	docs->v = NULL;
	docs->n = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		bom = 3;
	off = yaml_skip_space(buf, len, bom, &line);
	/*
	 * JSON is YAML, but libyaml refuses some JSON (tabs before keys):
	 * what starts like JSON is read as JSON first, and its error is the
	 * one reported when YAML cannot read it either.
	 */
	if (off < len && (buf[off] == '{' || buf[off] == '[')) {
		if (yaml_parse_json(
			buf + bom, len - bom, docs, &jdoc, &jcause) == 0)
			return 0;
		if (yaml_parse_yaml(buf, len, docs, errdoc, cause) == 0) {
			free(jcause);
			return 0;
		}
		free(*cause);
		*cause = jcause;
		*errdoc = jdoc;
		return -1;
	}
	return yaml_parse_yaml(buf, len, docs, errdoc, cause);
}

/* Output */

static int
yaml_write_cb(void *data, unsigned char *buf, size_t size)
{
	FILE *f = data;

	return fwrite(buf, 1, size, f) == size;
}

static int
yaml_emit_event(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : -1;
}

static int
yaml_emit_scalar(yaml_emitter_t *e, const char *s, size_t len, int quote)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
		(yaml_char_t *)(uintptr_t)s, (int)len, !quote, 1,
		quote ? YAML_SINGLE_QUOTED_SCALAR_STYLE
		      : YAML_ANY_SCALAR_STYLE))
		return -1;
	return yaml_emit_event(e, &ev);
}

/* Strings that read back as something else must be quoted. */
static int
yaml_emit_string(yaml_emitter_t *e, const char *s, size_t len)
{
	yaml_event_t ev;
	int quote;

	if (memchr(s, '\n', len) != NULL) {
		/* The emitter falls back to quotes where a block cannot be. */
		if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
			(yaml_char_t *)(uintptr_t)s, (int)len, 0, 1,
			YAML_LITERAL_SCALAR_STYLE))
			return -1;
		return yaml_emit_event(e, &ev);
	}
	quote = strlen(s) != len || yaml_resolve(s) != YAML_RESOLVED_STRING ||
	    yaml_is_one_of(s, yaml_11_bools);
	return yaml_emit_scalar(e, s, len, quote);
}

static int
yaml_emit_node(yaml_emitter_t *e, json_t *v, int depth)
{
	yaml_event_t ev;
	const char *key;
	char *s, num[32];
	void *it;
	size_t i;
	int rc;

	if (depth > YAML_DOC_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(
			&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
		    yaml_emit_event(e, &ev) == -1)
			return -1;
		for (it = json_object_iter(v); it != NULL;
		     it = json_object_iter_next(v, it)) {
			key = json_object_iter_key(it);
			if (yaml_emit_string(e, key, strlen(key)) == -1 ||
			    yaml_emit_node(
				e, json_object_iter_value(it), depth + 1) == -1)
				return -1;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return -1;
		return yaml_emit_event(e, &ev);
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(
			&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
		    yaml_emit_event(e, &ev) == -1)
			return -1;
		for (i = 0; i < json_array_size(v); i++) {
			if (yaml_emit_node(
				e, json_array_get(v, i), depth + 1) == -1)
				return -1;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return -1;
		return yaml_emit_event(e, &ev);
	case JSON_STRING:
		return yaml_emit_string(
		    e, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return yaml_emit_scalar(e, num, strlen(num), 0);
	case JSON_REAL:
		s = json_dumps(v,
		    JSON_ENCODE_ANY |
			JSON_REAL_PRECISION(YAML_DOC_REAL_PRECISION));
		if (s == NULL)
			return -1;
		rc = yaml_emit_scalar(e, s, strlen(s), 0);
		free(s);
		return rc;
	case JSON_TRUE:
		return yaml_emit_scalar(e, "true", 4, 0);
	case JSON_FALSE:
		return yaml_emit_scalar(e, "false", 5, 0);
	case JSON_NULL:
		return yaml_emit_scalar(e, "null", 4, 0);
	}
	return -1;
}

int
yaml_doc_emit(FILE *f, json_t *const *roots, size_t n, char **cause)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	size_t i;
	int rc = -1;

	if (!yaml_emitter_initialize(&e))
		abort();
	yaml_emitter_set_output(&e, yaml_write_cb, f);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_indent(&e, 2);
	yaml_emitter_set_width(&e, -1);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    yaml_emit_event(&e, &ev) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (!yaml_document_start_event_initialize(
			&ev, NULL, NULL, NULL, i == 0) ||
		    yaml_emit_event(&e, &ev) == -1 ||
		    yaml_emit_node(&e, roots[i], 0) == -1 ||
		    !yaml_document_end_event_initialize(&ev, 1) ||
		    yaml_emit_event(&e, &ev) == -1)
			goto out;
	}
	if (!yaml_stream_end_event_initialize(&ev) ||
	    yaml_emit_event(&e, &ev) == -1 || !yaml_emitter_flush(&e))
		goto out;
	rc = 0;
out:
	if (rc == -1)
		xasprintf(cause, "%s",
		    e.problem != NULL ? e.problem : "cannot write YAML");
	yaml_emitter_delete(&e);
	return rc;
}
