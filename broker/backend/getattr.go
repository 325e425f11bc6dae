package backend

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#include "pkcs11.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/gop11/gop11/wire"
)

// getAttrRetries bounds how often the whole exchange restarts when a
// value changes size between the length query and the fetch.
const getAttrRetries = 4

// getAttributeValue does the spec's two calls (three with a nested
// template) in one go and types each value. It answers one AttrResult per
// requested type, in order. Its error is only for a failure of the whole
// call (CKR_OBJECT_HANDLE_INVALID, CKR_SESSION_HANDLE_INVALID ...).
//
// PKCS #11 v2.40 section 5.7, C_GetAttributeValue, cases handled:
//  1. "cannot be revealed because the object is sensitive or
//     unextractable": CK_UNAVAILABLE_INFORMATION, per attribute
//     CKR_ATTRIBUTE_SENSITIVE;
//  2. "the specified attribute ... is invalid for the object":
//     CK_UNAVAILABLE_INFORMATION, per attribute CKR_ATTRIBUTE_TYPE_INVALID;
//  3. "pValue ... NULL_PTR": the length (first call);
//  4. "large enough": the value (second call; buffers of exactly that size);
//  5. "otherwise ... CKR_BUFFER_TOO_SMALL": the value grew, start again.
//
// With one call over the whole template a module says only that some
// attribute was sensitive or invalid (miekg then drops every value,
// STYLE 7.3), so an unavailable attribute is asked about alone.
func (m *Module) getAttributeValue(s, o uint64, types []uint64) ([]wire.AttrResult, error) {
	if len(types) == 0 {
		// Still ask the module: its rv says whether s and o are valid.
		// The pointer is not NULL: SoftHSM2 answers NULL with
		// CKR_ARGUMENTS_BAD whatever the count (SoftHSM.cpp
		// C_GetAttributeValue), and an application that got an answer
		// for an empty template passed an array.
		var one C.CK_ATTRIBUTE
		return []wire.AttrResult{}, rvErr(m.c.getAttributeValue(s, o, &one, 0))
	}
	if res, ok := m.getAttrsFast(s, o, types); ok {
		return res, nil
	}
	var err error
	for range getAttrRetries {
		var res []wire.AttrResult
		var again bool
		res, again, err = m.getAttrsOnce(s, o, types)
		var rv wire.RV
		if err != nil && errors.As(err, &rv) && !callLevel(rv) && len(types) > 1 {
			return m.getAttrsOneByOne(s, o, types, rv)
		}
		if !again {
			return res, err
		}
	}
	m.log.Warn().Uint64("object", o).Msg("C_GetAttributeValue: values kept changing size")
	return nil, err
}

// fastAttrBuf is the buffer each attribute gets in the first, hopeful
// call: room for an RSA-4096 modulus, an EC point, a label, most
// certificates.
const fastAttrBuf = 2048

// getAttrsFast asks for every value at once with a generous buffer each,
// which answers the common template (labels, IDs, key material sizes,
// flags) in one vendor call instead of the size query and the fetch
// (SoftHSM2 takes about 20 us for each). Anything short of a full success
// (a sensitive or invalid attribute, a value larger than the buffer, a
// nested template, any error) says no and the careful path below starts
// from scratch, so what the application sees is the same.
func (m *Module) getAttrsFast(s, o uint64, types []uint64) ([]wire.AttrResult, bool) {
	for _, ty := range types {
		if !fitsULong(ty) || wire.KindOf(ty) == wire.AttrTemplate {
			return nil, false
		}
	}
	var a arena
	defer a.free()
	n := len(types)
	t := unsafe.Slice((*C.CK_ATTRIBUTE)(a.alloc(n*sizeofAttr)), n)
	buf := a.alloc(n * fastAttrBuf)
	for i, ty := range types {
		t[i]._type = C.CK_ATTRIBUTE_TYPE(ty)
		t[i].pValue = C.CK_VOID_PTR(unsafe.Add(buf, i*fastAttrBuf))
		t[i].ulValueLen = fastAttrBuf
	}
	if rv := m.c.getAttributeValue(s, o, &t[0], n); rv != C.CKR_OK {
		return nil, false
	}
	res := make([]wire.AttrResult, n)
	for i, ty := range types {
		l := t[i].ulValueLen
		if l == C.CK_UNAVAILABLE_INFORMATION || l > fastAttrBuf {
			return nil, false
		}
		res[i].Attr = typedValue(ty, C.GoBytes(unsafe.Pointer(t[i].pValue), C.int(l)))
	}
	return res, true
}

// callLevel reports whether rv is about the call (session, object,
// library) rather than one attribute of it.
func callLevel(rv wire.RV) bool {
	switch rv {
	case wire.CKR_SESSION_HANDLE_INVALID, wire.CKR_SESSION_CLOSED, wire.CKR_OBJECT_HANDLE_INVALID,
		wire.CKR_CRYPTOKI_NOT_INITIALIZED, wire.CKR_ARGUMENTS_BAD, wire.CKR_DEVICE_ERROR,
		wire.CKR_DEVICE_MEMORY, wire.CKR_DEVICE_REMOVED, wire.CKR_HOST_MEMORY,
		wire.CKR_TOKEN_NOT_PRESENT, wire.CKR_FUNCTION_NOT_SUPPORTED:
		return true
	}
	return false
}

// getAttrsOneByOne answers a template the module failed with an error
// that is about an attribute it could not produce (SoftHSM2 2.6.1 says
// CKR_GENERAL_ERROR for a CKA_START_DATE set at creation): the module
// fills the attributes before that one and stops, so each is fetched
// alone, and the first that fails carries the module's error; the module
// side stops there, as the vendor did. If every attribute works alone,
// the error was the template's as a whole and is returned as such.
func (m *Module) getAttrsOneByOne(s, o uint64, types []uint64, whole wire.RV) ([]wire.AttrResult, error) {
	res := make([]wire.AttrResult, len(types))
	for i, ty := range types {
		r, err := m.getAttributeValue(s, o, []uint64{ty})
		var rv wire.RV
		if err != nil && errors.As(err, &rv) {
			for j := i; j < len(types); j++ {
				res[j] = wire.AttrResult{RV: rv, Attr: wire.Attribute{Type: types[j]}}
			}
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		res[i] = r[0]
	}
	return nil, whole
}

func perAttrRV(rv C.CK_RV) bool {
	return rv == C.CKR_ATTRIBUTE_SENSITIVE || rv == C.CKR_ATTRIBUTE_TYPE_INVALID
}

// getAttrsOnce makes one pass; again is true if a value changed under it.
func (m *Module) getAttrsOnce(s, o uint64, types []uint64) (res []wire.AttrResult, again bool, err error) {
	var a arena
	defer a.free()
	n := len(types)
	res = make([]wire.AttrResult, n)

	// Call 1: every pValue NULL, for the lengths.
	t := unsafe.Slice((*C.CK_ATTRIBUTE)(a.alloc(n*sizeofAttr)), n)
	for i, ty := range types {
		res[i].Attr.Type = ty
		if !fitsULong(ty) {
			// Cannot name it to this module: it cannot hold it either.
			t[i]._type = C.CK_ATTRIBUTE_TYPE(C.CKA_VENDOR_DEFINED | 0x7fffffff)
			continue
		}
		t[i]._type = C.CK_ATTRIBUTE_TYPE(ty)
	}
	rv := m.c.getAttributeValue(s, o, &t[0], n)
	if rv != C.CKR_OK && !perAttrRV(rv) {
		return nil, false, wire.RV(rv)
	}
	lens := make([]C.CK_ULONG, n)
	var unavail []int
	for i := range t {
		lens[i] = t[i].ulValueLen
		if !fitsULong(types[i]) {
			res[i].RV = wire.CKR_ATTRIBUTE_TYPE_INVALID
			lens[i] = C.CK_UNAVAILABLE_INFORMATION
			continue
		}
		if lens[i] == C.CK_UNAVAILABLE_INFORMATION {
			unavail = append(unavail, i)
		}
	}
	if len(unavail) == 1 && perAttrRV(rv) {
		res[unavail[0]].RV = wire.RV(rv)
	} else {
		for _, i := range unavail {
			one := (*C.CK_ATTRIBUTE)(a.alloc(sizeofAttr))
			one._type = C.CK_ATTRIBUTE_TYPE(types[i])
			switch rv1 := m.c.getAttributeValue(s, o, one, 1); {
			case rv1 == C.CKR_OK && one.ulValueLen != C.CK_UNAVAILABLE_INFORMATION:
				lens[i] = one.ulValueLen // changed in between: fetch it too
			case perAttrRV(rv1):
				res[i].RV = wire.RV(rv1)
			case rv1 == C.CKR_OK:
				// A module that flags the attribute but not the call.
				res[i].RV = wire.CKR_ATTRIBUTE_TYPE_INVALID
			default:
				return nil, false, wire.RV(rv1)
			}
		}
	}

	// Call 2: buffers of the reported sizes for the available ones.
	// A nested template gets its CK_ATTRIBUTE array with NULL pValues,
	// which makes the module fill in each element's type and length.
	var idx []int
	for i := range types {
		if res[i].RV == wire.CKR_OK {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return res, false, nil
	}
	q := unsafe.Slice((*C.CK_ATTRIBUTE)(a.alloc(len(idx)*sizeofAttr)), len(idx))
	nested := make([]bool, len(idx))
	for k, i := range idx {
		q[k]._type = C.CK_ATTRIBUTE_TYPE(types[i])
		q[k].pValue = C.CK_VOID_PTR(a.alloc(int(lens[i])))
		q[k].ulValueLen = lens[i]
		nested[k] = wire.KindOf(types[i]) == wire.AttrTemplate &&
			lens[i] > 0 && int(lens[i])%sizeofAttr == 0
	}
	call := func() (again bool, err error) {
		switch rv := m.c.getAttributeValue(s, o, &q[0], len(q)); {
		case rv == C.CKR_OK:
			return false, nil
		case rv == C.CKR_BUFFER_TOO_SMALL || perAttrRV(rv):
			return true, wire.RV(rv)
		default:
			return false, wire.RV(rv)
		}
	}
	if again, err := call(); err != nil {
		return nil, again, err
	}

	// Call 3, nested templates only: buffers for each element.
	anyNested := false
	for k, i := range idx {
		if !nested[k] {
			continue
		}
		anyNested = true
		q[k].ulValueLen = lens[i]
		for _, e := range innerAttrs(&q[k]) {
			l := e.ulValueLen
			if l == C.CK_UNAVAILABLE_INFORMATION {
				l = 0
			}
			e.pValue = C.CK_VOID_PTR(a.alloc(int(l)))
			e.ulValueLen = l
		}
	}
	if anyNested {
		for k, i := range idx {
			if !nested[k] {
				q[k].ulValueLen = lens[i]
			}
		}
		if again, err := call(); err != nil {
			return nil, again, err
		}
	}

	for k, i := range idx {
		got := q[k].ulValueLen
		if got > lens[i] {
			return nil, false, wire.CKR_GENERAL_ERROR // wrote past our buffer's length
		}
		if !nested[k] {
			res[i].Attr = typedValue(types[i], C.GoBytes(unsafe.Pointer(q[k].pValue), C.int(got)))
			continue
		}
		elems := innerAttrs(&q[k])
		tmpl := make([]wire.Attribute, 0, len(elems))
		for _, e := range elems {
			if e.ulValueLen == C.CK_UNAVAILABLE_INFORMATION {
				continue
			}
			et := uint64(e._type)
			var b []byte
			if wire.KindOf(et) != wire.AttrTemplate { // one level only
				b = C.GoBytes(unsafe.Pointer(e.pValue), C.int(e.ulValueLen))
			}
			tmpl = append(tmpl, typedValue(et, b))
		}
		res[i].Attr = wire.Attribute{Type: types[i], Kind: wire.AttrTemplate, Template: tmpl}
	}
	return res, false, nil
}

// innerAttrs views the CK_ATTRIBUTE array held by a template attribute.
func innerAttrs(at *C.CK_ATTRIBUTE) []*C.CK_ATTRIBUTE {
	n := int(at.ulValueLen) / sizeofAttr
	arr := unsafe.Slice((*C.CK_ATTRIBUTE)(at.pValue), n)
	out := make([]*C.CK_ATTRIBUTE, n)
	for i := range arr {
		out[i] = &arr[i]
	}
	return out
}
