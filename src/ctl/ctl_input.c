#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_input.h"
#include "ctl.h"
#include "xmalloc.h"

/* Larger inputs are refused, not read without bound. */
#define CTL_INPUT_MAX (64 * 1024 * 1024)

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weftctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

void
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weftctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(CTL_EXIT_USAGE);
}

void
ctl_option_error(const char *cmd, int ch, char *const *argv)
{
	if (ch == ':')
		ctl_usage_error("%s: %s needs a value", cmd, argv[optind - 1]);
	ctl_usage_error("%s: unknown option %s", cmd, argv[optind - 1]);
}

char *
ctl_applied_by(void)
{
	char host[256], *s;
	const char *user;
	struct passwd *pw;

	user = getenv("USER");
	if (user == NULL || *user == '\0') {
		pw = getpwuid(geteuid());
		user = pw != NULL ? pw->pw_name : NULL;
	}
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (user == NULL || *user == '\0' || host[0] == '\0')
		return xstrdup("weftctl");
	xasprintf(&s, "%s@%s", user, host);
	return s;
}

void
ctl_print_errors(const struct config_errors *errs)
{
	size_t i;
	char *s;

	for (i = 0; i < errs->n; i++) {
		s = config_error_string(&errs->v[i]);
		if (errs->v[i].file == NULL)
			fprintf(stderr, "weftctl: %s\n", s);
		else
			fprintf(stderr, "%s\n", s);
		free(s);
	}
}

/* Reads all of fd into *buf (NUL-terminated); returns -1 with errno. */
static int
ctl_read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	ssize_t r;
	char *b, *nb;

	b = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= CTL_INPUT_MAX) {
				free(b);
				errno = EFBIG;
				return -1;
			}
			cap *= 2;
			if ((nb = realloc(b, cap + 1)) == NULL) {
				free(b);
				errno = ENOMEM;
				return -1;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			free(b);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int
ctl_input_read(const char *file, char **buf, size_t *len, char **cause)
{
	const char *name;
	int fd;

	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
		name = "<stdin>";
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		name = file;
		if (fd == -1) {
			xasprintf(cause, "%s: %s", file, strerror(errno));
			return -1;
		}
	}
	if (ctl_read_all(fd, buf, len) == -1) {
		xasprintf(cause, "%s: %s", name,
		    errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
		if (fd != STDIN_FILENO)
			close(fd);
		return -1;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return 0;
}

static void
ctl_input_file(const char *file, const char *ns, int flags,
    struct config_resources *out, struct config_errors *errs, json_t *raw)
{
	const char *name;
	json_t *content;
	char *buf, *cause = NULL;
	size_t len;

	name = strcmp(file, "-") == 0 ? "<stdin>" : file;
	if (ctl_input_read(file, &buf, &len, &cause) == -1) {
		config_errors_add(errs, NULL, 0, NULL, NULL, "%s", cause);
		free(cause);
		return;
	}
	config_input_buffer(buf, len, name, ns, flags, out, errs);
	if (raw != NULL) {
		if ((content = json_stringn(buf, len)) == NULL)
			config_errors_add(errs, NULL, 0, NULL, NULL,
			    "%s: not UTF-8 text", name);
		else
			json_array_append_new(raw,
			    json_pack("{s:s, s:o}", "name", name, "content",
				content));
	}
	free(buf);
}

size_t
ctl_input_load(char *const *files, size_t nfiles, const char *ns, int flags,
    struct config_resources *out, struct config_errors *errs, json_t *raw)
{
	size_t i, before = errs->n;

	for (i = 0; i < nfiles; i++)
		ctl_input_file(files[i], ns, flags, out, errs, raw);
	return errs->n - before;
}
