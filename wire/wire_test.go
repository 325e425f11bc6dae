package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/gop11/gop11/tests/headercheck"
	"github.com/gop11/gop11/wire"
	"github.com/gop11/gop11/wire/spec"
	"github.com/vmihailenco/msgpack/v5"
)

type rw struct {
	io.Reader
	io.Writer
}

// sample fills every field of a message with a distinct non-zero value.
func sample(m any) {
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Interface().(type) {
		case uint64:
			f.SetUint(uint64(1000 + i))
		case bool:
			f.SetBool(true)
		case []byte, wire.PIN:
			f.SetBytes([]byte(fmt.Sprintf("field-%d", i)))
		case []uint64:
			f.Set(reflect.ValueOf([]uint64{uint64(i), 7, 0xFFFFFFFFFFFFFFFF}))
		case []wire.Attribute:
			f.Set(reflect.ValueOf(sampleAttrs))
		case []wire.AttrResult:
			f.Set(reflect.ValueOf([]wire.AttrResult{{RV: wire.CKR_OK, Attr: sampleAttrs[0]}, {RV: wire.CKR_ATTRIBUTE_SENSITIVE}}))
		case wire.Mechanism:
			f.Set(reflect.ValueOf(sampleMechs[i%len(sampleMechs)]))
		case wire.Info:
			f.Set(reflect.ValueOf(wire.Info{CryptokiVersion: wire.Version{Major: 2, Minor: 40}, ManufacturerID: "m", Flags: 1, LibraryDescription: "d"}))
		case wire.TokenInfo:
			f.Set(reflect.ValueOf(wire.TokenInfo{Label: "t", SerialNumber: "s", MaxSessionCount: wire.CK_UNAVAILABLE_INFORMATION}))
		case wire.SlotInfo:
			f.Set(reflect.ValueOf(wire.SlotInfo{SlotDescription: "slot", Flags: 7}))
		case wire.SessionInfo:
			f.Set(reflect.ValueOf(wire.SessionInfo{SlotID: 3, State: 2, Flags: 6}))
		case wire.MechanismInfo:
			f.Set(reflect.ValueOf(wire.MechanismInfo{MinKeySize: 1, MaxKeySize: 4096, Flags: 0x800}))
		}
	}
}

var sampleAttrs = []wire.Attribute{
	{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte("key")},
	{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte{}},
	{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_PRIVATE_KEY},
	{Type: wire.CKA_TOKEN, Kind: wire.AttrBool, Bool: true},
	{Type: wire.CKA_START_DATE, Kind: wire.AttrDate, Bytes: []byte("20261125")},
	{Type: wire.CKA_ALLOWED_MECHANISMS, Kind: wire.AttrULongs, ULongs: []uint64{wire.CKM_ECDSA, wire.CKM_SHA256_RSA_PKCS}},
	{Type: wire.CKA_WRAP_TEMPLATE, Kind: wire.AttrTemplate, Template: []wire.Attribute{
		{Type: wire.CKA_KEY_TYPE, Kind: wire.AttrULong, ULong: wire.CKK_AES},
		{Type: wire.CKA_EXTRACTABLE, Kind: wire.AttrBool},
	}},
}

var sampleMechs = []wire.Mechanism{
	{Type: wire.CKM_ECDSA},
	{Type: wire.CKM_AES_CBC_PAD, Param: wire.BytesParam(bytes.Repeat([]byte{1}, 16))},
	{Type: wire.CKM_SHA256_HMAC_GENERAL, Param: wire.ULongParam(16)},
	{Type: wire.CKM_RSA_PKCS_PSS, Param: &wire.PSSParams{Hash: wire.CKM_SHA256, MGF: wire.CKG_MGF1_SHA256, SaltLen: 32}},
	{Type: wire.CKM_RSA_PKCS_OAEP, Param: &wire.OAEPParams{Hash: wire.CKM_SHA256, MGF: wire.CKG_MGF1_SHA256, Source: wire.CKZ_DATA_SPECIFIED, SourceData: []byte("label")}},
	{Type: wire.CKM_AES_GCM, Param: &wire.GCMParams{IV: make([]byte, 12), IVBits: 96, AAD: []byte("aad"), TagBits: 128}},
	{Type: wire.CKM_AES_CCM, Param: &wire.CCMParams{DataLen: 32, Nonce: make([]byte, 12), AAD: []byte("a"), MACLen: 16}},
	{Type: wire.CKM_ECDH1_DERIVE, Param: &wire.ECDH1DeriveParams{KDF: wire.CKD_NULL, PublicData: []byte{4, 1, 2}}},
	{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 128, CB: make([]byte, 16)}},
	{Type: wire.CKM_CONCATENATE_DATA_AND_BASE, Param: &wire.KeyDerivationStringData{Data: []byte("x")}},
	{Type: wire.CKM_AES_CBC_ENCRYPT_DATA, Param: &wire.AESCBCEncryptDataParams{IV: make([]byte, 16), Data: make([]byte, 32)}},
	{Type: wire.CKM_EDDSA, Param: &wire.EdDSAParams{PHFlag: true, ContextData: []byte("ctx")}},
	{Type: wire.CKM_CHACHA20_POLY1305, Param: &wire.ChaChaPolyParams{Nonce: make([]byte, 12), AAD: []byte("aad")}},
	{Type: wire.CKM_CHACHA20, Param: &wire.ChaCha20Params{BlockCounter: []byte{0, 0, 0, 1}, BlockCounterBits: 32, Nonce: make([]byte, 12)}},
	{Type: wire.CKM_HKDF_DERIVE, Param: &wire.HKDFParams{Extract: true, Expand: true, PRFHash: wire.CKM_SHA256,
		SaltType: wire.CKF_HKDF_SALT_DATA, Salt: []byte("salt"), Info: []byte("info")}},
	{Type: wire.CKM_SP800_108_COUNTER_KDF, Param: &wire.SP800108Params{PRF: wire.CKM_SHA256_HMAC, Data: []wire.PRFDataParam{
		{Type: wire.CK_SP800_108_ITERATION_VARIABLE, Format: true, WidthBits: 32},
		{Type: wire.CK_SP800_108_BYTE_ARRAY, Bytes: []byte("label")}}}},
	{Type: wire.CKM_AES_GCM, Param: &wire.GCMMessageParams{IV: make([]byte, 12), IVGenerator: wire.CKG_GENERATE_RANDOM, Tag: make([]byte, 16), TagBits: 128}},
	{Type: wire.CKM_AES_CCM, Param: &wire.CCMMessageParams{DataLen: 10, Nonce: make([]byte, 12), MAC: make([]byte, 16)}},
	{Type: wire.CKM_CHACHA20_POLY1305, Param: &wire.ChaChaPolyMessageParams{Nonce: make([]byte, 12), Tag: make([]byte, 16)}},
}

// Every request and response of every call survives the codec unchanged.
func TestCodecRoundTripEveryCall(t *testing.T) {
	n := 0
	for _, d := range wire.Calls {
		if d == nil {
			continue
		}
		n++
		for _, pair := range [][2]wire.Message{{d.NewRequest(), d.NewRequest()}, {d.NewResponse(), d.NewResponse()}} {
			in, out := pair[0], pair[1]
			sample(in)
			var buf bytes.Buffer
			c := wire.NewCodec(rw{&buf, &buf}, 0)
			if err := c.WriteRequest(d.ID, in); err != nil {
				t.Fatalf("%s: write: %v", d.Name, err)
			}
			id, err := c.ReadRequestID()
			if err != nil || id != d.ID {
				t.Fatalf("%s: read id %v, %v", d.Name, id, err)
			}
			if err := c.ReadRequestBody(out); err != nil {
				t.Fatalf("%s: read body: %v", d.Name, err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("%s %T: round trip changed the message:\n in %+v\nout %+v", d.Name, in, in, out)
			}
		}
	}
	if n != 88 {
		t.Errorf("%d calls on the wire, want 88 (92 less Initialize, Finalize, GetFunctionList, GetInterface)", n)
	}
}

// The table lists exactly the functions of include/pkcs11f.h, in order,
// with IDs equal to their positions.
func TestTableMatchesHeader(t *testing.T) {
	fns, err := headercheck.Functions("../include/pkcs11f.h")
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 92 || len(spec.Funcs) != 92 {
		t.Fatalf("header has %d functions, table %d, want 92", len(fns), len(spec.Funcs))
	}
	for i, f := range spec.Funcs {
		if f.Name != fns[i] || f.ID != i+1 {
			t.Errorf("table entry %d is %s (ID %d), header says %s", i, f.Name, f.ID, fns[i])
		}
	}
}

func TestResponseRVAndErrors(t *testing.T) {
	var buf bytes.Buffer
	c := wire.NewCodec(rw{&buf, &buf}, 0)
	if err := c.WriteResponse(wire.CKR_PIN_INCORRECT, &wire.LoginResponse{}); err != nil {
		t.Fatal(err)
	}
	err := c.ReadResponse(new(wire.LoginResponse))
	var rv wire.RV
	if !errors.As(err, &rv) || rv != wire.CKR_PIN_INCORRECT {
		t.Fatalf("got %v, want CKR_PIN_INCORRECT", err)
	}
}

// The fault table: what a broken peer can send, and the error it must give.
func TestMalformedFrames(t *testing.T) {
	frame := func(b []byte) []byte {
		var buf bytes.Buffer
		wire.WriteFrame(&buf, b)
		return buf.Bytes()
	}
	enc := func(v ...any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"short body", []byte{0, 0, 0, 9, 1}, io.ErrUnexpectedEOF},
		{"oversized", []byte{0x7f, 0xff, 0xff, 0xff}, wire.ErrFrameTooLarge},
		{"not an array", frame([]byte{0xc0}), wire.ErrMalformed},
		{"array of 3", frame(enc(1, 2, 3)), wire.ErrMalformed},
		{"head not a number", frame(enc("x", nil)), wire.ErrMalformed},
		{"wrong body type", frame(enc(uint64(wire.CallSign), "nonsense")), wire.ErrMalformed},
		{"trailing bytes", frame(append(enc(uint64(wire.CallLogout), []any{uint64(1)}), 0x01)), wire.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wire.NewCodec(rw{bytes.NewReader(tc.in), io.Discard}, 1<<20)
			id, err := c.ReadRequestID()
			if err == nil {
				d := wire.Lookup(id)
				if d == nil {
					t.Fatalf("unexpected unknown call %v", id)
				}
				err = c.ReadRequestBody(d.NewRequest())
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if wire.Lookup(0) != nil || wire.Lookup(1) != nil || wire.Lookup(999) != nil || wire.Lookup(wire.CallSign) == nil {
		t.Error("Lookup: unknown and module-local calls must be nil, C_Sign not")
	}
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		hello *wire.Hello
		ok    bool
	}{
		{&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, Program: "p", PID: 1}, true},
		{&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion + 1}, false},
		{&wire.Hello{Magic: "HTTP/", Version: wire.ProtocolVersion}, false},
	} {
		var buf bytes.Buffer
		wire.WriteMsg(&buf, tc.hello)
		_, err := wire.ReadHello(&buf)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, wire.ErrHandshake)) {
			t.Errorf("%+v: got %v", tc.hello, err)
		}
	}
	var buf bytes.Buffer
	wire.WriteMsg(&buf, &wire.Welcome{Version: wire.ProtocolVersion, Error: "module failed"})
	if _, err := wire.ReadWelcome(&buf); err == nil || !errors.Is(err, wire.ErrHandshake) {
		t.Errorf("a refusing Welcome must be an error, got %v", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, network, addr string
	}{
		{"unix:///run/gop11/gop11.sock", "unix", "/run/gop11/gop11.sock"},
		{"tcp://127.0.0.1:7011", "tcp", "127.0.0.1:7011"},
		{"tcp://[::1]:7011", "tcp", "[::1]:7011"},
		{"unix://relative.sock", "", ""},
		{"unix:///", "", ""},
		{"tcp://host", "", ""},
		{"http://x:1", "", ""},
		{"/run/gop11.sock", "", ""},
	} {
		ep, err := wire.ParseEndpoint(tc.in)
		if tc.network == "" {
			if err == nil {
				t.Errorf("%q: want an error, got %+v", tc.in, ep)
			}
			continue
		}
		if err != nil || ep.Network != tc.network || ep.Address != tc.addr || ep.String() != tc.in {
			t.Errorf("%q: got %+v %v", tc.in, ep, err)
		}
	}
}

// A PIN prints as [redacted] whichever way it is formatted or marshalled
// for a log, and still travels intact.
func TestPINRedacted(t *testing.T) {
	p := wire.PIN("Sup3rSecret")
	j, _ := json.Marshal(struct{ P wire.PIN }{p})
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%s %v %+v %#v", p, p, p, p), string(j),
		fmt.Sprintf("%v", &wire.LoginRequest{Pin: p}), fmt.Sprintf("%+v", wire.LoginRequest{Pin: p})} {
		if bytes.Contains([]byte(s), []byte("Sup3r")) {
			t.Errorf("PIN leaked: %s", s)
		}
	}
	b, err := msgpack.Marshal(&wire.LoginRequest{Pin: p})
	if err != nil {
		t.Fatal(err)
	}
	var back wire.LoginRequest
	if err := msgpack.Unmarshal(b, &back); err != nil || string(back.Pin) != "Sup3rSecret" {
		t.Fatalf("PIN did not survive the wire: %q %v", back.Pin, err)
	}
}

func TestHandlesVisitsEveryHandle(t *testing.T) {
	count := func(m wire.Message) map[wire.HandleKind]int {
		n := map[wire.HandleKind]int{}
		m.Handles(func(k wire.HandleKind, _ *uint64) { n[k]++ })
		return n
	}
	for _, tc := range []struct {
		m    wire.Message
		want map[wire.HandleKind]int
	}{
		{&wire.SignRequest{}, map[wire.HandleKind]int{wire.HSession: 1}},
		{&wire.WrapKeyRequest{}, map[wire.HandleKind]int{wire.HSession: 1, wire.HObject: 2}},
		{&wire.GenerateKeyPairResponse{}, map[wire.HandleKind]int{wire.HObject: 2}},
		{&wire.OpenSessionResponse{}, map[wire.HandleKind]int{wire.HSession: 1}},
		{&wire.FindObjectsResponse{Objects: []uint64{1, 2, 3}}, map[wire.HandleKind]int{wire.HObject: 3}},
		{&wire.GetSlotListResponse{SlotList: []uint64{1, 2}}, map[wire.HandleKind]int{wire.HSlot: 2}},
		{&wire.GetSessionInfoResponse{}, map[wire.HandleKind]int{wire.HSlot: 1}},
		{&wire.GetInfoRequest{}, map[wire.HandleKind]int{}},
	} {
		if got := count(tc.m); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T: handles %v, want %v", tc.m, got, tc.want)
		}
	}
}

func TestParamKinds(t *testing.T) {
	for _, m := range sampleMechs {
		if m.Param == nil {
			continue
		}
		k, ok := wire.ParamKindOf(m.Type)
		if mk, mok := wire.MessageParamKindOf(m.Type); mok && mk == m.Param.Kind() {
			k, ok = mk, true // a message function's parameter
		}
		if !ok || k != m.Param.Kind() {
			t.Errorf("%s: table says %v/%v, sample is %v", wire.MechanismName(m.Type), k, ok, m.Param.Kind())
		}
	}
	if _, ok := wire.ParamKindOf(0x80000001); ok {
		t.Error("a vendor mechanism must have no known parameter layout")
	}
}
