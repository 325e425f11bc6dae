package backend

// Typed wire values to the module's native layout and back: attributes
// (CK_ULONG, CK_BBOOL, CK_DATE, CK_ULONG arrays, nested CK_ATTRIBUTE
// arrays) and mechanism parameters (the C structs of include/pkcs11t.h).
//
// cgo pointer rules: what miekg gets is a []byte it copies into its own C
// memory. Those bytes never hold a Go pointer: a nested template or a
// parameter struct points into C memory from an arena, freed after the
// call returns.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#include <stdlib.h>
#include <string.h>
#include "pkcs11.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"math"
	"unsafe"

	"github.com/miekg/pkcs11"

	"github.com/gop11/gop11/wire"
)

const (
	sizeofULong = int(C.sizeof_CK_ULONG)
	sizeofAttr  = int(C.sizeof_CK_ATTRIBUTE)
)

// errCMemory is the panic of a failed C allocation; do turns it into
// CKR_HOST_MEMORY.
var errCMemory = errors.New("backend: out of C memory")

// arena is C memory for one call, freed all at once (miekg types.go:35).
type arena []unsafe.Pointer

// alloc returns n zeroed bytes of C memory, at least one so the pointer
// is never NULL.
func (a *arena) alloc(n int) unsafe.Pointer {
	p := C.calloc(C.size_t(max(n, 1)), 1)
	if p == nil {
		panic(errCMemory)
	}
	*a = append(*a, p)
	return p
}

// bytes copies b into C memory.
func (a *arena) bytes(b []byte) unsafe.Pointer {
	p := a.alloc(len(b))
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(p), len(b)), b)
	}
	return p
}

func (a *arena) free() {
	for _, p := range *a {
		C.free(p)
	}
	*a = nil
}

// fitsULong reports whether v fits this platform's CK_ULONG.
func fitsULong(v uint64) bool { return sizeofULong == 8 || v <= math.MaxUint32 }

// putULong appends v as a native CK_ULONG.
func putULong(b []byte, v uint64) []byte {
	if sizeofULong == 8 {
		return binary.NativeEndian.AppendUint64(b, v)
	}
	return binary.NativeEndian.AppendUint32(b, uint32(v))
}

func getULong(b []byte) uint64 {
	if sizeofULong == 8 {
		return binary.NativeEndian.Uint64(b)
	}
	return uint64(binary.NativeEndian.Uint32(b))
}

// nativeValue is the C form of attribute value at. A template becomes a
// CK_ATTRIBUTE array in a's C memory; the returned bytes are that array.
func nativeValue(a *arena, at *wire.Attribute) ([]byte, error) {
	switch at.Kind {
	case wire.AttrBytes, wire.AttrDate:
		return at.Bytes, nil
	case wire.AttrULong:
		if !fitsULong(at.ULong) {
			return nil, wire.CKR_ATTRIBUTE_VALUE_INVALID
		}
		return putULong(make([]byte, 0, sizeofULong), at.ULong), nil
	case wire.AttrBool:
		if at.Bool {
			return []byte{C.CK_TRUE}, nil
		}
		return []byte{C.CK_FALSE}, nil
	case wire.AttrULongs:
		b := make([]byte, 0, len(at.ULongs)*sizeofULong)
		for _, v := range at.ULongs {
			if !fitsULong(v) {
				return nil, wire.CKR_ATTRIBUTE_VALUE_INVALID
			}
			b = putULong(b, v)
		}
		return b, nil
	case wire.AttrTemplate:
		t, n, err := cTemplate(a, at.Template)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		return C.GoBytes(unsafe.Pointer(t), C.int(int(n)*sizeofAttr)), nil
	}
	return nil, wire.CKR_ATTRIBUTE_VALUE_INVALID
}

// cTemplate builds a CK_ATTRIBUTE array in C memory. A nil template is
// NULL with count 0, an empty one a valid pointer with count 0, as the
// application passed them.
func cTemplate(a *arena, attrs []wire.Attribute) (*C.CK_ATTRIBUTE, C.CK_ULONG, error) {
	if attrs == nil {
		return nil, 0, nil
	}
	if len(attrs) == 0 {
		return (*C.CK_ATTRIBUTE)(a.alloc(sizeofAttr)), 0, nil
	}
	t := unsafe.Slice((*C.CK_ATTRIBUTE)(a.alloc(len(attrs)*sizeofAttr)), len(attrs))
	for i := range attrs {
		if !fitsULong(attrs[i].Type) {
			return nil, 0, wire.CKR_ATTRIBUTE_TYPE_INVALID
		}
		v, err := nativeValue(a, &attrs[i])
		if err != nil {
			return nil, 0, err
		}
		t[i]._type = C.CK_ATTRIBUTE_TYPE(attrs[i].Type)
		if len(v) > 0 {
			t[i].pValue = C.CK_VOID_PTR(a.bytes(v))
			t[i].ulValueLen = C.CK_ULONG(len(v))
		}
	}
	return &t[0], C.CK_ULONG(len(attrs)), nil
}

// miekgTemplate converts a wire template for miekg, which copies each
// value into its own C memory (an empty value goes as NULL, length 0).
func miekgTemplate(a *arena, attrs []wire.Attribute) ([]*pkcs11.Attribute, error) {
	out := make([]*pkcs11.Attribute, len(attrs))
	for i := range attrs {
		if !fitsULong(attrs[i].Type) {
			return nil, wire.CKR_ATTRIBUTE_TYPE_INVALID
		}
		v, err := nativeValue(a, &attrs[i])
		if err != nil {
			return nil, err
		}
		out[i] = &pkcs11.Attribute{Type: uint(attrs[i].Type), Value: v}
	}
	return out, nil
}

// typedValue types the native value b of attribute t by wire.KindOf(t),
// falling back to AttrBytes when the length does not fit the kind.
// Templates are read by GetAttributeValue itself (they hold pointers).
func typedValue(t uint64, b []byte) wire.Attribute {
	at := wire.Attribute{Type: t, Kind: wire.AttrBytes, Bytes: b}
	switch wire.KindOf(t) {
	case wire.AttrULong:
		if len(b) == sizeofULong {
			at = wire.Attribute{Type: t, Kind: wire.AttrULong, ULong: getULong(b)}
		}
	case wire.AttrBool:
		if len(b) == 1 {
			at = wire.Attribute{Type: t, Kind: wire.AttrBool, Bool: b[0] != C.CK_FALSE}
		}
	case wire.AttrDate:
		if len(b) == 8 || len(b) == 0 {
			at.Kind = wire.AttrDate
		}
	case wire.AttrULongs:
		if len(b)%sizeofULong == 0 {
			vs := make([]uint64, len(b)/sizeofULong)
			for i := range vs {
				vs[i] = getULong(b[i*sizeofULong:])
			}
			at = wire.Attribute{Type: t, Kind: wire.AttrULongs, ULongs: vs}
		}
	}
	return at
}

// cMechanism builds a CK_MECHANISM in C memory, for direct calls.
func cMechanism(a *arena, m wire.Mechanism) (*C.CK_MECHANISM, error) {
	param, err := mechParam(a, m)
	if err != nil {
		return nil, err
	}
	cm := (*C.CK_MECHANISM)(a.alloc(int(C.sizeof_CK_MECHANISM)))
	cm.mechanism = C.CK_MECHANISM_TYPE(m.Type)
	if len(param) > 0 {
		cm.pParameter = C.CK_VOID_PTR(a.bytes(param))
		cm.ulParameterLen = C.CK_ULONG(len(param))
	}
	return cm, nil
}

// miekgMechanism converts a wire mechanism for miekg, which copies the
// parameter bytes into its own C memory.
func miekgMechanism(a *arena, m wire.Mechanism) ([]*pkcs11.Mechanism, error) {
	param, err := mechParam(a, m)
	if err != nil {
		return nil, err
	}
	if len(param) == 0 {
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), nil)}, nil
	}
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), param)}, nil
}

// mechParam is the native parameter of m: the bytes of its C struct, whose
// pointer members point into a's C memory. A parameter whose kind is not
// the one the mechanism takes, or whose lengths are wrong, is
// CKR_MECHANISM_PARAM_INVALID (p11-kit mechanism_has_sane_parameters).
func mechParam(a *arena, m wire.Mechanism) ([]byte, error) {
	if !fitsULong(m.Type) {
		return nil, wire.CKR_MECHANISM_INVALID
	}
	if m.Param == nil {
		return nil, nil
	}
	if k, ok := wire.ParamKindOf(m.Type); ok && k != m.Param.Kind() {
		return nil, wire.CKR_MECHANISM_PARAM_INVALID
	}
	bad := wire.CKR_MECHANISM_PARAM_INVALID
	ul := func(vs ...uint64) bool {
		for _, v := range vs {
			if !fitsULong(v) {
				return false
			}
		}
		return true
	}
	// buf copies b into C memory; empty stays NULL.
	buf := func(b []byte) C.CK_BYTE_PTR {
		if len(b) == 0 {
			return nil
		}
		return C.CK_BYTE_PTR(a.bytes(b))
	}
	switch p := m.Param.(type) {
	case wire.BytesParam:
		return []byte(p), nil
	case wire.ULongParam:
		if !ul(uint64(p)) {
			return nil, bad
		}
		return putULong(nil, uint64(p)), nil
	case *wire.PSSParams:
		if p == nil || !ul(p.Hash, p.MGF, p.SaltLen) {
			return nil, bad
		}
		c := (*C.CK_RSA_PKCS_PSS_PARAMS)(a.alloc(C.sizeof_CK_RSA_PKCS_PSS_PARAMS))
		c.hashAlg = C.CK_MECHANISM_TYPE(p.Hash)
		c.mgf = C.CK_RSA_PKCS_MGF_TYPE(p.MGF)
		c.sLen = C.CK_ULONG(p.SaltLen)
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_RSA_PKCS_PSS_PARAMS), nil
	case *wire.OAEPParams:
		if p == nil || !ul(p.Hash, p.MGF, p.Source) {
			return nil, bad
		}
		c := (*C.CK_RSA_PKCS_OAEP_PARAMS)(a.alloc(C.sizeof_CK_RSA_PKCS_OAEP_PARAMS))
		c.hashAlg = C.CK_MECHANISM_TYPE(p.Hash)
		c.mgf = C.CK_RSA_PKCS_MGF_TYPE(p.MGF)
		c.source = C.CK_RSA_PKCS_OAEP_SOURCE_TYPE(p.Source)
		c.pSourceData = C.CK_VOID_PTR(unsafe.Pointer(buf(p.SourceData)))
		c.ulSourceDataLen = C.CK_ULONG(len(p.SourceData))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_RSA_PKCS_OAEP_PARAMS), nil
	case *wire.GCMParams:
		if p == nil || !ul(p.IVBits, p.TagBits) {
			return nil, bad
		}
		c := (*C.CK_GCM_PARAMS)(a.alloc(C.sizeof_CK_GCM_PARAMS))
		c.pIv = buf(p.IV)
		c.ulIvLen = C.CK_ULONG(len(p.IV))
		c.ulIvBits = C.CK_ULONG(p.IVBits)
		c.pAAD = buf(p.AAD)
		c.ulAADLen = C.CK_ULONG(len(p.AAD))
		c.ulTagBits = C.CK_ULONG(p.TagBits)
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_GCM_PARAMS), nil
	case *wire.CCMParams:
		if p == nil || !ul(p.DataLen, p.MACLen) {
			return nil, bad
		}
		c := (*C.CK_CCM_PARAMS)(a.alloc(C.sizeof_CK_CCM_PARAMS))
		c.ulDataLen = C.CK_ULONG(p.DataLen)
		c.pNonce = buf(p.Nonce)
		c.ulNonceLen = C.CK_ULONG(len(p.Nonce))
		c.pAAD = buf(p.AAD)
		c.ulAADLen = C.CK_ULONG(len(p.AAD))
		c.ulMACLen = C.CK_ULONG(p.MACLen)
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_CCM_PARAMS), nil
	case *wire.ECDH1DeriveParams:
		if p == nil || !ul(p.KDF) {
			return nil, bad
		}
		c := (*C.CK_ECDH1_DERIVE_PARAMS)(a.alloc(C.sizeof_CK_ECDH1_DERIVE_PARAMS))
		c.kdf = C.CK_EC_KDF_TYPE(p.KDF)
		c.pSharedData = buf(p.SharedData)
		c.ulSharedDataLen = C.CK_ULONG(len(p.SharedData))
		c.pPublicData = buf(p.PublicData)
		c.ulPublicDataLen = C.CK_ULONG(len(p.PublicData))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_ECDH1_DERIVE_PARAMS), nil
	case *wire.AESCTRParams:
		if p == nil || !ul(p.CounterBits) || len(p.CB) != 16 {
			return nil, bad
		}
		c := (*C.CK_AES_CTR_PARAMS)(a.alloc(C.sizeof_CK_AES_CTR_PARAMS))
		c.ulCounterBits = C.CK_ULONG(p.CounterBits)
		for i, v := range p.CB {
			c.cb[i] = C.CK_BYTE(v)
		}
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_AES_CTR_PARAMS), nil
	case *wire.KeyDerivationStringData:
		if p == nil {
			return nil, bad
		}
		c := (*C.CK_KEY_DERIVATION_STRING_DATA)(a.alloc(C.sizeof_CK_KEY_DERIVATION_STRING_DATA))
		c.pData = buf(p.Data)
		c.ulLen = C.CK_ULONG(len(p.Data))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_KEY_DERIVATION_STRING_DATA), nil
	case *wire.AESCBCEncryptDataParams:
		if p == nil || len(p.IV) != 16 {
			return nil, bad
		}
		c := (*C.CK_AES_CBC_ENCRYPT_DATA_PARAMS)(a.alloc(C.sizeof_CK_AES_CBC_ENCRYPT_DATA_PARAMS))
		for i, v := range p.IV {
			c.iv[i] = C.CK_BYTE(v)
		}
		c.pData = buf(p.Data)
		c.length = C.CK_ULONG(len(p.Data))
		return C.GoBytes(unsafe.Pointer(c), C.sizeof_CK_AES_CBC_ENCRYPT_DATA_PARAMS), nil
	}
	return mechParam3(a, m)
}

// readCTemplate reads back a CK_ATTRIBUTE array held in b (as nativeValue
// makes it), following its pointers into C memory. For tests: test files
// cannot use cgo.
func readCTemplate(b []byte) ([]wire.Attribute, error) {
	if len(b)%sizeofAttr != 0 {
		return nil, wire.CKR_ATTRIBUTE_VALUE_INVALID
	}
	n := len(b) / sizeofAttr
	if n == 0 {
		return nil, nil
	}
	c := C.malloc(C.size_t(len(b)))
	defer C.free(c)
	copy(unsafe.Slice((*byte)(c), len(b)), b)
	arr := unsafe.Slice((*C.CK_ATTRIBUTE)(c), n)
	out := make([]wire.Attribute, n)
	for i := range arr {
		out[i] = typedValue(uint64(arr[i]._type), C.GoBytes(unsafe.Pointer(arr[i].pValue), C.int(arr[i].ulValueLen)))
	}
	return out, nil
}

// paramBack reads a parameter built by mechParam back into its wire form,
// following its pointers into C memory (valid until the arena is freed).
// For tests: test files cannot use cgo.
func paramBack(k wire.ParamKind, b []byte) (wire.MechParam, error) {
	if len(b) == 0 {
		return nil, wire.CKR_MECHANISM_PARAM_INVALID
	}
	c := C.malloc(C.size_t(len(b)))
	defer C.free(c)
	copy(unsafe.Slice((*byte)(c), len(b)), b)
	size := func(n C.size_t) bool { return C.size_t(len(b)) == n }
	gb := func(p C.CK_BYTE_PTR, n C.CK_ULONG) []byte {
		if p == nil {
			return nil
		}
		return C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	switch k {
	case wire.ParamBytes:
		return wire.BytesParam(b), nil
	case wire.ParamULong:
		if len(b) == sizeofULong {
			return wire.ULongParam(getULong(b)), nil
		}
	case wire.ParamPSS:
		if p := (*C.CK_RSA_PKCS_PSS_PARAMS)(c); size(C.sizeof_CK_RSA_PKCS_PSS_PARAMS) {
			return &wire.PSSParams{Hash: uint64(p.hashAlg), MGF: uint64(p.mgf), SaltLen: uint64(p.sLen)}, nil
		}
	case wire.ParamOAEP:
		if p := (*C.CK_RSA_PKCS_OAEP_PARAMS)(c); size(C.sizeof_CK_RSA_PKCS_OAEP_PARAMS) {
			return &wire.OAEPParams{Hash: uint64(p.hashAlg), MGF: uint64(p.mgf), Source: uint64(p.source),
				SourceData: gb(C.CK_BYTE_PTR(p.pSourceData), p.ulSourceDataLen)}, nil
		}
	case wire.ParamGCM:
		if p := (*C.CK_GCM_PARAMS)(c); size(C.sizeof_CK_GCM_PARAMS) {
			return &wire.GCMParams{IV: gb(p.pIv, p.ulIvLen), IVBits: uint64(p.ulIvBits),
				AAD: gb(p.pAAD, p.ulAADLen), TagBits: uint64(p.ulTagBits)}, nil
		}
	case wire.ParamCCM:
		if p := (*C.CK_CCM_PARAMS)(c); size(C.sizeof_CK_CCM_PARAMS) {
			return &wire.CCMParams{DataLen: uint64(p.ulDataLen), Nonce: gb(p.pNonce, p.ulNonceLen),
				AAD: gb(p.pAAD, p.ulAADLen), MACLen: uint64(p.ulMACLen)}, nil
		}
	case wire.ParamECDH1:
		if p := (*C.CK_ECDH1_DERIVE_PARAMS)(c); size(C.sizeof_CK_ECDH1_DERIVE_PARAMS) {
			return &wire.ECDH1DeriveParams{KDF: uint64(p.kdf), SharedData: gb(p.pSharedData, p.ulSharedDataLen),
				PublicData: gb(p.pPublicData, p.ulPublicDataLen)}, nil
		}
	case wire.ParamAESCTR:
		if p := (*C.CK_AES_CTR_PARAMS)(c); size(C.sizeof_CK_AES_CTR_PARAMS) {
			return &wire.AESCTRParams{CounterBits: uint64(p.ulCounterBits), CB: C.GoBytes(unsafe.Pointer(&p.cb[0]), 16)}, nil
		}
	case wire.ParamKeyDerivationString:
		if p := (*C.CK_KEY_DERIVATION_STRING_DATA)(c); size(C.sizeof_CK_KEY_DERIVATION_STRING_DATA) {
			return &wire.KeyDerivationStringData{Data: gb(p.pData, p.ulLen)}, nil
		}
	case wire.ParamAESCBCEncryptData:
		if p := (*C.CK_AES_CBC_ENCRYPT_DATA_PARAMS)(c); size(C.sizeof_CK_AES_CBC_ENCRYPT_DATA_PARAMS) {
			return &wire.AESCBCEncryptDataParams{IV: C.GoBytes(unsafe.Pointer(&p.iv[0]), 16), Data: gb(p.pData, p.length)}, nil
		}
	}
	return nil, wire.CKR_MECHANISM_PARAM_INVALID
}
