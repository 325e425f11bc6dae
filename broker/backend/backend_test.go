//go:build cgo

package backend

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

func TestOpenMissingModule(t *testing.T) {
	path := t.TempDir() + "/no-such-module.so"
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(%s) = %v, want ErrLoad naming the path", path, err)
	}
}

func TestCloseTwiceAndCallsAfterClose(t *testing.T) {
	lib := softhsmLib(t)
	tok := harness.NewToken(t, "test", userPIN, soPIN)
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	for round := range 2 { // the second round reloads the module
		m, err := Open(lib, Options{})
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		try(m.GetInfo(context.Background(), &wire.GetInfoRequest{})).must(t)
		if err := m.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if err := m.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close = %v, want ErrClosed", err)
		}
		_, err = m.GetInfo(context.Background(), &wire.GetInfoRequest{})
		wantRV(t, err, wire.CKR_CRYPTOKI_NOT_INITIALIZED)
		_, err = m.WaitForSlotEvent(context.Background(), &wire.WaitForSlotEventRequest{})
		wantRV(t, err, wire.CKR_CRYPTOKI_NOT_INITIALIZED)
	}
}

func TestInfoCalls(t *testing.T) {
	f := newFix(t, Options{})
	info := try(f.m.GetInfo(f.ctx, &wire.GetInfoRequest{})).must(t).Info
	if info.ManufacturerID != "SoftHSM" || info.CryptokiVersion.Major != 2 {
		t.Errorf("GetInfo = %+v", info)
	}
	slots := try(f.m.GetSlotList(f.ctx, &wire.GetSlotListRequest{TokenPresent: true})).must(t).SlotList
	if !slices.Contains(slots, f.slot) {
		t.Errorf("GetSlotList = %v, want %d in it", slots, f.slot)
	}
	si := try(f.m.GetSlotInfo(f.ctx, &wire.GetSlotInfoRequest{SlotID: f.slot})).must(t).Info
	if si.Flags&wire.CKF_TOKEN_PRESENT == 0 || strings.HasSuffix(si.SlotDescription, " ") {
		t.Errorf("GetSlotInfo = %+v", si)
	}
	ti := try(f.m.GetTokenInfo(f.ctx, &wire.GetTokenInfoRequest{SlotID: f.slot})).must(t).Info
	if ti.Label != "test" || ti.Flags&wire.CKF_TOKEN_INITIALIZED == 0 {
		t.Errorf("GetTokenInfo = %+v", ti)
	}
	if !f.hasMech(wire.CKM_AES_GCM) {
		t.Error("GetMechanismList lacks CKM_AES_GCM")
	}
	mi := try(f.m.GetMechanismInfo(f.ctx, &wire.GetMechanismInfoRequest{SlotID: f.slot, MechType: wire.CKM_AES_KEY_GEN})).must(t).Info
	if mi.MinKeySize != 16 || mi.MaxKeySize != 32 || mi.Flags&wire.CKF_GENERATE == 0 {
		t.Errorf("GetMechanismInfo(CKM_AES_KEY_GEN) = %+v", mi)
	}
	_, err := f.m.GetMechanismInfo(f.ctx, &wire.GetMechanismInfoRequest{SlotID: f.slot, MechType: wire.CKM_VENDOR_DEFINED | 1})
	wantRV(t, err, wire.CKR_MECHANISM_INVALID)
	sess := try(f.m.GetSessionInfo(f.ctx, &wire.GetSessionInfoRequest{Session: f.s})).must(t).Info
	if sess.SlotID != f.slot || sess.State != wire.CKS_RW_USER_FUNCTIONS {
		t.Errorf("GetSessionInfo = %+v", sess)
	}
	_, err = f.m.GetSessionInfo(f.ctx, &wire.GetSessionInfoRequest{Session: 0xdead})
	wantRV(t, err, wire.CKR_SESSION_HANDLE_INVALID)
}

// TestAttributeKinds converts every kind to its native bytes and back.
func TestAttributeKinds(t *testing.T) {
	ul := func(v uint64) []byte { return putULong(nil, v) }
	tests := []struct {
		name   string
		in     wire.Attribute
		native []byte
		back   wire.Attribute // typedValue(in.Type, native)
	}{
		{"ulong", ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY), ul(wire.CKO_SECRET_KEY), ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY)},
		{"ulong max", ulA(wire.CKA_VALUE_LEN, 1<<40), ul(1 << 40), ulA(wire.CKA_VALUE_LEN, 1<<40)},
		{"bool true", boolA(wire.CKA_TOKEN, true), []byte{1}, boolA(wire.CKA_TOKEN, true)},
		{"bool false", boolA(wire.CKA_SIGN, false), []byte{0}, boolA(wire.CKA_SIGN, false)},
		{"date", wire.Attribute{Type: wire.CKA_START_DATE, Kind: wire.AttrDate, Bytes: []byte("20240131")},
			[]byte("20240131"), wire.Attribute{Type: wire.CKA_START_DATE, Kind: wire.AttrDate, Bytes: []byte("20240131")}},
		{"empty date", wire.Attribute{Type: wire.CKA_END_DATE, Kind: wire.AttrDate},
			nil, wire.Attribute{Type: wire.CKA_END_DATE, Kind: wire.AttrDate}},
		{"bytes", bytesA(wire.CKA_LABEL, []byte("key")), []byte("key"), bytesA(wire.CKA_LABEL, []byte("key"))},
		{"ulongs", wire.Attribute{Type: wire.CKA_ALLOWED_MECHANISMS, Kind: wire.AttrULongs, ULongs: []uint64{wire.CKM_AES_CBC, wire.CKM_AES_GCM}},
			append(ul(wire.CKM_AES_CBC), ul(wire.CKM_AES_GCM)...),
			wire.Attribute{Type: wire.CKA_ALLOWED_MECHANISMS, Kind: wire.AttrULongs, ULongs: []uint64{wire.CKM_AES_CBC, wire.CKM_AES_GCM}}},
		// A value whose length does not fit its kind comes back as bytes.
		{"ulong of 3 bytes", bytesA(wire.CKA_CLASS, []byte{1, 2, 3}), []byte{1, 2, 3}, bytesA(wire.CKA_CLASS, []byte{1, 2, 3})},
		{"bool of 2 bytes", bytesA(wire.CKA_TOKEN, []byte{1, 1}), []byte{1, 1}, bytesA(wire.CKA_TOKEN, []byte{1, 1})},
		{"date of 3 bytes", bytesA(wire.CKA_START_DATE, []byte("202")), []byte("202"), bytesA(wire.CKA_START_DATE, []byte("202"))},
		{"ulongs of 5 bytes", bytesA(wire.CKA_ALLOWED_MECHANISMS, []byte{1, 2, 3, 4, 5}), []byte{1, 2, 3, 4, 5},
			bytesA(wire.CKA_ALLOWED_MECHANISMS, []byte{1, 2, 3, 4, 5})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a arena
			defer a.free()
			got, err := nativeValue(&a, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.native) {
				t.Fatalf("native = %x, want %x", got, tc.native)
			}
			back := typedValue(tc.in.Type, got)
			if !attrEqual(back, tc.back) {
				t.Fatalf("typed = %+v, want %+v", back, tc.back)
			}
		})
	}
	t.Run("template layout", func(t *testing.T) {
		var a arena
		defer a.free()
		in := wire.Attribute{Type: wire.CKA_WRAP_TEMPLATE, Kind: wire.AttrTemplate, Template: []wire.Attribute{
			ulA(wire.CKA_KEY_TYPE, wire.CKK_AES), boolA(wire.CKA_EXTRACTABLE, true)}}
		got, err := nativeValue(&a, &in)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2*sizeofAttr {
			t.Fatalf("template is %d bytes, want 2 CK_ATTRIBUTEs (%d)", len(got), 2*sizeofAttr)
		}
		back, err := readCTemplate(got)
		if err != nil {
			t.Fatal(err)
		}
		if !attrsEqual(back, in.Template) {
			t.Fatalf("read back %+v, want %+v", back, in.Template)
		}
	})
}

func attrEqual(a, b wire.Attribute) bool {
	if a.Type != b.Type || a.Kind != b.Kind || a.ULong != b.ULong || a.Bool != b.Bool ||
		!bytes.Equal(a.Bytes, b.Bytes) || !slices.Equal(a.ULongs, b.ULongs) {
		return false
	}
	return attrsEqual(a.Template, b.Template)
}

// attrsEqual compares templates as sets: modules keep them in any order.
func attrsEqual(a, b []wire.Attribute) bool {
	if len(a) != len(b) {
		return false
	}
	byType := func(x, y wire.Attribute) int { return int(x.Type) - int(y.Type) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byType)
	slices.SortFunc(b, byType)
	for i := range a {
		if !attrEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestAttributeRoundTrip writes every kind into a real object, nested
// CKA_WRAP_TEMPLATE included, and reads each back typed.
func TestAttributeRoundTrip(t *testing.T) {
	f := newFix(t, Options{})
	wrapTmpl := wire.Attribute{Type: wire.CKA_WRAP_TEMPLATE, Kind: wire.AttrTemplate, Template: []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY), ulA(wire.CKA_KEY_TYPE, wire.CKK_AES),
		boolA(wire.CKA_EXTRACTABLE, true), bytesA(wire.CKA_LABEL, []byte("wrappable")),
	}}
	value := bytes.Repeat([]byte{0x42}, 32)
	attrs := []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY),
		ulA(wire.CKA_KEY_TYPE, wire.CKK_AES),
		boolA(wire.CKA_TOKEN, false),
		// SoftHSM2 stores dates in clear but decrypts them on read for
		// private objects (CKR_GENERAL_ERROR), and compares a wrap
		// template's byte strings with the stored, encrypted ones.
		boolA(wire.CKA_PRIVATE, false),
		boolA(wire.CKA_WRAP, true),
		boolA(wire.CKA_SIGN, false),
		boolA(wire.CKA_SENSITIVE, false),
		boolA(wire.CKA_EXTRACTABLE, true),
		bytesA(wire.CKA_LABEL, []byte("round trip")),
		bytesA(wire.CKA_ID, []byte{0, 1, 2, 0xff}),
		bytesA(wire.CKA_VALUE, value),
		{Type: wire.CKA_START_DATE, Kind: wire.AttrDate, Bytes: []byte("20240131")},
		{Type: wire.CKA_END_DATE, Kind: wire.AttrDate, Bytes: []byte("20991231")},
		{Type: wire.CKA_ALLOWED_MECHANISMS, Kind: wire.AttrULongs, ULongs: []uint64{wire.CKM_AES_CBC, wire.CKM_AES_KEY_WRAP}},
		wrapTmpl,
	}
	obj := try(f.m.CreateObject(f.ctx, &wire.CreateObjectRequest{Session: f.s, Template: attrs})).must(t).Object
	extra := []wire.Attribute{ulA(wire.CKA_VALUE_LEN, 32), boolA(wire.CKA_LOCAL, false)}
	for _, want := range append(attrs, extra...) {
		t.Run(wire.AttributeName(want.Type), func(t *testing.T) {
			got := f.on(t).value(obj, want.Type)
			if !attrEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
	t.Run("all at once", func(t *testing.T) {
		types := make([]uint64, len(attrs))
		for i := range attrs {
			types[i] = attrs[i].Type
		}
		r := try(f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: f.s, Object: obj, Types: types})).must(t)
		for i, v := range r.Values {
			if v.RV != wire.CKR_OK || !attrEqual(v.Attr, attrs[i]) {
				t.Errorf("%s: got %v %+v, want %+v", wire.AttributeName(types[i]), v.RV, v.Attr, attrs[i])
			}
		}
	})
	t.Run("SetAttributeValue", func(t *testing.T) {
		try(f.m.SetAttributeValue(f.ctx, &wire.SetAttributeValueRequest{Session: f.s, Object: obj,
			Template: []wire.Attribute{bytesA(wire.CKA_LABEL, []byte("renamed"))}})).must(t)
		if got := f.value(obj, wire.CKA_LABEL); string(got.Bytes) != "renamed" {
			t.Fatalf("label %q", got.Bytes)
		}
	})
	t.Run("wrap template enforced", func(t *testing.T) {
		// The template asks for CKA_LABEL "wrappable": a key without it
		// must not wrap, one with it must.
		other := f.aesKey(boolA(wire.CKA_PRIVATE, false))
		_, err := f.m.WrapKey(f.ctx, &wire.WrapKeyRequest{Session: f.s,
			Mechanism: wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP}, WrappingKey: obj, Key: other})
		wantRV(t, err, wire.CKR_KEY_NOT_WRAPPABLE)
		good := f.aesKey(boolA(wire.CKA_PRIVATE, false), bytesA(wire.CKA_LABEL, []byte("wrappable")))
		try(f.m.WrapKey(f.ctx, &wire.WrapKeyRequest{Session: f.s,
			Mechanism: wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP}, WrappingKey: obj, Key: good})).must(t)
	})
}

// TestGetAttributeValuePartial: one template with a sensitive, an invalid
// and normal attributes answers each on its own.
func TestGetAttributeValuePartial(t *testing.T) {
	f := newFix(t, Options{})
	key := f.secretKey(wire.CKM_AES_KEY_GEN, wire.CKK_AES, 16, boolA(wire.CKA_ENCRYPT, true),
		boolA(wire.CKA_SENSITIVE, true), bytesA(wire.CKA_LABEL, []byte("secret")))
	type want struct {
		rv   wire.RV
		attr wire.Attribute
	}
	sens := want{rv: wire.CKR_ATTRIBUTE_SENSITIVE}
	inval := want{rv: wire.CKR_ATTRIBUTE_TYPE_INVALID}
	tests := []struct {
		name  string
		types []uint64
		want  []want
	}{
		{"sensitive+invalid+normal", []uint64{wire.CKA_VALUE, wire.CKA_MODULUS, wire.CKA_LABEL, wire.CKA_CLASS},
			[]want{sens, inval, {attr: bytesA(wire.CKA_LABEL, []byte("secret"))}, {attr: ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY)}}},
		{"sensitive alone", []uint64{wire.CKA_VALUE}, []want{sens}},
		{"invalid alone", []uint64{wire.CKA_MODULUS}, []want{inval}},
		{"normal, sensitive", []uint64{wire.CKA_VALUE_LEN, wire.CKA_VALUE}, []want{{attr: ulA(wire.CKA_VALUE_LEN, 16)}, sens}},
		{"two invalid", []uint64{wire.CKA_MODULUS, wire.CKA_VENDOR_DEFINED | 0x77}, []want{inval, inval}},
		{"empty", []uint64{}, []want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := try(f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: f.s, Object: key, Types: tc.types})).must(t)
			if len(r.Values) != len(tc.want) {
				t.Fatalf("%d values, want %d", len(r.Values), len(tc.want))
			}
			for i, w := range tc.want {
				got := r.Values[i]
				if got.RV != w.rv {
					t.Errorf("%s: rv %v, want %v", wire.AttributeName(tc.types[i]), got.RV, w.rv)
				}
				if w.rv == wire.CKR_OK && !attrEqual(got.Attr, w.attr) {
					t.Errorf("%s: %+v, want %+v", wire.AttributeName(tc.types[i]), got.Attr, w.attr)
				}
				if got.Attr.Type != tc.types[i] {
					t.Errorf("entry %d names %s, want %s", i, wire.AttributeName(got.Attr.Type), wire.AttributeName(tc.types[i]))
				}
			}
		})
	}
	for _, types := range [][]uint64{{}, {wire.CKA_LABEL}} {
		_, err := f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: f.s, Object: 0xdead, Types: types})
		wantRV(t, err, wire.CKR_OBJECT_HANDLE_INVALID)
		_, err = f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: 0xdead, Object: key, Types: types})
		wantRV(t, err, wire.CKR_SESSION_HANDLE_INVALID)
	}
}

func TestObjects(t *testing.T) {
	f := newFix(t, Options{})
	var made []uint64
	for i := range 3 {
		r := try(f.m.CreateObject(f.ctx, &wire.CreateObjectRequest{Session: f.s, Template: []wire.Attribute{
			ulA(wire.CKA_CLASS, wire.CKO_DATA), boolA(wire.CKA_TOKEN, false),
			bytesA(wire.CKA_LABEL, []byte("find me")), bytesA(wire.CKA_VALUE, []byte{byte(i)}),
		}})).must(t)
		made = append(made, r.Object)
	}
	try(f.m.FindObjectsInit(f.ctx, &wire.FindObjectsInitRequest{Session: f.s, Template: []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_DATA), bytesA(wire.CKA_LABEL, []byte("find me"))}})).must(t)
	var found []uint64
	for _, max := range []uint64{2, 2, 2} {
		r := try(f.m.FindObjects(f.ctx, &wire.FindObjectsRequest{Session: f.s, MaxObjectCount: max})).must(t)
		if uint64(len(r.Objects)) > max {
			t.Fatalf("FindObjects(%d) gave %d", max, len(r.Objects))
		}
		found = append(found, r.Objects...)
	}
	try(f.m.FindObjectsFinal(f.ctx, &wire.FindObjectsFinalRequest{Session: f.s})).must(t)
	slices.Sort(found)
	slices.Sort(made)
	if !slices.Equal(found, made) {
		t.Fatalf("found %v, made %v", found, made)
	}
	// Empty template: every object (the three, at least).
	try(f.m.FindObjectsInit(f.ctx, &wire.FindObjectsInitRequest{Session: f.s})).must(t)
	all := try(f.m.FindObjects(f.ctx, &wire.FindObjectsRequest{Session: f.s, MaxObjectCount: 100})).must(t)
	if len(all.Objects) < 3 {
		t.Fatalf("empty template found %v", all.Objects)
	}
	try(f.m.FindObjectsFinal(f.ctx, &wire.FindObjectsFinalRequest{Session: f.s})).must(t)

	cp := try(f.m.CopyObject(f.ctx, &wire.CopyObjectRequest{Session: f.s, Object: made[0],
		Template: []wire.Attribute{bytesA(wire.CKA_LABEL, []byte("copy"))}})).must(t)
	if got := f.value(cp.NewObject, wire.CKA_LABEL); string(got.Bytes) != "copy" {
		t.Fatalf("copy label %q", got.Bytes)
	}
	_, err := f.m.GetObjectSize(f.ctx, &wire.GetObjectSizeRequest{Session: f.s, Object: cp.NewObject})
	if err != nil {
		wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	}
	try(f.m.DestroyObject(f.ctx, &wire.DestroyObjectRequest{Session: f.s, Object: cp.NewObject})).must(t)
	_, err = f.m.GetAttributeValue(f.ctx, &wire.GetAttributeValueRequest{Session: f.s, Object: cp.NewObject, Types: []uint64{wire.CKA_LABEL}})
	wantRV(t, err, wire.CKR_OBJECT_HANDLE_INVALID)
}

func TestKeyPairs(t *testing.T) {
	f := newFix(t, Options{})
	pub, priv := f.rsaKeyPair()
	if got := f.value(pub, wire.CKA_MODULUS_BITS); got.Kind != wire.AttrULong || got.ULong != 2048 {
		t.Errorf("RSA CKA_MODULUS_BITS = %+v", got)
	}
	if got := f.value(pub, wire.CKA_MODULUS); len(got.Bytes) != 256 {
		t.Errorf("RSA CKA_MODULUS is %d bytes", len(got.Bytes))
	}
	if got := f.value(priv, wire.CKA_KEY_TYPE); got.ULong != wire.CKK_RSA {
		t.Errorf("RSA private CKA_KEY_TYPE = %+v", got)
	}
	epub, epriv := f.ecKeyPair()
	if got := f.value(epub, wire.CKA_EC_PARAMS); !bytes.Equal(got.Bytes, p256) {
		t.Errorf("EC CKA_EC_PARAMS = %x", got.Bytes)
	}
	if got := f.value(epub, wire.CKA_EC_POINT); len(got.Bytes) != 67 {
		t.Errorf("EC CKA_EC_POINT is %d bytes, want 67 (DER of 65)", len(got.Bytes))
	}
	if got := f.value(epriv, wire.CKA_LOCAL); !got.Bool || got.Kind != wire.AttrBool {
		t.Errorf("EC private CKA_LOCAL = %+v", got)
	}
}

// rsaPublic reads pub's modulus and exponent into a Go key.
func (f *fix) rsaPublic(pub uint64) *rsa.PublicKey {
	n := new(big.Int).SetBytes(f.value(pub, wire.CKA_MODULUS).Bytes)
	e := new(big.Int).SetBytes(f.value(pub, wire.CKA_PUBLIC_EXPONENT).Bytes)
	return &rsa.PublicKey{N: n, E: int(e.Int64())}
}

func (f *fix) encrypt(m wire.Mechanism, key uint64, data []byte) ([]byte, error) {
	if _, err := f.m.EncryptInit(f.ctx, &wire.EncryptInitRequest{Session: f.s, Mechanism: m, Key: key}); err != nil {
		return nil, err
	}
	r, err := f.m.Encrypt(f.ctx, &wire.EncryptRequest{Session: f.s, Data: data})
	if err != nil {
		return nil, err
	}
	return r.EncryptedData, nil
}

func (f *fix) decrypt(m wire.Mechanism, key uint64, data []byte) ([]byte, error) {
	if _, err := f.m.DecryptInit(f.ctx, &wire.DecryptInitRequest{Session: f.s, Mechanism: m, Key: key}); err != nil {
		return nil, err
	}
	r, err := f.m.Decrypt(f.ctx, &wire.DecryptRequest{Session: f.s, EncryptedData: data})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

func (f *fix) sign(m wire.Mechanism, key uint64, data []byte) ([]byte, error) {
	if _, err := f.m.SignInit(f.ctx, &wire.SignInitRequest{Session: f.s, Mechanism: m, Key: key}); err != nil {
		return nil, err
	}
	r, err := f.m.Sign(f.ctx, &wire.SignRequest{Session: f.s, Data: data})
	if err != nil {
		return nil, err
	}
	return r.Signature, nil
}

func (f *fix) verify(m wire.Mechanism, key uint64, data, sig []byte) error {
	if _, err := f.m.VerifyInit(f.ctx, &wire.VerifyInitRequest{Session: f.s, Mechanism: m, Key: key}); err != nil {
		return err
	}
	_, err := f.m.Verify(f.ctx, &wire.VerifyRequest{Session: f.s, Data: data, Signature: sig})
	return err
}

// derive derives a readable generic secret of n bytes and returns its value.
func (f *fix) derive(m wire.Mechanism, base uint64, n uint64) ([]byte, error) {
	tmpl := []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY), ulA(wire.CKA_KEY_TYPE, wire.CKK_GENERIC_SECRET),
		boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_SENSITIVE, false), boolA(wire.CKA_EXTRACTABLE, true),
	}
	if n > 0 {
		tmpl = append(tmpl, ulA(wire.CKA_VALUE_LEN, n))
	}
	r, err := f.m.DeriveKey(f.ctx, &wire.DeriveKeyRequest{Session: f.s, Mechanism: m, BaseKey: base, Template: tmpl})
	if err != nil {
		return nil, err
	}
	return f.value(r.Key, wire.CKA_VALUE).Bytes, nil
}

func aesGo(t testing.TB, key []byte) cipher.Block {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMechanismParams uses every parameter kind for real against SoftHSM2
// and checks the result with Go's crypto where it can.
func TestMechanismParams(t *testing.T) {
	f := newFix(t, Options{})
	aesKey := f.aesKey()
	aesVal := f.value(aesKey, wire.CKA_VALUE).Bytes
	pub, priv := f.rsaKeyPair()
	msg := []byte("the quick brown fox jumps over the lazy dog")
	iv := bytes.Repeat([]byte{7}, 16)

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"PSS sign+verify", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_SHA256_RSA_PKCS_PSS,
				Param: &wire.PSSParams{Hash: wire.CKM_SHA256, MGF: wire.CKG_MGF1_SHA256, SaltLen: 32}}
			sig := try(f.sign(m, priv, msg)).must(t)
			if err := f.verify(m, pub, msg, sig); err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256(msg)
			if err := rsa.VerifyPSS(f.rsaPublic(pub), crypto.SHA256, h[:], sig,
				&rsa.PSSOptions{SaltLength: 32}); err != nil {
				t.Fatalf("Go rejects the PSS signature: %v", err)
			}
			sig[0] ^= 1
			wantRV(t, f.verify(m, pub, msg, sig), wire.CKR_SIGNATURE_INVALID)
		}},
		{"OAEP encrypt+decrypt", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_RSA_PKCS_OAEP,
				Param: &wire.OAEPParams{Hash: wire.CKM_SHA_1, MGF: wire.CKG_MGF1_SHA1, Source: wire.CKZ_DATA_SPECIFIED}}
			ct := try(f.encrypt(m, pub, msg)).must(t)
			if pt := try(f.decrypt(m, priv, ct)).must(t); !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted %q", pt)
			}
			goCT, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, f.rsaPublic(pub), msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if pt := try(f.decrypt(m, priv, goCT)).must(t); !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted Go's OAEP as %q", pt)
			}
			// SoftHSM2 2.6 takes SHA-1 only; the parameter did arrive.
			_, err = f.encrypt(wire.Mechanism{Type: wire.CKM_RSA_PKCS_OAEP,
				Param: &wire.OAEPParams{Hash: wire.CKM_SHA256, MGF: wire.CKG_MGF1_SHA256, Source: wire.CKZ_DATA_SPECIFIED}}, pub, msg)
			if err != nil {
				wantRV(t, err, wire.CKR_ARGUMENTS_BAD)
			}
		}},
		{"GCM with AAD", func(t *testing.T) {
			nonce := bytes.Repeat([]byte{9}, 12)
			aad := []byte("header")
			m := wire.Mechanism{Type: wire.CKM_AES_GCM, Param: &wire.GCMParams{IV: nonce, IVBits: 96, AAD: aad, TagBits: 128}}
			ct := try(f.encrypt(m, aesKey, msg)).must(t)
			g, _ := cipher.NewGCM(aesGo(t, aesVal))
			if want := g.Seal(nil, nonce, msg, aad); !bytes.Equal(ct, want) {
				t.Fatalf("GCM ciphertext %x, Go says %x", ct, want)
			}
			if pt := try(f.decrypt(m, aesKey, ct)).must(t); !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted %q", pt)
			}
			bad := wire.Mechanism{Type: wire.CKM_AES_GCM, Param: &wire.GCMParams{IV: nonce, IVBits: 96, AAD: []byte("other"), TagBits: 128}}
			// Wrong AAD: SoftHSM2 2.6 says CKR_GENERAL_ERROR, newer ones
			// CKR_ENCRYPTED_DATA_INVALID; either way the AAD arrived.
			if _, err := f.decrypt(bad, aesKey, ct); !errors.Is(err, wire.CKR_GENERAL_ERROR) && !errors.Is(err, wire.CKR_ENCRYPTED_DATA_INVALID) {
				t.Fatalf("decrypt with other AAD: %v", err)
			}
		}},
		{"CTR", func(t *testing.T) {
			cb := append(bytes.Repeat([]byte{0}, 15), 1)
			m := wire.Mechanism{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 128, CB: cb}}
			ct := try(f.encrypt(m, aesKey, msg)).must(t)
			want := make([]byte, len(msg))
			cipher.NewCTR(aesGo(t, aesVal), cb).XORKeyStream(want, msg)
			if !bytes.Equal(ct, want) {
				t.Fatalf("CTR ciphertext %x, Go says %x", ct, want)
			}
			if pt := try(f.decrypt(m, aesKey, ct)).must(t); !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted %q", pt)
			}
			_, err := f.encrypt(wire.Mechanism{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 128, CB: cb[:15]}}, aesKey, msg)
			wantRV(t, err, wire.CKR_MECHANISM_PARAM_INVALID)
		}},
		{"CBC_PAD", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_AES_CBC_PAD, Param: wire.BytesParam(iv)}
			ct := try(f.encrypt(m, aesKey, msg)).must(t)
			pad := 16 - len(msg)%16
			padded := append(slices.Clone(msg), bytes.Repeat([]byte{byte(pad)}, pad)...)
			want := make([]byte, len(padded))
			cipher.NewCBCEncrypter(aesGo(t, aesVal), iv).CryptBlocks(want, padded)
			if !bytes.Equal(ct, want) {
				t.Fatalf("CBC_PAD ciphertext %x, Go says %x", ct, want)
			}
			if pt := try(f.decrypt(m, aesKey, ct)).must(t); !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted %q", pt)
			}
		}},
		{"CBC_PAD multi-part", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_AES_CBC_PAD, Param: wire.BytesParam(iv)}
			try(f.m.EncryptInit(f.ctx, &wire.EncryptInitRequest{Session: f.s, Mechanism: m, Key: aesKey})).must(t)
			var ct []byte
			for _, part := range [][]byte{msg[:10], msg[10:30], msg[30:]} {
				ct = append(ct, try(f.m.EncryptUpdate(f.ctx, &wire.EncryptUpdateRequest{Session: f.s, Part: part})).must(t).EncryptedPart...)
			}
			ct = append(ct, try(f.m.EncryptFinal(f.ctx, &wire.EncryptFinalRequest{Session: f.s})).must(t).LastEncryptedPart...)
			try(f.m.DecryptInit(f.ctx, &wire.DecryptInitRequest{Session: f.s, Mechanism: m, Key: aesKey})).must(t)
			pt := try(f.m.DecryptUpdate(f.ctx, &wire.DecryptUpdateRequest{Session: f.s, EncryptedPart: ct})).must(t).Part
			pt = append(pt, try(f.m.DecryptFinal(f.ctx, &wire.DecryptFinalRequest{Session: f.s})).must(t).LastPart...)
			if !bytes.Equal(pt, msg) {
				t.Fatalf("decrypted %q", pt)
			}
		}},
		{"ECDH1 derive", func(t *testing.T) {
			apub, apriv := f.ecKeyPair()
			bpub, bpriv := f.ecKeyPair()
			point := func(pub uint64) []byte { return f.value(pub, wire.CKA_EC_POINT).Bytes[2:] } // DER OCTET STRING → raw
			ab := try(f.derive(wire.Mechanism{Type: wire.CKM_ECDH1_DERIVE,
				Param: &wire.ECDH1DeriveParams{KDF: wire.CKD_NULL, PublicData: point(bpub)}}, apriv, 32)).must(t)
			ba := try(f.derive(wire.Mechanism{Type: wire.CKM_ECDH1_DERIVE,
				Param: &wire.ECDH1DeriveParams{KDF: wire.CKD_NULL, PublicData: point(apub)}}, bpriv, 32)).must(t)
			if len(ab) != 32 || !bytes.Equal(ab, ba) {
				t.Fatalf("shared secrets differ: %x / %x", ab, ba)
			}
		}},
		{"AES-ECB-ENCRYPT-DATA", func(t *testing.T) {
			data := bytes.Repeat([]byte{0x5a}, 32)
			got := try(f.derive(wire.Mechanism{Type: wire.CKM_AES_ECB_ENCRYPT_DATA,
				Param: &wire.KeyDerivationStringData{Data: data}}, aesKey, 32)).must(t)
			want := make([]byte, 32)
			b := aesGo(t, aesVal)
			b.Encrypt(want[:16], data[:16])
			b.Encrypt(want[16:], data[16:])
			if !bytes.Equal(got, want) {
				t.Fatalf("derived %x, Go says %x", got, want)
			}
		}},
		{"CONCATENATE_BASE_AND_DATA", func(t *testing.T) {
			data := []byte("suffix")
			m := wire.Mechanism{Type: wire.CKM_CONCATENATE_BASE_AND_DATA, Param: &wire.KeyDerivationStringData{Data: data}}
			got, err := f.derive(m, aesKey, 0)
			if !f.hasMech(wire.CKM_CONCATENATE_BASE_AND_DATA) {
				wantRV(t, err, wire.CKR_MECHANISM_INVALID) // SoftHSM2 before 2.7
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := append(slices.Clone(aesVal), data...); !bytes.Equal(got, want) {
				t.Fatalf("derived %x, want base||data %x", got, want)
			}
		}},
		{"AES-CBC-ENCRYPT-DATA", func(t *testing.T) {
			data := bytes.Repeat([]byte{0x3c}, 32)
			got := try(f.derive(wire.Mechanism{Type: wire.CKM_AES_CBC_ENCRYPT_DATA,
				Param: &wire.AESCBCEncryptDataParams{IV: iv, Data: data}}, aesKey, 32)).must(t)
			want := make([]byte, 32)
			cipher.NewCBCEncrypter(aesGo(t, aesVal), iv).CryptBlocks(want, data)
			if !bytes.Equal(got, want) {
				t.Fatalf("derived %x, Go says %x", got, want)
			}
			_, err := f.derive(wire.Mechanism{Type: wire.CKM_AES_CBC_ENCRYPT_DATA,
				Param: &wire.AESCBCEncryptDataParams{IV: iv[:8], Data: data}}, aesKey, 32)
			wantRV(t, err, wire.CKR_MECHANISM_PARAM_INVALID)
		}},
		{"HMAC_GENERAL", func(t *testing.T) {
			key := f.secretKey(wire.CKM_GENERIC_SECRET_KEY_GEN, wire.CKK_GENERIC_SECRET, 32,
				boolA(wire.CKA_SIGN, true), boolA(wire.CKA_VERIFY, true))
			m := wire.Mechanism{Type: wire.CKM_SHA256_HMAC_GENERAL, Param: wire.ULongParam(16)}
			mac, err := f.sign(m, key, msg)
			if !f.hasMech(wire.CKM_SHA256_HMAC_GENERAL) {
				wantRV(t, err, wire.CKR_MECHANISM_INVALID) // SoftHSM2 has no _GENERAL MACs
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := hmac.New(sha256.New, f.value(key, wire.CKA_VALUE).Bytes)
			h.Write(msg)
			if want := h.Sum(nil)[:16]; !bytes.Equal(mac, want) {
				t.Fatalf("MAC %x, Go says %x", mac, want)
			}
			if err := f.verify(m, key, msg, mac); err != nil {
				t.Fatal(err)
			}
		}},
		{"CCM (not in SoftHSM2)", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_AES_CCM, Param: &wire.CCMParams{DataLen: uint64(len(msg)),
				Nonce: bytes.Repeat([]byte{1}, 12), AAD: []byte("a"), MACLen: 16}}
			_, err := f.encrypt(m, aesKey, msg)
			if f.hasMech(wire.CKM_AES_CCM) {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRV(t, err, wire.CKR_MECHANISM_INVALID)
		}},
		{"param of the wrong kind", func(t *testing.T) {
			_, err := f.encrypt(wire.Mechanism{Type: wire.CKM_AES_GCM, Param: wire.BytesParam(iv)}, aesKey, msg)
			wantRV(t, err, wire.CKR_MECHANISM_PARAM_INVALID)
		}},
		{"digest", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_SHA256}
			try(f.m.DigestInit(f.ctx, &wire.DigestInitRequest{Session: f.s, Mechanism: m})).must(t)
			d := try(f.m.Digest(f.ctx, &wire.DigestRequest{Session: f.s, Data: msg})).must(t).Digest
			if want := sha256.Sum256(msg); !bytes.Equal(d, want[:]) {
				t.Fatalf("digest %x", d)
			}
			// DigestUpdate + DigestKey + DigestFinal = SHA-256(msg || key).
			try(f.m.DigestInit(f.ctx, &wire.DigestInitRequest{Session: f.s, Mechanism: m})).must(t)
			try(f.m.DigestUpdate(f.ctx, &wire.DigestUpdateRequest{Session: f.s, Part: msg})).must(t)
			try(f.m.DigestKey(f.ctx, &wire.DigestKeyRequest{Session: f.s, Key: aesKey})).must(t)
			d = try(f.m.DigestFinal(f.ctx, &wire.DigestFinalRequest{Session: f.s})).must(t).Digest
			if want := sha256.Sum256(append(slices.Clone(msg), aesVal...)); !bytes.Equal(d, want[:]) {
				t.Fatalf("digest with key %x", d)
			}
		}},
		{"multi-part sign", func(t *testing.T) {
			m := wire.Mechanism{Type: wire.CKM_SHA256_RSA_PKCS}
			try(f.m.SignInit(f.ctx, &wire.SignInitRequest{Session: f.s, Mechanism: m, Key: priv})).must(t)
			try(f.m.SignUpdate(f.ctx, &wire.SignUpdateRequest{Session: f.s, Part: msg[:5]})).must(t)
			try(f.m.SignUpdate(f.ctx, &wire.SignUpdateRequest{Session: f.s, Part: msg[5:]})).must(t)
			sig := try(f.m.SignFinal(f.ctx, &wire.SignFinalRequest{Session: f.s})).must(t).Signature
			try(f.m.VerifyInit(f.ctx, &wire.VerifyInitRequest{Session: f.s, Mechanism: m, Key: pub})).must(t)
			try(f.m.VerifyUpdate(f.ctx, &wire.VerifyUpdateRequest{Session: f.s, Part: msg})).must(t)
			try(f.m.VerifyFinal(f.ctx, &wire.VerifyFinalRequest{Session: f.s, Signature: sig})).must(t)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestWrapUnwrap(t *testing.T) {
	f := newFix(t, Options{})
	kek := f.aesKey()
	target := f.aesKey()
	want := f.value(target, wire.CKA_VALUE).Bytes
	unwrapTmpl := []wire.Attribute{
		ulA(wire.CKA_CLASS, wire.CKO_SECRET_KEY), ulA(wire.CKA_KEY_TYPE, wire.CKK_AES),
		boolA(wire.CKA_TOKEN, false), boolA(wire.CKA_SENSITIVE, false), boolA(wire.CKA_EXTRACTABLE, true),
	}
	pub, priv := f.rsaKeyPair()
	tests := []struct {
		name       string
		mech       wire.Mechanism
		wrap, unwr uint64
	}{
		{"AES_KEY_WRAP", wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP}, kek, kek},
		{"AES_KEY_WRAP_PAD", wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP_PAD}, kek, kek},
		{"RSA_PKCS_OAEP", wire.Mechanism{Type: wire.CKM_RSA_PKCS_OAEP,
			Param: &wire.OAEPParams{Hash: wire.CKM_SHA_1, MGF: wire.CKG_MGF1_SHA1, Source: wire.CKZ_DATA_SPECIFIED}}, pub, priv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := try(f.m.WrapKey(f.ctx, &wire.WrapKeyRequest{Session: f.s, Mechanism: tc.mech,
				WrappingKey: tc.wrap, Key: target})).must(t).WrappedKey
			k := try(f.m.UnwrapKey(f.ctx, &wire.UnwrapKeyRequest{Session: f.s, Mechanism: tc.mech,
				UnwrappingKey: tc.unwr, WrappedKey: w, Template: unwrapTmpl})).must(t).Key
			if got := f.value(k, wire.CKA_VALUE).Bytes; !bytes.Equal(got, want) {
				t.Fatalf("unwrapped %x, want %x", got, want)
			}
		})
	}
	t.Run("empty wrapped key", func(t *testing.T) {
		// miekg would index &wrapped[0]; the direct call passes NULL, 0.
		_, err := f.m.UnwrapKey(f.ctx, &wire.UnwrapKeyRequest{Session: f.s, Mechanism: wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP},
			UnwrappingKey: kek, Template: unwrapTmpl})
		var rv wire.RV
		if !errors.As(err, &rv) {
			t.Fatalf("UnwrapKey(empty) = %v, want an RV", err)
		}
	})
}

func TestRandom(t *testing.T) {
	f := newFix(t, Options{})
	r := try(f.m.GenerateRandom(f.ctx, &wire.GenerateRandomRequest{Session: f.s, RandomLen: 64})).must(t)
	if len(r.RandomData) != 64 || bytes.Equal(r.RandomData, make([]byte, 64)) {
		t.Fatalf("GenerateRandom(64) = %x", r.RandomData)
	}
	r = try(f.m.GenerateRandom(f.ctx, &wire.GenerateRandomRequest{Session: f.s, RandomLen: 0})).must(t)
	if len(r.RandomData) != 0 {
		t.Fatalf("GenerateRandom(0) = %x", r.RandomData)
	}
	_, err := f.m.GenerateRandom(f.ctx, &wire.GenerateRandomRequest{Session: f.s, RandomLen: 1 << 40})
	wantRV(t, err, wire.CKR_HOST_MEMORY)
	try(f.m.SeedRandom(f.ctx, &wire.SeedRandomRequest{Session: f.s, Seed: []byte("seed")})).must(t)
	// Empty seed: NULL, 0 reaches the module (SoftHSM2 refuses NULL).
	_, err = f.m.SeedRandom(f.ctx, &wire.SeedRandomRequest{Session: f.s})
	wantRV(t, err, wire.CKR_ARGUMENTS_BAD)
}

func TestUnsupportedByTheModule(t *testing.T) {
	f := newFix(t, Options{})
	_, priv := f.rsaKeyPair()
	_, err := f.m.GetFunctionStatus(f.ctx, &wire.GetFunctionStatusRequest{Session: f.s})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_PARALLEL)
	_, err = f.m.CancelFunction(f.ctx, &wire.CancelFunctionRequest{Session: f.s})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_PARALLEL)
	_, err = f.m.GetFunctionStatus(f.ctx, &wire.GetFunctionStatusRequest{Session: 0xdead})
	wantRV(t, err, wire.CKR_SESSION_HANDLE_INVALID)

	start := time.Now()
	_, err = f.m.WaitForSlotEvent(f.ctx, &wire.WaitForSlotEventRequest{Flags: wire.CKF_DONT_BLOCK})
	wantRV(t, err, wire.CKR_NO_EVENT)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("WaitForSlotEvent(DONT_BLOCK) took %v", d)
	}
	_, err = f.m.WaitForSlotEvent(f.ctx, &wire.WaitForSlotEventRequest{})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED) // SoftHSM2 never blocks

	_, err = f.m.GetOperationState(f.ctx, &wire.GetOperationStateRequest{Session: f.s})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	for _, st := range [][]byte{nil, {1, 2, 3}} {
		_, err = f.m.SetOperationState(f.ctx, &wire.SetOperationStateRequest{Session: f.s, OperationState: st})
		wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	}
	_, err = f.m.SignRecoverInit(f.ctx, &wire.SignRecoverInitRequest{Session: f.s,
		Mechanism: wire.Mechanism{Type: wire.CKM_RSA_PKCS}, Key: priv})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	_, err = f.m.SignRecover(f.ctx, &wire.SignRecoverRequest{Session: f.s, Data: []byte("x")})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	_, err = f.m.VerifyRecoverInit(f.ctx, &wire.VerifyRecoverInitRequest{Session: f.s,
		Mechanism: wire.Mechanism{Type: wire.CKM_RSA_PKCS}, Key: priv})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	_, err = f.m.VerifyRecover(f.ctx, &wire.VerifyRecoverRequest{Session: f.s, Signature: []byte("x")})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
	dual := []error{
		try(f.m.DigestEncryptUpdate(f.ctx, &wire.DigestEncryptUpdateRequest{Session: f.s, Part: []byte("x")})).err,
		try(f.m.DecryptDigestUpdate(f.ctx, &wire.DecryptDigestUpdateRequest{Session: f.s, EncryptedPart: []byte("x")})).err,
		try(f.m.SignEncryptUpdate(f.ctx, &wire.SignEncryptUpdateRequest{Session: f.s, Part: []byte("x")})).err,
		try(f.m.DecryptVerifyUpdate(f.ctx, &wire.DecryptVerifyUpdateRequest{Session: f.s, EncryptedPart: []byte("x")})).err,
	}
	for i, err := range dual {
		var rv wire.RV
		if !errors.As(err, &rv) {
			t.Errorf("dual function %d: %v, want an RV", i, err)
		}
	}
}

func TestPINs(t *testing.T) {
	f := newFix(t, Options{})
	s2 := f.session()
	try(f.m.Logout(f.ctx, &wire.LogoutRequest{Session: f.s})).must(t)
	// A nil PIN reaches the module as NULL (protected authentication path);
	// SoftHSM2 has none and says CKR_ARGUMENTS_BAD. An empty one is "".
	_, err := f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER})
	wantRV(t, err, wire.CKR_ARGUMENTS_BAD)
	_, err = f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER, Pin: wire.PIN{}})
	wantRV(t, err, wire.CKR_PIN_INCORRECT)
	_, err = f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER, Pin: wire.PIN("0000")})
	wantRV(t, err, wire.CKR_PIN_INCORRECT)
	try(f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER, Pin: wire.PIN(userPIN)})).must(t)
	try(f.m.SetPIN(f.ctx, &wire.SetPINRequest{Session: s2, OldPin: wire.PIN(userPIN), NewPin: wire.PIN("4321")})).must(t)
	_, err = f.m.SetPIN(f.ctx, &wire.SetPINRequest{Session: s2, OldPin: nil, NewPin: wire.PIN("4321")})
	wantRV(t, err, wire.CKR_ARGUMENTS_BAD)
	try(f.m.Logout(f.ctx, &wire.LogoutRequest{Session: s2})).must(t)
	try(f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER, Pin: wire.PIN("4321")})).must(t)
	try(f.m.Logout(f.ctx, &wire.LogoutRequest{Session: s2})).must(t)
	// The SO sets the user PIN back.
	try(f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_SO, Pin: wire.PIN(soPIN)})).must(t)
	try(f.m.InitPIN(f.ctx, &wire.InitPINRequest{Session: s2, Pin: wire.PIN(userPIN)})).must(t)
	_, err = f.m.InitPIN(f.ctx, &wire.InitPINRequest{Session: s2})
	wantRV(t, err, wire.CKR_ARGUMENTS_BAD)
	try(f.m.Logout(f.ctx, &wire.LogoutRequest{Session: s2})).must(t)
	try(f.m.Login(f.ctx, &wire.LoginRequest{Session: s2, UserType: wire.CKU_USER, Pin: wire.PIN(userPIN)})).must(t)
	try(f.m.CloseSession(f.ctx, &wire.CloseSessionRequest{Session: s2})).must(t)
}

func TestInitToken(t *testing.T) {
	f := newFix(t, Options{})
	// SoftHSM2 always offers one more slot with no initialized token.
	var free uint64
	found := false
	for _, s := range try(f.m.GetSlotList(f.ctx, &wire.GetSlotListRequest{})).must(t).SlotList {
		ti := try(f.m.GetTokenInfo(f.ctx, &wire.GetTokenInfoRequest{SlotID: s})).must(t).Info
		if ti.Flags&wire.CKF_TOKEN_INITIALIZED == 0 {
			free, found = s, true
		}
	}
	if !found {
		t.Fatal("no uninitialized slot")
	}
	label := []byte("second token                    ") // 32 bytes, blank padded
	_, err := f.m.InitToken(f.ctx, &wire.InitTokenRequest{SlotID: free, Label: label})
	wantRV(t, err, wire.CKR_ARGUMENTS_BAD) // NULL PIN
	try(f.m.InitToken(f.ctx, &wire.InitTokenRequest{SlotID: free, Pin: wire.PIN(soPIN), Label: label})).must(t)
	var ti wire.TokenInfo
	for _, s := range try(f.m.GetSlotList(f.ctx, &wire.GetSlotListRequest{TokenPresent: true})).must(t).SlotList {
		if i := try(f.m.GetTokenInfo(f.ctx, &wire.GetTokenInfoRequest{SlotID: s})).must(t).Info; i.Label == "second token" {
			ti = i
		}
	}
	if ti.Label != "second token" || ti.Flags&wire.CKF_TOKEN_INITIALIZED == 0 {
		t.Fatalf("new token: %+v", ti)
	}
	try(f.m.CloseAllSessions(f.ctx, &wire.CloseAllSessionsRequest{SlotID: f.slot})).must(t)
	_, err = f.m.GetSessionInfo(f.ctx, &wire.GetSessionInfoRequest{Session: f.s})
	wantRV(t, err, wire.CKR_SESSION_HANDLE_INVALID)
}

// TestConcurrentSign signs from 8 goroutines, each with its own session.
func TestConcurrentSign(t *testing.T) {
	for _, serial := range []bool{false, true} {
		name := "os-locking"
		if serial {
			name = "serialized"
		}
		t.Run(name, func(t *testing.T) {
			f := newFix(t, Options{Serialize: serial})
			if f.m.Serialized() != serial {
				t.Fatalf("Serialized() = %v", f.m.Serialized())
			}
			pub, priv := f.ecKeyPair()
			const workers, rounds = 8, 25
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := &fix{t: t, m: f.m, slot: f.slot, ctx: f.ctx}
					r, err := f.m.OpenSession(f.ctx, &wire.OpenSessionRequest{SlotID: f.slot, Flags: wire.CKF_SERIAL_SESSION})
					if err != nil {
						errs <- err
						return
					}
					g.s = r.Session
					defer f.m.CloseSession(f.ctx, &wire.CloseSessionRequest{Session: g.s})
					m := wire.Mechanism{Type: wire.CKM_ECDSA}
					for i := range rounds {
						h := sha256.Sum256([]byte{byte(w), byte(i)})
						msg := h[:]
						sig, err := g.sign(m, priv, msg)
						if err == nil {
							err = g.verify(m, pub, msg, sig)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
