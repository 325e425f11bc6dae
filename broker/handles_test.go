package broker

import (
	"testing"

	"github.com/gop11/gop11/wire"
)

func TestHandles(t *testing.T) {
	h := newHandles()
	open := &wire.OpenSessionResponse{Session: 7}
	h.toVirtual(open, 3)
	vs := open.Session
	if vs == 0 || vs > 0xFFFFFFFF || vs == 7 {
		t.Fatalf("virtual session %#x: want random, non-zero, 32-bit", vs)
	}
	gen := &wire.GenerateKeyPairResponse{PublicKey: 100, PrivateKey: 101}
	h.toVirtual(gen, 0)
	find := &wire.FindObjectsResponse{Objects: []uint64{101, 100, 102}}
	h.toVirtual(find, 0)
	if find.Objects[0] != gen.PrivateKey || find.Objects[1] != gen.PublicKey || find.Objects[2] == 102 {
		t.Errorf("the same object must keep its virtual handle: %v vs %+v", find.Objects, gen)
	}

	for _, tc := range []struct {
		name string
		req  *wire.WrapKeyRequest
		want wire.WrapKeyRequest
	}{
		{"known", &wire.WrapKeyRequest{Session: vs, WrappingKey: gen.PublicKey, Key: gen.PrivateKey},
			wire.WrapKeyRequest{Session: 7, WrappingKey: 100, Key: 101}},
		{"unknown handles become CK_INVALID_HANDLE", &wire.WrapKeyRequest{Session: vs + 1, WrappingKey: 100, Key: 12345},
			wire.WrapKeyRequest{Session: 0, WrappingKey: 0, Key: 0}},
	} {
		h.toReal(tc.req)
		if tc.req.Session != tc.want.Session || tc.req.WrappingKey != tc.want.WrappingKey || tc.req.Key != tc.want.Key {
			t.Errorf("%s: got %+v, want %+v", tc.name, *tc.req, tc.want)
		}
	}

	h.destroyObject(gen.PublicKey)
	r := &wire.DestroyObjectRequest{Session: vs, Object: gen.PublicKey}
	h.toReal(r)
	if r.Object != 0 {
		t.Error("a destroyed object's virtual handle must no longer map")
	}
	other := &wire.OpenSessionResponse{Session: 8}
	h.toVirtual(other, 4)
	h.closeSlot(3)
	if got := h.realSessions(); len(got) != 1 || got[0] != 8 {
		t.Errorf("after closing slot 3 the open sessions are %v, want [8]", got)
	}
	h.closeSession(other.Session)
	if got := h.realSessions(); len(got) != 0 {
		t.Errorf("sessions left: %v", got)
	}
}
