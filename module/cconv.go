package main

/*
#include "gop11.h"
*/
import "C"

import (
	"unsafe"

	"github.com/gop11/gop11/wire"
)

// Converters between the application's C memory and wire values. Inputs
// are copied in (C.GoBytes), except the data buffers of cryptographic
// calls (inBytes), which are read in place: a request lives only for its
// call, and the encoder copies the bytes into the frame before the call
// returns. Outputs are copied out. No C pointer is kept after a call
// returns.

const (
	sizeofULong = C.sizeof_CK_ULONG
	sizeofAttr  = C.sizeof_CK_ATTRIBUTE
	maxIn       = wire.DefaultMaxFrame - 4096
)

// ulongIn widens a CK_ULONG; a 32-bit all-ones (CK_UNAVAILABLE_INFORMATION)
// stays all-ones at 64 bits.
func ulongIn(v C.CK_ULONG) uint64 {
	if sizeofULong == 4 && uint64(v) == 0xFFFFFFFF {
		return ^uint64(0)
	}
	return uint64(v)
}

// Members by offset: under the Windows ABI structures are packed to 1
// byte, and cgo leaves out a member that is not at its type's natural
// alignment there (a pointer after a 32-bit CK_ULONG), so those are read
// and written at the offsets C gives them (gop11.h); x86-64 loads and
// stores need no alignment. On Linux the offsets are the natural ones.
func ptrAt[P ~unsafe.Pointer](s P, off uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(s), off))
}

func bytePtrAt[P ~unsafe.Pointer](s P, off uintptr) C.CK_BYTE_PTR {
	return (C.CK_BYTE_PTR)(ptrAt(s, off))
}

func ulongAt[P ~unsafe.Pointer](s P, off uintptr) *C.CK_ULONG {
	return (*C.CK_ULONG)(unsafe.Add(unsafe.Pointer(s), off))
}

func attrValue(a *C.CK_ATTRIBUTE) unsafe.Pointer {
	return ptrAt(unsafe.Pointer(a), C.gop11_off_CK_ATTRIBUTE_pValue)
}

func goBytes(p unsafe.Pointer, n C.CK_ULONG) []byte {
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(p, C.int(n))
}

func inBytes(p C.CK_BYTE_PTR, n C.CK_ULONG) ([]byte, C.CK_RV) {
	if p == nil {
		if n != 0 {
			return nil, C.CKR_ARGUMENTS_BAD
		}
		return nil, C.CKR_OK
	}
	if n > maxIn {
		return nil, C.CKR_DATA_LEN_RANGE
	}
	if n == 0 {
		return []byte{}, C.CKR_OK
	}
	// In place: a 1 MiB digest input copied here cost an allocation from
	// the heap's central lock, contended by every thread of the
	// application (perf: lock2/unlock2 at 6% with 4 threads).
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)), C.CKR_OK
}

// inPIN: a NULL PIN with length 0 asks for the protected authentication path.
func inPIN(p C.CK_UTF8CHAR_PTR, n C.CK_ULONG) (wire.PIN, C.CK_RV) {
	if p == nil {
		if n != 0 {
			return nil, C.CKR_ARGUMENTS_BAD
		}
		return nil, C.CKR_OK
	}
	if n > 4096 {
		return nil, C.CKR_PIN_LEN_RANGE
	}
	return wire.PIN(goBytes(unsafe.Pointer(p), n)), C.CKR_OK
}

func inLabel(p C.CK_UTF8CHAR_PTR) ([]byte, C.CK_RV) {
	if p == nil {
		return nil, C.CKR_ARGUMENTS_BAD
	}
	return goBytes(unsafe.Pointer(p), 32), C.CKR_OK
}

func inAttrs(p C.CK_ATTRIBUTE_PTR, n C.CK_ULONG) ([]wire.Attribute, C.CK_RV) {
	if n == 0 {
		// An empty template and a NULL one are not the same to every
		// module (SoftHSM2's C_CopyObject accepts the first only): the
		// wire keeps them apart, nil and empty.
		if p != nil {
			return []wire.Attribute{}, C.CKR_OK
		}
		return nil, C.CKR_OK
	}
	if p == nil {
		return nil, C.CKR_ARGUMENTS_BAD
	}
	if n > wire.MaxItems {
		return nil, C.CKR_TEMPLATE_INCONSISTENT
	}
	in := unsafe.Slice(p, n)
	out := make([]wire.Attribute, n)
	for i := range in {
		a, rv := attrIn(&in[i], true)
		if rv != C.CKR_OK {
			return nil, rv
		}
		out[i] = a
	}
	return out, C.CKR_OK
}

// attrIn types one attribute of an input template. A value whose length
// does not fit its type's C form travels as bytes: the vendor module judges
// it, as it would have without the proxy.
func attrIn(a *C.CK_ATTRIBUTE, nest bool) (wire.Attribute, C.CK_RV) {
	t := uint64(a._type)
	out := wire.Attribute{Type: t, Kind: wire.AttrBytes}
	n, v := a.ulValueLen, attrValue(a)
	if v == nil {
		if n != 0 {
			return out, C.CKR_ARGUMENTS_BAD
		}
		return out, C.CKR_OK
	}
	if n > maxIn {
		return out, C.CKR_ATTRIBUTE_VALUE_INVALID
	}
	switch wire.KindOf(t) {
	case wire.AttrULong:
		if n == sizeofULong {
			out.Kind, out.ULong = wire.AttrULong, ulongIn(*(*C.CK_ULONG)(v))
			return out, C.CKR_OK
		}
	case wire.AttrBool:
		if n == 1 {
			out.Kind, out.Bool = wire.AttrBool, *(*C.CK_BBOOL)(v) != 0
			return out, C.CKR_OK
		}
	case wire.AttrDate:
		if n == 8 || n == 0 {
			out.Kind, out.Bytes = wire.AttrDate, goBytes(v, n)
			return out, C.CKR_OK
		}
	case wire.AttrULongs:
		if n%sizeofULong == 0 {
			vs := unsafe.Slice((*C.CK_ULONG)(v), n/sizeofULong)
			out.Kind, out.ULongs = wire.AttrULongs, make([]uint64, len(vs))
			for i, v := range vs {
				out.ULongs[i] = ulongIn(v)
			}
			return out, C.CKR_OK
		}
	case wire.AttrTemplate:
		if !nest {
			return out, C.CKR_ATTRIBUTE_VALUE_INVALID
		}
		if n%sizeofAttr == 0 {
			inner := unsafe.Slice((*C.CK_ATTRIBUTE)(v), n/sizeofAttr)
			out.Kind, out.Template = wire.AttrTemplate, make([]wire.Attribute, len(inner))
			for i := range inner {
				v, rv := attrIn(&inner[i], false)
				if rv != C.CKR_OK {
					return out, rv
				}
				out.Template[i] = v
			}
			return out, C.CKR_OK
		}
	}
	out.Bytes = goBytes(v, n)
	return out, C.CKR_OK
}

// inMech types a mechanism. A parameter is sent only when its layout is
// known; otherwise CKR_MECHANISM_PARAM_INVALID, never a raw struct copy
// whose pointers would reach the broker as garbage.
func inMech(p C.CK_MECHANISM_PTR) (wire.Mechanism, C.CK_RV) {
	if p == nil {
		return wire.Mechanism{}, C.CKR_ARGUMENTS_BAD
	}
	m := wire.Mechanism{Type: uint64(p.mechanism)}
	pp, n := C.CK_VOID_PTR(ptrAt(unsafe.Pointer(p), C.gop11_off_CK_MECHANISM_pParameter)), p.ulParameterLen
	if pp == nil || n == 0 {
		if pp == nil && n != 0 {
			return m, C.CKR_MECHANISM_PARAM_INVALID
		}
		return m, C.CKR_OK
	}
	kind, known := wire.ParamKindOf(m.Type)
	if !known {
		logger.Warn().Str("mechanism", wire.MechanismName(m.Type)).Uint64("param_len", uint64(n)).
			Msg("mechanism parameter of unknown layout refused (CKR_MECHANISM_PARAM_INVALID)")
		return m, C.CKR_MECHANISM_PARAM_INVALID
	}
	var param wire.MechParam
	ok := false
	if kind == wire.ParamVendor {
		param, ok = inVendor(m.Type, pp, n)
	} else {
		param, ok = inParam(kind, pp, n)
	}
	if !ok {
		logger.Warn().Str("mechanism", wire.MechanismName(m.Type)).Uint64("param_len", uint64(n)).
			Msg("mechanism parameter of the wrong size refused")
		return m, C.CKR_MECHANISM_PARAM_INVALID
	}
	m.Param = param
	return m, C.CKR_OK
}

// bytesAt reads a pointer + length member of a parameter struct.
func bytesAt(b C.CK_BYTE_PTR, l C.CK_ULONG) ([]byte, bool) {
	if b == nil {
		return nil, l == 0
	}
	if l > maxIn {
		return nil, false
	}
	return goBytes(unsafe.Pointer(b), l), true
}

// inParam reads the C parameter struct of layout kind at pp (n bytes);
// false if its size or one of its members is wrong.
func inParam(kind wire.ParamKind, pp C.CK_VOID_PTR, n C.CK_ULONG) (wire.MechParam, bool) {
	var m struct{ Param wire.MechParam }
	bad := func() (wire.MechParam, bool) { return nil, false }
	switch kind {
	case wire.ParamBytes:
		if n > maxIn {
			return bad()
		}
		m.Param = wire.BytesParam(goBytes(unsafe.Pointer(pp), n))
	case wire.ParamULong:
		if n != sizeofULong {
			return bad()
		}
		m.Param = wire.ULongParam(ulongIn(*(*C.CK_ULONG)(pp)))
	case wire.ParamPSS:
		if n != C.sizeof_CK_RSA_PKCS_PSS_PARAMS {
			return bad()
		}
		c := (*C.CK_RSA_PKCS_PSS_PARAMS)(pp)
		m.Param = &wire.PSSParams{Hash: uint64(c.hashAlg), MGF: uint64(c.mgf), SaltLen: uint64(c.sLen)}
	case wire.ParamOAEP:
		if n != C.sizeof_CK_RSA_PKCS_OAEP_PARAMS {
			return bad()
		}
		c := (*C.CK_RSA_PKCS_OAEP_PARAMS)(pp)
		src, ok := bytesAt(bytePtrAt(pp, C.gop11_off_CK_RSA_PKCS_OAEP_PARAMS_pSourceData), c.ulSourceDataLen)
		if !ok {
			return bad()
		}
		m.Param = &wire.OAEPParams{Hash: uint64(c.hashAlg), MGF: uint64(c.mgf), Source: uint64(c.source), SourceData: src}
	case wire.ParamGCM:
		var g wire.GCMParams
		var ok1, ok2 bool
		switch n {
		case C.sizeof_CK_GCM_PARAMS:
			c := (*C.CK_GCM_PARAMS)(pp)
			g.IV, ok1 = bytesAt(c.pIv, c.ulIvLen)
			g.AAD, ok2 = bytesAt(c.pAAD, c.ulAADLen)
			g.IVBits, g.TagBits = uint64(c.ulIvBits), uint64(c.ulTagBits)
		case C.sizeof_CK_GCM_PARAMS - sizeofULong:
			// The layout of the v2.40 errata headers, without ulIvBits,
			// which some applications were built with.
			// pIv, ulIvLen, pAAD, ulAADLen, ulTagBits.
			const ptr = unsafe.Sizeof(uintptr(0))
			ivLen, aadLen, tagBits := *ulongAt(pp, ptr), *ulongAt(pp, 2*ptr+sizeofULong), *ulongAt(pp, 2*ptr+2*sizeofULong)
			g.IV, ok1 = bytesAt(bytePtrAt(pp, 0), ivLen)
			g.AAD, ok2 = bytesAt(bytePtrAt(pp, ptr+sizeofULong), aadLen)
			g.IVBits, g.TagBits = uint64(ivLen)*8, uint64(tagBits)
		default:
			return bad()
		}
		if !ok1 || !ok2 {
			return bad()
		}
		m.Param = &g
	case wire.ParamCCM:
		if n != C.sizeof_CK_CCM_PARAMS {
			return bad()
		}
		c := (*C.CK_CCM_PARAMS)(pp)
		nonce, ok1 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_CCM_PARAMS_pNonce), c.ulNonceLen)
		aad, ok2 := bytesAt(c.pAAD, c.ulAADLen)
		if !ok1 || !ok2 {
			return bad()
		}
		m.Param = &wire.CCMParams{DataLen: uint64(c.ulDataLen), Nonce: nonce, AAD: aad, MACLen: uint64(c.ulMACLen)}
	case wire.ParamECDH1:
		if n != C.sizeof_CK_ECDH1_DERIVE_PARAMS {
			return bad()
		}
		c := (*C.CK_ECDH1_DERIVE_PARAMS)(pp)
		shared, ok1 := bytesAt(c.pSharedData, c.ulSharedDataLen)
		public, ok2 := bytesAt(bytePtrAt(pp, C.gop11_off_CK_ECDH1_DERIVE_PARAMS_pPublicData), c.ulPublicDataLen)
		if !ok1 || !ok2 {
			return bad()
		}
		m.Param = &wire.ECDH1DeriveParams{KDF: uint64(c.kdf), SharedData: shared, PublicData: public}
	case wire.ParamAESCTR:
		if n != C.sizeof_CK_AES_CTR_PARAMS {
			return bad()
		}
		c := (*C.CK_AES_CTR_PARAMS)(pp)
		m.Param = &wire.AESCTRParams{CounterBits: uint64(c.ulCounterBits), CB: C.GoBytes(unsafe.Pointer(&c.cb[0]), 16)}
	case wire.ParamKeyDerivationString:
		if n != C.sizeof_CK_KEY_DERIVATION_STRING_DATA {
			return bad()
		}
		c := (*C.CK_KEY_DERIVATION_STRING_DATA)(pp)
		d, ok := bytesAt(c.pData, c.ulLen)
		if !ok {
			return bad()
		}
		m.Param = &wire.KeyDerivationStringData{Data: d}
	case wire.ParamAESCBCEncryptData:
		if n != C.sizeof_CK_AES_CBC_ENCRYPT_DATA_PARAMS {
			return bad()
		}
		c := (*C.CK_AES_CBC_ENCRYPT_DATA_PARAMS)(pp)
		d, ok := bytesAt(c.pData, c.length)
		if !ok {
			return bad()
		}
		m.Param = &wire.AESCBCEncryptDataParams{IV: C.GoBytes(unsafe.Pointer(&c.iv[0]), 16), Data: d}
	default:
		p, ok := inParam3(kind, pp, n)
		if !ok {
			return bad()
		}
		m.Param = p
	}
	return m.Param, true
}

// putText copies s into a blank-padded fixed-size field (CK_UTF8CHAR or
// CK_CHAR: both are CK_BYTE).
func putText[T ~uint8](dst []T, s string) {
	for i := range dst {
		if i < len(s) {
			dst[i] = T(s[i])
		} else {
			dst[i] = ' '
		}
	}
}

func putVersion(dst *C.CK_VERSION, v wire.Version) {
	dst.major, dst.minor = C.CK_BYTE(v.Major), C.CK_BYTE(v.Minor)
}

func putInfo(p C.CK_INFO_PTR, v *wire.Info) {
	putVersion(&p.cryptokiVersion, v.CryptokiVersion)
	putText(p.manufacturerID[:], v.ManufacturerID)
	*ulongAt(unsafe.Pointer(p), C.gop11_off_CK_INFO_flags) = C.CK_FLAGS(v.Flags)
	putText(p.libraryDescription[:], v.LibraryDescription)
	putVersion(&p.libraryVersion, v.LibraryVersion)
}

func putSlotInfo(p C.CK_SLOT_INFO_PTR, v *wire.SlotInfo) {
	putText(p.slotDescription[:], v.SlotDescription)
	putText(p.manufacturerID[:], v.ManufacturerID)
	p.flags = C.CK_FLAGS(v.Flags)
	putVersion(&p.hardwareVersion, v.HardwareVersion)
	putVersion(&p.firmwareVersion, v.FirmwareVersion)
}

func putTokenInfo(p C.CK_TOKEN_INFO_PTR, v *wire.TokenInfo) {
	putText(p.label[:], v.Label)
	putText(p.manufacturerID[:], v.ManufacturerID)
	putText(p.model[:], v.Model)
	putText(p.serialNumber[:], v.SerialNumber)
	p.flags = C.CK_FLAGS(v.Flags)
	p.ulMaxSessionCount = C.CK_ULONG(v.MaxSessionCount)
	p.ulSessionCount = C.CK_ULONG(v.SessionCount)
	p.ulMaxRwSessionCount = C.CK_ULONG(v.MaxRwSessionCount)
	p.ulRwSessionCount = C.CK_ULONG(v.RwSessionCount)
	p.ulMaxPinLen = C.CK_ULONG(v.MaxPinLen)
	p.ulMinPinLen = C.CK_ULONG(v.MinPinLen)
	p.ulTotalPublicMemory = C.CK_ULONG(v.TotalPublicMemory)
	p.ulFreePublicMemory = C.CK_ULONG(v.FreePublicMemory)
	p.ulTotalPrivateMemory = C.CK_ULONG(v.TotalPrivateMemory)
	p.ulFreePrivateMemory = C.CK_ULONG(v.FreePrivateMemory)
	putVersion(&p.hardwareVersion, v.HardwareVersion)
	putVersion(&p.firmwareVersion, v.FirmwareVersion)
	putText(p.utcTime[:], v.UTCTime)
}

func putSessionInfo(p C.CK_SESSION_INFO_PTR, v *wire.SessionInfo) {
	p.slotID = C.CK_SLOT_ID(v.SlotID)
	p.state = C.CK_STATE(v.State)
	p.flags = C.CK_FLAGS(v.Flags)
	p.ulDeviceError = C.CK_ULONG(v.DeviceError)
}

func putMechanismInfo(p C.CK_MECHANISM_INFO_PTR, v *wire.MechanismInfo) {
	p.ulMinKeySize = C.CK_ULONG(v.MinKeySize)
	p.ulMaxKeySize = C.CK_ULONG(v.MaxKeySize)
	p.flags = C.CK_FLAGS(v.Flags)
}
