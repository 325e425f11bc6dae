package wire

// PKCS #11 v3.0's values on the wire: the interface list, the output
// buffers of the message functions, and the per-message parameters.

// Interface is one CK_INTERFACE a backend offers: "PKCS 11" at 3.0 or
// 2.40, or a vendor's.
type Interface struct {
	_msgpack struct{} `msgpack:",as_array"`
	Name     string
	Version  Version
	Flags    uint64
}

// OffersV3 reports whether a list of interfaces holds "PKCS 11" 3.x.
func OffersV3(list []Interface) bool {
	for _, i := range list {
		if i.Name == "PKCS 11" && i.Version.Major >= 3 {
			return true
		}
	}
	return false
}

// OutWant is what an application asked of a two-call output it passes
// through (spec.BytesOutRaw).
type OutWant uint8

const (
	OutNone   OutWant = iota // no length pointer: no output (C_SignMessageNext before the last part)
	OutSize                  // a NULL buffer: the size only
	OutBuffer                // a buffer of Cap bytes
)

// OutBuf is the application's output buffer as it made it: the vendor
// gets the same, so the two-call convention, CKR_BUFFER_TOO_SMALL
// included, is the vendor's own.
type OutBuf struct {
	_msgpack struct{} `msgpack:",as_array"`
	Want     OutWant
	Cap      uint64
}

// RawOut is the vendor's answer for an OutBuf: the bytes it wrote (none
// for OutSize), the length it set, and whether it said
// CKR_BUFFER_TOO_SMALL, which travels here because the call's other
// outputs (a message parameter's IV and tag) still come back.
type RawOut struct {
	_msgpack struct{} `msgpack:",as_array"`
	Data     []byte
	Len      uint64
	TooSmall bool
}

// The message mechanisms and the layout of their per-message parameter.
// A message mechanism outside this table can be used with no parameter.
var msgParams = map[uint64]ParamKind{
	CKM_AES_GCM:           ParamGCMMessage,
	CKM_AES_CCM:           ParamCCMMessage,
	CKM_CHACHA20_POLY1305: ParamChaChaPolyMessage,
	CKM_SALSA20_POLY1305:  ParamChaChaPolyMessage,
}

// MessageParamKindOf is the layout of mechanism m's per-message parameter.
func MessageParamKindOf(m uint64) (ParamKind, bool) {
	k, ok := msgParams[m]
	return k, ok
}

// GCMMessageParams is CK_GCM_MESSAGE_PARAMS. Tag holds ulTagBits/8
// bytes; IV and Tag come back from the vendor (a generated IV, the tag of
// an encryption).
type GCMMessageParams struct {
	_msgpack    struct{} `msgpack:",as_array"`
	IV          []byte
	IVFixedBits uint64
	IVGenerator uint64
	Tag         []byte
	TagBits     uint64
}

// CCMMessageParams is CK_CCM_MESSAGE_PARAMS; Nonce and MAC come back.
type CCMMessageParams struct {
	_msgpack       struct{} `msgpack:",as_array"`
	DataLen        uint64
	Nonce          []byte
	NonceFixedBits uint64
	NonceGenerator uint64
	MAC            []byte
}

// ChaChaPolyMessageParams is CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS:
// the 16-byte tag comes back.
type ChaChaPolyMessageParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	Nonce    []byte
	Tag      []byte
}

// EdDSAParams is CK_EDDSA_PARAMS.
type EdDSAParams struct {
	_msgpack    struct{} `msgpack:",as_array"`
	PHFlag      bool
	ContextData []byte
}

// ChaChaPolyParams is CK_SALSA20_CHACHA20_POLY1305_PARAMS.
type ChaChaPolyParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	Nonce    []byte
	AAD      []byte
}

// ChaCha20Params is CK_CHACHA20_PARAMS: BlockCounter holds
// blockCounterBits/8 bytes, Nonce ulNonceBits/8.
type ChaCha20Params struct {
	_msgpack         struct{} `msgpack:",as_array"`
	BlockCounter     []byte
	BlockCounterBits uint64
	Nonce            []byte
}

// HKDFParams is CK_HKDF_PARAMS; SaltKey is an object handle, mapped like
// any other (it is used when SaltType is CKF_HKDF_SALT_KEY).
type HKDFParams struct {
	_msgpack struct{} `msgpack:",as_array"`
	Extract  bool
	Expand   bool
	PRFHash  uint64
	SaltType uint64
	Salt     []byte
	SaltKey  uint64
	Info     []byte
}

// PRFDataParam is one CK_PRF_DATA_PARAM of SP 800-108: Bytes for
// CK_SP800_108_BYTE_ARRAY; for the counter and DKM length formats
// (CK_SP800_108_COUNTER_FORMAT, CK_SP800_108_DKM_LENGTH_FORMAT), Format
// says one was given and the fields hold it.
type PRFDataParam struct {
	_msgpack     struct{} `msgpack:",as_array"`
	Type         uint64
	Bytes        []byte
	Format       bool
	LittleEndian bool
	WidthBits    uint64
	DKMMethod    uint64
}

// SP800108Params is CK_SP800_108_KDF_PARAMS (counter and double-pipeline
// modes) and, with IV, CK_SP800_108_FEEDBACK_KDF_PARAMS. Additional
// derived keys are not carried: their handles would come back inside the
// parameter, and no client here asks for them.
type SP800108Params struct {
	_msgpack struct{} `msgpack:",as_array"`
	PRF      uint64
	Data     []PRFDataParam
	IV       []byte
}

func (*GCMMessageParams) Kind() ParamKind        { return ParamGCMMessage }
func (*CCMMessageParams) Kind() ParamKind        { return ParamCCMMessage }
func (*ChaChaPolyMessageParams) Kind() ParamKind { return ParamChaChaPolyMessage }
func (*EdDSAParams) Kind() ParamKind             { return ParamEdDSA }
func (*ChaChaPolyParams) Kind() ParamKind        { return ParamChaChaPoly }
func (*ChaCha20Params) Kind() ParamKind          { return ParamChaCha20 }
func (*HKDFParams) Kind() ParamKind              { return ParamHKDF }
func (*SP800108Params) Kind() ParamKind          { return ParamSP800108 }

// Handles visits the object handles a mechanism parameter names.
func (m *Mechanism) Handles(visit func(HandleKind, *uint64)) {
	if p, ok := m.Param.(*HKDFParams); ok && p != nil && p.SaltType == CKF_HKDF_SALT_KEY {
		visit(HObject, &p.SaltKey)
	}
}
