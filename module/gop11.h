/* Declarations shared by the module's C and Go files. Declarations only:
 * it is included in cgo preambles of files with //export. */
#ifndef GOP11_MODULE_H
#define GOP11_MODULE_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A Windows DLL exports only what is marked so: the C_* functions. */
#ifdef _WIN32
#define CK_DECLARE_FUNCTION(returnType, name) __declspec(dllexport) returnType name
#endif
#include "pkcs11.h"

/* Set in a forked child (pthread_atfork). The Go runtime does not survive
 * fork, so no exported function may enter Go there. */
extern volatile int gop11_forked;

#define GOP11_ENTER(rv_in_child) do { if (gop11_forked) return (rv_in_child); } while (0)

/* The largest alignment of a member of a PKCS #11 structure. */
#ifdef _WIN32
#define GOP11_STRUCT_PACK 1
#else
#define GOP11_STRUCT_PACK 8
#endif

/* Offsets of the members cgo cannot name under the Windows ABI, where
 * structures are packed to 1 byte and a pointer may follow a 32-bit
 * CK_ULONG: cconv.go reads and writes them with ptrAt and ulongAt. */
#define GOP11_OFF(T, m) gop11_off_##T##_##m = offsetof(T, m)
enum {
	GOP11_OFF(CK_ATTRIBUTE, pValue),
	GOP11_OFF(CK_MECHANISM, pParameter),
	GOP11_OFF(CK_INFO, flags),
	GOP11_OFF(CK_C_INITIALIZE_ARGS, pReserved),
	GOP11_OFF(CK_RSA_PKCS_OAEP_PARAMS, pSourceData),
	GOP11_OFF(CK_CCM_PARAMS, pNonce),
	GOP11_OFF(CK_ECDH1_DERIVE_PARAMS, pPublicData),
	GOP11_OFF(CK_EDDSA_PARAMS, ulContextDataLen),
	GOP11_OFF(CK_EDDSA_PARAMS, pContextData),
	GOP11_OFF(CK_CHACHA20_PARAMS, pNonce),
	GOP11_OFF(CK_SALSA20_CHACHA20_POLY1305_PARAMS, pAAD),
	GOP11_OFF(CK_HKDF_PARAMS, prfHashMechanism),
	GOP11_OFF(CK_HKDF_PARAMS, ulSaltType),
	GOP11_OFF(CK_HKDF_PARAMS, pSalt),
	GOP11_OFF(CK_HKDF_PARAMS, ulSaltLen),
	GOP11_OFF(CK_HKDF_PARAMS, hSaltKey),
	GOP11_OFF(CK_HKDF_PARAMS, pInfo),
	GOP11_OFF(CK_HKDF_PARAMS, ulInfoLen),
	GOP11_OFF(CK_GCM_MESSAGE_PARAMS, pTag),
	GOP11_OFF(CK_CCM_MESSAGE_PARAMS, pNonce),
	GOP11_OFF(CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS, pTag),
	GOP11_OFF(CK_SP800_108_KDF_PARAMS, pAdditionalDerivedKeys),
	GOP11_OFF(CK_SP800_108_FEEDBACK_KDF_PARAMS, pIV),
	GOP11_OFF(CK_PRF_DATA_PARAM, pValue),
	GOP11_OFF(CK_SP800_108_COUNTER_FORMAT, ulWidthInBits),
	GOP11_OFF(CK_SP800_108_DKM_LENGTH_FORMAT, ulWidthInBits),
};
#undef GOP11_OFF

extern CK_FUNCTION_LIST gop11_function_list;
extern CK_FUNCTION_LIST_3_0 gop11_function_list_3_0;

#endif
