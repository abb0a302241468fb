/*
 * libFuzzer harness for the Kubernetes injection (src/lib/inject.c):
 * whatever JSON a caller of the admission webhook sends, the answer is
 * an AdmissionReview or a reason, never a crash; a patch in the answer
 * always applies to the pod it was made for; and any patch applies to
 * any document or fails cleanly.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "inject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The patch of the answer applies to a copy of request.object. */
static void
check_patch(const json_t *review, const json_t *answer)
{
	const char *b64;
	json_t *patch, *pod;
	char *cause = NULL;
	void *raw;
	size_t len;

	b64 = json_string_value(
	    json_object_get(json_object_get(answer, "response"), "patch"));
	if (b64 == NULL)
		return;
	if ((raw = base64_decode(b64, &len)) == NULL)
		abort();
	patch = json_loadb(raw, len, 0, NULL);
	free(raw);
	pod = json_deep_copy(
	    json_object_get(json_object_get(review, "request"), "object"));
	if (patch == NULL || pod == NULL ||
	    inject_patch_apply(pod, patch, &cause) == -1)
		abort();
	json_decref(pod);
	json_decref(patch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_conf c;
	json_t *v, *answer, *copy;
	const char *note;
	char *cause = NULL;

	if ((v = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	inject_conf_init(&c);
	c.native_sidecars = size % 2;
	answer = inject_admission(&c, v, &note, &cause);
	if ((answer == NULL) == (cause == NULL))
		abort();
	if (answer != NULL)
		check_patch(v, answer);
	json_decref(answer);
	free(cause);
	cause = NULL;
	/* The document as a patch of itself, and of its first member. */
	copy = json_deep_copy(v);
	if (inject_patch_apply(copy, v, &cause) == -1 && cause == NULL)
		abort();
	free(cause);
	json_decref(copy);
	json_decref(v);
	return 0;
}
