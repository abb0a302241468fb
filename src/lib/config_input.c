/* Configuration input from a buffer (see config_input.h). */
#include "config.h"

#include <stdlib.h>

#include "config_input.h"
#include "yaml_doc.h"

void
config_input_buffer(const char *buf, size_t len, const char *name,
    const char *ns, int flags, struct config_resources *out,
    struct config_errors *errs)
{
	struct yaml_docs docs;
	char *cause;
	size_t i;
	int errdoc;

	if (yaml_doc_parse(buf, len, &docs, &errdoc, &cause) == -1) {
		config_errors_add(errs, name, errdoc, NULL, NULL, "%s", cause);
		free(cause);
		return;
	}
	for (i = 0; i < docs.n; i++) {
		if (docs.v[i].root == NULL)
			continue; /* an empty document, as after a final --- */
		config_document(
		    docs.v[i].root, name, (int)i + 1, ns, flags, out, errs);
	}
	yaml_docs_clear(&docs);
}
