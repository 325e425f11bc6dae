package backend

// The module's own function list, for the calls miekg/pkcs11 cannot make
// right: C_GetAttributeValue (per-attribute errors, nested templates),
// C_WaitForSlotEvent (miekg's is asynchronous only), C_GetFunctionStatus
// and C_CancelFunction (missing), and the PIN and empty-input variants
// miekg turns into something else (a NULL PIN becomes "", an empty seed
// or state panics on &b[0]).
//
// dlopen of the path miekg already opened returns the same handle, so
// these pointers are the very functions miekg calls.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "pkcs11.h"

static void *gop11_dlopen(const char *path, char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		*err = dlerror();
	}
	return h;
}

static CK_RV gop11_get_function_list(void *h, CK_FUNCTION_LIST_PTR *fl) {
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (get == NULL) {
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	return get(fl);
}

static CK_RV gop11_GetAttributeValue(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
	return fl->C_GetAttributeValue(s, o, t, n);
}

static CK_RV gop11_WaitForSlotEvent(CK_FUNCTION_LIST_PTR fl, CK_FLAGS flags, CK_SLOT_ID *slot) {
	return fl->C_WaitForSlotEvent(flags, slot, NULL_PTR);
}

static CK_RV gop11_GetFunctionStatus(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s) {
	return fl->C_GetFunctionStatus(s);
}

static CK_RV gop11_CancelFunction(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s) {
	return fl->C_CancelFunction(s);
}

static CK_RV gop11_Login(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s, CK_USER_TYPE u,
		CK_UTF8CHAR_PTR pin, CK_ULONG n) {
	return fl->C_Login(s, u, pin, n);
}

static CK_RV gop11_InitPIN(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_UTF8CHAR_PTR pin, CK_ULONG n) {
	return fl->C_InitPIN(s, pin, n);
}

static CK_RV gop11_SetPIN(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_UTF8CHAR_PTR old, CK_ULONG oldn, CK_UTF8CHAR_PTR nw, CK_ULONG nwn) {
	return fl->C_SetPIN(s, old, oldn, nw, nwn);
}

static CK_RV gop11_InitToken(CK_FUNCTION_LIST_PTR fl, CK_SLOT_ID slot,
		CK_UTF8CHAR_PTR pin, CK_ULONG n, CK_UTF8CHAR_PTR label) {
	return fl->C_InitToken(slot, pin, n, label);
}

static CK_RV gop11_SeedRandom(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_BYTE_PTR seed, CK_ULONG n) {
	return fl->C_SeedRandom(s, seed, n);
}

static CK_RV gop11_GenerateRandom(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_BYTE_PTR out, CK_ULONG n) {
	return fl->C_GenerateRandom(s, out, n);
}

static CK_RV gop11_SetOperationState(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_BYTE_PTR st, CK_ULONG n, CK_OBJECT_HANDLE ek, CK_OBJECT_HANDLE ak) {
	return fl->C_SetOperationState(s, st, n, ek, ak);
}

static CK_RV gop11_CopyObject(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE *out) {
	return fl->C_CopyObject(s, o, t, n, out);
}

static CK_RV gop11_CreateObject(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE *out) {
	return fl->C_CreateObject(s, t, n, out);
}

static CK_RV gop11_SetAttributeValue(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
	return fl->C_SetAttributeValue(s, o, t, n);
}

static CK_RV gop11_UnwrapKey(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
		CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk, CK_BYTE_PTR w, CK_ULONG wn,
		CK_ATTRIBUTE_PTR t, CK_ULONG tn, CK_OBJECT_HANDLE *key) {
	return fl->C_UnwrapKey(s, m, uk, w, wn, t, tn, key);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/gop11/gop11/wire"
)

// cmod is the module's dlopen handle and its CK_FUNCTION_LIST. Both are C
// pointers owned by the dynamic loader and the module, never by Go.
type cmod struct {
	dl unsafe.Pointer
	fl C.CK_FUNCTION_LIST_PTR

	fl3      C.CK_FUNCTION_LIST_3_0_PTR // nil: a v2.40 module (v3.go)
	ifaces   []wire.Interface
	reserved *C.char // the init string given to C_Initialize, kept until close
}

// openC dlopens path and fetches its function list. The error names the
// path and carries dlerror's text.
func openC(path string) (*cmod, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	h := C.gop11_dlopen(cpath, &cerr)
	if h == nil {
		msg := "unknown dlopen error"
		if cerr != nil {
			msg = C.GoString(cerr)
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrLoad, path, msg)
	}
	var fl C.CK_FUNCTION_LIST_PTR
	if rv := C.gop11_get_function_list(h, &fl); rv != C.CKR_OK || fl == nil {
		C.dlclose(h)
		if rv == C.CKR_OK {
			rv = C.CKR_GENERAL_ERROR
		}
		return nil, fmt.Errorf("%w: %s: C_GetFunctionList: %w", ErrLoad, path, wire.RV(rv))
	}
	c := &cmod{dl: h, fl: fl}
	c.openV3()
	return c, nil
}

// close drops this package's reference to the library. It leaves the
// fields alone: a blocked C_WaitForSlotEvent may still read them.
func (c *cmod) close() {
	c.freeReserved()
	C.dlclose(c.dl)
}

// rvErr turns a CK_RV from a direct call into nil or a wire.RV.
func rvErr(rv C.CK_RV) error {
	if rv == C.CKR_OK {
		return nil
	}
	return wire.RV(rv)
}

func (c *cmod) getAttributeValue(s, o uint64, t *C.CK_ATTRIBUTE, n int) C.CK_RV {
	return C.gop11_GetAttributeValue(c.fl, C.CK_SESSION_HANDLE(s), C.CK_OBJECT_HANDLE(o), t, C.CK_ULONG(n))
}

func (c *cmod) waitForSlotEvent(flags uint64) (uint64, error) {
	var slot C.CK_SLOT_ID
	rv := C.gop11_WaitForSlotEvent(c.fl, C.CK_FLAGS(flags), &slot)
	return uint64(slot), rvErr(rv)
}

func (c *cmod) getFunctionStatus(s uint64) error {
	return rvErr(C.gop11_GetFunctionStatus(c.fl, C.CK_SESSION_HANDLE(s)))
}

func (c *cmod) cancelFunction(s uint64) error {
	return rvErr(C.gop11_CancelFunction(c.fl, C.CK_SESSION_HANDLE(s)))
}

// pinArg puts a PIN in C memory: nil stays NULL (protected authentication
// path), anything else, even empty, gets a non-NULL pointer.
func pinArg(a *arena, p wire.PIN) (C.CK_UTF8CHAR_PTR, C.CK_ULONG) {
	if p == nil {
		return nil, 0
	}
	return (C.CK_UTF8CHAR_PTR)(a.bytes(p)), C.CK_ULONG(len(p))
}

// wipe zeroes a PIN's C copy before the arena frees it: freed memory is
// not cleared.
func wipe(p C.CK_UTF8CHAR_PTR, n C.CK_ULONG) {
	if p != nil && n > 0 {
		clear(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
}

func (c *cmod) login(s, userType uint64, pin wire.PIN) error {
	var a arena
	defer a.free()
	p, n := pinArg(&a, pin)
	defer wipe(p, n)
	return rvErr(C.gop11_Login(c.fl, C.CK_SESSION_HANDLE(s), C.CK_USER_TYPE(userType), p, n))
}

func (c *cmod) initPIN(s uint64, pin wire.PIN) error {
	var a arena
	defer a.free()
	p, n := pinArg(&a, pin)
	defer wipe(p, n)
	return rvErr(C.gop11_InitPIN(c.fl, C.CK_SESSION_HANDLE(s), p, n))
}

func (c *cmod) setPIN(s uint64, oldPin, newPin wire.PIN) error {
	var a arena
	defer a.free()
	op, on := pinArg(&a, oldPin)
	np, nn := pinArg(&a, newPin)
	defer wipe(op, on)
	defer wipe(np, nn)
	return rvErr(C.gop11_SetPIN(c.fl, C.CK_SESSION_HANDLE(s), op, on, np, nn))
}

// initToken passes label as given: the caller pads it to 32 bytes.
func (c *cmod) initToken(slot uint64, pin wire.PIN, label [32]byte) error {
	var a arena
	defer a.free()
	p, n := pinArg(&a, pin)
	defer wipe(p, n)
	l := (C.CK_UTF8CHAR_PTR)(a.bytes(label[:]))
	return rvErr(C.gop11_InitToken(c.fl, C.CK_SLOT_ID(slot), p, n, l))
}

func (c *cmod) seedRandomEmpty(s uint64) error {
	return rvErr(C.gop11_SeedRandom(c.fl, C.CK_SESSION_HANDLE(s), nil, 0))
}

func (c *cmod) generateRandomEmpty(s uint64) error {
	var b C.CK_BYTE
	return rvErr(C.gop11_GenerateRandom(c.fl, C.CK_SESSION_HANDLE(s), &b, 0))
}

func (c *cmod) setOperationStateEmpty(s, ek, ak uint64) error {
	return rvErr(C.gop11_SetOperationState(c.fl, C.CK_SESSION_HANDLE(s), nil, 0,
		C.CK_OBJECT_HANDLE(ek), C.CK_OBJECT_HANDLE(ak)))
}

// An empty template (count 0, a valid pointer) is not a NULL one to every
// module (SoftHSM2's C_CopyObject and C_SetAttributeValue accept the first
// only), and miekg passes NULL for both: these pass the pointer.

func (c *cmod) copyObjectEmpty(s, o uint64) (uint64, error) {
	var t C.CK_ATTRIBUTE
	var h C.CK_OBJECT_HANDLE
	rv := C.gop11_CopyObject(c.fl, C.CK_SESSION_HANDLE(s), C.CK_OBJECT_HANDLE(o), &t, 0, &h)
	return uint64(h), rvErr(rv)
}

func (c *cmod) createObjectEmpty(s uint64) (uint64, error) {
	var t C.CK_ATTRIBUTE
	var h C.CK_OBJECT_HANDLE
	rv := C.gop11_CreateObject(c.fl, C.CK_SESSION_HANDLE(s), &t, 0, &h)
	return uint64(h), rvErr(rv)
}

func (c *cmod) setAttributeValueEmpty(s, o uint64) error {
	var t C.CK_ATTRIBUTE
	return rvErr(C.gop11_SetAttributeValue(c.fl, C.CK_SESSION_HANDLE(s), C.CK_OBJECT_HANDLE(o), &t, 0))
}

// unwrapKeyEmpty is C_UnwrapKey with an empty wrapped key, which miekg
// cannot pass (it takes &wrapped[0]).
func (c *cmod) unwrapKeyEmpty(s uint64, m wire.Mechanism, uk uint64, tmpl []wire.Attribute) (uint64, error) {
	var a arena
	defer a.free()
	cm, err := cMechanism(&a, m)
	if err != nil {
		return 0, err
	}
	t, n, err := cTemplate(&a, tmpl)
	if err != nil {
		return 0, err
	}
	var key C.CK_OBJECT_HANDLE
	rv := C.gop11_UnwrapKey(c.fl, C.CK_SESSION_HANDLE(s), cm, C.CK_OBJECT_HANDLE(uk), nil, 0, t, n, &key)
	return uint64(key), rvErr(rv)
}
