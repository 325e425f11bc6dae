//go:build cgo

package backend

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

const (
	userPIN = "1234"
	soPIN   = "5678"
)

// softhsmLib finds libsofthsm2.so: $SOFTHSM2_MODULE, else Debian's paths.
// A missing library fails under CI=true and skips otherwise.
func softhsmLib(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		harness.Require(t, p)
		return p
	}
	cands := []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	harness.Require(t, cands[0])
	return ""
}

// fix is one test's module, token and logged-in R/W session.
type fix struct {
	t    testing.TB
	m    *Module
	tok  *harness.Token
	slot uint64
	s    uint64
	ctx  context.Context
}

// newFix makes a SoftHSM2 token in t.TempDir(), points SOFTHSM2_CONF at
// it (before Open: SoftHSM2 reads it in C_Initialize), opens the module,
// a R/W session and logs the user in. Cleanup closes the module.
func newFix(t testing.TB, opts Options) *fix {
	t.Helper()
	lib := softhsmLib(t)
	tok := harness.NewToken(t, "test", userPIN, soPIN)
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	opts.Log = zerolog.New(zerolog.NewTestWriter(t))
	m, err := Open(lib, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	slot, err := strconv.ParseUint(tok.Slot, 10, 64)
	if err != nil {
		t.Fatalf("slot %q: %v", tok.Slot, err)
	}
	f := &fix{t: t, m: m, tok: tok, slot: slot, ctx: context.Background()}
	f.s = f.session()
	try(f.m.Login(f.ctx, &wire.LoginRequest{Session: f.s, UserType: wire.CKU_USER, Pin: wire.PIN(userPIN)})).must(t)
	return f
}

// on returns a copy of f that reports to t (a subtest).
func (f *fix) on(t testing.TB) *fix {
	g := *f
	g.t = t
	return &g
}

// session opens another R/W session on the token (the login is shared).
func (f *fix) session() uint64 {
	f.t.Helper()
	r, err := f.m.OpenSession(f.ctx, &wire.OpenSessionRequest{SlotID: f.slot,
		Flags: wire.CKF_SERIAL_SESSION | wire.CKF_RW_SESSION})
	if err != nil {
		f.t.Fatalf("OpenSession: %v", err)
	}
	return r.Session
}

// try carries a call's two results, so that try(f()).must(t) reads as one line.
func try[R any](r R, err error) result[R] { return result[R]{r, err} }

type result[R any] struct {
	r   R
	err error
}

// must fails the test on an error and returns the response.
func (x result[R]) must(t testing.TB) R {
	t.Helper()
	if x.err != nil {
		t.Fatal(x.err)
	}
	return x.r
}

// wantRV checks that err is exactly the RV want (CKR_OK: no error).
func wantRV(t testing.TB, err error, want wire.RV) {
	t.Helper()
	if want == wire.CKR_OK {
		if err != nil {
			t.Fatalf("got %v, want CKR_OK", err)
		}
		return
	}
	var rv wire.RV
	if !errors.As(err, &rv) {
		t.Fatalf("got %v (%T), want %v", err, err, want)
	}
	if rv != want {
		t.Fatalf("got %v, want %v", rv, want)
	}
}

func ulA(t, v uint64) wire.Attribute { return wire.Attribute{Type: t, Kind: wire.AttrULong, ULong: v} }
func boolA(t uint64, v bool) wire.Attribute {
	return wire.Attribute{Type: t, Kind: wire.AttrBool, Bool: v}
}
func bytesA(t uint64, b []byte) wire.Attribute {
	return wire.Attribute{Type: t, Kind: wire.AttrBytes, Bytes: b}
}

// secretKey generates a session secret key with the given mechanism.
func (f *fix) secretKey(mech, keyType, valueLen uint64, extra ...wire.Attribute) uint64 {
	f.t.Helper()
	base := []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY), ulA(wire.CKA_KEY_TYPE, keyType),
		ulA(wire.CKA_VALUE_LEN, valueLen), boolA(wire.CKA_TOKEN, false),
		boolA(wire.CKA_SENSITIVE, false), boolA(wire.CKA_EXTRACTABLE, true),
	}
	// extra overrides base: a template must not name a type twice.
	tmpl := slices.DeleteFunc(base, func(b wire.Attribute) bool {
		return slices.ContainsFunc(extra, func(e wire.Attribute) bool { return e.Type == b.Type })
	})
	tmpl = append(tmpl, extra...)
	r, err := f.m.GenerateKey(f.ctx, &wire.GenerateKeyRequest{Session: f.s,
		Mechanism: wire.Mechanism{Type: mech}, Template: tmpl})
	if err != nil {
		f.t.Fatalf("GenerateKey %s: %v", wire.MechanismName(mech), err)
	}
	return r.Key
}

// aesKey is a 256-bit AES session key usable for everything, readable.
func (f *fix) aesKey(extra ...wire.Attribute) uint64 {
	f.t.Helper()
	return f.secretKey(wire.CKM_AES_KEY_GEN, wire.CKK_AES, 32, append([]wire.Attribute{
		boolA(wire.CKA_ENCRYPT, true), boolA(wire.CKA_DECRYPT, true),
		boolA(wire.CKA_WRAP, true), boolA(wire.CKA_UNWRAP, true), boolA(wire.CKA_DERIVE, true),
	}, extra...)...)
}

// value reads one attribute that must be available.
func (f *fix) value(o, typ uint64) wire.Attribute {
	f.t.Helper()
	r, err := f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: f.s, Object: o, Types: []uint64{typ}})
	if err != nil {
		f.t.Fatalf("GetAttributeValue %s: %v", wire.AttributeName(typ), err)
	}
	if len(r.Values) != 1 || r.Values[0].RV != wire.CKR_OK {
		f.t.Fatalf("GetAttributeValue %s: %+v", wire.AttributeName(typ), r.Values)
	}
	return r.Values[0].Attr
}

func (f *fix) rsaKeyPair() (pub, priv uint64) {
	f.t.Helper()
	r, err := f.m.GenerateKeyPair(f.ctx, &wire.GenerateKeyPairRequest{Session: f.s,
		Mechanism: wire.Mechanism{Type: wire.CKM_RSA_PKCS_KEY_PAIR_GEN},
		PublicKeyTemplate: []wire.Attribute{
			ulA(wire.CKA_MODULUS_BITS, 2048), bytesA(wire.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_ENCRYPT, true), boolA(wire.CKA_VERIFY, true),
			boolA(wire.CKA_WRAP, true),
		},
		PrivateKeyTemplate: []wire.Attribute{
			boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_PRIVATE, true), boolA(wire.CKA_SENSITIVE, true),
			boolA(wire.CKA_SIGN, true), boolA(wire.CKA_DECRYPT, true), boolA(wire.CKA_UNWRAP, true),
		}})
	if err != nil {
		f.t.Fatalf("GenerateKeyPair RSA: %v", err)
	}
	return r.PublicKey, r.PrivateKey
}

// p256 is the DER OID of prime256v1, the CKA_EC_PARAMS of P-256.
var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func (f *fix) ecKeyPair() (pub, priv uint64) {
	f.t.Helper()
	r, err := f.m.GenerateKeyPair(f.ctx, &wire.GenerateKeyPairRequest{Session: f.s,
		Mechanism: wire.Mechanism{Type: wire.CKM_EC_KEY_PAIR_GEN},
		PublicKeyTemplate: []wire.Attribute{
			bytesA(wire.CKA_EC_PARAMS, p256), boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_VERIFY, true),
		},
		PrivateKeyTemplate: []wire.Attribute{
			boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_SENSITIVE, true),
			boolA(wire.CKA_SIGN, true), boolA(wire.CKA_DERIVE, true),
		}})
	if err != nil {
		f.t.Fatalf("GenerateKeyPair EC: %v", err)
	}
	return r.PublicKey, r.PrivateKey
}

// hasMech reports whether the token lists mechanism m.
func (f *fix) hasMech(m uint64) bool {
	f.t.Helper()
	r := try(f.m.GetMechanismList(f.ctx, &wire.GetMechanismListRequest{SlotID: f.slot})).must(f.t)
	for _, x := range r.MechanismList {
		if x == m {
			return true
		}
	}
	return false
}
