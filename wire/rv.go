package wire

//go:generate go run ./internal/genconst

// RV is a PKCS #11 return value (CK_RV), widened to the 64 bits the wire
// uses. A non-zero RV is the error the module, broker and client pass
// around: wrap it with %w and recover it with errors.As. The CKR_
// constants in zconst.go are of this type.
type RV uint64

// Error returns the spec name, such as "CKR_PIN_INCORRECT", or
// "CKR_0x%08X" for a value the spec does not name.
func (r RV) Error() string { return rvName(r) }

// String returns the same as Error, so CKR_OK prints by name too.
func (r RV) String() string { return rvName(r) }
