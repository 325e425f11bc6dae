//go:build ignore

/* p11diff: lists (part a: slots, mechanisms, C_FindObjects), information
 * calls, and the error paths (part c). */
#include <stdlib.h>
#include "p11diff.h"

/* padded prints a blank-padded PKCS #11 string without its padding. */
static const char *padded(const CK_UTF8CHAR *p, size_t n)
{
	static char buf[80];
	while (n > 0 && p[n - 1] == ' ')
		n--;
	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memcpy(buf, p, n);
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == ' ')
			buf[i] = '_';
	return buf;
}

static void slots(CK_BBOOL present, const char *step)
{
	char name[64], extra[64];
	CK_SLOT_ID list[64];
	CK_ULONG n = 0, need;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.null", step);
	rv = p11->C_GetSlotList(present, NULL, &n);
	line(name, "C_GetSlotList", rv, &n, NULL, 0, NULL);
	if (rv != CKR_OK || n == 0 || n > 64)
		return;
	need = n;
	snprintf(name, sizeof name, "%s.short", step);
	n = need - 1;
	rv = p11->C_GetSlotList(present, list, &n);
	line(name, "C_GetSlotList", rv, &n, NULL, 0, NULL);
	snprintf(name, sizeof name, "%s.full", step);
	n = 64;
	rv = p11->C_GetSlotList(present, list, &n);
	int found = 0;
	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
		found += list[i] == slot;
	snprintf(extra, sizeof extra, "our-slot-listed=%d", found);
	line(name, "C_GetSlotList", rv, &n, NULL, 0, extra);
}

static void mechanisms(void)
{
	static char extra[8192];
	CK_MECHANISM_TYPE list[256];
	CK_ULONG n = 0, need;
	CK_RV rv;

	rv = p11->C_GetMechanismList(slot, NULL, &n);
	line("a.mechs.null", "C_GetMechanismList", rv, &n, NULL, 0, NULL);
	if (rv != CKR_OK || n == 0 || n > 256)
		return;
	need = n;
	n = need - 1;
	rv = p11->C_GetMechanismList(slot, list, &n);
	line("a.mechs.short", "C_GetMechanismList", rv, &n, NULL, 0, NULL);
	n = 256;
	rv = p11->C_GetMechanismList(slot, list, &n);
	size_t off = snprintf(extra, sizeof extra, "mechs=");
	for (CK_ULONG i = 0; rv == CKR_OK && i < n && off < sizeof extra - 20; i++)
		off += snprintf(extra + off, sizeof extra - off, "%s%lx",
		                i ? "," : "", (unsigned long)list[i]);
	line("a.mechs.full", "C_GetMechanismList", rv, &n, NULL, 0, extra);

	static const CK_MECHANISM_TYPE some[] = {
		CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_RSA_PKCS, CKM_ECDSA,
		CKM_SHA256_HMAC, CKM_SHA256, CKM_VENDOR_DEFINED + 1,
	};
	for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
		CK_MECHANISM_INFO mi = {0, 0, 0};
		char step[64];
		rv = p11->C_GetMechanismInfo(slot, some[i], &mi);
		snprintf(step, sizeof step, "a.mechinfo.%lx", (unsigned long)some[i]);
		snprintf(extra, sizeof extra, "min=%lu max=%lu flags=%lx",
		         (unsigned long)mi.ulMinKeySize,
		         (unsigned long)mi.ulMaxKeySize, (unsigned long)mi.flags);
		line(step, "C_GetMechanismInfo", rv, NULL, NULL, 0, extra);
	}
}

static void infos(CK_SESSION_HANDLE s)
{
	char extra[256];
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO ss;
	CK_RV rv;

	memset(&info, 0, sizeof info);
	rv = p11->C_GetInfo(&info);
	snprintf(extra, sizeof extra, "cryptoki=%d.%d flags=%lx",
	         info.cryptokiVersion.major, info.cryptokiVersion.minor,
	         (unsigned long)info.flags);
	line("a.info", "C_GetInfo", rv, NULL, NULL, 0, extra);
	memset(&si, 0, sizeof si);
	rv = p11->C_GetSlotInfo(slot, &si);
	snprintf(extra, sizeof extra, "flags=%lx", (unsigned long)si.flags);
	line("a.slotinfo", "C_GetSlotInfo", rv, NULL, NULL, 0, extra);
	memset(&ti, 0, sizeof ti);
	rv = p11->C_GetTokenInfo(slot, &ti);
	int off = snprintf(extra, sizeof extra, "label=%s",
	                   padded(ti.label, sizeof ti.label));
	off += snprintf(extra + off, sizeof extra - off, " model=%s",
	                padded(ti.model, sizeof ti.model));
	snprintf(extra + off, sizeof extra - off,
	         " flags=%lx sessions=%lu rw=%lu pin=%lu-%lu",
	         (unsigned long)ti.flags, (unsigned long)ti.ulSessionCount,
	         (unsigned long)ti.ulRwSessionCount, (unsigned long)ti.ulMinPinLen,
	         (unsigned long)ti.ulMaxPinLen);
	line("a.tokeninfo", "C_GetTokenInfo", rv, NULL, NULL, 0, extra);
	memset(&ss, 0, sizeof ss);
	rv = p11->C_GetSessionInfo(s, &ss);
	snprintf(extra, sizeof extra, "same-slot=%d state=%lu flags=%lx",
	         ss.slotID == slot, (unsigned long)ss.state,
	         (unsigned long)ss.flags);
	line("a.sessioninfo", "C_GetSessionInfo", rv, NULL, NULL, 0, extra);
}

/* find runs C_FindObjects with max 1 until it returns no object. */
static void find(const char *step, CK_SESSION_HANDLE s, CK_ATTRIBUTE *t,
                 CK_ULONG n)
{
	char name[64];
	CK_OBJECT_HANDLE h;
	CK_ULONG count;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.init", step);
	CALL(name, C_FindObjectsInit, s, t, n);
	snprintf(name, sizeof name, "%s.find", step);
	for (int i = 0; i < 64; i++) {
		count = 99;
		h = 0;
		rv = p11->C_FindObjects(s, &h, 1, &count);
		line(name, "C_FindObjects", rv, &count, NULL, 0,
		     h ? "h=nonzero" : "h=zero");
		if (rv != CKR_OK || count == 0)
			break;
	}
	snprintf(name, sizeof name, "%s.final", step);
	CALL(name, C_FindObjectsFinal, s);
}

void part_lists(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS data = CKO_DATA, secret = CKO_SECRET_KEY;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &data, sizeof data},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_APPLICATION, "p11diff-find", 12},
		{CKA_LABEL, "find-1", 6},
		{CKA_VALUE, "first data object", 17},
	};
	char label[3][8] = {"find-1", "find-2", "find-3"};

	slots(CK_TRUE, "a.slots.present");
	slots(CK_FALSE, "a.slots.all");
	mechanisms();
	infos(s);

	for (int i = 0; i < 3; i++) {
		t[3].pValue = label[i];
		create("a.find.create", s, t, 5);
	}
	find("a.find.app", s, t, 3);
	find("a.find.one", s, t, 4);
	CK_ATTRIBUTE none = {CKA_LABEL, "no such label", 13};
	find("a.find.none", s, &none, 1);
	CK_ATTRIBUTE keys = {CKA_CLASS, &secret, sizeof secret};
	find("a.find.secret", s, &keys, 1);

	CK_OBJECT_HANDLE h;
	CK_ULONG count;
	CALL("a.find.notinit", C_FindObjects, s, &h, 1, &count);
	CALL("a.find.twice.init", C_FindObjectsInit, s, t, 3);
	CALL("a.find.twice.again", C_FindObjectsInit, s, t, 3);
	CALL("a.find.twice.final", C_FindObjectsFinal, s);
	CALL("a.find.final.notinit", C_FindObjectsFinal, s);
}

void part_errors(CK_SESSION_HANDLE s, const char *pin)
{
	static const CK_BYTE v[16] = "p11diff: errors!";
	CK_OBJECT_HANDLE key = aeskey("c.key", s, "p11diff-errors", v, K_CRYPT);
	CK_MECHANISM sha = mech(CKM_SHA256, NULL, 0);
	CK_MECHANISM ecb = mech(CKM_AES_ECB, NULL, 0);
	CK_SESSION_INFO si;
	CK_BYTE buf[BIG];
	CK_ULONG n = sizeof buf;
	CK_ATTRIBUTE a = {CKA_LABEL, buf, sizeof buf};
	CK_SESSION_HANDLE s2;
	CK_RV rv;

	/* A session handle nobody has. */
	CALL("c.badsession", C_GetSessionInfo, BOGUS, &si);
	CALL("c.badsession", C_DigestInit, BOGUS, &sha);
	CALL("c.badsession", C_FindObjectsInit, BOGUS, NULL, 0);
	CALL("c.badsession", C_GetAttributeValue, BOGUS, key, &a, 1);
	CALL("c.badsession", C_GenerateRandom, BOGUS, buf, 8);
	CALL("c.badsession", C_Logout, BOGUS);
	CALL("c.badsession", C_CloseSession, BOGUS);

	/* An object handle nobody has. */
	CALL("c.badobject", C_GetAttributeValue, s, BOGUS, &a, 1);
	CALL("c.badobject", C_SetAttributeValue, s, BOGUS, &a, 1);
	CALL("c.badobject", C_EncryptInit, s, &ecb, BOGUS);
	CALL("c.badobject", C_DestroyObject, s, BOGUS);
	CALL("c.badobject", C_DigestInit, s, &sha);
	CALL("c.badobject", C_DigestKey, s, BOGUS);
	n = sizeof buf;
	CALL("c.badobject.final", C_DigestFinal, s, buf, &n);

	/* NULL where the spec requires a pointer. */
	CALL("c.null.init", C_DigestInit, s, &sha);
	CALL("c.null.digestlen", C_Digest, s, (CK_BYTE_PTR)v, 16, buf, NULL);
	n = sizeof buf;
	rv = p11->C_Digest(s, (CK_BYTE_PTR)v, 16, buf, &n);
	line("c.null.after", "C_Digest", rv, &n, rv == CKR_OK ? buf : NULL, n,
	     NULL);
	CALL("c.null.mechanism", C_DigestInit, s, NULL);
	CALL("c.null.mechanism", C_EncryptInit, s, NULL, key);
	CALL("c.null.template", C_GetAttributeValue, s, key, NULL, 1);
	CALL("c.null.random", C_GenerateRandom, s, NULL, 8);
	CALL("c.null.sessioninfo", C_GetSessionInfo, s, NULL);
	CALL("c.null.slotlist", C_GetSlotList, CK_TRUE, NULL, NULL);
	CALL("c.null.opensession", C_OpenSession, slot, CKF_SERIAL_SESSION,
	     NULL, NULL, NULL);

	/* Sessions. */
	s2 = 0;
	rv = p11->C_OpenSession(slot, CKF_RW_SESSION, NULL, NULL, &s2);
	line("c.noserial", "C_OpenSession", rv, NULL, NULL, 0,
	     s2 ? "h=nonzero" : "h=zero");
	s2 = 0;
	rv = p11->C_OpenSession(BOGUS, CKF_SERIAL_SESSION, NULL, NULL, &s2);
	line("c.badslot", "C_OpenSession", rv, NULL, NULL, 0,
	     s2 ? "h=nonzero" : "h=zero");
	s2 = 0;
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2);
	line("c.ro", "C_OpenSession", rv, NULL, NULL, 0,
	     s2 ? "h=nonzero" : "h=zero");
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &cls, sizeof cls},
	                     {CKA_TOKEN, &yes, sizeof yes}};
	CK_OBJECT_HANDLE h = 0;
	CALL("c.ro.create", C_CreateObject, s2, dt, 2, &h);
	memset(&si, 0, sizeof si);
	rv = p11->C_GetSessionInfo(s2, &si);
	snprintf((char *)buf, sizeof buf, "state=%lu flags=%lx",
	         (unsigned long)si.state, (unsigned long)si.flags);
	line("c.ro.info", "C_GetSessionInfo", rv, NULL, NULL, 0, (char *)buf);
	CALL("c.ro.close", C_CloseSession, s2);
	CALL("c.ro.closeagain", C_CloseSession, s2);

	/* A vendor mechanism with a parameter: the proxy cannot know its
	 * layout. Both must refuse it, not necessarily with the same rv. */
	static CK_BYTE param[16] = "vendor parameter";
	CK_MECHANISM vm = mech(CKM_VENDOR_DEFINED + 1, param, sizeof param);
	CALL("unknown-mech.encryptinit", C_EncryptInit, s, &vm, key);
	CALL("c.after-unknown.encryptinit", C_EncryptInit, s, &ecb, key);
	n = sizeof buf;
	rv = p11->C_Encrypt(s, (CK_BYTE_PTR)v, 16, buf, &n);
	line("c.after-unknown.encrypt", "C_Encrypt", rv, &n,
	     rv == CKR_OK ? buf : NULL, n, NULL);

	/* Login states; C_Logout destroys the private session objects. */
	CK_UTF8CHAR_PTR p = (CK_UTF8CHAR_PTR)pin;
	CALL("c.login.twice", C_Login, s, CKU_USER, p, strlen(pin));
	CALL("c.login.so", C_Login, s, CKU_SO, p, strlen(pin));
	CALL("c.login.logout", C_Logout, s);
	CALL("c.login.logoutagain", C_Logout, s);
	CK_MECHANISM gen = mech(CKM_AES_KEY_GEN, NULL, 0);
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_ULONG vlen = 16;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE gt[] = {{CKA_CLASS, &sk, sizeof sk},
	                     {CKA_TOKEN, &no, sizeof no},
	                     {CKA_PRIVATE, &yes, sizeof yes},
	                     {CKA_VALUE_LEN, &vlen, sizeof vlen}};
	CALL("c.login.private", C_GenerateKey, s, &gen, gt, 4, &h);
	CALL("c.login.gone", C_EncryptInit, s, &ecb, key);
	CALL("c.login.wrongpin", C_Login, s, CKU_USER, (CK_UTF8CHAR_PTR)"x", 1);
	CALL("c.login.again", C_Login, s, CKU_USER, p, strlen(pin));
	CALL("c.setpin.wrong", C_SetPIN, s, (CK_UTF8CHAR_PTR)"wrong-pin", 9, p,
	     strlen(pin));
	CALL("c.setpin.same", C_SetPIN, s, p, strlen(pin), p, strlen(pin));
	CALL("c.initpin.user", C_InitPIN, s, p, strlen(pin));

	/* Functions that only report. */
	CALL("c.functionstatus", C_GetFunctionStatus, s);
	CALL("c.cancelfunction", C_CancelFunction, s);
	CK_SLOT_ID ev = 0;
	CALL("c.waitforslotevent", C_WaitForSlotEvent, CKF_DONT_BLOCK, &ev, NULL);
	CALL("c.seedrandom", C_SeedRandom, s, (CK_BYTE_PTR)v, 16);
}
