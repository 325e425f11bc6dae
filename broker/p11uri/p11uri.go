// Package p11uri parses and matches PKCS #11 URIs (RFC 7512,
// https://www.rfc-editor.org/rfc/rfc7512).
//
//	pkcs11:token=web;serial=0123?pin-source=file:/etc/token_pin
//
// A URI is a plain value: Parse returns a new *URI, and its methods only
// read it, so one URI may be used from many goroutines at once as long as
// nobody writes to its maps.
//
// String never prints a pin-value (it prints pin-value=[redacted]), and
// errors never quote attribute values, so both are safe to log.
//
// Why not github.com/stefanberger/go-pkcs11uri (evaluated on 2026-12-04,
// v0.0.0-20230803200340, against this package's tests): it refuses
// "PKCS11:" (RFC 3986 schemes are case-insensitive), accepts unknown
// attribute names such as "tokn=" (a typo in a [[token]] uri would then
// select every token instead of failing at load), and its errors quote
// attribute values ("slot-id must be a number: abc"), which for a URI
// carrying a pin-value would put the PIN in a log. Matching and
// redaction would stay ours either way.
package p11uri

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gop11/gop11/wire"
)

// Scheme is the URI scheme, without the colon.
const Scheme = "pkcs11"

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid PKCS #11 URI")

// Error says which part of a URI is wrong. It never holds an attribute's
// value, so it can be logged even when the URI holds a PIN.
type Error struct {
	Part string // e.g. `path attribute 2 ("tokn")`; empty for the whole URI
	Msg  string
}

func (e *Error) Error() string {
	if e.Part == "" {
		return "pkcs11 URI: " + e.Msg
	}
	return "pkcs11 URI: " + e.Part + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Path attributes, RFC 7512 section 2.3, in the order String writes them.
var pathAttrs = []string{
	"token", "manufacturer", "serial", "model",
	"library-manufacturer", "library-description", "library-version",
	"slot-manufacturer", "slot-description", "slot-id",
	"object", "type", "id",
}

// Query attributes, RFC 7512 section 2.3, in the order String writes them.
var queryAttrs = []string{"pin-source", "pin-value", "module-name", "module-path"}

// Object types allowed in the type attribute.
var objectTypes = map[string]bool{"cert": true, "data": true, "private": true, "public": true, "secret-key": true}

// URI is a parsed PKCS #11 URI. Path and Query map attribute names to their
// percent-decoded values; both are non-nil after Parse. An attribute with
// an empty value (serial=) is present and matches only an empty field.
type URI struct {
	Path  map[string]string
	Query map[string]string
}

// Parse parses a PKCS #11 URI. The scheme is case-insensitive; attribute
// names are case-sensitive. Path attributes must be those of RFC 7512 or
// vendor attributes (x-name); query attributes likewise, so that a
// misspelt pin-value is refused rather than printed by String. Each
// attribute may appear once. Values are percent-decoded; characters the
// RFC would have escaped are accepted raw (aziot writes
// "pkcs11:token=Key pairs"), except the delimiters ; ? & and a % not
// followed by two hex digits.
func Parse(s string) (*URI, error) {
	if len(s) < len(Scheme)+1 || !strings.EqualFold(s[:len(Scheme)], Scheme) || s[len(Scheme)] != ':' {
		return nil, &Error{Msg: `must start with "pkcs11:"`}
	}
	rest := s[len(Scheme)+1:]
	path, query, hasQuery := strings.Cut(rest, "?")
	u := &URI{Path: map[string]string{}, Query: map[string]string{}}
	if err := parseAttrs(u.Path, path, ";", "path", isPathAttr); err != nil {
		return nil, err
	}
	if hasQuery {
		if err := parseAttrs(u.Query, query, "&", "query", isQueryAttr); err != nil {
			return nil, err
		}
	}
	if err := u.check(); err != nil {
		return nil, err
	}
	return u, nil
}

func parseAttrs(m map[string]string, s, sep, where string, known func(string) bool) error {
	if s == "" {
		return nil
	}
	for i, a := range strings.Split(s, sep) {
		name, raw, ok := strings.Cut(a, "=")
		part := fmt.Sprintf("%s attribute %d", where, i+1)
		if name == "" {
			return &Error{Part: part, Msg: "empty attribute name"}
		}
		if !ok {
			// Without "=", the text may be a value, even a PIN: do not quote it.
			return &Error{Part: part, Msg: `missing "="`}
		}
		part = fmt.Sprintf("%s attribute %d (%q)", where, i+1, name)
		if !known(name) {
			if strings.HasPrefix(name, "x-") {
				return &Error{Part: part, Msg: "vendor attribute name must be x- followed by letters, digits, - or _"}
			}
			return &Error{Part: part, Msg: fmt.Sprintf("unknown %s attribute (vendor attributes start with x-)", where)}
		}
		if _, dup := m[name]; dup {
			return &Error{Part: part, Msg: "duplicate attribute"}
		}
		v, err := unescape(raw)
		if err != nil {
			return &Error{Part: part, Msg: err.Error()}
		}
		m[name] = v
	}
	return nil
}

// check validates the values that have a syntax of their own.
func (u *URI) check() error {
	if v, ok := u.Path["type"]; ok && !objectTypes[v] {
		return &Error{Part: `path attribute "type"`, Msg: "want cert, data, private, public or secret-key"}
	}
	if v, ok := u.Path["slot-id"]; ok {
		if _, err := parseDecimal(v, 64); err != nil {
			return &Error{Part: `path attribute "slot-id"`, Msg: "want a decimal number up to 2^64-1"}
		}
	}
	if v, ok := u.Path["library-version"]; ok {
		if _, _, err := parseVersion(v); err != nil {
			return &Error{Part: `path attribute "library-version"`, Msg: err.Error()}
		}
	}
	_, pv := u.Query["pin-value"]
	_, ps := u.Query["pin-source"]
	if pv && ps {
		return &Error{Part: "query", Msg: "pin-value and pin-source must not both be given"}
	}
	return nil
}

func isPathAttr(n string) bool  { return contains(pathAttrs, n) || isVendorAttr(n) }
func isQueryAttr(n string) bool { return contains(queryAttrs, n) || isVendorAttr(n) }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// isVendorAttr reports whether n is "x-" followed by 1*(ALPHA / DIGIT / "-" / "_").
func isVendorAttr(n string) bool {
	if len(n) < 3 || !strings.HasPrefix(n, "x-") {
		return false
	}
	for i := 2; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape percent-decodes s. Unlike url.PathUnescape it keeps '+' and
// accepts raw characters outside the RFC's set. Its errors give the byte
// offset, never the value.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("invalid percent escape at byte %d of the value", i+1)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("invalid percent escape at byte %d of the value", i+1)
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, bits)
}

// parseVersion parses "M" or "M.m"; "M" means M.0, as in p11-kit.
func parseVersion(s string) (major, minor uint8, err error) {
	ms, ns, dot := strings.Cut(s, ".")
	m, err := parseDecimal(ms, 8)
	if err != nil {
		return 0, 0, errors.New(`want "M" or "M.m", decimal numbers 0..255`)
	}
	var n uint64
	if dot {
		if n, err = parseDecimal(ns, 8); err != nil {
			return 0, 0, errors.New(`want "M" or "M.m", decimal numbers 0..255`)
		}
	}
	return uint8(m), uint8(n), nil
}

// Accessors for the attributes the broker uses. Each returns the decoded
// value and whether the attribute is present.

func (u *URI) get(n string) (string, bool) { v, ok := u.Path[n]; return v, ok }

// Token returns the token attribute (CK_TOKEN_INFO.label).
func (u *URI) Token() (string, bool) { return u.get("token") }

// Manufacturer returns the manufacturer attribute (CK_TOKEN_INFO.manufacturerID).
func (u *URI) Manufacturer() (string, bool) { return u.get("manufacturer") }

// Serial returns the serial attribute (CK_TOKEN_INFO.serialNumber).
func (u *URI) Serial() (string, bool) { return u.get("serial") }

// Model returns the model attribute (CK_TOKEN_INFO.model).
func (u *URI) Model() (string, bool) { return u.get("model") }

// Object returns the object attribute (CKA_LABEL).
func (u *URI) Object() (string, bool) { return u.get("object") }

// Type returns the type attribute: cert, data, private, public or secret-key.
func (u *URI) Type() (string, bool) { return u.get("type") }

// ID returns the id attribute (CKA_ID) as bytes.
func (u *URI) ID() ([]byte, bool) {
	v, ok := u.get("id")
	if !ok {
		return nil, false
	}
	return []byte(v), true
}

// SlotID returns the slot-id attribute.
func (u *URI) SlotID() (uint64, bool) {
	v, ok := u.get("slot-id")
	if !ok {
		return 0, false
	}
	n, err := parseDecimal(v, 64)
	return n, err == nil
}

// LibraryVersion returns the library-version attribute; "M" gives minor 0.
func (u *URI) LibraryVersion() (major, minor uint8, ok bool) {
	v, ok := u.get("library-version")
	if !ok {
		return 0, 0, false
	}
	major, minor, err := parseVersion(v)
	return major, minor, err == nil
}

// PIN returns the pin-value query attribute.
func (u *URI) PIN() (string, bool) { v, ok := u.Query["pin-value"]; return v, ok }

// PINSource returns the pin-source query attribute.
func (u *URI) PINSource() (string, bool) { v, ok := u.Query["pin-source"]; return v, ok }

// ModuleName returns the module-name query attribute.
func (u *URI) ModuleName() (string, bool) { v, ok := u.Query["module-name"]; return v, ok }

// ModulePath returns the module-path query attribute.
func (u *URI) ModulePath() (string, bool) { v, ok := u.Query["module-path"]; return v, ok }

// match reports whether attribute n is absent or equals field with its
// trailing blanks removed (CK_*_INFO pads text fields with spaces).
func (u *URI) match(n, field string) bool {
	v, ok := u.Path[n]
	return !ok || v == strings.TrimRight(field, " ")
}

// MatchToken reports whether the token, manufacturer, model and serial
// attributes, where present, equal the CK_TOKEN_INFO fields given.
func (u *URI) MatchToken(label, manufacturer, model, serial string) bool {
	return u.match("token", label) && u.match("manufacturer", manufacturer) &&
		u.match("model", model) && u.match("serial", serial)
}

// MatchSlot reports whether the slot-id, slot-description and
// slot-manufacturer attributes, where present, match the slot.
func (u *URI) MatchSlot(slotID uint64, description, manufacturer string) bool {
	if _, ok := u.Path["slot-id"]; ok {
		if id, ok := u.SlotID(); !ok || id != slotID {
			return false
		}
	}
	return u.match("slot-description", description) && u.match("slot-manufacturer", manufacturer)
}

// MatchLibrary reports whether the library-manufacturer,
// library-description and library-version attributes, where present,
// match the CK_INFO fields given.
func (u *URI) MatchLibrary(manufacturer, description string, major, minor uint8) bool {
	if _, ok := u.Path["library-version"]; ok {
		M, m, ok := u.LibraryVersion()
		if !ok || M != major || m != minor {
			return false
		}
	}
	return u.match("library-manufacturer", manufacturer) && u.match("library-description", description)
}

// Redacted replaces the value of pin-value in String.
const Redacted = "[redacted]"

// String returns the URI in canonical form: path attributes in RFC order,
// then vendor attributes sorted; values percent-encoded wherever RFC 7512
// does not allow the character raw. A pin-value is written as
// pin-value=[redacted], so the result can be logged (and will not parse
// back to the same PIN).
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(Scheme + ":")
	writeAttrs(&b, u.Path, pathAttrs, ';', pathSafe)
	if len(u.Query) > 0 {
		b.WriteByte('?')
		writeAttrs(&b, u.Query, queryAttrs, '&', querySafe)
	}
	return b.String()
}

func writeAttrs(b *strings.Builder, m map[string]string, order []string, sep byte, safe func(byte) bool) {
	names := make([]string, 0, len(m))
	for _, n := range order {
		if _, ok := m[n]; ok {
			names = append(names, n)
		}
	}
	var vendor []string
	for n := range m {
		if !contains(order, n) {
			vendor = append(vendor, n)
		}
	}
	sort.Strings(vendor)
	for i, n := range append(names, vendor...) {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(n)
		b.WriteByte('=')
		if n == "pin-value" {
			b.WriteString(Redacted)
			continue
		}
		escape(b, m[n], safe)
	}
}

const hexDigits = "0123456789ABCDEF"

func escape(b *strings.Builder, v string, safe func(byte) bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pathSafe: pk11-pchar = unreserved / pk11-res-avail / "&", less "%".
func pathSafe(c byte) bool { return unreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0 }

// querySafe: pk11-qchar = unreserved / pk11-res-avail / "/" / "?" / "|".
func querySafe(c byte) bool { return unreserved(c) || strings.IndexByte(":[]@!$'()*+,=/?|", c) >= 0 }

// MatchSlotInfo reports whether slot, as the module's C_GetInfo,
// C_GetSlotInfo and C_GetTokenInfo describe it, matches u's library, slot
// and token attributes. PKCS #11 pads these strings with spaces.
func (u *URI) MatchSlotInfo(slot uint64, lib wire.Info, si wire.SlotInfo, ti wire.TokenInfo) bool {
	t := func(s string) string { return strings.TrimRight(s, " ") }
	return u.MatchLibrary(t(lib.ManufacturerID), t(lib.LibraryDescription), lib.LibraryVersion.Major, lib.LibraryVersion.Minor) &&
		u.MatchSlot(slot, t(si.SlotDescription), t(si.ManufacturerID)) &&
		u.MatchToken(t(ti.Label), t(ti.ManufacturerID), t(ti.Model), t(ti.SerialNumber))
}
