/*
 * pkcs11.h - PKCS #11 (Cryptoki) for gop11: platform macros, then the
 * types (pkcs11t.h) and the functions (pkcs11f.h).
 *
 * Written for the gop11 project from the facts of PKCS #11 v2.40 and
 * v3.0: CK_FUNCTION_LIST is v2.40's, CK_FUNCTION_LIST_3_0 v3.0's.  Names
 * of types, constants, structure members and functions are the spec's,
 * so C code written against the OASIS header compiles against this one.
 *
 * Platform: standard Unix (ELF) ABI: no structure packing, natural
 * alignment, plain function pointers.  On Windows (_WIN32), the spec's
 * Win32 notes: structures packed to 1 byte, and CK_ULONG is the
 * compiler's unsigned long, 32 bits on Windows x64 too.  A caller may
 * define the platform macros below itself before including this file;
 * ours are only defaults.
 */

#ifndef GOP11_PKCS11_H
#define GOP11_PKCS11_H 1

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Platform macros ---- */

/* Pointer declarator: "CK_BYTE CK_PTR p" is "CK_BYTE *p". */
#ifndef CK_PTR
#define CK_PTR *
#endif

/* A function exported by a PKCS #11 library. */
#ifndef CK_DECLARE_FUNCTION
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#endif

/* A pointer to such a function. */
#ifndef CK_DECLARE_FUNCTION_POINTER
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (* name)
#endif

/* A pointer to an application callback (CK_NOTIFY, mutex functions). */
#ifndef CK_CALLBACK_FUNCTION
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (* name)
#endif

/* The start of a function definition in a library, for example
 * "CK_DEFINE_FUNCTION(CK_RV, C_Initialize)(CK_VOID_PTR pInitArgs) {...}". */
#ifndef CK_DEFINE_FUNCTION
#define CK_DEFINE_FUNCTION(returnType, name) returnType name
#endif

#ifndef NULL_PTR
#define NULL_PTR 0
#endif

/* ---- Types and constants ---- */

#ifdef _WIN32
#pragma pack(push, cryptoki, 1)
#endif

#include "pkcs11t.h"

/* ---- Functions ---- */

#define GOP11_CK_CONCAT_(a, b) a##b
#define GOP11_CK_CONCAT(a, b) GOP11_CK_CONCAT_(a, b)

/* Pass 1: prototypes, "extern CK_RV C_Initialize(CK_VOID_PTR pInitArgs);". */
#define CK_NEED_ARG_LIST 1
#define CK_PKCS11_FUNCTION_INFO(name) \
	extern CK_DECLARE_FUNCTION(CK_RV, name)
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO

/* Pass 2: pointer types, "typedef CK_RV (*CK_C_Initialize)(CK_VOID_PTR);". */
#define CK_PKCS11_FUNCTION_INFO(name) \
	typedef CK_DECLARE_FUNCTION_POINTER(CK_RV, GOP11_CK_CONCAT(CK_, name))
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
#undef CK_NEED_ARG_LIST

/* Pass 3: one member per function, in the list's order; v2.40's list. */
#define CK_PKCS11_FUNCTION_INFO(name) GOP11_CK_CONCAT(CK_, name) name;
#ifdef CK_PKCS11_2_0_ONLY
#define GOP11_KEEP_2_0_ONLY 1
#else
#define CK_PKCS11_2_0_ONLY 1
#endif
struct CK_FUNCTION_LIST {
	CK_VERSION version;
#include "pkcs11f.h"
};
#ifndef GOP11_KEEP_2_0_ONLY
#undef CK_PKCS11_2_0_ONLY
#endif
#undef GOP11_KEEP_2_0_ONLY
#undef CK_PKCS11_FUNCTION_INFO

/* v3.0: the whole list, the 68 of v2.40 first. */
#define CK_PKCS11_FUNCTION_INFO(name) GOP11_CK_CONCAT(CK_, name) name;
struct CK_FUNCTION_LIST_3_0 {
	CK_VERSION version;
#include "pkcs11f.h"
};
#undef CK_PKCS11_FUNCTION_INFO

#undef GOP11_CK_CONCAT
#undef GOP11_CK_CONCAT_

#ifdef _WIN32
#pragma pack(pop, cryptoki)
#endif

#ifdef __cplusplus
}
#endif

#endif /* GOP11_PKCS11_H */
