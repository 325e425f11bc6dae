package wire

import (
	"fmt"
	"strings"
	"sync"
)

// Vendor mechanisms declared in configuration ([[mechanism]] in
// broker.toml and client.toml): a mechanism type and the layout of its
// parameter, from a small vocabulary, so a site can carry a vendor's
// struct without a new build. The layout is one of
//
//	bytes                     the parameter is a byte string
//	ulong                     the parameter is one CK_ULONG
//	struct(F, F, ...)         a C struct of these fields, in order:
//	    ulong                 a CK_ULONG
//	    bool                  a CK_BBOOL
//	    bytes                 a CK_BYTE_PTR, then its CK_ULONG length
//	    len_bytes             a CK_ULONG length, then its CK_BYTE_PTR
//
// with the platform's natural alignment. The parameter travels as
// VendorParams, self-describing; each side checks it against its own
// declaration, so an undeclared or differently declared mechanism is
// still refused (CKR_MECHANISM_PARAM_INVALID).

// VendorField is one field of a vendor struct.
type VendorField uint8

const (
	FieldULong VendorField = iota + 1
	FieldBool
	FieldBytes    // pointer, then length
	FieldLenBytes // length, then pointer
)

var fieldNames = map[string]VendorField{"ulong": FieldULong, "bool": FieldBool, "bytes": FieldBytes, "len_bytes": FieldLenBytes}

// VendorLayout is a declared parameter layout: a byte string, a CK_ULONG,
// or a struct of Fields.
type VendorLayout struct {
	Kind   ParamKind // ParamBytes, ParamULong or ParamVendor
	Fields []VendorField
}

// maxVendorFields bounds a declared struct.
const maxVendorFields = 32

// ParseVendorLayout reads a layout as written in a config file.
func ParseVendorLayout(s string) (VendorLayout, error) {
	t := strings.TrimSpace(s)
	switch t {
	case "bytes":
		return VendorLayout{Kind: ParamBytes}, nil
	case "ulong":
		return VendorLayout{Kind: ParamULong}, nil
	}
	inner, ok := strings.CutPrefix(t, "struct(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return VendorLayout{}, fmt.Errorf(`%q: want "bytes", "ulong" or "struct(FIELD, ...)"`, s)
	}
	l := VendorLayout{Kind: ParamVendor}
	for _, f := range strings.Split(strings.TrimSuffix(inner, ")"), ",") {
		k, ok := fieldNames[strings.TrimSpace(f)]
		if !ok {
			return VendorLayout{}, fmt.Errorf("%q: field %q: want ulong, bool, bytes or len_bytes", s, strings.TrimSpace(f))
		}
		l.Fields = append(l.Fields, k)
	}
	if len(l.Fields) > maxVendorFields {
		return VendorLayout{}, fmt.Errorf("%q: more than %d fields", s, maxVendorFields)
	}
	return l, nil
}

func (l VendorLayout) String() string {
	switch l.Kind {
	case ParamBytes:
		return "bytes"
	case ParamULong:
		return "ulong"
	}
	var names []string
	for _, f := range l.Fields {
		for n, k := range fieldNames {
			if k == f {
				names = append(names, n)
			}
		}
	}
	return "struct(" + strings.Join(names, ", ") + ")"
}

// VendorValue is one field's value: ULong for ulong, Bool for bool,
// Bytes for bytes and len_bytes.
type VendorValue struct {
	_msgpack struct{} `msgpack:",as_array"`
	Field    VendorField
	ULong    uint64
	Bool     bool
	Bytes    []byte
}

// VendorParams is a declared vendor struct's value, field by field.
type VendorParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	Fields   []VendorValue
}

func (*VendorParams) Kind() ParamKind { return ParamVendor }

// Matches reports whether p has layout l's fields.
func (p *VendorParams) Matches(l VendorLayout) bool {
	if p == nil || l.Kind != ParamVendor || len(p.Fields) != len(l.Fields) {
		return false
	}
	for i, f := range p.Fields {
		if f.Field != l.Fields[i] {
			return false
		}
	}
	return true
}

var vendor struct {
	sync.RWMutex
	layouts map[uint64]VendorLayout
}

// SetVendorMechanisms replaces the process's declared vendor mechanisms
// (a config load or reload).
func SetVendorMechanisms(m map[uint64]VendorLayout) {
	vendor.Lock()
	defer vendor.Unlock()
	vendor.layouts = m
}

// VendorLayoutOf is mechanism m's declared layout, if any.
func VendorLayoutOf(m uint64) (VendorLayout, bool) {
	vendor.RLock()
	defer vendor.RUnlock()
	l, ok := vendor.layouts[m]
	return l, ok
}

// CMember is one C member of a declared struct: Field is the index of its
// field, Len tells a bytes field's length from its pointer.
type CMember struct {
	Field int
	Kind  CMemberKind
	Off   int
}

// CMemberKind is what a C member holds.
type CMemberKind uint8

const (
	MemberULong CMemberKind = iota // CK_ULONG (a ulong field, or a bytes field's length)
	MemberBool                     // CK_BBOOL
	MemberPtr                      // CK_BYTE_PTR
)

// CLayout places l's C members for a platform whose CK_ULONG and pointers
// have the given sizes, each at its natural alignment but at most pack
// (Windows packs PKCS #11 structures to 1 byte), and returns the struct's
// size.
func (l VendorLayout) CLayout(ulongSize, ptrSize, pack int) ([]CMember, int) {
	var ms []CMember
	off, align := 0, 1
	put := func(field int, k CMemberKind) {
		size := map[CMemberKind]int{MemberULong: ulongSize, MemberBool: 1, MemberPtr: ptrSize}[k]
		a := min(size, pack)
		off = (off + a - 1) / a * a
		ms = append(ms, CMember{Field: field, Kind: k, Off: off})
		off += size
		align = max(align, a)
	}
	for i, f := range l.Fields {
		switch f {
		case FieldULong:
			put(i, MemberULong)
		case FieldBool:
			put(i, MemberBool)
		case FieldBytes:
			put(i, MemberPtr)
			put(i, MemberULong)
		case FieldLenBytes:
			put(i, MemberULong)
			put(i, MemberPtr)
		}
	}
	return ms, (off + align - 1) / align * align
}

// MechanismDecl is one [[mechanism]] of a config file.
type MechanismDecl struct {
	Type   *uint64 `toml:"type"`   // the mechanism type, e.g. 0x80000F11
	Name   string  `toml:"name"`   // optional, for people
	Layout string  `toml:"layout"` // see ParseVendorLayout
}

// Check reads one declaration: its layout, or what is wrong with it. A
// built-in mechanism cannot be declared: its layout is the spec's.
func (d MechanismDecl) Check() (VendorLayout, error) {
	switch {
	case d.Type == nil:
		return VendorLayout{}, fmt.Errorf("type: missing")
	case mechParams[*d.Type] != ParamNone:
		return VendorLayout{}, fmt.Errorf("type %#x is %s, whose parameter layout is built in", *d.Type, MechanismName(*d.Type))
	}
	l, err := ParseVendorLayout(d.Layout)
	if err != nil {
		return VendorLayout{}, fmt.Errorf("layout: %v", err)
	}
	return l, nil
}

// VendorMechanisms checks declarations and returns their layouts by type.
func VendorMechanisms(decls []MechanismDecl) (map[uint64]VendorLayout, error) {
	out := make(map[uint64]VendorLayout, len(decls))
	for i, d := range decls {
		at := fmt.Sprintf("mechanism[%d]", i+1)
		if d.Name != "" {
			at += " (" + d.Name + ")"
		}
		l, err := d.Check()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", at, err)
		}
		if _, dup := out[*d.Type]; dup {
			return nil, fmt.Errorf("%s: type %#x declared twice", at, *d.Type)
		}
		out[*d.Type] = l
	}
	return out, nil
}
