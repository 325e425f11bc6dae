package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ParamKind is the layout of a mechanism parameter. Only layouts listed
// here cross the wire: a C struct holding pointers cannot be copied as
// bytes, so a mechanism whose parameter layout is unknown is refused with
// CKR_MECHANISM_PARAM_INVALID rather than sent as garbage.
type ParamKind uint8

const (
	ParamNone                ParamKind = iota // no parameter
	ParamBytes                                // a plain byte string: IVs, key-wrap IVs
	ParamULong                                // a single CK_ULONG (CK_MAC_GENERAL_PARAMS)
	ParamPSS                                  // CK_RSA_PKCS_PSS_PARAMS
	ParamOAEP                                 // CK_RSA_PKCS_OAEP_PARAMS
	ParamGCM                                  // CK_GCM_PARAMS (v2.40 layout)
	ParamCCM                                  // CK_CCM_PARAMS
	ParamECDH1                                // CK_ECDH1_DERIVE_PARAMS
	ParamAESCTR                               // CK_AES_CTR_PARAMS
	ParamKeyDerivationString                  // CK_KEY_DERIVATION_STRING_DATA
	ParamAESCBCEncryptData                    // CK_AES_CBC_ENCRYPT_DATA_PARAMS
	ParamGCMMessage                           // CK_GCM_MESSAGE_PARAMS (a message function's)
	ParamCCMMessage                           // CK_CCM_MESSAGE_PARAMS (a message function's)
	ParamChaChaPolyMessage                    // CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS (a message function's)
	ParamEdDSA                                // CK_EDDSA_PARAMS
	ParamChaChaPoly                           // CK_SALSA20_CHACHA20_POLY1305_PARAMS
	ParamChaCha20                             // CK_CHACHA20_PARAMS
	ParamHKDF                                 // CK_HKDF_PARAMS
	ParamSP800108                             // CK_SP800_108_KDF_PARAMS, CK_SP800_108_FEEDBACK_KDF_PARAMS
	ParamVendor                               // a struct declared in configuration (vendor.go)
	paramKinds
)

var paramKindNames = [...]string{"none", "bytes", "ulong", "PSS", "OAEP", "GCM", "CCM",
	"ECDH1", "AES_CTR", "KEY_DERIVATION_STRING_DATA", "AES_CBC_ENCRYPT_DATA",
	"GCM_MESSAGE", "CCM_MESSAGE", "SALSA20_CHACHA20_POLY1305_MSG", "EDDSA",
	"SALSA20_CHACHA20_POLY1305", "CHACHA20", "HKDF", "SP800_108_KDF", "vendor"}

func (k ParamKind) String() string {
	if int(k) < len(paramKindNames) {
		return paramKindNames[k]
	}
	return fmt.Sprintf("ParamKind(%d)", k)
}

// mechParams is the one table of mechanisms whose parameter has a known
// layout. A mechanism missing here may still be used without a parameter.
var mechParams = map[uint64]ParamKind{
	CKM_AES_CBC: ParamBytes, CKM_AES_CBC_PAD: ParamBytes, CKM_AES_OFB: ParamBytes,
	CKM_AES_CFB8: ParamBytes, CKM_AES_CFB64: ParamBytes, CKM_AES_CFB128: ParamBytes,
	CKM_AES_CTS: ParamBytes, CKM_AES_KEY_WRAP: ParamBytes, CKM_AES_KEY_WRAP_PAD: ParamBytes,
	CKM_DES_CBC: ParamBytes, CKM_DES_CBC_PAD: ParamBytes, CKM_DES3_CBC: ParamBytes,
	CKM_DES3_CBC_PAD: ParamBytes, CKM_CAMELLIA_CBC: ParamBytes, CKM_CAMELLIA_CBC_PAD: ParamBytes,
	CKM_ARIA_CBC: ParamBytes, CKM_ARIA_CBC_PAD: ParamBytes, CKM_SEED_CBC: ParamBytes,
	CKM_SEED_CBC_PAD: ParamBytes, CKM_BLOWFISH_CBC: ParamBytes, CKM_TWOFISH_CBC: ParamBytes,
	CKM_BLOWFISH_CBC_PAD: ParamBytes, CKM_TWOFISH_CBC_PAD: ParamBytes,

	CKM_MD5_HMAC_GENERAL: ParamULong, CKM_SHA_1_HMAC_GENERAL: ParamULong,
	CKM_SHA224_HMAC_GENERAL: ParamULong, CKM_SHA256_HMAC_GENERAL: ParamULong,
	CKM_SHA384_HMAC_GENERAL: ParamULong, CKM_SHA512_HMAC_GENERAL: ParamULong,
	CKM_AES_MAC_GENERAL: ParamULong, CKM_AES_CMAC_GENERAL: ParamULong,
	CKM_DES3_MAC_GENERAL: ParamULong, CKM_DES3_CMAC_GENERAL: ParamULong,

	CKM_RSA_PKCS_PSS: ParamPSS, CKM_SHA1_RSA_PKCS_PSS: ParamPSS, CKM_SHA224_RSA_PKCS_PSS: ParamPSS,
	CKM_SHA256_RSA_PKCS_PSS: ParamPSS, CKM_SHA384_RSA_PKCS_PSS: ParamPSS, CKM_SHA512_RSA_PKCS_PSS: ParamPSS,
	CKM_RSA_PKCS_OAEP: ParamOAEP,
	CKM_AES_GCM:       ParamGCM,
	CKM_AES_CCM:       ParamCCM,
	CKM_ECDH1_DERIVE:  ParamECDH1, CKM_ECDH1_COFACTOR_DERIVE: ParamECDH1,
	CKM_AES_CTR:                   ParamAESCTR,
	CKM_CONCATENATE_BASE_AND_DATA: ParamKeyDerivationString, CKM_CONCATENATE_DATA_AND_BASE: ParamKeyDerivationString,
	CKM_XOR_BASE_AND_DATA: ParamKeyDerivationString, CKM_AES_ECB_ENCRYPT_DATA: ParamKeyDerivationString,
	CKM_DES_ECB_ENCRYPT_DATA: ParamKeyDerivationString, CKM_DES3_ECB_ENCRYPT_DATA: ParamKeyDerivationString,
	CKM_AES_CBC_ENCRYPT_DATA: ParamAESCBCEncryptData,

	CKM_EDDSA:             ParamEdDSA,
	CKM_CHACHA20_POLY1305: ParamChaChaPoly, CKM_SALSA20_POLY1305: ParamChaChaPoly,
	CKM_CHACHA20:    ParamChaCha20,
	CKM_HKDF_DERIVE: ParamHKDF, CKM_HKDF_DATA: ParamHKDF,
	CKM_SP800_108_COUNTER_KDF: ParamSP800108, CKM_SP800_108_FEEDBACK_KDF: ParamSP800108,
	CKM_SP800_108_DOUBLE_PIPELINE_KDF: ParamSP800108,
}

// ParamKindOf is the parameter layout of mechanism m, and whether it is
// known: built in, or declared in configuration (a vendor mechanism).
// Unknown mechanisms can be used only without a parameter.
func ParamKindOf(m uint64) (ParamKind, bool) {
	if k, ok := mechParams[m]; ok {
		return k, ok
	}
	if l, ok := VendorLayoutOf(m); ok {
		return l.Kind, true
	}
	return ParamNone, false
}

// Mechanism is a typed CK_MECHANISM. Param is nil for no parameter, else
// one of the *Params types below, matching ParamKindOf(Type).
type Mechanism struct {
	Type  uint64
	Param MechParam
}

// MechParam is a typed mechanism parameter.
type MechParam interface{ Kind() ParamKind }

// BytesParam is a byte-string parameter such as an IV.
type BytesParam []byte

// ULongParam is a parameter that is one CK_ULONG.
type ULongParam uint64

// PSSParams is CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	Hash     uint64
	MGF      uint64
	SaltLen  uint64
}

// OAEPParams is CK_RSA_PKCS_OAEP_PARAMS, source data included.
type OAEPParams struct {
	_msgpack   struct{} `msgpack:",as_array"`
	Hash       uint64
	MGF        uint64
	Source     uint64
	SourceData []byte
}

// GCMParams is CK_GCM_PARAMS.
type GCMParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	IV       []byte
	IVBits   uint64
	AAD      []byte
	TagBits  uint64
}

// CCMParams is CK_CCM_PARAMS.
type CCMParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	DataLen  uint64
	Nonce    []byte
	AAD      []byte
	MACLen   uint64
}

// ECDH1DeriveParams is CK_ECDH1_DERIVE_PARAMS.
type ECDH1DeriveParams struct {
	_msgpack   struct{} `msgpack:",as_array"`
	KDF        uint64
	SharedData []byte
	PublicData []byte
}

// AESCTRParams is CK_AES_CTR_PARAMS; CB is the 16-byte counter block.
type AESCTRParams struct {
	_msgpack    struct{} `msgpack:",as_array"`
	CounterBits uint64
	CB          []byte
}

// KeyDerivationStringData is CK_KEY_DERIVATION_STRING_DATA.
type KeyDerivationStringData struct {
	_msgpack struct{} `msgpack:",as_array"`
	Data     []byte
}

// AESCBCEncryptDataParams is CK_AES_CBC_ENCRYPT_DATA_PARAMS; IV is 16 bytes.
type AESCBCEncryptDataParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	IV       []byte
	Data     []byte
}

func (BytesParam) Kind() ParamKind               { return ParamBytes }
func (ULongParam) Kind() ParamKind               { return ParamULong }
func (*PSSParams) Kind() ParamKind               { return ParamPSS }
func (*OAEPParams) Kind() ParamKind              { return ParamOAEP }
func (*GCMParams) Kind() ParamKind               { return ParamGCM }
func (*CCMParams) Kind() ParamKind               { return ParamCCM }
func (*ECDH1DeriveParams) Kind() ParamKind       { return ParamECDH1 }
func (*AESCTRParams) Kind() ParamKind            { return ParamAESCTR }
func (*KeyDerivationStringData) Kind() ParamKind { return ParamKeyDerivationString }
func (*AESCBCEncryptDataParams) Kind() ParamKind { return ParamAESCBCEncryptData }

// newParam returns an empty parameter of kind k, to decode into.
func newParam(k ParamKind) (any, error) {
	switch k {
	case ParamBytes:
		return new(BytesParam), nil
	case ParamULong:
		return new(ULongParam), nil
	case ParamPSS:
		return new(PSSParams), nil
	case ParamOAEP:
		return new(OAEPParams), nil
	case ParamGCM:
		return new(GCMParams), nil
	case ParamCCM:
		return new(CCMParams), nil
	case ParamECDH1:
		return new(ECDH1DeriveParams), nil
	case ParamAESCTR:
		return new(AESCTRParams), nil
	case ParamKeyDerivationString:
		return new(KeyDerivationStringData), nil
	case ParamAESCBCEncryptData:
		return new(AESCBCEncryptDataParams), nil
	case ParamGCMMessage:
		return new(GCMMessageParams), nil
	case ParamCCMMessage:
		return new(CCMMessageParams), nil
	case ParamChaChaPolyMessage:
		return new(ChaChaPolyMessageParams), nil
	case ParamEdDSA:
		return new(EdDSAParams), nil
	case ParamChaChaPoly:
		return new(ChaChaPolyParams), nil
	case ParamChaCha20:
		return new(ChaCha20Params), nil
	case ParamHKDF:
		return new(HKDFParams), nil
	case ParamSP800108:
		return new(SP800108Params), nil
	case ParamVendor:
		return new(VendorParams), nil
	}
	return nil, fmt.Errorf("wire: mechanism parameter kind %d unknown", k)
}

func (m Mechanism) String() string {
	if m.Param == nil {
		return MechanismName(m.Type)
	}
	return MechanismName(m.Type) + "(" + m.Param.Kind().String() + ")"
}

// EncodeMsgpack writes [type, kind, param].
func (m *Mechanism) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(3); err != nil {
		return err
	}
	if err := e.EncodeUint(m.Type); err != nil {
		return err
	}
	if m.Param == nil {
		if err := e.EncodeUint(uint64(ParamNone)); err != nil {
			return err
		}
		return e.EncodeNil()
	}
	if err := e.EncodeUint(uint64(m.Param.Kind())); err != nil {
		return err
	}
	return e.Encode(m.Param)
}

// DecodeMsgpack reads what EncodeMsgpack wrote.
func (m *Mechanism) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != 3 {
		return fmt.Errorf("wire: mechanism has %d fields, want 3", n)
	}
	if m.Type, err = d.DecodeUint64(); err != nil {
		return err
	}
	k, err := d.DecodeUint8()
	if err != nil {
		return err
	}
	if ParamKind(k) == ParamNone {
		m.Param = nil
		return d.DecodeNil()
	}
	p, err := newParam(ParamKind(k))
	if err != nil {
		return err
	}
	if err := d.Decode(p); err != nil {
		return err
	}
	switch v := p.(type) {
	case *BytesParam:
		m.Param = *v
	case *ULongParam:
		m.Param = *v
	default:
		m.Param = p.(MechParam)
	}
	return nil
}
