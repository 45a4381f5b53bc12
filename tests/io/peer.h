/*
 * peer.h: runs an independent test server (the node `ws` peer or the libwebsockets peer)
 * as a child process, and reads what it reports on its stdout, one event per line:
 * "LISTENING <port>", "CONNECTED", "CLOSE <code> <reason>", "PONG <payload>".
 *
 * The child's stdin is a pipe we hold: when the test dies, the pipe closes and the peer
 * exits, so no server outlives a crashed test.
 */
#ifndef TL_TEST_PEER_H
#define TL_TEST_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_peer {
	pid_t pid;
	int stdin_fd;
	int stdout_fd;
	uint16_t port;
	char buf[8192]; /* stdout bytes not yet split into lines */
	size_t len;
};

static inline int64_t test_peer_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads the next line the peer printed into `line`, waiting at most timeout_ms.
 * Returns 1 with a line, 0 on timeout, -1 when the peer's stdout closed.
 */
static inline int test_peer_line(struct test_peer *p, char *line, size_t cap, int timeout_ms)
{
	int64_t deadline = test_peer_ms() + timeout_ms;
	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		if (nl) {
			size_t n = (size_t)(nl - p->buf);
			size_t copy = n < cap - 1 ? n : cap - 1;
			memcpy(line, p->buf, copy);
			line[copy] = '\0';
			memmove(p->buf, nl + 1, p->len - n - 1);
			p->len -= n + 1;
			return 1;
		}
		int64_t left = deadline - test_peer_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = p->stdout_fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (p->len == sizeof(p->buf))
			p->len = 0; /* a line this long is not one of ours */
		ssize_t n = read(p->stdout_fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n <= 0)
			return -1;
		p->len += (size_t)n;
	}
}

/* Waits for a line starting with `prefix`, skipping others; copies it to out. */
static inline bool test_peer_expect(struct test_peer *p, const char *prefix, char *out, size_t cap,
                                    int timeout_ms)
{
	char line[1024];
	int64_t deadline = test_peer_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - test_peer_ms();
		if (left <= 0)
			return false;
		int rc = test_peer_line(p, line, sizeof(line), (int)left);
		if (rc <= 0)
			return false;
		if (getenv("TALLY_TEST_PEER_DEBUG"))
			fprintf(stderr, "  peer: %s\n", line);
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			if (out && cap) {
				size_t n = strlen(line) < cap - 1 ? strlen(line) : cap - 1;
				memcpy(out, line, n);
				out[n] = '\0';
			}
			return true;
		}
	}
}

/* Starts argv[0] with argv; waits for "LISTENING <port>". Returns 0 or -1. */
static inline int test_peer_start(struct test_peer *p, char *const argv[])
{
	memset(p, 0, sizeof(*p));
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->stdin_fd = in[1];
	p->stdout_fd = out[0];
	char line[256];
	if (!test_peer_expect(p, "LISTENING ", line, sizeof(line), 15000)) {
		fprintf(stderr, "peer %s did not start\n", argv[0]);
		return -1;
	}
	p->port = (uint16_t)atoi(line + strlen("LISTENING "));
	return p->port ? 0 : -1;
}

static inline void test_peer_stop(struct test_peer *p)
{
	if (p->pid <= 0)
		return;
	close(p->stdin_fd);
	kill(p->pid, SIGTERM);
	waitpid(p->pid, NULL, 0);
	close(p->stdout_fd);
	p->pid = 0;
}

#endif /* TL_TEST_PEER_H */
