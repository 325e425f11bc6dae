/*
 * faultmod.c - a PKCS #11 module that forwards every call to a real module
 * and crashes or hangs on request, for gop11's crash and hang tests.
 *
 * Target: the module named by FAULTMOD_TARGET, by default SoftHSM2
 * (/usr/lib/softhsm/libsofthsm2.so).  It is dlopen'ed on the first
 * C_GetFunctionList or C_* call.
 *
 * Faults, on C_Sign only, chosen by the first bytes of the data to sign:
 *
 *   "gop11-crash"  abort()                        SIGABRT
 *   "gop11-segv"   a store through a NULL pointer  SIGSEGV
 *   "gop11-hang"   pause() forever                 until killed
 *   "gop11-forget" signs, then logs the token out: a token that forgot
 *                  its login (a reset), as far as the caller can tell
 *
 * Any other data goes to the target's C_Sign.
 *
 * FAULTMOD_SIGN_DELAY_US=N makes every C_Sign that produces a signature
 * (not a length query) sleep N microseconds first: a network HSM's
 * latency, for the failover benchmark (tests/bench/failover.sh).
 *
 * FAULTMOD_MAX_SESSIONS=N makes it an HSM that caps sessions: with N
 * sessions open (counted across slots), C_OpenSession answers
 * CKR_SESSION_COUNT.  Before crashing the module
 * sets RLIMIT_CORE to 0, so that a test never leaves a core file behind.
 *
 * A vendor mechanism, FAULTMOD_CKM_ECHO (0x80000f11), whose parameter is
 * a struct(ulong, bytes), CK_ULONG tag then CK_BYTE_PTR data and its
 * CK_ULONG length: C_DigestInit with it on any session, then C_Digest
 * answers the parameter it was given, the tag as 8 little-endian bytes
 * then the data, whatever it digests.  It shows that a vendor struct
 * declared by [[mechanism]] reaches the module byte for byte.
 *
 * C_GetFunctionList returns this module's own CK_FUNCTION_LIST: a copy of
 * the target's with C_Initialize, C_GetFunctionList, C_Sign, C_DigestInit
 * and C_Digest replaced.
 * All 68 C_* functions are exported as well, for clients that dlsym them;
 * each goes through that list.
 *
 * Build: gcc -shared -fPIC -O2 -Wall -Werror -I include \
 *            -o libfaultmod.so tests/faultmod/faultmod.c -ldl
 * (tests/harness.FaultModule does this once per test binary.)
 */

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pkcs11.h"

#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static CK_FUNCTION_LIST_PTR target;	/* the target's own list */
static CK_FUNCTION_LIST list;		/* ours: the target's, three entries replaced */

static CK_RV fault_Initialize(CK_VOID_PTR pInitArgs);
static CK_RV fault_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			       CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph);
static CK_RV fault_CloseSession(CK_SESSION_HANDLE h);
static CK_RV fault_CloseAllSessions(CK_SLOT_ID slot);

static long max_sessions;		/* FAULTMOD_MAX_SESSIONS; 0: no cap */
static long sign_delay_us;		/* FAULTMOD_SIGN_DELAY_US */
static long open_sessions;
static pthread_mutex_t sessions_mu = PTHREAD_MUTEX_INITIALIZER;
static CK_RV fault_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			CK_ULONG_PTR pulSignatureLen);
static CK_RV fault_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m);
static CK_RV fault_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl,
			  CK_BYTE_PTR out, CK_ULONG_PTR outl);

#define FAULTMOD_CKM_ECHO (CKM_VENDOR_DEFINED | 0xf11UL)

struct echo_param {
	CK_ULONG tag;
	CK_BYTE_PTR pData;
	CK_ULONG ulDataLen;
};

/* Echo operations under way, by session: what C_Digest answers. */
#define MAX_ECHOES 64
static struct {
	CK_SESSION_HANDLE session;	/* 0: free */
	CK_BYTE out[8 + 256];
	CK_ULONG len;
} echoes[MAX_ECHOES];
static pthread_mutex_t echoes_mu = PTHREAD_MUTEX_INITIALIZER;

/* load opens the target and builds list.  The target is never closed:
 * its code may still be on another thread's stack. */
static void load(void)
{
	const char *path = getenv("FAULTMOD_TARGET");
	void *h;
	CK_C_GetFunctionList get;
	CK_RV rv;

	if (path == NULL || *path == '\0')
		path = DEFAULT_TARGET;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "faultmod: dlopen %s: %s\n", path, dlerror());
		return;
	}
	get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (get == NULL) {
		fprintf(stderr, "faultmod: %s has no C_GetFunctionList\n", path);
		return;
	}
	rv = get(&target);
	if (rv != CKR_OK || target == NULL) {
		fprintf(stderr, "faultmod: %s: C_GetFunctionList: 0x%lx\n", path, (unsigned long)rv);
		return;
	}
	list = *target;
	list.C_Initialize = fault_Initialize;
	list.C_GetFunctionList = C_GetFunctionList;
	list.C_Sign = fault_Sign;
	list.C_DigestInit = fault_DigestInit;
	list.C_Digest = fault_Digest;
	if (getenv("FAULTMOD_SIGN_DELAY_US") != NULL)
		sign_delay_us = atol(getenv("FAULTMOD_SIGN_DELAY_US"));
	if (getenv("FAULTMOD_MAX_SESSIONS") != NULL) {
		max_sessions = atol(getenv("FAULTMOD_MAX_SESSIONS"));
		list.C_OpenSession = fault_OpenSession;
		list.C_CloseSession = fault_CloseSession;
		list.C_CloseAllSessions = fault_CloseAllSessions;
	}
	load_rv = CKR_OK;
}

static CK_RV loaded(void)
{
	pthread_once(&load_once, load);
	return load_rv;
}

static CK_RV fault_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
	const struct echo_param *p;
	CK_ULONG i, k;
	int free_slot = -1;

	if (m == NULL || m->mechanism != FAULTMOD_CKM_ECHO)
		return target->C_DigestInit(h, m);
	p = m->pParameter;
	if (p == NULL || m->ulParameterLen != sizeof(*p) || p->ulDataLen > 256 ||
	    (p->pData == NULL && p->ulDataLen != 0))
		return CKR_MECHANISM_PARAM_INVALID;
	pthread_mutex_lock(&echoes_mu);
	for (i = 0; i < MAX_ECHOES; i++) {
		if (echoes[i].session == h) {
			pthread_mutex_unlock(&echoes_mu);
			return CKR_OPERATION_ACTIVE;
		}
		if (echoes[i].session == 0 && free_slot < 0)
			free_slot = (int)i;
	}
	if (free_slot < 0) {
		pthread_mutex_unlock(&echoes_mu);
		return CKR_DEVICE_MEMORY;
	}
	echoes[free_slot].session = h;
	for (k = 0; k < 8; k++)
		echoes[free_slot].out[k] = (CK_BYTE)(p->tag >> (8 * k));
	if (p->ulDataLen > 0)
		memcpy(echoes[free_slot].out + 8, p->pData, p->ulDataLen);
	echoes[free_slot].len = 8 + p->ulDataLen;
	pthread_mutex_unlock(&echoes_mu);
	return CKR_OK;
}

static CK_RV fault_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl,
			  CK_BYTE_PTR out, CK_ULONG_PTR outl)
{
	CK_ULONG i;

	pthread_mutex_lock(&echoes_mu);
	for (i = 0; i < MAX_ECHOES; i++) {
		if (echoes[i].session != h)
			continue;
		if (outl == NULL) {
			pthread_mutex_unlock(&echoes_mu);
			return CKR_ARGUMENTS_BAD;
		}
		if (out == NULL || *outl < echoes[i].len) {
			CK_RV rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
			*outl = echoes[i].len;
			pthread_mutex_unlock(&echoes_mu);
			return rv;
		}
		memcpy(out, echoes[i].out, echoes[i].len);
		*outl = echoes[i].len;
		echoes[i].session = 0;
		pthread_mutex_unlock(&echoes_mu);
		return CKR_OK;
	}
	pthread_mutex_unlock(&echoes_mu);
	return target->C_Digest(h, in, inl, out, outl);
}

static CK_RV fault_Initialize(CK_VOID_PTR pInitArgs)
{
	if (target->C_Initialize == NULL)
		return CKR_FUNCTION_NOT_SUPPORTED;
	return target->C_Initialize(pInitArgs);
}

static CK_RV fault_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			       CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph)
{
	CK_RV rv;

	pthread_mutex_lock(&sessions_mu);
	if (max_sessions > 0 && open_sessions >= max_sessions) {
		pthread_mutex_unlock(&sessions_mu);
		return CKR_SESSION_COUNT;
	}
	open_sessions++;	/* reserved: another thread may be opening too */
	pthread_mutex_unlock(&sessions_mu);
	rv = target->C_OpenSession(slot, flags, app, notify, ph);
	pthread_mutex_lock(&sessions_mu);
	if (rv != CKR_OK)
		open_sessions--;
	pthread_mutex_unlock(&sessions_mu);
	return rv;
}

static CK_RV fault_CloseSession(CK_SESSION_HANDLE h)
{
	CK_RV rv = target->C_CloseSession(h);

	if (rv == CKR_OK) {
		pthread_mutex_lock(&sessions_mu);
		open_sessions--;
		pthread_mutex_unlock(&sessions_mu);
	}
	return rv;
}

/* C_CloseAllSessions: the count is of every slot; tests that cap
 * sessions use one token. */
static CK_RV fault_CloseAllSessions(CK_SLOT_ID slot)
{
	CK_RV rv = target->C_CloseAllSessions(slot);

	if (rv == CKR_OK) {
		pthread_mutex_lock(&sessions_mu);
		open_sessions = 0;
		pthread_mutex_unlock(&sessions_mu);
	}
	return rv;
}

static int has_prefix(CK_BYTE_PTR data, CK_ULONG len, const char *prefix)
{
	size_t n = strlen(prefix);

	return data != NULL && len >= n && memcmp(data, prefix, n) == 0;
}

static void no_core(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
}

static CK_RV fault_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
			CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			CK_ULONG_PTR pulSignatureLen)
{
	if (has_prefix(pData, ulDataLen, "gop11-crash")) {
		no_core();
		abort();
	}
	if (has_prefix(pData, ulDataLen, "gop11-segv")) {
		/* volatile: GCC would turn a known NULL store into a trap
		 * instruction (SIGILL) rather than a SIGSEGV. */
		volatile int *volatile p = NULL;

		no_core();
		*p = 1;
		abort();	/* not reached */
	}
	if (has_prefix(pData, ulDataLen, "gop11-hang")) {
		for (;;)
			pause();
	}
	if (target->C_Sign == NULL)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (has_prefix(pData, ulDataLen, "gop11-forget")) {
		CK_RV rv = target->C_Sign(hSession, pData, ulDataLen, pSignature, pulSignatureLen);

		if (rv == CKR_OK && pSignature != NULL && target->C_Logout != NULL)
			target->C_Logout(hSession);
		return rv;
	}
	if (sign_delay_us > 0 && pSignature != NULL) {
		struct timespec d = {sign_delay_us / 1000000, (sign_delay_us % 1000000) * 1000};

		while (nanosleep(&d, &d) != 0)
			;
	}
	return target->C_Sign(hSession, pData, ulDataLen, pSignature, pulSignatureLen);
}

CK_DEFINE_FUNCTION(CK_RV, C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	CK_RV rv = loaded();

	if (rv != CKR_OK)
		return rv;
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list;
	return CKR_OK;
}

/* FORWARD defines the exported C_name with the header's parameters: the
 * compiler checks them against the prototype from pkcs11f.h. */
#define FORWARD(name, params, args)					\
	CK_DEFINE_FUNCTION(CK_RV, name) params				\
	{								\
		CK_RV rv = loaded();					\
		if (rv != CKR_OK)					\
			return rv;					\
		if (list.name == NULL)					\
			return CKR_FUNCTION_NOT_SUPPORTED;		\
		return list.name args;					\
	}

FORWARD(C_Initialize, (CK_VOID_PTR a), (a))
FORWARD(C_Finalize, (CK_VOID_PTR a), (a))
FORWARD(C_GetInfo, (CK_INFO_PTR a), (a))
FORWARD(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))
FORWARD(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))
FORWARD(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c))
FORWARD(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d), (a, b, c, d))
FORWARD(C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e), (a, b, c, d, e))
FORWARD(C_OpenSession, (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d, CK_SESSION_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_CloseSession, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CloseAllSessions, (CK_SLOT_ID a), (a))
FORWARD(C_GetSessionInfo, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b), (a, b))
FORWARD(C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), (a, b, c, d, e))
FORWARD(C_Login, (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d), (a, b, c, d))
FORWARD(C_Logout, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (a, b, c, d))
FORWARD(C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))
FORWARD(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_GetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))
FORWARD(C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))
FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_FindObjects, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d), (a, b, c, d))
FORWARD(C_FindObjectsFinal, (CK_SESSION_HANDLE a), (a))
FORWARD(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), (a, b))
FORWARD(C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))
FORWARD(C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Sign, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_SignUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_SignFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))
FORWARD(C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e), (a, b, c, d, e))
FORWARD(C_VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_GenerateKeyPair, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
FORWARD(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f), (a, b, c, d, e, f))
FORWARD(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
FORWARD(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f), (a, b, c, d, e, f))
FORWARD(C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))
FORWARD(C_GetFunctionStatus, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CancelFunction, (CK_SESSION_HANDLE a), (a))
FORWARD(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c))
