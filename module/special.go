package main

/*
#include "gop11.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gop11/gop11/broker/audit"
	"github.com/gop11/gop11/module/client"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

var (
	initMu  sync.Mutex // C_Initialize and C_Finalize only
	current atomic.Pointer[client.Client]
	callLog atomic.Pointer[audit.Client] // client.toml log_verbosity; nil: none
	logger  = zerolog.Nop()
	logFile *os.File
)

// begin returns the client, or CKR_CRYPTOKI_NOT_INITIALIZED.
func begin() (*client.Client, C.CK_RV) {
	c := current.Load()
	if c == nil {
		return nil, C.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	return c, C.CKR_OK
}

func session(c *client.Client, h C.CK_SESSION_HANDLE) (*client.Session, C.CK_RV) {
	s := c.Session(uint64(h))
	if s == nil {
		return nil, C.CKR_SESSION_HANDLE_INVALID
	}
	return s, C.CKR_OK
}

// call makes one round trip and turns its error into a CK_RV, logging
// once (STYLE 4): an RV passes through; a lost connection is
// CKR_DEVICE_REMOVED; an unreachable broker or a reply that does not
// decode is CKR_DEVICE_ERROR; anything else CKR_FUNCTION_FAILED.
func call(c *client.Client, s *client.Session, id wire.CallID, req, resp wire.Message) C.CK_RV {
	var err error
	if calls := callLog.Load(); calls != nil {
		args := calls.Args(req)
		start := time.Now()
		defer func() { calls.Call(id, req, err, time.Since(start), args) }()
	}
	if s != nil {
		if id != wire.CallGetAttributeValue {
			s.KeepAttrs(0, nil, nil)
		}
		if again, mixing := s.Mixing(id); mixing {
			// The module would still have the operation: start it again
			// (module/client/trail.go). Their answers are the ones the
			// application already had.
			for _, k := range again {
				c.CallOn(s, k.ID, k.Req, wire.Lookup(k.ID).NewResponse())
			}
		}
		err = c.CallOn(s, id, req, resp)
		s.Record(id, req, err == nil)
	} else {
		err = c.Call(id, req, resp)
	}
	if err == nil {
		return C.CKR_OK
	}
	var rv wire.RV
	switch {
	case errors.As(err, &rv):
		if s != nil && (rv == wire.CKR_SESSION_HANDLE_INVALID || rv == wire.CKR_SESSION_CLOSED) {
			c.DropSession(s.Handle)
		}
		return C.CK_RV(rv)
	case errors.Is(err, wire.ErrConnLost) && current.Load() != c:
		// C_Finalize closed the connection under this call (a blocking
		// C_WaitForSlotEvent, say): spec 5.4 says such calls return
		// CKR_CRYPTOKI_NOT_INITIALIZED.
		return C.CKR_CRYPTOKI_NOT_INITIALIZED
	case errors.Is(err, wire.ErrConnLost):
		logger.Error().Str("call", id.String()).Str("broker", c.Endpoint()).Err(err).Msg("connection to the broker lost")
		return C.CKR_DEVICE_REMOVED
	case errors.Is(err, client.ErrUnreachable):
		logger.Error().Str("call", id.String()).Err(err).Msg("broker unreachable")
		return C.CKR_DEVICE_ERROR
	case errors.Is(err, wire.ErrMalformed):
		logger.Error().Str("call", id.String()).Err(err).Msg("broken reply from the broker")
		return C.CKR_DEVICE_ERROR
	case errors.Is(err, wire.ErrFrameTooLarge):
		logger.Error().Str("call", id.String()).Err(err).Msg("message over the frame limit")
		return C.CKR_DATA_LEN_RANGE
	}
	logger.Error().Str("call", id.String()).Err(err).Msg("call failed")
	return C.CKR_FUNCTION_FAILED
}

// outBytes answers a two-call output (spec 5.2) as the vendor module
// would: the length it reports is the vendor's own answer to the size
// query (hint, possibly an upper bound) unless the output is longer. No
// buffer → that length and CKR_OK; a buffer shorter than it →
// CKR_BUFFER_TOO_SMALL and the length; both keep the output for the next
// call, the operation still being active. A big enough buffer gets the
// output and its exact length, and the output is forgotten.
func outBytes(s *client.Session, id wire.CallID, out []byte, hint uint64, p C.CK_BYTE_PTR, pl C.CK_ULONG_PTR) C.CK_RV {
	size := C.CK_ULONG(max(hint, uint64(len(out))))
	if p == nil {
		s.Keep(id, out, hint)
		*pl = size
		return C.CKR_OK
	}
	if *pl < size {
		s.Keep(id, out, hint)
		*pl = size
		return C.CKR_BUFFER_TOO_SMALL
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(out)), out)
	*pl = C.CK_ULONG(len(out))
	s.Collected(id)
	return C.CKR_OK
}

func outULongs(v []uint64, p *C.CK_ULONG, pl C.CK_ULONG_PTR) C.CK_RV {
	n := C.CK_ULONG(len(v))
	if p == nil {
		*pl = n
		return C.CKR_OK
	}
	if *pl < n {
		*pl = n
		return C.CKR_BUFFER_TOO_SMALL
	}
	dst := unsafe.Slice(p, len(v))
	for i, x := range v {
		dst[i] = C.CK_ULONG(x)
	}
	*pl = n
	return C.CKR_OK
}

func outObjects(v []uint64, p C.CK_OBJECT_HANDLE_PTR, max C.CK_ULONG, pl C.CK_ULONG_PTR) C.CK_RV {
	if C.CK_ULONG(len(v)) > max {
		logger.Error().Int("got", len(v)).Uint64("max", uint64(max)).Msg("C_FindObjects: broker returned more handles than asked for")
		return C.CKR_GENERAL_ERROR
	}
	dst := unsafe.Slice(p, len(v))
	for i, x := range v {
		dst[i] = C.CK_OBJECT_HANDLE(x)
	}
	*pl = C.CK_ULONG(len(v))
	return C.CKR_OK
}

func outFixed(v []byte, p C.CK_BYTE_PTR, n C.CK_ULONG) C.CK_RV {
	if C.CK_ULONG(len(v)) != n {
		logger.Error().Int("got", len(v)).Uint64("want", uint64(n)).Msg("C_GenerateRandom: broker returned the wrong length")
		return C.CKR_GENERAL_ERROR
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(v)), v)
	return C.CKR_OK
}

func afterOpenSession(c *client.Client, req *wire.OpenSessionRequest, resp *wire.OpenSessionResponse) {
	resp.Session = c.AddSession(resp.Session, req.SlotID, req.Flags)
}

func afterCloseSession(c *client.Client, req *wire.CloseSessionRequest, _ *wire.CloseSessionResponse) {
	c.DropSession(req.Session)
}

func afterCloseAllSessions(c *client.Client, req *wire.CloseAllSessionsRequest, _ *wire.CloseAllSessionsResponse) {
	c.DropSlot(req.SlotID)
}

// openLog sends the module's log (and yamux's) to cfg.Log, or nowhere:
// the host application's stderr is not ours.
func openLog(path string) io.Writer {
	if logFile != nil {
		return logFile
	}
	if path == "" {
		return io.Discard
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return io.Discard
	}
	logFile = f
	logger = zerolog.New(f).With().Timestamp().Int("pid", os.Getpid()).Logger()
	return f
}

// complain reports a failed C_Initialize: in the module log, and, when no
// log file is set, in one line where someone may look (sayLast), so the
// cause of a failing application is never invisible.
func complain(msg string) {
	logger.Error().Msg(msg)
	if logFile == nil {
		sayLast("gop11: " + msg)
	}
}

// goC_Initialize: spec 5.4. NULL args; CKF_OS_LOCKING_OK; application
// mutex callbacks (accepted: gop11 needs no application locks, its own
// locking is the Go runtime's); CKF_LIBRARY_CANT_CREATE_OS_THREADS
// (accepted: the Go runtime started its threads when the library was
// loaded, before any argument could say otherwise, and creates them as it
// needs; the module starts none of its own beyond that).
//
//export goC_Initialize
func goC_Initialize(pInitArgs C.CK_VOID_PTR) C.CK_RV {
	if pInitArgs != nil {
		a := (*C.CK_C_INITIALIZE_ARGS)(pInitArgs)
		if ptrAt(pInitArgs, C.gop11_off_CK_C_INITIALIZE_ARGS_pReserved) != nil {
			return C.CKR_ARGUMENTS_BAD
		}
		set := 0
		for _, f := range []unsafe.Pointer{unsafe.Pointer(a.CreateMutex), unsafe.Pointer(a.DestroyMutex),
			unsafe.Pointer(a.LockMutex), unsafe.Pointer(a.UnlockMutex)} {
			if f != nil {
				set++
			}
		}
		if set != 0 && set != 4 {
			return C.CKR_ARGUMENTS_BAD
		}
	}
	initMu.Lock()
	defer initMu.Unlock()
	if current.Load() != nil {
		return C.CKR_CRYPTOKI_ALREADY_INITIALIZED
	}
	cfg, err := client.LoadConfig(getenv)
	logw := openLog(cfg.Log)
	if err != nil {
		complain(err.Error())
		return C.CKR_GENERAL_ERROR
	}
	wire.SetVendorMechanisms(cfg.Mechanisms)
	level, _ := audit.ParseLevel(cfg.LogVerbosity) // checked by LoadConfig
	callLog.Store(audit.NewClient(logw, level))
	c := client.New(cfg, logw)
	if err := c.Connect(); err != nil {
		if errors.Is(err, wire.ErrRefused) {
			// The error is the broker's reason behind ErrRefused's own words.
			why := strings.TrimPrefix(err.Error(), wire.ErrRefused.Error()+": ")
			complain(fmt.Sprintf("C_Initialize: the broker at %s (from %s) refused this client: %s", c.Endpoint(), cfg.Source, why))
		} else {
			complain(fmt.Sprintf("C_Initialize: cannot reach the broker at %s (from %s): %v", c.Endpoint(), cfg.Source, err))
		}
		return C.CKR_DEVICE_ERROR
	}
	logger.Info().Str("broker", c.Endpoint()).Str("from", cfg.Source).Msg("connected")
	current.Store(c)
	return C.CKR_OK
}

//export goC_Finalize
func goC_Finalize(pReserved C.CK_VOID_PTR) C.CK_RV {
	if pReserved != nil {
		return C.CKR_ARGUMENTS_BAD
	}
	initMu.Lock()
	defer initMu.Unlock()
	c := current.Swap(nil)
	if c == nil {
		return C.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	c.Close()
	forgetInterfaces()
	return C.CKR_OK
}

// goC_GetAttributeValue: spec 5.7, the five cases per attribute, with
// every other attribute of the template still filled when one fails. The
// broker returns every value in one round trip; values the application
// still has to collect (a NULL or short buffer) are kept for its next call.
//
//export goC_GetAttributeValue
func goC_GetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	c, rv := begin()
	if rv != C.CKR_OK {
		return rv
	}
	s, rv := session(c, hSession)
	if rv != C.CKR_OK {
		return rv
	}
	if pTemplate == nil {
		// Even with ulCount 0: a NULL template is not a template
		// (SoftHSM2 answers so; the spec requires a valid pointer).
		return C.CKR_ARGUMENTS_BAD
	}
	if ulCount > wire.MaxItems {
		return C.CKR_ARGUMENTS_BAD
	}
	tmpl := unsafe.Slice(pTemplate, ulCount)
	types := make([]uint64, len(tmpl))
	for i := range tmpl {
		types[i] = uint64(tmpl[i]._type)
	}
	values, ok := s.KeptAttrs(uint64(hObject), types)
	if !ok {
		req := &wire.GetAttributeValueRequest{Session: uint64(hSession), Object: uint64(hObject), Types: types}
		resp := new(wire.GetAttributeValueResponse)
		if rv := call(c, s, wire.CallGetAttributeValue, req, resp); rv != C.CKR_OK {
			return rv
		}
		if len(resp.Values) != len(types) {
			logger.Error().Int("got", len(resp.Values)).Int("want", len(types)).Msg("C_GetAttributeValue: wrong number of values")
			return C.CKR_DEVICE_ERROR
		}
		values = resp.Values
	}
	var sensitive, invalid, small, again bool
	for i := range tmpl {
		switch r := values[i]; r.RV {
		case wire.CKR_OK:
			switch putAttr(&tmpl[i], &r.Attr) {
			case C.CKR_BUFFER_TOO_SMALL:
				small, again = true, true
			case C.CKR_OK:
				if attrValue(&tmpl[i]) == nil {
					again = true
				}
			}
		case wire.CKR_ATTRIBUTE_SENSITIVE:
			tmpl[i].ulValueLen = C.CK_UNAVAILABLE_INFORMATION
			sensitive = true
		case wire.CKR_ATTRIBUTE_TYPE_INVALID:
			tmpl[i].ulValueLen = C.CK_UNAVAILABLE_INFORMATION
			invalid = true
		default:
			// The vendor stopped here with an error of its own; it had
			// filled the attributes before this one, as have we.
			s.KeepAttrs(0, nil, nil)
			return C.CK_RV(r.RV)
		}
	}
	if again {
		s.KeepAttrs(uint64(hObject), types, values)
	} else {
		s.KeepAttrs(0, nil, nil)
	}
	switch {
	case sensitive:
		return C.CKR_ATTRIBUTE_SENSITIVE
	case invalid:
		return C.CKR_ATTRIBUTE_TYPE_INVALID
	case small:
		return C.CKR_BUFFER_TOO_SMALL
	}
	return C.CKR_OK
}

// cLen is the length of a value in its C form.
func cLen(a *wire.Attribute) C.CK_ULONG {
	switch a.Kind {
	case wire.AttrULong:
		return sizeofULong
	case wire.AttrBool:
		return 1
	case wire.AttrULongs:
		return C.CK_ULONG(len(a.ULongs)) * sizeofULong
	case wire.AttrTemplate:
		return C.CK_ULONG(len(a.Template)) * sizeofAttr
	}
	return C.CK_ULONG(len(a.Bytes))
}

// putAttr writes one value into the application's attribute: the length
// alone when pValue is NULL, the value when it fits, else
// CK_UNAVAILABLE_INFORMATION and CKR_BUFFER_TOO_SMALL.
func putAttr(dst *C.CK_ATTRIBUTE, a *wire.Attribute) C.CK_RV {
	n, v := cLen(a), attrValue(dst)
	if v == nil {
		dst.ulValueLen = n
		return C.CKR_OK
	}
	if dst.ulValueLen < n {
		dst.ulValueLen = C.CK_UNAVAILABLE_INFORMATION
		return C.CKR_BUFFER_TOO_SMALL
	}
	switch a.Kind {
	case wire.AttrULong:
		*(*C.CK_ULONG)(v) = C.CK_ULONG(a.ULong)
	case wire.AttrBool:
		b := C.CK_BBOOL(C.CK_FALSE)
		if a.Bool {
			b = C.CK_TRUE
		}
		*(*C.CK_BBOOL)(v) = b
	case wire.AttrULongs:
		out := unsafe.Slice((*C.CK_ULONG)(v), len(a.ULongs))
		for i, v := range a.ULongs {
			out[i] = C.CK_ULONG(v)
		}
	case wire.AttrTemplate:
		// The nested array's entries follow the same rules, one by one.
		inner := unsafe.Slice((*C.CK_ATTRIBUTE)(v), len(a.Template))
		rv := C.CK_RV(C.CKR_OK)
		for i := range inner {
			inner[i]._type = C.CK_ATTRIBUTE_TYPE(a.Template[i].Type)
			if r := putAttr(&inner[i], &a.Template[i]); r != C.CKR_OK {
				rv = r
			}
		}
		dst.ulValueLen = n
		return rv
	default:
		copy(unsafe.Slice((*byte)(v), len(a.Bytes)), a.Bytes)
	}
	dst.ulValueLen = n
	return C.CKR_OK
}
