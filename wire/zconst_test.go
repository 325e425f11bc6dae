package wire

import (
	"errors"
	"fmt"
	"testing"
)

func TestRVError(t *testing.T) {
	tests := []struct {
		rv   RV
		want string
	}{
		{CKR_OK, "CKR_OK"},
		{CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
		{CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
		{CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED"},
		{CKR_PUBLIC_KEY_INVALID, "CKR_PUBLIC_KEY_INVALID"},
		{CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED"},
		{CKR_VENDOR_DEFINED, "CKR_VENDOR_DEFINED"},
		{0x04, "CKR_0x00000004"}, // a hole in the spec's numbering
		{CKR_VENDOR_DEFINED + 1, "CKR_0x80000001"},
		{1 << 40, "CKR_0x10000000000"},
	}
	for _, tt := range tests {
		if got := tt.rv.Error(); got != tt.want {
			t.Errorf("RV(%#x).Error() = %q, want %q", uint64(tt.rv), got, tt.want)
		}
		if got := tt.rv.String(); got != tt.want {
			t.Errorf("RV(%#x).String() = %q, want %q", uint64(tt.rv), got, tt.want)
		}
	}
}

func TestRVValues(t *testing.T) {
	// Values the spec fixes and p11-kit 0.24's header gets wrong; see
	// tests/headercheck.
	tests := []struct {
		rv   RV
		want uint64
	}{
		{CKR_EXCEEDED_MAX_ITERATIONS, 0x1B5},
		{CKR_FIPS_SELF_TEST_FAILED, 0x1B6},
		{CKR_LIBRARY_LOAD_FAILED, 0x1B7},
		{CKR_PIN_TOO_WEAK, 0x1B8},
		{CKR_PUBLIC_KEY_INVALID, 0x1B9},
	}
	for _, tt := range tests {
		if uint64(tt.rv) != tt.want {
			t.Errorf("%v = %#x, want %#x", tt.rv, uint64(tt.rv), tt.want)
		}
	}
}

func TestRVIsError(t *testing.T) {
	err := fmt.Errorf("C_Login: %w", CKR_PIN_INCORRECT)
	var rv RV
	if !errors.As(err, &rv) || rv != CKR_PIN_INCORRECT {
		t.Fatalf("errors.As(%v) = %v, want CKR_PIN_INCORRECT", err, rv)
	}
	if !errors.Is(err, CKR_PIN_INCORRECT) {
		t.Errorf("errors.Is(%v, CKR_PIN_INCORRECT) = false", err)
	}
	if got, want := err.Error(), "C_Login: CKR_PIN_INCORRECT"; got != want {
		t.Errorf("err.Error() = %q, want %q", got, want)
	}
}

func TestNameTables(t *testing.T) {
	tests := []struct {
		fn   string
		name func(uint64) string
		v    uint64
		want string
	}{
		{"AttributeName", AttributeName, CKA_CLASS, "CKA_CLASS"},
		{"AttributeName", AttributeName, CKA_VALUE_LEN, "CKA_VALUE_LEN"},
		{"AttributeName", AttributeName, CKA_EC_PARAMS, "CKA_EC_PARAMS"}, // not CKA_ECDSA_PARAMS
		{"AttributeName", AttributeName, CKA_SUBPRIME_BITS, "CKA_SUBPRIME_BITS"},
		{"AttributeName", AttributeName, 0x40000211, "CKA_WRAP_TEMPLATE"},
		{"AttributeName", AttributeName, 0x40000600, "CKA_ALLOWED_MECHANISMS"},
		{"AttributeName", AttributeName, CKA_VENDOR_DEFINED, "CKA_VENDOR_DEFINED"},
		{"AttributeName", AttributeName, 0x13, "CKA_0x00000013"},
		{"AttributeName", AttributeName, CKA_VENDOR_DEFINED | 0x4E4F, "CKA_0x80004E4F"},
		{"MechanismName", MechanismName, CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
		{"MechanismName", MechanismName, CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"},
		{"MechanismName", MechanismName, CKM_AES_GCM, "CKM_AES_GCM"},
		{"MechanismName", MechanismName, 0x1040, "CKM_EC_KEY_PAIR_GEN"},     // not CKM_ECDSA_KEY_PAIR_GEN
		{"MechanismName", MechanismName, 0x0320, "CKM_CAST128_KEY_GEN"},     // not CKM_CAST5_KEY_GEN
		{"MechanismName", MechanismName, 0x03A4, "CKM_PBE_MD5_CAST128_CBC"}, // not ..._CAST5_CBC
		{"MechanismName", MechanismName, CKM_EDDSA, "CKM_EDDSA"},
		{"MechanismName", MechanismName, 0x1058, "CKM_0x00001058"},
		{"ObjectClassName", ObjectClassName, CKO_PRIVATE_KEY, "CKO_PRIVATE_KEY"},
		{"ObjectClassName", ObjectClassName, CKO_OTP_KEY, "CKO_OTP_KEY"},
		{"ObjectClassName", ObjectClassName, 9, "CKO_0x00000009"},
		{"KeyTypeName", KeyTypeName, CKK_RSA, "CKK_RSA"},
		{"KeyTypeName", KeyTypeName, 3, "CKK_EC"},         // not CKK_ECDSA
		{"KeyTypeName", KeyTypeName, 0x18, "CKK_CAST128"}, // not CKK_CAST5
		{"KeyTypeName", KeyTypeName, CKK_EC_EDWARDS, "CKK_EC_EDWARDS"},
		{"KeyTypeName", KeyTypeName, 0x41, "CKK_0x00000041"},
	}
	for _, tt := range tests {
		if got := tt.name(tt.v); got != tt.want {
			t.Errorf("%s(%#x) = %q, want %q", tt.fn, tt.v, got, tt.want)
		}
	}
}

func TestConstantTypes(t *testing.T) {
	// The families other than CKR_ are untyped so they mix with uint,
	// uint64 and C.CK_ULONG without conversions.
	var u uint = CKA_CLASS
	var u64 uint64 = CKM_AES_GCM | CKF_ARRAY_ATTRIBUTE
	_, _ = u, u64
	if CK_UNAVAILABLE_INFORMATION != 0xFFFFFFFFFFFFFFFF {
		t.Errorf("CK_UNAVAILABLE_INFORMATION = %#x", CK_UNAVAILABLE_INFORMATION)
	}
	if CKA_WRAP_TEMPLATE != CKF_ARRAY_ATTRIBUTE|0x211 {
		t.Errorf("CKA_WRAP_TEMPLATE = %#x", CKA_WRAP_TEMPLATE)
	}
}
