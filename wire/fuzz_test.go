package wire_test

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/gop11/gop11/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// seeds: one encoded request (or response) frame per call.
func seeds(f *testing.F, response bool) {
	for _, d := range wire.Calls {
		if d == nil {
			continue
		}
		m := d.NewRequest()
		if response {
			m = d.NewResponse()
		}
		sample(m)
		var buf bytes.Buffer
		c := wire.NewCodec(rw{&buf, &buf}, 0)
		if response {
			c.WriteResponse(wire.CKR_OK, m)
			f.Add(uint8(d.ID), buf.Bytes())
		} else {
			c.WriteRequest(d.ID, m)
			f.Add(uint8(0), buf.Bytes())
		}
	}
}

// FuzzRequest: the broker's decoder of client requests never panics, and
// what it accepts re-encodes to a frame that decodes to the same message.
func FuzzRequest(f *testing.F) {
	seeds(f, false)
	f.Fuzz(func(t *testing.T, _ uint8, data []byte) {
		c := wire.NewCodec(rw{bytes.NewReader(data), io.Discard}, 1<<20)
		id, err := c.ReadRequestID()
		if err != nil {
			return
		}
		d := wire.Lookup(id)
		if d == nil {
			return
		}
		req := d.NewRequest()
		if err := c.ReadRequestBody(req); err != nil {
			return
		}
		var buf bytes.Buffer
		c2 := wire.NewCodec(rw{&buf, &buf}, 0)
		if err := c2.WriteRequest(id, req); err != nil {
			t.Fatalf("accepted %s does not re-encode: %v", d.Name, err)
		}
		again := d.NewRequest()
		if _, err := c2.ReadRequestID(); err != nil {
			t.Fatal(err)
		}
		if err := c2.ReadRequestBody(again); err != nil {
			t.Fatalf("%s: re-encoded request does not decode: %v", d.Name, err)
		}
	})
}

// FuzzResponse: the module's decoder of broker answers never panics.
func FuzzResponse(f *testing.F) {
	seeds(f, true)
	f.Fuzz(func(t *testing.T, call uint8, data []byte) {
		d := wire.Lookup(wire.CallID(call))
		if d == nil {
			return
		}
		c := wire.NewCodec(rw{bytes.NewReader(data), io.Discard}, 1<<20)
		c.ReadResponse(d.NewResponse())
	})
}

// FuzzHello: the broker's handshake decoder never panics.
func FuzzHello(f *testing.F) {
	var buf bytes.Buffer
	wire.WriteMsg(&buf, &wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, Program: "x", PID: 1})
	f.Add(buf.Bytes())
	buf.Reset()
	wire.WriteMsg(&buf, &wire.Welcome{Version: 1, Error: "no"})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		wire.ReadHello(bytes.NewReader(data))
		wire.ReadWelcome(bytes.NewReader(data))
	})
}

// FuzzAttribute: attribute decoding never panics and round-trips.
func FuzzAttribute(f *testing.F) {
	for _, a := range sampleAttrs {
		b, _ := msgpack.Marshal(&a)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a wire.Attribute
		if wire.Unmarshal(data, &a) != nil {
			return
		}
		b, err := msgpack.Marshal(&a)
		if err != nil {
			t.Fatalf("decoded attribute does not encode: %v", err)
		}
		var back wire.Attribute
		if err := msgpack.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-encoded attribute does not decode: %v", err)
		}
		if !reflect.DeepEqual(norm(a), norm(back)) {
			t.Fatalf("round trip changed %+v into %+v", a, back)
		}
	})
}

// norm makes nil and empty byte strings compare equal.
func norm(a wire.Attribute) wire.Attribute {
	if len(a.Bytes) == 0 {
		a.Bytes = nil
	}
	if len(a.ULongs) == 0 {
		a.ULongs = nil
	}
	if len(a.Template) == 0 {
		a.Template = nil
	}
	for i := range a.Template {
		a.Template[i] = norm(a.Template[i])
	}
	return a
}

// FuzzMechanism: mechanism decoding never panics and re-encodes.
func FuzzMechanism(f *testing.F) {
	for _, m := range sampleMechs {
		b, _ := msgpack.Marshal(&m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m wire.Mechanism
		if wire.Unmarshal(data, &m) != nil {
			return
		}
		b, err := msgpack.Marshal(&m)
		if err != nil {
			t.Fatalf("decoded mechanism does not encode: %v", err)
		}
		var back wire.Mechanism
		if err := msgpack.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-encoded mechanism does not decode: %v", err)
		}
	})
}
