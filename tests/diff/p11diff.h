//go:build ignore

/* p11diff: a PKCS #11 transcript client. Shared declarations.
 *
 * Every line it prints is "<step> <function> rv=<CKR name or hex>" with
 * optional " len=<n>" and " out=<hex>": bytes only where they are
 * deterministic, handles never (only "h=nonzero" or "h=zero"). The same
 * binary runs against SoftHSM2 directly and through libgop11.so, and
 * tests/diff/diff_test.go compares the two transcripts line by line.
 *
 * Single-threaded: one session (plus short-lived extra ones) at a time. */
#ifndef P11DIFF_H
#define P11DIFF_H

#include <stdio.h>
#include <string.h>
#include "pkcs11.h"

/* BOGUS is the handle that no session or object has in either target. */
#define BOGUS ((CK_ULONG)0x7777)

/* BIG is the size of every "big enough" output buffer. */
#define BIG 1024

extern CK_FUNCTION_LIST_PTR p11;
extern CK_SLOT_ID slot;

/* rvname returns the CKR_ name of rv, or its value in hex. */
const char *rvname(CK_RV rv);

/* line prints "<step> <fn> rv=<name>", then " len=<*len>" if len is not
 * NULL ("unavail" for CK_UNAVAILABLE_INFORMATION), then " out=<hex>" of
 * n bytes if out is not NULL, then extra if not NULL, then a newline. */
void line(const char *step, const char *fn, CK_RV rv, const CK_ULONG *len,
          const CK_BYTE *out, CK_ULONG n, const char *extra);

/* CALL runs p11->fn(...) and prints its rv on a line of its own. */
#define CALL(step, fn, ...) \
	line(step, #fn, p11->fn(__VA_ARGS__), NULL, NULL, 0, NULL)

/* hex formats n bytes into a static buffer (at most BIG bytes). */
const char *hex(const CK_BYTE *p, CK_ULONG n);

/* The two C signatures the spec 5.2 two-call convention applies to. */
typedef CK_RV (*oneshot_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG,
                            CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*final_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

/* Flags for twocall. */
#define TC_SHOW  1 /* print the output bytes: they are deterministic */
#define TC_AGAIN 2 /* call once more afterwards: the operation has ended */

/* twocall runs spec 5.2 on one call: pOut NULL (length), a buffer one
 * byte short of that length (CKR_BUFFER_TOO_SMALL and the length), a BIG
 * buffer (the output), and with TC_AGAIN the call once more. Exactly one
 * of one (with in/inlen) and fin is set. It stores the output in res
 * (BIG bytes) if res is not NULL and returns its length. */
CK_ULONG twocall(const char *step, const char *fn, oneshot_fn one,
                 final_fn fin, CK_SESSION_HANDLE s, const CK_BYTE *in,
                 CK_ULONG inlen, int flags, CK_BYTE *res);

/* mech fills a CK_MECHANISM. */
CK_MECHANISM mech(CK_MECHANISM_TYPE type, void *param, CK_ULONG len);

/* create runs C_CreateObject and prints "<step> C_CreateObject rv=.. h=..". */
CK_OBJECT_HANDLE create(const char *step, CK_SESSION_HANDLE s,
                        CK_ATTRIBUTE *tmpl, CK_ULONG n);

/* aeskey creates a session AES key with a fixed value and label; flags
 * says which of CKA_ENCRYPT/DECRYPT/WRAP/UNWRAP/SENSITIVE/EXTRACTABLE
 * are true (the others are false). */
#define K_CRYPT 1       /* CKA_ENCRYPT and CKA_DECRYPT */
#define K_WRAP 2        /* CKA_WRAP and CKA_UNWRAP */
#define K_SENSITIVE 4   /* CKA_SENSITIVE */
#define K_EXTRACTABLE 8 /* CKA_EXTRACTABLE */
CK_OBJECT_HANDLE aeskey(const char *step, CK_SESSION_HANDLE s,
                        const char *label, const CK_BYTE value[16], int flags);

/* The parts of the fixed sequence, in the order main runs them. */
void part_digest(CK_SESSION_HANDLE s);
void part_cipher(CK_SESSION_HANDLE s);
void part_sign(CK_SESSION_HANDLE s);
void part_wrap(CK_SESSION_HANDLE s);
void part_misc(CK_SESSION_HANDLE s);
void part_lists(CK_SESSION_HANDLE s);
void part_attrs(CK_SESSION_HANDLE s);
void part_mixing(CK_SESSION_HANDLE s);
void part_errors(CK_SESSION_HANDLE s, const char *pin);

#endif
