//go:build ignore

/* p11diff part b: C_GetAttributeValue, spec 5.7 cases 1-5, array
 * attributes (CKA_ALLOWED_MECHANISMS, CKA_WRAP_TEMPLATE) and the other
 * object-management calls. */
#include "p11diff.h"

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
} names[] = {
	{CKA_CLASS, "CKA_CLASS"},
	{CKA_TOKEN, "CKA_TOKEN"},
	{CKA_PRIVATE, "CKA_PRIVATE"},
	{CKA_LABEL, "CKA_LABEL"},
	{CKA_APPLICATION, "CKA_APPLICATION"},
	{CKA_VALUE, "CKA_VALUE"},
	{CKA_KEY_TYPE, "CKA_KEY_TYPE"},
	{CKA_ID, "CKA_ID"},
	{CKA_SENSITIVE, "CKA_SENSITIVE"},
	{CKA_ENCRYPT, "CKA_ENCRYPT"},
	{CKA_DECRYPT, "CKA_DECRYPT"},
	{CKA_WRAP, "CKA_WRAP"},
	{CKA_UNWRAP, "CKA_UNWRAP"},
	{CKA_SIGN, "CKA_SIGN"},
	{CKA_VERIFY, "CKA_VERIFY"},
	{CKA_DERIVE, "CKA_DERIVE"},
	{CKA_START_DATE, "CKA_START_DATE"},
	{CKA_END_DATE, "CKA_END_DATE"},
	{CKA_MODULUS, "CKA_MODULUS"},
	{CKA_VALUE_LEN, "CKA_VALUE_LEN"},
	{CKA_EXTRACTABLE, "CKA_EXTRACTABLE"},
	{CKA_LOCAL, "CKA_LOCAL"},
	{CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE"},
	{CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE"},
	{CKA_MODIFIABLE, "CKA_MODIFIABLE"},
	{CKA_COPYABLE, "CKA_COPYABLE"},
	{CKA_DESTROYABLE, "CKA_DESTROYABLE"},
	{CKA_TRUSTED, "CKA_TRUSTED"},
	{CKA_WRAP_WITH_TRUSTED, "CKA_WRAP_WITH_TRUSTED"},
	{CKA_WRAP_TEMPLATE, "CKA_WRAP_TEMPLATE"},
	{CKA_UNWRAP_TEMPLATE, "CKA_UNWRAP_TEMPLATE"},
	{CKA_ALLOWED_MECHANISMS, "CKA_ALLOWED_MECHANISMS"},
};

static const char *attrname(CK_ATTRIBUTE_TYPE type)
{
	static char buf[32];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].type == type)
			return names[i].name;
	snprintf(buf, sizeof buf, "0x%lx", (unsigned long)type);
	return buf;
}

/* getattrs calls C_GetAttributeValue on t and prints the call's rv, then
 * one line per attribute: its length and, where pValue is set, the
 * buffer (up to the length, or all of size bytes when the length is
 * CK_UNAVAILABLE_INFORMATION, to show what was left untouched). */
static CK_RV getattrs(const char *step, CK_SESSION_HANDLE s,
                      CK_OBJECT_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n,
                      const CK_ULONG *size)
{
	char name[96];
	CK_RV rv = p11->C_GetAttributeValue(s, h, t, n);
	line(step, "C_GetAttributeValue", rv, NULL, NULL, 0, NULL);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG len = t[i].ulValueLen, show = len;
		if (len == CK_UNAVAILABLE_INFORMATION || len > size[i])
			show = size[i];
		snprintf(name, sizeof name, "%s.%s", step, attrname(t[i].type));
		line(name, "C_GetAttributeValue", rv, &len,
		     t[i].pValue != NULL ? t[i].pValue : NULL, show, NULL);
	}
	return rv;
}

static CK_BYTE id8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* case1to5 is spec 5.7 in one template: a readable value, a sensitive
 * one, an attribute the object does not have, and a short buffer. */
static void case1to5(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_BYTE label[64], value[16], modulus[16], id[2];
	memset(label, 0xee, sizeof label);
	memset(value, 0xee, sizeof value);
	memset(modulus, 0xee, sizeof modulus);
	memset(id, 0xee, sizeof id);
	CK_ATTRIBUTE t[] = {
		{CKA_LABEL, label, sizeof label},
		{CKA_VALUE, value, sizeof value},
		{CKA_MODULUS, modulus, sizeof modulus},
		{CKA_ID, id, sizeof id},
	};
	CK_ULONG size[] = {sizeof label, sizeof value, sizeof modulus,
	                   sizeof id};
	getattrs("b.mixed", s, key, t, 4, size);

	/* Each case alone. */
	for (int i = 0; i < 4; i++) {
		char step[64];
		CK_BYTE buf[64];
		memset(buf, 0xee, sizeof buf);
		CK_ATTRIBUTE one = {t[i].type, buf, size[i]};
		snprintf(step, sizeof step, "b.single%d", i);
		getattrs(step, s, key, &one, 1, &size[i]);
	}

	/* An empty template, with and without a pointer. */
	CALL("b.empty", C_GetAttributeValue, s, key, t, 0);
	CALL("b.empty.null", C_GetAttributeValue, s, key, NULL, 0);
}

/* twopass reads a template first with every pValue NULL (lengths), then
 * with buffers of exactly those lengths (values). */
static void twopass(const char *step, CK_SESSION_HANDLE s,
                    CK_OBJECT_HANDLE h, const CK_ATTRIBUTE_TYPE *types,
                    CK_ULONG n)
{
	static CK_BYTE pool[16][64];
	CK_ATTRIBUTE t[16];
	CK_ULONG size[16];
	char name[64];

	for (CK_ULONG i = 0; i < n && i < 16; i++) {
		t[i] = (CK_ATTRIBUTE){types[i], NULL, 0};
		size[i] = 0;
	}
	snprintf(name, sizeof name, "%s.lengths", step);
	getattrs(name, s, h, t, n, size);
	for (CK_ULONG i = 0; i < n && i < 16; i++) {
		memset(pool[i], 0xee, sizeof pool[i]);
		size[i] = t[i].ulValueLen;
		if (size[i] == CK_UNAVAILABLE_INFORMATION || size[i] > 64)
			size[i] = 0;
		t[i].pValue = pool[i];
		t[i].ulValueLen = size[i];
	}
	snprintf(name, sizeof name, "%s.values", step);
	getattrs(name, s, h, t, n, size);
}

/* wraptemplate reads CKA_WRAP_TEMPLATE in three passes: its length, the
 * nested types and lengths, the nested values. */
static void wraptemplate(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek)
{
	CK_ATTRIBUTE outer = {CKA_WRAP_TEMPLATE, NULL, 0};
	CK_ATTRIBUTE inner[8];
	CK_BYTE pool[8][32];
	CK_ULONG n, zero = 0;
	CK_RV rv;

	getattrs("b.wraptmpl.len", s, kek, &outer, 1, &zero);
	if (outer.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    outer.ulValueLen % sizeof(CK_ATTRIBUTE) != 0 ||
	    outer.ulValueLen / sizeof(CK_ATTRIBUTE) > 8)
		return;
	n = outer.ulValueLen / sizeof(CK_ATTRIBUTE);
	printf("b.wraptmpl.count - rv=CKR_OK len=%lu\n", (unsigned long)n);
	memset(inner, 0, sizeof inner);
	outer.pValue = inner;
	rv = p11->C_GetAttributeValue(s, kek, &outer, 1);
	line("b.wraptmpl.types", "C_GetAttributeValue", rv, &outer.ulValueLen,
	     NULL, 0, NULL);
	for (CK_ULONG i = 0; i < n; i++) {
		char step[64];
		snprintf(step, sizeof step, "b.wraptmpl.types.%s",
		         attrname(inner[i].type));
		line(step, "C_GetAttributeValue", rv, &inner[i].ulValueLen, NULL,
		     0, inner[i].pValue == NULL ? "p=null" : "p=set");
	}
	for (CK_ULONG i = 0; i < n; i++) {
		memset(pool[i], 0xee, sizeof pool[i]);
		if (inner[i].ulValueLen > sizeof pool[i])
			return;
		inner[i].pValue = pool[i];
	}
	rv = p11->C_GetAttributeValue(s, kek, &outer, 1);
	line("b.wraptmpl.values", "C_GetAttributeValue", rv, &outer.ulValueLen,
	     NULL, 0, NULL);
	for (CK_ULONG i = 0; i < n; i++) {
		char step[64];
		snprintf(step, sizeof step, "b.wraptmpl.values.%s",
		         attrname(inner[i].type));
		line(step, "C_GetAttributeValue", rv, &inner[i].ulValueLen,
		     pool[i], inner[i].ulValueLen, NULL);
	}
}

void part_attrs(CK_SESSION_HANDLE s)
{
	static const CK_BYTE value[16] = "p11diff: attrs!!";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM_TYPE allowed[] = {CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_AES_ECB};
	CK_DATE start = {{'2', '0', '2', '4'}, {'0', '1'}, {'0', '2'}};
	CK_DATE end = {{'2', '0', '3', '0'}, {'1', '2'}, {'3', '1'}};
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_LABEL, "p11diff-attrs", 13},
		{CKA_ID, id8, sizeof id8},
		{CKA_ENCRYPT, &yes, sizeof yes},
		{CKA_DECRYPT, &yes, sizeof yes},
		{CKA_SENSITIVE, &yes, sizeof yes},
		{CKA_EXTRACTABLE, &no, sizeof no},
		{CKA_VALUE, (void *)value, sizeof value},
		{CKA_ALLOWED_MECHANISMS, allowed, sizeof allowed},
		{CKA_START_DATE, &start, sizeof start},
		{CKA_END_DATE, &end, sizeof end},
	};
	CK_OBJECT_HANDLE key = create("b.key", s, t, 13);

	case1to5(s, key);

	static const CK_ATTRIBUTE_TYPE common[] = {
		CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKA_ID, CKA_VALUE_LEN,
		CKA_ALLOWED_MECHANISMS,
	};
	twopass("b.common", s, key, common, 6);
	static const CK_ATTRIBUTE_TYPE start_date[] = {CKA_START_DATE};
	twopass("b.startdate", s, key, start_date, 1);
	static const CK_ATTRIBUTE_TYPE end_date[] = {CKA_END_DATE};
	twopass("b.enddate", s, key, end_date, 1);
	static const CK_ATTRIBUTE_TYPE with_date[] = {CKA_LABEL, CKA_START_DATE,
	                                              CKA_ID};
	twopass("b.withdate", s, key, with_date, 3);
	static const CK_ATTRIBUTE_TYPE bools[] = {
		CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_COPYABLE,
		CKA_DESTROYABLE, CKA_SENSITIVE, CKA_EXTRACTABLE,
		CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL,
		CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_SIGN,
		CKA_DERIVE,
	};
	twopass("b.bools", s, key, bools, 16);

	/* CKA_ALLOWED_MECHANISMS is enforced: CBC (not allowed) fails. */
	static CK_BYTE iv[16];
	CK_MECHANISM m = mech(CKM_AES_CBC, iv, sizeof iv);
	CALL("b.allowed.cbc", C_EncryptInit, s, &m, key);
	m = mech(CKM_AES_ECB, NULL, 0);
	CALL("b.allowed.ecb", C_EncryptInit, s, &m, key);
	CK_BYTE buf[BIG];
	CK_ULONG n = sizeof buf;
	CK_RV rv = p11->C_Encrypt(s, iv, 16, buf, &n);
	line("b.allowed.ecb.enc", "C_Encrypt", rv, &n, rv == CKR_OK ? buf : NULL,
	     n, NULL);

	/* A wrapping key with CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE. */
	CK_ATTRIBUTE wt[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_EXTRACTABLE, &yes, sizeof yes},
	};
	CK_ATTRIBUTE ut[] = {
		{CKA_SENSITIVE, &yes, sizeof yes},
		{CKA_LABEL, "unwrapped", 9},
	};
	CK_ATTRIBUTE kt2[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_LABEL, "p11diff-wraptmpl", 16},
		{CKA_WRAP, &yes, sizeof yes},
		{CKA_UNWRAP, &yes, sizeof yes},
		{CKA_VALUE, (void *)value, sizeof value},
		{CKA_WRAP_TEMPLATE, wt, sizeof wt},
		{CKA_UNWRAP_TEMPLATE, ut, sizeof ut},
	};
	CK_OBJECT_HANDLE kek = create("b.wraptmpl.key", s, kt2, 9);
	wraptemplate(s, kek);
	twopass("b.nodate", s, kek, start_date, 1);
	CK_ATTRIBUTE ua = {CKA_UNWRAP_TEMPLATE, NULL, 0};
	CK_ULONG zero = 0;
	getattrs("b.unwraptmpl.len", s, kek, &ua, 1, &zero);

	/* Set, copy, size, destroy. */
	CK_ATTRIBUTE nl = {CKA_LABEL, "p11diff-renamed", 15};
	CALL("b.set.label", C_SetAttributeValue, s, key, &nl, 1);
	CK_ATTRIBUTE nv = {CKA_VALUE, (void *)value, sizeof value};
	CALL("b.set.value", C_SetAttributeValue, s, key, &nv, 1);
	CK_ATTRIBUTE ns = {CKA_SENSITIVE, &no, sizeof no};
	CALL("b.set.sensitive", C_SetAttributeValue, s, key, &ns, 1);
	static const CK_ATTRIBUTE_TYPE lbl[] = {CKA_LABEL};
	twopass("b.set.read", s, key, lbl, 1);
	CK_ATTRIBUTE cl = {CKA_LABEL, "p11diff-copy", 12};
	CK_OBJECT_HANDLE copy = 0;
	rv = p11->C_CopyObject(s, key, &cl, 1, &copy);
	line("b.copy", "C_CopyObject", rv, NULL, NULL, 0,
	     copy ? "h=nonzero" : "h=zero");
	twopass("b.copy.read", s, copy, lbl, 1);
	n = 0;
	rv = p11->C_GetObjectSize(s, key, &n);
	line("b.size", "C_GetObjectSize", rv, rv == CKR_OK ? &n : NULL, NULL, 0,
	     NULL);
	CALL("b.destroy", C_DestroyObject, s, copy);
	twopass("b.destroyed.read", s, copy, lbl, 1);
}
