package wire

import (
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// AttrKind says how an attribute value is typed on the wire. Values whose
// C form holds a CK_ULONG or pointers cannot travel as raw bytes: a 32-bit
// and a 64-bit peer disagree on the first, and the second would be sent as
// garbage.
type AttrKind uint8

const (
	AttrBytes    AttrKind = iota // byte string (also the fallback)
	AttrULong                    // CK_ULONG, as u64
	AttrBool                     // CK_BBOOL
	AttrDate                     // CK_DATE: 8 ASCII digits, or empty
	AttrULongs                   // CK_ULONG array (CKA_ALLOWED_MECHANISMS)
	AttrTemplate                 // CK_ATTRIBUTE array (CKA_WRAP_TEMPLATE ...)
)

// Attribute is one typed CK_ATTRIBUTE. Exactly the field that Kind names
// is meaningful. A nil Bytes with Kind AttrBytes is an empty value.
type Attribute struct {
	Type     uint64
	Kind     AttrKind
	Bytes    []byte
	ULong    uint64
	Bool     bool
	ULongs   []uint64
	Template []Attribute
}

// KindOf is the wire kind of attribute type t's value.
func KindOf(t uint64) AttrKind {
	switch t {
	case CKA_CLASS, CKA_KEY_TYPE, CKA_CERTIFICATE_TYPE, CKA_CERTIFICATE_CATEGORY,
		CKA_JAVA_MIDP_SECURITY_DOMAIN, CKA_NAME_HASH_ALGORITHM, CKA_MODULUS_BITS,
		CKA_PRIME_BITS, CKA_SUBPRIME_BITS, CKA_VALUE_BITS, CKA_VALUE_LEN,
		CKA_KEY_GEN_MECHANISM, CKA_MECHANISM_TYPE, CKA_HW_FEATURE_TYPE,
		CKA_PIXEL_X, CKA_PIXEL_Y, CKA_RESOLUTION, CKA_CHAR_ROWS, CKA_CHAR_COLUMNS,
		CKA_BITS_PER_PIXEL, CKA_OTP_FORMAT, CKA_OTP_LENGTH, CKA_OTP_TIME_INTERVAL,
		CKA_OTP_CHALLENGE_REQUIREMENT, CKA_OTP_TIME_REQUIREMENT,
		CKA_OTP_COUNTER_REQUIREMENT, CKA_OTP_PIN_REQUIREMENT, CKA_OTP_SERVICE_LOGO_TYPE:
		return AttrULong
	case CKA_TOKEN, CKA_PRIVATE, CKA_TRUSTED, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT,
		CKA_WRAP, CKA_UNWRAP, CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER,
		CKA_DERIVE, CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE,
		CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_ALWAYS_AUTHENTICATE,
		CKA_WRAP_WITH_TRUSTED, CKA_RESET_ON_INIT, CKA_HAS_RESET, CKA_COLOR,
		CKA_OTP_USER_FRIENDLY_MODE:
		return AttrBool
	case CKA_START_DATE, CKA_END_DATE:
		return AttrDate
	case CKA_ALLOWED_MECHANISMS:
		return AttrULongs
	case CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE:
		return AttrTemplate
	}
	return AttrBytes
}

// String describes the attribute without its value: values can be secret.
func (a Attribute) String() string { return AttributeName(a.Type) }

var _ msgpack.CustomEncoder = (*Attribute)(nil)
var _ msgpack.CustomDecoder = (*Attribute)(nil)

// EncodeMsgpack writes [type, kind, value] with value typed by kind.
func (a *Attribute) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(3); err != nil {
		return err
	}
	if err := e.EncodeUint(a.Type); err != nil {
		return err
	}
	if err := e.EncodeUint(uint64(a.Kind)); err != nil {
		return err
	}
	switch a.Kind {
	case AttrBytes, AttrDate:
		return e.EncodeBytes(a.Bytes)
	case AttrULong:
		return e.EncodeUint(a.ULong)
	case AttrBool:
		return e.EncodeBool(a.Bool)
	case AttrULongs:
		if err := e.EncodeArrayLen(len(a.ULongs)); err != nil {
			return err
		}
		for _, v := range a.ULongs {
			if err := e.EncodeUint(v); err != nil {
				return err
			}
		}
		return nil
	case AttrTemplate:
		if err := e.EncodeArrayLen(len(a.Template)); err != nil {
			return err
		}
		for i := range a.Template {
			if a.Template[i].Kind == AttrTemplate {
				return fmt.Errorf("wire: nested template inside %s", AttributeName(a.Type))
			}
			if err := a.Template[i].EncodeMsgpack(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("wire: attribute %s has unknown kind %d", AttributeName(a.Type), a.Kind)
}

// DecodeMsgpack reads what EncodeMsgpack wrote. A template may hold
// attributes, not further templates: the spec's nesting is one level.
func (a *Attribute) DecodeMsgpack(d *msgpack.Decoder) error { return a.decode(d, 0) }

func (a *Attribute) decode(d *msgpack.Decoder, depth int) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != 3 {
		return fmt.Errorf("wire: attribute has %d fields, want 3", n)
	}
	if a.Type, err = d.DecodeUint64(); err != nil {
		return err
	}
	k, err := d.DecodeUint8()
	if err != nil {
		return err
	}
	a.Kind = AttrKind(k)
	switch a.Kind {
	case AttrBytes, AttrDate:
		a.Bytes, err = d.DecodeBytes()
		return err
	case AttrULong:
		a.ULong, err = d.DecodeUint64()
		return err
	case AttrBool:
		a.Bool, err = d.DecodeBool()
		return err
	case AttrULongs:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("%w: nil mechanism list in an attribute", ErrMalformed)
		}
		if err := spend(d, n, "an attribute's mechanism list"); err != nil {
			return err
		}
		a.ULongs = make([]uint64, n)
		for i := range a.ULongs {
			if a.ULongs[i], err = d.DecodeUint64(); err != nil {
				return err
			}
		}
		return nil
	case AttrTemplate:
		if depth > 0 {
			return fmt.Errorf("wire: template nested more than once")
		}
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("%w: nil template in an attribute", ErrMalformed)
		}
		if err := spend(d, n, "a nested template"); err != nil {
			return err
		}
		a.Template = make([]Attribute, n)
		for i := range a.Template {
			if err := a.Template[i].decode(d, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("wire: attribute kind %d unknown", a.Kind)
}

// MaxItems bounds the elements of every decoded array of attributes,
// handles, attribute types and mechanisms, and, in a frame, all of them
// together: far beyond what a PKCS #11 call carries, and what keeps a
// frame's decoded size a small multiple of its own. A request of 16 MiB
// of one-byte attributes decoded into 2.75 GB before (an Attribute is
// 112 bytes); now no frame decodes more than 65,536 of them (7 MiB).
const MaxItems = 1 << 16

// spend takes n array elements from the frame's budget (MaxItems); outside
// a frame (the handshake) each array alone is bounded.
func spend(d *msgpack.Decoder, n int, what string) error {
	if n > MaxItems {
		return fmt.Errorf("%w: %s of %d elements (limit %d)", ErrMalformed, what, n, MaxItems)
	}
	if r, ok := d.Buffered().(*frameReader); ok {
		if n > r.items {
			return fmt.Errorf("%w: more than %d array elements in one frame (at %s of %d)", ErrMalformed, MaxItems, what, n)
		}
		r.items -= n
	}
	return nil
}

func init() {
	msgpack.Register([]Attribute(nil), nil, decodeTemplate)
	msgpack.Register([]uint64(nil), nil, decodeUint64s)
}

// listLen reads an array's length and takes it from the frame's budget;
// -1: a nil array.
func listLen(d *msgpack.Decoder, what string) (int, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return n, err
	}
	return n, spend(d, n, what)
}

// decodeTemplate decodes a template ([]Attribute) within the frame's
// budget, each attribute whole: a nil element is malformed.
func decodeTemplate(d *msgpack.Decoder, v reflect.Value) error {
	n, err := listLen(d, "a template")
	if err != nil || n < 0 {
		v.Set(reflect.Zero(v.Type()))
		return err
	}
	t := make([]Attribute, n)
	for i := range t {
		if err := t[i].decode(d, 0); err != nil {
			return err
		}
	}
	v.Set(reflect.ValueOf(t))
	return nil
}

// decodeUint64s decodes a list of handles, attribute types or mechanisms
// within the frame's budget.
func decodeUint64s(d *msgpack.Decoder, v reflect.Value) error {
	n, err := listLen(d, "a list")
	if err != nil || n < 0 {
		v.Set(reflect.Zero(v.Type()))
		return err
	}
	l := make([]uint64, n)
	for i := range l {
		if l[i], err = d.DecodeUint64(); err != nil {
			return err
		}
	}
	v.Set(reflect.ValueOf(l))
	return nil
}

// Templates are the attribute templates a request gives the module for
// objects it makes or changes (not C_FindObjectsInit's, which searches).
func Templates(req Message) [][]Attribute {
	switch q := req.(type) {
	case *CreateObjectRequest:
		return [][]Attribute{q.Template}
	case *CopyObjectRequest:
		return [][]Attribute{q.Template}
	case *SetAttributeValueRequest:
		return [][]Attribute{q.Template}
	case *GenerateKeyRequest:
		return [][]Attribute{q.Template}
	case *GenerateKeyPairRequest:
		return [][]Attribute{q.PublicKeyTemplate, q.PrivateKeyTemplate}
	case *UnwrapKeyRequest:
		return [][]Attribute{q.Template}
	case *DeriveKeyRequest:
		return [][]Attribute{q.Template}
	}
	return nil
}
