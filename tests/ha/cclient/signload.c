/*
 * signload: a threaded signing application in C for tests/ha.
 *
 *   signload MODULE SLOT sign SECONDS THREADS
 *       THREADS threads, each with its own session, sign for SECONDS with
 *       the key pairs labelled "ec" (CKM_ECDSA) and "rsa"
 *       (CKM_SHA256_RSA_PKCS) in turn, and verify every signature with
 *       the public key of the same label. At the end one line:
 *         signed=N verified=N failed=N max_call_us=N first_error=CALL:0xRV
 *   signload MODULE SLOT digest BYTES
 *       C_DigestInit (SHA-256) and C_DigestUpdate of BYTES bytes in 64 KiB
 *       parts; prints "updated", waits for a line on stdin, then makes one
 *       more C_DigestUpdate and C_DigestFinal and prints their return
 *       values, then digests "abc" in a new operation on the same session
 *       and prints that return value, and the first digest in hex:
 *         update=0xRV final=0xRV again=0xRV digest=HEX
 *
 * The user PIN comes from SIGNLOAD_PIN (no login when unset). Exit 0 when
 * every call succeeded (sign) or the program ran to its end (digest); a
 * setup failure prints "signload: CALL: rv=0x..." and exits 2.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static double deadline;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long n_signed, n_verified, n_failed;
static double max_call;
static char first_error[64];

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *call, CK_RV rv) {
	fprintf(stderr, "signload: %s: rv=0x%lx\n", call, (unsigned long)rv);
	exit(2);
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label) {
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	CK_RV rv = p11->C_FindObjectsInit(s, t, 2);
	if (rv != CKR_OK)
		die("C_FindObjectsInit", rv);
	if ((rv = p11->C_FindObjects(s, &h, 1, &n)) != CKR_OK)
		die("C_FindObjects", rv);
	if ((rv = p11->C_FindObjectsFinal(s)) != CKR_OK)
		die("C_FindObjectsFinal", rv);
	if (n != 1) {
		fprintf(stderr, "signload: no object labelled %s\n", label);
		exit(2);
	}
	return h;
}

/* timed records one call's duration and result; false if it failed. */
static int timed(const char *call, double start, CK_RV rv) {
	double d = now() - start;
	pthread_mutex_lock(&mu);
	if (d > max_call)
		max_call = d;
	if (rv != CKR_OK) {
		n_failed++;
		if (!first_error[0])
			snprintf(first_error, sizeof first_error, "%s:0x%lx", call, (unsigned long)rv);
	}
	pthread_mutex_unlock(&mu);
	return rv == CKR_OK;
}

static void *signer(void *arg) {
	(void)arg;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		die("C_OpenSession", rv);
	CK_OBJECT_HANDLE priv[2] = {find(s, CKO_PRIVATE_KEY, "ec"), find(s, CKO_PRIVATE_KEY, "rsa")};
	CK_OBJECT_HANDLE pub[2] = {find(s, CKO_PUBLIC_KEY, "ec"), find(s, CKO_PUBLIC_KEY, "rsa")};
	CK_MECHANISM mech[2] = {{CKM_ECDSA, NULL, 0}, {CKM_SHA256_RSA_PKCS, NULL, 0}};
	unsigned char data[32], sig[512];
	for (unsigned long i = 0; now() < deadline; i++) {
		int k = i % 2;
		memset(data, (int)i, sizeof data);
		CK_ULONG len = 0;
		double t = now();
		if (!timed("C_SignInit", t, p11->C_SignInit(s, &mech[k], priv[k])))
			continue;
		t = now();
		if (!timed("C_Sign", t, p11->C_Sign(s, data, sizeof data, NULL, &len)))
			continue;
		t = now();
		if (!timed("C_Sign", t, p11->C_Sign(s, data, sizeof data, sig, &len)))
			continue;
		pthread_mutex_lock(&mu);
		n_signed++;
		pthread_mutex_unlock(&mu);
		t = now();
		if (!timed("C_VerifyInit", t, p11->C_VerifyInit(s, &mech[k], pub[k])))
			continue;
		t = now();
		if (!timed("C_Verify", t, p11->C_Verify(s, data, sizeof data, sig, len)))
			continue;
		pthread_mutex_lock(&mu);
		n_verified++;
		pthread_mutex_unlock(&mu);
	}
	p11->C_CloseSession(s);
	return NULL;
}

static void digest(long bytes) {
	CK_SESSION_HANDLE s;
	CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		die("C_OpenSession", rv);
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	if ((rv = p11->C_DigestInit(s, &m)) != CKR_OK)
		die("C_DigestInit", rv);
	static unsigned char part[65536];
	for (long done = 0; done < bytes; done += sizeof part) {
		CK_ULONG n = bytes - done < (long)sizeof part ? (CK_ULONG)(bytes - done) : sizeof part;
		if ((rv = p11->C_DigestUpdate(s, part, n)) != CKR_OK)
			die("C_DigestUpdate", rv);
	}
	printf("updated\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		die("reading stdin", 0);
	CK_RV up = p11->C_DigestUpdate(s, part, 16);
	unsigned char out[64];
	CK_ULONG len = sizeof out;
	CK_RV fin = p11->C_DigestFinal(s, out, &len);
	char hex[2 * sizeof out + 1] = "";
	for (CK_ULONG i = 0; fin == CKR_OK && i < len; i++)
		sprintf(hex + 2 * i, "%02x", out[i]);
	len = sizeof out;
	CK_RV again = p11->C_DigestInit(s, &m);
	if (again == CKR_OK)
		again = p11->C_Digest(s, (unsigned char *)"abc", 3, out, &len);
	printf("update=0x%lx final=0x%lx again=0x%lx digest=%s\n", (unsigned long)up, (unsigned long)fin, (unsigned long)again, hex);
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: signload MODULE SLOT sign SECONDS THREADS | digest BYTES\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "signload: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CK_RV rv = gfl(&p11);
	if (rv != CKR_OK)
		die("C_GetFunctionList", rv);
	CK_C_INITIALIZE_ARGS ia = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
	if ((rv = p11->C_Initialize(&ia)) != CKR_OK)
		die("C_Initialize", rv);
	slot = strtoul(argv[2], NULL, 10);
	const char *pin = getenv("SIGNLOAD_PIN");
	CK_SESSION_HANDLE ls;
	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ls)) != CKR_OK)
		die("C_OpenSession", rv);
	if (pin && (rv = p11->C_Login(ls, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK)
		die("C_Login", rv);
	if (strcmp(argv[3], "digest") == 0) {
		digest(atol(argv[4]));
		p11->C_Finalize(NULL);
		return 0;
	}
	if (argc < 6) {
		fprintf(stderr, "usage: signload MODULE SLOT sign SECONDS THREADS\n");
		return 2;
	}
	deadline = now() + atof(argv[4]);
	int threads = atoi(argv[5]);
	pthread_t th[64];
	if (threads < 1 || threads > 64)
		threads = 1;
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, signer, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("signed=%lu verified=%lu failed=%lu max_call_us=%.0f first_error=%s\n", n_signed, n_verified, n_failed,
	       max_call * 1e6, first_error[0] ? first_error : "none");
	p11->C_CloseSession(ls);
	p11->C_Finalize(NULL);
	return n_failed ? 1 : 0;
}
