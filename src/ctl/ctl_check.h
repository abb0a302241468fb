/*
 * weftctl check: its report (one line per check, grouped as linkerd
 * check prints them) and the analysis of a policy (ctl_check_policy.c),
 * apart from the command (ctl_check.c) so that unit tests drive them.
 */
#ifndef WEFT_CTL_CHECK_H
#define WEFT_CTL_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config_doc.h"

enum check_level {
	CHECK_OK,
	CHECK_INFO,
	CHECK_WARN,
	CHECK_FAIL,
};

struct check_report {
	json_t *groups; /* [{categoryName, checks: [...]}] */
	json_t *cur;    /* the checks of the last group */
	size_t nok, ninfo, nwarn, nfail;
};

void check_report_init(struct check_report *r);
void check_report_clear(struct check_report *r);

/* Starts a group of checks titled title. */
void check_group(struct check_report *r, const char *title);

/*
 * Adds a check of level to the current group: its text, and a hint
 * (NULL: none) saying what to do about a warning or failure.
 */
void check_add(struct check_report *r, enum check_level level, const char *hint,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Prints the report on f: text (a heading per group, then "√ text",
 * "× text" or "‼ text" with the hint under it), or JSON.
 */
void check_report_print(const struct check_report *r, FILE *f, int json);

struct store_db_rows;

/* What a policy is checked against, beside its resources. */
struct check_facts {
	json_t *hosts;     /* discovered service host names (strings) */
	json_t *workloads; /* [{namespace, name, labels}] */
	json_t *certs;     /* [{spiffeId, notAfter}] */
	int64_t now;       /* Unix seconds */
};

/*
 * Reads every stored resource of rows again with this weftctl's
 * checking code into out; reports how many pass, and a failure per
 * one that no longer does.
 */
void check_policy_reparse(struct check_report *r,
    const struct store_db_rows *rows, struct config_resources *out);

/*
 * The files' resources (-f) checked against the stored policy as apply
 * --dry-run checks them: the subset references they would break.
 */
void check_policy_files(struct check_report *r,
    const struct config_resources *stored,
    const struct config_resources *files);

/*
 * The consistency of the policy: stored resources overridden by those
 * of files (NULL: none), against facts: subset references, destination
 * hosts, selectors that select no workload, hosts and addresses claimed
 * twice, certificates expiring.
 */
void check_policy_analyze(struct check_report *r,
    const struct config_resources *stored, const struct config_resources *files,
    const struct check_facts *facts);

#endif
