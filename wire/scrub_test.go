package wire_test

import (
	"bytes"
	"testing"

	"github.com/gop11/gop11/wire"
)

// TestScrubPINs: every request that carries a PIN has it zeroed, and no
// other request is touched.
func TestScrubPINs(t *testing.T) {
	pin := func() wire.PIN { return wire.PIN("Qx7-scrub-me") }
	for _, tc := range []struct {
		req  wire.Message
		pins func(wire.Message) []wire.PIN
	}{
		{&wire.LoginRequest{Pin: pin()}, func(m wire.Message) []wire.PIN { return []wire.PIN{m.(*wire.LoginRequest).Pin} }},
		{&wire.InitPINRequest{Pin: pin()}, func(m wire.Message) []wire.PIN { return []wire.PIN{m.(*wire.InitPINRequest).Pin} }},
		{&wire.SetPINRequest{OldPin: pin(), NewPin: pin()}, func(m wire.Message) []wire.PIN {
			return []wire.PIN{m.(*wire.SetPINRequest).OldPin, m.(*wire.SetPINRequest).NewPin}
		}},
		{&wire.InitTokenRequest{Pin: pin()}, func(m wire.Message) []wire.PIN { return []wire.PIN{m.(*wire.InitTokenRequest).Pin} }},
	} {
		if !wire.ScrubPINs(tc.req) {
			t.Errorf("%T: not scrubbed", tc.req)
		}
		for _, p := range tc.pins(tc.req) {
			if !bytes.Equal(p, make([]byte, len(p))) || len(p) == 0 {
				t.Errorf("%T: PIN left %q", tc.req, p)
			}
		}
	}
	if wire.ScrubPINs(&wire.SignRequest{Data: []byte("data")}) {
		t.Error("a C_Sign request counts as carrying a PIN")
	}
}
