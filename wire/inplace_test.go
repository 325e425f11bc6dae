package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// twoStrings is a request with a byte string before another, so that a
// byte string written where it must not be shows in the second.
type twoStrings struct {
	_msgpack struct{} `msgpack:",as_array"`
	A, B     []byte
}

func (*twoStrings) Handles(func(HandleKind, *uint64)) {}

func TestRequestByteStringsInPlace(t *testing.T) {
	var buf bytes.Buffer
	w, r := NewCodec(&buf, 0), NewCodec(&buf, 0)
	read := func(into *twoStrings) {
		t.Helper()
		if _, err := r.ReadRequestID(); err != nil {
			t.Fatal(err)
		}
		if err := r.ReadRequestBody(into); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte{'x'}, refMin)
	small := bytes.Repeat([]byte{'s'}, 100)
	w.WriteRequest(CallDigest, &twoStrings{A: big, B: small})
	var req twoStrings
	read(&req)
	if !bytes.Equal(req.A, big) || !bytes.Equal(req.B, small) {
		t.Fatal("first request decoded wrong")
	}
	if !r.rd.holds(req.A) {
		t.Error("a byte string of refMin bytes was copied out of the frame")
	}
	if r.rd.holds(req.B) {
		t.Error("a small byte string points into the frame")
	}
	if cap(req.A) != len(req.A) {
		t.Error("an in-place byte string can grow over the rest of the frame")
	}

	// The same value again (as a server reuses it), now with small
	// strings: A's old buffer is the frame's, and refilling it would
	// overwrite the frame being decoded (B's bytes).
	a2, b2 := bytes.Repeat([]byte{'a'}, 200), bytes.Repeat([]byte{'b'}, 200)
	w.WriteRequest(CallDigest, &twoStrings{A: a2, B: b2})
	read(&req)
	if !bytes.Equal(req.A, a2) || !bytes.Equal(req.B, b2) {
		t.Fatalf("second request: A %q..., B %q...", req.A[:4], req.B[:4])
	}
	if r.rd.holds(req.A) {
		t.Error("a small byte string was decoded into the frame's buffer")
	}

	// A response is never decoded in place: the client keeps it after the
	// lane goes back to the pool.
	w.send(uint64(CKR_OK), &twoStrings{A: big, B: []byte{}})
	var resp twoStrings
	if err := r.ReadResponse(&resp); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.A, big) || r.rd.holds(resp.A) {
		t.Error("a response's byte string points into the frame")
	}
	if resp.B == nil || len(resp.B) != 0 {
		t.Errorf("an empty byte string decoded as %#v, want empty and not nil", resp.B)
	}
}

// A byte string that claims more than its frame holds is refused before
// anything is allocated for it: the frame's shape check (shape.go) turns
// the whole request down as it is read.
func TestByteStringLongerThanItsFrame(t *testing.T) {
	var body bytes.Buffer
	body.Write([]byte{0x92, byte(CallDigest), 0x92, 0xc6}) // [id, [bin32 ...
	binary.Write(&body, binary.BigEndian, uint32(1<<30))
	body.WriteString("short")
	var frame bytes.Buffer
	WriteFrame(&frame, body.Bytes())
	r := NewCodec(&frame, 0)
	_, err := r.ReadRequestID()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}
