package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Every MessagePack value the library writes passes the shape check, and
// the check consumes it exactly.
func TestShapeAcceptsWhatTheLibraryWrites(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70000)
	values := []any{
		nil, true, false, 0, 1, 127, 128, 255, 65535, 1 << 20, uint64(1) << 40, -1, -32, -33, -200,
		-40000, int64(-1) << 40, float32(1.5), 2.5, "", "short", string(bytes.Repeat([]byte{'s'}, 300)),
		string(big), []byte{}, []byte("abc"), bytes.Repeat([]byte{1}, 300), big,
		[]any{}, []any{1, "a", nil}, make([]any, 20), make([]any, 70000),
		map[string]any{}, map[string]any{"a": 1, "b": []any{2, 3}},
		time.Unix(1, 0), time.Unix(1<<34, 5), // extension types (fixext 4/8, ext 8)
		[]any{map[string]any{"x": []any{[]byte("y"), 1.0}}},
		&Attribute{Type: 3, Kind: AttrBytes, Bytes: []byte("label")},
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if err := checkShape(b); err != nil {
			t.Errorf("%T (%d bytes, first 0x%02x): %v", v, len(b), b[0], err)
		}
	}
}

// What is not exactly one value whose lengths fit in the frame is
// malformed: a count or length beyond the end, a cut frame, bytes after
// the value, the unused type byte.
func TestShapeRefuses(t *testing.T) {
	be32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"empty":                         {},
		"array32 of 3.7 billion":        cat([]byte{0xdd}, be32(0xdddddddd), []byte{0xc0}),
		"map32 claims more than it has": cat([]byte{0xdf}, be32(2), []byte{1, 2, 3}),
		"fixarray short":                {0x93, 1, 2},
		"bin32 of 1 GiB":                cat([]byte{0xc6}, be32(1<<30), []byte("short")),
		"str8 cut":                      {0xd9, 10, 'a'},
		"ext32 past the end":            cat([]byte{0xc9}, be32(100), []byte{1, 2}),
		"fixext16 cut":                  {0xd8, 1, 2, 3},
		"uint64 cut":                    {0xcf, 0, 0},
		"length field cut":              {0xdd, 0, 0},
		"trailing bytes":                {0x91, 1, 2},
		"0xc1":                          {0xc1},
	} {
		if err := checkShape(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// The request FuzzRequest found (testdata/fuzz/FuzzRequest/6095f61ea707db1f):
// a template claiming 0xdddddddd attributes made the library allocate
// 387 GB. It is refused as the frame is read.
func TestRequestClaimingBillionsOfAttributes(t *testing.T) {
	body := []byte("\x92\x1b\x92\xcf\x00\x00\x00\x00\x00\x00\x03\xe9\xdd\xdd\xdd\xdd\xdd\xc0")
	var frame bytes.Buffer
	WriteFrame(&frame, body)
	raw := bytes.Clone(frame.Bytes())
	if _, err := NewCodec(&frame, 0).ReadRequestID(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	if _, err := ReadHello(bytes.NewReader(raw)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("hello: got %v, want ErrHandshake", err)
	}
}
