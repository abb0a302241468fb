#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_ratelimit.h"
#include "xmalloc.h"

static int
config_rl_rate(struct config_ctx *ctx, json_t *v)
{
	double d;

	if (!json_is_number(v)) {
		config_error(
		    ctx, "must be a number, not %s", config_type_name(v));
		return -1;
	}
	d = json_number_value(v);
	if (!(d > 0) || d > CONFIG_RL_MAX_RATE) {
		config_error(ctx, "%g is out of range (above 0, at most %d)", d,
		    CONFIG_RL_MAX_RATE);
		return -1;
	}
	return 0;
}

static int
config_rl_burst(struct config_ctx *ctx, json_t *v)
{
	return config_int(ctx, v, 1, CONFIG_RL_MAX_BURST);
}

static int
config_rl_method(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_header_name_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "invalid method \"%s\"", json_string_value(v));
	return -1;
}

static int
config_rl_methods(struct config_ctx *ctx, json_t *v)
{
	return config_unique_list(ctx, v, config_rl_method, 1, "method");
}

/* "/exact", "/prefix*", "*suffix" or "*" (any path). */
static int
config_rl_path(struct config_ctx *ctx, json_t *v)
{
	const char *s, *star;
	size_t len;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	s = json_string_value(v);
	len = strlen(s);
	if (strcmp(s, "*") == 0)
		return 0;
	star = strchr(s, '*');
	if (star == NULL || (star == s + len - 1)) {
		if (s[0] == '/')
			return 0;
	} else if (star == s && strchr(s + 1, '*') == NULL)
		return 0;
	config_error(ctx,
	    "invalid path \"%s\" (an exact path \"/a\", a prefix \"/a*\", a "
	    "suffix \"*.css\" or \"*\")",
	    s);
	return -1;
}

static int
config_rl_paths(struct config_ctx *ctx, json_t *v)
{
	return config_unique_list(ctx, v, config_rl_path, 1, "path");
}

static int
config_rl_match(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"methods", config_rl_methods, 0, NULL},
	    {"paths", config_rl_paths, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_rl_per(struct config_ctx *ctx, json_t *v)
{
	static const char *const values[] = {"source", "header", NULL};

	return config_enum(ctx, v, values);
}

static int
config_rl_limit(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"requestsPerSecond", config_rl_rate, CONFIG_REQUIRED, NULL},
	    {"burst", config_rl_burst, 0, NULL},
	    {"match", config_rl_match, 0, NULL},
	    {"per", config_rl_per, 0, NULL},
	    {"header", config_header_name, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};
	const char *per;
	size_t mark;

	if (config_object(ctx, v, fields) == -1)
		return -1;
	per = json_string_value(json_object_get(v, "per"));
	if (per != NULL && strcmp(per, "header") == 0 &&
	    json_object_get(v, "header") == NULL) {
		mark = config_enter(ctx, "header");
		config_error(ctx, "required with per: header");
		config_leave(ctx, mark);
		return -1;
	}
	if ((per == NULL || strcmp(per, "header") != 0) &&
	    json_object_get(v, "header") != NULL) {
		mark = config_enter(ctx, "header");
		config_error(ctx, "only with per: header");
		config_leave(ctx, mark);
		return -1;
	}
	return 0;
}

static int
config_rl_limits(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_rl_limit, 1);
}

static const struct config_field config_rl_fields[] = {
    {"selector", config_selector, 0, NULL},
    {"limits", config_rl_limits, CONFIG_REQUIRED, NULL},
    {NULL, NULL, 0, NULL},
};

/* One limit of a checked spec, with its defaults. */
static json_t *
config_rl_normalize(json_t *v)
{
	json_t *out, *rate, *burst, *match, *per, *header;
	char *lower, *p;
	double b;

	rate = json_object_get(v, "requestsPerSecond");
	burst = json_object_get(v, "burst");
	match = json_object_get(v, "match");
	per = json_object_get(v, "per");
	header = json_object_get(v, "header");
	out = json_object();
	json_object_set(out, "requestsPerSecond", rate);
	if (burst != NULL)
		json_object_set(out, "burst", burst);
	else {
		b = ceil(json_number_value(rate));
		json_object_set_new(
		    out, "burst", json_integer(b < 1 ? 1 : (json_int_t)b));
	}
	if (json_object_size(match) > 0)
		json_object_set(out, "match", match);
	if (per != NULL)
		json_object_set(out, "per", per);
	if (header != NULL) {
		lower = xstrdup(json_string_value(header));
		for (p = lower; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		json_object_set_new(out, "header", json_string(lower));
		free(lower);
	}
	return out;
}

struct config_rl *
config_rl_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_rl *rl;
	json_t *limits;
	size_t i;

	if (config_object(ctx, spec, config_rl_fields) == -1)
		return NULL;
	rl = xcalloc(1, sizeof(*rl));
	rl->selector = config_selector_labels(spec);
	rl->limits = json_array();
	limits = json_object_get(spec, "limits");
	for (i = 0; i < json_array_size(limits); i++)
		json_array_append_new(
		    rl->limits, config_rl_normalize(json_array_get(limits, i)));
	return rl;
}

void
config_rl_free(struct config_rl *rl)
{
	if (rl == NULL)
		return;
	json_decref(rl->selector);
	json_decref(rl->limits);
	free(rl);
}
