//go:build ignore

/*
 * vendormech.c - sends faultmod's vendor mechanism (FAULTMOD_CKM_ECHO,
 * 0x80000f11, a struct(ulong, bytes) parameter) through a PKCS #11 module
 * and prints what comes back, for tests/vendormech.
 *
 *   vendormech MODULE
 *
 * Opens a session on the first slot with a token, C_DigestInit with the
 * echo mechanism and its parameter, C_Digest (size, then output), and
 * prints "init <rv>" and "digest <rv> <hex>" on stdout; then "bare <rv>",
 * C_DigestInit with another vendor type and no parameter, which a proxy
 * must pass to the module whatever it knows of the type.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "pkcs11.h"

struct echo_param {
	CK_ULONG tag;
	CK_BYTE_PTR pData;
	CK_ULONG ulDataLen;
};

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8, len = 0, i;
	CK_SESSION_HANDLE s;
	CK_BYTE data[] = "gop11 vendor struct";
	struct echo_param p = {0x0102030405060708UL, data, sizeof(data) - 1};
	CK_MECHANISM m = {CKM_VENDOR_DEFINED | 0xf11UL, &p, sizeof(p)};
	CK_BYTE out[512];
	CK_RV rv;
	void *h;

	if (argc != 2) {
		fprintf(stderr, "usage: vendormech MODULE\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL || (get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")) == NULL) {
		fprintf(stderr, "vendormech: cannot load %s: %s\n", argv[1], dlerror());
		return 1;
	}
	if ((rv = get(&f)) != CKR_OK || (rv = f->C_Initialize(NULL)) != CKR_OK ||
	    (rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK || n == 0 ||
	    (rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK) {
		fprintf(stderr, "vendormech: set-up failed: 0x%lx (slots %lu)\n", (unsigned long)rv, (unsigned long)n);
		return 1;
	}
	rv = f->C_DigestInit(s, &m);
	printf("init 0x%lx\n", (unsigned long)rv);
	if (rv == CKR_OK) {
		rv = f->C_Digest(s, (CK_BYTE_PTR)"x", 1, NULL, &len);
		if (rv == CKR_OK && len <= sizeof(out))
			rv = f->C_Digest(s, (CK_BYTE_PTR)"x", 1, out, &len);
		printf("digest 0x%lx ", (unsigned long)rv);
		for (i = 0; rv == CKR_OK && i < len; i++)
			printf("%02x", out[i]);
		printf("\n");
	}
	{
		CK_MECHANISM bare = {CKM_VENDOR_DEFINED | 0xf99UL, NULL, 0};
		printf("bare 0x%lx\n", (unsigned long)f->C_DigestInit(s, &bare));
	}
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
