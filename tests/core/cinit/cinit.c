/* cinit: C_Initialize argument cases (spec 5.4) and fork() through a
 * PKCS #11 module, as a C application meets them. Prints one line per
 * check, "name rv=CKR_..." ; the Go test compares them with what the spec
 * and gop11's documentation say.
 *
 *   cinit MODULE          the C_Initialize cases
 *   cinit --fork MODULE   fork after a working call: the child's calls, then the parent's
 *   cinit --interface MODULE   the v3.0 C_GetInterfaceList / C_GetInterface, as
 *                         OpenSSL's pkcs11-provider asks for them, then a call
 *                         through the function list they give
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR F;

static const char *rvname(CK_RV rv)
{
	static char buf[32];
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_CRYPTOKI_ALREADY_INITIALIZED: return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_CANT_LOCK: return "CKR_CANT_LOCK";
	case CKR_NEED_TO_CREATE_THREADS: return "CKR_NEED_TO_CREATE_THREADS";
	case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
	}
	snprintf(buf, sizeof buf, "0x%lx", (unsigned long)rv);
	return buf;
}

static void say(const char *what, CK_RV rv) { printf("%s rv=%s\n", what, rvname(rv)); fflush(stdout); }

static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *p = malloc(sizeof *p);
	if (p == NULL) return CKR_HOST_MEMORY;
	pthread_mutex_init(p, NULL);
	*m = p;
	return CKR_OK;
}
static CK_RV destroy_mutex(CK_VOID_PTR m) { pthread_mutex_destroy(m); free(m); return CKR_OK; }
static CK_RV lock_mutex(CK_VOID_PTR m) { pthread_mutex_lock(m); return CKR_OK; }
static CK_RV unlock_mutex(CK_VOID_PTR m) { pthread_mutex_unlock(m); return CKR_OK; }

static void init_case(const char *name, CK_C_INITIALIZE_ARGS *a)
{
	CK_RV rv = F->C_Initialize(a);
	say(name, rv);
	if (rv == CKR_OK) {
		CK_INFO info;
		say("  C_GetInfo", F->C_GetInfo(&info));
		say("  C_Finalize", F->C_Finalize(NULL));
	}
}

static int init_cases(void)
{
	CK_C_INITIALIZE_ARGS a;
	CK_INFO info;
	int dummy;

	say("before-init C_GetInfo", F->C_GetInfo(&info));
	init_case("null-args", NULL);
	memset(&a, 0, sizeof a);
	a.flags = CKF_OS_LOCKING_OK;
	init_case("os-locking", &a);
	memset(&a, 0, sizeof a);
	a.CreateMutex = create_mutex; a.DestroyMutex = destroy_mutex;
	a.LockMutex = lock_mutex; a.UnlockMutex = unlock_mutex;
	init_case("app-mutexes", &a);
	a.flags = CKF_OS_LOCKING_OK;
	init_case("app-mutexes+os-locking", &a);
	memset(&a, 0, sizeof a);
	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
	init_case("cant-create-threads", &a);
	memset(&a, 0, sizeof a);
	a.CreateMutex = create_mutex; a.LockMutex = lock_mutex;
	init_case("some-mutexes", &a);
	memset(&a, 0, sizeof a);
	a.pReserved = &dummy;
	init_case("reserved-set", &a);

	say("init", F->C_Initialize(NULL));
	say("init-again", F->C_Initialize(NULL));
	say("finalize-reserved", F->C_Finalize(&dummy));
	say("finalize", F->C_Finalize(NULL));
	say("after-finalize C_GetInfo", F->C_GetInfo(&info));
	say("finalize-again", F->C_Finalize(NULL));
	say("reinit", F->C_Initialize(NULL));
	say("reinit C_GetInfo", F->C_GetInfo(&info));
	say("final", F->C_Finalize(NULL));
	return 0;
}

static int fork_case(void)
{
	CK_INFO info;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_SESSION_HANDLE s;
	int status;
	pid_t pid;

	say("parent init", F->C_Initialize(NULL));
	say("parent C_GetInfo", F->C_GetInfo(&info));
	say("parent C_GetSlotList", F->C_GetSlotList(CK_TRUE, slots, &n));
	pid = fork();
	if (pid < 0) { perror("fork"); return 2; }
	if (pid == 0) {
		alarm(10); /* a hang is a failure, not a stuck test */
		say("child C_GetInfo", F->C_GetInfo(&info));
		say("child C_OpenSession", F->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s));
		say("child C_Initialize", F->C_Initialize(NULL));
		say("child C_Finalize", F->C_Finalize(NULL));
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("child ended badly: status 0x%x\n", status);
		return 1;
	}
	say("parent after fork C_GetInfo", F->C_GetInfo(&info));
	say("parent after fork C_OpenSession", F->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s));
	say("parent C_CloseSession", F->C_CloseSession(s));
	say("parent C_Finalize", F->C_Finalize(NULL));
	return 0;
}

static int interface_case(void *h)
{
	CK_C_GetInterfaceList list = (CK_C_GetInterfaceList)dlsym(h, "C_GetInterfaceList");
	CK_C_GetInterface get = (CK_C_GetInterface)dlsym(h, "C_GetInterface");
	CK_INTERFACE ifs[4];
	CK_INTERFACE_PTR ifp = NULL;
	CK_VERSION v30 = {3, 0}, v240 = {2, 40};
	CK_ULONG n = 0;
	CK_FUNCTION_LIST_PTR fl;
	CK_INFO info;

	if (list == NULL || get == NULL) {
		printf("C_GetInterfaceList/C_GetInterface not exported\n");
		return 1;
	}
	say("list NULL", list(NULL, &n));
	printf("  count=%lu\n", (unsigned long)n);
	n = 0;
	say("list short", list(ifs, &n));
	n = 4;
	say("list", list(ifs, &n));
	printf("  name=%s version=%d.%d\n", (char *)ifs[0].pInterfaceName,
	       ((CK_FUNCTION_LIST_PTR)ifs[0].pFunctionList)->version.major,
	       ((CK_FUNCTION_LIST_PTR)ifs[0].pFunctionList)->version.minor);
	say("get default", get(NULL, NULL, &ifp, 0));
	say("get PKCS 11 2.40", get((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &ifp, 0));
	say("get PKCS 11 3.0", get((CK_UTF8CHAR_PTR)"PKCS 11", &v30, &ifp, 0));
	say("get other name", get((CK_UTF8CHAR_PTR)"Vendor X", NULL, &ifp, 0));
	say("get fork-safe", get(NULL, NULL, &ifp, CKF_INTERFACE_FORK_SAFE));
	say("get NULL out", get(NULL, NULL, NULL, 0));
	get(NULL, NULL, &ifp, 0);
	fl = (CK_FUNCTION_LIST_PTR)ifp->pFunctionList;
	say("via interface C_Initialize", fl->C_Initialize(NULL));
	say("via interface C_GetInfo", fl->C_GetInfo(&info));
	say("via interface C_Finalize", fl->C_Finalize(NULL));
	return 0;
}

int main(int argc, char **argv)
{
	int forking = argc == 3 && strcmp(argv[1], "--fork") == 0;
	int iface = argc == 3 && strcmp(argv[1], "--interface") == 0;
	const char *path = argv[argc - 1];
	void *h;
	CK_C_GetFunctionList get;

	if (argc < 2) { fprintf(stderr, "usage: cinit [--fork] MODULE\n"); return 2; }
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) { fprintf(stderr, "dlopen %s: %s\n", path, dlerror()); return 2; }
	get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(&F) != CKR_OK) { fprintf(stderr, "C_GetFunctionList failed\n"); return 2; }
	if (iface)
		return interface_case(h);
	return forking ? fork_case() : init_cases();
}
