/*
 * weftctl: what its commands share. Each command is one function that
 * parses its own options and returns the exit status.
 */
#ifndef WEFT_CTL_H
#define WEFT_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "config_doc.h"

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1 /* bad configuration, not found, DB errors */
#define CTL_EXIT_USAGE 2 /* bad command line */

#define CTL_DEFAULT_DB "/var/lib/weft/policy.db"
/* --ca and --token-file default to files here (the server's own host). */
#define CTL_SERVER_DIR "/var/lib/weft/server"

/* The kinds, as usage errors name them. */
#define CTL_KINDS                                                              \
	"virtualservice, destinationrule, serviceentry, workloadentry, "       \
	"peerauthentication, requestauthentication, authorizationpolicy, "     \
	"ratelimit"

struct store_db;

/* The global options: where the policy lives. */
struct ctl {
	const char *db_path;    /* --db, WEFT_DB, or the default */
	const char *server;     /* --server or WEFT_SERVER */
	const char *ca_file;    /* --ca or WEFT_CA: the server's CA */
	const char *token_file; /* --token-file or WEFT_TOKEN_FILE */
	const char *cert_file;  /* --cert: an admin client certificate */
	const char *key_file;   /* --key: its key (default: in cert_file) */
};

int ctl_apply(struct ctl *ctl, int argc, char **argv);
int ctl_get(struct ctl *ctl, int argc, char **argv);
int ctl_delete(struct ctl *ctl, int argc, char **argv);
/* weftctl stat (ctl_stat.c) and weftctl tap (ctl_tap.c). */
int ctl_stat(struct ctl *ctl, int argc, char **argv);
int ctl_tap(struct ctl *ctl, int argc, char **argv);

/* Prints the usage of every command to f. */
void ctl_usage(FILE *f);

/* Prints "weftctl: MESSAGE" on stderr. */
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bad command line: one line on stderr, exit status 2. */
void ctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/*
 * What getopt_long returned for a bad option of command cmd (':' for a
 * missing value, anything else for an unknown option): one line on
 * stderr, exit status 2.
 */
void ctl_option_error(const char *cmd, int ch, char *const *argv)
    __attribute__((noreturn));

/*
 * Handles the options every command accepts (--db, --server) for
 * getopt_long values CTL_OPT_DB and CTL_OPT_SERVER; returns 1 when ch
 * was one of them.
 */
enum {
	CTL_OPT_DB = 1000,
	CTL_OPT_SERVER,
	CTL_OPT_CA,
	CTL_OPT_TOKEN_FILE,
	CTL_OPT_CERT,
	CTL_OPT_KEY,
	CTL_OPT_DRY_RUN,
	CTL_OPT_IGNORE_NOT_FOUND,
};
int ctl_common_option(struct ctl *ctl, int ch, const char *arg);
/* The getopt_long entries of those options, for every command's table. */
/* clang-format off */
#define CTL_COMMON_LONGOPTS \
	{"db", required_argument, NULL, CTL_OPT_DB}, \
	{"server", required_argument, NULL, CTL_OPT_SERVER}, \
	{"ca", required_argument, NULL, CTL_OPT_CA}, \
	{"token-file", required_argument, NULL, CTL_OPT_TOKEN_FILE}, \
	{"cert", required_argument, NULL, CTL_OPT_CERT}, \
	{"key", required_argument, NULL, CTL_OPT_KEY}
/* clang-format on */

/*
 * Opens the policy DB of the global options; prints why it cannot and
 * returns NULL (the --server mode is not available in this version).
 */
struct store_db *ctl_open(struct ctl *ctl, int write);

/*
 * Reads the resources of files (each a path, or "-" for the standard
 * input) into out, as config_document does with ns and flags. Errors go
 * to errs; returns the number of errors. When raw is not NULL, appends
 * {"name", "content"} of each file to that JSON array (for weft-server).
 */
size_t ctl_input_load(char *const *files, size_t nfiles, const char *ns,
    int flags, struct config_resources *out, struct config_errors *errs,
    json_t *raw);

/*
 * Reads all of file ("-": the standard input, named "<stdin>") into
 * *buf (allocated, NUL-terminated), at most 64 MiB. Returns 0, or -1
 * with *cause (allocated) naming the file.
 */
int ctl_input_read(const char *file, char **buf, size_t *len, char **cause);

/* Prints every error of errs on stderr, one line each. */
void ctl_print_errors(const struct config_errors *errs);

struct store_db_rows;

/*
 * weftctl --server (ctl_remote.c): one API call; returns the HTTP status
 * with the answer's JSON in *out (caller decrefs), or -1 after printing
 * why there was none. An answer other than 200 has its errors printed,
 * as weftctl --db would print them.
 */
int ctl_remote_call(struct ctl *ctl, const char *method, const char *target,
    const char *ctype, const char *body, json_t **out);
/* The stored resources, as store_db_list gives them; -1 after printing. */
int ctl_remote_list(struct ctl *ctl, const char *kind, const char *ns,
    const char *name, struct store_db_rows *rows);

/*
 * The server's whole policy (GET /v1/snapshot, what a resyncing
 * weft-sync gets) in a private temporary copy: dir (64 bytes) gets the
 * copy's directory (or "" when none was made), to give to
 * ctl_remote_copy_remove() once the DB is closed. Returns the DB open
 * read-write, or NULL after printing why.
 */
struct store_db *ctl_remote_copy(struct ctl *ctl, char *dir);
void ctl_remote_copy_remove(const char *dir);

int ctl_status(struct ctl *ctl, int argc, char **argv);
int ctl_token(struct ctl *ctl, int argc, char **argv);
/* weftctl ca (ctl_ca.c): the CA's roots and their rotation (--server). */
int ctl_ca(struct ctl *ctl, int argc, char **argv);

/*
 * weftctl explain (ctl_explain.c): how the proxies would route and
 * decide one described request, from the local DB (--db only). Returns
 * CTL_EXIT_OK when the request would be allowed, CTL_EXIT_FAIL when it
 * would be refused or cannot be explained.
 */
int ctl_explain(struct ctl *ctl, int argc, char **argv);
/* Prints an explanation (ctl_explain's JSON) for people. */
void ctl_explain_print_text(const json_t *o);

/*
 * weftctl check (ctl_check.c): the health and consistency of the mesh,
 * one line per check; CTL_EXIT_OK when every check passed, CTL_EXIT_FAIL
 * when one failed (or warned, with --strict).
 */
int ctl_check(struct ctl *ctl, int argc, char **argv);

/*
 * weftctl join (ctl_join.c): makes this machine a workload of the mesh
 * (the settings of the systemd units, the join token, the units started).
 */
int ctl_join(struct ctl *ctl, int argc, char **argv);
/*
 * weftctl leave (ctl_join.c): stops and disables the units join started;
 * with --purge, removes the settings file and the join token too.
 */
int ctl_leave(struct ctl *ctl, int argc, char **argv);

/*
 * weftctl inject (ctl_inject.c): the sidecar injection of the pods and
 * pod templates of Kubernetes YAML, offline, as weft-server's webhook
 * would do it; the other documents are written unchanged.
 */
int ctl_inject(struct ctl *ctl, int argc, char **argv);

/*
 * weftctl stat and tap (ctl_stat.c, ctl_tap.c) with neither --proxy nor
 * --server: the admin port of the proxy on this host.
 */
#define CTL_LOCAL_PROXY "127.0.0.1:15000"

/* "user@host" for resources.applied_by, allocated. */
char *ctl_applied_by(void);

#endif
