package wire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gop11/gop11/wire"
)

// TestItemBudget: no frame decodes more than wire.MaxItems array elements
// (attributes, handles, types, mechanisms) in all, however it spreads
// them, and a template's elements must be whole attributes.
func TestItemBudget(t *testing.T) {
	attrs := func(n int) []wire.Attribute {
		a := make([]wire.Attribute, n)
		for i := range a {
			a[i] = wire.Attribute{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte("x")}
		}
		return a
	}
	half := wire.MaxItems / 2
	for _, tc := range []struct {
		name string
		id   wire.CallID
		req  wire.Message
		want string // "" : decodes
	}{
		{"a template of MaxItems", wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Template: attrs(wire.MaxItems)}, ""},
		{"a template past MaxItems", wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Template: attrs(wire.MaxItems + 1)}, "a template of 65537 elements"},
		{"two templates past it together", wire.CallGenerateKeyPair,
			&wire.GenerateKeyPairRequest{PublicKeyTemplate: attrs(half + 1), PrivateKeyTemplate: attrs(half)}, "more than 65536 array elements in one frame"},
		{"a nested template past it", wire.CallCreateObject, &wire.CreateObjectRequest{Template: append(attrs(half),
			wire.Attribute{Type: wire.CKA_WRAP_TEMPLATE, Kind: wire.AttrTemplate, Template: attrs(half)})}, "more than 65536 array elements in one frame"},
		{"a type list past it", wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{Types: make([]uint64, wire.MaxItems+1)}, "a list of 65537 elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := wire.NewCodec(rw{&buf, &buf}, 64<<20)
			if err := w.WriteRequest(tc.id, tc.req); err != nil {
				t.Fatal(err)
			}
			r := wire.NewCodec(rw{&buf, io.Discard}, 64<<20)
			id, err := r.ReadRequestID()
			if err != nil {
				t.Fatal(err)
			}
			err = r.ReadRequestBody(wire.Lookup(id).NewRequest())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}

	// One-byte nil elements: a template of them is malformed, not a list
	// of zero attributes.
	var buf bytes.Buffer
	body := []byte{0x92, byte(wire.CallFindObjectsInit), 0x92, 0x01, 0x93, 0xc0, 0xc0, 0xc0}
	wire.WriteFrame(&buf, body)
	r := wire.NewCodec(rw{&buf, io.Discard}, 1<<20)
	id, err := r.ReadRequestID()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReadRequestBody(wire.Lookup(id).NewRequest()); err == nil {
		t.Error("a template of nils decoded")
	}
}
