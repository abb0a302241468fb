/*
 * Logging for every weft program: one line per message on stderr,
 * prefixed with the program name and level.
 */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the program name used as prefix and the initial level. */
void log_init(const char *progname, enum log_level level);
/* Changes the level at run time (safe from any thread). */
void log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 on anything else. */
int log_parse_level(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* log_warn and fatal append strerror(errno); the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs and exits with status 1: startup errors and broken invariants only. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
