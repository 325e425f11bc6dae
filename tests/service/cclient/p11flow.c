/*
 * p11flow: a PKCS #11 application in C that makes the calls two real
 * services make on their module, for tests/service (flows_test.go).
 *
 *   p11flow MODULE INIT TOKEN ACTION...
 *
 * MODULE  path or bare name of the library, passed to dlopen as is (a
 *         bare name is looked up in LD_LIBRARY_PATH, as Amplia's
 *         Module=libgop11.so is).
 * INIT    how C_Initialize is called:
 *           aziot      CKF_LIBRARY_CANT_CREATE_OS_THREADS and the four mutex
 *                      callbacks, as aziot-keys' pkcs11 crate does
 *                      (pkcs11/pkcs11/src/context.rs, Context::load_inner);
 *                      the slot list is sized with a non-NULL zero-length
 *                      buffer and CKR_BUFFER_TOO_SMALL, as its slots() does;
 *                      login only when C_GetSessionInfo says the session
 *                      is not logged in yet; existing keys with the label
 *                      are destroyed before a key pair is generated.
 *           oslocking  CKF_OS_LOCKING_OK and no callbacks, as a
 *                      multi-threaded .NET application on Pkcs11Interop
 *                      (Amplia) does; the slot list is sized with NULL
 *                      first; C_Login straight after C_OpenSession.
 * TOKEN   label=TEXT   the first initialized token whose blank-trimmed
 *                      label is TEXT (C_GetSlotList(CK_TRUE) and
 *                      C_GetTokenInfo on each slot)
 *         serial=TEXT  likewise by the blank-trimmed serialNumber
 *         slot=N       slot N without looking (the first call to reach a
 *                      module is then C_OpenSession)
 * ACTION  open                       nothing more than the R/W session
 *         gen-ec LABEL               EC P-256 key pair, CKA_TOKEN true,
 *                                    LABEL on both halves
 *         gen-rsa LABEL BITS         RSA key pair, exponent 65537
 *         sign LABEL MECH IN OUT     MECH: ecdsa (IN is the digest) or
 *                                    sha256-rsa-pkcs; the private key is
 *                                    found by class and label
 *         verify LABEL MECH IN SIG   C_Verify with the public key
 *
 * The user PIN comes from the environment, P11FLOW_PIN (no login when
 * unset). One R/W session is opened per run. Each step prints one line
 * on stdout; the first failing call prints "p11flow: CALL: rv=0x..." on
 * stderr and exits 1. A "timing" line gives, in microseconds, how long
 * C_Initialize, finding the token and the first C_OpenSession took: the
 * first call that reaches a module through gop11's config-mode broker
 * starts that module's worker.
 *
 * Built by the test with: gcc -std=c99 -Wall -Werror -I include ... -ldl -lpthread
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
static CK_SESSION_HANDLE session;
static int aziot; /* INIT is aziot */

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11flow: %s: rv=0x%lx\n", what, (unsigned long)rv);
	exit(1);
}

static void check(const char *what, CK_RV rv)
{
	if (rv != CKR_OK)
		die(what, rv);
}

static void fail(const char *msg, const char *arg)
{
	fprintf(stderr, "p11flow: %s%s\n", msg, arg ? arg : "");
	exit(1);
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- mutex callbacks for INIT aziot: pthread mutexes, counted ---- */

static int mutex_calls; /* every callback the module made */

static CK_RV create_mutex(CK_VOID_PTR_PTR pp)
{
	pthread_mutex_t *m;
	__atomic_fetch_add(&mutex_calls, 1, __ATOMIC_RELAXED);
	if (pp == NULL)
		return CKR_ARGUMENTS_BAD;
	m = malloc(sizeof *m);
	if (m == NULL)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(m, NULL);
	*pp = m;
	return CKR_OK;
}

static CK_RV destroy_mutex(CK_VOID_PTR p)
{
	__atomic_fetch_add(&mutex_calls, 1, __ATOMIC_RELAXED);
	if (p == NULL)
		return CKR_MUTEX_BAD;
	pthread_mutex_destroy(p);
	free(p);
	return CKR_OK;
}

static CK_RV lock_mutex(CK_VOID_PTR p)
{
	__atomic_fetch_add(&mutex_calls, 1, __ATOMIC_RELAXED);
	if (p == NULL)
		return CKR_MUTEX_BAD;
	return pthread_mutex_lock(p) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static CK_RV unlock_mutex(CK_VOID_PTR p)
{
	__atomic_fetch_add(&mutex_calls, 1, __ATOMIC_RELAXED);
	if (p == NULL)
		return CKR_MUTEX_BAD;
	return pthread_mutex_unlock(p) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

/* ---- helpers ---- */

/* trimmed copies a blank-padded CK_*_INFO text field without its padding
 * (on both sides, as Rust's str::trim in aziot). */
static void trimmed(char *dst, const CK_UTF8CHAR *src, size_t n)
{
	size_t b = 0, e = n;
	while (b < e && src[b] == ' ')
		b++;
	while (e > b && (src[e - 1] == ' ' || src[e - 1] == '\0'))
		e--;
	memcpy(dst, src + b, e - b);
	dst[e - b] = '\0';
}

static unsigned char *read_file(const char *path, CK_ULONG *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;
	if (f == NULL)
		fail("cannot open ", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n))
		fail("cannot read ", path);
	fclose(f);
	*len = (CK_ULONG)n;
	return buf;
}

static void write_file(const char *path, const unsigned char *buf, CK_ULONG len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		fail("cannot write ", path);
}

/* find_token walks C_GetSlotList(CK_TRUE) and returns the slot whose
 * token's label (field 'l') or serial number (field 's') is want. */
static CK_SLOT_ID find_token(char field, const char *want)
{
	CK_SLOT_ID one[1], *slots = one;
	CK_ULONG n = 0, i;
	CK_RV rv;
	if (aziot) {
		/* A non-NULL buffer of length 0, grown on CKR_BUFFER_TOO_SMALL. */
		for (;;) {
			CK_ULONG have = n;
			rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
			if (rv == CKR_OK)
				break;
			if (rv != CKR_BUFFER_TOO_SMALL)
				die("C_GetSlotList", rv);
			if (n <= have)
				die("C_GetSlotList: CKR_BUFFER_TOO_SMALL without a larger count", rv);
			if (slots != one)
				free(slots);
			slots = calloc(n, sizeof *slots);
			if (slots == NULL)
				fail("out of memory", NULL);
		}
	} else {
		check("C_GetSlotList(NULL)", p11->C_GetSlotList(CK_TRUE, NULL, &n));
		slots = calloc(n ? n : 1, sizeof *slots);
		if (slots == NULL)
			fail("out of memory", NULL);
		check("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, slots, &n));
	}
	printf("slots: %lu with a token\n", (unsigned long)n);
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char label[sizeof ti.label + 1], serial[sizeof ti.serialNumber + 1];
		check("C_GetTokenInfo", p11->C_GetTokenInfo(slots[i], &ti));
		trimmed(label, ti.label, sizeof ti.label);
		trimmed(serial, ti.serialNumber, sizeof ti.serialNumber);
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (strcmp(field == 'l' ? label : serial, want) == 0) {
			CK_SLOT_ID id = slots[i];
			printf("token: slot %lu, label \"%s\", serial \"%s\"\n", (unsigned long)id, label, serial);
			if (slots != one)
				free(slots);
			return id;
		}
	}
	fail("no token matches ", want);
	return 0;
}

static void login(void)
{
	const char *pin = getenv("P11FLOW_PIN");
	CK_RV rv;
	if (pin == NULL)
		return;
	if (aziot) {
		CK_SESSION_INFO si;
		check("C_GetSessionInfo", p11->C_GetSessionInfo(session, &si));
		if (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RW_SO_FUNCTIONS) {
			printf("login: already logged in\n");
			return;
		}
	}
	rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die("C_Login", rv);
	printf("login: rv=0x%lx\n", (unsigned long)rv);
}

/* find returns the one object of class cls labelled label, or
 * CK_INVALID_HANDLE when there is none; more than one is an error. */
static CK_OBJECT_HANDLE find(CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, (CK_VOID_PTR)label, strlen(label)},
	};
	CK_OBJECT_HANDLE h[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
	CK_ULONG n = 0;
	check("C_FindObjectsInit", p11->C_FindObjectsInit(session, tmpl, 2));
	check("C_FindObjects", p11->C_FindObjects(session, h, 2, &n));
	check("C_FindObjectsFinal", p11->C_FindObjectsFinal(session));
	if (n > 1)
		fail("more than one object labelled ", label);
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

/* check_key reads CKA_LABEL and CKA_TOKEN back from a generated key. */
static void check_key(const char *half, CK_OBJECT_HANDLE h, const char *label)
{
	char got[256];
	CK_BBOOL token = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{CKA_LABEL, got, sizeof got - 1},
		{CKA_TOKEN, &token, sizeof token},
	};
	check("C_GetAttributeValue", p11->C_GetAttributeValue(session, h, a, 2));
	got[a[0].ulValueLen] = '\0';
	if (strcmp(got, label) != 0 || token != CK_TRUE) {
		fprintf(stderr, "p11flow: %s key: CKA_LABEL \"%s\", CKA_TOKEN %d; want \"%s\", 1\n", half, got, token, label);
		exit(1);
	}
}

/* generate makes a key pair with aziot-keys' templates
 * (pkcs11/pkcs11/src/session.rs, generate_key_pair_inner): public
 * CKA_ENCRYPT, CKA_VERIFY, CKA_TOKEN true, CKA_PRIVATE false; private
 * CKA_DECRYPT, CKA_SIGN, CKA_SENSITIVE, CKA_PRIVATE, CKA_TOKEN true; the
 * label on both. */
static void generate(const char *label, CK_MECHANISM_TYPE mt, CK_ATTRIBUTE *extra, CK_ULONG nextra)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pub[8], priv[] = {
		{CKA_DECRYPT, &yes, sizeof yes},
		{CKA_PRIVATE, &yes, sizeof yes},
		{CKA_SENSITIVE, &yes, sizeof yes},
		{CKA_SIGN, &yes, sizeof yes},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_LABEL, (CK_VOID_PTR)label, strlen(label)},
	};
	CK_ATTRIBUTE common[] = {
		{CKA_ENCRYPT, &yes, sizeof yes},
		{CKA_PRIVATE, &no, sizeof no},
		{CKA_TOKEN, &yes, sizeof yes},
		{CKA_VERIFY, &yes, sizeof yes},
		{CKA_LABEL, (CK_VOID_PTR)label, strlen(label)},
	};
	CK_MECHANISM mech = {mt, NULL, 0};
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_ULONG npub = 0, i;
	long long t;
	for (i = 0; i < nextra; i++)
		pub[npub++] = extra[i];
	for (i = 0; i < sizeof common / sizeof common[0]; i++)
		pub[npub++] = common[i];
	if (aziot) {
		CK_OBJECT_CLASS classes[] = {CKO_PUBLIC_KEY, CKO_PRIVATE_KEY};
		for (i = 0; i < 2; i++) {
			CK_OBJECT_HANDLE old = find(classes[i], label);
			if (old != CK_INVALID_HANDLE) {
				check("C_DestroyObject", p11->C_DestroyObject(session, old));
				printf("destroyed an existing key labelled %s\n", label);
			}
		}
	}
	t = now_us();
	check("C_GenerateKeyPair", p11->C_GenerateKeyPair(session, &mech, pub, npub,
		priv, sizeof priv / sizeof priv[0], &hpub, &hpriv));
	if (hpub == CK_INVALID_HANDLE || hpriv == CK_INVALID_HANDLE)
		fail("C_GenerateKeyPair returned CK_INVALID_HANDLE for ", label);
	check_key("public", hpub, label);
	check_key("private", hpriv, label);
	printf("generated %s: label on both halves, CKA_TOKEN true, %lld ms\n", label, (now_us() - t) / 1000);
}

static CK_MECHANISM_TYPE mechanism(const char *name)
{
	if (strcmp(name, "ecdsa") == 0)
		return CKM_ECDSA;
	if (strcmp(name, "sha256-rsa-pkcs") == 0)
		return CKM_SHA256_RSA_PKCS;
	fail("unknown mechanism ", name);
	return 0;
}

static CK_OBJECT_HANDLE must_find(CK_OBJECT_CLASS cls, const char *label)
{
	CK_OBJECT_HANDLE h = find(cls, label);
	if (h == CK_INVALID_HANDLE)
		fail(cls == CKO_PRIVATE_KEY ? "no private key labelled " : "no public key labelled ", label);
	return h;
}

/* sign makes both calls of the two-call convention: the size, then the
 * signature. */
static void sign(const char *label, const char *mname, const char *in, const char *out)
{
	CK_MECHANISM mech = {mechanism(mname), NULL, 0};
	CK_ULONG len, siglen = 0;
	unsigned char *data = read_file(in, &len), *sig;
	check("C_SignInit", p11->C_SignInit(session, &mech, must_find(CKO_PRIVATE_KEY, label)));
	check("C_Sign(NULL)", p11->C_Sign(session, data, len, NULL, &siglen));
	sig = malloc(siglen ? siglen : 1);
	if (sig == NULL)
		fail("out of memory", NULL);
	check("C_Sign", p11->C_Sign(session, data, len, sig, &siglen));
	write_file(out, sig, siglen);
	printf("signed with %s (%s): %lu bytes\n", label, mname, (unsigned long)siglen);
	free(sig);
	free(data);
}

static void verify(const char *label, const char *mname, const char *in, const char *sigfile)
{
	CK_MECHANISM mech = {mechanism(mname), NULL, 0};
	CK_ULONG len, siglen;
	unsigned char *data = read_file(in, &len), *sig = read_file(sigfile, &siglen);
	check("C_VerifyInit", p11->C_VerifyInit(session, &mech, must_find(CKO_PUBLIC_KEY, label)));
	check("C_Verify", p11->C_Verify(session, data, len, sig, siglen));
	printf("verified with %s (%s)\n", label, mname);
	free(sig);
	free(data);
}

static void usage(void)
{
	fail("usage: p11flow MODULE aziot|oslocking label=L|serial=S|slot=N ACTION...", NULL);
}

int main(int argc, char **argv)
{
	static unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static unsigned char f4[] = {0x01, 0x00, 0x01};
	CK_C_GetFunctionList getFunctionList;
	CK_C_INITIALIZE_ARGS args;
	CK_INFO info;
	CK_SLOT_ID slot;
	long long t0, tInit, tFind, tOpen;
	void *lib;
	int i;

	if (argc < 5)
		usage();
	lib = dlopen(argv[1], RTLD_NOW);
	if (lib == NULL)
		fail("dlopen: ", dlerror());
	*(void **)&getFunctionList = dlsym(lib, "C_GetFunctionList");
	if (getFunctionList == NULL)
		fail("dlsym C_GetFunctionList: ", dlerror());
	check("C_GetFunctionList", getFunctionList(&p11));
	if (p11->version.major != 2 || p11->version.minor < 1)
		fail("function list version below 2.1", NULL);

	memset(&args, 0, sizeof args);
	if (strcmp(argv[2], "aziot") == 0) {
		aziot = 1;
		args.CreateMutex = create_mutex;
		args.DestroyMutex = destroy_mutex;
		args.LockMutex = lock_mutex;
		args.UnlockMutex = unlock_mutex;
		args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	} else if (strcmp(argv[2], "oslocking") == 0) {
		args.flags = CKF_OS_LOCKING_OK;
	} else {
		usage();
	}
	t0 = now_us();
	check("C_Initialize", p11->C_Initialize(&args));
	tInit = now_us();
	printf("initialize: flags=0x%lx, mutex callbacks %s\n", (unsigned long)args.flags, aziot ? "given" : "none");

	/* aziot requires Cryptoki 2.20 or later from C_GetInfo. */
	check("C_GetInfo", p11->C_GetInfo(&info));
	if (info.cryptokiVersion.major != 2 || info.cryptokiVersion.minor < 20)
		fail("C_GetInfo: Cryptoki version below 2.20", NULL);

	if (strncmp(argv[3], "label=", 6) == 0)
		slot = find_token('l', argv[3] + 6);
	else if (strncmp(argv[3], "serial=", 7) == 0)
		slot = find_token('s', argv[3] + 7);
	else if (strncmp(argv[3], "slot=", 5) == 0)
		slot = strtoul(argv[3] + 5, NULL, 0);
	else
		usage();
	tFind = now_us();
	check("C_OpenSession", p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session));
	if (session == CK_INVALID_HANDLE)
		fail("C_OpenSession returned CK_INVALID_HANDLE", NULL);
	tOpen = now_us();
	printf("timing initialize_us=%lld find_us=%lld open_session_us=%lld total_us=%lld\n",
		tInit - t0, tFind - tInit, tOpen - tFind, tOpen - t0);
	login();

	for (i = 4; i < argc; i++) {
		const char *a = argv[i];
		int left = argc - i - 1;
		if (strcmp(a, "open") == 0) {
			printf("session open on slot %lu\n", (unsigned long)slot);
		} else if (strcmp(a, "gen-ec") == 0 && left >= 1) {
			CK_ATTRIBUTE ec[] = {{CKA_EC_PARAMS, p256, sizeof p256}};
			generate(argv[i + 1], CKM_EC_KEY_PAIR_GEN, ec, 1);
			i += 1;
		} else if (strcmp(a, "gen-rsa") == 0 && left >= 2) {
			CK_ULONG bits = strtoul(argv[i + 2], NULL, 10);
			CK_ATTRIBUTE rsa[] = {
				{CKA_MODULUS_BITS, &bits, sizeof bits},
				{CKA_PUBLIC_EXPONENT, f4, sizeof f4},
			};
			generate(argv[i + 1], CKM_RSA_PKCS_KEY_PAIR_GEN, rsa, 2);
			i += 2;
		} else if (strcmp(a, "sign") == 0 && left >= 4) {
			sign(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]);
			i += 4;
		} else if (strcmp(a, "verify") == 0 && left >= 4) {
			verify(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]);
			i += 4;
		} else {
			fail("bad action or missing arguments: ", a);
		}
	}

	check("C_CloseSession", p11->C_CloseSession(session));
	check("C_Finalize", p11->C_Finalize(NULL));
	if (aziot)
		printf("mutex callbacks made by the module: %d\n", __atomic_load_n(&mutex_calls, __ATOMIC_RELAXED));
	printf("done\n");
	return 0;
}
