/*
 * Configuration input as data: a buffer holding YAML documents (or JSON
 * values) turned into jansson values, and jansson values written back as
 * YAML. The only module that uses libyaml.
 *
 * Plain YAML scalars are typed as YAML 1.2's core schema does: null, ~
 * and the empty scalar are null; true and false booleans; decimal, 0x
 * and 0o integers; decimal floats. Everything else, and every quoted or
 * block scalar, is a string (so "yes", "on" and "0123" are strings).
 * Anchors, aliases and tags other than the standard ones are refused.
 */
#ifndef WEFT_YAML_DOC_H
#define WEFT_YAML_DOC_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Reals are written with this many significant digits, everywhere. */
#define YAML_DOC_REAL_PRECISION 15

struct yaml_doc {
	json_t *root; /* NULL for an empty document */
	int line;     /* where the document starts, from 1 */
};

struct yaml_docs {
	struct yaml_doc *v;
	size_t n;
};

/*
 * Parses the len bytes of buf: a stream of YAML documents, or of JSON
 * values separated by white space. Returns 0 with docs filled (the
 * caller clears it with yaml_docs_clear), or -1 with *errdoc set to the
 * 1-based number of the document at fault and *cause to an allocated
 * "line L, column C: problem" message; docs is then empty.
 */
int yaml_doc_parse(const char *buf, size_t len, struct yaml_docs *docs,
    int *errdoc, char **cause);

/* Releases what docs holds and empties it. */
void yaml_docs_clear(struct yaml_docs *docs);

/*
 * Writes the n values of roots to f as a YAML stream, one document each
 * (separated by "---"), in a form yaml_doc_parse reads back as the same
 * values. Returns 0, or -1 with *cause set on an output error.
 */
int yaml_doc_emit(FILE *f, json_t *const *roots, size_t n, char **cause);

#endif
