/*
 * weftctl join: makes this machine (a VM) a workload of the mesh. It
 * checks its input, asks weft-server once who the join token is for
 * (over TLS pinned to the token's CA fingerprint, so a wrong server or
 * a wrong token fails before anything is written), writes the settings
 * the systemd units read (ETC/default/weft, keeping the operator's other
 * lines) and the join token (ETC/weft/join-token, 0600), and starts the
 * units. Running it again updates the settings. weftctl leave stops
 * and disables the units, and with --purge removes what join wrote.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config_field.h"
#include "ctl.h"
#include "https_client.h"
#include "log.h"
#include "xmalloc.h"

extern char **environ;

#define JOIN_UNITS     "weft-init.service weft-proxy.service weft-sync.service"
#define JOIN_PROXY_USR "weft-proxy"

/* The settings join writes, in the order of the settings file. */
enum {
	JOIN_WORKLOAD,
	JOIN_NAMESPACE,
	JOIN_SERVICE_ACCOUNT,
	JOIN_LABELS,
	JOIN_LOCALITY,
	JOIN_ADDRESS,
	JOIN_PORTS,
	JOIN_SERVER,
	JOIN_PROXY_UID,
	JOIN_INIT_ARGS,
	JOIN_NVARS
};

static const char *const join_names[JOIN_NVARS] = {
    "WEFT_WORKLOAD",
    "WEFT_NAMESPACE",
    "WEFT_SERVICE_ACCOUNT",
    "WEFT_LABELS",
    "WEFT_LOCALITY",
    "WEFT_ADDRESS",
    "WEFT_PORTS",
    "WEFT_SERVER",
    "WEFT_PROXY_UID",
    "WEFT_INIT_ARGS",
};

/* The options that set them, for errors. */
static const char *const join_opts[JOIN_NVARS] = {
    "--workload",
    "--namespace",
    "--service-account",
    "--labels",
    "--locality",
    "--address",
    "--ports",
    "--server",
    "--proxy-uid",
    "--init-args",
};

struct join {
	const char *vars[JOIN_NVARS]; /* NULL: keep what the file has */
	char *token;
	const char *etc;
	int no_start;
	char proxy_uid[16];
	char *owned[3]; /* what the server said the token is for */
};

/* weft1.ID.SECRET.FINGERPRINT, FINGERPRINT 64 lower-case hex digits. */
static int
join_token_valid(const char *t)
{
	const char *p = t + 6;
	size_t i, n;

	if (strncmp(t, "weft1.", 6) != 0)
		return 0;
	for (i = 0; i < 2; i++) {
		n = strspn(p,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789-_");
		if (n == 0 || p[n] != '.')
			return 0;
		p += n + 1;
	}
	return strlen(p) == 64 && strspn(p, "0123456789abcdef") == 64;
}

static char *
join_read_token(const char *path)
{
	char buf[1024];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		ctl_usage_error(
		    "join: --token-file %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return xstrdup(buf);
}

/* [NAME=]PORT,... as weft-sync takes it. */
static int
join_ports_valid(const char *s)
{
	char *copy = xstrdup(s), *save = NULL, *item, *eq, *num, *end;
	long port;
	int ok = 1;

	for (item = strtok_r(copy, ",", &save); item != NULL && ok;
	     item = strtok_r(NULL, ",", &save)) {
		num = (eq = strchr(item, '=')) != NULL ? eq + 1 : item;
		errno = 0;
		port = strtol(num, &end, 10);
		if (*num == '\0' || *end != '\0' || errno != 0 || port < 1 ||
		    port > 65535 || eq == item)
			ok = 0;
	}
	free(copy);
	return ok;
}

/*
 * A value systemd's EnvironmentFile= reads back unchanged: no quotes,
 * backslashes, dollars (which it would expand) or control characters.
 */
static void
join_check_value(const char *opt, const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' ||
		    *p == '\'' || *p == '\\' || *p == '$')
			ctl_usage_error("join: %s: character '%s%c' not "
					"allowed in a setting",
			    opt, (unsigned char)*p < 0x20 ? "^" : "",
			    (unsigned char)*p < 0x20 ? *p + '@' : *p);
	}
}

/* Asks the server who the token is for; fills what was not given. */
static int
join_whoami(struct join *j)
{
	struct https_client_conf conf;
	struct https_response r;
	const char *server = j->vars[JOIN_SERVER], *role, *v;
	char *cause = NULL;
	json_t *resp, *err;
	static const struct {
		int var;
		const char *key;
		const char *opt;
	} want[] = {
	    {JOIN_WORKLOAD, "workload", "--workload"},
	    {JOIN_NAMESPACE, "namespace", "--namespace"},
	    {JOIN_SERVICE_ACCOUNT, "serviceAccount", "--service-account"},
	};
	size_t i;

	memset(&conf, 0, sizeof(conf));
	memset(&r, 0, sizeof(r));
	conf.pin_sha256 = strrchr(j->token, '.') + 1;
	conf.bearer = j->token;
	conf.timeout_sec = 15;
	conf.max_body = 64 * 1024;
	if (https_client_fetch(server, &conf, "GET", "/v1/whoami", NULL, NULL,
		0, &r, &cause) == -1) {
		/* Unreachable, or not the token's CA. */
		ctl_warnx("join: %s: %s", server, cause);
		free(cause);
		https_response_clear(&r);
		return -1;
	}
	if (r.status == 0) {
		ctl_warnx("join: %s: %s", server,
		    r.error != NULL ? r.error : "no answer");
		https_response_clear(&r);
		return -1;
	}
	resp = r.body != NULL ? json_loads(r.body, 0, NULL) : NULL;
	err = json_object_get(resp, "error");
	if (r.status == 401) {
		ctl_warnx("join: %s refused the join token: %s", server,
		    json_is_string(err) ? json_string_value(err) : "HTTP 401");
		goto fail;
	}
	if (r.status != 200 || !json_is_object(resp)) {
		ctl_warnx("join: %s answered HTTP %d to /v1/whoami%s%s", server,
		    r.status, json_is_string(err) ? ": " : "",
		    json_is_string(err) ? json_string_value(err) : "");
		goto fail;
	}
	role = json_string_value(json_object_get(resp, "role"));
	if (role == NULL || strcmp(role, "join") != 0) {
		ctl_warnx("join: the token is not a join token (the server "
			  "says %s); make one with weftctl token create",
		    role != NULL ? role : "nothing");
		goto fail;
	}
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		v = json_string_value(json_object_get(resp, want[i].key));
		if (v == NULL) {
			ctl_warnx("join: %s did not say the token's %s", server,
			    want[i].key);
			goto fail;
		}
		if (j->vars[want[i].var] != NULL &&
		    strcmp(j->vars[want[i].var], v) != 0) {
			ctl_warnx("join: %s %s: the join token is for %s %s",
			    want[i].opt, j->vars[want[i].var], want[i].key, v);
			goto fail;
		}
		j->vars[want[i].var] = j->owned[i] = xstrdup(v);
	}
	printf("join token of %s/%s (%s) accepted by %s\n",
	    j->vars[JOIN_NAMESPACE], j->vars[JOIN_WORKLOAD],
	    json_string_value(json_object_get(resp, "spiffeId")), server);
	json_decref(resp);
	https_response_clear(&r);
	return 0;
fail:
	json_decref(resp);
	https_response_clear(&r);
	return -1;
}

static int
join_mkdirs(const char *dir)
{
	char *p = xstrdup(dir), *s, c;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			ctl_warnx("join: %s: %s", p, strerror(errno));
			rc = -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* Writes text to path through a temporary file and a rename. */
static int
join_write_file(const char *path, const char *text, mode_t mode)
{
	char *tmp;
	size_t len = strlen(text);
	int fd, rc = -1;

	xasprintf(&tmp, "%s.tmp", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) ==
	    -1) {
		ctl_warnx("join: %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, mode) == -1 ||
	    (geteuid() == 0 && fchown(fd, 0, 0) == -1) ||
	    write(fd, text, len) != (ssize_t)len || fsync(fd) == -1)
		ctl_warnx("join: %s: %s", tmp, strerror(errno));
	else if (close(fd) == -1)
		ctl_warnx("join: %s: %s", tmp, strerror(errno));
	else if (rename(tmp, path) == -1)
		ctl_warnx("join: %s: %s", path, strerror(errno));
	else {
		fd = -1;
		rc = 0;
	}
	if (rc == -1) {
		if (fd != -1)
			(void)close(fd);
		(void)unlink(tmp);
	}
	free(tmp);
	return rc;
}

/* The index of the NAME of a "NAME=value" line join sets, or -1. */
static int
join_line_var(const char *line)
{
	size_t n;
	int i;

	/* systemd allows blanks around the name. */
	line += strspn(line, " \t");
	for (i = 0; i < JOIN_NVARS; i++) {
		n = strlen(join_names[i]);
		if (strncmp(line, join_names[i], n) == 0 &&
		    line[n + strspn(line + n, " \t")] == '=')
			return i;
	}
	return -1;
}

/*
 * The settings file: the lines of the old one (when there is one) with
 * the values of our variables replaced, the missing ones appended.
 */
static int
join_write_settings(struct join *j, const char *path)
{
	char *line = NULL, *out = NULL, *add;
	size_t cap = 0, outlen = 0;
	int seen[JOIN_NVARS] = {0}, i;
	mode_t mode = 0644;
	struct stat sb;
	ssize_t n;
	FILE *f, *mem;

	if ((mem = open_memstream(&out, &outlen)) == NULL)
		fatal("open_memstream");
	if ((f = fopen(path, "r")) != NULL) {
		/* The operator's mode stays. */
		if (fstat(fileno(f), &sb) == 0)
			mode = sb.st_mode & 07777;
		while ((n = getline(&line, &cap, f)) != -1) {
			if ((i = join_line_var(line)) != -1 &&
			    j->vars[i] != NULL) {
				if (!seen[i])
					fprintf(mem, "%s=%s\n", join_names[i],
					    j->vars[i]);
				seen[i] = 1;
				continue;
			}
			fputs(line, mem);
			if (n > 0 && line[n - 1] != '\n')
				fputc('\n', mem);
		}
		free(line);
		fclose(f);
	} else if (errno != ENOENT) {
		ctl_warnx("join: %s: %s", path, strerror(errno));
		fclose(mem);
		free(out);
		return -1;
	} else
		fputs("# Settings of weft's systemd units (see weft-env(5)),"
		      " written by weftctl join.\n",
		    mem);
	add = NULL;
	for (i = 0; i < JOIN_NVARS; i++) {
		if (j->vars[i] == NULL || seen[i])
			continue;
		if (add == NULL)
			fputs(add = "\n# weftctl join\n", mem);
		fprintf(mem, "%s=%s\n", join_names[i], j->vars[i]);
	}
	if (fclose(mem) != 0)
		fatal("open_memstream");
	i = join_write_file(path, out, mode);
	free(out);
	return i;
}

/*
 * Runs argv (a command of PATH, its output the user's); returns 0 when
 * it exits 0, else -1 with why in buf.
 */
static int
join_run(char *const argv[], char *buf, size_t len)
{
	pid_t pid;
	int status, rc;

	fflush(stdout);
	if ((rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) !=
	    0) {
		snprintf(buf, len, "%s: %s", argv[0], strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			snprintf(buf, len, "waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(buf, len, "%s%s%s failed (%s %d)", argv[0],
	    argv[1] != NULL ? " " : "", argv[1] != NULL ? argv[1] : "",
	    WIFEXITED(status) ? "exit status" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -1;
}

/*
 * The weft-proxy user, made by systemd-sysusers from weft.conf when
 * missing (make install makes it; a package may not have).
 */
static int
join_user(void)
{
	static char *const sysusers[] = {"systemd-sysusers", NULL};
	char why[256] = "";

	if (getpwnam(JOIN_PROXY_USR) != NULL)
		return 0;
	if (join_run(sysusers, why, sizeof(why)) == -1 ||
	    getpwnam(JOIN_PROXY_USR) == NULL) {
		ctl_warnx("join: no user " JOIN_PROXY_USR " (%s): install "
			  "weft's sysusers.d/weft.conf and run "
			  "systemd-sysusers, or use --no-start",
		    why[0] != '\0' ? why : "systemd-sysusers did not make it");
		return -1;
	}
	return 0;
}

static int
join_start(void)
{
	static char *const reload[] = {"systemctl", "daemon-reload", NULL};
	static char *const enable[] = {"systemctl", "enable",
	    "weft-init.service", "weft-proxy.service", "weft-sync.service",
	    NULL};
	static char *const restart[] = {"systemctl", "restart",
	    "weft-init.service", "weft-proxy.service", "weft-sync.service",
	    NULL};
	char why[256];

	/* restart, not start: a second join applies its new settings. */
	if (join_run(reload, why, sizeof(why)) == -1 ||
	    join_run(enable, why, sizeof(why)) == -1 ||
	    join_run(restart, why, sizeof(why)) == -1) {
		ctl_warnx("join: settings written, units not started: %s; "
			  "run: systemctl daemon-reload && systemctl enable "
			  "--now " JOIN_UNITS,
		    why);
		return -1;
	}
	printf("started %s\n", JOIN_UNITS);
	return 0;
}

static void
join_usage_exit(void)
{
	printf("usage: weftctl join --server URL --token TOKEN|--token-file "
	       "FILE --address IP\n"
	       "       [--workload NAME] [--namespace NS] [--service-account "
	       "SA]\n"
	       "       [--ports [NAME=]PORT,...] [--labels k=v,...] "
	       "[--locality R/Z/N]\n"
	       "       [--proxy-uid UID] [--init-args ARGS] [--etc DIR] "
	       "[--no-start]\n");
	exit(CTL_EXIT_OK);
}

enum {
	JOIN_OPT_TOKEN = 2000,
	JOIN_OPT_TOKEN_FILE,
	JOIN_OPT_WORKLOAD,
	JOIN_OPT_NAMESPACE,
	JOIN_OPT_SA,
	JOIN_OPT_ADDRESS,
	JOIN_OPT_PORTS,
	JOIN_OPT_LABELS,
	JOIN_OPT_LOCALITY,
	JOIN_OPT_PROXY_UID,
	JOIN_OPT_INIT_ARGS,
	JOIN_OPT_ETC,
	JOIN_OPT_NO_START,
};

static void
join_check(struct join *j)
{
	unsigned char addr[16];
	const char *v;
	char *cause = NULL, *end;
	json_t *labels;
	long uid;
	int i;

	if (j->vars[JOIN_SERVER] == NULL)
		ctl_usage_error("join: --server URL is required");
	if (strncmp(j->vars[JOIN_SERVER], "https://", 8) != 0)
		ctl_usage_error(
		    "join: --server %s: expected https://HOST[:PORT]",
		    j->vars[JOIN_SERVER]);
	if (j->token == NULL)
		ctl_usage_error("join: --token TOKEN or --token-file FILE is "
				"required");
	if (!join_token_valid(j->token))
		ctl_usage_error("join: the join token is not of the form "
				"weft1.ID.SECRET.CA-FINGERPRINT (weftctl "
				"token create)");
	if ((v = j->vars[JOIN_ADDRESS]) == NULL)
		ctl_usage_error("join: --address IP is required (where the "
				"other workloads reach this one)");
	if (inet_pton(AF_INET, v, addr) != 1 &&
	    inet_pton(AF_INET6, v, addr) != 1)
		ctl_usage_error("join: --address %s: not an IP address", v);
	if ((v = j->vars[JOIN_WORKLOAD]) != NULL && !config_dns_subdomain(v))
		ctl_usage_error("join: --workload %s: not a DNS name", v);
	if ((v = j->vars[JOIN_NAMESPACE]) != NULL && !config_dns_label(v))
		ctl_usage_error("join: --namespace %s: not a DNS label", v);
	if ((v = j->vars[JOIN_SERVICE_ACCOUNT]) != NULL &&
	    !config_dns_subdomain(v))
		ctl_usage_error(
		    "join: --service-account %s: not a DNS name", v);
	if ((v = j->vars[JOIN_PORTS]) != NULL && *v != '\0' &&
	    !join_ports_valid(v))
		ctl_usage_error("join: --ports %s: expected [NAME=]PORT,... "
				"with ports 1-65535",
		    v);
	if ((v = j->vars[JOIN_LABELS]) != NULL && *v != '\0') {
		if ((labels = config_labels_arg(v, &cause)) == NULL)
			ctl_usage_error("join: --labels: %s", cause);
		json_decref(labels);
	}
	if ((v = j->vars[JOIN_LOCALITY]) != NULL &&
	    (strchr(v, ' ') != NULL || strchr(v, '\t') != NULL))
		ctl_usage_error("join: --locality %s: expected REGION[/ZONE["
				"/SUBZONE]]",
		    v);
	if ((v = j->vars[JOIN_PROXY_UID]) != NULL) {
		errno = 0;
		uid = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || uid < 1 ||
		    uid > 2147483646)
			ctl_usage_error("join: --proxy-uid %s: expected a uid "
					"other than 0",
			    v);
	}
	for (i = 0; i < JOIN_NVARS; i++) {
		if (j->vars[i] != NULL)
			join_check_value(join_opts[i], j->vars[i]);
	}
	if (j->etc[0] != '/')
		ctl_usage_error(
		    "join: --etc %s: expected an absolute path", j->etc);
}

int
ctl_join(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, CTL_OPT_SERVER},
	    {"token", required_argument, NULL, JOIN_OPT_TOKEN},
	    {"token-file", required_argument, NULL, JOIN_OPT_TOKEN_FILE},
	    {"workload", required_argument, NULL, JOIN_OPT_WORKLOAD},
	    {"namespace", required_argument, NULL, JOIN_OPT_NAMESPACE},
	    {"service-account", required_argument, NULL, JOIN_OPT_SA},
	    {"address", required_argument, NULL, JOIN_OPT_ADDRESS},
	    {"ports", required_argument, NULL, JOIN_OPT_PORTS},
	    {"labels", required_argument, NULL, JOIN_OPT_LABELS},
	    {"locality", required_argument, NULL, JOIN_OPT_LOCALITY},
	    {"proxy-uid", required_argument, NULL, JOIN_OPT_PROXY_UID},
	    {"init-args", required_argument, NULL, JOIN_OPT_INIT_ARGS},
	    {"etc", required_argument, NULL, JOIN_OPT_ETC},
	    {"no-start", no_argument, NULL, JOIN_OPT_NO_START},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct join j;
	struct passwd *pw;
	char *settings, *defdir, *tokdir, *tokfile;
	int ch, rc = CTL_EXIT_FAIL;

	memset(&j, 0, sizeof(j));
	j.etc = WEFT_SYSCONFDIR; /* where the units read their settings */
	j.vars[JOIN_SERVER] = ctl->server;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case CTL_OPT_SERVER:
			j.vars[JOIN_SERVER] = optarg;
			break;
		case JOIN_OPT_TOKEN:
			free(j.token);
			j.token = xstrdup(optarg);
			break;
		case JOIN_OPT_TOKEN_FILE:
			free(j.token);
			j.token = join_read_token(optarg);
			break;
		case JOIN_OPT_WORKLOAD:
			j.vars[JOIN_WORKLOAD] = optarg;
			break;
		case 'n':
		case JOIN_OPT_NAMESPACE:
			j.vars[JOIN_NAMESPACE] = optarg;
			break;
		case JOIN_OPT_SA:
			j.vars[JOIN_SERVICE_ACCOUNT] = optarg;
			break;
		case JOIN_OPT_ADDRESS:
			j.vars[JOIN_ADDRESS] = optarg;
			break;
		case JOIN_OPT_PORTS:
			j.vars[JOIN_PORTS] = optarg;
			break;
		case JOIN_OPT_LABELS:
			j.vars[JOIN_LABELS] = optarg;
			break;
		case JOIN_OPT_LOCALITY:
			j.vars[JOIN_LOCALITY] = optarg;
			break;
		case JOIN_OPT_PROXY_UID:
			j.vars[JOIN_PROXY_UID] = optarg;
			break;
		case JOIN_OPT_INIT_ARGS:
			j.vars[JOIN_INIT_ARGS] = optarg;
			break;
		case JOIN_OPT_ETC:
			j.etc = optarg;
			break;
		case JOIN_OPT_NO_START:
			j.no_start = 1;
			break;
		case 'h':
			join_usage_exit();
			break;
		default:
			ctl_option_error("join", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "join: unexpected argument \"%s\"", argv[optind]);
	join_check(&j);
	if (join_whoami(&j) == -1)
		goto out;
	if (!j.no_start && join_user() == -1)
		goto out;
	/* The uid the user got, when it is not the default. */
	if (j.vars[JOIN_PROXY_UID] == NULL &&
	    (pw = getpwnam(JOIN_PROXY_USR)) != NULL) {
		snprintf(j.proxy_uid, sizeof(j.proxy_uid), "%u",
		    (unsigned int)pw->pw_uid);
		j.vars[JOIN_PROXY_UID] = j.proxy_uid;
	}

	xasprintf(&defdir, "%s/default", j.etc);
	xasprintf(&settings, "%s/weft", defdir);
	xasprintf(&tokdir, "%s/weft", j.etc);
	xasprintf(&tokfile, "%s/join-token", tokdir);
	if (join_mkdirs(defdir) == 0 && join_mkdirs(tokdir) == 0 &&
	    join_write_settings(&j, settings) == 0) {
		char *text;

		xasprintf(&text, "%s\n", j.token);
		if (join_write_file(tokfile, text, 0600) == 0) {
			printf("wrote %s and %s\n", settings, tokfile);
			if (j.no_start) {
				printf("--no-start: start the units with: "
				       "systemctl daemon-reload && systemctl "
				       "enable --now " JOIN_UNITS "\n");
				rc = CTL_EXIT_OK;
			} else if (join_start() == 0)
				rc = CTL_EXIT_OK;
		}
		explicit_bzero(text, strlen(text));
		free(text);
	}
	free(defdir);
	free(settings);
	free(tokdir);
	free(tokfile);
out:
	for (ch = 0; ch < 3; ch++)
		free(j.owned[ch]);
	explicit_bzero(j.token, strlen(j.token));
	free(j.token);
	return rc;
}

/* Removes path; 0 when it is gone (or was not there), else -1. */
static int
join_remove(const char *path)
{
	if (unlink(path) == 0) {
		printf("removed %s\n", path);
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	ctl_warnx("leave: %s: %s", path, strerror(errno));
	return -1;
}

int
ctl_leave(struct ctl *ctl, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"etc", required_argument, NULL, JOIN_OPT_ETC},
	    {"purge", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* weft-sync first: it deregisters the workload as it stops. */
	static char *const disable[] = {"systemctl", "disable", "--now",
	    "weft-sync.service", "weft-proxy.service", "weft-init.service",
	    NULL};
	const char *etc = WEFT_SYSCONFDIR;
	char why[256], *path;
	int ch, purge = 0, rc = CTL_EXIT_OK;

	(void)ctl;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case JOIN_OPT_ETC:
			etc = optarg;
			break;
		case 'p':
			purge = 1;
			break;
		case 'h':
			printf("usage: weftctl leave [--purge] [--etc DIR]\n");
			exit(CTL_EXIT_OK);
		default:
			ctl_option_error("leave", ch, argv);
		}
	}
	if (optind < argc)
		ctl_usage_error(
		    "leave: unexpected argument \"%s\"", argv[optind]);
	if (etc[0] != '/')
		ctl_usage_error(
		    "leave: --etc %s: expected an absolute path", etc);
	if (join_run(disable, why, sizeof(why)) == -1) {
		ctl_warnx("leave: %s; run: systemctl disable --now "
			  "weft-sync.service weft-proxy.service "
			  "weft-init.service",
		    why);
		rc = CTL_EXIT_FAIL;
	} else
		printf("stopped and disabled weft-sync.service "
		       "weft-proxy.service weft-init.service\n");
	if (purge) {
		xasprintf(&path, "%s/weft/join-token", etc);
		if (join_remove(path) == -1)
			rc = CTL_EXIT_FAIL;
		free(path);
		xasprintf(&path, "%s/default/weft", etc);
		if (join_remove(path) == -1)
			rc = CTL_EXIT_FAIL;
		free(path);
	}
	return rc;
}
