#include "config.h"

#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init_exec.h"
#include "init_ipt.h"
#include "log.h"
#include "xmalloc.h"

/*
 * One line out of a helper's stderr: its lines joined by "; ",
 * without the "Try `iptables-restore -h'" advice.
 */
static char *
init_ipt_errline(const struct init_buf *err)
{
	struct init_buf *b;
	const char *line, *next;
	char *s;
	size_t len;

	b = init_buf_new();
	for (line = err->data; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL)
			next = line + strlen(line);
		len = (size_t)(next - line);
		if (*next == '\n')
			next++;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			len--;
		if (len == 0 || strncmp(line, "Try `", 5) == 0)
			continue;
		if (b->len > 0)
			init_buf_printf(
			    b, b->data[b->len - 1] == ':' ? " " : "; ");
		init_buf_add(b, line, len);
	}
	if (b->len == 0)
		init_buf_printf(b, "no error message");
	s = xstrdup(b->data);
	init_buf_free(b);
	return s;
}

/*
 * Runs path with up to two arguments. Its stderr is the cause when it
 * fails; when it succeeds, a warning (restore) or a debug message (save
 * repeats its "legacy tables present" note, which weft checks itself).
 */
static int
init_ipt_run(const char *path, const char *arg1, const char *arg2,
    const struct init_buf *input, struct init_buf *out, char **cause)
{
	char *argv[4];
	struct init_buf *err;
	char *line;
	int status, i = 0;

	argv[i++] = (char *)path;
	if (arg1 != NULL)
		argv[i++] = (char *)arg1;
	if (arg2 != NULL)
		argv[i++] = (char *)arg2;
	argv[i] = NULL;
	err = init_buf_new();
	if (init_exec_run(path, argv, input != NULL ? input->data : NULL,
		input != NULL ? input->len : 0, out, err, &status) == -1) {
		if (errno == ENOENT)
			xasprintf(cause,
			    "%s not found: install the Debian package "
			    "iptables",
			    path);
		else
			xasprintf(
			    cause, "cannot run %s: %s", path, strerror(errno));
		init_buf_free(err);
		return -1;
	}
	if (status != 0) {
		line = init_ipt_errline(err);
		xasprintf(cause, "%s failed (exit %d): %s", path, status, line);
		free(line);
		init_buf_free(err);
		return -1;
	}
	if (err->len > 0) {
		line = init_ipt_errline(err);
		if (input != NULL)
			log_warnx("%s: %s", path, line);
		else
			log_debug("%s: %s", path, line);
		free(line);
	}
	init_buf_free(err);
	return 0;
}

int
init_ipt_open(struct init_ipt *ipt, int family, char **cause)
{
	const char *conf, *base;
	char *dir, *stem, *p;
	struct init_buf *out;
	size_t len;

	memset(ipt, 0, sizeof(*ipt));
	ipt->family = family;
	conf = family == AF_INET ? IPTABLES_RESTORE : IP6TABLES_RESTORE;
	base = strrchr(conf, '/');
	base = base != NULL ? base + 1 : conf;
	len = strlen(base);
	if (len <= 8 || strcmp(base + len - 8, "-restore") != 0) {
		xasprintf(cause, "%s: not an iptables restore program", conf);
		return -1;
	}
	ipt->restore = xstrdup(conf);
	ipt->restore_name = xstrdup(base);
	dir = xstrdup(conf);
	dir[base - conf] = '\0';
	stem = xstrdup(base);
	stem[len - 8] = '\0';
	xasprintf(&ipt->save, "%s%s-save", dir, stem);
	/* "iptables-nft" and "iptables-legacy" share the stem "iptables". */
	if ((p = strrchr(stem, '-')) != NULL &&
	    (strcmp(p, "-nft") == 0 || strcmp(p, "-legacy") == 0))
		*p = '\0';

	out = init_buf_new();
	if (init_ipt_run(ipt->restore, "--version", NULL, NULL, out, cause) ==
	    -1) {
		free(dir);
		free(stem);
		init_buf_free(out);
		init_ipt_close(ipt);
		return -1;
	}
	/* Before 1.8 there was only the legacy backend, with no tag. */
	ipt->legacy = strstr(out->data, "(nf_tables)") == NULL;
	xasprintf(&ipt->other_save, "%s%s-%s-save", dir, stem,
	    ipt->legacy ? "nft" : "legacy");
	free(dir);
	free(stem);
	init_buf_free(out);
	return 0;
}

void
init_ipt_close(struct init_ipt *ipt)
{
	free(ipt->restore);
	free(ipt->save);
	free(ipt->other_save);
	free(ipt->restore_name);
	ipt->restore = ipt->save = ipt->other_save = NULL;
	ipt->restore_name = NULL;
}

int
init_ipt_state(const struct init_ipt *ipt, struct init_state *st, char **cause)
{
	static const char *const tables[] = {"nat", "mangle"};
	struct init_buf *out;
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		out = init_buf_new();
		if (init_ipt_run(
			ipt->save, "-t", tables[i], NULL, out, cause) == -1) {
			init_buf_free(out);
			return -1;
		}
		init_state_parse(st, out->data);
		init_buf_free(out);
	}
	return 0;
}

/*
 * Does the legacy backend have a nat table in this network namespace?
 * Asking iptables-legacy-save would load the legacy modules and create
 * one; the kernel lists the tables it has in /proc.
 */
static int
init_ipt_legacy_nat(int family)
{
	const char *path = family == AF_INET ? "/proc/net/ip_tables_names"
					     : "/proc/net/ip6_tables_names";
	char line[64];
	FILE *f;
	int found = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "nat\n") == 0 || strcmp(line, "nat") == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

int
init_ipt_mismatch(const struct init_ipt *ipt, int weft_only, char **cause)
{
	const char *line, *next, *what;
	struct init_buf *out;
	size_t rules = 0;
	char *c2 = NULL;

	if (!ipt->legacy && !init_ipt_legacy_nat(ipt->family))
		return 0;
	if (access(ipt->other_save, X_OK) == -1)
		return 0;
	out = init_buf_new();
	if (init_ipt_run(ipt->other_save, "-t", "nat", NULL, out, &c2) == -1) {
		/* No readable table there: nothing to conflict with. */
		log_debug("%s", c2);
		free(c2);
		init_buf_free(out);
		return 0;
	}
	for (line = out->data; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (weft_only) {
			if (line[0] == ':' &&
			    strncmp(line + 1, INIT_CHAIN_PREFIX,
				strlen(INIT_CHAIN_PREFIX)) == 0)
				rules++;
		} else if (strncmp(line, "-A ", 3) == 0)
			rules++;
	}
	init_buf_free(out);
	if (rules == 0)
		return 0;
	what = weft_only ? "weft chain(s)" : "rule(s)";
	if (ipt->legacy)
		xasprintf(cause,
		    "%s uses the legacy backend, but the nf_tables nat table "
		    "holds %zu %s (see %s -t nat): rules in both backends "
		    "all apply, so capture would not be what weft installs; "
		    "use the nf_tables variant (update-alternatives)",
		    ipt->restore_name, rules, what, ipt->other_save);
	else
		xasprintf(cause,
		    "%s uses nf_tables, but the legacy nat table holds %zu "
		    "%s (see %s -t nat): rules in both backends all apply, "
		    "so capture would not be what weft installs; remove "
		    "them, or use the legacy variant (update-alternatives)",
		    ipt->restore_name, rules, what, ipt->other_save);
	return -1;
}

/* Finds the input line number an iptables-restore error names. */
static long
init_ipt_errlineno(const char *err)
{
	const char *p;

	for (p = err; (p = strstr(p, "line")) != NULL; p += 4) {
		const char *q = p + 4;

		if (*q == ':')
			q++;
		while (*q == ' ')
			q++;
		if (isdigit((unsigned char)*q))
			return strtol(q, NULL, 10);
	}
	return -1;
}

int
init_ipt_restore(
    const struct init_ipt *ipt, const struct init_buf *input, char **cause)
{
	const char *line, *end;
	struct init_buf *out;
	char *c2 = NULL;
	long n, lineno;

	out = init_buf_new();
	if (init_ipt_run(ipt->restore, "--noflush", NULL, input, out, &c2) ==
	    -1) {
		init_buf_free(out);
		lineno = init_ipt_errlineno(c2);
		line = input->data;
		for (n = 1; lineno > 0 && n < lineno && line != NULL; n++) {
			line = strchr(line, '\n');
			if (line != NULL)
				line++;
		}
		if (lineno > 0 && line != NULL && *line != '\0') {
			end = strchr(line, '\n');
			if (end == NULL)
				end = line + strlen(line);
			xasprintf(cause, "%s (input line %ld: %.*s)", c2,
			    lineno, (int)(end - line), line);
			free(c2);
		} else
			*cause = c2;
		return -1;
	}
	init_buf_free(out);
	return 0;
}
