//go:build cgo

package backend

// The spec's two-call convention made here, not by miekg: the first call
// asks the vendor module for the output length (its answer, which may be
// an upper bound, is what the application would have seen and is sent
// back as SizeHint), the second fetches the output. miekg's helpers make
// the same two calls but keep the first answer to themselves.

/*
#include "pkcs11.h"

enum { IN_ENCRYPT, IN_ENCRYPT_UPDATE, IN_DECRYPT, IN_DECRYPT_UPDATE, IN_DIGEST, IN_SIGN,
	IN_SIGN_RECOVER, IN_VERIFY_RECOVER, IN_DIGEST_ENCRYPT_UPDATE, IN_DECRYPT_DIGEST_UPDATE,
	IN_SIGN_ENCRYPT_UPDATE, IN_DECRYPT_VERIFY_UPDATE,
	OUT_ENCRYPT_FINAL, OUT_DECRYPT_FINAL, OUT_DIGEST_FINAL, OUT_SIGN_FINAL, OUT_OPERATION_STATE };

typedef CK_RV (*gop11_in_out)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*gop11_out)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

static CK_RV gop11_two_call(CK_FUNCTION_LIST_PTR fl, int which, CK_SESSION_HANDLE s,
		CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl) {
	gop11_in_out io = NULL;
	gop11_out o = NULL;
	switch (which) {
	case IN_ENCRYPT: io = fl->C_Encrypt; break;
	case IN_ENCRYPT_UPDATE: io = fl->C_EncryptUpdate; break;
	case IN_DECRYPT: io = fl->C_Decrypt; break;
	case IN_DECRYPT_UPDATE: io = fl->C_DecryptUpdate; break;
	case IN_DIGEST: io = fl->C_Digest; break;
	case IN_SIGN: io = fl->C_Sign; break;
	case IN_SIGN_RECOVER: io = fl->C_SignRecover; break;
	case IN_VERIFY_RECOVER: io = fl->C_VerifyRecover; break;
	case IN_DIGEST_ENCRYPT_UPDATE: io = fl->C_DigestEncryptUpdate; break;
	case IN_DECRYPT_DIGEST_UPDATE: io = fl->C_DecryptDigestUpdate; break;
	case IN_SIGN_ENCRYPT_UPDATE: io = fl->C_SignEncryptUpdate; break;
	case IN_DECRYPT_VERIFY_UPDATE: io = fl->C_DecryptVerifyUpdate; break;
	case OUT_ENCRYPT_FINAL: o = fl->C_EncryptFinal; break;
	case OUT_DECRYPT_FINAL: o = fl->C_DecryptFinal; break;
	case OUT_DIGEST_FINAL: o = fl->C_DigestFinal; break;
	case OUT_SIGN_FINAL: o = fl->C_SignFinal; break;
	case OUT_OPERATION_STATE: o = fl->C_GetOperationState; break;
	}
	if (io != NULL)
		return io(s, in, inl, out, outl);
	if (o != NULL)
		return o(s, out, outl);
	return CKR_GENERAL_ERROR;
}
*/
import "C"

import (
	"unsafe"

	"github.com/gop11/gop11/wire"
)

type twoCallFn C.int

const (
	fnEncrypt             twoCallFn = C.IN_ENCRYPT
	fnEncryptUpdate       twoCallFn = C.IN_ENCRYPT_UPDATE
	fnDecrypt             twoCallFn = C.IN_DECRYPT
	fnDecryptUpdate       twoCallFn = C.IN_DECRYPT_UPDATE
	fnDigest              twoCallFn = C.IN_DIGEST
	fnSign                twoCallFn = C.IN_SIGN
	fnSignRecover         twoCallFn = C.IN_SIGN_RECOVER
	fnVerifyRecover       twoCallFn = C.IN_VERIFY_RECOVER
	fnDigestEncryptUpdate twoCallFn = C.IN_DIGEST_ENCRYPT_UPDATE
	fnDecryptDigestUpdate twoCallFn = C.IN_DECRYPT_DIGEST_UPDATE
	fnSignEncryptUpdate   twoCallFn = C.IN_SIGN_ENCRYPT_UPDATE
	fnDecryptVerifyUpdate twoCallFn = C.IN_DECRYPT_VERIFY_UPDATE
	fnEncryptFinal        twoCallFn = C.OUT_ENCRYPT_FINAL
	fnDecryptFinal        twoCallFn = C.OUT_DECRYPT_FINAL
	fnDigestFinal         twoCallFn = C.OUT_DIGEST_FINAL
	fnSignFinal           twoCallFn = C.OUT_SIGN_FINAL
	fnOperationState      twoCallFn = C.OUT_OPERATION_STATE
)

// twoCall runs fn's size query and then its real call. It returns the
// output and the size query's answer. The second call always gets a
// non-NULL buffer, even for an empty output: a NULL one would be another
// size query and leave the operation active. A vendor that asks for more
// on the second call (CKR_BUFFER_TOO_SMALL) is given it, a few times.
// cipherSlack is the room an encryption's output may need beyond its
// input: a block of padding and a tag, with margin.
const cipherSlack = 64

// emptyIn is what a non-NULL empty input points at.
var emptyIn C.CK_BYTE

func (c *cmod) twoCall(fn twoCallFn, session uint64, in []byte) ([]byte, uint64, error) {
	var inp C.CK_BYTE_PTR
	switch {
	case len(in) > 0:
		inp = (C.CK_BYTE_PTR)(unsafe.Pointer(&in[0]))
	case in != nil:
		// An empty input the application passed as a pointer stays a
		// pointer: SoftHSM2 answers NULL with CKR_ARGUMENTS_BAD but
		// digests an empty buffer.
		inp = (C.CK_BYTE_PTR)(unsafe.Pointer(&emptyIn))
	}
	var n C.CK_ULONG
	rv := C.gop11_two_call(c.fl, C.int(fn), C.CK_SESSION_HANDLE(session), inp, C.CK_ULONG(len(in)), nil, &n)
	if rv != C.CKR_OK {
		return nil, 0, wire.RV(rv)
	}
	hint := uint64(n)
	if fn == fnEncrypt || fn == fnEncryptUpdate || fn == fnDecrypt || fn == fnDecryptUpdate {
		// Room for a tag or padding whatever the size query said: NSS's
		// softoken answers an AEAD encryption's size query without the
		// tag, then ends the operation on CKR_BUFFER_TOO_SMALL, which the
		// application, passing a big buffer at once, never met.
		n = max(n, C.CK_ULONG(len(in)+cipherSlack))
	}
	for try := 0; try < 4; try++ {
		buf := make([]byte, max(int(n), 1))
		rv = C.gop11_two_call(c.fl, C.int(fn), C.CK_SESSION_HANDLE(session), inp, C.CK_ULONG(len(in)),
			(C.CK_BYTE_PTR)(unsafe.Pointer(&buf[0])), &n)
		switch rv {
		case C.CKR_OK:
			return buf[:n], hint, nil
		case C.CKR_BUFFER_TOO_SMALL:
			continue
		default:
			return nil, 0, wire.RV(rv)
		}
	}
	return nil, 0, wire.CKR_GENERAL_ERROR
}
