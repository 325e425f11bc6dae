//go:build ignore

/* p11diff part e: what issue 20 found answered differently through the
 * proxy. Templates of count 0, NULL and not; and an operation's functions
 * mixed after a size query (the module keeps the operation, and an update,
 * a final or a single-part call continues it), for the digest, cipher and
 * sign families. */
#include "p11diff.h"

static const CK_BYTE in[32] = "p11diff mixing: 32 bytes input!";

/* sizeq asks one/fin for its output length only (pOut NULL). */
static void sizeq(const char *step, const char *fn, oneshot_fn one, final_fn fin,
		  CK_SESSION_HANDLE s)
{
	CK_ULONG len = 0;
	CK_RV rv = one ? one(s, (CK_BYTE_PTR)in, sizeof in, NULL, &len) : fin(s, NULL, &len);

	line(step, fn, rv, &len, NULL, 0, NULL);
}

/* full calls one/fin with a big buffer and prints the output. */
static void full(const char *step, const char *fn, oneshot_fn one, final_fn fin,
		 CK_SESSION_HANDLE s, int show)
{
	CK_BYTE out[BIG];
	CK_ULONG len = sizeof out;
	CK_RV rv = one ? one(s, (CK_BYTE_PTR)in, sizeof in, out, &len) : fin(s, out, &len);

	line(step, fn, rv, &len, show && rv == CKR_OK ? out : NULL, len, NULL);
}

static void templates(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_ATTRIBUTE one[1];
	CK_OBJECT_HANDLE h;
	CK_MECHANISM gen = mech(CKM_AES_KEY_GEN, NULL, 0);

	CALL("e.tmpl.copy.null", C_CopyObject, s, key, NULL, 0, &h);
	CALL("e.tmpl.copy.empty", C_CopyObject, s, key, one, 0, &h);
	CALL("e.tmpl.set.null", C_SetAttributeValue, s, key, NULL, 0);
	CALL("e.tmpl.set.empty", C_SetAttributeValue, s, key, one, 0);
	CALL("e.tmpl.get.empty", C_GetAttributeValue, s, key, one, 0);
	CALL("e.tmpl.create.null", C_CreateObject, s, NULL, 0, &h);
	CALL("e.tmpl.create.empty", C_CreateObject, s, one, 0, &h);
	CALL("e.tmpl.genkey.null", C_GenerateKey, s, &gen, NULL, 0, &h);
	CALL("e.tmpl.genkey.empty", C_GenerateKey, s, &gen, one, 0, &h);
	CALL("e.tmpl.find.null", C_FindObjectsInit, s, NULL, 0);
	CALL("e.tmpl.find.null.final", C_FindObjectsFinal, s);
	CALL("e.tmpl.find.empty", C_FindObjectsInit, s, one, 0);
	CALL("e.tmpl.find.empty.final", C_FindObjectsFinal, s);
}

void part_mixing(CK_SESSION_HANDLE s)
{
	static CK_BYTE value[16] = "p11diff mixkey!";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},       {CKA_LABEL, "p11diff-mixing", 14},
		{CKA_ENCRYPT, &yes, sizeof yes},   {CKA_DECRYPT, &yes, sizeof yes},
		{CKA_SIGN, &yes, sizeof yes},      {CKA_VERIFY, &yes, sizeof yes},
		{CKA_VALUE, value, sizeof value},
	};
	CK_OBJECT_HANDLE key = create("e.key", s, t, sizeof t / sizeof t[0]);
	CK_MECHANISM sha = mech(CKM_SHA256, NULL, 0), ecb = mech(CKM_AES_ECB, NULL, 0),
		     mac = mech(CKM_SHA256_HMAC, NULL, 0);
	CK_BYTE out[BIG];
	CK_ULONG len;
	CK_RV rv;

	templates(s, key);

	/* Single-part size query, then the multi-part functions. */
	CALL("e.dig.sq.init", C_DigestInit, s, &sha);
	sizeq("e.dig.sq", "C_Digest", p11->C_Digest, NULL, s);
	full("e.dig.sq.final", "C_DigestFinal", NULL, p11->C_DigestFinal, s, 1);
	full("e.dig.sq.again", "C_DigestFinal", NULL, p11->C_DigestFinal, s, 0);

	CALL("e.enc.sq.init", C_EncryptInit, s, &ecb, key);
	sizeq("e.enc.sq", "C_Encrypt", p11->C_Encrypt, NULL, s);
	len = sizeof out;
	rv = p11->C_EncryptUpdate(s, (CK_BYTE_PTR)in, 16, out, &len);
	line("e.enc.sq.update", "C_EncryptUpdate", rv, &len, rv == CKR_OK ? out : NULL, len, NULL);
	full("e.enc.sq.final", "C_EncryptFinal", NULL, p11->C_EncryptFinal, s, 1);

	CALL("e.dec.sq.init", C_DecryptInit, s, &ecb, key);
	sizeq("e.dec.sq", "C_Decrypt", p11->C_Decrypt, NULL, s);
	len = sizeof out;
	rv = p11->C_DecryptUpdate(s, (CK_BYTE_PTR)in, 16, out, &len);
	line("e.dec.sq.update", "C_DecryptUpdate", rv, &len, rv == CKR_OK ? out : NULL, len, NULL);
	full("e.dec.sq.final", "C_DecryptFinal", NULL, p11->C_DecryptFinal, s, 1);

	CALL("e.sig.sq.init", C_SignInit, s, &mac, key);
	sizeq("e.sig.sq", "C_Sign", p11->C_Sign, NULL, s);
	CALL("e.sig.sq.update", C_SignUpdate, s, (CK_BYTE_PTR)in, 16);
	full("e.sig.sq.final", "C_SignFinal", NULL, p11->C_SignFinal, s, 1);

	/* Updates, a Final size query, then the single-part function. */
	CALL("e.dig.fsq.init", C_DigestInit, s, &sha);
	CALL("e.dig.fsq.update", C_DigestUpdate, s, (CK_BYTE_PTR)in, 16);
	sizeq("e.dig.fsq", "C_DigestFinal", NULL, p11->C_DigestFinal, s);
	full("e.dig.fsq.single", "C_Digest", p11->C_Digest, NULL, s, 1);
	full("e.dig.fsq.final", "C_DigestFinal", NULL, p11->C_DigestFinal, s, 0);

	CALL("e.sig.fsq.init", C_SignInit, s, &mac, key);
	CALL("e.sig.fsq.update", C_SignUpdate, s, (CK_BYTE_PTR)in, 16);
	sizeq("e.sig.fsq", "C_SignFinal", NULL, p11->C_SignFinal, s);
	full("e.sig.fsq.single", "C_Sign", p11->C_Sign, NULL, s, 1);
	full("e.sig.fsq.final", "C_SignFinal", NULL, p11->C_SignFinal, s, 0);

	/* Updates, a single-part size query, more updates. */
	CALL("e.dig.usq.init", C_DigestInit, s, &sha);
	CALL("e.dig.usq.update", C_DigestUpdate, s, (CK_BYTE_PTR)in, 16);
	sizeq("e.dig.usq", "C_Digest", p11->C_Digest, NULL, s);
	CALL("e.dig.usq.update2", C_DigestUpdate, s, (CK_BYTE_PTR)in, 16);
	full("e.dig.usq.final", "C_DigestFinal", NULL, p11->C_DigestFinal, s, 1);

	CALL("e.key.destroy", C_DestroyObject, s, key);
}
