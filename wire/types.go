package wire

// Version is CK_VERSION.
type Version struct {
	_msgpack struct{} `msgpack:",as_array"`
	Major    uint8
	Minor    uint8
}

// Info is CK_INFO. Text fields travel without their blank padding; the
// module pads them again.
type Info struct {
	_msgpack           struct{} `msgpack:",as_array"`
	CryptokiVersion    Version
	ManufacturerID     string
	Flags              uint64
	LibraryDescription string
	LibraryVersion     Version
}

// SlotInfo is CK_SLOT_INFO.
type SlotInfo struct {
	_msgpack        struct{} `msgpack:",as_array"`
	SlotDescription string
	ManufacturerID  string
	Flags           uint64
	HardwareVersion Version
	FirmwareVersion Version
}

// TokenInfo is CK_TOKEN_INFO. Counters keep CK_UNAVAILABLE_INFORMATION and
// CK_EFFECTIVELY_INFINITE as 64-bit values (all ones, zero).
type TokenInfo struct {
	_msgpack           struct{} `msgpack:",as_array"`
	Label              string
	ManufacturerID     string
	Model              string
	SerialNumber       string
	Flags              uint64
	MaxSessionCount    uint64
	SessionCount       uint64
	MaxRwSessionCount  uint64
	RwSessionCount     uint64
	MaxPinLen          uint64
	MinPinLen          uint64
	TotalPublicMemory  uint64
	FreePublicMemory   uint64
	TotalPrivateMemory uint64
	FreePrivateMemory  uint64
	HardwareVersion    Version
	FirmwareVersion    Version
	UTCTime            string
}

// SessionInfo is CK_SESSION_INFO.
type SessionInfo struct {
	_msgpack    struct{} `msgpack:",as_array"`
	SlotID      uint64
	State       uint64
	Flags       uint64
	DeviceError uint64
}

// MechanismInfo is CK_MECHANISM_INFO.
type MechanismInfo struct {
	_msgpack   struct{} `msgpack:",as_array"`
	MinKeySize uint64
	MaxKeySize uint64
	Flags      uint64
}

// PIN is a PIN or SO PIN. It prints as [redacted] however it is
// formatted or logged, so a PIN cannot reach a log by accident.
type PIN []byte

func (PIN) String() string   { return "[redacted]" }
func (PIN) GoString() string { return "[redacted]" }

// MarshalJSON keeps encoding/json and zerolog's Interface from printing
// it. (Not MarshalText: msgpack would use that and send "[redacted]".)
func (PIN) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// ScrubPINs zeroes the PINs a request carries (C_Login, C_LoginUser,
// C_InitPIN, C_SetPIN, C_InitToken); true if it carried any. Whoever answers or
// forwards such a call scrubs it, and the buffers it went through
// (Codec.Scrub), once the call is over: freed memory is not cleared, and
// a core dump of the broker held four copies of a client's PIN.
func ScrubPINs(m Message) bool {
	switch q := m.(type) {
	case *LoginRequest:
		clear(q.Pin)
	case *LoginUserRequest:
		clear(q.Pin)
	case *InitPINRequest:
		clear(q.Pin)
	case *SetPINRequest:
		clear(q.OldPin)
		clear(q.NewPin)
	case *InitTokenRequest:
		clear(q.Pin)
	default:
		return false
	}
	return true
}

// AttrResult is one entry of a C_GetAttributeValue answer: the value, or
// the per-attribute error (CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID)
// that makes the module report CK_UNAVAILABLE_INFORMATION for it.
type AttrResult struct {
	_msgpack struct{} `msgpack:",as_array"`
	RV       RV
	Attr     Attribute
}
