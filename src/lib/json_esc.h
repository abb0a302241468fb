/*
 * JSON string values written straight into an evbuffer, for the lines
 * that the proxy emits per request (the access log, tap events), where
 * building a jansson tree would cost an allocation per field.
 */
#ifndef WEFT_JSON_ESC_H
#define WEFT_JSON_ESC_H

#include <event2/buffer.h>

/*
 * Appends "key":"value" to b, preceded by a comma when comma is
 * nonzero, with value escaped as RFC 8259 requires (quote, backslash
 * and control characters).
 */
void json_esc_field(
    struct evbuffer *b, const char *key, const char *value, int comma);

#endif
