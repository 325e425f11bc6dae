/*
 * failover.c: the failover benchmark's client (tests/bench/failover.sh).
 *
 *   failover MODULE SLOT PIN SECONDS THREADS [KILL_AT_S PIDFILE]
 *
 * THREADS threads, each with its own session, sign with CKM_ECDSA and the
 * private key labelled "ec" for SECONDS. With KILL_AT_S, the process whose
 * pid PIDFILE holds is sent SIGKILL that many seconds in (a group member's
 * worker). Output, on stdout:
 *
 *   bucket,ms,ops            one line per 100 ms: signatures completed in it
 *   ...
 *   summary ops=N failed=N ops_per_s=X p50_us=X p99_us=X max_us=X \
 *           loss_p99_us=X loss_max_us=X kill_ms=N first_error=CALL:0xRV
 *
 * loss_*: the calls that were under way at the kill or started in the 2 s
 * after it. Exit 0 when every call succeeded, 1 otherwise, 2 on a setup
 * failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"
#include "bench_common.h"

#define BUCKET_NS 100000000ull
#define MAX_BUCKETS 6000
#define LOSS_WINDOW_NS 2000000000ull

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static uint64_t start, deadline, kill_at; /* ns; kill_at 0: no kill */
static const char *pidfile;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t buckets[MAX_BUCKETS];
static struct hist all, loss;
static uint64_t n_failed, max_ns, loss_max_ns, killed_ns;
static char first_error[64] = "none";

static void die(const char *call, CK_RV rv)
{
	fprintf(stderr, "failover: %s: rv=0x%lx\n", call, (unsigned long)rv);
	exit(2);
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, "ec", 2}};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	CK_RV rv = p11->C_FindObjectsInit(s, t, 2);

	if (rv != CKR_OK)
		die("C_FindObjectsInit", rv);
	if ((rv = p11->C_FindObjects(s, &h, 1, &n)) != CKR_OK)
		die("C_FindObjects", rv);
	p11->C_FindObjectsFinal(s);
	if (n != 1)
		die("no private key labelled ec", CKR_GENERAL_ERROR);
	return h;
}

/* record notes one finished call that started at t0. */
static void record(uint64_t t0, CK_RV rv, const char *call)
{
	uint64_t t1 = now_ns(), d = t1 - t0;

	pthread_mutex_lock(&mu);
	if (rv != CKR_OK) {
		if (n_failed++ == 0)
			snprintf(first_error, sizeof first_error, "%s:0x%lx", call, (unsigned long)rv);
	} else {
		uint64_t b = (t1 - start) / BUCKET_NS;
		if (b < MAX_BUCKETS)
			buckets[b]++;
		hist_add(&all, d);
	}
	if (d > max_ns)
		max_ns = d;
	if (killed_ns && t1 >= killed_ns && t0 < killed_ns + LOSS_WINDOW_NS) {
		hist_add(&loss, d);
		if (d > loss_max_ns)
			loss_max_ns = d;
	}
	pthread_mutex_unlock(&mu);
}

static void *signer(void *arg)
{
	CK_SESSION_HANDLE s;
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE data[32], sig[128];
	CK_RV rv;

	(void)arg;
	memset(data, 0x5a, sizeof data);
	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
		die("C_OpenSession", rv);
	CK_OBJECT_HANDLE key = find_key(s);
	while (now_ns() < deadline) {
		CK_ULONG n = sizeof sig;
		uint64_t t0 = now_ns();

		rv = p11->C_SignInit(s, &mech, key);
		if (rv == CKR_OK)
			rv = p11->C_Sign(s, data, sizeof data, sig, &n);
		record(t0, rv, "C_Sign");
	}
	p11->C_CloseSession(s);
	return NULL;
}

static void *killer(void *arg)
{
	struct timespec ts;
	uint64_t now = now_ns();

	(void)arg;
	if (kill_at > now) {
		ts.tv_sec = (time_t)((kill_at - now) / 1000000000u);
		ts.tv_nsec = (long)((kill_at - now) % 1000000000u);
		nanosleep(&ts, NULL);
	}
	FILE *f = fopen(pidfile, "r");
	long pid = 0;

	if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
		fprintf(stderr, "failover: no pid in %s\n", pidfile);
		exit(2);
	}
	fclose(f);
	pthread_mutex_lock(&mu);
	killed_ns = now_ns();
	pthread_mutex_unlock(&mu);
	kill((pid_t)pid, SIGKILL);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 8) {
		fprintf(stderr, "usage: failover MODULE SLOT PIN SECONDS THREADS [KILL_AT_S PIDFILE]\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL) {
		fprintf(stderr, "failover: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	CK_RV rv;

	if (get == NULL || (rv = get(&p11)) != CKR_OK)
		die("C_GetFunctionList", CKR_GENERAL_ERROR);
	if ((rv = p11->C_Initialize(NULL)) != CKR_OK)
		die("C_Initialize", rv);
	slot = strtoul(argv[2], NULL, 10);
	int threads = atoi(argv[5]);
	CK_SESSION_HANDLE login;

	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login)) != CKR_OK)
		die("C_OpenSession", rv);
	if ((rv = p11->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]))) != CKR_OK)
		die("C_Login", rv);
	start = now_ns();
	deadline = start + (uint64_t)(atof(argv[4]) * 1e9);
	pthread_t tid[64], kt;

	if (threads < 1 || threads > 64)
		die("THREADS: 1 to 64", CKR_ARGUMENTS_BAD);
	if (argc == 8) {
		kill_at = start + (uint64_t)(atof(argv[6]) * 1e9);
		pidfile = argv[7];
		pthread_create(&kt, NULL, killer, NULL);
	}
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, signer, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	if (argc == 8)
		pthread_join(kt, NULL);
	p11->C_Logout(login);
	p11->C_CloseSession(login);
	p11->C_Finalize(NULL);

	uint64_t nb = (deadline - start) / BUCKET_NS;
	printf("bucket,ms,ops\n");
	for (uint64_t b = 0; b < nb && b < MAX_BUCKETS; b++)
		printf("%llu,%llu,%llu\n", (unsigned long long)b, (unsigned long long)(b * 100), (unsigned long long)buckets[b]);
	double secs = (double)(deadline - start) / 1e9;
	printf("summary ops=%llu failed=%llu ops_per_s=%.1f p50_us=%.0f p99_us=%.0f max_us=%.0f loss_p99_us=%.0f loss_max_us=%.0f kill_ms=%lld first_error=%s\n",
	       (unsigned long long)all.n, (unsigned long long)n_failed, (double)all.n / secs,
	       hist_pct_us(&all, 0.5), hist_pct_us(&all, 0.99), max_ns / 1e3,
	       hist_pct_us(&loss, 0.99), loss_max_ns / 1e3,
	       killed_ns ? (long long)((killed_ns - start) / 1000000u) : -1LL, first_error);
	return n_failed ? 1 : 0;
}
