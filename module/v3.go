package main

// PKCS #11 v3.0 in the module: the v3.0 parameter layouts, the message
// functions' parameters and pass-through outputs, their hooks, and the
// interface list C_GetInterfaceList and C_GetInterface answer from.

/*
#include "gop11.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/gop11/gop11/module/client"
	"github.com/gop11/gop11/wire"
)

// inParam3 reads the parameter layouts v3.0 added.
func inParam3(kind wire.ParamKind, pp C.CK_VOID_PTR, n C.CK_ULONG) (wire.MechParam, bool) {
	switch kind {
	case wire.ParamEdDSA:
		if n != C.sizeof_CK_EDDSA_PARAMS {
			return nil, false
		}
		c := (*C.CK_EDDSA_PARAMS)(pp)
		ctx, ok := bytesAt(bytePtrAt(pp, C.gop11_off_CK_EDDSA_PARAMS_pContextData), *ulongAt(pp, C.gop11_off_CK_EDDSA_PARAMS_ulContextDataLen))
		return &wire.EdDSAParams{PHFlag: c.phFlag != 0, ContextData: ctx}, ok
	case wire.ParamChaChaPoly:
		if n != C.sizeof_CK_SALSA20_CHACHA20_POLY1305_PARAMS {
			return nil, false
		}
		c := (*C.CK_SALSA20_CHACHA20_POLY1305_PARAMS)(pp)
		nonce, ok1 := bytesAt(c.pNonce, c.ulNonceLen)
		aad, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_SALSA20_CHACHA20_POLY1305_PARAMS_pAAD), c.ulAADLen)
		return &wire.ChaChaPolyParams{Nonce: nonce, AAD: aad}, ok1 && ok2
	case wire.ParamChaCha20:
		if n != C.sizeof_CK_CHACHA20_PARAMS {
			return nil, false
		}
		c := (*C.CK_CHACHA20_PARAMS)(pp)
		counter, ok1 := bytesAt(c.pBlockCounter, bitsToBytes(c.blockCounterBits))
		nonce, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_CHACHA20_PARAMS_pNonce), bitsToBytes(c.ulNonceBits))
		if !ok1 || !ok2 || uint64(len(nonce))*8 != uint64(c.ulNonceBits) {
			return nil, false
		}
		return &wire.ChaCha20Params{BlockCounter: counter, BlockCounterBits: uint64(c.blockCounterBits), Nonce: nonce}, true
	case wire.ParamHKDF:
		if n != C.sizeof_CK_HKDF_PARAMS {
			return nil, false
		}
		c := (*C.CK_HKDF_PARAMS)(pp)
		ul := func(off uintptr) uint64 { return uint64(*ulongAt(pp, off)) }
		salt, ok1 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_HKDF_PARAMS_pSalt), C.CK_ULONG(ul(C.gop11_off_CK_HKDF_PARAMS_ulSaltLen)))
		info, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_HKDF_PARAMS_pInfo), C.CK_ULONG(ul(C.gop11_off_CK_HKDF_PARAMS_ulInfoLen)))
		return &wire.HKDFParams{Extract: c.bExtract != 0, Expand: c.bExpand != 0, PRFHash: ul(C.gop11_off_CK_HKDF_PARAMS_prfHashMechanism),
			SaltType: ul(C.gop11_off_CK_HKDF_PARAMS_ulSaltType), Salt: salt, SaltKey: ul(C.gop11_off_CK_HKDF_PARAMS_hSaltKey), Info: info}, ok1 && ok2
	case wire.ParamSP800108:
		return inSP800108(pp, n)
	case wire.ParamGCMMessage:
		if n != C.sizeof_CK_GCM_MESSAGE_PARAMS {
			return nil, false
		}
		c := (*C.CK_GCM_MESSAGE_PARAMS)(pp)
		iv, ok1 := bytesAt(c.pIv, c.ulIvLen)
		tag, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_GCM_MESSAGE_PARAMS_pTag), bitsToBytes(c.ulTagBits))
		return &wire.GCMMessageParams{IV: iv, IVFixedBits: uint64(c.ulIvFixedBits), IVGenerator: uint64(c.ivGenerator),
			Tag: tag, TagBits: uint64(c.ulTagBits)}, ok1 && ok2
	case wire.ParamCCMMessage:
		if n != C.sizeof_CK_CCM_MESSAGE_PARAMS {
			return nil, false
		}
		c := (*C.CK_CCM_MESSAGE_PARAMS)(pp)
		nonce, ok1 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_CCM_MESSAGE_PARAMS_pNonce), c.ulNonceLen)
		mac, ok2 := bytesAt(c.pMAC, c.ulMACLen)
		return &wire.CCMMessageParams{DataLen: uint64(c.ulDataLen), Nonce: nonce, NonceFixedBits: uint64(c.ulNonceFixedBits),
			NonceGenerator: uint64(c.nonceGenerator), MAC: mac}, ok1 && ok2
	case wire.ParamChaChaPolyMessage:
		if n != C.sizeof_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS {
			return nil, false
		}
		c := (*C.CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS)(pp)
		nonce, ok1 := bytesAt(c.pNonce, c.ulNonceLen)
		tag, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS_pTag), chachaTagLen)
		return &wire.ChaChaPolyMessageParams{Nonce: nonce, Tag: tag}, ok1 && ok2
	}
	return nil, false
}

// inVendor reads the parameter of a vendor mechanism declared in
// client.toml ([[mechanism]]) by its declared layout.
func inVendor(mech uint64, pp C.CK_VOID_PTR, n C.CK_ULONG) (wire.MechParam, bool) {
	l, ok := wire.VendorLayoutOf(mech)
	if !ok {
		return nil, false
	}
	members, size := l.CLayout(sizeofULong, int(unsafe.Sizeof(uintptr(0))), C.GOP11_STRUCT_PACK)
	if int(n) != size {
		return nil, false
	}
	p := &wire.VendorParams{Fields: make([]wire.VendorValue, len(l.Fields))}
	ptrs := make([]C.CK_BYTE_PTR, len(l.Fields))
	lens := make([]C.CK_ULONG, len(l.Fields))
	for _, m := range members {
		at := unsafe.Add(unsafe.Pointer(pp), m.Off)
		v := &p.Fields[m.Field]
		v.Field = l.Fields[m.Field]
		switch m.Kind {
		case wire.MemberULong:
			if v.Field == wire.FieldULong {
				v.ULong = ulongIn(*(*C.CK_ULONG)(at))
			} else {
				lens[m.Field] = *(*C.CK_ULONG)(at)
			}
		case wire.MemberBool:
			v.Bool = *(*C.CK_BBOOL)(at) != 0
		case wire.MemberPtr:
			ptrs[m.Field] = *(*C.CK_BYTE_PTR)(at)
		}
	}
	for i := range p.Fields {
		if f := p.Fields[i].Field; f == wire.FieldBytes || f == wire.FieldLenBytes {
			b, ok := bytesAt(ptrs[i], lens[i])
			if !ok {
				return nil, false
			}
			p.Fields[i].Bytes = b
		}
	}
	return p, true
}

// inUTF8 reads a UTF-8 string input (C_LoginUser's user name).
func inUTF8(p C.CK_UTF8CHAR_PTR, n C.CK_ULONG) ([]byte, C.CK_RV) {
	return inBytes((C.CK_BYTE_PTR)(unsafe.Pointer(p)), n)
}

// chachaTagLen is the Poly1305 tag's length: the struct has no length
// for pTag.
const chachaTagLen = 16

// maxDataParams bounds an SP 800-108 parameter's data list (real ones hold
// a handful).
const maxDataParams = 64

func bitsToBytes(bits C.CK_ULONG) C.CK_ULONG { return (bits + 7) / 8 }

// inSP800108 reads CK_SP800_108_KDF_PARAMS or, by its size,
// CK_SP800_108_FEEDBACK_KDF_PARAMS. Additional derived keys are refused
// (wire.SP800108Params says why).
func inSP800108(pp C.CK_VOID_PTR, n C.CK_ULONG) (wire.MechParam, bool) {
	var (
		p      wire.SP800108Params
		count  C.CK_ULONG
		data   C.CK_PRF_DATA_PARAM_PTR
		extra  C.CK_ULONG
		extraP unsafe.Pointer
	)
	switch n {
	case C.sizeof_CK_SP800_108_KDF_PARAMS:
		c := (*C.CK_SP800_108_KDF_PARAMS)(pp)
		p.PRF, count, data, extra, extraP = uint64(c.prfType), c.ulNumberOfDataParams, c.pDataParams, c.ulAdditionalDerivedKeys,
			ptrAt(pp, C.gop11_off_CK_SP800_108_KDF_PARAMS_pAdditionalDerivedKeys)
	case C.sizeof_CK_SP800_108_FEEDBACK_KDF_PARAMS:
		c := (*C.CK_SP800_108_FEEDBACK_KDF_PARAMS)(pp)
		p.PRF, count, data, extra, extraP = uint64(c.prfType), c.ulNumberOfDataParams, c.pDataParams, c.ulAdditionalDerivedKeys, unsafe.Pointer(c.pAdditionalDerivedKeys)
		iv, ok := bytesAt(bytePtrAt(pp, C.gop11_off_CK_SP800_108_FEEDBACK_KDF_PARAMS_pIV), c.ulIVLen)
		if !ok {
			return nil, false
		}
		p.IV = iv
		if p.IV == nil {
			p.IV = []byte{} // NULL and empty differ for the feedback layout's size
		}
	default:
		return nil, false
	}
	if extra != 0 || extraP != nil {
		logger.Warn().Msg("SP 800-108 additional derived keys are not carried (CKR_MECHANISM_PARAM_INVALID)")
		return nil, false
	}
	if count > 0 && data == nil || count > maxDataParams {
		return nil, false
	}
	params := unsafe.Slice(data, int(count))
	for i := range params {
		d := &params[i]
		v := ptrAt(unsafe.Pointer(d), C.gop11_off_CK_PRF_DATA_PARAM_pValue)
		e := wire.PRFDataParam{Type: uint64(d._type)}
		switch e.Type {
		case C.CK_SP800_108_BYTE_ARRAY:
			b, ok := bytesAt((C.CK_BYTE_PTR)(v), d.ulValueLen)
			if !ok {
				return nil, false
			}
			e.Bytes = b
		case C.CK_SP800_108_ITERATION_VARIABLE, C.CK_SP800_108_OPTIONAL_COUNTER:
			if v != nil {
				if d.ulValueLen != C.sizeof_CK_SP800_108_COUNTER_FORMAT {
					return nil, false
				}
				f := (*C.CK_SP800_108_COUNTER_FORMAT)(v)
				e.Format, e.LittleEndian, e.WidthBits = true, f.bLittleEndian != 0, uint64(*ulongAt(v, C.gop11_off_CK_SP800_108_COUNTER_FORMAT_ulWidthInBits))
			}
		case C.CK_SP800_108_DKM_LENGTH:
			if v == nil || d.ulValueLen != C.sizeof_CK_SP800_108_DKM_LENGTH_FORMAT {
				return nil, false
			}
			f := (*C.CK_SP800_108_DKM_LENGTH_FORMAT)(v)
			e.Format, e.LittleEndian, e.DKMMethod = true, f.bLittleEndian != 0, uint64(f.dkmLengthMethod)
			e.WidthBits = uint64(*ulongAt(v, C.gop11_off_CK_SP800_108_DKM_LENGTH_FORMAT_ulWidthInBits))
		default:
			return nil, false
		}
		p.Data = append(p.Data, e)
	}
	return &p, true
}

// inMsgParam reads a message function's parameter, whose layout is the
// one of the mechanism its session's message operation (family) was
// started with. The mechanism type travels with it.
func inMsgParam(s *client.Session, family string, pp C.CK_VOID_PTR, n C.CK_ULONG) (wire.Mechanism, C.CK_RV) {
	mech, active := s.MessageMechanism(family)
	m := wire.Mechanism{Type: mech}
	if !active {
		// No such operation (never started, ended, or cancelled): the
		// vendor answers that (CKR_OPERATION_NOT_INITIALIZED) before it
		// would look at a parameter we could not read anyway.
		return m, C.CKR_OK
	}
	if pp == nil || n == 0 {
		if pp == nil && n != 0 {
			return m, C.CKR_ARGUMENTS_BAD
		}
		return m, C.CKR_OK
	}
	kind, known := wire.MessageParamKindOf(mech)
	if !known {
		logger.Warn().Str("mechanism", wire.MechanismName(mech)).Str("operation", family).Uint64("param_len", uint64(n)).
			Msg("message parameter of unknown layout refused (CKR_MECHANISM_PARAM_INVALID)")
		return m, C.CKR_MECHANISM_PARAM_INVALID
	}
	p, ok := inParam3(kind, pp, n)
	if !ok {
		logger.Warn().Str("mechanism", wire.MechanismName(mech)).Uint64("param_len", uint64(n)).
			Msg("message parameter of the wrong size refused")
		return m, C.CKR_MECHANISM_PARAM_INVALID
	}
	m.Param = p
	return m, C.CKR_OK
}

// outMsgParam writes back what the vendor wrote into the parameter: an
// IV or nonce it generated, the tag or MAC of an encryption. Only into
// the application's own buffers, at most their lengths.
func outMsgParam(m *wire.Mechanism, pp C.CK_VOID_PTR, n C.CK_ULONG) {
	if pp == nil || m.Param == nil {
		return
	}
	put := func(dst C.CK_BYTE_PTR, l C.CK_ULONG, v []byte) {
		if dst != nil && len(v) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), int(l)), v)
		}
	}
	switch p := m.Param.(type) {
	case *wire.GCMMessageParams:
		if n == C.sizeof_CK_GCM_MESSAGE_PARAMS {
			c := (*C.CK_GCM_MESSAGE_PARAMS)(pp)
			put(c.pIv, c.ulIvLen, p.IV)
			put(bytePtrAt(pp, C.gop11_off_CK_GCM_MESSAGE_PARAMS_pTag), bitsToBytes(c.ulTagBits), p.Tag)
		}
	case *wire.CCMMessageParams:
		if n == C.sizeof_CK_CCM_MESSAGE_PARAMS {
			c := (*C.CK_CCM_MESSAGE_PARAMS)(pp)
			put(bytePtrAt(pp, C.gop11_off_CK_CCM_MESSAGE_PARAMS_pNonce), c.ulNonceLen, p.Nonce)
			put(c.pMAC, c.ulMACLen, p.MAC)
		}
	case *wire.ChaChaPolyMessageParams:
		if n == C.sizeof_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS {
			c := (*C.CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS)(pp)
			put(c.pNonce, c.ulNonceLen, p.Nonce)
			put(bytePtrAt(pp, C.gop11_off_CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS_pTag), chachaTagLen, p.Tag)
		}
	}
}

// rawBuf describes an output buffer the vendor gets as the application
// made it.
func rawBuf(p C.CK_BYTE_PTR, pl C.CK_ULONG_PTR) wire.OutBuf {
	switch {
	case pl == nil:
		return wire.OutBuf{Want: wire.OutNone}
	case p == nil:
		return wire.OutBuf{Want: wire.OutSize}
	}
	return wire.OutBuf{Want: wire.OutBuffer, Cap: uint64(*pl)}
}

// outRaw answers as the vendor did: the length it set, and the bytes it
// wrote, or CKR_BUFFER_TOO_SMALL.
func outRaw(r *wire.RawOut, p C.CK_BYTE_PTR, pl C.CK_ULONG_PTR) C.CK_RV {
	if pl == nil {
		return C.CKR_OK
	}
	*pl = C.CK_ULONG(r.Len)
	if r.TooSmall {
		return C.CKR_BUFFER_TOO_SMALL
	}
	if p != nil && len(r.Data) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(r.Data)), r.Data)
	}
	return C.CKR_OK
}

// messageStarted records (or, with mech 0, forgets) the mechanism of a
// session's message operation: it gives the layout of the parameters of
// the operation's calls.
func messageStarted(c *client.Client, h uint64, family string, mech uint64) {
	if s := c.Session(h); s != nil {
		s.SetMessageMechanism(family, mech)
	}
}

// cancelled is which operation families C_SessionCancel's flags end.
var cancelled = []struct {
	flag   uint64
	family string
}{
	{wire.CKF_ENCRYPT, "Encrypt"}, {wire.CKF_DECRYPT, "Decrypt"}, {wire.CKF_DIGEST, "Digest"},
	{wire.CKF_SIGN, "Sign"}, {wire.CKF_SIGN_RECOVER, "SignRecover"}, {wire.CKF_VERIFY, "Verify"},
	{wire.CKF_VERIFY_RECOVER, "VerifyRecover"},
	{wire.CKF_MESSAGE_ENCRYPT, "MessageEncrypt"}, {wire.CKF_MESSAGE_DECRYPT, "MessageDecrypt"},
	{wire.CKF_MESSAGE_SIGN, "MessageSign"}, {wire.CKF_MESSAGE_VERIFY, "MessageVerify"},
}

// afterSessionCancel forgets what the module kept of the cancelled
// operations: their uncollected outputs and message mechanisms.
func afterSessionCancel(c *client.Client, req *wire.SessionCancelRequest, _ *wire.SessionCancelResponse) {
	s := c.Session(req.Session)
	if s == nil {
		return
	}
	for _, k := range cancelled {
		if req.Flags&k.flag != 0 {
			s.Cancel(k.family)
		}
	}
}

// The broker's interfaces, asked for once per C_Initialize (or once
// before it: C_GetInterface is often called first, and then costs one
// connection of its own).
var (
	ifaceMu    sync.Mutex
	ifaceKnown bool
	ifaceV3    bool
)

// forgetInterfaces is called by C_Finalize: the next application
// initialisation may meet another broker.
func forgetInterfaces() {
	ifaceMu.Lock()
	ifaceKnown = false
	ifaceMu.Unlock()
}

// goGop11OffersV3 reports whether the broker's modules offer "PKCS 11"
// 3.x, so that the module may offer its v3.0 function list. A broker it
// cannot reach offers only v2.40 (C_Initialize will say why).
//
//export goGop11OffersV3
func goGop11OffersV3() C.int {
	ifaceMu.Lock()
	defer ifaceMu.Unlock()
	if !ifaceKnown {
		v3, ok := askInterfaces()
		ifaceKnown, ifaceV3 = ok, v3
	}
	if ifaceV3 {
		return 1
	}
	return 0
}

func askInterfaces() (v3, ok bool) {
	c := current.Load()
	if c == nil {
		cfg, err := client.LoadConfig(getenv)
		if err != nil {
			return false, false
		}
		c = client.New(cfg, openLog(cfg.Log))
		if err := c.Connect(); err != nil {
			logger.Warn().Err(err).Msg("C_GetInterface: broker unreachable; offering v2.40 only")
			return false, false
		}
		defer c.Close()
	}
	var resp wire.GetInterfaceListResponse
	if err := c.Call(wire.CallGetInterfaceList, &wire.GetInterfaceListRequest{}, &resp); err != nil {
		// A broker older than v3.0 support does not know the call.
		logger.Warn().Err(err).Msg("C_GetInterface: the broker did not list its interfaces; offering v2.40 only")
		return false, true
	}
	return wire.OffersV3(resp.Interfaces), true
}
