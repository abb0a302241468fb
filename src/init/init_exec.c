#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "init_exec.h"
#include "log.h"

static void
init_exec_close(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

static long long
init_exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: never returns. Reports a failed exec on fd report. */
static void
init_exec_child(
    const char *path, char *const argv[], int in, int out, int err, int report)
{
	int e;

	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1 ||
	    dup2(err, STDERR_FILENO) == -1) {
		e = errno;
		if (write(report, &e, sizeof(e)) == -1)
			_exit(126);
		_exit(127);
	}
	execv(path, argv);
	e = errno;
	if (write(report, &e, sizeof(e)) == -1)
		_exit(126);
	_exit(127);
}

/* Reads what fd has into b; closes fd at end of file. */
static int
init_exec_drain(int *fd, struct init_buf *b)
{
	char chunk[4096];
	ssize_t n;

	n = read(*fd, chunk, sizeof(chunk));
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return -1;
	}
	if (n == 0)
		init_exec_close(fd);
	else
		init_buf_add(b, chunk, (size_t)n);
	return 0;
}

int
init_exec_run(const char *path, char *const argv[], const char *input,
    size_t inlen, struct init_buf *out, struct init_buf *err, int *status)
{
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	int rep_p[2] = {-1, -1};
	struct pollfd pfd[3];
	long long deadline;
	size_t off = 0;
	ssize_t n;
	pid_t pid;
	int e, wstatus, nfds, timeout, saved;

	if (pipe2(in_p, O_CLOEXEC) == -1 || pipe2(out_p, O_CLOEXEC) == -1 ||
	    pipe2(err_p, O_CLOEXEC) == -1 || pipe2(rep_p, O_CLOEXEC) == -1) {
		saved = errno;
		goto fail;
	}
	pid = fork();
	if (pid == -1) {
		saved = errno;
		goto fail;
	}
	if (pid == 0)
		init_exec_child(
		    path, argv, in_p[0], out_p[1], err_p[1], rep_p[1]);
	init_exec_close(&in_p[0]);
	init_exec_close(&out_p[1]);
	init_exec_close(&err_p[1]);
	init_exec_close(&rep_p[1]);

	/* End of file here means that the exec succeeded. */
	do {
		n = read(rep_p[0], &e, sizeof(e));
	} while (n == -1 && errno == EINTR);
	init_exec_close(&rep_p[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, &wstatus, 0) == -1 && errno == EINTR)
			;
		saved = e;
		goto fail;
	}

	if (input == NULL || inlen == 0)
		init_exec_close(&in_p[1]);
	else if (fcntl(in_p[1], F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	deadline = init_exec_now_ms() + INIT_EXEC_TIMEOUT * 1000LL;
	while (in_p[1] != -1 || out_p[0] != -1 || err_p[0] != -1) {
		nfds = 0;
		pfd[nfds].fd = in_p[1];
		pfd[nfds++].events = POLLOUT;
		pfd[nfds].fd = out_p[0];
		pfd[nfds++].events = POLLIN;
		pfd[nfds].fd = err_p[0];
		pfd[nfds++].events = POLLIN;
		timeout = (int)(deadline - init_exec_now_ms());
		if (timeout <= 0) {
			kill(pid, SIGKILL);
			while (
			    waitpid(pid, &wstatus, 0) == -1 && errno == EINTR)
				;
			saved = ETIMEDOUT;
			goto fail;
		}
		/* poll ignores the entries whose fd is -1. */
		if (poll(pfd, (nfds_t)nfds, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (in_p[1] != -1 && pfd[0].revents != 0) {
			n = write(in_p[1], input + off, inlen - off);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it stopped reading; its stderr
				 * will say why. */
				init_exec_close(&in_p[1]);
			} else if (n > 0) {
				off += (size_t)n;
				if (off == inlen)
					init_exec_close(&in_p[1]);
			}
		}
		if (out_p[0] != -1 && pfd[1].revents != 0 &&
		    init_exec_drain(&out_p[0], out) == -1)
			fatal("read");
		if (err_p[0] != -1 && pfd[2].revents != 0 &&
		    init_exec_drain(&err_p[0], err) == -1)
			fatal("read");
	}
	while (waitpid(pid, &wstatus, 0) == -1) {
		if (errno != EINTR)
			fatal("waitpid");
	}
	if (WIFEXITED(wstatus))
		*status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		*status = 128 + WTERMSIG(wstatus);
	else
		*status = 255;
	return 0;

fail:
	init_exec_close(&in_p[0]);
	init_exec_close(&in_p[1]);
	init_exec_close(&out_p[0]);
	init_exec_close(&out_p[1]);
	init_exec_close(&err_p[0]);
	init_exec_close(&err_p[1]);
	init_exec_close(&rep_p[0]);
	init_exec_close(&rep_p[1]);
	errno = saved;
	return -1;
}
