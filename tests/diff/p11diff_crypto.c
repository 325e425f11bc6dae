//go:build ignore

/* p11diff part a: HMAC, ECDSA and RSA signatures, RSA encryption, key
 * wrapping, random numbers and the functions SoftHSM2 does not offer. */
#include "p11diff.h"

static const CK_BYTE data[] = "p11diff: the data that gets signed";
#define DATALEN ((CK_ULONG)(sizeof data - 1))
static const CK_BYTE hash32[32] = "0123456789abcdef0123456789abcdef";

/* signverify signs in (two-call, bytes shown if show) and verifies the
 * signature one-shot; then, if multi, signs and verifies in two parts. */
static void signverify(const char *step, CK_SESSION_HANDLE s,
                       CK_MECHANISM *m, CK_OBJECT_HANDLE priv,
                       CK_OBJECT_HANDLE pub, const CK_BYTE *in,
                       CK_ULONG inlen, int show, int multi)
{
	char name[64];
	CK_BYTE sig[BIG];
	CK_ULONG n;
	int flags = TC_AGAIN | (show ? TC_SHOW : 0);

	snprintf(name, sizeof name, "%s.signinit", step);
	CALL(name, C_SignInit, s, m, priv);
	snprintf(name, sizeof name, "%s.sign", step);
	n = twocall(name, "C_Sign", p11->C_Sign, NULL, s, in, inlen, flags, sig);
	snprintf(name, sizeof name, "%s.verifyinit", step);
	CALL(name, C_VerifyInit, s, m, pub);
	snprintf(name, sizeof name, "%s.verify", step);
	CALL(name, C_Verify, s, (CK_BYTE_PTR)in, inlen, sig, n);
	if (n > 0) {
		sig[n / 2] ^= 0x40;
		snprintf(name, sizeof name, "%s.verifyinit", step);
		CALL(name, C_VerifyInit, s, m, pub);
		snprintf(name, sizeof name, "%s.verify.bad", step);
		CALL(name, C_Verify, s, (CK_BYTE_PTR)in, inlen, sig, n);
		sig[n / 2] ^= 0x40;
		snprintf(name, sizeof name, "%s.verifyinit", step);
		CALL(name, C_VerifyInit, s, m, pub);
		snprintf(name, sizeof name, "%s.verify.short", step);
		CALL(name, C_Verify, s, (CK_BYTE_PTR)in, inlen, sig, n - 1);
	}
	if (!multi)
		return;
	snprintf(name, sizeof name, "%s.multi.signinit", step);
	CALL(name, C_SignInit, s, m, priv);
	snprintf(name, sizeof name, "%s.multi.update1", step);
	CALL(name, C_SignUpdate, s, (CK_BYTE_PTR)in, 7);
	snprintf(name, sizeof name, "%s.multi.update2", step);
	CALL(name, C_SignUpdate, s, (CK_BYTE_PTR)in + 7, inlen - 7);
	snprintf(name, sizeof name, "%s.multi.signfinal", step);
	n = twocall(name, "C_SignFinal", NULL, p11->C_SignFinal, s, NULL, 0,
	            flags, sig);
	snprintf(name, sizeof name, "%s.multi.verifyinit", step);
	CALL(name, C_VerifyInit, s, m, pub);
	snprintf(name, sizeof name, "%s.multi.vupdate1", step);
	CALL(name, C_VerifyUpdate, s, (CK_BYTE_PTR)in, 20);
	snprintf(name, sizeof name, "%s.multi.vupdate2", step);
	CALL(name, C_VerifyUpdate, s, (CK_BYTE_PTR)in + 20, inlen - 20);
	snprintf(name, sizeof name, "%s.multi.verifyfinal", step);
	CALL(name, C_VerifyFinal, s, sig, n);
}

/* keypair generates a key pair and prints the rv and whether both
 * handles are set. */
static void keypair(const char *step, CK_SESSION_HANDLE s, CK_MECHANISM *m,
                    CK_ATTRIBUTE *pubt, CK_ULONG npub, CK_ATTRIBUTE *privt,
                    CK_ULONG npriv, CK_OBJECT_HANDLE *pub,
                    CK_OBJECT_HANDLE *priv)
{
	*pub = *priv = 0;
	CK_RV rv = p11->C_GenerateKeyPair(s, m, pubt, npub, privt, npriv, pub,
	                                  priv);
	line(step, "C_GenerateKeyPair", rv, NULL, NULL, 0,
	     *pub && *priv ? "h=nonzero" : "h=zero");
}

/* attrlen prints the length of one attribute, and its bytes if show. */
static void attrlen(const char *step, CK_SESSION_HANDLE s,
                    CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, int show)
{
	CK_BYTE buf[BIG];
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = p11->C_GetAttributeValue(s, h, &a, 1);
	line(step, "C_GetAttributeValue", rv, &a.ulValueLen, NULL, 0, NULL);
	if (!show || rv != CKR_OK || a.ulValueLen > BIG)
		return;
	a.pValue = buf;
	rv = p11->C_GetAttributeValue(s, h, &a, 1);
	line(step, "C_GetAttributeValue", rv, &a.ulValueLen, buf, a.ulValueLen,
	     NULL);
}

/* rsa_crypt encrypts with the public key (lengths only: the padding is
 * random) and decrypts with the private key (bytes: the plaintext). */
static void rsa_crypt(const char *step, CK_SESSION_HANDLE s,
                      CK_MECHANISM *m, CK_OBJECT_HANDLE pub,
                      CK_OBJECT_HANDLE priv)
{
	char name[64];
	CK_BYTE ct[BIG];
	CK_ULONG n;

	snprintf(name, sizeof name, "%s.encinit", step);
	CALL(name, C_EncryptInit, s, m, pub);
	snprintf(name, sizeof name, "%s.enc", step);
	n = twocall(name, "C_Encrypt", p11->C_Encrypt, NULL, s, data, DATALEN,
	            TC_AGAIN, ct);
	snprintf(name, sizeof name, "%s.decinit", step);
	CALL(name, C_DecryptInit, s, m, priv);
	snprintf(name, sizeof name, "%s.dec", step);
	twocall(name, "C_Decrypt", p11->C_Decrypt, NULL, s, ct, n,
	        TC_SHOW | TC_AGAIN, NULL);
}

void part_sign(CK_SESSION_HANDLE s)
{
	static const CK_BYTE secret[32] = "p11diff HMAC key, 32 bytes long.";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE ht[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_SIGN, &yes, sizeof yes},
		{CKA_VERIFY, &yes, sizeof yes},
		{CKA_VALUE, (void *)secret, sizeof secret},
	};
	CK_OBJECT_HANDLE hmac = create("a.hmac.key", s, ht, 6);
	CK_MECHANISM m = mech(CKM_SHA256_HMAC, NULL, 0);
	signverify("a.hmac", s, &m, hmac, hmac, data, DATALEN, 1, 1);

	/* ECDSA on P-256: random signatures, so lengths and rvs only. */
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
	                         0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE ecpub[] = {
		{CKA_TOKEN, &no, sizeof no},
		{CKA_VERIFY, &yes, sizeof yes},
		{CKA_EC_PARAMS, p256, sizeof p256},
	};
	CK_ATTRIBUTE ecpriv[] = {
		{CKA_TOKEN, &no, sizeof no},
		{CKA_SIGN, &yes, sizeof yes},
		{CKA_SENSITIVE, &yes, sizeof yes},
	};
	CK_OBJECT_HANDLE pub, priv;
	m = mech(CKM_EC_KEY_PAIR_GEN, NULL, 0);
	keypair("a.ec.gen", s, &m, ecpub, 3, ecpriv, 3, &pub, &priv);
	attrlen("a.ec.point", s, pub, CKA_EC_POINT, 0);
	attrlen("a.ec.params", s, pub, CKA_EC_PARAMS, 1);
	m = mech(CKM_ECDSA, NULL, 0);
	signverify("a.ecdsa", s, &m, priv, pub, hash32, 32, 0, 0);

	/* RSA 2048. */
	CK_ULONG bits = 2048;
	static CK_BYTE e[] = {0x01, 0x00, 0x01};
	CK_ATTRIBUTE rsapub[] = {
		{CKA_TOKEN, &no, sizeof no},
		{CKA_VERIFY, &yes, sizeof yes},
		{CKA_ENCRYPT, &yes, sizeof yes},
		{CKA_MODULUS_BITS, &bits, sizeof bits},
		{CKA_PUBLIC_EXPONENT, e, sizeof e},
	};
	CK_ATTRIBUTE rsapriv[] = {
		{CKA_TOKEN, &no, sizeof no},
		{CKA_SIGN, &yes, sizeof yes},
		{CKA_DECRYPT, &yes, sizeof yes},
		{CKA_SENSITIVE, &yes, sizeof yes},
	};
	m = mech(CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0);
	keypair("a.rsa.gen", s, &m, rsapub, 5, rsapriv, 4, &pub, &priv);
	attrlen("a.rsa.modulus", s, pub, CKA_MODULUS, 0);
	attrlen("a.rsa.exponent", s, pub, CKA_PUBLIC_EXPONENT, 1);
	attrlen("a.rsa.bits", s, pub, CKA_MODULUS_BITS, 1);
	m = mech(CKM_SHA256_RSA_PKCS, NULL, 0);
	signverify("a.rsa.sha256", s, &m, priv, pub, data, DATALEN, 0, 1);
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	m = mech(CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss);
	signverify("a.rsa.pss", s, &m, priv, pub, data, DATALEN, 0, 1);
	m = mech(CKM_RSA_PKCS, NULL, 0);
	rsa_crypt("a.rsa.pkcs", s, &m, pub, priv);
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1,
	                                CKZ_DATA_SPECIFIED, NULL, 0};
	m = mech(CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep);
	rsa_crypt("a.rsa.oaep", s, &m, pub, priv);

	/* Signatures with recovery: SoftHSM2 decides; the rvs must match. */
	CK_BYTE buf[BIG];
	CK_ULONG n = sizeof buf;
	m = mech(CKM_RSA_PKCS, NULL, 0);
	CALL("a.signrecover.init", C_SignRecoverInit, s, &m, priv);
	line("a.signrecover", "C_SignRecover",
	     p11->C_SignRecover(s, (CK_BYTE_PTR)data, DATALEN, buf, &n), NULL,
	     NULL, 0, NULL);
	CALL("a.verifyrecover.init", C_VerifyRecoverInit, s, &m, pub);
	n = sizeof buf;
	line("a.verifyrecover", "C_VerifyRecover",
	     p11->C_VerifyRecover(s, buf, 256, buf, &n), NULL, NULL, 0, NULL);
}

/* wrap runs spec 5.2 on C_WrapKey and returns the wrapped length. */
static CK_ULONG wrap(const char *step, CK_SESSION_HANDLE s, CK_MECHANISM *m,
                     CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key, CK_BYTE *out)
{
	char name[64];
	CK_ULONG len = 0, need;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.null", step);
	rv = p11->C_WrapKey(s, m, kek, key, NULL, &len);
	line(name, "C_WrapKey", rv, &len, NULL, 0, NULL);
	if (rv != CKR_OK)
		return 0;
	need = len;
	if (need > 0) {
		snprintf(name, sizeof name, "%s.short", step);
		len = need - 1;
		rv = p11->C_WrapKey(s, m, kek, key, out, &len);
		line(name, "C_WrapKey", rv, &len, NULL, 0, NULL);
	}
	snprintf(name, sizeof name, "%s.big", step);
	len = BIG;
	rv = p11->C_WrapKey(s, m, kek, key, out, &len);
	line(name, "C_WrapKey", rv, &len, rv == CKR_OK ? out : NULL, len, NULL);
	return rv == CKR_OK ? len : 0;
}

/* unwrap unwraps in under kek into a non-sensitive AES key and prints
 * its value. */
static void unwrap(const char *step, CK_SESSION_HANDLE s, CK_MECHANISM *m,
                   CK_OBJECT_HANDLE kek, CK_BYTE *in, CK_ULONG inlen)
{
	char name[64];
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_ENCRYPT, &yes, sizeof yes},
		{CKA_SENSITIVE, &no, sizeof no},
		{CKA_EXTRACTABLE, &yes, sizeof yes},
	};
	CK_OBJECT_HANDLE h = 0;
	CK_RV rv = p11->C_UnwrapKey(s, m, kek, in, inlen, t, 6, &h);
	snprintf(name, sizeof name, "%s.unwrap", step);
	line(name, "C_UnwrapKey", rv, NULL, NULL, 0, h ? "h=nonzero" : "h=zero");
	if (rv != CKR_OK)
		return;
	snprintf(name, sizeof name, "%s.value", step);
	attrlen(name, s, h, CKA_VALUE, 1);
	snprintf(name, sizeof name, "%s.local", step);
	attrlen(name, s, h, CKA_LOCAL, 1);
}

void part_wrap(CK_SESSION_HANDLE s)
{
	static const CK_BYTE kekv[16] = "p11diff: the KEK";
	static const CK_BYTE keyv[16] = "p11diff: wrapped";
	CK_OBJECT_HANDLE kek = aeskey("a.wrap.kek", s, "p11diff-kek", kekv,
	                              K_WRAP | K_SENSITIVE);
	CK_OBJECT_HANDLE key = aeskey("a.wrap.key", s, "p11diff-wrapped", keyv,
	                              K_CRYPT | K_SENSITIVE | K_EXTRACTABLE);
	CK_OBJECT_HANDLE fixed = aeskey("a.wrap.fixed", s, "p11diff-fixed", keyv,
	                                K_CRYPT | K_SENSITIVE);
	CK_BYTE out[BIG];
	CK_ULONG n;
	CK_MECHANISM m;

	m = mech(CKM_AES_KEY_WRAP, NULL, 0);
	n = wrap("a.wrap.kw", s, &m, kek, key, out);
	unwrap("a.wrap.kw", s, &m, kek, out, n);
	out[3] ^= 1;
	unwrap("a.wrap.kw.bad", s, &m, kek, out, n);
	m = mech(CKM_AES_KEY_WRAP_PAD, NULL, 0);
	n = wrap("a.wrap.kwp", s, &m, kek, key, out);
	unwrap("a.wrap.kwp", s, &m, kek, out, n);
	m = mech(CKM_AES_KEY_WRAP, NULL, 0);
	wrap("a.wrap.unextractable", s, &m, kek, fixed, out);
	wrap("a.wrap.notwrapkey", s, &m, key, key, out);

	/* A generated key: only its length is deterministic. */
	CK_ULONG vlen = 16;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE gt[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_VALUE_LEN, &vlen, sizeof vlen},
	};
	CK_OBJECT_HANDLE g = 0;
	m = mech(CKM_AES_KEY_GEN, NULL, 0);
	CK_RV rv = p11->C_GenerateKey(s, &m, gt, 3, &g);
	line("a.genkey", "C_GenerateKey", rv, NULL, NULL, 0,
	     g ? "h=nonzero" : "h=zero");
	attrlen("a.genkey.valuelen", s, g, CKA_VALUE_LEN, 1);
	attrlen("a.genkey.local", s, g, CKA_LOCAL, 1);
	attrlen("a.genkey.value", s, g, CKA_VALUE, 0);
}

void part_misc(CK_SESSION_HANDLE s)
{
	static const CK_BYTE v[16] = "p11diff: dual fn";
	static const CK_BYTE hk[32] = "p11diff: HMAC for dual functions";
	CK_OBJECT_HANDLE aes = aeskey("a.dual.key", s, "p11diff-dual", v,
	                              K_CRYPT);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE ht[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_SIGN, &yes, sizeof yes},
		{CKA_VERIFY, &yes, sizeof yes},
		{CKA_VALUE, (void *)hk, sizeof hk},
	};
	CK_OBJECT_HANDLE hmac = create("a.dual.hmac", s, ht, 6);
	CK_MECHANISM ecb = mech(CKM_AES_ECB, NULL, 0);
	CK_MECHANISM sha = mech(CKM_SHA256, NULL, 0);
	CK_MECHANISM mac = mech(CKM_SHA256_HMAC, NULL, 0);
	CK_BYTE buf[BIG];
	CK_ULONG n;
	CK_RV rv;

	n = 0;
	rv = p11->C_GenerateRandom(s, buf, 32);
	line("a.random", "C_GenerateRandom", rv, NULL, NULL, 0, "len=32");
	CALL("a.random.zero", C_GenerateRandom, s, buf, 0);

	/* C_GetOperationState during a digest, then finish the digest. */
	CALL("a.opstate.init", C_DigestInit, s, &sha);
	CALL("a.opstate.update", C_DigestUpdate, s, (CK_BYTE_PTR)hash32, 32);
	n = 0;
	rv = p11->C_GetOperationState(s, NULL, &n);
	line("a.opstate", "C_GetOperationState", rv, rv == CKR_OK ? &n : NULL,
	     NULL, 0, NULL);
	CALL("a.opstate.set", C_SetOperationState, s, buf, 16, 0, 0);
	n = sizeof buf;
	rv = p11->C_DigestFinal(s, buf, &n);
	line("a.opstate.final", "C_DigestFinal", rv, &n,
	     rv == CKR_OK ? buf : NULL, n, NULL);

	/* The dual-function calls, each with both operations active; the
	 * finals afterwards end whatever is still active. */
	CALL("a.digestencrypt.dinit", C_DigestInit, s, &sha);
	CALL("a.digestencrypt.einit", C_EncryptInit, s, &ecb, aes);
	n = sizeof buf;
	rv = p11->C_DigestEncryptUpdate(s, (CK_BYTE_PTR)hash32, 32, buf, &n);
	line("a.digestencrypt", "C_DigestEncryptUpdate", rv,
	     rv == CKR_OK ? &n : NULL, rv == CKR_OK ? buf : NULL, n, NULL);
	n = sizeof buf;
	CALL("a.digestencrypt.dfinal", C_DigestFinal, s, buf, &n);
	n = sizeof buf;
	CALL("a.digestencrypt.efinal", C_EncryptFinal, s, buf, &n);

	CALL("a.decryptdigest.dinit", C_DecryptInit, s, &ecb, aes);
	CALL("a.decryptdigest.hinit", C_DigestInit, s, &sha);
	n = sizeof buf;
	rv = p11->C_DecryptDigestUpdate(s, (CK_BYTE_PTR)hash32, 32, buf, &n);
	line("a.decryptdigest", "C_DecryptDigestUpdate", rv,
	     rv == CKR_OK ? &n : NULL, rv == CKR_OK ? buf : NULL, n, NULL);
	n = sizeof buf;
	CALL("a.decryptdigest.dfinal", C_DecryptFinal, s, buf, &n);
	n = sizeof buf;
	CALL("a.decryptdigest.hfinal", C_DigestFinal, s, buf, &n);

	CALL("a.signencrypt.sinit", C_SignInit, s, &mac, hmac);
	CALL("a.signencrypt.einit", C_EncryptInit, s, &ecb, aes);
	n = sizeof buf;
	rv = p11->C_SignEncryptUpdate(s, (CK_BYTE_PTR)hash32, 32, buf, &n);
	line("a.signencrypt", "C_SignEncryptUpdate", rv,
	     rv == CKR_OK ? &n : NULL, rv == CKR_OK ? buf : NULL, n, NULL);
	n = sizeof buf;
	CALL("a.signencrypt.sfinal", C_SignFinal, s, buf, &n);
	n = sizeof buf;
	CALL("a.signencrypt.efinal", C_EncryptFinal, s, buf, &n);

	CALL("a.decryptverify.dinit", C_DecryptInit, s, &ecb, aes);
	CALL("a.decryptverify.vinit", C_VerifyInit, s, &mac, hmac);
	n = sizeof buf;
	rv = p11->C_DecryptVerifyUpdate(s, (CK_BYTE_PTR)hash32, 32, buf, &n);
	line("a.decryptverify", "C_DecryptVerifyUpdate", rv,
	     rv == CKR_OK ? &n : NULL, rv == CKR_OK ? buf : NULL, n, NULL);
	n = sizeof buf;
	CALL("a.decryptverify.dfinal", C_DecryptFinal, s, buf, &n);
	CALL("a.decryptverify.vfinal", C_VerifyFinal, s, buf, 32);

	/* C_DigestKey: the digest of a non-sensitive key's value. */
	CALL("a.digestkey.init", C_DigestInit, s, &sha);
	CALL("a.digestkey", C_DigestKey, s, aes);
	n = sizeof buf;
	rv = p11->C_DigestFinal(s, buf, &n);
	line("a.digestkey.final", "C_DigestFinal", rv, &n,
	     rv == CKR_OK ? buf : NULL, n, NULL);
}
