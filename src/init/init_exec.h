/*
 * Running a helper program (iptables-save, iptables-restore) without a
 * shell: input on its stdin through a pipe, stdout and stderr collected.
 */
#ifndef WEFT_INIT_EXEC_H
#define WEFT_INIT_EXEC_H

#include <stddef.h>

#include "init_buf.h"

/* How long a helper may run before it is killed. */
#define INIT_EXEC_TIMEOUT 30

/*
 * Runs the program at path (absolute, not searched in PATH) with argv,
 * writes inlen bytes of input to its stdin (NULL: an empty stdin), and
 * appends its stdout to out and its stderr to err. Returns 0 with
 * *status set to its exit status (128 + N when killed by signal N), or
 * -1 with errno set when it could not be run (ENOENT, EACCES, ...) or
 * did not finish within INIT_EXEC_TIMEOUT seconds (ETIMEDOUT; it is
 * then killed).
 */
int init_exec_run(const char *path, char *const argv[], const char *input,
    size_t inlen, struct init_buf *out, struct init_buf *err, int *status);

#endif
