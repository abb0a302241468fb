/* Durations on command lines and in config: "250ms", "5s", "1m", "24h". */
#ifndef WEFT_DURATION_H
#define WEFT_DURATION_H

#include <stdint.h>

/*
 * Parses s into milliseconds. Units: ms, s, m, h, d; a bare number is
 * seconds; fractions ("1.5s") are allowed. Returns 0, or -1 on anything
 * else (negative, empty, overflowing, unknown unit).
 */
int duration_parse(const char *s, int64_t *ms);

#endif
