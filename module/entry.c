/* The module's C-only entry points: fork detection, the function list and
 * the v3.0 interface discovery. None of these enter Go. */
#include <pthread.h>
#include "gop11.h"
#include "_cgo_export.h"

volatile int gop11_forked = 0;

#ifdef _WIN32
#include <windows.h>

/* A Go runtime cannot be unloaded (golang/go#11100): the DLL pins itself,
 * so an application's FreeLibrary leaves it mapped, as -z nodelete does
 * for libgop11.so. */
__attribute__((constructor)) static void gop11_pin(void)
{
	HMODULE self;
	GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
			   (LPCSTR)(void *)gop11_pin, &self);
}
#else
static void gop11_child(void) { gop11_forked = 1; }

__attribute__((constructor)) static void gop11_install_atfork(void)
{
	pthread_atfork(NULL, NULL, gop11_child);
}
#endif

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &gop11_function_list;
	return CKR_OK;
}

/* "PKCS 11" 3.0 (offered only when the broker's modules offer 3.0:
 * asked once, goGop11OffersV3) and 2.40; the first is the default. */
static CK_INTERFACE gop11_interfaces[2] = {
	{(CK_CHAR_PTR)"PKCS 11", &gop11_function_list_3_0, 0},
	{(CK_CHAR_PTR)"PKCS 11", &gop11_function_list, 0},
};

/* offered returns the interfaces this process may use and their count. A
 * forked child cannot enter Go: v2.40 only, as before it asks. */
static CK_INTERFACE *offered(CK_ULONG *n)
{
	if (!gop11_forked && goGop11OffersV3()) {
		*n = 2;
		return gop11_interfaces;
	}
	*n = 1;
	return &gop11_interfaces[1];
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	CK_ULONG n;
	CK_INTERFACE *list;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	list = offered(&n);
	if (pInterfacesList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, list, n * sizeof(CK_INTERFACE));
	*pulCount = n;
	return CKR_OK;
}

/* Not found (an unknown name, version or flag) is CKR_ARGUMENTS_BAD, as
 * NSS's softoken answers. */
CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
		     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	CK_ULONG n, i;
	CK_INTERFACE *list;

	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	list = offered(&n);
	for (i = 0; i < n; i++) {
		CK_VERSION *v = (CK_VERSION *)list[i].pFunctionList;
		if (pVersion != NULL && (pVersion->major != v->major || pVersion->minor != v->minor))
			continue;
		if ((flags & list[i].flags) != flags)
			continue;
		*ppInterface = &list[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
