//go:build cgo

package backend

// PKCS #11 v3.0 on the vendor side. miekg/pkcs11 knows v2.40 only, so the
// v3.0 calls go through the vendor's own CK_FUNCTION_LIST_3_0, found with
// its C_GetInterface; a module without one answers every v3.0 call with
// CKR_FUNCTION_NOT_SUPPORTED. Also here: the v3.0 mechanism parameters,
// the message functions' parameters (whose IV and tag come back) and
// their outputs, passed through as the application made them.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11.h"

// gop11_interfaces fills up to *n of the module's interfaces; 0 in *n
// when it has no C_GetInterfaceList.
static CK_RV gop11_interfaces(void *h, CK_INTERFACE *out, CK_ULONG *n) {
	CK_C_GetInterfaceList list = (CK_C_GetInterfaceList)dlsym(h, "C_GetInterfaceList");
	if (list == NULL) {
		*n = 0;
		return CKR_OK;
	}
	return list(out, n);
}

enum { MSG_ENCRYPT, MSG_DECRYPT, MSG_SIGN, MSG_VERIFY };

static CK_RV gop11_message_init(CK_FUNCTION_LIST_3_0_PTR f, int op, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
	switch (op) {
	case MSG_ENCRYPT: return f->C_MessageEncryptInit(s, m, k);
	case MSG_DECRYPT: return f->C_MessageDecryptInit(s, m, k);
	case MSG_SIGN: return f->C_MessageSignInit(s, m, k);
	case MSG_VERIFY: return f->C_MessageVerifyInit(s, m, k);
	}
	return CKR_GENERAL_ERROR;
}

static CK_RV gop11_message_final(CK_FUNCTION_LIST_3_0_PTR f, int op, CK_SESSION_HANDLE s) {
	switch (op) {
	case MSG_ENCRYPT: return f->C_MessageEncryptFinal(s);
	case MSG_DECRYPT: return f->C_MessageDecryptFinal(s);
	case MSG_SIGN: return f->C_MessageSignFinal(s);
	case MSG_VERIFY: return f->C_MessageVerifyFinal(s);
	}
	return CKR_GENERAL_ERROR;
}

// One message, or one part: the in/out shape of each op.
static CK_RV gop11_message(CK_FUNCTION_LIST_3_0_PTR f, int op, int next, CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
		CK_BYTE_PTR aad, CK_ULONG aadl, CK_BYTE_PTR in, CK_ULONG inl, CK_BYTE_PTR out, CK_ULONG_PTR outl,
		CK_ULONG sigl, CK_FLAGS flags) {
	switch (op) {
	case MSG_ENCRYPT:
		return next ? f->C_EncryptMessageNext(s, p, pl, in, inl, out, outl, flags)
			    : f->C_EncryptMessage(s, p, pl, aad, aadl, in, inl, out, outl);
	case MSG_DECRYPT:
		return next ? f->C_DecryptMessageNext(s, p, pl, in, inl, out, outl, flags)
			    : f->C_DecryptMessage(s, p, pl, aad, aadl, in, inl, out, outl);
	case MSG_SIGN:
		return next ? f->C_SignMessageNext(s, p, pl, in, inl, out, outl)
			    : f->C_SignMessage(s, p, pl, in, inl, out, outl);
	case MSG_VERIFY:
		return next ? f->C_VerifyMessageNext(s, p, pl, in, inl, out, sigl)
			    : f->C_VerifyMessage(s, p, pl, in, inl, out, sigl);
	}
	return CKR_GENERAL_ERROR;
}

static CK_RV gop11_message_begin(CK_FUNCTION_LIST_3_0_PTR f, int op, CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
		CK_BYTE_PTR aad, CK_ULONG aadl) {
	switch (op) {
	case MSG_ENCRYPT: return f->C_EncryptMessageBegin(s, p, pl, aad, aadl);
	case MSG_DECRYPT: return f->C_DecryptMessageBegin(s, p, pl, aad, aadl);
	case MSG_SIGN: return f->C_SignMessageBegin(s, p, pl);
	case MSG_VERIFY: return f->C_VerifyMessageBegin(s, p, pl);
	}
	return CKR_GENERAL_ERROR;
}

static CK_RV gop11_login_user(CK_FUNCTION_LIST_3_0_PTR f, CK_SESSION_HANDLE s, CK_USER_TYPE t,
		CK_UTF8CHAR_PTR pin, CK_ULONG pinl, CK_UTF8CHAR_PTR user, CK_ULONG userl) {
	return f->C_LoginUser(s, t, pin, pinl, user, userl);
}

static CK_RV gop11_get_info3(CK_FUNCTION_LIST_3_0_PTR f, CK_INFO_PTR i) {
	return f->C_GetInfo(i);
}

static CK_RV gop11_get_mechanism_info3(CK_FUNCTION_LIST_3_0_PTR f, CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i) {
	return f->C_GetMechanismInfo(s, t, i);
}

static CK_RV gop11_session_cancel(CK_FUNCTION_LIST_3_0_PTR f, CK_SESSION_HANDLE s, CK_FLAGS flags) {
	return f->C_SessionCancel(s, flags);
}

*/
import "C"

import (
	"context"
	"strings"
	"unsafe"

	"github.com/gop11/gop11/wire"
)

// maxTagBits bounds a message parameter's tag (GCM's is 128 bits at most).
const maxTagBits = 2048

// maxInterfaces bounds the vendor's interface list (real ones have 2-4).
const maxInterfaces = 16

// openV3 finds the module's interfaces and, when it offers "PKCS 11"
// 3.x, its v3.0 function list (the highest 3.x: its first 92 entries are
// CK_FUNCTION_LIST_3_0's).
func (c *cmod) openV3() {
	var list [maxInterfaces]C.CK_INTERFACE
	n := C.CK_ULONG(maxInterfaces)
	if rv := C.gop11_interfaces(c.dl, &list[0], &n); rv != C.CKR_OK || n > maxInterfaces {
		n = 0
	}
	var best *C.CK_INTERFACE
	for _, i := range list[:n] {
		if i.pInterfaceName == nil || i.pFunctionList == nil {
			continue
		}
		v := (*C.CK_VERSION)(i.pFunctionList)
		name := C.GoString((*C.char)(unsafe.Pointer(i.pInterfaceName)))
		c.ifaces = append(c.ifaces, wire.Interface{Name: name, Version: wire.Version{Major: uint8(v.major), Minor: uint8(v.minor)}, Flags: uint64(i.flags)})
		if name == "PKCS 11" && v.major == 3 && (best == nil || v.minor > (*C.CK_VERSION)(best.pFunctionList).minor) {
			best = &i
		}
	}
	if best != nil {
		c.fl3 = C.CK_FUNCTION_LIST_3_0_PTR(best.pFunctionList)
	}
	if len(c.ifaces) == 0 {
		// A v2.40 module: its one interface is its function list.
		c.ifaces = []wire.Interface{{Name: "PKCS 11", Version: wire.Version{Major: uint8(c.fl.version.major), Minor: uint8(c.fl.version.minor)}}}
	}
}

// keepReserved puts the init string in C memory until close: C_Initialize
// gets it as pReserved (NSS's softoken reads its configuration there),
// and a module may keep the pointer.
func (c *cmod) keepReserved(s string) { c.reserved = C.CString(s) }

// reservedArg is C_Initialize's pReserved: the init string, or NULL.
func (c *cmod) reservedArg() unsafe.Pointer { return unsafe.Pointer(c.reserved) }

// freeReserved zeroes and frees the init string (vendors put passwords
// there).
func (c *cmod) freeReserved() {
	if c.reserved != nil {
		clear(unsafe.Slice((*byte)(unsafe.Pointer(c.reserved)), C.strlen(c.reserved)))
		C.free(unsafe.Pointer(c.reserved))
		c.reserved = nil
	}
}

// v3 runs f with the module's v3.0 function list, or answers
// CKR_FUNCTION_NOT_SUPPORTED for a v2.40 module.
func v3[R any](m *Module, name string, f func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*R, error)) (*R, error) {
	return do(m, name, func() (*R, error) {
		if m.c.fl3 == nil {
			m.log.Debug().Str("func", name).Msg("a v3.0 call to a v2.40 module: CKR_FUNCTION_NOT_SUPPORTED")
			return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
		}
		return f(m.c.fl3)
	})
}

// info3 is C_GetInfo through the v3.0 list: NSS's softoken says 3.0 there
// and 2.40 through C_GetFunctionList's list.
func (c *cmod) info3() (wire.Info, error) {
	var i C.CK_INFO
	if rv := C.gop11_get_info3(c.fl3, &i); rv != C.CKR_OK {
		return wire.Info{}, wire.RV(rv)
	}
	text := func(p *C.CK_UTF8CHAR, n int) string {
		return strings.TrimRight(C.GoStringN((*C.char)(unsafe.Pointer(p)), C.int(n)), " ")
	}
	return wire.Info{
		CryptokiVersion:    wire.Version{Major: uint8(i.cryptokiVersion.major), Minor: uint8(i.cryptokiVersion.minor)},
		ManufacturerID:     text(&i.manufacturerID[0], len(i.manufacturerID)),
		Flags:              uint64(i.flags),
		LibraryDescription: text(&i.libraryDescription[0], len(i.libraryDescription)),
		LibraryVersion:     wire.Version{Major: uint8(i.libraryVersion.major), Minor: uint8(i.libraryVersion.minor)},
	}, nil
}

// mechanismInfo3 is C_GetMechanismInfo through the v3.0 list: NSS's
// softoken shows the CKF_MESSAGE_* flags there only.
func (c *cmod) mechanismInfo3(slot, mech uint64) (wire.MechanismInfo, error) {
	var i C.CK_MECHANISM_INFO
	if rv := C.gop11_get_mechanism_info3(c.fl3, C.CK_SLOT_ID(slot), C.CK_MECHANISM_TYPE(mech), &i); rv != C.CKR_OK {
		return wire.MechanismInfo{}, wire.RV(rv)
	}
	return wire.MechanismInfo{MinKeySize: uint64(i.ulMinKeySize), MaxKeySize: uint64(i.ulMaxKeySize), Flags: uint64(i.flags)}, nil
}

// GetInterfaceList is C_GetInterfaceList: the module's own interfaces.
func (m *Module) GetInterfaceList(_ context.Context, _ *wire.GetInterfaceListRequest) (*wire.GetInterfaceListResponse, error) {
	return do(m, "C_GetInterfaceList", func() (*wire.GetInterfaceListResponse, error) {
		return &wire.GetInterfaceListResponse{Interfaces: m.c.ifaces}, nil
	})
}

// LoginUser is C_LoginUser; the PIN's C copy is zeroed, as C_Login's.
func (m *Module) LoginUser(_ context.Context, r *wire.LoginUserRequest) (*wire.LoginUserResponse, error) {
	return v3(m, "C_LoginUser", func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*wire.LoginUserResponse, error) {
		var a arena
		defer a.free()
		p, n := pinArg(&a, r.Pin)
		defer wipe(p, n)
		var user C.CK_UTF8CHAR_PTR
		if r.Username != nil {
			user = (C.CK_UTF8CHAR_PTR)(a.bytes(r.Username))
		}
		rv := C.gop11_login_user(fl, C.CK_SESSION_HANDLE(r.Session), C.CK_USER_TYPE(r.UserType), p, n, user, C.CK_ULONG(len(r.Username)))
		return &wire.LoginUserResponse{}, rvErr(rv)
	})
}

// SessionCancel is C_SessionCancel.
func (m *Module) SessionCancel(_ context.Context, r *wire.SessionCancelRequest) (*wire.SessionCancelResponse, error) {
	return v3(m, "C_SessionCancel", func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*wire.SessionCancelResponse, error) {
		return &wire.SessionCancelResponse{}, rvErr(C.gop11_session_cancel(fl, C.CK_SESSION_HANDLE(r.Session), C.CK_FLAGS(r.Flags)))
	})
}

type msgOp C.int

const (
	opEncrypt msgOp = C.MSG_ENCRYPT
	opDecrypt msgOp = C.MSG_DECRYPT
	opSign    msgOp = C.MSG_SIGN
	opVerify  msgOp = C.MSG_VERIFY
)

func (m *Module) messageInit(name string, op msgOp, s uint64, mech wire.Mechanism, key uint64) error {
	_, err := v3(m, name, func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*struct{}, error) {
		var a arena
		defer a.free()
		cm, err := cMechanism(&a, mech)
		if err != nil {
			return nil, err
		}
		return nil, rvErr(C.gop11_message_init(fl, C.int(op), C.CK_SESSION_HANDLE(s), cm, C.CK_OBJECT_HANDLE(key)))
	})
	return err
}

func (m *Module) messageFinal(name string, op msgOp, s uint64) error {
	_, err := v3(m, name, func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*struct{}, error) {
		return nil, rvErr(C.gop11_message_final(fl, C.int(op), C.CK_SESSION_HANDLE(s)))
	})
	return err
}

func (m *Module) messageBegin(name string, op msgOp, s uint64, param wire.Mechanism, aad []byte) (wire.Mechanism, error) {
	var back wire.Mechanism
	_, err := v3(m, name, func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*struct{}, error) {
		var a arena
		defer a.free()
		mp, err := newMsgParam(&a, param)
		if err != nil {
			return nil, err
		}
		ap, al := inArg(&a, aad)
		rv := C.gop11_message_begin(fl, C.int(op), C.CK_SESSION_HANDLE(s), mp.p, mp.n, ap, al)
		if rv == C.CKR_OK {
			back = mp.back()
		}
		return nil, rvErr(rv)
	})
	return back, err
}

// message is one message or part: encrypt and decrypt (aad, in → out),
// sign (in → out signature), verify (in, sig).
type message struct {
	op    msgOp
	next  bool
	s     uint64
	param wire.Mechanism
	aad   []byte
	in    []byte
	out   wire.OutBuf
	sig   []byte // verify only
	flags uint64
}

func (m *Module) message(name string, q message) (wire.Mechanism, wire.RawOut, error) {
	var (
		back wire.Mechanism
		out  wire.RawOut
	)
	_, err := v3(m, name, func(fl C.CK_FUNCTION_LIST_3_0_PTR) (*struct{}, error) {
		var a arena
		defer a.free()
		mp, err := newMsgParam(&a, q.param)
		if err != nil {
			return nil, err
		}
		ap, al := inArg(&a, q.aad)
		ip, il := inArg(&a, q.in)
		var (
			op   C.CK_BYTE_PTR
			ol   *C.CK_ULONG
			sigl C.CK_ULONG
		)
		if q.op == opVerify {
			op, sigl = inArg(&a, q.sig)
		} else if q.out.Want != wire.OutNone {
			ol = (*C.CK_ULONG)(a.alloc(int(C.sizeof_CK_ULONG)))
			if q.out.Want == wire.OutBuffer {
				// An output larger than a frame could not come back anyway.
				*ol = C.CK_ULONG(min(q.out.Cap, maxRandom))
				op = C.CK_BYTE_PTR(a.alloc(int(*ol)))
			}
		}
		next := C.int(0)
		if q.next {
			next = 1
		}
		rv := C.gop11_message(fl, C.int(q.op), next, C.CK_SESSION_HANDLE(q.s), mp.p, mp.n, ap, al, ip, il, op, ol, sigl, C.CK_FLAGS(q.flags))
		switch rv {
		case C.CKR_OK:
			back = mp.back()
			if ol != nil {
				out.Len = uint64(*ol)
				if op != nil && q.op != opVerify {
					out.Data = C.GoBytes(unsafe.Pointer(op), C.int(*ol))
				}
			}
			return nil, nil
		case C.CKR_BUFFER_TOO_SMALL:
			if ol != nil {
				out.Len, out.TooSmall = uint64(*ol), true
				return nil, nil
			}
		}
		return nil, rvErr(rv)
	})
	return back, out, err
}

// inArg puts an input in C memory: nil stays NULL, empty is a valid
// pointer (SoftHSM2 and NSS tell the two apart).
func inArg(a *arena, b []byte) (C.CK_BYTE_PTR, C.CK_ULONG) {
	if b == nil {
		return nil, 0
	}
	return C.CK_BYTE_PTR(a.bytes(b)), C.CK_ULONG(len(b))
}

// cMsgParam is a message parameter in C memory, and how to read back what
// the vendor wrote into it.
type cMsgParam struct {
	p    C.CK_VOID_PTR
	n    C.CK_ULONG
	back func() wire.Mechanism
}

func newMsgParam(a *arena, m wire.Mechanism) (cMsgParam, error) {
	none := cMsgParam{back: func() wire.Mechanism { return wire.Mechanism{Type: m.Type} }}
	if m.Param == nil {
		return none, nil
	}
	if k, ok := wire.MessageParamKindOf(m.Type); !ok || k != m.Param.Kind() {
		return none, wire.CKR_MECHANISM_PARAM_INVALID
	}
	// buf copies b into C memory of at least n bytes (the vendor may write
	// n); nil and no room stays NULL.
	buf := func(b []byte, n int) C.CK_BYTE_PTR {
		if b == nil && n == 0 {
			return nil
		}
		p := a.alloc(max(len(b), n))
		copy(unsafe.Slice((*byte)(p), len(b)), b)
		return C.CK_BYTE_PTR(p)
	}
	gb := func(p C.CK_BYTE_PTR, n int) []byte {
		if p == nil {
			return nil
		}
		return C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	switch p := m.Param.(type) {
	case *wire.GCMMessageParams:
		// The vendor writes ulTagBits/8 bytes of tag: the buffer must hold
		// them whatever the request carried.
		if !fitsULong(p.IVFixedBits) || !fitsULong(p.IVGenerator) || p.TagBits > maxTagBits {
			return none, wire.CKR_MECHANISM_PARAM_INVALID
		}
		c := (*C.CK_GCM_MESSAGE_PARAMS)(a.alloc(C.sizeof_CK_GCM_MESSAGE_PARAMS))
		c.pIv, c.ulIvLen = buf(p.IV, len(p.IV)), C.CK_ULONG(len(p.IV))
		c.ulIvFixedBits, c.ivGenerator = C.CK_ULONG(p.IVFixedBits), C.CK_GENERATOR_FUNCTION(p.IVGenerator)
		tagLen := max(len(p.Tag), int(p.TagBits+7)/8)
		c.pTag, c.ulTagBits = buf(p.Tag, tagLen), C.CK_ULONG(p.TagBits)
		return cMsgParam{C.CK_VOID_PTR(c), C.sizeof_CK_GCM_MESSAGE_PARAMS, func() wire.Mechanism {
			return wire.Mechanism{Type: m.Type, Param: &wire.GCMMessageParams{IV: gb(c.pIv, len(p.IV)), IVFixedBits: p.IVFixedBits,
				IVGenerator: p.IVGenerator, Tag: gb(c.pTag, tagLen), TagBits: p.TagBits}}
		}}, nil
	case *wire.CCMMessageParams:
		if !fitsULong(p.DataLen) || !fitsULong(p.NonceFixedBits) || !fitsULong(p.NonceGenerator) {
			return none, wire.CKR_MECHANISM_PARAM_INVALID
		}
		c := (*C.CK_CCM_MESSAGE_PARAMS)(a.alloc(C.sizeof_CK_CCM_MESSAGE_PARAMS))
		c.ulDataLen = C.CK_ULONG(p.DataLen)
		c.pNonce, c.ulNonceLen = buf(p.Nonce, len(p.Nonce)), C.CK_ULONG(len(p.Nonce))
		c.ulNonceFixedBits, c.nonceGenerator = C.CK_ULONG(p.NonceFixedBits), C.CK_GENERATOR_FUNCTION(p.NonceGenerator)
		c.pMAC, c.ulMACLen = buf(p.MAC, len(p.MAC)), C.CK_ULONG(len(p.MAC))
		return cMsgParam{C.CK_VOID_PTR(c), C.sizeof_CK_CCM_MESSAGE_PARAMS, func() wire.Mechanism {
			return wire.Mechanism{Type: m.Type, Param: &wire.CCMMessageParams{DataLen: p.DataLen, Nonce: gb(c.pNonce, len(p.Nonce)),
				NonceFixedBits: p.NonceFixedBits, NonceGenerator: p.NonceGenerator, MAC: gb(c.pMAC, len(p.MAC))}}
		}}, nil
	case *wire.ChaChaPolyMessageParams:
		c := (*C.CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS)(a.alloc(C.sizeof_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS))
		c.pNonce, c.ulNonceLen = buf(p.Nonce, len(p.Nonce)), C.CK_ULONG(len(p.Nonce))
		// pTag has no length: the vendor writes the 16-byte Poly1305 tag.
		c.pTag = buf(p.Tag, 16)
		return cMsgParam{C.CK_VOID_PTR(c), C.sizeof_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS, func() wire.Mechanism {
			tag := []byte(nil)
			if p.Tag != nil {
				tag = gb(c.pTag, len(p.Tag))
			}
			return wire.Mechanism{Type: m.Type, Param: &wire.ChaChaPolyMessageParams{Nonce: gb(c.pNonce, len(p.Nonce)), Tag: tag}}
		}}, nil
	}
	return none, wire.CKR_MECHANISM_PARAM_INVALID
}

// mechParam3 is mechParam for the layouts v3.0 added.
func mechParam3(a *arena, m wire.Mechanism) ([]byte, error) {
	bad := wire.CKR_MECHANISM_PARAM_INVALID
	buf := func(b []byte) C.CK_BYTE_PTR {
		if len(b) == 0 {
			return nil
		}
		return C.CK_BYTE_PTR(a.bytes(b))
	}
	cbool := func(v bool) C.CK_BBOOL {
		if v {
			return C.CK_TRUE
		}
		return C.CK_FALSE
	}
	switch p := m.Param.(type) {
	case *wire.EdDSAParams:
		c := (*C.CK_EDDSA_PARAMS)(a.alloc(C.sizeof_CK_EDDSA_PARAMS))
		c.phFlag = cbool(p.PHFlag)
		c.pContextData, c.ulContextDataLen = buf(p.ContextData), C.CK_ULONG(len(p.ContextData))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_EDDSA_PARAMS), nil
	case *wire.ChaChaPolyParams:
		c := (*C.CK_SALSA20_CHACHA20_POLY1305_PARAMS)(a.alloc(C.sizeof_CK_SALSA20_CHACHA20_POLY1305_PARAMS))
		c.pNonce, c.ulNonceLen = buf(p.Nonce), C.CK_ULONG(len(p.Nonce))
		c.pAAD, c.ulAADLen = buf(p.AAD), C.CK_ULONG(len(p.AAD))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_SALSA20_CHACHA20_POLY1305_PARAMS), nil
	case *wire.ChaCha20Params:
		if !fitsULong(p.BlockCounterBits) || uint64(len(p.BlockCounter))*8 < p.BlockCounterBits {
			return nil, bad
		}
		c := (*C.CK_CHACHA20_PARAMS)(a.alloc(C.sizeof_CK_CHACHA20_PARAMS))
		c.pBlockCounter, c.blockCounterBits = buf(p.BlockCounter), C.CK_ULONG(p.BlockCounterBits)
		c.pNonce, c.ulNonceBits = buf(p.Nonce), C.CK_ULONG(len(p.Nonce)*8)
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_CHACHA20_PARAMS), nil
	case *wire.HKDFParams:
		if !fitsULong(p.PRFHash) || !fitsULong(p.SaltType) || !fitsULong(p.SaltKey) {
			return nil, bad
		}
		c := (*C.CK_HKDF_PARAMS)(a.alloc(C.sizeof_CK_HKDF_PARAMS))
		c.bExtract, c.bExpand = cbool(p.Extract), cbool(p.Expand)
		c.prfHashMechanism, c.ulSaltType = C.CK_MECHANISM_TYPE(p.PRFHash), C.CK_ULONG(p.SaltType)
		c.pSalt, c.ulSaltLen = buf(p.Salt), C.CK_ULONG(len(p.Salt))
		c.hSaltKey = C.CK_OBJECT_HANDLE(p.SaltKey)
		c.pInfo, c.ulInfoLen = buf(p.Info), C.CK_ULONG(len(p.Info))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_HKDF_PARAMS), nil
	case *wire.SP800108Params:
		return sp800108(a, m.Type, p)
	case *wire.VendorParams:
		return vendorParam(a, m.Type, p)
	}
	return nil, bad
}

// vendorParam builds a vendor struct declared in broker.toml; a mechanism
// declared otherwise, or not at all, is refused.
func vendorParam(a *arena, mech uint64, p *wire.VendorParams) ([]byte, error) {
	l, ok := wire.VendorLayoutOf(mech)
	if !ok || !p.Matches(l) {
		return nil, wire.CKR_MECHANISM_PARAM_INVALID
	}
	members, size := l.CLayout(sizeofULong, int(unsafe.Sizeof(uintptr(0))), int(unsafe.Sizeof(uintptr(0))))
	b := make([]byte, size)
	for _, mb := range members {
		v := p.Fields[mb.Field]
		at := unsafe.Pointer(&b[mb.Off])
		switch mb.Kind {
		case wire.MemberULong:
			n := v.ULong
			if v.Field != wire.FieldULong {
				n = uint64(len(v.Bytes))
			}
			if !fitsULong(n) {
				return nil, wire.CKR_MECHANISM_PARAM_INVALID
			}
			*(*C.CK_ULONG)(at) = C.CK_ULONG(n)
		case wire.MemberBool:
			if v.Bool {
				*(*C.CK_BBOOL)(at) = C.CK_TRUE
			}
		case wire.MemberPtr:
			if len(v.Bytes) > 0 {
				*(*C.CK_BYTE_PTR)(at) = C.CK_BYTE_PTR(a.bytes(v.Bytes))
			}
		}
	}
	return b, nil
}

func sp800108(a *arena, mech uint64, p *wire.SP800108Params) ([]byte, error) {
	bad := wire.CKR_MECHANISM_PARAM_INVALID
	if !fitsULong(p.PRF) {
		return nil, bad
	}
	var data C.CK_PRF_DATA_PARAM_PTR
	if len(p.Data) > 0 {
		data = C.CK_PRF_DATA_PARAM_PTR(a.alloc(len(p.Data) * C.sizeof_CK_PRF_DATA_PARAM))
	}
	for i, d := range p.Data {
		e := &unsafe.Slice(data, len(p.Data))[i]
		e._type = C.CK_PRF_DATA_TYPE(d.Type)
		switch {
		case d.Type == wire.CK_SP800_108_BYTE_ARRAY:
			e.pValue, e.ulValueLen = C.CK_VOID_PTR(a.bytes(d.Bytes)), C.CK_ULONG(len(d.Bytes))
		case d.Format && d.Type == wire.CK_SP800_108_DKM_LENGTH:
			f := (*C.CK_SP800_108_DKM_LENGTH_FORMAT)(a.alloc(C.sizeof_CK_SP800_108_DKM_LENGTH_FORMAT))
			f.dkmLengthMethod, f.ulWidthInBits = C.CK_SP800_108_DKM_LENGTH_METHOD(d.DKMMethod), C.CK_ULONG(d.WidthBits)
			if d.LittleEndian {
				f.bLittleEndian = C.CK_TRUE
			}
			e.pValue, e.ulValueLen = C.CK_VOID_PTR(f), C.sizeof_CK_SP800_108_DKM_LENGTH_FORMAT
		case d.Format:
			f := (*C.CK_SP800_108_COUNTER_FORMAT)(a.alloc(C.sizeof_CK_SP800_108_COUNTER_FORMAT))
			f.ulWidthInBits = C.CK_ULONG(d.WidthBits)
			if d.LittleEndian {
				f.bLittleEndian = C.CK_TRUE
			}
			e.pValue, e.ulValueLen = C.CK_VOID_PTR(f), C.sizeof_CK_SP800_108_COUNTER_FORMAT
		}
	}
	if mech == wire.CKM_SP800_108_FEEDBACK_KDF {
		c := (*C.CK_SP800_108_FEEDBACK_KDF_PARAMS)(a.alloc(C.sizeof_CK_SP800_108_FEEDBACK_KDF_PARAMS))
		c.prfType, c.ulNumberOfDataParams, c.pDataParams = C.CK_SP800_108_PRF_TYPE(p.PRF), C.CK_ULONG(len(p.Data)), data
		if len(p.IV) > 0 {
			c.pIV, c.ulIVLen = C.CK_BYTE_PTR(a.bytes(p.IV)), C.CK_ULONG(len(p.IV))
		}
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_SP800_108_FEEDBACK_KDF_PARAMS), nil
	}
	c := (*C.CK_SP800_108_KDF_PARAMS)(a.alloc(C.sizeof_CK_SP800_108_KDF_PARAMS))
	c.prfType, c.ulNumberOfDataParams, c.pDataParams = C.CK_SP800_108_PRF_TYPE(p.PRF), C.CK_ULONG(len(p.Data)), data
	return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_SP800_108_KDF_PARAMS), nil
}
