// Package wire is gop11's protocol: typed PKCS #11 values, the request and
// response of every call (generated from wire/spec), framing, the handshake
// and the one Go client. It is pure Go: no cgo, no vendor module.
//
// Concurrency: a Client may be used by many goroutines at once; each call
// takes an idle yamux stream (or opens one) for its round trip, so calls
// from different application threads never wait for each other. A Codec
// belongs to one stream.
package wire

//go:generate go run ./internal/gen

import (
	"context"
	"fmt"
	"reflect"
)

// CallID names a function on the wire: its position in CK_FUNCTION_LIST.
type CallID uint64

func (id CallID) String() string {
	if id < NumCalls && callNames[id] != "" {
		return callNames[id]
	}
	return fmt.Sprintf("call#%d", uint64(id))
}

// HandleKind is what a handle inside a message names.
type HandleKind uint8

const (
	HSession HandleKind = iota
	HObject
	HSlot
)

// Message is a request or response. Handles lets a layer (the broker's
// per-connection handle map, an HA group) rewrite every handle in it
// without knowing the call.
type Message interface {
	Handles(visit func(HandleKind, *uint64))
}

// CallDesc describes one call, for generic dispatch and logging.
type CallDesc struct {
	ID          CallID
	Name        string
	Family      string // operation family (Sign, Encrypt, ...), "" if none
	Session     bool   // the first argument is a session handle
	NewRequest  func() Message
	NewResponse func() Message
	Invoke      func(ctx context.Context, b Backend, req Message) (Message, error)
}

// Lookup returns the descriptor of call id, or nil if it is not a wire call.
func Lookup(id CallID) *CallDesc {
	if id >= NumCalls {
		return nil
	}
	return Calls[id]
}

// Reusable reports whether call id's request holds nothing but integers
// and byte strings (C_Digest, C_Sign, C_EncryptUpdate...), so that a
// server may decode each request of that call on one stream into the same
// value: every field is overwritten by the next decode, and a byte string
// reuses the previous one's buffer, so a 1 MiB input does not cost a
// fresh, zeroed 1 MiB allocation per call. A layer that keeps such a
// request past its call must copy it.
func Reusable(id CallID) bool {
	if id >= NumCalls {
		return false
	}
	return reusable[id]
}

var reusable = func() (r [NumCalls]bool) {
	for id, d := range Calls {
		if d == nil {
			continue
		}
		t := reflect.TypeOf(d.NewRequest()).Elem()
		ok := t.Kind() == reflect.Struct
		for i := 0; ok && i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue // the msgpack layout marker
			}
			// Plain []byte only: a PIN (its own type) is not kept
			// alive between calls.
			ok = f.Type.Kind() == reflect.Uint64 || f.Type.Kind() == reflect.Bool || f.Type == reflect.TypeFor[[]byte]()
		}
		r[id] = ok
	}
	return r
}()
