package wire_test

import (
	"testing"

	"github.com/gop11/gop11/wire"
)

// Reusable marks exactly the calls whose requests are integers and byte
// strings: the cryptographic data calls, not templates or mechanisms.
func TestReusable(t *testing.T) {
	for _, tc := range []struct {
		id   wire.CallID
		want bool
	}{
		{wire.CallDigest, true}, {wire.CallSign, true}, {wire.CallEncryptUpdate, true},
		{wire.CallSignFinal, true}, {wire.CallGetInfo, true},
		{wire.CallSignInit, false},          // a mechanism
		{wire.CallCreateObject, false},      // a template
		{wire.CallGetAttributeValue, false}, // a type list
		{wire.CallLogin, false},             // a PIN type
		{wire.NumCalls, false},
	} {
		if got := wire.Reusable(tc.id); got != tc.want {
			t.Errorf("Reusable(%v) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
