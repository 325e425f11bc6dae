package audit

import (
	"testing"

	"github.com/gop11/gop11/wire"
)

func TestParseLevel(t *testing.T) {
	for i, name := range Levels {
		if l, ok := ParseLevel(name); !ok || int(l) != i {
			t.Errorf("ParseLevel(%q) = %v, %v", name, l, ok)
		}
	}
	for _, bad := range []string{"", "QUIET", "debug", "keyonly"} {
		if _, ok := ParseLevel(bad); ok {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		id   wire.CallID
		want kind
	}{
		{wire.CallGenerateKeyPair, lifecycle},
		{wire.CallDestroyObject, lifecycle},
		{wire.CallUnwrapKey, lifecycle},
		{wire.CallSignInit, keyUse},
		{wire.CallSign, keyUse},
		{wire.CallDecryptUpdate, keyUse},
		{wire.CallLogin, auth},
		{wire.CallFindObjectsInit, plain},
		{wire.CallGetTokenInfo, plain},
	} {
		if got := kindOf(tc.id); got != tc.want {
			t.Errorf("kindOf(%s) = %d, want %d", tc.id, got, tc.want)
		}
	}
}

// A nil Log and Conn (no [audit]) log nothing and wrap nothing.
func TestNil(t *testing.T) {
	var l *Log
	c := l.Conn("uid=0", "", "/run/gop11/gop11.sock")
	if c != nil {
		t.Fatal("a nil Log made a Conn")
	}
	c.Denied("web", wire.CallSign)
	c.Close(0)
	if c.Wrap(nil) != nil {
		t.Error("a nil Conn wrapped its backend")
	}
}
