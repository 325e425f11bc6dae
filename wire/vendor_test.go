package wire_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gop11/gop11/wire"
)

func TestParseVendorLayout(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the result; "" for an error
		members []wire.CMember
		size    int
	}{
		{in: "bytes", want: "bytes"},
		{in: " ulong ", want: "ulong"},
		{in: "struct(ulong, bytes)", want: "struct(ulong, bytes)", size: 24, members: []wire.CMember{
			{Field: 0, Kind: wire.MemberULong, Off: 0}, {Field: 1, Kind: wire.MemberPtr, Off: 8}, {Field: 1, Kind: wire.MemberULong, Off: 16}}},
		// CK_EDDSA_PARAMS: a CK_BBOOL, then padding to the length.
		{in: "struct(bool, len_bytes)", want: "struct(bool, len_bytes)", size: 24, members: []wire.CMember{
			{Field: 0, Kind: wire.MemberBool, Off: 0}, {Field: 1, Kind: wire.MemberULong, Off: 8}, {Field: 1, Kind: wire.MemberPtr, Off: 16}}},
		// Two bools share a word; the struct is padded to its alignment.
		{in: "struct(ulong,bool,bool)", want: "struct(ulong, bool, bool)", size: 16, members: []wire.CMember{
			{Field: 0, Kind: wire.MemberULong, Off: 0}, {Field: 1, Kind: wire.MemberBool, Off: 8}, {Field: 2, Kind: wire.MemberBool, Off: 9}}},
		{in: ""},
		{in: "struct()"},
		{in: "struct(ulong, pointer)"},
		{in: "struct(ulong"},
		{in: "u32"},
		{in: "struct(" + strings.Repeat("ulong,", 32) + "ulong)"},
	}
	for _, tt := range tests {
		l, err := wire.ParseVendorLayout(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseVendorLayout(%q) = %v, want an error", tt.in, l)
			}
			continue
		}
		if err != nil || l.String() != tt.want {
			t.Errorf("ParseVendorLayout(%q) = %v, %v; want %s", tt.in, l, err, tt.want)
			continue
		}
		if tt.members != nil {
			ms, size := l.CLayout(8, 8, 8)
			if !slices.Equal(ms, tt.members) || size != tt.size {
				t.Errorf("%s: CLayout = %v, %d; want %v, %d", tt.in, ms, size, tt.members, tt.size)
			}
		}
	}
}

// TestCLayoutPacked: the Windows ABI, 32-bit CK_ULONG and structures
// packed to 1 byte (CK_EDDSA_PARAMS there is 13 bytes).
func TestCLayoutPacked(t *testing.T) {
	tests := []struct {
		in      string
		members []wire.CMember
		size    int
	}{
		{"struct(bool, len_bytes)", []wire.CMember{
			{Field: 0, Kind: wire.MemberBool, Off: 0}, {Field: 1, Kind: wire.MemberULong, Off: 1}, {Field: 1, Kind: wire.MemberPtr, Off: 5}}, 13},
		{"struct(ulong, bytes, bool)", []wire.CMember{
			{Field: 0, Kind: wire.MemberULong, Off: 0}, {Field: 1, Kind: wire.MemberPtr, Off: 4}, {Field: 1, Kind: wire.MemberULong, Off: 12},
			{Field: 2, Kind: wire.MemberBool, Off: 16}}, 17},
	}
	for _, tt := range tests {
		l, err := wire.ParseVendorLayout(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if ms, size := l.CLayout(4, 8, 1); !slices.Equal(ms, tt.members) || size != tt.size {
			t.Errorf("%s: CLayout(4, 8, 1) = %v, %d; want %v, %d", tt.in, ms, size, tt.members, tt.size)
		}
	}
}

func TestVendorMechanisms(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name  string
		decls []wire.MechanismDecl
		err   string
	}{
		{"good", []wire.MechanismDecl{{Type: u(0x80000f11), Layout: "struct(ulong, bytes)"}, {Type: u(0x80000f12), Layout: "bytes"}}, ""},
		{"no type", []wire.MechanismDecl{{Layout: "bytes"}}, "type: missing"},
		{"built in", []wire.MechanismDecl{{Type: u(wire.CKM_AES_GCM), Layout: "bytes"}}, "built in"},
		{"twice", []wire.MechanismDecl{{Type: u(0x80000f11), Layout: "bytes"}, {Type: u(0x80000f11), Layout: "ulong"}}, "declared twice"},
		{"bad layout", []wire.MechanismDecl{{Type: u(0x80000f11), Name: "mine", Layout: "struct(float)"}}, `mechanism[1] (mine): layout`},
	}
	for _, tt := range tests {
		m, err := wire.VendorMechanisms(tt.decls)
		switch {
		case tt.err == "" && (err != nil || len(m) != len(tt.decls)):
			t.Errorf("%s: %v, %v", tt.name, m, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.err)
		}
	}
}

// A declared mechanism's parameter kind is known; VendorParams checks its
// fields against the declaration.
func TestVendorDeclared(t *testing.T) {
	l, _ := wire.ParseVendorLayout("struct(ulong, bytes)")
	wire.SetVendorMechanisms(map[uint64]wire.VendorLayout{0x80000f11: l})
	defer wire.SetVendorMechanisms(nil)
	if k, ok := wire.ParamKindOf(0x80000f11); !ok || k != wire.ParamVendor {
		t.Errorf("ParamKindOf(declared) = %v, %v", k, ok)
	}
	if _, ok := wire.ParamKindOf(0x80000f12); ok {
		t.Error("an undeclared vendor mechanism has a known layout")
	}
	good := &wire.VendorParams{Fields: []wire.VendorValue{{Field: wire.FieldULong, ULong: 1}, {Field: wire.FieldBytes, Bytes: []byte("x")}}}
	bad := &wire.VendorParams{Fields: []wire.VendorValue{{Field: wire.FieldULong}, {Field: wire.FieldBool}}}
	if !good.Matches(l) || bad.Matches(l) || (&wire.VendorParams{}).Matches(l) {
		t.Error("Matches does not check the fields")
	}
}

func FuzzVendorLayout(f *testing.F) {
	for _, s := range []string{"bytes", "ulong", "struct(ulong, bytes)", "struct(bool,len_bytes,ulong)", "struct("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := wire.ParseVendorLayout(s)
		if err != nil {
			return
		}
		again, err := wire.ParseVendorLayout(l.String())
		if err != nil || again.String() != l.String() {
			t.Fatalf("%q → %q does not parse back: %v", s, l, err)
		}
		ms, size := l.CLayout(8, 8, 8)
		for _, m := range ms {
			if m.Off < 0 || m.Off >= size {
				t.Fatalf("%q: member at %d of a %d-byte struct", s, m.Off, size)
			}
		}
	})
}
