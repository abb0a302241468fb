/*
 * Configuration input from a buffer: YAML (or JSON) documents to checked
 * resources. weftctl reads files into buffers; weft-server reads request
 * bodies; both then report the same errors.
 */
#ifndef WEFT_CONFIG_INPUT_H
#define WEFT_CONFIG_INPUT_H

#include <stddef.h>

#include "config_doc.h"

/*
 * Reads the documents of buf (len bytes) named name in messages, as
 * config_document does with ns and flags: resources to out, errors to
 * errs. Empty documents are skipped.
 */
void config_input_buffer(const char *buf, size_t len, const char *name,
    const char *ns, int flags, struct config_resources *out,
    struct config_errors *errs);

#endif
