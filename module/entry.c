/* The module's C-only entry points: fork detection, the function list and
 * the v3.0 interface discovery. None of these enter Go. */
#include <pthread.h>
#include "gop11.h"

volatile int gop11_forked = 0;

static void gop11_child(void) { gop11_forked = 1; }

__attribute__((constructor)) static void gop11_install_atfork(void)
{
	pthread_atfork(NULL, NULL, gop11_child);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &gop11_function_list;
	return CKR_OK;
}

/* The one interface: "PKCS 11" at v2.40, with the v2.40 function list. */
static CK_INTERFACE gop11_interface = {
	(CK_CHAR_PTR)"PKCS 11", &gop11_function_list, 0
};

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = 1;
		return CKR_OK;
	}
	if (*pulCount < 1) {
		*pulCount = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	pInterfacesList[0] = gop11_interface;
	*pulCount = 1;
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
		     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	if (pVersion != NULL && (pVersion->major != 2 || pVersion->minor != 40))
		return CKR_ARGUMENTS_BAD;
	if ((flags & gop11_interface.flags) != flags)
		return CKR_ARGUMENTS_BAD;
	*ppInterface = &gop11_interface;
	return CKR_OK;
}
