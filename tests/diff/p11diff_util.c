//go:build ignore

/* p11diff: printing and the two-call helper. */
#include "p11diff.h"

static const struct {
	CK_RV rv;
	const char *name;
} rvs[] = {
	{CKR_OK, "CKR_OK"},
	{CKR_CANCEL, "CKR_CANCEL"},
	{CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
	{CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
	{CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
	{CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
	{CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
	{CKR_NO_EVENT, "CKR_NO_EVENT"},
	{CKR_NEED_TO_CREATE_THREADS, "CKR_NEED_TO_CREATE_THREADS"},
	{CKR_CANT_LOCK, "CKR_CANT_LOCK"},
	{CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY"},
	{CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
	{CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
	{CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
	{CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED"},
	{CKR_DATA_INVALID, "CKR_DATA_INVALID"},
	{CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
	{CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
	{CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
	{CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
	{CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"},
	{CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
	{CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"},
	{CKR_FUNCTION_NOT_PARALLEL, "CKR_FUNCTION_NOT_PARALLEL"},
	{CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"},
	{CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
	{CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"},
	{CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
	{CKR_KEY_NOT_NEEDED, "CKR_KEY_NOT_NEEDED"},
	{CKR_KEY_CHANGED, "CKR_KEY_CHANGED"},
	{CKR_KEY_NEEDED, "CKR_KEY_NEEDED"},
	{CKR_KEY_INDIGESTIBLE, "CKR_KEY_INDIGESTIBLE"},
	{CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
	{CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE"},
	{CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE"},
	{CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
	{CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
	{CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
	{CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
	{CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED"},
	{CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
	{CKR_PIN_INVALID, "CKR_PIN_INVALID"},
	{CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
	{CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
	{CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
	{CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
	{CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
	{CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
	{CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKR_SESSION_PARALLEL_NOT_SUPPORTED"},
	{CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
	{CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS"},
	{CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS"},
	{CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS"},
	{CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID"},
	{CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE"},
	{CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
	{CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
	{CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
	{CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
	{CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
	{CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID"},
	{CKR_UNWRAPPING_KEY_SIZE_RANGE, "CKR_UNWRAPPING_KEY_SIZE_RANGE"},
	{CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT"},
	{CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
	{CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
	{CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
	{CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"},
	{CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"},
	{CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES"},
	{CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID"},
	{CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE"},
	{CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID"},
	{CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE"},
	{CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"},
	{CKR_RANDOM_SEED_NOT_SUPPORTED, "CKR_RANDOM_SEED_NOT_SUPPORTED"},
	{CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG"},
	{CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID"},
	{CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED"},
	{CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
	{CKR_SAVED_STATE_INVALID, "CKR_SAVED_STATE_INVALID"},
	{CKR_INFORMATION_SENSITIVE, "CKR_INFORMATION_SENSITIVE"},
	{CKR_STATE_UNSAVEABLE, "CKR_STATE_UNSAVEABLE"},
	{CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
	{CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
	{CKR_MUTEX_BAD, "CKR_MUTEX_BAD"},
	{CKR_MUTEX_NOT_LOCKED, "CKR_MUTEX_NOT_LOCKED"},
	{CKR_NEW_PIN_MODE, "CKR_NEW_PIN_MODE"},
	{CKR_NEXT_OTP, "CKR_NEXT_OTP"},
	{CKR_EXCEEDED_MAX_ITERATIONS, "CKR_EXCEEDED_MAX_ITERATIONS"},
	{CKR_FIPS_SELF_TEST_FAILED, "CKR_FIPS_SELF_TEST_FAILED"},
	{CKR_LIBRARY_LOAD_FAILED, "CKR_LIBRARY_LOAD_FAILED"},
	{CKR_PIN_TOO_WEAK, "CKR_PIN_TOO_WEAK"},
	{CKR_PUBLIC_KEY_INVALID, "CKR_PUBLIC_KEY_INVALID"},
	{CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED"},
	{CKR_VENDOR_DEFINED, "CKR_VENDOR_DEFINED"},
};

const char *rvname(CK_RV rv)
{
	static char buf[32];
	for (size_t i = 0; i < sizeof rvs / sizeof rvs[0]; i++)
		if (rvs[i].rv == rv)
			return rvs[i].name;
	snprintf(buf, sizeof buf, "0x%lx", (unsigned long)rv);
	return buf;
}

const char *hex(const CK_BYTE *p, CK_ULONG n)
{
	static char buf[2 * BIG + 1];
	if (n > BIG)
		n = BIG;
	for (CK_ULONG i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", p[i]);
	buf[2 * n] = 0;
	return buf;
}

void line(const char *step, const char *fn, CK_RV rv, const CK_ULONG *len,
          const CK_BYTE *out, CK_ULONG n, const char *extra)
{
	printf("%s %s rv=%s", step, fn, rvname(rv));
	if (len != NULL) {
		if (*len == CK_UNAVAILABLE_INFORMATION)
			printf(" len=unavail");
		else
			printf(" len=%lu", (unsigned long)*len);
	}
	if (out != NULL)
		printf(" out=%s", hex(out, n));
	if (extra != NULL)
		printf(" %s", extra);
	printf("\n");
	fflush(stdout);
}

static CK_RV call(oneshot_fn one, final_fn fin, CK_SESSION_HANDLE s,
                  const CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out,
                  CK_ULONG *outlen)
{
	if (one != NULL)
		return one(s, (CK_BYTE_PTR)in, inlen, out, outlen);
	return fin(s, out, outlen);
}

CK_ULONG twocall(const char *step, const char *fn, oneshot_fn one,
                 final_fn fin, CK_SESSION_HANDLE s, const CK_BYTE *in,
                 CK_ULONG inlen, int flags, CK_BYTE *res)
{
	char name[128];
	CK_BYTE buf[BIG];
	CK_ULONG len = 0, need;
	CK_RV rv;

	snprintf(name, sizeof name, "%s.null", step);
	rv = call(one, fin, s, in, inlen, NULL, &len);
	line(name, fn, rv, &len, NULL, 0, NULL);
	if (rv != CKR_OK)
		return 0;
	need = len;
	if (need > 0 && need <= BIG) {
		snprintf(name, sizeof name, "%s.short", step);
		len = need - 1;
		memset(buf, 0, sizeof buf);
		rv = call(one, fin, s, in, inlen, buf, &len);
		line(name, fn, rv, &len, NULL, 0, NULL);
		if (rv != CKR_BUFFER_TOO_SMALL)
			return 0;
	}
	snprintf(name, sizeof name, "%s.big", step);
	len = sizeof buf;
	rv = call(one, fin, s, in, inlen, buf, &len);
	line(name, fn, rv, &len, (flags & TC_SHOW) && rv == CKR_OK ? buf : NULL,
	     len, NULL);
	if (rv != CKR_OK)
		return 0;
	if (res != NULL)
		memcpy(res, buf, len);
	if (flags & TC_AGAIN) {
		CK_BYTE again[BIG];
		CK_ULONG alen = sizeof again;
		snprintf(name, sizeof name, "%s.again", step);
		rv = call(one, fin, s, in, inlen, again, &alen);
		line(name, fn, rv, NULL, NULL, 0, NULL);
	}
	return len;
}

CK_MECHANISM mech(CK_MECHANISM_TYPE type, void *param, CK_ULONG len)
{
	CK_MECHANISM m = {type, param, len};
	return m;
}

CK_OBJECT_HANDLE create(const char *step, CK_SESSION_HANDLE s,
                        CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_OBJECT_HANDLE h = 0;
	CK_RV rv = p11->C_CreateObject(s, tmpl, n, &h);
	line(step, "C_CreateObject", rv, NULL, NULL, 0,
	     h ? "h=nonzero" : "h=zero");
	return h;
}

CK_OBJECT_HANDLE aeskey(const char *step, CK_SESSION_HANDLE s,
                        const char *label, const CK_BYTE value[16], int flags)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL *crypt = flags & K_CRYPT ? &yes : &no;
	CK_BBOOL *wrap = flags & K_WRAP ? &yes : &no;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_LABEL, (void *)label, strlen(label)},
		{CKA_ENCRYPT, crypt, sizeof yes},
		{CKA_DECRYPT, crypt, sizeof yes},
		{CKA_WRAP, wrap, sizeof yes},
		{CKA_UNWRAP, wrap, sizeof yes},
		{CKA_SENSITIVE, flags & K_SENSITIVE ? &yes : &no, sizeof yes},
		{CKA_EXTRACTABLE, flags & K_EXTRACTABLE ? &yes : &no, sizeof yes},
		{CKA_VALUE, (void *)value, 16},
	};
	return create(step, s, t, sizeof t / sizeof t[0]);
}
