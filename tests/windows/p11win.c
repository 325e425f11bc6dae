//go:build ignore

/*
 * p11win: the PKCS #11 flow of a CA's key store (Lacuna Amplia's: find
 * the token by serial, log in, find the key by label, sign), and what a
 * Windows build of the client must get right besides: two-call buffers,
 * CK_ULONG and CK_BBOOL attributes, a packed mechanism parameter (GCM),
 * CK_UNAVAILABLE_INFORMATION at 32 bits, a wrong PIN.
 *
 * The same source builds for Linux (dlopen) and Windows (LoadLibrary), so
 * the Linux client and the Windows DLL under Wine are held to one
 * transcript. Usage:
 *
 *   p11win MODULE amplia SERIAL PIN OUTDIR   the flow; signatures to OUTDIR
 *   p11win MODULE nobroker                   C_Initialize must fail
 *   p11win MODULE bench SERIAL PIN N         N ECDSA signatures, timed
 *
 * Prints one line per step; exits 1 at the first unexpected result.
 */
#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <time.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR f;

#define FAIL(...) do { printf("FAIL "); printf(__VA_ARGS__); printf("\n"); exit(1); } while (0)
#define WANT(call, want) do { CK_RV rv_ = (call); \
	if (rv_ != (want)) FAIL("%s: rv 0x%lx, want 0x%lx", #call, (unsigned long)rv_, (unsigned long)(want)); } while (0)
#define OK(call) WANT(call, CKR_OK)

static void *load(const char *path, const char *sym, void **lib)
{
#ifdef _WIN32
	HMODULE h = LoadLibraryA(path);
	if (h == NULL)
		FAIL("LoadLibrary %s: error %lu", path, (unsigned long)GetLastError());
	*lib = h;
	return (void *)GetProcAddress(h, sym);
#else
	void *h = dlopen(path, RTLD_NOW);
	if (h == NULL)
		FAIL("dlopen %s: %s", path, dlerror());
	*lib = h;
	return dlsym(h, sym);
#endif
}

static void *symbol(void *lib, const char *sym)
{
#ifdef _WIN32
	return (void *)GetProcAddress((HMODULE)lib, sym);
#else
	return dlsym(lib, sym);
#endif
}

static double now_us(void)
{
#ifdef _WIN32
	LARGE_INTEGER c, fr;
	QueryPerformanceCounter(&c);
	QueryPerformanceFrequency(&fr);
	return (double)c.QuadPart * 1e6 / (double)fr.QuadPart;
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
#endif
}

/* text prints a blank-padded field without its padding. */
static const char *text(const CK_UTF8CHAR *p, size_t n)
{
	static char buf[65];
	while (n > 0 && p[n - 1] == ' ')
		n--;
	memcpy(buf, p, n);
	buf[n] = 0;
	return buf;
}

static void write_file(const char *dir, const char *name, const void *p, CK_ULONG n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(p, 1, n, fp) != n || fclose(fp) != 0)
		FAIL("write %s", path);
}

static CK_SLOT_ID find_token(const char *serial)
{
	CK_ULONG n = 0;
	OK(f->C_GetSlotList(CK_TRUE, NULL, &n));
	CK_SLOT_ID *slots = calloc(n + 1, sizeof *slots);
	OK(f->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		OK(f->C_GetTokenInfo(slots[i], &ti));
		if (strcmp(text(ti.serialNumber, sizeof ti.serialNumber), serial) == 0) {
			printf("token: found by serial, label %s, flags has CKF_LOGIN_REQUIRED %d\n",
			       text(ti.label, sizeof ti.label), (ti.flags & CKF_LOGIN_REQUIRED) != 0);
			CK_SLOT_ID s = slots[i];
			free(slots);
			return s;
		}
	}
	FAIL("no token with serial %s among %lu slots", serial, (unsigned long)n);
	return 0;
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	OK(f->C_FindObjectsInit(s, tmpl, 2));
	OK(f->C_FindObjects(s, h, 2, &n));
	OK(f->C_FindObjectsFinal(s));
	if (n != 1)
		FAIL("%lu objects labelled %s, want 1", (unsigned long)n, label);
	return h[0];
}

static CK_SESSION_HANDLE login(const char *serial, const char *pin, int wrong_first)
{
	CK_SLOT_ID slot = find_token(serial);
	CK_SESSION_HANDLE s;
	OK(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	if (wrong_first) {
		WANT(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"not-the-pin", 11), CKR_PIN_INCORRECT);
		printf("login: a wrong PIN answers CKR_PIN_INCORRECT\n");
	}
	OK(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin)));
	CK_SESSION_INFO si;
	OK(f->C_GetSessionInfo(s, &si));
	if (si.state != CKS_RW_USER_FUNCTIONS)
		FAIL("session state %lu after login", (unsigned long)si.state);
	if (wrong_first)
		printf("login: CKS_RW_USER_FUNCTIONS\n");
	return s;
}

static void digest(CK_SESSION_HANDLE s, const char *data, CK_BYTE out[32])
{
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	CK_ULONG n = 32;
	OK(f->C_DigestInit(s, &m));
	OK(f->C_Digest(s, (CK_BYTE_PTR)data, (CK_ULONG)strlen(data), out, &n));
	if (n != 32)
		FAIL("SHA-256 of %lu bytes", (unsigned long)n);
}

static void amplia(const char *serial, const char *pin, const char *outdir)
{
	const char *data = "to be signed by the CA";
	CK_SESSION_HANDLE s = login(serial, pin, 1);

	/* RSA: attributes of each kind, then a signature in two calls. */
	CK_OBJECT_HANDLE rsa = find_key(s, CKO_PRIVATE_KEY, "rsa-key");
	CK_KEY_TYPE kt = 99;
	CK_BBOOL can_sign = CK_FALSE;
	CK_BYTE secret[8];
	CK_ATTRIBUTE attrs[] = {
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_SIGN, &can_sign, sizeof can_sign},
		{CKA_MODULUS, NULL, 0},
		{CKA_PRIVATE_EXPONENT, secret, sizeof secret},
	};
	WANT(f->C_GetAttributeValue(s, rsa, attrs, 4), CKR_ATTRIBUTE_SENSITIVE);
	if (attrs[3].ulValueLen != CK_UNAVAILABLE_INFORMATION)
		FAIL("sensitive attribute length 0x%lx, want CK_UNAVAILABLE_INFORMATION", (unsigned long)attrs[3].ulValueLen);
	printf("rsa-key: CKA_KEY_TYPE %lu, CKA_SIGN %d, CKA_MODULUS %lu bytes, CKA_PRIVATE_EXPONENT unavailable\n",
	       (unsigned long)kt, can_sign, (unsigned long)attrs[2].ulValueLen);

	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_BYTE sig[512];
	CK_ULONG n = 0;
	OK(f->C_SignInit(s, &m, rsa));
	OK(f->C_Sign(s, (CK_BYTE_PTR)data, (CK_ULONG)strlen(data), NULL, &n));
	CK_ULONG need = n;
	n = 10;
	WANT(f->C_Sign(s, (CK_BYTE_PTR)data, (CK_ULONG)strlen(data), sig, &n), CKR_BUFFER_TOO_SMALL);
	if (n != need)
		FAIL("CKR_BUFFER_TOO_SMALL said %lu, the size query %lu", (unsigned long)n, (unsigned long)need);
	n = sizeof sig;
	OK(f->C_Sign(s, (CK_BYTE_PTR)data, (CK_ULONG)strlen(data), sig, &n));
	printf("rsa-key: CKM_SHA256_RSA_PKCS signature of %lu bytes (size query, then too small, then whole)\n", (unsigned long)n);
	write_file(outdir, "data", data, (CK_ULONG)strlen(data));
	write_file(outdir, "rsa.sig", sig, n);

	/* ECDSA on a SHA-256 digest made by the token. */
	CK_BYTE hash[32];
	digest(s, data, hash);
	CK_OBJECT_HANDLE ec = find_key(s, CKO_PRIVATE_KEY, "ec-key");
	CK_MECHANISM em = {CKM_ECDSA, NULL, 0};
	OK(f->C_SignInit(s, &em, ec));
	n = sizeof sig;
	OK(f->C_Sign(s, hash, sizeof hash, sig, &n));
	printf("ec-key: CKM_ECDSA signature of %lu bytes on a CKM_SHA256 digest\n", (unsigned long)n);
	write_file(outdir, "ec.sig", sig, n);

	/* A session AES key from a template of CK_ULONG and CK_BBOOL values. */
	CK_OBJECT_CLASS kc = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE kt_tmpl[] = {
		{CKA_CLASS, &kc, sizeof kc}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_VALUE_LEN, &len, sizeof len},
		{CKA_TOKEN, &no, sizeof no}, {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes},
		{CKA_LABEL, "win-aes", 7},
	};
	CK_MECHANISM gm = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE key;
	OK(f->C_GenerateKey(s, &gm, kt_tmpl, 7, &key));
	CK_ULONG got_len = 0;
	CK_BBOOL got_enc = CK_FALSE, got_tok = CK_TRUE;
	CK_ATTRIBUTE back[] = {{CKA_VALUE_LEN, &got_len, sizeof got_len}, {CKA_ENCRYPT, &got_enc, 1}, {CKA_TOKEN, &got_tok, 1}};
	OK(f->C_GetAttributeValue(s, key, back, 3));
	printf("aes key: CKA_VALUE_LEN %lu, CKA_ENCRYPT %d, CKA_TOKEN %d\n", (unsigned long)got_len, got_enc, got_tok);

	/* AES-GCM: CK_GCM_PARAMS is 48 bytes on Linux, 32 on Windows (32-bit
	 * CK_ULONGs, packed: pAAD at 16, not 24). */
	CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	CK_BYTE aad[] = "key store";
	CK_GCM_PARAMS gp = {iv, sizeof iv, 96, aad, sizeof aad - 1, 128};
	CK_MECHANISM cm = {CKM_AES_GCM, &gp, sizeof gp};
	const char *plain = "a certificate request";
	CK_BYTE ct[128], pt[128];
	CK_ULONG ctn = 0, ptn = 0;
	OK(f->C_EncryptInit(s, &cm, key));
	OK(f->C_Encrypt(s, (CK_BYTE_PTR)plain, (CK_ULONG)strlen(plain), NULL, &ctn));
	if (ctn > sizeof ct)
		FAIL("GCM size query %lu", (unsigned long)ctn);
	OK(f->C_Encrypt(s, (CK_BYTE_PTR)plain, (CK_ULONG)strlen(plain), ct, &ctn));
	OK(f->C_DecryptInit(s, &cm, key));
	OK(f->C_Decrypt(s, ct, ctn, NULL, &ptn));
	ptn = sizeof pt;
	OK(f->C_Decrypt(s, ct, ctn, pt, &ptn));
	if (ptn != strlen(plain) || memcmp(pt, plain, ptn) != 0)
		FAIL("GCM round trip: %lu bytes back", (unsigned long)ptn);
	ct[0] ^= 1;
	OK(f->C_DecryptInit(s, &cm, key));
	ptn = sizeof pt;
	CK_RV bad = f->C_Decrypt(s, ct, ctn, pt, &ptn);
	if (bad == CKR_OK)
		FAIL("GCM decrypt of a changed ciphertext answered CKR_OK");
	printf("aes-gcm: %lu bytes of ciphertext and tag, decrypted back; a changed byte answers 0x%lx\n",
	       (unsigned long)ctn, (unsigned long)bad);

	OK(f->C_DestroyObject(s, key));

	/* ECDH with the EC key's own public point: the parameter's
	 * pPublicData is at offset 20 on Windows, where cgo cannot name it. */
	CK_OBJECT_HANDLE ecpub = find_key(s, CKO_PUBLIC_KEY, "ec-key");
	CK_BYTE point[128];
	CK_ATTRIBUTE pa = {CKA_EC_POINT, point, sizeof point};
	OK(f->C_GetAttributeValue(s, ecpub, &pa, 1));
	CK_ECDH1_DERIVE_PARAMS dp = {CKD_NULL, 0, NULL, pa.ulValueLen, point};
	CK_MECHANISM dm = {CKM_ECDH1_DERIVE, &dp, sizeof dp};
	CK_OBJECT_CLASS sc = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE dt[] = {
		{CKA_CLASS, &sc, sizeof sc}, {CKA_KEY_TYPE, &gk, sizeof gk}, {CKA_VALUE_LEN, &len, sizeof len},
		{CKA_TOKEN, &no, sizeof no}, {CKA_SENSITIVE, &no, sizeof no}, {CKA_EXTRACTABLE, &yes, sizeof yes},
	};
	CK_OBJECT_HANDLE shared;
	OK(f->C_DeriveKey(s, &dm, ec, dt, 6, &shared));
	CK_BYTE value[64];
	CK_ATTRIBUTE va = {CKA_VALUE, value, sizeof value};
	OK(f->C_GetAttributeValue(s, shared, &va, 1));
	printf("ecdh: %lu-byte public point, %lu-byte shared secret beginning %02x%02x%02x%02x\n", (unsigned long)pa.ulValueLen,
	       (unsigned long)va.ulValueLen, value[0], value[1], value[2], value[3]);
	OK(f->C_DestroyObject(s, shared));

	OK(f->C_Logout(s));
	OK(f->C_CloseSession(s));
}

static void bench(const char *serial, const char *pin, int n)
{
	CK_SESSION_HANDLE s = login(serial, pin, 0);
	CK_OBJECT_HANDLE ec = find_key(s, CKO_PRIVATE_KEY, "ec-key");
	CK_BYTE hash[32] = {0}, sig[128];
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	for (int warm = 1; warm >= 0; warm--) {
		int count = warm ? n / 10 + 1 : n;
		double t0 = now_us();
		for (int i = 0; i < count; i++) {
			CK_ULONG sn = sizeof sig;
			OK(f->C_SignInit(s, &m, ec));
			OK(f->C_Sign(s, hash, sizeof hash, sig, &sn));
		}
		if (!warm)
			printf("bench: %d ECDSA P-256 signatures, %.1f us each\n", count, (now_us() - t0) / count);
	}
	OK(f->C_Logout(s));
	OK(f->C_CloseSession(s));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3)
		FAIL("usage: p11win MODULE amplia|nobroker|bench ...");
	void *lib;
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)load(argv[1], "C_GetFunctionList", &lib);
	if (gfl == NULL)
		FAIL("C_GetFunctionList not exported");
	const char *more[] = {"C_Initialize", "C_GetSlotList", "C_Login", "C_Sign"};
	for (size_t i = 0; i < sizeof more / sizeof *more; i++)
		if (symbol(lib, more[i]) == NULL)
			FAIL("%s not exported", more[i]);
	OK(gfl(&f));
	/* Not part of the transcript: the platform's own (the test checks it). */
	printf("abi: CK_ULONG %u, CK_ATTRIBUTE %u, CK_MECHANISM %u, CK_GCM_PARAMS %u\n", (unsigned)sizeof(CK_ULONG),
	       (unsigned)sizeof(CK_ATTRIBUTE), (unsigned)sizeof(CK_MECHANISM), (unsigned)sizeof(CK_GCM_PARAMS));
	printf("exports: C_GetFunctionList, C_Initialize, ...; function list %d.%d\n",
	       f->version.major, f->version.minor);

	if (strcmp(argv[2], "nobroker") == 0) {
		WANT(f->C_Initialize(NULL), CKR_DEVICE_ERROR);
		WANT(f->C_GetInfo(&(CK_INFO){0}), CKR_CRYPTOKI_NOT_INITIALIZED);
		printf("no broker: C_Initialize answers CKR_DEVICE_ERROR\n");
		return 0;
	}
	CK_C_INITIALIZE_ARGS ia = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
	OK(f->C_Initialize(&ia));
	CK_INFO info;
	OK(f->C_GetInfo(&info));
	printf("C_GetInfo: cryptoki %d.%d, flags %lu\n", info.cryptokiVersion.major, info.cryptokiVersion.minor,
	       (unsigned long)info.flags);
	/* The library's own words: a broker's, not the vendor's. */
	printf("info: manufacturer %s, ", text(info.manufacturerID, sizeof info.manufacturerID));
	printf("library %s\n", text(info.libraryDescription, sizeof info.libraryDescription));
	if (strcmp(argv[2], "amplia") == 0 && argc == 6)
		amplia(argv[3], argv[4], argv[5]);
	else if (strcmp(argv[2], "bench") == 0 && argc == 6)
		bench(argv[3], argv[4], atoi(argv[5]));
	else
		FAIL("unknown mode or arguments: %s", argv[2]);
	OK(f->C_Finalize(NULL));
	/* As applications do at shutdown; a library whose code is unmapped
	 * under its own running threads crashes the process a moment later. */
#ifdef _WIN32
	FreeLibrary((HMODULE)lib);
	Sleep(300);
	if (strstr(argv[1], "libgop11.dll") != NULL) /* not part of the transcript */
		printf("unload: libgop11.dll %s after FreeLibrary\n", GetModuleHandleA("libgop11.dll") ? "stays mapped" : "unmapped");
#else
	dlclose(lib);
	struct timespec pause = {0, 300000000};
	nanosleep(&pause, NULL);
#endif
	printf("done\n");
	return 0;
}
