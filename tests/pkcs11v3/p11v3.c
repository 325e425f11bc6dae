//go:build ignore

/*
 * p11v3 MODULE [--init-args STRING] [--pin PIN] [--slot N] [--setup-pin]: a PKCS #11 v3.0
 * application, for tests/pkcs11v3. It asks for the "PKCS 11" 3.0
 * interface and, when it gets it, runs the message-based functions, the
 * new mechanisms and C_LoginUser / C_SessionCancel on slot N, or the
 * module's first slot whose token needs a login (else its first slot with
 * a token),
 * printing one line per step: the step, the CK_RV by name, and output
 * bytes in hex where they are deterministic. Run against a module loaded
 * directly and through gop11, the two transcripts must be the same.
 *
 * Without the 3.0 interface (a v2.40 module) it prints what it got and
 * runs the v2.40 part (Ed25519 with C_Sign) through the default
 * interface, or C_GetFunctionList's list.
 *
 * --setup-pin gives the first token without a user PIN the PIN (an SO
 * login with an empty PIN, as NSS's softoken allows on a new database,
 * then C_InitPIN), and exits.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"

/* v3.0's CKK_CHACHA20: v2.40 errata headers gave 0x33 to a SHA-3 HMAC key type. */
#define P11V3_CKK_CHACHA20 0x33UL

static CK_FUNCTION_LIST_3_0_PTR f;
static CK_SESSION_HANDLE s;

static const char *rvname(CK_RV rv)
{
	static char buf[32];
	switch (rv) {
#define N(x) case x: return #x;
	N(CKR_OK) N(CKR_ARGUMENTS_BAD) N(CKR_FUNCTION_FAILED) N(CKR_GENERAL_ERROR)
	N(CKR_DEVICE_ERROR) N(CKR_FUNCTION_NOT_SUPPORTED) N(CKR_MECHANISM_INVALID)
	N(CKR_MECHANISM_PARAM_INVALID) N(CKR_OPERATION_ACTIVE) N(CKR_OPERATION_NOT_INITIALIZED)
	N(CKR_PIN_INCORRECT) N(CKR_USER_NOT_LOGGED_IN) N(CKR_USER_ALREADY_LOGGED_IN)
	N(CKR_SIGNATURE_INVALID) N(CKR_SIGNATURE_LEN_RANGE) N(CKR_ENCRYPTED_DATA_INVALID)
	N(CKR_ENCRYPTED_DATA_LEN_RANGE) N(CKR_BUFFER_TOO_SMALL) N(CKR_KEY_TYPE_INCONSISTENT)
	N(CKR_TEMPLATE_INCOMPLETE) N(CKR_TEMPLATE_INCONSISTENT) N(CKR_ATTRIBUTE_VALUE_INVALID)
	N(CKR_ATTRIBUTE_TYPE_INVALID) N(CKR_DOMAIN_PARAMS_INVALID) N(CKR_CURVE_NOT_SUPPORTED)
	N(CKR_KEY_HANDLE_INVALID) N(CKR_SESSION_HANDLE_INVALID) N(CKR_DATA_LEN_RANGE)
	N(CKR_USER_TYPE_INVALID) N(CKR_CRYPTOKI_NOT_INITIALIZED) N(CKR_TOKEN_NOT_PRESENT)
	N(CKR_KEY_FUNCTION_NOT_PERMITTED) N(CKR_OPERATION_CANCEL_FAILED)
#undef N
	}
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static void hex(const CK_BYTE *b, CK_ULONG n)
{
	CK_ULONG i;

	printf(" ");
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
}

/* step prints a step's name and rv, then nothing more on its line. */
static CK_RV step(const char *name, CK_RV rv)
{
	printf("%s %s", name, rvname(rv));
	return rv;
}

static void end(void) { printf("\n"); }

static CK_OBJECT_HANDLE secret_key(CK_KEY_TYPE kt, CK_BYTE v)
{
	CK_OBJECT_CLASS c = CKO_SECRET_KEY;
	CK_BYTE value[32];
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &c, sizeof(c)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE, value, sizeof(value)},
		{CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1}, {CKA_TOKEN, &no, 1},
	};
	CK_OBJECT_HANDLE k = 0;

	memset(value, v, sizeof(value));
	step("create-key", f->C_CreateObject(s, t, 6, &k));
	end();
	return k;
}

/* aead runs one AEAD mechanism's message functions: one-shot and
 * Begin/Next encryption, decryption of both, a wrong tag. make fills a
 * parameter struct for an IV/nonce and a tag buffer. */
typedef void *(*param_fn)(CK_BYTE *iv, CK_BYTE *tag, CK_ULONG gen, CK_ULONG *len);

static CK_GCM_MESSAGE_PARAMS gcm;
static void *gcm_param(CK_BYTE *iv, CK_BYTE *tag, CK_ULONG gen, CK_ULONG *len)
{
	gcm.pIv = iv;
	gcm.ulIvLen = 12;
	gcm.ulIvFixedBits = 0;
	gcm.ivGenerator = gen;
	gcm.pTag = tag;
	gcm.ulTagBits = 128;
	*len = sizeof(gcm);
	return &gcm;
}

static CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS chacha;
static void *chacha_param(CK_BYTE *iv, CK_BYTE *tag, CK_ULONG gen, CK_ULONG *len)
{
	(void)gen;
	chacha.pNonce = iv;
	chacha.ulNonceLen = 12;
	chacha.pTag = tag;
	*len = sizeof(chacha);
	return &chacha;
}

static void aead(const char *name, CK_MECHANISM_TYPE mt, CK_OBJECT_HANDLE k, param_fn make, int generate_iv)
{
	CK_MECHANISM m = {mt, NULL, 0};
	CK_BYTE iv[12], tag[16], tag2[16], pt[40], ct[64], ct2[64], out[64], aad[] = "associated";
	CK_BYTE giv[12], gtag[16] = {0}, gct[64];
	CK_ULONG gn = sizeof(gct);
	CK_ULONG len, n, n1, n2, plen;
	char label[64];
	void *p;

	memset(iv, 0x42, sizeof(iv));
	memset(pt, 'p', sizeof(pt));
	memset(tag, 0, sizeof(tag));

	snprintf(label, sizeof(label), "%s-encrypt-init", name);
	step(label, f->C_MessageEncryptInit(s, &m, k));
	end();
	p = make(iv, tag, CKG_NO_GENERATE, &plen);
	n = 0;
	snprintf(label, sizeof(label), "%s-encrypt-size", name);
	if (step(label, f->C_EncryptMessage(s, p, plen, aad, sizeof(aad) - 1, pt, sizeof(pt), NULL, &n)) == CKR_OK)
		printf(" %lu", (unsigned long)n);
	end();
	n = 4;
	snprintf(label, sizeof(label), "%s-encrypt-short", name);
	if (step(label, f->C_EncryptMessage(s, p, plen, aad, sizeof(aad) - 1, pt, sizeof(pt), ct, &n)) == CKR_BUFFER_TOO_SMALL)
		printf(" %lu", (unsigned long)n);
	end();
	n = sizeof(ct);
	snprintf(label, sizeof(label), "%s-encrypt", name);
	if (step(label, f->C_EncryptMessage(s, p, plen, aad, sizeof(aad) - 1, pt, sizeof(pt), ct, &n)) == CKR_OK) {
		hex(ct, n);
		hex(tag, sizeof(tag));
	}
	end();
	len = n;

	/* Begin/Next: the same message in two parts. */
	memset(tag2, 0, sizeof(tag2));
	p = make(iv, tag2, CKG_NO_GENERATE, &plen);
	snprintf(label, sizeof(label), "%s-encrypt-begin", name);
	step(label, f->C_EncryptMessageBegin(s, p, plen, aad, sizeof(aad) - 1));
	end();
	n1 = sizeof(ct2);
	snprintf(label, sizeof(label), "%s-encrypt-next", name);
	if (step(label, f->C_EncryptMessageNext(s, p, plen, pt, 16, ct2, &n1, 0)) == CKR_OK)
		hex(ct2, n1);
	else
		n1 = 0;
	end();
	n2 = sizeof(ct2) - n1;
	snprintf(label, sizeof(label), "%s-encrypt-last", name);
	if (step(label, f->C_EncryptMessageNext(s, p, plen, pt + 16, sizeof(pt) - 16, ct2 + n1, &n2, CKF_END_OF_MESSAGE)) == CKR_OK) {
		hex(ct2 + n1, n2);
		hex(tag2, sizeof(tag2));
		printf(" %s", n1 + n2 == len && memcmp(ct, ct2, len) == 0 && memcmp(tag, tag2, 16) == 0 ? "same" : "differs");
	}
	end();

	if (generate_iv) {
		/* The module writes the IV it made (NSS's softoken: a counter
		 * from 0) and the tag; decrypting with them, below, gives the
		 * text. A fresh operation: NSS's softoken keeps one IV mode per
		 * operation. */
		memset(giv, 0x42, sizeof(giv));
		f->C_MessageEncryptFinal(s);
		f->C_MessageEncryptInit(s, &m, k);
		p = make(giv, gtag, CKG_GENERATE, &plen);
		snprintf(label, sizeof(label), "%s-encrypt-generated-iv", name);
		if (step(label, f->C_EncryptMessage(s, p, plen, NULL, 0, pt, sizeof(pt), gct, &gn)) == CKR_OK) {
			hex(giv, sizeof(giv));
			hex(gtag, sizeof(gtag));
		}
		end();
	}
	snprintf(label, sizeof(label), "%s-encrypt-final", name);
	step(label, f->C_MessageEncryptFinal(s));
	end();

	snprintf(label, sizeof(label), "%s-decrypt-init", name);
	step(label, f->C_MessageDecryptInit(s, &m, k));
	end();
	p = make(iv, tag, CKG_NO_GENERATE, &plen);
	n = sizeof(out);
	snprintf(label, sizeof(label), "%s-decrypt", name);
	if (step(label, f->C_DecryptMessage(s, p, plen, aad, sizeof(aad) - 1, ct, len, out, &n)) == CKR_OK)
		printf(" %s", n == sizeof(pt) && memcmp(out, pt, n) == 0 ? "plaintext" : "wrong");
	end();
	if (generate_iv) {
		p = make(giv, gtag, CKG_NO_GENERATE, &plen);
		n = sizeof(out);
		snprintf(label, sizeof(label), "%s-decrypt-generated-iv", name);
		if (step(label, f->C_DecryptMessage(s, p, plen, NULL, 0, gct, gn, out, &n)) == CKR_OK)
			printf(" %s", n == sizeof(pt) && memcmp(out, pt, n) == 0 ? "plaintext" : "wrong");
		end();
		p = make(iv, tag, CKG_NO_GENERATE, &plen);
	}
	snprintf(label, sizeof(label), "%s-decrypt-begin", name);
	step(label, f->C_DecryptMessageBegin(s, p, plen, aad, sizeof(aad) - 1));
	end();
	n1 = sizeof(out);
	snprintf(label, sizeof(label), "%s-decrypt-next", name);
	if (step(label, f->C_DecryptMessageNext(s, p, plen, ct, 16, out, &n1, 0)) != CKR_OK)
		n1 = 0;
	printf(" %lu", (unsigned long)n1);
	end();
	n2 = sizeof(out) - n1;
	snprintf(label, sizeof(label), "%s-decrypt-last", name);
	if (step(label, f->C_DecryptMessageNext(s, p, plen, ct + 16, len - 16, out + n1, &n2, CKF_END_OF_MESSAGE)) == CKR_OK)
		printf(" %s", n1 + n2 == sizeof(pt) && memcmp(out, pt, sizeof(pt)) == 0 ? "plaintext" : "wrong");
	end();
	tag[0] ^= 1;
	n = sizeof(out);
	snprintf(label, sizeof(label), "%s-decrypt-bad-tag", name);
	step(label, f->C_DecryptMessage(s, p, plen, aad, sizeof(aad) - 1, ct, len, out, &n));
	end();
	snprintf(label, sizeof(label), "%s-decrypt-final", name);
	step(label, f->C_MessageDecryptFinal(s));
	end();
}

static void message_sign(CK_MECHANISM_PTR m, CK_OBJECT_HANDLE sk, CK_OBJECT_HANDLE pk)
{
	CK_BYTE data[] = "gop11 signs a message", sig[128];
	CK_ULONG n = sizeof(sig);

	step("message-sign-init", f->C_MessageSignInit(s, m, sk));
	end();
	if (step("message-sign", f->C_SignMessage(s, NULL, 0, data, sizeof(data) - 1, sig, &n)) == CKR_OK)
		printf(" %lu", (unsigned long)n);
	else
		n = 0;
	end();
	step("message-sign-final", f->C_MessageSignFinal(s));
	end();
	step("message-verify-init", f->C_MessageVerifyInit(s, m, pk));
	end();
	step("message-verify", f->C_VerifyMessage(s, NULL, 0, data, sizeof(data) - 1, sig, n));
	end();
	step("message-verify-final", f->C_MessageVerifyFinal(s));
	end();
}

static void ed25519(int v3)
{
	CK_MECHANISM gen = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0}, sign = {CKM_EDDSA, NULL, 0};
	CK_BYTE oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70}; /* id-Ed25519 */
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, oid, sizeof(oid)}, {CKA_VERIFY, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_ATTRIBUTE priv[] = {{CKA_SIGN, &yes, 1}, {CKA_TOKEN, &no, 1}, {CKA_PRIVATE, &yes, 1}};
	CK_OBJECT_HANDLE pk = 0, sk = 0;
	CK_BYTE data[] = "gop11 signs with Ed25519", sig[128];
	CK_ULONG n = 0;
	CK_EDDSA_PARAMS ep = {CK_FALSE, 0, NULL};
	CK_MECHANISM signp = {CKM_EDDSA, &ep, sizeof(ep)};

	if (step("ed25519-generate", f->C_GenerateKeyPair(s, &gen, pub, 3, priv, 3, &pk, &sk)) != CKR_OK) {
		end();
		return;
	}
	end();
	step("ed25519-sign-init", f->C_SignInit(s, &sign, sk));
	end();
	if (step("ed25519-sign-size", f->C_Sign(s, data, sizeof(data) - 1, NULL, &n)) == CKR_OK)
		printf(" %lu", (unsigned long)n);
	end();
	n = sizeof(sig);
	if (step("ed25519-sign", f->C_Sign(s, data, sizeof(data) - 1, sig, &n)) == CKR_OK)
		printf(" %lu", (unsigned long)n);
	end();
	step("ed25519-verify-init", f->C_VerifyInit(s, &sign, pk));
	end();
	step("ed25519-verify", f->C_Verify(s, data, sizeof(data) - 1, sig, n));
	end();
	sig[0] ^= 1;
	f->C_VerifyInit(s, &sign, pk);
	step("ed25519-verify-flipped", f->C_Verify(s, data, sizeof(data) - 1, sig, n));
	end();
	step("ed25519-params-sign-init", f->C_SignInit(s, &signp, sk));
	end();
	n = sizeof(sig);
	step("ed25519-params-sign", f->C_Sign(s, data, sizeof(data) - 1, sig, &n));
	end();

	if (v3)
		message_sign(&sign, sk, pk);
}

static void session_cancel(CK_OBJECT_HANDLE k)
{
	CK_MECHANISM m = {CKM_AES_GCM, NULL, 0};
	CK_BYTE iv[12] = {1}, tag[16], pt[16] = {0}, ct[32];
	CK_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_NO_GENERATE, tag, 128};
	CK_ULONG n = sizeof(ct);

	step("cancel-init", f->C_MessageEncryptInit(s, &m, k));
	end();
	step("cancel", f->C_SessionCancel(s, CKF_MESSAGE_ENCRYPT));
	end();
	step("cancel-after", f->C_EncryptMessage(s, &p, sizeof(p), NULL, 0, pt, sizeof(pt), ct, &n));
	end();
	step("cancel-init-again", f->C_MessageEncryptInit(s, &m, k));
	end();
	step("cancel-final", f->C_MessageEncryptFinal(s));
	end();
}

/* derived prints the value of a derived (or unwrapped) secret key. */
static void derived(const char *name, CK_RV rv, CK_OBJECT_HANDLE k)
{
	CK_BYTE v[64];
	CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};

	if (step(name, rv) == CKR_OK && step(" value", f->C_GetAttributeValue(s, k, &a, 1)) == CKR_OK)
		hex(v, a.ulValueLen);
	end();
}

/* params runs the v3.0 mechanism parameters through the v2.40 calls:
 * ChaCha20-Poly1305 and ChaCha20 encryption, HKDF (salt as data and as a
 * key, whose handle the proxy maps) and SP 800-108 counter-mode key
 * derivation. Every output is deterministic. */
static void params(void)
{
	CK_OBJECT_CLASS sc = CKO_SECRET_KEY;
	CK_KEY_TYPE gs = CKK_GENERIC_SECRET, cc = P11V3_CKK_CHACHA20, aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE kv[32], pt[24], out[64], nonce[12], counter[4] = {0, 0, 0, 1}, salt[] = "salt", info[] = "info", label[] = "label";
	CK_ULONG len32 = 32, n;
	CK_ATTRIBUTE base[] = {{CKA_CLASS, &sc, sizeof(sc)}, {CKA_KEY_TYPE, &gs, sizeof(gs)}, {CKA_VALUE, kv, sizeof(kv)},
			       {CKA_DERIVE, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_ATTRIBUTE ck[] = {{CKA_CLASS, &sc, sizeof(sc)}, {CKA_KEY_TYPE, &cc, sizeof(cc)}, {CKA_VALUE, kv, sizeof(kv)},
			     {CKA_ENCRYPT, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_ATTRIBUTE out_t[] = {{CKA_CLASS, &sc, sizeof(sc)}, {CKA_KEY_TYPE, &gs, sizeof(gs)}, {CKA_VALUE_LEN, &len32, sizeof(len32)},
				{CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_ATTRIBUTE aes_t[] = {{CKA_CLASS, &sc, sizeof(sc)}, {CKA_KEY_TYPE, &aes, sizeof(aes)}, {CKA_VALUE_LEN, &len32, sizeof(len32)},
				{CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_OBJECT_HANDLE bk = 0, saltk = 0, chk = 0, dk = 0;
	CK_SALSA20_CHACHA20_POLY1305_PARAMS cp = {nonce, sizeof(nonce), (CK_BYTE_PTR)"aad", 3};
	CK_CHACHA20_PARAMS c20 = {counter, 32, nonce, 96};
	CK_HKDF_PARAMS hk = {CK_TRUE, CK_TRUE, CKM_SHA256, CKF_HKDF_SALT_DATA, salt, sizeof(salt) - 1, 0, info, sizeof(info) - 1};
	CK_SP800_108_COUNTER_FORMAT fmt = {CK_FALSE, 32};
	CK_PRF_DATA_PARAM dp[] = {{CK_SP800_108_ITERATION_VARIABLE, &fmt, sizeof(fmt)}, {CK_SP800_108_BYTE_ARRAY, label, sizeof(label) - 1}};
	CK_SP800_108_KDF_PARAMS kdf = {CKM_SHA256_HMAC, 2, dp, 0, NULL};
	CK_MECHANISM m;

	memset(kv, 0x33, sizeof(kv));
	memset(pt, 't', sizeof(pt));
	memset(nonce, 0x24, sizeof(nonce));
	step("params-base-key", f->C_CreateObject(s, base, 5, &bk));
	end();
	step("params-chacha-key", f->C_CreateObject(s, ck, 5, &chk));
	end();

	m = (CK_MECHANISM){CKM_CHACHA20_POLY1305, &cp, sizeof(cp)};
	n = sizeof(out);
	if (step("chacha20-poly1305-params", f->C_EncryptInit(s, &m, chk)) == CKR_OK &&
	    step(" encrypt", f->C_Encrypt(s, pt, sizeof(pt), out, &n)) == CKR_OK)
		hex(out, n);
	end();
	m = (CK_MECHANISM){CKM_CHACHA20, &c20, sizeof(c20)};
	n = sizeof(out);
	if (step("chacha20-params", f->C_EncryptInit(s, &m, chk)) == CKR_OK &&
	    step(" encrypt", f->C_Encrypt(s, pt, sizeof(pt), out, &n)) == CKR_OK)
		hex(out, n);
	end();

	m = (CK_MECHANISM){CKM_HKDF_DERIVE, &hk, sizeof(hk)};
	derived("hkdf-salt-data", f->C_DeriveKey(s, &m, bk, out_t, 6, &dk), dk);
	saltk = bk;
	hk.ulSaltType = CKF_HKDF_SALT_KEY;
	hk.pSalt = NULL;
	hk.ulSaltLen = 0;
	hk.hSaltKey = saltk;
	derived("hkdf-salt-key", f->C_DeriveKey(s, &m, bk, out_t, 6, &dk), dk);

	m = (CK_MECHANISM){CKM_SP800_108_COUNTER_KDF, &kdf, sizeof(kdf)};
	derived("sp800-108-counter", f->C_DeriveKey(s, &m, bk, aes_t, 6, &dk), dk);
}

/* pick returns the first slot whose token needs a login, else the first
 * slot with a token. */
static CK_SLOT_ID pick(void)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || n == 0) {
		fprintf(stderr, "p11v3: no slot with a token\n");
		exit(1);
	}
	for (i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && (ti.flags & CKF_LOGIN_REQUIRED))
			return slots[i];
	return slots[0];
}

static int cmp_ulong(const void *a, const void *b)
{
	CK_ULONG x = *(const CK_ULONG *)a, y = *(const CK_ULONG *)b;
	return x < y ? -1 : x > y;
}

/* setup_pin gives a fresh token a user PIN: an SO login with an empty
 * PIN (NSS's softoken allows it on a database without a password), then
 * C_InitPIN. Done directly, before the test, on the first writable token
 * whose user PIN is not initialized. */
static int setup_pin(const char *pin)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	f->C_GetSlotList(CK_TRUE, slots, &n);
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || (ti.flags & (CKF_USER_PIN_INITIALIZED | CKF_WRITE_PROTECTED)))
			continue;
		if ((rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
		    (rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)"", 0)) != CKR_OK ||
		    (rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK) {
			fprintf(stderr, "p11v3: setting the PIN of slot %lu: %s\n", (unsigned long)slots[i], rvname(rv));
			return 1;
		}
		f->C_Logout(s);
		f->C_CloseSession(s);
		return 0;
	}
	fprintf(stderr, "p11v3: no token without a user PIN\n");
	return 1;
}

int main(int argc, char **argv)
{
	CK_C_GetInterface get_interface;
	CK_C_GetInterfaceList get_list;
	CK_INTERFACE list[8], *iface = NULL;
	CK_VERSION v30 = {3, 0};
	CK_C_INITIALIZE_ARGS args;
	CK_ULONG n = 8, i;
	CK_INFO info;
	const char *init_args = NULL, *pin = "1234";
	int a, v3 = 1, setup = 0;
	long slot_arg = -1;
	void *h;

	if (argc < 2) {
		fprintf(stderr, "usage: p11v3 MODULE [--init-args STRING] [--pin PIN] [--slot N] [--setup-pin]\n");
		return 2;
	}
	for (a = 2; a < argc; a++) {
		if (strcmp(argv[a], "--init-args") == 0 && a + 1 < argc)
			init_args = argv[++a];
		else if (strcmp(argv[a], "--pin") == 0 && a + 1 < argc)
			pin = argv[++a];
		else if (strcmp(argv[a], "--slot") == 0 && a + 1 < argc)
			slot_arg = atol(argv[++a]);
		else if (strcmp(argv[a], "--setup-pin") == 0)
			setup = 1;
	}
	h = dlopen(argv[1], RTLD_NOW);
	if (h == NULL) {
		fprintf(stderr, "p11v3: %s\n", dlerror());
		return 1;
	}
	get_list = (CK_C_GetInterfaceList)dlsym(h, "C_GetInterfaceList");
	get_interface = (CK_C_GetInterface)dlsym(h, "C_GetInterface");
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = (CK_VOID_PTR)init_args;
	if (get_list == NULL || get_interface == NULL) {
		/* A v2.40 module without the v3.0 entry points (SoftHSM2). */
		CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
		CK_FUNCTION_LIST_PTR l = NULL;

		printf("interface-list not-exported\nget-interface-3.0 not-exported\n");
		if (get == NULL || get(&l) != CKR_OK) {
			fprintf(stderr, "p11v3: no C_GetFunctionList\n");
			return 1;
		}
		static CK_INTERFACE one = {(CK_CHAR_PTR)"PKCS 11", NULL, 0};
		one.pFunctionList = l;
		iface = &one;
		v3 = 0;
	} else {
		if (step("interface-list", get_list(list, &n)) == CKR_OK) {
			printf(" %lu", (unsigned long)n);
			for (i = 0; i < n; i++) {
				CK_VERSION *v = list[i].pFunctionList;
				printf("%s %s %d.%d", i ? "," : "", list[i].pInterfaceName, v->major, v->minor);
			}
		}
		end();
		if (step("get-interface-3.0", get_interface((CK_UTF8CHAR_PTR)"PKCS 11", &v30, &iface, 0)) != CKR_OK) {
			CK_VERSION *v;

			end();
			v3 = 0;
			if (step("get-interface-default", get_interface(NULL, NULL, &iface, 0)) != CKR_OK) {
				end();
				return 1;
			}
			v = iface->pFunctionList;
			printf(" %d.%d", v->major, v->minor);
		}
		end();
	}
	/* A v2.40 list is the first part of a v3.0 one: only its members
	 * are used then. */
	f = iface->pFunctionList;
	if (step("initialize", f->C_Initialize(&args)) != CKR_OK) {
		end();
		return 1;
	}
	end();
	if (setup) {
		int rc = setup_pin(pin);
		f->C_Finalize(NULL);
		return rc;
	}
	if (step("info", f->C_GetInfo(&info)) == CKR_OK)
		printf(" list %d.%d cryptoki %d.%d", f->version.major, f->version.minor,
		       info.cryptokiVersion.major, info.cryptokiVersion.minor);
	end();

	{
		CK_SLOT_ID slot = slot_arg >= 0 ? (CK_SLOT_ID)slot_arg : pick();
		CK_MECHANISM_TYPE mechs[512];
		CK_MECHANISM_INFO mi;
		CK_ULONG mn = 512;
		const struct { const char *name; CK_MECHANISM_TYPE m; } show[] = {
			{"CKM_AES_GCM", CKM_AES_GCM}, {"CKM_CHACHA20_POLY1305", CKM_CHACHA20_POLY1305}, {"CKM_EDDSA", CKM_EDDSA},
		};

		if (step("mechanisms", f->C_GetMechanismList(slot, mechs, &mn)) == CKR_OK) {
			qsort(mechs, mn, sizeof(mechs[0]), cmp_ulong);
			printf(" %lu", (unsigned long)mn);
			for (i = 0; i < mn; i++)
				printf(" %lx", (unsigned long)mechs[i]);
		}
		end();
		for (i = 0; i < sizeof(show) / sizeof(show[0]); i++) {
			printf("mechinfo-");
			if (step(show[i].name, f->C_GetMechanismInfo(slot, show[i].m, &mi)) == CKR_OK)
				printf(" 0x%lx", (unsigned long)mi.flags);
			end();
		}
		if (step("open-session", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
			end();
			return 1;
		}
		end();
		if (v3) {
			step("login-user-wrong", f->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)"wrong-pin", 9, NULL, 0));
			end();
			step("login-user", f->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin), NULL, 0));
			end();
			step("logout", f->C_Logout(s));
			end();
		}
		step("login", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
		end();
		if (v3) {
			CK_OBJECT_HANDLE aes = secret_key(CKK_AES, 0x11), cc;
			CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};

			aead("gcm", CKM_AES_GCM, aes, gcm_param, 1);
			cc = secret_key(P11V3_CKK_CHACHA20, 0x22);
			aead("chacha20-poly1305", CKM_CHACHA20_POLY1305, cc, chacha_param, 0);
			session_cancel(aes);
			message_sign(&hmac, aes, aes);
			params();
		}
		ed25519(v3);
		step("close-session", f->C_CloseSession(s));
		end();
	}
	step("finalize", f->C_Finalize(NULL));
	end();
	return 0;
}
