/*
 * floor: the least any out-of-process PKCS #11 proxy can cost on this host.
 *
 *   floor server SOCKET [--work-us N]
 *                           echo server: one thread per connection; each
 *                           request is a 4-byte big-endian length and a
 *                           payload, answered with the same frame, after
 *                           N microseconds of computation (default 0: a
 *                           module's work, for a process or thread sweep).
 *   floor client SOCKET [--threads 1,2,4,8] [--duration S] [--max-ops N]
 *                [--trips N] [--work-us N] [--futex] [--target NAME] [--header]
 *                           each thread its own connection, 64-byte payloads,
 *                           --trips round trips (default 1) then --work-us of
 *                           computation per op, timed like p11bench, rows in
 *                           the same CSV (op "roundtrip").  --futex: no
 *                           socket; the client forks an echo server and each
 *                           thread's round trip is a slot in shared memory,
 *                           a word per direction, each side sleeping in
 *                           futex(2) until the other's word changes.
 *
 * Both sides read with one read() into a buffer and write a frame with one
 * write(): the minimum of syscalls a framed protocol needs.  The futex
 * transport is the least a shared-memory ring with blocking waits costs:
 * a wake and a wait per direction, nothing copied.  With --work-us on a
 * saturated host (threads > CPUs), CPU per op against --trips 0 is what
 * the round trips cost the application (make bench's busy-host scenario).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#define PAYLOAD 64
#define MAXFRAME 4096

/* Reads one frame into buf (cap bytes); returns the payload length or -1. */
static int read_frame(int fd, unsigned char *buf, size_t cap)
{
	size_t have = 0, need = 4;
	while (have < need) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		have += (size_t)n;
		if (have >= 4) {
			uint32_t len;
			memcpy(&len, buf, 4);
			len = ntohl(len);
			if (len > cap - 4)
				return -1;
			need = 4 + len;
		}
	}
	return (int)(need - 4);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int serve_us; /* server: computation per request */

static void spin_us(int us)
{
	uint64_t end = now_ns() + (uint64_t)us * 1000u;
	while (now_ns() < end)
		;
}

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[MAXFRAME];
	int len;
	while ((len = read_frame(fd, buf, sizeof buf)) >= 0) {
		spin_us(serve_us);
		if (write_all(fd, buf, 4 + (size_t)len) != 0)
			break;
	}
	close(fd);
	return NULL;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path) {
		fprintf(stderr, "floor: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int server(const char *path)
{
	struct sockaddr_un sa;
	if (unix_addr(path, &sa) != 0)
		return 2;
	unlink(path);
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 128) != 0) {
		perror("floor: listen");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("floor: accept");
			return 2;
		}
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, serve_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		pthread_attr_destroy(&at);
	}
}

/* ---- client ----------------------------------------------------------- */

static const char *sock_path;
static double duration = 2.0;
static long max_ops = 1000000;
static int trips = 1, work_us;

/* ---- futex transport ---------------------------------------------------- */

/* One client thread's slot: the client bumps req, the server copies it to
 * resp.  A cache line each, so threads do not share lines. */
struct fslot {
	_Atomic uint32_t req;
	char pad1[60];
	_Atomic uint32_t resp;
	char pad2[60];
};

static struct fslot *fslots;

static void futex_wait(_Atomic uint32_t *w, uint32_t was)
{
	syscall(SYS_futex, w, FUTEX_WAIT, was, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void *futex_serve(void *arg)
{
	struct fslot *s = arg;
	uint32_t seen = 0, v;
	for (;;) {
		while ((v = atomic_load(&s->req)) == seen)
			futex_wait(&s->req, seen);
		seen = v;
		atomic_store(&s->resp, v);
		futex_wake(&s->resp);
	}
	return NULL;
}

/* Forks the echo server of n slots; returns its pid or -1. */
static pid_t futex_server(int n)
{
	fslots = mmap(NULL, sizeof *fslots * (size_t)n, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fslots == MAP_FAILED)
		return -1;
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	for (int i = 0; i < n; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, futex_serve, &fslots[i]) != 0)
			_exit(2);
	}
	for (;;)
		pause();
}

static void futex_round_trip(struct fslot *s)
{
	uint32_t n = atomic_load(&s->req) + 1, v;
	atomic_store(&s->req, n);
	futex_wake(&s->req);
	while ((v = atomic_load(&s->resp)) != n)
		futex_wait(&s->resp, v);
}

struct cslot {
	uint64_t ok, err, t_end;
	char first[48];
	struct hist h;
};

struct ccell {
	int nthreads;
	uint64_t quota, t_go, deadline;
	pthread_barrier_t warm, go;
	struct cslot *slots;
};

struct cworker {
	struct ccell *c;
	int idx;
};

static int round_trip(int fd, unsigned char *req, unsigned char *resp)
{
	if (write_all(fd, req, 4 + PAYLOAD) != 0)
		return -1;
	int n = read_frame(fd, resp, MAXFRAME);
	if (n != PAYLOAD || memcmp(req, resp, 4 + PAYLOAD) != 0)
		return -1;
	return 0;
}

/* One op: the round trips, then the application's own work. */
static int op(struct fslot *fs, int fd, unsigned char *req, unsigned char *resp)
{
	for (int i = 0; i < trips; i++) {
		if (fs)
			futex_round_trip(fs);
		else if (round_trip(fd, req, resp) != 0)
			return -1;
	}
	spin_us(work_us);
	return 0;
}

static void *client_thread(void *arg)
{
	struct cworker *w = arg;
	struct ccell *c = w->c;
	struct cslot *sl = &c->slots[w->idx];
	unsigned char req[4 + PAYLOAD], resp[MAXFRAME];
	uint32_t len = htonl(PAYLOAD);
	memcpy(req, &len, 4);
	for (int i = 0; i < PAYLOAD; i++)
		req[4 + i] = (unsigned char)(i * 7 + w->idx);
	struct sockaddr_un sa;
	struct fslot *fs = fslots ? &fslots[w->idx] : NULL;
	int fd = fs ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = fs || (fd >= 0 && unix_addr(sock_path, &sa) == 0 &&
			connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	if (!ok) {
		sl->err++;
		snprintf(sl->first, sizeof sl->first, "connect:%s", strerror(errno));
	} else {
		double wsec = duration * 0.2 > 0.1 ? 0.1 : duration * 0.2;
		uint64_t wend = now_ns() + (uint64_t)(wsec * 1e9);
		for (int i = 0; i < 200 && now_ns() < wend; i++)
			if (op(fs, fd, req, resp) != 0)
				break;
	}
	pthread_barrier_wait(&c->warm);
	pthread_barrier_wait(&c->go);
	uint64_t done = 0, t0, t1 = now_ns();
	while (ok && done < c->quota) {
		t0 = t1;
		if (t0 >= c->deadline)
			break;
		int r = op(fs, fd, req, resp);
		t1 = now_ns();
		done++;
		if (r == 0) {
			sl->ok++;
			hist_add(&sl->h, t1 - t0);
		} else {
			if (sl->err++ == 0)
				snprintf(sl->first, sizeof sl->first, "roundtrip:%s",
					 errno ? strerror(errno) : "short");
			break; /* the stream is out of step now */
		}
	}
	sl->t_end = now_ns();
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void client_cell(const char *target, int nthreads)
{
	struct ccell c = { .nthreads = nthreads };
	c.slots = calloc((size_t)nthreads, sizeof *c.slots);
	c.quota = (uint64_t)((max_ops + nthreads - 1) / nthreads);
	pthread_barrier_init(&c.warm, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&c.go, NULL, (unsigned)nthreads + 1);
	pthread_t th[64];
	struct cworker w[64];
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct cworker){ &c, i };
		pthread_create(&th[i], NULL, client_thread, &w[i]);
	}
	pthread_barrier_wait(&c.warm);
	c.t_go = now_ns();
	c.deadline = c.t_go + (uint64_t)(duration * 1e9);
	pthread_barrier_wait(&c.go);
	struct hist *h = calloc(1, sizeof *h);
	uint64_t ok = 0, err = 0, t_end = c.t_go;
	const char *first = "";
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		ok += c.slots[i].ok;
		err += c.slots[i].err;
		if (c.slots[i].t_end > t_end)
			t_end = c.slots[i].t_end;
		if (c.slots[i].err && !first[0])
			first = c.slots[i].first;
		hist_merge(h, &c.slots[i].h);
	}
	double secs = (double)(t_end - c.t_go) / 1e9;
	print_row(stdout, target, "roundtrip", nthreads, 1, secs > 0 ? (double)ok / secs : 0, h,
		  err, first, -1);
	free(h);
	free(c.slots);
	pthread_barrier_destroy(&c.warm);
	pthread_barrier_destroy(&c.go);
}

static int usage(void)
{
	fprintf(stderr, "usage: floor server SOCKET [--work-us N]\n"
			"       floor client SOCKET [--threads 1,2,4,8] [--duration S] "
			"[--max-ops N] [--trips N] [--work-us N] [--futex]\n"
			"                     [--target NAME] [--header]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "server") == 0) {
		if (argc == 5 && strcmp(argv[3], "--work-us") == 0)
			serve_us = atoi(argv[4]);
		else if (argc != 3)
			return usage();
		return serve_us < 0 ? usage() : server(argv[2]);
	}
	if (strcmp(argv[1], "client") != 0)
		return usage();
	sock_path = argv[2];
	const char *target = "floor";
	int threads[16], nthreads = parse_int_list("1,2,4,8", threads, 16);
	int header = 0, futex = 0;
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--header") == 0) {
			header = 1;
			continue;
		}
		if (strcmp(a, "--futex") == 0) {
			futex = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (strcmp(a, "--threads") == 0)
			nthreads = parse_int_list(v, threads, 16);
		else if (strcmp(a, "--duration") == 0)
			duration = atof(v);
		else if (strcmp(a, "--max-ops") == 0)
			max_ops = atol(v);
		else if (strcmp(a, "--trips") == 0)
			trips = atoi(v);
		else if (strcmp(a, "--work-us") == 0)
			work_us = atoi(v);
		else if (strcmp(a, "--target") == 0)
			target = v;
		else
			return usage();
	}
	if (nthreads <= 0 || duration <= 0 || max_ops <= 0 || trips < 0 || work_us < 0)
		return usage();
	int most = 0;
	for (int i = 0; i < nthreads; i++) {
		if (threads[i] > 64)
			return usage();
		most = threads[i] > most ? threads[i] : most;
	}
	pid_t fpid = 0;
	if (futex && (fpid = futex_server(most)) < 0) {
		perror("floor: futex server");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)(30 + 3 * duration * nthreads)); /* never hang a campaign */
	if (header)
		printf("%s\n", CSV_HEADER);
	for (int i = 0; i < nthreads; i++)
		client_cell(target, threads[i]);
	if (fpid > 0) {
		kill(fpid, SIGKILL);
		waitpid(fpid, NULL, 0);
	}
	return 0;
}
