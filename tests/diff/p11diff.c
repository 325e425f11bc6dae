//go:build ignore

/* p11diff MODULE SLOT PIN: run a fixed sequence of PKCS #11 calls and print
 * one line per call (format in p11diff.h). This file holds main, the
 * digests (part a) and the AES ciphers (part a). */
#include <dlfcn.h>
#include <stdlib.h>
#include "p11diff.h"

CK_FUNCTION_LIST_PTR p11;
CK_SLOT_ID slot;

static const CK_BYTE msg[] = "gop11 p11diff: fixed input, 39 bytes!!\n";
#define MSGLEN ((CK_ULONG)(sizeof msg - 1)) /* 39: not a block multiple */

void part_digest(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = mech(CKM_SHA256, NULL, 0);
	CK_BYTE buf[BIG];
	CK_ULONG len;
	CK_RV rv;

	rv = p11->C_DigestInit(s, &m);
	line("a.digest.init", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	twocall("a.digest", "C_Digest", p11->C_Digest, NULL, s, msg, MSGLEN,
	        TC_SHOW | TC_AGAIN, NULL);

	/* A size query leaves the operation active (spec 5.2): a second
	 * C_DigestInit must fail, and the result must still be there. */
	rv = p11->C_DigestInit(s, &m);
	line("a.pending.init", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	len = 0;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, NULL, &len);
	line("a.pending.null", "C_Digest", rv, &len, NULL, 0, NULL);
	rv = p11->C_DigestInit(s, &m);
	line("a.pending.reinit", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	len = sizeof buf;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, buf, &len);
	line("a.pending.big", "C_Digest", rv, &len, rv == CKR_OK ? buf : NULL,
	     len, NULL);
	len = sizeof buf;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, buf, &len);
	line("a.pending.again", "C_Digest", rv, NULL, NULL, 0, NULL);

	/* Multi-part: the same bytes in two updates give the same digest. */
	rv = p11->C_DigestInit(s, &m);
	line("a.digestfinal.init", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	rv = p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg, 13);
	line("a.digestfinal.update1", "C_DigestUpdate", rv, NULL, NULL, 0, NULL);
	rv = p11->C_DigestUpdate(s, (CK_BYTE_PTR)msg + 13, MSGLEN - 13);
	line("a.digestfinal.update2", "C_DigestUpdate", rv, NULL, NULL, 0, NULL);
	twocall("a.digestfinal", "C_DigestFinal", NULL, p11->C_DigestFinal, s,
	        NULL, 0, TC_SHOW | TC_AGAIN, NULL);

	/* An empty input: through a pointer (SoftHSM2 digests it), then
	 * NULL (SoftHSM2: CKR_ARGUMENTS_BAD), each after its own init. */
	rv = p11->C_DigestInit(s, &m);
	line("a.digest.empty.init", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	len = sizeof buf;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)msg, 0, buf, &len);
	line("a.digest.empty", "C_Digest", rv, &len, rv == CKR_OK ? buf : NULL,
	     len, NULL);
	rv = p11->C_DigestInit(s, &m);
	line("a.digest.nullin.init", "C_DigestInit", rv, NULL, NULL, 0, NULL);
	len = sizeof buf;
	rv = p11->C_Digest(s, NULL, 0, buf, &len);
	line("a.digest.nullin", "C_Digest", rv, &len, NULL, 0, NULL);
	len = sizeof buf;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, buf, &len);
	line("a.digest.nullin.after", "C_Digest", rv, NULL, NULL, 0, NULL);

	/* Other hashes, one-shot. */
	static const struct {
		const char *step;
		CK_MECHANISM_TYPE type;
	} hashes[] = {
		{"a.md5", CKM_MD5},       {"a.sha1", CKM_SHA_1},
		{"a.sha224", CKM_SHA224}, {"a.sha384", CKM_SHA384},
		{"a.sha512", CKM_SHA512},
	};
	for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
		char step[64];
		m = mech(hashes[i].type, NULL, 0);
		snprintf(step, sizeof step, "%s.init", hashes[i].step);
		rv = p11->C_DigestInit(s, &m);
		line(step, "C_DigestInit", rv, NULL, NULL, 0, NULL);
		twocall(hashes[i].step, "C_Digest", p11->C_Digest, NULL, s, msg,
		        MSGLEN, TC_SHOW, NULL);
	}
}

/* roundtrip encrypts in with m under key (two-call, bytes shown), then
 * decrypts the result (two-call, bytes shown). */
static void roundtrip(const char *step, CK_SESSION_HANDLE s,
                      CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                      const CK_BYTE *in, CK_ULONG inlen)
{
	char name[64];
	CK_BYTE ct[BIG];
	CK_ULONG ctlen;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.encinit", step);
	rv = p11->C_EncryptInit(s, m, key);
	line(name, "C_EncryptInit", rv, NULL, NULL, 0, NULL);
	snprintf(name, sizeof name, "%s.enc", step);
	ctlen = twocall(name, "C_Encrypt", p11->C_Encrypt, NULL, s, in, inlen,
	                TC_SHOW | TC_AGAIN, ct);
	snprintf(name, sizeof name, "%s.decinit", step);
	rv = p11->C_DecryptInit(s, m, key);
	line(name, "C_DecryptInit", rv, NULL, NULL, 0, NULL);
	snprintf(name, sizeof name, "%s.dec", step);
	twocall(name, "C_Decrypt", p11->C_Decrypt, NULL, s, ct, ctlen,
	        TC_SHOW | TC_AGAIN, NULL);
}

/* multipart encrypts in as two updates and a final, then decrypts the
 * result as two updates and a final; each call follows spec 5.2. */
static void multipart(const char *step, CK_SESSION_HANDLE s,
                      CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                      const CK_BYTE *in, CK_ULONG inlen)
{
	char name[64];
	CK_BYTE ct[BIG];
	CK_ULONG n, ctlen = 0, cut = inlen / 2 + 3;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.encinit", step);
	rv = p11->C_EncryptInit(s, m, key);
	line(name, "C_EncryptInit", rv, NULL, NULL, 0, NULL);
	snprintf(name, sizeof name, "%s.encupdate1", step);
	ctlen += twocall(name, "C_EncryptUpdate", p11->C_EncryptUpdate, NULL, s,
	                 in, cut, TC_SHOW, ct);
	snprintf(name, sizeof name, "%s.encupdate2", step);
	ctlen += twocall(name, "C_EncryptUpdate", p11->C_EncryptUpdate, NULL, s,
	                 in + cut, inlen - cut, TC_SHOW, ct + ctlen);
	snprintf(name, sizeof name, "%s.encfinal", step);
	ctlen += twocall(name, "C_EncryptFinal", NULL, p11->C_EncryptFinal, s,
	                 NULL, 0, TC_SHOW | TC_AGAIN, ct + ctlen);

	cut = ctlen / 2 + 5;
	snprintf(name, sizeof name, "%s.decinit", step);
	rv = p11->C_DecryptInit(s, m, key);
	line(name, "C_DecryptInit", rv, NULL, NULL, 0, NULL);
	snprintf(name, sizeof name, "%s.decupdate1", step);
	n = twocall(name, "C_DecryptUpdate", p11->C_DecryptUpdate, NULL, s, ct,
	            cut, TC_SHOW, NULL);
	snprintf(name, sizeof name, "%s.decupdate2", step);
	n += twocall(name, "C_DecryptUpdate", p11->C_DecryptUpdate, NULL, s,
	             ct + cut, ctlen - cut, TC_SHOW, NULL);
	snprintf(name, sizeof name, "%s.decfinal", step);
	n += twocall(name, "C_DecryptFinal", NULL, p11->C_DecryptFinal, s, NULL,
	             0, TC_SHOW | TC_AGAIN, NULL);
	printf("%s.total - rv=CKR_OK len=%lu\n", step, (unsigned long)n);
}

void part_cipher(CK_SESSION_HANDLE s)
{
	static CK_BYTE value[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
	                            0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	                            0x0c, 0x0d, 0x0e, 0x0f};
	static CK_BYTE iv[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	                         0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};
	static CK_BYTE aad[20] = "p11diff associated.";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_LABEL, "p11diff-cipher", 14},
		{CKA_ENCRYPT, &yes, sizeof yes},
		{CKA_DECRYPT, &yes, sizeof yes},
		{CKA_SENSITIVE, &yes, sizeof yes},
		{CKA_VALUE, value, sizeof value},
	};
	CK_OBJECT_HANDLE key = create("a.cipher.key", s, t, 8);
	CK_MECHANISM m;

	m = mech(CKM_AES_CBC_PAD, iv, sizeof iv);
	roundtrip("a.cbcpad", s, &m, key, msg, MSGLEN);
	multipart("a.cbcpad.multi", s, &m, key, msg, MSGLEN);

	m = mech(CKM_AES_CBC, iv, sizeof iv);
	roundtrip("a.cbc", s, &m, key, msg, 32);
	multipart("a.cbc.multi", s, &m, key, msg, 32);

	m = mech(CKM_AES_ECB, NULL, 0);
	roundtrip("a.ecb", s, &m, key, msg, 32);
	multipart("a.ecb.multi", s, &m, key, msg, 32);

	CK_AES_CTR_PARAMS ctr = {128, {0}};
	memcpy(ctr.cb, iv, sizeof iv);
	ctr.cb[15] = 0xfe; /* the counter wraps into the next byte */
	m = mech(CKM_AES_CTR, &ctr, sizeof ctr);
	roundtrip("a.ctr", s, &m, key, msg, MSGLEN - 3);
	multipart("a.ctr.multi", s, &m, key, msg, MSGLEN - 3);

	CK_GCM_PARAMS gcm = {iv, 12, 96, aad, sizeof aad, 128};
	m = mech(CKM_AES_GCM, &gcm, sizeof gcm);
	roundtrip("a.gcm", s, &m, key, msg, MSGLEN - 3);

	/* A GCM tag that does not verify. */
	CK_BYTE ct[BIG], pt[BIG];
	CK_ULONG ctlen = sizeof ct, ptlen = sizeof pt;
	CK_RV rv = p11->C_EncryptInit(s, &m, key);
	line("a.gcm.bad.encinit", "C_EncryptInit", rv, NULL, NULL, 0, NULL);
	rv = p11->C_Encrypt(s, (CK_BYTE_PTR)msg, MSGLEN, ct, &ctlen);
	line("a.gcm.bad.enc", "C_Encrypt", rv, &ctlen, NULL, 0, NULL);
	ct[0] ^= 1;
	rv = p11->C_DecryptInit(s, &m, key);
	line("a.gcm.bad.decinit", "C_DecryptInit", rv, NULL, NULL, 0, NULL);
	rv = p11->C_Decrypt(s, ct, ctlen, pt, &ptlen);
	line("a.gcm.bad.dec", "C_Decrypt", rv, NULL, NULL, 0, NULL);
}

typedef CK_RV (*getfl_fn)(CK_FUNCTION_LIST_PTR_PTR);

int main(int argc, char **argv)
{
	CK_SESSION_HANDLE s = 0;
	CK_RV rv;
	char ver[32];

	if (argc != 4) {
		fprintf(stderr, "usage: p11diff MODULE SLOT PIN\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "p11diff: dlopen %s: %s\n", argv[1], dlerror());
		return 1;
	}
	getfl_fn getfl = (getfl_fn)dlsym(lib, "C_GetFunctionList");
	if (getfl == NULL) {
		fprintf(stderr, "p11diff: %s has no C_GetFunctionList\n", argv[1]);
		return 1;
	}
	rv = getfl(&p11);
	if (rv != CKR_OK || p11 == NULL) {
		fprintf(stderr, "p11diff: C_GetFunctionList: %s\n", rvname(rv));
		return 1;
	}
	snprintf(ver, sizeof ver, "version=%d.%d", p11->version.major,
	         p11->version.minor);
	line("init", "C_GetFunctionList", rv, NULL, NULL, 0, ver);
	rv = p11->C_Initialize(NULL);
	line("init", "C_Initialize", rv, NULL, NULL, 0, NULL);
	if (rv != CKR_OK)
		return 1;
	slot = strtoul(argv[2], NULL, 10);
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	                        NULL, &s);
	line("init", "C_OpenSession", rv, NULL, NULL, 0,
	     s ? "h=nonzero" : "h=zero");
	if (rv != CKR_OK)
		return 1;
	rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3],
	                  strlen(argv[3]));
	line("init", "C_Login", rv, NULL, NULL, 0, NULL);
	if (rv != CKR_OK)
		return 1;

	part_digest(s);
	part_cipher(s);
	part_sign(s);
	part_wrap(s);
	part_misc(s);
	part_lists(s);
	part_attrs(s);
	part_mixing(s);
	part_errors(s, argv[3]);

	rv = p11->C_Logout(s);
	line("d.end", "C_Logout", rv, NULL, NULL, 0, NULL);
	rv = p11->C_CloseAllSessions(slot);
	line("d.end", "C_CloseAllSessions", rv, NULL, NULL, 0, NULL);
	rv = p11->C_Finalize(NULL);
	line("d.end", "C_Finalize", rv, NULL, NULL, 0, NULL);
	printf("done\n");
	return 0;
}
