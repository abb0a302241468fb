/*
 * Unit tests for src/lib/yaml_doc.c: YAML and JSON documents into
 * jansson values (scalar typing, several documents, where errors are),
 * and values written back as YAML that reads as the same values.
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

#include "yaml_doc.h"

/* Parses text, which must succeed. */
static void
parse_ok(const char *text, struct yaml_docs *docs)
{
	char *cause = NULL;
	int errdoc = 0;

	if (yaml_doc_parse(text, strlen(text), docs, &errdoc, &cause) != 0)
		fail_msg("document %d: %s", errdoc, cause);
	assert_null(cause);
}

/* Parses text, which must fail in document doc with message cause. */
static void
parse_fails(const char *text, int doc, const char *want)
{
	struct yaml_docs docs;
	char *cause = NULL;
	int errdoc = 0;

	assert_int_equal(
	    yaml_doc_parse(text, strlen(text), &docs, &errdoc, &cause), -1);
	assert_int_equal(docs.n, 0);
	assert_null(docs.v);
	assert_int_equal(errdoc, doc);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);
}

/* The one document of text, as compact JSON. */
static char *
one_doc_json(const char *text)
{
	struct yaml_docs docs;
	char *s;

	parse_ok(text, &docs);
	assert_int_equal(docs.n, 1);
	assert_non_null(docs.v[0].root);
	s = json_dumps(docs.v[0].root, JSON_COMPACT | JSON_ENCODE_ANY);
	yaml_docs_clear(&docs);
	return s;
}

static void
expect_json(const char *yaml, const char *json)
{
	char *s = one_doc_json(yaml);

	assert_string_equal(s, json);
	free(s);
}

static void
test_plain_scalars_typed(void **state)
{
	expect_json("a: 1\nb: -7\nc: 0x1F\nd: 0o17\ne: +3\n",
	    "{\"a\":1,\"b\":-7,\"c\":31,\"d\":15,\"e\":3}");
	expect_json("a: 1.5\nb: .5\nc: 1e3\nd: -2.0\n",
	    "{\"a\":1.5,\"b\":0.5,\"c\":1000.0,\"d\":-2.0}");
	expect_json("a: true\nb: False\nc: TRUE\nd: false\n",
	    "{\"a\":true,\"b\":false,\"c\":true,\"d\":false}");
	expect_json("a: null\nb: ~\nc:\nd: Null\n",
	    "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
	/* YAML 1.1's other booleans stay strings. */
	expect_json("a: yes\nb: off\nc: on\nd: N\n",
	    "{\"a\":\"yes\",\"b\":\"off\",\"c\":\"on\",\"d\":\"N\"}");
	expect_json("a: 1.2.3\nb: 1_000\nc: 0x\nd: 12abc\ne: 5s\n",
	    "{\"a\":\"1.2.3\",\"b\":\"1_000\",\"c\":\"0x\",\"d\":\"12abc\","
	    "\"e\":\"5s\"}");
}

static void
test_quoted_and_block_scalars_are_strings(void **state)
{
	expect_json("a: \"1\"\nb: 'true'\nc: \"\"\nd: 'null'\n",
	    "{\"a\":\"1\",\"b\":\"true\",\"c\":\"\",\"d\":\"null\"}");
	expect_json("a: |\n  one\n  two\nb: >\n  x\n  y\n",
	    "{\"a\":\"one\\ntwo\\n\",\"b\":\"x y\\n\"}");
	expect_json("a: !!str 80\nb: !!float 1\nc: !!int \"7\"\n",
	    "{\"a\":\"80\",\"b\":1.0,\"c\":7}");
}

static void
test_collections(void **state)
{
	expect_json("hosts:\n- reviews\n- ratings\nport: {number: 9080}\n"
		    "empty: []\nnone: {}\n",
	    "{\"hosts\":[\"reviews\",\"ratings\"],\"port\":{\"number\":9080},"
	    "\"empty\":[],\"none\":{}}");
	/* Key order is kept. */
	expect_json("z: 1\na: 2\nm: 3\n", "{\"z\":1,\"a\":2,\"m\":3}");
	/* Keys are text, whatever they look like. */
	expect_json("80: a\ntrue: b\n", "{\"80\":\"a\",\"true\":\"b\"}");
}

static void
test_documents_and_lines(void **state)
{
	const char *text = "# leading comment\n"
			   "a: 1\n"
			   "---\n"
			   "b: 2\n"
			   "---\n"
			   "---\n"
			   "\n"
			   "c: 3\n"
			   "---\n";
	struct yaml_docs docs;

	parse_ok(text, &docs);
	assert_int_equal(docs.n, 5);
	assert_non_null(docs.v[0].root);
	assert_int_equal(docs.v[0].line, 2);
	assert_int_equal(docs.v[1].line, 3);
	assert_null(docs.v[2].root); /* empty */
	assert_int_equal(docs.v[3].line, 6);
	assert_int_equal(
	    json_integer_value(json_object_get(docs.v[3].root, "c")), 3);
	assert_null(docs.v[4].root); /* after the final --- */
	yaml_docs_clear(&docs);
	assert_int_equal(docs.n, 0);

	parse_ok("", &docs);
	assert_int_equal(docs.n, 0);
	yaml_docs_clear(&docs);
	parse_ok("# only a comment\n", &docs);
	assert_int_equal(docs.n, 0);
	yaml_docs_clear(&docs);
}

static void
test_errors_located(void **state)
{
	parse_fails("a: 1\n---\nb: [1, 2\n", 2,
	    "line 4, column 1: did not find expected ',' or ']' (while "
	    "parsing a flow sequence)");
	parse_fails("a: b: c\n", 1,
	    "line 1, column 5: mapping values are not allowed in this "
	    "context");
	parse_fails(
	    "a: 1\nb: 2\na: 3\n", 1, "line 3, column 1: duplicate key \"a\"");
	parse_fails("a: &x 1\nb: *x\n", 1,
	    "line 1, column 4: anchors (&x) are not supported");
	parse_fails(
	    "b: *x\n", 1, "line 1, column 4: aliases (*x) are not supported");
	parse_fails("<<: {a: 1}\n", 1,
	    "line 1, column 1: merge keys (<<) are not supported");
	parse_fails(
	    "a: !foo x\n", 1, "line 1, column 4: tag !foo is not supported");
	parse_fails(
	    "a: !!int x\n", 1, "line 1, column 4: \"x\" is not a valid !!int");
	parse_fails("a: .inf\n", 1,
	    "line 1, column 4: .inf: infinite and NaN numbers are not "
	    "supported");
	parse_fails("a: 99999999999999999999\n", 1,
	    "line 1, column 4: integer 99999999999999999999 is out of range");
	parse_fails("? [a]\n: 1\n", 1,
	    "line 1, column 3: mapping keys must be strings");
	parse_fails("a: \"x\\0y\"\n", 1,
	    "line 1, column 4: strings must not contain NUL characters");
	parse_fails("a: \"\xff\"\n", 1,
	    "line 1, column 5: invalid leading UTF-8 octet");
}

static void
test_json(void **state)
{
	struct yaml_docs docs;

	/* Tabs before keys: JSON that libyaml alone would refuse. */
	parse_ok("{\n\t\"a\": 1,\n\t\"b\": [true, null, 2.5]\n}\n"
		 "{\"c\": \"d\"}\n",
	    &docs);
	assert_int_equal(docs.n, 2);
	assert_int_equal(docs.v[0].line, 1);
	assert_int_equal(docs.v[1].line, 5);
	assert_true(json_is_true(
	    json_array_get(json_object_get(docs.v[0].root, "b"), 0)));
	assert_true(json_is_real(
	    json_array_get(json_object_get(docs.v[0].root, "b"), 2)));
	yaml_docs_clear(&docs);

	expect_json("\xef\xbb\xbf{\"a\": 1}", "{\"a\":1}");
	/* YAML flow mappings that are not JSON still read as YAML. */
	expect_json("{a: 1, b: [x]}", "{\"a\":1,\"b\":[\"x\"]}");
	parse_fails("{\"a\": 1}\n{\"a\": 1, \"a\": 2}\n", 2,
	    "line 2, column 12: duplicate object key near '\"a\"'");
	parse_fails("{\n\t\"a\": 1,,\n}\n", 1,
	    "line 2, column 9: string or '}' expected near ','");
}

/* Emits value, parses the output back and compares. */
static void
roundtrip(json_t *v, const char *want_yaml)
{
	struct yaml_docs docs;
	char *buf = NULL, *cause = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	if (yaml_doc_emit(f, &v, 1, &cause) != 0)
		fail_msg("yaml_doc_emit: %s", cause);
	assert_int_equal(fclose(f), 0);
	if (want_yaml != NULL)
		assert_string_equal(buf, want_yaml);
	parse_ok(buf, &docs);
	assert_int_equal(docs.n, 1);
	if (!json_equal(docs.v[0].root, v)) {
		char *a = json_dumps(v, JSON_COMPACT);
		char *b = json_dumps(docs.v[0].root, JSON_COMPACT);

		fail_msg("%s came back as %s (YAML: %s)", a, b, buf);
	}
	yaml_docs_clear(&docs);
	free(buf);
}

static void
test_emit_roundtrip(void **state)
{
	json_t *v;

	v = json_pack("{s:s, s:[s, s], s:{s:i}}", "name", "reviews", "hosts",
	    "reviews", "ratings", "port", "number", 9080);
	roundtrip(v,
	    "name: reviews\nhosts:\n- reviews\n- ratings\nport:\n"
	    "  number: 9080\n");
	json_decref(v);

	/* Strings that would read back as something else are quoted. */
	v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "a", "123",
	    "b", "true", "c", "", "d", "yes", "e", "null", "f", "1.5", "g",
	    "a: b", "h", "#x");
	roundtrip(v,
	    "a: '123'\nb: 'true'\nc: ''\nd: 'yes'\ne: 'null'\nf: '1.5'\n"
	    "g: 'a: b'\nh: '#x'\n");
	json_decref(v);

	v = json_pack("{s:f, s:f, s:I, s:b, s:n, s:[], s:{}, s:s}", "a", 100.0,
	    "b", 0.1, "c", (json_int_t)-5, "d", 1, "e", "f", "g", "h",
	    "two\nlines\n");
	roundtrip(v,
	    "a: 100.0\nb: 0.1\nc: -5\nd: true\ne: null\nf: []\ng: {}\n"
	    "h: |\n  two\n  lines\n");
	json_decref(v);

	v = json_pack("{s:s, s:s}", "a", " lead", "b", "trail \n");
	roundtrip(v, NULL);
	json_decref(v);
}

static void
test_emit_documents(void **state)
{
	json_t *v[2];
	char *buf = NULL, *cause = NULL;
	size_t len = 0;
	FILE *f;

	v[0] = json_pack("{s:i}", "a", 1);
	v[1] = json_pack("{s:i}", "b", 2);
	f = open_memstream(&buf, &len);
	assert_int_equal(yaml_doc_emit(f, v, 2, &cause), 0);
	fclose(f);
	assert_string_equal(buf, "a: 1\n---\nb: 2\n");
	free(buf);
	json_decref(v[0]);
	json_decref(v[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_scalars_typed),
	    cmocka_unit_test(test_quoted_and_block_scalars_are_strings),
	    cmocka_unit_test(test_collections),
	    cmocka_unit_test(test_documents_and_lines),
	    cmocka_unit_test(test_errors_located),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_emit_roundtrip),
	    cmocka_unit_test(test_emit_documents),
	};

	return cmocka_run_group_tests_name("yaml_doc", tests, NULL, NULL);
}
