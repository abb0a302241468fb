#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int
duration_parse(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
	    {"d", 86400000}, {"", 1000}};
	char *end;
	double v;
	size_t i;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -1;
	/*
	 * strtod also skips leading white space and takes hex, exponents,
	 * "inf" and "nan": accept only decimal digits and a point.
	 */
	if (strspn(s, "0123456789.") != (size_t)(end - s))
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			v *= units[i].ms;
			if (v > 9e15)
				return -1;
			*ms = (int64_t)(v + 0.5);
			return 0;
		}
	}
	return -1;
}
