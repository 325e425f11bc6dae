//go:build ignore

/*
 * msgmod.c - a PKCS #11 v3.0 test module: SoftHSM2's functions, plus the
 * v3.0 message-based AES-GCM encryption and decryption, made with
 * SoftHSM2's own single-part AES-GCM. NSS's softoken, the v3.0 module
 * Debian ships, answers C_EncryptMessageBegin/Next with
 * CKR_FUNCTION_NOT_SUPPORTED; this module has them, so tests/pkcs11v3
 * can check multi-part messages, a generated IV written back into the
 * application's parameter and the tag of a message's last part, through
 * gop11 against the same calls made directly.
 *
 * - C_GetFunctionList gives SoftHSM2's v2.40 list. C_GetInterfaceList and
 *   C_GetInterface give "PKCS 11" 3.0: the same functions, then v3.0's.
 * - Message encryption: CKM_AES_GCM with CK_GCM_MESSAGE_PARAMS. An IV
 *   generator other than CKG_NO_GENERATE makes the IV's bits after its
 *   fixed part a counter, per operation, from 1. C_*MessageNext buffers
 *   the parts and answers the whole output with the last one
 *   (CKF_END_OF_MESSAGE); the others answer no bytes.
 * - C_SessionCancel ends a session's message operations. C_LoginUser,
 *   and message signing and verification, answer
 *   CKR_FUNCTION_NOT_SUPPORTED.
 *
 * Target: /usr/lib/softhsm/libsofthsm2.so (SOFTHSM2_CONF as usual).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR target;
static CK_FUNCTION_LIST_3_0 v3;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

#define MAX_OPS 64
#define MAX_MSG 4096

/* One message operation of a session (encrypt or decrypt). */
static struct op {
	CK_SESSION_HANDLE s;	/* 0: free */
	int decrypt;
	CK_OBJECT_HANDLE key;
	unsigned long counter;
	int in_msg;		/* between Begin and the last Next */
	CK_BYTE aad[256];
	CK_ULONG aadl;
	CK_BYTE data[MAX_MSG];
	CK_ULONG datal;
} ops[MAX_OPS];

static struct op *find(CK_SESSION_HANDLE s, int decrypt)
{
	int i;
	for (i = 0; i < MAX_OPS; i++)
		if (ops[i].s == s && ops[i].decrypt == decrypt)
			return &ops[i];
	return NULL;
}

static CK_RV msg_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, int decrypt)
{
	int i;

	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	if (m->mechanism != CKM_AES_GCM)
		return CKR_MECHANISM_INVALID;
	pthread_mutex_lock(&mu);
	if (find(s, decrypt) != NULL) {
		pthread_mutex_unlock(&mu);
		return CKR_OPERATION_ACTIVE;
	}
	for (i = 0; i < MAX_OPS && ops[i].s != 0; i++)
		;
	if (i == MAX_OPS) {
		pthread_mutex_unlock(&mu);
		return CKR_DEVICE_MEMORY;
	}
	memset(&ops[i], 0, sizeof(ops[i]));
	ops[i].s = s;
	ops[i].decrypt = decrypt;
	ops[i].key = k;
	pthread_mutex_unlock(&mu);
	return CKR_OK;
}

static CK_RV msg_final(CK_SESSION_HANDLE s, int decrypt)
{
	struct op *o;

	pthread_mutex_lock(&mu);
	o = find(s, decrypt);
	if (o != NULL)
		o->s = 0;
	pthread_mutex_unlock(&mu);
	return o == NULL ? CKR_OPERATION_NOT_INITIALIZED : CKR_OK;
}

/* crypt runs one whole message on SoftHSM2's AES-GCM: the IV made first
 * if asked for (encryption only), the tag out of or into p->pTag. */
static CK_RV crypt(struct op *o, CK_GCM_MESSAGE_PARAMS *p, const CK_BYTE *aad, CK_ULONG aadl,
		   const CK_BYTE *in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl)
{
	CK_ULONG tagl = p->ulTagBits / 8, n, i;
	CK_BYTE buf[MAX_MSG + 16];
	CK_GCM_PARAMS g;
	CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof(g)};
	CK_RV rv;

	if (inl > MAX_MSG || tagl > 16 || (o->decrypt && inl + tagl > sizeof(buf)))
		return CKR_DATA_LEN_RANGE;
	if (out == NULL) {
		*outl = inl;
		return CKR_OK;
	}
	if (*outl < inl) {
		*outl = inl;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (!o->decrypt && p->ivGenerator != CKG_NO_GENERATE) {
		CK_ULONG fixed = p->ulIvFixedBits / 8;
		o->counter++;
		for (i = p->ulIvLen; i > fixed; i--)
			p->pIv[i - 1] = 8 * (p->ulIvLen - i) < 64 ? (CK_BYTE)(o->counter >> (8 * (p->ulIvLen - i))) : 0;
	}
	g.pIv = p->pIv;
	g.ulIvLen = p->ulIvLen;
	g.ulIvBits = p->ulIvLen * 8;
	g.pAAD = (CK_BYTE_PTR)aad;
	g.ulAADLen = aadl;
	g.ulTagBits = p->ulTagBits;
	if (o->decrypt) {
		memcpy(buf, in, inl);
		memcpy(buf + inl, p->pTag, tagl);
		if ((rv = target->C_DecryptInit(o->s, &m, o->key)) != CKR_OK)
			return rv;
		n = *outl;
		rv = target->C_Decrypt(o->s, buf, inl + tagl, out, &n);
		*outl = n;
		return rv;
	}
	if ((rv = target->C_EncryptInit(o->s, &m, o->key)) != CKR_OK)
		return rv;
	n = sizeof(buf);
	if ((rv = target->C_Encrypt(o->s, (CK_BYTE_PTR)in, inl, buf, &n)) != CKR_OK)
		return rv;
	memcpy(out, buf, n - tagl);
	memcpy(p->pTag, buf + n - tagl, tagl);
	*outl = n - tagl;
	return CKR_OK;
}

static CK_RV message(CK_SESSION_HANDLE s, int decrypt, CK_VOID_PTR pp, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl,
		     CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl)
{
	struct op *o;
	CK_RV rv;

	pthread_mutex_lock(&mu);
	o = find(s, decrypt);
	if (o == NULL) {
		pthread_mutex_unlock(&mu);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pp == NULL || pl != sizeof(CK_GCM_MESSAGE_PARAMS) || outl == NULL) {
		pthread_mutex_unlock(&mu);
		return CKR_ARGUMENTS_BAD;
	}
	rv = crypt(o, pp, aad, aadl, in, inl, out, outl);
	pthread_mutex_unlock(&mu);
	return rv;
}

static CK_RV begin(CK_SESSION_HANDLE s, int decrypt, CK_VOID_PTR pp, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl)
{
	struct op *o;

	pthread_mutex_lock(&mu);
	o = find(s, decrypt);
	if (o == NULL || o->in_msg) {
		pthread_mutex_unlock(&mu);
		return o == NULL ? CKR_OPERATION_NOT_INITIALIZED : CKR_OPERATION_ACTIVE;
	}
	if (pp == NULL || pl != sizeof(CK_GCM_MESSAGE_PARAMS) || aadl > sizeof(o->aad)) {
		pthread_mutex_unlock(&mu);
		return CKR_ARGUMENTS_BAD;
	}
	if (aadl > 0)
		memcpy(o->aad, aad, aadl);
	o->aadl = aadl;
	o->datal = 0;
	o->in_msg = 1;
	pthread_mutex_unlock(&mu);
	return CKR_OK;
}

static CK_RV next(CK_SESSION_HANDLE s, int decrypt, CK_VOID_PTR pp, CK_ULONG pl, CK_BYTE_PTR in, CK_ULONG inl,
		  CK_BYTE_PTR out, CK_ULONG_PTR outl, CK_FLAGS flags)
{
	struct op *o;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&mu);
	o = find(s, decrypt);
	if (o == NULL || !o->in_msg) {
		pthread_mutex_unlock(&mu);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	if (pp == NULL || pl != sizeof(CK_GCM_MESSAGE_PARAMS) || outl == NULL || o->datal + inl > MAX_MSG) {
		pthread_mutex_unlock(&mu);
		return CKR_ARGUMENTS_BAD;
	}
	if (!(flags & CKF_END_OF_MESSAGE)) {
		memcpy(o->data + o->datal, in, inl);
		o->datal += inl;
		*outl = 0;
	} else if (out == NULL || *outl < o->datal + inl) {
		rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*outl = o->datal + inl;
	} else {
		memcpy(o->data + o->datal, in, inl);
		o->datal += inl;
		rv = crypt(o, pp, o->aad, o->aadl, o->data, o->datal, out, outl);
		o->in_msg = 0;
	}
	pthread_mutex_unlock(&mu);
	return rv;
}

static CK_RV m_MessageEncryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { return msg_init(s, m, k, 0); }
static CK_RV m_MessageDecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { return msg_init(s, m, k, 1); }
static CK_RV m_MessageEncryptFinal(CK_SESSION_HANDLE s) { return msg_final(s, 0); }
static CK_RV m_MessageDecryptFinal(CK_SESSION_HANDLE s) { return msg_final(s, 1); }

static CK_RV m_EncryptMessage(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl,
			      CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl)
{
	return message(s, 0, p, pl, aad, aadl, in, inl, out, outl);
}

static CK_RV m_DecryptMessage(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl,
			      CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl)
{
	return message(s, 1, p, pl, aad, aadl, in, inl, out, outl);
}

static CK_RV m_EncryptMessageBegin(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl)
{
	return begin(s, 0, p, pl, aad, aadl);
}

static CK_RV m_DecryptMessageBegin(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR aad, CK_ULONG aadl)
{
	return begin(s, 1, p, pl, aad, aadl);
}

static CK_RV m_EncryptMessageNext(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR in, CK_ULONG inl,
				  CK_BYTE_PTR out, CK_ULONG_PTR outl, CK_FLAGS f)
{
	return next(s, 0, p, pl, in, inl, out, outl, f);
}

static CK_RV m_DecryptMessageNext(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR in, CK_ULONG inl,
				  CK_BYTE_PTR out, CK_ULONG_PTR outl, CK_FLAGS f)
{
	return next(s, 1, p, pl, in, inl, out, outl, f);
}

static CK_RV m_SessionCancel(CK_SESSION_HANDLE s, CK_FLAGS f)
{
	if (f & CKF_MESSAGE_ENCRYPT)
		msg_final(s, 0);
	if (f & CKF_MESSAGE_DECRYPT)
		msg_final(s, 1);
	return CKR_OK;
}

static CK_RV m_LoginUser(CK_SESSION_HANDLE s, CK_USER_TYPE t, CK_UTF8CHAR_PTR p, CK_ULONG pl, CK_UTF8CHAR_PTR u, CK_ULONG ul)
{
	(void)s; (void)t; (void)p; (void)pl; (void)u; (void)ul;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_NotSupportedInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	(void)s; (void)m; (void)k;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_NotSupported1(CK_SESSION_HANDLE s)
{
	(void)s;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_SignMessage(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)s; (void)p; (void)pl; (void)d; (void)dl; (void)o; (void)ol;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_VerifyMessage(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG gl)
{
	(void)s; (void)p; (void)pl; (void)d; (void)dl; (void)g; (void)gl;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV m_MessageBegin(CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl)
{
	(void)s; (void)p; (void)pl;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_INTERFACE iface = {(CK_CHAR_PTR)"PKCS 11", &v3, 0};

static void load(void)
{
	void *h = dlopen("/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
	CK_C_GetFunctionList get;

	if (h == NULL || (get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")) == NULL || get(&target) != CKR_OK) {
		fprintf(stderr, "msgmod: cannot load SoftHSM2\n");
		return;
	}
	memcpy(&v3, target, sizeof(*target));
	v3.version.major = 3;
	v3.version.minor = 0;
	v3.C_GetInterfaceList = C_GetInterfaceList;
	v3.C_GetInterface = C_GetInterface;
	v3.C_LoginUser = m_LoginUser;
	v3.C_SessionCancel = m_SessionCancel;
	v3.C_MessageEncryptInit = m_MessageEncryptInit;
	v3.C_EncryptMessage = m_EncryptMessage;
	v3.C_EncryptMessageBegin = m_EncryptMessageBegin;
	v3.C_EncryptMessageNext = m_EncryptMessageNext;
	v3.C_MessageEncryptFinal = m_MessageEncryptFinal;
	v3.C_MessageDecryptInit = m_MessageDecryptInit;
	v3.C_DecryptMessage = m_DecryptMessage;
	v3.C_DecryptMessageBegin = m_DecryptMessageBegin;
	v3.C_DecryptMessageNext = m_DecryptMessageNext;
	v3.C_MessageDecryptFinal = m_MessageDecryptFinal;
	v3.C_MessageSignInit = m_NotSupportedInit;
	v3.C_SignMessage = m_SignMessage;
	v3.C_SignMessageBegin = m_MessageBegin;
	v3.C_SignMessageNext = m_SignMessage;
	v3.C_MessageSignFinal = m_NotSupported1;
	v3.C_VerifyMessage = m_VerifyMessage;
	v3.C_VerifyMessageBegin = m_MessageBegin;
	v3.C_VerifyMessageNext = m_VerifyMessage;
	v3.C_MessageVerifyInit = m_NotSupportedInit;
	v3.C_MessageVerifyFinal = m_NotSupported1;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	pthread_once(&once, load);
	if (target == NULL)
		return CKR_GENERAL_ERROR;
	if (pp == NULL)
		return CKR_ARGUMENTS_BAD;
	*pp = target;
	return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR n)
{
	pthread_once(&once, load);
	if (target == NULL)
		return CKR_GENERAL_ERROR;
	if (n == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list == NULL) {
		*n = 1;
		return CKR_OK;
	}
	if (*n < 1) {
		*n = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	list[0] = iface;
	*n = 1;
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR v, CK_INTERFACE_PTR_PTR pp, CK_FLAGS flags)
{
	pthread_once(&once, load);
	if (target == NULL)
		return CKR_GENERAL_ERROR;
	if (pp == NULL || (name != NULL && strcmp((char *)name, "PKCS 11") != 0) ||
	    (v != NULL && (v->major != 3 || v->minor != 0)) || flags != 0)
		return CKR_ARGUMENTS_BAD;
	*pp = &iface;
	return CKR_OK;
}
