#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_field.h"
#include "config_requestauthentication.h"
#include "xmalloc.h"

#define CONFIG_RA_TARGET_NOTE                                                  \
	"weft selects workloads by spec.selector (no Gateway API targets)"

/*
 * http:// or https://, a host (a name, an IPv4 address or an IPv6 one
 * in brackets), an optional port, then a path, query or nothing: as
 * Istio's ParseJwksURI, which then fetches it.
 */
static int
config_ra_url_valid(const char *s)
{
	const char *p, *host;
	size_t n;
	long port;
	char *end;

	if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else
		return 0;
	host = p;
	if (*p == '[') {
		if ((p = strchr(p, ']')) == NULL)
			return 0;
		p++;
	} else
		p += strcspn(p, ":/?#@");
	if (p == host || *p == '@')
		return 0;
	if (*p == ':') {
		n = strspn(p + 1, "0123456789");
		if (n == 0 || n > 5)
			return 0;
		port = strtol(p + 1, &end, 10);
		if (port < 1 || port > 65535)
			return 0;
		p = end;
	}
	if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
		return 0;
	for (; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	}
	return 1;
}

static int
config_ra_jwks_uri(struct config_ctx *ctx, json_t *v)
{
	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	if (config_ra_url_valid(json_string_value(v)))
		return 0;
	config_error(ctx, "\"%s\" is not an http:// or https:// URL",
	    json_string_value(v));
	return -1;
}

/* An inline JWKS: JSON text of an object with a list of keys. */
static int
config_ra_jwks(struct config_ctx *ctx, json_t *v)
{
	json_error_t jerr;
	json_t *jwks, *keys, *key;
	size_t i;
	int rc = -1;

	if (config_nonempty_string(ctx, v) == -1)
		return -1;
	jwks = json_loadb(json_string_value(v), json_string_length(v),
	    JSON_REJECT_DUPLICATES, &jerr);
	if (jwks == NULL) {
		config_error(
		    ctx, "invalid JWKS: %s (line %d)", jerr.text, jerr.line);
		return -1;
	}
	keys = json_object_get(jwks, "keys");
	if (!json_is_array(keys)) {
		config_error(ctx, "invalid JWKS: no \"keys\" list");
		goto out;
	}
	for (i = 0; i < json_array_size(keys); i++) {
		key = json_array_get(keys, i);
		if (!json_is_string(json_object_get(key, "kty"))) {
			config_error(
			    ctx, "invalid JWKS: key %zu has no \"kty\"", i);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(jwks);
	return rc;
}

static int
config_ra_from_header(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"name", config_header_name, CONFIG_REQUIRED, NULL},
	    {"prefix", config_string, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_ra_from_headers(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ra_from_header, 0);
}

static int
config_ra_claim_to_header(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"header", config_header_name, CONFIG_REQUIRED, NULL},
	    {"claim", config_nonempty_string, CONFIG_REQUIRED, NULL},
	    {NULL, NULL, 0, NULL},
	};

	return config_object(ctx, v, fields);
}

static int
config_ra_claims_to_headers(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ra_claim_to_header, 0);
}

static int
config_ra_timeout(struct config_ctx *ctx, json_t *v)
{
	return config_duration(ctx, v, NULL);
}

static int
config_ra_rule(struct config_ctx *ctx, json_t *v)
{
	static const struct config_field fields[] = {
	    {"issuer", config_nonempty_string, CONFIG_REQUIRED, NULL},
	    {"audiences", config_nonempty_strings, 0, NULL},
	    {"jwksUri", config_ra_jwks_uri, 0, NULL},
	    {"jwks", config_ra_jwks, 0, NULL},
	    {"fromHeaders", config_ra_from_headers, 0, NULL},
	    {"fromParams", config_nonempty_strings, 0, NULL},
	    {"forwardOriginalToken", config_bool, 0, NULL},
	    {"outputPayloadToHeader", config_header_name, 0, NULL},
	    {"outputClaimToHeaders", config_ra_claims_to_headers, 0, NULL},
	    {"timeout", config_ra_timeout, 0, NULL},
	    {"fromCookies", NULL, 0,
		"weft reads tokens from headers (fromHeaders) and query "
		"parameters (fromParams)"},
	    {"spaceDelimitedClaims", NULL, 0, NULL},
	    {NULL, NULL, 0, NULL},
	};

	if (config_object(ctx, v, fields) == -1)
		return -1;
	if (json_object_get(v, "jwks") == NULL &&
	    json_object_get(v, "jwksUri") == NULL) {
		config_error(ctx,
		    "must set jwks or jwksUri (weft does not discover the "
		    "keys of an issuer)");
		return -1;
	}
	return 0;
}

static int
config_ra_rules(struct config_ctx *ctx, json_t *v)
{
	return config_list(ctx, v, config_ra_rule, 0);
}

static const struct config_field config_ra_fields[] = {
    {"selector", config_selector, 0, NULL},
    {"jwtRules", config_ra_rules, 0, NULL},
    {"targetRef", NULL, 0, CONFIG_RA_TARGET_NOTE},
    {"targetRefs", NULL, 0, CONFIG_RA_TARGET_NOTE},
    {NULL, NULL, 0, NULL},
};

struct config_ra *
config_ra_parse(struct config_ctx *ctx, json_t *spec)
{
	struct config_ra *ra;
	json_t *rules;

	if (config_object(ctx, spec, config_ra_fields) == -1)
		return NULL;
	ra = xcalloc(1, sizeof(*ra));
	ra->selector = config_selector_labels(spec);
	rules = json_object_get(spec, "jwtRules");
	ra->jwt_rules = rules != NULL ? json_incref(rules) : json_array();
	return ra;
}

void
config_ra_free(struct config_ra *ra)
{
	if (ra == NULL)
		return;
	json_decref(ra->selector);
	json_decref(ra->jwt_rules);
	free(ra);
}
