/*
 * cantlock.c: a fake PKCS #11 module for the backend's tests. It refuses
 * CKF_OS_LOCKING_OK with CKR_CANT_LOCK (as a module without threads
 * support does), accepts no flags, answers C_GetInfo, counts the calls
 * that run at once in C_GenerateRandom, and says CKR_FUNCTION_NOT_SUPPORTED
 * to everything else.
 */
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include "pkcs11.h"

static int initialized;
static volatile int inside, most;

static CK_RV not_supported(void) { return CKR_FUNCTION_NOT_SUPPORTED; }

static CK_RV Initialize(CK_VOID_PTR p)
{
	CK_C_INITIALIZE_ARGS *a = p;
	if (initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	if (a != NULL && (a->flags & CKF_OS_LOCKING_OK))
		return CKR_CANT_LOCK;
	initialized = 1;
	return CKR_OK;
}

static CK_RV Finalize(CK_VOID_PTR p)
{
	(void)p;
	if (!initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	initialized = 0;
	return CKR_OK;
}

static CK_RV GetInfo(CK_INFO_PTR info)
{
	memset(info, ' ', sizeof *info);
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	memcpy(info->manufacturerID, "gop11 test", 10);
	info->flags = 0;
	memcpy(info->libraryDescription, "cannot lock", 11);
	info->libraryVersion.major = 1;
	info->libraryVersion.minor = 0;
	return CKR_OK;
}

/* The number of callers inside at once, most seen so far, in the output. */
static CK_RV GenerateRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG n)
{
	(void)s;
	int now = __sync_add_and_fetch(&inside, 1);
	if (now > most)
		most = now;
	usleep(2000);
	memset(out, most, n);
	__sync_sub_and_fetch(&inside, 1);
	return CKR_OK;
}

static CK_FUNCTION_LIST list;

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	void **f = (void **)&list.C_Initialize;
	size_t n = (sizeof list - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void *);
	for (size_t i = 0; i < n; i++)
		f[i] = (void *)not_supported;
	list.version.major = 2;
	list.version.minor = 40;
	list.C_Initialize = Initialize;
	list.C_Finalize = Finalize;
	list.C_GetInfo = GetInfo;
	list.C_GenerateRandom = GenerateRandom;
	*pp = &list;
	return CKR_OK;
}
