/*
 * Unit tests for duration parsing (src/lib/duration.c): every unit, bare
 * seconds, fractions and rounding, and the inputs that must be refused
 * without touching the result.
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

#include "duration.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* What an input must not change when it is refused. */
#define UNTOUCHED INT64_C(-424242)

struct ok_case {
	const char *in;
	int64_t ms;
};

static void
test_valid(void **state)
{
	static const struct ok_case cases[] = {
	    {"250ms", 250},
	    {"5s", 5000},
	    {"1.5s", 1500},
	    {"1m", 60000},
	    {"24h", INT64_C(86400000)},
	    {"1d", INT64_C(86400000)},
	    {"10", 10000},
	    {"0", 0},
	    {"0s", 0},
	    {"0ms", 0},
	    {"2h", INT64_C(7200000)},
	    {"1.5m", 90000},
	    {"0.5h", INT64_C(1800000)},
	    {"7d", INT64_C(604800000)},
	    {"1.25", 1250},
	    {"0.001s", 1},
	    {"999ms", 999},
	    {"007s", 7000},
	    /* Fractions of a millisecond round to the nearest one. */
	    {"1.4ms", 1},
	    {"1.5ms", 2},
	    {"0.0004s", 0},
	    /* Up to about 9e15 ms (285,000 years) fits. */
	    {"100000000d", INT64_C(8640000000000000)},
	};
	size_t i;
	int64_t ms;

	for (i = 0; i < NCASES(cases); i++) {
		ms = UNTOUCHED;
		if (duration_parse(cases[i].in, &ms) != 0)
			fail_msg("\"%s\" refused", cases[i].in);
		if (ms != cases[i].ms)
			fail_msg("\"%s\": %lld ms, want %lld", cases[i].in,
			    (long long)ms, (long long)cases[i].ms);
	}
}

static void
test_invalid(void **state)
{
	static const char *const cases[] = {
	    "",
	    "-1s",
	    "-0",
	    "5x",
	    "s",
	    "ms",
	    " 5s",
	    "5s ",
	    "5 s",
	    "1e400",
	    "+5s",
	    "5S",
	    "5sec",
	    "5mss",
	    "1h30m",
	    ".",
	    ".s",
	    "nan",
	    "inf",
	    "infs",
	    /* strtod takes these, a duration does not. */
	    "\t5s",
	    "\n5s",
	    "0x10s",
	    "0x1p3s",
	    "1e3s",
	    "1E3",
	    /* Past the int64_t range in milliseconds. */
	    "10000000000000000ms",
	    "200000000d",
	    "99999999999999999999",
	};
	size_t i;
	int64_t ms;

	for (i = 0; i < NCASES(cases); i++) {
		ms = UNTOUCHED;
		if (duration_parse(cases[i], &ms) != -1)
			fail_msg("\"%s\" accepted as %lld ms", cases[i],
			    (long long)ms);
		assert_int_equal(ms, UNTOUCHED);
	}
	ms = UNTOUCHED;
	assert_int_equal(duration_parse(NULL, &ms), -1);
	assert_int_equal(ms, UNTOUCHED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
