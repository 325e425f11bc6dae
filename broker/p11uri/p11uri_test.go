package p11uri

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

type attrs = map[string]string

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in          string
		path, query attrs
	}{
		// RFC 7512 section 3 examples.
		{"pkcs11:", attrs{}, attrs{}},
		{"pkcs11:object=my-pubkey;type=public", attrs{"object": "my-pubkey", "type": "public"}, attrs{}},
		{"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
			attrs{"object": "my-key", "type": "private"}, attrs{"pin-source": "file:/etc/token"}},
		{"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
			attrs{"token": "The Software PKCS#11 Softtoken", "manufacturer": "Snake Oil, Inc.", "model": "1.0",
				"object": "my-certificate", "type": "cert", "id": "\x69\x95\x3e\x5c\xf4\xbd\xec\x91", "serial": ""},
			attrs{"pin-source": "file:/etc/token_pin"}},
		{"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
			attrs{"object": "my-sign-key", "type": "private"}, attrs{"module-name": "mypkcs11"}},
		{"pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
			attrs{"object": "my-sign-key", "type": "private"}, attrs{"module-path": "/mnt/libmypkcs11.so.1"}},
		{"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
			attrs{"token": "Software PKCS#11 softtoken", "manufacturer": "Snake Oil, Inc."}, attrs{"pin-value": "the-pin"}},
		{"pkcs11:slot-description=Sun%20Metaslot", attrs{"slot-description": "Sun Metaslot"}, attrs{}},
		{"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
			attrs{"library-manufacturer": "Snake Oil, Inc.", "library-description": "Soft Token Library", "library-version": "1.23"}, attrs{}},
		{"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
			attrs{"token": "A name with a substring %;", "object": "my-certificate", "type": "cert"}, attrs{}},
		{"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
			attrs{"token": "Name with a small A with acute: á", "object": "my-certificate", "type": "cert"}, attrs{}},
		{"pkcs11:token=my-token;object=my-certificate;type=cert;x-vendor-aaa=value-a?pin-source=file:/etc/token_pin&x-vendor-bbb=value-b",
			attrs{"token": "my-token", "object": "my-certificate", "type": "cert", "x-vendor-aaa": "value-a"},
			attrs{"pin-source": "file:/etc/token_pin", "x-vendor-bbb": "value-b"}},
		// As aziot-keyd writes it: a raw space.
		{"pkcs11:token=Key pairs?pin-value=1234", attrs{"token": "Key pairs"}, attrs{"pin-value": "1234"}},
		// Scheme is case-insensitive; '+' is not a space; '=' may appear in a value.
		{"PKCS11:token=a+b=c", attrs{"token": "a+b=c"}, attrs{}},
		{"pkcs11:slot-id=18446744073709551615;library-version=7", attrs{"slot-id": "18446744073709551615", "library-version": "7"}, attrs{}},
		{"pkcs11:?", attrs{}, attrs{}},
		{"pkcs11:?module-path=/a/b?c", attrs{}, attrs{"module-path": "/a/b?c"}},
		{"pkcs11:id=%00%ff", attrs{"id": "\x00\xff"}, attrs{}},
	} {
		u, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !maps.Equal(u.Path, tc.path) || !maps.Equal(u.Query, tc.query) {
			t.Errorf("Parse(%q) = path %q query %q, want %q %q", tc.in, u.Path, u.Query, tc.path, tc.query)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `pkcs11 URI: must start with "pkcs11:"`},
		{"pkcs11", `pkcs11 URI: must start with "pkcs11:"`},
		{"pkcs12:token=a", `pkcs11 URI: must start with "pkcs11:"`},
		{"token=a", `pkcs11 URI: must start with "pkcs11:"`},
		{"pkcs11:tokn=a", `pkcs11 URI: path attribute 1 ("tokn"): unknown path attribute (vendor attributes start with x-)`},
		{"pkcs11:token=a;Token=b", `pkcs11 URI: path attribute 2 ("Token"): unknown path attribute (vendor attributes start with x-)`},
		{"pkcs11:token=a?pin-valu=1234", `pkcs11 URI: query attribute 1 ("pin-valu"): unknown query attribute (vendor attributes start with x-)`},
		{"pkcs11:token=a?module-path=/x&token=b", `pkcs11 URI: query attribute 2 ("token"): unknown query attribute (vendor attributes start with x-)`},
		{"pkcs11:x-=a", `pkcs11 URI: path attribute 1 ("x-"): vendor attribute name must be x- followed by letters, digits, - or _`},
		{"pkcs11:x-a.b=a", `pkcs11 URI: path attribute 1 ("x-a.b"): vendor attribute name must be x- followed by letters, digits, - or _`},
		{"pkcs11:token=a;token=b", `pkcs11 URI: path attribute 2 ("token"): duplicate attribute`},
		{"pkcs11:?pin-source=a&pin-source=b", `pkcs11 URI: query attribute 2 ("pin-source"): duplicate attribute`},
		{"pkcs11:=a", `pkcs11 URI: path attribute 1: empty attribute name`},
		{"pkcs11:token=a;", `pkcs11 URI: path attribute 2: empty attribute name`},
		{"pkcs11:token=a;;serial=b", `pkcs11 URI: path attribute 2: empty attribute name`},
		{"pkcs11:token=a?&", `pkcs11 URI: query attribute 1: empty attribute name`},
		{"pkcs11:token", `pkcs11 URI: path attribute 1: missing "="`},
		{"pkcs11:token=a?1234", `pkcs11 URI: query attribute 1: missing "="`},
		{"pkcs11:token=a%2", `pkcs11 URI: path attribute 1 ("token"): invalid percent escape at byte 2 of the value`},
		{"pkcs11:token=%zz", `pkcs11 URI: path attribute 1 ("token"): invalid percent escape at byte 1 of the value`},
		{"pkcs11:token=100%", `pkcs11 URI: path attribute 1 ("token"): invalid percent escape at byte 4 of the value`},
		{"pkcs11:type=key", `pkcs11 URI: path attribute "type": want cert, data, private, public or secret-key`},
		{"pkcs11:slot-id=0x10", `pkcs11 URI: path attribute "slot-id": want a decimal number up to 2^64-1`},
		{"pkcs11:slot-id=-1", `pkcs11 URI: path attribute "slot-id": want a decimal number up to 2^64-1`},
		{"pkcs11:slot-id=18446744073709551616", `pkcs11 URI: path attribute "slot-id": want a decimal number up to 2^64-1`},
		{"pkcs11:slot-id=", `pkcs11 URI: path attribute "slot-id": want a decimal number up to 2^64-1`},
		{"pkcs11:library-version=1.", `pkcs11 URI: path attribute "library-version": want "M" or "M.m", decimal numbers 0..255`},
		{"pkcs11:library-version=256", `pkcs11 URI: path attribute "library-version": want "M" or "M.m", decimal numbers 0..255`},
		{"pkcs11:library-version=1.2.3", `pkcs11 URI: path attribute "library-version": want "M" or "M.m", decimal numbers 0..255`},
		{"pkcs11:?pin-value=1234&pin-source=file:/p", `pkcs11 URI: query: pin-value and pin-source must not both be given`},
	} {
		u, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error %q", tc.in, u, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.in, err, tc.want)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v does not wrap ErrInvalid", tc.in, err)
		}
	}
}

// An error about a pin-value must not print it.
func TestErrorHidesPIN(t *testing.T) {
	for _, in := range []string{
		"pkcs11:?pin-value=s3cr%zz",
		"pkcs11:?pin-value=s3cr&pin-value=s3cr",
		"pkcs11:?pin-value=s3cr&pin-source=s3cr",
		"pkcs11:?pin-value=s3cr&x=1",
		"pkcs11:?s3cr",
		"pkcs11:token=%zz?pin-value=s3cr",
	} {
		_, err := Parse(in)
		if err == nil || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("Parse(%q) = %v", in, err)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pkcs11:", "pkcs11:"},
		{"pkcs11:?", "pkcs11:"},
		{"PKCS11:type=cert;token=a", "pkcs11:token=a;type=cert"},
		{"pkcs11:token=Key pairs?pin-value=1234", "pkcs11:token=Key%20pairs?pin-value=[redacted]"},
		{"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
			"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;serial=;model=1.0;object=my-certificate;type=cert;id=i%95%3E%5C%F4%BD%EC%91?pin-source=file:/etc/token_pin"},
		{"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B", "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B"},
		{"pkcs11:token=%3f%2F%26%3D%7C", "pkcs11:token=%3F%2F&=%7C"},
		{"pkcs11:x-b=1;x-a=2;token=t?x-z=%26&module-path=/a?b|c", "pkcs11:token=t;x-a=2;x-b=1?module-path=/a?b|c&x-z=%26"},
		{"pkcs11:token=á", "pkcs11:token=%C3%A1"},
	} {
		u, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if got := u.String(); got != tc.want {
			t.Errorf("Parse(%q).String():\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	u, err := Parse("pkcs11:token=t;manufacturer=m;serial=s;model=o;object=obj;type=secret-key;id=%01%02;slot-id=42;library-version=2.40?pin-value=1234&module-name=n&module-path=/p")
	if err != nil {
		t.Fatal(err)
	}
	str := func(v string, ok bool) string {
		if !ok {
			return "<absent>"
		}
		return v
	}
	for _, c := range []struct{ got, want string }{
		{str(u.Token()), "t"}, {str(u.Manufacturer()), "m"}, {str(u.Serial()), "s"}, {str(u.Model()), "o"},
		{str(u.Object()), "obj"}, {str(u.Type()), "secret-key"}, {str(u.PIN()), "1234"},
		{str(u.PINSource()), "<absent>"}, {str(u.ModuleName()), "n"}, {str(u.ModulePath()), "/p"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if id, ok := u.ID(); !ok || string(id) != "\x01\x02" {
		t.Errorf("ID() = %x, %v", id, ok)
	}
	if id, ok := u.SlotID(); !ok || id != 42 {
		t.Errorf("SlotID() = %d, %v", id, ok)
	}
	if M, m, ok := u.LibraryVersion(); !ok || M != 2 || m != 40 {
		t.Errorf("LibraryVersion() = %d.%d, %v", M, m, ok)
	}
	e, _ := Parse("pkcs11:")
	if _, ok := e.ID(); ok {
		t.Error("ID() present in pkcs11:")
	}
	if _, ok := e.SlotID(); ok {
		t.Error("SlotID() present in pkcs11:")
	}
	if _, _, ok := e.LibraryVersion(); ok {
		t.Error("LibraryVersion() present in pkcs11:")
	}
}

// pad pads s with blanks to n bytes, as CK_TOKEN_INFO and CK_SLOT_INFO do.
func pad(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }

func TestMatchToken(t *testing.T) {
	label, manuf, model, serial := pad("web", 32), pad("SoftHSM project", 32), pad("SoftHSM v2", 16), pad("0123", 16)
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"pkcs11:", true},
		{"pkcs11:token=web", true},
		{"pkcs11:token=web;serial=0123", true},
		{"pkcs11:token=web;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0123", true},
		{"pkcs11:token=Web", false},
		{"pkcs11:token=web%20", false}, // the URI's value is not trimmed
		{"pkcs11:token=we", false},
		{"pkcs11:token=web;serial=0124", false},
		{"pkcs11:serial=", false}, // empty matches only an empty field
		{"pkcs11:model=SoftHSM", false},
		{"pkcs11:manufacturer=x", false},
		// Attributes of other kinds do not take part.
		{"pkcs11:token=web;slot-id=7;library-version=9;object=k;x-foo=bar", true},
	} {
		u, err := Parse(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchToken(label, manuf, model, serial); got != tc.want {
			t.Errorf("%s MatchToken = %v, want %v", tc.uri, got, tc.want)
		}
	}
	u, _ := Parse("pkcs11:serial=")
	if !u.MatchToken("a", "b", "c", pad("", 16)) {
		t.Error("serial= does not match a blank serial")
	}
}

func TestMatchSlot(t *testing.T) {
	desc, manuf := pad("SoftHSM slot ID 0x2a", 64), pad("SoftHSM project", 32)
	for _, tc := range []struct {
		uri  string
		id   uint64
		want bool
	}{
		{"pkcs11:", 42, true},
		{"pkcs11:slot-id=42", 42, true},
		{"pkcs11:slot-id=042", 42, true},
		{"pkcs11:slot-id=42", 43, false},
		{"pkcs11:slot-id=18446744073709551615", 1<<64 - 1, true},
		{"pkcs11:slot-description=SoftHSM%20slot%20ID%200x2a;slot-manufacturer=SoftHSM%20project", 0, true},
		{"pkcs11:slot-description=SoftHSM", 0, false},
		{"pkcs11:slot-manufacturer=other", 0, false},
		{"pkcs11:token=other", 0, true},
	} {
		u, err := Parse(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchSlot(tc.id, desc, manuf); got != tc.want {
			t.Errorf("%s MatchSlot(%d) = %v, want %v", tc.uri, tc.id, got, tc.want)
		}
	}
}

func TestMatchLibrary(t *testing.T) {
	manuf, desc := pad("SoftHSM", 32), pad("Implementation of PKCS11", 32)
	for _, tc := range []struct {
		uri          string
		major, minor uint8
		want         bool
	}{
		{"pkcs11:", 2, 6, true},
		{"pkcs11:library-version=2.6", 2, 6, true},
		{"pkcs11:library-version=2.06", 2, 6, true},
		{"pkcs11:library-version=2.60", 2, 6, false},
		{"pkcs11:library-version=2", 2, 6, false}, // "M" means M.0, as in p11-kit
		{"pkcs11:library-version=2", 2, 0, true},
		{"pkcs11:library-version=3.6", 2, 6, false},
		{"pkcs11:library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11", 2, 6, true},
		{"pkcs11:library-manufacturer=softhsm", 2, 6, false},
		{"pkcs11:library-description=Implementation", 2, 6, false},
	} {
		u, err := Parse(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.MatchLibrary(manuf, desc, tc.major, tc.minor); got != tc.want {
			t.Errorf("%s MatchLibrary(%d.%d) = %v, want %v", tc.uri, tc.major, tc.minor, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"pkcs11:",
		"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
		"pkcs11:token=Key pairs?pin-value=1234",
		"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
		"pkcs11:slot-id=42;slot-description=x?module-path=/a?b&x-y=%26",
		"pkcs11:x-a=;token=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		out := u.String()
		v, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, Parse(String() = %q): %v", s, out, err)
		}
		want := maps.Clone(u.Query)
		if _, ok := u.PIN(); ok {
			// The PIN never leaves: String writes [redacted] instead.
			want["pin-value"] = Redacted
		}
		if !maps.Equal(u.Path, v.Path) || !maps.Equal(want, v.Query) {
			t.Fatalf("%q → %q: %q %q, then %q %q", s, out, u.Path, want, v.Path, v.Query)
		}
		if again := v.String(); again != out {
			t.Fatalf("String() not canonical: %q then %q", out, again)
		}
	})
}
