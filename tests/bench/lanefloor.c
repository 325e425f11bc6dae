/*
 * lanefloor: floor.c's process sweep with a choice of client transport,
 * to tell which end of gop11's lanes costs what when client processes
 * outnumber the CPUs (tests/bench/lanefloor.sh runs it).
 *
 *   lanefloor SOCKET PROCS SECONDS [LIB]
 *
 * PROCS processes each connect to SOCKET (a floor server: floor.c's, or
 * lanefloor/server) and make round trips of floor.c's frame (a 4-byte
 * big-endian length, 64 bytes) for SECONDS, all started at once when
 * every one has connected and made 20. Without LIB a round trip is one write(2) and blocking
 * read(2)s; with LIB (lanefloor/client, built -buildmode=c-shared) it is
 * lanefloor_call: gop11's lane code in Go, reached through cgo as
 * libgop11 is. Prints "PROCS,ROUND_TRIPS_PER_S".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define FRAME (4 + 64)

static int c_fd = -1;

static int c_open(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -1;
	strcpy(a.sun_path, path);
	c_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c_fd < 0 || connect(c_fd, (struct sockaddr *)&a, sizeof a) != 0)
		return -1;
	return 0;
}

static int c_call(int h)
{
	unsigned char req[FRAME] = { 0 }, resp[FRAME];
	uint32_t len = htonl(FRAME - 4);
	(void)h;
	memcpy(req, &len, 4);
	if (write(c_fd, req, FRAME) != FRAME)
		return -1;
	for (int got = 0; got < FRAME;) {
		ssize_t n = read(c_fd, resp + got, (size_t)(FRAME - got));
		if (n <= 0)
			return -1;
		got += (int)n;
	}
	return memcmp(req, resp, FRAME) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: lanefloor SOCKET PROCS SECONDS [LIB]\n");
		return 2;
	}
	const char *sock = argv[1], *lib = argc == 5 ? argv[4] : NULL;
	int procs = atoi(argv[2]);
	double secs = atof(argv[3]);
	if (procs < 1 || secs <= 0) {
		fprintf(stderr, "lanefloor: PROCS and SECONDS must be positive\n");
		return 2;
	}
	int go[2], res[2], ready[2];
	if (pipe(go) || pipe(res) || pipe(ready)) {
		perror("pipe");
		return 1;
	}
	for (int i = 0; i < procs; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p > 0)
			continue;
		close(go[1]);
		close(res[0]);
		close(ready[0]);
		int (*open_fn)(const char *) = c_open;
		int (*call_fn)(int) = c_call;
		if (lib) {
			void *d = dlopen(lib, RTLD_NOW);
			if (!d) {
				fprintf(stderr, "lanefloor: %s\n", dlerror());
				_exit(1);
			}
			open_fn = (int (*)(const char *))dlsym(d, "lanefloor_open");
			call_fn = (int (*)(int))dlsym(d, "lanefloor_call");
			if (!open_fn || !call_fn) {
				fprintf(stderr, "lanefloor: %s lacks lanefloor_open/lanefloor_call\n", lib);
				_exit(1);
			}
		}
		int h = open_fn(sock);
		if (h < 0) {
			fprintf(stderr, "lanefloor: cannot connect to %s\n", sock);
			_exit(1);
		}
		for (int k = 0; k < 20; k++)
			if (call_fn(h) != 0)
				_exit(1);
		char b = 1;
		if (write(ready[1], &b, 1) != 1)
			_exit(1);
		close(ready[1]);
		while (read(go[0], &b, 1) > 0) /* EOF = go */
			;
		uint64_t end = now_ns() + (uint64_t)(secs * 1e9), n = 0;
		while (now_ns() < end && call_fn(h) == 0)
			n++;
		if (write(res[1], &n, sizeof n) != sizeof n)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(res[1]);
	close(ready[1]);
	char b;
	while (read(ready[0], &b, 1) == 1) /* each client once warm, or gone */
		;
	close(go[1]);
	uint64_t total = 0, n;
	int reported = 0;
	while (read(res[0], &n, sizeof n) == sizeof n) {
		total += n;
		reported++;
	}
	int st, failed = 0;
	while (wait(&st) > 0)
		failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	if (failed || reported != procs) {
		fprintf(stderr, "lanefloor: %d of %d clients failed\n", procs - reported, procs);
		return 1;
	}
	printf("%d,%.0f\n", procs, (double)total / secs);
	return 0;
}
