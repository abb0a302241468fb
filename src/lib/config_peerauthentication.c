#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_peerauthentication.h"
#include "xmalloc.h"

#define CONFIG_PA_TARGET_NOTE                                                  \
	"weft selects workloads by spec.selector (no Gateway API targets)"

static int
config_pa_mode(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {
	    "UNSET", "DISABLE", "PERMISSIVE", "STRICT", NULL};

	return config_enum(ctx, v, values);
}

static int
config_pa_mtls(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"mode", config_pa_mode, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

/* A port number as a map key: decimal, 1 to 65535, no leading zero. */
static int
config_pa_port_key(struct config_ctx *ctx, const char *key)
{
	size_t len = strlen(key);

	if (len > 0 && len <= 5 && key[0] != '0' &&
	    strspn(key, "0123456789") == len && atol(key) <= 65535)
		return 0;
	config_error(ctx, "\"%s\" is not a port number (1 to 65535)", key);
	return -1;
}

static int
config_pa_port_levels(struct config_ctx *ctx, json_t *v)
{
	if (config_map(ctx, v, config_pa_port_key, config_pa_mtls) == -1)
		return -1;
	if (json_object_size(v) == 0) {
		config_error(ctx, "must have at least one port when given");
		return -1;
	}
	return 0;
}

static const struct config_field config_pa_fields[] = {
    {"selector", config_selector, 0, NULL},
    {"mtls", config_pa_mtls, 0, NULL},
    {"portLevelMtls", config_pa_port_levels, 0, NULL},
    {"targetRef", NULL, 0, CONFIG_PA_TARGET_NOTE},
    {"targetRefs", NULL, 0, CONFIG_PA_TARGET_NOTE},
    {NULL, NULL, 0, NULL},
};

static const char *
config_pa_mode_of(json_t *mtls)
{
	const char *s = json_string_value(json_object_get(mtls, "mode"));

	return s != NULL ? s : "UNSET";
}

struct config_pa *
config_pa_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_pa *pa;
	json_t *ports, *selector;
	const char *key;
	json_t *value;
	size_t mark;

	if (config_object(ctx, spec, config_pa_fields) == -1)
		return NULL;
	ports = json_object_get(spec, "portLevelMtls");
	selector = config_selector_labels(spec);
	if (ports != NULL && selector == NULL) {
		/* As Istio: port modes need the workloads' ports known. */
		mark = config_enter(ctx, "portLevelMtls");
		config_error(ctx,
		    "needs a selector with matchLabels (a namespace or mesh "
		    "wide PeerAuthentication cannot set port modes)");
		config_leave(ctx, mark);
		return NULL;
	}
	pa = xcalloc(1, sizeof(*pa));
	pa->selector = selector;
	pa->mode = config_pa_mode_of(json_object_get(spec, "mtls"));
	pa->port_modes = json_object();
	json_object_foreach(ports, key, value)
	{
		json_object_set_new(
		    pa->port_modes, key, json_string(config_pa_mode_of(value)));
	}
	return pa;
}

void
config_pa_free(struct config_pa *pa)
{
	if (pa == NULL)
		return;
	json_decref(pa->selector);
	json_decref(pa->port_modes);
	free(pa);
}
